import SystemPackage
import UIOPlatform

/// A thread that waits for the kernel to ask for a VFIO device back, and then marks it removed.
///
/// When the device is unbound from vfio-pci or unplugged, the kernel signals the device's REQ
/// interrupt (an eventfd) and waits, signalling again every ten seconds, until every file on the
/// device is closed (`vfio_device_unregister`). Marking the liveness runs WDF's surprise removal
/// in the driver layer, which closes them; the device's mappings are retired at once.
final class VFIORequestWatcher: Sendable {
    private let thread: OSThread
    private let wait: WakeableWait
    private let eventfd: SharedDescriptor

    /// Attaches a new eventfd to the device's REQ interrupt and starts the thread `name`.
    init(interrupts: VFIOInterrupts, threadName: String, liveness: DeviceLiveness) throws(UIOError) {
        let system = interrupts.device.system
        let subject = "\(interrupts.name) removal request"
        let fd = try system.eventfdCreate().get(operation: .other, subject: subject)
        let eventfd = SharedDescriptor(fd: fd, path: subject, system: system)
        let wait: WakeableWait
        do throws(UIOError) {
            do throws(Errno) {
                wait = try WakeableWait(name: subject, system: system)
            } catch {
                throw UIOError.system(error, operation: .other, subject: subject)
            }
            try interrupts.setIRQs(flags: VFIOConstant.dataEventfd | VFIOConstant.actionTrigger, index: .request, start: 0, count: 1, fds: [fd])
        } catch {
            eventfd.close()
            throw error
        }
        self.eventfd = eventfd
        self.wait = wait
        do throws(UIOError) {
            thread = try UIOError.startingThread(threadName) {
                // The thread owns its files: it closes them as it leaves.
                defer {
                    eventfd.close()
                    wait.close()
                }
                let outcome = try? eventfd.withDescriptor { fd throws(UIOError) in
                    try UIOError.waiting(on: subject) { () throws(WakeableWait.Failure) in try wait.wait(on: fd, until: nil) }
                }
                guard case .ready? = outcome else { return }  // woken to stop, or the wait failed
                liveness.markRemoved()
            }
        } catch {
            eventfd.close()
            wait.close()
            throw error
        }
    }

    /// Wakes the thread and lets it end on its own, never waiting for it: the removal actions it
    /// runs may be what stops it, and may wait for a thread that is stopping the device.
    func stop() {
        try? wait.wake()
        thread.detach()
    }
}
