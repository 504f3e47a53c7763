//! The threads that run unary calls' engine work, off the async workers.
//!
//! tokio's blocking pool would do, but it wakes its idle threads in turn,
//! the one idle longest first: at a steady rate of calls every thread it
//! ever started (one per call that was in flight at once, twenty and more
//! after a burst) takes a call in turn, each with cold caches and its own
//! allocator heap to fill again. This pool hands a call to the thread that
//! went idle last, so a steady load keeps using the few threads it needs,
//! and the others time out and end.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::Thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::oneshot;
use tracing::warn;

type Job = Box<dyn FnOnce() + Send>;

/// Threads at most, as tokio's blocking pool; calls beyond them queue.
const MAX_THREADS: usize = 512;
/// An idle thread ends after this long without a call (by default).
const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// The work did not finish: it panicked (the panic is on stderr), or no
/// thread could be started for it.
#[derive(Debug, thiserror::Error)]
#[error("the call's worker failed")]
pub struct WorkerFailed;

/// Threads started on demand, reused last-idle-first. Clones share them;
/// the idle threads end once every clone is dropped.
#[derive(Clone)]
pub struct CallPool {
    shared: Arc<Shared>,
    _open: Arc<Open>,
}

struct Shared {
    state: Mutex<State>,
    keep_alive: Duration,
}

#[derive(Default)]
struct State {
    /// Idle threads, the one idle the shortest time last.
    idle: Vec<Arc<Slot>>,
    /// Calls waiting for a thread (only when `MAX_THREADS` are busy).
    queue: VecDeque<Job>,
    threads: usize,
    closed: bool,
}

/// Where an idle thread takes its next call from.
struct Slot {
    job: Mutex<Option<Job>>,
    thread: Thread,
}

/// Closes the pool when the last [`CallPool`] clone is dropped.
struct Open(Arc<Shared>);

impl Drop for Open {
    fn drop(&mut self) {
        let idle = {
            let mut s = self.0.state.lock();
            s.closed = true;
            std::mem::take(&mut s.idle)
        };
        for slot in idle {
            slot.thread.unpark();
        }
    }
}

impl Default for CallPool {
    fn default() -> Self {
        CallPool::new()
    }
}

impl CallPool {
    pub fn new() -> CallPool {
        CallPool::with_keep_alive(KEEP_ALIVE)
    }

    /// A pool whose idle threads end after `keep_alive` without a call.
    pub fn with_keep_alive(keep_alive: Duration) -> CallPool {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            keep_alive,
        });
        CallPool {
            _open: Arc::new(Open(shared.clone())),
            shared,
        }
    }

    /// Runs `f` on a pool thread; its result once done. The work goes on if
    /// the returned future is dropped.
    pub async fn run<T, F>(&self, f: F) -> Result<T, WorkerFailed>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.execute(Box::new(move || {
            let _ = tx.send(f());
        }));
        rx.await.map_err(|_| WorkerFailed)
    }

    fn execute(&self, job: Job) {
        let mut s = self.shared.state.lock();
        if let Some(slot) = s.idle.pop() {
            drop(s);
            *slot.job.lock() = Some(job);
            slot.thread.unpark();
        } else if s.threads < MAX_THREADS {
            s.threads += 1;
            drop(s);
            let shared = self.shared.clone();
            let started = std::thread::Builder::new()
                .name("chaff-call".into())
                .spawn(move || worker(shared, job));
            if let Err(e) = started {
                // The job went with the closure; its caller sees `WorkerFailed`.
                warn!(error = %e, "cannot start a call thread");
                self.shared.state.lock().threads -= 1;
            }
        } else {
            s.queue.push_back(job);
        }
    }
}

