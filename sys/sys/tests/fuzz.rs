//! Deterministic fuzzing of every binary decoder of the ABI crate.
//!
//! No nightly toolchain or fuzzing crate is needed: a seeded xorshift generator
//! builds random values, encodes them, and feeds the decoders the canonical
//! encodings, random bytes, truncations, bit flips and other mutations.  Checked:
//!
//! * no decoder panics, and every error is one the decoder documents;
//! * a canonical encoding decodes to the value it came from, and re-encodes to
//!   the same bytes (`encode(decode(x)) == x`);
//! * whatever a mutated input decodes to re-encodes, and that decodes to the same
//!   value again (decoding is idempotent through the encoder).
//!
//! `FUZZ_ITERS` sets the number of rounds per test (default: a few seconds in a
//! debug build); `FUZZ_SEED` changes the seed.

use std::fmt::Debug;
use std::panic::{catch_unwind, AssertUnwindSafe};
use vimage_abi::testrand::Rng;

use vimage_abi::net_if::{IfAddrInfo, IfInfo, IfReq, IfStats, IFREQ_SIZE};
use vimage_abi::netgraph::*;
use vimage_abi::syscall::{
    read_frame, write_frame, write_sendto, KldStat, Reply, Request, SendtoView,
};
use vimage_abi::sysctl::{SysctlReply, SysctlValue};
use vimage_abi::vimage::{ViReq, VI_API_COOKIE};
use vimage_abi::wire::{Reader, Writer};
use vimage_abi::{Errno, IFNAMSIZ, MAXHOSTNAMELEN};

// ---------------------------------------------------------------- harness

/// What these tests draw beyond the shared generator.
trait Draw {
    fn u32(&mut self) -> u32;
    fn i32(&mut self) -> i32;
    fn u64(&mut self) -> u64;
    fn string(&mut self, max: usize) -> String;
}

impl Draw for Rng {
    fn u32(&mut self) -> u32 {
        match self.below(6) {
            0 => 0,
            1 => u32::MAX,
            2 => self.below(8) as u32,
            _ => self.next() as u32,
        }
    }
    fn i32(&mut self) -> i32 {
        self.u32() as i32
    }
    fn u64(&mut self) -> u64 {
        match self.below(5) {
            0 => 0,
            1 => u64::MAX,
            2 => self.below(300) as u64,
            _ => self.next(),
        }
    }
    /// A UTF-8 string of at most `max` bytes without NUL: mostly name-like,
    /// sometimes with punctuation and multi-byte characters.
    fn string(&mut self, max: usize) -> String {
        const CHARS: &[char] = &[
            'a', 'b', 'z', 'A', '0', '9', '.', ':', '[', ']', '-', '_', ' ', '"', '\\', 'é', 'ж',
            '€', '😀',
        ];
        let target = self.below(max + 1);
        let mut s = String::new();
        while s.len() < target {
            let c = if self.one_in(3) {
                CHARS[self.below(CHARS.len())]
            } else {
                (b'a' + self.below(26) as u8) as char
            };
            if s.len() + c.len_utf8() > max {
                break;
            }
            s.push(c);
        }
        s
    }
}

