import UIO

/// `WDF_TRI_STATE`: yes, no, or let the framework decide.
public enum TriState: Sendable, Hashable {
    /// Let the framework decide.
    case useDefault
    /// Yes.
    case yes
    /// No.
    case no
}

/// Which thread runs an interrupt's DPC.
public enum DPCPlacement: Sendable, Hashable {
    /// A thread of its own, as in WDF: the ISR thread is back waiting for the next interrupt as
    /// soon as the ISR returns and the line is re-armed. Each interrupt that queues the DPC
    /// wakes two threads.
    case ownThread
    /// The ISR thread, after the ISR returns and the line is re-armed: one thread wakes per
    /// interrupt instead of two, for drivers bound by throughput. The price is latency: the next
    /// interrupt's ISR waits until the DPC returns, and interrupts raised meanwhile reach it as
    /// one wake-up (the event's `newInterrupts` counts them). ``Interrupt/queueDPC()``
    /// from another thread wakes the ISR thread to run it.
    case serviceThread
}

/// How an interrupt object behaves (`WDF_INTERRUPT_CONFIG`).
///
/// `init(isr:dpc:)` is `WDF_INTERRUPT_CONFIG_INIT`; set the other fields afterwards.
/// ``Interrupt/init(parent:config:context:)`` validates the combination with WDF's rules.
public struct InterruptConfig<Context: Sendable>: Sendable {
    /// `EvtInterruptIsr`: runs on the interrupt's ISR thread with the interrupt lock held.
    /// Return `true` when the interrupt was the device's (recognized).
    public typealias ServiceRoutine = @Sendable (_ interrupt: Interrupt<Context>, _ messageID: UInt32) -> Bool
    /// `EvtInterruptDpc` / `EvtInterruptWorkItem`: runs on its own thread after
    /// ``Interrupt/queueDPC()`` / ``Interrupt/queueWorkItem()``; the second argument is the
    /// interrupt's parent (WDF's `AssociatedObject`).
    public typealias DeferredRoutine = @Sendable (_ interrupt: Interrupt<Context>, _ associatedObject: any FrameworkObject) -> Void
    /// `EvtInterruptEnable` / `EvtInterruptDisable`: runs with the interrupt lock held; enables
    /// or disables the device's own interrupt sources. A thrown error fails the transition.
    public typealias PowerRoutine = @Sendable (_ interrupt: Interrupt<Context>, _ device: Device) throws -> Void
    /// Called when the line could not be re-armed after an ISR (no WDF counterpart: a kernel
    /// driver's re-arm cannot be refused). The error says why and what to do.
    public typealias ReArmFailureRoutine = @Sendable (_ interrupt: Interrupt<Context>, _ error: UIOError) -> Void
    /// Called when the storm guard masked the line (no WDF counterpart: the kernel's "nobody
    /// cared" report).
    public typealias StormRoutine = @Sendable (_ interrupt: Interrupt<Context>, _ storm: InterruptStorm) -> Void

    /// `EvtInterruptIsr`. Required: creating an interrupt without one fails.
    public var isr: ServiceRoutine?
    /// `EvtInterruptDpc`. At most one of ``dpc`` and ``workItem``.
    public var dpc: DeferredRoutine?
    /// Where the DPC runs: its own thread (WDF's way, the default) or the ISR thread. No WDF
    /// counterpart. Only with a ``dpc``.
    public var dpcPlacement = DPCPlacement.ownThread
    /// `EvtInterruptWorkItem`, run on a passive-level worker. At most one of ``dpc`` and ``workItem``.
    public var workItem: DeferredRoutine?
    /// `EvtInterruptEnable`.
    public var enable: PowerRoutine?
    /// `EvtInterruptDisable`.
    public var disable: PowerRoutine?
    /// Hears that the line could not be re-armed for a reason other than removal (which reaches
    /// ``DeviceCallbacks/surpriseRemoval`` instead): EPERM under the kernel's lockdown, EACCES after
    /// a permission change. The line stays masked, so no interrupt arrives until the ISR thread's
    /// retry (after 1 ms, doubling to once a second) succeeds; then interrupts resume by themselves.
    /// Called once per episode, on the ISR thread without the interrupt lock: ``Interrupt/disable()``
    /// works from here, ``Device/stop()`` must come from another thread.
    public var reArmFailed: ReArmFailureRoutine?
    /// Where the ISR thread runs and at what priority (``ServiceThreadPlacement``). No WDF
    /// counterpart.
    public var serviceThreadPlacement = ServiceThreadPlacement.unchanged
    /// Whether the interrupt records how long each ISR call takes and how long each DPC or work
    /// item waits to start (``Interrupt/timings``): two clock reads per ISR call and two per
    /// deferred run (queueing and start), no allocation. Off by default: on the native benchmark
    /// it moved raise → DPC entry from about 1.10× to about 1.2× the C baseline. On with
    /// ``exportsMetrics``. No WDF counterpart.
    public var recordsTimings = false
    /// Whether the interrupt also records its figures as swift-metrics instruments (timers
    /// `uio_interrupt_isr_duration`, `uio_interrupt_dpc_latency`, `uio_interrupt_work_item_latency`;
    /// counters `uio_interrupt_wake_ups`, `uio_interrupt_unrecognized`, `uio_interrupt_rearm_failures`,
    /// `uio_interrupt_storms`; dimensions `source` and `vector`) for a driver that bootstraps a
    /// metrics backend. Off by default: each interrupt then calls into the backend, whose cost
    /// (a lock, an allocation) is the backend's. No WDF counterpart.
    public var exportsMetrics = false
    /// The "nobody cared" guard (``StormGuard``), with the kernel's figures unless changed;
    /// `nil` turns it off. No WDF counterpart: in Windows the kernel guards the line itself.
    public var stormGuard: StormGuard? = .kernelDefault
    /// Hears that the storm guard masked the line; on the ISR thread, without the interrupt lock.
    /// The storm is also logged.
    public var interruptStorm: StormRoutine?
    /// `AutomaticSerialization`: run the DPC or work item holding the parent's lock, so it is
    /// serialized with the parent's other callbacks (``Device/withLock(_:)``, ``Queue``).
    public var automaticSerialization = false
    /// `PassiveHandling`: the ISR may block; the interrupt lock is a wait lock.
    public var passiveHandling = false
    /// `SpinLock`: a spin lock to use as the interrupt lock (to share it between interrupts).
    /// Not with ``passiveHandling``.
    public var spinLock: SpinLock?
    /// `WaitLock`: a wait lock to use as the interrupt lock. Only with ``passiveHandling``.
    public var waitLock: WaitLock?
    /// `ShareVector`: whether the line is shared with other devices. uio_pci_generic always
    /// requests PCI INTx shared, so ``TriState/no`` is refused for it.
    public var shareVector: TriState = .useDefault
    /// `ReportInactiveOnPowerDown`: report the interrupt inactive when the device leaves D0.
    public var reportInactiveOnPowerDown: TriState = .useDefault
    /// `CanWakeDevice`: UIO has no wake interrupts, so `true` is refused as not supported.
    public var canWakeDevice = false

