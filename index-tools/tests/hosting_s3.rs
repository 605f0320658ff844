//! `ratchet-index` on a registry in an S3-compatible bucket (index-format.md §15): every write
//! command targets `s3://BUCKET/PREFIX`, archives are created with `If-None-Match: *`, mutable
//! files are rewritten with `If-Match`, and an operation that loses the race to the marker runs
//! again. A real S3-compatible server on loopback: moto's server (`moto[server]` from PyPI,
//! which scripts/setup.sh installs into `target/moto-venv`; it answers both conditional PUTs
//! with 412). Sixteen publishers, each a separate process with its own object cache, publish
//! into one signed registry at once; nothing is lost, and the registry, read over the server's
//! plain HTTP endpoint as an installing client reads it (`ratchet-index mirror`, which checks
//! hashes, signatures, owner chains and the signed snapshot), is complete and consistent.
//!
//! A missing moto fails these tests unless `RATCHET_TEST_SKIP` lists `moto`.

mod common;

use common::{Bundle, assert_consistent};
use ratchet_formats::index::{archive_path, index_path};
use ratchet_publish::Registry;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The venv holding moto's server: `RATCHET_MOTO_VENV`, else `target/moto-venv`. `None` (the
/// skip recorded) when it is missing and `RATCHET_TEST_SKIP` lists `moto`.
fn moto_venv() -> Option<PathBuf> {
    let venv = std::env::var_os("RATCHET_MOTO_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/moto-venv"));
    if venv.join("bin/moto_server").is_file() {
        return Some(venv);
    }
    let why = format!(
        "moto's server not found at {} (RATCHET_MOTO_VENV); scripts/setup.sh installs moto[server] from PyPI there",
        venv.join("bin/moto_server").display()
    );
    if common::opted_out("moto") {
        common::record_skip("moto", &why);
        return None;
    }
    panic!("{why}, or set RATCHET_TEST_SKIP=moto to skip the tests that need it");
}

/// moto's S3 server on a free loopback port, stopped on drop.
struct Moto {
    child: std::process::Child,
    port: u16,
    venv: PathBuf,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    fn start(venv: PathBuf) -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(venv.join("bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < until,
                "moto_server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Moto { child, port, venv }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Runs a Python snippet with boto3 (from moto's venv) bound to `s3`.
    fn boto(&self, code: &str) -> String {
        let script = format!(
            "import boto3, json\ns3 = boto3.client('s3', endpoint_url='{}', aws_access_key_id='test', aws_secret_access_key='test', region_name='us-east-1')\n{code}",
            self.endpoint()
        );
        let o = Command::new(self.venv.join("bin/python"))
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        assert!(o.status.success(), "boto: {}", text(&o.stderr));
        text(&o.stdout)
    }

    /// A bucket whose objects anyone may read (as a registry's public bucket is).
    fn public_bucket(&self, name: &str) {
        self.boto(&format!(
            "s3.create_bucket(Bucket='{name}')\ns3.put_bucket_policy(Bucket='{name}', Policy=json.dumps({{'Version': '2012-10-17', 'Statement': [{{'Effect': 'Allow', 'Principal': '*', 'Action': 's3:GetObject', 'Resource': 'arn:aws:s3:::{name}/*'}}]}}))"
        ));
    }

    /// `ratchet-index ARGS` with the AWS variables of this server and `cache` as object cache.
    fn index(&self, args: &[&str], cache: &Path) -> Output {
        Command::new(env!("CARGO_BIN_EXE_ratchet-index"))
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test-secret-never-printed")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", self.endpoint())
            .env("AWS_ALLOW_HTTP", "true")
            .env("RATCHET_S3_CACHE", cache)
            .env_remove("RATCHET_KEY_PASSWORD")
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap()
    }
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed:\n{}\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    assert!(
        !text(&o.stdout).contains("test-secret") && !text(&o.stderr).contains("test-secret"),
        "a secret was printed"
    );
    text(&o.stdout)
}

#[test]
fn sixteen_concurrent_publishers_into_a_bucket_lose_nothing() {
    let Some(venv) = moto_venv() else { return };
    const PUBLISHERS: usize = 16;
    const SHARED: usize = 4;
    let t = tempfile::tempdir().unwrap();
    let work = t.path();
    let moto = Moto::start(venv);
    moto.public_bucket("registry-test");
    let url = "s3://registry-test/team/reg";
    ratchet_testkit::secret_key(&work.join("keys"), "registry");
    ratchet_testkit::secret_key(&work.join("keys"), "author");
    let key = work.join("keys/registry.key");
    let author = ratchet_trust::SecretKey::load(&work.join("keys/author.key")).unwrap();
    let author_pub = work.join("keys/author.pub");
    let k = key.to_str().unwrap();
    let o = moto.index(
        &[
            "init",
            url,
            "--kind",
            "public",
            "--origin",
            "s3.test",
            "--registry-key",
            k,
        ],
        &work.join("cache0"),
    );
    let said = ok(&o);
    assert!(said.contains(url), "{said}");
    assert!(
        !said.contains("/work-"),
        "the working directory leaked: {said}"
    );
    assert!(
        text(&o.stderr).contains("generation 1"),
        "{}",
        text(&o.stderr)
    );
    // A second init is refused: the prefix holds a registry.
    let again = moto.index(&["init", url], &work.join("cache0"));
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("already holds a registry"),
        "{}",
        text(&again.stderr)
    );

