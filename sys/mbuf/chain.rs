//! Chains of mbufs (`m_next`, as a socket buffer holds them): data kept in
//! the buffers it arrived in, so a segment received or a frame written by a
//! process is queued without being copied, and handed on as a list of slices
//! (one `writev`).  Cutting a chain inside an mbuf (`m_split`) shares that
//! mbuf's buffer between the two parts, as FreeBSD's clusters are shared
//! through their reference count (`ext_count`), instead of copying either.

use std::collections::VecDeque;
use std::sync::Arc;

use super::Mbuf;

/// One link of a chain: an mbuf of its own, or `len` bytes at `off` in the
/// data of an mbuf other links share.
#[derive(Debug)]
enum Link {
    Own(Mbuf),
    Ref {
        m: Arc<Mbuf>,
        off: usize,
        len: usize,
    },
}

impl Link {
    fn data(&self) -> &[u8] {
        match self {
            Link::Own(m) => m.data(),
            Link::Ref { m, off, len } => m.data().get(*off..*off + *len).unwrap_or(&[]),
        }
    }
    fn len(&self) -> usize {
        match self {
            Link::Own(m) => m.len(),
            Link::Ref { len, .. } => *len,
        }
    }
    /// Storage it pins: a shared buffer counts whole for every link that
    /// refers to it (as each mbuf on a cluster counts the cluster).
    fn storage(&self) -> usize {
        match self {
            Link::Own(m) => m.storage(),
            Link::Ref { m, .. } => m.storage(),
        }
    }
    /// Drop `n` (at most its length) bytes from the front.
    fn adj(&mut self, n: usize) {
        match self {
            Link::Own(m) => {
                m.adj(n);
            }
            Link::Ref { off, len, .. } => {
                let n = n.min(*len);
                *off += n;
                *len -= n;
            }
        }
    }
    /// Cut after `n` bytes (`0 < n < len`): both parts refer to the one
    /// buffer, nothing is copied.
    fn split(self, n: usize) -> (Link, Link) {
        let (m, off, len) = match self {
            Link::Own(m) => {
                let len = m.len();
                (Arc::new(m), 0, len)
            }
            Link::Ref { m, off, len } => (m, off, len),
        };
        let head = Link::Ref {
            m: m.clone(),
            off,
            len: n,
        };
        (
            head,
            Link::Ref {
                m,
                off: off + n,
                len: len - n,
            },
        )
    }
}

/// Data shorter than this is copied into the last mbuf's trailing space when
/// it fits (`sbcompress`, FreeBSD's `MCLBYTES / 4` rule), so a stream of tiny
/// writes does not pin a buffer per byte or two.
pub const SB_COMPRESS_MAX: usize = 2048;

/// Smallest buffer a copy into the chain starts (`MCLBYTES`): small appends
/// share it through [`MbufChain::append_slice`]'s compaction.
const SB_CHUNK_MIN: usize = 2048;
/// Largest buffer a copy into the chain starts (`MJUM16BYTES`, the largest
/// one the mbuf pool keeps).
const SB_CHUNK_MAX: usize = 16 * 1024;

/// A chain of mbufs holding a byte stream: `sb_cc` bytes in `sb_mbcnt`
/// bytes of storage.
#[derive(Debug, Default)]
pub struct MbufChain {
    q: VecDeque<Link>,
    cc: usize,
    mbcnt: usize,
}

impl MbufChain {
    /// An empty chain (allocates nothing).
    pub const fn new() -> Self {
        MbufChain {
            q: VecDeque::new(),
            cc: 0,
            mbcnt: 0,
        }
    }

    /// A chain of one mbuf (none when it is empty).
    pub fn from_mbuf(m: Mbuf) -> Self {
        let mut c = MbufChain::new();
        c.append(m);
        c
    }

    /// Bytes of data (`sb_cc`, `m_length`).
    pub fn len(&self) -> usize {
        self.cc
    }

    /// Whether it holds no data.
    pub fn is_empty(&self) -> bool {
        self.cc == 0
    }

