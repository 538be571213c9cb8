//! UDP (FreeBSD's sys/netinet/udp_usrreq.c): datagram sockets bound in the
//! vnet's port space, input demultiplexed to them through the pcb hash, port
//! unreachable when nobody listens; `net.inet.udp.pcblist` for `netstat -a`.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use vimage_abi::netinet6_in6::SockaddrIn6;
use vimage_abi::netinet_in::{
    InPcbInfo, InRecvInfo, SockaddrIn, IPPROTO_IP, IP_DEFAULT_MULTICAST_TTL, IP_RECVDSTADDR,
    IP_RECVIF,
};
use vimage_abi::Errno;

use super::icmp_input::icmp_error;
use super::in_mcast::{ip_getmoptions, ip_setmoptions, is_mcast_opt, IpMoptions};
use super::in_pcb::{InPcbCb, InpOpts};
use super::ip::{Ipv4Packet, PseudoHdr, IPPROTO_UDP, IP_HDR_LEN};
use super::ip_icmp::{IcmpQuote, ICMP_UNREACH, ICMP_UNREACH_PORT};
use super::ip_output::{
    ip_build, ip_output_opt, ip_srcaddr, ip_srcaddr_mcast, IpMcastOut, IP_ALLOWBROADCAST,
};
use super::ip_var::inc;
use super::r#in::{in_broadcast, in_broadcast_any, in_localaddr};
use super::udp::{UdpPacket, UDP_HDR_LEN};
use vimage_kern::uipc_socket::{ProtoSocket, SockBuf};
use vimage_net::if_var::Ifnet;
use vimage_net::mbuf::Mbuf;

/// `net.inet.udp.maxdgram`: largest datagram a socket may send.
pub const UDP_MAXDGRAM: usize = 9216;
/// `net.inet.udp.recvspace`: receive buffer size.
pub const UDP_RECVSPACE: usize = 42080;

/// A UDP control block's shared half: what input needs to deliver.
pub struct UdpCb {
    /// Receive buffer.
    pub rcv: Arc<SockBuf>,
    /// Error to report on the next send (`so_error`: ICMP said refused).
    pub so_error: Mutex<Option<Errno>>,
    /// The IPv4 half of an AF_INET6 socket open to IPv4-mapped traffic:
    /// sources are reported as `::ffff:a.b.c.d`.
    pub mapped: bool,
    /// `inp_moptions`: multicast options, made by the first one set; input
    /// reads the memberships to filter group datagrams.
    pub moptions: Mutex<Option<IpMoptions>>,
    /// `INP_RECVDSTADDR`: datagrams come with their destination address.
    pub recvdstaddr: AtomicBool,
    /// `INP_RECVIF`: datagrams come with their receiving interface.
    pub recvif: AtomicBool,
}

impl InPcbCb for UdpCb {
    fn shutdown(&self) {
        self.rcv.cantrcvmore();
    }
}

/// A UDP socket (`pr_usrreqs` of `udp`).
pub struct UdpSocket {
    id: u64,
    cb: Arc<UdpCb>,
    opts: InpOpts,
}

impl UdpSocket {
    /// `udp_attach`: a new unbound socket in curvnet.
    pub fn attach() -> Self {
        Self::attach_with(Arc::new(SockBuf::new(UDP_RECVSPACE)), false)
    }

    /// The IPv4 half of a dual-stack AF_INET6 socket: datagrams land in the
    /// IPv6 socket's buffer `rcv`, from IPv4-mapped addresses.
    pub fn attach_mapped(rcv: Arc<SockBuf>) -> Self {
        Self::attach_with(rcv, true)
    }

    fn attach_with(rcv: Arc<SockBuf>, mapped: bool) -> Self {
        let cb = Arc::new(UdpCb {
            rcv,
            so_error: Mutex::new(None),
            mapped,
            moptions: Mutex::new(None),
            recvdstaddr: AtomicBool::new(false),
            recvif: AtomicBool::new(false),
        });
        let id = super::vnet_inet().udb.attach(cb.clone());
        UdpSocket {
            id,
            cb,
            opts: InpOpts::default(),
        }
    }

