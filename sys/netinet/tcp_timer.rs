//! TCP timers (FreeBSD's sys/netinet/tcp_timer.c): retransmission with
//! exponential backoff (RFC 6298), persist probes of a zero window, keepalive,
//! 2*MSL and delayed ACK, run as `kern_timeout` callouts on the kernel clock.

use super::ip_var::inc;
use super::tcp_output::tcp_output;
use super::tcp_subr::{tcp_close, tcp_drop, tcp_respond};
use super::tcp_var::*;
use vimage_abi::Errno;
use vimage_kern::kern_timeout::{callout_stop, getnow_ns, timeout};
use vimage_net::netisr::netisr_enter;

const MS: u64 = 1_000_000;
/// `TCP_MAXRXTSHIFT`: retransmissions before giving up.
pub const TCP_MAXRXTSHIFT: u32 = 12;
/// `tcp_backoff[]`.
pub const TCP_BACKOFF: [u64; 13] = [1, 2, 4, 8, 16, 32, 64, 64, 64, 64, 64, 64, 64];
/// `TCPTV_RTOBASE`: RTO before any sample (FreeBSD 7: 3 s).
pub const TCPTV_RTOBASE: u64 = 3000 * MS;
/// `tcp_rexmit_min`.
pub const TCPTV_MIN: u64 = 200 * MS;
/// `TCPTV_REXMTMAX`.
pub const TCPTV_REXMTMAX: u64 = 64_000 * MS;
/// `TCPTV_PERSMIN`.
pub const TCPTV_PERSMIN: u64 = 5000 * MS;
/// `TCPTV_PERSMAX`.
pub const TCPTV_PERSMAX: u64 = 60_000 * MS;
/// `TCPTV_DELACK`.
pub const TCPTV_DELACK: u64 = 100 * MS;
/// `TCPTV_KEEPCNT`: unanswered keepalive probes before dropping.
pub const TCPTV_KEEPCNT: u32 = 8;
/// `TCPTV_FINWAIT2_TIMEOUT` for an orphaned FIN_WAIT_2.
pub const TCPTV_FINWAIT2: u64 = 60_000 * MS;

/// Arm timer `which` to fire `delta` ns from now (`tcp_timer_activate`).
pub fn tcp_timer_activate(tp: &mut Tcpcb, which: usize, delta: u64) {
    let at = getnow_ns().saturating_add(delta.max(1));
    tp.timers[which] = Some(at);
    tcp_timer_sched(tp);
}

/// Stop timer `which`.
pub fn tcp_timer_stop(tp: &mut Tcpcb, which: usize) {
    tp.timers[which] = None;
}

/// Make sure a callout is pending for the earliest armed timer.
pub fn tcp_timer_sched(tp: &mut Tcpcb) {
    let Some(next) = tp.timers.iter().flatten().min().copied() else {
        return;
    };
    if tp.callout.is_some_and(|c| c.at() <= next) {
        return;
    }
    // The later callout this one supersedes is stopped, so a busy
    // connection leaves no trail of dead callouts behind it.
    if let Some(old) = tp.callout.take() {
        callout_stop(old);
    }
    let w = tp.me.clone();
    tp.callout = timeout(next, move || {
        let Some(cb) = w.upgrade() else { return };
        let _ns = netisr_enter();
        let r = cb.lock();
        if let Ok(mut tp) = r {
            if tp.callout.is_some_and(|c| c.at() == next) {
                tp.callout = None;
            }
            tcp_timers_run(&mut tp);
        }
    });
}

/// The current RTO with backoff (`TCP_REXMTVAL` × `tcp_backoff[t_rxtshift]`).
pub fn tcp_rexmtval(tp: &Tcpcb) -> u64 {
    let b = TCP_BACKOFF[(tp.t_rxtshift as usize).min(TCP_BACKOFF.len() - 1)];
    tp.t_rxtcur
        .saturating_mul(b)
        .clamp(TCPTV_MIN, TCPTV_REXMTMAX)
}

/// Run every due timer of `tp`, then re-arm.
pub fn tcp_timers_run(tp: &mut Tcpcb) {
    let now = getnow_ns();
    for which in [TT_DELACK, TT_REXMT, TT_PERSIST, TT_KEEP, TT_2MSL] {
        if tp.timers[which].is_some_and(|t| t <= now) {
            tp.timers[which] = None;
            if tp.state == TcpState::Closed {
                return;
            }
            match which {
                TT_DELACK => tcp_timer_delack(tp),
                TT_REXMT => tcp_timer_rexmt(tp),
                TT_PERSIST => tcp_timer_persist(tp),
                TT_KEEP => tcp_timer_keep(tp),
                _ => tcp_timer_2msl(tp),
            }
        }
    }
    if tp.state != TcpState::Closed {
        tcp_timer_sched(tp);
    }
}

