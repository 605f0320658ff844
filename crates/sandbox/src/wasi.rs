//! The WASI preview1 functions a task may import, implemented by the sandbox itself, and the
//! `ratchet` import module that wraps [`super::host`].
//!
//! Why not `wasmer-wasix`: its file systems do not count bytes written (the disk quota), its
//! stdout/stderr are unbounded pipes (the output cap must stop a run at the byte that passes
//! it), sleeps and polls are not bounded by our deadline, and it brings a large async stack to
//! a 2-core build. Preview1 is small: the functions below are the whole surface. Sockets, links
//! and symbolic links are not offered (`ENOTSUP`); everything a task reaches goes through the
//! preopens, stdio and the `ratchet` module.

use super::fs::{Entry, Errno, Filestat, SandboxFs, errno, rights};
use super::host::{Host, HostResult};
use super::limits::{LimitExceeded, LimitKind};
use ratchet_formats::manifest::units::ByteSize;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use wasmer::{
    Function, FunctionEnv, FunctionEnvMut, Imports, Memory, MemoryView, RuntimeError, Store,
};

/// Name of the WASI import module.
pub const WASI_MODULE: &str = "wasi_snapshot_preview1";
/// Name of the Ratchet import module.
pub const RATCHET_MODULE: &str = "ratchet";

/// `proc_exit` unwinds the guest with this error.
#[derive(Debug)]
pub(crate) struct Exit(pub i32);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit({})", self.0)
    }
}

impl std::error::Error for Exit {}

/// The state behind the imports of one instance.
pub(crate) struct Ctx {
    pub memory: Option<Memory>,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub stdin: Vec<u8>,
    pub stdin_pos: usize,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub max_output: u64,
    pub fs: SandboxFs,
    pub host: Host,
    pub started: Instant,
    pub deadline: Instant,
    /// The pending response of the last `ratchet.fetch` / `ratchet.command`.
    pub response: Option<Vec<u8>>,
}

type Env<'a> = FunctionEnvMut<'a, Ctx>;
type R = Result<i32, RuntimeError>;

fn stop(kind: LimitKind, detail: String) -> RuntimeError {
    RuntimeError::user(Box::new(LimitExceeded { kind, detail }))
}

/// Runs `f` with the context and a view of the guest's memory.
fn with<T>(
    env: &mut Env<'_>,
    f: impl FnOnce(&mut Ctx, &MemoryView) -> Result<T, RuntimeError>,
) -> Result<T, RuntimeError> {
    let (ctx, store) = env.data_and_store_mut();
    let Some(memory) = ctx.memory.clone() else {
        return Err(RuntimeError::new(
            "a host function was called before the module's memory existed (start section)",
        ));
    };
    // Every host call checks the wall-clock deadline: metering counts only the guest's own
    // instructions, so a loop of cheap-looking WASI calls must still end on time.
    check_deadline(ctx)?;
    let view = memory.view(&store);
    let r = f(ctx, &view);
    if let Some(e) = ctx.fs.stopped.take() {
        return Err(stop(e.kind, e.detail));
    }
    r
}

/// Turns an errno result into the i32 the guest gets.
fn ret(r: Result<(), Errno>) -> R {
    Ok(match r {
        Ok(()) => errno::SUCCESS as i32,
        Err(e) => e as i32,
    })
}

fn read_bytes(view: &MemoryView, ptr: i32, len: i32) -> Result<Vec<u8>, Errno> {
    // Guest sizes are u32: a "negative" i32 is a large length.
    let len = len as u32 as usize;
    // Check the range before allocating: a hostile length must not make the host allocate.
    if ptr as u32 as u64 + len as u64 > view.data_size() {
        return Err(errno::FAULT);
    }
    let mut buf = vec![0u8; len];
    view.read(ptr as u32 as u64, &mut buf)
        .map_err(|_| errno::FAULT)?;
    Ok(buf)
}

fn read_str(view: &MemoryView, ptr: i32, len: i32) -> Result<String, Errno> {
    String::from_utf8(read_bytes(view, ptr, len)?).map_err(|_| errno::INVAL)
}

