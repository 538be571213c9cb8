//! Time and callouts (FreeBSD's sys/kern/kern_timeout.c, `callout(9)`).
//!
//! The core never reads a clock itself: the embedding injects a [`Clock`] (vkernel:
//! the host's monotonic clock; tests: a [`FakeClock`] they advance by hand) and
//! drives the callouts — vkernel from a small pool of softclock threads, each
//! calling [`Callouts::run_one`], tests all at once with [`Callouts::run_due`].
//!
//! Callouts live in wheels ([`CallWheel`], what FreeBSD keeps per CPU as a
//! `callout_cpu` and its `cc_callwheel`; here there is one per vnet): every
//! vnet gets its own, made on first use, and one kernel-wide wheel takes the
//! callouts tied to no vnet.  Scheduling or stopping a vnet's callout takes
//! only that vnet's wheel lock, so stacks never contend on each other's
//! timers.
//!
//! The softclock threads find work through a kernel-wide index of the wheels
//! that have something pending, by earliest deadline.  A wheel touches the
//! index only when its earliest deadline changes (a TCP connection rearming
//! a later timer does not), and a wheel with nothing pending is not in it, so
//! ten thousand idle vnets cost nothing per tick.  A thread takes the wheel
//! that falls due first out of the index and marks it running; until it is
//! done the wheel stays out of the index and is refused to anyone else, so two
//! threads run two vnets' timers at once but never the same wheel twice.  A
//! vnet's callouts run inside it ([`Vnet::enter`]: curvnet is the vnet), and
//! are dropped unrun once it is dying; `vnet_destroy` drops whatever is left.
//!
//! Locks: a wheel's own, then the index's; the list of all wheels is taken
//! alone.  No callout runs under any of them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::Duration;

use crate::vnet::Vnet;

/// A monotonic clock in nanoseconds.
pub trait Clock: Send + Sync {
    /// Nanoseconds since an arbitrary start; never goes backwards.
    fn now_ns(&self) -> u64;
    /// How a thread sleeps until this clock reaches a deadline
    /// ([`crate::kern_synch`]).  Default: a clock that moves with real time,
    /// whose sleepers block for the time left.
    fn sleepq(&self) -> &dyn crate::kern_synch::SleepQueue {
        &crate::kern_synch::RealTime
    }
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
    /// Real time says nothing about a fake clock: its sleepers look at it
    /// again every tick, so they wake soon after a test moves it past their
    /// deadline, and never before.
    fn sleepq(&self) -> &dyn crate::kern_synch::SleepQueue {
        &crate::kern_synch::Ticks
    }
}

/// A pending callout's function; it gets the time it runs at.
pub type CalloutFn = Box<dyn FnOnce(u64) + Send>;

/// A scheduled callout, to stop it with [`callout_stop`] or
/// [`CallWheel::stop`] (`struct callout`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CalloutId {
    at: u64,
    seq: u64,
    /// The wheel it sits in ([`CallWheel::key`]).
    wheel: u64,
}

impl CalloutId {
    /// When it runs (ns of kernel time).
    pub fn at(&self) -> u64 {
        self.at
    }
}

/// Lock `m`, going on past a poisoned lock: no callout runs under these
/// locks, only the few lines here, so a panic cannot leave them half done.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the softclock threads share: the wheels with something due, by
/// earliest deadline, and every wheel of the kernel.
#[derive(Default)]
struct CalloutIndex {
    q: Mutex<IndexQ>,
    /// Signalled when a wheel becomes the first due, or at halt.
    cv: Condvar,
    /// Every wheel by key, to count and drain them all; touched when a
    /// wheel is made or goes.
    wheels: Mutex<BTreeMap<u64, Weak<CallWheel>>>,
    next_key: AtomicU64,
    /// Wheels taken out of the index to be run.
    taken: AtomicU64,
}

