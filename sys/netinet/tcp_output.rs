//! TCP output (FreeBSD's sys/netinet/tcp_output.c): decide what a connection
//! may send now — data within the minimum of the peer's window and the
//! congestion window, SYN, FIN, pure ACKs and window updates — build the
//! options (MSS, window scale, SACK-permitted, timestamps, SACK blocks) and
//! hand the segments to IP.

use super::ip_var::inc;
use super::tcp::*;
use super::tcp_subr::{tcp_emit_with, SegOut};
use super::tcp_timer::{tcp_rexmtval, tcp_setpersist, tcp_timer_activate, tcp_timer_stop};
use super::tcp_var::*;
use vimage_kern::kern_timeout::getnow_ns;

/// Most data in one TSO segment, its options included: what one IPv4
/// datagram holds after the IP and bare TCP headers (`IP_MAXPACKET - hdrlen`).
const TCP_TSO_MAX: u32 = 65_535 - 40;

/// Our timestamp clock: milliseconds of kernel time.
pub fn tcp_ts_now() -> u32 {
    (getnow_ns() / 1_000_000) as u32
}

/// `tcp_outflags[]`: the flags a state sends by default.
fn outflags(s: TcpState) -> u8 {
    match s {
        TcpState::Closed | TcpState::Listen => 0,
        TcpState::SynSent => TH_SYN,
        TcpState::SynReceived => TH_SYN | TH_ACK,
        TcpState::Established | TcpState::CloseWait | TcpState::FinWait2 | TcpState::TimeWait => {
            TH_ACK
        }
        TcpState::FinWait1 | TcpState::Closing | TcpState::LastAck => TH_FIN | TH_ACK,
    }
}

/// The window we can offer now (unscaled bytes), never shrinking what was
/// already advertised.
pub fn tcp_rcv_window(tp: &Tcpcb) -> u32 {
    let space = tp.rcv.space() as u32;
    let max = 65535u32 << tp.rcv_scale;
    let adv = tp.rcv_adv.wrapping_sub(tp.rcv_nxt);
    let adv = if seq_gt(tp.rcv_adv, tp.rcv_nxt) {
        adv
    } else {
        0
    };
    space.min(max).max(adv)
}

/// Send buffer autosizing (FreeBSD 7's `tcp_do_autosndbuf`): while the buffer
/// is nearly full of data the window could already take, grow it by
/// `sendbuf_inc` up to `sendbuf_max`, so the application can stay ahead of a
/// large window.
fn tcp_autosndbuf(tp: &mut Tcpcb) {
    if !tp.snd.autosize() || !tp.state.have_established() {
        return;
    }
    VNET_TCP.try_with(|t| {
        if t.sendbuf_auto.load(std::sync::atomic::Ordering::Relaxed) == 0 {
            return;
        }
        let hiwat = tp.snd.hiwat() as u32;
        let cc = tp.snd.cc() as u32;
        let max = t
            .sendbuf_max
            .load(std::sync::atomic::Ordering::Relaxed)
            .max(0) as u32;
        let sendwin = tp.snd_wnd.min(tp.snd_cwnd);
        let inflight = tp.snd_nxt.wrapping_sub(tp.snd_una);
        if (tp.snd_wnd / 4).saturating_mul(5) >= hiwat
            && cc >= hiwat / 8 * 7
            && cc < max
            && sendwin >= cc.saturating_sub(inflight)
        {
            let inc = t
                .sendbuf_inc
                .load(std::sync::atomic::Ordering::Relaxed)
                .max(1) as u32;
            tp.snd
                .set_hiwat(hiwat.saturating_add(inc).min(max) as usize);
        }
    });
}

