//! TCP input (FreeBSD's sys/netinet/tcp_input.c, RFC 9293 3.10.7): validate a
//! segment (length, offset, checksum), find its connection, and run the state
//! machine — listen/SYN cache, SYN_SENT, sequence acceptability with trimming,
//! RST and SYN with challenge ACKs (RFC 5961), ACK processing with RTT
//! estimation (RFC 6298), NewReno fast retransmit/recovery (RFC 5681/6582),
//! SACK scoreboard (RFC 2018), timestamps and PAWS (RFC 7323), window
//! updates, in-order and reassembled data, FIN and the closing states.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::ip::{Ipv4Packet, PseudoHdr};
use super::ip_var::inc;
use super::tcp::*;
use super::tcp_output::{tcp_output, tcp_rcv_window, tcp_ts_now};
use super::tcp_subr::{tcp_close, tcp_mssopt, tcp_new_isn, tcp_reset_for, tcp_respond, tcp_tso_ok};
use super::tcp_syncache::{syncache_add, syncache_chkrst, syncache_expand, SynEnt};
use super::tcp_timer::*;
use super::tcp_var::*;
#[cfg(feature = "inet6")]
use crate::netinet6::ip6_input::Ip6In;
use vimage_abi::Errno;
use vimage_kern::kern_timeout::getnow_ns;
use vimage_net::if_var::Ifnet;
use vimage_net::mbuf::{Mbuf, CSUM_DATA_VALID};

/// `TCP_MAX_WINSHIFT`.
pub const TCP_MAX_WINSHIFT: u8 = 14;

/// Options of an arriving segment (`struct tcpopt`).
#[derive(Clone, Debug, Default)]
pub struct SegOpts {
    /// MSS option.
    pub mss: Option<u16>,
    /// Window scale option.
    pub wscale: Option<u8>,
    /// SACK permitted.
    pub sack_ok: bool,
    /// Timestamps (value, echo reply).
    pub ts: Option<(u32, u32)>,
    /// SACK blocks.
    pub sacks: Vec<(u32, u32)>,
}

/// Parse an options area; a malformed option ends the walk (what was read
/// before it counts).
pub fn tcp_dooptions(opts: &[u8], syn: bool) -> SegOpts {
    let mut o = SegOpts::default();
    for opt in TcpOptions::new(opts) {
        let Ok(opt) = opt else { break };
        let d = opt.data;
        match opt.kind {
            TCPOPT_MAXSEG if syn && d.len() == 2 => o.mss = Some(u16::from_be_bytes([d[0], d[1]])),
            TCPOPT_WINDOW if syn && d.len() == 1 => o.wscale = Some(d[0].min(TCP_MAX_WINSHIFT)),
            TCPOPT_SACK_PERMITTED if syn && d.is_empty() => o.sack_ok = true,
            TCPOPT_TIMESTAMP if d.len() == 8 => {
                o.ts = Some((
                    u32::from_be_bytes([d[0], d[1], d[2], d[3]]),
                    u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
                ))
            }
            TCPOPT_SACK if !syn && !d.is_empty() && d.len() % 8 == 0 => {
                for b in d.chunks_exact(8) {
                    o.sacks.push((
                        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                        u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                    ));
                }
            }
            _ => {}
        }
    }
    o
}

/// An arriving segment after validation.
pub struct Seg {
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Flags.
    pub flags: u8,
    /// Window field (unscaled).
    pub wnd: u16,
    /// Options.
    pub opts: SegOpts,
    /// The data, in the mbuf it arrived in (headers cut off): trimmed in
    /// place (`m_adj`) and linked into the receive buffer as it is.
    pub m: Mbuf,
}

impl Seg {
    /// The segment's data.
    pub fn data(&self) -> &[u8] {
        self.m.data()
    }
}

/// `tcp_input` for IPv4: `m` is a whole datagram whose header is `hl` bytes.
/// The segment's data stays in `m`, which the receive buffer takes as it is.
pub fn tcp_input(ifp: &Arc<Ifnet>, mut m: Mbuf, hl: usize) {
    let d = m.data();
    if d.len() < super::ip::IP_HDR_LEN {
        return;
    }
    let ip = Ipv4Packet::new_unchecked(d);
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let end = usize::from(ip.total_len()).min(d.len());
    if hl > end || dst.is_multicast() || dst.is_broadcast() || super::r#in::in_broadcast(dst, ifp) {
        return;
    }
    let csum_valid = m.csum_flags & CSUM_DATA_VALID != 0;
    // The TCP segment alone: link-layer padding off the end, the IP header
    // off the front.
    m.truncate(end);
    m.adj(hl);
    tcp_input_common(
        IpAddr::V4(src),
        IpAddr::V4(dst),
        0,
        m,
        &PseudoHdr::V4 { src, dst },
        csum_valid,
    );
}

/// `tcp6_input`: the TCP segment starts at `off` in `inp.pkt`.
#[cfg(feature = "inet6")]
pub fn tcp6_input(inp: &Ip6In<'_>, off: usize) {
    let seg = inp.pkt.get(off..).unwrap_or(&[]);
    if inp.dst.is_multicast() {
        return;
    }
    let zone = if crate::netinet6::in6::in6_is_scoped(&inp.src) {
        inp.zone
    } else {
        0
    };
    // (The IPv6 input path hands a slice: copied once here, as the data
    // would have been into the receive buffer.)
    tcp_input_common(
        IpAddr::V6(inp.src),
        IpAddr::V6(inp.dst),
        zone,
        Mbuf::from_slice(seg),
        &PseudoHdr::V6 {
            src: inp.src,
            dst: inp.dst,
        },
        false,
    );
}

