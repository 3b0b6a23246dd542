import Foundation
import Testing
import TestSupport
import UIO

extension GuestSuites {
    /// `uioctl` against the guest's real edu devices: the binary, run as a person would.
    @Suite("Guest: uioctl")
    struct UIOCtlGuestTests {
        init() throws { try #require(Guest.isActive, "not in the guest") }

        /// The `uioctl` built beside the test binary.
        var binary: String {
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("uioctl").path
        }

        /// Runs `uioctl` through the shell, as a person would, and returns its status and output.
        func uioctl(_ arguments: String...) throws -> (status: Int32, output: String) {
            let output = "/tmp/uioctl-\(UUID().uuidString)"
            defer { unlink(output) }
            let command = ([binary] + arguments).map { "'\($0)'" }.joined(separator: " ") + " > \(output) 2>&1"
            let status = system(command)
            return ((status >> 8) & 0xff, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
        }

        @Test("list shows every edu device with its slot, ids, irq and map")
        func list() throws {
            let (status, output) = try uioctl("list")
            #expect(status == 0)
            for edu in try Guest.eduDevices() {
                let slot = try #require(edu.parent?.sysName)
                #expect(output.contains("uio\(edu.number)  uio_pci_generic  uio_pci_generic  \(slot) (1234:11e8)"), "\(output)")
                #expect(output.contains("1 MiB"))
            }
        }

        @Test("list --json decodes to the devices discovery finds")
        func listJSON() throws {
            let (status, output) = try uioctl("list", "--json")
            #expect(status == 0)
            let decoded = try JSONDecoder().decode([UIODevice].self, from: Data(output.utf8))
            #expect(decoded.map(\.number) == (try Guest.eduDevices()).map(\.number))
            #expect(decoded.first?.parent?.pci?.vendor == 0x1234)
        }

        @Test("info by number and by slot report the same device, with /proc's view of its irq")
        func info() throws {
            let edu = try #require(try Guest.eduDevices().first)
            let slot = try #require(edu.parent?.sysName)
            let (status, byNumber) = try uioctl("info", "uio\(edu.number)")
            #expect(status == 0)
            #expect(byNumber.contains("node:     /dev/uio\(edu.number)"))
            #expect(byNumber.contains("pci:      1234:11e8 class 0x00ff00"))
            #expect(byNumber.contains("fasteoi, level, handlers uio_pci_generic"))
            #expect(try uioctl("info", slot).output == byNumber)
        }

        @Test("info of a device that is not there fails with the list of what is")
        func infoMissing() throws {
            let (status, output) = try uioctl("info", "uio99")
            #expect(status != 0)
            #expect(output.contains("no such UIO device"))
            #expect(output.contains("present: uio0"))
        }

        @Test("list --all puts each edu device among the PCI devices on a UIO driver, with its uioN, and the rest elsewhere")
        func listAll() throws {
            let (status, output) = try uioctl("list", "--all")
            #expect(status == 0)
            let groups = output.components(separatedBy: "\n\n")
            try #require(groups.count == 3, "\(output)")
            #expect(groups[0].hasPrefix("PCI devices on a UIO driver\n"))
            let onUIO = groups[0].split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
            for edu in try Guest.eduDevices() {
                let slot = try #require(edu.parent?.sysName)
                let line = try #require(onUIO.first { $0.first == slot }, "\(output)")
                #expect(line.count == 6)
                #expect(Array(line.prefix(4)) == [slot, "1234:11e8", "0x00ff00", "uio_pci_generic"])
                #expect(line.last == "uio\(edu.number)")
            }
            // The guest's own devices (host bridge, virtio-9p for its file systems) are not on UIO.
            let elsewhere = groups[1...].joined(separator: "\n")
            for device in try PCIDevice.all() where !device.isOnUIODriver {
                #expect(elsewhere.contains("\n\(device.slot)  "), "\(output)")
            }
        }

        @Test("list --all --json decodes to the PCI devices, the ones on UIO being the edu devices")
        func listAllJSON() throws {
            let (status, output) = try uioctl("list", "--all", "--json")
            #expect(status == 0)
            let decoded = try JSONDecoder().decode([PCIDevice].self, from: Data(output.utf8))
            let edu = try Guest.eduDevices()
            #expect(decoded.filter(\.isOnUIODriver).flatMap(\.uioNumbers).sorted() == edu.map(\.number))
            #expect(decoded.filter(\.isOnUIODriver).map(\.slot).sorted() == edu.compactMap(\.parent?.sysName).sorted())
            #expect(decoded.contains { !$0.isOnUIODriver })
        }

        @Test("info of a PCI device off UIO names its slot, its driver and the bind command")
        func infoOffUIO() throws {
            let device = try #require(try PCIDevice.all().first { !$0.isOnUIODriver }, "the guest has PCI devices of its own")
            let (status, output) = try uioctl("info", device.slot)
            #expect(status != 0)
            #expect(output.contains("no such UIO device: the PCI device \(device.slot) ("), "\(output)")
            #expect(output.contains(device.driver.map { "driver \($0))" } ?? "no driver)"), "\(output)")
            #expect(output.contains("uioctl bind \(device.slot)"), "\(output)")
        }

        @Test("watch follows the interrupts of a driver that holds the claim, without claiming the device")
        func watch() throws {
            let edu = try #require(try Guest.eduDevices().first)
            let driver = URL(fileURLWithPath: binary).deletingLastPathComponent().appendingPathComponent("edu-driver").path
            let log = "/tmp/edu-driver-\(UUID().uuidString)"
            defer { unlink(log) }
            // The example driver claims the device and raises 2,000 interrupts meanwhile.
            #expect(system("'\(driver)' --device uio\(edu.number) --factorial 5 --interrupts 2000 --dma-copies 0 > \(log) 2>&1 &") == 0)
            let (status, output) = try uioctl("watch", "uio\(edu.number)", "--seconds", "2", "--interval", "0.5", "--json")
            #expect(status == 0)
            let samples = try output.split(separator: "\n").map {
                try JSONDecoder().decode(WatchSample.self, from: Data($0.utf8))
            }
            #expect(samples.count >= 4)
            #expect(samples.map(\.interrupts).reduce(0, +) > 0, "\(output)")
            #expect(waitUntil(timeout: 60) { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("stopped:") })
        }

        struct WatchSample: Decodable {
            let elapsed: Double
            let count: UInt32
            let interrupts: UInt32
        }

        @Test("monitor reports the remove and add of unbind and bind")
        func monitor() throws {
            let edu = try #require(try Guest.eduDevices().last)
            let slot = try #require(edu.parent?.sysName)
            let output = "/tmp/uioctl-monitor-\(UUID().uuidString)"
            defer { unlink(output) }
            #expect(system("'\(binary)' monitor --count 2 --seconds 30 > \(output) 2>&1 &") == 0)
            // The header is printed once the monitor's socket is open.
            #expect(waitUntil(timeout: 30) { ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").hasPrefix("monitoring UIO devices") })
            #expect(try uioctl("unbind", slot).status == 0)
            #expect(try uioctl("bind", slot).status == 0)
            #expect(waitUntil(timeout: 30) { ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").split(separator: "\n").count >= 3 })
            let lines = ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").split(separator: "\n").dropFirst()
            #expect(lines.first?.hasPrefix("remove uio\(edu.number)") == true, "\(lines)")
            #expect(lines.dropFirst().first?.hasPrefix("add uio\(edu.number) /dev/uio\(edu.number) uio_pci_generic") == true, "\(lines)")
        }

        @Test("bind of a slot with no device fails and says so")
        func bindMissing() throws {
            let (status, output) = try uioctl("bind", "0000:00:1f.7")
            #expect(status != 0)
            #expect(output.contains("no PCI device in this slot"))
        }
    }
}
