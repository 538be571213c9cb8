//! IPv4 ABI (netinet/in.h, netinet/in_var.h, net/if_arp.h, netinet/*_var.h):
//! `struct sockaddr_in`, `struct in_aliasreq`, the address ioctls, IPv4 socket
//! options, and the records the IPv4 sysctls return (`arp -a`, `netstat -a`,
//! `netstat -s`).
//!
//! Fixed C structs travel as their FreeBSD byte images (network byte order inside a
//! `sockaddr_in`); variable-length sysctl records use [`crate::wire`].

use std::net::Ipv4Addr;

use crate::ioccom::{iow, iowr};
use crate::net_if::{AF_INET, IFREQ_SIZE};
use crate::wire::{get_cstr, put_cstr, Reader, Writer};
use crate::{Errno, IFNAMSIZ};

/// `PF_INET` as `socket(2)` takes it.
pub const PF_INET: i32 = AF_INET as i32;
/// `SOCK_STREAM`.
pub const SOCK_STREAM: i32 = 1;
/// `SOCK_DGRAM`.
pub const SOCK_DGRAM: i32 = 2;
/// `SOCK_RAW`.
pub const SOCK_RAW: i32 = 3;

/// `IPPROTO_IP`: dummy protocol, and the socket-option level of IP.
pub const IPPROTO_IP: i32 = 0;
/// `IPPROTO_ICMP`.
pub const IPPROTO_ICMP: i32 = 1;
/// `IPPROTO_TCP`.
pub const IPPROTO_TCP: i32 = 6;
/// `IPPROTO_UDP`.
pub const IPPROTO_UDP: i32 = 17;
/// `IPPROTO_RAW`: raw IP packets (implies `IP_HDRINCL`).
pub const IPPROTO_RAW: i32 = 255;

/// `IP_OPTIONS` (level `IPPROTO_IP`).
pub const IP_OPTIONS: i32 = 1;
/// `IP_HDRINCL`: the caller supplies the IP header (int).
pub const IP_HDRINCL: i32 = 2;
/// `IP_TOS`: type of service of sent packets (int).
pub const IP_TOS: i32 = 3;
/// `IP_TTL`: time to live of sent packets (int).
pub const IP_TTL: i32 = 4;
/// `IP_RECVDSTADDR`.
pub const IP_RECVDSTADDR: i32 = 7;
/// `IP_MULTICAST_TTL`.
pub const IP_MULTICAST_TTL: i32 = 10;
/// `IP_PORTRANGE`.
pub const IP_PORTRANGE: i32 = 19;
/// `IP_MULTICAST_IF`: the interface multicast datagrams leave by (a
/// `struct in_addr` naming one of its addresses, or a [`IpMreq`] image of
/// `struct ip_mreqn` with an interface index; `INADDR_ANY`: the route's).
pub const IP_MULTICAST_IF: i32 = 9;
/// `IP_MULTICAST_LOOP`: loop multicast datagrams back to local members
/// (`u_char` or `int`, default 1).
pub const IP_MULTICAST_LOOP: i32 = 11;
/// `IP_ADD_MEMBERSHIP`: join a group on an interface (a [`IpMreq`]).
pub const IP_ADD_MEMBERSHIP: i32 = 12;
/// `IP_DROP_MEMBERSHIP`: leave a group (a [`IpMreq`]).
pub const IP_DROP_MEMBERSHIP: i32 = 13;
/// `IP_RECVIF`: hand back the receiving interface (`struct sockaddr_dl`
/// control record, see [`InRecvInfo`]).
pub const IP_RECVIF: i32 = 20;
/// `IP_DEFAULT_MULTICAST_TTL`: the TTL of multicast datagrams unless set.
pub const IP_DEFAULT_MULTICAST_TTL: u8 = 1;
/// `IP_MAX_MEMBERSHIPS`: groups one socket may join (FreeBSD's 4095).
pub const IP_MAX_MEMBERSHIPS: usize = 4095;
/// `sizeof(struct ip_mreq)`.
pub const IP_MREQ_SIZE: usize = 8;
/// `sizeof(struct ip_mreqn)`.
pub const IP_MREQN_SIZE: usize = 12;

/// `struct ip_mreq` (`imr_multiaddr`, `imr_interface`) or, 12 bytes long,
/// `struct ip_mreqn` (`imr_multiaddr`, `imr_address`, `imr_ifindex`), as
/// FreeBSD's `in_mcast.c` takes both: the interface is named by index when
/// one is given, else by one of its addresses (`INADDR_ANY`: the route to
/// the group's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpMreq {
    /// `imr_multiaddr`: the group.
    pub multiaddr: Ipv4Addr,
    /// `imr_interface` / `imr_address`: an address of the interface.
    pub interface: Ipv4Addr,
    /// `imr_ifindex` of an `ip_mreqn` (`None`: an `ip_mreq`).
    pub ifindex: Option<u32>,
}

