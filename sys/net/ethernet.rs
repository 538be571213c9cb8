//! Ethernet II frames (`struct ether_header`) and 48-bit MAC addresses.
//!
//! [`EtherFrame`] is a zero-copy view over a frame without its FCS; [`EtherRepr`]
//! the parsed header.  [`EtherAddr`] prints as FreeBSD does (`40:0a:0b:0c:0d:01`).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use vimage_abi::Errno;

/// Octets in an Ethernet address.
pub const ETHER_ADDR_LEN: usize = 6;
/// Octets in the type field.
pub const ETHER_TYPE_LEN: usize = 2;
/// Octets in the frame check sequence.
pub const ETHER_CRC_LEN: usize = 4;
/// Octets in the header.
pub const ETHER_HDR_LEN: usize = ETHER_ADDR_LEN * 2 + ETHER_TYPE_LEN;
/// Shortest frame, FCS included.
pub const ETHER_MIN_LEN: usize = 64;
/// Longest frame, FCS included.
pub const ETHER_MAX_LEN: usize = 1518;
/// The Ethernet MTU.
pub const ETHERMTU: usize = ETHER_MAX_LEN - ETHER_HDR_LEN - ETHER_CRC_LEN;

/// IPv4.
pub const ETHERTYPE_IP: u16 = 0x0800;
/// ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// Reverse ARP.
pub const ETHERTYPE_REVARP: u16 = 0x8035;
/// IEEE 802.1Q VLAN tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

/// A 48-bit Ethernet address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EtherAddr(pub [u8; ETHER_ADDR_LEN]);

impl EtherAddr {
    /// `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: EtherAddr = EtherAddr([0xff; ETHER_ADDR_LEN]);
    /// `00:00:00:00:00:00`.
    pub const ZERO: EtherAddr = EtherAddr([0; ETHER_ADDR_LEN]);

    /// The address in `b`, which must be exactly 6 bytes (`EINVAL` otherwise).
    pub fn from_bytes(b: &[u8]) -> Result<EtherAddr, Errno> {
        <[u8; ETHER_ADDR_LEN]>::try_from(b)
            .map(EtherAddr)
            .map_err(|_| Errno::EINVAL)
    }
    /// The six octets.
    pub fn as_bytes(&self) -> &[u8; ETHER_ADDR_LEN] {
        &self.0
    }
    /// All ones.
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }
    /// Group bit set (`ETHER_IS_MULTICAST`; broadcast included).
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }
    /// Group bit clear.
    pub fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }
    /// Locally administered bit set.
    pub fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }
    /// All zeros.
    pub fn is_zero(&self) -> bool {
        *self == Self::ZERO
    }
    /// `ETHER_MAP_IP_MULTICAST`: `01:00:5e` and the group's low 23 bits.
    pub fn from_ipv4_multicast(group: Ipv4Addr) -> EtherAddr {
        let o = group.octets();
        EtherAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]])
    }
    /// `ETHER_MAP_IPV6_MULTICAST`: `33:33` and the group's low 32 bits.
    pub fn from_ipv6_multicast(group: &Ipv6Addr) -> EtherAddr {
        let o = group.octets();
        EtherAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
    }
}

impl fmt::Display for EtherAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = &self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            a[0], a[1], a[2], a[3], a[4], a[5]
        )
    }
}

impl FromStr for EtherAddr {
    type Err = Errno;
    /// Six `:`-separated groups of one or two hex digits (`40:a:b:c:d:01`).
    fn from_str(s: &str) -> Result<EtherAddr, Errno> {
        let mut a = [0u8; ETHER_ADDR_LEN];
        let mut groups = s.split(':');
        for slot in a.iter_mut() {
            let g = groups.next().ok_or(Errno::EINVAL)?;
            if g.is_empty() || g.len() > 2 || !g.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(Errno::EINVAL);
            }
            *slot = u8::from_str_radix(g, 16).map_err(|_| Errno::EINVAL)?;
        }
        if groups.next().is_some() {
            return Err(Errno::EINVAL);
        }
        Ok(EtherAddr(a))
    }
}

mod field {
    pub const DST: usize = 0;
    pub const SRC: usize = 6;
    pub const TYPE: usize = 12;
}

