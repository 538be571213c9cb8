//! FreeBSD errno ↔ Linux errno.

use vimage_abi::Errno;

use crate::linux as l;

/// Every FreeBSD errno (`vimage_abi::errno`, 1..=92) with the Linux errno a
/// program gets for it.  Where several FreeBSD numbers share one Linux
/// number, the first row is the one [`errno_from_linux`] returns.
///
/// FreeBSD and Linux agree on 1..=34 except 11: FreeBSD's 11 is `EDEADLK`
/// (Linux 35), Linux's 11 is `EAGAIN` (FreeBSD 35).  Numbers without a Linux
/// equivalent get the nearest meaning:
/// `EPROCLIM` → `EAGAIN` (what Linux's `fork` says at its process limit),
/// the Sun RPC errors `EBADRPC`/`ERPCMISMATCH`/`EPROGUNAVAIL`/`EPROGMISMATCH`/
/// `EPROCUNAVAIL` → `EIO`, `EFTYPE` → `EINVAL`, `EAUTH`/`ENEEDAUTH` →
/// `EACCES`, `ENOATTR` → `ENODATA` (Linux's `ENOATTR` alias), and
/// `EDOOFUS` (a kernel bug) → `EIO`.
pub const ERRNO_TABLE: &[(Errno, i32)] = &[
    (Errno::EPERM, l::EPERM),
    (Errno::ENOENT, l::ENOENT),
    (Errno::ESRCH, l::ESRCH),
    (Errno::EINTR, l::EINTR),
    (Errno::EIO, l::EIO),
    (Errno::ENXIO, l::ENXIO),
    (Errno::E2BIG, l::E2BIG),
    (Errno::ENOEXEC, l::ENOEXEC),
    (Errno::EBADF, l::EBADF),
    (Errno::ECHILD, l::ECHILD),
    (Errno::EDEADLK, l::EDEADLK),
    (Errno::ENOMEM, l::ENOMEM),
    (Errno::EACCES, l::EACCES),
    (Errno::EFAULT, l::EFAULT),
    (Errno::ENOTBLK, l::ENOTBLK),
    (Errno::EBUSY, l::EBUSY),
    (Errno::EEXIST, l::EEXIST),
    (Errno::EXDEV, l::EXDEV),
    (Errno::ENODEV, l::ENODEV),
    (Errno::ENOTDIR, l::ENOTDIR),
    (Errno::EISDIR, l::EISDIR),
    (Errno::EINVAL, l::EINVAL),
    (Errno::ENFILE, l::ENFILE),
    (Errno::EMFILE, l::EMFILE),
    (Errno::ENOTTY, l::ENOTTY),
    (Errno::ETXTBSY, l::ETXTBSY),
    (Errno::EFBIG, l::EFBIG),
    (Errno::ENOSPC, l::ENOSPC),
    (Errno::ESPIPE, l::ESPIPE),
    (Errno::EROFS, l::EROFS),
    (Errno::EMLINK, l::EMLINK),
    (Errno::EPIPE, l::EPIPE),
    (Errno::EDOM, l::EDOM),
    (Errno::ERANGE, l::ERANGE),
    (Errno::EAGAIN, l::EAGAIN),
    (Errno::EINPROGRESS, l::EINPROGRESS),
    (Errno::EALREADY, l::EALREADY),
    (Errno::ENOTSOCK, l::ENOTSOCK),
    (Errno::EDESTADDRREQ, l::EDESTADDRREQ),
    (Errno::EMSGSIZE, l::EMSGSIZE),
    (Errno::EPROTOTYPE, l::EPROTOTYPE),
    (Errno::ENOPROTOOPT, l::ENOPROTOOPT),
    (Errno::EPROTONOSUPPORT, l::EPROTONOSUPPORT),
    (Errno::ESOCKTNOSUPPORT, l::ESOCKTNOSUPPORT),
    (Errno::EOPNOTSUPP, l::EOPNOTSUPP),
    (Errno::EPFNOSUPPORT, l::EPFNOSUPPORT),
    (Errno::EAFNOSUPPORT, l::EAFNOSUPPORT),
    (Errno::EADDRINUSE, l::EADDRINUSE),
    (Errno::EADDRNOTAVAIL, l::EADDRNOTAVAIL),
    (Errno::ENETDOWN, l::ENETDOWN),
    (Errno::ENETUNREACH, l::ENETUNREACH),
    (Errno::ENETRESET, l::ENETRESET),
    (Errno::ECONNABORTED, l::ECONNABORTED),
    (Errno::ECONNRESET, l::ECONNRESET),
    (Errno::ENOBUFS, l::ENOBUFS),
    (Errno::EISCONN, l::EISCONN),
    (Errno::ENOTCONN, l::ENOTCONN),
    (Errno::ESHUTDOWN, l::ESHUTDOWN),
    (Errno::ETOOMANYREFS, l::ETOOMANYREFS),
    (Errno::ETIMEDOUT, l::ETIMEDOUT),
    (Errno::ECONNREFUSED, l::ECONNREFUSED),
    (Errno::ELOOP, l::ELOOP),
    (Errno::ENAMETOOLONG, l::ENAMETOOLONG),
    (Errno::EHOSTDOWN, l::EHOSTDOWN),
    (Errno::EHOSTUNREACH, l::EHOSTUNREACH),
    (Errno::ENOTEMPTY, l::ENOTEMPTY),
    (Errno::EPROCLIM, l::EAGAIN),
    (Errno::EUSERS, l::EUSERS),
    (Errno::EDQUOT, l::EDQUOT),
    (Errno::ESTALE, l::ESTALE),
    (Errno::EREMOTE, l::EREMOTE),
    (Errno::EBADRPC, l::EIO),
    (Errno::ERPCMISMATCH, l::EIO),
    (Errno::EPROGUNAVAIL, l::EIO),
    (Errno::EPROGMISMATCH, l::EIO),
    (Errno::EPROCUNAVAIL, l::EIO),
    (Errno::ENOLCK, l::ENOLCK),
    (Errno::ENOSYS, l::ENOSYS),
    (Errno::EFTYPE, l::EINVAL),
    (Errno::EAUTH, l::EACCES),
    (Errno::ENEEDAUTH, l::EACCES),
    (Errno::EIDRM, l::EIDRM),
    (Errno::ENOMSG, l::ENOMSG),
    (Errno::EOVERFLOW, l::EOVERFLOW),
    (Errno::ECANCELED, l::ECANCELED),
    (Errno::EILSEQ, l::EILSEQ),
    (Errno::ENOATTR, l::ENODATA),
    (Errno::EDOOFUS, l::EIO),
    (Errno::EBADMSG, l::EBADMSG),
    (Errno::EMULTIHOP, l::EMULTIHOP),
    (Errno::ENOLINK, l::ENOLINK),
    (Errno::EPROTO, l::EPROTO),
];

