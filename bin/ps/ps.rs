//! ps(1): `ps [-acjlwx] [-o fmt] [-p pid[,pid]]`, the processes of the
//! caller's vimage as the kernel sees them (`kern.proc.all`): inside a
//! vimage its own processes and those of the vimages below it, in default
//! the whole host.  As on FreeBSD, options may come without a dash
//! (`ps ax`), the default format is `pid,tt,state,time,command`, and rows
//! are sorted by terminal (none first), then pid.

use libvimage::{err, errx, getopt::Getopt, Sys};
use vimage_abi::sysctl::SysctlValue;
use vimage_abi::user::{KinfoProc, KERN_PROC_ALL};

fn usage() -> ! {
    eprintln!("usage: ps [-acjlwx] [-O|o fmt] [-p pid[,pid]] [-U user]");
    std::process::exit(1)
}

/// What the command line asked for.
#[derive(Debug, Default)]
struct Opts {
    /// `-a`: other users' processes too.
    all_users: bool,
    /// `-x`: processes without a controlling terminal too.
    no_tty: bool,
    /// `-c`: the command name, not the arguments.
    comm_only: bool,
    /// `-w`: no truncation to the terminal's width.
    wide: bool,
    /// `-p`: only these pids.
    pids: Vec<u32>,
    /// `-U`: only these real uids.
    uids: Vec<u32>,
    /// The columns (`-o`, `-l`, `-j`, or the default).
    fmt: Vec<Col>,
    /// The default format (whose STAT values the tutorial pads to 6).
    bsd_default: bool,
}

/// One column: its keyword, header, least width and alignment.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Col {
    key: &'static str,
    header: String,
    width: usize,
    right: bool,
}

/// ps(1)'s keywords: (names, header, width, right-aligned).
const KEYWORDS: &[(&[&str], &str, usize, bool)] = &[
    (&["pid"], "PID", 5, true),
    (&["ppid"], "PPID", 5, true),
    (&["pgid"], "PGID", 5, true),
    (&["sid", "sess"], "SID", 5, true),
    (&["tpgid"], "TPGID", 5, true),
    (&["uid"], "UID", 5, true),
    (&["ruid"], "RUID", 5, true),
    (&["user", "ruser"], "USER", 8, false),
    (&["tt", "tty"], "TT ", 4, true),
    (&["state", "stat"], "STAT", 4, false),
    (&["time", "cputime"], "TIME", 9, true),
    (&["cpu"], "CPU", 3, true),
    (&["pri"], "PRI", 3, true),
    (&["nice", "ni"], "NI", 2, true),
    (&["vsz", "vsize"], "VSZ", 5, true),
    (&["rss", "rssize"], "RSS", 5, true),
    (&["wchan", "mwchan"], "MWCHAN", 6, false),
    (&["nlwp", "numthreads"], "NLWP", 4, true),
    (&["comm", "ucomm"], "COMMAND", 0, false),
    (&["command", "args"], "COMMAND", 0, false),
];

/// The column for keyword `name` (`name=header` renames it).
fn keyword(word: &str) -> Option<Col> {
    let (name, header) = match word.split_once('=') {
        Some((n, h)) => (n, Some(h)),
        None => (word, None),
    };
    let (names, h, width, right) = KEYWORDS.iter().find(|k| k.0.contains(&name))?;
    Some(Col {
        key: names[0],
        header: header.unwrap_or(h).to_string(),
        width: *width,
        right: *right,
    })
}

/// A format list: keywords separated by commas or spaces.
fn parse_fmt(s: &str) -> Result<Vec<Col>, String> {
    // A `name=header` takes the rest of the argument as its header.
    if let Some((head, _)) = s.split_once('=') {
        if let Some(cut) = head.rfind([',', ' ']) {
            let mut v = parse_fmt(&s[..cut])?;
            v.push(keyword(&s[cut + 1..]).ok_or_else(|| s[cut + 1..].to_string())?);
            return Ok(v);
        }
        return keyword(s).map(|c| vec![c]).ok_or_else(|| s.to_string());
    }
    s.split([',', ' '])
        .filter(|w| !w.is_empty())
        .map(|w| keyword(w).ok_or_else(|| w.to_string()))
        .collect()
}

fn cols(list: &str) -> Vec<Col> {
    parse_fmt(list).unwrap_or_default()
}

/// FreeBSD reads `ps ax` as `ps -ax`.
fn kludge_oldps_options(mut argv: Vec<String>) -> Vec<String> {
    if let Some(a) = argv.get(1) {
        if !a.starts_with('-') && a.chars().all(|c| c.is_ascii_alphabetic()) {
            argv[1] = format!("-{a}");
        }
    }
    argv
}

