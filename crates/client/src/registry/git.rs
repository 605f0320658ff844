//! Git-hosted registries: `git+https://`, `git+http://`, `git+ssh://`, `git+git://` and
//! `git+file://` URLs, with `#branch=NAME`, `#tag=NAME` or `#rev=COMMIT` (as cargo and uv spell
//! them), index-format.md §6.10.
//!
//! Why the git command line and not a library: credentials, ssh agents, `insteadOf` rewrites and
//! proxies then work exactly as the user set them up for git (uv and cargo's
//! `git-fetch-with-cli` do the same). The repository is fetched shallowly (`--depth 1`) into a
//! checkout in the cache; the next fetch sends what the checkout has, so only new objects
//! travel, and the checkout is moved to the new commit (git rewrites only the files that
//! changed). The fetcher then reads the registry's files from that checkout as from any local
//! directory, but the registry is *not* local for trust: every signature, owner chain and the
//! signed snapshot are checked as for a registry over HTTP.
//!
//! A repository is hostile like any registry: the checkout is made with `core.symlinks=false`
//! (a link is checked out as a small file holding its target, so a registry file can never
//! read something outside the checkout), LFS smudging is off, and every git command runs with
//! a deadline (`RATCHET_GIT_TIMEOUT`, seconds, default 600) after which it is killed.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Environment variable naming the git program (default `git`, looked up in `PATH`).
pub const GIT_ENV: &str = "RATCHET_GIT";

/// Environment variable with the deadline of one git command, in seconds (default 600).
pub const GIT_TIMEOUT_ENV: &str = "RATCHET_GIT_TIMEOUT";

/// Most bytes of git's error output kept for a message (its end, where git says what failed).
const STDERR_KEPT: usize = 2000;

/// The URL schemes of git-hosted registries, after `git+`.
pub const GIT_SCHEMES: [&str; 5] = ["https", "http", "ssh", "git", "file"];

/// Which commit of the repository is the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitRef {
    /// The remote's default branch (`HEAD`): no fragment.
    DefaultBranch,
    /// `#branch=NAME`.
    Branch(String),
    /// `#tag=NAME`.
    Tag(String),
    /// `#rev=COMMIT`: a commit id (4 to 64 hex digits; a full id is fetched directly).
    Rev(String),
}

/// A git-hosted registry: the URL git fetches and the commit to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSpec {
    /// The URL given to git (the registry URL without `git+`, trailing `/` and fragment).
    pub remote: String,
    /// The branch, tag or commit.
    pub reference: GitRef,
}

/// Why a git-hosted registry cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// A fragment other than `branch=`, `tag=` or `rev=`, or a bad name or commit id.
    #[error(
        "registry URL `{url}`: {problem} (use #branch=NAME, #tag=NAME or #rev=COMMIT, or no fragment for the default branch)"
    )]
    BadReference {
        /// The URL as given.
        url: String,
        /// What is wrong.
        problem: String,
    },
    /// git is not installed (or `RATCHET_GIT` names nothing runnable).
    #[error("cannot run `{program}` for a git-hosted registry: {source}; install git")]
    NotInstalled {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// A git command failed.
    #[error("registry {registry}: `git {what}` failed ({status}): {stderr}")]
    Failed {
        /// The registry's name.
        registry: String,
        /// The command, without the URL's secrets (git's own arguments only).
        what: String,
        /// How it exited.
        status: String,
        /// The end of git's error output (escape before printing).
        stderr: String,
    },
    /// A git command ran past its deadline and was killed.
    #[error(
        "registry {registry}: `git {what}` took more than {seconds} s and was stopped (set {GIT_TIMEOUT_ENV} to allow longer)"
    )]
    Timeout {
        /// The registry's name.
        registry: String,
        /// The command.
        what: String,
        /// The deadline.
        seconds: u64,
    },
    /// `RATCHET_GIT_TIMEOUT` is not a whole number of seconds.
    #[error("{GIT_TIMEOUT_ENV}=`{value}`: not a whole number of seconds")]
    BadTimeout {
        /// The value.
        value: String,
    },
    /// `--offline` and the registry was never fetched.
    #[error(
        "offline: git-hosted registry `{registry}` was never fetched; run once without --offline"
    )]
    Offline {
        /// The registry's name.
        registry: String,
    },
    /// The cache directory cannot be written or locked.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// True when `scheme` is a git-hosted registry's (`git+https` ...).
