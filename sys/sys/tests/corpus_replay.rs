//! The door fuzz targets' corpora, replayed on stable (`make test`).
//!
//! `sys/sys/fuzz` holds cargo-fuzz targets (`door_frame`, `door_payload`) whose
//! entry points live in `sys/sys/fuzz/src/door.rs`; this test includes that very
//! file and runs it over every file of `sys/sys/fuzz/corpus/<target>/` and over
//! seeded mutations of each (`FUZZ_REPLAY_MUTATIONS`, `FUZZ_SEED`).
//!
//! The seeds in the corpus come from [`frame_seeds`] and [`payload_seeds`]:
//! `FUZZ_WRITE_CORPUS=1 cargo test -p vimage-abi --test corpus_replay` writes
//! them; cargo-fuzz adds what it finds (named by hash).

#[path = "../fuzz/src/door.rs"]
mod door;
#[path = "../fuzz/src/replay.rs"]
mod replay;

use std::net::{Ipv4Addr, Ipv6Addr};

use vimage_abi::ioccom::iowr;
use vimage_abi::net_if::*;
use vimage_abi::netgraph::*;
use vimage_abi::netinet6_in6::{
    Icmp6Filter, Icmp6Stat, In6AliasReq, In6IfReq, In6NbrInfo, Ip6RecvInfo, Ip6Stat, Ipv6Mreq,
    SockaddrIn6, IPV6_JOIN_GROUP, SIOCAIFADDR_IN6, SIOCGIFADDR_IN6, SIOCGNBRINFO_IN6,
};
use vimage_abi::netinet_in::{
    ArpEntryInfo, ArpReq, InAliasReq, InRecvInfo, IpMreq, ProtoStats, SockaddrIn,
    IP_ADD_MEMBERSHIP, SIOCAIFADDR, SIOCDARP,
};
use vimage_abi::route::*;
use vimage_abi::syscall::{KldStat, Reply, Request};
use vimage_abi::sysctl::{SysctlReply, SysctlValue};
use vimage_abi::vimage::{ViReq, SIOCSPVIMAGE, VI_CREATE, VI_GET, VI_IFACE};
use vimage_abi::wire::Writer;

fn dir(target: &str) -> std::path::PathBuf {
    replay::path(env!("CARGO_MANIFEST_DIR"), &format!("fuzz/corpus/{target}"))
}

/// `allow tcp from any to me 22 setup keep-state`, as ipfw(8) sends it.
fn ipfw_rule() -> Vec<u8> {
    use vimage_abi::ip_fw::*;
    IpFwRule {
        rulenum: 300,
        cmd: vec![
            Insn::new(Cmd::ProbeState),
            Insn::new(Cmd::Proto(6)),
            Insn::new(Cmd::IpDstMe),
            Insn::new(Cmd::DstPort(vec![(22, 22)])),
            Insn::new(Cmd::TcpFlags {
                set: TH_SYN,
                clear: TH_ACK,
            }),
            Insn::new(Cmd::KeepState),
        ],
        act: vec![Insn::new(Cmd::Accept)],
        ..IpFwRule::default()
    }
    .to_bytes()
    .expect("a valid rule")
}

fn framed(payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as u32).to_le_bytes().to_vec();
    v.extend_from_slice(payload);
    v
}

fn sysctl_int(x: i64) -> Vec<u8> {
    let mut w = Writer::new();
    SysctlValue::Int(x).encode(&mut w);
    w.finish()
}

fn sysctl_str(s: &str) -> Vec<u8> {
    let mut w = Writer::new();
    SysctlValue::Str(s.into()).encode(&mut w);
    w.finish()
}

fn sin(a: [u8; 4], port: u16) -> Vec<u8> {
    SockaddrIn::new(Ipv4Addr::from(a), port).to_bytes().to_vec()
}

fn sin6(a: &str, port: u16) -> Vec<u8> {
    let mut s = SockaddrIn6::new(a.parse().unwrap(), 0);
    s.port = port;
    s.to_bytes().to_vec()
}

fn ifreq_flags(name: &str, f: u32) -> Vec<u8> {
    let mut r = IfReq::new(name);
    r.set_flags(f);
    r.to_bytes().unwrap()
}

