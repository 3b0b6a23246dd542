import CUIOShim
import SystemPackage

/// The system's page size: the unit of every mapping.
package let pageSize = Int(cuio_page_size())

/// A new anonymous memory file (`memfd_create`, close-on-exec): stands in for device memory in
/// simulations.
package func createMemoryFile(name: String) -> Result<Int32, Errno> {
    let fd = cuio_memfd_create(name)
    return fd >= 0 ? .success(fd) : .failure(Errno(rawValue: -fd))
}