    /// Bytes of storage its mbufs pin (`sb_mbcnt`).
    pub fn mbcnt(&self) -> usize {
        self.mbcnt
    }

    /// Number of mbufs.
    pub fn count(&self) -> usize {
        self.q.len()
    }

    /// The data, one slice per mbuf, in order (what a `writev` takes).
    pub fn slices(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.q.iter().map(|l| l.data())
    }

    /// `sbappendstream`: put `m` at the end.  Short data that fits in the
    /// last mbuf's trailing space is copied there and `m` freed
    /// (`sbcompress`); anything else is linked as it is, no copy.
    pub fn append(&mut self, m: Mbuf) {
        self.append_link(Link::Own(m));
    }

    /// `sbappendstream` of a chain: its links moved onto the end, short ones
    /// compacted into the last mbuf's trailing space as by
    /// [`MbufChain::append`].
    pub fn append_chain(&mut self, other: MbufChain) {
        for l in other.q {
            self.append_link(l);
        }
    }

    fn append_link(&mut self, l: Link) {
        let n = l.len();
        if n == 0 {
            return;
        }
        if n <= SB_COMPRESS_MAX {
            if let Some(Link::Own(t)) = self.q.back_mut() {
                if t.trailing_space() >= n {
                    t.append_within(l.data());
                    self.cc += n;
                    return;
                }
            }
        }
        self.cc += n;
        self.mbcnt += l.storage();
        self.q.push_back(l);
    }

    /// `sbappendstream` of bytes that live elsewhere (`m_append`): fill the
    /// last mbuf's trailing space, then new buffers (from the thread's
    /// pool) sized to what is left, at most 16 KiB each.
    pub fn append_slice(&mut self, mut data: &[u8]) {
        if data.is_empty() {
            return;
        }
        if let Some(Link::Own(t)) = self.q.back_mut() {
            let k = t.append_within(data);
            self.cc += k;
            data = &data[k..];
        }
        while !data.is_empty() {
            let want = data.len().clamp(SB_CHUNK_MIN, SB_CHUNK_MAX);
            let mut m = Mbuf::with_capacity(want);
            let k = m.append_within(data);
            data = &data[k..];
            self.cc += k;
            self.mbcnt += m.storage();
            self.q.push_back(Link::Own(m));
        }
    }

    /// `m_cat`: move all of `other` onto the end (its mbufs linked, not
    /// copied).
    pub fn cat(&mut self, mut other: MbufChain) {
        if self.q.is_empty() {
            *self = other;
            return;
        }
        self.cc += other.cc;
        self.mbcnt += other.mbcnt;
        self.q.append(&mut other.q);
    }

    /// `m_copydata` onto the end of `out`: up to `len` bytes starting `off`
    /// bytes in, without consuming them; how many were appended.
    pub fn copy_data(&self, off: usize, len: usize, out: &mut Vec<u8>) -> usize {
        let start = out.len();
        let mut skip = off;
        let mut left = len;
        for m in &self.q {
            if left == 0 {
                break;
            }
            let d = m.data();
            if skip >= d.len() {
                skip -= d.len();
                continue;
            }
            let k = left.min(d.len() - skip);
            out.extend_from_slice(&d[skip..skip + k]);
            skip = 0;
            left -= k;
        }
        out.len() - start
    }

    /// `sbdrop`: discard the first `n` bytes (all of them when shorter),
    /// freeing the mbufs emptied.
    pub fn drop_front(&mut self, n: usize) {
        let mut left = n.min(self.cc);
        self.cc -= left;
        while left > 0 {
            let Some(l) = self.q.front_mut() else { break };
            if l.len() > left {
                l.adj(left);
                break;
            }
            left -= l.len();
            if let Some(l) = self.q.pop_front() {
                self.mbcnt -= l.storage();
            }
        }
    }

