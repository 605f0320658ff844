//! Where the install's CPU- and disk-bound work runs: verifying and unpacking archives and
//! writing owner pins go to the blocking pool of the fetcher's tokio runtime, a bounded number
//! at a time, instead of threads of the install's own. One runtime then carries the network
//! requests (its worker threads) and the file work (its blocking pool), and an archive is
//! checked as soon as it has arrived, while the others are still downloading.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// A bounded group of blocking tasks on a runtime's blocking pool.
#[derive(Clone)]
pub(super) struct Pool {
    handle: Handle,
    permits: Arc<Semaphore>,
    /// Each task runs on a thread of its own at a lower scheduling priority
    /// ([`Pool::background`]) while this is set ([`Pool::foreground`]).
    background: Arc<std::sync::atomic::AtomicBool>,
}

/// A task started by [`Pool::spawn`]; [`Pool::join`] waits for it (`None`: it panicked).
pub(super) type Task<T> = JoinHandle<Option<T>>;

/// How much lower the priority of a background task's thread is (a `nice` increment; Linux
/// only, where niceness is per thread).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
const BACKGROUND_NICENESS: libc::c_int = 10;

impl Pool {
    /// A pool running at most `limit` tasks at once on `handle`'s blocking pool. `handle` must
    /// be a multi-thread runtime's: [`Pool::join`] waits from outside it, and only a runtime's
    /// own worker threads then run the tasks that wait for a slot.
    pub(super) fn new(handle: Handle, limit: usize) -> Pool {
        Pool {
            handle,
            permits: Arc::new(Semaphore::new(limit.max(1))),
            background: Arc::default(),
        }
    }

    /// [`Pool::new`] for work that should not compete with the command's critical path: each
    /// task runs on a thread of its own whose scheduling priority is lowered first, so that on
    /// a busy machine the requests and the resolution (on the runtime and the command's
    /// thread) get the CPU before it. For the archives prepared while resolving.
    pub(super) fn background(handle: Handle, limit: usize) -> Pool {
        let pool = Pool::new(handle, limit);
        pool.background.store(true, Ordering::Relaxed);
        pool
    }

    /// From now on, tasks that start (those waiting for a slot included) run at the normal
    /// priority: the command is waiting for them.
    pub(super) fn foreground(&self) {
        self.background.store(false, Ordering::Relaxed);
    }

    /// Starts `f` as soon as a slot is free. May be called from inside or outside the runtime.
    pub(super) fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Task<T> {
        let permits = self.permits.clone();
        let background = self.background.clone();
        self.handle.spawn(async move {
            // The semaphore is never closed: acquiring only waits.
            let _permit = permits.acquire_owned().await;
            if !background.load(Ordering::Relaxed) {
                return tokio::task::spawn_blocking(f).await.ok();
            }
            let (tx, rx) = tokio::sync::oneshot::channel();
            let thread = std::thread::Builder::new()
                .name("ratchet-prepare".into())
                .spawn(move || {
                    lower_priority();
                    let _ = tx.send(f());
                });
            // A thread that could not start ran nothing; one that panicked sent nothing.
            match thread {
                Ok(_) => rx.await.ok(),
                Err(_) => None,
            }
        })
    }

    /// Waits for `tasks`, results in the same order; `None` for a task that panicked. Call it
    /// outside the runtime (from the command's own thread).
    pub(super) fn join<T>(&self, tasks: Vec<Task<T>>) -> Vec<Option<T>> {
        self.handle.block_on(async {
            let mut out = Vec::with_capacity(tasks.len());
            for t in tasks {
                out.push(t.await.ok().flatten());
            }
            out
        })
    }
}

/// Lowers the calling thread's scheduling priority (best effort: a thread that cannot keeps
/// its own).
fn lower_priority() {
    // SAFETY: `nice` only changes the calling thread's niceness (on Linux niceness is per
    // thread; elsewhere it is the whole process's, so other systems keep their priority); its
    // result, like errno, is not used.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::nice(BACKGROUND_NICENESS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn runs_everything_in_order_within_the_limit() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let pool = Pool::new(rt.handle().clone(), 2);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<Task<usize>> = (0..16)
            .map(|i| {
                let (running, most) = (running.clone(), most.clone());
                pool.spawn(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::yield_now();
                    running.fetch_sub(1, Ordering::SeqCst);
                    i * 2
                })
            })
            .collect();
        let got = pool.join(tasks);
        assert_eq!(got, (0..16).map(|i| Some(i * 2)).collect::<Vec<_>>());
        assert!(most.load(Ordering::SeqCst) <= 2);
    }

    #[test]
    fn a_panicking_task_is_none_and_the_others_finish() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        for pool in [
            Pool::new(rt.handle().clone(), 4),
            Pool::background(rt.handle().clone(), 2),
        ] {
            let tasks = vec![
                pool.spawn(|| 1),
                pool.spawn(|| -> i32 { panic!("boom") }),
                pool.spawn(|| 3),
            ];
            assert_eq!(pool.join(tasks), [Some(1), None, Some(3)]);
        }
    }
}