fn aliasreq(name: &str) -> Vec<u8> {
    InAliasReq {
        name: name.into(),
        addr: Some(Ipv4Addr::new(10, 0, 0, 1)),
        broadaddr: Some(Ipv4Addr::new(10, 0, 0, 255)),
        mask: Some(Ipv4Addr::new(255, 255, 255, 0)),
    }
    .to_bytes()
    .unwrap()
}

fn rtmsg(ty: u8, dst: &str, gw: Option<&str>, plen: Option<u8>) -> Vec<u8> {
    let mut m = RtMsg::new(ty);
    m.hdr.pid = 42;
    m.hdr.seq = 1;
    m.hdr.flags = 0x803;
    let d: std::net::IpAddr = dst.parse().unwrap();
    m.sa[0] = Some(Sockaddr::from_ip(d));
    if let Some(g) = gw {
        m.sa[1] = Some(Sockaddr::from_ip(g.parse().unwrap()));
    }
    if let Some(p) = plen {
        m.sa[2] = Some(Sockaddr::user_netmask(d.is_ipv6(), p));
    }
    m.to_bytes().unwrap()
}

fn ngmsg(cookie: u32, cmd: u32, cmdstr: &str, data: Vec<u8>) -> Vec<u8> {
    NgMesg::new(cookie, cmd, cmdstr, 7, data)
        .to_bytes()
        .unwrap()
}

fn mkpeer() -> Vec<u8> {
    NgmMkpeer {
        type_name: "bridge".into(),
        ourhook: "a".into(),
        peerhook: "link0".into(),
    }
    .to_bytes()
    .unwrap()
}

fn connect() -> Vec<u8> {
    NgmConnect {
        path: "br0:".into(),
        ourhook: "link1".into(),
        peerhook: "b".into(),
    }
    .to_bytes()
    .unwrap()
}

fn nodeinfo(id: u32) -> NodeInfo {
    NodeInfo {
        name: "br0".into(),
        type_name: "bridge".into(),
        id,
        hooks: 2,
    }
}

