//! hostname(1): `hostname [-fs] [name-of-host]`, acting on the caller's vimage.

use libvimage::{err, getopt, Sys};
use vimage_abi::sysctl::SysctlValue;

fn usage() -> ! {
    eprintln!("usage: hostname [-fs] [name-of-host]");
    std::process::exit(1)
}

fn main() {
    libvimage::sigpipe_default();
    let a = getopt("fs", usage);
    // The last of -f and -s wins.
    let short = a.opts.last().is_some_and(|(c, _)| *c == 's');
    let name = match a.operands.as_slice() {
        [] => None,
        [name] => Some(name.clone()),
        _ => usage(),
    };
    let mut s = Sys::open_or_exit();
    match name {
        None => println!("{}", gethostname(&mut s, short)),
        Some(n) => {
            if let Err(e) = s.sysctl_set("kern.hostname", &SysctlValue::Str(n)) {
                err(1, "sethostname", e)
            }
        }
    }
}

/// `kern.hostname`, up to its first dot if `short`.
fn gethostname(s: &mut Sys, short: bool) -> String {
    let h = match s.sysctl("kern.hostname") {
        Ok(r) => match r.value {
            SysctlValue::Str(h) => h,
            _ => String::new(),
        },
        Err(e) => err(1, "gethostname", e),
    };
    if short {
        h.split('.').next().unwrap_or("").to_string()
    } else {
        h
    }
}
