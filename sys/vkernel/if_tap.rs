//! Host interfaces as Ethernet ifnets (the tutorial's `em0`/`iwi0`): a TAP device
//! this kernel creates, or an existing host interface opened with AF_PACKET
//! (e.g. one end of a veth pair).  `vkernel --attach NAME=tap[:HOSTIF]` or
//! `--attach NAME=packet:HOSTIF` attaches one at boot in the default vimage;
//! like any other interface it moves between vimages with `vimage -i`.
//!
//! One reader thread per interface hands received frames to `if_input`; the
//! driver's transmit writes frames to the host.  Both need root (CAP_NET_ADMIN /
//! CAP_NET_RAW).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use vimage_abi::net_if::{
    IFF_BROADCAST, IFF_MULTICAST, IFF_RUNNING, IFF_SIMPLEX, IFF_UP, IFT_ETHER,
};
use vimage_abi::Errno;
use vimage_kern::{CurvnetGuard, Kernel};
use vimage_net::if_var::{IfDriver, Ifnet};
use vimage_net::mbuf::Mbuf;
use vimage_net::netisr::netisr_enter;
use vimage_net::r#if::{if_attach, if_input, ifname_valid};

/// What `--attach` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachSpec {
    /// The ifnet's name in the kernel (`em0`).
    pub name: String,
    /// TAP (created) or AF_PACKET (opened).
    pub kind: HostKind,
}

/// The host side of an attached interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKind {
    /// A TAP device; its host name (`None`: the host picks `tapN`).
    Tap(Option<String>),
    /// An existing host interface read and written with AF_PACKET.
    Packet(String),
}

impl std::str::FromStr for AttachSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, what) = s
            .split_once('=')
            .ok_or_else(|| format!("{s}: expected NAME=tap[:HOSTIF] or NAME=packet:HOSTIF"))?;
        ifname_valid(name).map_err(|e| format!("{name}: bad interface name: {e}"))?;
        let host_ok = |h: &str| !h.is_empty() && h.len() < 16 && !h.contains(['/', ' ', '\0']);
        let kind = match what.split_once(':') {
            None if what == "tap" => HostKind::Tap(None),
            Some(("tap", h)) if host_ok(h) => HostKind::Tap(Some(h.to_string())),
            Some(("packet", h)) if host_ok(h) => HostKind::Packet(h.to_string()),
            _ => {
                return Err(format!(
                    "{s}: expected NAME=tap[:HOSTIF] or NAME=packet:HOSTIF"
                ))
            }
        };
        Ok(AttachSpec {
            name: name.to_string(),
            kind,
        })
    }
}

fn last_errno() -> Errno {
    Errno::from_host(std::io::Error::last_os_error().raw_os_error().unwrap_or(5))
}

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

/// Create (or open) TAP device `host`; returns the fd and the host's name for it.
fn open_tap(host: Option<&str>) -> Result<(OwnedFd, String), Errno> {
    // SAFETY: plain open(2) of a constant path.
    let fd = unsafe { libc::open(c"/dev/net/tun".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(last_errno());
    }
    // SAFETY: fd was just returned by open and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut ifr = [0u8; 40];
    if let Some(h) = host {
        ifr[..h.len()].copy_from_slice(h.as_bytes());
    }
    let flags = (libc::IFF_TAP | libc::IFF_NO_PI) as u16;
    ifr[16..18].copy_from_slice(&flags.to_ne_bytes());
    // SAFETY: TUNSETIFF reads and writes a struct ifreq (40 bytes) we own.
    if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF as _, ifr.as_mut_ptr()) } < 0 {
        return Err(last_errno());
    }
    let n = ifr[..16].iter().position(|&c| c == 0).unwrap_or(16);
    Ok((fd, String::from_utf8_lossy(&ifr[..n]).into_owned()))
}

