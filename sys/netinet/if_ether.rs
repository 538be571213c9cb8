//! ARP for IPv4 over Ethernet (`struct ether_arp`, RFC 826).
//!
//! [`ArpPacket`] is a zero-copy view of the 28-byte message; [`ArpRepr`] accepts
//! only Ethernet/IPv4 requests and replies.

use std::net::Ipv4Addr;
use vimage_abi::Errno;

use super::ip::{rd16, rd_v4, wr16};
use crate::net::ethernet::{EtherAddr, ETHERTYPE_IP, ETHER_ADDR_LEN};

/// `ar_hrd` for Ethernet.
pub const ARPHRD_ETHER: u16 = 1;
/// `ar_op`: request to resolve an address.
pub const ARPOP_REQUEST: u16 = 1;
/// `ar_op`: response to a request.
pub const ARPOP_REPLY: u16 = 2;
/// `sizeof(struct ether_arp)`.
pub const ETHER_ARP_LEN: usize = 28;

mod field {
    pub const HRD: usize = 0;
    pub const PRO: usize = 2;
    pub const HLN: usize = 4;
    pub const PLN: usize = 5;
    pub const OP: usize = 6;
    pub const SHA: usize = 8;
    pub const SPA: usize = 14;
    pub const THA: usize = 18;
    pub const TPA: usize = 24;
}

/// A zero-copy view of an Ethernet/IPv4 ARP message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wrap `buffer` without checks (accessors then read zeros past the end).
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }
    /// Wrap `buffer`; `EINVAL` if shorter than 28 bytes.
    pub fn new_checked(buffer: T) -> Result<Self, Errno> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    /// `EINVAL` if the buffer cannot hold a `struct ether_arp`.
    pub fn check_len(&self) -> Result<(), Errno> {
        if self.buffer.as_ref().len() < ETHER_ARP_LEN {
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
    fn byte(&self, at: usize) -> u8 {
        self.b().get(at).copied().unwrap_or(0)
    }
    fn mac(&self, at: usize) -> EtherAddr {
        self.b()
            .get(at..at + ETHER_ADDR_LEN)
            .and_then(|s| EtherAddr::from_bytes(s).ok())
            .unwrap_or_default()
    }
    /// Hardware type (`ARPHRD_ETHER`).
    pub fn hardware_type(&self) -> u16 {
        rd16(self.b(), field::HRD)
    }
    /// Protocol type (`ETHERTYPE_IP`).
    pub fn protocol_type(&self) -> u16 {
        rd16(self.b(), field::PRO)
    }
    /// Hardware address length (6).
    pub fn hardware_len(&self) -> u8 {
        self.byte(field::HLN)
    }
    /// Protocol address length (4).
    pub fn protocol_len(&self) -> u8 {
        self.byte(field::PLN)
    }
    /// Operation (`ARPOP_*`).
    pub fn operation(&self) -> u16 {
        rd16(self.b(), field::OP)
    }
    /// Sender hardware address.
    pub fn sha(&self) -> EtherAddr {
        self.mac(field::SHA)
    }
    /// Sender protocol address.
    pub fn spa(&self) -> Ipv4Addr {
        rd_v4(self.b(), field::SPA)
    }
    /// Target hardware address.
    pub fn tha(&self) -> EtherAddr {
        self.mac(field::THA)
    }
    /// Target protocol address.
    pub fn tpa(&self) -> Ipv4Addr {
        rd_v4(self.b(), field::TPA)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    fn bm(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }
    /// Set the hardware type.
    pub fn set_hardware_type(&mut self, v: u16) {
        wr16(self.bm(), field::HRD, v);
    }
    /// Set the protocol type.
    pub fn set_protocol_type(&mut self, v: u16) {
        wr16(self.bm(), field::PRO, v);
    }
    /// Set the hardware address length.
    pub fn set_hardware_len(&mut self, v: u8) {
        self.bm()[field::HLN] = v;
    }
    /// Set the protocol address length.
    pub fn set_protocol_len(&mut self, v: u8) {
        self.bm()[field::PLN] = v;
    }
    /// Set the operation.
    pub fn set_operation(&mut self, v: u16) {
        wr16(self.bm(), field::OP, v);
    }
    /// Set the sender hardware address.
    pub fn set_sha(&mut self, a: EtherAddr) {
        self.bm()[field::SHA..field::SHA + 6].copy_from_slice(&a.0);
    }
    /// Set the sender protocol address.
    pub fn set_spa(&mut self, a: Ipv4Addr) {
        self.bm()[field::SPA..field::SPA + 4].copy_from_slice(&a.octets());
    }
    /// Set the target hardware address.
    pub fn set_tha(&mut self, a: EtherAddr) {
        self.bm()[field::THA..field::THA + 6].copy_from_slice(&a.0);
    }
    /// Set the target protocol address.
    pub fn set_tpa(&mut self, a: Ipv4Addr) {
        self.bm()[field::TPA..field::TPA + 4].copy_from_slice(&a.octets());
    }
}

/// An ARP operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArpOp {
    /// `ARPOP_REQUEST`.
    Request,
    /// `ARPOP_REPLY`.
    Reply,
}

/// A parsed Ethernet/IPv4 ARP request or reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpRepr {
    /// Request or reply.
    pub op: ArpOp,
    /// Sender hardware address.
    pub sha: EtherAddr,
    /// Sender protocol address.
    pub spa: Ipv4Addr,
    /// Target hardware address (zero in a request).
    pub tha: EtherAddr,
    /// Target protocol address.
    pub tpa: Ipv4Addr,
}

