//! Several routers wired together on fake time: lines and rings of RIP
//! routers, links that break, routes that come back the other way.

use super::*;
use std::collections::BTreeMap;
use std::net::SocketAddrV4;

const PORT: u16 = 520;

fn v4(s: &str) -> IpAddr {
    IpAddr::V4(s.parse().unwrap())
}

fn pfx(s: &str) -> Prefix {
    let (a, l) = s.split_once('/').unwrap();
    Prefix::new(v4(a), l.parse().unwrap())
}

fn secs(s: f64) -> Time {
    Duration::from_secs_f64(s)
}

/// One router and the kernel table its actions built.
struct Node {
    r: Router,
    ifs: Vec<IfConfig>,
    kernel: BTreeMap<Prefix, Installed>,
    /// Every (prefix, gateway) the kernel ever had.
    history: Vec<(Prefix, IpAddr, u8)>,
}

/// A link: the (node, ifindex, address) of each end, up or broken.
struct Link {
    ends: Vec<(usize, u32, IpAddr)>,
    up: bool,
}

/// Routers on fake time.
struct Net {
    nodes: Vec<Node>,
    links: Vec<Link>,
    now: Time,
}

impl Net {
    /// `n` routers, router `i` with a stub network 10.100.i.0/24 on
    /// interface 1, and links between the pairs in `links` (link `k` is
    /// 10.0.k.0/24, the first end .1, the second .2).
    fn new(n: usize, links: &[(usize, usize)], cfg: impl Fn(usize) -> Config) -> Net {
        let mut ifs: Vec<Vec<IfConfig>> = (0..n)
            .map(|i| {
                vec![IfConfig::new(
                    1,
                    "stub0",
                    vec![(v4(&format!("10.100.{i}.1")), 24)],
                )]
            })
            .collect();
        let mut ls = Vec::new();
        for (k, &(a, b)) in links.iter().enumerate() {
            let mut ends = Vec::new();
            for (host, node) in [(1, a), (2, b)] {
                let index = ifs[node].len() as u32 + 1;
                let addr = v4(&format!("10.0.{k}.{host}"));
                ifs[node].push(IfConfig::new(index, &format!("eth{k}"), vec![(addr, 24)]));
                ends.push((node, index, addr));
            }
            ls.push(Link { ends, up: true });
        }
        let nodes = ifs
            .into_iter()
            .enumerate()
            .map(|(i, ifs)| {
                let mut c = cfg(i);
                c.seed = 1000 + i as u64;
                Node {
                    r: Router::new(c),
                    ifs,
                    kernel: BTreeMap::new(),
                    history: Vec::new(),
                }
            })
            .collect();
        let mut net = Net {
            nodes,
            links: ls,
            now: Duration::ZERO,
        };
        for i in 0..n {
            let ifs = net.nodes[i].ifs.clone();
            net.nodes[i].r.set_interfaces(Duration::ZERO, ifs);
            net.nodes[i].r.start(Duration::ZERO);
        }
        net.deliver();
        net
    }

    /// Carry every pending action out until the network is quiet.
    fn deliver(&mut self) {
        for _ in 0..10_000 {
            let mut any = false;
            for i in 0..self.nodes.len() {
                for a in self.nodes[i].r.take_actions() {
                    any = true;
                    self.act(i, a);
                }
            }
            if !any {
                return;
            }
        }
        panic!("network never quiet");
    }

