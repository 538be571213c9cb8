//! Neighbour discovery (RFC 4861, RFC 4862): the messages — router and
//! neighbour solicitation and advertisement bodies and their options
//! (link-layer address, prefix information, MTU) — and, after them, the
//! per-vnet neighbour cache, address resolution and duplicate address
//! detection.
//!
//! The messages are ICMPv6 ([`Icmp6Packet`] gains `nd_*` accessors here);
//! [`NdiscRepr`] is reached through [`super::icmp6::Icmp6Repr::Ndisc`], which
//! checks the checksum.  Checks that need the IP header (hop limit 255, no
//! source link-layer option from the unspecified address) are the caller's.

use std::net::Ipv6Addr;
use vimage_abi::Errno;

use super::icmp6::{
    Icmp6Packet, ND_NEIGHBOR_ADVERT, ND_NEIGHBOR_SOLICIT, ND_REDIRECT, ND_ROUTER_ADVERT,
    ND_ROUTER_SOLICIT,
};
use crate::ip::{rd16, rd32, rd_v6, sub, wr16, wr32};
use vimage_net::ethernet::{EtherAddr, ETHER_ADDR_LEN};

/// Router solicitation: fixed part (header and reserved word).
pub const ND_RS_LEN: usize = 8;
/// Router advertisement: fixed part.
pub const ND_RA_LEN: usize = 16;
/// Neighbour solicitation: fixed part (with the target).
pub const ND_NS_LEN: usize = 24;
/// Neighbour advertisement: fixed part (with the target).
pub const ND_NA_LEN: usize = 24;
/// Redirect: fixed part (target and destination).
pub const ND_REDIRECT_LEN: usize = 40;

/// RA flag: addresses from DHCPv6 (managed).
pub const ND_RA_FLAG_MANAGED: u8 = 0x80;
/// RA flag: other configuration from DHCPv6.
pub const ND_RA_FLAG_OTHER: u8 = 0x40;
/// NA flag: the sender is a router.
pub const ND_NA_FLAG_ROUTER: u32 = 0x8000_0000;
/// NA flag: sent in response to a solicitation.
pub const ND_NA_FLAG_SOLICITED: u32 = 0x4000_0000;
/// NA flag: override an existing cache entry.
pub const ND_NA_FLAG_OVERRIDE: u32 = 0x2000_0000;
const ND_NA_FLAGS: u32 = ND_NA_FLAG_ROUTER | ND_NA_FLAG_SOLICITED | ND_NA_FLAG_OVERRIDE;

/// Option: source link-layer address.
pub const ND_OPT_SOURCE_LINKADDR: u8 = 1;
/// Option: target link-layer address.
pub const ND_OPT_TARGET_LINKADDR: u8 = 2;
/// Option: prefix information.
pub const ND_OPT_PREFIX_INFORMATION: u8 = 3;
/// Option: redirected header.
pub const ND_OPT_REDIRECTED_HEADER: u8 = 4;
/// Option: MTU.
pub const ND_OPT_MTU: u8 = 5;
/// Prefix information flag: on-link.
pub const ND_OPT_PI_FLAG_ONLINK: u8 = 0x80;
/// Prefix information flag: autonomous address configuration.
pub const ND_OPT_PI_FLAG_AUTO: u8 = 0x40;

/// Length of a link-layer address option for Ethernet.
const LLA_OPT_LEN: usize = 8;
/// Length of a prefix information option.
const PI_OPT_LEN: usize = 32;
/// Length of an MTU option.
const MTU_OPT_LEN: usize = 8;

/// Length of the fixed part of ND message type `msg_type`; 0 for other types.
pub fn nd_header_len(msg_type: u8) -> usize {
    match msg_type {
        ND_ROUTER_SOLICIT => ND_RS_LEN,
        ND_ROUTER_ADVERT => ND_RA_LEN,
        ND_NEIGHBOR_SOLICIT => ND_NS_LEN,
        ND_NEIGHBOR_ADVERT => ND_NA_LEN,
        ND_REDIRECT => ND_REDIRECT_LEN,
        _ => 0,
    }
}

impl<T: AsRef<[u8]>> Icmp6Packet<T> {
    /// NS/NA: the target address.
    pub fn nd_target(&self) -> Ipv6Addr {
        rd_v6(self.b(), 8)
    }
    /// NA: the flag word (`ND_NA_FLAG_*`; reserved bits included).
    pub fn nd_na_flags(&self) -> u32 {
        rd32(self.b(), 4)
    }
    /// RA: the hop limit hosts should use.
    pub fn nd_ra_cur_hop_limit(&self) -> u8 {
        self.b().get(4).copied().unwrap_or(0)
    }
    /// RA: the flag byte (`ND_RA_FLAG_*`).
    pub fn nd_ra_flags(&self) -> u8 {
        self.b().get(5).copied().unwrap_or(0)
    }
    /// RA: router lifetime in seconds (0: not a default router).
    pub fn nd_ra_router_lifetime(&self) -> u16 {
        rd16(self.b(), 6)
    }
    /// RA: reachable time in milliseconds.
    pub fn nd_ra_reachable_time(&self) -> u32 {
        rd32(self.b(), 8)
    }
    /// RA: retransmission timer in milliseconds.
    pub fn nd_ra_retrans_timer(&self) -> u32 {
        rd32(self.b(), 12)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Icmp6Packet<&'a T> {
    /// The options after an ND message's fixed part (empty for other types).
    pub fn nd_options(&self) -> &'a [u8] {
        let b = self.bytes();
        match nd_header_len(self.msg_type()) {
            0 => &[],
            n => sub(b, n, b.len()),
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmp6Packet<T> {
    /// NS/NA: set the target address.
    pub fn set_nd_target(&mut self, a: &Ipv6Addr) {
        self.bm()[8..24].copy_from_slice(&a.octets());
    }
    /// NA: set the flag word.
    pub fn set_nd_na_flags(&mut self, v: u32) {
        wr32(self.bm(), 4, v);
    }
    /// RA: set the hop limit.
    pub fn set_nd_ra_cur_hop_limit(&mut self, v: u8) {
        self.bm()[4] = v;
    }
    /// RA: set the flag byte.
    pub fn set_nd_ra_flags(&mut self, v: u8) {
        self.bm()[5] = v;
    }
    /// RA: set the router lifetime.
    pub fn set_nd_ra_router_lifetime(&mut self, v: u16) {
        wr16(self.bm(), 6, v);
    }
    /// RA: set the reachable time.
    pub fn set_nd_ra_reachable_time(&mut self, v: u32) {
        wr32(self.bm(), 8, v);
    }
    /// RA: set the retransmission timer.
    pub fn set_nd_ra_retrans_timer(&mut self, v: u32) {
        wr32(self.bm(), 12, v);
    }
}

/// One ND option: its type and the bytes after type and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NdOpt<'a> {
    /// Option type (`ND_OPT_*`).
    pub opt_type: u8,
    /// Value: the option's `8 × length − 2` remaining bytes.
    pub data: &'a [u8],
}

/// Walk of ND options: a length of 0, or an option running past the end, yields
/// one `EINVAL` and ends the walk (RFC 4861 requires dropping such messages).
#[derive(Clone, Debug)]
pub struct NdOpts<'a> {
    rest: &'a [u8],
}

impl<'a> NdOpts<'a> {
    /// Walk `options` (e.g. [`Icmp6Packet::nd_options`]).
    pub fn new(options: &'a [u8]) -> Self {
        NdOpts { rest: options }
    }
}

impl<'a> Iterator for NdOpts<'a> {
    type Item = Result<NdOpt<'a>, Errno>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let len = usize::from(self.rest.get(1).copied().unwrap_or(0)) * 8;
        match self.rest.get(2..len) {
            Some(data) if len > 0 => {
                let opt_type = self.rest[0];
                self.rest = sub(self.rest, len, self.rest.len());
                Some(Ok(NdOpt { opt_type, data }))
            }
            _ => {
                self.rest = &[];
                Some(Err(Errno::EINVAL))
            }
        }
    }
}

