import UIOPlatform
import Foundation
import Testing
import UIO
import UIOControl

/// Discovery through real libudev over a sysfs tree mocked by umockdev.
@Suite("Discovery (umockdev)", .serialized, .enabled(if: MockSysfs.isActive || MockSysfs.isRequired, "needs umockdev-wrapper"))
struct DiscoveryTests {
    let sysfs = MockSysfs.shared

    init() throws {
        try #require(MockSysfs.isActive && sysfs.isRedirecting, "run the test binary under umockdev-wrapper")
        sysfs.clear()
    }

    @Test("a PCI-parented device reports its attributes, map, node and parent")
    func pciDevice() throws {
        let n = MockSysfs.freshNumber()
        try sysfs.add(MockSysfs.eduRecord(number: n))
        let devices = try UIODevice.all()
        try #require(devices.count == 1)
        let edu = devices[0]
        let slot = MockSysfs.eduSlot(n)
        #expect(edu.number == n)
        #expect(edu.name == "uio_pci_generic")
        #expect(edu.version == "0.01.0")
        #expect(edu.eventCount == 7)
        #expect(edu.devicePath == "/dev/uio\(n)")
        #expect(edu.sysPath == "/sys/devices/pci0000:00/\(slot)/uio/uio\(n)")
        #expect(edu.maps == [MemoryMap(index: 0, name: nil, address: 0xfea0_0000, size: 0x10_0000, offset: 0)])
        #expect(edu.portRegions.isEmpty)
        let parent = try #require(edu.parent)
        #expect(parent.subsystem == "pci")
        #expect(parent.sysName == slot)
        #expect(parent.sysPath == "/sys/devices/pci0000:00/\(slot)")
        #expect(parent.driver == "uio_pci_generic")
        #expect(parent.irq == 11)
        #expect(parent.pci == PCIIdentity(vendor: 0x1234, device: 0x11e8, subsystemVendor: 0x1af4, subsystemDevice: 0x1100,
                                          classCode: 0x00ff00, slot: slot))
    }

    @Test("a platform-parented device reports its maps with offsets, its port region and no PCI identity")
    func platformDevice() throws {
        let n = MockSysfs.freshNumber()
        try sysfs.add(MockSysfs.platformRecord(number: n))
        let rtc = try UIODevice.first(.name("pl031-uio"))
        #expect(rtc.number == n)
        #expect(rtc.version == "devicetree")
        #expect(rtc.devicePath == "/dev/uio\(n)")
        #expect(rtc.maps.count == 2)
        #expect(rtc.maps[0] == MemoryMap(index: 0, name: "pl031@9010000", address: 0x0901_0000, size: 0x1000, offset: 0))
        #expect(rtc.maps[1] == MemoryMap(index: 1, name: nil, address: 0x0902_0000, size: 0x80, offset: 0x40))
        #expect(rtc.portRegions == [PortRegion(index: 0, name: "ioport", start: 0x3f8, size: 8, portType: "port_x86")])
        let parent = try #require(rtc.parent)
        #expect(parent.subsystem == "platform")
        #expect(parent.sysName == "9010000.pl031")
        #expect(parent.driver == "uio_pdrv_genirq")
        #expect(parent.pci == nil)
        #expect(parent.irq == nil)
    }

    @Test("every selector finds its device among several")
    func selectors() throws {
        let pci = MockSysfs.freshNumber()
        let platform = MockSysfs.freshNumber()
        try sysfs.add(MockSysfs.eduRecord(number: pci))
        try sysfs.add(MockSysfs.platformRecord(number: platform))
        #expect(try UIODevice.all().map(\.number) == [pci, platform])
        let cases: [(DeviceSelector, [Int])] = [
            (.number(platform), [platform]), (.name("uio_pci_generic"), [pci]), (.pci(vendor: 0x1234, device: 0x11e8), [pci]),
            (.pci(vendor: 0x1234, device: nil), [pci]), (.pciClass(0x00ff00), [pci]), (.slot(MockSysfs.eduSlot(pci)), [pci]),
            (.devicePath("/dev/uio\(platform)"), [platform]),
            (.sysPath("/sys/devices/platform/9010000.pl031/uio/uio\(platform)"), [platform]),
            (DeviceSelector("uio\(pci)"), [pci]), (.name("nothing"), []), (.pci(vendor: 0x8086, device: nil), []),
        ]
        for (selector, expected) in cases {
            #expect(try UIODevice.find(selector).map(\.number) == expected, "\(selector)")
        }
    }

    @Test("nothing matching is deviceNotFound, and the message lists what is there")
    func notFound() throws {
        let n = MockSysfs.freshNumber()
        try sysfs.add(MockSysfs.eduRecord(number: n))
        let error = try #require(throws: UIOError.self) { try UIODevice.first(.name("edu")) }
        #expect(error.code == .deviceNotFound)
        #expect(error.description.contains("uio\(n) \"uio_pci_generic\" at \(MockSysfs.eduSlot(n))"))
        sysfs.clear()
        let empty = try #require(throws: UIOError.self) { try UIODevice.first(.any) }
        #expect(empty.description.contains("no UIO devices are present"))
    }

    @Test("a sysfs path that is not a UIO device, or nothing at all, is refused")
    func wrongPaths() throws {
        let n = MockSysfs.freshNumber()
        try sysfs.add(MockSysfs.eduRecord(number: n))
        let parent = try #require(throws: UIOError.self) {
            try UIODevice.find(.sysPath("/sys/devices/pci0000:00/\(MockSysfs.eduSlot(n))"))
        }
        #expect(parent.code == .notAUIODevice)
        #expect(parent.description.contains("pci device"))
        let nothing = try #require(throws: UIOError.self) { try UIODevice.find(.sysPath("/sys/devices/nowhere/uio/uio999")) }
        #expect(nothing.code == .deviceNotFound)
    }

    @Test("a device removed between discovery and open fails to open with deviceRemoved")
    func removedBeforeOpen() throws {
        let n = MockSysfs.freshNumber()
        try sysfs.add(MockSysfs.eduRecord(number: n))
        let edu = try UIODevice.first(.number(n))
        sysfs.remove(try #require(edu.parent).sysPath)
        #expect(try UIODevice.all().isEmpty)
        let error = try #require(throws: UIOError.self) { try edu.open() }
        #expect(error.code == .deviceRemoved)
        #expect(error.subject == "/dev/uio\(n)")
    }

    @Test("a device renumbered between discovery and open is refused: its node reaches another device than its sysfs dev says")
    func renumberedBeforeOpen() throws {
        let n = MockSysfs.freshNumber()
        let other = MockSysfs.freshNumber()
        try sysfs.add(MockSysfs.eduRecord(number: n))
        let edu = try UIODevice.first(.number(n))
        // The device discovered at this sysfs path now has another number; /dev/uioN reaches
        // the device that took N.
        sysfs.setAttribute(edu.sysPath, "dev", "246:\(other)")
        let error = try #require(throws: UIOError.self) { try edu.open() }
        #expect(error.code == .deviceRemoved)
        #expect(error.reason.contains("renumbered"))
        sysfs.setAttribute(edu.sysPath, "dev", "246:\(n)")
        try edu.open().close()
    }

    @Test("a second driver opening a claimed device gets deviceBusy")
    func claimed() throws {
        let n = MockSysfs.freshNumber()
        try sysfs.add(MockSysfs.eduRecord(number: n))
        let edu = try UIODevice.first(.number(n))
        let handle = try edu.open()
        defer { handle.close() }
        let error = try #require(throws: UIOError.self) { try edu.open() }
        #expect(error.code == .deviceBusy)
    }

    @Test("malformed attributes are malformedAttribute errors naming the attribute", arguments: [
        ("maps/map0/size", "garbage"), ("maps/map0/addr", "12345"), ("maps/map0/offset", "0x"),
        ("event", "-3"), ("name", ""), ("version", "\n"),
    ])
    func malformed(attribute: String, value: String) throws {
        let n = MockSysfs.freshNumber()
        try sysfs.add(MockSysfs.eduRecord(number: n))
        let sysPath = "/sys/devices/pci0000:00/\(MockSysfs.eduSlot(n))/uio/uio\(n)"
        sysfs.setAttribute(sysPath, attribute, value)
        let error = try #require(throws: UIOError.self) { try UIODevice.all() }
        #expect(error.code == .malformedAttribute)
        #expect(error.subject == sysPath + "/" + attribute)
    }

    @Test("a malformed PCI id on the parent is a malformedAttribute error")
    func malformedParent() throws {
        let n = MockSysfs.freshNumber()
        try sysfs.add(MockSysfs.eduRecord(number: n))
        sysfs.setAttribute("/sys/devices/pci0000:00/\(MockSysfs.eduSlot(n))", "vendor", "0x123456")
        let error = try #require(throws: UIOError.self) { try UIODevice.all() }
        #expect(error.code == .malformedAttribute)
        #expect(error.subject.hasSuffix("\(MockSysfs.eduSlot(n))/vendor"))
    }

    @Test("an irq attribute past Int.max is a malformedAttribute error, and discovery goes on reporting")
    func irqPastIntMax() throws {
        let n = MockSysfs.freshNumber()
        try sysfs.add(MockSysfs.eduRecord(number: n))
        sysfs.setAttribute("/sys/devices/pci0000:00/\(MockSysfs.eduSlot(n))", "irq", "9223372036854775808")
        let error = try #require(throws: UIOError.self) { try UIODevice.all() }
        #expect(error.code == .malformedAttribute)
        #expect(error.subject.hasSuffix("\(MockSysfs.eduSlot(n))/irq"))
    }

    @Test("a live event count past 32 bits is a malformedAttribute error")
    func liveEventCountPast32Bits() throws {
        let n = MockSysfs.freshNumber()
        try sysfs.add(MockSysfs.eduRecord(number: n))
        let edu = try UIODevice.first(.number(n))
        sysfs.setAttribute(edu.sysPath, "event", "4294967296")
        let error = try #require(throws: UIOError.self) { try edu.currentEventCount() }
        #expect(error.code == .malformedAttribute)
    }

    @Test("the live event count is read fresh, not from libudev's cache")
    func liveEventCount() throws {
        let n = MockSysfs.freshNumber()
        try sysfs.add(MockSysfs.eduRecord(number: n))
        let edu = try UIODevice.first(.number(n))
        #expect(try edu.currentEventCount() == 7)
        sysfs.setAttribute(edu.sysPath, "event", "9")
        #expect(try edu.currentEventCount() == 9)
    }
}

