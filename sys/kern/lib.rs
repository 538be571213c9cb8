//! vkernel's core (FreeBSD's sys/kern): vimages, vnets and `curvnet`, module
//! registration, sysctl, the kld linker, processes, the socket layer and the
//! syscall dispatcher.
//!
//! It knows no protocol, interface or domain: the layers above register
//! themselves through a kernel configuration ([`kern_conf`]).  Nothing here
//! starts a thread, reads the wall clock or touches a host device: time, the
//! host's process table and devices are injected by the embedding (vkernel,
//! or a test driving several vnets in one process).

/// The fuzz tests' generator and mutator (in the ABI crate, the lowest).
pub use vimage_abi::testrand as fuzz;
pub mod kern_conf;
pub mod kern_intr;
pub mod kern_linker;
pub mod kern_proc;
pub mod kern_random;
pub mod kern_resource;
pub mod kern_synch;
pub mod kern_syscall;
pub mod kern_sysctl;
pub mod kern_timeout;
pub mod kern_vimage;
pub mod md5c;
pub mod subr_rcu;
pub mod uipc_socket;
pub mod uipc_syscalls;
pub mod vnet;

pub use kern_syscall::{Kernel, KernelConfig};
pub use vimage_abi::Errno;
pub use vnet::{curvnet, CurvnetGuard, Vnet};

/// Whether this kernel was built with `options VIMAGE`.
pub const VIMAGE: bool = cfg!(feature = "vimage");
