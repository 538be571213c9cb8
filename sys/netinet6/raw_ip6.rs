//! Raw IPv6 sockets (FreeBSD's netinet6/raw_ip6.c) and the `AF_INET6` domain.
//!
//! `socket(AF_INET6, SOCK_RAW, proto)` receives a copy of every packet of
//! protocol `proto` (0: any) for this host — the upper-layer part, without the
//! IPv6 header — filtered by a bound local address, a connected peer and, for
//! ICMPv6, the `ICMP6_FILTER`.  It sends upper-layer data; the kernel adds the
//! IPv6 header (source chosen unless bound) and, for ICMPv6 always, for other
//! protocols with `IPV6_CHECKSUM`, the checksum.  `IPV6_RECVHOPLIMIT` and
//! `IPV6_RECVPKTINFO` add `recvmsg`-style control data after the source
//! address `recvfrom` reports ([`Ip6RecvInfo`]).
//!
//! `SOCK_DGRAM` sockets are UDP ([`super::udp6_usrreq`]); configuration
//! ioctls (ifconfig, ndp) go through them too.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use vimage_abi::netinet6_in6::*;
use vimage_abi::Errno;

use super::in6::{in6_ifawithaddr, in6_is_scoped, in6_route, in6_selectsrc, inc, vnet_inet6};
use super::ip6_input::Ip6In;
use super::ip6_output::{ip6_build, ip6_output, Ip6OutOpts, IPV6_MAXPACKET};
use crate::in_pcb::{InPcbInfo, InpEndpoints};
use crate::ip::{PseudoHdr, IPPROTO_ICMPV6 as PROTO_ICMPV6};
use vimage_kern::uipc_socket::{Domain, ProtoSocket, SockBuf};
use vimage_net::r#if::ifnet_byindex;

/// Options and addresses of one raw socket.
#[derive(Clone, Debug)]
struct Rip6Opts {
    laddr: Option<Ipv6Addr>,
    faddr: Option<(Ipv6Addr, u32)>,
    filter: Icmp6Filter,
    checksum: i32,
    hlim: i32,
    mhlim: i32,
    mcast_if: u32,
    recvhoplimit: bool,
    recvpktinfo: bool,
}

/// One raw IPv6 socket's protocol block (`struct inpcb` of a raw socket).
pub struct Rip6Pcb {
    /// Protocol it sends and receives (0: receives all).
    pub proto: u8,
    opts: Mutex<Rip6Opts>,
    /// What it has received.
    pub sb: Arc<SockBuf>,
    /// Its id in the vnet's [`Rip6List`].
    id: AtomicU64,
}

/// Where a raw socket of every protocol (0) is filed, beside the protocol
/// numbers that take the place of a port.
const RIP6_ANYPROTO: u16 = 0x100;

fn rip6_key(proto: u8) -> u16 {
    if proto == 0 {
        RIP6_ANYPROTO
    } else {
        u16::from(proto)
    }
}

/// The raw sockets of one vnet (`V_ripcb` for IPv6): the generic
/// [`InPcbInfo`] with the protocol in place of the port, as raw IPv4's.
#[derive(Default)]
pub struct Rip6List {
    info: InPcbInfo<Arc<Rip6Pcb>>,
}

impl Rip6List {
    fn add(&self, p: &Arc<Rip6Pcb>) {
        let ep = InpEndpoints {
            lport: rip6_key(p.proto),
            ..InpEndpoints::unbound(true)
        };
        let id = self.info.insert(ep, p.clone());
        p.id.store(id, Ordering::Relaxed);
    }
    /// Tell the table `p`'s addresses changed.
    fn sync(&self, p: &Rip6Pcb) {
        let Ok(o) = p.opts.lock().map(|g| (g.laddr, g.faddr)) else {
            return;
        };
        let any = Ipv6Addr::UNSPECIFIED;
        self.info.set_endpoints(
            p.id.load(Ordering::Relaxed),
            InpEndpoints {
                laddr: IpAddr::V6(o.0.unwrap_or(any)),
                lport: rip6_key(p.proto),
                faddr: IpAddr::V6(o.1.map(|f| f.0).unwrap_or(any)),
                fport: 0,
                zone: o.1.map(|f| f.1).unwrap_or(0),
            },
        );
    }
    fn remove(&self, p: &Rip6Pcb) {
        self.info.remove(p.id.load(Ordering::Relaxed));
    }
    /// The live sockets.
    pub fn list(&self) -> Vec<Arc<Rip6Pcb>> {
        self.info.list().into_iter().map(|(_, p)| p).collect()
    }
    /// The vnet goes away: every socket sees end of file.
    pub fn close_all(&self) {
        for p in self.info.drain() {
            p.sb.cantrcvmore();
        }
    }
}