    fn act(&mut self, from: usize, a: Action) {
        match a {
            Action::Trace(_) => {}
            Action::Kernel(op) => {
                let n = &mut self.nodes[from];
                match op {
                    KernelOp::Add(p, i) => {
                        assert!(n.kernel.insert(p, i).is_none(), "add of {p}: exists");
                        n.history.push((p, i.gateway, i.metric));
                    }
                    KernelOp::Change(p, i) => {
                        assert!(n.kernel.insert(p, i).is_some(), "change of {p}: absent");
                        n.history.push((p, i.gateway, i.metric));
                    }
                    KernelOp::Delete(p, i) => {
                        assert_eq!(n.kernel.remove(&p), Some(i), "delete of {p}");
                    }
                }
            }
            Action::Send { ifindex, dest, msg } => {
                let Some(link) = self
                    .links
                    .iter()
                    .find(|l| l.ends.iter().any(|e| e.0 == from && e.1 == ifindex))
                else {
                    return; // a stub network: nobody listens
                };
                if !link.up {
                    return;
                }
                let src = link.ends.iter().find(|e| e.0 == from).map(|e| e.2).unwrap();
                let IpAddr::V4(s4) = src else { unreachable!() };
                let srca = SocketAddr::V4(SocketAddrV4::new(s4, PORT));
                let to: Vec<(usize, u32)> = link
                    .ends
                    .iter()
                    .filter(|e| e.0 != from)
                    .filter(|e| match dest {
                        Dest::Multicast => true,
                        Dest::Unicast(d) => d.ip() == e.2,
                    })
                    .map(|e| (e.0, e.1))
                    .collect();
                for (n, i) in to {
                    let now = self.now;
                    self.nodes[n].r.input(now, i, srca, &msg);
                }
            }
        }
    }

    /// Run for `d` of fake time in steps of 50 ms.
    fn run(&mut self, d: Time) {
        let end = self.now + d;
        while self.now < end {
            self.now += Duration::from_millis(50);
            let now = self.now;
            for n in &mut self.nodes {
                n.r.poll(now);
            }
            self.deliver();
        }
    }

    /// Run until `f` holds (checked every 50 ms), at most `limit`; the time
    /// it took.
    fn run_until(&mut self, limit: Time, f: impl Fn(&Net) -> bool) -> Option<Time> {
        let t0 = self.now;
        while self.now - t0 < limit {
            if f(self) {
                return Some(self.now - t0);
            }
            self.run(Duration::from_millis(50));
        }
        f(self).then(|| self.now - t0)
    }

    /// The kernel route of node `n` to `p`: (gateway, metric).
    fn kroute(&self, n: usize, p: &str) -> Option<(IpAddr, u8)> {
        self.nodes[n]
            .kernel
            .get(&pfx(p))
            .map(|i| (i.gateway, i.metric))
    }

    /// Break link `k` without telling anyone (packets are lost).
    fn cut(&mut self, k: usize) {
        self.links[k].up = false;
    }

    /// Take link `k`'s interfaces away on both ends (the routers see it).
    fn unplug(&mut self, k: usize) {
        self.links[k].up = false;
        let ends = self.links[k].ends.clone();
        for (n, i, _) in ends {
            self.nodes[n].ifs.retain(|f| f.index != i);
            let ifs = self.nodes[n].ifs.clone();
            let now = self.now;
            self.nodes[n].r.set_interfaces(now, ifs);
        }
        self.deliver();
    }
}

fn rip() -> Config {
    Config::new(PORT, Timers::rip())
}

#[test]
fn a_line_converges_and_the_far_ends_learn_each_other() {
    let mut net = Net::new(3, &[(0, 1), (1, 2)], |_| rip());
    net.run(secs(5.0));
    // Triggered updates carry everything across at once.
    assert_eq!(net.kroute(0, "10.100.2.0/24"), Some((v4("10.0.0.2"), 3)));
    assert_eq!(net.kroute(2, "10.100.0.0/24"), Some((v4("10.0.1.1"), 3)));
    assert_eq!(net.kroute(0, "10.0.1.0/24"), Some((v4("10.0.0.2"), 2)));
    assert_eq!(net.kroute(1, "10.100.0.0/24"), Some((v4("10.0.0.1"), 2)));
    // Connected networks are never put in the kernel.
    assert_eq!(net.kroute(0, "10.0.0.0/24"), None);
    // Periodic updates keep them for ever.
    net.run(secs(600.0));
    assert_eq!(net.kroute(0, "10.100.2.0/24"), Some((v4("10.0.0.2"), 3)));
    assert_eq!(net.nodes[0].kernel.len(), 3);
}

