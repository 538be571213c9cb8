//! ng_ksocket.ko: a node whose hook is a socket (FreeBSD's
//! sys/netgraph/ng_ksocket.c).
//!
//! As in FreeBSD, the socket lives in the stack of the vimage the node was made
//! in (`socreate` with curvnet set): `mkpeer ksocket link inet/dgram/udp`, then
//! `bind`/`connect` messages, makes a UDP socket of that vimage, bound to its
//! addresses and ports, and what it receives comes out of the hook.
//!
//! A *host* socket (a real UDP socket of the machine vkernel runs on, so two
//! kernels can be joined by a netgraph link) is opened only when asked for
//! explicitly, and only for a node of the default vimage: with the kernel-wide
//! `net.graph.ksocket.host` set to 1 (writable from the default vimage only,
//! where the kernel's owner works), ksocket nodes made in the default vimage
//! get host sockets.  Nodes made in any other vimage always get sockets of
//! their own stack: a tenant never binds or sends with vkernel's credentials.
//! The host side is injected by the embedding ([`KsockHost`], installed with
//! [`set_ksock_host`]); the core does no I/O.

use std::any::Any;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use vimage_abi::netinet_in::SockaddrIn;
use vimage_abi::Errno;
use vimage_inet::udp_usrreq::UdpSocket;
use vimage_kern::kern_linker::KldModule;
use vimage_kern::kern_resource::SoCharge;
use vimage_kern::uipc_socket::{ProtoSocket, SockBuf};
use vimage_kern::vnet::{CurvnetGuard, Vnet, VNET_MOD_NG_EIFACE};
use vimage_kern::{curvnet, Kernel};
use vimage_net::netisr::{netisr_enter, netisr_queue};
use vimage_netgraph::ng_parse::NgParseType;
use vimage_netgraph::{Mbuf, NgCmd, NgCtx, NgMesg, NgNode, NgType, NodeId};

use super::ng_base::{count_type_everywhere, ng_run, require_netgraph};

/// `NGM_KSOCKET_COOKIE`.
pub const NGM_KSOCKET_COOKIE: u32 = 942_710_669;
/// Bind the socket.
pub const NGM_KSOCKET_BIND: u32 = 1;
/// Listen (stream sockets).
pub const NGM_KSOCKET_LISTEN: u32 = 2;
/// Accept (stream sockets).
pub const NGM_KSOCKET_ACCEPT: u32 = 3;
/// Connect the socket.
pub const NGM_KSOCKET_CONNECT: u32 = 4;
/// Local address.
pub const NGM_KSOCKET_GETNAME: u32 = 5;
/// Peer address.
pub const NGM_KSOCKET_GETPEERNAME: u32 = 6;

/// Registry slot of the host socket provider (kernel-wide, next to the
/// interface node modules).
const KSOCK_HOST_SLOT: usize = VNET_MOD_NG_EIFACE + 1;

/// Delivers what a host socket receives: payload and source.
pub type KsockRx = Box<dyn Fn(Vec<u8>, SocketAddr) + Send + Sync>;

/// One open host socket.
pub trait KsockConn: Send {
    /// `bind(2)`.
    fn bind(&mut self, a: SocketAddr) -> Result<(), Errno>;
    /// `connect(2)`.
    fn connect(&mut self, a: SocketAddr) -> Result<(), Errno>;
    /// Send a datagram (to the connected peer when `to` is `None`).
    fn send(&mut self, data: &[u8], to: Option<SocketAddr>) -> Result<(), Errno>;
    /// Local address, once bound.
    fn local(&self) -> Option<SocketAddr>;
    /// Peer address, once connected.
    fn peer(&self) -> Option<SocketAddr>;
}

/// The embedding's way to open host sockets.
pub trait KsockHost: Send + Sync {
    /// Open a UDP socket; `rx` is called (from any thread) for each datagram.
    fn open_udp(&self, rx: KsockRx) -> Result<Box<dyn KsockConn>, Errno>;
}

