//! UDP over IPv6 (FreeBSD's netinet6/udp6_usrreq.c): `socket(AF_INET6,
//! SOCK_DGRAM, 0)` with bind, connect, sendto, recvfrom, getsockname and the
//! hop-limit and receive-information socket options; input demultiplexed to
//! the best matching socket (connected before wildcard), port unreachable when
//! none listens.  Ephemeral ports come from the vnet's
//! `net.inet.ip.portrange.first..last`, as IPv4's do; the UDP header and its
//! checksum are [`crate::udp`]'s.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use vimage_abi::netinet6_in6::*;
use vimage_abi::Errno;

use super::icmp6::{icmp6_error, ICMP6_DST_UNREACH, ICMP6_DST_UNREACH_NOPORT};
use super::in6::{
    in6_ifawithaddr, in6_is_scoped, in6_route, in6_selectsrc, try_vnet_inet6, vnet_inet6,
};
use super::in6_mcast::{ip6_getmoptions, ip6_setmoptions, is_mcast6_opt, Ip6Moptions};
use super::ip6_input::Ip6In;
use super::ip6_output::{ip6_build, ip6_output_mloop, Ip6OutOpts, IPV6_MAXPACKET};
use crate::in_pcb::{InPcbInfo, InpEndpoints, INP_REUSEADDR, INP_REUSEPORT};
use crate::ip::{PseudoHdr, IPPROTO_UDP as PROTO_UDP};
use crate::udp_usrreq::UdpSocket;
use vimage_abi::netinet_in::SockaddrIn;
use vimage_abi::socket::{SOL_SOCKET, SO_REUSEADDR, SO_REUSEPORT};
use vimage_kern::uipc_socket::{ProtoSocket, SockBuf};
use vimage_kern::vnet::{try_curvnet, VNET_MOD_INET};
use vimage_net::r#if::ifnet_byindex;

/// `sizeof(struct udphdr)`.
const UDP_HDR_LEN: usize = 8;

/// Addresses and ports of one socket.
#[derive(Clone, Copy, Debug, Default)]
struct Ep {
    laddr: Option<Ipv6Addr>,
    lport: u16,
    faddr: Option<(Ipv6Addr, u32)>,
    fport: u16,
}

#[derive(Clone, Copy, Debug)]
struct Opts {
    /// `INP_REUSEADDR` | `INP_REUSEPORT`.
    reuse: u32,
    hlim: i32,
    mhlim: i32,
    recvhoplimit: bool,
    recvpktinfo: bool,
}

/// One UDP/IPv6 socket's protocol block.
pub struct Udp6Pcb {
    ep: Mutex<Ep>,
    opts: Mutex<Opts>,
    sb: Arc<SockBuf>,
    /// Its id in the vnet's [`Udp6Table`] while it holds a port (0: none).
    id: AtomicU64,
    /// `INP_IPV4` in `inp_vflag`: `IPV6_V6ONLY` is off (for listings).
    v4_too: std::sync::atomic::AtomicBool,
    /// `in6p_moptions`: made by the first multicast option set; input reads
    /// the memberships to filter group datagrams.
    moptions: Mutex<Option<Ip6Moptions>>,
}

/// The UDP/IPv6 sockets of one vnet that hold a port (`udbinfo` for
/// AF_INET6): the generic [`InPcbInfo`].
#[derive(Default)]
pub struct Udp6Table {
    info: InPcbInfo<Arc<Udp6Pcb>>,
}

/// A socket's addresses as the table keeps them.
fn inp_endpoints(e: &Ep) -> InpEndpoints {
    InpEndpoints {
        laddr: IpAddr::V6(e.laddr.unwrap_or(Ipv6Addr::UNSPECIFIED)),
        lport: e.lport,
        faddr: IpAddr::V6(e.faddr.map(|f| f.0).unwrap_or(Ipv6Addr::UNSPECIFIED)),
        fport: e.fport,
        zone: e.faddr.map(|f| f.1).unwrap_or(0),
    }
}

