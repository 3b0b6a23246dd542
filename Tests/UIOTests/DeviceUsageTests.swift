import Testing
@_spi(Simulation) @testable import UIO

@Suite("Binding refuses a device its kernel driver is using, unless forced")
struct DeviceUsageTests {
    /// A PCI device on e1000 (or `driver`), with uio_pci_generic loaded.
    func nic(driver: String = "e1000") -> SimulatedBus {
        SimulatedBus(bus: "pci", device: "0000:00:03.0", driver: driver, idMatch: driver,
                     loaded: [driver, "uio_pci_generic"], accepting: [driver, "uio_pci_generic"])
    }

    @Test("a network interface that is up refuses the bind, naming it and --force; nothing is written")
    func interfaceUp() {
        let sim = nic()
        sim.addClassEntry("net", "eth0", at: "net/eth0", files: ["flags": "0x1003\n"])
        let error = #expect(throws: UIOError.self) { try sim.binding(uioDriver: "uio_pci_generic").bind("0000:00:03.0", to: "uio_pci_generic") }
        #expect(error?.code == .deviceInUse)
        #expect(error?.description.contains("e1000 is using it: network interface eth0 is up") == true, "\(String(describing: error))")
        #expect(error?.description.contains("ip link set eth0 down first, or force it (uioctl bind --force)") == true)
        #expect(sim.writes.isEmpty)
        #expect(sim.driver == "e1000")
    }

    @Test("unbind refuses the same device, saying uioctl unbind --force; forced, it unbinds")
    func unbindInUse() throws {
        let sim = nic()
        sim.addClassEntry("net", "eth0", at: "net/eth0", files: ["flags": "0x1003\n"])
        let binding = sim.binding(uioDriver: "uio_pci_generic")
        let error = #expect(throws: UIOError.self) { try binding.unbind("0000:00:03.0") }
        #expect(error?.code == .deviceInUse)
        #expect(error?.description.contains("e1000 is using it: network interface eth0 is up") == true, "\(String(describing: error))")
        #expect(error?.description.contains("uioctl unbind --force") == true)
        #expect(sim.writes.isEmpty)
        try binding.unbind("0000:00:03.0", force: true)
        #expect(sim.driver == nil)
    }

    @Test("force takes a device whose interface is up")
    func forced() throws {
        let sim = nic()
        sim.addClassEntry("net", "eth0", at: "net/eth0", files: ["flags": "0x1003\n"])
        _ = try sim.binding(uioDriver: "uio_pci_generic").bind("0000:00:03.0", to: "uio_pci_generic", force: true)
        #expect(sim.driver == "uio_pci_generic")
    }

    @Test("an interface that is down, or another device's interface that is up, does not hold the bind")
    func notInUse() throws {
        let sim = nic()
        sim.addClassEntry("net", "eth0", at: "net/eth0", files: ["flags": "0x1002\n"])
        sim.addClassEntry("net", "eth1", at: "net/eth1", owner: "0000:00:04.0", files: ["flags": "0x1003\n"])
        sim.addClassEntry("net", "lo", at: "../virtual/net/lo", files: ["flags": "0x9\n"])
        _ = try sim.binding(uioDriver: "uio_pci_generic").bind("0000:00:03.0", to: "uio_pci_generic")
        #expect(sim.driver == "uio_pci_generic")
    }

    @Test("a mounted partition of a disk under the device refuses the bind, naming the mount point")
    func mountedPartition() {
        let sim = nic(driver: "virtio-pci")
        sim.addClassEntry("block", "vda", at: "virtio2/block/vda", files: ["dev": "254:0\n"])
        sim.addClassEntry("block", "vda1", at: "virtio2/block/vda/vda1", files: ["dev": "254:1\n"])
        let mounts = """
            22 1 0:21 / / ro,relatime - 9p hostroot ro
            41 22 254:1 / /mnt/my\\040data rw,relatime shared:5 - ext2 /dev/vda1 rw
            """
        let error = #expect(throws: UIOError.self) {
            try sim.binding(uioDriver: "uio_pci_generic", mountInfo: mounts).bind("0000:00:03.0", to: "uio_pci_generic")
        }
        #expect(error?.code == .deviceInUse)
        #expect(error?.description.contains("virtio-pci is using it: vda1 is mounted on /mnt/my data") == true, "\(String(describing: error))")
        #expect(error?.description.contains("umount /mnt/my data first") == true)
        #expect(sim.writes.isEmpty)
    }

    @Test("a disk held by device-mapper refuses the bind; an unmounted one does not")
    func heldDisk() throws {
        let sim = nic(driver: "virtio-pci")
        sim.addClassEntry("block", "vda", at: "virtio2/block/vda", files: ["dev": "254:0\n"])
        sim.state.withLock { $0.folders["\(sim.root)/class/block/vda/holders"] = ["dm-0"] }
        let error = #expect(throws: UIOError.self) { try sim.binding(uioDriver: "uio_pci_generic").bind("0000:00:03.0", to: "uio_pci_generic") }
        #expect(error?.description.contains("vda is held by dm-0") == true, "\(String(describing: error))")

        sim.state.withLock { $0.folders["\(sim.root)/class/block/vda/holders"] = [] }
        _ = try sim.binding(uioDriver: "uio_pci_generic", mountInfo: "41 22 254:7 / /mnt rw - ext2 /dev/vdb rw\n")
            .bind("0000:00:03.0", to: "uio_pci_generic")
        #expect(sim.driver == "uio_pci_generic")
    }

    @Test("a platform device's interface is found the same way")
    func platformInterface() {
        let sim = SimulatedBus(bus: "platform", device: "ff0e0000.ethernet", driver: "macb", idMatch: "macb",
                               loaded: ["macb", "uio_pdrv_genirq"], accepting: ["macb", "uio_pdrv_genirq"])
        sim.addClassEntry("net", "end0", at: "net/end0", files: ["flags": "0x1003\n"])
        let error = #expect(throws: UIOError.self) { try sim.binding(uioDriver: "uio_pdrv_genirq").bind("ff0e0000.ethernet", to: "uio_pdrv_genirq") }
        #expect(error?.description.contains("macb is using it: network interface end0 is up") == true, "\(String(describing: error))")
    }

    @Test("mountinfo: devices and mount points, escapes undone, lines that are not mounts left out")
    func mountTable() {
        let table = MountTable(parsing: """
            22 1 0:21 / / ro,relatime - 9p hostroot ro
            41 22 254:1 / /mnt/a\\040b\\134c rw,relatime shared:5 master:2 - ext2 /dev/vda1 rw
            42 22 254:1 /sub /srv rw - ext2 /dev/vda1 rw
            garbage
            43 22 x:1 / /bad rw - ext2 /dev/x rw

            """)
        #expect(table.mountPoints(of: "254:1") == ["/mnt/a b\\c", "/srv"])
        #expect(table.mountPoints(of: "0:21") == ["/"])
        #expect(table.mounts.count == 3)
    }
}