/// One request of every kind, as the tools send them.
fn requests() -> Vec<(&'static str, Request)> {
    let vi = |a: u32, n: &str| ViReq::new(a, n).to_bytes().unwrap();
    vec![
        (
            "sysctl-read",
            Request::Sysctl {
                name: "kern.hostname".into(),
                new: None,
            },
        ),
        (
            "sysctl-write-int",
            Request::Sysctl {
                name: "net.inet.ip.forwarding".into(),
                new: Some(sysctl_int(1)),
            },
        ),
        (
            "sysctl-write-str",
            Request::Sysctl {
                name: "kern.hostname".into(),
                new: Some(sysctl_str("n1")),
            },
        ),
        ("sysctl-next", Request::SysctlNext { name: "".into() }),
        (
            "socket-udp",
            Request::Socket {
                domain: 2,
                ty: 2,
                proto: 0,
            },
        ),
        ("close", Request::Close { fd: 3 }),
        (
            "ioctl-ifflags",
            Request::Ioctl {
                fd: 3,
                cmd: SIOCSIFFLAGS,
                data: ifreq_flags("edsc0", IFF_UP),
            },
        ),
        (
            "ioctl-aifaddr",
            Request::Ioctl {
                fd: 3,
                cmd: SIOCAIFADDR,
                data: aliasreq("edsc0"),
            },
        ),
        (
            "ioctl-aifaddr6",
            Request::Ioctl {
                fd: 3,
                cmd: SIOCAIFADDR_IN6,
                data: In6AliasReq::new("edsc0", "2001:db8::1".parse().unwrap(), 64)
                    .to_bytes()
                    .unwrap(),
            },
        ),
        (
            "ioctl-vimage-create",
            Request::Ioctl {
                fd: 3,
                cmd: SIOCSPVIMAGE,
                data: vi(VI_CREATE, "v1"),
            },
        ),
        (
            "bind-in",
            Request::Bind {
                fd: 3,
                addr: sin([0, 0, 0, 0], 7777),
            },
        ),
        (
            "connect-in6",
            Request::Connect {
                fd: 3,
                addr: sin6("::1", 80),
            },
        ),
        (
            "sendto-in",
            Request::Sendto {
                fd: 3,
                flags: 0,
                addr: Some(sin([10, 0, 0, 1], 53)),
                data: b"hello".to_vec(),
            },
        ),
        (
            "sendto-route",
            Request::Sendto {
                fd: 4,
                flags: 0,
                addr: None,
                data: rtmsg(RTM_ADD, "10.1.0.0", Some("10.0.0.1"), Some(16)),
            },
        ),
        (
            "sendto-ngmsg",
            Request::Sendto {
                fd: 5,
                flags: 0,
                addr: Some(SockaddrNg { data: ".".into() }.to_bytes().unwrap()),
                data: ngmsg(NGM_GENERIC_COOKIE, NGM_MKPEER, "mkpeer", mkpeer()),
            },
        ),
        (
            "recvfrom",
            Request::Recvfrom {
                fd: 3,
                len: 65535,
                flags: 0x80,
            },
        ),
        (
            "setsockopt-linger",
            Request::Setsockopt {
                fd: 3,
                level: 0xffff,
                name: 0x80,
                val: vimage_abi::socket::linger_bytes(true, 0),
            },
        ),
        (
            "setsockopt-icmp6filter",
            Request::Setsockopt {
                fd: 3,
                level: 58,
                name: 18,
                val: Icmp6Filter([u32::MAX; 8]).to_bytes(),
            },
        ),
        (
            "setsockopt-ip-add-membership",
            Request::Setsockopt {
                fd: 3,
                level: 0,
                name: IP_ADD_MEMBERSHIP,
                val: IpMreq::new(Ipv4Addr::new(224, 0, 0, 9), Ipv4Addr::new(10, 0, 0, 1))
                    .to_bytes(),
            },
        ),
        (
            "setsockopt-ipv6-join-group",
            Request::Setsockopt {
                fd: 3,
                level: 41,
                name: IPV6_JOIN_GROUP,
                val: Ipv6Mreq {
                    multiaddr: "ff02::9".parse().unwrap(),
                    interface: 2,
                }
                .to_bytes(),
            },
        ),
        (
            "getsockopt",
            Request::Getsockopt {
                fd: 3,
                level: 0xffff,
                name: 0x1007,
                val: Vec::new(),
            },
        ),
        (
            "getsockopt-ipfw-add",
            Request::Getsockopt {
                fd: 3,
                level: 0,
                name: vimage_abi::ip_fw::IP_FW_ADD,
                val: ipfw_rule(),
            },
        ),
        (
            "setsockopt-ipfw-del",
            Request::Setsockopt {
                fd: 3,
                level: 0,
                name: vimage_abi::ip_fw::IP_FW_DEL,
                val: vimage_abi::ip_fw::IpFwDel::Cmd(100).to_bytes(),
            },
        ),
        (
            "kldload",
            Request::Kldload {
                name: "ng_bridge".into(),
            },
        ),
        ("kldunload", Request::Kldunload { fileid: 2 }),
        (
            "kldfind",
            Request::Kldfind {
                name: "if_edsc".into(),
            },
        ),
        ("kldnext", Request::Kldnext { fileid: 0 }),
        (
            "kldsym",
            Request::Kldsym {
                name: "vnet".into(),
            },
        ),
        ("reboot", Request::Reboot { howto: 8 }),
        ("getsockname", Request::Getsockname { fd: 3 }),
        ("listen", Request::Listen { fd: 3, backlog: 5 }),
        ("accept", Request::Accept { fd: 3, flags: 0 }),
        ("shutdown", Request::Shutdown { fd: 3, how: 1 }),
        ("getpeername", Request::Getpeername { fd: 3 }),
        (
            "poll",
            Request::Poll {
                fds: vec![(3, 1), (4, 4)],
                timeout_ms: 100,
            },
        ),
        (
            "fcntl",
            Request::Fcntl {
                fd: 3,
                cmd: 4,
                arg: 4,
            },
        ),
        ("export", Request::Export { fd: 3, pid: 4242 }),
        ("setowner", Request::SetOwner { pid: 1234 }),
        ("actas", Request::ActAs { pid: 1234 }),
        (
            "senduser",
            Request::SendUser {
                fd: 3,
                flags: 0,
                ptr: 0x7f00_0000_0000,
                len: 65_536,
            },
        ),
        (
            "recvfromuser",
            Request::RecvfromUser {
                fd: 3,
                len: 65_536,
                flags: 0,
                ptr: 0x7f00_0000_0000,
            },
        ),
    ]
}

