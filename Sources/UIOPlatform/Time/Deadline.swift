/// The longest wait the library counts: `Int64.max` nanoseconds, about 292 years. A longer
/// timeout is forever in practice, and `Duration.components` traps past `Int64.max` seconds, so
/// every timeout is clamped to this before it becomes a number.
package let longestWait = Duration.nanoseconds(Int64.max)

/// `duration` in whole nanoseconds: 0 for a negative one, `Int64.max` for one at or past
/// ``longestWait``. Never traps, whatever the duration.
package func clampedNanoseconds(_ duration: Duration) -> Int64 {
    if duration <= .zero { return 0 }
    if duration >= longestWait { return Int64.max }
    let (seconds, attoseconds) = duration.components
    return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
}

/// The instant `timeout` from now, or `nil` (wait forever) for a timeout at or past
/// ``longestWait``: `now + timeout` overflows for the largest durations.
package func clampedDeadline(after timeout: Duration) -> ContinuousClock.Instant? {
    timeout >= longestWait ? nil : ContinuousClock.now + timeout
}

/// How long until a deadline, in the nanoseconds `ppoll` takes: 0 once it has passed, and capped
/// so that a very distant deadline cannot overflow.
package func nanosecondsLeft(until deadline: ContinuousClock.Instant) -> Int64 {
    min(clampedNanoseconds(ContinuousClock.now.duration(to: deadline)), Int64.max / 2)
}