/// A prefix information option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NdPrefixInfo {
    /// Prefix length in bits.
    pub prefix_len: u8,
    /// `ND_OPT_PI_FLAG_*` (reserved bits kept).
    pub flags: u8,
    /// Valid lifetime in seconds (all ones: infinite).
    pub valid_lifetime: u32,
    /// Preferred lifetime in seconds.
    pub preferred_lifetime: u32,
    /// The prefix.
    pub prefix: Ipv6Addr,
}

impl NdPrefixInfo {
    /// Parse an option value ([`NdOpt::data`], 30 bytes); `EINVAL` otherwise, or
    /// if the prefix length exceeds 128.
    pub fn parse(data: &[u8]) -> Result<NdPrefixInfo, Errno> {
        if data.len() != PI_OPT_LEN - 2 {
            return Err(Errno::EINVAL);
        }
        let prefix_len = data[0];
        if prefix_len > 128 {
            return Err(Errno::EINVAL);
        }
        Ok(NdPrefixInfo {
            prefix_len,
            flags: data[1],
            valid_lifetime: rd32(data, 2),
            preferred_lifetime: rd32(data, 6),
            prefix: rd_v6(data, 14),
        })
    }
    fn emit(&self, o: &mut [u8]) {
        o[0] = ND_OPT_PREFIX_INFORMATION;
        o[1] = (PI_OPT_LEN / 8) as u8;
        o[2] = self.prefix_len;
        o[3] = self.flags;
        wr32(o, 4, self.valid_lifetime);
        wr32(o, 8, self.preferred_lifetime);
        wr32(o, 12, 0);
        o[16..32].copy_from_slice(&self.prefix.octets());
    }
}

/// A parsed router or neighbour solicitation or advertisement.  Unknown options
/// are skipped (only length-checked); of repeated link-layer or MTU options the
/// first counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NdiscRepr {
    /// Router solicitation.
    RouterSolicit {
        /// Source link-layer address option.
        lladdr: Option<EtherAddr>,
    },
    /// Router advertisement.
    RouterAdvert {
        /// Hop limit hosts should use (0: unspecified).
        cur_hop_limit: u8,
        /// `ND_RA_FLAG_*`.
        flags: u8,
        /// Router lifetime in seconds.
        router_lifetime: u16,
        /// Reachable time in milliseconds (0: unspecified).
        reachable_time: u32,
        /// Retransmission timer in milliseconds (0: unspecified).
        retrans_timer: u32,
        /// Source link-layer address option.
        lladdr: Option<EtherAddr>,
        /// MTU option.
        mtu: Option<u32>,
        /// Prefix information options, in order.
        prefixes: Vec<NdPrefixInfo>,
    },
    /// Neighbour solicitation.
    NeighborSolicit {
        /// The address being resolved (never multicast).
        target: Ipv6Addr,
        /// Source link-layer address option.
        lladdr: Option<EtherAddr>,
    },
    /// Neighbour advertisement.
    NeighborAdvert {
        /// `ND_NA_FLAG_*` (other bits dropped).
        flags: u32,
        /// The advertised address (never multicast).
        target: Ipv6Addr,
        /// Target link-layer address option.
        lladdr: Option<EtherAddr>,
    },
}

fn lladdr_opt(data: &[u8]) -> Result<EtherAddr, Errno> {
    // An Ethernet address fills an 8-byte option exactly.
    EtherAddr::from_bytes(data)
}

impl NdiscRepr {
    /// Parse an RS, RA, NS or NA (the checksum is not checked here): `EINVAL` on a
    /// non-zero code, another type, a multicast target, a bad option walk, or a
    /// link-layer, MTU or prefix option of the wrong size.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Icmp6Packet<&T>) -> Result<NdiscRepr, Errno> {
        packet.check_len()?;
        let t = packet.msg_type();
        if packet.msg_code() != 0 || nd_header_len(t) == 0 || t == ND_REDIRECT {
            return Err(Errno::EINVAL);
        }
        let lla_type = if t == ND_NEIGHBOR_ADVERT {
            ND_OPT_TARGET_LINKADDR
        } else {
            ND_OPT_SOURCE_LINKADDR
        };
        let mut lladdr = None;
        let mut mtu = None;
        let mut prefixes = Vec::new();
        for opt in NdOpts::new(packet.nd_options()) {
            let opt = opt?;
            match opt.opt_type {
                x if x == lla_type => {
                    let a = lladdr_opt(opt.data)?;
                    lladdr.get_or_insert(a);
                }
                ND_OPT_MTU if t == ND_ROUTER_ADVERT => {
                    if opt.data.len() != MTU_OPT_LEN - 2 {
                        return Err(Errno::EINVAL);
                    }
                    mtu.get_or_insert(rd32(opt.data, 2));
                }
                ND_OPT_PREFIX_INFORMATION if t == ND_ROUTER_ADVERT => {
                    prefixes.push(NdPrefixInfo::parse(opt.data)?);
                }
                _ => {}
            }
        }
        Ok(match t {
            ND_ROUTER_SOLICIT => NdiscRepr::RouterSolicit { lladdr },
            ND_ROUTER_ADVERT => NdiscRepr::RouterAdvert {
                cur_hop_limit: packet.nd_ra_cur_hop_limit(),
                flags: packet.nd_ra_flags(),
                router_lifetime: packet.nd_ra_router_lifetime(),
                reachable_time: packet.nd_ra_reachable_time(),
                retrans_timer: packet.nd_ra_retrans_timer(),
                lladdr,
                mtu,
                prefixes,
            },
            _ => {
                let target = packet.nd_target();
                if target.is_multicast() {
                    return Err(Errno::EINVAL);
                }
                if t == ND_NEIGHBOR_SOLICIT {
                    NdiscRepr::NeighborSolicit { target, lladdr }
                } else {
                    NdiscRepr::NeighborAdvert {
                        flags: packet.nd_na_flags() & ND_NA_FLAGS,
                        target,
                        lladdr,
                    }
                }
            }
        })
    }

    fn msg_type(&self) -> u8 {
        match self {
            NdiscRepr::RouterSolicit { .. } => ND_ROUTER_SOLICIT,
            NdiscRepr::RouterAdvert { .. } => ND_ROUTER_ADVERT,
            NdiscRepr::NeighborSolicit { .. } => ND_NEIGHBOR_SOLICIT,
            NdiscRepr::NeighborAdvert { .. } => ND_NEIGHBOR_ADVERT,
        }
    }

    fn lladdr(&self) -> Option<EtherAddr> {
        match *self {
            NdiscRepr::RouterSolicit { lladdr }
            | NdiscRepr::RouterAdvert { lladdr, .. }
            | NdiscRepr::NeighborSolicit { lladdr, .. }
            | NdiscRepr::NeighborAdvert { lladdr, .. } => lladdr,
        }
    }

    /// Message length: fixed part plus options.
    pub fn buffer_len(&self) -> usize {
        let mut n = nd_header_len(self.msg_type());
        if self.lladdr().is_some() {
            n += LLA_OPT_LEN;
        }
        if let NdiscRepr::RouterAdvert { mtu, prefixes, .. } = self {
            n += mtu.map_or(0, |_| MTU_OPT_LEN) + prefixes.len() * PI_OPT_LEN;
        }
        n
    }

    /// Write the message and its options (link-layer, MTU, prefixes, in that
    /// order) into a buffer of exactly [`Self::buffer_len`] bytes.  The checksum
    /// is left zero: [`super::icmp6::Icmp6Repr::emit`] or
    /// [`Icmp6Packet::fill_checksum`] fills it.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Icmp6Packet<T>) {
        let t = self.msg_type();
        packet.set_msg_type(t);
        packet.set_msg_code(0);
        packet.set_checksum(0);
        packet.set_data32(0);
        match self {
            NdiscRepr::RouterSolicit { .. } => {}
            NdiscRepr::RouterAdvert {
                cur_hop_limit,
                flags,
                router_lifetime,
                reachable_time,
                retrans_timer,
                ..
            } => {
                packet.set_nd_ra_cur_hop_limit(*cur_hop_limit);
                packet.set_nd_ra_flags(*flags);
                packet.set_nd_ra_router_lifetime(*router_lifetime);
                packet.set_nd_ra_reachable_time(*reachable_time);
                packet.set_nd_ra_retrans_timer(*retrans_timer);
            }
            NdiscRepr::NeighborSolicit { target, .. } => packet.set_nd_target(target),
            NdiscRepr::NeighborAdvert { flags, target, .. } => {
                packet.set_nd_na_flags(flags & ND_NA_FLAGS);
                packet.set_nd_target(target);
            }
        }
        let mut at = nd_header_len(t);
        let b = packet.bm();
        if let Some(a) = self.lladdr() {
            b[at] = if t == ND_NEIGHBOR_ADVERT {
                ND_OPT_TARGET_LINKADDR
            } else {
                ND_OPT_SOURCE_LINKADDR
            };
            b[at + 1] = (LLA_OPT_LEN / 8) as u8;
            b[at + 2..at + 2 + ETHER_ADDR_LEN].copy_from_slice(&a.0);
            at += LLA_OPT_LEN;
        }
        if let NdiscRepr::RouterAdvert { mtu, prefixes, .. } = self {
            if let Some(m) = mtu {
                b[at] = ND_OPT_MTU;
                b[at + 1] = (MTU_OPT_LEN / 8) as u8;
                wr16(b, at + 2, 0);
                wr32(b, at + 4, *m);
                at += MTU_OPT_LEN;
            }
            for p in prefixes {
                p.emit(&mut b[at..at + PI_OPT_LEN]);
                at += PI_OPT_LEN;
            }
        }
    }
}