/// `tcp_input` proper: `m` holds the TCP segment, header first.
fn tcp_input_common(
    src: IpAddr,
    dst: IpAddr,
    zone: u32,
    mut m: Mbuf,
    ph: &PseudoHdr,
    csum_valid: bool,
) {
    VNET_TCP.try_with(|t| {
        inc(&t.stat.tcps_rcvtotal);
        let seg = m.data();
        if seg.len() < TCP_HDR_LEN {
            inc(&t.stat.tcps_rcvshort);
            return;
        }
        let pkt = TcpPacket::new_unchecked(seg);
        if pkt.check_len().is_err() {
            inc(&t.stat.tcps_rcvbadoff);
            return;
        }
        if !csum_valid && !pkt.verify_checksum(ph) {
            inc(&t.stat.tcps_rcvbadsum);
            return;
        }
        let flags = pkt.flags();
        let (seq, ack, wnd) = (pkt.seq_number(), pkt.ack_number(), pkt.window());
        let opts = tcp_dooptions(pkt.options(), flags & TH_SYN != 0);
        let (sport, dport) = (pkt.src_port(), pkt.dst_port());
        let thl = seg.len() - pkt.payload().len();
        // The header is parsed: the mbuf now holds just the data.
        m.adj(thl);
        let mut s = Seg {
            seq,
            ack,
            flags,
            wnd,
            opts,
            m,
        };
        let ep = TcpEndpoints {
            laddr: dst,
            lport: dport,
            faddr: src,
            fport: sport,
            zone,
        };
        let seglen =
            s.m.len() as u32 + u32::from(flags & TH_SYN != 0) + u32::from(flags & TH_FIN != 0);
        if sport == 0 || dport == 0 {
            return;
        }
        let Some(cb) = t.tcb.lookup(dst, dport, src, sport) else {
            tcp_reset_for(&ep, flags, s.seq, s.ack, seglen);
            return;
        };
        let Ok(mut tp) = cb.lock() else { return };
        match tp.state {
            TcpState::Listen => tcp_listen_input(&mut tp, &ep, &mut s, seglen),
            TcpState::Closed => {
                drop(tp);
                tcp_reset_for(&ep, flags, s.seq, s.ack, seglen);
            }
            _ => tcp_do_segment(&mut tp, &mut s),
        }
    });
}

fn tcp_listen_input(lp: &mut Tcpcb, ep: &TcpEndpoints, s: &mut Seg, seglen: u32) {
    VNET_TCP.try_with(|t| {
        if s.flags & TH_RST != 0 {
            syncache_chkrst(lp, ep, s.seq);
            return;
        }
        let overflow = lp
            .listen
            .as_ref()
            .is_none_or(|l| l.comp.len() > 3 * l.backlog / 2);
        if s.flags & TH_ACK != 0 {
            if s.flags & TH_SYN != 0 {
                tcp_reset_for(ep, s.flags, s.seq, s.ack, seglen);
                return;
            }
            let Some(sc) = syncache_expand(lp, ep, s.seq, s.ack) else {
                inc(&t.stat.tcps_badsyn);
                tcp_reset_for(ep, s.flags, s.seq, s.ack, seglen);
                return;
            };
            if overflow {
                // tcp_sc_rst_sock_fail: tell the peer right away.
                inc(&t.stat.tcps_listendrop);
                tcp_reset_for(ep, s.flags, s.seq, s.ack, seglen);
                return;
            }
            let child = super::tcp_usrreq::tcp_newtcpcb(lp.v6, ep, lp.flags & TF_NODELAY);
            {
                let Ok(mut c) = child.lock() else { return };
                // `sonewconn`: the listener's buffer sizes and autosizing.
                for (cb, lb) in [(&c.snd, &lp.snd), (&c.rcv, &lp.rcv)] {
                    cb.set_hiwat(lb.hiwat());
                    cb.set_autosize(lb.autosize());
                }
                c.state = TcpState::Established;
                c.iss = sc.iss;
                c.snd_una = sc.iss.wrapping_add(1);
                c.snd_nxt = c.snd_una;
                c.snd_max = c.snd_una;
                c.irs = sc.irs;
                c.rcv_nxt = sc.irs.wrapping_add(1);
                c.rcv_adv = c.rcv_nxt.wrapping_add(c.rcv.hiwat() as u32);
                if let Some(ws) = sc.wscale {
                    c.flags |= TF_REQ_SCALE | TF_RCVD_SCALE;
                    c.snd_scale = ws;
                    c.rcv_scale = sc.rscale;
                    c.request_r_scale = sc.rscale;
                }
                if let Some(r) = sc.ts_recent {
                    c.flags |= TF_REQ_TSTMP | TF_RCVD_TSTMP;
                    c.ts_recent = r;
                    c.ts_recent_age = getnow_ns();
                }
                if sc.sack {
                    c.flags |= TF_SACK_PERMIT;
                }
                // `tcp_mss`: our route's MSS, lowered by the peer's offer (or the
                // default when it made none), and by the listener's TCP_MAXSEG.
                let ours = lp.t_maxseg_user.unwrap_or(u32::MAX).min(tcp_mssopt(ep));
                if tcp_tso_ok(ep) {
                    c.flags |= TF_TSO;
                }
                c.t_maxseg_user = lp.t_maxseg_user;
                c.t_maxseg = if sc.peer_mss != 0 {
                    ours.min(sc.peer_mss).max(64)
                } else {
                    ours.min(t.mssdflt.load(Ordering::Relaxed).max(64) as u32)
                };
                c.snd_cwnd = initial_cwnd(c.t_maxseg);
                c.snd_wnd = u32::from(s.wnd) << c.snd_scale;
                c.max_sndwnd = c.snd_wnd;
                c.snd_wl1 = s.seq;
                c.snd_wl2 = s.ack;
                c.t_rcvtime = getnow_ns();
                if c.keepalive {
                    let idle = t.ms(&t.keepidle);
                    tcp_timer_activate(&mut c, TT_KEEP, idle);
                }
                inc(&t.stat.tcps_accepts);
                inc(&t.stat.tcps_connects);
                inc(&t.stat.tcps_sc_completed);
                // The ACK may carry data already.
                if !s.m.is_empty() || s.flags & TH_FIN != 0 {
                    tcp_do_segment(&mut c, s);
                }
            }
            if let Some(l) = lp.listen.as_mut() {
                l.comp.push_back(child);
            }
            lp.wake.wakeup();
            return;
        }
        if s.flags & TH_SYN == 0 {
            return;
        }
        if overflow {
            inc(&t.stat.tcps_listendrop);
            return;
        }
        let rfc1323 = t.rfc1323.load(Ordering::Relaxed) != 0;
        let rscale = super::tcp_usrreq::tcp_rscale(t, &lp.rcv);
        let sc = SynEnt {
            ep: *ep,
            irs: s.seq,
            iss: tcp_new_isn(ep),
            peer_mss: u32::from(s.opts.mss.unwrap_or(0)),
            wscale: s.opts.wscale.filter(|_| rfc1323),
            rscale,
            sack: s.opts.sack_ok && t.sack_enable.load(Ordering::Relaxed) != 0,
            ts_recent: s.opts.ts.filter(|_| rfc1323).map(|(v, _)| v),
            wnd: s.wnd,
            rexmt_at: getnow_ns() + TCPTV_RTOBASE,
            rexmits: 0,
        };
        let sc = SynEnt {
            rscale: if sc.wscale.is_some() { rscale } else { 0 },
            ..sc
        };
        syncache_add(lp, sc);
    });
}

