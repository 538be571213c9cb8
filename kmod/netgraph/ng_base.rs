//! netgraph.ko: the framework as a kernel module (FreeBSD's sys/netgraph/ng_base.c
//! glue).  The sans-IO graph lives in `vimage-netgraph`; this file makes it a vnet
//! module: one [`NgSpace`] per vnet (the tutorial's "independent netgraph space"),
//! one kernel-wide type list, time from the kernel clock, timers as callouts in
//! the vnet's own wheel.
//!
//! Locking: each vnet's space has its own mutex, so different vnets run their
//! graphs in parallel.  Code never holds one space while entering another: what a
//! node hands to the rest of the kernel (frames for interfaces, messages for
//! sockets) leaves the space through its outbox or the netisr queue and is
//! processed after the space's lock is dropped.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use vimage_abi::netgraph::SockaddrNg;
use vimage_abi::sysctl::{SysctlValue, CTLFLAG_RD, CTLFLAG_VNET};
use vimage_abi::Errno;
use vimage_kern::kern_linker::KldModule;
use vimage_kern::kern_resource::{read_only, ResLimits, RESOURCE_LIMIT_MAX};
use vimage_kern::kern_sysctl::Oid;
use vimage_kern::kern_timeout::{CalloutFn, Clock};
use vimage_kern::uipc_socket::SockBuf;
use vimage_kern::vnet::{ModState, Vnet, VnetModInfo, VNET_MOD_NETGRAPH};
use vimage_kern::{CurvnetGuard, Kernel};
use vimage_net::netisr::netisr_enter;
use vimage_netgraph::ng_base::{NgNodeZone, NG_MAXHOPS, NG_MAXHOPS_LIMIT};
use vimage_netgraph::{NgOutput, NgSpace, NgTypeList, NodeId};

/// Kernel-wide netgraph state (the type list and what spaces need of the kernel).
pub struct NgGlobal {
    /// Installed node types.
    pub types: Arc<NgTypeList>,
    /// The kernel (for autoloading `ng_TYPE` on mkpeer).
    pub kernel: Weak<Kernel>,
    clock: Arc<dyn Clock>,
    /// `net.graph.maxhops`: the hop budget of a frame in every space.
    pub maxhops: Arc<AtomicI64>,
    /// Every space's nodes, bounded by `net.graph.maxnodes`.
    pub zone: Arc<NgNodeZone>,
    /// `security.vimage.maxngnodes`: the bound on each space below default.
    pub vimage_maxnodes: Arc<AtomicI64>,
}

/// The receive buffers of a process's netgraph sockets on one socket node.
#[derive(Default, Clone)]
pub struct SockEnds {
    /// The control socket's buffer.
    pub ctl: Option<Arc<SockBuf>>,
    /// The data socket's buffer.
    pub data: Option<Arc<SockBuf>>,
}

/// Per-vnet netgraph state (`V_ng_*`).
pub struct VnetNetgraph {
    space: Mutex<NgSpace>,
    /// Socket nodes and the sockets attached to them.
    pub socks: Mutex<HashMap<NodeId, SockEnds>>,
    armed: AtomicU64,
    vnet: Weak<Vnet>,
}

type Deferred = Box<dyn FnOnce(&mut NgSpace)>;

thread_local! {
    /// Spaces this thread holds, with work deferred until their owner lets go.
    static HELD: RefCell<Vec<(u32, Vec<Deferred>)>> = const { RefCell::new(Vec::new()) };
}

fn lock(m: &Mutex<NgSpace>) -> MutexGuard<'_, NgSpace> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// The netgraph global state reachable from `vnet` (None: netgraph not loaded).
pub fn ng_global(vnet: &Vnet) -> Option<Arc<NgGlobal>> {
    vnet.registry()?.global::<NgGlobal>(VNET_MOD_NETGRAPH)
}

/// `vnet`'s netgraph state (None: netgraph not loaded or the vnet is going away).
pub fn vnet_netgraph(vnet: &Vnet) -> Option<Arc<VnetNetgraph>> {
    vnet.state::<VnetNetgraph>(VNET_MOD_NETGRAPH)
}

fn held(id: u32) -> bool {
    HELD.with(|h| h.borrow().iter().any(|(v, _)| *v == id))
}

