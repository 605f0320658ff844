//! One test per rule kind, passing and failing, over small graphs.

use super::*;
use ratchet_formats::manifest::{ByteSize, DomainPattern};

/// The plan's `enterprise:` block, exactly as written in the product plan.
const PLAN_BLOCK: &str = r#"enterprise:
  private_registry:
    url: "https://registry.company.com"
    auth_method: "saml"
    
  approval_workflow:
    enabled: true
    approvers:
      - role: "security_team"
        for: ["security_scan"]
      - role: "architecture_team"
        for: ["dependencies", "compatibility"]
        
  compliance:
    required_licenses: ["MIT", "Apache-2.0", "COMPANY-APPROVED"]
    forbidden_dependencies: ["com.unknown.*"]
    security_policy: "enterprise-strict"
    
  audit_log:
    enabled: true
    retention_days: 365
    export_format: "siem"
"#;

fn node(id: &str, license: &str, deps: &[&str]) -> Node {
    Node {
        id: id.into(),
        version: semver::Version::new(1, 0, 0),
        sha256: "ab".repeat(32),
        license: license.into(),
        dependencies: deps.iter().map(|d| d.to_string()).collect(),
        signed: true,
        verification: Verification::Official,
        approvals: Vec::new(),
        permissions: Permissions::default(),
        resources: Resources::default(),
    }
}

fn graph(nodes: Vec<Node>, roots: &[&str]) -> Graph {
    Graph {
        nodes: nodes.into_iter().map(|n| (n.id.clone(), n)).collect(),
        roots: roots.iter().map(|r| r.to_string()).collect(),
    }
}

fn policy(yaml: &str) -> Policy {
    Policy::parse_yaml(yaml, "test policy").unwrap_or_else(|e| panic!("{e}"))
}

fn rules(v: &[Violation]) -> Vec<Rule> {
    v.iter().map(|v| v.rule).collect()
}

#[test]
fn the_plans_block_parses_as_written() {
    let p = policy(PLAN_BLOCK);
    assert_eq!(p.preset(), Preset::EnterpriseStrict);
    assert_eq!(p.minimum_verification(), Verification::Official);
    assert!(p.audit_enabled());
    let need = p.required_approvals();
    assert_eq!(need.len(), 3);
    assert!(need.contains(&GrantedApproval {
        scope: "compatibility".into(),
        role: "architecture_team".into()
    }));
    assert_eq!(
        p.enterprise
            .private_registry
            .as_ref()
            .unwrap()
            .auth_method
            .as_deref(),
        Some("saml")
    );
}