/// The host socket provider and the switch that lets default's nodes use it.
struct HostSlot {
    host: Arc<dyn KsockHost>,
    /// `net.graph.ksocket.host`.
    enabled: Arc<AtomicI64>,
}

/// Install the host socket provider (vkernel does at boot; tests install a fake).
/// It is used only for nodes of the default vimage, and only while
/// `net.graph.ksocket.host` is 1 (it starts at 0).
pub fn set_ksock_host(k: &Kernel, h: Arc<dyn KsockHost>) {
    let enabled = k
        .registry()
        .global::<HostSlot>(KSOCK_HOST_SLOT)
        .map_or_else(|| Arc::new(AtomicI64::new(0)), |s| s.enabled.clone());
    k.registry().set_global(
        KSOCK_HOST_SLOT,
        Some(Arc::new(HostSlot { host: h, enabled })),
    );
}

/// Stack of the receive threads of sockets in a vimage's stack.
const RX_STACK: usize = 128 * 1024;

/// Largest datagram a ksocket hands to its hook.
const RX_MAX: usize = 65_536;

/// A UDP socket of a vimage's own stack, owned by a ksocket node (`so` of
/// `struct ng_ksocket_private`).  Not a descriptor of any process: it goes with
/// its node, so it does not count among the vimage's open sockets.
struct VnetConn {
    vnet: Weak<Vnet>,
    pcb: Arc<Mutex<Box<dyn ProtoSocket>>>,
    rcv: Arc<SockBuf>,
    /// Tells the receive thread to stop.
    closed: Arc<AtomicBool>,
    /// The socket counts in its vimage as any socket does (`vimage -l`,
    /// `kern.ipc.numopensockets`, the limits).
    _charge: SoCharge,
}

impl VnetConn {
    /// `socreate(PF_INET, SOCK_DGRAM, IPPROTO_UDP)` in `vnet`, with a thread
    /// that hands what arrives to `rx` (`so_upcall`).
    fn open(vnet: &Arc<Vnet>, rx: KsockRx) -> Result<Self, Errno> {
        let charge = SoCharge::take(vnet)?;
        let pcb: Box<dyn ProtoSocket> = {
            let _cv = CurvnetGuard::set(vnet);
            Box::new(UdpSocket::attach())
        };
        let rcv = pcb.rcvbuf().ok_or(Errno::EPROTONOSUPPORT)?;
        let conn = VnetConn {
            vnet: Arc::downgrade(vnet),
            pcb: Arc::new(Mutex::new(pcb)),
            rcv: rcv.clone(),
            closed: Arc::new(AtomicBool::new(false)),
            _charge: charge,
        };
        let closed = conn.closed.clone();
        std::thread::Builder::new()
            .name("ksocket".into())
            .stack_size(RX_STACK)
            .spawn(move || {
                let intr = || closed.load(Ordering::Acquire);
                loop {
                    match rcv.recv(RX_MAX, 0, None, &intr) {
                        Ok((data, from)) => {
                            let from = SockaddrIn::from_bytes(&from)
                                .map(|a| SocketAddr::V4(SocketAddrV4::new(a.addr, a.port)))
                                .unwrap_or(SocketAddr::V4(SocketAddrV4::new(
                                    Ipv4Addr::UNSPECIFIED,
                                    0,
                                )));
                            rx(data, from);
                        }
                        Err(Errno::EAGAIN) => {}
                        // Closed (ENOTCONN), told to stop (EINTR), or broken.
                        Err(_) => break,
                    }
                }
            })
            .map_err(|_| Errno::EAGAIN)?;
        Ok(conn)
    }