impl IpMreq {
    /// An `ip_mreq` for `group` on the interface with address `ifaddr`.
    pub fn new(group: Ipv4Addr, ifaddr: Ipv4Addr) -> Self {
        IpMreq {
            multiaddr: group,
            interface: ifaddr,
            ifindex: None,
        }
    }
    /// The 8-byte (`ip_mreq`) or 12-byte (`ip_mreqn`) image; addresses in
    /// network order, the index little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(IP_MREQN_SIZE);
        b.extend_from_slice(&self.multiaddr.octets());
        b.extend_from_slice(&self.interface.octets());
        if let Some(i) = self.ifindex {
            b.extend_from_slice(&i.to_le_bytes());
        }
        b
    }
    /// Decode an option value: 8 bytes are an `ip_mreq`, 12 an `ip_mreqn`;
    /// any other size is `EINVAL` (`sooptcopyin`'s minimum, and nothing
    /// longer is a known structure).
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        let a = |o: usize| Ipv4Addr::new(b[o], b[o + 1], b[o + 2], b[o + 3]);
        match b.len() {
            IP_MREQ_SIZE => Ok(IpMreq::new(a(0), a(4))),
            IP_MREQN_SIZE => Ok(IpMreq {
                multiaddr: a(0),
                interface: a(4),
                ifindex: Some(u32::from_le_bytes([b[8], b[9], b[10], b[11]])),
            }),
            _ => Err(Errno::EINVAL),
        }
    }
}

/// The source address a datagram socket's `recvfrom` reports, followed by the
/// control data `recvmsg` would return with it when `IP_RECVDSTADDR` and
/// `IP_RECVIF` ask for it: the `sockaddr_in` image, then records of (level
/// `i32`, type `i32`, length `u32`, data) as [`crate::netinet6_in6::Ip6RecvInfo`]'s.
/// `IP_RECVDSTADDR` carries the 4-byte destination address, `IP_RECVIF`
/// the receiving interface's index (`u32`; FreeBSD's `sockaddr_dl` reduced
/// to its `sdl_index`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InRecvInfo {
    /// Where the datagram came from.
    pub from: Option<SockaddrIn>,
    /// `IP_RECVDSTADDR`: the address it was sent to (a group for multicast).
    pub dstaddr: Option<Ipv4Addr>,
    /// `IP_RECVIF`: the index of the interface it arrived on.
    pub ifindex: Option<u32>,
}

impl InRecvInfo {
    /// Encode.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        if let Some(f) = &self.from {
            w.raw(&f.to_bytes());
        }
        if let Some(a) = self.dstaddr {
            w.i32(IPPROTO_IP)
                .i32(IP_RECVDSTADDR)
                .u32(4)
                .raw(&a.octets());
        }
        if let Some(i) = self.ifindex {
            w.i32(IPPROTO_IP).i32(IP_RECVIF).u32(4).u32(i);
        }
        w.finish()
    }
    /// Decode; unknown control records are skipped.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        let mut info = InRecvInfo::default();
        if b.is_empty() {
            return Ok(info);
        }
        info.from = Some(SockaddrIn::from_bytes(b)?);
        let mut r = Reader::new(&b[SOCKADDR_IN_SIZE..]);
        while r.remaining() > 0 {
            let level = r.i32()?;
            let ty = r.i32()?;
            let n = r.u32()? as usize;
            let d = r.take(n)?;
            match (level, ty) {
                (IPPROTO_IP, IP_RECVDSTADDR) if n == 4 => {
                    info.dstaddr = Some(Ipv4Addr::new(d[0], d[1], d[2], d[3]));
                }
                (IPPROTO_IP, IP_RECVIF) if n == 4 => {
                    info.ifindex = Some(u32::from_le_bytes([d[0], d[1], d[2], d[3]]));
                }
                _ => {}
            }
        }
        Ok(info)
    }
}

/// `SO_REUSEADDR` (level `SOL_SOCKET`).
pub const SO_REUSEADDR: i32 = 0x4;
/// `SO_BROADCAST`: permit sending broadcasts.
pub const SO_BROADCAST: i32 = 0x20;
/// `SO_REUSEPORT`.
pub const SO_REUSEPORT: i32 = 0x200;
/// `SO_SNDBUF`.
pub const SO_SNDBUF: i32 = 0x1001;
/// `SO_RCVBUF`.
pub const SO_RCVBUF: i32 = 0x1002;

