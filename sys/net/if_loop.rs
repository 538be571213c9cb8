//! The software loopback interface (FreeBSD's sys/net/if_loop.c): every vnet gets
//! its own `lo0` when the LOIF module attaches; more with `ifconfig loN create`.

use std::sync::Arc;
use vimage_abi::net_if::{IFF_LOOPBACK, IFF_MULTICAST, IFT_LOOP};
use vimage_abi::Errno;

use super::if_clone::{requested_unit, IfCloner};
use super::if_var::{IfDriver, Ifnet};
use super::mbuf::{Mbuf, CSUM_DELAY_DATA, CSUM_TSO};
use super::r#if::{if_attach, if_detach, if_free_unit, if_input, vnet_net};
use vimage_kern::vnet::{curvnet, ModState, Vnet, VnetModInfo, VNET_MOD_NET};

/// Loopback MTU.
pub const LOMTU: u32 = 16384;
/// Loopback's `if_hwassist`: the transport checksum and TCP segmentation
/// are never done, as the data never leaves memory (FreeBSD's lo offers
/// `IFCAP_HWCSUM`; TSO as well, as Linux's lo offers GSO, so a bulk write
/// crosses in 64 KB segments instead of 16 KiB ones).
pub const LO_HWASSIST: u32 = CSUM_DELAY_DATA | CSUM_TSO;
/// Module id of the stateless loopback module (the 7.0 patch's `VNET_MOD_LOIF`).
pub const VNET_MOD_LOIF: usize = 30;

/// The loopback driver: what goes out comes back in.
pub struct LoDriver;

impl IfDriver for LoDriver {
    fn transmit(&self, ifp: &Arc<Ifnet>, m: Mbuf) -> Result<(), Errno> {
        if_input(ifp, m);
        Ok(())
    }
    fn movable(&self) -> bool {
        false
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Curvnet's loopback interface (`V_loif`), if it has one.
pub fn loif() -> Option<Arc<Ifnet>> {
    vnet_net().loif.read().ok().and_then(|g| g.clone())
}

/// Make and attach loopback `name` in curvnet.
pub fn lo_create(name: &str) -> Result<Arc<Ifnet>, Errno> {
    let ifp = Ifnet::new_cloned(
        &curvnet(),
        name,
        "lo",
        IFT_LOOP,
        IFF_LOOPBACK | IFF_MULTICAST,
        LOMTU,
        Vec::new(),
        Box::new(LoDriver),
        "lo",
    );
    ifp.hwassist
        .store(LO_HWASSIST, std::sync::atomic::Ordering::Relaxed);
    if_attach(&ifp)?;
    Ok(ifp)
}

/// The `lo` cloner.
pub struct LoCloner;

impl IfCloner for LoCloner {
    fn name(&self) -> &str {
        "lo"
    }
    fn create(&self, ifname: &str) -> Result<Arc<Ifnet>, Errno> {
        let unit = requested_unit("lo", ifname)?.unwrap_or_else(|| if_free_unit("lo"));
        lo_create(&format!("lo{unit}"))
    }
    fn can_destroy(&self, ifp: &Arc<Ifnet>) -> bool {
        ifp.name() != "lo0"
    }
}

fn loif_iattach(_v: &Arc<Vnet>) -> Result<ModState, Errno> {
    let lo = lo_create("lo0")?;
    if let Ok(mut g) = vnet_net().loif.write() {
        *g = Some(lo);
    }
    Ok(Arc::new(()))
}

fn loif_idetach(_v: &Arc<Vnet>, _s: &ModState) {
    let net = vnet_net();
    let lo = net.loif.write().ok().and_then(|mut g| g.take());
    if let Some(lo) = lo {
        if_detach(&lo);
    }
}

/// `VNET_MOD_DECLARE_STATELESS(LOIF, loif, ...)`.
pub static VNET_LOIF_MODINFO: VnetModInfo = VnetModInfo {
    id: VNET_MOD_LOIF,
    name: "loif",
    depends: &[VNET_MOD_NET],
    iattach: loif_iattach,
    idetach: loif_idetach,
    ext: None,
    symmap: &[],
};
