import Logging
import ServiceLifecycle
import UnixSignals

extension ServiceGroup {
    /// A group for a driver's process: `services` shut down gracefully, in reverse order, on
    /// `SIGTERM` (the service manager's stop) or `SIGINT` (Ctrl-C); a ``DeviceService`` among them
    /// exits at once on a second one. The group's own events go to `logger`.
    public init(stoppingOnSignals services: [any Service], logger: Logger) {
        self.init(configuration: .init(
            services: services.map { .init(service: $0) }, gracefulShutdownSignals: DeviceService.stopSignals, logger: logger))
    }
}
