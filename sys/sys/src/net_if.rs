//! Interface ABI (net/if.h, sys/sockio.h): flags, `struct ifreq`, the interface ioctls and
//! the interface-list record returned by the `net.link.iflist` sysctl.

use crate::ioccom::{iow, iowr, IOCPARM_MASK};
use crate::wire::{get_cstr, put_cstr, Reader, Writer};
use crate::{Errno, IFNAMSIZ};

/// Interface is up.
pub const IFF_UP: u32 = 0x1;
/// Broadcast address valid.
pub const IFF_BROADCAST: u32 = 0x2;
/// Turn on debugging.
pub const IFF_DEBUG: u32 = 0x4;
/// A loopback net.
pub const IFF_LOOPBACK: u32 = 0x8;
/// Point-to-point link.
pub const IFF_POINTOPOINT: u32 = 0x10;
/// Interface manages own routes.
pub const IFF_SMART: u32 = 0x20;
/// Resources allocated (IFF_DRV_RUNNING).
pub const IFF_RUNNING: u32 = 0x40;
/// No address resolution protocol.
pub const IFF_NOARP: u32 = 0x80;
/// Receive all packets.
pub const IFF_PROMISC: u32 = 0x100;
/// Receive all multicast packets.
pub const IFF_ALLMULTI: u32 = 0x200;
/// Transmission in progress (IFF_DRV_OACTIVE).
pub const IFF_OACTIVE: u32 = 0x400;
/// Can't hear own transmissions.
pub const IFF_SIMPLEX: u32 = 0x800;
/// Per link layer defined bit.
pub const IFF_LINK0: u32 = 0x1000;
/// Per link layer defined bit.
pub const IFF_LINK1: u32 = 0x2000;
/// Per link layer defined bit.
pub const IFF_LINK2: u32 = 0x4000;
/// Supports multicast.
pub const IFF_MULTICAST: u32 = 0x8000;
/// User-requested promiscuous mode.
pub const IFF_PPROMISC: u32 = 0x20000;
/// User-requested monitor mode.
pub const IFF_MONITOR: u32 = 0x40000;
/// Static ARP.
pub const IFF_STATICARP: u32 = 0x80000;

/// The flag names ifconfig prints, in bit order.
pub const IFF_NAMES: &[(u32, &str)] = &[
    (IFF_UP, "UP"),
    (IFF_BROADCAST, "BROADCAST"),
    (IFF_DEBUG, "DEBUG"),
    (IFF_LOOPBACK, "LOOPBACK"),
    (IFF_POINTOPOINT, "POINTOPOINT"),
    (IFF_SMART, "SMART"),
    (IFF_RUNNING, "RUNNING"),
    (IFF_NOARP, "NOARP"),
    (IFF_PROMISC, "PROMISC"),
    (IFF_ALLMULTI, "ALLMULTI"),
    (IFF_OACTIVE, "OACTIVE"),
    (IFF_SIMPLEX, "SIMPLEX"),
    (IFF_LINK0, "LINK0"),
    (IFF_LINK1, "LINK1"),
    (IFF_LINK2, "LINK2"),
    (IFF_MULTICAST, "MULTICAST"),
    (IFF_PPROMISC, "PPROMISC"),
    (IFF_MONITOR, "MONITOR"),
    (IFF_STATICARP, "STATICARP"),
];

/// Flags the user may change with SIOCSIFFLAGS; the rest belong to the driver.
pub const IFF_CANTCHANGE: u32 = IFF_BROADCAST
    | IFF_POINTOPOINT
    | IFF_RUNNING
    | IFF_OACTIVE
    | IFF_SIMPLEX
    | IFF_MULTICAST
    | IFF_ALLMULTI
    | IFF_PROMISC
    | IFF_LOOPBACK;

/// Interface types (net/if_types.h) the kernel reports.
pub const IFT_ETHER: u8 = 0x6;
/// Software loopback.
pub const IFT_LOOP: u8 = 0x18;
/// Point-to-point (ng_iface).
pub const IFT_PROPVIRTUAL: u8 = 0x35;
/// 802.1Q VLAN.
pub const IFT_L2VLAN: u8 = 0x87;