/// `rip6_input`: give the raw sockets of protocol `proto` their copy of the
/// upper-layer part at `off` of the packet; returns how many took one.
pub fn rip6_input(inp: &Ip6In<'_>, off: usize, proto: u8) -> usize {
    let Some(st) = super::in6::try_vnet_inet6() else {
        return 0;
    };
    let data = &inp.pkt[off.min(inp.pkt.len())..];
    let mut n = 0;
    let (dst, src) = (IpAddr::V6(inp.dst), IpAddr::V6(inp.src));
    let socks = [rip6_key(proto), RIP6_ANYPROTO]
        .into_iter()
        .flat_map(|k| st.rip6.info.lookup_all(dst, k, src, 0));
    for p in socks {
        let Ok(o) = p.opts.lock().map(|g| g.clone()) else {
            continue;
        };
        if proto == PROTO_ICMPV6 {
            match data.first() {
                Some(&t) if o.filter.will_pass(t) => {}
                _ => continue,
            }
        }
        let scope = if in6_is_scoped(&inp.src) { inp.zone } else { 0 };
        let info = Ip6RecvInfo {
            from: Some(SockaddrIn6::new(inp.src, scope)),
            hoplimit: o.recvhoplimit.then_some(i32::from(inp.hlim)),
            pktinfo: o.recvpktinfo.then(|| {
                (
                    inp.dst,
                    inp.ifp.index.load(std::sync::atomic::Ordering::Relaxed),
                )
            }),
        };
        if p.sb.append(data.to_vec(), info.to_bytes()).is_ok() {
            n += 1;
        }
    }
    n
}

fn int_opt(val: &[u8]) -> Result<i32, Errno> {
    let b: [u8; 4] = val.try_into().map_err(|_| Errno::EINVAL)?;
    Ok(i32::from_le_bytes(b))
}

/// A raw IPv6 socket.
pub struct Rip6Socket {
    pcb: Arc<Rip6Pcb>,
}

impl Rip6Socket {
    fn opts(&self) -> Result<std::sync::MutexGuard<'_, Rip6Opts>, Errno> {
        self.pcb.opts.lock().map_err(|_| Errno::EDOOFUS)
    }

    /// The source for a packet to `dst` in zone `scope`.
    fn source(&self, dst: &Ipv6Addr, scope: u32) -> Result<Ipv6Addr, Errno> {
        if let Some(l) = self.opts()?.laddr {
            return Ok(l);
        }
        let rt = in6_route(dst, scope)?;
        let ifp = if dst.is_multicast() || rt.ifp.flags() & vimage_abi::net_if::IFF_LOOPBACK == 0 {
            rt.ifp
        } else {
            // To one of our own addresses: from it.
            return Ok(rt.ifa.unwrap_or(*dst));
        };
        in6_selectsrc(dst, &ifp)
    }

    /// The local address (`getsockname`): bound, or chosen by `connect`.
    pub fn local(&self) -> Result<SockaddrIn6, Errno> {
        let o = self.opts()?;
        let a = o.laddr.unwrap_or(Ipv6Addr::UNSPECIFIED);
        let scope = match (o.faddr, in6_is_scoped(&a)) {
            (Some((_, s)), true) => s,
            (None, true) => in6_ifawithaddr(&a, 0)
                .map(|(i, _)| i.index.load(std::sync::atomic::Ordering::Relaxed))
                .unwrap_or(0),
            _ => 0,
        };
        Ok(SockaddrIn6::new(a, scope))
    }
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

impl ProtoSocket for Rip6Socket {
    fn bind(&mut self, addr: &[u8]) -> Result<(), Errno> {
        let sa = SockaddrIn6::from_bytes(addr)?;
        if !sa.addr.is_unspecified() {
            let scope = if in6_is_scoped(&sa.addr) {
                sa.scope_id
            } else {
                0
            };
            match in6_ifawithaddr(&sa.addr, scope) {
                Some((_, ia)) if ia.flags & IN6_IFF_NOTREADY == 0 => {}
                _ => return Err(Errno::EADDRNOTAVAIL),
            }
        }
        self.opts()?.laddr = (!sa.addr.is_unspecified()).then_some(sa.addr);
        vnet_inet6().rip6.sync(&self.pcb);
        Ok(())
    }

