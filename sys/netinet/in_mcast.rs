//! IPv4 multicast socket state (FreeBSD's sys/netinet/in_mcast.c and the
//! `ip_setmoptions` of 7.x's ip_output.c): a socket's `struct ip_moptions`
//! — the interface and TTL its multicast datagrams leave with, whether they
//! loop back to local members, and the groups it joined on which interfaces
//! (`imo_membership`) — and the stack's half of a join (`in_addmulti`,
//! `in_delmulti`: the interface's refcounted list in [`vimage_net::r#if`]).
//!
//! A socket that never set a multicast option has no `ip_moptions` and gets
//! every multicast datagram the host accepts for its port; once it has one,
//! only the groups it joined on the interface they arrived by
//! (`imo_multi_filter`, FreeBSD 8's delivery rule, which routed and FRR
//! expect: one daemon's socket per interface sees only that link's RIP).
//! No IGMP is spoken: joins take effect locally only, which is all a
//! link-local group such as RIP's 224.0.0.9 needs.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Weak};
use vimage_abi::net_if::IFF_MULTICAST;
use vimage_abi::netinet_in::*;
use vimage_abi::Errno;

use super::in_rt::in_rtalloc;
use super::r#in::{ifa_ifwithaddr, in_first_addr};
use vimage_net::if_var::Ifnet;
use vimage_net::r#if::{if_addmulti, if_delmulti, if_maddr_gen, ifnet_byindex};

/// `IP_DEFAULT_MULTICAST_LOOP`.
pub const IP_DEFAULT_MULTICAST_LOOP: bool = true;

/// `in_addmulti`: `ifp` listens to `group` (one more join).
pub fn in_addmulti(ifp: &Ifnet, group: Ipv4Addr) -> Result<(), Errno> {
    if_addmulti(ifp, IpAddr::V4(group)).map(|_| ())
}

/// `in_delmulti`: one join of `group` on `ifp` less.
pub fn in_delmulti(ifp: &Ifnet, group: Ipv4Addr) -> Result<(), Errno> {
    if_delmulti(ifp, IpAddr::V4(group))
}

/// One group a socket joined (`imo_membership[i]`, an `in_multi`).
#[derive(Clone, Debug)]
struct Membership {
    group: Ipv4Addr,
    ifp: Weak<Ifnet>,
    /// The interface's multicast list generation at the join.
    gen: u64,
}

impl Membership {
    /// Whether this is a live join on `ifp` (same interface, list not
    /// purged since).
    fn is_on(&self, ifp: &Arc<Ifnet>) -> bool {
        std::ptr::eq(self.ifp.as_ptr(), Arc::as_ptr(ifp)) && if_maddr_gen(ifp) == self.gen
    }

    /// Undo the join on the interface, unless the interface went away or
    /// changed stacks since (its list was purged: the reference is gone).
    fn release(&self) {
        if let Some(ifp) = self.ifp.upgrade() {
            if if_maddr_gen(&ifp) == self.gen {
                let _ = in_delmulti(&ifp, self.group);
            }
        }
    }
}

/// A socket's multicast options (`struct ip_moptions`).
#[derive(Clone, Debug)]
pub struct IpMoptions {
    /// `imo_multicast_ifp`: where multicast datagrams leave (`None`: the
    /// route's interface for the group).
    ifp: Option<Weak<Ifnet>>,
    /// `imo_multicast_addr`: the address `IP_MULTICAST_IF` named, answered
    /// back by `getsockopt` (`INADDR_ANY` when it named an index).
    ifaddr: Ipv4Addr,
    /// `imo_multicast_ttl`.
    pub ttl: u8,
    /// `imo_multicast_loop`.
    pub loop_: bool,
    /// `imo_membership`.
    memberships: Vec<Membership>,
}

impl Default for IpMoptions {
    fn default() -> Self {
        IpMoptions {
            ifp: None,
            ifaddr: Ipv4Addr::UNSPECIFIED,
            ttl: IP_DEFAULT_MULTICAST_TTL,
            loop_: IP_DEFAULT_MULTICAST_LOOP,
            memberships: Vec::new(),
        }
    }
}

/// Whether `name` at level `IPPROTO_IP` is a multicast option
/// ([`ip_setmoptions`] handles it).
pub fn is_mcast_opt(name: i32) -> bool {
    matches!(
        name,
        IP_MULTICAST_IF
            | IP_MULTICAST_TTL
            | IP_MULTICAST_LOOP
            | IP_ADD_MEMBERSHIP
            | IP_DROP_MEMBERSHIP
    )
}

/// A `u_char` or `int` option value (the old multicast API took a char).
fn char_or_int(val: &[u8]) -> Result<u32, Errno> {
    match val.len() {
        1 => Ok(u32::from(val[0])),
        4 => Ok(u32::from_le_bytes([val[0], val[1], val[2], val[3]])),
        _ => Err(Errno::EINVAL),
    }
}

