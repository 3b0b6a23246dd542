#if canImport(Glibc)
import Glibc
#endif

/// The process's locked-memory limit (`RLIMIT_MEMLOCK`), which VFIO charges every pinned DMA
/// page to (unless the process has `CAP_IPC_LOCK`).
enum MemoryLockLimit {
    /// The soft limit, as people write it: `8 MiB`, `unlimited`.
    static func current() -> String {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(__RLIMIT_MEMLOCK.rawValue), &limit) == 0 else { return "unknown" }
        if limit.rlim_cur == rlim_t.max { return "unlimited" }  // RLIM_INFINITY
        let bytes = UInt64(limit.rlim_cur)
        if bytes >= 1 << 20 && bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
        if bytes >= 1 << 10 && bytes % (1 << 10) == 0 { return "\(bytes >> 10) KiB" }
        return "\(bytes) bytes"
    }
}