fn write_bytes(view: &MemoryView, ptr: i32, data: &[u8]) -> Result<(), Errno> {
    view.write(ptr as u32 as u64, data)
        .map_err(|_| errno::FAULT)
}

fn write_u32(view: &MemoryView, ptr: i32, v: u32) -> Result<(), Errno> {
    write_bytes(view, ptr, &v.to_le_bytes())
}

fn write_u64(view: &MemoryView, ptr: i32, v: u64) -> Result<(), Errno> {
    write_bytes(view, ptr, &v.to_le_bytes())
}

fn read_u32(view: &MemoryView, ptr: u64) -> Result<u32, Errno> {
    let mut b = [0u8; 4];
    view.read(ptr, &mut b).map_err(|_| errno::FAULT)?;
    Ok(u32::from_le_bytes(b))
}

/// The (pointer, length) pairs of an iovec array.
fn iovecs(view: &MemoryView, iovs: i32, count: i32) -> Result<Vec<(u32, u32)>, Errno> {
    let count = u32::try_from(count).map_err(|_| errno::INVAL)?;
    if count > 1024 {
        return Err(errno::INVAL);
    }
    (0..count as u64)
        .map(|i| {
            let at = iovs as u32 as u64 + i * 8;
            Ok((read_u32(view, at)?, read_u32(view, at + 4)?))
        })
        .collect()
}

fn scatter(view: &MemoryView, iovs: i32, count: i32, data: &[u8]) -> Result<usize, Errno> {
    let mut done = 0;
    for (p, l) in iovecs(view, iovs, count)? {
        if done >= data.len() {
            break;
        }
        let n = (l as usize).min(data.len() - done);
        write_bytes(view, p as i32, &data[done..done + n])?;
        done += n;
    }
    Ok(done)
}

fn total_len(view: &MemoryView, iovs: i32, count: i32) -> Result<usize, Errno> {
    Ok(iovecs(view, iovs, count)?
        .iter()
        .map(|(_, l)| *l as usize)
        .sum())
}

fn check_deadline(ctx: &Ctx) -> Result<(), RuntimeError> {
    if Instant::now() >= ctx.deadline {
        return Err(stop(
            LimitKind::WallTime,
            "the run passed its wall-clock deadline".into(),
        ));
    }
    Ok(())
}

// ---- args and environment ----

fn strings_sizes(
    list: &[String],
    view: &MemoryView,
    count_ptr: i32,
    size_ptr: i32,
) -> Result<(), Errno> {
    write_u32(view, count_ptr, list.len() as u32)?;
    write_u32(
        view,
        size_ptr,
        list.iter().map(|s| s.len() as u32 + 1).sum(),
    )
}

fn strings_get(list: &[String], view: &MemoryView, ptrs: i32, buf: i32) -> Result<(), Errno> {
    let mut at = buf as u32;
    for (i, s) in list.iter().enumerate() {
        write_u32(view, ptrs + 4 * i as i32, at)?;
        let mut bytes = s.as_bytes().to_vec();
        bytes.push(0);
        write_bytes(view, at as i32, &bytes)?;
        at += bytes.len() as u32;
    }
    Ok(())
}

fn env_strings(ctx: &Ctx) -> Vec<String> {
    ctx.env.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

fn args_sizes_get(mut env: Env, count: i32, size: i32) -> R {
    with(&mut env, |ctx, v| {
        ret(strings_sizes(&ctx.args, v, count, size))
    })
}
fn args_get(mut env: Env, ptrs: i32, buf: i32) -> R {
    with(&mut env, |ctx, v| ret(strings_get(&ctx.args, v, ptrs, buf)))
}
fn environ_sizes_get(mut env: Env, count: i32, size: i32) -> R {
    with(&mut env, |ctx, v| {
        ret(strings_sizes(&env_strings(ctx), v, count, size))
    })
}
fn environ_get(mut env: Env, ptrs: i32, buf: i32) -> R {
    with(&mut env, |ctx, v| {
        ret(strings_get(&env_strings(ctx), v, ptrs, buf))
    })
}

// ---- clocks, random, scheduling ----

fn now_ns(ctx: &Ctx, id: i32) -> Result<u64, Errno> {
    match id {
        0 => Ok(SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)),
        1..=3 => Ok(ctx.started.elapsed().as_nanos() as u64 + 1),
        _ => Err(errno::INVAL),
    }
}