/// `INADDR_LOOPBACK`.
pub const INADDR_LOOPBACK: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

/// Size of `struct sockaddr_in`.
pub const SOCKADDR_IN_SIZE: usize = 16;

/// `struct sockaddr_in`: `sin_len`, `sin_family`, the port and address in network
/// byte order, eight zero bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SockaddrIn {
    /// Port (host order here; network order in the image).
    pub port: u16,
    /// Address.
    pub addr: Ipv4Addr,
}

impl SockaddrIn {
    /// `addr:port`.
    pub fn new(addr: Ipv4Addr, port: u16) -> Self {
        SockaddrIn { port, addr }
    }
    /// The 16-byte image.
    pub fn to_bytes(&self) -> [u8; SOCKADDR_IN_SIZE] {
        let mut b = [0u8; SOCKADDR_IN_SIZE];
        b[0] = SOCKADDR_IN_SIZE as u8;
        b[1] = AF_INET;
        b[2..4].copy_from_slice(&self.port.to_be_bytes());
        b[4..8].copy_from_slice(&self.addr.octets());
        b
    }
    /// Decode an image as `bind`/`connect`/`sendto` take it: `EINVAL` when shorter
    /// than 16 bytes, `EAFNOSUPPORT` for another family.  `sin_len` is not
    /// trusted (FreeBSD overwrites it with the length passed).
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        if b.len() < SOCKADDR_IN_SIZE {
            return Err(Errno::EINVAL);
        }
        if b[1] != AF_INET {
            return Err(Errno::EAFNOSUPPORT);
        }
        Ok(SockaddrIn {
            port: u16::from_be_bytes([b[2], b[3]]),
            addr: Ipv4Addr::new(b[4], b[5], b[6], b[7]),
        })
    }
    /// Decode an address-only field of an ioctl struct: a zero `sin_family` /
    /// `sin_len` means "no address" (`None`); another family is `EAFNOSUPPORT`.
    pub fn field(b: &[u8]) -> Result<Option<Ipv4Addr>, Errno> {
        if b.len() < SOCKADDR_IN_SIZE {
            return Err(Errno::EINVAL);
        }
        if b[0] == 0 && b[1] == 0 {
            return Ok(None);
        }
        if b[1] != AF_INET {
            return Err(Errno::EAFNOSUPPORT);
        }
        Ok(Some(Ipv4Addr::new(b[4], b[5], b[6], b[7])))
    }
}

/// Size of `struct in_aliasreq`: a name and three `sockaddr_in`.
pub const IN_ALIASREQ_SIZE: usize = IFNAMSIZ + 3 * SOCKADDR_IN_SIZE;

/// `SIOCDIFADDR`: delete an interface address (`struct ifreq`, address in the union;
/// an empty address deletes the interface's first IPv4 address).
pub const SIOCDIFADDR: u32 = iow(b'i', 25, IFREQ_SIZE);
/// `SIOCAIFADDR`: add or change an interface address (`struct in_aliasreq`).
pub const SIOCAIFADDR: u32 = iow(b'i', 26, IN_ALIASREQ_SIZE);
/// `SIOCGIFADDR`: the interface's first IPv4 address.
pub const SIOCGIFADDR: u32 = iowr(b'i', 33, IFREQ_SIZE);
/// `SIOCGIFBRDADDR`: its broadcast address.
pub const SIOCGIFBRDADDR: u32 = iowr(b'i', 35, IFREQ_SIZE);
/// `SIOCGIFNETMASK`: its netmask.
pub const SIOCGIFNETMASK: u32 = iowr(b'i', 37, IFREQ_SIZE);

/// `struct in_aliasreq`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InAliasReq {
    /// Interface name.
    pub name: String,
    /// The address (`ifra_addr`).
    pub addr: Option<Ipv4Addr>,
    /// Broadcast or point-to-point destination (`ifra_broadaddr`).
    pub broadaddr: Option<Ipv4Addr>,
    /// Netmask (`ifra_mask`); `None` lets the kernel pick the classful mask.
    pub mask: Option<Ipv4Addr>,
}

