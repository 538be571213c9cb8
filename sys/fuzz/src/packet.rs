//! The network stack's input path on hostile frames.
//!
//! Every input boots a fresh sans-IO kernel on a fake clock ([`Stack::new`]):
//! vimage `default` with two Ethernet interfaces (`eth0` 10.0.0.20/24 and
//! 2001:db8::20/64, `eth1` 10.0.1.20/24 and 2001:db8:1::20/64, both up,
//! forwarding on) whose driver only records what leaves, and the sockets a
//! host has open: UDP on port 7777 and TCP listening on port 80 (IPv4) and 81
//! (IPv6), raw ICMP and ICMPv6.  All of it is made through the syscall door,
//! as the tools do.  The input is then a sequence of records, each
//! `[op][len: u16 le][len bytes]` (the last may be short), `op & 3` saying
//! what to do ([`Stack::record`]):
//!
//! * 0: the bytes are an Ethernet frame, received on `eth0` (or `eth1` if
//!   `op & 4`): `ether_input` → ARP, IPv4 (ICMP, UDP, TCP, reassembly,
//!   forwarding), IPv6 (ICMPv6, ND, UDP, TCP, reassembly, forwarding);
//! * 1: the bytes are an IP packet (or an ARP payload if not version 4 or 6)
//!   under an Ethernet header made here (`op >> 4 & 3`: to our address,
//!   broadcast, multicast, another host), with its checksums (IPv4 header,
//!   TCP, UDP, ICMP, ICMPv6) filled in when `op & 8`, so mutations get past
//!   them;
//! * 2: time moves by the first three bytes in milliseconds and the callouts
//!   due run (`softclock`);
//! * 3: a socket call (the first byte picks it): drain every socket, accept,
//!   send on or close an accepted or connected socket, connect out, send a
//!   datagram out (with bit 1 of its first argument byte, after setting the
//!   multicast option bits 2..5 pick, valued with the datagram's bytes:
//!   joins, leaves, interface, TTL, loop of either family; with bit 6, to
//!   RIP's or RIPng's group instead of the peer).
//!
//! A record of kind 0 or 1 with `op & 0x40` goes to `eth0` with an 802.1Q
//! tag for VLAN 5 put in after the MAC addresses: `eth0.5`, a vlan on
//! `eth0` (10.0.5.20/24), takes it.  The firewall is loaded, its layer-2
//! half on (`net.link.ether.ipfw=1`), with [`IPFW_RULES`]: counting and
//! state at layer 2 and 3, `reset` and `unreach` notices, a `skipto`, a
//! logged deny, and everything else allowed, so what the rules do not
//! refuse reaches the stack as before.
//!
//! After the last record, time moves on (timers, reassembly and ARP/ND expiry,
//! TCP retransmission and TIME_WAIT), every socket closes and the kernel
//! halts.  Nothing may panic; the stack must still answer a system call.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use vimage_abi::ip_fw::{Cmd, Insn, IpFwRule, IP_FW_ADD};
use vimage_abi::net_if::{
    IfReq, IFF_BROADCAST, IFF_MULTICAST, IFF_SIMPLEX, IFF_UP, IFT_ETHER, SIOCIFCREATE2,
    SIOCSIFFLAGS,
};
use vimage_abi::netinet6_in6::{In6AliasReq, SockaddrIn6, SIOCAIFADDR_IN6};
use vimage_abi::netinet_in::{InAliasReq, SockaddrIn, SIOCAIFADDR};
use vimage_abi::socket::SOCK_NONBLOCK;
use vimage_abi::syscall::{Reply, Request};
use vimage_abi::sysctl::SysctlValue;
use vimage_abi::wire::Writer;
use vimage_abi::Errno;
use vimage_kern::kern_proc::FakeHost;
use vimage_kern::kern_syscall::{test_lock, Td};
use vimage_kern::kern_timeout::FakeClock;
use vimage_kern::uipc_socket::FdTable;
use vimage_kern::{CurvnetGuard, Kernel, KernelConfig};
use vimage_net::if_var::{IfDriver, Ifnet};
use vimage_net::mbuf::Mbuf;
use vimage_net::netisr::netisr_enter;
use vimage_net::r#if::{if_attach, if_input};

