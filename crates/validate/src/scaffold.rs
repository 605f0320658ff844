//! `ratchet bundle init`: a new bundle that validates, builds and tests as it is.
//!
//! A new author starts from something that works: a manifest, a README and changelog, a
//! `.ratchetignore`, and one Ratchet-style JavaScript task with schemas and a test.

use ratchet_formats::manifest::BundleId;
use std::path::{Path, PathBuf};

/// Errors creating a bundle.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The id given (or derived from the directory name) is not valid.
    #[error("{0}; pass a valid id with --id (e.g. --id com.example.my-bundle)")]
    BadId(#[from] ratchet_formats::manifest::id::IdError),
    /// Files already there.
    #[error("{dir} already holds {files}; refusing to overwrite (choose an empty directory)")]
    Exists {
        /// The directory.
        dir: String,
        /// The files that would be overwritten.
        files: String,
    },
    /// I/O failure.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The id `init` proposes for a directory: `com.example.<dir name>` made id-safe.
pub fn default_id(dir: &Path) -> String {
    let name = dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "my-bundle".into());
    let mut slug: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    slug = slug.trim_matches('-').to_string();
    if slug.is_empty() {
        slug = "my-bundle".into();
    }
    format!("com.example.{slug}")
}

/// Creates a new bundle in `dir` (created when missing) and returns the files written.
pub fn init_bundle(dir: &Path, id: Option<&str>) -> Result<Vec<PathBuf>, ScaffoldError> {
    std::fs::create_dir_all(dir).map_err(|source| ScaffoldError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let id = match id {
        Some(i) => BundleId::parse(i)?,
        None => BundleId::parse(&default_id(dir))?,
    };
    let name = id
        .as_str()
        .rsplit('.')
        .next()
        .unwrap_or("bundle")
        .replace(['-', '_'], " ");
    let files = template(&id, &name);
    let existing: Vec<&str> = files
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| dir.join(p).exists())
        .collect();
    if !existing.is_empty() {
        return Err(ScaffoldError::Exists {
            dir: dir.display().to_string(),
            files: existing.join(", "),
        });
    }
    let mut written = Vec::new();
    for (rel, content) in files {
        let path = dir.join(rel);
        ratchet_formats::fsutil::write_atomic(&path, content.as_bytes()).map_err(|source| {
            ScaffoldError::Io {
                path: path.clone(),
                source,
            }
        })?;
        written.push(path);
    }
    Ok(written)
}

fn template(id: &BundleId, name: &str) -> Vec<(&'static str, String)> {
    let manifest = format!(
        r#"# Bundle manifest: every field is described in index-format.md ("bundle.yaml").
bundle:
  id: "{id}"
  name: "{name}"
  version: "0.1.0"
  author:
    name: "Your Name"
    email: "you@example.com"
  description: "Adds two numbers (a starting point: replace with what your bundle does)."
  license: "MIT"
  keywords: ["example"]
  readme: "README.md"
  changelog: "CHANGELOG.md"
  requirements:
    ratchet_version: ">=1.0.0"
  contents:
    tasks:
      - path: "tasks/addition"
        exported: true
        tags: ["math"]
  # What the tasks may reach; everything not declared is denied.
  permissions: {{}}
  resources:
    max_memory: "64MB"
    max_cpu_time: "5s"
"#
    );
    vec![
        ("bundle.yaml", manifest),
        ("README.md", format!("# {name}\n\nA Ratchet bundle. Run `ratchet bundle validate` and `ratchet bundle build`.\n")),
        ("CHANGELOG.md", "# Changelog\n\n## 0.1.0\n\n- First version.\n".into()),
        (".ratchetignore", "# Files left out of the built bundle (gitignore syntax)\n*.rbundle\ntarget/\nnode_modules/\n".into()),
        (
            "tasks/addition/metadata.json",
            "{\n  \"version\": \"1.0.0\",\n  \"label\": \"Addition\",\n  \"description\": \"Adds two numbers\",\n  \"tags\": [\"math\"],\n  \"timeout\": 5000,\n  \"memory_limit\": \"32MB\"\n}\n".into(),
        ),
        (
            "tasks/addition/input.schema.json",
            "{\n  \"type\": \"object\",\n  \"properties\": {\n    \"num1\": { \"type\": \"number\" },\n    \"num2\": { \"type\": \"number\" }\n  },\n  \"required\": [\"num1\", \"num2\"]\n}\n".into(),
        ),
        (
            "tasks/addition/output.schema.json",
            "{\n  \"type\": \"object\",\n  \"properties\": { \"sum\": { \"type\": \"number\" } },\n  \"required\": [\"sum\"]\n}\n".into(),
        ),
        (
            "tasks/addition/main.js",
            "(function (input) {\n  if (typeof input.num1 !== \"number\" || typeof input.num2 !== \"number\") {\n    throw new Error(\"num1 and num2 must be numbers\");\n  }\n  return { sum: input.num1 + input.num2 };\n})\n".into(),
        ),
        (
            "tasks/addition/tests/test-001.json",
            "{\n  \"name\": \"adds\",\n  \"input\": { \"num1\": 2, \"num2\": 3 },\n  \"expected_output\": { \"sum\": 5 }\n}\n".into(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_validates_and_refuses_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let b = dir.path().join("My Bundle");
        init_bundle(&b, None).unwrap();
        let report = crate::validate_bundle(&b);
        assert!(report.is_valid(), "{:?}", report.diagnostics);
        assert_eq!(
            report.manifest.unwrap().id.as_str(),
            "com.example.my-bundle"
        );
        assert!(matches!(
            init_bundle(&b, None),
            Err(ScaffoldError::Exists { .. })
        ));
        assert!(matches!(
            init_bundle(&dir.path().join("x"), Some("Bad")),
            Err(ScaffoldError::BadId(_))
        ));
    }
}