    fn with_pcb<R>(
        &self,
        f: impl FnOnce(&mut Box<dyn ProtoSocket>) -> Result<R, Errno>,
    ) -> Result<R, Errno> {
        let vnet = self.vnet.upgrade().ok_or(Errno::ENXIO)?;
        let _cv = CurvnetGuard::set(&vnet);
        let mut p = self.pcb.lock().map_err(|_| Errno::EDOOFUS)?;
        f(&mut p)
    }
}

fn sockaddr_image(a: SocketAddr) -> Result<Vec<u8>, Errno> {
    match a {
        SocketAddr::V4(a) => Ok(SockaddrIn::new(*a.ip(), a.port()).to_bytes().to_vec()),
        SocketAddr::V6(_) => Err(Errno::EAFNOSUPPORT),
    }
}

fn socket_addr(b: &[u8]) -> Option<SocketAddr> {
    let a = SockaddrIn::from_bytes(b).ok()?;
    Some(SocketAddr::V4(SocketAddrV4::new(a.addr, a.port)))
}

impl KsockConn for VnetConn {
    fn bind(&mut self, a: SocketAddr) -> Result<(), Errno> {
        let img = sockaddr_image(a)?;
        self.with_pcb(|p| p.bind(&img))
    }
    fn connect(&mut self, a: SocketAddr) -> Result<(), Errno> {
        let img = sockaddr_image(a)?;
        self.with_pcb(|p| p.connect(&img))
    }
    fn send(&mut self, data: &[u8], to: Option<SocketAddr>) -> Result<(), Errno> {
        // Called from inside the node's graph: the stack (whose output may
        // come back through a graph) runs once the graph is let go.
        let to = to.map(sockaddr_image).transpose()?;
        let (w, pcb, data) = (self.vnet.clone(), self.pcb.clone(), data.to_vec());
        netisr_queue(move || {
            // An entry into the socket's vnet (waited for by its destroy).
            let Some(_entry) = w.upgrade().and_then(|v| v.enter()) else {
                return;
            };
            if let Ok(mut p) = pcb.lock() {
                let _ = p.sendto(&data, to.as_deref(), 0);
            }
        });
        Ok(())
    }
    fn local(&self) -> Option<SocketAddr> {
        self.with_pcb(|p| p.sockname())
            .ok()
            .and_then(|b| socket_addr(&b))
    }
    fn peer(&self) -> Option<SocketAddr> {
        self.with_pcb(|p| p.peername())
            .ok()
            .and_then(|b| socket_addr(&b))
    }
}

impl Drop for VnetConn {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Release);
        // `soclose`: the port is free again and the receive thread wakes.
        match self.vnet.upgrade().filter(|v| v.is_alive()) {
            Some(v) => {
                let _cv = CurvnetGuard::set(&v);
                if let Ok(mut p) = self.pcb.lock() {
                    p.close();
                }
            }
            None => self.rcv.cantrcvmore(),
        }
    }
}

fn sockaddr_in(b: &[u8]) -> Result<SocketAddr, Errno> {
    if b.len() < 16 {
        return Err(Errno::EINVAL);
    }
    if b[1] != 2 {
        return Err(Errno::EAFNOSUPPORT);
    }
    let port = u16::from_be_bytes([b[2], b[3]]);
    let ip = Ipv4Addr::new(b[4], b[5], b[6], b[7]);
    Ok(SocketAddr::V4(SocketAddrV4::new(ip, port)))
}

fn to_sockaddr_in(a: SocketAddr) -> Vec<u8> {
    let mut v = vec![16, 2];
    v.extend_from_slice(&a.port().to_be_bytes());
    match a {
        SocketAddr::V4(a) => v.extend_from_slice(&a.ip().octets()),
        SocketAddr::V6(_) => v.extend_from_slice(&[0; 4]),
    }
    v.extend_from_slice(&[0; 8]);
    v
}

