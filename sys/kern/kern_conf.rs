//! What a kernel is built with (FreeBSD's kernel configuration file and the
//! linker sets its `options` and `device` lines fill: `VNET_SYSINIT`,
//! `DOMAIN_SET`, `SYSCTL_NODE`, the `'i'` ioctl group).
//!
//! Each layer above the kernel core declares what it contributes as one
//! [`KernOption`]; a [`KernConf`] lists the options a kernel boots with
//! (`sys/conf`'s GENERIC).  The core registers whatever it is given and never
//! names a protocol, an interface or a domain itself.

use std::sync::Arc;

use vimage_abi::Errno;

use crate::kern_sysctl::SysctlTree;
use crate::uipc_socket::Domain;
use crate::vnet::{ModRegistry, Vnet, VnetModInfo};

/// An ioctl handler for one ioctl group (`IOCGROUP(cmd)`), run with curvnet
/// set to the caller's vnet; returns the data copied out.
pub type IoctlFn = fn(cmd: u32, data: &[u8]) -> Result<Vec<u8>, Errno>;

/// Moving an interface between vnets (`if_vmove`, for `vimage -i`): the
/// interface named `ifname` in `from` goes to `to`, under `newname` if given.
/// Returns its name there.
pub type IfMoveFn = fn(
    from: &Arc<Vnet>,
    ifname: &str,
    to: &Arc<Vnet>,
    newname: Option<&str>,
) -> Result<String, Errno>;

/// Kernel-wide registrations an option makes once per boot.
pub type AttachFn = fn(&Arc<ModRegistry>) -> Result<(), Errno>;

/// One option's contributions to the kernel (`options INET`, `device loop`).
pub struct KernOption {
    /// Its name (`NET`, `INET`, `INET6`).
    pub name: &'static str,
    /// Vnet modules it registers (`VNET_SYSINIT`); the kernel orders all
    /// options' modules by their dependencies.
    pub modules: &'static [&'static VnetModInfo],
    /// Kernel-wide registrations made once per boot, after the modules
    /// (interface cloners).
    pub attach: Option<AttachFn>,
    /// Protocol domains (`DOMAIN_SET`).
    pub domains: fn() -> Vec<Arc<dyn Domain>>,
    /// Sysctl subtrees it adds at boot (`SYSCTL_NODE`s).
    pub sysctls: &'static [fn(&SysctlTree)],
    /// Ioctl groups it handles for any socket, after the socket's domain
    /// (`pru_control`) has declined: the interface layer's `'i'`.
    pub ioctls: &'static [(u8, IoctlFn)],
    /// How interfaces move between vnets, if this option provides it.
    pub ifmove: Option<IfMoveFn>,
    /// Names `kldstat` lists as compiled in.
    pub klds: &'static [&'static str],
}

/// No domains (for options that register none).
pub fn no_domains() -> Vec<Arc<dyn Domain>> {
    Vec::new()
}

/// A kernel configuration: a name and the options it boots with.
pub struct KernConf {
    /// Its name (`GENERIC`).
    pub name: &'static str,
    /// Its options, in the order their kernel-wide registrations run.
    pub options: &'static [&'static KernOption],
}

impl KernConf {
    /// Every option's vnet modules.
    pub fn modules(&self) -> Vec<&'static VnetModInfo> {
        self.options
            .iter()
            .flat_map(|o| o.modules.iter().copied())
            .collect()
    }
    /// Every option's ioctl groups.
    pub fn ioctls(&self) -> Vec<(u8, IoctlFn)> {
        self.options
            .iter()
            .flat_map(|o| o.ioctls.iter().copied())
            .collect()
    }
    /// The interface mover, from the first option that has one.
    pub fn ifmove(&self) -> Option<IfMoveFn> {
        self.options.iter().find_map(|o| o.ifmove)
    }
}
