//! Kernel-level TCP tests: two vimages on one cable of the test network
//! ([`vimage_net::testnet`]), which can drop frames by rule and delay them
//! on fake time; sockets driven through their [`ProtoSocket`] halves in
//! their vnet.

#![cfg(feature = "vimage")]

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use vimage_abi::net_if::*;
use vimage_abi::netinet_in::*;
use vimage_abi::Errno;

use super::in_proto::InetDomain;
use super::r#in::in_aifaddr;
use super::tcp_var::*;
use crate::testnet::{Cable, Host, Net};
use vimage_kern::uipc_socket::*;

/// What these tests do with a host's TCP.
trait TcpHost {
    fn socket(&self) -> Box<dyn ProtoSocket>;
    fn stat(&self, name: &str) -> u64;
    fn conns(&self) -> Vec<(TcpEndpoints, TcpState, usize, usize)>;
    fn set(&self, f: impl FnOnce(&VnetTcp));
}

impl TcpHost for Host {
    fn socket(&self) -> Box<dyn ProtoSocket> {
        self.with(|| InetDomain.attach(1, 0)).expect("socket")
    }
    fn stat(&self, name: &str) -> u64 {
        self.with(|| vnet_tcp().stat.snapshot().get(name).unwrap_or(0))
    }
    fn conns(&self) -> Vec<(TcpEndpoints, TcpState, usize, usize)> {
        self.with(tcp_conns)
    }
    fn set(&self, f: impl FnOnce(&VnetTcp)) {
        self.with(|| f(&vnet_tcp()))
    }
}

/// Two hosts on one cable: a is 10.0.0.1 (MAC 40:0a:0b:0c:0d:01), b is
/// 10.0.0.2 (..:02).
fn pair(n: &Net) -> (Host, Host, Cable) {
    let a = n.host("a");
    let b = n.host("b");
    let mac = |x| [0x40, 0x0a, 0x0b, 0x0c, 0x0d, x];
    let w = n.wire(&a, "eth0", mac(1), &b, "eth0", mac(2));
    a.addr(&w.a, "10.0.0.1/24");
    b.addr(&w.b, "10.0.0.2/24");
    (a, b, w)
}

/// (flags, seq, ack, window, payload length, options) of a TCP/IPv4 frame.
fn tcp_of(f: &[u8]) -> Option<(u8, u32, u32, u16, usize, Vec<u8>)> {
    if f.len() < 14 + 20 || f[12..14] != [8, 0] || f[14 + 9] != 6 {
        return None;
    }
    let ip = &f[14..];
    let hl = usize::from(ip[0] & 0xf) * 4;
    let tl = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let t = ip.get(hl..tl)?;
    let off = usize::from(t[12] >> 4) * 4;
    Some((
        t[13],
        u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
        u32::from_be_bytes([t[8], t[9], t[10], t[11]]),
        u16::from_be_bytes([t[14], t[15]]),
        t.len() - off,
        t[20..off].to_vec(),
    ))
}

fn sa(a: &str, port: u16) -> Vec<u8> {
    SockaddrIn::new(a.parse().unwrap(), port)
        .to_bytes()
        .to_vec()
}

/// A listener on b:port and a connected pair (client in a, accepted in b).
fn connect_pair(
    n: &Net,
    a: &Host,
    b: &Host,
    port: u16,
) -> (
    Box<dyn ProtoSocket>,
    Box<dyn ProtoSocket>,
    Box<dyn ProtoSocket>,
) {
    let mut l = b.socket();
    b.with(|| l.bind(&sa("0.0.0.0", port))).unwrap();
    b.with(|| l.listen(5)).unwrap();
    let mut c = a.socket();
    assert_eq!(
        a.with(|| c.connect(&sa("10.0.0.2", port))),
        Err(Errno::EINPROGRESS)
    );
    n.run(5);
    assert_eq!(c.poll() & POLLOUT, POLLOUT, "connected");
    let (s, peer) = b.with(|| l.accept()).expect("accept");
    let p = SockaddrIn::from_bytes(&peer).unwrap();
    assert_eq!(p.addr, Ipv4Addr::new(10, 0, 0, 1));
    (l, c, s)
}

fn send_all(n: &Net, h: &Host, so: &mut Box<dyn ProtoSocket>, data: &[u8], limit_ms: u64) {
    let mut off = 0;
    let mut waited = 0;
    while off < data.len() {
        match h.with(|| so.sendto(&data[off..], None, 0)) {
            Ok(k) => off += k,
            Err(Errno::EWOULDBLOCK) => {
                n.run(1);
                waited += 1;
                assert!(waited < limit_ms, "send stuck at {off}");
            }
            Err(e) => panic!("send: {e:?}"),
        }
    }
}

fn recv_some(h: &Host, so: &dyn ProtoSocket) -> Result<Vec<u8>, Errno> {
    let sb = so.rcvbuf().unwrap();
    h.with(|| sb.recv(1 << 20, MSG_DONTWAIT, None, &|| false))
        .map(|(d, _)| d)
}

/// Move `data` from `tx` to `rx`, reading as it arrives; what `rx` got.
fn transfer(
    n: &Net,
    a: &Host,
    tx: &mut Box<dyn ProtoSocket>,
    b: &Host,
    rx: &dyn ProtoSocket,
    data: &[u8],
    limit_ms: u64,
) -> Vec<u8> {
    let mut got = Vec::new();
    let mut off = 0;
    let mut t = 0;
    while got.len() < data.len() {
        if off < data.len() {
            if let Ok(k) = a.with(|| tx.sendto(&data[off..], None, 0)) {
                off += k;
            }
        }
        n.run(1);
        t += 1;
        if let Ok(d) = recv_some(b, rx) {
            got.extend_from_slice(&d);
        }
        assert!(
            t < limit_ms,
            "transfer stuck at {} of {}",
            got.len(),
            data.len()
        );
    }
    got
}

fn state_of(h: &Host, port: u16, local: bool) -> Vec<TcpState> {
    h.conns()
        .into_iter()
        .filter(|(ep, ..)| {
            if local {
                ep.lport == port
            } else {
                ep.fport == port
            }
        })
        .map(|(_, s, ..)| s)
        .collect()
}

#[test]
fn handshake_data_both_ways_and_close_with_time_wait() {
    let n = Net::boot();
    let (a, b, _) = pair(&n);
    let (mut l, mut c, mut s) = connect_pair(&n, &a, &b, 80);
    assert_eq!(state_of(&a, 80, false), vec![TcpState::Established]);
    send_all(&n, &a, &mut c, b"hello, server", 100);
    n.run(200);
    assert_eq!(recv_some(&b, &*s).unwrap(), b"hello, server");
    send_all(&n, &b, &mut s, b"hello, client", 100);
    n.run(200);
    assert_eq!(recv_some(&a, &*c).unwrap(), b"hello, client");
    assert_eq!(c.peername().unwrap(), sa("10.0.0.2", 80));
    // Client closes first: it goes through FIN_WAIT to TIME_WAIT.
    a.with(|| c.shutdown(SHUT_WR)).unwrap();
    n.run(5);
    assert_eq!(recv_some(&b, &*s).unwrap(), b"", "EOF");
    assert_eq!(state_of(&b, 80, true).last(), Some(&TcpState::CloseWait));
    assert_eq!(state_of(&a, 80, false), vec![TcpState::FinWait2]);
    b.with(|| s.close());
    n.run(5);
    assert_eq!(state_of(&a, 80, false), vec![TcpState::TimeWait]);
    assert_eq!(recv_some(&a, &*c).unwrap(), b"");
    // 2*MSL later the connection is gone.
    a.with(|| c.close());
    n.run(59_000);
    assert_eq!(state_of(&a, 80, false), vec![TcpState::TimeWait]);
    n.run(1_100);
    assert!(state_of(&a, 80, false).is_empty());
    assert_eq!(state_of(&b, 80, true), vec![TcpState::Listen]);
    b.with(|| l.close());
    assert!(b.conns().is_empty());
    assert!(a.stat("tcps_connects") >= 1 && b.stat("tcps_accepts") == 1);
}

