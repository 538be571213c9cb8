//! FreeBSD errno numbers and their strerror(3) texts (lib/libc/gen/errlst.c).
//!
//! The kernel answers every failed request with one of these numbers; tools print
//! them through [`strerror`] so that messages read exactly as on FreeBSD.

use std::fmt;

/// A FreeBSD errno value.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

macro_rules! errnos {
    ($($name:ident = $num:expr, $text:expr;)*) => {
        impl Errno {
            $(
                #[doc = $text]
                pub const $name: Errno = Errno($num);
            )*
        }
        /// The strerror(3) text of `e`, as FreeBSD's libc prints it.
        pub fn strerror(e: Errno) -> String {
            match e.0 {
                0 => "Undefined error: 0".to_string(),
                $($num => $text.to_string(),)*
                n => format!("Unknown error: {n}"),
            }
        }
        impl Errno {
            /// The symbolic name (`"EPERM"`), for debugging output.
            pub fn name(self) -> &'static str {
                match self.0 {
                    $($num => stringify!($name),)*
                    _ => "E?",
                }
            }
        }
    };
}

errnos! {
    EPERM = 1, "Operation not permitted";
    ENOENT = 2, "No such file or directory";
    ESRCH = 3, "No such process";
    EINTR = 4, "Interrupted system call";
    EIO = 5, "Input/output error";
    ENXIO = 6, "Device not configured";
    E2BIG = 7, "Argument list too long";
    ENOEXEC = 8, "Exec format error";
    EBADF = 9, "Bad file descriptor";
    ECHILD = 10, "No child processes";
    EDEADLK = 11, "Resource deadlock avoided";
    ENOMEM = 12, "Cannot allocate memory";
    EACCES = 13, "Permission denied";
    EFAULT = 14, "Bad address";
    ENOTBLK = 15, "Block device required";
    EBUSY = 16, "Device busy";
    EEXIST = 17, "File exists";
    EXDEV = 18, "Cross-device link";
    ENODEV = 19, "Operation not supported by device";
    ENOTDIR = 20, "Not a directory";
    EISDIR = 21, "Is a directory";
    EINVAL = 22, "Invalid argument";
    ENFILE = 23, "Too many open files in system";
    EMFILE = 24, "Too many open files";
    ENOTTY = 25, "Inappropriate ioctl for device";
    ETXTBSY = 26, "Text file busy";
    EFBIG = 27, "File too large";
    ENOSPC = 28, "No space left on device";
    ESPIPE = 29, "Illegal seek";
    EROFS = 30, "Read-only file system";
    EMLINK = 31, "Too many links";
    EPIPE = 32, "Broken pipe";
    EDOM = 33, "Numerical argument out of domain";
    ERANGE = 34, "Result too large";
    EAGAIN = 35, "Resource temporarily unavailable";
    EINPROGRESS = 36, "Operation now in progress";
    EALREADY = 37, "Operation already in progress";
    ENOTSOCK = 38, "Socket operation on non-socket";
    EDESTADDRREQ = 39, "Destination address required";
    EMSGSIZE = 40, "Message too long";
    EPROTOTYPE = 41, "Protocol wrong type for socket";
    ENOPROTOOPT = 42, "Protocol not available";
    EPROTONOSUPPORT = 43, "Protocol not supported";
    ESOCKTNOSUPPORT = 44, "Socket type not supported";
    EOPNOTSUPP = 45, "Operation not supported";
    EPFNOSUPPORT = 46, "Protocol family not supported";
    EAFNOSUPPORT = 47, "Address family not supported by protocol family";
    EADDRINUSE = 48, "Address already in use";
    EADDRNOTAVAIL = 49, "Can't assign requested address";
    ENETDOWN = 50, "Network is down";
    ENETUNREACH = 51, "Network is unreachable";
    ENETRESET = 52, "Network dropped connection on reset";
    ECONNABORTED = 53, "Software caused connection abort";
    ECONNRESET = 54, "Connection reset by peer";
    ENOBUFS = 55, "No buffer space available";
    EISCONN = 56, "Socket is already connected";
    ENOTCONN = 57, "Socket is not connected";
    ESHUTDOWN = 58, "Can't send after socket shutdown";
    ETOOMANYREFS = 59, "Too many references: can't splice";
    ETIMEDOUT = 60, "Operation timed out";
    ECONNREFUSED = 61, "Connection refused";
    ELOOP = 62, "Too many levels of symbolic links";
    ENAMETOOLONG = 63, "File name too long";
    EHOSTDOWN = 64, "Host is down";
    EHOSTUNREACH = 65, "No route to host";
    ENOTEMPTY = 66, "Directory not empty";
    EPROCLIM = 67, "Too many processes";
    EUSERS = 68, "Too many users";
    EDQUOT = 69, "Disc quota exceeded";
    ESTALE = 70, "Stale NFS file handle";
    EREMOTE = 71, "Too many levels of remote in path";
    EBADRPC = 72, "RPC struct is bad";
    ERPCMISMATCH = 73, "RPC version wrong";
    EPROGUNAVAIL = 74, "RPC prog. not avail";
    EPROGMISMATCH = 75, "Program version wrong";
    EPROCUNAVAIL = 76, "Bad procedure for program";
    ENOLCK = 77, "No locks available";
    ENOSYS = 78, "Function not implemented";
    EFTYPE = 79, "Inappropriate file type or format";
    EAUTH = 80, "Authentication error";
    ENEEDAUTH = 81, "Need authenticator";
    EIDRM = 82, "Identifier removed";
    ENOMSG = 83, "No message of desired type";
    EOVERFLOW = 84, "Value too large to be stored in data type";
    ECANCELED = 85, "Operation canceled";
    EILSEQ = 86, "Illegal byte sequence";
    ENOATTR = 87, "Attribute not found";
    EDOOFUS = 88, "Programming error";
    EBADMSG = 89, "Bad message";
    EMULTIHOP = 90, "Multihop attempted";
    ENOLINK = 91, "Link has been severed";
    EPROTO = 92, "Protocol error";
}

