//! File-system helpers that never leave half-written state.
//!
//! Every file the tools produce (archives, index files, configuration) is written to a temporary
//! file in the destination directory, flushed, and renamed into place, so a crash leaves either
//! the old file or the new one, never a torn one. Files get the usual mode (0666 less the
//! umask, so 0644 under the common umask): a registry written here must be readable by the web
//! server that serves it. Secrets use [`write_private_atomic`] (0600 from creation).

use std::io::{self, Write};
use std::path::Path;

/// Writes `bytes` to `path` atomically: temp file in the same directory, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |f| f.write_all(bytes))
}

/// Like [`write_atomic`], with the content produced by `fill` writing into the temp file.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> io::Result<()>,
) -> io::Result<()> {
    write_atomic_mode(path, 0o666, true, fill)
}

/// Like [`write_atomic`] for a secret: the file is mode 0600 from its creation, so no other
/// user can read it at any moment.
pub fn write_private_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_mode(path, 0o600, true, |f| f.write_all(bytes))
}

/// Like [`write_atomic`], never torn (temp file + rename), but not synced to disk: for a cache
/// (a cache that loses its last writes in a power cut is simply refetched), or for many files
/// made durable at once afterwards ([`sync_filesystem`]).
pub fn write_atomic_unsynced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_mode(path, 0o666, false, |f| f.write_all(bytes))
}

fn write_atomic_mode(
    path: &Path,
    mode: u32,
    durable: bool,
    fill: impl FnOnce(&mut std::fs::File) -> io::Result<()>,
) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".tmp-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The umask applies, as for any file created with open(2).
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut tmp = builder.tempfile_in(dir)?;
    fill(tmp.as_file_mut())?;
    tmp.as_file_mut().flush()?;
    if durable {
        tmp.as_file().sync_all()?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Makes everything written so far to the file system holding `path` durable: one `syncfs`
/// (Linux) instead of a sync per file, for a step that wrote many files (an install unpacking
/// its bundles) before it commits to them. Elsewhere, `sync` for the whole machine.
pub fn sync_filesystem(path: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let dir = std::fs::File::open(path)?;
        // SAFETY: syncfs takes an open descriptor, which `dir` keeps open for the call.
        if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    #[cfg(all(unix, not(target_os = "linux")))]
    {
        let _ = path;
        // SAFETY: sync takes no arguments and cannot fail.
        unsafe { libc::sync() };
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Reads at most `limit + 1` bytes of `path`: a result longer than `limit` means the file is
/// too large (the caller says so), and a hostile file can never make the reader allocate more.
pub fn read_at_most(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    // Sized from the file's length when known, so a read does not grow its buffer step by step.
    let hint = f
        .metadata()
        .map_or(0, |m| m.len().min(limit.saturating_add(1)));
    let mut buf = Vec::with_capacity(usize::try_from(hint).unwrap_or(0));
    f.take(limit.saturating_add(1)).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Renders a path relative to `base` with `/` separators, for messages and archive entries.
pub fn rel_display(base: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(base).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/file.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn files_are_world_readable_and_secrets_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (open, secret) = (dir.path().join("index"), dir.path().join("secret"));
        write_atomic(&open, b"x").unwrap();
        write_private_atomic(&secret, b"y").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        // Readable by others unless the umask forbids it (0644 under umask 022).
        assert_eq!(mode(&open) & 0o444, 0o444 & !umask());
        assert_eq!(mode(&secret), 0o600);
    }

    #[cfg(unix)]
    fn umask() -> u32 {
        // /proc/self/status has `Umask:\t0022` on Linux; assume the common 022 elsewhere.
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Umask:"))
                    .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
            })
            .unwrap_or(0o022)
    }
}