#[test]
fn a_ring_reroutes_around_a_silently_broken_link() {
    // n0 - n1 - n2 - n3 - n0.
    let mut net = Net::new(4, &[(0, 1), (1, 2), (2, 3), (3, 0)], |_| rip());
    net.run(secs(60.0));
    assert_eq!(net.kroute(0, "10.100.1.0/24"), Some((v4("10.0.0.2"), 2)));
    assert_eq!(net.kroute(0, "10.100.2.0/24").map(|r| r.1), Some(3));
    net.cut(0);
    // The route via n1 times out (180 s), then the next update of n3
    // brings the way round.
    let took = net
        .run_until(secs(400.0), |n| {
            n.kroute(0, "10.100.1.0/24") == Some((v4("10.0.3.1"), 4))
        })
        .expect("n0 reroutes to n1 via n3");
    assert!(
        took >= secs(150.0) && took <= secs(180.0 + 40.0),
        "{took:?}"
    );
    // And the other way round.
    net.run(secs(60.0));
    assert_eq!(net.kroute(1, "10.100.0.0/24"), Some((v4("10.0.1.2"), 4)));
    // The link comes back: the short way wins again at once.
    net.links[0].up = true;
    net.run(secs(40.0));
    assert_eq!(net.kroute(0, "10.100.1.0/24"), Some((v4("10.0.0.2"), 2)));
}

#[test]
fn lab_timers_reroute_in_seconds() {
    let lab = |_| Config::new(PORT, Timers::rip().scaled(10.0));
    let mut net = Net::new(4, &[(0, 1), (1, 2), (2, 3), (3, 0)], lab);
    net.run(secs(10.0));
    assert_eq!(net.kroute(0, "10.100.1.0/24"), Some((v4("10.0.0.2"), 2)));
    net.cut(0);
    let took = net
        .run_until(secs(60.0), |n| {
            n.kroute(0, "10.100.1.0/24") == Some((v4("10.0.3.1"), 4))
        })
        .expect("rerouted");
    assert!(took <= secs(18.0 + 4.0), "{took:?}");
}

#[test]
fn an_unplugged_link_is_withdrawn_at_once() {
    let mut net = Net::new(4, &[(0, 1), (1, 2), (2, 3), (3, 0)], |_| rip());
    net.run(secs(60.0));
    net.unplug(0);
    // n0's routes through eth0 go at once (metric 16, out of the kernel).
    assert_eq!(net.kroute(0, "10.100.1.0/24"), None);
    let r = net.nodes[0].r.route(&pfx("10.100.1.0/24")).unwrap();
    assert_eq!(r.metric, INFINITY);
    // The next periodic update of n3 brings the way round.
    net.run_until(secs(40.0), |n| {
        n.kroute(0, "10.100.1.0/24") == Some((v4("10.0.3.1"), 4))
    })
    .expect("rerouted");
    // The link's own network is gone everywhere once collected.
    net.run(secs(400.0));
    for n in 0..4 {
        assert!(net.nodes[n].r.route(&pfx("10.0.0.0/24")).is_none(), "n{n}");
    }
}

#[test]
fn a_lost_stub_network_is_withdrawn_everywhere() {
    let mut net = Net::new(3, &[(0, 1), (1, 2)], |_| rip());
    net.run(secs(5.0));
    assert!(net.kroute(2, "10.100.0.0/24").is_some());
    net.nodes[0].ifs.retain(|f| f.index != 1);
    let ifs = net.nodes[0].ifs.clone();
    let now = net.now;
    net.nodes[0].r.set_interfaces(now, ifs);
    net.deliver();
    // Triggered updates: gone from the far end within the rate limit.
    let took = net
        .run_until(secs(20.0), |n| n.kroute(2, "10.100.0.0/24").is_none())
        .unwrap();
    assert!(took <= secs(10.0), "{took:?}");
    net.run(secs(200.0));
    assert!(net.nodes[2].r.route(&pfx("10.100.0.0/24")).is_none());
}

