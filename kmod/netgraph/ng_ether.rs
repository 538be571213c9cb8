//! ng_ether.ko: a netgraph node on every Ethernet interface (FreeBSD's
//! sys/netgraph/ng_ether.c).
//!
//! Loading the module attaches a node named after each Ethernet interface of
//! every vnet; interfaces created or moved in later get one in their new vnet
//! (the node follows its interface, hooks are cut on the move).  Interfaces that
//! are themselves netgraph nodes (eiface) are left alone, as the tutorial shows.
//!
//! Hooks: `lower` (alias `divert`) carries raw frames to and from the wire,
//! `upper` to and from the vnet's protocol stack, `orphans` gets the frames no
//! protocol would take.  With nothing connected the interface works as usual.

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use vimage_net::r#if::IfHooks;

use vimage_abi::net_if::{IFF_PROMISC, IFT_ETHER, IFT_L2VLAN};
use vimage_abi::Errno;
use vimage_kern::kern_linker::KldModule;
use vimage_kern::vnet::{ModState, Vnet, VnetModInfo, VNET_MOD_NETGRAPH, VNET_MOD_NG_ETHER};
use vimage_kern::{curvnet, Kernel};
use vimage_net::if_var::Ifnet;
use vimage_net::mbuf::Mbuf;
use vimage_net::r#if::{ether_demux, ether_type, netisr_handles, vnet_net};
use vimage_netgraph::ng_parse::NgParseType;
use vimage_netgraph::{NgCmd, NgCtx, NgMesg, NgNode, NgSpace, NgType, NodeId};

use super::c_string;
use super::ng_base::{count_type_everywhere, ng_run, require_netgraph};

/// `NGM_ETHER_COOKIE`.
pub const NGM_ETHER_COOKIE: u32 = 917_786_906;
/// Get the interface name.
pub const NGM_ETHER_GET_IFNAME: u32 = 1;
/// Get the interface index.
pub const NGM_ETHER_GET_IFINDEX: u32 = 2;
/// Get the Ethernet address.
pub const NGM_ETHER_GET_ENADDR: u32 = 3;
/// Set the Ethernet address.
pub const NGM_ETHER_SET_ENADDR: u32 = 4;
/// Get promiscuous mode.
pub const NGM_ETHER_GET_PROMISC: u32 = 5;
/// Set promiscuous mode.
pub const NGM_ETHER_SET_PROMISC: u32 = 6;
/// Get source-address overwriting.
pub const NGM_ETHER_GET_AUTOSRC: u32 = 7;
/// Set source-address overwriting.
pub const NGM_ETHER_SET_AUTOSRC: u32 = 8;
/// Join a multicast group.
pub const NGM_ETHER_ADD_MULTI: u32 = 9;
/// Leave a multicast group.
pub const NGM_ETHER_DEL_MULTI: u32 = 10;
/// Detach the node from its interface for good.
pub const NGM_ETHER_DETACH: u32 = 11;

macro_rules! cmd {
    ($c:expr, $n:expr, $a:expr, $r:expr) => {
        NgCmd {
            cookie: NGM_ETHER_COOKIE,
            cmd: $c,
            name: $n,
            arg: $a,
            resp: $r,
        }
    };
}

