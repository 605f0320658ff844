//! `ratchet-index` with an enterprise policy: publish refuses per rule (nothing written),
//! approvals by role (missing, present, forged), and the registry's audit log (verify detects
//! an edit; exports in the SIEM formats).

mod common;

use common::*;
use ratchet_trust::keys::{self, SecretKey};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ri(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ratchet-index"))
        .args(args)
        .env("RATCHET_AUDIT_ACTOR", "ops-alice")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

const POLICY: &str = r#"enterprise:
  approval_workflow:
    enabled: true
    approvers:
      - role: "security_team"
        for: ["security_scan"]
      - role: "architecture_team"
        for: ["dependencies"]
  compliance:
    required_licenses: ["MIT", "Apache-2.0", "COMPANY-APPROVED"]
    forbidden_dependencies: ["com.unknown.*"]
    security_policy: "standard"
  audit_log:
    enabled: true
    retention_days: 365
    export_format: "siem"
"#;

fn build(work: &Path, b: Bundle, key: Option<&SecretKey>) -> PathBuf {
    let w = work.join(format!("w{}", rand_suffix()));
    std::fs::create_dir_all(&w).unwrap();
    match key {
        Some(k) => b.build_signed(&w, k),
        None => b.build(&w),
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn license(to: &'static str) -> impl FnOnce(&Path) + 'static {
    move |dir: &Path| {
        let y = dir.join("bundle.yaml");
        let t = std::fs::read_to_string(&y).unwrap();
        std::fs::write(
            &y,
            t.replace("license: \"MIT\"", &format!("license: \"{to}\"")),
        )
        .unwrap();
    }
}

#[test]
fn policy_approvals_and_audit_through_the_cli() {
    let t = tempfile::tempdir().unwrap();
    let tr = TestRegistry::new(t.path());
    let dir = s(&tr.dir());
    let kdir = t.path().join("keys");
    let author = keys::generate(&kdir, "author", None).unwrap();
    let sec = keys::generate(&kdir, "sec", None).unwrap();
    let arch = keys::generate(&kdir, "arch", None).unwrap();
    let outsider = keys::generate(&kdir, "outsider", None).unwrap();
    let ak = SecretKey::load(&author.secret).unwrap();
    let pol = t.path().join("policy.yaml");
    std::fs::write(&pol, POLICY).unwrap();

    // A policy with a misspelt rule is refused, naming the field.
    let bad = t.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "enterprise:\n  compliance:\n    forbiden_dependencies: [x]\n",
    )
    .unwrap();
    let o = ri(&["policy", "set", &dir, &s(&bad)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("forbiden_dependencies"), "{}", text(&o));

    let o = ri(&["policy", "set", &dir, &s(&pol)]);
    assert!(o.status.success(), "{}", text(&o));
    let o = ri(&["policy", "show", &dir, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["policy"]["compliance"]["security_policy"], "standard");

    // Refusals, one per rule kind that applies at publish; nothing is written.
    let before = snapshot(&tr.dir());
    let gpl = build(
        t.path(),
        Bundle::new("com.test.gpl", "1.0.0").edit(license("GPL-3.0-only")),
        Some(&ak),
    );
    let o = ri(&["publish", &dir, &s(&gpl), "--owner-key", &s(&author.public)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("compliance.required_licenses"),
        "{}",
        text(&o)
    );
    let unknown = build(
        t.path(),
        Bundle::new("com.unknown.tool", "1.0.0"),
        Some(&ak),
    );
    let o = ri(&[
        "publish",
        &dir,
        &s(&unknown),
        "--owner-key",
        &s(&author.public),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("com.unknown.*"), "{}", text(&o));
    let unsigned = build(t.path(), Bundle::new("com.test.unsigned", "1.0.0"), None);
    let o = ri(&["publish", &dir, &s(&unsigned)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("not signed"), "{}", text(&o));
    assert_eq!(
        before,
        snapshot(&tr.dir()),
        "a refused publish writes nothing"
    );

    // Passing: an allowed license expression (one branch allowed) and a custom id.
    let ok = build(
        t.path(),
        Bundle::new("com.test.app", "1.0.0").edit(license("GPL-3.0-only OR Apache-2.0")),
        Some(&ak),
    );
    let o = ri(&["publish", &dir, &s(&ok), "--owner-key", &s(&author.public)]);
    assert!(o.status.success(), "{}", text(&o));
    let custom = build(
        t.path(),
        Bundle::new("com.test.custom", "1.0.0").edit(license("LicenseRef-COMPANY-APPROVED")),
        Some(&ak),
    );
    let o = ri(&[
        "publish",
        &dir,
        &s(&custom),
        "--owner-key",
        &s(&author.public),
    ]);
    assert!(o.status.success(), "{}", text(&o));

    // Approvals: missing...
    let o = ri(&[
        "approvals",
        &dir,
        "com.test.app",
        "--pending",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["approvals"][0]["missing"].as_array().unwrap().len(),
        2,
        "{v}"
    );
    for (role, k) in [("security_team", &sec), ("architecture_team", &arch)] {
        let o = ri(&[
            "approver",
            "add",
            &dir,
            "--role",
            role,
            "--name",
            role,
            "--key",
            &s(&k.public),
        ]);
        assert!(o.status.success(), "{}", text(&o));
    }
    // ...forged (an outsider's key, or an approver of another role), refused...
    let before = snapshot(&tr.dir());
    let approve = |key: &Path, scope: &str, role: &str| {
        ri(&[
            "approve",
            &dir,
            "com.test.app",
            "1.0.0",
            "--scope",
            scope,
            "--role",
            role,
            "--key",
            &s(key),
        ])
    };
    let o = approve(&outsider.secret, "security_scan", "security_team");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("approval refused"), "{}", text(&o));
    let o = approve(&arch.secret, "security_scan", "security_team");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        snapshot(&tr.dir()).keys().collect::<Vec<_>>()
    );
    // ...present.
    let o = approve(&sec.secret, "security_scan", "security_team");
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("approved for security_scan as security_team"),
        "{}",
        text(&o)
    );
    let o = ri(&["approvals", &dir, "--pending"]);
    let out = text(&o);
    assert!(
        out.contains("com.test.app 1.0.0")
            && out.contains("missing: dependencies (role architecture_team)"),
        "{out}"
    );
    let o = approve(&arch.secret, "dependencies", "architecture_team");
    assert!(o.status.success(), "{}", text(&o));
    let o = ri(&[
        "approvals",
        &dir,
        "com.test.app",
        "--pending",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["approvals"].as_array().unwrap().len(), 0, "{v}");
    let o = ri(&["yank", &dir, "com.test.custom", "1.0.0"]);
    assert!(o.status.success(), "{}", text(&o));

    // The audit log: every change above, chained; exports; an edit is detected.
    let o = ri(&["audit", "verify", &dir, "--format", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // policy, 2 publishes, 2 approver-add, 2 approvals, 1 yank.
    assert_eq!(v["verified"]["entries"], 8, "{v}");
    let log = tr.dir().join(ratchet_publish::AUDIT_FILE);
    let lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let actions: Vec<String> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        actions,
        [
            "policy",
            "publish",
            "publish",
            "approver-add",
            "approver-add",
            "approve",
            "approve",
            "yank"
        ]
    );
    assert!(lines[1].contains("\"actor\":\"ops-alice\""), "{}", lines[1]);
    let o = ri(&["audit", "export", &dir]); // policy's export_format: siem = CEF
    assert!(o.status.success(), "{}", text(&o));
    let cef = String::from_utf8(o.stdout).unwrap();
    assert_eq!(cef.lines().count(), 8);
    assert!(
        cef.lines()
            .all(|l| l.starts_with("CEF:0|Ratchet|ratchet-registry|")),
        "{cef}"
    );
    let o = ri(&[
        "audit",
        "export",
        &dir,
        "--to",
        "syslog",
        "--hostname",
        "reg1",
    ]);
    let sys = String::from_utf8(o.stdout).unwrap();
    assert!(sys.lines().nth(5).unwrap().starts_with("<110>1 "), "{sys}");
    assert!(
        sys.contains(" reg1 ratchet-index - approve [ratchet@32473 "),
        "{sys}"
    );
    let o = ri(&["audit", "export", &dir, "--to", "xml"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    let mut edited = lines.clone();
    edited[5] = edited[5].replace("ops-alice", "ops-mallory");
    std::fs::write(&log, edited.join("\n") + "\n").unwrap();
    let o = ri(&["audit", "verify", &dir]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains(":6: the line was edited"), "{}", text(&o));
}