#[test]
fn server_closes_first_and_client_sees_eof() {
    let n = Net::boot();
    let (a, b, _) = pair(&n);
    let (_l, mut c, mut s) = connect_pair(&n, &a, &b, 81);
    send_all(&n, &b, &mut s, b"bye", 10);
    b.with(|| s.close());
    n.run(300);
    assert_eq!(recv_some(&a, &*c).unwrap(), b"bye");
    assert_eq!(recv_some(&a, &*c).unwrap(), b"");
    assert_eq!(state_of(&a, 81, false), vec![TcpState::CloseWait]);
    assert_eq!(a.with(|| c.sendto(b"late", None, 0)), Ok(4));
    a.with(|| c.close());
    n.run(300);
    // b's socket was closed: its data is refused with a RST; a's block goes.
    assert!(state_of(&a, 81, false).is_empty());
    let bs = state_of(&b, 81, true);
    assert!(
        bs.iter()
            .all(|s| matches!(s, TcpState::Listen | TcpState::TimeWait)),
        "{bs:?}"
    );
}

#[test]
fn rst_on_closed_port_refuses_connect() {
    let n = Net::boot();
    let (a, _b, _) = pair(&n);
    let mut c = a.socket();
    assert_eq!(
        a.with(|| c.connect(&sa("10.0.0.2", 9))),
        Err(Errno::EINPROGRESS)
    );
    n.run(5);
    assert_eq!(c.poll() & POLLERR, POLLERR);
    assert_eq!(c.soerror(), Some(Errno::ECONNREFUSED));
    assert_eq!(a.with(|| c.sendto(b"x", None, 0)), Err(Errno::EPIPE));
}

#[test]
fn simultaneous_open_and_simultaneous_close() {
    let n = Net::boot();
    let (a, b, w) = pair(&n);
    let mut x = a.socket();
    let mut y = b.socket();
    a.with(|| x.bind(&sa("10.0.0.1", 5000))).unwrap();
    b.with(|| y.bind(&sa("10.0.0.2", 6000))).unwrap();
    // Let ARP settle so both SYNs cross on the wire.
    w.drop_if(|f| tcp_of(f).is_some());
    let _ = a.with(|| x.connect(&sa("10.0.0.2", 6000)));
    let _ = b.with(|| y.connect(&sa("10.0.0.1", 5000)));
    w.no_drop();
    // Both SYNs were lost; the retransmissions cross.
    n.run(3_500);
    assert_eq!(state_of(&a, 5000, true), vec![TcpState::Established]);
    assert_eq!(state_of(&b, 6000, true), vec![TcpState::Established]);
    // Simultaneous close: both FINs cross (held by a delay), CLOSING, TIME_WAIT.
    w.set_delay_ms(5);
    a.with(|| x.shutdown(SHUT_WR)).unwrap();
    b.with(|| y.shutdown(SHUT_WR)).unwrap();
    n.run(2);
    assert_eq!(state_of(&a, 5000, true), vec![TcpState::FinWait1]);
    n.run(20);
    assert_eq!(state_of(&a, 5000, true), vec![TcpState::TimeWait]);
    assert_eq!(state_of(&b, 6000, true), vec![TcpState::TimeWait]);
}

#[test]
fn listen_backlog_overflow_drops_connections() {
    let n = Net::boot();
    let (a, b, _) = pair(&n);
    let mut l = b.socket();
    b.with(|| l.bind(&sa("0.0.0.0", 7))).unwrap();
    b.with(|| l.listen(1)).unwrap();
    let mut cs: Vec<_> = (0..4).map(|_| a.socket()).collect();
    for c in cs.iter_mut() {
        let _ = a.with(|| c.connect(&sa("10.0.0.2", 7)));
        n.run(2);
    }
    let est = cs.iter().filter(|c| c.poll() & POLLOUT != 0).count();
    assert_eq!(est, 2, "3*backlog/2 + 1 queued");
    assert!(b.stat("tcps_listendrop") >= 2);
    assert_eq!(l.poll() & POLLIN, POLLIN);
    let _ = b.with(|| l.accept()).unwrap();
    let _ = b.with(|| l.accept()).unwrap();
    assert_eq!(b.with(|| l.accept()).err(), Some(Errno::EWOULDBLOCK));
    // The dropped SYNs are retransmitted and now fit.
    n.run(3_500);
    assert_eq!(cs.iter().filter(|c| c.poll() & POLLOUT != 0).count(), 4);
}

#[test]
fn retransmission_after_a_dropped_segment_and_backoff_to_etimedout() {
    let n = Net::boot();
    let (a, b, w) = pair(&n);
    let (_l, mut c, s) = connect_pair(&n, &a, &b, 82);
    let mut dropped = false;
    w.drop_if(move |f| match tcp_of(f) {
        Some((_, _, _, _, len, _)) if len > 0 && !dropped => {
            dropped = true;
            true
        }
        _ => false,
    });
    send_all(&n, &a, &mut c, b"lost once", 10);
    n.run(100);
    assert!(recv_some(&b, &*s).is_err());
    n.run(3_500);
    assert_eq!(recv_some(&b, &*s).unwrap(), b"lost once");
    assert!(a.stat("tcps_rexmttimeo") >= 1);
    assert!(a.stat("tcps_sndrexmitpack") >= 1);
    // Now the cable eats everything: backoff until ETIMEDOUT.
    w.drop_if(|_| true);
    send_all(&n, &a, &mut c, b"into the void", 10);
    let mut gaps = Vec::new();
    let mut last = None;
    let mut t = 0u64;
    while c.poll() & POLLERR == 0 {
        n.run(100);
        t += 100;
        let r = a.stat("tcps_rexmttimeo");
        if last != Some(r) {
            gaps.push(t);
            last = Some(r);
        }
        assert!(t < 3_000_000, "never timed out");
    }
    assert_eq!(c.soerror(), Some(Errno::ETIMEDOUT));
    assert!(a.stat("tcps_timeoutdrop") >= 1);
    // Exponential backoff: later gaps are longer.
    let d: Vec<u64> = gaps.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(d.len() > 5 && d[d.len() - 1] > d[1] * 4, "{d:?}");
}

