//! Time and callouts (FreeBSD's sys/kern/kern_timeout.c, `callout(9)`).
//!
//! The core never reads a clock itself: the embedding injects a [`Clock`] (vkernel:
//! the host's monotonic clock; tests: a [`FakeClock`] they advance by hand) and
//! drives [`Callouts::run_due`] — vkernel from its softclock thread, tests directly.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// A monotonic clock in nanoseconds.
pub trait Clock: Send + Sync {
    /// Nanoseconds since an arbitrary start; never goes backwards.
    fn now_ns(&self) -> u64;
}

/// A clock that moves only when told to (tests).
#[derive(Default, Debug)]
pub struct FakeClock(AtomicU64);

impl FakeClock {
    /// A clock at time `ns`.
    pub fn new(ns: u64) -> Self {
        FakeClock(AtomicU64::new(ns))
    }
    /// Move the clock forward by `ns`.
    pub fn advance(&self, ns: u64) {
        self.0.fetch_add(ns, Ordering::AcqRel);
    }
    /// Set the clock (never backwards).
    pub fn set(&self, ns: u64) {
        self.0.fetch_max(ns, Ordering::AcqRel);
    }
}

impl Clock for FakeClock {
    fn now_ns(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// A pending callout's function; it gets the time it runs at.
pub type CalloutFn = Box<dyn FnOnce(u64) + Send>;

#[derive(Default)]
struct Wheel {
    heap: BinaryHeap<Reverse<(u64, u64)>>,
    fns: HashMap<u64, CalloutFn>,
    seq: u64,
}

/// The kernel's callout queue: one-shot functions run at a deadline.
#[derive(Default)]
pub struct Callouts {
    wheel: Mutex<Wheel>,
    cv: Condvar,
}

impl Callouts {
    /// Run `f` once the clock reaches `at_ns` (`callout_reset`).  Wakes the
    /// softclock thread if this is now the earliest deadline.
    pub fn schedule(&self, at_ns: u64, f: CalloutFn) {
        let Ok(mut w) = self.wheel.lock() else {
            return;
        };
        let earliest = w.heap.peek().map(|Reverse((t, _))| *t);
        w.seq += 1;
        let seq = w.seq;
        w.heap.push(Reverse((at_ns, seq)));
        w.fns.insert(seq, f);
        if !matches!(earliest, Some(e) if e <= at_ns) {
            self.cv.notify_all();
        }
    }

    /// The earliest deadline, if any.
    pub fn next(&self) -> Option<u64> {
        let w = self.wheel.lock().ok()?;
        w.heap.peek().map(|Reverse((t, _))| *t)
    }

    /// Number of pending callouts.
    pub fn pending(&self) -> usize {
        self.wheel.lock().map(|w| w.fns.len()).unwrap_or(0)
    }

    /// Run every callout due at `now_ns`, earliest first (`softclock`); callouts
    /// they schedule for `now_ns` or earlier run in the same call.  Returns how
    /// many ran.
    pub fn run_due(&self, now_ns: u64) -> usize {
        let mut n = 0;
        loop {
            let f = {
                let Ok(mut w) = self.wheel.lock() else {
                    return n;
                };
                match w.heap.peek() {
                    Some(Reverse((t, seq))) if *t <= now_ns => {
                        let seq = *seq;
                        w.heap.pop();
                        w.fns.remove(&seq)
                    }
                    _ => return n,
                }
            };
            if let Some(f) = f {
                f(now_ns);
                n += 1;
            }
        }
    }

    /// Block until a callout may be due or `max` passed (the softclock thread's
    /// sleep); `now_ns` is the current time.
    pub fn wait(&self, now_ns: u64, max: Duration) {
        let Ok(w) = self.wheel.lock() else {
            return;
        };
        let d = match w.heap.peek() {
            Some(Reverse((t, _))) if *t <= now_ns => return,
            Some(Reverse((t, _))) => Duration::from_nanos(t - now_ns).min(max),
            None => max,
        };
        let _ = self.cv.wait_timeout(w, d);
    }

    /// Wake a thread blocked in [`wait`](Self::wait) (halt).
    pub fn wakeup(&self) {
        self.cv.notify_all();
    }

    /// Drop every pending callout (halt).
    pub fn clear(&self) {
        let fns = match self.wheel.lock() {
            Ok(mut w) => {
                w.heap.clear();
                std::mem::take(&mut w.fns)
            }
            Err(_) => return,
        };
        drop(fns);
    }
}

/// The kernel's clock and callouts, reachable from any vnet (protocol timers:
/// ARP and neighbour cache expiry, reassembly timeouts).
pub struct KernTime {
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The callout queue.
    pub callouts: Arc<Callouts>,
}

/// Registry slot holding [`KernTime`] (kernel-wide state, not a vnet module).
pub const KERN_TIME_SLOT: usize = 63;

/// The kernel time services of curvnet's kernel.
pub fn kern_time() -> Option<Arc<KernTime>> {
    crate::kern::vnet::with_curvnet(|v| v?.kern_time().cloned())
}

/// Current kernel time in ns (0 if no kernel is reachable from curvnet):
/// through the time services cached in curvnet, with no lock and no
/// reference count (it is read several times per packet).
pub fn getnow_ns() -> u64 {
    crate::kern::vnet::with_curvnet(|v| {
        v.and_then(|v| v.kern_time())
            .map(|t| t.clock.now_ns())
            .unwrap_or(0)
    })
}

/// Run `f` at kernel time `at_ns` with curvnet set to the vnet that is current
/// now (`callout_reset` for protocol timers).  The callout is dropped if that
/// vnet has gone away by then.
pub fn timeout(at_ns: u64, f: impl FnOnce() + Send + 'static) {
    let Some(t) = kern_time() else { return };
    let Some(v) = crate::kern::vnet::try_curvnet() else {
        return;
    };
    let w = Arc::downgrade(&v);
    t.callouts.schedule(
        at_ns,
        Box::new(move |_| {
            if let Some(v) = w.upgrade().filter(|v| v.is_alive()) {
                let _cv = crate::kern::vnet::CurvnetGuard::set(&v);
                f();
            }
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callouts_run_in_deadline_order_on_fake_time() {
        let c = Arc::new(Callouts::default());
        let log = Arc::new(Mutex::new(Vec::new()));
        for (at, tag) in [(30u64, "c"), (10, "a"), (20, "b")] {
            let l = log.clone();
            c.schedule(at, Box::new(move |now| l.lock().unwrap().push((tag, now))));
        }
        assert_eq!(c.next(), Some(10));
        assert_eq!(c.run_due(5), 0);
        assert_eq!(c.run_due(20), 2);
        // A callout scheduling an already-due one runs it in the same pass.
        let l = log.clone();
        let c2 = c.clone();
        c.schedule(
            25,
            Box::new(move |_| {
                let l = l.clone();
                c2.schedule(26, Box::new(move |now| l.lock().unwrap().push(("e", now))));
            }),
        );
        assert_eq!(c.run_due(100), 3);
        assert_eq!(
            *log.lock().unwrap(),
            vec![("a", 20), ("b", 20), ("e", 100), ("c", 100)]
        );
        assert_eq!(c.pending(), 0);
        c.schedule(1, Box::new(|_| {}));
        c.clear();
        assert_eq!(c.next(), None);
    }

    #[test]
    fn fake_clock_never_goes_back() {
        let k = FakeClock::new(5);
        k.advance(10);
        k.set(3);
        assert_eq!(k.now_ns(), 15);
    }
}
