//! OpenID Connect sign-in for registries behind an identity provider: the OAuth 2.0 Device
//! Authorization Grant (RFC 8628) found through OIDC discovery, and the refresh of an expired
//! access token (RFC 6749 §6).
//!
//! A command line has no browser to redirect back to, so it signs in with the device flow: it
//! asks the provider for a user code, the user approves that code in any browser, and the
//! client polls the token endpoint until the provider answers with tokens. The tokens are kept
//! as one [`TokenSet`] in the credential store ([`super::store`]); before a command uses the
//! access token, [`TokenSet::needs_refresh`] says whether to renew it first.
//!
//! Everything the provider sends is hostile input: every answer is read up to
//! [`MAX_ANSWER`] bytes with a time limit, and only `https` endpoints (or plain `http` on a
//! loopback address, for a provider on this machine) are accepted. The library never prints:
//! the user code reaches the user through the callback of [`device_login`].

use super::Secret;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Largest answer read from the identity provider (discovery document, token answers).
pub const MAX_ANSWER: usize = 64 * 1024;
/// Longest wait for one answer of the identity provider.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a device login waits for the user, whatever the provider says.
pub const MAX_DEVICE_WAIT: Duration = Duration::from_secs(30 * 60);
/// The scopes asked for when none is configured: an ID token and a refresh token.
pub const DEFAULT_SCOPE: &str = "openid offline_access";
/// The grant type of the device flow's token requests (RFC 8628 §3.4).
pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Why a sign-in or a refresh failed. Messages name the provider's URL and what it said,
/// never a token.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// An issuer or endpoint URL that does not parse or is not `https` (or loopback `http`).
    #[error(
        "{what} `{url}`: use an https:// URL (plain http:// only for a provider on this machine: localhost, 127.0.0.1, [::1])"
    )]
    InsecureUrl {
        /// Which URL (the issuer, the token endpoint...).
        what: &'static str,
        /// The URL.
        url: String,
    },
    /// The provider could not be reached or did not answer in time.
    #[error("{url}: {reason}")]
    Http {
        /// The URL asked.
        url: String,
        /// Why.
        reason: String,
    },
    /// The provider answered something that is not what the protocol says.
    #[error("{url}: {reason}")]
    Protocol {
        /// The URL asked.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The discovery document names another issuer than the one configured (OIDC Discovery
    /// §4.3: a client must not use it).
    #[error(
        "{url}: the discovery document names the issuer `{found}`, not `{expected}`; check the --oidc URL"
    )]
    IssuerMismatch {
        /// The discovery document's URL.
        url: String,
        /// The configured issuer.
        expected: String,
        /// The issuer the document names.
        found: String,
    },
    /// The provider does not offer the device flow.
    #[error(
        "the identity provider {issuer} does not offer the device authorization grant (no device_authorization_endpoint in its discovery document)"
    )]
    NoDeviceFlow {
        /// The issuer.
        issuer: String,
    },
    /// The provider refused a request with an OAuth error (`invalid_client`, `access_denied`,
    /// `expired_token`, `invalid_grant`...).
    #[error("{url}: the identity provider refused: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        /// The URL asked.
        url: String,
        /// The OAuth error code, escaped.
        error: String,
        /// The provider's `error_description`, escaped and shortened.
        description: Option<String>,
    },
    /// The user did not approve the code before it expired (or [`MAX_DEVICE_WAIT`]).
    #[error("the user code expired before it was approved; run the login again")]
    CodeExpired,
    /// The async runtime could not start.
    #[error("cannot start the HTTP runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The HTTP client could not be built (a CA file).
    #[error(transparent)]
    Client(#[from] ratchet_http::HttpError),
}

/// Where the provider's endpoints are, from `ISSUER/.well-known/openid-configuration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// The issuer, as the document names it (equal to the configured one).
    pub issuer: String,
    /// The device authorization endpoint (RFC 8628 §4).
    pub device_authorization_endpoint: Option<String>,
    /// The token endpoint.
    pub token_endpoint: String,
    /// The revocation endpoint (RFC 7009), if offered.
    pub revocation_endpoint: Option<String>,
}

/// What the user must do to approve a device login (RFC 8628 §3.2). Every string is the
/// provider's, unescaped: escape it before it reaches a terminal.
#[derive(Debug, Clone)]
pub struct UserCode {
    /// The code the user types.
    pub user_code: String,
    /// Where the user types it.
    pub verification_uri: String,
    /// The same page with the code filled in, if the provider offers it.
    pub verification_uri_complete: Option<String>,
    /// How long the code stays valid.
    pub expires_in: Duration,
}