/// Size of `struct ifreq`: a name and a 16-byte union.
pub const IFREQ_SIZE: usize = 32;

/// `SIOCSIFFLAGS`.
pub const SIOCSIFFLAGS: u32 = iow(b'i', 16, IFREQ_SIZE);
/// `SIOCGIFFLAGS`.
pub const SIOCGIFFLAGS: u32 = iowr(b'i', 17, IFREQ_SIZE);
/// `SIOCSIFNAME` (the new name travels in the union, which holds IFNAMSIZ bytes).
pub const SIOCSIFNAME: u32 = iow(b'i', 40, IFREQ_SIZE);
/// `SIOCGIFMTU`.
pub const SIOCGIFMTU: u32 = iowr(b'i', 51, IFREQ_SIZE);
/// `SIOCSIFMTU`.
pub const SIOCSIFMTU: u32 = iow(b'i', 52, IFREQ_SIZE);
/// `SIOCSIFLLADDR`: set the link-level address (sockaddr in the union).
pub const SIOCSIFLLADDR: u32 = iow(b'i', 60, IFREQ_SIZE);
/// `SIOCSIFGENERIC`: a driver's own "set" request; `ifr_data` points at the
/// driver's structure (a vlan's `struct vlanreq`).
pub const SIOCSIFGENERIC: u32 = iow(b'i', 57, IFREQ_SIZE);
/// `SIOCGIFGENERIC`: a driver's own "get" request, as [`SIOCSIFGENERIC`].
pub const SIOCGIFGENERIC: u32 = iowr(b'i', 58, IFREQ_SIZE);
/// `SIOCIFDESTROY`: destroy a cloned interface.
pub const SIOCIFDESTROY: u32 = iow(b'i', 121, IFREQ_SIZE);
/// `SIOCIFCREATE2`: create a cloned interface; the reply carries the name given.
/// With parameters for the cloner (`ifr_data`), see [`ifr_data_cmd`].
pub const SIOCIFCREATE2: u32 = iowr(b'i', 124, IFREQ_SIZE);

/// The door has no user memory for an ifreq's `ifr_data` pointer to point
/// into, so an ifreq ioctl with `ifr_data` carries the structure it would
/// point at right after the 32-byte ifreq, and the command's length field
/// counts both: `ifr_data_cmd(SIOCIFCREATE2, 18)` is SIOCIFCREATE2 with an
/// 18-byte `struct vlanreq`.  (FreeBSD's numbers differ only in that length.)
pub const fn ifr_data_cmd(cmd: u32, len: usize) -> u32 {
    (cmd & !(IOCPARM_MASK << 16)) | ((((IFREQ_SIZE + len) as u32) & IOCPARM_MASK) << 16)
}

/// The plain-ifreq command behind one that carries `ifr_data` by value
/// ([`ifr_data_cmd`] with no data): what the interface layer dispatches on.
pub const fn ifreq_cmd(cmd: u32) -> u32 {
    ifr_data_cmd(cmd, 0)
}

/// Interface capabilities (`IFCAP_*`, `if_capenable`): the interface can
/// carry a full-sized frame plus an 802.1Q header, so its vlans keep its MTU.
pub const IFCAP_VLAN_MTU: u32 = 0x8;
/// The interface inserts and strips 802.1Q tags itself.
pub const IFCAP_VLAN_HWTAGGING: u32 = 0x10;

/// `struct ifreq`: an interface name and a 16-byte union interpreted per ioctl.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IfReq {
    /// Interface name.
    pub name: String,
    /// The union's bytes.
    pub data: [u8; 16],
}

