//! Per-vnet routing tables (FreeBSD's sys/net/route.c).
//!
//! Every vnet has one table per address family (IPv4, IPv6) in the ROUTE module's
//! state, reached through curvnet.  The lookup structure is a
//! [`PrefixTable`](super::radix::PrefixTable) (one hash per prefix length; see
//! radix.rs for why).  Entries are immutable apart from their counters: a change
//! replaces the entry, so a holder of an `Arc<RtEntry>` always sees a consistent
//! route.  Changes are announced on the vnet's routing sockets (rtsock.rs).
//!
//! IPv6 link-local destinations (fe80::/10, ff02::/16) are scoped, KAME style: the
//! table key carries the interface index in the address's second 16-bit word, so
//! `fe80::/64` may exist once per interface.  [`rtalloc`] takes such an address
//! either with the index embedded (`fe80:2::1`) or through [`rtalloc_scoped`].

use crate::r#if::IfHooks;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use vimage_abi::route::*;
use vimage_abi::Errno;
use vimage_kern::subr_rcu::RcuCell;

use super::if_var::Ifnet;
use super::radix::PrefixTable;
use vimage_kern::vnet::{ModState, Vnet, VnetKey, VnetModInfo, VnetSymmap, VNET_MOD_NET};

/// Module id of the routing tables (`VNET_MOD_ROUTE`).
pub const VNET_MOD_ROUTE: usize = 4;

/// Where a route sends packets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RtGateway {
    /// Directly out of an interface (an interface route: `link#N`).
    Link {
        /// Index of the interface in its vnet.
        ifindex: u32,
    },
    /// Through a next-hop router.
    Inet(IpAddr),
}

/// One route (`struct rtentry`).
#[derive(Debug)]
pub struct RtEntry {
    /// Destination network (host bits clear) or host.
    pub dst: IpAddr,
    /// Prefix length (32/128: host route).
    pub plen: u8,
    /// Next hop.
    pub gateway: RtGateway,
    /// Interface packets leave by.
    pub ifp: Arc<Ifnet>,
    /// Source address to use (`rt_ifa`).
    pub ifa: Option<IpAddr>,
    /// `RTF_*` flags.
    pub flags: u32,
    /// References held on the route (`rt_refcnt`, netstat's Refs).
    pub refcnt: AtomicU32,
    /// Lookups that returned it (`rt_use`, netstat's Use).
    pub used: AtomicU64,
    /// Expiry in kernel uptime seconds (`rmx_expire`); 0: never.
    pub expire: AtomicU64,
    /// Path MTU (`rmx_mtu`); 0: the interface's.
    pub mtu: AtomicU32,
}

impl RtEntry {
    /// Whether the route is a host route.
    pub fn is_host(&self) -> bool {
        self.flags & RTF_HOST != 0
    }
    /// The MTU to use: the route's, else the interface's.
    pub fn path_mtu(&self) -> u32 {
        match self.mtu.load(Ordering::Relaxed) {
            0 => self.ifp.mtu.load(Ordering::Relaxed),
            m => m,
        }
    }
    fn with(&self, gateway: RtGateway, ifp: Arc<Ifnet>, flags: u32) -> RtEntry {
        RtEntry {
            dst: self.dst,
            plen: self.plen,
            gateway,
            ifp,
            ifa: self.ifa,
            flags,
            refcnt: AtomicU32::new(self.refcnt.load(Ordering::Relaxed)),
            used: AtomicU64::new(self.used.load(Ordering::Relaxed)),
            expire: AtomicU64::new(self.expire.load(Ordering::Relaxed)),
            mtu: AtomicU32::new(self.mtu.load(Ordering::Relaxed)),
        }
    }
}

/// Route statistics (`struct rtstat`, netstat -rs).
#[derive(Default, Debug)]
pub struct RtStat {
    /// Bogus redirect calls.
    pub badredirect: AtomicU64,
    /// Routes created by redirects.
    pub dynamic: AtomicU64,
    /// Routes modified by redirects.
    pub newgateway: AtomicU64,
    /// Lookups that failed.
    pub unreach: AtomicU64,
    /// Lookups satisfied by a wildcard (default) route.
    pub wildcard: AtomicU64,
}

