// newvers.sh for vkernel: the kernel ident and build stamp printed in the boot log.
use std::process::Command;

fn main() {
    let rev = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    let ident = if std::env::var_os("CARGO_FEATURE_VIMAGE").is_some() {
        "VIMAGE"
    } else {
        "GENERIC"
    };
    println!("cargo:rustc-env=VKERNEL_REV={rev}");
    println!("cargo:rustc-env=VKERNEL_IDENT={ident}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=build.rs");
}
