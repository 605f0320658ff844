//! The requests a task sends through the `ratchet` import module (`task-abi.md` §4): the JSON
//! a guest writes into its memory for `ratchet.fetch` and `ratchet.command`, and the decoder
//! that turns those bytes into a request.
//!
//! The bytes come straight from a stranger's code, so decoding is kept apart from performing
//! the request (`ratchet_sandbox::host`): it is pure, needs no runtime, and is fuzzed on its own
//! (`fuzz/fuzz_targets/hostcall.rs`) without building the WebAssembly engine.

use serde::Deserialize;
use std::collections::BTreeMap;

/// A fetch request from the guest (`task-abi.md` §4.1).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchRequest {
    /// HTTP method (default `GET`).
    #[serde(default)]
    pub method: Option<String>,
    /// Absolute `http://` or `https://` URL.
    pub url: String,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body (text).
    #[serde(default)]
    pub body: Option<String>,
}

/// A command request from the guest (`task-abi.md` §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandRequest {
    /// Program name (one of the declared commands).
    pub program: String,
    /// Arguments, passed as they are (no shell).
    #[serde(default)]
    pub args: Vec<String>,
    /// Text written to the program's standard input.
    #[serde(default)]
    pub stdin: Option<String>,
}

/// Decodes a `ratchet.fetch` request; the error is the message the guest gets (kind `invalid`).
pub fn decode_fetch(request: &[u8]) -> Result<FetchRequest, String> {
    serde_json::from_slice(request).map_err(|e| format!("fetch request is not valid: {e}"))
}

/// Decodes a `ratchet.command` request; the error is the message the guest gets (kind
/// `invalid`).
pub fn decode_command(request: &[u8]) -> Result<CommandRequest, String> {
    serde_json::from_slice(request).map_err(|e| format!("command request is not valid: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_refuses() {
        let f = decode_fetch(br#"{"url":"https://a.example/","headers":{"x":"1"}}"#).unwrap();
        assert_eq!(f.url, "https://a.example/");
        assert_eq!(f.headers.get("x").map(String::as_str), Some("1"));
        assert!(f.method.is_none());
        let e = decode_fetch(br#"{"url":"u","extra":1}"#).unwrap_err();
        assert!(
            e.starts_with("fetch request is not valid: unknown field `extra`"),
            "{e}"
        );
        let c = decode_command(br#"{"program":"git","args":["status"]}"#).unwrap();
        assert_eq!(c.args, ["status"]);
        assert!(
            decode_command(b"\xff")
                .unwrap_err()
                .contains("command request is not valid")
        );
    }
}