#[test]
fn fast_retransmit_on_three_duplicate_acks() {
    let n = Net::boot();
    let (a, b, w) = pair(&n);
    let (_l, mut c, s) = connect_pair(&n, &a, &b, 83);
    a.with(|| c.setsockopt(6, 1, &1i32.to_le_bytes())).unwrap();
    // Grow the window first.
    let warm = vec![7u8; 64 * 1024];
    let got = transfer(&n, &a, &mut c, &b, &*s, &warm, 10_000);
    assert_eq!(got.len(), warm.len());
    let mut k = 0;
    w.drop_if(move |f| match tcp_of(f) {
        Some((_, _, _, _, len, _)) if len > 0 => {
            k += 1;
            k == 2
        }
        _ => false,
    });
    let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    let before = a.stat("tcps_rexmttimeo");
    let got = transfer(&n, &a, &mut c, &b, &*s, &data, 2_000);
    assert_eq!(got, data);
    assert!(b.stat("tcps_rcvoopack") >= 1);
    assert!(a.stat("tcps_rcvdupack") >= 3);
    assert_eq!(
        a.stat("tcps_rexmttimeo"),
        before,
        "recovered without a timeout"
    );
    assert!(a.stat("tcps_sack_recovery_episode") >= 1);
}

#[test]
fn window_scaling_timestamps_and_sack_are_negotiated() {
    let n = Net::boot();
    let (a, b, w) = pair(&n);
    let syns = Arc::new(Mutex::new(Vec::new()));
    let s2 = syns.clone();
    w.drop_if(move |f| {
        if let Some((fl, _, _, _, _, o)) = tcp_of(f) {
            if fl & super::tcp::TH_SYN != 0 {
                s2.lock().unwrap().push(o);
            }
        }
        false
    });
    let (_l, c, s) = connect_pair(&n, &a, &b, 84);
    let syns = syns.lock().unwrap().clone();
    assert_eq!(syns.len(), 2);
    for o in &syns {
        let kinds: Vec<u8> = super::tcp::TcpOptions::new(o)
            .filter_map(|x| x.ok())
            .map(|x| x.kind)
            .filter(|k| *k != 1)
            .collect();
        assert_eq!(kinds, vec![2, 3, 4, 8], "MSS, WS, SACK-permitted, TS");
    }
    for so in [&c, &s] {
        let _ = so;
    }
    let ok = |h: &Host, port: u16| {
        h.with(|| {
            vnet_tcp()
                .tcb
                .list()
                .into_iter()
                .filter(|(ep, _)| {
                    ep.fport == port || (ep.lport == port && !ep.faddr.is_unspecified())
                })
                .map(|(_, cb)| {
                    let tp = cb.lock().unwrap();
                    (
                        tp.flags & (TF_RCVD_SCALE | TF_RCVD_TSTMP | TF_SACK_PERMIT),
                        tp.snd_scale,
                        tp.rcv_scale,
                        tp.ts_recent != 0,
                    )
                })
                .collect::<Vec<_>>()
        })
    };
    let all = TF_RCVD_SCALE | TF_RCVD_TSTMP | TF_SACK_PERMIT;
    // Scale 3: enough for the 256 KiB an autosized receive buffer may reach
    // (net.inet.tcp.recvbuf_max), as FreeBSD requests.
    assert_eq!(ok(&a, 84), vec![(all, 3, 3, true)]);
    assert_eq!(ok(&b, 84), vec![(all, 3, 3, true)]);
    // With rfc1323 off on one side, neither scaling nor timestamps.
    b.set(|t| t.rfc1323.store(0, Ordering::Relaxed));
    a.set(|t| t.sack_enable.store(0, Ordering::Relaxed));
    let (_l2, _c2, _s2) = connect_pair(&n, &a, &b, 85);
    assert_eq!(ok(&a, 85), vec![(0, 0, 0, false)]);
}

#[test]
fn sack_blocks_report_out_of_order_data() {
    let n = Net::boot();
    let (a, b, w) = pair(&n);
    let (_l, mut c, s) = connect_pair(&n, &a, &b, 86);
    a.with(|| c.setsockopt(6, 1, &1i32.to_le_bytes())).unwrap();
    let sacks = Arc::new(Mutex::new(Vec::new()));
    let s2 = sacks.clone();
    let mut k = 0;
    w.drop_if(move |f| {
        if let Some((_, _, _, _, len, o)) = tcp_of(f) {
            if len > 0 {
                k += 1;
                return k == 1;
            }
            for x in super::tcp::TcpOptions::new(&o).flatten() {
                if x.kind == 5 {
                    s2.lock().unwrap().push(x.data.len() / 8);
                }
            }
        }
        false
    });
    let data = vec![1u8; 4000];
    let got = transfer(&n, &a, &mut c, &b, &*s, &data, 10_000);
    assert_eq!(got.len(), 4000);
    assert!(!sacks.lock().unwrap().is_empty(), "SACK option sent");
    assert!(b.stat("tcps_sack_send_blocks") >= 1);
    assert!(a.stat("tcps_sack_rcv_blocks") >= 1);
}

#[test]
fn persist_timer_probes_a_zero_window() {
    let n = Net::boot();
    let (a, b, _) = pair(&n);
    b.set(|t| t.recvspace.store(4096, Ordering::Relaxed));
    let (_l, mut c, s) = connect_pair(&n, &a, &b, 87);
    let data = vec![9u8; 20_000];
    let mut off = 0;
    for _ in 0..200 {
        if let Ok(k) = a.with(|| c.sendto(&data[off..], None, 0)) {
            off += k;
        }
        n.run(1);
    }
    // b does not read: its window closes, a probes.
    n.run(30_000);
    assert!(a.stat("tcps_persisttimeo") >= 1);
    assert!(a.stat("tcps_sndprobe") >= 1);
    // Reading opens the window again (window update from the read upcall).
    let got = {
        let mut got = recv_some(&b, &*s).unwrap();
        let mut t = 0;
        while got.len() < data.len() {
            if off < data.len() {
                if let Ok(k) = a.with(|| c.sendto(&data[off..], None, 0)) {
                    off += k;
                }
            }
            n.run(10);
            t += 1;
            assert!(t < 10_000, "stuck at {}", got.len());
            if let Ok(d) = recv_some(&b, &*s) {
                got.extend_from_slice(&d);
            }
        }
        got
    };
    assert_eq!(got, data);
}

#[test]
fn keepalive_probes_and_drops_a_dead_peer() {
    let n = Net::boot();
    let (a, b, w) = pair(&n);
    a.set(|t| {
        t.keepidle.store(10_000, Ordering::Relaxed);
        t.keepintvl.store(1_000, Ordering::Relaxed);
    });
    let (_l, mut c, _s) = connect_pair(&n, &a, &b, 88);
    a.with(|| c.setsockopt(SOL_SOCKET, 0x8, &1i32.to_le_bytes()))
        .unwrap();
    n.run(11_000);
    assert!(a.stat("tcps_keepprobe") >= 1);
    // The peer answers: still connected.
    assert_eq!(c.poll() & POLLERR, 0);
    w.drop_if(|_| true);
    n.run(30_000);
    assert_eq!(c.soerror(), Some(Errno::ETIMEDOUT));
    assert!(a.stat("tcps_keepdrops") >= 1);
}

