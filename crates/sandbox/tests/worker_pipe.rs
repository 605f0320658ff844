//! A worker that has ended, or closed its stdin, before its request is written (`task-abi.md`
//! §10): the run fails with a typed error that says so, and the parent — which here, like the
//! `ratchet` binary, keeps `SIGPIPE`'s default action (a write to a closed pipe would end the
//! process) — is not killed by the write. Its own test binary, since the signal disposition is
//! the whole process's.

#![cfg(unix)]

use ratchet_sandbox::isolate::Isolation;
use ratchet_sandbox::{Effective, Limits, RunError, Runtime, TaskRun};
use std::path::Path;
use std::time::{Duration, Instant};

/// A stand-in worker: closes its stdin and stdout at once, appends a line to `marker`, and then
/// lingers (as a child it waits for, so that killing its descendants ends it).
fn closing_worker(marker: &Path) -> Isolation {
    Isolation {
        program: "/bin/sh".into(),
        args: vec![
            "-c".into(),
            format!(
                "exec 0<&- 1>&-; echo closed >> '{}'; sleep 30 & wait",
                marker.display()
            ),
        ],
    }
}

/// Waits (up to 10 s) until `marker` has `n` lines: that many stand-in workers closed their stdin.
fn wait_lines(marker: &Path, n: usize) {
    let until = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(marker).map_or(0, |t| t.lines().count()) < n {
        assert!(Instant::now() < until, "the stand-in worker did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn run(rt: &Runtime, module_len: usize) -> Result<ratchet_sandbox::RunOutcome, RunError> {
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    module.resize(module_len, 0);
    rt.run_task_run(
        &TaskRun {
            name: "t".into(),
            module,
            permissions: Effective::pure(Limits::default()),
            ..Default::default()
        },
        false,
    )
}

fn assert_request_refused(r: Result<ratchet_sandbox::RunOutcome, RunError>) {
    match r {
        Err(RunError::Io(what, e)) => {
            assert!(
                what.contains("sending the request to the sandbox worker")
                    && what.contains("ended before reading it"),
                "{what}: {e}"
            );
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{what}: {e}");
        }
        Err(e) => panic!("expected an I/O error sending the request, got {e}"),
        Ok(o) => panic!("expected an error, got an outcome: {:?}", o.status),
    }
}

#[test]
fn a_worker_gone_before_its_request_is_a_typed_error_not_a_killed_parent() {
    // SAFETY: sets the default disposition of one signal; no handler runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let d = tempfile::tempdir().unwrap();
    let marker = d.path().join("closed");
    let rt = Runtime::new(Some(d.path().join("modules"))).isolated(closing_worker(&marker));
    // The worker started ahead has closed its stdin: a small request, written by the run's
    // own thread, meets a pipe without a reader.
    wait_lines(&marker, 1);
    assert_request_refused(run(&rt, 100));
    // The next run's worker was started while that run went on; once it has closed its stdin,
    // a request larger than a pipe holds, written by another thread, meets the same.
    wait_lines(&marker, 2);
    assert_request_refused(run(&rt, 1 << 20));
}
