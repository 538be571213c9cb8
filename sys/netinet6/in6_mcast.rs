//! IPv6 multicast socket state (FreeBSD's netinet6/in6_mcast.c and 7.x's
//! `ip6_setmoptions`): a socket's `struct ip6_moptions` — the interface its
//! multicast packets leave by (`IPV6_MULTICAST_IF`), whether they loop back
//! to local members (`IPV6_MULTICAST_LOOP`), and the groups it joined on
//! which interfaces (`IPV6_JOIN_GROUP`, `in6_mc_join`).  The hop limit stays
//! with the socket's other hop limits.
//!
//! As for IPv4 ([`crate::in_mcast`]): a socket without multicast options
//! gets every group datagram the host accepts for its port; once it has
//! them, only the groups it joined on the arrival interface.  No MLD is
//! spoken: joins act locally, which link-scope groups such as RIPng's
//! ff02::9 need no more than.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Weak};
use vimage_abi::net_if::IFF_MULTICAST;
use vimage_abi::netinet6_in6::*;
use vimage_abi::Errno;

use super::in6::in6_route;
use vimage_net::if_var::Ifnet;
use vimage_net::r#if::{if_addmulti, if_delmulti, if_maddr_gen, ifnet_byindex};

/// `in6_mc_join`'s interface half: `ifp` listens to `group`.
pub fn in6_addmulti(ifp: &Ifnet, group: &Ipv6Addr) -> Result<(), Errno> {
    if_addmulti(ifp, IpAddr::V6(*group)).map(|_| ())
}

/// `in6_mc_leave`'s interface half: one join of `group` on `ifp` less.
pub fn in6_delmulti(ifp: &Ifnet, group: &Ipv6Addr) -> Result<(), Errno> {
    if_delmulti(ifp, IpAddr::V6(*group))
}

#[derive(Clone, Debug)]
struct Membership {
    group: Ipv6Addr,
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
                let _ = in6_delmulti(&ifp, &self.group);
            }
        }
    }
}

/// A socket's IPv6 multicast options (`struct ip6_moptions`).
#[derive(Clone, Debug)]
pub struct Ip6Moptions {
    /// `im6o_multicast_ifp` as an index (0: the route's).
    pub ifindex: u32,
    /// `im6o_multicast_loop`.
    pub loop_: bool,
    memberships: Vec<Membership>,
}

impl Default for Ip6Moptions {
    fn default() -> Self {
        Ip6Moptions {
            ifindex: 0,
            loop_: true,
            memberships: Vec::new(),
        }
    }
}

/// Whether `name` at level `IPPROTO_IPV6` is one [`ip6_setmoptions`] handles.
pub fn is_mcast6_opt(name: i32) -> bool {
    matches!(
        name,
        IPV6_MULTICAST_IF | IPV6_MULTICAST_LOOP | IPV6_JOIN_GROUP | IPV6_LEAVE_GROUP
    )
}

fn uint_opt(val: &[u8]) -> Result<u32, Errno> {
    let b: [u8; 4] = val.try_into().map_err(|_| Errno::EINVAL)?;
    Ok(u32::from_le_bytes(b))
}

impl Ip6Moptions {
    /// Whether the socket joined `group` on `ifp` (`im6o_mc_filter` passing).
    pub fn is_member(&self, group: &Ipv6Addr, ifp: &Arc<Ifnet>) -> bool {
        self.memberships
            .iter()
            .any(|m| m.group == *group && m.is_on(ifp))
    }

    /// Number of groups joined.
    pub fn num_memberships(&self) -> usize {
        self.memberships.len()
    }

    /// The interface of a request: by index (`ENXIO`… FreeBSD says
    /// `EADDRNOTAVAIL` for an unknown one), else the route's to the group
    /// (none for a link-scope group without an index).
    fn mreq_ifp(m: &Ipv6Mreq) -> Result<Arc<Ifnet>, Errno> {
        if m.interface != 0 {
            return ifnet_byindex(m.interface).ok_or(Errno::EADDRNOTAVAIL);
        }
        in6_route(&m.multiaddr, 0)
            .map(|rt| rt.ifp)
            .map_err(|_| Errno::EADDRNOTAVAIL)
    }

