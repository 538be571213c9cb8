//! Internet protocol control blocks (FreeBSD's sys/netinet/in_pcb.c): one
//! generic table ([`InPcbInfo`], `struct inpcbinfo`) that TCP, UDP and UDP
//! over IPv6 each keep per vnet: a port space with wildcard binds,
//! `SO_REUSEADDR`/`SO_REUSEPORT`, ephemeral ports from
//! `net.inet.ip.portrange.first..last`, and demultiplexing by a hash on the
//! exact four-tuple, then on the local port with wildcards.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use vimage_abi::Errno;

/// A socket's addresses (`inp_laddr`, `inp_lport`, `inp_faddr`, `inp_fport`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InEndpoints {
    /// Local address (unspecified: wildcard).
    pub laddr: Ipv4Addr,
    /// Local port (0: not bound).
    pub lport: u16,
    /// Foreign address (unspecified: not connected).
    pub faddr: Ipv4Addr,
    /// Foreign port.
    pub fport: u16,
}

impl Default for InEndpoints {
    fn default() -> Self {
        InEndpoints {
            laddr: Ipv4Addr::UNSPECIFIED,
            lport: 0,
            faddr: Ipv4Addr::UNSPECIFIED,
            fport: 0,
        }
    }
}

/// Port-sharing options of a control block.
pub const INP_REUSEADDR: u32 = 0x1;
/// See [`INP_REUSEADDR`].
pub const INP_REUSEPORT: u32 = 0x2;

/// A control block's addresses in either family (`struct in_conninfo`:
/// `inp_laddr`/`in6p_laddr`, `inp_lport`, `inp_faddr`, `inp_fport`); the
/// family is the addresses'.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InpEndpoints {
    /// Local address (unspecified: wildcard).
    pub laddr: IpAddr,
    /// Local port (0: not bound).
    pub lport: u16,
    /// Foreign address (unspecified: not connected).
    pub faddr: IpAddr,
    /// Foreign port.
    pub fport: u16,
    /// Scope zone of a link-local IPv6 foreign address.
    pub zone: u32,
}

impl InpEndpoints {
    /// Nothing bound or connected, in family `v6` or IPv4.
    pub fn unbound(v6: bool) -> Self {
        let any = if v6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        InpEndpoints {
            laddr: any,
            lport: 0,
            faddr: any,
            fport: 0,
            zone: 0,
        }
    }
}

struct Ent<T> {
    ep: InpEndpoints,
    /// `INP_REUSEADDR` | `INP_REUSEPORT`.
    opts: u32,
    /// An AF_INET6 block bound to the IPv6 wildcard with `IPV6_V6ONLY` off:
    /// it also holds the port for IPv4 (`INP_IPV4 | INP_IPV6`).
    dual: bool,
    cb: T,
}

/// The IPv4 part of a binding: its IPv4 address, or the IPv4 wildcard for an
/// IPv6 wildcard open to IPv4-mapped traffic.
fn v4_part(ep: &InpEndpoints, dual: bool) -> Option<IpAddr> {
    match ep.laddr {
        IpAddr::V4(_) => Some(ep.laddr),
        IpAddr::V6(a) if dual && a.is_unspecified() => Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        IpAddr::V6(_) => None,
    }
}

/// The IPv6 part of a binding.
fn v6_part(ep: &InpEndpoints) -> Option<IpAddr> {
    ep.laddr.is_ipv6().then_some(ep.laddr)
}

/// Whether two local addresses of one family overlap (either a wildcard).
fn overlap(a: Option<IpAddr>, b: Option<IpAddr>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x.is_unspecified() || y.is_unspecified() || x == y,
        _ => false,
    }
}

/// A fully specified four-tuple (`in_pcbhash` of a connected block).
type Tuple = (IpAddr, u16, IpAddr, u16);

/// Where a block is found by [`InPcbInfo::lookup`]: connected blocks with
/// both addresses known by their four-tuple, other bound ones (listeners,
/// unconnected datagram sockets) by their local port, so a packet never
/// walks the vnet's other connections (a busy server's thousands of
/// TIME_WAIT blocks).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Conn(Tuple),
    Bound(u16),
    Nowhere,
}