/// Run `f` on `vnet`'s space with curvnet set to it: the one way into a space.
/// Afterwards, messages and frames nodes handed out are delivered (socket
/// buffers), deferred work runs and the space's next timer is armed.  `ENXIO` if
/// netgraph is not loaded; `EDEADLK` if this thread already holds the space (use
/// [`ng_run`] from code that may be called from inside a node).
pub fn ng_with<R>(vnet: &Arc<Vnet>, f: impl FnOnce(&mut NgSpace) -> R) -> Result<R, Errno> {
    let st = vnet_netgraph(vnet).ok_or(Errno::ENXIO)?;
    if held(vnet.id()) {
        return Err(Errno::EDEADLK);
    }
    let g = ng_global(vnet).ok_or(Errno::ENXIO)?;
    let _cv = CurvnetGuard::set(vnet);
    let _ns = netisr_enter();
    let (r, out, next) = {
        let mut s = lock(&st.space);
        HELD.with(|h| h.borrow_mut().push((vnet.id(), Vec::new())));
        s.set_now(g.clock.now_ns());
        s.set_max_hops(maxhops(&g));
        s.set_max_nodes(ResLimits::vimage_limit(vnet, &g.vimage_maxnodes));
        let r = f(&mut s);
        // Work deferred by code the space itself called (an interface attaching
        // while a node is being built) runs before the lock is dropped.
        loop {
            let d = HELD.with(|h| {
                h.borrow_mut()
                    .last_mut()
                    .map(|(_, d)| std::mem::take(d))
                    .unwrap_or_default()
            });
            if d.is_empty() {
                break;
            }
            for w in d {
                w(&mut s);
            }
        }
        HELD.with(|h| h.borrow_mut().pop());
        // Work left over by a run that spent its budget (a storm of copies)
        // goes on from a callout, one budget at a time between other
        // callouts, rather than falling on whoever enters the space next.
        let next = if s.has_work() {
            Some(s.now_ns())
        } else {
            s.next_timer()
        };
        (r, s.take_output(), next)
    };
    deliver(&st, out);
    if let Some(t) = next {
        arm(&st, t);
    }
    Ok(r)
}

/// Run `f` on `vnet`'s space now, or — if this thread is inside that space —
/// as soon as the current operation on it finishes.  No-op if netgraph is gone.
pub fn ng_run(vnet: &Arc<Vnet>, f: impl FnOnce(&mut NgSpace) + 'static) {
    if held(vnet.id()) {
        let id = vnet.id();
        HELD.with(|h| {
            if let Some((_, d)) = h.borrow_mut().iter_mut().rev().find(|(v, _)| *v == id) {
                d.push(Box::new(f));
            }
        });
        return;
    }
    let _ = ng_with(vnet, f);
}

/// Hand socket nodes' output to their sockets.
fn deliver(st: &VnetNetgraph, out: Vec<NgOutput>) {
    if out.is_empty() {
        return;
    }
    // Appending takes only each socket buffer's own lock; no copy of the table.
    let Ok(socks) = st.socks.lock() else {
        return;
    };
    for o in out {
        match o {
            NgOutput::Msg { node, from, msg } => {
                let Some(sb) = socks.get(&node).and_then(|e| e.ctl.clone()) else {
                    continue;
                };
                // The return address as FreeBSD's ng_socket writes it: the
                // ID in hex, unpadded (`[5]:`).
                let addr = SockaddrNg {
                    data: format!("[{from:x}]:"),
                };
                if let (Ok(m), Ok(a)) = (msg.to_bytes(), addr.to_bytes()) {
                    let _ = sb.append(m, a);
                }
            }
            NgOutput::Data { node, hook, frame } => {
                let Some(sb) = socks.get(&node).and_then(|e| e.data.clone()) else {
                    continue;
                };
                if let Ok(a) = (SockaddrNg { data: hook }).to_bytes() {
                    let _ = sb.append(frame.into_vec(), a);
                }
            }
            NgOutput::Event { .. } => {}
        }
    }
}

/// The hop budget `net.graph.maxhops` says.
fn maxhops(g: &NgGlobal) -> u32 {
    u32::try_from(g.maxhops.load(Ordering::Relaxed)).unwrap_or(NG_MAXHOPS)
}

