//! Linux's numbers (x86_64), as the uapi and glibc headers in /usr/include
//! define them: `asm-generic/socket.h`, `bits/socket.h`, `bits/socket_type.h`,
//! `linux/in.h`, `linux/in6.h`, `linux/tcp.h`, `linux/icmpv6.h`,
//! `asm-generic/errno-base.h`, `asm-generic/errno.h`, `asm-generic/ioctls.h`,
//! `linux/sockios.h`, `linux/if.h`, `linux/if_arp.h`, `linux/netlink.h`,
//! `linux/rtnetlink.h`, `linux/if_link.h`, `linux/if_addr.h`.
//!
//! Every name is the C macro's (or enum member's), so the values can be
//! checked against the headers mechanically; the few kernel-internal values
//! that no uapi header carries say so.

// ---- address families (bits/socket.h) ----
/// `AF_UNSPEC`.
pub const AF_UNSPEC: i32 = 0;
/// `AF_UNIX` / `AF_LOCAL`.
pub const AF_UNIX: i32 = 1;
/// `AF_INET`.
pub const AF_INET: i32 = 2;
/// `AF_INET6`.
pub const AF_INET6: i32 = 10;
/// `AF_NETLINK`.
pub const AF_NETLINK: i32 = 16;
/// `AF_PACKET`.
pub const AF_PACKET: i32 = 17;

// ---- socket types (bits/socket_type.h) ----
/// `SOCK_STREAM`.
pub const SOCK_STREAM: i32 = 1;
/// `SOCK_DGRAM`.
pub const SOCK_DGRAM: i32 = 2;
/// `SOCK_RAW`.
pub const SOCK_RAW: i32 = 3;
/// `SOCK_RDM`.
pub const SOCK_RDM: i32 = 4;
/// `SOCK_SEQPACKET`.
pub const SOCK_SEQPACKET: i32 = 5;
/// `SOCK_DCCP`.
pub const SOCK_DCCP: i32 = 6;
/// `SOCK_PACKET`.
pub const SOCK_PACKET: i32 = 10;
/// `SOCK_NONBLOCK` (`O_NONBLOCK`).
pub const SOCK_NONBLOCK: i32 = 0o4000;
/// `SOCK_CLOEXEC` (`O_CLOEXEC`).
pub const SOCK_CLOEXEC: i32 = 0o2000000;
/// `SOCK_TYPE_MASK` (kernel-internal, include/linux/net.h).
pub const SOCK_TYPE_MASK: i32 = 0xf;
/// `SOCK_MAX` (kernel-internal, include/linux/net.h: `SOCK_PACKET + 1`).
pub const SOCK_MAX: i32 = SOCK_PACKET + 1;

// ---- protocols (linux/in.h, linux/in6.h) ----
/// `IPPROTO_IP`.
pub const IPPROTO_IP: i32 = 0;
/// `IPPROTO_ICMP`.
pub const IPPROTO_ICMP: i32 = 1;
/// `IPPROTO_IGMP`.
pub const IPPROTO_IGMP: i32 = 2;
/// `IPPROTO_TCP`.
pub const IPPROTO_TCP: i32 = 6;
/// `IPPROTO_UDP`.
pub const IPPROTO_UDP: i32 = 17;
/// `IPPROTO_IPV6`.
pub const IPPROTO_IPV6: i32 = 41;
/// `IPPROTO_ICMPV6`.
pub const IPPROTO_ICMPV6: i32 = 58;
/// `IPPROTO_SCTP`.
pub const IPPROTO_SCTP: i32 = 132;
/// `IPPROTO_UDPLITE`.
pub const IPPROTO_UDPLITE: i32 = 136;
/// `IPPROTO_RAW`.
pub const IPPROTO_RAW: i32 = 255;
/// `IPPROTO_MPTCP`.
pub const IPPROTO_MPTCP: i32 = 262;
/// `IPPROTO_MAX`.
pub const IPPROTO_MAX: i32 = 263;

// ---- option levels (bits/socket.h, asm-generic/socket.h) ----
/// `SOL_SOCKET`.
pub const SOL_SOCKET: i32 = 1;
/// `SOL_IP`.
pub const SOL_IP: i32 = 0;
/// `SOL_TCP`.
pub const SOL_TCP: i32 = 6;
/// `SOL_IPV6`.
pub const SOL_IPV6: i32 = 41;
/// `SOL_ICMPV6`.
pub const SOL_ICMPV6: i32 = 58;
/// `SOL_RAW`.
pub const SOL_RAW: i32 = 255;
/// `SOL_NETLINK`.
pub const SOL_NETLINK: i32 = 270;

