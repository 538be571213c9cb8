//! TCP support routines (FreeBSD's sys/netinet/tcp_subr.c): the connection
//! table shared by IPv4 and IPv6, initial sequence numbers, `tcp_respond`,
//! segment emission through `ip_output`/`ip6_output`, `tcp_close`/`tcp_drop`.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use vimage_abi::Errno;

use super::ip::IPPROTO_TCP;
use super::ip_output::{ip_output, ip_prepend};
use super::ip_var::inc;
use super::tcp::{TcpPacket, TcpRepr, TH_ACK, TH_RST};
use super::tcp_var::{
    try_vnet_tcp, vnet_tcp, TcpEndpoints, TcpState, Tcpcb, TcpcbRef, TF_NOFDREF, TT_NTIMERS,
};
#[cfg(feature = "inet6")]
use crate::netinet6::ip6_output::{ip6_build, ip6_output, Ip6OutOpts};
use vimage_kern::kern_timeout::getnow_ns;
use vimage_net::mbuf::{Mbuf, CSUM_DELAY_DATA, CSUM_TSO, MBUF_HEADROOM};

struct Ent {
    ep: TcpEndpoints,
    /// An AF_INET6 block bound to the IPv6 wildcard with `IPV6_V6ONLY` off:
    /// it also holds the port for IPv4 (`INP_IPV4 | INP_IPV6`).
    dual: bool,
    cb: TcpcbRef,
}

/// The IPv4 part of a binding: its IPv4 address, or the IPv4 wildcard for an
/// IPv6 wildcard open to IPv4-mapped traffic.
fn v4_part(ep: &TcpEndpoints, dual: bool) -> Option<IpAddr> {
    match ep.laddr {
        IpAddr::V4(_) => Some(ep.laddr),
        IpAddr::V6(a) if dual && a.is_unspecified() => Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        IpAddr::V6(_) => None,
    }
}

/// The IPv6 part of a binding.
fn v6_part(ep: &TcpEndpoints) -> Option<IpAddr> {
    ep.laddr.is_ipv6().then_some(ep.laddr)
}

/// Whether two local addresses of one family overlap (either a wildcard).
fn overlap(a: Option<IpAddr>, b: Option<IpAddr>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => unspec(x) || unspec(y) || x == y,
        _ => false,
    }
}

/// A connection's four-tuple (`in_pcbhash` of a connected block).
type Tuple = (IpAddr, u16, IpAddr, u16);

/// Where a block is found by [`TcpTable::lookup`]: connected blocks by their
/// four-tuple, bound unconnected ones (listeners) by their local port, so a
/// segment never walks the vnet's other connections (a busy server's
/// thousands of TIME_WAIT blocks).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Conn(Tuple),
    Bound(u16),
    Nowhere,
}

fn slot_of(ep: &TcpEndpoints) -> Slot {
    if !unspec(ep.faddr) {
        Slot::Conn((ep.laddr, ep.lport, ep.faddr, ep.fport))
    } else if ep.lport != 0 {
        Slot::Bound(ep.lport)
    } else {
        Slot::Nowhere
    }
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    /// Every block, in creation order.
    all: BTreeMap<u64, Ent>,
    conns: HashMap<Tuple, u64>,
    bound: HashMap<u16, Vec<u64>>,
    /// Every block holding a local port, connected or not, by that port:
    /// what a bind checks, so finding a free ephemeral port costs O(1)
    /// expected per candidate instead of a walk of every block.
    by_port: HashMap<u16, Vec<u64>>,
    lastport: u16,
}

impl Inner {
    fn unindex(&mut self, id: u64, ep: &TcpEndpoints) {
        if ep.lport != 0 {
            if let Some(v) = self.by_port.get_mut(&ep.lport) {
                v.retain(|x| *x != id);
                if v.is_empty() {
                    self.by_port.remove(&ep.lport);
                }
            }
        }
        match slot_of(ep) {
            Slot::Conn(t) => {
                if self.conns.get(&t) == Some(&id) {
                    self.conns.remove(&t);
                }
            }
            Slot::Bound(p) => {
                if let Some(v) = self.bound.get_mut(&p) {
                    v.retain(|x| *x != id);
                    if v.is_empty() {
                        self.bound.remove(&p);
                    }
                }
            }
            Slot::Nowhere => {}
        }
    }