/// Open host interface `host` with AF_PACKET, promiscuous (frames for our own
/// MAC must come in).
fn open_packet(host: &str) -> Result<(OwnedFd, i32), Errno> {
    let cname = std::ffi::CString::new(host).map_err(|_| Errno::EINVAL)?;
    // SAFETY: valid NUL-terminated string.
    let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) } as i32;
    if ifindex == 0 {
        return Err(Errno::ENXIO);
    }
    let proto = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain socket(2).
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            i32::from(proto),
        )
    };
    if fd < 0 {
        return Err(last_errno());
    }
    // SAFETY: fresh fd owned here.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: zeroed sockaddr_ll is a valid value; fields set below.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto;
    sll.sll_ifindex = ifindex;
    // SAFETY: pointer and length describe `sll`.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &sll as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if r < 0 {
        return Err(last_errno());
    }
    // struct packet_mreq { int ifindex; u16 type; u16 alen; u8 address[8]; }
    let mut mreq = [0u8; 16];
    mreq[..4].copy_from_slice(&ifindex.to_ne_bytes());
    mreq[4..6].copy_from_slice(&1u16.to_ne_bytes()); // PACKET_MR_PROMISC
                                                     // SAFETY: setsockopt with a 16-byte packet_mreq we own.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_ADD_MEMBERSHIP,
            mreq.as_ptr() as *const libc::c_void,
            16,
        )
    };
    if r < 0 {
        return Err(last_errno());
    }
    // Ask for each frame's status: Linux hands frames from local senders (a veth
    // peer) to packet sockets before their TCP/UDP checksum is filled in.
    let one: libc::c_int = 1;
    // SAFETY: setsockopt with an int we own.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_AUXDATA,
            &one as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as u32,
        )
    };
    Ok((fd, ifindex))
}

/// `TP_STATUS_CSUMNOTREADY`: the frame's transport checksum is only partial.
const TP_STATUS_CSUMNOTREADY: u32 = 8;

/// Finish the TCP/UDP checksum of an Ethernet frame whose sender left it to
/// "hardware" (checksum offload): what a NIC would have done on the wire.
pub fn fix_l4_checksum(f: &mut [u8]) {
    use vimage_inet::ip::{cksum_add, cksum_sum, in6_pseudo, in_pseudo};
    if f.len() < 14 {
        return;
    }
    let et = u16::from_be_bytes([f[12], f[13]]);
    let (l4, proto, pseudo) = match et {
        0x0800 if f.len() >= 34 => {
            let ihl = usize::from(f[14] & 0x0f) * 4;
            let tot = usize::from(u16::from_be_bytes([f[16], f[17]]));
            if ihl < 20 || tot < ihl || 14 + tot > f.len() {
                return;
            }
            let src = std::net::Ipv4Addr::new(f[26], f[27], f[28], f[29]);
            let dst = std::net::Ipv4Addr::new(f[30], f[31], f[32], f[33]);
            let proto = f[23];
            let l4 = 14 + ihl..14 + tot;
            (l4.clone(), proto, in_pseudo(src, dst, proto, l4.len()))
        }
        0x86dd if f.len() >= 54 => {
            let plen = usize::from(u16::from_be_bytes([f[18], f[19]]));
            if 54 + plen > f.len() {
                return;
            }
            let mut a = [0u8; 16];
            a.copy_from_slice(&f[22..38]);
            let src = std::net::Ipv6Addr::from(a);
            a.copy_from_slice(&f[38..54]);
            let dst = std::net::Ipv6Addr::from(a);
            let proto = f[20];
            (54..54 + plen, proto, in6_pseudo(&src, &dst, proto, plen))
        }
        _ => return,
    };
    let off = match proto {
        6 => 16,
        17 => 6,
        _ => return,
    };
    if l4.len() < off + 2 {
        return;
    }
    let seg = &mut f[l4];
    seg[off] = 0;
    seg[off + 1] = 0;
    let mut c = !cksum_add(pseudo, cksum_sum(seg));
    if proto == 17 && c == 0 {
        c = 0xffff;
    }
    seg[off..off + 2].copy_from_slice(&c.to_be_bytes());
}