    /// `in6p_join_group`: `EINVAL` for a non-group address,
    /// `EADDRNOTAVAIL` for an unknown interface or one without multicast,
    /// `EADDRINUSE` when already joined there, `ETOOMANYREFS` past
    /// [`IPV6_MAX_MEMBERSHIPS`].
    pub fn join(&mut self, m: &Ipv6Mreq) -> Result<(), Errno> {
        if !m.multiaddr.is_multicast() {
            return Err(Errno::EINVAL);
        }
        let ifp = Self::mreq_ifp(m)?;
        if ifp.flags() & IFF_MULTICAST == 0 {
            return Err(Errno::EADDRNOTAVAIL);
        }
        if self.is_member(&m.multiaddr, &ifp) {
            return Err(Errno::EADDRINUSE);
        }
        if self.memberships.len() >= IPV6_MAX_MEMBERSHIPS {
            return Err(Errno::ETOOMANYREFS);
        }
        in6_addmulti(&ifp, &m.multiaddr)?;
        self.memberships.push(Membership {
            group: m.multiaddr,
            ifp: Arc::downgrade(&ifp),
            gen: if_maddr_gen(&ifp),
        });
        Ok(())
    }

    /// `in6p_leave_group`: index 0 leaves the first membership of the
    /// group.  `EINVAL` for a non-group, `EADDRNOTAVAIL` when not a member.
    pub fn leave(&mut self, m: &Ipv6Mreq) -> Result<(), Errno> {
        if !m.multiaddr.is_multicast() {
            return Err(Errno::EINVAL);
        }
        let ifp = if m.interface == 0 {
            None
        } else {
            Some(ifnet_byindex(m.interface).ok_or(Errno::EADDRNOTAVAIL)?)
        };
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

    /// Leave every group (the socket closes).
    pub fn leave_all(&mut self) {
        for x in std::mem::take(&mut self.memberships) {
            x.release();
        }
    }
}

/// `ip6_setmoptions`: set `name` (level `IPPROTO_IPV6`) on `im6o`, made on
/// first use.  `IPV6_MULTICAST_IF` takes an index (0: the route's; an
/// unknown one is `ENXIO`), `IPV6_MULTICAST_LOOP` a `u_int` 0 or 1
/// (`EINVAL` otherwise), the group options a [`Ipv6Mreq`].
pub fn ip6_setmoptions(im6o: &mut Option<Ip6Moptions>, name: i32, val: &[u8]) -> Result<(), Errno> {
    let o = im6o.get_or_insert_with(Ip6Moptions::default);
    match name {
        IPV6_MULTICAST_IF => {
            let i = uint_opt(val)?;
            if i != 0 {
                let ifp = ifnet_byindex(i).ok_or(Errno::ENXIO)?;
                if ifp.flags() & IFF_MULTICAST == 0 {
                    return Err(Errno::EADDRNOTAVAIL);
                }
            }
            o.ifindex = i;
        }
        IPV6_MULTICAST_LOOP => {
            o.loop_ = match uint_opt(val)? {
                0 => false,
                1 => true,
                _ => return Err(Errno::EINVAL),
            }
        }
        IPV6_JOIN_GROUP => o.join(&Ipv6Mreq::from_bytes(val)?)?,
        IPV6_LEAVE_GROUP => o.leave(&Ipv6Mreq::from_bytes(val)?)?,
        _ => return Err(Errno::ENOPROTOOPT),
    }
    Ok(())
}

/// `ip6_getmoptions`: `IPV6_MULTICAST_IF` and `IPV6_MULTICAST_LOOP` as a
/// `u_int`; the group options are write-only (`EOPNOTSUPP`).
pub fn ip6_getmoptions(im6o: &Option<Ip6Moptions>, name: i32) -> Result<Vec<u8>, Errno> {
    let d = Ip6Moptions::default();
    let o = im6o.as_ref().unwrap_or(&d);
    Ok(match name {
        IPV6_MULTICAST_IF => o.ifindex.to_le_bytes().to_vec(),
        IPV6_MULTICAST_LOOP => u32::from(o.loop_).to_le_bytes().to_vec(),
        IPV6_JOIN_GROUP | IPV6_LEAVE_GROUP => return Err(Errno::EOPNOTSUPP),
        _ => return Err(Errno::ENOPROTOOPT),
    })
}

#[cfg(test)]
// Several stacks need VIMAGE: without it some helpers serve nothing.
#[cfg_attr(not(feature = "vimage"), allow(dead_code, unused_imports))]
mod tests {
    //! RIPng's way of using multicast, on stacks sharing one segment.

