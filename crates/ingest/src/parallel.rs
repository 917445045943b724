//! An ordered parallel map: the one mechanism by which ingest uses every core
//! for work that is a pure function of its input (parsing a JSON record,
//! preparing a parsed record's leaf), while everything that depends on order
//! (line numbers, Postfix and Okta joining, deduplication, the WAL) stays on
//! one thread and sees results in exactly the input order.
//!
//! The calling thread produces items and consumes results; worker threads
//! map. Memory is bounded: at most a few items per worker are in flight.
//! Threads are bounded too: all the `ordered_map`s of a process together
//! run at most one worker per core (a server parsing many request bodies at
//! once, or a source inside the driver, maps on the calling thread when the
//! cores are taken), so no input can make the process start more threads
//! than it has cores.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};

/// Items (batches) queued per worker beyond the one each is mapping: enough
/// that no worker waits for the producer, few enough to bound memory.
const QUEUED_PER_WORKER: usize = 2;

/// What [`ordered_map`] calls to hand on each item it produces.
pub type Put<'a, I, E> = dyn FnMut(I) -> Result<(), E> + 'a;

/// The producer of [`ordered_map`]'s items: reads the input, handing each
/// item to the [`Put`] it is given.
pub type Produce<'a, I, E> = dyn FnMut(&mut Put<'_, I, E>) -> Result<(), E> + 'a;

/// Worker threads used by [`ordered_map`]: one per core (at least one).
pub fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Workers running in this process, across every [`ordered_map`].
static RUNNING_WORKERS: AtomicUsize = AtomicUsize::new(0);

/// Worker places taken from the process's [`workers`] and given back on drop.
struct WorkerSlots(usize);

impl WorkerSlots {
    /// Up to `want` places, as many as are free (possibly none).
    fn take(want: usize) -> WorkerSlots {
        let limit = workers();
        let mut running = RUNNING_WORKERS.load(Ordering::SeqCst);
        loop {
            let n = want.min(limit.saturating_sub(running));
            if n == 0 {
                return WorkerSlots(0);
            }
            match RUNNING_WORKERS.compare_exchange(
                running,
                running + n,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return WorkerSlots(n),
                Err(now) => running = now,
            }
        }
    }
}

impl Drop for WorkerSlots {
    fn drop(&mut self) {
        RUNNING_WORKERS.fetch_sub(self.0, Ordering::SeqCst);
    }
}

/// How an [`ordered_map`] maps, decided at its second item.
enum Mode<I, T> {
    /// Before the second item: the first is held.
    Waiting(Option<I>),
    /// One thread was asked for, or no worker place was free: everything is
    /// mapped on the calling thread (`failed`: `consume` failed).
    Inline { failed: bool },
    /// Workers map.
    Pooled(Pool<I, T>),
}