    // Twelve new ids, and four versions of one id, signed, each published by its own process.
    let archives: Vec<PathBuf> = (0..PUBLISHERS)
        .map(|i| {
            let b = if i < PUBLISHERS - SHARED {
                Bundle::new(&format!("com.example.p{i}"), "1.0.0")
            } else {
                Bundle::new(
                    "com.example.shared",
                    &format!("1.0.{}", i - (PUBLISHERS - SHARED)),
                )
            };
            b.build_signed(&work.join(format!("src{i}")), &author)
        })
        .collect();
    let handles: Vec<_> = archives
        .iter()
        .enumerate()
        .map(|(i, archive)| {
            let archive = archive.clone();
            let cache = work.join(format!("cache{}", i + 1));
            let key = key.clone();
            let author_pub = author_pub.clone();
            let endpoint = moto.endpoint();
            std::thread::spawn(move || {
                Command::new(env!("CARGO_BIN_EXE_ratchet-index"))
                    .args(["publish", url])
                    .arg(&archive)
                    .arg("--owner-key")
                    .arg(&author_pub)
                    .arg("--registry-key")
                    .arg(&key)
                    .env("AWS_ACCESS_KEY_ID", "test")
                    .env("AWS_SECRET_ACCESS_KEY", "test-secret-never-printed")
                    .env("AWS_REGION", "us-east-1")
                    .env("AWS_ENDPOINT_URL", endpoint)
                    .env("AWS_ALLOW_HTTP", "true")
                    .env("RATCHET_S3_CACHE", cache)
                    .env_remove("RATCHET_KEY_PASSWORD")
                    .output()
                    .unwrap()
            })
        })
        .collect();
    let mut conflicts = 0;
    for h in handles {
        let o = h.join().unwrap();
        let out = ok(&o);
        // Only the attempt that counts is shown: one "Published" line per publisher.
        assert_eq!(out.matches("Published ").count(), 1, "{out}");
        let err = text(&o.stderr);
        assert!(err.contains("wrote "), "{err}");
        if err.contains("conflict(s) with other publishers") {
            conflicts += 1;
        }
    }
    eprintln!("{conflicts} of {PUBLISHERS} publishers lost the race at least once and ran again");