    fn index(&mut self, id: u64, ep: &TcpEndpoints) {
        if ep.lport != 0 {
            self.by_port.entry(ep.lport).or_default().push(id);
        }
        match slot_of(ep) {
            Slot::Conn(t) => {
                self.conns.insert(t, id);
            }
            Slot::Bound(p) => self.bound.entry(p).or_default().push(id),
            Slot::Nowhere => {}
        }
    }

    /// Give block `id` endpoints `ep` (and `dual`), keeping the indexes.
    fn set(&mut self, id: u64, ep: TcpEndpoints, dual: Option<bool>) {
        let Some(old) = self.all.get(&id).map(|e| e.ep) else {
            return;
        };
        if slot_of(&old) != slot_of(&ep) {
            self.unindex(id, &old);
            self.index(id, &ep);
        }
        if let Some(e) = self.all.get_mut(&id) {
            e.ep = ep;
            if let Some(d) = dual {
                e.dual = d;
            }
        }
    }
}

/// `tcbinfo`: every TCP control block of a vnet, IPv4 and IPv6 in one port
/// space.
#[derive(Default)]
pub struct TcpTable {
    inner: Mutex<Inner>,
}

fn unspec(a: IpAddr) -> bool {
    a.is_unspecified()
}

impl TcpTable {
    /// Enter `cb` with endpoints `ep`; its id.
    pub fn insert(&self, ep: TcpEndpoints, cb: TcpcbRef) -> u64 {
        let Ok(mut g) = self.inner.lock() else {
            return 0;
        };
        g.next_id += 1;
        let id = g.next_id;
        g.all.insert(
            id,
            Ent {
                ep,
                dual: false,
                cb,
            },
        );
        g.index(id, &ep);
        id
    }

    /// Forget block `id`.
    pub fn remove(&self, id: u64) {
        if let Ok(mut g) = self.inner.lock() {
            if let Some(e) = g.all.remove(&id) {
                g.unindex(id, &e.ep);
            }
        }
    }

    /// Update block `id`'s endpoints.
    pub fn set_endpoints(&self, id: u64, ep: TcpEndpoints) {
        if let Ok(mut g) = self.inner.lock() {
            g.set(id, ep, None);
        }
    }

    /// `in_pcbbind`: a local port for `ep` (ephemeral from `first..=last` when
    /// `ep.lport` is 0).  `EADDRINUSE` when another block holds it on an
    /// overlapping address of the same family (unless `reuse` and the other is
    /// not listening), `EADDRNOTAVAIL` when the range is exhausted.  `dual`:
    /// an IPv6 wildcard that also takes IPv4-mapped traffic, so it holds the
    /// port for IPv4 as well.
    pub fn bind_port(
        &self,
        id: u64,
        ep: TcpEndpoints,
        first: u16,
        last: u16,
        reuse: bool,
        dual: bool,
    ) -> Result<u16, Errno> {
        let mut g = self.inner.lock().map_err(|_| Errno::EDOOFUS)?;
        let (my4, my6) = (v4_part(&ep, dual), v6_part(&ep));
        // As `in_pcbbind_setup`: with SO_REUSEADDR only an unconnected block
        // on exactly the same address collides (not a TIME_WAIT connection,
        // nor a listener on the wildcard when a specific address is asked).
        let conflicts = |g: &Inner, port: u16, exact: bool| {
            let Some(ids) = g.by_port.get(&port) else {
                return false;
            };
            ids.iter()
                .filter_map(|oid| Some((oid, g.all.get(oid)?)))
                .any(|(oid, o)| {
                    let (o4, o6) = (v4_part(&o.ep, o.dual), v6_part(&o.ep));
                    *oid != id
                        && o.ep.lport == port
                        && if exact {
                            unspec(o.ep.faddr)
                                && ((my4.is_some() && o4 == my4) || (my6.is_some() && o6 == my6))
                        } else {
                            overlap(o4, my4) || overlap(o6, my6)
                        }
                })
        };
        let port = if ep.lport != 0 {
            if conflicts(&g, ep.lport, reuse) {
                return Err(Errno::EADDRINUSE);
            }
            ep.lport
        } else {
            let (lo, hi) = if first <= last {
                (first, last)
            } else {
                (last, first)
            };
            let n = u32::from(hi - lo) + 1;
            let mut p = g.lastport;
            let mut found = None;
            for _ in 0..n {
                p = if p < lo || p >= hi { lo } else { p + 1 };
                if !conflicts(&g, p, false) {
                    found = Some(p);
                    break;
                }
            }
            let p = found.ok_or(Errno::EADDRNOTAVAIL)?;
            g.lastport = p;
            p
        };
        g.set(id, TcpEndpoints { lport: port, ..ep }, Some(dual));
        Ok(port)
    }