// ---- SOL_SOCKET options (asm-generic/socket.h) ----
/// `SO_DEBUG`.
pub const SO_DEBUG: i32 = 1;
/// `SO_REUSEADDR`.
pub const SO_REUSEADDR: i32 = 2;
/// `SO_TYPE`.
pub const SO_TYPE: i32 = 3;
/// `SO_ERROR`.
pub const SO_ERROR: i32 = 4;
/// `SO_DONTROUTE`.
pub const SO_DONTROUTE: i32 = 5;
/// `SO_BROADCAST`.
pub const SO_BROADCAST: i32 = 6;
/// `SO_SNDBUF`.
pub const SO_SNDBUF: i32 = 7;
/// `SO_RCVBUF`.
pub const SO_RCVBUF: i32 = 8;
/// `SO_KEEPALIVE`.
pub const SO_KEEPALIVE: i32 = 9;
/// `SO_OOBINLINE`.
pub const SO_OOBINLINE: i32 = 10;
/// `SO_NO_CHECK`.
pub const SO_NO_CHECK: i32 = 11;
/// `SO_PRIORITY`.
pub const SO_PRIORITY: i32 = 12;
/// `SO_LINGER`.
pub const SO_LINGER: i32 = 13;
/// `SO_BSDCOMPAT`.
pub const SO_BSDCOMPAT: i32 = 14;
/// `SO_REUSEPORT`.
pub const SO_REUSEPORT: i32 = 15;
/// `SO_PASSCRED`.
pub const SO_PASSCRED: i32 = 16;
/// `SO_PEERCRED`.
pub const SO_PEERCRED: i32 = 17;
/// `SO_RCVLOWAT`.
pub const SO_RCVLOWAT: i32 = 18;
/// `SO_SNDLOWAT`.
pub const SO_SNDLOWAT: i32 = 19;
/// `SO_RCVTIMEO_OLD`.
pub const SO_RCVTIMEO_OLD: i32 = 20;
/// `SO_SNDTIMEO_OLD`.
pub const SO_SNDTIMEO_OLD: i32 = 21;
/// `SO_BINDTODEVICE`.
pub const SO_BINDTODEVICE: i32 = 25;
/// `SO_TIMESTAMP_OLD`.
pub const SO_TIMESTAMP_OLD: i32 = 29;
/// `SO_ACCEPTCONN`.
pub const SO_ACCEPTCONN: i32 = 30;
/// `SO_SNDBUFFORCE`.
pub const SO_SNDBUFFORCE: i32 = 32;
/// `SO_RCVBUFFORCE`.
pub const SO_RCVBUFFORCE: i32 = 33;
/// `SO_MARK`.
pub const SO_MARK: i32 = 36;
/// `SO_PROTOCOL`.
pub const SO_PROTOCOL: i32 = 38;
/// `SO_DOMAIN`.
pub const SO_DOMAIN: i32 = 39;
/// `SO_ZEROCOPY`.
pub const SO_ZEROCOPY: i32 = 60;
/// `SO_RCVTIMEO_NEW`.
pub const SO_RCVTIMEO_NEW: i32 = 66;
/// `SO_SNDTIMEO_NEW`.
pub const SO_SNDTIMEO_NEW: i32 = 67;
/// `SO_RCVTIMEO` on x86_64 (`__BITS_PER_LONG == 64`).
pub const SO_RCVTIMEO: i32 = SO_RCVTIMEO_OLD;
/// `SO_SNDTIMEO` on x86_64.
pub const SO_SNDTIMEO: i32 = SO_SNDTIMEO_OLD;

// ---- IPPROTO_IP options (linux/in.h) ----
/// `IP_TOS`.
pub const IP_TOS: i32 = 1;
/// `IP_TTL`.
pub const IP_TTL: i32 = 2;
/// `IP_HDRINCL`.
pub const IP_HDRINCL: i32 = 3;
/// `IP_OPTIONS`.
pub const IP_OPTIONS: i32 = 4;
/// `IP_PKTINFO`.
pub const IP_PKTINFO: i32 = 8;
/// `IP_MTU_DISCOVER`.
pub const IP_MTU_DISCOVER: i32 = 10;
/// `IP_RECVERR`.
pub const IP_RECVERR: i32 = 11;
/// `IP_RECVTTL`.
pub const IP_RECVTTL: i32 = 12;
/// `IP_RECVTOS`.
pub const IP_RECVTOS: i32 = 13;
/// `IP_MULTICAST_IF`.
pub const IP_MULTICAST_IF: i32 = 32;
/// `IP_MULTICAST_TTL`.
pub const IP_MULTICAST_TTL: i32 = 33;
/// `IP_MULTICAST_LOOP`.
pub const IP_MULTICAST_LOOP: i32 = 34;
/// `IP_ADD_MEMBERSHIP`.
pub const IP_ADD_MEMBERSHIP: i32 = 35;
/// `IP_DROP_MEMBERSHIP`.
pub const IP_DROP_MEMBERSHIP: i32 = 36;