fn worker(shared: Arc<Shared>, first: Job) {
    let slot = Arc::new(Slot {
        job: Mutex::new(None),
        thread: std::thread::current(),
    });
    let mut job = first;
    loop {
        // A panicking job drops its result sender, which its caller
        // reports; the thread carries on.
        let _ = catch_unwind(AssertUnwindSafe(job));
        job = {
            let mut s = shared.state.lock();
            if let Some(next) = s.queue.pop_front() {
                next
            } else if s.closed {
                s.threads -= 1;
                return;
            } else {
                s.idle.push(slot.clone());
                drop(s);
                match wait(&shared, &slot) {
                    Some(next) => next,
                    None => return,
                }
            }
        };
    }
}

/// The next job handed to this idle thread, or `None` once it has been
/// idle for the pool's keep-alive or the pool closed (and it is no longer
/// listed).
fn wait(shared: &Shared, slot: &Arc<Slot>) -> Option<Job> {
    let deadline = Instant::now() + shared.keep_alive;
    loop {
        if let Some(job) = slot.job.lock().take() {
            return Some(job);
        }
        let mut s = shared.state.lock();
        let now = Instant::now();
        if now < deadline && !s.closed {
            drop(s);
            std::thread::park_timeout(deadline - now);
            continue;
        }
        if let Some(i) = s.idle.iter().position(|x| Arc::ptr_eq(x, slot)) {
            s.idle.remove(i);
            s.threads -= 1;
            return None;
        }
        if s.closed {
            // Taken off the list by the close: no job is coming.
            s.threads -= 1;
            return None;
        }
        // Taken off the list by a call: its job is being handed over, and
        // the thread is unparked once it is in the slot.
        drop(s);
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Threads that outlive any test, so that counts do not depend on time.
    fn pool() -> CallPool {
        CallPool::with_keep_alive(Duration::from_secs(24 * 3600))
    }

    #[tokio::test]
    async fn runs_calls_and_reuses_the_last_idle_thread() {
        let pool = pool();
        let a = pool.run(|| std::thread::current().id()).await.unwrap();
        // The answer comes just before the thread lists itself idle.
        while pool.shared.state.lock().idle.is_empty() {
            tokio::task::yield_now().await;
        }
        let b = pool.run(|| std::thread::current().id()).await.unwrap();
        assert_eq!(a, b);
        assert_eq!(pool.shared.state.lock().threads, 1);
    }

    #[tokio::test]
    async fn a_panic_is_an_error_and_the_thread_goes_on() {
        let pool = pool();
        let r: Result<(), _> = pool.run(|| panic!("boom")).await;
        assert!(r.is_err());
        while pool.shared.state.lock().idle.is_empty() {
            tokio::task::yield_now().await;
        }
        assert_eq!(pool.run(|| 7).await.unwrap(), 7);
        assert_eq!(pool.shared.state.lock().threads, 1);
    }

    #[tokio::test]
    async fn concurrent_calls_get_threads_of_their_own() {
        let pool = pool();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        // The first call blocks until the second has run: both must be on
        // threads at once.
        let r1 = {
            let rx = rx.clone();
            pool.run(move || rx.lock().unwrap().recv().is_ok())
        };
        let r2 = pool.run(move || tx.send(()).is_ok());
        let (a, b) = tokio::join!(r1, r2);
        assert!(a.unwrap() && b.unwrap());
        assert_eq!(pool.shared.state.lock().threads, 2);
    }

    #[tokio::test]
    async fn idle_threads_end_and_new_calls_start_new_ones() {
        let pool = CallPool::with_keep_alive(Duration::ZERO);
        assert_eq!(pool.run(|| 1).await.unwrap(), 1);
        while pool.shared.state.lock().threads > 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(pool.run(|| 2).await.unwrap(), 2);
    }

    #[tokio::test]
    async fn dropping_the_pool_ends_its_idle_threads() {
        let pool = pool();
        assert_eq!(pool.run(|| 1).await.unwrap(), 1);
        let shared = pool.shared.clone();
        drop(pool);
        while shared.state.lock().threads > 0 {
            tokio::task::yield_now().await;
        }
        assert!(shared.state.lock().closed);
    }
}
