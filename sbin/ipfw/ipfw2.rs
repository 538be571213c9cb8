//! ipfw(8)'s commands (FreeBSD 7.0's sbin/ipfw/ipfw2.c): the argument
//! handling, `add`, `delete`, `list`/`show`, `zero`, `resetlog`, `flush`,
//! `set`, `enable`/`disable`, `table`, and rule files.
//!
//! Everything reaches the kernel as FreeBSD's ipfw(8) does: socket options
//! of a raw IP socket (`getsockopt` for `IP_FW_ADD` and `IP_FW_GET`,
//! `setsockopt` for the rest), through the syscall door.

use std::io::{BufRead, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;

use libvimage::getopt::Getopt;
use libvimage::{strerror, Errno, Sys};
use vimage_abi::ip_fw::*;
use vimage_abi::netinet_in::{IPPROTO_IP, IPPROTO_RAW, PF_INET, SOCK_RAW};
use vimage_abi::sysctl::SysctlValue;

use crate::parse::*;
use crate::show::{show_dyn, show_ipfw, ShowOpts};

/// The name messages begin with: `ipfw`, or `Line N` while a rule file is
/// read (as ipfw(8) sets its program name per line).
static PROG: Mutex<String> = Mutex::new(String::new());

fn prog() -> String {
    let p = PROG.lock().map(|p| p.clone()).unwrap_or_default();
    if p.is_empty() {
        "ipfw".into()
    } else {
        p
    }
}

fn set_prog(p: &str) {
    if let Ok(mut g) = PROG.lock() {
        *g = p.to_string();
    }
}

/// `errx(3)`: print the failure (unless it has no message) and exit.
pub fn die(f: Fail) -> ! {
    if !f.msg.is_empty() {
        eprintln!("{}: {}", prog(), f.msg);
    }
    let _ = std::io::stdout().flush();
    std::process::exit(f.code)
}

/// `warnx(3)`.
fn warnx(msg: &str) {
    eprintln!("{}: {}", prog(), msg);
}

/// `warn(3)`.
fn warn(msg: &str, e: Errno) {
    eprintln!("{}: {}: {}", prog(), msg, strerror(e));
}

/// `err(3)` as a failure.
fn err<T>(code: i32, msg: &str, e: Errno) -> Result<T, Fail> {
    fail(code, format!("{msg}: {}", strerror(e)))
}

/// The command-line flags; they persist from line to line of a rule file,
/// as ipfw(8)'s globals do.
#[derive(Clone, Debug, Default)]
pub struct Opts {
    /// `-a`: counters in `list`.
    pub acct: bool,
    /// `-b`, `-c`: compact (accepted; the full body is printed).
    pub compact: bool,
    /// `-d`: dynamic rules too.
    pub dynamic: bool,
    /// `-e`: expired dynamic rules too.
    pub expired: bool,
    /// `-f`: no question before `flush`.
    pub force: bool,
    /// `-n`: check the syntax only.
    pub test_only: bool,
    /// `-N`: names for addresses and ports.
    pub resolve: bool,
    /// `-q`: quiet.
    pub quiet: bool,
    /// `-S`: sets.
    pub show_sets: bool,
    /// `-t` (1), `-T` (2).
    pub time: u8,
    /// `-v`.
    pub verbose: bool,
}

/// What ipfw(8) needs of the kernel.
pub trait Kernel {
    /// `getsockopt(s, IPPROTO_IP, name, val)` on the raw socket.
    fn get(&mut self, name: i32, val: &[u8]) -> Result<Result<Vec<u8>, Errno>, Fail>;
    /// `setsockopt(s, IPPROTO_IP, name, val)`.
    fn set(&mut self, name: i32, val: &[u8]) -> Result<Result<(), Errno>, Fail>;
    /// Read an integer sysctl.
    fn sysctl_get(&mut self, name: &str) -> Result<i64, Errno>;
    /// Write an integer sysctl.
    fn sysctl_set(&mut self, name: &str, v: i64) -> Result<(), Errno>;
}

/// The real kernel: the door, opened on first use, and one raw socket.
#[derive(Default)]
pub struct Door {
    sys: Option<Sys>,
    fd: Option<i32>,
}

impl Door {
    fn sys(&mut self) -> &mut Sys {
        self.sys.get_or_insert_with(Sys::open_or_exit)
    }
    /// The raw socket (`err(EX_UNAVAILABLE, "socket")` if there is none).
    fn fd(&mut self) -> Result<i32, Fail> {
        if let Some(fd) = self.fd {
            return Ok(fd);
        }
        match self.sys().socket(PF_INET, SOCK_RAW, IPPROTO_RAW) {
            Ok(fd) => {
                self.fd = Some(fd);
                Ok(fd)
            }
            Err(e) => err(EX_UNAVAILABLE, "socket", e),
        }
    }
}

impl Kernel for Door {
    fn get(&mut self, name: i32, val: &[u8]) -> Result<Result<Vec<u8>, Errno>, Fail> {
        let fd = self.fd()?;
        Ok(self.sys().getsockopt_in(fd, IPPROTO_IP, name, val))
    }
    fn set(&mut self, name: i32, val: &[u8]) -> Result<Result<(), Errno>, Fail> {
        let fd = self.fd()?;
        Ok(self.sys().setsockopt(fd, IPPROTO_IP, name, val))
    }
    fn sysctl_get(&mut self, name: &str) -> Result<i64, Errno> {
        match self.sys().sysctl(name)?.value {
            SysctlValue::Int(i) => Ok(i),
            SysctlValue::UInt(u) => Ok(u as i64),
            _ => Err(Errno::EINVAL),
        }
    }
    fn sysctl_set(&mut self, name: &str, v: i64) -> Result<(), Errno> {
        self.sys().sysctl_set(name, &SysctlValue::Int(v)).map(drop)
    }
}

/// One invocation's state: flags, the set a `set N` prefix names, the
/// kernel.
pub struct Ipfw<'k> {
    /// The flags.
    pub o: Opts,
    /// `set N cmd`: N + 1 (0: none).
    use_set: u32,
    k: &'k mut dyn Kernel,
}

