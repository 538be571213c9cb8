//! rtnetlink inside vimages: glibc's `if_nameindex()`, `getifaddrs()` and
//! `getaddrinfo(AI_ADDRCONFIG)`, and Debian's iproute2 (`ip addr`, `ip link`,
//! `ip route`), run unmodified, see the vimage's interfaces, addresses and
//! routes (`usr.sbin/vimage/netlink.rs` answers their `AF_NETLINK` sockets).
//!
//! Safety: every unmodified program runs inside a network namespace this
//! test creates (`unshare -n`), whose only interface is a `lo` that is down,
//! so a capture failure could only ever show (or touch) that empty
//! namespace: never this machine's interfaces.  Each test proves the answers
//! are the vimage's (`lo0`, `eth0` and its addresses, which that namespace
//! does not have).  `unshare -n` needs root: without it the tests skip.

mod common;
use common::apps::*;
use common::*;

/// The pair, and n3 with nothing but lo0.
fn setup_with_n3(tag: &str) -> Option<Vk> {
    setup_with(tag, &["n3"])
}

/// glibc's `getifaddrs()` through ctypes: "name address" lines (link
/// entries as `packet`).
const GETIFADDRS: &str = r#"
import ctypes, socket
class sockaddr(ctypes.Structure):
    _fields_ = [("family", ctypes.c_ushort), ("data", ctypes.c_ubyte * 26)]
class ifaddrs(ctypes.Structure):
    pass
ifaddrs._fields_ = [("next", ctypes.POINTER(ifaddrs)), ("name", ctypes.c_char_p),
    ("flags", ctypes.c_uint), ("addr", ctypes.POINTER(sockaddr)),
    ("netmask", ctypes.POINTER(sockaddr)), ("ifu", ctypes.POINTER(sockaddr)),
    ("data", ctypes.c_void_p)]
libc = ctypes.CDLL(None, use_errno=True)
head = ctypes.POINTER(ifaddrs)()
if libc.getifaddrs(ctypes.byref(head)) != 0:
    raise OSError(ctypes.get_errno(), "getifaddrs")
p = head
while p:
    i = p.contents
    f = i.addr.contents.family if i.addr else 0
    d = bytes(i.addr.contents.data) if i.addr else b""
    if f == socket.AF_INET:
        a = socket.inet_ntop(f, d[2:6])
    elif f == socket.AF_INET6:
        a = socket.inet_ntop(f, d[6:22])
    else:
        a = "packet" if f == socket.AF_PACKET else str(f)
    print(i.name.decode(), a)
    p = i.next
libc.freeifaddrs(head)
"#;

/// getaddrinfo with AI_ADDRCONFIG: glibc asks rtnetlink which families have
/// a non-loopback address, and answers nothing for the others.
const ADDRCONFIG: &str = r#"
import socket
for fam, host in [(socket.AF_INET, "10.0.0.21"), (socket.AF_INET6, "a::21")]:
    try:
        r = socket.getaddrinfo(host, 80, fam, socket.SOCK_STREAM, 0, socket.AI_ADDRCONFIG)
        print(host, r[0][4][0])
    except socket.gaierror as e:
        print(host, "none")
"#;

#[test]
fn glibc_sees_the_vimage() {
    let Some(vk) = setup_with_n3("nl-glibc") else {
        return;
    };
    // if_nameindex(): the vimage's names, not the namespace's `lo`.
    let o = ok_in(
        &vk,
        "n1",
        &[
            "python3",
            "-c",
            "import socket; print(socket.if_nameindex())",
        ],
    );
    assert_eq!(o, "[(1, 'lo0'), (2, 'eth0')]\n");
    let o = ok_in(
        &vk,
        "n3",
        &[
            "python3",
            "-c",
            "import socket; print(socket.if_nameindex())",
        ],
    );
    assert_eq!(o, "[(1, 'lo0')]\n");
    // getifaddrs(): links and addresses.
    let o = ok_in(&vk, "n1", &["python3", "-c", GETIFADDRS]);
    for l in [
        "lo0 packet",
        "eth0 packet",
        "lo0 127.0.0.1",
        "eth0 10.0.0.20",
        "eth0 a::20",
    ] {
        assert!(o.lines().any(|x| x == l), "{l} missing:\n{o}");
    }
    assert!(!o.lines().any(|x| x.starts_with("lo ")), "{o}");
    // AI_ADDRCONFIG follows the vimage: n1 has addresses of both families
    // (the namespace has none); n3 has only loopback, so no IPv4 beyond
    // 127.0.0.1 — but its lo0, as FreeBSD's, has the link-local fe80::1
    // besides ::1, which glibc counts as IPv6 configured.
    let o = ok_in(&vk, "n1", &["python3", "-c", ADDRCONFIG]);
    assert_eq!(o, "10.0.0.21 10.0.0.21\na::21 a::21\n");
    let o = ok_in(&vk, "n3", &["python3", "-c", ADDRCONFIG]);
    assert_eq!(o, "10.0.0.21 none\na::21 a::21\n");
}