/// The ROUTE module's per-vnet state: the tables and the routing sockets to tell.
pub struct VnetRoute {
    /// IPv4 table.
    pub inet: RwLock<PrefixTable<Arc<RtEntry>>>,
    /// IPv6 table.
    pub inet6: RwLock<PrefixTable<Arc<RtEntry>>>,
    /// Statistics.
    pub stat: RtStat,
    /// Open routing sockets of this vnet.
    pub(crate) socks: super::rtsock::RtSockList,
    /// The link-layer entries an address family keeps beside the table and
    /// shows as host routes (7.x's ARP `UHLW` routes), set by INET.
    pub llinfo: RcuCell<LlinfoFn>,
}

/// An address family's link-layer entries as `net.route.dump` rows, given
/// the uptime in seconds.
pub type LlinfoFn = fn(u64) -> Vec<vimage_abi::route::RouteEntryInfo>;

impl VnetRoute {
    fn new() -> Self {
        VnetRoute {
            inet: RwLock::new(PrefixTable::new(32)),
            inet6: RwLock::new(PrefixTable::new(128)),
            stat: RtStat::default(),
            socks: Default::default(),
            llinfo: RcuCell::new(),
        }
    }
    fn table(&self, v6: bool) -> &RwLock<PrefixTable<Arc<RtEntry>>> {
        if v6 {
            &self.inet6
        } else {
            &self.inet
        }
    }
}

fn route_iattach(_v: &Arc<Vnet>) -> Result<ModState, Errno> {
    Ok(Arc::new(VnetRoute::new()))
}

fn route_idetach(_v: &Arc<Vnet>, s: &ModState) {
    if let Ok(st) = s.clone().downcast::<VnetRoute>() {
        for t in [&st.inet, &st.inet6] {
            if let Ok(mut g) = t.write() {
                g.drain_where(|_, _, _| true);
            }
        }
        st.socks.shutdown();
    }
}

fn sym_rtcount(s: &(dyn std::any::Any + Send + Sync)) -> String {
    s.downcast_ref::<VnetRoute>()
        .map(|r| {
            let n4 = r.inet.read().map(|t| t.len()).unwrap_or(0);
            let n6 = r.inet6.read().map(|t| t.len()).unwrap_or(0);
            format!("{n4} {n6}")
        })
        .unwrap_or_default()
}

/// Its interface hooks.
static ROUTE_IFHOOKS: IfHooks = IfHooks {
    ifattach: None,
    ifdetach: Some(rt_purge_ifp),
    ifup: None,
    ifrename: None,
};

/// `VNET_MOD_DECLARE(ROUTE, route, ...)`: the routing tables, purged of an
/// interface's routes when it leaves the vnet.
pub static VNET_ROUTE_MODINFO: VnetModInfo = VnetModInfo {
    id: VNET_MOD_ROUTE,
    name: "route",
    depends: &[VNET_MOD_NET],
    iattach: route_iattach,
    idetach: route_idetach,
    ext: Some(&ROUTE_IFHOOKS),
    symmap: &[VnetSymmap {
        name: "rt_tables",
        get: sym_rtcount,
    }],
};

/// The ROUTE module's key: curvnet's routing tables, borrowed.
pub static VNET_ROUTE: VnetKey<VnetRoute> = VnetKey::new(VNET_MOD_ROUTE);

/// The routing state of curvnet, if the ROUTE module is attached.
pub fn vnet_route() -> Option<Arc<VnetRoute>> {
    vimage_kern::vnet::with_curvnet(|v| v?.state::<VnetRoute>(VNET_MOD_ROUTE))
}

// ---------------------------------------------------------------------------
// keys

fn is_scoped6(a: &Ipv6Addr) -> bool {
    let s = a.segments();
    s[0] & 0xffc0 == 0xfe80 || s[0] == 0xff02 || s[0] == 0xff01
}

/// The table key of `a` (left-aligned); scoped IPv6 addresses get `scope` embedded
/// in their second word unless one is there already.
fn key_of(a: &IpAddr, scope: u32) -> u128 {
    match a {
        IpAddr::V4(a) => u128::from(u32::from(*a)) << 96,
        IpAddr::V6(a) => {
            let mut k = u128::from(*a);
            if is_scoped6(a) && a.segments()[1] == 0 {
                k |= u128::from(scope & 0xffff) << 96;
            }
            k
        }
    }
}