fn clock_res_get(mut env: Env, id: i32, out: i32) -> R {
    with(&mut env, |ctx, v| {
        ret(now_ns(ctx, id).and_then(|_| write_u64(v, out, 1_000)))
    })
}
fn clock_time_get(mut env: Env, id: i32, _precision: i64, out: i32) -> R {
    with(&mut env, |ctx, v| {
        ret(now_ns(ctx, id).and_then(|t| write_u64(v, out, t)))
    })
}
fn random_get(mut env: Env, buf: i32, len: i32) -> R {
    with(&mut env, |_, v| {
        let len = u32::try_from(len)
            .map_err(|_| RuntimeError::new("random_get: negative length"))?
            as u64;
        if buf as u32 as u64 + len > v.data_size() {
            return ret(Err(errno::FAULT));
        }
        let mut chunk = [0u8; 4096];
        let mut at = 0u64;
        while at < len {
            let n = (len - at).min(chunk.len() as u64) as usize;
            if getrandom::fill(&mut chunk[..n]).is_err() {
                return ret(Err(errno::IO));
            }
            if let Err(e) = write_bytes(v, (buf as u32 as u64 + at) as i32, &chunk[..n]) {
                return ret(Err(e));
            }
            at += n as u64;
        }
        ret(Ok(()))
    })
}
fn sched_yield(mut env: Env) -> R {
    // `with` checks the deadline.
    with(&mut env, |_, _| Ok(0))
}

/// `poll_oneoff`: clock subscriptions sleep (never past the deadline); descriptor
/// subscriptions are always ready (stdin and files never block).
fn poll_oneoff(mut env: Env, subs: i32, events: i32, n: i32, nevents: i32) -> R {
    with(&mut env, |ctx, v| {
        let n = match u32::try_from(n) {
            Ok(n) if n > 0 && n <= 1024 => n,
            _ => return ret(Err(errno::INVAL)),
        };
        let mut parsed = Vec::new();
        for i in 0..n {
            let mut s = [0u8; 48];
            if v.read(subs as u32 as u64 + i as u64 * 48, &mut s).is_err() {
                return ret(Err(errno::FAULT));
            }
            let userdata = u64::from_le_bytes(s[0..8].try_into().unwrap_or_default());
            let tag = s[8];
            let clock_id = u32::from_le_bytes(s[16..20].try_into().unwrap_or_default());
            let timeout = u64::from_le_bytes(s[24..32].try_into().unwrap_or_default());
            let flags = u16::from_le_bytes(s[40..42].try_into().unwrap_or_default());
            parsed.push((userdata, tag, clock_id, timeout, flags));
        }
        let any_fd = parsed.iter().any(|p| p.1 != 0);
        // Relative wait of each clock subscription.
        let waits: Vec<Option<Duration>> = parsed
            .iter()
            .map(|&(_, tag, id, timeout, flags)| {
                (tag == 0).then(|| {
                    if flags & 1 != 0 {
                        let now = now_ns(ctx, id as i32).unwrap_or(0);
                        Duration::from_nanos(timeout.saturating_sub(now))
                    } else {
                        Duration::from_nanos(timeout)
                    }
                })
            })
            .collect();
        let sleep = if any_fd {
            Duration::ZERO
        } else {
            waits.iter().flatten().min().copied().unwrap_or_default()
        };
        if !sleep.is_zero() {
            let left = ctx.deadline.saturating_duration_since(Instant::now());
            if sleep > left {
                std::thread::sleep(left);
                return Err(stop(
                    LimitKind::WallTime,
                    format!(
                        "the task slept past its deadline ({} ms asked)",
                        sleep.as_millis()
                    ),
                ));
            }
            std::thread::sleep(sleep);
        }
        let mut count = 0u32;
        for (i, &(userdata, tag, _, _, _)) in parsed.iter().enumerate() {
            let ready = match tag {
                0 => waits[i].is_some_and(|w| w <= sleep),
                _ => true,
            };
            if !ready {
                continue;
            }
            let mut e = [0u8; 32];
            e[0..8].copy_from_slice(&userdata.to_le_bytes());
            e[10] = tag;
            if tag != 0 {
                e[16..24].copy_from_slice(&(1u64 << 16).to_le_bytes());
            }
            if v.write(events as u32 as u64 + count as u64 * 32, &e)
                .is_err()
            {
                return ret(Err(errno::FAULT));
            }
            count += 1;
        }
        ret(write_u32(v, nevents, count))
    })
}

