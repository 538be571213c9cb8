//! vkernel's sans-IO core, laid out as FreeBSD's `sys/`.
//!
//! * [`kern`]: vimages, vnets and `curvnet`, module registration, sysctl, the kld
//!   linker, processes and the syscall dispatcher.
//! * [`net`]: interfaces (ifnet), cloners, loopback.
//! * [`netinet`]: per-vnet IPv4 state.
//! * [`netinet6`]: IPv6 wire formats and the per-vnet IPv6 stack.
//!
//! Nothing here starts a thread, reads the wall clock or touches a host device: time,
//! the host's process table and devices are injected by the embedding (vkernel, or a
//! test driving several vnets in one process).

pub mod conf;
pub mod kern;
pub mod net;
pub mod netinet;
#[cfg(feature = "inet6")]
pub mod netinet6;

pub use kern::kern_syscall::{Kernel, KernelConfig};
pub use kern::vnet::{curvnet, CurvnetGuard, Vnet};
pub use vimage_abi::Errno;

/// Whether this kernel was built with `options VIMAGE`.
pub const VIMAGE: bool = cfg!(feature = "vimage");
