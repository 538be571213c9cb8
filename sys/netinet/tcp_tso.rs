//! TCP segmentation and checksum offload, finished in software where the
//! offload stops.
//!
//! An interface whose `if_hwassist` has `CSUM_TSO` (an eiface) is handed TCP
//! segments of up to 64 KB with their checksum not yet computed, as FreeBSD 7
//! hands them to a TSO-capable NIC.  Between vimages such a segment crosses
//! netgraph whole and is taken whole by the receiving stack (as large receive
//! offload would have merged it), so the per-segment work of a bulk transfer
//! is done once per 64 KB rather than once per 1460 bytes.  Wherever the
//! packet meets something that expects wire-ready frames — an interface
//! without the offload, a node that leaves the host (ng_ether, ng_ksocket) or
//! hands frames to a process (ng_socket) — it is cut into MSS-sized segments
//! and checksummed here first, byte for byte what the sender would have sent
//! without offload.

use super::ip::{Ipv4Packet, IPPROTO_TCP};
use super::ip_output::in_delayed_cksum;
use super::tcp::{TcpPacket, TH_FIN, TH_PUSH};
use vimage_net::ethernet::{ETHERTYPE_IP, ETHERTYPE_VLAN, ETHER_HDR_LEN};
use vimage_net::mbuf::{Mbuf, CSUM_DELAY_DATA, CSUM_OFFLOAD, CSUM_TSO, MBUF_HEADROOM};

/// `ETHERTYPE_QINQ` (802.1ad outer tag), skipped like 802.1Q.
const ETHERTYPE_QINQ: u16 = 0x88a8;

/// Cut the `CSUM_TSO` IPv4 TCP datagram `m` into segments of at most
/// `m.tso_segsz` data bytes, appended to `out`: each with its own IP length,
/// identification (the datagram's plus its index) and header checksum, its
/// sequence number, FIN and PUSH only on the last, and the TCP checksum still
/// to do (`CSUM_DELAY_DATA`).  A datagram that is not such a segment goes to
/// `out` as it is, without `CSUM_TSO`.
pub fn tcp_tso_segment(mut m: Mbuf, out: &mut Vec<Mbuf>) {
    m.csum_flags &= !CSUM_TSO;
    let seg = m.tso_segsz as usize;
    let d = m.data();
    let Ok(ip) = Ipv4Packet::new_checked(d) else {
        out.push(m);
        return;
    };
    let hl = ip.header_len();
    let total = usize::from(ip.total_len()).min(d.len());
    if ip.protocol() != IPPROTO_TCP || seg == 0 || total < hl {
        out.push(m);
        return;
    }
    let Ok(th) = TcpPacket::new_checked(&d[hl..total]) else {
        out.push(m);
        return;
    };
    let thl = th.header_len();
    let hdrs = hl + thl;
    let payload = total - hdrs;
    if payload <= seg {
        out.push(m);
        return;
    }
    let (id, seq0, flags) = (ip.ident(), th.seq_number(), th.flags());
    let keep = m.csum_flags | CSUM_DELAY_DATA;
    let mut off = 0;
    let mut i: u16 = 0;
    while off < payload {
        let n = seg.min(payload - off);
        let last = off + n == payload;
        let mut b = Vec::with_capacity(MBUF_HEADROOM + hdrs + n);
        b.resize(MBUF_HEADROOM, 0);
        b.extend_from_slice(&d[..hdrs]);
        b.extend_from_slice(&d[hdrs + off..hdrs + off + n]);
        let mut s = Mbuf::from_vec_at(b, MBUF_HEADROOM);
        {
            let sd = s.data_mut();
            let mut p = Ipv4Packet::new_unchecked(&mut sd[..]);
            p.set_total_len((hdrs + n) as u16);
            p.set_ident(id.wrapping_add(i));
            p.fill_checksum();
            let mut t = TcpPacket::new_unchecked(&mut sd[hl..]);
            t.set_seq_number(seq0.wrapping_add(off as u32));
            if !last {
                t.set_flags(flags & !(TH_FIN | TH_PUSH));
            }
        }
        s.csum_flags = keep;
        s.csum_data = m.csum_data;
        out.push(s);
        off += n;
        i = i.wrapping_add(1);
    }
}

