import CUIOShim
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The seam between the device layer and the kernel: one entry per system call.
///
/// Every syscall the layer makes goes through one of these closures. ``live`` calls the kernel;
/// a test copies it and replaces single entries to force an errno (EINTR, EIO, EACCES, EBUSY,
/// ENOSYS) without hardware, in the manner of apple/swift-system's mocking switch — but as a
/// value, so parallel tests never share a global.
public struct SystemCalls: Sendable {
    /// What `ppoll` reported for the interrupt fd and the wake-up fd.
    public struct PollOutcome: Sendable, Equatable {
        /// `revents` of the interrupt fd.
        public var interrupt: Int16
        /// `revents` of the wake-up eventfd.
        public var wake: Int16

        /// What `ppoll` reported for each fd.
        public init(interrupt: Int16, wake: Int16) {
            self.interrupt = interrupt
            self.wake = wake
        }
    }

    /// `open(path, flags | O_CLOEXEC)`.
    public var open: @Sendable (_ path: String, _ flags: Int32) -> Result<Int32, Errno>
    /// `close(fd)`; never retried (Linux frees the fd even on `EINTR`).
    public var close: @Sendable (_ fd: Int32) -> Result<Void, Errno>
    /// `flock(fd, operation)`.
    public var flock: @Sendable (_ fd: Int32, _ operation: Int32) -> Result<Void, Errno>
    /// `fstat(fd).st_size`.
    public var fileSize: @Sendable (_ fd: Int32) -> Result<Int64, Errno>
    /// `pread(fd, buffer, offset)`.
    public var pread: @Sendable (_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, _ offset: Int64) -> Result<Int, Errno>
    /// `pwrite(fd, buffer, offset)`.
    public var pwrite: @Sendable (_ fd: Int32, _ buffer: UnsafeRawBufferPointer, _ offset: Int64) -> Result<Int, Errno>
    /// `read(fd, &count, 4)` on /dev/uioN.
    public var readCount: @Sendable (_ fd: Int32) -> Result<UInt32, Errno>
    /// `write(fd, &value, 4)` on /dev/uioN (the driver's irqcontrol).
    public var writeControl: @Sendable (_ fd: Int32, _ value: UInt32) -> Result<Void, Errno>
    /// `ppoll` on the interrupt fd and the wake-up fd; `nil` when the timeout ran out.
    public var pollPair: @Sendable (_ interruptFD: Int32, _ wakeFD: Int32, _ timeoutNanoseconds: Int64) -> Result<PollOutcome?, Errno>
    /// `ppoll` until `fd` reports `POLLERR` or `POLLHUP` (`true`) or the wake-up fd is readable
    /// (`false`); interrupts do not end it.
    public var pollRemoval: @Sendable (_ fd: Int32, _ wakeFD: Int32) -> Result<Bool, Errno>
    /// A non-blocking, close-on-exec eventfd.
    public var eventfdCreate: @Sendable () -> Result<Int32, Errno>
    /// Adds 1 to an eventfd.
    public var eventfdSignal: @Sendable (_ fd: Int32) -> Result<Void, Errno>
    /// Resets the eventfd; succeeds (doing nothing) when it was already zero.
    public var eventfdDrain: @Sendable (_ fd: Int32) -> Result<Void, Errno>
    /// Reads and resets an eventfd's 8-byte counter: `EAGAIN` when it is zero.
    public var eventfdRead: @Sendable (_ fd: Int32) -> Result<UInt64, Errno>
    /// `ioctl(fd, request, argument)`: the call's non-negative result.
    public var ioctl: @Sendable (_ fd: Int32, _ request: UInt, _ argument: UnsafeMutableRawPointer?) -> Result<Int32, Errno>
    /// `ioctl(fd, request, value)` for a request that takes a plain value.
    public var ioctlValue: @Sendable (_ fd: Int32, _ request: UInt, _ value: UInt) -> Result<Int32, Errno>
    /// `fstat(fd)`: which file an open fd is.
    public var fileStatus: @Sendable (_ fd: Int32) -> Result<FileStatus, Errno>
    /// `stat(path)`, following links: which file a path names now.
    public var pathStatus: @Sendable (_ path: String) -> Result<FileStatus, Errno>
    /// `fcntl(fd, F_DUPFD_CLOEXEC)`: a second fd on the same open file.
    public var duplicate: @Sendable (_ fd: Int32) -> Result<Int32, Errno>
    /// `readlink`: the link's target.
    public var readLink: @Sendable (_ path: String) -> Result<String, Errno>
    /// `opendir`/`readdir`: the names in a folder, without `.` and `..`.
    public var listDirectory: @Sendable (_ path: String) -> Result<[String], Errno>
    /// `mmap` shared and read-write.
    public var mmap: @Sendable (_ fd: Int32, _ length: Int, _ offset: Int64) -> Result<UnsafeMutableRawPointer, Errno>
    /// `munmap`.
    public var munmap: @Sendable (_ address: UnsafeMutableRawPointer, _ length: Int) -> Result<Void, Errno>
    /// `memfd_create` for DMA memory, of huge pages (`MFD_HUGETLB`) or not.
    public var createDMAFile: @Sendable (_ hugePages: Bool) -> Result<Int32, Errno>
    /// `ftruncate(fd, length)`.
    public var resizeFile: @Sendable (_ fd: Int32, _ length: Int64) -> Result<Void, Errno>
    /// `madvise(MADV_POPULATE_WRITE)` and `madvise(MADV_DONTFORK)`: faulted in, and never shared
    /// with a child.
    public var populateDMAMemory: @Sendable (_ address: UnsafeMutableRawPointer, _ length: Int) -> Result<Void, Errno>
}

