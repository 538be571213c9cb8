//! 802.1Q trunks (FreeBSD's net/if_vlan_var.h, and the VLAN part of
//! if_ethersubr.c's input): an Ethernet interface's table of the vlans that
//! ride on it, the tag going in on output, and tagged frames handed to their
//! vlan on input.  The vlan interfaces themselves (cloner, configuration)
//! are the `if_vlan` module's.
//!
//! The table hangs off the parent (`ifp->if_vlantrunk`) and is read on every
//! tagged frame the parent receives.  It is indexed by VLAN identifier, in
//! chunks made as tags are first used and kept while the parent lives: a
//! lookup takes no table lock (two loads find the tag's slot) and only that
//! slot is read-locked, where FreeBSD read-locks the whole trunk.  Nothing a
//! configuration change replaces is kept around for late readers, so a
//! tenant turning vlans on and off in a loop costs no memory; the table is
//! at most one slot per identifier.  Slots hold the vlan weakly, so the
//! table never keeps a vlan (or its vnet) alive.  A vlan may live in another
//! vnet than its parent (`vimage -i n1 em0.101`): the parent's vnet
//! demultiplexes, the vlan's vnet processes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock, Weak};
use vimage_abi::net_if::{IFF_RUNNING, IFF_UP};
use vimage_abi::net_if_vlan_var::{evl_vlanoftag, ETHER_VLAN_ENCAP_LEN, EVL_VLID_MASK};
use vimage_abi::Errno;

use super::ethernet::{ETHERTYPE_VLAN, ETHER_ADDR_LEN, ETHER_HDR_LEN};
use super::if_var::Ifnet;
use super::mbuf::Mbuf;

/// Where the 802.1Q header goes: after the two MAC addresses.
const VLAN_OFF: usize = ETHER_ADDR_LEN * 2;
/// VLAN identifiers per chunk of a trunk's table.
const CHUNK: usize = 64;
/// Chunks of a trunk's table: every identifier has its slot.
const NCHUNKS: usize = (EVL_VLID_MASK as usize + 1) / CHUNK;

/// One identifier's place in a trunk: the vlan configured with it, if any.
#[derive(Default)]
struct VlanSlot(RwLock<Option<Weak<Ifnet>>>);

impl VlanSlot {
    fn get(&self) -> Option<Arc<Ifnet>> {
        match self.0.read() {
            Ok(g) => g.as_ref()?.upgrade(),
            Err(p) => p.into_inner().as_ref()?.upgrade(),
        }
    }
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Option<Weak<Ifnet>>> {
        match self.0.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

/// A parent's vlans by tag (`struct ifvlantrunk`), one per tag (see the
/// module).
pub struct IfVlanTrunk {
    chunks: [OnceLock<Box<[VlanSlot; CHUNK]>>; NCHUNKS],
    /// Vlans configured now.
    count: AtomicUsize,
}

impl Default for IfVlanTrunk {
    fn default() -> Self {
        IfVlanTrunk {
            chunks: std::array::from_fn(|_| OnceLock::new()),
            count: AtomicUsize::new(0),
        }
    }
}

impl std::fmt::Debug for IfVlanTrunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IfVlanTrunk({} vlans)", self.len())
    }
}

impl IfVlanTrunk {
    /// The slot of `tag` if its chunk exists.
    fn slot(&self, tag: u16) -> Option<&VlanSlot> {
        let t = usize::from(tag & EVL_VLID_MASK);
        self.chunks.get(t / CHUNK)?.get()?.get(t % CHUNK)
    }

    /// The slot of `tag`, its chunk made if need be.
    fn slot_make(&self, tag: u16) -> Option<&VlanSlot> {
        let t = usize::from(tag & EVL_VLID_MASK);
        self.chunks
            .get(t / CHUNK)?
            .get_or_init(|| Box::new(std::array::from_fn(|_| VlanSlot::default())))
            .get(t % CHUNK)
    }

    /// The vlan configured with `tag` (`vlan_gethash`).
    pub fn lookup(&self, tag: u16) -> Option<Arc<Ifnet>> {
        self.slot(tag)?.get()
    }

    /// How many vlans ride on the parent.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Whether no vlan rides on the parent.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every vlan on the parent, by tag.
    fn list(&self) -> Vec<Arc<Ifnet>> {
        self.chunks
            .iter()
            .filter_map(OnceLock::get)
            .flat_map(|c| c.iter().filter_map(VlanSlot::get))
            .collect()
    }
}