/// RFC 5681 initial window (`tcp_initcwnd`-ish: min(4*MSS, max(2*MSS, 4380))).
pub fn initial_cwnd(mss: u32) -> u32 {
    (4 * mss).min((2 * mss).max(4380))
}

/// `tcp_xmit_timer`: a new RTT sample (ns) updates SRTT, RTTVAR and RTO
/// (RFC 6298 2.2-2.4).
pub fn tcp_xmit_timer(tp: &mut Tcpcb, rtt: u64) {
    let rtt = rtt.max(1);
    if tp.t_srtt == 0 {
        tp.t_srtt = rtt;
        tp.t_rttvar = rtt / 2;
    } else {
        let delta = tp.t_srtt.abs_diff(rtt);
        tp.t_rttvar = (3 * tp.t_rttvar + delta) / 4;
        tp.t_srtt = (7 * tp.t_srtt + rtt) / 8;
    }
    tp.t_rxtshift = 0;
    tp.t_rxtcur = (tp.t_srtt + (4 * tp.t_rttvar).max(1_000_000)).clamp(TCPTV_MIN, TCPTV_REXMTMAX);
    if let Some(t) = try_vnet_tcp() {
        inc(&t.stat.tcps_rttupdated);
    }
}

fn challenge_ack(tp: &mut Tcpcb) {
    if let Some(t) = try_vnet_tcp() {
        inc(&t.stat.tcps_challenge_ack);
    }
    dropafterack_limited(tp);
}

/// Whether another ACK answering a bad segment may go out now: at most
/// `net.inet.tcp.ack_war_cnt` per `ack_war_timewindow` ms per connection
/// (RFC 5961 section 7).  Two ends that disagree about the sequence space (an
/// injected segment, a desynchronized peer) would otherwise answer each
/// other's ACKs forever: an ACK war that keeps a thread spinning.
fn tcp_ack_war_ok(tp: &mut Tcpcb) -> bool {
    let Some(t) = try_vnet_tcp() else {
        return true;
    };
    let window = t.ms(&t.ack_war_timewindow);
    let cnt = t.ack_war_cnt.load(Ordering::Relaxed);
    if t.ack_war_timewindow.load(Ordering::Relaxed) == 0 || cnt == 0 {
        return true;
    }
    let now = getnow_ns();
    if now.saturating_sub(tp.ack_war_start) >= window {
        tp.ack_war_start = now;
        tp.ack_war_cnt = 0;
    }
    if i64::from(tp.ack_war_cnt) < cnt {
        tp.ack_war_cnt += 1;
        true
    } else {
        false
    }
}

/// `dropafterack` for a segment that carried nothing we take: ACK, unless
/// the connection used up its ACK-war allowance.
fn dropafterack_limited(tp: &mut Tcpcb) {
    if tcp_ack_war_ok(tp) {
        tp.flags |= TF_ACKNOW;
        tcp_output(tp);
    }
}

/// Close with `err` for the socket (a RST arrived): no RST back.
fn tcp_reset_close(tp: &mut Tcpcb, err: Option<Errno>) {
    if let Some(e) = err {
        tp.so_error = Some(e);
        tp.rcv.set_error(e);
    }
    if let Some(t) = try_vnet_tcp() {
        inc(&t.stat.tcps_drops);
    }
    tcp_close(tp);
}

