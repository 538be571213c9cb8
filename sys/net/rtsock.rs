//! Routing sockets (FreeBSD's sys/net/rtsock.c): the PF_ROUTE domain.
//!
//! `socket(PF_ROUTE, SOCK_RAW, family)` opens a socket on the routing tables of
//! the creator's vnet.  Writing an `rt_msghdr` (RTM_ADD, RTM_DELETE, RTM_CHANGE,
//! RTM_GET) performs it; the message comes back — `RTF_DONE` set, or `rtm_errno`
//! holding the error, which the write also returns — to every routing socket of
//! the vnet, the writer included unless it turned `SO_USELOOPBACK` off.  Changes
//! the stack makes on its own (interface routes, addresses) are announced the
//! same way.  A socket opened with a non-zero `family` hears only that family.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use vimage_abi::net_if::{AF_INET, AF_INET6, IFF_POINTOPOINT};
use vimage_abi::route::*;
use vimage_abi::Errno;

use super::if_var::Ifnet;
use super::r#if::{ifnet_byindex, ifunit, vnet_net};
use super::route::{self as rt, RtEntry, RtGateway};
use vimage_kern::uipc_socket::{Domain, ProtoSocket, SockBuf, SOL_SOCKET};

/// `SO_USELOOPBACK`: a routing socket hears its own messages (on by default).
pub const SO_USELOOPBACK: i32 = 0x40;

/// One open routing socket as the tables see it.
pub(crate) struct RtListener {
    id: u64,
    sb: Arc<SockBuf>,
    /// Address family filter (0: all).
    proto: i32,
    useloopback: AtomicBool,
}

/// The routing sockets of one vnet.
#[derive(Default)]
pub(crate) struct RtSockList {
    list: Mutex<Vec<Weak<RtListener>>>,
}

impl RtSockList {
    fn add(&self, l: &Arc<RtListener>) {
        if let Ok(mut g) = self.list.lock() {
            g.retain(|w| w.strong_count() > 0);
            g.push(Arc::downgrade(l));
        }
    }
    fn remove(&self, id: u64) {
        if let Ok(mut g) = self.list.lock() {
            g.retain(|w| w.upgrade().is_some_and(|l| l.id != id));
        }
    }
    fn snapshot(&self) -> Vec<Arc<RtListener>> {
        self.list
            .lock()
            .map(|g| g.iter().filter_map(|w| w.upgrade()).collect())
            .unwrap_or_default()
    }
    /// Number of open routing sockets (`route_cb.any_count`).
    pub fn count(&self) -> usize {
        self.snapshot().len()
    }
    /// The vnet is going away: wake and forget every socket.
    pub fn shutdown(&self) {
        let all = self.snapshot();
        if let Ok(mut g) = self.list.lock() {
            g.clear();
        }
        for l in all {
            l.sb.cantrcvmore();
        }
    }
}

/// The source address routing messages arrive from (`route_src`).
fn route_src() -> Vec<u8> {
    vec![2, vimage_abi::net_if::AF_ROUTE]
}

/// `rt_dispatch`/`raw_input`: queue `msg` on curvnet's routing sockets that
/// listen to `family` (0: a message of no family), skipping `skip`.
fn rt_dispatch(msg: &[u8], family: u8, skip: Option<u64>) {
    let Some(st) = rt::vnet_route() else { return };
    for l in st.socks.snapshot() {
        if Some(l.id) == skip {
            continue;
        }
        if l.proto != 0 && family != 0 && l.proto != i32::from(family) {
            continue;
        }
        // A full buffer drops the message (counted by the buffer), as sbappend.
        let _ = l.sb.append(msg.to_vec(), route_src());
    }
}

fn family_of(a: &IpAddr) -> u8 {
    if a.is_ipv6() {
        AF_INET6
    } else {
        AF_INET
    }
}

fn ifindex(ifp: &Ifnet) -> u32 {
    ifp.index.load(Ordering::Relaxed)
}

/// The interface's own link sockaddr (`ifp->if_addr->ifa_addr`).
pub fn ifp_sockaddr(ifp: &Ifnet) -> Sockaddr {
    Sockaddr::Link(SockaddrDl {
        len: 0,
        index: ifindex(ifp) as u16,
        iftype: ifp.iftype,
        name: ifp.name(),
        lladdr: ifp.lladdr(),
        sel: Vec::new(),
    })
}

/// An address as a sockaddr; IPv6 link-local ones carry their interface as the
/// scope id.
fn ip_sockaddr(a: IpAddr, scope: u32) -> Sockaddr {
    match rt::rt_unembed(a) {
        IpAddr::V6(addr) if addr.segments()[0] & 0xffc0 == 0xfe80 => Sockaddr::Inet6 {
            addr,
            scope_id: scope,
        },
        a => Sockaddr::from_ip(a),
    }
}