/// The interface an `ip_mreq`/`ip_mreqn` names: by index when one is given;
/// by one of its addresses (an address in 0.0.0.0/8 other than
/// `INADDR_ANY` is an index, FreeBSD's `ifindex` convention); for
/// `INADDR_ANY`, the interface of the route to `group` (`None` when there is
/// none).  `EADDRNOTAVAIL` for an unknown index or address.
fn mreq_ifp(m: &IpMreq) -> Result<Option<Arc<Ifnet>>, Errno> {
    let by_index = |i: u32| ifnet_byindex(i).map(Some).ok_or(Errno::EADDRNOTAVAIL);
    if let Some(i) = m.ifindex.filter(|i| *i != 0) {
        return by_index(i);
    }
    let a = u32::from(m.interface);
    if a == 0 {
        return Ok(in_rtalloc(m.multiaddr).map(|rt| rt.ifp));
    }
    if a >> 24 == 0 {
        return by_index(a);
    }
    ifa_ifwithaddr(m.interface)
        .map(Some)
        .ok_or(Errno::EADDRNOTAVAIL)
}

impl IpMoptions {
    /// The interface `IP_MULTICAST_IF` chose, if it is still there.
    pub fn multicast_ifp(&self) -> Option<Arc<Ifnet>> {
        self.ifp.as_ref().and_then(Weak::upgrade)
    }

    /// Whether the socket joined `group` on `ifp` (`imo_multi_filter`
    /// passing the datagram).
    pub fn is_member(&self, group: Ipv4Addr, ifp: &Arc<Ifnet>) -> bool {
        self.memberships
            .iter()
            .any(|m| m.group == group && m.is_on(ifp))
    }

    /// Number of groups joined.
    pub fn num_memberships(&self) -> usize {
        self.memberships.len()
    }

    /// `inp_join_group`: join `m.multiaddr` on the interface `m` names.
    /// `EINVAL` for a non-group address, `EADDRNOTAVAIL` for no such
    /// interface (or no route to the group when none is named) or one
    /// without `IFF_MULTICAST`, `EADDRINUSE` when already joined there,
    /// `ETOOMANYREFS` past [`IP_MAX_MEMBERSHIPS`].
    pub fn join(&mut self, m: &IpMreq) -> Result<(), Errno> {
        if !m.multiaddr.is_multicast() {
            return Err(Errno::EINVAL);
        }
        let ifp = mreq_ifp(m)?.ok_or(Errno::EADDRNOTAVAIL)?;
        if ifp.flags() & IFF_MULTICAST == 0 {
            return Err(Errno::EADDRNOTAVAIL);
        }
        if self.is_member(m.multiaddr, &ifp) {
            return Err(Errno::EADDRINUSE);
        }
        if self.memberships.len() >= IP_MAX_MEMBERSHIPS {
            return Err(Errno::ETOOMANYREFS);
        }
        in_addmulti(&ifp, m.multiaddr)?;
        self.memberships.push(Membership {
            group: m.multiaddr,
            ifp: Arc::downgrade(&ifp),
            gen: if_maddr_gen(&ifp),
        });
        Ok(())
    }

    /// `inp_leave_group`: leave `m.multiaddr` on the interface `m` names
    /// (`INADDR_ANY`: wherever it was joined first).  `EINVAL` for a
    /// non-group address, `EADDRNOTAVAIL` when not a member.
    pub fn leave(&mut self, m: &IpMreq) -> Result<(), Errno> {
        if !m.multiaddr.is_multicast() {
            return Err(Errno::EINVAL);
        }
        let any = m.ifindex.unwrap_or(0) == 0 && m.interface.is_unspecified();
        let ifp = if any { None } else { mreq_ifp(m)? };
        let i = self
            .memberships
            .iter()
            .position(|x| {
                x.group == m.multiaddr
                    && ifp
                        .as_ref()
                        .is_none_or(|i| std::ptr::eq(x.ifp.as_ptr(), Arc::as_ptr(i)))
            })
            .ok_or(Errno::EADDRNOTAVAIL)?;
        self.memberships.remove(i).release();
        Ok(())
    }

    /// Leave every group (`inp_freemoptions`, the socket closes).
    pub fn leave_all(&mut self) {
        for x in std::mem::take(&mut self.memberships) {
            x.release();
        }
    }
}

