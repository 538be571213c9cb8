//! A minimal `NETLINK_ROUTE` responder: what glibc's `getifaddrs()`,
//! `if_nameindex()`, `if_nametoindex()` and `getaddrinfo(AI_ADDRCONFIG)` ask
//! (`RTM_GETLINK` and `RTM_GETADDR` dumps), `ip link`/`ip addr`/`ip route`
//! (`RTM_GETLINK` of one link, `RTM_GETROUTE` dumps), answered from the
//! vimage's interface list and routing table.
//!
//! Linux's behaviour is followed where it is visible: dump replies carry
//! `NLM_F_MULTI` and end with `NLMSG_DONE`; every reply echoes the request's
//! `nlmsg_seq` and carries the requesting socket's port id in `nlmsg_pid`
//! (glibc checks both; the supervisor must report the same port id from
//! `getsockname`); a failed request gets an `NLMSG_ERROR` with `-errno` and
//! the request appended; a successful non-dump request with `NLM_F_ACK` gets
//! an ack (`NLMSG_ERROR` with 0, `NLM_F_CAPPED`, the request's header only);
//! a dump gets no separate ack.  Malformed trailing bytes are ignored, as
//! Linux's `netlink_rcv_skb` ignores them.  Everything else (`RTM_NEW*`,
//! `RTM_DEL*`, `RTM_SET*`, neighbours, rules, qdiscs, `RTM_GETADDR` and
//! `RTM_GETROUTE` without `NLM_F_DUMP`) is answered `-EOPNOTSUPP`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use vimage_abi::net_if::{IfInfo, IFF_RUNNING, IFF_UP, IFT_LOOP};
use vimage_abi::netinet6_in6 as in6;
use vimage_abi::netinet_in::in_mask2plen;
use vimage_abi::route::{
    DumpGateway, RouteEntryInfo, RTF_BLACKHOLE, RTF_BROADCAST, RTF_DYNAMIC, RTF_GATEWAY,
    RTF_LLINFO, RTF_LOCAL, RTF_MULTICAST, RTF_REJECT, RTF_STATIC, RTF_WASCLONED,
};

use crate::ioctl::{arphrd, if_flags_to_linux, is_ptp, link_addr, v4_addrs, TXQLEN};
use crate::linux as l;

/// `sizeof(struct ifinfomsg)`.
const IFINFOMSG_LEN: usize = 16;
/// `sizeof(struct ifaddrmsg)`.
const IFADDRMSG_LEN: usize = 8;
/// `sizeof(struct rtmsg)`.
const RTMSG_LEN: usize = 12;
/// `struct rtnl_link_stats` has 24 `__u32` counters.
const LINK_STATS_N: usize = 24;
/// `struct rtnl_link_stats64` has 25 `__u64` counters (with `rx_otherhost_dropped`).
const LINK_STATS64_N: usize = 25;
/// An address lifetime of "forever" in `struct ifa_cacheinfo`.
const LIFETIME_FOREVER: u32 = u32::MAX;

/// FreeBSD `IN6_IFF_*` → Linux `IFA_F_*` (a duplicated address is
/// `IFA_F_DADFAILED | IFA_F_TENTATIVE` on Linux).  Addresses are also
/// `IFA_F_PERMANENT` unless autoconfigured or temporary.
pub const IN6_FLAGS_TABLE: &[(u32, u32)] = &[
    (in6::IN6_IFF_TENTATIVE, l::IFA_F_TENTATIVE),
    (
        in6::IN6_IFF_DUPLICATED,
        l::IFA_F_DADFAILED | l::IFA_F_TENTATIVE,
    ),
    (in6::IN6_IFF_DEPRECATED, l::IFA_F_DEPRECATED),
    (in6::IN6_IFF_TEMPORARY, l::IFA_F_TEMPORARY),
    (in6::IN6_IFF_NODAD, l::IFA_F_NODAD),
];

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// One message being built.
struct Msg(Vec<u8>);

impl Msg {
    fn new(ty: u16, flags: u16, seq: u32, pid: u32) -> Msg {
        let mut b = Vec::with_capacity(256);
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&ty.to_le_bytes());
        b.extend_from_slice(&flags.to_le_bytes());
        b.extend_from_slice(&seq.to_le_bytes());
        b.extend_from_slice(&pid.to_le_bytes());
        Msg(b)
    }
    fn raw(&mut self, d: &[u8]) -> &mut Self {
        self.0.extend_from_slice(d);
        let n = align4(self.0.len());
        self.0.resize(n, 0);
        self
    }
    /// An `rtattr`/`nlattr`: length, type, data, padding.
    fn attr(&mut self, ty: u16, d: &[u8]) -> &mut Self {
        let len = (4 + d.len()).min(usize::from(u16::MAX)) as u16;
        self.0.extend_from_slice(&len.to_le_bytes());
        self.0.extend_from_slice(&ty.to_le_bytes());
        self.raw(d)
    }
    fn u32(&mut self, ty: u16, v: u32) -> &mut Self {
        self.attr(ty, &v.to_le_bytes())
    }
    fn done(mut self) -> Vec<u8> {
        let n = u32::try_from(self.0.len()).unwrap_or(u32::MAX);
        self.0[..4].copy_from_slice(&n.to_le_bytes());
        self.0
    }
}