fn slot_of(ep: &InpEndpoints) -> Slot {
    if ep.lport == 0 {
        Slot::Nowhere
    } else if !ep.faddr.is_unspecified() && !ep.laddr.is_unspecified() {
        Slot::Conn((ep.laddr, ep.lport, ep.faddr, ep.fport))
    } else {
        Slot::Bound(ep.lport)
    }
}

struct Inner<T> {
    next_id: u64,
    /// Every block, in creation order.
    all: BTreeMap<u64, Ent<T>>,
    /// Connected blocks by four-tuple (`ipi_hashbase`).
    conns: HashMap<Tuple, u64>,
    /// Bound blocks that are not in `conns`, by local port: the wildcard
    /// candidates of a lookup.
    bound: HashMap<u16, Vec<u64>>,
    /// Every block holding a local port, connected or not (`ipi_porthashbase`):
    /// what a bind checks, so finding a free ephemeral port costs O(1)
    /// expected per candidate instead of a walk of every block.
    by_port: HashMap<u16, Vec<u64>>,
    lastport: u16,
}

impl<T> Default for Inner<T> {
    fn default() -> Self {
        Inner {
            next_id: 1,
            all: BTreeMap::new(),
            conns: HashMap::new(),
            bound: HashMap::new(),
            by_port: HashMap::new(),
            lastport: 0,
        }
    }
}

fn list_remove(m: &mut HashMap<u16, Vec<u64>>, port: u16, id: u64) {
    if let Some(v) = m.get_mut(&port) {
        v.retain(|x| *x != id);
        if v.is_empty() {
            m.remove(&port);
        }
    }
}

impl<T> Inner<T> {
    fn unindex(&mut self, id: u64, ep: &InpEndpoints) {
        if ep.lport != 0 {
            list_remove(&mut self.by_port, ep.lport, id);
        }
        match slot_of(ep) {
            Slot::Conn(t) => {
                if self.conns.get(&t) == Some(&id) {
                    self.conns.remove(&t);
                    // Another block with the same tuple (SO_REUSEPORT
                    // datagram sockets) takes the slot over.
                    let other = self.by_port.get(&t.1).and_then(|ids| {
                        ids.iter().copied().find(|o| {
                            self.all
                                .get(o)
                                .is_some_and(|e| slot_of(&e.ep) == Slot::Conn(t))
                        })
                    });
                    if let Some(o) = other {
                        self.conns.insert(t, o);
                    }
                }
            }
            Slot::Bound(p) => list_remove(&mut self.bound, p, id),
            Slot::Nowhere => {}
        }
    }

    fn index(&mut self, id: u64, ep: &InpEndpoints) {
        if ep.lport != 0 {
            self.by_port.entry(ep.lport).or_default().push(id);
        }
        match slot_of(ep) {
            Slot::Conn(t) => {
                self.conns.entry(t).or_insert(id);
            }
            Slot::Bound(p) => self.bound.entry(p).or_default().push(id),
            Slot::Nowhere => {}
        }
    }

    /// Give block `id` endpoints `ep` (and `dual`), keeping the indexes.
    fn set(&mut self, id: u64, ep: InpEndpoints, dual: Option<bool>) {
        let Some(old) = self.all.get(&id).map(|e| e.ep) else {
            return;
        };
        if old != ep {
            self.unindex(id, &old);
            self.index(id, &ep);
        }
        if let Some(e) = self.all.get_mut(&id) {
            e.ep = ep;
            if let Some(d) = dual {
                e.dual = d;
            }
        }
    }

    /// `in_pcbbind_setup`'s collision test: whether binding block `id`
    /// (`ep`'s addresses, options `opts`, `dual`) to `port` collides.  A
    /// socket without SO_REUSEADDR/SO_REUSEPORT (`exact` false) collides with
    /// any block on an overlapping address, connected ones too; with one of
    /// them, only with an unconnected block bound to exactly the same
    /// address (so a connected UDP socket or a TIME_WAIT connection leaves
    /// the port to a new listener).  Both SO_REUSEPORT (or, for a multicast
    /// group, either option on both) share fully.
    fn conflicts(
        &self,
        id: u64,
        ep: &InpEndpoints,
        opts: u32,
        dual: bool,
        port: u16,
        exact: bool,
    ) -> bool {
        let reuse_any = INP_REUSEADDR | INP_REUSEPORT;
        let (my4, my6) = (v4_part(ep, dual), v6_part(ep));
        let Some(ids) = self.by_port.get(&port) else {
            return false;
        };
        ids.iter()
            .filter(|o| **o != id)
            .filter_map(|o| self.all.get(o))
            .any(|o| {
                let share = (opts & o.opts & INP_REUSEPORT != 0)
                    || (ep.laddr.is_multicast()
                        && opts & reuse_any != 0
                        && o.opts & reuse_any != 0);
                let (o4, o6) = (v4_part(&o.ep, o.dual), v6_part(&o.ep));
                let hit = if exact {
                    o.ep.faddr.is_unspecified()
                        && ((my4.is_some() && o4 == my4) || (my6.is_some() && o6 == my6))
                } else {
                    overlap(o4, my4) || overlap(o6, my6)
                };
                hit && !share
            })
    }
}