// ---- IPPROTO_IPV6 options (linux/in6.h) ----
/// `IPV6_CHECKSUM`.
pub const IPV6_CHECKSUM: i32 = 7;
/// `IPV6_UNICAST_HOPS`.
pub const IPV6_UNICAST_HOPS: i32 = 16;
/// `IPV6_MULTICAST_IF`.
pub const IPV6_MULTICAST_IF: i32 = 17;
/// `IPV6_MULTICAST_HOPS`.
pub const IPV6_MULTICAST_HOPS: i32 = 18;
/// `IPV6_MULTICAST_LOOP`.
pub const IPV6_MULTICAST_LOOP: i32 = 19;
/// `IPV6_ADD_MEMBERSHIP`.
pub const IPV6_ADD_MEMBERSHIP: i32 = 20;
/// `IPV6_DROP_MEMBERSHIP`.
pub const IPV6_DROP_MEMBERSHIP: i32 = 21;
/// `IPV6_MTU_DISCOVER`.
pub const IPV6_MTU_DISCOVER: i32 = 23;
/// `IPV6_RECVERR`.
pub const IPV6_RECVERR: i32 = 25;
/// `IPV6_V6ONLY`.
pub const IPV6_V6ONLY: i32 = 26;
/// `IPV6_RECVPKTINFO`.
pub const IPV6_RECVPKTINFO: i32 = 49;
/// `IPV6_PKTINFO`.
pub const IPV6_PKTINFO: i32 = 50;
/// `IPV6_RECVHOPLIMIT`.
pub const IPV6_RECVHOPLIMIT: i32 = 51;
/// `IPV6_HOPLIMIT`.
pub const IPV6_HOPLIMIT: i32 = 52;
/// `IPV6_DONTFRAG`.
pub const IPV6_DONTFRAG: i32 = 62;
/// `IPV6_RECVTCLASS`.
pub const IPV6_RECVTCLASS: i32 = 66;
/// `IPV6_TCLASS`.
pub const IPV6_TCLASS: i32 = 67;
/// `ICMPV6_FILTER` (linux/icmpv6.h; glibc's `ICMP6_FILTER`), level
/// `SOL_ICMPV6`.  A set bit *blocks* the type (glibc `ICMP6_FILTER_WILLPASS`
/// tests for a clear bit), the opposite of FreeBSD.
pub const ICMPV6_FILTER: i32 = 1;

