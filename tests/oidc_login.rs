//! Sign-in end to end (`ratchet registry login`, index-format.md §8.2): the OpenID Connect
//! device flow against a real provider on loopback (node-oidc-provider from npm, started by
//! tests/oidc/provider.mjs; scripts/setup.sh runs `npm ci` in tests/oidc), a registry behind nginx
//! whose `auth_request` asks the provider whether the bearer token is live, the automatic
//! refresh of an expired access token, and the plain error once the refresh token is revoked;
//! then the API key, basic and token methods reaching nginx. No secret may appear in any
//! output.
//!
//! Those commands run without a session bus (no `DBUS_SESSION_BUS_ADDRESS`, no `DISPLAY`, an
//! empty `XDG_RUNTIME_DIR`), as on a headless CI runner: the keychain is unreachable, so the
//! credentials go to credentials.json and `registry login` says why. The last test runs a real
//! Secret Service (gnome-keyring in a private `dbus-run-session`) and checks the keychain path.
//!
//! nginx (nginx-light), node (nodejs), the npm packages, dbus-run-session (dbus-daemon) and
//! gnome-keyring-daemon (gnome-keyring) are required: a missing one fails the test naming it,
//! unless `RATCHET_TEST_SKIP` lists `nginx`, `oidc` or `keychain`.

mod common;
mod static_servers;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const API_KEY: &str = "api-key-Vb81xQ";
const PASSWORD: &str = "pa55-word-Lr4";
const TOKEN: &str = "static-token-Hw3";

struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        static_servers::terminate(&mut self.0);
    }
}

fn oidc_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

/// nginx and node with the provider's npm packages, or `None` when the test skips itself.
fn tools() -> Option<(PathBuf, PathBuf)> {
    let nginx = common::tool("nginx", "nginx", "nginx-light")?;
    let node = common::tool("oidc", "node", "nodejs")?;
    if !oidc_dir()
        .join("node_modules/oidc-provider/package.json")
        .is_file()
    {
        let why = "the npm package oidc-provider is not installed in tests/oidc: run scripts/setup.sh (it runs `npm ci` there)";
        if common::opted_out("oidc") {
            common::record_skip("oidc", why);
            return None;
        }
        panic!("{why}");
    }
    Some((nginx, node))
}

/// The provider: its issuer URL and the JSON lines it logs (grants, checks).
struct Provider {
    _child: Guard,
    issuer: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Provider {
    fn start(node: &Path, access_ttl: u64) -> Provider {
        let mut child = Command::new(node)
            .arg(oidc_dir().join("provider.mjs"))
            .env("ACCESS_TTL", access_ttl.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start node");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        let v: serde_json::Value = serde_json::from_str(&first)
            .unwrap_or_else(|e| panic!("provider.mjs printed {first:?}: {e}"));
        let issuer = v["issuer"].as_str().unwrap().to_string();
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if line.starts_with('{') {
                    sink.lock().unwrap().push(line);
                }
            }
        });
        Provider {
            _child: Guard(child),
            issuer,
            log,
        }
    }

    /// How many grants of `grant_type` succeeded.
    fn grants(&self, grant_type: &str) -> usize {
        let needle = format!("\"event\":\"grant\",\"grant_type\":\"{grant_type}\"");
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(&needle))
            .count()
    }
}