#[derive(Default)]
struct IndexQ {
    /// (earliest deadline, wheel key) of each wheel that has something
    /// pending and is not being run.
    due: BTreeMap<(u64, u64), Weak<CallWheel>>,
    /// The kernel halted: softclock threads stop sleeping.
    halted: bool,
}

impl CalloutIndex {
    /// Take the wheel that fell due first (at `now_ns` or before) out of the
    /// index, passing the turn on if another is due too.
    fn take_due(&self, now_ns: u64) -> Option<Arc<CallWheel>> {
        let mut q = lock(&self.q);
        while let Some(e) = q.due.first_entry() {
            if e.key().0 > now_ns {
                break;
            }
            // (A wheel that went away leaves a dead entry only until here.)
            if let Some(w) = e.remove().upgrade() {
                if q.due.keys().next().is_some_and(|k| k.0 <= now_ns) {
                    self.cv.notify_one();
                }
                drop(q);
                self.taken.fetch_add(1, Ordering::Relaxed);
                return Some(w);
            }
        }
        None
    }

    /// The live wheels (collected, so none is dropped under the lock: a
    /// wheel's drop takes it).
    fn wheels(&self) -> Vec<Arc<CallWheel>> {
        let g = lock(&self.wheels);
        g.values().filter_map(Weak::upgrade).collect()
    }
}

#[derive(Default)]
struct WheelState {
    /// Pending callouts by (deadline, sequence): earliest first, and a
    /// stopped one leaves at once (no dead entries waiting for their time).
    due: BTreeMap<(u64, u64), CalloutFn>,
    seq: u64,
    /// The deadline the wheel is filed under in the index, if it is.
    filed: Option<u64>,
    /// A softclock thread is running this wheel.
    running: bool,
    /// Its vnet is gone: callouts are refused.
    dead: bool,
}

/// One wheel of callouts: a vnet's ([`Vnet::callwheel`]) or the kernel-wide
/// one ([`Callouts::schedule`]).
pub struct CallWheel {
    key: u64,
    /// The vnet its callouts run in (None: kernel-wide, no curvnet).
    vnet: Option<Weak<Vnet>>,
    me: Weak<CallWheel>,
    index: Arc<CalloutIndex>,
    st: Mutex<WheelState>,
}

impl std::fmt::Debug for CallWheel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = self.vnet.as_ref().and_then(Weak::upgrade);
        write!(f, "callwheel {} of {:?}", self.key, v)
    }
}

impl CallWheel {
    fn new(index: &Arc<CalloutIndex>, vnet: Option<&Arc<Vnet>>) -> Arc<Self> {
        let key = index.next_key.fetch_add(1, Ordering::Relaxed);
        let w = Arc::new_cyclic(|me| CallWheel {
            key,
            vnet: vnet.map(Arc::downgrade),
            me: me.clone(),
            index: index.clone(),
            st: Mutex::new(WheelState::default()),
        });
        lock(&index.wheels).insert(key, Arc::downgrade(&w));
        w
    }

    /// The wheel's number, unique in its kernel.
    pub fn key(&self) -> u64 {
        self.key
    }

    /// Run `f` once the clock reaches `at_ns` (`callout_reset`); `None` if
    /// the wheel's vnet is gone (`f` is dropped).
    pub fn schedule(&self, at_ns: u64, f: CalloutFn) -> Option<CalloutId> {
        let mut st = lock(&self.st);
        if st.dead {
            drop(st);
            drop(f);
            return None;
        }
        st.seq += 1;
        let seq = st.seq;
        st.due.insert((at_ns, seq), f);
        self.refile(&mut st);
        Some(CalloutId {
            at: at_ns,
            seq,
            wheel: self.key,
        })
    }