#[test]
fn shutdown_withdraws_routes_from_kernel_and_neighbours() {
    let mut net = Net::new(3, &[(0, 1), (1, 2)], |_| rip());
    net.run(secs(5.0));
    let now = net.now;
    net.nodes[1].r.shutdown(now);
    net.deliver();
    assert!(net.nodes[1].kernel.is_empty());
    // n1's poison reaches n0 and n2 at once.
    assert_eq!(net.kroute(0, "10.100.2.0/24"), None);
    assert_eq!(net.kroute(2, "10.100.0.0/24"), None);
}

/// Two routers n1, n2 on 10.0.1.0/24; n1 also on 10.0.0.0/24 where it
/// heard of 10.100.0.0/24 from 10.0.0.1.  The route times out on n1 while
/// an update of n2, sent before n2 heard of it, is on its way.
fn stale_update(split: SplitHorizon) -> (Router, Vec<u8>) {
    let mut cfg = rip();
    cfg.split_horizon = split;
    let a = SocketAddr::new(v4("10.0.0.1"), PORT);
    let n1a = SocketAddr::new(v4("10.0.1.1"), PORT);
    let n2a = SocketAddr::new(v4("10.0.1.2"), PORT);
    let mut n1 = Router::new(cfg.clone());
    n1.set_interfaces(
        secs(0.0),
        vec![
            IfConfig::new(1, "eth0", vec![(v4("10.0.0.2"), 24)]),
            IfConfig::new(2, "eth1", vec![(n1a.ip(), 24)]),
        ],
    );
    let mut n2 = Router::new(cfg);
    n2.set_interfaces(
        secs(0.0),
        vec![IfConfig::new(1, "eth0", vec![(n2a.ip(), 24)])],
    );
    n1.start(secs(0.0));
    n2.start(secs(0.0));
    let s = pfx("10.100.0.0/24");
    let heard = |metric| {
        Message::Response(vec![Entry {
            prefix: s,
            metric,
            tag: 0,
            next_hop: None,
        }])
    };
    n1.input(secs(0.0), 1, a, &heard(1));
    // n1 tells n2 (its triggered update).
    n1.poll(secs(0.1));
    for act in n1.take_actions() {
        if let Action::Send {
            ifindex: 2,
            msg: m @ Message::Response(_),
            ..
        } = act
        {
            n2.input(secs(0.1), 1, n1a, &m);
        }
    }
    assert_eq!(n2.route(&s).unwrap().metric, 3);
    // What n2 tells n1 about it (its periodic update, as its answer to a
    // whole-table request from n1's port shows).
    n2.take_actions();
    n2.input(secs(1.0), 1, n1a, &Message::RequestAll);
    let from_n2 = n2
        .take_actions()
        .into_iter()
        .find_map(|a| match a {
            Action::Send { msg, .. } => Some(msg),
            _ => None,
        })
        .unwrap();
    // n1 stops hearing from 10.0.0.1: the route times out.
    n1.poll(secs(181.0));
    assert_eq!(n1.route(&s).unwrap().metric, INFINITY);
    n1.take_actions();
    // The stale update of n2 arrives; then n1 and n2 keep exchanging.
    n1.input(secs(181.0), 2, n2a, &from_n2);
    let mut metrics = vec![n1.route(&s).map_or(INFINITY, |r| r.metric)];
    let mut t = 182.0;
    let responses = |acts: Vec<Action>, on: u32| -> Vec<Message> {
        acts.into_iter()
            .filter_map(|a| match a {
                Action::Send {
                    ifindex,
                    msg: m @ Message::Response(_),
                    ..
                } if ifindex == on => Some(m),
                _ => None,
            })
            .collect()
    };
    for _ in 0..40 {
        n1.poll(secs(t));
        for m in responses(n1.take_actions(), 2) {
            n2.input(secs(t), 1, n1a, &m);
        }
        n2.poll(secs(t));
        for m in responses(n2.take_actions(), 1) {
            n1.input(secs(t), 2, n2a, &m);
        }
        metrics.push(n1.route(&s).map_or(INFINITY, |r| r.metric));
        t += 1.0;
    }
    let trail: Vec<u8> = metrics;
    (n1, trail)
}

