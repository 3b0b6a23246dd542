import UIOPlatform

/// What this process knows of one PCI function's command register, shared by every
/// ``ConfigSpace`` of its config file while one is open: the lock that serializes
/// read-modify-writes, who holds Bus Master on, and how often it was found off under them.
final class CommandRegister: Sendable {
    struct State {
        /// Read-modify-writes made (a count, not `Void`: every empty value shares one address,
        /// which ThreadSanitizer takes for one variable guarded by different locks).
        var updates: UInt64 = 0
        /// Holds on Bus Master (``ConfigSpace/acquireBusMastering()``): it stays on while any is held.
        var busMasterHolders = 0
        /// Times Bus Master was found off while held.
        var busMasterLosses: UInt64 = 0
        /// Whether the present stretch with Bus Master off was counted.
        var lossCounted = false

        /// Notes what a read of the command register's low byte showed.
        mutating func observe(lowByte: UInt8) {
            if lowByte & UInt8(ConfigSpace.busMasterBit) != 0 {
                lossCounted = false
            } else if busMasterHolders > 0 && !lossCounted {
                busMasterLosses &+= 1
                lossCounted = true
            }
        }
    }

    let state = Locked(State())

    private struct WeakReference: @unchecked Sendable {
        // @unchecked: written once, at init; a weak load is safe from any thread.
        weak var register: CommandRegister?
        init(_ register: CommandRegister) { self.register = register }
    }

    /// Which function a register belongs to.
    enum Key: Hashable {
        /// A sysfs config file, by identity, not path (simulated devices of the same number share
        /// a path).
        case file(FileStatus)
        /// A PCI function by slot: VFIO's device files are anonymous and may share an inode.
        case pciFunction(String)
    }

    /// An entry lives as long as a ``ConfigSpace`` of the function does.
    private static let registers = Locked<[Key: WeakReference]>([:])

    /// The register of the function `key`, made at its first open.
    static func of(_ key: Key) -> CommandRegister {
        registers.withLock { registers in
            if let register = registers[key]?.register { return register }
            registers = registers.filter { $0.value.register != nil }  // files closed since
            let register = CommandRegister()
            registers[key] = WeakReference(register)
            return register
        }
    }
}