fn synsent_input(tp: &mut Tcpcb, s: &Seg) {
    VNET_TCP.try_with(|t| {
        let f = s.flags;
        if f & TH_ACK != 0 && (seq_leq(s.ack, tp.iss) || seq_gt(s.ack, tp.snd_max)) {
            if f & TH_RST == 0 {
                tcp_respond(&tp.ep, s.ack, 0, TH_RST);
            }
            return;
        }
        if f & TH_RST != 0 {
            if f & TH_ACK != 0 {
                tcp_reset_close(tp, Some(Errno::ECONNREFUSED));
            }
            return;
        }
        if f & TH_SYN == 0 {
            return;
        }
        tp.irs = s.seq;
        tp.rcv_nxt = s.seq.wrapping_add(1);
        tp.rcv_adv = tp.rcv_nxt;
        let o = &s.opts;
        if let Some(m) = o.mss {
            tp.t_maxseg = tp.t_maxseg.min(u32::from(m)).max(64);
        } else {
            tp.t_maxseg = tp
                .t_maxseg
                .min(t.mssdflt.load(Ordering::Relaxed).max(64) as u32);
        }
        match o.wscale {
            Some(ws) if tp.flags & TF_REQ_SCALE != 0 => {
                tp.flags |= TF_RCVD_SCALE;
                tp.snd_scale = ws;
                tp.rcv_scale = tp.request_r_scale;
            }
            _ => {
                tp.flags &= !(TF_REQ_SCALE | TF_RCVD_SCALE);
                tp.rcv_scale = 0;
            }
        }
        match o.ts {
            Some((v, _)) if tp.flags & TF_REQ_TSTMP != 0 => {
                tp.flags |= TF_RCVD_TSTMP;
                tp.ts_recent = v;
                tp.ts_recent_age = getnow_ns();
            }
            _ => tp.flags &= !(TF_REQ_TSTMP | TF_RCVD_TSTMP),
        }
        if !o.sack_ok {
            tp.flags &= !TF_SACK_PERMIT;
        }
        tp.snd_cwnd = initial_cwnd(tp.t_maxseg);
        tp.snd_wnd = u32::from(s.wnd);
        tp.max_sndwnd = tp.snd_wnd;
        tp.snd_wl1 = s.seq;
        if f & TH_ACK != 0 {
            tp.snd_wl2 = s.ack;
            tp.snd_una = s.ack;
            if seq_lt(tp.snd_nxt, tp.snd_una) {
                tp.snd_nxt = tp.snd_una;
            }
            if tp.t_rtttime != 0 {
                let r = getnow_ns().saturating_sub(tp.t_rtttime);
                tcp_xmit_timer(tp, r);
                tp.t_rtttime = 0;
            }
            tp.state = TcpState::Established;
            inc(&t.stat.tcps_connects);
            tcp_timer_stop(tp, TT_REXMT);
            tcp_timer_stop(tp, TT_KEEP);
            if tp.keepalive {
                let idle = t.ms(&t.keepidle);
                tcp_timer_activate(tp, TT_KEEP, idle);
            }
            tp.flags |= TF_ACKNOW;
            tp.wake.wakeup();
            if tp.flags & TF_CANTSENDMORE != 0 {
                tp.state = TcpState::FinWait1;
            }
        } else {
            // Simultaneous open: SYN_RCVD, resend our SYN with an ACK.
            tp.state = TcpState::SynReceived;
            tp.snd_nxt = tp.iss;
            tcp_timer_stop(tp, TT_REXMT);
        }
        tcp_output(tp);
    });
}

