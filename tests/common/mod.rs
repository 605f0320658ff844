//! Helpers shared by the integration tests: C test modules compiled with clang for wasm32-wasi
//! at test time, a small real HTTP server on loopback, and the system tools tests need
//! (`tools.rs`: a missing tool fails its tests unless `RATCHET_TEST_SKIP` opts its group out).
#![allow(dead_code)]

mod tools;
pub use tools::*;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The directory of the C and WAT sources of the test modules.
pub fn modules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sandbox-modules")
}

/// The wasi-libc sysroot: `$WASI_SYSROOT`, else the first of the usual places that has
/// `include/wasm32-wasi` or `include/stdio.h`.
fn sysroot() -> PathBuf {
    if let Some(s) = std::env::var_os("WASI_SYSROOT") {
        return PathBuf::from(s);
    }
    for c in [
        "/usr/share/wasi-sysroot",
        "/usr",
        "/opt/wasi-sdk/share/wasi-sysroot",
    ] {
        let p = Path::new(c);
        if p.join("include/wasm32-wasi/stdio.h").is_file()
            || p.join("include/stdio.h").is_file() && c != "/usr"
        {
            return p.to_path_buf();
        }
    }
    panic!(
        "no wasi-libc sysroot found (looked for WASI_SYSROOT, /usr/share/wasi-sysroot, /usr/include/wasm32-wasi, /opt/wasi-sdk/share/wasi-sysroot); install the Debian package wasi-libc (scripts/setup.sh installs every package the tests need; {WASM_TOOLCHAIN_SETUP})"
    );
}

/// Why the C test modules' toolchain has no `RATCHET_TEST_SKIP` group.
const WASM_TOOLCHAIN_SETUP: &str = "the wasm32-wasi toolchain (clang, lld, wasi-libc, libclang-rt-14-dev-wasm32) cannot be skipped: it also builds the JavaScript engine that the main job and the JavaScript tests need";

/// Compiles `tests/sandbox-modules/NAME.c` to wasm32-wasi once per test process.
pub fn c_module(name: &str) -> Vec<u8> {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = DIR.get_or_init(|| tempfile::tempdir().unwrap());
    let out = dir.path().join(format!("{name}.wasm"));
    if !out.is_file() {
        let tmp = dir.path().join(format!("{name}.tmp.wasm"));
        let src = modules_dir().join(format!("{name}.c"));
        let why = WASM_TOOLCHAIN_SETUP;
        let clang = needed_tool("clang", "clang", why);
        // clang links wasm32 with wasm-ld, found next to clang or in PATH; without it clang's
        // error would only say that the linker failed.
        if !clang.with_file_name("wasm-ld").is_file() {
            needed_tool("wasm-ld", "lld", why);
        }
        let compiled = Command::new(&clang)
            .args(["--target=wasm32-wasi", "-O2", "-o"])
            .arg(&tmp)
            .arg(format!("--sysroot={}", sysroot().display()))
            .arg(&src)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", clang.display()));
        assert!(
            compiled.status.success(),
            "{} failed on {}: {}\n(libclang_rt.builtins-wasm32.a comes from the Debian package libclang-rt-14-dev-wasm32, which scripts/setup.sh installs; {why})",
            clang.display(),
            src.display(),
            String::from_utf8_lossy(&compiled.stderr).trim_end()
        );
        std::fs::rename(&tmp, &out).unwrap();
    }
    std::fs::read(&out).unwrap()
}

/// The text of `tests/sandbox-modules/NAME.wat`.
pub fn wat_module(name: &str) -> Vec<u8> {
    std::fs::read(modules_dir().join(format!("{name}.wat"))).unwrap()
}

/// A real HTTP/1.1 server on 127.0.0.1 answering a fixed set of paths, for a bounded number of
/// requests; returns its port. Paths: `/ok` (JSON), `/redirect-local` (to `/ok` on the same
/// host), `/redirect-out` (to `http://localhost:PORT/ok`, another host), `/big` (1 MiB).
pub fn http_server(max_requests: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(max_requests) {
            let Ok(mut s) = stream else { continue };
            s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .ok();
            let mut reader = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            let _ = reader.read_exact(&mut body);
            let (status, extra, body): (&str, String, Vec<u8>) = match path.as_str() {
                "/ok" => (
                    "200 OK",
                    "Content-Type: application/json\r\n".into(),
                    b"{\"hello\":\"world\"}".to_vec(),
                ),
                "/redirect-local" => ("302 Found", "Location: /ok\r\n".into(), Vec::new()),
                "/redirect-out" => (
                    "302 Found",
                    format!("Location: http://localhost:{port}/ok\r\n"),
                    Vec::new(),
                ),
                "/big" => ("200 OK", String::new(), vec![b'x'; 1 << 20]),
                _ => ("404 Not Found", String::new(), b"no".to_vec()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    port
}

/// Copies a directory tree ([`ratchet_testkit::copy_dir`]).
pub fn copy_dir(from: &Path, to: &Path) {
    ratchet_testkit::copy_dir(from, to)
}

/// Runs the `ratchet` binary with `RATCHET_HOME` set to `home`, no key password and no
/// `NO_COLOR` from the environment.
pub fn ratchet(home: &Path, args: &[&str]) -> std::process::Output {
    ratchet_env(home, args, &[])
}

/// [`ratchet`] with the variables `env` set as well.
pub fn ratchet_env(home: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ratchet"));
    c.args(args)
        .env("RATCHET_HOME", home)
        .env_remove("RATCHET_KEY_PASSWORD")
        .env_remove("NO_COLOR")
        // Stored credentials stay under `home`, never in the developer's keychain.
        .env("RATCHET_CREDENTIAL_STORE", "file");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// Bytes from a child's stdout or stderr as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `ratchet bundle install ID --registry REGISTRY -y` with `RATCHET_HOME` set to `home`.
pub fn install_from(home: &Path, id: &str, registry: &str) -> std::process::Output {
    ratchet(
        home,
        &["bundle", "install", id, "--registry", registry, "-y"],
    )
}

/// Asserts that the command failed and that its stderr says `needle`.
pub fn assert_fails_with(o: &std::process::Output, needle: &str) {
    let err = text(&o.stderr);
    assert!(!o.status.success(), "succeeded: {err}");
    assert!(err.contains(needle), "{err}");
}

/// A copy of the committed `sample-index/` in `dir/sample-index` with a fresh timestamp signed
/// by the SAMPLE registry key ([`ratchet_testkit::sample_index_copy`]): what every test that
/// serves the sample registry over HTTP serves (the committed copy's timestamp has expired,
/// which an HTTP client refuses as a freeze; a local directory source does not read it).
pub fn sample_index_for_http(dir: &Path) -> PathBuf {
    ratchet_testkit::sample_index_copy(&dir.join("sample-index"))
}

/// The SAMPLE registry key file (never trust it): `ratchet-index --registry-key` for a test that
/// changes a copy of `sample-index/`.
pub fn sample_registry_key_path() -> PathBuf {
    ratchet_testkit::sample_registry_key_path()
}

/// An unsigned copy of `sample-index/` in `dir/sample-index-unsigned`
/// ([`ratchet_testkit::unsigned_sample_index_copy`]): for a test of a hostile host that edits
/// files by hand, which a signed registry would refuse before the check under test.
pub fn unsigned_sample_index(dir: &Path) -> PathBuf {
    ratchet_testkit::unsigned_sample_index_copy(&dir.join("sample-index-unsigned"))
}
