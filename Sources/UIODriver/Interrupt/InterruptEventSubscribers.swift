import Synchronization
import UIO
import UIOPlatform

/// The `AsyncStream`s of an interrupt's events (``Interrupt/events(bufferingNewest:)``): the ISR
/// thread hands each event to every stream after the ISR ran, and the streams finish when the
/// interrupt disconnects. With no stream, the ISR thread pays one relaxed atomic load.
final class InterruptEventSubscribers: Sendable {
    private struct Streams {
        var continuations: [Int: AsyncStream<InterruptEvent>.Continuation] = [:]
        var nextKey = 0
    }

    private let streams = Locked(Streams())
    private let count = Atomic<Int>(0)

    /// A new stream that keeps the newest `limit` events a slow reader has not taken.
    func stream(bufferingNewest limit: Int) -> AsyncStream<InterruptEvent> {
        let (stream, continuation) = AsyncStream<InterruptEvent>.makeStream(bufferingPolicy: .bufferingNewest(limit))
        let key = streams.withLock { streams in
            defer { streams.nextKey += 1 }
            streams.continuations[streams.nextKey] = continuation
            return streams.nextKey
        }
        count.add(1, ordering: .relaxed)
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            if self.streams.withLock({ $0.continuations.removeValue(forKey: key) }) != nil {
                self.count.subtract(1, ordering: .relaxed)
            }
        }
        return stream
    }

    /// Hands `event` to every stream.
    @inline(__always)
    func deliver(_ event: InterruptEvent) {
        guard count.load(ordering: .relaxed) > 0 else { return }
        streams.withLock { $0.continuations.values.forEach { _ = $0.yield(event) } }
    }

    /// Finishes every stream; later streams start empty.
    func finishAll() {
        let continuations = streams.withLock { streams in
            defer { streams.continuations.removeAll() }
            return Array(streams.continuations.values)
        }
        count.store(0, ordering: .relaxed)
        continuations.forEach { $0.finish() }
    }
}
