//! The socket API's constants (FreeBSD's `sys/socket.h`, `sys/poll.h`,
//! `sys/fcntl.h`, `sys/filio.h`, `netinet/tcp.h`) and the `kern.file` record
//! that `sockstat` reads.

use crate::ioccom::{ior, iow};
use crate::wire::{Reader, Writer};
use crate::Errno;

/// `MSG_OOB`.
pub const MSG_OOB: i32 = 0x1;
/// `MSG_PEEK`: look at the data without consuming it.
pub const MSG_PEEK: i32 = 0x2;
/// `MSG_WAITALL`: a stream receive waits for the full request (or EOF, error).
pub const MSG_WAITALL: i32 = 0x40;
/// `MSG_DONTWAIT`: this call does not block.
pub const MSG_DONTWAIT: i32 = 0x80;
/// `MSG_NOSIGNAL`: no `SIGPIPE` on a broken stream (there are no signals here).
pub const MSG_NOSIGNAL: i32 = 0x20000;

/// `SOCK_NONBLOCK` flag for `accept4`/`socket`.
pub const SOCK_NONBLOCK: i32 = 0x2000_0000;

/// `SOL_SOCKET`.
pub const SOL_SOCKET: i32 = 0xffff;
/// `SO_ACCEPTCONN` (read only).
pub const SO_ACCEPTCONN: i32 = 0x2;
/// `SO_REUSEADDR`.
pub const SO_REUSEADDR: i32 = 0x4;
/// `SO_KEEPALIVE`.
pub const SO_KEEPALIVE: i32 = 0x8;
/// `SO_BROADCAST`.
pub const SO_BROADCAST: i32 = 0x20;
/// `SO_LINGER` (value: `struct linger`, two `int`s).
pub const SO_LINGER: i32 = 0x80;
/// `SO_REUSEPORT`.
pub const SO_REUSEPORT: i32 = 0x200;
/// `SO_SNDBUF`.
pub const SO_SNDBUF: i32 = 0x1001;
/// `SO_RCVBUF`.
pub const SO_RCVBUF: i32 = 0x1002;
/// `SO_SNDTIMEO` (value: `struct timeval`, two little-endian i64).
pub const SO_SNDTIMEO: i32 = 0x1005;
/// `SO_RCVTIMEO` (value: `struct timeval`, two little-endian i64).
pub const SO_RCVTIMEO: i32 = 0x1006;
/// `SO_ERROR` (read only; reading clears it).
pub const SO_ERROR: i32 = 0x1007;
/// `SO_TYPE` (read only).
pub const SO_TYPE: i32 = 0x1008;

/// `IPPROTO_TCP` option: disable Nagle.
pub const TCP_NODELAY: i32 = 0x1;
/// `IPPROTO_TCP` option: the maximum segment size.
pub const TCP_MAXSEG: i32 = 0x2;
/// `IPPROTO_TCP` option (read only): a [`TcpInfo`] snapshot.
pub const TCP_INFO: i32 = 0x20;

/// `sizeof(struct tcp_info)` (netinet/tcp.h).
pub const TCP_INFO_LEN: usize = 236;
/// `TCPI_OPT_TIMESTAMPS`.
pub const TCPI_OPT_TIMESTAMPS: u8 = 0x01;
/// `TCPI_OPT_SACK`.
pub const TCPI_OPT_SACK: u8 = 0x02;
/// `TCPI_OPT_WSCALE`.
pub const TCPI_OPT_WSCALE: u8 = 0x04;

/// `struct tcp_info`: what `getsockopt(TCP_INFO)` reports (the fields the
/// kernel fills; the rest of the image is zero).  Times are microseconds,
/// windows and thresholds bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpInfo {
    /// `tcpi_state`: the `TCPS_*` state.
    pub state: u8,
    /// `tcpi_options`: `TCPI_OPT_*`.
    pub options: u8,
    /// `tcpi_snd_wscale`.
    pub snd_wscale: u8,
    /// `tcpi_rcv_wscale`.
    pub rcv_wscale: u8,
    /// `tcpi_rto` (µs).
    pub rto: u32,
    /// `tcpi_snd_mss`.
    pub snd_mss: u32,
    /// `tcpi_rcv_mss`.
    pub rcv_mss: u32,
    /// `tcpi_last_data_recv`: µs since the last segment arrived.
    pub last_data_recv: u32,
    /// `tcpi_rtt`: smoothed round-trip time (µs).
    pub rtt: u32,
    /// `tcpi_rttvar` (µs).
    pub rttvar: u32,
    /// `tcpi_snd_ssthresh` (bytes).
    pub snd_ssthresh: u32,
    /// `tcpi_snd_cwnd` (bytes).
    pub snd_cwnd: u32,
    /// `tcpi_rcv_space`: the advertised receive window (bytes).
    pub rcv_space: u32,
    /// `tcpi_snd_wnd`: the peer's advertised window (bytes).
    pub snd_wnd: u32,
    /// `tcpi_snd_nxt`.
    pub snd_nxt: u32,
    /// `tcpi_rcv_nxt`.
    pub rcv_nxt: u32,
    /// `tcpi_snd_rexmitpack`: data segments retransmitted.
    pub snd_rexmitpack: u32,
}