    /// The bound local port.
    pub fn sockname_port(&self) -> u16 {
        super::vnet_inet().udb.endpoints(self.id).lport
    }

    /// The local address (set by bind or connect).
    pub fn sockname_addr(&self) -> Ipv4Addr {
        super::vnet_inet().udb.endpoints(self.id).laddr
    }

    /// The interface `IP_MULTICAST_IF` chose, if any.
    fn mcast_ifp(&self) -> Option<Arc<Ifnet>> {
        self.cb
            .moptions
            .lock()
            .ok()
            .and_then(|g| g.as_ref().and_then(|o| o.multicast_ifp()))
    }

    fn autobind(&self) -> Result<(), Errno> {
        let inet = super::vnet_inet();
        if inet.udb.endpoints(self.id).lport == 0 {
            inet.udb.bind(
                self.id,
                Ipv4Addr::UNSPECIFIED,
                0,
                inet.portfirst.load(Ordering::Relaxed).clamp(1, 65535) as u16,
                inet.portlast.load(Ordering::Relaxed).clamp(1, 65535) as u16,
            )?;
        }
        Ok(())
    }
}

/// Check a local address for bind: wildcard, one of ours, or a group or
/// broadcast address (`EADDRNOTAVAIL` otherwise).
fn bindable(a: Ipv4Addr) -> Result<(), Errno> {
    if a.is_unspecified() || a.is_multicast() || in_localaddr(a) || in_broadcast_any(a) {
        Ok(())
    } else {
        Err(Errno::EADDRNOTAVAIL)
    }
}

impl ProtoSocket for UdpSocket {
    fn bind(&mut self, addr: &[u8]) -> Result<(), Errno> {
        let sin = SockaddrIn::from_bytes(addr)?;
        bindable(sin.addr)?;
        let inet = super::vnet_inet();
        inet.udb.set_opts(self.id, self.opts.reuse);
        inet.udb
            .bind(
                self.id,
                sin.addr,
                sin.port,
                inet.portfirst.load(Ordering::Relaxed).clamp(1, 65535) as u16,
                inet.portlast.load(Ordering::Relaxed).clamp(1, 65535) as u16,
            )
            .map(|_| ())
    }

    fn connect(&mut self, addr: &[u8]) -> Result<(), Errno> {
        let sin = SockaddrIn::from_bytes(addr)?;
        if sin.port == 0 {
            return Err(Errno::EADDRNOTAVAIL);
        }
        let inet = super::vnet_inet();
        let mut faddr = sin.addr;
        if faddr.is_unspecified() {
            // Connecting to INADDR_ANY means "this host".
            faddr = super::r#in::in_ifaddrs()
                .first()
                .map(|(_, a)| a.addr)
                .ok_or(Errno::EADDRNOTAVAIL)?;
        }
        let ep = inet.udb.endpoints(self.id);
        let laddr = if ep.laddr.is_unspecified() && faddr.is_multicast() {
            // Connected to a group: the source is the multicast interface's.
            Some(ip_srcaddr_mcast(faddr, self.mcast_ifp().as_ref())?)
        } else if ep.laddr.is_unspecified() {
            Some(ip_srcaddr(faddr).map_err(|e| {
                if e == Errno::EHOSTUNREACH {
                    Errno::ENETUNREACH
                } else {
                    e
                }
            })?)
        } else {
            None
        };
        inet.udb.set_opts(self.id, self.opts.reuse);
        self.autobind()?;
        inet.udb.connect(self.id, faddr, sin.port, laddr)?;
        if let Ok(mut e) = self.cb.so_error.lock() {
            *e = None;
        }
        Ok(())
    }

    fn sockname(&self) -> Result<Vec<u8>, Errno> {
        let ep = super::vnet_inet().udb.endpoints(self.id);
        Ok(SockaddrIn::new(ep.laddr, ep.lport).to_bytes().to_vec())
    }

    fn peername(&self) -> Result<Vec<u8>, Errno> {
        let ep = super::vnet_inet().udb.endpoints(self.id);
        if ep.fport == 0 || ep.faddr.is_unspecified() {
            return Err(Errno::ENOTCONN);
        }
        Ok(SockaddrIn::new(ep.faddr, ep.fport).to_bytes().to_vec())
    }

