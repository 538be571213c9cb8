//! ARP for IPv4 over Ethernet (`struct ether_arp`, RFC 826).
//!
//! [`ArpPacket`] is a zero-copy view of the 28-byte message; [`ArpRepr`] accepts
//! only Ethernet/IPv4 requests and replies.
//!
//! The protocol (FreeBSD's sys/netinet/if_ether.c) follows: a per-vnet cache
//! ([`ArpTable`]) whose complete entries live `net.link.ether.inet.max_age`
//! (1200 s) and incomplete ones 20 s, each holding the latest packet waiting for
//! it; [`arpresolve`] for output, [`arp_input`] for what arrives.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use vimage_abi::net_if::{IFF_NOARP, IFF_UP};
use vimage_abi::netinet_in::{ArpEntryInfo, ARPF_COMPLETE, ARPF_PERMANENT};
use vimage_abi::Errno;

use super::ip::{rd16, rd_v4, wr16};
use super::ip_var::inc;
use super::r#in::in_addrs;
use vimage_kern::kern_timeout::{getnow_ns, timeout};
use vimage_net::ethernet::{EtherAddr, ETHERTYPE_IP, ETHER_ADDR_LEN};
use vimage_net::if_ethersubr::ether_output_frame;
use vimage_net::if_var::Ifnet;
use vimage_net::mbuf::Mbuf;

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

// ---------------------------------------------------------------- the ARP cache

/// How long an incomplete entry lives (`arpt_down`, 20 s).
pub const ARPT_DOWN_NS: u64 = 20_000_000_000;
/// Least time between two requests for the same address (1 s).
pub const ARP_REQ_INTERVAL_NS: u64 = 1_000_000_000;

/// One ARP cache entry (`struct llinfo_arp`).
#[derive(Debug)]
struct LlEntry {
    ifp: Arc<Ifnet>,
    lladdr: Option<EtherAddr>,
    /// Kernel time it expires at (0: never).
    expire_ns: u64,
    /// The latest packet waiting for resolution (`la_hold`).
    hold: Option<Mbuf>,
    /// Requests sent since the last resolution (`la_asked`).
    asked: u32,
    last_req_ns: u64,
    /// Bumped on every change; a timer only acts on the generation it was set for.
    gen: u64,
}

/// A vnet's ARP cache.
#[derive(Default)]
pub struct ArpTable {
    entries: Mutex<HashMap<Ipv4Addr, LlEntry>>,
    gen: AtomicU64,
}

impl ArpTable {
    /// Drop every entry (and the packets they hold).
    pub fn clear(&self) {
        if let Ok(mut g) = self.entries.lock() {
            g.clear();
        }
    }
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|g| g.len()).unwrap_or(0)
    }
    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn next_gen(&self) -> u64 {
        self.gen.fetch_add(1, Ordering::Relaxed) + 1
    }
}

fn ifp_mac(ifp: &Ifnet) -> EtherAddr {
    EtherAddr::from_bytes(&ifp.lladdr()).unwrap_or(EtherAddr::ZERO)
}

/// Arm the expiry timer of entry `addr` at generation `gen`.
fn arp_settimer(addr: Ipv4Addr, gen: u64, at_ns: u64) {
    timeout(at_ns, move || arptimer(addr, gen));
}

/// An entry's timer fired (`arptimer`): remove it if it was not refreshed since.
fn arptimer(addr: Ipv4Addr, gen: u64) {
    super::VNET_INET.try_with(|inet| {
        let now = getnow_ns();
        let dropped = {
            let Ok(mut g) = inet.arp.entries.lock() else {
                return;
            };
            match g.get(&addr) {
                Some(e) if e.gen == gen && e.expire_ns != 0 && e.expire_ns <= now => {
                    g.remove(&addr)
                }
                _ => None,
            }
        };
        if dropped.is_some() {
            inc(&inet.arpstat.timeouts);
        }
    });
}

/// Build and send an ARP message out `ifp`.
fn arp_send(
    ifp: &Arc<Ifnet>,
    op: ArpOp,
    spa: Ipv4Addr,
    tpa: Ipv4Addr,
    tha: EtherAddr,
    dst: EtherAddr,
) {
    let repr = ArpRepr {
        op,
        sha: ifp_mac(ifp),
        spa,
        tha,
        tpa,
    };
    let mut m = Mbuf::from_slice(&[0u8; ETHER_ARP_LEN]);
    repr.emit(&mut ArpPacket::new_unchecked(m.data_mut()));
    let _ = ether_output_frame(ifp, m, dst, vimage_net::ethernet::ETHERTYPE_ARP);
}