/// nginx on a free port with `servers` (`{port}` replaced); returns it and its port.
fn nginx(nginx: &Path, prefix: &Path, servers: &str) -> (Guard, u16) {
    let port = static_servers::free_port();
    let p = prefix.display();
    let conf = format!(
        r#"worker_processes 1;
error_log {p}/error.log;
pid {p}/nginx.pid;
events {{ worker_connections 64; }}
http {{
  access_log {p}/access.log;
  client_body_temp_path {p}/tmp-body;
  proxy_temp_path {p}/tmp-proxy;
  fastcgi_temp_path {p}/tmp-fcgi;
  uwsgi_temp_path {p}/tmp-uwsgi;
  scgi_temp_path {p}/tmp-scgi;
{}}}
"#,
        servers.replace("{port}", &port.to_string())
    );
    std::fs::create_dir_all(prefix).unwrap();
    let conf_path = prefix.join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let child = Command::new(nginx)
        .arg("-p")
        .arg(prefix)
        .arg("-c")
        .arg(&conf_path)
        .args(["-g", "daemon off; user root;"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "nginx did not start: {}",
            std::fs::read_to_string(prefix.join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (Guard(child), port)
}

/// An unsigned copy of the sample registry whose config.json says `auth-required` (edited by
/// hand, which a signed registry's state map would refuse).
fn private_registry(dir: &Path) -> PathBuf {
    let private = common::unsigned_sample_index(dir);
    let cfg = std::fs::read_to_string(private.join("config.json"))
        .unwrap()
        .replace("\"auth-required\": false", "\"auth-required\": true");
    std::fs::write(private.join("config.json"), cfg).unwrap();
    private
}

/// `ratchet` with `RATCHET_HOME=home` and no session bus (see the module comment).
fn command(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ratchet"));
    c.args(args)
        .env("RATCHET_HOME", home)
        .env("XDG_RUNTIME_DIR", home.with_extension("runtime"))
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("RATCHET_CREDENTIAL_STORE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let _ = std::fs::create_dir_all(home.with_extension("runtime"));
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

fn ratchet(home: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut child = command(home, args, env).spawn().unwrap();
    {
        let mut i = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            i.write_all(s.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

fn all_text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Asserts that none of `secrets` appears in the command's output.
fn no_secret(o: &Output, secrets: &[&str]) {
    let t = all_text(o);
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        assert!(!t.contains(s), "a secret leaked: {t}");
    }
}

/// The stored token set of registry `name` in credentials.json: (access, refresh).
fn stored_tokens(home: &Path, name: &str) -> (String, String) {
    let creds = home.join("config/credentials.json");
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&creds).unwrap()).unwrap();
    let inner: serde_json::Value =
        serde_json::from_str(v["secrets"][name].as_str().unwrap()).unwrap();
    let set = &inner["oidc"];
    assert!(set["expires-at"].as_u64().is_some(), "{set}");
    (
        set["access-token"].as_str().unwrap().to_string(),
        set["refresh-token"].as_str().unwrap().to_string(),
    )
}

/// One GET with an `Authorization: Bearer` header; the status code.
fn status_with_bearer(port: u16, path: &str, token: &str) -> u16 {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn device_login_then_install_refresh_and_revoked_refresh_token() {
    let Some((nginx_bin, node)) = tools() else {
        return;
    };
    const ACCESS_TTL: u64 = 10;
    let provider = Provider::start(&node, ACCESS_TTL);
    let t = tempfile::tempdir().unwrap();
    let private = private_registry(t.path());
    // The registry: nginx asks the provider about every request's bearer token.
    let (_nginx, port) = nginx(
        &nginx_bin,
        &t.path().join("nginx"),
        &format!(
            r#"  server {{
    listen 127.0.0.1:{{port}};
    location /reg/ {{ auth_request /_auth; alias {}/; }}
    location = /_auth {{
      internal;
      proxy_pass {}/_check;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
    }}
  }}
"#,
            private.display(),
            provider.issuer
        ),
    );
    let reg = format!("http://127.0.0.1:{port}/reg/");
    let home = t.path().join("home");
    let o = ratchet(
        &home,
        &["registry", "add", "corp", &reg, "--kind", "private"],
        &[],
        None,
    );
    assert!(o.status.success(), "{}", all_text(&o));
    // Without a sign-in the registry refuses.
    let o = ratchet(
        &home,
        &["bundle", "info", "com.oss.json-utils", "--registry", "corp"],
        &[],
        None,
    );
    assert!(!o.status.success(), "{}", all_text(&o));

    // Device login: the code appears on stderr; the user approves it in "a browser"
    // (approve.mjs, which fills in the provider's forms); the command then stores the tokens.
    let mut child = command(
        &home,
        &[
            "registry",
            "login",
            "corp",
            "--oidc",
            &provider.issuer,
            "--client-id",
            "ratchet-cli",
        ],
        &[],
    )
    .spawn()
    .unwrap();
    drop(child.stdin.take());
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut shown = String::new();
    let code = loop {
        let mut line = String::new();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "login ended without a code: {shown}"
        );
        shown.push_str(&line);
        if let Some(rest) = line.trim_end().split("enter the code ").nth(1) {
            break rest.to_string();
        }
    };
    assert!(
        shown.contains(&format!("open {}/device", provider.issuer)),
        "{shown}"
    );
    let approved = Command::new(&node)
        .arg(oidc_dir().join("approve.mjs"))
        .arg(&provider.issuer)
        .arg(&code)
        .output()
        .unwrap();
    assert!(
        approved.status.success(),
        "{}",
        String::from_utf8_lossy(&approved.stderr)
    );
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let status = child.wait().unwrap();
    let login_text = format!("{stdout}{shown}{rest}");
    assert!(status.success(), "{login_text}");
    assert!(login_text.contains("signed in to corp"), "{login_text}");
    // Headless: the keychain is unreachable and the login says where the tokens went instead.
    assert!(
        login_text.contains("credentials.json (mode 0600)")
            && login_text.contains("no system keychain is reachable"),
        "{login_text}"
    );
    assert_eq!(
        provider.grants("urn:ietf:params:oauth:grant-type:device_code"),
        1
    );
    let (access1, refresh1) = stored_tokens(&home, "corp");
    for s in [&access1, &refresh1] {
        assert!(
            !login_text.contains(s.as_str()),
            "a token leaked: {login_text}"
        );
    }
    let cfg = std::fs::read_to_string(home.join("config/registries.json")).unwrap();
    assert!(
        cfg.contains("\"method\": \"oidc\"") && cfg.contains("\"client-id\": \"ratchet-cli\""),
        "{cfg}"
    );

    // Install with the access token.
    let install = |id: &str| {
        ratchet(
            &home,
            &["bundle", "install", id, "--registry", "corp", "-y"],
            &[],
            None,
        )
    };
    let o = install("com.oss.json-utils");
    assert!(o.status.success(), "{}", all_text(&o));
    no_secret(&o, &[access1.as_str(), refresh1.as_str()]);
    assert_eq!(status_with_bearer(port, "/reg/config.json", &access1), 200);

    // The access token expires: the provider (through nginx) refuses it, and the next command
    // renews it with the refresh token before its first request.
    std::thread::sleep(Duration::from_secs(ACCESS_TTL + 1));
    assert_eq!(status_with_bearer(port, "/reg/config.json", &access1), 401);
    let o = install("com.ratchet.core-utils");
    assert!(o.status.success(), "{}", all_text(&o));
    assert_eq!(provider.grants("refresh_token"), 1);
    let (access2, refresh2) = stored_tokens(&home, "corp");
    assert_ne!(access2, access1);
    no_secret(
        &o,
        &[&access1, &refresh1, &access2, &refresh2].map(String::as_str),
    );
    // Still valid: no second refresh.
    let o = ratchet(
        &home,
        &["bundle", "info", "com.oss.json-utils", "--registry", "corp"],
        &[],
        None,
    );
    assert!(o.status.success(), "{}", all_text(&o));
    assert_eq!(provider.grants("refresh_token"), 1);

    // The refresh token is revoked (an administrator signed the user out): once the access
    // token expires, the command says plainly to log in again.
    let revoked = Command::new(&node)
        .arg(oidc_dir().join("approve.mjs"))
        .args(["--revoke", &provider.issuer, &refresh2])
        .output()
        .unwrap();
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    std::thread::sleep(Duration::from_secs(ACCESS_TTL + 1));
    let o = ratchet(
        &home,
        &["bundle", "info", "com.oss.json-utils", "--registry", "corp"],
        &[],
        None,
    );
    assert!(!o.status.success());
    let e = all_text(&o);
    assert!(
        e.contains("registry corp: the sign-in has expired and could not be renewed")
            && e.contains("log in again with `ratchet registry login corp`")
            && e.contains("invalid_grant"),
        "{e}"
    );
    no_secret(
        &o,
        &[&access1, &refresh1, &access2, &refresh2].map(String::as_str),
    );
}

#[test]
fn api_key_basic_and_token_logins_reach_the_server_and_never_print() {
    let Some((nginx_bin, _node)) = tools() else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let private = private_registry(t.path());
    let prefix = t.path().join("nginx");
    std::fs::create_dir_all(&prefix).unwrap();
    std::fs::write(
        prefix.join("htpasswd"),
        format!("ann:{{PLAIN}}{PASSWORD}\n"),
    )
    .unwrap();
    let (_nginx, port) = nginx(
        &nginx_bin,
        &prefix,
        &format!(
            r#"  server {{
    listen 127.0.0.1:{{port}};
    location /apikey/ {{
      alias {p}/;
      if ($http_x_api_key != "{API_KEY}") {{ return 401; }}
    }}
    location /basic/ {{
      alias {p}/;
      auth_basic "ratchet";
      auth_basic_user_file {h}/htpasswd;
    }}
    location /token/ {{
      alias {p}/;
      if ($http_authorization != "Bearer {TOKEN}") {{ return 401; }}
    }}
  }}
"#,
            p = private.display(),
            h = prefix.display()
        ),
    );
    let base = format!("http://127.0.0.1:{port}");
    let home = t.path().join("home");
    let secrets = [API_KEY, PASSWORD, TOKEN];
    for (name, path) in [("keyed", "apikey"), ("partner", "basic"), ("corp", "token")] {
        let o = ratchet(
            &home,
            &[
                "registry",
                "add",
                name,
                &format!("{base}/{path}/"),
                "--kind",
                "private",
            ],
            &[],
            None,
        );
        assert!(o.status.success(), "{}", all_text(&o));
    }
    let info = |name: &str| {
        ratchet(
            &home,
            &["bundle", "info", "com.oss.json-utils", "--registry", name],
            &[],
            None,
        )
    };

    // Forcing the keychain where none is reachable: a clear error, nothing stored.
    let o = ratchet(
        &home,
        &[
            "registry",
            "login",
            "keyed",
            "--api-key",
            "--header",
            "X-API-Key",
        ],
        &[("RATCHET_CREDENTIAL_STORE", "keychain")],
        Some(&format!("{API_KEY}\n")),
    );
    assert!(!o.status.success());
    assert!(
        all_text(&o).contains("registry keyed: the system keychain cannot be used"),
        "{}",
        all_text(&o)
    );
    no_secret(&o, &secrets);
    assert!(!home.join("config/credentials.json").exists());

    // API key in a configurable header; RATCHET_CREDENTIAL_STORE=file: the file, no keychain
    // tried, so no fallback to report.
    let o = ratchet(
        &home,
        &[
            "registry",
            "login",
            "keyed",
            "--api-key",
            "--header",
            "X-API-Key",
        ],
        &[("RATCHET_CREDENTIAL_STORE", "file")],
        Some(&format!("{API_KEY}\n")),
    );
    assert!(o.status.success(), "{}", all_text(&o));
    assert!(
        all_text(&o).contains("stored the credential of keyed: stored in")
            && !all_text(&o).contains("keychain"),
        "{}",
        all_text(&o)
    );
    no_secret(&o, &secrets);
    let o = info("keyed");
    assert!(o.status.success(), "{}", all_text(&o));
    no_secret(&o, &secrets);

    // Basic: user on the command line, password on stdin; a wrong one is refused by nginx.
    let o = ratchet(
        &home,
        &["registry", "login", "partner", "--basic", "ann"],
        &[],
        Some("not-the-password\n"),
    );
    assert!(o.status.success(), "{}", all_text(&o));
    assert!(
        all_text(&o).contains("no system keychain is reachable"),
        "{}",
        all_text(&o)
    );
    let o = info("partner");
    assert!(!o.status.success());
    assert!(all_text(&o).contains("HTTP 401"), "{}", all_text(&o));
    let o = ratchet(
        &home,
        &[
            "registry", "login", "partner", "--basic", "ann", "--format", "json",
        ],
        &[],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(o.status.success(), "{}", all_text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["method"], "basic");
    assert_eq!(v["store"], "file");
    assert!(v["keychain_unreachable"].is_string(), "{v}");
    no_secret(&o, &secrets);
    let o = info("partner");
    assert!(o.status.success(), "{}", all_text(&o));
    no_secret(&o, &secrets);

    // Token (bearer).
    let o = ratchet(
        &home,
        &["registry", "login", "corp", "--token"],
        &[],
        Some(&format!("{TOKEN}\n")),
    );
    assert!(o.status.success(), "{}", all_text(&o));
    let o = info("corp");
    assert!(o.status.success(), "{}", all_text(&o));
    no_secret(&o, &secrets);

    // The methods are recorded; listing shows the stored credentials, never their values.
    let cfg = std::fs::read_to_string(home.join("config/registries.json")).unwrap();
    assert!(
        cfg.contains("\"header\": \"X-API-Key\"") && cfg.contains("\"user\": \"ann\""),
        "{cfg}"
    );
    let o = ratchet(&home, &["registry", "list", "--format", "json"], &[], None);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let list = v["registries"].as_array().unwrap();
    assert!(list.iter().all(|r| r["credential_stored"] == true), "{v}");
    no_secret(&o, &secrets);
    // Removing a registry forgets its credential.
    let o = ratchet(&home, &["registry", "remove", "corp"], &[], None);
    assert!(o.status.success());
    let creds = std::fs::read_to_string(home.join("config/credentials.json")).unwrap();
    assert!(!creds.contains(TOKEN) && creds.contains(API_KEY));
}

/// With a Secret Service running (gnome-keyring in a private session bus, as on a desktop),
/// `registry login` stores the secret in the keychain, not in credentials.json; commands find it
/// there; `registry remove` deletes it. Needs dbus-run-session (dbus-daemon) and
/// gnome-keyring-daemon (gnome-keyring); `RATCHET_TEST_SKIP=keychain` opts out.
#[test]
fn the_keychain_holds_the_credential_when_a_secret_service_runs() {
    let Some(nginx_bin) = common::tool("nginx", "nginx", "nginx-light") else {
        return;
    };
    let Some(session) = common::tool("keychain", "dbus-run-session", "dbus-daemon") else {
        return;
    };
    let Some(keyring) = common::tool("keychain", "gnome-keyring-daemon", "gnome-keyring") else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let private = private_registry(t.path());
    let (_nginx, port) = nginx(
        &nginx_bin,
        &t.path().join("nginx"),
        &format!(
            r#"  server {{
    listen 127.0.0.1:{{port}};
    location /token/ {{
      alias {}/;
      if ($http_authorization != "Bearer {TOKEN}") {{ return 401; }}
    }}
  }}
"#,
            private.display()
        ),
    );
    let home = t.path().join("home");
    // One session bus and keyring for the whole script; each step's output is framed so the
    // test can tell them apart.
    let script = r#"set -u
printf 'test-keyring-password' | "$KEYRING" --unlock --components=secrets >/dev/null
step() { echo "== $1"; shift; "$@" 2>&1; echo "== rc $?"; }
step add "$RATCHET" registry add corp "$REG" --kind private
step login sh -c 'printf "%s\n" "$SECRET" | "$RATCHET" registry login corp --token'
step file ls "$RATCHET_HOME/config"
step info "$RATCHET" bundle info com.oss.json-utils --registry corp
step list "$RATCHET" registry list --format json
step remove "$RATCHET" registry remove corp --format json
step readd "$RATCHET" registry add corp "$REG" --kind private --auth token
step list2 "$RATCHET" registry list --format json
"#;
    let o = Command::new(session)
        .args(["--", "sh", "-c", script])
        .env("KEYRING", keyring)
        .env("RATCHET", env!("CARGO_BIN_EXE_ratchet"))
        .env("RATCHET_HOME", &home)
        .env("REG", format!("http://127.0.0.1:{port}/token/"))
        .env("SECRET", TOKEN)
        .env("HOME", t.path())
        .env("XDG_DATA_HOME", t.path().join("xdg-data"))
        .env_remove("RATCHET_CREDENTIAL_STORE")
        .env_remove("DISPLAY")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let step = |name: &str| -> String {
        out.split(&format!("== {name}\n"))
            .nth(1)
            .and_then(|r| r.split("== rc ").next())
            .unwrap_or_else(|| panic!("no step {name}: {out}"))
            .to_string()
    };
    assert!(
        step("login").contains("stored the credential of corp: stored in the system keychain"),
        "{out}"
    );
    assert!(!step("file").contains("credentials.json"), "{out}");
    // Every step but `file` (ls) ran and exited 0.
    for name in ["add", "login", "info", "list", "remove", "readd", "list2"] {
        let rc = out
            .split(&format!("== {name}\n"))
            .nth(1)
            .and_then(|r| r.split("== rc ").nth(1))
            .and_then(|r| r.lines().next());
        assert_eq!(rc, Some("0"), "step {name}: {out}");
    }
    assert!(
        step("list").contains("\"credential_stored\": true"),
        "{out}"
    );
    assert!(
        step("remove").contains("\"credential_removed\": true"),
        "{out}"
    );
    assert!(
        step("list2").contains("\"credential_stored\": false"),
        "{out}"
    );
    assert!(!out.contains(TOKEN), "a secret leaked: {out}");
}