/// The Linux errno a program gets for kernel errno `e` (positive; 0 stays 0).
/// A number outside FreeBSD's table becomes `EIO`.
pub fn errno_to_linux(e: Errno) -> i32 {
    if e.0 == 0 {
        return 0;
    }
    ERRNO_TABLE
        .iter()
        .find(|(b, _)| *b == e)
        .map_or(l::EIO, |(_, x)| *x)
}

/// The FreeBSD errno for Linux errno `e` (0 stays 0): the first row of
/// [`ERRNO_TABLE`] giving `e`; a Linux-only number becomes `EIO`.
pub fn errno_from_linux(e: i32) -> Errno {
    if e == 0 {
        return Errno(0);
    }
    ERRNO_TABLE
        .iter()
        .find(|(_, x)| *x == e)
        .map_or(Errno::EIO, |(b, _)| *b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_covers_every_freebsd_errno_once() {
        for (i, (b, x)) in ERRNO_TABLE.iter().enumerate() {
            assert_eq!(b.0, i as i32 + 1, "row {i} out of order");
            assert!((1..=133).contains(x), "{b:?} -> {x}");
            assert_eq!(errno_to_linux(*b), *x, "{b:?}");
            assert_ne!(b.name(), "E?", "{b:?} is not a FreeBSD errno");
        }
        assert_eq!(ERRNO_TABLE.len(), 92);
    }

    #[test]
    fn round_trips_where_one_to_one() {
        for (b, x) in ERRNO_TABLE {
            let back = errno_from_linux(*x);
            assert_eq!(errno_to_linux(back), *x, "{b:?}");
            let shared = ERRNO_TABLE.iter().filter(|(_, y)| y == x).count();
            if shared == 1 {
                assert_eq!(back, *b);
            }
        }
    }

    #[test]
    fn values_from_usr_include() {
        // asm-generic/errno.h and errno-base.h.
        let cases = [
            (Errno::EAGAIN, 11),
            (Errno::EDEADLK, 35),
            (Errno::EINPROGRESS, 115),
            (Errno::EALREADY, 114),
            (Errno::ENOTSOCK, 88),
            (Errno::EDESTADDRREQ, 89),
            (Errno::EMSGSIZE, 90),
            (Errno::EPROTOTYPE, 91),
            (Errno::ENOPROTOOPT, 92),
            (Errno::EPROTONOSUPPORT, 93),
            (Errno::ESOCKTNOSUPPORT, 94),
            (Errno::EOPNOTSUPP, 95),
            (Errno::EPFNOSUPPORT, 96),
            (Errno::EAFNOSUPPORT, 97),
            (Errno::EADDRINUSE, 98),
            (Errno::EADDRNOTAVAIL, 99),
            (Errno::ENETDOWN, 100),
            (Errno::ENETUNREACH, 101),
            (Errno::ENETRESET, 102),
            (Errno::ECONNABORTED, 103),
            (Errno::ECONNRESET, 104),
            (Errno::ENOBUFS, 105),
            (Errno::EISCONN, 106),
            (Errno::ENOTCONN, 107),
            (Errno::ESHUTDOWN, 108),
            (Errno::ETIMEDOUT, 110),
            (Errno::ECONNREFUSED, 111),
            (Errno::EHOSTDOWN, 112),
            (Errno::EHOSTUNREACH, 113),
            (Errno::ENAMETOOLONG, 36),
            (Errno::ELOOP, 40),
            (Errno::ENOTEMPTY, 39),
            (Errno::ENOSYS, 38),
            (Errno::ENOLCK, 37),
            (Errno::ECANCELED, 125),
            (Errno::EOVERFLOW, 75),
            (Errno::EPROTO, 71),
            (Errno::EDOOFUS, 5),
            (Errno::ENOATTR, 61),
            (Errno::EINVAL, 22),
            (Errno::EPIPE, 32),
        ];
        for (b, x) in cases {
            assert_eq!(errno_to_linux(b), x, "{b:?}");
        }
        assert_eq!(errno_to_linux(Errno(0)), 0);
        assert_eq!(errno_to_linux(Errno(93)), 5);
        assert_eq!(errno_to_linux(Errno(-1)), 5);
        assert_eq!(errno_from_linux(11), Errno::EAGAIN);
        assert_eq!(errno_from_linux(35), Errno::EDEADLK);
        assert_eq!(errno_from_linux(5), Errno::EIO);
        assert_eq!(errno_from_linux(13), Errno::EACCES);
        assert_eq!(errno_from_linux(22), Errno::EINVAL);
        assert_eq!(errno_from_linux(121), Errno::EIO); // EREMOTEIO: Linux only
        assert_eq!(errno_from_linux(0), Errno(0));
    }
}
