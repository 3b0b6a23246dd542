import UIOPlatform
import SystemPackage

/// Which of a VFIO device's interrupt indexes its interrupt objects use: one at a time, as the
/// kernel allows.
public enum VFIOInterruptMode: Sendable, Hashable {
    /// MSI-X if the device has it, else MSI, else INTx.
    case automatic
    /// The legacy line, even where the device has messages.
    case intx
    /// MSI, even where the device has MSI-X.
    case msi
}

/// A VFIO device's interrupt vectors: which index is in use, and which of its vectors signal an
/// eventfd now.
///
/// MSI and MSI-X indexes cannot grow once enabled (`VFIO_IRQ_INFO_NORESIZE`), so the first vector
/// connected enables all of them at once, the others signalling nothing (fd −1) until they are
/// connected. A vector is attached to its eventfd and detached again (fd −1: the kernel frees the
/// vector's handler, `free_irq`, and adds nothing to the eventfd from then on) one `SET_IRQS` at
/// a time. The index is disabled when its last vector is closed.
final class VFIOInterrupts: Sendable {
    let index: VFIOInterruptIndex?
    /// How many vectors the index has.
    let count: Int
    /// Whether the kernel masks the line at each interrupt (INTx): it is unmasked to re-arm.
    let automasked: Bool
    /// Whether a vector is detached to disable it: where freeing its handler masks it (MSI-X,
    /// single-message MSI with per-vector masking). Other MSI vectors stay attached: once one is
    /// freed, the kernel clears the message address (which all of an MSI's vectors share), and a
    /// message the device sends then is a DMA write to address 0 that the IOMMU faults, the
    /// interrupt lost.
    let detachesToDisable: Bool
    let device: SharedDescriptor
    let name: String

    private struct State {
        var indexEnabled = false
        /// Each vector's eventfd while it is attached.
        var attached: [Int32?]
        /// Vectors with an open source.
        var open: Set<Int> = []
        /// Vectors the kernel enabled: all of them unless it was short.
        var granted = Int.max
    }
    private let state: Locked<State>

    init(device: SharedDescriptor, name: String, infos: [VFIOInterruptIndex: VFIOIRQInfo], mode: VFIOInterruptMode,
         msiMasksPerVector: Bool) {
        let count = { (index: VFIOInterruptIndex) in Int(infos[index]?.count ?? 0) }
        let index: VFIOInterruptIndex? = switch mode {
        case .automatic: count(.msix) > 0 ? .msix : count(.msi) > 0 ? .msi : count(.intx) > 0 ? .intx : nil
        case .intx: count(.intx) > 0 ? .intx : nil
        case .msi: count(.msi) > 0 ? .msi : nil
        }
        self.index = index
        self.count = index.map(count) ?? 0
        self.automasked = index == .intx
        // Multi-message MSI shares one address among its vectors: freeing one clears them all.
        self.detachesToDisable = index == .msix || (index == .msi && msiMasksPerVector && count(.msi) == 1)
        self.device = device
        self.name = name
        self.state = Locked(State(attached: Array(repeating: nil, count: index.map(count) ?? 0)))
    }

    /// The kernel's name for vector `vector`'s interrupt in `/proc/interrupts`:
    /// `vfio-msix[3](0000:00:10.0)`, `vfio-intx(0000:00:10.0)`.
    func kernelName(vector: Int, slot: String) -> String? {
        switch index {
        case .msix?: "vfio-msix[\(vector)](\(slot))"
        case .msi?: "vfio-msi[\(vector)](\(slot))"
        case .intx?: "vfio-intx(\(slot))"
        default: nil
        }
    }

    /// Registers vector `vector`'s source and attaches it to `eventfd`.
    func open(vector: Int, eventfd: Int32) throws(UIOError) {
        guard let index, (0..<count).contains(vector) else {
            throw UIOError(.noSuchRegion, subject: name, reason: "has no interrupt vector \(vector); it has \(count)",
                           advice: count == 0 ? "the device raises no interrupt VFIO can deliver" : "use a vector below \(count)")
        }
        try state.withLock { (state: inout State) throws(UIOError) in
            guard !state.open.contains(vector) else {
                throw UIOError(.deviceBusy, subject: name, reason: "vector \(vector) already has a source open")
            }
            try attach(vector, eventfd: eventfd, index: index, state: &state)
            state.open.insert(vector)
        }
    }

    /// Attaches vector `vector` to `eventfd` again (after ``detach(vector:)``).
    func reattach(vector: Int, eventfd: Int32) throws(UIOError) {
        guard let index else { return }
        try state.withLock { (state: inout State) throws(UIOError) in
            guard state.open.contains(vector), state.attached[vector] == nil else { return }
            try attach(vector, eventfd: eventfd, index: index, state: &state)
        }
    }

    /// Detaches vector `vector` from its eventfd: once this returns, the kernel runs no handler of
    /// the vector and signals nothing (`free_irq` waits for a running one).
    func detach(vector: Int) throws(UIOError) {
        guard let index else { return }
        try state.withLock { (state: inout State) throws(UIOError) in
            guard state.attached[vector] != nil else { return }
            try setIRQs(flags: VFIOConstant.dataEventfd | VFIOConstant.actionTrigger, index: index, start: vector, count: 1, fds: [-1])
            state.attached[vector] = nil
        }
    }

