import UIOPlatform
import CUMockdev
import Foundation
import UIO

/// A umockdev testbed: real libudev reading a mocked sysfs and `/dev`.
///
/// umockdev redirects `/sys` and `/dev` only in a process started under its preload library
/// (`umockdev-wrapper`), and a process has one testbed, so every test that uses it sits in
/// one serialized suite and starts from an empty tree.
final class MockSysfs: @unchecked Sendable {
    /// Whether this process runs under umockdev's preload.
    static let isActive = ProcessInfo.processInfo.environment["LD_PRELOAD"]?.contains("libumockdev-preload") ?? false
    /// Set by the test command: a skipped mock suite must fail, not pass quietly.
    static let isRequired = ProcessInfo.processInfo.environment["SWIFT_UIO_REQUIRE_UMOCKDEV"] == "1"
    static let shared = MockSysfs()

    private let testbed: UnsafeMutablePointer<UMockdevTestbed>

    private init() {
        testbed = umockdev_testbed_new()  // sets UMOCKDEV_DIR, which the preload then serves
        let root = umockdev_testbed_get_root_dir(testbed)!
        rootDirectory = String(cString: root)
        g_free(root)
        atexit { MockSysfs.release() }
    }

    /// Dropping the testbed deletes its folder.
    private static func release() { g_object_unref(UnsafeMutableRawPointer(shared.testbed)) }

    /// Whether the preload is really redirecting `/sys` to the testbed.
    var isRedirecting: Bool { umockdev_in_mock_environment() != 0 }

    /// Every device added and not yet removed, in the order added.
    private var added: [String] = []
    /// The `/dev` node of each added device that has one.
    private var nodes: [String: String] = [:]
    /// The testbed's folder, which stands in for `/`.
    private let rootDirectory: String

    /// Empties the tree, device by device. (umockdev's own clear also deletes the socket its
    /// preload connects to when a `/dev` node opens, after which an open exits the process.)
    func clear() {
        for sysPath in added.reversed() { remove(sysPath) }
    }

    /// Adds the devices of a umockdev record (`P:`, `N:`, `E:`, `A:`, `L:` lines).
    func add(_ record: String) throws {
        var error: UnsafeMutablePointer<GError>?
        guard umockdev_testbed_add_from_string(testbed, record, &error) != 0 else {
            let message = error.map { String(cString: $0.pointee.message) } ?? "unknown error"
            g_error_free(error)
            throw MockError(message: message)
        }
        var device = ""
        for line in record.split(separator: "\n") {
            if line.hasPrefix("P: ") {
                device = "/sys" + line.dropFirst(3)
                added.append(device)
            } else if line.hasPrefix("N: ") {
                let node = String(line.dropFirst(3))
                nodes[device] = node
            }
        }
    }

    /// Removes a device and its children, as an unplug does.
    func remove(_ sysPath: String) {
        for child in added.reversed() where child.hasPrefix(sysPath) { umockdev_testbed_remove_device(testbed, child) }
        added.removeAll { $0.hasPrefix(sysPath) }
        // umockdev keeps the /dev node: remove it, as devtmpfs does when a device goes.
        for (device, node) in nodes where device.hasPrefix(sysPath) {
            unlink(rootDirectory + "/dev/" + node)
            nodes[device] = nil
        }
    }

    /// Sends a synthetic uevent for the device, as the kernel would.
    func uevent(_ sysPath: String, _ action: String) { umockdev_testbed_uevent(testbed, sysPath, action) }

    /// Sets an attribute's text.
    func setAttribute(_ sysPath: String, _ name: String, _ value: String) {
        umockdev_testbed_set_attribute(testbed, sysPath, name, value)
    }

    struct MockError: Error { let message: String }
}

extension MockSysfs {
    /// umockdev never forgets a `/dev` node it made (adding `/dev/uio0` a second time in one
    /// process aborts), so each test takes device numbers no other test used.
    private static let numbers = Locked(0)
    static func freshNumber() -> Int { numbers.withLock { n in defer { n += 1 }; return n } }

    /// The PCI slot of an edu device numbered `number`.
    static func eduSlot(_ number: Int) -> String { "0000:00:" + String(format: "%02x", number % 256) + ".0" }

