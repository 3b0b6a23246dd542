@_spi(Simulation) import UIO
import UIOPlatform
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The kernel side of a simulated UIO device, answering the whole system-call seam the device
/// layer uses, so `UIOHandle`, `DeviceClaim` and `InterruptLine` run as they ship: the sysfs
/// directory (its `flock` is real, on a memory file) and its `dev` and `event` attributes,
/// `/sys/dev/char/M:N`, the node's status, `/dev/uioN` (the UIO core's counting and the bound
/// driver's masking), `mmap` at `index × page size`, the PCI config space and `resourceN`.
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
        /// Each open of the node: its own eventfd, rung once per interrupt.
        var interruptFiles: Set<Int32> = []
        /// Duplicates of an interrupt file → the file (they share its eventfd, so are not rung).
        var interruptAliases: [Int32: Int32] = [:]
        /// Each interrupt file's open descriptors (itself and its duplicates): the file is released
        /// when the last one closes.
        var fileReferences: [Int32: Int] = [:]
        var configFiles: Set<Int32> = []
        /// The node's `flock` holder (eventfds share one inode, so theirs is simulated).
        var nodeLockHolder: Int32?
        var controlWrites: [UInt32] = []
        var failures: [SimulatedDevice.Call: [Errno]] = [:]
    }

    /// The simulated node's major number.
    static let major: UInt32 = 240

    let driver: KernelDriver
    let device: UIODevice
    let configPath: String?
    /// The config space's backing memory file.
    private let configMemory: Int32?
    /// Each map's memory, a whole number of pages.
    private let mapMemory: [Int32]
    /// What `flock` of the sysfs directory locks: reopened per open, so each open is its own
    /// open file description, as with a directory.
    private let directoryFile: Int32
    let state = Locked(State(), countingAcquisitions: false)
    private let live = SystemCalls.live
    /// Huge pages and pagemap, for DMA memory.
    let hugePages = SimulatedHugePages()

    /// Takes ownership of `mapMemory`, one memory file per map of `device`.
    init(driver: KernelDriver, device: UIODevice, mapMemory: [Int32]) throws(UIOError) {
        self.driver = driver
        self.device = device
        self.mapMemory = mapMemory
        self.directoryFile = try memoryFile(size: 0, name: "sysfs-directory")
        let configPath = device.parent?.pci == nil ? nil : device.parent!.sysPath + "/config"
        self.configPath = configPath
        if configPath != nil {
            let config = try memoryFile(size: 256, name: "config")
            // Vendor 1234, device 11e8; command: memory space on (pci_enable_device), Bus Master
            // off, INTx unmasked, as uio_pci_generic's probe leaves it.
            var header: (UInt16, UInt16, UInt16) = (0x1234, 0x11e8, 0x0002)
            _ = withUnsafeBytes(of: &header) { SystemCalls.live.pwrite(config, $0, 0) }
            self.configMemory = config
        } else {
            self.configMemory = nil
        }
    }

    deinit {
        if let configMemory { _ = live.close(configMemory) }
        mapMemory.forEach { _ = live.close($0) }
        _ = live.close(directoryFile)
    }

    private var devicePath: String { device.devicePath }

    /// The node's identity, as `stat` reports it.
    private var nodeStatus: FileStatus {
        FileStatus(fileSystem: 0x5157, inode: 0x1000 + UInt64(device.number),
                   device: DeviceNumber(major: Self.major, minor: UInt32(device.number)))
    }

    // MARK: - Events from the test

    func raise() {
        state.withLock { state in
            guard !state.removed else { return }
            guard state.lineEnabled else {
                state.pending = true  // a level line stays asserted while masked
                return
            }
            deliver(&state)
        }
    }

    func remove() {
        state.withLock { state in
            state.removed = true
            ringDoorbells(state)
        }
    }

    // MARK: - The seam

    func systemCalls() -> SystemCalls {
        var calls = SystemCalls.live
        calls.open = { [self] path, flags in open(path, flags) }
        calls.close = { [self] fd in
            // uio_pci_generic's release turns Bus Master off when any open file of the device
            // goes (its last descriptor closes), not only the device's last.
            let releasesFile = state.withLock { state -> Bool in
                guard let file = state.interruptAliases[fd] ?? (state.interruptFiles.contains(fd) ? fd : nil) else { return false }
                state.fileReferences[file, default: 1] -= 1
                guard state.fileReferences[file] == 0 else { return false }
                state.fileReferences.removeValue(forKey: file)
                return true
            }
            state.withLock { state in
                if state.interruptFiles.remove(fd) != nil {
                    state.interruptAliases = state.interruptAliases.filter { $0.value != fd }
                }
                state.interruptAliases.removeValue(forKey: fd)
                state.configFiles.remove(fd)
                if state.nodeLockHolder == fd { state.nodeLockHolder = nil }
            }
            hugePages.close(fd)
            if releasesFile && driver == .uioPCIGeneric { clearBusMaster() }
            return live.close(fd)
        }
        calls.flock = { [self] fd, operation in flock(fd, operation) }
        calls.pollPair = { [self] fd, wake, timeout in poll(fd, wake, timeout) }
        calls.pollRemoval = { [self] fd, wake in pollRemoval(fd, wake) }
        calls.readCount = { [self] fd in readCount(fd) }
        calls.writeControl = { [self] fd, value in writeControl(fd, value) }
        calls.pread = { [self] fd, buffer, offset in
            if isConfig(fd), let errno = takeFailure(.configRead) { return .failure(errno) }
            if hugePages.isPagemap(fd) { return hugePages.readPagemap(buffer, offset) }
            return live.pread(fd, buffer, offset)
        }
        calls.pwrite = { [self] fd, buffer, offset in configWrite(fd, buffer, offset) }
        calls.readLink = { [self] path in
            // The kernel's index of character devices links to the device's sysfs directory.
            guard path == "/sys/dev/char/\(nodeStatus.device)", !isRemoved else { return live.readLink(path) }
            return .success("../../.." + device.sysPath)
        }
        calls.pathStatus = { [self] path in
            guard path == devicePath else { return live.pathStatus(path) }
            return isRemoved ? .failure(.noSuchFileOrDirectory) : .success(nodeStatus)
        }
        calls.fileStatus = { [self] fd in isInterruptFile(fd) ? .success(nodeStatus) : live.fileStatus(fd) }
        calls.duplicate = { [self] fd in
            live.duplicate(fd).map { copy in
                state.withLock { state in
                    if let file = state.interruptAliases[fd] ?? (state.interruptFiles.contains(fd) ? fd : nil) {
                        state.interruptAliases[copy] = file
                        state.fileReferences[file, default: 1] += 1
                    }
                    if state.configFiles.contains(fd) { state.configFiles.insert(copy) }
                }
                return copy
            }
        }
        calls.mmap = { [self] fd, length, offset in
            hugePages.isHugeFile(fd) ? hugePages.map(fd, length) : mmap(fd, length, offset)
        }
        calls.munmap = { [self] address, length in
            _ = hugePages.unmap(address)
            return live.munmap(address, length)
        }
        calls.createDMAFile = { [self] huge in hugePages.createFile(hugePages: huge) }
        calls.populateDMAMemory = { [self] _, _ in hugePages.populate() }
        return calls.countingEachCall()
    }

    private var isRemoved: Bool { state.withLock { $0.removed } }

    private func open(_ path: String, _ flags: Int32) -> Result<Int32, Errno> {
        if path == "/proc/self/pagemap" { return hugePages.openPagemap() }
        if path == "/proc/meminfo" { return attribute(hugePages.meminfo) }
        if path == devicePath {
            if let errno = takeFailure(.open) { return .failure(errno) }
            if isRemoved { return .failure(.noSuchFileOrDirectory) }
            return live.eventfdCreate().map { fd in
                state.withLock { _ = $0.interruptFiles.insert(fd) }
                return fd
            }
        }
        if path == configPath, let configMemory {
            if let errno = takeFailure(.open) { return .failure(errno) }
            let fd = dup(configMemory)
            guard fd >= 0 else { return .failure(Errno(rawValue: Glibc.errno)) }
            state.withLock { _ = $0.configFiles.insert(fd) }
            return .success(fd)
        }
        // The device's sysfs files go with it.
        let sysPath = device.sysPath
        if path == sysPath || path.hasPrefix(sysPath + "/") {
            if isRemoved { return .failure(.noSuchFileOrDirectory) }
            switch path.dropFirst(sysPath.count) {
            case "": return reopen(directoryFile)
            case "/dev": return attribute("\(nodeStatus.device)\n")
            case "/event": return attribute("\(state.withLock { $0.count })\n")
            default: return .failure(.noSuchFileOrDirectory)
            }
        }
        if let parent = device.parent, parent.pci != nil, path.hasPrefix(parent.sysPath + "/resource"),
           let bar = Int(path.dropFirst(parent.sysPath.count + "/resource".count)) {
            guard mapMemory.indices.contains(bar) else { return .failure(.noSuchFileOrDirectory) }
            return reopen(mapMemory[bar])
        }
        return live.open(path, flags)
    }

    /// A new open file description of `file`, as a second `open` of the same path gives.
    private func reopen(_ file: Int32) -> Result<Int32, Errno> {
        live.open("/proc/self/fd/\(file)", O_RDWR)
    }

    /// A file holding `text`, as a sysfs attribute reads.
    private func attribute(_ text: String) -> Result<Int32, Errno> {
        let fd: Int32
        switch createMemoryFile(name: "attribute") {
        case .success(let created): fd = created
        case .failure(let errno): return .failure(errno)
        }
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { live.pwrite(fd, UnsafeRawBufferPointer($0), 0) }
        return .success(fd)
    }

    private func flock(_ fd: Int32, _ operation: Int32) -> Result<Void, Errno> {
        guard isInterruptFile(fd) else { return live.flock(fd, operation) }
        return state.withLock { state in
            let file = state.interruptAliases[fd] ?? fd  // a lock belongs to the open file, not the descriptor
            if operation & LOCK_UN != 0 {
                if state.nodeLockHolder == file { state.nodeLockHolder = nil }
                return .success(())
            }
            if let holder = state.nodeLockHolder, holder != file { return .failure(.wouldBlock) }
            state.nodeLockHolder = file
            return .success(())
        }
    }

    /// `uio_mmap`: map `offset / page size`, no longer than the map's pages.
    private func mmap(_ fd: Int32, _ length: Int, _ offset: Int64) -> Result<UnsafeMutableRawPointer, Errno> {
        guard isInterruptFile(fd) else { return live.mmap(fd, length, offset) }
        if isRemoved { return .failure(.invalidArgument) }  // uio_mmap: no info once unregistered
        let index = Int(offset) / pageSize
        guard offset % Int64(pageSize) == 0, let map = device.maps.first(where: { $0.index == index }),
              mapMemory.indices.contains(index), length <= (Int(map.size) + pageSize - 1) / pageSize * pageSize
        else { return .failure(.invalidArgument) }
        return live.mmap(mapMemory[index], length, 0)
    }

    /// Blocks until the device is removed (`true`) or `wake` is readable (`false`); the
    /// doorbells of interrupts do not end it.
    private func pollRemoval(_ fd: Int32, _ wake: Int32) -> Result<Bool, Errno> {
        guard isInterruptFile(fd) else { return live.pollRemoval(fd, wake) }
        while true {
            if isRemoved { return .success(true) }
            switch live.pollPair(fd, wake, -1) {
            case .failure(let errno): return .failure(errno)
            case .success(let ready?) where ready.wake != 0: return .success(false)
            case .success: _ = live.eventfdDrain(fd)  // an interrupt's doorbell: not for this waiter
            }
        }
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
        switch driver {
        case .uioPCIGeneric:
            return .failure(.noFunction)  // uio_pci_generic has no irqcontrol
        case .unmasked:
            state.withLock { $0.controlWrites.append(value) }
            return .success(())
        default:  // uio_pdrv_genirq's irqcontrol
            let removed = state.withLock { state in
                if state.removed { return true }
                state.controlWrites.append(value)
                if value == 0 {
                    state.lineEnabled = false
                } else {
                    unmask(&state)
                }
                return false
            }
            return removed ? .failure(.invalidArgument) : .success(())
        }
    }

    private func configWrite(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, _ offset: Int64) -> Result<Int, Errno> {
        guard isConfig(fd) else { return live.pwrite(fd, buffer, offset) }
        if let errno = takeFailure(.configWrite) { return .failure(errno) }
        let written = live.pwrite(fd, buffer, offset)
        // The command register's high byte holds Interrupt Disable (bit 10 = byte 5, bit 2).
        guard case .success = written, offset <= 5, offset + Int64(buffer.count) > 5 else { return written }
        let masked = readConfigByte(5) & 0x04 != 0
        state.withLock { state in
            if masked {
                state.lineEnabled = false
            } else if !state.lineEnabled {
                unmask(&state)
            }
        }
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
        ringDoorbells(state)
    }

    /// Unmasks the line; a level interrupt still asserted is delivered at once.
    private func unmask(_ state: inout State) {
        state.lineEnabled = true
        if state.pending { deliver(&state) }
    }

    /// Wakes every open interrupt file. Under the state's lock, so no file is closed (and its
    /// number reused by another open) between choosing it and writing to it.
    private func ringDoorbells(_ state: State) {
        for fd in state.interruptFiles { _ = live.eventfdSignal(fd) }
    }

    private func isInterruptFile(_ fd: Int32) -> Bool {
        state.withLock { $0.interruptFiles.contains(fd) || $0.interruptAliases[fd] != nil }
    }
    private func isConfig(_ fd: Int32) -> Bool { state.withLock { $0.configFiles.contains(fd) } }

    func takeFailure(_ call: SimulatedDevice.Call) -> Errno? {
        state.withLock { state in
            guard var queue = state.failures[call], !queue.isEmpty else { return nil }
            let errno = queue.removeFirst()
            state.failures[call] = queue
            return errno
        }
    }

    /// Turns the simulated command register's Bus Master bit off.
    private func clearBusMaster() {
        guard let configMemory else { return }
        let byte = readConfigByte(4) & ~0x04
        _ = withUnsafeBytes(of: byte) { live.pwrite(configMemory, $0, 4) }
    }

    /// Whether the simulated command register has Bus Master on.
    var isBusMastering: Bool { readConfigByte(4) & 0x04 != 0 }

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
