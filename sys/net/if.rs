//! Interface lists and operations on curvnet (FreeBSD's sys/net/if.c).
//!
//! Every vnet has its own interface list, index space and loopback `lo0` (made when
//! the NET module attaches).  An interface is in exactly one list at a time;
//! [`if_vmove`] moves it between vnets, purging what the old stack knew of it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use vimage_abi::net_if::*;
use vimage_abi::{Errno, IFNAMSIZ};

use super::ethernet::ETHERTYPE_VLAN;
use super::if_var::{IfMultiAddr, IfmaAddr, Ifnet};
use super::if_vlan_var::VlanDemux;
use super::mbuf::Mbuf;
use super::pfil::PfilDir;
use std::collections::BTreeMap;
use std::net::IpAddr;
use vimage_abi::sysctl::{SysctlValue, CTLFLAG_RD, CTLFLAG_VNET};
use vimage_kern::kern_resource::ResLimits;
use vimage_kern::kern_sysctl::{Oid, SysctlCtx, SysctlTree};
use vimage_kern::subr_rcu::RcuCell;
use vimage_kern::vnet::{
    curvnet, CurvnetGuard, ModState, Vnet, VnetKey, VnetModInfo, VnetSymmap, V, VNET_MOD_NET,
};

/// A protocol's input routine, called with curvnet set and the mbuf starting at
/// the protocol's header (the link header already stripped).
pub type EtherInput = Arc<dyn Fn(&Arc<Ifnet>, Mbuf) + Send + Sync>;

/// Ethertype of IPv4, the key IPv4 input registers under.
pub const ETHERTYPE_IP: u16 = 0x0800;
/// Ethertype of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// Ethertype of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

/// The NET module's per-vnet state (`struct vnet_net`).
#[derive(Default)]
pub struct VnetNet {
    /// Attached interfaces in index order (`V_ifnet`).
    pub ifnet: RwLock<Vec<Arc<Ifnet>>>,
    /// This vnet's loopback (`V_loif`).
    pub loif: RwLock<Option<Arc<Ifnet>>>,
    /// Ethertype → protocol input (the netisr dispatch table); point-to-point
    /// interfaces use the same keys for the protocol their hook carries.
    ether_input: RcuCell<Vec<(u16, EtherInput)>>,
    /// Where IPv4 plugs ARP into Ethernet output (`arpresolve`), set while
    /// the INET module is attached to the vnet.
    pub arpresolve: RcuCell<crate::if_ethersubr::ArpResolveFn>,
    /// Where IPv6 plugs its neighbour discovery into Ethernet output
    /// (`nd6_resolve`), set while the INET6 module is attached to the vnet;
    /// unset, unicast IPv6 cannot leave an Ethernet interface.
    pub nd6_resolve: RcuCell<crate::if_ethersubr::Nd6ResolveFn>,
    /// The packet filter hooks of each address family (pfil(9) heads).
    pub pfil: crate::pfil::PfilHeads,
    /// `net.link.ether.ipfw` (`V_ether_ipfw`): also show Ethernet frames to
    /// the link head's hooks, in `ether_demux` and `ether_output_frame`.
    pub ether_ipfw: AtomicI64,
}

impl VnetNet {
    /// Snapshot of the interface list.
    pub fn list(&self) -> Vec<Arc<Ifnet>> {
        self.ifnet.read().map(|g| g.clone()).unwrap_or_default()
    }
}

fn net_iattach(v: &Arc<Vnet>) -> Result<ModState, Errno> {
    let st = Arc::new(VnetNet::default());
    // State must be reachable through V_ before lo0 attaches into it.
    let tmp: ModState = st.clone();
    let _ = v;
    Ok(tmp)
}

fn net_idetach(v: &Arc<Vnet>, s: &ModState) {
    let Ok(st) = s.clone().downcast::<VnetNet>() else {
        return;
    };
    // Interfaces that came from elsewhere go back; the rest are destroyed.
    for ifp in st.list().into_iter().rev() {
        if let Some((home, name)) = ifp.came_from() {
            if home.is_alive() && !Arc::ptr_eq(&home, v) && if_vreturn(&ifp, &home, &name).is_ok() {
                continue;
            }
        }
        if_detach(&ifp);
        ifp.driver.detached(&ifp);
    }
    let lo = st.loif.write().ok().and_then(|mut g| g.take());
    drop(lo);
}

