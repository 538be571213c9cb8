//! TCP user requests (FreeBSD's sys/netinet/tcp_usrreq.c): the
//! [`ProtoSocket`] of `SOCK_STREAM` sockets in `AF_INET` and `AF_INET6`.
//!
//! Nothing here blocks: `connect` returns `EINPROGRESS` once the SYN is out,
//! `sendto` copies what fits into the send buffer (`EWOULDBLOCK` when nothing
//! does, or while the connection is still being set up), `accept` returns
//! `EWOULDBLOCK` on an empty queue.  The socket layer sleeps on
//! [`ProtoSocket::wakeup`] outside the protocol lock and retries: a blocking
//! `connect` waits until [`ProtoSocket::poll`] shows `POLLOUT` (connected) or
//! `POLLERR` (then [`ProtoSocket::soerror`] says `ECONNREFUSED`/`ETIMEDOUT`).
//! Receives are served from the stream [`SockBuf`] (`rcvbuf`), which returns
//! 0 bytes at EOF; reading it sends window updates through its upcall.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use vimage_abi::netinet6_in6::SockaddrIn6;
use vimage_abi::netinet_in::SockaddrIn;
use vimage_abi::socket::{TcpInfo, TCPI_OPT_SACK, TCPI_OPT_TIMESTAMPS, TCPI_OPT_WSCALE, TCP_INFO};
use vimage_abi::Errno;
use vimage_kern::kern_timeout::getnow_ns;

use super::ip_var::inc;
use super::tcp_output::tcp_output;
use super::tcp_subr::{any_addr, tcp_close, tcp_drop, tcp_mssopt, tcp_new_isn, tcp_tso_ok};
use super::tcp_syncache::SynCache;
use super::tcp_timer::{tcp_timer_activate, TCPTV_FINWAIT2, TCPTV_RTOBASE};
use super::tcp_var::*;
use vimage_kern::uipc_socket::*;
use vimage_kern::vnet::CurvnetGuard;
use vimage_net::netisr::netisr_enter;

/// `TCP_NODELAY` (level `IPPROTO_TCP`).
pub const TCP_NODELAY: i32 = 1;
/// `TCP_MAXSEG`.
pub const TCP_MAXSEG: i32 = 2;
/// `SO_KEEPALIVE`.
pub const SO_KEEPALIVE: i32 = 0x8;
/// `SO_ERROR`.
pub const SO_ERROR: i32 = 0x1007;
const IPPROTO_TCP: i32 = 6;
const IPPROTO_IPV6: i32 = 41;
use vimage_abi::netinet6_in6::{in6_is_scoped, IPV6_V6ONLY};

/// The window scale to request for receive buffer `rcv`: enough for its
/// limit, or for `net.inet.tcp.recvbuf_max` when it may grow (`SB_AUTOSIZE`).
pub fn tcp_rscale(t: &VnetTcp, rcv: &SockBuf) -> u8 {
    let mut want = rcv.hiwat();
    if rcv.autosize() {
        want = want.max(t.recvbuf_max.load(Ordering::Relaxed).max(0) as usize);
    }
    let mut sc = 0u8;
    while sc < super::tcp_input::TCP_MAX_WINSHIFT && (65535usize << sc) < want {
        sc += 1;
    }
    sc
}

