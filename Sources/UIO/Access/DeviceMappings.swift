import UIOPlatform

/// The live mappings of one claimed device's registers, and what becomes of them when the device
/// goes: each is replaced, at the same address, with anonymous memory that reads all-ones.
///
/// Without that, a mapping the kernel tears down at removal (a sysfs `resourceN` one) raises
/// `SIGBUS` at the next access, and a `/dev/uioN` map keeps reaching a physical range that may be
/// given to another device. The retirement runs when the removal is noticed; a `SIGBUS` that
/// comes first is caught by the shim's guard, which retires the faulting mapping the same way.
final class DeviceMappings: Sendable {
    /// Address → length of every mapping still alive; `nil` once retired.
    private let live = Locked<[UInt: Int]?>([:])

    /// Starts guarding a new mapping; a device already gone gets it retired at once.
    func add(_ address: UnsafeMutableRawPointer, length: Int) {
        let retired = live.withLock { live in
            guard live != nil else { return true }
            live![UInt(bitPattern: address)] = length
            return false
        }
        if retired {
            MappingGuard.retire(address, length: length)
        } else {
            MappingGuard.guardMapping(address, length: length)  // without a slot, the removal watcher still retires it
        }
    }

    /// Forgets a mapping about to be unmapped; after this, nothing remaps its address.
    func remove(_ address: UnsafeMutableRawPointer) {
        live.withLock { _ = $0?.removeValue(forKey: UInt(bitPattern: address)) }
        MappingGuard.unguard(address)
    }

    /// Replaces every live mapping with all-ones memory. Idempotent.
    func retireAll() {
        live.withLock { live in
            for (address, length) in live ?? [:] {
                MappingGuard.retire(UnsafeMutableRawPointer(bitPattern: address), length: length)
            }
            live = nil
        }
    }
}