/// Our link addresses: `eth0`, `eth1`.
pub const MAC: [[u8; 6]; 2] = [
    [0x40, 0x0a, 0x0b, 0x0c, 0x0d, 0x14],
    [0x40, 0x0a, 0x0b, 0x0c, 0x0e, 0x14],
];
/// The other host's link address (source of synthesized frames).
pub const PEER_MAC: [u8; 6] = [0x40, 0, 0, 0, 0, 1];
/// Our IPv4 addresses: `eth0`, `eth1`.
pub const IP4: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 0, 0, 20), Ipv4Addr::new(10, 0, 1, 20)];
/// The other host on `eth0`.
pub const PEER4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// Our global IPv6 addresses: `eth0`, `eth1`.
pub const IP6: [Ipv6Addr; 2] = [
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x20),
    Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x20),
];
/// The other host on `eth0`.
pub const PEER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
/// UDP port our sockets are bound to (both families).
pub const UDP_PORT: u16 = 7777;
/// RIP's group.
const RIP_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 9);
/// RIPng's group.
const RIPNG_GROUP: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 9);
/// The multicast options a socket call may set (level, name): IPv4's and
/// IPv6's joins, leaves, interface, TTL / hop limit and loopback.
const MCAST_OPTS: [(i32, i32); 10] = [
    (0, 12),  // IP_ADD_MEMBERSHIP
    (0, 13),  // IP_DROP_MEMBERSHIP
    (0, 9),   // IP_MULTICAST_IF
    (0, 10),  // IP_MULTICAST_TTL
    (0, 11),  // IP_MULTICAST_LOOP
    (41, 12), // IPV6_JOIN_GROUP
    (41, 13), // IPV6_LEAVE_GROUP
    (41, 9),  // IPV6_MULTICAST_IF
    (41, 10), // IPV6_MULTICAST_HOPS
    (41, 11), // IPV6_MULTICAST_LOOP
];
/// TCP ports listened on: IPv4, IPv6.
pub const TCP_PORT: [u16; 2] = [80, 81];
/// Most records one input runs.
pub const MAX_RECORDS: usize = 128;
/// The VLAN on `eth0` and its address.
pub const VLAN: u16 = 5;
/// Our address on `eth0.5`.
pub const IP4_VLAN: Ipv4Addr = Ipv4Addr::new(10, 0, 5, 20);
/// The firewall's rules, as ipfw(8) would have been given them.
pub const IPFW_RULES: &[&str] = &[
    "100 count ip from any to any layer2 mac-type arp",
    "200 deny ip from any to any MAC any 40:00:00:00:00:66 layer2",
    "300 check-state",
    "400 allow tcp from any to any 80,81 setup keep-state",
    "500 unreach port udp from any to any 9 in",
    "600 reset tcp from any to any 9 in",
    "700 skipto 1000 icmp from any to any icmptypes 8",
    "800 deny log ip from 10.0.9.0/24 to any",
    "1000 allow ip from any to any",
];

const PF_INET: i32 = 2;
const PF_INET6: i32 = 28;
const SOCK_STREAM: i32 = 1;
const SOCK_DGRAM: i32 = 2;
const SOCK_RAW: i32 = 3;
const IPPROTO_RAW: i32 = 255;
const MSG_DONTWAIT: i32 = 0x80;

/// A driver that keeps what it is asked to send.
struct Wire(Arc<Mutex<Vec<Vec<u8>>>>);