/// One protocol's control blocks in one vnet (`struct inpcbinfo`), for TCP,
/// UDP and UDP over IPv6 alike: a per-vnet port space with wildcard binds,
/// `SO_REUSEADDR`/`SO_REUSEPORT`, ephemeral ports from a range, and lookups
/// by exact four-tuple then by local port with wildcards.
pub struct InPcbInfo<T> {
    inner: Mutex<Inner<T>>,
}

impl<T> Default for InPcbInfo<T> {
    fn default() -> Self {
        InPcbInfo {
            inner: Mutex::new(Inner::default()),
        }
    }
}

impl<T: Clone> InPcbInfo<T> {
    /// `in_pcballoc`: enter `cb` with endpoints `ep`; its id.
    pub fn insert(&self, ep: InpEndpoints, cb: T) -> u64 {
        let Ok(mut g) = self.inner.lock() else {
            return 0;
        };
        let id = g.next_id;
        g.next_id += 1;
        g.all.insert(
            id,
            Ent {
                ep,
                opts: 0,
                dual: false,
                cb,
            },
        );
        g.index(id, &ep);
        id
    }

    /// `in_pcbdetach`: forget block `id`; its control block.
    pub fn remove(&self, id: u64) -> Option<T> {
        let mut g = self.inner.lock().ok()?;
        let e = g.all.remove(&id)?;
        g.unindex(id, &e.ep);
        Some(e.cb)
    }

    /// Block `id`'s addresses.
    pub fn endpoints(&self, id: u64) -> Option<InpEndpoints> {
        self.inner.lock().ok()?.all.get(&id).map(|e| e.ep)
    }

    /// Update block `id`'s addresses (`in_pcbconnect`, `in_pcbdisconnect`).
    pub fn set_endpoints(&self, id: u64, ep: InpEndpoints) {
        if let Ok(mut g) = self.inner.lock() {
            g.set(id, ep, None);
        }
    }

    /// Set block `id`'s port-sharing options.
    pub fn set_opts(&self, id: u64, opts: u32) {
        if let Ok(mut g) = self.inner.lock() {
            if let Some(e) = g.all.get_mut(&id) {
                e.opts = opts;
            }
        }
    }

    /// Block `id`'s port-sharing options.
    pub fn opts(&self, id: u64) -> u32 {
        self.inner
            .lock()
            .ok()
            .and_then(|g| g.all.get(&id).map(|e| e.opts))
            .unwrap_or(0)
    }

