//! halt(8): stop the running kernel (only from the default vimage).

use libvimage::{err, Sys};
use vimage_abi::syscall::RB_HALT;

fn main() {
    if std::env::args().len() > 1 {
        eprintln!("usage: halt");
        std::process::exit(1);
    }
    let mut s = Sys::open_or_exit();
    if let Err(e) = s.reboot(RB_HALT) {
        err(1, "reboot", e)
    }
}