// ===========================================================================
// Neighbour discovery proper (FreeBSD's nd6.c, nd6_nbr.c): the per-vnet
// neighbour cache, address resolution with one packet held while it runs,
// neighbour unreachability detection (simplified), NS/NA input and output, and
// duplicate address detection.
//
// All state sits behind the vnet's `nd6` lock; nothing is sent while it is
// held: the locked sections collect what to send and it goes out afterwards.

/// How long a confirmation keeps a neighbour reachable (REACHABLE_TIME).
pub const ND6_REACHABLE_TIME_NS: u64 = 30_000_000_000;
/// Time between solicitations (RETRANS_TIMER).
pub const ND6_RETRANS_TIMER_NS: u64 = 1_000_000_000;
/// Wait before probing a stale neighbour in use (DELAY_FIRST_PROBE_TIME).
pub const ND6_DELAY_NS: u64 = 5_000_000_000;
/// How long an unused stale entry is kept (`net.inet6.icmp6.nd6_gctimer`).
pub const ND6_GCTIMER_NS: u64 = 86_400_000_000_000;
/// Multicast solicitations before a resolution gives up (MAX_MULTICAST_SOLICIT).
pub const ND6_MAX_MULTICAST_SOLICIT: u32 = 3;
/// Unicast probes before an entry is dropped (MAX_UNICAST_SOLICIT).
pub const ND6_MAX_UNICAST_SOLICIT: u32 = 3;
/// Entries kept per vnet at most; beyond it new resolutions fail (ENOBUFS).
pub const ND6_MAXENTRIES: usize = 8192;

use std::collections::HashMap;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::Arc;
use vimage_abi::netinet6_in6::{
    Nd6Dump, IN6_IFF_DUPLICATED, IN6_IFF_TENTATIVE, ND6_LLINFO_DELAY, ND6_LLINFO_INCOMPLETE,
    ND6_LLINFO_PROBE, ND6_LLINFO_REACHABLE, ND6_LLINFO_STALE,
};

use super::icmp6::{
    icmp6_build, icmp6_error, Icmp6Repr, ICMP6_DST_UNREACH, ICMP6_DST_UNREACH_ADDR,
};
use super::in6::{
    in6_addrs, in6_selectsrc, in6_setflags, in6_solicited_node, in6ifa_ifpwithaddr, inc,
    nd6_need_ll, try_vnet_inet6, vnet_inet6, IN6ADDR_LINKLOCAL_ALLNODES,
};
use vimage_abi::net_if::IFF_UP;
use vimage_kern::kern_timeout::{getnow_ns, timeout};
use vimage_net::ethernet::ETHERTYPE_IPV6;
use vimage_net::if_var::Ifnet;
use vimage_net::mbuf::Mbuf;

/// One neighbour (`struct llinfo_nd6`).
struct LlInfo {
    ifp: Arc<Ifnet>,
    lladdr: Option<EtherAddr>,
    state: i32,
    asked: u32,
    /// When the state times out (kernel ns); 0: never.
    expire: u64,
    isrouter: bool,
    /// The one packet waiting for resolution (`ln_hold`).
    hold: Option<Mbuf>,
}

/// An address going through duplicate address detection (`struct dadq`).
struct Dad {
    ifp: Arc<Ifnet>,
    addr: Ipv6Addr,
    ns_sent: u32,
    deadline: u64,
}

/// The ND state of one vnet: the neighbour cache keyed by (interface index,
/// address) and the DAD queue.
#[derive(Default)]
pub struct Nd6State {
    cache: HashMap<(u32, Ipv6Addr), LlInfo>,
    dad: Vec<Dad>,
    timer_at: Option<u64>,
}

/// Something to send once the ND lock is released.
enum NdOut {
    /// A neighbour solicitation for `target` (DAD when `src` is `None`), to its
    /// solicited-node group or, for a probe, to `unicast`'s link address.
    Ns {
        ifp: Arc<Ifnet>,
        src: Option<Ipv6Addr>,
        target: Ipv6Addr,
        unicast: Option<EtherAddr>,
    },
    /// A packet that was waiting, now resolved.
    Frame {
        ifp: Arc<Ifnet>,
        mac: EtherAddr,
        m: Mbuf,
    },
    /// A packet whose next hop never answered: address unreachable.
    Unreach { ifp: Arc<Ifnet>, m: Mbuf },
}

fn ifidx(ifp: &Ifnet) -> u32 {
    ifp.index.load(AtomicOrdering::Relaxed)
}

fn if_mac(ifp: &Ifnet) -> Option<EtherAddr> {
    EtherAddr::from_bytes(&ifp.lladdr()).ok()
}

/// Arm the vnet's ND timer for `at` unless an earlier one is pending.
fn nd6_arm(st: &mut Nd6State, at: u64) {
    let now = getnow_ns();
    if st.timer_at.is_some_and(|t| t > now && t <= at) {
        return;
    }
    st.timer_at = Some(at);
    timeout(at, nd6_timer);
}

fn run(outs: Vec<NdOut>) {
    for o in outs {
        match o {
            NdOut::Ns {
                ifp,
                src,
                target,
                unicast,
            } => nd6_ns_output(&ifp, src, &target, unicast),
            NdOut::Frame { ifp, mac, m } => {
                let _ = nd6_frame(&ifp, mac, m);
            }
            NdOut::Unreach { ifp, m } => {
                icmp6_error(
                    &ifp,
                    ifidx(&ifp),
                    m.data(),
                    ICMP6_DST_UNREACH,
                    ICMP6_DST_UNREACH_ADDR,
                    0,
                );
            }
        }
    }
}