static CMDS: &[NgCmd] = &[
    NgCmd {
        cookie: NGM_KSOCKET_COOKIE,
        cmd: NGM_KSOCKET_BIND,
        name: "bind",
        arg: Some(&NgParseType::SockaddrIn),
        resp: None,
    },
    NgCmd {
        cookie: NGM_KSOCKET_COOKIE,
        cmd: NGM_KSOCKET_CONNECT,
        name: "connect",
        arg: Some(&NgParseType::SockaddrIn),
        resp: Some(&NgParseType::I32),
    },
    NgCmd {
        cookie: NGM_KSOCKET_COOKIE,
        cmd: NGM_KSOCKET_GETNAME,
        name: "getname",
        arg: None,
        resp: Some(&NgParseType::SockaddrIn),
    },
    NgCmd {
        cookie: NGM_KSOCKET_COOKIE,
        cmd: NGM_KSOCKET_GETPEERNAME,
        name: "getpeername",
        arg: None,
        resp: Some(&NgParseType::SockaddrIn),
    },
];

/// The `ksocket` type.
pub struct KsocketType;

/// One ksocket node.
pub struct KsocketNode {
    home: Weak<Vnet>,
    hook: Option<String>,
    conn: Option<Box<dyn KsockConn>>,
}

impl NgType for KsocketType {
    fn name(&self) -> &'static str {
        "ksocket"
    }
    fn cookie(&self) -> u32 {
        NGM_KSOCKET_COOKIE
    }
    fn constructor(&self, _ctx: &mut NgCtx<'_>) -> Result<Box<dyn NgNode>, Errno> {
        Ok(Box::new(KsocketNode {
            home: Arc::downgrade(&curvnet()),
            hook: None,
            conn: None,
        }))
    }
    fn cmdlist(&self) -> &'static [NgCmd] {
        CMDS
    }
}

/// Parse a hook name `family/type/proto` (names or numbers); only IPv4 UDP is
/// backed by host sockets.
fn parse_hook(name: &str) -> Result<(), Errno> {
    let p: Vec<&str> = name.split('/').collect();
    if p.len() != 3 {
        return Err(Errno::EINVAL);
    }
    let fam = match p[0] {
        "inet" | "2" => 2,
        "inet6" | "28" | "local" | "1" => return Err(Errno::EPROTONOSUPPORT),
        _ => return Err(Errno::EINVAL),
    };
    let ty = match p[1] {
        "dgram" | "2" => 2,
        "stream" | "1" | "raw" | "3" => return Err(Errno::EPROTONOSUPPORT),
        _ => return Err(Errno::EINVAL),
    };
    match (fam, ty, p[2]) {
        (2, 2, "udp" | "17" | "0") => Ok(()),
        _ => Err(Errno::EPROTONOSUPPORT),
    }
}

