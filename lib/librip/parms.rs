//! routed's parameter lines (`-P parms`, and the parameter lines of
//! `/etc/gateways`) and its gateways lines (`net N[/mask] gateway G metric
//! M passive|active|extern`, `host H gateway G metric M …`).
//!
//! Parameters are separated by commas or blanks.  Those of routed that this
//! implementation acts on: `if=IF` (the line applies to that interface
//! only), `passive`, `no_rip`, `no_rip_out`, `no_ripv1_in`, `no_ripv2_in`,
//! `ripv2_out`, `ripv2`, `no_rip_mcast`, `passwd=PW`, `md5_passwd=PW|ID`,
//! `fake_default=M`, `adj_inmetric=D`, `adj_outmetric=D`.  Router discovery
//! and aggregation parameters (`no_rdisc`, `rdisc_*`, `no_ag`, …) are
//! accepted and have no effect.
//!
//! Lab parameters (this implementation's; for `route6d` too): `timescale=F`
//! divides every timer by F (`timescale=10`: updates every 3 s, routes
//! expire after 18 s, garbage after 12 s); `update=S`, `expire=S`,
//! `garbage=S` set one timer in seconds (fractions allowed, after the
//! scale); `no_poison` uses plain split horizon, `no_split_horizon` none.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::router::{IfConfig, Prefix, SplitHorizon, StaticKind, Timers, INFINITY};
use crate::wire::AuthKey;
use crate::Error;

/// One parameter line, parsed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Parms {
    /// `if=`: the interface it is for (`None`: all).
    pub ifname: Option<String>,
    /// `passive`, `no_rip`, `no_rip_out`: send nothing.
    pub no_rip_out: bool,
    /// `passive`, `no_rip`, or both `no_ripv1_in` and `no_ripv2_in`.
    pub no_rip_in: bool,
    /// `no_ripv1_in`.
    pub no_ripv1_in: bool,
    /// `no_ripv2_in`.
    pub no_ripv2_in: bool,
    /// `ripv2_out` / `ripv2`: send RIPv2 (this implementation's default).
    pub ripv2_out: bool,
    /// `ripv1_out`: send RIPv1 broadcasts (this implementation's extension).
    pub ripv1_out: bool,
    /// `no_rip_mcast`: send RIPv2 as broadcasts.
    pub no_rip_mcast: bool,
    /// `passwd=` / `md5_passwd=`.
    pub auth: Option<AuthKey>,
    /// `fake_default=M`.
    pub fake_default: Option<u8>,
    /// `adj_inmetric=D`.
    pub adj_in: Option<u8>,
    /// `adj_outmetric=D`.
    pub adj_out: Option<u8>,
    /// `timescale=F`.
    pub timescale: Option<f64>,
    /// `update=S`.
    pub update: Option<f64>,
    /// `expire=S`.
    pub expire: Option<f64>,
    /// `garbage=S`.
    pub garbage: Option<f64>,
    /// `no_poison` / `no_split_horizon`.
    pub split_horizon: Option<SplitHorizon>,
}

fn num<T: std::str::FromStr>(v: Option<&str>) -> Result<T, Error> {
    v.and_then(|s| s.parse().ok()).ok_or(Error::BadParm)
}

fn secs(v: Option<&str>) -> Result<f64, Error> {
    let s: f64 = num(v)?;
    if s.is_finite() && s > 0.0 && s < 1e6 {
        Ok(s)
    } else {
        Err(Error::BadParm)
    }
}

fn metric(v: Option<&str>) -> Result<u8, Error> {
    let m: u8 = num(v)?;
    if m <= INFINITY {
        Ok(m)
    } else {
        Err(Error::BadParm)
    }
}

