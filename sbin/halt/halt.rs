//! halt(8): stop the running kernel (only from the default vimage).

use libvimage::{err, getopt, Sys};
use vimage_abi::syscall::RB_HALT;

fn usage() -> ! {
    eprintln!("usage: halt");
    std::process::exit(1)
}

fn main() {
    libvimage::sigpipe_default();
    if !getopt("", usage).operands.is_empty() {
        usage()
    }
    let mut s = Sys::open_or_exit();
    if let Err(e) = s.reboot(RB_HALT) {
        err(1, "reboot", e)
    }
}