#[test]
fn poisoned_reverse_prevents_counting_to_infinity() {
    let (n1, trail) = stale_update(SplitHorizon::PoisonedReverse);
    // n2 never offered the route back: n1 never takes it through n2.
    assert!(trail.iter().all(|&m| m == INFINITY), "{trail:?}");
    assert!(n1.route(&pfx("10.100.0.0/24")).is_none_or_unreachable());
}

#[test]
fn without_split_horizon_they_count_to_infinity() {
    let (_, trail) = stale_update(SplitHorizon::Off);
    // n1 believes n2 (metric 4), and the two count up to 16.
    assert_eq!(trail[0], 4, "{trail:?}");
    let steps: Vec<u8> = trail.iter().copied().filter(|&m| m < INFINITY).collect();
    assert!(steps.len() >= 3, "{trail:?}");
    assert!(steps.windows(2).all(|w| w[0] <= w[1]), "{trail:?}");
    assert_eq!(*trail.last().unwrap(), INFINITY, "{trail:?}");
}

trait Unreachable {
    fn is_none_or_unreachable(&self) -> bool;
}

impl Unreachable for Option<&Route> {
    fn is_none_or_unreachable(&self) -> bool {
        self.is_none_or(|r| r.metric == INFINITY && r.installed.is_none())
    }
}

#[test]
fn requests_are_answered_to_the_asker() {
    let mut r = Router::new(rip());
    r.set_interfaces(
        secs(0.0),
        vec![
            IfConfig::new(1, "eth0", vec![(v4("10.0.0.1"), 24)]),
            IfConfig::new(2, "eth1", vec![(v4("10.0.1.1"), 24)]),
        ],
    );
    r.start(secs(0.0));
    r.take_actions();
    // rtquery from port 5555: the whole table, split horizon on eth0.
    let q = SocketAddr::new(v4("10.0.0.7"), 5555);
    r.input(secs(1.0), 1, q, &Message::RequestAll);
    let acts = r.take_actions();
    let Some(Action::Send {
        dest: Dest::Unicast(to),
        msg: Message::Response(e),
        ..
    }) = acts.first()
    else {
        panic!("{acts:?}")
    };
    assert_eq!(*to, q);
    assert_eq!(e.len(), 1);
    assert_eq!((e[0].prefix, e[0].metric), (pfx("10.0.1.0/24"), 1));
    // A specific request: each route's metric or 16.
    let ask = |p: &str| Entry {
        prefix: pfx(p),
        metric: INFINITY,
        tag: 0,
        next_hop: None,
    };
    r.input(
        secs(1.0),
        1,
        q,
        &Message::Request(vec![ask("10.0.1.0/24"), ask("10.9.0.0/16")]),
    );
    let acts = r.take_actions();
    let Some(Action::Send {
        msg: Message::Response(e),
        ..
    }) = acts.first()
    else {
        panic!("{acts:?}")
    };
    assert_eq!(
        e.iter().map(|x| x.metric).collect::<Vec<_>>(),
        vec![1, INFINITY]
    );
    // A quiet router does not answer routers, only queries.
    let mut quiet = rip();
    quiet.supply = false;
    let mut r = Router::new(quiet);
    r.set_interfaces(
        secs(0.0),
        vec![IfConfig::new(1, "eth0", vec![(v4("10.0.0.1"), 24)])],
    );
    r.start(secs(0.0));
    r.take_actions();
    r.input(
        secs(1.0),
        1,
        SocketAddr::new(v4("10.0.0.2"), PORT),
        &Message::RequestAll,
    );
    assert!(r.take_actions().is_empty());
    r.poll(secs(100.0));
    assert!(r
        .take_actions()
        .iter()
        .all(|a| !matches!(a, Action::Send { .. })));
}

