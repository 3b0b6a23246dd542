#if canImport(Glibc)
import Glibc
#endif

/// A thread that waits for a claimed device to be unregistered and then marks its liveness.
///
/// It polls its own file on the node for `POLLERR`/`POLLHUP` only: `uio_poll` reports `POLLERR`
/// once the device is unregistered. `uio_poll` also reports `POLLERR` for a device without an
/// interrupt (`info->irq` is 0), so a `POLLERR` counts as removal only when the device's sysfs
/// directory is gone too; otherwise there is nothing to watch and the thread ends.
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
                        if case .failure = system.pathStatus(device.sysPath) { liveness.markRemoved() }
                        return
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

    /// Wakes the thread, waits for it to end, and closes its files.
    func stop() {
        _ = try? wake.withDescriptor { fd in wake.system.eventfdSignal(fd) }
        thread.join()
        node.close()
        wake.close()
    }
}
