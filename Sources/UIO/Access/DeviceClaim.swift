import UIOPlatform
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// One process's hold on one UIO device: the exclusive claim, the verified identity of its node,
/// and every file opened on the node.
///
/// - **The claim** is an `flock` on the device's sysfs directory, taken before `/dev/uioN` is
///   opened, so a refused claim never opens the node. That matters because uio_pci_generic's
///   `release()` clears Bus Master on every close of the node: a refused claim that had opened
///   and closed it would stop the owner's DMA. The node gets an `flock` too, the convention
///   DPDK keeps.
/// - **Identity**: discovery names `uioN`, but after an unbind and a rebind the kernel gives the
///   lowest free number to whichever device registers first. The node must reach the device
///   number in the `dev` attribute at the discovered sysfs path before it is opened, and the
///   opened fd must be that same node.
/// - **Files on the node stay open until the claim ends**, when the handle is closed and the
///   last region and interrupt line made from it are gone. Users get duplicates: closing one
///   never reaches the driver's `release()`.
/// - **Removal is noticed without an interrupt line** once asked (``watchForRemoval()``): a
///   watcher thread blocks in `poll` on the node asking for nothing but the `POLLERR` that
///   `uio_poll` reports once the device is unregistered, then marks ``liveness``, which retires
///   the mappings. Each interrupt still wakes it (the UIO core wakes every waiter without saying
///   why), so it is started only where no interrupt line watches.
final class DeviceClaim: Sendable {
    let device: UIODevice
    let system: SystemCalls
    /// The device number the node must reach (the sysfs `dev` attribute).
    let number: DeviceNumber
    private let exclusive: Bool
    /// The sysfs directory, locked when the claim is exclusive.
    private let directory: Int32
    /// Every file opened on the node, kept open until the claim ends.
    private let nodeFiles = Locked<[Int32]>([])
    /// Whether the device is still there; shared with the handle, its regions and lines.
    let liveness = DeviceLiveness()
    /// The live mappings of the device's registers.
    let mappings = DeviceMappings()
    /// The removal watcher, once started.
    private let watcher = Locked<RemovalWatcher?>(nil)

    init(device: UIODevice, exclusive: Bool, system: SystemCalls) throws(UIOError) {
        let directory: Int32
        switch system.open(device.sysPath, O_RDONLY | O_DIRECTORY) {
        case .success(let opened): directory = opened
        case .failure(let errno) where errno == .noSuchFileOrDirectory || errno == .notDirectory:
            throw Self.gone(device, errno: errno)
        case .failure(let errno): throw UIOError.system(errno, operation: .accessFile, subject: device.sysPath)
        }
        if exclusive {
            switch retryingOnInterrupt({ system.flock(directory, LOCK_EX | LOCK_NB) }) {
            case .success: break
            case .failure(let errno):
                _ = system.close(directory)
                if errno == .wouldBlock {
                    let here = Self.claimedHere.withLock { $0.contains(device.sysPath) }
                    throw Self.busy(device, errno: errno, holder: here ? "this process (another open handle or driver)" : "another process")
                }
                throw UIOError.system(errno, operation: .claim, subject: device.sysPath)
            }
        }
        let attribute = device.sysPath + "/dev"
        let number: DeviceNumber
        do throws(UIOError) {
            let text = try SysfsFile.read(attribute, system: system)
            guard let parsed = DeviceNumber(sysfs: text) else {
                throw UIOError.malformed(attribute, value: text, expected: "a device number (major:minor)")
            }
            number = parsed
        } catch {
            _ = system.close(directory)
            throw error.code == .deviceRemoved ? Self.gone(device, errno: error.errno) : error
        }
        self.device = device
        self.system = system
        self.number = number
        self.exclusive = exclusive
        self.directory = directory
        if exclusive { _ = Self.claimedHere.withLock { $0.insert(device.sysPath) } }
        liveness.whenRemoved { [mappings] in mappings.retireAll() }
    }

    /// The devices this process has claimed, so a refused claim can say whose claim is in the way.
    private static let claimedHere = Locked<Set<String>>([])

    deinit {
        watcher.withLock { $0 }?.stop()
        for fd in nodeFiles.withLock({ $0 }) {
            if exclusive { _ = system.flock(fd, LOCK_UN) }
            _ = system.close(fd)
        }
        if exclusive { _ = Self.claimedHere.withLock { $0.remove(device.sysPath) } }
        _ = system.flock(directory, LOCK_UN)
        _ = system.close(directory)
    }