impl Errno {
    /// `EWOULDBLOCK` is `EAGAIN` on FreeBSD.
    pub const EWOULDBLOCK: Errno = Errno(35);
    /// `ENOTSUP` is `EOPNOTSUPP` on FreeBSD.
    pub const ENOTSUP: Errno = Errno(45);

    /// Translate a host (Linux) errno into the FreeBSD number with the same meaning.
    pub fn from_host(e: i32) -> Errno {
        // Linux and FreeBSD agree on 1..=34; the rest differ.
        match e {
            11 => Errno::EAGAIN,
            35 => Errno::EDEADLK,
            1..=34 => Errno(e),
            36 => Errno::ENAMETOOLONG,
            38 => Errno::ENOSYS,
            39 => Errno::ENOTEMPTY,
            40 => Errno::ELOOP,
            95 => Errno::EOPNOTSUPP,
            97 => Errno::EAFNOSUPPORT,
            98 => Errno::EADDRINUSE,
            99 => Errno::EADDRNOTAVAIL,
            100 => Errno::ENETDOWN,
            101 => Errno::ENETUNREACH,
            104 => Errno::ECONNRESET,
            105 => Errno::ENOBUFS,
            110 => Errno::ETIMEDOUT,
            111 => Errno::ECONNREFUSED,
            113 => Errno::EHOSTUNREACH,
            _ => Errno::EIO,
        }
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&strerror(*self))
    }
}

impl std::error::Error for Errno {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_match_freebsd() {
        assert_eq!(strerror(Errno::EBUSY), "Device busy");
        assert_eq!(strerror(Errno::ENXIO), "Device not configured");
        assert_eq!(strerror(Errno::EDOOFUS), "Programming error");
        assert_eq!(strerror(Errno(0)), "Undefined error: 0");
        assert_eq!(strerror(Errno(999)), "Unknown error: 999");
        assert_eq!(Errno::EEXIST.to_string(), "File exists");
        assert_eq!(format!("{:?}", Errno::EPERM), "EPERM(1)");
    }

    #[test]
    fn host_translation() {
        assert_eq!(Errno::from_host(2), Errno::ENOENT);
        assert_eq!(Errno::from_host(111), Errno::ECONNREFUSED);
        assert_eq!(Errno::from_host(98), Errno::EADDRINUSE);
    }
}