/// The source of a solicitation for `target` on `ifp`: the held packet's source
/// if it is one of our usable addresses there (RFC 4861 7.2.2), else one chosen
/// for the target.
fn ns_source(ifp: &Arc<Ifnet>, target: &Ipv6Addr, held: Option<&Mbuf>) -> Option<Ipv6Addr> {
    if let Some(m) = held {
        if let Ok(p) = super::ip6::Ipv6Packet::new_checked(m.data()) {
            let s = p.src_addr();
            if in6ifa_ifpwithaddr(ifp, &s).is_some_and(|ia| ia.ready()) {
                return Some(s);
            }
        }
    }
    in6_selectsrc(target, ifp).ok()
}

/// The ND timer (`nd6_timer`, `nd6_dad_timer`): time out states, solicit
/// again, probe, finish DAD.
fn nd6_timer() {
    let Some(st) = try_vnet_inet6() else { return };
    let now = getnow_ns();
    let mut outs = Vec::new();
    let mut dad_done = Vec::new();
    {
        let Ok(mut nd) = st.nd6.lock() else { return };
        nd.timer_at = None;
        let mut gone = Vec::new();
        for (k, ln) in nd.cache.iter_mut() {
            if ln.expire == 0 || ln.expire > now {
                continue;
            }
            match ln.state {
                ND6_LLINFO_INCOMPLETE => {
                    if ln.asked < ND6_MAX_MULTICAST_SOLICIT {
                        ln.asked += 1;
                        ln.expire = now + ND6_RETRANS_TIMER_NS;
                        outs.push(NdOut::Ns {
                            ifp: ln.ifp.clone(),
                            src: ns_source(&ln.ifp, &k.1, ln.hold.as_ref()),
                            target: k.1,
                            unicast: None,
                        });
                    } else {
                        gone.push(*k);
                    }
                }
                ND6_LLINFO_REACHABLE => {
                    ln.state = ND6_LLINFO_STALE;
                    ln.expire = now + ND6_GCTIMER_NS;
                }
                ND6_LLINFO_DELAY => {
                    ln.state = ND6_LLINFO_PROBE;
                    ln.asked = 1;
                    ln.expire = now + ND6_RETRANS_TIMER_NS;
                    outs.push(NdOut::Ns {
                        ifp: ln.ifp.clone(),
                        src: ns_source(&ln.ifp, &k.1, None),
                        target: k.1,
                        unicast: ln.lladdr,
                    });
                }
                ND6_LLINFO_PROBE if ln.asked < ND6_MAX_UNICAST_SOLICIT => {
                    ln.asked += 1;
                    ln.expire = now + ND6_RETRANS_TIMER_NS;
                    outs.push(NdOut::Ns {
                        ifp: ln.ifp.clone(),
                        src: ns_source(&ln.ifp, &k.1, None),
                        target: k.1,
                        unicast: ln.lladdr,
                    });
                }
                _ => gone.push(*k),
            }
        }
        for k in gone {
            if let Some(ln) = nd.cache.remove(&k) {
                if let Some(m) = ln.hold {
                    outs.push(NdOut::Unreach { ifp: ln.ifp, m });
                }
            }
        }
        let count = st.ip6_dad_count.load(AtomicOrdering::Relaxed).max(0) as u32;
        nd.dad.retain_mut(|d| {
            if d.deadline > now {
                return true;
            }
            if d.ns_sent < count {
                d.ns_sent += 1;
                d.deadline = now + ND6_RETRANS_TIMER_NS;
                outs.push(NdOut::Ns {
                    ifp: d.ifp.clone(),
                    src: None,
                    target: d.addr,
                    unicast: None,
                });
                return true;
            }
            dad_done.push((d.ifp.clone(), d.addr));
            false
        });
        let next = nd
            .cache
            .values()
            .filter(|l| l.expire != 0)
            .map(|l| l.expire)
            .chain(nd.dad.iter().map(|d| d.deadline))
            .min();
        if let Some(at) = next {
            nd6_arm(&mut nd, at.max(now + 1));
        }
    }
    for (ifp, a) in dad_done {
        // DAD passed: the address is ours to use (`nd6_dad_timer`).
        in6_setflags(&ifp, &a, |f| f & !IN6_IFF_TENTATIVE);
    }
    run(outs);
}

/// `nd6_resolve`: the link address of next hop `dst` on `ifp` for packet `m`.
/// Known: the address and the packet back (a stale entry starts its delay).
/// Unknown: `None`; the packet is held (replacing any held before) and a
/// solicitation goes out.  ENOBUFS when the cache is full.
pub fn nd6_resolve(
    ifp: &Arc<Ifnet>,
    dst: Ipv6Addr,
    m: Mbuf,
) -> Result<Option<(EtherAddr, Mbuf)>, Errno> {
    if dst.is_multicast() {
        return Ok(Some((EtherAddr::from_ipv6_multicast(&dst), m)));
    }
    let st = vnet_inet6();
    let now = getnow_ns();
    let mut outs = Vec::new();
    let res = {
        let mut nd = st.nd6.lock().map_err(|_| Errno::EDOOFUS)?;
        let key = (ifidx(ifp), dst);
        let full = nd.cache.len() >= ND6_MAXENTRIES;
        match nd.cache.get_mut(&key) {
            Some(ln) => match ln.lladdr {
                Some(mac) if ln.state != ND6_LLINFO_INCOMPLETE => {
                    if ln.state == ND6_LLINFO_STALE {
                        ln.state = ND6_LLINFO_DELAY;
                        ln.asked = 0;
                        ln.expire = now + ND6_DELAY_NS;
                        let at = ln.expire;
                        nd6_arm(&mut nd, at);
                    }
                    Some((mac, m))
                }
                _ => {
                    ln.hold = Some(m);
                    None
                }
            },
            None if full => return Err(Errno::ENOBUFS),
            None => {
                let src = ns_source(ifp, &dst, Some(&m));
                nd.cache.insert(
                    key,
                    LlInfo {
                        ifp: ifp.clone(),
                        lladdr: None,
                        state: ND6_LLINFO_INCOMPLETE,
                        asked: 1,
                        expire: now + ND6_RETRANS_TIMER_NS,
                        isrouter: false,
                        hold: Some(m),
                    },
                );
                nd6_arm(&mut nd, now + ND6_RETRANS_TIMER_NS);
                outs.push(NdOut::Ns {
                    ifp: ifp.clone(),
                    src,
                    target: dst,
                    unicast: None,
                });
                None
            }
        }
    };
    run(outs);
    Ok(res)
}

/// Prepend an Ethernet header to IPv6 packet `m` for `mac` and send it.
pub fn nd6_frame(ifp: &Arc<Ifnet>, mac: EtherAddr, m: Mbuf) -> Result<(), Errno> {
    vimage_net::if_ethersubr::ether_output_frame(ifp, m, mac, ETHERTYPE_IPV6)
}

/// `nd6_output`: hand IPv6 packet `m` to `ifp` for next hop `nexthop` through
/// the link layer's `if_output`: looped back through netisr on the loopback,
/// resolved with [`nd6_resolve`] on Ethernet (held while resolution runs,
/// which counts as sent), bare on point-to-point links.
pub fn nd6_output(ifp: &Arc<Ifnet>, nexthop: Ipv6Addr, m: Mbuf) -> Result<(), Errno> {
    if ifp.flags() & IFF_UP == 0 {
        if let Some(st) = try_vnet_inet6() {
            inc(&st.ip6stat.ip6s_odropped);
        }
        return Err(Errno::ENETDOWN);
    }
    vimage_net::if_ethersubr::if_output(ifp, m, std::net::IpAddr::V6(nexthop))
}

