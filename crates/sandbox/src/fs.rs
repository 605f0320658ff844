//! The file system a task sees: its preopened directories and open descriptors.
//!
//! Only the preopens exist for the guest. Every guest path is resolved relative to a
//! descriptor of one preopen, lexically (`..` may not climb above the preopen) and then on the
//! host (the canonical path of the parent, and of the target when it exists, must stay inside
//! the preopen's canonical root), so neither `..` nor a symbolic link reaches anything else.
//! Read-only preopens refuse every change. Every byte written to a file counts against the
//! run's disk quota, and so does the hole a write past the end of a file leaves (apparent size:
//! a sparse file is as large as its length wherever it is copied or read).

use super::limits::{LimitExceeded, LimitKind};
use ratchet_formats::manifest::units::ByteSize;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// A WASI errno value.
pub(crate) type Errno = u16;

pub(crate) mod errno {
    use super::Errno;
    pub const SUCCESS: Errno = 0;
    pub const ACCES: Errno = 2;
    pub const BADF: Errno = 8;
    pub const DQUOT: Errno = 19;
    pub const EXIST: Errno = 20;
    pub const FAULT: Errno = 21;
    pub const INVAL: Errno = 28;
    pub const IO: Errno = 29;
    pub const ISDIR: Errno = 31;
    pub const MFILE: Errno = 33;
    pub const NAMETOOLONG: Errno = 37;
    pub const NOENT: Errno = 44;
    pub const NOSPC: Errno = 51;
    pub const NOSYS: Errno = 52;
    pub const NOTDIR: Errno = 54;
    pub const NOTEMPTY: Errno = 55;
    pub const NOTSUP: Errno = 58;
    pub const PERM: Errno = 63;
    pub const ROFS: Errno = 69;
    pub const SPIPE: Errno = 70;
    pub const XDEV: Errno = 75;
    pub const NOTCAPABLE: Errno = 76;
}

/// WASI file types.
pub(crate) mod filetype {
    pub const UNKNOWN: u8 = 0;
    pub const DIRECTORY: u8 = 3;
    pub const REGULAR_FILE: u8 = 4;
    pub const SYMBOLIC_LINK: u8 = 7;
}

/// `rights` bits the runtime looks at.
pub(crate) mod rights {
    pub const FD_READ: u64 = 1 << 1;
    pub const FD_WRITE: u64 = 1 << 6;
    /// Every right of preview1 (the runtime enforces access itself; it reports all rights).
    pub const ALL: u64 = (1 << 29) - 1;
}

/// `oflags`.
pub(crate) mod oflags {
    pub const CREAT: u16 = 1;
    pub const DIRECTORY: u16 = 2;
    pub const EXCL: u16 = 4;
    pub const TRUNC: u16 = 8;
}

/// `fdflags`.
pub(crate) const FDFLAG_APPEND: u16 = 1;

/// Maps a host I/O error to a WASI errno.
pub(crate) fn io_errno(e: &io::Error) -> Errno {
    use io::ErrorKind as K;
    match e.kind() {
        K::NotFound => errno::NOENT,
        K::PermissionDenied => errno::ACCES,
        K::AlreadyExists => errno::EXIST,
        K::DirectoryNotEmpty => errno::NOTEMPTY,
        K::IsADirectory => errno::ISDIR,
        K::NotADirectory => errno::NOTDIR,
        K::InvalidInput | K::InvalidFilename => errno::INVAL,
        K::StorageFull | K::QuotaExceeded => errno::NOSPC,
        _ if e.raw_os_error() == Some(24) || e.raw_os_error() == Some(23) => errno::MFILE,
        K::CrossesDevices => errno::XDEV,
        _ => errno::IO,
    }
}

/// A directory made visible to the guest.
#[derive(Debug, Clone)]
pub struct Preopen {
    /// Where the guest sees it (`/data`).
    pub guest: String,
    /// The host directory (canonicalised when the file system is built).
    pub host: PathBuf,
    /// Whether the guest may change it.
    pub writable: bool,
}

/// What a descriptor refers to.
#[derive(Debug)]
pub(crate) enum Entry {
    /// Standard input (the run's input bytes).
    Stdin,
    /// Standard output (captured).
    Stdout,
    /// Standard error (captured).
    Stderr,
    /// A directory inside preopen `pre`, `rel` below its root.
    Dir { pre: usize, rel: PathBuf },
    /// An open file.
    File {
        file: File,
        write: bool,
        append: bool,
    },
}

