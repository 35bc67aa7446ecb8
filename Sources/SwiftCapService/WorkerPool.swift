import Dispatch
import Foundation
import SwiftCapTensor

/// A fixed set of worker threads, each with its own `Device`, fed by a bounded FIFO queue.
///
/// Inference is blocking CPU work, so it runs on dedicated threads rather than Swift's cooperative pool;
/// callers `await` the result. A submission to a full queue fails at once (`ServiceError.queueFull`), and
/// one not finished by its deadline fails with `ServiceError.timeout` (a job whose deadline has passed
/// while it waited is dropped unrun). Memory is bounded by `workers + capacity` jobs.
public final class WorkerPool: @unchecked Sendable {
    public let workers: Int
    public let capacity: Int
    private let condition = NSCondition()
    private var queue: [Job] = []
    private var head = 0
    private var accepting = true
    private var stopping = false
    private var busy = 0
    private var threads: [Thread] = []
    private var exited = 0
    private let observer: (@Sendable (_ depth: Int, _ busy: Int) -> Void)?

    /// `threadsPerWorker` is each worker's `Device(threads:)`. `observer` is told the queue depth and the
    /// number of busy workers whenever they change (for metrics); it is called under the pool's lock, so it
    /// must be quick and must not call back into the pool.
    public init(workers: Int, threadsPerWorker: Int, capacity: Int,
                observer: (@Sendable (_ depth: Int, _ busy: Int) -> Void)? = nil) {
        self.workers = max(1, workers)
        self.capacity = max(0, capacity)
        self.observer = observer
        for i in 0..<self.workers {
            let device = Device(threads: max(1, threadsPerWorker))
            let thread = Thread { self.loop(device: device) }  // the pool lives until shutdown()
            thread.name = "capworker-\(i)"  // ≤ 15 characters: Linux thread names (top -H)
            thread.stackSize = 8 << 20
            threads.append(thread)
        }
        threads.forEach { $0.start() }
    }

    /// Jobs waiting (not yet picked up by a worker).
    public var depth: Int {
        condition.lock(); defer { condition.unlock() }
        return queue.count - head
    }

    /// True when a submission now would be rejected (every worker busy and the queue full): lets a handler
    /// answer 503 before reading a request body.
    public var isFull: Bool {
        condition.lock(); defer { condition.unlock() }
        return queue.count - head >= capacity + max(0, workers - busy)
    }

    /// Runs `work` on a worker with that worker's `Device`.
    public func run<T: Sendable>(timeout: Double?, _ work: @escaping @Sendable (Device) throws -> T) async throws -> T {
        let once = ResumeOnce<T>()
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            once.set(continuation)
            let job = Job(isDone: { once.isDone }) { device in
                once.resume(Result { try work(device) })
            }
            condition.lock()
            if !accepting {
                condition.unlock()
                once.resume(.failure(ServiceError.shuttingDown()))
                return
            }
            if queue.count - head >= capacity + max(0, workers - busy) {
                condition.unlock()
                once.resume(.failure(ServiceError.queueFull(depth: capacity)))
                return
            }
            queue.append(job)
            observer?(queue.count - head, busy)  // under the lock, so updates reach the gauges in order
            condition.signal()
            condition.unlock()
            if let timeout {
                DispatchQueue.global().asyncAfter(deadline: .now() + max(0, timeout)) {
                    once.resume(.failure(ServiceError.timeout(seconds: timeout)))
                }
            }
        }
    }

    /// Stops accepting work, lets the workers finish every queued job, and waits for the threads to end.
    public func shutdown() {
        condition.lock()
        accepting = false
        stopping = true
        condition.broadcast()
        while exited < threads.count { condition.wait() }
        condition.unlock()
    }

    private func loop(device: Device) {
        while true {
            condition.lock()
            while head == queue.count && !stopping { condition.wait() }
            if head == queue.count {
                exited += 1
                condition.broadcast()
                condition.unlock()
                return
            }
            let job = queue[head]
            head += 1
            if head > 64 && head * 2 > queue.count {
                queue.removeFirst(head)
                head = 0
            }
            busy += 1
            observer?(queue.count - head, busy)
            condition.unlock()
            // A job whose caller already gave up (deadline) is dropped without running.
            if !job.isDone() { job.body(device) }
            condition.lock()
            busy -= 1
            observer?(queue.count - head, busy)
            condition.unlock()
        }
    }

    private final class Job: @unchecked Sendable {
        let isDone: () -> Bool
        let body: (Device) -> Void
        init(isDone: @escaping () -> Bool, body: @escaping (Device) -> Void) {
            self.isDone = isDone
            self.body = body
        }
    }
}

/// Resumes a continuation exactly once: the worker's result and the deadline race for it.
final class ResumeOnce<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<T, Error>?
    private var done = false
    private var pending: Result<T, Error>?

    func set(_ c: CheckedContinuation<T, Error>) {
        lock.lock()
        if let pending {
            lock.unlock()
            c.resume(with: pending)
            return
        }
        continuation = c
        lock.unlock()
    }

    var isDone: Bool {
        lock.lock(); defer { lock.unlock() }
        return done
    }

    func resume(_ result: Result<T, Error>) {
        lock.lock()
        guard !done else { lock.unlock(); return }
        done = true
        guard let c = continuation else {
            pending = result
            lock.unlock()
            return
        }
        continuation = nil
        lock.unlock()
        c.resume(with: result)
    }
}
