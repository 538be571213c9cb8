//! IPv4 (FreeBSD's sys/netinet): the INET module's per-vnet state.

pub mod if_ether;
pub mod ip;
pub mod ip_icmp;
pub mod tcp;
pub mod udp;

use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use vimage_abi::Errno;

use crate::kern::kern_sysctl::SysctlTree;
use crate::kern::vnet::{ModState, Vnet, VnetModInfo, VnetSymmap, VNET_MOD_INET, VNET_MOD_NET};

/// IPDEFTTL.
pub const IPDEFTTL: i64 = 64;

/// `struct vnet_inet`: IPv4 tunables and state of one vnet.
pub struct VnetInet {
    /// `V_ipforwarding`: act as a router.
    pub ipforwarding: AtomicI64,
    /// `V_ip_defttl`: default TTL.
    pub ip_defttl: AtomicI64,
    /// `V_ipsendredirects`.
    pub ipsendredirects: AtomicI64,
}

fn inet_iattach(_v: &Arc<Vnet>) -> Result<ModState, Errno> {
    Ok(Arc::new(VnetInet {
        ipforwarding: AtomicI64::new(0),
        ip_defttl: AtomicI64::new(IPDEFTTL),
        ipsendredirects: AtomicI64::new(1),
    }))
}

fn inet_idetach(_v: &Arc<Vnet>, _s: &ModState) {}

fn sym_fwd(s: &(dyn std::any::Any + Send + Sync)) -> String {
    s.downcast_ref::<VnetInet>()
        .map(|i| {
            i.ipforwarding
                .load(std::sync::atomic::Ordering::Relaxed)
                .to_string()
        })
        .unwrap_or_default()
}

/// `VNET_MOD_DECLARE(INET, inet, ...)`.
pub static VNET_INET_MODINFO: VnetModInfo = VnetModInfo {
    id: VNET_MOD_INET,
    name: "inet",
    depends: &[VNET_MOD_NET],
    iattach: inet_iattach,
    idetach: inet_idetach,
    ifdetach: None,
    ifattach: None,
    symmap: &[VnetSymmap {
        name: "ipforwarding",
        get: sym_fwd,
    }],
};

/// The `net.inet.ip.*` sysctls (virtualized).
pub fn sysctl_init(t: &SysctlTree) {
    t.add_vnet_int::<VnetInet>(
        "net.inet.ip.forwarding",
        "Enable IP forwarding between interfaces",
        VNET_MOD_INET,
        |s| &s.ipforwarding,
        0,
        1,
    );
    t.add_vnet_int::<VnetInet>(
        "net.inet.ip.ttl",
        "Maximum TTL on IP packets",
        VNET_MOD_INET,
        |s| &s.ip_defttl,
        1,
        255,
    );
    t.add_vnet_int::<VnetInet>(
        "net.inet.ip.redirect",
        "Enable sending IP redirects",
        VNET_MOD_INET,
        |s| &s.ipsendredirects,
        0,
        1,
    );
}