    /// `callout_stop`: forget callout `id` if it is still pending here;
    /// whether it was.
    pub fn stop(&self, id: CalloutId) -> bool {
        if id.wheel != self.key {
            return false;
        }
        let f = {
            let mut st = lock(&self.st);
            let f = st.due.remove(&(id.at, id.seq));
            if f.is_some() {
                self.refile(&mut st);
            }
            f
        };
        // (Dropped outside the lock: a closure may own anything.)
        f.is_some()
    }

    /// The earliest deadline, if any.
    pub fn next(&self) -> Option<u64> {
        lock(&self.st).due.keys().next().map(|k| k.0)
    }

    /// Number of pending callouts.
    pub fn pending(&self) -> usize {
        lock(&self.st).due.len()
    }

    /// Drop every pending callout; with `dead`, refuse new ones from now on
    /// (the wheel's vnet is gone).
    pub fn drain(&self, dead: bool) {
        let due = {
            let mut st = lock(&self.st);
            st.dead |= dead;
            let due = std::mem::take(&mut st.due);
            self.refile(&mut st);
            due
        };
        drop(due);
    }

    /// Keep the index's entry for this wheel at its earliest deadline (none
    /// while it is empty or being run); the index is touched only when that
    /// changes.  Called with the wheel locked.
    fn refile(&self, st: &mut WheelState) {
        let want = if st.running {
            None
        } else {
            st.due.keys().next().map(|k| k.0)
        };
        if want == st.filed {
            return;
        }
        let mut q = lock(&self.index.q);
        if let Some(old) = st.filed.take() {
            // (Gone already if a softclock thread just took the wheel.)
            q.due.remove(&(old, self.key));
        }
        if let Some(at) = want {
            q.due.insert((at, self.key), self.me.clone());
            if q.due.keys().next() == Some(&(at, self.key)) {
                // The earliest now: a sleeping softclock thread must wake
                // sooner than it meant to.
                self.index.cv.notify_one();
            }
        }
        st.filed = want;
    }

    /// Run every callout due at `now_ns`, earliest first, inside the wheel's
    /// vnet; callouts they schedule here for `now_ns` or earlier run in the
    /// same call.  Does nothing if another thread is running the wheel (it
    /// files it again when done).  Returns how many ran.
    fn run(&self, now_ns: u64) -> usize {
        {
            let mut st = lock(&self.st);
            if st.running {
                return 0;
            }
            st.running = true;
            self.refile(&mut st);
        }
        let _running = Running(self);
        let vnet = match &self.vnet {
            None => None,
            Some(w) => match w.upgrade() {
                Some(v) => Some(v),
                None => {
                    self.drain(true);
                    return 0;
                }
            },
        };
        // Work the callouts queue for software interrupts runs when the
        // wheel is done (the section ends), before it is filed again.
        let _ns = crate::kern_intr::swi_enter();
        let mut n = 0;
        loop {
            let f = {
                let mut st = lock(&self.st);
                match st.due.first_key_value() {
                    Some((k, _)) if k.0 <= now_ns => st.due.pop_first().map(|(_, f)| f),
                    _ => None,
                }
            };
            let Some(f) = f else {
                break;
            };
            match &vnet {
                None => f(now_ns),
                Some(v) => {
                    // Entered per callout, so a vnet_destroy waits for one
                    // callout at most, and the rest find the vnet dying.
                    let Some(_e) = v.enter() else {
                        drop(f);
                        continue;
                    };
                    f(now_ns);
                }
            }
            n += 1;
        }
        n
    }
}

/// A wheel being run: when the run ends (or unwinds), the wheel is free for
/// the next thread and filed again at its earliest deadline.
struct Running<'a>(&'a CallWheel);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let mut st = lock(&self.0.st);
        st.running = false;
        self.0.refile(&mut st);
    }
}

impl Drop for CallWheel {
    fn drop(&mut self) {
        let st = self.st.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(at) = st.filed.take() {
            lock(&self.index.q).due.remove(&(at, self.key));
        }
        lock(&self.index.wheels).remove(&self.key);
        // The pending callouts drop with the wheel, outside every lock.
    }
}

