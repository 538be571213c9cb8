//! Kernel core services (FreeBSD's sys/kern).

pub mod kern_linker;
pub mod kern_proc;
pub mod kern_random;
pub mod kern_resource;
pub mod kern_syscall;
pub mod kern_sysctl;
pub mod kern_timeout;
pub mod kern_vimage;
pub mod uipc_socket;
pub mod uipc_syscalls;
pub mod vnet;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod uipc_tests;
