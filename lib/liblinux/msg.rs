//! `send`/`recv` flags and the control data `recvmsg` returns.

use std::net::Ipv4Addr;

use vimage_abi::net_if::{AF_INET as BSD_AF_INET, AF_INET6 as BSD_AF_INET6};
use vimage_abi::netinet6_in6::{Ip6RecvInfo, SOCKADDR_IN6_LEN};
use vimage_abi::netinet_in::{InRecvInfo, SOCKADDR_IN_SIZE};
use vimage_abi::socket as so;

use crate::errno::errno_to_linux;
use crate::linux as l;
use crate::sockaddr::sockaddr_to_linux;

/// FreeBSD `MSG_DONTROUTE` (sys/socket.h).
pub const BSD_MSG_DONTROUTE: i32 = 0x4;
/// FreeBSD `MSG_EOR`.
pub const BSD_MSG_EOR: i32 = 0x8;
/// FreeBSD `MSG_TRUNC`.
pub const BSD_MSG_TRUNC: i32 = 0x10;
/// FreeBSD `MSG_CTRUNC`.
pub const BSD_MSG_CTRUNC: i32 = 0x20;

/// Linux flags passed to the kernel as FreeBSD's same-meaning flag:
/// (Linux, FreeBSD).  (The kernel acts on `MSG_PEEK`, `MSG_DONTWAIT`,
/// `MSG_WAITALL`; it accepts and ignores the others, `MSG_OOB` included.)
pub const MSG_TO_KERNEL: &[(i32, i32)] = &[
    (l::MSG_OOB, so::MSG_OOB),
    (l::MSG_PEEK, so::MSG_PEEK),
    (l::MSG_DONTROUTE, BSD_MSG_DONTROUTE),
    (l::MSG_EOR, BSD_MSG_EOR),
    (l::MSG_WAITALL, so::MSG_WAITALL),
    (l::MSG_DONTWAIT, so::MSG_DONTWAIT),
    (l::MSG_NOSIGNAL, so::MSG_NOSIGNAL),
];

/// Linux flags accepted and dropped because ignoring them is harmless here:
/// `MSG_TRUNC` (on receive: the caller gets the copied length, not the
/// datagram's), `MSG_CTRUNC`, `MSG_PROXY`, `MSG_FIN`, `MSG_SYN`, `MSG_RST`
/// (unused by Linux's inet sockets), `MSG_CONFIRM` (a neighbour-cache hint),
/// `MSG_MORE` (a corking hint: the data goes out at once), `MSG_WAITFORONE`
/// (`recvmmsg`'s, for the supervisor's loop), `MSG_BATCH` (a `sendmmsg`
/// hint), `MSG_ZEROCOPY` (Linux ignores it without `SO_ZEROCOPY`, which is
/// refused) and `MSG_CMSG_CLOEXEC` (no descriptors travel over inet sockets).
pub const MSG_DROPPED: &[i32] = &[
    l::MSG_TRUNC,
    l::MSG_CTRUNC,
    l::MSG_PROXY,
    l::MSG_FIN,
    l::MSG_SYN,
    l::MSG_RST,
    l::MSG_CONFIRM,
    l::MSG_MORE,
    l::MSG_WAITFORONE,
    l::MSG_BATCH,
    l::MSG_ZEROCOPY,
    l::MSG_CMSG_CLOEXEC,
];

/// Linux flags refused, with the Linux errno: `MSG_ERRQUEUE` → `EAGAIN` (the
/// error queue is always empty, `IP_RECVERR` being refused), `MSG_FASTOPEN`
/// → `EOPNOTSUPP` (Linux's answer with TCP Fast Open off) and the
/// kernel-internal `MSG_CMSG_COMPAT` → `EINVAL`.
pub const MSG_REFUSED: &[(i32, i32)] = &[
    (l::MSG_ERRQUEUE, l::EAGAIN),
    (l::MSG_FASTOPEN, l::EOPNOTSUPP),
    (l::MSG_CMSG_COMPAT, l::EINVAL),
];