/// Make sure a callout runs the space's timers (and any work left queued) at
/// `t`.  `armed` is the time of the one callout that counts; a callout made
/// for a later time before an earlier one was armed finds `armed` changed and
/// does nothing, so callouts never pile up.  The callout sits in the vnet's
/// own wheel, so one space's link delays run beside another's.
fn arm(st: &VnetNetgraph, t: u64) {
    if st.armed.fetch_min(t, Ordering::AcqRel) <= t {
        return;
    }
    let w = st.vnet.clone();
    let f: CalloutFn = Box::new(move |now| {
        let Some(v) = w.upgrade() else { return };
        let Some(st) = vnet_netgraph(&v) else { return };
        if st
            .armed
            .compare_exchange(t, u64::MAX, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // Superseded: the armed callout does the work.
            return;
        }
        let _ = ng_with(&v, |s| {
            s.run_timers(now);
            s.run();
        });
    });
    let scheduled = st
        .vnet
        .upgrade()
        .and_then(|v| v.callwheel()?.schedule(t, f));
    if scheduled.is_none() {
        // The vnet is going away: nothing will run, so nothing is armed.
        let _ = st
            .armed
            .compare_exchange(t, u64::MAX, Ordering::AcqRel, Ordering::Acquire);
    }
}

fn ng_iattach(v: &Arc<Vnet>) -> Result<ModState, Errno> {
    let g = ng_global(v).ok_or(Errno::ENXIO)?;
    let mut space = NgSpace::new(g.types.clone(), u64::from(v.id()));
    space.set_now(g.clock.now_ns());
    space.set_max_hops(maxhops(&g));
    space.set_finish(vimage_inet::tcp_tso::ether_finish);
    space.set_node_zone(Some(g.zone.clone()));
    space.set_max_nodes(ResLimits::vimage_limit(v, &g.vimage_maxnodes));
    Ok(Arc::new(VnetNetgraph {
        space: Mutex::new(space),
        socks: Mutex::new(HashMap::new()),
        armed: AtomicU64::new(u64::MAX),
        vnet: Arc::downgrade(v),
    }))
}

/// Shut every node of the dying vnet down (eifaces take their ifnets with them),
/// and wake sleepers on its sockets.
fn ng_idetach(v: &Arc<Vnet>, s: &ModState) {
    let Ok(st) = s.clone().downcast::<VnetNetgraph>() else {
        return;
    };
    let _ns = netisr_enter();
    {
        let mut sp = lock(&st.space);
        HELD.with(|h| h.borrow_mut().push((v.id(), Vec::new())));
        for id in sp.node_ids() {
            let _ = sp.shutdown_node(id);
        }
        // Persistent nodes (ether) may refuse; their modules detach them.
        HELD.with(|h| h.borrow_mut().pop());
        let _ = sp.take_output();
    }
    let ends: Vec<SockEnds> = match st.socks.lock() {
        Ok(mut socks) => socks.drain().map(|(_, e)| e).collect(),
        Err(_) => Vec::new(),
    };
    for e in ends {
        for sb in [e.ctl, e.data].into_iter().flatten() {
            sb.cantrcvmore();
        }
    }
}

/// `VNET_MOD_DECLARE(NETGRAPH, netgraph, ...)`.
pub static VNET_NETGRAPH_MODINFO: VnetModInfo = VnetModInfo {
    id: VNET_MOD_NETGRAPH,
    name: "netgraph",
    depends: &[],
    iattach: ng_iattach,
    idetach: ng_idetach,
    ext: None,
    symmap: &[],
};

/// Make sure netgraph.ko is loaded (`MODULE_DEPEND(..., netgraph, ...)`).
pub fn require_netgraph(k: &Arc<Kernel>) -> Result<Arc<NgGlobal>, Errno> {
    if let Some(g) = k.registry().global::<NgGlobal>(VNET_MOD_NETGRAPH) {
        return Ok(g);
    }
    match k.kldload("netgraph") {
        Ok(_) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(e),
    }
    k.registry()
        .global::<NgGlobal>(VNET_MOD_NETGRAPH)
        .ok_or(Errno::ENXIO)
}

/// Number of live nodes of type `name` in every vnet.
pub fn count_type_everywhere(k: &Arc<Kernel>, name: &str) -> usize {
    k.registry()
        .vnets()
        .iter()
        .filter_map(|v| ng_with(v, |s| s.count_type(name)).ok())
        .sum()
}

