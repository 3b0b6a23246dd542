import UIOPlatform
#if canImport(Glibc)
import Glibc
#endif
/// What a device's kernel driver is serving that taking the device away would cut off: a
/// network interface that is up, a block device or partition that is mounted or held by
/// another block device (device-mapper, md), a VFIO group some process has open.
///
/// Found through `/sys/class/net` and `/sys/class/block`, whose entries link into the device's
/// own folder at any depth (a virtio disk's `block/vda` sits under `virtio2`, an NVMe namespace
/// under `nvme/nvme0`). dpdk-devbind refuses "Active" interfaces for the same reason.
struct DeviceUsage {
    let system: SystemCalls
    let sysfs: String
    /// `/proc/self/mountinfo`, read only when the device has a block device.
    let mountInfo: String

    /// IFF_UP in a network interface's `flags`: the interface was brought up.
    private let interfaceUp: UInt64 = 0x1

    /// One use of the device, and the command that ends it.
    struct Use: Sendable, Equatable {
        /// "network interface eth0 is up", "vda1 is mounted on /mnt".
        let description: String
        /// "ip link set eth0 down", "umount /mnt".
        let remedy: String
    }

    /// Every use found; empty when nothing is in use.
    func uses(of devicePath: String) throws(UIOError) -> [Use] {
        let device = resolved(devicePath)
        var uses: [Use] = []
        for name in entries(of: "net", under: device) {
            let flags = try? SysfsFile.read("\(sysfs)/class/net/\(name)/flags", system: system)
            if let flags, let value = SysfsValue.hexadecimal(flags), value & interfaceUp != 0 {
                uses.append(Use(description: "network interface \(name) is up", remedy: "ip link set \(name) down"))
            }
        }
        if let group = heldVFIOGroup(device) {
            // Unbinding waits, uninterruptibly, until the holder lets go of the device.
            uses.append(Use(description: "its IOMMU group \(group) is open (a VFIO driver, a VM or a DPDK application is using it)",
                            remedy: "stop the program that has /dev/vfio/\(group) open (fuser -v /dev/vfio/\(group))"))
        }
        var mounts: MountTable?
        for name in entries(of: "block", under: device) {
            let entry = "\(sysfs)/class/block/\(name)"
            let table: MountTable
            if let mounts { table = mounts } else {
                table = MountTable(parsing: try SysfsFile.read(mountInfo, system: system, limit: 1 << 22))
                mounts = table
            }
            if let number = try? SysfsFile.read("\(entry)/dev", system: system), let device = SysfsValue.line(number) {
                uses += table.mountPoints(of: device).map { Use(description: "\(name) is mounted on \($0)", remedy: "umount \($0)") }
            }
            if case .success(let holders) = system.listDirectory("\(entry)/holders"), !holders.isEmpty {
                let holders = holders.sorted().joined(separator: ", ")
                uses.append(Use(description: "\(name) is held by \(holders)", remedy: "stop \(holders)"))
            }
        }
        return uses
    }

    /// The device's IOMMU group, if the device is on vfio-pci and its group node is open: the
    /// kernel lets one open at a time, so an open of our own that fails with EBUSY means another.
    private func heldVFIOGroup(_ device: String) -> String? {
        guard case .success(let driver) = system.readLink("\(device)/driver"), driver.hasSuffix("/vfio-pci"),
              case .success(let link) = system.readLink("\(device)/iommu_group") else { return nil }
        let group = String(link.split(separator: "/").last ?? "")
        for node in ["/dev/vfio/\(group)", "/dev/vfio/noiommu-\(group)"] {
            switch system.open(node, O_RDWR) {
            case .success(let fd):
                _ = system.close(fd)
                return nil
            case .failure(.resourceBusy): return group
            case .failure: continue
            }
        }
        return nil
    }

    /// The names in `/sys/class/CLASS` whose device lives under `device`, sorted.
    private func entries(of deviceClass: String, under device: String) -> [String] {
        let folder = "\(sysfs)/class/\(deviceClass)"
        guard case .success(let names) = system.listDirectory(folder) else { return [] }
        return names.sorted().filter { resolved("\(folder)/\($0)").hasPrefix(device + "/") }
    }

    /// The path with a symbolic link at its end followed and `..` folded, as sysfs's links
    /// (`../../devices/pci0000:00/0000:00:03.0`) are made to be read.
    private func resolved(_ path: String) -> String {
        var full = path
        if case .success(let target) = system.readLink(path) {
            full = target.hasPrefix("/") ? target : String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]) + "/" + target
        }
        var parts: [Substring] = []
        for part in full.split(separator: "/") where part != "." {
            if part == ".." { _ = parts.popLast() } else { parts.append(part) }
        }
        return "/" + parts.joined(separator: "/")
    }
}
