/// A UIO device coming or going, as a uevent reported it.
public struct HotplugEvent: Sendable, Hashable {
    /// The uevent's action.
    public enum Action: Sendable, Hashable, CustomStringConvertible {
        /// The kernel's uevent actions.
        case add, remove, change, move, bind, unbind
        /// An action this type does not name.
        case other(String)

        init(_ text: String) {
            switch text {
            case "add": self = .add
            case "remove": self = .remove
            case "change": self = .change
            case "move": self = .move
            case "bind": self = .bind
            case "unbind": self = .unbind
            default: self = .other(text)
            }
        }

        /// The status and the reason, for people.
        public var description: String {
            switch self {
            case .add: "add"
            case .remove: "remove"
            case .change: "change"
            case .move: "move"
            case .bind: "bind"
            case .unbind: "unbind"
            case .other(let text): text
            }
        }
    }

    /// What happened.
    public let action: Action
    /// N in `uioN`, when the name says.
    public let number: Int?
    /// The device's sysfs path.
    public let sysPath: String
    /// `/dev/uioN`, from the event's `DEVNAME`.
    public let devicePath: String?
    /// The device as discovery describes it, for an event after which it is still there (`add`,
    /// `change`); `nil` for `remove`, or if it vanished before it could be read.
    public let device: UIODevice?

    /// An event, as the monitor reports it.
    public init(action: Action, number: Int?, sysPath: String, devicePath: String?, device: UIODevice?) {
        self.action = action
        self.number = number
        self.sysPath = sysPath
        self.devicePath = devicePath
        self.device = device
    }
}