#[test]
fn responses_from_strangers_are_ignored() {
    let mut r = Router::new(rip());
    r.set_interfaces(
        secs(0.0),
        vec![IfConfig::new(1, "eth0", vec![(v4("10.0.0.1"), 24)])],
    );
    let good = Message::Response(vec![Entry {
        prefix: pfx("10.5.0.0/16"),
        metric: 1,
        tag: 0,
        next_hop: None,
    }]);
    // Not from port 520, not on the network, our own address.
    r.input(secs(0.0), 1, SocketAddr::new(v4("10.0.0.2"), 9), &good);
    r.input(secs(0.0), 1, SocketAddr::new(v4("10.1.0.2"), PORT), &good);
    r.input(secs(0.0), 1, SocketAddr::new(v4("10.0.0.1"), PORT), &good);
    // Unknown interface.
    r.input(secs(0.0), 7, SocketAddr::new(v4("10.0.0.2"), PORT), &good);
    assert!(r.route(&pfx("10.5.0.0/16")).is_none());
    // Destinations one may not route.
    for bad in ["127.0.0.0/8", "224.0.0.0/4", "0.0.0.0/8", "240.0.0.0/4"] {
        let m = Message::Response(vec![Entry {
            prefix: pfx(bad),
            metric: 1,
            tag: 0,
            next_hop: None,
        }]);
        r.input(secs(0.0), 1, SocketAddr::new(v4("10.0.0.2"), PORT), &m);
        assert!(r.route(&pfx(bad)).is_none(), "{bad}");
    }
    // A next hop on the network is used; one off it is the sender.
    let m = Message::Response(vec![
        Entry {
            prefix: pfx("10.6.0.0/16"),
            metric: 2,
            tag: 9,
            next_hop: Some(v4("10.0.0.3")),
        },
        Entry {
            prefix: pfx("10.7.0.0/16"),
            metric: 2,
            tag: 0,
            next_hop: Some(v4("192.168.0.1")),
        },
    ]);
    r.input(secs(0.0), 1, SocketAddr::new(v4("10.0.0.2"), PORT), &m);
    let a = r.route(&pfx("10.6.0.0/16")).unwrap();
    assert_eq!((a.gateway, a.metric, a.tag), (Some(v4("10.0.0.3")), 3, 9));
    let b = r.route(&pfx("10.7.0.0/16")).unwrap();
    assert_eq!(b.gateway, Some(v4("10.0.0.2")));
}