impl Udp6Table {
    /// Take `p` out of the table (closed, or a bind undone).
    fn remove(&self, p: &Udp6Pcb) {
        let id = p.id.swap(0, Ordering::AcqRel);
        if id != 0 {
            self.info.remove(id);
        }
    }
    /// Tell the table `p`'s addresses changed (connect).
    fn sync(&self, p: &Udp6Pcb) {
        let id = p.id.load(Ordering::Acquire);
        if id == 0 {
            return;
        }
        if let Ok(e) = p.ep.lock() {
            self.info.set_endpoints(id, inp_endpoints(&e));
        }
    }
    /// The bound sockets for `net.inet.udp.pcblist`: IPv6 blocks (`udp6`,
    /// or `udp46` for a wildcard socket that also takes IPv4).
    pub fn pcblist(&self) -> Vec<vimage_abi::netinet_in::InPcbInfo> {
        self.info
            .list()
            .iter()
            .filter_map(|(_, p)| {
                let ep = *p.ep.lock().ok()?;
                let laddr = ep.laddr.unwrap_or(Ipv6Addr::UNSPECIFIED);
                let faddr = ep.faddr.map(|f| f.0).unwrap_or(Ipv6Addr::UNSPECIFIED);
                Some(vimage_abi::netinet_in::InPcbInfo {
                    proto: PROTO_UDP,
                    laddr: Ipv4Addr::UNSPECIFIED,
                    lport: ep.lport,
                    faddr: Ipv4Addr::UNSPECIFIED,
                    fport: ep.fport,
                    rcv_cc: p.sb.cc() as u32,
                    snd_cc: 0,
                    tcp_state: None,
                    inet6: Some(vimage_abi::netinet_in::Inet6Pcb {
                        laddr,
                        faddr,
                        v4_too: p.v4_too.load(Ordering::Relaxed)
                            && laddr.is_unspecified()
                            && faddr.is_unspecified(),
                    }),
                })
            })
            .collect()
    }

    /// Every socket sees end of file (the vnet goes away).
    pub fn close_all(&self) {
        for p in self.info.drain() {
            p.id.store(0, Ordering::Release);
            p.sb.cantrcvmore();
        }
    }
}

/// The ephemeral port range of curvnet (IPv4's sysctls), else the IANA one.
fn port_range() -> (u16, u16) {
    let r = try_curvnet()
        .and_then(|v| v.state::<crate::VnetInet>(VNET_MOD_INET))
        .map(|i| {
            (
                i.portfirst.load(Ordering::Relaxed),
                i.portlast.load(Ordering::Relaxed),
            )
        })
        .unwrap_or((49152, 65535));
    let (a, b) = (r.0.clamp(1, 65535) as u16, r.1.clamp(1, 65535) as u16);
    (a.min(b), a.max(b))
}

/// `in6_pcbbind`: put `p` on `port` (0: the next free ephemeral one) for
/// `laddr` ([`InPcbInfo::bind`]'s rules: with SO_REUSEADDR/SO_REUSEPORT only
/// an unconnected socket on exactly the same address is in the way; both
/// with SO_REUSEPORT share the port).  EADDRINUSE if another socket has the
/// port on an overlapping address; EADDRNOTAVAIL if the ephemeral range is
/// used up.
fn pcb_bind(p: &Arc<Udp6Pcb>, laddr: Option<Ipv6Addr>, port: u16) -> Result<u16, Errno> {
    let st = vnet_inet6();
    let t = &st.udb6;
    let reuse = p.opts.lock().map(|o| o.reuse).unwrap_or(0);
    let ep = Ep {
        laddr,
        lport: port,
        ..Ep::default()
    };
    let id = match p.id.load(Ordering::Acquire) {
        0 => {
            let id = t.info.insert(inp_endpoints(&Ep::default()), p.clone());
            p.id.store(id, Ordering::Release);
            id
        }
        id => id,
    };
    let (lo, hi) = port_range();
    let bound = match t.info.bind(id, inp_endpoints(&ep), lo, hi, reuse, false) {
        Ok(b) => b,
        Err(e) => {
            t.remove(p);
            return Err(e);
        }
    };
    let mut e = p.ep.lock().map_err(|_| Errno::EDOOFUS)?;
    e.laddr = laddr;
    e.lport = bound.lport;
    Ok(bound.lport)
}

