import UIOPlatform
/// What the kernel says about an interrupt line in `/proc/interrupts` and `/proc/irq/N/`.
public struct KernelIRQ: Sendable, Hashable, Codable {
    /// How the line signals.
    public enum Trigger: String, Sendable, Hashable, Codable {
        /// Level-sensitive: asserted until acknowledged at the device (PCI INTx, `fasteoi`, `Level`).
        case level
        /// Edge-triggered (latched).
        case edge
        /// `/proc/interrupts` did not say.
        case unknown
    }

    /// The interrupt number.
    public let number: Int
    /// The interrupt controller's name for it (`IO-APIC 11-fasteoi`, `GIC-0 34 Level`).
    public let controller: String
    /// How the line signals.
    public let trigger: Trigger
    /// The handlers registered on the line (`uio_pci_generic`, …); more than one means shared.
    public let handlers: [String]
    /// The CPUs the kernel may deliver it to (`/proc/irq/N/smp_affinity_list`).
    public let affinity: [Int]
    /// The CPUs the interrupt controller really delivers it to now
    /// (`/proc/irq/N/effective_affinity_list`, usually one CPU); empty where the kernel does not
    /// say.
    public let effectiveAffinity: [Int]

    /// A description of interrupt line `number`.
    public init(number: Int, controller: String, trigger: Trigger, handlers: [String], affinity: [Int], effectiveAffinity: [Int] = []) {
        self.number = number
        self.controller = controller
        self.trigger = trigger
        self.handlers = handlers
        self.affinity = affinity
        self.effectiveAffinity = effectiveAffinity
    }

    /// Where the interrupt lands: the effective affinity, or the allowed CPUs where the kernel
    /// does not report it.
    public var deliveryCPUs: [Int] { effectiveAffinity.isEmpty ? affinity : effectiveAffinity }

    /// Reads line `number` from `/proc`; throws ``UIOError/Code/deviceNotFound`` if the kernel
    /// lists no such line.
    public static func read(_ number: Int) throws(UIOError) -> KernelIRQ {
        try read(number, system: .live)
    }

    static func read(_ number: Int, system: SystemCalls) throws(UIOError) -> KernelIRQ {
        try read(number, in: try readTable(system: system), system: system)
    }

    /// Line `number` from an already read `/proc/interrupts`, with its affinity from `/proc/irq`.
    private static func read(_ number: Int, in table: String, system: SystemCalls) throws(UIOError) -> KernelIRQ {
        let affinityText = (try? SysfsFile.read("/proc/irq/\(number)/smp_affinity_list", system: system)) ?? ""
        let effectiveText = (try? SysfsFile.read("/proc/irq/\(number)/effective_affinity_list", system: system)) ?? ""
        guard let irq = parse(interrupts: table, number: number, affinityList: affinityText, effectiveAffinityList: effectiveText) else {
            throw UIOError(.deviceNotFound, subject: "/proc/interrupts", reason: "lists no interrupt \(number)",
                           advice: "the line is registered only while a driver has it; is the device bound?")
        }
        return irq
    }

    /// The line `device`'s interrupt arrives on: the parent's `irq` attribute when it has one
    /// (PCI), or else the one `/proc/interrupts` row with a handler named like the device, since
    /// the UIO core registers its handler under the device's name (for a device-tree node, its
    /// `linux,uio-name`). `nil` when the kernel lists no such line, or more than one.
    public static func read(for device: UIODevice) -> KernelIRQ? {
        read(for: device, system: .live)
    }

    static func read(for device: UIODevice, system: SystemCalls) -> KernelIRQ? {
        // One read of the table serves both finding the line and describing it.
        guard let table = try? readTable(system: system),
              let number = device.parent?.irq ?? number(handledBy: device.name, interrupts: table) else { return nil }
        return try? read(number, in: table, system: system)
    }

