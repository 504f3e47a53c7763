//! Bulk work (the analysis of stream batches) on a fixed pool of threads
//! running at a lower OS priority, so that interactive calls, which run on
//! their callers' threads at normal priority, get the cores first when both
//! want them. Only lock-free work runs here: a low-priority thread never
//! holds the state lock, so it cannot hold up a call waiting for it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use tracing::debug;

type Job = Box<dyn FnOnce() + Send>;

/// Work items handed to a worker at a time, per worker and batch: small
/// enough that the workers end a batch together, large enough that the
/// queue is not the cost.
const CHUNKS_PER_THREAD: usize = 4;

pub struct BulkPool {
    threads: usize,
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl BulkPool {
    /// Starts `threads` workers `nice` steps below the process's priority
    /// (0: at it; niceness stops at 19).
    pub fn new(threads: usize, nice: i32) -> std::io::Result<BulkPool> {
        let threads = threads.max(1);
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut workers = Vec::with_capacity(threads);
        for i in 0..threads {
            let rx = rx.clone();
            workers.push(
                std::thread::Builder::new()
                    .name(format!("chaff-bulk-{i}"))
                    .spawn(move || {
                        lower_priority(nice);
                        loop {
                            let job = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                            let Ok(job) = job else { return };
                            // A panicking job drops its result sender, which
                            // its caller reports; the worker carries on.
                            let _ = catch_unwind(AssertUnwindSafe(job));
                        }
                    })?,
            );
        }
        debug!(threads, nice, "bulk pool started");
        Ok(BulkPool {
            threads,
            tx: Mutex::new(Some(tx)),
            workers: Mutex::new(workers),
        })
    }

    /// `f` over `items` on the pool's threads, results in input order.
    /// Batches from concurrent callers queue behind each other (first come,
    /// first served) instead of all running at once.
    ///
    /// Panics if `f` panics, as a scoped thread's join would.
    pub fn map<T, R, F>(&self, items: Vec<T>, f: F) -> Vec<R>
    where
        T: Send + 'static,
        R: Send + 'static,
        F: Fn(T) -> R + Send + Sync + 'static,
    {
        let n = items.len();
        let chunk = n.div_ceil(self.threads * CHUNKS_PER_THREAD).max(1);
        let f = Arc::new(f);
        let (done_tx, done_rx) = mpsc::channel::<(usize, Vec<R>)>();
        let mut items = items.into_iter();
        let mut chunks = 0;
        {
            let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
            // Taken only by drop, which cannot run while `self` is borrowed.
            let tx = tx.as_ref().expect("bulk pool is open");
            loop {
                let part: Vec<T> = items.by_ref().take(chunk).collect();
                if part.is_empty() {
                    break;
                }
                let (f, done) = (f.clone(), done_tx.clone());
                let index = chunks;
                let job: Job = Box::new(move || {
                    let out = part.into_iter().map(|t| f(t)).collect();
                    let _ = done.send((index, out));
                });
                tx.send(job)
                    .expect("bulk workers outlive the pool's sender");
                chunks += 1;
            }
        }
        drop(done_tx);
        let mut parts: Vec<Option<Vec<R>>> = (0..chunks).map(|_| None).collect();
        for _ in 0..chunks {
            let (i, out) = done_rx.recv().expect("bulk worker panicked");
            parts[i] = Some(out);
        }
        parts.into_iter().flatten().flatten().collect()
    }
}

impl Drop for BulkPool {
    fn drop(&mut self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        for w in std::mem::take(&mut *self.workers.lock().unwrap_or_else(|e| e.into_inner())) {
            let _ = w.join();
        }
    }
}

/// Lowers the calling thread's priority by `nice` steps from the
/// process's own (Linux niceness is per thread; at most 19); a no-op at 0
/// and on other systems.
fn lower_priority(nice: i32) {
    if nice <= 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls on the calling thread (`who` 0 is the
        // calling thread on Linux); errno is cleared first because -1 is
        // also a valid niceness.
        let rc = unsafe {
            *libc::__errno_location() = 0;
            let own = libc::getpriority(libc::PRIO_PROCESS, 0);
            if own == -1 && *libc::__errno_location() != 0 {
                -1
            } else {
                libc::setpriority(libc::PRIO_PROCESS, 0, (own + nice).min(19))
            }
        };
        if rc != 0 {
            tracing::warn!(nice, error = %std::io::Error::last_os_error(), "cannot lower the bulk thread's priority");
        }
    }
    #[cfg(not(target_os = "linux"))]
    debug!(nice, "thread priorities are not set on this system");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_keeps_order_across_chunks_and_callers() {
        let pool = Arc::new(BulkPool::new(3, 5).unwrap());
        let handles: Vec<_> = (0..4)
            .map(|k| {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    let v: Vec<u64> = (0..1000).map(|i| i * k).collect();
                    let out = pool.map(v.clone(), |x| x + 1);
                    assert_eq!(out, v.iter().map(|x| x + 1).collect::<Vec<_>>());
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert!(pool.map(Vec::<u8>::new(), |x| x).is_empty());
    }

    #[test]
    fn a_panicking_job_reaches_the_caller_and_the_pool_carries_on() {
        let pool = Arc::new(BulkPool::new(1, 0).unwrap());
        let p = pool.clone();
        let r = std::thread::spawn(move || p.map(vec![1, 2, 3], |x: i32| assert!(x != 2))).join();
        assert!(r.is_err());
        assert_eq!(pool.map(vec![1, 2], |x| x * 2), vec![2, 4]);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn workers_run_at_the_given_niceness() {
        // SAFETY: reads the calling thread's own priority.
        let niceness = || unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let own = niceness();
        let pool = BulkPool::new(2, 7).unwrap();
        let nice = pool.map(vec![(); 8], move |_| niceness());
        assert!(
            nice.iter().all(|&n| n == (own + 7).min(19)),
            "{own}: {nice:?}"
        );
        assert_eq!(niceness(), own, "the caller's priority is unchanged");
    }
}