/// The hotplug monitor with umockdev's synthetic uevents.
extension DiscoveryTests {
    @Test("the monitor reports add with the device, and remove without it")
    func hotplugEvents() throws {
        let monitor = try HotplugMonitor(source: .udev)
        defer { monitor.close() }
        let n = MockSysfs.freshNumber()
        try sysfs.add(MockSysfs.eduRecord(number: n))
        let sysPath = "/sys/devices/pci0000:00/\(MockSysfs.eduSlot(n))/uio/uio\(n)"
        // umockdev announces an added device with an "add" uevent, as the kernel does.
        let added = try #require(try monitor.next(timeout: .seconds(5)))
        #expect(added.action == .add)
        #expect(added.number == n)
        #expect(added.sysPath == sysPath)
        #expect(added.device?.name == "uio_pci_generic")
        #expect(added.device?.parent?.pci?.vendor == 0x1234)
        sysfs.uevent(sysPath, "remove")
        let removed = try #require(try monitor.next(timeout: .seconds(5)))
        #expect(removed.action == .remove)
        #expect(removed.number == n)
        #expect(removed.device == nil)
    }

    @Test("the monitor's callback form calls the handler on its own thread until close")
    func hotplugCallback() throws {
        let monitor = try HotplugMonitor(source: .udev)
        let received = Locked<[HotplugEvent]>([])
        try monitor.start { event in received.withLock { $0.append(event) } }
        let n = MockSysfs.freshNumber()
        try sysfs.add(MockSysfs.eduRecord(number: n))
        let deadline = ContinuousClock.now + .seconds(5)
        while received.withLock({ $0.isEmpty }) && ContinuousClock.now < deadline { usleep(1_000) }
        monitor.close()
        let events = received.withLock { $0 }
        #expect(events.first?.action == .add)
        #expect(events.first?.number == n)
    }

