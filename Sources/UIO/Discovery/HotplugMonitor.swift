import CLibudev
import UIOPlatform
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Follows UIO devices as they come and go, through a libudev monitor.
///
/// Three ways to read it: ``next(timeout:)`` blocks on the calling thread; ``events()`` is an
/// `AsyncSequence` fed by a thread of its own; ``start(_:)`` calls a handler on such a thread.
/// One reader at a time. ``close()`` ends every form.
public final class HotplugMonitor: @unchecked Sendable {
    // @unchecked: the libudev objects are used only inside `reader`'s lock (one reader at a
    // time, as libudev requires); `waiting` is safe from any thread.

    /// Where the events come from.
    public enum Source: Sendable, Hashable {
        /// After udevd processed them (rules applied, symlinks made): what a driver normally wants.
        case udev
        /// Straight from the kernel, for systems without udevd (containers, initramfs, guests).
        case kernel
        /// `udev` when udevd is running (its control socket exists), `kernel` otherwise.
        case automatic
    }

    /// The source in use.
    public let source: Source
    private let udev: Udev
    private let monitor: OpaquePointer
    private let waiting: WakeableWait
    /// Events read so far; its lock admits one reader at a time. (Not `Void`: every empty value
    /// shares one address, which ThreadSanitizer takes for one variable under different locks.)
    private let reader = Locked<UInt64>(0)
    private let closed = Locked(false)

    /// Opens a monitor of UIO uevents from `source`.
    public convenience init(source: Source = .automatic) throws(UIOError) {
        try self.init(source: source, system: .live)
    }

    init(source: Source, system: SystemCalls) throws(UIOError) {
        let resolved: Source = switch source {
        case .automatic: access("/run/udev/control", F_OK) == 0 ? .udev : .kernel
        default: source
        }
        let udev = try Udev()
        guard let monitor = udev_monitor_new_from_netlink(udev.context, resolved == .udev ? "udev" : "kernel") else {
            throw UIOError(.systemCall, subject: "libudev monitor", reason: "cannot open the uevent netlink socket",
                           errno: Errno(rawValue: Glibc.errno), advice: "is this a container without netlink access?")
        }
        udev_monitor_filter_add_match_subsystem_devtype(monitor, "uio", nil)
        let status = udev_monitor_enable_receiving(monitor)
        guard status >= 0 else {
            udev_monitor_unref(monitor)
            throw UIOError(.systemCall, subject: "libudev monitor", reason: "cannot receive uevents", errno: Errno(rawValue: -status))
        }
        do throws(Errno) {
            waiting = try WakeableWait(name: "libudev monitor", system: system)
        } catch {
            udev_monitor_unref(monitor)
            throw UIOError.system(error, operation: .other, subject: "libudev monitor")
        }
        self.source = resolved
        self.udev = udev
        self.monitor = monitor
    }

    deinit {
        udev_monitor_unref(monitor)
        waiting.close()
    }

    /// The next event, or `nil` when `timeout` passes, ``cancel()`` is called or the monitor closes.
    public func next(timeout: Duration? = nil) throws(UIOError) -> HotplugEvent? {
        try reader.withLock { eventsRead throws(UIOError) -> HotplugEvent? in
            let deadline = timeout.flatMap(clampedDeadline(after:))
            let fd = udev_monitor_get_fd(monitor)
            while true {
                if closed.withLock({ $0 }) { return nil }
                // A message ready comes before a cancel (the wait's rule); the cancel ends the next wait.
                switch try UIOError.waiting(on: "libudev monitor", { () throws(WakeableWait.Failure) in
                    try waiting.wait(on: fd, until: deadline)
                }) {
                case .woken, .timedOut: return nil
                case .ready: if closed.withLock({ $0 }) { return nil }  // nothing after close()
                }
                // A message that is not for us (or malformed) yields no device: wait for the next.
                guard let received = udev_monitor_receive_device(monitor) else { continue }
                eventsRead &+= 1
                return Self.event(from: UdevDevice(owning: received))
            }
        }
    }

    /// Wakes a reader blocked in ``next(timeout:)``, which returns `nil` (or, when an event was
    /// already waiting, that event; the next call then returns `nil`). Safe from any thread.
    public func cancel() { try? waiting.wake() }

    /// Ends every reader, now and later. Idempotent.
    public func close() {
        closed.withLock { $0 = true }
        cancel()
    }

    /// The events as an `AsyncSequence`, read by a thread of the monitor's own until the stream
    /// is dropped or the monitor closes.
    public func events() -> AsyncStream<HotplugEvent> {
        let (stream, continuation) = AsyncStream<HotplugEvent>.makeStream()
        let ended = Locked(false)
        continuation.onTermination = { [weak self] _ in
            ended.withLock { $0 = true }
            self?.cancel()
        }
        do {
            try UIOError.detachedThread("uio-hotplug") { [self] in
                while !ended.withLock({ $0 }) && !closed.withLock({ $0 }) {
                    do throws(UIOError) {
                        if let event = try next() { continuation.yield(event) }
                    } catch {
                        break  // the monitor's socket failed: the stream ends
                    }
                }
                continuation.finish()
            }
        } catch {
            continuation.finish()
        }
        return stream
    }

    /// Calls `handler` for each event on a thread of the monitor's own, until ``close()``.
    public func start(_ handler: @escaping @Sendable (HotplugEvent) -> Void) throws(UIOError) {
        try UIOError.detachedThread("uio-hotplug") { [self] in
            while !closed.withLock({ $0 }) {
                do throws(UIOError) {
                    if let event = try next() { handler(event) }
                } catch {
                    return  // the monitor's socket failed: no more events will come
                }
            }
        }
    }

    static func event(from device: UdevDevice) -> HotplugEvent {
        let action = HotplugEvent.Action(device.action ?? "")
        let sysName = device.sysName
        let number = sysName.hasPrefix("uio") ? Int(sysName.dropFirst(3)) : nil
        let devicePath = device.property("DEVNAME").map { $0.hasPrefix("/") ? $0 : "/dev/" + $0 } ?? device.devNode
        var described: UIODevice?
        if action != .remove {
            described = try? UIODevice(reading: device)
        }
        return HotplugEvent(action: action, number: number, sysPath: device.sysPath, devicePath: devicePath, device: described)
    }
}