/// Rounds per test: `FUZZ_ITERS`, else `default`.
fn iters(default: usize) -> usize {
    std::env::var("FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|c| format!("{c:02x}")).collect()
}

/// One random mutation of `b`.
fn mutate(r: &mut Rng, b: &[u8]) -> Vec<u8> {
    let mut v = b.to_vec();
    let rounds = 1 + r.below(4);
    for _ in 0..rounds {
        match r.below(9) {
            // truncate
            0 => {
                let n = r.below(v.len() + 1);
                v.truncate(n);
            }
            // flip one bit
            1 | 2 if !v.is_empty() => {
                let i = r.below(v.len());
                v[i] ^= 1 << r.below(8);
            }
            // overwrite a byte with an interesting value
            3 if !v.is_empty() => {
                let i = r.below(v.len());
                v[i] = [0, 0xff, 0x7f, 0x80, b'.', b':', 1, r.next() as u8][r.below(8)];
            }
            // overwrite an aligned u32 (lengths, counts, cookies)
            4 if v.len() >= 4 => {
                let i = r.below(v.len() / 4) * 4;
                let x = [0u32, 1, 2, 0xff, 0xffff, u32::MAX, 1 << 20, r.next() as u32][r.below(8)];
                v[i..i + 4].copy_from_slice(&x.to_le_bytes());
            }
            // insert random bytes
            5 => {
                let i = r.below(v.len() + 1);
                let extra = r.bytes(8);
                v.splice(i..i, extra);
            }
            // delete a range
            6 if !v.is_empty() => {
                let i = r.below(v.len());
                let n = 1 + r.below((v.len() - i).min(16));
                v.drain(i..i + n);
            }
            // duplicate a chunk
            7 if !v.is_empty() => {
                let i = r.below(v.len());
                let n = 1 + r.below((v.len() - i).min(64));
                let chunk = v[i..i + n].to_vec();
                v.splice(i..i, chunk);
            }
            // append
            _ => v.push(r.next() as u8),
        }
    }
    v
}

/// The checks every decoder gets, for one input `b`.
///
/// `decode` must not panic and may only fail with one of `errs`; what it accepts
/// must re-encode, and the re-encoding must decode to the same value.
fn check_input<T, D, E>(what: &str, b: &[u8], errs: &[Errno], decode: &D, encode: &E)
where
    T: PartialEq + Debug,
    D: Fn(&[u8]) -> Result<T, Errno>,
    E: Fn(&T) -> Result<Vec<u8>, Errno>,
{
    let r = catch_unwind(AssertUnwindSafe(|| decode(b)));
    let v = match r {
        Err(_) => panic!("{what}: decoder panicked on {}", hex(b)),
        Ok(Err(e)) => {
            assert!(errs.contains(&e), "{what}: unexpected {e:?} on {}", hex(b));
            return;
        }
        Ok(Ok(v)) => v,
    };
    let again = catch_unwind(AssertUnwindSafe(|| encode(&v)))
        .unwrap_or_else(|_| panic!("{what}: encoder panicked on {v:?}"))
        .unwrap_or_else(|e| panic!("{what}: {v:?} from {} does not re-encode: {e:?}", hex(b)));
    let v2 = decode(&again)
        .unwrap_or_else(|e| panic!("{what}: re-encoding of {v:?} does not decode: {e:?}"));
    assert_eq!(v2, v, "{what}: decode(encode(decode(x))) differs");
    assert_eq!(
        encode(&v2).ok().as_deref(),
        Some(&again[..]),
        "{what}: encoding is not stable"
    );
}

/// Fuzz one decoder: canonical encodings of `gen` values round-trip exactly; their
/// mutations and random bytes go through [`check_input`].
fn fuzz<T, G, D, E>(
    what: &str,
    salt: u64,
    rounds: usize,
    errs: &[Errno],
    gen: G,
    decode: D,
    encode: E,
) where
    T: PartialEq + Debug,
    G: Fn(&mut Rng) -> T,
    D: Fn(&[u8]) -> Result<T, Errno>,
    E: Fn(&T) -> Result<Vec<u8>, Errno>,
{
    let mut r = Rng::new(salt);
    for _ in 0..rounds {
        let v = gen(&mut r);
        let b =
            encode(&v).unwrap_or_else(|e| panic!("{what}: generated {v:?} does not encode: {e:?}"));
        let d =
            decode(&b).unwrap_or_else(|e| panic!("{what}: canonical {} of {v:?}: {e:?}", hex(&b)));
        assert_eq!(d, v, "{what}: decode(encode(v)) != v");
        assert_eq!(encode(&d).unwrap(), b, "{what}: encode(decode(x)) != x");
        for _ in 0..4 {
            let m = mutate(&mut r, &b);
            check_input(what, &m, errs, &decode, &encode);
        }
        let n = r.below(b.len() + 16);
        check_input(what, &b[..n.min(b.len())], errs, &decode, &encode);
        let noise = r.bytes(b.len() + 8);
        check_input(what, &noise, errs, &decode, &encode);
    }
}

const EINVAL: &[Errno] = &[Errno::EINVAL];

/// A netgraph address: usually short, sometimes up to the full `NG_PATHSIZ - 1`.
fn path_string(r: &mut Rng) -> String {
    let max = if r.one_in(4) { NG_PATHSIZ - 1 } else { 40 };
    r.string(max)
}

// ---------------------------------------------------------------- generators

fn gen_mesg(r: &mut Rng) -> NgMesg {
    let data = if r.one_in(8) {
        r.bytes(600)
    } else {
        r.bytes(40)
    };
    let mut m = NgMesg::new(r.u32(), r.u32(), &r.string(NG_CMDSTRSIZ - 1), r.u32(), data);
    m.header.flags = r.u32();
    m
}

fn gen_nodeinfo(r: &mut Rng) -> NodeInfo {
    NodeInfo {
        name: r.string(NG_NODESIZ - 1),
        type_name: r.string(NG_TYPESIZ - 1),
        id: r.u32(),
        hooks: r.u32(),
    }
}

fn gen_request(r: &mut Rng) -> Request {
    let opt = |r: &mut Rng| (!r.one_in(3)).then(|| r.bytes(40));
    match r.below(17) {
        0 => Request::Sysctl {
            name: r.string(40),
            new: opt(r),
        },
        1 => Request::SysctlNext { name: r.string(40) },
        2 => Request::Socket {
            domain: r.i32(),
            ty: r.i32(),
            proto: r.i32(),
        },
        3 => Request::Close { fd: r.i32() },
        4 => Request::Ioctl {
            fd: r.i32(),
            cmd: r.u32(),
            data: r.bytes(64),
        },
        5 => Request::Bind {
            fd: r.i32(),
            addr: r.bytes(32),
        },
        6 => Request::Connect {
            fd: r.i32(),
            addr: r.bytes(32),
        },
        7 => Request::Sendto {
            fd: r.i32(),
            flags: r.i32(),
            addr: opt(r),
            data: r.bytes(80),
        },
        8 => Request::Recvfrom {
            fd: r.i32(),
            len: r.u32(),
            flags: r.i32(),
        },
        9 => Request::Setsockopt {
            fd: r.i32(),
            level: r.i32(),
            name: r.i32(),
            val: r.bytes(16),
        },
        10 => Request::Getsockopt {
            fd: r.i32(),
            level: r.i32(),
            name: r.i32(),
            val: r.bytes(16),
        },
        11 => Request::Kldload { name: r.string(20) },
        12 => Request::Kldunload { fileid: r.i32() },
        13 => Request::Kldfind { name: r.string(20) },
        14 => Request::Kldnext { fileid: r.i32() },
        15 => Request::Kldsym { name: r.string(20) },
        _ => Request::Reboot { howto: r.i32() },
    }
}

fn gen_ifinfo(r: &mut Rng) -> IfInfo {
    IfInfo {
        index: r.u32(),
        name: r.string(IFNAMSIZ - 1),
        flags: r.u32(),
        metric: r.u32(),
        mtu: r.u32(),
        iftype: r.next() as u8,
        lladdr: r.bytes(8),
        status: (0..r.below(3)).map(|_| r.string(30)).collect(),
        addrs: (0..r.below(3))
            .map(|_| IfAddrInfo {
                family: r.next() as u8,
                addr: r.bytes(16),
                mask: r.bytes(16),
                dst: r.bytes(16),
                scope: r.u32(),
                flags: r.u32(),
            })
            .collect(),
        stats: IfStats {
            ipackets: r.u64(),
            ierrors: r.u64(),
            opackets: r.u64(),
            oerrors: r.u64(),
            ibytes: r.u64(),
            obytes: r.u64(),
            iqdrops: r.u64(),
            collisions: r.u64(),
        },
    }
}

fn gen_sysctl_value(r: &mut Rng) -> SysctlValue {
    match r.below(4) {
        0 => SysctlValue::Int(r.u64() as i64),
        1 => SysctlValue::UInt(r.u64()),
        2 => SysctlValue::Str(r.string(40)),
        _ => SysctlValue::Opaque(r.string(10), r.bytes(40)),
    }
}

// ---------------------------------------------------------------- netgraph

#[test]
fn fuzz_ng_mesg() {
    let n = iters(8000);
    fuzz(
        "NgMesg",
        1,
        n,
        EINVAL,
        gen_mesg,
        NgMesg::from_bytes,
        NgMesg::to_bytes,
    );
    fuzz(
        "NgMesgHeader",
        2,
        n,
        EINVAL,
        |r| gen_mesg(r).header,
        NgMesgHeader::from_bytes,
        NgMesgHeader::to_bytes,
    );
}

#[test]
fn fuzz_ng_generic_args() {
    let n = iters(8000);
    fuzz(
        "NgmMkpeer",
        3,
        n,
        EINVAL,
        |r| NgmMkpeer {
            type_name: r.string(NG_TYPESIZ - 1),
            ourhook: r.string(NG_HOOKSIZ - 1),
            peerhook: r.string(NG_HOOKSIZ - 1),
        },
        NgmMkpeer::from_bytes,
        NgmMkpeer::to_bytes,
    );
    fuzz(
        "NgmConnect",
        4,
        n / 2,
        EINVAL,
        |r| NgmConnect {
            path: path_string(r),
            ourhook: r.string(NG_HOOKSIZ - 1),
            peerhook: r.string(NG_HOOKSIZ - 1),
        },
        NgmConnect::from_bytes,
        NgmConnect::to_bytes,
    );
    fuzz(
        "NgmName",
        5,
        n,
        EINVAL,
        |r| NgmName {
            name: r.string(NG_NODESIZ - 1),
        },
        NgmName::from_bytes,
        NgmName::to_bytes,
    );
    fuzz(
        "NgmRmhook",
        6,
        n,
        EINVAL,
        |r| NgmRmhook {
            ourhook: r.string(NG_HOOKSIZ - 1),
        },
        NgmRmhook::from_bytes,
        NgmRmhook::to_bytes,
    );
}

#[test]
fn fuzz_ng_lists() {
    let n = iters(8000);
    fuzz(
        "NodeInfo",
        7,
        n,
        EINVAL,
        gen_nodeinfo,
        NodeInfo::from_bytes,
        NodeInfo::to_bytes,
    );
    fuzz(
        "HookList",
        8,
        n / 2,
        EINVAL,
        |r| {
            let links: Vec<LinkInfo> = (0..r.below(4))
                .map(|_| LinkInfo {
                    ourhook: r.string(NG_HOOKSIZ - 1),
                    peerhook: r.string(NG_HOOKSIZ - 1),
                    nodeinfo: gen_nodeinfo(r),
                })
                .collect();
            let mut nodeinfo = gen_nodeinfo(r);
            nodeinfo.hooks = links.len() as u32;
            HookList { nodeinfo, links }
        },
        HookList::from_bytes,
        HookList::to_bytes,
    );
    fuzz(
        "NameList",
        9,
        n / 2,
        EINVAL,
        |r| NameList {
            nodes: (0..r.below(5)).map(|_| gen_nodeinfo(r)).collect(),
        },
        NameList::from_bytes,
        NameList::to_bytes,
    );
    fuzz(
        "TypeList",
        10,
        n / 2,
        EINVAL,
        |r| TypeList {
            types: (0..r.below(5))
                .map(|_| TypeInfo {
                    type_name: r.string(NG_TYPESIZ - 1),
                    numnodes: r.u32(),
                })
                .collect(),
        },
        TypeList::from_bytes,
        TypeList::to_bytes,
    );
}

#[test]
fn fuzz_sockaddr_ng() {
    fuzz(
        "SockaddrNg",
        11,
        iters(8000),
        EINVAL,
        |r| SockaddrNg {
            data: path_string(r),
        },
        SockaddrNg::from_bytes,
        SockaddrNg::to_bytes,
    );
}

// ---------------------------------------------------------------- syscalls

#[test]
fn fuzz_syscall_frames() {
    let n = iters(8000);
    fuzz(
        "Request",
        12,
        n,
        EINVAL,
        gen_request,
        Request::from_bytes,
        |q| Ok(q.to_bytes()),
    );
    fuzz(
        "Reply",
        13,
        n,
        EINVAL,
        |r| Reply {
            errno: r.i32(),
            val: r.u64() as i64,
            data: r.bytes(40),
            addr: r.bytes(20),
        },
        Reply::from_bytes,
        |q| Ok(q.to_bytes()),
    );
    fuzz(
        "KldStat",
        14,
        n,
        EINVAL,
        |r| KldStat {
            id: r.i32(),
            refs: r.i32(),
            address: r.u64(),
            size: r.u64(),
            name: r.string(20),
            modules: (0..r.below(3)).map(|_| (r.i32(), r.string(12))).collect(),
        },
        KldStat::from_bytes,
        |k| Ok(k.to_bytes()),
    );
}

#[test]
fn fuzz_frame_reader() {
    let mut r = Rng::new(21);
    for _ in 0..iters(8000) {
        let req = gen_request(&mut r).to_bytes();
        let mut stream = Vec::new();
        write_frame(&mut stream, &req).unwrap();
        write_frame(&mut stream, &[]).unwrap();
        let mut c = std::io::Cursor::new(stream.clone());
        assert_eq!(read_frame(&mut c).unwrap().as_deref(), Some(&req[..]));
        assert_eq!(read_frame(&mut c).unwrap().as_deref(), Some(&[][..]));
        assert!(read_frame(&mut c).unwrap().is_none());
        // A damaged stream yields frames, a clean end or an error; never a panic,
        // never a frame longer than the stream.
        let m = mutate(&mut r, &stream);
        let mut c = std::io::Cursor::new(m.clone());
        for _ in 0..4 {
            match catch_unwind(AssertUnwindSafe(|| read_frame(&mut c))) {
                Err(_) => panic!("read_frame panicked on {}", hex(&m)),
                Ok(Ok(Some(f))) => {
                    assert!(f.len() <= m.len());
                    check_input(
                        "Request",
                        &f,
                        EINVAL,
                        &Request::from_bytes,
                        &|q: &Request| Ok(q.to_bytes()),
                    );
                }
                Ok(_) => break,
            }
        }
    }
}

#[test]
fn fuzz_vi_req() {
    fuzz(
        "ViReq",
        15,
        iters(4000),
        &[Errno::EINVAL, Errno::EDOOFUS],
        |r| ViReq {
            api_cookie: VI_API_COOKIE,
            action: r.u32(),
            proc_count: r.u32(),
            if_count: r.u32(),
            sock_count: r.u32(),
            sock_max: r.u32(),
            name: r.string(MAXHOSTNAMELEN - 1),
            parent_name: r.string(40),
            if_xname: r.string(IFNAMSIZ - 1),
            if_newname: r.string(IFNAMSIZ - 1),
        },
        ViReq::from_bytes,
        ViReq::to_bytes,
    );
}

#[test]
fn fuzz_net_if() {
    let n = iters(8000);
    fuzz(
        "IfReq",
        16,
        n,
        EINVAL,
        |r| {
            let mut q = IfReq::new(&r.string(IFNAMSIZ - 1));
            for b in q.data.iter_mut() {
                *b = r.next() as u8;
            }
            q
        },
        IfReq::from_bytes,
        IfReq::to_bytes,
    );
    fuzz(
        "IfInfo list",
        17,
        n / 2,
        EINVAL,
        |r| (0..r.below(4)).map(|_| gen_ifinfo(r)).collect::<Vec<_>>(),
        IfInfo::decode_list,
        |l| Ok(IfInfo::encode_list(l)),
    );
    // A record as a stream element: decode stops after one record.
    let mut r = Rng::new(18);
    for _ in 0..n {
        let i = gen_ifinfo(&mut r);
        let mut w = Writer::new();
        i.encode(&mut w);
        let b = w.finish();
        let mut rd = Reader::new(&b);
        assert_eq!(IfInfo::decode(&mut rd).unwrap(), i);
        assert_eq!(rd.remaining(), 0);
        let m = mutate(&mut r, &b);
        let _ = catch_unwind(|| IfInfo::decode(&mut Reader::new(&m)))
            .unwrap_or_else(|_| panic!("IfInfo::decode panicked on {}", hex(&m)));
    }
    assert_eq!(IfReq::from_bytes(&[0; IFREQ_SIZE + 1]), Err(Errno::EINVAL));
}

#[test]
fn fuzz_sysctl_values() {
    let n = iters(8000);
    fuzz(
        "SysctlReply",
        19,
        n,
        EINVAL,
        |r| SysctlReply {
            flags: r.u32(),
            value: gen_sysctl_value(r),
            descr: r.string(40),
        },
        SysctlReply::from_bytes,
        |s| Ok(s.to_bytes()),
    );
    fuzz(
        "SysctlValue",
        20,
        n,
        EINVAL,
        gen_sysctl_value,
        |b| {
            let mut rd = Reader::new(b);
            let v = SysctlValue::decode(&mut rd)?;
            rd.end()?;
            Ok(v)
        },
        |v| {
            let mut w = Writer::new();
            v.encode(&mut w);
            Ok(w.finish())
        },
    );
}

/// The zero-copy paths of the data-moving calls agree with the owned codecs:
/// `write_sendto` writes `Request::Sendto`'s bytes and `SendtoView` reads them
/// back; `Reply::write_frame` / `Reply::read_frame` match `to_bytes` /
/// `from_bytes`; damaged streams give an error or a clean end, never a panic.
#[test]
fn fuzz_fast_paths() {
    let mut r = Rng::new(22);
    for _ in 0..iters(8000) {
        let (fd, flags) = (r.i32(), r.i32());
        let addr = r.one_in(2).then(|| r.bytes(28));
        let data = r.bytes(300);
        let mut fast = Vec::new();
        write_sendto(&mut fast, fd, flags, addr.as_deref(), &data).unwrap();
        let q = Request::Sendto {
            fd,
            flags,
            addr: addr.clone(),
            data: data.clone(),
        };
        let mut slow = Vec::new();
        write_frame(&mut slow, &q.to_bytes()).unwrap();
        assert_eq!(fast, slow);
        let v = SendtoView::parse(&fast[4..]).unwrap();
        assert_eq!(
            (v.fd, v.flags, v.addr, v.data),
            (fd, flags, addr.as_deref(), &data[..])
        );
        let rep = Reply {
            errno: r.i32(),
            val: r.u64() as i64,
            data: r.bytes(300),
            addr: r.bytes(28),
        };
        let mut fast = Vec::new();
        rep.write_frame(&mut fast).unwrap();
        let mut slow = Vec::new();
        write_frame(&mut slow, &rep.to_bytes()).unwrap();
        assert_eq!(fast, slow);
        let mut c = std::io::Cursor::new(fast.clone());
        assert_eq!(Reply::read_frame(&mut c).unwrap(), Some(rep.clone()));
        assert!(Reply::read_frame(&mut c).unwrap().is_none());
        let m = mutate(&mut r, &fast);
        let mut c = std::io::Cursor::new(m.clone());
        match catch_unwind(AssertUnwindSafe(|| Reply::read_frame(&mut c))) {
            Err(_) => panic!("Reply::read_frame panicked on {}", hex(&m)),
            Ok(Ok(Some(x))) => {
                // Whatever it accepts is what the owned decoder accepts.
                let n = u32::from_le_bytes([m[0], m[1], m[2], m[3]]) as usize;
                assert_eq!(Reply::from_bytes(&m[4..4 + n]).ok(), Some(x));
            }
            Ok(_) => {}
        }
        if catch_unwind(|| SendtoView::parse(m.get(4..).unwrap_or(&[])).is_some()).is_err() {
            panic!("SendtoView::parse panicked on {}", hex(&m));
        }
    }
}

// ---------------------------------------------------------------- ipfw

fn gen_ip4(r: &mut Rng) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(r.u32())
}

