//! Sleeping and waking up (FreeBSD's sys/kern/kern_synch.c, `msleep(9)` and
//! `wakeup(9)`, with the sleep queues of subr_sleepqueue.c under them).
//!
//! A call that has to wait (a receive on an empty buffer, a connect in
//! progress, a poll with nothing ready) sleeps on a wait channel
//! ([`WaitChan`]) until another thread calls [`WaitChan::wakeup`] on it, until
//! kernel time reaches its [`Deadline`], or until its process goes away
//! ([`msleep`]'s `intr`).
//!
//! The core reads no clock of its own, so deadlines are kernel time from the
//! injected [`Clock`], and how a thread blocks until one is the clock's
//! business ([`Clock::sleepq`], a [`SleepQueue`]): a clock that moves with
//! real time (vkernel's host clock) blocks on the channel for the time left
//! ([`RealTime`]); a [`FakeClock`](crate::kern_timeout::FakeClock) moves only
//! when a test advances it, so its sleepers look at it again every tick
//! ([`Ticks`]): they wake within a tick of the test moving it past their
//! deadline, and never before, however much real time passes.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;
use vimage_abi::Errno;

use crate::kern_timeout::Clock;
use crate::vnet::Vnet;

/// Longest single sleep in real time: how soon a sleeper notices that its
/// process went away (nothing wakes its channel for that).
pub const SLICE: Duration = Duration::from_millis(50);

/// One tick (`1/hz` with FreeBSD's `hz` = 1000): how often a sleeper on a
/// clock that real time says nothing about looks at it again ([`Ticks`]).
pub const TICK: Duration = Duration::from_millis(1);

/// A wait channel (`wchan`) with its sleep queue: a generation that
/// [`WaitChan::wakeup`] bumps, and the threads blocked until it moves.
///
/// A sleeper reads [`WaitChan::generation`] under the lock that guards the
/// state it is waiting on, looks at that state, drops the lock and sleeps
/// for a newer generation; a waker changes the state, then calls
/// [`WaitChan::wakeup`].  A change after the sleeper's look therefore always
/// moves the generation past what it read, and no wakeup is lost.
#[derive(Default)]
pub struct WaitChan {
    gen: AtomicU64,
    /// The interlock between a sleeper's last look at `gen` and its wait.
    lock: Mutex<()>,
    cv: Condvar,
    /// Threads blocked on the channel: a wakeup with nobody asleep costs two
    /// atomic operations, no lock and no futex call.
    sleepers: AtomicUsize,
}

impl WaitChan {
    /// A channel nobody sleeps on.
    pub fn new() -> Self {
        WaitChan::default()
    }

    /// The current generation, to sleep for a newer one.
    pub fn generation(&self) -> u64 {
        self.gen.load(Ordering::SeqCst)
    }

    /// `wakeup(9)`: something changed; wake every sleeper.
    pub fn wakeup(&self) {
        self.gen.fetch_add(1, Ordering::SeqCst);
        // Either this load sees a sleeper that counted itself, or that
        // sleeper's look at `gen` (after counting) sees the new generation.
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            // Taken and dropped so that a sleeper between its look at `gen`
            // and its wait is waiting by the time of the notify.
            drop(self.lock.lock().unwrap_or_else(PoisonError::into_inner));
            self.cv.notify_all();
        }
    }

    /// Block while the generation is still `seen`, for at most `d` of real
    /// time (`sleepq_timedwait` for one interval).  Returns on a wakeup, when
    /// `d` passes, or spuriously: the caller looks at its state again.
    pub fn block(&self, seen: u64, d: Duration) {
        if d.is_zero() {
            return;
        }
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        let g = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        if self.gen.load(Ordering::SeqCst) == seen {
            // (Poisoning of a `()` lock protects nothing: ignored.)
            let _ = self.cv.wait_timeout(g, d);
        } else {
            drop(g);
        }
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }

    /// Threads blocked on the channel now.
    pub fn sleepers(&self) -> usize {
        self.sleepers.load(Ordering::SeqCst)
    }
}

/// How a thread blocks until a clock reaches a deadline: the clock's half of
/// a timed sleep (`sleepq_timedwait`), as [`Clock::sleepq`] chooses it.
pub trait SleepQueue: Send + Sync {
    /// Block on `chan` while its generation is `seen`, for at most `slice` of
    /// real time, and not much past the moment `clock` reaches
    /// `deadline_ns`.  Returning early is allowed (the caller looks at its
    /// state and the clock again); blocking past a wakeup is not.
    fn timedwait(
        &self,
        clock: &dyn Clock,
        chan: &WaitChan,
        seen: u64,
        deadline_ns: u64,
        slice: Duration,
    );
}

/// The sleep queue of a clock that moves with real time (vkernel's host
/// clock, the default): block for the kernel time left, read as real time.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealTime;

impl SleepQueue for RealTime {
    fn timedwait(
        &self,
        clock: &dyn Clock,
        chan: &WaitChan,
        seen: u64,
        deadline_ns: u64,
        slice: Duration,
    ) {
        let left = Duration::from_nanos(deadline_ns.saturating_sub(clock.now_ns()));
        chan.block(seen, left.min(slice));
    }
}

/// The sleep queue of a clock that moves only when told (a
/// [`FakeClock`](crate::kern_timeout::FakeClock)): how much real time passes
/// says nothing about it, so a sleeper blocks one [`TICK`] at a time and
/// looks at the clock again in between.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ticks;

