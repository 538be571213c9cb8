//! `struct ifnet`: one network interface, owned by exactly one vnet at a time.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use vimage_abi::net_if::{IfInfo, IfStats};
use vimage_abi::Errno;

use super::if_vlan_var::IfVlanTrunk;
use super::mbuf::Mbuf;
use vimage_kern::vnet::Vnet;

/// What an interface's driver provides.
pub trait IfDriver: Send + Sync {
    /// Put a frame on the wire (`if_transmit`).
    fn transmit(&self, ifp: &Arc<Ifnet>, m: Mbuf) -> Result<(), Errno>;
    /// Driver-specific status lines for ifconfig (`vlan: 101 parent interface: em0`).
    fn status(&self, _ifp: &Arc<Ifnet>) -> Vec<String> {
        Vec::new()
    }
    /// Whether the interface may move between vnets (loopback may not).
    fn movable(&self) -> bool {
        true
    }
    /// The interface has just moved to another vnet (curvnet is the new one).
    fn vmoved(&self, _ifp: &Arc<Ifnet>) {}
    /// The interface was detached for good.
    fn detached(&self, _ifp: &Arc<Ifnet>) {}
    /// The driver's own ioctls (`if_ioctl`), tried before the interface
    /// layer's: `None` leaves `cmd` to the layer; a driver also takes a
    /// generic request it constrains (a vlan's `SIOCSIFMTU`).  `data` is the
    /// ifreq with, after it, what its `ifr_data` carries.
    fn ioctl(&self, _ifp: &Arc<Ifnet>, _cmd: u32, _data: &[u8]) -> Option<Result<Vec<u8>, Errno>> {
        None
    }
    /// `parent`, the interface this one rides on (a vlan's), leaves its vnet
    /// or goes away.
    fn parent_departed(&self, _ifp: &Arc<Ifnet>, _parent: &Arc<Ifnet>) {}
    /// Driver-private state, for the driver's own messages.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// Per-interface counters (`netstat -i`).
#[derive(Default, Debug)]
pub struct IfCounters {
    /// Packets received.
    pub ipackets: AtomicU64,
    /// Input errors.
    pub ierrors: AtomicU64,
    /// Packets sent.
    pub opackets: AtomicU64,
    /// Output errors.
    pub oerrors: AtomicU64,
    /// Bytes received.
    pub ibytes: AtomicU64,
    /// Bytes sent.
    pub obytes: AtomicU64,
    /// Packets dropped on input (no protocol, queue full).
    pub iqdrops: AtomicU64,
}

impl IfCounters {
    /// The counters as `net.link.iflist` reports them (no collisions on these links).
    pub fn snapshot(&self) -> IfStats {
        let ld = |c: &AtomicU64| c.load(Ordering::Relaxed);
        IfStats {
            ipackets: ld(&self.ipackets),
            ierrors: ld(&self.ierrors),
            opackets: ld(&self.opackets),
            oerrors: ld(&self.oerrors),
            ibytes: ld(&self.ibytes),
            obytes: ld(&self.obytes),
            iqdrops: ld(&self.iqdrops),
            collisions: 0,
        }
    }
}

/// A hook that sees frames arriving on an interface before the stack does
/// (`ng_ether_input_p`): it returns the frame to continue normal input, or `None`
/// if it took it.
pub type InputHook = Arc<dyn Fn(&Arc<Ifnet>, Mbuf) -> Option<Mbuf> + Send + Sync>;

/// A hook that sees frames the stack sends out an interface before its driver
/// does (`ng_ether_output_p`): it returns the frame to continue to the driver, or
/// `None` if it took it.
pub type OutputHook = Arc<dyn Fn(&Arc<Ifnet>, Mbuf) -> Option<Mbuf> + Send + Sync>;

/// One protocol address of an interface (`struct ifaddr`): the generic part every
/// family shares; the family's module keeps the rest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfAddr {
    /// The address.
    pub addr: std::net::IpAddr,
    /// Prefix length of its netmask.
    pub plen: u8,
    /// Broadcast (IPv4 broadcast interfaces) or point-to-point destination.
    pub dst: Option<std::net::IpAddr>,
    /// Family-specific flags (`IN6_IFF_*` for IPv6).
    pub flags: u32,
}