/// The compiler's outside world: host names and the log allowance.
struct CompileEnv<'a, 'k>(&'a mut Ipfw<'k>);

impl Env for CompileEnv<'_, '_> {
    fn host4(&mut self, name: &str) -> Option<Ipv4Addr> {
        libvimage::getaddrinfo(name, Some(PF_INET))
            .into_iter()
            .chain(libvimage::netdb::Hosts::read().addr_of(name, false))
            .find_map(|a| match a {
                std::net::IpAddr::V4(a) => Some(a),
                _ => None,
            })
    }
    fn host6(&mut self, name: &str) -> Option<Ipv6Addr> {
        libvimage::getaddrinfo(name, Some(libvimage::PF_INET6))
            .into_iter()
            .chain(libvimage::netdb::Hosts::read().addr_of(name, true))
            .find_map(|a| match a {
                std::net::IpAddr::V6(a) => Some(a),
                _ => None,
            })
    }
    fn verbose_limit(&mut self) -> Result<u32, Fail> {
        let n = "net.inet.ip.fw.verbose_limit";
        match self.0.k.sysctl_get(n) {
            Ok(v) => Ok(v.clamp(0, i64::from(u32::MAX)) as u32),
            Err(_) => fail(1, format!("sysctlbyname(\"{n}\")")),
        }
    }
}

/// `_substrcmp`: whether the user's `word` names `cmd` — equal, or an
/// abbreviation of it (which ipfw(8) accepts with a warning).
fn subcmp(word: &str, cmd: &str) -> bool {
    if !cmd.starts_with(word) {
        return false;
    }
    if word.len() != cmd.len() {
        warnx(&format!(
            "DEPRECATED: '{word}' matched '{cmd}' as a sub-string"
        ));
    }
    true
}

fn isdigit0(w: &str) -> bool {
    w.starts_with(|c: char| c.is_ascii_digit())
}

/// Blanks as ipfw(8) splits a single argument on.
const WHITESP: &[char] = &[' ', '\t', '\x0c', '\x0b', '\n', '\r'];

