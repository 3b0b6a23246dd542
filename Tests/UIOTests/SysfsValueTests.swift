import Testing
import UIO

@Suite("Sysfs attribute parsers")
struct SysfsValueTests {
    @Test("hexadecimal takes the kernel's 0x form, with or without a newline")
    func hexadecimal() {
        #expect(SysfsValue.hexadecimal("0xfea00000\n") == 0xfea0_0000)
        #expect(SysfsValue.hexadecimal("0x0") == 0)
        #expect(SysfsValue.hexadecimal("0XFFFFFFFFFFFFFFFF") == .max)
    }

    @Test("hexadecimal rejects what the kernel never writes", arguments: ["", "\n", "0x", "fea00000", "0xg1", "-0x1", "0x1 2", "0x10000000000000000", " 0x1"])
    func hexadecimalRejects(text: String) {
        #expect(SysfsValue.hexadecimal(text) == nil)
    }

    @Test("decimal takes digits only")
    func decimal() {
        #expect(SysfsValue.decimal("42\n") == 42)
        #expect(SysfsValue.decimal("0") == 0)
        #expect(SysfsValue.decimal("18446744073709551615") == .max)
    }

    @Test("decimal rejects garbage", arguments: ["", "-1", "+1", "1.5", "0x10", "١٢", "18446744073709551616", "12 13"])
    func decimalRejects(text: String) {
        #expect(SysfsValue.decimal(text) == nil)
    }

    @Test("line takes one non-empty line")
    func line() {
        #expect(SysfsValue.line("uio_pci_generic\n") == "uio_pci_generic")
        #expect(SysfsValue.line("") == nil)
        #expect(SysfsValue.line("\n") == nil)
        #expect(SysfsValue.line("a\nb") == nil)
    }

    @Test("pciResource reads start and size of one BAR and skips unused ones")
    func pciResource() throws {
        let text = """
        0x00000000fea00000 0x00000000feafffff 0x0000000000040200
        0x0000000000000000 0x0000000000000000 0x0000000000000000

        """
        let bar0 = try #require(SysfsValue.pciResource(text, index: 0))
        #expect(bar0.start == 0xfea0_0000)
        #expect(bar0.size == 0x10_0000)
        #expect(SysfsValue.pciResource(text, index: 1) == nil)
        #expect(SysfsValue.pciResource(text, index: 7) == nil)
        #expect(SysfsValue.pciResource(text, index: -1) == nil)
        #expect(SysfsValue.pciResource("0x1 0x0 0x0", index: 0) == nil)
    }
}
