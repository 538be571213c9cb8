//! IPv6 ABI (netinet/in.h, netinet6/in6.h, netinet6/in6_var.h, netinet6/nd6.h,
//! netinet/icmp6.h): `struct sockaddr_in6`, the address ioctls with their
//! `struct in6_aliasreq` / `struct in6_ifreq` images, `IN6_IFF_*`, socket options,
//! the control data a raw socket hands back with a datagram, and the records of
//! the `net.inet6.*` sysctls (neighbour cache, statistics).
//!
//! Struct images have FreeBSD's amd64 layout and sizes, so the ioctl numbers are
//! FreeBSD's; integers inside them are little-endian except the port, which is in
//! network order as on the wire.

use std::net::Ipv6Addr;

use crate::ioccom::{iow, iowr};
use crate::wire::{get_cstr, put_cstr, Reader, Writer};
use crate::{Errno, IFNAMSIZ};

/// `AF_INET6`.
pub const AF_INET6: u8 = 28;
/// `SOCK_DGRAM`.
pub const SOCK_DGRAM: i32 = 2;
/// `SOCK_RAW`.
pub const SOCK_RAW: i32 = 3;
/// `IPPROTO_IPV6`: socket option level of IPv6.
pub const IPPROTO_IPV6: i32 = 41;
/// `IPPROTO_ICMPV6`: protocol number and socket option level of ICMPv6.
pub const IPPROTO_ICMPV6: i32 = 58;
/// `IPPROTO_UDP`.
pub const IPPROTO_UDP: i32 = 17;

/// `IPV6_UNICAST_HOPS`: hop limit of unicast packets (`int`, -1 = default).
pub const IPV6_UNICAST_HOPS: i32 = 4;
/// `IPV6_MULTICAST_IF`: outgoing interface of multicast packets (`u_int` index).
pub const IPV6_MULTICAST_IF: i32 = 9;
/// `IPV6_MULTICAST_HOPS`: hop limit of multicast packets (`int`, -1 = 1).
pub const IPV6_MULTICAST_HOPS: i32 = 10;
/// `IPV6_MULTICAST_LOOP`: loop multicast packets back to local members
/// (`u_int`, default 1).
pub const IPV6_MULTICAST_LOOP: i32 = 11;
/// `IPV6_JOIN_GROUP`: join a group on an interface (a [`Ipv6Mreq`]).
pub const IPV6_JOIN_GROUP: i32 = 12;
/// `IPV6_LEAVE_GROUP`: leave a group (a [`Ipv6Mreq`]).
pub const IPV6_LEAVE_GROUP: i32 = 13;
/// `IPV6_MAX_MEMBERSHIPS`: groups one socket may join (FreeBSD's 4095).
pub const IPV6_MAX_MEMBERSHIPS: usize = 4095;
/// `sizeof(struct ipv6_mreq)`.
pub const IPV6_MREQ_SIZE: usize = 20;

/// `struct ipv6_mreq`: the group and the interface index (0: the route's
/// interface for the group).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Mreq {
    /// `ipv6mr_multiaddr`.
    pub multiaddr: Ipv6Addr,
    /// `ipv6mr_interface`.
    pub interface: u32,
}

impl Ipv6Mreq {
    /// The 20-byte image (index little-endian).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = self.multiaddr.octets().to_vec();
        b.extend_from_slice(&self.interface.to_le_bytes());
        b
    }
    /// Decode an option value: `EINVAL` unless 20 bytes.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        if b.len() != IPV6_MREQ_SIZE {
            return Err(Errno::EINVAL);
        }
        let mut a = [0u8; 16];
        a.copy_from_slice(&b[..16]);
        Ok(Ipv6Mreq {
            multiaddr: Ipv6Addr::from(a),
            interface: u32::from_le_bytes([b[16], b[17], b[18], b[19]]),
        })
    }
}
/// `ICMP6_FILTER` (level `IPPROTO_ICMPV6`): a [`Icmp6Filter`].
pub const ICMP6_FILTER: i32 = 18;
/// `IPV6_CHECKSUM`: offset of the checksum a raw socket fills (`int`, -1 = none).
pub const IPV6_CHECKSUM: i32 = 26;
/// `IPV6_V6ONLY`.
pub const IPV6_V6ONLY: i32 = 27;
/// `IPV6_RECVPKTINFO`: hand back the destination address and arrival interface.
pub const IPV6_RECVPKTINFO: i32 = 36;
/// `IPV6_RECVHOPLIMIT`: hand back the hop limit a datagram arrived with.
pub const IPV6_RECVHOPLIMIT: i32 = 37;
/// `IPV6_PKTINFO`: control record type of a `struct in6_pktinfo`.
pub const IPV6_PKTINFO: i32 = 46;
/// `IPV6_HOPLIMIT`: control record type of the received hop limit.
pub const IPV6_HOPLIMIT: i32 = 47;

/// `sizeof(struct sockaddr_in6)`.
pub const SOCKADDR_IN6_LEN: usize = 28;

