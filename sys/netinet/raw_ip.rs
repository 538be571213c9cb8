//! Raw IP sockets (FreeBSD's sys/netinet/raw_ip.c): `SOCK_RAW` sockets of a
//! protocol receive a copy of every datagram of that protocol addressed to the
//! vnet (header included), filtered by their bound and connected addresses; what
//! they send gets an IP header unless `IP_HDRINCL`.  This is what ping and
//! traceroute use.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use vimage_abi::netinet_in::{
    InPcbInfo, SockaddrIn, IPPROTO_IP, IPPROTO_RAW, IP_DEFAULT_MULTICAST_TTL,
};
use vimage_abi::Errno;

use super::in_mcast::{ip_getmoptions, ip_setmoptions, is_mcast_opt, IpMoptions};
use super::in_pcb::{InPcbInfo as InPcbTable, InpEndpoints, InpOpts};
use super::ip::{Ipv4Packet, IPVERSION, IP_HDR_LEN, IP_MAXPACKET};
use super::ip_output::{ip_build, ip_output_opt, IpMcastOut, IP_ALLOWBROADCAST, IP_RAWOUTPUT};
use super::ip_var::inc;
use super::r#in::in_localaddr;
use vimage_kern::uipc_socket::{ProtoSocket, SockBuf};
use vimage_net::if_var::Ifnet;
use vimage_net::mbuf::Mbuf;

/// `net.inet.raw.recvspace`.
pub const RIP_RECVSPACE: usize = 9216 * 8;

/// Which way a socket option goes (`sopt_dir`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SoptDir {
    /// `getsockopt`: the handler's answer goes back to the caller.
    Get,
    /// `setsockopt`.
    Set,
}

/// One socket option call as a protocol hands it on (`struct sockopt`).
#[derive(Clone, Copy, Debug)]
pub struct SockOpt<'a> {
    /// Get or set.
    pub dir: SoptDir,
    /// The option (`IP_FW_ADD`, ...).
    pub name: i32,
    /// What the caller's buffer held.
    pub val: &'a [u8],
}