fn gateway_sockaddr(r: &RtEntry) -> Sockaddr {
    match &r.gateway {
        RtGateway::Link { ifindex } => Sockaddr::Link(SockaddrDl {
            len: SOCKADDR_DL_LEN,
            index: *ifindex as u16,
            iftype: r.ifp.iftype,
            ..Default::default()
        }),
        RtGateway::Inet(a) => ip_sockaddr(*a, ifindex(&r.ifp)),
    }
}

/// Fill `m` with what RTM_GET reports about `r` (also the body of kernel
/// notifications, without IFP/IFA when `ifp_ifa` is false).
fn fill_route(m: &mut RtMsg, r: &RtEntry, ifp_ifa: bool) {
    m.sa = Default::default();
    m.sa[0] = Some(ip_sockaddr(r.dst, ifindex(&r.ifp)));
    m.sa[1] = Some(gateway_sockaddr(r));
    if !r.is_host() {
        m.sa[2] = Some(Sockaddr::netmask(r.dst.is_ipv6(), r.plen));
    }
    if ifp_ifa {
        m.sa[4] = Some(ifp_sockaddr(&r.ifp));
        if let Some(a) = r.ifa {
            m.sa[5] = Some(ip_sockaddr(a, ifindex(&r.ifp)));
        }
        if r.ifp.flags() & IFF_POINTOPOINT != 0 {
            let brd = r
                .ifp
                .addr_list()
                .into_iter()
                .find_map(|x| (Some(x.addr) == r.ifa).then_some(x.dst).flatten());
            if let Some(b) = brd {
                m.sa[7] = Some(Sockaddr::from_ip(b));
            }
        }
    }
    m.hdr.index = ifindex(&r.ifp) as u16;
    m.hdr.flags = r.flags as i32;
    m.hdr.fmask = r.used.load(Ordering::Relaxed).min(i32::MAX as u64) as i32;
    m.hdr.rmx.mtu = u64::from(r.path_mtu());
    // Reported as seconds left.
    m.hdr.rmx.expire = match r.expire.load(Ordering::Relaxed) {
        0 => 0,
        e => e.saturating_sub(uptime_s()).max(1),
    };
}

fn uptime_s() -> u64 {
    vimage_kern::kern_timeout::getnow_ns() / 1_000_000_000
}

/// Announce a route change made by the stack (`rt_missmsg`) on curvnet's
/// routing sockets: DST, GATEWAY and NETMASK, `rtm_flags` the route's.
pub(crate) fn rt_notify_route(cmd: u8, r: &Arc<RtEntry>, errno: i32, from: Option<u64>) {
    let Some(st) = rt::vnet_route() else { return };
    if st.socks.count() == 0 {
        return;
    }
    let mut m = RtMsg::new(cmd);
    fill_route(&mut m, r, false);
    m.hdr.flags |= RTF_DONE as i32;
    m.hdr.errno = errno;
    m.hdr.fmask = 0;
    if let Ok(b) = m.to_bytes() {
        rt_dispatch(&b, family_of(&r.dst), from);
    }
}

/// Announce an address added to or removed from `ifp` (`rt_newaddrmsg`'s
/// RTM_NEWADDR/RTM_DELADDR half): IFA, NETMASK, IFP and BRD.
pub(crate) fn rt_notify_addr(cmd: u8, ifp: &Arc<Ifnet>, addr: IpAddr, plen: u8) {
    let Some(st) = rt::vnet_route() else { return };
    if st.socks.count() == 0 {
        return;
    }
    let mut m = IfaMsg {
        rtm_type: cmd,
        flags: 0,
        index: ifindex(ifp) as u16,
        metric: ifp.metric.load(Ordering::Relaxed) as i32,
        sa: Default::default(),
    };
    m.sa[2] = Some(Sockaddr::netmask(addr.is_ipv6(), plen));
    m.sa[4] = Some(ifp_sockaddr(ifp));
    m.sa[5] = Some(ip_sockaddr(addr, ifindex(ifp)));
    if let Some(b) = ifp
        .addr_list()
        .into_iter()
        .find(|a| a.addr == addr)
        .and_then(|a| a.dst)
    {
        m.sa[7] = Some(Sockaddr::from_ip(b));
    }
    if let Ok(b) = m.to_bytes() {
        rt_dispatch(&b, family_of(&addr), None);
    }
}