/// The driver: frames out go to the host fd.
struct HostDriver {
    fd: Arc<OwnedFd>,
    closed: Arc<AtomicBool>,
}

impl IfDriver for HostDriver {
    fn transmit(&self, _ifp: &Arc<Ifnet>, m: Mbuf) -> Result<(), Errno> {
        let d = m.data();
        // SAFETY: writes `d.len()` bytes from a live slice to an fd we own.
        let n = unsafe { libc::write(self.fd.as_raw_fd(), d.as_ptr() as *const _, d.len()) };
        if n < 0 {
            return Err(last_errno());
        }
        Ok(())
    }
    fn status(&self, _ifp: &Arc<Ifnet>) -> Vec<String> {
        // As a laptop's em0 shows itself (which host device stands behind it
        // is in the boot log, not in ifconfig).
        vec![
            "media: Ethernet autoselect (1000baseT <full-duplex>)".into(),
            "status: active".into(),
        ]
    }
    fn detached(&self, _ifp: &Arc<Ifnet>) {
        self.closed.store(true, Ordering::Release);
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Hand every frame the host gives us to the interface's input, until detached.
fn reader(ifp: Arc<Ifnet>, fd: Arc<OwnedFd>, closed: Arc<AtomicBool>, packet: bool) {
    let mut buf = vec![0u8; 65_536];
    while !closed.load(Ordering::Acquire) {
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd we own.
        if unsafe { libc::poll(&mut p, 1, 200) } <= 0 {
            continue;
        }
        // SAFETY: zeroed sockaddr_ll is valid; recvmsg fills at most its size.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut cbuf = [0u64; 16];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr() as *mut _,
            iov_len: buf.len(),
        };
        // SAFETY: zeroed msghdr is valid; pointers set below stay live for the call.
        let mut mh: libc::msghdr = unsafe { std::mem::zeroed() };
        mh.msg_name = &mut sll as *mut _ as *mut libc::c_void;
        mh.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as u32;
        mh.msg_iov = &mut iov;
        mh.msg_iovlen = 1;
        mh.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
        mh.msg_controllen = std::mem::size_of_val(&cbuf) as _;
        // SAFETY: buffers described by `mh` are valid for their lengths.
        let n = unsafe {
            if packet {
                libc::recvmsg(fd.as_raw_fd(), &mut mh, 0)
            } else {
                libc::read(fd.as_raw_fd(), buf.as_mut_ptr() as *mut _, buf.len())
            }
        };
        if n <= 0 {
            if n < 0 && last_errno() == Errno::EAGAIN {
                continue;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
            continue;
        }
        // Our own transmissions come back on a packet socket: skip them.
        if packet && sll.sll_pkttype == libc::PACKET_OUTGOING {
            continue;
        }
        let frame = &mut buf[..n as usize];
        let aux = if packet { auxdata(&mh) } else { Aux::default() };
        if aux.csum_not_ready {
            fix_l4_checksum(frame);
        }
        let mut m = Mbuf::from_slice(frame);
        if let Some((tpid, tci)) = aux.vlan {
            // Linux took the 802.1Q tag off into the auxiliary data: put it
            // back where it was on the wire, so vlans work over `packet:` as
            // over `tap:`.
            if let Some(g) = m.open_gap(12, 4) {
                g[..2].copy_from_slice(&tpid.to_be_bytes());
                g[2..].copy_from_slice(&tci.to_be_bytes());
            }
        }
        let _ns = netisr_enter();
        if_input(&ifp, m);
    }
}

/// What a packet socket's auxiliary data says of a frame.
#[derive(Default, Debug, PartialEq, Eq)]
struct Aux {
    /// The transport checksum is only partial.
    csum_not_ready: bool,
    /// The 802.1Q tag Linux stripped: (TPID, TCI).
    vlan: Option<(u16, u16)>,
}

/// `TP_STATUS_VLAN_VALID`: `tp_vlan_tci` holds the stripped tag.
const TP_STATUS_VLAN_VALID: u32 = 0x10;
/// `TP_STATUS_VLAN_TPID_VALID`: `tp_vlan_tpid` holds its TPID.
const TP_STATUS_VLAN_TPID_VALID: u32 = 0x40;

/// Decode `struct tpacket_auxdata` (status, len, snaplen, mac, net,
/// vlan_tci, vlan_tpid).
fn parse_auxdata(d: &[u8]) -> Aux {
    let u32_at = |o: usize| {
        d.get(o..o + 4)
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u16_at = |o: usize| d.get(o..o + 2).map(|b| u16::from_ne_bytes([b[0], b[1]]));
    let status = u32_at(0).unwrap_or(0);
    let vlan = (status & TP_STATUS_VLAN_VALID != 0).then(|| {
        let tpid = match u16_at(18) {
            Some(t) if status & TP_STATUS_VLAN_TPID_VALID != 0 && t != 0 => t,
            _ => 0x8100,
        };
        (tpid, u16_at(16).unwrap_or(0))
    });
    Aux {
        csum_not_ready: status & TP_STATUS_CSUMNOTREADY != 0,
        vlan,
    }
}

/// The packet socket's auxiliary data of the frame `recvmsg` just read.
fn auxdata(mh: &libc::msghdr) -> Aux {
    // SAFETY: walking the control buffer recvmsg filled, with libc's macros;
    // the data is copied out within its cmsg_len.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(mh);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_PACKET && (*c).cmsg_type == libc::PACKET_AUXDATA {
                let len = ((*c).cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
                let d = std::slice::from_raw_parts(libc::CMSG_DATA(c), len.min(20));
                return parse_auxdata(d);
            }
            c = libc::CMSG_NXTHDR(mh, c);
        }
    }
    Aux::default()
}

/// `ip link set HOST up` (best effort: the host device may live in another
/// namespace by now).
fn host_up(host: &str) {
    let Ok(name) = std::ffi::CString::new(host) else {
        return;
    };
    // SAFETY: a plain socket for the interface ioctls, closed below.
    let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if s < 0 {
        return;
    }
    // SAFETY: s is ours.
    let s = unsafe { OwnedFd::from_raw_fd(s) };
    // SAFETY: zeroed ifreq is valid; the name fits (checked) and is NUL-ended.
    unsafe {
        let mut ifr: libc::ifreq = std::mem::zeroed();
        let b = name.as_bytes_with_nul();
        if b.len() > ifr.ifr_name.len() {
            return;
        }
        for (d, c) in ifr.ifr_name.iter_mut().zip(b) {
            *d = *c as libc::c_char;
        }
        if libc::ioctl(s.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) < 0 {
            return;
        }
        ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        libc::ioctl(s.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr);
    }
}

/// A locally administered address for an attached interface.
fn make_mac(seed: &str) -> Vec<u8> {
    let mut r = [0u8; 4];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut r);
    }
    let h = seed
        .bytes()
        .fold(0u8, |a, b| a.wrapping_mul(31).wrapping_add(b));
    vec![0x02, h, r[0], r[1], r[2], r[3]]
}