/// Byte streams as a connection delivers them.
fn frame_seeds() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = requests()
        .into_iter()
        .map(|(n, q)| (format!("req-{n}"), framed(&q.to_bytes())))
        .collect();
    // A session: socket, bind, sendto, recvfrom, close.
    let session: Vec<u8> = requests()
        .iter()
        .filter(|(n, _)| ["socket-udp", "bind-in", "sendto-in", "recvfrom", "close"].contains(n))
        .flat_map(|(_, q)| framed(&q.to_bytes()))
        .collect();
    v.push(("session-udp".into(), session));
    // Replies, as the tools read them.
    let reply = |r: Reply| framed(&r.to_bytes());
    v.push(("reply-val".into(), reply(Reply::val(3))));
    v.push((
        "reply-sysctl".into(),
        reply(Reply::data(
            SysctlReply {
                flags: 0x8000_0000,
                value: SysctlValue::Str("n1".into()),
                descr: "Hostname".into(),
            }
            .to_bytes(),
        )),
    ));
    v.push((
        "reply-kldstat".into(),
        reply(Reply::data(
            KldStat {
                id: 1,
                refs: 3,
                address: 0x1000,
                size: 4096,
                name: "kernel".into(),
                modules: vec![(1, "vnet".into())],
            }
            .to_bytes(),
        )),
    ));
    v.push((
        "reply-err-addr".into(),
        reply(Reply {
            errno: 35,
            val: -1,
            data: vec![],
            addr: sin([127, 0, 0, 1], 9),
        }),
    ));
    // Edge cases: empty frame, a header announcing more than arrives, one over
    // MAX_FRAME, a bare length, trailing garbage.
    v.push(("edge-empty-frame".into(), framed(&[])));
    v.push(("edge-short".into(), vec![0xff, 0, 0, 0, 1, 2, 3]));
    v.push(("edge-huge".into(), vec![1, 0, 0x10, 0, 0]));
    v.push(("edge-len-only".into(), vec![4, 0, 0]));
    let mut t = framed(&Request::Close { fd: 3 }.to_bytes());
    t.extend_from_slice(&[9, 9]);
    v.push(("edge-trailing".into(), t));
    v
}