/// Options for a segment with `flags`.
fn build_options(tp: &Tcpcb, flags: u8) -> Vec<u8> {
    let mut o = Vec::with_capacity(40);
    if flags & TH_SYN != 0 {
        let mss = tp.t_maxseg.min(65535) as u16;
        o.extend_from_slice(&[TCPOPT_MAXSEG, 4]);
        o.extend_from_slice(&mss.to_be_bytes());
        let synack = flags & TH_ACK != 0;
        if tp.flags & TF_REQ_SCALE != 0 && (!synack || tp.flags & TF_RCVD_SCALE != 0) {
            o.extend_from_slice(&[TCPOPT_NOP, TCPOPT_WINDOW, 3, tp.request_r_scale]);
        }
        if tp.flags & TF_SACK_PERMIT != 0 {
            o.extend_from_slice(&[TCPOPT_NOP, TCPOPT_NOP, TCPOPT_SACK_PERMITTED, 2]);
        }
        if tp.flags & TF_REQ_TSTMP != 0 && (!synack || tp.flags & TF_RCVD_TSTMP != 0) {
            push_ts(&mut o, tp);
        }
        return o;
    }
    if tp.flags & TF_REQ_TSTMP != 0 && tp.flags & TF_RCVD_TSTMP != 0 {
        push_ts(&mut o, tp);
    }
    if tp.flags & TF_SACK_PERMIT != 0 && !tp.sack_blocks.is_empty() {
        let room = (40 - o.len()).saturating_sub(4) / 8;
        let n = tp.sack_blocks.len().min(room).min(4);
        if n > 0 {
            o.extend_from_slice(&[TCPOPT_NOP, TCPOPT_NOP, TCPOPT_SACK, (2 + 8 * n) as u8]);
            for (s, e) in tp.sack_blocks.iter().take(n) {
                o.extend_from_slice(&s.to_be_bytes());
                o.extend_from_slice(&e.to_be_bytes());
            }
            if let Some(t) = try_vnet_tcp() {
                inc(&t.stat.tcps_sack_send_blocks);
            }
        }
    }
    o
}

fn push_ts(o: &mut Vec<u8>, tp: &Tcpcb) {
    o.extend_from_slice(&[TCPOPT_NOP, TCPOPT_NOP, TCPOPT_TIMESTAMP, 10]);
    o.extend_from_slice(&tcp_ts_now().to_be_bytes());
    o.extend_from_slice(&tp.ts_recent.to_be_bytes());
}

/// Whether `seq` is covered by a block the peer SACKed.
fn sacked(tp: &Tcpcb, seq: u32) -> Option<u32> {
    tp.sackhint
        .iter()
        .find(|(s, e)| seq_geq(seq, *s) && seq_lt(seq, *e))
        .map(|(_, e)| *e)
}