pub fn is_git_scheme(scheme: &str) -> bool {
    scheme
        .strip_prefix("git+")
        .is_some_and(|s| GIT_SCHEMES.contains(&s))
}

/// A branch or tag name we pass to git: no option look-alike, nothing git's ref rules refuse.
fn check_ref_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && !name.starts_with(['-', '/', '.'])
        && !name.ends_with(['/', '.'])
        && !name.contains("..")
        && !name.contains("//")
        && !name.contains("@{")
        && !name.ends_with(".lock")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/+".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!("`{name}` is not a branch or tag name"))
    }
}

impl GitSpec {
    /// The spec of a `git+...` registry URL (already parsed; its fragment names the commit).
    pub fn from_url(url: &url::Url) -> Result<GitSpec, GitError> {
        let bad = |problem: String| GitError::BadReference {
            url: url.to_string(),
            problem,
        };
        let reference = match url.fragment() {
            None | Some("") => GitRef::DefaultBranch,
            Some(f) => {
                let (key, value) = f
                    .split_once('=')
                    .ok_or_else(|| bad(format!("fragment `#{f}`")))?;
                match key {
                    "branch" => {
                        check_ref_name(value).map_err(bad)?;
                        GitRef::Branch(value.to_string())
                    }
                    "tag" => {
                        check_ref_name(value).map_err(bad)?;
                        GitRef::Tag(value.to_string())
                    }
                    "rev" => {
                        if !(4..=64).contains(&value.len())
                            || !value.chars().all(|c| c.is_ascii_hexdigit())
                        {
                            return Err(bad(format!("`{value}` is not a commit id")));
                        }
                        GitRef::Rev(value.to_ascii_lowercase())
                    }
                    other => return Err(bad(format!("unknown key `{other}` in the fragment"))),
                }
            }
        };
        let mut plain = url.clone();
        plain.set_fragment(None);
        let s = plain.as_str();
        let s = s.strip_prefix("git+").unwrap_or(s);
        let remote = match s.strip_suffix('/') {
            Some(r) if !r.ends_with(':') && !r.ends_with('/') => r.to_string(),
            _ => s.to_string(),
        };
        Ok(GitSpec { remote, reference })
    }
}

/// The deadline of one git command: `RATCHET_GIT_TIMEOUT` seconds, default 600.
fn timeout() -> Result<Duration, GitError> {
    match std::env::var(GIT_TIMEOUT_ENV) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|&s| s > 0)
            .map(Duration::from_secs)
            .ok_or(GitError::BadTimeout { value: v }),
        _ => Ok(Duration::from_secs(600)),
    }
}

/// The git program: `RATCHET_GIT`, else `git`.
pub fn program() -> String {
    std::env::var(GIT_ENV)
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "git".to_string())
}

/// Runs git commands for one registry, each with a deadline; output is captured, never printed.
pub struct Git {
    registry: String,
    dir: PathBuf,
    deadline: Duration,
}

/// What a finished git command gave.
pub struct GitOutput {
    /// Whether it exited with success.
    pub success: bool,
    /// How it exited, for messages.
    pub status: String,
    /// Its standard output.
    pub stdout: Vec<u8>,
    /// The end of its error output.
    pub stderr: String,
}

impl Git {
    /// Git commands run in `dir` for `registry` (named in errors).
    pub fn new(registry: &str, dir: &Path) -> Result<Git, GitError> {
        Ok(Git {
            registry: registry.to_string(),
            dir: dir.to_path_buf(),
            deadline: timeout()?,
        })
    }

