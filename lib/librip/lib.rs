//! RIP for the vimage tools: the wire formats of RIPv1/RIPv2 ([`wire`], RFC
//! 2453 with RFC 2082's keyed MD5) and RIPng ([`ripng`], RFC 2080), the
//! distance-vector machine both daemons run ([`router`], sans IO: time is
//! passed in, packets and kernel route changes come out as [`router::Action`]s),
//! routed's parameter lines and `/etc/gateways` ([`parms`]), and, with the
//! `io` feature, the daemons' system side over libvimage ([`io`]).

pub mod codec;
/// MD5 for keyed-MD5 authentication (RFC 2082): the kernel's own
/// `sys/kern/md5c.rs`, built here too, as FreeBSD's libmd builds
/// `sys/kern/md5c.c`.
#[path = "../../sys/kern/md5c.rs"]
pub mod md5;
pub mod parms;
pub mod ripng;
pub mod router;
pub mod wire;

#[cfg(feature = "io")]
pub mod io;

use vimage_abi::Errno;

/// A RIP command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Command {
    /// Ask for routes.
    Request = 1,
    /// Routes (an answer, or a periodic or triggered update).
    Response = 2,
}

impl Command {
    /// The command of a message's first byte (only requests and responses).
    pub fn from_u8(b: u8) -> Option<Command> {
        match b {
            1 => Some(Command::Request),
            2 => Some(Command::Response),
            _ => None,
        }
    }
}

/// Why a message, a parameter or a route was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// Shorter than a header, no entries, or not whole entries.
    Truncated,
    /// A version other than 1 or 2 (RIPng: 1).
    BadVersion,
    /// Neither request nor response.
    BadCommand,
    /// An address family other than IPv4 (or 0 in a whole-table request).
    BadFamily,
    /// A metric out of 1..=16.
    BadMetric,
    /// A prefix length over 128, or a mask that is not contiguous.
    BadPrefix,
    /// A RIPng next-hop entry that is not one.
    BadNextHop,
    /// Must-be-zero fields that are not.
    NonZero,
    /// A RIPng response that did not come with hop limit 255.
    BadHopLimit,
    /// Authentication missing, malformed or wrong.
    BadAuth,
    /// More entries than a message may hold.
    TooManyEntries,
    /// A parameter or gateways line that cannot be read.
    BadParm,
    /// A gateway not on any interface's network.
    NoInterface,
}

impl Error {
    /// The errno a system call would report.
    pub fn errno(self) -> Errno {
        match self {
            Error::Truncated => Errno::EMSGSIZE,
            Error::BadVersion => Errno::EPROTONOSUPPORT,
            Error::BadFamily => Errno::EAFNOSUPPORT,
            Error::BadAuth => Errno::EPERM,
            Error::TooManyEntries => Errno::EMSGSIZE,
            Error::NoInterface => Errno::ENETUNREACH,
            _ => Errno::EINVAL,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Error::Truncated => "truncated message",
            Error::BadVersion => "bad version",
            Error::BadCommand => "bad command",
            Error::BadFamily => "bad address family",
            Error::BadMetric => "bad metric",
            Error::BadPrefix => "bad prefix",
            Error::BadNextHop => "bad next hop entry",
            Error::NonZero => "must-be-zero field not zero",
            Error::BadHopLimit => "hop limit not 255",
            Error::BadAuth => "bad authentication",
            Error::TooManyEntries => "too many entries",
            Error::BadParm => "bad parameter",
            Error::NoInterface => "gateway not on a directly connected network",
        })
    }
}

impl std::error::Error for Error {}
