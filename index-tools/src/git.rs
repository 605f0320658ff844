//! A registry directory that is a git working tree (index-format.md §6.10): every change made
//! by `ratchet-index` becomes one commit with a message saying what it did, pushed to the
//! branch's upstream. A push rejected because another publisher pushed first is not merged or
//! rebased (the signed log, the state map and `names.txt` would conflict line by line): the
//! clone is reset to the new upstream commit and the operation is run again on it, with every
//! check again (a version someone else just published is then refused), until the push goes
//! through. So concurrent publishers, each in its own clone, never lose a publish.
//!
//! Only the top directory of a working tree (one holding `.git`) is treated so; the git command
//! line does the work, so remotes, credentials and ssh agents are the user's own.

use ratchet_client::registry::git::{Git, GitError, GitOutput};
use std::path::{Path, PathBuf};

/// Why a registry in git cannot take a change.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// A git command failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// The working tree has changes of its own, which a commit would take along.
    #[error(
        "{dir} has uncommitted changes ({first}{more}): commit or stash them first, since ratchet-index commits each operation it makes in a git working tree"
    )]
    Dirty {
        /// The registry directory.
        dir: String,
        /// The first changed path.
        first: String,
        /// ", ..." when there are more.
        more: &'static str,
    },
    /// The branch has commits its upstream does not, which a reset would drop.
    #[error(
        "{dir}: the branch has commits that are not on {upstream}: push them (or reset the branch) first"
    )]
    Ahead {
        /// The registry directory.
        dir: String,
        /// `remote/branch`.
        upstream: String,
    },
    /// Pushes kept being rejected.
    #[error(
        "{dir}: the push to {upstream} was rejected {attempts} times, as other publishers pushed first; nothing of this operation was pushed (run it again)"
    )]
    Contended {
        /// The registry directory.
        dir: String,
        /// `remote/branch`.
        upstream: String,
        /// How many attempts.
        attempts: u32,
    },
}

/// The upstream a branch pushes to.
#[derive(Debug, Clone)]
struct Upstream {
    remote: String,
    /// `refs/heads/NAME`.
    merge: String,
}

impl Upstream {
    fn label(&self) -> String {
        format!(
            "{}/{}",
            self.remote,
            self.merge
                .strip_prefix("refs/heads/")
                .unwrap_or(&self.merge)
        )
    }
}

/// A registry directory at the top of a git working tree.
pub struct Tree {
    git: Git,
    dir: PathBuf,
    upstream: Option<Upstream>,
}

/// What a push did.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    /// The commit is on the upstream branch.
    Yes,
    /// Another publisher pushed first (non-fast-forward): run the operation again.
    Rejected,
    /// The branch has no upstream: the commit stays local.
    NoUpstream,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim().to_string()
}

impl Tree {
    /// The working tree whose top directory is `dir`; `None` when `dir` holds no `.git`.
    pub fn detect(dir: &Path) -> Result<Option<Tree>, TreeError> {
        if !dir.join(".git").exists() {
            return Ok(None);
        }
        let git = Git::new(&dir.display().to_string(), dir)?;
        let branch = git.output(&["symbolic-ref", "--short", "-q", "HEAD"])?;
        let upstream = if branch.success {
            let branch = text(&branch.stdout);
            let config = |key: &str| -> Result<Option<String>, GitError> {
                let o = git.output(&["config", "--get", key])?;
                Ok(o.success.then(|| text(&o.stdout)).filter(|s| !s.is_empty()))
            };
            let remote = config(&format!("branch.{branch}.remote"))?;
            let merge = config(&format!("branch.{branch}.merge"))?;
            match (remote, merge) {
                (Some(remote), Some(merge)) if remote != "." => Some(Upstream { remote, merge }),
                // A clone of an empty repository has `origin` but no tracking configuration yet.
                _ => {
                    let remotes = text(&git.run(&["remote"])?);
                    remotes.lines().any(|r| r == "origin").then(|| Upstream {
                        remote: "origin".into(),
                        merge: format!("refs/heads/{branch}"),
                    })
                }
            }
        } else {
            None
        };
        Ok(Some(Tree {
            git,
            dir: dir.to_path_buf(),
            upstream,
        }))
    }

