//! The network layer's deferred dispatch (FreeBSD's sys/net/netisr.c), on the
//! kernel's per-thread software-interrupt queue ([`vimage_kern::kern_intr`]).
//!
//! Packets handed to an interface while a lock is held are queued on the
//! interface ([`IfInq`]) and the queue is scheduled on the current thread's
//! software interrupt, so they run when the outermost section ends, in order,
//! and never recursively under the lock.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

pub use vimage_kern::kern_intr::{
    swi_drain as netisr_drain, swi_drops as netisr_drops, swi_enter as netisr_enter,
    swi_queue as netisr_queue, SwiSection as NetisrSection, SWI_MAXQLEN as NETISR_MAXQLEN,
};
use vimage_kern::kern_intr::{swi_dropped, swi_sched, SwiHandler};

use super::if_var::Ifnet;
use super::mbuf::Mbuf;

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
                swi_dropped();
                return false;
            }
            g.q.push_back(w);
            if g.busy {
                // The draining thread will get to it, in order.
                return true;
            }
        }
        swi_sched(self.clone())
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

impl SwiHandler for IfInq {
    fn swi_run(&self) {
        self.drain();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
