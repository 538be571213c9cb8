//! route6d(8): `route6d [-adDhlnqsS] [-R routelog] [-A prefix/len,if1[,if2...]]
//! [-L prefix/len,if1[,if2...]] [-N if1[,if2...]] [-O prefix/len,if1[,if2...]]
//! [-T if1[,if2...]] [-t tag] [-P parms]` — RIPng (RFC 2080) in the
//! caller's vimage.
//!
//! Updates go to ff02::9 port 521 from link-local addresses with hop limit
//! 255 on every interface that has a link-local address (not lo0);
//! learned routes are installed with `RTF_GATEWAY|RTF_PROTO1` through the
//! neighbour's link-local address (`UG1`, `fe80::…%eth0` in `netstat -rn`).
//! SIGTERM/SIGINT withdraw them and exit.  It daemonizes unless `-d`/`-D`.
//!
//! `-h` turns split horizon off, `-n` leaves the kernel's table alone, `-q`
//! only listens, `-N` ignores interfaces, `-T` sends only a default route
//! on the interfaces named, `-R` logs to a file.  `-P parms` is this
//! implementation's, for lab timers as routed's (`-P timescale=10`).
//! `-a`, `-l`, `-s`, `-S`, `-t` are accepted; the `-A`, `-L` and `-O`
//! filters are refused (not implemented).

use librip::io::{self, Options, RipngFamily};
use librip::parms::Parms;
use librip::ripng::RIPNG_PORT;
use librip::router::{Config, SplitHorizon, Timers};
use libvimage::{errx, getopt};

fn usage() -> ! {
    eprintln!(
        "usage: route6d [-adDhlnqsS] [-R routelog] [-A prefix/len,if1[,if2...]] \
         [-L prefix/len,if1[,if2...]] [-N if1[,if2...]] [-O prefix/len,if1[,if2...]] \
         [-T if1[,if2...]] [-t tag] [-P parms]"
    );
    std::process::exit(1)
}

fn names(arg: &str) -> impl Iterator<Item = String> + '_ {
    arg.split(',').filter(|s| !s.is_empty()).map(str::to_string)
}

fn main() {
    let args = getopt("adDhlnqsSR:A:L:N:O:T:t:P:", usage);
    let mut opts = Options {
        foreground: false,
        trace: 0,
        trace_file: None,
        supply: Some(true),
        cfg: Config::new(RIPNG_PORT, Timers::ripng()),
        parms: Vec::new(),
        gateways: Vec::new(),
        ignore: Vec::new(),
        no_kernel: false,
        fake_default: Vec::new(),
    };
    let mut no_split = false;
    for (c, arg) in &args.opts {
        match c {
            'd' => {
                opts.foreground = true;
                opts.trace = opts.trace.max(1);
            }
            'D' => {
                opts.foreground = true;
                opts.trace = opts.trace.max(3);
            }
            'h' => no_split = true,
            'n' => opts.no_kernel = true,
            'q' => opts.supply = Some(false),
            'R' => opts.trace_file = Some(arg.clone()),
            'N' => opts.ignore.extend(names(arg)),
            'T' => {
                for n in names(arg) {
                    let mut p = Parms {
                        ifname: Some(n),
                        ..Parms::default()
                    };
                    p.fake_default = Some(1);
                    opts.parms.push(p);
                }
            }
            't' if arg.parse::<u16>().is_err() => errx(1, format!("invalid route tag: {arg}")),
            'A' | 'L' | 'O' => errx(1, format!("-{c}: route filters are not supported")),
            'P' => match Parms::parse(arg) {
                Ok(p) => opts.parms.push(p),
                Err(e) => errx(1, format!("{e} \"{arg}\"")),
            },
            _ => {} // -a -l -s -S
        }
    }
    if !args.operands.is_empty() {
        usage();
    }
    let global = io::global_parms(&opts.parms);
    opts.cfg.timers = global.timers(Timers::ripng());
    if let Some(s) = global.split_horizon {
        opts.cfg.split_horizon = s;
    }
    if no_split {
        opts.cfg.split_horizon = SplitHorizon::Off;
    }
    io::run(opts, &mut RipngFamily)
}
