import Testing
import UIO

@Suite("/proc/interrupts")
struct KernelIRQTests {
    // Rows as the two guests print them: x86_64 (two CPUs, IO-APIC) and aarch64 (GIC).
    static let table = """
                   CPU0       CPU1
          0:         40          0   IO-APIC   2-edge      timer
         11:          0       1234   IO-APIC  11-fasteoi   uio_pci_generic, virtio2
         23:          7          0     GIC-0  34 Level     pl031-uio
         24:          0          0     GIC-0  35 Level     twin
         25:          0          0     GIC-0  36 Level     twin
        NMI:          0          0   Non-maskable interrupts
        """

    @Test func parsesAPCIRowWithASharedLine() throws {
        let irq = try #require(KernelIRQ.parse(interrupts: Self.table, number: 11, affinityList: "0-1\n"))
        #expect(irq.controller == "IO-APIC 11-fasteoi")
        #expect(irq.trigger == .level)
        #expect(irq.handlers == ["uio_pci_generic", "virtio2"])
        #expect(irq.affinity == [0, 1])
    }

    @Test func parsesAGICRow() throws {
        let irq = try #require(KernelIRQ.parse(interrupts: Self.table, number: 23, affinityList: "0"))
        #expect(irq.controller == "GIC-0 34 Level")
        #expect(irq.trigger == .level)
        #expect(irq.handlers == ["pl031-uio"])
    }

    @Test func anUnlistedLineIsNil() {
        #expect(KernelIRQ.parse(interrupts: Self.table, number: 99, affinityList: "") == nil)
        #expect(KernelIRQ.parse(interrupts: "", number: 0, affinityList: "") == nil)
    }

    @Test func findsTheOneLineHandledByAName() {
        #expect(KernelIRQ.number(handledBy: "pl031-uio", interrupts: Self.table) == 23)
        #expect(KernelIRQ.number(handledBy: "virtio2", interrupts: Self.table) == 11)
    }

    @Test func aMissingOrAmbiguousNameFindsNothing() {
        #expect(KernelIRQ.number(handledBy: "absent", interrupts: Self.table) == nil)
        #expect(KernelIRQ.number(handledBy: "twin", interrupts: Self.table) == nil)
        #expect(KernelIRQ.number(handledBy: "Non-maskable", interrupts: Self.table) == nil)
    }

    /// Found by the fuzzer: with a number listed twice, finding the line by its handler took one
    /// row and describing it took the other. The kernel never lists a line twice.
    @Test func aTableThatListsALineTwiceDescribesNoLine() {
        let table = """
                       CPU0
              5:          1   IO-APIC   5-edge      other
              5:          2   IO-APIC   5-fasteoi   uio
            """
        #expect(KernelIRQ.number(handledBy: "uio", interrupts: table) == nil)
        #expect(KernelIRQ.number(handledBy: "other", interrupts: table) == nil)
        #expect(KernelIRQ.parse(interrupts: table, number: 5, affinityList: "0") == nil)
    }
}
