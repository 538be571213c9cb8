//! Socket options: Linux `(level, name)` → the kernel's, and their values.

use vimage_abi::netinet6_in6 as in6;
use vimage_abi::netinet_in as inet;
use vimage_abi::socket as so;
use vimage_abi::Errno;

use crate::errno::errno_to_linux;
use crate::linux as l;

/// FreeBSD's `TCP_MAXSEG` (netinet/tcp.h; the kernel implements it but the
/// ABI crate does not name it).
pub const BSD_TCP_MAXSEG: i32 = 2;
/// The kernel's `kern.ipc.maxsockbuf` (2 MiB, fixed): larger `SO_SNDBUF` /
/// `SO_RCVBUF` requests are clamped to it, as Linux clamps to `wmem_max` /
/// `rmem_max` instead of failing.
pub const KERNEL_MAXSOCKBUF: i32 = 2 * 1024 * 1024;
/// The smallest buffer a zero `SO_SNDBUF`/`SO_RCVBUF` request gets (Linux
/// rounds small requests up to its `SOCK_MIN_RCVBUF`, about 2 KiB).
pub const MIN_SOCKBUF: i32 = 2048;

/// How an option's value is converted.  Values are Linux's x86_64 images on
/// one side and the kernel's on the other; integers are little-endian on both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptKind {
    /// An `int`.  Linux (`SOL_SOCKET`, `IPPROTO_TCP`, `IPPROTO_IPV6`) takes
    /// `optlen >= 4` and reads the first 4 bytes; shorter is `EINVAL`.
    Int,
    /// An `int` or a single byte (Linux's `IPPROTO_IP` rule: `optlen >= 4`
    /// reads an int, 1..=3 the first byte).  `optlen` 0 is `EINVAL` here
    /// (Linux reads 0 for some options).
    IntOrByte,
    /// A boolean `int`: set as [`OptKind::Int`]; the kernel answers
    /// FreeBSD-style (the option's bit when set), Linux programs get 0 or 1.
    Bool,
    /// `IP_PKTINFO`: a boolean that is two of the kernel's options,
    /// `IP_RECVIF` and `IP_RECVDSTADDR` (see [`opt_companion`]); what they
    /// return comes back as one `IP_PKTINFO` control message.
    PktInfo,
    /// `SO_SNDBUF`/`SO_RCVBUF`: an `int`, clamped to
    /// [`MIN_SOCKBUF`]..=[`KERNEL_MAXSOCKBUF`] (a negative one counts as
    /// huge, as Linux's unsigned comparison does) instead of failing.  Not
    /// doubled as Linux does: the kernel counts payload bytes.
    BufSize,
    /// `struct linger` (`int l_onoff; int l_linger`, 8 bytes, the same on
    /// both); `optlen < 8` is `EINVAL`.  `l_onoff` is answered as 0 or 1.
    Linger,
    /// `struct timeval` (`i64 tv_sec; i64 tv_usec`, 16 bytes, the same on
    /// both; also `SO_*TIMEO_NEW`'s `__kernel_sock_timeval`).  `optlen < 16`
    /// is `EINVAL`, `tv_usec` outside 0..1000000 `EDOM`; a negative `tv_sec`
    /// (Linux: time out at once) becomes 1 µs, the kernel's shortest timeout
    /// (its 0 means "never").
    Timeval,
    /// `SO_ERROR`: a read-only `int` holding a FreeBSD errno, answered as the
    /// Linux errno.
    Error,
    /// `ICMPV6_FILTER` (level `SOL_ICMPV6`): a 32-byte `struct icmp6_filter`
    /// whose bits mean "block" on Linux and "pass" on FreeBSD, so every bit
    /// is inverted.  `optlen < 32` is `EINVAL` (Linux overwrites only the
    /// first `optlen` bytes, which would need the current filter).
    Icmp6Filter,
    /// `SO_DOMAIN`: no kernel option; the supervisor answers the socket's
    /// Linux family (`AF_INET` 2 / `AF_INET6` 10) as an `int`.  Read-only.
    Domain,
    /// `TCP_INFO`: FreeBSD's `struct tcp_info` → Linux's (the first 100
    /// bytes share a layout; states are renumbered, the congestion window and
    /// slow-start threshold go from bytes to segments, `tcpi_last_data_recv`
    /// from µs to ms; retransmissions land in `tcpi_total_retrans`).
    /// Read-only.
    TcpInfo,
    /// `SO_PROTOCOL`: no kernel option; the supervisor answers the protocol
    /// [`crate::socket_protocol`] resolved at creation as an `int`.  Read-only.
    Protocol,
    /// `IP_MULTICAST_IF`: Linux takes a `struct ip_mreqn` (`optlen >= 12`:
    /// group, address, interface index), a `struct ip_mreq` (`>= 8`, the
    /// interface named by its second address) or a `struct in_addr`
    /// (`>= 4`); the kernel takes the same three images (FreeBSD's
    /// `in_mcast.c` rules), so the first 12, 8 or 4 bytes go as they are.
    /// Shorter is `EINVAL`.  Answered as the `struct in_addr` it is.
    McastIf,
    /// `IP_ADD_MEMBERSHIP` / `IP_DROP_MEMBERSHIP`: a `struct ip_mreqn`
    /// (`optlen >= 12`) or `struct ip_mreq` (`>= 8`), passed as the first
    /// 12 or 8 bytes ([`vimage_abi::netinet_in::IpMreq`] decodes both);
    /// shorter is `EINVAL`.
    IpMreq,
    /// `IP_MULTICAST_TTL`: an `int` or a byte as [`OptKind::IntOrByte`],
    /// with Linux's -1 meaning the default TTL 1.
    McastTtl,
    /// `IPV6_ADD_MEMBERSHIP` / `IPV6_DROP_MEMBERSHIP` (FreeBSD's
    /// `IPV6_JOIN_GROUP` / `IPV6_LEAVE_GROUP`): `struct ipv6_mreq`, the same
    /// 20 bytes on both (group, interface index); shorter is `EINVAL`.
    Ipv6Mreq,
}