    /// `in_pcbbind`: give block `id` the local address and port of `ep`
    /// (port 0: the next free ephemeral port in `first..=last`), with
    /// port-sharing options `opts`; `dual`: an IPv6 wildcard that also takes
    /// IPv4-mapped traffic, so it holds the port for IPv4 as well.
    /// `EINVAL` if already bound; `EADDRINUSE` on a collision; `EADDRNOTAVAIL`
    /// when the ephemeral range is exhausted.  Returns the new endpoints.
    pub fn bind(
        &self,
        id: u64,
        ep: InpEndpoints,
        first: u16,
        last: u16,
        opts: u32,
        dual: bool,
    ) -> Result<InpEndpoints, Errno> {
        let mut g = self.inner.lock().map_err(|_| Errno::EDOOFUS)?;
        let cur = g.all.get(&id).map(|e| e.ep).ok_or(Errno::EINVAL)?;
        if cur.lport != 0 {
            return Err(Errno::EINVAL);
        }
        if let Some(e) = g.all.get_mut(&id) {
            e.opts = opts;
        }
        let port = if ep.lport != 0 {
            let exact = opts & (INP_REUSEADDR | INP_REUSEPORT) != 0;
            if g.conflicts(id, &ep, opts, dual, ep.lport, exact) {
                return Err(Errno::EADDRINUSE);
            }
            ep.lport
        } else {
            let (lo, hi) = if first <= last {
                (first, last)
            } else {
                (last, first)
            };
            let n = u32::from(hi - lo) + 1;
            let mut p = g.lastport;
            let mut found = None;
            for _ in 0..n {
                p = if p < lo || p >= hi { lo } else { p + 1 };
                if !g.conflicts(id, &ep, opts, dual, p, false) {
                    found = Some(p);
                    break;
                }
            }
            let p = found.ok_or(Errno::EADDRNOTAVAIL)?;
            g.lastport = p;
            p
        };
        let ep = InpEndpoints { lport: port, ..ep };
        g.set(id, ep, Some(dual));
        Ok(ep)
    }

    /// Whether a connected block already uses this exact four-tuple.
    pub fn tuple_in_use(&self, ep: &InpEndpoints) -> bool {
        self.inner
            .lock()
            .map(|g| {
                g.conns
                    .contains_key(&(ep.laddr, ep.lport, ep.faddr, ep.fport))
            })
            .unwrap_or(false)
    }

    /// `in_pcblookup_hash` with wildcard: the block that should get a packet
    /// from `faddr:fport` to `laddr:lport`: the connection with exactly that
    /// four-tuple, else the most specific bound block (a matching foreign
    /// address before a matching local one before a wildcard; for IPv4, an
    /// IPv4 block before an IPv6 wildcard open to mapped traffic).
    pub fn lookup(&self, laddr: IpAddr, lport: u16, faddr: IpAddr, fport: u16) -> Option<T> {
        let g = self.inner.lock().ok()?;
        if let Some(e) = g
            .conns
            .get(&(laddr, lport, faddr, fport))
            .and_then(|id| g.all.get(id))
        {
            return Some(e.cb.clone());
        }
        let v4 = laddr.is_ipv4();
        let mut best: Option<(u32, &Ent<T>)> = None;
        for e in g.bound.get(&lport)?.iter().filter_map(|id| g.all.get(id)) {
            let native = e.ep.laddr.is_ipv4() == v4;
            if !(native || (v4 && e.dual && e.ep.laddr.is_unspecified())) {
                continue;
            }
            let mut score = u32::from(native);
            if !e.ep.faddr.is_unspecified() {
                if e.ep.faddr != faddr || e.ep.fport != fport {
                    continue;
                }
                score += 4;
            }
            if !e.ep.laddr.is_unspecified() {
                if e.ep.laddr != laddr {
                    continue;
                }
                score += 2;
            }
            if best.as_ref().is_none_or(|(s, _)| score > *s) {
                best = Some((score, e));
            }
        }
        best.map(|(_, e)| e.cb.clone())
    }

    /// Every block bound to `lport` that accepts a broadcast or multicast
    /// datagram from `faddr:fport` to `laddr`, in bind order.
    pub fn lookup_all(&self, laddr: IpAddr, lport: u16, faddr: IpAddr, fport: u16) -> Vec<T> {
        let Ok(g) = self.inner.lock() else {
            return Vec::new();
        };
        let Some(ids) = g.by_port.get(&lport) else {
            return Vec::new();
        };
        let v4 = laddr.is_ipv4();
        ids.iter()
            .filter_map(|id| g.all.get(id))
            .filter(|e| {
                (e.ep.laddr.is_ipv4() == v4 || (v4 && e.dual && e.ep.laddr.is_unspecified()))
                    && (e.ep.laddr.is_unspecified() || e.ep.laddr == laddr)
                    && (e.ep.faddr.is_unspecified() || (e.ep.faddr == faddr && e.ep.fport == fport))
            })
            .map(|e| e.cb.clone())
            .collect()
    }