impl IfDriver for Wire {
    fn transmit(&self, _ifp: &Arc<Ifnet>, m: Mbuf) -> Result<(), Errno> {
        if let Ok(mut l) = self.0.lock() {
            // Bounded: a storm of output costs nothing here.
            if l.len() < 1024 {
                l.push(m.data().to_vec());
            }
        }
        Ok(())
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A booted kernel with one host on two links (see the module documentation).
pub struct Stack {
    k: Arc<Kernel>,
    clock: Arc<FakeClock>,
    td: Td,
    ifs: [Arc<Ifnet>; 2],
    out: Arc<Mutex<Vec<Vec<u8>>>>,
    /// Datagram and raw sockets, drained by socket call 0.
    dgram: Vec<i32>,
    /// Listening sockets.
    listen: Vec<i32>,
    /// Accepted and connected TCP sockets.
    conns: Vec<i32>,
    // Last: released after the kernel has halted.
    _lock: vimage_kern::kern_syscall::TestGuard,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.k.shutdown();
    }
}

fn sysctl_int(v: i64) -> Vec<u8> {
    let mut w = Writer::new();
    SysctlValue::Int(v).encode(&mut w);
    w.finish()
}

fn sin(a: Ipv4Addr, port: u16) -> Vec<u8> {
    SockaddrIn::new(a, port).to_bytes().to_vec()
}

fn sin6(a: Ipv6Addr, port: u16) -> Vec<u8> {
    let mut s = SockaddrIn6::new(a, 0);
    s.port = port;
    s.to_bytes().to_vec()
}

impl Stack {
    /// Boot and configure (panics if the kernel refuses any of it: the
    /// harness must start from the same state every time).
    pub fn new() -> Stack {
        // One kernel at a time: without VIMAGE the stack is a global.
        let lock = test_lock();
        let clock = Arc::new(FakeClock::new(1_000_000_000));
        let k = vimage_conf::boot(KernelConfig {
            host: Arc::new(FakeHost::default()),
            ident: "VIMAGE".into(),
            version: "fuzz".into(),
            clock: clock.clone(),
            random: vimage_kern::kern_random::SeededRandom::arc(1),
        })
        .expect("boot");
        for m in vimage_kmod::catalog() {
            k.kld_catalog_add(m);
        }
        let out = Arc::new(Mutex::new(Vec::new()));
        let vnet = k.vimage0().vnet.clone();
        let mk = |name: &str, mac: [u8; 6]| {
            let _cv = CurvnetGuard::set(&vnet);
            let ifp = Ifnet::new(
                &vnet,
                name,
                "fuzz",
                IFT_ETHER,
                IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST,
                1500,
                mac.to_vec(),
                Box::new(Wire(out.clone())),
            );
            if_attach(&ifp).expect("if_attach");
            ifp
        };
        let ifs = [mk("eth0", MAC[0]), mk("eth1", MAC[1])];
        let td = Td {
            pid: 1,
            vimage: k.vimage0().clone(),
            fds: FdTable::default(),
            // Never sleep: a call that would block gives up at once.
            intr: Arc::new(|| true),
        };
        let mut s = Stack {
            k,
            clock,
            td,
            ifs,
            out,
            dgram: Vec::new(),
            listen: Vec::new(),
            conns: Vec::new(),
            _lock: lock,
        };
        s.configure();
        s
    }

    fn call(&mut self, q: Request) -> Result<Reply, Errno> {
        self.k.syscall(&mut self.td, q).result()
    }

    fn socket(&mut self, domain: i32, ty: i32, proto: i32) -> i32 {
        let r = self.call(Request::Socket {
            domain,
            ty: ty | SOCK_NONBLOCK,
            proto,
        });
        r.expect("socket").val as i32
    }

