//! Internet protocol control blocks (FreeBSD's sys/netinet/in_pcb.c): a
//! per-vnet port space with wildcard binds, `SO_REUSEADDR`/`SO_REUSEPORT`,
//! ephemeral ports from `net.inet.ip.portrange.first..last`, and demultiplexing
//! of arriving datagrams by a hash on the local port.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
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

struct Ent<T> {
    ep: InEndpoints,
    opts: u32,
    cb: Arc<T>,
}

struct Inner<T> {
    next_id: u64,
    all: BTreeMap<u64, Ent<T>>,
    by_port: HashMap<u16, Vec<u64>>,
    lastport: u16,
}

impl<T> Default for Inner<T> {
    fn default() -> Self {
        Inner {
            next_id: 1,
            all: BTreeMap::new(),
            by_port: HashMap::new(),
            lastport: 0,
        }
    }
}

/// One protocol's control blocks in one vnet (`struct inpcbinfo`).
pub struct PcbTable<T> {
    inner: Mutex<Inner<T>>,
}

impl<T> Default for PcbTable<T> {
    fn default() -> Self {
        PcbTable {
            inner: Mutex::new(Inner::default()),
        }
    }
}

/// What the table needs of a control block.
pub trait InPcbCb: Send + Sync {
    /// The vnet is going away: wake the socket's sleepers for good.
    fn shutdown(&self);
}

impl<T: InPcbCb> PcbTable<T> {
    /// `in_pcballoc`: enter an unbound block; its id.
    pub fn attach(&self, cb: Arc<T>) -> u64 {
        let Ok(mut g) = self.inner.lock() else {
            return 0;
        };
        let id = g.next_id;
        g.next_id += 1;
        g.all.insert(
            id,
            Ent {
                ep: InEndpoints::default(),
                opts: 0,
                cb,
            },
        );
        id
    }

    /// `in_pcbdetach`: forget block `id`.
    pub fn detach(&self, id: u64) {
        if let Ok(mut g) = self.inner.lock() {
            if let Some(e) = g.all.remove(&id) {
                if let Some(v) = g.by_port.get_mut(&e.ep.lport) {
                    v.retain(|x| *x != id);
                    if v.is_empty() {
                        g.by_port.remove(&e.ep.lport);
                    }
                }
            }
        }
    }

    /// Block `id`'s addresses.
    pub fn endpoints(&self, id: u64) -> InEndpoints {
        self.inner
            .lock()
            .ok()
            .and_then(|g| g.all.get(&id).map(|e| e.ep))
            .unwrap_or_default()
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

    /// `in_pcbbind`: give block `id` local address `laddr` and port `lport` (0:
    /// the next free ephemeral port in `first..=last`).  `EINVAL` if already
    /// bound; `EADDRINUSE` if another block holds the port on an overlapping
    /// address and they do not both allow sharing; `EADDRNOTAVAIL` when the
    /// ephemeral range is exhausted.
    pub fn bind(
        &self,
        id: u64,
        laddr: Ipv4Addr,
        lport: u16,
        first: u16,
        last: u16,
    ) -> Result<InEndpoints, Errno> {
        let mut g = self.inner.lock().map_err(|_| Errno::EDOOFUS)?;
        let (cur, opts) = g
            .all
            .get(&id)
            .map(|e| (e.ep, e.opts))
            .ok_or(Errno::EINVAL)?;
        if cur.lport != 0 {
            return Err(Errno::EINVAL);
        }
        // `in_pcbbind_setup`: a socket without SO_REUSEADDR/SO_REUSEPORT
        // collides with any block on an overlapping address (connected ones
        // too); with one of them, only with an unconnected block bound to
        // exactly the same address (so a connected UDP socket or a TIME_WAIT
        // connection leaves the port to a new listener).  Both
        // SO_REUSEPORT (or, for a group, either option on both) share fully.
        let reuse_any = INP_REUSEADDR | INP_REUSEPORT;
        let conflicts = |g: &Inner<T>, port: u16, exact: bool| -> bool {
            g.by_port.get(&port).is_some_and(|ids| {
                ids.iter().any(|x| {
                    g.all.get(x).is_some_and(|o| {
                        let share = (opts & o.opts & INP_REUSEPORT != 0)
                            || (laddr.is_multicast()
                                && opts & reuse_any != 0
                                && o.opts & reuse_any != 0);
                        let hit = if exact {
                            o.ep.faddr.is_unspecified() && o.ep.laddr == laddr
                        } else {
                            o.ep.laddr.is_unspecified()
                                || laddr.is_unspecified()
                                || o.ep.laddr == laddr
                        };
                        hit && !share
                    })
                })
            })
        };
        let port = if lport != 0 {
            if conflicts(&g, lport, opts & reuse_any != 0) {
                return Err(Errno::EADDRINUSE);
            }
            lport
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
                if !conflicts(&g, p, false) {
                    found = Some(p);
                    break;
                }
            }
            let p = found.ok_or(Errno::EADDRNOTAVAIL)?;
            g.lastport = p;
            p
        };
        let ep = InEndpoints {
            laddr,
            lport: port,
            ..cur
        };
        if let Some(e) = g.all.get_mut(&id) {
            e.ep = ep;
        }
        g.by_port.entry(port).or_default().push(id);
        Ok(ep)
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
        let mut g = self.inner.lock().map_err(|_| Errno::EDOOFUS)?;
        let e = g.all.get_mut(&id).ok_or(Errno::EINVAL)?;
        e.ep.faddr = faddr;
        e.ep.fport = fport;
        if let Some(l) = laddr {
            e.ep.laddr = l;
        }
        Ok(e.ep)
    }