/// The firewall's control entry (`ip_fw_ctl_ptr`): what a loaded firewall
/// plugs into each vnet's IPv4 ([`crate::VnetInet::ip_fw_ctl`]) to take a raw
/// socket's `IP_FW_*` options; it runs with curvnet set to the socket's vnet
/// and returns the data a get answers with.
pub type IpFwCtlFn = fn(&SockOpt<'_>) -> Result<Vec<u8>, Errno>;

/// Whether `name` (level `IPPROTO_IP`) is one of the firewall's options:
/// the table operations and `IP_FW_ADD` .. `IP_FW_RESETLOG`.
pub fn is_ip_fw_opt(name: i32) -> bool {
    use vimage_abi::ip_fw::*;
    (IP_FW_TABLE_ADD..=IP_FW_TABLE_LIST).contains(&name)
        || (IP_FW_ADD..=IP_FW_RESETLOG).contains(&name)
}

/// `rip_ctloutput`'s firewall case: the vnet's firewall handles the option,
/// or, with none loaded, `ENOPROTOOPT` (ipfw(8): "Protocol not available").
fn ip_fw_ctl(sopt: &SockOpt<'_>) -> Result<Vec<u8>, Errno> {
    let f = super::VNET_INET
        .try_with(|inet| inet.ip_fw_ctl.get().copied())
        .flatten()
        .ok_or(Errno::ENOPROTOOPT)?;
    f(sopt)
}

/// A raw socket's shared half.
pub struct RipCb {
    /// Protocol (0: every protocol).
    pub proto: u8,
    /// (bound local address, connected foreign address).
    pub addrs: Mutex<(Ipv4Addr, Ipv4Addr)>,
    /// Receive buffer.
    pub rcv: Arc<SockBuf>,
    /// Its id in the vnet's [`RipTable`].
    id: AtomicU64,
    /// `inp_moptions` (router discovery joins 224.0.0.1 / 224.0.0.2 and
    /// sends by chosen interfaces).
    pub moptions: Mutex<Option<IpMoptions>>,
}

impl RipCb {
    /// (bound local address, connected foreign address).
    pub fn addrs(&self) -> (Ipv4Addr, Ipv4Addr) {
        self.addrs
            .lock()
            .map(|g| *g)
            .unwrap_or((Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED))
    }
}

/// Where a raw socket of every protocol (0) is filed: beside the protocol
/// numbers, which take the place of a port.
const RIP_ANYPROTO: u16 = 0x100;

fn rip_key(proto: u8) -> u16 {
    if proto == 0 {
        RIP_ANYPROTO
    } else {
        u16::from(proto)
    }
}

/// The raw sockets of a vnet (`ripcbinfo`): the generic [`InPcbTable`]
/// with the protocol in place of the port, so a datagram is offered only to
/// the sockets of its protocol (and those of every protocol), not to all.
#[derive(Default)]
pub struct RipTable {
    info: InPcbTable<Arc<RipCb>>,
}

impl RipTable {
    /// The vnet goes away: wake every raw socket's sleepers for good.
    pub fn shutdown(&self) {
        for cb in self.info.drain() {
            cb.rcv.cantrcvmore();
        }
    }
    /// Tell the table `cb`'s addresses changed.
    fn sync(&self, cb: &RipCb) {
        let (l, f) = cb.addrs();
        self.info.set_endpoints(
            cb.id.load(Ordering::Relaxed),
            InpEndpoints {
                laddr: IpAddr::V4(l),
                lport: rip_key(cb.proto),
                faddr: IpAddr::V4(f),
                fport: 0,
                zone: 0,
            },
        );
    }
}

/// `rip_input`: offer datagram `m` to every raw socket that wants it; whether
/// any took it.
pub fn rip_input(ifp: &Arc<Ifnet>, m: &Mbuf) -> bool {
    let Some(inet) = super::try_vnet_inet() else {
        return false;
    };
    let d = m.data();
    let p = Ipv4Packet::new_unchecked(d);
    let (proto, src, dst) = (p.protocol(), p.src_addr(), p.dst_addr());
    let from = SockaddrIn::new(src, 0).to_bytes().to_vec();
    let mut any = false;
    let (dst, src) = (IpAddr::V4(dst), IpAddr::V4(src));
    for key in [rip_key(proto), RIP_ANYPROTO] {
        for cb in inet.ripcb.info.lookup_all(dst, key, src, 0) {
            // A group datagram only to sockets that joined it here, if
            // they have multicast options (`imo_multi_filter`).
            if let IpAddr::V4(g) = dst {
                if g.is_multicast()
                    && cb
                        .moptions
                        .lock()
                        .ok()
                        .is_some_and(|o| o.as_ref().is_some_and(|o| !o.is_member(g, ifp)))
                {
                    continue;
                }
            }
            any = true;
            let _ = cb.rcv.append(d.to_vec(), from.clone());
        }
    }
    any
}

/// A raw IP socket.
pub struct RawSocket {
    cb: Arc<RipCb>,
    opts: InpOpts,
}

impl RawSocket {
    /// `rip_attach` for protocol `proto` in curvnet (`IPPROTO_RAW` implies
    /// `IP_HDRINCL`).
    pub fn attach(proto: i32) -> Result<Self, Errno> {
        let proto = u8::try_from(proto).map_err(|_| Errno::EPROTONOSUPPORT)?;
        let cb = Arc::new(RipCb {
            proto,
            addrs: Mutex::new((Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED)),
            rcv: Arc::new(SockBuf::new(RIP_RECVSPACE)),
            id: AtomicU64::new(0),
            moptions: Mutex::new(None),
        });
        let ep = InpEndpoints {
            lport: rip_key(proto),
            ..InpEndpoints::unbound(false)
        };
        let id = super::vnet_inet().ripcb.info.insert(ep, cb.clone());
        cb.id.store(id, Ordering::Relaxed);
        let opts = InpOpts {
            hdrincl: i32::from(proto) == IPPROTO_RAW,
            ..Default::default()
        };
        Ok(RawSocket { cb, opts })
    }
}

impl ProtoSocket for RawSocket {
    fn bind(&mut self, addr: &[u8]) -> Result<(), Errno> {
        let sin = SockaddrIn::from_bytes(addr)?;
        if !sin.addr.is_unspecified() && !in_localaddr(sin.addr) {
            return Err(Errno::EADDRNOTAVAIL);
        }
        if let Ok(mut g) = self.cb.addrs.lock() {
            g.0 = sin.addr;
        }
        super::vnet_inet().ripcb.sync(&self.cb);
        Ok(())
    }

    fn connect(&mut self, addr: &[u8]) -> Result<(), Errno> {
        let sin = SockaddrIn::from_bytes(addr)?;
        if let Ok(mut g) = self.cb.addrs.lock() {
            g.1 = sin.addr;
        }
        super::vnet_inet().ripcb.sync(&self.cb);
        Ok(())
    }

    fn sendto(&mut self, data: &[u8], addr: Option<&[u8]>, _flags: i32) -> Result<usize, Errno> {
        let inet = super::vnet_inet();
        let (laddr, faddr) = self.cb.addrs();
        let dst = match addr {
            Some(a) => {
                if !faddr.is_unspecified() {
                    return Err(Errno::EISCONN);
                }
                SockaddrIn::from_bytes(a)?.addr
            }
            None if !faddr.is_unspecified() => faddr,
            None => return Err(Errno::ENOTCONN),
        };
        let bflag = if self.opts.broadcast {
            IP_ALLOWBROADCAST
        } else {
            0
        };
        let m = if self.opts.hdrincl {
            if data.len() < IP_HDR_LEN || data.len() > IP_MAXPACKET {
                return Err(Errno::EINVAL);
            }
            let p = Ipv4Packet::new_unchecked(data);
            let hl = p.header_len();
            if p.version() != IPVERSION
                || hl < IP_HDR_LEN
                || hl > data.len()
                || usize::from(p.total_len()) != data.len()
            {
                return Err(Errno::EINVAL);
            }
            let mut m = Mbuf::from_slice(data);
            let mut q = Ipv4Packet::new_unchecked(m.data_mut());
            if q.src_addr().is_unspecified() && !laddr.is_unspecified() {
                q.set_src_addr(laddr);
            }
            m
        } else {
            if data.len() + IP_HDR_LEN > IP_MAXPACKET {
                return Err(Errno::EMSGSIZE);
            }
            let ttl = if dst.is_multicast() {
                self.cb
                    .moptions
                    .lock()
                    .ok()
                    .and_then(|g| g.as_ref().map(|o| o.ttl))
                    .unwrap_or(IP_DEFAULT_MULTICAST_TTL)
            } else {
                self.opts.ttl.unwrap_or_else(|| inet.defttl())
            };
            ip_build(laddr, dst, self.cb.proto, ttl, self.opts.tos, data)
        };
        inc(&inet.ipstat.ips_rawout);
        let flags = if self.opts.hdrincl { IP_RAWOUTPUT } else { 0 } | bflag;
        let mo = dst.is_multicast().then(|| {
            let g = self.cb.moptions.lock().ok();
            let imo = g.as_ref().and_then(|g| g.as_ref());
            IpMcastOut {
                ifp: imo.and_then(|o| o.multicast_ifp()),
                loop_: imo.is_none_or(|o| o.loop_),
            }
        });
        ip_output_opt(m, flags, mo.as_ref())?;
        Ok(data.len())
    }

    fn setsockopt(&mut self, level: i32, name: i32, val: &[u8]) -> Result<(), Errno> {
        if level == IPPROTO_IP && is_ip_fw_opt(name) {
            let dir = SoptDir::Set;
            return ip_fw_ctl(&SockOpt { dir, name, val }).map(drop);
        }
        if level == IPPROTO_IP && is_mcast_opt(name) {
            let mut g = self.cb.moptions.lock().map_err(|_| Errno::EDOOFUS)?;
            return ip_setmoptions(&mut g, name, val);
        }
        self.opts.set(level, name, val, true)
    }

    fn getsockopt_in(&mut self, level: i32, name: i32, val: &[u8]) -> Result<Vec<u8>, Errno> {
        if level == IPPROTO_IP && is_ip_fw_opt(name) {
            let dir = SoptDir::Get;
            return ip_fw_ctl(&SockOpt { dir, name, val });
        }
        self.getsockopt(level, name)
    }

    fn getsockopt(&mut self, level: i32, name: i32) -> Result<Vec<u8>, Errno> {
        if level == IPPROTO_IP && is_mcast_opt(name) {
            let g = self.cb.moptions.lock().map_err(|_| Errno::EDOOFUS)?;
            return ip_getmoptions(&g, name);
        }
        let ttl = super::vnet_inet().defttl();
        self.opts.get(level, name, ttl, true)
    }

    fn close(&mut self) {
        if let Ok(mut g) = self.cb.moptions.lock() {
            if let Some(o) = g.as_mut() {
                o.leave_all();
            }
        }
        if let Some(inet) = super::try_vnet_inet() {
            inet.ripcb.info.remove(self.cb.id.load(Ordering::Relaxed));
        }
        self.cb.rcv.cantrcvmore();
    }

    fn rcvbuf(&self) -> Option<Arc<SockBuf>> {
        Some(self.cb.rcv.clone())
    }
}

/// `net.inet.raw.pcblist` of curvnet.
pub fn rip_pcblist() -> Vec<u8> {
    let v: Vec<InPcbInfo> = super::vnet_inet()
        .ripcb
        .info
        .list()
        .iter()
        .map(|(_, cb)| {
            let (laddr, faddr) = cb.addrs();
            InPcbInfo {
                proto: cb.proto,
                laddr,
                lport: 0,
                faddr,
                fport: 0,
                rcv_cc: cb.rcv.cc() as u32,
                snd_cc: 0,
                tcp_state: None,
                inet6: None,
            }
        })
        .collect();
    InPcbInfo::encode_list(&v)
}
