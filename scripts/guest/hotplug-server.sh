#!/usr/bin/env bash
# Serves the guest's hot-plug requests on the host: each NAME.request file in FOLDER holds one
# QEMU monitor command; it is sent to the monitor socket and NAME.done written with the answer.
# Ends with QEMU (its pid is the third argument).
#   scripts/guest/hotplug-server.sh MONITOR_SOCKET FOLDER QEMU_PID
set -u
socket="$1" folder="$2" qemu="$3"
send() {
    python3 - "$socket" "$1" <<'PYTHON'
import socket, sys, time
connection = socket.socket(socket.AF_UNIX)
connection.connect(sys.argv[1])
connection.settimeout(2)
def drain():
    data = b""
    try:
        while not data.endswith(b"(qemu) "):
            chunk = connection.recv(4096)
            if not chunk: break
            data += chunk
    except socket.timeout:
        pass
    return data.decode(errors="replace")
drain()  # the banner and first prompt
connection.sendall(sys.argv[2].encode() + b"\n")
print(drain().replace("(qemu) ", "").strip())
PYTHON
}
while kill -0 "$qemu" 2>/dev/null; do
    for request in "$folder"/*.request; do
        [ -e "$request" ] || continue
        command=$(cat "$request")
        rm -f "$request"
        send "$command" > "${request%.request}.answer" 2>&1
        mv "${request%.request}.answer" "${request%.request}.done"
    done
    sleep 0.05
done