impl TcpInfo {
    /// The `struct tcp_info` image ([`TCP_INFO_LEN`] bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![0u8; TCP_INFO_LEN];
        b[0] = self.state;
        b[5] = self.options;
        b[6] = (self.snd_wscale & 0xf) | (self.rcv_wscale << 4);
        for (off, v) in [
            (8, self.rto),
            (16, self.snd_mss),
            (20, self.rcv_mss),
            (52, self.last_data_recv),
            (68, self.rtt),
            (72, self.rttvar),
            (76, self.snd_ssthresh),
            (80, self.snd_cwnd),
            (96, self.rcv_space),
            (100, self.snd_wnd),
            (108, self.snd_nxt),
            (112, self.rcv_nxt),
            (120, self.snd_rexmitpack),
        ] {
            b[off..off + 4].copy_from_slice(&v.to_le_bytes());
        }
        b
    }

    /// Parse an image (at least [`TCP_INFO_LEN`] bytes).
    pub fn from_bytes(b: &[u8]) -> Option<TcpInfo> {
        if b.len() < TCP_INFO_LEN {
            return None;
        }
        let u = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        Some(TcpInfo {
            state: b[0],
            options: b[5],
            snd_wscale: b[6] & 0xf,
            rcv_wscale: b[6] >> 4,
            rto: u(8),
            snd_mss: u(16),
            rcv_mss: u(20),
            last_data_recv: u(52),
            rtt: u(68),
            rttvar: u(72),
            snd_ssthresh: u(76),
            snd_cwnd: u(80),
            rcv_space: u(96),
            snd_wnd: u(100),
            snd_nxt: u(108),
            rcv_nxt: u(112),
            snd_rexmitpack: u(120),
        })
    }
}

/// `shutdown(SHUT_RD)`.
pub const SHUT_RD: i32 = 0;
/// `shutdown(SHUT_WR)`.
pub const SHUT_WR: i32 = 1;
/// `shutdown(SHUT_RDWR)`.
pub const SHUT_RDWR: i32 = 2;

/// `POLLIN`.
pub const POLLIN: u32 = 0x1;
/// `POLLPRI`.
pub const POLLPRI: u32 = 0x2;
/// `POLLOUT`.
pub const POLLOUT: u32 = 0x4;
/// `POLLERR` (always reported).
pub const POLLERR: u32 = 0x8;
/// `POLLHUP` (always reported).
pub const POLLHUP: u32 = 0x10;
/// `POLLNVAL`: not an open descriptor (always reported).
pub const POLLNVAL: u32 = 0x20;
/// `INFTIM`: poll without a timeout.
pub const INFTIM: i32 = -1;
/// Most descriptors one `poll` may list.
pub const POLL_MAX: usize = 1024;

/// `fcntl` `F_GETFL`.
pub const F_GETFL: i32 = 3;
/// `fcntl` `F_SETFL`.
pub const F_SETFL: i32 = 4;
/// `O_NONBLOCK` file status flag.
pub const O_NONBLOCK: i32 = 0x4;
/// `O_RDWR`: what `F_GETFL` reports for a socket besides `O_NONBLOCK`.
pub const O_RDWR: i32 = 0x2;

/// `FIONBIO`: set/clear non-blocking mode (`int`).
pub const FIONBIO: u32 = iow(b'f', 126, 4);
/// `FIONREAD`: bytes waiting to be received (`int`).
pub const FIONREAD: u32 = ior(b'f', 127, 4);