    /// The one line whose handler is called `name` (VFIO names its handlers
    /// `vfio-msix[3](0000:00:10.0)`); `nil` when none or several are.
    static func read(handledBy name: String, system: SystemCalls) -> KernelIRQ? {
        guard let table = try? readTable(system: system), let number = number(handledBy: name, interrupts: table) else { return nil }
        return try? read(number, in: table, system: system)
    }

    private static func readTable(system: SystemCalls) throws(UIOError) -> String {
        try SysfsFile.read("/proc/interrupts", system: system, limit: 1 << 20)
    }

    /// The number of the one `/proc/interrupts` row with a handler called `name`; `nil` when
    /// none or several have one.
    public static func number(handledBy name: String, interrupts table: String) -> Int? {
        let found = rows(table).filter { $0.handlers.contains(name) }
        return found.count == 1 ? found[0].number : nil
    }

    /// Parses the `/proc/interrupts` row of `number`, an `smp_affinity_list` text and an
    /// `effective_affinity_list` text. Pure, so it is tested (and fuzzed) without a kernel.
    public static func parse(interrupts table: String, number: Int, affinityList: String, effectiveAffinityList: String = "") -> KernelIRQ? {
        guard let row = rows(table).first(where: { $0.number == number }) else { return nil }
        return KernelIRQ(number: number, controller: row.controller, trigger: row.trigger, handlers: row.handlers,
                         affinity: parseCPUList(affinityList) ?? [], effectiveAffinity: parseCPUList(effectiveAffinityList) ?? [])
    }

    /// The numbered rows of a `/proc/interrupts` table (`NMI:`, `ERR:` and the like have no number).
    /// The kernel lists each line once: a table that repeats a number is not the kernel's, and
    /// has no rows, so every question about it gets the same answer (none).
    private static func rows(_ table: String) -> [KernelIRQ] {
        let lines = table.split(separator: "\n")
        guard let header = lines.first else { return [] }
        let cpus = header.split(separator: " ").count
        let rows: [KernelIRQ] = lines.dropFirst().compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let label = fields.first, label.hasSuffix(":"), let number = Int(label.dropLast()) else { return nil }
            // "11:  0  35  IO-APIC  11-fasteoi  uio_pci_generic" — counts, then the controller
            // description, then the handlers separated by ", ".
            let words = fields.dropFirst().dropFirst(cpus).map(String.init)
            let joined = words.joined(separator: " ")
            let trigger: Trigger =
                joined.localizedLowercaseContains("edge") ? .edge
                : (joined.localizedLowercaseContains("level") || joined.localizedLowercaseContains("fasteoi")) ? .level
                : .unknown
            let (controller, handlers) = splitHandlers(words)
            return KernelIRQ(number: number, controller: controller, trigger: trigger, handlers: handlers, affinity: [])
        }
        return Set(rows.map(\.number)).count == rows.count ? rows : []
    }

    /// `0-3,6` → [0, 1, 2, 3, 6]; `nil` for malformed text.
    public static func parseCPUList(_ text: String) -> [Int]? {
        var cpus: [Int] = []
        let trimmed = text.split(separator: "\n").first.map(String.init) ?? ""
        guard !trimmed.isEmpty else { return nil }
        for part in trimmed.split(separator: ",") {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(bounds.count), let low = Int(bounds[0]), low >= 0, low < 65_536 else { return nil }
            let high = bounds.count == 2 ? Int(bounds[1]) : low
            guard let high, high >= low, high < 65_536 else { return nil }
            cpus.append(contentsOf: low...high)
        }
        return cpus
    }

    /// The handler names are the words after the controller's own: the last word and any
    /// word before it that ends in a comma.
    private static func splitHandlers(_ words: [String]) -> (String, [String]) {
        guard var index = words.indices.last else { return ("", []) }
        while index > words.startIndex, words[index - 1].hasSuffix(",") { index -= 1 }
        let handlers = words[index...].map { $0.hasSuffix(",") ? String($0.dropLast()) : $0 }
        return (words[..<index].joined(separator: " "), handlers)
    }
}

extension String {
    fileprivate func localizedLowercaseContains(_ word: String) -> Bool { lowercased().contains(word) }
}
