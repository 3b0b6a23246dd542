# Sourced by run.sh: which Debian kernel a guest boots (--kernel), and the apt state that fetches
# it. Each suite has an apt state of the harness's own under CACHE/apt/SUITE (its sources, lists,
# package cache and status), so fetching a kernel never touches this machine's package sources or
# lists. The archive is the one this machine's sources already name for Debian 12.
#
#   6.1      Debian 12's own kernel (bookworm, with its updates and security suites)
#   6.12     bookworm-backports' kernel
#   6.12-rt  bookworm-backports' PREEMPT_RT kernel

guest_kernels=(6.1 6.12 6.12-rt)

# The suites a kernel comes from, space-separated.
kernel_suites() {
    case "$1" in
        6.1) echo "bookworm bookworm-updates bookworm-security" ;;
        6.12|6.12-rt) echo "bookworm-backports" ;;
        *) echo "==> no guest kernel $1 (${guest_kernels[*]})" >&2; return 1 ;;
    esac
}

# The metapackage that depends on the kernel's current image for a Debian architecture.
kernel_metapackage() {
    case "$1" in
        *-rt) echo "linux-image-rt-$2" ;;
        *) echo "linux-image-$2" ;;
    esac
}

# apt-get or apt-cache (the second argument) with STATE's own sources, lists, cache and status,
# for this machine's architecture and arm64.
kernel_apt() {
    local state="$1" tool="$2"; shift 2
    "$tool" -o Dir::Etc::SourceList="$state/sources.list" -o Dir::Etc::SourceParts="$state/sources.list.d" \
        -o Dir::State::Lists="$state/lists" -o Dir::Cache="$state/cache" -o Dir::State::Status="$state/status" \
        -o APT::Architecture="$(dpkg --print-architecture)" -o APT::Architectures="$(dpkg --print-architecture),arm64" \
        -o APT::Sandbox::User=root "$@"
}

# Prints the apt state for KERNEL's suites, made on first use.
kernel_apt_state() {
    local cache="$1" kernel="$2" suites
    suites=$(kernel_suites "$kernel")
    local state="$cache/apt/${suites%% *}"
    mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/sources.list.d"
    touch "$state/status"
    if [ ! -s "$state/sources.list" ]; then
        # The URIs this machine's sources give each Debian 12 suite; backports lives beside bookworm.
        # The first suite is needed; updates and security are taken where the machine has them.
        local targets suite uri
        targets=$(apt-get indextargets --no-release-info --format '$(REPO_URI) $(RELEASE)' | sort -u)
        for suite in $suites; do
            uri=$(echo "$targets" | awk -v s="${suite/-backports/}" '$2 == s { print $1; exit }')
            if [ -z "$uri" ]; then
                [ "$suite" != "${suites%% *}" ] && continue
                echo "==> this machine's apt sources name no archive for ${suite/-backports/}" >&2; return 1
            fi
            echo "deb $uri $suite main"
        done > "$state/sources.list.tmp"
        mv "$state/sources.list.tmp" "$state/sources.list"
    fi
    echo "$state"
}

# Prints the version of KERNEL's current image for a Debian architecture (6.12.95+deb12-amd64).
# BUILT is a path with @VERSION@ in it: while that file exists for the version the cached lists
# name, they are trusted; otherwise they are refreshed first, since the archive drops superseded
# kernels.
kernel_version() {
    local state="$1" kernel="$2" arch="$3" built="$4" metapackage version
    metapackage=$(kernel_metapackage "$kernel" "$arch")
    version=$(kernel_depends "$state" "$metapackage:$arch")
    if [ -z "$version" ] || [ ! -e "${built//@VERSION@/$version}" ]; then
        kernel_apt "$state" apt-get -qq update || { echo "==> apt-get update for the $kernel kernel failed" >&2; return 1; }
        version=$(kernel_depends "$state" "$metapackage:$arch")
    fi
    [ -n "$version" ] || { echo "==> no $metapackage in $(kernel_suites "$kernel")" >&2; return 1; }
    echo "$version"
}

kernel_depends() {
    kernel_apt "$1" apt-cache depends "$2" 2>/dev/null \
        | awk '/Depends: linux-image-[0-9]/ { sub("linux-image-", "", $2); sub(":.*", "", $2); print $2; exit }' || true
}
