//! kldstat(8): `kldstat [-v] [-i id] [-n filename]`.

use libvimage::{err, Sys};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut v = false;
    let mut want: Option<String> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-v" => v = true,
            "-i" | "-n" => want = it.next().cloned().or_else(|| usage()),
            _ => usage(),
        }
    }
    let mut s = Sys::open_or_exit();
    println!("Id Refs Address            Size     Name");
    let mut id = 0;
    loop {
        let st = match s.kldnext(id) {
            Ok(Some(st)) => st,
            Ok(None) => break,
            Err(e) => err(1, "kldnext", e),
        };
        id = st.id;
        if let Some(w) = &want {
            if *w != st.id.to_string() && *w != st.name && format!("{w}.ko") != st.name {
                continue;
            }
        }
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
}

fn usage() -> ! {
    eprintln!("usage: kldstat [-v] [-i id] [-n filename]");
    std::process::exit(1)
}