/// `a` without a KAME-embedded scope (the interface index some callers put in
/// the second word of a link-local IPv6 address); other addresses unchanged.
pub fn rt_unembed(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v) if is_scoped6(&v) && v.segments()[1] != 0 => {
            let mut s = v.segments();
            s[1] = 0;
            IpAddr::V6(Ipv6Addr::from(s))
        }
        a => a,
    }
}

fn width(a: &IpAddr) -> u8 {
    if a.is_ipv6() {
        128
    } else {
        32
    }
}

/// `dst` with the bits beyond `plen` cleared.
pub fn rt_mask_addr(dst: IpAddr, plen: u8) -> IpAddr {
    let m = super::radix::mask128(plen);
    match dst {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & (m >> 96) as u32)),
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & m)),
    }
}

fn ifindex(ifp: &Ifnet) -> u32 {
    ifp.index.load(Ordering::Relaxed)
}

// ---------------------------------------------------------------------------
// the API

/// Add a route in curvnet (`rtrequest(RTM_ADD)`): `dst/plen` via `gw` out of `ifp`,
/// with `RTF_UP` added (and `RTF_HOST` for a full-length prefix).  EEXIST if the
/// prefix is present, EINVAL for a prefix longer than the address or a gateway of
/// the other family, ENETUNREACH when the vnet has no routing tables.  Routing
/// sockets hear an RTM_ADD.
pub fn rt_add(
    dst: IpAddr,
    plen: u8,
    gw: RtGateway,
    ifp: &Arc<Ifnet>,
    ifa: Option<IpAddr>,
    flags: u32,
) -> Result<Arc<RtEntry>, Errno> {
    let rt = rt_add_quiet(dst, plen, gw, ifp, ifa, flags)?;
    super::rtsock::rt_notify_route(RTM_ADD, &rt, 0, None);
    Ok(rt)
}

/// [`rt_add`] without the routing-socket message (the socket's own write path
/// answers with the request it performed).
pub(crate) fn rt_add_quiet(
    dst: IpAddr,
    plen: u8,
    gw: RtGateway,
    ifp: &Arc<Ifnet>,
    ifa: Option<IpAddr>,
    flags: u32,
) -> Result<Arc<RtEntry>, Errno> {
    let w = width(&dst);
    if plen > w {
        return Err(Errno::EINVAL);
    }
    if let RtGateway::Inet(g) = &gw {
        if g.is_ipv6() != dst.is_ipv6() {
            return Err(Errno::EINVAL);
        }
    }
    let st = vnet_route().ok_or(Errno::ENETUNREACH)?;
    let dst = rt_mask_addr(dst, plen);
    let mut flags = flags | RTF_UP;
    if plen == w {
        flags |= RTF_HOST;
    } else {
        flags &= !RTF_HOST;
    }
    let rt = Arc::new(RtEntry {
        dst,
        plen,
        gateway: gw,
        ifp: ifp.clone(),
        ifa,
        flags,
        refcnt: AtomicU32::new(0),
        used: AtomicU64::new(0),
        expire: AtomicU64::new(0),
        mtu: AtomicU32::new(0),
    });
    let key = key_of(&dst, ifindex(ifp));
    let mut t = st
        .table(dst.is_ipv6())
        .write()
        .map_err(|_| Errno::EDOOFUS)?;
    t.insert(key, plen, rt.clone()).map_err(|_| Errno::EEXIST)?;
    Ok(rt)
}

/// Delete `dst/plen` from curvnet (`rtrequest(RTM_DELETE)`); ESRCH if absent.
/// Routing sockets hear an RTM_DELETE.
pub fn rt_delete(dst: IpAddr, plen: u8) -> Result<Arc<RtEntry>, Errno> {
    let rt = rt_delete_quiet(dst, plen, None)?;
    super::rtsock::rt_notify_route(RTM_DELETE, &rt, 0, None);
    Ok(rt)
}

