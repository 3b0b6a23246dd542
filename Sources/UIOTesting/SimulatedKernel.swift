@_spi(Simulation) import UIO
import UIOPlatform
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The kernel side of a simulated UIO device: the UIO core's counting, the bound driver's
/// masking, and the files a driver opens, answered through the device layer's syscall seam.
///
/// Interrupt files are real eventfds used as doorbells, so `poll` really blocks and really
/// wakes; the count a read returns comes from here, which collapses interrupts raised before
/// the reader wakes exactly as `uio_read` does.
final class SimulatedKernel: Sendable {
    struct State {
        var count: UInt32 = 0
        var lineEnabled = true
        var pending = false
        var removed = false
        var closed = false
        var interruptFiles: Set<Int32> = []
        var configFiles: Set<Int32> = []
        var controlWrites: [UInt32] = []
        var failures: [SimulatedDevice.Call: [Errno]] = [:]
    }

    let driver: KernelDriver
    let devicePath: String
    let configPath: String?
    /// The config space's backing memory file.
    private let configMemory: Int32?
    let state = Locked(State())
    private let live = SystemCalls.live

    init(driver: KernelDriver, devicePath: String, configPath: String?) throws(UIOError) {
        self.driver = driver
        self.devicePath = devicePath
        self.configPath = configPath
        if configPath != nil {
            let config = try memoryFile(size: 256, name: "config")
            // Vendor 1234, device 11e8; command: memory space and bus master on, INTx unmasked.
            var header: (UInt16, UInt16, UInt16) = (0x1234, 0x11e8, 0x0006)
            _ = withUnsafeBytes(of: &header) { SystemCalls.live.pwrite(config, $0, 0) }
            self.configMemory = config
        } else {
            self.configMemory = nil
        }
    }

    deinit {
        if let configMemory { _ = live.close(configMemory) }
    }

    // MARK: - Events from the test

    func raise() {
        let ring = state.withLock { state -> Set<Int32> in
            guard !state.removed else { return [] }
            guard state.lineEnabled else {
                state.pending = true  // a level line stays asserted while masked
                return []
            }
            deliver(&state)
            return state.interruptFiles
        }
        ring.forEach(ringDoorbell)
    }

    func remove() {
        let ring = state.withLock { state in
            state.removed = true
            return state.interruptFiles
        }
        ring.forEach(ringDoorbell)
    }

    // MARK: - The seam

    func systemCalls() -> SystemCalls {
        var calls = SystemCalls.live
        calls.open = { [self] path, flags in open(path, flags) }
        calls.close = { [self] fd in
            state.withLock { state in
                state.interruptFiles.remove(fd)
                state.configFiles.remove(fd)
            }
            return live.close(fd)
        }
        calls.pollPair = { [self] fd, wake, timeout in poll(fd, wake, timeout) }
        calls.readCount = { [self] fd in readCount(fd) }
        calls.writeControl = { [self] fd, value in writeControl(fd, value) }
        calls.pread = { [self] fd, buffer, offset in
            if isConfig(fd), let errno = takeFailure(.configRead) { return .failure(errno) }
            return live.pread(fd, buffer, offset)
        }
        calls.pwrite = { [self] fd, buffer, offset in configWrite(fd, buffer, offset) }
        return calls
    }

    private func open(_ path: String, _ flags: Int32) -> Result<Int32, Errno> {
        if let errno = takeFailure(.open) { return .failure(errno) }
        if path == devicePath {
            if state.withLock({ $0.removed }) { return .failure(.noSuchFileOrDirectory) }
            return live.eventfdCreate().map { fd in
                state.withLock { _ = $0.interruptFiles.insert(fd) }
                return fd
            }
        }
        if path == configPath, let configMemory {
            let fd = dup(configMemory)
            guard fd >= 0 else { return .failure(Errno(rawValue: Glibc.errno)) }
            state.withLock { _ = $0.configFiles.insert(fd) }
            return .success(fd)
        }
        return live.open(path, flags)
    }

    private func poll(_ fd: Int32, _ wake: Int32, _ timeout: Int64) -> Result<SystemCalls.PollOutcome?, Errno> {
        guard isInterruptFile(fd) else { return live.pollPair(fd, wake, timeout) }
        if let errno = takeFailure(.poll) { return .failure(errno) }
        // uio_poll: EPOLLERR once unregistered, whatever else is ready.
        if state.withLock({ $0.removed }) {
            return .success(.init(interrupt: Int16(POLLIN | POLLERR | POLLHUP), wake: 0))
        }
        let outcome = live.pollPair(fd, wake, timeout)
        if case .success(let ready?) = outcome, ready.interrupt != 0, state.withLock({ $0.removed }) {
            return .success(.init(interrupt: Int16(POLLIN | POLLERR | POLLHUP), wake: ready.wake))
        }
        return outcome
    }