fn proc_exit(_env: Env, code: i32) -> Result<(), RuntimeError> {
    Err(RuntimeError::user(Box::new(Exit(code))))
}

// ---- descriptors ----

fn fd_read(mut env: Env, fd: i32, iovs: i32, count: i32, nread: i32) -> R {
    with(&mut env, |ctx, v| {
        let want = match total_len(v, iovs, count) {
            Ok(w) => w,
            Err(e) => return ret(Err(e)),
        };
        let data = match ctx.fs.get(fd as u32) {
            Ok(Entry::Stdin) => {
                let end = (ctx.stdin_pos + want).min(ctx.stdin.len());
                let d = ctx.stdin[ctx.stdin_pos..end].to_vec();
                ctx.stdin_pos = end;
                Ok(d)
            }
            Ok(Entry::Stdout | Entry::Stderr) => Err(errno::BADF),
            Ok(_) => ctx.fs.read(fd as u32, want, None),
            Err(e) => Err(e),
        };
        ret(data
            .and_then(|d| scatter(v, iovs, count, &d))
            .and_then(|n| write_u32(v, nread, n as u32)))
    })
}

fn fd_pread(mut env: Env, fd: i32, iovs: i32, count: i32, offset: i64, nread: i32) -> R {
    with(&mut env, |ctx, v| {
        let r = total_len(v, iovs, count)
            .and_then(|want| ctx.fs.read(fd as u32, want, Some(offset as u64)))
            .and_then(|d| scatter(v, iovs, count, &d))
            .and_then(|n| write_u32(v, nread, n as u32));
        ret(r)
    })
}

/// Appends to a captured stream, stopping the run at the cap.
fn capture(buf: &mut Vec<u8>, data: &[u8], cap: u64, name: &str) -> Result<(), RuntimeError> {
    if buf.len() as u64 + data.len() as u64 > cap {
        return Err(stop(
            LimitKind::Output,
            format!("the task wrote more than {} to {name}", ByteSize(cap)),
        ));
    }
    buf.extend_from_slice(data);
    Ok(())
}

/// Writes the iovecs one at a time (so a hostile iovec list cannot make the host gather more
/// than one memory's worth at once); each piece is charged to the output cap or disk quota.
fn write_iovs(
    ctx: &mut Ctx,
    v: &MemoryView,
    fd: i32,
    iovs: i32,
    count: i32,
    mut offset: Option<u64>,
) -> Result<Result<usize, Errno>, RuntimeError> {
    let list = match iovecs(v, iovs, count) {
        Ok(l) => l,
        Err(e) => return Ok(Err(e)),
    };
    let mut done = 0usize;
    for (p, l) in list {
        let data = match read_bytes(v, p as i32, l as i32) {
            Ok(d) => d,
            Err(e) => return Ok(Err(e)),
        };
        let r = match ctx.fs.get(fd as u32) {
            Ok(Entry::Stdout) if offset.is_none() => {
                capture(&mut ctx.stdout, &data, ctx.max_output, "stdout").map(|_| Ok(data.len()))?
            }
            Ok(Entry::Stderr) if offset.is_none() => {
                capture(&mut ctx.stderr, &data, ctx.max_output, "stderr").map(|_| Ok(data.len()))?
            }
            Ok(Entry::Stdin | Entry::Stdout | Entry::Stderr) => Err(if offset.is_some() {
                errno::SPIPE
            } else {
                errno::BADF
            }),
            Ok(_) => ctx
                .fs
                .write(fd as u32, &data, offset)
                .map_err(|l| RuntimeError::user(Box::new(l)))?,
            Err(e) => Err(e),
        };
        match r {
            Ok(n) => {
                done += n;
                offset = offset.map(|o| o + n as u64);
            }
            Err(e) if done == 0 => return Ok(Err(e)),
            Err(_) => break,
        }
    }
    Ok(Ok(done))
}