    fn sendto(&mut self, data: &[u8], addr: Option<&[u8]>, _flags: i32) -> Result<usize, Errno> {
        let inet = super::vnet_inet();
        if let Some(e) = self.cb.so_error.lock().ok().and_then(|mut g| g.take()) {
            return Err(e);
        }
        let ep = inet.udb.endpoints(self.id);
        let (dst, dport) = match addr {
            Some(a) => {
                if !ep.faddr.is_unspecified() {
                    return Err(Errno::EISCONN);
                }
                let sin = SockaddrIn::from_bytes(a)?;
                if sin.port == 0 {
                    return Err(Errno::EADDRNOTAVAIL);
                }
                (sin.addr, sin.port)
            }
            None => {
                if ep.faddr.is_unspecified() {
                    return Err(Errno::ENOTCONN);
                }
                (ep.faddr, ep.fport)
            }
        };
        if data.len() > UDP_MAXDGRAM {
            return Err(Errno::EMSGSIZE);
        }
        inet.udb.set_opts(self.id, self.opts.reuse);
        self.autobind()?;
        let ep = inet.udb.endpoints(self.id);
        // To a group: the socket's multicast interface, TTL and loopback
        // (`ip_moptions`), or their defaults (the route's, 1, on).
        let mo = dst.is_multicast().then(|| {
            let g = self.cb.moptions.lock().ok();
            let imo = g.as_ref().and_then(|g| g.as_ref());
            (
                IpMcastOut {
                    ifp: imo.and_then(|o| o.multicast_ifp()),
                    loop_: imo.is_none_or(|o| o.loop_),
                },
                imo.map_or(IP_DEFAULT_MULTICAST_TTL, |o| o.ttl),
            )
        });
        let src = if ep.laddr.is_unspecified() || ep.laddr.is_multicast() {
            if dst == Ipv4Addr::BROADCAST {
                Ipv4Addr::UNSPECIFIED
            } else if let Some((o, _)) = &mo {
                ip_srcaddr_mcast(dst, o.ifp.as_ref())?
            } else {
                ip_srcaddr(dst)?
            }
        } else {
            ep.laddr
        };
        let ulen = UDP_HDR_LEN + data.len();
        let mut udp = vec![0u8; ulen];
        {
            let mut p = UdpPacket::new_unchecked(&mut udp[..]);
            p.set_src_port(ep.lport);
            p.set_dst_port(dport);
            p.set_len(ulen as u16);
            p.payload_mut().copy_from_slice(data);
            if !src.is_unspecified() {
                p.fill_checksum(&PseudoHdr::V4 { src, dst });
            }
        }
        let ttl = match &mo {
            Some((_, t)) => *t,
            None => self.opts.ttl.unwrap_or_else(|| inet.defttl()),
        };
        let m = ip_build(src, dst, IPPROTO_UDP, ttl, self.opts.tos, &udp);
        let m = if src.is_unspecified() {
            // The source is chosen on the way out: sum the checksum then.
            fill_udp_cksum_late(m, dst)?
        } else {
            m
        };
        inc(&inet.udpstat.udps_opackets);
        let flags = if self.opts.broadcast {
            IP_ALLOWBROADCAST
        } else {
            0
        };
        ip_output_opt(m, flags, mo.as_ref().map(|(o, _)| o))?;
        Ok(data.len())
    }

    fn setsockopt(&mut self, level: i32, name: i32, val: &[u8]) -> Result<(), Errno> {
        if level == IPPROTO_IP && is_mcast_opt(name) {
            let mut g = self.cb.moptions.lock().map_err(|_| Errno::EDOOFUS)?;
            return ip_setmoptions(&mut g, name, val);
        }
        if level == IPPROTO_IP && (name == IP_RECVDSTADDR || name == IP_RECVIF) {
            let v = match val.len() {
                4 => i32::from_le_bytes([val[0], val[1], val[2], val[3]]),
                _ => return Err(Errno::EINVAL),
            };
            let f = if name == IP_RECVIF {
                &self.cb.recvif
            } else {
                &self.cb.recvdstaddr
            };
            f.store(v != 0, Ordering::Relaxed);
            return Ok(());
        }
        self.opts.set(level, name, val, false)
    }

