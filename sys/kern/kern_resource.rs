//! Bounds on what the kernel allocates for processes: sockets, interfaces and
//! netgraph nodes, kernel-wide and per vimage (FreeBSD's `kern.ipc.maxsockets`
//! and its zone limits, with VIMAGE's per-vimage counterparts of jail limits).
//!
//! | sysctl | default | bounds | past it |
//! |---|---|---|---|
//! | `kern.ipc.maxsockets` | 65536 | sockets in the whole kernel | `ENOBUFS` |
//! | `security.vimage.maxsockets` | 0 (none) | sockets of each vimage below default | `ENOBUFS` |
//! | `net.link.maxifnets` | 65536 | interfaces in the whole kernel | `ENOSPC` |
//! | `security.vimage.maxifnets` | 1024 | interfaces of each vimage below default, its `lo0` included | `ENOSPC` |
//! | `net.graph.maxnodes` | 65536 | netgraph nodes in the whole kernel | `ENOMEM` |
//! | `security.vimage.maxngnodes` | 4096 | netgraph nodes of each vimage below default | `ENOMEM` |
//!
//! All are global sysctls, so only the default vimage writes them; the
//! per-vimage ones apply to every vimage below default alike (each child has
//! an allowance of its own; how many children a vimage may have is
//! `security.vimage.children.max`), while default is bounded only by the
//! kernel-wide caps.  `kern.ipc.numopensockets`, `net.link.numifnets` and
//! `net.graph.numnodes` read the kernel-wide counts.  A limit may be lowered
//! below what is in use: nothing is taken away, new ones are refused until
//! enough have gone.
//!
//! Errors are FreeBSD's for the same exhaustion: `socreate` answers `ENOBUFS`
//! when the socket zone (`kern.ipc.maxsockets`) is full; `ng_make_node`
//! answers `ENOMEM` when a node cannot be allocated; an interface that does
//! not fit is `ENOSPC`, as `if_clone`'s unit allocator answers when a cloner's
//! units run out (not `EAGAIN`: retrying cannot help until an interface goes).

use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::Arc;
use vimage_abi::sysctl::{SysctlValue, CTLFLAG_RD};
use vimage_abi::Errno;

use super::kern_sysctl::{Oid, SysctlTree};
use super::vnet::Vnet;

/// Registry slot holding the kernel's [`ResLimits`] (kernel-wide state, not a
/// vnet module).
pub const KERN_RESOURCE_SLOT: usize = 62;

/// Default of `kern.ipc.maxsockets`.
pub const MAXSOCKETS: i64 = 65536;
/// Default of `net.link.maxifnets`.
pub const MAXIFNETS: i64 = 65536;
/// Default of `net.graph.maxnodes`.
pub const MAXNGNODES: i64 = 65536;
/// Default of `security.vimage.maxsockets` (0: no limit of its own, as the
/// tutorial's `Sockets (current/max): S/0` shows).
pub const VIMAGE_MAXSOCKETS: i64 = 0;
/// Default of `security.vimage.maxifnets`.
pub const VIMAGE_MAXIFNETS: i64 = 1024;
/// Default of `security.vimage.maxngnodes`.
pub const VIMAGE_MAXNGNODES: i64 = 4096;
/// Largest value any of these limits accepts.
pub const RESOURCE_LIMIT_MAX: i64 = 1 << 24;

/// `SOMAXCONN`: the default of `kern.ipc.somaxconn` (7.x's 128).
pub const SOMAXCONN: i64 = 128;

/// The limits and the kernel-wide counts of sockets and interfaces (netgraph
/// counts its nodes itself).  The kernel holds one, reachable from every vnet
/// through [`ResLimits::of`].
pub struct ResLimits {
    /// `kern.ipc.maxsockets`.
    pub maxsockets: Arc<AtomicI64>,
    /// `security.vimage.maxsockets` (0: none).
    pub vimage_maxsockets: Arc<AtomicI64>,
    /// `net.link.maxifnets`.
    pub maxifnets: Arc<AtomicI64>,
    /// `security.vimage.maxifnets` (0: none).
    pub vimage_maxifnets: Arc<AtomicI64>,
    /// `net.graph.maxnodes` (registered by netgraph.ko, kept here so that a
    /// setting outlives an unload).
    pub maxngnodes: Arc<AtomicI64>,
    /// `security.vimage.maxngnodes` (0: none).
    pub vimage_maxngnodes: Arc<AtomicI64>,
    /// `kern.ipc.somaxconn`: the longest listen queue a `listen(2)` gets.
    pub somaxconn: Arc<AtomicI64>,
    /// `kern.ipc.numopensockets`.
    numopensockets: AtomicI64,
    /// `net.link.numifnets`.
    numifnets: AtomicI64,
}

