import UIOPlatform
import SystemPackage
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A VFIO container (`/dev/vfio/vfio`): the IOMMU context its groups' devices share, and the
/// DMA mappings made in it.
///
/// Made when a group is first opened, with the group's help (an IOMMU type is chosen only once a
/// group is attached). Closed when the last group and the last DMA mapping made in it are gone.
final class VFIOContainer: Sendable {
    static let path = "/dev/vfio/vfio"

    let descriptor: SharedDescriptor
    /// Whether the IOMMU translates (type1v2); `false` in no-IOMMU mode, where devices see
    /// physical addresses and nothing is isolated.
    let translates: Bool
    /// The IOMMU's page sizes and usable ranges; `nil` without an IOMMU.
    let iommu: VFIOIOMMUInfo?
    /// Addresses still free for mappings.
    private let addresses: Locked<IOVAAllocator>
    private let detached = Atomic<Bool>(false)

    /// Whether its group was closed: the kernel then drops every mapping, and unmaps fail.
    var isDetached: Bool { detached.load(ordering: .acquiring) }

    /// Called when the group's file is closed.
    func groupClosed() { detached.store(true, ordering: .releasing) }

    /// Opens a container and checks the API version; the IOMMU is chosen by ``attach(_:)``.
    static func open(system: SystemCalls) throws(UIOError) -> SharedDescriptor {
        let fd: Int32
        switch system.open(path, O_RDWR) {
        case .success(let opened): fd = opened
        case .failure(.noSuchFileOrDirectory):
            throw UIOError(.notSupported, subject: path, reason: "is missing: the kernel has no VFIO loaded", errno: .noSuchFileOrDirectory,
                           advice: "load vfio-pci (modprobe vfio-pci), and vfio_iommu_type1 with it")
        case .failure(let errno): throw UIOError.system(errno, operation: .openNode, subject: path)
        }
        let descriptor = SharedDescriptor(fd: fd, path: path, system: system)
        let version = system.ioctlValue(fd, VFIORequest.getAPIVersion, 0)
        guard case .success(VFIOConstant.apiVersion) = version else {
            descriptor.close()
            throw UIOError(.notSupported, subject: path, reason: "answers VFIO_GET_API_VERSION with \(version), not \(VFIOConstant.apiVersion)")
        }
        return descriptor
    }

    /// Sets the IOMMU of `descriptor`, a container a group was just attached to: type1v2 where the
    /// kernel has it, else no-IOMMU mode where it has that.
    init(descriptor: SharedDescriptor) throws(UIOError) {
        let system = descriptor.system
        let fd = descriptor.fd
        let type: UInt
        if case .success(1) = system.ioctlValue(fd, VFIORequest.checkExtension, VFIOConstant.type1v2IOMMU) {
            type = VFIOConstant.type1v2IOMMU
        } else if case .success(1) = system.ioctlValue(fd, VFIORequest.checkExtension, VFIOConstant.noIOMMU) {
            type = VFIOConstant.noIOMMU
        } else {
            throw UIOError(.notSupported, subject: Self.path, reason: "offers neither the type1v2 IOMMU nor no-IOMMU mode",
                           advice: "load vfio_iommu_type1 (modprobe vfio_iommu_type1): modprobe loads it with vfio, a plain insmod does not")
        }
        switch system.ioctlValue(fd, VFIORequest.setIOMMU, type) {
        case .success: break
        case .failure(.notPermitted) where type == VFIOConstant.noIOMMU:
            throw UIOError(.permissionDenied, subject: Self.path, reason: "VFIO_SET_IOMMU: no-IOMMU mode needs CAP_SYS_RAWIO", errno: .notPermitted,
                           advice: "without an IOMMU the device reaches all memory: only a process trusted as root may drive it")
        case .failure(.notPermitted):
            throw UIOError(.permissionDenied, subject: Self.path,
                           reason: "VFIO_SET_IOMMU: the IOMMU cannot remap interrupts, so the kernel refuses to isolate the device",
                           errno: .notPermitted,
                           advice: "enable interrupt remapping (intel_iommu=on with IRQ remapping in firmware; QEMU: intel-iommu,intremap=on). vfio_iommu_type1's allow_unsafe_interrupts=1 makes this work, but then the device can raise any interrupt of the machine: its driver is no longer isolated")
        case .failure(let errno):
            throw UIOError(.systemCall, subject: Self.path, reason: "VFIO_SET_IOMMU(\(type)) failed", errno: errno)
        }
        self.descriptor = descriptor
        self.translates = type == VFIOConstant.type1v2IOMMU
        if translates {
            var argument = VFIOArgument(size: VFIOIOMMUInfo.size)
            let result = argument.withPointer { system.ioctl(fd, VFIORequest.iommuGetInfo, $0) }
            guard case .success = result else {
                throw UIOError(.systemCall, subject: Self.path, reason: "VFIO_IOMMU_GET_INFO failed", errno: result.errno)
            }
            let info = VFIOIOMMUInfo(argument)
            // A kernel before the IOVA-range capability (4.19) says nothing: the low 4 GiB less
            // the x86 interrupt window is what every IOMMU here maps.
            let ranges = info.ranges.isEmpty ? [0...0xFED_FFFFF] : info.ranges
            self.iommu = info
            self.addresses = Locked(IOVAAllocator(ranges: ranges))
        } else {
            self.iommu = nil
            self.addresses = Locked(IOVAAllocator(ranges: []))
        }
    }

