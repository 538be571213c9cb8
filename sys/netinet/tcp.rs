//! The TCP header (`struct tcphdr`, RFC 9293) and a walk of its options; the
//! protocol machine lives elsewhere.
//!
//! [`TcpPacket`] views a whole segment; its checksum covers the segment and the
//! IPv4 or IPv6 pseudo header ([`PseudoHdr`]).

use vimage_abi::Errno;

use super::ip::{rd16, rd32, sub, sub_mut, wr16, wr32, PseudoHdr, IPPROTO_TCP};

/// `sizeof(struct tcphdr)`: a header without options.
pub const TCP_HDR_LEN: usize = 20;
/// Largest header (data offset 15).
pub const TCP_MAX_HDR_LEN: usize = 60;
/// Most option bytes a header holds.
pub const TCP_MAXOLEN: usize = TCP_MAX_HDR_LEN - TCP_HDR_LEN;

/// No more data from sender.
pub const TH_FIN: u8 = 0x01;
/// Synchronize sequence numbers.
pub const TH_SYN: u8 = 0x02;
/// Reset the connection.
pub const TH_RST: u8 = 0x04;
/// Push.
pub const TH_PUSH: u8 = 0x08;
/// Acknowledgment field significant.
pub const TH_ACK: u8 = 0x10;
/// Urgent pointer significant.
pub const TH_URG: u8 = 0x20;
/// ECN echo.
pub const TH_ECE: u8 = 0x40;
/// Congestion window reduced.
pub const TH_CWR: u8 = 0x80;

/// Option: end of list.
pub const TCPOPT_EOL: u8 = 0;
/// Option: no operation (padding).
pub const TCPOPT_NOP: u8 = 1;
/// Option: maximum segment size (4 bytes).
pub const TCPOPT_MAXSEG: u8 = 2;
/// Option: window scale (3 bytes).
pub const TCPOPT_WINDOW: u8 = 3;
/// Option: SACK permitted (2 bytes).
pub const TCPOPT_SACK_PERMITTED: u8 = 4;
/// Option: SACK blocks.
pub const TCPOPT_SACK: u8 = 5;
/// Option: timestamps (10 bytes).
pub const TCPOPT_TIMESTAMP: u8 = 8;

mod field {
    pub const SPORT: usize = 0;
    pub const DPORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WIN: usize = 14;
    pub const SUM: usize = 16;
    pub const URP: usize = 18;
}

