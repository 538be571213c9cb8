//! Deferred work of the current thread (FreeBSD's software interrupts,
//! `swi_add`/`swi_sched` in sys/kern/kern_intr.c, reduced to what a
//! run-to-completion kernel needs).
//!
//! Work handed from one layer to another while a lock is held (a netgraph
//! space delivering to an interface, an interface delivering to a stack that
//! then answers through the same graph) must not run under that lock, nor by
//! unbounded recursion.  It is queued here and runs when the outermost
//! [`SwiSection`] of the current thread ends, in FIFO order.  Different threads
//! (different vnets' traffic) never share a queue, so there is no global lock
//! on the data path.  The network layer's netisr is built on this.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::Arc;

/// Most items one thread may have queued; beyond it new work is dropped (a
/// forwarding loop or broadcast storm cannot exhaust memory).
pub const SWI_MAXQLEN: usize = 65_536;

/// A handler scheduled by reference ([`swi_sched`]): the common case of a
/// queue to drain, with no allocation per scheduling.
pub trait SwiHandler: Send + Sync {
    /// Run the handler (with a section open, on the scheduling thread).
    fn swi_run(&self);
}

/// A unit of this thread's deferred work.
enum Work {
    Handler(Arc<dyn SwiHandler>),
    Fn(Box<dyn FnOnce()>),
}

impl Work {
    fn run(self) {
        match self {
            Work::Handler(h) => h.swi_run(),
            Work::Fn(f) => f(),
        }
    }
}

thread_local! {
    static QUEUE: RefCell<VecDeque<Work>> = const { RefCell::new(VecDeque::new()) };
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    static DROPS: Cell<u64> = const { Cell::new(0) };
}

/// Queue `w`, or run it now if no section is open.
fn swi_queue_work(w: Work) -> bool {
    if DEPTH.with(|d| d.get()) == 0 {
        let _s = swi_enter();
        w.run();
        return true;
    }
    QUEUE.with(|q| {
        let mut q = q.borrow_mut();
        if q.len() >= SWI_MAXQLEN {
            swi_dropped();
            false
        } else {
            q.push_back(w);
            true
        }
    })
}

/// `swi_sched`: have `h` run when the current thread's outermost section
/// ends (or now, if no section is open).  `false` if the queue was full.
pub fn swi_sched(h: Arc<dyn SwiHandler>) -> bool {
    swi_queue_work(Work::Handler(h))
}

/// Queue `f` to run when the current thread's outermost section ends (or now,
/// if no section is open).  Returns `false` if the queue was full and `f`
/// dropped.
pub fn swi_queue(f: impl FnOnce() + 'static) -> bool {
    if DEPTH.with(|d| d.get()) == 0 {
        let _s = swi_enter();
        f();
        return true;
    }
    swi_queue_work(Work::Fn(Box::new(f)))
}

/// Run the work queued on this thread now, as the end of its outermost
/// section would, when exactly one section is open and the caller holds no
/// lock: a system call about to sleep (a blocking `connect`/`send` waiting
/// for the segments it just queued to be answered) must not keep them queued.
pub fn swi_drain() {
    if DEPTH.with(|d| d.get()) != 1 {
        return;
    }
    while let Some(w) = QUEUE.with(|q| q.borrow_mut().pop_front()) {
        w.run();
    }
}

/// Count one unit of work dropped on this thread (a full queue here or in a
/// layer's own queue drained from here).
pub fn swi_dropped() {
    DROPS.with(|d| d.set(d.get() + 1));
}

/// Work dropped on this thread because a queue was full.
pub fn swi_drops() -> u64 {
    DROPS.with(|d| d.get())
}

/// An open section: while any is open on this thread, queued work waits.
#[must_use = "queued work runs when the outermost section drops"]
pub struct SwiSection(());

/// Open a section (every entry point into the kernel does); the outermost one
/// runs the queue when dropped.
pub fn swi_enter() -> SwiSection {
    DEPTH.with(|d| d.set(d.get() + 1));
    SwiSection(())
}

impl Drop for SwiSection {
    fn drop(&mut self) {
        if DEPTH.with(|d| d.get()) == 1 {
            // Still counted as open while draining, so work queued by the work
            // itself lands at the tail instead of recursing.
            while let Some(w) = QUEUE.with(|q| q.borrow_mut().pop_front()) {
                w.run();
            }
        }
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn work_runs_fifo_when_the_outermost_section_ends() {
        let log = Rc::new(RefCell::new(Vec::new()));
        {
            let _a = swi_enter();
            let l = log.clone();
            swi_queue(move || {
                l.borrow_mut().push(1);
                // Re-entrant work is appended, not run recursively.
                let l2 = l.clone();
                swi_queue(move || l2.borrow_mut().push(3));
                l.borrow_mut().push(2);
            });
            {
                let _b = swi_enter();
                let l = log.clone();
                swi_queue(move || l.borrow_mut().push(4));
            }
            assert!(log.borrow().is_empty(), "inner section must not drain");
        }
        assert_eq!(*log.borrow(), vec![1, 2, 4, 3]);
        // Without a section, work runs at once.
        let l = log.clone();
        swi_queue(move || l.borrow_mut().push(5));
        assert_eq!(log.borrow().last(), Some(&5));
    }

    #[test]
    fn a_storm_is_bounded() {
        let _s = swi_enter();
        let before = swi_drops();
        for _ in 0..SWI_MAXQLEN + 10 {
            swi_queue(|| {});
        }
        assert_eq!(swi_drops() - before, 10);
    }

    #[test]
    fn a_scheduled_handler_runs_once_per_scheduling_in_order() {
        struct H(AtomicU32);
        impl SwiHandler for H {
            fn swi_run(&self) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let h = Arc::new(H(AtomicU32::new(0)));
        {
            let _s = swi_enter();
            assert!(swi_sched(h.clone()));
            assert!(swi_sched(h.clone()));
            assert_eq!(h.0.load(Ordering::Relaxed), 0);
        }
        assert_eq!(h.0.load(Ordering::Relaxed), 2);
    }
}
