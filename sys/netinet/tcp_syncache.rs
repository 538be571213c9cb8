//! The SYN cache (FreeBSD's sys/netinet/tcp_syncache.c): half-open
//! connections of a listening socket are kept in a small bounded table instead
//! of full control blocks, so a SYN flood costs a bounded amount of memory; the
//! connection is made only when the handshake's final ACK arrives.

use std::sync::atomic::Ordering;

use super::ip_var::inc;
use super::tcp::*;
use super::tcp_output::tcp_ts_now;
use super::tcp_subr::{tcp_emit, tcp_mssopt, SegOut};
use super::tcp_timer::{tcp_timer_activate, TCPTV_RTOBASE};
use super::tcp_var::*;
use vimage_kern::kern_timeout::getnow_ns;

/// SYN-ACK retransmissions before an entry is dropped (`SYNCACHE_MAXREXMTS`).
pub const SYNCACHE_MAXREXMTS: u32 = 3;

/// One half-open connection (`struct syncache`).
#[derive(Clone, Debug)]
pub struct SynEnt {
    /// Addresses as the connection will have them.
    pub ep: TcpEndpoints,
    /// The peer's initial sequence number.
    pub irs: u32,
    /// Ours.
    pub iss: u32,
    /// The peer's MSS option (0: none).
    pub peer_mss: u32,
    /// The peer's window scale, if offered and we scale.
    pub wscale: Option<u8>,
    /// Our window scale for this connection.
    pub rscale: u8,
    /// Both sides allow SACK.
    pub sack: bool,
    /// The peer's timestamp, if both use timestamps.
    pub ts_recent: Option<u32>,
    /// The peer's window in the SYN.
    pub wnd: u16,
    /// When the SYN-ACK should be resent.
    pub rexmt_at: u64,
    /// SYN-ACKs resent.
    pub rexmits: u32,
}

/// A listener's SYN cache.
#[derive(Default)]
pub struct SynCache {
    /// Entries, oldest first.
    pub ents: Vec<SynEnt>,
}

/// Send (or resend) the SYN-ACK of `sc`.
pub fn syncache_respond(sc: &SynEnt, mss_cap: Option<u32>, win: u32) {
    let mss = mss_cap.unwrap_or(u32::MAX).min(tcp_mssopt(&sc.ep));
    let mut o = Vec::with_capacity(40);
    o.extend_from_slice(&[TCPOPT_MAXSEG, 4]);
    o.extend_from_slice(&(mss.min(65535) as u16).to_be_bytes());
    if sc.wscale.is_some() {
        o.extend_from_slice(&[TCPOPT_NOP, TCPOPT_WINDOW, 3, sc.rscale]);
    }
    if sc.sack {
        o.extend_from_slice(&[TCPOPT_NOP, TCPOPT_NOP, TCPOPT_SACK_PERMITTED, 2]);
    }
    if let Some(r) = sc.ts_recent {
        o.extend_from_slice(&[TCPOPT_NOP, TCPOPT_NOP, TCPOPT_TIMESTAMP, 10]);
        o.extend_from_slice(&tcp_ts_now().to_be_bytes());
        o.extend_from_slice(&r.to_be_bytes());
    }
    let _ = tcp_emit(&SegOut {
        ep: &sc.ep,
        seq: sc.iss,
        ack: sc.irs.wrapping_add(1),
        flags: TH_SYN | TH_ACK,
        win: win.min(65535) as u16,
        opts: &o,
        data: &[],
        tso_segsz: 0,
    });
}

/// `syncache_add`: a SYN for listener `lp`.  A duplicate SYN resends the
/// SYN-ACK; a full cache drops its oldest entry.
pub fn syncache_add(lp: &mut Tcpcb, sc: SynEnt) {
    let Some(t) = try_vnet_tcp() else { return };
    let limit = t.sc_limit.load(Ordering::Relaxed).max(1) as usize;
    let mss = lp.t_maxseg_user;
    let win = lp.rcv.hiwat() as u32;
    let Some(l) = lp.listen.as_mut() else { return };
    if let Some(e) = l
        .syncache
        .ents
        .iter()
        .find(|e| e.ep == sc.ep && e.irs == sc.irs)
    {
        inc(&t.stat.tcps_sc_dupsyn);
        syncache_respond(e, mss, win);
        return;
    }
    l.syncache.ents.retain(|e| e.ep != sc.ep);
    if l.syncache.ents.len() >= limit {
        inc(&t.stat.tcps_sc_cacheoverflow);
        inc(&t.stat.tcps_sc_dropped);
        l.syncache.ents.remove(0);
    }
    inc(&t.stat.tcps_sc_added);
    syncache_respond(&sc, mss, win);
    l.syncache.ents.push(sc);
    if lp.timers[TT_REXMT].is_none() {
        tcp_timer_activate(lp, TT_REXMT, TCPTV_RTOBASE);
    }
}

/// `syncache_expand`: the final ACK of a handshake; the entry, removed, if
/// `ack` acknowledges its SYN-ACK.
pub fn syncache_expand(lp: &mut Tcpcb, ep: &TcpEndpoints, seq: u32, ack: u32) -> Option<SynEnt> {
    let l = lp.listen.as_mut()?;
    let i = l.syncache.ents.iter().position(|e| {
        e.ep == *ep && e.iss.wrapping_add(1) == ack && e.irs.wrapping_add(1) == seq
    })?;
    Some(l.syncache.ents.remove(i))
}

/// A RST for a half-open connection: forget it if its sequence number is
/// exactly the expected one.
pub fn syncache_chkrst(lp: &mut Tcpcb, ep: &TcpEndpoints, seq: u32) {
    let Some(l) = lp.listen.as_mut() else { return };
    let before = l.syncache.ents.len();
    l.syncache
        .ents
        .retain(|e| !(e.ep == *ep && e.irs.wrapping_add(1) == seq));
    if l.syncache.ents.len() != before {
        if let Some(t) = try_vnet_tcp() {
            inc(&t.stat.tcps_sc_reset);
        }
    }
}

/// The listener's retransmission timer: resend due SYN-ACKs, expire entries
/// that were resent too often.
pub fn syncache_timer(lp: &mut Tcpcb) {
    let Some(t) = try_vnet_tcp() else { return };
    let now = getnow_ns();
    let mss = lp.t_maxseg_user;
    let win = lp.rcv.hiwat() as u32;
    let Some(l) = lp.listen.as_mut() else { return };
    l.syncache.ents.retain_mut(|e| {
        if e.rexmt_at > now {
            return true;
        }
        if e.rexmits >= SYNCACHE_MAXREXMTS {
            inc(&t.stat.tcps_sc_stale);
            return false;
        }
        e.rexmits += 1;
        e.rexmt_at = now + (TCPTV_RTOBASE << e.rexmits);
        inc(&t.stat.tcps_sc_retransmitted);
        syncache_respond(e, mss, win);
        true
    });
    if let Some(next) = l.syncache.ents.iter().map(|e| e.rexmt_at).min() {
        tcp_timer_activate(lp, TT_REXMT, next.saturating_sub(now));
    }
}
