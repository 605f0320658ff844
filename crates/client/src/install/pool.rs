//! Where the install's CPU- and disk-bound work runs: verifying and unpacking archives and
//! writing owner pins go to a few worker threads of the install's own, a bounded number at a
//! time, so an archive is checked as soon as it has arrived while the others are still
//! downloading. The workers stay while there is work: a task is handed over through a queue,
//! not given a thread (or a trip through an async runtime) of its own, which at hundreds of
//! small archives cost as much as the checks themselves.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::Duration;

/// A bounded group of worker threads running tasks in the order given.
#[derive(Clone)]
pub(super) struct Pool {
    shared: Arc<Shared>,
}

/// What a pool's handles and workers share.
struct Shared {
    /// Tasks not started yet, with the workers' count by kind.
    state: Mutex<State>,
    /// Signalled when a task is queued.
    ready: Condvar,
    /// At most this many workers at once.
    limit: usize,
    /// Tasks run on workers of lowered scheduling priority ([`Pool::background`]) while this
    /// is set ([`Pool::foreground`]).
    background: AtomicBool,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Box<dyn FnOnce() + Send>>,
    /// Workers at the normal priority.
    normal: usize,
    /// Workers whose priority was lowered (they leave once the pool is in the foreground: a
    /// thread cannot raise its priority again).
    lowered: usize,
}

/// A task started by [`Pool::spawn`]; [`Pool::join`] waits for it (`None`: it panicked).
pub(super) struct Task<T>(mpsc::Receiver<T>);

/// How much lower the priority of a background worker is (a `nice` increment; Linux only,
/// where niceness is per thread).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
const BACKGROUND_NICENESS: libc::c_int = 10;

/// How long an idle worker waits for another task before it ends.
const LINGER: Duration = Duration::from_millis(50);

impl Pool {
    /// A pool running at most `limit` tasks at once.
    pub(super) fn new(limit: usize) -> Pool {
        Pool {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                ready: Condvar::new(),
                limit: limit.max(1),
                background: AtomicBool::new(false),
            }),
        }
    }

    /// [`Pool::new`] for work that should not compete with the command's critical path: its
    /// workers' scheduling priority is lowered, so that on a busy machine the requests and the
    /// resolution (on the runtime and the command's thread) get the CPU before it. For the
    /// archives prepared while resolving.
    pub(super) fn background(limit: usize) -> Pool {
        let pool = Pool::new(limit);
        pool.shared.background.store(true, Ordering::Relaxed);
        pool
    }

    /// From now on, tasks (those queued included) run at the normal priority: the command is
    /// waiting for them.
    pub(super) fn foreground(&self) {
        self.shared.background.store(false, Ordering::Relaxed);
        // Workers of lowered priority leave; normal ones take over the queue.
        let mut st = self.shared.lock();
        while !st.queue.is_empty() && st.normal < self.shared.limit {
            st.normal += 1;
            if !self.start_worker(false) {
                st.normal -= 1;
                break;
            }
        }
        drop(st);
        self.shared.ready.notify_all();
    }

    /// Queues `f`; it starts as soon as a worker is free.
    pub(super) fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Task<T> {
        let (tx, rx) = mpsc::channel();
        let mut st = self.shared.lock();
        // A task that panics drops its sender: its receiver then reads `None`.
        st.queue.push_back(Box::new(move || {
            let _ = tx.send(f());
        }));
        let lowered = self.shared.background.load(Ordering::Relaxed);
        let busy = st.normal + if lowered { st.lowered } else { 0 };
        if busy < self.shared.limit {
            let counter = if lowered {
                &mut st.lowered
            } else {
                &mut st.normal
            };
            *counter += 1;
            if !self.start_worker(lowered) {
                // No thread: run it here rather than never.
                if lowered {
                    st.lowered -= 1;
                } else {
                    st.normal -= 1;
                }
                if st.normal + st.lowered == 0
                    && let Some(task) = st.queue.pop_back()
                {
                    drop(st);
                    run(task);
                    return Task(rx);
                }
            }
        }
        drop(st);
        self.shared.ready.notify_one();
        Task(rx)
    }

    /// Starts a worker (counted by the caller); false when no thread could start.
    fn start_worker(&self, lowered: bool) -> bool {
        let shared = self.shared.clone();
        std::thread::Builder::new()
            .name("ratchet-prepare".into())
            .spawn(move || {
                if lowered {
                    lower_priority();
                }
                shared.work(lowered);
            })
            .is_ok()
    }

    /// Waits for `tasks`, results in the same order; `None` for a task that panicked.
    pub(super) fn join<T>(&self, tasks: Vec<Task<T>>) -> Vec<Option<T>> {
        tasks.into_iter().map(|t| t.0.recv().ok()).collect()
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A worker's life: tasks from the queue until it has been idle for [`LINGER`] (or, for a
    /// worker of lowered priority, until the pool is in the foreground).
    fn work(&self, lowered: bool) {
        let mut st = self.lock();
        loop {
            // A worker of lowered priority leaves in the foreground once a normal one is there
            // to take the queue over (or nothing is left to do): a task is never stranded.
            if lowered
                && !self.background.load(Ordering::Relaxed)
                && (st.normal > 0 || st.queue.is_empty())
            {
                break;
            }
            if let Some(task) = st.queue.pop_front() {
                drop(st);
                run(task);
                st = self.lock();
                continue;
            }
            let (next, timeout) = self
                .ready
                .wait_timeout(st, LINGER)
                .unwrap_or_else(|e| e.into_inner());
            st = next;
            if timeout.timed_out() && st.queue.is_empty() {
                break;
            }
        }
        if lowered {
            st.lowered -= 1;
        } else {
            st.normal -= 1;
        }
    }
}

/// Runs a queued task; a panic ends the task (its result reads `None`), not the worker.
fn run(task: Box<dyn FnOnce() + Send>) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task));
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
        let pool = Pool::new(2);
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
        for pool in [Pool::new(4), Pool::background(2)] {
            let tasks = vec![
                pool.spawn(|| 1),
                pool.spawn(|| -> i32 { panic!("boom") }),
                pool.spawn(|| 3),
            ];
            assert_eq!(pool.join(tasks), [Some(1), None, Some(3)]);
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn background_tasks_run_at_a_lower_priority_until_the_pool_is_in_the_foreground() {
        // SAFETY: getpriority only reads the calling thread's niceness.
        let nice = || unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let here = nice();
        let pool = Pool::background(2);
        // Six tasks that each say the niceness of the thread they ran on.
        let six = || -> Vec<Task<i32>> {
            (0..6)
                .map(|_| {
                    pool.spawn(move || {
                        std::thread::sleep(Duration::from_millis(2));
                        nice()
                    })
                })
                .collect()
        };
        let first = pool.join(six());
        assert!(
            first
                .iter()
                .all(|n| *n == Some((here + BACKGROUND_NICENESS).min(19))),
            "{first:?} (main thread {here})"
        );
        // Queued while in the background, run after the switch: normal priority.
        let queued = six();
        pool.foreground();
        let after = pool.spawn(nice);
        let mut got = pool.join(queued);
        got.extend(pool.join(vec![after]));
        assert!(got.iter().all(Option::is_some), "{got:?}");
        assert_eq!(got.last(), Some(&Some(here)), "{got:?}");
    }
}