impl IfReq {
    /// A request naming `name` with a zeroed union.
    pub fn new(name: &str) -> Self {
        IfReq {
            name: name.to_string(),
            data: [0; 16],
        }
    }
    /// `ifr_flags | ifr_flagshigh << 16`.
    pub fn flags(&self) -> u32 {
        let lo = u16::from_le_bytes([self.data[0], self.data[1]]) as u32;
        let hi = u16::from_le_bytes([self.data[2], self.data[3]]) as u32;
        lo | hi << 16
    }
    /// Set `ifr_flags` / `ifr_flagshigh`.
    pub fn set_flags(&mut self, f: u32) {
        self.data[0..2].copy_from_slice(&(f as u16).to_le_bytes());
        self.data[2..4].copy_from_slice(&((f >> 16) as u16).to_le_bytes());
    }
    /// `ifr_mtu` (also `ifr_metric`).
    pub fn int(&self) -> i32 {
        i32::from_le_bytes([self.data[0], self.data[1], self.data[2], self.data[3]])
    }
    /// Set `ifr_mtu`.
    pub fn set_int(&mut self, v: i32) {
        self.data[0..4].copy_from_slice(&v.to_le_bytes());
    }
    /// The union read as a NUL-terminated name (SIOCSIFNAME).
    pub fn union_name(&self) -> Result<&str, Errno> {
        get_cstr(&self.data)
    }
    /// Store a name in the union (SIOCSIFNAME).
    pub fn set_union_name(&mut self, n: &str) -> Result<(), Errno> {
        put_cstr(&mut self.data, n)
    }
    /// The union read as a `sockaddr` holding a 6-byte link address
    /// (`sa_len`, `sa_family`, then the address).
    pub fn lladdr(&self) -> [u8; 6] {
        let mut a = [0u8; 6];
        a.copy_from_slice(&self.data[2..8]);
        a
    }
    /// Store a link address as a `sockaddr` (AF_LINK).
    pub fn set_lladdr(&mut self, a: [u8; 6]) {
        self.data[0] = 8;
        self.data[1] = AF_LINK;
        self.data[2..8].copy_from_slice(&a);
    }
    /// Encode the 32-byte image.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Errno> {
        let mut b = vec![0u8; IFREQ_SIZE];
        put_cstr(&mut b[..IFNAMSIZ], &self.name)?;
        b[IFNAMSIZ..].copy_from_slice(&self.data);
        Ok(b)
    }
    /// Decode a 32-byte image (`EINVAL` on a wrong size or an unterminated name).
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        if b.len() != IFREQ_SIZE {
            return Err(Errno::EINVAL);
        }
        let name = get_cstr(&b[..IFNAMSIZ])?.to_string();
        let mut data = [0u8; 16];
        data.copy_from_slice(&b[IFNAMSIZ..]);
        Ok(IfReq { name, data })
    }
}

/// Address families (sys/sys/socket.h).
pub const AF_UNSPEC: u8 = 0;
/// Local to host (pipes, portals).
pub const AF_LOCAL: u8 = 1;
/// Internetwork: UDP, TCP, etc.
pub const AF_INET: u8 = 2;
/// Link layer interface.
pub const AF_LINK: u8 = 18;
/// Internal routing protocol (routing sockets).
pub const AF_ROUTE: u8 = 17;
/// IPv6.
pub const AF_INET6: u8 = 28;
/// Netgraph sockets.
pub const AF_NETGRAPH: u8 = 32;

/// One address of an interface, as `getifaddrs` would report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfAddrInfo {
    /// `AF_INET` or `AF_INET6`.
    pub family: u8,
    /// The address (4 or 16 bytes).
    pub addr: Vec<u8>,
    /// Netmask (same length as `addr`).
    pub mask: Vec<u8>,
    /// Broadcast or point-to-point destination, if any.
    pub dst: Vec<u8>,
    /// Scope id (IPv6 link-local: the interface index).
    pub scope: u32,
    /// `IN6_IFF_*` flags (tentative, duplicated, ...).
    pub flags: u32,
}