/// An option as the kernel names it.  For [`OptKind::Domain`] and
/// [`OptKind::Protocol`], `level`/`name` stay Linux's: there is nothing to
/// ask the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockOpt {
    /// Kernel (FreeBSD) level: `SOL_SOCKET` 0xffff or an `IPPROTO_*`.
    pub level: i32,
    /// Kernel (FreeBSD) option name.
    pub name: i32,
    /// How the value converts.
    pub kind: OptKind,
}

const fn opt(level: i32, name: i32, kind: OptKind) -> SockOpt {
    SockOpt { level, name, kind }
}

/// Every Linux option the kernel implements: (Linux level, Linux name, the
/// kernel's option).  Anything else is `ENOPROTOOPT`.
#[rustfmt::skip]
pub const SOCKOPT_TABLE: &[(i32, i32, SockOpt)] = {
    use OptKind::*;
    const S: i32 = so::SOL_SOCKET;
    const IP: i32 = inet::IPPROTO_IP;
    const TCP: i32 = inet::IPPROTO_TCP;
    const V6: i32 = in6::IPPROTO_IPV6;
    &[
        (l::SOL_SOCKET, l::SO_REUSEADDR,        opt(S, so::SO_REUSEADDR, Bool)),
        (l::SOL_SOCKET, l::SO_TYPE,             opt(S, so::SO_TYPE, Int)),
        (l::SOL_SOCKET, l::SO_ERROR,            opt(S, so::SO_ERROR, Error)),
        (l::SOL_SOCKET, l::SO_BROADCAST,        opt(S, so::SO_BROADCAST, Bool)),
        (l::SOL_SOCKET, l::SO_SNDBUF,           opt(S, so::SO_SNDBUF, BufSize)),
        (l::SOL_SOCKET, l::SO_RCVBUF,           opt(S, so::SO_RCVBUF, BufSize)),
        (l::SOL_SOCKET, l::SO_KEEPALIVE,        opt(S, so::SO_KEEPALIVE, Bool)),
        (l::SOL_SOCKET, l::SO_LINGER,           opt(S, so::SO_LINGER, Linger)),
        (l::SOL_SOCKET, l::SO_REUSEPORT,        opt(S, so::SO_REUSEPORT, Bool)),
        (l::SOL_SOCKET, l::SO_RCVTIMEO_OLD,     opt(S, so::SO_RCVTIMEO, Timeval)),
        (l::SOL_SOCKET, l::SO_SNDTIMEO_OLD,     opt(S, so::SO_SNDTIMEO, Timeval)),
        (l::SOL_SOCKET, l::SO_ACCEPTCONN,       opt(S, so::SO_ACCEPTCONN, Bool)),
        (l::SOL_SOCKET, l::SO_PROTOCOL,         opt(l::SOL_SOCKET, l::SO_PROTOCOL, Protocol)),
        (l::SOL_SOCKET, l::SO_DOMAIN,           opt(l::SOL_SOCKET, l::SO_DOMAIN, Domain)),
        (l::SOL_SOCKET, l::SO_RCVTIMEO_NEW,     opt(S, so::SO_RCVTIMEO, Timeval)),
        (l::SOL_SOCKET, l::SO_SNDTIMEO_NEW,     opt(S, so::SO_SNDTIMEO, Timeval)),
        (l::SOL_IP,     l::IP_TOS,              opt(IP, inet::IP_TOS, IntOrByte)),
        (l::SOL_IP,     l::IP_TTL,              opt(IP, inet::IP_TTL, IntOrByte)),
        (l::SOL_IP,     l::IP_HDRINCL,          opt(IP, inet::IP_HDRINCL, IntOrByte)),
        (l::SOL_IP,     l::IP_MULTICAST_IF,     opt(IP, inet::IP_MULTICAST_IF, McastIf)),
        (l::SOL_IP,     l::IP_MULTICAST_TTL,    opt(IP, inet::IP_MULTICAST_TTL, McastTtl)),
        (l::SOL_IP,     l::IP_MULTICAST_LOOP,   opt(IP, inet::IP_MULTICAST_LOOP, IntOrByte)),
        (l::SOL_IP,     l::IP_PKTINFO,          opt(IP, inet::IP_RECVIF, PktInfo)),
        (l::SOL_IP,     l::IP_ADD_MEMBERSHIP,   opt(IP, inet::IP_ADD_MEMBERSHIP, IpMreq)),
        (l::SOL_IP,     l::IP_DROP_MEMBERSHIP,  opt(IP, inet::IP_DROP_MEMBERSHIP, IpMreq)),
        (l::SOL_TCP,    l::TCP_NODELAY,         opt(TCP, so::TCP_NODELAY, Bool)),
        (l::SOL_TCP,    l::TCP_MAXSEG,          opt(TCP, BSD_TCP_MAXSEG, Int)),
        (l::SOL_TCP,    l::TCP_INFO,            opt(TCP, so::TCP_INFO, TcpInfo)),
        (l::SOL_IPV6,   l::IPV6_CHECKSUM,       opt(V6, in6::IPV6_CHECKSUM, Int)),
        (l::SOL_RAW,    l::IPV6_CHECKSUM,       opt(V6, in6::IPV6_CHECKSUM, Int)),
        (l::SOL_IPV6,   l::IPV6_UNICAST_HOPS,   opt(V6, in6::IPV6_UNICAST_HOPS, Int)),
        (l::SOL_IPV6,   l::IPV6_MULTICAST_IF,   opt(V6, in6::IPV6_MULTICAST_IF, Int)),
        (l::SOL_IPV6,   l::IPV6_MULTICAST_HOPS, opt(V6, in6::IPV6_MULTICAST_HOPS, Int)),
        (l::SOL_IPV6,   l::IPV6_MULTICAST_LOOP, opt(V6, in6::IPV6_MULTICAST_LOOP, Int)),
        (l::SOL_IPV6,   l::IPV6_ADD_MEMBERSHIP, opt(V6, in6::IPV6_JOIN_GROUP, Ipv6Mreq)),
        (l::SOL_IPV6,   l::IPV6_DROP_MEMBERSHIP, opt(V6, in6::IPV6_LEAVE_GROUP, Ipv6Mreq)),
        (l::SOL_IPV6,   l::IPV6_V6ONLY,         opt(V6, in6::IPV6_V6ONLY, Bool)),
        (l::SOL_IPV6,   l::IPV6_RECVPKTINFO,    opt(V6, in6::IPV6_RECVPKTINFO, Bool)),
        (l::SOL_IPV6,   l::IPV6_RECVHOPLIMIT,   opt(V6, in6::IPV6_RECVHOPLIMIT, Bool)),
        (l::SOL_ICMPV6, l::ICMPV6_FILTER,       opt(in6::IPPROTO_ICMPV6, in6::ICMP6_FILTER, Icmp6Filter)),
    ]
};

