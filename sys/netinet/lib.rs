//! vkernel's Internet protocols: IPv4 (FreeBSD's sys/netinet) and, with
//! `options INET6` (the `inet6` feature), IPv6 ([`netinet6`]).
//!
//! IPv4 is the INET module's per-vnet state, its sysctls, and the protocols:
//! ARP ([`if_ether`]), addresses ([`r#in`]), IP input and output, ICMP, TCP,
//! UDP and raw sockets.  What this crate contributes to a kernel is
//! [`OPT_INET`] and [`OPT_INET6`].
//!
//! Everything a vnet's IPv4 knows lives in its [`VnetInet`]: addresses are on the
//! interfaces (`ifp.addrs`), everything else (ARP cache, reassembly queue, protocol
//! control blocks, statistics) here.  The module attaches after NET, registers its
//! input routines for the IP and ARP ethertypes in the vnet, and purges what it
//! knows of an interface that leaves.

pub mod icmp_input;
pub mod if_ether;
pub mod r#in;
pub mod in_mcast;
pub mod in_pcb;
pub mod in_proto;
pub mod in_rt;
pub mod ip;
pub mod ip_icmp;
pub mod ip_input;
pub mod ip_output;
pub mod ip_var;
pub mod raw_ip;
pub mod tcp;
pub mod tcp_input;
pub mod tcp_output;
pub mod tcp_subr;
pub mod tcp_syncache;
pub mod tcp_timer;
pub mod tcp_tso;
pub mod tcp_usrreq;
pub mod tcp_var;
pub mod udp;
pub mod udp_usrreq;

#[cfg(feature = "inet6")]
#[path = "../netinet6/mod.rs"]
pub mod netinet6;

#[cfg(test)]
mod tcp_tests;
#[cfg(test)]
mod testnet;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicI64, AtomicU16, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use vimage_net::r#if::IfHooks;

use vimage_abi::sysctl::{SysctlValue, CTLFLAG_RD, CTLFLAG_VNET};
use vimage_abi::Errno;
use vimage_net::if_var::Ifnet;

use ip_var::{ArpStat, IcmpStats, IpStat, UdpStat};
use vimage_kern::kern_conf::{KernConf, KernOption};
use vimage_kern::kern_sysctl::{Oid, SysctlTree};
use vimage_kern::subr_rcu::RcuCell;
use vimage_kern::uipc_socket::Domain;
use vimage_kern::vnet::{
    ModState, Vnet, VnetKey, VnetModInfo, VnetSymmap, V, VNET_MOD_INET, VNET_MOD_NET,
};
use vimage_net::r#if::{netisr_register, netisr_unregister, ETHERTYPE_ARP, ETHERTYPE_IP};

/// IPDEFTTL.
pub const IPDEFTTL: i64 = 64;