    /// Whether a connected block already uses this exact four-tuple.
    pub fn tuple_in_use(&self, ep: &TcpEndpoints) -> bool {
        self.inner
            .lock()
            .map(|g| {
                g.conns
                    .contains_key(&(ep.laddr, ep.lport, ep.faddr, ep.fport))
            })
            .unwrap_or(false)
    }

    /// `in_pcblookup_hash` with wildcard: the connection for a segment from
    /// `faddr:fport` to `laddr:lport`, else the most specific listener (for
    /// IPv4, an IPv4 wildcard before an IPv6 one open to mapped traffic).
    pub fn lookup(&self, laddr: IpAddr, lport: u16, faddr: IpAddr, fport: u16) -> Option<TcpcbRef> {
        let g = self.inner.lock().ok()?;
        if let Some(e) = g
            .conns
            .get(&(laddr, lport, faddr, fport))
            .and_then(|id| g.all.get(id))
        {
            return Some(e.cb.clone());
        }
        let v4 = laddr.is_ipv4();
        let mut best: Option<(u32, &Ent)> = None;
        for e in g.bound.get(&lport)?.iter().filter_map(|id| g.all.get(id)) {
            let native = e.ep.laddr.is_ipv4() == v4;
            if !(native || (v4 && e.dual && unspec(e.ep.laddr))) {
                continue;
            }
            let mut score = u32::from(native);
            if !unspec(e.ep.laddr) {
                if e.ep.laddr != laddr {
                    continue;
                }
                score += 2;
            }
            if best.as_ref().is_none_or(|(s, _)| score > *s) {
                best = Some((score, e));
            }
        }
        best.map(|(_, e)| e.cb.clone())
    }

    /// Every block with its endpoints, in creation order.
    pub fn list(&self) -> Vec<(TcpEndpoints, TcpcbRef)> {
        self.inner
            .lock()
            .map(|g| g.all.values().map(|e| (e.ep, e.cb.clone())).collect())
            .unwrap_or_default()
    }

    /// The vnet goes away: wake every socket for good and forget the blocks.
    pub fn shutdown(&self) {
        let all: Vec<TcpcbRef> = match self.inner.lock() {
            Ok(mut g) => {
                g.conns.clear();
                g.bound.clear();
                g.by_port.clear();
                std::mem::take(&mut g.all)
                    .into_values()
                    .map(|e| e.cb)
                    .collect()
            }
            Err(_) => Vec::new(),
        };
        for cb in all {
            if let Ok(mut tp) = cb.lock() {
                tp.state = TcpState::Closed;
                tp.timers = [None; TT_NTIMERS];
                tp.listen = None;
                tp.rcv.cantrcvmore();
                tp.wake.wakeup();
            }
        }
    }
}

