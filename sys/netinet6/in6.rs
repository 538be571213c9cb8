//! IPv6 per-vnet state and interface addresses (FreeBSD's netinet6/in6.c and
//! in6_proto.c): the INET6 vnet module, its sysctls, `SIOCAIFADDR_IN6` /
//! `SIOCDIFADDR_IN6`, the address lookups the rest of the stack makes, and
//! source address selection.
//!
//! An interface's IPv6 addresses live in its generic address list
//! (`ifp.addrs`, what ifconfig prints) with their `IN6_IFF_*` flags; this module
//! is the only writer of the IPv6 entries.  Adding an address adds its prefix
//! route and, on a link with neighbour discovery, starts duplicate address
//! detection (the address stays `tentative` until it passes).

use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use vimage_abi::net_if::{IFF_LOOPBACK, IFF_POINTOPOINT, IFF_UP, IFT_ETHER, IFT_L2VLAN};
use vimage_abi::netinet6_in6::*;
use vimage_abi::route::{RTF_CLONING, RTF_GATEWAY};
use vimage_abi::sysctl::{SysctlValue, CTLFLAG_RD, CTLFLAG_VNET};
use vimage_abi::Errno;
use vimage_net::r#if::IfHooks;

use super::frag6::Frag6Queue;
use super::nd6::Nd6State;
use super::raw_ip6::Rip6List;
use vimage_kern::kern_sysctl::{Oid, SysctlTree};
use vimage_kern::vnet::{ModState, Vnet, VnetModInfo, VnetSymmap, V, VNET_MOD_INET6, VNET_MOD_NET};
use vimage_net::ethernet::ETHERTYPE_IPV6;
use vimage_net::if_var::{IfAddr, Ifnet};
use vimage_net::r#if::{ifnet_byindex, netisr_register, netisr_unregister, vnet_net};
use vimage_net::route::{rt_add, rt_delete, rtalloc_scoped, RtGateway, VNET_MOD_ROUTE};

/// Default hop limit (`net.inet6.ip6.hlim`).
pub const IPV6_DEFHLIM: i64 = 64;
/// Reassembly queues kept at most (`net.inet6.ip6.maxfragpackets`).
pub const IP6_MAXFRAGPACKETS: i64 = 64;
/// Fragments kept at most per datagram (`net.inet6.ip6.maxfrags`).
pub const IP6_MAXFRAGS: i64 = 64;
/// ICMPv6 errors sent per second at most (`net.inet6.icmp6.errppslimit`).
pub const ICMP6_ERRPPSLIMIT: i64 = 100;