/// The framework's sysctls: `net.graph.maxhops` and `net.graph.maxnodes`
/// (kernel-wide, written from the default vimage only), `net.graph.numnodes`
/// and `net.graph.hopdrops` (the caller's vimage).
fn sysctl_init(k: &Kernel, g: &NgGlobal) {
    k.sysctl.add_int(
        "net.graph.maxnodes",
        "Maximum number of netgraph nodes in all vimages",
        k.res_limits().maxngnodes.clone(),
        true,
        1,
        RESOURCE_LIMIT_MAX,
    );
    let zone = g.zone.clone();
    read_only(
        &k.sysctl,
        "net.graph.numnodes",
        "Number of netgraph nodes in all vimages",
        move || zone.count(),
    );
    k.sysctl.add_int(
        "net.graph.maxhops",
        "Most hooks a frame and its copies may cross before it is dropped",
        g.maxhops.clone(),
        true,
        1,
        i64::from(NG_MAXHOPS_LIMIT),
    );
    let _ = k.sysctl.add(
        "net.graph.hopdrops",
        Oid {
            flags: CTLFLAG_RD | CTLFLAG_VNET,
            descr: "Frames dropped in this vimage's graph for exceeding net.graph.maxhops",
            handler: Arc::new(|_, new| {
                if new.is_some() {
                    return Err(Errno::EPERM);
                }
                let n = ng_with(&vimage_kern::curvnet(), |s| s.stats().hop_drops).unwrap_or(0);
                Ok(SysctlValue::UInt(n))
            }),
        },
    );
}

/// `netgraph.ko`.
pub struct NetgraphModule;

impl KldModule for NetgraphModule {
    fn name(&self) -> &str {
        "netgraph"
    }
    fn load(&self, k: &Arc<Kernel>) -> Result<(), Errno> {
        let g = Arc::new(NgGlobal {
            types: Arc::new(NgTypeList::new()),
            kernel: Arc::downgrade(k),
            clock: k.clock.clone(),
            maxhops: Arc::new(AtomicI64::new(i64::from(NG_MAXHOPS))),
            zone: NgNodeZone::new(k.res_limits().maxngnodes.clone()),
            vimage_maxnodes: k.res_limits().vimage_maxngnodes.clone(),
        });
        k.registry().set_global(VNET_MOD_NETGRAPH, Some(g.clone()));
        if let Err(e) = k.registry().register(&[&VNET_NETGRAPH_MODINFO]) {
            k.registry().set_global(VNET_MOD_NETGRAPH, None);
            return Err(e);
        }
        sysctl_init(k, &g);
        Ok(())
    }
    fn unload(&self, k: &Arc<Kernel>) -> Result<(), Errno> {
        let g = k
            .registry()
            .global::<NgGlobal>(VNET_MOD_NETGRAPH)
            .ok_or(Errno::ENOENT)?;
        // Node type modules depend on us.
        if !g.types.names().is_empty() {
            return Err(Errno::EBUSY);
        }
        k.registry().deregister(VNET_MOD_NETGRAPH)?;
        k.registry().set_global(VNET_MOD_NETGRAPH, None);
        k.sysctl.remove_prefix("net.graph.maxhops");
        k.sysctl.remove_prefix("net.graph.hopdrops");
        k.sysctl.remove_prefix("net.graph.maxnodes");
        k.sysctl.remove_prefix("net.graph.numnodes");
        Ok(())
    }
}

/// A node type module: registers one type kernel-wide; unloading is refused while
/// any vnet has a node of the type.
pub struct NgTypeModule {
    /// File name (`ng_bridge`).
    pub file: String,
    /// The type.
    pub ty: Arc<dyn vimage_netgraph::NgType>,
}

impl KldModule for NgTypeModule {
    fn name(&self) -> &str {
        &self.file
    }
    fn load(&self, k: &Arc<Kernel>) -> Result<(), Errno> {
        require_netgraph(k)?.types.register(self.ty.clone())
    }
    fn unload(&self, k: &Arc<Kernel>) -> Result<(), Errno> {
        let g = require_netgraph(k)?;
        let n = count_type_everywhere(k, self.ty.name());
        g.types.unregister(self.ty.name(), n)
    }
}