    fn getsockopt(&mut self, level: i32, name: i32) -> Result<Vec<u8>, Errno> {
        if level == IPPROTO_IP && is_mcast_opt(name) {
            let g = self.cb.moptions.lock().map_err(|_| Errno::EDOOFUS)?;
            return ip_getmoptions(&g, name);
        }
        if level == IPPROTO_IP && (name == IP_RECVDSTADDR || name == IP_RECVIF) {
            let f = if name == IP_RECVIF {
                &self.cb.recvif
            } else {
                &self.cb.recvdstaddr
            };
            return Ok(i32::from(f.load(Ordering::Relaxed)).to_le_bytes().to_vec());
        }
        let ttl = super::vnet_inet().defttl();
        self.opts.get(level, name, ttl, false)
    }

    fn close(&mut self) {
        if let Ok(mut g) = self.cb.moptions.lock() {
            if let Some(o) = g.as_mut() {
                o.leave_all();
            }
        }
        if let Some(inet) = super::try_vnet_inet() {
            inet.udb.detach(self.id);
        }
        self.cb.rcv.cantrcvmore();
    }

    fn rcvbuf(&self) -> Option<Arc<SockBuf>> {
        Some(self.cb.rcv.clone())
    }
}

/// A limited broadcast leaves with the interface's address as source: compute
/// it now so the checksum can cover it.
fn fill_udp_cksum_late(mut m: Mbuf, dst: Ipv4Addr) -> Result<Mbuf, Errno> {
    let src = vimage_net::r#if::vnet_net()
        .list()
        .iter()
        .find_map(|i| super::r#in::in_first_addr(i).filter(|_| in_broadcast(dst, i)))
        .ok_or(Errno::EADDRNOTAVAIL)?;
    let d = m.data_mut();
    Ipv4Packet::new_unchecked(&mut d[..]).set_src_addr(src);
    let mut u = UdpPacket::new_unchecked(&mut d[IP_HDR_LEN..]);
    u.fill_checksum(&PseudoHdr::V4 { src, dst });
    Ok(m)
}

/// `udp_input`: `m` is a whole datagram whose header is `hl` bytes.
pub fn udp_input(ifp: &Arc<Ifnet>, m: Mbuf, hl: usize) {
    super::VNET_INET.with(|inet| {
        let st = &inet.udpstat;
        inc(&st.udps_ipackets);
        let d = m.data();
        let ip = Ipv4Packet::new_unchecked(d);
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let udp = d.get(hl..).unwrap_or(&[]);
        if udp.len() < UDP_HDR_LEN {
            inc(&st.udps_hdrops);
            return;
        }
        let u = UdpPacket::new_unchecked(udp);
        let ulen = usize::from(u.len());
        if ulen < UDP_HDR_LEN || ulen > udp.len() {
            inc(&st.udps_badlen);
            return;
        }
        let udp = &udp[..ulen];
        let u = UdpPacket::new_unchecked(udp);
        if u.checksum() == 0 {
            inc(&st.udps_nosum);
        } else if !u.verify_checksum(&PseudoHdr::V4 { src, dst }) {
            inc(&st.udps_badsum);
            return;
        }
        let (sport, dport) = (u.src_port(), u.dst_port());
        let payload = &udp[UDP_HDR_LEN..];
        let from_sin = SockaddrIn::new(src, sport);
        let from = from_sin.to_bytes().to_vec();
        let from6 = || {
            let mut s = SockaddrIn6::new(src.to_ipv6_mapped(), 0);
            s.port = sport;
            s.to_bytes().to_vec()
        };
        let bcast = dst.is_multicast() || in_broadcast(dst, ifp);
        let targets = if bcast {
            inet.udb.lookup_all(dst, dport, src, sport)
        } else {
            inet.udb
                .lookup(dst, dport, src, sport)
                .into_iter()
                .collect()
        };
        if targets.is_empty() {
            inc(&st.udps_noport);
            if bcast {
                inc(&st.udps_noportbcast);
                return;
            }
            if inet.udp_blackhole.load(Ordering::Relaxed) == 0 {
                icmp_error(d, Some(ifp), ICMP_UNREACH, ICMP_UNREACH_PORT, 0);
            }
            return;
        }
        let mcast = dst.is_multicast();
        let mut delivered = 0;
        for cb in targets {
            // A socket with multicast options takes a group datagram only
            // when it joined the group on the receiving interface
            // (`imo_multi_filter`); one without takes what the host took.
            if mcast
                && cb
                    .moptions
                    .lock()
                    .ok()
                    .is_some_and(|g| g.as_ref().is_some_and(|o| !o.is_member(dst, ifp)))
            {
                continue;
            }
            delivered += 1;
            let (rdst, rif) = (
                cb.recvdstaddr.load(Ordering::Relaxed),
                cb.recvif.load(Ordering::Relaxed),
            );
            let from = if cb.mapped {
                from6()
            } else if rdst || rif {
                InRecvInfo {
                    from: Some(from_sin),
                    dstaddr: rdst.then_some(dst),
                    ifindex: rif.then(|| ifp.index.load(Ordering::Relaxed)),
                }
                .to_bytes()
            } else {
                from.clone()
            };
            if cb.rcv.append(payload.to_vec(), from).is_err() {
                inc(&st.udps_fullsock);
            }
        }
        if delivered == 0 {
            // Every taker filtered it out: nobody wanted the group here.
            inc(&st.udps_noport);
            inc(&st.udps_noportbcast);
        }
    })
}

/// An ICMP error about a datagram we sent (`udp_ctlinput`): a socket connected
/// to the quoted destination gets `ECONNREFUSED` (port unreachable) or
/// `EHOSTUNREACH` on its next send.
pub fn udp_ctlinput(ty: u8, code: u8, q: &IcmpQuote<'_>) {
    if q.protocol != IPPROTO_UDP || q.data.len() < 4 {
        return;
    }
    let sport = u16::from_be_bytes([q.data[0], q.data[1]]);
    let dport = u16::from_be_bytes([q.data[2], q.data[3]]);
    let inet = super::vnet_inet();
    let Some(cb) = inet.udb.lookup(q.src_addr, sport, q.dst_addr, dport) else {
        return;
    };
    let connected = inet
        .udb
        .list()
        .iter()
        .any(|(ep, c)| Arc::ptr_eq(c, &cb) && !ep.faddr.is_unspecified());
    if !connected {
        return;
    }
    let e = match (ty, code) {
        (ICMP_UNREACH, ICMP_UNREACH_PORT) => Errno::ECONNREFUSED,
        (ICMP_UNREACH, _) => Errno::EHOSTUNREACH,
        _ => return,
    };
    if let Ok(mut g) = cb.so_error.lock() {
        *g = Some(e);
    };
}

/// `net.inet.udp.pcblist` of curvnet: the IPv4 sockets and, as FreeBSD's
/// one `udbinfo` holds them too, the IPv6 ones (a version 3 list).  The IPv4
/// half of a dual-stack IPv6 socket is not listed apart: the IPv6 socket is,
/// as `udp46`.
pub fn udp_pcblist() -> Vec<u8> {
    let inet = super::vnet_inet();
    #[cfg_attr(not(feature = "inet6"), allow(unused_mut))]
    let mut v: Vec<InPcbInfo> = inet
        .udb
        .list()
        .into_iter()
        .filter(|(_, cb)| !cb.mapped)
        .map(|(ep, cb)| InPcbInfo {
            proto: IPPROTO_UDP,
            laddr: ep.laddr,
            lport: ep.lport,
            faddr: ep.faddr,
            fport: ep.fport,
            rcv_cc: cb.rcv.cc() as u32,
            snd_cc: 0,
            tcp_state: None,
            inet6: None,
        })
        .collect();
    #[cfg(feature = "inet6")]
    if let Some(st) = crate::netinet6::in6::try_vnet_inet6() {
        v.extend(st.udb6.pcblist());
    }
    InPcbInfo::encode_list_v3(&v)
}
