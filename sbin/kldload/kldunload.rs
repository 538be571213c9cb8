//! kldunload(8): `kldunload [-fv] -i id ... | [-n] name ...`.

use libvimage::{getopt, strerror, Sys};

fn main() {
    libvimage::sigpipe_default();
    let a = getopt("finv", usage);
    if a.operands.is_empty() {
        usage()
    }
    let v = a.opts.iter().any(|(c, _)| *c == 'v');
    // -i: the operands are file ids; -n (the default): names.  The last wins.
    let by_id = a
        .opts
        .iter()
        .rev()
        .find(|(c, _)| matches!(c, 'i' | 'n'))
        .is_some_and(|(c, _)| *c == 'i');
    let mut s = Sys::open_or_exit();
    let mut rc = 0;
    for it in &a.operands {
        if !unload(&mut s, it, by_id, v) {
            rc = 1;
        }
    }
    std::process::exit(rc)
}

/// Unload the file `it` names (by id if `by_id`); false if that failed.
fn unload(s: &mut Sys, it: &str, by_id: bool, v: bool) -> bool {
    let id = if by_id {
        it.parse::<i32>().ok()
    } else {
        s.kldfind(it).ok()
    };
    let Some(id) = id else {
        eprintln!("kldunload: can't find file {it}");
        return false;
    };
    if v {
        println!("Unloading {it}, id={id}");
    }
    if let Err(e) = s.kldunload(id) {
        eprintln!("kldunload: can't unload file: {}", strerror(e));
        return false;
    }
    true
}

fn usage() -> ! {
    eprintln!("usage: kldunload [-fv] -i id ...\n       kldunload [-fv] [-n] name ...");
    std::process::exit(1)
}