/// The kernel's callouts: the index of due wheels the softclock threads
/// work from, and the kernel-wide wheel.
pub struct Callouts {
    index: Arc<CalloutIndex>,
    global: Arc<CallWheel>,
}

impl Default for Callouts {
    fn default() -> Self {
        let index = Arc::new(CalloutIndex::default());
        let global = CallWheel::new(&index, None);
        Callouts { index, global }
    }
}

impl Callouts {
    /// Run `f` once the clock reaches `at_ns` on the kernel-wide wheel, with
    /// no curvnet (`callout_reset` of a callout tied to no vnet).
    pub fn schedule(&self, at_ns: u64, f: CalloutFn) -> CalloutId {
        // The kernel-wide wheel is drained at halt but never refuses.
        self.global.schedule(at_ns, f).unwrap_or(CalloutId {
            at: at_ns,
            seq: 0,
            wheel: self.global.key,
        })
    }

    /// A new wheel, filed in this kernel's index: `vnet`'s (its callouts
    /// run inside it), or with `None` one whose callouts run with no curvnet.
    pub fn wheel(&self, vnet: Option<&Arc<Vnet>>) -> Arc<CallWheel> {
        CallWheel::new(&self.index, vnet)
    }

    /// The kernel-wide wheel.
    pub fn global(&self) -> &Arc<CallWheel> {
        &self.global
    }

    /// `callout_stop` for a callout of any wheel of this kernel, found by
    /// its id; whether it was still pending.
    pub fn stop(&self, id: CalloutId) -> bool {
        if id.wheel == self.global.key {
            return self.global.stop(id);
        }
        let w = lock(&self.index.wheels)
            .get(&id.wheel)
            .and_then(Weak::upgrade);
        w.is_some_and(|w| w.stop(id))
    }

    /// The earliest deadline of a wheel waiting to run, if any (a wheel
    /// being run is not counted until it is done).
    pub fn next(&self) -> Option<u64> {
        lock(&self.index.q).due.keys().next().map(|k| k.0)
    }

    /// Number of pending callouts in every wheel of the kernel.
    pub fn pending(&self) -> usize {
        self.index.wheels().iter().map(|w| w.pending()).sum()
    }

    /// How many times a softclock took a wheel to run: the work the
    /// callouts cost, which grows with the wheels that fall due, not with
    /// the wheels there are.
    pub fn wheels_taken(&self) -> u64 {
        self.index.taken.load(Ordering::Relaxed)
    }

    /// One softclock thread's turn: take the wheel that fell due first at
    /// `now_ns` and run what is due in it.  `None` if no wheel is due;
    /// else how many callouts ran.
    pub fn run_one(&self, now_ns: u64) -> Option<usize> {
        let w = self.index.take_due(now_ns)?;
        Some(w.run(now_ns))
    }

    /// Run every callout due at `now_ns` in every wheel (`softclock`), each
    /// wheel's earliest first; callouts they schedule for `now_ns` or
    /// earlier run in the same call.  Returns how many ran.
    pub fn run_due(&self, now_ns: u64) -> usize {
        let mut n = 0;
        while let Some(k) = self.run_one(now_ns) {
            n += k;
        }
        n
    }

    /// Block until a wheel may be due or `max` passed (a softclock thread's
    /// sleep); `now_ns` is the current time.  `false` once halted.
    pub fn wait(&self, now_ns: u64, max: Duration) -> bool {
        let q = lock(&self.index.q);
        if q.halted {
            return false;
        }
        let d = match q.due.keys().next() {
            Some(k) if k.0 <= now_ns => return true,
            Some(k) => Duration::from_nanos(k.0 - now_ns).min(max),
            None => max,
        };
        match self.index.cv.wait_timeout(q, d) {
            Ok((q, _)) => !q.halted,
            Err(p) => !p.into_inner().0.halted,
        }
    }