/// Attach `spec` in the default vimage; returns a line for the boot log.
pub fn attach(k: &Arc<Kernel>, spec: &AttachSpec) -> Result<String, Errno> {
    let (fd, host, kind, packet) = match &spec.kind {
        HostKind::Tap(h) => {
            let (fd, name) = open_tap(h.as_deref())?;
            (fd, name, "tap", false)
        }
        HostKind::Packet(h) => {
            let (fd, _) = open_packet(h)?;
            (fd, h.clone(), "packet", true)
        }
    };
    // The host side of the cable is plugged in: bring it up.
    host_up(&host);
    let fd = Arc::new(fd);
    let closed = Arc::new(AtomicBool::new(false));
    let vnet = k.vimage0().vnet.clone();
    let _cv = CurvnetGuard::set(&vnet);
    let ifp = Ifnet::new(
        &vnet,
        &spec.name,
        kind,
        IFT_ETHER,
        // Up and running with its link there, as a laptop's em0 comes up
        // (the tutorial bridges em0 without configuring it first).
        IFF_UP | IFF_BROADCAST | IFF_RUNNING | IFF_SIMPLEX | IFF_MULTICAST,
        1500,
        make_mac(&spec.name),
        Box::new(HostDriver {
            fd: fd.clone(),
            closed: closed.clone(),
        }),
    );
    if_attach(&ifp)?;
    let i2 = ifp.clone();
    std::thread::Builder::new()
        .name(format!("if_{kind}:{}", spec.name))
        .stack_size(256 * 1024)
        .spawn(move || reader(i2, fd, closed, packet))
        .map_err(|_| Errno::ENOMEM)?;
    Ok(format!(
        "{}: attached to host {kind} interface {host}",
        spec.name
    ))
}

