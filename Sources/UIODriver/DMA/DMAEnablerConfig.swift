/// What a device's DMA can do (`WDF_DMA_ENABLER_CONFIG`).
public struct DMAEnablerConfig: Sendable, Hashable {
    /// `WDF_DMA_PROFILE`: how wide the device's addresses are. swift-uio has common buffers and no
    /// DMA transactions yet, so the packet profiles are the ones with a meaning.
    public enum Profile: Sendable, Hashable {
        /// `WdfDmaProfilePacket`: 32-bit addresses.
        case packet
        /// `WdfDmaProfilePacket64`: 64-bit addresses.
        case packet64

        /// The address width the profile implies, in bits.
        public var addressWidth: Int { self == .packet ? 32 : 64 }
    }

    /// How wide the device's addresses are.
    public var profile: Profile
    /// The longest transfer the device makes, in bytes (`MaximumLength`). WDF bounds DMA
    /// transactions by it; swift-uio has no transactions yet, so it is the driver's own record,
    /// reported by ``DMAEnabler/maximumLength``.
    public var maximumLength: Int
    /// `AddressWidthOverride`: the device's address width in bits when it is not the profile's
    /// (QEMU's edu device takes 28 bits unless told otherwise). Memory beyond it is never given to
    /// the device.
    public var addressWidthOverride: Int?
    /// `WdfDeviceSetAlignmentRequirement`, in bytes (a power of two, at most a huge page on UIO):
    /// every common buffer's device address is a multiple of it. 64 by default, a cache line, so
    /// no two buffers share one.
    public var alignment: Int

    /// A config for `profile` and transfers of at most `maximumLength` bytes.
    public init(profile: Profile, maximumLength: Int, addressWidthOverride: Int? = nil, alignment: Int = 64) {
        self.profile = profile
        self.maximumLength = maximumLength
        self.addressWidthOverride = addressWidthOverride
        self.alignment = alignment
    }

    /// The device's address width in bits.
    public var addressWidth: Int { addressWidthOverride ?? profile.addressWidth }

    /// The highest address the device can put on the bus.
    public var highestAddress: UInt64 { addressWidth >= 64 ? .max : (1 << UInt64(addressWidth)) - 1 }

    /// Why the config cannot be used, or `nil`.
    func problem() -> String? {
        if maximumLength <= 0 { return "maximumLength is \(maximumLength); it must be positive" }
        if let width = addressWidthOverride, !(12...64).contains(width) {
            return "addressWidthOverride is \(width) bits; a device addresses at least a page and at most 64 bits"
        }
        if alignment <= 0 || alignment & (alignment - 1) != 0 { return "alignment is \(alignment); it must be a power of two" }
        return nil
    }
}
