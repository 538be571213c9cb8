//! Deferred packet work (FreeBSD's sys/net/netisr.c, reduced to what a run-to-
//! completion kernel needs).
//!
//! A frame handed from one layer to another while a lock is held (a netgraph
//! space delivering to an interface, an interface delivering to a stack that then
//! answers through the same graph) must not be processed under that lock, nor by
//! unbounded recursion.  Such work is queued here with [`netisr_queue`] and runs
//! when the outermost [`NetisrSection`] of the current thread ends, in FIFO order.
//! Different threads (different vnets' traffic) never share a queue, so there is
//! no global lock on the data path.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use super::if_var::Ifnet;
use super::mbuf::Mbuf;

/// Most items one thread may have queued; beyond it new work is dropped (a
/// forwarding loop or broadcast storm cannot exhaust memory).
pub const NETISR_MAXQLEN: usize = 65_536;

/// A unit of this thread's deferred work: an interface queue to drain (the
/// common case, typed so that it costs no allocation), or a closure.
enum Work {
    Drain(Arc<IfInq>),
    Fn(Box<dyn FnOnce()>),
}

impl Work {
    fn run(self) {
        match self {
            Work::Drain(q) => q.drain(),
            Work::Fn(f) => f(),
        }
    }
}

/// Queue `w` (see [`netisr_queue`]).
fn netisr_queue_work(w: Work) -> bool {
    if DEPTH.with(|d| d.get()) == 0 {
        let _s = netisr_enter();
        w.run();
        return true;
    }
    QUEUE.with(|q| {
        let mut q = q.borrow_mut();
        if q.len() >= NETISR_MAXQLEN {
            DROPS.with(|d| d.set(d.get() + 1));
            false
        } else {
            q.push_back(w);
            true
        }
    })
}

thread_local! {
    static QUEUE: RefCell<VecDeque<Work>> = const { RefCell::new(VecDeque::new()) };
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    static DROPS: Cell<u64> = const { Cell::new(0) };
}

/// Queue `f` to run when the current thread's outermost section ends (or now, if
/// no section is open).  Returns `false` if the queue was full and `f` dropped.
pub fn netisr_queue(f: impl FnOnce() + 'static) -> bool {
    if DEPTH.with(|d| d.get()) == 0 {
        let _s = netisr_enter();
        f();
        return true;
    }
    netisr_queue_work(Work::Fn(Box::new(f)))
}

/// Run the work queued on this thread now, as the end of its outermost
/// section would, when exactly one section is open and the caller holds no
/// lock: a system call about to sleep (a blocking `connect`/`send` waiting for
/// the segments it just queued to be answered) must not keep them queued.
pub fn netisr_drain() {
    if DEPTH.with(|d| d.get()) != 1 {
        return;
    }
    while let Some(w) = QUEUE.with(|q| q.borrow_mut().pop_front()) {
        w.run();
    }
}

type SendWork = Box<dyn FnOnce() + Send>;

/// One unit of an interface's input queue: the frames and packets that make
/// up nearly all of it are typed (no allocation per packet); anything else
/// is a closure.
enum InqWork {
    /// A link-layer frame for the interface (`if_input`).
    Frame(Arc<Ifnet>, Mbuf),
    /// A packet of network protocol `proto` (`if_input_proto`: a loopback,
    /// a point-to-point interface).
    Proto(Arc<Ifnet>, u16, Mbuf),
    Fn(SendWork),
}

impl InqWork {
    fn run(self) {
        match self {
            InqWork::Frame(ifp, m) => super::r#if::if_input(&ifp, m),
            InqWork::Proto(ifp, proto, m) => super::r#if::if_input_proto(&ifp, proto, m),
            InqWork::Fn(f) => f(),
        }
    }
}

#[derive(Default)]
struct InqInner {
    q: VecDeque<InqWork>,
    /// A thread is draining the queue now.
    busy: bool,
}

/// An interface's input queue (`if_snd`/netisr's per-source ordering): packets
/// handed to one interface by any thread are processed in the order they were
/// handed over, by one thread at a time.  Without it, two threads each
/// draining its own [`netisr_queue`] would reorder a TCP flow whose segments
/// are sent from both (the writer's system call, and the reader's, whose
/// window update makes the sender transmit from there).
#[derive(Default)]
pub struct IfInq {
    inner: Mutex<InqInner>,
}

impl IfInq {
    /// Queue `f` behind everything queued before it, and have this thread's
    /// netisr drain the queue unless another thread already is.  `false` if
    /// the queue was full and `f` dropped.
    pub fn enqueue(self: &Arc<Self>, f: impl FnOnce() + Send + 'static) -> bool {
        self.push(InqWork::Fn(Box::new(f)))
    }

    /// Queue frame `m` as input of `ifp` (whose queue this is), as
    /// [`enqueue`](Self::enqueue) with `if_input`, without an allocation.
    pub fn enqueue_frame(self: &Arc<Self>, ifp: Arc<Ifnet>, m: Mbuf) -> bool {
        self.push(InqWork::Frame(ifp, m))
    }

