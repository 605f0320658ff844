//! JavaScript tasks in the sandbox: a corpus of `main.js` tasks in the style of Ratchet's
//! samples, run by the embedded JavaScript engine (QuickJS-ng compiled for wasm32-wasi) through
//! the same runtime, permissions and limits as WebAssembly tasks.

mod common;

use common::{copy_dir, http_server};
use ratchet_formats::manifest::permissions::DomainPattern;
use ratchet_formats::manifest::units::{ByteSize, Millis};
use ratchet_formats::task::HttpMock;
use ratchet_sandbox::bundle_test::{Verdict, test_bundle};
use ratchet_sandbox::execute::{ExecError, ExecOptions, Executed, TaskSpec, run_task};
use ratchet_sandbox::{Policy, Runtime};
use serde_json::{Value, json};
use std::path::Path;
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

/// A task directory with `main.js`, `metadata.json` and the given extra files.
struct TaskDir {
    _dir: tempfile::TempDir,
    spec: TaskSpec,
}

fn task(main_js: &str, extra: &[(&str, Value)]) -> TaskDir {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("task");
    std::fs::create_dir(&t).unwrap();
    std::fs::write(t.join("main.js"), main_js).unwrap();
    let mut metadata = json!({"version": "1.0.0", "description": "test task"});
    for (name, v) in extra {
        if *name == "metadata.json" {
            for (k, x) in v.as_object().unwrap() {
                metadata[k] = x.clone();
            }
        } else {
            std::fs::write(t.join(name), serde_json::to_vec(v).unwrap()).unwrap();
        }
    }
    std::fs::write(
        t.join("metadata.json"),
        serde_json::to_vec(&metadata).unwrap(),
    )
    .unwrap();
    let mut spec = TaskSpec::lone(&t).unwrap();
    spec.resources.max_memory = Some(ByteSize(64 << 20));
    spec.resources.max_cpu_time = Some(Millis(2_000));
    TaskDir { _dir: dir, spec }
}

fn run_with(t: &TaskDir, input: Value, mock: Option<HttpMock>) -> Result<Executed, ExecError> {
    let opts = ExecOptions {
        mock,
        mounts: Vec::new(),
    };
    run_task(runtime(), &t.spec, &input, &Policy::default(), &opts)
}

fn ok(main_js: &str, input: Value) -> Value {
    match run_with(&task(main_js, &[]), input, None) {
        Ok(e) => e.output,
        Err(e) => panic!("{main_js}\nfailed: {e}"),
    }
}

fn err(t: &TaskDir, input: Value) -> String {
    match run_with(t, input, None) {
        Ok(e) => panic!("expected a failure, got {}", e.output),
        Err(e) => e.to_string(),
    }
}

#[test]
fn arithmetic_like_the_addition_sample() {
    let src = "(function(input) {\n  return { result: input.a + input.b };\n})\n";
    assert_eq!(ok(src, json!({"a": 2, "b": 3.5})), json!({"result": 5.5}));
}

#[test]
fn string_and_json_transformation() {
    let src = r#"function main(input) {
  const words = input.text.split(/\s+/).filter(Boolean);
  const parsed = JSON.parse(input.json);
  return {
    upper: input.text.toUpperCase(),
    camel: words.map((w, i) => i ? w[0].toUpperCase() + w.slice(1) : w.toLowerCase()).join(''),
    count: words.length,
    keys: Object.keys(parsed).sort(),
    unicode: "héllo ✓".length,
    pretty: JSON.stringify(parsed, null, 2),
  };
}"#;
    let out = ok(
        src,
        json!({"text": "hello big world", "json": "{\"b\":1,\"a\":[2]}"}),
    );
    assert_eq!(out["upper"], "HELLO BIG WORLD");
    assert_eq!(out["camel"], "helloBigWorld");
    assert_eq!(out["count"], 3);
    assert_eq!(out["keys"], json!(["a", "b"]));
    assert_eq!(out["unicode"], 7);
    assert_eq!(out["pretty"], "{\n  \"b\": 1,\n  \"a\": [\n    2\n  ]\n}");
}