/// Announce an interface's status (`rt_ifmsg`: RTM_IFINFO) on curvnet's routing
/// sockets.
pub fn rt_ifmsg(ifp: &Arc<Ifnet>) {
    let up = ifp.flags() & vimage_abi::net_if::IFF_UP != 0;
    let m = IfMsg {
        flags: ifp.flags() as i32,
        index: ifindex(ifp) as u16,
        iftype: ifp.iftype,
        link_state: if up { LINK_STATE_UP } else { LINK_STATE_DOWN },
        mtu: u64::from(ifp.mtu.load(Ordering::Relaxed)),
        metric: u64::from(ifp.metric.load(Ordering::Relaxed)),
        sa: Default::default(),
    };
    if let Ok(b) = m.to_bytes() {
        rt_dispatch(&b, 0, None);
    }
}

/// Announce an interface's arrival or departure (`rt_ifannouncemsg`).
pub fn rt_ifannouncemsg(ifp: &Arc<Ifnet>, what: u16) {
    let m = IfAnnounceMsg {
        index: ifindex(ifp) as u16,
        name: ifp.name(),
        what,
    };
    if let Ok(b) = m.to_bytes() {
        rt_dispatch(&b, 0, None);
    }
}

// ---------------------------------------------------------------------------
// route_output

/// Whether `a` lies in `net/plen`.
fn covers(net: &IpAddr, plen: u8, a: &IpAddr) -> bool {
    let k = |x: &IpAddr| match x {
        IpAddr::V4(v) => u128::from(u32::from(*v)) << 96,
        IpAddr::V6(v) => u128::from(*v),
    };
    net.is_ipv6() == a.is_ipv6() && (k(net) ^ k(a)) & super::radix::mask128(plen) == 0
}

/// `ifa_ifwithaddr`: the interface of curvnet holding address `a`.
fn ifa_ifwithaddr(a: &IpAddr) -> Option<Arc<Ifnet>> {
    vnet_net()
        .list()
        .into_iter()
        .find(|i| i.addr_list().iter().any(|x| x.addr == *a))
}

/// `ifa_ifwithdstaddr` + `ifa_ifwithnet`: the interface whose point-to-point
/// peer is `g`, else the one with an address whose prefix covers `g` (the most
/// specific one).
fn ifa_ifwithnet(g: &IpAddr) -> Option<(Arc<Ifnet>, IpAddr)> {
    let list = vnet_net().list();
    for i in &list {
        if i.flags() & IFF_POINTOPOINT != 0 {
            if let Some(a) = i.addr_list().iter().find(|a| a.dst == Some(*g)) {
                return Some((i.clone(), a.addr));
            }
        }
    }
    let mut best: Option<(u8, Arc<Ifnet>, IpAddr)> = None;
    for i in &list {
        if i.flags() & IFF_POINTOPOINT != 0 {
            continue;
        }
        for a in i.addr_list() {
            if covers(&a.addr, a.plen, g) && best.as_ref().is_none_or(|b| a.plen > b.0) {
                best = Some((a.plen, i.clone(), a.addr));
            }
        }
    }
    best.map(|(_, i, a)| (i, a))
}

/// The source address `ifp` offers for `dst`: one of its addresses of that
/// family covering `dst`, else its first of the family (`ifaof_ifpforaddr`).
fn ifaof_ifpforaddr(dst: &IpAddr, ifp: &Ifnet) -> Option<IpAddr> {
    let l = ifp.addr_list();
    l.iter()
        .find(|a| covers(&a.addr, a.plen, dst))
        .or_else(|| l.iter().find(|a| a.addr.is_ipv6() == dst.is_ipv6()))
        .map(|a| a.addr)
}

/// The interface a link sockaddr names: by index, else by name.
fn ifp_of_sdl(d: &SockaddrDl) -> Option<Arc<Ifnet>> {
    if d.index != 0 {
        ifnet_byindex(u32::from(d.index))
    } else if !d.name.is_empty() {
        ifunit(&d.name)
    } else {
        None
    }
}

