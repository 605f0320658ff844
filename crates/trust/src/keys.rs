//! Key pairs in minisign's own file formats, so `minisign` and ratchet share keys.
//!
//! A public key file is minisign's two-line box (`untrusted comment: ...` then the base64 key,
//! `RW...`); registries and pin files hold only the base64 line. A secret key file is minisign's
//! secret key box, password-protected (scrypt) unless made with `--unencrypted`, and written
//! with mode 0600. Secret keys are never printed. The key id is minisign's: the 8-byte key
//! number as 16 upper-case hex digits, as `minisign` prints it.

use super::{KeyProblem, TrustError, io_err};
use std::path::{Path, PathBuf};

/// Environment variable holding the password of an encrypted secret key (never on argv).
pub const PASSWORD_ENV: &str = "RATCHET_KEY_PASSWORD";

/// A public key, as minisign knows it.
#[derive(Clone)]
pub struct PublicKey {
    inner: minisign::PublicKey,
    base64: String,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({} {})", self.key_id(), self.base64)
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.base64 == other.base64
    }
}
impl Eq for PublicKey {}

/// The key id of a minisign key number: 16 upper-case hex digits, as `minisign` shows it.
pub fn key_id(keynum: &[u8]) -> String {
    keynum.iter().rev().map(|b| format!("{b:02X}")).collect()
}

impl PublicKey {
    /// Parses the base64 line of a minisign public key (`RW...`).
    pub fn from_base64(s: &str) -> Result<PublicKey, TrustError> {
        let s = s.trim();
        let inner =
            minisign::PublicKey::from_base64(s).map_err(|source| TrustError::MinisignKey {
                what: format!("public key `{}`", s.chars().take(60).collect::<String>()),
                source,
            })?;
        Ok(PublicKey {
            base64: inner.to_base64(),
            inner,
        })
    }

    /// Parses a public key file's text: minisign's box, or the bare base64 line.
    pub fn from_text(text: &str, what: &str) -> Result<PublicKey, TrustError> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
            .ok_or_else(|| TrustError::BadKey {
                what: what.to_string(),
                problem: KeyProblem::NoKey,
            })?;
        Self::from_base64(line).map_err(|e| match e {
            TrustError::MinisignKey { source, .. } => TrustError::MinisignKey {
                what: what.to_string(),
                source,
            },
            other => other,
        })
    }

    /// Reads a public key file.
    pub fn load(path: &Path) -> Result<PublicKey, TrustError> {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        Self::from_text(&text, &path.display().to_string())
    }

    /// The base64 line (`RW...`), as stored in registries and pin files.
    pub fn to_base64(&self) -> &str {
        &self.base64
    }

    /// The key id (16 upper-case hex digits).
    pub fn key_id(&self) -> String {
        key_id(self.inner.keynum())
    }

    /// minisign's public key box (two lines), the content of a `.pub` file.
    pub fn to_box(&self) -> String {
        format!(
            "untrusted comment: minisign public key {}\n{}\n",
            self.key_id(),
            self.base64
        )
    }

    pub(crate) fn inner(&self) -> &minisign::PublicKey {
        &self.inner
    }
}

/// A decrypted secret key. Its `Debug` output shows only the key id.
pub struct SecretKey {
    inner: minisign::SecretKey,
    public: PublicKey,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.public.key_id())
    }
}

impl SecretKey {
    /// Parses a secret key file's text. An encrypted key needs `password` (see
    /// [`SecretKey::is_encrypted_text`]); without it the error is [`TrustError::PasswordNeeded`].
    pub fn from_text(text: &str, password: Option<String>, what: &str) -> Result<Self, TrustError> {
        let bad = |problem: KeyProblem| TrustError::BadKey {
            what: what.to_string(),
            problem,
        };
        let minisign_err = |source: minisign::PError| TrustError::MinisignKey {
            what: what.to_string(),
            source,
        };
        let encrypted = Self::is_encrypted_text(text).map_err(bad)?;
        let boxed = minisign::SecretKeyBox::from_string(text).map_err(minisign_err)?;
        let inner = if encrypted {
            let password = password.ok_or_else(|| TrustError::PasswordNeeded {
                what: what.to_string(),
                env: PASSWORD_ENV,
            })?;
            boxed
                .into_secret_key(Some(password))
                .map_err(minisign_err)?
        } else {
            match boxed.into_unencrypted_secret_key() {
                Ok(k) => k,
                // The minisign tool writes unencrypted keys (`-W`) with a zero checksum, which
                // the crate refuses: read the raw key and check it by a signing self-test below.
                Err(_) => {
                    use ct_codecs::Decoder;
                    let line = key_line(text).ok_or_else(|| bad(KeyProblem::NoKey))?;
                    let raw = ct_codecs::Base64::decode_to_vec(line, None)
                        .map_err(|_| bad(KeyProblem::NotBase64))?;
                    minisign::SecretKey::from_bytes(&raw).map_err(minisign_err)?
                }
            }
        };
        let pk = minisign::PublicKey::from_secret_key(&inner).map_err(minisign_err)?;
        let probe = b"ratchet key self-test";
        let ok = minisign::sign(Some(&pk), &inner, &probe[..], Some("t"), None).is_ok();
        if !ok {
            return Err(bad(KeyProblem::Corrupted));
        }
        Ok(SecretKey {
            inner,
            public: PublicKey {
                base64: pk.to_base64(),
                inner: pk,
            },
        })
    }

