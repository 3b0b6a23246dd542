/// Where an interrupt object's ISR thread runs, and at what priority. No WDF counterpart: a
/// Windows ISR runs on the CPU the interrupt arrives on, above every thread.
public struct ServiceThreadPlacement: Sendable, Hashable {
    /// Which CPUs the ISR thread may run on.
    public enum CPUs: Sendable, Hashable {
        /// Wherever the scheduler puts it.
        case any
        /// The CPUs the kernel delivers the interrupt to (its effective affinity in `/proc/irq`,
        /// or its allowed CPUs where the kernel reports no effective one), read at each connection:
        /// the kernel's handler wakes the thread on the CPU it runs on, with no inter-processor
        /// interrupt, and the thread finds the caches the handler warmed. If the line is moved
        /// later (by `irqbalance`, or a write to `smp_affinity`), the thread stays where it was
        /// placed: pin the line too (`/proc/irq/N/smp_affinity_list`) or stop `irqbalance` for it.
        case whereInterruptLands
        /// These CPUs.
        case these([Int])
    }

    /// Which CPUs the ISR thread may run on.
    public var cpus: CPUs
    /// `SCHED_FIFO` at this priority (1...99): the ISR thread then runs before every normal
    /// thread on its CPU as soon as it wakes. Needs `CAP_SYS_NICE`, or an `RLIMIT_RTPRIO` of at
    /// least this priority; without either, starting the device fails with
    /// ``DriverError/Status/accessDenied``. A real-time thread that never sleeps starves its CPU
    /// (the kernel's real-time throttling leaves others 5% by default): keep the ISR short. A
    /// DPC placed on the ISR thread (``DPCPlacement/serviceThread``) runs with the same priority
    /// and CPUs.
    /// `nil`: the normal policy.
    public var realTimePriority: Int?

    /// A placement; by default, the scheduler's.
    public init(cpus: CPUs = .any, realTimePriority: Int? = nil) {
        self.cpus = cpus
        self.realTimePriority = realTimePriority
    }

    /// The scheduler's choice, the normal policy.
    public static let unchanged = ServiceThreadPlacement()
}