impl InAliasReq {
    /// The 64-byte image.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Errno> {
        let mut b = vec![0u8; IN_ALIASREQ_SIZE];
        put_cstr(&mut b[..IFNAMSIZ], &self.name)?;
        for (i, a) in [self.addr, self.broadaddr, self.mask].iter().enumerate() {
            if let Some(a) = a {
                let at = IFNAMSIZ + i * SOCKADDR_IN_SIZE;
                b[at..at + SOCKADDR_IN_SIZE].copy_from_slice(&SockaddrIn::new(*a, 0).to_bytes());
            }
        }
        Ok(b)
    }
    /// Decode a 64-byte image (`EINVAL` on a wrong size or unterminated name).
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        if b.len() != IN_ALIASREQ_SIZE {
            return Err(Errno::EINVAL);
        }
        let f = |i: usize| SockaddrIn::field(&b[IFNAMSIZ + i * SOCKADDR_IN_SIZE..]);
        Ok(InAliasReq {
            name: get_cstr(&b[..IFNAMSIZ])?.to_string(),
            addr: f(0)?,
            broadaddr: f(1)?,
            mask: f(2)?,
        })
    }
}

/// `SIOCDARP` (vimage extension, the role FreeBSD 7 gives an `RTM_DELETE` of an
/// `RTF_LLINFO` route): delete the ARP entry for an address.  The parameter is a
/// [`SockaddrIn`] image of the address followed by an interface name (empty:
/// any interface).  `ENOENT` if there is no such entry.
pub const SIOCDARP: u32 = iow(b'i', 180, ARPREQ_SIZE);
/// Size of the `SIOCDARP` parameter.
pub const ARPREQ_SIZE: usize = SOCKADDR_IN_SIZE + IFNAMSIZ;

/// The `SIOCDARP` parameter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArpReq {
    /// Protocol address of the entry.
    pub addr: Option<Ipv4Addr>,
    /// Interface the entry must be on (empty: any).
    pub ifname: String,
}

impl ArpReq {
    /// The image.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Errno> {
        let mut b = vec![0u8; ARPREQ_SIZE];
        if let Some(a) = self.addr {
            b[..SOCKADDR_IN_SIZE].copy_from_slice(&SockaddrIn::new(a, 0).to_bytes());
        }
        put_cstr(&mut b[SOCKADDR_IN_SIZE..], &self.ifname)?;
        Ok(b)
    }
    /// Decode an image.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        if b.len() != ARPREQ_SIZE {
            return Err(Errno::EINVAL);
        }
        Ok(ArpReq {
            addr: SockaddrIn::field(b)?,
            ifname: get_cstr(&b[SOCKADDR_IN_SIZE..])?.to_string(),
        })
    }
}

/// `llinfo_arp` entry is complete (has a link-level address).
pub const ARPF_COMPLETE: u32 = 0x1;
/// The entry never expires (`-s` entries).
pub const ARPF_PERMANENT: u32 = 0x2;
/// Proxy entry (`pub`).
pub const ARPF_PUBLISHED: u32 = 0x4;

/// One ARP cache entry as `net.link.ether.inet.dump` reports it (`arp -a`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArpEntryInfo {
    /// Protocol address.
    pub addr: Ipv4Addr,
    /// Link-level address (empty while incomplete).
    pub lladdr: Vec<u8>,
    /// Interface index.
    pub ifindex: u32,
    /// Interface name.
    pub ifname: String,
    /// Interface type (`IFT_*`), for the `[ethernet]` / `[vlan]` tag.
    pub iftype: u8,
    /// Seconds left before the entry expires (0: expired; meaningless if permanent).
    pub expire: i64,
    /// `ARPF_*`.
    pub flags: u32,
}

impl ArpEntryInfo {
    /// Encode a list (the sysctl's opaque value): a count, then the records.
    pub fn encode_list(list: &[ArpEntryInfo]) -> Vec<u8> {
        let mut w = Writer::new();
        w.u32(list.len() as u32);
        for e in list {
            w.raw(&e.addr.octets())
                .bytes(&e.lladdr)
                .u32(e.ifindex)
                .str(&e.ifname)
                .u8(e.iftype)
                .i64(e.expire)
                .u32(e.flags);
        }
        w.finish()
    }
    /// Decode a list.
    pub fn decode_list(b: &[u8]) -> Result<Vec<ArpEntryInfo>, Errno> {
        let mut r = Reader::new(b);
        let n = r.u32()? as usize;
        let mut v = Vec::new();
        for _ in 0..n {
            let a = r.take(4)?;
            v.push(ArpEntryInfo {
                addr: Ipv4Addr::new(a[0], a[1], a[2], a[3]),
                lladdr: r.bytes()?.to_vec(),
                ifindex: r.u32()?,
                ifname: r.str()?.to_string(),
                iftype: r.u8()?,
                expire: r.i64()?,
                flags: r.u32()?,
            });
        }
        r.end()?;
        Ok(v)
    }
}

