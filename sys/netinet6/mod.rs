//! IPv6 (FreeBSD's sys/netinet6): the wire formats of the IPv6 header, ICMPv6
//! and neighbour discovery, and the INET6 module's per-vnet stack: addresses,
//! input, output, forwarding, reassembly, neighbour discovery and raw sockets.

pub mod frag6;
pub mod icmp6;
pub mod in6;
pub mod in6_ifattach;
pub mod in6_mcast;
pub mod ip6;
pub mod ip6_forward;
pub mod ip6_input;
pub mod ip6_output;
pub mod nd6;
pub mod raw_ip6;
pub mod udp6_usrreq;

#[cfg(test)]
mod tests;

pub use in6::{sysctl_init, VNET_INET6_MODINFO};