fn zone_of(sa: &SockaddrIn6) -> Result<u32, Errno> {
    if in6_is_scoped(&sa.addr) {
        if sa.scope_id == 0 {
            return Err(Errno::EINVAL);
        }
        ifnet_byindex(sa.scope_id).ok_or(Errno::ENXIO)?;
        Ok(sa.scope_id)
    } else {
        Ok(0)
    }
}

/// The source for `dst` in zone `zone` as `ip6_output` would route it (a
/// group: from the interface `zone` names, when it names one — a link-local
/// source for a link-scope group).
fn select_source(dst: &Ipv6Addr, zone: u32) -> Result<Ipv6Addr, Errno> {
    if dst.is_multicast() && zone != 0 {
        let ifp = ifnet_byindex(zone).ok_or(Errno::ENXIO)?;
        return in6_selectsrc(dst, &ifp);
    }
    let rt = in6_route(dst, zone)?;
    if !dst.is_multicast() && rt.ifp.flags() & vimage_abi::net_if::IFF_LOOPBACK != 0 {
        return Ok(rt.ifa.unwrap_or(*dst));
    }
    in6_selectsrc(dst, &rt.ifp)
}

fn int_opt(val: &[u8]) -> Result<i32, Errno> {
    let b: [u8; 4] = val.try_into().map_err(|_| Errno::EINVAL)?;
    Ok(i32::from_le_bytes(b))
}

/// A UDP/IPv6 socket.
pub struct Udp6Socket {
    pcb: Arc<Udp6Pcb>,
    /// `IN6P_IPV6_V6ONLY` (cleared by `IPV6_V6ONLY` 0 before bind).
    v6only: bool,
    /// The IPv4 half once the socket carries IPv4-mapped traffic: bound to
    /// the same port, delivering into this socket's buffer.
    v4: Option<UdpSocket>,
}

/// The IPv4 address behind `::ffff:a.b.c.d`.
fn mapped(a: &Ipv6Addr) -> Option<Ipv4Addr> {
    a.to_ipv4_mapped()
}

fn sin(a: Ipv4Addr, port: u16) -> Vec<u8> {
    SockaddrIn::new(a, port).to_bytes().to_vec()
}

impl Udp6Socket {
    /// A new unbound socket.
    pub fn attach() -> Self {
        Udp6Socket {
            pcb: Arc::new(Udp6Pcb {
                ep: Mutex::new(Ep::default()),
                opts: Mutex::new(Opts {
                    hlim: -1,
                    mhlim: -1,
                    recvhoplimit: false,
                    recvpktinfo: false,
                    reuse: 0,
                }),
                sb: Arc::new(SockBuf::default()),
                id: AtomicU64::new(0),
                v4_too: std::sync::atomic::AtomicBool::new(false),
                moptions: Mutex::new(None),
            }),
            v6only: true,
            v4: None,
        }
    }

    /// The IPv4 half, bound to `laddr:port` on first use.
    fn v4_half(&mut self, laddr: Ipv4Addr, port: u16) -> Result<&mut UdpSocket, Errno> {
        if self.v4.is_none() {
            let mut s = UdpSocket::attach_mapped(self.pcb.sb.clone());
            let reuse = self.pcb.opts.lock().map(|o| o.reuse).unwrap_or(0);
            for (bit, name) in [(INP_REUSEADDR, SO_REUSEADDR), (INP_REUSEPORT, SO_REUSEPORT)] {
                if reuse & bit != 0 {
                    s.setsockopt(SOL_SOCKET, name, &1i32.to_le_bytes())?;
                }
            }
            if let Err(e) = s.bind(&sin(laddr, port)) {
                s.close();
                return Err(e);
            }
            self.v4 = Some(s);
        }
        self.v4.as_mut().ok_or(Errno::EDOOFUS)
    }

