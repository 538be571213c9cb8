//! IPv6 reassembly (FreeBSD's netinet6/frag6.c, RFC 8200 4.5): fragments are
//! queued per (source, destination, identification) and put back together when
//! every byte is in.  Overlapping fragments drop the whole datagram (RFC 5722);
//! an atomic fragment (offset 0, no more) is processed at once (RFC 6946).
//! Limits: `net.inet6.ip6.maxfragpackets` datagrams in reassembly per vnet,
//! `net.inet6.ip6.maxfrags` fragments each, 64 KiB each, 60 s each; a datagram
//! that times out after its first fragment arrived gets a time exceeded
//! (reassembly) error.

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::icmp6::{
    icmp6_error, ICMP6_PARAMPROB_HEADER, ICMP6_PARAM_PROB, ICMP6_TIME_EXCEEDED,
    ICMP6_TIME_EXCEED_REASSEMBLY,
};
use super::in6::{inc, vnet_inet6};
use super::ip6::{Ipv6FragHeader, Ipv6FragRepr, IP6_HDR_LEN};
use super::ip6_output::IPV6_MAXPACKET;
use vimage_kern::kern_timeout::{getnow_ns, timeout};
use vimage_net::if_var::Ifnet;

/// How long a datagram may take to arrive whole (IPV6_FRAGTTL: 60 s).
pub const IPV6_FRAGTTL_NS: u64 = 60_000_000_000;

type Key = (Ipv6Addr, Ipv6Addr, u32);

/// One datagram in reassembly (`struct ip6q`).
struct Ip6q {
    /// Distinguishes this queue from a later one with the same key.
    id: u64,
    /// Interface and zone the fragments arrive on.
    ifp: Arc<Ifnet>,
    zone: u32,
    /// The first fragment as it arrived (for the timeout error), and its
    /// unfragmentable part with the next-header byte offset.
    first: Option<(Vec<u8>, usize, usize)>,
    /// Next header of the fragmentable part.
    nxt: u8,
    /// (offset, data), sorted by offset.
    frags: Vec<(usize, Vec<u8>)>,
    /// Total length of the fragmentable part, once the last fragment is in.
    total: Option<usize>,
}

/// The reassembly queues of one vnet.
#[derive(Default)]
pub struct Frag6Queue {
    q: HashMap<Key, Ip6q>,
    next_id: u64,
}

impl Frag6Queue {
    /// Datagrams being reassembled.
    pub fn len(&self) -> usize {
        self.q.len()
    }
    /// Whether nothing is being reassembled.
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }
}