/// `filestat`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Filestat {
    pub dev: u64,
    pub ino: u64,
    pub filetype: u8,
    pub nlink: u64,
    pub size: u64,
    pub atim: u64,
    pub mtim: u64,
    pub ctim: u64,
}

impl Filestat {
    fn of(m: &std::fs::Metadata) -> Filestat {
        let ns = |t: io::Result<std::time::SystemTime>| {
            t.ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as u64)
        };
        #[cfg(unix)]
        let (dev, ino, nlink) = {
            use std::os::unix::fs::MetadataExt;
            (m.dev(), m.ino(), m.nlink())
        };
        #[cfg(not(unix))]
        let (dev, ino, nlink) = (0, 0, 1);
        Filestat {
            dev,
            ino,
            filetype: file_type(&m.file_type()),
            nlink,
            size: m.len(),
            atim: ns(m.accessed()),
            mtim: ns(m.modified()),
            ctim: ns(m.modified()),
        }
    }
}

fn file_type(t: &std::fs::FileType) -> u8 {
    if t.is_dir() {
        filetype::DIRECTORY
    } else if t.is_file() {
        filetype::REGULAR_FILE
    } else if t.is_symlink() {
        filetype::SYMBOLIC_LINK
    } else {
        filetype::UNKNOWN
    }
}

/// The result of an operation that may also stop the run (disk quota).
pub(crate) type FsResult<T> = Result<Result<T, Errno>, LimitExceeded>;

/// Most descriptors a run may hold open at once (stdio and preopens included): a guest must not
/// exhaust the host process's descriptors.
pub const MAX_OPEN_FDS: usize = 256;

/// What creating a file or directory costs against the disk quota, in bytes: entries take disk
/// space (inodes, directory blocks) even when empty, so a quota of bytes alone would let a task
/// create millions of them.
pub const ENTRY_COST: u64 = 4096;

/// The guest's file system: preopens, descriptors, and the disk quota.
#[derive(Debug)]
pub(crate) struct SandboxFs {
    pub preopens: Vec<Preopen>,
    fds: Vec<Option<Entry>>,
    /// Bytes written to files so far (plus [`ENTRY_COST`] per created entry).
    pub written: u64,
    max_disk: u64,
    /// A limit an operation passed that must stop the run: the operation fails with an errno,
    /// and the WASI layer, which takes this after every call, stops the run with it.
    pub stopped: Option<LimitExceeded>,
}