/// `tcp_new_isn`: the initial sequence number of a connection with
/// endpoints `ep`, as RFC 6528 has it: ISN = M + F(localip, localport,
/// remoteip, remoteport, secretkey), M a 4 µs timer and F SipHash-2-4 keyed
/// with the vnet's secret.  Another vimage (or an off-path host) that sees
/// its own connections' numbers learns nothing about this one's.
pub fn tcp_new_isn(ep: &TcpEndpoints) -> u32 {
    use std::hash::Hasher;
    let t = vnet_tcp();
    #[allow(deprecated)] // std's SipHasher is SipHash-2-4, as RFC 6528 suggests.
    let mut h = std::hash::SipHasher::new_with_keys(t.isn_secret.0, t.isn_secret.1);
    let bytes = |a: IpAddr| match a {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    };
    h.write(&bytes(ep.laddr));
    h.write_u16(ep.lport);
    h.write(&bytes(ep.faddr));
    h.write_u16(ep.fport);
    (h.finish() as u32).wrapping_add((getnow_ns() / 4000) as u32)
}

/// One segment to emit.
pub struct SegOut<'a> {
    /// Endpoints (local is the source).
    pub ep: &'a TcpEndpoints,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Flags.
    pub flags: u8,
    /// Window field.
    pub win: u16,
    /// Options (at most 40 bytes).
    pub opts: &'a [u8],
    /// Data.
    pub data: &'a [u8],
    /// Data bytes per segment when this is a TSO segment longer than that
    /// (`CSUM_TSO`), else 0.
    pub tso_segsz: u16,
}

/// Build the segment and hand it to `ip_output` / `ip6_output`.
pub fn tcp_emit(s: &SegOut<'_>) -> Result<(), Errno> {
    tcp_emit_with(s, s.data.len(), |b| b.extend_from_slice(s.data))
}

/// [`tcp_emit`] with `len` bytes of data that `fill` appends straight to the
/// packet (from the send buffer, `m_copydata`; never zero-filled first): over
/// IPv4 the segment is built in place behind headroom for the IP header, and
/// its checksum is left to `ip_output` (`CSUM_TCP`), which skips it on
/// loopback.
pub fn tcp_emit_with(
    s: &SegOut<'_>,
    len: usize,
    fill: impl FnOnce(&mut Vec<u8>),
) -> Result<(), Errno> {
    let repr = TcpRepr {
        src_port: s.ep.lport,
        dst_port: s.ep.fport,
        seq: s.seq,
        ack: s.ack,
        flags: s.flags,
        window: s.win,
        urgent: 0,
        options: s.opts,
        payload_len: len,
    };
    let hl = repr.header_len();
    if let Some(t) = try_vnet_tcp() {
        inc(&t.stat.tcps_sndtotal);
    }
    match (s.ep.laddr, s.ep.faddr) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let mut b = Vec::with_capacity(MBUF_HEADROOM + hl + len);
            b.resize(MBUF_HEADROOM + hl, 0);
            fill(&mut b);
            b.resize(MBUF_HEADROOM + hl + len, 0);
            let mut m = Mbuf::from_vec_at(b, MBUF_HEADROOM);
            repr.emit_header(&mut TcpPacket::new_unchecked(m.data_mut()));
            m.csum_flags |= CSUM_DELAY_DATA;
            m.csum_data = TCP_CSUM_OFF;
            if s.tso_segsz != 0 && len > usize::from(s.tso_segsz) {
                m.csum_flags |= CSUM_TSO;
                m.tso_segsz = s.tso_segsz;
            }
            let ttl = super::vnet_inet().defttl();
            ip_output(ip_prepend(m, src, dst, IPPROTO_TCP, ttl, 0), 0)
        }
        #[cfg(feature = "inet6")]
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            let mut b = Vec::with_capacity(repr.buffer_len());
            b.resize(hl, 0);
            fill(&mut b);
            b.resize(hl + len, 0);
            let ph = super::ip::PseudoHdr::V6 { src, dst };
            repr.emit(&mut TcpPacket::new_unchecked(&mut b[..]), &ph);
            let hlim = crate::netinet6::in6::try_vnet_inet6()
                .map(|s| s.defhlim())
                .unwrap_or(64);
            let opts = Ip6OutOpts {
                scope: s.ep.zone,
                dontfrag: false,
            };
            ip6_output(ip6_build(src, dst, IPPROTO_TCP, hlim, &b), &opts)
        }
        _ => Err(Errno::EAFNOSUPPORT),
    }
}

