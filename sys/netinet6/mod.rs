//! IPv6 (FreeBSD's sys/netinet6): wire formats of the IPv6 header, ICMPv6 and
//! neighbour discovery.

pub mod icmp6;
pub mod ip6;
pub mod nd6;
