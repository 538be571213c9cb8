//! Every liblinux decoder on fuzzer input: the first byte picks the decoder,
//! the rest is its input.  Nothing may panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use liblinux::*;
use vimage_abi::net_if::{IfAddrInfo, IfInfo, IfStats};
use vimage_abi::route::{DumpGateway, RouteEntryInfo};

fn ifs() -> Vec<IfInfo> {
    let a = |fam: u8, addr: &[u8], mask: &[u8], dst: &[u8]| IfAddrInfo {
        family: fam,
        addr: addr.to_vec(),
        mask: mask.to_vec(),
        dst: dst.to_vec(),
        scope: 0,
        flags: 0,
    };
    let mut ll = [0u8; 16];
    ll[..2].copy_from_slice(&[0xfe, 0x80]);
    ll[15] = 1;
    vec![
        IfInfo {
            index: 1,
            name: "lo0".into(),
            flags: 0x8049,
            metric: 0,
            mtu: 16384,
            iftype: 0x18,
            lladdr: vec![],
            status: vec![],
            addrs: vec![a(2, &[127, 0, 0, 1], &[255, 0, 0, 0], &[])],
            stats: IfStats::default(),
        },
        IfInfo {
            index: 2,
            name: "eth0".into(),
            flags: 0x8843,
            metric: 0,
            mtu: 1500,
            iftype: 6,
            lladdr: vec![0x40, 0, 0xaa, 0xaa, 0, 3],
            status: vec![],
            addrs: vec![
                a(2, &[10, 0, 0, 20], &[255, 255, 255, 0], &[10, 0, 0, 255]),
                a(28, &ll, &[0xff; 8], &[]),
            ],
            stats: IfStats::default(),
        },
    ]
}

fn routes() -> Vec<RouteEntryInfo> {
    vec![RouteEntryInfo {
        dst: "0.0.0.0".parse().unwrap(),
        plen: 0,
        gateway: DumpGateway::Inet("10.0.0.1".parse().unwrap()),
        ifindex: 2,
        ifname: "eth0".into(),
        flags: 0x803,
        refs: 0,
        used: 0,
        expire: 0,
        mtu: 0,
    }]
}

fn int(b: &[u8]) -> i32 {
    let mut a = [0u8; 4];
    for (x, y) in a.iter_mut().zip(b) {
        *x = *y;
    }
    i32::from_le_bytes(a)
}

const KINDS: [OptKind; 14] = [
    OptKind::Int,
    OptKind::IntOrByte,
    OptKind::Bool,
    OptKind::BufSize,
    OptKind::Linger,
    OptKind::Timeval,
    OptKind::Error,
    OptKind::Icmp6Filter,
    OptKind::Domain,
    OptKind::Protocol,
    OptKind::McastIf,
    OptKind::IpMreq,
    OptKind::McastTtl,
    OptKind::Ipv6Mreq,
];

fn run(data: &[u8]) {
    let Some((&sel, input)) = data.split_first() else {
        return;
    };
    match sel % 8 {
        0 => {
            if let Ok(k) = sockaddr_to_kernel(input) {
                sockaddr_to_linux(&k).expect("what we build decodes");
            }
            let _ = sockaddr_to_kernel_on(if sel & 8 != 0 { 10 } else { 2 }, input);
        }
        1 => {
            let _ = sockaddr_to_linux(input);
            let _ = recv_addr_to_linux(input);
        }
        2 => {
            let kind = KINDS[usize::from(sel >> 3) % KINDS.len()];
            let _ = opt_value_to_kernel(kind, input);
            let _ = opt_value_to_linux(kind, input);
        }
        3 => {
            let _ = sockopt_to_kernel(int(input), int(input.get(4..).unwrap_or(&[])));
            let _ = socket_type(int(input));
            let _ = socket_protocol(int(input), int(input.get(4..).unwrap_or(&[])));
            let _ = msg_flags_to_kernel(int(input));
            let _ = msg_flags_to_linux(int(input));
            let _ = errno_to_linux(vimage_abi::Errno(int(input)));
            let _ = errno_from_linux(int(input));
            let _ = ioctl_kind(int(input) as u32);
        }
        4 | 5 => {
            let out = netlink::respond(input, &ifs(), &routes(), 7);
            let _ = netlink::batch(&out, usize::from(sel));
        }
        _ => {
            let mut req = [0u8; 40];
            for (x, y) in req.iter_mut().zip(input.get(1..).unwrap_or(&[])) {
                *x = *y;
            }
            let kind = ioctl_kind(0x8910 + u32::from(input.first().copied().unwrap_or(0) % 0x40));
            let _ = ifreq_answer(kind, &req, &ifs());
            let _ = ifconf_answer(&ifs(), usize::from(sel) * 4);
        }
    }
}

fuzz_target!(|data: &[u8]| run(data));
