//! The UDP header (`struct udphdr`, RFC 768) with its checksum over the IPv4 or
//! IPv6 pseudo header.
//!
//! Over IPv4 a zero checksum means "none"; over IPv6 it is mandatory (RFC 8200
//! 8.1), so a zero there fails verification.  A computed sum of zero is sent as
//! `0xffff`.

use vimage_abi::Errno;

use super::ip::{rd16, sub, sub_mut, wr16, PseudoHdr, IPPROTO_UDP};

/// `sizeof(struct udphdr)`.
pub const UDP_HDR_LEN: usize = 8;

mod field {
    pub const SPORT: usize = 0;
    pub const DPORT: usize = 2;
    pub const ULEN: usize = 4;
    pub const SUM: usize = 6;
}

/// A zero-copy view of a UDP datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wrap `buffer` without checks (accessors then read zeros past the end).
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }
    /// Wrap `buffer`, checking the length field ([`Self::check_len`]).
    pub fn new_checked(buffer: T) -> Result<Self, Errno> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    /// `EINVAL` unless 8 ≤ length field ≤ buffer length.  Bytes past the length
    /// field are ignored.
    pub fn check_len(&self) -> Result<(), Errno> {
        let n = self.buffer.as_ref().len();
        let l = usize::from(self.len());
        if n < UDP_HDR_LEN || l < UDP_HDR_LEN || l > n {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }
    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }
    /// Source port.
    pub fn src_port(&self) -> u16 {
        rd16(self.b(), field::SPORT)
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        rd16(self.b(), field::DPORT)
    }
    /// Length field: header plus payload.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        rd16(self.b(), field::ULEN)
    }
    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        rd16(self.b(), field::SUM)
    }
    /// Whether the checksum is right for these addresses; a zero checksum passes
    /// over IPv4 (none sent) and fails over IPv6.
    pub fn verify_checksum(&self, ph: &PseudoHdr) -> bool {
        if self.checksum() == 0 {
            return !ph.is_v6();
        }
        let l = usize::from(self.len());
        self.b().len() >= l && ph.verify(IPPROTO_UDP, sub(self.b(), 0, l))
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> UdpPacket<&'a T> {
    /// The payload (up to the length field).
    pub fn payload(&self) -> &'a [u8] {
        sub(self.buffer.as_ref(), UDP_HDR_LEN, usize::from(self.len()))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    fn bm(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }
    /// Set the source port.
    pub fn set_src_port(&mut self, v: u16) {
        wr16(self.bm(), field::SPORT, v);
    }
    /// Set the destination port.
    pub fn set_dst_port(&mut self, v: u16) {
        wr16(self.bm(), field::DPORT, v);
    }
    /// Set the length field.
    pub fn set_len(&mut self, v: u16) {
        wr16(self.bm(), field::ULEN, v);
    }
    /// Set the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        wr16(self.bm(), field::SUM, v);
    }
    /// The payload, mutable (up to the length field).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let l = usize::from(self.len());
        sub_mut(self.bm(), UDP_HDR_LEN, l)
    }
    /// Compute and store the checksum over header and payload (as set by the
    /// length field); a zero result is stored as `0xffff`.
    pub fn fill_checksum(&mut self, ph: &PseudoHdr) {
        self.set_checksum(0);
        let l = usize::from(self.len());
        let c = ph.checksum(IPPROTO_UDP, sub(self.b(), 0, l));
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }
}

/// A parsed UDP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload length.
    pub payload_len: usize,
}