    /// The working directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs `git ARGS`, killed at the deadline; a failure is returned, not an error.
    pub fn output(&self, args: &[&str]) -> Result<GitOutput, GitError> {
        let prog = program();
        let what = args.join(" ");
        let mut child = Command::new(&prog)
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Never run a repository's LFS filter: the registry's files are what is committed.
            .env("GIT_LFS_SKIP_SMUDGE", "1")
            .env("LC_ALL", "C")
            .spawn()
            .map_err(|source| GitError::NotInstalled {
                program: prog.clone(),
                source,
            })?;
        let mut out = child.stdout.take();
        let mut err = child.stderr.take();
        let out_reader = std::thread::spawn(move || {
            let mut b = Vec::new();
            if let Some(o) = out.as_mut() {
                let _ = o.read_to_end(&mut b);
            }
            b
        });
        let err_reader = std::thread::spawn(move || {
            let mut b = Vec::new();
            if let Some(e) = err.as_mut() {
                let _ = e.read_to_end(&mut b);
            }
            b
        });
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if start.elapsed() > self.deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(GitError::Timeout {
                        registry: self.registry.clone(),
                        what,
                        seconds: self.deadline.as_secs(),
                    });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(source) => {
                    return Err(GitError::Io {
                        path: self.dir.clone(),
                        source,
                    });
                }
            }
        };
        let stdout = out_reader.join().unwrap_or_default();
        let stderr = err_reader.join().unwrap_or_default();
        let stderr = String::from_utf8_lossy(&stderr);
        let stderr = stderr.trim();
        let cut = stderr.len().saturating_sub(STDERR_KEPT);
        let cut = (cut..=stderr.len())
            .find(|&i| stderr.is_char_boundary(i))
            .unwrap_or(stderr.len());
        Ok(GitOutput {
            success: status.success(),
            status: status.to_string(),
            stdout,
            stderr: stderr[cut..].to_string(),
        })
    }

    /// Runs `git ARGS` and fails when git does; returns its standard output.
    pub fn run(&self, args: &[&str]) -> Result<Vec<u8>, GitError> {
        let o = self.output(args)?;
        if o.success {
            Ok(o.stdout)
        } else {
            Err(self.failed(args, o))
        }
    }

    /// The error of a failed command.
    pub fn failed(&self, args: &[&str], o: GitOutput) -> GitError {
        GitError::Failed {
            registry: self.registry.clone(),
            what: args.first().copied().unwrap_or_default().to_string(),
            status: o.status,
            stderr: o.stderr,
        }
    }
}

/// The ref the fetched commit is kept under in the cache's repository.
const TIP: &str = "refs/ratchet/tip";

/// Brings the cached checkout of a git-hosted registry up to date (or, `offline`, only checks
/// that there is one) and returns its directory. `cache_root/git/<name>-<hash>/` holds a
/// shallow repository whose work tree is the registry; an exclusive lock on the `.lock` file
/// beside it keeps two ratchet processes from fetching into it at once.
pub fn sync(
    registry: &str,
    key: &str,
    spec: &GitSpec,
    cache_root: &Path,
    offline: bool,
) -> Result<PathBuf, GitError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| GitError::Io { path, source }
    };
    let root = cache_root.join("git");
    std::fs::create_dir_all(&root).map_err(io(&root))?;
    let safe: String = registry
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(32)
        .collect();
    let dir = root.join(format!("{safe}-{key}"));
    let lock_path = root.join(format!("{safe}-{key}.lock"));
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io(&lock_path))?;
    lock.lock().map_err(io(&lock_path))?;
    let fresh = !dir.join(".git").is_dir();
    if offline {
        if fresh {
            return Err(GitError::Offline {
                registry: registry.to_string(),
            });
        }
        return Ok(dir);
    }
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let git = Git::new(registry, &dir)?;
    if fresh {
        git.run(&["init", "-q"])?;
        // A registry file is a file: links are checked out as plain files holding their target.
        git.run(&["config", "core.symlinks", "false"])?;
        git.run(&["config", "core.autocrlf", "false"])?;
        git.run(&["config", "gc.auto", "0"])?;
    }
    match &spec.reference {
        GitRef::Rev(rev) => fetch_rev(&git, spec, rev)?,
        other => {
            let src = match other {
                GitRef::Branch(b) => format!("refs/heads/{b}"),
                GitRef::Tag(t) => format!("refs/tags/{t}"),
                _ => "HEAD".to_string(),
            };
            git.run(&[
                "fetch",
                "-q",
                "--depth",
                "1",
                "--no-tags",
                "--",
                &spec.remote,
                &format!("+{src}:{TIP}"),
            ])?;
        }
    }
    git.run(&[
        "-c",
        "advice.detachedHead=false",
        "checkout",
        "-q",
        "--force",
        "--detach",
        TIP,
    ])?;
    // Nothing but the commit's files: what an interrupted checkout or anyone else left goes.
    git.run(&["clean", "-q", "-ffdx"])?;
    drop(lock);
    Ok(dir)
}