    /// Maps `length` bytes at `address` for the device at an I/O virtual address the container
    /// chooses: a multiple of `alignment` whose last byte is at most `limit`. Returns the address.
    func map(_ address: UnsafeMutableRawPointer, length: Int, alignment: Int, limit: UInt64) throws(UIOError) -> UInt64 {
        guard let iova = addresses.withLock({ $0.allocate(length: UInt64(length), alignment: UInt64(alignment), limit: limit) }) else {
            throw UIOError(.addressBeyondDeviceReach, subject: "DMA memory",
                           reason: "no free I/O virtual range of \(length) bytes aligned to \(alignment) lies at or below 0x\(String(limit, radix: 16)), the highest address the device reaches",
                           advice: "free buffers no longer used, or use fewer, smaller ones")
        }
        var argument = VFIODMAMapping.map(virtualAddress: UInt64(UInt(bitPattern: address)), iova: iova, length: UInt64(length))
        let result: Result<Int32, Errno>
        do throws(UIOError) {
            result = try descriptor.withDescriptor { fd throws(UIOError) in
                argument.withPointer { descriptor.system.ioctl(fd, VFIORequest.iommuMapDMA, $0) }
            }
        } catch {
            addresses.withLock { $0.release(start: iova, length: UInt64(length)) }
            throw error
        }
        guard case .failure(let errno) = result else { return iova }
        addresses.withLock { $0.release(start: iova, length: UInt64(length)) }
        throw Self.mapFailure(errno, length: length, system: descriptor.system)
    }

    /// Unmaps what ``map(_:length:alignment:limit:)`` mapped at `iova`; the device reaches it no
    /// more once this returns. Whether the kernel unmapped all of it.
    @discardableResult
    func unmap(iova: UInt64, length: Int) -> Bool {
        var argument = VFIODMAMapping.unmap(iova: iova, length: UInt64(length))
        let result = try? descriptor.withDescriptor { fd throws(UIOError) in
            argument.withPointer { descriptor.system.ioctl(fd, VFIORequest.iommuUnmapDMA, $0) }
        }
        let unmapped = (try? result?.get()) != nil && VFIODMAMapping.unmapped(argument) == UInt64(length)
        // Only an address the device can no longer reach is given out again.
        if unmapped { addresses.withLock { $0.release(start: iova, length: UInt64(length)) } }
        return unmapped
    }

    /// What a failed `VFIO_IOMMU_MAP_DMA` means (vfio_iommu_type1.c: `vfio_dma_do_map`,
    /// `vfio_pin_pages_remote`).
    static func mapFailure(_ errno: Errno, length: Int, system: SystemCalls) -> UIOError {
        switch errno {
        case .noMemory where MemoryLockLimit.current() == "unlimited":
            return UIOError(.dmaMemoryUnavailable, subject: "DMA memory", reason: "the kernel could not pin \(length) bytes for the device", errno: errno,
                            advice: "the machine is short of memory it can pin (the process's locked-memory limit is unlimited)")
        case .noMemory:
            let limit = MemoryLockLimit.current()
            return UIOError(.dmaMemoryUnavailable, subject: "DMA memory",
                            reason: "pinning \(length) bytes for the device failed: the process's locked-memory limit (RLIMIT_MEMLOCK, \(limit)) is reached, unless the machine is short of memory",
                            errno: errno,
                            advice: "raise the limit for the driver: LimitMEMLOCK= in its systemd unit, memlock in /etc/security/limits.conf, or ulimit -l; or give it CAP_IPC_LOCK")
        case .noSpace:
            return UIOError(.dmaMemoryUnavailable, subject: "DMA memory",
                            reason: "the container holds as many mappings as the kernel allows (vfio_iommu_type1's dma_entry_limit, 65535 by default)",
                            errno: errno, advice: "use fewer, larger buffers, or raise the dma_entry_limit module parameter")
        case .operationNotSupportedByDevice, .inappropriateIOCTLForDevice:
            return UIOError(.notSupported, subject: "DMA memory", reason: "the container maps no memory (no IOMMU)", errno: errno)
        default:
            return UIOError(.systemCall, subject: "DMA memory", reason: "VFIO_IOMMU_MAP_DMA of \(length) bytes failed", errno: errno)
        }
    }
}

extension Result where Failure == Errno {
    /// The errno of a failure.
    var errno: Errno? {
        if case .failure(let errno) = self { return errno }
        return nil
    }
}