// ---- IPPROTO_TCP options (linux/tcp.h) ----
/// `TCP_NODELAY`.
pub const TCP_NODELAY: i32 = 1;
/// `TCP_MAXSEG`.
pub const TCP_MAXSEG: i32 = 2;
/// `TCP_INFO` (read only: `struct tcp_info`).
pub const TCP_INFO: i32 = 11;
/// `sizeof(struct tcp_info)` in linux/tcp.h (6.x, up to `tcpi_snd_wnd`).
pub const TCP_INFO_LEN: usize = 232;
/// `TCP_INFINITE_SSTHRESH`.
pub const TCP_INFINITE_SSTHRESH: u32 = 0x7fff_ffff;
/// `TCP_ESTABLISHED` … `TCP_CLOSING` (include/net/tcp_states.h), by
/// FreeBSD `TCPS_*` number (`CLOSED` 0 … `TIME_WAIT` 10).
pub const TCP_STATES_BY_BSD: [u8; 11] = [
    7,  // TCPS_CLOSED → TCP_CLOSE
    10, // TCPS_LISTEN → TCP_LISTEN
    2,  // TCPS_SYN_SENT → TCP_SYN_SENT
    3,  // TCPS_SYN_RECEIVED → TCP_SYN_RECV
    1,  // TCPS_ESTABLISHED → TCP_ESTABLISHED
    8,  // TCPS_CLOSE_WAIT → TCP_CLOSE_WAIT
    4,  // TCPS_FIN_WAIT_1 → TCP_FIN_WAIT1
    11, // TCPS_CLOSING → TCP_CLOSING
    9,  // TCPS_LAST_ACK → TCP_LAST_ACK
    5,  // TCPS_FIN_WAIT_2 → TCP_FIN_WAIT2
    6,  // TCPS_TIME_WAIT → TCP_TIME_WAIT
];
/// `TCP_CORK`.
pub const TCP_CORK: i32 = 3;
/// `TCP_KEEPIDLE`.
pub const TCP_KEEPIDLE: i32 = 4;
/// `TCP_KEEPINTVL`.
pub const TCP_KEEPINTVL: i32 = 5;
/// `TCP_KEEPCNT`.
pub const TCP_KEEPCNT: i32 = 6;
/// `TCP_SYNCNT`.
pub const TCP_SYNCNT: i32 = 7;
/// `TCP_DEFER_ACCEPT`.
pub const TCP_DEFER_ACCEPT: i32 = 9;
/// `TCP_QUICKACK`.
pub const TCP_QUICKACK: i32 = 12;
/// `TCP_CONGESTION`.
pub const TCP_CONGESTION: i32 = 13;
/// `TCP_USER_TIMEOUT`.
pub const TCP_USER_TIMEOUT: i32 = 18;
/// `TCP_FASTOPEN`.
pub const TCP_FASTOPEN: i32 = 23;
/// `TCP_NOTSENT_LOWAT`.
pub const TCP_NOTSENT_LOWAT: i32 = 25;
/// `TCP_FASTOPEN_CONNECT`.
pub const TCP_FASTOPEN_CONNECT: i32 = 30;

// ---- MSG_* flags (bits/socket.h) ----
/// `MSG_OOB`.
pub const MSG_OOB: i32 = 0x01;
/// `MSG_PEEK`.
pub const MSG_PEEK: i32 = 0x02;
/// `MSG_DONTROUTE`.
pub const MSG_DONTROUTE: i32 = 0x04;
/// `MSG_CTRUNC`.
pub const MSG_CTRUNC: i32 = 0x08;
/// `MSG_PROXY`.
pub const MSG_PROXY: i32 = 0x10;
/// `MSG_TRUNC`.
pub const MSG_TRUNC: i32 = 0x20;
/// `MSG_DONTWAIT`.
pub const MSG_DONTWAIT: i32 = 0x40;
/// `MSG_EOR`.
pub const MSG_EOR: i32 = 0x80;
/// `MSG_WAITALL`.
pub const MSG_WAITALL: i32 = 0x100;
/// `MSG_FIN`.
pub const MSG_FIN: i32 = 0x200;
/// `MSG_SYN`.
pub const MSG_SYN: i32 = 0x400;
/// `MSG_CONFIRM`.
pub const MSG_CONFIRM: i32 = 0x800;
/// `MSG_RST`.
pub const MSG_RST: i32 = 0x1000;
/// `MSG_ERRQUEUE`.
pub const MSG_ERRQUEUE: i32 = 0x2000;
/// `MSG_NOSIGNAL`.
pub const MSG_NOSIGNAL: i32 = 0x4000;
/// `MSG_MORE`.
pub const MSG_MORE: i32 = 0x8000;
/// `MSG_WAITFORONE`.
pub const MSG_WAITFORONE: i32 = 0x10000;
/// `MSG_BATCH`.
pub const MSG_BATCH: i32 = 0x40000;
/// `MSG_ZEROCOPY`.
pub const MSG_ZEROCOPY: i32 = 0x4000000;
/// `MSG_FASTOPEN`.
pub const MSG_FASTOPEN: i32 = 0x20000000;
/// `MSG_CMSG_CLOEXEC`.
pub const MSG_CMSG_CLOEXEC: i32 = 0x40000000;
/// `MSG_CMSG_COMPAT` (kernel-internal, include/linux/socket.h): `sendmsg`
/// and `recvmsg` refuse it from user space with `EINVAL`.
pub const MSG_CMSG_COMPAT: i32 = 0x80000000u32 as i32;