#[test]
fn one_mebibyte_intact_under_loss_and_delay() {
    let n = Net::boot();
    let (a, b, w) = pair(&n);
    let (_l, mut c, s) = connect_pair(&n, &a, &b, 89);
    let mut x: u64 = 0x1234_5678_9abc_def1;
    w.drop_if(move |_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x.is_multiple_of(100)
    });
    w.set_delay_ms(5);
    let data: Vec<u8> = (0..(1u32 << 20))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let got = transfer(&n, &a, &mut c, &b, &*s, &data, 600_000);
    assert_eq!(got.len(), data.len());
    assert!(got == data, "stream corrupted");
}

#[test]
fn a_stream_stays_intact_over_a_reordering_cable() {
    let n = Net::boot();
    let (a, b, w) = pair(&n);
    let (_l, mut c, s) = connect_pair(&n, &a, &b, 95);
    // One frame in ten, either way, arrives 3 ms late, behind later ones.
    w.set_delay_ms(1);
    w.set_reorder(100, 3);
    let data: Vec<u8> = (0..(256u32 << 10))
        .map(|i| (i * 13 + i / 509) as u8)
        .collect();
    let got = transfer(&n, &a, &mut c, &b, &*s, &data, 60_000);
    assert!(got == data, "stream corrupted");
    assert!(b.stat("tcps_rcvoopack") > 0, "nothing came out of order");
}