/// One interface as the `net.link.iflist` sysctl reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfInfo {
    /// Interface index within its vnet.
    pub index: u32,
    /// Current name.
    pub name: String,
    /// `IFF_*` flags.
    pub flags: u32,
    /// Metric.
    pub metric: u32,
    /// MTU.
    pub mtu: u32,
    /// `IFT_*` type.
    pub iftype: u8,
    /// Link-level address (empty when none).
    pub lladdr: Vec<u8>,
    /// Extra status lines the driver prints (`vlan: 101 parent interface: iwi0`).
    pub status: Vec<String>,
    /// Protocol addresses in the order they were added.
    pub addrs: Vec<IfAddrInfo>,
    /// Traffic counters (`netstat -i`).
    pub stats: IfStats,
}

/// An interface's traffic counters, the statistics part of `struct if_data`
/// that `netstat -i` prints; encoded at the end of each [`IfInfo`] record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IfStats {
    /// Packets received (`ifi_ipackets`).
    pub ipackets: u64,
    /// Input errors (`ifi_ierrors`).
    pub ierrors: u64,
    /// Packets sent (`ifi_opackets`).
    pub opackets: u64,
    /// Output errors (`ifi_oerrors`).
    pub oerrors: u64,
    /// Bytes received (`ifi_ibytes`).
    pub ibytes: u64,
    /// Bytes sent (`ifi_obytes`).
    pub obytes: u64,
    /// Packets dropped on input (`ifi_iqdrops`).
    pub iqdrops: u64,
    /// Collisions (`ifi_collisions`; always 0 on these links).
    pub collisions: u64,
}

impl IfStats {
    /// Append the eight counters in field order.
    pub fn encode(&self, w: &mut Writer) {
        for v in [
            self.ipackets,
            self.ierrors,
            self.opackets,
            self.oerrors,
            self.ibytes,
            self.obytes,
            self.iqdrops,
            self.collisions,
        ] {
            w.u64(v);
        }
    }
    /// Decode the eight counters.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, Errno> {
        Ok(IfStats {
            ipackets: r.u64()?,
            ierrors: r.u64()?,
            opackets: r.u64()?,
            oerrors: r.u64()?,
            ibytes: r.u64()?,
            obytes: r.u64()?,
            iqdrops: r.u64()?,
            collisions: r.u64()?,
        })
    }
}

impl IfInfo {
    /// Append the encoding of `self`.
    pub fn encode(&self, w: &mut Writer) {
        w.u32(self.index)
            .str(&self.name)
            .u32(self.flags)
            .u32(self.metric)
            .u32(self.mtu)
            .u8(self.iftype)
            .bytes(&self.lladdr)
            .u32(self.status.len() as u32);
        for s in &self.status {
            w.str(s);
        }
        w.u32(self.addrs.len() as u32);
        for a in &self.addrs {
            w.u8(a.family)
                .bytes(&a.addr)
                .bytes(&a.mask)
                .bytes(&a.dst)
                .u32(a.scope)
                .u32(a.flags);
        }
        self.stats.encode(w);
    }
    /// Decode one record.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, Errno> {
        let index = r.u32()?;
        let name = r.str()?.to_string();
        let flags = r.u32()?;
        let metric = r.u32()?;
        let mtu = r.u32()?;
        let iftype = r.u8()?;
        let lladdr = r.bytes()?.to_vec();
        let n = r.u32()? as usize;
        let mut status = Vec::new();
        for _ in 0..n {
            status.push(r.str()?.to_string());
        }
        let n = r.u32()? as usize;
        let mut addrs = Vec::new();
        for _ in 0..n {
            addrs.push(IfAddrInfo {
                family: r.u8()?,
                addr: r.bytes()?.to_vec(),
                mask: r.bytes()?.to_vec(),
                dst: r.bytes()?.to_vec(),
                scope: r.u32()?,
                flags: r.u32()?,
            });
        }
        let stats = IfStats::decode(r)?;
        Ok(IfInfo {
            index,
            name,
            flags,
            metric,
            mtu,
            iftype,
            lladdr,
            status,
            addrs,
            stats,
        })
    }
    /// Encode a whole list (the sysctl's opaque value).
    pub fn encode_list(list: &[IfInfo]) -> Vec<u8> {
        let mut w = Writer::new();
        w.u32(list.len() as u32);
        for i in list {
            i.encode(&mut w);
        }
        w.finish()
    }
    /// Decode a whole list.
    pub fn decode_list(b: &[u8]) -> Result<Vec<IfInfo>, Errno> {
        let mut r = Reader::new(b);
        let n = r.u32()? as usize;
        let mut v = Vec::new();
        for _ in 0..n {
            v.push(IfInfo::decode(&mut r)?);
        }
        r.end()?;
        Ok(v)
    }
}