    fn connect(&mut self, addr: &[u8]) -> Result<(), Errno> {
        let sa = SockaddrIn6::from_bytes(addr)?;
        if sa.addr.is_unspecified() {
            return Err(Errno::EADDRNOTAVAIL);
        }
        let zone = zone_of(&sa)?;
        let src = self.source(&sa.addr, zone)?;
        {
            let mut o = self.opts()?;
            o.laddr = Some(src);
            o.faddr = Some((sa.addr, zone));
        }
        vnet_inet6().rip6.sync(&self.pcb);
        Ok(())
    }

    fn sendto(&mut self, data: &[u8], addr: Option<&[u8]>, _flags: i32) -> Result<usize, Errno> {
        let st = vnet_inet6();
        let o = self.opts()?.clone();
        let (dst, zone) = match (addr, o.faddr) {
            (Some(_), Some(_)) => return Err(Errno::EISCONN),
            (Some(a), None) => {
                let sa = SockaddrIn6::from_bytes(a)?;
                let z = if sa.addr.is_multicast() && sa.scope_id == 0 && o.mcast_if != 0 {
                    o.mcast_if
                } else {
                    zone_of(&sa)?
                };
                (sa.addr, z)
            }
            (None, Some(f)) => f,
            (None, None) => return Err(Errno::EDESTADDRREQ),
        };
        if dst.is_unspecified() {
            return Err(Errno::EADDRNOTAVAIL);
        }
        if data.len() > IPV6_MAXPACKET {
            return Err(Errno::EMSGSIZE);
        }
        let src = self.source(&dst, zone)?;
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
        let mut body = data.to_vec();
        let cksum_at = if self.pcb.proto == PROTO_ICMPV6 {
            Some(2usize)
        } else if o.checksum >= 0 {
            Some(o.checksum as usize)
        } else {
            None
        };
        if let Some(at) = cksum_at {
            if at + 2 > body.len() {
                return Err(Errno::EINVAL);
            }
            body[at..at + 2].fill(0);
            let c = PseudoHdr::V6 { src, dst }.checksum(self.pcb.proto, &body);
            body[at..at + 2].copy_from_slice(&c.to_be_bytes());
        }
        if self.pcb.proto == PROTO_ICMPV6 {
            if let Some(&t) = body.first() {
                inc(&st.icmp6_outhist[usize::from(t)]);
            }
        }
        let pkt = ip6_build(src, dst, self.pcb.proto, hlim, &body);
        inc(&st.ip6stat.ip6s_rawout);
        ip6_output(
            pkt,
            &Ip6OutOpts {
                scope: zone,
                dontfrag: false,
            },
        )?;
        Ok(data.len())
    }

    fn setsockopt(&mut self, level: i32, name: i32, val: &[u8]) -> Result<(), Errno> {
        let icmp = self.pcb.proto == PROTO_ICMPV6;
        let mut o = self.opts()?;
        match (level, name) {
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
            (IPPROTO_IPV6, IPV6_MULTICAST_IF) => {
                let v = int_opt(val)? as u32;
                if v != 0 && ifnet_byindex(v).is_none() {
                    return Err(Errno::ENXIO);
                }
                o.mcast_if = v;
            }
            (IPPROTO_IPV6, IPV6_RECVHOPLIMIT) => o.recvhoplimit = int_opt(val)? != 0,
            (IPPROTO_IPV6, IPV6_RECVPKTINFO) => o.recvpktinfo = int_opt(val)? != 0,
            (IPPROTO_IPV6, IPV6_V6ONLY) => {
                // Always IPv6 only: no IPv4-mapped addresses here.
                if int_opt(val)? == 0 {
                    return Err(Errno::EOPNOTSUPP);
                }
            }
            (IPPROTO_IPV6, IPV6_CHECKSUM) => {
                // The ICMPv6 checksum is always the kernel's (RFC 3542 3.1).
                let v = int_opt(val)?;
                if icmp || v < -1 || (v > 0 && v % 2 == 1) {
                    return Err(Errno::EINVAL);
                }
                o.checksum = v;
            }
            (IPPROTO_ICMPV6, ICMP6_FILTER) => {
                if !icmp {
                    return Err(Errno::ENOPROTOOPT);
                }
                o.filter = Icmp6Filter::from_bytes(val)?;
            }
            _ => return Err(Errno::ENOPROTOOPT),
        }
        Ok(())
    }

