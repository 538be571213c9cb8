//! ioctl command encoding (sys/sys/ioccom.h): direction, parameter length, group, number.

/// Parameter length mask: 13 bits.
pub const IOCPARM_MASK: u32 = 0x1fff;
/// No parameters.
pub const IOC_VOID: u32 = 0x2000_0000;
/// Copy parameters out of the kernel.
pub const IOC_OUT: u32 = 0x4000_0000;
/// Copy parameters into the kernel.
pub const IOC_IN: u32 = 0x8000_0000;
/// Copy parameters in and out.
pub const IOC_INOUT: u32 = IOC_IN | IOC_OUT;

/// Build an ioctl number.
pub const fn ioc(inout: u32, group: u8, num: u8, len: usize) -> u32 {
    inout | (((len as u32) & IOCPARM_MASK) << 16) | ((group as u32) << 8) | num as u32
}
/// `_IOW(g, n, t)`: the kernel reads a `t`.
pub const fn iow(group: u8, num: u8, len: usize) -> u32 {
    ioc(IOC_IN, group, num, len)
}
/// `_IOR(g, n, t)`: the kernel writes a `t`.
pub const fn ior(group: u8, num: u8, len: usize) -> u32 {
    ioc(IOC_OUT, group, num, len)
}
/// `_IOWR(g, n, t)`: both directions.
pub const fn iowr(group: u8, num: u8, len: usize) -> u32 {
    ioc(IOC_INOUT, group, num, len)
}
/// The parameter length encoded in an ioctl number.
pub const fn iocparm_len(cmd: u32) -> usize {
    ((cmd >> 16) & IOCPARM_MASK) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_freebsd_numbers() {
        // SIOCGIFFLAGS = _IOWR('i', 17, struct ifreq) = 0xc0206911 on FreeBSD.
        assert_eq!(iowr(b'i', 17, 32), 0xc020_6911);
        // SIOCSIFFLAGS = _IOW('i', 16, struct ifreq) = 0x80206910.
        assert_eq!(iow(b'i', 16, 32), 0x8020_6910);
        assert_eq!(iocparm_len(0xc020_6911), 32);
    }
}
