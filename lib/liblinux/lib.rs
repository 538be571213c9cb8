//! Linux ↔ vimage ABI translation for the seccomp-notify supervisor that lets
//! ordinary Linux programs use a vimage's network stack.
//!
//! The supervisor receives a Linux program's socket system calls; this crate
//! turns their arguments into the kernel's FreeBSD ABI (`vimage-abi`) and the
//! kernel's answers back into what Linux would have answered.  Everything
//! here is pure and table-driven: each mapping is one `const` table, the
//! functions only look rows up, and no input can make them panic.
//!
//! Errors are the *Linux* errno (`Err(i32)`, positive) the program should
//! see.  Linux's numbers live in [`linux`], checked against /usr/include.
//!
//! | area | functions | table |
//! |---|---|---|
//! | errno | [`errno_to_linux`], [`errno_from_linux`] | [`ERRNO_TABLE`] |
//! | addresses | [`sockaddr_to_kernel`], [`sockaddr_to_kernel_on`], [`sockaddr_to_linux`], [`family_to_kernel`], [`family_to_linux`] | [`FAMILY_TABLE`] |
//! | `socket(2)` | [`socket_type`], [`socket_protocol`] | [`SOCK_TYPE_TABLE`] |
//! | options | [`sockopt_to_kernel`], [`opt_value_to_kernel`], [`opt_value_to_linux`] | [`SOCKOPT_TABLE`] |
//! | flags, control data | [`msg_flags_to_kernel`], [`msg_flags_to_linux`], [`recv_addr_to_linux`] | [`MSG_TO_KERNEL`], [`MSG_DROPPED`], [`MSG_REFUSED`], [`MSG_TO_LINUX`] |
//! | ioctls | [`ioctl_kind`], [`ifreq_answer`], [`ifconf_answer`], [`if_flags_to_linux`] | [`IOCTL_TABLE`], [`IFF_TABLE`] |
//! | rtnetlink | [`netlink::respond`], [`netlink::batch`] | [`netlink::IN6_FLAGS_TABLE`] |

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod errno;
mod ioctl;
pub mod linux;
mod msg;
pub mod netlink;
mod sockaddr;
mod sockopt;

pub use errno::{errno_from_linux, errno_to_linux, ERRNO_TABLE};
pub use ioctl::{
    arphrd, if_flags_to_linux, ifconf_answer, ifreq_answer, ioctl_kind, IoctlKind, IFF_TABLE,
    IOCTL_TABLE, TXQLEN,
};
pub use msg::{
    cmsg_fit, msg_flags_to_kernel, msg_flags_to_linux, push_cmsg, recv_addr_to_linux,
    BSD_MSG_CTRUNC, BSD_MSG_DONTROUTE, BSD_MSG_EOR, BSD_MSG_TRUNC, MSG_DROPPED, MSG_REFUSED,
    MSG_TO_KERNEL, MSG_TO_LINUX,
};
pub use sockaddr::{
    family_to_kernel, family_to_linux, sockaddr_to_kernel, sockaddr_to_kernel_on,
    sockaddr_to_linux, socket_protocol, socket_type, FAMILY_TABLE, LINUX_SOCKADDR_IN6_SIZE,
    LINUX_SOCKADDR_IN_SIZE, SIN6_LEN_RFC2133, SOCK_TYPE_TABLE,
};
pub use sockopt::{
    opt_companion, opt_value_to_kernel, opt_value_to_linux, sockopt_to_kernel, OptKind, SockOpt,
    BSD_TCP_MAXSEG, KERNEL_MAXSOCKBUF, MIN_SOCKBUF, SOCKOPT_TABLE,
};
