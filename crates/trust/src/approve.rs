//! Approvals: signed statements by a registry's approvers that one exact archive passed a
//! review of one scope (`index-format.md` §7.7).
//!
//! An enterprise registry's policy can require approvals per scope (`security_scan`,
//! `dependencies`, `compatibility`...) from a role (`security_team`...). The roles map to keys
//! in the registry's signed `config.json` (`keys` entries with `"role": "approver"`), and an
//! approval is a minisign signature over
//! `ratchet-approve-v1 id=<id> version=<v> sha256=<archive sha256> scope=<scope> role=<role> date=<RFC 3339>`,
//! so it cannot be moved to another bundle, version, archive, scope or role. Approvals live in
//! the bundle's metadata file (`approvals`), next to attestations. A forged approval (by a key
//! that is not an approver of that role, or over edited text) counts as no approval.

use super::bundle_sig::{parse_sig, sign_bytes, verify_bytes};
use super::keys::{PublicKey, SecretKey};
use super::{StatementProblem, TrustError};
use ratchet_formats::index::{BundleMeta, RegistryConfig};
use serde::{Deserialize, Serialize};

/// First word of every approval statement.
pub const APPROVE_TAG: &str = "ratchet-approve-v1";
/// Field of the metadata file holding approvals.
pub const APPROVALS_FIELD: &str = "approvals";
/// The `role` of a `config.json` `keys` entry naming an approver.
pub const APPROVER_ROLE: &str = "approver";
/// Most approvals read per bundle (endless-data defence).
pub const MAX_APPROVALS: usize = 1024;

/// An approver key named in `config.json`:
/// `{"role": "approver", "approver-role": "security_team", "name": "Alice", "key": "RW..."}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApproverKey {
    /// The approval role it holds (`security_team`).
    pub role: String,
    /// Shown as the approver.
    pub name: String,
    /// The key.
    pub key: PublicKey,
}

/// One approval as stored in a metadata file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// The statement text; also the signature's trusted comment.
    pub statement: String,
    /// minisign signature text over the statement.
    pub signature: String,
}

/// What an approval says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalFields {
    /// Bundle id.
    pub id: String,
    /// Version.
    pub version: String,
    /// Archive SHA-256.
    pub sha256: String,
    /// What was reviewed (`security_scan`, `dependencies`, `compatibility`...).
    pub scope: String,
    /// The approver role it is made as (`security_team`).
    pub role: String,
    /// When (RFC 3339).
    pub date: String,
}

/// True for a scope or role name: 1 to 64 of `a-z 0-9 _ -`.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl ApprovalFields {
    /// The statement text.
    pub fn text(&self) -> String {
        format!(
            "{APPROVE_TAG} id={} version={} sha256={} scope={} role={} date={}",
            self.id, self.version, self.sha256, self.scope, self.role, self.date
        )
    }

    /// Parses a statement.
    pub fn parse(text: &str) -> Result<ApprovalFields, StatementProblem> {
        let mut w = text.split(' ');
        if w.next() != Some(APPROVE_TAG) {
            return Err(StatementProblem::NoTag(APPROVE_TAG));
        }
        let mut field = |name: &'static str| -> Result<String, StatementProblem> {
            let x = w.next().unwrap_or_default();
            x.strip_prefix(name)
                .and_then(|r| r.strip_prefix('='))
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .ok_or_else(|| StatementProblem::ExpectedField {
                    field: name,
                    found: x.chars().take(80).collect(),
                })
        };
        let f = ApprovalFields {
            id: field("id")?,
            version: field("version")?,
            sha256: field("sha256")?,
            scope: field("scope")?,
            role: field("role")?,
            date: field("date")?,
        };
        if w.next().is_some() {
            return Err(StatementProblem::TrailingText("`date=`"));
        }
        if !valid_name(&f.scope) {
            return Err(StatementProblem::ExpectedField {
                field: "scope",
                found: f.scope.chars().take(80).collect(),
            });
        }
        if !valid_name(&f.role) {
            return Err(StatementProblem::ExpectedField {
                field: "role",
                found: f.role.chars().take(80).collect(),
            });
        }
        Ok(f)
    }
}

/// Signs an approval. Fails when a field is empty or holds white space, or a scope or role is
/// not a name ([`valid_name`]).
pub fn approve(fields: &ApprovalFields, sk: &SecretKey) -> Result<Approval, TrustError> {
    if [
        &fields.id,
        &fields.version,
        &fields.sha256,
        &fields.scope,
        &fields.role,
        &fields.date,
    ]
    .into_iter()
    .any(|f| f.contains(char::is_whitespace) || f.is_empty())
    {
        return Err(TrustError::AttestationFieldSpaces);
    }
    let text = fields.text();
    ApprovalFields::parse(&text).map_err(TrustError::BadAttestation)?;
    Ok(Approval {
        signature: sign_bytes(sk, text.as_bytes(), &text)?,
        statement: text,
    })
}