    /// True when a secret key file's text holds a password-protected key.
    pub fn is_encrypted_text(text: &str) -> Result<bool, KeyProblem> {
        use ct_codecs::Decoder;
        let line = key_line(text).ok_or(KeyProblem::NoKey)?;
        let bytes =
            ct_codecs::Base64::decode_to_vec(line, None).map_err(|_| KeyProblem::NotBase64)?;
        match bytes.get(2..4) {
            Some([0, 0]) => Ok(false),
            Some(b"Sc") => Ok(true),
            Some(_) => Err(KeyProblem::UnknownEncryption),
            None => Err(KeyProblem::Truncated),
        }
    }

    /// Reads a secret key file without asking anyone: an encrypted key's password comes from
    /// `RATCHET_KEY_PASSWORD`, and without it the error is [`TrustError::PasswordNeeded`].
    pub fn load(path: &Path) -> Result<SecretKey, TrustError> {
        Self::load_with(path, &mut |_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no password source",
            ))
        })
        .map_err(|e| match e {
            TrustError::PasswordUnavailable { what, env, .. } => {
                TrustError::PasswordNeeded { what, env }
            }
            other => other,
        })
    }

    /// Reads a secret key file. An encrypted key's password comes from `RATCHET_KEY_PASSWORD`,
    /// else from `ask`, called with a prompt (`Password for FILE: `): the library never reads
    /// the terminal itself, the CLI passes a function that does.
    pub fn load_with(path: &Path, ask: PasswordPrompt<'_>) -> Result<SecretKey, TrustError> {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        let what = path.display().to_string();
        let encrypted = Self::is_encrypted_text(&text).map_err(|problem| TrustError::BadKey {
            what: what.clone(),
            problem,
        })?;
        let password = if encrypted {
            Some(password_from_env_or(
                &what,
                &format!("Password for {what}: "),
                ask,
            )?)
        } else {
            None
        };
        Self::from_text(&text, password, &what)
    }

    /// The matching public key.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    pub(crate) fn inner(&self) -> &minisign::SecretKey {
        &self.inner
    }
}

fn key_line(text: &str) -> Option<&str> {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
}

/// Asks for a password: called with the prompt to show (`Password for FILE: `), returns what
/// the user typed. The CLI reads the terminal without echo; tests and services pass a closure.
pub type PasswordPrompt<'a> = &'a mut dyn FnMut(&str) -> std::io::Result<String>;

/// The password from `RATCHET_KEY_PASSWORD`, else from `ask` (called with `prompt`); `what`
/// names the key in errors.
pub fn password_from_env_or(
    what: &str,
    prompt: &str,
    ask: PasswordPrompt<'_>,
) -> Result<String, TrustError> {
    if let Ok(p) = std::env::var(PASSWORD_ENV) {
        return Ok(p);
    }
    ask(prompt).map_err(|source| TrustError::PasswordUnavailable {
        what: what.to_string(),
        source,
        env: PASSWORD_ENV,
    })
}

/// Where a generated key pair was written.
#[derive(Debug, Clone)]
pub struct KeyPairFiles {
    /// The public key file (`NAME.pub`).
    pub public: PathBuf,
    /// The secret key file (`NAME.key`, mode 0600).
    pub secret: PathBuf,
    /// The public key.
    pub key: PublicKey,
}