impl SandboxFs {
    /// Descriptors 0–2 are stdio, then one per preopen in order.
    pub fn new(preopens: Vec<Preopen>, max_disk: u64) -> io::Result<SandboxFs> {
        let mut canon = Vec::with_capacity(preopens.len());
        for p in preopens {
            let host = p
                .host
                .canonicalize()
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.host.display())))?;
            canon.push(Preopen { host, ..p });
        }
        let mut fds = vec![Some(Entry::Stdin), Some(Entry::Stdout), Some(Entry::Stderr)];
        fds.extend((0..canon.len()).map(|pre| {
            Some(Entry::Dir {
                pre,
                rel: PathBuf::new(),
            })
        }));
        Ok(SandboxFs {
            preopens: canon,
            fds,
            written: 0,
            stopped: None,
            max_disk,
        })
    }

    pub fn get(&self, fd: u32) -> Result<&Entry, Errno> {
        self.fds
            .get(fd as usize)
            .and_then(|e| e.as_ref())
            .ok_or(errno::BADF)
    }

    fn get_mut(&mut self, fd: u32) -> Result<&mut Entry, Errno> {
        self.fds
            .get_mut(fd as usize)
            .and_then(|e| e.as_mut())
            .ok_or(errno::BADF)
    }

    /// The preopen a descriptor 3.. stands for, if it is one (for `fd_prestat_*`).
    pub fn prestat(&self, fd: u32) -> Result<&Preopen, Errno> {
        match self.get(fd)? {
            Entry::Dir { pre, rel } if rel.as_os_str().is_empty() && fd as usize == 3 + pre => {
                Ok(&self.preopens[*pre])
            }
            _ => Err(errno::BADF),
        }
    }

    /// The descriptor a new entry would get: the first free one after stdio, else a new one
    /// below [`MAX_OPEN_FDS`]; `EMFILE` past it.
    fn free_slot(&self) -> Result<usize, Errno> {
        match self.fds.iter().skip(3).position(|x| x.is_none()) {
            Some(i) => Ok(i + 3),
            None if self.fds.len() < MAX_OPEN_FDS => Ok(self.fds.len()),
            None => Err(errno::MFILE),
        }
    }

    /// Stores `e` in `slot` (from [`SandboxFs::free_slot`], nothing opened in between).
    fn put(&mut self, slot: usize, e: Entry) -> u32 {
        if slot == self.fds.len() {
            self.fds.push(Some(e));
        } else {
            self.fds[slot] = Some(e);
        }
        slot as u32
    }

    fn push(&mut self, e: Entry) -> Result<u32, Errno> {
        let slot = self.free_slot()?;
        Ok(self.put(slot, e))
    }

    /// Charges [`ENTRY_COST`] for a new file or directory; past the quota the operation fails
    /// with `EDQUOT` and the run is stopped with the disk limit ([`SandboxFs::stopped`]).
    fn charge_entry(&mut self) -> Result<(), Errno> {
        self.charge(ENTRY_COST).map_err(|e| {
            self.stopped = Some(e);
            errno::DQUOT
        })
    }

    pub fn close(&mut self, fd: u32) -> Result<(), Errno> {
        let slot = self.fds.get_mut(fd as usize).ok_or(errno::BADF)?;
        if slot.is_none() {
            return Err(errno::BADF);
        }
        *slot = None;
        Ok(())
    }

    pub fn renumber(&mut self, from: u32, to: u32) -> Result<(), Errno> {
        self.get(from)?;
        self.get(to)?;
        let e = self.fds[from as usize].take();
        self.fds[to as usize] = e;
        Ok(())
    }

    /// Resolves `path` against directory descriptor `dirfd`: (preopen, path below its root).
    fn resolve(&self, dirfd: u32, path: &str) -> Result<(usize, PathBuf), Errno> {
        let (pre, base) = match self.get(dirfd)? {
            Entry::Dir { pre, rel } => (*pre, rel.clone()),
            _ => return Err(errno::NOTDIR),
        };
        if path.contains('\0') {
            return Err(errno::INVAL);
        }
        if path.starts_with('/') {
            return Err(errno::NOTCAPABLE);
        }
        if path.len() > 4096 {
            return Err(errno::NAMETOOLONG);
        }
        let mut parts: Vec<String> = base
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        for c in path.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        return Err(errno::NOTCAPABLE);
                    }
                }
                c if c.contains('\\') && cfg!(windows) => return Err(errno::INVAL),
                c => parts.push(c.to_string()),
            }
        }
        Ok((pre, parts.iter().collect()))
    }

    /// The host path of `rel` in preopen `pre`, checked to stay inside the preopen after
    /// symbolic links are followed (the target itself is followed only when `follow`).
    fn host_path(&self, pre: usize, rel: &Path, follow: bool) -> Result<PathBuf, Errno> {
        let root = &self.preopens[pre].host;
        let Some(name) = rel.file_name() else {
            return Ok(root.clone());
        };
        let parent = root.join(rel.parent().unwrap_or(Path::new("")));
        let cparent = parent.canonicalize().map_err(|e| io_errno(&e))?;
        if !cparent.starts_with(root) {
            return Err(errno::NOTCAPABLE);
        }
        let candidate = cparent.join(name);
        let is_link = std::fs::symlink_metadata(&candidate)
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(false);
        if follow && is_link {
            let target = candidate.canonicalize().map_err(|_| errno::NOTCAPABLE)?;
            if !target.starts_with(root) {
                return Err(errno::NOTCAPABLE);
            }
            return Ok(target);
        }
        Ok(candidate)
    }

    fn writable(&self, pre: usize) -> Result<(), Errno> {
        if self.preopens[pre].writable {
            Ok(())
        } else {
            Err(errno::ROFS)
        }
    }

    /// `path_open`.
    pub fn open(
        &mut self,
        dirfd: u32,
        path: &str,
        oflags: u16,
        rights_base: u64,
        fdflags: u16,
    ) -> Result<u32, Errno> {
        let (pre, rel) = self.resolve(dirfd, path)?;
        let append = fdflags & FDFLAG_APPEND != 0;
        let creat = oflags & oflags::CREAT != 0;
        let trunc = oflags & oflags::TRUNC != 0;
        let write = rights_base & rights::FD_WRITE != 0 || creat || trunc || append;
        let host = self.host_path(pre, &rel, true)?;
        let meta = std::fs::metadata(&host);
        if let Ok(m) = &meta
            && m.is_dir()
        {
            if creat && oflags & oflags::EXCL != 0 {
                return Err(errno::EXIST);
            }
            if trunc || rights_base & rights::FD_WRITE != 0 && oflags & oflags::DIRECTORY == 0 {
                return Err(errno::ISDIR);
            }
            return self.push(Entry::Dir { pre, rel });
        }
        if oflags & oflags::DIRECTORY != 0 {
            return Err(if meta.is_ok() {
                errno::NOTDIR
            } else {
                errno::NOENT
            });
        }
        if write {
            self.writable(pre)?;
        }
        let read = rights_base & rights::FD_READ != 0 || !write;
        // The descriptor is found before a file is created, so a full table creates nothing.
        let slot = self.free_slot()?;
        if creat && meta.is_err() {
            self.charge_entry()?;
        }
        let file = OpenOptions::new()
            .read(read)
            .write(write && !append)
            .append(append)
            .create(creat && oflags & oflags::EXCL == 0)
            .create_new(creat && oflags & oflags::EXCL != 0)
            .truncate(trunc)
            .open(&host)
            .map_err(|e| io_errno(&e))?;
        Ok(self.put(
            slot,
            Entry::File {
                file,
                write,
                append,
            },
        ))
    }

    fn file(&mut self, fd: u32) -> Result<(&mut File, bool), Errno> {
        match self.get_mut(fd)? {
            Entry::File { file, write, .. } => Ok((file, *write)),
            Entry::Dir { .. } => Err(errno::ISDIR),
            _ => Err(errno::BADF),
        }
    }

    /// Reads from a file at its position (`offset` given: at that offset, position unchanged).
    pub fn read(&mut self, fd: u32, len: usize, offset: Option<u64>) -> Result<Vec<u8>, Errno> {
        let (file, _) = self.file(fd)?;
        let mut buf = vec![0u8; len.min(16 << 20)];
        let n = match offset {
            None => file.read(&mut buf),
            Some(off) => read_at(file, &mut buf, off),
        }
        .map_err(|e| io_errno(&e))?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Charges `n` bytes against the disk quota.
    fn charge(&mut self, n: u64) -> Result<(), LimitExceeded> {
        if self.written.saturating_add(n) > self.max_disk {
            return Err(LimitExceeded {
                kind: LimitKind::Disk,
                detail: format!(
                    "writing {n} more bytes after {} would pass {}",
                    ByteSize(self.written),
                    ByteSize(self.max_disk)
                ),
            });
        }
        self.written += n;
        Ok(())
    }

    /// Writes to a file (at `offset` when given), charging the quota first.
    pub fn write(&mut self, fd: u32, data: &[u8], offset: Option<u64>) -> FsResult<usize> {
        let append = matches!(self.get(fd), Ok(Entry::File { append: true, .. }));
        let hole = match self.file(fd) {
            Ok((file, true)) => {
                // The quota counts apparent size: a write past the end also charges the hole it
                // leaves (a sparse file reads as that many zero bytes, and copies as them).
                let len = file.metadata().map(|m| m.len()).unwrap_or(0);
                let at = if append {
                    len
                } else {
                    match offset {
                        Some(off) => off,
                        None => file.stream_position().unwrap_or(len),
                    }
                };
                at.saturating_sub(len)
            }
            Ok((_, false)) => return Ok(Err(errno::BADF)),
            Err(e) => return Ok(Err(e)),
        };
        self.charge((data.len() as u64).saturating_add(hole))?;
        let Ok((file, _)) = self.file(fd) else {
            return Ok(Err(errno::BADF));
        };
        let r = match offset {
            None => file.write_all(data),
            Some(off) => write_at(file, data, off),
        };
        Ok(r.map(|_| data.len()).map_err(|e| io_errno(&e)))
    }

    /// `fd_seek`; stdio and directories cannot seek.
    pub fn seek(&mut self, fd: u32, offset: i64, whence: u8) -> Result<u64, Errno> {
        if matches!(self.get(fd)?, Entry::Stdin | Entry::Stdout | Entry::Stderr) {
            return Err(errno::SPIPE);
        }
        let (file, _) = self.file(fd)?;
        let pos = match whence {
            0 => SeekFrom::Start(u64::try_from(offset).map_err(|_| errno::INVAL)?),
            1 => SeekFrom::Current(offset),
            2 => SeekFrom::End(offset),
            _ => return Err(errno::INVAL),
        };
        file.seek(pos).map_err(|e| io_errno(&e))
    }

    /// `fd_filestat_set_size`, charging growth against the quota.
    pub fn set_size(&mut self, fd: u32, size: u64) -> FsResult<()> {
        let (file, write) = match self.file(fd) {
            Ok(f) => f,
            Err(e) => return Ok(Err(e)),
        };
        if !write {
            return Ok(Err(errno::BADF));
        }
        let cur = file.metadata().map(|m| m.len()).unwrap_or(0);
        self.charge(size.saturating_sub(cur))?;
        let Ok((file, _)) = self.file(fd) else {
            return Ok(Err(errno::BADF));
        };
        Ok(file.set_len(size).map_err(|e| io_errno(&e)))
    }

    /// `fd_filestat_get`.
    pub fn filestat(&self, fd: u32) -> Result<Filestat, Errno> {
        match self.get(fd)? {
            Entry::File { file, .. } => file
                .metadata()
                .map(|m| Filestat::of(&m))
                .map_err(|e| io_errno(&e)),
            Entry::Dir { pre, rel } => {
                let p = self.host_path(*pre, rel, true)?;
                std::fs::metadata(p)
                    .map(|m| Filestat::of(&m))
                    .map_err(|e| io_errno(&e))
            }
            _ => Ok(Filestat {
                filetype: filetype::UNKNOWN,
                nlink: 1,
                ..Default::default()
            }),
        }
    }

    /// `fd_fdstat_get`: (file type, flags).
    pub fn fdstat(&self, fd: u32) -> Result<(u8, u16), Errno> {
        Ok(match self.get(fd)? {
            Entry::File { append, .. } => (
                filetype::REGULAR_FILE,
                if *append { FDFLAG_APPEND } else { 0 },
            ),
            Entry::Dir { .. } => (filetype::DIRECTORY, 0),
            _ => (filetype::UNKNOWN, 0),
        })
    }

    /// `path_filestat_get`.
    pub fn path_filestat(&self, dirfd: u32, path: &str, follow: bool) -> Result<Filestat, Errno> {
        let (pre, rel) = self.resolve(dirfd, path)?;
        let p = self.host_path(pre, &rel, follow)?;
        let m = if follow {
            std::fs::metadata(&p)
        } else {
            std::fs::symlink_metadata(&p)
        };
        m.map(|m| Filestat::of(&m)).map_err(|e| io_errno(&e))
    }

    /// `fd_readdir` entries: (name, file type, inode), with `.` and `..` first, sorted.
    pub fn read_dir(&self, fd: u32) -> Result<Vec<(String, u8, u64)>, Errno> {
        let (pre, rel) = match self.get(fd)? {
            Entry::Dir { pre, rel } => (*pre, rel.clone()),
            _ => return Err(errno::NOTDIR),
        };
        let p = self.host_path(pre, &rel, true)?;
        let mut out = vec![
            (".".to_string(), filetype::DIRECTORY, 0),
            ("..".to_string(), filetype::DIRECTORY, 0),
        ];
        let mut rest = Vec::new();
        for e in std::fs::read_dir(&p).map_err(|e| io_errno(&e))? {
            let e = e.map_err(|e| io_errno(&e))?;
            let t = e
                .file_type()
                .map(|t| file_type(&t))
                .unwrap_or(filetype::UNKNOWN);
            #[cfg(unix)]
            let ino = {
                use std::os::unix::fs::DirEntryExt;
                e.ino()
            };
            #[cfg(not(unix))]
            let ino = 0;
            rest.push((e.file_name().to_string_lossy().into_owned(), t, ino));
        }
        rest.sort();
        out.extend(rest);
        Ok(out)
    }

    /// `path_create_directory`.
    pub fn mkdir(&mut self, dirfd: u32, path: &str) -> Result<(), Errno> {
        let (pre, rel) = self.resolve(dirfd, path)?;
        self.writable(pre)?;
        let p = self.host_path(pre, &rel, false)?;
        if p.exists() {
            return Err(errno::EXIST);
        }
        self.charge_entry()?;
        std::fs::create_dir(p).map_err(|e| io_errno(&e))
    }

    /// `path_remove_directory`.
    pub fn rmdir(&self, dirfd: u32, path: &str) -> Result<(), Errno> {
        let (pre, rel) = self.resolve(dirfd, path)?;
        self.writable(pre)?;
        if rel.as_os_str().is_empty() {
            return Err(errno::PERM);
        }
        let p = self.host_path(pre, &rel, false)?;
        std::fs::remove_dir(p).map_err(|e| io_errno(&e))
    }

    /// `path_unlink_file`.
    pub fn unlink(&self, dirfd: u32, path: &str) -> Result<(), Errno> {
        let (pre, rel) = self.resolve(dirfd, path)?;
        self.writable(pre)?;
        let p = self.host_path(pre, &rel, false)?;
        if std::fs::symlink_metadata(&p)
            .map(|m| m.is_dir())
            .unwrap_or(false)
        {
            return Err(errno::ISDIR);
        }
        std::fs::remove_file(p).map_err(|e| io_errno(&e))
    }

    /// `path_rename`.
    pub fn rename(&self, fd1: u32, p1: &str, fd2: u32, p2: &str) -> Result<(), Errno> {
        let (pre1, rel1) = self.resolve(fd1, p1)?;
        let (pre2, rel2) = self.resolve(fd2, p2)?;
        self.writable(pre1)?;
        self.writable(pre2)?;
        if rel1.as_os_str().is_empty() || rel2.as_os_str().is_empty() {
            return Err(errno::PERM);
        }
        let a = self.host_path(pre1, &rel1, false)?;
        let b = self.host_path(pre2, &rel2, false)?;
        std::fs::rename(a, b).map_err(|e| io_errno(&e))
    }
}

