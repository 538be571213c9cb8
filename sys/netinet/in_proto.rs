//! The Internet domain (FreeBSD's sys/netinet/in_proto.c): which protocol a
//! `socket(PF_INET, type, protocol)` gets.
//!
//! | type | protocol | gets |
//! |---|---|---|
//! | `SOCK_DGRAM` | 0, `IPPROTO_UDP` | UDP |
//! | `SOCK_STREAM` | 0, `IPPROTO_TCP` | TCP |
//! | `SOCK_RAW` | any 0..=255 | raw IP of that protocol |
//!
//! Any AF_INET socket also carries the interface and address ioctls (ifconfig
//! opens a datagram socket for them).

use vimage_abi::netinet_in::{IPPROTO_UDP, PF_INET, SOCK_DGRAM, SOCK_RAW};
use vimage_abi::Errno;

use super::raw_ip::RawSocket;
use super::udp_usrreq::UdpSocket;
use vimage_kern::uipc_socket::{Domain, ProtoSocket};

/// `inetdomain`.
pub struct InetDomain;

impl Domain for InetDomain {
    fn family(&self) -> i32 {
        PF_INET
    }
    fn control(&self, cmd: u32, data: &[u8]) -> Option<Result<Vec<u8>, Errno>> {
        super::r#in::in_control_handles(cmd).then(|| super::r#in::in_control(cmd, data))
    }
    fn attach(&self, ty: i32, proto: i32) -> Result<Box<dyn ProtoSocket>, Errno> {
        match ty {
            SOCK_DGRAM if proto == 0 || proto == IPPROTO_UDP => Ok(Box::new(UdpSocket::attach())),
            SOCK_DGRAM => Err(Errno::EPROTONOSUPPORT),
            1 if proto == 0 || proto == 6 => {
                Ok(Box::new(super::tcp_usrreq::TcpSocket::attach(false)?))
            }
            SOCK_RAW => Ok(Box::new(RawSocket::attach(proto)?)),
            1 => Err(Errno::EPROTONOSUPPORT),
            _ => Err(Errno::ESOCKTNOSUPPORT),
        }
    }
}
