//! The firewall on a kernel booted on fake time: rule numbering and order,
//! evaluation (actions, or-blocks, negation, interfaces, TCP flags, ICMP
//! types, dynamic rules and their lifetimes), the control options through a
//! raw socket, and one chain per vnet.

use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use vimage_abi::ip_fw::*;
use vimage_abi::netinet_in::{IPPROTO_IP, IPPROTO_RAW, PF_INET, SOCK_RAW};
use vimage_abi::syscall::Request;
use vimage_abi::Errno;
use vimage_inet::raw_ip::{SockOpt, SoptDir};
use vimage_kern::kern_conf::KernConf;
use vimage_kern::kern_linker::KldModule;
use vimage_kern::kern_proc::FakeHost;
use vimage_kern::kern_random::SeededRandom;
use vimage_kern::kern_syscall::{test_lock, Kernel, KernelConfig, Td, TestGuard};
use vimage_kern::kern_timeout::FakeClock;
use vimage_kern::uipc_socket::FdTable;
use vimage_kern::vnet::{CurvnetGuard, Vnet};
use vimage_net::if_var::{IfDriver, Ifnet};
use vimage_net::mbuf::Mbuf;
use vimage_net::pfil::PfilDir;

use crate::ip_fw2::{fnmatch, ipfw_chk, FwVerdict, Pkt, VnetIpfw, VNET_IPFW};
use crate::ip_fw_sockopt::ipfw_ctl;
use crate::IpfwModule;

static CONF: KernConf = KernConf {
    name: "IPFWTEST",
    options: &[
        &vimage_net::OPT_NET,
        &vimage_inet::OPT_INET,
        #[cfg(feature = "inet6")]
        &vimage_inet::OPT_INET6,
    ],
};