/// A zero-copy view of an Ethernet II frame (no FCS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtherFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EtherFrame<T> {
    /// Wrap `buffer` without checks (accessors then read zeros past the end).
    pub const fn new_unchecked(buffer: T) -> Self {
        EtherFrame { buffer }
    }
    /// Wrap `buffer`; `EINVAL` if shorter than the 14-byte header.
    pub fn new_checked(buffer: T) -> Result<Self, Errno> {
        let f = Self::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }
    /// `EINVAL` if the buffer cannot hold the header.
    pub fn check_len(&self) -> Result<(), Errno> {
        if self.buffer.as_ref().len() < ETHER_HDR_LEN {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }
    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
    fn addr(&self, at: usize) -> EtherAddr {
        self.buffer
            .as_ref()
            .get(at..at + ETHER_ADDR_LEN)
            .and_then(|s| EtherAddr::from_bytes(s).ok())
            .unwrap_or_default()
    }
    /// Destination address.
    pub fn dst_addr(&self) -> EtherAddr {
        self.addr(field::DST)
    }
    /// Source address.
    pub fn src_addr(&self) -> EtherAddr {
        self.addr(field::SRC)
    }
    /// EtherType (`ETHERTYPE_*`).
    pub fn ethertype(&self) -> u16 {
        match self.buffer.as_ref().get(field::TYPE..ETHER_HDR_LEN) {
            Some(&[h, l]) => u16::from_be_bytes([h, l]),
            _ => 0,
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> EtherFrame<&'a T> {
    /// Everything after the header.
    pub fn payload(&self) -> &'a [u8] {
        self.buffer.as_ref().get(ETHER_HDR_LEN..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EtherFrame<T> {
    /// Set the destination address.
    pub fn set_dst_addr(&mut self, a: EtherAddr) {
        self.buffer.as_mut()[field::DST..field::DST + ETHER_ADDR_LEN].copy_from_slice(&a.0);
    }
    /// Set the source address.
    pub fn set_src_addr(&mut self, a: EtherAddr) {
        self.buffer.as_mut()[field::SRC..field::SRC + ETHER_ADDR_LEN].copy_from_slice(&a.0);
    }
    /// Set the EtherType.
    pub fn set_ethertype(&mut self, t: u16) {
        self.buffer.as_mut()[field::TYPE..ETHER_HDR_LEN].copy_from_slice(&t.to_be_bytes());
    }
    /// Everything after the header, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        self.buffer
            .as_mut()
            .get_mut(ETHER_HDR_LEN..)
            .unwrap_or(&mut [])
    }
}

/// A parsed Ethernet II header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EtherRepr {
    /// Source address.
    pub src_addr: EtherAddr,
    /// Destination address.
    pub dst_addr: EtherAddr,
    /// EtherType.
    pub ethertype: u16,
}

impl EtherRepr {
    /// Parse a frame's header (`EINVAL` if short).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(frame: &EtherFrame<&T>) -> Result<EtherRepr, Errno> {
        frame.check_len()?;
        Ok(EtherRepr {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            ethertype: frame.ethertype(),
        })
    }
    /// Header length (14).
    pub fn buffer_len(&self) -> usize {
        ETHER_HDR_LEN
    }
    /// Write the header; the payload is the caller's.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut EtherFrame<T>) {
        frame.set_dst_addr(self.dst_addr);
        frame.set_src_addr(self.src_addr);
        frame.set_ethertype(self.ethertype);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vimage_kern::fuzz::{hex, mutate, rounds, Rng};

    #[test]
    fn addr_text() {
        let a: EtherAddr = "40:a:b:c:d:01".parse().unwrap();
        assert_eq!(a, EtherAddr([0x40, 0x0a, 0x0b, 0x0c, 0x0d, 0x01]));
        assert_eq!(a.to_string(), "40:0a:0b:0c:0d:01");
        assert_eq!("40:0a:0b:0c:0d:01".parse::<EtherAddr>(), Ok(a));
        assert_eq!("FF:ff:Ff:fF:ff:ff".parse(), Ok(EtherAddr::BROADCAST));
        for bad in [
            "",
            "40:a:b:c:d",
            "40:a:b:c:d:1:2",
            "40:a:b:c:d:",
            "400:a:b:c:d:1",
            "40:a:b:c:d:g",
            "40-a-b-c-d-1",
            "+4:a:b:c:d:1",
            "40:a:b:c:d:1 ",
        ] {
            assert_eq!(bad.parse::<EtherAddr>(), Err(Errno::EINVAL), "{bad:?}");
        }
    }

    #[test]
    fn addr_kinds_and_mappings() {
        assert!(EtherAddr::BROADCAST.is_broadcast() && EtherAddr::BROADCAST.is_multicast());
        let u = EtherAddr([0x40, 0x0a, 0x0b, 0x0c, 0x0d, 0x01]);
        assert!(u.is_unicast() && !u.is_multicast() && !u.is_local() && !u.is_zero());
        assert!(EtherAddr([0x02, 0, 0, 0, 0, 1]).is_local());
        assert!(EtherAddr::ZERO.is_zero());
        // 224.0.0.251 (mDNS) and 239.255.255.250: the top bit of the second octet drops.
        let m = EtherAddr::from_ipv4_multicast(Ipv4Addr::new(224, 0, 0, 251));
        assert_eq!(m.to_string(), "01:00:5e:00:00:fb");
        let m = EtherAddr::from_ipv4_multicast(Ipv4Addr::new(239, 255, 255, 250));
        assert_eq!(m.to_string(), "01:00:5e:7f:ff:fa");
        assert!(m.is_multicast());
        // ff02::1:ff0c:d01 (a solicited-node group).
        let g: Ipv6Addr = "ff02::1:ff0c:d01".parse().unwrap();
        assert_eq!(
            EtherAddr::from_ipv6_multicast(&g).to_string(),
            "33:33:ff:0c:0d:01"
        );
        assert_eq!(EtherAddr::from_bytes(&[1, 2, 3]), Err(Errno::EINVAL));
    }

    /// A frame captured on Linux `lo`: zero addresses, IPv4, an ICMP echo request.
    const CAPTURED: &str = "000000000000 000000000000 0800\
                            4500002c1a054000400122ca7f0000017f000001\
                            08003a2a1234000176696d6167652d70696e672d30313233";

    #[test]
    fn frame_round_trip() {
        let b = hex(CAPTURED);
        let f = EtherFrame::new_checked(&b[..]).unwrap();
        assert_eq!(f.ethertype(), ETHERTYPE_IP);
        assert_eq!(f.payload().len(), 44);
        assert_eq!(f.payload()[..4], [0x45, 0x00, 0x00, 0x2c]);
        let r = EtherRepr::parse(&f).unwrap();
        assert_eq!(r.dst_addr, EtherAddr::ZERO);

        let r = EtherRepr {
            src_addr: "40:a:b:c:d:1".parse().unwrap(),
            dst_addr: EtherAddr::BROADCAST,
            ethertype: ETHERTYPE_ARP,
        };
        let mut out = vec![0u8; r.buffer_len() + 2];
        let mut f = EtherFrame::new_unchecked(&mut out[..]);
        r.emit(&mut f);
        f.payload_mut().copy_from_slice(&[0xaa, 0xbb]);
        assert_eq!(out, hex("ffffffffffff 400a0b0c0d01 0806 aabb"));
        let f = EtherFrame::new_checked(&out[..]).unwrap();
        assert_eq!(EtherRepr::parse(&f), Ok(r));
        assert_eq!(f.payload(), &[0xaa, 0xbb]);
    }

    /// Frames from a Linux veth pair: an ARP reply to 40:0a:0b:0c:0d:01, and a
    /// neighbour solicitation for fe80::420a:bff:fe0c:d02 (header only).
    const ARP_REPLY: &str = "400a0b0c0d01 400a0b0c0d02 0806\
        0001080006040002400a0b0c0d020a000002400a0b0c0d010a000001";
    const NS_HDR: &str = "3333ff0c0d02 400a0b0c0d01 86dd";

    #[test]
    fn captured_frames() {
        let b = hex(ARP_REPLY);
        let f = EtherFrame::new_checked(&b[..]).unwrap();
        let r = EtherRepr::parse(&f).unwrap();
        assert_eq!(r.dst_addr.to_string(), "40:0a:0b:0c:0d:01");
        assert_eq!(r.src_addr.to_string(), "40:0a:0b:0c:0d:02");
        assert_eq!(r.ethertype, ETHERTYPE_ARP);
        assert_eq!(f.payload().len(), 28);
        let b = hex(NS_HDR);
        let f = EtherFrame::new_checked(&b[..]).unwrap();
        assert_eq!(f.ethertype(), ETHERTYPE_IPV6);
        let group: Ipv6Addr = "ff02::1:ff0c:d02".parse().unwrap();
        assert_eq!(f.dst_addr(), EtherAddr::from_ipv6_multicast(&group));
        assert!(f.payload().is_empty());
    }

    #[test]
    fn truncation() {
        let b = hex(CAPTURED);
        for n in 0..=b.len() {
            match EtherFrame::new_checked(&b[..n]) {
                Ok(f) => {
                    assert!(n >= ETHER_HDR_LEN);
                    assert_eq!(f.payload().len(), n - ETHER_HDR_LEN);
                }
                Err(e) => assert!(n < ETHER_HDR_LEN && e == Errno::EINVAL),
            }
            let u = EtherFrame::new_unchecked(&b[..n]);
            let _ = (u.src_addr(), u.dst_addr(), u.ethertype(), u.payload());
        }
    }

    #[test]
    fn fuzz() {
        let good = hex(CAPTURED);
        let mut rng = Rng::new(0xe7);
        for _ in 0..rounds() {
            let v = mutate(&mut rng, &good, &[(12, 2)]);
            if let Ok(f) = EtherFrame::new_checked(&v[..]) {
                let r = EtherRepr::parse(&f).unwrap();
                let mut out = v.clone();
                r.emit(&mut EtherFrame::new_unchecked(&mut out[..]));
                assert_eq!(out, v);
            }
            // Text: random printable junk around ':' never panics.
            let s: String = v
                .iter()
                .take(20)
                .map(|&c| b"0123456789abcdefgABCDEF:: x-"[usize::from(c) % 28] as char)
                .collect();
            if let Ok(a) = s.parse::<EtherAddr>() {
                assert_eq!(a.to_string().parse::<EtherAddr>(), Ok(a));
            }
        }
    }
}