    /// Take the first `n` bytes off as a chain of their own (`m_split` at
    /// `n`): whole mbufs move; an mbuf straddling `n` is shared by both
    /// chains, each referring to its part (no copy).
    pub fn take_front(&mut self, n: usize) -> MbufChain {
        if n >= self.cc {
            return std::mem::take(self);
        }
        let mut out = MbufChain::new();
        let mut left = n;
        while left > 0 {
            let Some(l) = self.q.pop_front() else { break };
            let len = l.len();
            self.cc -= len;
            self.mbcnt -= l.storage();
            if len > left {
                let (head, rest) = l.split(left);
                // The rest stays here, still pinning the buffer.
                self.cc += rest.len();
                self.mbcnt += rest.storage();
                self.q.push_front(rest);
                out.cc += head.len();
                out.mbcnt += head.storage();
                out.q.push_back(head);
                break;
            }
            left -= len;
            out.cc += len;
            out.mbcnt += l.storage();
            out.q.push_back(l);
        }
        out
    }

    /// The chain's one mbuf, when it is a single mbuf of its own (not
    /// shared): for reuse of its buffer.
    pub fn into_mbuf(mut self) -> Option<Mbuf> {
        match (self.q.len(), self.q.pop_front()) {
            (1, Some(Link::Own(m))) => Some(m),
            _ => None,
        }
    }

    /// Discard everything.
    pub fn clear(&mut self) {
        self.q.clear();
        self.cc = 0;
        self.mbcnt = 0;
    }

    /// The data as one vector: a lone mbuf without headroom gives its
    /// buffer up as it is; otherwise the data is copied once.
    pub fn into_vec(mut self) -> Vec<u8> {
        if self.q.len() == 1 && matches!(self.q.front(), Some(Link::Own(_))) {
            if let Some(Link::Own(m)) = self.q.pop_front() {
                return m.into_vec();
            }
        }
        let mut v = Vec::with_capacity(self.cc);
        for l in &self.q {
            v.extend_from_slice(l.data());
        }
        v
    }
}

impl From<Vec<u8>> for MbufChain {
    fn from(v: Vec<u8>) -> Self {
        MbufChain::from_mbuf(Mbuf::from_vec(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(c: &MbufChain) -> Vec<u8> {
        c.slices().flat_map(|s| s.iter().copied()).collect()
    }

    /// Appends, copies, drops and splits agree with a plain byte queue, and
    /// the counts (`sb_cc`, `sb_mbcnt`) stay those of what is held.
    #[test]
    fn round_trip_against_a_byte_queue() {
        let mut c = MbufChain::new();
        let mut want: VecDeque<u8> = VecDeque::new();
        let mut next = 0u8;
        let mut bytes = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    next = next.wrapping_add(7);
                    next
                })
                .collect()
        };
        let check = |c: &MbufChain, want: &VecDeque<u8>| {
            assert_eq!(c.len(), want.len());
            assert_eq!(flat(c), want.iter().copied().collect::<Vec<_>>());
            let st: usize = c.q.iter().map(|l| l.storage()).sum();
            assert_eq!(c.mbcnt(), st);
        };
        for (i, n) in [1usize, 3, 5000, 10, 40_000, 2, 16_384, 700]
            .iter()
            .enumerate()
        {
            let d = bytes(*n);
            want.extend(&d);
            if i % 2 == 0 {
                c.append_slice(&d);
            } else {
                // A packet with headroom in front, linked as it is.
                let mut m = Mbuf::from_slice(&d);
                m.prepend(20);
                m.adj(20);
                c.append(m);
            }
            check(&c, &want);
        }
        // m_copydata across mbuf boundaries, at the end, past it.
        for (off, len) in [
            (0, 1),
            (2, 5000),
            (4990, 30),
            (c.len() - 3, 10),
            (c.len() + 5, 4),
        ] {
            let mut out = vec![9];
            let k = c.copy_data(off, len, &mut out);
            let w: Vec<u8> = want.iter().skip(off).take(len).copied().collect();
            assert_eq!(k, w.len());
            assert_eq!(&out[1..], &w[..]);
        }
        // sbdrop inside an mbuf and across several.
        c.drop_front(2);
        want.drain(..2);
        check(&c, &want);
        c.drop_front(45_000);
        want.drain(..45_000);
        check(&c, &want);
        // m_split: straddling, then whole mbufs, then everything.
        let h = c.take_front(100);
        assert_eq!(flat(&h), want.drain(..100).collect::<Vec<_>>());
        check(&c, &want);
        let first = c.q.front().map(|m| m.len()).unwrap();
        let h = c.take_front(first);
        assert_eq!(h.count(), 1);
        assert_eq!(flat(&h), want.drain(..first).collect::<Vec<_>>());
        check(&c, &want);
        let rest = c.take_front(usize::MAX);
        assert!(c.is_empty() && c.mbcnt() == 0);
        assert_eq!(rest.into_vec(), want.drain(..).collect::<Vec<_>>());
        c.drop_front(10);
        assert!(c.is_empty());
    }