/// `struct sockaddr_in6`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockaddrIn6 {
    /// Port (host order here; network order in the image).
    pub port: u16,
    /// Flow information.
    pub flowinfo: u32,
    /// The address.
    pub addr: Ipv6Addr,
    /// Scope zone: the interface index for link-local addresses, else 0.
    pub scope_id: u32,
}

impl SockaddrIn6 {
    /// An address with no port, flow or scope.
    pub fn new(addr: Ipv6Addr, scope_id: u32) -> Self {
        SockaddrIn6 {
            port: 0,
            flowinfo: 0,
            addr,
            scope_id,
        }
    }
    /// The 28-byte image.
    pub fn to_bytes(&self) -> [u8; SOCKADDR_IN6_LEN] {
        let mut b = [0u8; SOCKADDR_IN6_LEN];
        b[0] = SOCKADDR_IN6_LEN as u8;
        b[1] = AF_INET6;
        b[2..4].copy_from_slice(&self.port.to_be_bytes());
        b[4..8].copy_from_slice(&self.flowinfo.to_le_bytes());
        b[8..24].copy_from_slice(&self.addr.octets());
        b[24..28].copy_from_slice(&self.scope_id.to_le_bytes());
        b
    }
    /// Decode an image: `EINVAL` unless it has at least 28 bytes and family
    /// `AF_INET6` (a zero `sin6_len` is accepted, as FreeBSD's `bind` does).
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        if b.len() < SOCKADDR_IN6_LEN {
            return Err(Errno::EINVAL);
        }
        if b[1] != AF_INET6 {
            return Err(Errno::EAFNOSUPPORT);
        }
        let mut a = [0u8; 16];
        a.copy_from_slice(&b[8..24]);
        Ok(SockaddrIn6 {
            port: u16::from_be_bytes([b[2], b[3]]),
            flowinfo: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            addr: Ipv6Addr::from(a),
            scope_id: u32::from_le_bytes([b[24], b[25], b[26], b[27]]),
        })
    }
    /// Decode an image that may be all zeros (an unused field of a request).
    fn from_field(b: &[u8]) -> Result<Option<Self>, Errno> {
        if b.iter().all(|&x| x == 0) {
            return Ok(None);
        }
        Self::from_bytes(b).map(Some)
    }
}