/// Calls `produce`, which hands items to the `put` it is given; maps each
/// item with `map` on `threads` worker threads; and calls `consume` with the
/// results in the order the items were put. The first error of `produce` or
/// `consume` stops the run: results of items put before it are consumed
/// first only when the error is `produce`'s (what was read before an error
/// is kept), never after `consume` failed. `consume`'s error is handed to
/// `produce` by the `put` that met it, and `produce` must return it; nothing
/// is mapped or consumed after it, whatever `produce` does. A panic in
/// `map` is re-raised here.
///
/// With `threads <= 1`, with one item, or when the process's workers are
/// all taken by other maps, everything runs on the calling thread, in
/// order.
pub fn ordered_map<I, T, E>(
    threads: usize,
    produce: &mut Produce<'_, I, E>,
    map: &(dyn Fn(I) -> T + Sync),
    consume: &mut dyn FnMut(T) -> Result<(), E>,
) -> Result<(), E>
where
    I: Send,
    T: Send,
{
    std::thread::scope(|scope| {
        // Workers start with the second item: an input of one batch (an
        // HTTP request, a small file) is mapped on the calling thread, with
        // no threads started for it.
        let mut mode: Mode<I, T> = if threads <= 1 {
            Mode::Inline { failed: false }
        } else {
            Mode::Waiting(None)
        };
        let mut put_count = 0u64;
        let produced = produce(&mut |item| match &mut mode {
            // once `consume` failed nothing more is mapped or consumed, even
            // if the producer goes on putting
            Mode::Pooled(pool) if pool.order.failed => Ok(()),
            Mode::Inline { failed: true } => Ok(()),
            Mode::Pooled(pool) => {
                pool.put(&mut put_count, item);
                pool.order.consume_ready(consume)
            }
            Mode::Inline { failed } => consume(map(item)).inspect_err(|_| *failed = true),
            Mode::Waiting(held) => {
                let Some(first) = held.take() else {
                    *held = Some(item);
                    return Ok(());
                };
                let slots = WorkerSlots::take(threads);
                if slots.0 == 0 {
                    let outcome = consume(map(first)).and_then(|()| consume(map(item)));
                    mode = Mode::Inline {
                        failed: outcome.is_err(),
                    };
                    return outcome;
                }
                let mut pool = Pool::start(scope, slots, map);
                pool.put(&mut put_count, first);
                pool.put(&mut put_count, item);
                let ready = pool.order.consume_ready(consume);
                mode = Mode::Pooled(pool);
                ready
            }
        });
        match mode {
            // one item at most: mapped here (what was put before an error
            // of `produce` is kept)
            Mode::Waiting(held) => {
                let held = held.map_or(Ok(()), |item| consume(map(item)));
                produced.and(held)
            }
            Mode::Inline { .. } => produced,
            Mode::Pooled(Pool {
                work_tx,
                mut order,
                slots,
            }) => {
                drop(work_tx);
                let outcome = match produced {
                    // `consume` failed: nothing more may be consumed
                    Err(e) if order.failed => Err(e),
                    // `produce` failed: what was put before its error is kept
                    Err(e) => order.consume_all(put_count, consume).and(Err(e)),
                    Ok(()) => order.consume_all(put_count, consume),
                };
                drop(slots);
                outcome
            }
        }
    })
}

/// The worker threads of one [`ordered_map`] and the results they hand back.
struct Pool<I, T> {
    work_tx: SyncSender<(u64, I)>,
    order: InOrder<T>,
    /// The worker places its threads hold.
    slots: WorkerSlots,
}

impl<I: Send, T: Send> Pool<I, T> {
    fn start<'scope, 'env>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        slots: WorkerSlots,
        map: &'env (dyn Fn(I) -> T + Sync),
    ) -> Pool<I, T>
    where
        I: 'scope,
        T: 'scope,
    {
        let threads = slots.0;
        let (work_tx, work_rx) =
            std::sync::mpsc::sync_channel::<(u64, I)>(threads * QUEUED_PER_WORKER);
        let work_rx = Arc::new(Mutex::new(work_rx));
        let (done_tx, done_rx) = std::sync::mpsc::channel::<(u64, T)>();
        for _ in 0..threads {
            let work_rx = Arc::clone(&work_rx);
            let done_tx = done_tx.clone();
            scope.spawn(move || {
                loop {
                    // the lock is held only while waiting for an item, never
                    // while mapping, so a panic in `map` poisons nothing
                    let next = match work_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((seq, item)) = next else { return };
                    if done_tx.send((seq, map(item))).is_err() {
                        return;
                    }
                }
            });
        }
        Pool {
            work_tx,
            order: InOrder::new(done_rx),
            slots,
        }
    }

    /// Queues `item` as number `count`. A closed channel means every worker
    /// stopped (a panic in `map`): what was mapped is consumed, then the
    /// scope re-raises the panic.
    fn put(&mut self, count: &mut u64, item: I) {
        if self.work_tx.send((*count, item)).is_ok() {
            *count += 1;
        }
    }
}