    /// `in_pcblookup_hash`: the block that should get a datagram from
    /// `faddr:fport` to `laddr:lport`: a connected exact match first, then the
    /// most specific bound one.
    pub fn lookup(
        &self,
        laddr: Ipv4Addr,
        lport: u16,
        faddr: Ipv4Addr,
        fport: u16,
    ) -> Option<Arc<T>> {
        let g = self.inner.lock().ok()?;
        let ids = g.by_port.get(&lport)?;
        let mut best: Option<(u32, &Ent<T>)> = None;
        for id in ids {
            let Some(e) = g.all.get(id) else { continue };
            let mut score = 0;
            if !e.ep.faddr.is_unspecified() {
                if e.ep.faddr != faddr || e.ep.fport != fport {
                    continue;
                }
                score += 2;
            }
            if !e.ep.laddr.is_unspecified() {
                if e.ep.laddr != laddr {
                    continue;
                }
                score += 1;
            }
            if best.as_ref().is_none_or(|(s, _)| score > *s) {
                best = Some((score, e));
            }
        }
        best.map(|(_, e)| e.cb.clone())
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
        let Ok(g) = self.inner.lock() else {
            return Vec::new();
        };
        let Some(ids) = g.by_port.get(&lport) else {
            return Vec::new();
        };
        ids.iter()
            .filter_map(|id| g.all.get(id))
            .filter(|e| {
                (e.ep.laddr.is_unspecified() || e.ep.laddr == laddr)
                    && (e.ep.faddr.is_unspecified() || (e.ep.faddr == faddr && e.ep.fport == fport))
            })
            .map(|e| e.cb.clone())
            .collect()
    }

    /// Every block with its addresses, in creation order.
    pub fn list(&self) -> Vec<(InEndpoints, Arc<T>)> {
        self.inner
            .lock()
            .map(|g| g.all.values().map(|e| (e.ep, e.cb.clone())).collect())
            .unwrap_or_default()
    }

    /// The vnet goes away: wake every socket's sleepers and forget the blocks.
    pub fn shutdown(&self) {
        let all: Vec<Arc<T>> = match self.inner.lock() {
            Ok(mut g) => {
                g.by_port.clear();
                std::mem::take(&mut g.all)
                    .into_values()
                    .map(|e| e.cb)
                    .collect()
            }
            Err(_) => Vec::new(),
        };
        for cb in all {
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