fn fd_write(mut env: Env, fd: i32, iovs: i32, count: i32, nwritten: i32) -> R {
    with(&mut env, |ctx, v| {
        let r = write_iovs(ctx, v, fd, iovs, count, None)?;
        ret(r.and_then(|n| write_u32(v, nwritten, n as u32)))
    })
}

fn fd_pwrite(mut env: Env, fd: i32, iovs: i32, count: i32, offset: i64, nwritten: i32) -> R {
    with(&mut env, |ctx, v| {
        let r = write_iovs(ctx, v, fd, iovs, count, Some(offset as u64))?;
        ret(r.and_then(|n| write_u32(v, nwritten, n as u32)))
    })
}

fn fd_close(mut env: Env, fd: i32) -> R {
    with(&mut env, |ctx, _| ret(ctx.fs.close(fd as u32)))
}
fn fd_renumber(mut env: Env, from: i32, to: i32) -> R {
    with(&mut env, |ctx, _| {
        ret(ctx.fs.renumber(from as u32, to as u32))
    })
}
fn fd_seek(mut env: Env, fd: i32, offset: i64, whence: i32, out: i32) -> R {
    with(&mut env, |ctx, v| {
        ret(ctx
            .fs
            .seek(fd as u32, offset, whence as u8)
            .and_then(|p| write_u64(v, out, p)))
    })
}
fn fd_tell(mut env: Env, fd: i32, out: i32) -> R {
    with(&mut env, |ctx, v| {
        ret(ctx
            .fs
            .seek(fd as u32, 0, 1)
            .and_then(|p| write_u64(v, out, p)))
    })
}
fn fd_sync(mut env: Env, fd: i32) -> R {
    with(&mut env, |ctx, _| ret(ctx.fs.get(fd as u32).map(|_| ())))
}
fn fd_fdstat_get(mut env: Env, fd: i32, out: i32) -> R {
    with(&mut env, |ctx, v| {
        let r = ctx.fs.fdstat(fd as u32).and_then(|(ft, flags)| {
            let mut b = [0u8; 24];
            b[0] = ft;
            b[2..4].copy_from_slice(&flags.to_le_bytes());
            b[8..16].copy_from_slice(&rights::ALL.to_le_bytes());
            b[16..24].copy_from_slice(&rights::ALL.to_le_bytes());
            write_bytes(v, out, &b)
        });
        ret(r)
    })
}
fn fd_fdstat_set_flags(mut env: Env, fd: i32, _flags: i32) -> R {
    with(&mut env, |ctx, _| {
        ret(ctx.fs.get(fd as u32).and(Err(errno::NOTSUP)))
    })
}
fn fd_fdstat_set_rights(mut env: Env, fd: i32, _base: i64, _inh: i64) -> R {
    with(&mut env, |ctx, _| ret(ctx.fs.get(fd as u32).map(|_| ())))
}

fn write_filestat(v: &MemoryView, out: i32, s: Filestat) -> Result<(), Errno> {
    let mut b = [0u8; 64];
    b[0..8].copy_from_slice(&s.dev.to_le_bytes());
    b[8..16].copy_from_slice(&s.ino.to_le_bytes());
    b[16] = s.filetype;
    b[24..32].copy_from_slice(&s.nlink.to_le_bytes());
    b[32..40].copy_from_slice(&s.size.to_le_bytes());
    b[40..48].copy_from_slice(&s.atim.to_le_bytes());
    b[48..56].copy_from_slice(&s.mtim.to_le_bytes());
    b[56..64].copy_from_slice(&s.ctim.to_le_bytes());
    write_bytes(v, out, &b)
}

