//! vlink(1): show or change a link of a running experiment.
//!
//! ```text
//! vlink [-bw N[K|M|G|T]] [-dly N[us|ms|s]] [-BER N] [-dup N[%]] [-r] [-e EID] NAME1:NAME2[@EID]
//! vlink -s NAME1:NAME2[@EID]      the settings applied
//! vlink -l [-e EID]               the links of each experiment
//! ```
//!
//! `-b`, `-d`, `-B`, `-D` are the short forms.  A value of 0 turns the
//! setting off.  `-BER 1` loses every frame: the link is down; `-BER 0`
//! brings it back.  The link's pipe gets `setcfg` with the new settings.

use imunes::builder;
use imunes::state::{self, LinkState, Record, State};
use imunes::topo::LinkParams;
use libvimage::getopt::Getopt;

fn usage() -> ! {
    eprintln!(
        "usage: vlink [-bw bandwidth] [-dly delay] [-BER ber] [-dup percent] [-r] [-e eid] node1:node2[@eid]\n       vlink -s node1:node2[@eid]\n       vlink -l [-e eid]"
    );
    std::process::exit(1)
}

/// `N[K|M|G|T]` bit/s.
fn bandwidth(s: &str) -> Option<u64> {
    let (n, m) = match s.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (&s[..i], &s[i..]),
        None => (s, ""),
    };
    let mult = match m {
        "" => 1,
        "K" | "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        _ => return None,
    };
    n.parse::<u64>().ok()?.checked_mul(mult)
}

/// `N[us|ms|s]` in µs.
fn delay(s: &str) -> Option<u64> {
    let (n, mult) = if let Some(n) = s.strip_suffix("us") {
        (n, 1)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1_000)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1_000_000)
    } else {
        (s, 1)
    };
    n.parse::<u64>().ok()?.checked_mul(mult)
}