    /// The IPv4 half for a mapped destination: `EINVAL` on an IPv6-only
    /// socket; an unbound socket is first given a port on both halves.
    fn v4_for_peer(&mut self) -> Result<&mut UdpSocket, Errno> {
        if self.v6only {
            return Err(Errno::EINVAL);
        }
        if self.v4.is_none() {
            let ep = self.ep()?;
            let port = if ep.lport == 0 {
                pcb_bind(&self.pcb, None, 0)?
            } else {
                ep.lport
            };
            let l = ep
                .laddr
                .and_then(|a| mapped(&a))
                .unwrap_or(Ipv4Addr::UNSPECIFIED);
            if let Err(e) = self.v4_half(l, port) {
                if ep.lport == 0 {
                    self.unbind();
                }
                return Err(e);
            }
        }
        self.v4.as_mut().ok_or(Errno::EDOOFUS)
    }

    /// Undo a bind to `port`.
    fn unbind(&self) {
        vnet_inet6().udb6.remove(&self.pcb);
        if let Ok(mut e) = self.pcb.ep.lock() {
            *e = Ep::default();
        }
    }
    /// The socket's `IPV6_MULTICAST_IF` (0: none).
    fn mcast_ifindex(&self) -> u32 {
        self.pcb
            .moptions
            .lock()
            .ok()
            .and_then(|g| g.as_ref().map(|o| o.ifindex))
            .unwrap_or(0)
    }
    fn ep(&self) -> Result<Ep, Errno> {
        self.pcb.ep.lock().map(|e| *e).map_err(|_| Errno::EDOOFUS)
    }
}

impl ProtoSocket for Udp6Socket {
    fn bind(&mut self, addr: &[u8]) -> Result<(), Errno> {
        let sa = SockaddrIn6::from_bytes(addr)?;
        if self.ep()?.lport != 0 {
            return Err(Errno::EINVAL);
        }
        if let (Some(a4), false) = (mapped(&sa.addr), self.v6only) {
            // `udp6_bind` of an IPv4-mapped address: an IPv4 binding only.
            let port = self.v4_half(a4, sa.port)?.sockname_port();
            let mut e = self.pcb.ep.lock().map_err(|_| Errno::EDOOFUS)?;
            e.laddr = Some(sa.addr);
            e.lport = port;
            return Ok(());
        }
        let laddr = (!sa.addr.is_unspecified()).then_some(sa.addr);
        if let Some(a) = laddr {
            if !a.is_multicast() {
                let scope = if in6_is_scoped(&a) { sa.scope_id } else { 0 };
                match in6_ifawithaddr(&a, scope) {
                    Some((_, ia)) if ia.ready() => {}
                    _ => return Err(Errno::EADDRNOTAVAIL),
                }
            }
        }
        let port = pcb_bind(&self.pcb, laddr, sa.port)?;
        if laddr.is_none() && !self.v6only {
            // The IPv6 wildcard open to IPv4 holds the port for IPv4 too.
            if let Err(e) = self.v4_half(Ipv4Addr::UNSPECIFIED, port) {
                self.unbind();
                return Err(e);
            }
        }
        Ok(())
    }

    fn connect(&mut self, addr: &[u8]) -> Result<(), Errno> {
        let sa = SockaddrIn6::from_bytes(addr)?;
        if sa.addr.is_unspecified() || sa.port == 0 {
            return Err(Errno::EADDRNOTAVAIL);
        }
        if let Some(f4) = mapped(&sa.addr) {
            // `udp6_connect` to an IPv4-mapped peer: over IPv4.
            let v4 = self.v4_for_peer()?;
            v4.connect(&sin(f4, sa.port))?;
            let l4 = v4.sockname_addr();
            {
                let mut e = self.pcb.ep.lock().map_err(|_| Errno::EDOOFUS)?;
                e.laddr = Some(l4.to_ipv6_mapped());
                e.faddr = Some((sa.addr, 0));
                e.fport = sa.port;
            }
            // A connected socket no longer holds its port against a new
            // SO_REUSEADDR binding of the wildcard.
            vnet_inet6().udb6.sync(&self.pcb);
            return Ok(());
        }
        // A group without a zone: the one IPV6_MULTICAST_IF names.
        let mif = self.mcast_ifindex();
        let zone = if sa.addr.is_multicast() && sa.scope_id == 0 && mif != 0 {
            mif
        } else {
            zone_of(&sa)?
        };
        let ep = self.ep()?;
        let src = match ep.laddr {
            Some(l) => l,
            None => select_source(&sa.addr, zone)?,
        };
        if ep.lport == 0 {
            pcb_bind(&self.pcb, None, 0)?;
        }
        {
            let mut e = self.pcb.ep.lock().map_err(|_| Errno::EDOOFUS)?;
            e.laddr = Some(src);
            e.faddr = Some((sa.addr, zone));
            e.fport = sa.port;
        }
        vnet_inet6().udb6.sync(&self.pcb);
        Ok(())
    }