// ---- errno (asm-generic/errno-base.h, asm-generic/errno.h) ----
/// `EPERM`.
pub const EPERM: i32 = 1;
/// `ENOENT`.
pub const ENOENT: i32 = 2;
/// `ESRCH`.
pub const ESRCH: i32 = 3;
/// `EINTR`.
pub const EINTR: i32 = 4;
/// `EIO`.
pub const EIO: i32 = 5;
/// `ENXIO`.
pub const ENXIO: i32 = 6;
/// `E2BIG`.
pub const E2BIG: i32 = 7;
/// `ENOEXEC`.
pub const ENOEXEC: i32 = 8;
/// `EBADF`.
pub const EBADF: i32 = 9;
/// `ECHILD`.
pub const ECHILD: i32 = 10;
/// `EAGAIN`.
pub const EAGAIN: i32 = 11;
/// `ENOMEM`.
pub const ENOMEM: i32 = 12;
/// `EACCES`.
pub const EACCES: i32 = 13;
/// `EFAULT`.
pub const EFAULT: i32 = 14;
/// `ENOTBLK`.
pub const ENOTBLK: i32 = 15;
/// `EBUSY`.
pub const EBUSY: i32 = 16;
/// `EEXIST`.
pub const EEXIST: i32 = 17;
/// `EXDEV`.
pub const EXDEV: i32 = 18;
/// `ENODEV`.
pub const ENODEV: i32 = 19;
/// `ENOTDIR`.
pub const ENOTDIR: i32 = 20;
/// `EISDIR`.
pub const EISDIR: i32 = 21;
/// `EINVAL`.
pub const EINVAL: i32 = 22;
/// `ENFILE`.
pub const ENFILE: i32 = 23;
/// `EMFILE`.
pub const EMFILE: i32 = 24;
/// `ENOTTY`.
pub const ENOTTY: i32 = 25;
/// `ETXTBSY`.
pub const ETXTBSY: i32 = 26;
/// `EFBIG`.
pub const EFBIG: i32 = 27;
/// `ENOSPC`.
pub const ENOSPC: i32 = 28;
/// `ESPIPE`.
pub const ESPIPE: i32 = 29;
/// `EROFS`.
pub const EROFS: i32 = 30;
/// `EMLINK`.
pub const EMLINK: i32 = 31;
/// `EPIPE`.
pub const EPIPE: i32 = 32;
/// `EDOM`.
pub const EDOM: i32 = 33;
/// `ERANGE`.
pub const ERANGE: i32 = 34;
/// `EDEADLK`.
pub const EDEADLK: i32 = 35;
/// `ENAMETOOLONG`.
pub const ENAMETOOLONG: i32 = 36;
/// `ENOLCK`.
pub const ENOLCK: i32 = 37;
/// `ENOSYS`.
pub const ENOSYS: i32 = 38;
/// `ENOTEMPTY`.
pub const ENOTEMPTY: i32 = 39;
/// `ELOOP`.
pub const ELOOP: i32 = 40;
/// `ENOMSG`.
pub const ENOMSG: i32 = 42;
/// `EIDRM`.
pub const EIDRM: i32 = 43;
/// `ENODATA`.
pub const ENODATA: i32 = 61;
/// `EREMOTE`.
pub const EREMOTE: i32 = 66;
/// `ENOLINK`.
pub const ENOLINK: i32 = 67;
/// `EPROTO`.
pub const EPROTO: i32 = 71;
/// `EMULTIHOP`.
pub const EMULTIHOP: i32 = 72;
/// `EBADMSG`.
pub const EBADMSG: i32 = 74;
/// `EOVERFLOW`.
pub const EOVERFLOW: i32 = 75;
/// `EILSEQ`.
pub const EILSEQ: i32 = 84;
/// `EUSERS`.
pub const EUSERS: i32 = 87;
/// `ENOTSOCK`.
pub const ENOTSOCK: i32 = 88;
/// `EDESTADDRREQ`.
pub const EDESTADDRREQ: i32 = 89;
/// `EMSGSIZE`.
pub const EMSGSIZE: i32 = 90;
/// `EPROTOTYPE`.
pub const EPROTOTYPE: i32 = 91;
/// `ENOPROTOOPT`.
pub const ENOPROTOOPT: i32 = 92;
/// `EPROTONOSUPPORT`.
pub const EPROTONOSUPPORT: i32 = 93;
/// `ESOCKTNOSUPPORT`.
pub const ESOCKTNOSUPPORT: i32 = 94;
/// `EOPNOTSUPP`.
pub const EOPNOTSUPP: i32 = 95;
/// `EPFNOSUPPORT`.
pub const EPFNOSUPPORT: i32 = 96;
/// `EAFNOSUPPORT`.
pub const EAFNOSUPPORT: i32 = 97;
/// `EADDRINUSE`.
pub const EADDRINUSE: i32 = 98;
/// `EADDRNOTAVAIL`.
pub const EADDRNOTAVAIL: i32 = 99;
/// `ENETDOWN`.
pub const ENETDOWN: i32 = 100;
/// `ENETUNREACH`.
pub const ENETUNREACH: i32 = 101;
/// `ENETRESET`.
pub const ENETRESET: i32 = 102;
/// `ECONNABORTED`.
pub const ECONNABORTED: i32 = 103;
/// `ECONNRESET`.
pub const ECONNRESET: i32 = 104;
/// `ENOBUFS`.
pub const ENOBUFS: i32 = 105;
/// `EISCONN`.
pub const EISCONN: i32 = 106;
/// `ENOTCONN`.
pub const ENOTCONN: i32 = 107;
/// `ESHUTDOWN`.
pub const ESHUTDOWN: i32 = 108;
/// `ETOOMANYREFS`.
pub const ETOOMANYREFS: i32 = 109;
/// `ETIMEDOUT`.
pub const ETIMEDOUT: i32 = 110;
/// `ECONNREFUSED`.
pub const ECONNREFUSED: i32 = 111;
/// `EHOSTDOWN`.
pub const EHOSTDOWN: i32 = 112;
/// `EHOSTUNREACH`.
pub const EHOSTUNREACH: i32 = 113;
/// `EALREADY`.
pub const EALREADY: i32 = 114;
/// `EINPROGRESS`.
pub const EINPROGRESS: i32 = 115;
/// `ESTALE`.
pub const ESTALE: i32 = 116;
/// `EDQUOT`.
pub const EDQUOT: i32 = 122;
/// `ECANCELED`.
pub const ECANCELED: i32 = 125;

