//! himage(1): run a command in a node of a running experiment, found by its
//! hostname.
//!
//! ```text
//! himage [-nt] [-b] NODE[@EID] [command ...]   run (default: a shell)
//! himage -v NODE[@EID]                         the node's vimage (e0_n1)
//! himage -e NODE[@EID]                         its experiment id
//! himage -n NODE[@EID]                         its node id (n1)
//! himage -l                                    EID [NAME - TIMESTAMP] per experiment
//! himage -ln                                   EID [host, host, ...]
//! ```
//!
//! The command runs as `vimage VIMAGE command …` (our vimage(8), from the
//! directory himage is in), marked as the experiment's so that `imunes -b -e
//! EID` ends it.

use std::os::unix::process::CommandExt;
use std::path::Path;

use imunes::builder::MARK;
use imunes::state::{self, FindError};
use libvimage::getopt::Getopt;

fn usage() -> ! {
    eprintln!(
        "usage: himage [-nt] [-b] node[@eid] [command ...]\n       himage -v | -e | -n node[@eid]\n       himage -l | -ln"
    );
    std::process::exit(1)
}

fn main() {
    libvimage::sigpipe_default();
    // IMUNES's multi-letter options as getopt letters: -nt and -b are
    // accepted and ignored (scripts pass them), -ln is L.
    let mut args: Vec<String> = Vec::new();
    let mut opts_done = false;
    for a in std::env::args().skip(1) {
        if !opts_done && !a.starts_with('-') {
            opts_done = true;
        }
        if opts_done {
            args.push(a);
            continue;
        }
        match a.as_str() {
            "-nt" => args.push("-b".into()),
            "-ln" => args.push("-L".into()),
            _ => args.push(a),
        }
    }
    let a = Getopt::new("blLvendmE").parse_or_usage(&args, usage);
    let mut mode = None;
    for (c, _) in &a.opts {
        match c {
            'b' => {}
            'd' | 'm' | 'E' => libvimage::errx(
                1,
                format!("-{c}: not available (nodes have no root of their own here)"),
            ),
            c => {
                if mode.is_some() {
                    usage()
                }
                mode = Some(*c)
            }
        }
    }
    match mode {
        Some('l') | Some('L') => {
            if !a.operands.is_empty() {
                usage()
            }
            list(mode == Some('L'))
        }
        _ => {}
    }
    let Some((target, cmd)) = a.operands.split_first() else {
        usage()
    };
    let (host, eid) = match target.split_once('@') {
        Some((h, e)) => (h, Some(e)),
        None => (target.as_str(), None),
    };
    let (st, node) = match state::find_node(host, eid, Some("vimage")) {
        Ok(x) => x,
        Err(FindError::NotFound) => {
            eprintln!("Error: cannot find node named {host}");
            std::process::exit(2)
        }
        Err(FindError::NotUnique) => {
            eprintln!("Error: {host} is not a unique name.");
            std::process::exit(1)
        }
    };
    match mode {
        Some('v') => return println!("{}", node.object),
        Some('e') => return println!("{}", st.eid),
        Some('n') => return println!("{}", node.id),
        _ => {}
    }
    let bindir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let e = std::process::Command::new(bindir.join("vimage"))
        .arg(&node.object)
        .args(cmd)
        .env(MARK, state::exp_dir(&st.eid))
        .exec();
    libvimage::errx(1, format!("{}: {e}", bindir.join("vimage").display()))
}

fn list(hosts: bool) -> ! {
    for e in state::experiments() {
        let Some(st) = state::load(&e) else { continue };
        if hosts {
            let h: Vec<&str> = st
                .nodes
                .iter()
                .filter(|n| n.kind == "vimage")
                .map(|n| n.hostname.as_str())
                .collect();
            println!("{e} [{}]", h.join(", "));
        } else {
            println!("{e} [{} - {}]", st.name, st.timestamp);
        }
    }
    std::process::exit(0)
}