impl UdpRepr {
    /// Parse a checked datagram: `EINVAL` if the checksum is wrong for `ph` (or
    /// zero over IPv6).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &UdpPacket<&T>,
        ph: &PseudoHdr,
    ) -> Result<UdpRepr, Errno> {
        packet.check_len()?;
        if !packet.verify_checksum(ph) {
            return Err(Errno::EINVAL);
        }
        Ok(UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload_len: usize::from(packet.len()) - UDP_HDR_LEN,
        })
    }
    /// Datagram length: 8 plus the payload (must fit in 16 bits).
    pub fn buffer_len(&self) -> usize {
        UDP_HDR_LEN + self.payload_len
    }
    /// Write the header and the checksum over the payload already in
    /// `buffer[8..8 + payload_len]`.  To write the payload after, through
    /// [`UdpPacket::payload_mut`], call [`UdpPacket::fill_checksum`] again.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut UdpPacket<T>, ph: &PseudoHdr) {
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(self.buffer_len() as u16);
        packet.fill_checksum(ph);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use vimage_kern::fuzz::{hex, mutate, rounds, Rng};

    const LO4: PseudoHdr = PseudoHdr::V4 {
        src: Ipv4Addr::LOCALHOST,
        dst: Ipv4Addr::LOCALHOST,
    };
    const LO6: PseudoHdr = PseudoHdr::V6 {
        src: Ipv6Addr::LOCALHOST,
        dst: Ipv6Addr::LOCALHOST,
    };

    /// `sendto("hello udp", 127.0.0.1:5353)` captured on Linux `lo`; lo offloads the
    /// sum, so 0xe808 was computed by hand (independently, in Python).
    const UDP4: &str = "db8014e90011e80868656c6c6f20756470";
    /// `sendto("hello udp6", [::1]:5353)`, likewise: sum 0xe2f3.
    const UDP6: &str = "de5e14e90012e2f368656c6c6f2075647036";

    fn emit(r: &UdpRepr, payload: &[u8], ph: &PseudoHdr) -> Vec<u8> {
        let mut out = vec![0u8; r.buffer_len()];
        out[UDP_HDR_LEN..].copy_from_slice(payload);
        r.emit(&mut UdpPacket::new_unchecked(&mut out[..]), ph);
        out
    }

    #[test]
    fn known_answers() {
        for (h, ph) in [(UDP4, LO4), (UDP6, LO6)] {
            let b = hex(h);
            let p = UdpPacket::new_checked(&b[..]).unwrap();
            assert!(p.verify_checksum(&ph));
            assert_eq!(p.dst_port(), 5353);
            let r = UdpRepr::parse(&p, &ph).unwrap();
            assert!(p.payload().starts_with(b"hello udp"));
            assert_eq!(emit(&r, p.payload(), &ph), b);
            // Another pseudo header does not verify.
            let other = if ph.is_v6() { LO4 } else { LO6 };
            assert_eq!(UdpRepr::parse(&p, &other), Err(Errno::EINVAL));
        }
    }

    #[test]
    fn zero_checksum() {
        let mut b = hex(UDP4);
        UdpPacket::new_unchecked(&mut b[..]).set_checksum(0);
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum(&LO4));
        assert!(!p.verify_checksum(&LO6));
        assert!(UdpRepr::parse(&p, &LO4).is_ok());
        assert_eq!(UdpRepr::parse(&p, &LO6), Err(Errno::EINVAL));
        // A payload whose sum comes out 0 is sent as 0xffff: choose payload
        // bytes that cancel everything else.
        let r = UdpRepr {
            src_port: 1,
            dst_port: 2,
            payload_len: 2,
        };
        let base = emit(&r, &[0, 0], &LO4);
        let c = UdpPacket::new_unchecked(&base[..]).checksum();
        let out = emit(&r, &c.to_be_bytes(), &LO4);
        let p = UdpPacket::new_checked(&out[..]).unwrap();
        assert_eq!(p.checksum(), 0xffff);
        assert!(p.verify_checksum(&LO4));
    }

    #[test]
    fn round_trip() {
        let a6: Ipv6Addr = "fe80::420a:bff:fe0c:d01".parse().unwrap();
        let phs = [
            PseudoHdr::V4 {
                src: Ipv4Addr::new(10, 0, 0, 1),
                dst: Ipv4Addr::new(10, 0, 0, 255),
            },
            PseudoHdr::V6 {
                src: a6,
                dst: "ff02::1".parse().unwrap(),
            },
        ];
        for ph in phs {
            for payload in [&b""[..], b"x", b"some payload bytes"] {
                let r = UdpRepr {
                    src_port: 520,
                    dst_port: 65535,
                    payload_len: payload.len(),
                };
                let b = emit(&r, payload, &ph);
                let p = UdpPacket::new_checked(&b[..]).unwrap();
                assert_eq!(UdpRepr::parse(&p, &ph), Ok(r));
                assert_eq!(p.payload(), payload);
            }
        }
        // Emit first, then write the payload and fill the checksum again.
        let r = UdpRepr {
            src_port: 7,
            dst_port: 7,
            payload_len: 3,
        };
        let mut b = vec![0u8; r.buffer_len()];
        let mut p = UdpPacket::new_unchecked(&mut b[..]);
        r.emit(&mut p, &LO4);
        p.payload_mut().copy_from_slice(b"abc");
        p.fill_checksum(&LO4);
        assert_eq!(b, emit(&r, b"abc", &LO4));
    }

    #[test]
    fn malformed_and_truncated() {
        let good = hex(UDP4);
        for n in 0..good.len() {
            assert_eq!(UdpPacket::new_checked(&good[..n]), Err(Errno::EINVAL));
            let u = UdpPacket::new_unchecked(&good[..n]);
            let _ = (
                u.payload(),
                u.verify_checksum(&LO4),
                u.verify_checksum(&LO6),
            );
        }
        for l in [0u16, 7, 18, 0xffff] {
            let mut b = good.clone();
            UdpPacket::new_unchecked(&mut b[..]).set_len(l);
            assert!(UdpPacket::new_checked(&b[..]).is_err(), "len {l}");
        }
        // A shorter length field is fine: the rest is ignored (then fails the sum).
        let mut b = good.clone();
        UdpPacket::new_unchecked(&mut b[..]).set_len(8);
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        assert!(p.payload().is_empty());
        assert_eq!(UdpRepr::parse(&p, &LO4), Err(Errno::EINVAL));
    }

    #[test]
    fn fuzz() {
        let seeds = [(hex(UDP4), LO4), (hex(UDP6), LO6)];
        let mut rng = Rng::new(0x17);
        let mut parsed = 0;
        for i in 0..rounds() {
            let (good, ph) = &seeds[i % 2];
            let mut v = mutate(&mut rng, good, &[(4, 2), (6, 2)]);
            if rng.below(2) == 0 && v.len() >= UDP_HDR_LEN {
                UdpPacket::new_unchecked(&mut v[..]).fill_checksum(ph);
            }
            let Ok(p) = UdpPacket::new_checked(&v[..]) else {
                continue;
            };
            let _ = p.payload();
            if let Ok(r) = UdpRepr::parse(&p, ph) {
                parsed += 1;
                let out = emit(&r, p.payload(), ph);
                let p2 = UdpPacket::new_checked(&out[..]).unwrap();
                assert_eq!(UdpRepr::parse(&p2, ph), Ok(r));
            }
        }
        assert!(parsed > rounds() / 20, "only {parsed} parsed");
    }
}
