import Foundation
import UIO

/// What `uioctl` prints: a device table, one device's report, and JSON for both.
public enum DeviceListing {
    /// One line per device, with a header: number, name, kernel driver, parent, irq, maps, events.
    /// `irq` finds a device's line when its parent has no `irq` attribute (a platform device).
    public static func table(_ devices: [UIODevice], irq: (UIODevice) -> KernelIRQ? = { _ in nil }) -> String {
        let header = ["UIO", "NAME", "DRIVER", "PARENT", "IRQ", "MAPS", "EVENTS"]
        let rows = devices.map { device in
            [
                "uio\(device.number)",
                device.name,
                device.parent?.driver ?? "-",
                parentDescription(device.parent),
                (device.parent?.irq ?? irq(device)?.number).map(String.init) ?? "-",
                device.maps.isEmpty ? "-" : device.maps.map { byteCount($0.size) }.joined(separator: ","),
                String(device.eventCount),
            ]
        }
        return align([header] + rows)
    }

    /// Everything known about one device, as `uioctl info` prints it.
    public static func report(_ device: UIODevice, irq: KernelIRQ?) -> String {
        var lines = [
            "uio\(device.number): \(device.name) \(device.version)",
            "  node:     \(device.devicePath)",
            "  sysfs:    \(device.sysPath)",
            "  events:   \(device.eventCount)",
        ]
        if let parent = device.parent {
            lines.append("  parent:   \(parentDescription(parent)), \(parent.subsystem), driver \(parent.driver ?? "none")")
            lines.append("            \(parent.sysPath)")
            if let pci = parent.pci {
                let subsystem = pci.subsystemVendor.map { " subsystem \(hexDigits($0, 4)):\(hexDigits(pci.subsystemDevice ?? 0, 4))" } ?? ""
                lines.append("  pci:      \(hexDigits(pci.vendor, 4)):\(hexDigits(pci.device, 4)) class 0x\(hexDigits(UInt64(pci.classCode), 6))\(subsystem)")
            }
        }
        if let number = device.parent?.irq ?? irq?.number {
            var text = "  irq:      \(number)"
            if let irq {
                text += " (\(irq.controller), \(irq.trigger.rawValue), handlers \(irq.handlers.joined(separator: ", ")), CPUs \(irq.affinity.map(String.init).joined(separator: ",")))"
            }
            lines.append(text)
        }
        for map in device.maps {
            lines.append("  map\(map.index):     \(byteCount(map.size)) at 0x\(hexDigits(map.address, 8)) offset 0x\(hexDigits(map.offset, 1))"
                         + (map.name.map { " \"\($0)\"" } ?? ""))
        }
        for port in device.portRegions {
            lines.append("  port\(port.index):    \(port.size) ports at 0x\(hexDigits(port.start, 4)) (\(port.portType))" + (port.name.map { " \"\($0)\"" } ?? ""))
        }
        return lines.joined(separator: "\n")
    }

    /// Pretty, key-sorted JSON of any listing.
    public static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// `0000:00:04.0 (1234:11e8)`, or a platform device's name.
    public static func parentDescription(_ parent: ParentDevice?) -> String {
        guard let parent else { return "-" }
        guard let pci = parent.pci else { return parent.sysName }
        return "\(parent.sysName) (\(hexDigits(pci.vendor, 4)):\(hexDigits(pci.device, 4)))"
    }

    /// 4096 → `4 KiB`, 1048576 → `1 MiB`.
    public static func byteCount(_ bytes: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = bytes
        var unit = 0
        while value >= 1024, value % 1024 == 0, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return "\(value) \(units[unit])"
    }

    static func align(_ rows: [[String]]) -> String {
        let widths = rows.reduce(into: [Int](repeating: 0, count: rows.first?.count ?? 0)) { widths, row in
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count + 2)
            }.joined()
        }.joined(separator: "\n")
    }
}
