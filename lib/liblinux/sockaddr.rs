//! Socket addresses and `socket(2)` arguments.
//!
//! Linux's `sockaddr_in` / `sockaddr_in6` start with a host-order `u16`
//! family; FreeBSD's with a `sin_len` byte and a `u8` family.  The port stays
//! in network order on both.  `sin6_flowinfo` is network order on Linux and a
//! little-endian host value in the kernel's image
//! ([`vimage_abi::netinet6_in6::SockaddrIn6`], as `libvimage` fills it from
//! `SocketAddrV6::flowinfo`); `sin6_scope_id` is host order on both.

use std::net::{Ipv4Addr, Ipv6Addr};

use vimage_abi::net_if::{AF_INET as BSD_AF_INET, AF_INET6 as BSD_AF_INET6};
use vimage_abi::netinet6_in6::{SockaddrIn6, SOCKADDR_IN6_LEN};
use vimage_abi::netinet_in::{SockaddrIn, SOCKADDR_IN_SIZE};

use crate::errno::errno_to_linux;
use crate::linux as l;

/// `sizeof(struct sockaddr_in)` on Linux.
pub const LINUX_SOCKADDR_IN_SIZE: usize = 16;
/// `sizeof(struct sockaddr_in6)` on Linux.
pub const LINUX_SOCKADDR_IN6_SIZE: usize = 28;
/// `SIN6_LEN_RFC2133`: the shortest `sockaddr_in6` Linux's `bind`/`connect`
/// take (no `sin6_scope_id`; it is then 0).
pub const SIN6_LEN_RFC2133: usize = 24;

/// Linux address family → the kernel's (`AF_UNSPEC`, `AF_INET`, `AF_INET6`).
/// `AF_UNIX` and `AF_NETLINK` have no row: the supervisor serves those itself.
pub const FAMILY_TABLE: &[(i32, i32)] = &[
    (l::AF_UNSPEC, 0),
    (l::AF_INET, BSD_AF_INET as i32),
    (l::AF_INET6, BSD_AF_INET6 as i32),
];

/// The kernel's family for Linux family `linux_af`, if the kernel serves it.
pub fn family_to_kernel(linux_af: i32) -> Option<i32> {
    FAMILY_TABLE
        .iter()
        .find(|(x, _)| *x == linux_af)
        .map(|(_, b)| *b)
}

/// The Linux family for the kernel's family `kernel_af`.
pub fn family_to_linux(kernel_af: i32) -> Option<i32> {
    FAMILY_TABLE
        .iter()
        .find(|(_, b)| *b == kernel_af)
        .map(|(x, _)| *x)
}

fn linux_family(b: &[u8]) -> Option<i32> {
    Some(i32::from(u16::from_le_bytes([*b.first()?, *b.get(1)?])))
}

fn in_to_kernel(b: &[u8]) -> Vec<u8> {
    let port = u16::from_be_bytes([b[2], b[3]]);
    SockaddrIn::new(Ipv4Addr::new(b[4], b[5], b[6], b[7]), port)
        .to_bytes()
        .to_vec()
}

fn in6_to_kernel(b: &[u8]) -> Vec<u8> {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[8..24]);
    let scope_id = match b.get(24..28) {
        Some(s) => u32::from_le_bytes([s[0], s[1], s[2], s[3]]),
        None => 0,
    };
    SockaddrIn6 {
        port: u16::from_be_bytes([b[2], b[3]]),
        flowinfo: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        addr: Ipv6Addr::from(a),
        scope_id,
    }
    .to_bytes()
    .to_vec()
}