    fn configure(&mut self) {
        let s4 = self.socket(PF_INET, SOCK_DGRAM, 0);
        let s6 = self.socket(PF_INET6, SOCK_DGRAM, 0);
        for (i, name) in ["eth0", "eth1"].into_iter().enumerate() {
            let [a, b, c, _] = IP4[i].octets();
            let req = InAliasReq {
                name: name.into(),
                addr: Some(IP4[i]),
                broadaddr: Some(Ipv4Addr::new(a, b, c, 255)),
                mask: Some(Ipv4Addr::new(255, 255, 255, 0)),
            };
            self.call(Request::Ioctl {
                fd: s4,
                cmd: SIOCAIFADDR,
                data: req.to_bytes().expect("aliasreq"),
            })
            .expect("SIOCAIFADDR");
            let mut up = IfReq::new(name);
            up.set_flags(IFF_UP | IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST);
            self.call(Request::Ioctl {
                fd: s4,
                cmd: SIOCSIFFLAGS,
                data: up.to_bytes().expect("ifreq"),
            })
            .expect("SIOCSIFFLAGS");
            self.call(Request::Ioctl {
                fd: s6,
                cmd: SIOCAIFADDR_IN6,
                data: In6AliasReq::new(name, IP6[i], 64)
                    .to_bytes()
                    .expect("in6_aliasreq"),
            })
            .expect("SIOCAIFADDR_IN6");
        }
        self.vlan_and_firewall(s4);
        for name in ["net.inet.ip.forwarding", "net.inet6.ip6.forwarding"] {
            self.call(Request::Sysctl {
                name: name.into(),
                new: Some(sysctl_int(1)),
            })
            .expect("forwarding");
        }
        // Duplicate address detection passes; gratuitous ARP and DAD probes go.
        for _ in 0..4 {
            self.advance_ms(1000);
        }
        self.call(Request::Close { fd: s4 }).expect("close");
        self.call(Request::Close { fd: s6 }).expect("close");
        let u4 = self.socket(PF_INET, SOCK_DGRAM, 0);
        self.call(Request::Bind {
            fd: u4,
            addr: sin(Ipv4Addr::UNSPECIFIED, UDP_PORT),
        })
        .expect("bind udp");
        let u6 = self.socket(PF_INET6, SOCK_DGRAM, 0);
        self.call(Request::Bind {
            fd: u6,
            addr: sin6(Ipv6Addr::UNSPECIFIED, UDP_PORT),
        })
        .expect("bind udp6");
        let r4 = self.socket(PF_INET, SOCK_RAW, 1);
        let r6 = self.socket(PF_INET6, SOCK_RAW, 58);
        self.dgram = vec![u4, u6, r4, r6];
        for (domain, addr) in [
            (PF_INET, sin(Ipv4Addr::UNSPECIFIED, TCP_PORT[0])),
            (PF_INET6, sin6(Ipv6Addr::UNSPECIFIED, TCP_PORT[1])),
        ] {
            let fd = self.socket(domain, SOCK_STREAM, 0);
            self.call(Request::Bind { fd, addr }).expect("bind tcp");
            self.call(Request::Listen { fd, backlog: 8 })
                .expect("listen");
            self.listen.push(fd);
        }
        self.take_output();
    }

    /// `kldload if_vlan ipfw`, `ifconfig eth0.5 create 10.0.5.20/24 up`,
    /// the rules, `sysctl net.link.ether.ipfw=1`; all through the door.
    fn vlan_and_firewall(&mut self, s4: i32) {
        for m in ["if_vlan", "ipfw"] {
            self.call(Request::Kldload { name: m.into() })
                .expect("kldload");
        }
        let name = format!("eth0.{VLAN}");
        self.call(Request::Ioctl {
            fd: s4,
            cmd: SIOCIFCREATE2,
            data: IfReq::new(&name).to_bytes().expect("ifreq"),
        })
        .expect("SIOCIFCREATE2");
        let req = InAliasReq {
            name: name.clone(),
            addr: Some(IP4_VLAN),
            broadaddr: Some(Ipv4Addr::new(10, 0, 5, 255)),
            mask: Some(Ipv4Addr::new(255, 255, 255, 0)),
        };
        self.call(Request::Ioctl {
            fd: s4,
            cmd: SIOCAIFADDR,
            data: req.to_bytes().expect("aliasreq"),
        })
        .expect("SIOCAIFADDR vlan");
        let mut up = IfReq::new(&name);
        up.set_flags(IFF_UP | IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST);
        self.call(Request::Ioctl {
            fd: s4,
            cmd: SIOCSIFFLAGS,
            data: up.to_bytes().expect("ifreq"),
        })
        .expect("SIOCSIFFLAGS vlan");
        let raw = self.socket(PF_INET, SOCK_RAW, IPPROTO_RAW);
        for r in IPFW_RULES {
            let rule = ipfw_rule(r).to_bytes().expect("rule");
            self.call(Request::Getsockopt {
                fd: raw,
                level: 0,
                name: IP_FW_ADD,
                val: rule,
            })
            .expect("IP_FW_ADD");
        }
        self.call(Request::Close { fd: raw }).expect("close");
        self.call(Request::Sysctl {
            name: "net.link.ether.ipfw".into(),
            new: Some(sysctl_int(1)),
        })
        .expect("net.link.ether.ipfw");
    }

