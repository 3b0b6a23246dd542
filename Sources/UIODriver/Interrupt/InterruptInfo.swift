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
    /// `MessageSignaled`: always `false`; UIO delivers a legacy interrupt.
    public let messageSignaled: Bool
    /// `MessageNumber`: always 0; UIO offers one vector per device.
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

    /// Information about a line; message-signaled is always false on UIO.
    public init(vector: Int?, mode: Mode, polarity: Polarity, shareDisposition: ShareDisposition, targetProcessors: [Int]) {
        self.vector = vector
        self.messageSignaled = false
        self.messageNumber = 0
        self.mode = mode
        self.polarity = polarity
        self.shareDisposition = shareDisposition
        self.targetProcessors = targetProcessors
        self.group = 0
    }

    /// Combines what the bus implies with what `/proc` says about the line.
    static func describe(_ device: UIODevice, kernel: KernelIRQ?) -> InterruptInfo {
        let irq = device.parent?.irq ?? kernel?.number
        if device.parent?.interruptLineRequest == .sharedPCIINTx {
            return InterruptInfo(vector: irq, mode: .levelSensitive, polarity: .activeLow, shareDisposition: .shared,
                                 targetProcessors: kernel?.affinity ?? [])
        }
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
        return InterruptInfo(vector: irq, mode: mode, polarity: .unknown, shareDisposition: share, targetProcessors: kernel?.affinity ?? [])
    }
}
