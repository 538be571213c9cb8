//! The host side of ng_ksocket: real UDP sockets of this machine, one receive
//! thread each, so netgraph links can cross between kernels.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use vimage_abi::Errno;
use vimage_kmod::netgraph::ng_ksocket::{KsockConn, KsockHost, KsockRx};

fn errno(e: std::io::Error) -> Errno {
    e.raw_os_error().map(Errno::from_host).unwrap_or(Errno::EIO)
}

/// Opens host UDP sockets.
pub struct HostUdp;

struct Conn {
    sock: Arc<UdpSocket>,
    rx: Option<KsockRx>,
    /// Set when the node lets go: the receive thread exits.
    closed: Arc<std::sync::atomic::AtomicBool>,
    started: bool,
}

impl Conn {
    /// Start the receive thread once the socket has an address.
    fn start(&mut self) {
        if self.started {
            return;
        }
        let Some(rx) = self.rx.take() else { return };
        self.started = true;
        let sock = self.sock.clone();
        let closed = self.closed.clone();
        let _ = std::thread::Builder::new()
            .name("ksocket".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                let mut buf = vec![0u8; 65_536];
                while !closed.load(std::sync::atomic::Ordering::Acquire) {
                    match sock.recv_from(&mut buf) {
                        Ok((n, from)) => rx(buf[..n].to_vec(), from),
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) => {}
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            });
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
    }
}

impl KsockConn for Conn {
    fn bind(&mut self, a: SocketAddr) -> Result<(), Errno> {
        // std binds at creation; rebinding means a new socket.
        let s = UdpSocket::bind(a).map_err(errno)?;
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(errno)?;
        if self.started {
            return Err(Errno::EINVAL);
        }
        self.sock = Arc::new(s);
        self.start();
        Ok(())
    }
    fn connect(&mut self, a: SocketAddr) -> Result<(), Errno> {
        self.sock.connect(a).map_err(errno)?;
        self.start();
        Ok(())
    }
    fn send(&mut self, data: &[u8], to: Option<SocketAddr>) -> Result<(), Errno> {
        match to {
            Some(t) => self.sock.send_to(data, t).map(|_| ()).map_err(errno),
            None => self.sock.send(data).map(|_| ()).map_err(errno),
        }
    }
    fn local(&self) -> Option<SocketAddr> {
        self.sock.local_addr().ok()
    }
    fn peer(&self) -> Option<SocketAddr> {
        self.sock.peer_addr().ok()
    }
}

impl KsockHost for HostUdp {
    fn open_udp(&self, rx: KsockRx) -> Result<Box<dyn KsockConn>, Errno> {
        // Unbound until told otherwise: an ephemeral wildcard socket, as
        // socreate() followed by an implicit bind on first use.
        let s = UdpSocket::bind("0.0.0.0:0").map_err(errno)?;
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(errno)?;
        Ok(Box::new(Conn {
            sock: Arc::new(s),
            rx: Some(rx),
            closed: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            started: false,
        }))
    }
}