/// `tcp_newtcpcb`: a fresh CLOSED block for endpoints `ep`, entered in
/// curvnet's table.
pub fn tcp_newtcpcb(v6: bool, ep: &TcpEndpoints, tflags: u32) -> TcpcbRef {
    let t = vnet_tcp();
    let vnet = vimage_kern::vnet::try_curvnet()
        .map(|v| Arc::downgrade(&v))
        .unwrap_or_default();
    let rcvspace = t.recvspace.load(Ordering::Relaxed).max(512) as usize;
    let sndspace = t.sendspace.load(Ordering::Relaxed).max(512) as usize;
    let rcv = Arc::new(SockBuf::new_stream(rcvspace));
    let snd = Arc::new(SockBuf::new_stream(sndspace));
    rcv.set_autosize(t.recvbuf_auto.load(Ordering::Relaxed) != 0);
    snd.set_autosize(t.sendbuf_auto.load(Ordering::Relaxed) != 0);
    let scale = tcp_rscale(&t, &rcv);
    let mut flags = tflags;
    if t.rfc1323.load(Ordering::Relaxed) != 0 {
        flags |= TF_REQ_SCALE | TF_REQ_TSTMP;
    }
    if t.sack_enable.load(Ordering::Relaxed) != 0 {
        flags |= TF_SACK_PERMIT;
    }
    let cb = Arc::new_cyclic(|me| {
        Mutex::new(Tcpcb {
            id: 0,
            me: me.clone(),
            vnet: vnet.clone(),
            v6,
            v6only: true,
            ep: *ep,
            state: TcpState::Closed,
            flags,
            snd,
            rcv,
            wake: Arc::new(SoWakeup::default()),
            so_error: None,
            t_softerror: None,
            listen: None,
            iss: 0,
            snd_una: 0,
            snd_nxt: 0,
            snd_max: 0,
            snd_wnd: 0,
            snd_wl1: 0,
            snd_wl2: 0,
            max_sndwnd: 0,
            irs: 0,
            rcv_nxt: 0,
            rcv_adv: 0,
            t_maxseg: if v6 { 1440 } else { 1460 },
            t_maxseg_user: None,
            snd_scale: 0,
            rcv_scale: 0,
            request_r_scale: scale,
            ts_recent: 0,
            ts_recent_age: 0,
            snd_cwnd: 1 << 30,
            snd_ssthresh: 1 << 30,
            snd_recover: 0,
            t_dupacks: 0,
            t_sndrexmitpack: 0,
            t_srtt: 0,
            t_rttvar: 0,
            t_rxtcur: TCPTV_RTOBASE,
            t_rxtshift: 0,
            t_rtttime: 0,
            t_rtseq: 0,
            t_rcvtime: 0,
            t_keepcnt: 0,
            keepalive: false,
            timers: [None; TT_NTIMERS],
            callout: None,
            ack_war_start: 0,
            ack_war_cnt: 0,
            rfbuf_ts: 0,
            rfbuf_cnt: 0,
            segq: Vec::new(),
            sackhint: Vec::new(),
            sack_blocks: Vec::new(),
        })
    });
    let id = t.tcb.insert(*ep, cb.clone());
    if let Ok(mut tp) = cb.lock() {
        tp.id = id;
        // Reading the receive buffer may open the window: tell the peer.
        let w = Arc::downgrade(&cb);
        let wv = vnet;
        tp.rcv.set_upcall(Some(Box::new(move || {
            let (Some(cb), Some(v)) = (w.upgrade(), wv.upgrade()) else {
                return;
            };
            let _cv = CurvnetGuard::set(&v);
            let _ns = netisr_enter();
            let r = cb.lock();
            if let Ok(mut tp) = r {
                if tp.state.have_established() {
                    tcp_output(&mut tp);
                }
            }
        })));
    }
    cb
}

/// A TCP socket (`pr_usrreqs` of `tcp` / `tcp6`).
pub struct TcpSocket {
    cb: TcpcbRef,
    v6: bool,
    reuse: bool,
}

fn sockaddr(v6: bool, a: IpAddr, port: u16, zone: u32) -> Vec<u8> {
    match a {
        IpAddr::V4(a) if !v6 => SockaddrIn::new(a, port).to_bytes().to_vec(),
        IpAddr::V4(a) => {
            let mut s = SockaddrIn6::new(a.to_ipv6_mapped(), 0);
            s.port = port;
            s.to_bytes().to_vec()
        }
        IpAddr::V6(a) => {
            let mut s = SockaddrIn6::new(a, zone);
            s.port = port;
            s.to_bytes().to_vec()
        }
    }
}