/// `struct vnet_inet`: IPv4 tunables and state of one vnet.
pub struct VnetInet {
    /// `V_ipforwarding`: act as a router.
    pub ipforwarding: AtomicI64,
    /// `V_ip_defttl`: default TTL.
    pub ip_defttl: AtomicI64,
    /// `V_ipsendredirects`.
    pub ipsendredirects: AtomicI64,
    /// `V_icmplim`: ICMP error responses per second (0: no limit).
    pub icmplim: AtomicI64,
    /// `V_icmpbmcastecho`: answer echo requests sent to broadcast addresses.
    pub icmp_bmcastecho: AtomicI64,
    /// `V_udp_blackhole`: no port unreachable for closed UDP ports.
    pub udp_blackhole: AtomicI64,
    /// `net.link.ether.inet.max_age`: lifetime of a complete ARP entry (s).
    pub arp_maxage: AtomicI64,
    /// `net.link.ether.inet.maxtries`: ARP requests before giving up for a while.
    pub arp_maxtries: AtomicI64,
    /// `net.inet.ip.maxfragpackets`: datagrams being reassembled at once.
    pub maxfragpackets: AtomicI64,
    /// `net.inet.ip.maxfragsperpacket`.
    pub maxfragsperpacket: AtomicI64,
    /// `net.inet.ip.portrange.first` / `last`: the ephemeral port range.
    pub portfirst: AtomicI64,
    /// See [`VnetInet::portfirst`].
    pub portlast: AtomicI64,
    /// `ipstat`.
    pub ipstat: IpStat,
    /// `icmpstat`.
    pub icmpstat: IcmpStats,
    /// `udpstat`.
    pub udpstat: UdpStat,
    /// ARP counters.
    pub arpstat: ArpStat,
    /// The ARP cache.
    pub arp: if_ether::ArpTable,
    /// Datagrams being reassembled (`ipq`).
    pub reass: ip_input::ReassQueue,
    /// UDP control blocks (`udbinfo`).
    pub udb: in_pcb::PcbTable<udp_usrreq::UdpCb>,
    /// Raw IP control blocks (`ripcbinfo`).
    pub ripcb: raw_ip::RipTable,
    /// `ip_id`: identification of the next datagram sent.
    pub ip_id: AtomicU16,
    /// ICMP error rate limiter: (second, responses in it).
    pub icmp_rate: Mutex<(u64, u64)>,
    /// `in_ifaddrhashtbl`: which interface holds each of our addresses, so
    /// "is this for us?" is one hash lookup per packet, not a walk of every
    /// interface's list.  Kept by `in_aifaddr` and `in_difaddr`, the only
    /// places IPv4 addresses come and go.
    pub(crate) ifaddrhash: RwLock<HashMap<Ipv4Addr, Weak<Ifnet>>>,
    /// `V_ip_fw_ctl_ptr`: where a raw socket's `IP_FW_*` options go, set
    /// while a firewall is attached to the vnet (unset: `ENOPROTOOPT`).
    pub ip_fw_ctl: RcuCell<raw_ip::IpFwCtlFn>,
}

impl VnetInet {
    fn new() -> Self {
        VnetInet {
            ipforwarding: AtomicI64::new(0),
            ip_defttl: AtomicI64::new(IPDEFTTL),
            ipsendredirects: AtomicI64::new(1),
            icmplim: AtomicI64::new(200),
            icmp_bmcastecho: AtomicI64::new(0),
            udp_blackhole: AtomicI64::new(0),
            arp_maxage: AtomicI64::new(1200),
            arp_maxtries: AtomicI64::new(5),
            maxfragpackets: AtomicI64::new(800),
            maxfragsperpacket: AtomicI64::new(16),
            portfirst: AtomicI64::new(49152),
            portlast: AtomicI64::new(65535),
            ipstat: IpStat::default(),
            icmpstat: IcmpStats::default(),
            udpstat: UdpStat::default(),
            arpstat: ArpStat::default(),
            arp: if_ether::ArpTable::default(),
            reass: ip_input::ReassQueue::default(),
            udb: in_pcb::PcbTable::default(),
            ripcb: raw_ip::RipTable::default(),
            ip_id: AtomicU16::new(1),
            icmp_rate: Mutex::new((0, 0)),
            ifaddrhash: RwLock::new(HashMap::new()),
            ip_fw_ctl: RcuCell::new(),
        }
    }

    /// The default TTL as a byte.
    pub fn defttl(&self) -> u8 {
        self.ip_defttl.load(Ordering::Relaxed).clamp(1, 255) as u8
    }
}

/// The INET module's key: curvnet's IPv4 state, borrowed.
pub static VNET_INET: VnetKey<VnetInet> = VnetKey::new(VNET_MOD_INET);

/// `V_` access to curvnet's IPv4 state.
pub fn vnet_inet() -> Arc<VnetInet> {
    V::<VnetInet>(VNET_MOD_INET)
}

/// curvnet's IPv4 state, if the module is attached there.
pub fn try_vnet_inet() -> Option<Arc<VnetInet>> {
    vimage_kern::vnet::with_curvnet(|v| v?.state::<VnetInet>(VNET_MOD_INET))
}