    // Everything is there, read back through the bucket.
    let cache = work.join("check-cache");
    let listed: Value =
        serde_json::from_str(&ok(&moto.index(&["list", url, "--format", "json"], &cache))).unwrap();
    let bundles = listed["bundles"].as_array().unwrap();
    assert_eq!(bundles.len(), PUBLISHERS - SHARED + 1, "{listed}");
    for i in 0..PUBLISHERS - SHARED {
        let id = format!("com.example.p{i}");
        assert!(
            bundles.iter().any(|b| b["id"] == id.as_str()),
            "{id} lost: {listed}"
        );
    }
    let shared = bundles
        .iter()
        .find(|b| b["id"] == "com.example.shared")
        .unwrap();
    assert_eq!(
        shared["versions"].as_array().unwrap().len(),
        SHARED,
        "{listed}"
    );
    let verify = ok(&moto.index(&["verify", url], &cache));
    assert!(verify.contains("is consistent"), "{verify}");
    assert!(verify.contains(url), "{verify}");
    let log = ok(&moto.index(&["log", url], &cache));
    assert_eq!(log.matches("publish").count(), PUBLISHERS, "{log}");
    // The marker counts every operation: init and sixteen publishes.
    let marker = moto.boto(
        "print(s3.get_object(Bucket='registry-test', Key='team/reg/.ratchet-index.s3')['Body'].read().decode())",
    );
    let marker: Value = serde_json::from_str(marker.trim()).unwrap();
    assert_eq!(marker["generation"], 1 + PUBLISHERS as u64, "{marker}");
    assert!(marker.get("writing").is_none(), "{marker}");

    // Headers per file kind.
    let sha = listed["bundles"][0]["versions"][0]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let shared_index = index_path(&"com.example.shared".parse().unwrap());
    let heads = moto.boto(&format!(
        "for k in ['{}', 'names.txt', 'config.json', 'timestamp', '{shared_index}']:\n    h = s3.head_object(Bucket='registry-test', Key='team/reg/' + k)\n    print(k, '|', h['ContentType'], '|', h.get('CacheControl'))",
        archive_path(&sha)
    ));
    let lines: Vec<&str> = heads.lines().collect();
    assert!(
        lines[0].ends_with("| application/gzip | public, max-age=31536000, immutable"),
        "{heads}"
    );
    assert!(lines[1].ends_with("| public, max-age=300"), "{heads}");
    assert!(lines[3].ends_with("| no-cache"), "{heads}");
    assert!(
        lines[4].ends_with("| application/json | public, max-age=60, must-revalidate"),
        "{heads}"
    );
    // Local-only files never reach the bucket.
    let keys = moto.boto(
        "print('\\n'.join(o['Key'] for o in s3.list_objects_v2(Bucket='registry-test', Prefix='team/reg/', MaxKeys=1000)['Contents']))",
    );
    for k in keys.lines() {
        assert!(
            !k.contains(".tmp-")
                && !k.ends_with(".lock")
                && !k.ends_with(".pending")
                && !k.ends_with(".gitignore")
                && !k.ends_with(".audit.jsonl"),
            "{k} was uploaded"
        );
    }
    // Each generation's journal is there (what a working copy reads instead of a listing).
    assert!(
        keys.lines()
            .any(|k| k == format!("team/reg/.ratchet-index.s3.journal/{}", 1 + PUBLISHERS)),
        "{keys}"
    );

    // Read over the server's plain HTTP endpoint as a client reads it: `mirror` checks every
    // hash, signature and owner chain and the signed snapshot before it exposes a file.
    let http = format!("{}/registry-test/team/reg/", moto.endpoint());
    let mirror = work.join("mirror");
    let o = moto.index(
        &[
            "mirror",
            &http,
            mirror.to_str().unwrap(),
            "--format",
            "json",
        ],
        &cache,
    );
    let r: Value = serde_json::from_str(&ok(&o)).unwrap();
    assert_eq!(r["bundles"], PUBLISHERS - SHARED + 1, "{r}");
    assert_eq!(r["archives_copied"], PUBLISHERS, "{r}");
    let copy = Registry::open(&mirror).unwrap();
    assert_consistent(&copy);
    assert_eq!(
        copy.bundle(&"com.example.shared".parse().unwrap())
            .unwrap()
            .versions
            .len(),
        SHARED
    );