#[test]
fn bad_policies_say_what_and_where() {
    let e = Policy::parse_yaml(
        "enterprise:\n  compliance:\n    forbiden_dependencies: [x]\n",
        "p.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("p.yaml") && e.contains("forbiden_dependencies"),
        "{e}"
    );
    let e = Policy::parse_yaml(
        "enterprise:\n  compliance:\n    security_policy: ultra\n",
        "p.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("compliance.security_policy") && e.contains("ultra"),
        "{e}"
    );
    let e = Policy::parse_yaml(
        "enterprise:\n  compliance:\n    required_licenses: [\"MIT OR GPL-3.0-only\"]\n",
        "p.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("required_licenses[0]"), "{e}");
    let e = Policy::parse_yaml(
        "enterprise:\n  compliance:\n    forbidden_dependencies: [\"Com/x\"]\n",
        "p.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("forbidden_dependencies[0]"), "{e}");
    assert!(Policy::parse_yaml("enterprise: [", "p.yaml").is_err());
    assert!(Policy::parse_yaml("other: 1\n", "p.yaml").is_err());
}

#[test]
fn licenses_are_spdx_expressions() {
    let p = policy(
        "enterprise:\n  compliance:\n    required_licenses: [MIT, Apache-2.0, COMPANY-APPROVED]\n",
    );
    // Passing: one allowed branch of an OR is enough; custom ids via LicenseRef-.
    for ok in [
        "MIT",
        "Apache-2.0",
        "MIT OR GPL-3.0-only",
        "(GPL-3.0-only OR Apache-2.0) AND MIT",
        "LicenseRef-COMPANY-APPROVED",
        "COMPANY-APPROVED",
    ] {
        assert!(p.license_allowed(ok), "{ok} should pass");
    }
    // Failing: an AND needs both, an OR with no allowed branch, PROPRIETARY when not listed.
    for bad in [
        "GPL-3.0-only",
        "MIT AND GPL-3.0-only",
        "GPL-3.0-only OR BSD-3-Clause",
        "PROPRIETARY",
        "LicenseRef-OTHER",
    ] {
        assert!(!p.license_allowed(bad), "{bad} should fail");
    }
    let prop = policy("enterprise:\n  compliance:\n    required_licenses: [PROPRIETARY]\n");
    assert!(prop.license_allowed("PROPRIETARY"));
    assert!(!prop.license_allowed("MIT"));
    // Through evaluate: the violation names the rule and the bundle.
    let g = graph(
        vec![
            node("com.a.app", "MIT", &["com.b.lib"]),
            node("com.b.lib", "GPL-3.0-only", &[]),
        ],
        &["com.a.app"],
    );
    let v = evaluate(&[&p], &g, Stage::Install);
    assert_eq!(rules(&v), vec![Rule::License]);
    assert_eq!(v[0].bundle, "com.b.lib 1.0.0");
    assert_eq!(v[0].path, vec!["com.a.app 1.0.0", "com.b.lib 1.0.0"]);
}

#[test]
fn forbidden_dependencies_name_the_path() {
    let p = policy("enterprise:\n  compliance:\n    forbidden_dependencies: [\"com.unknown.*\"]\n");
    let clean = graph(
        vec![
            node("com.a.app", "MIT", &["com.b.lib"]),
            node("com.b.lib", "MIT", &[]),
        ],
        &["com.a.app"],
    );
    assert!(evaluate(&[&p], &clean, Stage::Install).is_empty());
    let dirty = graph(
        vec![
            node("com.a.app", "MIT", &["com.b.lib"]),
            node("com.b.lib", "MIT", &["com.unknown.tool"]),
            node("com.unknown.tool", "MIT", &[]),
        ],
        &["com.a.app"],
    );
    let v = evaluate(&[&p], &dirty, Stage::Install);
    assert_eq!(rules(&v), vec![Rule::ForbiddenDependency]);
    assert_eq!(
        v[0].path,
        vec![
            "com.a.app 1.0.0",
            "com.b.lib 1.0.0",
            "com.unknown.tool 1.0.0"
        ]
    );
    let text = v[0].to_string();
    assert!(
        text.contains("com.a.app 1.0.0 -> com.b.lib 1.0.0 -> com.unknown.tool 1.0.0"),
        "{text}"
    );
    assert!(id_matches("com.unknown.*", "com.unknown.a.b"));
    assert!(!id_matches("com.unknown.*", "com.unknownx.a"));
    assert!(id_matches("com.?.x", "com.a.x"));
    assert!(!id_matches("com.?.x", "com.ab.x"));
    assert!(id_matches("*", "anything"));
}

#[test]
fn minimum_verification() {
    let p = policy("enterprise:\n  compliance:\n    minimum_verification: community\n");
    let mut n = node("com.a.app", "MIT", &[]);
    n.verification = Verification::Community;
    assert!(
        evaluate(
            &[&p],
            &graph(vec![n.clone()], &["com.a.app"]),
            Stage::Install
        )
        .is_empty()
    );
    n.verification = Verification::Unverified;
    let g = graph(vec![n], &["com.a.app"]);
    assert_eq!(
        rules(&evaluate(&[&p], &g, Stage::Install)),
        vec![Rule::MinimumVerification]
    );
    // Not checked at publish: attestations come after.
    assert!(evaluate(&[&p], &g, Stage::Publish).is_empty());
}

#[test]
fn approvals_required_by_role() {
    let p = policy(
        "enterprise:\n  approval_workflow:\n    enabled: true\n    approvers:\n      - role: security_team\n        for: [security_scan]\n      - role: architecture_team\n        for: [dependencies]\n",
    );
    let mut n = node("com.a.app", "MIT", &[]);
    let v = evaluate(
        &[&p],
        &graph(vec![n.clone()], &["com.a.app"]),
        Stage::Install,
    );
    assert_eq!(rules(&v), vec![Rule::Approval, Rule::Approval]);
    assert!(v[0].message.contains("security_team") && v[0].message.contains("security_scan"));
    n.approvals = vec![GrantedApproval {
        scope: "security_scan".into(),
        role: "security_team".into(),
    }];
    let v = evaluate(
        &[&p],
        &graph(vec![n.clone()], &["com.a.app"]),
        Stage::Install,
    );
    assert_eq!(v.len(), 1);
    assert!(v[0].message.contains("architecture_team"));
    n.approvals.push(GrantedApproval {
        scope: "dependencies".into(),
        role: "architecture_team".into(),
    });
    assert!(evaluate(&[&p], &graph(vec![n], &["com.a.app"]), Stage::Install).is_empty());
    // Disabled: nothing required.
    let off = policy(
        "enterprise:\n  approval_workflow:\n    enabled: false\n    approvers:\n      - role: x\n        for: [y]\n",
    );
    assert!(off.required_approvals().is_empty());
}

#[test]
fn standard_preset_requires_signatures() {
    let p = policy("enterprise:\n  compliance:\n    security_policy: standard\n");
    let mut n = node("com.a.app", "MIT", &[]);
    assert!(
        evaluate(
            &[&p],
            &graph(vec![n.clone()], &["com.a.app"]),
            Stage::Publish
        )
        .is_empty()
    );
    n.signed = false;
    let v = evaluate(&[&p], &graph(vec![n], &["com.a.app"]), Stage::Publish);
    assert_eq!(rules(&v), vec![Rule::Signature]);
}

#[test]
fn enterprise_strict_preset() {
    let p = policy("enterprise:\n  compliance:\n    security_policy: enterprise-strict\n");
    let mut n = node("com.a.app", "MIT", &[]);
    n.permissions.network.domains = vec![DomainPattern::parse("api.example.com").unwrap()];
    n.resources.max_memory = Some(ByteSize(512 * 1024 * 1024));
    assert!(
        evaluate(
            &[&p],
            &graph(vec![n.clone()], &["com.a.app"]),
            Stage::Install
        )
        .is_empty()
    );
    let mut bad = n.clone();
    bad.permissions.network.domains = vec![DomainPattern::parse("*.example.com").unwrap()];
    bad.permissions.commands = vec!["curl".into()];
    bad.resources.max_memory = Some(ByteSize(8 * 1024 * 1024 * 1024));
    bad.verification = Verification::Community;
    let v = evaluate(&[&p], &graph(vec![bad], &["com.a.app"]), Stage::Install);
    assert_eq!(
        rules(&v),
        vec![
            Rule::SecurityPolicy,
            Rule::SecurityPolicy,
            Rule::SecurityPolicy,
            Rule::MinimumVerification
        ],
        "{v:#?}"
    );
}

#[test]
fn registry_policy_from_config_json() {
    let mut c = RegistryConfig::new("corp", ratchet_formats::index::RegistryKind::Private);
    assert!(Policy::from_config(&c, "registry corp").unwrap().is_none());
    c.policies.insert(
        CONFIG_KEY.into(),
        serde_json::json!({"compliance": {"forbidden_dependencies": ["com.unknown.*"]}}),
    );
    let p = Policy::from_config(&c, "registry corp").unwrap().unwrap();
    let g = graph(vec![node("com.unknown.x", "MIT", &[])], &["com.unknown.x"]);
    let v = evaluate(&[&p], &g, Stage::Publish);
    assert_eq!(v[0].policy, "registry corp");
    c.policies
        .insert(CONFIG_KEY.into(), serde_json::json!({"compliance": 3}));
    let e = Policy::from_config(&c, "registry corp")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("policies.enterprise") && e.contains("compliance"),
        "{e}"
    );
}

#[test]
fn both_policies_apply() {
    let a = policy("enterprise:\n  compliance:\n    required_licenses: [MIT]\n");
    let b = Policy::parse_yaml(
        "enterprise:\n  compliance:\n    forbidden_dependencies: [com.a.*]\n",
        "registry corp",
    )
    .unwrap();
    let g = graph(vec![node("com.a.app", "GPL-3.0-only", &[])], &["com.a.app"]);
    let v = evaluate(&[&a, &b], &g, Stage::Install);
    assert_eq!(rules(&v), vec![Rule::License, Rule::ForbiddenDependency]);
    assert_eq!(v[1].policy, "registry corp");
}

#[test]
fn load_bounds_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("policy.yaml");
    std::fs::write(&f, PLAN_BLOCK).unwrap();
    assert!(Policy::load(&f).is_ok());
    std::fs::write(&f, "#".repeat(MAX_POLICY_LEN as usize + 1)).unwrap();
    assert!(matches!(
        Policy::load(&f),
        Err(PolicyError::TooLarge { .. })
    ));
    assert!(matches!(
        Policy::load(&dir.path().join("none.yaml")),
        Err(PolicyError::Io { .. })
    ));
}
