//! mbufs (`sys/sys/mbuf.h`, `sys/kern/uipc_mbuf.c`): a packet buffer with headroom (the mbuf idea): headers are prepended in place and
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

/// `csum_flags`: a TCP segment longer than the MTU, to be cut into segments
/// of `tso_segsz` bytes of data on the way out (TCP segmentation offload,
/// FreeBSD 7's `CSUM_TSO`).  Only interfaces whose `if_hwassist` has it get
/// such a packet; an eiface passes it whole to its peer, as a veth does.
pub const CSUM_TSO: u32 = 0x0020;

/// `csum_flags` bits that say work is still to be done on the packet before
/// it may leave this host's memory.
pub const CSUM_OFFLOAD: u32 = CSUM_DELAY_DATA | CSUM_TSO;

/// Largest buffer kept for reuse (`MJUM16BYTES`): bigger ones go back to
/// the allocator.
pub const MBUF_POOL_MAXBUF: usize = 16 * 1024 + MBUF_HEADROOM;
/// Bytes of buffers one thread keeps for reuse at most: enough for a burst
/// of full-size frames, small enough that vkernel's many threads (one per
/// door connection) cannot sit on much memory between them.
pub const MBUF_POOL_BYTES: usize = 128 << 10;

/// A thread's spare packet buffers (FreeBSD's per-CPU UMA caches of mbuf
/// clusters): a packet freed on a thread gives its buffer to the next one
/// made there, so forwarding a datagram allocates nothing in the steady
/// state.  Bounded in bytes; a thread that only frees keeps at most that.
struct Pool {
    free: Vec<Vec<u8>>,
    bytes: usize,
}

thread_local! {
    static POOL: std::cell::RefCell<Pool> = const {
        std::cell::RefCell::new(Pool { free: Vec::new(), bytes: 0 })
    };
}

/// An empty buffer with room for at least `cap` bytes: a spare one if the
/// thread has one big enough on top, else a new one.
fn buf_get(cap: usize) -> Vec<u8> {
    // (try_with: a packet may be made or freed while the thread's locals
    // are being torn down.)
    let b = POOL
        .try_with(|p| {
            let mut p = p.try_borrow_mut().ok()?;
            if p.free.last()?.capacity() < cap {
                return None;
            }
            let b = p.free.pop()?;
            p.bytes -= b.capacity();
            Some(b)
        })
        .ok()
        .flatten();
    match b {
        Some(mut b) => {
            b.clear();
            b
        }
        None => Vec::with_capacity(cap.max(256)),
    }
}

/// Give `b` back for reuse (or to the allocator).
fn buf_put(b: Vec<u8>) {
    let cap = b.capacity();
    if !(256..=MBUF_POOL_MAXBUF).contains(&cap) {
        return;
    }
    // (Dropped here if the pool is full, busy or gone.)
    let _ = POOL.try_with(|p| {
        let Ok(mut p) = p.try_borrow_mut() else {
            return;
        };
        if p.bytes + cap <= MBUF_POOL_BYTES {
            p.bytes += cap;
            p.free.push(b);
        }
    });
}

/// Spare buffers on this thread: (count, bytes).
pub fn mbuf_pool_stats() -> (usize, usize) {
    POOL.try_with(|p| {
        p.try_borrow()
            .map(|p| (p.free.len(), p.bytes))
            .unwrap_or((0, 0))
    })
    .unwrap_or((0, 0))
}

/// One packet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mbuf {
    buf: Vec<u8>,
    start: usize,
    /// `m_pkthdr.csum_flags` (`CSUM_*`).
    pub csum_flags: u32,
    /// `m_pkthdr.csum_data`: see [`CSUM_DELAY_DATA`].
    pub csum_data: u32,
    /// `m_pkthdr.tso_segsz`: data bytes per segment of a [`CSUM_TSO`] packet.
    pub tso_segsz: u16,
}