    /// `remote/branch`, when the branch has an upstream.
    pub fn upstream(&self) -> Option<String> {
        self.upstream.as_ref().map(Upstream::label)
    }

    /// Refuses a working tree with changes of its own (ignored files do not count).
    pub fn require_clean(&self) -> Result<(), TreeError> {
        let status = text(&self.git.run(&["status", "--porcelain", "-uall"])?);
        let mut lines = status.lines();
        if let Some(first) = lines.next() {
            return Err(TreeError::Dirty {
                dir: self.dir.display().to_string(),
                first: first.get(3..).unwrap_or(first).to_string(),
                more: if lines.next().is_some() { ", ..." } else { "" },
            });
        }
        Ok(())
    }

    /// Fetches the upstream branch and resets the working tree to it. `first`: refuse when the
    /// branch holds commits the upstream lacks (on a retry they are this operation's own).
    /// Nothing to do without an upstream, or while the upstream branch does not exist yet.
    pub fn sync(&self, first: bool) -> Result<(), TreeError> {
        let Some(up) = &self.upstream else {
            return Ok(());
        };
        let fetch = self
            .git
            .output(&["fetch", "-q", "--no-tags", &up.remote, &up.merge])?;
        if !fetch.success {
            if fetch.stderr.contains("couldn't find remote ref") {
                return Ok(());
            }
            return Err(self.git.failed(&["fetch"], fetch).into());
        }
        let has_head = self.git.output(&["rev-parse", "-q", "--verify", "HEAD"])?;
        if first && has_head.success {
            let ahead = self
                .git
                .output(&["merge-base", "--is-ancestor", "HEAD", "FETCH_HEAD"])?;
            if !ahead.success {
                return Err(TreeError::Ahead {
                    dir: self.dir.display().to_string(),
                    upstream: up.label(),
                });
            }
        }
        self.git.run(&["reset", "-q", "--hard", "FETCH_HEAD"])?;
        Ok(())
    }

    /// Throws away what an attempt changed (its commit, if any, and its files).
    pub fn discard(&self) -> Result<(), TreeError> {
        let has_upstream_tip = self
            .git
            .output(&["rev-parse", "-q", "--verify", "FETCH_HEAD"])?;
        if has_upstream_tip.success {
            self.git.run(&["reset", "-q", "--hard", "FETCH_HEAD"])?;
        }
        self.git.run(&["clean", "-q", "-fd"])?;
        Ok(())
    }

    /// Commits every change of the working tree with `message`; `false` when nothing changed.
    pub fn commit(&self, message: &str) -> Result<bool, TreeError> {
        self.git.run(&["add", "-A"])?;
        let diff = self.git.output(&["diff", "--cached", "--quiet"])?;
        if diff.success {
            return Ok(false);
        }
        // Commit as the user; a machine without a git identity (CI) commits as ratchet-index.
        let named = self.git.output(&["config", "user.name"])?.success
            && self.git.output(&["config", "user.email"])?.success;
        let mut args = Vec::new();
        if !named {
            args.extend([
                "-c",
                "user.name=ratchet-index",
                "-c",
                "user.email=ratchet-index@localhost",
            ]);
        }
        args.extend(["commit", "-q", "--no-verify", "-m", message]);
        self.git.run(&args)?;
        Ok(true)
    }

    /// The current commit id.
    pub fn head(&self) -> Result<String, TreeError> {
        Ok(text(&self.git.run(&["rev-parse", "HEAD"])?))
    }

    /// Pushes the current commit to the upstream branch.
    pub fn push(&self) -> Result<Pushed, TreeError> {
        let Some(up) = &self.upstream else {
            return Ok(Pushed::NoUpstream);
        };
        let refspec = format!("HEAD:{}", up.merge);
        let o: GitOutput = self
            .git
            .output(&["push", "-q", "--porcelain", &up.remote, &refspec])?;
        if o.success {
            return Ok(Pushed::Yes);
        }
        let said = format!("{}\n{}", text(&o.stdout), o.stderr);
        if [
            "[rejected]",
            "non-fast-forward",
            "fetch first",
            "stale info",
            "cannot lock ref",
        ]
        .iter()
        .any(|s| said.contains(s))
        {
            return Ok(Pushed::Rejected);
        }
        Err(self.git.failed(&["push"], o).into())
    }

