//! kldstat(8): `kldstat [-v] [-i id] [-n filename]`.
//!
//! With `-i` or `-n` one file is shown; a file that is not loaded is an error
//! (`kldstat: can't stat file id 99999: No such file or directory`, exit 1), as
//! FreeBSD's.

use libvimage::{atoi, err, getopt, Errno, Sys};
use vimage_abi::syscall::KldStat;

/// Which files to show.
enum Want {
    All,
    Id(i32),
    Name(String),
}

fn main() {
    libvimage::sigpipe_default();
    let a = getopt("i:n:v", usage);
    if !a.operands.is_empty() {
        usage()
    }
    let mut v = false;
    let mut want = Want::All;
    for (c, arg) in a.opts {
        match c {
            // atoi(3), as FreeBSD 7's kldstat: junk reads as 0 (every file).
            'i' => want = Want::Id(atoi(&arg)),
            'n' => want = Want::Name(arg),
            _ => v = true,
        }
    }
    let mut s = Sys::open_or_exit();
    show(&mut s, want, v)
}

/// Print the header and the files `want` picks.
fn show(s: &mut Sys, want: Want, v: bool) {
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
        let st = kldstat(s, id).unwrap_or_else(|e| err(1, format!("can't stat file id {id}"), e));
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

fn usage() -> ! {
    eprintln!("usage: kldstat [-v] [-i id] [-n filename]");
    std::process::exit(1)
}
