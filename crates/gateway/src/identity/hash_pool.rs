//! The password-hashing threads: `auth.hash_workers` OS threads of their own, at the lowest CPU
//! priority the kernel offers a thread (nice 19 on Linux), so a sign-in storm — a credential
//! stuffing run — spends only the CPU that proxied traffic leaves idle. Guarantees: at most
//! `threads` hashes run at once (callers queue behind the identity's semaphore, bounded by
//! `auth.hash_queue_timeout`); a job that panics answers `None` and leaves its thread serving; the
//! threads end when the pool is dropped. Where the priority cannot be lowered (another OS, a
//! sandbox that forbids it) the threads run at normal priority and say so once in the log.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// The nice value of the hashing threads: the lowest priority.
pub const HASH_NICE: i32 = 19;

/// A fixed set of low-priority threads running hashing jobs in arrival order.
pub struct HashPool {
    jobs: mpsc::Sender<Job>,
}

impl HashPool {
    /// Starts `threads` threads named `palisade-hash-N`.
    pub fn start(threads: usize) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("palisade-hash-{n}"))
                .spawn(move || serve(&queue, n == 0))?;
        }
        Ok(Self { jobs })
    }

    /// Runs `work` on a hashing thread; `None` when it panicked.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = answer.send(work());
        });
        self.jobs.send(job).ok()?;
        answered.await.ok()
    }
}

fn serve(queue: &Mutex<mpsc::Receiver<Job>>, report: bool) {
    if let Err(e) = lower_priority()
        && report
    {
        tracing::warn!(error = %e, "password hashing runs at normal CPU priority: cannot lower it");
    }
    loop {
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let _ = catch_unwind(AssertUnwindSafe(job));
    }
}

/// On Linux the nice value belongs to the thread: `setpriority(PRIO_PROCESS, 0, …)` sets the
/// calling thread's.
fn lower_priority() -> std::io::Result<()> {
    rustix::process::setpriority_process(None, HASH_NICE).map_err(std::io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_named_threads_at_the_lowest_priority() {
        let pool = HashPool::start(2).unwrap();
        let (name, nice) = pool
            .run(|| {
                let name = std::thread::current().name().map(str::to_owned);
                (name, rustix::process::getpriority_process(None).unwrap())
            })
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("palisade-hash-"));
        assert_eq!(nice, HASH_NICE);
    }

    #[tokio::test]
    async fn a_panicking_job_answers_none_and_the_thread_keeps_serving() {
        let pool = HashPool::start(1).unwrap();
        assert_eq!(pool.run(|| -> u8 { panic!("boom") }).await, None);
        assert_eq!(pool.run(|| 7).await, Some(7));
    }
}
