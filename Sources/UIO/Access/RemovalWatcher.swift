import SystemPackage
import UIOPlatform
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
    private let wait: WakeableWait
    private let node: SharedDescriptor

    /// Takes ownership of `nodeFD`, a file on the device's node.
    init(device: UIODevice, nodeFD: Int32, system: SystemCalls, liveness: DeviceLiveness) throws(UIOError) {
        let node = SharedDescriptor(fd: nodeFD, path: device.devicePath, system: system)
        let wait: WakeableWait
        do throws(Errno) {
            wait = try WakeableWait(name: device.devicePath + " (removal watcher)", system: system)
        } catch {
            node.close()
            throw UIOError.system(error, operation: .other, subject: device.devicePath)
        }
        self.node = node
        self.wait = wait
        do throws(UIOError) {
            thread = try UIOError.startingThread("uio\(device.number)-removal") {
                let hungUp = try? node.withDescriptor { fd throws(UIOError) in
                    try UIOError.waiting(on: device.devicePath) { () throws(WakeableWait.Failure) in try wait.waitForHangUp(on: fd) }
                }
                guard hungUp == true else { return }  // woken to stop, or the wait failed
                // Removed, or a device without an interrupt: uio_write tells them apart.
                let probe = try? node.withDescriptor { fd in system.writeControl(fd, 0) }
                if case .failure(let errno)? = probe, UIOError.code(for: .interruptControl, errno: errno).code == .deviceRemoved {
                    liveness.markRemoved()
                }
            }
        } catch {
            node.close()
            wait.close()
            throw error
        }
    }

    /// Wakes the thread, waits for it to end (unless this is it: a removal action may hold the
    /// last reference to the claim), and closes its files.
    func stop() {
        try? wait.wake()
        if thread.isCurrent { thread.detach() } else { thread.join() }
        node.close()
        wait.close()
    }
}