static CMDS: &[NgCmd] = &[
    cmd!(
        NGM_ETHER_GET_IFNAME,
        "getifname",
        None,
        Some(&NgParseType::String)
    ),
    cmd!(
        NGM_ETHER_GET_IFINDEX,
        "getifindex",
        None,
        Some(&NgParseType::I32)
    ),
    cmd!(
        NGM_ETHER_GET_ENADDR,
        "getenaddr",
        None,
        Some(&NgParseType::Ether)
    ),
    cmd!(
        NGM_ETHER_SET_ENADDR,
        "setenaddr",
        Some(&NgParseType::Ether),
        None
    ),
    cmd!(
        NGM_ETHER_GET_PROMISC,
        "getpromisc",
        None,
        Some(&NgParseType::I32)
    ),
    cmd!(
        NGM_ETHER_SET_PROMISC,
        "setpromisc",
        Some(&NgParseType::I32),
        None
    ),
    cmd!(
        NGM_ETHER_GET_AUTOSRC,
        "getautosrc",
        None,
        Some(&NgParseType::I32)
    ),
    cmd!(
        NGM_ETHER_SET_AUTOSRC,
        "setautosrc",
        Some(&NgParseType::I32),
        None
    ),
    cmd!(
        NGM_ETHER_ADD_MULTI,
        "addmulti",
        Some(&NgParseType::Ether),
        None
    ),
    cmd!(
        NGM_ETHER_DEL_MULTI,
        "delmulti",
        Some(&NgParseType::Ether),
        None
    ),
    cmd!(NGM_ETHER_DETACH, "detach", None, None),
];

/// Which hooks are connected, shared with the interface's input/output hooks so
/// the fast path does not enter the space when nothing is connected.
#[derive(Default)]
struct Wired {
    lower: AtomicBool,
    upper: AtomicBool,
    orphans: AtomicBool,
}

thread_local! {
    /// The interface a node is being made for (ether nodes are not made by hand).
    static ATTACHING: std::cell::RefCell<Option<Arc<Ifnet>>> = const { std::cell::RefCell::new(None) };
}

/// The `ether` type.
pub struct EtherType;

/// One ether node.
pub struct EtherNode {
    ifp: Arc<Ifnet>,
    wired: Arc<Wired>,
    autosrc: bool,
    promisc: bool,
    detaching: bool,
}

impl NgType for EtherType {
    fn name(&self) -> &'static str {
        "ether"
    }
    fn cookie(&self) -> u32 {
        NGM_ETHER_COOKIE
    }
    fn constructor(&self, _ctx: &mut NgCtx<'_>) -> Result<Box<dyn NgNode>, Errno> {
        let ifp = ATTACHING
            .with(|a| a.borrow_mut().take())
            .ok_or(Errno::EOPNOTSUPP)?;
        Ok(Box::new(EtherNode {
            ifp,
            wired: Arc::new(Wired::default()),
            autosrc: true,
            promisc: false,
            detaching: false,
        }))
    }
    fn cmdlist(&self) -> &'static [NgCmd] {
        CMDS
    }
}

fn canon(hook: &str) -> &str {
    if hook == "divert" {
        "lower"
    } else {
        hook
    }
}

impl EtherNode {
    fn set_wired(&self, hook: &str, on: bool) {
        let f = match canon(hook) {
            "lower" => &self.wired.lower,
            "upper" => &self.wired.upper,
            "orphans" => &self.wired.orphans,
            _ => return,
        };
        f.store(on, Ordering::Release);
    }
    fn set_promisc(&mut self, on: bool) {
        self.promisc = on;
        if on {
            self.ifp.flags.fetch_or(IFF_PROMISC, Ordering::Relaxed);
        } else {
            self.ifp.flags.fetch_and(!IFF_PROMISC, Ordering::Relaxed);
        }
    }
}

fn int_arg(msg: &NgMesg) -> Result<i32, Errno> {
    let b: [u8; 4] = msg.data.as_slice().try_into().map_err(|_| Errno::EINVAL)?;
    Ok(i32::from_ne_bytes(b))
}

