import UIO

/// The framework's errors, one case per WDF status that has a meaning here.
///
/// | WDF status | ``Status`` |
/// |---|---|
/// | `STATUS_INVALID_PARAMETER` | ``Status/invalidParameter`` |
/// | `STATUS_INVALID_DEVICE_STATE` | ``Status/invalidDeviceState`` |
/// | `STATUS_INSUFFICIENT_RESOURCES` | ``Status/insufficientResources`` |
/// | `STATUS_WDF_PARENT_ASSIGNMENT_NOT_ALLOWED` | ``Status/parentAssignmentNotAllowed`` |
/// | `STATUS_WDF_INCOMPATIBLE_EXECUTION_LEVEL` | ``Status/incompatibleExecutionLevel`` |
/// | `STATUS_NOT_SUPPORTED` | ``Status/notSupported`` |
/// | any failure of the device layer | ``Status/deviceError`` (with ``underlying``) |
/// | a driver callback that failed | ``Status/callbackFailed`` |
///
/// `STATUS_INFO_LENGTH_MISMATCH` has no counterpart: WDF returns it when a config struct's
/// `Size` does not match the framework's, and Swift value types carry no size field.
public struct DriverError: Error, Sendable, CustomStringConvertible {
    /// Which WDF status this is.
    public enum Status: Sendable, Hashable {
        /// `STATUS_INVALID_PARAMETER`: the config breaks a rule.
        case invalidParameter
        /// `STATUS_INVALID_DEVICE_STATE`: not allowed in the device's current state.
        case invalidDeviceState
        /// `STATUS_INSUFFICIENT_RESOURCES`: no vector or thread to be had.
        case insufficientResources
        /// `STATUS_WDF_PARENT_ASSIGNMENT_NOT_ALLOWED`: the parent is not a device or queue.
        case parentAssignmentNotAllowed
        /// `STATUS_WDF_INCOMPATIBLE_EXECUTION_LEVEL`: the callback cannot be serialized at the parent's level.
        case incompatibleExecutionLevel
        /// `STATUS_NOT_SUPPORTED`: UIO cannot do what was asked.
        case notSupported
        /// `STATUS_ACCESS_DENIED`: the process lacks a privilege the config asks for.
        case accessDenied
        /// The device layer failed; see ``DriverError/underlying``.
        case deviceError
        /// A driver callback threw; see ``DriverError/callbackError``.
        case callbackFailed
    }

    /// Which WDF status this is.
    public let status: Status
    /// Why, in terms of what the caller did.
    public let reason: String
    /// The device layer's error, for ``Status/deviceError``.
    public let underlying: UIOError?
    /// The error a driver callback threw, for ``Status/callbackFailed``.
    public let callbackError: (any Error)?

    /// An error with WDF status `status`, a reason, and what caused it.
    public init(_ status: Status, _ reason: String, underlying: UIOError? = nil, callbackError: (any Error)? = nil) {
        self.status = status
        self.reason = reason
        self.underlying = underlying
        self.callbackError = callbackError
    }

    /// Wraps a device-layer failure.
    public static func device(_ error: UIOError, while doing: String) -> DriverError {
        DriverError(.deviceError, "\(doing): \(error)", underlying: error)
    }

    /// The status and the reason, for people.
    public var description: String {
        let name = switch status {
        case .invalidParameter: "STATUS_INVALID_PARAMETER"
        case .invalidDeviceState: "STATUS_INVALID_DEVICE_STATE"
        case .insufficientResources: "STATUS_INSUFFICIENT_RESOURCES"
        case .parentAssignmentNotAllowed: "STATUS_WDF_PARENT_ASSIGNMENT_NOT_ALLOWED"
        case .incompatibleExecutionLevel: "STATUS_WDF_INCOMPATIBLE_EXECUTION_LEVEL"
        case .notSupported: "STATUS_NOT_SUPPORTED"
        case .accessDenied: "STATUS_ACCESS_DENIED"
        case .deviceError: "device error"
        case .callbackFailed: "callback failed"
        }
        return "\(name): \(reason)"
    }
}