fn gen_ip6(r: &mut Rng) -> std::net::Ipv6Addr {
    std::net::Ipv6Addr::from((u128::from(r.u64()) << 64) | u128::from(r.u64()))
}

fn gen_ifspec(r: &mut Rng) -> vimage_abi::ip_fw::IfSpec {
    use vimage_abi::ip_fw::IfSpec;
    if r.one_in(3) {
        IfSpec::Addr(gen_ip4(r))
    } else {
        let mut name = r.string(IFNAMSIZ - 1);
        if name.is_empty() {
            name.push('e');
        }
        IfSpec::Name {
            glob: r.one_in(2),
            name,
        }
    }
}

/// A random match instruction (never an action or a log).
fn gen_match(r: &mut Rng) -> vimage_abi::ip_fw::Insn {
    use vimage_abi::ip_fw::{AddrSet, Cmd, Insn};
    let masked4 = |r: &mut Rng| {
        let m = std::net::Ipv4Addr::from(r.u32());
        let a = std::net::Ipv4Addr::from(r.u32() & u32::from(m));
        (a, m)
    };
    let masked6 = |r: &mut Rng| {
        let m = gen_ip6(r);
        let a = std::net::Ipv6Addr::from(u128::from(gen_ip6(r)) & u128::from(m));
        (a, m)
    };
    let ports = |r: &mut Rng| {
        (0..1 + r.below(6))
            .map(|_| (r.u32() as u16, r.u32() as u16))
            .collect::<Vec<_>>()
    };
    let cmd = match r.below(29) {
        24 => Cmd::IpSrcLookup {
            table: r.below(128) as u16,
            value: r.one_in(2).then(|| r.u32()),
        },
        25 => Cmd::IpDstLookup {
            table: r.below(128) as u16,
            value: r.one_in(2).then(|| r.u32()),
        },
        0 => Cmd::Comment(r.string(vimage_abi::ip_fw::IPFW_COMMENT_MAX)),
        1 => Cmd::IpSrc(gen_ip4(r)),
        2 => Cmd::IpDst(gen_ip4(r)),
        3 => Cmd::IpSrcMask((0..1 + r.below(4)).map(|_| masked4(r)).collect()),
        4 => Cmd::IpDstMask((0..1 + r.below(4)).map(|_| masked4(r)).collect()),
        5 => Cmd::IpSrcMe,
        6 => {
            let size = 1u16 << (1 + r.below(8));
            let words = usize::from(size).div_ceil(32);
            let mut map: Vec<u32> = (0..words).map(|_| r.u32()).collect();
            if size < 32 {
                map[0] &= (1u32 << size) - 1;
            }
            let s = AddrSet {
                base: gen_ip4(r),
                size,
                map,
            };
            if r.one_in(2) {
                Cmd::IpSrcSet(s)
            } else {
                Cmd::IpDstSet(s)
            }
        }
        7 => Cmd::SrcPort(ports(r)),
        8 => Cmd::DstPort(ports(r)),
        9 => Cmd::Proto(r.u32() as u8),
        10 => Cmd::In,
        11 => Cmd::Frag,
        12 => Cmd::Recv(gen_ifspec(r)),
        13 => Cmd::Xmit(gen_ifspec(r)),
        14 => Cmd::Via(gen_ifspec(r)),
        15 => Cmd::Estab,
        16 => Cmd::TcpFlags {
            set: r.u32() as u8,
            clear: r.u32() as u8,
        },
        17 => Cmd::IcmpTypes(r.u32()),
        18 => Cmd::KeepState,
        19 => Cmd::Ip6,
        20 => Cmd::Ip6Src(gen_ip6(r)),
        21 => Cmd::Ip6DstMask((0..1 + r.below(2)).map(|_| masked6(r)).collect()),
        22 => Cmd::Ip6SrcMe,
        26 => {
            let mut addr = [0u8; 12];
            let mut mask = [0u8; 12];
            for i in 0..12 {
                mask[i] = if r.one_in(2) { 0xff } else { r.u32() as u8 };
                addr[i] = r.u32() as u8 & mask[i];
            }
            Cmd::MacAddr2 { addr, mask }
        }
        27 => Cmd::MacType(ports(r)),
        28 => Cmd::Layer2,
        _ => Cmd::IpDstMe,
    };
    Insn {
        cmd,
        not: r.one_in(3),
        or: r.one_in(4),
    }
}