fn parse_args(argv: &[String]) -> Opts {
    let a = Getopt::new("acjlo:O:p:U:wx")
        .permute()
        .parse_or_usage(&argv[1..], usage);
    if !a.operands.is_empty() {
        usage();
    }
    let mut o = Opts::default();
    let mut fmt: Option<Vec<Col>> = None;
    let mut extra: Vec<Col> = Vec::new();
    for (c, v) in &a.opts {
        match c {
            'a' => o.all_users = true,
            'x' => o.no_tty = true,
            'c' => o.comm_only = true,
            'w' => o.wide = true,
            'l' => fmt.get_or_insert_with(Vec::new).extend(cols(
                "uid,pid,ppid,cpu,pri,nice,vsz,rss,mwchan,state,tt,time,command",
            )),
            'j' => fmt
                .get_or_insert_with(Vec::new)
                .extend(cols("user,pid,ppid,pgid,sid,state,tt,time,command")),
            'o' | 'O' => match parse_fmt(v) {
                Ok(l) if *c == 'o' => fmt.get_or_insert_with(Vec::new).extend(l),
                Ok(l) => extra.extend(l),
                Err(k) => errx(1, format!("{k}: keyword not found")),
            },
            'p' => {
                for p in v.split([',', ' ']).filter(|p| !p.is_empty()) {
                    match p.parse::<u32>() {
                        Ok(n) => o.pids.push(n),
                        Err(_) => errx(1, format!("{p}: illegal process id")),
                    }
                }
            }
            'U' => {
                for u in v.split([',', ' ']).filter(|u| !u.is_empty()) {
                    match libvimage::host::uid_of(u) {
                        Some(n) => o.uids.push(n),
                        None => errx(1, format!("{u}: no such user")),
                    }
                }
            }
            _ => usage(),
        }
    }
    o.bsd_default = fmt.is_none();
    let mut f = fmt.unwrap_or_else(|| cols("pid,tt,state,time,command"));
    if !extra.is_empty() {
        // `-O`: after the pid column, or at the front.
        let at = f.iter().position(|c| c.key == "pid").map_or(0, |i| i + 1);
        f.splice(at..at, extra);
    }
    o.fmt = f;
    o
}

/// Which processes are shown: `-p` picks by pid alone; otherwise the
/// caller's own (all users' with `-a` or `-U`) that have a terminal (also
/// those without with `-x`).
fn selected(o: &Opts, p: &KinfoProc, myuid: u32) -> bool {
    if !o.pids.is_empty() {
        return o.pids.contains(&p.pid);
    }
    if !o.uids.is_empty() {
        if !o.uids.contains(&p.uid) {
            return false;
        }
    } else if !o.all_users && p.uid != myuid {
        return false;
    }
    o.no_tty || p.tdev != 0
}

/// The terminal as ps names it: `??` for none, else the device's name
/// shortened as FreeBSD 7 does (`p3` for a pseudo-terminal, `v0` for the
/// first console).
fn tname(tdev: u64) -> String {
    if tdev == 0 {
        return "??".into();
    }
    let major = (tdev >> 8) & 0xfff;
    let minor = (tdev & 0xff) | ((tdev >> 12) & 0xfff00);
    match major {
        136..=143 => format!("p{}", (major - 136) * 256 + minor),
        4 if (1..64).contains(&minor) => format!("v{}", minor - 1),
        4 => format!("d{}", minor - 64),
        _ => "??".into(),
    }
}

/// STAT: the state letter, then `<`/`N` (priority), `s` (session leader),
/// `+` (in its terminal's foreground group).
fn state(p: &KinfoProc) -> String {
    let mut s = String::new();
    s.push(char::from(p.state));
    if p.nice < 0 {
        s.push('<');
    } else if p.nice > 0 {
        s.push('N');
    }
    if p.pid == p.sid {
        s.push('s');
    }
    if p.tdev != 0 && p.tpgid != 0 && p.pgid == p.tpgid {
        s.push('+');
    }
    s
}

/// TIME: minutes, seconds and hundredths of CPU time.
fn cputime(us: u64) -> String {
    let cs = us / 10_000;
    format!("{}:{:02}.{:02}", cs / 6000, cs / 100 % 60, cs % 100)
}

/// The user name of `uid` (its number if it has none).
fn user(uid: u32) -> String {
    libvimage::host::user_of(uid).unwrap_or_else(|| uid.to_string())
}

