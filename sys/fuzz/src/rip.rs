//! The RIP and RIPng decoders of routed(8) and route6d(8) (`librip`) on
//! hostile datagrams: the wire views and checked parsers, the round trip
//! (parse → emit → parse gives the same message), and the daemons' path
//! (codec, then a router with one interface, its timers run, and every
//! datagram it answers with decoding again).  Uses only `librip` and
//! `std`, so `lib/librip/tests/corpus_replay.rs` includes this very file.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use librip::codec::{ripng_decode, ripng_encode, RipCodec};
use librip::ripng::{self, RipngRepr};
use librip::router::{Action, Config, IfConfig, Message, Router, Timers};
use librip::wire::{self, Auth, AuthKey, RipRepr};

/// Feed `m` to a fresh router on `ifc` from `src`, run its timers, and
/// hand every message it sends to `sent`.
fn drive(port: u16, ifc: IfConfig, src: SocketAddr, m: &Message, mut sent: impl FnMut(&Message)) {
    let mut r = Router::new(Config::new(port, Timers::rip()));
    let index = ifc.index;
    r.set_interfaces(Duration::ZERO, vec![ifc]);
    r.start(Duration::ZERO);
    r.input(Duration::from_secs(1), index, src, m);
    for t in [2, 100, 200, 400] {
        r.poll(Duration::from_secs(t));
        for a in r.take_actions() {
            if let Action::Send { msg, .. } = a {
                sent(&msg);
            }
        }
    }
}

/// One RIPv1/v2 datagram.
pub fn run_rip(data: &[u8]) {
    if let Ok(p) = wire::Packet::new_checked(data) {
        if let Ok(r) = RipRepr::parse(&p) {
            let (key, seq) = match &r.auth {
                Auth::None => (AuthKey::None, 0),
                Auth::Simple(pw) => (AuthKey::Simple(*pw), 0),
                Auth::Md5 { key_id, seq, .. } => (
                    AuthKey::Md5 {
                        key_id: *key_id,
                        key: [0; 16],
                    },
                    *seq,
                ),
            };
            let b = r.to_bytes(&key, seq);
            assert_eq!(b.len(), r.buffer_len(&key));
            let p2 = wire::Packet::new_checked(&b[..]).expect("emitted length");
            let again = RipRepr::parse(&p2).expect("emitted message parses");
            assert_eq!(
                (again.command, again.version, &again.entries),
                (r.command, r.version, &r.entries)
            );
            again.verify(&b, &key).expect("emitted message verifies");
        }
    }
    let ifc = IfConfig::new(
        2,
        "eth0",
        vec![(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 24)],
    );
    let src = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), wire::RIP_PORT);
    let mut keyed = RipCodec::default();
    keyed
        .keys
        .push((None, AuthKey::password("fuzz", Some(1)).expect("key")));
    for codec in [RipCodec::default(), keyed] {
        let Ok(m) = codec.decode(data, &ifc) else {
            continue;
        };
        let mut enc = codec.clone();
        drive(wire::RIP_PORT, ifc.clone(), src, &m, |out| {
            for d in enc.encode(out, &ifc) {
                assert!(d.len() <= wire::MAX_PACKET);
                codec.decode(&d, &ifc).expect("a sent datagram decodes");
            }
        });
    }
}

/// One RIPng datagram.
pub fn run_ripng(data: &[u8]) {
    if let Ok(p) = ripng::Packet::new_checked(data) {
        if let Ok(r) = RipngRepr::parse(&p) {
            let b = r.to_bytes();
            let again = RipngRepr::parse(&ripng::Packet::new_checked(&b[..]).expect("length"))
                .expect("emitted message parses");
            assert_eq!(again, r);
        }
    }
    let Ok(m) = ripng_decode(data, Some(255)) else {
        return;
    };
    let ll = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    let ifc = IfConfig::new(
        2,
        "eth0",
        vec![
            (IpAddr::V6(ll), 64),
            (IpAddr::V6(Ipv6Addr::new(0xa, 1, 0, 0, 0, 0, 0, 1)), 64),
        ],
    );
    let src = SocketAddr::new(
        IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2)),
        ripng::RIPNG_PORT,
    );
    drive(ripng::RIPNG_PORT, ifc, src, &m, |out| {
        for d in ripng_encode(out) {
            ripng_decode(&d, Some(255)).expect("a sent datagram decodes");
        }
    });
}
