//! The link layer and interface framework (FreeBSD's sys/net).

pub mod ethernet;
pub mod r#if;
pub mod if_clone;
pub mod if_ethersubr;
pub mod if_loop;
pub mod if_var;
/// Packet buffers (`sys/mbuf.h`), in their own crate so netgraph carries them too.
pub use vimage_mbuf as mbuf;
pub mod netisr;
pub mod radix;
pub mod route;
pub mod rtsock;
#[cfg(test)]
pub(crate) mod testnet;
