//! Policy evaluation over a 1,000-bundle graph (issue 20's goal: evaluation must not be what
//! makes an install slow). Prints figures; asserts nothing about time.

use ratchet_policy::{GrantedApproval, Graph, Node, Policy, Stage, Verification, evaluate};
use std::time::Instant;

const POLICY: &str = r#"enterprise:
  approval_workflow:
    enabled: true
    approvers:
      - role: "security_team"
        for: ["security_scan"]
      - role: "architecture_team"
        for: ["dependencies", "compatibility"]
  compliance:
    required_licenses: ["MIT", "Apache-2.0", "COMPANY-APPROVED"]
    forbidden_dependencies: ["com.unknown.*", "org.bad.*", "net.*.evil"]
    security_policy: "enterprise-strict"
"#;

fn main() {
    let p = Policy::parse_yaml(POLICY, "bench").expect("policy");
    let n = 1000;
    let licenses = [
        "MIT",
        "Apache-2.0 OR MIT",
        "MIT AND Apache-2.0",
        "GPL-3.0-only OR MIT",
    ];
    let mut g = Graph::default();
    for i in 0..n {
        let id = format!("com.bench.b{i:04}");
        // Each bundle depends on up to 3 later ones: a layered DAG with long paths.
        let deps = (1..=3)
            .map(|k| i + k * 7)
            .filter(|&j| j < n)
            .map(|j| format!("com.bench.b{j:04}"))
            .collect();
        g.nodes.insert(
            id.clone(),
            Node {
                id,
                version: semver::Version::new(1, (i % 10) as u64, 0),
                sha256: "ab".repeat(32),
                license: licenses[i % licenses.len()].to_string(),
                dependencies: deps,
                signed: true,
                verification: Verification::Official,
                approvals: Vec::new(),
                permissions: Default::default(),
                resources: Default::default(),
            },
        );
    }
    g.roots = (0..10).map(|i| format!("com.bench.b{i:04}")).collect();
    let run = |what: &str, g: &Graph| {
        // Warm up, then time.
        let v = evaluate(&[&p], g, Stage::Install);
        let rounds = 20;
        let t = Instant::now();
        let mut count = 0;
        for _ in 0..rounds {
            count += evaluate(&[&p], g, Stage::Install).len();
        }
        let per = t.elapsed() / rounds;
        println!(
            "policy evaluation, {n}-bundle graph, plan's block (3 approvals, 3 patterns, enterprise-strict), {what}: {:.2} ms per evaluation ({} violations; goal: small next to an install's network time, < 50 ms)",
            per.as_secs_f64() * 1000.0,
            v.len()
        );
        assert_eq!(count, v.len() * rounds as usize);
    };
    run("every bundle unapproved", &g);
    let all = [
        ("security_scan", "security_team"),
        ("dependencies", "architecture_team"),
        ("compatibility", "architecture_team"),
    ];
    for node in g.nodes.values_mut() {
        node.approvals = all
            .iter()
            .map(|(s, r)| GrantedApproval {
                scope: s.to_string(),
                role: r.to_string(),
            })
            .collect();
    }
    run("every bundle compliant", &g);
}
