//! The registry client against nginx on loopback (Debian package nginx-light, installed by
//! scripts/setup.sh; a missing nginx fails these tests unless `RATCHET_TEST_SKIP` lists `nginx`,
//! see tests/common/tools.rs): a public
//! location with nginx's own ETags (304 revalidation, then offline), a token-protected location
//! and a basic-auth location of a registry whose config.json says `auth-required`. Secrets must
//! never appear in any output.

mod common;
mod static_servers;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "s3cret-token-Zq9";
const PASSWORD: &str = "pa55-word-Kx7";

struct Nginx {
    child: Child,
    port: u16,
    prefix: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        static_servers::terminate(&mut self.child);
    }
}

/// Whether the nginx tests may run: nginx (and, for the HTTPS test, openssl) is installed. A
/// missing tool fails the test naming its package, unless `RATCHET_TEST_SKIP` lists `nginx`;
/// then the skip is recorded and this is false.
fn nginx_available(with_openssl: bool) -> bool {
    common::require_tool("nginx", "nginx", "nginx-light")
        && (!with_openssl || common::require_tool("nginx", "openssl", "openssl"))
}

fn nginx_binary() -> PathBuf {
    common::tool("nginx", "nginx", "nginx-light")
        .expect("the test checks nginx_available() before starting nginx")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(prefix: &Path, public: &Path, private: &Path) -> Nginx {
    let port = free_port();
    std::fs::write(
        prefix.join("htpasswd"),
        format!("ann:{{PLAIN}}{PASSWORD}\n"),
    )
    .unwrap();
    let p = prefix.display();
    let server = format!(
        r#"  server {{
    listen 127.0.0.1:{port};
    location /public/ {{ alias {public}/; }}
    location /basic/ {{
      alias {private}/;
      auth_basic "ratchet";
      auth_basic_user_file {p}/htpasswd;
    }}
    location /token/ {{
      alias {private}/;
      if ($http_authorization != "Bearer {TOKEN}") {{ return 401; }}
    }}
  }}
"#,
        public = public.display(),
        private = private.display()
    );
    start_conf(prefix, port, &server)
}

fn start_conf(prefix: &Path, port: u16, servers: &str) -> Nginx {
    start_conf_as(prefix, port, servers, "root")
}

/// Starts nginx with `servers` in its `http` block, workers running as `user`.
fn start_conf_as(prefix: &Path, port: u16, servers: &str, user: &str) -> Nginx {
    let p = prefix.display();
    let conf = format!(
        r#"worker_processes 1;
error_log {p}/error.log;
pid {p}/nginx.pid;
events {{ worker_connections 64; }}
http {{
  log_format withproto '$request_uri $status $server_protocol $connection';
  access_log {p}/access.log;
  access_log {p}/proto.log withproto;
  client_body_temp_path {p}/tmp-body;
  proxy_temp_path {p}/tmp-proxy;
  fastcgi_temp_path {p}/tmp-fcgi;
  uwsgi_temp_path {p}/tmp-uwsgi;
  scgi_temp_path {p}/tmp-scgi;
{servers}}}
"#
    );
    let conf_path = prefix.join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let child = Command::new(nginx_binary())
        .arg("-p")
        .arg(prefix)
        .arg("-c")
        .arg(&conf_path)
        .args(["-g", &format!("daemon off; user {user};")])
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
    Nginx {
        child,
        port,
        prefix: prefix.to_path_buf(),
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let openssl = common::tool("nginx", "openssl", "openssl")
        .expect("the test checks nginx_available(true) before running openssl");
    let st = Command::new(openssl)
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("cannot run openssl");
    assert!(st.success(), "openssl {args:?} failed");
}

/// HTTPS with HTTP/2 (ALPN) against nginx with a certificate from a test CA, trusted through
/// RATCHET_CA_FILE; without it the certificate is refused.
#[test]
fn nginx_https_http2_with_a_private_ca() {
    if !nginx_available(true) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let prefix = t.path().join("nginx");
    std::fs::create_dir_all(&prefix).unwrap();
    let d = prefix.as_path();
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=ratchet test CA",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        d.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
    let public = common::sample_index_for_http(t.path());
    let port = free_port();
    let server = format!(
        r#"  server {{
    listen 127.0.0.1:{port} ssl http2;
    ssl_certificate {p}/leaf.pem;
    ssl_certificate_key {p}/leaf.key;
    location / {{ root {public}; }}
  }}
"#,
        p = d.display(),
        public = public.display()
    );
    let ngx = start_conf(d, port, &server);
    let url = format!("https://127.0.0.1:{}/", ngx.port);
    let home = t.path().join("home");
    let args = [
        "bundle",
        "install",
        "com.oss.json-utils",
        "--registry",
        &url,
        "-y",
    ];
    let o = ratchet(&home, &args, &[], None);
    assert!(!o.status.success());
    assert!(
        all_text(&o).to_lowercase().contains("certificate"),
        "{}",
        all_text(&o)
    );
    let ca = d.join("ca.pem");
    let o = ratchet(
        &home,
        &args,
        &[("RATCHET_CA_FILE", ca.to_str().unwrap())],
        None,
    );
    assert!(o.status.success(), "{}", all_text(&o));
    let log = std::fs::read_to_string(d.join("proto.log")).unwrap();
    assert!(
        log.contains("/archives/") && log.contains("HTTP/2.0"),
        "{log}"
    );
    assert!(!log.contains("HTTP/1.1"), "{log}");
    // HTTP/2 multiplexes: every request of the install went over one connection.
    let connections: std::collections::BTreeSet<&str> = log
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3))
        .collect();
    assert_eq!(connections.len(), 1, "{log}");
}

