//! The sandbox against real modules: C compiled with clang for wasm32-wasi and WAT, well-behaved
//! and hostile. Every hostile module must be stopped or refused with an error that names the
//! cause, and the host must be unchanged.

mod common;
mod tls_server;

use common::{c_module, http_server, wat_module};
use ratchet_formats::manifest::permissions::DomainPattern;
use ratchet_formats::manifest::units::{ByteSize, Millis};
use ratchet_sandbox::policy::NetworkRule;
use ratchet_sandbox::{
    CacheStatus, Effective, LimitKind, Limits, Mount, RunOutcome, RunStatus, Runtime, TaskRun,
};
use std::sync::OnceLock;

fn runtime() -> &'static Runtime {
    static RT: OnceLock<(tempfile::TempDir, Runtime)> = OnceLock::new();
    &RT.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let rt = Runtime::new(Some(d.path().join("modules")));
        (d, rt)
    })
    .1
}

fn small_limits() -> Limits {
    Limits {
        max_memory: ByteSize(32 << 20),
        max_cpu_time: Millis(2_000),
        wall_time: Millis(10_000),
        max_disk: ByteSize(1 << 20),
        max_network_bandwidth: ByteSize(64 << 10),
        max_output: ByteSize(64 << 10),
    }
}

fn probe(args: &[&str], permissions: Effective) -> RunOutcome {
    let run = TaskRun {
        name: "probe".into(),
        module: c_module("probe"),
        args: args.iter().map(|s| s.to_string()).collect(),
        stdin: b"{\"a\": 1}".to_vec(),
        permissions,
        ..Default::default()
    };
    runtime().run(&run).unwrap()
}

fn pure() -> Effective {
    Effective::pure(small_limits())
}

fn stdout(o: &RunOutcome) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn assert_limit(o: &RunOutcome, kind: LimitKind) {
    match &o.status {
        RunStatus::Limit { kind: k, message } => {
            assert_eq!(*k, kind, "{message}");
            assert!(
                o.failure_message().contains(kind.name()),
                "{}",
                o.failure_message()
            );
        }
        other => panic!(
            "expected {kind:?} limit, got {other:?}; stderr: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
    }
}

#[test]
fn echo_reads_stdin_and_writes_stdout() {
    let o = probe(&[], pure());
    assert!(o.success(), "{}", o.failure_message());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v, serde_json::json!({"input": {"a": 1}, "args": 1}));
    assert_eq!(String::from_utf8_lossy(&o.stderr), "echo done\n");
    assert!(o.usage.cpu_points > 0 && o.usage.memory_bytes > 0);
}

#[test]
fn wat_module_runs_and_is_cached() {
    let d = tempfile::tempdir().unwrap();
    let rt = Runtime::new(Some(d.path().to_path_buf()));
    let run = TaskRun {
        name: "hello".into(),
        module: wat_module("hello"),
        permissions: pure(),
        ..Default::default()
    };
    let first = rt.run(&run).unwrap();
    assert_eq!(stdout(&first), "{\"hello\":\"wat\"}\n");
    assert_eq!(first.usage.cache, CacheStatus::Compiled);
    let files: Vec<_> = std::fs::read_dir(d.path()).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "one artifact, no temp files left");
    // A new runtime (a new process would do the same) loads the artifact without compiling.
    let rt2 = Runtime::new(Some(d.path().to_path_buf()));
    let second = rt2.run(&run).unwrap();
    assert_eq!(second.usage.cache, CacheStatus::Hit);
    assert_eq!(stdout(&second), stdout(&first));
    // A corrupt artifact is recompiled and replaced, not trusted.
    std::fs::write(files[0].path(), b"garbage").unwrap();
    let third = Runtime::new(Some(d.path().to_path_buf()))
        .run(&run)
        .unwrap();
    assert_eq!(third.usage.cache, CacheStatus::Compiled);
    assert!(third.success());
}

#[test]
fn nonzero_exit_is_a_failure_with_stderr() {
    let o = probe(&["fail"], pure());
    assert_eq!(o.status, RunStatus::Exit(7));
    let m = o.failure_message();
    assert!(
        m.contains("status 7") && m.contains("something went wrong"),
        "{m}"
    );
}