/// (address, port, zone) of a sockaddr image of the socket's family.
fn parse_sa(v6: bool, b: &[u8]) -> Result<(IpAddr, u16, u32), Errno> {
    if v6 {
        let s = SockaddrIn6::from_bytes(b)?;
        let zone = if in6_is_scoped(&s.addr) {
            s.scope_id
        } else {
            0
        };
        Ok((IpAddr::V6(s.addr), s.port, zone))
    } else {
        let s = SockaddrIn::from_bytes(b)?;
        Ok((IpAddr::V4(s.addr), s.port)).map(|(a, p)| (a, p, 0))
    }
}

/// `tcp_fill_info`: the connection as `getsockopt(TCP_INFO)` reports it.
fn tcp_fill_info(tp: &Tcpcb) -> TcpInfo {
    let us = |ns: u64| u32::try_from(ns / 1000).unwrap_or(u32::MAX);
    let mut options = 0;
    if tp.flags & TF_RCVD_TSTMP != 0 && tp.flags & TF_REQ_TSTMP != 0 {
        options |= TCPI_OPT_TIMESTAMPS;
    }
    if tp.flags & TF_SACK_PERMIT != 0 {
        options |= TCPI_OPT_SACK;
    }
    let scaled = tp.flags & TF_RCVD_SCALE != 0 && tp.flags & TF_REQ_SCALE != 0;
    if scaled {
        options |= TCPI_OPT_WSCALE;
    }
    TcpInfo {
        state: tp.state as u8,
        options,
        snd_wscale: if scaled { tp.snd_scale } else { 0 },
        rcv_wscale: if scaled { tp.rcv_scale } else { 0 },
        rto: us(tp.t_rxtcur),
        snd_mss: tp.t_maxseg,
        rcv_mss: tp.t_maxseg,
        last_data_recv: us(getnow_ns().saturating_sub(tp.t_rcvtime)),
        rtt: us(tp.t_srtt),
        rttvar: us(tp.t_rttvar),
        snd_ssthresh: tp.snd_ssthresh,
        snd_cwnd: tp.snd_cwnd,
        rcv_space: tp.rcv.hiwat() as u32,
        snd_wnd: tp.snd_wnd,
        snd_nxt: tp.snd_nxt,
        rcv_nxt: tp.rcv_nxt,
        snd_rexmitpack: tp.t_sndrexmitpack,
    }
}

/// Whether `a` is an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`).
fn is_mapped(a: IpAddr) -> bool {
    matches!(a, IpAddr::V6(x) if x.to_ipv4_mapped().is_some())
}

/// The IPv4 address behind an IPv4-mapped one, for a socket that takes
/// mapped traffic (`!v6only`); `None` otherwise.
fn unmap(a: IpAddr, v6only: bool) -> Option<IpAddr> {
    match a {
        IpAddr::V6(x) if !v6only => x.to_ipv4_mapped().map(IpAddr::V4),
        _ => None,
    }
}

fn portrange() -> (u16, u16) {
    let inet = super::vnet_inet();
    (
        inet.portfirst.load(Ordering::Relaxed).clamp(1, 65535) as u16,
        inet.portlast.load(Ordering::Relaxed).clamp(1, 65535) as u16,
    )
}

/// The source address towards `dst` (`in_pcbladdr` / `in6_selectsrc`).
fn select_src(dst: IpAddr, zone: u32) -> Result<IpAddr, Errno> {
    match dst {
        IpAddr::V4(d) => super::ip_output::ip_srcaddr(d)
            .map(IpAddr::V4)
            .map_err(|e| {
                if e == Errno::EHOSTUNREACH {
                    Errno::ENETUNREACH
                } else {
                    e
                }
            }),
        #[cfg(feature = "inet6")]
        IpAddr::V6(d) => {
            let rt = crate::netinet6::in6::in6_route(&d, zone)?;
            if rt.ifp.flags() & vimage_abi::net_if::IFF_LOOPBACK != 0 {
                return Ok(IpAddr::V6(rt.ifa.unwrap_or(d)));
            }
            crate::netinet6::in6::in6_selectsrc(&d, &rt.ifp).map(IpAddr::V6)
        }
        #[cfg(not(feature = "inet6"))]
        IpAddr::V6(_) => {
            let _ = zone;
            Err(Errno::EAFNOSUPPORT)
        }
    }
}