/// Whether host process `pid` runs as root (its real uid, from /proc).
fn host_root(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|st| {
            st.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|u| u.split_whitespace().next().map(|x| x == "0"))
        })
        .unwrap_or(false)
}

/// Host interfaces attached while the kernel runs: `sysctl
/// net.link.hostif.attach=em1=packet:veth1` plugs one in (as `--attach`
/// does at boot), `sysctl net.link.hostif.detach=em1` pulls it out; reading
/// either lists the attached ones.  Only root in the default vimage may: a
/// host interface is the machine's, not a tenant's.
pub fn sysctl_init(k: &Arc<Kernel>) {
    hostif_oid(
        k,
        "net.link.hostif.attach",
        "Attach a host interface: NAME=tap[:HOSTIF] or NAME=packet:HOSTIF",
        |k, spec| {
            let spec: AttachSpec = spec.parse().map_err(|_| Errno::EINVAL)?;
            attach(k, &spec)
        },
    );
    hostif_oid(
        k,
        "net.link.hostif.detach",
        "Detach a host interface attached in the default vimage",
        |k, name| {
            let vnet = k.vimage0().vnet.clone();
            let _cv = CurvnetGuard::set(&vnet);
            let ifp = vimage_net::r#if::ifunit(name).ok_or(Errno::ENXIO)?;
            if ifp.driver.as_any().downcast_ref::<HostDriver>().is_none() {
                return Err(Errno::EINVAL);
            }
            vimage_net::r#if::if_detach(&ifp);
            ifp.driver.detached(&ifp);
            Ok(format!("{name}: detached from the host"))
        },
    );
}

/// One `net.link.hostif.*` leaf: reading lists the attached host
/// interfaces; writing a string runs `act` (its console line printed).
/// Neither from below default (the host's interface names are the
/// machine's, not a tenant's); writing only as root.
fn hostif_oid(
    k: &Arc<Kernel>,
    name: &str,
    descr: &'static str,
    act: fn(&Arc<Kernel>, &str) -> Result<String, Errno>,
) {
    use vimage_abi::sysctl::{SysctlValue, CTLFLAG_RW};
    use vimage_kern::kern_sysctl::{Oid, SysctlCtx};
    let w = Arc::downgrade(k);
    let _ = k.sysctl.add(
        name,
        Oid {
            flags: CTLFLAG_RW,
            descr,
            handler: Arc::new(move |ctx: &SysctlCtx<'_>, new: Option<&SysctlValue>| {
                let k = w.upgrade().ok_or(Errno::ENXIO)?;
                if ctx.vimage.parent().is_some() {
                    return Err(Errno::EPERM);
                }
                let old = attached_names(&k);
                if let Some(v) = new {
                    if !host_root(ctx.pid) {
                        return Err(Errno::EPERM);
                    }
                    let SysctlValue::Str(arg) = v else {
                        return Err(Errno::EINVAL);
                    };
                    println!("{}", act(&k, arg)?);
                }
                Ok(SysctlValue::Str(old))
            }),
        },
    );
}