/// `tcp_output`: send whatever the state, the windows and the flags allow.
pub fn tcp_output(tp: &mut Tcpcb) {
    if matches!(tp.state, TcpState::Closed | TcpState::Listen) {
        return;
    }
    VNET_TCP.try_with(|t| {
        for _ in 0..1024 {
            // In recovery with SACK, skip what the peer already holds.
            if tp.flags & TF_SACK_PERMIT != 0 && seq_lt(tp.snd_nxt, tp.snd_max) {
                while let Some(e) = sacked(tp, tp.snd_nxt) {
                    tp.snd_nxt = if seq_gt(e, tp.snd_max) { tp.snd_max } else { e };
                }
            }
            let mut flags = outflags(tp.state);
            tcp_autosndbuf(tp);
            let cc = tp.snd.cc() as u32;
            let synced = tp.state.have_established();
            let off = tp.snd_nxt.wrapping_sub(tp.snd_una);
            let mut sendwin = tp.snd_wnd.min(tp.snd_cwnd);
            if synced && tp.snd_wnd == 0 && tp.flags & TF_FORCEDATA == 0 && off > 0 && off <= cc {
                // The window closed under data in flight: pull back and persist
                // (what was sent beyond the window is resent when it opens).
                tcp_timer_stop(tp, TT_REXMT);
                tp.t_rxtshift = 0;
                tp.snd_nxt = tp.snd_una;
                if tp.timers[TT_PERSIST].is_none() {
                    tcp_setpersist(tp);
                }
                continue;
            }
            if tp.flags & TF_FORCEDATA != 0 && sendwin == 0 {
                sendwin = 1;
                if off > 0 && off <= cc {
                    tp.snd_nxt = tp.snd_una;
                    continue;
                }
            }
            let mut len = if synced {
                cc.saturating_sub(off).min(sendwin.saturating_sub(off))
            } else {
                0
            };
            // SYN only when it has not gone out yet (or is being retransmitted).
            if flags & TH_SYN != 0 && tp.snd_nxt != tp.iss {
                flags &= !TH_SYN;
            }
            if flags & TH_SYN != 0 {
                len = 0;
            }
            let opts = build_options(tp, flags);
            let maxdata = tp.t_maxseg.saturating_sub(opts.len() as u32).max(1);
            let mut sendalot = false;
            // TSO (FreeBSD 7's tcp_output): new data only, no SACK blocks to
            // tell, no SYN; up to what fits one IP datagram, in whole segments
            // unless that empties the buffer.
            let tso = tp.flags & TF_TSO != 0
                && len > maxdata
                && flags & TH_SYN == 0
                && seq_geq(tp.snd_nxt, tp.snd_max)
                && tp.sack_blocks.is_empty()
                && t.tso.load(std::sync::atomic::Ordering::Relaxed) != 0;
            if tso {
                let room = TCP_TSO_MAX - opts.len() as u32;
                if len > room {
                    len = room;
                    sendalot = true;
                }
                if off + len < cc && len > maxdata {
                    len -= len % maxdata;
                    sendalot = true;
                }
            } else if len > maxdata {
                len = maxdata;
                sendalot = true;
            }
            // FIN only with the last byte, and only if not already sent.
            let want_fin = flags & TH_FIN != 0;
            if want_fin
                && (off + len != cc
                    || (tp.flags & TF_SENTFIN != 0 && tp.snd_nxt != tp.snd_una.wrapping_add(cc)))
            {
                flags &= !TH_FIN;
            }
            if flags & TH_FIN != 0 && tp.flags & TF_SENTFIN != 0 && off > cc {
                flags &= !TH_FIN;
            }
            let idle = tp.snd_max == tp.snd_una;
            let mut send = false;
            if len > 0
                && (len >= maxdata
                    || (off + len == cc && (idle || tp.flags & TF_NODELAY != 0))
                    || tp.flags & TF_FORCEDATA != 0
                    || seq_lt(tp.snd_nxt, tp.snd_max)
                    || len >= tp.max_sndwnd / 2)
            {
                send = true;
            }
            // A window update worth telling.
            let win = tcp_rcv_window(tp);
            if synced && !tp.state.have_rcvd_fin() {
                let adv = win.saturating_sub(tp.rcv_adv.wrapping_sub(tp.rcv_nxt));
                if adv >= 2 * tp.t_maxseg || (adv > 0 && 2 * adv >= tp.rcv.hiwat() as u32) {
                    send = true;
                }
            }
            if tp.flags & TF_ACKNOW != 0 || flags & (TH_SYN | TH_RST) != 0 || flags & TH_FIN != 0 {
                send = true;
            }
            if !send {
                // Data waits behind a closed window: probe it.
                if cc > off
                    && synced
                    && tp.timers[TT_REXMT].is_none()
                    && tp.timers[TT_PERSIST].is_none()
                {
                    tp.t_rxtshift = 0;
                    tcp_setpersist(tp);
                }
                return;
            }
            // What the buffer really holds from `off` (it may have shrunk).
            let len = len.min(cc.saturating_sub(off));
            let seq = if flags & TH_SYN != 0 {
                tp.iss
            } else {
                tp.snd_nxt
            };
            let wfield = if flags & TH_SYN != 0 {
                win.min(65535)
            } else {
                (win >> tp.rcv_scale).min(65535)
            };
            let ack = if flags & TH_ACK != 0 { tp.rcv_nxt } else { 0 };
            if len > 0 {
                if len == cc.saturating_sub(off) {
                    flags |= TH_PUSH;
                }
                if seq_lt(tp.snd_nxt, tp.snd_max) {
                    inc(&t.stat.tcps_sndrexmitpack);
                    tp.t_sndrexmitpack = tp.t_sndrexmitpack.wrapping_add(1);
                    t.stat
                        .tcps_sndrexmitbyte
                        .fetch_add(u64::from(len), std::sync::atomic::Ordering::Relaxed);
                } else {
                    inc(&t.stat.tcps_sndpack);
                    t.stat
                        .tcps_sndbyte
                        .fetch_add(u64::from(len), std::sync::atomic::Ordering::Relaxed);
                }
                if tp.flags & TF_FORCEDATA != 0 && tp.snd_wnd == 0 {
                    inc(&t.stat.tcps_sndprobe);
                }
            } else if flags & (TH_SYN | TH_FIN | TH_RST) != 0 {
                inc(&t.stat.tcps_sndctrl);
            } else if tp.flags & TF_ACKNOW != 0 || tp.flags & TF_DELACK != 0 {
                inc(&t.stat.tcps_sndacks);
            } else {
                inc(&t.stat.tcps_sndwinup);
            }
            let snd = &tp.snd;
            let _ = tcp_emit_with(
                &SegOut {
                    ep: &tp.ep,
                    seq,
                    ack,
                    flags,
                    win: wfield as u16,
                    opts: &opts,
                    data: &[],
                    tso_segsz: if tso { maxdata as u16 } else { 0 },
                },
                len as usize,
                |b| {
                    snd.extend_into(off as usize, len as usize, b);
                },
            );
            // Advance.
            let startseq = seq;
            let mut adv = len;
            if flags & TH_SYN != 0 {
                adv += 1;
            }
            if flags & TH_FIN != 0 {
                adv += 1;
                tp.flags |= TF_SENTFIN;
            }
            if adv > 0 && (tp.flags & TF_FORCEDATA == 0 || tp.timers[TT_PERSIST].is_none()) {
                tp.snd_nxt = startseq.wrapping_add(adv);
                if seq_gt(tp.snd_nxt, tp.snd_max) {
                    tp.snd_max = tp.snd_nxt;
                    if tp.t_rtttime == 0 {
                        tp.t_rtttime = getnow_ns();
                        tp.t_rtseq = startseq;
                        inc(&t.stat.tcps_segstimed);
                    }
                }
                if tp.timers[TT_REXMT].is_none() && tp.snd_nxt != tp.snd_una {
                    tcp_timer_stop(tp, TT_PERSIST);
                    let rto = tcp_rexmtval(tp);
                    tcp_timer_activate(tp, TT_REXMT, rto);
                }
            } else if adv > 0 {
                // Persist probe: the byte counts as sent.
                tp.snd_nxt = startseq.wrapping_add(adv);
                if seq_gt(tp.snd_nxt, tp.snd_max) {
                    tp.snd_max = tp.snd_nxt;
                }
            }
            if adv == 0
                && cc > 0
                && synced
                && tp.timers[TT_REXMT].is_none()
                && tp.timers[TT_PERSIST].is_none()
            {
                // A bare ACK went out while data waits behind a closed window:
                // without this, nothing would ever probe the window (the case
                // FreeBSD's tcp_output comments as "A -> B: ACK for #2, 0 len").
                tp.t_rxtshift = 0;
                tcp_setpersist(tp);
            }
            let w = if flags & TH_SYN != 0 {
                wfield
            } else {
                wfield << tp.rcv_scale
            };
            if seq_gt(tp.rcv_nxt.wrapping_add(w), tp.rcv_adv) {
                tp.rcv_adv = tp.rcv_nxt.wrapping_add(w);
            }
            tp.flags &= !(TF_ACKNOW | TF_DELACK);
            tcp_timer_stop(tp, TT_DELACK);
            if !sendalot || tp.flags & TF_FORCEDATA != 0 {
                return;
            }
        }
    });
}