impl TcpSocket {
    /// `tcp_attach`: a new CLOSED socket in curvnet (`EPROTONOSUPPORT` when the
    /// TCP module is not attached there).
    pub fn attach(v6: bool) -> Result<Self, Errno> {
        try_vnet_tcp().ok_or(Errno::EPROTONOSUPPORT)?;
        let ep = TcpEndpoints {
            laddr: any_addr(v6),
            lport: 0,
            faddr: any_addr(v6),
            fport: 0,
            zone: 0,
        };
        Ok(TcpSocket {
            cb: tcp_newtcpcb(v6, &ep, 0),
            v6,
            reuse: false,
        })
    }

    fn from_cb(cb: TcpcbRef, v6: bool) -> Self {
        TcpSocket {
            cb,
            v6,
            reuse: false,
        }
    }

    /// The control block (tests, tools).
    pub fn tcpcb(&self) -> TcpcbRef {
        self.cb.clone()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Tcpcb>, Errno> {
        self.cb.lock().map_err(|_| Errno::EDOOFUS)
    }

    fn autobind(&self, tp: &mut Tcpcb) -> Result<(), Errno> {
        if tp.ep.lport == 0 {
            let (f, l) = portrange();
            let t = vnet_tcp();
            let dual = tp.v6 && !tp.v6only;
            tp.ep.lport = t.tcb.bind_port(tp.id, tp.ep, f, l, self.reuse, dual)?;
        }
        Ok(())
    }
}

/// `tcp_usrclosed`: the user will send no more.
fn tcp_usrclosed(tp: &mut Tcpcb) {
    tp.flags |= TF_CANTSENDMORE;
    match tp.state {
        TcpState::Closed | TcpState::Listen | TcpState::SynSent => {
            tcp_close(tp);
            return;
        }
        TcpState::SynReceived | TcpState::Established => tp.state = TcpState::FinWait1,
        TcpState::CloseWait => tp.state = TcpState::LastAck,
        _ => {}
    }
    if tp.state == TcpState::FinWait2 && tp.flags & TF_NOFDREF != 0 {
        tcp_timer_activate(tp, TT_2MSL, TCPTV_FINWAIT2);
    }
    tcp_output(tp);
}

/// `tcp_usr_send`'s checks: a pending error, a shut down send side, a
/// connection not (or no longer) able to send.  `to_addr`: the caller named
/// a destination (`EISCONN` on an unconnected socket, as FreeBSD's).
fn tcp_send_ok(tp: &mut Tcpcb, to_addr: bool) -> Result<(), Errno> {
    if let Some(e) = tp.so_error.take() {
        return Err(e);
    }
    if tp.flags & TF_CANTSENDMORE != 0 {
        return Err(Errno::EPIPE);
    }
    match tp.state {
        TcpState::Established | TcpState::CloseWait => Ok(()),
        TcpState::SynSent | TcpState::SynReceived => Err(Errno::EWOULDBLOCK),
        TcpState::Closed if tp.iss != 0 => Err(Errno::EPIPE),
        _ => Err(if to_addr {
            Errno::EISCONN
        } else {
            Errno::ENOTCONN
        }),
    }
}

impl ProtoSocket for TcpSocket {
    fn bind(&mut self, addr: &[u8]) -> Result<(), Errno> {
        #[cfg_attr(not(feature = "inet6"), allow(unused_variables))]
        let (a, port, zone) = parse_sa(self.v6, addr)?;
        // `tcp6_usr_bind`: an IPv4-mapped address binds for IPv4 when the
        // socket takes mapped traffic (else no interface has it).
        let v6only = self.lock()?.v6only;
        let a = unmap(a, v6only).unwrap_or(a);
        match a {
            IpAddr::V4(x) if !x.is_unspecified() && !super::r#in::in_localaddr(x) => {
                return Err(Errno::EADDRNOTAVAIL)
            }
            #[cfg(feature = "inet6")]
            IpAddr::V6(x) if !x.is_unspecified() => {
                match crate::netinet6::in6::in6_ifawithaddr(&x, zone) {
                    Some(_) => {}
                    None => return Err(Errno::EADDRNOTAVAIL),
                }
            }
            #[cfg(not(feature = "inet6"))]
            IpAddr::V6(_) => return Err(Errno::EAFNOSUPPORT),
            _ => {}
        }
        let mut tp = self.lock()?;
        if tp.ep.lport != 0 || tp.state != TcpState::Closed {
            return Err(Errno::EINVAL);
        }
        let (f, l) = portrange();
        let ep = TcpEndpoints {
            laddr: a,
            lport: port,
            ..tp.ep
        };
        let dual = tp.v6 && !tp.v6only;
        let p = vnet_tcp()
            .tcb
            .bind_port(tp.id, ep, f, l, self.reuse, dual)?;
        tp.ep = TcpEndpoints { lport: p, ..ep };
        Ok(())
    }

