//! The kernel tests' network: a kernel booted on fake time, hosts (vimages)
//! and point-to-point Ethernet cables between them.  Each cable has its own
//! drop rule, random loss, delay and reordering; time only moves when a test
//! says so and the randomness is seeded, so every run is the same.
//!
//! A cable with no delay and no reordering hands each frame to its peer
//! through netisr, as ng_eiface does, so a system call's answer is back when
//! the call returns; frames a cable holds arrive as [`Net::run`] or
//! [`Net::advance_ms`] move the clock past their time.

// Some helpers serve only the tests that need several vimages.
#![cfg_attr(not(feature = "vimage"), allow(dead_code))]

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use vimage_abi::net_if::*;
use vimage_abi::netinet_in::{in_plen2mask, PF_INET, SOCK_DGRAM};
use vimage_abi::syscall::{Reply, Request};
use vimage_abi::sysctl::{SysctlReply, SysctlValue};
use vimage_abi::wire::Writer;
use vimage_abi::Errno;

use vimage_kern::kern_syscall::{test_lock, Kernel, KernelConfig, Td};
use vimage_kern::kern_timeout::{Clock, FakeClock};
use vimage_kern::uipc_socket::{FdTable, MSG_DONTWAIT};
use vimage_kern::vnet::{CurvnetGuard, Vnet};
use vimage_net::if_var::{IfDriver, Ifnet};
use vimage_net::mbuf::Mbuf;
use vimage_net::netisr::{netisr_enter, netisr_queue};
use vimage_net::r#if::{if_attach, if_input, ifunit};

/// A millisecond in nanoseconds, the clock's unit.
const MS: u64 = 1_000_000;

/// A cable's drop rule: true loses the frame.
type Rule = Box<dyn FnMut(&[u8]) -> bool + Send>;

/// One end of a cable: the `a` or the `b` of [`Net::wire`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    A,
    B,
}

impl End {
    fn other(self) -> End {
        match self {
            End::A => End::B,
            End::B => End::A,
        }
    }
}

/// A frame seen by a sniffing cable: when, at which end (the one it left
/// from, or the one it arrived at), and its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    /// Time on the fake clock, ns.
    pub t: u64,
    pub end: End,
    pub data: Vec<u8>,
}

/// A frame a cable holds until `at` (nanoseconds on the fake clock).
struct Held {
    at: u64,
    /// Order of sending, so frames due together arrive in it.
    seq: u64,
    m: Mbuf,
    to: Weak<Ifnet>,
    end: End,
    line: Arc<Line>,
}

/// Frames held by every cable of a [`Net`].
#[derive(Default)]
struct HeldQueue {
    frames: Vec<Held>,
    seq: u64,
}

/// A cable's loss and reordering draws: the fuzz tests' generator, seeded
/// per cable (the same draws every run).
struct Rng(vimage_kern::fuzz::Rng);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(vimage_kern::fuzz::Rng::from_seed(seed))
    }
    /// Whether an event with probability `per_mille`/1000 happens.
    fn chance(&mut self, per_mille: u32) -> bool {
        per_mille != 0 && self.0.next() % 1000 < u64::from(per_mille)
    }
}

/// What one cable does to the frames it carries, the same both ways.
struct Line {
    rule: Mutex<Option<Rule>>,
    loss: AtomicU32,
    delay: AtomicU64,
    /// (per mille of frames held back, for how long in ns).
    reorder: Mutex<(u32, u64)>,
    rng: Mutex<Rng>,
    sniffing: AtomicBool,
    sent: Mutex<Vec<Frame>>,
    arrived: Mutex<Vec<Frame>>,
    lost: AtomicU64,
    clock: Arc<FakeClock>,
    held: Arc<Mutex<HeldQueue>>,
}

impl Line {
    /// Hand `m` to `to`, the interface at `end`.
    fn arrive(&self, end: End, to: &Arc<Ifnet>, m: Mbuf) {
        if self.sniffing.load(Ordering::Relaxed) {
            self.arrived.lock().unwrap().push(Frame {
                t: self.clock.now_ns(),
                end,
                data: m.data().to_vec(),
            });
        }
        if_input(to, m);
    }
}

/// A cable end's driver: what its interface sends goes down the line to the
/// peer.
struct CableEnd {
    line: Arc<Line>,
    end: End,
    peer: Mutex<Weak<Ifnet>>,
}

