//! Automatic addresses of an interface coming up (FreeBSD's
//! netinet6/in6_ifattach.c): ::1 and fe80::1 on the loopback, and a link-local
//! address on every other interface, its interface identifier made from the
//! link address (modified EUI-64, RFC 4291 appendix A: MAC 40:00:aa:aa:00:03
//! gives fe80::4200:aaff:feaa:3).

use std::net::Ipv6Addr;
use std::sync::Arc;
use vimage_abi::net_if::{IFF_LOOPBACK, IFT_ETHER, IFT_L2VLAN};
use vimage_kern::kern_vimage::vnet_hostname;
use vimage_kern::md5c::md5;

use super::in6::{in6_addrs, in6_is_linklocal, in6_update_ifa, In6Ifaddr};
use vimage_net::if_var::Ifnet;
use vimage_net::r#if::vnet_net;

/// The modified EUI-64 interface identifier of a 48-bit MAC: `ff:fe` in the
/// middle and the universal/local bit inverted.
pub fn in6_eui64(mac: &[u8; 6]) -> [u8; 8] {
    [
        mac[0] ^ 0x02,
        mac[1],
        mac[2],
        0xff,
        0xfe,
        mac[3],
        mac[4],
        mac[5],
    ]
}

/// `in6_get_ifid`: the interface identifier for `ifp`: from its own 6-byte link
/// address, else borrowed from another interface of the vnet that has one
/// (`get_hw_ifid` of a sibling, as for point-to-point links), else made from
/// the interface name (local scope, never universal).  A vlan is no hardware
/// source of its own (see [`in6_get_ifid_vlan`]).
pub fn in6_get_ifid(ifp: &Arc<Ifnet>) -> [u8; 8] {
    let mac = |i: &Ifnet| -> Option<[u8; 6]> {
        let l = i.lladdr();
        let m: [u8; 6] = l.as_slice().try_into().ok()?;
        (m != [0; 6]).then_some(m)
    };
    if ifp.iftype == IFT_L2VLAN {
        return in6_get_ifid_vlan(ifp, mac);
    }
    if let Some(m) = mac(ifp) {
        return in6_eui64(&m);
    }
    if let Some(m) = vnet_net().list().iter().find_map(|i| mac(i)) {
        return in6_eui64(&m);
    }
    // FNV-1a of the name; the u bit (0x02 of the first byte) stays clear.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in ifp.name().bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut id = h.to_be_bytes();
    id[0] &= !0x02;
    if id == [0; 8] {
        id[7] = 1;
    }
    id
}

/// FreeBSD 7's `in6_get_ifid` for a vlan, which `get_hw_ifid` does not
/// take: the identifier of the first other Ethernet interface of the vnet
/// whose identifier is universal (in the parent's vimage, some Ethernet such
/// as the parent), else `get_rand_ifid`'s MD5 of the vimage's hostname.  A
/// vlan moved into a fresh vimage (Exercise 3's n1 and n2, no hostname) thus
/// gets `fe80::d41d:8cd9:8f00:b204`, MD5("") made local and individual.
fn in6_get_ifid_vlan(ifp: &Arc<Ifnet>, mac: impl Fn(&Ifnet) -> Option<[u8; 6]>) -> [u8; 8] {
    let borrowed = vnet_net().list().iter().find_map(|i| {
        if Arc::ptr_eq(i, ifp) || i.iftype != IFT_ETHER {
            return None;
        }
        // Universal: the inverted u bit is set in the identifier.
        Some(in6_eui64(&mac(i)?)).filter(|id| id[0] & EUI64_UBIT != 0)
    });
    if let Some(id) = borrowed {
        return id;
    }
    in6_hostname_ifid(&vnet_hostname(&ifp.vnet()))
}

/// `get_rand_ifid`: an interface identifier from a hostname, the first half
/// of its MD5 made an individual, local EUI-64, then inverted as any EUI-64
/// is into an identifier.
pub fn in6_hostname_ifid(hostname: &str) -> [u8; 8] {
    let d = md5(hostname.as_bytes());
    let mut id = [0u8; 8];
    id.copy_from_slice(&d[..8]);
    id[0] &= !EUI64_GBIT;
    id[0] |= EUI64_UBIT;
    id[0] ^= EUI64_UBIT;
    id
}

/// The group bit of an EUI-64 (`EUI64_GBIT`).
const EUI64_GBIT: u8 = 0x01;
/// The universal/local bit of an EUI-64 (`EUI64_UBIT`).
const EUI64_UBIT: u8 = 0x02;

/// The link-local address with interface identifier `id`.
pub fn in6_linklocal(id: &[u8; 8]) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o[0] = 0xfe;
    o[1] = 0x80;
    o[8..].copy_from_slice(id);
    Ipv6Addr::from(o)
}

/// `in6_ifattach`: give `ifp` its automatic addresses if it lacks them.
pub fn in6_ifattach(ifp: &Arc<Ifnet>) {
    let have = in6_addrs(ifp);
    if ifp.flags() & IFF_LOOPBACK != 0 {
        if !have.iter().any(|a| a.addr == Ipv6Addr::LOCALHOST) {
            let _ = in6_update_ifa(
                ifp,
                In6Ifaddr {
                    addr: Ipv6Addr::LOCALHOST,
                    plen: 128,
                    dst: None,
                    flags: 0,
                },
            );
        }
        let ll = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
        if !have.iter().any(|a| a.addr == ll) {
            let _ = in6_update_ifa(
                ifp,
                In6Ifaddr {
                    addr: ll,
                    plen: 64,
                    dst: None,
                    flags: 0,
                },
            );
        }
        return;
    }
    if have.iter().any(|a| in6_is_linklocal(&a.addr)) {
        return;
    }
    let addr = in6_linklocal(&in6_get_ifid(ifp));
    let _ = in6_update_ifa(
        ifp,
        In6Ifaddr {
            addr,
            plen: 64,
            dst: None,
            flags: 0,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vlan_in_a_fresh_vimage_gets_the_tutorials_link_local() {
        // Exercise 3: n1 and n2 have no hostname.
        assert_eq!(
            in6_linklocal(&in6_hostname_ifid("")),
            "fe80::d41d:8cd9:8f00:b204".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            in6_linklocal(&in6_hostname_ifid("n1")),
            "fe80::c825:61ec:215a:6e31".parse::<Ipv6Addr>().unwrap()
        );
    }

    #[test]
    fn tutorial_mac_gives_tutorial_link_local() {
        let id = in6_eui64(&[0x40, 0x00, 0xaa, 0xaa, 0x00, 0x03]);
        assert_eq!(
            in6_linklocal(&id),
            "fe80::4200:aaff:feaa:3".parse::<Ipv6Addr>().unwrap()
        );
        // A universal address gets the u bit set (inverted to 1 in the IID).
        let id = in6_eui64(&[0x00, 0x0c, 0x29, 0x12, 0x34, 0x56]);
        assert_eq!(in6_linklocal(&id).to_string(), "fe80::20c:29ff:fe12:3456");
    }
}