/// Inject a forged segment into b's side of the connection, as from a.
fn inject(b: &Host, ep: &TcpEndpoints, seq: u32, ack: u32, flags: u8, data: &[u8]) {
    // ep is b's view: local b, foreign a.  Build a segment from a to b.
    let rev = TcpEndpoints {
        laddr: ep.faddr,
        lport: ep.fport,
        faddr: ep.laddr,
        fport: ep.lport,
        zone: 0,
    };
    let repr = super::tcp::TcpRepr {
        src_port: rev.lport,
        dst_port: rev.fport,
        seq,
        ack,
        flags,
        window: 1000,
        urgent: 0,
        options: &[],
        payload_len: data.len(),
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    buf[20..].copy_from_slice(data);
    let (std::net::IpAddr::V4(src), std::net::IpAddr::V4(dst)) = (rev.laddr, rev.faddr) else {
        panic!()
    };
    let ph = super::ip::PseudoHdr::V4 { src, dst };
    repr.emit(&mut super::tcp::TcpPacket::new_unchecked(&mut buf[..]), &ph);
    let m = super::ip_output::ip_build(src, dst, 6, 64, 0, &buf);
    b.with(|| {
        let ifp = vimage_net::r#if::ifunit("eth0").unwrap();
        let mut m = m;
        super::ip::Ipv4Packet::new_unchecked(m.data_mut()).fill_checksum();
        super::ip_input::ip_input(&ifp, m);
    });
}

fn cb_of(h: &Host, lport: u16) -> TcpcbRef {
    h.with(|| {
        vnet_tcp()
            .tcb
            .list()
            .into_iter()
            .find(|(ep, _)| ep.lport == lport && !ep.faddr.is_unspecified())
            .unwrap()
            .1
    })
}

#[test]
fn rst_and_data_injection_with_wrong_sequence_numbers_are_ignored() {
    let n = Net::boot();
    let (a, b, _) = pair(&n);
    let (_l, mut c, s) = connect_pair(&n, &a, &b, 90);
    let cb = cb_of(&b, 90);
    let (ep, rcv_nxt, snd_nxt) = {
        let tp = cb.lock().unwrap();
        (tp.ep, tp.rcv_nxt, tp.snd_nxt)
    };
    use super::tcp::{TH_ACK, TH_RST, TH_SYN};
    // RST outside the window: dropped; inside but not exact: challenge ACK.
    inject(&b, &ep, rcv_nxt.wrapping_add(1 << 30), 0, TH_RST, &[]);
    inject(&b, &ep, rcv_nxt.wrapping_add(100), 0, TH_RST, &[]);
    inject(&b, &ep, rcv_nxt, snd_nxt, TH_SYN, &[]);
    // Data far outside the window and old data: dropped with an ACK.
    inject(
        &b,
        &ep,
        rcv_nxt.wrapping_add(1 << 30),
        snd_nxt,
        TH_ACK,
        b"evil",
    );
    inject(
        &b,
        &ep,
        rcv_nxt.wrapping_sub(1000),
        snd_nxt,
        TH_ACK,
        b"evil",
    );
    // An ACK for data never sent.
    inject(&b, &ep, rcv_nxt, snd_nxt.wrapping_add(5000), TH_ACK, &[]);
    n.run(10);
    assert_eq!(state_of(&b, 90, true).last(), Some(&TcpState::Established));
    assert!(b.stat("tcps_challenge_ack") >= 2);
    assert!(recv_some(&b, &*s).is_err(), "nothing delivered");
    let got = transfer(&n, &a, &mut c, &b, &*s, b"genuine", 1000);
    assert_eq!(got, b"genuine");
    // An exact RST does reset.
    let rcv_nxt = cb.lock().unwrap().rcv_nxt;
    inject(&b, &ep, rcv_nxt, 0, TH_RST, &[]);
    assert_eq!(recv_some(&b, &*s), Err(Errno::ECONNRESET));
}

#[test]
fn fuzzed_segments_against_live_connections() {
    let n = Net::boot();
    let (a, b, _) = pair(&n);
    let (_l, mut c, s) = connect_pair(&n, &a, &b, 91);
    let cb = cb_of(&b, 91);
    let ep = cb.lock().unwrap().ep;
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x05ee_d7c9);
    let iters: usize = std::env::var("FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let mut x = seed | 1;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut sent = Vec::new();
    let mut got = Vec::new();
    for i in 0..iters {
        let (rcv_nxt, snd_nxt) = {
            let tp = cb.lock().unwrap();
            (tp.rcv_nxt, tp.snd_nxt)
        };
        let r = rnd();
        // Sequence numbers away from the real ones (so data is never
        // accepted as genuine) unless it is a pure control segment.
        let seq = rcv_nxt.wrapping_add(70_000 + (r as u32 % 1_000_000));
        let ack = snd_nxt.wrapping_add((rnd() as u32) % 200_000);
        let flags = (rnd() & 0xff) as u8 & !super::tcp::TH_RST;
        let len = (rnd() % 64) as usize;
        let data: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
        let mut repr_opts = Vec::new();
        for _ in 0..(rnd() % 12) {
            repr_opts.push(rnd() as u8);
        }
        while repr_opts.len() % 4 != 0 {
            repr_opts.push(0);
        }
        let repr = super::tcp::TcpRepr {
            src_port: ep.fport,
            dst_port: ep.lport,
            seq,
            ack,
            flags,
            window: rnd() as u16,
            urgent: 0,
            options: &repr_opts,
            payload_len: data.len(),
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        let hl = repr.header_len();
        buf[hl..].copy_from_slice(&data);
        let (std::net::IpAddr::V4(src), std::net::IpAddr::V4(dst)) = (ep.faddr, ep.laddr) else {
            panic!()
        };
        let ph = super::ip::PseudoHdr::V4 { src, dst };
        repr.emit(&mut super::tcp::TcpPacket::new_unchecked(&mut buf[..]), &ph);
        // Mutate bytes (header offset, flags, checksum) some of the time.
        match rnd() % 4 {
            0 => {
                let k = (rnd() as usize) % buf.len();
                buf[k] ^= rnd() as u8;
            }
            1 => buf.truncate((rnd() as usize) % (buf.len() + 1)),
            _ => {}
        }
        let mut m = super::ip_output::ip_build(src, dst, 6, 64, 0, &buf);
        super::ip::Ipv4Packet::new_unchecked(m.data_mut()).fill_checksum();
        b.with(|| {
            let ifp = vimage_net::r#if::ifunit("eth0").unwrap();
            super::ip_input::ip_input(&ifp, m);
        });
        if i % 50 == 0 {
            let chunk: Vec<u8> = (0..100).map(|j| (i + j) as u8).collect();
            if let Ok(k) = a.with(|| c.sendto(&chunk, None, 0)) {
                sent.extend_from_slice(&chunk[..k]);
            }
            n.run(2);
            if let Ok(d) = recv_some(&b, &*s) {
                got.extend_from_slice(&d);
            }
        }
    }
    n.run(2000);
    while let Ok(d) = recv_some(&b, &*s) {
        if d.is_empty() {
            break;
        }
        got.extend_from_slice(&d);
    }
    assert_eq!(state_of(&b, 91, true).last(), Some(&TcpState::Established));
    assert!(
        got == sent,
        "stream corrupted: {} vs {}",
        got.len(),
        sent.len()
    );
    assert!(b.stat("tcps_rcvbadsum") + b.stat("tcps_rcvbadoff") + b.stat("tcps_rcvshort") > 0);
}

#[test]
#[cfg(feature = "inet6")]
fn tcp_over_ipv6_handshake_and_data() {
    use std::net::Ipv6Addr;
    use vimage_abi::netinet6_in6::SockaddrIn6;
    let n = Net::boot();
    let (a, b, _) = pair(&n);
    a.addr(&a.ifp("eth0"), "2001:db8::1/64");
    b.addr(&b.ifp("eth0"), "2001:db8::2/64");
    n.run(2_000);
    let sa6 = |x: &str, port: u16| {
        let mut s = SockaddrIn6::new(x.parse::<Ipv6Addr>().unwrap(), 0);
        s.port = port;
        s.to_bytes().to_vec()
    };
    let d6 = crate::netinet6::raw_ip6::In6Domain;
    let mut l = b.with(|| d6.attach(1, 0)).unwrap();
    b.with(|| l.bind(&sa6("::", 443))).unwrap();
    b.with(|| l.listen(5)).unwrap();
    let mut c = a.with(|| d6.attach(1, 0)).unwrap();
    assert_eq!(
        a.with(|| c.connect(&sa6("2001:db8::2", 443))),
        Err(Errno::EINPROGRESS)
    );
    n.run(10);
    assert_eq!(c.poll() & POLLOUT, POLLOUT);
    let (mut s, peer) = b.with(|| l.accept()).unwrap();
    assert_eq!(
        SockaddrIn6::from_bytes(&peer).unwrap().addr,
        "2001:db8::1".parse::<Ipv6Addr>().unwrap()
    );
    let data: Vec<u8> = (0..50_000u32).map(|i| (i % 253) as u8).collect();
    let got = transfer(&n, &a, &mut c, &b, &*s, &data, 20_000);
    assert_eq!(got, data);
    send_all(&n, &b, &mut s, b"pong6", 10);
    n.run(200);
    assert_eq!(recv_some(&a, &*c).unwrap(), b"pong6");
    let v6 = a
        .conns()
        .iter()
        .filter(|(ep, st, ..)| ep.faddr.is_ipv6() && *st == TcpState::Established)
        .count();
    assert_eq!(v6, 1);
}

#[test]
fn sysctls_and_pcblist_are_per_vnet() {
    let n = Net::boot();
    let (a, b, _) = pair(&n);
    let (_l, _c, _s) = connect_pair(&n, &a, &b, 22);
    let list = a.with(tcp_pcblist);
    let v = InPcbInfo::decode_list(&list).unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!((v[0].proto, v[0].fport), (6, 22));
    assert_eq!(v[0].tcp_state, Some(TcpState::Established as u8));
    let lb = InPcbInfo::decode_list(&b.with(tcp_pcblist)).unwrap();
    assert_eq!(lb.len(), 2, "listener and connection");
    let mut states: Vec<_> = lb.iter().filter_map(|p| p.tcp_state).collect();
    states.sort_unstable();
    assert_eq!(
        states,
        vec![TcpState::Listen as u8, TcpState::Established as u8]
    );
    a.set(|t| t.mssdflt.store(1000, Ordering::Relaxed));
    assert_eq!(b.with(|| vnet_tcp().mssdflt.load(Ordering::Relaxed)), 512);
}

/// `TCP_MAXSEG` as getsockopt answers it.
fn maxseg(h: &Host, so: &mut Box<dyn ProtoSocket>) -> i32 {
    let v = h.with(|| so.getsockopt(6, 2)).unwrap();
    i32::from_le_bytes([v[0], v[1], v[2], v[3]])
}

/// lo0 up with 127.0.0.1/8 in `h`.
fn lo_up(h: &Host) {
    h.with(|| {
        let lo = vimage_net::r#if::ifunit("lo0").unwrap();
        lo.flags.fetch_or(IFF_UP, Ordering::Relaxed);
        in_aifaddr(&lo, Ipv4Addr::LOCALHOST, Some(in_plen2mask(8)), None).unwrap();
    });
}

#[test]
fn mss_follows_the_route_mtu_and_tcp_maxseg() {
    let n = Net::boot();
    let (a, b, w) = pair(&n);
    // The SYN and SYN-ACK offer the Ethernet MSS (1500 - 40).
    let offers = Arc::new(Mutex::new(Vec::new()));
    let o = offers.clone();
    w.drop_if(move |f| {
        if let Some((fl, .., opts)) = tcp_of(f) {
            if fl & 0x02 != 0 && opts.len() >= 4 && opts[0] == 2 {
                o.lock()
                    .unwrap()
                    .push(u16::from_be_bytes([opts[2], opts[3]]));
            }
        }
        false
    });
    let (_l, mut c, mut s) = connect_pair(&n, &a, &b, 120);
    assert_eq!(*offers.lock().unwrap(), vec![1460, 1460]);
    assert_eq!((maxseg(&a, &mut c), maxseg(&b, &mut s)), (1460, 1460));
    // Over lo0, and to one of our own addresses (routed via loopback), the
    // loopback MTU of 16384 gives 16344.
    lo_up(&a);
    for dst in ["127.0.0.1", "10.0.0.1"] {
        let mut l = a.socket();
        a.with(|| l.bind(&sa("0.0.0.0", 121))).unwrap();
        a.with(|| l.listen(5)).unwrap();
        let mut c = a.socket();
        assert_eq!(a.with(|| c.connect(&sa(dst, 121))), Err(Errno::EINPROGRESS));
        n.run(2);
        let (mut s, _) = a.with(|| l.accept()).expect("accept");
        assert_eq!(
            (maxseg(&a, &mut c), maxseg(&a, &mut s)),
            (16344, 16344),
            "{dst}"
        );
        // A megabyte crosses lo0 intact, with no checksum computed or
        // checked (loopback's offload) and none found bad; in TSO segments
        // of up to 64 KB (lo0 offers `CSUM_TSO`, as Linux's lo does GSO),
        // or in 16 KiB ones with `net.inet.tcp.tso` off.
        let data: Vec<u8> = (0..(1u32 << 20)).map(|i| (i * 7 + i / 251) as u8).collect();
        for tso in [1, 0] {
            a.set(|t| t.tso.store(tso, Ordering::Relaxed));
            let mut c = a.socket();
            assert_eq!(a.with(|| c.connect(&sa(dst, 121))), Err(Errno::EINPROGRESS));
            n.run(2);
            let (mut s, _) = a.with(|| l.accept()).expect("accept");
            let before = a.stat("tcps_sndpack");
            let got = transfer(&n, &a, &mut c, &a, &*s, &data, 10_000);
            assert!(got == data, "stream over {dst} corrupted (tso {tso})");
            let segs = a.stat("tcps_sndpack") - before;
            if tso == 1 {
                assert!(segs <= (1 << 20) / 16_344 / 2, "{segs} segments with TSO");
            } else {
                assert!(
                    (((1 << 20) / 16_344)..=(1 << 20) / 16_000 + 8).contains(&segs),
                    "{segs} segments without TSO"
                );
            }
            a.with(|| c.close());
            a.with(|| s.close());
        }
        a.set(|t| t.tso.store(1, Ordering::Relaxed));
        assert_eq!(a.stat("tcps_rcvbadsum"), 0);
        a.with(|| c.close());
        a.with(|| s.close());
        a.with(|| l.close());
        n.run(70_000);
    }
    // TCP_MAXSEG set before connect is a ceiling on what we offer and use.
    let mut c = a.socket();
    a.with(|| c.setsockopt(6, 2, &1000i32.to_le_bytes()))
        .unwrap();
    offers.lock().unwrap().clear();
    let mut l = b.socket();
    b.with(|| l.bind(&sa("0.0.0.0", 122))).unwrap();
    b.with(|| l.listen(5)).unwrap();
    assert_eq!(
        a.with(|| c.connect(&sa("10.0.0.2", 122))),
        Err(Errno::EINPROGRESS)
    );
    n.run(5);
    let (mut s, _) = b.with(|| l.accept()).expect("accept");
    assert_eq!(*offers.lock().unwrap(), vec![1000, 1460]);
    assert_eq!((maxseg(&a, &mut c), maxseg(&b, &mut s)), (1000, 1000));
}

#[test]
fn checksums_are_computed_for_the_wire() {
    let n = Net::boot();
    let (a, b, w) = pair(&n);
    // Every TCP segment on the cable sums correctly: ip_output finishes the
    // checksum tcp_output left to it on every non-loopback interface.
    let bad = Arc::new(AtomicU64::new(0));
    let seen = Arc::new(AtomicU64::new(0));
    let (b2, s2) = (bad.clone(), seen.clone());
    w.drop_if(move |f| {
        if f.len() > 34 && f[12..14] == [8, 0] && f[14 + 9] == 6 {
            let ip = super::ip::Ipv4Packet::new_checked(&f[14..]).unwrap();
            let ph = super::ip::PseudoHdr::V4 {
                src: ip.src_addr(),
                dst: ip.dst_addr(),
            };
            s2.fetch_add(1, Ordering::Relaxed);
            if !ph.verify(6, ip.payload()) {
                b2.fetch_add(1, Ordering::Relaxed);
            }
        }
        false
    });
    let (_l, mut c, s) = connect_pair(&n, &a, &b, 123);
    let data = vec![0xa5u8; 200_000];
    let got = transfer(&n, &a, &mut c, &b, &*s, &data, 10_000);
    assert_eq!(got.len(), data.len());
    assert!(seen.load(Ordering::Relaxed) > 100);
    assert_eq!(bad.load(Ordering::Relaxed), 0);
}

#[test]
fn buffers_autosize_unless_the_user_sized_them() {
    let n = Net::boot();
    let (a, b, w) = pair(&n);
    let data: Vec<u8> = (0..(4u32 << 20)).map(|i| (i >> 3) as u8).collect();
    let (_l, mut c, s) = connect_pair(&n, &a, &b, 124);
    w.set_delay_ms(2);
    let (snd0, rcv0) = (c.sndbuf().unwrap().hiwat(), s.rcvbuf().unwrap().hiwat());
    assert_eq!((snd0, rcv0), (32_768, 65_536));
    let got = transfer(&n, &a, &mut c, &b, &*s, &data, 60_000);
    assert!(got == data);
    let (snd, rcv) = (c.sndbuf().unwrap().hiwat(), s.rcvbuf().unwrap().hiwat());
    assert!(snd > snd0 && snd <= 256 * 1024, "send buffer {snd}");
    assert!(rcv > rcv0 && rcv <= 256 * 1024, "receive buffer {rcv}");
    // SO_RCVBUF/SO_SNDBUF set the sizes (the accepted socket inherits the
    // listener's) and stop the growth.
    let mut l = b.socket();
    b.with(|| l.setsockopt(0xffff, 0x1002, &40_000i32.to_le_bytes()))
        .unwrap();
    b.with(|| l.bind(&sa("0.0.0.0", 125))).unwrap();
    b.with(|| l.listen(5)).unwrap();
    let mut c = a.socket();
    a.with(|| c.setsockopt(0xffff, 0x1001, &20_000i32.to_le_bytes()))
        .unwrap();
    assert_eq!(
        a.with(|| c.connect(&sa("10.0.0.2", 125))),
        Err(Errno::EINPROGRESS)
    );
    n.run(10);
    let (s, _) = b.with(|| l.accept()).expect("accept");
    let got = transfer(&n, &a, &mut c, &b, &*s, &data[..1 << 20], 60_000);
    assert_eq!(got.len(), 1 << 20);
    assert_eq!(c.sndbuf().unwrap().hiwat(), 20_000);
    assert_eq!(s.rcvbuf().unwrap().hiwat(), 40_000);
    // net.inet.tcp.recvbuf_auto=0 and sendbuf_auto=0: no growth either.
    a.set(|t| t.sendbuf_auto.store(0, Ordering::Relaxed));
    b.set(|t| t.recvbuf_auto.store(0, Ordering::Relaxed));
    w.set_delay_ms(0);
    let (_l, mut c, s) = connect_pair(&n, &a, &b, 126);
    w.set_delay_ms(2);
    let got = transfer(&n, &a, &mut c, &b, &*s, &data[..1 << 20], 60_000);
    assert_eq!(got.len(), 1 << 20);
    assert_eq!(c.sndbuf().unwrap().hiwat(), 32_768);
    assert_eq!(s.rcvbuf().unwrap().hiwat(), 65_536);
}

#[test]
fn the_segment_filling_the_hole_is_taken_when_the_reassembly_queue_is_full() {
    let n = Net::boot();
    let (a, b, _) = pair(&n);
    let (_l, _c, s) = connect_pair(&n, &a, &b, 127);
    let cb = cb_of(&b, 127);
    let (ep, rcv_nxt, snd_nxt, hiwat) = {
        let tp = cb.lock().unwrap();
        (tp.ep, tp.rcv_nxt, tp.snd_nxt, tp.rcv.hiwat())
    };
    use super::tcp::TH_ACK;
    // Out-of-order data right up to the buffer's size behind a 1000-byte hole.
    let seg = 1000usize;
    let mut off = seg;
    while off + seg <= hiwat {
        let d = vec![(off / seg) as u8; seg];
        inject(
            &b,
            &ep,
            rcv_nxt.wrapping_add(off as u32),
            snd_nxt,
            TH_ACK,
            &d,
        );
        off += seg;
    }
    assert!(recv_some(&b, &*s).is_err(), "nothing in order yet");
    // Then the hole: taken, and everything behind it delivered in order.
    inject(&b, &ep, rcv_nxt, snd_nxt, TH_ACK, &vec![0u8; seg]);
    let got = recv_some(&b, &*s).expect("data");
    assert_eq!(got.len(), off);
    assert!(got
        .chunks(seg)
        .enumerate()
        .all(|(i, c)| c.iter().all(|&x| x == i as u8)));
    // The injected data desynchronized the pair: b now ACKs bytes a never
    // sent, and a answers with ACKs that b finds out of its window.  That ACK
    // war stops at the per-connection limit (5 per second each way) instead
    // of spinning forever.
    n.run(10);
    let bad = |h: &Host| h.stat("tcps_rcvduppack") + h.stat("tcps_rcvpackafterwin");
    let (x, y) = (a.stat("tcps_rcvacktoomuch"), bad(&b));
    assert!(y > 0);
    n.run(10);
    assert_eq!((a.stat("tcps_rcvacktoomuch"), bad(&b)), (x, y));
    assert!(x <= 12, "{x} ACKs for unsent data answered");
}

#[test]
fn icmp_unreachables_end_a_hopeless_connect_and_spare_an_established_one() {
    use super::ip_icmp::{ICMP_UNREACH, ICMP_UNREACH_HOST};
    let n = Net::boot();
    let (a, b, w) = pair(&n);
    // b never answers a's SYNs; each one draws a host unreachable from b
    // (as a router on the way would), quoting the SYN.
    let syns: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let s2 = syns.clone();
    w.drop_if(move |f| {
        if let Some((fl, ..)) = tcp_of(f) {
            if fl & 0x02 != 0 {
                s2.lock().unwrap().push(f[14..].to_vec());
                return true;
            }
        }
        false
    });
    let mut c = a.socket();
    assert_eq!(
        a.with(|| c.connect(&sa("10.0.0.2", 130))),
        Err(Errno::EINPROGRESS)
    );
    let b_if = b.ifp("eth0");
    let mut answered = 0;
    let mut ms = 0;
    while c.poll() & POLLERR == 0 && c.poll() & POLLHUP == 0 {
        n.run(10);
        ms += 10;
        for d in std::mem::take(&mut *syns.lock().unwrap()) {
            b.with(|| {
                super::icmp_input::icmp_error(&d, Some(&b_if), ICMP_UNREACH, ICMP_UNREACH_HOST, 0)
            });
            answered += 1;
        }
        assert!(
            ms < 60_000,
            "still connecting after {answered} unreachables"
        );
    }
    // Given up after the fourth retransmission's error, long before the
    // 75 s connection timer, with the ICMP error rather than ETIMEDOUT.
    assert!((4..=7).contains(&answered), "{answered} SYNs");
    assert_eq!(a.with(|| c.soerror()), Some(Errno::EHOSTUNREACH));
    // An established connection ignores a host unreachable about its data,
    // and one quoting a sequence number outside what is in flight.
    w.no_drop();
    let (_l, mut c, s) = connect_pair(&n, &a, &b, 131);
    let seen: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let s3 = seen.clone();
    w.drop_if(move |f| {
        if tcp_of(f).is_some_and(|t| t.4 > 0) {
            s3.lock().unwrap().push(f[14..].to_vec());
        }
        false
    });
    let got = transfer(&n, &a, &mut c, &b, &*s, b"still here", 1000);
    assert_eq!(got, b"still here");
    for d in seen.lock().unwrap().iter() {
        b.with(|| {
            super::icmp_input::icmp_error(d, Some(&b_if), ICMP_UNREACH, ICMP_UNREACH_HOST, 0)
        });
    }
    n.run(10);
    assert_eq!(a.with(|| c.soerror()), None);
    let got = transfer(&n, &a, &mut c, &b, &*s, b"and still", 1000);
    assert_eq!(got, b"and still");
}

/// RFC 6528: initial sequence numbers come from a per-vnet secret drawn from
/// the kernel's entropy, hashed with the four-tuple, plus a 4 µs clock.  Two
/// vimages give unrelated numbers for the same tuple at the same time; one
/// vimage gives the same number for the same tuple at the same time, a
/// different one for another tuple, and one 4 µs tick more later on.
#[test]
fn initial_sequence_numbers_follow_rfc_6528() {
    use super::tcp_subr::tcp_new_isn;
    let n = Net::boot();
    let (a, b) = (n.host("isn-a"), n.host("isn-b"));
    let ep = |fport: u16| TcpEndpoints {
        laddr: "10.0.0.1".parse().unwrap(),
        lport: 5001,
        faddr: "10.0.0.2".parse().unwrap(),
        fport,
        zone: 0,
    };
    assert_ne!(
        a.with(|| vnet_tcp().isn_secret),
        b.with(|| vnet_tcp().isn_secret)
    );
    let (ia, ib) = (
        a.with(|| tcp_new_isn(&ep(40000))),
        b.with(|| tcp_new_isn(&ep(40000))),
    );
    assert_ne!(ia, ib);
    assert_eq!(a.with(|| tcp_new_isn(&ep(40000))), ia);
    assert_ne!(a.with(|| tcp_new_isn(&ep(40001))), ia);
    n.clock.advance(4_000);
    assert_eq!(a.with(|| tcp_new_isn(&ep(40000))), ia.wrapping_add(1));
}

/// Make both ends of the pair's cable offload like an eiface pair
/// (`CSUM_DELAY_DATA | CSUM_TSO`).
fn offload(a: &Host, b: &Host) {
    use vimage_net::mbuf::{CSUM_DELAY_DATA, CSUM_TSO};
    for h in [a, b] {
        h.ifp("eth0")
            .hwassist
            .store(CSUM_DELAY_DATA | CSUM_TSO, Ordering::Relaxed);
    }
}

#[test]
fn tso_sends_large_segments_over_an_offloading_link_and_the_stream_stays_intact() {
    let n = Net::boot();
    let (a, b, w) = pair(&n);
    offload(&a, &b);
    let big = Arc::new(AtomicU64::new(0));
    let most = Arc::new(AtomicU64::new(0));
    let (b2, m2) = (big.clone(), most.clone());
    w.drop_if(move |f| {
        if let Some((_, _, _, _, len, _)) = tcp_of(f) {
            if f.len() > 1514 {
                b2.fetch_add(1, Ordering::Relaxed);
            }
            m2.fetch_max(len as u64, Ordering::Relaxed);
        }
        false
    });
    let (_l, mut c, s) = connect_pair(&n, &a, &b, 91);
    let data: Vec<u8> = (0..(1u32 << 20))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let got = transfer(&n, &a, &mut c, &b, &*s, &data, 20_000);
    assert!(got == data, "stream corrupted");
    let nbig = big.load(Ordering::Relaxed);
    let most = most.load(Ordering::Relaxed);
    assert!(nbig > 0, "no TSO segment crossed");
    assert!(most <= 65_535 - 40 && most > 1460, "largest segment {most}");
    // Whole segments: far fewer sent than MSS-sized ones would take.
    assert!(a.stat("tcps_sndtotal") < (1 << 20) / 1460 / 2);
    // Off by sysctl: MSS-sized segments again (for new connections).
    a.set(|t| t.tso.store(0, Ordering::Relaxed));
    let (_l2, mut c2, s2) = connect_pair(&n, &a, &b, 92);
    let got = transfer(&n, &a, &mut c2, &b, &*s2, &data[..200_000], 20_000);
    assert!(got == data[..200_000]);
    assert_eq!(big.load(Ordering::Relaxed), nbig);
}

#[test]
fn tso_recovers_from_loss_and_delay() {
    let n = Net::boot();
    let (a, b, w) = pair(&n);
    offload(&a, &b);
    let (_l, mut c, s) = connect_pair(&n, &a, &b, 93);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    w.drop_if(move |_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x.is_multiple_of(20)
    });
    w.set_delay_ms(2);
    let data: Vec<u8> = (0..(1u32 << 20)).map(|i| ((i * 31) >> 5) as u8).collect();
    let got = transfer(&n, &a, &mut c, &b, &*s, &data, 600_000);
    assert!(got == data, "stream corrupted");
    assert!(a.stat("tcps_sndrexmitpack") > 0);
}

#[test]
fn a_tso_segment_out_an_interface_without_the_offload_is_cut_for_the_wire() {
    use crate::ip::{Ipv4Packet, PseudoHdr};
    let n = Net::boot();
    let (a, b, w) = pair(&n);
    // A connection first, so ARP has resolved and frames are not held.
    let _c = connect_pair(&n, &a, &b, 94);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    w.drop_if(move |f| {
        s2.lock().unwrap().push(f.to_vec());
        true
    });
    // A 4000-byte TSO segment as tcp_output would hand it to IP, routed out
    // the plain cable (no `if_hwassist`).
    let ep = TcpEndpoints {
        laddr: "10.0.0.1".parse().unwrap(),
        lport: 5000,
        faddr: "10.0.0.2".parse().unwrap(),
        fport: 6000,
        zone: 0,
    };
    let data: Vec<u8> = (0..4000u32).map(|i| i as u8).collect();
    a.with(|| {
        super::tcp_subr::tcp_emit(&super::tcp_subr::SegOut {
            ep: &ep,
            seq: 7,
            ack: 9,
            flags: super::tcp::TH_ACK | super::tcp::TH_PUSH,
            win: 100,
            opts: &[],
            data: &data,
            tso_segsz: 1460,
        })
    })
    .unwrap();
    let f = seen.lock().unwrap().clone();
    let tcp: Vec<_> = f.iter().filter(|f| tcp_of(f).is_some()).collect();
    assert_eq!(tcp.len(), 3, "{} frames", f.len());
    let mut got = Vec::new();
    for (i, f) in tcp.iter().enumerate() {
        assert!(f.len() <= 1514);
        let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
        assert!(ip.verify_checksum());
        let ph = PseudoHdr::V4 {
            src: ip.src_addr(),
            dst: ip.dst_addr(),
        };
        assert!(ph.verify(6, ip.payload()), "segment {i} checksum");
        let (fl, seq, ..) = tcp_of(f).unwrap();
        assert_eq!(seq, 7 + 1460 * i as u32);
        assert_eq!(fl & super::tcp::TH_PUSH != 0, i == 2);
        got.extend_from_slice(&ip.payload()[20..]);
    }
    assert_eq!(got, data);
}

#[test]
fn ephemeral_ports_skip_every_port_in_use_connected_or_not() {
    // Clients bound to ephemeral ports, each connected: a new bind to a port
    // one of them holds is refused, and the ephemeral choices never repeat
    // one in use (the bind checks an index of every block by port, connected
    // ones included).
    let n = Net::boot();
    let (a, b, _cable) = pair(&n);
    a.with(|| {
        let inet = crate::vnet_inet();
        inet.portfirst.store(40_000, Ordering::Relaxed);
        inet.portlast.store(40_063, Ordering::Relaxed);
    });
    let mut l = b.socket();
    b.with(|| l.bind(&sa("0.0.0.0", 80))).unwrap();
    b.with(|| l.listen(128)).unwrap();
    let mut held = Vec::new();
    let mut ports = std::collections::HashSet::new();
    for _ in 0..64 {
        let mut c = a.socket();
        let _ = a.with(|| c.connect(&sa("10.0.0.2", 80)));
        let me = SockaddrIn::from_bytes(&c.sockname().unwrap()).unwrap();
        assert!((40_000..=40_063).contains(&me.port), "{}", me.port);
        assert!(ports.insert(me.port), "port {} handed out twice", me.port);
        held.push(c);
    }
    n.run(5);
    // The range is used up.
    let mut c = a.socket();
    assert_eq!(
        a.with(|| c.connect(&sa("10.0.0.2", 80))),
        Err(Errno::EADDRNOTAVAIL)
    );
    // A port a connected block holds is in use for a plain bind.
    let mut d = a.socket();
    assert_eq!(
        a.with(|| d.bind(&sa("0.0.0.0", 40_010))),
        Err(Errno::EADDRINUSE)
    );
}

#[test]
fn connections_leave_no_callouts_behind() {
    // Each connection arms its timers (retransmit, delayed ACK, 2MSL); a
    // superseded callout is stopped and a closed block stops its own, so
    // the kernel's callout queue does not keep one per connection ever made.
    let n = Net::boot();
    let (a, b, _cable) = pair(&n);
    let mut l = b.socket();
    b.with(|| l.bind(&sa("0.0.0.0", 81))).unwrap();
    b.with(|| l.listen(128)).unwrap();
    for _ in 0..50 {
        let mut c = a.socket();
        let _ = a.with(|| c.connect(&sa("10.0.0.2", 81)));
        n.run(2);
        let (mut s, _) = b.with(|| l.accept()).expect("accept");
        a.with(|| c.sendto(b"x", None, 0)).unwrap();
        n.run(2);
        a.with(|| c.close());
        b.with(|| s.close());
        n.run(2);
    }
    // Only the TIME_WAIT blocks' 2MSL timers (and the stacks' own) remain:
    // at most one callout per block still in TIME_WAIT.
    let tw = a.conns().len() + b.conns().len();
    let pending = n.k.callouts.pending();
    assert!(pending <= tw + 8, "{pending} callouts for {tw} blocks");
    // 2MSL later every block is gone, and so are their callouts.
    n.advance_ms(61_000);
    n.run(2);
    assert!(
        a.conns().is_empty() && b.conns().len() == 1,
        "{:?}",
        b.conns().len()
    );
    assert!(n.k.callouts.pending() <= 8, "{}", n.k.callouts.pending());
}
