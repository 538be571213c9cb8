//! ng_ksocket.ko: a node whose hook is a socket (FreeBSD's
//! sys/netgraph/ng_ksocket.c).
//!
//! Here the socket is a real host UDP socket, so two kernels — on one machine or
//! on two — can be joined by a netgraph link (`mkpeer ksocket link inet/dgram/udp`,
//! then `bind`/`connect` messages).  The host side is injected by the embedding
//! ([`KsockHost`], installed with [`set_ksock_host`]); the core does no I/O.

use std::any::Any;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Weak};

use vimage_abi::Errno;
use vimage_kern::kern::kern_linker::KldModule;
use vimage_kern::kern::vnet::{Vnet, VNET_MOD_NG_EIFACE};
use vimage_kern::net::netisr::netisr_enter;
use vimage_kern::{curvnet, Kernel};
use vimage_netgraph::ng_parse::NgParseType;
use vimage_netgraph::{NgCmd, NgCtx, NgMesg, NgNode, NgType, NodeId};

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

struct HostSlot(Arc<dyn KsockHost>);

/// Install the host socket provider (vkernel does at boot; tests install a fake).
pub fn set_ksock_host(k: &Kernel, h: Arc<dyn KsockHost>) {
    k.registry()
        .set_global(KSOCK_HOST_SLOT, Some(Arc::new(HostSlot(h))));
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
        let vnet = curvnet();
        let k = super::ng_base::ng_global(&vnet)
            .and_then(|g| g.kernel.upgrade())
            .ok_or(Errno::ENXIO)?;
        let host = k
            .registry()
            .global::<HostSlot>(KSOCK_HOST_SLOT)
            .ok_or(Errno::EPROTONOSUPPORT)?;
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
        self.conn = Some(host.0.open_udp(rx)?);
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
    fn rcvdata(&mut self, _ctx: &mut NgCtx<'_>, _hook: &str, frame: Vec<u8>) {
        if let Some(c) = self.conn.as_mut() {
            let _ = c.send(&frame, None);
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
        require_netgraph(k)?.types.register(Arc::new(KsocketType))
    }
    fn unload(&self, k: &Arc<Kernel>) -> Result<(), Errno> {
        let g = require_netgraph(k)?;
        let n = count_type_everywhere(k, "ksocket");
        g.types.unregister("ksocket", n)
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
