//! kldload(8): `kldload [-nqv] file ...`.

use libvimage::{strerror, Errno, Sys};

fn main() {
    let (mut q, mut v, mut n) = (false, false, false);
    let mut files = Vec::new();
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "-q" => q = true,
            "-v" => v = true,
            "-n" => n = true,
            s if s.starts_with('-') => usage(),
            s => files.push(s.to_string()),
        }
    }
    if files.is_empty() {
        usage()
    }
    let mut s = Sys::open_or_exit();
    let mut rc = 0;
    for f in files {
        if n && s.kldfind(&f).is_ok() {
            continue;
        }
        match s.kldload(&f) {
            Ok(id) => {
                if v {
                    println!("Loaded {f}, id={id}");
                }
            }
            Err(e) => {
                if !(q && e == Errno::EEXIST) {
                    eprintln!("kldload: can't load {f}: {}", strerror(e));
                }
                rc = 1;
            }
        }
    }
    std::process::exit(rc)
}

fn usage() -> ! {
    eprintln!("usage: kldload [-nqv] file ...");
    std::process::exit(1)
}