    use super::*;
    use std::sync::atomic::Ordering;
    use vimage_abi::syscall::Request;

    use crate::in_mcast::tests::{mac, Hub};
    use crate::testnet::{Host, Net};
    use vimage_net::r#if::{if_findmulti, if_multiaddrs};

    const PF_INET6: i32 = AF_INET6 as i32;
    const RIPNG: &str = "ff02::9";

    /// The link-local address MAC 40:0a:0b:0c:0d:NN gives.
    fn ll(n: u8) -> Ipv6Addr {
        Ipv6Addr::new(
            0xfe80,
            0,
            0,
            0,
            0x420a,
            0x0bff,
            0xfe0c,
            0x0d00 | u16::from(n),
        )
    }

    fn sa(a: &str, port: u16, scope: u32) -> Vec<u8> {
        let mut s = SockaddrIn6::new(a.parse().unwrap(), scope);
        s.port = port;
        s.to_bytes().to_vec()
    }

    fn udp6(n: &Net, h: &mut Host) -> i32 {
        n.socket(h, PF_INET6, SOCK_DGRAM, 0)
    }

    fn setopt(n: &Net, h: &mut Host, fd: i32, name: i32, val: Vec<u8>) -> Result<(), Errno> {
        n.call(
            h,
            Request::Setsockopt {
                fd,
                level: IPPROTO_IPV6,
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
                level: IPPROTO_IPV6,
                name,
                val: Vec::new(),
            },
        )
        .map(|r| r.data)
    }

    fn mreq(group: &str, ifindex: u32) -> Vec<u8> {
        Ipv6Mreq {
            multiaddr: group.parse().unwrap(),
            interface: ifindex,
        }
        .to_bytes()
    }

    fn u32v(v: u32) -> Vec<u8> {
        v.to_le_bytes().to_vec()
    }

    fn send(n: &Net, h: &mut Host, fd: i32, data: &[u8], to: Vec<u8>) -> Result<(), Errno> {
        n.call(
            h,
            Request::Sendto {
                fd,
                flags: 0,
                addr: Some(to),
                data: data.to_vec(),
            },
        )
        .map(|_| ())
    }

    fn recv(n: &Net, h: &mut Host, fd: i32) -> Vec<(Vec<u8>, Ip6RecvInfo)> {
        n.drain(h, fd)
            .into_iter()
            .map(|(d, a)| (d, Ip6RecvInfo::from_bytes(&a).expect("recv info")))
            .collect()
    }

    /// A route6d-style socket: bound to *:521, joined to ff02::9 on
    /// `ifindex`, asking for pktinfo and the hop limit.
    fn ripng_socket(n: &Net, h: &mut Host, ifindex: u32) -> i32 {
        let fd = udp6(n, h);
        n.call(
            h,
            Request::Bind {
                fd,
                addr: sa("::", 521, 0),
            },
        )
        .expect("bind");
        setopt(n, h, fd, IPV6_JOIN_GROUP, mreq(RIPNG, ifindex)).unwrap();
        for o in [IPV6_RECVPKTINFO, IPV6_RECVHOPLIMIT] {
            setopt(n, h, fd, o, u32v(1)).unwrap();
        }
        setopt(n, h, fd, IPV6_MULTICAST_HOPS, u32v(255)).unwrap();
        fd
    }

