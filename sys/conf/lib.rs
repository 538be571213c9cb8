//! Kernel configurations (FreeBSD's `sys/conf` and `sys/amd64/conf/GENERIC`):
//! which options a kernel is built with.  The kernel core
//! ([`vimage_kern`]) boots whatever its configuration lists: each layer
//! declares what it contributes as a
//! [`KernOption`](vimage_kern::kern_conf::KernOption), and the core never
//! names a protocol itself.
//!
//! The layering is Cargo's: `vimage-kern` ← `vimage-net` ← `vimage-inet`
//! (IPv4, and IPv6 with the `inet6` feature) ← this crate ← vkernel.

use std::sync::Arc;

use vimage_abi::Errno;
use vimage_kern::kern_conf::KernConf;
use vimage_kern::{Kernel, KernelConfig};

/// The default configuration: interfaces with lo0 and routing sockets
/// (`NET`), IPv4 with TCP, UDP, ICMP and raw sockets (`INET`), and IPv6
/// when built with `options INET6` (the `inet6` feature).
pub static GENERIC: KernConf = KernConf {
    name: "GENERIC",
    options: &[
        &vimage_net::OPT_NET,
        &vimage_inet::OPT_INET,
        #[cfg(feature = "inet6")]
        &vimage_inet::OPT_INET6,
    ],
};

/// Boot a kernel with [`GENERIC`].
pub fn boot(cfg: KernelConfig) -> Result<Arc<Kernel>, Errno> {
    Kernel::boot_conf(cfg, &GENERIC)
}
