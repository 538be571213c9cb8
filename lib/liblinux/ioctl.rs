//! Socket ioctls: which Linux ioctl is which, and the `struct ifreq` /
//! `SIOCGIFCONF` answers built from the kernel's interface list.
//!
//! Linux's `struct ifreq` (x86_64, 40 bytes): `ifr_name[16]` then a 24-byte
//! union (`ifr_addr` and friends are a `struct sockaddr`: `u16` family and 14
//! bytes; `ifr_flags` a `short`; `ifr_ifindex`, `ifr_mtu`, `ifr_metric`,
//! `ifr_qlen` an `int`).

use std::net::Ipv4Addr;

use vimage_abi::net_if::{self as bsd, IfInfo};

use crate::linux as l;

/// What a Linux socket ioctl is, for the supervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoctlKind {
    /// `FIONREAD` / `SIOCINQ`: the kernel's `FIONREAD` (an `int`).
    FionRead,
    /// `FIONBIO`: the kernel's `FIONBIO` (an `int`).
    FionBio,
    /// `SIOCOUTQ` / `TIOCOUTQ` and `SIOCOUTQNSD`: bytes not yet sent.  The
    /// kernel has no equivalent (no `FIONWRITE`); the supervisor decides.
    OutQ,
    /// `SIOCGIFCONF`: [`ifconf_answer`].
    IfConf,
    /// `SIOCGIFNAME`: index → name ([`ifreq_answer`]).
    IfName,
    /// `SIOCGIFINDEX`: name → index.
    IfIndex,
    /// `SIOCGIFFLAGS`: Linux `IFF_*` in `ifr_flags`.
    IfFlags,
    /// `SIOCGIFADDR`: first (or the given) IPv4 address.
    IfAddr,
    /// `SIOCGIFDSTADDR`: the point-to-point peer (else the address).
    IfDstAddr,
    /// `SIOCGIFBRDADDR`: the broadcast address (0.0.0.0 if none).
    IfBrdAddr,
    /// `SIOCGIFNETMASK`: the netmask.
    IfNetmask,
    /// `SIOCGIFMTU`.
    IfMtu,
    /// `SIOCGIFMETRIC`.
    IfMetric,
    /// `SIOCGIFHWADDR`: `ARPHRD_*` family and the link address.
    IfHwAddr,
    /// `SIOCGIFTXQLEN`: [`TXQLEN`].
    IfTxQLen,
    /// Anything else: not translated (the setting `SIOCS*` ioctls included).
    Other,
}

/// Linux ioctl number → kind.
pub const IOCTL_TABLE: &[(u32, IoctlKind)] = &[
    (l::FIONREAD, IoctlKind::FionRead),
    (l::FIONBIO, IoctlKind::FionBio),
    (l::SIOCOUTQ, IoctlKind::OutQ),
    (l::SIOCOUTQNSD, IoctlKind::OutQ),
    (l::SIOCGIFCONF, IoctlKind::IfConf),
    (l::SIOCGIFNAME, IoctlKind::IfName),
    (l::SIOCGIFINDEX, IoctlKind::IfIndex),
    (l::SIOCGIFFLAGS, IoctlKind::IfFlags),
    (l::SIOCGIFADDR, IoctlKind::IfAddr),
    (l::SIOCGIFDSTADDR, IoctlKind::IfDstAddr),
    (l::SIOCGIFBRDADDR, IoctlKind::IfBrdAddr),
    (l::SIOCGIFNETMASK, IoctlKind::IfNetmask),
    (l::SIOCGIFMTU, IoctlKind::IfMtu),
    (l::SIOCGIFMETRIC, IoctlKind::IfMetric),
    (l::SIOCGIFHWADDR, IoctlKind::IfHwAddr),
    (l::SIOCGIFTXQLEN, IoctlKind::IfTxQLen),
];

/// The kind of Linux socket ioctl `linux_cmd`.
pub fn ioctl_kind(linux_cmd: u32) -> IoctlKind {
    IOCTL_TABLE
        .iter()
        .find(|(c, _)| *c == linux_cmd)
        .map_or(IoctlKind::Other, |(_, k)| *k)
}

impl IoctlKind {
    /// The kernel ioctl that answers this kind, if one does (its `int`
    /// argument is the same on both sides).
    pub fn kernel_cmd(self) -> Option<u32> {
        match self {
            IoctlKind::FionRead => Some(vimage_abi::socket::FIONREAD),
            IoctlKind::FionBio => Some(vimage_abi::socket::FIONBIO),
            _ => None,
        }
    }
}