/// One argument holding a whole command (a rule file's line, `ipfw "add
/// ..."`): cut at `#`, blanks after a comma dropped, split on blanks.
pub fn split_single(arg: &str) -> Vec<String> {
    let arg = arg.split('#').next().unwrap_or("");
    let mut out = String::new();
    let mut copy = false;
    for c in arg.chars() {
        if copy {
            out.push(c);
            copy = c != ',' && !WHITESP.contains(&c);
        } else {
            copy = !WHITESP.contains(&c);
            if copy {
                out.push(c);
            }
        }
    }
    out.split(WHITESP)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Several arguments: one ending in `,` is joined with the next.
pub fn join_commas(args: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    for (i, a) in args.iter().enumerate() {
        cur.push_str(a);
        if !a.ends_with(',') || i == args.len() - 1 {
            out.push(std::mem::take(&mut cur));
        }
    }
    out
}

/// `show_usage`.
pub fn show_usage() -> ! {
    eprintln!("usage: ipfw [options]\ndo \"ipfw -h\" or see ipfw manpage for details");
    std::process::exit(EX_USAGE)
}

/// `-h`: a summary of what this ipfw takes.
fn help() -> ! {
    eprint!(
        "ipfw [-abcdefhnNqStTv] COMMAND, the commands being:\n\
         add [N] [set S] ACTION [log [logamount L]] BODY\n\
         delete [set] N ...\n\
         list|print|show [N|N-M ...]\n\
         zero|resetlog [N ...]\n\
         flush\n\
         set show | set disable N ... enable M ... | set move [rule] X to Y | set swap X Y\n\
         enable|disable firewall|one_pass|verbose|dyn_keepalive\n\
         table N add A[/len] [value] | table N delete A[/len] | table N flush|list\n\
         \n\
         ACTION: allow|accept|pass|permit | deny|drop | reject | reset | unreach CODE |\n\
         \tcount | skipto N | check-state\n\
         BODY:   PROTO from ADDR [PORTS] to ADDR [PORTS] [OPTION ...]\n\
         PROTO:  ip|all | ip4|ipv4 | ip6|ipv6 | NAME | NUMBER\n\
         ADDR:   [not] any | me | me6 | A | A/len | A:mask | A/len{{x,y-z}} | LIST\n\
         PORTS:  N | N-M | NAME, comma separated\n\
         OPTION: in | out | via|recv|xmit IF|A | established | setup | tcpflags F,!F |\n\
         \ticmptypes T,T | keep-state | frag | proto P | src-ip|dst-ip ADDR |\n\
         \tsrc-port|dst-port PORTS | ip4 | ip6 | not OPTION | {{ A or B }} | // COMMENT\n"
    );
    std::process::exit(0)
}

/// `ipfw_main`: one command (the words after the program name, or one
/// argument holding them all).  `Ok(true)`: show the usage.
pub fn ipfw_main(args: &[String], fw: &mut Ipfw<'_>) -> Result<bool, Fail> {
    let av = match args.len() {
        0 => return Ok(true),
        1 => {
            let v = split_single(&args[0]);
            if v.is_empty() {
                return Ok(true);
            }
            v
        }
        _ => join_commas(args),
    };
    if !fw.o.force {
        // SAFETY: isatty on descriptor 0 has no preconditions.
        fw.o.force = unsafe { libc::isatty(0) } == 0;
    }
    let parsed = match Getopt::new("abcdefhnNqs:STtv").parse(&av) {
        Ok(p) => p,
        Err(e) => {
            warnx(&e.to_string());
            return Ok(true);
        }
    };
    for (c, _) in &parsed.opts {
        match c {
            'a' => fw.o.acct = true,
            'b' | 'c' => fw.o.compact = true,
            'd' => fw.o.dynamic = true,
            'e' => fw.o.expired = true,
            'f' => fw.o.force = true,
            'h' => help(),
            'n' => fw.o.test_only = true,
            'N' => fw.o.resolve = true,
            'q' => fw.o.quiet = true,
            'S' => fw.o.show_sets = true,
            't' => fw.o.time = 1,
            'T' => fw.o.time = 2,
            'v' => fw.o.verbose = true,
            _ => {} // -s N: sorting, accepted.
        }
    }
    let mut av = parsed.operands;
    if av.is_empty() {
        return fail(EX_USAGE, "bad arguments, for usage summary ``ipfw''");
    }
    // `ipfw 100 add ...` works as `ipfw add 100 ...`.
    if av.len() > 1 && isdigit0(&av[0]) {
        av.swap(0, 1);
    }
    fw.use_set = 0;
    if matches!(av[0].as_str(), "pipe" | "queue" | "nat") {
        return fail(
            EX_USAGE,
            format!("{}: dummynet and nat are not supported", av[0]),
        );
    }
    if av[0] == "set" && av.len() > 1 && isdigit0(&av[1]) {
        let n = strtonum(&av[1], 0, u64::from(RESVD_SET)).ok_or_else(|| Fail {
            code: EX_DATAERR,
            msg: format!("invalid set number {}\n", av[1]),
        })?;
        fw.use_set = n as u32 + 1;
        av.drain(..2);
        if av.is_empty() {
            return fail(EX_USAGE, "missing command");
        }
    }
    let w = av[0].clone();
    if fw.use_set == 0 {
        if subcmp(&w, "add") {
            return fw.add(&av[1..]).map(|()| false);
        }
        if subcmp(&w, "set") {
            return fw.sets(&av[1..]).map(|()| false);
        }
        if subcmp(&w, "table") {
            return fw.table(&av[1..]).map(|()| false);
        }
        if subcmp(&w, "enable") || subcmp(&w, "disable") {
            fw.sysctl_handler(&av[1..], w.starts_with('e'));
            return Ok(false);
        }
    }
    if subcmp(&w, "delete") {
        fw.delete(&av[1..])?;
    } else if subcmp(&w, "flush") {
        fw.flush()?;
    } else if subcmp(&w, "zero") {
        fw.zero(&av[1..], IP_FW_ZERO)?;
    } else if subcmp(&w, "resetlog") {
        fw.zero(&av[1..], IP_FW_RESETLOG)?;
    } else if subcmp(&w, "print") || subcmp(&w, "list") {
        let acct = fw.o.acct;
        fw.list(&av[1..], acct)?;
    } else if subcmp(&w, "show") {
        fw.list(&av[1..], true)?;
    } else {
        return fail(EX_USAGE, format!("bad command `{w}'"));
    }
    Ok(false)
}

/// `strtonum(s, min, max)`: a whole decimal number in range.
fn strtonum(s: &str, min: u64, max: u64) -> Option<u64> {
    let n: u64 = s.parse().ok()?;
    (min..=max).contains(&n).then_some(n)
}

impl<'k> Ipfw<'k> {
    /// An invocation with default flags on kernel `k`.
    pub fn new(k: &'k mut dyn Kernel) -> Ipfw<'k> {
        Ipfw {
            o: Opts::default(),
            use_set: 0,
            k,
        }
    }

    /// `do_cmd` for a get: nothing is sent with `-n`.
    fn do_get(&mut self, name: i32, val: &[u8]) -> Result<Result<Vec<u8>, Errno>, Fail> {
        if self.o.test_only {
            return Ok(Ok(val.to_vec()));
        }
        self.k.get(name, val)
    }

    /// `do_cmd` for a set.
    fn do_set(&mut self, name: i32, val: &[u8]) -> Result<Result<(), Errno>, Fail> {
        if self.o.test_only {
            return Ok(Ok(()));
        }
        self.k.set(name, val)
    }

    /// `add`: compile the rule, hand it to the kernel, print it as stored.
    fn add(&mut self, words: &[String]) -> Result<(), Fail> {
        let rule = compile_rule(words, &mut CompileEnv(self))?;
        let bytes = match rule.to_bytes() {
            Ok(b) => b,
            Err(e) => return err(EX_UNAVAILABLE, "getsockopt(IP_FW_ADD)", e),
        };
        let stored = match self.do_get(IP_FW_ADD, &bytes)? {
            Ok(b) => IpFwRule::from_bytes(&b).unwrap_or(rule),
            Err(e) => return err(EX_UNAVAILABLE, "getsockopt(IP_FW_ADD)", e),
        };
        if !self.o.quiet {
            let o = ShowOpts {
                resolve: self.o.resolve,
                show_sets: self.o.show_sets,
                ..ShowOpts::default()
            };
            if let Some(l) = show_ipfw(&stored, &o) {
                print!("{l}");
            }
        }
        Ok(())
    }

    /// `delete [set] N ...`: each rule number (or set) in turn; failures
    /// are reported and make the exit status 69.
    fn delete(&mut self, av: &[String]) -> Result<(), Fail> {
        if av.is_empty() {
            return fail(EX_USAGE, "missing rule specification");
        }
        let mut av = av;
        let mut do_set = 0u32;
        if subcmp(&av[0], "set") {
            if self.use_set != 0 {
                return fail(EX_DATAERR, "invalid syntax");
            }
            do_set = 1;
            av = &av[1..];
        }
        let mut failed = false;
        for w in av.iter().take_while(|w| isdigit0(w)) {
            let i = libvimage::atoi(w) as u32;
            let arg = if self.use_set != 0 {
                (i & 0xffff) | (5 << 24) | ((self.use_set - 1) << 16)
            } else {
                (i & 0xffff) | (do_set << 24)
            };
            if let Err(e) = self.do_set(IP_FW_DEL, &IpFwDel::Cmd(arg).to_bytes())? {
                failed = true;
                warn(&format!("rule {arg}: setsockopt(IP_FW_DEL)"), e);
            }
        }
        if failed {
            return fail(EX_UNAVAILABLE, "");
        }
        Ok(())
    }

    /// `flush`: after a question unless `-f`, `-q` or stdin is no terminal.
    fn flush(&mut self) -> Result<(), Fail> {
        if !self.o.force && !self.o.quiet {
            print!("Are you sure? [yn] ");
            let _ = std::io::stdout().flush();
            let stdin = std::io::stdin();
            let mut lines = stdin.lock();
            let yes = loop {
                let mut l = String::new();
                match lines.read_line(&mut l) {
                    Ok(0) | Err(_) => return Ok(()),
                    Ok(_) => {}
                }
                match l.chars().next().map(|c| c.to_ascii_uppercase()) {
                    Some('Y') => break true,
                    Some('N') => break false,
                    _ => {}
                }
            };
            println!();
            if !yes {
                return Ok(());
            }
        }
        let r = if self.use_set != 0 {
            let arg = ((self.use_set - 1) & 0xffff) | (1 << 24);
            self.do_set(IP_FW_DEL, &IpFwDel::Cmd(arg).to_bytes())?
                .map_err(|e| ("setsockopt(IP_FW_DEL)", e))
        } else {
            self.do_set(IP_FW_FLUSH, &[])?
                .map_err(|e| ("setsockopt(IP_FW_FLUSH)", e))
        };
        if let Err((what, e)) = r {
            return err(EX_UNAVAILABLE, what, e);
        }
        if !self.o.quiet {
            println!("Flushed all rules.");
        }
        Ok(())
    }

    /// `zero [N ...]` and `resetlog [N ...]`.
    fn zero(&mut self, av: &[String], optname: i32) -> Result<(), Fail> {
        let name = if optname == IP_FW_ZERO {
            "ZERO"
        } else {
            "RESETLOG"
        };
        if av.is_empty() {
            if let Err(e) = self.do_set(optname, &[])? {
                return err(EX_UNAVAILABLE, &format!("setsockopt(IP_FW_{name})"), e);
            }
            if !self.o.quiet {
                println!(
                    "{}.",
                    if optname == IP_FW_ZERO {
                        "Accounting cleared"
                    } else {
                        "Logging counts reset"
                    }
                );
            }
            return Ok(());
        }
        let mut failed = false;
        for w in av {
            if !isdigit0(w) {
                return fail(EX_USAGE, format!("invalid rule number ``{w}''"));
            }
            let Some(n) = strtonum(w, 0, 0xffff) else {
                return fail(EX_DATAERR, format!("invalid rule number {w}\n"));
            };
            let mut arg = n as u32;
            if self.use_set != 0 {
                arg |= (1 << 24) | ((self.use_set - 1) << 16);
            }
            match self.do_set(optname, &arg.to_le_bytes())? {
                Err(e) => {
                    warn(&format!("rule {n}: setsockopt(IP_FW_{name})"), e);
                    failed = true;
                }
                Ok(()) if !self.o.quiet => println!(
                    "Entry {n} {}.",
                    if optname == IP_FW_ZERO {
                        "cleared"
                    } else {
                        "logging count reset"
                    }
                ),
                Ok(()) => {}
            }
        }
        if failed {
            return fail(EX_UNAVAILABLE, "");
        }
        Ok(())
    }

    /// The kernel's rules (`IP_FW_GET`).
    fn getrules(&mut self) -> Result<IpFwGet, Fail> {
        match self.k.get(IP_FW_GET, &[])? {
            Ok(b) => IpFwGet::from_bytes(&b).or_else(|e| err(EX_OSERR, "getsockopt(IP_FW_GET)", e)),
            Err(e) => err(EX_OSERR, "getsockopt(IP_FW_GET)", e),
        }
    }

    /// `list`/`show`: all rules, or those numbered as asked (`N`, `N-M`),
    /// with counters when `show_counters`; with `-d` the dynamic rules.
    fn list(&mut self, av: &[String], show_counters: bool) -> Result<(), Fail> {
        if self.o.test_only {
            eprintln!("Testing only, list disabled");
            return Ok(());
        }
        let g = self.getrules()?;
        let in_set = |s: u8| self.use_set == 0 || u32::from(s) == self.use_set - 1;
        let digits = |n: u64| n.to_string().len();
        let (mut pw, mut bw) = (0, 0);
        if show_counters {
            for r in g.rules.iter().filter(|r| in_set(r.set)) {
                pw = pw.max(digits(r.pcnt));
                bw = bw.max(digits(r.bcnt));
            }
        }
        let dynamic = self.o.dynamic && !g.dyn_rules.is_empty();
        if dynamic && show_counters {
            for d in g.dyn_rules.iter().filter(|d| in_set(d.set)) {
                pw = pw.max(digits(d.pcnt));
                bw = bw.max(digits(d.bcnt));
            }
        }
        let wall_now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let o = ShowOpts {
            pcwidth: pw,
            bcwidth: bw,
            time: self.o.time,
            show_sets: self.o.show_sets,
            resolve: self.o.resolve,
            set_disable: g.set_disable,
            wall_now,
            kern_now: g.now,
        };
        let expired = self.o.expired;
        let show_d = |d: &IpFwDyn| (expired || d.expire != 0).then(|| show_dyn(d, &o));
        let mut out = std::io::stdout().lock();
        if av.is_empty() {
            for r in g.rules.iter().filter(|r| in_set(r.set)) {
                if let Some(l) = show_ipfw(r, &o) {
                    let _ = out.write_all(l.as_bytes());
                }
            }
            if dynamic {
                let _ = writeln!(out, "## Dynamic rules ({}):", g.dyn_rules.len());
                for d in g.dyn_rules.iter().filter(|d| in_set(d.set)) {
                    if let Some(l) = show_d(d) {
                        let _ = out.write_all(l.as_bytes());
                    }
                }
            }
            return Ok(());
        }
        let mut exit = 0;
        let mut ranges = Vec::new();
        for w in av {
            let Some((lo, hi)) = rule_range(w) else {
                exit = EX_USAGE;
                let _ = out.flush();
                warnx(&format!("invalid rule number: {w}"));
                continue;
            };
            ranges.push((lo, hi));
            let mut seen = false;
            for r in g.rules.iter().take_while(|r| u64::from(r.rulenum) <= hi) {
                if in_set(r.set) && u64::from(r.rulenum) >= lo {
                    if let Some(l) = show_ipfw(r, &o) {
                        let _ = out.write_all(l.as_bytes());
                    }
                    seen = true;
                }
            }
            if !seen {
                if exit == 0 {
                    exit = EX_UNAVAILABLE;
                }
                let _ = out.flush();
                warnx(&format!("rule {lo} does not exist"));
            }
        }
        if dynamic {
            let _ = writeln!(out, "## Dynamic rules:");
            for (lo, hi) in ranges {
                for d in g.dyn_rules.iter().filter(|d| in_set(d.set)) {
                    let n = u64::from(d.rulenum);
                    if n >= lo && n <= hi {
                        if let Some(l) = show_d(d) {
                            let _ = out.write_all(l.as_bytes());
                        }
                    }
                }
            }
        }
        if exit != 0 {
            return fail(exit, "");
        }
        Ok(())
    }

    /// `set show`, `set disable N... enable M...`, `set move [rule] X to
    /// Y`, `set swap X Y`.
    fn sets(&mut self, av: &[String]) -> Result<(), Fail> {
        let Some(w) = av.first() else {
            return fail(EX_USAGE, "set needs command");
        };
        let av = &av[1..];
        if subcmp(w, "show") {
            let g = self.getrules()?;
            let d = g.set_disable;
            let mut s = String::new();
            let mut msg = "disable";
            for i in (0..u32::from(RESVD_SET)).filter(|i| d & (1 << i) != 0) {
                s.push_str(&format!("{msg} {i}"));
                msg = "";
            }
            let mut msg = if d != 0 { " enable" } else { "enable" };
            for i in (0..u32::from(RESVD_SET)).filter(|i| d & (1 << i) == 0) {
                s.push_str(&format!("{msg} {i}"));
                msg = "";
            }
            println!("{s}");
        } else if subcmp(w, "swap") {
            if av.len() != 2 {
                return fail(EX_USAGE, "set swap needs 2 set numbers\n");
            }
            let a = set_number(&av[0], "invalid set number")?;
            let b = set_number(&av[1], "invalid set number")?;
            let arg = (4 << 24) | (b << 16) | a;
            let _ = self.do_set(IP_FW_DEL, &IpFwDel::Cmd(arg).to_bytes())?;
        } else if subcmp(w, "move") {
            let (cmd, av) = match av.first() {
                Some(r) if subcmp(r, "rule") => (2u32, &av[1..]),
                _ => (3u32, av),
            };
            if av.len() != 3 || !subcmp(&av[1], "to") {
                return fail(EX_USAGE, "syntax: set move [rule] X to Y\n");
            }
            let n = libvimage::atoi(&av[0]).max(0) as u32;
            if !isdigit0(&av[0])
                || (cmd == 3 && n > u32::from(RESVD_SET))
                || (cmd == 2 && n == u32::from(IPFW_DEFAULT_RULE))
            {
                return fail(EX_DATAERR, format!("invalid source number {}\n", av[0]));
            }
            let to = libvimage::atoi(&av[2]).max(0) as u32;
            if !isdigit0(&av[2]) || to > u32::from(RESVD_SET) {
                return fail(EX_DATAERR, format!("invalid dest. set {}\n", av[1]));
            }
            let arg = (cmd << 24) | (to << 16) | (n & 0xffff);
            let _ = self.do_set(IP_FW_DEL, &IpFwDel::Cmd(arg).to_bytes())?;
        } else if subcmp(w, "disable") || subcmp(w, "enable") {
            let mut which = usize::from(w.starts_with('e'));
            let mut masks = [0u32; 2];
            for a in av {
                if isdigit0(a) {
                    let i = libvimage::atoi(a);
                    if !(0..=i32::from(RESVD_SET)).contains(&i) {
                        return fail(EX_DATAERR, format!("invalid set number {i}\n"));
                    }
                    masks[which] |= 1 << i;
                } else if subcmp(a, "disable") {
                    which = 0;
                } else if subcmp(a, "enable") {
                    which = 1;
                } else {
                    return fail(EX_DATAERR, format!("invalid set command {a}\n"));
                }
            }
            if masks[0] & masks[1] != 0 {
                return fail(EX_DATAERR, "cannot enable and disable the same set\n");
            }
            let b = IpFwDel::Sets(masks[0], masks[1]).to_bytes();
            if let Err(e) = self.do_set(IP_FW_DEL, &b)? {
                warn("set enable/disable: setsockopt(IP_FW_DEL)", e);
            }
        } else {
            return fail(EX_USAGE, format!("invalid set command {w}\n"));
        }
        Ok(())
    }

    /// `enable`/`disable firewall|one_pass|debug|verbose|dyn_keepalive`.
    fn sysctl_handler(&mut self, av: &[String], on: bool) {
        let Some(w) = av.first() else {
            warnx("missing keyword to enable/disable\n");
            return;
        };
        let name = if subcmp(w, "firewall") {
            "enable"
        } else if subcmp(w, "one_pass") {
            "one_pass"
        } else if subcmp(w, "debug") {
            "debug"
        } else if subcmp(w, "verbose") {
            "verbose"
        } else if subcmp(w, "dyn_keepalive") {
            "dyn_keepalive"
        } else {
            warnx(&format!("unrecognize enable/disable keyword: {w}\n"));
            return;
        };
        // As ipfw(8), the answer is not looked at.
        let _ = self
            .k
            .sysctl_set(&format!("net.inet.ip.fw.{name}"), i64::from(on));
    }

    /// `table N add|delete A[/len] [value]`, `table N flush|list`.
    fn table(&mut self, av: &[String]) -> Result<(), Fail> {
        let Some(n) = av.first() else {
            return fail(EX_USAGE, "table needs table number");
        };
        let tbl = libvimage::atoi(n) as u16;
        let Some(cmd) = av.get(1) else {
            return fail(EX_USAGE, "table needs command");
        };
        if subcmp(cmd, "add") || subcmp(cmd, "delete") {
            let add = cmd.starts_with('a');
            let Some(a) = av.get(2) else {
                return fail(EX_USAGE, "IP address required");
            };
            let (host, len) = match a.split_once('/') {
                Some((h, l)) => (h, libvimage::atoi(l).clamp(0, 32) as u8),
                None => (a.as_str(), 32),
            };
            let Some(addr) = inet_aton(host) else {
                return fail(EX_NOHOST, format!("hostname ``{host}'' unknown"));
            };
            let value = av.get(3).map_or(0, |v| libvimage::atoi(v) as u32);
            let e = IpFwTableEntry {
                tbl,
                addr,
                masklen: len,
                value,
            };
            let (opt, what) = if add {
                (IP_FW_TABLE_ADD, "ADD")
            } else {
                (IP_FW_TABLE_DEL, "DEL")
            };
            if let Err(e) = self.do_set(opt, &e.to_bytes())? {
                return err(EX_OSERR, &format!("setsockopt(IP_FW_TABLE_{what})"), e);
            }
        } else if subcmp(cmd, "flush") {
            if let Err(e) = self.do_set(IP_FW_TABLE_FLUSH, &tbl.to_le_bytes())? {
                return err(EX_OSERR, "setsockopt(IP_FW_TABLE_FLUSH)", e);
            }
        } else if subcmp(cmd, "list") {
            let b = match self.do_get(IP_FW_TABLE_LIST, &tbl.to_le_bytes())? {
                Ok(b) => b,
                Err(e) => return err(EX_OSERR, "getsockopt(IP_FW_TABLE_LIST)", e),
            };
            let l = ipfw_table_list(&b)
                .or_else(|e| err(EX_OSERR, "getsockopt(IP_FW_TABLE_LIST)", e))?;
            for e in l {
                println!("{}/{} {}", e.addr, e.masklen, e.value);
            }
        } else {
            return fail(EX_USAGE, format!("invalid table command {cmd}"));
        }
        Ok(())
    }
}

/// `N` or `N-M` (strtoul base 10): the range.
fn rule_range(w: &str) -> Option<(u64, u64)> {
    let (a, b) = match w.split_once('-') {
        Some((a, b)) => (a, Some(b)),
        None => (w, None),
    };
    let lo: u64 = if a.is_empty() { 0 } else { a.parse().ok()? };
    let hi = match b {
        Some(b) => b.parse().ok()?,
        None => lo,
    };
    Some((lo, hi))
}

/// A set number 0..=31 (`EX_DATAERR` `"{what} N"` otherwise).
fn set_number(w: &str, what: &str) -> Result<u32, Fail> {
    let n = libvimage::atoi(w);
    if !isdigit0(w) || !(0..=i32::from(RESVD_SET)).contains(&n) {
        return fail(EX_DATAERR, format!("{what} {w}\n"));
    }
    Ok(n as u32)
}

/// `ipfw_readfile`: each line of `args`' last argument (a file) is a
/// command; flags `-cfNnqS` and `-p PREPROCESSOR [ARGS]` before it.
fn readfile(args: &[String], k: &mut dyn Kernel) -> Result<(), Fail> {
    let mut fw = Ipfw::new(k);
    let file = args.last().cloned().unwrap_or_default();
    let mut rest: &[String] = &args[..args.len() - 1];
    let mut prep: Option<(String, Vec<String>)> = None;
    while let Some(a) = rest.first() {
        let Some(flags) = a.strip_prefix('-').filter(|f| !f.is_empty()) else {
            break;
        };
        rest = &rest[1..];
        let mut chars = flags.chars();
        while let Some(c) = chars.next() {
            match c {
                'c' => fw.o.compact = true,
                'f' => fw.o.force = true,
                'N' => fw.o.resolve = true,
                'n' => fw.o.test_only = true,
                'q' => fw.o.quiet = true,
                'S' => fw.o.show_sets = true,
                'p' => {
                    let tail: String = chars.by_ref().collect();
                    let cmd = if tail.is_empty() {
                        match rest.first() {
                            Some(c) => {
                                let c = c.clone();
                                rest = &rest[1..];
                                c
                            }
                            None => return fail(EX_USAGE, "no filename argument"),
                        }
                    } else {
                        tail
                    };
                    prep = Some((cmd, rest.to_vec()));
                    rest = &[];
                }
                _ => return fail(EX_USAGE, "bad arguments, for usage summary ``ipfw''"),
            }
        }
    }
    if prep.is_none() && !rest.is_empty() {
        return fail(EX_USAGE, format!("extraneous filename arguments {file}"));
    }
    let f = std::fs::File::open(&file).map_err(|e| Fail {
        code: EX_UNAVAILABLE,
        msg: format!(
            "fopen: {file}: {}",
            e.raw_os_error()
                .map(|n| strerror(Errno::from_host(n)))
                .unwrap_or_else(|| e.to_string())
        ),
    })?;
    let text = match prep {
        None => {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut std::io::BufReader::new(f), &mut s);
            s
        }
        Some((cmd, cargs)) => {
            let out = std::process::Command::new(&cmd)
                .args(&cargs)
                .stdin(f)
                .output()
                .map_err(|e| Fail {
                    code: EX_OSERR,
                    msg: format!("execvp({cmd}) failed: {e}"),
                })?;
            if !out.status.success() {
                return fail(
                    EX_UNAVAILABLE,
                    format!("{cmd}: preprocessor exited with {}", out.status),
                );
            }
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    };
    for (n, line) in text.lines().enumerate() {
        set_prog(&format!("Line {}", n + 1));
        // A failing line ends the run, as errx(3) does in ipfw(8).
        match ipfw_main(&[line.to_string()], &mut fw) {
            Ok(_) => {}
            Err(f) => die(f),
        }
    }
    Ok(())
}

/// `main`: a rule file when the last argument is an absolute path one may
/// read, else one command.
pub fn main() -> ! {
    libvimage::sigpipe_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut door = Door::default();
    let is_file = args.last().is_some_and(|l| {
        l.starts_with('/')
            && std::fs::File::open(l).is_ok_and(|f| f.metadata().is_ok_and(|m| m.is_file()))
    });
    let r = if is_file {
        readfile(&args, &mut door).map(|()| false)
    } else {
        let mut fw = Ipfw::new(&mut door);
        ipfw_main(&args, &mut fw)
    };
    match r {
        Ok(true) => show_usage(),
        Ok(false) => {
            let _ = std::io::stdout().flush();
            std::process::exit(0)
        }
        Err(f) => die(f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kernel that keeps what it is told, answers gets from a script.
    #[derive(Default)]
    struct Fake {
        sent: Vec<(i32, Vec<u8>)>,
        fail_del: bool,
    }
    impl Kernel for Fake {
        fn get(&mut self, name: i32, val: &[u8]) -> Result<Result<Vec<u8>, Errno>, Fail> {
            self.sent.push((name, val.to_vec()));
            Ok(match name {
                IP_FW_ADD => {
                    let mut r = IpFwRule::from_bytes(val).unwrap();
                    if r.rulenum == 0 {
                        r.rulenum = 100;
                    }
                    Ok(r.to_bytes().unwrap())
                }
                _ => Err(Errno::ENOPROTOOPT),
            })
        }
        fn set(&mut self, name: i32, val: &[u8]) -> Result<Result<(), Errno>, Fail> {
            self.sent.push((name, val.to_vec()));
            Ok(if self.fail_del && name == IP_FW_DEL {
                Err(Errno::EINVAL)
            } else {
                Ok(())
            })
        }
        fn sysctl_get(&mut self, _: &str) -> Result<i64, Errno> {
            Ok(7)
        }
        fn sysctl_set(&mut self, _: &str, _: i64) -> Result<(), Errno> {
            Ok(())
        }
    }

    fn w(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn arguments_split_join_and_swap() {
        assert_eq!(
            split_single("  add 100  allow ip from 1.1.1.1, 2.2.2.2 to any # note"),
            w("add 100 allow ip from 1.1.1.1,2.2.2.2 to any")
        );
        assert!(split_single("# only a comment").is_empty());
        assert_eq!(
            join_commas(&w("add allow ip from 1.1.1.1, 2.2.2.2 to any")),
            w("add allow ip from 1.1.1.1,2.2.2.2 to any")
        );
        let mut k = Fake::default();
        let mut fw = Ipfw::new(&mut k);
        fw.o.quiet = true;
        // `ipfw 100 add deny ...` is `ipfw add 100 deny ...`.
        assert_eq!(
            ipfw_main(&w("-q 100 add deny ip from any to any"), &mut fw),
            Ok(false)
        );
        let (name, b) = &k.sent[0];
        assert_eq!(*name, IP_FW_ADD);
        assert_eq!(IpFwRule::from_bytes(b).unwrap().rulenum, 100);
    }

    #[test]
    fn commands_send_what_ipfw8_sends() {
        let mut k = Fake::default();
        let mut fw = Ipfw::new(&mut k);
        fw.o.quiet = true;
        ipfw_main(&w("delete 100 200"), &mut fw).unwrap();
        ipfw_main(&w("delete set 3"), &mut fw).unwrap();
        ipfw_main(&w("set 2 delete 100"), &mut fw).unwrap();
        ipfw_main(&w("set disable 1 2 enable 3"), &mut fw).unwrap();
        ipfw_main(&w("set move rule 100 to 4"), &mut fw).unwrap();
        ipfw_main(&w("set swap 1 2"), &mut fw).unwrap();
        ipfw_main(&w("zero 100"), &mut fw).unwrap();
        ipfw_main(&w("set 1 zero 100"), &mut fw).unwrap();
        ipfw_main(&w("-f flush"), &mut fw).unwrap();
        ipfw_main(&w("resetlog"), &mut fw).unwrap();
        let del = |a: u32| (IP_FW_DEL, a.to_le_bytes().to_vec());
        let mut sets = 6u32.to_le_bytes().to_vec();
        sets.extend(8u32.to_le_bytes());
        assert_eq!(
            k.sent,
            vec![
                del(100),
                del(200),
                del((1 << 24) | 3),
                del((5 << 24) | (2 << 16) | 100),
                (IP_FW_DEL, sets),
                del((2 << 24) | (4 << 16) | 100),
                del((4 << 24) | (2 << 16) | 1),
                (IP_FW_ZERO, 100u32.to_le_bytes().to_vec()),
                (
                    IP_FW_ZERO,
                    ((1 << 24) | (1 << 16) | 100u32).to_le_bytes().to_vec()
                ),
                (IP_FW_FLUSH, vec![]),
                (IP_FW_RESETLOG, vec![]),
            ]
        );
        let mut k = Fake {
            fail_del: true,
            ..Fake::default()
        };
        let mut fw = Ipfw::new(&mut k);
        assert_eq!(
            ipfw_main(&w("delete 100"), &mut fw).unwrap_err().code,
            EX_UNAVAILABLE
        );
        assert_eq!(
            ipfw_main(&w("bogus"), &mut fw).unwrap_err().msg,
            "bad command `bogus'"
        );
        assert_eq!(ipfw_main(&[], &mut fw), Ok(true));
        // Listing asks the kernel: without ipfw, ENOPROTOOPT, exit 71.
        let f = ipfw_main(&w("list"), &mut fw).unwrap_err();
        assert_eq!(
            (f.code, f.msg.as_str()),
            (EX_OSERR, "getsockopt(IP_FW_GET): Protocol not available")
        );
        // log without logamount takes net.inet.ip.fw.verbose_limit.
        fw.o.quiet = true;
        ipfw_main(&w("add 5 count log ip from any to any"), &mut fw).unwrap();
        let (_, b) = k.sent.last().unwrap();
        let r = IpFwRule::from_bytes(b).unwrap();
        assert_eq!(
            r.log().map(|i| &i.cmd),
            Some(&Cmd::Log {
                max_log: 7,
                log_left: 7
            })
        );
    }
}