fn ratchet(home: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ratchet"));
    c.args(args)
        .env("RATCHET_HOME", home)
        .env_remove("RATCHET_REGISTRY_CORP_TOKEN")
        // Never the developer's own keychain: the test reads credentials.json.
        .env("RATCHET_CREDENTIAL_STORE", "file")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
    {
        let mut i = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            i.write_all(s.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

/// `ratchet bundle install ID --registry URL -y`, no extra environment, empty stdin.
fn install(home: &Path, id: &str, url: &str) -> Output {
    ratchet(
        home,
        &["bundle", "install", id, "--registry", url, "-y"],
        &[],
        None,
    )
}

fn all_text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn no_secret(o: &Output) {
    let t = all_text(o);
    for s in [TOKEN, PASSWORD, "wrong-token-123"] {
        assert!(!t.contains(s), "a secret leaked: {t}");
    }
}

#[test]
fn nginx_registry_with_etags_offline_and_auth() {
    if !nginx_available(false) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let prefix = t.path().join("nginx");
    std::fs::create_dir_all(&prefix).unwrap();
    let public = t.path().join("public");
    std::fs::rename(common::sample_index_for_http(t.path()), &public).unwrap();
    // Unsigned: its config.json is edited by hand (a signed registry's state map refuses that).
    let private = t.path().join("private");
    std::fs::rename(common::unsigned_sample_index(t.path()), &private).unwrap();
    let cfg = std::fs::read_to_string(private.join("config.json"))
        .unwrap()
        .replace("\"auth-required\": false", "\"auth-required\": true");
    std::fs::write(private.join("config.json"), cfg).unwrap();
    let ngx = start(&prefix, &public, &private);
    let base = format!("http://127.0.0.1:{}", ngx.port);
    let home = t.path().join("home");

    // Public: install; a warm install sends no request (installed.json and ratchet.lock say
    // it all); an update revalidates with nginx's ETags (304s) and downloads no archive;
    // offline works from the cache and names what is missing.
    let public_url = format!("{base}/public/");
    let o = install(&home, "com.example.data-processing", &public_url);
    assert!(o.status.success(), "{}", all_text(&o));
    let log = || std::fs::read_to_string(ngx.prefix.join("access.log")).unwrap_or_default();
    let archives_before = log().matches("/archives/").count();
    assert_eq!(archives_before, 3);
    let requests_before = log().lines().count();
    let o = install(&home, "com.example.data-processing", &public_url);
    assert!(all_text(&o).contains("nothing to do"), "{}", all_text(&o));
    assert_eq!(log().lines().count(), requests_before, "{}", log());
    let o = ratchet(
        &home,
        &["bundle", "update", "--registry", &public_url, "-y"],
        &[],
        None,
    );
    assert!(all_text(&o).contains("nothing to do"), "{}", all_text(&o));
    // The signed timestamp is unchanged: one request, and every other file from the cache.
    let sent: Vec<String> = log()
        .lines()
        .skip(requests_before)
        .map(str::to_string)
        .collect();
    assert_eq!(sent.len(), 1, "{}", log());
    assert!(sent[0].contains("GET /public/timestamp "), "{}", log());
    assert_eq!(log().matches("/archives/").count(), archives_before);
    let o = ratchet(
        &home,
        &[
            "bundle",
            "deps",
            "com.example.data-processing",
            "--registry",
            &public_url,
            "--offline",
        ],
        &[],
        None,
    );
    assert!(o.status.success(), "{}", all_text(&o));
    let o = ratchet(
        &home,
        &[
            "bundle",
            "deps",
            "com.templates.devops",
            "--registry",
            &public_url,
            "--offline",
        ],
        &[],
        None,
    );
    assert!(!o.status.success());
    assert!(
        all_text(&o).contains("offline: the index of com.templates.devops"),
        "{}",
        all_text(&o)
    );

    // Token: no credential, a wrong one (login from stdin), then the right one from the env.
    let o = ratchet(
        &home,
        &[
            "registry",
            "add",
            "corp",
            &format!("{base}/token/"),
            "--kind",
            "private",
            "--auth",
            "token",
        ],
        &[],
        None,
    );
    assert!(o.status.success(), "{}", all_text(&o));
    let install = [
        "bundle",
        "install",
        "com.oss.json-utils",
        "--registry",
        "corp",
        "-y",
    ];
    let o = ratchet(&home, &install, &[], None);
    assert!(!o.status.success());
    assert!(
        all_text(&o).contains("ratchet registry login corp"),
        "{}",
        all_text(&o)
    );
    let o = ratchet(
        &home,
        &["registry", "login", "corp"],
        &[],
        Some("wrong-token-123\n"),
    );
    assert!(o.status.success(), "{}", all_text(&o));
    no_secret(&o);
    let creds = home.join("config/credentials.json");
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let o = ratchet(&home, &install, &[], None);
    assert!(!o.status.success());
    let e = all_text(&o);
    assert!(
        e.contains("HTTP 401") && e.contains("ratchet registry login corp"),
        "{e}"
    );
    no_secret(&o);
    let o = ratchet(
        &home,
        &install,
        &[("RATCHET_REGISTRY_CORP_TOKEN", TOKEN)],
        None,
    );
    assert!(o.status.success(), "{}", all_text(&o));
    no_secret(&o);
    let o = ratchet(&home, &["registry", "list"], &[], None);
    assert!(
        all_text(&o).contains("credential stored"),
        "{}",
        all_text(&o)
    );
    no_secret(&o);

    // Basic auth: the password from `login` on stdin.
    let o = ratchet(
        &home,
        &[
            "registry",
            "add",
            "partner",
            &format!("{base}/basic/"),
            "--kind",
            "partner",
            "--auth",
            "basic",
            "--user",
            "ann",
        ],
        &[],
        None,
    );
    assert!(o.status.success(), "{}", all_text(&o));
    let install = [
        "bundle",
        "install",
        "com.ratchet.legacy-json",
        "--registry",
        "partner",
        "-y",
    ];
    let o = ratchet(
        &home,
        &["registry", "login", "partner"],
        &[],
        Some("not-it\n"),
    );
    assert!(o.status.success());
    let o = ratchet(&home, &install, &[], None);
    assert!(
        all_text(&o).contains("ratchet registry login partner"),
        "{}",
        all_text(&o)
    );
    let o = ratchet(
        &home,
        &["registry", "login", "partner"],
        &[],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(o.status.success());
    let o = ratchet(&home, &install, &[], None);
    assert!(o.status.success(), "{}", all_text(&o));
    no_secret(&o);
    // The credential command is used too.
    let o = ratchet(
        &home,
        &[
            "registry",
            "add",
            "corp",
            &format!("{base}/token/"),
            "--auth",
            "token",
            "--credential-command",
            &format!("echo {TOKEN}"),
        ],
        &[],
        None,
    );
    assert!(o.status.success());
    let o = ratchet(
        &home,
        &["bundle", "info", "com.oss.json-utils", "--registry", "corp"],
        &[],
        None,
    );
    assert!(o.status.success(), "{}", all_text(&o));
    no_secret(&o);
    // The registry's URL (as a lockfile records it) finds its name and credential too.
    let o = ratchet(
        &home,
        &[
            "bundle",
            "info",
            "com.oss.json-utils",
            "--registry",
            &format!("{base}/token/"),
        ],
        &[],
        None,
    );
    assert!(o.status.success(), "{}", all_text(&o));
    no_secret(&o);
}

/// One plain HTTP/1.1 GET; returns the status line and headers (lower-cased names) and the
/// body length.
fn raw_get(port: u16, path: &str, extra: &str) -> (String, Vec<(String, String)>) {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: registry.example.com\r\n{extra}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let mut lines = head.lines();
    let status = lines.next().unwrap_or("").to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers)
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The nginx block of `index-format.md` §6.9, unchanged but for its port and root, serves a
/// registry freshly written by the publish tool, with nginx's workers running as `nobody`
/// (so every file must be world-readable), with the documented headers.
#[test]
fn the_documented_nginx_config_serves_a_freshly_published_registry() {
    use std::os::unix::fs::PermissionsExt;
    if !nginx_available(false) {
        return;
    }
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("index-format.md"))
            .unwrap();
    let block = doc
        .split("```nginx\n")
        .nth(1)
        .and_then(|r| r.split("```").next())
        .expect("index-format.md has an nginx block");
    let t = tempfile::tempdir().unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let reg = t.path().join("reg");
    ratchet_publish::Registry::init(
        &reg,
        "doc",
        ratchet_formats::index::RegistryKind::Public,
        None,
    )
    .unwrap();
    // Publish two sample archives with the tool itself.
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-index");
    let key = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-keys/sample-author.pub");
    for (id, file) in [
        (
            "com.ratchet.core-utils",
            "com.ratchet.core-utils-1.0.0.rbundle",
        ),
        ("com.oss.json-utils", "com.oss.json-utils-1.2.0.rbundle"),
    ] {
        let line = std::fs::read_to_string(sample.join(ratchet_formats::index::index_path(
            &ratchet_formats::manifest::BundleId::parse(id).unwrap(),
        )))
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
        let sha = v["sha256"].as_str().unwrap();
        let named = t.path().join(file);
        std::fs::copy(
            sample.join(ratchet_formats::index::archive_path(sha)),
            &named,
        )
        .unwrap();
        let o = ratchet(
            &t.path().join("publisher"),
            &[
                "bundle",
                "publish",
                named.to_str().unwrap(),
                "--registry",
                reg.to_str().unwrap(),
                "--owner-key",
                key.to_str().unwrap(),
            ],
            &[],
            None,
        );
        assert!(o.status.success(), "{}", all_text(&o));
    }
    let prefix = t.path().join("nginx");
    std::fs::create_dir_all(&prefix).unwrap();
    let port = free_port();
    let server = block
        .replace("listen 80;", &format!("listen 127.0.0.1:{port};"))
        .replace(
            "root /srv/ratchet-registry;",
            &format!("root {};", reg.display()),
        );
    let _nginx = start_conf_as(&prefix, port, &server, "nobody nogroup");

    let home = t.path().join("home");
    let url = format!("http://127.0.0.1:{port}/");
    let o = install(&home, "com.oss.json-utils", &url);
    assert!(o.status.success(), "{}", all_text(&o));

    let (st, h) = raw_get(port, "/config.json", "");
    assert!(st.contains("200"), "{st}");
    assert_eq!(header(&h, "content-type"), Some("application/json"));
    assert_eq!(header(&h, "cache-control"), Some("public, max-age=300"));
    let idx = format!(
        "/{}",
        ratchet_formats::index::index_path(
            &ratchet_formats::manifest::BundleId::parse("com.oss.json-utils").unwrap()
        )
    );
    let (st, h) = raw_get(port, &idx, "Accept-Encoding: gzip\r\n");
    assert!(st.contains("200"), "{st}");
    assert_eq!(header(&h, "content-type"), Some("application/json"));
    assert_eq!(
        header(&h, "cache-control"),
        Some("public, max-age=60, must-revalidate")
    );
    assert!(header(&h, "etag").is_some());
    let line = std::fs::read_to_string(reg.join(&idx[1..])).unwrap();
    // The first version line (after the metadata line, index-format.md §6.3.1).
    let v: serde_json::Value =
        serde_json::from_str(line.lines().find(|l| l.starts_with(r#"{"v":1,"#)).unwrap()).unwrap();
    let (st, h) = raw_get(
        port,
        &format!(
            "/{}",
            ratchet_formats::index::archive_path(v["sha256"].as_str().unwrap())
        ),
        "",
    );
    assert!(st.contains("200"), "{st}");
    assert_eq!(
        header(&h, "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(header(&h, "content-type"), Some("application/gzip"));
    // names.txt: ranges work even when the client accepts gzip.
    let (st, _) = raw_get(
        port,
        "/names.txt",
        "Range: bytes=5-\r\nAccept-Encoding: gzip\r\n",
    );
    assert!(st.contains("206"), "{st}");
    // Never served: the publisher's lock and half-written files.
    std::fs::write(reg.join("index/.tmp-partial"), "x").unwrap();
    std::fs::set_permissions(
        reg.join("index/.tmp-partial"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    assert!(raw_get(port, "/index/.tmp-partial", "").0.contains("404"));
    assert!(raw_get(port, "/.ratchet-index.lock", "").0.contains("404"));
}