/// A request header.
#[derive(Clone, Copy)]
struct Hdr {
    ty: u16,
    flags: u16,
    seq: u32,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Answer the `NETLINK_ROUTE` request datagram `request` (one or more
/// `nlmsghdr` messages, as the program `send`s them) from the vimage's
/// interfaces `ifs` and routes `routes` (the kernel's `net.route.dump`),
/// for a socket whose port id is `pid`.  Returns the reply messages in
/// order, one `nlmsghdr` message each; [`batch`] packs them into datagrams.
/// Never fails: what Linux would refuse is answered with `NLMSG_ERROR`, and
/// what it would ignore is ignored.
pub fn respond(
    request: &[u8],
    ifs: &[IfInfo],
    routes: &[RouteEntryInfo],
    pid: u32,
) -> Vec<Vec<u8>> {
    each_request(request, pid, |h, payload| {
        handle(h, payload, ifs, routes, pid)
    })
}

/// Answer `request` as [`respond`] would when the vimage's state cannot be
/// read: every request message it would serve gets an `NLMSG_ERROR` with
/// `-errno` (positive Linux `errno`), the rest what [`respond`] gives them
/// (an ack if asked, or nothing).
pub fn refuse(request: &[u8], pid: u32, errno: i32) -> Vec<Vec<u8>> {
    each_request(request, pid, |_, _| Err(errno))
}

/// The messages of `request` in order, each served by `serve` (when it has
/// `NLM_F_REQUEST`, a non-control type and a payload) and acked as Linux's
/// `netlink_rcv_skb` does.
fn each_request(
    request: &[u8],
    pid: u32,
    mut serve: impl FnMut(Hdr, &[u8]) -> Result<Option<Vec<Vec<u8>>>, i32>,
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for msg in messages(request) {
        let h = Hdr {
            ty: u16_at(msg, 4).unwrap_or(0),
            flags: u16_at(msg, 6).unwrap_or(0),
            seq: u32_at(msg, 8).unwrap_or(0),
        };
        let payload = &msg[l::NLMSG_HDRLEN..];
        let served =
            h.flags & l::NLM_F_REQUEST != 0 && h.ty >= l::NLMSG_MIN_TYPE && !payload.is_empty();
        let result = if served { serve(h, payload) } else { Ok(None) };
        // A dump is never acked separately (its NLMSG_DONE ends it).
        let dump = h.flags & l::NLM_F_DUMP == l::NLM_F_DUMP;
        let want_ack = h.flags & l::NLM_F_ACK != 0;
        match result {
            Ok(Some(reply)) => {
                out.extend(reply);
                if want_ack && !dump {
                    out.push(ack(msg, h, pid, 0));
                }
            }
            Ok(None) if want_ack => out.push(ack(msg, h, pid, 0)),
            Ok(None) => {}
            Err(e) => out.push(ack(msg, h, pid, e)),
        }
    }
    out
}

/// The `nlmsghdr` messages of a request datagram, in order, as Linux's
/// `netlink_rcv_skb` walks them: each as long as its `nlmsg_len`, the next
/// at the 4-byte boundary after it; the walk stops at a length shorter than
/// a header or longer than what is left (trailing bytes are ignored).
pub fn messages(request: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = request;
    std::iter::from_fn(move || {
        if rest.len() < l::NLMSG_HDRLEN {
            return None;
        }
        let len = u32_at(rest, 0).map_or(0, |n| n as usize);
        if len < l::NLMSG_HDRLEN || len > rest.len() {
            rest = &[];
            return None;
        }
        let msg = &rest[..len];
        rest = &rest[align4(len).min(rest.len())..];
        Some(msg)
    })
}

/// Pack reply messages into datagrams of at most `max` bytes (a larger
/// message travels alone), as Linux fills one buffer per `recvmsg`; size
/// `max` to the program's receive buffer so no datagram is truncated.
pub fn batch(msgs: &[Vec<u8>], max: usize) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for m in msgs {
        match out.last_mut() {
            Some(d) if !d.is_empty() && d.len() + m.len() <= max => d.extend_from_slice(m),
            _ => out.push(m.clone()),
        }
    }
    out
}

/// `netlink_ack`: `NLMSG_ERROR` with `-errno` (0: an ack).
fn ack(req: &[u8], h: Hdr, pid: u32, errno: i32) -> Vec<u8> {
    let flags = if errno == 0 { l::NLM_F_CAPPED } else { 0 };
    let mut m = Msg::new(l::NLMSG_ERROR, flags, h.seq, pid);
    m.raw(&(-errno).to_le_bytes());
    m.raw(if errno == 0 {
        &req[..l::NLMSG_HDRLEN]
    } else {
        req
    });
    m.done()
}

/// `Ok(Some(messages))`: the reply; `Ok(None)`: nothing but an ack if asked.
fn handle(
    h: Hdr,
    payload: &[u8],
    ifs: &[IfInfo],
    routes: &[RouteEntryInfo],
    pid: u32,
) -> Result<Option<Vec<Vec<u8>>>, i32> {
    let dump = h.flags & l::NLM_F_DUMP == l::NLM_F_DUMP;
    let family = i32::from(payload[0]);
    let multi = |msgs: Vec<Msg>| {
        let mut v: Vec<Vec<u8>> = msgs.into_iter().map(Msg::done).collect();
        let mut d = Msg::new(l::NLMSG_DONE, l::NLM_F_MULTI, h.seq, pid);
        d.raw(&0i32.to_le_bytes());
        v.push(d.done());
        Some(v)
    };
    let new = |ty| Msg::new(ty, l::NLM_F_MULTI, h.seq, pid);
    match (h.ty, dump) {
        (l::RTM_GETLINK, true) => Ok(multi(
            ifs.iter()
                .map(|i| link_msg(new(l::RTM_NEWLINK), i))
                .collect(),
        )),
        (l::RTM_GETLINK, false) => {
            let ifp = find_link(payload, ifs)?;
            let m = link_msg(Msg::new(l::RTM_NEWLINK, 0, h.seq, pid), ifp);
            Ok(Some(vec![m.done()]))
        }
        (l::RTM_GETADDR, true) => {
            let mut v = Vec::new();
            for ifp in ifs {
                if family != l::AF_INET6 {
                    v4_addr_msgs(&mut v, &new, ifp);
                }
                if family != l::AF_INET {
                    v6_addr_msgs(&mut v, &new, ifp);
                }
            }
            Ok(multi(v))
        }
        (l::RTM_GETROUTE, true) => Ok(multi(
            routes
                .iter()
                .filter_map(|r| route_msg(new(l::RTM_NEWROUTE), r, family, ifs))
                .collect(),
        )),
        _ => Err(l::EOPNOTSUPP),
    }
}

/// The interface an `RTM_GETLINK` without `NLM_F_DUMP` names: by
/// `ifi_index`, else by `IFLA_IFNAME` (`EINVAL` if neither, `ENODEV` if none
/// matches), as Linux's `rtnl_getlink`.
fn find_link<'a>(payload: &[u8], ifs: &'a [IfInfo]) -> Result<&'a IfInfo, i32> {
    if payload.len() < IFINFOMSG_LEN {
        return Err(l::EINVAL);
    }
    let index = u32_at(payload, 4).unwrap_or(0) as i32;
    if index > 0 {
        return ifs
            .iter()
            .find(|i| i32::try_from(i.index) == Ok(index))
            .ok_or(l::ENODEV);
    }
    let mut attrs = &payload[IFINFOMSG_LEN..];
    while attrs.len() >= 4 {
        let len = usize::from(u16_at(attrs, 0).unwrap_or(0));
        let ty = u16_at(attrs, 2).unwrap_or(0) & 0x3fff;
        if len < 4 || len > attrs.len() {
            break;
        }
        if ty == l::IFLA_IFNAME {
            let v = &attrs[4..len];
            let name = v.split(|b| *b == 0).next().unwrap_or(v);
            return ifs
                .iter()
                .find(|i| i.name.as_bytes() == name)
                .ok_or(l::ENODEV);
        }
        attrs = &attrs[align4(len).min(attrs.len())..];
    }
    Err(l::EINVAL)
}

fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// `RTM_NEWLINK` for `ifp`.
fn link_msg(mut m: Msg, ifp: &IfInfo) -> Msg {
    let flags = if_flags_to_linux(ifp.flags);
    let mut hdr = [0u8; IFINFOMSG_LEN];
    hdr[2..4].copy_from_slice(&arphrd(ifp).to_le_bytes());
    hdr[4..8].copy_from_slice(&ifp.index.to_le_bytes());
    hdr[8..12].copy_from_slice(&flags.to_le_bytes());
    let up = ifp.flags & IFF_UP != 0;
    let oper = match (up, ifp.flags & IFF_RUNNING != 0) {
        (true, _) if ifp.iftype == IFT_LOOP => l::IF_OPER_UNKNOWN,
        (true, true) => l::IF_OPER_UP,
        _ => l::IF_OPER_DOWN,
    };
    m.raw(&hdr)
        .attr(l::IFLA_IFNAME, &cstr(&ifp.name))
        .u32(l::IFLA_TXQLEN, TXQLEN)
        .attr(l::IFLA_OPERSTATE, &[oper])
        .attr(l::IFLA_LINKMODE, &[0])
        .u32(l::IFLA_MTU, ifp.mtu);
    let lladdr = link_addr(ifp);
    if !lladdr.is_empty() {
        let brd = if ifp.iftype == IFT_LOOP { 0 } else { 0xff };
        m.attr(l::IFLA_ADDRESS, &lladdr)
            .attr(l::IFLA_BROADCAST, &vec![brd; lladdr.len()]);
    }
    let s = &ifp.stats;
    let counters = [
        s.ipackets,
        s.opackets,
        s.ibytes,
        s.obytes,
        s.ierrors,
        s.oerrors,
        s.iqdrops,
        0,
        0,
        s.collisions,
    ];
    let mut st32 = vec![0u8; LINK_STATS_N * 4];
    let mut st64 = vec![0u8; LINK_STATS64_N * 8];
    for (i, c) in counters.iter().enumerate() {
        st32[i * 4..i * 4 + 4].copy_from_slice(&(*c as u32).to_le_bytes());
        st64[i * 8..i * 8 + 8].copy_from_slice(&c.to_le_bytes());
    }
    m.attr(l::IFLA_STATS, &st32).attr(l::IFLA_STATS64, &st64);
    m
}

fn ifaddrmsg(family: i32, plen: u8, flags: u32, scope: u8, index: u32) -> [u8; IFADDRMSG_LEN] {
    let mut h = [0u8; IFADDRMSG_LEN];
    h[0] = family as u8;
    h[1] = plen;
    h[2] = flags as u8;
    h[3] = scope;
    h[4..8].copy_from_slice(&index.to_le_bytes());
    h
}