    /// QEMU's edu device bound to uio_pci_generic, as the guest shows it.
    static func eduRecord(number: Int) -> String {
        let slot = eduSlot(number)
        return """
        P: /devices/pci0000:00/\(slot)
        E: SUBSYSTEM=pci
        E: DRIVER=uio_pci_generic
        A: vendor=0x1234
        A: device=0x11e8
        A: subsystem_vendor=0x1af4
        A: subsystem_device=0x1100
        A: class=0x00ff00
        A: irq=11
        L: driver=../../../bus/pci/drivers/uio_pci_generic

        P: /devices/pci0000:00/\(slot)/uio/uio\(number)
        N: uio\(number)
        E: DEVNAME=/dev/uio\(number)
        E: MAJOR=246
        E: MINOR=\(number)
        E: SUBSYSTEM=uio
        A: dev=246:\(number)
        A: name=uio_pci_generic
        A: version=0.01.0
        A: event=7
        A: maps/map0/name=
        A: maps/map0/addr=0xfea00000
        A: maps/map0/size=0x100000
        A: maps/map0/offset=0x0
        L: device=../../../\(slot)

        """
    }

    /// A PCI device on no UIO driver, on bus 01 so that no edu slot is taken: on `driver` (`e1000`)
    /// or on none, and in IOMMU group `iommuGroup` (the link's last component) when given.
    static func pciRecord(slot: String, vendor: UInt16, device: UInt16, classCode: UInt32,
                          driver: String?, iommuGroup: String?) -> String {
        var lines = [
            "P: /devices/pci0000:00/\(slot)",
            "E: SUBSYSTEM=pci",
            "A: vendor=0x" + String(format: "%04x", vendor),
            "A: device=0x" + String(format: "%04x", device),
            "A: class=0x" + String(format: "%06x", classCode),
        ]
        if let driver {
            lines += ["E: DRIVER=\(driver)", "L: driver=../../../bus/pci/drivers/\(driver)"]
        }
        if let iommuGroup { lines.append("L: iommu_group=../../../kernel/iommu_groups/\(iommuGroup)") }
        return lines.joined(separator: "\n") + "\n\n"
    }

    /// An Intel 82540EM NIC (8086:100e) on its kernel driver, e1000, in IOMMU group 5.
    static let e1000Slot = "0000:01:00.0"
    static let e1000Record = pciRecord(slot: e1000Slot, vendor: 0x8086, device: 0x100e, classCode: 0x020000,
                                       driver: "e1000", iommuGroup: "5")
    /// QEMU's NVMe controller (1b36:0010) with no driver, in IOMMU group 6.
    static let nvmeSlot = "0000:02:00.0"
    static let nvmeRecord = pciRecord(slot: nvmeSlot, vendor: 0x1b36, device: 0x0010, classCode: 0x010802,
                                      driver: nil, iommuGroup: "6")

    /// A device-tree PL031 bound to uio_pdrv_genirq, with a port region for good measure.
    static func platformRecord(number: Int) -> String {
        """
        P: /devices/platform/9010000.pl031
        E: SUBSYSTEM=platform
        E: DRIVER=uio_pdrv_genirq
        E: OF_COMPATIBLE_0=generic-uio
        L: driver=../../../bus/platform/drivers/uio_pdrv_genirq

        P: /devices/platform/9010000.pl031/uio/uio\(number)
        N: uio\(number)
        E: DEVNAME=/dev/uio\(number)
        E: MAJOR=246
        E: MINOR=\(number)
        E: SUBSYSTEM=uio
        A: dev=246:\(number)
        A: name=pl031-uio
        A: version=devicetree
        A: event=0
        A: maps/map0/name=pl031@9010000
        A: maps/map0/addr=0x09010000
        A: maps/map0/size=0x1000
        A: maps/map0/offset=0x0
        A: maps/map1/name=
        A: maps/map1/addr=0x09020000
        A: maps/map1/size=0x80
        A: maps/map1/offset=0x40
        A: portio/port0/name=ioport
        A: portio/port0/start=0x3f8
        A: portio/port0/size=0x8
        A: portio/port0/porttype=port_x86
        L: device=../../../9010000.pl031

        """
    }
}