    /// Queue packet `m` of protocol `proto` as input of `ifp`, as
    /// [`enqueue`](Self::enqueue) with `if_input_proto`.
    pub fn enqueue_proto(self: &Arc<Self>, ifp: Arc<Ifnet>, proto: u16, m: Mbuf) -> bool {
        self.push(InqWork::Proto(ifp, proto, m))
    }

    fn push(self: &Arc<Self>, w: InqWork) -> bool {
        {
            let Ok(mut g) = self.inner.lock() else {
                return false;
            };
            if g.q.len() >= NETISR_MAXQLEN {
                DROPS.with(|d| d.set(d.get() + 1));
                return false;
            }
            g.q.push_back(w);
            if g.busy {
                // The draining thread will get to it, in order.
                return true;
            }
        }
        netisr_queue_work(Work::Drain(self.clone()))
    }

    /// Process the queue until it is empty, unless another thread is on it.
    fn drain(&self) {
        {
            let Ok(mut g) = self.inner.lock() else { return };
            if g.busy {
                return;
            }
            g.busy = true;
        }
        loop {
            let w = {
                let Ok(mut g) = self.inner.lock() else { return };
                match g.q.pop_front() {
                    Some(w) => w,
                    None => {
                        // Cleared under the lock that enqueue checks, so no
                        // packet is left without a drainer.
                        g.busy = false;
                        return;
                    }
                }
            };
            w.run();
        }
    }

    /// Packets waiting.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|g| g.q.len()).unwrap_or(0)
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Work dropped on this thread because its queue was full.
pub fn netisr_drops() -> u64 {
    DROPS.with(|d| d.get())
}

/// An open section: while any is open on this thread, queued work waits.
pub struct NetisrSection(());

/// Open a section; the outermost one runs the queue when dropped.
pub fn netisr_enter() -> NetisrSection {
    DEPTH.with(|d| d.set(d.get() + 1));
    NetisrSection(())
}

impl Drop for NetisrSection {
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

    #[test]
    fn work_runs_fifo_when_the_outermost_section_ends() {
        let log = Rc::new(RefCell::new(Vec::new()));
        {
            let _a = netisr_enter();
            let l = log.clone();
            netisr_queue(move || {
                l.borrow_mut().push(1);
                // Re-entrant work is appended, not run recursively.
                let l2 = l.clone();
                netisr_queue(move || l2.borrow_mut().push(3));
                l.borrow_mut().push(2);
            });
            {
                let _b = netisr_enter();
                let l = log.clone();
                netisr_queue(move || l.borrow_mut().push(4));
            }
            assert!(log.borrow().is_empty(), "inner section must not drain");
        }
        assert_eq!(*log.borrow(), vec![1, 2, 4, 3]);
        // Without a section, work runs at once.
        let l = log.clone();
        netisr_queue(move || l.borrow_mut().push(5));
        assert_eq!(log.borrow().last(), Some(&5));
    }

    #[test]
    fn a_storm_is_bounded() {
        let _s = netisr_enter();
        let before = netisr_drops();
        for _ in 0..NETISR_MAXQLEN + 10 {
            netisr_queue(|| {});
        }
        assert_eq!(netisr_drops() - before, 10);
    }

    #[test]
    fn an_interface_queue_keeps_order_across_threads() {
        use std::sync::mpsc;
        let inq = Arc::new(IfInq::default());
        let log = Arc::new(Mutex::new(Vec::new()));
        // Thread A drains; its first packet waits until B has queued one.
        let (hold_tx, hold_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let a = {
            let (inq, log) = (inq.clone(), log.clone());
            std::thread::spawn(move || {
                let _s = netisr_enter();
                let l = log.clone();
                inq.enqueue(move || {
                    started_tx.send(()).unwrap();
                    hold_rx.recv().unwrap();
                    l.lock().unwrap().push(1);
                });
                let l = log.clone();
                inq.enqueue(move || l.lock().unwrap().push(2));
            })
        };
        started_rx.recv().unwrap();
        {
            // B's packet lands behind A's; B does not run it out of turn.
            let _s = netisr_enter();
            let l = log.clone();
            inq.enqueue(move || l.lock().unwrap().push(3));
        }
        assert!(log.lock().unwrap().is_empty());
        assert_eq!(inq.len(), 2);
        hold_tx.send(()).unwrap();
        a.join().unwrap();
        assert_eq!(*log.lock().unwrap(), vec![1, 2, 3]);
        assert!(inq.is_empty());
        // Queued from inside its own drain: appended, run by the same drainer.
        let l = log.clone();
        let q2 = inq.clone();
        {
            let _s = netisr_enter();
            inq.enqueue(move || {
                let l2 = l.clone();
                q2.enqueue(move || l2.lock().unwrap().push(5));
                l.lock().unwrap().push(4);
            });
        }
        assert_eq!(*log.lock().unwrap(), vec![1, 2, 3, 4, 5]);
    }
}
