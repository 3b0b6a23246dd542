import CUIOShim

/// What a spin lock needs of the processor and the thread, inlined into its loop.
public enum Processor {
    /// A spin-wait hint: `PAUSE` on x86, `YIELD` on Arm.
    @inlinable @inline(__always)
    public static func relax() { cuio_cpu_relax() }

    /// A number that identifies the calling thread while it lives (never 0): cheaper than
    /// `pthread_self()`, which is a call into libc.
    @inlinable @inline(__always)
    public static var currentThread: UInt { UInt(cuio_current_thread()) }
}