    fn getsockopt(&mut self, level: i32, name: i32) -> Result<Vec<u8>, Errno> {
        let icmp = self.pcb.proto == PROTO_ICMPV6;
        let o = self.opts()?;
        let int = |v: i32| Ok(v.to_le_bytes().to_vec());
        match (level, name) {
            (IPPROTO_IPV6, IPV6_UNICAST_HOPS) => int(if o.hlim < 0 {
                i32::from(vnet_inet6().defhlim())
            } else {
                o.hlim
            }),
            (IPPROTO_IPV6, IPV6_MULTICAST_HOPS) => int(if o.mhlim < 0 { 1 } else { o.mhlim }),
            (IPPROTO_IPV6, IPV6_MULTICAST_IF) => int(o.mcast_if as i32),
            (IPPROTO_IPV6, IPV6_RECVHOPLIMIT) => int(i32::from(o.recvhoplimit)),
            (IPPROTO_IPV6, IPV6_RECVPKTINFO) => int(i32::from(o.recvpktinfo)),
            (IPPROTO_IPV6, IPV6_V6ONLY) => int(1),
            (IPPROTO_IPV6, IPV6_CHECKSUM) => int(if icmp { 2 } else { o.checksum }),
            (IPPROTO_ICMPV6, ICMP6_FILTER) if icmp => Ok(o.filter.to_bytes()),
            _ => Err(Errno::ENOPROTOOPT),
        }
    }

    fn sockname(&self) -> Result<Vec<u8>, Errno> {
        Ok(self.local()?.to_bytes().to_vec())
    }

    fn close(&mut self) {
        if let Some(st) = super::in6::try_vnet_inet6() {
            st.rip6.remove(&self.pcb);
        }
        self.pcb.sb.cantrcvmore();
    }

    fn rcvbuf(&self) -> Option<Arc<SockBuf>> {
        Some(self.pcb.sb.clone())
    }
}

/// The `AF_INET6` protocol family (`inet6domain`).
pub struct In6Domain;

impl Domain for In6Domain {
    fn family(&self) -> i32 {
        i32::from(AF_INET6)
    }
    fn control(&self, cmd: u32, data: &[u8]) -> Option<Result<Vec<u8>, Errno>> {
        vimage_abi::netinet6_in6::is_in6_ioctl(cmd).then(|| super::in6::in6_control(cmd, data))
    }
    fn attach(&self, ty: i32, proto: i32) -> Result<Box<dyn ProtoSocket>, Errno> {
        match ty {
            SOCK_DGRAM if proto == 0 || proto == IPPROTO_UDP => {
                super::in6::try_vnet_inet6().ok_or(Errno::EAFNOSUPPORT)?;
                Ok(Box::new(super::udp6_usrreq::Udp6Socket::attach()))
            }
            1 if proto == 0 || proto == 6 => {
                super::in6::try_vnet_inet6().ok_or(Errno::EAFNOSUPPORT)?;
                Ok(Box::new(crate::tcp_usrreq::TcpSocket::attach(true)?))
            }
            SOCK_RAW => {
                let proto = u8::try_from(proto).map_err(|_| Errno::EINVAL)?;
                let st = super::in6::try_vnet_inet6().ok_or(Errno::EAFNOSUPPORT)?;
                let pcb = Arc::new(Rip6Pcb {
                    proto,
                    opts: Mutex::new(Rip6Opts {
                        laddr: None,
                        faddr: None,
                        filter: Icmp6Filter::PASS_ALL,
                        checksum: -1,
                        hlim: -1,
                        mhlim: -1,
                        mcast_if: 0,
                        recvhoplimit: false,
                        recvpktinfo: false,
                    }),
                    sb: Arc::new(SockBuf::default()),
                    id: AtomicU64::new(0),
                });
                st.rip6.add(&pcb);
                Ok(Box::new(Rip6Socket { pcb }))
            }
            _ => Err(Errno::EPROTONOSUPPORT),
        }
    }
}
