//! The registry's policy at publish: a forbidden id anywhere in the dependency graph (resolved
//! to the newest matching versions) refuses the archive with its path, and nothing is written;
//! a registry without a policy, or an archive within it, publishes as before.

use ratchet_publish::PublishError;
use ratchet_testkit::{Bundle, TIME, TestRegistry};

#[test]
fn a_forbidden_id_deep_in_the_graph_refuses_the_publish() {
    let t = tempfile::tempdir().unwrap();
    let mut tr = TestRegistry::new(t.path());
    // Published before the policy existed.
    Bundle::new("com.unknown.evil", "1.0.0").publish(&tr);
    Bundle::new("com.test.mid", "1.0.0")
        .dep("com.unknown.evil", "^1")
        .publish(&tr);
    tr.reg
        .set_policy(
            "enterprise:\n  compliance:\n    forbidden_dependencies: [\"com.unknown.*\"]\n",
            "policy.yaml",
        )
        .unwrap();
    let before = tr.snapshot();
    let w = t.path().join("w");
    std::fs::create_dir_all(&w).unwrap();
    let top = Bundle::new("com.test.top", "1.0.0")
        .dep("com.test.mid", "^1")
        .build(&w);
    match tr.reg.publish(&top, TIME) {
        Err(PublishError::PolicyRefused { violations, .. }) => {
            assert_eq!(violations.len(), 1, "{violations:?}");
            assert_eq!(
                violations[0].path,
                [
                    "com.test.top 1.0.0",
                    "com.test.mid 1.0.0",
                    "com.unknown.evil 1.0.0"
                ]
            );
        }
        other => panic!("expected a policy refusal, got {other:?}"),
    }
    // The dry run refuses the same way.
    assert!(matches!(
        tr.reg.check_publish(&top, TIME, &[]),
        Err(PublishError::PolicyRefused { .. })
    ));
    assert_eq!(before, tr.snapshot(), "a refused publish writes nothing");
    // Within the policy: published.
    let w2 = t.path().join("w2");
    std::fs::create_dir_all(&w2).unwrap();
    let ok = Bundle::new("com.test.ok", "1.0.0").build(&w2);
    assert!(tr.reg.publish(&ok, TIME).is_ok());
}
