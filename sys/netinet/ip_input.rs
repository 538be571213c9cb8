//! IPv4 input (FreeBSD's sys/netinet/ip_input.c): header checks with their
//! counters, local delivery by protocol, reassembly, and forwarding when the
//! vnet is a router (`net.inet.ip.forwarding=1`).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::icmp_input::icmp_error;
use super::in_rt::{in_rtalloc, RTF_GATEWAY, RTF_HOST};
use super::ip::{
    Ipv4Packet, IPPROTO_ICMP, IPPROTO_UDP, IPVERSION, IP_HDR_LEN, IP_MAXPACKET, IP_MF, IP_OFFMASK,
};
use super::ip_icmp::*;
use super::ip_output::{ip_output, IP_FORWARDING};
use super::ip_var::inc;
use super::r#in::{in_addrs, in_broadcast, in_localaddr};
use vimage_abi::net_if::IFF_LOOPBACK;
use vimage_kern::kern_timeout::{getnow_ns, timeout};
use vimage_net::if_var::Ifnet;
use vimage_net::mbuf::Mbuf;
use vimage_net::pfil::{pfil_run_hooks, PfilAf, PfilDir};
use vimage_net::r#if::if_findmulti;

/// How long an incomplete datagram waits for its fragments (`IPFRAGTTL`, 30 s).
pub const IPFRAGTTL_NS: u64 = 30_000_000_000;

type ReassKey = (Ipv4Addr, Ipv4Addr, u16, u8);

/// One datagram being reassembled (`struct ipq`).
struct Ipq {
    /// The first fragment's header (options included), once it came.
    hdr: Option<Vec<u8>>,
    /// Fragments as (offset, data), sorted by offset, not overlapping.
    frags: Vec<(usize, Vec<u8>)>,
    /// Payload length, known once the last fragment came.
    total: Option<usize>,
    gen: u64,
}

/// The reassembly queue of a vnet (`ipq`).
#[derive(Default)]
pub struct ReassQueue {
    q: Mutex<HashMap<ReassKey, Ipq>>,
    gen: AtomicU64,
}