/// A random valid rule.
fn gen_rule(r: &mut Rng) -> vimage_abi::ip_fw::IpFwRule {
    use vimage_abi::ip_fw::{Cmd, Insn, IpFwRule, IPFW_RULE_MAXSIZE};
    let mut cmd: Vec<Insn> = (0..r.below(8)).map(|_| gen_match(r)).collect();
    if let Some(l) = cmd.last_mut() {
        l.or = false;
    }
    let action = match r.below(6) {
        0 => Cmd::Accept,
        1 => Cmd::Deny,
        2 => Cmd::Reject(if r.one_in(4) {
            0x100
        } else {
            r.below(256) as u16
        }),
        3 => Cmd::Count,
        4 => Cmd::Skipto(r.u32() as u16),
        _ => Cmd::CheckState,
    };
    let mut act = Vec::new();
    if r.one_in(3) {
        act.push(Insn::new(Cmd::Log {
            max_log: r.u32(),
            log_left: r.u32(),
        }));
    }
    act.push(Insn::new(action));
    let mut rule = IpFwRule {
        rulenum: r.u32() as u16,
        set: r.below(32) as u8,
        pcnt: r.u64(),
        bcnt: r.u64(),
        timestamp: r.u32(),
        cmd,
        act,
    };
    while rule.size() > IPFW_RULE_MAXSIZE {
        rule.cmd.remove(0);
    }
    rule
}