/// Fetches commit `rev`: nothing when the cache has it (a commit never changes), else that
/// commit alone (a full id, when the server allows it), else every branch.
fn fetch_rev(git: &Git, spec: &GitSpec, rev: &str) -> Result<(), GitError> {
    let has = |git: &Git| -> Result<Option<String>, GitError> {
        let o = git.output(&["rev-parse", "--verify", "-q", &format!("{rev}^{{commit}}")])?;
        Ok(o.success
            .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string()))
    };
    if has(git)?.is_none() && rev.len() == 40 {
        let _ = git.output(&[
            "fetch",
            "-q",
            "--depth",
            "1",
            "--no-tags",
            "--",
            &spec.remote,
            &format!("{rev}:{TIP}"),
        ])?;
    }
    if has(git)?.is_none() {
        let mut args = vec!["fetch", "-q", "--no-tags"];
        if git.dir().join(".git/shallow").exists() {
            args.push("--unshallow");
        }
        args.extend(["--", &spec.remote, "+refs/heads/*:refs/ratchet/heads/*"]);
        git.run(&args)?;
    }
    let Some(full) = has(git)? else {
        return Err(GitError::Failed {
            registry: git.registry.clone(),
            what: "rev-parse".into(),
            status: "not found".into(),
            stderr: format!("the repository has no commit {rev}"),
        });
    };
    git.run(&["update-ref", TIP, &full])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> Result<GitSpec, GitError> {
        GitSpec::from_url(&url::Url::parse(s).unwrap())
    }

    #[test]
    fn urls_and_references() {
        let s = spec("git+https://example.com/org/reg.git/#branch=main").unwrap();
        assert_eq!(s.remote, "https://example.com/org/reg.git");
        assert_eq!(s.reference, GitRef::Branch("main".into()));
        let s = spec("git+file:///srv/reg.git").unwrap();
        assert_eq!(s.remote, "file:///srv/reg.git");
        assert_eq!(s.reference, GitRef::DefaultBranch);
        let s = spec("git+ssh://git@example.com/reg.git#rev=ABCDEF12").unwrap();
        assert_eq!(s.remote, "ssh://git@example.com/reg.git");
        assert_eq!(s.reference, GitRef::Rev("abcdef12".into()));
        assert_eq!(
            spec("git+https://e.com/r#tag=v1.0").unwrap().reference,
            GitRef::Tag("v1.0".into())
        );
        for bad in [
            "git+https://e.com/r#branch=--upload-pack=x",
            "git+https://e.com/r#branch=a..b",
            "git+https://e.com/r#rev=xyz",
            "git+https://e.com/r#commit=abc",
            "git+https://e.com/r#main",
        ] {
            assert!(
                matches!(spec(bad), Err(GitError::BadReference { .. })),
                "{bad}"
            );
        }
        assert!(is_git_scheme("git+ssh"));
        assert!(!is_git_scheme("git+ftp"));
        assert!(!is_git_scheme("https"));
    }
}