    /// Move the clock and run what is due.
    pub fn advance_ms(&mut self, ms: u64) {
        self.clock.advance(ms * 1_000_000);
        self.k.softclock();
    }

    /// What the interfaces sent since the last call.
    pub fn take_output(&mut self) -> Vec<Vec<u8>> {
        self.out
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }

    /// A frame arrives on interface `i` (0: `eth0`, 1: `eth1`).
    pub fn input(&mut self, i: usize, frame: Vec<u8>) {
        let ifp = self.ifs[i % 2].clone();
        let vnet = self.td.vimage.vnet.clone();
        let _cv = CurvnetGuard::set(&vnet);
        let _ns = netisr_enter();
        if_input(&ifp, Mbuf::from_vec(frame));
    }

    /// A frame arrives; with `op & 0x40` on `eth0`, tagged for [`VLAN`].
    fn input_maybe_tagged(&mut self, iface: usize, op: u8, f: Vec<u8>) {
        if op & 0x40 == 0 {
            return self.input(iface, f);
        }
        self.input(0, tag(&f, VLAN));
    }

    /// One record (see the module documentation); returns the frames it made
    /// the interfaces send.
    pub fn record(&mut self, op: u8, body: &[u8]) -> Vec<Vec<u8>> {
        let iface = usize::from(op >> 2 & 1);
        match op & 3 {
            0 => self.input_maybe_tagged(iface, op, body.to_vec()),
            1 => {
                let f = frame(iface, op >> 4 & 3, op & 8 != 0, body);
                self.input_maybe_tagged(iface, op, f);
            }
            2 => {
                let mut b = [0u8; 4];
                for (x, y) in b.iter_mut().zip(body) {
                    *x = *y;
                }
                let ms = u32::from_le_bytes(b) & 0xff_ffff;
                self.advance_ms(u64::from(ms));
            }
            _ => self.socket_call(body),
        }
        self.take_output()
    }

