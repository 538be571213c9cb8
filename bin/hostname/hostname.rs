//! hostname(1): `hostname [-fs] [name-of-host]`, acting on the caller's vimage.

use libvimage::{err, Sys};
use vimage_abi::sysctl::SysctlValue;

fn usage() -> ! {
    eprintln!("usage: hostname [-fs] [name-of-host]");
    std::process::exit(1)
}

fn main() {
    let mut short = false;
    let mut name = None;
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "-s" => short = true,
            "-f" => short = false,
            "-fs" | "-sf" => short = true,
            s if s.starts_with('-') && name.is_none() => usage(),
            s => {
                if name.replace(s.to_string()).is_some() {
                    usage()
                }
            }
        }
    }
    let mut s = Sys::open_or_exit();
    match name {
        Some(n) => {
            if let Err(e) = s.sysctl_set("kern.hostname", &SysctlValue::Str(n)) {
                err(1, "sethostname", e)
            }
        }
        None => match s.sysctl("kern.hostname") {
            Ok(r) => {
                let h = match r.value {
                    SysctlValue::Str(h) => h,
                    _ => String::new(),
                };
                let h = if short {
                    h.split('.').next().unwrap_or("").to_string()
                } else {
                    h
                };
                println!("{h}");
            }
            Err(e) => err(1, "gethostname", e),
        },
    }
}