    /// Turns the index off (the handle is closing): no vector signals from now on.
    func disableIndex() {
        guard let index else { return }
        state.withLock { state in
            guard state.indexEnabled else { return }
            try? setIRQs(flags: VFIOConstant.dataNone | VFIOConstant.actionTrigger, index: index, start: 0, count: 0)
            state.indexEnabled = false
            state.granted = .max
            state.attached = state.attached.map { _ in nil }
        }
    }

    /// Closes vector `vector`'s source: detached, and the index disabled after its last one.
    /// Errors are ignored: the device may be closed or gone, which disabled everything.
    func close(vector: Int) {
        guard let index else { return }
        state.withLock { state in
            guard state.open.remove(vector) != nil else { return }
            if state.open.isEmpty && state.indexEnabled {
                try? setIRQs(flags: VFIOConstant.dataNone | VFIOConstant.actionTrigger, index: index, start: 0, count: 0)
                state.indexEnabled = false
                state.granted = .max
                state.attached = state.attached.map { _ in nil }
            } else if state.attached[vector] != nil {
                try? setIRQs(flags: VFIOConstant.dataEventfd | VFIOConstant.actionTrigger, index: index, start: vector, count: 1, fds: [-1])
                state.attached[vector] = nil
            }
        }
    }

    private func attach(_ vector: Int, eventfd: Int32, index: VFIOInterruptIndex, state: inout State) throws(UIOError) {
        guard vector < state.granted else {
            throw UIOError(.notSupported, subject: name, reason: "the kernel enabled \(state.granted) of the device's \(count) \(index) vectors, not vector \(vector)",
                           advice: "the system is short of interrupt vectors (or has no interrupt remapping): use fewer interrupt objects")
        }
        if state.indexEnabled {
            try setIRQs(flags: VFIOConstant.dataEventfd | VFIOConstant.actionTrigger, index: index, start: vector, count: 1, fds: [eventfd])
        } else {
            // The whole index at once: it cannot grow later. A kernel short of vectors says how
            // many it can give (vfio_msi_enable): then that many.
            var fds = state.attached.map { $0 ?? -1 }
            fds[vector] = eventfd
            var granted = count
            while true {
                var argument = VFIOIRQSet.argument(flags: VFIOConstant.dataEventfd | VFIOConstant.actionTrigger, index: index, start: 0,
                                                   count: UInt32(granted), fds: Array(fds.prefix(granted)))
                let available = try setIRQsAllowingFewer(&argument, what: "\(index) vectors 0..<\(granted)")
                if available == 0 { break }
                guard available > vector, available < granted else {
                    throw UIOError(.notSupported, subject: name, reason: "the kernel can enable only \(available) of the device's \(count) \(index) vectors, not vector \(vector)",
                                   advice: "the system is short of interrupt vectors (or has no interrupt remapping): use fewer interrupt objects")
                }
                granted = available
            }
            state.granted = granted
            state.indexEnabled = true
        }
        state.attached[vector] = eventfd
    }

    /// `VFIO_DEVICE_SET_IRQS`. A positive answer means the kernel enabled fewer vectors than asked.
    func setIRQs(flags: UInt32, index: VFIOInterruptIndex, start: Int, count: Int, fds: [Int32] = []) throws(UIOError) {
        var argument = VFIOIRQSet.argument(flags: flags, index: index, start: UInt32(start), count: UInt32(count), fds: fds)
        try setIRQs(&argument, what: "\(index) vectors \(start)..<\(start + count)")
    }

    /// `VFIO_DEVICE_SET_IRQS` with a prepared argument (the per-interrupt INTx unmask).
    func setIRQs(_ argument: inout VFIOArgument, what: @autoclosure () -> String) throws(UIOError) {
        let available = try setIRQsAllowingFewer(&argument, what: what())
        guard available == 0 else {
            throw UIOError(.systemCall, subject: name, reason: "VFIO_DEVICE_SET_IRQS for \(what()): the kernel could enable only \(available) vectors")
        }
    }

    /// `VFIO_DEVICE_SET_IRQS`: 0, or how many vectors the kernel could enable when fewer than asked.
    private func setIRQsAllowingFewer(_ argument: inout VFIOArgument, what: @autoclosure () -> String) throws(UIOError) -> Int {
        let result = try device.withDescriptor { fd throws(UIOError) in
            argument.withPointer { device.system.ioctl(fd, VFIORequest.deviceSetIRQs, $0) }
        }
        switch result {
        case .success(let available): return Int(available)
        case .failure(.operationNotSupportedByDevice):
            // vfio_intx_enable: the device has no interrupt line routed to it.
            throw UIOError(.notSupported, subject: name, reason: "VFIO_DEVICE_SET_IRQS for \(what()): the device has no interrupt line routed (its irq is 0)",
                           errno: .operationNotSupportedByDevice, advice: "use its MSI or MSI-X vectors, or poll its registers")
        case .failure(let errno):
            throw UIOError(.systemCall, subject: name, reason: "VFIO_DEVICE_SET_IRQS for \(what()) failed", errno: errno)
        }
    }
}