#[test]
fn static_routes_of_the_gateways_file() {
    let mut r = Router::new(rip());
    r.set_interfaces(
        secs(0.0),
        vec![IfConfig::new(1, "eth0", vec![(v4("10.0.0.1"), 24)])],
    );
    r.start(secs(0.0));
    r.add_static(
        secs(0.0),
        pfx("192.168.5.0/24"),
        v4("10.0.0.9"),
        2,
        StaticKind::Passive,
    )
    .unwrap();
    r.add_static(
        secs(0.0),
        pfx("192.168.6.0/24"),
        v4("10.0.0.9"),
        2,
        StaticKind::Active,
    )
    .unwrap();
    r.add_static(
        secs(0.0),
        pfx("192.168.7.0/24"),
        v4("10.0.0.9"),
        2,
        StaticKind::Extern,
    )
    .unwrap();
    assert_eq!(
        r.add_static(
            secs(0.0),
            pfx("192.168.8.0/24"),
            v4("172.16.0.1"),
            2,
            StaticKind::Passive
        ),
        Err(Error::NoInterface)
    );
    let adds: Vec<Prefix> = r
        .take_actions()
        .into_iter()
        .filter_map(|a| match a {
            Action::Kernel(KernelOp::Add(p, _)) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(adds, vec![pfx("192.168.5.0/24"), pfx("192.168.6.0/24")]);
    // Extern: nothing learned for it.
    let m = Message::Response(vec![Entry {
        prefix: pfx("192.168.7.0/24"),
        metric: 1,
        tag: 0,
        next_hop: None,
    }]);
    r.input(secs(1.0), 1, SocketAddr::new(v4("10.0.0.2"), PORT), &m);
    assert!(r.route(&pfx("192.168.7.0/24")).is_none());
    // Passive stays, active times out.
    r.poll(secs(200.0));
    r.poll(secs(1000.0));
    assert_eq!(r.route(&pfx("192.168.5.0/24")).unwrap().metric, 2);
    assert!(r.route(&pfx("192.168.6.0/24")).is_none());
}

#[test]
fn default_route_and_fake_default() {
    let mut cfg = rip();
    cfg.default_metric = Some(1);
    let mut r = Router::new(cfg);
    let mut e1 = IfConfig::new(2, "eth1", vec![(v4("10.0.1.1"), 24)]);
    e1.fake_default = Some(14);
    r.set_interfaces(
        secs(0.0),
        vec![IfConfig::new(1, "eth0", vec![(v4("10.0.0.1"), 24)]), e1],
    );
    r.start(secs(0.0));
    r.poll(secs(100.0));
    let mut seen = BTreeMap::new();
    for a in r.take_actions() {
        if let Action::Send {
            ifindex,
            msg: Message::Response(e),
            ..
        } = a
        {
            seen.insert(ifindex, e);
        }
    }
    let d = pfx("0.0.0.0/0");
    assert!(seen[&1].iter().any(|e| e.prefix == d && e.metric == 1));
    assert_eq!(seen[&2].len(), 1);
    assert_eq!((seen[&2][0].prefix, seen[&2][0].metric), (d, 14));
}

#[test]
fn ripng_routers_learn_through_link_local_neighbours() {
    let v6 = |s: &str| IpAddr::V6(s.parse().unwrap());
    let mut a = Router::new(Config::new(521, Timers::ripng()));
    a.set_interfaces(
        secs(0.0),
        vec![IfConfig::new(
            2,
            "eth0",
            vec![(v6("fe80::1"), 64), (v6("a:1::1"), 64)],
        )],
    );
    a.start(secs(0.0));
    let m = Message::Response(vec![Entry {
        prefix: Prefix::new(v6("a:2::"), 64),
        metric: 1,
        tag: 0,
        next_hop: None,
    }]);
    // Not link-local: ignored.
    a.input(secs(0.0), 2, SocketAddr::new(v6("a:1::2"), 521), &m);
    assert!(a.route(&Prefix::new(v6("a:2::"), 64)).is_none());
    a.input(secs(0.0), 2, SocketAddr::new(v6("fe80::2"), 521), &m);
    let r = a.route(&Prefix::new(v6("a:2::"), 64)).unwrap();
    assert_eq!((r.gateway, r.metric), (Some(v6("fe80::2")), 2));
    // The link-local network is not a route.
    assert!(a.route(&Prefix::new(v6("fe80::"), 64)).is_none());
    assert!(a.route(&Prefix::new(v6("a:1::"), 64)).is_some());
}

#[test]
fn poll_at_tracks_the_next_deadline() {
    let mut r = Router::new(rip());
    assert_eq!(r.poll_at(), None);
    r.set_interfaces(
        secs(0.0),
        vec![IfConfig::new(1, "eth0", vec![(v4("10.0.0.1"), 24)])],
    );
    r.start(secs(0.0));
    // A triggered update is due now.
    assert_eq!(r.poll_at(), Some(secs(0.0)));
    r.poll(secs(0.0));
    let at = r.poll_at().unwrap();
    assert!(at >= secs(1.0) && at <= secs(35.0), "{at:?}");
}

#[test]
fn a_flood_of_routes_is_bounded() {
    let mut cfg = rip();
    cfg.max_routes = 100;
    let mut r = Router::new(cfg);
    r.set_interfaces(
        secs(0.0),
        vec![IfConfig::new(1, "eth0", vec![(v4("10.0.0.1"), 24)])],
    );
    let flood: Vec<Entry> = (0..1000u32)
        .map(|i| Entry {
            prefix: Prefix::new(IpAddr::V4(Ipv4Addr::from(0x0b00_0000 + (i << 8))), 24),
            metric: 1,
            tag: 0,
            next_hop: None,
        })
        .collect();
    for chunk in flood.chunks(25) {
        r.input(
            secs(0.0),
            1,
            SocketAddr::new(v4("10.0.0.2"), PORT),
            &Message::Response(chunk.to_vec()),
        );
    }
    assert_eq!(r.routes().count(), 100);
    let adds = r
        .take_actions()
        .iter()
        .filter(|a| matches!(a, Action::Kernel(KernelOp::Add(..))))
        .count();
    assert_eq!(adds, 99);
}

#[test]
fn kernel_static_routes_are_advertised_and_left_alone() {
    let mut r = Router::new(rip());
    r.set_interfaces(
        secs(0.0),
        vec![
            IfConfig::new(1, "eth0", vec![(v4("10.0.0.1"), 24)]),
            IfConfig::new(2, "eth1", vec![(v4("10.0.1.1"), 24)]),
        ],
    );
    r.start(secs(0.0));
    let s = pfx("192.168.9.0/24");
    // Learned first (and installed), then the admin adds a static route.
    r.input(
        secs(0.0),
        2,
        SocketAddr::new(v4("10.0.1.2"), PORT),
        &Message::Response(vec![Entry {
            prefix: s,
            metric: 3,
            tag: 0,
            next_hop: None,
        }]),
    );
    r.take_actions();
    r.set_kernel_statics(secs(1.0), &[(s, v4("10.0.0.9"), 1)]);
    r.poll(secs(1.0));
    let acts = r.take_actions();
    assert!(
        !acts.iter().any(|a| matches!(a, Action::Kernel(_))),
        "{acts:?}"
    );
    // Advertised with metric 1 on eth1, poisoned on its own eth0.
    let sent: Vec<(u32, u8)> = acts
        .iter()
        .filter_map(|a| match a {
            Action::Send {
                ifindex,
                msg: Message::Response(e),
                ..
            } => e
                .iter()
                .find(|x| x.prefix == s)
                .map(|x| (*ifindex, x.metric)),
            _ => None,
        })
        .collect();
    assert_eq!(sent, vec![(1, INFINITY), (2, 1)]);
    // Neighbours cannot replace it; it survives timeouts and shutdown.
    r.input(
        secs(2.0),
        2,
        SocketAddr::new(v4("10.0.1.2"), PORT),
        &Message::Response(vec![Entry {
            prefix: s,
            metric: 1,
            tag: 0,
            next_hop: None,
        }]),
    );
    r.poll(secs(1000.0));
    assert_eq!(r.route(&s).unwrap().origin, Origin::Kernel);
    r.take_actions();
    r.shutdown(secs(1001.0));
    assert!(!r
        .take_actions()
        .iter()
        .any(|a| matches!(a, Action::Kernel(_))));
    // Deleted by the admin: withdrawn.
    let mut r2 = Router::new(rip());
    r2.set_interfaces(
        secs(0.0),
        vec![IfConfig::new(1, "eth0", vec![(v4("10.0.0.1"), 24)])],
    );
    r2.set_kernel_statics(secs(0.0), &[(s, v4("10.0.0.9"), 1)]);
    r2.set_kernel_statics(secs(5.0), &[]);
    assert_eq!(r2.route(&s).unwrap().metric, INFINITY);
    r2.poll(secs(200.0));
    assert!(r2.route(&s).is_none());
}
