import Logging
import ServiceLifecycle
import UnixSignals

extension ServiceGroup {
    /// A group for a driver's process: `services` shut down gracefully on `SIGTERM` (the service
    /// manager's stop) or `SIGINT` (Ctrl-C); a ``DeviceService`` among them exits at once on a
    /// second one. The group's own events go to `logger`.
    ///
    /// Device services are shut down first, the others after them in reverse order (a metrics
    /// file's last write then sees the device's last figures); a device service that ends by
    /// itself (a surprise removal, the driver's work done), like any other service that ends or
    /// fails, shuts the group down gracefully; the group's `run` throws the first failure.
    /// A device service may end while a stop signal arrives (a removal, and the service
    /// manager stopping the service bound to the device): being shut down first, it is the one
    /// the group waits for, not one that "finished unexpectedly" during another's shutdown.
    public init(stoppingOnSignals services: [any Service], logger: Logger) {
        let devices = services.filter { $0 is DeviceService }
        let others = services.filter { !($0 is DeviceService) }
        // Any service that ends, or fails, shuts the rest down gracefully: a device is stopped in
        // WDF's order whatever ended first.
        let configurations = (others + devices).map {
            ServiceGroupConfiguration.ServiceConfiguration(
                service: $0, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)
        }
        self.init(configuration: .init(services: configurations, gracefulShutdownSignals: DeviceService.stopSignals, logger: logger))
    }
}