/// `nd6_cache_lladdr`: `from` on `ifp` told us its link address (in an NS, RS,
/// or unsolicited NA): create a stale entry, or update a changed one (RFC 4861
/// 7.2.3); a resolution that was waiting completes.
fn nd6_cache_lladdr(
    nd: &mut Nd6State,
    ifp: &Arc<Ifnet>,
    from: Ipv6Addr,
    lladdr: EtherAddr,
    outs: &mut Vec<NdOut>,
) {
    if from.is_unspecified() || from.is_multicast() {
        return;
    }
    let now = getnow_ns();
    let key = (ifidx(ifp), from);
    if !nd.cache.contains_key(&key) && nd.cache.len() >= ND6_MAXENTRIES {
        return;
    }
    let ln = nd.cache.entry(key).or_insert_with(|| LlInfo {
        ifp: ifp.clone(),
        lladdr: None,
        state: ND6_LLINFO_STALE,
        asked: 0,
        expire: now + ND6_GCTIMER_NS,
        isrouter: false,
        hold: None,
    });
    if ln.lladdr != Some(lladdr) {
        ln.lladdr = Some(lladdr);
        ln.state = ND6_LLINFO_STALE;
        ln.asked = 0;
        ln.expire = now + ND6_GCTIMER_NS;
        if let Some(m) = ln.hold.take() {
            outs.push(NdOut::Frame {
                ifp: ifp.clone(),
                mac: lladdr,
                m,
            });
        }
    }
}

/// What the IP layer knows of an ND message besides its body.
#[derive(Clone, Copy, Debug)]
pub struct NdIn {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Hop limit it arrived with (must be 255: it never crossed a router).
    pub hlim: u8,
}

/// `nd6_ns_input`: a neighbour solicitation arrived on `ifp`.  Bad ones (hop
/// limit not 255, DAD probes to a unicast address or with a link-layer option)
/// are counted in `icp6s_badns` and dropped.
pub fn nd6_ns_input(ifp: &Arc<Ifnet>, ip: &NdIn, target: Ipv6Addr, lladdr: Option<EtherAddr>) {
    let st = vnet_inet6();
    let dad = ip.src.is_unspecified();
    if ip.hlim != 255
        || (dad && (ip.dst != in6_solicited_node(&target) || lladdr.is_some()))
        || target.is_multicast()
    {
        inc(&st.icmp6stat.icp6s_badns);
        return;
    }
    let Some(ia) = in6ifa_ifpwithaddr(ifp, &target) else {
        // Not ours (no proxy ND).
        return;
    };
    if ia.flags & IN6_IFF_TENTATIVE != 0 {
        // Someone else is checking the address we are checking: it is in use
        // (RFC 4862 5.4.3).  From a unicast source: discard.
        if dad {
            nd6_dad_duplicated(ifp, &target);
        }
        return;
    }
    if ia.flags & IN6_IFF_DUPLICATED != 0 {
        return;
    }
    let mut outs = Vec::new();
    if !dad {
        if let Some(l) = lladdr {
            if let Ok(mut nd) = st.nd6.lock() {
                nd6_cache_lladdr(&mut nd, ifp, ip.src, l, &mut outs);
            }
        }
    }
    run(outs);
    let router = if st.forwarding() {
        ND_NA_FLAG_ROUTER
    } else {
        0
    };
    if dad {
        nd6_na_output(
            ifp,
            IN6ADDR_LINKLOCAL_ALLNODES,
            &target,
            router | ND_NA_FLAG_OVERRIDE,
            None,
        );
    } else {
        nd6_na_output(
            ifp,
            ip.src,
            &target,
            router | ND_NA_FLAG_SOLICITED | ND_NA_FLAG_OVERRIDE,
            lladdr,
        );
    }
}

/// `nd6_na_input`: a neighbour advertisement arrived on `ifp` (RFC 4861 7.2.5).
/// Bad ones (hop limit, solicited to a multicast group) count in `icp6s_badna`.
pub fn nd6_na_input(
    ifp: &Arc<Ifnet>,
    ip: &NdIn,
    flags: u32,
    target: Ipv6Addr,
    lladdr: Option<EtherAddr>,
) {
    let st = vnet_inet6();
    if ip.hlim != 255
        || (ip.dst.is_multicast() && flags & ND_NA_FLAG_SOLICITED != 0)
        || target.is_multicast()
    {
        inc(&st.icmp6stat.icp6s_badna);
        return;
    }
    if let Some(ia) = in6ifa_ifpwithaddr(ifp, &target) {
        if ia.flags & IN6_IFF_TENTATIVE != 0 {
            nd6_dad_duplicated(ifp, &target);
        }
        // Someone claims an address of ours: nothing to learn.
        return;
    }
    let now = getnow_ns();
    let mut outs = Vec::new();
    {
        let Ok(mut nd) = st.nd6.lock() else { return };
        let key = (ifidx(ifp), target);
        let Some(ln) = nd.cache.get_mut(&key) else {
            return;
        };
        let solicited = flags & ND_NA_FLAG_SOLICITED != 0;
        let override_ = flags & ND_NA_FLAG_OVERRIDE != 0;
        if ln.state == ND6_LLINFO_INCOMPLETE {
            let Some(l) = lladdr else { return };
            ln.lladdr = Some(l);
            ln.asked = 0;
            if solicited {
                ln.state = ND6_LLINFO_REACHABLE;
                ln.expire = now + ND6_REACHABLE_TIME_NS;
            } else {
                ln.state = ND6_LLINFO_STALE;
                ln.expire = now + ND6_GCTIMER_NS;
            }
            ln.isrouter = flags & ND_NA_FLAG_ROUTER != 0;
            if let Some(m) = ln.hold.take() {
                outs.push(NdOut::Frame {
                    ifp: ifp.clone(),
                    mac: l,
                    m,
                });
            }
        } else {
            let changed = lladdr.is_some_and(|l| Some(l) != ln.lladdr);
            if !override_ && changed {
                if ln.state == ND6_LLINFO_REACHABLE {
                    ln.state = ND6_LLINFO_STALE;
                    ln.expire = now + ND6_GCTIMER_NS;
                }
            } else {
                if let Some(l) = lladdr {
                    ln.lladdr = Some(l);
                }
                if solicited {
                    ln.state = ND6_LLINFO_REACHABLE;
                    ln.asked = 0;
                    ln.expire = now + ND6_REACHABLE_TIME_NS;
                } else if changed {
                    ln.state = ND6_LLINFO_STALE;
                    ln.expire = now + ND6_GCTIMER_NS;
                }
                ln.isrouter = flags & ND_NA_FLAG_ROUTER != 0;
            }
        }
        let at = ln.expire;
        if at != 0 {
            nd6_arm(&mut nd, at);
        }
    }
    run(outs);
}

/// Router solicitations and advertisements and redirects are checked and
/// counted, not acted on (this stack configures routes statically).
pub fn nd6_rtr_input(msg_type: u8, ip: &NdIn) {
    let st = vnet_inet6();
    if ip.hlim != 255 {
        match msg_type {
            ND_ROUTER_SOLICIT => inc(&st.icmp6stat.icp6s_badrs),
            ND_ROUTER_ADVERT => inc(&st.icmp6stat.icp6s_badra),
            _ => inc(&st.icmp6stat.icp6s_badredirect),
        }
    }
}

