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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::state::fixture::{bundle, state};
    use crate::install::state::{Lockfile, read_json};
    use std::time::{Duration, SystemTime};

    fn set_mtime(path: &Path, t: SystemTime) {
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }

    fn setup() -> (tempfile::TempDir, Paths, InstalledState) {
        let t = tempfile::tempdir().unwrap();
        let paths = Paths::under(t.path().to_path_buf());
        std::fs::create_dir_all(&paths.data).unwrap();
        let s = state(vec![("com.example.app", bundle("1.0.0", &[], true))]);
        (t, paths, s)
    }

    #[test]
    fn nothing_installed_nothing_repaired() {
        let (_t, paths, _) = setup();
        assert!(!repair_lockfile(&paths).unwrap());
        assert!(!paths.data.join(LOCK_FILE).exists());
    }

    #[test]
    fn a_missing_or_older_lockfile_is_rewritten_from_the_state() {
        let (_t, paths, s) = setup();
        write_json(&paths.data.join(INSTALLED_FILE), &s).unwrap();
        assert!(repair_lockfile(&paths).unwrap());
        let lock: Lockfile = read_json(&paths.data.join(LOCK_FILE)).unwrap();
        assert_eq!(lock, s.lockfile());
        // A kill between the commit and the lockfile: the lockfile is older and stale.
        write_json(&paths.data.join(LOCK_FILE), &Lockfile::default()).unwrap();
        let now = SystemTime::now();
        set_mtime(&paths.data.join(LOCK_FILE), now - Duration::from_secs(60));
        set_mtime(&paths.data.join(INSTALLED_FILE), now);
        assert!(repair_lockfile(&paths).unwrap());
        let lock: Lockfile = read_json(&paths.data.join(LOCK_FILE)).unwrap();
        assert_eq!(lock, s.lockfile());
    }

    #[test]
    fn a_newer_lockfile_is_left_alone() {
        let (_t, paths, s) = setup();
        write_json(&paths.data.join(INSTALLED_FILE), &s).unwrap();
        let other = Lockfile {
            v: STATE,
            ..Lockfile::default()
        };
        write_json(&paths.data.join(LOCK_FILE), &other).unwrap();
        let now = SystemTime::now();
        set_mtime(
            &paths.data.join(INSTALLED_FILE),
            now - Duration::from_secs(60),
        );
        set_mtime(&paths.data.join(LOCK_FILE), now);
        assert!(!repair_lockfile(&paths).unwrap());
        let lock: Lockfile = read_json(&paths.data.join(LOCK_FILE)).unwrap();
        assert_eq!(lock, other);
    }

    const STATE: u32 = crate::install::STATE_FORMAT;

    #[test]
    fn a_second_taker_says_it_waits_then_gets_the_lock() {
        let (_t, paths, _) = setup();
        let held = lock(&paths, &crate::events::NoReporter).unwrap();
        let log = std::sync::Arc::new(crate::events::EventLog::default());
        let waiter = {
            let (paths, log) = (paths.clone(), log.clone());
            std::thread::spawn(move || lock(&paths, log.as_ref()).map(drop))
        };
        // The waiting event comes before the lock is released (no timing: it is awaited).
        while log.events().is_empty() {
            std::thread::yield_now();
        }
        assert_eq!(
            log.events(),
            [Event::WaitingForLock {
                path: paths.data.join(INSTALL_LOCK_FILE)
            }]
        );
        drop(held);
        waiter.join().unwrap().unwrap();
    }

    #[test]
    fn the_lock_is_taken_and_released() {
        let (_t, paths, _) = setup();
        let log = crate::events::EventLog::default();
        let held = lock(&paths, &log).unwrap();
        // Another handle cannot take it while held (without waiting).
        let other = std::fs::File::options()
            .write(true)
            .open(paths.data.join(INSTALL_LOCK_FILE))
            .unwrap();
        assert!(matches!(
            other.try_lock(),
            Err(std::fs::TryLockError::WouldBlock)
        ));
        drop(held);
        other.try_lock().unwrap();
        assert!(log.events().is_empty());
    }
}