/// The tokens of a signed-in registry, kept in the credential store as one JSON document
/// (`index-format.md` §8.2).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct TokenSet {
    /// The bearer token sent with registry requests.
    pub access_token: Secret,
    /// The token that renews the access token, if the provider issued one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
    /// When the access token expires (seconds since the Unix epoch), if the provider said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// When the access token was received (seconds since the Unix epoch).
    pub received_at: u64,
    /// The token endpoint the tokens came from (where a refresh goes).
    pub token_endpoint: String,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &self.access_token)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_at", &self.expires_at)
            .field("received_at", &self.received_at)
            .field("token_endpoint", &self.token_endpoint)
            .finish()
    }
}

/// The marker that tells a stored token set from a plain stored secret.
const TOKEN_SET_MARKER: &str = "{\"oidc\":";

impl TokenSet {
    /// The form kept in the credential store: `{"oidc": {...}}`.
    pub fn to_secret(&self) -> Secret {
        Secret::new(serde_json::json!({ "oidc": self }).to_string())
    }

    /// Reads a stored token set; `None` when the stored secret is not one (a plain token).
    pub fn from_secret(s: &Secret) -> Option<TokenSet> {
        #[derive(Deserialize)]
        struct Wrapped {
            oidc: TokenSet,
        }
        if !s.expose().starts_with(TOKEN_SET_MARKER) {
            return None;
        }
        serde_json::from_str::<Wrapped>(s.expose())
            .ok()
            .map(|w| w.oidc)
    }

    /// Whether the access token is expired or about to be, at `now` (seconds since the epoch):
    /// it is renewed when less than a tenth of its lifetime, and at most 30 s, is left.
    pub fn needs_refresh(&self, now: u64) -> bool {
        let Some(exp) = self.expires_at else {
            return false;
        };
        let lifetime = exp.saturating_sub(self.received_at);
        let margin = (lifetime / 10).min(30);
        now + margin >= exp
    }
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Checks that `url` may be sent secrets: `https`, or `http` to a loopback host.
pub fn check_url(what: &'static str, url: &str) -> Result<url::Url, OidcError> {
    let bad = || OidcError::InsecureUrl {
        what,
        url: escape_short(url),
    };
    let u = url::Url::parse(url).map_err(|_| bad())?;
    let loopback = match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        None => false,
    };
    let ok = match u.scheme() {
        "https" => u.host().is_some(),
        "http" => loopback,
        _ => false,
    };
    if !ok || !u.username().is_empty() || u.password().is_some() {
        return Err(bad());
    }
    Ok(u)
}

/// A client of one identity provider.
pub struct Provider {
    client: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

/// The answer of a token endpoint (RFC 6749 §5.1) or its error (§5.2).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    token_type: Option<String>,
    refresh_token: Option<String>,
    expires_in: Option<u64>,
    error: Option<String>,
    error_description: Option<String>,
    interval: Option<u64>,
}

/// An OAuth error answer.
struct OAuthError {
    error: String,
    description: Option<String>,
    interval: Option<u64>,
}

