//! A registry behind a caching proxy (index-format.md §6.9, "Behind a CDN"): nginx serves the
//! registry with the Cache-Control headers of §6.9 (the index TTL shortened to 2 s for the
//! test) and a second nginx server caches it as a CDN would. Archives are served from the
//! cache (`X-Cache-Status: HIT`); a new publish is visible through the cache once the index TTL
//! has passed; a client installs through the cache with every check.
//!
//! nginx-light is a Debian package that scripts/setup.sh installs; a missing nginx fails this
//! test unless `RATCHET_TEST_SKIP` lists `nginx`.

mod common;

use common::text;
use ratchet_testkit::{Bundle, TestRegistry};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The index TTL of the test (seconds); the documented value is 60.
const TTL: u64 = 2;

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(nginx: &Path, prefix: &Path, registry: &Path) -> (Nginx, u16) {
    let (origin, cdn) = (free_port(), free_port());
    let p = prefix.display();
    let r = registry.display();
    let conf = format!(
        r#"worker_processes 1;
error_log {p}/error.log;
pid {p}/nginx.pid;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {p}/tmp-body;
  proxy_temp_path {p}/tmp-proxy;
  fastcgi_temp_path {p}/tmp-fcgi;
  uwsgi_temp_path {p}/tmp-uwsgi;
  scgi_temp_path {p}/tmp-scgi;
  proxy_cache_path {p}/cache levels=1:2 keys_zone=registry:1m max_size=100m inactive=7d use_temp_path=off;
  server {{
    listen 127.0.0.1:{origin};
    root {r};
    location ^~ /.ratchet-index. {{ return 404; }}
    location ~ /\.tmp- {{ return 404; }}
    location /archives/ {{ add_header Cache-Control "public, max-age=31536000, immutable"; }}
    location /index/ {{ add_header Cache-Control "public, max-age={TTL}, must-revalidate"; }}
    location /meta/ {{ add_header Cache-Control "public, max-age={TTL}, must-revalidate"; }}
    location = /names.txt {{ add_header Cache-Control "public, max-age={TTL}"; }}
    location = /config.json {{ add_header Cache-Control "public, max-age={TTL}"; }}
  }}
  server {{
    listen 127.0.0.1:{cdn};
    location / {{
      proxy_pass http://127.0.0.1:{origin};
      proxy_cache registry;
      proxy_cache_revalidate on;
      proxy_cache_lock on;
      proxy_cache_use_stale updating;
      add_header X-Cache-Status $upstream_cache_status always;
    }}
  }}
}}
"#
    );
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
    let until = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", cdn)).is_err() {
        assert!(
            Instant::now() < until,
            "nginx did not start: {}",
            std::fs::read_to_string(prefix.join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (Nginx(child), cdn)
}

/// `GET path` over HTTP/1.0: the X-Cache-Status header and the body.
fn get(port: u16, path: &str) -> (String, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: cdn.test\r\n\r\n").unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&all[..end]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{path}: {head}");
    let status = head
        .lines()
        .find_map(|l| l.strip_prefix("X-Cache-Status: "))
        .unwrap_or("")
        .to_string();
    (status, all[end + 4..].to_vec())
}

#[test]
fn archives_come_from_the_cache_and_a_publish_shows_within_the_index_ttl() {
    let Some(nginx) = common::tool("nginx", "nginx", "nginx-light") else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let key = ratchet_testkit::secret_key(&t.path().join("keys"), "author");
    let reg = TestRegistry::new(t.path());
    let base = Bundle::new("com.example.base", "1.0.0").publish_signed(&reg, &key);
    Bundle::new("com.example.app", "1.0.0")
        .dep("com.example.base", "^1")
        .publish_signed(&reg, &key);
    let prefix = t.path().join("nginx");
    std::fs::create_dir_all(&prefix).unwrap();
    let (_nginx, cdn) = start(&nginx, &prefix, &reg.dir());

    // Archives: fetched once from the origin, then from the cache.
    let archive = format!("/archives/{}/{}.rbundle", &base.sha256[..2], base.sha256);
    let (first, bytes) = get(cdn, &archive);
    assert_eq!(first, "MISS");
    assert_eq!(ratchet_formats::index::sha256_hex(&bytes), base.sha256);
    assert_eq!(get(cdn, &archive).0, "HIT");

    // An index file is cached for its TTL; a publish shows once the TTL has passed.
    let index = format!(
        "/{}",
        ratchet_formats::index::index_path(&"com.example.app".parse().unwrap())
    );
    assert_eq!(get(cdn, &index).0, "MISS");
    let published = Instant::now();
    Bundle::new("com.example.app", "1.1.0")
        .dep("com.example.base", "^1")
        .publish_signed(&reg, &key);
    let (status, body) = get(cdn, &index);
    if published.elapsed() < Duration::from_secs(TTL) {
        // Still within the TTL: the cached copy, without the new line.
        assert_eq!(status, "HIT");
        assert!(!text(&body).contains("1.1.0"));
    }
    let visible = loop {
        let (status, body) = get(cdn, &index);
        if text(&body).contains("\"1.1.0\"") {
            break (status, published.elapsed());
        }
        assert!(
            published.elapsed() < Duration::from_secs(TTL + 3),
            "the publish was not visible through the cache after {:?}",
            published.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!(
        "publish visible through the cache after {:?} ({}; TTL {TTL} s)",
        visible.1, visible.0
    );
    assert!(visible.1 >= Duration::from_secs(TTL) || visible.0 != "HIT");

    // A client installs through the cache, every check included.
    let home = t.path().join("home");
    let url = format!("http://127.0.0.1:{cdn}/");
    let o = common::install_from(&home, "com.example.app", &url);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let installed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(home.join("data/installed.json")).unwrap()).unwrap();
    assert_eq!(installed["bundles"]["com.example.app"]["version"], "1.1.0");
    // The archive of base came from the cache this time too.
    assert_eq!(get(cdn, &archive).0, "HIT");
}