/// The state machine for a segment on a connection that is not listening.
pub fn tcp_do_segment(tp: &mut Tcpcb, s: &mut Seg) {
    VNET_TCP.try_with(|t| {
        let now = getnow_ns();
        if tp.state == TcpState::SynSent {
            synsent_input(tp, s);
            return;
        }
        tp.t_rcvtime = now;
        tp.t_keepcnt = 0;
        if tp.keepalive && tp.state.have_established() && tp.state <= TcpState::CloseWait {
            let idle = t.ms(&t.keepidle);
            tcp_timer_activate(tp, TT_KEEP, idle);
        }
        let mut flags = s.flags;
        let mut seq = s.seq;
        // PAWS (RFC 7323 5.3).
        if let Some((tsval, _)) = s.opts.ts {
            if tp.flags & TF_RCVD_TSTMP != 0
                && flags & TH_RST == 0
                && tp.ts_recent != 0
                && (tsval.wrapping_sub(tp.ts_recent) as i32) < 0
            {
                if now.saturating_sub(tp.ts_recent_age) > 24 * 24 * 3600 * 1_000_000_000 {
                    tp.ts_recent = 0;
                } else {
                    inc(&t.stat.tcps_pawsdrop);
                    inc(&t.stat.tcps_rcvduppack);
                    if flags & TH_ACK != 0 || !s.m.is_empty() {
                        tp.flags |= TF_ACKNOW;
                        tcp_output(tp);
                    }
                    return;
                }
            }
        }
        // A retransmitted SYN (or the SYN of a simultaneous open's SYN-ACK) sits
        // just before rcv_nxt: trim it off.
        if flags & TH_SYN != 0 && seq == tp.irs {
            flags &= !TH_SYN;
            seq = seq.wrapping_add(1);
            if tp.state == TcpState::SynReceived && flags & TH_ACK == 0 {
                // Our SYN-ACK was lost: send it again.
                tp.snd_nxt = tp.iss;
                tcp_output(tp);
                return;
            }
        }
        let rcv_wnd = tcp_rcv_window(tp);
        let fin = flags & TH_FIN != 0;
        let seglen = s.m.len() as u32 + u32::from(fin);
        let in_win = |x: u32| seq_geq(x, tp.rcv_nxt) && seq_lt(x, tp.rcv_nxt.wrapping_add(rcv_wnd));
        let acceptable = if seglen == 0 {
            if rcv_wnd == 0 {
                seq == tp.rcv_nxt
            } else {
                in_win(seq) || seq == tp.rcv_nxt
            }
        } else if rcv_wnd == 0 {
            // Only an exact-sequence probe is looked at (its data is dropped).
            seq == tp.rcv_nxt
        } else {
            in_win(seq) || in_win(seq.wrapping_add(seglen - 1))
        };
        if !acceptable {
            if flags & TH_RST == 0 {
                if seq_lt(seq, tp.rcv_nxt) {
                    inc(&t.stat.tcps_rcvduppack);
                    t.stat
                        .tcps_rcvdupbyte
                        .fetch_add(s.m.len() as u64, Ordering::Relaxed);
                } else {
                    inc(&t.stat.tcps_rcvpackafterwin);
                }
                if s.m.is_empty() {
                    // A bare ACK out of the window: answered at a limited rate.
                    dropafterack_limited(tp);
                } else {
                    // Duplicate data: the peer is retransmitting; ACK at once.
                    tp.flags |= TF_ACKNOW;
                    tcp_output(tp);
                }
            }
            return;
        }
        // RST (RFC 5961 3.2): exact match resets, anything else in the window
        // draws a challenge ACK.
        if flags & TH_RST != 0 {
            if seq != tp.rcv_nxt {
                inc(&t.stat.tcps_badrst);
                challenge_ack(tp);
                return;
            }
            let err = match tp.state {
                TcpState::SynReceived => Some(Errno::ECONNREFUSED),
                TcpState::Established
                | TcpState::FinWait1
                | TcpState::FinWait2
                | TcpState::CloseWait => Some(Errno::ECONNRESET),
                _ => None,
            };
            tcp_reset_close(tp, err);
            return;
        }
        // A SYN in a synchronized state (RFC 5961 4.2): challenge ACK.
        if flags & TH_SYN != 0 {
            challenge_ack(tp);
            return;
        }
        // Trim what we already have from the front.
        let mut fin = fin;
        if seq_lt(seq, tp.rcv_nxt) {
            let todrop = tp.rcv_nxt.wrapping_sub(seq) as usize;
            if todrop >= s.m.len() {
                if todrop > s.m.len() {
                    fin = false;
                }
                if !s.m.is_empty() {
                    inc(&t.stat.tcps_rcvduppack);
                }
                s.m.truncate(0);
                tp.flags |= TF_ACKNOW;
            } else {
                inc(&t.stat.tcps_rcvpartduppack);
                t.stat
                    .tcps_rcvpartdupbyte
                    .fetch_add(todrop as u64, Ordering::Relaxed);
                s.m.adj(todrop);
            }
            seq = tp.rcv_nxt;
        }
        // Data after the socket closed: reset (FreeBSD's rcvafterclose).
        if tp.flags & TF_NOFDREF != 0 && tp.state > TcpState::CloseWait && !s.m.is_empty() {
            inc(&t.stat.tcps_rcvafterclose);
            tcp_respond(&tp.ep, tp.snd_nxt, tp.rcv_nxt, TH_RST | TH_ACK);
            tcp_reset_close(tp, None);
            return;
        }
        // Trim what lies beyond the window.
        let winend = tp.rcv_nxt.wrapping_add(rcv_wnd);
        let segend = seq.wrapping_add(s.m.len() as u32);
        if seq_gt(segend, winend) {
            let excess = segend.wrapping_sub(winend) as usize;
            inc(&t.stat.tcps_rcvpackafterwin);
            t.stat
                .tcps_rcvbyteafterwin
                .fetch_add(excess.min(s.m.len()) as u64, Ordering::Relaxed);
            if excess >= s.m.len() {
                if rcv_wnd == 0 && seq == tp.rcv_nxt {
                    inc(&t.stat.tcps_rcvwinprobe);
                }
                s.m.truncate(0);
            } else {
                s.m.truncate(s.m.len() - excess);
            }
            fin = false;
            tp.flags |= TF_ACKNOW;
        }
        // Remember the peer's timestamp (RFC 7323 4.3).
        if let Some((tsval, _)) = s.opts.ts {
            if tp.flags & TF_RCVD_TSTMP != 0 && seq_leq(seq, tp.rcv_nxt) {
                tp.ts_recent = tsval;
                tp.ts_recent_age = now;
            }
        }
        if flags & TH_ACK == 0 {
            return;
        }
        let ack = s.ack;
        if tp.state == TcpState::SynReceived {
            if seq_leq(ack, tp.snd_una) || seq_gt(ack, tp.snd_max) {
                tcp_respond(&tp.ep, ack, 0, TH_RST);
                return;
            }
            tp.state = TcpState::Established;
            inc(&t.stat.tcps_connects);
            tp.snd_wnd = u32::from(s.wnd) << tp.snd_scale;
            tp.snd_wl1 = seq;
            tp.snd_wl2 = ack;
            tcp_timer_stop(tp, TT_KEEP);
            if tp.keepalive {
                let idle = t.ms(&t.keepidle);
                tcp_timer_activate(tp, TT_KEEP, idle);
            }
            tp.wake.wakeup();
            if tp.flags & TF_CANTSENDMORE != 0 {
                tp.state = TcpState::FinWait1;
            }
        }
        let tiwin = u32::from(s.wnd) << tp.snd_scale;
        if !tcp_ack_input(tp, s, seq, ack, tiwin, s.m.len(), fin) {
            return;
        }
        // Window update (RFC 9293 3.10.7.4, fifth check).
        if seq_lt(tp.snd_wl1, seq)
            || (tp.snd_wl1 == seq
                && (seq_lt(tp.snd_wl2, ack) || (tp.snd_wl2 == ack && tiwin > tp.snd_wnd)))
        {
            if s.m.is_empty() && tp.snd_wl2 == ack && tiwin > tp.snd_wnd {
                inc(&t.stat.tcps_rcvwinupd);
            }
            tp.snd_wnd = tiwin;
            tp.snd_wl1 = seq;
            tp.snd_wl2 = ack;
            tp.max_sndwnd = tp.max_sndwnd.max(tiwin);
            if tiwin > 0 && tp.timers[TT_PERSIST].is_some() {
                tcp_timer_stop(tp, TT_PERSIST);
                tp.t_rxtshift = 0;
                if seq_gt(tp.snd_max, tp.snd_una) && tp.timers[TT_REXMT].is_none() {
                    let rto = tcp_rexmtval(tp);
                    tcp_timer_activate(tp, TT_REXMT, rto);
                }
            }
        }
        // Data and FIN.
        let can_rcv = matches!(
            tp.state,
            TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2
        );
        if can_rcv && !s.m.is_empty() && seq == tp.rcv_nxt && tp.segq.is_empty() {
            tcp_autorcvbuf(tp, t, s.opts.ts.map(|(_, ecr)| ecr), s.m.len());
        }
        if can_rcv && (!s.m.is_empty() || fin) {
            tcp_reass(tp, seq, &mut s.m, fin);
        } else if fin && tp.state.have_rcvd_fin() {
            // A retransmitted FIN: ACK it again.
            tp.flags |= TF_ACKNOW;
            if tp.state == TcpState::TimeWait {
                let msl = t.ms(&t.msl);
                tcp_timer_activate(tp, TT_2MSL, 2 * msl);
            }
        }
        if tp.state != TcpState::Closed {
            tcp_output(tp);
        }
    });
}