#[test]
fn every_accepted_main_js_shape_runs() {
    let shapes = [
        "function main(input) { return { v: input.n * 2 }; }",
        "const main = (input) => ({ v: input.n * 2 });",
        "(function(input) { return { v: input.n * 2 }; })",
        "function(input) { return { v: input.n * 2 }; }",
        "(input) => { return { v: input.n * 2 }; }",
        "input => ({ v: input.n * 2 })",
        "async function main(input) { await null; return { v: input.n * 2 }; }",
        "(async function(input) { const x = await Promise.resolve(input.n); return { v: x * 2 }; })",
        "function main(input) { return Promise.resolve({ v: input.n * 2 }); }",
        "function main(input) { return { v: input.n * 2 }; }\nmodule.exports = { main };",
        "module.exports = { main: (input) => ({ v: input.n * 2 }) };",
        "module.exports = function (input) { return { v: input.n * 2 }; };",
        "// a comment first\n/* and a block */\nfunction main(input) {\n  const helper = (x) => x * 2;\n  return { v: helper(input.n) };\n}\n",
    ];
    for s in shapes {
        assert_eq!(ok(s, json!({"n": 21})), json!({"v": 42}), "shape: {s}");
    }
}

#[test]
fn a_thrown_error_fails_the_task_with_its_message() {
    let t = task(
        "function main(input) {\n  if (!input.name) { throw new Error('name is required'); }\n  return {};\n}",
        &[],
    );
    let e = err(&t, json!({}));
    assert!(e.contains("name is required"), "{e}");
    assert!(e.contains("the JavaScript task threw an error"), "{e}");
    // A rejected promise too, and a thrown non-Error value.
    let t = task(
        "async function main() { await null; throw new TypeError('bad type'); }",
        &[],
    );
    let e = err(&t, json!({}));
    assert!(e.contains("TypeError: bad type"), "{e}");
    let t = task("function main() { throw 'plain string'; }", &[]);
    assert!(err(&t, json!({})).contains("plain string"));
    // A syntax error says so.
    let t = task("function main( { return 1 }", &[]);
    assert!(err(&t, json!({})).contains("SyntaxError"));
}

#[test]
fn console_goes_to_the_log_not_the_output() {
    let t = task(
        "function main(input) { console.log('seen', {a: 1}); console.error('warn'); return { ok: true }; }",
        &[],
    );
    let done = run_with(&t, json!({}), None).unwrap();
    assert_eq!(done.output, json!({"ok": true}));
    let log = String::from_utf8_lossy(&done.outcome.stderr);
    assert!(log.contains("seen {\"a\":1}"), "{log}");
    assert!(log.contains("warn"), "{log}");
}

#[test]
fn schemas_are_checked_for_input_and_output() {
    let input_schema =
        json!({"type": "object", "properties": {"a": {"type": "number"}}, "required": ["a"]});
    let output_schema =
        json!({"type": "object", "properties": {"r": {"type": "string"}}, "required": ["r"]});
    let t = task(
        "function main(input) { return input.a > 0 ? { r: 'pos' } : { r: 5 }; }",
        &[
            ("input.schema.json", input_schema),
            ("output.schema.json", output_schema),
        ],
    );
    assert_eq!(
        run_with(&t, json!({"a": 1}), None).unwrap().output,
        json!({"r": "pos"})
    );
    let e = err(&t, json!({"a": "x"}));
    assert!(
        e.contains("input does not match") && e.contains("/a"),
        "{e}"
    );
    let e = err(&t, json!({"a": -1}));
    assert!(e.contains("output.schema.json") && e.contains("/r"), "{e}");
}