    /// Every block with its addresses, in creation order.
    pub fn list(&self) -> Vec<(InpEndpoints, T)> {
        self.inner
            .lock()
            .map(|g| g.all.values().map(|e| (e.ep, e.cb.clone())).collect())
            .unwrap_or_default()
    }

    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|g| g.all.len()).unwrap_or(0)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The vnet goes away: forget every block and return them, for the
    /// protocol to wake their sockets for good.
    pub fn drain(&self) -> Vec<T> {
        match self.inner.lock() {
            Ok(mut g) => {
                g.conns.clear();
                g.bound.clear();
                g.by_port.clear();
                std::mem::take(&mut g.all)
                    .into_values()
                    .map(|e| e.cb)
                    .collect()
            }
            Err(_) => Vec::new(),
        }
    }
}

/// What [`PcbTable`] needs of a control block.
pub trait InPcbCb: Send + Sync {
    /// The vnet is going away: wake the socket's sleepers for good.
    fn shutdown(&self);
}

fn v4_endpoints(ep: &InpEndpoints) -> InEndpoints {
    let v4 = |a: IpAddr| match a {
        IpAddr::V4(a) => a,
        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    };
    InEndpoints {
        laddr: v4(ep.laddr),
        lport: ep.lport,
        faddr: v4(ep.faddr),
        fport: ep.fport,
    }
}

/// An IPv4 protocol's control blocks (UDP's `udbinfo`): the generic
/// [`InPcbInfo`] seen through IPv4 addresses.
pub struct PcbTable<T> {
    info: InPcbInfo<Arc<T>>,
}

impl<T> Default for PcbTable<T> {
    fn default() -> Self {
        PcbTable {
            info: InPcbInfo::default(),
        }
    }
}

impl<T: InPcbCb> PcbTable<T> {
    /// `in_pcballoc`: enter an unbound block; its id.
    pub fn attach(&self, cb: Arc<T>) -> u64 {
        self.info.insert(InpEndpoints::unbound(false), cb)
    }

    /// `in_pcbdetach`: forget block `id`.
    pub fn detach(&self, id: u64) {
        self.info.remove(id);
    }

    /// Block `id`'s addresses.
    pub fn endpoints(&self, id: u64) -> InEndpoints {
        self.info
            .endpoints(id)
            .map(|e| v4_endpoints(&e))
            .unwrap_or_default()
    }

    /// Set block `id`'s port-sharing options.
    pub fn set_opts(&self, id: u64, opts: u32) {
        self.info.set_opts(id, opts);
    }

    /// Block `id`'s port-sharing options.
    pub fn opts(&self, id: u64) -> u32 {
        self.info.opts(id)
    }

    /// `in_pcbbind` (see [`InPcbInfo::bind`]) with the block's own options.
    pub fn bind(
        &self,
        id: u64,
        laddr: Ipv4Addr,
        lport: u16,
        first: u16,
        last: u16,
    ) -> Result<InEndpoints, Errno> {
        let ep = InpEndpoints {
            laddr: IpAddr::V4(laddr),
            lport,
            ..InpEndpoints::unbound(false)
        };
        let opts = self.info.opts(id);
        self.info
            .bind(id, ep, first, last, opts, false)
            .map(|e| v4_endpoints(&e))
    }

    /// Set block `id`'s foreign address (connect) and, if given, its local
    /// address.
    pub fn connect(
        &self,
        id: u64,
        faddr: Ipv4Addr,
        fport: u16,
        laddr: Option<Ipv4Addr>,
    ) -> Result<InEndpoints, Errno> {
        let mut ep = self.info.endpoints(id).ok_or(Errno::EINVAL)?;
        ep.faddr = IpAddr::V4(faddr);
        ep.fport = fport;
        if let Some(l) = laddr {
            ep.laddr = IpAddr::V4(l);
        }
        self.info.set_endpoints(id, ep);
        Ok(v4_endpoints(&ep))
    }

    /// The block that should get a datagram from `faddr:fport` to
    /// `laddr:lport` ([`InPcbInfo::lookup`]).
    pub fn lookup(
        &self,
        laddr: Ipv4Addr,
        lport: u16,
        faddr: Ipv4Addr,
        fport: u16,
    ) -> Option<Arc<T>> {
        self.info
            .lookup(IpAddr::V4(laddr), lport, IpAddr::V4(faddr), fport)
    }