impl ArpRepr {
    /// Parse a message: `EINVAL` unless it is Ethernet (6-byte) / IPv4 (4-byte) and
    /// a request or reply.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &ArpPacket<&T>) -> Result<ArpRepr, Errno> {
        packet.check_len()?;
        if packet.hardware_type() != ARPHRD_ETHER
            || packet.protocol_type() != ETHERTYPE_IP
            || usize::from(packet.hardware_len()) != ETHER_ADDR_LEN
            || packet.protocol_len() != 4
        {
            return Err(Errno::EINVAL);
        }
        let op = match packet.operation() {
            ARPOP_REQUEST => ArpOp::Request,
            ARPOP_REPLY => ArpOp::Reply,
            _ => return Err(Errno::EINVAL),
        };
        Ok(ArpRepr {
            op,
            sha: packet.sha(),
            spa: packet.spa(),
            tha: packet.tha(),
            tpa: packet.tpa(),
        })
    }
    /// Message length (28).
    pub fn buffer_len(&self) -> usize {
        ETHER_ARP_LEN
    }
    /// Write the whole message.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut ArpPacket<T>) {
        packet.set_hardware_type(ARPHRD_ETHER);
        packet.set_protocol_type(ETHERTYPE_IP);
        packet.set_hardware_len(ETHER_ADDR_LEN as u8);
        packet.set_protocol_len(4);
        packet.set_operation(match self.op {
            ArpOp::Request => ARPOP_REQUEST,
            ArpOp::Reply => ARPOP_REPLY,
        });
        packet.set_sha(self.sha);
        packet.set_spa(self.spa);
        packet.set_tha(self.tha);
        packet.set_tpa(self.tpa);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netinet::ip::fuzz::{hex, mutate, rounds, Rng};

    // Captured on a Linux veth pair between 40:0a:0b:0c:0d:01 and :02.

    /// "who-has 10.0.0.2 tell 10.0.0.1".
    const REQUEST: &str = "0001 0800 06 04 0001 400a0b0c0d01 0a000001 000000000000 0a000002";
    /// "10.0.0.2 is-at 40:0a:0b:0c:0d:02".
    const REPLY: &str = "0001 0800 06 04 0002 400a0b0c0d02 0a000002 400a0b0c0d01 0a000001";

    #[test]
    fn request_bytes() {
        let b = hex(REQUEST);
        let p = ArpPacket::new_checked(&b[..]).unwrap();
        let r = ArpRepr::parse(&p).unwrap();
        assert_eq!(r.op, ArpOp::Request);
        assert_eq!(r.sha.to_string(), "40:0a:0b:0c:0d:01");
        assert_eq!(r.spa, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(r.tha, EtherAddr::ZERO);
        assert_eq!(r.tpa, Ipv4Addr::new(10, 0, 0, 2));
        let mut out = vec![0u8; r.buffer_len()];
        r.emit(&mut ArpPacket::new_unchecked(&mut out[..]));
        assert_eq!(out, b);
    }

    #[test]
    fn reply_bytes() {
        let b = hex(REPLY);
        let r = ArpRepr::parse(&ArpPacket::new_checked(&b[..]).unwrap()).unwrap();
        assert_eq!(r.op, ArpOp::Reply);
        assert_eq!(r.sha.to_string(), "40:0a:0b:0c:0d:02");
        assert_eq!(r.spa, Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(r.tha.to_string(), "40:0a:0b:0c:0d:01");
        let mut out = vec![0u8; r.buffer_len()];
        r.emit(&mut ArpPacket::new_unchecked(&mut out[..]));
        assert_eq!(out, b);
    }

    #[test]
    fn round_trip() {
        for op in [ArpOp::Request, ArpOp::Reply] {
            let r = ArpRepr {
                op,
                sha: "40:a:b:c:d:2".parse().unwrap(),
                spa: Ipv4Addr::new(10, 0, 0, 2),
                tha: "40:a:b:c:d:1".parse().unwrap(),
                tpa: Ipv4Addr::new(10, 0, 0, 1),
            };
            let mut out = vec![0u8; r.buffer_len()];
            r.emit(&mut ArpPacket::new_unchecked(&mut out[..]));
            let p = ArpPacket::new_checked(&out[..]).unwrap();
            assert_eq!(ArpRepr::parse(&p), Ok(r));
        }
    }

    #[test]
    fn malformed() {
        let good = hex(REQUEST);
        for (at, val) in [(1, 6), (3, 0xdd), (4, 8), (5, 16), (7, 3), (7, 0)] {
            let mut b = good.clone();
            b[at] = val;
            let p = ArpPacket::new_checked(&b[..]).unwrap();
            assert_eq!(ArpRepr::parse(&p), Err(Errno::EINVAL), "byte {at} = {val}");
        }
    }

    #[test]
    fn truncation() {
        let good = hex(REQUEST);
        for n in 0..good.len() {
            assert_eq!(ArpPacket::new_checked(&good[..n]), Err(Errno::EINVAL));
            let u = ArpPacket::new_unchecked(&good[..n]);
            let _ = (u.sha(), u.spa(), u.tha(), u.tpa(), u.operation());
        }
    }

    #[test]
    fn fuzz() {
        let seeds = [hex(REQUEST), hex(REPLY)];
        let mut rng = Rng::new(0xa2);
        let mut parsed = 0;
        for i in 0..rounds() {
            let v = mutate(&mut rng, &seeds[i % 2], &[(4, 1), (5, 1), (6, 2)]);
            let Ok(p) = ArpPacket::new_checked(&v[..]) else {
                continue;
            };
            if let Ok(r) = ArpRepr::parse(&p) {
                parsed += 1;
                let mut out = vec![0u8; r.buffer_len()];
                r.emit(&mut ArpPacket::new_unchecked(&mut out[..]));
                assert_eq!(out[..], v[..ETHER_ARP_LEN]);
            }
        }
        assert!(parsed > rounds() / 20, "only {parsed} parsed");
    }
}