    fn listen(&mut self, backlog: i32) -> Result<(), Errno> {
        let mut tp = self.lock()?;
        match tp.state {
            TcpState::Closed | TcpState::Listen => {}
            _ => return Err(Errno::EINVAL),
        }
        self.autobind(&mut tp)?;
        // (The socket layer has bounded it by kern.ipc.somaxconn.)
        let backlog = backlog.max(0) as usize;
        match tp.listen.as_mut() {
            Some(l) => l.backlog = backlog,
            None => {
                tp.listen = Some(ListenQ {
                    backlog,
                    comp: Default::default(),
                    syncache: SynCache::default(),
                })
            }
        }
        tp.state = TcpState::Listen;
        let ep = tp.ep;
        vnet_tcp().tcb.set_endpoints(tp.id, ep);
        Ok(())
    }

    fn accept(&mut self) -> Result<(Box<dyn ProtoSocket>, Vec<u8>), Errno> {
        let mut tp = self.lock()?;
        let Some(l) = tp.listen.as_mut() else {
            return Err(
                if tp.state == TcpState::Closed && tp.flags & TF_NOFDREF != 0 {
                    Errno::ECONNABORTED
                } else {
                    Errno::EINVAL
                },
            );
        };
        let Some(c) = l.comp.pop_front() else {
            return Err(Errno::EWOULDBLOCK);
        };
        let peer = {
            let ctp = c.lock().map_err(|_| Errno::EDOOFUS)?;
            sockaddr(self.v6, ctp.ep.faddr, ctp.ep.fport, ctp.ep.zone)
        };
        Ok((Box::new(TcpSocket::from_cb(c, self.v6)), peer))
    }