impl Provider {
    /// A client trusting the usual roots plus `ca_files` (the registry's own CA file).
    pub fn new(ca_files: Vec<PathBuf>) -> Result<Provider, OidcError> {
        let http = ratchet_http::HttpConfig {
            ca_files,
            read_timeout: Some(REQUEST_TIMEOUT),
            ..ratchet_http::HttpConfig::default()
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(OidcError::Runtime)?;
        Ok(Provider {
            client: http.client()?,
            rt,
        })
    }

    /// GET (when `form` is `None`) or POST a form; returns the status and at most
    /// [`MAX_ANSWER`] bytes of the body.
    fn send(&self, url: &str, form: Option<&[(&str, &str)]>) -> Result<(u16, Vec<u8>), OidcError> {
        let http = |reason: String| OidcError::Http {
            url: url.to_string(),
            reason,
        };
        self.rt.block_on(async {
            let req = match form {
                None => self.client.get(url),
                Some(pairs) => {
                    let body = url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(pairs.iter())
                        .finish();
                    self.client
                        .post(url)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(body)
                }
            }
            .header("accept", "application/json")
            .timeout(REQUEST_TIMEOUT);
            let mut resp = req.send().await.map_err(|e| http(describe(&e)))?;
            let status = resp.status().as_u16();
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| http(describe(&e)))? {
                if body.len() + chunk.len() > MAX_ANSWER {
                    return Err(OidcError::Protocol {
                        url: url.to_string(),
                        reason: format!("the answer is larger than {} KiB", MAX_ANSWER / 1024),
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok((status, body))
        })
    }

    /// Reads `ISSUER/.well-known/openid-configuration` and checks it names `issuer`.
    pub fn discover(&self, issuer: &str) -> Result<Discovery, OidcError> {
        check_url("issuer", issuer)?;
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let (status, body) = self.send(&url, None)?;
        if status != 200 {
            return Err(OidcError::Protocol {
                url,
                reason: format!("HTTP {status} (is the --oidc URL the provider's issuer?)"),
            });
        }
        #[derive(Deserialize)]
        struct Doc {
            issuer: String,
            token_endpoint: String,
            device_authorization_endpoint: Option<String>,
            revocation_endpoint: Option<String>,
        }
        let doc: Doc = serde_json::from_slice(&body).map_err(|e| OidcError::Protocol {
            url: url.clone(),
            reason: format!("not a discovery document: {e}"),
        })?;
        if doc.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(OidcError::IssuerMismatch {
                url,
                expected: issuer.to_string(),
                found: escape_short(&doc.issuer),
            });
        }
        check_url("token endpoint", &doc.token_endpoint)?;
        if let Some(d) = &doc.device_authorization_endpoint {
            check_url("device authorization endpoint", d)?;
        }
        Ok(Discovery {
            issuer: doc.issuer,
            device_authorization_endpoint: doc.device_authorization_endpoint,
            token_endpoint: doc.token_endpoint,
            revocation_endpoint: doc.revocation_endpoint,
        })
    }

    /// Parses a token endpoint's answer: tokens on 200, the OAuth error otherwise.
    fn token_answer(
        &self,
        url: &str,
        status: u16,
        body: &[u8],
    ) -> Result<Result<TokenSet, OAuthError>, OidcError> {
        let protocol = |reason: String| OidcError::Protocol {
            url: url.to_string(),
            reason,
        };
        let a: TokenAnswer = serde_json::from_slice(body).map_err(|_| {
            protocol(format!(
                "HTTP {status}, and the answer is not a JSON token response"
            ))
        })?;
        if status != 200 || a.error.is_some() {
            return Ok(Err(OAuthError {
                error: escape_short(a.error.as_deref().unwrap_or("(no error code)")),
                description: a.error_description.as_deref().map(escape_short),
                interval: a.interval,
            }));
        }
        let access = a
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| protocol("the token response has no access_token".into()))?;
        if !a
            .token_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("bearer"))
        {
            return Err(protocol(
                "the token response's token_type is not Bearer".into(),
            ));
        }
        let now = now_secs();
        Ok(Ok(TokenSet {
            access_token: Secret::new(access),
            refresh_token: a.refresh_token.filter(|t| !t.is_empty()).map(Secret::new),
            expires_at: a.expires_in.map(|s| now.saturating_add(s)),
            received_at: now,
            token_endpoint: url.to_string(),
        }))
    }

    /// Starts a device login: asks for a user code, hands it to `show` (which tells the user
    /// where to approve it), then polls the token endpoint at the provider's interval (5 s
    /// when it names none; 5 s more on each `slow_down`) until the user approves, refuses or
    /// the code expires.
    pub fn device_login(
        &self,
        discovery: &Discovery,
        client_id: &str,
        scope: &str,
        show: &mut dyn FnMut(&UserCode),
    ) -> Result<TokenSet, OidcError> {
        let endpoint = discovery
            .device_authorization_endpoint
            .as_deref()
            .ok_or_else(|| OidcError::NoDeviceFlow {
                issuer: discovery.issuer.clone(),
            })?;
        let (status, body) = self.send(
            endpoint,
            Some(&[("client_id", client_id), ("scope", scope)]),
        )?;
        #[derive(Deserialize)]
        struct DeviceAnswer {
            device_code: Option<String>,
            user_code: Option<String>,
            verification_uri: Option<String>,
            verification_uri_complete: Option<String>,
            expires_in: Option<u64>,
            interval: Option<u64>,
            error: Option<String>,
            error_description: Option<String>,
        }
        let a: DeviceAnswer = serde_json::from_slice(&body).map_err(|_| OidcError::Protocol {
            url: endpoint.to_string(),
            reason: format!("HTTP {status}, and the answer is not a JSON device authorization"),
        })?;
        if status != 200 || a.error.is_some() {
            return Err(OidcError::Refused {
                url: endpoint.to_string(),
                error: escape_short(a.error.as_deref().unwrap_or("(no error code)")),
                description: a.error_description.as_deref().map(escape_short),
            });
        }
        let missing = |field: &str| OidcError::Protocol {
            url: endpoint.to_string(),
            reason: format!("the device authorization has no {field}"),
        };
        let device_code = a.device_code.ok_or_else(|| missing("device_code"))?;
        let code = UserCode {
            user_code: a.user_code.ok_or_else(|| missing("user_code"))?,
            verification_uri: a
                .verification_uri
                .ok_or_else(|| missing("verification_uri"))?,
            verification_uri_complete: a.verification_uri_complete,
            expires_in: Duration::from_secs(a.expires_in.unwrap_or(600)).min(MAX_DEVICE_WAIT),
        };
        show(&code);
        let deadline = std::time::Instant::now() + code.expires_in;
        let mut interval = Duration::from_secs(a.interval.unwrap_or(5).clamp(1, 60));
        let token_url = discovery.token_endpoint.as_str();
        loop {
            if std::time::Instant::now() + interval > deadline {
                return Err(OidcError::CodeExpired);
            }
            std::thread::sleep(interval);
            let (status, body) = self.send(
                token_url,
                Some(&[
                    ("grant_type", DEVICE_GRANT),
                    ("device_code", &device_code),
                    ("client_id", client_id),
                ]),
            )?;
            match self.token_answer(token_url, status, &body)? {
                Ok(tokens) => return Ok(tokens),
                Err(e) => match e.error.as_str() {
                    "authorization_pending" => {}
                    // RFC 8628 §3.5: increase the interval by 5 s for this and all later
                    // requests (or to what the provider names).
                    "slow_down" => {
                        interval = (interval + Duration::from_secs(5))
                            .max(Duration::from_secs(e.interval.unwrap_or(0)))
                            .min(Duration::from_secs(120));
                    }
                    "expired_token" => return Err(OidcError::CodeExpired),
                    _ => {
                        return Err(OidcError::Refused {
                            url: token_url.to_string(),
                            error: e.error,
                            description: e.description,
                        });
                    }
                },
            }
        }
    }

    /// Renews the access token with the refresh token (`grant_type=refresh_token`). The new
    /// set keeps the old refresh token when the provider sends no new one (no rotation).
    pub fn refresh(&self, tokens: &TokenSet, client_id: &str) -> Result<TokenSet, OidcError> {
        let url = tokens.token_endpoint.as_str();
        check_url("token endpoint", url)?;
        let Some(refresh) = &tokens.refresh_token else {
            return Err(OidcError::Refused {
                url: url.to_string(),
                error: "no refresh token".into(),
                description: Some("the provider issued none at login".into()),
            });
        };
        let (status, body) = self.send(
            url,
            Some(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.expose()),
                ("client_id", client_id),
            ]),
        )?;
        match self.token_answer(url, status, &body)? {
            Ok(mut new) => {
                if new.refresh_token.is_none() {
                    new.refresh_token = tokens.refresh_token.clone();
                }
                Ok(new)
            }
            Err(e) => Err(OidcError::Refused {
                url: url.to_string(),
                error: e.error,
                description: e.description,
            }),
        }
    }
}