/// A Linux `sockaddr_in` / `sockaddr_in6` (as `bind`, `connect`, `sendto`
/// pass it, `linux.len()` being the caller's `addrlen`) → the kernel's image.
/// Checked as Linux's `inet_bind`/`inet6_bind` do: shorter than a
/// `sockaddr_in` (16) → `EINVAL`; an `AF_INET6` address shorter than
/// [`SIN6_LEN_RFC2133`] → `EINVAL`; another family → `EAFNOSUPPORT`.  Bytes
/// past the structure are ignored.  Linux's `AF_UNSPEC` special cases
/// (`connect` disconnects, `bind`/UDP `sendto` treat it as `AF_INET`) are the
/// caller's: here they are `EAFNOSUPPORT`.
pub fn sockaddr_to_kernel(linux: &[u8]) -> Result<Vec<u8>, i32> {
    if linux.len() < LINUX_SOCKADDR_IN_SIZE {
        return Err(l::EINVAL);
    }
    match linux_family(linux) {
        Some(l::AF_INET) => Ok(in_to_kernel(linux)),
        Some(l::AF_INET6) if linux.len() < SIN6_LEN_RFC2133 => Err(l::EINVAL),
        Some(l::AF_INET6) => Ok(in6_to_kernel(linux)),
        _ => Err(l::EAFNOSUPPORT),
    }
}

/// [`sockaddr_to_kernel`] for a socket of Linux family `domain`, in the
/// exact order Linux checks: the length against the domain's structure
/// (`EINVAL`), then the family (`EAFNOSUPPORT`).
pub fn sockaddr_to_kernel_on(domain: i32, linux: &[u8]) -> Result<Vec<u8>, i32> {
    let min = match domain {
        l::AF_INET => LINUX_SOCKADDR_IN_SIZE,
        l::AF_INET6 => SIN6_LEN_RFC2133,
        _ => return Err(l::EAFNOSUPPORT),
    };
    if linux.len() < min {
        return Err(l::EINVAL);
    }
    if linux_family(linux) != Some(domain) {
        return Err(l::EAFNOSUPPORT);
    }
    sockaddr_to_kernel(linux)
}

/// The kernel's address image (from `getsockname`, `getpeername`, `accept`,
/// `recvfrom`) → Linux's `sockaddr_in` (16 bytes) or `sockaddr_in6` (28).
/// An empty image (no address) stays empty.  A malformed image is `EINVAL`,
/// another family `EAFNOSUPPORT`.  The caller truncates to the program's
/// `addrlen` and reports the full length, as Linux does.
pub fn sockaddr_to_linux(kernel: &[u8]) -> Result<Vec<u8>, i32> {
    if kernel.is_empty() {
        return Ok(Vec::new());
    }
    match kernel.get(1).copied() {
        Some(BSD_AF_INET) => {
            let s = SockaddrIn::from_bytes(kernel).map_err(errno_to_linux)?;
            let mut b = vec![0u8; LINUX_SOCKADDR_IN_SIZE];
            b[..2].copy_from_slice(&(l::AF_INET as u16).to_le_bytes());
            b[2..4].copy_from_slice(&s.port.to_be_bytes());
            b[4..8].copy_from_slice(&s.addr.octets());
            Ok(b)
        }
        Some(BSD_AF_INET6) => {
            let s = SockaddrIn6::from_bytes(kernel).map_err(errno_to_linux)?;
            let mut b = vec![0u8; LINUX_SOCKADDR_IN6_SIZE];
            b[..2].copy_from_slice(&(l::AF_INET6 as u16).to_le_bytes());
            b[2..4].copy_from_slice(&s.port.to_be_bytes());
            b[4..8].copy_from_slice(&s.flowinfo.to_be_bytes());
            b[8..24].copy_from_slice(&s.addr.octets());
            b[24..28].copy_from_slice(&s.scope_id.to_le_bytes());
            Ok(b)
        }
        Some(_) => Err(l::EAFNOSUPPORT),
        None => Err(l::EINVAL),
    }
}

// Both images have the sizes the code above assumes.
const _: () = assert!(SOCKADDR_IN_SIZE == 16 && SOCKADDR_IN6_LEN == 28);

