//! Routing sockets (FreeBSD's sys/net/rtsock.c): the PF_ROUTE domain.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, Weak};

use super::if_var::Ifnet;
use super::route::RtEntry;
use crate::kern::uipc_socket::SockBuf;

/// One open routing socket as the tables see it.
pub(crate) struct RtListener {
    /// Its receive buffer.
    pub sb: Weak<SockBuf>,
}

/// The routing sockets of one vnet.
#[derive(Default)]
pub(crate) struct RtSockList {
    list: Mutex<Vec<RtListener>>,
}

impl RtSockList {
    /// The vnet is going away: wake and forget every socket.
    pub fn shutdown(&self) {
        if let Ok(mut g) = self.list.lock() {
            for l in g.drain(..) {
                if let Some(sb) = l.sb.upgrade() {
                    sb.cantrcvmore();
                }
            }
        }
    }
}

/// Tell curvnet's routing sockets about a route change.
pub(crate) fn rt_notify_route(_cmd: u8, _rt: &Arc<RtEntry>, _errno: i32, _from: Option<u64>) {}

/// Tell curvnet's routing sockets about an address change.
pub(crate) fn rt_notify_addr(_cmd: u8, _ifp: &Arc<Ifnet>, _addr: IpAddr, _plen: u8) {}