    /// Options and their errors, as FreeBSD answers them.
    #[test]
    fn options_and_their_errors() {
        let n = Net::boot();
        let mut h = n.host("default");
        let hub = std::sync::Arc::new(Hub::default());
        let e0 = hub.plug(&h, "eth0", mac(1));
        n.up(&mut h, "eth0");
        let idx = e0.index.load(Ordering::Relaxed);
        let fd = udp6(&n, &mut h);
        assert_eq!(getopt(&n, &mut h, fd, IPV6_MULTICAST_IF), Ok(u32v(0)));
        assert_eq!(getopt(&n, &mut h, fd, IPV6_MULTICAST_LOOP), Ok(u32v(1)));
        assert_eq!(
            setopt(
                &n,
                &mut h,
                fd,
                IPV6_JOIN_GROUP,
                mreq(RIPNG, idx)[..19].to_vec()
            ),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            setopt(&n, &mut h, fd, IPV6_JOIN_GROUP, mreq("fe80::1", idx)),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            setopt(&n, &mut h, fd, IPV6_JOIN_GROUP, mreq(RIPNG, 99)),
            Err(Errno::EADDRNOTAVAIL)
        );
        // A link-scope group needs its interface.
        assert_eq!(
            setopt(&n, &mut h, fd, IPV6_JOIN_GROUP, mreq(RIPNG, 0)),
            Err(Errno::EADDRNOTAVAIL)
        );
        assert_eq!(
            setopt(&n, &mut h, fd, IPV6_LEAVE_GROUP, mreq(RIPNG, idx)),
            Err(Errno::EADDRNOTAVAIL)
        );
        setopt(&n, &mut h, fd, IPV6_JOIN_GROUP, mreq(RIPNG, idx)).unwrap();
        assert_eq!(
            setopt(&n, &mut h, fd, IPV6_JOIN_GROUP, mreq(RIPNG, idx)),
            Err(Errno::EADDRINUSE)
        );
        assert!(if_findmulti(&e0, IpAddr::V6(RIPNG.parse().unwrap())));
        assert_eq!(
            getopt(&n, &mut h, fd, IPV6_JOIN_GROUP),
            Err(Errno::EOPNOTSUPP)
        );
        assert_eq!(
            setopt(&n, &mut h, fd, IPV6_MULTICAST_IF, u32v(99)),
            Err(Errno::ENXIO)
        );
        setopt(&n, &mut h, fd, IPV6_MULTICAST_IF, u32v(idx)).unwrap();
        assert_eq!(getopt(&n, &mut h, fd, IPV6_MULTICAST_IF), Ok(u32v(idx)));
        assert_eq!(
            setopt(&n, &mut h, fd, IPV6_MULTICAST_LOOP, u32v(2)),
            Err(Errno::EINVAL)
        );
        setopt(&n, &mut h, fd, IPV6_MULTICAST_LOOP, u32v(0)).unwrap();
        assert_eq!(getopt(&n, &mut h, fd, IPV6_MULTICAST_LOOP), Ok(u32v(0)));
        // Leave with index 0: the first membership of the group.
        setopt(&n, &mut h, fd, IPV6_LEAVE_GROUP, mreq(RIPNG, 0)).unwrap();
        assert!(!if_findmulti(&e0, IpAddr::V6(RIPNG.parse().unwrap())));
        // Closing leaves what is left.
        setopt(&n, &mut h, fd, IPV6_JOIN_GROUP, mreq("ff02::1:3", idx)).unwrap();
        n.call(&mut h, Request::Close { fd }).unwrap();
        assert!(if_multiaddrs(&e0).is_empty());
    }