/// One input per decoder, prefixed by its selector ([`door::payload`]).
fn payload_seeds() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |sel: u8, name: &str, b: Vec<u8>| {
        let mut x = vec![sel];
        x.extend(b);
        v.push((format!("{sel:02}-{name}"), x));
    };
    for (n, q) in requests().into_iter().filter(|(n, _)| {
        [
            "sysctl-write-int",
            "ioctl-aifaddr",
            "sendto-route",
            "sendto-ngmsg",
            "poll",
        ]
        .contains(n)
    }) {
        add(0, n, q.to_bytes());
    }
    add(
        1,
        "reply",
        Reply {
            errno: 0,
            val: 1,
            data: b"x".to_vec(),
            addr: sin6("fe80::1", 0),
        }
        .to_bytes(),
    );
    add(2, "sysctl-int", sysctl_int(-1));
    add(2, "sysctl-str", sysctl_str("vimage"));
    let mut w = Writer::new();
    SysctlValue::Opaque("S,iflist".into(), vec![1, 2, 3]).encode(&mut w);
    add(2, "sysctl-opaque", w.finish());
    add(3, "ifreq-flags", ifreq_flags("em0", IFF_UP | 0x8843));
    let mut r = IfReq::new("edsc0");
    r.set_union_name("eth0").unwrap();
    add(3, "ifreq-name", r.to_bytes().unwrap());
    let mut r = IfReq::new("edsc0");
    r.set_lladdr([0x40, 0, 0xaa, 0xaa, 0, 3]);
    add(3, "ifreq-lladdr", r.to_bytes().unwrap());
    add(3, "inaliasreq", aliasreq("lo0"));
    add(
        3,
        "arpreq",
        ArpReq {
            addr: Some(Ipv4Addr::new(10, 0, 0, 1)),
            ifname: "eth0".into(),
        }
        .to_bytes()
        .unwrap(),
    );
    let mut a6 = In6AliasReq::new("eth0", "fe80::1".parse().unwrap(), 64);
    a6.addr.scope_id = 2;
    add(3, "in6aliasreq", a6.to_bytes().unwrap());
    add(
        3,
        "in6ifreq",
        In6IfReq::with_addr("eth0", SockaddrIn6::new("2001:db8::1".parse().unwrap(), 0))
            .to_bytes()
            .unwrap(),
    );
    add(
        3,
        "in6nbrinfo",
        In6NbrInfo {
            ifname: "eth0".into(),
            addr: "fe80::2".parse().unwrap(),
            asked: 1,
            isrouter: 0,
            state: 2,
            expire: 30,
        }
        .to_bytes()
        .unwrap(),
    );
    add(3, "vireq-get", ViReq::new(VI_GET, "v1").to_bytes().unwrap());
    let mut vi = ViReq::new(VI_IFACE, "v1.v2");
    vi.if_xname = "edsc0".into();
    vi.if_newname = "eth0".into();
    add(3, "vireq-iface", vi.to_bytes().unwrap());
    add(4, "sockaddr-in", sin([192, 0, 2, 1], 80));
    add(4, "sockaddr-in6", sin6("2001:db8::2", 443));
    add(
        4,
        "sockaddr-ng",
        SockaddrNg {
            data: "ngctl123:".into(),
        }
        .to_bytes()
        .unwrap(),
    );
    let mut f = Icmp6Filter([0; 8]);
    f.set_pass(129);
    add(5, "icmp6filter", f.to_bytes());
    add(5, "ipfw-rule", ipfw_rule());
    add(
        5,
        "ip6recvinfo",
        Ip6RecvInfo {
            from: Some(SockaddrIn6::new("fe80::1".parse().unwrap(), 2)),
            hoplimit: Some(64),
            pktinfo: Some(("ff02::1".parse().unwrap(), 2)),
        }
        .to_bytes(),
    );
    add(
        5,
        "ipmreq",
        IpMreq::new(Ipv4Addr::new(224, 0, 0, 9), Ipv4Addr::new(10, 0, 0, 1)).to_bytes(),
    );
    add(
        5,
        "ipmreqn",
        IpMreq {
            multiaddr: Ipv4Addr::new(224, 0, 0, 9),
            interface: Ipv4Addr::UNSPECIFIED,
            ifindex: Some(2),
        }
        .to_bytes(),
    );
    add(
        5,
        "ipv6mreq",
        Ipv6Mreq {
            multiaddr: "ff02::9".parse().unwrap(),
            interface: 2,
        }
        .to_bytes(),
    );
    add(
        5,
        "inrecvinfo",
        InRecvInfo {
            from: Some(SockaddrIn::new(Ipv4Addr::new(10, 0, 0, 2), 520)),
            dstaddr: Some(Ipv4Addr::new(224, 0, 0, 9)),
            ifindex: Some(2),
        }
        .to_bytes(),
    );
    add(
        6,
        "rtm-add",
        rtmsg(RTM_ADD, "10.1.0.0", Some("10.0.0.1"), Some(16)),
    );
    add(6, "rtm-get6", rtmsg(RTM_GET, "2001:db8::", None, Some(64)));
    add(6, "rtm-delete", rtmsg(RTM_DELETE, "192.0.2.7", None, None));
    add(
        6,
        "rtm-other",
        RtSockMsg::Other {
            rtm_type: RTM_IEEE80211,
            len: 12,
        }
        .to_bytes()
        .unwrap(),
    );
    add(
        7,
        "ngmsg-mkpeer",
        ngmsg(NGM_GENERIC_COOKIE, NGM_MKPEER, "mkpeer", mkpeer()),
    );
    add(
        7,
        "ngmsg-connect",
        ngmsg(NGM_GENERIC_COOKIE, NGM_CONNECT, "connect", connect()),
    );
    add(
        7,
        "ngmsg-ascii2binary",
        ngmsg(
            NGM_GENERIC_COOKIE,
            NGM_ASCII2BINARY,
            "ascii2binary",
            ngmsg(0, 0, "setconfig", b"{ loopTimeout=2 }\0".to_vec()),
        ),
    );
    add(8, "ngm-mkpeer", mkpeer());
    add(8, "ngm-connect", connect());
    add(
        8,
        "ngm-name",
        NgmName { name: "br0".into() }.to_bytes().unwrap(),
    );
    add(
        8,
        "ngm-hooklist",
        HookList {
            nodeinfo: nodeinfo(3),
            links: vec![LinkInfo {
                ourhook: "link0".into(),
                peerhook: "a".into(),
                nodeinfo: NodeInfo {
                    name: "ngctl1".into(),
                    type_name: "socket".into(),
                    id: 1,
                    hooks: 1,
                },
            }],
        }
        .to_bytes()
        .unwrap(),
    );
    add(
        8,
        "ngm-typelist",
        TypeList {
            types: vec![TypeInfo {
                type_name: "hub".into(),
                numnodes: 2,
            }],
        }
        .to_bytes()
        .unwrap(),
    );
    add(
        9,
        "ifmalist",
        IfMaddrInfo::encode_list(&[IfMaddrInfo {
            index: 2,
            name: "eth0".into(),
            addr: vec![224, 0, 0, 9],
            refcount: 1,
        }]),
    );
    add(
        9,
        "iflist",
        IfInfo::encode_list(&[IfInfo {
            index: 1,
            name: "lo0".into(),
            flags: 0x8049,
            metric: 0,
            mtu: 16384,
            iftype: 0x18,
            lladdr: vec![],
            status: vec!["status: active".into()],
            addrs: vec![IfAddrInfo {
                family: 2,
                addr: vec![127, 0, 0, 1],
                mask: vec![255, 0, 0, 0],
                dst: vec![],
                scope: 0,
                flags: 0,
            }],
            stats: IfStats::default(),
        }]),
    );
    add(
        9,
        "arplist",
        ArpEntryInfo::encode_list(&[ArpEntryInfo {
            addr: Ipv4Addr::new(10, 0, 0, 1),
            lladdr: vec![0x40, 0, 0, 0, 0, 1],
            ifindex: 2,
            ifname: "eth0".into(),
            iftype: 6,
            expire: 1200,
            flags: 1,
        }]),
    );
    add(
        9,
        "routedump",
        RouteDump {
            routes: vec![RouteEntryInfo {
                dst: "::".parse::<Ipv6Addr>().unwrap().into(),
                plen: 0,
                gateway: DumpGateway::Inet("fe80::1".parse::<Ipv6Addr>().unwrap().into()),
                ifindex: 2,
                ifname: "eth0".into(),
                flags: 0x803,
                refs: 1,
                used: 5,
                expire: 0,
                mtu: 1500,
            }],
        }
        .to_bytes(),
    );
    add(
        10,
        "protostats",
        ProtoStats(vec![("ips_total".into(), 5), ("ips_badsum".into(), 1)]).to_bytes(),
    );
    add(10, "ip6stat", Ip6Stat::default().to_bytes());
    add(10, "icmp6stat", Icmp6Stat::default().to_bytes());
    add(11, "cstr", b"edsc0\0\0\0".to_vec());
    add(
        11,
        "mask6",
        [0xff; 8].iter().chain(&[0; 8]).copied().collect(),
    );
    // Ioctl numbers the kernel knows, as raw request ioctl frames.
    for (n, cmd, data) in [
        (
            "getaddr6",
            SIOCGIFADDR_IN6,
            In6IfReq::with_addr("lo0", SockaddrIn6::new(Ipv6Addr::LOCALHOST, 0))
                .to_bytes()
                .unwrap(),
        ),
        ("nbrinfo6", SIOCGNBRINFO_IN6, vec![0; 64]),
        ("darp", SIOCDARP, ArpReq::default().to_bytes().unwrap()),
        ("unknown", iowr(b'z', 1, 8), vec![0; 8]),
    ] {
        add(
            0,
            &format!("ioctl-{n}"),
            Request::Ioctl { fd: 3, cmd, data }.to_bytes(),
        );
    }
    v
}

#[test]
fn door_frame_corpus() {
    let seeds = frame_seeds();
    replay::write_seeds(&dir("door_frame"), &seeds);
    for (_, s) in &seeds {
        door::frame(s);
    }
    let n = replay::replay(&dir("door_frame"), 1, replay::mutations(300), door::frame);
    assert!(n > 1000);
}

#[test]
fn door_payload_corpus() {
    let seeds = payload_seeds();
    replay::write_seeds(&dir("door_payload"), &seeds);
    for (_, s) in &seeds {
        door::payload(s);
    }
    let n = replay::replay(
        &dir("door_payload"),
        2,
        replay::mutations(300),
        door::payload,
    );
    assert!(n > 1000);
}