extension SystemCalls {
    /// The kernel itself.
    public static let live = SystemCalls(
        open: { path, flags in
            let fd = Glibc.open(path, flags | O_CLOEXEC)
            return fd >= 0 ? .success(fd) : .failure(Errno(rawValue: Glibc.errno))
        },
        close: { fd in
            // Linux releases the fd even when close fails with EINTR: never retry.
            Glibc.close(fd) == 0 ? .success(()) : .failure(Errno(rawValue: Glibc.errno))
        },
        flock: { fd, operation in
            let r = cuio_flock(fd, operation)
            return r == 0 ? .success(()) : .failure(Errno(rawValue: -r))
        },
        fileSize: { fd in
            var info = stat()
            return fstat(fd, &info) == 0 ? .success(Int64(info.st_size)) : .failure(Errno(rawValue: Glibc.errno))
        },
        pread: { fd, buffer, offset in
            let n = Glibc.pread(fd, buffer.baseAddress, buffer.count, off_t(offset))
            return n >= 0 ? .success(n) : .failure(Errno(rawValue: Glibc.errno))
        },
        pwrite: { fd, buffer, offset in
            let n = Glibc.pwrite(fd, buffer.baseAddress, buffer.count, off_t(offset))
            return n >= 0 ? .success(n) : .failure(Errno(rawValue: Glibc.errno))
        },
        readCount: { fd in
            var count: UInt32 = 0
            let n = cuio_read_count(fd, &count)
            if n < 0 { return .failure(Errno(rawValue: Int32(-n))) }
            // The kernel answers exactly 4 bytes or an error; anything else is a broken device.
            return n == 4 ? .success(count) : .failure(.ioError)
        },
        writeControl: { fd, value in
            let n = cuio_write_control(fd, value)
            if n < 0 { return .failure(Errno(rawValue: Int32(-n))) }
            return n == 4 ? .success(()) : .failure(.ioError)
        },
        pollPair: { interruptFD, wakeFD, timeout in
            var interrupt: Int16 = 0
            var wake: Int16 = 0
            let n = cuio_poll_pair(interruptFD, wakeFD, timeout, &interrupt, &wake)
            if n < 0 { return .failure(Errno(rawValue: -n)) }
            return .success(n == 0 ? nil : PollOutcome(interrupt: interrupt, wake: wake))
        },
        pollRemoval: { fd, wake in
            let r = cuio_poll_removal(fd, wake)
            return r < 0 ? .failure(Errno(rawValue: -r)) : .success(r == 1)
        },
        eventfdCreate: {
            let fd = cuio_eventfd_create()
            return fd >= 0 ? .success(fd) : .failure(Errno(rawValue: -fd))
        },
        eventfdSignal: { fd in
            let r = cuio_eventfd_signal(fd)
            return r == 0 ? .success(()) : .failure(Errno(rawValue: -r))
        },
        eventfdDrain: { fd in
            let r = cuio_eventfd_drain(fd)
            return r == 0 || r == -EAGAIN ? .success(()) : .failure(Errno(rawValue: -r))
        },
        eventfdRead: { fd in
            var value: UInt64 = 0
            let r = cuio_eventfd_read(fd, &value)
            return r == 0 ? .success(value) : .failure(Errno(rawValue: -r))
        },
        ioctl: { fd, request, argument in
            let r = cuio_ioctl_pointer(fd, request, argument)
            return r >= 0 ? .success(r) : .failure(Errno(rawValue: -r))
        },
        ioctlValue: { fd, request, value in
            let r = cuio_ioctl_value(fd, request, value)
            return r >= 0 ? .success(r) : .failure(Errno(rawValue: -r))
        },
        fileStatus: { fd in
            var info = stat()
            return fstat(fd, &info) == 0 ? .success(FileStatus(info)) : .failure(Errno(rawValue: Glibc.errno))
        },
        pathStatus: { path in
            var info = stat()
            return stat(path, &info) == 0 ? .success(FileStatus(info)) : .failure(Errno(rawValue: Glibc.errno))
        },
        duplicate: { fd in
            let copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)
            return copy >= 0 ? .success(copy) : .failure(Errno(rawValue: Glibc.errno))
        },
        readLink: { path in
            var buffer = [CChar](repeating: 0, count: 4096)
            let count = Glibc.readlink(path, &buffer, buffer.count - 1)
            guard count >= 0 else { return .failure(Errno(rawValue: Glibc.errno)) }
            return .success(String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self))
        },
        listDirectory: { path in
            guard let directory = opendir(path) else { return .failure(Errno(rawValue: Glibc.errno)) }
            defer { closedir(directory) }
            var names: [String] = []
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                    String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
                }
                if name != "." && name != ".." { names.append(name) }
            }
            return .success(names)
        },
        mmap: { fd, length, offset in
            var address: UnsafeMutableRawPointer?
            let r = cuio_mmap_shared(fd, length, off_t(offset), &address)
            guard r == 0, let address else { return .failure(Errno(rawValue: -r)) }
            return .success(address)
        },
        munmap: { address, length in
            let r = cuio_munmap(address, length)
            return r == 0 ? .success(()) : .failure(Errno(rawValue: -r))
        },
        createDMAFile: { hugePages in
            let fd = cuio_memfd_create_dma("swift-uio-dma", hugePages ? 1 : 0)
            return fd >= 0 ? .success(fd) : .failure(Errno(rawValue: -fd))
        },
        resizeFile: { fd, length in
            let r = cuio_ftruncate(fd, off_t(length))
            return r == 0 ? .success(()) : .failure(Errno(rawValue: -r))
        },
        populateDMAMemory: { address, length in
            let r = cuio_populate_dma_memory(address, length)
            return r == 0 ? .success(()) : .failure(Errno(rawValue: -r))
        }
    )
}

/// Runs `body` again while it fails with EINTR: a signal is not an error.
@inline(__always)
package func retryingOnInterrupt<T>(_ body: () -> Result<T, Errno>) -> Result<T, Errno> {
    while true {
        let result = body()
        if case .failure(.interrupted) = result { continue }
        return result
    }
}