fn fd_filestat_get(mut env: Env, fd: i32, out: i32) -> R {
    with(&mut env, |ctx, v| {
        ret(ctx
            .fs
            .filestat(fd as u32)
            .and_then(|s| write_filestat(v, out, s)))
    })
}
fn fd_filestat_set_size(mut env: Env, fd: i32, size: i64) -> R {
    with(&mut env, |ctx, _| {
        ret(ctx
            .fs
            .set_size(fd as u32, size as u64)
            .map_err(|l| RuntimeError::user(Box::new(l)))?)
    })
}
fn fd_prestat_get(mut env: Env, fd: i32, out: i32) -> R {
    with(&mut env, |ctx, v| {
        let r = ctx.fs.prestat(fd as u32).and_then(|p| {
            let mut b = [0u8; 8];
            b[4..8].copy_from_slice(&(p.guest.len() as u32).to_le_bytes());
            write_bytes(v, out, &b)
        });
        ret(r)
    })
}
fn fd_prestat_dir_name(mut env: Env, fd: i32, path: i32, len: i32) -> R {
    with(&mut env, |ctx, v| {
        let r = ctx.fs.prestat(fd as u32).and_then(|p| {
            if (len as usize) < p.guest.len() {
                return Err(errno::INVAL);
            }
            write_bytes(v, path, p.guest.as_bytes())
        });
        ret(r)
    })
}

fn fd_readdir(mut env: Env, fd: i32, buf: i32, len: i32, cookie: i64, used: i32) -> R {
    with(&mut env, |ctx, v| {
        let entries = match ctx.fs.read_dir(fd as u32) {
            Ok(e) => e,
            Err(e) => return ret(Err(e)),
        };
        let cap = u32::try_from(len).unwrap_or(0) as usize;
        let mut out = Vec::with_capacity(cap.min(1 << 16));
        for (i, (name, ft, ino)) in entries.iter().enumerate().skip(cookie.max(0) as usize) {
            let mut d = Vec::with_capacity(24 + name.len());
            d.extend_from_slice(&(i as u64 + 1).to_le_bytes());
            d.extend_from_slice(&ino.to_le_bytes());
            d.extend_from_slice(&(name.len() as u32).to_le_bytes());
            d.extend_from_slice(&[*ft, 0, 0, 0]);
            d.extend_from_slice(name.as_bytes());
            let room = cap - out.len();
            out.extend_from_slice(&d[..d.len().min(room)]);
            if out.len() >= cap {
                break;
            }
        }
        ret(write_bytes(v, buf, &out).and_then(|_| write_u32(v, used, out.len() as u32)))
    })
}

fn unsupported_fd(mut env: Env, fd: i32, _a: i64, _b: i64) -> R {
    with(&mut env, |ctx, _| {
        ret(ctx.fs.get(fd as u32).and(Err(errno::NOTSUP)))
    })
}

// ---- paths ----