// ---- ioctls (asm-generic/ioctls.h, linux/sockios.h) ----
/// `TIOCOUTQ`.
pub const TIOCOUTQ: u32 = 0x5411;
/// `FIONREAD`.
pub const FIONREAD: u32 = 0x541B;
/// `FIONBIO`.
pub const FIONBIO: u32 = 0x5421;
/// `FIONCLEX`.
pub const FIONCLEX: u32 = 0x5450;
/// `FIOCLEX`.
pub const FIOCLEX: u32 = 0x5451;
/// `FIOASYNC`.
pub const FIOASYNC: u32 = 0x5452;
/// `SIOCINQ` (= `FIONREAD`).
pub const SIOCINQ: u32 = FIONREAD;
/// `SIOCOUTQ` (= `TIOCOUTQ`).
pub const SIOCOUTQ: u32 = TIOCOUTQ;
/// `SIOCGIFNAME`.
pub const SIOCGIFNAME: u32 = 0x8910;
/// `SIOCGIFCONF`.
pub const SIOCGIFCONF: u32 = 0x8912;
/// `SIOCGIFFLAGS`.
pub const SIOCGIFFLAGS: u32 = 0x8913;
/// `SIOCGIFADDR`.
pub const SIOCGIFADDR: u32 = 0x8915;
/// `SIOCGIFDSTADDR`.
pub const SIOCGIFDSTADDR: u32 = 0x8917;
/// `SIOCGIFBRDADDR`.
pub const SIOCGIFBRDADDR: u32 = 0x8919;
/// `SIOCGIFNETMASK`.
pub const SIOCGIFNETMASK: u32 = 0x891b;
/// `SIOCGIFMETRIC`.
pub const SIOCGIFMETRIC: u32 = 0x891d;
/// `SIOCGIFMTU`.
pub const SIOCGIFMTU: u32 = 0x8921;
/// `SIOCGIFHWADDR`.
pub const SIOCGIFHWADDR: u32 = 0x8927;
/// `SIOCGIFINDEX`.
pub const SIOCGIFINDEX: u32 = 0x8933;
/// `SIOCGIFTXQLEN`.
pub const SIOCGIFTXQLEN: u32 = 0x8942;
/// `SIOCOUTQNSD`.
pub const SIOCOUTQNSD: u32 = 0x894B;