impl NgNode for KsocketNode {
    fn newhook(&mut self, ctx: &mut NgCtx<'_>, name: &str) -> Result<(), Errno> {
        if self.hook.is_some() {
            return Err(Errno::EISCONN);
        }
        parse_hook(name)?;
        let vnet = self.home.upgrade().ok_or(Errno::ENXIO)?;
        let k = super::ng_base::ng_global(&vnet)
            .and_then(|g| g.kernel.upgrade())
            .ok_or(Errno::ENXIO)?;
        // A host socket only for default's nodes, and only when asked for.
        let host = k
            .registry()
            .global::<HostSlot>(KSOCK_HOST_SLOT)
            .filter(|h| h.enabled.load(Ordering::Relaxed) != 0)
            .filter(|_| Arc::ptr_eq(&k.vimage0().vnet, &vnet));
        let home = self.home.clone();
        let node = ctx.node_id();
        let hook = name.to_owned();
        let h2 = hook.clone();
        let rx: KsockRx = Box::new(move |data, _from| {
            let Some(v) = home.upgrade() else { return };
            let _ns = netisr_enter();
            let h = h2.clone();
            ng_run(&v, move |s| {
                let _ = s.send_data(node, &h, data);
            });
        });
        self.conn = Some(match host {
            Some(h) => h.host.open_udp(rx)?,
            None => Box::new(VnetConn::open(&vnet, rx)?),
        });
        self.hook = Some(hook);
        Ok(())
    }
    fn rcvmsg(
        &mut self,
        _ctx: &mut NgCtx<'_>,
        msg: &NgMesg,
        _from: NodeId,
    ) -> Result<Option<Vec<u8>>, Errno> {
        if msg.header.typecookie != NGM_KSOCKET_COOKIE {
            return Err(Errno::EINVAL);
        }
        let conn = self.conn.as_mut().ok_or(Errno::ENXIO)?;
        match msg.header.cmd {
            NGM_KSOCKET_BIND => {
                conn.bind(sockaddr_in(&msg.data)?)?;
                Ok(None)
            }
            NGM_KSOCKET_CONNECT => {
                let r = conn
                    .connect(sockaddr_in(&msg.data)?)
                    .err()
                    .map_or(0, |e| e.0);
                Ok(Some(r.to_ne_bytes().to_vec()))
            }
            NGM_KSOCKET_GETNAME => Ok(Some(to_sockaddr_in(conn.local().ok_or(Errno::EINVAL)?))),
            NGM_KSOCKET_GETPEERNAME => {
                Ok(Some(to_sockaddr_in(conn.peer().ok_or(Errno::ENOTCONN)?)))
            }
            NGM_KSOCKET_LISTEN | NGM_KSOCKET_ACCEPT => Err(Errno::EOPNOTSUPP),
            _ => Err(Errno::EINVAL),
        }
    }
    fn rcvdata(&mut self, _ctx: &mut NgCtx<'_>, _hook: &str, frame: Mbuf) {
        if let Some(c) = self.conn.as_mut() {
            let _ = c.send(frame.data(), None);
        }
    }
    fn disconnect(&mut self, ctx: &mut NgCtx<'_>, _hook: &str) {
        // The socket goes with its hook, and so does the node.
        self.conn = None;
        self.hook = None;
        ctx.shutdown_self();
    }
    fn shutdown(&mut self, _ctx: &mut NgCtx<'_>) -> bool {
        self.conn = None;
        true
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// `ng_ksocket.ko`.
pub struct NgKsocketModule;

impl KldModule for NgKsocketModule {
    fn name(&self) -> &str {
        "ng_ksocket"
    }
    fn load(&self, k: &Arc<Kernel>) -> Result<(), Errno> {
        require_netgraph(k)?.types.register(Arc::new(KsocketType))?;
        if let Some(h) = k.registry().global::<HostSlot>(KSOCK_HOST_SLOT) {
            k.sysctl.add_int(
                "net.graph.ksocket.host",
                "ksocket nodes of the default vimage open host UDP sockets",
                h.enabled.clone(),
                true,
                0,
                1,
            );
        }
        Ok(())
    }
    fn unload(&self, k: &Arc<Kernel>) -> Result<(), Errno> {
        let g = require_netgraph(k)?;
        let n = count_type_everywhere(k, "ksocket");
        g.types.unregister("ksocket", n)?;
        k.sysctl.remove_prefix("net.graph.ksocket");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_names_and_addresses() {
        assert_eq!(parse_hook("inet/dgram/udp"), Ok(()));
        assert_eq!(parse_hook("2/2/17"), Ok(()));
        assert_eq!(parse_hook("inet/stream/tcp"), Err(Errno::EPROTONOSUPPORT));
        assert_eq!(parse_hook("bogus"), Err(Errno::EINVAL));
        assert_eq!(parse_hook("x/y/z"), Err(Errno::EINVAL));
        let a: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        assert_eq!(sockaddr_in(&to_sockaddr_in(a)), Ok(a));
        assert_eq!(sockaddr_in(&[16, 2, 0]), Err(Errno::EINVAL));
    }
}