#[test]
fn infinite_loop_is_stopped_by_cpu_budget() {
    let mut p = pure();
    p.limits.max_cpu_time = Millis(300);
    let o = probe(&["loop"], p.clone());
    assert_limit(&o, LimitKind::CpuTime);
    let run = TaskRun {
        name: "spin".into(),
        module: wat_module("spin"),
        permissions: p,
        ..Default::default()
    };
    let o = runtime().run(&run).unwrap();
    assert_limit(&o, LimitKind::CpuTime);
    assert!(o.usage.wall_ms < 10_000.0);
}

#[test]
fn memory_bomb_hits_memory_limit() {
    let o = probe(&["membomb"], pure());
    assert_limit(&o, LimitKind::Memory);
    assert!(o.usage.memory_bytes <= 32 << 20, "{}", o.usage.memory_bytes);
    let run = TaskRun {
        name: "grow".into(),
        module: wat_module("grow"),
        permissions: pure(),
        ..Default::default()
    };
    let o = runtime().run(&run).unwrap();
    assert_limit(&o, LimitKind::Memory);
    let run = TaskRun {
        name: "bigmem".into(),
        module: wat_module("bigmem"),
        permissions: pure(),
        ..Default::default()
    };
    let o = runtime().run(&run).unwrap();
    assert_limit(&o, LimitKind::Memory);
}

#[test]
fn deep_recursion_traps_with_stack_overflow() {
    for o in [
        probe(&["recurse"], pure()),
        runtime()
            .run(&TaskRun {
                name: "recurse".into(),
                module: wat_module("recurse"),
                permissions: pure(),
                ..Default::default()
            })
            .unwrap(),
    ] {
        match &o.status {
            // C keeps its frames in linear memory (a shadow stack below the data), so a C
            // recursion runs off the bottom of memory; WAT recursion exhausts the call stack.
            RunStatus::Trap(m) => {
                assert!(
                    m.contains("stack overflow") || m.contains("out of bounds"),
                    "{m}"
                );
                assert!(
                    matches!(
                        o.trap,
                        Some(
                            ratchet_sandbox::TrapKind::StackOverflow
                                | ratchet_sandbox::TrapKind::OutOfBoundsMemoryAccess
                        )
                    ),
                    "{:?}",
                    o.trap
                );
            }
            other => panic!("expected a stack overflow trap, got {other:?}"),
        }
    }
}

#[test]
fn huge_output_hits_output_cap() {
    let o = probe(&["output"], pure());
    assert_limit(&o, LimitKind::Output);
    assert!(o.stdout.len() <= 64 << 10);
}

#[test]
fn host_files_do_not_exist_for_the_task() {
    let mut p = pure();
    p.fs_read = vec!["/data".into()];
    for path in [
        "/etc/passwd",
        "/data/../etc/passwd",
        "/data/../../../../etc/passwd",
        "../etc/passwd",
        "/",
    ] {
        let o = probe(&["read", path], p.clone());
        assert_eq!(o.status, RunStatus::Exit(2), "{path}: {}", stdout(&o));
        assert!(stdout(&o).contains("\"error\""), "{path}: {}", stdout(&o));
    }
    let o = probe(&["ls", "/"], p.clone());
    assert_ne!(
        o.status,
        RunStatus::Success,
        "listing / must fail: {}",
        stdout(&o)
    );
}

