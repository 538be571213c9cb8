//! kldsym: print kernel symbols by name, resolved in the caller's vimage (the
//! tutorial's kldsym extension for virtualized symbols, e.g. `V_ifnet`).

use libvimage::{getopt, strerror, Sys};

fn usage() -> ! {
    eprintln!("usage: kldsym symbol ...");
    std::process::exit(1)
}

fn main() {
    libvimage::sigpipe_default();
    let names = getopt("", usage).operands;
    if names.is_empty() {
        usage()
    }
    let mut s = Sys::open_or_exit();
    let mut rc = 0;
    for n in names {
        match s.kldsym(&n) {
            Ok(v) => println!("{n}: {v}"),
            Err(e) => {
                eprintln!("kldsym: {n}: {}", strerror(e));
                rc = 1;
            }
        }
    }
    std::process::exit(rc)
}