/// Whether `a` is link-local unicast (fe80::/10; `IN6_IS_ADDR_LINKLOCAL`).
pub fn in6_is_linklocal(a: &Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// Whether `a` is a scoped address: link-local unicast or interface/link-local
/// multicast (`IN6_IS_SCOPE_LINKLOCAL` and friends).
pub fn in6_is_scoped(a: &Ipv6Addr) -> bool {
    let s0 = a.segments()[0];
    in6_is_linklocal(a) || s0 & 0xff0f == 0xff01 || s0 & 0xff0f == 0xff02
}

/// Whether `a` is an IPv4-mapped address (`::ffff:a.b.c.d`;
/// `IN6_IS_ADDR_V4MAPPED`).
pub fn in6_is_v4mapped(a: &Ipv6Addr) -> bool {
    let s = a.segments();
    s[..5] == [0; 5] && s[5] == 0xffff
}

/// The prefix length a contiguous netmask describes (`EINVAL` if not contiguous).
pub fn in6_mask2len(mask: &Ipv6Addr) -> Result<u8, Errno> {
    let v = u128::from(*mask);
    let ones = v.leading_ones();
    if v.checked_shl(ones).unwrap_or(0) != 0 {
        return Err(Errno::EINVAL);
    }
    Ok(ones as u8)
}

/// The netmask of prefix length `plen` (at most 128).
pub fn in6_prefixlen2mask(plen: u8) -> Ipv6Addr {
    let p = u32::from(plen.min(128));
    Ipv6Addr::from(u128::MAX.checked_shl(128 - p).unwrap_or(0))
}

/// Anycast address.
pub const IN6_IFF_ANYCAST: u32 = 0x01;
/// Duplicate address detection has not finished.
pub const IN6_IFF_TENTATIVE: u32 = 0x02;
/// Duplicate address detection found another node using the address.
pub const IN6_IFF_DUPLICATED: u32 = 0x04;
/// May be detached from the link.
pub const IN6_IFF_DETACHED: u32 = 0x08;
/// Deprecated: not to be used as a source for new communication.
pub const IN6_IFF_DEPRECATED: u32 = 0x10;
/// Skip duplicate address detection (only when adding).
pub const IN6_IFF_NODAD: u32 = 0x20;
/// Made by stateless autoconfiguration.
pub const IN6_IFF_AUTOCONF: u32 = 0x40;
/// Temporary (privacy) address.
pub const IN6_IFF_TEMPORARY: u32 = 0x80;
/// Neither used for input nor output.
pub const IN6_IFF_NOTREADY: u32 = IN6_IFF_TENTATIVE | IN6_IFF_DUPLICATED;

/// The address flags ifconfig prints, in its order.
pub const IN6_IFF_NAMES: &[(u32, &str)] = &[
    (IN6_IFF_ANYCAST, "anycast"),
    (IN6_IFF_TENTATIVE, "tentative"),
    (IN6_IFF_DUPLICATED, "duplicated"),
    (IN6_IFF_DETACHED, "detached"),
    (IN6_IFF_DEPRECATED, "deprecated"),
    (IN6_IFF_AUTOCONF, "autoconf"),
    (IN6_IFF_TEMPORARY, "temporary"),
];

/// An infinite address lifetime (`ND6_INFINITE_LIFETIME`).
pub const ND6_INFINITE_LIFETIME: u32 = 0xffff_ffff;

/// `sizeof(struct in6_aliasreq)` on amd64.
pub const IN6_ALIASREQ_SIZE: usize = 128;
/// `sizeof(struct in6_ifreq)` on amd64 (the union holds a `struct icmp6_ifstat`).
pub const IN6_IFREQ_SIZE: usize = 288;
/// `sizeof(struct in6_nbrinfo)` on amd64.
pub const IN6_NBRINFO_SIZE: usize = 56;

/// `SIOCDIFADDR_IN6`: delete an address.
pub const SIOCDIFADDR_IN6: u32 = iow(b'i', 25, IN6_IFREQ_SIZE);
/// `SIOCAIFADDR_IN6`: add (or change) an address.
pub const SIOCAIFADDR_IN6: u32 = iow(b'i', 26, IN6_ALIASREQ_SIZE);
/// `SIOCGIFADDR_IN6`: an interface's first IPv6 address.
pub const SIOCGIFADDR_IN6: u32 = iowr(b'i', 33, IN6_IFREQ_SIZE);
/// `SIOCGIFAFLAG_IN6`: an address's `IN6_IFF_*` flags.
pub const SIOCGIFAFLAG_IN6: u32 = iowr(b'i', 73, IN6_IFREQ_SIZE);
/// `SIOCSNDFLUSH_IN6`: flush the neighbour cache entries learned on an interface
/// (with an address in the union: only that neighbour, which `ndp -d` uses).
pub const SIOCSNDFLUSH_IN6: u32 = iowr(b'i', 77, IN6_IFREQ_SIZE);
/// `SIOCGNBRINFO_IN6`: one neighbour cache entry.
pub const SIOCGNBRINFO_IN6: u32 = iowr(b'i', 78, IN6_NBRINFO_SIZE);

/// Whether `cmd` is one of the IPv6 interface ioctls above.
pub fn is_in6_ioctl(cmd: u32) -> bool {
    matches!(
        cmd,
        SIOCDIFADDR_IN6
            | SIOCAIFADDR_IN6
            | SIOCGIFADDR_IN6
            | SIOCGIFAFLAG_IN6
            | SIOCSNDFLUSH_IN6
            | SIOCGNBRINFO_IN6
    )
}

/// `struct in6_addrlifetime`: expiry times and lifetimes in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct In6AddrLifetime {
    /// Valid lifetime expires at (`time_t`).
    pub expire: i64,
    /// Preferred lifetime expires at.
    pub preferred: i64,
    /// Valid lifetime.
    pub vltime: u32,
    /// Preferred lifetime.
    pub pltime: u32,
}

impl Default for In6AddrLifetime {
    fn default() -> Self {
        In6AddrLifetime {
            expire: 0,
            preferred: 0,
            vltime: ND6_INFINITE_LIFETIME,
            pltime: ND6_INFINITE_LIFETIME,
        }
    }
}

/// `struct in6_aliasreq` (SIOCAIFADDR_IN6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct In6AliasReq {
    /// Interface name.
    pub name: String,
    /// The address (scope id allowed for link-local addresses).
    pub addr: SockaddrIn6,
    /// Point-to-point destination, if any.
    pub dstaddr: Option<SockaddrIn6>,
    /// Prefix mask; `None` means /128.
    pub prefixmask: Option<Ipv6Addr>,
    /// `IN6_IFF_*` flags requested.
    pub flags: u32,
    /// Lifetimes.
    pub lifetime: In6AddrLifetime,
}