/// `arprequest`: broadcast "who has `tip`, tell `sip`".
pub fn arprequest(ifp: &Arc<Ifnet>, sip: Ipv4Addr, tip: Ipv4Addr) {
    if let Some(inet) = super::try_vnet_inet() {
        inc(&inet.arpstat.txrequests);
    }
    arp_send(
        ifp,
        ArpOp::Request,
        sip,
        tip,
        EtherAddr::ZERO,
        EtherAddr::BROADCAST,
    );
}

/// `arp_ifinit`: announce `addr` on `ifp` with a gratuitous ARP if it is up.
pub fn arp_ifinit(ifp: &Arc<Ifnet>, addr: Ipv4Addr) {
    if ifp.flags() & IFF_UP != 0 && ifp.flags() & IFF_NOARP == 0 {
        arprequest(ifp, addr, addr);
    }
}

/// The interface came up: announce each of its IPv4 addresses with a
/// gratuitous ARP (Ethernet interfaces only).
pub fn arp_ifup(ifp: &Arc<Ifnet>) {
    if ifp.iftype != vimage_abi::net_if::IFT_ETHER && ifp.iftype != vimage_abi::net_if::IFT_L2VLAN {
        return;
    }
    for a in in_addrs(ifp) {
        arp_ifinit(ifp, a.addr);
    }
}

/// The source address for a request about `dst` on `ifp`: the interface address
/// on `dst`'s subnet, else its first.
fn arp_srcaddr(ifp: &Ifnet, dst: Ipv4Addr) -> Option<Ipv4Addr> {
    let list = in_addrs(ifp);
    list.iter()
        .find(|a| a.contains(dst))
        .or(list.first())
        .map(|a| a.addr)
}

/// Ethernet output's IPv4 resolver (`VnetNet::arpresolve`): the broadcast
/// address for a broadcast destination of `ifp`, else [`arpresolve`].
pub fn ether_resolve(
    ifp: &Arc<Ifnet>,
    dst: Ipv4Addr,
    m: Mbuf,
) -> Result<Option<(EtherAddr, Mbuf)>, Errno> {
    if super::r#in::in_broadcast(dst, ifp) {
        return Ok(Some((EtherAddr::BROADCAST, m)));
    }
    arpresolve(ifp, dst, m)
}

/// `arpresolve`: the MAC of `dst` on `ifp`.  On a miss the packet is held (only
/// the latest one) and a request goes out (at most one a second, `maxtries` in a
/// row); `Ok(None)` then means "sent when resolved".  After `maxtries`
/// unanswered requests the sender sees `EHOSTDOWN` until the entry expires.
pub fn arpresolve(
    ifp: &Arc<Ifnet>,
    dst: Ipv4Addr,
    m: Mbuf,
) -> Result<Option<(EtherAddr, Mbuf)>, Errno> {
    if ifp.flags() & IFF_NOARP != 0 {
        return Err(Errno::EHOSTUNREACH);
    }
    super::VNET_INET.with(|inet| {
        let now = getnow_ns();
        let maxtries = inet.arp_maxtries.load(Ordering::Relaxed).max(1) as u32;
        let mut request = None;
        {
            let mut g = inet.arp.entries.lock().map_err(|_| Errno::EDOOFUS)?;
            let stale = g.get(&dst).is_some_and(|e| {
                !Arc::ptr_eq(&e.ifp, ifp) || (e.expire_ns != 0 && e.expire_ns <= now)
            });
            if stale {
                g.remove(&dst);
            }
            if let Some(e) = g.get(&dst) {
                if let Some(mac) = e.lladdr {
                    return Ok(Some((mac, m)));
                }
            }
            let gen = inet.arp.next_gen();
            let e = g.entry(dst).or_insert_with(|| {
                arp_settimer(dst, gen, now + ARPT_DOWN_NS);
                LlEntry {
                    ifp: ifp.clone(),
                    lladdr: None,
                    expire_ns: now + ARPT_DOWN_NS,
                    hold: None,
                    asked: 0,
                    last_req_ns: 0,
                    gen,
                }
            });
            if e.asked >= maxtries {
                inc(&inet.arpstat.dropped);
                return Err(Errno::EHOSTDOWN);
            }
            if e.hold.replace(m).is_some() {
                inc(&inet.arpstat.dropped);
            }
            if e.asked == 0 || now.saturating_sub(e.last_req_ns) >= ARP_REQ_INTERVAL_NS {
                e.asked += 1;
                e.last_req_ns = now;
                request = arp_srcaddr(ifp, dst);
            }
        }
        if let Some(src) = request {
            arprequest(ifp, src, dst);
        }
        Ok(None)
    })
}