/// Linux socket type (without flags) → the kernel's `SOCK_*`.  The numbers
/// agree; the table lists the types the kernel implements for `AF_INET` /
/// `AF_INET6`.
pub const SOCK_TYPE_TABLE: &[(i32, i32)] = &[
    (l::SOCK_STREAM, vimage_abi::netinet_in::SOCK_STREAM),
    (l::SOCK_DGRAM, vimage_abi::netinet_in::SOCK_DGRAM),
    (l::SOCK_RAW, vimage_abi::netinet_in::SOCK_RAW),
];

/// `socket(2)`'s `type` for an `AF_INET`/`AF_INET6` socket → (the kernel's
/// `SOCK_*` without flags, `SOCK_NONBLOCK`, `SOCK_CLOEXEC`).  As Linux:
/// flag bits other than those two → `EINVAL`; a type at or past `SOCK_MAX`
/// → `EINVAL`; a type with no inet protocol (`SOCK_SEQPACKET`, `SOCK_RDM`,
/// `SOCK_DCCP`, `SOCK_PACKET`, 0, …) → `ESOCKTNOSUPPORT`.
pub fn socket_type(linux_ty: i32) -> Result<(i32, bool, bool), i32> {
    let flags = linux_ty & !l::SOCK_TYPE_MASK;
    if flags & !(l::SOCK_NONBLOCK | l::SOCK_CLOEXEC) != 0 {
        return Err(l::EINVAL);
    }
    let ty = linux_ty & l::SOCK_TYPE_MASK;
    if ty >= l::SOCK_MAX {
        return Err(l::EINVAL);
    }
    let (_, k) = SOCK_TYPE_TABLE
        .iter()
        .find(|(x, _)| *x == ty)
        .ok_or(l::ESOCKTNOSUPPORT)?;
    Ok((
        *k,
        flags & l::SOCK_NONBLOCK != 0,
        flags & l::SOCK_CLOEXEC != 0,
    ))
}