    // A client installs straight from the bucket over the server's HTTP endpoint (path-style
    // URL), with every check: the signed snapshot, each file's proof, hashes, signatures and
    // owner chains.
    use ratchet_client::install::{
        ApplyOptions, Client, InstalledState, PlanRequest, apply, parse_spec, plan,
    };
    let install = |home: &Path,
                   specs: &[&str]|
     -> Result<InstalledState, ratchet_client::install::InstallError> {
        let mut c = Client::open(
            ratchet_client::paths::Paths::under(home.to_path_buf()),
            ratchet_client::registry::RegistrySource::from_location(&http).unwrap(),
            false,
        )?;
        assert!(
            c.integrity.is_signed(),
            "the bucket serves a signed snapshot"
        );
        let req = PlanRequest {
            add: specs.iter().map(|s| parse_spec(s).unwrap()).collect(),
            ..Default::default()
        };
        let p = plan(&mut c, &req)?;
        apply(&c, &p, &ApplyOptions::default())?;
        InstalledState::load(&c.paths)
    };
    let home = work.join("home");
    let state = install(&home, &["com.example.shared", "com.example.p0"]).unwrap();
    assert_eq!(state.bundles.len(), 2, "{:?}", state.bundles.keys());
    let shared_id: ratchet_formats::manifest::BundleId = "com.example.shared".parse().unwrap();
    assert_eq!(state.bundles[&shared_id].version.to_string(), "1.0.3");
    // An archive object changed in the bucket behind the registry's back is refused.
    let p1 = bundles
        .iter()
        .find(|b| b["id"] == "com.example.p1")
        .unwrap();
    let sha = p1["versions"][0]["sha256"].as_str().unwrap();
    moto.boto(&format!(
        "s3.put_object(Bucket='registry-test', Key='team/reg/{}', Body=b'not the archive')",
        archive_path(sha)
    ));
    let refused = install(&work.join("home2"), &["com.example.p1"]);
    assert!(refused.is_err(), "a tampered archive was installed");
}