/// One IPv4 protocol control block as `net.inet.udp.pcblist` / `net.inet.raw.pcblist`
/// report it (`netstat -a`, `sockstat`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InPcbInfo {
    /// `IPPROTO_*` (17 for UDP; the raw socket's protocol for raw).
    pub proto: u8,
    /// Local address (0.0.0.0: wildcard).
    pub laddr: Ipv4Addr,
    /// Local port (0: none).
    pub lport: u16,
    /// Foreign address (0.0.0.0: not connected).
    pub faddr: Ipv4Addr,
    /// Foreign port.
    pub fport: u16,
    /// Bytes waiting in the receive buffer (`Recv-Q`).
    pub rcv_cc: u32,
    /// Bytes waiting to be sent (`Send-Q`).
    pub snd_cc: u32,
    /// TCP only: the connection's `t_state` (`TCPS_*`, 0 CLOSED .. 10
    /// TIME_WAIT).  Carried by the version 2 and 3 lists
    /// ([`InPcbInfo::encode_list_v2`]); `None` in a version 1 list.
    pub tcp_state: Option<u8>,
    /// An IPv6 block (`inp_vflag` `INP_IPV6`): its addresses, in place of
    /// `laddr`/`faddr`.  Carried by the version 3 list only
    /// ([`InPcbInfo::encode_list_v3`]).
    pub inet6: Option<Inet6Pcb>,
}

/// The IPv6 part of a listed block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inet6Pcb {
    /// Local address (`::`: wildcard).
    pub laddr: std::net::Ipv6Addr,
    /// Foreign address (`::`: not connected).
    pub faddr: std::net::Ipv6Addr,
    /// `INP_IPV4` as well: a socket that also takes IPv4 (`IPV6_V6ONLY`
    /// off), which netstat shows as `tcp46`/`udp46`.
    pub v4_too: bool,
}

/// First word of a version 2 `InPcbInfo` list (a version 1 list starts with
/// its record count, which can never be this large).
pub const INPCB_LIST_V2: u32 = 0xffff_0002;

/// First word of a version 3 `InPcbInfo` list (IPv6 blocks too).
pub const INPCB_LIST_V3: u32 = 0xffff_0003;

/// `tcp_state` on the wire for "no state" in a version 2 list.
const INPCB_NO_STATE: u8 = 0xff;

impl InPcbInfo {
    /// Write the fields common to both list versions.
    fn encode_common(w: &mut Writer, p: &InPcbInfo) {
        w.u8(p.proto)
            .raw(&p.laddr.octets())
            .u16(p.lport)
            .raw(&p.faddr.octets())
            .u16(p.fport)
            .u32(p.rcv_cc)
            .u32(p.snd_cc);
    }
    /// Encode a version 1 list (UDP, raw): a count, then the records
    /// (`tcp_state` is not carried).
    pub fn encode_list(list: &[InPcbInfo]) -> Vec<u8> {
        let mut w = Writer::new();
        w.u32(list.len() as u32);
        for p in list {
            Self::encode_common(&mut w, p);
        }
        w.finish()
    }
    /// Encode a version 2 list (TCP): [`INPCB_LIST_V2`], a count, then the
    /// records, each followed by one byte of `tcp_state` (0xff: none).
    pub fn encode_list_v2(list: &[InPcbInfo]) -> Vec<u8> {
        let mut w = Writer::new();
        w.u32(INPCB_LIST_V2).u32(list.len() as u32);
        for p in list {
            Self::encode_common(&mut w, p);
            w.u8(p.tcp_state.unwrap_or(INPCB_NO_STATE));
        }
        w.finish()
    }
    /// Encode a version 3 list: [`INPCB_LIST_V3`], a count, then the
    /// version 2 records, each followed by a `vflag` byte (1 `INP_IPV4`, 2
    /// `INP_IPV6`, 3 both) and, for IPv6, the local and foreign in6 addresses.
    pub fn encode_list_v3(list: &[InPcbInfo]) -> Vec<u8> {
        let mut w = Writer::new();
        w.u32(INPCB_LIST_V3).u32(list.len() as u32);
        for p in list {
            Self::encode_common(&mut w, p);
            w.u8(p.tcp_state.unwrap_or(INPCB_NO_STATE));
            match &p.inet6 {
                None => {
                    w.u8(1);
                }
                Some(a) => {
                    w.u8(if a.v4_too { 3 } else { 2 })
                        .raw(&a.laddr.octets())
                        .raw(&a.faddr.octets());
                }
            }
        }
        w.finish()
    }
    /// Decode a list of any version.
    pub fn decode_list(b: &[u8]) -> Result<Vec<InPcbInfo>, Errno> {
        let mut r = Reader::new(b);
        let first = r.u32()?;
        let v3 = first == INPCB_LIST_V3;
        let v2 = first == INPCB_LIST_V2 || v3;
        let n = if v2 { r.u32()? } else { first } as usize;
        let mut v = Vec::new();
        let addr = |r: &mut Reader<'_>| -> Result<Ipv4Addr, Errno> {
            let a = r.take(4)?;
            Ok(Ipv4Addr::new(a[0], a[1], a[2], a[3]))
        };
        for _ in 0..n {
            v.push(InPcbInfo {
                proto: r.u8()?,
                laddr: addr(&mut r)?,
                lport: r.u16()?,
                faddr: addr(&mut r)?,
                fport: r.u16()?,
                rcv_cc: r.u32()?,
                snd_cc: r.u32()?,
                tcp_state: None,
                inet6: None,
            });
            if v2 {
                let st = r.u8()?;
                if let Some(p) = v.last_mut() {
                    p.tcp_state = (st != INPCB_NO_STATE).then_some(st);
                }
            }
            if v3 {
                let vflag = r.u8()?;
                let inet6 = match vflag {
                    1 => None,
                    2 | 3 => {
                        let a6 = |r: &mut Reader<'_>| -> Result<std::net::Ipv6Addr, Errno> {
                            let b: [u8; 16] = r.take(16)?.try_into().map_err(|_| Errno::EINVAL)?;
                            Ok(std::net::Ipv6Addr::from(b))
                        };
                        Some(Inet6Pcb {
                            laddr: a6(&mut r)?,
                            faddr: a6(&mut r)?,
                            v4_too: vflag == 3,
                        })
                    }
                    _ => return Err(Errno::EINVAL),
                };
                if let Some(p) = v.last_mut() {
                    p.inet6 = inet6;
                }
            }
        }
        r.end()?;
        Ok(v)
    }
}