/// The transmit queue length reported (`SIOCGIFTXQLEN`, `IFLA_TXQLEN`): the
/// kernel keeps no such queue; this is Linux's default `tx_queue_len`.
pub const TXQLEN: u32 = 1000;

/// FreeBSD `IFF_*` → Linux `IFF_*` where both have the flag.  FreeBSD's
/// `IFF_SMART`, `IFF_OACTIVE`, `IFF_SIMPLEX`, `IFF_LINK*`, `IFF_PPROMISC`,
/// `IFF_MONITOR`, `IFF_STATICARP` have no Linux flag and are dropped.
pub const IFF_TABLE: &[(u32, u32)] = &[
    (bsd::IFF_UP, l::IFF_UP),
    (bsd::IFF_BROADCAST, l::IFF_BROADCAST),
    (bsd::IFF_DEBUG, l::IFF_DEBUG),
    (bsd::IFF_LOOPBACK, l::IFF_LOOPBACK),
    (bsd::IFF_POINTOPOINT, l::IFF_POINTOPOINT),
    (bsd::IFF_RUNNING, l::IFF_RUNNING),
    (bsd::IFF_NOARP, l::IFF_NOARP),
    (bsd::IFF_PROMISC, l::IFF_PROMISC),
    (bsd::IFF_ALLMULTI, l::IFF_ALLMULTI),
    (bsd::IFF_MULTICAST, l::IFF_MULTICAST),
];

/// An interface's FreeBSD flags → Linux's, as Linux's `dev_get_flags`
/// reports them: `IFF_RUNNING` and `IFF_LOWER_UP` only while up.
pub fn if_flags_to_linux(bsd_flags: u32) -> u32 {
    let f = IFF_TABLE
        .iter()
        .filter(|(b, _)| bsd_flags & b != 0)
        .fold(0, |acc, (_, x)| acc | x);
    match (f & l::IFF_UP != 0, f & l::IFF_RUNNING != 0) {
        (true, true) => f | l::IFF_LOWER_UP,
        (false, _) => f & !l::IFF_RUNNING,
        (true, false) => f,
    }
}

/// The Linux `ARPHRD_*` link type of an interface: Ethernet and VLANs are
/// `ARPHRD_ETHER`, loopback `ARPHRD_LOOPBACK`, interfaces without a link
/// address (ng_iface) `ARPHRD_NONE` as Linux's tun.
pub fn arphrd(ifp: &IfInfo) -> u16 {
    match ifp.iftype {
        bsd::IFT_LOOP => l::ARPHRD_LOOPBACK,
        bsd::IFT_ETHER | bsd::IFT_L2VLAN => l::ARPHRD_ETHER,
        _ if ifp.lladdr.len() == 6 => l::ARPHRD_ETHER,
        _ => l::ARPHRD_NONE,
    }
}

/// The link address Linux reports: loopback has six zero bytes.
pub(crate) fn link_addr(ifp: &IfInfo) -> Vec<u8> {
    if ifp.iftype == bsd::IFT_LOOP && ifp.lladdr.is_empty() {
        vec![0; 6]
    } else {
        ifp.lladdr.clone()
    }
}

/// One IPv4 address of an interface: (address, netmask, broadcast or peer).
pub(crate) type V4Addr = (Ipv4Addr, Ipv4Addr, Option<Ipv4Addr>);

fn v4(b: &[u8]) -> Option<Ipv4Addr> {
    let a: [u8; 4] = b.try_into().ok()?;
    Some(Ipv4Addr::from(a))
}

/// The well-formed IPv4 addresses of `ifp`, in the kernel's order.
pub(crate) fn v4_addrs(ifp: &IfInfo) -> impl Iterator<Item = V4Addr> + '_ {
    ifp.addrs
        .iter()
        .filter(|a| a.family == bsd::AF_INET)
        .filter_map(|a| {
            let mask = v4(&a.mask).unwrap_or(Ipv4Addr::BROADCAST);
            Some((v4(&a.addr)?, mask, v4(&a.dst)))
        })
}

/// Whether `ifp` is point-to-point (its addresses' `dst` is the peer).
pub(crate) fn is_ptp(ifp: &IfInfo) -> bool {
    ifp.flags & bsd::IFF_POINTOPOINT != 0
}