#[test]
fn undefined_result_is_null_and_unserializable_output_fails() {
    assert_eq!(ok("function main() {}", json!({})), Value::Null);
    let t = task(
        "function main() { const a = {}; a.self = a; return a; }",
        &[],
    );
    assert!(err(&t, json!({})).contains("circular"));
}

fn with_network(t: &mut TaskDir, pattern: &str) {
    t.spec.permissions.network.domains = vec![DomainPattern::parse(pattern).unwrap()];
}

const FETCH_TASK: &str = r#"async function main(input) {
  const r = fetch(input.url, { method: 'GET', headers: { Accept: 'application/json' } });
  const viaJson = r.json();
  const text = (await fetch(input.url)).text();
  return { ok: r.ok, status: r.status, statusText: r.statusText, body: r.body, viaJson, text };
}"#;

#[test]
fn fetch_reaches_a_declared_loopback_server() {
    let port = http_server(4);
    let mut t = task(FETCH_TASK, &[]);
    with_network(&mut t, &format!("http://127.0.0.1:{port}"));
    let url = format!("http://127.0.0.1:{port}/ok");
    let done = run_with(&t, json!({ "url": url }), None).unwrap();
    assert_eq!(
        done.output,
        json!({"ok": true, "status": 200, "statusText": "OK", "body": {"hello": "world"},
               "viaJson": {"hello": "world"}, "text": "{\"hello\":\"world\"}"})
    );
    assert!(done.outcome.usage.network_bytes > 17);
}

#[test]
fn fetch_to_an_undeclared_domain_is_refused() {
    let port = http_server(1);
    let t = task(FETCH_TASK, &[]);
    let e = err(&t, json!({ "url": format!("http://127.0.0.1:{port}/ok") }));
    assert!(e.contains("not permitted"), "{e}");
    // Declared for another host: still refused.
    let mut t = task(FETCH_TASK, &[]);
    with_network(&mut t, "api.example.com");
    let e = err(&t, json!({ "url": format!("http://127.0.0.1:{port}/ok") }));
    assert!(e.contains("not permitted"), "{e}");
}

#[test]
fn mocked_fetch_answers_without_network_in_both_call_forms() {
    let src = r#"function main(input) {
  const a = fetch('https://api.example.com/v1/items?page=1', { method: 'POST', headers: {}, body: { q: 1 } });
  const b = fetch('https://api.example.com/v1/items', { method: 'POST' }, { legacy: true });
  return { status: a.status, ok: a.ok, body: a.body, legacy: b.body.items.length };
}"#;
    let mut t = task(src, &[]);
    with_network(&mut t, "api.example.com");
    let mock = HttpMock {
        url: "api.example.com/v1/items".into(),
        method: Some("POST".into()),
        response: json!({"ok": true, "status": 201, "statusText": "Created", "body": {"items": [1, 2]}}),
    };
    let done = run_with(&t, json!({}), Some(mock)).unwrap();
    assert_eq!(
        done.output,
        json!({"status": 201, "ok": true, "body": {"items": [1, 2]}, "legacy": 2})
    );
    assert_eq!(done.outcome.usage.network_bytes, 0);
}

#[test]
fn infinite_loop_is_stopped_by_the_cpu_limit() {
    let mut t = task("function main() { for (;;) {} }", &[]);
    t.spec.resources.max_cpu_time = Some(Millis(300));
    let e = err(&t, json!({}));
    assert!(e.contains("CPU time limit"), "{e}");
}

#[test]
fn allocation_bomb_is_stopped_by_the_memory_limit() {
    let src =
        "function main() { const a = []; for (;;) { a.push('x'.repeat(1 << 20) + a.length); } }";
    let mut t = task(src, &[]);
    t.spec.resources.max_memory = Some(ByteSize(32 << 20));
    let e = err(&t, json!({}));
    assert!(e.contains("memory limit (max_memory)"), "{e}");
    // metadata.json's memory_limit lowers the bundle's limit.
    let t = task(src, &[("metadata.json", json!({"memory_limit": "24MB"}))]);
    let e = err(&t, json!({}));
    assert!(
        e.contains("memory limit (max_memory)") && e.contains("25165824"),
        "{e}"
    );
}

