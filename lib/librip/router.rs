//! The distance-vector machine of RIPv2 and RIPng (RFC 2453 §3.4, §3.8–3.10;
//! RFC 2080 §2.3–2.5), without IO.
//!
//! A [`Router`] holds the interfaces it runs on ([`IfConfig`]: their
//! networks are its connected routes), the routes it learned and the static
//! ones it was given.  The caller feeds it time ([`Time`], any monotonic
//! origin), interface lists and received messages, and takes back
//! [`Action`]s: messages to send on an interface (to the RIP group or to one
//! address) and route changes for the kernel.  Both families go through the
//! same machine: addresses are [`IpAddr`]s, and a router runs one family.
//!
//! What it does:
//! * periodic updates of the whole table every [`Timers::update`] (plus a
//!   random part), triggered updates of changed routes, at most one per
//!   random [`Timers::trigger_min`]..[`Timers::trigger_max`];
//! * a learned route not refreshed for [`Timers::expire`] gets metric 16
//!   (infinity), is advertised so, and is deleted [`Timers::garbage`] later;
//! * split horizon with poisoned reverse (or plain, or none);
//! * whole-table and specific requests answered, to the asker's port;
//! * static routes (`/etc/gateways`: passive, active, extern), and the
//!   kernel's own static routes, advertised as they are.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use crate::Error;

/// Time on the caller's monotonic clock.
pub type Time = Duration;

/// Metric meaning unreachable.
pub const INFINITY: u8 = 16;

/// A destination prefix, host bits cleared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix {
    addr: IpAddr,
    plen: u8,
}

fn width(a: &IpAddr) -> u8 {
    if a.is_ipv4() {
        32
    } else {
        128
    }
}

impl Prefix {
    /// `addr/plen` with the bits past `plen` cleared (`plen` clamped to the
    /// address width).
    pub fn new(addr: IpAddr, plen: u8) -> Prefix {
        let plen = plen.min(width(&addr));
        let addr = match addr {
            IpAddr::V4(a) => {
                let m = if plen == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(plen))
                };
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
            }
            IpAddr::V6(a) => {
                let m = if plen == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(plen))
                };
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
            }
        };
        Prefix { addr, plen }
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn plen(&self) -> u8 {
        self.plen
    }

    /// Whether `a` is inside.
    pub fn contains(&self, a: IpAddr) -> bool {
        a.is_ipv4() == self.addr.is_ipv4() && Prefix::new(a, self.plen).addr == self.addr
    }

    /// Whether this is a host route (/32 or /128).
    pub fn is_host(&self) -> bool {
        self.plen == width(&self.addr)
    }

    /// The default route of `a`'s family.
    pub fn default_of(v6: bool) -> Prefix {
        if v6 {
            Prefix::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)
        } else {
            Prefix::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
        }
    }

    /// Whether a router may take this destination from a neighbour: not
    /// multicast, loopback, link-local, class E, or `0/8` (but the default
    /// route is fine).
    pub fn is_routable(&self) -> bool {
        match self.addr {
            IpAddr::V4(a) => {
                let o = a.octets()[0];
                self.plen == 0 || !(o == 0 || o == 127 || o >= 224)
            }
            IpAddr::V6(a) => {
                let s = a.segments()[0];
                !(a.is_loopback() || s & 0xff00 == 0xff00 || s & 0xffc0 == 0xfe80)
                    && (self.plen == 0 || !a.is_unspecified())
            }
        }
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.plen)
    }
}

/// The protocol's timers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timers {
    /// Period of full updates.
    pub update: Duration,
    /// Up to this much is added at random to each period.
    pub update_jitter: Duration,
    /// A learned route not heard of for this long gets metric 16.
    pub expire: Duration,
    /// Then it is deleted this much later.
    pub garbage: Duration,
    /// After a triggered update, the next waits at least this…
    pub trigger_min: Duration,
    /// …and at most this.
    pub trigger_max: Duration,
}