/// Generates a key pair and writes `dir/NAME.pub` and `dir/NAME.key` (0600). With a password
/// the secret key is encrypted (minisign's scrypt parameters); `None` writes it unencrypted.
/// Refuses to overwrite existing files.
pub fn generate(
    dir: &Path,
    name: &str,
    password: Option<String>,
) -> Result<KeyPairFiles, TrustError> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        || name.starts_with('.')
    {
        return Err(TrustError::InvalidKeyName {
            name: name.to_string(),
        });
    }
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let public = dir.join(format!("{name}.pub"));
    let secret = dir.join(format!("{name}.key"));
    for p in [&public, &secret] {
        if p.exists() {
            return Err(TrustError::KeyFileExists { path: p.clone() });
        }
    }
    let gen_err = TrustError::KeyGeneration;
    let kp = match password {
        Some(p) => minisign::KeyPair::generate_encrypted_keypair(Some(p)).map_err(gen_err)?,
        None => minisign::KeyPair::generate_unencrypted_keypair().map_err(gen_err)?,
    };
    let pk = PublicKey {
        base64: kp.pk.to_base64(),
        inner: kp.pk.clone(),
    };
    let comment = format!("ratchet secret key {}", pk.key_id());
    let sk_text = kp.sk.to_box(Some(&comment)).map_err(gen_err)?.into_string();
    write_secret(&secret, sk_text.as_bytes())?;
    ratchet_formats::fsutil::write_atomic(&public, pk.to_box().as_bytes())
        .map_err(io_err(&public))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o644))
            .map_err(io_err(&public))?;
    }
    Ok(KeyPairFiles {
        public,
        secret,
        key: pk,
    })
}

/// Writes a secret file created with mode 0600 (never readable by others, not even briefly).
pub fn write_secret(path: &Path, data: &[u8]) -> Result<(), TrustError> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(io_err(path))?;
    f.write_all(data).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

/// A public key file and what loading it gave.
pub type ListedKey = (PathBuf, Result<PublicKey, TrustError>);

/// The public keys (`*.pub`) in a directory, sorted by file name.
pub fn list(dir: &Path) -> Result<Vec<ListedKey>, TrustError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    let mut out = Vec::new();
    for e in entries {
        let p = e.map_err(io_err(dir))?.path();
        if p.extension().is_some_and(|x| x == "pub") {
            let k = PublicKey::load(&p);
            out.push((p, k));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unencrypted_round_trip_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let kp = generate(dir.path(), "ci", None).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&kp.secret).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let sk = SecretKey::load(&kp.secret).unwrap();
        assert_eq!(sk.public(), &kp.key);
        assert_eq!(PublicKey::load(&kp.public).unwrap(), kp.key);
        assert_eq!(kp.key.key_id().len(), 16);
        assert!(!format!("{sk:?}").contains(&kp.key.to_base64()[10..]));
        assert!(generate(dir.path(), "ci", None).is_err(), "no overwrite");
        assert_eq!(list(dir.path()).unwrap().len(), 1);
    }

    #[test]
    fn encrypted_key_needs_the_right_password() {
        let dir = tempfile::tempdir().unwrap();
        let kp = generate(dir.path(), "author", Some("correct horse".into())).unwrap();
        let text = std::fs::read_to_string(&kp.secret).unwrap();
        assert!(SecretKey::is_encrypted_text(&text).unwrap());
        let e = SecretKey::from_text(&text, None, "k")
            .unwrap_err()
            .to_string();
        assert!(e.contains(PASSWORD_ENV), "{e}");
        let e = SecretKey::from_text(&text, Some("wrong".into()), "k")
            .unwrap_err()
            .to_string();
        assert!(e.to_lowercase().contains("password"), "{e}");
        let sk = SecretKey::from_text(&text, Some("correct horse".into()), "k").unwrap();
        assert_eq!(sk.public(), &kp.key);
    }

    #[test]
    fn the_password_comes_from_the_callers_prompt() {
        if std::env::var_os(PASSWORD_ENV).is_some() {
            return; // the environment would answer before the prompt
        }
        let dir = tempfile::tempdir().unwrap();
        let kp = generate(dir.path(), "author", Some("correct horse".into())).unwrap();
        let mut asked = Vec::new();
        let sk = SecretKey::load_with(&kp.secret, &mut |prompt| {
            asked.push(prompt.to_string());
            Ok("correct horse".into())
        })
        .unwrap();
        assert_eq!(sk.public(), &kp.key);
        assert_eq!(asked.len(), 1);
        assert!(
            asked[0].contains(&kp.secret.display().to_string()),
            "{asked:?}"
        );

        let e = SecretKey::load_with(&kp.secret, &mut |_| {
            Err(std::io::Error::other("no terminal"))
        })
        .unwrap_err();
        assert!(
            matches!(&e, TrustError::PasswordUnavailable { env, .. } if *env == PASSWORD_ENV),
            "{e:?}"
        );
        assert!(matches!(
            SecretKey::load(&kp.secret).unwrap_err(),
            TrustError::PasswordNeeded { .. }
        ));
        // An unencrypted key never asks.
        let plain = generate(dir.path(), "ci", None).unwrap();
        SecretKey::load_with(&plain.secret, &mut |_| panic!("asked for a password")).unwrap();
    }
}
