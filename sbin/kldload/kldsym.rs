//! kldsym: print kernel symbols by name, resolved in the caller's vimage (the
//! tutorial's kldsym extension for virtualized symbols, e.g. `V_ifnet`).

use libvimage::{strerror, Sys};

fn main() {
    let names: Vec<String> = std::env::args().skip(1).collect();
    if names.is_empty() || names.iter().any(|n| n.starts_with('-')) {
        eprintln!("usage: kldsym symbol ...");
        std::process::exit(1);
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
