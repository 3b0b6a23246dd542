import SystemPackage

extension SystemCalls {
    /// The same calls, each counted on the calling thread (``OperationCounts``) in debug builds:
    /// a simulation's seam made this way shows how many system calls the real path makes.
    package func countingEachCall() -> SystemCalls {
        let base = self
        var calls = self
        calls.open = { OperationCounts.countSystemCall(); return base.open($0, $1) }
        calls.close = { OperationCounts.countSystemCall(); return base.close($0) }
        calls.flock = { OperationCounts.countSystemCall(); return base.flock($0, $1) }
        calls.fileSize = { OperationCounts.countSystemCall(); return base.fileSize($0) }
        calls.pread = { OperationCounts.countSystemCall(); return base.pread($0, $1, $2) }
        calls.pwrite = { OperationCounts.countSystemCall(); return base.pwrite($0, $1, $2) }
        calls.readCount = { OperationCounts.countSystemCall(); return base.readCount($0) }
        calls.writeControl = { OperationCounts.countSystemCall(); return base.writeControl($0, $1) }
        calls.pollPair = { OperationCounts.countSystemCall(); return base.pollPair($0, $1, $2) }
        calls.pollRemoval = { OperationCounts.countSystemCall(); return base.pollRemoval($0, $1) }
        calls.eventfdCreate = { OperationCounts.countSystemCall(); return base.eventfdCreate() }
        calls.eventfdSignal = { OperationCounts.countSystemCall(); return base.eventfdSignal($0) }
        calls.eventfdDrain = { OperationCounts.countSystemCall(); return base.eventfdDrain($0) }
        calls.fileStatus = { OperationCounts.countSystemCall(); return base.fileStatus($0) }
        calls.pathStatus = { OperationCounts.countSystemCall(); return base.pathStatus($0) }
        calls.duplicate = { OperationCounts.countSystemCall(); return base.duplicate($0) }
        calls.readLink = { OperationCounts.countSystemCall(); return base.readLink($0) }
        calls.listDirectory = { OperationCounts.countSystemCall(); return base.listDirectory($0) }
        calls.mmap = { OperationCounts.countSystemCall(); return base.mmap($0, $1, $2) }
        calls.munmap = { OperationCounts.countSystemCall(); return base.munmap($0, $1) }
        calls.createDMAFile = { OperationCounts.countSystemCall(); return base.createDMAFile($0) }
        calls.resizeFile = { OperationCounts.countSystemCall(); return base.resizeFile($0, $1) }
        calls.populateDMAMemory = { OperationCounts.countSystemCall(); return base.populateDMAMemory($0, $1) }
        return calls
    }
}
