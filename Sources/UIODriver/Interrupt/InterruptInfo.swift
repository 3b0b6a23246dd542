import UIO

/// What is known about an interrupt's line (`WDF_INTERRUPT_INFO`, `WdfInterruptGetInfo`).
public struct InterruptInfo: Sendable, Hashable {
    /// `KINTERRUPT_MODE`.
    public enum Mode: Sendable, Hashable {
        /// `LevelSensitive`: asserted until acknowledged at the device.
        case levelSensitive
        /// `Latched`: edge-triggered.
        case latched
        /// The kernel did not say.
        case unknown
    }

    /// `KINTERRUPT_POLARITY`.
    public enum Polarity: Sendable, Hashable {
        /// Asserted high.
        case activeHigh
        /// Asserted low (PCI INTx).
        case activeLow
        /// The kernel did not say.
        case unknown
    }

    /// `CM_SHARE_DISPOSITION`.
    public enum ShareDisposition: Sendable, Hashable {
        /// The line is the device's alone.
        case deviceExclusive
        /// Other devices share the line.
        case shared
        /// Not known.
        case undetermined
    }

    /// `Vector`: the Linux interrupt number: the parent's `device/irq`, or the `/proc/interrupts`
    /// line registered under the device's name (a platform device).
    public let vector: Int?
    /// `MessageSignaled`: whether the vector is an MSI or MSI-X message (VFIO); a UIO line is not.
    public let messageSignaled: Bool
    /// `MessageNumber`: the message's number among the device's; 0 for a line.
    public let messageNumber: UInt32
    /// `Mode`.
    public let mode: Mode
    /// `Polarity`.
    public let polarity: Polarity
    /// `ShareDisposition`.
    public let shareDisposition: ShareDisposition
    /// `TargetProcessorSet`: the CPUs the kernel may deliver the interrupt to.
    public let targetProcessors: [Int]
    /// `Group`: always 0.
    public let group: UInt16

    /// Information about a line (`messageNumber` nil) or a message.
    public init(vector: Int?, mode: Mode, polarity: Polarity, shareDisposition: ShareDisposition, targetProcessors: [Int],
                messageNumber: UInt32? = nil) {
        self.vector = vector
        self.messageSignaled = messageNumber != nil
        self.messageNumber = messageNumber ?? 0
        self.mode = mode
        self.polarity = polarity
        self.shareDisposition = shareDisposition
        self.targetProcessors = targetProcessors
        self.group = 0
    }

    /// Combines what the bus implies with what `/proc` says about the vector.
    static func describe(_ description: InterruptDescription) -> InterruptInfo {
        let kernel = description.kernel
        switch description.kind {
        case .message(let number):
            // A message is an edge no other device shares.
            return InterruptInfo(vector: description.irq, mode: .latched, polarity: .unknown, shareDisposition: .deviceExclusive,
                                 targetProcessors: kernel?.affinity ?? [], messageNumber: number)
        case .line(sharedPCIINTx: true):
            return InterruptInfo(vector: description.irq, mode: .levelSensitive, polarity: .activeLow, shareDisposition: .shared,
                                 targetProcessors: kernel?.affinity ?? [])
        case .line(sharedPCIINTx: false):
            let mode: Mode = switch kernel?.trigger {
            case .level: .levelSensitive
            case .edge: .latched
            default: .unknown
            }
            let share: ShareDisposition = switch kernel?.handlers.count {
            case .none: .undetermined
            case 1: .deviceExclusive
            default: .shared
            }
            return InterruptInfo(vector: description.irq, mode: mode, polarity: .unknown, shareDisposition: share,
                                 targetProcessors: kernel?.affinity ?? [])
        }
    }
}