#[test]
fn iproute2_shows_the_vimage() {
    let Some(vk) = setup_with_n3("nl-ip") else {
        return;
    };
    if !have("ip") {
        eprintln!("skipping: iproute2 (ip) not installed");
        return;
    }
    let o = ok_in(&vk, "n1", &["ip", "-4", "addr", "show"]);
    assert!(
        o.contains("inet 10.0.0.20/24 brd 10.0.0.255 scope global eth0"),
        "{o}"
    );
    assert!(o.contains("inet 127.0.0.1/8 scope host lo0"), "{o}");
    assert!(!o.contains(": lo:") && !o.contains("inet6"), "{o}");
    let o = ok_in(&vk, "n1", &["ip", "link", "show"]);
    assert!(
        o.contains("2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500"),
        "{o}"
    );
    assert!(
        o.contains("link/ether 40:0a:0b:0c:0d:01 brd ff:ff:ff:ff:ff:ff"),
        "{o}"
    );
    assert!(o.contains("1: lo0: <LOOPBACK"), "{o}");
    assert!(!o.contains(": lo:"), "{o}");
    let o = ok_in(&vk, "n1", &["ip", "route", "show"]);
    assert!(
        o.contains("10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.20"),
        "{o}"
    );
    let o = ok_in(&vk, "n1", &["ip", "-6", "addr"]);
    assert!(o.contains("inet6 a::20/64 scope global"), "{o}");
    assert!(!o.contains("inet "), "{o}");
    let o = ok_in(&vk, "n1", &["ip", "-6", "route"]);
    assert!(o.contains("a::/64 dev eth0"), "{o}");
    assert!(!o.contains("10.0.0.0"), "{o}");
    // n2's view is n2's.
    let o = ok_in(&vk, "n2", &["ip", "addr", "show", "dev", "eth0"]);
    assert!(o.contains("inet 10.0.0.21/24"), "{o}");
    assert!(o.contains("link/ether 40:0a:0b:0c:0d:02"), "{o}");
    // Changes are refused and change nothing.
    let (c, _, e) = run_in(
        &vk,
        "n1",
        &["ip", "addr", "add", "10.9.9.9/24", "dev", "eth0"],
    );
    assert_ne!(c, 0);
    assert!(e.contains("Operation not supported"), "{e}");
    let o = vk.ok("vimage", &["n1", &tool("ifconfig"), "eth0"]);
    assert!(!o.contains("10.9.9.9"), "{o}");
    // A nested vimage's programs see the nested vimage (served by n1's
    // supervisor, acting in n1.n1a).
    let o = ok_in(
        &vk,
        "n1",
        &[
            "sh",
            "-c",
            &format!(
                "{v} -c n1a && {v} n1a {i} lo0 localhost && {v} n1a ip -br addr && ip -br link",
                v = tool("vimage"),
                i = tool("ifconfig")
            ),
        ],
    );
    let lines: Vec<&str> = o.lines().map(str::trim_end).collect();
    assert_eq!(lines.len(), 3, "{o}");
    // (lo0 configured with `localhost` has ::1 and fe80::1 too, as on FreeBSD.)
    assert!(
        lines[0].starts_with("lo0 ") && lines[0].ends_with("127.0.0.1/8 ::1/128 fe80::1/64"),
        "{o}"
    );
    assert!(
        lines[1].starts_with("lo0 ") && lines[2].starts_with("eth0 "),
        "{o}"
    );
}

/// A hostile client: garbage, lying lengths, huge sends, bad pointers, a
/// flood never read; every one gets an error (or is ignored, as Linux
/// ignores it) and the supervisor keeps serving.
const HOSTILE: &str = r#"
import socket, struct, os, errno, ctypes, time, select
NL = socket.AF_NETLINK
RTM_GETLINK, RTM_NEWADDR, NLMSG_ERROR, NLMSG_DONE = 18, 20, 2, 3
REQ, ACK, DUMP = 1, 4, 0x300
libc = ctypes.CDLL(None, use_errno=True)