/// `vlan_inshash`: link vlan `vlan` to `parent` under `tag`; `EEXIST` if
/// another vlan of `parent` has that tag.
pub fn vlan_trunk_insert(parent: &Ifnet, tag: u16, vlan: &Arc<Ifnet>) -> Result<(), Errno> {
    let trunk = parent.vlantrunk.get_or_init(Box::default);
    let slot = trunk.slot_make(tag).ok_or(Errno::EINVAL)?;
    let mut w = slot.write();
    match w.as_ref() {
        Some(x) if x.strong_count() > 0 => return Err(Errno::EEXIST),
        // A vlan gone without unlinking (it unlinks as it goes, but a dead
        // entry must never hold a tag) was counted already.
        Some(_) => {}
        None => {
            trunk.count.fetch_add(1, Ordering::Relaxed);
        }
    }
    *w = Some(Arc::downgrade(vlan));
    Ok(())
}

/// `vlan_remhash`: unlink `vlan` from `parent`'s slot for `tag` (nothing if
/// another vlan holds it).
pub fn vlan_trunk_remove(parent: &Ifnet, tag: u16, vlan: &Arc<Ifnet>) {
    let Some(trunk) = parent.vlantrunk.get() else {
        return;
    };
    let Some(slot) = trunk.slot(tag) else { return };
    let mut w = slot.write();
    if w.as_ref().is_some_and(|x| x.ptr_eq(&Arc::downgrade(vlan))) {
        *w = None;
        trunk.count.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The vlans riding on `parent` now.
pub fn vlan_trunk_list(parent: &Ifnet) -> Vec<Arc<Ifnet>> {
    parent.vlantrunk.get().map(|t| t.list()).unwrap_or_default()
}

/// The parent `ifp` is leaving its vnet or going away (FreeBSD's
/// `ifnet_departure_event` as if_vlan handles it): each of its vlans is
/// unconfigured by its driver and stays, without a parent.
pub fn vlan_trunk_departure(ifp: &Arc<Ifnet>) {
    if ifp.vlantrunk.get().is_none_or(|t| t.is_empty()) {
        return;
    }
    for v in vlan_trunk_list(ifp) {
        v.driver.parent_departed(&v, ifp);
    }
}

/// `ether_vlanencap`: put an 802.1Q header with VLAN identifier `tag`
/// (priority and CFI 0) after the MAC addresses of Ethernet frame `m`;
/// `EINVAL` if `m` is too short to have them.
pub fn ether_vlanencap(m: &mut Mbuf, tag: u16) -> Result<(), Errno> {
    let g = m
        .open_gap(VLAN_OFF, ETHER_VLAN_ENCAP_LEN)
        .ok_or(Errno::EINVAL)?;
    g[..2].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
    g[2..].copy_from_slice(&evl_vlanoftag(tag).to_be_bytes());
    Ok(())
}

/// What became of a tagged frame received on a parent.
#[derive(Debug)]
pub enum VlanDemux {
    /// For this vlan, with the tag taken out.
    Vlan(Arc<Ifnet>, Mbuf),
    /// Priority-tagged (VLAN 0): the parent's own frame, the tag taken out.
    Untagged(Mbuf),
    /// Dropped and counted on the parent: too short, no vlan with that tag
    /// there, or that vlan not up and running.
    Dropped,
}

/// The VLAN half of `ether_demux`: the tagged frame `m` arrived on `parent`.
/// Dropped frames count as input drops of the parent (FreeBSD's
/// `if_noproto`).
pub fn vlan_demux(parent: &Ifnet, mut m: Mbuf) -> VlanDemux {
    let drop = |counter: &std::sync::atomic::AtomicU64| {
        counter.fetch_add(1, Ordering::Relaxed);
        VlanDemux::Dropped
    };
    let d = m.data();
    if d.len() < ETHER_HDR_LEN + ETHER_VLAN_ENCAP_LEN {
        return drop(&parent.counters.ierrors);
    }
    let tag = evl_vlanoftag(u16::from_be_bytes([d[VLAN_OFF + 2], d[VLAN_OFF + 3]]));
    let vlan = if tag == 0 {
        None
    } else {
        let Some(v) = parent.vlantrunk.get().and_then(|t| t.lookup(tag)) else {
            return drop(&parent.counters.iqdrops);
        };
        if v.flags() & (IFF_UP | IFF_RUNNING) != IFF_UP | IFF_RUNNING {
            return drop(&parent.counters.iqdrops);
        }
        Some(v)
    };
    // Checked above: the frame holds the header.
    m.close_gap(VLAN_OFF, ETHER_VLAN_ENCAP_LEN);
    match vlan {
        Some(v) => VlanDemux::Vlan(v, m),
        None => VlanDemux::Untagged(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vimage_abi::net_if::IFT_ETHER;

    struct Null;
    impl crate::if_var::IfDriver for Null {
        fn transmit(&self, _: &Arc<Ifnet>, _: Mbuf) -> Result<(), Errno> {
            Ok(())
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }

    fn ifnet(v: &Arc<vimage_kern::vnet::Vnet>, name: &str) -> Arc<Ifnet> {
        Ifnet::new(v, name, "x", IFT_ETHER, 0, 1500, vec![0; 6], Box::new(Null))
    }

    fn frame(tci: u16) -> Mbuf {
        let mut f = vec![0xaa; 12];
        f.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        f.extend_from_slice(&tci.to_be_bytes());
        f.extend_from_slice(&0x0800u16.to_be_bytes());
        f.extend_from_slice(b"payload");
        Mbuf::from_vec(f)
    }

    #[test]
    fn tags_go_in_after_the_addresses_and_come_out_again() {
        let mut m = Mbuf::from_vec([vec![1; 6], vec![2; 6], vec![8, 0, 0x45]].concat());
        ether_vlanencap(&mut m, 0xf065).unwrap();
        assert_eq!(
            m.data(),
            &[vec![1; 6], vec![2; 6], vec![0x81, 0, 0, 0x65, 8, 0, 0x45]].concat()[..]
        );
        assert_eq!(
            ether_vlanencap(&mut Mbuf::from_vec(vec![0; 11]), 1),
            Err(Errno::EINVAL)
        );
    }

    #[test]
    fn frames_find_their_vlan_by_tag() {
        let reg = vimage_kern::vnet::ModRegistry::new();
        reg.register(&[&crate::r#if::VNET_NET_MODINFO]).unwrap();
        let _l = vimage_kern::kern_syscall::test_lock();
        let v = reg.vnet_alloc("t").unwrap();
        let (p, a, b) = (ifnet(&v, "em0"), ifnet(&v, "em0.101"), ifnet(&v, "x"));
        vlan_trunk_insert(&p, 101, &a).unwrap();
        assert_eq!(vlan_trunk_insert(&p, 101, &b), Err(Errno::EEXIST));
        vlan_trunk_insert(&p, 7, &b).unwrap();
        assert_eq!(vlan_trunk_list(&p).len(), 2);
        // Not running: dropped and counted on the parent.
        assert!(matches!(vlan_demux(&p, frame(101)), VlanDemux::Dropped));
        assert_eq!(p.counters.iqdrops.load(Ordering::Relaxed), 1);
        a.flags.store(IFF_UP | IFF_RUNNING, Ordering::Relaxed);
        // The priority bits are not part of the VLAN identifier.
        match vlan_demux(&p, frame(0x2000 | 101)) {
            VlanDemux::Vlan(x, m) => {
                assert!(Arc::ptr_eq(&x, &a));
                assert_eq!(&m.data()[12..14], &[8, 0]);
                assert_eq!(m.len(), 12 + 2 + 7);
            }
            r => panic!("{r:?}"),
        }
        // Unknown tag, short frame, priority tag.
        assert!(matches!(vlan_demux(&p, frame(102)), VlanDemux::Dropped));
        assert_eq!(p.counters.iqdrops.load(Ordering::Relaxed), 2);
        let mut short = frame(101);
        short.truncate(17);
        assert!(matches!(vlan_demux(&p, short), VlanDemux::Dropped));
        assert_eq!(p.counters.ierrors.load(Ordering::Relaxed), 1);
        assert!(matches!(
            vlan_demux(&p, frame(0xe000)),
            VlanDemux::Untagged(m) if m.data()[12..14] == [8, 0]
        ));
        vlan_trunk_remove(&p, 101, &a);
        assert!(matches!(vlan_demux(&p, frame(101)), VlanDemux::Dropped));
        // The tag is free again; a vlan gone is never found.
        vlan_trunk_insert(&p, 101, &a).unwrap();
        drop(a);
        assert!(matches!(vlan_demux(&p, frame(101)), VlanDemux::Dropped));
        let y = ifnet(&v, "y");
        vlan_trunk_insert(&p, 101, &y).unwrap();
        assert_eq!(p.vlantrunk.get().unwrap().len(), 2);
        // Only the vlan holding a tag gives it up.
        vlan_trunk_remove(&p, 101, &ifnet(&v, "z"));
        vlan_trunk_remove(&p, 7, &y);
        assert_eq!(vlan_trunk_list(&p).len(), 2);
        vlan_trunk_remove(&p, 101, &y);
        vlan_trunk_remove(&p, 7, &b);
        assert!(p.vlantrunk.get().unwrap().is_empty());
        reg.vnet_destroy(&v);
    }
}