/// Protocol statistics (`net.inet.ip.stats`, `net.inet.icmp.stats`,
/// `net.inet.udp.stats`): named counters in the kernel's order.  The names are the
/// FreeBSD `struct ipstat` / `icmpstat` / `udpstat` field names (`ips_total`,
/// `icps_error`, `udps_noport`…); ICMP histograms are `icps_outhist.N` /
/// `icps_inhist.N` for type N.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProtoStats(pub Vec<(String, u64)>);

impl ProtoStats {
    /// The counter called `name`, if reported.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }
    /// Encode: a count, then (name, value) pairs.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u32(self.0.len() as u32);
        for (n, v) in &self.0 {
            w.str(n).u64(*v);
        }
        w.finish()
    }
    /// Decode.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        let mut r = Reader::new(b);
        let n = r.u32()? as usize;
        let mut v = Vec::new();
        for _ in 0..n {
            v.push((r.str()?.to_string(), r.u64()?));
        }
        r.end()?;
        Ok(ProtoStats(v))
    }
}

/// Contiguous netmask of prefix length `plen` (0..=32).
pub fn in_plen2mask(plen: u8) -> Ipv4Addr {
    let p = u32::from(plen.min(32));
    Ipv4Addr::from(if p == 0 { 0 } else { u32::MAX << (32 - p) })
}

/// Prefix length of a netmask, or `None` if its ones are not contiguous.
pub fn in_mask2plen(mask: Ipv4Addr) -> Option<u8> {
    let m = u32::from(mask);
    let plen = m.leading_ones();
    (m.checked_shl(plen).unwrap_or(0) == 0).then_some(plen as u8)
}