fn nd_send(ifp: &Arc<Ifnet>, src: Ipv6Addr, dst: Ipv6Addr, nd: NdiscRepr, mac: EtherAddr) {
    let st = vnet_inet6();
    let t = match nd {
        NdiscRepr::NeighborSolicit { .. } => ND_NEIGHBOR_SOLICIT,
        NdiscRepr::NeighborAdvert { .. } => ND_NEIGHBOR_ADVERT,
        NdiscRepr::RouterSolicit { .. } => ND_ROUTER_SOLICIT,
        NdiscRepr::RouterAdvert { .. } => ND_ROUTER_ADVERT,
    };
    let pkt = icmp6_build(src, dst, 255, &Icmp6Repr::Ndisc(nd));
    inc(&st.icmp6_outhist[usize::from(t)]);
    inc(&st.ip6stat.ip6s_localout);
    if ifp.flags() & IFF_UP == 0 {
        inc(&st.ip6stat.ip6s_odropped);
        return;
    }
    let _ = nd6_frame(ifp, mac, Mbuf::from_slice(&pkt));
}

/// `nd6_ns_output`: solicit `target`'s link address on `ifp`, from `src` (DAD
/// when `None`: from the unspecified address, without our link address) to its
/// solicited-node group, or to `unicast` for a reachability probe.
fn nd6_ns_output(
    ifp: &Arc<Ifnet>,
    src: Option<Ipv6Addr>,
    target: &Ipv6Addr,
    unicast: Option<EtherAddr>,
) {
    let (src, lladdr) = match src {
        Some(s) => (s, if_mac(ifp)),
        None => (Ipv6Addr::UNSPECIFIED, None),
    };
    let (dst, mac) = match unicast {
        Some(m) => (*target, m),
        None => {
            let g = in6_solicited_node(target);
            (g, EtherAddr::from_ipv6_multicast(&g))
        }
    };
    nd_send(
        ifp,
        src,
        dst,
        NdiscRepr::NeighborSolicit {
            target: *target,
            lladdr,
        },
        mac,
    );
}

/// `nd6_na_output`: advertise our `target` on `ifp` to `dst` with our link
/// address; `dst_lladdr` is the solicitor's link address when it gave one.
fn nd6_na_output(
    ifp: &Arc<Ifnet>,
    dst: Ipv6Addr,
    target: &Ipv6Addr,
    flags: u32,
    dst_lladdr: Option<EtherAddr>,
) {
    let nd = NdiscRepr::NeighborAdvert {
        flags,
        target: *target,
        lladdr: if_mac(ifp),
    };
    // The advertisement comes from the target itself when it can.
    let src = match in6ifa_ifpwithaddr(ifp, target) {
        Some(ia) if ia.ready() => *target,
        _ => match in6_selectsrc(&dst, ifp) {
            Ok(s) => s,
            Err(_) => return,
        },
    };
    if dst.is_multicast() {
        nd_send(ifp, src, dst, nd, EtherAddr::from_ipv6_multicast(&dst));
        return;
    }
    let mac = dst_lladdr.or_else(|| {
        let st = vnet_inet6();
        let g = st.nd6.lock().ok()?;
        g.cache.get(&(ifidx(ifp), dst)).and_then(|l| l.lladdr)
    });
    match mac {
        Some(m) => nd_send(ifp, src, dst, nd, m),
        None => {
            // Resolve the solicitor like any other next hop.
            let st = vnet_inet6();
            let pkt = icmp6_build(src, dst, 255, &Icmp6Repr::Ndisc(nd));
            inc(&st.icmp6_outhist[usize::from(ND_NEIGHBOR_ADVERT)]);
            inc(&st.ip6stat.ip6s_localout);
            let _ = nd6_output(ifp, dst, Mbuf::from_slice(&pkt));
        }
    }
}

/// `nd6_dad_start`: check that nobody on `ifp`'s link uses `addr` (tentative
/// until then): one solicitation now, `net.inet6.ip6.dad_count` in all, one
/// retransmission time apart; silence for the last one makes the address ours.
pub fn nd6_dad_start(ifp: &Arc<Ifnet>, addr: Ipv6Addr) {
    let st = vnet_inet6();
    let now = getnow_ns();
    {
        let Ok(mut nd) = st.nd6.lock() else { return };
        nd.dad
            .retain(|d| !(Arc::ptr_eq(&d.ifp, ifp) && d.addr == addr));
        nd.dad.push(Dad {
            ifp: ifp.clone(),
            addr,
            ns_sent: 1,
            deadline: now + ND6_RETRANS_TIMER_NS,
        });
        nd6_arm(&mut nd, now + ND6_RETRANS_TIMER_NS);
    }
    nd6_ns_output(ifp, None, &addr, None);
}

/// Stop DAD of `addr` on `ifp` (the address was removed).
pub fn nd6_dad_stop(ifp: &Arc<Ifnet>, addr: &Ipv6Addr) {
    let Some(st) = try_vnet_inet6() else { return };
    if let Ok(mut nd) = st.nd6.lock() {
        nd.dad
            .retain(|d| !(Arc::ptr_eq(&d.ifp, ifp) && d.addr == *addr));
    };
}

/// `nd6_dad_duplicated`: another node uses `addr`: it is marked duplicated and
/// never used.
fn nd6_dad_duplicated(ifp: &Arc<Ifnet>, addr: &Ipv6Addr) {
    let st = vnet_inet6();
    inc(&st.icmp6stat.icp6s_dupaddr);
    nd6_dad_stop(ifp, addr);
    in6_setflags(ifp, addr, |f| (f & !IN6_IFF_TENTATIVE) | IN6_IFF_DUPLICATED);
}

/// `nd6_purge`: forget every neighbour and DAD of `ifp` (held packets drop).
pub fn nd6_purge(ifp: &Arc<Ifnet>) {
    let Some(st) = try_vnet_inet6() else { return };
    if let Ok(mut nd) = st.nd6.lock() {
        nd.cache.retain(|_, l| !Arc::ptr_eq(&l.ifp, ifp));
        nd.dad.retain(|d| !Arc::ptr_eq(&d.ifp, ifp));
    };
}

/// `nd6_flush`: forget the neighbours learned on `ifp` (DAD goes on).
pub fn nd6_flush(ifp: &Arc<Ifnet>) {
    let Some(st) = try_vnet_inet6() else { return };
    if let Ok(mut nd) = st.nd6.lock() {
        nd.cache.retain(|_, l| !Arc::ptr_eq(&l.ifp, ifp));
    };
}

/// `nd6_free` of one entry: forget neighbour `addr` of `ifp` (ESRCH if it is
/// not in the cache).
pub fn nd6_delete(ifp: &Arc<Ifnet>, addr: &Ipv6Addr) -> Result<(), Errno> {
    let st = vnet_inet6();
    let mut nd = st.nd6.lock().map_err(|_| Errno::EDOOFUS)?;
    nd.cache
        .remove(&(ifidx(ifp), *addr))
        .map(|_| ())
        .ok_or(Errno::ESRCH)
}

fn dump_entry(addr: &Ipv6Addr, ln: &LlInfo, now: u64) -> Nd6Dump {
    Nd6Dump {
        addr: *addr,
        ifindex: ifidx(&ln.ifp),
        ifname: ln.ifp.name(),
        lladdr: ln.lladdr.map(|m| m.0.to_vec()).unwrap_or_default(),
        state: ln.state,
        isrouter: ln.isrouter,
        asked: ln.asked,
        permanent: false,
        expire: if ln.expire == 0 {
            0
        } else {
            (ln.expire as i128 - now as i128).div_euclid(1_000_000_000) as i64
        },
    }
}