/// The names of the host interfaces attached in default, space separated.
fn attached_names(k: &Kernel) -> String {
    let vnet = k.vimage0().vnet.clone();
    let _cv = CurvnetGuard::set(&vnet);
    vimage_net::r#if::vnet_net()
        .list()
        .iter()
        .filter(|i| i.driver.as_any().downcast_ref::<HostDriver>().is_some())
        .map(|i| i.name())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_specs_parse_as_documented() {
        let p = |s: &str| s.parse::<AttachSpec>();
        assert_eq!(
            p("em0=tap").unwrap(),
            AttachSpec {
                name: "em0".into(),
                kind: HostKind::Tap(None)
            }
        );
        assert_eq!(
            p("em0=tap:vk0").unwrap().kind,
            HostKind::Tap(Some("vk0".into()))
        );
        assert_eq!(
            p("iwi0=packet:veth1").unwrap().kind,
            HostKind::Packet("veth1".into())
        );
        for bad in [
            "em0",
            "em0=",
            "em0=packet",
            "em0=packet:",
            "0bad=tap",
            "em0=wifi:x",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
        assert!(p("em0=tap:waytoolonghostname0").is_err());
    }

    #[test]
    fn partial_checksums_are_finished() {
        use vimage_inet::ip::{cksum_add, cksum_sum, in_pseudo};
        // Ethernet + IPv4 + UDP (8 + 4 bytes payload) with a bogus checksum.
        let mut f = vec![0u8; 14];
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        f.extend_from_slice(&[
            0x45, 0, 0, 32, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        f.extend_from_slice(&[
            0x13, 0x88, 0x00, 0x35, 0, 12, 0xde, 0xad, b'a', b'b', b'c', b'd',
        ]);
        fix_l4_checksum(&mut f);
        let seg = &f[34..];
        let p = in_pseudo(
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            17,
            12,
        );
        assert_eq!(cksum_add(p, cksum_sum(seg)), 0xffff, "verifies");
        // Truncated or foreign frames are left alone.
        let mut short = f[..20].to_vec();
        fix_l4_checksum(&mut short);
        assert_eq!(short, f[..20]);
    }

    #[test]
    fn stripped_vlan_tags_are_read_from_the_auxiliary_data() {
        let aux = |status: u32, tci: u16, tpid: u16| {
            let mut d = Vec::new();
            d.extend_from_slice(&status.to_ne_bytes());
            d.extend_from_slice(&[0u8; 12]);
            d.extend_from_slice(&tci.to_ne_bytes());
            d.extend_from_slice(&tpid.to_ne_bytes());
            d
        };
        assert_eq!(parse_auxdata(&aux(0, 0, 0)), Aux::default());
        assert_eq!(
            parse_auxdata(&aux(TP_STATUS_VLAN_VALID, 101, 0)).vlan,
            Some((0x8100, 101))
        );
        assert_eq!(
            parse_auxdata(&aux(
                TP_STATUS_VLAN_VALID | TP_STATUS_VLAN_TPID_VALID,
                7,
                0x88a8
            ))
            .vlan,
            Some((0x88a8, 7))
        );
        assert!(parse_auxdata(&aux(TP_STATUS_CSUMNOTREADY, 0, 0)).csum_not_ready);
        // Short or garbled data never panics.
        assert_eq!(parse_auxdata(&[]), Aux::default());
        assert_eq!(parse_auxdata(&[0x10]), Aux::default());
        assert_eq!(
            parse_auxdata(&aux(0x10, 5, 0)[..17]).vlan,
            Some((0x8100, 0))
        );
    }

    #[test]
    fn macs_are_locally_administered_unicast() {
        let m = make_mac("em0");
        assert_eq!(m.len(), 6);
        assert_eq!(m[0] & 3, 2);
    }
}