/// FreeBSD flags a receive reports in `msg_flags` → Linux's: (FreeBSD, Linux).
pub const MSG_TO_LINUX: &[(i32, i32)] = &[
    (so::MSG_OOB, l::MSG_OOB),
    (BSD_MSG_EOR, l::MSG_EOR),
    (BSD_MSG_TRUNC, l::MSG_TRUNC),
    (BSD_MSG_CTRUNC, l::MSG_CTRUNC),
];

/// Linux `send*`/`recv*` flags → the kernel's, or the Linux errno the call
/// fails with ([`MSG_REFUSED`]).  Bits Linux does not define are ignored, as
/// Linux ignores them.
pub fn msg_flags_to_kernel(linux: i32) -> Result<i32, i32> {
    if let Some((_, e)) = MSG_REFUSED.iter().find(|(f, _)| linux & f != 0) {
        return Err(*e);
    }
    Ok(MSG_TO_KERNEL
        .iter()
        .filter(|(f, _)| linux & f != 0)
        .fold(0, |acc, (_, b)| acc | b))
}

/// `msg_flags` of a kernel receive → Linux's; other bits are dropped.
pub fn msg_flags_to_linux(kernel: i32) -> i32 {
    MSG_TO_LINUX
        .iter()
        .filter(|(b, _)| kernel & b != 0)
        .fold(0, |acc, (_, f)| acc | f)
}

/// `CMSG_ALIGN` on x86_64 (to `sizeof(size_t)`).
fn cmsg_align(n: usize) -> usize {
    (n + 7) & !7
}

/// Append one Linux control message (`struct cmsghdr`: `size_t cmsg_len`,
/// `int cmsg_level`, `int cmsg_type`, then the data padded to
/// `CMSG_SPACE`).
pub fn push_cmsg(buf: &mut Vec<u8>, level: i32, ty: i32, data: &[u8]) {
    let len = 16 + data.len();
    buf.extend_from_slice(&(len as u64).to_le_bytes());
    buf.extend_from_slice(&level.to_le_bytes());
    buf.extend_from_slice(&ty.to_le_bytes());
    buf.extend_from_slice(data);
    buf.resize(buf.len() + cmsg_align(len) - len, 0);
}

/// How many bytes of control buffer `ctl` (whole `cmsghdr` records, as
/// [`push_cmsg`] lays them out) fit in `room` bytes: Linux copies whole
/// messages and sets `MSG_CTRUNC` for the rest.
pub fn cmsg_fit(ctl: &[u8], room: usize) -> usize {
    let mut at = 0;
    while at + 16 <= ctl.len() {
        let mut l8 = [0u8; 8];
        l8.copy_from_slice(&ctl[at..at + 8]);
        let len = usize::try_from(u64::from_le_bytes(l8)).unwrap_or(usize::MAX);
        let next = at.saturating_add(cmsg_align(len.max(16)));
        // The last message needs only its own length, not its padding.
        if at + len > room || len < 16 {
            break;
        }
        at = next.min(ctl.len());
    }
    at.min(room)
}