#[test]
fn metadata_timeout_applies() {
    let t = task(
        "function main() { for (;;) {} }",
        &[("metadata.json", json!({"timeout": 1200}))],
    );
    let e = err(&t, json!({}));
    assert!(
        e.contains("CPU time limit") && e.contains("budget of 1200ms"),
        "{e}"
    );
    // Under 1000 it is probably seconds (Ratchet's heartbeat sample writes `30`): 1 → 1 s.
    let t = task(
        "function main() { for (;;) {} }",
        &[("metadata.json", json!({"timeout": 1}))],
    );
    let e = err(&t, json!({}));
    assert!(
        e.contains("CPU time limit") && e.contains("budget of 1s"),
        "{e}"
    );
}

#[test]
fn a_budget_is_not_shorter_than_it_names() {
    // 150 ms of real work (measured by the task itself) passes under a 1 s timeout, whatever
    // kind of code it is. (With a budget calibrated on ordinary compiled code, the engine's
    // interpreter would use up 1 s of budget in a fraction of that.)
    for body in [
        "let x = 0; while (Date.now() - t0 < 150) { x += 1; }",
        "const f = (n) => n < 2 ? n : f(n - 1) + f(n - 2); while (Date.now() - t0 < 150) f(15);",
        "while (Date.now() - t0 < 150) JSON.stringify(Array.from({length: 200}, (_, i) => 'k' + i));",
    ] {
        let src = format!(
            "function main() {{ const t0 = Date.now(); {body} return {{ms: Date.now() - t0}}; }}"
        );
        let t = task(&src, &[("metadata.json", json!({"timeout": 1000}))]);
        let done = run_with(&t, json!({}), None).unwrap_or_else(|e| panic!("{body}: {e}"));
        assert!(done.output["ms"].as_u64().unwrap() >= 150);
    }
}

#[test]
fn deep_recursion_ends_in_a_clean_error() {
    let t = task(
        "function main() { const f = (n) => f(n + 1) + 1; return f(0); }",
        &[],
    );
    let e = err(&t, json!({}));
    assert!(e.contains("stack overflow"), "{e}");
    // Recursion a few thousand calls deep is fine.
    let src =
        "function main(i) { const f = (n) => n ? f(n - 1) + 1 : 0; return { depth: f(i.n) }; }";
    assert_eq!(ok(src, json!({"n": 3000})), json!({"depth": 3000}));
}

#[test]
fn the_host_is_out_of_reach() {
    let src = r#"async function main() {
  const out = {};
  out.require = typeof require;
  out.process = typeof process;
  out.std = typeof std;
  out.os = typeof os;
  out.deno = typeof Deno;
  out.wasm = typeof WebAssembly;
  try { await import('std'); out.importStd = 'loaded'; } catch (e) { out.importStd = 'refused'; }
  try { await import('/etc/passwd'); out.importFile = 'loaded'; } catch (e) { out.importFile = 'refused'; }
  try { fetch('file:///etc/passwd'); out.fetchFile = 'loaded'; } catch (e) { out.fetchFile = 'refused'; }
  return out;
}"#;
    let out = ok(src, json!({}));
    assert_eq!(
        out,
        json!({"require": "undefined", "process": "undefined", "std": "undefined", "os": "undefined",
               "deno": "undefined", "wasm": "undefined", "importStd": "refused",
               "importFile": "refused", "fetchFile": "refused"})
    );
}