impl In6AliasReq {
    /// A request to add `addr/plen` on `name`.
    pub fn new(name: &str, addr: Ipv6Addr, plen: u8) -> Self {
        In6AliasReq {
            name: name.to_string(),
            addr: SockaddrIn6::new(addr, 0),
            dstaddr: None,
            prefixmask: Some(in6_prefixlen2mask(plen)),
            flags: 0,
            lifetime: In6AddrLifetime::default(),
        }
    }
    /// Encode the 128-byte image.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Errno> {
        let mut b = vec![0u8; IN6_ALIASREQ_SIZE];
        put_cstr(&mut b[..IFNAMSIZ], &self.name)?;
        b[16..44].copy_from_slice(&self.addr.to_bytes());
        if let Some(d) = &self.dstaddr {
            b[44..72].copy_from_slice(&d.to_bytes());
        }
        if let Some(m) = &self.prefixmask {
            b[72..100].copy_from_slice(&SockaddrIn6::new(*m, 0).to_bytes());
        }
        b[100..104].copy_from_slice(&self.flags.to_le_bytes());
        b[104..112].copy_from_slice(&self.lifetime.expire.to_le_bytes());
        b[112..120].copy_from_slice(&self.lifetime.preferred.to_le_bytes());
        b[120..124].copy_from_slice(&self.lifetime.vltime.to_le_bytes());
        b[124..128].copy_from_slice(&self.lifetime.pltime.to_le_bytes());
        Ok(b)
    }
    /// Decode an image (`EINVAL` on a wrong size, an unterminated name or a
    /// malformed address; `EAFNOSUPPORT` for a non-IPv6 address).
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        if b.len() != IN6_ALIASREQ_SIZE {
            return Err(Errno::EINVAL);
        }
        let name = get_cstr(&b[..IFNAMSIZ])?.to_string();
        let addr = SockaddrIn6::from_bytes(&b[16..44])?;
        let dstaddr = SockaddrIn6::from_field(&b[44..72])?;
        let prefixmask = SockaddrIn6::from_field(&b[72..100])?.map(|s| s.addr);
        let mut r = Reader::new(&b[100..]);
        let flags = r.u32()?;
        let lifetime = In6AddrLifetime {
            expire: r.i64()?,
            preferred: r.i64()?,
            vltime: r.u32()?,
            pltime: r.u32()?,
        };
        Ok(In6AliasReq {
            name,
            addr,
            dstaddr,
            prefixmask,
            flags,
            lifetime,
        })
    }
}

/// `struct in6_ifreq` with the union read as an address or as flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct In6IfReq {
    /// Interface name.
    pub name: String,
    /// The union's bytes (272).
    pub data: Vec<u8>,
}

impl In6IfReq {
    /// A request naming `name` with the union holding `addr`.
    pub fn with_addr(name: &str, addr: SockaddrIn6) -> Self {
        let mut data = vec![0u8; IN6_IFREQ_SIZE - IFNAMSIZ];
        data[..SOCKADDR_IN6_LEN].copy_from_slice(&addr.to_bytes());
        In6IfReq {
            name: name.to_string(),
            data,
        }
    }
    /// `ifr_addr`.
    pub fn addr(&self) -> Result<SockaddrIn6, Errno> {
        SockaddrIn6::from_bytes(&self.data)
    }
    /// `ifr_ifru.ifru_flags6`.
    pub fn flags6(&self) -> u32 {
        u32::from_le_bytes([self.data[0], self.data[1], self.data[2], self.data[3]])
    }
    /// Set `ifr_ifru.ifru_flags6` (the rest of the union is cleared).
    pub fn set_flags6(&mut self, f: u32) {
        self.data.fill(0);
        self.data[..4].copy_from_slice(&f.to_le_bytes());
    }
    /// Encode the 288-byte image.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Errno> {
        let mut b = vec![0u8; IN6_IFREQ_SIZE];
        put_cstr(&mut b[..IFNAMSIZ], &self.name)?;
        let n = self.data.len().min(IN6_IFREQ_SIZE - IFNAMSIZ);
        b[IFNAMSIZ..IFNAMSIZ + n].copy_from_slice(&self.data[..n]);
        Ok(b)
    }
    /// Decode an image (`EINVAL` on a wrong size or an unterminated name).
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        if b.len() != IN6_IFREQ_SIZE {
            return Err(Errno::EINVAL);
        }
        Ok(In6IfReq {
            name: get_cstr(&b[..IFNAMSIZ])?.to_string(),
            data: b[IFNAMSIZ..].to_vec(),
        })
    }
}

/// Neighbour cache states (`ND6_LLINFO_*`).
pub const ND6_LLINFO_NOSTATE: i32 = -2;
/// Waiting for an answer to a solicitation.
pub const ND6_LLINFO_INCOMPLETE: i32 = 0;
/// Recently confirmed reachable.
pub const ND6_LLINFO_REACHABLE: i32 = 1;
/// Not confirmed lately; checked when next used.
pub const ND6_LLINFO_STALE: i32 = 2;
/// Used while stale; waiting a little for upper-layer confirmation.
pub const ND6_LLINFO_DELAY: i32 = 3;
/// Being probed with unicast solicitations.
pub const ND6_LLINFO_PROBE: i32 = 4;

/// `struct in6_nbrinfo` (SIOCGNBRINFO_IN6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct In6NbrInfo {
    /// Interface name.
    pub ifname: String,
    /// Neighbour address.
    pub addr: Ipv6Addr,
    /// Solicitations sent and not answered.
    pub asked: i64,
    /// Whether the neighbour is a router.
    pub isrouter: i32,
    /// `ND6_LLINFO_*`.
    pub state: i32,
    /// Seconds until the state times out (0: never).
    pub expire: i32,
}