    fn connect(&mut self, addr: &[u8]) -> Result<(), Errno> {
        let _ns = netisr_enter();
        let (fa, fport, zone) = parse_sa(self.v6, addr)?;
        let t = vnet_tcp();
        let mut tp = self.lock()?;
        // `tcp6_usr_connect`: an IPv4-mapped peer is reached over IPv4,
        // unless the socket is IPv6 only.
        let fa = match unmap(fa, tp.v6only) {
            Some(a) => a,
            None if is_mapped(fa) => return Err(Errno::EINVAL),
            None => fa,
        };
        match tp.state {
            TcpState::Closed => {}
            TcpState::SynSent | TcpState::SynReceived => return Err(Errno::EALREADY),
            TcpState::Listen => return Err(Errno::EOPNOTSUPP),
            _ => return Err(Errno::EISCONN),
        }
        if tp.snd_max != 0 || tp.iss != 0 {
            // A connection that already ended cannot be reused.
            return Err(Errno::EINVAL);
        }
        if fport == 0 {
            return Err(Errno::EADDRNOTAVAIL);
        }
        let fa = match fa {
            IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(
                super::r#in::in_ifaddrs()
                    .first()
                    .map(|(_, a)| a.addr)
                    .ok_or(Errno::EADDRNOTAVAIL)?,
            ),
            IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            a => a,
        };
        match fa {
            IpAddr::V4(a) if a.is_multicast() || a == Ipv4Addr::BROADCAST => {
                return Err(Errno::EAFNOSUPPORT)
            }
            IpAddr::V6(a) if a.is_multicast() => return Err(Errno::EAFNOSUPPORT),
            _ => {}
        }
        if tp.ep.laddr.is_ipv4() != fa.is_ipv4() && !tp.ep.laddr.is_unspecified() {
            // Bound to an address of the other family.
            return Err(Errno::EAFNOSUPPORT);
        }
        let laddr = if tp.ep.laddr.is_unspecified() {
            select_src(fa, zone)?
        } else {
            tp.ep.laddr
        };
        self.autobind(&mut tp)?;
        let ep = TcpEndpoints {
            laddr,
            lport: tp.ep.lport,
            faddr: fa,
            fport,
            zone,
        };
        if t.tcb.tuple_in_use(&ep) {
            return Err(Errno::EADDRINUSE);
        }
        tp.ep = ep;
        t.tcb.set_endpoints(tp.id, ep);
        // The MSS we offer, before the peer's lowers it (`tcp_mss`); a
        // `TCP_MAXSEG` set earlier stays the ceiling.
        tp.t_maxseg = tp.t_maxseg_user.unwrap_or(u32::MAX).min(tcp_mssopt(&ep));
        if tcp_tso_ok(&ep) {
            tp.flags |= TF_TSO;
        }
        inc(&t.stat.tcps_connattempt);
        tp.iss = tcp_new_isn(&ep);
        tp.snd_una = tp.iss;
        tp.snd_nxt = tp.iss;
        tp.snd_max = tp.iss;
        tp.snd_recover = tp.iss;
        tp.rcv_scale = 0;
        tp.so_error = None;
        tp.state = TcpState::SynSent;
        let keepinit = t.ms(&t.keepinit);
        tcp_timer_activate(&mut tp, TT_KEEP, keepinit);
        tcp_output(&mut tp);
        Err(Errno::EINPROGRESS)
    }

    fn sendto(&mut self, data: &[u8], addr: Option<&[u8]>, _flags: i32) -> Result<usize, Errno> {
        let _ns = netisr_enter();
        let mut tp = self.lock()?;
        tcp_send_ok(&mut tp, addr.is_some())?;
        if data.is_empty() {
            return Ok(0);
        }
        let n = tp.snd.append_stream(data);
        if n == 0 {
            return Err(Errno::EWOULDBLOCK);
        }
        tcp_output(&mut tp);
        Ok(n)
    }

    fn send_chain(
        &mut self,
        c: &mut vimage_net::mbuf::MbufChain,
        _flags: i32,
    ) -> Result<usize, Errno> {
        let _ns = netisr_enter();
        let mut tp = self.lock()?;
        tcp_send_ok(&mut tp, false)?;
        if c.is_empty() {
            return Ok(0);
        }
        let n = tp.snd.append_stream_chain(c);
        if n == 0 {
            return Err(Errno::EWOULDBLOCK);
        }
        tcp_output(&mut tp);
        Ok(n)
    }

    fn recvfrom(&mut self, len: usize, flags: i32) -> Result<(Vec<u8>, Vec<u8>), Errno> {
        let rcv = self.lock()?.rcv.clone();
        rcv.recv(len, flags | MSG_DONTWAIT, None, &|| false)
    }

    fn sockname(&self) -> Result<Vec<u8>, Errno> {
        let tp = self.lock()?;
        Ok(sockaddr(self.v6, tp.ep.laddr, tp.ep.lport, 0))
    }

    fn peername(&self) -> Result<Vec<u8>, Errno> {
        let tp = self.lock()?;
        if tp.ep.fport == 0 || tp.state == TcpState::Listen {
            return Err(Errno::ENOTCONN);
        }
        Ok(sockaddr(self.v6, tp.ep.faddr, tp.ep.fport, tp.ep.zone))
    }