    fn sendto(&mut self, data: &[u8], addr: Option<&[u8]>, flags: i32) -> Result<usize, Errno> {
        let st = vnet_inet6();
        let ep = self.ep()?;
        let to4 = match (addr, ep.faddr) {
            (Some(a), None) => {
                let sa = SockaddrIn6::from_bytes(a)?;
                mapped(&sa.addr).map(|a4| Some(sin(a4, sa.port)))
            }
            (None, Some((f, _))) => mapped(&f).map(|_| None),
            _ => None,
        };
        if let Some(to) = to4 {
            return self.v4_for_peer()?.sendto(data, to.as_deref(), flags);
        }
        let (dst, zone, dport) = match (addr, ep.faddr) {
            (Some(_), Some(_)) => return Err(Errno::EISCONN),
            (Some(a), None) => {
                let sa = SockaddrIn6::from_bytes(a)?;
                // A group without a zone leaves by IPV6_MULTICAST_IF.
                let mif = self.mcast_ifindex();
                let z = if sa.addr.is_multicast() && sa.scope_id == 0 && mif != 0 {
                    mif
                } else {
                    zone_of(&sa)?
                };
                (sa.addr, z, sa.port)
            }
            (None, Some((f, z))) => (f, z, ep.fport),
            (None, None) => return Err(Errno::EDESTADDRREQ),
        };
        if dst.is_unspecified() || dport == 0 {
            return Err(Errno::EADDRNOTAVAIL);
        }
        if data.len() + UDP_HDR_LEN > IPV6_MAXPACKET {
            return Err(Errno::EMSGSIZE);
        }
        let src = match ep.laddr {
            Some(l) if !l.is_multicast() => l,
            _ => select_source(&dst, zone)?,
        };
        let sport = if ep.lport == 0 {
            pcb_bind(&self.pcb, ep.laddr, 0)?
        } else {
            ep.lport
        };
        let o = *self.pcb.opts.lock().map_err(|_| Errno::EDOOFUS)?;
        let hlim = if dst.is_multicast() {
            if o.mhlim < 0 {
                1
            } else {
                o.mhlim as u8
            }
        } else if o.hlim < 0 {
            st.defhlim()
        } else {
            o.hlim as u8
        };
        let mut u = Vec::with_capacity(UDP_HDR_LEN + data.len());
        u.extend_from_slice(&sport.to_be_bytes());
        u.extend_from_slice(&dport.to_be_bytes());
        u.extend_from_slice(&((UDP_HDR_LEN + data.len()) as u16).to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend_from_slice(data);
        let ph = PseudoHdr::V6 { src, dst };
        let c = match ph.checksum(PROTO_UDP, &u) {
            // A zero sum goes out as all ones (RFC 8200 8.1).
            0 => 0xffff,
            c => c,
        };
        u[6..8].copy_from_slice(&c.to_be_bytes());
        let pkt = ip6_build(src, dst, PROTO_UDP, hlim, &u);
        let mloop = self
            .pcb
            .moptions
            .lock()
            .map(|g| g.as_ref().is_none_or(|o| o.loop_))
            .unwrap_or(true);
        ip6_output_mloop(
            pkt,
            &Ip6OutOpts {
                scope: zone,
                dontfrag: false,
            },
            mloop,
        )?;
        Ok(data.len())
    }

    fn sockname(&self) -> Result<Vec<u8>, Errno> {
        let ep = self.ep()?;
        let a = ep.laddr.unwrap_or(Ipv6Addr::UNSPECIFIED);
        let scope = match (ep.faddr, in6_is_scoped(&a)) {
            (Some((_, z)), true) => z,
            (None, true) => in6_ifawithaddr(&a, 0)
                .map(|(i, _)| i.index.load(Ordering::Relaxed))
                .unwrap_or(0),
            _ => 0,
        };
        let mut sa = SockaddrIn6::new(a, scope);
        sa.port = ep.lport;
        Ok(sa.to_bytes().to_vec())
    }

    fn peername(&self) -> Result<Vec<u8>, Errno> {
        let ep = self.ep()?;
        let (a, zone) = ep.faddr.ok_or(Errno::ENOTCONN)?;
        let mut sa = SockaddrIn6::new(a, zone);
        sa.port = ep.fport;
        Ok(sa.to_bytes().to_vec())
    }

    fn setsockopt(&mut self, level: i32, name: i32, val: &[u8]) -> Result<(), Errno> {
        if level == IPPROTO_IPV6 && is_mcast6_opt(name) {
            let mut g = self.pcb.moptions.lock().map_err(|_| Errno::EDOOFUS)?;
            return ip6_setmoptions(&mut g, name, val);
        }
        if level == IPPROTO_IPV6 && name == IPV6_MULTICAST_HOPS {
            // The hop limit is one of the multicast options: setting it
            // gives the socket its `ip6_moptions` (and their filter).
            if let Ok(mut g) = self.pcb.moptions.lock() {
                g.get_or_insert_with(Ip6Moptions::default);
            }
        }
        let mut o = self.pcb.opts.lock().map_err(|_| Errno::EDOOFUS)?;
        match (level, name) {
            (SOL_SOCKET, SO_REUSEADDR) | (SOL_SOCKET, SO_REUSEPORT) => {
                let bit = if name == SO_REUSEADDR {
                    INP_REUSEADDR
                } else {
                    INP_REUSEPORT
                };
                if int_opt(val)? != 0 {
                    o.reuse |= bit;
                } else {
                    o.reuse &= !bit;
                }
                drop(o);
                if let Some(v4) = self.v4.as_mut() {
                    v4.setsockopt(level, name, val)?;
                }
                return Ok(());
            }
            (IPPROTO_IPV6, IPV6_UNICAST_HOPS) | (IPPROTO_IPV6, IPV6_MULTICAST_HOPS) => {
                let v = int_opt(val)?;
                if !(-1..=255).contains(&v) {
                    return Err(Errno::EINVAL);
                }
                if name == IPV6_UNICAST_HOPS {
                    o.hlim = v;
                } else {
                    o.mhlim = v;
                }
            }
            (IPPROTO_IPV6, IPV6_RECVHOPLIMIT) => o.recvhoplimit = int_opt(val)? != 0,
            (IPPROTO_IPV6, IPV6_RECVPKTINFO) => o.recvpktinfo = int_opt(val)? != 0,
            (IPPROTO_IPV6, IPV6_V6ONLY) => {
                // Only before the socket has a port (`ip6_ctloutput`).
                let v = int_opt(val)?;
                if self.pcb.ep.lock().map_err(|_| Errno::EDOOFUS)?.lport != 0 {
                    return Err(Errno::EINVAL);
                }
                self.v6only = v != 0;
                self.pcb.v4_too.store(v == 0, Ordering::Relaxed);
            }
            _ => return Err(Errno::ENOPROTOOPT),
        }
        Ok(())
    }

    fn getsockopt(&mut self, level: i32, name: i32) -> Result<Vec<u8>, Errno> {
        if level == IPPROTO_IPV6 && is_mcast6_opt(name) {
            let g = self.pcb.moptions.lock().map_err(|_| Errno::EDOOFUS)?;
            return ip6_getmoptions(&g, name);
        }
        let o = *self.pcb.opts.lock().map_err(|_| Errno::EDOOFUS)?;
        let v = match (level, name) {
            (IPPROTO_IPV6, IPV6_UNICAST_HOPS) => {
                if o.hlim < 0 {
                    i32::from(vnet_inet6().defhlim())
                } else {
                    o.hlim
                }
            }
            (IPPROTO_IPV6, IPV6_MULTICAST_HOPS) => o.mhlim.max(1),
            (IPPROTO_IPV6, IPV6_RECVHOPLIMIT) => i32::from(o.recvhoplimit),
            (IPPROTO_IPV6, IPV6_RECVPKTINFO) => i32::from(o.recvpktinfo),
            (IPPROTO_IPV6, IPV6_V6ONLY) => i32::from(self.v6only),
            _ => return Err(Errno::ENOPROTOOPT),
        };
        Ok(v.to_le_bytes().to_vec())
    }

    fn close(&mut self) {
        if let Ok(mut g) = self.pcb.moptions.lock() {
            if let Some(o) = g.as_mut() {
                o.leave_all();
            }
        }
        self.pcb.sb.cantrcvmore();
        if let Some(mut v4) = self.v4.take() {
            v4.close();
        }
        if let Some(st) = try_vnet_inet6() {
            st.udb6.remove(&self.pcb);
        }
    }

    fn rcvbuf(&self) -> Option<Arc<SockBuf>> {
        Some(self.pcb.sb.clone())
    }
}

/// `udp6_input`: the checked datagram at `off` of the packet; true if a socket
/// took it (to a multicast group: every matching one).
pub fn udp6_deliver(inp: &Ip6In<'_>, off: usize) -> bool {
    let Some(st) = try_vnet_inet6() else {
        return false;
    };
    let Some(d) = inp.pkt.get(off..).filter(|d| d.len() >= UDP_HDR_LEN) else {
        return false;
    };
    let sport = u16::from_be_bytes([d[0], d[1]]);
    let dport = u16::from_be_bytes([d[2], d[3]]);
    let (dst, src) = (IpAddr::V6(inp.dst), IpAddr::V6(inp.src));
    // A multicast datagram goes to every socket that accepts it, anything
    // else to the best match (connected, then bound address, then wildcard).
    let socks = if inp.dst.is_multicast() {
        st.udb6.info.lookup_all(dst, dport, src, sport)
    } else {
        st.udb6
            .info
            .lookup(dst, dport, src, sport)
            .into_iter()
            .collect()
    };
    if socks.is_empty() {
        return false;
    }
    let scope = if in6_is_scoped(&inp.src) { inp.zone } else { 0 };
    for p in socks {
        // With multicast options, a group datagram only if the socket
        // joined it on the arrival interface (`im6o_mc_filter`).
        if inp.dst.is_multicast()
            && p.moptions
                .lock()
                .ok()
                .is_some_and(|g| g.as_ref().is_some_and(|o| !o.is_member(&inp.dst, inp.ifp)))
        {
            continue;
        }
        let Ok(o) = p.opts.lock().map(|g| *g) else {
            continue;
        };
        let mut from = SockaddrIn6::new(inp.src, scope);
        from.port = sport;
        let info = Ip6RecvInfo {
            from: Some(from),
            hoplimit: o.recvhoplimit.then_some(i32::from(inp.hlim)),
            pktinfo: o
                .recvpktinfo
                .then(|| (inp.dst, inp.ifp.index.load(Ordering::Relaxed))),
        };
        let _ = p.sb.append(d[UDP_HDR_LEN..].to_vec(), info.to_bytes());
    }
    true
}

/// UDP input after the IP layer: length and (mandatory) checksum checks, then
/// a socket, or port unreachable.
pub fn udp6_input(inp: &Ip6In<'_>, off: usize) {
    let d = &inp.pkt[off.min(inp.pkt.len())..];
    if d.len() < UDP_HDR_LEN {
        return;
    }
    let ulen = usize::from(u16::from_be_bytes([d[4], d[5]]));
    if ulen != d.len() || d[6..8] == [0, 0] {
        return;
    }
    let ph = PseudoHdr::V6 {
        src: inp.src,
        dst: inp.dst,
    };
    if !ph.verify(PROTO_UDP, d) {
        return;
    }
    if udp6_deliver(inp, off) {
        return;
    }
    if !inp.dst.is_multicast() {
        icmp6_error(
            inp.ifp,
            inp.zone,
            inp.pkt,
            ICMP6_DST_UNREACH,
            ICMP6_DST_UNREACH_NOPORT,
            0,
        );
    }
}