/// Every sample bundle's tests pass, except the yanked `com.partner.api-connectors 3.3.0`, whose
/// task genuinely lost its `status` field (the reason it was yanked).
#[test]
fn sample_bundles_pass_their_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-bundles");
    let mut ran = 0;
    for id in std::fs::read_dir(&root).unwrap() {
        for ver in std::fs::read_dir(id.unwrap().path()).unwrap() {
            let src = ver.unwrap().path();
            let copy = tempfile::tempdir().unwrap();
            copy_dir(&src, copy.path());
            let v = test_bundle(runtime(), copy.path(), &Policy::default()).unwrap();
            let yanked = src.ends_with("com.partner.api-connectors/3.3.0");
            for t in v.tests.iter().filter(|t| t.kind == "task-test") {
                ran += 1;
                let want = if yanked {
                    Verdict::Failed
                } else {
                    Verdict::Passed
                };
                assert_eq!(
                    t.result,
                    want,
                    "{} {}: {:?}",
                    src.display(),
                    t.name,
                    t.message
                );
            }
        }
    }
    assert!(ran >= 25, "only {ran} sample tests ran");
}

/// `ratchet bundle init` makes a JavaScript task whose tests pass as generated.
#[test]
fn a_new_bundle_passes_its_tests() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("fresh");
    ratchet_validate::scaffold::init_bundle(&dir, Some("com.example.fresh")).unwrap();
    let v = test_bundle(runtime(), &dir, &Policy::default()).unwrap();
    let tests: Vec<_> = v.tests.iter().filter(|t| t.kind == "task-test").collect();
    assert!(!tests.is_empty());
    for t in &tests {
        assert_eq!(t.result, Verdict::Passed, "{}: {:?}", t.name, t.message);
    }
    assert!(v.passed);
}

#[test]
fn mocked_responses_reach_the_task_as_written() {
    let src = "function main() { const r = fetch('https://api.example.com/x'); return { ok: r.ok, status: r.status, body: r.body }; }";
    let mut t = task(src, &[]);
    with_network(&mut t, "api.example.com");
    for (response, expected) in [
        // `ok` as the mock says, even when the status alone would say otherwise.
        (
            json!({"ok": false, "status": 200, "body": {"error": "quota"}}),
            json!({"ok": false, "status": 200, "body": {"error": "quota"}}),
        ),
        // A string body stays a string (it is not re-parsed as JSON).
        (
            json!({"status": 200, "body": "123"}),
            json!({"ok": true, "status": 200, "body": "123"}),
        ),
        (
            json!({"status": 404}),
            json!({"ok": false, "status": 404, "body": ""}),
        ),
    ] {
        let mock = HttpMock {
            url: "api.example.com/x".into(),
            method: None,
            response: response.clone(),
        };
        let done = run_with(&t, json!({}), Some(mock)).unwrap();
        assert_eq!(done.output, expected, "{response}");
    }
}

#[test]
fn load_errors_say_what_is_wrong() {
    // The top level threw: that error is reported, not a syntax error of a retry.
    let t = task(
        "const cfg = JSON.parse('{bad'); function main(i) { return 1; }",
        &[],
    );
    let e = err(&t, json!({}));
    assert!(
        e.contains("in JSON at position 1") && !e.contains("'const'"),
        "{e}"
    );
    // The script ran and defined no function.
    let t = task("const x = 1;", &[]);
    let e = err(&t, json!({}));
    assert!(e.contains("does not define a task function"), "{e}");
    // A real syntax error is reported as one.
    let t = task("function main(i) { return i +; }", &[]);
    let e = err(&t, json!({}));
    assert!(e.contains("SyntaxError"), "{e}");
}

#[test]
fn thrown_values_are_reported_by_their_message() {
    let t = task(
        "function main() { throw { message: 'obj msg', code: 7 }; }",
        &[],
    );
    let e = err(&t, json!({}));
    assert!(e.contains("obj msg"), "{e}");
    // A task's own "out of memory" error is its error, not the memory limit.
    let t = task("function main() { throw new Error('out of memory'); }", &[]);
    let e = err(&t, json!({}));
    assert!(
        e.contains("Error: out of memory") && !e.contains("max_memory"),
        "{e}"
    );
}
