//! A packet buffer with headroom (the mbuf idea): headers are prepended in place and
//! stripped by moving the start offset, so a packet crosses layers without copying.

/// Default headroom reserved in front of a new packet: room for Ethernet + 802.1Q +
/// IPv6 + TCP headers.
pub const MBUF_HEADROOM: usize = 128;

/// `csum_flags`: the transport checksum is not computed yet (`CSUM_TCP`,
/// `CSUM_UDP`); `csum_data` holds the offset of its field within the
/// transport header, which starts right after the IP header.
pub const CSUM_DELAY_DATA: u32 = 0x0001;
/// `csum_flags`: the transport checksum needs no check (`CSUM_DATA_VALID |
/// CSUM_PSEUDO_HDR`): the packet never left this host's memory.
pub const CSUM_DATA_VALID: u32 = 0x0400;

/// One packet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mbuf {
    buf: Vec<u8>,
    start: usize,
    /// `m_pkthdr.csum_flags` (`CSUM_*`).
    pub csum_flags: u32,
    /// `m_pkthdr.csum_data`: see [`CSUM_DELAY_DATA`].
    pub csum_data: u32,
}

impl Mbuf {
    /// A packet holding a copy of `data`, with the default headroom.
    pub fn from_slice(data: &[u8]) -> Self {
        let mut buf = Vec::with_capacity(MBUF_HEADROOM + data.len());
        buf.resize(MBUF_HEADROOM, 0);
        buf.extend_from_slice(data);
        Mbuf {
            buf,
            start: MBUF_HEADROOM,
            ..Mbuf::default()
        }
    }
    /// Take ownership of `v` as a packet starting `start` bytes in (what is
    /// before is headroom).
    pub fn from_vec_at(v: Vec<u8>, start: usize) -> Self {
        let start = start.min(v.len());
        Mbuf {
            buf: v,
            start,
            ..Mbuf::default()
        }
    }
    /// Take ownership of `v` as packet data (no headroom).
    pub fn from_vec(v: Vec<u8>) -> Self {
        Mbuf {
            buf: v,
            start: 0,
            ..Mbuf::default()
        }
    }
    /// The packet's bytes.
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..]
    }
    /// The packet's bytes, mutable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..]
    }
    /// Packet length.
    pub fn len(&self) -> usize {
        self.buf.len() - self.start
    }
    /// Whether the packet is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Drop `n` bytes from the front (`m_adj`); false if the packet is shorter.
    pub fn adj(&mut self, n: usize) -> bool {
        if n > self.len() {
            return false;
        }
        self.start += n;
        true
    }
    /// Make room for `n` bytes in front (`M_PREPEND`) and return them, zeroed.
    pub fn prepend(&mut self, n: usize) -> &mut [u8] {
        if self.start < n {
            let grow = n - self.start + MBUF_HEADROOM;
            let mut nb = vec![0u8; grow];
            nb.extend_from_slice(&self.buf);
            self.buf = nb;
            self.start += grow;
        }
        self.start -= n;
        let s = &mut self.buf[self.start..self.start + n];
        s.fill(0);
        s
    }
    /// Cut the packet to `n` bytes.
    pub fn truncate(&mut self, n: usize) {
        self.buf.truncate(self.start + n);
    }
    /// The packet's bytes as an owned vector (copies only when there is headroom).
    pub fn into_vec(mut self) -> Vec<u8> {
        if self.start == 0 {
            self.buf
        } else {
            self.buf.drain(..self.start);
            self.buf
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepend_and_adj() {
        let mut m = Mbuf::from_slice(b"payload");
        m.prepend(4).copy_from_slice(b"hdr:");
        assert_eq!(m.data(), b"hdr:payload");
        assert!(m.adj(4));
        assert_eq!(m.data(), b"payload");
        assert!(!m.adj(100));
        let mut m = Mbuf::from_vec(b"x".to_vec());
        m.prepend(200)[0] = 1;
        assert_eq!(m.len(), 201);
        m.truncate(1);
        assert_eq!(m.into_vec(), vec![1]);
    }
}