/// [`rt_delete`] without the message; `scope` picks the interface of a scoped
/// IPv6 destination.
pub(crate) fn rt_delete_quiet(
    dst: IpAddr,
    plen: u8,
    scope: Option<u32>,
) -> Result<Arc<RtEntry>, Errno> {
    let st = vnet_route().ok_or(Errno::ESRCH)?;
    let mut t = st
        .table(dst.is_ipv6())
        .write()
        .map_err(|_| Errno::EDOOFUS)?;
    let key = find_key(&t, &dst, plen, scope).ok_or(Errno::ESRCH)?;
    t.remove(key, plen).ok_or(Errno::ESRCH)
}

/// The key of an existing `dst/plen`: for a scoped IPv6 destination without an
/// embedded index, the one route of that prefix on `scope` (or on any interface
/// when no scope is given).
fn find_key(
    t: &PrefixTable<Arc<RtEntry>>,
    dst: &IpAddr,
    plen: u8,
    scope: Option<u32>,
) -> Option<u128> {
    let k = key_of(dst, scope.unwrap_or(0));
    if t.get(k, plen).is_some() {
        return Some(k);
    }
    match dst {
        IpAddr::V6(a) if is_scoped6(a) && a.segments()[1] == 0 && scope.is_none() => {
            let m = super::radix::mask128(plen);
            let want = u128::from(*a) & m;
            t.iter()
                .find(|(_, l, rt)| {
                    *l == plen && matches!(rt.dst, IpAddr::V6(d) if u128::from(d) & m == want)
                })
                .map(|(k, _, _)| k)
        }
        _ => None,
    }
}

/// Change the gateway, interface or flags of `dst/plen` (`RTM_CHANGE`); ESRCH if
/// absent.  The entry is replaced (counters carried over); the new one is returned.
/// Routing sockets hear an RTM_CHANGE.
pub fn rt_change(
    dst: IpAddr,
    plen: u8,
    gw: Option<RtGateway>,
    ifp: Option<&Arc<Ifnet>>,
    flags: Option<u32>,
) -> Result<Arc<RtEntry>, Errno> {
    let rt = rt_change_quiet(dst, plen, gw, ifp, flags, None)?;
    super::rtsock::rt_notify_route(RTM_CHANGE, &rt, 0, None);
    Ok(rt)
}

/// [`rt_change`] without the message.
pub(crate) fn rt_change_quiet(
    dst: IpAddr,
    plen: u8,
    gw: Option<RtGateway>,
    ifp: Option<&Arc<Ifnet>>,
    flags: Option<u32>,
    scope: Option<u32>,
) -> Result<Arc<RtEntry>, Errno> {
    if let Some(RtGateway::Inet(g)) = &gw {
        if g.is_ipv6() != dst.is_ipv6() {
            return Err(Errno::EINVAL);
        }
    }
    let st = vnet_route().ok_or(Errno::ESRCH)?;
    let mut t = st
        .table(dst.is_ipv6())
        .write()
        .map_err(|_| Errno::EDOOFUS)?;
    let key = find_key(&t, &dst, plen, scope).ok_or(Errno::ESRCH)?;
    let old = t.get(key, plen).cloned().ok_or(Errno::ESRCH)?;
    let gw = gw.unwrap_or_else(|| old.gateway.clone());
    let ifp = ifp.cloned().unwrap_or_else(|| old.ifp.clone());
    let mut f = flags.unwrap_or(old.flags) | RTF_UP;
    f = (f & !RTF_HOST) | (old.flags & RTF_HOST);
    let new = Arc::new(old.with(gw, ifp, f));
    t.replace(key, plen, new.clone());
    Ok(new)
}

/// Longest-prefix match for `dst` in curvnet (`rtalloc1`): bumps the route's use
/// count.  `None` when nothing matches (counted as unreachable).
pub fn rtalloc(dst: IpAddr) -> Option<Arc<RtEntry>> {
    rtalloc_scoped(dst, 0)
}