/// What an RTM_ADD/RTM_CHANGE resolves its gateway and interface to
/// (`rt_getifa`): ENETUNREACH when no interface reaches the gateway.
fn rt_getifa(
    dst: &IpAddr,
    gw: &Sockaddr,
    flags: u32,
    ifp_sa: Option<&Sockaddr>,
    ifa_sa: Option<&Sockaddr>,
) -> Result<(RtGateway, Arc<Ifnet>, Option<IpAddr>), Errno> {
    let want_ifp = match ifp_sa {
        Some(Sockaddr::Link(d)) => ifp_of_sdl(d),
        _ => None,
    };
    let want_ifa = ifa_sa.and_then(|s| s.ip());
    match gw {
        Sockaddr::Link(d) => {
            let ifp = ifp_of_sdl(d).or(want_ifp).ok_or(Errno::ENETUNREACH)?;
            let ifa = want_ifa.or_else(|| ifaof_ifpforaddr(dst, &ifp));
            Ok((
                RtGateway::Link {
                    ifindex: ifindex(&ifp),
                },
                ifp,
                ifa,
            ))
        }
        s => {
            let g = rt::rt_unembed(s.ip().ok_or(Errno::EINVAL)?);
            // A scoped IPv6 gateway names its interface.
            let want_ifp = want_ifp.or_else(|| sockaddr_scope(s).and_then(ifnet_byindex));
            if g.is_ipv6() != dst.is_ipv6() {
                return Err(Errno::EINVAL);
            }
            if flags & RTF_GATEWAY == 0 {
                // -interface with an address: one of our own.
                let ifp = match want_ifp {
                    Some(i) => i,
                    None => ifa_ifwithaddr(&g)
                        .or_else(|| ifa_ifwithnet(&g).map(|x| x.0))
                        .ok_or(Errno::ENETUNREACH)?,
                };
                let ifa =
                    want_ifa.or(Some(g).filter(|g| ifp.addr_list().iter().any(|a| a.addr == *g)));
                let ifa = ifa.or_else(|| ifaof_ifpforaddr(dst, &ifp));
                return Ok((
                    RtGateway::Link {
                        ifindex: ifindex(&ifp),
                    },
                    ifp,
                    ifa,
                ));
            }
            let (ifp, ifa) = match want_ifp {
                Some(i) => {
                    let a = ifaof_ifpforaddr(&g, &i);
                    (i, a)
                }
                None => match ifa_ifwithnet(&g) {
                    Some((i, a)) => (i, Some(a)),
                    None => {
                        // Reachable through a route other than the default.
                        let r = rt::rtalloc(g).filter(|r| r.plen > 0);
                        let r = r.ok_or(Errno::ENETUNREACH)?;
                        (r.ifp.clone(), r.ifa)
                    }
                },
            };
            Ok((RtGateway::Inet(g), ifp, want_ifa.or(ifa)))
        }
    }
}

/// The interface a link-local IPv6 sockaddr is scoped to: its `sin6_scope_id`,
/// else the index embedded in its second word (KAME).
fn sockaddr_scope(s: &Sockaddr) -> Option<u32> {
    match s {
        Sockaddr::Inet6 { addr, scope_id } if addr.segments()[0] & 0xffc0 == 0xfe80 => {
            let embedded = u32::from(addr.segments()[1]);
            [*scope_id, embedded].into_iter().find(|&x| x != 0)
        }
        _ => None,
    }
}

/// The destination, prefix length and scope a request names.
fn request_dst(m: &RtMsg) -> Result<(IpAddr, u8, Option<u32>), Errno> {
    let dst_sa = m.sa[0].as_ref().ok_or(Errno::EINVAL)?;
    let dst = dst_sa.ip().ok_or(Errno::EAFNOSUPPORT)?;
    let scope = sockaddr_scope(dst_sa);
    let dst = rt::rt_unembed(dst);
    let width = if dst.is_ipv6() { 128 } else { 32 };
    let plen = match &m.sa[2] {
        Some(mask) if m.hdr.flags as u32 & RTF_HOST == 0 => mask.mask_plen(dst.is_ipv6())?,
        _ => width,
    };
    Ok((dst, plen, scope))
}