impl Mbuf {
    /// A packet holding a copy of `data`, with the default headroom.
    pub fn from_slice(data: &[u8]) -> Self {
        let mut buf = buf_get(MBUF_HEADROOM + data.len());
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
    /// Open `n` zeroed bytes at offset `off` by moving the first `off` bytes
    /// into the headroom (how a VLAN tag goes in after the MAC addresses);
    /// `None` if the packet is shorter than `off`.
    pub fn open_gap(&mut self, off: usize, n: usize) -> Option<&mut [u8]> {
        if off > self.len() {
            return None;
        }
        self.prepend(n);
        let d = self.data_mut();
        d.copy_within(n..n + off, 0);
        let g = &mut d[off..off + n];
        g.fill(0);
        Some(g)
    }
    /// Remove `n` bytes at offset `off` by moving the first `off` bytes over
    /// them (a VLAN tag coming out); false if the packet is shorter.
    pub fn close_gap(&mut self, off: usize, n: usize) -> bool {
        if off + n > self.len() {
            return false;
        }
        self.data_mut().copy_within(0..off, n);
        self.adj(n)
    }
    /// What a virtual interface does with the header of a frame it receives
    /// from another (an eiface from its peer): work the sender left undone
    /// ([`CSUM_OFFLOAD`]) means the frame never left memory, so its data is
    /// valid as it stands ([`CSUM_DATA_VALID`], as a NIC's receive offload
    /// says) and a TSO segment is taken whole; the undone work stays marked,
    /// so a stack forwarding it on still finishes it where it leaves.  Any
    /// other frame is checked by the stack.
    pub fn offload_input(&mut self) {
        self.csum_flags = if self.csum_flags & CSUM_OFFLOAD != 0 {
            (self.csum_flags & CSUM_OFFLOAD) | CSUM_DATA_VALID
        } else {
            0
        };
    }
    /// Cut the packet to `n` bytes.
    pub fn truncate(&mut self, n: usize) {
        self.buf.truncate(self.start + n);
    }
    /// The packet's bytes as an owned vector (copies only when there is headroom).
    pub fn into_vec(mut self) -> Vec<u8> {
        let mut b = std::mem::take(&mut self.buf);
        if self.start != 0 {
            b.drain(..self.start);
        }
        b
    }
    /// The whole buffer, headroom included, for reuse as storage (its
    /// contents are of no further interest): no copy, whatever the offset.
    pub fn into_storage(mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
    /// An empty packet whose buffer holds at least `cap` bytes, no headroom
    /// (a spare buffer of the thread's when one fits).
    pub fn with_capacity(cap: usize) -> Self {
        Mbuf::from_vec(buf_get(cap))
    }
    /// Bytes of storage the packet pins (`MSIZE` plus its cluster's size,
    /// what FreeBSD counts in `sb_mbcnt`): its buffer's capacity.
    pub fn storage(&self) -> usize {
        self.buf.capacity()
    }
    /// Room after the data (`M_TRAILINGSPACE`) within the buffer as
    /// allocated.
    pub fn trailing_space(&self) -> usize {
        self.buf.capacity() - self.buf.len()
    }
    /// Copy as much of `data` as fits in the trailing space onto the end
    /// (never reallocating, so the storage stays what was counted); how many
    /// bytes were taken.
    pub fn append_within(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.trailing_space());
        self.buf.extend_from_slice(&data[..n]);
        n
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        buf_put(std::mem::take(&mut self.buf));
    }
}

impl From<Vec<u8>> for Mbuf {
    fn from(v: Vec<u8>) -> Self {
        Mbuf::from_vec(v)
    }
}

impl From<&[u8]> for Mbuf {
    fn from(v: &[u8]) -> Self {
        Mbuf::from_slice(v)
    }
}

mod chain;
pub use chain::MbufChain;

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

    #[test]
    fn freed_buffers_are_reused_on_the_thread_within_a_bound() {
        std::thread::spawn(|| {
            assert_eq!(mbuf_pool_stats(), (0, 0));
            let m = Mbuf::from_slice(&[7u8; 1000]);
            let p = m.data().as_ptr();
            drop(m);
            assert_eq!(mbuf_pool_stats().0, 1);
            // The next packet of that size gets the same buffer, clean.
            let m = Mbuf::from_slice(&[1u8; 900]);
            assert_eq!(m.data().as_ptr(), p);
            assert_eq!(m.data(), &[1u8; 900][..]);
            assert_eq!(mbuf_pool_stats().0, 0);
            drop(m);
            // A bigger one than the spare gets a new buffer.
            let big = Mbuf::from_slice(&[0u8; 4000]);
            assert_ne!(big.data().as_ptr(), p);
            drop(big);
            // Bounded: a flood of frees keeps at most MBUF_POOL_BYTES.
            let many: Vec<Mbuf> = (0..2000).map(|_| Mbuf::from_slice(&[0u8; 1400])).collect();
            drop(many);
            let (_, bytes) = mbuf_pool_stats();
            assert!(bytes <= MBUF_POOL_BYTES, "{bytes}");
            // into_vec hands the buffer out instead.
            let v = Mbuf::from_slice(b"abc").into_vec();
            assert_eq!(v, b"abc");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn gaps() {
        let mut m = Mbuf::from_slice(b"abcdefXY");
        m.open_gap(6, 2).unwrap().copy_from_slice(b"--");
        assert_eq!(m.data(), b"abcdef--XY");
        assert!(m.close_gap(6, 2));
        assert_eq!(m.data(), b"abcdefXY");
        assert!(m.open_gap(9, 1).is_none());
        assert!(!m.close_gap(7, 2));
        let mut m = Mbuf::from_vec(b"ab".to_vec());
        m.open_gap(1, 3).unwrap()[0] = b'x';
        assert_eq!(m.data(), b"ax\0\0b");
    }
}