/// The source address a kernel `recvfrom` reports, possibly followed by
/// IPv6 control records ([`Ip6RecvInfo`], when `IPV6_RECVPKTINFO` /
/// `IPV6_RECVHOPLIMIT` are on) → Linux's (`sockaddr`, control buffer).  The
/// control buffer holds `IPV6_PKTINFO` (`struct in6_pktinfo`: address,
/// `int` interface index) then `IPV6_HOPLIMIT` (`int`), level `SOL_IPV6`, in
/// Linux's order; the caller truncates it to `msg_controllen` and sets
/// `MSG_CTRUNC` if it had to.
///
/// IPv4 records ([`InRecvInfo`], `IP_RECVIF`/`IP_RECVDSTADDR`, which
/// Linux's `IP_PKTINFO` turns on together) become one `IP_PKTINFO` (`struct
/// in_pktinfo`: `int` interface index, the local address a reply would
/// come from — the destination unless it was a group or a broadcast — and
/// the header's destination), level `SOL_IP`.
pub fn recv_addr_to_linux(kernel: &[u8]) -> Result<(Vec<u8>, Vec<u8>), i32> {
    if kernel.get(1) == Some(&BSD_AF_INET) && kernel.len() > SOCKADDR_IN_SIZE {
        let info = InRecvInfo::from_bytes(kernel).map_err(errno_to_linux)?;
        let addr = sockaddr_to_linux(&kernel[..SOCKADDR_IN_SIZE])?;
        let mut ctl = Vec::new();
        if info.ifindex.is_some() || info.dstaddr.is_some() {
            let dst = info.dstaddr.unwrap_or(Ipv4Addr::UNSPECIFIED);
            let spec = if dst.is_multicast() || dst.is_broadcast() {
                Ipv4Addr::UNSPECIFIED
            } else {
                dst
            };
            let mut d = info.ifindex.unwrap_or(0).to_le_bytes().to_vec();
            d.extend_from_slice(&spec.octets());
            d.extend_from_slice(&dst.octets());
            push_cmsg(&mut ctl, l::SOL_IP, l::IP_PKTINFO, &d);
        }
        return Ok((addr, ctl));
    }
    if kernel.get(1) != Some(&BSD_AF_INET6) || kernel.len() <= SOCKADDR_IN6_LEN {
        return Ok((sockaddr_to_linux(kernel)?, Vec::new()));
    }
    let info = Ip6RecvInfo::from_bytes(kernel).map_err(errno_to_linux)?;
    let addr = sockaddr_to_linux(&kernel[..SOCKADDR_IN6_LEN])?;
    let mut ctl = Vec::new();
    if let Some((a, ifindex)) = info.pktinfo {
        let mut d = a.octets().to_vec();
        d.extend_from_slice(&ifindex.to_le_bytes());
        push_cmsg(&mut ctl, l::SOL_IPV6, l::IPV6_PKTINFO, &d);
    }
    if let Some(h) = info.hoplimit {
        push_cmsg(&mut ctl, l::SOL_IPV6, l::IPV6_HOPLIMIT, &h.to_le_bytes());
    }
    Ok((addr, ctl))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vimage_abi::netinet6_in6::SockaddrIn6;

    #[test]
    fn each_table_row() {
        for (x, b) in MSG_TO_KERNEL {
            assert_eq!(msg_flags_to_kernel(*x), Ok(*b), "{x:#x}");
        }
        for x in MSG_DROPPED {
            assert_eq!(msg_flags_to_kernel(*x), Ok(0), "{x:#x}");
        }
        for (x, e) in MSG_REFUSED {
            assert_eq!(msg_flags_to_kernel(*x | l::MSG_PEEK), Err(*e), "{x:#x}");
        }
        for (b, x) in MSG_TO_LINUX {
            assert_eq!(msg_flags_to_linux(*b), *x, "{b:#x}");
        }
        // No Linux flag is in two tables.
        let mut seen = 0;
        let all = MSG_TO_KERNEL.iter().map(|(x, _)| *x);
        let all = all.chain(MSG_DROPPED.iter().copied());
        for x in all.chain(MSG_REFUSED.iter().map(|(x, _)| *x)) {
            assert_eq!(seen & x, 0, "{x:#x}");
            seen |= x;
        }
    }

    #[test]
    fn values_from_usr_include() {
        // bits/socket.h vs FreeBSD sys/socket.h.
        assert_eq!(msg_flags_to_kernel(0x02), Ok(0x2)); // PEEK
        assert_eq!(msg_flags_to_kernel(0x40), Ok(0x80)); // DONTWAIT
        assert_eq!(msg_flags_to_kernel(0x100), Ok(0x40)); // WAITALL
        assert_eq!(msg_flags_to_kernel(0x4000), Ok(0x20000)); // NOSIGNAL
        assert_eq!(msg_flags_to_kernel(0x01), Ok(0x1)); // OOB
        assert_eq!(msg_flags_to_kernel(0x80), Ok(0x8)); // EOR
        assert_eq!(msg_flags_to_kernel(0x8000 | 0x40000000), Ok(0)); // MORE | CMSG_CLOEXEC
        assert_eq!(
            msg_flags_to_kernel(0x40 | 0x4000 | 0x20),
            Ok(0x80 | 0x20000)
        );
        assert_eq!(msg_flags_to_kernel(0x2000), Err(11)); // ERRQUEUE
        assert_eq!(msg_flags_to_kernel(0x20000000), Err(95)); // FASTOPEN
        assert_eq!(msg_flags_to_kernel(i32::MIN), Err(22));
        assert_eq!(msg_flags_to_kernel(0x0100_0000), Ok(0)); // undefined: ignored
        assert_eq!(msg_flags_to_linux(0x10 | 0x20), 0x20 | 0x08);
        assert_eq!(msg_flags_to_linux(0x2000), 0);
    }

    #[test]
    fn recv_addr_and_cmsgs() {
        let from = SockaddrIn6::new("fe80::2".parse().unwrap(), 2);
        let plain = from.to_bytes();
        let (a, c) = recv_addr_to_linux(&plain).unwrap();
        assert_eq!(a, sockaddr_to_linux(&plain).unwrap());
        assert!(c.is_empty());
        let info = Ip6RecvInfo {
            from: Some(from),
            hoplimit: Some(64),
            pktinfo: Some(("fe80::1".parse().unwrap(), 2)),
        };
        let (a, c) = recv_addr_to_linux(&info.to_bytes()).unwrap();
        assert_eq!(a.len(), 28);
        // CMSG_SPACE(20) = 40, CMSG_SPACE(4) = 24.
        assert_eq!(c.len(), 40 + 24);
        assert_eq!(
            &c[..16],
            &[36, 0, 0, 0, 0, 0, 0, 0, 41, 0, 0, 0, 50, 0, 0, 0]
        );
        assert_eq!(c[16], 0xfe);
        assert_eq!(&c[32..36], &2u32.to_le_bytes());
        assert_eq!(
            &c[40..56],
            &[20, 0, 0, 0, 0, 0, 0, 0, 41, 0, 0, 0, 52, 0, 0, 0]
        );
        assert_eq!(&c[56..60], &64i32.to_le_bytes());
        assert!(recv_addr_to_linux(&info.to_bytes()[..40]).is_err());
        assert_eq!(recv_addr_to_linux(&[]).unwrap(), (vec![], vec![]));
        // Whole messages fit or none (the last without its padding): 40
        // holds the first, 59 still only it, 60 both.
        assert_eq!(cmsg_fit(&c, 0), 0);
        assert_eq!(cmsg_fit(&c, 35), 0);
        assert_eq!(cmsg_fit(&c, 40), 40);
        assert_eq!(cmsg_fit(&c, 59), 40);
        assert_eq!(cmsg_fit(&c, 60), 60);
        assert_eq!(cmsg_fit(&c, 63), 63);
        assert_eq!(cmsg_fit(&c, 64), 64);
        assert_eq!(cmsg_fit(&c, 1000), 64);
    }

    #[test]
    fn ipv4_records_become_one_ip_pktinfo() {
        use vimage_abi::netinet_in::{InRecvInfo, SockaddrIn};
        let from = SockaddrIn::new("10.0.0.21".parse().unwrap(), 9);
        let (a, c) = recv_addr_to_linux(&from.to_bytes()).unwrap();
        assert_eq!(a.len(), 16);
        assert!(c.is_empty());
        let mut info = InRecvInfo {
            from: Some(from),
            dstaddr: Some("10.0.0.20".parse().unwrap()),
            ifindex: Some(2),
        };
        let (a, c) = recv_addr_to_linux(&info.to_bytes()).unwrap();
        assert_eq!(a, sockaddr_to_linux(&from.to_bytes()).unwrap());
        // CMSG_LEN(12) = 28, padded to 32; SOL_IP, IP_PKTINFO.
        assert_eq!(c.len(), 32);
        assert_eq!(&c[..16], &[28, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0]);
        assert_eq!(&c[16..20], &2i32.to_le_bytes());
        assert_eq!(&c[20..24], &[10, 0, 0, 20]);
        assert_eq!(&c[24..28], &[10, 0, 0, 20]);
        // To a group: no local address to answer from.
        info.dstaddr = Some("224.0.0.9".parse().unwrap());
        let (_, c) = recv_addr_to_linux(&info.to_bytes()).unwrap();
        assert_eq!(&c[20..28], &[0, 0, 0, 0, 224, 0, 0, 9]);
    }
}