    fn shutdown(&mut self, how: i32) -> Result<(), Errno> {
        let _ns = netisr_enter();
        if !(SHUT_RD..=SHUT_RDWR).contains(&how) {
            return Err(Errno::EINVAL);
        }
        let mut tp = self.lock()?;
        if !tp.state.have_rcvd_syn() && tp.state != TcpState::SynSent {
            return Err(Errno::ENOTCONN);
        }
        if how != SHUT_WR {
            tp.rcv.cantrcvmore();
            tp.rcv.flush();
        }
        if how != SHUT_RD {
            tcp_usrclosed(&mut tp);
        }
        tp.wake.wakeup();
        Ok(())
    }

    fn setsockopt(&mut self, level: i32, name: i32, val: &[u8]) -> Result<(), Errno> {
        let v = match val.len() {
            4 => i32::from_le_bytes([val[0], val[1], val[2], val[3]]),
            1 => i32::from(val[0]),
            _ => return Err(Errno::EINVAL),
        };
        if level == SOL_SOCKET && (name == 0x4 || name == 0x200) {
            self.reuse = v != 0;
            return Ok(());
        }
        let mut tp = self.lock()?;
        match (level, name) {
            (IPPROTO_TCP, TCP_NODELAY) => {
                if v != 0 {
                    tp.flags |= TF_NODELAY;
                } else {
                    tp.flags &= !TF_NODELAY;
                }
            }
            (IPPROTO_TCP, TCP_MAXSEG) => {
                if !(64..=65535).contains(&v) {
                    return Err(Errno::EINVAL);
                }
                tp.t_maxseg = tp.t_maxseg.min(v as u32);
                tp.t_maxseg_user = Some(v as u32);
            }
            (SOL_SOCKET, SO_KEEPALIVE) => {
                tp.keepalive = v != 0;
                if tp.keepalive && tp.state.have_established() {
                    let t = vnet_tcp();
                    let idle = t.ms(&t.keepidle);
                    tcp_timer_activate(&mut tp, TT_KEEP, idle);
                }
            }
            (SOL_SOCKET, 0x1001) | (SOL_SOCKET, 0x1002) => {
                if v <= 0 {
                    return Err(Errno::EINVAL);
                }
                // `sbreserve`; a size the user chose is no longer grown.
                let sb = if name == 0x1001 { &tp.snd } else { &tp.rcv };
                sb.set_hiwat(v as usize);
                sb.set_autosize(false);
                if name == 0x1002 && tp.state == TcpState::Closed {
                    tp.request_r_scale = tcp_rscale(&vnet_tcp(), &tp.rcv);
                }
            }
            (IPPROTO_IPV6, IPV6_V6ONLY) if tp.v6 => {
                // Only before the socket has a port (`ip6_ctloutput`).
                if tp.ep.lport != 0 {
                    return Err(Errno::EINVAL);
                }
                tp.v6only = v != 0;
            }
            (IPPROTO_TCP, _) | (SOL_SOCKET, _) | (IPPROTO_IPV6, _) => {
                return Err(Errno::ENOPROTOOPT)
            }
            _ => return Err(Errno::EINVAL),
        }
        Ok(())
    }