def msg(ty, flags, seq, payload=b"\0" * 4, length=None):
    n = 16 + len(payload) if length is None else length
    b = struct.pack("=IHHII", n, ty, flags, seq, 0) + payload
    return b + b"\0" * (-len(b) % 4)

def replies(s, seq, port):
    """The answer to request seq; older answers (left from a flood) are
    skipped, as glibc and iproute2 skip them."""
    out = []
    while True:
        d, src = s.recvfrom(65536)
        assert src == (0, 0), src
        off = 0
        while off + 16 <= len(d):
            n, ty, fl, sq, pid = struct.unpack_from("=IHHII", d, off)
            assert n >= 16 and pid == port and sq <= seq, (n, pid, port, sq, seq)
            body = d[off + 16:off + n]
            off += (n + 3) & ~3
            if sq != seq:
                continue
            out.append((ty, body))
            if ty in (NLMSG_DONE, NLMSG_ERROR):
                return out

def names(s, seq, port):
    s.send(msg(RTM_GETLINK, REQ | DUMP, seq))
    r = replies(s, seq, port)
    assert r[-1][0] == NLMSG_DONE, r[-1]
    got = []
    for ty, p in r[:-1]:
        a = p[16:]
        while len(a) >= 4:
            n, t = struct.unpack_from("=HH", a)
            if t == 3:
                got.append(a[4:n].rstrip(b"\0").decode())
            a = a[(n + 3) & ~3:]
    return got

def fails(want, f, *a):
    try:
        f(*a)
    except OSError as e:
        assert e.errno == want, (f, a, e)
        return
    raise SystemExit("no error from %r" % (f,))

s = socket.socket(NL, socket.SOCK_RAW, socket.NETLINK_ROUTE)
s.settimeout(10)
s.bind((0, 0))
port, groups = s.getsockname()
assert port == os.getpid(), (port, os.getpid())
assert s.getpeername() == (0, 0)
assert s.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) == socket.SOCK_RAW
assert s.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN) == NL
assert s.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL) == 0
s.setsockopt(270, 11, 1)   # NETLINK_EXT_ACK
assert s.getsockopt(270, 11) == 1
s.setsockopt(270, 12, 1)   # NETLINK_GET_STRICT_CHK
s.setsockopt(270, 1, 5)    # NETLINK_ADD_MEMBERSHIP
assert struct.unpack("=II", s.getsockopt(270, 9, 8))[0] == 1 << 4
fails(errno.EINVAL, s.setsockopt, 270, 1, 0)
fails(errno.ENOPROTOOPT, s.setsockopt, 270, 99, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
assert s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) > 0
fails(errno.EINVAL, s.bind, (12345, 0))
print("names", names(s, 1, port))

# Garbage: random bytes, cut headers, lengths that lie (short, huge), an
# empty datagram, a control type, no NLM_F_REQUEST, no payload.
for g in [os.urandom(100), b"\x01\x02\x03", b"\x00" * 15,
          msg(RTM_GETLINK, REQ | DUMP, 9, length=3),
          msg(RTM_GETLINK, REQ | DUMP, 9, length=0xffffffff),
          msg(RTM_GETLINK, REQ | DUMP, 9, length=1 << 20),
          b"", msg(1, REQ, 9), msg(RTM_GETLINK, DUMP, 9),
          msg(RTM_GETLINK, REQ | DUMP, 9, payload=b""),
          msg(0xffff, REQ, 9, payload=os.urandom(200))]:
    s.send(g)
