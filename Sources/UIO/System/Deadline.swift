/// How long until a deadline, in the nanoseconds `ppoll` takes: 0 once it has passed, and capped
/// so that a very distant deadline cannot overflow.
package func nanosecondsLeft(until deadline: ContinuousClock.Instant) -> Int64 {
    let left = ContinuousClock.now.duration(to: deadline)
    if left <= .zero { return 0 }
    let (seconds, attoseconds) = left.components
    if seconds >= Int64.max / 1_000_000_000 - 1 { return Int64.max / 2 }
    return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
}