/// One cell of row `p`.
fn value(c: &Col, p: &KinfoProc, o: &Opts) -> String {
    match c.key {
        "pid" => p.pid.to_string(),
        "ppid" => p.ppid.to_string(),
        "pgid" => p.pgid.to_string(),
        "sid" => p.sid.to_string(),
        "tpgid" => p.tpgid.to_string(),
        "uid" | "ruid" => p.uid.to_string(),
        "user" => user(p.uid),
        "tt" => tname(p.tdev),
        "state" => state(p),
        "time" => cputime(p.runtime_us),
        "cpu" => "0".into(),
        "pri" => p.pri.to_string(),
        "nice" => p.nice.to_string(),
        "vsz" => p.vsz_kb.to_string(),
        "rss" => p.rss_kb.to_string(),
        "wchan" => {
            let w = if p.wchan.is_empty() { "-" } else { &p.wchan };
            w.chars().take(6).collect()
        }
        "nlwp" => p.nthreads.to_string(),
        "comm" => p.comm.clone(),
        _ if o.comm_only || p.args.is_empty() => {
            if p.args.is_empty() {
                format!("[{}]", p.comm)
            } else {
                p.comm.clone()
            }
        }
        _ => p.args.join(" "),
    }
}

/// The listing: a header line (unless every header is empty), then one line
/// per process; `width` cuts lines (a terminal's columns), `None` not.
fn render(o: &Opts, procs: &[KinfoProc], width: Option<usize>) -> String {
    let rows: Vec<Vec<String>> = procs
        .iter()
        .map(|p| o.fmt.iter().map(|c| value(c, p, o)).collect())
        .collect();
    let last = o.fmt.len().saturating_sub(1);
    let widths: Vec<usize> = o
        .fmt
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let w = rows.iter().map(|r| r[i].len()).max().unwrap_or(0);
            c.width.max(c.header.len()).max(w)
        })
        .collect();
    let line = |cells: &[String], header: bool| {
        let mut s = String::new();
        for (i, (c, v)) in o.fmt.iter().zip(cells).enumerate() {
            if i > 0 {
                s.push(' ');
            }
            let mut w = widths[i];
            // The tutorial's listing (`ps -ax` on the slides) pads a state
            // to six columns under a four-column STAT header.
            if o.bsd_default && !header && c.key == "state" {
                w = w.max(6);
            }
            if i == last && !c.right {
                s.push_str(v);
            } else if c.right {
                s.push_str(&format!("{v:>w$}"));
            } else {
                s.push_str(&format!("{v:<w$}"));
            }
        }
        if let Some(w) = width {
            if s.chars().count() > w {
                s = s.chars().take(w).collect();
            }
        }
        s.push('\n');
        s
    };
    let mut out = String::new();
    if o.fmt.iter().any(|c| !c.header.is_empty()) {
        let h: Vec<String> = o.fmt.iter().map(|c| c.header.clone()).collect();
        out.push_str(&line(&h, true));
    }
    for r in &rows {
        let r: Vec<String> = r
            .iter()
            .zip(&o.fmt)
            // The terminal column prints `%*s ` (a space after the name).
            .map(|(v, c)| {
                if c.key == "tt" {
                    format!("{v} ")
                } else {
                    v.clone()
                }
            })
            .collect();
        out.push_str(&line(&r, false));
    }
    out
}

/// Sort as FreeBSD's `pscomp`: by terminal (none first), then pid.
fn sort(procs: &mut [KinfoProc]) {
    procs.sort_by_key(|p| (p.tdev != 0, p.tdev, p.pid));
}

/// The terminal's width when standard output is one and `-w` is not given.
fn termwidth(wide: bool) -> Option<usize> {
    // SAFETY: isatty and ioctl(TIOCGWINSZ) only read into `ws`.
    unsafe {
        if wide || libc::isatty(1) == 0 {
            return None;
        }
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_col > 0 {
            return Some(usize::from(ws.ws_col));
        }
    }
    Some(79)
}