/// Perform one request; on success the message to echo.
fn route_output(m: &mut RtMsg) -> Result<(), Errno> {
    let (dst, plen, scope) = request_dst(m)?;
    let flags = m.hdr.flags as u32;
    match m.hdr.rtm_type {
        RTM_ADD => {
            let gw = m.sa[1].as_ref().ok_or(Errno::EINVAL)?;
            let (g, ifp, ifa) = rt_getifa(&dst, gw, flags, m.sa[4].as_ref(), m.sa[5].as_ref())?;
            let keep = flags & !(RTF_DONE | RTF_HOST | RTF_UP);
            let keep = match g {
                RtGateway::Inet(_) => keep,
                RtGateway::Link { .. } => keep & !RTF_GATEWAY,
            };
            let r = rt::rt_add_quiet(dst, plen, g, &ifp, ifa, keep)?;
            set_metrics(&r, m);
            m.hdr.index = ifindex(&ifp) as u16;
            Ok(())
        }
        RTM_DELETE => {
            let r = rt::rt_delete_quiet(dst, plen, scope)?;
            let req = m.hdr;
            fill_route(m, &r, false);
            m.hdr.rtm_type = req.rtm_type;
            m.hdr.pid = req.pid;
            m.hdr.seq = req.seq;
            Ok(())
        }
        RTM_GET => {
            // With a netmask the exact prefix (rn_lookup), else the longest
            // match (rn_match), whatever RTF_HOST says.
            let r = if m.sa[2].is_some() {
                rt::rt_lookup_scoped(dst, plen, scope)
            } else {
                match scope {
                    Some(s) => rt::rtalloc_scoped(dst, s),
                    None => rt::rtalloc(dst),
                }
            };
            let r = r.ok_or(Errno::ESRCH)?;
            fill_route(m, &r, true);
            Ok(())
        }
        RTM_CHANGE | RTM_LOCK => {
            let old = rt::rt_lookup_scoped(dst, plen, scope).ok_or(Errno::ESRCH)?;
            if m.hdr.rtm_type == RTM_LOCK {
                return Ok(());
            }
            let mut gw = None;
            let mut ifp = None;
            if let Some(g) = m.sa[1].as_ref() {
                let (g, i, _) = rt_getifa(&dst, g, flags, m.sa[4].as_ref(), m.sa[5].as_ref())?;
                gw = Some(g);
                ifp = Some(i);
            } else if let Some(Sockaddr::Link(d)) = m.sa[4].as_ref() {
                ifp = Some(ifp_of_sdl(d).ok_or(Errno::ENETUNREACH)?);
            }
            let fmask = (m.hdr.fmask as u32) & RTF_FMASK;
            let mut nf = (old.flags & !fmask) | (flags & fmask);
            match &gw {
                Some(RtGateway::Inet(_)) => nf |= RTF_GATEWAY,
                Some(RtGateway::Link { .. }) => nf &= !RTF_GATEWAY,
                None => {}
            }
            let r = rt::rt_change_quiet(dst, plen, gw, ifp.as_ref(), Some(nf), scope)?;
            set_metrics(&r, m);
            m.hdr.index = ifindex(&r.ifp) as u16;
            Ok(())
        }
        _ => Err(Errno::EOPNOTSUPP),
    }
}