/// `ip_setmoptions`: set multicast option `name` (level `IPPROTO_IP`) on
/// the socket's options `imo`, made on first use (`inp_findmoptions`).
pub fn ip_setmoptions(imo: &mut Option<IpMoptions>, name: i32, val: &[u8]) -> Result<(), Errno> {
    let o = imo.get_or_insert_with(IpMoptions::default);
    match name {
        IP_MULTICAST_IF => {
            // A `struct in_addr`, or an `ip_mreq`/`ip_mreqn` (Linux's way,
            // which FreeBSD 8 takes too).
            let m = match val.len() {
                4 => IpMreq::new(
                    Ipv4Addr::UNSPECIFIED,
                    Ipv4Addr::new(val[0], val[1], val[2], val[3]),
                ),
                _ => IpMreq::from_bytes(val)?,
            };
            if m.ifindex.unwrap_or(0) == 0 && m.interface.is_unspecified() {
                o.ifp = None;
                o.ifaddr = Ipv4Addr::UNSPECIFIED;
                return Ok(());
            }
            let ifp = mreq_ifp(&m)?.ok_or(Errno::EADDRNOTAVAIL)?;
            if ifp.flags() & IFF_MULTICAST == 0 {
                return Err(Errno::EADDRNOTAVAIL);
            }
            o.ifaddr = if m.ifindex.unwrap_or(0) == 0 && u32::from(m.interface) >> 24 != 0 {
                m.interface
            } else {
                Ipv4Addr::UNSPECIFIED
            };
            o.ifp = Some(Arc::downgrade(&ifp));
        }
        IP_MULTICAST_TTL => {
            let v = char_or_int(val)?;
            o.ttl = u8::try_from(v).map_err(|_| Errno::EINVAL)?;
        }
        IP_MULTICAST_LOOP => o.loop_ = char_or_int(val)? != 0,
        IP_ADD_MEMBERSHIP => o.join(&IpMreq::from_bytes(val)?)?,
        IP_DROP_MEMBERSHIP => o.leave(&IpMreq::from_bytes(val)?)?,
        _ => return Err(Errno::ENOPROTOOPT),
    }
    Ok(())
}

/// `ip_getmoptions`: the value of multicast option `name` (an `int` for
/// TTL and LOOP, a `struct in_addr` for `IP_MULTICAST_IF`: the address it
/// was set to, else the interface's first, else `INADDR_ANY`).
/// The membership options are write-only (`EOPNOTSUPP`).
pub fn ip_getmoptions(imo: &Option<IpMoptions>, name: i32) -> Result<Vec<u8>, Errno> {
    let d = IpMoptions::default();
    let o = imo.as_ref().unwrap_or(&d);
    Ok(match name {
        IP_MULTICAST_IF => {
            let a = if !o.ifaddr.is_unspecified() {
                o.ifaddr
            } else {
                o.multicast_ifp()
                    .and_then(|i| in_first_addr(&i))
                    .unwrap_or(Ipv4Addr::UNSPECIFIED)
            };
            a.octets().to_vec()
        }
        IP_MULTICAST_TTL => i32::from(o.ttl).to_le_bytes().to_vec(),
        IP_MULTICAST_LOOP => i32::from(o.loop_).to_le_bytes().to_vec(),
        IP_ADD_MEMBERSHIP | IP_DROP_MEMBERSHIP => return Err(Errno::EOPNOTSUPP),
        _ => return Err(Errno::ENOPROTOOPT),
    })
}

#[cfg(test)]
// Several stacks need VIMAGE: without it some helpers serve nothing.
#[cfg_attr(not(feature = "vimage"), allow(dead_code, unused_imports))]
pub(crate) mod tests {
    //! Multicast on the test network: stacks on one Ethernet segment (a hub
    //! here, an ng_bridge in the scenario test) or behind a router.

    use super::*;
    use std::sync::atomic::Ordering;
    use std::sync::Mutex;
    use vimage_abi::net_if::{IFF_BROADCAST, IFF_SIMPLEX, IFT_ETHER};
    use vimage_abi::syscall::Request;

    use crate::testnet::{Host, Net};
    use vimage_kern::vnet::{CurvnetGuard, VNET_MOD_INET};
    use vimage_net::if_var::IfDriver;
    use vimage_net::mbuf::Mbuf;
    use vimage_net::netisr::netisr_queue;
    use vimage_net::r#if::{if_attach, if_input, if_multiaddrs};

    /// A repeater: what one port sends reaches every other port, as an
    /// Ethernet segment (or a bridge flooding a group) does; it keeps a copy
    /// of each frame.
    #[derive(Default)]
    pub(crate) struct Hub {
        ports: Mutex<Vec<Weak<Ifnet>>>,
        /// Every frame sent on the segment.
        pub frames: Mutex<Vec<Vec<u8>>>,
    }

    struct HubPort {
        hub: Arc<Hub>,
        me: usize,
    }