impl SleepQueue for Ticks {
    fn timedwait(
        &self,
        _clock: &dyn Clock,
        chan: &WaitChan,
        seen: u64,
        _deadline_ns: u64,
        slice: Duration,
    ) {
        chan.block(seen, slice.min(TICK));
    }
}

/// When a sleep gives up: a kernel time on the kernel's clock (`msleep`'s
/// `timo`, made absolute once, so that a sleeper woken early does not start
/// its timeout over).
#[derive(Clone, Copy)]
pub struct Deadline<'a> {
    /// `None`: no clock to measure the wait by (see [`Deadline::after_in`]).
    clock: Option<&'a dyn Clock>,
    at_ns: u64,
}

impl<'a> Deadline<'a> {
    /// Kernel time `at_ns` on `clock`.
    pub fn at(clock: &'a dyn Clock, at_ns: u64) -> Self {
        Deadline {
            clock: Some(clock),
            at_ns,
        }
    }

    /// `ns` of kernel time from now on `clock`.
    pub fn after(clock: &'a dyn Clock, ns: u64) -> Self {
        Deadline::at(clock, clock.now_ns().saturating_add(ns))
    }

    /// `ns` of kernel time from now on the clock of `vnet`'s kernel.  A vnet
    /// outside any kernel has no clock, so nothing would ever end the wait:
    /// its deadline has passed already, and a timed sleep gives up at once
    /// rather than never.
    pub fn after_in(vnet: &'a Vnet, ns: u64) -> Self {
        match vnet.kern_time() {
            Some(t) => Deadline::after(&*t.clock, ns),
            None => Deadline {
                clock: None,
                at_ns: 0,
            },
        }
    }

    /// The deadline in kernel time (ns).
    pub fn at_ns(&self) -> u64 {
        self.at_ns
    }

    /// Whether kernel time has reached the deadline.
    pub fn passed(&self) -> bool {
        self.clock.is_none_or(|c| c.now_ns() >= self.at_ns)
    }
}

impl std::fmt::Debug for Deadline<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deadline")
            .field("at_ns", &self.at_ns)
            .field("clock", &self.clock.is_some())
            .finish()
    }
}

/// `msleep(9)`: one sleep on `chan` while its generation is `seen`, at most
/// a [`SLICE`] of real time and not past `timo`.  `Ok` when woken, or when
/// the slice passed (the caller looks at its state again and sleeps anew);
/// `EWOULDBLOCK` once kernel time has reached `timo`; `EINTR` when `intr`
/// says the caller's process went away.
pub fn msleep(
    chan: &WaitChan,
    seen: u64,
    timo: Option<Deadline<'_>>,
    intr: &dyn Fn() -> bool,
) -> Result<(), Errno> {
    if timo.is_some_and(|d| d.passed()) {
        return Err(Errno::EWOULDBLOCK);
    }
    if intr() {
        return Err(Errno::EINTR);
    }
    match timo.and_then(|d| Some((d.clock?, d.at_ns))) {
        Some((clock, at)) => clock.sleepq().timedwait(clock, chan, seen, at, SLICE),
        None => chan.block(seen, SLICE),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kern_timeout::FakeClock;
    use std::sync::Arc;
    use std::time::Instant;

    /// A wakeup between a sleeper's look and its sleep is not lost: the
    /// generation it read is stale, so it does not block at all.
    #[test]
    fn a_wakeup_before_the_sleep_is_kept() {
        let c = WaitChan::new();
        let seen = c.generation();
        c.wakeup();
        let t0 = Instant::now();
        c.block(seen, Duration::from_secs(5));
        assert!(t0.elapsed() < Duration::from_secs(1));
        assert_eq!(c.sleepers(), 0);
    }

    /// A timed sleep on a fake clock ends when the clock passes its
    /// deadline, not when real time does.
    #[test]
    fn a_timed_sleep_follows_the_fake_clock() {
        let clock = Arc::new(FakeClock::new(1_000));
        let c = Arc::new(WaitChan::new());
        let (k, ch) = (clock.clone(), c.clone());
        let h = std::thread::spawn(move || {
            let d = Deadline::after(&*k, 5_000_000_000);
            let seen = ch.generation();
            loop {
                match msleep(&ch, seen, Some(d), &|| false) {
                    Ok(()) => continue,
                    Err(e) => return (e, k.now_ns()),
                }
            }
        });
        std::thread::sleep(Duration::from_millis(150));
        assert!(!h.is_finished(), "returned before the clock moved");
        clock.advance(4_999_999_999);
        std::thread::sleep(Duration::from_millis(50));
        assert!(!h.is_finished(), "returned before its deadline");
        let t0 = Instant::now();
        clock.advance(1);
        let (e, now) = h.join().unwrap();
        assert!(t0.elapsed() < Duration::from_secs(1));
        assert_eq!((e, now), (Errno::EWOULDBLOCK, 5_000_001_000));
    }

    /// An untimed sleeper is woken by a wakeup at once, and by its process
    /// going away within a slice.
    #[test]
    fn wakeup_and_intr_end_a_sleep() {
        let c = Arc::new(WaitChan::new());
        let ch = c.clone();
        let h = std::thread::spawn(move || {
            let seen = ch.generation();
            while ch.generation() == seen {
                msleep(&ch, seen, None, &|| false).unwrap();
            }
        });
        while c.sleepers() == 0 {
            std::thread::yield_now();
        }
        c.wakeup();
        h.join().unwrap();
        let t0 = Instant::now();
        let seen = c.generation();
        assert_eq!(msleep(&c, seen, None, &|| true), Err(Errno::EINTR));
        assert!(t0.elapsed() < SLICE);
    }
}