/// What a multicast membership of an interface names (`ifma_addr`): a
/// protocol group, or the link-level address groups map to.  Ordered: groups
/// first, then link-level addresses.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IfmaAddr {
    /// An IPv4 or IPv6 group (`AF_INET`/`AF_INET6` `ifma_addr`).
    Inet(std::net::IpAddr),
    /// A link-level multicast address (`AF_LINK`): 01:00:5e:… or 33:33:….
    Link(Vec<u8>),
}

/// One multicast address an interface listens to (`struct ifmultiaddr`),
/// with the number of joins holding it (`ifma_refcount`): several sockets
/// may join one group, and several groups map to one Ethernet address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfMultiAddr {
    /// The address.
    pub addr: IfmaAddr,
    /// Joins holding it.
    pub refcount: u32,
}

/// A network interface.
pub struct Ifnet {
    xname: RwLock<String>,
    /// Driver name (`lo`, `ngeth`, `edsc`).
    pub dname: String,
    /// Index in the owning vnet's interface list.
    pub index: AtomicU32,
    /// `IFF_*` flags.
    pub flags: AtomicU32,
    /// MTU.
    pub mtu: AtomicU32,
    /// `if_hwassist`: the `CSUM_*` work the interface takes over from the
    /// stack (an eiface: transport checksums and TSO, as its frames stay in
    /// memory up to a node that finishes them).
    pub hwassist: AtomicU32,
    /// Routing metric.
    pub metric: AtomicU32,
    /// `IFT_*` type.
    pub iftype: u8,
    /// Link-level address.
    pub lladdr: RwLock<Vec<u8>>,
    vnet: RwLock<Arc<Vnet>>,
    /// Where the interface was moved from, innermost last: (vnet, name there).
    history: Mutex<Vec<(Weak<Vnet>, String)>>,
    /// The driver.
    pub driver: Box<dyn IfDriver>,
    /// Counters.
    pub counters: IfCounters,
    /// Name of the cloner that made it, if any (destroyable with SIOCIFDESTROY).
    pub cloner: Option<String>,
    /// Input interception (ng_ether).
    pub input_hook: RwLock<Option<InputHook>>,
    /// Output interception (ng_ether's `upper` hook).
    pub output_hook: RwLock<Option<OutputHook>>,
    /// Protocol addresses in the order they were added (`if_addrhead`).
    pub addrs: RwLock<Vec<IfAddr>>,
    /// Input queue: what this interface receives is processed in order,
    /// whichever thread delivered it.
    pub inq: Arc<super::netisr::IfInq>,
    /// Enabled capabilities (`if_capenable`, `IFCAP_*`).
    pub capenable: AtomicU32,
    /// The vlans riding on this interface, by tag (`if_vlantrunk`), made
    /// when the first is configured; read on every tagged frame it receives.
    pub vlantrunk: OnceLock<Box<IfVlanTrunk>>,
    /// Multicast addresses it listens to (`if_multiaddrs`), protocol groups
    /// and the link-level addresses they map to, refcounted: see
    /// [`crate::r#if::if_addmulti`].
    /// Kept by address with its join count, so the lookup every multicast
    /// packet makes costs a logarithm of the joins a tenant piled up.
    pub multiaddrs: Mutex<BTreeMap<IfmaAddr, u32>>,
    /// Bumped each time the multicast list is purged (the interface left its
    /// stack): a join made before is no longer the list's to undo.
    pub maddr_gen: AtomicU64,
}

impl std::fmt::Debug for Ifnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ifnet({})", self.name())
    }
}