impl In6NbrInfo {
    /// Encode the 56-byte image.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Errno> {
        let mut b = vec![0u8; IN6_NBRINFO_SIZE];
        put_cstr(&mut b[..IFNAMSIZ], &self.ifname)?;
        b[16..32].copy_from_slice(&self.addr.octets());
        b[32..40].copy_from_slice(&self.asked.to_le_bytes());
        b[40..44].copy_from_slice(&self.isrouter.to_le_bytes());
        b[44..48].copy_from_slice(&self.state.to_le_bytes());
        b[48..52].copy_from_slice(&self.expire.to_le_bytes());
        Ok(b)
    }
    /// Decode an image.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        if b.len() != IN6_NBRINFO_SIZE {
            return Err(Errno::EINVAL);
        }
        let mut a = [0u8; 16];
        a.copy_from_slice(&b[16..32]);
        let mut r = Reader::new(&b[32..]);
        Ok(In6NbrInfo {
            ifname: get_cstr(&b[..IFNAMSIZ])?.to_string(),
            addr: Ipv6Addr::from(a),
            asked: r.i64()?,
            isrouter: r.i32()?,
            state: r.i32()?,
            expire: r.i32()?,
        })
    }
}

/// One neighbour cache entry as `net.inet6.icmp6.nd6_dump` reports it (what
/// `ndp -a` reads).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nd6Dump {
    /// Neighbour address (link-local: without embedded scope).
    pub addr: Ipv6Addr,
    /// Index of the interface it was learned on.
    pub ifindex: u32,
    /// That interface's name.
    pub ifname: String,
    /// Link-layer address (empty while incomplete).
    pub lladdr: Vec<u8>,
    /// `ND6_LLINFO_*`.
    pub state: i32,
    /// Whether the neighbour said it is a router.
    pub isrouter: bool,
    /// Solicitations sent and not answered.
    pub asked: u32,
    /// Never expires (the host's own addresses).
    pub permanent: bool,
    /// Seconds until the state times out (≤ 0: expired).
    pub expire: i64,
}

impl Nd6Dump {
    /// Encode a list (the sysctl's opaque value).
    pub fn encode_list(list: &[Nd6Dump]) -> Vec<u8> {
        let mut w = Writer::new();
        w.u32(list.len() as u32);
        for e in list {
            w.bytes(&e.addr.octets())
                .u32(e.ifindex)
                .str(&e.ifname)
                .bytes(&e.lladdr)
                .i32(e.state)
                .u8(u8::from(e.isrouter))
                .u32(e.asked)
                .u8(u8::from(e.permanent))
                .i64(e.expire);
        }
        w.finish()
    }
    /// Decode a list.
    pub fn decode_list(b: &[u8]) -> Result<Vec<Nd6Dump>, Errno> {
        let mut r = Reader::new(b);
        let n = r.u32()? as usize;
        let mut v = Vec::with_capacity(n.min(4096));
        for _ in 0..n {
            let a = r.bytes()?;
            let addr: [u8; 16] = a.try_into().map_err(|_| Errno::EINVAL)?;
            v.push(Nd6Dump {
                addr: Ipv6Addr::from(addr),
                ifindex: r.u32()?,
                ifname: r.str()?.to_string(),
                lladdr: r.bytes()?.to_vec(),
                state: r.i32()?,
                isrouter: r.u8()? != 0,
                asked: r.u32()?,
                permanent: r.u8()? != 0,
                expire: r.i64()?,
            });
        }
        r.end()?;
        Ok(v)
    }
}

/// `struct icmp6_filter`: which ICMPv6 types a raw socket receives, one bit per
/// type, a set bit passing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Icmp6Filter(pub [u32; 8]);

impl Icmp6Filter {
    /// Pass every type (the default).
    pub const PASS_ALL: Icmp6Filter = Icmp6Filter([u32::MAX; 8]);
    /// Block every type.
    pub const BLOCK_ALL: Icmp6Filter = Icmp6Filter([0; 8]);
    /// `ICMP6_FILTER_SETPASS`.
    pub fn set_pass(&mut self, t: u8) {
        self.0[usize::from(t >> 5)] |= 1 << (t & 31);
    }
    /// `ICMP6_FILTER_SETBLOCK`.
    pub fn set_block(&mut self, t: u8) {
        self.0[usize::from(t >> 5)] &= !(1 << (t & 31));
    }
    /// `ICMP6_FILTER_WILLPASS`.
    pub fn will_pass(&self, t: u8) -> bool {
        self.0[usize::from(t >> 5)] & (1 << (t & 31)) != 0
    }
    /// The 32-byte image.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.iter().flat_map(|w| w.to_le_bytes()).collect()
    }
    /// Decode an image (`EINVAL` unless 32 bytes).
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        if b.len() != 32 {
            return Err(Errno::EINVAL);
        }
        let mut f = [0u32; 8];
        for (i, w) in f.iter_mut().enumerate() {
            *w = u32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]);
        }
        Ok(Icmp6Filter(f))
    }
}

/// The source address a datagram socket's `recvfrom` reports, followed by the
/// control data `recvmsg` would return with it (the socket options
/// `IPV6_RECVHOPLIMIT` and `IPV6_RECVPKTINFO` ask for it): the address image,
/// then records of (level `i32`, type `i32`, length `u32`, data).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ip6RecvInfo {
    /// Where the datagram came from.
    pub from: Option<SockaddrIn6>,
    /// `IPV6_HOPLIMIT`: the hop limit it arrived with.
    pub hoplimit: Option<i32>,
    /// `IPV6_PKTINFO`: its destination address and the arrival interface index.
    pub pktinfo: Option<(Ipv6Addr, u32)>,
}

