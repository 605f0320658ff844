//! The installation lock: one process at a time changes the installed state.

use super::state::{INSTALLED_FILE, InstalledState, LOCK_FILE, write_json};
use super::{InstallError, local};
use crate::events::{Event, Reporter};
use crate::paths::Paths;
use std::path::Path;

/// The lock file that serializes installs, updates and removals, in the data directory.
pub const INSTALL_LOCK_FILE: &str = ".install.lock";

/// Held while an operation changes the installation; released on drop.
#[derive(Debug)]
pub struct InstallLock {
    _file: std::fs::File,
}

/// Takes the installation lock (an exclusive advisory lock on `data/.install.lock`), waiting for
/// another ratchet process that holds it ([`Event::WaitingForLock`] says so first), then
/// repairs a lockfile a killed process left behind ([`repair_lockfile`]).
pub fn lock(paths: &Paths, reporter: &dyn Reporter) -> Result<InstallLock, InstallError> {
    let path = paths.data.join(INSTALL_LOCK_FILE);
    std::fs::create_dir_all(&paths.data).map_err(local(&paths.data))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(local(&path))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            reporter.report(&Event::WaitingForLock { path: path.clone() });
            file.lock().map_err(local(&path))?;
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(local(&path)(e)),
    }
    repair_lockfile(paths)?;
    Ok(InstallLock { _file: file })
}

/// `installed.json` is the commit point and `ratchet.lock` is written right after it: a
/// lockfile older than `installed.json` (a process killed between the two), or missing, is
/// brought up to date. A newer one (say, copied there to install with `--locked`) is left
/// alone, and so is everything when nothing is installed. Returns whether it wrote the lockfile.
/// Call it with the installation lock held.
pub fn repair_lockfile(paths: &Paths) -> Result<bool, InstallError> {
    let installed = paths.data.join(INSTALLED_FILE);
    let lock_path = paths.data.join(LOCK_FILE);
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let Some(state_time) = mtime(&installed)
        && mtime(&lock_path).is_none_or(|t| t < state_time)
    {
        let state = InstalledState::load(paths)?;
        write_json(&lock_path, &state.lockfile())?;
        return Ok(true);
    }
    Ok(false)
}