fn own_entries() -> Vec<Nd6Dump> {
    let mut v = Vec::new();
    for ifp in vimage_net::r#if::vnet_net().list() {
        if !nd6_need_ll(&ifp) {
            continue;
        }
        for ia in in6_addrs(&ifp) {
            v.push(Nd6Dump {
                addr: ia.addr,
                ifindex: ifidx(&ifp),
                ifname: ifp.name(),
                lladdr: ifp.lladdr(),
                state: ND6_LLINFO_REACHABLE,
                isrouter: false,
                asked: 0,
                permanent: true,
                expire: 0,
            });
        }
    }
    v
}

/// The neighbour cache of curvnet as `ndp -a` shows it: learned neighbours and
/// the host's own addresses on ND links (permanent), by address.
pub fn nd6_dump() -> Vec<Nd6Dump> {
    let Some(st) = try_vnet_inet6() else {
        return Vec::new();
    };
    let now = getnow_ns();
    let mut v = own_entries();
    if let Ok(nd) = st.nd6.lock() {
        v.extend(nd.cache.iter().map(|((_, a), ln)| dump_entry(a, ln, now)));
    }
    v.sort_by_key(|e| (e.addr, e.ifindex));
    v
}

/// One entry of the cache (`SIOCGNBRINFO_IN6`).
pub fn nd6_lookup_info(ifp: &Arc<Ifnet>, addr: &Ipv6Addr) -> Option<Nd6Dump> {
    let st = try_vnet_inet6()?;
    let now = getnow_ns();
    {
        let nd = st.nd6.lock().ok()?;
        if let Some(ln) = nd.cache.get(&(ifidx(ifp), *addr)) {
            return Some(dump_entry(addr, ln, now));
        }
    }
    own_entries()
        .into_iter()
        .find(|e| e.addr == *addr && e.ifindex == ifidx(ifp))
}