    @Test("the monitor's next returns nil on timeout and on cancel; the events stream ends at close")
    func hotplugEnds() async throws {
        let monitor = try HotplugMonitor(source: .udev)
        #expect(try monitor.next(timeout: .milliseconds(20)) == nil)
        monitor.cancel()
        #expect(try monitor.next() == nil)
        let stream = monitor.events()
        let n = MockSysfs.freshNumber()
        try sysfs.add(MockSysfs.eduRecord(number: n))
        var iterator = stream.makeAsyncIterator()
        let first = await iterator.next()
        #expect(first?.action == .add)
        monitor.close()
        #expect(await iterator.next() == nil)
    }

    @Test("the monitor's next with a timeout past Int64.max seconds waits like no timeout, and a cancel ends it")
    func hotplugHugeTimeout() throws {
        let monitor = try HotplugMonitor(source: .udev)
        defer { monitor.close() }
        monitor.cancel()
        #expect(try monitor.next(timeout: .seconds(Int64.max) * 10) == nil)
    }
}

/// What `uioctl` prints, over the mocked tree.
extension DiscoveryTests {
    @Test("the device table and the report show what discovery found")
    func listing() throws {
        let pci = MockSysfs.freshNumber()
        let platform = MockSysfs.freshNumber()
        try sysfs.add(MockSysfs.eduRecord(number: pci))
        try sysfs.add(MockSysfs.platformRecord(number: platform))
        let devices = try UIODevice.all()
        let table = DeviceListing.table(devices).split(separator: "\n").map(String.init)
        #expect(table.count == 3)
        #expect(table[0].hasPrefix("UIO"))
        #expect(table[1].hasPrefix("uio\(pci)"))
        #expect(table[1].contains("\(MockSysfs.eduSlot(pci)) (1234:11e8)"))
        #expect(table[1].contains("1 MiB"))
        #expect(table[2].contains("9010000.pl031"))
        #expect(table[2].contains("4 KiB,128 B"))
        let report = DeviceListing.report(devices[1], irq: nil)
        #expect(report.contains("map1:     128 B at 0x09020000 offset 0x40"))
        #expect(report.contains("port0:    8 ports at 0x03f8 (port_x86) \"ioport\""))
        let decoded = try JSONDecoder().decode([UIODevice].self, from: Data(try DeviceListing.json(devices).utf8))
        #expect(decoded == devices)
    }
}