/// A number without its trailing zeros (`2.048`, `10`).
fn short(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn show_bw(b: u64) -> String {
    for (d, u) in [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")] {
        if b as f64 >= d {
            return format!("{}{u}bps", short(b as f64 / d));
        }
    }
    format!("{b}bps")
}

fn show_delay(d: u64) -> String {
    if d >= 1_000_000 {
        format!("{}s", short(d as f64 / 1e6))
    } else if d >= 1000 {
        format!("{}ms", short(d as f64 / 1e3))
    } else {
        format!("{d}us")
    }
}

fn main() {
    libvimage::sigpipe_default();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .map(|a| match a.as_str() {
            "-bw" => "-b".into(),
            "-dly" => "-d".into(),
            "-BER" => "-B".into(),
            "-dup" => "-D".into(),
            "-loss" => "-L".into(),
            "-eid" => "-e".into(),
            _ => a,
        })
        .collect();
    let a = Getopt::new("b:d:B:D:L:rsle:").parse_or_usage(&args, usage);
    let mut set = LinkParams::default();
    let mut given = [false; 4];
    let (mut reset, mut show, mut list) = (false, false, false);
    let mut eid: Option<String> = None;
    for (c, v) in &a.opts {
        let bad = || -> ! { libvimage::errx(1, format!("-{c}: bad value '{v}'")) };
        match c {
            'b' => {
                set.bandwidth = bandwidth(v).unwrap_or_else(|| bad());
                given[0] = true;
            }
            'd' => {
                set.delay = delay(v).unwrap_or_else(|| bad());
                given[1] = true;
            }
            'B' => {
                set.ber = v.parse().unwrap_or_else(|_| bad());
                given[2] = true;
            }
            'D' => {
                let p: u32 = v
                    .trim_end_matches('%')
                    .parse()
                    .ok()
                    .filter(|p| *p <= 50)
                    .unwrap_or_else(|| bad());
                set.duplicate = p;
                given[3] = true;
            }
            'L' => libvimage::errx(1, "-loss: only IMUNES on Linux emulates loss; use -BER"),
            'r' => reset = true,
            's' => show = true,
            'l' => list = true,
            'e' => eid = Some(v.clone()),
            _ => usage(),
        }
    }
    if list {
        if !a.operands.is_empty() {
            usage()
        }
        let exps = match &eid {
            Some(e) => vec![e.clone()],
            None => state::experiments(),
        };
        for e in exps {
            let Some(st) = state::load(&e) else { continue };
            let names: Vec<String> = st
                .links
                .iter()
                .map(|l| format!("{}:{}", host(&st, &l.a), host(&st, &l.b)))
                .collect();
            println!("{e} ({})", names.join(" "));
        }
        return;
    }
    let [target] = a.operands.as_slice() else {
        usage()
    };
    let (pair, at) = match target.split_once('@') {
        Some((p, e)) => (p, Some(e.to_string())),
        None => (target.as_str(), eid),
    };
    let Some((h1, h2)) = pair.split_once(':') else {
        usage()
    };
    let (st, link) = find_link(h1, h2, at.as_deref());
    if show {
        println!("{h1}:{h2}@{}:", st.eid);
        let p = &link.params;
        if *p == LinkParams::default() {
            println!("\tNo currently applied settings.");
        }
        if p.bandwidth != 0 {
            println!("\tbandwidth {}", show_bw(p.bandwidth));
        }
        if p.delay != 0 {
            println!("\tdelay {}", show_delay(p.delay));
        }
        if p.ber != 0 {
            println!("\tBER {}", p.ber);
        }
        if p.duplicate != 0 {
            println!("\tduplicate {}%", p.duplicate);
        }
        return;
    }
    if !reset && !given.iter().any(|g| *g) {
        eprintln!("No link options were specified.");
        std::process::exit(1)
    }
    let Some(pipe) = &link.pipe else {
        libvimage::errx(
            1,
            format!("{h1}:{h2}: a direct link has no settings to change"),
        )
    };
    let mut p = if reset {
        LinkParams::default()
    } else {
        link.params
    };
    if given[0] {
        p.bandwidth = set.bandwidth;
    }
    if given[1] {
        p.delay = set.delay;
    }
    if given[2] {
        p.ber = set.ber;
    }
    if given[3] {
        p.duplicate = set.duplicate;
    }
    if let Err(e) = builder::set_link(pipe, &p) {
        libvimage::errx(1, e)
    }
    let rec = Record::Link(LinkState { params: p, ..link });
    if let Err(e) = state::Writer::open(&st.eid).and_then(|mut w| w.record(&rec)) {
        libvimage::warnx(format!("state of {}: {e}", st.eid));
    }
}

fn host<'a>(st: &'a State, id: &'a str) -> &'a str {
    st.nodes
        .iter()
        .find(|n| n.id == id)
        .map(|n| n.hostname.as_str())
        .unwrap_or(id)
}

/// The link between the nodes named `h1` and `h2` (either order).
fn find_link(h1: &str, h2: &str, eid: Option<&str>) -> (State, LinkState) {
    let exps = match eid {
        Some(e) => vec![e.to_string()],
        None => state::experiments(),
    };
    let mut found = Vec::new();
    for e in exps {
        let Some(st) = state::load(&e) else { continue };
        for l in &st.links {
            let (a, b) = (host(&st, &l.a), host(&st, &l.b));
            if (a == h1 && b == h2) || (a == h2 && b == h1) {
                found.push((st.clone(), l.clone()));
            }
        }
    }
    match found.len() {
        0 => libvimage::errx(1, format!("{h1}:{h2}: no such link")),
        1 => found.remove(0),
        _ => libvimage::errx(
            1,
            format!("{h1}:{h2}: not a unique link (name the experiment with @EID)"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(bandwidth("2048000"), Some(2_048_000));
        assert_eq!(bandwidth("10M"), Some(10_000_000));
        assert_eq!(bandwidth("1x"), None);
        assert_eq!(delay("10ms"), Some(10_000));
        assert_eq!(delay("5"), Some(5));
        assert_eq!(delay("2s"), Some(2_000_000));
        assert_eq!(show_bw(2_048_000), "2.048Mbps");
        assert_eq!(show_delay(10_000), "10ms");
        assert_eq!(show_delay(500), "500us");
    }
}