/// A zero-copy view of a TCP segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wrap `buffer` without checks (accessors then read zeros past the end).
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }
    /// Wrap `buffer`, checking the data offset ([`Self::check_len`]).
    pub fn new_checked(buffer: T) -> Result<Self, Errno> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    /// `EINVAL` unless 20 ≤ header length ≤ buffer length.  The segment is the
    /// whole buffer.
    pub fn check_len(&self) -> Result<(), Errno> {
        let n = self.buffer.as_ref().len();
        let hl = self.header_len();
        if n < TCP_HDR_LEN || hl < TCP_HDR_LEN || hl > n {
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
    /// Source port.
    pub fn src_port(&self) -> u16 {
        rd16(self.b(), field::SPORT)
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        rd16(self.b(), field::DPORT)
    }
    /// Sequence number.
    pub fn seq_number(&self) -> u32 {
        rd32(self.b(), field::SEQ)
    }
    /// Acknowledgment number.
    pub fn ack_number(&self) -> u32 {
        rd32(self.b(), field::ACK)
    }
    /// Header length in bytes (data offset × 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.byte(field::OFF) >> 4) * 4
    }
    /// The flag bits (`TH_*`).
    pub fn flags(&self) -> u8 {
        self.byte(field::FLAGS)
    }
    /// Window.
    pub fn window(&self) -> u16 {
        rd16(self.b(), field::WIN)
    }
    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        rd16(self.b(), field::SUM)
    }
    /// Urgent pointer.
    pub fn urgent(&self) -> u16 {
        rd16(self.b(), field::URP)
    }
    /// The option bytes.
    pub fn options(&self) -> &[u8] {
        sub(self.b(), TCP_HDR_LEN, self.header_len())
    }
    /// Whether the checksum over the whole segment is right for these addresses.
    pub fn verify_checksum(&self, ph: &PseudoHdr) -> bool {
        ph.verify(IPPROTO_TCP, self.b())
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> TcpPacket<&'a T> {
    /// The data after the header.
    pub fn payload(&self) -> &'a [u8] {
        let b = self.buffer.as_ref();
        sub(b, self.header_len(), b.len())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
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
    /// Set the sequence number.
    pub fn set_seq_number(&mut self, v: u32) {
        wr32(self.bm(), field::SEQ, v);
    }
    /// Set the acknowledgment number.
    pub fn set_ack_number(&mut self, v: u32) {
        wr32(self.bm(), field::ACK, v);
    }
    /// Set the header length in bytes (a multiple of 4, at most 60); clears the
    /// reserved bits.
    pub fn set_header_len(&mut self, len: usize) {
        self.bm()[field::OFF] = ((len / 4) as u8 & 0x0f) << 4;
    }
    /// Set the flag bits.
    pub fn set_flags(&mut self, v: u8) {
        self.bm()[field::FLAGS] = v;
    }
    /// Set the window.
    pub fn set_window(&mut self, v: u16) {
        wr16(self.bm(), field::WIN, v);
    }
    /// Set the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        wr16(self.bm(), field::SUM, v);
    }
    /// Set the urgent pointer.
    pub fn set_urgent(&mut self, v: u16) {
        wr16(self.bm(), field::URP, v);
    }
    /// The option bytes, mutable.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        sub_mut(self.bm(), TCP_HDR_LEN, hl)
    }
    /// The data after the header, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        let b = self.bm();
        let n = b.len();
        sub_mut(b, hl, n)
    }
    /// Compute and store the checksum over the whole segment.
    pub fn fill_checksum(&mut self, ph: &PseudoHdr) {
        self.set_checksum(0);
        let c = ph.checksum(IPPROTO_TCP, self.b());
        self.set_checksum(c);
    }
}

/// One TCP option: its kind and the bytes after kind and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpOption<'a> {
    /// Kind (`TCPOPT_*`).
    pub kind: u8,
    /// Value (empty for NOP).
    pub data: &'a [u8],
}

/// Walk of an options area: stops at EOL or the end; an option whose length is
/// under 2 or runs past the end yields one `EINVAL` and ends the walk.
#[derive(Clone, Debug)]
pub struct TcpOptions<'a> {
    rest: &'a [u8],
}

impl<'a> TcpOptions<'a> {
    /// Walk `options` (e.g. [`TcpPacket::options`]).
    pub fn new(options: &'a [u8]) -> Self {
        TcpOptions { rest: options }
    }
}

impl<'a> Iterator for TcpOptions<'a> {
    type Item = Result<TcpOption<'a>, Errno>;
    fn next(&mut self) -> Option<Self::Item> {
        let (&kind, after) = self.rest.split_first()?;
        match kind {
            TCPOPT_EOL => {
                self.rest = &[];
                None
            }
            TCPOPT_NOP => {
                self.rest = after;
                Some(Ok(TcpOption { kind, data: &[] }))
            }
            _ => {
                let len = usize::from(after.first().copied().unwrap_or(0));
                match self.rest.get(2..len) {
                    Some(data) if len >= 2 => {
                        self.rest = sub(self.rest, len, self.rest.len());
                        Some(Ok(TcpOption { kind, data }))
                    }
                    _ => {
                        self.rest = &[];
                        Some(Err(Errno::EINVAL))
                    }
                }
            }
        }
    }
}

/// A parsed TCP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Flags (`TH_*`).
    pub flags: u8,
    /// Window.
    pub window: u16,
    /// Urgent pointer.
    pub urgent: u16,
    /// Option bytes (at most 40; padded with EOL to a multiple of 4 on emit).
    pub options: &'a [u8],
    /// Data length.
    pub payload_len: usize,
}