/// Finish the IPv4 datagram `m` for the wire: segment it if it is a TSO
/// segment, then compute every checksum left to do; the results go to `out`.
pub fn ip_finish(m: Mbuf, out: &mut Vec<Mbuf>) {
    let start = out.len();
    if m.csum_flags & CSUM_TSO != 0 {
        tcp_tso_segment(m, out);
    } else {
        out.push(m);
    }
    for s in &mut out[start..] {
        if s.csum_flags & CSUM_DELAY_DATA != 0 {
            let hl = Ipv4Packet::new_checked(s.data())
                .map(|p| p.header_len())
                .unwrap_or(0);
            if hl > 0 {
                in_delayed_cksum(s, hl);
            }
        }
    }
}

/// Length of the link header of Ethernet frame `d` (tags included) and the
/// type of what follows, if it is one.
fn ether_link_len(d: &[u8]) -> Option<(usize, u16)> {
    let mut off = ETHER_HDR_LEN - 2;
    loop {
        let ty = u16::from_be_bytes([*d.get(off)?, *d.get(off + 1)?]);
        if ty == ETHERTYPE_VLAN || ty == ETHERTYPE_QINQ {
            off += 4;
            continue;
        }
        return Some((off + 2, ty));
    }
}

/// Finish the Ethernet frame `m` for a node that takes wire-ready frames
/// only (netgraph's finisher for frames an eiface left unfinished): the IP
/// datagram behind the link header (and any VLAN tags) is segmented and
/// checksummed, and each piece gets a copy of that link header.
pub fn ether_finish(mut m: Mbuf, out: &mut Vec<Mbuf>) {
    if m.csum_flags & CSUM_OFFLOAD == 0 {
        out.push(m);
        return;
    }
    let Some((ll, ty)) = ether_link_len(m.data()) else {
        m.csum_flags &= !CSUM_OFFLOAD;
        out.push(m);
        return;
    };
    if ty != ETHERTYPE_IP {
        // Only IPv4 leaves work undone (IPv6 checksums are computed at once).
        m.csum_flags &= !CSUM_OFFLOAD;
        out.push(m);
        return;
    }
    let mut link = [0u8; 64];
    let ll = ll.min(link.len());
    link[..ll].copy_from_slice(&m.data()[..ll]);
    m.adj(ll);
    let start = out.len();
    ip_finish(m, out);
    for s in &mut out[start..] {
        s.prepend(ll).copy_from_slice(&link[..ll]);
    }
}