/// One multicast address an interface listens to, as `net.link.ifmalist`
/// reports it for `netstat -g` (FreeBSD's `NET_RT_IFMALIST` records,
/// reduced): the interface, the address (4 bytes: an IPv4 group, 16: an
/// IPv6 group, 6: an Ethernet address groups map to) and its joins.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IfMaddrInfo {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// The address.
    pub addr: Vec<u8>,
    /// Joins holding it (`ifma_refcount`).
    pub refcount: u32,
}

impl IfMaddrInfo {
    /// Encode a whole list (the sysctl's opaque value).
    pub fn encode_list(list: &[IfMaddrInfo]) -> Vec<u8> {
        let mut w = Writer::new();
        w.u32(list.len() as u32);
        for m in list {
            w.u32(m.index).str(&m.name).bytes(&m.addr).u32(m.refcount);
        }
        w.finish()
    }
    /// Decode a whole list: `EINVAL` when short, with bytes left over, or
    /// with an address of another length than 4, 6 or 16.
    pub fn decode_list(b: &[u8]) -> Result<Vec<IfMaddrInfo>, Errno> {
        let mut r = Reader::new(b);
        let n = r.u32()? as usize;
        let mut v = Vec::new();
        for _ in 0..n {
            let index = r.u32()?;
            let name = r.str()?.to_string();
            let addr = r.bytes()?.to_vec();
            if ![4, 6, 16].contains(&addr.len()) {
                return Err(Errno::EINVAL);
            }
            v.push(IfMaddrInfo {
                index,
                name,
                addr,
                refcount: r.u32()?,
            });
        }
        r.end()?;
        Ok(v)
    }
}