    /// Wake every thread blocked in [`wait`](Self::wait).
    pub fn wakeup(&self) {
        self.index.cv.notify_all();
    }

    /// Drop every pending callout of every wheel.
    pub fn clear(&self) {
        self.global.drain(false);
        for w in self.index.wheels() {
            w.drain(false);
        }
    }

    /// Halt: drop every pending callout and send the softclock threads
    /// home ([`wait`](Self::wait) returns `false` from now on).
    pub fn halt(&self) {
        lock(&self.index.q).halted = true;
        self.clear();
        self.wakeup();
    }

    /// Whether [`halt`](Self::halt) was called.
    pub fn halted(&self) -> bool {
        lock(&self.index.q).halted
    }
}

/// The kernel's clock and callouts, reachable from any vnet (protocol timers:
/// ARP and neighbour cache expiry, reassembly timeouts).
pub struct KernTime {
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The callouts.
    pub callouts: Arc<Callouts>,
}

/// Registry slot holding [`KernTime`] (kernel-wide state, not a vnet module).
pub const KERN_TIME_SLOT: usize = 63;

impl Vnet {
    /// This vnet's callout wheel, made on first use.  `None` if no kernel
    /// time services are reachable from the vnet or it is going away.
    pub fn callwheel(self: &Arc<Self>) -> Option<&Arc<CallWheel>> {
        if let Some(w) = self.callwheel.get() {
            return Some(w);
        }
        if self.is_dying() || !self.is_alive() {
            return None;
        }
        let t = self.kern_time()?;
        Some(self.callwheel.get_or_init(|| t.callouts.wheel(Some(self))))
    }
}

/// Drop `vnet`'s pending callouts and refuse new ones (`vnet_destroy`).
pub(crate) fn callwheel_drain(vnet: &Vnet) {
    if let Some(w) = vnet.callwheel.get() {
        w.drain(true);
    }
}

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

/// Run `f` at kernel time `at_ns` in the vnet that is current now
/// (`callout_reset` for protocol timers), from that vnet's own wheel.  The
/// callout is dropped if the vnet is dying by then.  Its id stops it
/// ([`callout_stop`]).  `None` if there is no curvnet or it is going away.
pub fn timeout(at_ns: u64, f: impl FnOnce() + Send + 'static) -> Option<CalloutId> {
    let mut f = Some(f);
    // The wheel as curvnet has it, borrowed: no reference counts taken.
    let id = crate::vnet::with_curvnet(|v| {
        let w = v?.callwheel.get()?;
        let f = f.take()?;
        Some(w.schedule(at_ns, Box::new(move |_| f())))
    });
    match (id, f) {
        (Some(id), _) => id,
        // The vnet's first callout: make its wheel.
        (None, Some(f)) => {
            let v = crate::vnet::try_curvnet()?;
            v.callwheel()?.schedule(at_ns, Box::new(move |_| f()))
        }
        (None, None) => None,
    }
}