/// The classful netmask FreeBSD 7 gives an address configured without one
/// (`IN_CLASSA/B/C`).
pub fn in_classful_plen(a: Ipv4Addr) -> u8 {
    match a.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_in_image() {
        let s = SockaddrIn::new(Ipv4Addr::new(10, 0, 0, 20), 33434);
        let b = s.to_bytes();
        assert_eq!(b, [16, 2, 0x82, 0x9a, 10, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(SockaddrIn::from_bytes(&b).unwrap(), s);
        assert_eq!(SockaddrIn::from_bytes(&b[..15]), Err(Errno::EINVAL));
        let mut b6 = b;
        b6[1] = 28;
        assert_eq!(SockaddrIn::from_bytes(&b6), Err(Errno::EAFNOSUPPORT));
        assert_eq!(SockaddrIn::field(&[0; 16]), Ok(None));
    }

    /// `struct ip_mreq` and `ip_mreqn` as FreeBSD lays them out, and the
    /// receive information records.
    #[test]
    fn multicast_requests_and_recv_info() {
        assert_eq!(
            (IP_MULTICAST_IF, IP_MULTICAST_TTL, IP_MULTICAST_LOOP),
            (9, 10, 11)
        );
        assert_eq!(
            (IP_ADD_MEMBERSHIP, IP_DROP_MEMBERSHIP, IP_RECVIF),
            (12, 13, 20)
        );
        let m = IpMreq::new(Ipv4Addr::new(224, 0, 0, 9), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(m.to_bytes(), [224, 0, 0, 9, 10, 0, 0, 1]);
        assert_eq!(IpMreq::from_bytes(&m.to_bytes()), Ok(m));
        let n = IpMreq {
            ifindex: Some(3),
            ..m
        };
        assert_eq!(n.to_bytes().len(), IP_MREQN_SIZE);
        assert_eq!(IpMreq::from_bytes(&n.to_bytes()), Ok(n));
        for len in [0, 4, 7, 9, 11, 13, 16] {
            assert_eq!(IpMreq::from_bytes(&vec![0; len]), Err(Errno::EINVAL));
        }
        let i = InRecvInfo {
            from: Some(SockaddrIn::new(Ipv4Addr::new(10, 0, 0, 2), 520)),
            dstaddr: Some(Ipv4Addr::new(224, 0, 0, 9)),
            ifindex: Some(2),
        };
        let b = i.to_bytes();
        assert_eq!(b.len(), SOCKADDR_IN_SIZE + 2 * 16);
        assert_eq!(InRecvInfo::from_bytes(&b), Ok(i.clone()));
        // A plain address (no records) is what recvfrom always reported.
        let plain = InRecvInfo {
            dstaddr: None,
            ifindex: None,
            ..i
        };
        assert_eq!(plain.to_bytes(), i.from.unwrap().to_bytes());
        assert!(InRecvInfo::from_bytes(&b[..b.len() - 1]).is_err());
    }

    #[test]
    fn aliasreq_matches_freebsd_numbers() {
        // FreeBSD: SIOCAIFADDR = 0x8040691a, SIOCDIFADDR = 0x80206919.
        assert_eq!(SIOCAIFADDR, 0x8040_691a);
        assert_eq!(SIOCDIFADDR, 0x8020_6919);
        assert_eq!(SIOCGIFADDR, 0xc020_6921);
        let r = InAliasReq {
            name: "eth0".into(),
            addr: Some(Ipv4Addr::new(10, 0, 0, 20)),
            broadaddr: None,
            mask: Some(Ipv4Addr::new(255, 255, 255, 0)),
        };
        let b = r.to_bytes().unwrap();
        assert_eq!(b.len(), 64);
        assert_eq!(&b[16..20], &[16, 2, 0, 0]);
        assert_eq!(InAliasReq::from_bytes(&b).unwrap(), r);
        assert_eq!(InAliasReq::from_bytes(&b[1..]), Err(Errno::EINVAL));
        let a = ArpReq {
            addr: Some(Ipv4Addr::new(10, 0, 0, 1)),
            ifname: "eth0".into(),
        };
        assert_eq!(ArpReq::from_bytes(&a.to_bytes().unwrap()).unwrap(), a);
    }

    #[test]
    fn records_round_trip() {
        let e = ArpEntryInfo {
            addr: Ipv4Addr::new(10, 0, 0, 1),
            lladdr: vec![0x40, 0xa, 0xb, 0xc, 0xd, 1],
            ifindex: 2,
            ifname: "eth0".into(),
            iftype: 6,
            expire: 1199,
            flags: ARPF_COMPLETE,
        };
        let b = ArpEntryInfo::encode_list(std::slice::from_ref(&e));
        assert_eq!(ArpEntryInfo::decode_list(&b).unwrap(), vec![e]);
        assert!(ArpEntryInfo::decode_list(&b[..b.len() - 1]).is_err());
        let p = InPcbInfo {
            proto: 17,
            laddr: Ipv4Addr::UNSPECIFIED,
            lport: 520,
            faddr: Ipv4Addr::UNSPECIFIED,
            fport: 0,
            rcv_cc: 0,
            snd_cc: 0,
            tcp_state: None,
            inet6: None,
        };
        let b = InPcbInfo::encode_list(std::slice::from_ref(&p));
        assert_eq!(InPcbInfo::decode_list(&b).unwrap(), vec![p]);
        let s = ProtoStats(vec![("ips_total".into(), 3), ("ips_badsum".into(), 1)]);
        let b = s.to_bytes();
        assert_eq!(ProtoStats::from_bytes(&b).unwrap(), s);
        assert_eq!(s.get("ips_badsum"), Some(1));
        assert!(ProtoStats::from_bytes(&b[..5]).is_err());
    }

    #[test]
    fn inpcb_list_versions() {
        let udp = InPcbInfo {
            proto: 17,
            laddr: Ipv4Addr::new(127, 0, 0, 1),
            lport: 53,
            faddr: Ipv4Addr::UNSPECIFIED,
            fport: 0,
            rcv_cc: 12,
            snd_cc: 0,
            tcp_state: None,
            inet6: None,
        };
        // Version 1 is byte for byte what it was: count, then 21-byte records.
        let b1 = InPcbInfo::encode_list(std::slice::from_ref(&udp));
        assert_eq!(b1.len(), 4 + 21);
        assert_eq!(&b1[..4], &1u32.to_le_bytes());
        assert_eq!(InPcbInfo::decode_list(&b1).unwrap(), vec![udp.clone()]);
        // A state given to a version 1 list is not carried.
        let with_state = InPcbInfo {
            tcp_state: Some(4),
            ..udp.clone()
        };
        let b = InPcbInfo::encode_list(std::slice::from_ref(&with_state));
        assert_eq!(b, b1);
        // Version 2 carries the state, and "none".
        let tcp = vec![
            InPcbInfo {
                proto: 6,
                laddr: Ipv4Addr::new(10, 0, 0, 1),
                lport: 5001,
                faddr: Ipv4Addr::new(10, 0, 0, 2),
                fport: 49152,
                rcv_cc: 1,
                snd_cc: 2,
                tcp_state: Some(4),
                inet6: None,
            },
            InPcbInfo {
                proto: 6,
                laddr: Ipv4Addr::UNSPECIFIED,
                lport: 22,
                faddr: Ipv4Addr::UNSPECIFIED,
                fport: 0,
                rcv_cc: 0,
                snd_cc: 0,
                tcp_state: Some(0),
                inet6: None,
            },
            udp.clone(),
        ];
        let b2 = InPcbInfo::encode_list_v2(&tcp);
        assert_eq!(b2.len(), 8 + 3 * 22);
        assert_eq!(&b2[..4], &INPCB_LIST_V2.to_le_bytes());
        assert_eq!(InPcbInfo::decode_list(&b2).unwrap(), tcp);
        assert_eq!(
            InPcbInfo::decode_list(&InPcbInfo::encode_list_v2(&[])).unwrap(),
            vec![]
        );
        assert!(InPcbInfo::decode_list(&b2[..b2.len() - 1]).is_err());
        assert!(InPcbInfo::decode_list(&b2[..6]).is_err());
        // Version 3 adds IPv6 blocks (tcp6, tcp46) beside the IPv4 ones.
        let mut all = tcp.clone();
        all.push(InPcbInfo {
            proto: 6,
            laddr: Ipv4Addr::UNSPECIFIED,
            lport: 80,
            faddr: Ipv4Addr::UNSPECIFIED,
            fport: 0,
            rcv_cc: 0,
            snd_cc: 0,
            tcp_state: Some(1),
            inet6: Some(Inet6Pcb {
                laddr: std::net::Ipv6Addr::UNSPECIFIED,
                faddr: std::net::Ipv6Addr::UNSPECIFIED,
                v4_too: true,
            }),
        });
        all.push(InPcbInfo {
            inet6: Some(Inet6Pcb {
                laddr: "a::20".parse().unwrap(),
                faddr: "a::21".parse().unwrap(),
                v4_too: false,
            }),
            ..tcp[0].clone()
        });
        let b3 = InPcbInfo::encode_list_v3(&all);
        assert_eq!(b3.len(), 8 + 5 * 23 + 2 * 32);
        assert_eq!(InPcbInfo::decode_list(&b3).unwrap(), all);
        assert!(InPcbInfo::decode_list(&b3[..b3.len() - 1]).is_err());
        let mut bad = InPcbInfo::encode_list_v3(&tcp[..1]);
        let last = bad.len() - 1;
        bad[last] = 9;
        assert!(InPcbInfo::decode_list(&bad).is_err());
    }

    #[test]
    fn masks() {
        assert_eq!(in_plen2mask(24), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(in_plen2mask(0), Ipv4Addr::UNSPECIFIED);
        assert_eq!(in_plen2mask(32), Ipv4Addr::BROADCAST);
        assert_eq!(in_mask2plen(Ipv4Addr::new(255, 255, 240, 0)), Some(20));
        assert_eq!(in_mask2plen(Ipv4Addr::new(255, 0, 255, 0)), None);
        assert_eq!(in_mask2plen(Ipv4Addr::BROADCAST), Some(32));
        assert_eq!(in_classful_plen(Ipv4Addr::new(127, 0, 0, 1)), 8);
        assert_eq!(in_classful_plen(Ipv4Addr::new(192, 168, 1, 1)), 24);
    }
}