/// An interface name as Linux's `ifr_name`: at most 15 bytes and a NUL.
fn put_name(out: &mut [u8; l::IFREQ_SIZE], name: &str) {
    out[..l::IFNAMSIZ].fill(0);
    let n = name.len().min(l::IFNAMSIZ - 1);
    out[..n].copy_from_slice(&name.as_bytes()[..n]);
}

/// `ifr_name` as Linux reads it (the 16th byte forced to NUL), split at a
/// `:` alias label: (device name, has a label).
fn req_name(req: &[u8; l::IFREQ_SIZE]) -> (&[u8], bool) {
    let field = &req[..l::IFNAMSIZ - 1];
    let name = field.split(|b| *b == 0).next().unwrap_or(field);
    match name.iter().position(|b| *b == b':') {
        Some(i) => (&name[..i], true),
        None => (name, false),
    }
}

fn put_int(out: &mut [u8; l::IFREQ_SIZE], v: i32) {
    out[16..20].copy_from_slice(&v.to_le_bytes());
}

fn put_sin(out: &mut [u8; l::IFREQ_SIZE], a: Ipv4Addr) {
    out[16..32].fill(0);
    out[16..18].copy_from_slice(&(l::AF_INET as u16).to_le_bytes());
    out[20..24].copy_from_slice(&a.octets());
}

/// Answer an interface ioctl of kind `kind` (the `If*` kinds but `IfConf`)
/// for the program's `struct ifreq` `req`, from the vimage's interfaces.
/// Linux's errors: no such interface (or index) → `ENODEV`; no IPv4 address
/// (or an `eth0:N` alias label, which the kernel does not have) →
/// `EADDRNOTAVAIL`.  As Linux's `devinet_ioctl`, an address request whose
/// `ifr_addr` holds one of the interface's addresses answers about that one.
/// Bytes of the union an answer does not cover are returned as given.
/// Another kind is `ENOTTY`.
pub fn ifreq_answer(
    kind: IoctlKind,
    req: &[u8; l::IFREQ_SIZE],
    ifs: &[IfInfo],
) -> Result<[u8; l::IFREQ_SIZE], i32> {
    let mut out = *req;
    if kind == IoctlKind::IfName {
        let want = i32::from_le_bytes([req[16], req[17], req[18], req[19]]);
        let ifp = ifs
            .iter()
            .find(|i| i32::try_from(i.index) == Ok(want))
            .ok_or(l::ENODEV)?;
        put_name(&mut out, &ifp.name);
        return Ok(out);
    }
    let (name, label) = req_name(req);
    let ifp = ifs
        .iter()
        .find(|i| i.name.as_bytes() == name)
        .ok_or(l::ENODEV)?;
    let sat = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    match kind {
        IoctlKind::IfIndex => put_int(&mut out, sat(ifp.index)),
        IoctlKind::IfFlags => {
            let f = if_flags_to_linux(ifp.flags) as u16;
            out[16..18].copy_from_slice(&f.to_le_bytes());
        }
        IoctlKind::IfMtu => put_int(&mut out, sat(ifp.mtu)),
        IoctlKind::IfMetric => put_int(&mut out, sat(ifp.metric)),
        IoctlKind::IfTxQLen => put_int(&mut out, sat(TXQLEN)),
        IoctlKind::IfHwAddr => {
            out[16..32].fill(0);
            out[16..18].copy_from_slice(&arphrd(ifp).to_le_bytes());
            let a = link_addr(ifp);
            let n = a.len().min(14);
            out[18..18 + n].copy_from_slice(&a[..n]);
        }
        IoctlKind::IfAddr | IoctlKind::IfDstAddr | IoctlKind::IfBrdAddr | IoctlKind::IfNetmask => {
            if label {
                return Err(l::EADDRNOTAVAIL);
            }
            let asked = (u16::from_le_bytes([req[16], req[17]]) == l::AF_INET as u16)
                .then(|| Ipv4Addr::new(req[20], req[21], req[22], req[23]));
            let (addr, mask, dst) = v4_addrs(ifp)
                .find(|(a, _, _)| Some(*a) == asked)
                .or_else(|| v4_addrs(ifp).next())
                .ok_or(l::EADDRNOTAVAIL)?;
            let ptp = is_ptp(ifp);
            let v = match kind {
                IoctlKind::IfAddr => addr,
                IoctlKind::IfNetmask => mask,
                IoctlKind::IfBrdAddr if !ptp => dst.unwrap_or(Ipv4Addr::UNSPECIFIED),
                IoctlKind::IfBrdAddr => Ipv4Addr::UNSPECIFIED,
                _ if ptp => dst.unwrap_or(addr),
                _ => addr,
            };
            put_sin(&mut out, v);
        }
        _ => return Err(l::ENOTTY),
    }
    Ok(out)
}

