//! kldunload(8): `kldunload [-fv] -i id ... | name ...`.

use libvimage::{strerror, Sys};

fn main() {
    let mut v = false;
    let mut by_id = false;
    let mut items = Vec::new();
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "-v" => v = true,
            "-f" => {}
            "-i" => by_id = true,
            s if s.starts_with('-') => usage(),
            s => items.push(s.to_string()),
        }
    }
    if items.is_empty() {
        usage()
    }
    let mut s = Sys::open_or_exit();
    let mut rc = 0;
    for it in items {
        let id = if by_id {
            match it.parse::<i32>() {
                Ok(i) => i,
                Err(_) => {
                    eprintln!("kldunload: can't find file {it}");
                    rc = 1;
                    continue;
                }
            }
        } else {
            match s.kldfind(&it) {
                Ok(i) => i,
                Err(_) => {
                    eprintln!("kldunload: can't find file {it}");
                    rc = 1;
                    continue;
                }
            }
        };
        if v {
            println!("Unloading {it}, id={id}");
        }
        if let Err(e) = s.kldunload(id) {
            eprintln!("kldunload: can't unload file: {}", strerror(e));
            rc = 1;
        }
    }
    std::process::exit(rc)
}

fn usage() -> ! {
    eprintln!("usage: kldunload [-fv] -i id ...\n       kldunload [-fv] [-n] name ...");
    std::process::exit(1)
}
