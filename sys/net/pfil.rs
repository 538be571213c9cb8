//! Packet filter hooks (FreeBSD's net/pfil.c, pfil(9)): where a firewall
//! plugs into the stack without the stack naming it.
//!
//! Every vnet has one hook list ("head") per address family, kept in the NET
//! module's state ([`crate::r#if::VnetNet::pfil`]).  IPv4 input and output and
//! their IPv6 counterparts run the hooks of curvnet's head with the datagram
//! (from its IP header on), the direction and the interface: the receiving
//! one on input, the one it is about to leave by on output.  A hook answers
//! [`PfilVerdict::Pass`] or [`PfilVerdict::Drop`]; a dropped input datagram
//! goes silently (counted in the head), a dropped output one makes the
//! sender's call fail with `EACCES`, as FreeBSD's `ip_output` returns the
//! filter's error.
//!
//! The list is read on every packet without a lock ([`RcuCell`]: a load, and
//! nothing at all to do when no hook is there); it changes only when a
//! filter attaches to or detaches from a vnet (a module load or unload, a
//! vnet made or destroyed), so the replaced lists it keeps stay few.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use vimage_abi::Errno;
use vimage_kern::subr_rcu::RcuCell;

use crate::if_var::Ifnet;

/// Which way a datagram is going (`PFIL_IN`, `PFIL_OUT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PfilDir {
    /// Arriving: `ip_input`, before local delivery or forwarding.
    In,
    /// Leaving: `ip_output`, after the route is chosen, before the interface.
    Out,
}

/// The address family of a head (FreeBSD keys heads by `AF_INET`/`AF_INET6`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PfilAf {
    /// IPv4 (`inet_pfil_hook`).
    Inet,
    /// IPv6 (`inet6_pfil_hook`).
    Inet6,
    /// Ethernet frames, header included (FreeBSD 7 calls the firewall
    /// directly from `ether_demux` and `ether_output_frame`; later releases
    /// made that the link pfil head).  Its hooks run only while the vnet's
    /// `net.link.ether.ipfw` is 1.
    Link,
}

/// What a hook decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PfilVerdict {
    /// Let the datagram go on.
    Pass,
    /// Consume it: input drops it silently, output fails with `EACCES`.
    Drop,
}

impl PfilVerdict {
    /// Whether the datagram was refused.
    pub fn is_drop(self) -> bool {
        self == PfilVerdict::Drop
    }
}

/// What a hook is shown of one datagram (FreeBSD passes the mbuf, the
/// interface and the direction).
#[derive(Clone, Copy, Debug)]
pub struct PfilPacket<'a> {
    /// The datagram from its IP header on (IPv4 or IPv6 as the head says),
    /// or for [`PfilAf::Link`] the Ethernet frame from its header on.
    pub data: &'a [u8],
    /// Its direction.
    pub dir: PfilDir,
    /// The interface it arrived on ([`PfilDir::In`]) or leaves by
    /// ([`PfilDir::Out`]).
    pub ifp: &'a Arc<Ifnet>,
}