impl Ifnet {
    /// A new, not yet attached interface belonging to `vnet`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        vnet: &Arc<Vnet>,
        name: &str,
        dname: &str,
        iftype: u8,
        flags: u32,
        mtu: u32,
        lladdr: Vec<u8>,
        driver: Box<dyn IfDriver>,
    ) -> Arc<Ifnet> {
        Arc::new(Ifnet {
            xname: RwLock::new(name.to_string()),
            dname: dname.to_string(),
            index: AtomicU32::new(0),
            flags: AtomicU32::new(flags),
            mtu: AtomicU32::new(mtu),
            hwassist: AtomicU32::new(0),
            metric: AtomicU32::new(0),
            iftype,
            lladdr: RwLock::new(lladdr),
            vnet: RwLock::new(vnet.clone()),
            history: Mutex::new(Vec::new()),
            driver,
            counters: IfCounters::default(),
            cloner: None,
            input_hook: RwLock::new(None),
            output_hook: RwLock::new(None),
            addrs: RwLock::new(Vec::new()),
            inq: Arc::default(),
            capenable: AtomicU32::new(0),
            vlantrunk: OnceLock::new(),
            multiaddrs: Mutex::new(BTreeMap::new()),
            maddr_gen: AtomicU64::new(0),
        })
    }

    /// Same as [`Ifnet::new`] for an interface made by cloner `cloner`.
    #[allow(clippy::too_many_arguments)]
    pub fn new_cloned(
        vnet: &Arc<Vnet>,
        name: &str,
        dname: &str,
        iftype: u8,
        flags: u32,
        mtu: u32,
        lladdr: Vec<u8>,
        driver: Box<dyn IfDriver>,
        cloner: &str,
    ) -> Arc<Ifnet> {
        let mut i = Arc::into_inner(Ifnet::new(
            vnet, name, dname, iftype, flags, mtu, lladdr, driver,
        ))
        .expect("fresh Arc has one owner");
        i.cloner = Some(cloner.to_string());
        Arc::new(i)
    }

    /// Current name.
    pub fn name(&self) -> String {
        self.xname.read().map(|n| n.clone()).unwrap_or_default()
    }
    /// Whether the interface is called `n` (no copy of the name).
    pub fn name_is(&self, n: &str) -> bool {
        self.xname.read().is_ok_and(|x| *x == n)
    }
    pub(crate) fn set_name(&self, n: &str) {
        if let Ok(mut g) = self.xname.write() {
            *g = n.to_string();
        }
    }
    /// The vnet the interface belongs to now (`ifp->if_vnet`).
    pub fn vnet(&self) -> Arc<Vnet> {
        match self.vnet.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
    pub(crate) fn set_vnet(&self, v: &Arc<Vnet>) {
        if let Ok(mut g) = self.vnet.write() {
            *g = v.clone();
        }
    }
    pub(crate) fn push_history(&self, v: &Arc<Vnet>, name: String) {
        if let Ok(mut g) = self.history.lock() {
            g.push((Arc::downgrade(v), name));
        }
    }
    /// Where the interface came from: the vnet and the name it had there.
    pub fn came_from(&self) -> Option<(Arc<Vnet>, String)> {
        let g = self.history.lock().ok()?;
        let (w, n) = g.last()?;
        Some((w.upgrade()?, n.clone()))
    }
    pub(crate) fn pop_history(&self) {
        if let Ok(mut g) = self.history.lock() {
            g.pop();
        }
    }
    /// Current `IFF_*` flags.
    pub fn flags(&self) -> u32 {
        self.flags.load(Ordering::Relaxed)
    }
    /// Link-level address.
    pub fn lladdr(&self) -> Vec<u8> {
        self.lladdr.read().map(|a| a.clone()).unwrap_or_default()
    }
    /// The record `net.link.iflist` reports for ifconfig.
    pub fn info(self: &Arc<Self>) -> IfInfo {
        IfInfo {
            index: self.index.load(Ordering::Relaxed),
            name: self.name(),
            flags: self.flags(),
            metric: self.metric.load(Ordering::Relaxed),
            mtu: self.mtu.load(Ordering::Relaxed),
            iftype: self.iftype,
            lladdr: self.lladdr(),
            status: self.driver.status(self),
            addrs: self.addr_info(),
            stats: self.counters.snapshot(),
        }
    }
    /// The stack's way out (`ether_output` → `if_transmit`): an output hook may
    /// take the frame; otherwise it goes to the driver.
    pub fn output(self: &Arc<Self>, m: Mbuf) -> Result<(), Errno> {
        let hook = self.output_hook.read().ok().and_then(|g| g.clone());
        match hook {
            Some(h) => match h(self, m) {
                Some(m) => self.transmit(m),
                None => Ok(()),
            },
            None => self.transmit(m),
        }
    }

    /// Snapshot of the protocol addresses.
    pub fn addr_list(&self) -> Vec<IfAddr> {
        self.addrs.read().map(|g| g.clone()).unwrap_or_default()
    }

    fn addr_info(&self) -> Vec<vimage_abi::net_if::IfAddrInfo> {
        use std::net::IpAddr;
        fn bytes(a: &IpAddr) -> Vec<u8> {
            match a {
                IpAddr::V4(a) => a.octets().to_vec(),
                IpAddr::V6(a) => a.octets().to_vec(),
            }
        }
        self.addr_list()
            .iter()
            .map(|a| {
                let (family, width) = match a.addr {
                    IpAddr::V4(_) => (vimage_abi::net_if::AF_INET, 32u32),
                    IpAddr::V6(_) => (vimage_abi::net_if::AF_INET6, 128u32),
                };
                let plen = u32::from(a.plen).min(width);
                let mut mask = vec![0u8; (width / 8) as usize];
                for (i, b) in mask.iter_mut().enumerate() {
                    let bits = plen.saturating_sub(i as u32 * 8).min(8);
                    *b = (0xff00u16 >> bits) as u8;
                }
                let scope = match a.addr {
                    IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => {
                        self.index.load(Ordering::Relaxed)
                    }
                    _ => 0,
                };
                vimage_abi::net_if::IfAddrInfo {
                    family,
                    addr: bytes(&a.addr),
                    mask,
                    dst: a.dst.as_ref().map(bytes).unwrap_or_default(),
                    scope,
                    flags: a.flags,
                }
            })
            .collect()
    }

    /// Hand a frame to the driver, counting it.
    pub fn transmit(self: &Arc<Self>, m: Mbuf) -> Result<(), Errno> {
        let len = m.len() as u64;
        match self.driver.transmit(self, m) {
            Ok(()) => {
                self.counters.opackets.fetch_add(1, Ordering::Relaxed);
                self.counters.obytes.fetch_add(len, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.counters.oerrors.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Null;
    impl IfDriver for Null {
        fn transmit(&self, _: &Arc<Ifnet>, _: Mbuf) -> Result<(), Errno> {
            Ok(())
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }

    #[test]
    fn addresses_are_reported_with_masks_and_scope() {
        let reg = vimage_kern::vnet::ModRegistry::new();
        reg.register(&[&crate::r#if::VNET_NET_MODINFO]).unwrap();
        let _l = vimage_kern::kern_syscall::test_lock();
        let v = reg.vnet_alloc("t").unwrap();
        let ifp = Ifnet::new(&v, "eth0", "x", 6, 0, 1500, vec![0; 6], Box::new(Null));
        ifp.index.store(2, Ordering::Relaxed);
        ifp.addrs.write().unwrap().push(IfAddr {
            addr: "10.0.0.20".parse().unwrap(),
            plen: 24,
            dst: Some("10.0.0.255".parse().unwrap()),
            flags: 0,
        });
        ifp.addrs.write().unwrap().push(IfAddr {
            addr: "fe80::4200:aaff:feaa:3".parse().unwrap(),
            plen: 64,
            dst: None,
            flags: 0,
        });
        let i = ifp.info();
        assert_eq!(i.addrs[0].mask, vec![255, 255, 255, 0]);
        assert_eq!(i.addrs[0].dst, vec![10, 0, 0, 255]);
        assert_eq!(i.addrs[0].scope, 0);
        assert_eq!(i.addrs[1].mask, [vec![0xff; 8], vec![0; 8]].concat());
        assert_eq!(i.addrs[1].scope, 2);
        reg.vnet_destroy(&v);
    }

    /// Joins are counted per group; groups mapping to one Ethernet address
    /// share it until the last leaves; a leave of a group not joined is
    /// EADDRNOTAVAIL; an interface without IFF_MULTICAST joins nothing.
    #[test]
    fn multicast_memberships_are_refcounted() {
        use crate::r#if::{if_addmulti, if_delmulti, if_findmulti, if_findmulti_ll};
        use vimage_abi::net_if::IFF_MULTICAST;
        let reg = vimage_kern::vnet::ModRegistry::new();
        reg.register(&[&crate::r#if::VNET_NET_MODINFO]).unwrap();
        let _l = vimage_kern::kern_syscall::test_lock();
        let v = reg.vnet_alloc("t").unwrap();
        let ifp = Ifnet::new(
            &v,
            "eth0",
            "x",
            6,
            IFF_MULTICAST,
            1500,
            vec![0; 6],
            Box::new(Null),
        );
        let rip: std::net::IpAddr = "224.0.0.9".parse().unwrap();
        // 225.128.0.9 maps to the same 01:00:5e:00:00:09.
        let alias: std::net::IpAddr = "225.128.0.9".parse().unwrap();
        let ll = [0x01, 0x00, 0x5e, 0, 0, 9];
        assert_eq!(if_addmulti(&ifp, rip), Ok(true));
        assert_eq!(if_addmulti(&ifp, rip), Ok(false));
        assert_eq!(if_addmulti(&ifp, alias), Ok(true));
        assert!(if_findmulti(&ifp, rip) && if_findmulti_ll(&ifp, &ll));
        assert_eq!(crate::r#if::if_multiaddrs(&ifp).len(), 3);
        if_delmulti(&ifp, rip).unwrap();
        if_delmulti(&ifp, rip).unwrap();
        assert!(!if_findmulti(&ifp, rip) && if_findmulti_ll(&ifp, &ll));
        assert_eq!(if_delmulti(&ifp, rip), Err(Errno::EADDRNOTAVAIL));
        if_delmulti(&ifp, alias).unwrap();
        assert!(!if_findmulti_ll(&ifp, &ll));
        assert!(if_findmulti_ll(&ifp, &[0xff; 6]));
        let ripng: std::net::IpAddr = "ff02::9".parse().unwrap();
        if_addmulti(&ifp, ripng).unwrap();
        assert!(if_findmulti_ll(&ifp, &[0x33, 0x33, 0, 0, 0, 9]));
        crate::r#if::if_purgemaddrs(&ifp);
        assert!(crate::r#if::if_multiaddrs(&ifp).is_empty());
        assert_eq!(
            if_addmulti(&ifp, "10.0.0.1".parse().unwrap()),
            Err(Errno::EINVAL)
        );
        let p2p = Ifnet::new(&v, "tun0", "x", 23, 0, 1500, vec![], Box::new(Null));
        assert_eq!(if_addmulti(&p2p, rip), Err(Errno::EADDRNOTAVAIL));
        reg.vnet_destroy(&v);
    }

    #[test]
    fn counters_are_reported() {
        let reg = vimage_kern::vnet::ModRegistry::new();
        reg.register(&[&crate::r#if::VNET_NET_MODINFO]).unwrap();
        let _l = vimage_kern::kern_syscall::test_lock();
        let v = reg.vnet_alloc("t").unwrap();
        let ifp = Ifnet::new(&v, "eth0", "x", 6, 0, 1500, vec![0; 6], Box::new(Null));
        assert_eq!(ifp.info().stats, IfStats::default());
        ifp.transmit(Mbuf::from_vec(vec![0; 60])).unwrap();
        ifp.counters.ipackets.fetch_add(3, Ordering::Relaxed);
        ifp.counters.ibytes.fetch_add(300, Ordering::Relaxed);
        ifp.counters.iqdrops.fetch_add(1, Ordering::Relaxed);
        let s = ifp.info().stats;
        assert_eq!((s.opackets, s.obytes, s.oerrors), (1, 60, 0));
        assert_eq!((s.ipackets, s.ibytes, s.iqdrops), (3, 300, 1));
        assert_eq!((s.ierrors, s.collisions), (0, 0));
        reg.vnet_destroy(&v);
    }
}