/// The `SIOCGIFCONF` answer for a buffer of `buf_len` bytes: one 40-byte
/// `struct ifreq` (name, `sockaddr_in`) per IPv4 address, interfaces in the
/// kernel's order, as many whole entries as fit (Linux's `ifc_len` is the
/// returned length).  Pass `usize::MAX` for the length a NULL `ifc_buf`
/// asks for.
pub fn ifconf_answer(ifs: &[IfInfo], buf_len: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for ifp in ifs {
        for (addr, _, _) in v4_addrs(ifp) {
            if buf_len - v.len() < l::IFREQ_SIZE {
                return v;
            }
            let mut r = [0u8; l::IFREQ_SIZE];
            put_name(&mut r, &ifp.name);
            put_sin(&mut r, addr);
            v.extend_from_slice(&r);
        }
    }
    v
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use vimage_abi::net_if::{IfAddrInfo, IfStats};

    pub(crate) fn addr(
        fam: u8,
        a: &[u8],
        m: &[u8],
        d: &[u8],
        scope: u32,
        flags: u32,
    ) -> IfAddrInfo {
        IfAddrInfo {
            family: fam,
            addr: a.to_vec(),
            mask: m.to_vec(),
            dst: d.to_vec(),
            scope,
            flags,
        }
    }

    /// lo0, eth0 (two IPv4 addresses and a link-local IPv6 one) and a
    /// point-to-point ng0.
    pub(crate) fn sample() -> Vec<IfInfo> {
        let mut lo_v6 = [0u8; 16];
        lo_v6[15] = 1;
        let ll: std::net::Ipv6Addr = "fe80::4200:aaff:feaa:3".parse().unwrap();
        let m64: std::net::Ipv6Addr = "ffff:ffff:ffff:ffff::".parse().unwrap();
        vec![
            IfInfo {
                index: 1,
                name: "lo0".into(),
                flags: 0x8049,
                metric: 0,
                mtu: 16384,
                iftype: bsd::IFT_LOOP,
                lladdr: vec![],
                status: vec![],
                addrs: vec![
                    addr(2, &[127, 0, 0, 1], &[255, 0, 0, 0], &[], 0, 0),
                    addr(28, &lo_v6, &[0xff; 16], &[], 0, 0),
                ],
                stats: IfStats::default(),
            },
            IfInfo {
                index: 2,
                name: "eth0".into(),
                flags: 0x8843,
                metric: 0,
                mtu: 1500,
                iftype: bsd::IFT_ETHER,
                lladdr: vec![0x40, 0, 0xaa, 0xaa, 0, 3],
                status: vec![],
                addrs: vec![
                    addr(
                        2,
                        &[10, 0, 0, 20],
                        &[255, 255, 255, 0],
                        &[10, 0, 0, 255],
                        0,
                        0,
                    ),
                    addr(
                        2,
                        &[10, 0, 0, 21],
                        &[255, 255, 255, 0],
                        &[10, 0, 0, 255],
                        0,
                        0,
                    ),
                    addr(28, &ll.octets(), &m64.octets(), &[], 2, 0),
                ],
                stats: IfStats {
                    ipackets: 12,
                    opackets: 7,
                    ibytes: 1176,
                    obytes: 686,
                    ..IfStats::default()
                },
            },
            IfInfo {
                index: 3,
                name: "ng0".into(),
                flags: 0x8051,
                metric: 3,
                mtu: 1500,
                iftype: bsd::IFT_PROPVIRTUAL,
                lladdr: vec![],
                status: vec![],
                addrs: vec![addr(
                    2,
                    &[10, 9, 0, 1],
                    &[255, 255, 255, 255],
                    &[10, 9, 0, 2],
                    0,
                    0,
                )],
                stats: IfStats::default(),
            },
        ]
    }

    fn req(name: &str) -> [u8; 40] {
        let mut r = [0u8; 40];
        r[..name.len()].copy_from_slice(name.as_bytes());
        r
    }

    #[test]
    fn every_table_row() {
        for (c, k) in IOCTL_TABLE {
            assert_eq!(ioctl_kind(*c), *k, "{c:#x}");
        }
        // asm-generic/ioctls.h, linux/sockios.h.
        assert_eq!(ioctl_kind(0x541B), IoctlKind::FionRead);
        assert_eq!(ioctl_kind(0x5421), IoctlKind::FionBio);
        assert_eq!(ioctl_kind(0x5411), IoctlKind::OutQ);
        assert_eq!(ioctl_kind(0x8912), IoctlKind::IfConf);
        assert_eq!(ioctl_kind(0x8913), IoctlKind::IfFlags);
        assert_eq!(ioctl_kind(0x8915), IoctlKind::IfAddr);
        assert_eq!(ioctl_kind(0x8933), IoctlKind::IfIndex);
        assert_eq!(ioctl_kind(0x8910), IoctlKind::IfName);
        assert_eq!(ioctl_kind(0x8921), IoctlKind::IfMtu);
        assert_eq!(ioctl_kind(0x8927), IoctlKind::IfHwAddr);
        assert_eq!(ioctl_kind(0x891b), IoctlKind::IfNetmask);
        assert_eq!(ioctl_kind(0x8919), IoctlKind::IfBrdAddr);
        assert_eq!(ioctl_kind(0x8914), IoctlKind::Other); // SIOCSIFFLAGS
        assert_eq!(ioctl_kind(0xc020_6911), IoctlKind::Other); // FreeBSD SIOCGIFFLAGS
        assert_eq!(IoctlKind::FionRead.kernel_cmd(), Some(0x4004_667f));
        assert_eq!(IoctlKind::FionBio.kernel_cmd(), Some(0x8004_667e));
        assert_eq!(IoctlKind::IfFlags.kernel_cmd(), None);
    }

    #[test]
    fn flags_translate() {
        for (b, x) in IFF_TABLE {
            let up = if_flags_to_linux(*b | bsd::IFF_UP);
            assert_ne!(up & x, 0, "{b:#x}");
        }
        // linux/if.h: UP 1, BROADCAST 2, LOOPBACK 8, RUNNING 0x40,
        // MULTICAST 0x1000, LOWER_UP 0x10000.
        assert_eq!(if_flags_to_linux(0x8843), 0x1_1043);
        assert_eq!(if_flags_to_linux(0x8049), 0x1_1049);
        assert_eq!(if_flags_to_linux(0x8842), 0x1002);
        assert_eq!(if_flags_to_linux(0x20000 | 0x800 | 0x400), 0);
    }

    #[test]
    fn ifreq_answers() {
        let ifs = sample();
        let ok = |k, r: &[u8; 40]| ifreq_answer(k, r, &ifs).unwrap();
        let r = ok(IoctlKind::IfIndex, &req("eth0"));
        assert_eq!(&r[16..20], &2i32.to_le_bytes());
        let r = ok(IoctlKind::IfIndex, &req("eth0:1"));
        assert_eq!(&r[16..20], &2i32.to_le_bytes());
        let r = ok(IoctlKind::IfFlags, &req("eth0"));
        assert_eq!(&r[16..18], &0x1043u16.to_le_bytes());
        let r = ok(IoctlKind::IfMtu, &req("lo0"));
        assert_eq!(&r[16..20], &16384i32.to_le_bytes());
        let r = ok(IoctlKind::IfMetric, &req("ng0"));
        assert_eq!(&r[16..20], &3i32.to_le_bytes());
        let r = ok(IoctlKind::IfTxQLen, &req("ng0"));
        assert_eq!(&r[16..20], &1000i32.to_le_bytes());
        let r = ok(IoctlKind::IfHwAddr, &req("eth0"));
        assert_eq!(&r[16..24], &[1, 0, 0x40, 0, 0xaa, 0xaa, 0, 3]);
        let r = ok(IoctlKind::IfHwAddr, &req("lo0"));
        assert_eq!(&r[16..18], &772u16.to_le_bytes());
        assert!(r[18..32].iter().all(|b| *b == 0));
        let r = ok(IoctlKind::IfHwAddr, &req("ng0"));
        assert_eq!(&r[16..18], &0xfffeu16.to_le_bytes());
        let mut q = [0u8; 40];
        q[16..20].copy_from_slice(&3i32.to_le_bytes());
        let r = ok(IoctlKind::IfName, &q);
        assert_eq!(&r[..4], b"ng0\0");
        assert_eq!(&r[16..20], &3i32.to_le_bytes());
        q[16] = 9;
        assert_eq!(ifreq_answer(IoctlKind::IfName, &q, &ifs), Err(19));
        assert_eq!(ifreq_answer(IoctlKind::IfMtu, &req("eth9"), &ifs), Err(19));
        assert_eq!(
            ifreq_answer(IoctlKind::FionRead, &req("eth0"), &ifs),
            Err(25)
        );
        assert_eq!(ifreq_answer(IoctlKind::IfConf, &req("eth0"), &ifs), Err(25));
        // An unterminated 16-byte name is cut at 15, as Linux does.
        let mut long = [b'e'; 40];
        long[16..].fill(0);
        assert_eq!(ifreq_answer(IoctlKind::IfMtu, &long, &ifs), Err(19));
    }

    #[test]
    fn address_answers() {
        let ifs = sample();
        let sin = |a: [u8; 4]| {
            let mut s = [0u8; 16];
            s[0] = 2;
            s[4..8].copy_from_slice(&a);
            s
        };
        let get = |k, r: &[u8; 40]| ifreq_answer(k, r, &ifs).map(|o| o[16..32].to_vec());
        assert_eq!(
            get(IoctlKind::IfAddr, &req("eth0")),
            Ok(sin([10, 0, 0, 20]).to_vec())
        );
        assert_eq!(
            get(IoctlKind::IfNetmask, &req("eth0")),
            Ok(sin([255, 255, 255, 0]).to_vec())
        );
        assert_eq!(
            get(IoctlKind::IfBrdAddr, &req("eth0")),
            Ok(sin([10, 0, 0, 255]).to_vec())
        );
        assert_eq!(
            get(IoctlKind::IfDstAddr, &req("eth0")),
            Ok(sin([10, 0, 0, 20]).to_vec())
        );
        assert_eq!(
            get(IoctlKind::IfDstAddr, &req("ng0")),
            Ok(sin([10, 9, 0, 2]).to_vec())
        );
        assert_eq!(
            get(IoctlKind::IfBrdAddr, &req("ng0")),
            Ok(sin([0; 4]).to_vec())
        );
        assert_eq!(
            get(IoctlKind::IfAddr, &req("lo0")),
            Ok(sin([127, 0, 0, 1]).to_vec())
        );
        // 4.4BSD style: ask about a given address.
        let mut q = req("eth0");
        q[16..32].copy_from_slice(&sin([10, 0, 0, 21]));
        assert_eq!(get(IoctlKind::IfAddr, &q), Ok(sin([10, 0, 0, 21]).to_vec()));
        q[22] = 99;
        assert_eq!(get(IoctlKind::IfAddr, &q), Ok(sin([10, 0, 0, 20]).to_vec()));
        assert_eq!(get(IoctlKind::IfAddr, &req("eth0:1")), Err(99));
        let mut bare = ifs.clone();
        bare[1].addrs.retain(|a| a.family != 2);
        assert_eq!(
            ifreq_answer(IoctlKind::IfAddr, &req("eth0"), &bare),
            Err(99)
        );
        // The union's tail is left as given.
        let mut q = req("eth0");
        q[39] = 0x5a;
        assert_eq!(ifreq_answer(IoctlKind::IfAddr, &q, &ifs).unwrap()[39], 0x5a);
    }

    #[test]
    fn ifconf() {
        let ifs = sample();
        let all = ifconf_answer(&ifs, usize::MAX);
        assert_eq!(all.len(), 4 * 40);
        let names: Vec<&[u8]> = all.chunks(40).map(|c| &c[..4]).collect();
        assert_eq!(names, [b"lo0\0", b"eth0", b"eth0", b"ng0\0"]);
        assert_eq!(&all[40 + 16..40 + 24], &[2, 0, 0, 0, 10, 0, 0, 20]);
        assert_eq!(&all[80 + 20..80 + 24], &[10, 0, 0, 21]);
        assert_eq!(ifconf_answer(&ifs, 119).len(), 80);
        assert_eq!(ifconf_answer(&ifs, 39).len(), 0);
        assert_eq!(ifconf_answer(&[], 4096).len(), 0);
    }
}
