//! TCP support routines (FreeBSD's sys/netinet/tcp_subr.c): the connection
//! table shared by IPv4 and IPv6, initial sequence numbers, `tcp_respond`,
//! segment emission through `ip_output`/`ip6_output`, `tcp_close`/`tcp_drop`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::Ordering;
use vimage_abi::Errno;

use super::in_pcb::{InPcbInfo, INP_REUSEADDR};

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

/// `tcbinfo`: every TCP control block of a vnet, IPv4 and IPv6 in one port
/// space (the generic [`InPcbInfo`]).
pub type TcpTable = InPcbInfo<TcpcbRef>;

impl InPcbInfo<TcpcbRef> {
    /// `in_pcbbind` for TCP: a local port for `ep` (ephemeral from
    /// `first..=last` when `ep.lport` is 0).  With `reuse` (SO_REUSEADDR)
    /// only an unconnected block on exactly the same address collides (not a
    /// TIME_WAIT connection, nor a listener on the wildcard when a specific
    /// address is asked).  See [`InPcbInfo::bind`].
    pub fn bind_port(
        &self,
        id: u64,
        ep: TcpEndpoints,
        first: u16,
        last: u16,
        reuse: bool,
        dual: bool,
    ) -> Result<u16, Errno> {
        let opts = if reuse { INP_REUSEADDR } else { 0 };
        self.bind(id, ep, first, last, opts, dual).map(|e| e.lport)
    }

    /// The vnet goes away: wake every socket for good and forget the blocks.
    pub fn shutdown(&self) {
        for cb in self.drain() {
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