/// `tcp_maxmtu`/`tcp_maxmtu6`: the MTU of curvnet's route to the foreign
/// address, if it has one.
pub fn tcp_maxmtu(ep: &TcpEndpoints) -> Option<u32> {
    match ep.faddr {
        IpAddr::V4(a) => super::ip_output::ip_pathmtu(a).map(|(mtu, _)| mtu),
        #[cfg(feature = "inet6")]
        IpAddr::V6(a) => crate::netinet6::in6::in6_route(&a, ep.zone)
            .ok()
            .map(|r| r.mtu),
        #[cfg(not(feature = "inet6"))]
        IpAddr::V6(_) => None,
    }
}

/// Whether a connection towards `ep`'s foreign address may send TSO segments
/// (`tcp_mss` setting `TF_TSO`): IPv4, `net.inet.tcp.tso` on, and the route's
/// interface offering `CSUM_TSO`.
pub fn tcp_tso_ok(ep: &TcpEndpoints) -> bool {
    let IpAddr::V4(a) = ep.faddr else {
        return false;
    };
    if vnet_tcp().tso.load(Ordering::Relaxed) == 0 {
        return false;
    }
    super::ip_output::ip_pathmtu(a).is_some_and(|(_, hw)| hw & CSUM_TSO != 0)
}

/// `tcp_mssopt`: the MSS to offer towards `ep`'s foreign address, and to start
/// from: the route's MTU less the IP and TCP headers (16344 over lo0, 1460 over
/// Ethernet); `net.inet.tcp.mssdflt` (`v6mssdflt` for IPv6) without a route.
pub fn tcp_mssopt(ep: &TcpEndpoints) -> u32 {
    let v6 = ep.faddr.is_ipv6();
    let protoh = if v6 { 60 } else { 40 };
    match tcp_maxmtu(ep) {
        Some(mtu) if mtu >= protoh + 64 => (mtu - protoh).min(65535),
        _ => {
            let t = vnet_tcp();
            let d = if v6 { &t.v6mssdflt } else { &t.mssdflt };
            d.load(Ordering::Relaxed).clamp(64, 65535) as u32
        }
    }
}

/// Offset of the checksum field in the TCP header (`th_sum`).
const TCP_CSUM_OFF: u32 = 16;

/// An ICMP error about a segment we sent (`tcp_ctlinput` / `tcp_notify`).
/// The quoted sequence number must lie in what is in flight (a blind forger
/// does not know it).  An established connection ignores unreachables (routes
/// come back); one still connecting remembers the error (`t_softerror`, what a
/// timeout then reports instead of `ETIMEDOUT`), and gives up at once with it
/// when a second error arrives after several retransmissions.
pub fn tcp_ctlinput(ty: u8, code: u8, q: &super::ip_icmp::IcmpQuote<'_>) {
    use super::ip_icmp::*;
    if q.protocol != IPPROTO_TCP || q.data.len() < 8 {
        return;
    }
    let error = match (ty, code) {
        // Path MTU discovery is not done: routers fragment for us.
        (ICMP_UNREACH, ICMP_UNREACH_NEEDFRAG) => return,
        (ICMP_UNREACH, ICMP_UNREACH_PROTOCOL | ICMP_UNREACH_PORT) => Errno::ECONNREFUSED,
        (ICMP_UNREACH, _) | (ICMP_TIMXCEED, _) => Errno::EHOSTUNREACH,
        (ICMP_PARAMPROB, _) => Errno::ENOPROTOOPT,
        _ => return,
    };
    let sport = u16::from_be_bytes([q.data[0], q.data[1]]);
    let dport = u16::from_be_bytes([q.data[2], q.data[3]]);
    let seq = u32::from_be_bytes([q.data[4], q.data[5], q.data[6], q.data[7]]);
    use super::tcp_var::{seq_geq, seq_lt};
    let Some(t) = try_vnet_tcp() else { return };
    let Some(cb) = t
        .tcb
        .lookup(IpAddr::V4(q.src_addr), sport, IpAddr::V4(q.dst_addr), dport)
    else {
        return;
    };
    let Ok(mut tp) = cb.lock() else { return };
    if tp.ep.faddr != IpAddr::V4(q.dst_addr)
        || tp.ep.fport != dport
        || !(seq_geq(seq, tp.snd_una) && seq_lt(seq, tp.snd_max))
    {
        return;
    }
    if tp.state == TcpState::Established && error == Errno::EHOSTUNREACH {
        return;
    }
    if !tp.state.have_established() && tp.t_rxtshift > 3 && tp.t_softerror.is_some() {
        tcp_drop(&mut tp, error);
        return;
    }
    tp.t_softerror = Some(error);
}