impl Ip6RecvInfo {
    /// Encode.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        if let Some(f) = &self.from {
            w.raw(&f.to_bytes());
        }
        if let Some(h) = self.hoplimit {
            w.i32(IPPROTO_IPV6).i32(IPV6_HOPLIMIT).u32(4).i32(h);
        }
        if let Some((a, i)) = self.pktinfo {
            w.i32(IPPROTO_IPV6)
                .i32(IPV6_PKTINFO)
                .u32(20)
                .raw(&a.octets())
                .u32(i);
        }
        w.finish()
    }
    /// Decode; unknown control records are skipped.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        let mut info = Ip6RecvInfo::default();
        if b.is_empty() {
            return Ok(info);
        }
        info.from = Some(SockaddrIn6::from_bytes(b)?);
        let mut r = Reader::new(&b[SOCKADDR_IN6_LEN..]);
        while r.remaining() > 0 {
            let level = r.i32()?;
            let ty = r.i32()?;
            let n = r.u32()? as usize;
            let d = r.take(n)?;
            match (level, ty) {
                (IPPROTO_IPV6, IPV6_HOPLIMIT) if n == 4 => {
                    info.hoplimit = Some(i32::from_le_bytes([d[0], d[1], d[2], d[3]]));
                }
                (IPPROTO_IPV6, IPV6_PKTINFO) if n == 20 => {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(&d[..16]);
                    let i = u32::from_le_bytes([d[16], d[17], d[18], d[19]]);
                    info.pktinfo = Some((Ipv6Addr::from(a), i));
                }
                _ => {}
            }
        }
        Ok(info)
    }
}

macro_rules! stat_struct {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $f:ident),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct $name {
            $($(#[$fm])* pub $f: u64,)*
        }
        impl $name {
            /// Field names in encoding order.
            pub const FIELDS: &'static [&'static str] = &[$(stringify!($f)),*];
            /// The counters in encoding order.
            pub fn values(&self) -> Vec<u64> {
                vec![$(self.$f),*]
            }
            /// Build from counters in encoding order (`EINVAL` on a wrong count).
            pub fn from_values(v: &[u64]) -> Result<Self, Errno> {
                if v.len() != Self::FIELDS.len() {
                    return Err(Errno::EINVAL);
                }
                let mut it = v.iter().copied();
                Ok($name { $($f: it.next().unwrap_or(0),)* })
            }
        }
    };
}

stat_struct!(
    /// `struct ip6stat` (`net.inet6.ip6.stats`), the counters this stack keeps.
    Ip6Stat {
        /// Total packets received.
        ip6s_total,
        /// Packet shorter than the header or its payload length.
        ip6s_tooshort,
        /// Not enough data for the headers it announces.
        ip6s_toosmall,
        /// Fragments received.
        ip6s_fragments,
        /// Fragments dropped (duplicates, overlaps, out of space).
        ip6s_fragdropped,
        /// Fragments dropped after the reassembly timeout.
        ip6s_fragtimeout,
        /// Fragments dropped because too many datagrams were being reassembled.
        ip6s_fragoverflow,
        /// Packets forwarded.
        ip6s_forward,
        /// Packets received for unreachable destinations (not forwarded).
        ip6s_cantforward,
        /// Redirects sent.
        ip6s_redirectsent,
        /// Datagrams delivered to an upper layer.
        ip6s_delivered,
        /// Packets sent from this host.
        ip6s_localout,
        /// Output packets dropped (no buffers, interface down, ...).
        ip6s_odropped,
        /// Datagrams reassembled.
        ip6s_reassembled,
        /// Datagrams fragmented on output.
        ip6s_fragmented,
        /// Fragments made on output.
        ip6s_ofragments,
        /// Datagrams that could not be fragmented.
        ip6s_cantfrag,
        /// Packets with bad options.
        ip6s_badoptions,
        /// Packets dropped for lack of a route.
        ip6s_noroute,
        /// Packets whose version is not 6.
        ip6s_badvers,
        /// Packets sent by raw sockets.
        ip6s_rawout,
        /// Packets violating scope rules.
        ip6s_badscope,
        /// Multicast packets for groups this host has not joined.
        ip6s_notmember,
        /// Packets with an unknown next header.
        ip6s_noproto,
        /// Packets with too many extension headers.
        ip6s_toomanyhdr,
    }
);