/// ACK processing; false when the segment is finished with.
fn tcp_ack_input(
    tp: &mut Tcpcb,
    s: &Seg,
    _seq: u32,
    ack: u32,
    tiwin: u32,
    dlen: usize,
    fin: bool,
) -> bool {
    let Some(t) = try_vnet_tcp() else {
        return false;
    };
    let now = getnow_ns();
    if seq_gt(ack, tp.snd_max) {
        inc(&t.stat.tcps_rcvacktoomuch);
        dropafterack_limited(tp);
        return false;
    }
    // RFC 5961 5.2: far too old an ACK.
    if seq_lt(ack, tp.snd_una.wrapping_sub(tp.max_sndwnd.max(65535))) {
        challenge_ack(tp);
        return false;
    }
    if tp.flags & TF_SACK_PERMIT != 0 && !s.opts.sacks.is_empty() {
        inc(&t.stat.tcps_sack_rcv_blocks);
        for &(a, b) in &s.opts.sacks {
            if seq_lt(a, b) && seq_gt(a, tp.snd_una) && seq_leq(b, tp.snd_max) {
                sack_add(&mut tp.sackhint, a, b);
            }
        }
    }
    let mss = tp.t_maxseg.max(1);
    if seq_leq(ack, tp.snd_una) {
        let pure = dlen == 0 && !fin && tiwin == tp.snd_wnd;
        if pure && tp.snd_max != tp.snd_una && ack == tp.snd_una {
            inc(&t.stat.tcps_rcvdupack);
            tp.t_dupacks += 1;
            if tp.flags & TF_FASTRECOVERY != 0 {
                // RFC 5681 3.2 step 4: inflate.
                tp.snd_cwnd += mss;
                tcp_output(tp);
                return false;
            }
            if tp.t_dupacks == 3 && !(seq_leq(ack, tp.snd_recover) && tp.snd_recover != tp.iss) {
                // Fast retransmit (RFC 5681 3.2 / RFC 6582).
                let flight = tp.snd_max.wrapping_sub(tp.snd_una);
                tp.snd_ssthresh = (flight.min(tp.snd_wnd) / 2).max(2 * mss);
                tp.snd_recover = tp.snd_max;
                tp.flags |= TF_FASTRECOVERY;
                if tp.flags & TF_SACK_PERMIT != 0 {
                    inc(&t.stat.tcps_sack_recovery_episode);
                }
                tcp_timer_stop(tp, TT_REXMT);
                tp.t_rtttime = 0;
                let onxt = tp.snd_nxt;
                tp.snd_nxt = ack;
                tp.snd_cwnd = mss;
                tcp_output(tp);
                tp.snd_cwnd = tp.snd_ssthresh + 3 * mss;
                if seq_gt(onxt, tp.snd_nxt) {
                    tp.snd_nxt = onxt;
                }
                return false;
            }
            return false;
        }
        if ack == tp.snd_una && !pure {
            tp.t_dupacks = 0;
        }
        return true;
    }
    // New data acknowledged.
    inc(&t.stat.tcps_rcvackpack);
    let acked = ack.wrapping_sub(tp.snd_una);
    t.stat
        .tcps_rcvackbyte
        .fetch_add(u64::from(acked), Ordering::Relaxed);
    if tp.flags & TF_FASTRECOVERY != 0 {
        if seq_geq(ack, tp.snd_recover) {
            // Full ACK: leave recovery (RFC 6582 3.2 step 3).
            let flight = tp.snd_max.wrapping_sub(ack);
            tp.snd_cwnd = tp.snd_ssthresh.min(flight.max(mss) + mss);
            tp.flags &= !TF_FASTRECOVERY;
            tp.t_dupacks = 0;
        } else {
            // Partial ACK: retransmit the next hole, deflate.
            let onxt = tp.snd_nxt;
            let ocwnd = tp.snd_cwnd;
            tcp_timer_stop(tp, TT_REXMT);
            tp.snd_una = ack;
            sack_trim(tp);
            drop_acked(tp, acked);
            tp.snd_nxt = ack;
            tp.snd_cwnd = mss;
            tcp_output(tp);
            tp.snd_cwnd = ocwnd.saturating_sub(acked).saturating_add(mss);
            if seq_gt(onxt, tp.snd_nxt) {
                tp.snd_nxt = onxt;
            }
            if tp.flags & TF_SACK_PERMIT != 0 {
                inc(&t.stat.tcps_sack_rexmits);
            }
            tp.wake.wakeup();
            return true;
        }
    } else {
        tp.t_dupacks = 0;
    }
    // RTT sample: timestamps echo, else the timed segment.
    match s.opts.ts {
        Some((_, ecr)) if tp.flags & TF_RCVD_TSTMP != 0 && ecr != 0 => {
            let r = u64::from(tcp_ts_now().wrapping_sub(ecr)) * 1_000_000;
            if r < 600_000_000_000 {
                tcp_xmit_timer(tp, r);
            }
        }
        _ => {
            if tp.t_rtttime != 0 && seq_gt(ack, tp.t_rtseq) {
                let r = now.saturating_sub(tp.t_rtttime);
                tcp_xmit_timer(tp, r);
            }
        }
    }
    if tp.t_rtttime != 0 && seq_gt(ack, tp.t_rtseq) {
        tp.t_rtttime = 0;
    }
    tp.t_rxtshift = 0;
    if ack == tp.snd_max {
        tcp_timer_stop(tp, TT_REXMT);
    } else if tp.timers[TT_PERSIST].is_none() {
        let rto = tcp_rexmtval(tp);
        tcp_timer_activate(tp, TT_REXMT, rto);
    }
    // Congestion window growth (RFC 5681 3.1).
    if tp.flags & TF_FASTRECOVERY == 0 {
        if tp.snd_cwnd <= tp.snd_ssthresh {
            tp.snd_cwnd = tp.snd_cwnd.saturating_add(acked.min(mss));
        } else {
            tp.snd_cwnd = tp
                .snd_cwnd
                .saturating_add((mss * mss / tp.snd_cwnd.max(1)).max(1));
        }
        tp.snd_cwnd = tp.snd_cwnd.min(1 << 30);
    }
    let ourfinisacked = tp.flags & TF_SENTFIN != 0 && ack == tp.snd_max;
    tp.snd_una = ack;
    sack_trim(tp);
    drop_acked(tp, acked);
    if seq_lt(tp.snd_nxt, tp.snd_una) {
        tp.snd_nxt = tp.snd_una;
    }
    tp.wake.wakeup();
    if ourfinisacked {
        match tp.state {
            TcpState::FinWait1 => {
                tp.state = TcpState::FinWait2;
                if tp.flags & TF_NOFDREF != 0 {
                    tcp_timer_activate(tp, TT_2MSL, TCPTV_FINWAIT2);
                }
            }
            TcpState::Closing => {
                tcp_twstart(tp);
                return false;
            }
            TcpState::LastAck => {
                tcp_close(tp);
                return false;
            }
            _ => {}
        }
    }
    true
}