impl Timers {
    /// RFC 2453's: 30 s (+0–5 s), 180 s, 120 s, triggered 1–5 s.
    pub fn rip() -> Timers {
        Timers {
            update: Duration::from_secs(30),
            update_jitter: Duration::from_secs(5),
            expire: Duration::from_secs(180),
            garbage: Duration::from_secs(120),
            trigger_min: Duration::from_secs(1),
            trigger_max: Duration::from_secs(5),
        }
    }

    /// RFC 2080's: as RIPv2 with 0–15 s of jitter.
    pub fn ripng() -> Timers {
        Timers {
            update_jitter: Duration::from_secs(15),
            ..Timers::rip()
        }
    }

    /// Every timer divided by `f` (> 0): lab timers (`timescale=10` makes
    /// updates every 3 s and a lost route expire after 18 s).
    pub fn scaled(self, f: f64) -> Timers {
        let s = |d: Duration| {
            if f > 0.0 && f.is_finite() {
                Duration::from_secs_f64(d.as_secs_f64() / f)
            } else {
                d
            }
        };
        Timers {
            update: s(self.update),
            update_jitter: s(self.update_jitter),
            expire: s(self.expire),
            garbage: s(self.garbage),
            trigger_min: s(self.trigger_min),
            trigger_max: s(self.trigger_max),
        }
    }
}

/// What to advertise back onto the interface a route came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitHorizon {
    /// Everything (count-to-infinity may happen).
    Off,
    /// Nothing.
    Simple,
    /// The route with metric 16.
    PoisonedReverse,
}

/// A router's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Timers.
    pub timers: Timers,
    /// Send updates (`-s`); otherwise only listen (`-q`) and answer queries.
    pub supply: bool,
    /// Split horizon mode.
    pub split_horizon: SplitHorizon,
    /// Advertise a default route of this metric (`-g`: 1).
    pub default_metric: Option<u8>,
    /// The protocol's UDP port (520, 521): responses must come from it,
    /// requests from it are from routers (others are queries).
    pub port: u16,
    /// Seed of the random parts of the timers.
    pub seed: u64,
    /// Most routes the table holds: past it, new destinations from
    /// neighbours are ignored (a flood cannot exhaust memory or the
    /// kernel's table).
    pub max_routes: usize,
}

impl Config {
    /// Defaults for `port`'s protocol: RFC timers, supplying, poisoned reverse.
    pub fn new(port: u16, timers: Timers) -> Config {
        Config {
            timers,
            supply: true,
            split_horizon: SplitHorizon::PoisonedReverse,
            default_metric: None,
            port,
            seed: 0x5eed_0000_0000_0001,
            max_routes: 10_000,
        }
    }
}

/// One interface RIP runs on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfConfig {
    /// Interface index.
    pub index: u32,
    /// Name (for traces).
    pub name: String,
    /// Addresses with their prefix lengths (IPv6 link-local ones too: they
    /// are the router's own, but not networks to advertise).
    pub addrs: Vec<(IpAddr, u8)>,
    /// Added to metrics received here (1).
    pub cost: u8,
    /// Added to metrics sent here (0).
    pub out_cost: u8,
    /// Ignore responses received here (`no_rip_in`).
    pub no_rip_in: bool,
    /// Send nothing here (`passive`, `no_rip_out`, `-q`).
    pub no_rip_out: bool,
    /// Advertise only a default route of this metric here (`-F`).
    pub fake_default: Option<u8>,
}

impl IfConfig {
    /// An interface with the default costs and no options.
    pub fn new(index: u32, name: &str, addrs: Vec<(IpAddr, u8)>) -> IfConfig {
        IfConfig {
            index,
            name: name.to_string(),
            addrs,
            cost: 1,
            out_cost: 0,
            no_rip_in: false,
            no_rip_out: false,
            fake_default: None,
        }
    }