impl Default for ResLimits {
    fn default() -> Self {
        ResLimits {
            maxsockets: Arc::new(AtomicI64::new(MAXSOCKETS)),
            vimage_maxsockets: Arc::new(AtomicI64::new(VIMAGE_MAXSOCKETS)),
            maxifnets: Arc::new(AtomicI64::new(MAXIFNETS)),
            vimage_maxifnets: Arc::new(AtomicI64::new(VIMAGE_MAXIFNETS)),
            maxngnodes: Arc::new(AtomicI64::new(MAXNGNODES)),
            vimage_maxngnodes: Arc::new(AtomicI64::new(VIMAGE_MAXNGNODES)),
            somaxconn: Arc::new(AtomicI64::new(SOMAXCONN)),
            numopensockets: AtomicI64::new(0),
            numifnets: AtomicI64::new(0),
        }
    }
}

/// Take one from `count` if it stays within `max`.
fn reserve(count: &AtomicI64, max: i64) -> bool {
    count
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .is_ok()
}

impl ResLimits {
    /// The limits of the kernel `vnet` belongs to (None for a vnet made
    /// outside a booted kernel, which is bounded by nothing).
    pub fn of(vnet: &Vnet) -> Option<Arc<ResLimits>> {
        vnet.registry()?.global::<ResLimits>(KERN_RESOURCE_SLOT)
    }