struct Nop;
impl IfDriver for Nop {
    fn transmit(&self, _: &Arc<Ifnet>, _: Mbuf) -> Result<(), Errno> {
        Ok(())
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A booted kernel with ipfw loaded, curvnet set to vnet0, and an interface
/// `e0` there.
struct Fw {
    k: Arc<Kernel>,
    clock: Arc<FakeClock>,
    e0: Arc<Ifnet>,
    _cv: CurvnetGuard,
    _l: TestGuard,
}

impl Fw {
    fn boot() -> Fw {
        let l = test_lock();
        let clock = Arc::new(FakeClock::new(1_000_000_000));
        let k = Kernel::boot_conf(
            KernelConfig {
                host: Arc::new(FakeHost::default()),
                ident: "VIMAGE".into(),
                version: "test".into(),
                clock: clock.clone(),
                random: SeededRandom::arc(1),
            },
            &CONF,
        )
        .expect("boot");
        IpfwModule.load(&k).expect("kldload ipfw");
        let v = k.vimage0().vnet.clone();
        let cv = CurvnetGuard::set(&v);
        let e0 = Ifnet::new(
            &v,
            "e0",
            "e",
            6,
            0,
            1500,
            vec![2, 0, 0, 0, 0, 1],
            Box::new(Nop),
        );
        vimage_net::r#if::if_attach(&e0).expect("if_attach");
        Fw {
            k,
            clock,
            e0,
            _cv: cv,
            _l: l,
        }
    }
    fn vnet(&self) -> Arc<Vnet> {
        self.k.vimage0().vnet.clone()
    }
    fn st(&self) -> Arc<VnetIpfw> {
        self.vnet()
            .state::<VnetIpfw>(vimage_kern::vnet::VNET_MOD_IPFW)
            .expect("ipfw attached")
    }
    fn ctl(&self, name: i32, val: &[u8]) -> Result<Vec<u8>, Errno> {
        ipfw_ctl(&SockOpt {
            dir: SoptDir::Get,
            name,
            val,
        })
    }
    fn add(&self, r: IpFwRule) -> IpFwRule {
        let b = self
            .ctl(IP_FW_ADD, &r.to_bytes().unwrap())
            .expect("IP_FW_ADD");
        IpFwRule::from_bytes(&b).unwrap()
    }
    fn get(&self) -> IpFwGet {
        IpFwGet::from_bytes(&self.ctl(IP_FW_GET, &[]).unwrap()).unwrap()
    }
    fn nums(&self) -> Vec<u16> {
        self.get().rules.iter().map(|r| r.rulenum).collect()
    }
    fn chk(&self, pkt: &[u8], dir: PfilDir) -> FwVerdict {
        ipfw_chk(&self.st(), pkt, false, dir, &self.e0)
    }
    fn counts(&self, n: u16) -> (u64, u64) {
        let r = self
            .get()
            .rules
            .into_iter()
            .find(|r| r.rulenum == n)
            .unwrap();
        (r.pcnt, r.bcnt)
    }
}

impl Drop for Fw {
    fn drop(&mut self) {
        self.k.shutdown();
    }
}

fn rule(n: u16, cmd: Vec<Insn>, action: Cmd) -> IpFwRule {
    IpFwRule {
        rulenum: n,
        cmd,
        act: vec![Insn::new(action)],
        ..IpFwRule::default()
    }
}

fn i(c: Cmd) -> Insn {
    Insn::new(c)
}

fn not(c: Cmd) -> Insn {
    Insn {
        cmd: c,
        not: true,
        or: false,
    }
}

fn or(c: Cmd) -> Insn {
    Insn {
        cmd: c,
        not: false,
        or: true,
    }
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// An IPv4 datagram of `proto` from `src` to `dst` around `payload`.
fn ip4(proto: u8, src: &str, dst: &str, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0];
    let len = (20 + payload.len()) as u16;
    b[2..4].copy_from_slice(&len.to_be_bytes());
    b.extend_from_slice(&ip(src).octets());
    b.extend_from_slice(&ip(dst).octets());
    b.extend_from_slice(payload);
    b
}

fn tcp(src: &str, sport: u16, dst: &str, dport: u16, flags: u8) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[8..12].copy_from_slice(&7u32.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = flags;
    ip4(6, src, dst, &t)
}

fn udp(src: &str, sport: u16, dst: &str, dport: u16) -> Vec<u8> {
    let mut u = vec![0u8; 8];
    u[0..2].copy_from_slice(&sport.to_be_bytes());
    u[2..4].copy_from_slice(&dport.to_be_bytes());
    ip4(17, src, dst, &u)
}

fn icmp(src: &str, dst: &str, ty: u8) -> Vec<u8> {
    ip4(1, src, dst, &[ty, 0, 0, 0, 0, 0, 0, 0])
}

use FwVerdict::{Deny, Pass};
use PfilDir::{In, Out};

#[test]
fn loading_gives_every_vnet_the_default_rule_alone() {
    let fw = Fw::boot();
    let g = fw.get();
    assert_eq!(g.rules.len(), 1);
    let d = &g.rules[0];
    assert_eq!((d.rulenum, d.set), (IPFW_DEFAULT_RULE, RESVD_SET));
    assert_eq!(d.action(), Some(&Cmd::Deny));
    assert!(d.cmd.is_empty());
    // It denies everything, in and out, and counts it.
    let p = icmp("10.0.1.10", "10.0.1.11", 8);
    assert_eq!(fw.chk(&p, Out), Deny);
    assert_eq!(fw.chk(&udp("1.1.1.1", 5, "2.2.2.2", 53), In), Deny);
    assert_eq!(fw.counts(IPFW_DEFAULT_RULE), (2, p.len() as u64 + 28));
    // The default rule can be neither added again nor deleted.
    let again = rule(IPFW_DEFAULT_RULE, vec![], Cmd::Accept);
    assert_eq!(
        fw.ctl(IP_FW_ADD, &again.to_bytes().unwrap()),
        Err(Errno::EINVAL)
    );
    let del = IpFwDel::Cmd(u32::from(IPFW_DEFAULT_RULE)).to_bytes();
    assert_eq!(fw.ctl(IP_FW_DEL, &del), Err(Errno::EINVAL));
    // Its sysctls are there, per vnet.
    let st = fw.st();
    assert_eq!(st.fw_enable.load(Ordering::Relaxed), 1);
    assert_eq!(st.static_count(), 1);
}

#[test]
fn numbering_autoincrement_and_same_number_order() {
    let fw = Fw::boot();
    // Without a number: the highest so far plus the step (100).
    assert_eq!(fw.add(rule(0, vec![], Cmd::Count)).rulenum, 100);
    assert_eq!(fw.add(rule(0, vec![], Cmd::Count)).rulenum, 200);
    assert_eq!(fw.add(rule(150, vec![], Cmd::Count)).rulenum, 150);
    // Same number: after the ones already there.
    let a = fw.add(rule(150, vec![i(Cmd::Proto(6))], Cmd::Deny));
    assert_eq!(a.rulenum, 150);
    let g = fw.get();
    assert_eq!(fw.nums(), [100, 150, 150, 200, 65535]);
    assert_eq!(g.rules[2].cmd, vec![i(Cmd::Proto(6))]);
    fw.st().autoinc_step.store(5, Ordering::Relaxed);
    assert_eq!(fw.add(rule(0, vec![], Cmd::Count)).rulenum, 205);
    // The step clamps to 1000; near the default rule the number repeats.
    fw.st().autoinc_step.store(50_000, Ordering::Relaxed);
    assert_eq!(fw.add(rule(0, vec![], Cmd::Count)).rulenum, 1205);
    fw.add(rule(65000, vec![], Cmd::Count));
    assert_eq!(fw.add(rule(0, vec![], Cmd::Count)).rulenum, 65000);
    assert_eq!(fw.st().static_count(), 9);
}

#[test]
fn count_skipto_and_the_first_decision() {
    let fw = Fw::boot();
    fw.add(rule(100, vec![], Cmd::Count));
    fw.add(rule(200, vec![i(Cmd::Proto(1))], Cmd::Skipto(400)));
    fw.add(rule(300, vec![], Cmd::Deny));
    fw.add(rule(
        400,
        vec![
            i(Cmd::Proto(1)),
            i(Cmd::IpSrcMask(vec![(ip("10.0.0.0"), ip("255.255.255.0"))])),
            i(Cmd::IcmpTypes(1 << 8)),
        ],
        Cmd::Accept,
    ));
    let echo = icmp("10.0.0.5", "10.0.0.1", 8);
    assert_eq!(fw.chk(&echo, In), Pass);
    // Another type skips past 300 too, but 400 does not take it.
    assert_eq!(fw.chk(&icmp("10.0.0.5", "10.0.0.1", 0), In), Deny);
    // Not ICMP: counted, then denied by 300.
    assert_eq!(fw.chk(&tcp("10.0.0.5", 1, "10.0.0.1", 2, TH_SYN), In), Deny);
    assert_eq!(fw.counts(100).0, 3);
    assert_eq!(fw.counts(200).0, 2);
    assert_eq!(fw.counts(300).0, 1);
    assert_eq!(fw.counts(400), (1, echo.len() as u64));
    assert_eq!(fw.counts(IPFW_DEFAULT_RULE).0, 1);
    // A skipto backwards goes on at the next rule.
    fw.add(rule(50, vec![], Cmd::Skipto(10)));
    assert_eq!(fw.chk(&echo, In), Pass);
    assert_eq!(fw.counts(100).0, 4);
}

#[test]
fn or_blocks_negation_ports_and_addresses() {
    let fw = Fw::boot();
    // allow udp from { 1.1.1.1 or 2.2.2.0/24 } to not 3.3.3.3 53,1000-2000
    fw.add(rule(
        100,
        vec![
            i(Cmd::Proto(17)),
            or(Cmd::IpSrc(ip("1.1.1.1"))),
            i(Cmd::IpSrcMask(vec![(ip("2.2.2.0"), ip("255.255.255.0"))])),
            not(Cmd::IpDst(ip("3.3.3.3"))),
            i(Cmd::DstPort(vec![(53, 53), (1000, 2000)])),
        ],
        Cmd::Accept,
    ));
    let ok = [
        udp("1.1.1.1", 9, "4.4.4.4", 53),
        udp("2.2.2.77", 9, "4.4.4.4", 1500),
    ];
    for p in ok {
        assert_eq!(fw.chk(&p, In), Pass);
    }
    let bad = [
        udp("1.1.1.2", 9, "4.4.4.4", 53),
        udp("1.1.1.1", 9, "3.3.3.3", 53),
        udp("1.1.1.1", 9, "4.4.4.4", 54),
        tcp("1.1.1.1", 9, "4.4.4.4", 53, TH_SYN),
    ];
    for p in bad {
        assert_eq!(fw.chk(&p, In), Deny);
    }
    // A fragment past the first carries no ports: a port rule misses it,
    // `frag` takes it.
    let mut frag = udp("1.1.1.1", 9, "4.4.4.4", 53);
    frag[6..8].copy_from_slice(&3u16.to_be_bytes());
    assert_eq!(fw.chk(&frag, In), Deny);
    fw.add(rule(200, vec![i(Cmd::Frag)], Cmd::Accept));
    assert_eq!(fw.chk(&frag, In), Pass);
    // ip4/ip6.
    fw.add(rule(300, vec![i(Cmd::Ip6)], Cmd::Accept));
    assert_eq!(fw.chk(&icmp("9.9.9.9", "8.8.8.8", 8), In), Deny);
    fw.add(rule(300, vec![i(Cmd::Ip4)], Cmd::Accept));
    assert_eq!(fw.chk(&icmp("9.9.9.9", "8.8.8.8", 8), In), Pass);
}

#[test]
fn directions_and_interfaces() {
    let fw = Fw::boot();
    fw.add(rule(
        100,
        vec![
            i(Cmd::In),
            i(Cmd::Recv(IfSpec::Name {
                name: "e0".into(),
                glob: false,
            })),
        ],
        Cmd::Accept,
    ));
    fw.add(rule(
        200,
        vec![
            not(Cmd::In),
            i(Cmd::Xmit(IfSpec::Name {
                name: "e[0-3]".into(),
                glob: true,
            })),
            i(Cmd::Proto(17)),
        ],
        Cmd::Accept,
    ));
    fw.add(rule(
        300,
        vec![i(Cmd::Via(IfSpec::Name {
            name: "x*".into(),
            glob: true,
        }))],
        Cmd::Accept,
    ));
    let p = icmp("1.1.1.1", "2.2.2.2", 8);
    assert_eq!(fw.chk(&p, In), Pass);
    assert_eq!(fw.chk(&p, Out), Deny);
    assert_eq!(fw.chk(&udp("1.1.1.1", 1, "2.2.2.2", 2), Out), Pass);
    // recv never matches going out, xmit never coming in.
    assert_eq!(fw.counts(100).0, 1);
    assert_eq!(fw.counts(200).0, 1);
}

#[test]
fn tcp_flags_established_and_setup() {
    let fw = Fw::boot();
    fw.add(rule(
        100,
        vec![i(Cmd::Proto(6)), i(Cmd::Estab)],
        Cmd::Accept,
    ));
    fw.add(rule(
        200,
        vec![
            i(Cmd::Proto(6)),
            i(Cmd::TcpFlags {
                set: TH_SYN,
                clear: TH_ACK,
            }),
            i(Cmd::DstPort(vec![(22, 22)])),
        ],
        Cmd::Accept,
    ));
    let seg = |f: u8, port: u16| tcp("1.1.1.1", 999, "2.2.2.2", port, f);
    assert_eq!(fw.chk(&seg(TH_ACK, 80), In), Pass);
    assert_eq!(fw.chk(&seg(TH_SYN | TH_ACK, 80), In), Pass);
    assert_eq!(fw.chk(&seg(TH_RST, 80), In), Pass);
    assert_eq!(fw.chk(&seg(TH_SYN, 80), In), Deny);
    assert_eq!(fw.chk(&seg(TH_SYN, 22), In), Pass);
    assert_eq!(fw.chk(&seg(TH_SYN | TH_FIN, 22), In), Pass);
    // A TCP header cut short is denied whatever the rules say.
    fw.add(rule(50, vec![], Cmd::Accept));
    let short = ip4(6, "1.1.1.1", "2.2.2.2", &[0; 10]);
    assert_eq!(fw.chk(&short, In), Deny);
}

#[test]
fn keep_state_lets_the_flow_back_and_expires() {
    let fw = Fw::boot();
    fw.add(rule(100, vec![], Cmd::CheckState));
    fw.add(rule(
        200,
        vec![
            i(Cmd::ProbeState),
            i(Cmd::Proto(6)),
            i(Cmd::IpSrc(ip("10.0.1.10"))),
            i(Cmd::TcpFlags {
                set: TH_SYN,
                clear: TH_ACK,
            }),
            i(Cmd::KeepState),
        ],
        Cmd::Accept,
    ));
    let out = |f| tcp("10.0.1.10", 1234, "10.0.1.11", 22, f);
    let back = |f| tcp("10.0.1.11", 22, "10.0.1.10", 1234, f);
    // The reply of a flow nobody opened is denied.
    assert_eq!(fw.chk(&back(TH_SYN | TH_ACK), In), Deny);
    assert_eq!(fw.chk(&out(TH_SYN), Out), Pass);
    assert_eq!(fw.st().dyn_count(), 1);
    assert_eq!(fw.chk(&back(TH_SYN | TH_ACK), In), Pass);
    assert_eq!(fw.chk(&out(TH_ACK), Out), Pass);
    // The flow's packets are counted on the rule that made it, and on the
    // dynamic rule from the second on.
    assert_eq!(fw.counts(200).0, 3);
    assert_eq!(fw.counts(100).0, 0);
    let g = fw.get();
    assert_eq!(g.dyn_rules.len(), 1);
    let d = &g.dyn_rules[0];
    assert_eq!((d.rulenum, d.proto, d.pcnt), (200, 6, 2));
    assert_eq!(d.src, (ip("10.0.1.10").into(), 1234));
    assert_eq!(d.dst, (ip("10.0.1.11").into(), 22));
    // Established: 300 s.
    assert_eq!(d.expire, 300);
    // Another port is another flow.
    assert_eq!(
        fw.chk(&tcp("10.0.1.11", 23, "10.0.1.10", 1234, TH_ACK), In),
        Deny
    );
    // Idle past its lifetime, the flow is gone.
    fw.clock.advance(301_000_000_000);
    assert_eq!(fw.chk(&back(TH_ACK), In), Deny);
    assert_eq!(fw.st().dyn_count(), 0);
    // Deleting the rule takes its flows with it; a full table denies.
    assert_eq!(fw.chk(&out(TH_SYN), Out), Pass);
    assert_eq!(fw.st().dyn_count(), 1);
    fw.ctl(IP_FW_DEL, &IpFwDel::Cmd(200).to_bytes()).unwrap();
    assert_eq!(fw.st().dyn_count(), 0);
    fw.add(rule(
        200,
        vec![i(Cmd::ProbeState), i(Cmd::Proto(6)), i(Cmd::KeepState)],
        Cmd::Accept,
    ));
    fw.st().dyn_max.store(1, Ordering::Relaxed);
    assert_eq!(fw.chk(&out(TH_SYN), Out), Pass);
    assert_eq!(
        fw.chk(&tcp("10.0.1.10", 1, "10.0.1.11", 2, TH_SYN), Out),
        Deny
    );
}

#[test]
fn delete_sets_flush_and_zero() {
    let fw = Fw::boot();
    let in_set = |n, s| IpFwRule {
        set: s,
        ..rule(n, vec![], Cmd::Count)
    };
    fw.add(in_set(100, 1));
    fw.add(in_set(200, 2));
    fw.add(in_set(200, 3));
    fw.add(in_set(300, 3));
    let del = |a: u32| fw.ctl(IP_FW_DEL, &IpFwDel::Cmd(a).to_bytes());
    // No such rule; bad command; bad set.
    assert_eq!(del(150), Err(Errno::EINVAL));
    assert_eq!(del(6 << 24), Err(Errno::EINVAL));
    assert_eq!(del((1 << 24) | 32), Err(Errno::EINVAL));
    // Delete rule 200 of set 3 only.
    del((5 << 24) | (3 << 16) | 200).unwrap();
    assert_eq!(fw.nums(), [100, 200, 300, 65535]);
    // Move rule 100 to set 3, swap 2 and 3, disable 3.
    del((2 << 24) | (3 << 16) | 100).unwrap();
    del((4 << 24) | (3 << 16) | 2).unwrap();
    let sets: Vec<u8> = fw.get().rules.iter().map(|r| r.set).collect();
    assert_eq!(sets, [2, 3, 2, RESVD_SET]);
    fw.ctl(IP_FW_DEL, &IpFwDel::Sets(1 << 2, 0).to_bytes())
        .unwrap();
    assert_eq!(fw.get().set_disable, 1 << 2);
    let p = icmp("1.1.1.1", "2.2.2.2", 8);
    fw.chk(&p, In);
    assert_eq!(fw.counts(100).0, 0, "set 2 is disabled");
    assert_eq!(fw.counts(200).0, 1);
    // The reserved set cannot be disabled.
    fw.ctl(IP_FW_DEL, &IpFwDel::Sets(1 << 31, 1 << 2).to_bytes())
        .unwrap();
    assert_eq!(fw.get().set_disable, 0);
    fw.chk(&p, In);
    assert_eq!(fw.counts(100).0, 1);
    // Zero one number, then everything; an absent number is EINVAL.
    fw.ctl(IP_FW_ZERO, &200u32.to_le_bytes()).unwrap();
    assert_eq!(fw.counts(200), (0, 0));
    assert_eq!(fw.counts(100).0, 1);
    assert_eq!(fw.ctl(IP_FW_ZERO, &7u32.to_le_bytes()), Err(Errno::EINVAL));
    fw.ctl(IP_FW_ZERO, &[]).unwrap();
    assert_eq!(fw.counts(IPFW_DEFAULT_RULE), (0, 0));
    assert_eq!(fw.get().rules[0].timestamp, 0);
    // Delete set 3, then flush: the default rule stays.
    del((1 << 24) | 3).unwrap();
    assert_eq!(fw.nums(), [100, 300, 65535]);
    fw.ctl(IP_FW_FLUSH, &[]).unwrap();
    assert_eq!(fw.nums(), [65535]);
    // Resetlog gives a log rule its allowance back.
    let mut r = rule(100, vec![], Cmd::Count);
    r.act.insert(
        0,
        i(Cmd::Log {
            max_log: 2,
            log_left: 0,
        }),
    );
    let stored = fw.add(r);
    assert_eq!(
        stored.log(),
        Some(&i(Cmd::Log {
            max_log: 2,
            log_left: 2
        }))
    );
    fw.st().verbose.store(1, Ordering::Relaxed);
    fw.chk(&p, In);
    fw.chk(&p, In);
    fw.chk(&p, In);
    let left = |fw: &Fw| fw.get().rules[0].log().cloned();
    assert_eq!(
        left(&fw),
        Some(i(Cmd::Log {
            max_log: 2,
            log_left: 0
        }))
    );
    fw.ctl(IP_FW_RESETLOG, &[]).unwrap();
    assert_eq!(
        left(&fw),
        Some(i(Cmd::Log {
            max_log: 2,
            log_left: 2
        }))
    );
    assert_eq!(fw.counts(100).0, 3, "resetlog keeps the counters");
}

#[test]
fn the_control_path_refuses_what_is_malformed() {
    let fw = Fw::boot();
    let ok = rule(100, vec![], Cmd::Accept).to_bytes().unwrap();
    for bad in [
        &ok[..ok.len() - 1],
        &[0u8; 3][..],
        &vec![0u8; IPFW_RULE_MAXSIZE + 4][..],
    ] {
        assert_eq!(fw.ctl(IP_FW_ADD, bad), Err(Errno::EINVAL));
    }
    assert_eq!(fw.ctl(IP_FW_DEL, &[1, 2, 3]), Err(Errno::EINVAL));
    assert_eq!(fw.ctl(IP_FW_ZERO, &[1]), Err(Errno::EINVAL));
    assert_eq!(fw.ctl(99, &[]), Err(Errno::EINVAL));
    assert_eq!(fw.ctl(IP_FW_TABLE_LIST, &[]), Err(Errno::EINVAL));
    assert_eq!(
        fw.ctl(IP_FW_TABLE_FLUSH, &200u16.to_le_bytes()),
        Err(Errno::EINVAL)
    );
    // The vnet's budget: ENOSPC past it, and the chain is unchanged.
    let big = rule(100, vec![i(Cmd::DstPort(vec![(1, 1); 60])); 4], Cmd::Deny);
    let n = crate::ip_fw2::IPFW_STATIC_BUDGET / big.size();
    for _ in 0..n {
        fw.add(big.clone());
    }
    assert_eq!(
        fw.ctl(IP_FW_ADD, &big.to_bytes().unwrap()),
        Err(Errno::ENOSPC)
    );
    assert_eq!(fw.get().rules.len(), n + 1);
    // The whole chain still fits in a reply.
    assert!(fw.ctl(IP_FW_GET, &[]).unwrap().len() < vimage_abi::wire::MAX_FRAME / 2);
}

/// The options go through a raw socket of the door: ENOPROTOOPT until ipfw
/// is loaded, then the rule as stored; unloaded, the hooks are gone.
#[test]
fn the_raw_socket_options_and_unloading() {
    let fw = Fw::boot();
    let mut td = Td {
        pid: 1,
        vimage: fw.k.vimage0().clone(),
        fds: FdTable::default(),
        intr: Arc::new(|| false),
    };
    let fd =
        fw.k.syscall(
            &mut td,
            Request::Socket {
                domain: PF_INET,
                ty: SOCK_RAW,
                proto: IPPROTO_RAW,
            },
        )
        .result()
        .unwrap()
        .val as i32;
    let get = |k: &Arc<Kernel>, td: &mut Td, name, val: Vec<u8>| {
        k.syscall(
            td,
            Request::Getsockopt {
                fd,
                level: IPPROTO_IP,
                name,
                val,
            },
        )
        .result()
        .map(|r| r.data)
    };
    let r = rule(0, vec![i(Cmd::Proto(1))], Cmd::Accept);
    let b = get(&fw.k, &mut td, IP_FW_ADD, r.to_bytes().unwrap()).unwrap();
    assert_eq!(IpFwRule::from_bytes(&b).unwrap().rulenum, 100);
    let set = |k: &Arc<Kernel>, td: &mut Td, name, val: Vec<u8>| {
        k.syscall(
            td,
            Request::Setsockopt {
                fd,
                level: IPPROTO_IP,
                name,
                val,
            },
        )
        .result()
        .map(drop)
    };
    set(&fw.k, &mut td, IP_FW_DEL, IpFwDel::Cmd(100).to_bytes()).unwrap();
    assert_eq!(
        set(&fw.k, &mut td, IP_FW_DEL, IpFwDel::Cmd(100).to_bytes()),
        Err(Errno::EINVAL)
    );
    IpfwModule.unload(&fw.k).unwrap();
    assert_eq!(
        get(&fw.k, &mut td, IP_FW_GET, Vec::new()),
        Err(Errno::ENOPROTOOPT)
    );
    assert!(!vimage_net::r#if::VNET_NET.with(|n| n.pfil.inet.hooked()));
    assert!(VNET_IPFW.try_with(|_| ()).is_none());
    assert!(fw
        .k
        .sysctl
        .next("net.inet.ip.fw")
        .is_none_or(|n| !n.starts_with("net.inet.ip.fw")));
    IpfwModule.load(&fw.k).unwrap();
    assert!(get(&fw.k, &mut td, IP_FW_GET, Vec::new()).is_ok());
    fw.k.syscall(&mut td, Request::Close { fd });
}

/// Each vnet has its own chain: a rule added in one is not in another, and
/// a vnet made after loading starts with the default rule alone.
#[cfg(feature = "vimage")]
#[test]
fn one_chain_per_vnet() {
    let fw = Fw::boot();
    fw.add(rule(100, vec![], Cmd::Accept));
    let n1 = fw.k.vi_create(fw.k.vimage0(), "n1").unwrap();
    let theirs = n1
        .vnet
        .state::<VnetIpfw>(vimage_kern::vnet::VNET_MOD_IPFW)
        .expect("attached to a vnet made later");
    assert_eq!(theirs.static_count(), 1);
    {
        let _cv = CurvnetGuard::set(&n1.vnet);
        let g = IpFwGet::from_bytes(&fw.ctl(IP_FW_GET, &[]).unwrap()).unwrap();
        assert_eq!(g.rules.len(), 1);
        fw.add(rule(300, vec![], Cmd::Count));
        assert_eq!(theirs.static_count(), 2);
    }
    assert_eq!(fw.nums(), [100, 65535]);
}

#[test]
fn interface_patterns() {
    assert!(fnmatch("e*", "eth0"));
    assert!(fnmatch("eth?", "eth0"));
    assert!(!fnmatch("eth?", "eth10"));
    assert!(fnmatch("*0", "ngeth0"));
    assert!(fnmatch("e[a-z]h[!1]", "eth0"));
    assert!(!fnmatch("e[a-z]h[!0]", "eth0"));
    assert!(fnmatch("a\\*", "a*"));
    assert!(!fnmatch("a\\*", "ab"));
    assert!(fnmatch("*", ""));
    assert!(!fnmatch("x", ""));
    assert!(fnmatch("*a*b*c", "xxaybzc"));
}

#[test]
fn log_lines_read_as_freebsds() {
    let p = icmp("10.0.1.10", "10.0.1.11", 8);
    let pk = Pkt::parse(&p, false).unwrap();
    assert_eq!(
        crate::ip_fw_log::log_line(100, &Cmd::Deny, &pk, Out, "e0"),
        "ipfw: 100 Deny ICMP:8.0 10.0.1.10 10.0.1.11 out via e0"
    );
    let t = tcp("10.0.1.10", 1234, "10.0.1.11", 22, TH_SYN);
    let pk = Pkt::parse(&t, false).unwrap();
    assert_eq!(
        crate::ip_fw_log::log_line(300, &Cmd::Accept, &pk, In, "e0"),
        "ipfw: 300 Accept TCP 10.0.1.10:1234 10.0.1.11:22 in via e0"
    );
    assert_eq!(
        crate::ip_fw_log::log_line(5, &Cmd::Reject(3), &pk, In, "e0"),
        "ipfw: 5 Unreach 3 TCP 10.0.1.10:1234 10.0.1.11:22 in via e0"
    );
}

#[test]
fn lookup_tables() {
    let fw = Fw::boot();
    let entry = |a: &str, len: u8, value: u32| IpFwTableEntry {
        tbl: 2,
        addr: ip(a),
        masklen: len,
        value,
    };
    fw.ctl(IP_FW_TABLE_ADD, &entry("10.0.0.0", 8, 1).to_bytes())
        .unwrap();
    fw.ctl(IP_FW_TABLE_ADD, &entry("10.1.0.0", 16, 7).to_bytes())
        .unwrap();
    assert_eq!(
        fw.ctl(IP_FW_TABLE_ADD, &entry("10.1.0.0", 16, 7).to_bytes()),
        Err(Errno::EEXIST)
    );
    assert_eq!(
        fw.ctl(IP_FW_TABLE_GETSIZE, &2u16.to_le_bytes()),
        Ok(2u32.to_le_bytes().to_vec())
    );
    let l = ipfw_table_list(&fw.ctl(IP_FW_TABLE_LIST, &2u16.to_le_bytes()).unwrap()).unwrap();
    assert_eq!(l, vec![entry("10.0.0.0", 8, 1), entry("10.1.0.0", 16, 7)]);
    // allow ip from table(2,7) to any; deny ip from not table(2) to any.
    fw.add(rule(
        100,
        vec![i(Cmd::IpSrcLookup {
            table: 2,
            value: Some(7),
        })],
        Cmd::Accept,
    ));
    fw.add(rule(
        200,
        vec![not(Cmd::IpSrcLookup {
            table: 2,
            value: None,
        })],
        Cmd::Deny,
    ));
    fw.add(rule(300, vec![], Cmd::Accept));
    assert_eq!(fw.chk(&icmp("10.1.2.3", "1.1.1.1", 8), In), Pass);
    assert_eq!(fw.chk(&icmp("10.2.2.3", "1.1.1.1", 8), In), Pass);
    assert_eq!(fw.counts(300).0, 1);
    assert_eq!(fw.chk(&icmp("11.2.2.3", "1.1.1.1", 8), In), Deny);
    fw.ctl(IP_FW_TABLE_DEL, &entry("10.1.0.0", 16, 0).to_bytes())
        .unwrap();
    assert_eq!(
        fw.ctl(IP_FW_TABLE_DEL, &entry("10.1.0.0", 16, 0).to_bytes()),
        Err(Errno::ESRCH)
    );
    fw.ctl(IP_FW_TABLE_FLUSH, &2u16.to_le_bytes()).unwrap();
    assert_eq!(fw.chk(&icmp("10.1.2.3", "1.1.1.1", 8), In), Deny);
}

/// An Ethernet frame from `src` to `dst` of ethertype `et` around `body`.
fn frame(dst: [u8; 6], src: [u8; 6], et: u16, body: &[u8]) -> Vec<u8> {
    let mut f = [dst, src].concat();
    f.extend_from_slice(&et.to_be_bytes());
    f.extend_from_slice(body);
    f
}

const BCAST: [u8; 6] = [0xff; 6];
const PEER: [u8; 6] = [2, 0, 0, 0, 0, 9];
const E0: [u8; 6] = [2, 0, 0, 0, 0, 1];

#[test]
fn layer2_rules_see_frames_with_their_mac_header() {
    use crate::ip_fw2::ipfw_chk_frame;
    let fw = Fw::boot();
    let st = fw.st();
    let l2 = |f: &[u8], d| ipfw_chk_frame(&st, f, d, &fw.e0);
    let arp = frame(BCAST, PEER, 0x0806, &[0u8; 28]);
    let ping = frame(E0, PEER, 0x0800, &icmp("10.0.1.9", "10.0.1.1", 8));
    // Only the default rule: everything is denied, ARP included (why
    // FreeBSD's handbook warns before net.link.ether.ipfw=1).
    assert_eq!(l2(&arp, In), Deny);
    // IP-level tests never match a frame without IP: `deny udp` and
    // `from 0.0.0.0/0` leave ARP alone; `ip from any to any` (no test at
    // all) takes it.
    fw.add(rule(100, vec![i(Cmd::Proto(17))], Cmd::Deny));
    fw.add(rule(
        200,
        vec![i(Cmd::IpSrcMask(vec![(ip("0.0.0.0"), ip("0.0.0.0"))]))],
        Cmd::Deny,
    ));
    fw.add(rule(
        300,
        vec![i(Cmd::MacType(vec![(0x0806, 0x0806)]))],
        Cmd::Accept,
    ));
    assert_eq!(l2(&arp, In), Pass);
    assert_eq!(fw.counts(100), (0, 0));
    assert_eq!(fw.counts(200), (0, 0));
    // Counted without the Ethernet header, as ipfw2 strips it first.
    assert_eq!(fw.counts(300), (1, 28));
    // An IP frame is pulled up as at layer 3: rule 200 matches it.
    assert_eq!(l2(&ping, In), Deny);
    assert_eq!(fw.counts(200).0, 1);
    // `layer2` and `MAC dst src`: only at layer 2, masked addresses.
    fw.add(rule(
        150,
        vec![
            i(Cmd::Layer2),
            i(Cmd::MacAddr2 {
                addr: [0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0],
                mask: [0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0],
            }),
        ],
        Cmd::Accept,
    ));
    assert_eq!(l2(&ping, In), Pass);
    assert_eq!(fw.counts(150), (1, 28));
    assert_eq!(fw.chk(&icmp("10.0.1.9", "10.0.1.1", 8), In), Deny);
    let other = frame(
        E0,
        [4, 0, 0, 0, 0, 9],
        0x0800,
        &icmp("10.0.1.9", "10.0.1.1", 8),
    );
    assert_eq!(l2(&other, In), Deny);
    // Out and in as at layer 3; a cut-short header is denied.
    fw.add(rule(50, vec![not(Cmd::In), i(Cmd::Layer2)], Cmd::Accept));
    assert_eq!(l2(&other, Out), Pass);
    assert_eq!(l2(&arp[..10], Out), Deny);
    assert_eq!(l2(&frame(E0, PEER, 0x0800, &[0x45, 0]), Out), Deny);
    // A log line for a frame without IP says MAC.
    let pk = Pkt::parse_frame(&arp).unwrap();
    assert_eq!(
        crate::ip_fw_log::log_line(300, &Cmd::Accept, &pk, In, "e0"),
        "ipfw: 300 Accept MAC in via e0"
    );
}

#[test]
fn ether_ipfw_turns_the_layer2_hooks_on_per_vnet() {
    use vimage_net::ethernet::EtherAddr;
    use vimage_net::if_ethersubr::ether_output_frame;
    use vimage_net::r#if::{ether_pfil_pass, VNET_NET};
    let fw = Fw::boot();
    let arp = Mbuf::from_vec(frame(BCAST, PEER, 0x0806, &[0u8; 28]));
    let on = |v: i64| VNET_NET.with(|n| n.ether_ipfw.store(v, Ordering::Relaxed));
    // Off (the default): the default deny rule never sees a frame.
    assert!(ether_pfil_pass(&fw.e0, &arp, In));
    assert_eq!(fw.counts(65535), (0, 0));
    assert!(ether_output_frame(
        &fw.e0,
        Mbuf::from_vec(vec![0; 28]),
        EtherAddr::BROADCAST,
        0x0806
    )
    .is_ok());
    // On: denied both ways, the sender told EACCES, the drops counted.
    on(1);
    assert!(!ether_pfil_pass(&fw.e0, &arp, In));
    assert_eq!(
        ether_output_frame(
            &fw.e0,
            Mbuf::from_vec(vec![0; 28]),
            EtherAddr::BROADCAST,
            0x0806
        ),
        Err(Errno::EACCES)
    );
    assert_eq!(fw.counts(65535), (2, 56));
    VNET_NET.with(|n| {
        assert_eq!(n.pfil.link.dropped_in.load(Ordering::Relaxed), 1);
        assert_eq!(n.pfil.link.dropped_out.load(Ordering::Relaxed), 1);
    });
    fw.add(rule(
        100,
        vec![i(Cmd::MacType(vec![(0x0806, 0x0806)]))],
        Cmd::Accept,
    ));
    assert!(ether_pfil_pass(&fw.e0, &arp, In));
    // Another vnet's switch is its own.
    if cfg!(feature = "vimage") {
        let n1 = fw.k.vi_create(fw.k.vimage0(), "n1").unwrap();
        let _cv = CurvnetGuard::set(&n1.vnet);
        assert_eq!(VNET_NET.with(|n| n.ether_ipfw.load(Ordering::Relaxed)), 0);
    }
    on(0);
    // Unloading takes the link hook away with the others.
    IpfwModule.unload(&fw.k).unwrap();
    on(1);
    assert!(!VNET_NET.with(|n| n.pfil.link.hooked()));
    assert!(ether_pfil_pass(
        &fw.e0,
        &Mbuf::from_vec(frame(BCAST, PEER, 0x0806, &[])),
        In
    ));
}
