//! Interfaces and hosts as the tools name them: the vimage's interface list,
//! and the host arguments there is no resolver for (literal addresses and
//! `localhost`, IPv6 ones with a `%scope`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use vimage_abi::net_if::IfInfo;
use vimage_abi::netinet6_in6::{in6_ntoa_scoped, SockaddrIn6};
use vimage_abi::netinet_in::PF_INET;
use vimage_abi::sysctl::SysctlValue;

use crate::{Errno, Sys};

impl Sys {
    /// An opaque sysctl's bytes (`EINVAL` if the variable is not opaque).
    pub fn sysctl_opaque(&mut self, name: &str) -> Result<Vec<u8>, Errno> {
        match self.sysctl(name)?.value {
            SysctlValue::Opaque(_, b) => Ok(b),
            _ => Err(Errno::EINVAL),
        }
    }

    /// The caller's vimage's interfaces (`net.link.iflist`).
    pub fn iflist(&mut self) -> Result<Vec<IfInfo>, Errno> {
        IfInfo::decode_list(&self.sysctl_opaque("net.link.iflist")?)
    }

    /// The interfaces' names by index; none if the list cannot be read.
    pub fn ifnames(&mut self) -> IfNames {
        IfNames::new(&self.iflist().unwrap_or_default())
    }
}

/// Interface names by index (`if_indextoname`/`if_nametoindex`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IfNames(Vec<(u32, String)>);

impl IfNames {
    /// The names of the interfaces `ifs`.
    pub fn new(ifs: &[IfInfo]) -> IfNames {
        IfNames(ifs.iter().map(|i| (i.index, i.name.clone())).collect())
    }

    /// `if_indextoname`.
    pub fn name(&self, index: u32) -> Option<&str> {
        self.0
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, n)| n.as_str())
    }

    /// `if_nametoindex`.
    pub fn index(&self, name: &str) -> Option<u32> {
        self.0.iter().find(|(_, n)| n == name).map(|(i, _)| *i)
    }
}

/// An IPv4 host argument: a dotted quad or `localhost`.
pub fn resolve4(h: &str) -> Option<Ipv4Addr> {
    if h == "localhost" {
        return Some(Ipv4Addr::LOCALHOST);
    }
    h.parse().ok()
}

/// An IPv6 host argument, `ADDR` or `ADDR%SCOPE` (an interface name or
/// index): the address and the scope, if one was given.
pub fn resolve6_scope(h: &str, names: &IfNames) -> Option<(Ipv6Addr, Option<u32>)> {
    let (a, scope) = match h.split_once('%') {
        Some((a, s)) => (a, Some(s)),
        None => (h, None),
    };
    let addr: Ipv6Addr = a.parse().ok()?;
    let scope = match scope {
        None => None,
        Some(s) => Some(names.index(s).or_else(|| s.parse().ok())?),
    };
    Some((addr, scope))
}

/// `getaddrinfo(AI_NUMERICHOST)` for IPv6: [`resolve6_scope`] as a sockaddr
/// (scope 0 when none was given).
pub fn resolve6(h: &str, names: &IfNames) -> Option<SockaddrIn6> {
    let (a, scope) = resolve6_scope(h, names)?;
    Some(SockaddrIn6::new(a, scope.unwrap_or(0)))
}

/// `getnameinfo(NI_NUMERICHOST)` of an IPv6 sockaddr: `%ifname` (or the
/// index) after a scoped address.
pub fn pr_addr6(sa: &SockaddrIn6, names: &IfNames) -> String {
    let n = names
        .name(sa.scope_id)
        .map(str::to_string)
        .or_else(|| (sa.scope_id != 0).then(|| sa.scope_id.to_string()));
    in6_ntoa_scoped(&sa.addr, n.as_deref())
}