impl NgNode for EtherNode {
    fn newhook(&mut self, _ctx: &mut NgCtx<'_>, name: &str) -> Result<(), Errno> {
        match name {
            "lower" | "divert" | "upper" | "orphans" => {}
            _ => return Err(Errno::EINVAL),
        }
        // `lower` and `divert` are one hook under two names.
        if (name == "divert" && self.wired.lower.load(Ordering::Acquire))
            || (name == "lower" && self.wired.lower.load(Ordering::Acquire))
        {
            return Err(Errno::EISCONN);
        }
        Ok(())
    }
    fn connect(&mut self, _ctx: &mut NgCtx<'_>, hook: &str) -> Result<(), Errno> {
        self.set_wired(hook, true);
        Ok(())
    }
    fn disconnect(&mut self, _ctx: &mut NgCtx<'_>, hook: &str) {
        self.set_wired(hook, false);
    }
    fn rcvmsg(
        &mut self,
        ctx: &mut NgCtx<'_>,
        msg: &NgMesg,
        _from: NodeId,
    ) -> Result<Option<Vec<u8>>, Errno> {
        if msg.header.typecookie != NGM_ETHER_COOKIE {
            return Err(Errno::EINVAL);
        }
        let ifp = &self.ifp;
        match msg.header.cmd {
            NGM_ETHER_GET_IFNAME => Ok(Some(c_string(&ifp.name()))),
            NGM_ETHER_GET_IFINDEX => Ok(Some(
                (ifp.index.load(Ordering::Relaxed) as i32)
                    .to_ne_bytes()
                    .to_vec(),
            )),
            NGM_ETHER_GET_ENADDR => Ok(Some(ifp.lladdr())),
            NGM_ETHER_SET_ENADDR => {
                let a: [u8; 6] = msg.data.as_slice().try_into().map_err(|_| Errno::EINVAL)?;
                if a[0] & 1 != 0 {
                    return Err(Errno::EINVAL);
                }
                if let Ok(mut g) = ifp.lladdr.write() {
                    *g = a.to_vec();
                }
                Ok(None)
            }
            NGM_ETHER_GET_PROMISC => Ok(Some(i32::from(self.promisc).to_ne_bytes().to_vec())),
            NGM_ETHER_SET_PROMISC => {
                let on = int_arg(msg)? != 0;
                self.set_promisc(on);
                Ok(None)
            }
            NGM_ETHER_GET_AUTOSRC => Ok(Some(i32::from(self.autosrc).to_ne_bytes().to_vec())),
            NGM_ETHER_SET_AUTOSRC => {
                self.autosrc = int_arg(msg)? != 0;
                Ok(None)
            }
            NGM_ETHER_ADD_MULTI | NGM_ETHER_DEL_MULTI => {
                let a: [u8; 6] = msg.data.as_slice().try_into().map_err(|_| Errno::EINVAL)?;
                if a[0] & 1 == 0 {
                    return Err(Errno::EINVAL);
                }
                Ok(None)
            }
            NGM_ETHER_DETACH => {
                self.detaching = true;
                ctx.shutdown_self();
                Ok(None)
            }
            _ => Err(Errno::EINVAL),
        }
    }
    fn rcvdata(&mut self, _ctx: &mut NgCtx<'_>, hook: &str, frame: Mbuf) {
        let ifp = self.ifp.clone();
        let mut m = frame;
        match canon(hook) {
            "lower" | "orphans" => {
                if self.autosrc && m.len() >= 14 {
                    let mac = ifp.lladdr();
                    if mac.len() == 6 {
                        m.data_mut()[6..12].copy_from_slice(&mac);
                    }
                }
                // In order through the interface's queue: frames from two
                // threads must not pass each other on the wire.
                let inq = ifp.inq.clone();
                inq.enqueue(move || {
                    let _ = ifp.transmit(m);
                });
            }
            "upper" => {
                let inq = ifp.inq.clone();
                inq.enqueue(move || ether_demux(&ifp, m));
            }
            _ => {}
        }
    }
    fn shutdown(&mut self, _ctx: &mut NgCtx<'_>) -> bool {
        // "Shutting down" an ether node only resets it; it lives as long as its
        // interface does (or until detached).
        self.set_promisc(false);
        self.autosrc = true;
        if self.detaching {
            unhook_ifnet(&self.ifp);
        }
        self.detaching
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

fn unhook_ifnet(ifp: &Ifnet) {
    if let Ok(mut g) = ifp.input_hook.write() {
        *g = None;
    }
    if let Ok(mut g) = ifp.output_hook.write() {
        *g = None;
    }
}

/// The ether nodes of one vnet, by interface.
#[derive(Default)]
struct EtherVnet {
    nodes: Mutex<Vec<(Weak<Ifnet>, NodeId)>>,
}

/// Whether `ifp` gets a node: every Ethernet interface, except an eiface in
/// the vimage that made it, whose eiface node already stands for it in that
/// space (and holds its name, as the tutorial's listings show).  An eiface
/// handed to another vimage is an Ethernet interface like any there
/// (Exercise 2a's `eth0` inside n1).
fn wants(ifp: &Ifnet) -> bool {
    (ifp.iftype == IFT_ETHER || ifp.iftype == IFT_L2VLAN)
        && (ifp.dname != "ngeth" || ifp.came_from().is_some())
}

/// The interface was renamed: its node follows (as FreeBSD's ng_ether does
/// on the arrival event a rename sends).
fn ether_rename(ifp: &Arc<Ifnet>) {
    let vnet = curvnet();
    let Some(st) = vnet.state::<EtherVnet>(VNET_MOD_NG_ETHER) else {
        return;
    };
    let id = st.nodes.lock().ok().and_then(|g| {
        g.iter()
            .find(|(w, _)| w.upgrade().is_some_and(|x| Arc::ptr_eq(&x, ifp)))
            .map(|(_, id)| *id)
    });
    let Some(id) = id else { return };
    let name = ifp.name();
    ng_run(&vnet, move |s| {
        // A name clash leaves the old name, as at attach.
        let _ = s.name_node(id, &name);
    });
}

/// Make `ifp`'s node in its (current) vnet.
fn ether_attach(ifp: &Arc<Ifnet>) {
    if !wants(ifp) {
        return;
    }
    let vnet = ifp.vnet();
    let ifp = ifp.clone();
    let w = Arc::downgrade(&vnet);
    ng_run(&vnet, move |s: &mut NgSpace| {
        let Some(vnet) = w.upgrade() else { return };
        let Some(st) = vnet.state::<EtherVnet>(VNET_MOD_NG_ETHER) else {
            return;
        };
        ATTACHING.with(|a| *a.borrow_mut() = Some(ifp.clone()));
        let made = s.make_node("ether");
        ATTACHING.with(|a| *a.borrow_mut() = None);
        let Ok(id) = made else { return };
        // A name clash leaves the node unnamed, as FreeBSD does.
        let _ = s.name_node(id, &ifp.name());
        let Some(wired) = s.node_mut::<EtherNode>(id).map(|n| n.wired.clone()) else {
            return;
        };
        if let Ok(mut g) = st.nodes.lock() {
            g.push((Arc::downgrade(&ifp), id));
        }
        install_hooks(&ifp, &w, id, wired);
    });
}

/// Divert the interface's input and output through the node when its hooks say so.
fn install_hooks(ifp: &Arc<Ifnet>, vnet: &Weak<Vnet>, id: NodeId, wired: Arc<Wired>) {
    let (vi, wi) = (vnet.clone(), wired.clone());
    let input = Arc::new(move |_ifp: &Arc<Ifnet>, m: Mbuf| -> Option<Mbuf> {
        let hook = if wi.lower.load(Ordering::Acquire) {
            "lower"
        } else if wi.orphans.load(Ordering::Acquire)
            && ether_type(m.data()).is_some_and(|et| !netisr_handles(et))
        {
            "orphans"
        } else {
            return Some(m);
        };
        let v = vi.upgrade()?;
        let frame = m.into_vec();
        ng_run(&v, move |s| {
            // `lower` may be connected under its alias: pick the name in use
            // rather than copying the frame to try both.
            let hook = if hook == "lower" && s.hook_peer(id, "lower").is_none() {
                "divert"
            } else {
                hook
            };
            let _ = s.send_data(id, hook, frame);
        });
        None
    });
    let (vo, wo) = (vnet.clone(), wired);
    let output = Arc::new(move |_ifp: &Arc<Ifnet>, m: Mbuf| -> Option<Mbuf> {
        if !wo.upper.load(Ordering::Acquire) {
            return Some(m);
        }
        let v = vo.upgrade()?;
        let frame = m.into_vec();
        ng_run(&v, move |s| {
            let _ = s.send_data(id, "upper", frame);
        });
        None
    });
    if let Ok(mut g) = ifp.input_hook.write() {
        *g = Some(input);
    }
    if let Ok(mut g) = ifp.output_hook.write() {
        *g = Some(output);
    }
}

/// Remove `ifp`'s node from curvnet (the interface leaves or is destroyed).
fn ether_detach(ifp: &Arc<Ifnet>) {
    let vnet = curvnet();
    let Some(st) = vnet.state::<EtherVnet>(VNET_MOD_NG_ETHER) else {
        return;
    };
    let id = match st.nodes.lock() {
        Ok(mut g) => {
            let Some(i) = g
                .iter()
                .position(|(w, _)| w.upgrade().is_some_and(|x| Arc::ptr_eq(&x, ifp)))
            else {
                return;
            };
            g.remove(i).1
        }
        Err(_) => return,
    };
    unhook_ifnet(ifp);
    ng_run(&vnet, move |s| {
        if let Some(n) = s.node_mut::<EtherNode>(id) {
            n.detaching = true;
        }
        let _ = s.shutdown_node(id);
    });
}

fn ether_iattach(_v: &Arc<Vnet>) -> Result<ModState, Errno> {
    Ok(Arc::new(EtherVnet::default()))
}

/// Module load in a live vnet, or a vnet being made: attach to what is there.
fn ether_attach_all() {
    for ifp in vnet_net().list() {
        ether_attach(&ifp);
    }
}

fn ether_idetach(_v: &Arc<Vnet>, _s: &ModState) {
    for ifp in vnet_net().list() {
        ether_detach(&ifp);
    }
}

/// Its interface hooks.
static ETHER_IFHOOKS: IfHooks = IfHooks {
    ifattach: Some(ether_attach),
    ifdetach: Some(ether_detach),
    ifup: None,
    ifrename: Some(ether_rename),
};

/// `VNET_MOD_DECLARE(NG_ETHER, ng_ether, ...)`.
pub static VNET_NG_ETHER_MODINFO: VnetModInfo = VnetModInfo {
    id: VNET_MOD_NG_ETHER,
    name: "ng_ether",
    depends: &[VNET_MOD_NETGRAPH],
    iattach: ether_iattach,
    idetach: ether_idetach,
    ext: Some(&ETHER_IFHOOKS),
    symmap: &[],
};

/// `ng_ether.ko`.
pub struct NgEtherModule;

impl KldModule for NgEtherModule {
    fn name(&self) -> &str {
        "ng_ether"
    }
    fn load(&self, k: &Arc<Kernel>) -> Result<(), Errno> {
        let g = require_netgraph(k)?;
        g.types.register(Arc::new(EtherType))?;
        if let Err(e) = k.registry().register(&[&VNET_NG_ETHER_MODINFO]) {
            let _ = g.types.unregister("ether", 0);
            return Err(e);
        }
        for v in k.registry().vnets() {
            let _cv = vimage_kern::CurvnetGuard::set(&v);
            ether_attach_all();
        }
        Ok(())
    }
    fn unload(&self, k: &Arc<Kernel>) -> Result<(), Errno> {
        let g = require_netgraph(k)?;
        // FreeBSD refuses while interfaces carry ether nodes.
        if count_type_everywhere(k, "ether") > 0 {
            return Err(Errno::EBUSY);
        }
        k.registry().deregister(VNET_MOD_NG_ETHER)?;
        g.types.unregister("ether", 0)
    }
}