    fn socket_call(&mut self, body: &[u8]) {
        let (sel, arg) = body.split_first().map_or((0, &[][..]), |(s, a)| (*s, a));
        let pick = |v: &[i32]| -> Option<i32> {
            let k = usize::from(arg.first().copied().unwrap_or(0));
            (!v.is_empty()).then(|| v[k % v.len()])
        };
        match sel % 6 {
            0 => {
                for fd in self.dgram.clone().into_iter().chain(self.conns.clone()) {
                    for _ in 0..64 {
                        let r = self.call(Request::Recvfrom {
                            fd,
                            len: 65536,
                            flags: MSG_DONTWAIT,
                        });
                        if !matches!(&r, Ok(x) if !x.data.is_empty()) {
                            break;
                        }
                    }
                }
            }
            1 => {
                for fd in self.listen.clone() {
                    if let Ok(r) = self.call(Request::Accept {
                        fd,
                        flags: SOCK_NONBLOCK,
                    }) {
                        if self.conns.len() < 16 {
                            self.conns.push(r.val as i32);
                        }
                    }
                }
            }
            2 => {
                if let Some(fd) = pick(&self.conns) {
                    let data = arg.get(1..).unwrap_or(&[]).to_vec();
                    let _ = self.call(Request::Sendto {
                        fd,
                        flags: MSG_DONTWAIT,
                        addr: None,
                        data,
                    });
                }
            }
            3 => {
                if let Some(fd) = pick(&self.conns) {
                    let how = arg.get(1).map_or(3, |h| h % 4);
                    if how < 3 {
                        let _ = self.call(Request::Shutdown {
                            fd,
                            how: i32::from(how),
                        });
                    } else {
                        let _ = self.call(Request::Close { fd });
                        self.conns.retain(|&c| c != fd);
                    }
                }
            }
            4 => {
                if self.conns.len() < 16 {
                    let port = arg
                        .get(1..3)
                        .map_or(9, |p| u16::from_be_bytes([p[0], p[1]]));
                    let v6 = arg.first().is_some_and(|b| b & 1 != 0);
                    let (domain, addr) = if v6 {
                        (PF_INET6, sin6(PEER6, port))
                    } else {
                        (PF_INET, sin(PEER4, port))
                    };
                    let fd = self.socket(domain, SOCK_STREAM, 0);
                    let _ = self.call(Request::Connect { fd, addr });
                    self.conns.push(fd);
                }
            }
            _ => {
                let a0 = arg.first().copied().unwrap_or(0);
                let v6 = a0 & 1 != 0;
                let (fd, addr) = match (v6, a0 & 0x40 != 0) {
                    (true, false) => (self.dgram[1], sin6(PEER6, UDP_PORT)),
                    (false, false) => (self.dgram[0], sin(PEER4, UDP_PORT)),
                    (true, true) => {
                        // ff02::9 on eth0 (interface index 2).
                        let mut s = SockaddrIn6::new(RIPNG_GROUP, 2);
                        s.port = UDP_PORT;
                        (self.dgram[1], s.to_bytes().to_vec())
                    }
                    (false, true) => (self.dgram[0], sin(RIP_GROUP, UDP_PORT)),
                };
                if a0 & 2 != 0 {
                    // A hostile multicast option value: decoded by the
                    // socket's ip_setmoptions / ip6_setmoptions.
                    let k = usize::from(a0 >> 2 & 0xf) % MCAST_OPTS.len();
                    let (level, name) = MCAST_OPTS[k];
                    let _ = self.call(Request::Setsockopt {
                        fd,
                        level,
                        name,
                        val: arg.get(1..).unwrap_or(&[]).to_vec(),
                    });
                }
                let _ = self.call(Request::Sendto {
                    fd,
                    flags: MSG_DONTWAIT,
                    addr: Some(addr),
                    data: arg.get(1..).unwrap_or(&[]).to_vec(),
                });
            }
        }
    }

