//! 802.1Q trunks (FreeBSD's net/if_vlan_var.h, and the VLAN part of
//! if_ethersubr.c's input): an Ethernet interface's table of the vlans that
//! ride on it, the tag going in on output, and tagged frames handed to their
//! vlan on input.  The vlan interfaces themselves (cloner, configuration)
//! are the `if_vlan` module's.
//!
//! The table hangs off the parent (`ifp->if_vlantrunk`) and is read on every
//! tagged frame the parent receives, so it sits in an [`RcuCell`]: a lookup
//! is a load and a search of a short sorted list, with no lock.  Entries are
//! weak, so neither a table nor an old copy of one keeps a vlan (or its
//! vnet) alive.  A vlan may live in another vnet than its parent (`vimage -i
//! n1 em0.101`): the parent's vnet demultiplexes, the vlan's vnet processes.
//!
//! [`RcuCell`]: vimage_kern::subr_rcu::RcuCell

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use vimage_abi::net_if::{IFF_RUNNING, IFF_UP};
use vimage_abi::net_if_vlan_var::{evl_vlanoftag, ETHER_VLAN_ENCAP_LEN};
use vimage_abi::Errno;

use super::ethernet::{ETHERTYPE_VLAN, ETHER_ADDR_LEN, ETHER_HDR_LEN};
use super::if_var::Ifnet;
use super::mbuf::Mbuf;

/// Where the 802.1Q header goes: after the two MAC addresses.
const VLAN_OFF: usize = ETHER_ADDR_LEN * 2;

/// A parent's vlans (`struct ifvlantrunk`): (tag, vlan interface), sorted
/// by tag, one vlan per tag.
#[derive(Clone, Default, Debug)]
pub struct IfVlanTrunk {
    vlans: Vec<(u16, Weak<Ifnet>)>,
}

impl IfVlanTrunk {
    /// The vlan configured with `tag` (`vlan_gethash`).
    pub fn lookup(&self, tag: u16) -> Option<&Weak<Ifnet>> {
        self.vlans
            .binary_search_by_key(&tag, |(t, _)| *t)
            .ok()
            .and_then(|i| self.vlans.get(i))
            .map(|(_, v)| v)
    }

    /// Whether no vlan rides on the parent.
    pub fn is_empty(&self) -> bool {
        self.vlans.is_empty()
    }
}

/// `vlan_inshash`: link vlan `vlan` to `parent` under `tag`; `EEXIST` if
/// another vlan of `parent` has that tag.  Writers are serialized by the
/// table's cell; a refusal changes nothing.
pub fn vlan_trunk_insert(parent: &Ifnet, tag: u16, vlan: &Arc<Ifnet>) -> Result<(), Errno> {
    parent.vlantrunk.try_update(|t| {
        let mut t = t.cloned().unwrap_or_default();
        // A vlan that died without unlinking (it cannot, but a dead entry
        // must never block a tag) is dropped here.
        t.vlans.retain(|(_, w)| w.strong_count() > 0);
        match t.vlans.binary_search_by_key(&tag, |(x, _)| *x) {
            Ok(_) => Err(Errno::EEXIST),
            Err(i) => {
                t.vlans.insert(i, (tag, Arc::downgrade(vlan)));
                Ok(Some(t))
            }
        }
    })
}

/// `vlan_remhash`: unlink `vlan` from `parent`'s table (nothing if it is
/// not there).
pub fn vlan_trunk_remove(parent: &Ifnet, vlan: &Arc<Ifnet>) {
    let w = Arc::downgrade(vlan);
    let _ = parent.vlantrunk.try_update(|t| {
        let Some(t) = t else { return Err(()) };
        if !t.vlans.iter().any(|(_, x)| x.ptr_eq(&w)) {
            return Err(());
        }
        let mut t = t.clone();
        t.vlans
            .retain(|(_, x)| !x.ptr_eq(&w) && x.strong_count() > 0);
        Ok(Some(t))
    });
}

/// The vlans riding on `parent` now.
pub fn vlan_trunk_list(parent: &Ifnet) -> Vec<Arc<Ifnet>> {
    parent
        .vlantrunk
        .get()
        .map(|t| t.vlans.iter().filter_map(|(_, w)| w.upgrade()).collect())
        .unwrap_or_default()
}

/// The parent `ifp` is leaving its vnet or going away (FreeBSD's
/// `ifnet_departure_event` as if_vlan handles it): each of its vlans is
/// unconfigured by its driver and stays, without a parent.
pub fn vlan_trunk_departure(ifp: &Arc<Ifnet>) {
    if ifp.vlantrunk.get().is_none_or(IfVlanTrunk::is_empty) {
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
        let Some(v) = parent
            .vlantrunk
            .get()
            .and_then(|t| t.lookup(tag))
            .and_then(Weak::upgrade)
        else {
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
        vlan_trunk_remove(&p, &a);
        assert!(matches!(vlan_demux(&p, frame(101)), VlanDemux::Dropped));
        // The tag is free again; a vlan gone is never found.
        vlan_trunk_insert(&p, 101, &a).unwrap();
        drop(a);
        assert!(matches!(vlan_demux(&p, frame(101)), VlanDemux::Dropped));
        vlan_trunk_insert(&p, 101, &ifnet(&v, "y")).unwrap();
        reg.vnet_destroy(&v);
    }
}
