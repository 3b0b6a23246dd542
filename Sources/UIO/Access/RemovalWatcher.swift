#if canImport(Glibc)
import Glibc
#endif

/// A thread that waits for a claimed device to be unregistered and then marks its liveness.
///
/// It polls its own file on the node for `POLLERR`/`POLLHUP` only: `uio_poll` reports `POLLERR`
/// once the device is unregistered (`info` is NULL), and also for a device without an interrupt
/// (`info->irq` is 0). `uio_write` tells them apart: `EINVAL` without `info`, `EIO` without an
/// irq. The sysfs directory is no witness: the waiters are woken before it is removed.
final class RemovalWatcher: Sendable {
    private let thread: OSThread
    private let wake: SharedDescriptor
    private let node: SharedDescriptor

    /// Takes ownership of `nodeFD`, a file on the device's node.
    init(device: UIODevice, nodeFD: Int32, system: SystemCalls, liveness: DeviceLiveness) throws(UIOError) {
        let node = SharedDescriptor(fd: nodeFD, path: device.devicePath, system: system)
        let wakeFD: Int32
        do throws(UIOError) {
            wakeFD = try system.eventfdCreate().get(operation: .other, subject: device.devicePath)
        } catch {
            node.close()
            throw error
        }
        let wake = SharedDescriptor(fd: wakeFD, path: device.devicePath + " (removal watcher's eventfd)", system: system)
        self.node = node
        self.wake = wake
        do throws(UIOError) {
            thread = try OSThread(name: "uio\(device.number)-removal") {
                while true {
                    let outcome = try? node.withDescriptor { fd throws(UIOError) in
                        try wake.withDescriptor { wakeFD in system.pollRemoval(fd, wakeFD) }
                    }
                    switch outcome {
                    case .success(true)?:
                        let probe = try? node.withDescriptor { fd in system.writeControl(fd, 0) }
                        if case .failure(.invalidArgument)? = probe { liveness.markRemoved() }
                        return  // removed, or a device without an interrupt: nothing more to watch
                    case .failure(.interrupted)?:
                        continue
                    default:
                        return  // woken to stop, or the wait failed: nothing more to watch
                    }
                }
            }
        } catch {
            node.close()
            wake.close()
            throw error
        }
    }

    /// Wakes the thread, waits for it to end (unless this is it: a removal action may hold the
    /// last reference to the claim), and closes its files.
    func stop() {
        _ = try? wake.withDescriptor { fd in wake.system.eventfdSignal(fd) }
        if thread.isCurrent { thread.detach() } else { thread.join() }
        node.close()
        wake.close()
    }
}