/// Drop `acked` sequence space worth of data from the send buffer (the SYN
/// and FIN take sequence space but no bytes).
fn drop_acked(tp: &mut Tcpcb, acked: u32) {
    let cc = tp.snd.cc();
    tp.snd.drop_front((acked as usize).min(cc));
}

fn sack_add(v: &mut Vec<(u32, u32)>, a: u32, b: u32) {
    let (mut a, mut b) = (a, b);
    v.retain(|&(x, y)| {
        if seq_leq(x, b) && seq_geq(y, a) {
            if seq_lt(x, a) {
                a = x;
            }
            if seq_gt(y, b) {
                b = y;
            }
            false
        } else {
            true
        }
    });
    v.push((a, b));
    if v.len() > 64 {
        v.remove(0);
    }
}

fn sack_trim(tp: &mut Tcpcb) {
    let una = tp.snd_una;
    tp.sackhint.retain(|&(_, e)| seq_gt(e, una));
}

/// `tcp_twstart`: enter TIME_WAIT for 2*MSL.
pub fn tcp_twstart(tp: &mut Tcpcb) {
    VNET_TCP.try_with(|t| {
        tp.state = TcpState::TimeWait;
        tp.timers = [None; TT_NTIMERS];
        let msl = t.ms(&t.msl);
        tcp_timer_activate(tp, TT_2MSL, 2 * msl);
        tp.wake.wakeup();
    });
}

/// Receive buffer autosizing (FreeBSD 7's `tcp_do_autorcvbuf`): count the
/// in-order bytes received over one round trip, measured by the timestamp the
/// peer echoes (`tsecr`); when a round brought more than 7/8 of the buffer,
/// the sender is limited by it, so grow it by `recvbuf_inc` up to
/// `recvbuf_max`.
fn tcp_autorcvbuf(tp: &mut Tcpcb, t: &VnetTcp, tsecr: Option<u32>, len: usize) {
    let Some(ecr) = tsecr.filter(|&e| e != 0) else {
        return;
    };
    if t.recvbuf_auto.load(Ordering::Relaxed) == 0 || !tp.rcv.autosize() {
        return;
    }
    if tp.rfbuf_ts == 0 {
        tp.rfbuf_ts = ecr;
        tp.rfbuf_cnt = 0;
    }
    // The round is over once the echo moved past its start (within 1 s).
    let age = ecr.wrapping_sub(tp.rfbuf_ts) as i32;
    if age > 0 && age < 1000 {
        let hiwat = tp.rcv.hiwat();
        let max = t.recvbuf_max.load(Ordering::Relaxed).max(0) as usize;
        if tp.rfbuf_cnt as usize > hiwat / 8 * 7 && hiwat < max {
            let inc = t.recvbuf_inc.load(Ordering::Relaxed).max(1) as usize;
            tp.rcv.set_hiwat((hiwat + inc).min(max));
        }
        tp.rfbuf_ts = 0;
        tp.rfbuf_cnt = 0;
    } else {
        tp.rfbuf_cnt = tp.rfbuf_cnt.saturating_add(len as u32);
    }
}

