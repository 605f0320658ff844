//! Client-side enterprise policy with the real `ratchet` binary and a real registry: installs
//! refuse what a registry's or the client's policy forbids (naming the rule and the dependency
//! path) and unapproved versions (naming who must approve what; a forged approval does not
//! count); `ratchet policy check` over a lockfile; the client's audit log.

mod common;

use common::ratchet_env;
use ratchet_testkit::{Bundle, TestRegistry};
use ratchet_trust::approve::{self, ApprovalFields};
use ratchet_trust::keys::SecretKey;
use std::path::Path;
use std::process::Output;

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

fn rt(home: &Path, args: &[&str]) -> Output {
    ratchet_env(home, args, &[("RATCHET_AUDIT_ACTOR", "dev-bob")])
}

fn installed(home: &Path) -> serde_json::Value {
    match std::fs::read(home.join("data/installed.json")) {
        Ok(b) => serde_json::from_slice(&b).unwrap(),
        Err(_) => serde_json::json!({}),
    }
}

fn approval(id: &str, sha: &str, scope: &str, role: &str, key: &SecretKey) -> approve::Approval {
    approve::approve(
        &ApprovalFields {
            id: id.into(),
            version: "1.0.0".into(),
            sha256: sha.into(),
            scope: scope.into(),
            role: role.into(),
            date: "2026-12-04T00:00:00Z".into(),
        },
        key,
    )
    .unwrap()
}