/// Whether the TCP segment (IPv4 datagram `d`) carries a valid checksum.
#[cfg(test)]
fn tcp_sum_ok(d: &[u8]) -> bool {
    use super::ip::PseudoHdr;
    let ip = Ipv4Packet::new_checked(d).unwrap();
    let ph = PseudoHdr::V4 {
        src: ip.src_addr(),
        dst: ip.dst_addr(),
    };
    TcpPacket::new_checked(&d[ip.header_len()..usize::from(ip.total_len())])
        .unwrap()
        .verify_checksum(&ph)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::Ipv4Repr;
    use crate::tcp::{TcpRepr, TH_ACK};
    use std::net::Ipv4Addr;

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    /// A TCP/IPv4 datagram with `n` bytes of data, its TCP checksum left to do.
    fn segment(n: usize, flags: u8, opts: &[u8]) -> Mbuf {
        let data: Vec<u8> = (0..n).map(|i| (i * 7 % 251) as u8).collect();
        let repr = TcpRepr {
            src_port: 1000,
            dst_port: 2000,
            seq: 0xffff_fff0,
            ack: 77,
            flags,
            window: 512,
            urgent: 0,
            options: opts,
            payload_len: n,
        };
        let thl = repr.header_len();
        let mut t = vec![0u8; thl + n];
        repr.emit_header(&mut TcpPacket::new_unchecked(&mut t[..]));
        t[thl..].copy_from_slice(&data);
        let ip = Ipv4Repr {
            src_addr: SRC,
            dst_addr: DST,
            protocol: IPPROTO_TCP,
            payload_len: t.len(),
            ttl: 64,
            tos: 0,
            ident: 40,
            dont_frag: false,
            more_frags: false,
            frag_offset: 0,
        };
        let mut b = vec![0u8; ip.buffer_len()];
        ip.emit(&mut Ipv4Packet::new_unchecked(&mut b[..]));
        b.extend_from_slice(&t);
        let mut m = Mbuf::from_slice(&b);
        m.csum_flags = CSUM_DELAY_DATA | CSUM_TSO;
        m.csum_data = 16;
        m.tso_segsz = 1000;
        m
    }

    #[test]
    fn cuts_at_segsz_with_headers_of_each() {
        let opts = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];
        let m = segment(2500, TH_ACK | TH_PUSH | TH_FIN, &opts);
        let whole = m.data().to_vec();
        let mut out = Vec::new();
        ip_finish(m, &mut out);
        assert_eq!(out.len(), 3);
        let mut data = Vec::new();
        for (i, s) in out.iter().enumerate() {
            let d = s.data();
            let ip = Ipv4Packet::new_checked(d).unwrap();
            assert!(ip.verify_checksum());
            assert_eq!(ip.ident(), 40 + i as u16);
            assert_eq!(usize::from(ip.total_len()), d.len());
            assert!(tcp_sum_ok(d), "segment {i}");
            let t = TcpPacket::new_checked(&d[20..]).unwrap();
            assert_eq!(t.options(), &opts);
            assert_eq!(t.seq_number(), 0xffff_fff0u32.wrapping_add(1000 * i as u32));
            let last = i == 2;
            assert_eq!(t.flags() & (TH_FIN | TH_PUSH) != 0, last);
            assert_eq!(t.flags() & TH_ACK, TH_ACK);
            assert_eq!(s.csum_flags & CSUM_OFFLOAD, 0);
            data.extend_from_slice(t.payload());
        }
        assert_eq!(data, whole[20 + 32..]);
    }

    #[test]
    fn small_or_foreign_datagrams_pass_whole() {
        let m = segment(800, TH_ACK, &[]);
        let mut out = Vec::new();
        ip_finish(m, &mut out);
        assert_eq!(out.len(), 1);
        assert!(tcp_sum_ok(out[0].data()));
        let mut junk = Mbuf::from_slice(&[0x45, 0, 0]);
        junk.csum_flags = CSUM_TSO | CSUM_DELAY_DATA;
        junk.tso_segsz = 1;
        out.clear();
        ip_finish(junk, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data(), &[0x45, 0, 0]);
    }

    #[test]
    fn ether_frames_keep_their_link_header_and_tags() {
        let m = segment(2100, TH_ACK, &[]);
        let mut f = m.clone();
        let h = f.prepend(18);
        h[..12].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        h[12..14].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        h[14..16].copy_from_slice(&5u16.to_be_bytes());
        h[16..18].copy_from_slice(&ETHERTYPE_IP.to_be_bytes());
        let mut out = Vec::new();
        ether_finish(f, &mut out);
        assert_eq!(out.len(), 3);
        for s in &out {
            assert_eq!(&s.data()[..12], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
            assert_eq!(&s.data()[16..18], &ETHERTYPE_IP.to_be_bytes());
            assert!(tcp_sum_ok(&s.data()[18..]));
        }
        // Without TSO, only the checksum is filled in.
        let mut m = segment(100, TH_ACK, &[]);
        m.csum_flags = CSUM_DELAY_DATA;
        m.prepend(14)[12..14].copy_from_slice(&ETHERTYPE_IP.to_be_bytes());
        out.clear();
        ether_finish(m, &mut out);
        assert_eq!(out.len(), 1);
        assert!(tcp_sum_ok(&out[0].data()[14..]));
    }
}
