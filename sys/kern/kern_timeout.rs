//! Time and callouts (FreeBSD's sys/kern/kern_timeout.c, `callout(9)`).
//!
//! The core never reads a clock itself: the embedding injects a [`Clock`] (vkernel:
//! the host's monotonic clock; tests: a [`FakeClock`] they advance by hand) and
//! drives [`Callouts::run_due`] — vkernel from its softclock thread, tests directly.

use std::collections::BTreeMap;
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

/// A scheduled callout, to stop it with [`Callouts::stop`] (`struct callout`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CalloutId {
    at: u64,
    seq: u64,
}

impl CalloutId {
    /// When it runs (ns of kernel time).
    pub fn at(&self) -> u64 {
        self.at
    }
}

#[derive(Default)]
struct Wheel {
    /// Pending callouts by (deadline, sequence): earliest first, and a
    /// stopped one leaves at once (no dead entries waiting for their time).
    due: BTreeMap<(u64, u64), CalloutFn>,
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
    pub fn schedule(&self, at_ns: u64, f: CalloutFn) -> CalloutId {
        let Ok(mut w) = self.wheel.lock() else {
            return CalloutId { at: at_ns, seq: 0 };
        };
        let earliest = w.due.keys().next().map(|k| k.0);
        w.seq += 1;
        let seq = w.seq;
        w.due.insert((at_ns, seq), f);
        if !matches!(earliest, Some(e) if e <= at_ns) {
            self.cv.notify_all();
        }
        CalloutId { at: at_ns, seq }
    }

    /// `callout_stop`: forget callout `id` if it has not run; whether it was
    /// still pending.
    pub fn stop(&self, id: CalloutId) -> bool {
        let f = match self.wheel.lock() {
            Ok(mut w) => w.due.remove(&(id.at, id.seq)),
            Err(_) => None,
        };
        // (Dropped outside the lock: a closure may own anything.)
        f.is_some()
    }

    /// The earliest deadline, if any.
    pub fn next(&self) -> Option<u64> {
        let w = self.wheel.lock().ok()?;
        w.due.keys().next().map(|k| k.0)
    }

    /// Number of pending callouts.
    pub fn pending(&self) -> usize {
        self.wheel.lock().map(|w| w.due.len()).unwrap_or(0)
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
                match w.due.first_key_value() {
                    Some((k, _)) if k.0 <= now_ns => w.due.pop_first().map(|(_, f)| f),
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
        let d = match w.due.keys().next() {
            Some(k) if k.0 <= now_ns => return,
            Some(k) => Duration::from_nanos(k.0 - now_ns).min(max),
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
        let due = match self.wheel.lock() {
            Ok(mut w) => std::mem::take(&mut w.due),
            Err(_) => return,
        };
        drop(due);
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
    crate::vnet::with_curvnet(|v| v?.kern_time().cloned())
}

/// Current kernel time in ns (0 if no kernel is reachable from curvnet):
/// through the time services cached in curvnet, with no lock and no
/// reference count (it is read several times per packet).
pub fn getnow_ns() -> u64 {
    crate::vnet::with_curvnet(|v| {
        v.and_then(|v| v.kern_time())
            .map(|t| t.clock.now_ns())
            .unwrap_or(0)
    })
}

/// Run `f` at kernel time `at_ns` with curvnet set to the vnet that is current
/// now (`callout_reset` for protocol timers).  The callout is dropped if that
/// vnet has gone away by then.  Its id stops it ([`callout_stop`]).
pub fn timeout(at_ns: u64, f: impl FnOnce() + Send + 'static) -> Option<CalloutId> {
    let t = kern_time()?;
    let v = crate::vnet::try_curvnet()?;
    let w = Arc::downgrade(&v);
    let id = t.callouts.schedule(
        at_ns,
        Box::new(move |_| {
            if let Some(v) = w.upgrade().filter(|v| v.is_alive()) {
                let _cv = crate::vnet::CurvnetGuard::set(&v);
                f();
            }
        }),
    );
    Some(id)
}

/// `callout_stop` for a callout [`timeout`] made in curvnet's kernel;
/// whether it was still pending.
pub fn callout_stop(id: CalloutId) -> bool {
    kern_time().is_some_and(|t| t.callouts.stop(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_callout_never_runs_and_leaves_nothing_behind() {
        let c = Callouts::default();
        let ran = Arc::new(AtomicU64::new(0));
        let r = ran.clone();
        let a = c.schedule(
            10,
            Box::new(move |_| {
                r.fetch_add(1, Ordering::SeqCst);
            }),
        );
        let r = ran.clone();
        let _b = c.schedule(
            20,
            Box::new(move |_| {
                r.fetch_add(10, Ordering::SeqCst);
            }),
        );
        assert!(c.stop(a));
        assert!(!c.stop(a), "stopped twice");
        assert_eq!(c.pending(), 1);
        assert_eq!(c.next(), Some(20));
        assert_eq!(c.run_due(100), 1);
        assert_eq!(ran.load(Ordering::SeqCst), 10);
        assert_eq!(c.pending(), 0);
    }

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