/// ARP input (`in_arpinput`), registered for `ETHERTYPE_ARP`: learn the sender
/// if the message is for one of our addresses (or refreshes an entry we have),
/// answer requests for our addresses, send packets that waited.  Messages for
/// someone else are counted and dropped.
pub fn arp_input(ifp: &Arc<Ifnet>, m: Mbuf) {
    super::VNET_INET.try_with(|inet| {
        inc(&inet.arpstat.received);
        let repr = match ArpPacket::new_checked(m.data()).and_then(|p| ArpRepr::parse(&p)) {
            Ok(r) => r,
            Err(_) => {
                inc(&inet.arpstat.bad);
                return;
            }
        };
        match repr.op {
            ArpOp::Request => inc(&inet.arpstat.rxrequests),
            ArpOp::Reply => inc(&inet.arpstat.rxreplies),
        }
        if ifp.flags() & IFF_NOARP != 0 {
            return;
        }
        let mine = ifp_mac(ifp);
        if repr.sha == mine {
            // Our own message came back (a loop in the link).
            return;
        }
        if repr.sha.is_multicast() {
            inc(&inet.arpstat.bad);
            return;
        }
        let addrs = in_addrs(ifp);
        let itaddr = addrs.iter().find(|a| a.addr == repr.tpa).map(|a| a.addr);
        if addrs.iter().any(|a| a.addr == repr.spa) {
            // Someone else claims one of our addresses: defend it.
            inc(&inet.arpstat.dupips);
            if repr.op == ArpOp::Request {
                arp_send(ifp, ArpOp::Reply, repr.spa, repr.spa, repr.sha, repr.sha);
                inc(&inet.arpstat.txreplies);
            }
            return;
        }
        let now = getnow_ns();
        let maxage = inet.arp_maxage.load(Ordering::Relaxed).max(1) as u64 * 1_000_000_000;
        let mut held = None;
        if !repr.spa.is_unspecified() {
            let Ok(mut g) = inet.arp.entries.lock() else {
                return;
            };
            let exists = g.contains_key(&repr.spa);
            if exists || itaddr.is_some() {
                let gen = inet.arp.next_gen();
                let e = g.entry(repr.spa).or_insert_with(|| LlEntry {
                    ifp: ifp.clone(),
                    lladdr: None,
                    expire_ns: 0,
                    hold: None,
                    asked: 0,
                    last_req_ns: 0,
                    gen,
                });
                if e.expire_ns == 0 && e.lladdr.is_some() {
                    // A permanent entry is not overwritten by the wire.
                } else if !Arc::ptr_eq(&e.ifp, ifp) {
                    // FreeBSD logs "arp: X is on eth0 but got reply from Y on eth1".
                    inc(&inet.arpstat.ignored);
                } else {
                    if e.lladdr.is_some_and(|l| l != repr.sha) {
                        inc(&inet.arpstat.movedaddr);
                    }
                    e.lladdr = Some(repr.sha);
                    e.expire_ns = now + maxage;
                    e.asked = 0;
                    e.gen = gen;
                    arp_settimer(repr.spa, gen, e.expire_ns);
                    held = e.hold.take();
                }
            }
        }
        if let Some(h) = held {
            let _ = ether_output_frame(ifp, h, repr.sha, vimage_net::ethernet::ETHERTYPE_IP);
        }
        match (repr.op, itaddr) {
            (ArpOp::Request, Some(me)) => {
                arp_send(ifp, ArpOp::Reply, me, repr.spa, repr.sha, repr.sha);
                inc(&inet.arpstat.txreplies);
            }
            (_, None) => inc(&inet.arpstat.ignored),
            _ => {}
        }
    });
}

