//! The registry side of quality checks (`index-format.md` §16): the advisory file
//! `advisories.jsonl` (`ratchet-index advisory add`) and verification reports stored beside an
//! official attestation (`ratchet-index attest --verification`).
//!
//! Both are logged as configuration changes of a signed registry, so a client checks them
//! against the snapshot like every other file; a report is also content-addressed (its name
//! holds its SHA-256) and named by the signed attestation, which binds its bytes.

use super::{PublishError, Registry, Result, io_err};
use ratchet_formats::fsutil::write_atomic;
use ratchet_quality::advisory::{self, ADVISORIES_FILE, Advisory};
use ratchet_trust::keys::PublicKey;
use serde_json::Value;

/// Directory of stored verification reports.
pub const REPORTS_DIR: &str = "reports";

impl Registry {
    /// The registry's advisories (none when it has no `advisories.jsonl`).
    pub fn advisories(&self) -> Result<Vec<Advisory>> {
        advisory::load(&self.root.join(ADVISORIES_FILE))
            .map_err(|e| PublishError::Advisory(e.to_string()))
    }

    /// Adds advisories to `advisories.jsonl`, each replacing a record with the same id.
    /// Returns, per advisory, whether it replaced one.
    pub fn add_advisories(&self, new: Vec<Advisory>) -> Result<Vec<(String, bool)>> {
        let _lock = self.lock()?;
        let mut tx = self.begin_change()?;
        let mut list = self.advisories()?;
        let mut done = Vec::new();
        for a in new {
            let id = a.id.clone();
            done.push((id, advisory::upsert(&mut list, a)));
        }
        if list.len() > advisory::MAX_RECORDS {
            return Err(PublishError::Advisory(format!(
                "{ADVISORIES_FILE} would hold more than {} records",
                advisory::MAX_RECORDS
            )));
        }
        self.intend_config(&mut tx, &[ADVISORIES_FILE])?;
        let path = self.abs(ADVISORIES_FILE);
        write_atomic(&path, advisory::render(&list).as_bytes()).map_err(io_err(&path))?;
        self.commit_change(tx)?;
        for (id, replaced) in &done {
            let mut r = ratchet_audit::Record {
                action: "advisory".into(),
                ..Default::default()
            };
            r = r
                .with("advisory", id.clone().into())
                .with("replaced", (*replaced).into());
            self.audit(r)?;
        }
        Ok(done)
    }

    /// Checks a verification report (the bytes of a `verification.json` of `ratchet bundle
    /// check ARCHIVE`) against the archive an official attestation is about — same id, version
    /// and archive SHA-256, passed, nothing failed, `verifier` one of the registry's verifier
    /// keys — marks it officially verified by that verifier at `date` and stores it
    /// ([`Registry::store_report`]). Nothing is written when it is refused.
    pub fn store_verified_report(
        &self,
        bytes: &[u8],
        id: &str,
        version: &str,
        sha256: &str,
        verifier: &PublicKey,
        date: &str,
    ) -> Result<String> {
        let refused = |m: String| PublishError::ReportRefused(m);
        let mut v: Value =
            serde_json::from_slice(bytes).map_err(|e| refused(format!("not JSON: {e}")))?;
        let (keys, _) = ratchet_trust::attest::verifier_keys(self.config());
        let Some(vk) = keys.iter().find(|k| &k.key == verifier) else {
            return Err(refused(format!(
                "key {} is not a verifier of this registry (`ratchet-index verifier add`)",
                verifier.key_id()
            )));
        };
        let got = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        if got("/bundle/id") != id || got("/bundle/version") != version {
            return Err(refused(format!(
                "the report is about {} {}, not {id} {version}",
                got("/bundle/id"),
                got("/bundle/version")
            )));
        }
        if got("/archive_sha256") != sha256 {
            return Err(refused(format!(
                "the report checked archive `{}`, not the published {sha256} (check the archive itself: `ratchet bundle check FILE.rbundle -o FILE`)",
                got("/archive_sha256")
            )));
        }
        let failed = v.pointer("/summary/failed").and_then(Value::as_u64);
        if v.get("passed") != Some(&Value::Bool(true)) || failed != Some(0) {
            return Err(refused(format!(
                "the check did not pass ({} failed): an official attestation needs a passing report",
                failed.map_or("?".to_string(), |f| f.to_string())
            )));
        }
        v["verification"] = serde_json::json!({
            "status": "officially-verified",
            "verifier": vk.name,
            "date": date,
            "report_url": null,
        });
        let mut text = serde_json::to_string_pretty(&v).map_err(|e| refused(e.to_string()))?;
        text.push('\n');
        self.store_report(sha256, text.as_bytes())
    }

    /// Stores a verification report (the bytes of a `verification.json`) for the archive
    /// `sha256` and returns its path in the registry, `reports/<sha256>/<report sha256>.json`:
    /// what an attestation's `report=` names. Writing the same report twice is harmless.
    pub fn store_report(&self, sha256: &str, bytes: &[u8]) -> Result<String> {
        if !ratchet_formats::index::is_sha256_hex(sha256) {
            return Err(PublishError::Advisory(format!(
                "`{sha256}` is not an archive SHA-256"
            )));
        }
        let digest = ratchet_formats::archive::sha256_hex(bytes);
        let rel = format!("{REPORTS_DIR}/{sha256}/{digest}.json");
        let _lock = self.lock()?;
        let mut tx = self.begin_change()?;
        self.intend(
            &mut tx,
            ratchet_tlog::entry::EntryKind::Config,
            None,
            None,
            Some(sha256),
            &[&rel],
        )?;
        let path = self.abs(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        write_atomic(&path, bytes).map_err(io_err(&path))?;
        self.commit_change(tx)?;
        Ok(rel)
    }
}
