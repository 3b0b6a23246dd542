/// `value` in lowercase hexadecimal, zero-padded to at least `digits` digits (`1234`, `00ff00`).
package func hexDigits<T: BinaryInteger>(_ value: T, _ digits: Int) -> String {
    let text = String(value, radix: 16)
    return String(repeating: "0", count: max(0, digits - text.count)) + text
}