#[allow(clippy::too_many_arguments)] // the signature is WASI's
fn path_open(
    mut env: Env,
    fd: i32,
    _dirflags: i32,
    path: i32,
    path_len: i32,
    oflags: i32,
    rights_base: i64,
    _rights_inh: i64,
    fdflags: i32,
    out: i32,
) -> R {
    with(&mut env, |ctx, v| {
        let r = read_str(v, path, path_len)
            .and_then(|p| {
                ctx.fs.open(
                    fd as u32,
                    &p,
                    oflags as u16,
                    rights_base as u64,
                    fdflags as u16,
                )
            })
            .and_then(|newfd| write_u32(v, out, newfd));
        ret(r)
    })
}
fn path_filestat_get(mut env: Env, fd: i32, flags: i32, path: i32, len: i32, out: i32) -> R {
    with(&mut env, |ctx, v| {
        let r = read_str(v, path, len)
            .and_then(|p| ctx.fs.path_filestat(fd as u32, &p, flags & 1 != 0))
            .and_then(|s| write_filestat(v, out, s));
        ret(r)
    })
}
fn path_create_directory(mut env: Env, fd: i32, path: i32, len: i32) -> R {
    with(&mut env, |ctx, v| {
        ret(read_str(v, path, len).and_then(|p| ctx.fs.mkdir(fd as u32, &p)))
    })
}
fn path_remove_directory(mut env: Env, fd: i32, path: i32, len: i32) -> R {
    with(&mut env, |ctx, v| {
        ret(read_str(v, path, len).and_then(|p| ctx.fs.rmdir(fd as u32, &p)))
    })
}
fn path_unlink_file(mut env: Env, fd: i32, path: i32, len: i32) -> R {
    with(&mut env, |ctx, v| {
        ret(read_str(v, path, len).and_then(|p| ctx.fs.unlink(fd as u32, &p)))
    })
}
fn path_rename(mut env: Env, fd1: i32, p1: i32, l1: i32, fd2: i32, p2: i32, l2: i32) -> R {
    with(&mut env, |ctx, v| {
        let r = read_str(v, p1, l1).and_then(|a| {
            read_str(v, p2, l2).and_then(|b| ctx.fs.rename(fd1 as u32, &a, fd2 as u32, &b))
        });
        ret(r)
    })
}
fn path_readlink(mut env: Env, fd: i32, _p: i32, _l: i32, _buf: i32, _len: i32, _used: i32) -> R {
    with(&mut env, |ctx, _| {
        ret(ctx.fs.get(fd as u32).and(Err(errno::INVAL)))
    })
}

// ---- the ratchet module ----

/// Runs a host capability: the request is read from guest memory, the JSON response is kept
/// for `ratchet.response`, and its length is returned.
fn host_call(
    mut env: Env,
    ptr: i32,
    len: i32,
    call: fn(&mut Host, &[u8]) -> HostResult,
) -> Result<i64, RuntimeError> {
    with(&mut env, |ctx, v| {
        let req = match read_bytes(v, ptr, len) {
            Ok(r) => r,
            Err(e) => return Ok(-(e as i64)),
        };
        let value = call(&mut ctx.host, &req).map_err(|l| RuntimeError::user(Box::new(l)))?;
        let bytes = serde_json::to_vec(&value).unwrap_or_default();
        let n = bytes.len() as i64;
        ctx.response = Some(bytes);
        Ok(n)
    })
}

fn ratchet_fetch(env: Env, ptr: i32, len: i32) -> Result<i64, RuntimeError> {
    host_call(env, ptr, len, Host::fetch)
}
fn ratchet_command(env: Env, ptr: i32, len: i32) -> Result<i64, RuntimeError> {
    host_call(env, ptr, len, Host::command)
}
/// Copies the pending response into `buf` when it fits (returns its length and clears it);
/// -1 when there is none, -2 when `len` is too small (`task-abi.md` §4).
fn ratchet_response(mut env: Env, buf: i32, len: i32) -> R {
    with(&mut env, |ctx, v| {
        let Some(resp) = ctx.response.as_ref() else {
            return Ok(-1);
        };
        if (len as i64) < resp.len() as i64 {
            return Ok(-2);
        }
        if write_bytes(v, buf, resp).is_err() {
            return Ok(-(errno::FAULT as i32));
        }
        let n = resp.len() as i32;
        ctx.response = None;
        Ok(n)
    })
}

macro_rules! define {
    ($imports:ident, $store:ident, $env:ident, $module:expr, { $($name:literal => $f:expr),* $(,)? }) => {
        $( $imports.define($module, $name, Function::new_typed_with_env(&mut *$store, $env, $f)); )*
    };
}