impl Parms {
    /// Parse one line; `Err(BadParm)` names nothing, the caller quotes the
    /// line (`routed: bad parameter "…"`).
    pub fn parse(line: &str) -> Result<Parms, Error> {
        let mut p = Parms::default();
        for tok in line
            .split(|c: char| c == ',' || c.is_ascii_whitespace())
            .filter(|t| !t.is_empty())
        {
            let (k, v) = match tok.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (tok, None),
            };
            match (k, v) {
                ("if", Some(n)) if !n.is_empty() && n.len() < 16 => p.ifname = Some(n.into()),
                ("passive" | "no_rip", None) => {
                    p.no_rip_out = true;
                    p.no_rip_in = true;
                }
                ("no_rip_out", None) => p.no_rip_out = true,
                ("no_ripv1_in", None) => p.no_ripv1_in = true,
                ("no_ripv2_in", None) => p.no_ripv2_in = true,
                ("ripv2_out", None) => p.ripv2_out = true,
                ("ripv2", None) => {
                    p.ripv2_out = true;
                    p.no_ripv1_in = true;
                }
                ("ripv1_out", None) => p.ripv1_out = true,
                ("no_rip_mcast", None) => p.no_rip_mcast = true,
                ("passwd", Some(pw)) => {
                    p.auth = Some(AuthKey::password(pw, None).map_err(|_| Error::BadParm)?)
                }
                ("md5_passwd", Some(v)) => {
                    let (pw, id) = match v.split_once('|') {
                        Some((pw, id)) => (pw, num(Some(id))?),
                        None => (v, 0u8),
                    };
                    p.auth = Some(AuthKey::password(pw, Some(id)).map_err(|_| Error::BadParm)?);
                }
                ("fake_default", v) => p.fake_default = Some(metric(v.or(Some("1")))?),
                ("adj_inmetric", v) => p.adj_in = Some(metric(v)?),
                ("adj_outmetric", v) => p.adj_out = Some(metric(v)?),
                ("timescale", v) => p.timescale = Some(secs(v)?),
                ("update", v) => p.update = Some(secs(v)?),
                ("expire", v) => p.expire = Some(secs(v)?),
                ("garbage", v) => p.garbage = Some(secs(v)?),
                ("no_poison", None) => p.split_horizon = Some(SplitHorizon::Simple),
                ("no_split_horizon", None) => p.split_horizon = Some(SplitHorizon::Off),
                (
                    "no_rdisc" | "no_solicit" | "send_solicit" | "no_ag" | "no_super_ag"
                    | "pm_rdisc" | "redirect_ok",
                    None,
                ) => {}
                ("rdisc_pref" | "rdisc_interval" | "trust_gateway" | "subnet", Some(_)) => {}
                _ => return Err(Error::BadParm),
            }
        }
        p.no_rip_in |= p.no_ripv1_in && p.no_ripv2_in;
        Ok(p)
    }

    /// Fold `other` (a later line) into `self`: what it sets wins.
    pub fn merge(&mut self, o: &Parms) {
        self.no_rip_out |= o.no_rip_out;
        self.no_rip_in |= o.no_rip_in;
        self.no_ripv1_in |= o.no_ripv1_in;
        self.no_ripv2_in |= o.no_ripv2_in;
        self.ripv2_out |= o.ripv2_out;
        self.ripv1_out |= o.ripv1_out;
        self.no_rip_mcast |= o.no_rip_mcast;
        macro_rules! take {
            ($($f:ident),*) => { $( if o.$f.is_some() { self.$f = o.$f.clone(); } )* };
        }
        take!(
            auth,
            fake_default,
            adj_in,
            adj_out,
            timescale,
            update,
            expire,
            garbage,
            split_horizon
        );
    }

    /// The timers `base` becomes under these parameters.
    pub fn timers(&self, base: Timers) -> Timers {
        let mut t = base.scaled(self.timescale.unwrap_or(1.0));
        if let Some(u) = self.update {
            t.update = Duration::from_secs_f64(u);
            t.update_jitter = t.update.min(t.update_jitter);
        }
        if let Some(e) = self.expire {
            t.expire = Duration::from_secs_f64(e);
        }
        if let Some(g) = self.garbage {
            t.garbage = Duration::from_secs_f64(g);
        }
        t
    }

    /// Apply the per-interface parameters to `ifc`.
    pub fn apply(&self, ifc: &mut IfConfig) {
        ifc.no_rip_out |= self.no_rip_out;
        ifc.no_rip_in |= self.no_rip_in;
        if let Some(m) = self.fake_default {
            ifc.fake_default = Some(m);
        }
        if let Some(d) = self.adj_in {
            ifc.cost = ifc.cost.saturating_add(d).min(INFINITY);
        }
        if let Some(d) = self.adj_out {
            ifc.out_cost = d;
        }
    }
}

/// A line of `/etc/gateways`.
#[derive(Clone, Debug, PartialEq)]
pub enum GatewaysLine {
    /// `net`/`host` … `gateway` … `metric` … kind.
    Route {
        /// Destination.
        prefix: Prefix,
        /// Gateway.
        gateway: IpAddr,
        /// Metric.
        metric: u8,
        /// passive, active or extern.
        kind: StaticKind,
    },
    /// A parameter line.
    Parms(Parms),
}

/// The classful mask length of an IPv4 network (RIPv1's rule).
pub fn classful_plen(a: Ipv4Addr) -> u8 {
    match a.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    }
}