# Only the last is answered (EOPNOTSUPP).
r = replies(s, 9, port)
assert len(r) == 1 and r[0][0] == NLMSG_ERROR, r
assert struct.unpack_from("=i", r[0][1])[0] == -errno.EOPNOTSUPP
s.sendto(msg(RTM_NEWADDR, REQ | ACK, 10, payload=bytes([2, 24, 0, 0, 2, 0, 0, 0])), (0, 0))
r = replies(s, 10, port)
assert struct.unpack_from("=i", r[0][1])[0] == -errno.EOPNOTSUPP, r
fails(errno.ECONNREFUSED, s.sendto, msg(RTM_GETLINK, REQ | DUMP, 11), (4242, 0))
fails(errno.EMSGSIZE, s.sendto, b"\0" * (64 * 1024 + 1), (0, 0))
fails(errno.EMSGSIZE, s.send, b"\0" * (1 << 20))
s.setblocking(False)
fails(errno.EAGAIN, s.recv, 100)
fails(errno.EAGAIN, s.recvfrom, 100)
s.settimeout(10)
# Bad pointers: EFAULT (bind, getsockname, getsockopt, sendto, recvmsg).
for nr, args in [(49, (s.fileno(), 8, 12)), (51, (s.fileno(), 8, 8)),
                 (55, (s.fileno(), 270, 11, 8, 8)),
                 (44, (s.fileno(), 0, 10, 0, 8, 12)), (47, (s.fileno(), 8, 0))]:
    ctypes.set_errno(0)
    r = libc.syscall(nr, *[ctypes.c_long(a) for a in args])
    assert r == -1 and ctypes.get_errno() == errno.EFAULT, (nr, r, ctypes.get_errno())
# Truncation: MSG_TRUNC in msg_flags; with MSG_PEEK|MSG_TRUNC the length.
s.send(msg(RTM_GETLINK, REQ | DUMP, 12))
d, anc, fl, src = s.recvmsg(10)
assert len(d) == 10 and fl & socket.MSG_TRUNC and src == (0, 0), (len(d), fl, src)
s.send(msg(RTM_GETLINK, REQ | DUMP, 13))
select.select([s], [], [], 10)
sa, sl = ctypes.create_string_buffer(12), ctypes.c_uint(12)
n = libc.recvfrom(s.fileno(), None, 0, socket.MSG_PEEK | socket.MSG_TRUNC, sa, ctypes.byref(sl))
d = s.recv(65536)
assert n == len(d) > 100 and sl.value == 12, (n, len(d), sl.value)
assert struct.unpack_from("=H", d, len(d) - 16)[0] == NLMSG_DONE
# A flood of dump requests never read: past the bound replies are dropped
# and reported (ENOBUFS).
many = msg(RTM_GETLINK, REQ | DUMP, 14) * 3000
for i in range(4):
    s.send(many)
time.sleep(1)
for i in range(100000):
    try:
        s.recvmsg(65536)
    except OSError as e:
        assert e.errno == errno.ENOBUFS, e
        break
else:
    raise SystemExit("no ENOBUFS")
s.setblocking(False)
while True:
    try:
        s.recv(65536)
    except BlockingIOError:
        break
s.settimeout(10)
print("names", names(s, 15, port))
# A second socket: its own port; other protocols and types refused.
t = socket.socket(NL, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, 0)
t.bind((0, 0))
tport = t.getsockname()[0]
assert tport != port, tport
t.settimeout(10)
print("names", names(t, 16, tport))
for proto in (4, 16, 31, 32):
    fails(errno.EPROTONOSUPPORT, socket.socket, NL, socket.SOCK_RAW, proto)
fails(errno.ESOCKTNOSUPPORT, socket.socket, NL, socket.SOCK_STREAM, 0)
print("ok")
"#;

#[test]
fn hostile_client_and_the_supervisor_keeps_serving() {
    let Some(vk) = setup_with_n3("nl-hostile") else {
        return;
    };
    let script = std::env::temp_dir().join(format!("vk-nl-hostile-{}.py", std::process::id()));
    std::fs::write(&script, HOSTILE).unwrap();
    // The same supervisor serves the hostile client and then `ip addr`
    // (or, without iproute2, Python's if_nameindex).
    let after = if have("ip") {
        "ip -4 addr show dev eth0"
    } else {
        "python3 -c 'import socket; print(socket.if_nameindex())'"
    };
    let (c, o, e) = run_in(
        &vk,
        "n1",
        &[
            "sh",
            "-c",
            &format!("python3 {} && {after}", script.display()),
        ],
    );
    let _ = std::fs::remove_file(&script);
    assert_eq!(c, 0, "{e}{o}");
    assert!(
        o.starts_with("names ['lo0', 'eth0']\nnames ['lo0', 'eth0']\nnames ['lo0', 'eth0']\nok\n"),
        "{o}"
    );
    assert!(
        o.contains("inet 10.0.0.20/24") || o.contains("(2, 'eth0')"),
        "{o}"
    );
}