    /// The error when every attempt was rejected.
    pub fn contended(&self, attempts: u32) -> TreeError {
        TreeError::Contended {
            dir: self.dir.display().to_string(),
            upstream: self.upstream().unwrap_or_default(),
            attempts,
        }
    }
}

/// Waits a little before attempt `attempt + 1`: longer after each rejection, with jitter so
/// publishers that collided do not collide again in step.
pub fn backoff(attempt: u32) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let jitter = u64::from((nanos ^ std::process::id().wrapping_mul(2_654_435_761)) % 200);
    let base = 20 * u64::from(attempt.min(10));
    std::thread::sleep(std::time::Duration::from_millis(base + jitter));
}

/// The standard output and error of one attempt, held back (in temporary files, as file
/// descriptors 1 and 2 are redirected) so that only the attempt that counts is shown.
pub struct Capture {
    saved_out: libc::c_int,
    saved_err: libc::c_int,
    out: std::fs::File,
    err: std::fs::File,
}

/// What an attempt printed.
pub struct Captured {
    out: Vec<u8>,
    err: Vec<u8>,
}

fn flush() {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
}

impl Capture {
    /// Starts holding back what this process prints.
    pub fn start() -> std::io::Result<Capture> {
        use std::os::fd::AsRawFd;
        flush();
        let out = tempfile::tempfile()?;
        let err = tempfile::tempfile()?;
        // SAFETY: dup and dup2 on descriptors this process owns; failures are checked.
        unsafe {
            let saved_out = libc::dup(1);
            let saved_err = libc::dup(2);
            if saved_out < 0
                || saved_err < 0
                || libc::dup2(out.as_raw_fd(), 1) < 0
                || libc::dup2(err.as_raw_fd(), 2) < 0
            {
                let e = std::io::Error::last_os_error();
                if saved_out >= 0 {
                    libc::dup2(saved_out, 1);
                    libc::close(saved_out);
                }
                if saved_err >= 0 {
                    libc::dup2(saved_err, 2);
                    libc::close(saved_err);
                }
                return Err(e);
            }
            Ok(Capture {
                saved_out,
                saved_err,
                out,
                err,
            })
        }
    }

    /// Stops holding back and returns what was printed.
    pub fn finish(mut self) -> std::io::Result<Captured> {
        use std::io::{Read, Seek};
        flush();
        // SAFETY: restores the descriptors saved in `start`, which this value owns.
        unsafe {
            libc::dup2(self.saved_out, 1);
            libc::dup2(self.saved_err, 2);
            libc::close(self.saved_out);
            libc::close(self.saved_err);
        }
        let read = |f: &mut std::fs::File| -> std::io::Result<Vec<u8>> {
            f.seek(std::io::SeekFrom::Start(0))?;
            let mut b = Vec::new();
            f.read_to_end(&mut b)?;
            Ok(b)
        };
        Ok(Captured {
            out: read(&mut self.out)?,
            err: read(&mut self.err)?,
        })
    }
}

impl Captured {
    /// [`Captured::replay`] with every `from` (a working directory) shown as `to` (what the
    /// user named).
    pub fn replay_replacing(&self, from: &str, to: &str) {
        use std::io::Write;
        let url = format!("file://{from}");
        let swap = |b: &[u8]| -> Vec<u8> {
            String::from_utf8_lossy(b)
                .replace(&url, to)
                .replace(from, to)
                .into_bytes()
        };
        let _ = std::io::stdout().write_all(&swap(&self.out));
        let _ = std::io::stderr().write_all(&swap(&self.err));
        flush();
    }

    /// Prints what the attempt printed, each stream to where it was going.
    pub fn replay(&self) {
        use std::io::Write;
        let _ = std::io::stdout().write_all(&self.out);
        let _ = std::io::stderr().write_all(&self.err);
        flush();
    }
}