#[test]
fn archives_are_never_overwritten_and_refusals_write_nothing() {
    let Some(venv) = moto_venv() else { return };
    let t = tempfile::tempdir().unwrap();
    let work = t.path();
    let moto = Moto::start(venv);
    moto.public_bucket("refusals");
    let url = "s3://refusals/reg";
    let cache = work.join("cache");
    ok(&moto.index(&["init", url], &cache));
    let a = Bundle::new("com.example.tool", "1.0.0").build(&work.join("a"));
    let out = ok(&moto.index(&["publish", url, a.to_str().unwrap()], &cache));
    assert!(out.contains("Published com.example.tool 1.0.0"), "{out}");
    let snapshot = || {
        moto.boto(
            "print('\\n'.join(o['Key'] + ' ' + o['ETag'] for o in s3.list_objects_v2(Bucket='refusals', Prefix='reg/')['Contents']))",
        )
    };
    let before = snapshot();
    // The same id and version with different bytes is refused, and nothing is written.
    let b = Bundle::new("com.example.tool", "1.0.0")
        .description("other bytes")
        .build(&work.join("b"));
    let o = moto.index(&["publish", url, b.to_str().unwrap()], &cache);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("1.0.0"), "{}", text(&o.stderr));
    assert!(!text(&o.stderr).contains("/work-"), "{}", text(&o.stderr));
    assert_eq!(snapshot(), before);
    // An archive object that holds other bytes than the archive with that hash is never
    // overwritten: the publish that needs it is refused, naming the object.
    let c = Bundle::new("com.example.other", "1.0.0").build(&work.join("c"));
    let bytes = std::fs::read(&c).unwrap();
    let sha = {
        use sha2::Digest;
        let d = sha2::Sha256::digest(&bytes);
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let key = format!("reg/{}", archive_path(&sha));
    moto.boto(&format!(
        "s3.put_object(Bucket='refusals', Key='{key}', Body=b'not the archive')"
    ));
    let before = snapshot();
    let o = moto.index(&["publish", url, c.to_str().unwrap()], &cache);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(err.contains("already exists with different bytes"), "{err}");
    assert!(err.contains(&sha), "{err}");
    assert_eq!(snapshot(), before, "a refused publish wrote to the bucket");
    // The same archive again over an identical object is fine (a retried publish).
    moto.boto(&format!("s3.delete_object(Bucket='refusals', Key='{key}')"));
    ok(&moto.index(&["publish", url, c.to_str().unwrap()], &cache));
    // Yank and deprecate go through the bucket too.
    ok(&moto.index(&["yank", url, "com.example.other", "1.0.0"], &cache));
    ok(&moto.index(
        &[
            "deprecate",
            url,
            "com.example.tool",
            "--message",
            "use other",
        ],
        &cache,
    ));
    let listed: Value = serde_json::from_str(&ok(&moto.index(
        &["list", url, "--format", "json"],
        &work.join("fresh-cache"),
    )))
    .unwrap();
    let other = listed["bundles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == "com.example.other")
        .unwrap();
    assert_eq!(other["versions"][0]["yanked"], true, "{listed}");
    // `mirror` writes into a bucket like any command: a local registry copied into a prefix.
    let local = common::TestRegistry::new(&work.join("local"));
    Bundle::new("com.example.mirrored", "2.0.0").publish(&local);
    let mirror_url = "s3://refusals/mirror";
    let said = ok(&moto.index(
        &[
            "mirror",
            local.dir().to_str().unwrap(),
            mirror_url,
            "--allow-unsigned",
        ],
        &cache,
    ));
    assert!(
        said.contains(mirror_url) && !said.contains("file://s3"),
        "{said}"
    );
    let listed: Value = serde_json::from_str(&ok(&moto.index(
        &["list", mirror_url, "--format", "json"],
        &work.join("mirror-cache"),
    )))
    .unwrap();
    assert_eq!(
        listed["bundles"][0]["id"], "com.example.mirrored",
        "{listed}"
    );
    // The audit log (§13) stays on the publishing machine: never uploaded to the bucket.
    let audited = "s3://refusals/audited";
    ok(&moto.index(&["init", audited], &cache));
    let policy = work.join("policy.yaml");
    std::fs::write(&policy, "enterprise:\n  audit_log:\n    enabled: true\n").unwrap();
    ok(&moto.index(
        &["policy", "set", audited, policy.to_str().unwrap()],
        &cache,
    ));
    let d = Bundle::new("com.example.audited", "1.0.0").build(&work.join("d"));
    ok(&moto.index(&["publish", audited, d.to_str().unwrap()], &cache));
    let log = std::fs::read_to_string(cache.join("audit/refusals/audited.jsonl")).unwrap();
    assert!(
        log.contains("\"action\":\"publish\"") && log.contains("com.example.audited"),
        "{log}"
    );
    let keys = moto.boto(
        "print('\\n'.join(o['Key'] for o in s3.list_objects_v2(Bucket='refusals', Prefix='audited/')['Contents']))",
    );
    assert!(keys.contains("audited/names.txt"), "{keys}");
    assert!(!keys.contains("audit.jsonl"), "{keys}");
    // A bad URL is a clear error.
    let o = moto.index(&["list", "s3://Bad_Bucket/x"], &cache);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("not an S3 registry URL"),
        "{}",
        text(&o.stderr)
    );
}