fn inet_iattach(_v: &Arc<Vnet>) -> Result<ModState, Errno> {
    netisr_register(ETHERTYPE_IP, Arc::new(ip_input::ip_input));
    netisr_register(ETHERTYPE_ARP, Arc::new(if_ether::arp_input));
    vimage_net::r#if::VNET_NET.with(|n| n.arpresolve.replace(Some(if_ether::ether_resolve)));
    vimage_net::route::VNET_ROUTE.try_with(|r| r.llinfo.replace(Some(if_ether::arp_llinfo)));
    Ok(Arc::new(VnetInet::new()))
}

fn inet_idetach(_v: &Arc<Vnet>, s: &ModState) {
    // The interfaces forget their IPv4 addresses (and what hangs on them):
    // those leaving with a dying vnet reach their old home clean.
    for ifp in vimage_net::r#if::vnet_net().list() {
        r#in::in_ifdetach(&ifp);
    }
    netisr_unregister(ETHERTYPE_IP);
    netisr_unregister(ETHERTYPE_ARP);
    vimage_net::r#if::VNET_NET.with(|n| n.arpresolve.replace(None));
    vimage_net::route::VNET_ROUTE.try_with(|r| r.llinfo.replace(None));
    if let Some(st) = s.downcast_ref::<VnetInet>() {
        st.arp.clear();
        st.reass.clear();
        st.udb.shutdown();
        st.ripcb.shutdown();
    }
}

fn sym_fwd(s: &(dyn std::any::Any + Send + Sync)) -> String {
    s.downcast_ref::<VnetInet>()
        .map(|i| i.ipforwarding.load(Ordering::Relaxed).to_string())
        .unwrap_or_default()
}