    /// `sbcompress`: tiny appends share one buffer instead of pinning one
    /// each; big packets are linked, not copied.
    #[test]
    fn compress_small_link_large() {
        let mut c = MbufChain::new();
        for _ in 0..1000 {
            c.append(Mbuf::from_slice(b"x"));
        }
        c.append_slice(b"yz");
        assert_eq!(c.len(), 1002);
        // (Each packet has 128 bytes of headroom in a 256-byte buffer.)
        assert!(c.count() <= 10, "{}", c.count());
        assert!(c.mbcnt() <= 10 * 256, "{}", c.mbcnt());
        let big = Mbuf::from_vec(vec![5u8; 50_000]);
        let p = big.data().as_ptr();
        c.append(big);
        assert_eq!(c.slices().last().unwrap().as_ptr(), p, "linked in place");
        // m_cat moves the other chain's mbufs.
        let mut d = MbufChain::from(vec![1u8, 2, 3]);
        d.cat(c);
        assert_eq!(d.len(), 51_005);
        assert_eq!(&flat(&d)[..4], &[1, 2, 3, b'x']);
        // A lone mbuf without headroom comes out without a copy.
        let v = vec![4u8; 100];
        let p = v.as_ptr();
        let out = MbufChain::from(v).into_vec();
        assert_eq!(out.as_ptr(), p);
    }

    /// `m_split` inside an mbuf shares its buffer: both parts point into
    /// it, each counts it in `sb_mbcnt`, and it is freed with the last.
    #[test]
    fn split_shares_the_buffer() {
        let v: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
        let base = v.as_ptr();
        let mut c = MbufChain::from_mbuf(Mbuf::from_vec_at(v, 10));
        let st = c.mbcnt();
        let a = c.take_front(30_000);
        assert_eq!(a.slices().next().unwrap().as_ptr(), base.wrapping_add(10));
        assert_eq!(
            c.slices().next().unwrap().as_ptr(),
            base.wrapping_add(30_010)
        );
        assert_eq!((a.len(), c.len()), (30_000, 69_990));
        assert_eq!((a.mbcnt(), c.mbcnt()), (st, st));
        // Split again, then put the pieces back together in another chain.
        let b = c.take_front(5);
        let mut d = MbufChain::new();
        d.append_chain(a);
        d.append_chain(b);
        d.append_chain(std::mem::take(&mut c));
        assert_eq!(d.len(), 99_990);
        let want: Vec<u8> = (0..=255u8).cycle().skip(10).take(99_990).collect();
        let mut out = Vec::new();
        assert_eq!(d.copy_data(0, usize::MAX, &mut out), 99_990);
        assert_eq!(out, want);
        d.drop_front(30_002);
        assert_eq!(d.count(), 2);
        assert!(d.into_mbuf().is_none(), "shared, not one's own");
        let m = MbufChain::from(vec![1u8, 2]).into_mbuf().unwrap();
        assert_eq!(m.data(), &[1, 2]);
    }
}