/// The firewall's control structures (`IP_FW_ADD` rules, `IP_FW_GET`
/// replies, `IP_FW_DEL` and table arguments): what a hostile tenant hands
/// the kernel through a raw socket's options.
#[test]
fn fuzz_ip_fw() {
    use vimage_abi::ip_fw::*;
    fuzz(
        "IpFwRule",
        30,
        iters(6000),
        EINVAL,
        gen_rule,
        IpFwRule::from_bytes,
        IpFwRule::to_bytes,
    );
    fuzz(
        "IpFwGet",
        31,
        iters(1500),
        EINVAL,
        |r| IpFwGet {
            set_disable: r.u32(),
            now: r.u32(),
            rules: (0..r.below(5)).map(|_| gen_rule(r)).collect(),
            dyn_rules: (0..r.below(4))
                .map(|_| {
                    let v6 = r.one_in(2);
                    let mut a = || -> std::net::IpAddr {
                        if v6 {
                            gen_ip6(r).into()
                        } else {
                            gen_ip4(r).into()
                        }
                    };
                    let (s, d) = (a(), a());
                    IpFwDyn {
                        rulenum: r.u32() as u16,
                        set: r.below(32) as u8,
                        dyn_type: op::O_KEEP_STATE,
                        expire: r.u32(),
                        pcnt: r.u64(),
                        bcnt: r.u64(),
                        proto: r.u32() as u8,
                        src: (s, r.u32() as u16),
                        dst: (d, r.u32() as u16),
                    }
                })
                .collect(),
        },
        IpFwGet::from_bytes,
        IpFwGet::to_bytes,
    );
    fuzz(
        "IpFwDel",
        32,
        iters(2000),
        EINVAL,
        |r| {
            if r.one_in(2) {
                IpFwDel::Cmd(r.u32())
            } else {
                IpFwDel::Sets(r.u32(), r.u32())
            }
        },
        IpFwDel::from_bytes,
        |d| Ok(d.to_bytes()),
    );
    fuzz(
        "IpFwTableEntry",
        33,
        iters(2000),
        EINVAL,
        |r| IpFwTableEntry {
            tbl: r.below(usize::from(IPFW_TABLES_MAX)) as u16,
            addr: gen_ip4(r),
            masklen: r.below(33) as u8,
            value: r.u32(),
        },
        IpFwTableEntry::from_bytes,
        |e| Ok(e.to_bytes()),
    );
}
