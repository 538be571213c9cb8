//! sysctl(8): `sysctl [-bdehiNnoqx] name[=value] ...` and `sysctl [-bdehNnoqx] -a`.
//! Virtualized variables are read and written in the caller's vimage.

use libvimage::{getopt, strerror, Errno, Sys};
use vimage_abi::sysctl::{SysctlReply, SysctlValue, CTLFLAG_WR};

#[derive(Default)]
struct Opts {
    n: bool,
    big_n: bool,
    e: bool,
    d: bool,
    q: bool,
    i: bool,
    o: bool,
    x: bool,
    a: bool,
}

fn usage() -> ! {
    eprintln!("usage: sysctl [-bdehiNnoqx] name[=value] ...\n       sysctl [-bdehNnoqx] -a");
    std::process::exit(1)
}

fn main() {
    libvimage::sigpipe_default();
    let (o, names) = parse_args();
    let mut s = Sys::open_or_exit();
    let mut failures = 0;
    if o.a {
        walk(&mut s, &o, "");
    }
    for arg in &names {
        match arg.split_once('=') {
            Some((name, val)) => failures += set(&mut s, &o, name, val),
            None => failures += get(&mut s, &o, arg),
        }
    }
    std::process::exit(failures.min(1));
}

/// The options and the `name[=value]` operands.
fn parse_args() -> (Opts, Vec<String>) {
    let a = getopt("AabdehiNnoqXx", usage);
    let mut o = Opts::default();
    for (c, _) in &a.opts {
        match c {
            'n' => o.n = true,
            'N' => o.big_n = true,
            'e' => o.e = true,
            'd' => o.d = true,
            'q' => o.q = true,
            'i' => o.i = true,
            'o' => o.o = true,
            'x' => o.x = true,
            'a' | 'A' | 'X' => o.a = true,
            _ => {} // -b, -h: accepted, no effect here.
        }
    }
    if o.a != a.operands.is_empty() {
        usage();
    }
    (o, a.operands)
}

fn fmt_value(o: &Opts, v: &SysctlValue) -> Option<String> {
    Some(match v {
        SysctlValue::Int(i) if o.x => format!("{i:#x}"),
        SysctlValue::Int(i) => i.to_string(),
        SysctlValue::UInt(u) if o.x => format!("{u:#x}"),
        SysctlValue::UInt(u) => u.to_string(),
        SysctlValue::Str(s) => s.clone(),
        SysctlValue::Opaque(f, b) => {
            if !o.o && !o.x {
                return None;
            }
            let hex: String = b.iter().take(16).map(|c| format!("{c:02x}")).collect();
            format!(
                "Format:{} Length:{} Dump:0x{}{}",
                f,
                b.len(),
                hex,
                if b.len() > 16 { "..." } else { "" }
            )
        }
    })
}

fn show(o: &Opts, name: &str, r: &SysctlReply) {
    if o.big_n {
        println!("{name}");
        return;
    }
    let sep = if o.e { "=" } else { ": " };
    if o.d {
        if o.n {
            println!("{}", r.descr);
        } else {
            println!("{name}{sep}{}", r.descr);
        }
        return;
    }
    let Some(v) = fmt_value(o, &r.value) else {
        return;
    };
    if o.n {
        println!("{v}");
    } else {
        println!("{name}{sep}{v}");
    }
}

/// Print every leaf under `prefix` (all with `""`).
fn walk(s: &mut Sys, o: &Opts, prefix: &str) -> usize {
    let mut cur = prefix.to_string();
    let mut n = 0;
    let dot = format!("{prefix}.");
    while let Ok(Some(next)) = s.sysctl_next(&cur) {
        if !prefix.is_empty() && !next.starts_with(&dot) {
            break;
        }
        if let Ok(r) = s.sysctl(&next) {
            show(o, &next, &r);
            n += 1;
        }
        cur = next;
    }
    n
}

fn get(s: &mut Sys, o: &Opts, name: &str) -> i32 {
    match s.sysctl(name) {
        Ok(r) => {
            show(o, name, &r);
            0
        }
        Err(Errno::EISDIR) => {
            walk(s, o, name);
            0
        }
        Err(Errno::ENOENT) => {
            if !o.i {
                eprintln!("sysctl: unknown oid '{name}'");
                return 1;
            }
            0
        }
        Err(e) => {
            eprintln!("sysctl: {name}: {}", strerror(e));
            1
        }
    }
}

fn set(s: &mut Sys, o: &Opts, name: &str, val: &str) -> i32 {
    let old = match s.sysctl(name) {
        Ok(r) => r,
        Err(Errno::ENOENT) => {
            if o.i {
                return 0;
            }
            eprintln!("sysctl: unknown oid '{name}'");
            return 1;
        }
        Err(Errno::EISDIR) => {
            eprintln!("sysctl: oid '{name}' isn't a leaf node");
            return 1;
        }
        Err(e) => {
            eprintln!("sysctl: {name}: {}", strerror(e));
            return 1;
        }
    };
    if old.flags & CTLFLAG_WR == 0 {
        eprintln!("sysctl: oid '{name}' is read only");
        return 1;
    }
    let new = match &old.value {
        SysctlValue::Int(_) => match parse_int(val) {
            Some(i) => SysctlValue::Int(i),
            None => {
                eprintln!("sysctl: invalid integer '{val}'");
                return 1;
            }
        },
        SysctlValue::UInt(_) => match parse_int(val).and_then(|i| u64::try_from(i).ok()) {
            Some(u) => SysctlValue::UInt(u),
            None => {
                eprintln!("sysctl: invalid unsigned integer '{val}'");
                return 1;
            }
        },
        SysctlValue::Str(_) => SysctlValue::Str(val.to_string()),
        SysctlValue::Opaque(..) => {
            eprintln!("sysctl: oid '{name}' is type 5, cannot set that");
            return 1;
        }
    };
    match s.sysctl_set(name, &new) {
        Ok(prev) => {
            if o.q {
                return 0;
            }
            let now = s.sysctl(name).map(|r| r.value).unwrap_or(new);
            let (a, b) = (
                fmt_value(o, &prev.value).unwrap_or_default(),
                fmt_value(o, &now).unwrap_or_default(),
            );
            if o.n {
                println!("{a} -> {b}");
            } else {
                println!("{name}: {a} -> {b}");
            }
            0
        }
        Err(e) => {
            eprintln!("sysctl: {name}={val}: {}", strerror(e));
            1
        }
    }
}

fn parse_int(v: &str) -> Option<i64> {
    let v = v.trim();
    if let Some(h) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else {
        v.parse().ok()
    }
}