    /// Time runs out every timer; every socket closes; the stack still
    /// answers.
    pub fn finish(&mut self) {
        for ms in [200, 1_000, 3_000, 10_000, 30_000, 60_000, 120_000, 600_000] {
            self.advance_ms(ms);
            self.take_output();
        }
        for fd in std::mem::take(&mut self.conns)
            .into_iter()
            .chain(std::mem::take(&mut self.listen))
            .chain(std::mem::take(&mut self.dgram))
        {
            self.call(Request::Close { fd }).expect("close");
        }
        self.advance_ms(600_000);
        let fd = self.socket(PF_INET, SOCK_DGRAM, 0);
        self.call(Request::Close { fd }).expect("close");
        self.take_output();
    }
}

impl Default for Stack {
    fn default() -> Self {
        Stack::new()
    }
}

/// Split `data` into records: `(op, body)`.
pub fn records(data: &[u8]) -> Vec<(u8, &[u8])> {
    let mut v = Vec::new();
    let mut rest = data;
    while v.len() < MAX_RECORDS {
        let Some((&op, r)) = rest.split_first() else {
            break;
        };
        let n = match r {
            [a, b, ..] => usize::from(u16::from_le_bytes([*a, *b])),
            _ => 0,
        };
        let r = r.get(2..).unwrap_or(&[]);
        let (body, next) = r.split_at(n.min(r.len()));
        v.push((op, body));
        rest = next;
    }
    v
}

/// The fuzz target: boot, run every record, finish.
pub fn run(data: &[u8]) {
    let mut s = Stack::new();
    for (op, body) in records(data) {
        s.record(op, body);
    }
    s.finish();
}

// ---------------------------------------------------------------- framing

/// An Ethernet frame around `pkt` arriving on interface `iface`: to us
/// (`dst` 0), broadcast (1), multicast (2) or another host (3); checksums
/// filled in if `fix`.
pub fn frame(iface: usize, dst: u8, fix: bool, pkt: &[u8]) -> Vec<u8> {
    let ver = pkt.first().map_or(0, |b| b >> 4);
    let ethertype: u16 = match ver {
        4 => 0x0800,
        6 => 0x86dd,
        _ => 0x0806,
    };
    let d = match dst {
        0 => MAC[iface % 2],
        1 => [0xff; 6],
        2 if ver == 6 => [0x33, 0x33, 0, 0, 0, 1],
        2 => [0x01, 0, 0x5e, 0, 0, 1],
        _ => [0x40, 0, 0, 0, 0, 0x99],
    };
    let mut f = Vec::with_capacity(14 + pkt.len());
    f.extend_from_slice(&d);
    f.extend_from_slice(&PEER_MAC);
    f.extend_from_slice(&ethertype.to_be_bytes());
    let mut p = pkt.to_vec();
    if fix {
        fix_checksums(&mut p);
    }
    f.extend_from_slice(&p);
    f
}

/// `f` with an 802.1Q tag for `vid` after its addresses (a runt gets the
/// tag at its end).
pub fn tag(f: &[u8], vid: u16) -> Vec<u8> {
    let at = f.len().min(12);
    let mut t = f[..at].to_vec();
    t.extend_from_slice(&[0x81, 0x00]);
    t.extend_from_slice(&vid.to_be_bytes());
    t.extend_from_slice(&f[at..]);
    t
}

/// One of [`IPFW_RULES`] compiled to ipfw2 instructions (the few words it
/// uses; what ipfw(8) would send).
fn ipfw_rule(text: &str) -> IpFwRule {
    let w: Vec<&str> = text.split(' ').collect();
    let mut r = IpFwRule {
        rulenum: w[0].parse().unwrap_or(0),
        ..IpFwRule::default()
    };
    let i = Insn::new;
    let (cmd, act): (Vec<Insn>, Vec<Insn>) = match r.rulenum {
        100 => (
            vec![i(Cmd::Layer2), i(Cmd::MacType(vec![(0x0806, 0x0806)]))],
            vec![i(Cmd::Count)],
        ),
        200 => {
            let mut addr = [0u8; 12];
            let mut mask = [0u8; 12];
            addr[6..].copy_from_slice(&[0x40, 0, 0, 0, 0, 0x66]);
            mask[6..].copy_from_slice(&[0xff; 6]);
            (
                vec![i(Cmd::MacAddr2 { addr, mask }), i(Cmd::Layer2)],
                vec![i(Cmd::Deny)],
            )
        }
        300 => (vec![], vec![i(Cmd::CheckState)]),
        400 => (
            vec![
                i(Cmd::ProbeState),
                i(Cmd::Proto(6)),
                i(Cmd::DstPort(vec![(80, 80), (81, 81)])),
                i(Cmd::TcpFlags {
                    set: 0x02,
                    clear: 0x10,
                }),
                i(Cmd::KeepState),
            ],
            vec![i(Cmd::Accept)],
        ),
        500 => (
            vec![i(Cmd::Proto(17)), i(Cmd::DstPort(vec![(9, 9)])), i(Cmd::In)],
            vec![i(Cmd::Reject(3))],
        ),
        600 => (
            vec![i(Cmd::Proto(6)), i(Cmd::DstPort(vec![(9, 9)])), i(Cmd::In)],
            vec![i(Cmd::Reject(vimage_abi::ip_fw::ICMP_REJECT_RST))],
        ),
        700 => (
            vec![i(Cmd::Proto(1)), i(Cmd::IcmpTypes(1 << 8))],
            vec![i(Cmd::Skipto(1000))],
        ),
        800 => (
            vec![i(Cmd::IpSrcMask(vec![(
                Ipv4Addr::new(10, 0, 9, 0),
                Ipv4Addr::new(255, 255, 255, 0),
            )]))],
            vec![
                i(Cmd::Log {
                    max_log: 5,
                    log_left: 5,
                }),
                i(Cmd::Deny),
            ],
        ),
        _ => (vec![], vec![i(Cmd::Accept)]),
    };
    r.cmd = cmd;
    r.act = act;
    r
}

/// The Internet checksum of `b` starting from `sum`.
pub fn cksum(sum: u32, b: &[u8]) -> u16 {
    let mut s = u64::from(sum);
    for c in b.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        s += u64::from(w);
    }
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn pseudo_sum(src: &[u8], dst: &[u8], proto: u8, len: usize) -> u32 {
    let mut s = 0u32;
    for c in src.chunks(2).chain(dst.chunks(2)) {
        s += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    s + u32::from(proto) + (len as u32 & 0xffff) + (len as u32 >> 16)
}

/// Fill in the checksum of a TCP (6), UDP (17), ICMP (1) or ICMPv6 (58)
/// segment `seg` under the pseudo-header sum `ps` (0 for ICMP).
fn fix_l4(proto: u8, seg: &mut [u8], ps: u32) {
    let at = match proto {
        6 => 16,
        17 => 6,
        1 | 58 => 2,
        _ => return,
    };
    if seg.len() < at + 2 {
        return;
    }
    seg[at..at + 2].copy_from_slice(&[0, 0]);
    let mut c = cksum(ps, seg);
    if proto == 17 && c == 0 {
        c = 0xffff;
    }
    seg[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

/// Fill in the checksums of an IPv4 or IPv6 packet (header and, unless it is
/// a fragment past the first, its transport segment).
pub fn fix_checksums(p: &mut [u8]) {
    match p.first().map(|b| b >> 4) {
        Some(4) if p.len() >= 20 => {
            let hl = (usize::from(p[0] & 0x0f) * 4).clamp(20, p.len());
            let total = usize::from(u16::from_be_bytes([p[2], p[3]])).clamp(hl, p.len());
            let frag = u16::from_be_bytes([p[6], p[7]]);
            if frag & 0x3fff == 0 {
                let (src, dst, proto) = (
                    [p[12], p[13], p[14], p[15]],
                    [p[16], p[17], p[18], p[19]],
                    p[9],
                );
                let ps = if proto == 1 {
                    0
                } else {
                    pseudo_sum(&src, &dst, proto, total - hl)
                };
                fix_l4(proto, &mut p[hl..total], ps);
            }
            p[10..12].copy_from_slice(&[0, 0]);
            let c = cksum(0, &p[..hl]);
            p[10..12].copy_from_slice(&c.to_be_bytes());
        }
        Some(6) if p.len() >= 40 => {
            let end = (40 + usize::from(u16::from_be_bytes([p[4], p[5]]))).min(p.len());
            let (mut nh, mut at) = (p[6], 40);
            // Walk hop-by-hop, routing, destination options and fragment headers.
            for _ in 0..8 {
                match nh {
                    0 | 43 | 60 if at + 2 <= end => {
                        nh = p[at];
                        at += (usize::from(p[at + 1]) + 1) * 8;
                    }
                    44 if at + 8 <= end => {
                        let off = u16::from_be_bytes([p[at + 2], p[at + 3]]);
                        if off & 0xfff9 != 0 {
                            // Not a whole datagram: leave it.
                            return;
                        }
                        nh = p[at];
                        at += 8;
                    }
                    _ => break,
                }
            }
            if at > end {
                return;
            }
            let mut src = [0u8; 16];
            let mut dst = [0u8; 16];
            src.copy_from_slice(&p[8..24]);
            dst.copy_from_slice(&p[24..40]);
            let ps = pseudo_sum(&src, &dst, nh, end - at);
            fix_l4(nh, &mut p[at..end], ps);
        }
        _ => {}
    }
}