/// `rt_setmetrics`: the metrics a request initializes.
fn set_metrics(r: &RtEntry, m: &RtMsg) {
    if m.hdr.inits & RTV_MTU != 0 {
        r.mtu.store(
            m.hdr.rmx.mtu.min(u64::from(u32::MAX)) as u32,
            Ordering::Relaxed,
        );
    }
    if m.hdr.inits & RTV_EXPIRE != 0 {
        // Given as seconds from now (0: never), kept as uptime seconds.
        let e = match m.hdr.rmx.expire {
            0 => 0,
            s => uptime_s().saturating_add(s),
        };
        r.expire.store(e, Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------------------
// the domain

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The PF_ROUTE domain (`routedomain`).
pub struct RouteDomain;

impl Domain for RouteDomain {
    fn family(&self) -> i32 {
        PF_ROUTE
    }
    fn attach(&self, ty: i32, proto: i32) -> Result<Box<dyn ProtoSocket>, Errno> {
        if ty != SOCK_RAW {
            return Err(Errno::EPROTOTYPE);
        }
        if !(0..=255).contains(&proto) {
            return Err(Errno::EPROTONOSUPPORT);
        }
        let st = rt::vnet_route().ok_or(Errno::EAFNOSUPPORT)?;
        let l = Arc::new(RtListener {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            sb: Arc::new(SockBuf::default()),
            proto,
            useloopback: AtomicBool::new(true),
        });
        st.socks.add(&l);
        Ok(Box::new(RtSock { l, closed: false }))
    }
}

/// The protocol half of one routing socket.
struct RtSock {
    l: Arc<RtListener>,
    closed: bool,
}

impl ProtoSocket for RtSock {
    fn sendto(&mut self, data: &[u8], _addr: Option<&[u8]>, _flags: i32) -> Result<usize, Errno> {
        if data.len() < RT_MSGHDR_SIZE
            || usize::from(u16::from_le_bytes([data[0], data[1]])) != data.len()
        {
            return Err(Errno::EINVAL);
        }
        let mut m = RtMsg::from_bytes(data)?;
        let res = route_output(&mut m);
        let family = m.sa[0].as_ref().map(|s| s.family()).unwrap_or(0);
        match res {
            Ok(()) => m.hdr.flags |= RTF_DONE as i32,
            Err(e) => m.hdr.errno = e.0,
        }
        if let Ok(b) = m.to_bytes() {
            let skip = (!self.l.useloopback.load(Ordering::Relaxed)).then_some(self.l.id);
            rt_dispatch(&b, family, skip);
        }
        res.map(|_| data.len())
    }
    fn setsockopt(&mut self, level: i32, name: i32, val: &[u8]) -> Result<(), Errno> {
        if level != SOL_SOCKET || name != SO_USELOOPBACK {
            return Err(Errno::ENOPROTOOPT);
        }
        let v: [u8; 4] = val.try_into().map_err(|_| Errno::EINVAL)?;
        self.l
            .useloopback
            .store(i32::from_le_bytes(v) != 0, Ordering::Relaxed);
        Ok(())
    }
    fn getsockopt(&mut self, level: i32, name: i32) -> Result<Vec<u8>, Errno> {
        if level != SOL_SOCKET || name != SO_USELOOPBACK {
            return Err(Errno::ENOPROTOOPT);
        }
        let v = i32::from(self.l.useloopback.load(Ordering::Relaxed));
        Ok(v.to_le_bytes().to_vec())
    }
    fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            if let Some(st) = rt::vnet_route() {
                st.socks.remove(self.l.id);
            }
            self.l.sb.cantrcvmore();
        }
    }
    fn rcvbuf(&self) -> Option<Arc<SockBuf>> {
        Some(self.l.sb.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use vimage_abi::syscall::Request;
    use vimage_kern::kern_conf::KernConf;
    use vimage_kern::kern_proc::FakeHost;
    use vimage_kern::kern_syscall::{test_lock, Kernel, KernelConfig, Td};
    use vimage_kern::uipc_socket::MSG_DONTWAIT;
    use vimage_kern::vnet::CurvnetGuard;

    struct K {
        k: Arc<Kernel>,
        td: Td,
    }

    impl Drop for K {
        fn drop(&mut self) {
            self.k.td_exit(&mut self.td);
            self.k.shutdown();
        }
    }

    fn boot() -> K {
        let host = Arc::new(FakeHost {
            me: 1,
            ..Default::default()
        });
        host.spawn(1, 0, 1);
        // The network layer alone: routing needs no protocol above it.
        static NET: KernConf = KernConf {
            name: "NET",
            options: &[&crate::OPT_NET],
        };
        let k = Kernel::boot_conf(
            KernelConfig {
                host,
                ident: "VIMAGE".into(),
                version: "test".into(),
                clock: Arc::new(vimage_kern::kern_timeout::FakeClock::default()),
                random: vimage_kern::kern_random::SeededRandom::arc(1),
            },
            &NET,
        )
        .expect("boot");
        let td = k.td_attach(1);
        {
            let _cv = CurvnetGuard::set(&td.vimage.vnet);
            crate::route::tests::ifp("eth0", Some(("10.0.0.20", 24)));
        }
        K { k, td }
    }

    impl K {
        fn socket(&mut self, ty: i32, proto: i32) -> Result<i32, Errno> {
            self.k
                .syscall(
                    &mut self.td,
                    Request::Socket {
                        domain: PF_ROUTE,
                        ty,
                        proto,
                    },
                )
                .result()
                .map(|r| r.val as i32)
        }
        fn send(&mut self, fd: i32, data: Vec<u8>) -> Result<usize, Errno> {
            self.k
                .syscall(
                    &mut self.td,
                    Request::Sendto {
                        fd,
                        flags: 0,
                        addr: None,
                        data,
                    },
                )
                .result()
                .map(|r| r.val as usize)
        }
        fn recv(&mut self, fd: i32) -> Option<RtSockMsg> {
            let r = self
                .k
                .syscall(
                    &mut self.td,
                    Request::Recvfrom {
                        fd,
                        len: 4096,
                        flags: MSG_DONTWAIT,
                    },
                )
                .result()
                .ok()?;
            Some(RtSockMsg::decode(&r.data).expect("well-formed message"))
        }
        fn route(&mut self, fd: i32) -> RtMsg {
            match self.recv(fd) {
                Some(RtSockMsg::Route(m)) => m,
                other => panic!("expected a route message, got {other:?}"),
            }
        }
    }

    fn req(ty: u8, dst: [u8; 4], gw: Option<[u8; 4]>, plen: Option<u8>, flags: u32) -> Vec<u8> {
        let mut m = RtMsg::new(ty);
        m.hdr.flags = flags as i32;
        m.hdr.seq = 7;
        m.hdr.pid = 42;
        m.sa[0] = Some(Sockaddr::Inet(Ipv4Addr::from(dst)));
        m.sa[1] = gw.map(|g| Sockaddr::Inet(Ipv4Addr::from(g)));
        m.sa[2] = plen.map(|l| Sockaddr::user_netmask(false, l));
        m.to_bytes().unwrap()
    }

    const ADDF: u32 = RTF_UP | RTF_GATEWAY | RTF_STATIC;

    #[test]
    fn add_get_delete_round_trip() {
        let _l = test_lock();
        let mut k = boot();
        assert_eq!(k.socket(2, 0), Err(Errno::EPROTOTYPE));
        let s = k.socket(SOCK_RAW, 0).unwrap();
        let add = req(RTM_ADD, [0; 4], Some([10, 0, 0, 1]), Some(0), ADDF);
        assert_eq!(k.send(s, add.clone()), Ok(add.len()));
        let m = k.route(s);
        assert_eq!(m.hdr.rtm_type, RTM_ADD);
        assert_eq!((m.hdr.errno, m.hdr.seq, m.hdr.pid), (0, 7, 42));
        assert_ne!(m.hdr.flags as u32 & RTF_DONE, 0);
        assert_eq!(m.hdr.index, 2);
        // Again: EEXIST, echoed with rtm_errno.
        assert_eq!(k.send(s, add), Err(Errno::EEXIST));
        assert_eq!(k.route(s).hdr.errno, 17);
        // A gateway no interface reaches.
        let far = req(
            RTM_ADD,
            [10, 9, 0, 0],
            Some([192, 168, 9, 9]),
            Some(16),
            ADDF,
        );
        assert_eq!(k.send(s, far), Err(Errno::ENETUNREACH));
        assert_eq!(k.route(s).hdr.errno, 51);
        // A host route via the default router's subnet.
        let host = req(
            RTM_ADD,
            [1, 2, 3, 4],
            Some([10, 0, 0, 2]),
            None,
            ADDF | RTF_HOST,
        );
        k.send(s, host).unwrap();
        k.route(s);
        // GET: longest match, with IFP and IFA.
        k.send(s, req(RTM_GET, [8, 8, 8, 8], None, None, 0))
            .unwrap();
        let g = k.route(s);
        assert_eq!(g.sa[0], Some(Sockaddr::Inet(Ipv4Addr::UNSPECIFIED)));
        assert_eq!(g.sa[1], Some(Sockaddr::Inet(Ipv4Addr::new(10, 0, 0, 1))));
        assert_eq!(g.sa[2].as_ref().unwrap().sa_len(), 0);
        match &g.sa[4] {
            Some(Sockaddr::Link(d)) => assert_eq!((d.name.as_str(), d.index), ("eth0", 2)),
            other => panic!("IFP {other:?}"),
        }
        assert_eq!(g.sa[5], Some(Sockaddr::Inet(Ipv4Addr::new(10, 0, 0, 20))));
        assert_eq!(g.hdr.flags as u32 & ADDF, ADDF);
        k.send(s, req(RTM_GET, [1, 2, 3, 4], None, None, 0))
            .unwrap();
        let g = k.route(s);
        assert!(g.sa[2].is_none());
        assert_ne!(g.hdr.flags as u32 & RTF_HOST, 0);
        // DELETE, then GET finds nothing.
        k.send(s, req(RTM_DELETE, [0; 4], None, Some(0), 0))
            .unwrap();
        assert_eq!(k.route(s).hdr.rtm_type, RTM_DELETE);
        assert_eq!(
            k.send(s, req(RTM_GET, [8, 8, 8, 8], None, None, 0)),
            Err(Errno::ESRCH)
        );
        assert_eq!(k.route(s).hdr.errno, 3);
        assert_eq!(
            k.send(s, req(RTM_DELETE, [0; 4], None, Some(0), 0)),
            Err(Errno::ESRCH)
        );
        k.route(s);
        assert!(k.recv(s).is_none());
    }

    #[test]
    fn interface_routes_change_and_dump() {
        let _l = test_lock();
        let mut k = boot();
        let s = k.socket(SOCK_RAW, 0).unwrap();
        // -interface by name: a link gateway, no RTF_GATEWAY.
        let mut m = RtMsg::new(RTM_ADD);
        m.hdr.flags = (RTF_UP | RTF_STATIC) as i32;
        m.sa[0] = Some(Sockaddr::Inet(Ipv4Addr::new(10, 5, 0, 0)));
        m.sa[1] = Some(Sockaddr::Link(SockaddrDl {
            name: "lo0".into(),
            ..Default::default()
        }));
        m.sa[2] = Some(Sockaddr::user_netmask(false, 16));
        k.send(s, m.to_bytes().unwrap()).unwrap();
        k.route(s);
        // -interface with one of our addresses.
        let r = req(
            RTM_ADD,
            [10, 6, 0, 0],
            Some([10, 0, 0, 20]),
            Some(16),
            RTF_UP,
        );
        k.send(s, r).unwrap();
        k.route(s);
        // Change the second to a gateway route.
        let mut c = RtMsg::from_bytes(&req(
            RTM_CHANGE,
            [10, 6, 0, 0],
            Some([10, 0, 0, 1]),
            Some(16),
            ADDF,
        ))
        .unwrap();
        c.hdr.fmask = RTF_STATIC as i32;
        k.send(s, c.to_bytes().unwrap()).unwrap();
        assert_eq!(k.route(s).hdr.rtm_type, RTM_CHANGE);
        let r =
            k.k.syscall(
                &mut k.td,
                Request::Sysctl {
                    name: NET_ROUTE_DUMP.into(),
                    new: None,
                },
            )
            .result()
            .unwrap();
        let rep = vimage_abi::sysctl::SysctlReply::from_bytes(&r.data).unwrap();
        let vimage_abi::sysctl::SysctlValue::Opaque(_, b) = rep.value else {
            panic!("not opaque")
        };
        let d = RouteDump::from_bytes(&b).unwrap();
        let rows: Vec<String> = d
            .routes
            .iter()
            .map(|e| {
                format!(
                    "{}/{} {:?} {} {:#x}",
                    e.dst, e.plen, e.gateway, e.ifname, e.flags
                )
            })
            .collect();
        // (No IPv6 in this kernel, so no link-local prefix for eth0.)
        let want = vec![
            "10.5.0.0/16 Link(1) lo0 0x801",
            "10.6.0.0/16 Inet(10.0.0.1) eth0 0x803",
        ];
        assert_eq!(rows, want);
    }

    #[test]
    fn listeners_loopback_and_family_filter() {
        let _l = test_lock();
        let mut k = boot();
        let a = k.socket(SOCK_RAW, 0).unwrap();
        let b = k
            .socket(SOCK_RAW, i32::from(vimage_abi::net_if::AF_INET))
            .unwrap();
        let c = k.socket(SOCK_RAW, i32::from(AF_INET6)).unwrap();
        k.k.syscall(
            &mut k.td,
            Request::Setsockopt {
                fd: a,
                level: SOL_SOCKET,
                name: SO_USELOOPBACK,
                val: 0i32.to_le_bytes().to_vec(),
            },
        )
        .result()
        .unwrap();
        k.send(a, req(RTM_ADD, [0; 4], Some([10, 0, 0, 1]), Some(0), ADDF))
            .unwrap();
        assert!(k.recv(a).is_none());
        assert_eq!(k.route(b).hdr.rtm_type, RTM_ADD);
        assert!(k.recv(c).is_none());
        // What the stack does on its own is heard too.
        {
            let _cv = CurvnetGuard::set(&k.td.vimage.vnet);
            let e0 = crate::r#if::ifunit("eth0").unwrap();
            rt::rt_add(
                "10.0.0.0".parse().unwrap(),
                24,
                RtGateway::Link { ifindex: 2 },
                &e0,
                None,
                RTF_CLONING,
            )
            .unwrap();
            rt::rt_newaddrmsg(RTM_NEWADDR, &e0, "10.0.0.20".parse().unwrap(), 24);
        }
        let m = k.route(a);
        assert_eq!(
            m.sa[1].as_ref().unwrap().family(),
            vimage_abi::net_if::AF_LINK
        );
        match k.recv(a) {
            Some(RtSockMsg::Addr(x)) => {
                assert_eq!(x.rtm_type, RTM_NEWADDR);
                assert_eq!(x.sa[2].as_ref().unwrap().mask_plen(false), Ok(24));
            }
            other => panic!("{other:?}"),
        }
        // An interface leaving: its routes are deleted (the address modules
        // report their addresses going too).
        {
            let _cv = CurvnetGuard::set(&k.td.vimage.vnet);
            let e0 = crate::r#if::ifunit("eth0").unwrap();
            crate::r#if::if_detach(&e0);
        }
        let mut seen = Vec::new();
        while let Some(m) = k.recv(a) {
            seen.push(match m {
                RtSockMsg::Route(r) => format!("route {}", r.hdr.rtm_type),
                _ => continue,
            });
        }
        // The default route and 10.0.0.0/24 at least (others' modules may
        // have routes of their own on eth0).
        assert!(
            seen.len() >= 2 && seen.iter().all(|x| x == "route 2"),
            "{seen:?}"
        );
    }

    #[test]
    fn malformed_writes_are_refused() {
        let _l = test_lock();
        let mut k = boot();
        let s = k.socket(SOCK_RAW, 0).unwrap();
        assert_eq!(k.send(s, vec![0; 10]), Err(Errno::EINVAL));
        let mut good = req(RTM_GET, [1, 1, 1, 1], None, None, 0);
        good[2] = 4;
        assert_eq!(k.send(s, good.clone()), Err(Errno::EPROTONOSUPPORT));
        good[2] = RTM_VERSION;
        good.push(0);
        assert_eq!(k.send(s, good.clone()), Err(Errno::EINVAL));
        good.pop();
        good[3] = 99;
        assert_eq!(k.send(s, good.clone()), Err(Errno::EOPNOTSUPP));
        // A sockaddr running past the message.
        good[3] = RTM_GET;
        let n = good.len();
        good[RT_MSGHDR_SIZE] = 200;
        assert_eq!(k.send(s, good), Err(Errno::EINVAL));
        assert!(n > RT_MSGHDR_SIZE);
    }
}