// ---- interfaces (linux/if.h, linux/if_arp.h) ----
/// `IFNAMSIZ`.
pub const IFNAMSIZ: usize = 16;
/// `sizeof(struct ifreq)` on x86_64: the name and a 24-byte union (`struct ifmap`).
pub const IFREQ_SIZE: usize = 40;
/// `IFF_UP`.
pub const IFF_UP: u32 = 0x1;
/// `IFF_BROADCAST`.
pub const IFF_BROADCAST: u32 = 0x2;
/// `IFF_DEBUG`.
pub const IFF_DEBUG: u32 = 0x4;
/// `IFF_LOOPBACK`.
pub const IFF_LOOPBACK: u32 = 0x8;
/// `IFF_POINTOPOINT`.
pub const IFF_POINTOPOINT: u32 = 0x10;
/// `IFF_RUNNING`.
pub const IFF_RUNNING: u32 = 0x40;
/// `IFF_NOARP`.
pub const IFF_NOARP: u32 = 0x80;
/// `IFF_PROMISC`.
pub const IFF_PROMISC: u32 = 0x100;
/// `IFF_ALLMULTI`.
pub const IFF_ALLMULTI: u32 = 0x200;
/// `IFF_MULTICAST`.
pub const IFF_MULTICAST: u32 = 0x1000;
/// `IFF_LOWER_UP`.
pub const IFF_LOWER_UP: u32 = 0x10000;
/// `ARPHRD_ETHER`.
pub const ARPHRD_ETHER: u16 = 1;
/// `ARPHRD_LOOPBACK`.
pub const ARPHRD_LOOPBACK: u16 = 772;
/// `ARPHRD_NONE`.
pub const ARPHRD_NONE: u16 = 0xFFFE;

// ---- netlink (linux/netlink.h) ----
/// `NETLINK_ROUTE`.
pub const NETLINK_ROUTE: i32 = 0;
/// `NLM_F_REQUEST`.
pub const NLM_F_REQUEST: u16 = 0x01;
/// `NLM_F_MULTI`.
pub const NLM_F_MULTI: u16 = 0x02;
/// `NLM_F_ACK`.
pub const NLM_F_ACK: u16 = 0x04;
/// `NLM_F_ECHO`.
pub const NLM_F_ECHO: u16 = 0x08;
/// `NLM_F_ROOT`.
pub const NLM_F_ROOT: u16 = 0x100;
/// `NLM_F_MATCH`.
pub const NLM_F_MATCH: u16 = 0x200;
/// `NLM_F_DUMP`.
pub const NLM_F_DUMP: u16 = NLM_F_ROOT | NLM_F_MATCH;
/// `NLM_F_CAPPED`.
pub const NLM_F_CAPPED: u16 = 0x100;
/// `NLMSG_NOOP`.
pub const NLMSG_NOOP: u16 = 0x1;
/// `NLMSG_ERROR`.
pub const NLMSG_ERROR: u16 = 0x2;
/// `NLMSG_DONE`.
pub const NLMSG_DONE: u16 = 0x3;
/// `NLMSG_OVERRUN`.
pub const NLMSG_OVERRUN: u16 = 0x4;
/// `NLMSG_MIN_TYPE`.
pub const NLMSG_MIN_TYPE: u16 = 0x10;
/// `NLMSG_ALIGNTO`.
pub const NLMSG_ALIGNTO: usize = 4;
/// `NLMSG_HDRLEN`.
pub const NLMSG_HDRLEN: usize = 16;