impl GatewaysLine {
    /// Parse a line; `Ok(None)` for blank lines and `#` comments.
    pub fn parse(line: &str) -> Result<Option<GatewaysLine>, Error> {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            return Ok(None);
        }
        let w: Vec<&str> = l.split_ascii_whitespace().collect();
        if !matches!(w[0], "net" | "host") {
            return Parms::parse(l).map(|p| Some(GatewaysLine::Parms(p)));
        }
        if w.len() != 7 || w[2] != "gateway" || w[4] != "metric" {
            return Err(Error::BadParm);
        }
        let (a, plen) = match w[1].split_once('/') {
            Some((a, m)) => (a, Some(num::<u8>(Some(m))?)),
            None => (w[1], None),
        };
        let addr: Ipv4Addr = if a == "default" {
            Ipv4Addr::UNSPECIFIED
        } else {
            a.parse().map_err(|_| Error::BadParm)?
        };
        let plen = match (w[0], plen) {
            ("host", None) => 32,
            ("host", Some(_)) => return Err(Error::BadParm),
            (_, Some(l)) if l <= 32 => l,
            (_, Some(_)) => return Err(Error::BadParm),
            (_, None) if addr.is_unspecified() => 0,
            (_, None) => classful_plen(addr),
        };
        let gateway: Ipv4Addr = w[3].parse().map_err(|_| Error::BadParm)?;
        let metric = metric(Some(w[5]))?;
        if metric == 0 || metric >= INFINITY {
            return Err(Error::BadMetric);
        }
        let kind = match w[6] {
            "passive" => StaticKind::Passive,
            "active" => StaticKind::Active,
            "extern" | "external" => StaticKind::Extern,
            _ => return Err(Error::BadParm),
        };
        Ok(Some(GatewaysLine::Route {
            prefix: Prefix::new(IpAddr::V4(addr), plen),
            gateway: IpAddr::V4(gateway),
            metric,
            kind,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_lines() {
        let p = Parms::parse("if=eth0,passive").unwrap();
        assert_eq!(p.ifname.as_deref(), Some("eth0"));
        assert!(p.no_rip_in && p.no_rip_out);
        let p = Parms::parse("ripv2 passwd=secret no_rdisc").unwrap();
        assert!(p.ripv2_out && p.no_ripv1_in && !p.no_rip_in);
        assert_eq!(p.auth, Some(AuthKey::password("secret", None).unwrap()));
        let p = Parms::parse("md5_passwd=k|7").unwrap();
        assert_eq!(p.auth, Some(AuthKey::password("k", Some(7)).unwrap()));
        for bad in [
            "bogus",
            "passwd=12345678901234567",
            "fake_default=17",
            "timescale=0",
            "timescale=x",
            "passive=1",
            "if=",
        ] {
            assert_eq!(Parms::parse(bad), Err(Error::BadParm), "{bad}");
        }
    }

    #[test]
    fn lab_timers() {
        let p = Parms::parse("timescale=10").unwrap();
        let t = p.timers(Timers::rip());
        assert_eq!(t.update, Duration::from_secs(3));
        assert_eq!(t.expire, Duration::from_secs(18));
        assert_eq!(t.garbage, Duration::from_secs(12));
        let mut p = Parms::parse("update=2").unwrap();
        p.merge(&Parms::parse("expire=7.5,garbage=3,no_poison").unwrap());
        let t = p.timers(Timers::rip());
        assert_eq!(t.update, Duration::from_secs(2));
        assert_eq!(t.update_jitter, Duration::from_secs(2));
        assert_eq!(t.expire, Duration::from_millis(7500));
        assert_eq!(p.split_horizon, Some(SplitHorizon::Simple));
    }

    #[test]
    fn per_interface_parameters() {
        let mut i = IfConfig::new(1, "eth0", vec![]);
        Parms::parse("adj_inmetric=2,adj_outmetric=3,fake_default=14")
            .unwrap()
            .apply(&mut i);
        assert_eq!((i.cost, i.out_cost, i.fake_default), (3, 3, Some(14)));
    }

    #[test]
    fn gateways_lines() {
        let v4 = |s: &str| IpAddr::V4(s.parse().unwrap());
        assert_eq!(GatewaysLine::parse("  # comment").unwrap(), None);
        assert_eq!(GatewaysLine::parse("").unwrap(), None);
        assert_eq!(
            GatewaysLine::parse("net 10.2.0.0/16 gateway 10.0.0.9 metric 2 passive").unwrap(),
            Some(GatewaysLine::Route {
                prefix: Prefix::new(v4("10.2.0.0"), 16),
                gateway: v4("10.0.0.9"),
                metric: 2,
                kind: StaticKind::Passive
            })
        );
        let Some(GatewaysLine::Route { prefix, kind, .. }) =
            GatewaysLine::parse("host 192.168.1.5 gateway 10.0.0.9 metric 1 extern").unwrap()
        else {
            panic!()
        };
        assert_eq!((prefix.plen(), kind), (32, StaticKind::Extern));
        let Some(GatewaysLine::Route { prefix, .. }) =
            GatewaysLine::parse("net 172.16.0.0 gateway 10.0.0.9 metric 1 active").unwrap()
        else {
            panic!()
        };
        assert_eq!(prefix.plen(), 16);
        assert!(matches!(
            GatewaysLine::parse("if=eth1 no_rip_out"),
            Ok(Some(GatewaysLine::Parms(_)))
        ));
        for bad in [
            "net 10.0.0.0/33 gateway 10.0.0.9 metric 1 passive",
            "net 10.0.0.0 gateway 10.0.0.9 metric 16 passive",
            "net 10.0.0.0 gateway 10.0.0.9 metric 1 sometimes",
            "net 10.0.0.0 gateway nowhere metric 1 passive",
            "net 10.0.0.0 via 10.0.0.9 metric 1 passive",
            "host 10.0.0.1/24 gateway 10.0.0.9 metric 1 passive",
        ] {
            assert!(GatewaysLine::parse(bad).is_err(), "{bad}");
        }
    }
}