    /// `WDF_INTERRUPT_CONFIG_INIT(&config, isr, dpc)`.
    public init(isr: ServiceRoutine?, dpc: DeferredRoutine? = nil) {
        self.isr = isr
        self.dpc = dpc
    }
}

extension InterruptConfig {
    /// A configuration that passed `WdfInterruptCreate`'s checks for its parent, with what the
    /// interrupt object is built from.
    struct Checked {
        /// The ISR, which a valid configuration has.
        let isr: ServiceRoutine
        /// The interrupt lock: the config's spin or wait lock, or a new one of the right kind.
        let lock: DriverLock
        /// The parent's lock, taken around the DPC or work item under automatic serialization.
        let serializationLock: DriverLock?
    }

    /// `WdfInterruptCreate`'s checks of this configuration under `parent`, with WDF's statuses
    /// (listed at ``Interrupt/init(parent:config:context:)``).
    func checked(parent: any FrameworkObject) throws(DriverError) -> Checked {
        let serializationLevel: ExecutionLevel
        let parentLock: DriverLock
        switch parent {
        case let device as Device:
            serializationLevel = device.executionLevel
            parentLock = device.synchronizationLock
        case let queue as Queue:
            serializationLevel = queue.executionLevel
            parentLock = queue.synchronizationLock
        default:
            throw DriverError(.parentAssignmentNotAllowed, "an interrupt's parent must be a Device or a Queue, not \(type(of: parent))")
        }
        guard let isr else {
            throw DriverError(.invalidParameter, "the config has no ISR (EvtInterruptIsr is required)")
        }
        guard dpc == nil || workItem == nil else {
            throw DriverError(.invalidParameter, "the config sets both a DPC and a work item; choose one")
        }
        if let stormGuard, stormGuard.window < 1 || stormGuard.unrecognizedLimit < 0 || stormGuard.unrecognizedLimit >= stormGuard.window {
            throw DriverError(.invalidParameter, "the storm guard needs a window of at least 1 and a limit from 0 to below the window (\(stormGuard))")
        }
        if let priority = serviceThreadPlacement.realTimePriority, !(1...99).contains(priority) {
            throw DriverError(.invalidParameter, "a SCHED_FIFO priority is from 1 to 99, not \(priority)")
        }
        if case .these(let cpus) = serviceThreadPlacement.cpus, cpus.isEmpty || cpus.contains(where: { $0 < 0 }) {
            throw DriverError(.invalidParameter, "the ISR thread's CPUs must be a non-empty list of CPU numbers, not \(cpus)")
        }
        if dpcPlacement == .serviceThread && dpc == nil {
            throw DriverError(.invalidParameter, "dpcPlacement is serviceThread, but the config has no DPC")
        }
        if waitLock != nil && !passiveHandling {
            throw DriverError(.invalidParameter, "a wait lock is the interrupt lock only with passive handling")
        }
        if spinLock != nil && passiveHandling {
            throw DriverError(.invalidParameter, "passive handling needs a wait lock, not a spin lock")
        }
        if automaticSerialization {
            if dpc != nil && serializationLevel == .passive {
                throw DriverError(.incompatibleExecutionLevel,
                                  "automatic serialization of a DPC needs a parent at dispatch level; this parent is passive (use a work item)")
            }
            if workItem != nil && serializationLevel != .passive {
                throw DriverError(.incompatibleExecutionLevel,
                                  "automatic serialization of a work item needs a passive parent; this parent is at dispatch level (use a DPC)")
            }
        }
        if canWakeDevice {
            throw DriverError(.notSupported, "UIO has no wake interrupts (canWakeDevice)")
        }
        let resources = parent.device.resources
        if shareVector == .no && resources.alwaysSharesInterrupts {
            throw DriverError(.notSupported, "\(resources.name): the device's interrupts are always requested shared, as uio_pci_generic does (shareVector = .no)")
        }
        let name = "the interrupt lock of \(resources.name)"
        return Checked(
            isr: isr,
            lock: spinLock?.lock ?? waitLock?.lock ?? DriverLock(kind: passiveHandling ? .wait : .spin, name: name),
            serializationLock: automaticSerialization ? parentLock : nil)
    }
}