    fn getsockopt(&mut self, level: i32, name: i32) -> Result<Vec<u8>, Errno> {
        let mut tp = self.lock()?;
        if (level, name) == (IPPROTO_TCP, TCP_INFO) {
            return Ok(tcp_fill_info(&tp).to_bytes());
        }
        let v: i32 = match (level, name) {
            (IPPROTO_TCP, TCP_NODELAY) => i32::from(tp.flags & TF_NODELAY != 0),
            (IPPROTO_TCP, TCP_MAXSEG) => tp.t_maxseg as i32,
            (SOL_SOCKET, SO_KEEPALIVE) => i32::from(tp.keepalive),
            (SOL_SOCKET, 0x4) | (SOL_SOCKET, 0x200) => i32::from(self.reuse),
            (SOL_SOCKET, SO_ERROR) => tp.so_error.take().map(|e| e.0).unwrap_or(0),
            (SOL_SOCKET, 0x1001) => tp.snd.hiwat() as i32,
            (SOL_SOCKET, 0x1002) => tp.rcv.hiwat() as i32,
            (IPPROTO_IPV6, IPV6_V6ONLY) if tp.v6 => i32::from(tp.v6only),
            (IPPROTO_TCP, _) | (SOL_SOCKET, _) => return Err(Errno::ENOPROTOOPT),
            _ => return Err(Errno::EINVAL),
        };
        Ok(v.to_le_bytes().to_vec())
    }

    fn close(&mut self) {
        let _ns = netisr_enter();
        let Ok(mut tp) = self.cb.lock() else { return };
        tp.flags |= TF_NOFDREF;
        match tp.state {
            TcpState::Closed => {
                tcp_close(&mut tp);
                if let Some(t) = try_vnet_tcp() {
                    t.tcb.remove(tp.id);
                }
            }
            TcpState::Listen | TcpState::SynSent => tcp_close(&mut tp),
            _ if tp.rcv.cc() > 0 => {
                // Unread data: abort (FreeBSD sends a RST).
                tcp_drop(&mut tp, Errno::ECONNABORTED);
            }
            _ => tcp_usrclosed(&mut tp),
        }
    }

    fn abort(&mut self) {
        let _ns = netisr_enter();
        let Ok(mut tp) = self.cb.lock() else { return };
        tp.flags |= TF_NOFDREF;
        match tp.state {
            TcpState::Closed => {
                tcp_close(&mut tp);
                if let Some(t) = try_vnet_tcp() {
                    t.tcb.remove(tp.id);
                }
            }
            TcpState::Listen => tcp_close(&mut tp),
            // `tcp_drop`: a RST to the peer, no TIME_WAIT.
            _ => tcp_drop(&mut tp, Errno::ECONNABORTED),
        }
    }

    fn disconnected(&self) -> Option<Box<dyn Fn() -> bool + Send + Sync>> {
        let cb = self.cb.clone();
        Some(Box::new(move || {
            cb.lock().map_or(true, |tp| {
                matches!(
                    tp.state,
                    TcpState::Closed | TcpState::FinWait2 | TcpState::TimeWait
                )
            })
        }))
    }

    fn rcvbuf(&self) -> Option<Arc<SockBuf>> {
        self.cb.lock().ok().map(|tp| tp.rcv.clone())
    }

    fn sndbuf(&self) -> Option<Arc<SockBuf>> {
        self.cb.lock().ok().map(|tp| tp.snd.clone())
    }

    fn wakeup(&self) -> Option<Arc<SoWakeup>> {
        self.cb.lock().ok().map(|tp| tp.wake.clone())
    }

    fn soerror(&mut self) -> Option<Errno> {
        self.cb.lock().ok().and_then(|mut tp| tp.so_error.take())
    }

    fn poll(&self) -> u32 {
        let Ok(tp) = self.cb.lock() else {
            return POLLERR;
        };
        let mut m = 0;
        if let Some(l) = tp.listen.as_ref() {
            if !l.comp.is_empty() {
                m |= POLLIN;
            }
            return m;
        }
        if tp.rcv.cc() > 0 || tp.rcv.is_cantrcvmore() {
            m |= POLLIN;
        }
        if matches!(tp.state, TcpState::Established | TcpState::CloseWait)
            && tp.flags & TF_CANTSENDMORE == 0
            && tp.snd.space() > 0
        {
            m |= POLLOUT;
        }
        if tp.so_error.is_some() {
            m |= POLLERR;
        }
        if (tp.state == TcpState::Closed && tp.iss != 0)
            || (tp.rcv.is_cantrcvmore() && tp.flags & TF_CANTSENDMORE != 0)
        {
            m |= POLLHUP;
        }
        m
    }
}