// ---- rtnetlink (linux/rtnetlink.h) ----
/// `RTM_NEWLINK`.
pub const RTM_NEWLINK: u16 = 16;
/// `RTM_DELLINK`.
pub const RTM_DELLINK: u16 = 17;
/// `RTM_GETLINK`.
pub const RTM_GETLINK: u16 = 18;
/// `RTM_SETLINK`.
pub const RTM_SETLINK: u16 = 19;
/// `RTM_NEWADDR`.
pub const RTM_NEWADDR: u16 = 20;
/// `RTM_DELADDR`.
pub const RTM_DELADDR: u16 = 21;
/// `RTM_GETADDR`.
pub const RTM_GETADDR: u16 = 22;
/// `RTM_NEWROUTE`.
pub const RTM_NEWROUTE: u16 = 24;
/// `RTM_DELROUTE`.
pub const RTM_DELROUTE: u16 = 25;
/// `RTM_GETROUTE`.
pub const RTM_GETROUTE: u16 = 26;
/// `RTN_UNICAST`.
pub const RTN_UNICAST: u8 = 1;
/// `RTN_LOCAL`.
pub const RTN_LOCAL: u8 = 2;
/// `RTN_BROADCAST`.
pub const RTN_BROADCAST: u8 = 3;
/// `RTN_MULTICAST`.
pub const RTN_MULTICAST: u8 = 5;
/// `RTN_BLACKHOLE`.
pub const RTN_BLACKHOLE: u8 = 6;
/// `RTN_UNREACHABLE`.
pub const RTN_UNREACHABLE: u8 = 7;
/// `RTPROT_REDIRECT`.
pub const RTPROT_REDIRECT: u8 = 1;
/// `RTPROT_KERNEL`.
pub const RTPROT_KERNEL: u8 = 2;
/// `RTPROT_BOOT`.
pub const RTPROT_BOOT: u8 = 3;
/// `RTPROT_STATIC`.
pub const RTPROT_STATIC: u8 = 4;
/// `RT_SCOPE_UNIVERSE`.
pub const RT_SCOPE_UNIVERSE: u8 = 0;
/// `RT_SCOPE_SITE`.
pub const RT_SCOPE_SITE: u8 = 200;
/// `RT_SCOPE_LINK`.
pub const RT_SCOPE_LINK: u8 = 253;
/// `RT_SCOPE_HOST`.
pub const RT_SCOPE_HOST: u8 = 254;
/// `RT_TABLE_MAIN`.
pub const RT_TABLE_MAIN: u8 = 254;
/// `RT_TABLE_LOCAL`.
pub const RT_TABLE_LOCAL: u8 = 255;
/// `RTA_DST`.
pub const RTA_DST: u16 = 1;
/// `RTA_OIF`.
pub const RTA_OIF: u16 = 4;
/// `RTA_GATEWAY`.
pub const RTA_GATEWAY: u16 = 5;
/// `RTA_PRIORITY`.
pub const RTA_PRIORITY: u16 = 6;
/// `RTA_PREFSRC`.
pub const RTA_PREFSRC: u16 = 7;
/// `RTA_METRICS`.
pub const RTA_METRICS: u16 = 8;
/// `RTA_TABLE`.
pub const RTA_TABLE: u16 = 15;
/// `RTAX_MTU`.
pub const RTAX_MTU: u16 = 2;

// ---- links (linux/if_link.h, linux/if.h) ----
/// `IFLA_ADDRESS`.
pub const IFLA_ADDRESS: u16 = 1;
/// `IFLA_BROADCAST`.
pub const IFLA_BROADCAST: u16 = 2;
/// `IFLA_IFNAME`.
pub const IFLA_IFNAME: u16 = 3;
/// `IFLA_MTU`.
pub const IFLA_MTU: u16 = 4;
/// `IFLA_LINK`.
pub const IFLA_LINK: u16 = 5;
/// `IFLA_QDISC`.
pub const IFLA_QDISC: u16 = 6;
/// `IFLA_STATS`.
pub const IFLA_STATS: u16 = 7;
/// `IFLA_TXQLEN`.
pub const IFLA_TXQLEN: u16 = 13;
/// `IFLA_OPERSTATE`.
pub const IFLA_OPERSTATE: u16 = 16;
/// `IFLA_LINKMODE`.
pub const IFLA_LINKMODE: u16 = 17;
/// `IFLA_STATS64`.
pub const IFLA_STATS64: u16 = 23;
/// `IF_OPER_UNKNOWN`.
pub const IF_OPER_UNKNOWN: u8 = 0;
/// `IF_OPER_DOWN`.
pub const IF_OPER_DOWN: u8 = 2;
/// `IF_OPER_UP`.
pub const IF_OPER_UP: u8 = 6;

// ---- addresses (linux/if_addr.h) ----
/// `IFA_ADDRESS`.
pub const IFA_ADDRESS: u16 = 1;
/// `IFA_LOCAL`.
pub const IFA_LOCAL: u16 = 2;
/// `IFA_LABEL`.
pub const IFA_LABEL: u16 = 3;
/// `IFA_BROADCAST`.
pub const IFA_BROADCAST: u16 = 4;
/// `IFA_CACHEINFO`.
pub const IFA_CACHEINFO: u16 = 6;
/// `IFA_FLAGS`.
pub const IFA_FLAGS: u16 = 8;
/// `IFA_F_SECONDARY`.
pub const IFA_F_SECONDARY: u32 = 0x01;
/// `IFA_F_TEMPORARY`.
pub const IFA_F_TEMPORARY: u32 = IFA_F_SECONDARY;
/// `IFA_F_NODAD`.
pub const IFA_F_NODAD: u32 = 0x02;
/// `IFA_F_DADFAILED`.
pub const IFA_F_DADFAILED: u32 = 0x08;
/// `IFA_F_DEPRECATED`.
pub const IFA_F_DEPRECATED: u32 = 0x20;
/// `IFA_F_TENTATIVE`.
pub const IFA_F_TENTATIVE: u32 = 0x40;
/// `IFA_F_PERMANENT`.
pub const IFA_F_PERMANENT: u32 = 0x80;
