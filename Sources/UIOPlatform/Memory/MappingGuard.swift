import CUIOShim

/// The shim's `SIGBUS` guard over device mappings, and their retirement to all-ones memory.
package enum MappingGuard {
    /// Guards a mapping: a `SIGBUS` inside it retires it instead of killing the process.
    /// `false` when every slot is taken (the mapping is then retired only when removal is noticed).
    @discardableResult
    package static func guardMapping(_ address: UnsafeMutableRawPointer, length: Int) -> Bool {
        cuio_guard_mapping(address, length) == 0
    }

    /// Stops guarding a mapping about to be unmapped.
    package static func unguard(_ address: UnsafeMutableRawPointer) { cuio_unguard_mapping(address) }

    /// Replaces the mapping, at the same address, with anonymous memory that reads all-ones.
    package static func retire(_ address: UnsafeMutableRawPointer?, length: Int) { _ = cuio_retire_mapping(address, length) }
}