/// The second kernel option a Linux option sets with the same value, if it
/// is two (`IP_PKTINFO`: `IP_RECVIF` and `IP_RECVDSTADDR`).
pub fn opt_companion(o: SockOpt) -> Option<(i32, i32)> {
    (o.kind == OptKind::PktInfo).then_some((inet::IPPROTO_IP, inet::IP_RECVDSTADDR))
}

/// The kernel's option for Linux `(level, name)`; `ENOPROTOOPT` (what Linux
/// answers for an option it does not know) when the kernel has none.
pub fn sockopt_to_kernel(level: i32, name: i32) -> Result<SockOpt, i32> {
    SOCKOPT_TABLE
        .iter()
        .find(|(lv, n, _)| *lv == level && *n == name)
        .map(|(_, _, o)| *o)
        .ok_or(l::ENOPROTOOPT)
}

fn int_at(b: &[u8], at: usize) -> Option<i32> {
    let s = b.get(at..at + 4)?;
    Some(i32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn i64_at(b: &[u8], at: usize) -> Option<i64> {
    let s = b.get(at..at + 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(i64::from_le_bytes(a))
}

/// The first `n` bytes of `val` for the largest `n` of `sizes` (largest
/// first) it holds, as Linux copies the biggest structure `optlen` allows;
/// `EINVAL` if it holds none.
fn first_of(val: &[u8], sizes: &[usize]) -> Result<Vec<u8>, i32> {
    sizes
        .iter()
        .find_map(|n| val.get(..*n))
        .map(<[u8]>::to_vec)
        .ok_or(l::EINVAL)
}

fn invert(b: &[u8]) -> Vec<u8> {
    b.iter().map(|x| !x).collect()
}

/// A `setsockopt` value as the program passed it (`val.len()` being its
/// `optlen`) → the kernel's image, or the Linux errno `setsockopt` fails with.
/// Read-only kinds ([`OptKind::Error`], [`OptKind::Domain`],
/// [`OptKind::Protocol`]) are `ENOPROTOOPT`, as on Linux.
pub fn opt_value_to_kernel(kind: OptKind, val: &[u8]) -> Result<Vec<u8>, i32> {
    let int = |n: Option<i32>| n.map(|v| v.to_le_bytes().to_vec()).ok_or(l::EINVAL);
    match kind {
        OptKind::Int | OptKind::Bool | OptKind::PktInfo => int(int_at(val, 0)),
        OptKind::IntOrByte => int(int_at(val, 0).or(val.first().map(|b| i32::from(*b)))),
        OptKind::BufSize => int(int_at(val, 0).map(|v| {
            if v < 0 {
                KERNEL_MAXSOCKBUF
            } else {
                v.clamp(MIN_SOCKBUF, KERNEL_MAXSOCKBUF)
            }
        })),
        OptKind::Linger => val.get(..8).map(<[u8]>::to_vec).ok_or(l::EINVAL),
        OptKind::Timeval => {
            let (sec, usec) = i64_at(val, 0).zip(i64_at(val, 8)).ok_or(l::EINVAL)?;
            if !(0..1_000_000).contains(&usec) {
                return Err(l::EDOM);
            }
            let (sec, usec) = if sec < 0 { (0, 1) } else { (sec, usec) };
            Ok([sec.to_le_bytes(), usec.to_le_bytes()].concat())
        }
        OptKind::Icmp6Filter => val.get(..32).map(invert).ok_or(l::EINVAL),
        OptKind::McastIf => first_of(val, &[inet::IP_MREQN_SIZE, inet::IP_MREQ_SIZE, 4]),
        OptKind::IpMreq => first_of(val, &[inet::IP_MREQN_SIZE, inet::IP_MREQ_SIZE]),
        OptKind::McastTtl => int(int_at(val, 0)
            .or(val.first().map(|b| i32::from(*b)))
            .map(|v| if v == -1 { 1 } else { v })),
        OptKind::Ipv6Mreq => first_of(val, &[in6::IPV6_MREQ_SIZE]),
        OptKind::Error | OptKind::Domain | OptKind::Protocol | OptKind::TcpInfo => {
            Err(l::ENOPROTOOPT)
        }
    }
}

/// A `getsockopt` answer from the kernel → the value a Linux program gets.
/// The caller copies at most the program's `optlen` bytes and reports the
/// length copied, as Linux does.  A kernel answer of an unexpected size is
/// passed on unchanged.
pub fn opt_value_to_linux(kind: OptKind, kernel: &[u8]) -> Vec<u8> {
    let int = |v: i32| v.to_le_bytes().to_vec();
    match (kind, int_at(kernel, 0)) {
        (OptKind::Bool | OptKind::PktInfo, Some(v)) if kernel.len() == 4 => int(i32::from(v != 0)),
        (OptKind::Error, Some(v)) if kernel.len() == 4 => int(errno_to_linux(Errno(v))),
        (OptKind::Linger, Some(on)) if kernel.len() == 8 => {
            let mut b = int(i32::from(on != 0));
            b.extend_from_slice(&kernel[4..]);
            b
        }
        (OptKind::Icmp6Filter, _) => invert(kernel),
        (OptKind::TcpInfo, _) => match so::TcpInfo::from_bytes(kernel) {
            Some(i) => tcp_info_to_linux(&i),
            None => kernel.to_vec(),
        },
        _ => kernel.to_vec(),
    }
}

/// FreeBSD's `struct tcp_info` → Linux's image ([`l::TCP_INFO_LEN`] bytes).
pub fn tcp_info_to_linux(i: &so::TcpInfo) -> Vec<u8> {
    let mut b = vec![0u8; l::TCP_INFO_LEN];
    let mss = i.snd_mss.max(1);
    b[0] = l::TCP_STATES_BY_BSD
        .get(usize::from(i.state))
        .copied()
        .unwrap_or(7);
    b[5] = i.options;
    b[6] = (i.snd_wscale & 0xf) | (i.rcv_wscale << 4);
    // FreeBSD starts ssthresh at the largest window (`TCP_MAXWIN <<
    // TCP_MAX_WINSHIFT`): "not yet set", Linux's infinite threshold.
    let ssthresh = if i.snd_ssthresh >= 65535 << 14 {
        l::TCP_INFINITE_SSTHRESH
    } else {
        i.snd_ssthresh / mss
    };
    for (off, v) in [
        (8, i.rto),
        (16, i.snd_mss),
        (20, i.rcv_mss),
        (52, i.last_data_recv / 1000),
        (60, i.snd_mss + 40),
        (68, i.rtt),
        (72, i.rttvar),
        (76, ssthresh),
        (80, i.snd_cwnd.div_ceil(mss)),
        (84, i.snd_mss),
        (96, i.rcv_space),
        (100, i.snd_rexmitpack),
        (228, i.snd_wnd),
    ] {
        b[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_info_translates_units_and_states() {
        let i = so::TcpInfo {
            state: 4,
            options: 7,
            snd_wscale: 7,
            rcv_wscale: 9,
            rto: 230_000,
            snd_mss: 1448,
            rcv_mss: 1448,
            last_data_recv: 25_000,
            rtt: 1200,
            rttvar: 300,
            snd_ssthresh: 65535 << 14,
            snd_cwnd: 14480,
            rcv_space: 65536,
            snd_wnd: 131072,
            snd_nxt: 1,
            rcv_nxt: 2,
            snd_rexmitpack: 3,
        };
        let k = i.to_bytes();
        let b = opt_value_to_linux(OptKind::TcpInfo, &k);
        let u = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        assert_eq!(b.len(), 232);
        assert_eq!(b[0], 1, "TCP_ESTABLISHED");
        assert_eq!((b[5], b[6]), (7, 0x97));
        assert_eq!((u(8), u(16), u(20)), (230_000, 1448, 1448));
        assert_eq!(u(52), 25, "ms");
        assert_eq!((u(68), u(72)), (1200, 300));
        assert_eq!(u(76), 0x7fff_ffff);
        assert_eq!(u(80), 10, "segments");
        assert_eq!((u(96), u(100), u(228)), (65536, 3, 131072));
        let closed = so::TcpInfo {
            state: 0,
            snd_ssthresh: 2896,
            ..i
        };
        let b = opt_value_to_linux(OptKind::TcpInfo, &closed.to_bytes());
        assert_eq!((b[0], b[76]), (7, 2));
        for st in 0..11u8 {
            let b = tcp_info_to_linux(&so::TcpInfo { state: st, ..i });
            assert!((1..=11).contains(&b[0]));
        }
        assert_eq!(
            opt_value_to_kernel(OptKind::TcpInfo, &[0; 4]),
            Err(l::ENOPROTOOPT)
        );
    }

    #[test]
    fn table_entries_are_unique_and_resolve() {
        for (i, (lv, n, o)) in SOCKOPT_TABLE.iter().enumerate() {
            assert_eq!(sockopt_to_kernel(*lv, *n), Ok(*o), "row {i}");
            let dup = SOCKOPT_TABLE
                .iter()
                .filter(|(a, b, _)| a == lv && b == n)
                .count();
            assert_eq!(dup, 1, "row {i}");
            match o.kind {
                OptKind::Domain | OptKind::Protocol => {
                    assert_eq!((o.level, o.name), (*lv, *n))
                }
                _ => assert!(
                    [0xffff, 0, 6, 41, 58].contains(&o.level),
                    "row {i}: kernel level {}",
                    o.level
                ),
            }
        }
    }

    #[test]
    fn linux_numbers_from_usr_include() {
        // asm-generic/socket.h, linux/in.h, linux/in6.h, linux/tcp.h,
        // linux/icmpv6.h against FreeBSD's sys/socket.h, netinet/in.h,
        // netinet6/in6.h, netinet/tcp.h, netinet/icmp6.h.
        let cases = [
            ((1, 2), (0xffff, 0x4, OptKind::Bool)),        // SO_REUSEADDR
            ((1, 3), (0xffff, 0x1008, OptKind::Int)),      // SO_TYPE
            ((1, 4), (0xffff, 0x1007, OptKind::Error)),    // SO_ERROR
            ((1, 6), (0xffff, 0x20, OptKind::Bool)),       // SO_BROADCAST
            ((1, 7), (0xffff, 0x1001, OptKind::BufSize)),  // SO_SNDBUF
            ((1, 8), (0xffff, 0x1002, OptKind::BufSize)),  // SO_RCVBUF
            ((1, 9), (0xffff, 0x8, OptKind::Bool)),        // SO_KEEPALIVE
            ((1, 13), (0xffff, 0x80, OptKind::Linger)),    // SO_LINGER
            ((1, 15), (0xffff, 0x200, OptKind::Bool)),     // SO_REUSEPORT
            ((1, 20), (0xffff, 0x1006, OptKind::Timeval)), // SO_RCVTIMEO
            ((1, 21), (0xffff, 0x1005, OptKind::Timeval)), // SO_SNDTIMEO
            ((1, 66), (0xffff, 0x1006, OptKind::Timeval)), // SO_RCVTIMEO_NEW
            ((1, 67), (0xffff, 0x1005, OptKind::Timeval)), // SO_SNDTIMEO_NEW
            ((1, 30), (0xffff, 0x2, OptKind::Bool)),       // SO_ACCEPTCONN
            ((1, 38), (1, 38, OptKind::Protocol)),         // SO_PROTOCOL
            ((1, 39), (1, 39, OptKind::Domain)),           // SO_DOMAIN
            ((0, 1), (0, 3, OptKind::IntOrByte)),          // IP_TOS
            ((0, 2), (0, 4, OptKind::IntOrByte)),          // IP_TTL
            ((0, 3), (0, 2, OptKind::IntOrByte)),          // IP_HDRINCL
            ((0, 32), (0, 9, OptKind::McastIf)),           // IP_MULTICAST_IF
            ((0, 33), (0, 10, OptKind::McastTtl)),         // IP_MULTICAST_TTL
            ((0, 34), (0, 11, OptKind::IntOrByte)),        // IP_MULTICAST_LOOP
            ((0, 35), (0, 12, OptKind::IpMreq)),           // IP_ADD_MEMBERSHIP
            ((0, 36), (0, 13, OptKind::IpMreq)),           // IP_DROP_MEMBERSHIP
            ((0, 8), (0, 20, OptKind::PktInfo)),           // IP_PKTINFO
            ((6, 1), (6, 1, OptKind::Bool)),               // TCP_NODELAY
            ((6, 2), (6, 2, OptKind::Int)),                // TCP_MAXSEG
            ((6, 11), (6, 0x20, OptKind::TcpInfo)),        // TCP_INFO
            ((41, 7), (41, 26, OptKind::Int)),             // IPV6_CHECKSUM
            ((255, 7), (41, 26, OptKind::Int)),            // SOL_RAW IPV6_CHECKSUM
            ((41, 16), (41, 4, OptKind::Int)),             // IPV6_UNICAST_HOPS
            ((41, 17), (41, 9, OptKind::Int)),             // IPV6_MULTICAST_IF
            ((41, 18), (41, 10, OptKind::Int)),            // IPV6_MULTICAST_HOPS
            ((41, 19), (41, 11, OptKind::Int)),            // IPV6_MULTICAST_LOOP
            ((41, 20), (41, 12, OptKind::Ipv6Mreq)),       // IPV6_ADD_MEMBERSHIP
            ((41, 21), (41, 13, OptKind::Ipv6Mreq)),       // IPV6_DROP_MEMBERSHIP
            ((41, 26), (41, 27, OptKind::Bool)),           // IPV6_V6ONLY
            ((41, 49), (41, 36, OptKind::Bool)),           // IPV6_RECVPKTINFO
            ((41, 51), (41, 37, OptKind::Bool)),           // IPV6_RECVHOPLIMIT
            ((58, 1), (58, 18, OptKind::Icmp6Filter)),     // ICMPV6_FILTER
        ];
        for ((lv, n), (kl, kn, kind)) in cases {
            let o = sockopt_to_kernel(lv, n).unwrap();
            assert_eq!((o.level, o.name, o.kind), (kl, kn, kind), "({lv}, {n})");
        }
        assert_eq!(cases.len(), SOCKOPT_TABLE.len());
    }

    #[test]
    fn refused_options() {
        let refused = [
            (1, l::SO_DEBUG),
            (1, l::SO_DONTROUTE),
            (1, l::SO_OOBINLINE),
            (1, l::SO_PRIORITY),
            (1, l::SO_RCVLOWAT),
            (1, l::SO_SNDLOWAT),
            (1, l::SO_BINDTODEVICE),
            (1, l::SO_PASSCRED),
            (1, l::SO_PEERCRED),
            (1, l::SO_TIMESTAMP_OLD),
            (1, l::SO_SNDBUFFORCE),
            (1, l::SO_MARK),
            (1, l::SO_ZEROCOPY),
            (0, l::IP_OPTIONS),
            (0, l::IP_RECVERR),
            (0, l::IP_MTU_DISCOVER),
            (0, 49), // IP_MULTICAST_ALL: FreeBSD's sockets filter by their groups
            (0, 39), // IP_ADD_SOURCE_MEMBERSHIP: no source filters
            (6, l::TCP_CORK),
            (6, l::TCP_KEEPIDLE),
            (6, l::TCP_KEEPINTVL),
            (6, l::TCP_KEEPCNT),
            (6, l::TCP_QUICKACK),
            (6, l::TCP_CONGESTION),
            (6, l::TCP_USER_TIMEOUT),
            (6, l::TCP_FASTOPEN),
            (41, 29), // IPV6_MULTICAST_ALL
            (41, l::IPV6_RECVERR),
            (41, l::IPV6_TCLASS),
            (41, l::IPV6_MTU_DISCOVER),
            (l::SOL_NETLINK, 1),
            (0xffff, 0x4), // FreeBSD's numbers are not Linux's
            (999, 1),
            (-1, -1),
        ];
        for (lv, n) in refused {
            assert_eq!(sockopt_to_kernel(lv, n), Err(92), "({lv}, {n})");
        }
    }

    #[test]
    fn int_values() {
        let one = 1i32.to_le_bytes();
        assert_eq!(opt_value_to_kernel(OptKind::Int, &one), Ok(one.to_vec()));
        assert_eq!(
            opt_value_to_kernel(OptKind::Int, &[1, 0, 0, 0, 9, 9]),
            Ok(one.to_vec())
        );
        assert_eq!(opt_value_to_kernel(OptKind::Int, &[1, 0, 0]), Err(22));
        assert_eq!(opt_value_to_kernel(OptKind::Bool, &[]), Err(22));
        assert_eq!(
            opt_value_to_kernel(OptKind::IntOrByte, &[64]),
            Ok(64i32.to_le_bytes().to_vec())
        );
        assert_eq!(
            opt_value_to_kernel(OptKind::IntOrByte, &[200, 1]),
            Ok(200i32.to_le_bytes().to_vec())
        );
        assert_eq!(
            opt_value_to_kernel(OptKind::IntOrByte, &(-1i32).to_le_bytes()),
            Ok((-1i32).to_le_bytes().to_vec())
        );
        assert_eq!(opt_value_to_kernel(OptKind::IntOrByte, &[]), Err(22));
        // FreeBSD answers a set SO_REUSEADDR as 4, SO_ACCEPTCONN as 2.
        assert_eq!(opt_value_to_linux(OptKind::Bool, &4i32.to_le_bytes()), one);
        assert_eq!(opt_value_to_linux(OptKind::Bool, &2i32.to_le_bytes()), one);
        assert_eq!(opt_value_to_linux(OptKind::Bool, &[0; 4]), [0; 4]);
        assert_eq!(
            opt_value_to_linux(OptKind::Int, &1500i32.to_le_bytes()),
            1500i32.to_le_bytes()
        );
        assert_eq!(opt_value_to_linux(OptKind::Bool, &[1, 2]), [1, 2]);
    }

    #[test]
    fn buffer_sizes_clamp_like_linux() {
        let k = |v: i32| opt_value_to_kernel(OptKind::BufSize, &v.to_le_bytes());
        assert_eq!(k(65536), Ok(65536i32.to_le_bytes().to_vec()));
        assert_eq!(k(8 << 20), Ok(KERNEL_MAXSOCKBUF.to_le_bytes().to_vec()));
        assert_eq!(k(-1), Ok(KERNEL_MAXSOCKBUF.to_le_bytes().to_vec()));
        assert_eq!(k(0), Ok(MIN_SOCKBUF.to_le_bytes().to_vec()));
        assert_eq!(opt_value_to_kernel(OptKind::BufSize, &[1]), Err(22));
    }

    #[test]
    fn linger_and_timeval() {
        let lin = [1, 0, 0, 0, 5, 0, 0, 0];
        assert_eq!(
            opt_value_to_kernel(OptKind::Linger, &lin),
            Ok(so::linger_bytes(true, 5))
        );
        assert_eq!(opt_value_to_kernel(OptKind::Linger, &lin[..7]), Err(22));
        assert_eq!(
            opt_value_to_kernel(OptKind::Linger, &[lin, lin].concat()),
            Ok(lin.to_vec())
        );
        assert_eq!(
            opt_value_to_linux(OptKind::Linger, &so::linger_bytes(true, 7)),
            vec![1, 0, 0, 0, 7, 0, 0, 0]
        );
        let mut bsd = so::linger_bytes(false, 3);
        bsd[0] = 0x80;
        assert_eq!(
            opt_value_to_linux(OptKind::Linger, &bsd),
            vec![1, 0, 0, 0, 3, 0, 0, 0]
        );

        let tv = |s: i64, u: i64| [s.to_le_bytes(), u.to_le_bytes()].concat();
        assert_eq!(
            opt_value_to_kernel(OptKind::Timeval, &tv(2, 500_001)),
            Ok(tv(2, 500_001))
        );
        assert_eq!(
            opt_value_to_kernel(OptKind::Timeval, &tv(0, 0)),
            Ok(tv(0, 0))
        );
        assert_eq!(
            opt_value_to_kernel(OptKind::Timeval, &tv(1, 1_000_000)),
            Err(33)
        );
        assert_eq!(opt_value_to_kernel(OptKind::Timeval, &tv(1, -1)), Err(33));
        assert_eq!(
            opt_value_to_kernel(OptKind::Timeval, &tv(-5, 0)),
            Ok(tv(0, 1))
        );
        assert_eq!(
            opt_value_to_kernel(OptKind::Timeval, &tv(1, 0)[..15]),
            Err(22)
        );
        assert_eq!(opt_value_to_linux(OptKind::Timeval, &tv(3, 4)), tv(3, 4));
    }

    #[test]
    fn error_and_read_only() {
        // FreeBSD ECONNREFUSED 61 is Linux 111.
        assert_eq!(
            opt_value_to_linux(OptKind::Error, &61i32.to_le_bytes()),
            111i32.to_le_bytes()
        );
        assert_eq!(opt_value_to_linux(OptKind::Error, &[0; 4]), [0; 4]);
        for k in [OptKind::Error, OptKind::Domain, OptKind::Protocol] {
            assert_eq!(opt_value_to_kernel(k, &[0; 4]), Err(92));
        }
    }

    /// Group requests and the multicast interface pass as the biggest
    /// structure the program's `optlen` holds; the kernel's decoders take
    /// what comes out; Linux's TTL -1 is the default 1.
    #[test]
    fn multicast_values() {
        use vimage_abi::netinet6_in6::Ipv6Mreq;
        use vimage_abi::netinet_in::IpMreq;
        let mreq = [224, 0, 0, 9, 10, 0, 0, 1];
        let mreqn = [224, 0, 0, 9, 0, 0, 0, 0, 2, 0, 0, 0];
        let k = |kind, v: &[u8]| opt_value_to_kernel(kind, v);
        assert_eq!(k(OptKind::IpMreq, &mreq), Ok(mreq.to_vec()));
        assert_eq!(k(OptKind::IpMreq, &mreqn), Ok(mreqn.to_vec()));
        // A longer buffer (glibc programs pass sizeof of a union) is cut.
        let long = [&mreqn[..], &[9; 8]].concat();
        assert_eq!(k(OptKind::IpMreq, &long), Ok(mreqn.to_vec()));
        assert_eq!(k(OptKind::IpMreq, &mreq[..7]), Err(22));
        let r = IpMreq::from_bytes(&k(OptKind::IpMreq, &mreqn).unwrap()).unwrap();
        assert_eq!(r.ifindex, Some(2));
        assert_eq!(r.multiaddr, std::net::Ipv4Addr::new(224, 0, 0, 9));
        // IP_MULTICAST_IF: in_addr, ip_mreq, ip_mreqn.
        assert_eq!(k(OptKind::McastIf, &[10, 0, 0, 1]), Ok(vec![10, 0, 0, 1]));
        assert_eq!(
            k(OptKind::McastIf, &[10, 0, 0, 1, 7]),
            Ok(vec![10, 0, 0, 1])
        );
        assert_eq!(k(OptKind::McastIf, &mreq), Ok(mreq.to_vec()));
        assert_eq!(k(OptKind::McastIf, &long), Ok(mreqn.to_vec()));
        assert_eq!(k(OptKind::McastIf, &[10, 0, 0]), Err(22));
        assert_eq!(
            opt_value_to_linux(OptKind::McastIf, &[10, 0, 0, 1]),
            vec![10, 0, 0, 1]
        );
        // TTL: int or byte; -1 is the default.
        let i = |v: i32| Ok(v.to_le_bytes().to_vec());
        assert_eq!(k(OptKind::McastTtl, &(-1i32).to_le_bytes()), i(1));
        assert_eq!(k(OptKind::McastTtl, &[32]), i(32));
        assert_eq!(k(OptKind::McastTtl, &255i32.to_le_bytes()), i(255));
        assert_eq!(k(OptKind::McastTtl, &[]), Err(22));
        // struct ipv6_mreq is the same 20 bytes on both.
        let m6 = Ipv6Mreq {
            multiaddr: "ff02::9".parse().unwrap(),
            interface: 3,
        }
        .to_bytes();
        assert_eq!(k(OptKind::Ipv6Mreq, &m6), Ok(m6.clone()));
        assert_eq!(
            k(OptKind::Ipv6Mreq, &[&m6[..], &[0; 4]].concat()),
            Ok(m6.clone())
        );
        assert_eq!(k(OptKind::Ipv6Mreq, &m6[..19]), Err(22));
        assert_eq!(
            Ipv6Mreq::from_bytes(&k(OptKind::Ipv6Mreq, &m6).unwrap())
                .unwrap()
                .interface,
            3
        );
    }

    #[test]
    fn icmp6_filter_inverts() {
        // Linux: ICMP6_FILTER_SETBLOCKALL is all ones; FreeBSD's "block all" is zeros.
        let block_all = [0xffu8; 32];
        let k = opt_value_to_kernel(OptKind::Icmp6Filter, &block_all).unwrap();
        assert_eq!(
            in6::Icmp6Filter::from_bytes(&k),
            Ok(in6::Icmp6Filter::BLOCK_ALL)
        );
        let mut f = in6::Icmp6Filter::BLOCK_ALL;
        f.set_pass(129); // echo reply
        let lin = opt_value_to_linux(OptKind::Icmp6Filter, &f.to_bytes());
        assert_eq!(lin.len(), 32);
        // glibc ICMP6_FILTER_WILLPASS: bit clear.
        assert_eq!(lin[129 / 8] & (1 << (129 % 8)), 0);
        assert_eq!(lin[128 / 8] & (1 << (128 % 8)), 1);
        assert_eq!(
            opt_value_to_kernel(OptKind::Icmp6Filter, &lin),
            Ok(f.to_bytes())
        );
        assert_eq!(opt_value_to_kernel(OptKind::Icmp6Filter, &[0; 31]), Err(22));
    }
}
