//! `if_edsc`: the Ethernet discard interface (FreeBSD's sys/net/if_edsc.c).
//! `ifconfig edsc0 create` makes an Ethernet ifnet that silently drops what it
//! sends; handy for configuration tests and as a movable interface.

use std::sync::Arc;
use vimage_abi::net_if::{IFF_BROADCAST, IFF_MULTICAST, IFF_SIMPLEX, IFT_ETHER};
use vimage_abi::Errno;
use vimage_kern::kern_linker::KldModule;
use vimage_kern::vnet::curvnet;
use vimage_kern::Kernel;
use vimage_net::if_clone::{requested_unit, IfCloner};
use vimage_net::if_var::{IfDriver, Ifnet};
use vimage_net::mbuf::Mbuf;
use vimage_net::r#if::{if_attach, if_free_unit};

struct EdscDriver;

impl IfDriver for EdscDriver {
    fn transmit(&self, _ifp: &Arc<Ifnet>, _m: Mbuf) -> Result<(), Errno> {
        // Discard: counted as sent by the caller.
        Ok(())
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The `edsc` cloner.
pub struct EdscCloner;

impl IfCloner for EdscCloner {
    fn name(&self) -> &str {
        "edsc"
    }
    fn create(&self, ifname: &str) -> Result<Arc<Ifnet>, Errno> {
        let unit = requested_unit("edsc", ifname)?.unwrap_or_else(|| if_free_unit("edsc"));
        // A locally administered address derived from the unit, like FreeBSD's
        // random-but-stable edsc addresses.
        let mac = vec![0x02, 0xed, 0x5c, 0, (unit >> 8) as u8, unit as u8];
        let ifp = Ifnet::new_cloned(
            &curvnet(),
            &format!("edsc{unit}"),
            "edsc",
            IFT_ETHER,
            IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST,
            1500,
            mac,
            Box::new(EdscDriver),
            "edsc",
        );
        if_attach(&ifp)?;
        Ok(ifp)
    }
}

/// `if_edsc.ko`.
pub struct EdscModule;

impl KldModule for EdscModule {
    fn name(&self) -> &str {
        "if_edsc"
    }
    fn load(&self, k: &Arc<Kernel>) -> Result<(), Errno> {
        vimage_net::if_clone::if_clone_attach(k.registry(), Arc::new(EdscCloner))
    }
    fn unload(&self, k: &Arc<Kernel>) -> Result<(), Errno> {
        // Refuse while any edsc interface exists in any vnet.
        for v in k.all_vimages() {
            let _cv = vimage_kern::CurvnetGuard::set(&v.vnet);
            if vimage_net::r#if::vnet_net()
                .list()
                .iter()
                .any(|i| i.cloner.as_deref() == Some("edsc"))
            {
                return Err(Errno::EBUSY);
            }
        }
        vimage_net::if_clone::if_clone_detach(k.registry(), "edsc");
        Ok(())
    }
}