#[cfg(unix)]
fn read_at(f: &mut File, buf: &mut [u8], off: u64) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    f.read_at(buf, off)
}

#[cfg(unix)]
fn write_at(f: &mut File, data: &[u8], off: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    f.write_all_at(data, off)
}

#[cfg(not(unix))]
fn read_at(f: &mut File, buf: &mut [u8], off: u64) -> io::Result<usize> {
    let cur = f.stream_position()?;
    f.seek(SeekFrom::Start(off))?;
    let n = f.read(buf);
    f.seek(SeekFrom::Start(cur))?;
    n
}

#[cfg(not(unix))]
fn write_at(f: &mut File, data: &[u8], off: u64) -> io::Result<()> {
    let cur = f.stream_position()?;
    f.seek(SeekFrom::Start(off))?;
    let r = f.write_all(data);
    f.seek(SeekFrom::Start(cur))?;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file system with quota for a few created entries and 100 bytes.
    fn fs_with(dir: &Path, writable: bool) -> SandboxFs {
        fs_quota(dir, writable, 4 * ENTRY_COST + 100)
    }

    fn fs_quota(dir: &Path, writable: bool, quota: u64) -> SandboxFs {
        SandboxFs::new(
            vec![Preopen {
                guest: "/data".into(),
                host: dir.to_path_buf(),
                writable,
            }],
            quota,
        )
        .unwrap()
    }

    #[test]
    fn dotdot_and_symlinks_cannot_escape() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(outer.path().join("secret"), "s").unwrap();
        let mut fs = fs_with(&root, true);
        assert_eq!(
            fs.open(3, "../secret", 0, rights::FD_READ, 0),
            Err(errno::NOTCAPABLE)
        );
        assert_eq!(
            fs.open(3, "sub/../../secret", 0, rights::FD_READ, 0),
            Err(errno::NOTCAPABLE)
        );
        assert_eq!(
            fs.open(3, "/etc/passwd", 0, rights::FD_READ, 0),
            Err(errno::NOTCAPABLE)
        );
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(outer.path().join("secret"), root.join("link")).unwrap();
            std::os::unix::fs::symlink(outer.path(), root.join("dirlink")).unwrap();
            assert_eq!(
                fs.open(3, "link", 0, rights::FD_READ, 0),
                Err(errno::NOTCAPABLE)
            );
            assert_eq!(
                fs.open(3, "dirlink/secret", 0, rights::FD_READ, 0),
                Err(errno::NOTCAPABLE)
            );
            assert_eq!(
                fs.open(3, "dirlink/new", oflags::CREAT, rights::FD_WRITE, 0),
                Err(errno::NOTCAPABLE)
            );
        }
        assert!(
            fs.open(3, "sub/../ok.txt", oflags::CREAT, rights::FD_WRITE, 0)
                .is_ok()
        );
        assert!(root.join("ok.txt").is_file());
    }

    #[test]
    fn read_only_and_quota() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("f"), "x").unwrap();
        let mut ro = fs_with(d.path(), false);
        assert_eq!(ro.open(3, "f", 0, rights::FD_WRITE, 0), Err(errno::ROFS));
        assert_eq!(ro.open(3, "g", oflags::CREAT, 0, 0), Err(errno::ROFS));
        assert_eq!(ro.mkdir(3, "d"), Err(errno::ROFS));
        assert_eq!(ro.unlink(3, "f"), Err(errno::ROFS));
        let fd = ro.open(3, "f", 0, rights::FD_READ, 0).unwrap();
        assert_eq!(ro.read(fd, 10, None).unwrap(), b"x");
        assert_eq!(ro.write(fd, b"y", None).unwrap(), Err(errno::BADF));

        // Room for one new file and 100 bytes.
        let mut rw = fs_quota(d.path(), true, ENTRY_COST + 100);
        let fd = rw
            .open(3, "big", oflags::CREAT, rights::FD_WRITE, 0)
            .unwrap();
        assert_eq!(rw.written, ENTRY_COST);
        assert_eq!(rw.write(fd, &[0; 60], None).unwrap(), Ok(60));
        let err = rw.write(fd, &[0; 60], None).unwrap_err();
        assert_eq!(err.kind, LimitKind::Disk);
        assert_eq!(std::fs::metadata(d.path().join("big")).unwrap().len(), 60);
        // Opening an existing file costs nothing; creating another passes the quota: EDQUOT,
        // and the run is to be stopped.
        assert!(rw.open(3, "big", 0, rights::FD_READ, 0).is_ok());
        assert_eq!(
            rw.open(3, "more", oflags::CREAT, rights::FD_WRITE, 0),
            Err(errno::DQUOT)
        );
        assert_eq!(rw.stopped.take().map(|e| e.kind), Some(LimitKind::Disk));
        assert!(!d.path().join("more").exists());
    }

    #[test]
    fn sparse_writes_charge_their_holes() {
        let d = tempfile::tempdir().unwrap();
        let mut rw = fs_quota(d.path(), true, ENTRY_COST + 100);
        let fd = rw
            .open(3, "sparse", oflags::CREAT, rights::FD_WRITE, 0)
            .unwrap();
        // One byte at 8 TiB (pwrite) is 8 TiB of apparent size: refused, nothing written.
        let err = rw.write(fd, b"x", Some(8 << 40)).unwrap_err();
        assert_eq!(err.kind, LimitKind::Disk);
        assert_eq!(std::fs::metadata(d.path().join("sparse")).unwrap().len(), 0);
        // The same by seeking past the end and writing at the position.
        assert_eq!(rw.seek(fd, 1 << 30, 0), Ok(1 << 30));
        assert_eq!(rw.write(fd, b"x", None).unwrap_err().kind, LimitKind::Disk);
        // A hole that fits is charged: 50 bytes of hole + 10 written.
        assert_eq!(rw.write(fd, &[1; 10], Some(50)).unwrap(), Ok(10));
        assert_eq!(rw.written, ENTRY_COST + 60);
        // Overwriting inside the file charges only the bytes written.
        assert_eq!(rw.write(fd, &[2; 10], Some(0)).unwrap(), Ok(10));
        assert_eq!(rw.written, ENTRY_COST + 70);
    }
}
