//! `if_vlan`: 802.1Q virtual LAN interfaces (FreeBSD's sys/net/if_vlan.c).
//!
//! `kldload if_vlan` registers the `vlan` cloner.  A vlan rides on an
//! Ethernet parent of the vnet it is configured in: `ifconfig em0.101
//! create` (tag in the name), `ifconfig vlan0 create vlan 101 vlandev em0`,
//! or `ifconfig vlan0 vlan 101 vlandev em0` on an unconfigured one
//! (SIOCSETVLAN; `-vlandev` unconfigures).  Configured, it takes the
//! parent's MAC and its MTU less the 4-byte tag (unless the parent has
//! `IFCAP_VLAN_MTU`), copies SIMPLEX and runs; what it sends leaves through
//! the parent with the tag put in, and what the parent receives with the
//! tag comes to it untagged (`vimage_net::if_vlan_var`).
//!
//! The link to the parent is a kernel reference, so a vlan moved into
//! another vimage (`vimage -i n1 em0.101`, Exercise 3) keeps working while
//! its parent stays: the parent's vnet demultiplexes, the vlan's processes,
//! and two vimages may use the same addresses on two VLANs of one wire.  A
//! parent that leaves its vnet or goes away leaves its vlans unconfigured.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};

use vimage_abi::net_if::{
    IfReq, IFCAP_VLAN_MTU, IFF_BROADCAST, IFF_MULTICAST, IFF_RUNNING, IFF_SIMPLEX, IFREQ_SIZE,
    IFT_ETHER, IFT_L2VLAN, SIOCSIFMTU,
};
use vimage_abi::net_if_vlan_var::{
    VlanReq, ETHER_VLAN_ENCAP_LEN, EVL_VLID_MASK, SIOCGETVLAN, SIOCSETVLAN, VLANREQ_SIZE,
};
use vimage_abi::Errno;
use vimage_kern::kern_linker::KldModule;
use vimage_kern::vnet::curvnet;
use vimage_kern::Kernel;
use vimage_net::ethernet::ETHERMTU;
use vimage_net::if_clone::{requested_unit, IfCloner};
use vimage_net::if_var::{IfDriver, Ifnet};
use vimage_net::if_vlan_var::{ether_vlanencap, vlan_trunk_insert, vlan_trunk_remove};
use vimage_net::mbuf::Mbuf;
use vimage_net::r#if::{if_attach, if_detach, ifunit};

/// The cloner's name, and every vlan's driver name.
const VLANNAME: &str = "vlan";
/// Flags a parent needs (`VLAN_IFFLAGS`): vlans are broadcast media.
const VLAN_IFFLAGS: u32 = IFF_BROADCAST | IFF_MULTICAST;
/// Smallest payload an Ethernet frame carries (`ETHERMIN`): the low end of
/// a vlan's MTU before the fudge.
const ETHERMIN: u32 = 46;
/// Longest unit suffix a vlan name may have (`vlan99999`).
const MAX_UNIT_DIGITS: usize = 5;

/// What the module's vlans share: the configuration lock (`VLAN_LOCK`)
/// and the units handed out, per vnet they were made in.
#[derive(Default)]
struct VlanShared {
    /// Vnet id → units in use there.  Making, configuring, unconfiguring
    /// and destroying vlans happen under this lock.
    units: Mutex<HashMap<u32, BTreeSet<u32>>>,
}

impl VlanShared {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, BTreeSet<u32>>> {
        match self.units.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Give back `unit` of vnet `vnet` (`ifc_free_unit`).
    fn free_unit(&self, (vnet, unit): (u32, u32)) {
        let mut g = self.lock();
        if let Some(s) = g.get_mut(&vnet) {
            s.remove(&unit);
            if s.is_empty() {
                g.remove(&vnet);
            }
        }
    }
}

/// A configured vlan's link to its parent (`ifv_trunk`, `ifv_tag`,
/// `ifv_mtufudge`).
struct VlanLink {
    parent: Arc<Ifnet>,
    tag: u16,
    /// What the tag costs of the parent's MTU: 4, or 0 if the parent
    /// carries the longer frame (`IFCAP_VLAN_MTU`).
    fudge: u32,
}

/// One vlan interface (`struct ifvlan`).
struct IfVlan {
    shared: Arc<VlanShared>,
    /// Vnet (id) the unit was taken in, and the unit.
    unit: (u32, u32),
    /// The parent and tag while configured.  Read on every frame sent;
    /// written only under the shared lock.
    link: RwLock<Option<VlanLink>>,
}

impl IfVlan {
    fn of(ifp: &Ifnet) -> Option<&IfVlan> {
        ifp.driver.as_any().downcast_ref::<IfVlan>()
    }