/// The approver keys of a registry's `config.json`, and the indexes of `keys` entries with the
/// approver role that lack a valid `approver-role`, `name` or `key` (skipped).
pub fn approver_keys(config: &RegistryConfig) -> (Vec<ApproverKey>, Vec<usize>) {
    let mut keys = Vec::new();
    let mut bad = Vec::new();
    for (i, k) in config.keys.iter().enumerate() {
        if k.get("role").and_then(|r| r.as_str()) != Some(APPROVER_ROLE) {
            continue;
        }
        let role = k
            .get("approver-role")
            .and_then(|n| n.as_str())
            .filter(|r| valid_name(r));
        let name = k.get("name").and_then(|n| n.as_str());
        let key = k
            .get("key")
            .and_then(|n| n.as_str())
            .map(PublicKey::from_base64);
        match (role, name, key) {
            (Some(role), Some(name), Some(Ok(key))) => keys.push(ApproverKey {
                role: role.to_string(),
                name: name.to_string(),
                key,
            }),
            _ => bad.push(i),
        }
    }
    (keys, bad)
}

/// The approvals stored in a metadata file (at most [`MAX_APPROVALS`]).
pub fn from_meta(meta: &BundleMeta, file: &str) -> Result<Vec<Approval>, TrustError> {
    match meta.extra.get(APPROVALS_FIELD) {
        None => Ok(Vec::new()),
        Some(v) => {
            let list: Vec<Approval> =
                serde_json::from_value(v.clone()).map_err(|source| TrustError::RecordJson {
                    file: format!("{file}: approvals"),
                    source,
                })?;
            Ok(list.into_iter().take(MAX_APPROVALS).collect())
        }
    }
}

/// Stores approvals into metadata.
pub fn store(meta: &mut BundleMeta, list: &[Approval]) {
    meta.extra.insert(
        APPROVALS_FIELD.to_string(),
        serde_json::to_value(list).expect("approvals serialize"),
    );
}

/// An approval that verified: made by an approver key of the role it names, about this exact
/// archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidApproval {
    /// What was reviewed.
    pub scope: String,
    /// The role it was made as.
    pub role: String,
    /// The approver's name from `config.json`.
    pub approver: String,
    /// The approver key's id.
    pub key_id: String,
    /// When.
    pub date: String,
}

/// Why an approval of the archive asked about does not count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalProblem {
    /// The statement does not parse.
    #[error("approval {index} of {id}: malformed statement ({problem}); ignored")]
    Malformed {
        /// The bundle id.
        id: String,
        /// Its index in the list.
        index: usize,
        /// What is wrong.
        problem: StatementProblem,
    },
    /// The signature does not parse, is by a key that is not an approver of the role the
    /// statement names, or does not verify over the statement (a forgery or an edit).
    #[error("approval {index} of {id} ({scope} as {role}): {reason}; ignored")]
    NotVerified {
        /// The bundle id.
        id: String,
        /// Its index in the list.
        index: usize,
        /// The scope it claims.
        scope: String,
        /// The role it claims.
        role: String,
        /// Why it does not verify.
        reason: String,
    },
}