macro_rules! counters {
    ($(#[$m:meta])* $name:ident => $abi:ident { $($f:ident),* $(,)? }) => {
        $(#[$m])*
        #[derive(Default, Debug)]
        pub struct $name {
            $(
                #[doc = concat!("`", stringify!($f), "`.")]
                pub $f: AtomicU64,
            )*
        }
        impl $name {
            /// A snapshot in the ABI's form.
            pub fn snapshot(&self) -> $abi {
                $abi { $($f: self.$f.load(Ordering::Relaxed),)* }
            }
        }
    };
}

counters!(
    /// `V_ip6stat`: IPv6 counters of one vnet.
    Ip6Counters => Ip6Stat {
        ip6s_total, ip6s_tooshort, ip6s_toosmall, ip6s_fragments, ip6s_fragdropped,
        ip6s_fragtimeout, ip6s_fragoverflow, ip6s_forward, ip6s_cantforward,
        ip6s_redirectsent, ip6s_delivered, ip6s_localout, ip6s_odropped,
        ip6s_reassembled, ip6s_fragmented, ip6s_ofragments, ip6s_cantfrag,
        ip6s_badoptions, ip6s_noroute, ip6s_badvers, ip6s_rawout, ip6s_badscope,
        ip6s_notmember, ip6s_noproto, ip6s_toomanyhdr,
    }
);

counters!(
    /// `V_icmp6stat` without its histograms.
    Icmp6Counters => Icmp6StatCounters {
        icp6s_error, icp6s_canterror, icp6s_toofreq, icp6s_badcode, icp6s_tooshort,
        icp6s_checksum, icp6s_badlen, icp6s_reflect, icp6s_nd_toomanyopt, icp6s_badrs,
        icp6s_badra, icp6s_badredirect, icp6s_badns, icp6s_badna, icp6s_dupaddr,
    }
);

/// Bump a counter.
#[inline]
pub(crate) fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// `struct vnet_inet6`: the INET6 module's state in one vnet.
pub struct VnetInet6 {
    /// `V_ip6_forwarding`: act as a router.
    pub ip6_forwarding: AtomicI64,
    /// `V_ip6_defhlim`: hop limit of packets this host sends.
    pub ip6_defhlim: AtomicI64,
    /// `V_ip6_dad_count`: DAD solicitations per address (0: no DAD).
    pub ip6_dad_count: AtomicI64,
    /// `V_ip6_maxfragpackets`.
    pub ip6_maxfragpackets: AtomicI64,
    /// `V_ip6_maxfrags` (per datagram).
    pub ip6_maxfrags: AtomicI64,
    /// `V_icmp6errppslim` (negative: no limit).
    pub icmp6errppslim: AtomicI64,
    /// IPv6 counters.
    pub ip6stat: Ip6Counters,
    /// ICMPv6 counters.
    pub icmp6stat: Icmp6Counters,
    /// ICMPv6 output histogram.
    pub icmp6_outhist: Vec<AtomicU64>,
    /// ICMPv6 input histogram.
    pub icmp6_inhist: Vec<AtomicU64>,
    /// The neighbour cache and DAD state.
    pub nd6: Mutex<Nd6State>,
    /// Datagrams being reassembled.
    pub frag6: Mutex<Frag6Queue>,
    /// Raw IPv6 sockets of this vnet.
    pub rip6: Rip6List,
    /// UDP/IPv6 sockets of this vnet (`udbinfo` for IPv6).
    pub udb6: super::udp6_usrreq::Udp6Table,
    /// Next fragment identification.
    pub ip6_id: AtomicU32,
    /// ICMPv6 error rate limit: (second, errors sent in it).
    pub(crate) errrate: Mutex<(u64, i64)>,
}

impl VnetInet6 {
    fn new(vnet_id: u32) -> Self {
        VnetInet6 {
            ip6_forwarding: AtomicI64::new(0),
            ip6_defhlim: AtomicI64::new(IPV6_DEFHLIM),
            ip6_dad_count: AtomicI64::new(1),
            ip6_maxfragpackets: AtomicI64::new(IP6_MAXFRAGPACKETS),
            ip6_maxfrags: AtomicI64::new(IP6_MAXFRAGS),
            icmp6errppslim: AtomicI64::new(ICMP6_ERRPPSLIMIT),
            ip6stat: Ip6Counters::default(),
            icmp6stat: Icmp6Counters::default(),
            icmp6_outhist: (0..256).map(|_| AtomicU64::new(0)).collect(),
            icmp6_inhist: (0..256).map(|_| AtomicU64::new(0)).collect(),
            nd6: Mutex::new(Nd6State::default()),
            frag6: Mutex::new(Frag6Queue::default()),
            rip6: Rip6List::default(),
            udb6: Default::default(),
            ip6_id: AtomicU32::new(0x5eed_0000 ^ vnet_id.wrapping_mul(0x9e37_79b9)),
            errrate: Mutex::new((0, 0)),
        }
    }
    /// The default hop limit.
    pub fn defhlim(&self) -> u8 {
        self.ip6_defhlim.load(Ordering::Relaxed).clamp(1, 255) as u8
    }
    /// Whether this vnet forwards.
    pub fn forwarding(&self) -> bool {
        self.ip6_forwarding.load(Ordering::Relaxed) != 0
    }
    /// The ICMPv6 counters with histograms, in the ABI's form.
    pub fn icmp6_snapshot(&self) -> Icmp6Stat {
        let mut s = Icmp6Stat {
            c: self.icmp6stat.snapshot(),
            ..Default::default()
        };
        for i in 0..256 {
            s.outhist[i] = self.icmp6_outhist[i].load(Ordering::Relaxed);
            s.inhist[i] = self.icmp6_inhist[i].load(Ordering::Relaxed);
        }
        s
    }
}

/// `V_` access to curvnet's IPv6 state.
pub fn vnet_inet6() -> Arc<VnetInet6> {
    V::<VnetInet6>(VNET_MOD_INET6)
}

/// curvnet's IPv6 state, if the INET6 module is attached there.
pub fn try_vnet_inet6() -> Option<Arc<VnetInet6>> {
    vimage_kern::vnet::with_curvnet(|v| v?.state::<VnetInet6>(VNET_MOD_INET6))
}

fn inet6_iattach(v: &Arc<Vnet>) -> Result<ModState, Errno> {
    let st = Arc::new(VnetInet6::new(v.id()));
    vimage_net::r#if::VNET_NET.with(|n| n.nd6_resolve.replace(Some(super::nd6::nd6_resolve)));
    netisr_register(ETHERTYPE_IPV6, Arc::new(super::ip6_input::ip6_input));
    Ok(st)
}

fn inet6_idetach(_v: &Arc<Vnet>, s: &ModState) {
    // As IPv4's: interfaces leave without their IPv6 addresses.
    for ifp in vnet_net().list() {
        inet6_ifdetach(&ifp);
    }
    netisr_unregister(ETHERTYPE_IPV6);
    vimage_net::r#if::VNET_NET.with(|n| n.nd6_resolve.replace(None));
    if let Some(st) = s.downcast_ref::<VnetInet6>() {
        if let Ok(mut n) = st.nd6.lock() {
            *n = Nd6State::default();
        }
        if let Ok(mut f) = st.frag6.lock() {
            *f = Frag6Queue::default();
        }
        st.rip6.close_all();
        st.udb6.close_all();
    }
}

/// An interface arrives: if it is already up, it gets its IPv6 addresses.
fn inet6_ifattach(ifp: &Arc<Ifnet>) {
    if ifp.flags() & IFF_UP != 0 {
        in6_if_up(ifp);
    }
}

/// An interface leaves (`in6_ifdetach`): its addresses, their routes, its
/// neighbour cache entries and DAD timers go.
fn inet6_ifdetach(ifp: &Arc<Ifnet>) {
    for a in in6_addrs(ifp) {
        in6_purgeaddr(ifp, &a);
    }
    super::nd6::nd6_purge(ifp);
}

fn sym_fwd(s: &(dyn std::any::Any + Send + Sync)) -> String {
    s.downcast_ref::<VnetInet6>()
        .map(|i| i.ip6_forwarding.load(Ordering::Relaxed).to_string())
        .unwrap_or_default()
}

/// Its interface hooks.
static INET6_IFHOOKS: IfHooks = IfHooks {
    ifattach: Some(inet6_ifattach),
    ifdetach: Some(inet6_ifdetach),
    ifup: Some(in6_if_up),
    ifrename: None,
};

/// `VNET_MOD_DECLARE(INET6, inet6, ...)`.
pub static VNET_INET6_MODINFO: VnetModInfo = VnetModInfo {
    id: VNET_MOD_INET6,
    name: "inet6",
    depends: &[VNET_MOD_NET, VNET_MOD_ROUTE],
    iattach: inet6_iattach,
    idetach: inet6_idetach,
    ext: Some(&INET6_IFHOOKS),
    symmap: &[VnetSymmap {
        name: "ip6_forwarding",
        get: sym_fwd,
    }],
};

/// The `net.inet6.*` sysctls (virtualized).
pub fn sysctl_init(t: &SysctlTree) {
    t.add_vnet_int::<VnetInet6>(
        "net.inet6.ip6.forwarding",
        "Enable IPv6 forwarding between interfaces",
        VNET_MOD_INET6,
        |s| &s.ip6_forwarding,
        0,
        1,
    );
    t.add_vnet_int::<VnetInet6>(
        "net.inet6.ip6.hlim",
        "Default hop limit",
        VNET_MOD_INET6,
        |s| &s.ip6_defhlim,
        1,
        255,
    );
    t.add_vnet_int::<VnetInet6>(
        "net.inet6.ip6.dad_count",
        "Number of DAD solicitations sent",
        VNET_MOD_INET6,
        |s| &s.ip6_dad_count,
        0,
        15,
    );
    t.add_vnet_int::<VnetInet6>(
        "net.inet6.ip6.maxfragpackets",
        "Maximum number of datagrams in reassembly",
        VNET_MOD_INET6,
        |s| &s.ip6_maxfragpackets,
        0,
        65536,
    );
    t.add_vnet_int::<VnetInet6>(
        "net.inet6.ip6.maxfrags",
        "Maximum number of fragments per datagram",
        VNET_MOD_INET6,
        |s| &s.ip6_maxfrags,
        1,
        65536,
    );
    t.add_vnet_int::<VnetInet6>(
        "net.inet6.icmp6.errppslimit",
        "ICMPv6 errors sent per second at most",
        VNET_MOD_INET6,
        |s| &s.icmp6errppslim,
        -1,
        100_000,
    );
    let opaque = |name: &str, descr: &'static str, fmt: &'static str, f: fn() -> Vec<u8>| {
        let _ = t.add(
            name,
            Oid {
                flags: CTLFLAG_RD | CTLFLAG_VNET,
                descr,
                handler: Arc::new(move |_, new| {
                    if new.is_some() {
                        return Err(Errno::EPERM);
                    }
                    try_vnet_inet6().ok_or(Errno::ENOENT)?;
                    Ok(SysctlValue::Opaque(fmt.into(), f()))
                }),
            },
        );
    };
    opaque(
        "net.inet6.ip6.stats",
        "IPv6 statistics (struct ip6stat)",
        "S,ip6stat",
        || vnet_inet6().ip6stat.snapshot().to_bytes(),
    );
    opaque(
        "net.inet6.icmp6.stats",
        "ICMPv6 statistics (struct icmp6stat)",
        "S,icmp6stat",
        || vnet_inet6().icmp6_snapshot().to_bytes(),
    );
    opaque(
        "net.inet6.icmp6.nd6_dump",
        "The neighbour cache (what ndp -a shows)",
        "S,nd6_dump",
        || Nd6Dump::encode_list(&super::nd6::nd6_dump()),
    );
}

// ---------------------------------------------------------------------------
// addresses

pub use vimage_abi::netinet6_in6::{in6_is_linklocal, in6_is_scoped, in6_is_v4mapped};

/// The solicited-node multicast group of `a` (ff02::1:ffXX:XXXX).
pub fn in6_solicited_node(a: &Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// All-nodes link-local multicast (ff02::1).
pub const IN6ADDR_LINKLOCAL_ALLNODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// All-routers link-local multicast (ff02::2).
pub const IN6ADDR_LINKLOCAL_ALLROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);

/// One IPv6 address of an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct In6Ifaddr {
    /// The address.
    pub addr: Ipv6Addr,
    /// Prefix length.
    pub plen: u8,
    /// Point-to-point destination.
    pub dst: Option<Ipv6Addr>,
    /// `IN6_IFF_*`.
    pub flags: u32,
}

impl In6Ifaddr {
    /// Whether it may be used (not tentative, not duplicated).
    pub fn ready(&self) -> bool {
        self.flags & IN6_IFF_NOTREADY == 0
    }
}

/// The IPv6 addresses of `ifp`, in the order they were added.
pub fn in6_addrs(ifp: &Ifnet) -> Vec<In6Ifaddr> {
    ifp.addr_list()
        .iter()
        .filter_map(|a| match (a.addr, a.dst) {
            (IpAddr::V6(addr), dst) => Some(In6Ifaddr {
                addr,
                plen: a.plen,
                dst: match dst {
                    Some(IpAddr::V6(d)) => Some(d),
                    _ => None,
                },
                flags: a.flags,
            }),
            _ => None,
        })
        .collect()
}

/// `in6ifa_ifpwithaddr`: `ifp`'s entry for `a`.
pub fn in6ifa_ifpwithaddr(ifp: &Ifnet, a: &Ipv6Addr) -> Option<In6Ifaddr> {
    in6_addrs(ifp).into_iter().find(|x| x.addr == *a)
}

/// Set the `IN6_IFF_*` flags of `ifp`'s address `a` to `f(old)`.
pub fn in6_setflags(ifp: &Ifnet, a: &Ipv6Addr, f: impl Fn(u32) -> u32) {
    if let Ok(mut g) = ifp.addrs.write() {
        for x in g.iter_mut() {
            if x.addr == IpAddr::V6(*a) {
                x.flags = f(x.flags);
            }
        }
    }
}

/// `ifa_ifwithaddr` for IPv6: the interface of curvnet that has `a` (for a
/// link-local address, only the one of zone `scope` when given), with the entry.
pub fn in6_ifawithaddr(a: &Ipv6Addr, scope: u32) -> Option<(Arc<Ifnet>, In6Ifaddr)> {
    for ifp in vnet_net().list() {
        if in6_is_linklocal(a) && scope != 0 && ifp.index.load(Ordering::Relaxed) != scope {
            continue;
        }
        if let Some(ia) = in6ifa_ifpwithaddr(&ifp, a) {
            return Some((ifp, ia));
        }
    }
    None
}

/// curvnet's loopback interface.
pub fn in6_loif() -> Option<Arc<Ifnet>> {
    vimage_net::if_loop::loif()
}

fn ifindex(ifp: &Ifnet) -> u32 {
    ifp.index.load(Ordering::Relaxed)
}

/// Whether `ifp` resolves neighbours with ND (an Ethernet-like interface).
pub fn nd6_need_ll(ifp: &Ifnet) -> bool {
    ifp.iftype == IFT_ETHER || ifp.iftype == IFT_L2VLAN
}

/// The routes an address brings: (destination, prefix length, gateway, out
/// interface, flags).  7.x style: a cloning prefix route on multicast-capable
/// links, a host route to ::1 on the loopback, a host route to the peer of a
/// point-to-point link.
fn ifa_routes(ifp: &Arc<Ifnet>, ia: &In6Ifaddr) -> Vec<(Ipv6Addr, u8, RtGateway, u32)> {
    let f = ifp.flags();
    if f & IFF_LOOPBACK != 0 {
        if ia.plen >= 128 {
            return vec![(ia.addr, 128, RtGateway::Inet(IpAddr::V6(ia.addr)), 0)];
        }
        return vec![(
            prefix_of(&ia.addr, ia.plen),
            ia.plen,
            RtGateway::Inet(IpAddr::V6(ia.addr)),
            0,
        )];
    }
    if f & IFF_POINTOPOINT != 0 {
        if let Some(d) = ia.dst {
            return vec![(d, 128, RtGateway::Inet(IpAddr::V6(ia.addr)), 0)];
        }
    }
    if ia.plen >= 128 {
        return Vec::new();
    }
    let cl = if nd6_need_ll(ifp) { RTF_CLONING } else { 0 };
    vec![(
        prefix_of(&ia.addr, ia.plen),
        ia.plen,
        RtGateway::Link {
            ifindex: ifindex(ifp),
        },
        cl,
    )]
}

/// `a` with the bits after `plen` cleared.
pub fn prefix_of(a: &Ipv6Addr, plen: u8) -> Ipv6Addr {
    let m = u128::from(in6_prefixlen2mask(plen));
    Ipv6Addr::from(u128::from(*a) & m)
}

/// Whether `a` and `b` share their first `plen` bits.
pub fn in6_are_prefix_equal(a: &Ipv6Addr, b: &Ipv6Addr, plen: u8) -> bool {
    prefix_of(a, plen) == prefix_of(b, plen)
}

/// A route's destination key: scoped addresses carry their zone embedded, KAME
/// style, so that the table keeps one fe80::/64 per interface.
fn rt_key(a: &Ipv6Addr, ifp: &Ifnet) -> Ipv6Addr {
    if in6_is_scoped(a) {
        let mut s = a.segments();
        s[1] = ifindex(ifp) as u16;
        Ipv6Addr::from(s)
    } else {
        *a
    }
}

/// `in6_update_ifa` + prefix route: add `ia` to `ifp` (or change the flags and
/// prefix of an address it has).  New addresses on ND links are tentative until
/// DAD passes, unless `IN6_IFF_NODAD` is asked for.
pub fn in6_update_ifa(ifp: &Arc<Ifnet>, mut ia: In6Ifaddr) -> Result<(), Errno> {
    let a = ia.addr;
    if a.is_multicast() || a.is_unspecified() || in6_is_v4mapped(&a) || ia.plen > 128 {
        return Err(Errno::EINVAL);
    }
    // A link-local address has a /64 prefix (RFC 4291 2.5.6).
    if in6_is_linklocal(&a) && ia.plen != 64 && ia.plen != 128 {
        return Err(Errno::EINVAL);
    }
    if a == Ipv6Addr::LOCALHOST && ifp.flags() & IFF_LOOPBACK == 0 {
        return Err(Errno::EINVAL);
    }
    let st = vnet_inet6();
    if let Some(old) = in6ifa_ifpwithaddr(ifp, &a) {
        if old.plen != ia.plen || old.dst != ia.dst {
            in6_purgeaddr(ifp, &old);
        } else {
            // Only the flags change; DAD state is kept.
            let keep = old.flags & IN6_IFF_NOTREADY;
            let nf = (ia.flags & !(IN6_IFF_NODAD | IN6_IFF_NOTREADY)) | keep;
            in6_setflags(ifp, &a, |_| nf);
            return Ok(());
        }
    }
    let dad = nd6_need_ll(ifp)
        && ia.flags & IN6_IFF_NODAD == 0
        && st.ip6_dad_count.load(Ordering::Relaxed) > 0
        && ifp.flags() & IFF_LOOPBACK == 0;
    ia.flags &= !(IN6_IFF_NODAD | IN6_IFF_NOTREADY);
    if dad {
        ia.flags |= IN6_IFF_TENTATIVE;
    }
    if let Ok(mut g) = ifp.addrs.write() {
        g.push(IfAddr {
            addr: IpAddr::V6(a),
            plen: ia.plen,
            dst: ia.dst.map(IpAddr::V6),
            flags: ia.flags,
        });
    }
    for (d, l, gw, flags) in ifa_routes(ifp, &ia) {
        let flags = match gw {
            RtGateway::Inet(_) if l == 128 && ifp.flags() & IFF_LOOPBACK == 0 => {
                flags | RTF_GATEWAY
            }
            _ => flags,
        };
        // A prefix another address (or interface) already routes stays as is.
        let _ = rt_add(
            IpAddr::V6(rt_key(&d, ifp)),
            l,
            gw,
            ifp,
            Some(IpAddr::V6(a)),
            flags,
        );
    }
    vimage_net::route::rt_newaddrmsg(vimage_abi::route::RTM_NEWADDR, ifp, IpAddr::V6(a), ia.plen);
    if dad {
        super::nd6::nd6_dad_start(ifp, a);
    }
    Ok(())
}

/// `in6_purgeaddr`: remove `ia` from `ifp` with its routes (a prefix route stays
/// while another address of the interface is in the same prefix) and its DAD.
pub fn in6_purgeaddr(ifp: &Arc<Ifnet>, ia: &In6Ifaddr) {
    if let Ok(mut g) = ifp.addrs.write() {
        g.retain(|x| x.addr != IpAddr::V6(ia.addr));
    }
    let others = in6_addrs(ifp);
    for (d, l, _, _) in ifa_routes(ifp, ia) {
        let shared = l < 128
            && others
                .iter()
                .any(|o| o.plen == l && in6_are_prefix_equal(&o.addr, &d, l));
        if !shared {
            let _ = rt_delete(IpAddr::V6(rt_key(&d, ifp)), l);
        }
    }
    super::nd6::nd6_dad_stop(ifp, &ia.addr);
    vimage_net::route::rt_newaddrmsg(
        vimage_abi::route::RTM_DELADDR,
        ifp,
        IpAddr::V6(ia.addr),
        ia.plen,
    );
}

/// `in6_if_up`: an interface came up.  The loopback gets ::1/128 and
/// fe80::1/64; other interfaces a link-local address made from their link
/// address ([`super::in6_ifattach::in6_ifattach`]).
pub fn in6_if_up(ifp: &Arc<Ifnet>) {
    if try_vnet_inet6().is_none() {
        return;
    }
    super::in6_ifattach::in6_ifattach(ifp);
}

/// The ioctls of an `AF_INET6` socket on curvnet (`in6_control`):
/// `SIOCAIFADDR_IN6`, `SIOCDIFADDR_IN6`, `SIOCGIFADDR_IN6`, `SIOCGIFAFLAG_IN6`,
/// `SIOCSNDFLUSH_IN6` (with an address: that one neighbour) and
/// `SIOCGNBRINFO_IN6`.  ENXIO for an unknown interface,
/// EADDRNOTAVAIL for an address it does not have.
pub fn in6_control(cmd: u32, data: &[u8]) -> Result<Vec<u8>, Errno> {
    try_vnet_inet6().ok_or(Errno::EAFNOSUPPORT)?;
    match cmd {
        SIOCAIFADDR_IN6 => {
            let r = In6AliasReq::from_bytes(data)?;
            let ifp = vimage_net::r#if::ifunit(&r.name).ok_or(Errno::ENXIO)?;
            if in6_is_linklocal(&r.addr.addr)
                && r.addr.scope_id != 0
                && r.addr.scope_id != ifindex(&ifp)
            {
                return Err(Errno::EINVAL);
            }
            let plen = match r.prefixmask {
                Some(m) => in6_mask2len(&m)?,
                None => 128,
            };
            in6_update_ifa(
                &ifp,
                In6Ifaddr {
                    addr: r.addr.addr,
                    plen,
                    dst: r.dstaddr.map(|d| d.addr),
                    flags: r.flags,
                },
            )?;
            Ok(data.to_vec())
        }
        SIOCDIFADDR_IN6 | SIOCGIFAFLAG_IN6 => {
            let r = In6IfReq::from_bytes(data)?;
            let ifp = vimage_net::r#if::ifunit(&r.name).ok_or(Errno::ENXIO)?;
            let a = r.addr()?.addr;
            let ia = in6ifa_ifpwithaddr(&ifp, &a).ok_or(Errno::EADDRNOTAVAIL)?;
            if cmd == SIOCDIFADDR_IN6 {
                in6_purgeaddr(&ifp, &ia);
                Ok(data.to_vec())
            } else {
                let mut out = r.clone();
                out.set_flags6(ia.flags);
                out.to_bytes()
            }
        }
        SIOCGIFADDR_IN6 => {
            let r = In6IfReq::from_bytes(data)?;
            let ifp = vimage_net::r#if::ifunit(&r.name).ok_or(Errno::ENXIO)?;
            let ia = in6_addrs(&ifp)
                .into_iter()
                .next()
                .ok_or(Errno::EADDRNOTAVAIL)?;
            let scope = if in6_is_linklocal(&ia.addr) {
                ifindex(&ifp)
            } else {
                0
            };
            In6IfReq::with_addr(&r.name, SockaddrIn6::new(ia.addr, scope)).to_bytes()
        }
        SIOCSNDFLUSH_IN6 => {
            // With an address in the union only that neighbour goes (what
            // `ndp -d` asks; ESRCH if unknown), else every one of the link.
            let r = In6IfReq::from_bytes(data)?;
            let ifp = vimage_net::r#if::ifunit(&r.name).ok_or(Errno::ENXIO)?;
            match r.addr().ok().filter(|a| !a.addr.is_unspecified()) {
                Some(a) => super::nd6::nd6_delete(&ifp, &a.addr)?,
                None => super::nd6::nd6_flush(&ifp),
            }
            Ok(data.to_vec())
        }
        SIOCGNBRINFO_IN6 => {
            let mut r = In6NbrInfo::from_bytes(data)?;
            let ifp = vimage_net::r#if::ifunit(&r.ifname).ok_or(Errno::ENXIO)?;
            let e = super::nd6::nd6_lookup_info(&ifp, &r.addr).ok_or(Errno::EINVAL)?;
            r.asked = i64::from(e.asked);
            r.isrouter = i32::from(e.isrouter);
            r.state = e.state;
            r.expire = if e.permanent {
                0
            } else {
                e.expire.clamp(0, i64::from(i32::MAX)) as i32
            };
            r.to_bytes()
        }
        _ => Err(Errno::ENOTTY),
    }
}

// ---------------------------------------------------------------------------
// lookups for input and output

/// Whether `dst` arriving on `ifp` is for this host: one of curvnet's unicast
/// addresses (a link-local one only on its own link; a packet looped back on
/// lo0 may carry any), ready for use.  Returns the owning interface.
pub fn in6_localaddr(dst: &Ipv6Addr, ifp: &Arc<Ifnet>) -> Option<(Arc<Ifnet>, In6Ifaddr)> {
    let lo = ifp.flags() & IFF_LOOPBACK != 0;
    if in6_is_linklocal(dst) && !lo {
        return in6ifa_ifpwithaddr(ifp, dst).map(|ia| (ifp.clone(), ia));
    }
    in6_ifawithaddr(dst, 0)
}

/// Whether `ifp` listens to multicast group `g`: all-nodes, all-routers when
/// forwarding, the solicited-node groups of its addresses, and the groups
/// sockets joined on it (`in6_mc_join`, [`super::in6_mcast`]).
pub fn in6_mcast_member(ifp: &Ifnet, g: &Ipv6Addr) -> bool {
    let s0 = g.segments()[0];
    if s0 & 0xff0f == 0xff01 {
        // Interface-local: only from ourselves.
        return ifp.flags() & IFF_LOOPBACK != 0;
    }
    if *g == IN6ADDR_LINKLOCAL_ALLNODES {
        return true;
    }
    if *g == IN6ADDR_LINKLOCAL_ALLROUTERS {
        return try_vnet_inet6().is_some_and(|s| s.forwarding());
    }
    in6_addrs(ifp)
        .iter()
        .any(|ia| in6_solicited_node(&ia.addr) == *g)
        || vimage_net::r#if::if_findmulti(ifp, IpAddr::V6(*g))
}

/// Where a packet to `dst` goes: the interface and the next hop.
#[derive(Clone, Debug)]
pub struct In6Route {
    /// Outgoing interface.
    pub ifp: Arc<Ifnet>,
    /// Next hop (the destination itself on-link).
    pub nexthop: Ipv6Addr,
    /// The route's preferred source, if it names one.
    pub ifa: Option<Ipv6Addr>,
    /// Path MTU.
    pub mtu: u32,
}

/// Route `dst` in curvnet.  A scoped destination goes out of interface `scope`
/// (EHOSTUNREACH without a known one); one of our own addresses goes through
/// the loopback; the rest is a table lookup (EHOSTUNREACH when nothing
/// matches, as `ip6_output` reports).
pub fn in6_route(dst: &Ipv6Addr, scope: u32) -> Result<In6Route, Errno> {
    if in6_is_scoped(dst) {
        if scope == 0 {
            return Err(Errno::EHOSTUNREACH);
        }
        let ifp = ifnet_byindex(scope).ok_or(Errno::EHOSTUNREACH)?;
        if !dst.is_multicast() && in6ifa_ifpwithaddr(&ifp, dst).is_some() {
            let lo = in6_loif().ok_or(Errno::EHOSTUNREACH)?;
            let mtu = lo.mtu.load(Ordering::Relaxed);
            return Ok(In6Route {
                ifp: lo,
                nexthop: *dst,
                ifa: Some(*dst),
                mtu,
            });
        }
        let mtu = ifp.mtu.load(Ordering::Relaxed);
        return Ok(In6Route {
            ifp,
            nexthop: *dst,
            ifa: None,
            mtu,
        });
    }
    if let Some((_, ia)) = in6_ifawithaddr(dst, 0) {
        let lo = in6_loif().ok_or(Errno::EHOSTUNREACH)?;
        let mtu = lo.mtu.load(Ordering::Relaxed);
        return Ok(In6Route {
            ifp: lo,
            nexthop: *dst,
            ifa: Some(ia.addr),
            mtu,
        });
    }
    let rt = rtalloc_scoped(IpAddr::V6(*dst), scope).ok_or(Errno::EHOSTUNREACH)?;
    let nexthop = match &rt.gateway {
        RtGateway::Inet(IpAddr::V6(g)) if rt.flags & RTF_GATEWAY != 0 => *g,
        _ => *dst,
    };
    let ifa = match rt.ifa {
        Some(IpAddr::V6(a)) => Some(a),
        _ => None,
    };
    Ok(In6Route {
        ifp: rt.ifp.clone(),
        nexthop,
        ifa,
        mtu: rt.path_mtu(),
    })
}

fn common_prefix(a: &Ipv6Addr, b: &Ipv6Addr) -> u32 {
    (u128::from(*a) ^ u128::from(*b)).leading_zeros()
}

/// `in6_selectsrc`: the source address for a packet to `dst` leaving by `ifp`
/// (RFC 6724, reduced): a usable address of the same scope, on `ifp` first,
/// with the longest common prefix; for a global destination any global address
/// of the host will do.  EADDRNOTAVAIL when there is none.
pub fn in6_selectsrc(dst: &Ipv6Addr, ifp: &Arc<Ifnet>) -> Result<Ipv6Addr, Errno> {
    if *dst == Ipv6Addr::LOCALHOST {
        return Ok(Ipv6Addr::LOCALHOST);
    }
    // Our own address: talk to ourselves from it.
    if !dst.is_multicast() {
        if let Some((_, ia)) = in6_ifawithaddr(dst, 0) {
            if ia.ready() {
                return Ok(ia.addr);
            }
        }
    }
    let want_ll = in6_is_scoped(dst);
    let usable = |ia: &In6Ifaddr| {
        ia.ready() && ia.flags & IN6_IFF_ANYCAST == 0 && in6_is_linklocal(&ia.addr) == want_ll
    };
    let best = |list: Vec<In6Ifaddr>| {
        list.into_iter()
            .filter(|ia| usable(ia))
            .filter(|ia| ia.addr != Ipv6Addr::LOCALHOST || ifp.flags() & IFF_LOOPBACK != 0)
            .max_by_key(|ia| {
                (
                    ia.flags & IN6_IFF_DEPRECATED == 0,
                    common_prefix(&ia.addr, dst),
                )
            })
            .map(|ia| ia.addr)
    };
    if let Some(a) = best(in6_addrs(ifp)) {
        return Ok(a);
    }
    if !want_ll {
        let all: Vec<In6Ifaddr> = vnet_net()
            .list()
            .iter()
            .flat_map(|i| in6_addrs(i))
            .filter(|ia| *dst == Ipv6Addr::LOCALHOST || ia.addr != Ipv6Addr::LOCALHOST)
            .collect();
        if let Some(a) = best(all) {
            return Ok(a);
        }
    }
    Err(Errno::EADDRNOTAVAIL)
}

/// The zone (interface index) `ifp` gives a scoped address; 0 for others.
pub fn in6_scope_of(a: &Ipv6Addr, ifp: &Ifnet) -> u32 {
    if in6_is_scoped(a) {
        ifindex(ifp)
    } else {
        0
    }
}

/// A new fragment identification.
pub fn ip6_randomid() -> u32 {
    let st = vnet_inet6();
    // A Weyl sequence through the 32-bit space: never repeats for 2^32 ids.
    st.ip6_id.fetch_add(0x9e37_79b9, Ordering::Relaxed)
}