/// The cache for `arp -a` (`net.link.ether.inet.dump`), sorted by address.
pub fn arp_dump() -> Vec<u8> {
    let inet = super::vnet_inet();
    let now = getnow_ns();
    let mut v: Vec<ArpEntryInfo> = match inet.arp.entries.lock() {
        Ok(g) => g
            .iter()
            .map(|(a, e)| ArpEntryInfo {
                addr: *a,
                lladdr: e.lladdr.map(|l| l.0.to_vec()).unwrap_or_default(),
                ifindex: e.ifp.index.load(Ordering::Relaxed),
                ifname: e.ifp.name(),
                iftype: e.ifp.iftype,
                expire: if e.expire_ns == 0 {
                    0
                } else {
                    (e.expire_ns.saturating_sub(now) / 1_000_000_000) as i64
                },
                flags: if e.lladdr.is_some() { ARPF_COMPLETE } else { 0 }
                    | if e.expire_ns == 0 { ARPF_PERMANENT } else { 0 },
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort_by_key(|e| u32::from(e.addr));
    ArpEntryInfo::encode_list(&v)
}

/// The ARP cache as 7.x's routing table shows it (`netstat -r`): one host
/// route per entry, `UHLW` (a static one `UHLS`), its gateway the link-layer
/// address (`link#N` while incomplete), its expiry in seconds.
pub fn arp_llinfo(now_s: u64) -> Vec<vimage_abi::route::RouteEntryInfo> {
    use vimage_abi::route::{
        DumpGateway, RouteEntryInfo, RTF_HOST, RTF_LLINFO, RTF_STATIC, RTF_UP, RTF_WASCLONED,
    };
    let Some(v) = super::VNET_INET.try_with(|inet| {
        let Ok(g) = inet.arp.entries.lock() else {
            return Vec::new();
        };
        g.iter()
            .map(|(a, e)| {
                let ifindex = e.ifp.index.load(Ordering::Relaxed);
                let permanent = e.expire_ns == 0;
                RouteEntryInfo {
                    dst: IpAddr::V4(*a),
                    plen: 32,
                    gateway: match e.lladdr {
                        Some(l) => DumpGateway::Ether(l.0),
                        None => DumpGateway::Link(ifindex),
                    },
                    ifindex,
                    ifname: e.ifp.name(),
                    flags: RTF_UP
                        | RTF_HOST
                        | RTF_LLINFO
                        | if permanent { RTF_STATIC } else { RTF_WASCLONED },
                    refs: 1,
                    used: 0,
                    expire: if permanent {
                        0
                    } else {
                        (e.expire_ns / 1_000_000_000).saturating_sub(now_s).max(1)
                    },
                    mtu: 0,
                }
            })
            .collect()
    }) else {
        return Vec::new();
    };
    v
}

/// `arp -d`: delete the entry for `addr` (on interface `ifname` if not empty);
/// `ENOENT` if there is none.
pub fn arp_delete(addr: Ipv4Addr, ifname: &str) -> Result<(), Errno> {
    let inet = super::vnet_inet();
    let mut g = inet.arp.entries.lock().map_err(|_| Errno::EDOOFUS)?;
    match g.get(&addr) {
        Some(e) if ifname.is_empty() || e.ifp.name() == ifname => {
            g.remove(&addr);
            Ok(())
        }
        _ => Err(Errno::ENOENT),
    }
}

/// Forget the entries on `ifp` (only those within `prefix`, if given): the
/// interface or one of its addresses went away.
pub fn arp_purge(ifp: &Arc<Ifnet>, prefix: Option<(Ipv4Addr, u8)>) {
    super::VNET_INET.try_with(|inet| {
        if let Ok(mut g) = inet.arp.entries.lock() {
            g.retain(|a, e| {
                let inside = prefix.is_none_or(|(net, plen)| {
                    let m = u32::from(vimage_abi::netinet_in::in_plen2mask(plen));
                    u32::from(*a) & m == u32::from(net) & m
                });
                !(Arc::ptr_eq(&e.ifp, ifp) && inside)
            });
        };
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use vimage_kern::fuzz::{hex, mutate, rounds, Rng};

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