fn tcp_timer_delack(tp: &mut Tcpcb) {
    tp.flags |= TF_ACKNOW;
    tp.flags &= !TF_DELACK;
    if let Some(t) = try_vnet_tcp() {
        inc(&t.stat.tcps_delack);
    }
    tcp_output(tp);
}

fn tcp_timer_2msl(tp: &mut Tcpcb) {
    // TIME_WAIT is over, or an orphaned FIN_WAIT_2 waited long enough.
    tcp_close(tp);
}

fn tcp_timer_rexmt(tp: &mut Tcpcb) {
    let Some(t) = try_vnet_tcp() else { return };
    if tp.state == TcpState::Listen {
        super::tcp_syncache::syncache_timer(tp);
        return;
    }
    tp.t_rxtshift += 1;
    if tp.t_rxtshift > TCP_MAXRXTSHIFT {
        tp.t_rxtshift = TCP_MAXRXTSHIFT;
        inc(&t.stat.tcps_timeoutdrop);
        let e = tp.so_error.or(tp.t_softerror).unwrap_or(Errno::ETIMEDOUT);
        tcp_drop(tp, e);
        return;
    }
    inc(&t.stat.tcps_rexmttimeo);
    // RFC 6298 5.5-5.7 / RFC 5681 3.1: back off, collapse the window, go back
    // to the first unacknowledged byte.
    let flight = tp.snd_max.wrapping_sub(tp.snd_una);
    let mss = tp.t_maxseg.max(1);
    tp.snd_ssthresh = (flight.min(tp.snd_wnd) / 2).max(2 * mss);
    tp.snd_cwnd = mss;
    tp.snd_recover = tp.snd_max;
    tp.flags &= !TF_FASTRECOVERY;
    tp.t_dupacks = 0;
    tp.sackhint.clear();
    if tp.t_rxtshift > TCP_MAXRXTSHIFT / 4 {
        // Many losses: the RTT estimate is suspect (RFC 6298 5.7 leaves it).
        tp.t_rttvar += tp.t_srtt / 4;
        tp.t_srtt = 0;
    }
    tp.t_rtttime = 0;
    tp.snd_nxt = tp.snd_una;
    tp.flags &= !TF_SENTFIN;
    let rto = tcp_rexmtval(tp);
    tcp_timer_activate(tp, TT_REXMT, rto);
    tcp_output(tp);
}

fn tcp_timer_persist(tp: &mut Tcpcb) {
    if let Some(t) = try_vnet_tcp() {
        inc(&t.stat.tcps_persisttimeo);
    }
    tcp_setpersist(tp);
    tp.flags |= TF_FORCEDATA;
    tcp_output(tp);
    tp.flags &= !TF_FORCEDATA;
}

/// `tcp_setpersist`: arm the persist timer with backoff.
pub fn tcp_setpersist(tp: &mut Tcpcb) {
    let base = if tp.t_srtt == 0 {
        TCPTV_RTOBASE
    } else {
        tp.t_srtt + 4 * tp.t_rttvar
    };
    let b = TCP_BACKOFF[(tp.t_rxtshift as usize).min(TCP_BACKOFF.len() - 1)];
    let d = base.saturating_mul(b).clamp(TCPTV_PERSMIN, TCPTV_PERSMAX);
    if tp.t_rxtshift < TCP_MAXRXTSHIFT {
        tp.t_rxtshift += 1;
    }
    tcp_timer_activate(tp, TT_PERSIST, d);
}

fn tcp_timer_keep(tp: &mut Tcpcb) {
    let Some(t) = try_vnet_tcp() else { return };
    inc(&t.stat.tcps_keeptimeo);
    if !tp.state.have_established() {
        // Connection establishment took too long.
        inc(&t.stat.tcps_keepdrops);
        tcp_drop(tp, Errno::ETIMEDOUT);
        return;
    }
    let now = getnow_ns();
    let idle = t.ms(&t.keepidle);
    let intvl = t.ms(&t.keepintvl);
    if tp.keepalive && tp.state <= TcpState::CloseWait {
        if now.saturating_sub(tp.t_rcvtime) >= idle + intvl * u64::from(TCPTV_KEEPCNT) {
            inc(&t.stat.tcps_keepdrops);
            tcp_drop(tp, Errno::ETIMEDOUT);
            return;
        }
        if now.saturating_sub(tp.t_rcvtime) >= idle {
            inc(&t.stat.tcps_keepprobe);
            tp.t_keepcnt += 1;
            // A probe with an old sequence number elicits an ACK.
            tcp_respond(
                &tp.ep,
                tp.snd_una.wrapping_sub(1),
                tp.rcv_nxt,
                super::tcp::TH_ACK,
            );
            tcp_timer_activate(tp, TT_KEEP, intvl);
            return;
        }
        let left = idle - now.saturating_sub(tp.t_rcvtime);
        tcp_timer_activate(tp, TT_KEEP, left.max(MS));
    }
}