/// `tcp_reass`: place data (and FIN) at `seq`; deliver what is now in order.
/// In order, the data's mbuf is linked into the receive buffer as it is
/// (`sbappendstream`, no copy; `m` is left empty); out of order it is copied
/// into the reassembly queue.
fn tcp_reass(tp: &mut Tcpcb, seq: u32, m: &mut Mbuf, fin: bool) {
    VNET_TCP.try_with(|t| {
        let dlen = m.len();
        if seq == tp.rcv_nxt && tp.segq.is_empty() {
            let n = tp.rcv.append_stream_mbuf(m);
            tp.rcv_nxt = tp.rcv_nxt.wrapping_add(n as u32);
            inc(&t.stat.tcps_rcvpack);
            t.stat.tcps_rcvbyte.fetch_add(n as u64, Ordering::Relaxed);
            if n < dlen {
                inc(&t.stat.tcps_rcvmemdrop);
                tp.flags |= TF_ACKNOW;
            } else if fin {
                tcp_fin_input(tp);
            } else if t.delayed_ack.load(Ordering::Relaxed) != 0
                && tp.flags & TF_DELACK == 0
                && n as u32 <= tp.t_maxseg
            {
                // Every other segment is ACKed at once; one longer than a
                // segment (a TSO segment taken whole) counts as two.
                tp.flags |= TF_DELACK;
                tcp_timer_activate(tp, TT_DELACK, TCPTV_DELACK);
            } else {
                tp.flags |= TF_ACKNOW;
            }
            tp.wake.wakeup();
            return;
        }
        // Out of order: queue (bounded by the receive buffer), ACK at once.  The
        // segment that fills the hole at rcv_nxt is always taken, however full
        // the queue: refusing it would stall the connection for good, as every
        // retransmission of it would be refused too.
        if dlen > 0 || fin {
            let queued: usize = tp.segq.iter().map(|(_, d, _)| d.len()).sum();
            let fills_hole = seq_leq(seq, tp.rcv_nxt);
            if fills_hole || (queued + dlen <= tp.rcv.hiwat() && tp.segq.len() < 1024) {
                inc(&t.stat.tcps_rcvoopack);
                t.stat
                    .tcps_rcvoobyte
                    .fetch_add(dlen as u64, Ordering::Relaxed);
                if !tp
                    .segq
                    .iter()
                    .any(|(s, d, f)| *s == seq && d.len() >= dlen && *f == fin)
                {
                    tp.segq.push((seq, m.data().to_vec(), fin));
                }
            } else {
                inc(&t.stat.tcps_rcvmemdrop);
            }
        }
        tp.flags |= TF_ACKNOW;
        // Deliver what became contiguous.
        let mut got_fin = false;
        loop {
            let nxt = tp.rcv_nxt;
            let Some(i) = tp.segq.iter().position(|(s, d, f)| {
                seq_leq(*s, nxt)
                    && (seq_gt(s.wrapping_add(d.len() as u32), nxt)
                        || (*f && s.wrapping_add(d.len() as u32) == nxt))
            }) else {
                break;
            };
            let (s, d, f) = tp.segq.swap_remove(i);
            let skip = nxt.wrapping_sub(s) as usize;
            let part = d.get(skip..).unwrap_or(&[]);
            let n = tp.rcv.append_stream(part);
            tp.rcv_nxt = tp.rcv_nxt.wrapping_add(n as u32);
            if n < part.len() {
                // The buffer is full: keep the rest for when it drains.
                let rest = part[n..].to_vec();
                tp.segq.push((tp.rcv_nxt, rest, f));
                break;
            }
            if f {
                got_fin = true;
                break;
            }
        }
        let nxt = tp.rcv_nxt;
        tp.segq
            .retain(|(s, d, _)| seq_gt(s.wrapping_add(d.len() as u32), nxt));
        // SACK blocks: merged out-of-order ranges, the newest segment's first.
        if tp.flags & TF_SACK_PERMIT != 0 {
            let mut r: Vec<(u32, u32)> = Vec::new();
            for (s, d, _) in &tp.segq {
                if !d.is_empty() {
                    sack_add(&mut r, *s, s.wrapping_add(d.len() as u32));
                }
            }
            let newest = r
                .iter()
                .position(|&(a, b)| seq_leq(a, seq) && seq_lt(seq, b));
            if let Some(i) = newest {
                let b = r.remove(i);
                r.insert(0, b);
            }
            tp.sack_blocks = r;
        }
        if got_fin {
            tcp_fin_input(tp);
        }
        tp.wake.wakeup();
    });
}

/// The peer's FIN is in order.
fn tcp_fin_input(tp: &mut Tcpcb) {
    if tp.state.have_rcvd_fin() {
        return;
    }
    tp.rcv_nxt = tp.rcv_nxt.wrapping_add(1);
    tp.rcv.cantrcvmore();
    tp.flags |= TF_ACKNOW;
    tp.sack_blocks.clear();
    match tp.state {
        TcpState::SynReceived | TcpState::Established => tp.state = TcpState::CloseWait,
        TcpState::FinWait1 => tp.state = TcpState::Closing,
        TcpState::FinWait2 => {
            tcp_twstart(tp);
        }
        _ => {}
    }
    tp.wake.wakeup();
}
