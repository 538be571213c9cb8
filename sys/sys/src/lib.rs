//! The ABI shared by vkernel and every userland tool: the "sys/sys" headers.
//!
//! Nothing here knows about the kernel's internals.  Every type that crosses the
//! syscall boundary lives here, with a checked decoder (bad input yields
//! `EINVAL`, never a panic) and an encoder, so both sides agree byte for byte.

pub mod errno;
pub mod ioccom;
pub mod ip_fw;
pub mod net_if;
pub mod net_if_vlan_var;
pub mod netgraph;
pub mod netinet6_in6;
pub mod netinet_in;
pub mod route;
pub mod socket;
pub mod syscall;
pub mod sysctl;
pub mod testrand;
pub mod user;
pub mod vimage;
pub mod wire;

pub use errno::Errno;

/// Longest host or vimage name, including the terminating NUL (sys/param.h).
pub const MAXHOSTNAMELEN: usize = 256;
/// Longest interface name, including the terminating NUL (net/if.h).
pub const IFNAMSIZ: usize = 16;
