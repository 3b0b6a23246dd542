/// Parsers for the text the kernel writes into sysfs attributes.
///
/// Each takes the attribute's raw text and returns `nil` for anything the kernel would never
/// write, so a damaged or hostile tree becomes a ``UIOError/Code/malformedAttribute`` error and
/// never a crash. Pure functions: the fuzzer drives them directly.
public enum SysfsValue {
    /// `0x…` hexadecimal, as in `maps/mapK/addr|size|offset`, `vendor`, `device`, `class`.
    public static func hexadecimal(_ text: String) -> UInt64? {
        let trimmed = trimmingLineEnd(text)
        guard trimmed.hasPrefix("0x") || trimmed.hasPrefix("0X") else { return nil }
        let digits = trimmed.dropFirst(2)
        guard !digits.isEmpty, digits.count <= 16 else { return nil }
        return UInt64(digits, radix: 16)
    }

    /// Unsigned decimal, as in `event` and `irq`.
    public static func decimal(_ text: String) -> UInt64? {
        let trimmed = trimmingLineEnd(text)
        guard !trimmed.isEmpty, trimmed.count <= 20, trimmed.allSatisfy(\.isASCIIDigit) else { return nil }
        return UInt64(trimmed)
    }

    /// Unsigned decimal that fits `type`: `event` is the kernel's 32-bit count, `irq` an `Int`.
    /// A larger number is `nil`, like any other text the kernel would not write.
    public static func decimal<T: FixedWidthInteger>(_ text: String, as type: T.Type) -> T? {
        decimal(text).flatMap { T(exactly: $0) }
    }

    /// A non-empty single line, as in `name` and `version`.
    public static func line(_ text: String) -> String? {
        let trimmed = trimmingLineEnd(text)
        guard !trimmed.isEmpty, !trimmed.contains(where: \.isNewline) else { return nil }
        return trimmed
    }

    /// The first line of `device/resource`: `0xSTART 0xEND 0xFLAGS` for BAR `index`.
    /// Returns the BAR's start and size, or `nil` for an unused BAR or malformed text.
    public static func pciResource(_ text: String, index: Int) -> (start: UInt64, size: UInt64)? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard index >= 0, index < lines.count else { return nil }
        let fields = lines[index].split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count == 3,
              let start = hexadecimal(String(fields[0])),
              let end = hexadecimal(String(fields[1])),
              hexadecimal(String(fields[2])) != nil,
              end > start, end != UInt64.max
        else { return nil }
        return (start, end - start + 1)
    }

    private static func trimmingLineEnd(_ text: String) -> String {
        var result = Substring(text)
        while let last = result.last, last.isNewline || last == " " || last == "\t" {
            result = result.dropLast()
        }
        return String(result)
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