    /// The per-vimage limit `cell` as it applies to `vnet`: 0 (none) for the
    /// default vimage's and in a kernel without VIMAGE.
    pub fn vimage_limit(vnet: &Vnet, cell: &AtomicI64) -> usize {
        if !crate::VIMAGE || vnet.id() == 0 {
            return 0;
        }
        usize::try_from(cell.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// `security.vimage.maxsockets` as it applies to `vnet` (what `vimage -l`
    /// prints as the max of `Sockets (current/max)`).
    pub fn vimage_maxsockets(&self, vnet: &Vnet) -> usize {
        Self::vimage_limit(vnet, &self.vimage_maxsockets)
    }

    /// `kern.ipc.numopensockets`.
    pub fn numopensockets(&self) -> i64 {
        self.numopensockets.load(Ordering::Relaxed)
    }

    /// `net.link.numifnets`.
    pub fn numifnets(&self) -> i64 {
        self.numifnets.load(Ordering::Relaxed)
    }

    /// Whether one more interface may arrive in `vnet`, which has `present`
    /// now: its vimage's limit (`ENOSPC`).  An interface arriving in an empty
    /// vnet is its `lo0`, made with the vnet, and always fits.
    pub fn ifnet_room(&self, vnet: &Vnet, present: usize) -> Result<(), Errno> {
        let max = Self::vimage_limit(vnet, &self.vimage_maxifnets);
        if present > 0 && max != 0 && present >= max {
            return Err(Errno::ENOSPC);
        }
        Ok(())
    }

    /// Count an interface attached in `vnet`, which had `present` before it:
    /// with `limited`, refused (`ENOSPC`) past its vimage's limit or
    /// `net.link.maxifnets` (a vnet's first interface, its `lo0`, never is).
    pub fn ifnet_charge(&self, vnet: &Vnet, present: usize, limited: bool) -> Result<(), Errno> {
        if !limited || present == 0 {
            self.numifnets.fetch_add(1, Ordering::AcqRel);
            return Ok(());
        }
        self.ifnet_room(vnet, present)?;
        if !reserve(&self.numifnets, self.maxifnets.load(Ordering::Relaxed)) {
            return Err(Errno::ENOSPC);
        }
        Ok(())
    }

    /// An interface left the kernel's lists.
    pub fn ifnet_release(&self) {
        self.numifnets.fetch_sub(1, Ordering::AcqRel);
    }

    /// Register the kernel-wide sysctls (`kern.ipc.*`, `net.link.*`).
    pub fn sysctl_init(self: &Arc<Self>, t: &SysctlTree) {
        t.add_int(
            "kern.ipc.maxsockets",
            "Maximum number of sockets available",
            self.maxsockets.clone(),
            true,
            1,
            RESOURCE_LIMIT_MAX,
        );
        t.add_int(
            "kern.ipc.somaxconn",
            "Maximum pending socket connection queue size",
            self.somaxconn.clone(),
            true,
            1,
            i64::from(u16::MAX),
        );
        let me = self.clone();
        read_only(
            t,
            "kern.ipc.numopensockets",
            "Number of open sockets",
            move || me.numopensockets(),
        );
        t.add_int(
            "net.link.maxifnets",
            "Maximum number of network interfaces",
            self.maxifnets.clone(),
            true,
            1,
            RESOURCE_LIMIT_MAX,
        );
        let me = self.clone();
        read_only(
            t,
            "net.link.numifnets",
            "Number of network interfaces",
            move || me.numifnets(),
        );
    }

    /// Register the per-vimage sysctls (`security.vimage.max*`; VIMAGE only).
    pub fn vimage_sysctl_init(&self, t: &SysctlTree) {
        t.add_int(
            "security.vimage.maxsockets",
            "Maximum number of sockets of a vimage below default (0: no limit)",
            self.vimage_maxsockets.clone(),
            true,
            0,
            RESOURCE_LIMIT_MAX,
        );
        t.add_int(
            "security.vimage.maxifnets",
            "Maximum number of network interfaces of a vimage below default (0: no limit)",
            self.vimage_maxifnets.clone(),
            true,
            0,
            RESOURCE_LIMIT_MAX,
        );
        t.add_int(
            "security.vimage.maxngnodes",
            "Maximum number of netgraph nodes of a vimage below default (0: no limit)",
            self.vimage_maxngnodes.clone(),
            true,
            0,
            RESOURCE_LIMIT_MAX,
        );
    }
}

/// A read-only integer leaf computed by `f`.
pub fn read_only(
    t: &SysctlTree,
    name: &str,
    descr: &'static str,
    f: impl Fn() -> i64 + Send + Sync + 'static,
) {
    let _ = t.add(
        name,
        Oid {
            flags: CTLFLAG_RD,
            descr,
            handler: Arc::new(move |_, new| {
                if new.is_some() {
                    return Err(Errno::EPERM);
                }
                Ok(SysctlValue::Int(f()))
            }),
        },
    );
}

/// A socket's place in the kernel's and its vimage's counts (`soalloc` from
/// the socket zone): taken before the protocol attaches, given back when the
/// socket is freed.  It is what `vimage -l` counts as the vimage's sockets.
pub struct SoCharge {
    vnet: Arc<Vnet>,
    lim: Option<Arc<ResLimits>>,
}

impl SoCharge {
    /// Count a new socket in `vnet`: `ENOBUFS` past `kern.ipc.maxsockets` or
    /// the vimage's `security.vimage.maxsockets`, as FreeBSD's `socreate`
    /// answers when the socket zone is exhausted.
    pub fn take(vnet: &Arc<Vnet>) -> Result<SoCharge, Errno> {
        let lim = ResLimits::of(vnet);
        if let Some(l) = &lim {
            if !reserve(&l.numopensockets, l.maxsockets.load(Ordering::Relaxed)) {
                return Err(Errno::ENOBUFS);
            }
            let max = l.vimage_maxsockets(vnet);
            if !reserve_u32(&vnet.sockcnt, max) {
                l.numopensockets.fetch_sub(1, Ordering::AcqRel);
                return Err(Errno::ENOBUFS);
            }
        } else {
            vnet.sockcnt.fetch_add(1, Ordering::AcqRel);
        }
        Ok(SoCharge {
            vnet: vnet.clone(),
            lim,
        })
    }

    /// The vnet the socket is counted in.
    pub fn vnet(&self) -> &Arc<Vnet> {
        &self.vnet
    }
}

/// Take one from `count` if it stays within `max` (0: no bound).
fn reserve_u32(count: &AtomicU32, max: usize) -> bool {
    count
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (max == 0 || (n as usize) < max).then_some(n.saturating_add(1))
        })
        .is_ok()
}