/// Number of neighbour cache entries of curvnet (tests, statistics).
pub fn nd6_count() -> usize {
    try_vnet_inet6()
        .and_then(|st| st.nd6.lock().ok().map(|n| n.cache.len()))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::IPPROTO_ICMPV6;
    use crate::netinet6::icmp6::Icmp6Repr;
    use crate::netinet6::ip6::{Ipv6Packet, Ipv6Repr};
    use vimage_kern::fuzz::{hex, mutate, rounds, Rng};

    // Captured on a Linux veth pair (private network namespaces) between
    // 40:0a:0b:0c:0d:01 (fe80::420a:bff:fe0c:d01) and 40:0a:0b:0c:0d:02: whole
    // IPv6 packets, sums filled in by the kernel.

    /// Router solicitation with a source link-layer address.
    const RS: &str = "6000000000103afffe80000000000000420a0bfffe0c0d01\
                      ff020000000000000000000000000002\
                      8500caff000000000101400a0b0c0d01";
    /// Neighbour solicitation for fe80::420a:bff:fe0c:d02, with the source lladdr.
    const NS: &str = "6000000000203afffe80000000000000420a0bfffe0c0d01\
                      ff0200000000000000000001ff0c0d02\
                      8700654800000000fe80000000000000420a0bfffe0c0d02\
                      0101400a0b0c0d01";
    /// The answer: solicited and override, with the target lladdr.
    const NA: &str = "6000000000203afffe80000000000000420a0bfffe0c0d02\
                      fe80000000000000420a0bfffe0c0d01\
                      8800b6c060000000fe80000000000000420a0bfffe0c0d02\
                      0201400a0b0c0d02";
    /// Duplicate address detection: from ::, with a nonce option (type 14).
    const DAD: &str = "6000000000203aff00000000000000000000000000000000\
                       ff0200000000000000000001ff0c0d01\
                       870049a400000000fe80000000000000420a0bfffe0c0d01\
                       0e014483246f5563";

    fn me() -> EtherAddr {
        "40:a:b:c:d:1".parse().unwrap()
    }

    /// Parse a captured IPv6 packet down to its ND repr.
    fn nd_of(ip: &[u8]) -> (Ipv6Repr, NdiscRepr) {
        let p = Ipv6Packet::new_checked(ip).unwrap();
        let r = Ipv6Repr::parse(&p).unwrap();
        assert_eq!((r.next_header, r.hop_limit), (IPPROTO_ICMPV6, 255));
        let icmp = Icmp6Packet::new_checked(p.payload()).unwrap();
        match Icmp6Repr::parse(&r.src_addr, &r.dst_addr, &icmp).unwrap() {
            Icmp6Repr::Ndisc(nd) => (r, nd),
            other => panic!("{other:?}"),
        }
    }

    /// Parse a captured packet and emit it again.
    fn reemit(ip: &[u8]) -> Vec<u8> {
        let (r, nd) = nd_of(ip);
        let mut out = vec![0u8; 40 + nd.buffer_len()];
        r.emit(&mut Ipv6Packet::new_unchecked(&mut out[..]));
        Icmp6Repr::Ndisc(nd).emit(
            &r.src_addr,
            &r.dst_addr,
            &mut Icmp6Packet::new_unchecked(&mut out[40..]),
        );
        out
    }

    #[test]
    fn captured_rs_ns_na() {
        let target: Ipv6Addr = "fe80::420a:bff:fe0c:d02".parse().unwrap();
        assert_eq!(
            nd_of(&hex(RS)).1,
            NdiscRepr::RouterSolicit { lladdr: Some(me()) }
        );
        assert_eq!(
            nd_of(&hex(NS)).1,
            NdiscRepr::NeighborSolicit {
                target,
                lladdr: Some(me())
            }
        );
        assert_eq!(
            nd_of(&hex(NA)).1,
            NdiscRepr::NeighborAdvert {
                flags: ND_NA_FLAG_SOLICITED | ND_NA_FLAG_OVERRIDE,
                target,
                lladdr: Some("40:a:b:c:d:2".parse().unwrap()),
            }
        );
        for h in [RS, NS, NA] {
            assert_eq!(reemit(&hex(h)), hex(h));
        }
        // DAD: the nonce option is skipped; no lladdr.
        let (ip, nd) = nd_of(&hex(DAD));
        assert!(ip.src_addr.is_unspecified());
        assert_eq!(
            nd,
            NdiscRepr::NeighborSolicit {
                target: "fe80::420a:bff:fe0c:d01".parse().unwrap(),
                lladdr: None
            }
        );
        let b = hex(DAD);
        let icmp = Icmp6Packet::new_checked(&b[40..]).unwrap();
        let opts: Vec<_> = NdOpts::new(icmp.nd_options()).collect();
        assert_eq!(opts.len(), 1);
        assert_eq!(opts[0].unwrap().opt_type, 14);
    }

    fn ra() -> NdiscRepr {
        NdiscRepr::RouterAdvert {
            cur_hop_limit: 64,
            flags: ND_RA_FLAG_OTHER,
            router_lifetime: 1800,
            reachable_time: 30_000,
            retrans_timer: 1000,
            lladdr: Some(me()),
            mtu: Some(1500),
            prefixes: vec![
                NdPrefixInfo {
                    prefix_len: 64,
                    flags: ND_OPT_PI_FLAG_ONLINK | ND_OPT_PI_FLAG_AUTO,
                    valid_lifetime: u32::MAX,
                    preferred_lifetime: 604_800,
                    prefix: "2001:db8:1::".parse().unwrap(),
                },
                NdPrefixInfo {
                    prefix_len: 48,
                    flags: ND_OPT_PI_FLAG_ONLINK,
                    valid_lifetime: 0,
                    preferred_lifetime: 0,
                    prefix: "2001:db8:2::".parse().unwrap(),
                },
            ],
        }
    }

    fn all_kinds() -> Vec<NdiscRepr> {
        let t: Ipv6Addr = "2001:db8:1::2".parse().unwrap();
        vec![
            NdiscRepr::RouterSolicit { lladdr: None },
            NdiscRepr::RouterSolicit { lladdr: Some(me()) },
            ra(),
            NdiscRepr::RouterAdvert {
                cur_hop_limit: 0,
                flags: 0,
                router_lifetime: 0,
                reachable_time: 0,
                retrans_timer: 0,
                lladdr: None,
                mtu: None,
                prefixes: vec![],
            },
            NdiscRepr::NeighborSolicit {
                target: t,
                lladdr: Some(me()),
            },
            NdiscRepr::NeighborAdvert {
                flags: ND_NA_FLAG_ROUTER | ND_NA_FLAG_SOLICITED | ND_NA_FLAG_OVERRIDE,
                target: t,
                lladdr: Some(me()),
            },
            NdiscRepr::NeighborAdvert {
                flags: 0,
                target: t,
                lladdr: None,
            },
        ]
    }

    const SRC: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0x420a, 0xbff, 0xfe0c, 0xd01);
    const ALL: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

    fn emit(nd: &NdiscRepr) -> Vec<u8> {
        let mut out = vec![0u8; nd.buffer_len()];
        Icmp6Repr::Ndisc(nd.clone()).emit(
            &SRC,
            &ALL,
            &mut Icmp6Packet::new_unchecked(&mut out[..]),
        );
        out
    }

    fn parse(b: &[u8]) -> Result<NdiscRepr, Errno> {
        let p = Icmp6Packet::new_checked(b)?;
        match Icmp6Repr::parse(&SRC, &ALL, &p)? {
            Icmp6Repr::Ndisc(nd) => Ok(nd),
            _ => Err(Errno::EINVAL),
        }
    }

    #[test]
    fn round_trip_every_kind() {
        for nd in all_kinds() {
            let b = emit(&nd);
            assert_eq!(parse(&b), Ok(nd.clone()), "{nd:?}");
        }
        // The RA layout, byte by byte where it matters.
        let b = emit(&ra());
        assert_eq!(b.len(), 16 + 8 + 8 + 64);
        assert_eq!(b[..2], [ND_ROUTER_ADVERT, 0]);
        assert_eq!(b[4..8], [64, 0x40, 0x07, 0x08]);
        assert_eq!(b[16..18], [ND_OPT_SOURCE_LINKADDR, 1]);
        assert_eq!(b[24..32], [ND_OPT_MTU, 1, 0, 0, 0, 0, 0x05, 0xdc]);
        assert_eq!(b[32..36], [ND_OPT_PREFIX_INFORMATION, 4, 64, 0xc0]);
        let p = Icmp6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.nd_ra_router_lifetime(), 1800);
        assert_eq!(p.nd_ra_reachable_time(), 30_000);
    }

    /// An NS with the given options (checksum filled).
    fn ns_with(opts: &[u8]) -> Vec<u8> {
        let mut b = emit(&NdiscRepr::NeighborSolicit {
            target: "2001:db8::2".parse().unwrap(),
            lladdr: None,
        });
        b.extend_from_slice(opts);
        Icmp6Packet::new_unchecked(&mut b[..]).fill_checksum(&SRC, &ALL);
        b
    }

    #[test]
    fn malformed() {
        let lla = [1, 1, 0x40, 0xa, 0xb, 0xc, 0xd, 1];
        assert!(parse(&ns_with(&lla)).is_ok());
        // Zero length, overrun, a half option, a 16-byte Ethernet lladdr option.
        for opts in [
            &[1u8, 0, 0, 0, 0, 0, 0, 0][..],
            &[1, 2, 0, 0, 0, 0, 0, 0],
            &[1],
            &[1, 2, 0x40, 0xa, 0xb, 0xc, 0xd, 1, 0, 0, 0, 0, 0, 0, 0, 0],
        ] {
            assert_eq!(parse(&ns_with(opts)), Err(Errno::EINVAL), "{opts:?}");
        }
        // Unknown options of any size are skipped; so is a misplaced MTU option.
        assert!(parse(&ns_with(&[99, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])).is_ok());
        assert!(parse(&ns_with(&[5, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])).is_ok());
        // Non-zero code; multicast target.
        let mut b = ns_with(&[]);
        b[1] = 1;
        Icmp6Packet::new_unchecked(&mut b[..]).fill_checksum(&SRC, &ALL);
        assert_eq!(parse(&b), Err(Errno::EINVAL));
        let mut b = ns_with(&[]);
        Icmp6Packet::new_unchecked(&mut b[..]).set_nd_target(&ALL);
        Icmp6Packet::new_unchecked(&mut b[..]).fill_checksum(&SRC, &ALL);
        assert_eq!(parse(&b), Err(Errno::EINVAL));
        // A prefix option of the wrong size, or prefix length 129, in an RA.
        let mut b = emit(&ra());
        b[33] = 3;
        Icmp6Packet::new_unchecked(&mut b[..]).fill_checksum(&SRC, &ALL);
        assert_eq!(parse(&b), Err(Errno::EINVAL));
        let mut b = emit(&ra());
        b[34] = 129;
        Icmp6Packet::new_unchecked(&mut b[..]).fill_checksum(&SRC, &ALL);
        assert_eq!(parse(&b), Err(Errno::EINVAL));
        // NdiscRepr refuses other ICMPv6 types.
        let echo = [128u8, 0, 0, 0, 0, 0, 0, 0];
        let p = Icmp6Packet::new_checked(&echo[..]).unwrap();
        assert_eq!(NdiscRepr::parse(&p), Err(Errno::EINVAL));
        assert!(p.nd_options().is_empty());
    }

    #[test]
    fn truncation() {
        let mut seeds: Vec<Vec<u8>> = all_kinds().iter().map(emit).collect();
        seeds.push(hex(NA)[40..].to_vec());
        for b in seeds {
            for n in 0..b.len() {
                let Ok(p) = Icmp6Packet::new_checked(&b[..n]) else {
                    assert!(n < nd_header_len(b[0]));
                    continue;
                };
                // No checksum check here: a cut either fails the option walk or
                // ends on an option boundary and parses to what re-emits as is.
                if let Ok(nd) = NdiscRepr::parse(&p) {
                    let mut out = vec![0u8; nd.buffer_len()];
                    nd.emit(&mut Icmp6Packet::new_unchecked(&mut out[..]));
                    assert_eq!(out.len(), n, "{nd:?}");
                }
            }
        }
    }

    #[test]
    fn fuzz() {
        let mut seeds: Vec<Vec<u8>> = all_kinds().iter().map(emit).collect();
        seeds.extend([hex(NS)[40..].to_vec(), hex(DAD)[40..].to_vec()]);
        let mut rng = Rng::new(0x4861);
        let mut parsed = 0;
        for i in 0..rounds() {
            let good = &seeds[i % seeds.len()];
            let mut v = mutate(
                &mut rng,
                good,
                &[(0, 1), (17, 1), (25, 1), (33, 1), (34, 1)],
            );
            if v.len() >= 8 {
                Icmp6Packet::new_unchecked(&mut v[..]).fill_checksum(&SRC, &ALL);
            }
            let Ok(p) = Icmp6Packet::new_checked(&v[..]) else {
                continue;
            };
            let _ = (p.nd_target(), p.nd_na_flags(), p.nd_ra_retrans_timer());
            for o in NdOpts::new(p.nd_options()).flatten() {
                let _ = NdPrefixInfo::parse(o.data);
            }
            if let Ok(nd) = parse(&v) {
                parsed += 1;
                assert_eq!(parse(&emit(&nd)), Ok(nd));
            }
        }
        assert!(parsed > rounds() / 20, "only {parsed} parsed");
    }
}