/// Format `flags=HEX<LIST>` exactly as ifconfig does.
pub fn format_flags(flags: u32) -> String {
    let names: Vec<&str> = IFF_NAMES
        .iter()
        .filter(|(b, _)| flags & b != 0)
        .map(|(_, n)| *n)
        .collect();
    format!("flags={:x}<{}>", flags, names.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifmaddr_list_round_trips() {
        let l = vec![
            IfMaddrInfo {
                index: 2,
                name: "eth0".into(),
                addr: vec![224, 0, 0, 9],
                refcount: 2,
            },
            IfMaddrInfo {
                index: 2,
                name: "eth0".into(),
                addr: vec![1, 0, 0x5e, 0, 0, 9],
                refcount: 1,
            },
        ];
        let b = IfMaddrInfo::encode_list(&l);
        assert_eq!(IfMaddrInfo::decode_list(&b), Ok(l.clone()));
        assert!(IfMaddrInfo::decode_list(&b[..b.len() - 1]).is_err());
        let mut bad = l;
        bad[0].addr = vec![1, 2, 3];
        assert!(IfMaddrInfo::decode_list(&IfMaddrInfo::encode_list(&bad)).is_err());
    }

    #[test]
    fn flag_strings() {
        assert_eq!(
            format_flags(0x8843),
            "flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST>"
        );
        assert_eq!(
            format_flags(0x8049),
            "flags=8049<UP,LOOPBACK,RUNNING,MULTICAST>"
        );
        assert_eq!(format_flags(0x8008), "flags=8008<LOOPBACK,MULTICAST>");
        assert_eq!(format_flags(0), "flags=0<>");
    }

    #[test]
    fn ifreq_round_trip() {
        let mut r = IfReq::new("eth0");
        r.set_flags(0x18843);
        assert_eq!(r.flags(), 0x18843);
        let b = r.to_bytes().unwrap();
        assert_eq!(IfReq::from_bytes(&b).unwrap(), r);
        assert_eq!(IfReq::from_bytes(&b[1..]), Err(Errno::EINVAL));
        r.set_lladdr([0x40, 0xa, 0xb, 0xc, 0xd, 1]);
        assert_eq!(r.lladdr(), [0x40, 0xa, 0xb, 0xc, 0xd, 1]);
        assert_eq!(
            IfReq::new("0123456789abcdef").to_bytes(),
            Err(Errno::ENAMETOOLONG)
        );
    }

    #[test]
    fn ifr_data_commands_keep_group_and_number() {
        // SIOCSIFGENERIC is 0x80206939 on FreeBSD; with an 18-byte vlanreq
        // carried by value its length reads 50.
        assert_eq!(SIOCSIFGENERIC, 0x8020_6939);
        assert_eq!(SIOCGIFGENERIC, 0xc020_693a);
        assert_eq!(ifr_data_cmd(SIOCSIFGENERIC, 18), 0x8032_6939);
        assert_eq!(ifreq_cmd(ifr_data_cmd(SIOCIFCREATE2, 18)), SIOCIFCREATE2);
        assert_eq!(ifreq_cmd(SIOCIFCREATE2), SIOCIFCREATE2);
        assert_eq!(
            crate::ioccom::iocparm_len(ifr_data_cmd(SIOCIFCREATE2, 18)),
            50
        );
    }

    #[test]
    fn iflist_round_trip() {
        let i = IfInfo {
            index: 2,
            name: "eth0".into(),
            flags: 0x8843,
            metric: 0,
            mtu: 1500,
            iftype: IFT_ETHER,
            lladdr: vec![0x40, 0, 0xaa, 0xaa, 0, 3],
            status: vec!["status: active".into()],
            addrs: vec![IfAddrInfo {
                family: AF_INET,
                addr: vec![10, 0, 1, 2],
                mask: vec![255, 255, 255, 0],
                dst: vec![10, 0, 1, 255],
                scope: 0,
                flags: 0,
            }],
            stats: IfStats {
                ipackets: 12,
                ierrors: 1,
                opackets: 7,
                oerrors: 2,
                ibytes: 1176,
                obytes: 686,
                iqdrops: 3,
                collisions: 0,
            },
        };
        let b = IfInfo::encode_list(std::slice::from_ref(&i));
        assert_eq!(IfInfo::decode_list(&b).unwrap(), vec![i]);
        assert!(IfInfo::decode_list(&b[..b.len() - 1]).is_err());
    }

    #[test]
    fn counters_close_each_record() {
        let mut a = IfInfo {
            index: 1,
            name: "lo0".into(),
            flags: 0x8049,
            metric: 0,
            mtu: 16384,
            iftype: IFT_LOOP,
            lladdr: Vec::new(),
            status: Vec::new(),
            addrs: Vec::new(),
            stats: IfStats::default(),
        };
        let mut b = a.clone();
        b.index = 2;
        b.name = "eth0".into();
        a.stats.ipackets = u64::MAX;
        b.stats.collisions = 5;
        b.stats.obytes = 1 << 40;
        let list = vec![a.clone(), b];
        let bytes = IfInfo::encode_list(&list);
        assert_eq!(IfInfo::decode_list(&bytes).unwrap(), list);
        // The eight counters are the record's last 64 bytes.
        let one = IfInfo::encode_list(std::slice::from_ref(&a));
        assert_eq!(
            &one[one.len() - 64..one.len() - 56],
            &u64::MAX.to_le_bytes()
        );
        assert!(one[one.len() - 56..].iter().all(|&x| x == 0));
        // A record cut inside its counters does not decode.
        assert_eq!(
            IfInfo::decode_list(&one[..one.len() - 8]),
            Err(Errno::EINVAL)
        );
    }
}