#[test]
fn writes_stay_inside_declared_writable_paths() {
    let outer = tempfile::tempdir().unwrap();
    let data = outer.path().join("data");
    let ro = outer.path().join("ro");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&ro).unwrap();
    std::fs::write(ro.join("keep.txt"), "original").unwrap();
    let mut p = pure();
    p.fs_write = vec!["/data".into()];
    p.fs_read = vec!["/ro".into()];
    p.mounts.insert("/data".into(), data.clone());
    p.mounts.insert("/ro".into(), ro.clone());

    let o = probe(&["write", "/data/out.txt"], p.clone());
    assert!(o.success(), "{}", o.failure_message());
    assert_eq!(
        std::fs::read_to_string(data.join("out.txt")).unwrap(),
        "written by probe\n"
    );

    for target in [
        "/data/../escape.txt",
        "/data/../../escape.txt",
        "/escape.txt",
        "/tmp/escape.txt",
        "/ro/keep.txt",
        "/ro/new.txt",
    ] {
        let o = probe(&["write", target], p.clone());
        assert_eq!(o.status, RunStatus::Exit(2), "{target}: {}", stdout(&o));
    }
    assert!(!outer.path().join("escape.txt").exists());
    assert_eq!(
        std::fs::read_to_string(ro.join("keep.txt")).unwrap(),
        "original"
    );
    assert!(!ro.join("new.txt").exists());
    let names: Vec<_> = std::fs::read_dir(outer.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names.len(), 2, "nothing new beside the mounts: {names:?}");
}

#[test]
fn declared_path_defaults_to_scratch_and_read_works() {
    let mut p = pure();
    p.fs_write = vec!["/out".into()];
    let o = probe(&["write", "/out/x.txt"], p.clone());
    assert!(o.success(), "{}", o.failure_message());
    // 17 bytes written, plus the cost of creating the file.
    assert_eq!(o.usage.disk_bytes, 17 + ratchet_sandbox::fs::ENTRY_COST);
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("in.json"), "{\"k\": 1}").unwrap();
    let run = TaskRun {
        name: "probe".into(),
        module: c_module("probe"),
        args: vec!["read".into(), "/task/in.json".into()],
        mounts: vec![Mount {
            guest: "/task".into(),
            host: d.path().to_path_buf(),
        }],
        permissions: pure(),
        ..Default::default()
    };
    let o = runtime().run(&run).unwrap();
    assert!(o.success(), "{}", o.failure_message());
    assert!(stdout(&o).contains("{\"read\": 8}"), "{}", stdout(&o));
    let run = TaskRun {
        args: vec!["write".into(), "/task/in.json".into()],
        ..run
    };
    let o = runtime().run(&run).unwrap();
    assert_eq!(o.status, RunStatus::Exit(2), "extra mounts are read-only");
}

#[test]
fn disk_quota_stops_writes() {
    let mut p = pure();
    p.fs_write = vec!["/out".into()];
    let o = probe(&["disk", "/out/fill.bin"], p);
    assert_limit(&o, LimitKind::Disk);
    assert!(o.usage.disk_bytes <= 1 << 20);
}

#[test]
fn only_declared_set_environment_variables_are_passed() {
    // SAFETY: set once, read by this test only; no other test reads these names.
    unsafe {
        std::env::set_var("RATCHET_TEST_DECLARED", "yes");
        std::env::set_var("RATCHET_TEST_SECRET", "no");
    }
    let mut p = pure();
    p.environment = vec!["RATCHET_TEST_DECLARED".into(), "RATCHET_TEST_UNSET".into()];
    let o = probe(
        &[
            "env",
            "RATCHET_TEST_DECLARED",
            "RATCHET_TEST_SECRET",
            "RATCHET_TEST_UNSET",
            "PATH",
            "HOME",
        ],
        p,
    );
    let out = stdout(&o);
    assert!(
        out.contains("{\"var\": \"RATCHET_TEST_DECLARED\", \"set\": true}"),
        "{out}"
    );
    for v in ["RATCHET_TEST_SECRET", "RATCHET_TEST_UNSET", "PATH", "HOME"] {
        assert!(
            out.contains(&format!("{{\"var\": \"{v}\", \"set\": false}}")),
            "{v}: {out}"
        );
    }
}

fn net(patterns: &[&str]) -> Effective {
    let mut p = pure();
    p.network = NetworkRule {
        declared: patterns
            .iter()
            .map(|s| DomainPattern::parse(s).unwrap())
            .collect(),
        policy: None,
        ..NetworkRule::default()
    };
    p
}