impl IfDriver for CableEnd {
    fn transmit(&self, ifp: &Arc<Ifnet>, mut m: Mbuf) -> Result<(), Errno> {
        let line = &self.line;
        let now = line.clock.now_ns();
        if line.sniffing.load(Ordering::Relaxed) {
            line.sent.lock().unwrap().push(Frame {
                t: now,
                end: self.end,
                data: m.data().to_vec(),
            });
        }
        let ruled = line
            .rule
            .lock()
            .unwrap()
            .as_mut()
            .is_some_and(|r| r(m.data()));
        let (lost, held_back, hold) = {
            let mut rng = line.rng.lock().unwrap();
            let lost = rng.chance(line.loss.load(Ordering::Relaxed));
            let (p, hold) = *line.reorder.lock().unwrap();
            (lost, rng.chance(p), hold)
        };
        if ruled || lost {
            line.lost.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        // A cable between offloading ends behaves as an eiface pair; a plain
        // one is a wire, where nothing is said about checksums.
        if ifp.hwassist.load(Ordering::Relaxed) != 0 {
            m.offload_input();
        } else {
            m.csum_flags = 0;
        }
        let to = self.peer.lock().unwrap().clone();
        let to_end = self.end.other();
        let wait = line.delay.load(Ordering::Relaxed) + if held_back { hold } else { 0 };
        if wait == 0 {
            if let Some(to) = to.upgrade() {
                let line = line.clone();
                netisr_queue(move || line.arrive(to_end, &to, m));
            }
        } else {
            let mut q = line.held.lock().unwrap();
            q.seq += 1;
            let seq = q.seq;
            q.frames.push(Held {
                at: now + wait,
                seq,
                m,
                to,
                end: to_end,
                line: line.clone(),
            });
        }
        Ok(())
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A cable between two interfaces, and the handle to set what it does.
pub(crate) struct Cable {
    /// The interface at end `a`.
    pub a: Arc<Ifnet>,
    /// The interface at end `b`.
    pub b: Arc<Ifnet>,
    line: Arc<Line>,
}

impl Cable {
    /// Both ends' interfaces, `a` first.
    pub fn ends(&self) -> (Arc<Ifnet>, Arc<Ifnet>) {
        (self.a.clone(), self.b.clone())
    }
    /// Lose every frame `r` says true of (it sees every frame, so it can
    /// also watch the wire).
    pub fn drop_if(&self, r: impl FnMut(&[u8]) -> bool + Send + 'static) {
        *self.line.rule.lock().unwrap() = Some(Box::new(r));
    }
    /// No drop rule.
    pub fn no_drop(&self) {
        *self.line.rule.lock().unwrap() = None;
    }
    /// Lose `per_mille` of the frames at random.
    pub fn set_loss(&self, per_mille: u32) {
        self.line.loss.store(per_mille, Ordering::Relaxed);
    }
    /// Deliver every frame `ms` milliseconds after it was sent.
    pub fn set_delay_ms(&self, ms: u64) {
        self.line.delay.store(ms * MS, Ordering::Relaxed);
    }
    /// Hold `per_mille` of the frames, chosen at random, `hold_ms` beyond
    /// the delay, so the frames behind them overtake them.
    pub fn set_reorder(&self, per_mille: u32, hold_ms: u64) {
        *self.line.reorder.lock().unwrap() = (per_mille, hold_ms * MS);
    }
    /// Restart the loss and reordering draws from `seed`.
    pub fn seed(&self, seed: u64) {
        *self.line.rng.lock().unwrap() = Rng::new(seed);
    }
    /// Record what is sent and what arrives from now on.
    pub fn sniff(&self) {
        self.line.sniffing.store(true, Ordering::Relaxed);
    }
    /// The frames sent into the cable while sniffing, lost ones too.
    pub fn sent(&self) -> Vec<Frame> {
        self.line.sent.lock().unwrap().clone()
    }
    /// The frames handed to an end's interface while sniffing.
    pub fn arrived(&self) -> Vec<Frame> {
        self.line.arrived.lock().unwrap().clone()
    }
    /// How many frames the drop rule and the random loss took.
    pub fn lost(&self) -> u64 {
        self.line.lost.load(Ordering::Relaxed)
    }
}

/// A booted kernel on a fake clock, its hosts' cables and the frames they
/// hold.  Holds the test lock: one kernel at a time.
pub(crate) struct Net {
    pub k: Arc<Kernel>,
    /// The kernel's clock: moved by [`Net::run`] and [`Net::advance_ms`].
    pub clock: Arc<FakeClock>,
    held: Arc<Mutex<HeldQueue>>,
    cables: AtomicU64,
    _l: vimage_kern::kern_syscall::TestGuard,
}

impl Drop for Net {
    fn drop(&mut self) {
        // Held frames keep their lines (and so the queue) alive.
        self.held.lock().unwrap().frames.clear();
        self.k.shutdown();
    }
}

/// A host: a vimage and a process in it.
pub(crate) struct Host {
    pub td: Td,
}

impl Net {
    /// Boot a kernel at time 1 s on a fake clock.
    pub fn boot() -> Net {
        let l = test_lock();
        let clock = Arc::new(FakeClock::new(1_000_000_000));
        let k = Kernel::boot_conf(KernelConfig::for_tests(clock.clone()), &crate::INET_CONF)
            .expect("boot");
        Net {
            k,
            clock,
            held: Arc::default(),
            cables: AtomicU64::new(0),
            _l: l,
        }
    }

    /// A process in vimage `name`, made unless it is `default`.
    pub fn host(&self, name: &str) -> Host {
        let v = if name == "default" {
            self.k.vimage0().clone()
        } else {
            self.k.vi_create(self.k.vimage0(), name).expect("vi_create")
        };
        Host {
            td: Td {
                pid: 1,
                vimage: v,
                fds: FdTable::default(),
                intr: Arc::new(|| false),
            },
        }
    }

    fn line(&self) -> Arc<Line> {
        let n = self.cables.fetch_add(1, Ordering::Relaxed);
        Arc::new(Line {
            rule: Mutex::new(None),
            loss: AtomicU32::new(0),
            delay: AtomicU64::new(0),
            reorder: Mutex::new((0, 0)),
            rng: Mutex::new(Rng::new(n + 1)),
            sniffing: AtomicBool::new(false),
            sent: Mutex::default(),
            arrived: Mutex::default(),
            lost: AtomicU64::new(0),
            clock: self.clock.clone(),
            held: self.held.clone(),
        })
    }

    fn plug(h: &Host, name: &str, mac: [u8; 6], line: &Arc<Line>, end: End) -> Arc<Ifnet> {
        let v = h.vnet();
        let _cv = CurvnetGuard::set(&v);
        let ifp = Ifnet::new(
            &v,
            name,
            "cable",
            IFT_ETHER,
            IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST,
            1500,
            mac.to_vec(),
            Box::new(CableEnd {
                line: line.clone(),
                end,
                peer: Mutex::new(Weak::new()),
            }),
        );
        if_attach(&ifp).expect("if_attach");
        ifp
    }

    /// Wire `a` and `b`: interface `ia` with MAC `ma` in `a`, `ib` with `mb`
    /// in `b`, on a cable that does nothing to its frames until told to.
    pub fn wire(&self, a: &Host, ia: &str, ma: [u8; 6], b: &Host, ib: &str, mb: [u8; 6]) -> Cable {
        let line = self.line();
        let x = Self::plug(a, ia, ma, &line, End::A);
        let y = Self::plug(b, ib, mb, &line, End::B);
        for (from, to) in [(&x, &y), (&y, &x)] {
            let end = from.driver.as_any().downcast_ref::<CableEnd>().unwrap();
            *end.peer.lock().unwrap() = Arc::downgrade(to);
        }
        Cable { a: x, b: y, line }
    }

    /// An interface `name` with MAC `mac` in `h` on a cable to nowhere: what
    /// it sends is lost.
    pub fn unwired(&self, h: &Host, name: &str, mac: [u8; 6]) -> Arc<Ifnet> {
        Self::plug(h, name, mac, &self.line(), End::A)
    }

    /// Let `ms` milliseconds pass in 1 ms steps: held frames arrive and
    /// timers run as their times come.
    pub fn run(&self, ms: u64) {
        for _ in 0..ms {
            self.advance_ns(MS);
        }
    }

    /// Move the clock on by `ms` milliseconds at once, then deliver what is
    /// due and run the timers: for long waits where what happens in between
    /// does not matter.
    pub fn advance_ms(&self, ms: u64) {
        self.advance_ns(ms * MS);
    }

    fn advance_ns(&self, ns: u64) {
        self.clock.advance(ns);
        self.deliver();
        self.k.softclock();
    }

    /// Hand the held frames whose time has come to their interfaces, in the
    /// order of their times (and of sending, for the same time).
    fn deliver(&self) {
        let now = self.clock.now_ns();
        let mut due: Vec<Held> = {
            let mut q = self.held.lock().unwrap();
            let (due, keep) = std::mem::take(&mut q.frames)
                .into_iter()
                .partition(|f| f.at <= now);
            q.frames = keep;
            due
        };
        due.sort_by_key(|f| (f.at, f.seq));
        let _ns = netisr_enter();
        for f in due {
            // An interface gone meanwhile takes its frames with it.
            if let Some(to) = f.to.upgrade() {
                f.line.arrive(f.end, &to, f.m);
            }
        }
    }

    /// A system call by `h`'s process.
    pub fn call(&self, h: &mut Host, r: Request) -> Result<Reply, Errno> {
        self.k.syscall(&mut h.td, r).result()
    }

    /// `socket(domain, ty, proto)` in `h`.
    pub fn socket(&self, h: &mut Host, domain: i32, ty: i32, proto: i32) -> i32 {
        self.call(h, Request::Socket { domain, ty, proto })
            .expect("socket")
            .val as i32
    }

    /// An interface ioctl on a datagram socket of `domain`, as ifconfig
    /// makes them; the reply's data.
    #[cfg_attr(not(feature = "inet6"), allow(dead_code))]
    pub fn ioctl(
        &self,
        h: &mut Host,
        domain: i32,
        cmd: u32,
        data: Vec<u8>,
    ) -> Result<Vec<u8>, Errno> {
        let fd = self.socket(h, domain, SOCK_DGRAM, 0);
        let r = self
            .call(h, Request::Ioctl { fd, cmd, data })
            .map(|r| r.data);
        let _ = self.call(h, Request::Close { fd });
        r
    }

    /// `ifconfig IF up`.
    #[cfg_attr(not(feature = "inet6"), allow(dead_code))]
    pub fn up(&self, h: &mut Host, ifname: &str) {
        let mut r = IfReq::new(ifname);
        r.set_flags(IFF_UP);
        self.ioctl(h, PF_INET, SIOCSIFFLAGS, r.to_bytes().unwrap())
            .expect("SIOCSIFFLAGS");
    }

    /// Read sysctl `name`, setting it to `new` if given: the old value.
    pub fn sysctl(&self, h: &mut Host, name: &str, new: Option<SysctlValue>) -> SysctlValue {
        let new = new.map(|v| {
            let mut w = Writer::new();
            v.encode(&mut w);
            w.finish()
        });
        let r = self
            .call(
                h,
                Request::Sysctl {
                    name: name.into(),
                    new,
                },
            )
            .expect("sysctl");
        SysctlReply::from_bytes(&r.data).expect("reply").value
    }

    /// Every datagram waiting on `fd`: (data, source address bytes).
    pub fn drain(&self, h: &mut Host, fd: i32) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut v = Vec::new();
        while let Ok(r) = self.call(
            h,
            Request::Recvfrom {
                fd,
                len: 65536,
                flags: MSG_DONTWAIT,
            },
        ) {
            v.push((r.data, r.addr));
        }
        v
    }
}

impl Host {
    /// Its vimage's network stack.
    pub fn vnet(&self) -> Arc<Vnet> {
        self.td.vimage.vnet.clone()
    }

    /// Run `f` in this host's vnet, inside a netisr section (what it queues
    /// runs as `f` returns).
    pub fn with<R>(&self, f: impl FnOnce() -> R) -> R {
        let v = self.vnet();
        let _cv = CurvnetGuard::set(&v);
        let _ns = netisr_enter();
        f()
    }

    /// Its interface `name`.
    pub fn ifp(&self, name: &str) -> Arc<Ifnet> {
        self.with(|| ifunit(name)).expect("interface")
    }

    /// Give `ifp` the address `cidr` ("10.0.0.1/24", "2001:db8::1/64"), an
    /// IPv6 one without duplicate address detection.
    pub fn addr(&self, ifp: &Arc<Ifnet>, cidr: &str) {
        let (a, l) = cidr.split_once('/').expect("address/prefix length");
        let plen: u8 = l.parse().expect("prefix length");
        match a.parse::<IpAddr>().expect("address") {
            IpAddr::V4(a) => self
                .with(|| crate::r#in::in_aifaddr(ifp, a, Some(in_plen2mask(plen)), None))
                .expect("address"),
            #[cfg(not(feature = "inet6"))]
            IpAddr::V6(_) => panic!("an IPv6 address without options INET6"),
            #[cfg(feature = "inet6")]
            IpAddr::V6(addr) => self
                .with(|| {
                    crate::netinet6::in6::in6_update_ifa(
                        ifp,
                        crate::netinet6::in6::In6Ifaddr {
                            addr,
                            plen,
                            dst: None,
                            flags: 0,
                        },
                    )
                })
                .expect("address"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(n: u8) -> [u8; 6] {
        [0x40, 0, 0, 0, 0, n]
    }

    /// eth0 and eth1 of the default vimage (the one stack there is without
    /// VIMAGE too) on one sniffing cable.
    fn looped(n: &Net) -> Cable {
        let h = n.host("default");
        let c = n.wire(&h, "eth0", mac(1), &h, "eth1", mac(2));
        c.sniff();
        c
    }

    /// Send frame number `i` out of `end`: to the broadcast address, of an
    /// ethertype no protocol takes (local experimental, 0x88b5).
    fn send(c: &Cable, end: End, i: u16) {
        let ifp = if end == End::A { &c.a } else { &c.b };
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&ifp.lladdr());
        f.extend_from_slice(&[0x88, 0xb5]);
        f.extend_from_slice(&i.to_be_bytes());
        ifp.transmit(Mbuf::from_vec(f)).unwrap();
    }

    /// The numbers of `frames`.
    fn ids(frames: &[Frame]) -> Vec<u16> {
        frames
            .iter()
            .map(|f| u16::from_be_bytes([f.data[14], f.data[15]]))
            .collect()
    }

    #[test]
    fn a_plain_cable_delivers_every_frame_at_once_and_in_order() {
        let n = Net::boot();
        let c = looped(&n);
        let t0 = n.clock.now_ns();
        for i in 0..10 {
            send(&c, End::A, i);
        }
        send(&c, End::B, 100);
        let got = c.arrived();
        assert_eq!(ids(&got), [(0..10).collect::<Vec<_>>(), vec![100]].concat());
        assert!(got[..10].iter().all(|f| f.end == End::B && f.t == t0));
        assert_eq!(got[10].end, End::A);
        assert_eq!(c.sent().len(), 11);
        // Through if_input: the far ends counted them.
        assert_eq!(c.b.counters.ipackets.load(Ordering::Relaxed), 10);
        assert_eq!(c.a.counters.ipackets.load(Ordering::Relaxed), 1);
        assert_eq!(c.lost(), 0);
    }

    #[test]
    fn the_drop_rule_and_random_loss_take_what_they_should() {
        let n = Net::boot();
        let c = looped(&n);
        c.drop_if(|f| f[15] % 2 == 1);
        for i in 0..10 {
            send(&c, End::A, i);
        }
        assert_eq!(ids(&c.arrived()), [0, 2, 4, 6, 8]);
        c.no_drop();
        c.set_loss(250);
        for i in 0..1000 {
            send(&c, End::B, i);
        }
        let lost = c.lost() - 5;
        assert!((200..300).contains(&lost), "{lost} of 1000 lost");
        let got = ids(&c.arrived()[5..]);
        assert_eq!(got.len() as u64, 1000 - lost);
        assert!(got.windows(2).all(|w| w[0] < w[1]), "order kept");
        // The same seed loses the same frames.
        let first: Vec<u16> = got;
        c.seed(7);
        let before = c.arrived().len();
        for i in 0..1000 {
            send(&c, End::B, i);
        }
        c.seed(7);
        let mid = c.arrived().len();
        for i in 0..1000 {
            send(&c, End::B, i);
        }
        let all = c.arrived();
        assert_eq!(ids(&all[before..mid]), ids(&all[mid..]));
        assert_ne!(ids(&all[before..mid]), first, "another seed, other losses");
    }

    #[test]
    fn a_delaying_cable_holds_frames_for_their_time() {
        let n = Net::boot();
        let c = looped(&n);
        c.set_delay_ms(5);
        let t0 = n.clock.now_ns();
        send(&c, End::A, 1);
        n.run(2);
        send(&c, End::B, 2);
        n.run(2);
        assert!(c.arrived().is_empty());
        n.run(1);
        let got = c.arrived();
        assert_eq!((ids(&got), got[0].t - t0), (vec![1], 5 * MS));
        n.run(1);
        assert_eq!(ids(&c.arrived()), [1]);
        n.run(1);
        let got = c.arrived();
        assert_eq!((ids(&got), got[1].t - t0), (vec![1, 2], 7 * MS));
        assert_eq!(got[1].end, End::A);
        // A jump of the clock delivers all that came due meanwhile, in order.
        for i in 3..6 {
            send(&c, End::A, i);
        }
        n.advance_ms(60);
        assert_eq!(ids(&c.arrived()), [1, 2, 3, 4, 5]);
    }

    #[test]
    fn a_reordering_cable_lets_frames_overtake_and_loses_none() {
        let n = Net::boot();
        let c = looped(&n);
        c.set_delay_ms(1);
        c.set_reorder(300, 3);
        for i in 0..200 {
            send(&c, End::A, i);
            n.run(1);
        }
        n.run(10);
        let got = ids(&c.arrived());
        let mut sorted = got.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..200).collect::<Vec<_>>(), "every frame, once");
        let late = got.windows(2).filter(|w| w[0] > w[1]).count();
        assert!((30..=90).contains(&late), "{late} overtaken");
        // A held frame comes 1 + 3 ms after it left, the others after 1.
        let sent = c.sent();
        for f in c.arrived() {
            let s = sent.iter().find(|s| s.data == f.data).unwrap();
            assert!([MS, 4 * MS].contains(&(f.t - s.t)));
        }
    }

    #[test]
    fn each_cable_has_its_own_settings() {
        let n = Net::boot();
        let h = n.host("default");
        let x = n.wire(&h, "eth0", mac(1), &h, "eth1", mac(2));
        let y = n.wire(&h, "eth2", mac(3), &h, "eth3", mac(4));
        x.sniff();
        y.sniff();
        x.set_delay_ms(10);
        y.drop_if(|_| true);
        send(&x, End::A, 1);
        send(&y, End::A, 1);
        assert!(x.arrived().is_empty() && y.arrived().is_empty());
        assert_eq!((x.lost(), y.lost()), (0, 1));
        n.run(10);
        assert_eq!(ids(&x.arrived()), [1]);
        assert!(y.arrived().is_empty());
        let lone = n.unwired(&h, "eth4", mac(5));
        lone.transmit(Mbuf::from_slice(&[0; 60])).unwrap();
    }

    /// A UDP datagram to a neighbour not yet resolved crosses a 10 ms cable
    /// three times: ARP request, ARP reply, the datagram.
    #[cfg(feature = "vimage")]
    #[test]
    fn a_datagram_over_a_delaying_cable_waits_for_arp_on_it() {
        use vimage_abi::netinet_in::SockaddrIn;
        let n = Net::boot();
        let mut a = n.host("a");
        let mut b = n.host("b");
        let c = n.wire(&a, "eth0", mac(1), &b, "eth0", mac(2));
        a.addr(&c.a, "10.0.0.1/24");
        b.addr(&c.b, "10.0.0.2/24");
        c.set_delay_ms(10);
        n.run(20);
        let sin = |s: &str, port| {
            SockaddrIn::new(s.parse().unwrap(), port)
                .to_bytes()
                .to_vec()
        };
        let rx = n.socket(&mut b, PF_INET, SOCK_DGRAM, 0);
        n.call(
            &mut b,
            Request::Bind {
                fd: rx,
                addr: sin("0.0.0.0", 9),
            },
        )
        .unwrap();
        let tx = n.socket(&mut a, PF_INET, SOCK_DGRAM, 0);
        n.call(
            &mut a,
            Request::Sendto {
                fd: tx,
                flags: 0,
                addr: Some(sin("10.0.0.2", 9)),
                data: b"late".to_vec(),
            },
        )
        .unwrap();
        n.run(29);
        assert!(n.drain(&mut b, rx).is_empty());
        n.run(1);
        let got = n.drain(&mut b, rx);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, b"late");
    }
}