/// [`rtalloc`] for a destination whose scope (interface index, for IPv6
/// link-local and link-scope multicast addresses) is `scope`.
pub fn rtalloc_scoped(dst: IpAddr, scope: u32) -> Option<Arc<RtEntry>> {
    VNET_ROUTE.try_with(|st| {
        let t = st.table(dst.is_ipv6()).read().ok()?;
        match t.lookup(key_of(&dst, scope)) {
            Some((l, rt)) => {
                rt.used.fetch_add(1, Ordering::Relaxed);
                if l == 0 {
                    st.stat.wildcard.fetch_add(1, Ordering::Relaxed);
                }
                Some(rt.clone())
            }
            None => {
                st.stat.unreach.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    })?
}

/// Exactly `dst/plen` in curvnet (no use count).
pub fn rt_lookup_exact(dst: IpAddr, plen: u8) -> Option<Arc<RtEntry>> {
    rt_lookup_scoped(dst, plen, None)
}

/// [`rt_lookup_exact`] of a scoped IPv6 prefix on interface `scope` (any
/// interface's when `None`).
pub(crate) fn rt_lookup_scoped(dst: IpAddr, plen: u8, scope: Option<u32>) -> Option<Arc<RtEntry>> {
    let st = vnet_route()?;
    let t = st.table(dst.is_ipv6()).read().ok()?;
    let k = find_key(&t, &dst, plen, scope)?;
    t.get(k, plen).cloned()
}

/// Every route of one family in curvnet in the order `netstat -r` prints them
/// (a radix walk: by address, the more specific prefix first for one address).
pub fn rt_dump(v6: bool) -> Vec<Arc<RtEntry>> {
    let Some(st) = vnet_route() else {
        return Vec::new();
    };
    let Ok(t) = st.table(v6).read() else {
        return Vec::new();
    };
    t.sorted()
        .into_iter()
        .map(|(_, _, rt)| rt.clone())
        .collect()
}

/// Remove every route of curvnet that goes out of `ifp` or through its link
/// (the interface leaves the vnet or is destroyed).  Routing sockets hear an
/// RTM_DELETE for each.
pub fn rt_purge_ifp(ifp: &Arc<Ifnet>) {
    let Some(st) = vnet_route() else { return };
    let idx = ifindex(ifp);
    let mut gone = Vec::new();
    for t in [&st.inet, &st.inet6] {
        if let Ok(mut g) = t.write() {
            gone.extend(g.drain_where(|_, _, rt| {
                Arc::ptr_eq(&rt.ifp, ifp) || rt.gateway == RtGateway::Link { ifindex: idx }
            }));
        }
    }
    for (_, _, rt) in gone {
        super::rtsock::rt_notify_route(RTM_DELETE, &rt, 0, None);
    }
}

/// Announce that `addr/plen` was added to (`RTM_NEWADDR`) or removed from
/// (`RTM_DELADDR`) `ifp` on curvnet's routing sockets.
pub fn rt_newaddrmsg(cmd: u8, ifp: &Arc<Ifnet>, addr: IpAddr, plen: u8) {
    super::rtsock::rt_notify_addr(cmd, ifp, addr, plen);
}

// ---------------------------------------------------------------------------
// net.route.dump

/// curvnet's routes of both families (IPv4 first) as `net.route.dump` reports
/// them; `now_s` is the kernel uptime in seconds, for the time left to expiry.
pub fn rt_dump_info(now_s: u64) -> vimage_abi::route::RouteDump {
    use vimage_abi::route::{DumpGateway, RouteEntryInfo};
    let routes = [false, true]
        .into_iter()
        .flat_map(rt_dump)
        .map(|r| RouteEntryInfo {
            dst: rt_unembed(r.dst),
            plen: r.plen,
            gateway: match &r.gateway {
                RtGateway::Link { ifindex } => DumpGateway::Link(*ifindex),
                RtGateway::Inet(a) => DumpGateway::Inet(rt_unembed(*a)),
            },
            ifindex: ifindex(&r.ifp),
            ifname: r.ifp.name(),
            flags: r.flags,
            refs: r.refcnt.load(Ordering::Relaxed),
            used: r.used.load(Ordering::Relaxed),
            expire: match r.expire.load(Ordering::Relaxed) {
                0 => 0,
                e => e.saturating_sub(now_s).max(1),
            },
            mtu: r.mtu.load(Ordering::Relaxed),
        })
        .collect::<Vec<_>>();
    // The family's link-layer entries join the IPv4 table as host routes,
    // in the walk's order: by address, the more specific prefix first.
    let ll = VNET_ROUTE
        .try_with(|st| st.llinfo.get().copied())
        .flatten()
        .map(|f| f(now_s))
        .unwrap_or_default();
    let mut routes = routes;
    if !ll.is_empty() {
        let split = routes
            .iter()
            .position(|r| r.dst.is_ipv6())
            .unwrap_or(routes.len());
        let six = routes.split_off(split);
        routes.extend(ll);
        let key = |r: &RouteEntryInfo| match r.dst {
            IpAddr::V4(a) => (u32::from(a), std::cmp::Reverse(r.plen)),
            IpAddr::V6(_) => (u32::MAX, std::cmp::Reverse(0)),
        };
        routes.sort_by_key(key);
        routes.extend(six);
    }
    vimage_abi::route::RouteDump { routes }
}

/// Register `net.route.dump` (opaque, virtualized: the caller's vnet's routes).
pub fn sysctl_init(t: &vimage_kern::kern_sysctl::SysctlTree) {
    use vimage_abi::sysctl::{SysctlValue, CTLFLAG_RD, CTLFLAG_VNET};
    use vimage_kern::kern_sysctl::Oid;
    let _ = t.add(
        NET_ROUTE_DUMP,
        Oid {
            flags: CTLFLAG_RD | CTLFLAG_VNET,
            descr: "Routing tables of this vnet",
            handler: Arc::new(|_, new| {
                if new.is_some() {
                    return Err(Errno::EPERM);
                }
                let now = vimage_kern::kern_timeout::getnow_ns() / 1_000_000_000;
                Ok(SysctlValue::Opaque(
                    ROUTE_DUMP_FMT.into(),
                    rt_dump_info(now).to_bytes(),
                ))
            }),
        },
    );
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::if_var::IfAddr;
    use crate::mbuf::Mbuf;
    use vimage_kern::vnet::{CurvnetGuard, ModRegistry};

    struct Null;
    impl crate::if_var::IfDriver for Null {
        fn transmit(&self, _: &Arc<Ifnet>, _: Mbuf) -> Result<(), Errno> {
            Ok(())
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }

    /// A registry with NET and ROUTE and one vnet.
    pub(crate) fn setup() -> (Arc<ModRegistry>, Arc<Vnet>) {
        let reg = ModRegistry::new();
        reg.register(&[&crate::r#if::VNET_NET_MODINFO, &VNET_ROUTE_MODINFO])
            .unwrap();
        let v = reg.vnet_alloc("t").unwrap();
        (reg, v)
    }

    /// An attached Ethernet-like interface in curvnet with `addr/plen`.
    pub(crate) fn ifp(name: &str, addr: Option<(&str, u8)>) -> Arc<Ifnet> {
        let v = vimage_kern::vnet::curvnet();
        let i = Ifnet::new(
            &v,
            name,
            "t",
            6,
            0x8843,
            1500,
            vec![2, 0, 0, 0, 0, 1],
            Box::new(Null),
        );
        crate::r#if::if_attach(&i).unwrap();
        if let Some((a, l)) = addr {
            i.addrs.write().unwrap().push(IfAddr {
                addr: a.parse().unwrap(),
                plen: l,
                dst: None,
                flags: 0,
            });
        }
        i
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_host_net_and_default() {
        let _l = vimage_kern::kern_syscall::test_lock();
        let (reg, v) = setup();
        {
            let _cv = CurvnetGuard::set(&v);
            let e0 = ifp("eth0", Some(("10.0.0.20", 24)));
            let e1 = ifp("eth1", Some(("10.0.2.1", 24)));
            let link0 = RtGateway::Link { ifindex: 1 };
            rt_add(
                ip("10.0.0.0"),
                24,
                link0.clone(),
                &e0,
                Some(ip("10.0.0.20")),
                RTF_CLONING,
            )
            .unwrap();
            let d = rt_add(
                ip("0.0.0.0"),
                0,
                RtGateway::Inet(ip("10.0.0.1")),
                &e0,
                None,
                RTF_GATEWAY | RTF_STATIC,
            )
            .unwrap();
            assert_eq!(d.flags, RTF_UP | RTF_GATEWAY | RTF_STATIC);
            // Host bits of a network are cleared; a full-length prefix is a host.
            let n = rt_add(
                ip("10.0.3.77"),
                24,
                RtGateway::Inet(ip("10.0.2.2")),
                &e1,
                None,
                RTF_GATEWAY,
            )
            .unwrap();
            assert_eq!(n.dst, ip("10.0.3.0"));
            let h = rt_add(
                ip("10.0.3.5"),
                32,
                RtGateway::Inet(ip("10.0.2.3")),
                &e1,
                None,
                RTF_GATEWAY,
            )
            .unwrap();
            assert!(h.is_host());
            assert_eq!(rtalloc(ip("10.0.3.5")).unwrap().plen, 32);
            assert_eq!(rtalloc(ip("10.0.3.6")).unwrap().plen, 24);
            assert_eq!(rtalloc(ip("10.0.0.9")).unwrap().gateway, link0);
            let r = rtalloc(ip("192.0.2.1")).unwrap();
            assert_eq!(r.plen, 0);
            assert_eq!(r.used.load(Ordering::Relaxed), 1);
            // Errors: EEXIST, ESRCH, a prefix longer than the address.
            assert_eq!(
                rt_add(
                    ip("10.0.3.0"),
                    24,
                    RtGateway::Inet(ip("10.0.2.2")),
                    &e1,
                    None,
                    0
                )
                .err(),
                Some(Errno::EEXIST)
            );
            assert_eq!(rt_delete(ip("10.9.0.0"), 16).err(), Some(Errno::ESRCH));
            assert_eq!(
                rt_add(ip("10.0.3.0"), 33, link0.clone(), &e1, None, 0).err(),
                Some(Errno::EINVAL)
            );
            assert!(rt_lookup_exact(ip("10.0.3.0"), 24).is_some());
            assert!(rt_lookup_exact(ip("10.0.3.0"), 25).is_none());
            // netstat order: by address, more specific first.
            let order: Vec<String> = rt_dump(false)
                .iter()
                .map(|r| format!("{}/{}", r.dst, r.plen))
                .collect();
            assert_eq!(
                order,
                ["0.0.0.0/0", "10.0.0.0/24", "10.0.3.0/24", "10.0.3.5/32"]
            );
            // Change keeps counters, replaces gateway.
            let c = rt_change(
                ip("0.0.0.0"),
                0,
                Some(RtGateway::Inet(ip("10.0.0.2"))),
                None,
                None,
            )
            .unwrap();
            assert_eq!(c.gateway, RtGateway::Inet(ip("10.0.0.2")));
            assert_eq!(c.used.load(Ordering::Relaxed), 1);
            assert_eq!(rt_delete(ip("0.0.0.0"), 0).unwrap().dst, ip("0.0.0.0"));
            assert!(rtalloc(ip("192.0.2.1")).is_none());
            assert_eq!(
                vnet_route().unwrap().stat.unreach.load(Ordering::Relaxed),
                1
            );
        }
        reg.vnet_destroy(&v);
    }

    #[test]
    fn ipv6_routes_and_scoped_link_local() {
        let _l = vimage_kern::kern_syscall::test_lock();
        let (reg, v) = setup();
        {
            let _cv = CurvnetGuard::set(&v);
            let e0 = ifp("eth0", None);
            let e1 = ifp("eth1", None);
            let (i0, i1) = (ifindex(&e0), ifindex(&e1));
            rt_add(
                ip("fe80::"),
                64,
                RtGateway::Link { ifindex: i0 },
                &e0,
                None,
                0,
            )
            .unwrap();
            rt_add(
                ip("fe80::"),
                64,
                RtGateway::Link { ifindex: i1 },
                &e1,
                None,
                0,
            )
            .unwrap();
            rt_add(
                ip("2001:db8::"),
                32,
                RtGateway::Inet(ip("fe80::1")),
                &e1,
                None,
                RTF_GATEWAY,
            )
            .unwrap();
            assert!(rt_add(
                ip("::1"),
                128,
                RtGateway::Inet(ip("10.0.0.1")),
                &e0,
                None,
                0
            )
            .is_err());
            let r = rtalloc_scoped(ip("fe80::99"), i1).unwrap();
            assert!(Arc::ptr_eq(&r.ifp, &e1));
            let r = rtalloc_scoped(ip("fe80::99"), i0).unwrap();
            assert!(Arc::ptr_eq(&r.ifp, &e0));
            assert!(rtalloc(ip("2001:db8:1::5")).unwrap().flags & RTF_GATEWAY != 0);
            assert_eq!(rt_dump(true).len(), 3);
            // Deleting an unscoped link-local prefix removes one of them.
            rt_delete(ip("fe80::"), 64).unwrap();
            assert_eq!(rt_dump(true).len(), 2);
        }
        reg.vnet_destroy(&v);
    }

    #[test]
    fn interface_leaving_purges_its_routes() {
        let _l = vimage_kern::kern_syscall::test_lock();
        let (reg, v) = setup();
        {
            let _cv = CurvnetGuard::set(&v);
            let e0 = ifp("eth0", Some(("10.0.0.20", 24)));
            let e1 = ifp("eth1", Some(("10.0.1.20", 24)));
            let g = RtGateway::Inet(ip("10.0.0.1"));
            rt_add(
                ip("10.0.0.0"),
                24,
                RtGateway::Link {
                    ifindex: ifindex(&e0),
                },
                &e0,
                None,
                0,
            )
            .unwrap();
            rt_add(ip("0.0.0.0"), 0, g, &e0, None, RTF_GATEWAY).unwrap();
            rt_add(
                ip("10.0.1.0"),
                24,
                RtGateway::Link {
                    ifindex: ifindex(&e1),
                },
                &e1,
                None,
                0,
            )
            .unwrap();
            crate::r#if::if_detach(&e0);
            let left: Vec<IpAddr> = rt_dump(false).iter().map(|r| r.dst).collect();
            assert_eq!(left, [ip("10.0.1.0")]);
        }
        reg.vnet_destroy(&v);
    }

    #[cfg(feature = "vimage")]
    #[test]
    fn tables_are_per_vnet() {
        let _l = vimage_kern::kern_syscall::test_lock();
        let (reg, v) = setup();
        let w = reg.vnet_alloc("u").unwrap();
        {
            let _cv = CurvnetGuard::set(&v);
            let e0 = ifp("eth0", None);
            rt_add(
                ip("10.0.0.0"),
                8,
                RtGateway::Link { ifindex: 1 },
                &e0,
                None,
                0,
            )
            .unwrap();
        }
        {
            let _cv = CurvnetGuard::set(&w);
            assert!(rtalloc(ip("10.1.1.1")).is_none());
            assert!(rt_dump(false).is_empty());
        }
        reg.vnet_destroy(&w);
        reg.vnet_destroy(&v);
    }

    #[test]
    fn hundred_thousand_routes_insert_and_lookup() {
        let _l = vimage_kern::kern_syscall::test_lock();
        let (reg, v) = setup();
        {
            let _cv = CurvnetGuard::set(&v);
            let e0 = ifp("eth0", None);
            let gw = RtGateway::Inet(ip("10.0.0.1"));
            let t0 = std::time::Instant::now();
            let mut x: u32 = 0x2545_f491;
            let mut added = Vec::with_capacity(100_000);
            while added.len() < 100_000 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let plen = [16u8, 20, 22, 24, 24, 24, 28, 32][(x & 7) as usize];
                let a = IpAddr::V4(Ipv4Addr::from(x));
                if rt_add_quiet(a, plen, gw.clone(), &e0, None, RTF_GATEWAY).is_ok() {
                    added.push((rt_mask_addr(a, plen), plen));
                }
            }
            for (a, plen) in &added {
                let r = rtalloc(*a).unwrap();
                assert!(r.plen >= *plen);
            }
            assert_eq!(rt_dump(false).len(), 100_000);
            let took = t0.elapsed();
            // Generous even for an unoptimized build on a loaded machine.
            assert!(took.as_secs() < 20, "100k routes took {took:?}");
        }
        reg.vnet_destroy(&v);
    }
}