impl ReassQueue {
    /// Drop every datagram being reassembled.
    pub fn clear(&self) {
        if let Ok(mut g) = self.q.lock() {
            g.clear();
        }
    }
    /// Datagrams being reassembled.
    pub fn len(&self) -> usize {
        self.q.lock().map(|g| g.len()).unwrap_or(0)
    }
    /// Whether nothing is being reassembled.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `ip_input`, registered for `ETHERTYPE_IP`: `m` starts at the IP header.
pub fn ip_input(ifp: &Arc<Ifnet>, mut m: Mbuf) {
    super::VNET_INET.try_with(|inet| {
        let st = &inet.ipstat;
        inc(&st.ips_total);
        let (hl, dst, src) = {
            let d = m.data();
            if d.len() < IP_HDR_LEN {
                inc(&st.ips_toosmall);
                return;
            }
            let p = Ipv4Packet::new_unchecked(d);
            if p.version() != IPVERSION {
                inc(&st.ips_badvers);
                return;
            }
            let hl = p.header_len();
            if hl < IP_HDR_LEN || hl > d.len() {
                inc(&st.ips_badhlen);
                return;
            }
            if !p.verify_checksum() {
                inc(&st.ips_badsum);
                return;
            }
            let tl = usize::from(p.total_len());
            if tl < hl {
                inc(&st.ips_badlen);
                return;
            }
            if tl > d.len() {
                inc(&st.ips_tooshort);
                return;
            }
            (hl, p.dst_addr(), p.src_addr())
        };
        let tl = usize::from(Ipv4Packet::new_unchecked(m.data()).total_len());
        m.truncate(tl);
        // pfil(9): the vnet's packet filters (ipfw) see the datagram before
        // it is delivered, reassembled or forwarded; one they drop goes
        // silently (counted in the pfil head).
        if pfil_run_hooks(PfilAf::Inet, m.data(), PfilDir::In, ifp).is_drop() {
            return;
        }
        // The loopback network never arrives from the wire; nor do sources that
        // are group or broadcast addresses.
        let lonet = |a: Ipv4Addr| a.octets()[0] == 127;
        if ((lonet(dst) || lonet(src)) && ifp.flags() & IFF_LOOPBACK == 0)
            || src.is_multicast()
            || src == Ipv4Addr::BROADCAST
        {
            inc(&st.ips_badaddr);
            return;
        }
        // A group is ours when a socket joined it on this interface
        // (`IN_LOOKUP_MULTI`; all-hosts always).  Multicast is never
        // forwarded: the vnet runs no multicast router, so a group nobody
        // here joined is dropped, link-local 224.0.0.x or not.
        let ours = in_localaddr(dst)
            || in_broadcast(dst, ifp)
            || dst == Ipv4Addr::new(224, 0, 0, 1)
            || (dst.is_multicast() && if_findmulti(ifp, IpAddr::V4(dst)));
        if !ours {
            if dst.is_multicast() {
                inc(&st.ips_notmember);
                return;
            }
            if inet.ipforwarding.load(Ordering::Relaxed) == 0 {
                inc(&st.ips_cantforward);
                return;
            }
            ip_forward(ifp, m, hl);
            return;
        }
        let off = Ipv4Packet::new_unchecked(m.data()).flags_offset();
        if off & (IP_MF | IP_OFFMASK) != 0 {
            inc(&st.ips_fragments);
            match ip_reass(m, hl) {
                Some(whole) => {
                    inc(&st.ips_reassembled);
                    m = whole;
                }
                None => return,
            }
        }
        inc(&st.ips_delivered);
        let hl = Ipv4Packet::new_unchecked(m.data()).header_len();
        match Ipv4Packet::new_unchecked(m.data()).protocol() {
            IPPROTO_ICMP => super::icmp_input::icmp_input(ifp, m, hl),
            IPPROTO_UDP => super::udp_usrreq::udp_input(ifp, m, hl),
            super::ip::IPPROTO_TCP => super::tcp_input::tcp_input(ifp, m, hl),
            _ => {
                if !super::raw_ip::rip_input(ifp, &m) {
                    // Nobody speaks this protocol here.
                    st.ips_delivered.fetch_sub(1, Ordering::Relaxed);
                    inc(&st.ips_noproto);
                    if !in_broadcast(dst, ifp) {
                        icmp_error(m.data(), Some(ifp), ICMP_UNREACH, ICMP_UNREACH_PROTOCOL, 0);
                    }
                }
            }
        }
    });
}

/// Add fragment `m` to its datagram; the whole datagram once complete.
/// Overlapping fragments are dropped; so is a datagram with too many fragments,
/// or a new one when `maxfragpackets` are pending.
fn ip_reass(m: Mbuf, hl: usize) -> Option<Mbuf> {
    super::VNET_INET.with(|inet| {
        let st = &inet.ipstat;
        let d = m.data();
        let p = Ipv4Packet::new_unchecked(d);
        let key = (p.src_addr(), p.dst_addr(), p.ident(), p.protocol());
        let off = usize::from(p.flags_offset() & IP_OFFMASK) * 8;
        let mf = p.more_frags();
        let data = d[hl..].to_vec();
        // Every fragment but the last carries a multiple of 8 bytes.
        if (mf && (data.is_empty() || !data.len().is_multiple_of(8)))
            || off + data.len() + hl > IP_MAXPACKET
        {
            inc(&st.ips_fragdropped);
            if off + data.len() + hl > IP_MAXPACKET {
                inc(&st.ips_toolong);
            }
            return None;
        }
        let maxpk = inet.maxfragpackets.load(Ordering::Relaxed).max(0) as usize;
        let maxfr = inet.maxfragsperpacket.load(Ordering::Relaxed).max(0) as usize;
        let mut q = inet.reass.q.lock().ok()?;
        if !q.contains_key(&key) {
            if q.len() >= maxpk {
                inc(&st.ips_fragdropped);
                return None;
            }
            let gen = inet.reass.gen.fetch_add(1, Ordering::Relaxed) + 1;
            q.insert(
                key,
                Ipq {
                    hdr: None,
                    frags: Vec::new(),
                    total: None,
                    gen,
                },
            );
            timeout(getnow_ns() + IPFRAGTTL_NS, move || {
                ip_reass_timeout(key, gen)
            });
        }
        let e = q.get_mut(&key)?;
        let end = off + data.len();
        let overlaps = e.frags.iter().any(|(o, v)| off < o + v.len() && *o < end);
        let bad_end = match e.total {
            Some(t) => end > t || (!mf && end != t),
            None => !mf && e.frags.iter().any(|(o, v)| o + v.len() > end),
        };
        if overlaps || bad_end || e.frags.len() >= maxfr {
            inc(&st.ips_fragdropped);
            if e.frags.len() >= maxfr {
                // A datagram in too many pieces is given up entirely.
                let n = e.frags.len() as u64;
                st.ips_fragdropped.fetch_add(n, Ordering::Relaxed);
                q.remove(&key);
            }
            return None;
        }
        if off == 0 {
            e.hdr = Some(d[..hl].to_vec());
        }
        if !mf {
            e.total = Some(end);
        }
        let pos = e
            .frags
            .iter()
            .position(|(o, _)| *o > off)
            .unwrap_or(e.frags.len());
        e.frags.insert(pos, (off, data));
        let total = e.total?;
        e.hdr.as_ref()?;
        let mut at = 0;
        for (o, v) in &e.frags {
            if *o != at {
                return None;
            }
            at += v.len();
        }
        if at != total {
            return None;
        }
        let e = q.remove(&key)?;
        drop(q);
        let hdr = e.hdr.unwrap_or_default();
        let mut whole = Vec::with_capacity(hdr.len() + total);
        whole.extend_from_slice(&hdr);
        for (_, v) in e.frags {
            whole.extend_from_slice(&v);
        }
        let mut w = Mbuf::from_slice(&whole);
        let mut p = Ipv4Packet::new_unchecked(w.data_mut());
        p.set_total_len(whole.len() as u16);
        p.set_flags_offset(p.flags_offset() & !(IP_MF | IP_OFFMASK));
        p.fill_checksum();
        Some(w)
    })
}

/// A datagram's reassembly timer fired: give it up (time exceeded in
/// reassembly is sent back if the first fragment came).
fn ip_reass_timeout(key: ReassKey, gen: u64) {
    super::VNET_INET.try_with(|inet| {
        let gone = match inet.reass.q.lock() {
            Ok(mut q) => match q.get(&key) {
                Some(e) if e.gen == gen => q.remove(&key),
                _ => None,
            },
            Err(_) => None,
        };
        if let Some(e) = gone {
            inet.ipstat
                .ips_fragtimeout
                .fetch_add(e.frags.len() as u64, Ordering::Relaxed);
            if let (Some(hdr), Some((0, first))) = (e.hdr, e.frags.first()) {
                let mut orig = hdr;
                orig.extend_from_slice(&first[..first.len().min(8)]);
                let ol = orig.len() as u16;
                let mut p = Ipv4Packet::new_unchecked(&mut orig[..]);
                p.set_total_len(ol);
                icmp_error(&orig, None, ICMP_TIMXCEED, ICMP_TIMXCEED_REASS, 0);
            }
        }
    });
}

/// `ip_forward`: route a datagram that is not ours, as a router does.
fn ip_forward(ifp: &Arc<Ifnet>, mut m: Mbuf, hl: usize) {
    super::VNET_INET.with(|inet| {
        let st = &inet.ipstat;
        let (dst, src, ttl) = {
            let p = Ipv4Packet::new_unchecked(m.data());
            (p.dst_addr(), p.src_addr(), p.ttl())
        };
        let first = dst.octets()[0];
        if dst.is_unspecified() || first == 127 || first >= 224 || src.is_unspecified() {
            inc(&st.ips_cantforward);
            return;
        }
        // The original, for the ICMP error it may cause (`mcopy`).
        let orig: Vec<u8> = m.data().to_vec();
        if ttl <= 1 {
            inc(&st.ips_timeexceeded);
            icmp_error(&orig, Some(ifp), ICMP_TIMXCEED, ICMP_TIMXCEED_INTRANS, 0);
            return;
        }
        let Some(rt) = in_rtalloc(dst) else {
            inc(&st.ips_cantforward);
            inc(&st.ips_noroute);
            icmp_error(&orig, Some(ifp), ICMP_UNREACH, ICMP_UNREACH_HOST, 0);
            return;
        };
        {
            let mut p = Ipv4Packet::new_unchecked(m.data_mut());
            p.set_ttl(ttl - 1);
            p.fill_checksum();
        }
        // Going back out the interface it came in on, to a sender on that link:
        // tell the sender about the better first hop (`ICMP_REDIRECT`).
        let redirect = (Arc::ptr_eq(&rt.ifp, ifp)
            && inet.ipsendredirects.load(Ordering::Relaxed) != 0
            && rt.flags & RTF_HOST == 0
            && in_addrs(ifp).iter().any(|a| a.contains(src)))
        .then(|| {
            if rt.flags & RTF_GATEWAY != 0 {
                rt.nexthop(dst)
            } else {
                dst
            }
        });
        let _ = hl;
        match ip_output(m, IP_FORWARDING) {
            Ok(()) => {
                inc(&st.ips_forward);
                if let Some(gw) = redirect {
                    inc(&st.ips_redirectsent);
                    super::icmp_input::icmp_redirect(&orig, ifp, gw);
                }
            }
            Err(Errno::EMSGSIZE) => {
                inc(&st.ips_cantfrag);
                icmp_error(
                    &orig,
                    Some(ifp),
                    ICMP_UNREACH,
                    ICMP_UNREACH_NEEDFRAG,
                    rt.mtu.min(u32::from(u16::MAX)) as u16,
                );
            }
            Err(Errno::ENOBUFS) => {}
            // A packet filter refused it on the way out (pfil): dropped
            // there, nothing to tell the sender.
            Err(Errno::EACCES) => {}
            Err(_) => {
                inc(&st.ips_cantforward);
                icmp_error(&orig, Some(ifp), ICMP_UNREACH, ICMP_UNREACH_HOST, 0);
            }
        }
    })
}

use vimage_abi::Errno;