/// `frag6_input`: the fragment header at `off` of `pkt` (arrived on `ifp`, zone
/// `zone`); `nxt_at` is the offset of the next-header byte that named it.
/// Returns the whole datagram once complete, with the fragment header gone and
/// that byte set to the fragmentable part's protocol, and the protocol.
pub fn frag6_input(
    ifp: &Arc<Ifnet>,
    zone: u32,
    pkt: &[u8],
    off: usize,
    nxt_at: usize,
) -> Option<(Vec<u8>, u8)> {
    let st = vnet_inet6();
    inc(&st.ip6stat.ip6s_fragments);
    let Ok(h) = Ipv6FragHeader::new_checked(&pkt[off.min(pkt.len())..]) else {
        inc(&st.ip6stat.ip6s_toosmall);
        return None;
    };
    let Ok(fr) = Ipv6FragRepr::parse(&h) else {
        inc(&st.ip6stat.ip6s_toosmall);
        return None;
    };
    let data = h.payload();
    let foff = usize::from(fr.frag_offset);
    let unfrag_len = off;
    // Fragments other than the last carry a multiple of 8 bytes.
    if fr.more_frags && (data.len() % 8 != 0 || data.is_empty()) {
        inc(&st.ip6stat.ip6s_fragdropped);
        icmp6_error(ifp, zone, pkt, ICMP6_PARAM_PROB, ICMP6_PARAMPROB_HEADER, 4);
        return None;
    }
    if unfrag_len.saturating_sub(IP6_HDR_LEN) + foff + data.len() > IPV6_MAXPACKET {
        inc(&st.ip6stat.ip6s_fragdropped);
        icmp6_error(
            ifp,
            zone,
            pkt,
            ICMP6_PARAM_PROB,
            ICMP6_PARAMPROB_HEADER,
            (off + 2) as u32,
        );
        return None;
    }
    let whole = |unfrag: &[u8], nxt: u8, body: &[u8]| -> Vec<u8> {
        let mut v = Vec::with_capacity(unfrag.len() + body.len());
        v.extend_from_slice(unfrag);
        v[nxt_at] = nxt;
        v.extend_from_slice(body);
        let plen = (v.len() - IP6_HDR_LEN) as u16;
        v[4..6].copy_from_slice(&plen.to_be_bytes());
        v
    };
    if foff == 0 && !fr.more_frags {
        // An atomic fragment: nothing to wait for.
        return Some((whole(&pkt[..off], fr.next_header, data), fr.next_header));
    }
    let key = (
        super::ip6::Ipv6Packet::new_unchecked(pkt).src_addr(),
        super::ip6::Ipv6Packet::new_unchecked(pkt).dst_addr(),
        fr.ident,
    );
    let max_q = st.ip6_maxfragpackets.load(Ordering::Relaxed).max(0) as usize;
    let max_f = st.ip6_maxfrags.load(Ordering::Relaxed).max(1) as usize;
    let Ok(mut g) = st.frag6.lock() else {
        return None;
    };
    if !g.q.contains_key(&key) {
        if g.q.len() >= max_q {
            inc(&st.ip6stat.ip6s_fragoverflow);
            return None;
        }
        g.next_id += 1;
        let id = g.next_id;
        g.q.insert(
            key,
            Ip6q {
                id,
                ifp: ifp.clone(),
                zone,
                first: None,
                nxt: fr.next_header,
                frags: Vec::new(),
                total: None,
            },
        );
        timeout(getnow_ns() + IPV6_FRAGTTL_NS, move || {
            frag6_timeout(key, id)
        });
    }
    let q = g.q.get_mut(&key)?;
    let end = foff + data.len();
    let overlaps = q.frags.iter().any(|(o, d)| foff < o + d.len() && *o < end);
    let beyond = q
        .total
        .is_some_and(|t| end > t || (!fr.more_frags && end != t));
    let short = !fr.more_frags && q.frags.iter().any(|(o, d)| o + d.len() > end);
    if overlaps || beyond || short || q.frags.len() >= max_f {
        let n = q.frags.len() as u64 + 1;
        g.q.remove(&key);
        st.ip6stat.ip6s_fragdropped.fetch_add(n, Ordering::Relaxed);
        return None;
    }
    if foff == 0 {
        q.first = Some((pkt.to_vec(), off, nxt_at));
        q.nxt = fr.next_header;
    }
    if !fr.more_frags {
        q.total = Some(end);
    }
    let at = q.frags.partition_point(|(o, _)| *o < foff);
    q.frags.insert(at, (foff, data.to_vec()));
    // Complete when the pieces run from 0 to the total without a gap.
    let total = q.total?;
    let (first, ulen, fnxt_at) = q.first.as_ref()?;
    let mut next = 0usize;
    for (o, d) in &q.frags {
        if *o != next {
            return None;
        }
        next += d.len();
    }
    if next != total || *fnxt_at != nxt_at {
        return None;
    }
    let mut body = Vec::with_capacity(total);
    for (_, d) in &q.frags {
        body.extend_from_slice(d);
    }
    let nxt = q.nxt;
    let out = whole(&first[..*ulen], nxt, &body);
    g.q.remove(&key);
    drop(g);
    inc(&st.ip6stat.ip6s_reassembled);
    Some((out, nxt))
}

/// A datagram's time is up (`frag6_slowtimo`): drop it; if its first fragment
/// came, tell the source (time exceeded in reassembly).
fn frag6_timeout(key: Key, id: u64) {
    let Some(st) = super::in6::try_vnet_inet6() else {
        return;
    };
    let q = {
        let Ok(mut g) = st.frag6.lock() else { return };
        match g.q.get(&key) {
            Some(q) if q.id == id => g.q.remove(&key),
            _ => None,
        }
    };
    let Some(q) = q else { return };
    st.ip6stat
        .ip6s_fragtimeout
        .fetch_add(q.frags.len() as u64, Ordering::Relaxed);
    if let Some((first, _, _)) = q.first {
        icmp6_error(
            &q.ifp,
            q.zone,
            &first,
            ICMP6_TIME_EXCEEDED,
            ICMP6_TIME_EXCEED_REASSEMBLY,
            0,
        );
    }
}