/// `getaddrinfo` without a resolver: the addresses `host` stands for (a
/// literal, `[literal]`, `fe80::1%2`, or `localhost` for both loopbacks), only
/// those of `family` (`PF_INET` or `PF_INET6`) if given.
pub fn getaddrinfo(host: &str, family: Option<i32>) -> Vec<IpAddr> {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    let cands: Vec<IpAddr> = if h == "localhost" {
        vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]
    } else if let Ok(a) = h.parse::<IpAddr>() {
        vec![a]
    } else if let Some(a) = h.split_once('%').and_then(|(a, _)| a.parse().ok()) {
        // A scoped literal; the scope is the caller's to read.
        vec![a]
    } else {
        vec![]
    };
    cands
        .into_iter()
        .filter(|a| match family {
            Some(f) if f == PF_INET => a.is_ipv4(),
            Some(_) => a.is_ipv6(),
            None => true,
        })
        .collect()
}

/// The name of user `uid` in the host's password database (`getpwuid`).
pub fn user_of(uid: u32) -> Option<String> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: getpwuid_r writes the entry into `pw` and its strings into
    // `buf`, both sized here; `res` says whether it found one.
    unsafe {
        let mut pw: libc::passwd = std::mem::zeroed();
        let mut res: *mut libc::passwd = std::ptr::null_mut();
        let r = libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut res);
        if r != 0 || res.is_null() || pw.pw_name.is_null() {
            return None;
        }
        Some(
            std::ffi::CStr::from_ptr(pw.pw_name)
                .to_string_lossy()
                .into_owned(),
        )
    }
}

/// The uid of user `name`, or `name` itself if it is a number (`getpwnam`).
pub fn uid_of(name: &str) -> Option<u32> {
    if let Ok(n) = name.parse() {
        return Some(n);
    }
    let c = std::ffi::CString::new(name).ok()?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: as in user_of; `c` is NUL-terminated.
    unsafe {
        let mut pw: libc::passwd = std::mem::zeroed();
        let mut res: *mut libc::passwd = std::ptr::null_mut();
        let r = libc::getpwnam_r(
            c.as_ptr(),
            &mut pw,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut res,
        );
        if r != 0 || res.is_null() {
            return None;
        }
        Some(pw.pw_uid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PF_INET6;

    fn names() -> IfNames {
        IfNames(vec![(1, "lo0".into()), (2, "eth0".into())])
    }

    #[test]
    fn interface_names_and_indexes() {
        let n = names();
        assert_eq!((n.name(2), n.name(9)), (Some("eth0"), None));
        assert_eq!((n.index("lo0"), n.index("eth9")), (Some(1), None));
    }

    #[test]
    fn host_arguments() {
        assert_eq!(resolve4("localhost"), Some(Ipv4Addr::LOCALHOST));
        assert_eq!(resolve4("10.0.0.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(resolve4("example.org"), None);
        let ll: Ipv6Addr = "fe80::1".parse().unwrap();
        let n = names();
        assert_eq!(resolve6_scope("fe80::1", &n), Some((ll, None)));
        assert_eq!(resolve6_scope("fe80::1%eth0", &n), Some((ll, Some(2))));
        assert_eq!(resolve6_scope("fe80::1%7", &n), Some((ll, Some(7))));
        assert_eq!(resolve6_scope("fe80::1%eth9", &n), None);
        let sa = resolve6("fe80::1%eth0", &n).unwrap();
        assert_eq!((sa.addr, sa.scope_id), (ll, 2));
        assert_eq!(pr_addr6(&sa, &n), "fe80::1%eth0");
        assert_eq!(pr_addr6(&SockaddrIn6::new(ll, 7), &n), "fe80::1%7");
        assert_eq!(pr_addr6(&resolve6("a:1::2", &n).unwrap(), &n), "a:1::2");
    }

    #[test]
    fn getaddrinfo_by_family() {
        let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_eq!(getaddrinfo("localhost", None), vec![v4, v6]);
        assert_eq!(getaddrinfo("localhost", Some(PF_INET6)), vec![v6]);
        assert!(getaddrinfo("[::1]", Some(PF_INET)).is_empty());
        assert_eq!(getaddrinfo("127.0.0.1", Some(PF_INET)), vec![v4]);
        assert_eq!(getaddrinfo("fe80::1%2", None).len(), 1);
        assert!(getaddrinfo("nosuchhost", None).is_empty());
    }
}