    /// Three stacks on one segment, as route6d runs: the joined one gets the
    /// update with the sender's link-local source (its zone the arrival
    /// interface), hop limit 255 and pktinfo naming ff02::9 and the
    /// interface; the frame went to 33:33:00:00:00:09; the stack that did
    /// not join drops it; loopback on and off; after a leave nothing.
    #[cfg(feature = "vimage")]
    #[test]
    fn ripng_update_reaches_the_joined_stack_only() {
        let n = Net::boot();
        let (mut a, mut b, mut c) = (n.host("a"), n.host("b"), n.host("c"));
        let hub = std::sync::Arc::new(Hub::default());
        let mut idx = Vec::new();
        for (h, i) in [(&mut a, 1u8), (&mut b, 2), (&mut c, 3)] {
            let e = hub.plug(h, "eth0", mac(i));
            n.up(h, "eth0");
            idx.push(e.index.load(Ordering::Relaxed));
        }
        n.advance_ms(1000);
        let rb = ripng_socket(&n, &mut b, idx[1]);
        let rc = udp6(&n, &mut c);
        n.call(
            &mut c,
            Request::Bind {
                fd: rc,
                addr: sa("::", 521, 0),
            },
        )
        .unwrap();
        let nm0 = stat6(&c, "notmember");
        let ra = ripng_socket(&n, &mut a, idx[0]);
        setopt(&n, &mut a, ra, IPV6_MULTICAST_IF, u32v(idx[0])).unwrap();
        // No scope in the destination: IPV6_MULTICAST_IF says where.
        send(&n, &mut a, ra, b"update", sa(RIPNG, 521, 0)).unwrap();
        let got = recv(&n, &mut b, rb);
        assert_eq!(got.len(), 1);
        let (d, info) = &got[0];
        assert_eq!(d, b"update");
        let from = info.from.unwrap();
        assert_eq!((from.addr, from.port, from.scope_id), (ll(1), 521, idx[1]));
        assert_eq!(info.hoplimit, Some(255));
        assert_eq!(info.pktinfo, Some((RIPNG.parse().unwrap(), idx[1])));
        assert!(recv(&n, &mut c, rc).is_empty());
        assert_eq!(stat6(&c, "notmember"), nm0 + 1);
        let frames = hub.to(&[0x33, 0x33, 0, 0, 0, 9]);
        assert_eq!(frames.len(), 1);
        // Loopback (on by default): the sender's own member socket got it.
        let own = recv(&n, &mut a, ra);
        assert_eq!(own.len(), 1);
        assert_eq!(own[0].1.from.unwrap().addr, ll(1));
        setopt(&n, &mut a, ra, IPV6_MULTICAST_LOOP, u32v(0)).unwrap();
        // A zone in the destination does as well as IPV6_MULTICAST_IF.
        send(&n, &mut a, ra, b"again", sa(RIPNG, 521, idx[0])).unwrap();
        assert!(recv(&n, &mut a, ra).is_empty());
        assert_eq!(recv(&n, &mut b, rb).len(), 1);
        setopt(&n, &mut b, rb, IPV6_LEAVE_GROUP, mreq(RIPNG, idx[1])).unwrap();
        send(&n, &mut a, ra, b"gone", sa(RIPNG, 521, idx[0])).unwrap();
        assert!(recv(&n, &mut b, rb).is_empty());
    }

    fn stat6(h: &Host, name: &str) -> u64 {
        h.with(|| {
            let st = super::super::in6::vnet_inet6();
            match name {
                "notmember" => st.ip6stat.ip6s_notmember.load(Ordering::Relaxed),
                _ => 0,
            }
        })
    }

    /// A router forwards no IPv6 multicast either: ff05::9 (site scope)
    /// with hop limit 64 from one link never reaches a member on the other.
    #[cfg(feature = "vimage")]
    #[test]
    fn a_router_does_not_forward_ipv6_multicast() {
        let n = Net::boot();
        let (mut a, mut r, mut d) = (n.host("a"), n.host("r"), n.host("d"));
        let (ea, _) = n.wire(&a, "eth0", mac(1), &r, "eth0", mac(2)).ends();
        let (_, ed) = n.wire(&r, "eth1", mac(3), &d, "eth0", mac(4)).ends();
        n.up(&mut a, "eth0");
        n.up(&mut r, "eth0");
        n.up(&mut r, "eth1");
        n.up(&mut d, "eth0");
        a.addr(&ea, "a:1::1/64");
        n.sysctl(
            &mut r,
            "net.inet6.ip6.forwarding",
            Some(vimage_abi::sysctl::SysctlValue::Int(1)),
        );
        n.advance_ms(1000);
        let (ia, id) = (
            ea.index.load(Ordering::Relaxed),
            ed.index.load(Ordering::Relaxed),
        );
        let rd = udp6(&n, &mut d);
        n.call(
            &mut d,
            Request::Bind {
                fd: rd,
                addr: sa("::", 521, 0),
            },
        )
        .unwrap();
        setopt(&n, &mut d, rd, IPV6_JOIN_GROUP, mreq("ff05::9", id)).unwrap();
        let s = udp6(&n, &mut a);
        setopt(&n, &mut a, s, IPV6_MULTICAST_IF, u32v(ia)).unwrap();
        setopt(&n, &mut a, s, IPV6_MULTICAST_HOPS, u32v(64)).unwrap();
        let nm = stat6(&r, "notmember");
        send(&n, &mut a, s, b"site", sa("ff05::9", 521, 0)).unwrap();
        n.run(5);
        assert_eq!(stat6(&r, "notmember"), nm + 1, "the router saw it");
        assert!(recv(&n, &mut d, rd).is_empty());
    }
}