#[test]
fn fetch_reaches_declared_domain_over_loopback() {
    let port = http_server(4);
    let p = net(&[&format!("http://127.0.0.1:{port}")]);
    let o = probe(
        &["fetch", &format!("http://127.0.0.1:{port}/ok")],
        p.clone(),
    );
    assert!(o.success(), "{} {}", o.failure_message(), stdout(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["status"], 200);
    assert_eq!(v["body"], "{\"hello\":\"world\"}");
    assert!(o.usage.network_bytes > 17);
    // A redirect within the declared host is followed.
    let o = probe(
        &["fetch", &format!("http://127.0.0.1:{port}/redirect-local")],
        p.clone(),
    );
    assert!(o.success(), "{}", stdout(&o));
    assert!(stdout(&o).contains("world"));
    assert!(o.denials.is_empty());
}

#[test]
fn fetch_refuses_undeclared_domain_and_plain_http() {
    let port = http_server(2);
    let p = net(&[&format!("http://127.0.0.1:{port}")]);
    let o = probe(
        &["fetch", &format!("http://localhost:{port}/ok")],
        p.clone(),
    );
    assert_eq!(o.status, RunStatus::Exit(3));
    assert!(
        stdout(&o).contains("\"kind\":\"denied\"") && stdout(&o).contains("not permitted"),
        "{}",
        stdout(&o)
    );
    assert_eq!(o.denials.len(), 1);
    let o = probe(&["fetch", "https://example.com/"], p);
    assert_eq!(o.status, RunStatus::Exit(3), "{}", stdout(&o));
    // https-only pattern refuses http.
    let o = probe(
        &["fetch", &format!("http://127.0.0.1:{port}/ok")],
        net(&["127.0.0.1"]),
    );
    assert_eq!(o.status, RunStatus::Exit(3), "{}", stdout(&o));
    // No network declared at all.
    let o = probe(&["fetch", &format!("http://127.0.0.1:{port}/ok")], pure());
    assert!(
        stdout(&o).contains("declared domains: none"),
        "{}",
        stdout(&o)
    );
}

/// `fetch` is on the registry client's TLS stack: a server whose certificate comes from an
/// authority no trusted root vouches for is refused, and the task is told why.
#[test]
fn fetch_refuses_a_certificate_from_an_unknown_authority() {
    let srv = tls_server::serve_tls(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-index"),
    );
    let p = net(&[&format!("127.0.0.1:{}", srv.port)]);
    let o = probe(&["fetch", &format!("{}config.json", srv.url())], p);
    let out = stdout(&o);
    assert!(
        out.contains("\"kind\":\"failed\"")
            && out.contains("certificate authority this machine does not trust"),
        "{out}"
    );
    assert!(o.denials.is_empty(), "{:?}", o.denials);
    assert_eq!(srv.connections(), 1);
}

#[test]
fn redirect_to_undeclared_domain_is_refused() {
    let port = http_server(2);
    let p = net(&[&format!("http://127.0.0.1:{port}")]);
    let o = probe(
        &["fetch", &format!("http://127.0.0.1:{port}/redirect-out")],
        p,
    );
    assert_eq!(o.status, RunStatus::Exit(3), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.contains("redirect from") && out.contains("localhost"),
        "{out}"
    );
}

#[test]
fn policy_can_narrow_the_network() {
    let port = http_server(2);
    let mut p = net(&[&format!("http://127.0.0.1:{port}")]);
    p.network.policy = Some(vec![]);
    let o = probe(&["fetch", &format!("http://127.0.0.1:{port}/ok")], p);
    assert_eq!(o.status, RunStatus::Exit(3), "{}", stdout(&o));
}

#[test]
fn bandwidth_limit_stops_large_download() {
    let port = http_server(2);
    let p = net(&[&format!("http://127.0.0.1:{port}")]);
    let o = probe(&["fetch", &format!("http://127.0.0.1:{port}/big")], p);
    assert_limit(&o, LimitKind::NetworkBandwidth);
}

#[test]
fn fetch_mock_answers_without_network() {
    let run = TaskRun {
        name: "probe".into(),
        module: c_module("probe"),
        args: vec!["fetch".into(), "https://api.example.com/users/1".into()],
        permissions: net(&["api.example.com"]),
        fetch_mock: Some(ratchet_formats::task::HttpMock {
            url: "api.example.com/users".into(),
            method: Some("GET".into()),
            response: serde_json::json!({"ok": true, "status": 200, "statusText": "OK", "body": {"id": 1}}),
        }),
        ..Default::default()
    };
    let o = runtime().run(&run).unwrap();
    assert!(o.success(), "{}", stdout(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["body"], "{\"id\":1}");
    assert_eq!(v["mocked"], true);
}

#[test]
fn only_declared_commands_start_without_a_shell() {
    let o = probe(&["command", "sh", "-c"], pure());
    assert_eq!(o.status, RunStatus::Exit(3));
    assert!(
        stdout(&o).contains("starting command `sh` is not permitted"),
        "{}",
        stdout(&o)
    );
    let mut p = pure();
    p.commands = vec!["echo".into()];
    let o = probe(&["command", "echo", "hello; rm -rf /"], p);
    assert!(o.success(), "{} {}", o.failure_message(), stdout(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(
        v["stdout"], "hello; rm -rf /\n",
        "the argument reached echo verbatim, no shell"
    );
    assert_eq!(v["success"], true);
}

#[test]
fn sleeping_past_the_deadline_is_stopped() {
    let mut p = pure();
    p.limits.wall_time = Millis(300);
    let o = probe(&["sleep", "5"], p);
    assert_limit(&o, LimitKind::WallTime);
    assert!(o.usage.wall_ms < 3_000.0, "{}", o.usage.wall_ms);
}

#[test]
fn foreign_imports_are_refused() {
    let run = TaskRun {
        name: "foreign".into(),
        module: wat_module("foreign"),
        permissions: pure(),
        ..Default::default()
    };
    let e = runtime().run(&run).unwrap_err().to_string();
    assert!(e.contains("env.system"), "{e}");
}

#[test]
fn hostile_iovecs_neither_allocate_nor_pass_the_cap() {
    let run = TaskRun {
        name: "iovbomb".into(),
        module: wat_module("iovbomb"),
        permissions: pure(),
        ..Default::default()
    };
    let o = runtime().run(&run).unwrap();
    assert_limit(&o, LimitKind::Output);
    assert!(o.stdout.len() <= 64 << 10);
}

/// A host name (not an address, not `localhost`) that `/etc/hosts` maps to loopback, if any.
fn loopback_alias() -> Option<String> {
    let hosts = std::fs::read_to_string("/etc/hosts").ok()?;
    hosts
        .lines()
        .filter(|l| l.trim_start().starts_with("127."))
        .flat_map(|l| l.split_whitespace().skip(1).map(str::to_string))
        .find(|n| !n.starts_with('#') && n != "localhost" && DomainPattern::parse(n).is_ok())
}

#[test]
fn declared_name_resolving_to_internal_address_is_refused() {
    let Some(name) = loopback_alias() else {
        eprintln!(
            "no host name other than localhost maps to loopback in /etc/hosts here; the address classifier is covered by unit tests"
        );
        return;
    };
    let port = http_server(1);
    let p = net(&[&format!("http://{name}:{port}")]);
    let o = probe(&["fetch", &format!("http://{name}:{port}/ok")], p);
    assert_eq!(o.status, RunStatus::Exit(3), "{}", stdout(&o));
    assert!(stdout(&o).contains("internal addresses"), "{}", stdout(&o));
    assert_eq!(o.denials.len(), 1, "{}", stdout(&o));
}

#[test]
fn commands_are_bounded_by_deadline_and_output_cap() {
    let mut p = pure();
    p.commands = vec!["sleep".into(), "yes".into()];
    p.limits.wall_time = Millis(500);
    let o = probe(&["command", "sleep", "30"], p.clone());
    assert_limit(&o, LimitKind::WallTime);
    assert!(
        o.usage.wall_ms < 5_000.0,
        "the program was killed at the deadline: {}",
        o.usage.wall_ms
    );
    p.limits.wall_time = Millis(10_000);
    let o = probe(&["command", "yes", "spam"], p);
    assert_limit(&o, LimitKind::Output);
}

fn wat_run(name: &str) -> RunOutcome {
    let run = TaskRun {
        name: name.into(),
        module: wat_module(name),
        permissions: pure(),
        ..Default::default()
    };
    runtime().run(&run).unwrap()
}

#[test]
fn tables_and_extra_memories_cannot_take_host_memory() {
    // table.grow past the per-task element limit is refused (the guest sees -1).
    let o = wat_run("tablegrow");
    assert_eq!(o.status, RunStatus::Exit(3), "{}", o.failure_message());
    // A second linear memory would get its own share of the memory limit: refused.
    let run = TaskRun {
        name: "multimem".into(),
        module: wat_module("multimem"),
        permissions: pure(),
        ..Default::default()
    };
    let e = runtime().run(&run).unwrap_err().to_string();
    assert!(e.contains("more than one linear memory"), "{e}");
}

#[test]
fn created_entries_count_against_the_disk_quota() {
    let mut p = pure();
    p.fs_write = vec!["/out".into()];
    let o = probe(&["mkdirs", "/out"], p);
    assert_limit(&o, LimitKind::Disk);
    // 1 MiB quota / 4 KiB per entry.
    assert!(o.usage.disk_bytes <= 1 << 20, "{}", o.usage.disk_bytes);
    assert!(
        stdout(&o).is_empty() || stdout(&o).contains("\"created\": 25"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn open_descriptors_are_bounded() {
    let mut p = pure();
    p.fs_read = vec!["/in".into()];
    let o = probe(&["fds", "/in"], p);
    assert_eq!(o.status, RunStatus::Exit(2), "{}", o.failure_message());
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert!(v["opened"].as_u64().unwrap() < 256, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("No file descriptors"),
        "{v}"
    );
}

#[test]
fn wall_clock_deadline_holds_during_host_calls() {
    let mut p = pure();
    p.limits.wall_time = Millis(300);
    p.limits.max_cpu_time = Millis(100_000);
    p.fs_read = vec!["/in".into()];
    let o = probe(&["statloop", "/in"], p);
    assert_limit(&o, LimitKind::WallTime);
    assert!(o.usage.wall_ms < 5_000.0, "{}", o.usage.wall_ms);
}

#[test]
fn fetch_cannot_choose_the_host_header() {
    let port = http_server(2);
    let url = format!("http://127.0.0.1:{port}/ok");
    let p = net(&[&format!("http://127.0.0.1:{port}")]);
    for header in ["Host", "transfer-encoding", "Proxy-Authorization"] {
        let o = probe(&["fetchheader", &url, header, "evil.example"], p.clone());
        assert_eq!(o.status, RunStatus::Exit(3), "{}", stdout(&o));
        assert!(
            stdout(&o).contains("may not be set by a task"),
            "{}",
            stdout(&o)
        );
    }
    // A header name HTTP does not allow is an invalid request, not a network failure.
    let o = probe(&["fetchheader", &url, "bad name", "1"], p.clone());
    let out = stdout(&o);
    assert!(
        out.contains("\"kind\":\"invalid\"") && out.contains("fetch request is not valid"),
        "{out}"
    );
    // An ordinary header is sent.
    let o = probe(&["fetchheader", &url, "x-trace", "1"], p);
    assert!(o.success(), "{} {}", o.failure_message(), stdout(&o));
}

#[test]
fn refusals_kept_for_the_report_are_bounded() {
    let o = probe(&["denyloop"], pure());
    assert!(o.success(), "{}", o.failure_message());
    assert!(o.denials.len() <= 21, "{}", o.denials.len());
    assert!(o.denials.iter().all(|d| d.len() < 400));
    assert_eq!(o.denials.last().unwrap(), "... and 180 more");
}

#[test]
fn bulk_memory_work_is_metered() {
    let mut p = pure();
    p.limits.max_cpu_time = Millis(300);
    p.limits.max_memory = ByteSize(32 << 20);
    let run = TaskRun {
        name: "bulkbomb".into(),
        module: wat_module("bulkbomb"),
        permissions: p,
        ..Default::default()
    };
    let o = runtime().run(&run).unwrap();
    assert_limit(&o, LimitKind::CpuTime);
    // 300 ms of budget is 9 GB of fills at one point per byte: seconds at most, not days.
    assert!(o.usage.wall_ms < 20_000.0, "{}", o.usage.wall_ms);
}
