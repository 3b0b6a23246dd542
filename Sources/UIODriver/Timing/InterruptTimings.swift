/// An interrupt object's timing histograms (``Interrupt/timings``).
public struct InterruptTimings: Sendable, Hashable, CustomStringConvertible {
    /// How long each ISR call took: what every other holder of the interrupt lock may wait.
    public let isrDuration: DurationHistogram
    /// From ``Interrupt/queueDPC()`` accepting a run to the DPC starting. Queueing from a thread
    /// other than the ISR's, with the DPC on the ISR thread, records no sample.
    public let dpcLatency: DurationHistogram
    /// From ``Interrupt/queueWorkItem()`` accepting a run to the work item starting.
    public let workItemLatency: DurationHistogram

    /// One line per histogram that has values.
    public var description: String {
        [("ISR duration", isrDuration), ("DPC latency", dpcLatency), ("work-item latency", workItemLatency)]
            .filter { $0.1.count > 0 }
            .map { "\($0.0): \($0.1)" }
            .joined(separator: "\n")
    }
}