    /// Opens a new file on the node (with its own interrupt count) after checking that the node
    /// reaches the claimed device; returns a duplicate the caller owns.
    func openNode() throws(UIOError) -> Int32 {
        let path = device.devicePath
        let node = try verifiedNode()
        let fd: Int32
        switch system.open(path, O_RDWR) {
        case .success(let opened): fd = opened
        case .failure(let errno) where errno == .noSuchFileOrDirectory || errno == .operationNotSupportedByDevice
                                       || errno == .noSuchAddressOrDevice:
            throw Self.gone(device, errno: errno)
        case .failure(let errno): throw UIOError.system(errno, operation: .openNode, subject: path)
        }
        let isFirst = nodeFiles.withLock { files in
            files.append(fd)
            return files.count == 1
        }
        do throws(UIOError) {
            let opened = try system.fileStatus(fd).get(operation: .status, subject: path)
            guard opened.isSameFile(as: node) else { throw renumbered(found: opened.device) }
            if exclusive && isFirst {
                switch retryingOnInterrupt({ system.flock(fd, LOCK_EX | LOCK_NB) }) {
                case .success: break
                case .failure(.wouldBlock):
                    throw Self.busy(device, errno: .wouldBlock, holder: "a program that locks \(path) itself (DPDK does)")
                case .failure(let errno): throw UIOError.system(errno, operation: .claim, subject: path)
                }
            }
        } catch {
            // Never closed: its close would run the release() of a device that may be another
            // driver's (uio_pci_generic clears that device's Bus Master).
            nodeFiles.withLock { $0.removeAll { $0 == fd } }
            Self.parked.withLock { $0.append(fd) }
            throw error
        }
        return try system.duplicate(fd).get(operation: .other, subject: path)
    }

    /// Files on a node whose claim failed after the open: kept open for the life of the process.
    private static let parked = Locked<[Int32]>([])

    /// Checks, just before an open, that the device is still at the discovered sysfs path with the
    /// claimed number, that the kernel's own index of character devices (`/sys/dev/char/M:N`)
    /// names that path, and that the node reaches that number; returns the node's status.
    private func verifiedNode() throws(UIOError) -> FileStatus {
        let attribute = device.sysPath + "/dev"
        let text: String
        do throws(UIOError) {
            text = try SysfsFile.read(attribute, system: system)
        } catch {
            throw error.code == .deviceRemoved ? Self.gone(device, errno: error.errno) : error
        }
        guard let current = DeviceNumber(sysfs: text) else {
            throw UIOError.malformed(attribute, value: text, expected: "a device number (major:minor)")
        }
        guard current == number else { throw renumbered(found: current) }
        // Absent only in a mocked tree; on a kernel every character device has its link.
        if case .success(let target) = system.readLink("/sys/dev/char/\(number)"),
           Self.sysfsPath(linkTarget: target) != device.sysPath {
            throw renumbered(found: number, at: Self.sysfsPath(linkTarget: target))
        }
        let path = device.devicePath
        switch system.pathStatus(path) {
        case .success(let node):
            guard node.device == number else { throw renumbered(found: node.device) }
            return node
        case .failure(let errno) where errno == .noSuchFileOrDirectory:
            throw Self.gone(device, errno: errno)
        case .failure(let errno): throw UIOError.system(errno, operation: .status, subject: path)
        }
    }

    /// `../../devices/pci0000:00/…/uio/uio0` (relative to `/sys/dev/char`) → `/sys/devices/…`.
    static func sysfsPath(linkTarget: String) -> String {
        var parts = ["sys", "dev", "char"]
        for part in linkTarget.split(separator: "/") {
            if part == ".." { if !parts.isEmpty { parts.removeLast() } } else if part != "." { parts.append(String(part)) }
        }
        return "/" + parts.joined(separator: "/")
    }

    /// Starts the removal watcher on a file of its own, once.
    func watchForRemoval() throws(UIOError) {
        guard watcher.withLock({ $0 == nil }) else { return }
        let started = try RemovalWatcher(device: device, nodeFD: try openNode(), system: system, liveness: liveness)
        let redundant = watcher.withLock { current -> RemovalWatcher? in
            guard current == nil else { return started }
            current = started
            return nil
        }
        redundant?.stop()
    }

    /// Opens a file on the node and the count it starts from. The kernel takes a file's
    /// baseline at open; sysfs `event` read on both sides of the open agrees with it unless an
    /// interrupt raced the open, in which case another file is opened (the raced one stays
    /// open with the claim: closing it would clear Bus Master).
    func openCounting() throws(UIOError) -> (fd: Int32, baseline: UInt32) {
        var attempts = 0
        while true {
            let before = try SysfsFile.readEventCount(sysPath: device.sysPath, system: system)
            let fd = try openNode()
            let after: UInt32
            do throws(UIOError) {
                after = try SysfsFile.readEventCount(sysPath: device.sysPath, system: system)
            } catch {
                _ = system.close(fd)
                throw error
            }
            attempts += 1
            if before == after || attempts == 16 { return (fd, after) }
            _ = system.close(fd)
        }
    }

    private func renumbered(found: DeviceNumber, at other: String? = nil) -> UIOError {
        let what = other.map { "device \(found) is \($0) now, not \(device.sysPath)" }
            ?? "reaches device \(found), not \(number) as discovered at \(device.sysPath)"
        return UIOError(.deviceRemoved, subject: device.devicePath,
                        reason: "\(what): the kernel renumbered its UIO devices since discovery",
                        advice: "the device was unbound or unplugged and another took its number; discover it again")
    }

    private static func gone(_ device: UIODevice, errno: Errno?) -> UIOError {
        UIOError(.deviceRemoved, subject: device.devicePath, reason: "the device is gone since it was discovered", errno: errno,
                 advice: "the device was unbound or unplugged; discover it again")
    }

    private static func busy(_ device: UIODevice, errno: Errno, holder: String) -> UIOError {
        UIOError(.deviceBusy, subject: device.devicePath, reason: "\(holder) has claimed this device", errno: errno,
                 advice: "stop the other driver (`fuser -v \(device.devicePath)` names a process that has it open)")
    }
}