/// `callout_stop` for a callout [`timeout`] made: in curvnet's wheel, or
/// (made elsewhere) found through the kernel; whether it was still pending.
pub fn callout_stop(id: CalloutId) -> bool {
    let here = crate::vnet::with_curvnet(|v| {
        let w = v?.callwheel.get().filter(|w| w.key == id.wheel)?;
        Some(w.stop(id))
    });
    here.unwrap_or_else(|| kern_time().is_some_and(|t| t.callouts.stop(id)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vnet::{CurvnetGuard, ModRegistry};
    use std::sync::atomic::{AtomicBool, AtomicUsize};
    use std::time::Instant;

    fn nop() -> CalloutFn {
        Box::new(|_| {})
    }

    /// A registry whose vnets reach `c` through their time services, as
    /// boot makes them.
    fn kernel(c: &Arc<Callouts>) -> Arc<ModRegistry> {
        let reg = ModRegistry::new();
        reg.set_global(
            KERN_TIME_SLOT,
            Some(Arc::new(KernTime {
                clock: Arc::new(FakeClock::default()),
                callouts: c.clone(),
            })),
        );
        reg
    }

    fn filed(c: &Callouts) -> usize {
        lock(&c.index.q).due.len()
    }

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
        assert_eq!(filed(&c), 0);
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

    /// Two vnets' timers sit in two wheels: each runs inside its vnet, one
    /// is scheduled and stopped while the other's wheel is locked, and a
    /// callout stopped from elsewhere is found by its id.
    #[cfg(feature = "vimage")]
    #[test]
    fn each_vnet_has_its_own_wheel_and_its_callouts_run_inside_it() {
        let c = Arc::new(Callouts::default());
        let reg = kernel(&c);
        let (a, b) = (reg.vnet_alloc("a").unwrap(), reg.vnet_alloc("b").unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let arm = |v: &Arc<Vnet>, at: u64, tag: &'static str| {
            let _cv = CurvnetGuard::set(v);
            let l = log.clone();
            timeout(at, move || {
                l.lock().unwrap().push((tag, crate::vnet::curvnet().id()));
            })
            .unwrap()
        };
        let ia = arm(&a, 30, "a");
        let ia2 = arm(&a, 10, "a2");
        let _ib = arm(&b, 20, "b");
        let (wa, wb) = (
            a.callwheel().unwrap().clone(),
            b.callwheel().unwrap().clone(),
        );
        assert!(!Arc::ptr_eq(&wa, &wb));
        assert_eq!((wa.pending(), wb.pending(), c.pending()), (2, 1, 3));
        assert!(!wb.stop(ia2), "not b's callout");
        {
            // b's timers take no lock of a's.
            let held = lock(&wa.st);
            let (tx, rx) = std::sync::mpsc::channel();
            let b2 = b.clone();
            std::thread::spawn(move || {
                let _cv = CurvnetGuard::set(&b2);
                let id = timeout(25, || {}).unwrap();
                let _ = tx.send(callout_stop(id));
            });
            assert_eq!(
                rx.recv_timeout(Duration::from_secs(20)),
                Ok(true),
                "b waited for a's wheel"
            );
            drop(held);
        }
        {
            let _cv = CurvnetGuard::set(&b);
            assert!(callout_stop(ia), "found through the kernel");
            assert!(!callout_stop(ia));
        }
        assert_eq!(c.run_due(100), 2);
        assert_eq!(
            *log.lock().unwrap(),
            vec![("a2", a.id()), ("b", b.id())],
            "earliest wheel first, each inside its vnet"
        );
        assert_eq!(c.pending(), 0);
        reg.vnet_destroy(&b);
        reg.vnet_destroy(&a);
    }

    #[test]
    fn a_destroyed_vnets_callouts_are_dropped_unrun() {
        let _l = crate::kern_syscall::test_lock();
        struct Token(Arc<AtomicUsize>);
        impl Drop for Token {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let c = Arc::new(Callouts::default());
        let reg = kernel(&c);
        let v = reg.vnet_alloc("doomed").unwrap();
        let (ran, dropped) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        {
            let _cv = CurvnetGuard::set(&v);
            for at in [10, 20, 1_000] {
                let (t, r) = (Token(dropped.clone()), ran.clone());
                timeout(at, move || {
                    let _t = &t;
                    r.fetch_add(1, Ordering::SeqCst);
                })
                .unwrap();
            }
        }
        let w = Arc::downgrade(v.callwheel().unwrap());
        assert_eq!((c.pending(), c.next()), (3, Some(10)));
        reg.vnet_destroy(&v);
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            3,
            "dropped at destroy, not when due"
        );
        assert_eq!((c.pending(), c.next()), (0, None));
        let wheel = w.upgrade().unwrap();
        assert!(
            wheel.schedule(5, nop()).is_none(),
            "a dead vnet takes no callouts"
        );
        drop(wheel);
        assert_eq!(c.run_due(u64::MAX), 0);
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        drop(v);
        assert!(w.upgrade().is_none(), "the wheel goes with its vnet");
    }

    #[test]
    fn the_index_holds_only_wheels_with_work_and_softclock_visits_only_due_ones() {
        let c = Callouts::default();
        let wheels: Vec<_> = (0..10_000).map(|_| c.wheel(None)).collect();
        assert_eq!(filed(&c), 0, "idle wheels are not in the index");
        let later: Vec<_> = wheels[..100]
            .iter()
            .map(|w| w.schedule(1_000_000, nop()).unwrap())
            .collect();
        let ran = Arc::new(AtomicUsize::new(0));
        for w in &wheels[100..103] {
            let r = ran.clone();
            w.schedule(
                10,
                Box::new(move |_| {
                    r.fetch_add(1, Ordering::SeqCst);
                }),
            );
        }
        assert_eq!(filed(&c), 103);
        // A later callout leaves its wheel's entry where it was.
        let w100 = &wheels[100];
        w100.schedule(50, nop());
        assert!(lock(&c.index.q).due.contains_key(&(10, w100.key())));
        let t0 = c.wheels_taken();
        assert_eq!(c.run_due(20), 3);
        assert_eq!(c.wheels_taken() - t0, 3, "only the due wheels visited");
        assert_eq!(ran.load(Ordering::SeqCst), 3);
        assert!(lock(&c.index.q).due.contains_key(&(50, w100.key())));
        assert_eq!(filed(&c), 101);
        assert_eq!(c.run_one(20), None);
        assert!(wheels[0].stop(later[0]));
        assert!(!wheels[1].stop(later[0]), "another wheel's id");
        assert_eq!((filed(&c), c.pending()), (100, 100));
        // Wheels that go take their entries and callouts with them.
        drop(wheels);
        assert_eq!((filed(&c), c.pending()), (0, 0));
        assert_eq!(lock(&c.index.wheels).len(), 1, "the kernel-wide one");
    }

    #[test]
    fn two_threads_run_two_wheels_at_once_but_never_one_wheel_twice() {
        let c = Arc::new(Callouts::default());
        let (wa, wb) = (c.wheel(None), c.wheel(None));
        let started = Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
        let who = Arc::new(Mutex::new(Vec::new()));
        for (i, w) in [&wa, &wb].into_iter().enumerate() {
            // Each wheel's first callout waits for the other's to start:
            // only two threads running both wheels at once get past it.
            let (s, l) = (started.clone(), who.clone());
            w.schedule(
                10,
                Box::new(move |_| {
                    s[i].store(true, Ordering::SeqCst);
                    let t0 = Instant::now();
                    while !s[1 - i].load(Ordering::SeqCst) {
                        assert!(t0.elapsed() < Duration::from_secs(20), "run one by one");
                        std::thread::yield_now();
                    }
                    l.lock().unwrap().push((i, std::thread::current().id()));
                }),
            );
            // The second may not be taken by the other thread meanwhile.
            let l = who.clone();
            w.schedule(
                10,
                Box::new(move |_| l.lock().unwrap().push((i, std::thread::current().id()))),
            );
        }
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    let mut n = 0;
                    while let Some(k) = c.run_one(20) {
                        n += k;
                    }
                    n
                })
            })
            .collect();
        let ran: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(ran, 4);
        let who = who.lock().unwrap();
        let by = |i| {
            who.iter()
                .filter(|e| e.0 == i)
                .map(|e| e.1)
                .collect::<Vec<_>>()
        };
        let (ta, tb) = (by(0), by(1));
        assert_eq!(ta.len(), 2);
        assert_eq!(ta[0], ta[1], "one wheel, one thread");
        assert_eq!(tb[0], tb[1], "one wheel, one thread");
        assert_ne!(ta[0], tb[0], "two wheels, two threads");
    }

    /// Many threads, many wheels, callouts scheduling into other wheels
    /// while they run: each wheel has one runner at a time and nothing is
    /// lost.
    #[test]
    fn a_pool_never_runs_a_wheel_on_two_threads_and_loses_nothing() {
        const WHEELS: usize = 8;
        const EACH: usize = 200;
        let c = Arc::new(Callouts::default());
        let wheels: Arc<Vec<_>> = Arc::new((0..WHEELS).map(|_| c.wheel(None)).collect());
        let busy: Arc<Vec<AtomicBool>> =
            Arc::new((0..WHEELS).map(|_| AtomicBool::new(false)).collect());
        let ran = Arc::new(AtomicUsize::new(0));
        let twice = Arc::new(AtomicUsize::new(0));
        fn callout(
            i: usize,
            hop: bool,
            wheels: &Arc<Vec<Arc<CallWheel>>>,
            busy: &Arc<Vec<AtomicBool>>,
            ran: &Arc<AtomicUsize>,
            twice: &Arc<AtomicUsize>,
        ) -> CalloutFn {
            let (w, b, r, t) = (wheels.clone(), busy.clone(), ran.clone(), twice.clone());
            Box::new(move |now| {
                if b[i].swap(true, Ordering::SeqCst) {
                    t.fetch_add(1, Ordering::SeqCst);
                }
                std::hint::spin_loop();
                if hop {
                    // Into the next wheel, which may be running right now.
                    let j = (i + 1) % w.len();
                    w[j].schedule(now, callout(j, false, &w, &b, &r, &t));
                }
                b[i].store(false, Ordering::SeqCst);
                r.fetch_add(1, Ordering::SeqCst);
            })
        }
        for (i, w) in wheels.iter().enumerate() {
            for k in 0..EACH {
                w.schedule(
                    k as u64,
                    callout(i, k % 4 == 0, &wheels, &busy, &ran, &twice),
                );
            }
        }
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || while c.run_one(1_000).is_some() {})
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(
            twice.load(Ordering::SeqCst),
            0,
            "a wheel ran on two threads"
        );
        assert_eq!(ran.load(Ordering::SeqCst), WHEELS * EACH * 5 / 4);
        assert_eq!((c.pending(), filed(&c)), (0, 0));
    }

    #[test]
    fn an_earlier_deadline_wakes_a_sleeper_and_halt_sends_all_home() {
        let c = Arc::new(Callouts::default());
        let w = c.wheel(None);
        let sleeper = |c: &Arc<Callouts>| {
            let c = c.clone();
            std::thread::spawn(move || {
                let t0 = Instant::now();
                let r = c.wait(0, Duration::from_secs(60));
                (r, t0.elapsed())
            })
        };
        let s = sleeper(&c);
        std::thread::sleep(Duration::from_millis(20));
        w.schedule(0, nop());
        let (r, d) = s.join().unwrap();
        assert!(r && d < Duration::from_secs(30), "{d:?}");
        assert_eq!(c.run_due(0), 1);
        c.schedule(1 << 50, nop());
        let all: Vec<_> = (0..2)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    let t0 = Instant::now();
                    // (Past a spurious wakeup, as a softclock thread goes on.)
                    while c.wait(0, Duration::from_secs(60)) {
                        if t0.elapsed() > Duration::from_secs(30) {
                            return (true, t0.elapsed());
                        }
                    }
                    (false, t0.elapsed())
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20));
        c.halt();
        for s in all {
            let (r, d) = s.join().unwrap();
            assert!(!r && d < Duration::from_secs(30), "{d:?}");
        }
        assert!(c.halted());
        assert_eq!(c.pending(), 0);
        assert!(
            !c.wait(0, Duration::from_secs(60)),
            "no sleeping after halt"
        );
    }
}
