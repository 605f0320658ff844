//! Builds the JavaScript engine module (QuickJS-ng + `js-engine/ratchet-js.c`, compiled for
//! wasm32-wasi by `js-engine/build.sh`) into `OUT_DIR`, so the crate can embed it.
//!
//! When the wasm32-wasi toolchain (clang, lld, wasi-libc, libclang-rt-14-dev-wasm32) is missing
//! the crate still builds: a cargo warning says why, and JavaScript tasks then fail with a
//! message naming what to install (`src/js.rs`).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(ratchet_js_engine)");
    println!("cargo::rerun-if-changed=js-engine/ratchet-js.c");
    println!("cargo::rerun-if-changed=js-engine/build.sh");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=CC_WASM");
    println!("cargo::rerun-if-env-changed=RATCHET_SKIP_JS_ENGINE");

    if std::env::var_os("RATCHET_SKIP_JS_ENGINE").is_some() {
        println!(
            "cargo::warning=RATCHET_SKIP_JS_ENGINE is set: building without the JavaScript engine"
        );
        return;
    }
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let wasm = out_dir.join("ratchet-js.wasm");
    let work = out_dir.join("js-engine");
    // The script runs `cargo metadata` on a throw-away manifest to fetch rquickjs-sys's sources;
    // give it its own target directory so it never touches (or waits for) the outer build's.
    let result = Command::new("bash")
        .arg(manifest_dir.join("js-engine/build.sh"))
        .arg(&wasm)
        .env("RATCHET_JS_WORK", &work)
        .env("CARGO_TARGET_DIR", work.join("target"))
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .output();
    match result {
        Ok(out)
            if out.status.success()
                && wasm.is_file()
                && out_dir.join("ratchet-js.wasm.sha256").is_file() =>
        {
            println!("cargo::rustc-cfg=ratchet_js_engine");
        }
        Ok(out) => {
            retry_next_build(&out_dir);
            let err = String::from_utf8_lossy(&out.stderr);
            let last: Vec<&str> = err.trim_end().lines().rev().take(3).collect();
            println!(
                "cargo::warning=the JavaScript engine was not built (JavaScript tasks will not run): js-engine/build.sh failed; install clang, lld, wasi-libc and libclang-rt-14-dev-wasm32"
            );
            for l in last.into_iter().rev() {
                println!("cargo::warning=  {l}");
            }
        }
        Err(e) => {
            retry_next_build(&out_dir);
            println!(
                "cargo::warning=the JavaScript engine was not built (JavaScript tasks will not run): cannot run bash js-engine/build.sh: {e}"
            )
        }
    }
}

/// After a failed engine build, makes cargo run this script again on the next build (a file
/// that never exists is always "changed"), so installing the toolchain and running `cargo
/// build` is enough: nothing needs touching.
fn retry_next_build(out_dir: &std::path::Path) {
    println!(
        "cargo::rerun-if-changed={}",
        out_dir.join("js-engine-retry-sentinel").display()
    );
}