    impl IfDriver for HubPort {
        fn transmit(&self, _ifp: &Arc<Ifnet>, m: Mbuf) -> Result<(), Errno> {
            self.hub.frames.lock().unwrap().push(m.data().to_vec());
            for (i, p) in self.hub.ports.lock().unwrap().iter().enumerate() {
                if i == self.me {
                    continue;
                }
                if let Some(to) = p.upgrade() {
                    let c = Mbuf::from_slice(m.data());
                    netisr_queue(move || if_input(&to, c));
                }
            }
            Ok(())
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }

    impl Hub {
        /// Plug a new interface `name` with MAC `mac` of host `h` into the hub.
        pub(crate) fn plug(self: &Arc<Self>, h: &Host, name: &str, mac: [u8; 6]) -> Arc<Ifnet> {
            let v = h.vnet();
            let _cv = CurvnetGuard::set(&v);
            let me = self.ports.lock().unwrap().len();
            let ifp = Ifnet::new(
                &v,
                name,
                "hub",
                IFT_ETHER,
                IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST,
                1500,
                mac.to_vec(),
                Box::new(HubPort {
                    hub: self.clone(),
                    me,
                }),
            );
            if_attach(&ifp).expect("if_attach");
            self.ports.lock().unwrap().push(Arc::downgrade(&ifp));
            ifp
        }
        /// The frames sent to Ethernet address `dst`.
        pub(crate) fn to(&self, dst: &[u8]) -> Vec<Vec<u8>> {
            let f = self.frames.lock().unwrap();
            f.iter().filter(|f| f.starts_with(dst)).cloned().collect()
        }
    }

    pub(crate) fn mac(n: u8) -> [u8; 6] {
        [0x40, 0x0a, 0x0b, 0x0c, 0x0d, n]
    }

    const RIP: &str = "224.0.0.9";

    fn sin(a: &str, port: u16) -> Vec<u8> {
        SockaddrIn::new(a.parse().unwrap(), port)
            .to_bytes()
            .to_vec()
    }

    fn udp(n: &Net, h: &mut Host) -> i32 {
        n.socket(h, PF_INET, SOCK_DGRAM, 0)
    }

    fn setopt(n: &Net, h: &mut Host, fd: i32, name: i32, val: Vec<u8>) -> Result<(), Errno> {
        n.call(
            h,
            Request::Setsockopt {
                fd,
                level: IPPROTO_IP,
                name,
                val,
            },
        )
        .map(|_| ())
    }

    fn getopt(n: &Net, h: &mut Host, fd: i32, name: i32) -> Result<Vec<u8>, Errno> {
        n.call(
            h,
            Request::Getsockopt {
                fd,
                level: IPPROTO_IP,
                name,
                val: Vec::new(),
            },
        )
        .map(|r| r.data)
    }

    fn join(n: &Net, h: &mut Host, fd: i32, group: &str, ifaddr: &str) -> Result<(), Errno> {
        let m = IpMreq::new(group.parse().unwrap(), ifaddr.parse().unwrap());
        setopt(n, h, fd, IP_ADD_MEMBERSHIP, m.to_bytes())
    }

    fn leave(n: &Net, h: &mut Host, fd: i32, group: &str, ifaddr: &str) -> Result<(), Errno> {
        let m = IpMreq::new(group.parse().unwrap(), ifaddr.parse().unwrap());
        setopt(n, h, fd, IP_DROP_MEMBERSHIP, m.to_bytes())
    }

    fn bind(n: &Net, h: &mut Host, fd: i32, a: &str, port: u16) {
        n.call(
            h,
            Request::Bind {
                fd,
                addr: sin(a, port),
            },
        )
        .expect("bind");
    }

    fn reuse(n: &Net, h: &mut Host, fd: i32) {
        n.call(
            h,
            Request::Setsockopt {
                fd,
                level: 0xffff,
                name: SO_REUSEPORT,
                val: 1i32.to_le_bytes().to_vec(),
            },
        )
        .expect("SO_REUSEPORT");
    }

    fn send(n: &Net, h: &mut Host, fd: i32, data: &[u8], to: &str, port: u16) -> Result<(), Errno> {
        n.call(
            h,
            Request::Sendto {
                fd,
                flags: 0,
                addr: Some(sin(to, port)),
                data: data.to_vec(),
            },
        )
        .map(|_| ())
    }

    /// Payloads waiting on `fd`, with their sources.
    fn recv(n: &Net, h: &mut Host, fd: i32) -> Vec<(Vec<u8>, InRecvInfo)> {
        n.drain(h, fd)
            .into_iter()
            .map(|(d, a)| (d, InRecvInfo::from_bytes(&a).expect("recv info")))
            .collect()
    }

    fn stat(h: &Host, name: &str) -> u64 {
        let i = h.vnet().state::<crate::VnetInet>(VNET_MOD_INET).unwrap();
        [i.ipstat.snapshot(), i.udpstat.snapshot()]
            .iter()
            .find_map(|s| s.get(name))
            .unwrap_or(0)
    }