    fn link(&self) -> std::sync::RwLockReadGuard<'_, Option<VlanLink>> {
        match self.link.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn link_mut(&self) -> std::sync::RwLockWriteGuard<'_, Option<VlanLink>> {
        match self.link.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// `vlan_config`: ride on `parent` with VLAN identifier `tag`.
    fn config(&self, ifp: &Arc<Ifnet>, parent: &Arc<Ifnet>, tag: u16) -> Result<(), Errno> {
        // 0 is "no VLAN" (priority tags), 4095 is reserved.
        if tag == 0 || tag >= EVL_VLID_MASK {
            return Err(Errno::EINVAL);
        }
        if parent.iftype != IFT_ETHER || parent.flags() & VLAN_IFFLAGS != VLAN_IFFLAGS {
            return Err(Errno::EPROTONOSUPPORT);
        }
        let _g = self.shared.lock();
        let mut link = self.link_mut();
        if link.is_some() {
            return Err(Errno::EBUSY);
        }
        vlan_trunk_insert(parent, tag, ifp)?;
        let fudge = if parent.capenable.load(Ordering::Relaxed) & IFCAP_VLAN_MTU != 0 {
            0
        } else {
            ETHER_VLAN_ENCAP_LEN as u32
        };
        ifp.mtu.store(
            parent.mtu.load(Ordering::Relaxed).saturating_sub(fudge),
            Ordering::Relaxed,
        );
        if let Ok(mut a) = ifp.lladdr.write() {
            *a = parent.lladdr();
        }
        if parent.flags() & IFF_SIMPLEX != 0 {
            ifp.flags.fetch_or(IFF_SIMPLEX, Ordering::Relaxed);
        } else {
            ifp.flags.fetch_and(!IFF_SIMPLEX, Ordering::Relaxed);
        }
        ifp.flags.fetch_or(IFF_RUNNING, Ordering::Relaxed);
        *link = Some(VlanLink {
            parent: parent.clone(),
            tag,
            fudge,
        });
        Ok(())
    }

    /// `vlan_unconfig`: leave the parent (if any): back to a plain 1500
    /// bytes, not running.  The MAC stays, as FreeBSD leaves it.
    fn unconfig(&self, ifp: &Arc<Ifnet>) {
        let _g = self.shared.lock();
        let Some(l) = self.link_mut().take() else {
            return;
        };
        vlan_trunk_remove(&l.parent, l.tag, ifp);
        ifp.mtu.store(ETHERMTU as u32, Ordering::Relaxed);
        ifp.flags.fetch_and(!IFF_RUNNING, Ordering::Relaxed);
    }

    /// SIOCSETVLAN: configure from a `vlanreq` (the parent looked up in
    /// curvnet), or unconfigure for an empty parent.
    fn setvlan(&self, ifp: &Arc<Ifnet>, vlr: &VlanReq) -> Result<(), Errno> {
        if vlr.parent.is_empty() {
            self.unconfig(ifp);
            return Ok(());
        }
        let parent = ifunit(&vlr.parent).ok_or(Errno::ENOENT)?;
        // Only VLAN identifier bits: no priority smuggled in.
        if vlr.tag & !EVL_VLID_MASK != 0 {
            return Err(Errno::EINVAL);
        }
        self.config(ifp, &parent, vlr.tag)
    }

    /// SIOCGETVLAN: the parent's name and the tag (empty and 0 when
    /// unconfigured).
    fn getvlan(&self) -> VlanReq {
        match self.link().as_ref() {
            Some(l) => VlanReq {
                parent: l.parent.name(),
                tag: l.tag,
            },
            None => VlanReq::default(),
        }
    }

