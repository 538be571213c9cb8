//! Interface cloning (FreeBSD's sys/net/if_clone.c): `ifconfig NAMEn create`.

use std::sync::{Arc, RwLock};
use vimage_abi::Errno;

use super::if_var::Ifnet;
use vimage_kern::vnet::{curvnet, ModRegistry};

/// Registry slot of the kernel-wide cloner list (`if_cloners`).
pub const NET_CLONERS_SLOT: usize = 60;

/// The kernel's interface cloners, in registration order (kernel-wide: every
/// vnet can create interfaces of every family).
#[derive(Default)]
pub struct IfClones(RwLock<Vec<Arc<dyn IfCloner>>>);

/// `if_clone_attach`: register cloner `c` in the kernel of `reg`; EEXIST for
/// a duplicate name.
pub fn if_clone_attach(reg: &ModRegistry, c: Arc<dyn IfCloner>) -> Result<(), Errno> {
    let l = reg
        .global_or_init(NET_CLONERS_SLOT, IfClones::default)
        .ok_or(Errno::EDOOFUS)?;
    let mut g = l.0.write().map_err(|_| Errno::EDOOFUS)?;
    if g.iter().any(|o| o.name() == c.name()) {
        return Err(Errno::EEXIST);
    }
    g.push(c);
    Ok(())
}

/// `if_clone_detach`: remove the cloner called `name`.
pub fn if_clone_detach(reg: &ModRegistry, name: &str) {
    if let Some(l) = reg.global::<IfClones>(NET_CLONERS_SLOT) {
        if let Ok(mut g) = l.0.write() {
            g.retain(|c| c.name() != name);
        }
    }
}

/// The cloners registered in the kernel of `reg`, in registration order.
pub fn if_cloners(reg: &ModRegistry) -> Vec<Arc<dyn IfCloner>> {
    reg.global::<IfClones>(NET_CLONERS_SLOT)
        .and_then(|l| l.0.read().ok().map(|g| g.clone()))
        .unwrap_or_default()
}

/// A family of interfaces that can be created on demand (`lo`, `edsc`, `vlan`).
pub trait IfCloner: Send + Sync {
    /// Family name, the prefix of every interface it makes.
    fn name(&self) -> &str;
    /// Whether `ifname` is one of this cloner's names (`lo1`, or `em0.101` for vlan).
    fn matches(&self, ifname: &str) -> bool {
        match ifname.strip_prefix(self.name()) {
            Some("") => true,
            Some(u) => u.bytes().all(|c| c.is_ascii_digit()) && u.len() < 6,
            None => false,
        }
    }
    /// Create an interface called `ifname` (or, if it is the bare family name, the
    /// lowest free unit) in curvnet and attach it; returns the name given.
    fn create(&self, ifname: &str) -> Result<Arc<Ifnet>, Errno>;
    /// [`create`](Self::create) with the parameters SIOCIFCREATE2's
    /// `ifr_data` carried (a vlan's `struct vlanreq`); a cloner that takes
    /// none ignores them, as FreeBSD's do.
    fn create_params(&self, ifname: &str, _params: &[u8]) -> Result<Arc<Ifnet>, Errno> {
        self.create(ifname)
    }
    /// Whether this interface may be destroyed (lo0 may not).
    fn can_destroy(&self, _ifp: &Arc<Ifnet>) -> bool {
        true
    }
}

/// `SIOCIFCREATE2`: find the cloner for `ifname` (EINVAL if none) and create.
pub fn if_clone_create(ifname: &str) -> Result<String, Errno> {
    if_clone_create_params(ifname, &[])
}

/// `SIOCIFCREATE2` with the cloner's parameters (`ifr_data`; empty: none).
pub fn if_clone_create_params(ifname: &str, params: &[u8]) -> Result<String, Errno> {
    super::r#if::ifname_valid(ifname)?;
    if super::r#if::ifunit(ifname).is_some() {
        return Err(Errno::EEXIST);
    }
    let reg = curvnet().registry().ok_or(Errno::EDOOFUS)?;
    let c = if_cloners(&reg)
        .into_iter()
        .find(|c| c.matches(ifname))
        .ok_or(Errno::EINVAL)?;
    let ifp = if params.is_empty() {
        c.create(ifname)?
    } else {
        c.create_params(ifname, params)?
    };
    Ok(ifp.name())
}

/// `SIOCIFDESTROY`: destroy a cloned interface of curvnet (ENXIO if absent, EINVAL
/// if it was not cloned or may not be destroyed).
pub fn if_clone_destroy(ifname: &str) -> Result<(), Errno> {
    let ifp = super::r#if::ifunit(ifname).ok_or(Errno::ENXIO)?;
    let cname = ifp.cloner.clone().ok_or(Errno::EINVAL)?;
    let reg = curvnet().registry().ok_or(Errno::EDOOFUS)?;
    let c = if_cloners(&reg)
        .into_iter()
        .find(|c| c.name() == cname)
        .ok_or(Errno::EINVAL)?;
    if !c.can_destroy(&ifp) {
        return Err(Errno::EINVAL);
    }
    super::r#if::if_detach(&ifp);
    ifp.driver.detached(&ifp);
    Ok(())
}

/// The unit requested in `ifname` for family `prefix`: `Some(n)` for `prefixN`,
/// `None` for the bare family name.
pub fn requested_unit(prefix: &str, ifname: &str) -> Result<Option<u32>, Errno> {
    match ifname.strip_prefix(prefix) {
        Some("") => Ok(None),
        Some(u) => u.parse().map(Some).map_err(|_| Errno::EINVAL),
        None => Err(Errno::EINVAL),
    }
}