/// One open socket descriptor as `kern.file` reports it (what `sockstat` and
/// `fstat` read): its owner, its number, what it is and its addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XFile {
    /// Host pid of the owning process.
    pub pid: u32,
    /// Descriptor number.
    pub fd: i32,
    /// `PF_*`.
    pub domain: i32,
    /// `SOCK_*`.
    pub ty: i32,
    /// Protocol number (0: the domain's default for the type).
    pub proto: i32,
    /// Whether the socket is listening (`SO_ACCEPTCONN`).
    pub listening: bool,
    /// Local address image (empty: none).
    pub laddr: Vec<u8>,
    /// Foreign address image (empty: not connected).
    pub faddr: Vec<u8>,
}

impl XFile {
    /// Encode a list: a count, then the records.
    pub fn encode_list(list: &[XFile]) -> Vec<u8> {
        let mut w = Writer::new();
        w.u32(list.len() as u32);
        for f in list {
            w.u32(f.pid)
                .i32(f.fd)
                .i32(f.domain)
                .i32(f.ty)
                .i32(f.proto)
                .u8(u8::from(f.listening))
                .bytes(&f.laddr)
                .bytes(&f.faddr);
        }
        w.finish()
    }

    /// Decode a list; any malformation is `EINVAL`.
    pub fn decode_list(b: &[u8]) -> Result<Vec<XFile>, Errno> {
        let mut r = Reader::new(b);
        let n = r.u32()? as usize;
        let mut v = Vec::with_capacity(n.min(4096));
        for _ in 0..n {
            v.push(XFile {
                pid: r.u32()?,
                fd: r.i32()?,
                domain: r.i32()?,
                ty: r.i32()?,
                proto: r.i32()?,
                listening: r.u8()? != 0,
                laddr: r.bytes()?.to_vec(),
                faddr: r.bytes()?.to_vec(),
            });
        }
        r.end()?;
        Ok(v)
    }
}

/// The 8-byte `struct linger` image (`l_onoff`, `l_linger` seconds).
pub fn linger_bytes(onoff: bool, secs: i32) -> Vec<u8> {
    let mut v = Vec::with_capacity(8);
    v.extend_from_slice(&i32::from(onoff).to_le_bytes());
    v.extend_from_slice(&secs.to_le_bytes());
    v
}

#[cfg(test)]
mod tests {
    #[test]
    fn tcp_info_round_trips() {
        let i = super::TcpInfo {
            state: 4,
            options: 7,
            snd_wscale: 3,
            rcv_wscale: 9,
            rto: 1,
            snd_mss: 2,
            rcv_mss: 3,
            last_data_recv: 4,
            rtt: 5,
            rttvar: 6,
            snd_ssthresh: 7,
            snd_cwnd: 8,
            rcv_space: 9,
            snd_wnd: 10,
            snd_nxt: 11,
            rcv_nxt: 12,
            snd_rexmitpack: 13,
        };
        let b = i.to_bytes();
        assert_eq!(b.len(), super::TCP_INFO_LEN);
        assert_eq!(b[6], 0x93);
        assert_eq!(super::TcpInfo::from_bytes(&b), Some(i));
        assert_eq!(super::TcpInfo::from_bytes(&b[..100]), None);
    }
    use super::*;

    #[test]
    fn xfile_round_trip_and_truncation() {
        let l = vec![
            XFile {
                pid: 42,
                fd: 3,
                domain: 2,
                ty: 1,
                proto: 6,
                listening: true,
                laddr: vec![16, 2, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                faddr: vec![],
            },
            XFile {
                pid: 43,
                fd: 4,
                domain: 28,
                ty: 2,
                proto: 0,
                listening: false,
                laddr: vec![1; 28],
                faddr: vec![2; 28],
            },
        ];
        let b = XFile::encode_list(&l);
        assert_eq!(XFile::decode_list(&b).unwrap(), l);
        for n in 0..b.len() {
            assert_eq!(XFile::decode_list(&b[..n]), Err(Errno::EINVAL), "{n}");
        }
        let mut long = b.clone();
        long.push(0);
        assert_eq!(XFile::decode_list(&long), Err(Errno::EINVAL));
        assert_eq!(XFile::decode_list(&XFile::encode_list(&[])).unwrap(), []);
    }

    #[test]
    fn ioctl_numbers_are_freebsds() {
        assert_eq!(FIONBIO, 0x8004_667e);
        assert_eq!(FIONREAD, 0x4004_667f);
        assert_eq!(linger_bytes(true, 5), vec![1, 0, 0, 0, 5, 0, 0, 0]);
    }
}