#[test]
fn installs_follow_registry_and_client_policies() {
    let t = tempfile::tempdir().unwrap();
    let mut tr = TestRegistry::new(t.path());
    let kdir = t.path().join("keys");
    let author = ratchet_testkit::secret_key(&kdir, "author");
    let sec = ratchet_testkit::secret_key(&kdir, "sec");
    let outsider = ratchet_testkit::secret_key(&kdir, "outsider");
    Bundle::new("com.test.lib", "1.0.0").publish_signed(&tr, &author);
    let app = Bundle::new("com.test.app", "1.0.0")
        .dep("com.test.lib", "^1.0")
        .publish_signed(&tr, &author);
    Bundle::new("com.unknown.evil", "1.0.0").publish_signed(&tr, &author);
    Bundle::new("com.test.app2", "1.0.0")
        .dep("com.unknown.evil", "^1.0")
        .publish_signed(&tr, &author);
    let reg = tr.dir().to_str().unwrap().to_string();
    let home = t.path().join("home");
    std::fs::create_dir_all(home.join("config")).unwrap();

    // The client's policy: forbidden dependency, found deep in the graph, named with its path.
    std::fs::write(
        home.join("config/policy.yaml"),
        "enterprise:\n  compliance:\n    forbidden_dependencies: [\"com.unknown.*\"]\n  audit_log:\n    enabled: true\n    retention_days: 30\n",
    )
    .unwrap();
    let o = rt(
        &home,
        &[
            "bundle",
            "install",
            "com.test.app2",
            "--registry",
            &reg,
            "--yes",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("compliance.forbidden_dependencies: com.unknown.*"),
        "{out}"
    );
    assert!(
        out.contains("com.test.app2 1.0.0 -> com.unknown.evil 1.0.0"),
        "{out}"
    );
    assert_eq!(
        installed(&home)["bundles"],
        serde_json::Value::Null,
        "nothing installed"
    );

    // The registry's policy requires a security_team approval of security_scan.
    tr.reg
        .set_policy(
            "enterprise:\n  approval_workflow:\n    enabled: true\n    approvers:\n      - role: security_team\n        for: [security_scan]\n",
            "policy.yaml",
        )
        .unwrap();
    tr.reg
        .add_approver("security_team", "Sec", sec.public())
        .unwrap();
    // Missing: refused, saying who must approve what, for the app and its dependency.
    let o = rt(
        &home,
        &[
            "bundle",
            "install",
            "com.test.app",
            "--registry",
            &reg,
            "--yes",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("com.test.app 1.0.0 (approval_workflow: security_team for security_scan): not approved for security_scan: an approver of role `security_team` must approve it"),
        "{out}"
    );
    assert!(
        out.contains("[path: com.test.app 1.0.0 -> com.test.lib 1.0.0]"),
        "{out}"
    );
    // Forged (signed by an outsider, written straight into the metadata file): still refused.
    let lib_sha = {
        let (f, _) = tr
            .reg
            .index_file(&ratchet_formats::manifest::BundleId::parse("com.test.lib").unwrap())
            .unwrap()
            .unwrap();
        f.versions().next().unwrap().sha256.clone()
    };
    for (id, sha) in [
        ("com.test.app", app.sha256.as_str()),
        ("com.test.lib", lib_sha.as_str()),
    ] {
        let rel = ratchet_formats::index::meta_path(
            &ratchet_formats::manifest::BundleId::parse(id).unwrap(),
        );
        let path = tr.dir().join(&rel);
        let mut meta = ratchet_formats::index::BundleMeta::load(&path)
            .unwrap()
            .unwrap();
        approve::store(
            &mut meta,
            &[approval(
                id,
                sha,
                "security_scan",
                "security_team",
                &outsider,
            )],
        );
        std::fs::write(&path, meta.to_json()).unwrap();
    }
    let o = rt(
        &home,
        &[
            "bundle",
            "install",
            "com.test.app",
            "--registry",
            &reg,
            "--yes",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("not approved for security_scan"),
        "{}",
        text(&o)
    );
    // Present: installs.
    for (id, sha) in [
        ("com.test.app", app.sha256.as_str()),
        ("com.test.lib", lib_sha.as_str()),
    ] {
        tr.reg
            .add_approval(approval(id, sha, "security_scan", "security_team", &sec))
            .unwrap();
    }
    let o = rt(
        &home,
        &[
            "bundle",
            "install",
            "com.test.app",
            "--registry",
            &reg,
            "--yes",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        installed(&home)["bundles"]["com.test.app"]["version"],
        "1.0.0"
    );

    // `policy check` over the lockfile: passes now...
    let o = rt(&home, &["policy", "check", "--format", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["checked"], 2);
    // ...and fails, with the rule and path, once the client forbids the dependency.
    std::fs::write(
        home.join("config/policy.yaml"),
        "enterprise:\n  compliance:\n    forbidden_dependencies: [\"com.test.l*\"]\n    required_licenses: [Apache-2.0]\n  audit_log:\n    enabled: true\n",
    )
    .unwrap();
    let lockfile = home.join("data/ratchet.lock");
    let o = rt(
        &home,
        &[
            "policy",
            "check",
            "--lockfile",
            lockfile.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rules: Vec<&str> = v["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["license", "license", "forbidden-dependency"], "{v}");
    assert_eq!(
        v["violations"][2]["path"],
        serde_json::json!(["com.test.app 1.0.0", "com.test.lib 1.0.0"])
    );
    let o = rt(
        &home,
        &["policy", "check", "--lockfile", "/nonexistent/ratchet.lock"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));

    // The client's audit log: the install (two bundles), a run and a removal, chained.
    let o = rt(
        &home,
        &[
            "run",
            "com.test.app/addition",
            "--input",
            "{\"num1\": 2, \"num2\": 3}",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = rt(&home, &["bundle", "remove", "com.test.app"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = rt(&home, &["audit", "verify", "--format", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verified"]["entries"], 5, "{v}");
    let log = std::fs::read_to_string(home.join("data/audit.jsonl")).unwrap();
    let actions: Vec<String> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|e| {
            format!(
                "{} {}",
                e["action"].as_str().unwrap(),
                e["id"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            "install com.test.lib",
            "install com.test.app",
            "run com.test.app",
            "remove com.test.app",
            "remove com.test.lib"
        ]
    );
    assert!(log.contains("\"actor\":\"dev-bob\""));
    assert!(
        log.contains("\"task\":\"com.test.app/addition\",\"ok\":true"),
        "{log}"
    );
    // A deleted line is detected.
    let lines: Vec<&str> = log.lines().collect();
    let cut = [lines[0], lines[2], lines[3]].join("\n") + "\n";
    std::fs::write(home.join("data/audit.jsonl"), cut).unwrap();
    let o = rt(&home, &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains(":2: entry number 2 follows entry 0"),
        "{}",
        text(&o)
    );
}
