//! kldstat(8): `kldstat [-v] [-i id] [-n filename]`.
//!
//! With `-i` or `-n` one file is shown; a file that is not loaded is an error
//! (`kldstat: can't stat file id 99999: No such file or directory`, exit 1), as
//! FreeBSD's.

use libvimage::{err, Errno, Sys};
use vimage_abi::syscall::KldStat;

/// Which files to show.
enum Want {
    All,
    Id(i32),
    Name(String),
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut v = false;
    let mut want = Want::All;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-v" => v = true,
            // atoi(3), as FreeBSD 7's kldstat: junk reads as 0 (every file).
            "-i" => want = Want::Id(atoi(it.next().unwrap_or_else(|| usage()))),
            "-n" => want = Want::Name(it.next().cloned().unwrap_or_else(|| usage())),
            _ => usage(),
        }
    }
    let mut s = Sys::open_or_exit();
    let one = match want {
        Want::All | Want::Id(0) => None,
        Want::Id(id) => Some(id),
        Want::Name(n) => Some(
            s.kldfind(&n)
                .unwrap_or_else(|e| err(1, format!("can't find file {n}"), e)),
        ),
    };
    println!("Id Refs Address            Size     Name");
    if let Some(id) = one {
        let st =
            kldstat(&mut s, id).unwrap_or_else(|e| err(1, format!("can't stat file id {id}"), e));
        print(&st, v);
        return;
    }
    let mut id = 0;
    loop {
        let st = match s.kldnext(id) {
            Ok(Some(st)) => st,
            Ok(None) => break,
            Err(e) => err(1, "kldnext", e),
        };
        id = st.id;
        print(&st, v);
    }
}

/// `kldstat(2)` of file `id`: the file after `id - 1`, if it is `id`.
fn kldstat(s: &mut Sys, id: i32) -> Result<KldStat, Errno> {
    if id < 0 {
        return Err(Errno::ENOENT);
    }
    match s.kldnext(id - 1)? {
        Some(st) if st.id == id => Ok(st),
        _ => Err(Errno::ENOENT),
    }
}

fn print(st: &KldStat, v: bool) {
    println!(
        "{:2} {:4} {:#018x} {:<8x} {}",
        st.id, st.refs, st.address, st.size, st.name
    );
    if v {
        println!("\tContains modules:");
        println!("\t\tId Name");
        for (mid, m) in &st.modules {
            println!("\t\t{mid:2} {m}");
        }
    }
}

/// `atoi(3)`: leading blanks, an optional sign, then digits; anything else ends it.
fn atoi(s: &str) -> i32 {
    let t = s.trim_start();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut n: i64 = 0;
    for c in t.bytes().take_while(u8::is_ascii_digit) {
        n = (n * 10 + i64::from(c - b'0')).min(i64::from(i32::MAX) + 1);
    }
    let n = if neg { -n } else { n };
    n.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

fn usage() -> ! {
    eprintln!("usage: kldstat [-v] [-i id] [-n filename]");
    std::process::exit(1)
}
