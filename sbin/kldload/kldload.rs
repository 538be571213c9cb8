//! kldload(8): `kldload [-nqv] file ...`.

use libvimage::{getopt, strerror, Errno, Sys};

fn main() {
    libvimage::sigpipe_default();
    let a = getopt("nqv", usage);
    let has = |l: char| a.opts.iter().any(|(c, _)| *c == l);
    let (n, q, v) = (has('n'), has('q'), has('v'));
    if a.operands.is_empty() {
        usage()
    }
    let mut s = Sys::open_or_exit();
    let mut rc = 0;
    for f in &a.operands {
        // -n: one already loaded is left alone.
        if n && s.kldfind(f).is_ok() {
            continue;
        }
        if !load(&mut s, f, q, v) {
            rc = 1;
        }
    }
    std::process::exit(rc)
}

/// Load `f`; false if that failed (said unless `-q` and already loaded).
fn load(s: &mut Sys, f: &str, q: bool, v: bool) -> bool {
    match s.kldload(f) {
        Ok(id) => {
            if v {
                println!("Loaded {f}, id={id}");
            }
            true
        }
        Err(e) => {
            if !(q && e == Errno::EEXIST) {
                eprintln!("kldload: can't load {f}: {}", strerror(e));
            }
            false
        }
    }
}

fn usage() -> ! {
    eprintln!("usage: kldload [-nqv] file ...");
    std::process::exit(1)
}
