//! Links the release binary with the code the daemon and the edge run side by side
//! (packaging/link-order.sh says why and how the list is made).

use std::env;
use std::path::Path;
use std::process::Command;

fn main() {
    let list = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join("packaging/link-order.txt");
    println!("cargo::rerun-if-changed={}", list.display());
    // The list names x86_64 glibc symbols, and only LLD reads it: Rust links this target with its
    // own LLD from 1.90 on; an older toolchain's system linker would refuse the option.
    let release = env::var("PROFILE").as_deref() == Ok("release");
    let target = env::var("TARGET").as_deref() == Ok("x86_64-unknown-linux-gnu");
    if release && target && rustc_links_with_lld() && list.exists() {
        println!("cargo::rustc-link-arg-bins=-Wl,--symbol-ordering-file={}", list.display());
        println!("cargo::rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

fn rustc_links_with_lld() -> bool {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("--version").output() else { return false };
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let version = String::from_utf8_lossy(&out.stdout);
    let minor = version.split_whitespace().nth(1).and_then(|v| v.split('.').nth(1)?.parse::<u32>().ok());
    minor.is_some_and(|minor| minor >= 90)
}