/// `tcp_respond` without a control block: a RST (or ACK) answering a segment
/// from `faddr:fport` to `laddr:lport`.
pub fn tcp_respond(ep: &TcpEndpoints, seq: u32, ack: u32, flags: u8) {
    let _ = tcp_emit(&SegOut {
        ep,
        seq,
        ack,
        flags,
        win: 0,
        opts: &[],
        data: &[],
        tso_segsz: 0,
    });
}

/// Answer a segment that found no connection with a RST (RFC 9293 3.10.7.1).
pub fn tcp_reset_for(ep: &TcpEndpoints, th_flags: u8, seq: u32, ack: u32, seglen: u32) {
    if th_flags & TH_RST != 0 {
        return;
    }
    if ep.faddr.is_unspecified() || multicast(ep.faddr) || multicast(ep.laddr) {
        return;
    }
    if th_flags & TH_ACK != 0 {
        tcp_respond(ep, ack, 0, TH_RST);
    } else {
        tcp_respond(ep, 0, seq.wrapping_add(seglen), TH_RST | TH_ACK);
    }
}

fn multicast(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(a) => a.is_multicast() || a == Ipv4Addr::BROADCAST,
        IpAddr::V6(a) => a.is_multicast(),
    }
}

/// `tcp_close`: the connection is gone; forget it unless a socket still
/// holds it (then the socket sees the state), wake its sleepers.
pub fn tcp_close(tp: &mut Tcpcb) {
    if tp.state != TcpState::Closed {
        if let Some(t) = try_vnet_tcp() {
            inc(&t.stat.tcps_closed);
        }
    }
    tp.state = TcpState::Closed;
    tp.timers = [None; TT_NTIMERS];
    if let Some(c) = tp.callout.take() {
        vimage_kern::kern_timeout::callout_stop(c);
    }
    tp.segq.clear();
    tp.rcv.cantrcvmore();
    if let Some(l) = tp.listen.take() {
        for c in l.comp {
            if let Ok(mut ctp) = c.lock() {
                tcp_drop(&mut ctp, Errno::ECONNABORTED);
            }
        }
    }
    if tp.flags & TF_NOFDREF != 0 {
        if let Some(t) = try_vnet_tcp() {
            t.tcb.remove(tp.id);
        }
    }
    tp.wake.wakeup();
}

/// `tcp_drop`: abort with a RST if synchronized, record `err` for the socket.
pub fn tcp_drop(tp: &mut Tcpcb, err: Errno) {
    if tp.state.have_rcvd_syn() {
        tcp_respond(&tp.ep, tp.snd_nxt, tp.rcv_nxt, TH_RST | TH_ACK);
        if let Some(t) = try_vnet_tcp() {
            inc(&t.stat.tcps_drops);
        }
    } else if let Some(t) = try_vnet_tcp() {
        inc(&t.stat.tcps_conndrops);
    }
    tp.so_error = Some(err);
    tp.rcv.set_error(err);
    tcp_close(tp);
}

/// The address family's unspecified address.
pub fn any_addr(v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    }
}