    /// The option errors FreeBSD gives, on one stack: bad sizes, a
    /// non-group, an unknown interface, a double join, a leave of what was
    /// not joined; the defaults answered; a socket's groups go with it.
    #[test]
    fn options_and_their_errors() {
        let n = Net::boot();
        let mut h = n.host("default");
        let hub = Arc::new(Hub::default());
        let e0 = hub.plug(&h, "eth0", mac(1));
        h.addr(&e0, "10.0.0.1/24");
        let fd = udp(&n, &mut h);
        let int = |v: i32| v.to_le_bytes().to_vec();
        assert_eq!(getopt(&n, &mut h, fd, IP_MULTICAST_TTL), Ok(int(1)));
        assert_eq!(getopt(&n, &mut h, fd, IP_MULTICAST_LOOP), Ok(int(1)));
        assert_eq!(getopt(&n, &mut h, fd, IP_MULTICAST_IF), Ok(vec![0; 4]));
        for bad in [vec![], vec![0; 3], vec![0; 9], vec![0; 16]] {
            assert_eq!(
                setopt(&n, &mut h, fd, IP_ADD_MEMBERSHIP, bad),
                Err(Errno::EINVAL)
            );
        }
        assert_eq!(
            setopt(&n, &mut h, fd, IP_MULTICAST_TTL, int(256)),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            setopt(&n, &mut h, fd, IP_MULTICAST_TTL, vec![0; 2]),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            join(&n, &mut h, fd, "10.0.0.9", "10.0.0.1"),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            join(&n, &mut h, fd, RIP, "10.9.9.9"),
            Err(Errno::EADDRNOTAVAIL)
        );
        // No route to the group: INADDR_ANY names no interface.
        assert_eq!(
            join(&n, &mut h, fd, RIP, "0.0.0.0"),
            Err(Errno::EADDRNOTAVAIL)
        );
        assert_eq!(
            leave(&n, &mut h, fd, RIP, "10.0.0.1"),
            Err(Errno::EADDRNOTAVAIL)
        );
        join(&n, &mut h, fd, RIP, "10.0.0.1").unwrap();
        assert_eq!(
            join(&n, &mut h, fd, RIP, "10.0.0.1"),
            Err(Errno::EADDRINUSE)
        );
        assert_eq!(
            getopt(&n, &mut h, fd, IP_ADD_MEMBERSHIP),
            Err(Errno::EOPNOTSUPP)
        );
        // By interface index (struct ip_mreqn), as Linux programs pass it.
        let idx = e0.index.load(Ordering::Relaxed);
        let mreqn = IpMreq {
            multiaddr: "224.0.0.5".parse().unwrap(),
            interface: Ipv4Addr::UNSPECIFIED,
            ifindex: Some(idx),
        };
        setopt(&n, &mut h, fd, IP_ADD_MEMBERSHIP, mreqn.to_bytes()).unwrap();
        let groups = |ifp: &Ifnet| {
            if_multiaddrs(ifp)
                .iter()
                .filter(|m| matches!(m.addr, vimage_net::if_var::IfmaAddr::Inet(_)))
                .count()
        };
        assert_eq!(groups(&e0), 2);
        // What netstat -g would show: both groups, then their Ethernet
        // addresses, on eth0, one join each.
        let v = n.sysctl(&mut h, "net.link.ifmalist", None);
        let vimage_abi::sysctl::SysctlValue::Opaque(_, b) = v else {
            panic!("opaque");
        };
        let l = vimage_abi::net_if::IfMaddrInfo::decode_list(&b).unwrap();
        let shown: Vec<(&str, &[u8], u32)> = l
            .iter()
            .map(|m| (m.name.as_str(), m.addr.as_slice(), m.refcount))
            .collect();
        assert_eq!(
            shown,
            vec![
                ("eth0", &[224, 0, 0, 5][..], 1),
                ("eth0", &[224, 0, 0, 9][..], 1),
                ("eth0", &[1, 0, 0x5e, 0, 0, 5][..], 1),
                ("eth0", &[1, 0, 0x5e, 0, 0, 9][..], 1),
            ]
        );
        setopt(&n, &mut h, fd, IP_MULTICAST_IF, vec![10, 0, 0, 1]).unwrap();
        assert_eq!(
            getopt(&n, &mut h, fd, IP_MULTICAST_IF),
            Ok(vec![10, 0, 0, 1])
        );
        assert_eq!(
            setopt(&n, &mut h, fd, IP_MULTICAST_IF, vec![10, 0, 0, 2]),
            Err(Errno::EADDRNOTAVAIL)
        );
        setopt(&n, &mut h, fd, IP_MULTICAST_TTL, vec![32]).unwrap();
        setopt(&n, &mut h, fd, IP_MULTICAST_LOOP, int(0)).unwrap();
        assert_eq!(getopt(&n, &mut h, fd, IP_MULTICAST_TTL), Ok(int(32)));
        assert_eq!(getopt(&n, &mut h, fd, IP_MULTICAST_LOOP), Ok(int(0)));
        // A second socket shares the interface's membership; closing the
        // first leaves its groups, the shared one stays.
        let fd2 = udp(&n, &mut h);
        join(&n, &mut h, fd2, RIP, "10.0.0.1").unwrap();
        n.call(&mut h, Request::Close { fd }).unwrap();
        assert_eq!(groups(&e0), 1);
        assert!(vimage_net::r#if::if_findmulti(
            &e0,
            "224.0.0.9".parse().unwrap()
        ));
        leave(&n, &mut h, fd2, RIP, "0.0.0.0").unwrap();
        assert!(if_multiaddrs(&e0).is_empty());
        // The interface's list is purged (it left the stack and came back):
        // an old join is stale, its leave takes nothing from a new one.
        let old = udp(&n, &mut h);
        join(&n, &mut h, old, RIP, "10.0.0.1").unwrap();
        vimage_net::r#if::if_purgemaddrs(&e0);
        let new = udp(&n, &mut h);
        join(&n, &mut h, new, RIP, "10.0.0.1").unwrap();
        // The stale one may join again; it then holds its own reference.
        join(&n, &mut h, old, RIP, "10.0.0.1").unwrap();
        n.call(&mut h, Request::Close { fd: old }).unwrap();
        assert!(vimage_net::r#if::if_findmulti(
            &e0,
            "224.0.0.9".parse().unwrap()
        ));
        n.call(&mut h, Request::Close { fd: new }).unwrap();
        assert!(if_multiaddrs(&e0).is_empty());
    }

    /// A hostile tenant cannot grow a socket's list without bound.
    #[test]
    fn memberships_per_socket_are_bounded() {
        let n = Net::boot();
        let mut h = n.host("default");
        let hub = Arc::new(Hub::default());
        let e0 = hub.plug(&h, "eth0", mac(1));
        h.addr(&e0, "10.0.0.1/24");
        let fd = udp(&n, &mut h);
        for i in 0..IP_MAX_MEMBERSHIPS as u32 {
            let g = Ipv4Addr::from(u32::from(Ipv4Addr::new(239, 0, 0, 0)) + i);
            let m = IpMreq::new(g, "10.0.0.1".parse().unwrap());
            setopt(&n, &mut h, fd, IP_ADD_MEMBERSHIP, m.to_bytes()).unwrap();
        }
        assert_eq!(
            join(&n, &mut h, fd, RIP, "10.0.0.1"),
            Err(Errno::ETOOMANYREFS)
        );
        n.call(&mut h, Request::Close { fd }).unwrap();
        assert!(if_multiaddrs(&e0).is_empty());
    }

    /// Three stacks on one segment: the one that joined gets the datagram,
    /// sent to 01:00:5e:00:00:09 with TTL 1 from the sender's address on the
    /// chosen interface; the one that did not join drops it at IP
    /// (`ips_notmember`); after a leave, nobody gets it.
    #[cfg(feature = "vimage")]
    #[test]
    fn joined_stack_receives_others_do_not() {
        let n = Net::boot();
        let (mut a, mut b, mut c) = (n.host("a"), n.host("b"), n.host("c"));
        let hub = Arc::new(Hub::default());
        for (h, i, addr) in [
            (&a, 1, "10.0.0.1/24"),
            (&b, 2, "10.0.0.2/24"),
            (&c, 3, "10.0.0.3/24"),
        ] {
            let e = hub.plug(h, "eth0", mac(i));
            h.addr(&e, addr);
        }
        let rb = udp(&n, &mut b);
        bind(&n, &mut b, rb, "0.0.0.0", 520);
        join(&n, &mut b, rb, RIP, "10.0.0.2").unwrap();
        // Told to say where datagrams arrive and to what.
        for o in [IP_RECVIF, IP_RECVDSTADDR] {
            setopt(&n, &mut b, rb, o, 1i32.to_le_bytes().to_vec()).unwrap();
        }
        let rc = udp(&n, &mut c);
        bind(&n, &mut c, rc, "0.0.0.0", 520);
        let sa = udp(&n, &mut a);
        bind(&n, &mut a, sa, "0.0.0.0", 520);
        setopt(&n, &mut a, sa, IP_MULTICAST_IF, vec![10, 0, 0, 1]).unwrap();
        send(&n, &mut a, sa, b"response", RIP, 520).unwrap();
        let got = recv(&n, &mut b, rb);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, b"response");
        let info = &got[0].1;
        assert_eq!(
            info.from,
            Some(SockaddrIn::new("10.0.0.1".parse().unwrap(), 520))
        );
        assert_eq!(info.dstaddr, Some(RIP.parse().unwrap()));
        assert_eq!(
            info.ifindex,
            Some(b.ifp("eth0").index.load(Ordering::Relaxed))
        );
        assert!(recv(&n, &mut c, rc).is_empty());
        assert_eq!(stat(&c, "ips_notmember"), 1);
        let frames = hub.to(&[0x01, 0x00, 0x5e, 0x00, 0x00, 0x09]);
        assert_eq!(frames.len(), 1);
        let ip = crate::ip::Ipv4Packet::new_checked(&frames[0][14..]).unwrap();
        assert_eq!((ip.ttl(), ip.src_addr()), (1, "10.0.0.1".parse().unwrap()));
        // Our own datagram does not come back to a stack that did not join.
        assert!(recv(&n, &mut a, sa).is_empty());
        // Leave: the next one reaches nobody.
        leave(&n, &mut b, rb, RIP, "10.0.0.2").unwrap();
        send(&n, &mut a, sa, b"again", RIP, 520).unwrap();
        assert!(recv(&n, &mut b, rb).is_empty());
        assert_eq!(stat(&b, "ips_notmember"), 1);
    }

    /// Several sockets of one stack on the port: each that joined the group
    /// gets its copy (SO_REUSEPORT lets them share it), one bound to the
    /// group address too; one that joined only another group does not; one
    /// with no multicast options at all does (FreeBSD's rule).
    #[cfg(feature = "vimage")]
    #[test]
    fn every_member_socket_gets_a_copy() {
        let n = Net::boot();
        let (mut a, mut b) = (n.host("a"), n.host("b"));
        let hub = Arc::new(Hub::default());
        let ea = hub.plug(&a, "eth0", mac(1));
        a.addr(&ea, "10.0.0.1/24");
        let eb = hub.plug(&b, "eth0", mac(2));
        b.addr(&eb, "10.0.0.2/24");
        let mut socks = Vec::new();
        for (addr, group) in [
            ("0.0.0.0", Some(RIP)),
            ("0.0.0.0", Some(RIP)),
            (RIP, Some(RIP)),
            ("0.0.0.0", Some("224.0.0.5")),
            ("0.0.0.0", None),
        ] {
            let fd = udp(&n, &mut b);
            reuse(&n, &mut b, fd);
            bind(&n, &mut b, fd, addr, 520);
            if let Some(g) = group {
                join(&n, &mut b, fd, g, "10.0.0.2").unwrap();
            }
            socks.push(fd);
        }
        let sa = udp(&n, &mut a);
        setopt(&n, &mut a, sa, IP_MULTICAST_IF, vec![10, 0, 0, 1]).unwrap();
        send(&n, &mut a, sa, b"x", RIP, 520).unwrap();
        let counts: Vec<usize> = socks.iter().map(|fd| recv(&n, &mut b, *fd).len()).collect();
        assert_eq!(counts, vec![1, 1, 1, 0, 1]);
    }

    /// IP_MULTICAST_LOOP: on (the default), a member socket of the sending
    /// stack gets the datagram too, once; off, only the wire does.
    #[test]
    fn loopback_on_and_off() {
        let n = Net::boot();
        let mut h = n.host("default");
        let hub = Arc::new(Hub::default());
        let e0 = hub.plug(&h, "eth0", mac(1));
        h.addr(&e0, "10.0.0.1/24");
        let r = udp(&n, &mut h);
        bind(&n, &mut h, r, "0.0.0.0", 520);
        join(&n, &mut h, r, RIP, "10.0.0.1").unwrap();
        let s = udp(&n, &mut h);
        setopt(&n, &mut h, s, IP_MULTICAST_IF, vec![10, 0, 0, 1]).unwrap();
        send(&n, &mut h, s, b"looped", RIP, 520).unwrap();
        let got = recv(&n, &mut h, r);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, b"looped");
        assert_eq!(
            got[0].1.from.unwrap().addr,
            "10.0.0.1".parse::<Ipv4Addr>().unwrap()
        );
        setopt(&n, &mut h, s, IP_MULTICAST_LOOP, vec![0]).unwrap();
        send(&n, &mut h, s, b"not looped", RIP, 520).unwrap();
        assert!(recv(&n, &mut h, r).is_empty());
        assert_eq!(hub.to(&[0x01, 0x00, 0x5e]).len(), 2, "both went out");
        // TTL 0: looped back only, never on the wire.
        setopt(&n, &mut h, s, IP_MULTICAST_LOOP, vec![1]).unwrap();
        setopt(&n, &mut h, s, IP_MULTICAST_TTL, vec![0]).unwrap();
        send(&n, &mut h, s, b"ttl0", RIP, 520).unwrap();
        assert_eq!(recv(&n, &mut h, r).len(), 1);
        assert_eq!(hub.to(&[0x01, 0x00, 0x5e]).len(), 2);
    }

    /// Raw ICMP sockets, as routed's router discovery uses them: a router
    /// solicitation to 224.0.0.2 reaches the socket that joined it (a copy
    /// of the whole datagram, TTL 1) and not one that joined only 224.0.0.1.
    #[cfg(feature = "vimage")]
    #[test]
    fn router_discovery_over_raw_sockets() {
        let n = Net::boot();
        let (mut a, mut b) = (n.host("a"), n.host("b"));
        let hub = Arc::new(Hub::default());
        let ea = hub.plug(&a, "eth0", mac(1));
        a.addr(&ea, "10.0.0.1/24");
        let eb = hub.plug(&b, "eth0", mac(2));
        b.addr(&eb, "10.0.0.2/24");
        let raw = |h: &mut Host| n.socket(h, PF_INET, SOCK_RAW, IPPROTO_ICMP);
        let routers = raw(&mut b);
        join(&n, &mut b, routers, "224.0.0.2", "10.0.0.2").unwrap();
        let hosts = raw(&mut b);
        join(&n, &mut b, hosts, "224.0.0.1", "10.0.0.2").unwrap();
        let s = raw(&mut a);
        setopt(&n, &mut a, s, IP_MULTICAST_IF, vec![10, 0, 0, 1]).unwrap();
        let mut rs = vec![10, 0, 0, 0, 0, 0, 0, 0];
        let c = crate::ip::in_cksum(&rs);
        rs[2..4].copy_from_slice(&c.to_be_bytes());
        send(&n, &mut a, s, &rs, "224.0.0.2", 0).unwrap();
        let got = n.drain(&mut b, routers);
        assert_eq!(got.len(), 1);
        let ip = crate::ip::Ipv4Packet::new_checked(&got[0].0[..]).unwrap();
        assert_eq!(ip.dst_addr(), "224.0.0.2".parse::<Ipv4Addr>().unwrap());
        assert_eq!((ip.ttl(), ip.payload()[0]), (1, 10));
        assert!(n.drain(&mut b, hosts).is_empty());
        n.call(&mut b, Request::Close { fd: routers }).unwrap();
        n.call(&mut b, Request::Close { fd: hosts }).unwrap();
        assert!(if_multiaddrs(&eb).is_empty());
    }

    /// A router forwards no multicast: neither RIP's link-local group with
    /// TTL 1 nor a global group with TTL 64 reaches a member behind it,
    /// while the router's own member socket on the first link gets them.
    #[cfg(feature = "vimage")]
    #[test]
    fn a_router_does_not_forward_multicast() {
        let n = Net::boot();
        let (mut a, mut r, mut d) = (n.host("a"), n.host("r"), n.host("d"));
        let (ea, er0) = n.wire(&a, "eth0", mac(1), &r, "eth0", mac(2)).ends();
        let (er1, ed) = n.wire(&r, "eth1", mac(3), &d, "eth0", mac(4)).ends();
        a.addr(&ea, "10.0.0.1/24");
        r.addr(&er0, "10.0.0.254/24");
        r.addr(&er1, "10.0.1.254/24");
        d.addr(&ed, "10.0.1.1/24");
        n.sysctl(
            &mut r,
            "net.inet.ip.forwarding",
            Some(vimage_abi::sysctl::SysctlValue::Int(1)),
        );
        let rd = udp(&n, &mut d);
        bind(&n, &mut d, rd, "0.0.0.0", 520);
        join(&n, &mut d, rd, RIP, "10.0.1.1").unwrap();
        join(&n, &mut d, rd, "239.1.1.1", "10.0.1.1").unwrap();
        let rr = udp(&n, &mut r);
        bind(&n, &mut r, rr, "0.0.0.0", 520);
        join(&n, &mut r, rr, RIP, "10.0.0.254").unwrap();
        let sa = udp(&n, &mut a);
        setopt(&n, &mut a, sa, IP_MULTICAST_IF, vec![10, 0, 0, 1]).unwrap();
        send(&n, &mut a, sa, b"rip", RIP, 520).unwrap();
        setopt(
            &n,
            &mut a,
            sa,
            IP_MULTICAST_TTL,
            64i32.to_le_bytes().to_vec(),
        )
        .unwrap();
        send(&n, &mut a, sa, b"global", "239.1.1.1", 520).unwrap();
        n.run(5);
        assert_eq!(recv(&n, &mut r, rr).len(), 1);
        assert!(recv(&n, &mut d, rd).is_empty());
        assert_eq!(stat(&r, "ips_forward"), 0);
        assert_eq!(stat(&r, "ips_notmember"), 1, "239.1.1.1 nobody joined");
    }
}
