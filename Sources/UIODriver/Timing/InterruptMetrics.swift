import Metrics

/// An interrupt object's figures as swift-metrics instruments, for a driver that bootstraps a
/// metrics backend (``InterruptConfig/exportsMetrics``). Made at connection; each interrupt then
/// records into them from the ISR and DPC threads.
final class InterruptMetrics: Sendable {
    let isrDuration: Timer
    let dpcLatency: Timer
    let workItemLatency: Timer
    let wakeUps: Counter
    let unrecognized: Counter
    let rearmFailures: Counter
    let storms: Counter

    /// Instruments labelled `uio_interrupt_*`, with the source and vector as dimensions.
    init(source: String, vector: Int) {
        let dimensions = [("source", source), ("vector", String(vector))]
        isrDuration = Timer(label: "uio_interrupt_isr_duration", dimensions: dimensions)
        dpcLatency = Timer(label: "uio_interrupt_dpc_latency", dimensions: dimensions)
        workItemLatency = Timer(label: "uio_interrupt_work_item_latency", dimensions: dimensions)
        wakeUps = Counter(label: "uio_interrupt_wake_ups", dimensions: dimensions)
        unrecognized = Counter(label: "uio_interrupt_unrecognized", dimensions: dimensions)
        rearmFailures = Counter(label: "uio_interrupt_rearm_failures", dimensions: dimensions)
        storms = Counter(label: "uio_interrupt_storms", dimensions: dimensions)
    }
}