    /// The networks it connects to (not IPv6 link-local, not /0).
    pub fn prefixes(&self) -> Vec<Prefix> {
        let mut v: Vec<Prefix> = self
            .addrs
            .iter()
            .filter(|(a, l)| *l > 0 && !is_link_local(a))
            .map(|(a, l)| Prefix::new(*a, *l))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Whether `a` is one of its addresses.
    pub fn owns(&self, a: IpAddr) -> bool {
        self.addrs.iter().any(|(x, _)| *x == a)
    }

    /// Whether a neighbour at `a` is directly reachable here: inside one of
    /// its IPv4 networks, or (IPv6) link-local.
    pub fn on_link(&self, a: IpAddr) -> bool {
        match a {
            IpAddr::V4(_) => self
                .addrs
                .iter()
                .any(|(x, l)| *l > 0 && Prefix::new(*x, *l).contains(a)),
            IpAddr::V6(_) => is_link_local(&a),
        }
    }
}

fn is_link_local(a: &IpAddr) -> bool {
    match a {
        IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
        IpAddr::V4(_) => false,
    }
}

/// Where a route came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A network of one of the interfaces.
    Connected,
    /// A `passive` line of `/etc/gateways`: kept for ever.
    Static,
    /// Heard from a neighbour (or an `active` gateways line).
    Learned,
    /// A static route of the kernel's table (`route add`): advertised,
    /// never changed or deleted by the router.
    Kernel,
}

/// What a gateways line says of its gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StaticKind {
    /// Does not speak RIP: the route is permanent and advertised.
    Passive,
    /// Speaks RIP: the route is a learned one, and times out.
    Active,
    /// Another program installs it: neither installed nor advertised, and
    /// nothing learned for it.
    Extern,
}

/// A route as the kernel knows it (what the router installed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Installed {
    /// Next hop.
    pub gateway: IpAddr,
    /// Interface of the next hop.
    pub ifindex: u32,
    /// Metric.
    pub metric: u8,
}

/// One route of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Destination.
    pub prefix: Prefix,
    /// Next hop (`None` for a connected network).
    pub gateway: Option<IpAddr>,
    /// Interface.
    pub ifindex: u32,
    /// Metric, 1..=16.
    pub metric: u8,
    /// Route tag (kept and advertised again).
    pub tag: u16,
    /// Where it came from.
    pub origin: Origin,
    /// When it times out (learned routes).
    pub expires: Option<Time>,
    /// When it is deleted (metric 16).
    pub gc: Option<Time>,
    /// Changed since the last update (goes out in the next triggered one).
    pub changed: bool,
    /// What the kernel has of it.
    pub installed: Option<Installed>,
}

/// A route entry of a message, whatever the family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Destination.
    pub prefix: Prefix,
    /// Metric (1..=16).
    pub metric: u8,
    /// Route tag.
    pub tag: u16,
    /// Next hop (`None`: the sender).
    pub next_hop: Option<IpAddr>,
}

/// A message, whatever the family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Send me your whole table.
    RequestAll,
    /// Send me these routes.
    Request(Vec<Entry>),
    /// Routes.
    Response(Vec<Entry>),
}

/// Where a message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dest {
    /// The RIP group (224.0.0.9, ff02::9) on the interface, from the RIP port.
    Multicast,
    /// One address and port.
    Unicast(SocketAddr),
}

/// A change to make in the kernel's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelOp {
    /// `RTM_ADD`.
    Add(Prefix, Installed),
    /// `RTM_CHANGE` (new gateway or metric).
    Change(Prefix, Installed),
    /// `RTM_DELETE` of what was installed.
    Delete(Prefix, Installed),
}

/// What the router asks its caller to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send `msg` out of interface `ifindex`.
    Send {
        /// Interface.
        ifindex: u32,
        /// Destination.
        dest: Dest,
        /// The message.
        msg: Message,
    },
    /// Change the kernel's table.
    Kernel(KernelOp),
    /// A line for the trace (`-t`).
    Trace(String),
}

