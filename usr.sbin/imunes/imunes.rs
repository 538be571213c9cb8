//! imunes(1) in batch mode: `imunes -b [-e ID] FILE.imn` builds a topology
//! and prints its experiment id; `imunes -b -e ID` tears it down.
//!
//! `IMUNES_RIP_PARMS` (e.g. `timescale=10`, lab timers) is passed to every
//! routed and route6d as `-P`.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

use imunes::builder::{self, Options, Progress};
use imunes::state;
use libvimage::getopt::Getopt;

fn usage() -> ! {
    eprintln!("usage: imunes -b [-e eid] filename.imn\n       imunes -b -e eid");
    std::process::exit(1)
}

/// Seconds as Tcl prints a double (`1.0`, `1.234`).
fn tcl_secs(t: f64) -> String {
    let s = format!("{t:.3}");
    let s = s.trim_end_matches('0');
    if s.ends_with('.') {
        format!("{s}0")
    } else {
        s.to_string()
    }
}

/// `Thu Dec 03 10:51:00 UTC 2026`.
fn timestamp() -> String {
    // SAFETY: time and gmtime_r on our own buffers.
    let tm = unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        libc::gmtime_r(&t, &mut tm);
        tm
    };
    const D: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const M: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        D[tm.tm_wday.clamp(0, 6) as usize],
        M[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        tm.tm_year + 1900
    )
}

/// A fresh experiment id: `i` and four hex digits, not in use.
fn new_eid() -> String {
    let mut x = std::process::id() as u64 ^ (Instant::now().elapsed().as_nanos() as u64);
    let used = state::experiments();
    // SAFETY: time has no preconditions.
    x ^= unsafe { libc::time(std::ptr::null_mut()) } as u64;
    loop {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let e = format!("i{:04x}", (x >> 33) & 0xffff);
        if !used.contains(&e) {
            return e;
        }
    }
}

fn main() {
    libvimage::sigpipe_default();
    // IMUNES's long options as getopt letters.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .map(|a| match a.as_str() {
            "-eid" | "--eid" => "-e".into(),
            "--batch" => "-b".into(),
            _ => a,
        })
        .collect();
    let a = Getopt::new("be:").parse_or_usage(&args, usage);
    let batch = a.opts.iter().any(|(c, _)| *c == 'b');
    let eid = a
        .opts
        .iter()
        .rev()
        .find(|(c, _)| *c == 'e')
        .map(|(_, v)| v.clone());
    if !batch {
        libvimage::errx(1, "only batch mode (-b) is available here")
    }
    match (a.operands.as_slice(), eid) {
        ([], Some(e)) => terminate(&e),
        ([file], e) => start(file, e),
        _ => usage(),
    }
}

fn terminate(eid: &str) {
    if !builder::valid_eid(eid) {
        eprintln!("Experiment ID should only consists of alphanumeric characters.");
        std::process::exit(1)
    }
    if let Err(e) = state::check_rundir() {
        libvimage::errx(1, e)
    }
    let Some(st) = state::load(eid) else {
        libvimage::errx(1, format!("Experiment ID {eid} is not running"))
    };
    let t0 = Instant::now();
    println!("Terminating experiment with experiment id: {eid}.");
    let left = builder::teardown(&st);
    for l in &left {
        libvimage::warnx(l);
    }
    if let Err(e) = state::remove(eid) {
        libvimage::warnx(format!("{}: {e}", state::exp_dir(eid).display()));
    }
    println!(
        "Cleanup completed in {} seconds.",
        tcl_secs(t0.elapsed().as_secs_f64())
    );
    println!("Terminated experiment ID = {eid}");
    if !left.is_empty() {
        std::process::exit(1)
    }
}

fn start(file: &str, eid: Option<String>) {
    if !file.ends_with(".imn") {
        eprintln!("File '{file}' is not an IMUNES .imn file");
        std::process::exit(1)
    }
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("Error: file '{file}' doesn't exist");
            std::process::exit(1)
        }
        Err(e) => libvimage::errx(1, format!("{file}: {e}")),
    };
    let topo = match imunes::parse_bytes(&bytes) {
        Ok(t) => t,
        Err(e) => libvimage::errx(1, format!("{file}:{}: {e}", e.line)),
    };
    for (line, w) in &topo.warnings {
        libvimage::warnx(format!("{file}:{line}: warning: {w}"));
    }
    let mut eid = match eid {
        Some(e) => {
            println!("Using experiment ID '{e}'.");
            if !builder::valid_eid(&e) {
                eprintln!("Experiment ID should only consists of alphanumeric characters.");
                std::process::exit(1)
            }
            e
        }
        None => new_eid(),
    };
    // Names are checked before anything is made.
    if let Err(e) = builder::plan(&topo, &eid) {
        libvimage::errx(1, format!("{file}: {e}"))
    }
    // An experiment of that id left by a kernel since restarted is gone
    // but for its files (and any process of it still running).
    if let Some(st) = state::load(&eid).filter(|s| s.is_stale()) {
        let _ = builder::teardown(&st);
        let _ = state::remove(&eid);
    }
    let mut w = loop {
        match state::Writer::create(&eid) {
            Ok(w) => break w,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let n = new_eid();
                eprintln!("Experiment ID {eid} already in use, trying {n}.");
                eid = n;
            }
            Err(e) => libvimage::errx(1, format!("{}: {e}", state::exp_dir(&eid).display())),
        }
    };
    let dir = state::exp_dir(&eid);
    let _ = std::fs::write(dir.join("config.imn"), &bytes);
    let name = Path::new(file)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let _ = w.record(&state::Record::Eid(eid.clone()));
    if let Some(k) = state::kernel_instance() {
        let _ = w.record(&state::Record::Kernel(k));
    }
    let _ = w.record(&state::Record::Name(name));
    let _ = w.record(&state::Record::Timestamp(timestamp()));
    let bindir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let o = Options {
        eid: eid.clone(),
        bindir,
        rip_parms: std::env::var("IMUNES_RIP_PARMS")
            .ok()
            .filter(|s| !s.is_empty()),
    };
    if topo.format == imunes::topo::Format::Legacy {
        println!("Loading legacy .imn configuration...");
    }
    let t0 = Instant::now();
    let tty = std::io::stdout().is_terminal();
    let mut in_phase = false;
    let mut progress = |p: Progress| {
        let mut out = std::io::stdout();
        match p {
            Progress::Phase(s) => {
                if in_phase {
                    let _ = writeln!(out, "{}100.0%", if tty { "\r" } else { "" });
                }
                let _ = writeln!(out, "{s}");
                in_phase = true;
            }
            Progress::Step(k, n) if tty && n > 0 => {
                let _ = write!(out, "\r{:.1}%", 100.0 * k as f64 / n as f64);
                let _ = out.flush();
            }
            Progress::Step(..) => {}
            Progress::Warn(s) => libvimage::warnx(s),
        }
    };
    let r = builder::build(&topo, &o, &mut w, &mut progress);
    drop(w);
    if let Err(e) = r {
        println!();
        libvimage::warnx(format!("{file}: {e}"));
        // Nothing half-built is left: undo what the state file records.
        if let Some(st) = state::load(&eid) {
            for l in builder::teardown(&st) {
                libvimage::warnx(l);
            }
        }
        let _ = state::remove(&eid);
        std::process::exit(1)
    }
    let (n, l) = topo.counts();
    println!(
        "Network topology instantiated in {} seconds ({n} nodes and {l} links).",
        tcl_secs(t0.elapsed().as_secs_f64())
    );
    println!("Experiment ID = {eid}");
}