/// A provider's string cut to 200 characters, control characters and quotes escaped (a
/// hostile provider cannot write to the terminal).
fn escape_short(s: &str) -> String {
    s.chars().take(200).flat_map(char::escape_debug).collect()
}

/// A reqwest error with its causes, in one line.
fn describe(e: &reqwest::Error) -> String {
    let mut s = super::cause_chain(e);
    if e.is_timeout() {
        s.push_str(" (timed out)");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(received: u64, expires: Option<u64>) -> TokenSet {
        TokenSet {
            access_token: Secret::new("at-secret"),
            refresh_token: Some(Secret::new("rt-secret")),
            expires_at: expires,
            received_at: received,
            token_endpoint: "https://idp.example/token".into(),
        }
    }

    #[test]
    fn token_sets_round_trip_and_never_print() {
        let t = set(1000, Some(1300));
        let s = t.to_secret();
        assert_eq!(TokenSet::from_secret(&s).unwrap(), t);
        assert!(TokenSet::from_secret(&Secret::new("plain-token")).is_none());
        let dbg = format!("{t:?}");
        assert!(
            !dbg.contains("at-secret") && !dbg.contains("rt-secret"),
            "{dbg}"
        );
    }

    #[test]
    fn refresh_is_due_near_expiry() {
        // 300 s lifetime: renewed in the last 30 s.
        let t = set(1000, Some(1300));
        assert!(!t.needs_refresh(1200));
        assert!(t.needs_refresh(1271));
        assert!(t.needs_refresh(5000));
        // 4 s lifetime: renewed at expiry (no margin).
        let t = set(1000, Some(1004));
        assert!(!t.needs_refresh(1003));
        assert!(t.needs_refresh(1004));
        // No expiry given: never renewed before a request.
        assert!(!set(1000, None).needs_refresh(u64::MAX / 2));
    }

    #[test]
    fn only_https_or_loopback_http() {
        assert!(check_url("issuer", "https://idp.example.com/realms/x").is_ok());
        assert!(check_url("issuer", "http://127.0.0.1:8080/").is_ok());
        assert!(check_url("issuer", "http://localhost:8080").is_ok());
        assert!(check_url("issuer", "http://[::1]:9/").is_ok());
        for bad in [
            "http://idp.example.com/",
            "ftp://idp.example.com/",
            "https://u:p@idp.example.com/",
            "not a url",
        ] {
            assert!(
                matches!(check_url("issuer", bad), Err(OidcError::InsecureUrl { .. })),
                "{bad}"
            );
        }
    }
}