    private func readCount(_ fd: Int32) -> Result<UInt32, Errno> {
        guard isInterruptFile(fd) else { return live.readCount(fd) }
        if let errno = takeFailure(.read) { return .failure(errno) }
        if state.withLock({ $0.removed }) { return .failure(.ioError) }
        _ = live.eventfdDrain(fd)
        return .success(state.withLock { $0.count })
    }

    private func writeControl(_ fd: Int32, _ value: UInt32) -> Result<Void, Errno> {
        guard isInterruptFile(fd) else { return live.writeControl(fd, value) }
        if let errno = takeFailure(.write) { return .failure(errno) }
        // uio_write: EINVAL once unregistered, before any driver's irqcontrol.
        if state.withLock({ $0.removed }) { return .failure(.invalidArgument) }
        let ring: Set<Int32>
        switch driver {
        case .uioPCIGeneric:
            return .failure(.noFunction)  // uio_pci_generic has no irqcontrol
        case .unmasked:
            state.withLock { $0.controlWrites.append(value) }
            return .success(())
        default:  // uio_pdrv_genirq's irqcontrol
            ring = state.withLock { state in
                if state.removed { return [] }
                state.controlWrites.append(value)
                if value == 0 {
                    state.lineEnabled = false
                    return []
                }
                return unmask(&state)
            }
            if state.withLock({ $0.removed }) { return .failure(.invalidArgument) }
        }
        ring.forEach(ringDoorbell)
        return .success(())
    }

    private func configWrite(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, _ offset: Int64) -> Result<Int, Errno> {
        guard isConfig(fd) else { return live.pwrite(fd, buffer, offset) }
        if let errno = takeFailure(.configWrite) { return .failure(errno) }
        let written = live.pwrite(fd, buffer, offset)
        // The command register's high byte holds Interrupt Disable (bit 10 = byte 5, bit 2).
        guard case .success = written, offset <= 5, offset + Int64(buffer.count) > 5 else { return written }
        let masked = readConfigByte(5) & 0x04 != 0
        let ring = state.withLock { state -> Set<Int32> in
            if masked {
                state.lineEnabled = false
                return []
            }
            return state.lineEnabled ? [] : unmask(&state)
        }
        ring.forEach(ringDoorbell)
        return written
    }

    // MARK: - Helpers

    /// Counts one interrupt and masks the line the way the simulated driver does.
    private func deliver(_ state: inout State) {
        state.count &+= 1
        state.pending = false
        switch driver {
        case .uioPCIGeneric:
            state.lineEnabled = false
            writeConfigByte(5, readConfigByte(5) | 0x04)
        case .unmasked:
            break
        default:  // uio_pdrv_genirq disables the line in its handler
            state.lineEnabled = false
        }
    }

    /// Unmasks the line; a level interrupt still asserted is delivered at once.
    private func unmask(_ state: inout State) -> Set<Int32> {
        state.lineEnabled = true
        guard state.pending else { return [] }
        deliver(&state)
        return state.interruptFiles
    }

    private func ringDoorbell(_ fd: Int32) { _ = live.eventfdSignal(fd) }

    private func isInterruptFile(_ fd: Int32) -> Bool { state.withLock { $0.interruptFiles.contains(fd) } }
    private func isConfig(_ fd: Int32) -> Bool { state.withLock { $0.configFiles.contains(fd) } }

    func takeFailure(_ call: SimulatedDevice.Call) -> Errno? {
        state.withLock { state in
            guard var queue = state.failures[call], !queue.isEmpty else { return nil }
            let errno = queue.removeFirst()
            state.failures[call] = queue
            return errno
        }
    }

    private func readConfigByte(_ offset: Int64) -> UInt8 {
        guard let configMemory else { return 0 }
        var byte: UInt8 = 0
        _ = withUnsafeMutableBytes(of: &byte) { live.pread(configMemory, $0, offset) }
        return byte
    }

    private func writeConfigByte(_ offset: Int64, _ value: UInt8) {
        guard let configMemory else { return }
        var byte = value
        _ = withUnsafeBytes(of: &byte) { live.pwrite(configMemory, $0, offset) }
    }
}

/// An anonymous memory file of `size` zero bytes.
func memoryFile(size: Int, name: String) throws(UIOError) -> Int32 {
    let fd = try createMemoryFile(name: name).get(operation: .other, subject: name)
    guard ftruncate(fd, off_t(size)) == 0 else {
        let errno = Errno(rawValue: Glibc.errno)
        _ = Glibc.close(fd)
        throw UIOError.system(errno, operation: .other, subject: name)
    }
    return fd
}
