//! Links the release binary with the code the daemon and the edge run side by side
//! (packaging/link-order.sh says why and how the list is made).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let list = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join("packaging/link-order.txt");
    println!("cargo::rerun-if-changed={}", list.display());
    // The list names x86_64 glibc symbols.
    let release = env::var("PROFILE").as_deref() == Ok("release");
    let target = env::var("TARGET").as_deref() == Ok("x86_64-unknown-linux-gnu");
    if !(release && target && list.exists()) {
        return;
    }
    let args = [
        format!("-Wl,--symbol-ordering-file={}", list.display()),
        "-Wl,--no-warn-symbol-ordering".to_string(),
    ];
    // Only LLD reads the list: Rust's own toolchain links this target with it (from 1.90 on),
    // but an older or a distribution's rustc may use a linker that refuses the option.
    if linker_accepts(&args) {
        for arg in args {
            println!("cargo::rustc-link-arg-bins={arg}");
        }
    } else {
        println!(
            "cargo::warning=the linker does not take --symbol-ordering-file: built without the code layout of packaging/link-order.txt (more memory per process, same behaviour)"
        );
    }
}

/// Whether rustc, with this build's flags, links an empty program with `args`.
fn linker_accepts(args: &[String]) -> bool {
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let source = out.join("probe.rs");
    if std::fs::write(&source, "fn main() {}\n").is_err() {
        return false;
    }
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let mut probe = Command::new(env::var("RUSTC").unwrap_or_else(|_| "rustc".into()));
    probe
        .args(flags.split('\x1f').filter(|f| !f.is_empty()))
        .args(["--target", &env::var("TARGET").unwrap(), "-o"])
        .arg(out.join("probe"))
        .arg(&source);
    for arg in args {
        probe.arg(format!("-Clink-arg={arg}"));
    }
    probe.output().is_ok_and(|o| o.status.success())
}