/// Results arriving out of order, handed on in order.
struct InOrder<T> {
    rx: Receiver<(u64, T)>,
    waiting: BTreeMap<u64, T>,
    next: u64,
    /// `consume` returned an error: nothing more is consumed.
    failed: bool,
}

impl<T> InOrder<T> {
    fn new(rx: Receiver<(u64, T)>) -> InOrder<T> {
        InOrder {
            rx,
            waiting: BTreeMap::new(),
            next: 0,
            failed: false,
        }
    }

    fn hand_on<E>(&mut self, consume: &mut dyn FnMut(T) -> Result<(), E>) -> Result<(), E> {
        if self.failed {
            return Ok(());
        }
        while let Some(t) = self.waiting.remove(&self.next) {
            self.next += 1;
            if let Err(e) = consume(t) {
                self.failed = true;
                return Err(e);
            }
        }
        Ok(())
    }

    /// Consumes whatever is ready, without waiting.
    fn consume_ready<E>(&mut self, consume: &mut dyn FnMut(T) -> Result<(), E>) -> Result<(), E> {
        while let Ok((seq, t)) = self.rx.try_recv() {
            self.waiting.insert(seq, t);
        }
        self.hand_on(consume)
    }

    /// Waits for and consumes the results of the first `count` items (fewer
    /// if the workers stopped: the scope then re-raises their panic).
    fn consume_all<E>(
        &mut self,
        count: u64,
        consume: &mut dyn FnMut(T) -> Result<(), E>,
    ) -> Result<(), E> {
        while self.next < count {
            self.hand_on(consume)?;
            if self.next >= count {
                break;
            }
            match self.rx.recv() {
                Ok((seq, t)) => {
                    self.waiting.insert(seq, t);
                }
                Err(_) => break,
            }
        }
        self.hand_on(consume)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The process's worker places are shared: these tests take turns, so
    /// that one test's workers never take another's places.
    static TURN: Mutex<()> = Mutex::new(());

    fn turn() -> std::sync::MutexGuard<'static, ()> {
        TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn run(
        threads: usize,
        n: u64,
        fail_consume_at: Option<u64>,
        fail_produce_at: Option<u64>,
    ) -> (Vec<u64>, Result<(), String>) {
        let mut out = Vec::new();
        let r = ordered_map(
            threads,
            &mut |put| {
                for i in 0..n {
                    if Some(i) == fail_produce_at {
                        return Err(format!("produce {i}"));
                    }
                    put(i)?;
                }
                Ok(())
            },
            &|i: u64| {
                // uneven work, so results finish out of order
                if i.is_multiple_of(7) {
                    std::thread::sleep(Duration::from_millis(2));
                }
                i * 10
            },
            &mut |t| {
                if Some(t / 10) == fail_consume_at {
                    return Err(format!("consume {}", t / 10));
                }
                out.push(t);
                Ok(())
            },
        );
        (out, r)
    }

    #[test]
    fn results_come_in_input_order_on_any_number_of_threads() {
        let _turn = turn();
        for threads in [1, 2, 3, 8] {
            let (out, r) = run(threads, 500, None, None);
            assert_eq!(r, Ok(()));
            assert_eq!(
                out,
                (0..500).map(|i| i * 10).collect::<Vec<_>>(),
                "threads {threads}"
            );
        }
    }

    #[test]
    fn a_consume_error_stops_at_once_and_nothing_after_it_is_consumed() {
        let _turn = turn();
        for threads in [1, 2, 4] {
            let (out, r) = run(threads, 500, Some(123), None);
            assert_eq!(r, Err("consume 123".to_string()));
            assert_eq!(
                out,
                (0..123).map(|i| i * 10).collect::<Vec<_>>(),
                "threads {threads}"
            );
        }
    }

    #[test]
    fn nothing_is_consumed_after_a_consume_error_even_if_the_producer_goes_on() {
        let _turn = turn();
        for threads in [1, 2, 4] {
            let mut out = Vec::new();
            let r = ordered_map::<u64, u64, String>(
                threads,
                &mut |put| {
                    for i in 0..500 {
                        let _ = put(i); // a careless producer
                    }
                    Ok(())
                },
                &|i| i,
                &mut |i| {
                    if i == 77 {
                        return Err("stop".into());
                    }
                    out.push(i);
                    Ok(())
                },
            );
            // (the error went to the producer, which dropped it)
            drop(r);
            assert_eq!(out, (0..77).collect::<Vec<_>>(), "threads {threads}");
        }
    }

    #[test]
    fn a_produce_error_keeps_everything_put_before_it() {
        let _turn = turn();
        for threads in [1, 2, 4] {
            let (out, r) = run(threads, 500, None, Some(321));
            assert_eq!(r, Err("produce 321".to_string()));
            assert_eq!(
                out,
                (0..321).map(|i| i * 10).collect::<Vec<_>>(),
                "threads {threads}"
            );
        }
    }

    #[test]
    fn one_item_is_mapped_on_the_calling_thread_and_more_on_workers() {
        let _turn = turn();
        let caller = std::thread::current().id();
        for (n, on_caller) in [(0u64, true), (1, true), (2, false), (50, false)] {
            let mut threads = Vec::new();
            let r = ordered_map::<u64, std::thread::ThreadId, String>(
                4,
                &mut |put| (0..n).try_for_each(&mut *put),
                &|_| std::thread::current().id(),
                &mut |t| {
                    threads.push(t);
                    Ok(())
                },
            );
            assert_eq!(r, Ok(()));
            assert_eq!(threads.len() as u64, n);
            assert!(
                threads.iter().all(|t| (*t == caller) == on_caller),
                "{n} items"
            );
        }
    }

    #[test]
    fn maps_running_at_once_share_one_worker_per_core_and_keep_their_order() {
        let _turn = turn();
        // 6 maps at once, each asking for 8 workers: never more than one
        // worker per core maps at a time, and each map's order holds
        let mapping = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        std::thread::scope(|sc| {
            let runs: Vec<_> = (0..6u64)
                .map(|m| {
                    let (mapping, most) = (&mapping, &most);
                    sc.spawn(move || {
                        let caller = std::thread::current().id();
                        let mut out = Vec::new();
                        let r = ordered_map::<u64, u64, String>(
                            8,
                            &mut |put| (0..40).try_for_each(&mut *put),
                            &|i| {
                                let on_worker = std::thread::current().id() != caller;
                                if on_worker {
                                    let now = mapping.fetch_add(1, Ordering::SeqCst) + 1;
                                    most.fetch_max(now, Ordering::SeqCst);
                                }
                                std::thread::sleep(Duration::from_millis(1));
                                if on_worker {
                                    mapping.fetch_sub(1, Ordering::SeqCst);
                                }
                                m * 1000 + i
                            },
                            &mut |t| {
                                out.push(t);
                                Ok(())
                            },
                        );
                        (r, out, m)
                    })
                })
                .collect();
            for run in runs {
                let (r, out, m) = run.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
                assert_eq!(r, Ok(()));
                assert_eq!(out, (0..40).map(|i| m * 1000 + i).collect::<Vec<_>>());
            }
        });
        assert!(
            most.load(Ordering::SeqCst) <= workers(),
            "{} workers at once",
            most.load(Ordering::SeqCst)
        );
        assert_eq!(
            RUNNING_WORKERS.load(Ordering::SeqCst),
            0,
            "every place is given back"
        );
    }

    #[test]
    fn a_panic_in_map_is_raised_to_the_caller() {
        let _turn = turn();
        let caught = std::panic::catch_unwind(|| {
            let _ = ordered_map::<u64, u64, String>(
                2,
                &mut |put| {
                    for i in 0..100 {
                        put(i)?;
                    }
                    Ok(())
                },
                &|i| if i == 50 { panic!("boom") } else { i },
                &mut |_| Ok(()),
            );
        });
        assert!(caught.is_err());
    }
}
