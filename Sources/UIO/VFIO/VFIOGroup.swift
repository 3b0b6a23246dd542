import UIOPlatform
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// An IOMMU group opened through VFIO (`/dev/vfio/N`), attached to a container of its own.
///
/// The kernel lets a group node be opened once at a time, system-wide, so the process keeps one
/// `VFIOGroup` per group, shared by the handles of its devices, and closed when the last is gone.
/// The kernel gives the group's devices out only while every device in it is on vfio-pci (or
/// on no driver): the IOMMU cannot isolate one member from the others.
final class VFIOGroup: Sendable {
    let number: Int
    /// `/dev/vfio/N`, or `/dev/vfio/noiommu-N` in no-IOMMU mode.
    let path: String
    private let descriptor: SharedDescriptor
    let container: VFIOContainer
    /// Slots of the group's devices open in this process: one handle each.
    private let claimed = Locked<Set<String>>([])

    private struct WeakGroup: @unchecked Sendable {
        // @unchecked: written once, at init; a weak load is safe from any thread.
        weak var group: VFIOGroup?
    }
    private static let open = Locked<[Int: WeakGroup]>([:])

    /// The process's group `number`, opened and attached to a container at its first use.
    static func opened(_ number: Int, system: SystemCalls) throws(UIOError) -> VFIOGroup {
        try open.withLock { (groups: inout [Int: WeakGroup]) throws(UIOError) -> VFIOGroup in
            if let group = groups[number]?.group { return group }
            // An entry whose group is gone may still be closing its file on another thread: the
            // kernel refuses a second open until it has.
            let closing = groups[number] != nil
            groups = groups.filter { $0.value.group != nil }
            var attempt = 0
            while true {
                do throws(UIOError) {
                    let group = try VFIOGroup(number: number, system: system)
                    groups[number] = WeakGroup(group: group)
                    return group
                } catch where closing && error.code == .deviceBusy && attempt < 200 {
                    attempt += 1
                    var pause = timespec(tv_sec: 0, tv_nsec: 5_000_000)
                    nanosleep(&pause, nil)
                }
            }
        }
    }

    private init(number: Int, system: SystemCalls) throws(UIOError) {
        let translated = "/dev/vfio/\(number)"
        let unsafe = "/dev/vfio/noiommu-\(number)"
        let path = (try? system.pathStatus(unsafe).get()) != nil ? unsafe : translated
        let fd: Int32
        switch system.open(path, O_RDWR) {
        case .success(let opened): fd = opened
        case .failure(.noSuchFileOrDirectory):
            throw UIOError(.deviceNotFound, subject: translated, reason: "is missing: no device of IOMMU group \(number) is on vfio-pci",
                           errno: .noSuchFileOrDirectory, advice: "bind the device to vfio-pci first (uioctl bind --driver vfio-pci SLOT)")
        case .failure(.resourceBusy):
            throw UIOError(.deviceBusy, subject: path, reason: "another process has the group open (the kernel allows one opener)",
                           errno: .resourceBusy, advice: "stop the other driver of this group (a VM, a DPDK application) first: fuser -v \(path) names it")
        case .failure(let errno) where errno == .permissionDenied || errno == .notPermitted:
            throw UIOError(.permissionDenied, subject: path, reason: "open: permission denied", errno: errno,
                           advice: path == unsafe
                               ? "no-IOMMU groups open only with CAP_SYS_RAWIO, whatever the file's mode"
                               : "install udev/73-vfio.rules and add your user to the group it names (group vfio), or run as root")
        case .failure(let errno): throw UIOError.system(errno, operation: .openNode, subject: path)
        }
        let descriptor = SharedDescriptor(fd: fd, path: path, system: system)
        do throws(UIOError) {
            var status = VFIOArgument(size: 8)
            let result = status.withPointer { system.ioctl(fd, VFIORequest.groupGetStatus, $0) }
            if case .failure(let errno) = result {
                throw UIOError(.systemCall, subject: path, reason: "VFIO_GROUP_GET_STATUS failed", errno: errno)
            }
            guard status.get32(at: 4) & VFIOConstant.groupViable != 0 else { throw Self.notViable(number, path: path, system: system) }
            let containerDescriptor = try VFIOContainer.open(system: system)
            var containerFD = containerDescriptor.fd
            let attached = withUnsafeMutablePointer(to: &containerFD) { system.ioctl(fd, VFIORequest.groupSetContainer, $0) }
            if case .failure(let errno) = attached {
                containerDescriptor.close()
                throw UIOError(.systemCall, subject: path, reason: "VFIO_GROUP_SET_CONTAINER failed", errno: errno)
            }
            do throws(UIOError) {
                container = try VFIOContainer(descriptor: containerDescriptor)
            } catch {
                containerDescriptor.close()
                throw error
            }
        } catch {
            descriptor.close()
            throw error
        }
        self.number = number
        self.path = path
        self.descriptor = descriptor
    }

    deinit {
        // The kernel detaches the group from its container when the group's file closes; the
        // container closes once its DMA mappings are gone too.
        descriptor.close()
        container.groupClosed()
    }

    /// Opens the group's device `slot` for this process: its fd, owned by the caller, who calls
    /// ``release(_:)`` when done. A second open of one slot in the process is refused.
    func openDevice(_ slot: String) throws(UIOError) -> Int32 {
        let taken = claimed.withLock { $0.insert(slot).inserted }
        guard taken else {
            throw UIOError(.deviceBusy, subject: slot, reason: "this process has the device open already (another handle or driver)",
                           advice: "close the other handle first")
        }
        let result = try? descriptor.withDescriptor { fd throws(UIOError) in
            slot.withCString { name in descriptor.system.ioctl(fd, VFIORequest.groupGetDeviceFD, UnsafeMutableRawPointer(mutating: name)) }
        }
        switch result {
        case .success(let deviceFD)?: return deviceFD
        case .failure(let errno)?:
            release(slot)
            // vfio_group_get_device_fd: ENODEV for a device not in the group; EINVAL before an IOMMU is set.
            throw UIOError(errno == .operationNotSupportedByDevice ? .deviceNotFound : .systemCall, subject: path,
                           reason: "VFIO_GROUP_GET_DEVICE_FD for \(slot) failed", errno: errno,
                           advice: errno == .operationNotSupportedByDevice ? "the device is not in IOMMU group \(number), or not on vfio-pci" : nil)
        case nil:
            release(slot)
            throw UIOError.closed(path)
        }
    }

    /// Ends this process's use of device `slot`.
    func release(_ slot: String) { claimed.withLock { _ = $0.remove(slot) } }

    /// The group's other members and their drivers: the kernel refuses the group while any is on
    /// a driver that may start DMA on its own.
    private static func notViable(_ number: Int, path: String, system: SystemCalls) -> UIOError {
        let folder = "/sys/kernel/iommu_groups/\(number)/devices"
        let members = ((try? system.listDirectory(folder).get()) ?? []).sorted().map { slot -> String in
            let driver = (try? system.readLink("\(folder)/\(slot)/driver").get()).map { String($0.split(separator: "/").last ?? "") }
            return "\(slot) (\(driver ?? "no driver"))"
        }
        return UIOError(.groupNotViable, subject: path,
                        reason: "IOMMU group \(number) is not viable: its devices are \(members.joined(separator: ", ")); every one must be on vfio-pci or on no driver",
                        advice: "bind the group's other devices to vfio-pci too (uioctl bind --driver vfio-pci SLOT), or unbind them")
    }
}