/// `socket(2)`'s `protocol` for socket type `ty` (a [`socket_type`] result)
/// → the protocol to create, with 0 resolved as Linux reports it in
/// `SO_PROTOCOL` (TCP for streams, UDP for datagrams).  As Linux's
/// `inet_create`: outside `0..IPPROTO_MAX` → `EINVAL`; a protocol the type
/// does not carry (ICMP "ping" datagram sockets, UDP-Lite, SCTP, MPTCP, raw
/// protocol 0) → `EPROTONOSUPPORT`.  Raw protocols above 255 are `EINVAL`
/// (the kernel keeps a byte).
pub fn socket_protocol(ty: i32, proto: i32) -> Result<i32, i32> {
    if !(0..l::IPPROTO_MAX).contains(&proto) {
        return Err(l::EINVAL);
    }
    match (ty, proto) {
        (l::SOCK_STREAM, 0 | l::IPPROTO_TCP) => Ok(l::IPPROTO_TCP),
        (l::SOCK_DGRAM, 0 | l::IPPROTO_UDP) => Ok(l::IPPROTO_UDP),
        (l::SOCK_RAW, 1..=255) => Ok(proto),
        (l::SOCK_RAW, 256..) => Err(l::EINVAL),
        (l::SOCK_STREAM | l::SOCK_DGRAM | l::SOCK_RAW, _) => Err(l::EPROTONOSUPPORT),
        _ => Err(l::ESOCKTNOSUPPORT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lin4(port: u16, a: [u8; 4]) -> Vec<u8> {
        let mut b = vec![2, 0];
        b.extend_from_slice(&port.to_be_bytes());
        b.extend_from_slice(&a);
        b.extend_from_slice(&[0; 8]);
        b
    }

    fn lin6(port: u16, flow: u32, a: Ipv6Addr, scope: u32) -> Vec<u8> {
        let mut b = vec![10, 0];
        b.extend_from_slice(&port.to_be_bytes());
        b.extend_from_slice(&flow.to_be_bytes());
        b.extend_from_slice(&a.octets());
        b.extend_from_slice(&scope.to_le_bytes());
        b
    }

    #[test]
    fn family_table() {
        for (x, b) in FAMILY_TABLE {
            assert_eq!(family_to_kernel(*x), Some(*b));
            assert_eq!(family_to_linux(*b), Some(*x));
        }
        // bits/socket.h vs FreeBSD sys/socket.h.
        assert_eq!(family_to_kernel(2), Some(2));
        assert_eq!(family_to_kernel(10), Some(28));
        assert_eq!(family_to_kernel(0), Some(0));
        assert_eq!(family_to_kernel(1), None);
        assert_eq!(family_to_kernel(16), None);
        assert_eq!(family_to_linux(28), Some(10));
        assert_eq!(family_to_linux(18), None);
    }

    #[test]
    fn inet_both_ways() {
        let lin = lin4(33434, [10, 0, 0, 20]);
        let k = sockaddr_to_kernel(&lin).unwrap();
        assert_eq!(
            k,
            SockaddrIn::new(Ipv4Addr::new(10, 0, 0, 20), 33434).to_bytes()
        );
        assert_eq!(&k[..4], &[16, 2, 0x82, 0x9a]);
        assert_eq!(sockaddr_to_linux(&k).unwrap(), lin);
        // sin_zero is not trusted; a longer addrlen is fine.
        let mut junk = lin.clone();
        junk[8..].fill(0xff);
        junk.push(7);
        assert_eq!(sockaddr_to_kernel(&junk).unwrap(), k);
        assert_eq!(sockaddr_to_kernel(&lin[..15]), Err(l::EINVAL));
        assert_eq!(sockaddr_to_kernel(&[]), Err(l::EINVAL));
    }

    #[test]
    fn inet6_both_ways() {
        let a: Ipv6Addr = "fe80::1".parse().unwrap();
        let lin = lin6(80, 0x12345, a, 2);
        let k = sockaddr_to_kernel(&lin).unwrap();
        let want = SockaddrIn6 {
            port: 80,
            flowinfo: 0x12345,
            addr: a,
            scope_id: 2,
        };
        assert_eq!(k, want.to_bytes());
        assert_eq!(SockaddrIn6::from_bytes(&k).unwrap(), want);
        assert_eq!(sockaddr_to_linux(&k).unwrap(), lin);
        // RFC 2133 length: no scope id.
        let k24 = sockaddr_to_kernel(&lin[..24]).unwrap();
        assert_eq!(SockaddrIn6::from_bytes(&k24).unwrap().scope_id, 0);
        assert_eq!(sockaddr_to_kernel(&lin[..23]), Err(l::EINVAL));
        assert_eq!(sockaddr_to_kernel(&lin[..15]), Err(l::EINVAL));
    }

    #[test]
    fn refusals() {
        let mut unix = lin4(0, [0; 4]);
        unix[0] = 1;
        assert_eq!(sockaddr_to_kernel(&unix), Err(l::EAFNOSUPPORT));
        let mut unspec = lin4(0, [0; 4]);
        unspec[0] = 0;
        assert_eq!(sockaddr_to_kernel(&unspec), Err(l::EAFNOSUPPORT));
        // A FreeBSD-style image is not a Linux one.
        let bsd = SockaddrIn::new(Ipv4Addr::LOCALHOST, 1).to_bytes();
        assert_eq!(sockaddr_to_kernel(&bsd), Err(l::EAFNOSUPPORT));
        // Per-domain order.
        let v4 = lin4(1, [127, 0, 0, 1]);
        let v6 = lin6(1, 0, Ipv6Addr::LOCALHOST, 0);
        assert!(sockaddr_to_kernel_on(l::AF_INET, &v4).is_ok());
        assert!(sockaddr_to_kernel_on(l::AF_INET6, &v6).is_ok());
        assert_eq!(sockaddr_to_kernel_on(l::AF_INET6, &v4), Err(l::EINVAL));
        assert_eq!(sockaddr_to_kernel_on(l::AF_INET, &v6), Err(l::EAFNOSUPPORT));
        assert_eq!(
            sockaddr_to_kernel_on(l::AF_INET6, &[v4.clone(), vec![0; 8]].concat()),
            Err(l::EAFNOSUPPORT)
        );
        assert_eq!(sockaddr_to_kernel_on(l::AF_UNIX, &v4), Err(l::EAFNOSUPPORT));
        // Kernel side.
        assert_eq!(sockaddr_to_linux(&[]).unwrap(), Vec::<u8>::new());
        assert_eq!(sockaddr_to_linux(&[16]), Err(l::EINVAL));
        assert_eq!(sockaddr_to_linux(&[16, 2, 0]), Err(l::EINVAL));
        assert_eq!(sockaddr_to_linux(&[0; 16][..]), Err(l::EAFNOSUPPORT));
        let mut link = [0u8; 20];
        link[1] = 18;
        assert_eq!(sockaddr_to_linux(&link), Err(l::EAFNOSUPPORT));
    }

    #[test]
    fn socket_types() {
        for (x, k) in SOCK_TYPE_TABLE {
            assert_eq!(socket_type(*x), Ok((*k, false, false)));
            assert_eq!(
                socket_type(*x | l::SOCK_NONBLOCK | l::SOCK_CLOEXEC),
                Ok((*k, true, true))
            );
        }
        // bits/socket_type.h: SOCK_NONBLOCK 04000, SOCK_CLOEXEC 02000000.
        assert_eq!(socket_type(1 | 0o4000), Ok((1, true, false)));
        assert_eq!(socket_type(2 | 0o2000000), Ok((2, false, true)));
        assert_eq!(socket_type(3), Ok((3, false, false)));
        assert_eq!(socket_type(5), Err(l::ESOCKTNOSUPPORT));
        assert_eq!(socket_type(10), Err(l::ESOCKTNOSUPPORT));
        assert_eq!(socket_type(0), Err(l::ESOCKTNOSUPPORT));
        assert_eq!(socket_type(11), Err(l::EINVAL));
        assert_eq!(socket_type(15), Err(l::EINVAL));
        assert_eq!(socket_type(1 | 0x10), Err(l::EINVAL));
        // FreeBSD's SOCK_NONBLOCK is not Linux's.
        assert_eq!(socket_type(1 | 0x2000_0000), Err(l::EINVAL));
        assert_eq!(socket_type(-1), Err(l::EINVAL));
    }

    #[test]
    fn protocols() {
        assert_eq!(socket_protocol(1, 0), Ok(6));
        assert_eq!(socket_protocol(1, 6), Ok(6));
        assert_eq!(socket_protocol(2, 0), Ok(17));
        assert_eq!(socket_protocol(2, 17), Ok(17));
        assert_eq!(socket_protocol(3, 1), Ok(1));
        assert_eq!(socket_protocol(3, 58), Ok(58));
        assert_eq!(socket_protocol(3, 255), Ok(255));
        assert_eq!(socket_protocol(3, 0), Err(l::EPROTONOSUPPORT));
        assert_eq!(socket_protocol(1, 17), Err(l::EPROTONOSUPPORT));
        assert_eq!(
            socket_protocol(1, l::IPPROTO_MPTCP),
            Err(l::EPROTONOSUPPORT)
        );
        assert_eq!(socket_protocol(2, 1), Err(l::EPROTONOSUPPORT));
        assert_eq!(socket_protocol(2, 136), Err(l::EPROTONOSUPPORT));
        assert_eq!(socket_protocol(3, 262), Err(l::EINVAL));
        assert_eq!(socket_protocol(1, 263), Err(l::EINVAL));
        assert_eq!(socket_protocol(1, -1), Err(l::EINVAL));
        assert_eq!(socket_protocol(5, 0), Err(l::ESOCKTNOSUPPORT));
    }
}