fn sym_if_index(s: &(dyn std::any::Any + Send + Sync)) -> String {
    s.downcast_ref::<VnetNet>()
        .map(|n| n.list().len().to_string())
        .unwrap_or_default()
}
/// `V_if_addrhead`: every address of the vnet's interfaces, in interface
/// order (`ifname:addr/plen`, space separated).
fn sym_if_addrhead(s: &(dyn std::any::Any + Send + Sync)) -> String {
    s.downcast_ref::<VnetNet>()
        .map(|n| {
            n.list()
                .iter()
                .flat_map(|i| {
                    let name = i.name();
                    i.addr_list()
                        .into_iter()
                        .map(move |a| format!("{name}:{}/{}", a.addr, a.plen))
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}
fn sym_ifnet(s: &(dyn std::any::Any + Send + Sync)) -> String {
    s.downcast_ref::<VnetNet>()
        .map(|n| {
            n.list()
                .iter()
                .map(|i| i.name())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// `VNET_MOD_DECLARE(NET, net, ...)`.
pub static VNET_NET_MODINFO: VnetModInfo = VnetModInfo {
    id: VNET_MOD_NET,
    name: "net",
    depends: &[],
    iattach: net_iattach,
    idetach: net_idetach,
    ext: None,
    symmap: &[
        VnetSymmap {
            name: "ifnet",
            get: sym_ifnet,
        },
        VnetSymmap {
            name: "if_index",
            get: sym_if_index,
        },
        VnetSymmap {
            name: "if_addrhead",
            get: sym_if_addrhead,
        },
    ],
};

/// What a module does as interfaces come, go and come up in a vnet where it
/// is attached (FreeBSD's `ifnet_arrival_event`/`ifnet_departure_event`
/// handlers and the protocol calls of `if_up`).  A module declares them in
/// its [`VnetModInfo::ext`]; each runs with curvnet set to the vnet.
pub struct IfHooks {
    /// An interface arrived (created or moved in): e.g. ng_ether makes its
    /// node, IPv6 gives it a link-local address.
    pub ifattach: Option<IfHookFn>,
    /// An interface leaves (moved or destroyed): purge addresses, routes and
    /// caches that refer to it.  Runs in reverse registration order.
    pub ifdetach: Option<IfHookFn>,
    /// An interface came up (`if_up`): ARP announces its addresses, IPv6
    /// starts duplicate address detection.
    pub ifup: Option<IfHookFn>,
    /// An interface was renamed (`SIOCSIFNAME`): ng_ether renames its node.
    pub ifrename: Option<IfHookFn>,
}

/// One interface hook of a module.
pub type IfHookFn = fn(&Arc<Ifnet>);

/// Run hook `which` of every module attached in `vnet` for `ifp`, in
/// registration order (reverse order for departures).
fn if_hooks(
    vnet: &Arc<Vnet>,
    ifp: &Arc<Ifnet>,
    which: fn(&IfHooks) -> Option<IfHookFn>,
    rev: bool,
) {
    let Some(reg) = vnet.registry() else { return };
    let _cv = CurvnetGuard::set(vnet);
    let mut mods = reg.modules();
    if rev {
        mods.reverse();
    }
    for m in mods {
        let Some(h) = m.ext.and_then(|e| e.downcast_ref::<IfHooks>()) else {
            continue;
        };
        if let Some(f) = which(h) {
            if vnet.mod_state_ref(m.id).is_some() {
                f(ifp);
            }
        }
    }
}

/// The NET module's key: curvnet's interface state, borrowed.
pub static VNET_NET: VnetKey<VnetNet> = VnetKey::new(VNET_MOD_NET);

/// `V_ifnet` and friends of curvnet.
pub fn vnet_net() -> Arc<VnetNet> {
    V::<VnetNet>(VNET_MOD_NET)
}

/// Check an interface name: 1..IFNAMSIZ-1 printable characters, no `/`, `:`, `.`
/// only as in `em0.101`, no whitespace (EINVAL; ENAMETOOLONG when too long).
pub fn ifname_valid(name: &str) -> Result<(), Errno> {
    if name.is_empty() {
        return Err(Errno::EINVAL);
    }
    if name.len() >= IFNAMSIZ {
        return Err(Errno::ENAMETOOLONG);
    }
    if !name
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
        || !name.as_bytes()[0].is_ascii_alphabetic()
    {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// `ifunit()`: the interface called `name` in curvnet.
pub fn ifunit(name: &str) -> Option<Arc<Ifnet>> {
    let net = vnet_net();
    let g = net.ifnet.read().ok()?;
    let ifp = g.iter().find(|i| i.name_is(name)).cloned();
    ifp
}

/// The interface with index `idx` in curvnet: the list is in index order,
/// so a binary search.
pub fn ifnet_byindex(idx: u32) -> Option<Arc<Ifnet>> {
    let net = vnet_net();
    let g = net.ifnet.read().ok()?;
    let ifp = match g.binary_search_by_key(&idx, |i| i.index.load(Ordering::Relaxed)) {
        Ok(n) => g.get(n).cloned(),
        // (Should the order ever be off, the walk still finds it.)
        Err(_) => g
            .iter()
            .find(|i| i.index.load(Ordering::Relaxed) == idx)
            .cloned(),
    };
    ifp
}

/// The lowest `prefixN` not used in curvnet.
pub fn if_free_unit(prefix: &str) -> u32 {
    if_free_unit_where(prefix, |_| true)
}

/// The lowest `prefixN` not used by an interface of curvnet for which `ok(name)`
/// also holds (e.g. no netgraph node has that name).
pub fn if_free_unit_where(prefix: &str, ok: impl Fn(&str) -> bool) -> u32 {
    let used: std::collections::HashSet<u32> = vnet_net()
        .list()
        .iter()
        .filter_map(|i| i.name().strip_prefix(prefix)?.parse().ok())
        .collect();
    (0..u32::MAX)
        .find(|n| !used.contains(n) && ok(&format!("{prefix}{n}")))
        .unwrap_or(0)
}

/// `if_attach()`: add `ifp` to curvnet's list under its current name (EEXIST if the
/// name is taken), give it the lowest free index, and tell interested modules.
/// `ENOSPC` when curvnet's vimage has `security.vimage.maxifnets` interfaces or
/// the kernel `net.link.maxifnets` (a vnet's first interface, its `lo0`, always
/// fits); see [`vimage_kern::kern_resource`].
pub fn if_attach(ifp: &Arc<Ifnet>) -> Result<(), Errno> {
    if_attach_limited(ifp, true)
}

/// [`if_attach`], refused past the limits only when `limited` (an interface
/// moving between vnets was counted when it was made).
fn if_attach_limited(ifp: &Arc<Ifnet>, limited: bool) -> Result<(), Errno> {
    let vnet = curvnet();
    let net = vnet_net();
    {
        let mut list = net.ifnet.write().map_err(|_| Errno::EDOOFUS)?;
        let name = ifp.name();
        if list.iter().any(|i| i.name() == name) {
            return Err(Errno::EEXIST);
        }
        if let Some(lim) = ResLimits::of(&vnet) {
            lim.ifnet_charge(&vnet, list.len(), limited)?;
        }
        // The list is in index order: the lowest free index is the first gap.
        let mut idx = 1u32;
        for i in list.iter() {
            let x = i.index.load(Ordering::Relaxed);
            if x > idx {
                break;
            }
            if x == idx {
                idx += 1;
            }
        }
        ifp.index.store(idx, Ordering::Relaxed);
        ifp.set_vnet(&vnet);
        let pos = list
            .iter()
            .position(|i| i.index.load(Ordering::Relaxed) > idx)
            .unwrap_or(list.len());
        list.insert(pos, ifp.clone());
    }
    vnet.ifcnt.fetch_add(1, Ordering::Relaxed);
    if_hooks(&vnet, ifp, |h| h.ifattach, false);
    Ok(())
}

/// `if_detach()`: purge what curvnet's protocols know of `ifp` and unlink it.
pub fn if_detach(ifp: &Arc<Ifnet>) {
    let vnet = ifp.vnet();
    let _cv = CurvnetGuard::set(&vnet);
    if_hooks(&vnet, ifp, |h| h.ifdetach, true);
    let net = vnet_net();
    let removed = net
        .ifnet
        .write()
        .map(|mut l| {
            let n = l.len();
            l.retain(|i| !Arc::ptr_eq(i, ifp));
            n != l.len()
        })
        .unwrap_or(false);
    if removed {
        vnet.ifcnt.fetch_sub(1, Ordering::Relaxed);
        if let Some(lim) = ResLimits::of(&vnet) {
            lim.ifnet_release();
        }
    }
    // The departure event: vlans riding on the interface lose their parent
    // (they stay, unconfigured), whether it moves or goes.
    super::if_vlan_var::vlan_trunk_departure(ifp);
    if let Ok(mut g) = ifp.input_hook.write() {
        *g = None;
    }
    if let Ok(mut g) = ifp.output_hook.write() {
        *g = None;
    }
    // The groups the old stack's sockets joined are not the new stack's
    // (`if_purgemaddrs`): their leaves later find nothing, harmlessly.
    if_purgemaddrs(ifp);
}

// ---------------------------------------------------------------------------
// multicast memberships (`if_addmulti`, `if_delmulti`)

/// The link-level address a group maps to on `ifp` (`if_resolvemulti`):
/// Ethernet's 01:00:5e (IPv4) and 33:33 (IPv6) mappings; none on other
/// interface types (loopback, point-to-point take every packet).
fn if_resolvemulti(ifp: &Ifnet, group: IpAddr) -> Option<Vec<u8>> {
    if ifp.iftype != IFT_ETHER && ifp.iftype != IFT_L2VLAN {
        return None;
    }
    let e = match group {
        IpAddr::V4(a) => super::ethernet::EtherAddr::from_ipv4_multicast(a),
        IpAddr::V6(a) => super::ethernet::EtherAddr::from_ipv6_multicast(&a),
    };
    Some(e.as_bytes().to_vec())
}

/// Take one more reference on `addr` in `list`; whether it is new.
fn ifma_ref(list: &mut BTreeMap<IfmaAddr, u32>, addr: IfmaAddr) -> bool {
    let n = list.entry(addr).or_insert(0);
    *n = n.saturating_add(1);
    *n == 1
}

/// Drop one reference on `addr`; false if there was none.
fn ifma_unref(list: &mut BTreeMap<IfmaAddr, u32>, addr: &IfmaAddr) -> bool {
    let Some(n) = list.get_mut(addr) else {
        return false;
    };
    *n = n.saturating_sub(1);
    if *n == 0 {
        list.remove(addr);
    }
    true
}

/// `if_addmulti`: `ifp` listens to `group` (one more join of it), and to the
/// link-level address it maps to.  `EADDRNOTAVAIL` if the interface cannot
/// do multicast (`IFF_MULTICAST` clear), `EINVAL` for a non-group address.
/// Returns whether the group is new on the interface (the protocol then
/// reports it, as `igmp_joingroup` would).
pub fn if_addmulti(ifp: &Ifnet, group: IpAddr) -> Result<bool, Errno> {
    if !group.is_multicast() {
        return Err(Errno::EINVAL);
    }
    if ifp.flags() & IFF_MULTICAST == 0 {
        return Err(Errno::EADDRNOTAVAIL);
    }
    let mut l = ifp.multiaddrs.lock().map_err(|_| Errno::EDOOFUS)?;
    let new = ifma_ref(&mut l, IfmaAddr::Inet(group));
    if new {
        if let Some(ll) = if_resolvemulti(ifp, group) {
            ifma_ref(&mut l, IfmaAddr::Link(ll));
        }
    }
    Ok(new)
}

/// `if_delmulti`: one join of `group` on `ifp` less; the group (and its
/// link-level address, when no other group holds it) goes with the last.
/// `EADDRNOTAVAIL` if the interface does not listen to it.
pub fn if_delmulti(ifp: &Ifnet, group: IpAddr) -> Result<(), Errno> {
    let mut l = ifp.multiaddrs.lock().map_err(|_| Errno::EDOOFUS)?;
    let g = IfmaAddr::Inet(group);
    if !ifma_unref(&mut l, &g) {
        return Err(Errno::EADDRNOTAVAIL);
    }
    if !l.contains_key(&g) {
        if let Some(ll) = if_resolvemulti(ifp, group) {
            ifma_unref(&mut l, &IfmaAddr::Link(ll));
        }
    }
    Ok(())
}

/// Whether `ifp` listens to protocol group `group` (`IN_LOOKUP_MULTI`,
/// `IN6_LOOKUP_MULTI`).
pub fn if_findmulti(ifp: &Ifnet, group: IpAddr) -> bool {
    let g = IfmaAddr::Inet(group);
    ifp.multiaddrs
        .lock()
        .map(|l| l.contains_key(&g))
        .unwrap_or(false)
}

/// Whether `ifp` listens to link-level multicast address `lladdr`: what an
/// Ethernet driver's filter would pass (broadcast always does).
pub fn if_findmulti_ll(ifp: &Ifnet, lladdr: &[u8]) -> bool {
    if lladdr.iter().all(|b| *b == 0xff) {
        return true;
    }
    let a = IfmaAddr::Link(lladdr.to_vec());
    ifp.multiaddrs
        .lock()
        .map(|l| l.contains_key(&a))
        .unwrap_or(false)
}

/// `ifp`'s multicast addresses with their reference counts (`netstat -g`'s
/// source, `if_multiaddrs`): groups, then link-level addresses, each sorted.
pub fn if_multiaddrs(ifp: &Ifnet) -> Vec<IfMultiAddr> {
    ifp.multiaddrs
        .lock()
        .map(|l| {
            l.iter()
                .map(|(a, n)| IfMultiAddr {
                    addr: a.clone(),
                    refcount: *n,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `if_purgemaddrs`: forget every multicast address of `ifp`.  Joins made
/// before are then stale ([`if_maddr_gen`]): their sockets' leaves must not
/// take references that joins made since hold.
pub fn if_purgemaddrs(ifp: &Ifnet) {
    if let Ok(mut l) = ifp.multiaddrs.lock() {
        l.clear();
        ifp.maddr_gen.fetch_add(1, Ordering::Relaxed);
    }
}

/// The generation of `ifp`'s multicast list: a socket records it at a join
/// and undoes the join only while it is unchanged.
pub fn if_maddr_gen(ifp: &Ifnet) -> u64 {
    ifp.maddr_gen.load(Ordering::Relaxed)
}

/// `if_vmove()`: move `ifp` from its vnet into `target` under `newname` (or the
/// lowest free `ethN`).  With `returning`, the move undoes an earlier one (pops the
/// history) instead of recording a new step.  The old stack forgets the interface's
/// addresses, routes and caches; the interface comes up in the target as new.
///
/// Interfaces move down the vimage tree and come back the way they went: a
/// move that is not a return must go to a vnet made after the interface's
/// present one (a descendant; the caller checks that the target is one), and a
/// return restores the name the interface had there — a vimage cannot push an
/// interface into its parent, nor give one a name of its choosing in the
/// parent's namespace (`EPERM`).  A name taken in the target is `EEXIST`; a
/// target whose vimage has `security.vimage.maxifnets` interfaces is `ENOSPC`,
/// except for a return (the interface was the target's before).
pub fn if_vmove(
    ifp: &Arc<Ifnet>,
    target: &Arc<Vnet>,
    newname: Option<&str>,
    returning: bool,
) -> Result<String, Errno> {
    if !ifp.driver.movable() {
        return Err(Errno::ENODEV);
    }
    let from = ifp.vnet();
    if Arc::ptr_eq(&from, target) {
        return Err(Errno::EEXIST);
    }
    let name = if returning {
        // Only back to where it came from, under the name it had there.
        let (home, oldname) = ifp.came_from().ok_or(Errno::EPERM)?;
        if !Arc::ptr_eq(&home, target) || newname.is_some_and(|n| n != oldname) {
            return Err(Errno::EPERM);
        }
        oldname
    } else {
        // Vnet ids grow as vimages are made, and a vimage is always made after
        // its ancestors: a lower id is never below us.
        if target.id() < from.id() {
            return Err(Errno::EPERM);
        }
        match newname {
            Some(n) => {
                ifname_valid(n)?;
                n.to_string()
            }
            None => {
                let _cv = CurvnetGuard::set(target);
                format!("eth{}", if_free_unit("eth"))
            }
        }
    };
    vmove(ifp, target, &name, returning)
}

/// Move `ifp` into `target` as `name` (checked there: `EEXIST` if taken),
/// recording the step, or popping it when `returning`.
fn vmove(
    ifp: &Arc<Ifnet>,
    target: &Arc<Vnet>,
    name: &str,
    returning: bool,
) -> Result<String, Errno> {
    {
        let _cv = CurvnetGuard::set(target);
        if ifunit(name).is_some() {
            return Err(Errno::EEXIST);
        }
        // Checked before anything changes, so a refusal leaves the interface
        // as it was; the attach below is then not refused (moves into one
        // vimage are serialized by the vimage tree lock).
        if !returning {
            if let Some(lim) = ResLimits::of(target) {
                lim.ifnet_room(target, vnet_net().list().len())?;
            }
        }
    }
    let from = ifp.vnet();
    let oldname = ifp.name();
    if_detach(ifp);
    // A moved interface starts down, without addresses, as on FreeBSD.
    ifp.flags.fetch_and(!IFF_UP, Ordering::Relaxed);
    if returning {
        ifp.pop_history();
    } else {
        ifp.push_history(&from, oldname);
    }
    ifp.set_name(name);
    let _cv = CurvnetGuard::set(target);
    if let Err(e) = if_attach_limited(ifp, false) {
        // Cannot happen after the name check unless raced; put it back.
        let _cv = CurvnetGuard::set(&from);
        let _ = if_attach_limited(ifp, false);
        return Err(e);
    }
    ifp.driver.vmoved(ifp);
    Ok(name.to_string())
}

/// A dying vnet gives `ifp` back to `home` under `name`, or — if that name was
/// taken there meanwhile — under the lowest free name of its driver
/// (`edsc1`), never over another interface.
fn if_vreturn(ifp: &Arc<Ifnet>, home: &Arc<Vnet>, name: &str) -> Result<String, Errno> {
    match vmove(ifp, home, name, true) {
        Err(Errno::EEXIST) => {
            let free = {
                let _cv = CurvnetGuard::set(home);
                format!("{}{}", ifp.dname, if_free_unit(&ifp.dname))
            };
            vmove(ifp, home, &free, true)
        }
        r => r,
    }
}

/// `if_input()`: a frame arrived on `ifp` from its driver.  Runs with curvnet set
/// to the interface's vnet: counts it, offers it to an input hook (ng_ether), then
/// dispatches it by ethertype; frames for no protocol are counted as dropped.
pub fn if_input(ifp: &Arc<Ifnet>, m: Mbuf) {
    // An entry into the interface's vnet: refused if its stack is going
    // away (the frame was queued before), and waited for by vnet_destroy.
    let Some(_entry) = ifp.vnet().enter() else {
        return;
    };
    ifp.counters.ipackets.fetch_add(1, Ordering::Relaxed);
    ifp.counters
        .ibytes
        .fetch_add(m.len() as u64, Ordering::Relaxed);
    if ifp.flags() & IFF_UP == 0 {
        ifp.counters.iqdrops.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let hook = ifp.input_hook.read().ok().and_then(|g| g.clone());
    let m = match hook {
        Some(h) => match h(ifp, m) {
            Some(m) => m,
            None => return,
        },
        None => m,
    };
    ether_demux_cur(ifp, m);
}

/// Register curvnet's input routine for protocol `proto` (an ethertype).
pub fn netisr_register(proto: u16, f: EtherInput) {
    VNET_NET.with(|n| {
        n.ether_input.update(|t| {
            let mut t = t.cloned().unwrap_or_default();
            t.retain(|(k, _)| *k != proto);
            t.push((proto, f));
            Some(t)
        })
    });
}

/// Remove curvnet's input routine for `proto`.
pub fn netisr_unregister(proto: u16) {
    VNET_NET.with(|n| {
        n.ether_input.update(|t| {
            let mut t = t.cloned().unwrap_or_default();
            t.retain(|(k, _)| *k != proto);
            Some(t)
        })
    });
}

/// `net`'s input routine for `proto`: a load and a short scan.
fn input_for(net: &VnetNet, proto: u16) -> Option<&EtherInput> {
    net.ether_input
        .get()?
        .iter()
        .find(|(k, _)| *k == proto)
        .map(|(_, f)| f)
}

/// Whether curvnet has an input routine for `proto` (ng_ether's `orphans`).
pub fn netisr_handles(proto: u16) -> bool {
    VNET_NET.with(|n| input_for(n, proto).is_some())
}

/// Hand a packet (link header already stripped) to curvnet's routine for `proto`;
/// without one it is counted as dropped.
pub fn netisr_dispatch(proto: u16, ifp: &Arc<Ifnet>, m: Mbuf) {
    VNET_NET.with(|n| match input_for(n, proto) {
        Some(f) => f(ifp, m),
        None => {
            ifp.counters.iqdrops.fetch_add(1, Ordering::Relaxed);
        }
    })
}

/// Ethertype of an Ethernet frame (`None` if it is too short to have one).
pub fn ether_type(frame: &[u8]) -> Option<u16> {
    (frame.len() >= 14).then(|| u16::from_be_bytes([frame[12], frame[13]]))
}

/// Hand an Ethernet frame to the protocol registered for its ethertype, with the
/// Ethernet header stripped.  Runs with curvnet set to the interface's vnet.
pub fn ether_demux(ifp: &Arc<Ifnet>, m: Mbuf) {
    let Some(_entry) = ifp.vnet().enter() else {
        return;
    };
    ether_demux_cur(ifp, m);
}

/// [`ether_demux`] in curvnet, which is `ifp`'s (entered by the caller).
/// A tagged frame goes to the vlan with its tag on `ifp`, untagged, as that
/// vlan's input (in the vlan's vnet, which need not be ours).
fn ether_demux_cur(ifp: &Arc<Ifnet>, mut m: Mbuf) {
    let Some(mut et) = ether_type(m.data()) else {
        ifp.counters.ierrors.fetch_add(1, Ordering::Relaxed);
        return;
    };
    if et == ETHERTYPE_VLAN {
        match super::if_vlan_var::vlan_demux(ifp, m) {
            VlanDemux::Vlan(vlan, m) => {
                // Depth stays bounded: a vlan carries no vlans of its own,
                // so a second tag is dropped there.
                if_input(&vlan, m);
                return;
            }
            VlanDemux::Untagged(x) => {
                // Priority-tagged: the parent's own frame.  A tag inside is
                // no protocol of ours (counted by netisr_dispatch).
                m = x;
                et = ether_type(m.data()).unwrap_or(ETHERTYPE_VLAN);
            }
            VlanDemux::Dropped => return,
        }
    }
    // Layer 2 filtering (FreeBSD 7's `ether_ipfw_chk` in ether_demux): the
    // frame as this host accepted it, after any vlan tag went to its vlan.
    if !ether_pfil_pass(ifp, &m, PfilDir::In) {
        return;
    }
    m.adj(14);
    netisr_dispatch(et, ifp, m);
}

/// Whether an Ethernet frame may go on: curvnet's link hooks decide while
/// `net.link.ether.ipfw` is 1 (else no look at all, one load).
pub fn ether_pfil_pass(ifp: &Arc<Ifnet>, m: &Mbuf, dir: PfilDir) -> bool {
    VNET_NET
        .try_with(|n| {
            n.ether_ipfw.load(Ordering::Relaxed) == 0
                || !n.pfil.link.run(m.data(), dir, ifp).is_drop()
        })
        .unwrap_or(true)
}

/// Input on an interface without a link header (point-to-point, ng_iface): the
/// packet is counted and handed to `proto`'s routine in the interface's vnet.
pub fn if_input_proto(ifp: &Arc<Ifnet>, proto: u16, m: Mbuf) {
    let Some(_entry) = ifp.vnet().enter() else {
        return;
    };
    ifp.counters.ipackets.fetch_add(1, Ordering::Relaxed);
    ifp.counters
        .ibytes
        .fetch_add(m.len() as u64, Ordering::Relaxed);
    if ifp.flags() & IFF_UP == 0 {
        ifp.counters.iqdrops.fetch_add(1, Ordering::Relaxed);
        return;
    }
    netisr_dispatch(proto, ifp, m);
}

/// Interface ioctls on curvnet (`ifioctl`): flags, MTU, name, link address, clone
/// create/destroy, then the driver's own (`if_ioctl`).  Returns the
/// copied-out `ifreq` (with what its `ifr_data` carries after it, see
/// [`ifr_data_cmd`]).
pub fn ifioctl(cmd: u32, data: &[u8]) -> Result<Vec<u8>, Errno> {
    let (head, ifr_data) = data.split_at(data.len().min(IFREQ_SIZE));
    let mut ifr = IfReq::from_bytes(head)?;
    if ifreq_cmd(cmd) == SIOCIFCREATE2 {
        // The cloner's parameters, if any, are what `ifr_data` carries.
        let name = super::if_clone::if_clone_create_params(&ifr.name, ifr_data)?;
        ifr.name = name;
        let mut out = ifr.to_bytes()?;
        out.extend_from_slice(ifr_data);
        return Ok(out);
    }
    if cmd == SIOCIFDESTROY {
        super::if_clone::if_clone_destroy(&ifr.name)?;
        return ifr.to_bytes();
    }
    let ifp = ifunit(&ifr.name).ok_or(Errno::ENXIO)?;
    if let Some(r) = ifp.driver.ioctl(&ifp, cmd, data) {
        return r;
    }
    match cmd {
        SIOCGIFFLAGS => ifr.set_flags(ifp.flags()),
        SIOCSIFFLAGS => {
            let new = ifr.flags();
            let old = ifp.flags();
            let f = (old & IFF_CANTCHANGE) | (new & !IFF_CANTCHANGE);
            // Bringing an interface up or down also sets or clears RUNNING for
            // software interfaces (they have no separate link state).
            let f = if ifp.iftype == IFT_L2VLAN {
                // A vlan runs while it has a parent, up or down.
                f
            } else if f & IFF_UP != 0 {
                f | IFF_RUNNING
            } else if ifp.iftype == IFT_LOOP || ifp.iftype == IFT_ETHER {
                f & !IFF_RUNNING
            } else {
                f
            };
            ifp.flags.store(f, Ordering::Relaxed);
            if old & IFF_UP == 0 && f & IFF_UP != 0 {
                if_up_hooks(&ifp);
            }
        }
        SIOCGIFMTU => ifr.set_int(ifp.mtu.load(Ordering::Relaxed) as i32),
        SIOCSIFMTU => {
            let mtu = ifr.int();
            let max = if ifp.iftype == IFT_LOOP { 65536 } else { 9000 };
            if !(72..=max).contains(&mtu) {
                return Err(Errno::EINVAL);
            }
            ifp.mtu.store(mtu as u32, Ordering::Relaxed);
        }
        SIOCSIFNAME => {
            let n = ifr.union_name()?.to_string();
            if_rename(&ifp, &n)?;
        }
        SIOCSIFLLADDR => {
            if ifp.iftype != IFT_ETHER && ifp.iftype != IFT_L2VLAN {
                return Err(Errno::EINVAL);
            }
            let a = ifr.lladdr();
            if a[0] & 1 != 0 {
                // A multicast source address is not a valid station address.
                return Err(Errno::EINVAL);
            }
            if let Ok(mut g) = ifp.lladdr.write() {
                *g = a.to_vec();
            }
        }
        // A driver request the interface's driver does not know (an
        // Ethernet driver's answer to a vlan's SIOCSETVLAN).
        c if matches!(ifreq_cmd(c), SIOCSIFGENERIC | SIOCGIFGENERIC) => return Err(Errno::EINVAL),
        _ => return Err(Errno::ENOTTY),
    }
    ifr.to_bytes()
}

/// `if_up()`'s protocol half: ARP announces the interface's IPv4 addresses,
/// IPv6 gives it its link-local address and starts DAD.
fn if_up_hooks(ifp: &Arc<Ifnet>) {
    if_hooks(&ifp.vnet(), ifp, |h| h.ifup, false);
}

/// `if_up()`: mark `ifp` up and running (what a driver does when it gets its
/// first address, `ether_ioctl`'s `SIOCSIFADDR`) and, if it was down, tell
/// the protocols.  Whether it was down.
pub fn if_up(ifp: &Arc<Ifnet>) -> bool {
    // A vlan runs while it has a parent (its driver says so), not because
    // it got an address.
    let run = if ifp.iftype == IFT_L2VLAN {
        0
    } else {
        IFF_RUNNING
    };
    let old = ifp.flags.fetch_or(IFF_UP | run, Ordering::Relaxed);
    if old & IFF_UP != 0 {
        return false;
    }
    if_up_hooks(ifp);
    true
}

/// Rename `ifp` in its vnet (`SIOCSIFNAME`): EINVAL/ENAMETOOLONG for a bad
/// name, EEXIST if another interface there has it.
pub fn if_rename(ifp: &Arc<Ifnet>, name: &str) -> Result<(), Errno> {
    ifname_valid(name)?;
    let vnet = ifp.vnet();
    let _cv = CurvnetGuard::set(&vnet);
    if ifunit(name).is_some() {
        return Err(Errno::EEXIST);
    }
    ifp.set_name(name);
    if_hooks(&vnet, ifp, |h| h.ifrename, false);
    Ok(())
}

/// Everything ifconfig needs about curvnet's interfaces (`net.link.iflist`).
pub fn if_list_info() -> Vec<IfInfo> {
    vnet_net().list().iter().map(|i| i.info()).collect()
}

/// Every multicast address of curvnet's interfaces, interface by interface
/// in list order (`net.link.ifmalist`).
pub fn if_maddr_list_info() -> Vec<IfMaddrInfo> {
    let mut v = Vec::new();
    for ifp in vnet_net().list() {
        let (index, name) = (ifp.index.load(Ordering::Relaxed), ifp.name());
        for m in if_multiaddrs(&ifp) {
            let addr = match m.addr {
                IfmaAddr::Inet(IpAddr::V4(a)) => a.octets().to_vec(),
                IfmaAddr::Inet(IpAddr::V6(a)) => a.octets().to_vec(),
                IfmaAddr::Link(l) => l,
            };
            v.push(IfMaddrInfo {
                index,
                name: name.clone(),
                addr,
                refcount: m.refcount,
            });
        }
    }
    v
}

/// `vimage -i` (`VI_IFACE`): move the interface called `ifname` in `from`
/// into `to`, under `newname` if given.  Moving it back where it came from
/// restores the name it had there ([`if_vmove`]'s rules).  Returns its name
/// in `to`.
pub fn vnet_ifmove(
    from: &Arc<Vnet>,
    ifname: &str,
    to: &Arc<Vnet>,
    newname: Option<&str>,
) -> Result<String, Errno> {
    let _cv = CurvnetGuard::set(from);
    let ifp = ifunit(ifname).ok_or(Errno::ENXIO)?;
    let back = ifp
        .came_from()
        .filter(|(v, _)| Arc::ptr_eq(v, to))
        .map(|(_, n)| n);
    match (newname, &back) {
        (Some(n), _) => if_vmove(&ifp, to, Some(n), back.is_some()),
        (None, Some(n)) => if_vmove(&ifp, to, Some(n), true),
        (None, None) => if_vmove(&ifp, to, None, false),
    }
}

/// The interface layer's sysctls: `net.link.iflist` (getifaddrs, ifconfig),
/// `net.link.ifmalist` (multicast memberships, `netstat -g`) and
/// `net.link.cloners` (`ifconfig -C`).
pub fn if_sysctl_init(t: &SysctlTree) {
    t.add_vnet_int::<VnetNet>(
        "net.link.ether.ipfw",
        "Pass ether pkts through firewall",
        VNET_MOD_NET,
        |n| &n.ether_ipfw,
        0,
        1,
    );
    let _ = t.add(
        "net.link.iflist",
        Oid {
            flags: CTLFLAG_RD | CTLFLAG_VNET,
            descr: "Interfaces of this vnet (getifaddrs)",
            handler: Arc::new(|_, _| {
                Ok(SysctlValue::Opaque(
                    "S,iflist".into(),
                    IfInfo::encode_list(&if_list_info()),
                ))
            }),
        },
    );
    let _ = t.add(
        "net.link.ifmalist",
        Oid {
            flags: CTLFLAG_RD | CTLFLAG_VNET,
            descr: "Multicast addresses of this vnet's interfaces (netstat -g)",
            handler: Arc::new(|_, _| {
                Ok(SysctlValue::Opaque(
                    "S,ifmalist".into(),
                    IfMaddrInfo::encode_list(&if_maddr_list_info()),
                ))
            }),
        },
    );
    let _ = t.add(
        "net.link.cloners",
        Oid {
            flags: CTLFLAG_RD,
            descr: "Interface cloners (ifconfig -C)",
            handler: Arc::new(|ctx: &SysctlCtx<'_>, _| {
                let reg = ctx.vimage.vnet.registry().ok_or(Errno::EDOOFUS)?;
                Ok(SysctlValue::Str(
                    super::if_clone::if_cloners(&reg)
                        .iter()
                        .map(|c| c.name().to_string())
                        .collect::<Vec<_>>()
                        .join(" "),
                ))
            }),
        },
    );
}