/// The RIP machine of one router and one family.
#[derive(Clone, Debug)]
pub struct Router {
    cfg: Config,
    ifs: BTreeMap<u32, IfConfig>,
    routes: BTreeMap<Prefix, Route>,
    externs: Vec<Prefix>,
    next_update: Time,
    trigger_ok: Time,
    trigger_pending: bool,
    started: bool,
    rng: u64,
    out: Vec<Action>,
}

impl Router {
    /// A router with no interfaces yet.
    pub fn new(cfg: Config) -> Router {
        let rng = cfg.seed | 1;
        Router {
            cfg,
            ifs: BTreeMap::new(),
            routes: BTreeMap::new(),
            externs: Vec::new(),
            next_update: Duration::ZERO,
            trigger_ok: Duration::ZERO,
            trigger_pending: false,
            started: false,
            rng,
            out: Vec::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Start or stop supplying updates.
    pub fn set_supply(&mut self, on: bool) {
        self.cfg.supply = on;
    }

    /// The actions produced since the last call.
    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.out)
    }

    /// The table.
    pub fn routes(&self) -> impl Iterator<Item = &Route> {
        self.routes.values()
    }

    /// The route to exactly `p`.
    pub fn route(&self, p: &Prefix) -> Option<&Route> {
        self.routes.get(p)
    }

    /// The interfaces.
    pub fn interfaces(&self) -> impl Iterator<Item = &IfConfig> {
        self.ifs.values()
    }

    /// The interface on whose network `a` is (IPv4; IPv6 neighbours are
    /// found by their scope).
    pub fn interface_of(&self, a: IpAddr) -> Option<u32> {
        self.ifs
            .values()
            .find(|i| !is_link_local(&a) && i.on_link(a))
            .map(|i| i.index)
    }

    fn trace(&mut self, s: String) {
        self.out.push(Action::Trace(s));
    }