fn main() {
    libvimage::sigpipe_default();
    let argv = kludge_oldps_options(std::env::args().collect());
    let o = parse_args(&argv);
    let mut s = Sys::open_or_exit();
    let mut procs = match s.sysctl(KERN_PROC_ALL) {
        Ok(r) => match r.value {
            SysctlValue::Opaque(_, b) => match KinfoProc::decode_list(&b) {
                Ok(l) => l,
                Err(e) => err(1, KERN_PROC_ALL, e),
            },
            _ => errx(1, format!("{KERN_PROC_ALL}: unexpected value")),
        },
        Err(e) => err(1, KERN_PROC_ALL, e),
    };
    // SAFETY: getuid cannot fail.
    let myuid = unsafe { libc::getuid() };
    procs.retain(|p| selected(&o, p, myuid));
    sort(&mut procs);
    print!("{}", render(&o, &procs, termwidth(o.wide)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: u32, tdev: u64, state: u8, args: &str, cs: u64) -> KinfoProc {
        KinfoProc {
            pid,
            ppid: 1,
            pgid: pid,
            sid: pid,
            tpgid: if tdev != 0 { pid } else { 0 },
            tdev,
            state,
            runtime_us: cs * 10_000,
            comm: args.split(' ').next().unwrap_or("").into(),
            args: args.split(' ').map(str::to_string).collect(),
            ..KinfoProc::default()
        }
    }

    fn opts(args: &str) -> Opts {
        let argv: Vec<String> = std::iter::once("ps")
            .chain(args.split_whitespace())
            .map(str::to_string)
            .collect();
        parse_args(&kludge_oldps_options(argv))
    }

    #[test]
    fn ps_ax_prints_as_the_tutorials_slide() {
        // pts/3 is major 136, minor 3.
        let pts3 = (136 << 8) | 3;
        let mut l = vec![
            p(5000, 0, b'S', "ripd -dP0", 4),
            p(4996, 0, b'I', "zebra -dP0", 2),
            KinfoProc {
                pid: 6678,
                sid: 6673,
                tpgid: 6678,
                ..p(6678, pts3, b'R', "ps -ax", 0)
            },
            KinfoProc {
                sid: 1,
                tpgid: 6678,
                ..p(6673, pts3, b'S', "vimage (csh)", 2)
            },
        ];
        sort(&mut l);
        assert_eq!(
            render(&opts("-ax"), &l, None),
            "  PID  TT  STAT      TIME COMMAND\n\
             \x20 4996  ??  Is       0:00.02 zebra -dP0\n\
             \x20 5000  ??  Ss       0:00.04 ripd -dP0\n\
             \x20 6673  p3  S        0:00.02 vimage (csh)\n\
             \x20 6678  p3  R+       0:00.00 ps -ax\n"
                .replace("\n\x20", "\n")
        );
        // `ps ax` is `ps -ax`; a cut to the terminal's width.
        assert_eq!(
            render(&opts("ax"), &l[..1], Some(20)).lines().nth(1),
            Some(" 4996  ??  Is       ")
        );
    }

    #[test]
    fn selection_long_and_custom_formats() {
        let o = opts("");
        let mine = p(10, (136 << 8) | 1, b'S', "sh", 0);
        assert!(selected(&o, &mine, 0));
        assert!(!selected(&o, &p(11, 0, b'S', "daemon", 0), 0));
        assert!(!selected(
            &o,
            &KinfoProc {
                uid: 5,
                ..mine.clone()
            },
            0
        ));
        assert!(selected(
            &opts("-a"),
            &KinfoProc {
                uid: 5,
                ..mine.clone()
            },
            0
        ));
        assert!(selected(&opts("-p 11"), &p(11, 0, b'S', "d", 0), 0));
        assert!(!selected(&opts("-p 11,12"), &mine, 0));
        let o = opts("-o pid,comm=NAME -x");
        assert_eq!(
            render(&o, std::slice::from_ref(&mine), None),
            "  PID NAME\n   10 sh\n"
        );
        let o = opts("-o pid= -o comm=");
        assert_eq!(render(&o, std::slice::from_ref(&mine), None), "   10 sh\n");
        let l = render(&opts("-l"), std::slice::from_ref(&mine), None);
        assert_eq!(
            l.lines().next(),
            Some("  UID   PID  PPID CPU PRI NI   VSZ   RSS MWCHAN STAT  TT       TIME COMMAND")
        );
        assert_eq!(
            l.lines().nth(1),
            Some("    0    10     1   0   0  0     0     0 -      Ss+   p1    0:00.00 sh")
        );
        // A process without arguments shows its name in brackets; -c the name.
        let k = KinfoProc {
            args: vec![],
            ..p(2, 0, b'S', "kthreadd", 0)
        };
        assert!(render(&opts("-ax"), &[k], None).ends_with(" [kthreadd]\n"));
        assert!(
            render(&opts("-axc"), &[p(3, 0, b'S', "/bin/sh -c x", 0)], None)
                .ends_with(" /bin/sh\n")
        );
        assert_eq!(parse_fmt("pid,bogus"), Err("bogus".to_string()));
    }

    #[test]
    fn terminals_states_and_times() {
        assert_eq!(tname(0), "??");
        assert_eq!(tname((136 << 8) | 3), "p3");
        assert_eq!(tname((4 << 8) | 1), "v0");
        assert_eq!(cputime(61_230_000), "1:01.23");
        let mut q = p(7, 0, b'S', "x", 0);
        q.nice = 5;
        assert_eq!(state(&q), "SNs");
        q.nice = -5;
        q.sid = 1;
        assert_eq!(state(&q), "S<");
    }
}