    /// SIOCSIFMTU: within what the parent carries (EINVAL unconfigured).
    fn setmtu(&self, ifp: &Ifnet, mtu: i32) -> Result<(), Errno> {
        let g = self.link();
        let l = g.as_ref().ok_or(Errno::EINVAL)?;
        let max = l.parent.mtu.load(Ordering::Relaxed).saturating_sub(l.fudge);
        let min = ETHERMIN.saturating_sub(l.fudge);
        match u32::try_from(mtu) {
            Ok(m) if (min..=max).contains(&m) => {
                ifp.mtu.store(m, Ordering::Relaxed);
                Ok(())
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// The ioctls a vlan handles itself.
    fn do_ioctl(&self, ifp: &Arc<Ifnet>, cmd: u32, data: &[u8]) -> Result<Vec<u8>, Errno> {
        let (head, ifr_data) = data.split_at(data.len().min(IFREQ_SIZE));
        match cmd {
            SIOCSETVLAN => {
                self.setvlan(ifp, &VlanReq::from_bytes(ifr_data)?)?;
                Ok(data.to_vec())
            }
            SIOCGETVLAN => {
                // Checked so a malformed request is refused like any other.
                VlanReq::from_bytes(ifr_data)?;
                let mut out = head.to_vec();
                out.extend_from_slice(&self.getvlan().to_bytes()?);
                Ok(out)
            }
            _ => {
                // SIOCSIFMTU.
                let ifr = IfReq::from_bytes(data)?;
                self.setmtu(ifp, ifr.int())?;
                Ok(data.to_vec())
            }
        }
    }
}

impl IfDriver for IfVlan {
    /// `vlan_start`: out through the parent with the tag put in; a parent
    /// that is not up and running takes nothing (`ENETDOWN`).  The frame
    /// goes to the parent's driver, not through its ether hooks, as on
    /// FreeBSD.
    fn transmit(&self, _ifp: &Arc<Ifnet>, mut m: Mbuf) -> Result<(), Errno> {
        // Not held across the parent's driver: whatever that sets off never
        // waits behind a reconfiguration of this vlan.
        let (parent, tag) = {
            let g = self.link();
            let l = g.as_ref().ok_or(Errno::ENETDOWN)?;
            (l.parent.clone(), l.tag)
        };
        let want = vimage_abi::net_if::IFF_UP | IFF_RUNNING;
        if parent.flags() & want != want {
            return Err(Errno::ENETDOWN);
        }
        ether_vlanencap(&mut m, tag)?;
        parent.transmit(m)
    }

    /// The parent's media and status lines while configured (a vlan's
    /// SIOCGIFMEDIA is its parent's), then `vlan: 101 parent interface:
    /// em0`, or `vlan: 0 parent interface: <none>`.
    fn status(&self, _ifp: &Arc<Ifnet>) -> Vec<String> {
        let parent = self.link().as_ref().map(|l| (l.tag, l.parent.clone()));
        let Some((tag, parent)) = parent else {
            return vec!["vlan: 0 parent interface: <none>".into()];
        };
        let mut v: Vec<String> = parent
            .driver
            .status(&parent)
            .into_iter()
            .filter(|l| l.starts_with("media: ") || l.starts_with("status: "))
            .collect();
        v.push(format!("vlan: {tag} parent interface: {}", parent.name()));
        v
    }

    fn ioctl(&self, ifp: &Arc<Ifnet>, cmd: u32, data: &[u8]) -> Option<Result<Vec<u8>, Errno>> {
        matches!(cmd, SIOCSETVLAN | SIOCGETVLAN | SIOCSIFMTU).then(|| self.do_ioctl(ifp, cmd, data))
    }

    fn parent_departed(&self, ifp: &Arc<Ifnet>, _parent: &Arc<Ifnet>) {
        self.unconfig(ifp);
    }

    /// Destroyed: off the parent, and the unit is free again.
    fn detached(&self, ifp: &Arc<Ifnet>) {
        self.unconfig(ifp);
        self.shared.free_unit(self.unit);
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The `vlan` cloner: `vlanN`, and `<ether ifname>.<tag>` for each Ethernet
/// interface of the caller's vnet.
pub struct VlanCloner {
    shared: Arc<VlanShared>,
}

impl VlanCloner {
    /// A cloner with no vlans made yet.
    pub fn new() -> Self {
        VlanCloner {
            shared: Arc::default(),
        }
    }
}

impl Default for VlanCloner {
    fn default() -> Self {
        Self::new()
    }
}

/// `vlan_clone_match_ethertag`: for `em0.101` with `em0` an Ethernet
/// interface of curvnet, that interface and the digits' value (`None` if
/// they do not fit a `u32`; the tag is checked when configuring).
fn match_ethertag(ifname: &str) -> Option<(Arc<Ifnet>, Option<u32>)> {
    let (pname, digits) = ifname.rsplit_once('.')?;
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let parent = ifunit(pname).filter(|p| p.iftype == IFT_ETHER)?;
    Some((parent, digits.parse().ok()))
}

impl VlanCloner {
    /// Take a unit in curvnet: `want`, or the lowest free one not also an
    /// interface's name there (`ifc_alloc_unit`).
    fn alloc_unit(&self, want: Option<u32>) -> Result<(u32, u32), Errno> {
        let vnet = curvnet().id();
        let mut g = self.shared.lock();
        let used = g.entry(vnet).or_default();
        let unit = match want {
            Some(u) if used.contains(&u) => return Err(Errno::EEXIST),
            Some(u) => u,
            None => (0..u32::MAX)
                .find(|u| !used.contains(u) && ifunit(&format!("{VLANNAME}{u}")).is_none())
                .ok_or(Errno::ENOSPC)?,
        };
        used.insert(unit);
        Ok((vnet, unit))
    }

    /// Make and attach an unconfigured vlan called `name` (or `vlanN` for
    /// the bare cloner name), then configure it if `how` says so; a
    /// configuration refused destroys it again.
    fn make(
        &self,
        name: &str,
        want: Option<u32>,
        how: Option<(Arc<Ifnet>, u16)>,
    ) -> Result<Arc<Ifnet>, Errno> {
        let unit = self.alloc_unit(want)?;
        let name = if name == VLANNAME {
            format!("{VLANNAME}{}", unit.1)
        } else {
            name.to_string()
        };
        let ifp = Ifnet::new_cloned(
            &curvnet(),
            &name,
            VLANNAME,
            IFT_L2VLAN,
            IFF_BROADCAST | IFF_MULTICAST,
            ETHERMTU as u32,
            vec![0; 6],
            Box::new(IfVlan {
                shared: self.shared.clone(),
                unit,
                link: RwLock::new(None),
            }),
            VLANNAME,
        );
        if let Err(e) = if_attach(&ifp) {
            self.shared.free_unit(unit);
            return Err(e);
        }
        if let Some((parent, tag)) = how {
            let r = IfVlan::of(&ifp)
                .ok_or(Errno::EDOOFUS)
                .and_then(|v| v.config(&ifp, &parent, tag));
            if let Err(e) = r {
                if_detach(&ifp);
                ifp.driver.detached(&ifp);
                return Err(e);
            }
        }
        Ok(ifp)
    }

    /// The unit a `vlanN` name asks for (`None`: the lowest free).
    fn unit_of(ifname: &str) -> Result<Option<u32>, Errno> {
        requested_unit(VLANNAME, ifname)
    }
}

/// A tag from the digits of `em0.101`: EINVAL past 16 bits (the VLAN range
/// itself is checked when configuring).
fn tag_of(v: Option<u32>) -> Result<u16, Errno> {
    v.and_then(|t| u16::try_from(t).ok()).ok_or(Errno::EINVAL)
}

impl IfCloner for VlanCloner {
    fn name(&self) -> &str {
        VLANNAME
    }

    fn matches(&self, ifname: &str) -> bool {
        match ifname.strip_prefix(VLANNAME) {
            Some("") => return true,
            Some(u) if u.len() <= MAX_UNIT_DIGITS && u.bytes().all(|c| c.is_ascii_digit()) => {
                return true
            }
            _ => {}
        }
        match_ethertag(ifname).is_some()
    }

    fn create(&self, ifname: &str) -> Result<Arc<Ifnet>, Errno> {
        if let Some((parent, tag)) = match_ethertag(ifname) {
            // The tag is in the name; the interface still takes a unit.
            let tag = tag_of(tag)?;
            return self.make(ifname, None, Some((parent, tag)));
        }
        let want = Self::unit_of(ifname)?;
        self.make(ifname, want, None)
    }

    /// `ifconfig vlan0 create vlan 101 vlandev em0`: a `vlanreq` names the
    /// parent (ENXIO if curvnet has none so called) and the tag.  A name
    /// that carries its tag ignores the parameters.
    fn create_params(&self, ifname: &str, params: &[u8]) -> Result<Arc<Ifnet>, Errno> {
        if match_ethertag(ifname).is_some() {
            return self.create(ifname);
        }
        if params.len() != VLANREQ_SIZE {
            return Err(Errno::EINVAL);
        }
        let vlr = VlanReq::from_bytes(params)?;
        let parent = ifunit(&vlr.parent).ok_or(Errno::ENXIO)?;
        if vlr.tag & !EVL_VLID_MASK != 0 {
            return Err(Errno::EINVAL);
        }
        let want = Self::unit_of(ifname)?;
        self.make(ifname, want, Some((parent, vlr.tag)))
    }
}

/// `if_vlan.ko`.
pub struct VlanModule;

impl KldModule for VlanModule {
    fn name(&self) -> &str {
        "if_vlan"
    }

    fn load(&self, k: &Arc<Kernel>) -> Result<(), Errno> {
        vimage_net::if_clone::if_clone_attach(k.registry(), Arc::new(VlanCloner::new()))
    }

    /// Refused (EBUSY) while a vlan exists in any vimage.
    fn unload(&self, k: &Arc<Kernel>) -> Result<(), Errno> {
        for v in k.all_vimages() {
            let _cv = vimage_kern::CurvnetGuard::set(&v.vnet);
            if vimage_net::r#if::vnet_net()
                .list()
                .iter()
                .any(|i| i.cloner.as_deref() == Some(VLANNAME))
            {
                return Err(Errno::EBUSY);
            }
        }
        vimage_net::if_clone::if_clone_detach(k.registry(), VLANNAME);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vimage_abi::net_if::{IfInfo, IFF_UP, SIOCIFCREATE2, SIOCIFDESTROY, SIOCSIFMTU};
    use vimage_abi::net_if_vlan_var::SIOCIFCREATE2_VLAN;
    use vimage_abi::syscall::Request;
    use vimage_kern::kern_syscall::{test_lock, Td, TestGuard};
    use vimage_kern::kern_timeout::FakeClock;
    use vimage_kern::{CurvnetGuard, KernelConfig, Vnet};

    const MAC: [u8; 6] = [0x00, 0x16, 0x6f, 0x37, 0xf8, 0x36];

    struct K {
        k: Arc<Kernel>,
        _l: TestGuard,
    }

    impl Drop for K {
        fn drop(&mut self) {
            self.k.shutdown();
        }
    }

    fn boot() -> K {
        let l = test_lock();
        let k = Kernel::boot_conf(
            KernelConfig::for_tests(Arc::new(FakeClock::new(1_000_000))),
            &vimage_inet::INET_CONF,
        )
        .expect("boot");
        for m in crate::catalog() {
            k.kld_catalog_add(m);
        }
        K { k, _l: l }
    }

    /// The frames a parent put on its wire.
    #[derive(Default)]
    struct Wire(Mutex<Vec<Vec<u8>>>);

    struct Cap(Arc<Wire>);

    impl IfDriver for Cap {
        fn transmit(&self, _: &Arc<Ifnet>, m: Mbuf) -> Result<(), Errno> {
            self.0 .0.lock().unwrap().push(m.into_vec());
            Ok(())
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }

    /// An Ethernet interface `name` in `v`, up, whose wire we watch.
    fn parent(v: &Arc<Vnet>, name: &str, iftype: u8) -> (Arc<Ifnet>, Arc<Wire>) {
        let _cv = CurvnetGuard::set(v);
        let w = Arc::new(Wire::default());
        let ifp = Ifnet::new(
            v,
            name,
            "em",
            iftype,
            IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST | IFF_UP | IFF_RUNNING,
            1500,
            MAC.to_vec(),
            Box::new(Cap(w.clone())),
        );
        if_attach(&ifp).unwrap();
        (ifp, w)
    }

    fn ioctl(k: &Arc<Kernel>, td: &mut Td, cmd: u32, data: Vec<u8>) -> Result<Vec<u8>, Errno> {
        let fd = k
            .syscall(
                td,
                Request::Socket {
                    domain: 2,
                    ty: 2,
                    proto: 0,
                },
            )
            .result()?
            .val as i32;
        let r = k.syscall(td, Request::Ioctl { fd, cmd, data }).result();
        let _ = k.syscall(td, Request::Close { fd });
        r.map(|r| r.data)
    }

    fn create(k: &Arc<Kernel>, td: &mut Td, name: &str) -> Result<String, Errno> {
        let b = ioctl(k, td, SIOCIFCREATE2, IfReq::new(name).to_bytes().unwrap())?;
        Ok(IfReq::from_bytes(&b)?.name)
    }

    fn ifr_vlan(name: &str, parent: &str, tag: u16) -> Vec<u8> {
        let mut b = IfReq::new(name).to_bytes().unwrap();
        b.extend(
            VlanReq {
                parent: parent.into(),
                tag,
            }
            .to_bytes()
            .unwrap(),
        );
        b
    }

    fn create_vlan(
        k: &Arc<Kernel>,
        td: &mut Td,
        name: &str,
        parent: &str,
        tag: u16,
    ) -> Result<String, Errno> {
        let b = ioctl(k, td, SIOCIFCREATE2_VLAN, ifr_vlan(name, parent, tag))?;
        assert_eq!(b.len(), IFREQ_SIZE + VLANREQ_SIZE);
        Ok(IfReq::from_bytes(&b[..IFREQ_SIZE])?.name)
    }

    fn setvlan(
        k: &Arc<Kernel>,
        td: &mut Td,
        name: &str,
        parent: &str,
        tag: u16,
    ) -> Result<(), Errno> {
        ioctl(k, td, SIOCSETVLAN, ifr_vlan(name, parent, tag)).map(|_| ())
    }

    fn getvlan(k: &Arc<Kernel>, td: &mut Td, name: &str) -> Result<VlanReq, Errno> {
        let b = ioctl(k, td, SIOCGETVLAN, ifr_vlan(name, "", 0))?;
        VlanReq::from_bytes(&b[IFREQ_SIZE..])
    }

    fn destroy(k: &Arc<Kernel>, td: &mut Td, name: &str) -> Result<(), Errno> {
        ioctl(k, td, SIOCIFDESTROY, IfReq::new(name).to_bytes().unwrap()).map(|_| ())
    }

    fn setmtu(k: &Arc<Kernel>, td: &mut Td, name: &str, mtu: i32) -> Result<(), Errno> {
        let mut r = IfReq::new(name);
        r.set_int(mtu);
        ioctl(k, td, SIOCSIFMTU, r.to_bytes().unwrap()).map(|_| ())
    }

    fn info(v: &Arc<Vnet>, name: &str) -> IfInfo {
        let _cv = CurvnetGuard::set(v);
        ifunit(name).expect(name).info()
    }

    #[test]
    fn vlans_are_made_configured_and_refused_as_on_freebsd() {
        let k = boot();
        let v0 = k.k.vimage0().vnet.clone();
        let mut td = k.k.td_attach(100);
        let (_em0, _) = parent(&v0, "em0", IFT_ETHER);
        // Without the module nothing makes vlans.
        assert_eq!(create(&k.k, &mut td, "em0.101"), Err(Errno::EINVAL));
        let id = k.k.kldload("if_vlan").unwrap();
        assert_eq!(create(&k.k, &mut td, "em0.101").unwrap(), "em0.101");
        let i = info(&v0, "em0.101");
        assert_eq!(i.flags, 0x8842);
        assert_eq!((i.mtu, i.iftype), (1496, IFT_L2VLAN));
        assert_eq!(i.lladdr, MAC);
        assert_eq!(i.status, vec!["vlan: 101 parent interface: em0"]);
        // em0.101 took unit 0.
        assert_eq!(create(&k.k, &mut td, "vlan").unwrap(), "vlan1");
        let i = info(&v0, "vlan1");
        assert_eq!((i.flags, i.mtu), (0x8002, 1500));
        assert_eq!(i.lladdr, [0; 6]);
        assert_eq!(i.status, vec!["vlan: 0 parent interface: <none>"]);
        assert_eq!(
            getvlan(&k.k, &mut td, "em0.101").unwrap(),
            VlanReq {
                parent: "em0".into(),
                tag: 101
            }
        );
        assert_eq!(getvlan(&k.k, &mut td, "vlan1").unwrap(), VlanReq::default());

        // Names with the tag in them.
        for (name, e) in [
            ("em0.101", Errno::EEXIST),
            ("em0.0", Errno::EINVAL),
            ("em0.4095", Errno::EINVAL),
            ("em0.65637", Errno::EINVAL),
            ("em0.99999999999", Errno::EINVAL),
            ("lo0.5", Errno::EINVAL),
            ("em1.5", Errno::EINVAL),
        ] {
            assert_eq!(create(&k.k, &mut td, name), Err(e), "{name}");
        }
        // A name and a vlanreq.
        assert_eq!(
            create_vlan(&k.k, &mut td, "vlan5", "em0", 102).unwrap(),
            "vlan5"
        );
        assert_eq!(
            create_vlan(&k.k, &mut td, "vlan", "em0", 103).unwrap(),
            "vlan2"
        );
        for (parent, tag, e) in [
            ("em9", 104, Errno::ENXIO),
            ("em0", 101, Errno::EEXIST),
            ("em0", 0, Errno::EINVAL),
            ("em0", 4095, Errno::EINVAL),
            ("em0", 0x1068, Errno::EINVAL),
            ("lo0", 104, Errno::EPROTONOSUPPORT),
            ("vlan5", 104, Errno::EPROTONOSUPPORT),
        ] {
            assert_eq!(
                create_vlan(&k.k, &mut td, "vlan7", parent, tag),
                Err(e),
                "{parent} {tag}"
            );
        }
        // A failed create leaves nothing behind, not even its unit.
        {
            let _cv = CurvnetGuard::set(&v0);
            assert!(ifunit("vlan7").is_none());
        }
        assert_eq!(create(&k.k, &mut td, "vlan7").unwrap(), "vlan7");
        let short = IfReq::new("vlan8").to_bytes().unwrap();
        assert_eq!(
            ioctl(
                &k.k,
                &mut td,
                vimage_abi::net_if::ifr_data_cmd(SIOCIFCREATE2, 3),
                [short, vec![0; 3]].concat()
            ),
            Err(Errno::EINVAL)
        );

        // SIOCSETVLAN.
        assert_eq!(
            setvlan(&k.k, &mut td, "em0.101", "em0", 110),
            Err(Errno::EBUSY)
        );
        assert_eq!(
            setvlan(&k.k, &mut td, "vlan1", "em9", 110),
            Err(Errno::ENOENT)
        );
        assert_eq!(
            setvlan(&k.k, &mut td, "vlan1", "em0", 0x2000 | 110),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            setvlan(&k.k, &mut td, "vlan1", "em0", 102),
            Err(Errno::EEXIST)
        );
        assert_eq!(
            setvlan(&k.k, &mut td, "em0", "em0", 110),
            Err(Errno::EINVAL)
        );
        setvlan(&k.k, &mut td, "vlan1", "em0", 110).unwrap();
        assert_eq!(
            info(&v0, "vlan1").status,
            vec!["vlan: 110 parent interface: em0"]
        );
        // -vlandev: unconfigured, the interface stays, the tag is free.
        setvlan(&k.k, &mut td, "em0.101", "", 0).unwrap();
        let i = info(&v0, "em0.101");
        assert_eq!((i.flags, i.mtu), (0x8802, 1500));
        assert_eq!(i.status, vec!["vlan: 0 parent interface: <none>"]);
        setvlan(&k.k, &mut td, "vlan7", "em0", 101).unwrap();

        // The MTU: within the parent's, less the tag.
        assert_eq!(setmtu(&k.k, &mut td, "vlan7", 1497), Err(Errno::EINVAL));
        assert_eq!(setmtu(&k.k, &mut td, "vlan7", 41), Err(Errno::EINVAL));
        setmtu(&k.k, &mut td, "vlan7", 42).unwrap();
        setmtu(&k.k, &mut td, "vlan7", 1496).unwrap();
        assert_eq!(setmtu(&k.k, &mut td, "em0.101", 1400), Err(Errno::EINVAL));

        // The module stays while vlans do.
        assert_eq!(k.k.kldunload(id), Err(Errno::EBUSY));
        destroy(&k.k, &mut td, "vlan1").unwrap();
        assert_eq!(create(&k.k, &mut td, "vlan").unwrap(), "vlan1");
        for n in ["vlan1", "vlan2", "vlan5", "vlan7", "em0.101"] {
            destroy(&k.k, &mut td, n).unwrap();
        }
        k.k.kldunload(id).unwrap();
    }

    #[test]
    fn a_parent_with_vlan_mtu_gives_its_vlans_the_full_mtu() {
        let k = boot();
        let v0 = k.k.vimage0().vnet.clone();
        let mut td = k.k.td_attach(100);
        let (em0, _) = parent(&v0, "em0", IFT_ETHER);
        em0.capenable.store(IFCAP_VLAN_MTU, Ordering::Relaxed);
        k.k.kldload("if_vlan").unwrap();
        create(&k.k, &mut td, "em0.5").unwrap();
        assert_eq!(info(&v0, "em0.5").mtu, 1500);
        assert_eq!(setmtu(&k.k, &mut td, "em0.5", 1501), Err(Errno::EINVAL));
        setmtu(&k.k, &mut td, "em0.5", 1500).unwrap();
        // A parent without SIMPLEX gives a vlan without it.
        em0.flags.fetch_and(!IFF_SIMPLEX, Ordering::Relaxed);
        create(&k.k, &mut td, "em0.6").unwrap();
        assert_eq!(info(&v0, "em0.6").flags, 0x8042);
    }

    #[test]
    fn reconfiguring_while_frames_flow_neither_blocks_nor_loses_the_tag() {
        let k = boot();
        let v0 = k.k.vimage0().vnet.clone();
        let mut td = k.k.td_attach(100);
        let (em0, wire) = parent(&v0, "em0", IFT_ETHER);
        k.k.kldload("if_vlan").unwrap();
        create(&k.k, &mut td, "em0.5").unwrap();
        let vlan = {
            let _cv = CurvnetGuard::set(&v0);
            ifunit("em0.5").unwrap()
        };
        vlan.flags.fetch_or(IFF_UP, Ordering::Relaxed);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // The flow has sent a first frame (so the test cannot race past it).
        let going = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flow = {
            let (v0, vlan, em0, stop) = (v0.clone(), vlan.clone(), em0.clone(), stop.clone());
            let going = going.clone();
            std::thread::spawn(move || {
                let _cv = CurvnetGuard::set(&v0);
                let _ns = vimage_net::netisr::netisr_enter();
                let mut sent = 0;
                while !stop.load(Ordering::Relaxed) {
                    let f = [[0xff; 6].as_slice(), &MAC, &[0x88, 0xb5, 1]].concat();
                    if vlan.transmit(Mbuf::from_vec(f)).is_ok() {
                        sent += 1;
                        going.store(true, Ordering::Release);
                    }
                    let mut t = [[0xff; 6].as_slice(), &MAC, &[0x81, 0, 0, 5, 0x88, 0xb5]].concat();
                    t.push(2);
                    vimage_net::r#if::if_input(&em0, Mbuf::from_vec(t));
                }
                sent
            })
        };
        while !going.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
        for _ in 0..200 {
            setvlan(&k.k, &mut td, "em0.5", "", 0).unwrap();
            setvlan(&k.k, &mut td, "em0.5", "em0", 5).unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        let sent = flow.join().unwrap();
        assert!(sent > 0);
        // Every frame that left went out tagged 5.
        assert!(wire
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|f| f.get(12..14) != Some(&[0x86, 0xdd][..]))
            .all(|f| f.get(12..16) == Some(&[0x81, 0, 0, 5][..])));
        assert_eq!(
            info(&v0, "em0.5").status,
            vec!["vlan: 5 parent interface: em0"]
        );
    }

    /// Vlans in other vimages than their parent's.
    #[cfg(feature = "vimage")]
    mod moved {
        use super::*;
        use vimage_net::r#if::{if_input, netisr_register};

        const ET_TEST: u16 = 0x88b5;

        /// Frames of `ET_TEST` that reached a vnet's stack: (vnet id, interface, payload).
        type Seen = Arc<Mutex<Vec<(u32, String, Vec<u8>)>>>;

        fn listen(v: &Arc<Vnet>, seen: &Seen) {
            let _cv = CurvnetGuard::set(v);
            let seen = seen.clone();
            netisr_register(
                ET_TEST,
                Arc::new(move |ifp: &Arc<Ifnet>, m: Mbuf| {
                    seen.lock()
                        .unwrap()
                        .push((curvnet().id(), ifp.name(), m.data().to_vec()));
                }),
            );
        }

        fn tagged(tci: u16, payload: &[u8]) -> Mbuf {
            let mut f = [[0xff; 6], [2, 0, 0, 0, 0, 1]].concat();
            f.extend_from_slice(&vimage_net::ethernet::ETHERTYPE_VLAN.to_be_bytes());
            f.extend_from_slice(&tci.to_be_bytes());
            f.extend_from_slice(&ET_TEST.to_be_bytes());
            f.extend_from_slice(payload);
            Mbuf::from_vec(f)
        }

        fn send(v: &Arc<Vnet>, name: &str, payload: &[u8]) -> Result<(), Errno> {
            let _cv = CurvnetGuard::set(v);
            let ifp = ifunit(name).expect(name);
            vimage_net::if_ethersubr::ether_output_frame(
                &ifp,
                Mbuf::from_vec(payload.to_vec()),
                vimage_net::ethernet::EtherAddr::BROADCAST,
                ET_TEST,
            )
        }

        #[test]
        fn vlans_moved_into_vimages_tag_and_untag_for_their_own_stack() {
            let k = boot();
            let v0 = k.k.vimage0().vnet.clone();
            let mut td = k.k.td_attach(100);
            let (em0, wire) = parent(&v0, "em0", IFT_ETHER);
            k.k.kldload("if_vlan").unwrap();
            create(&k.k, &mut td, "em0.101").unwrap();
            create(&k.k, &mut td, "em0.102").unwrap();
            let n1 = k.k.vi_create(k.k.vimage0(), "n1").unwrap();
            let n2 = k.k.vi_create(k.k.vimage0(), "n2").unwrap();
            let mv =
                |vi: &str, ifname: &str| k.k.vi_iface(k.k.vimage0(), vi, ifname, None).unwrap().0;
            assert_eq!(mv("n1", "em0.101"), "eth0");
            assert_eq!(mv("n2", "em0.102"), "eth0");
            // Moved, they start down but stay configured and running.
            let i = info(&n1.vnet, "eth0");
            assert_eq!((i.flags, i.mtu), (0x8842, 1496));
            assert_eq!(i.status, vec!["vlan: 101 parent interface: em0"]);
            let seen: Seen = Arc::default();
            for v in [&v0, &n1.vnet, &n2.vnet] {
                listen(v, &seen);
            }
            let _ns = vimage_net::netisr::netisr_enter();
            for v in [&n1.vnet, &n2.vnet] {
                let _cv = CurvnetGuard::set(v);
                assert!(vimage_net::r#if::if_up(&ifunit("eth0").unwrap()));
            }
            assert_eq!(info(&n1.vnet, "eth0").flags, 0x8843);
            send(&n1.vnet, "eth0", b"from n1").unwrap();
            send(&n2.vnet, "eth0", b"from n2").unwrap();
            // (IPv6 announces the vlans as they come up: not ours to look at.)
            let frames: Vec<Vec<u8>> = std::mem::take(&mut *wire.0.lock().unwrap())
                .into_iter()
                .filter(|f| f.get(16..18) == Some(&ET_TEST.to_be_bytes()[..]))
                .collect();
            let hdr = |tag: u8| {
                [
                    vec![0xff; 6],
                    MAC.to_vec(),
                    vec![0x81, 0x00, 0x00, tag, 0x88, 0xb5],
                ]
                .concat()
            };
            assert_eq!(
                frames,
                vec![
                    [hdr(101), b"from n1".to_vec()].concat(),
                    [hdr(102), b"from n2".to_vec()].concat()
                ]
            );
            // Nothing leaves through a parent that is down.
            em0.flags.fetch_and(!IFF_UP, Ordering::Relaxed);
            assert_eq!(send(&n1.vnet, "eth0", b"x"), Err(Errno::ENETDOWN));
            em0.flags.fetch_or(IFF_UP, Ordering::Relaxed);
            assert!(!wire.0.lock().unwrap().iter().any(|f| f.ends_with(b"x")));

            // In: each tag to its vlan's own stack, untagged; the rest stays.
            if_input(&em0, tagged(101, b"to n1"));
            if_input(&em0, tagged(0x6000 | 102, b"to n2"));
            if_input(&em0, tagged(103, b"to nobody"));
            if_input(&em0, tagged(0, b"priority"));
            // Too short to hold its tag.
            if_input(&em0, Mbuf::from_vec(tagged(101, &[]).data()[..14].to_vec()));
            let got = std::mem::take(&mut *seen.lock().unwrap());
            assert_eq!(
                got,
                vec![
                    (n1.vnet.id(), "eth0".to_string(), b"to n1".to_vec()),
                    (n2.vnet.id(), "eth0".to_string(), b"to n2".to_vec()),
                    (v0.id(), "em0".to_string(), b"priority".to_vec()),
                ]
            );
            assert_eq!(em0.counters.iqdrops.load(Ordering::Relaxed), 1);
            assert_eq!(em0.counters.ierrors.load(Ordering::Relaxed), 1);
            assert_eq!(info(&n1.vnet, "eth0").stats.ipackets, 1);
            // A frame tagged twice does not hop into another VLAN.
            let mut dbl = tagged(102, b"hop");
            vimage_net::if_vlan_var::ether_vlanencap(&mut dbl, 101).unwrap();
            if_input(&em0, dbl);
            assert!(seen.lock().unwrap().is_empty());
            assert_eq!(info(&n1.vnet, "eth0").stats.iqdrops, 1);

            // n1 goes: its vlan comes home, still on em0.
            k.k.vi_destroy(k.k.vimage0(), "n1").unwrap();
            assert_eq!(
                info(&v0, "em0.101").status,
                vec!["vlan: 101 parent interface: em0"]
            );
            // The parent leaves: its vlans stay, unconfigured, wherever they are.
            assert_eq!(mv("n2", "em0"), "eth1");
            for (v, n) in [(&v0, "em0.101"), (&n2.vnet, "eth0")] {
                let i = info(v, n);
                assert_eq!(i.status, vec!["vlan: 0 parent interface: <none>"], "{n}");
                assert_eq!((i.mtu, i.flags & IFF_RUNNING), (1500, 0));
            }
            assert!(vimage_net::if_vlan_var::vlan_trunk_list(&em0).is_empty());
        }
    }
}
