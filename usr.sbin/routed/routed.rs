//! routed(8): `routed [-sqdghmAtv] [-T tracefile] [-F net[,metric]] [-P parms]
//! [tracefile]` — RIPv2 (RFC 2453) in the caller's vimage.
//!
//! It sends RIPv2 to 224.0.0.9 on every multicast interface (subnet
//! broadcasts when the kernel has no multicast, or with `-P
//! no_rip_mcast`; RIPv1 broadcasts with `-P ripv1_out`), accepts v1 and
//! v2, and installs what it learns through the routing socket with
//! `RTF_GATEWAY|RTF_PROTO1` and the metric as hop count, so `netstat -rn`
//! shows `UG1` as in the tutorial's Demo 1 (whose Quagga zebra marked its
//! routes so); FreeBSD's own routed sets no protocol flag.  SIGTERM or
//! SIGINT withdraws its routes from the neighbours (metric 16) and from the
//! kernel, then it exits.  It daemonizes unless `-d`.
//!
//! Lab timers: `-P timescale=10` divides every timer by ten (updates every
//! 3 s, a silent neighbour's routes expire after 18 s); `-P update=S`,
//! `expire=S`, `garbage=S` set one (see `librip::parms`).  `/etc/gateways`
//! is read when present.  `-h` and `-m` (host route suppression and
//! advertisement) are accepted without effect; no router discovery is done.

use librip::io::{self, Options, RipFamily};
use librip::parms::{GatewaysLine, Parms};
use librip::router::{Config, Prefix, Timers};
use librip::wire::RIP_PORT;
use libvimage::{errx, getopt, warnx};

/// Where routed reads its gateways and parameter lines.
const GATEWAYS: &str = "/etc/gateways";

fn usage() -> ! {
    eprintln!("usage: routed [-sqdghmAtv] [-T tracefile] [-F net[,metric]] [-P parms]");
    std::process::exit(1)
}

/// `-F net[/mask][,metric]`: the network and the fake default's metric.
fn fake_default(arg: &str) -> Option<(Prefix, u8)> {
    let (net, metric) = match arg.split_once(',') {
        Some((n, m)) => (n, m.parse().ok().filter(|m| (1..16).contains(m))?),
        None => (arg, 14),
    };
    let (a, plen) = match net.split_once('/') {
        Some((a, l)) => (a, l.parse().ok().filter(|l| *l <= 32)?),
        None => (net, 32),
    };
    Some((Prefix::new(a.parse().ok()?, plen), metric))
}

/// The gateways file's lines (bad ones are reported and skipped).
fn read_gateways(opts: &mut Options) {
    let Ok(text) = std::fs::read_to_string(GATEWAYS) else {
        return;
    };
    for (n, line) in text.lines().enumerate() {
        match GatewaysLine::parse(line) {
            Ok(None) => {}
            Ok(Some(GatewaysLine::Parms(p))) => opts.parms.push(p),
            Ok(Some(g)) => opts.gateways.push(g),
            Err(e) => warnx(format!("{GATEWAYS} line {}: {e}: \"{line}\"", n + 1)),
        }
    }
}

fn main() {
    let args = getopt("sqdghmAtvT:F:P:", usage);
    let mut opts = Options {
        foreground: false,
        trace: 0,
        trace_file: None,
        supply: None,
        cfg: Config::new(RIP_PORT, Timers::rip()),
        parms: Vec::new(),
        gateways: Vec::new(),
        ignore: Vec::new(),
        no_kernel: false,
        fake_default: Vec::new(),
    };
    let mut strict_auth = false;
    for (c, arg) in &args.opts {
        match c {
            's' => opts.supply = Some(true),
            'q' => opts.supply = Some(false),
            'd' => opts.foreground = true,
            'g' => opts.cfg.default_metric = Some(1),
            'A' => strict_auth = true,
            't' => opts.trace += 1,
            'T' => opts.trace_file = Some(arg.clone()),
            'F' => match fake_default(arg) {
                Some(f) => opts.fake_default.push(f),
                None => errx(1, format!("bad \"-F {arg}\"")),
            },
            'P' => match Parms::parse(arg) {
                Ok(p) => opts.parms.push(p),
                Err(e) => errx(1, format!("{e} \"{arg}\"")),
            },
            'v' => eprintln!("routed: version 2.31 (vimage)"),
            _ => {} // -h, -m
        }
    }
    match args.operands.as_slice() {
        [] => {}
        [f] => opts.trace_file = Some(f.clone()),
        _ => usage(),
    }
    read_gateways(&mut opts);
    let global = io::global_parms(&opts.parms);
    opts.cfg.timers = global.timers(Timers::rip());
    if let Some(s) = global.split_horizon {
        opts.cfg.split_horizon = s;
    }
    let mut fam = RipFamily {
        codec: io::rip_codec(&opts.parms, strict_auth),
        broadcast: global.no_rip_mcast,
    };
    io::run(opts, &mut fam)
}