/// Its interface hooks.
static INET_IFHOOKS: IfHooks = IfHooks {
    ifattach: None,
    ifdetach: Some(r#in::in_ifdetach),
    ifup: Some(if_ether::arp_ifup),
    ifrename: None,
};

/// `VNET_MOD_DECLARE(INET, inet, ...)`.
pub static VNET_INET_MODINFO: VnetModInfo = VnetModInfo {
    id: VNET_MOD_INET,
    name: "inet",
    depends: &[VNET_MOD_NET],
    iattach: inet_iattach,
    idetach: inet_idetach,
    ext: Some(&INET_IFHOOKS),
    symmap: &[VnetSymmap {
        name: "ipforwarding",
        get: sym_fwd,
    }],
};

/// A read-only virtualized opaque leaf whose value `f` builds in curvnet.
fn add_vnet_opaque(
    t: &SysctlTree,
    name: &str,
    descr: &'static str,
    fmt: &'static str,
    f: fn() -> Vec<u8>,
) {
    let _ = t.add(
        name,
        Oid {
            flags: CTLFLAG_RD | CTLFLAG_VNET,
            descr,
            handler: Arc::new(move |_, new| {
                if new.is_some() {
                    return Err(Errno::EPERM);
                }
                Ok(SysctlValue::Opaque(fmt.to_string(), f()))
            }),
        },
    );
}

/// The `net.inet.*` and `net.link.ether.inet.*` sysctls (virtualized).
pub fn sysctl_init(t: &SysctlTree) {
    type Field = fn(&VnetInet) -> &AtomicI64;
    let ints: [(&str, &'static str, Field, i64, i64); 12] = [
        (
            "net.inet.ip.forwarding",
            "Enable IP forwarding between interfaces",
            |s| &s.ipforwarding,
            0,
            1,
        ),
        (
            "net.inet.ip.ttl",
            "Maximum TTL on IP packets",
            |s| &s.ip_defttl,
            1,
            255,
        ),
        (
            "net.inet.ip.redirect",
            "Enable sending IP redirects",
            |s| &s.ipsendredirects,
            0,
            1,
        ),
        (
            "net.inet.ip.maxfragpackets",
            "Maximum number of IPv4 fragment reassembly queue entries",
            |s| &s.maxfragpackets,
            0,
            1 << 20,
        ),
        (
            "net.inet.ip.maxfragsperpacket",
            "Maximum number of IPv4 fragments allowed per packet",
            |s| &s.maxfragsperpacket,
            0,
            1 << 16,
        ),
        (
            "net.inet.ip.portrange.first",
            "",
            |s| &s.portfirst,
            1,
            65535,
        ),
        ("net.inet.ip.portrange.last", "", |s| &s.portlast, 1, 65535),
        (
            "net.inet.icmp.icmplim",
            "Maximum number of ICMP responses per second",
            |s| &s.icmplim,
            0,
            i64::from(i32::MAX),
        ),
        ("net.inet.icmp.bmcastecho", "", |s| &s.icmp_bmcastecho, 0, 1),
        (
            "net.inet.udp.blackhole",
            "Do not send port unreachables for refused connects",
            |s| &s.udp_blackhole,
            0,
            1,
        ),
        (
            "net.link.ether.inet.max_age",
            "",
            |s| &s.arp_maxage,
            1,
            i64::from(i32::MAX),
        ),
        (
            "net.link.ether.inet.maxtries",
            "",
            |s| &s.arp_maxtries,
            1,
            1000,
        ),
    ];
    for (name, descr, field, min, max) in ints {
        t.add_vnet_int::<VnetInet>(name, descr, VNET_MOD_INET, field, min, max);
    }
    add_vnet_opaque(t, "net.inet.ip.stats", "IP statistics", "S,ipstat", || {
        vnet_inet().ipstat.snapshot().to_bytes()
    });
    add_vnet_opaque(
        t,
        "net.inet.icmp.stats",
        "ICMP statistics",
        "S,icmpstat",
        || vnet_inet().icmpstat.snapshot().to_bytes(),
    );
    add_vnet_opaque(
        t,
        "net.inet.udp.stats",
        "UDP statistics",
        "S,udpstat",
        || vnet_inet().udpstat.snapshot().to_bytes(),
    );
    add_vnet_opaque(
        t,
        "net.link.ether.inet.stats",
        "ARP statistics",
        "S,arpstat",
        || vnet_inet().arpstat.snapshot().to_bytes(),
    );
    add_vnet_opaque(
        t,
        "net.inet.udp.pcblist",
        "List of active UDP sockets",
        "S,xinpcb",
        udp_usrreq::udp_pcblist,
    );
    add_vnet_opaque(
        t,
        "net.inet.raw.pcblist",
        "List of active raw IP sockets",
        "S,xinpcb",
        raw_ip::rip_pcblist,
    );
    add_vnet_opaque(
        t,
        "net.link.ether.inet.dump",
        "ARP cache (arp -a)",
        "S,llinfo_arp",
        if_ether::arp_dump,
    );
    tcp_var::sysctl_init(t);
}

/// A kernel of the network layer and the Internet protocols (GENERIC's
/// options, for the tests of this crate and the modules above it; `sys/conf`
/// holds GENERIC itself).
pub static INET_CONF: KernConf = KernConf {
    name: "GENERIC",
    options: &[
        &vimage_net::OPT_NET,
        &OPT_INET,
        #[cfg(feature = "inet6")]
        &OPT_INET6,
    ],
};

/// IPv4 as a kernel option (`options INET`): the INET and TCP modules, the
/// inet domain and the `net.inet.*` sysctls.
pub static OPT_INET: KernOption = KernOption {
    name: "INET",
    modules: &[&VNET_INET_MODINFO, &tcp_var::VNET_TCP_MODINFO],
    attach: None,
    domains: inet_domains,
    sysctls: &[sysctl_init],
    ioctls: &[],
    ifmove: None,
    klds: &["inet"],
};

fn inet_domains() -> Vec<Arc<dyn Domain>> {
    vec![Arc::new(in_proto::InetDomain)]
}

/// IPv6 as a kernel option (`options INET6`): the INET6 module, the inet6
/// domain and the `net.inet6.*` sysctls.
#[cfg(feature = "inet6")]
pub static OPT_INET6: KernOption = KernOption {
    name: "INET6",
    modules: &[&netinet6::VNET_INET6_MODINFO],
    attach: None,
    domains: inet6_domains,
    sysctls: &[netinet6::sysctl_init],
    ioctls: &[],
    ifmove: None,
    klds: &[],
};

#[cfg(feature = "inet6")]
fn inet6_domains() -> Vec<Arc<dyn Domain>> {
    vec![Arc::new(netinet6::raw_ip6::In6Domain)]
}