    /// Every block bound to `lport` that accepts a broadcast or multicast
    /// datagram from `faddr:fport` to `laddr`.
    pub fn lookup_all(
        &self,
        laddr: Ipv4Addr,
        lport: u16,
        faddr: Ipv4Addr,
        fport: u16,
    ) -> Vec<Arc<T>> {
        self.info
            .lookup_all(IpAddr::V4(laddr), lport, IpAddr::V4(faddr), fport)
    }

    /// Every block with its addresses, in creation order.
    pub fn list(&self) -> Vec<(InEndpoints, Arc<T>)> {
        self.info
            .list()
            .into_iter()
            .map(|(e, cb)| (v4_endpoints(&e), cb))
            .collect()
    }

    /// The vnet goes away: wake every socket's sleepers and forget the blocks.
    pub fn shutdown(&self) {
        for cb in self.info.drain() {
            cb.shutdown();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Cb;
    impl InPcbCb for Cb {
        fn shutdown(&self) {}
    }

    #[test]
    fn binds_conflict_and_share() {
        let t: PcbTable<Cb> = PcbTable::default();
        let a = t.attach(Arc::new(Cb));
        let b = t.attach(Arc::new(Cb));
        let any = Ipv4Addr::UNSPECIFIED;
        let ten = Ipv4Addr::new(10, 0, 0, 20);
        t.bind(a, any, 520, 49152, 65535).unwrap();
        assert_eq!(t.bind(a, any, 521, 49152, 65535), Err(Errno::EINVAL));
        assert_eq!(t.bind(b, ten, 520, 49152, 65535), Err(Errno::EADDRINUSE));
        let c = t.attach(Arc::new(Cb));
        t.set_opts(a, INP_REUSEPORT);
        t.set_opts(c, INP_REUSEPORT);
        t.bind(c, any, 520, 49152, 65535).unwrap();
        // Ephemeral ports count up from the first of the range and wrap.
        assert_eq!(t.bind(b, any, 0, 49152, 49153).unwrap().lport, 49152);
        let d = t.attach(Arc::new(Cb));
        assert_eq!(t.bind(d, any, 0, 49152, 49153).unwrap().lport, 49153);
        let e = t.attach(Arc::new(Cb));
        assert_eq!(t.bind(e, any, 0, 49152, 49153), Err(Errno::EADDRNOTAVAIL));
        t.detach(b);
        assert_eq!(t.bind(e, any, 0, 49152, 49153).unwrap().lport, 49152);
        // Exact (connected) matches win over wildcards.
        t.connect(d, ten, 53, Some(ten)).unwrap();
        let f = t.attach(Arc::new(Cb));
        t.bind(f, any, 49153, 1, 1).unwrap_err();
        assert!(t.lookup(ten, 49153, ten, 53).is_some());
        // With SO_REUSEADDR only an unconnected block on the very same
        // address is in the way: a connected one is not (iperf3's UDP
        // server re-binds its port after connecting the first socket).
        t.set_opts(f, INP_REUSEADDR);
        t.bind(f, any, 49153, 1, 1).unwrap();
        let g2 = t.attach(Arc::new(Cb));
        t.set_opts(g2, INP_REUSEADDR);
        assert_eq!(t.bind(g2, any, 49153, 1, 1), Err(Errno::EADDRINUSE));
        t.bind(g2, ten, 49153, 1, 1).unwrap();
        t.detach(g2);
        t.detach(f);
        assert!(t.lookup(ten, 49153, ten, 54).is_none());
        assert_eq!(t.lookup_all(Ipv4Addr::BROADCAST, 520, ten, 9).len(), 2);
        assert_eq!(t.list().len(), 4);
    }

    fn ep(l: &str, lport: u16, f: &str, fport: u16) -> InpEndpoints {
        InpEndpoints {
            laddr: l.parse().unwrap(),
            lport,
            faddr: f.parse().unwrap(),
            fport,
            zone: 0,
        }
    }

    /// One table for both families: exact four-tuples first, then the most
    /// specific wildcard; an IPv6 wildcard open to IPv4 holds the IPv4 port
    /// and takes IPv4 traffic only when no IPv4 block does.
    #[test]
    fn generic_table_demultiplexes_both_families() {
        let t: InPcbInfo<&'static str> = InPcbInfo::default();
        let six = t.insert(InpEndpoints::unbound(true), "v6 wildcard");
        t.bind(six, ep("::", 80, "::", 0), 1, 1, 0, true).unwrap();
        // The dual wildcard holds port 80 for IPv4 too.
        let four = t.insert(InpEndpoints::unbound(false), "v4");
        assert_eq!(
            t.bind(four, ep("0.0.0.0", 80, "0.0.0.0", 0), 1, 1, 0, false),
            Err(Errno::EADDRINUSE)
        );
        let v4 = |a: &str| a.parse::<IpAddr>().unwrap();
        assert_eq!(
            t.lookup(v4("10.0.0.1"), 80, v4("10.0.0.2"), 999),
            Some("v6 wildcard")
        );
        assert_eq!(t.lookup(v4("::1"), 80, v4("::2"), 999), Some("v6 wildcard"));
        // A specific IPv4 binding (SO_REUSEADDR) wins for its address.
        t.bind(
            four,
            ep("10.0.0.1", 80, "0.0.0.0", 0),
            1,
            1,
            INP_REUSEADDR,
            false,
        )
        .unwrap();
        assert_eq!(
            t.lookup(v4("10.0.0.1"), 80, v4("10.0.0.2"), 999),
            Some("v4")
        );
        assert_eq!(
            t.lookup(v4("10.0.0.9"), 80, v4("10.0.0.2"), 999),
            Some("v6 wildcard")
        );
        // A connection is found by its four-tuple only.
        let c = t.insert(ep("10.0.0.1", 80, "10.0.0.2", 1234), "conn");
        assert!(t.tuple_in_use(&ep("10.0.0.1", 80, "10.0.0.2", 1234)));
        assert_eq!(
            t.lookup(v4("10.0.0.1"), 80, v4("10.0.0.2"), 1234),
            Some("conn")
        );
        assert_eq!(
            t.lookup(v4("10.0.0.1"), 80, v4("10.0.0.2"), 1235),
            Some("v4")
        );
        // Moving it (connect elsewhere) re-indexes it.
        t.set_endpoints(c, ep("10.0.0.1", 80, "10.0.0.3", 1));
        assert_eq!(
            t.lookup(v4("10.0.0.1"), 80, v4("10.0.0.2"), 1234),
            Some("v4")
        );
        assert_eq!(
            t.lookup(v4("10.0.0.1"), 80, v4("10.0.0.3"), 1),
            Some("conn")
        );
        assert_eq!(t.remove(c), Some("conn"));
        assert!(!t.tuple_in_use(&ep("10.0.0.1", 80, "10.0.0.3", 1)));
        // Broadcast delivery sees every IPv4 taker, the dual wildcard too.
        assert_eq!(
            t.lookup_all(v4("10.0.0.255"), 80, v4("10.0.0.2"), 9),
            vec!["v6 wildcard"]
        );
        assert_eq!(t.len(), 2);
        assert_eq!(t.drain().len(), 2);
        assert!(t.is_empty() && t.lookup(v4("::1"), 80, v4("::2"), 1).is_none());
    }

    /// Two datagram sockets sharing one four-tuple (SO_REUSEPORT): when the
    /// one in the hash goes, the other takes its slot.
    #[test]
    fn a_shared_tuple_survives_its_first_holder() {
        let t: InPcbInfo<u32> = InPcbInfo::default();
        let a = t.insert(InpEndpoints::unbound(false), 1);
        let b = t.insert(InpEndpoints::unbound(false), 2);
        for id in [a, b] {
            t.bind(
                id,
                ep("10.0.0.1", 53, "0.0.0.0", 0),
                1,
                1,
                INP_REUSEPORT,
                false,
            )
            .unwrap();
            t.set_endpoints(id, ep("10.0.0.1", 53, "10.0.0.2", 5353));
        }
        let (l, f) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        assert_eq!(t.lookup(l, 53, f, 5353), Some(1));
        t.remove(a);
        assert_eq!(t.lookup(l, 53, f, 5353), Some(2));
    }

    /// Ephemeral ports skip the busy ones and wrap within the range; a
    /// full range is EADDRNOTAVAIL.
    #[test]
    fn ephemeral_ports_skip_busy_ones() {
        let t: InPcbInfo<u8> = InPcbInfo::default();
        let any = ep("0.0.0.0", 0, "0.0.0.0", 0);
        let x = t.insert(InpEndpoints::unbound(false), 0);
        t.bind(x, InpEndpoints { lport: 5001, ..any }, 5000, 5002, 0, false)
            .unwrap();
        let ports: Vec<u16> = (0..2)
            .map(|_| {
                let id = t.insert(InpEndpoints::unbound(false), 0);
                t.bind(id, any, 5000, 5002, 0, false).unwrap().lport
            })
            .collect();
        assert_eq!(ports, vec![5000, 5002]);
        let y = t.insert(InpEndpoints::unbound(false), 0);
        assert_eq!(
            t.bind(y, any, 5000, 5002, 0, false),
            Err(Errno::EADDRNOTAVAIL)
        );
    }
}

/// Per-socket IP options (`inp_ip_ttl`, `inp_ip_tos`, `INP_HDRINCL`, socket
/// flags).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InpOpts {
    /// `IP_TTL` (`None`: `net.inet.ip.ttl`).
    pub ttl: Option<u8>,
    /// `IP_TOS`.
    pub tos: u8,
    /// `IP_HDRINCL` (raw sockets).
    pub hdrincl: bool,
    /// `SO_BROADCAST`.
    pub broadcast: bool,
    /// `INP_REUSEADDR` | `INP_REUSEPORT`.
    pub reuse: u32,
}

fn int_opt(val: &[u8]) -> Result<i32, Errno> {
    match val.len() {
        4 => Ok(i32::from_le_bytes([val[0], val[1], val[2], val[3]])),
        1 => Ok(i32::from(val[0])),
        _ => Err(Errno::EINVAL),
    }
}

impl InpOpts {
    /// `setsockopt` at `SOL_SOCKET` or `IPPROTO_IP`; `raw` enables `IP_HDRINCL`.
    pub fn set(&mut self, level: i32, name: i32, val: &[u8], raw: bool) -> Result<(), Errno> {
        use vimage_abi::netinet_in::*;
        let v = int_opt(val)?;
        match (level, name) {
            (0xffff, SO_BROADCAST) => self.broadcast = v != 0,
            (0xffff, SO_REUSEADDR) | (0xffff, SO_REUSEPORT) => {
                let bit = if name == SO_REUSEADDR {
                    INP_REUSEADDR
                } else {
                    INP_REUSEPORT
                };
                if v != 0 {
                    self.reuse |= bit;
                } else {
                    self.reuse &= !bit;
                }
            }
            (0xffff, SO_SNDBUF) | (0xffff, SO_RCVBUF) => {
                if v <= 0 {
                    return Err(Errno::EINVAL);
                }
            }
            (IPPROTO_IP, IP_TTL) => {
                // -1 restores the default, as on FreeBSD.
                self.ttl = match v {
                    -1 => None,
                    0..=255 => Some(v as u8),
                    _ => return Err(Errno::EINVAL),
                };
            }
            (IPPROTO_IP, IP_TOS) => self.tos = v as u8,
            (IPPROTO_IP, IP_HDRINCL) if raw => self.hdrincl = v != 0,
            (IPPROTO_IP, _) | (0xffff, _) => return Err(Errno::ENOPROTOOPT),
            _ => return Err(Errno::EINVAL),
        }
        Ok(())
    }

    /// `getsockopt` at `SOL_SOCKET` or `IPPROTO_IP` (an `int`).
    pub fn get(&self, level: i32, name: i32, defttl: u8, raw: bool) -> Result<Vec<u8>, Errno> {
        use vimage_abi::netinet_in::*;
        let v: i32 = match (level, name) {
            (0xffff, SO_BROADCAST) => i32::from(self.broadcast),
            (0xffff, SO_REUSEADDR) => i32::from(self.reuse & INP_REUSEADDR != 0),
            (0xffff, SO_REUSEPORT) => i32::from(self.reuse & INP_REUSEPORT != 0),
            (IPPROTO_IP, IP_TTL) => i32::from(self.ttl.unwrap_or(defttl)),
            (IPPROTO_IP, IP_TOS) => i32::from(self.tos),
            (IPPROTO_IP, IP_HDRINCL) if raw => i32::from(self.hdrincl),
            (IPPROTO_IP, _) | (0xffff, _) => return Err(Errno::ENOPROTOOPT),
            _ => return Err(Errno::EINVAL),
        };
        Ok(v.to_le_bytes().to_vec())
    }
}