fn nosys_fd_i32(_env: Env, _fd: i32) -> R {
    Ok(errno::NOSYS as i32)
}
fn notsup_2(_env: Env, _a: i32, _b: i32) -> R {
    Ok(errno::NOTSUP as i32)
}
fn notsup_3(_env: Env, _a: i32, _b: i32, _c: i32) -> R {
    Ok(errno::NOTSUP as i32)
}
fn notsup_5(_env: Env, _a: i32, _b: i32, _c: i32, _d: i32, _e: i32) -> R {
    Ok(errno::NOTSUP as i32)
}
fn notsup_6(_env: Env, _a: i32, _b: i32, _c: i32, _d: i32, _e: i32, _f: i32) -> R {
    Ok(errno::NOTSUP as i32)
}
#[allow(clippy::too_many_arguments)] // the signature is WASI's
fn notsup_7(_env: Env, _a: i32, _b: i32, _c: i32, _d: i32, _e: i32, _f: i32, _g: i32) -> R {
    Ok(errno::NOTSUP as i32)
}
fn fd_filestat_set_times(_env: Env, _fd: i32, _a: i64, _m: i64, _f: i32) -> R {
    Ok(errno::NOTSUP as i32)
}
fn fd_allocate(_env: Env, _fd: i32, _o: i64, _l: i64) -> R {
    Ok(errno::NOTSUP as i32)
}
#[allow(clippy::too_many_arguments)] // the signature is WASI's
fn path_filestat_set_times(
    _env: Env,
    _fd: i32,
    _fl: i32,
    _p: i32,
    _l: i32,
    _a: i64,
    _m: i64,
    _f: i32,
) -> R {
    Ok(errno::NOTSUP as i32)
}

/// Every preview1 function and the `ratchet` module, bound to `env`.
pub(crate) fn imports(store: &mut Store, env: &FunctionEnv<Ctx>) -> Imports {
    let mut imports = Imports::new();
    define!(imports, store, env, WASI_MODULE, {
        "args_get" => args_get,
        "args_sizes_get" => args_sizes_get,
        "environ_get" => environ_get,
        "environ_sizes_get" => environ_sizes_get,
        "clock_res_get" => clock_res_get,
        "clock_time_get" => clock_time_get,
        "fd_advise" => |e: Env, fd: i32, _o: i64, _l: i64, _a: i32| unsupported_fd(e, fd, 0, 0),
        "fd_allocate" => fd_allocate,
        "fd_close" => fd_close,
        "fd_datasync" => fd_sync,
        "fd_fdstat_get" => fd_fdstat_get,
        "fd_fdstat_set_flags" => fd_fdstat_set_flags,
        "fd_fdstat_set_rights" => fd_fdstat_set_rights,
        "fd_filestat_get" => fd_filestat_get,
        "fd_filestat_set_size" => fd_filestat_set_size,
        "fd_filestat_set_times" => fd_filestat_set_times,
        "fd_pread" => fd_pread,
        "fd_prestat_get" => fd_prestat_get,
        "fd_prestat_dir_name" => fd_prestat_dir_name,
        "fd_pwrite" => fd_pwrite,
        "fd_read" => fd_read,
        "fd_readdir" => fd_readdir,
        "fd_renumber" => fd_renumber,
        "fd_seek" => fd_seek,
        "fd_sync" => fd_sync,
        "fd_tell" => fd_tell,
        "fd_write" => fd_write,
        "path_create_directory" => path_create_directory,
        "path_filestat_get" => path_filestat_get,
        "path_filestat_set_times" => path_filestat_set_times,
        "path_link" => notsup_7,
        "path_open" => path_open,
        "path_readlink" => path_readlink,
        "path_remove_directory" => path_remove_directory,
        "path_rename" => path_rename,
        "path_symlink" => notsup_5,
        "path_unlink_file" => path_unlink_file,
        "poll_oneoff" => poll_oneoff,
        "proc_exit" => proc_exit,
        "proc_raise" => nosys_fd_i32,
        "sched_yield" => sched_yield,
        "random_get" => random_get,
        "sock_accept" => notsup_3,
        "sock_recv" => notsup_6,
        "sock_send" => notsup_5,
        "sock_shutdown" => notsup_2,
    });
    define!(imports, store, env, RATCHET_MODULE, {
        "fetch" => ratchet_fetch,
        "command" => ratchet_command,
        "response" => ratchet_response,
        "fetch_result" => ratchet_response,
    });
    imports
}
