//! `ratchet-term`: what both command lines (`ratchet` and `ratchet-index`) share when they talk
//! to a terminal. Libraries return values and events; only the CLIs render, through this crate.

/// Makes the process end quietly, like other Unix tools, when the reader of its output goes
/// away (`ratchet ... | head`). Rust ignores SIGPIPE by default, which turns every later print
/// into a panic. Call it first thing in `main`, before any thread starts.
pub fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: sets the default disposition of one signal; no handler runs our code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