/// The approvals of `list` that verify for archive (`id`, `version`, `sha256`) against the
/// approver keys of `config`; the others (about this archive) are reported as problems.
/// Approvals of other versions or archives are skipped silently.
pub fn valid_approvals(
    id: &str,
    version: &str,
    sha256: &str,
    list: &[Approval],
    config: &RegistryConfig,
) -> (Vec<ValidApproval>, Vec<ApprovalProblem>) {
    let (keys, _) = approver_keys(config);
    let mut ok = Vec::new();
    let mut problems = Vec::new();
    for (index, a) in list.iter().enumerate() {
        let f = match ApprovalFields::parse(&a.statement) {
            Ok(f) => f,
            Err(problem) => {
                problems.push(ApprovalProblem::Malformed {
                    id: id.to_string(),
                    index,
                    problem,
                });
                continue;
            }
        };
        if f.id != id || f.version != version || f.sha256 != sha256 {
            continue;
        }
        let role_keys: Vec<PublicKey> = keys
            .iter()
            .filter(|k| k.role == f.role)
            .map(|k| k.key.clone())
            .collect();
        let what = format!("approval {index} of {id}");
        let verified = parse_sig(a.signature.as_bytes(), &what).and_then(|sig| {
            verify_bytes(
                &sig,
                a.statement.as_bytes(),
                &a.statement,
                &role_keys,
                &what,
                &format!("approver keys of role {} in config.json", f.role),
            )
        });
        match verified {
            Ok(k) => {
                let approver = keys
                    .iter()
                    .find(|x| x.key == k && x.role == f.role)
                    .map(|x| x.name.clone())
                    .unwrap_or_default();
                if !ok
                    .iter()
                    .any(|v: &ValidApproval| v.scope == f.scope && v.key_id == k.key_id())
                {
                    ok.push(ValidApproval {
                        scope: f.scope,
                        role: f.role,
                        approver,
                        key_id: k.key_id(),
                        date: f.date,
                    });
                }
            }
            Err(e) => problems.push(ApprovalProblem::NotVerified {
                id: id.to_string(),
                index,
                scope: f.scope,
                role: f.role,
                reason: e.to_string(),
            }),
        }
    }
    (ok, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(dir: &std::path::Path, name: &str) -> SecretKey {
        let kp = crate::keys::generate(dir, name, None).unwrap();
        SecretKey::load(&kp.secret).unwrap()
    }

    fn config_with(keys: &[(&str, &PublicKey)]) -> RegistryConfig {
        let mut c = RegistryConfig::new("t", ratchet_formats::index::RegistryKind::Private);
        for (role, k) in keys {
            c.keys.push(serde_json::json!({
                "role": "approver", "approver-role": role, "name": format!("{role} member"),
                "key": k.to_base64(),
            }));
        }
        c
    }

    fn fields(scope: &str, role: &str) -> ApprovalFields {
        ApprovalFields {
            id: "com.a.b".into(),
            version: "1.0.0".into(),
            sha256: "ab".repeat(32),
            scope: scope.into(),
            role: role.into(),
            date: "2026-12-04T00:00:00Z".into(),
        }
    }

    #[test]
    fn approvals_missing_present_forged() {
        let dir = tempfile::tempdir().unwrap();
        let sec = key(dir.path(), "sec");
        let arch = key(dir.path(), "arch");
        let outsider = key(dir.path(), "outsider");
        let config = config_with(&[
            ("security_team", sec.public()),
            ("architecture_team", arch.public()),
        ]);
        let sha = "ab".repeat(32);
        // Missing: nothing counts.
        let (ok, p) = valid_approvals("com.a.b", "1.0.0", &sha, &[], &config);
        assert!(ok.is_empty() && p.is_empty());
        // Present: counts, with the approver's name.
        let good = approve(&fields("security_scan", "security_team"), &sec).unwrap();
        let (ok, p) = valid_approvals(
            "com.a.b",
            "1.0.0",
            &sha,
            std::slice::from_ref(&good),
            &config,
        );
        assert_eq!(ok.len(), 1, "{p:?}");
        assert_eq!(ok[0].scope, "security_scan");
        assert_eq!(ok[0].approver, "security_team member");
        // Forged: by a key of another role, by an outsider, or with the scope edited.
        let wrong_role = approve(&fields("security_scan", "security_team"), &arch).unwrap();
        let by_outsider = approve(&fields("security_scan", "security_team"), &outsider).unwrap();
        let mut edited = good.clone();
        edited.statement = edited.statement.replace("security_scan", "compatibility");
        let (ok, p) = valid_approvals(
            "com.a.b",
            "1.0.0",
            &sha,
            &[wrong_role, by_outsider, edited],
            &config,
        );
        assert!(ok.is_empty(), "{ok:?}");
        assert_eq!(p.len(), 3, "{p:?}");
        // About another archive: not counted, not a problem.
        let (ok, p) = valid_approvals("com.a.b", "1.0.0", &"cd".repeat(32), &[good], &config);
        assert!(ok.is_empty() && p.is_empty());
    }

    #[test]
    fn statement_round_trip_and_refusals() {
        let f = fields("dependencies", "architecture_team");
        assert_eq!(ApprovalFields::parse(&f.text()).unwrap(), f);
        assert!(ApprovalFields::parse("ratchet-approve-v1 id=x").is_err());
        assert!(ApprovalFields::parse(&(f.text() + " extra=1")).is_err());
        assert!(ApprovalFields::parse(&f.text().replace("dependencies", "Deps!")).is_err());
        let dir = tempfile::tempdir().unwrap();
        let k = key(dir.path(), "k");
        let mut bad = fields("x", "y");
        bad.id = "has space".into();
        assert!(approve(&bad, &k).is_err());
    }
}