fn cacheinfo() -> Vec<u8> {
    [LIFETIME_FOREVER, LIFETIME_FOREVER, 0, 0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect()
}

/// `RTM_NEWADDR` for each IPv4 address of `ifp`, as Linux's
/// `inet_fill_ifaddr`: `IFA_ADDRESS` (the peer on a point-to-point link),
/// `IFA_LOCAL`, `IFA_BROADCAST`, `IFA_LABEL`, `IFA_FLAGS`; an address in the
/// subnet of an earlier one is `IFA_F_SECONDARY`; 127/8 has host scope.
fn v4_addr_msgs(out: &mut Vec<Msg>, new: &dyn Fn(u16) -> Msg, ifp: &IfInfo) {
    let ptp = is_ptp(ifp);
    let all: Vec<_> = v4_addrs(ifp).collect();
    for (i, (a, mask, dst)) in all.iter().enumerate() {
        let plen = in_mask2plen(*mask).unwrap_or(32);
        let m32 = u32::from(*mask);
        let secondary = all[..i]
            .iter()
            .any(|(b, bm, _)| bm == mask && u32::from(*b) & m32 == u32::from(*a) & m32);
        let flags = l::IFA_F_PERMANENT | if secondary { l::IFA_F_SECONDARY } else { 0 };
        let scope = if a.is_loopback() {
            l::RT_SCOPE_HOST
        } else {
            l::RT_SCOPE_UNIVERSE
        };
        let mut m = new(l::RTM_NEWADDR);
        m.raw(&ifaddrmsg(l::AF_INET, plen, flags, scope, ifp.index));
        let peer = if ptp { dst.unwrap_or(*a) } else { *a };
        m.attr(l::IFA_ADDRESS, &peer.octets())
            .attr(l::IFA_LOCAL, &a.octets());
        if let (false, Some(b)) = (ptp, dst) {
            m.attr(l::IFA_BROADCAST, &b.octets());
        }
        m.attr(l::IFA_LABEL, &cstr(&ifp.name))
            .u32(l::IFA_FLAGS, flags)
            .attr(l::IFA_CACHEINFO, &cacheinfo());
        out.push(m);
    }
}

fn v6(b: &[u8]) -> Option<Ipv6Addr> {
    let a: [u8; 16] = b.try_into().ok()?;
    Some(Ipv6Addr::from(a))
}

fn v6_scope(a: &Ipv6Addr) -> u8 {
    let s0 = a.segments()[0];
    if a.is_loopback() {
        l::RT_SCOPE_HOST
    } else if s0 & 0xffc0 == 0xfe80 {
        l::RT_SCOPE_LINK
    } else if s0 & 0xffc0 == 0xfec0 {
        l::RT_SCOPE_SITE
    } else {
        l::RT_SCOPE_UNIVERSE
    }
}

/// `RTM_NEWADDR` for each IPv6 address of `ifp`, as Linux's
/// `inet6_fill_ifaddr`: `IFA_ADDRESS` (with a peer: `IFA_LOCAL` is the
/// address and `IFA_ADDRESS` the peer), `IFA_CACHEINFO`, `IFA_FLAGS`; the
/// scope from the address (link-local: `RT_SCOPE_LINK`, which glibc turns
/// into `sin6_scope_id` = the interface index).
fn v6_addr_msgs(out: &mut Vec<Msg>, new: &dyn Fn(u16) -> Msg, ifp: &IfInfo) {
    for a in ifp.addrs.iter().filter(|a| a.family == in6::AF_INET6) {
        let Some(addr) = v6(&a.addr) else { continue };
        let plen = v6(&a.mask)
            .and_then(|m| in6::in6_mask2len(&m).ok())
            .unwrap_or(128);
        let mut flags = IN6_FLAGS_TABLE
            .iter()
            .filter(|(b, _)| a.flags & b != 0)
            .fold(0, |acc, (_, x)| acc | x);
        if a.flags & (in6::IN6_IFF_AUTOCONF | in6::IN6_IFF_TEMPORARY) == 0 {
            flags |= l::IFA_F_PERMANENT;
        }
        let mut m = new(l::RTM_NEWADDR);
        m.raw(&ifaddrmsg(
            l::AF_INET6,
            plen,
            flags,
            v6_scope(&addr),
            ifp.index,
        ));
        match v6(&a.dst).filter(|d| !d.is_unspecified()) {
            Some(peer) => m
                .attr(l::IFA_LOCAL, &addr.octets())
                .attr(l::IFA_ADDRESS, &peer.octets()),
            None => m.attr(l::IFA_ADDRESS, &addr.octets()),
        };
        m.attr(l::IFA_CACHEINFO, &cacheinfo())
            .u32(l::IFA_FLAGS, flags);
        out.push(m);
    }
}

fn ip_octets(a: &IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// The IPv4 source Linux names for a route out of `ifindex` to `dst/plen`:
/// the interface's first address inside the prefix.
fn prefsrc(ifs: &[IfInfo], ifindex: u32, dst: Ipv4Addr, plen: u8) -> Option<Ipv4Addr> {
    let m = vimage_abi::netinet_in::in_plen2mask(plen);
    let net = u32::from(dst) & u32::from(m);
    let ifp = ifs.iter().find(|i| i.index == ifindex)?;
    v4_addrs(ifp)
        .map(|(a, _, _)| a)
        .find(|a| u32::from(*a) & u32::from(m) == net)
}

/// `RTM_NEWROUTE` for kernel route `r`, or `None` when it is filtered out
/// (another family than `family` asks for, or a neighbour-cache entry).
/// Routes to the host's own addresses (`RTF_LOCAL`, or a host route whose
/// gateway is its destination without `RTF_GATEWAY`, as lo0's 127.0.0.1) are
/// `RTN_LOCAL` in table local, scope host; the rest are in table main:
/// through a gateway scope universe, on-link scope link (IPv6: universe, as
/// Linux), `RTF_REJECT` unreachable, `RTF_BLACKHOLE` blackhole.  Protocol:
/// `RTF_STATIC` static, `RTF_DYNAMIC` redirect, on-link kernel, else boot.
fn route_msg(mut m: Msg, r: &RouteEntryInfo, family: i32, ifs: &[IfInfo]) -> Option<Msg> {
    let (af, host_len) = match r.dst {
        IpAddr::V4(_) => (l::AF_INET, 32),
        IpAddr::V6(_) => (l::AF_INET6, 128),
    };
    if (family == l::AF_INET || family == l::AF_INET6) && family != af {
        return None;
    }
    if r.flags & (RTF_LLINFO | RTF_WASCLONED) != 0 || r.plen > host_len {
        return None;
    }
    let via = match &r.gateway {
        DumpGateway::Inet(g) if r.flags & RTF_GATEWAY != 0 => Some(*g),
        _ => None,
    };
    let local = r.flags & RTF_LOCAL != 0
        || (via.is_none()
            && r.plen == host_len
            && matches!(r.gateway, DumpGateway::Inet(g) if g == r.dst));
    let (table, ty, mut scope) = if local {
        (l::RT_TABLE_LOCAL, l::RTN_LOCAL, l::RT_SCOPE_HOST)
    } else if r.flags & RTF_BROADCAST != 0 {
        (l::RT_TABLE_LOCAL, l::RTN_BROADCAST, l::RT_SCOPE_LINK)
    } else if r.flags & RTF_BLACKHOLE != 0 {
        (l::RT_TABLE_MAIN, l::RTN_BLACKHOLE, l::RT_SCOPE_UNIVERSE)
    } else if r.flags & RTF_REJECT != 0 {
        (l::RT_TABLE_MAIN, l::RTN_UNREACHABLE, l::RT_SCOPE_UNIVERSE)
    } else if r.flags & RTF_MULTICAST != 0 {
        (l::RT_TABLE_MAIN, l::RTN_MULTICAST, l::RT_SCOPE_UNIVERSE)
    } else if via.is_some() {
        (l::RT_TABLE_MAIN, l::RTN_UNICAST, l::RT_SCOPE_UNIVERSE)
    } else {
        (l::RT_TABLE_MAIN, l::RTN_UNICAST, l::RT_SCOPE_LINK)
    };
    if af == l::AF_INET6 && !local {
        scope = l::RT_SCOPE_UNIVERSE;
    }
    let proto = if r.flags & RTF_STATIC != 0 {
        l::RTPROT_STATIC
    } else if r.flags & RTF_DYNAMIC != 0 {
        l::RTPROT_REDIRECT
    } else if via.is_none() {
        l::RTPROT_KERNEL
    } else {
        l::RTPROT_BOOT
    };
    let rtm: [u8; RTMSG_LEN] = [af as u8, r.plen, 0, 0, table, proto, scope, ty, 0, 0, 0, 0];
    m.raw(&rtm).u32(l::RTA_TABLE, u32::from(table));
    if r.plen > 0 {
        m.attr(l::RTA_DST, &ip_octets(&r.dst));
    }
    if let IpAddr::V4(d) = r.dst {
        let src = if local {
            Some(d)
        } else if via.is_none() {
            prefsrc(ifs, r.ifindex, d, r.plen)
        } else {
            None
        };
        if let Some(s) = src {
            m.attr(l::RTA_PREFSRC, &s.octets());
        }
    }
    if let Some(g) = via.filter(|g| g.is_ipv4() == r.dst.is_ipv4()) {
        m.attr(l::RTA_GATEWAY, &ip_octets(&g));
    }
    if r.ifindex != 0 {
        m.u32(l::RTA_OIF, r.ifindex);
    }
    if r.mtu != 0 {
        let mut nested = Msg(Vec::new());
        nested.u32(l::RTAX_MTU, r.mtu);
        m.attr(l::RTA_METRICS, &nested.0);
    }
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioctl::tests::sample;

    /// A request: header and payload.
    fn req(ty: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut b = ((16 + payload.len()) as u32).to_le_bytes().to_vec();
        b.extend_from_slice(&ty.to_le_bytes());
        b.extend_from_slice(&flags.to_le_bytes());
        b.extend_from_slice(&seq.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(payload);
        b.resize(align4(b.len()), 0);
        b
    }

    const DUMP: u16 = l::NLM_F_REQUEST | l::NLM_F_DUMP;

    /// (type, flags, seq, pid, payload) of a reply message.
    fn hdr(m: &[u8]) -> (u16, u16, u32, u32, &[u8]) {
        assert_eq!(u32_at(m, 0).unwrap() as usize, m.len());
        assert_eq!(m.len() % 4, 0);
        (
            u16_at(m, 4).unwrap(),
            u16_at(m, 6).unwrap(),
            u32_at(m, 8).unwrap(),
            u32_at(m, 12).unwrap(),
            &m[16..],
        )
    }

    /// The attributes after a fixed header of `skip` bytes.
    fn attrs(mut b: &[u8]) -> Vec<(u16, Vec<u8>)> {
        let mut v = Vec::new();
        while b.len() >= 4 {
            let len = usize::from(u16_at(b, 0).unwrap());
            assert!(len >= 4 && len <= b.len());
            v.push((u16_at(b, 2).unwrap(), b[4..len].to_vec()));
            b = &b[align4(len).min(b.len())..];
        }
        v
    }

    fn attr(a: &[(u16, Vec<u8>)], ty: u16) -> Option<Vec<u8>> {
        a.iter().find(|(t, _)| *t == ty).map(|(_, d)| d.clone())
    }

    #[test]
    fn getlink_dump_like_glibc() {
        // glibc __netlink_request: RTM_GETLINK, NLM_F_REQUEST|NLM_F_DUMP, rtgenmsg AF_UNSPEC.
        let ifs = sample();
        let out = respond(
            &req(l::RTM_GETLINK, DUMP, 77, &[0, 0, 0, 0]),
            &ifs,
            &[],
            4242,
        );
        assert_eq!(out.len(), ifs.len() + 1);
        for (m, ifp) in out.iter().zip(&ifs) {
            let (ty, fl, seq, pid, p) = hdr(m);
            assert_eq!((ty, fl, seq, pid), (16, 2, 77, 4242));
            assert_eq!(u32_at(p, 4), Some(ifp.index));
            let a = attrs(&p[16..]);
            assert_eq!(attr(&a, l::IFLA_IFNAME), Some(cstr(&ifp.name)));
            assert_eq!(attr(&a, l::IFLA_MTU), Some(ifp.mtu.to_le_bytes().to_vec()));
            assert_eq!(attr(&a, l::IFLA_STATS).map(|s| s.len()), Some(96));
            assert_eq!(attr(&a, l::IFLA_STATS64).map(|s| s.len()), Some(200));
        }
        let eth = &out[1][16..];
        assert_eq!(u16_at(eth, 2), Some(1)); // ARPHRD_ETHER
        assert_eq!(u32_at(eth, 8), Some(0x1_1043));
        let a = attrs(&eth[16..]);
        assert_eq!(
            attr(&a, l::IFLA_ADDRESS),
            Some(vec![0x40, 0, 0xaa, 0xaa, 0, 3])
        );
        assert_eq!(attr(&a, l::IFLA_BROADCAST), Some(vec![0xff; 6]));
        assert_eq!(attr(&a, l::IFLA_OPERSTATE), Some(vec![6]));
        let st = attr(&a, l::IFLA_STATS).unwrap();
        assert_eq!(u32_at(&st, 0), Some(12)); // rx_packets
        assert_eq!(u32_at(&st, 12), Some(686)); // tx_bytes
        let lo = &out[0][16..];
        assert_eq!(u16_at(lo, 2), Some(772));
        let a = attrs(&lo[16..]);
        assert_eq!(attr(&a, l::IFLA_ADDRESS), Some(vec![0; 6]));
        assert_eq!(attr(&a, l::IFLA_OPERSTATE), Some(vec![0]));
        let ng = &out[2][16..];
        assert_eq!(u16_at(ng, 2), Some(0xfffe));
        assert_eq!(attr(&attrs(&ng[16..]), l::IFLA_ADDRESS), None);
        let (ty, fl, seq, pid, p) = hdr(&out[3]);
        assert_eq!((ty, fl, seq, pid, p), (3, 2, 77, 4242, &[0u8; 4][..]));
    }

    #[test]
    fn getlink_one() {
        let ifs = sample();
        let mut ifi = [0u8; 16];
        ifi[4..8].copy_from_slice(&2i32.to_le_bytes());
        let out = respond(
            &req(l::RTM_GETLINK, l::NLM_F_REQUEST, 5, &ifi),
            &ifs,
            &[],
            9,
        );
        assert_eq!(out.len(), 1);
        let (ty, fl, _, _, p) = hdr(&out[0]);
        assert_eq!((ty, fl, u32_at(p, 4)), (16, 0, Some(2)));
        // By name, with an ack.
        let mut by_name = [0u8; 16].to_vec();
        by_name.extend_from_slice(&[8, 0, 3, 0, b'n', b'g', b'0', 0]);
        let out = respond(
            &req(l::RTM_GETLINK, l::NLM_F_REQUEST | l::NLM_F_ACK, 6, &by_name),
            &ifs,
            &[],
            9,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(u32_at(&out[0], 16 + 4), Some(3));
        let (ty, fl, seq, _, p) = hdr(&out[1]);
        assert_eq!((ty, fl, seq), (2, l::NLM_F_CAPPED, 6));
        assert_eq!(&p[..4], &0i32.to_le_bytes());
        assert_eq!(p.len(), 4 + 16);
        // Unknown index and name: ENODEV; neither: EINVAL.
        ifi[4] = 9;
        let out = respond(
            &req(l::RTM_GETLINK, l::NLM_F_REQUEST, 7, &ifi),
            &ifs,
            &[],
            9,
        );
        assert_eq!(&hdr(&out[0]).4[..4], &(-19i32).to_le_bytes());
        let out = respond(
            &req(l::RTM_GETLINK, l::NLM_F_REQUEST, 7, &[0; 16]),
            &ifs,
            &[],
            9,
        );
        assert_eq!(&hdr(&out[0]).4[..4], &(-22i32).to_le_bytes());
    }

    #[test]
    fn getaddr_dump_like_glibc() {
        let ifs = sample();
        let out = respond(&req(l::RTM_GETADDR, DUMP, 78, &[0, 0, 0, 0]), &ifs, &[], 1);
        // lo0: 127.0.0.1, ::1; eth0: two IPv4, one IPv6; ng0: one IPv4; DONE.
        assert_eq!(out.len(), 7);
        let msgs: Vec<_> = out.iter().map(|m| hdr(m)).collect();
        assert!(msgs[..6].iter().all(|h| (h.0, h.1, h.2) == (20, 2, 78)));
        assert_eq!(msgs[6].0, l::NLMSG_DONE);
        // lo0 127.0.0.1/8, scope host.
        let p = msgs[0].4;
        assert_eq!(&p[..8], &[2, 8, 0x80, 254, 1, 0, 0, 0]);
        let a = attrs(&p[8..]);
        assert_eq!(attr(&a, l::IFA_LOCAL), Some(vec![127, 0, 0, 1]));
        assert_eq!(attr(&a, l::IFA_LABEL), Some(b"lo0\0".to_vec()));
        // ::1/128, scope host.
        assert_eq!(&msgs[1].4[..4], &[10, 128, 0x80, 254]);
        // eth0 10.0.0.20/24 with broadcast; 10.0.0.21 secondary.
        let p = msgs[2].4;
        assert_eq!(&p[..8], &[2, 24, 0x80, 0, 2, 0, 0, 0]);
        let a = attrs(&p[8..]);
        assert_eq!(attr(&a, l::IFA_ADDRESS), Some(vec![10, 0, 0, 20]));
        assert_eq!(attr(&a, l::IFA_BROADCAST), Some(vec![10, 0, 0, 255]));
        assert_eq!(attr(&a, l::IFA_FLAGS), Some(0x80u32.to_le_bytes().to_vec()));
        assert_eq!(msgs[3].4[2], 0x81);
        // fe80::…/64 on eth0, scope link.
        let p = msgs[4].4;
        assert_eq!(&p[..8], &[10, 64, 0x80, 253, 2, 0, 0, 0]);
        let a = attrs(&p[8..]);
        let ll: Ipv6Addr = "fe80::4200:aaff:feaa:3".parse().unwrap();
        assert_eq!(attr(&a, l::IFA_ADDRESS), Some(ll.octets().to_vec()));
        assert_eq!(attr(&a, l::IFA_LOCAL), None);
        assert_eq!(attr(&a, l::IFA_CACHEINFO).map(|c| c.len()), Some(16));
        // ng0: point to point, IFA_ADDRESS is the peer, no broadcast.
        let a = attrs(&msgs[5].4[8..]);
        assert_eq!(attr(&a, l::IFA_ADDRESS), Some(vec![10, 9, 0, 2]));
        assert_eq!(attr(&a, l::IFA_LOCAL), Some(vec![10, 9, 0, 1]));
        assert_eq!(attr(&a, l::IFA_BROADCAST), None);
        assert_eq!(msgs[5].4[1], 32);
        // Family filters.
        let v4 = respond(&req(l::RTM_GETADDR, DUMP, 1, &[2]), &ifs, &[], 1);
        assert_eq!(v4.len(), 5);
        let v6 = respond(&req(l::RTM_GETADDR, DUMP, 1, &[10]), &ifs, &[], 1);
        assert_eq!(v6.len(), 3);
        let packet = respond(&req(l::RTM_GETADDR, DUMP, 1, &[17]), &ifs, &[], 1);
        assert_eq!(packet.len(), 7);
    }

    #[test]
    fn ipv6_address_flags() {
        let mut ifs = sample();
        ifs[1].addrs[2].flags = in6::IN6_IFF_TENTATIVE | in6::IN6_IFF_AUTOCONF;
        let out = respond(&req(l::RTM_GETADDR, DUMP, 1, &[10]), &ifs, &[], 1);
        assert_eq!(hdr(&out[1]).4[2], 0x40);
        for (b, x) in IN6_FLAGS_TABLE {
            ifs[1].addrs[2].flags = *b;
            let out = respond(&req(l::RTM_GETADDR, DUMP, 1, &[10]), &ifs, &[], 1);
            let a = attrs(&hdr(&out[1]).4[8..]);
            let f = u32_at(&attr(&a, l::IFA_FLAGS).unwrap(), 0).unwrap();
            assert_eq!(f & x, *x, "{b:#x}");
        }
    }

    #[test]
    fn getroute_dump() {
        let ifs = sample();
        let routes = vec![
            RouteEntryInfo {
                dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                plen: 0,
                gateway: DumpGateway::Inet(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
                ifindex: 2,
                ifname: "eth0".into(),
                flags: 0x1 | RTF_GATEWAY | RTF_STATIC,
                refs: 0,
                used: 0,
                expire: 0,
                mtu: 0,
            },
            RouteEntryInfo {
                dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)),
                plen: 24,
                gateway: DumpGateway::Link(2),
                ifindex: 2,
                ifname: "eth0".into(),
                flags: 0x1 | 0x100,
                refs: 0,
                used: 0,
                expire: 0,
                mtu: 1400,
            },
            RouteEntryInfo {
                dst: IpAddr::V4(Ipv4Addr::LOCALHOST),
                plen: 32,
                gateway: DumpGateway::Inet(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                ifindex: 1,
                ifname: "lo0".into(),
                flags: 0x1 | 0x4,
                refs: 0,
                used: 0,
                expire: 0,
                mtu: 0,
            },
            RouteEntryInfo {
                dst: IpAddr::V6("fe80::".parse().unwrap()),
                plen: 64,
                gateway: DumpGateway::Link(2),
                ifindex: 2,
                ifname: "eth0".into(),
                flags: 0x1,
                refs: 0,
                used: 0,
                expire: 0,
                mtu: 0,
            },
        ];
        let out = respond(&req(l::RTM_GETROUTE, DUMP, 3, &[0; 12]), &ifs, &routes, 1);
        assert_eq!(out.len(), 5);
        // default via 10.0.0.1 dev eth0 proto static.
        let p = hdr(&out[0]).4;
        assert_eq!(&p[..12], &[2, 0, 0, 0, 254, 4, 0, 1, 0, 0, 0, 0]);
        let a = attrs(&p[12..]);
        assert_eq!(attr(&a, l::RTA_GATEWAY), Some(vec![10, 0, 0, 1]));
        assert_eq!(attr(&a, l::RTA_OIF), Some(2u32.to_le_bytes().to_vec()));
        assert_eq!(attr(&a, l::RTA_DST), None);
        // 10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.20 mtu 1400.
        let p = hdr(&out[1]).4;
        assert_eq!(&p[..8], &[2, 24, 0, 0, 254, 2, 253, 1]);
        let a = attrs(&p[12..]);
        assert_eq!(attr(&a, l::RTA_DST), Some(vec![10, 0, 0, 0]));
        assert_eq!(attr(&a, l::RTA_PREFSRC), Some(vec![10, 0, 0, 20]));
        assert_eq!(attr(&a, l::RTA_GATEWAY), None);
        let met = attr(&a, l::RTA_METRICS).unwrap();
        assert_eq!(met, [8, 0, 2, 0, 0x78, 5, 0, 0]);
        // local 127.0.0.1 dev lo0 table local scope host.
        let p = hdr(&out[2]).4;
        assert_eq!(&p[..8], &[2, 32, 0, 0, 255, 2, 254, 2]);
        // fe80::/64: IPv6 scope universe.
        let p = hdr(&out[3]).4;
        assert_eq!(&p[..8], &[10, 64, 0, 0, 254, 2, 0, 1]);
        assert_eq!(hdr(&out[4]).0, l::NLMSG_DONE);
        let v6 = respond(&req(l::RTM_GETROUTE, DUMP, 3, &[10]), &ifs, &routes, 1);
        assert_eq!(v6.len(), 2);
    }

    #[test]
    fn refusals_acks_and_garbage() {
        let ifs = sample();
        // RTM_NEWADDR: EOPNOTSUPP with the request appended.
        let r = req(
            l::RTM_NEWADDR,
            l::NLM_F_REQUEST | l::NLM_F_ACK,
            9,
            &[2, 24, 0, 0, 2, 0, 0, 0],
        );
        let out = respond(&r, &ifs, &[], 5);
        assert_eq!(out.len(), 1);
        let (ty, fl, seq, pid, p) = hdr(&out[0]);
        assert_eq!((ty, fl, seq, pid), (2, 0, 9, 5));
        assert_eq!(&p[..4], &(-95i32).to_le_bytes());
        assert_eq!(&p[4..], &r[..]);
        // Non-dump RTM_GETADDR, RTM_GETROUTE and unknown types.
        for ty in [l::RTM_GETADDR, l::RTM_GETROUTE, 30, 100, 0xffff] {
            let out = respond(&req(ty, l::NLM_F_REQUEST, 1, &[0; 8]), &ifs, &[], 5);
            assert_eq!(&hdr(&out[0]).4[..4], &(-95i32).to_le_bytes(), "{ty}");
        }
        // No NLM_F_REQUEST, a control type, an empty payload: only acks if asked.
        assert!(respond(&req(l::RTM_GETLINK, l::NLM_F_DUMP, 1, &[0]), &ifs, &[], 5).is_empty());
        let out = respond(
            &req(l::NLMSG_NOOP, l::NLM_F_REQUEST | l::NLM_F_ACK, 4, &[]),
            &ifs,
            &[],
            5,
        );
        assert_eq!(&hdr(&out[0]).4[..4], &[0; 4]);
        let out = respond(
            &req(l::RTM_GETLINK, DUMP | l::NLM_F_ACK, 4, &[]),
            &ifs,
            &[],
            5,
        );
        assert_eq!(out.len(), 1);
        // A dump with NLM_F_ACK: no separate ack.
        let out = respond(
            &req(l::RTM_GETLINK, DUMP | l::NLM_F_ACK, 4, &[0]),
            &ifs,
            &[],
            5,
        );
        assert_eq!(out.len(), 4);
        // Two requests in one datagram, then junk.
        let mut two = req(l::RTM_GETLINK, DUMP, 1, &[0]);
        two.extend(req(l::RTM_GETADDR, DUMP, 2, &[2]));
        two.extend_from_slice(&[0xff; 7]);
        let out = respond(&two, &ifs, &[], 5);
        assert_eq!(out.len(), 4 + 5);
        assert_eq!(hdr(&out[8]).2, 2);
        // Lengths that lie.
        let mut bad = req(l::RTM_GETLINK, DUMP, 1, &[0]);
        bad[0] = 200;
        assert!(respond(&bad, &ifs, &[], 5).is_empty());
        bad[0] = 3;
        assert!(respond(&bad, &ifs, &[], 5).is_empty());
        assert!(respond(&[], &ifs, &[], 5).is_empty());
    }

    #[test]
    fn message_walk_and_refusal() {
        let ifs = sample();
        let mut two = req(l::RTM_GETLINK, DUMP, 1, &[0]);
        let first = two.len();
        two.extend(req(l::RTM_GETADDR, DUMP | l::NLM_F_ACK, 2, &[2]));
        two.extend_from_slice(&[1, 2, 3]);
        let v: Vec<&[u8]> = messages(&two).collect();
        assert_eq!(v.len(), 2);
        // Each as long as its nlmsg_len (17), the next 4-byte aligned.
        assert_eq!(v[0], &two[..17]);
        assert_eq!(v[1], &two[first..first + 17]);
        // A message cut short, or claiming less than a header: the walk ends.
        assert_eq!(messages(&two[..first + 10]).count(), 1);
        let mut bad = two.clone();
        bad[first] = 4;
        assert_eq!(messages(&bad).count(), 1);
        assert_eq!(messages(&[0u8; 15]).count(), 0);
        // Messages answered one at a time give what the whole datagram gives.
        let whole = respond(&two, &ifs, &[], 7);
        let each: Vec<Vec<u8>> = messages(&two)
            .flat_map(|m| respond(m, &ifs, &[], 7))
            .collect();
        assert_eq!(whole, each);
        // refuse: each served request gets the error with itself appended;
        // a control message with NLM_F_ACK is still acked.
        let mut three = two.clone();
        three.truncate(first + 20);
        three.extend(req(l::NLMSG_NOOP, l::NLM_F_REQUEST | l::NLM_F_ACK, 3, &[]));
        let out = refuse(&three, 7, l::ENODEV);
        assert_eq!(out.len(), 3);
        for (m, seq) in out.iter().zip(1..) {
            let (ty, _, s, pid, p) = hdr(m);
            assert_eq!((ty, s, pid), (l::NLMSG_ERROR, seq, 7));
            let want = if seq == 3 { 0 } else { -l::ENODEV };
            assert_eq!(&p[..4], &want.to_le_bytes());
        }
        assert_eq!(&hdr(&out[0]).4[4..], &two[..first]);
        assert!(refuse(&[0xff; 64], 7, l::EIO).is_empty());
    }

    #[test]
    fn batching() {
        let ifs = sample();
        let out = respond(&req(l::RTM_GETADDR, DUMP, 1, &[0]), &ifs, &[], 1);
        let total: usize = out.iter().map(Vec::len).sum();
        assert_eq!(batch(&out, usize::MAX), vec![out.concat()]);
        let small = batch(&out, 1);
        assert_eq!(small, out);
        let mid = batch(&out, 200);
        assert!(mid.iter().all(|d| d.len() <= 200));
        assert_eq!(mid.iter().map(Vec::len).sum::<usize>(), total);
        assert!(batch(&[], 10).is_empty());
    }
}