impl<'a> TcpRepr<'a> {
    /// Parse a checked segment: `EINVAL` if the checksum is wrong for `ph`.
    /// Options are kept raw; walk them with [`TcpOptions`].
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &TcpPacket<&'a T>,
        ph: &PseudoHdr,
    ) -> Result<Self, Errno> {
        packet.check_len()?;
        if !packet.verify_checksum(ph) {
            return Err(Errno::EINVAL);
        }
        let b: &'a [u8] = packet.buffer.as_ref();
        let hl = packet.header_len();
        Ok(TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq: packet.seq_number(),
            ack: packet.ack_number(),
            flags: packet.flags(),
            window: packet.window(),
            urgent: packet.urgent(),
            options: sub(b, TCP_HDR_LEN, hl),
            payload_len: b.len() - hl,
        })
    }
    /// Header length: 20 plus the options rounded up to 4.
    pub fn header_len(&self) -> usize {
        TCP_HDR_LEN + self.options.len().div_ceil(4) * 4
    }
    /// Segment length: header plus data.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload_len
    }
    /// Write the header and options, and the checksum over the data already in
    /// place after the header (the buffer must be exactly [`Self::buffer_len`]).
    /// To write the data after, call [`TcpPacket::fill_checksum`] again.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut TcpPacket<T>, ph: &PseudoHdr) {
        self.emit_header(packet);
        packet.fill_checksum(ph);
    }
    /// Write the header and options only, leaving the checksum field zero (for
    /// a checksum computed later, `CSUM_TCP`).
    pub fn emit_header<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut TcpPacket<T>) {
        packet.set_checksum(0);
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq_number(self.seq);
        packet.set_ack_number(self.ack);
        packet.set_header_len(self.header_len());
        packet.set_flags(self.flags);
        packet.set_window(self.window);
        packet.set_urgent(self.urgent);
        let o = packet.options_mut();
        o.fill(TCPOPT_EOL);
        o[..self.options.len()].copy_from_slice(self.options);
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

    /// Linux's RST|ACK for a SYN to a closed port, captured on `lo`: a real sum.
    const RST: &str = "176f98b8000000001dac8bf85014000058020000";
    /// The SYN it answered (MSS, SACK-permitted, timestamps, NOP, window scale);
    /// lo offloads the sum, so 0xc6d2 was computed by hand (in Python).
    const SYN: &str = "e126176f654b048300000000a002ffd7c6d20000\
                       0204ffd70402080aad627965000000000103030a";

    fn emit(r: &TcpRepr, payload: &[u8], ph: &PseudoHdr) -> Vec<u8> {
        let mut out = vec![0u8; r.buffer_len()];
        out[r.header_len()..].copy_from_slice(payload);
        r.emit(&mut TcpPacket::new_unchecked(&mut out[..]), ph);
        out
    }

    #[test]
    fn captured_rst() {
        let b = hex(RST);
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum(&LO4));
        assert_eq!(p.flags(), TH_RST | TH_ACK);
        assert_eq!(p.ack_number(), 0x1dac_8bf8);
        let r = TcpRepr::parse(&p, &LO4).unwrap();
        assert_eq!(r.window, 0);
        assert_eq!(emit(&r, &[], &LO4), b);
    }

    #[test]
    fn syn_options() {
        let b = hex(SYN);
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        let r = TcpRepr::parse(&p, &LO4).unwrap();
        assert_eq!(r.flags, TH_SYN);
        assert_eq!(p.header_len(), 40);
        let opts: Vec<_> = TcpOptions::new(r.options).map(|o| o.unwrap()).collect();
        let kinds: Vec<u8> = opts.iter().map(|o| o.kind).collect();
        assert_eq!(
            kinds,
            [
                TCPOPT_MAXSEG,
                TCPOPT_SACK_PERMITTED,
                TCPOPT_TIMESTAMP,
                TCPOPT_NOP,
                TCPOPT_WINDOW
            ]
        );
        assert_eq!(opts[0].data, &[0xff, 0xd7]); // MSS 65495
        assert_eq!(opts[4].data, &[10]); // window scale 10
        assert_eq!(emit(&r, &[], &LO4), b);
    }

    #[test]
    fn option_walk_errors() {
        let bad: [&[u8]; 4] = [&[2], &[2, 0], &[2, 1, 0], &[3, 4, 1]];
        for o in bad {
            let v: Vec<_> = TcpOptions::new(o).collect();
            assert_eq!(v, [Err(Errno::EINVAL)], "{o:?}");
        }
        let v: Vec<_> = TcpOptions::new(&[1, 0, 2, 0]).collect();
        assert_eq!(v.len(), 1); // NOP, then EOL ends the walk
        assert_eq!(TcpOptions::new(&[]).count(), 0);
    }

    #[test]
    fn round_trip() {
        let ph6 = PseudoHdr::V6 {
            src: "2001:db8::1".parse::<Ipv6Addr>().unwrap(),
            dst: "2001:db8::2".parse::<Ipv6Addr>().unwrap(),
        };
        for ph in [LO4, ph6] {
            let r = TcpRepr {
                src_port: 1023,
                dst_port: 22,
                seq: 0xffff_fff0,
                ack: 1,
                flags: TH_PUSH | TH_ACK | TH_URG,
                window: 65535,
                urgent: 3,
                options: &[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2],
                payload_len: 5,
            };
            let b = emit(&r, b"hello", &ph);
            let p = TcpPacket::new_checked(&b[..]).unwrap();
            assert_eq!(TcpRepr::parse(&p, &ph), Ok(r));
            assert_eq!(p.payload(), b"hello");
        }
        // Options are padded to a multiple of 4.
        let r = TcpRepr {
            src_port: 1,
            dst_port: 2,
            seq: 0,
            ack: 0,
            flags: TH_SYN,
            window: 0,
            urgent: 0,
            options: &[3, 3, 7],
            payload_len: 0,
        };
        let b = emit(&r, &[], &LO4);
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.options(), &[3, 3, 7, 0]);
    }

    #[test]
    fn malformed_and_truncated() {
        let good = hex(SYN);
        for n in 0..good.len() {
            // Every prefix is shorter than the 40-byte header it announces.
            assert_eq!(TcpPacket::new_checked(&good[..n]), Err(Errno::EINVAL));
            let u = TcpPacket::new_unchecked(&good[..n]);
            let _ = (u.options(), u.payload(), u.verify_checksum(&LO4));
        }
        for off in [0x00u8, 0x40, 0xb0, 0xf0] {
            let mut b = good.clone();
            b[12] = off;
            assert!(TcpPacket::new_checked(&b[..]).is_err(), "off {off:#x}");
        }
        let mut b = good.clone();
        b[5] ^= 1;
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(TcpRepr::parse(&p, &LO4), Err(Errno::EINVAL));
    }

    #[test]
    fn fuzz() {
        let seeds = [hex(SYN), hex(RST)];
        let mut rng = Rng::new(0x7c9);
        let mut parsed = 0;
        for i in 0..rounds() {
            let mut v = mutate(&mut rng, &seeds[i % 2], &[(12, 1)]);
            if rng.below(2) == 0 && v.len() >= TCP_HDR_LEN {
                TcpPacket::new_unchecked(&mut v[..]).fill_checksum(&LO4);
            }
            let Ok(p) = TcpPacket::new_checked(&v[..]) else {
                continue;
            };
            for o in TcpOptions::new(p.options()) {
                let _ = o.map(|o| o.data.len());
            }
            if let Ok(r) = TcpRepr::parse(&p, &LO4) {
                parsed += 1;
                let out = emit(&r, p.payload(), &LO4);
                let p2 = TcpPacket::new_checked(&out[..]).unwrap();
                assert_eq!(TcpRepr::parse(&p2, &LO4), Ok(r));
            }
        }
        assert!(parsed > rounds() / 20, "only {parsed} parsed");
    }
}