impl Drop for SoCharge {
    fn drop(&mut self) {
        self.vnet.sockcnt.fetch_sub(1, Ordering::AcqRel);
        if let Some(l) = &self.lim {
            l.numopensockets.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vnet::ModRegistry;

    #[test]
    fn reserve_stops_at_max() {
        let c = AtomicI64::new(0);
        assert!(reserve(&c, 2));
        assert!(reserve(&c, 2));
        assert!(!reserve(&c, 2));
        assert_eq!(c.load(Ordering::Relaxed), 2);
        let u = AtomicU32::new(0);
        assert!(reserve_u32(&u, 1));
        assert!(!reserve_u32(&u, 1));
        assert!(reserve_u32(&u, 0), "0 is no bound");
        assert_eq!(u.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn sockets_are_charged_and_given_back() {
        let _l = crate::kern_syscall::test_lock();
        let reg = ModRegistry::new();
        let lim = Arc::new(ResLimits::default());
        reg.set_global(KERN_RESOURCE_SLOT, Some(lim.clone()));
        let v0 = reg.vnet_alloc("default").expect("vnet0");
        lim.maxsockets.store(3, Ordering::Relaxed);
        let a = SoCharge::take(&v0).expect("first");
        let b = SoCharge::take(&v0).expect("second");
        assert_eq!(lim.numopensockets(), 2);
        assert_eq!(v0.sockcnt.load(Ordering::Relaxed), 2);
        #[cfg(feature = "vimage")]
        {
            let v1 = reg.vnet_alloc("n1").expect("vnet1");
            lim.vimage_maxsockets.store(1, Ordering::Relaxed);
            assert_eq!(lim.vimage_maxsockets(&v1), 1);
            assert_eq!(lim.vimage_maxsockets(&v0), 0, "default has none");
            let c = SoCharge::take(&v1).expect("n1's one");
            // The kernel is full now: default too is refused.
            assert_eq!(SoCharge::take(&v0).err(), Some(Errno::ENOBUFS));
            drop(b);
            // Room in the kernel, none in n1.
            assert_eq!(SoCharge::take(&v1).err(), Some(Errno::ENOBUFS));
            assert_eq!(lim.numopensockets(), 2, "a refusal takes nothing");
            let b = SoCharge::take(&v0).expect("default's");
            drop((b, c));
            assert_eq!(v1.sockcnt.load(Ordering::Relaxed), 0);
            reg.vnet_destroy(&v1);
        }
        #[cfg(not(feature = "vimage"))]
        drop(b);
        drop(a);
        assert_eq!(lim.numopensockets(), 0);
        assert_eq!(v0.sockcnt.load(Ordering::Relaxed), 0);
        lim.maxsockets.store(1, Ordering::Relaxed);
        let a = SoCharge::take(&v0).expect("one");
        assert_eq!(SoCharge::take(&v0).err(), Some(Errno::ENOBUFS));
        drop(a);
        reg.vnet_destroy(&v0);
    }

    #[test]
    fn interfaces_fit_or_not() {
        let _l = crate::kern_syscall::test_lock();
        let reg = ModRegistry::new();
        let lim = Arc::new(ResLimits::default());
        let v0 = reg.vnet_alloc("default").expect("vnet0");
        lim.maxifnets.store(2, Ordering::Relaxed);
        // A vnet's first interface (lo0) always fits, and counts.
        lim.ifnet_charge(&v0, 0, true).expect("lo0");
        lim.ifnet_charge(&v0, 1, true).expect("second");
        assert_eq!(lim.ifnet_charge(&v0, 2, true), Err(Errno::ENOSPC));
        lim.ifnet_charge(&v0, 0, true).expect("another vnet's lo0");
        lim.ifnet_charge(&v0, 2, false)
            .expect("a move is not refused");
        assert_eq!(lim.numifnets(), 4);
        for _ in 0..4 {
            lim.ifnet_release();
        }
        #[cfg(feature = "vimage")]
        {
            let v1 = reg.vnet_alloc("n1").expect("vnet1");
            lim.vimage_maxifnets.store(2, Ordering::Relaxed);
            lim.ifnet_room(&v1, 1).expect("room for one besides lo0");
            assert_eq!(lim.ifnet_room(&v1, 2), Err(Errno::ENOSPC));
            lim.ifnet_room(&v0, 2)
                .expect("default is not bounded per vimage");
            reg.vnet_destroy(&v1);
        }
        reg.vnet_destroy(&v0);
    }
}
