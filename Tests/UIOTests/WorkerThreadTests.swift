import Dispatch
import Synchronization
import Testing
import UIOPlatform

/// The one worker under DPCs, work items and queues.
@Suite("Worker thread")
struct WorkerThreadTests {
    @Test("jobs run one at a time, in the order submitted; stop runs what was submitted and refuses more")
    func fifo() throws {
        let worker = try WorkerThread(name: "test-fifo")
        let ran = Locked<[Int]>([])
        for index in 0..<100 { #expect(worker.submit { ran.withLock { $0.append(index) } }) }
        worker.stop()
        #expect(ran.withLock { $0 } == Array(0..<100))
        #expect(!worker.submit {})
    }

    @Test("the standing job: a request waiting to start is not made twice; one made while it runs runs it once more")
    func coalescing() throws {
        let started = DispatchSemaphore(value: 0)
        let gate = DispatchSemaphore(value: 0)
        let runs = Atomic<Int>(0)
        let worker = try WorkerThread(name: "test-coalesce", standingJob: {
            if runs.add(1, ordering: .relaxed).newValue == 1 {
                started.signal()
                gate.wait()
            }
        })
        #expect(worker.requestStandingJob())
        #expect(started.wait(timeout: .now() + 10) == .success)
        #expect(worker.requestStandingJob(), "the first run has started: another is accepted")
        #expect(!worker.requestStandingJob(), "one is already waiting to start")
        gate.signal()
        worker.stop()
        #expect(runs.load(ordering: .relaxed) == 2)
    }

    @Test("each job runs inside what the worker was given")
    func around() throws {
        let inside = Locked(false)
        let seen = Locked<[Bool]>([])
        let worker = try WorkerThread(name: "test-around", around: { job in
            inside.withLock { $0 = true }
            job()
            inside.withLock { $0 = false }
        })
        for _ in 0..<3 { worker.submit { seen.withLock { $0.append(inside.withLock { $0 }) } } }
        worker.stop()
        #expect(seen.withLock { $0 } == [true, true, true])
    }

    @Test("a worker starts again after stop; each run reads the stamp of the request it answers")
    func restartAndStamps() throws {
        let stamps = Locked<[UInt64]>([])
        let worker = WorkerThread()
        #expect(!worker.requestStandingJob(stamp: 1), "refused before the first start")
        for round in 1...3 {
            try worker.start(name: "test-restart", standingJob: { [unowned worker] in
                stamps.withLock { $0.append(worker.stampOfCurrentRun) }
            })
            #expect(worker.requestStandingJob(stamp: UInt64(round * 10)))
            worker.stop()
            #expect(!worker.requestStandingJob(stamp: 99), "refused after stop")
        }
        #expect(stamps.withLock { $0 } == [10, 20, 30])
    }
}