    fn rand(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn rand_between(&mut self, lo: Duration, hi: Duration) -> Duration {
        if hi <= lo {
            return lo;
        }
        let span = (hi - lo).as_micros() as u64;
        lo + Duration::from_micros(self.rand() % (span + 1))
    }

    /// Begin: ask every interface's neighbours for their tables and
    /// announce our own routes at once.
    pub fn start(&mut self, now: Time) {
        self.started = true;
        let idx: Vec<u32> = self.ifs.keys().copied().collect();
        for i in idx {
            self.request_all(i);
        }
        let t = self.cfg.timers;
        self.next_update = now + t.update + self.rand_between(Duration::ZERO, t.update_jitter);
        for r in self.routes.values_mut() {
            r.changed = true;
        }
        self.trigger_pending = !self.routes.is_empty();
        self.trigger_ok = now;
    }

    fn request_all(&mut self, ifindex: u32) {
        if self.ifs.get(&ifindex).is_some_and(|i| !i.no_rip_out) {
            self.out.push(Action::Send {
                ifindex,
                dest: Dest::Multicast,
                msg: Message::RequestAll,
            });
        }
    }

    fn mark(&mut self, p: Prefix) {
        if let Some(r) = self.routes.get_mut(&p) {
            r.changed = true;
            self.trigger_pending = true;
        }
    }

    /// Bring the kernel in line with route `p` (what should be installed:
    /// a learned or static route of metric < 16).
    fn sync(&mut self, p: Prefix) {
        let (have, want) = match self.routes.get(&p) {
            None => return,
            Some(r) => {
                let want = match (r.origin, r.gateway) {
                    (Origin::Learned | Origin::Static, Some(gateway)) if r.metric < INFINITY => {
                        Some(Installed {
                            gateway,
                            ifindex: r.ifindex,
                            metric: r.metric,
                        })
                    }
                    _ => None,
                };
                (r.installed, want)
            }
        };
        let op = match (have, want) {
            (None, Some(w)) => Some(KernelOp::Add(p, w)),
            (Some(h), None) => Some(KernelOp::Delete(p, h)),
            (Some(h), Some(w)) if h != w => Some(KernelOp::Change(p, w)),
            _ => None,
        };
        if let Some(op) = op {
            self.out.push(Action::Kernel(op));
        }
        if let Some(r) = self.routes.get_mut(&p) {
            r.installed = want;
        }
    }

    fn remove(&mut self, p: Prefix) {
        if let Some(r) = self.routes.remove(&p) {
            if let Some(h) = r.installed {
                self.out.push(Action::Kernel(KernelOp::Delete(p, h)));
            }
        }
    }

    /// Set the interfaces (a fresh scan): networks that appeared become
    /// connected routes (replacing learned ones), networks and interfaces
    /// that went away lose their routes (metric 16, then deleted), and new
    /// interfaces are asked for their neighbours' tables.
    pub fn set_interfaces(&mut self, now: Time, ifs: Vec<IfConfig>) {
        let garbage = self.cfg.timers.garbage;
        let new: BTreeMap<u32, IfConfig> = ifs.into_iter().map(|i| (i.index, i)).collect();
        // Routes that lost their interface or network.
        let stale: Vec<Prefix> = self
            .routes
            .values()
            .filter(|r| r.metric < INFINITY)
            .filter(|r| match new.get(&r.ifindex) {
                None => true,
                Some(i) => match r.origin {
                    Origin::Connected => !i.prefixes().contains(&r.prefix),
                    _ => r.gateway.is_some_and(|g| !i.on_link(g)),
                },
            })
            .map(|r| r.prefix)
            .collect();
        for p in stale {
            if let Some(r) = self.routes.get_mut(&p) {
                r.metric = INFINITY;
                r.expires = None;
                r.gc = Some(now + garbage);
            }
            self.trace(format!("{p}: interface gone"));
            self.mark(p);
            self.sync(p);
        }
        let added: Vec<u32> = new
            .keys()
            .filter(|k| !self.ifs.contains_key(k))
            .copied()
            .collect();
        self.ifs = new;
        let conn: Vec<(Prefix, u32, u8)> = self
            .ifs
            .values()
            .flat_map(|i| i.prefixes().into_iter().map(|p| (p, i.index, i.cost)))
            .collect();
        for (p, index, cost) in conn {
            let fresh = Route {
                prefix: p,
                gateway: None,
                ifindex: index,
                metric: cost.clamp(1, INFINITY),
                tag: 0,
                origin: Origin::Connected,
                expires: None,
                gc: None,
                changed: true,
                installed: None,
            };
            match self.routes.get(&p) {
                Some(r) if r.origin == Origin::Connected && r.metric < INFINITY => continue,
                Some(r) => {
                    let installed = r.installed;
                    self.routes.insert(p, Route { installed, ..fresh });
                }
                None => {
                    self.routes.insert(p, fresh);
                }
            }
            self.trace(format!("{p}: connected"));
            self.mark(p);
            self.sync(p);
        }
        if self.started {
            for i in added {
                self.request_all(i);
            }
        }
    }

    /// Add a gateways line's route: `net`/`host` `prefix` `gateway` `g`
    /// `metric` `m` `kind`.  The gateway must be on an interface's network.
    pub fn add_static(
        &mut self,
        now: Time,
        prefix: Prefix,
        gateway: IpAddr,
        metric: u8,
        kind: StaticKind,
    ) -> Result<(), Error> {
        if kind == StaticKind::Extern {
            self.externs.push(prefix);
            if self
                .routes
                .get(&prefix)
                .is_some_and(|r| r.origin != Origin::Connected)
            {
                self.remove(prefix);
            }
            return Ok(());
        }
        let ifindex = self.interface_of(gateway).ok_or(Error::NoInterface)?;
        if !(1..INFINITY).contains(&metric) {
            return Err(Error::BadMetric);
        }
        let (origin, expires) = match kind {
            StaticKind::Passive => (Origin::Static, None),
            _ => (Origin::Learned, Some(now + self.cfg.timers.expire)),
        };
        let installed = self.routes.get(&prefix).and_then(|r| r.installed);
        self.routes.insert(
            prefix,
            Route {
                prefix,
                gateway: Some(gateway),
                ifindex,
                metric,
                tag: 0,
                origin,
                expires,
                gc: None,
                changed: true,
                installed,
            },
        );
        self.mark(prefix);
        self.sync(prefix);
        Ok(())
    }

    /// The static routes of the kernel's table (`route add`: prefix,
    /// gateway, interface), a fresh read: new ones are advertised with
    /// metric 1 and beat learned ones (which the router then no longer owns
    /// in the kernel), vanished ones are withdrawn (metric 16, then
    /// deleted).  The router never writes them to the kernel.
    pub fn set_kernel_statics(&mut self, now: Time, statics: &[(Prefix, IpAddr, u32)]) {
        let garbage = self.cfg.timers.garbage;
        let gone: Vec<Prefix> = self
            .routes
            .values()
            .filter(|r| r.origin == Origin::Kernel && r.metric < INFINITY)
            .filter(|r| {
                !statics
                    .iter()
                    .any(|s| s.0 == r.prefix && Some(s.1) == r.gateway)
            })
            .map(|r| r.prefix)
            .collect();
        for p in gone {
            if let Some(r) = self.routes.get_mut(&p) {
                r.metric = INFINITY;
                r.gc = Some(now + garbage);
            }
            self.trace(format!("{p}: static route gone"));
            self.mark(p);
        }
        for &(p, gw, ifindex) in statics {
            match self.routes.get(&p) {
                Some(r) if r.metric < INFINITY && r.origin == Origin::Connected => continue,
                Some(r)
                    if r.metric < INFINITY
                        && r.origin == Origin::Kernel
                        && r.gateway == Some(gw) =>
                {
                    continue
                }
                _ => {}
            }
            self.routes.insert(
                p,
                Route {
                    prefix: p,
                    gateway: Some(gw),
                    ifindex,
                    metric: 1,
                    tag: 0,
                    origin: Origin::Kernel,
                    expires: None,
                    gc: None,
                    changed: true,
                    installed: None,
                },
            );
            self.trace(format!("{p}: static route via {gw}"));
            self.mark(p);
        }
    }

    /// A message from `src` arrived on interface `ifindex`.
    pub fn input(&mut self, now: Time, ifindex: u32, src: SocketAddr, msg: &Message) {
        let Some(ifc) = self.ifs.get(&ifindex).cloned() else {
            return;
        };
        if ifc.owns(src.ip()) {
            return;
        }
        match msg {
            Message::RequestAll => {
                // A router's request is answered only by a supplier; a
                // query (another port: rtquery) always.
                if !self.cfg.supply && src.port() == self.cfg.port {
                    return;
                }
                let entries = self.update_for(&ifc, false);
                self.out.push(Action::Send {
                    ifindex,
                    dest: Dest::Unicast(src),
                    msg: Message::Response(entries),
                });
            }
            Message::Request(want) => {
                let entries = want
                    .iter()
                    .map(|e| Entry {
                        metric: self.routes.get(&e.prefix).map_or(INFINITY, |r| r.metric),
                        tag: self.routes.get(&e.prefix).map_or(e.tag, |r| r.tag),
                        next_hop: None,
                        prefix: e.prefix,
                    })
                    .collect();
                self.out.push(Action::Send {
                    ifindex,
                    dest: Dest::Unicast(src),
                    msg: Message::Response(entries),
                });
            }
            Message::Response(entries) => {
                if src.port() != self.cfg.port {
                    self.trace(format!("ignore response from {src}: not from port"));
                    return;
                }
                if ifc.no_rip_in {
                    return;
                }
                if !ifc.on_link(src.ip()) {
                    self.trace(format!("ignore response from {src}: not a neighbour"));
                    return;
                }
                for e in entries {
                    self.learn(now, &ifc, src.ip(), e);
                }
            }
        }
    }

    /// RFC 2453 §3.9.2 for one entry.
    fn learn(&mut self, now: Time, ifc: &IfConfig, src: IpAddr, e: &Entry) {
        let p = e.prefix;
        if p.addr().is_ipv4() != src.is_ipv4() || !p.is_routable() || self.externs.contains(&p) {
            return;
        }
        if !(1..=INFINITY).contains(&e.metric) {
            return;
        }
        let metric = e.metric.saturating_add(ifc.cost).min(INFINITY);
        let gw = e
            .next_hop
            .filter(|n| ifc.on_link(*n) && !ifc.owns(*n) && !n.is_unspecified())
            .unwrap_or(src);
        let t = self.cfg.timers;
        let fresh = Route {
            prefix: p,
            gateway: Some(gw),
            ifindex: ifc.index,
            metric,
            tag: e.tag,
            origin: Origin::Learned,
            expires: Some(now + t.expire),
            gc: None,
            changed: true,
            installed: None,
        };
        let Some(cur) = self.routes.get(&p).cloned() else {
            if self.routes.len() >= self.cfg.max_routes {
                self.trace(format!("{p}: table full, ignored"));
                return;
            }
            if metric < INFINITY {
                self.routes.insert(p, fresh);
                self.trace(format!("{p}: learned via {gw} metric {metric}"));
                self.mark(p);
                self.sync(p);
            }
            return;
        };
        if cur.origin != Origin::Learned {
            return;
        }
        if cur.gateway == Some(gw) && cur.ifindex == ifc.index {
            if metric < INFINITY {
                let changed = metric != cur.metric || cur.tag != e.tag;
                if let Some(r) = self.routes.get_mut(&p) {
                    r.expires = Some(now + t.expire);
                    r.gc = None;
                    r.metric = metric;
                    r.tag = e.tag;
                }
                if changed {
                    self.trace(format!("{p}: via {gw} now metric {metric}"));
                    self.mark(p);
                }
                self.sync(p);
            } else if cur.metric < INFINITY {
                if let Some(r) = self.routes.get_mut(&p) {
                    r.metric = INFINITY;
                    r.expires = None;
                    r.gc = Some(now + t.garbage);
                }
                self.trace(format!("{p}: unreachable via {gw}"));
                self.mark(p);
                self.sync(p);
            }
            return;
        }
        // Another router: only a better metric wins, or as good once ours
        // is half way to timing out.
        let aging = cur
            .expires
            .is_some_and(|x| x.saturating_sub(now) <= t.expire / 2);
        if metric < cur.metric || (metric == cur.metric && metric < INFINITY && aging) {
            self.routes.insert(
                p,
                Route {
                    installed: cur.installed,
                    ..fresh
                },
            );
            self.trace(format!("{p}: switched to {gw} metric {metric}"));
            self.mark(p);
            self.sync(p);
        }
    }

    /// The entries to send on `ifc`: all routes, or only changed ones,
    /// after split horizon.
    fn update_for(&self, ifc: &IfConfig, changed_only: bool) -> Vec<Entry> {
        let v6 = ifc.addrs.first().is_some_and(|(a, _)| a.is_ipv6());
        if let Some(m) = ifc.fake_default {
            if changed_only {
                return Vec::new();
            }
            return vec![Entry {
                prefix: Prefix::default_of(v6),
                metric: m.clamp(1, INFINITY),
                tag: 0,
                next_hop: None,
            }];
        }
        let mut v = Vec::new();
        for r in self.routes.values() {
            if changed_only && !r.changed {
                continue;
            }
            let mut metric = r.metric.saturating_add(ifc.out_cost).min(INFINITY);
            if r.ifindex == ifc.index {
                match (self.cfg.split_horizon, r.origin) {
                    (SplitHorizon::Off, _) => {}
                    (_, Origin::Connected) => continue,
                    (SplitHorizon::Simple, _) => continue,
                    (SplitHorizon::PoisonedReverse, _) => metric = INFINITY,
                }
            }
            v.push(Entry {
                prefix: r.prefix,
                metric,
                tag: r.tag,
                next_hop: None,
            });
        }
        if let Some(m) = self.cfg.default_metric {
            let d = Prefix::default_of(v6);
            if !changed_only && !self.routes.contains_key(&d) {
                v.push(Entry {
                    prefix: d,
                    metric: m.clamp(1, INFINITY),
                    tag: 0,
                    next_hop: None,
                });
            }
        }
        v
    }

    fn send_updates(&mut self, changed_only: bool) {
        if self.cfg.supply {
            let ifs: Vec<IfConfig> = self.ifs.values().cloned().collect();
            for ifc in ifs {
                if ifc.no_rip_out {
                    continue;
                }
                let entries = self.update_for(&ifc, changed_only);
                if entries.is_empty() {
                    continue;
                }
                self.out.push(Action::Send {
                    ifindex: ifc.index,
                    dest: Dest::Multicast,
                    msg: Message::Response(entries),
                });
            }
        }
        for r in self.routes.values_mut() {
            r.changed = false;
        }
        self.trigger_pending = false;
    }

    /// Run the timers up to `now`: time routes out, collect garbage, send
    /// the periodic and triggered updates that are due.
    pub fn poll(&mut self, now: Time) {
        let t = self.cfg.timers;
        let due: Vec<Prefix> = self
            .routes
            .values()
            .filter(|r| r.expires.is_some_and(|e| now >= e) || r.gc.is_some_and(|g| now >= g))
            .map(|r| r.prefix)
            .collect();
        for p in due {
            let Some(r) = self.routes.get_mut(&p) else {
                continue;
            };
            if r.gc.is_some_and(|g| now >= g) {
                self.trace(format!("{p}: deleted"));
                self.remove(p);
                continue;
            }
            r.metric = INFINITY;
            r.expires = None;
            r.gc = Some(now + t.garbage);
            let _ = r;
            self.trace(format!("{p}: timed out"));
            self.mark(p);
            self.sync(p);
        }
        if !self.started {
            return;
        }
        if now >= self.next_update {
            self.send_updates(false);
            self.next_update = now + t.update + self.rand_between(Duration::ZERO, t.update_jitter);
        }
        if self.trigger_pending && now >= self.trigger_ok {
            self.send_updates(true);
            self.trigger_ok = now + self.rand_between(t.trigger_min, t.trigger_max);
        }
    }

    /// When [`Router::poll`] next has something to do.
    pub fn poll_at(&self) -> Option<Time> {
        let mut at = self.started.then_some(self.next_update);
        let mut min = |x: Time| at = Some(at.map_or(x, |a: Time| a.min(x)));
        if self.started && self.trigger_pending {
            min(self.trigger_ok);
        }
        for r in self.routes.values() {
            if let Some(e) = r.expires {
                min(e);
            }
            if let Some(g) = r.gc {
                min(g);
            }
        }
        at
    }

    /// Stop: tell the neighbours every route is gone (metric 16) and take
    /// the installed routes out of the kernel.
    pub fn shutdown(&mut self, _now: Time) {
        if self.cfg.supply {
            let ifs: Vec<IfConfig> = self.ifs.values().cloned().collect();
            for ifc in ifs.iter().filter(|i| !i.no_rip_out) {
                let entries: Vec<Entry> = self
                    .routes
                    .values()
                    .map(|r| Entry {
                        prefix: r.prefix,
                        metric: INFINITY,
                        tag: r.tag,
                        next_hop: None,
                    })
                    .collect();
                if !entries.is_empty() {
                    self.out.push(Action::Send {
                        ifindex: ifc.index,
                        dest: Dest::Multicast,
                        msg: Message::Response(entries),
                    });
                }
            }
        }
        let all: Vec<Prefix> = self.routes.keys().copied().collect();
        for p in all {
            self.remove(p);
        }
        self.started = false;
    }
}

#[cfg(test)]
#[path = "router_tests.rs"]
mod tests;