stat_struct!(
    /// `struct icmp6stat` (`net.inet6.icmp6.stats`) without the histograms,
    /// which travel beside it.
    Icmp6StatCounters {
        /// Calls to `icmp6_error`.
        icp6s_error,
        /// Errors not sent because the packet was an ICMPv6 error itself.
        icp6s_canterror,
        /// Errors not sent because of the rate limit.
        icp6s_toofreq,
        /// Messages with a bad code.
        icp6s_badcode,
        /// Messages shorter than the minimum.
        icp6s_tooshort,
        /// Messages with a bad checksum.
        icp6s_checksum,
        /// Messages with a bad length.
        icp6s_badlen,
        /// Replies generated (echo replies).
        icp6s_reflect,
        /// ND messages with too many options.
        icp6s_nd_toomanyopt,
        /// Bad router solicitations (hop limit, length, options).
        icp6s_badrs,
        /// Bad router advertisements.
        icp6s_badra,
        /// Bad redirects.
        icp6s_badredirect,
        /// Bad neighbour solicitations.
        icp6s_badns,
        /// Bad neighbour advertisements.
        icp6s_badna,
        /// Duplicate addresses found by DAD.
        icp6s_dupaddr,
    }
);

/// `struct icmp6stat`: counters plus the input and output histograms by type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Icmp6Stat {
    /// The scalar counters.
    pub c: Icmp6StatCounters,
    /// Messages sent, by type.
    pub outhist: [u64; 256],
    /// Messages received, by type.
    pub inhist: [u64; 256],
}

impl Default for Icmp6Stat {
    fn default() -> Self {
        Icmp6Stat {
            c: Icmp6StatCounters::default(),
            outhist: [0; 256],
            inhist: [0; 256],
        }
    }
}

/// Encode a counter list.
pub fn stats_encode(v: &[u64]) -> Vec<u8> {
    let mut w = Writer::new();
    w.u32(v.len() as u32);
    for x in v {
        w.u64(*x);
    }
    w.finish()
}

/// Decode a counter list.
pub fn stats_decode(b: &[u8]) -> Result<Vec<u64>, Errno> {
    let mut r = Reader::new(b);
    let n = r.u32()? as usize;
    if n > 4096 {
        return Err(Errno::EINVAL);
    }
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(r.u64()?);
    }
    r.end()?;
    Ok(v)
}

impl Ip6Stat {
    /// The sysctl's opaque value.
    pub fn to_bytes(&self) -> Vec<u8> {
        stats_encode(&self.values())
    }
    /// Decode the sysctl's value.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        Self::from_values(&stats_decode(b)?)
    }
}

impl Icmp6Stat {
    /// The sysctl's opaque value: counters, then output and input histograms.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = self.c.values();
        v.extend_from_slice(&self.outhist);
        v.extend_from_slice(&self.inhist);
        stats_encode(&v)
    }
    /// Decode the sysctl's value.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        let v = stats_decode(b)?;
        let n = Icmp6StatCounters::FIELDS.len();
        if v.len() != n + 512 {
            return Err(Errno::EINVAL);
        }
        let mut s = Icmp6Stat {
            c: Icmp6StatCounters::from_values(&v[..n])?,
            ..Default::default()
        };
        s.outhist.copy_from_slice(&v[n..n + 256]);
        s.inhist.copy_from_slice(&v[n + 256..]);
        Ok(s)
    }
}