/// A hook function; it runs with curvnet set to the vnet whose head it is in.
pub type PfilFunc = fn(&PfilPacket<'_>) -> PfilVerdict;

/// Hook on the input side (`PFIL_IN`).
pub const PFIL_IN: u32 = 0x1;
/// Hook on the output side (`PFIL_OUT`).
pub const PFIL_OUT: u32 = 0x2;

/// One registered hook (`struct packet_filter_hook`).
#[derive(Clone, Copy, Debug)]
pub struct PfilHook {
    /// Who registered it: the key [`PfilHead::remove_hook`] takes (FreeBSD
    /// compares the function and its argument).
    pub name: &'static str,
    /// The function.
    pub func: PfilFunc,
    /// [`PFIL_IN`], [`PFIL_OUT`] or both.
    pub flags: u32,
}

/// One address family's hooks in one vnet (`struct pfil_head`).
#[derive(Default)]
pub struct PfilHead {
    /// Input hooks in the order they run (the order added).
    input: RcuCell<Vec<PfilHook>>,
    /// Output hooks in the order they run (the reverse of the order added,
    /// as FreeBSD inserts them, so a filter added last sees a datagram last
    /// coming in and first going out).
    output: RcuCell<Vec<PfilHook>>,
    /// Datagrams arriving that a hook dropped.
    pub dropped_in: AtomicU64,
    /// Datagrams leaving that a hook refused.
    pub dropped_out: AtomicU64,
}

impl PfilHead {
    /// `PFIL_HOOKED`: whether any hook is registered.
    pub fn hooked(&self) -> bool {
        self.input.get().is_some() || self.output.get().is_some()
    }

    /// `pfil_add_hook`: register `h` for the directions its flags name;
    /// `EEXIST` if a hook of that name is there, `EINVAL` for no direction.
    pub fn add_hook(&self, h: PfilHook) -> Result<(), Errno> {
        if h.flags & (PFIL_IN | PFIL_OUT) == 0 {
            return Err(Errno::EINVAL);
        }
        let has = |l: Option<&Vec<PfilHook>>| l.is_some_and(|l| l.iter().any(|x| x.name == h.name));
        if has(self.input.get()) || has(self.output.get()) {
            return Err(Errno::EEXIST);
        }
        if h.flags & PFIL_IN != 0 {
            self.input.update(|l| {
                let mut v = l.cloned().unwrap_or_default();
                v.push(h);
                Some(v)
            });
        }
        if h.flags & PFIL_OUT != 0 {
            self.output.update(|l| {
                let mut v = l.cloned().unwrap_or_default();
                v.insert(0, h);
                Some(v)
            });
        }
        Ok(())
    }

    /// `pfil_remove_hook`: unregister the hook named `name`; `ENOENT` if
    /// none.  A datagram already inside the hook finishes there.
    pub fn remove_hook(&self, name: &str) -> Result<(), Errno> {
        let mut found = false;
        for l in [&self.input, &self.output] {
            if !l.get().is_some_and(|v| v.iter().any(|x| x.name == name)) {
                continue;
            }
            found = true;
            l.update(|v| {
                let v: Vec<PfilHook> = v
                    .map(|v| v.iter().filter(|x| x.name != name).copied().collect())
                    .unwrap_or_default();
                // Empty reads as no list at all: the fast path.
                (!v.is_empty()).then_some(v)
            });
        }
        if found {
            Ok(())
        } else {
            Err(Errno::ENOENT)
        }
    }

    /// `pfil_run_hooks`: show the datagram to each hook of its direction in
    /// turn; the first that drops it decides, and the drop is counted.
    pub fn run(&self, data: &[u8], dir: PfilDir, ifp: &Arc<Ifnet>) -> PfilVerdict {
        let (list, dropped) = match dir {
            PfilDir::In => (&self.input, &self.dropped_in),
            PfilDir::Out => (&self.output, &self.dropped_out),
        };
        let Some(hooks) = list.get() else {
            return PfilVerdict::Pass;
        };
        let p = PfilPacket { data, dir, ifp };
        for h in hooks {
            if (h.func)(&p).is_drop() {
                dropped.fetch_add(1, Ordering::Relaxed);
                return PfilVerdict::Drop;
            }
        }
        PfilVerdict::Pass
    }
}

/// A vnet's heads, one per address family.
#[derive(Default)]
pub struct PfilHeads {
    /// IPv4.
    pub inet: PfilHead,
    /// IPv6.
    pub inet6: PfilHead,
    /// Ethernet ([`PfilAf::Link`]).
    pub link: PfilHead,
}

impl PfilHeads {
    /// `pfil_head_get`: the head of `af`.
    pub fn head(&self, af: PfilAf) -> &PfilHead {
        match af {
            PfilAf::Inet => &self.inet,
            PfilAf::Inet6 => &self.inet6,
            PfilAf::Link => &self.link,
        }
    }
}

/// Run curvnet's `af` hooks on a datagram (what `ip_input`, `ip_output` and
/// their IPv6 counterparts call); [`PfilVerdict::Pass`] when curvnet has no
/// network layer or no hook.
pub fn pfil_run_hooks(af: PfilAf, data: &[u8], dir: PfilDir, ifp: &Arc<Ifnet>) -> PfilVerdict {
    crate::r#if::VNET_NET
        .try_with(|n| n.pfil.head(af).run(data, dir, ifp))
        .unwrap_or(PfilVerdict::Pass)
}

/// Register `h` on curvnet's `af` head (see [`PfilHead::add_hook`]);
/// `ENXIO` when curvnet has no network layer.
pub fn pfil_add_hook(af: PfilAf, h: PfilHook) -> Result<(), Errno> {
    crate::r#if::VNET_NET
        .try_with(|n| n.pfil.head(af).add_hook(h))
        .unwrap_or(Err(Errno::ENXIO))
}

/// Unregister the hook `name` from curvnet's `af` head (see
/// [`PfilHead::remove_hook`]).
pub fn pfil_remove_hook(af: PfilAf, name: &str) -> Result<(), Errno> {
    crate::r#if::VNET_NET
        .try_with(|n| n.pfil.head(af).remove_hook(name))
        .unwrap_or(Err(Errno::ENXIO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Mutex;

    static SEEN: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    static CALLS: AtomicUsize = AtomicUsize::new(0);

    fn pass_a(_: &PfilPacket<'_>) -> PfilVerdict {
        SEEN.lock().unwrap().push("a");
        PfilVerdict::Pass
    }
    fn pass_b(_: &PfilPacket<'_>) -> PfilVerdict {
        SEEN.lock().unwrap().push("b");
        PfilVerdict::Pass
    }
    fn drop_icmp(p: &PfilPacket<'_>) -> PfilVerdict {
        CALLS.fetch_add(1, Ordering::SeqCst);
        if p.data.get(9) == Some(&1) {
            PfilVerdict::Drop
        } else {
            PfilVerdict::Pass
        }
    }

    fn ifp(v: &Arc<vimage_kern::Vnet>) -> Arc<Ifnet> {
        struct Nop;
        impl crate::if_var::IfDriver for Nop {
            fn transmit(&self, _: &Arc<Ifnet>, _: crate::mbuf::Mbuf) -> Result<(), Errno> {
                Ok(())
            }
            fn as_any(&self) -> &dyn std::any::Any {
                self
            }
        }
        Ifnet::new(v, "nop0", "nop", 6, 0, 1500, vec![0; 6], Box::new(Nop))
    }

    #[test]
    fn hooks_run_in_order_and_the_first_drop_decides() {
        let _l = vimage_kern::kern_syscall::test_lock();
        let reg = vimage_kern::vnet::ModRegistry::new();
        reg.register(&[&crate::r#if::VNET_NET_MODINFO]).unwrap();
        let v = reg.vnet_alloc("t").unwrap();
        let _cv = vimage_kern::CurvnetGuard::set(&v);
        let ifp = ifp(&v);
        let mut icmp = [0u8; 20];
        icmp[9] = 1;
        let udp = [0u8; 20];
        let both = PFIL_IN | PFIL_OUT;
        // No hook: everything passes, and the head says so.
        assert!(!crate::r#if::VNET_NET.with(|n| n.pfil.inet.hooked()));
        assert_eq!(
            pfil_run_hooks(PfilAf::Inet, &icmp, PfilDir::In, &ifp),
            PfilVerdict::Pass
        );
        for (name, func) in [("a", pass_a as PfilFunc), ("b", pass_b)] {
            pfil_add_hook(
                PfilAf::Inet,
                PfilHook {
                    name,
                    func,
                    flags: both,
                },
            )
            .unwrap();
        }
        let h = PfilHook {
            name: "a",
            func: pass_a,
            flags: both,
        };
        assert_eq!(pfil_add_hook(PfilAf::Inet, h), Err(Errno::EEXIST));
        SEEN.lock().unwrap().clear();
        pfil_run_hooks(PfilAf::Inet, &udp, PfilDir::In, &ifp);
        pfil_run_hooks(PfilAf::Inet, &udp, PfilDir::Out, &ifp);
        assert_eq!(*SEEN.lock().unwrap(), ["a", "b", "b", "a"]);
        // A dropping hook on input only: output never calls it.
        let d = PfilHook {
            name: "fw",
            func: drop_icmp,
            flags: PFIL_IN,
        };
        pfil_add_hook(PfilAf::Inet, d).unwrap();
        CALLS.store(0, Ordering::SeqCst);
        assert!(pfil_run_hooks(PfilAf::Inet, &icmp, PfilDir::In, &ifp).is_drop());
        assert!(!pfil_run_hooks(PfilAf::Inet, &udp, PfilDir::In, &ifp).is_drop());
        assert!(!pfil_run_hooks(PfilAf::Inet, &icmp, PfilDir::Out, &ifp).is_drop());
        assert_eq!(CALLS.load(Ordering::SeqCst), 2);
        // The other family's head is separate.
        assert!(!pfil_run_hooks(PfilAf::Inet6, &icmp, PfilDir::In, &ifp).is_drop());
        crate::r#if::VNET_NET.with(|n| {
            assert_eq!(n.pfil.inet.dropped_in.load(Ordering::Relaxed), 1);
            assert_eq!(n.pfil.inet.dropped_out.load(Ordering::Relaxed), 0);
        });
        for n in ["a", "b", "fw"] {
            pfil_remove_hook(PfilAf::Inet, n).unwrap();
        }
        assert_eq!(pfil_remove_hook(PfilAf::Inet, "fw"), Err(Errno::ENOENT));
        assert!(!crate::r#if::VNET_NET.with(|n| n.pfil.inet.hooked()));
        drop(_cv);
        reg.vnet_destroy(&v);
    }
}