/// Text form of an address with its scope, as `getnameinfo(NI_NUMERICHOST)`
/// prints it: `fe80::1%lo0` when `ifname` is given for a link-local address.
pub fn in6_ntoa_scoped(a: &Ipv6Addr, ifname: Option<&str>) -> String {
    let ll = a.segments()[0] & 0xffc0 == 0xfe80
        || (a.segments()[0] & 0xff0f == 0xff02 || a.segments()[0] & 0xff0f == 0xff01);
    match ifname {
        Some(n) if ll && !n.is_empty() => format!("{a}%{n}"),
        _ => a.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_mreq_image() {
        assert_eq!(
            (IPV6_MULTICAST_LOOP, IPV6_JOIN_GROUP, IPV6_LEAVE_GROUP),
            (11, 12, 13)
        );
        let m = Ipv6Mreq {
            multiaddr: "ff02::9".parse().unwrap(),
            interface: 2,
        };
        let b = m.to_bytes();
        assert_eq!(b.len(), IPV6_MREQ_SIZE);
        assert_eq!(&b[..2], &[0xff, 0x02]);
        assert_eq!(&b[16..], &[2, 0, 0, 0]);
        assert_eq!(Ipv6Mreq::from_bytes(&b), Ok(m));
        assert_eq!(Ipv6Mreq::from_bytes(&b[..19]), Err(Errno::EINVAL));
        assert_eq!(
            Ipv6Mreq::from_bytes(&[b.clone(), vec![0]].concat()),
            Err(Errno::EINVAL)
        );
    }
    use crate::ioccom::iocparm_len;

    #[test]
    fn ioctl_numbers_are_freebsds() {
        assert_eq!(SIOCAIFADDR_IN6, 0x8080_691a);
        assert_eq!(SIOCDIFADDR_IN6, 0x8120_6919);
        assert_eq!(SIOCGIFAFLAG_IN6, 0xc120_6949);
        assert_eq!(SIOCGNBRINFO_IN6, 0xc038_694e);
        assert_eq!(iocparm_len(SIOCAIFADDR_IN6), IN6_ALIASREQ_SIZE);
        assert!(is_in6_ioctl(SIOCDIFADDR_IN6));
        assert!(!is_in6_ioctl(0xc020_6911));
    }

    #[test]
    fn sockaddr_round_trip_and_errors() {
        let s = SockaddrIn6 {
            port: 33434,
            flowinfo: 0,
            addr: "fe80::1".parse().unwrap(),
            scope_id: 2,
        };
        let b = s.to_bytes();
        assert_eq!(&b[..4], &[28, 28, 0x82, 0x9a]);
        assert_eq!(SockaddrIn6::from_bytes(&b).unwrap(), s);
        assert_eq!(SockaddrIn6::from_bytes(&b[..27]), Err(Errno::EINVAL));
        let mut v4 = b;
        v4[1] = 2;
        assert_eq!(SockaddrIn6::from_bytes(&v4), Err(Errno::EAFNOSUPPORT));
    }

    #[test]
    fn masks() {
        for p in [0u8, 1, 64, 127, 128] {
            assert_eq!(in6_mask2len(&in6_prefixlen2mask(p)).unwrap(), p);
        }
        assert_eq!(
            in6_prefixlen2mask(64),
            "ffff:ffff:ffff:ffff::".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            in6_mask2len(&"ffff:0:ffff::".parse().unwrap()),
            Err(Errno::EINVAL)
        );
    }

    #[test]
    fn aliasreq_and_ifreq_round_trip() {
        let mut r = In6AliasReq::new("eth0", "a:1::2".parse().unwrap(), 64);
        r.flags = IN6_IFF_NODAD;
        let b = r.to_bytes().unwrap();
        assert_eq!(b.len(), 128);
        assert_eq!(In6AliasReq::from_bytes(&b).unwrap(), r);
        assert_eq!(In6AliasReq::from_bytes(&b[1..]), Err(Errno::EINVAL));
        r.prefixmask = None;
        let b = r.to_bytes().unwrap();
        assert_eq!(In6AliasReq::from_bytes(&b).unwrap().prefixmask, None);
        let q = In6IfReq::with_addr("eth0", SockaddrIn6::new("a:1::2".parse().unwrap(), 0));
        let b = q.to_bytes().unwrap();
        assert_eq!(b.len(), 288);
        let q2 = In6IfReq::from_bytes(&b).unwrap();
        assert_eq!(
            q2.addr().unwrap().addr,
            "a:1::2".parse::<Ipv6Addr>().unwrap()
        );
        let n = In6NbrInfo {
            ifname: "eth0".into(),
            addr: "fe80::2".parse().unwrap(),
            asked: 1,
            isrouter: 1,
            state: ND6_LLINFO_STALE,
            expire: 30,
        };
        assert_eq!(In6NbrInfo::from_bytes(&n.to_bytes().unwrap()).unwrap(), n);
    }

    #[test]
    fn dumps_stats_filters_and_recv_info() {
        let e = Nd6Dump {
            addr: "fe80::4200:aaff:feaa:3".parse().unwrap(),
            ifindex: 2,
            ifname: "eth0".into(),
            lladdr: vec![0x40, 0, 0xaa, 0xaa, 0, 3],
            state: ND6_LLINFO_REACHABLE,
            isrouter: false,
            asked: 0,
            permanent: false,
            expire: 29,
        };
        let b = Nd6Dump::encode_list(std::slice::from_ref(&e));
        assert_eq!(Nd6Dump::decode_list(&b).unwrap(), vec![e]);
        assert!(Nd6Dump::decode_list(&b[..b.len() - 1]).is_err());
        let s = Ip6Stat {
            ip6s_total: 5,
            ip6s_noproto: 1,
            ..Default::default()
        };
        assert_eq!(Ip6Stat::from_bytes(&s.to_bytes()).unwrap(), s);
        let mut i = Icmp6Stat::default();
        i.c.icp6s_badns = 3;
        i.inhist[135] = 7;
        assert_eq!(Icmp6Stat::from_bytes(&i.to_bytes()).unwrap(), i);
        assert!(Icmp6Stat::from_bytes(&s.to_bytes()).is_err());
        let mut f = Icmp6Filter::BLOCK_ALL;
        f.set_pass(129);
        assert!(f.will_pass(129) && !f.will_pass(128));
        assert_eq!(Icmp6Filter::from_bytes(&f.to_bytes()).unwrap(), f);
        let ri = Ip6RecvInfo {
            from: Some(SockaddrIn6::new("fe80::2".parse().unwrap(), 2)),
            hoplimit: Some(64),
            pktinfo: Some(("fe80::1".parse().unwrap(), 2)),
        };
        assert_eq!(Ip6RecvInfo::from_bytes(&ri.to_bytes()).unwrap(), ri);
        assert!(Ip6RecvInfo::from_bytes(&ri.to_bytes()[..40]).is_err());
        assert_eq!(
            in6_ntoa_scoped(&"fe80::1".parse().unwrap(), Some("lo0")),
            "fe80::1%lo0"
        );
        assert_eq!(
            in6_ntoa_scoped(&"a:1::2".parse().unwrap(), Some("eth0")),
            "a:1::2"
        );
    }
}
