//! Search catalog figures (issue 15). Prints; asserts nothing about time.
//!
//! A generated registry of `CATALOG_BENCH_N` bundles (default 100,000) with realistic text:
//! names, descriptions, READMEs and changelogs drawn from a vocabulary with Zipf-distributed
//! frequencies, Zipf-distributed keywords, categories, authors and downloads. 50 concepts are
//! planted (5 relevant bundles each, plus distractors that only mention the words in their README
//! or mention one of the words), so the ground truth of 50 labelled queries is known.
//!
//! 1. Catalog size (files, bytes, largest shard) and rebuild time.
//! 2. Requests, round trips and bytes per query (goal <= 3 requests and <= 100 KB).
//! 3. Cold (files read from a registry directory in tmpfs) and warm (files in memory) query time.
//! 4. Quality: precision@5 and MRR of the catalog's ranking vs a naive substring match.
//! 5. Update time per publish at 1,000 and at N bundles (goal ratio <= 1.5).
//!
//! 6. Natural-language quality: 25 labelled queries phrased unlike the bundles' text (verb
//!    forms, plurals, filler words), P@5 and MRR and their requests/bytes.
//!
//! Run: `cargo bench -p ratchet-catalog --bench catalog` (`CATALOG_BENCH_ONLY=update` for
//! section 5 alone, `CATALOG_BENCH_ONLY=quality` for sections 1, 2, 4 and 6;
//! `CATALOG_BENCH_FILES=1` prints the files each labelled query fetches, on stderr).

use ratchet_catalog::doc::{DocItem, DocPrice};
use ratchet_catalog::files;
use ratchet_catalog::write::WriteStats;
use ratchet_catalog::{
    Catalog, CatalogDoc, CatalogError, CatalogStore, Change, DirStore, Fetch, MemStore, Query,
    Sort, Verified, search,
};
use ratchet_formats::manifest::{BundleId, Platform, PricingModel};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
    fn f(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

struct Zipf(Vec<f64>);
impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut acc = 0.0;
        Zipf(
            (1..=n)
                .map(|r| {
                    acc += 1.0 / (r as f64).powf(s);
                    acc
                })
                .collect(),
        )
    }
    fn sample(&self, r: &mut Rng) -> usize {
        let x = r.f() * self.0.last().unwrap();
        self.0.partition_point(|&c| c < x).min(self.0.len() - 1)
    }
}

/// Technical vocabulary, roughly most common first.
const DOMAIN: &[&str] = &[
    "data",
    "api",
    "file",
    "json",
    "http",
    "tasks",
    "workflow",
    "report",
    "text",
    "csv",
    "config",
    "cloud",
    "deploy",
    "build",
    "test",
    "email",
    "notification",
    "database",
    "sync",
    "backup",
    "log",
    "metrics",
    "alert",
    "schedule",
    "webhook",
    "docker",
    "kubernetes",
    "aws",
    "github",
    "slack",
    "pdf",
    "image",
    "upload",
    "download",
    "transform",
    "validate",
    "parse",
    "export",
    "import",
    "convert",
    "monitor",
    "queue",
    "stream",
    "batch",
    "cache",
    "storage",
    "bucket",
    "secret",
    "token",
    "auth",
    "oauth",
    "user",
    "account",
    "invoice",
    "payment",
    "stripe",
    "customer",
    "order",
    "inventory",
    "ticket",
    "jira",
    "release",
    "version",
    "changelog",
    "markdown",
    "html",
    "xml",
    "yaml",
    "template",
    "render",
    "format",
    "lint",
    "scan",
    "security",
    "vulnerability",
    "audit",
    "compliance",
    "policy",
    "archive",
    "compress",
    "zip",
    "encrypt",
    "hash",
    "sign",
    "certificate",
    "dns",
    "domain",
    "server",
    "cluster",
    "node",
    "container",
    "registry",
    "pipeline",
    "etl",
    "warehouse",
    "snowflake",
    "postgres",
    "mysql",
    "redis",
    "kafka",
    "rabbitmq",
    "sqs",
    "lambda",
    "function",
    "cron",
    "timer",
    "calendar",
    "meeting",
    "chat",
    "message",
    "sms",
    "twilio",
    "phone",
    "voice",
    "translate",
    "language",
    "spreadsheet",
    "excel",
    "sheets",
    "google",
    "drive",
    "dropbox",
    "ftp",
    "sftp",
    "ssh",
    "terraform",
    "ansible",
    "helm",
    "chart",
    "dashboard",
    "grafana",
    "prometheus",
    "trace",
    "span",
    "latency",
    "uptime",
    "health",
    "check",
    "probe",
    "rollback",
    "migration",
    "schema",
    "table",
    "column",
    "query",
    "index",
    "search",
    "elastic",
    "vector",
    "embedding",
    "model",
    "ml",
    "training",
    "inference",
    "prompt",
    "summary",
    "classify",
    "sentiment",
    "ocr",
    "scrape",
    "crawler",
    "browser",
    "screenshot",
    "thumbnail",
    "resize",
    "crop",
    "video",
    "audio",
    "transcode",
    "podcast",
    "rss",
    "feed",
    "newsletter",
    "crm",
    "salesforce",
    "hubspot",
    "lead",
    "contact",
    "campaign",
    "analytics",
    "event",
    "tracking",
    "funnel",
    "ab",
    "experiment",
    "feature",
    "flag",
    "rollout",
    "canary",
    "incident",
    "pager",
    "oncall",
    "runbook",
    "sla",
    "ledger",
    "accounting",
    "tax",
    "currency",
    "exchange",
    "rate",
    "price",
    "quote",
    "contract",
    "signature",
    "legal",
    "gdpr",
    "privacy",
    "anonymize",
    "mask",
    "redact",
    "pii",
    "geo",
    "address",
    "map",
    "weather",
    "forecast",
    "shipping",
    "tracking",
    "label",
    "barcode",
    "qr",
    "receipt",
    "expense",
    "budget",
    "forecasting",
    "hr",
    "payroll",
    "onboarding",
    "employee",
    "rotation",
    "retention",
    "cleanup",
    "dedupe",
    "merge",
    "diff",
    "patch",
    "git",
    "commit",
    "branch",
    "review",
    "comment",
    "issue",
    "label",
    "milestone",
    "sprint",
    "kanban",
    "notion",
    "confluence",
    "wiki",
    "docs",
    "digest",
    "mail",
    "smtp",
    "imap",
    "attachment",
    "folder",
];

const VERBS: &[&str] = &[
    "fetch", "send", "sync", "build", "check", "convert", "export", "import", "parse", "validate",
    "publish", "notify", "scan", "archive", "clean", "merge", "render", "upload",
];

const CATEGORIES: &[&str] = &[
    "data",
    "devops",
    "integration",
    "utilities",
    "security",
    "finance",
    "marketing",
    "communication",
    "monitoring",
    "ai",
    "productivity",
    "media",
    "sales",
    "hr",
    "legal",
    "storage",
    "testing",
    "documentation",
    "ecommerce",
    "analytics",
];

/// The 50 labelled concepts: (words planted in the relevant bundles, the query typed).
const CONCEPTS: &[(&str, &str)] = &[
    ("kafka consumer", "kafka consumer"),
    ("pdf invoice", "pdf invoice"),
    ("slack alert", "slack alert"),
    ("s3 backup", "s3 backup"),
    ("csv json", "csv json"),
    ("kubernetes rollout", "kubernetes rollout"),
    ("postgres migration", "postgres migration"),
    ("jira ticket", "jira ticket"),
    ("github release", "github release"),
    ("docker scan", "docker scan"),
    ("email digest", "email digest"),
    ("stripe webhook", "stripe webhook"),
    ("image thumbnail", "image thumbnail"),
    ("log rotation", "log rotation"),
    ("cron timer", "cron timer"),
    ("oauth token", "oauth token"),
    ("yaml lint", "yaml lint"),
    ("markdown render", "markdown render"),
    ("sms twilio", "sms twilio"),
    ("sftp upload", "sftp upload"),
    ("redis cache", "redis cache"),
    ("grafana dashboard", "grafana dashboard"),
    ("terraform plan", "terraform plan"),
    ("helm chart", "helm chart"),
    ("gdpr anonymize", "gdpr anonymize"),
    ("ocr receipt", "ocr receipt"),
    ("sentiment classify", "sentiment classify"),
    ("rss newsletter", "rss newsletter"),
    ("salesforce lead", "salesforce lead"),
    ("payroll employee", "payroll employee"),
    // One typo each (an edit after the third character).
    ("weather forecast", "weather forecst"),
    ("barcode shipping", "barcode shiping"),
    ("currency exchange", "currency exchnge"),
    ("elastic vector", "elastic vectr"),
    ("video transcode", "video transcod"),
    ("incident runbook", "incident runbok"),
    ("canary rollback", "canary rollbak"),
    ("confluence wiki", "confluenze wiki"),
    ("prometheus uptime", "prometheus uptme"),
    ("dropbox folder", "dropbox foldr"),
    // Typed as a prefix (the query is typed so far).
    ("calendar meeting", "calendar meet"),
    ("spreadsheet export", "spreadsheet exp"),
    ("screenshot browser", "screenshot brow"),
    ("snowflake warehouse", "snowflake wareh"),
    ("certificate dns", "dns certif"),
    ("budget expense", "budget expen"),
    ("hubspot campaign", "hubspot campa"),
    ("translate language", "translate langu"),
    ("podcast audio", "podcast aud"),
    ("ansible ssh", "ansible ss"),
];

/// 25 natural-language queries: (index of the concept in [`CONCEPTS`] whose 5 bundles are the
/// relevant ones, the query typed). Phrased as a user asks, not as the bundles are written:
/// plurals and verb forms of the concept words, filler words, words the bundles do not hold.
const NL_QUERIES: &[(usize, &str)] = &[
    (0, "kafka consumers for my event streams"),
    (1, "generate pdf invoices for my customers"),
    (2, "send alerts to slack when my build fails"),
    (3, "nightly backups of my database to s3"),
    (4, "turn csv files into json"),
    (5, "rollouts of deployments on kubernetes clusters"),
    (6, "run postgres migrations before deploying"),
    (7, "open jira tickets automatically for failed jobs"),
    (8, "draft github releases when a tag is pushed"),
    (9, "scanning docker images for vulnerabilities"),
    (10, "a daily digest email of what happened"),
    (11, "handle stripe webhooks for payments"),
    (12, "make thumbnails of uploaded images"),
    (13, "rotation of old logs on my servers"),
    (14, "cron timers to run jobs on a schedule"),
    (15, "refresh expired oauth tokens"),
    (16, "lint my yaml configuration files"),
    (17, "rendering markdown documents to html"),
    (18, "send sms text messages through twilio"),
    (19, "uploading reports to an sftp server"),
    (20, "caching api responses in redis"),
    (22, "planning terraform changes in pull requests"),
    (24, "anonymizing personal data for gdpr"),
    (26, "classifying the sentiment of customer reviews"),
    (28, "sync new leads into salesforce"),
];

struct Gen {
    r: Rng,
    vocab: Vec<String>,
    zv: Zipf,
    zk: Zipf,
    zc: Zipf,
    za: Zipf,
    ids: HashSet<String>,
}

impl Gen {
    fn new(seed: u64) -> Self {
        let mut vocab: Vec<String> = DOMAIN.iter().map(|s| s.to_string()).collect();
        // A long tail of rarer words (project jargon): syllable combinations.
        let syl = [
            "ka", "lo", "mi", "nu", "ra", "te", "vo", "zi", "be", "do", "fu", "ga", "he", "ji",
            "ku", "le", "mo", "ni", "po", "ri", "sa", "tu", "ve", "xo", "ya", "ze",
        ];
        let mut r = Rng(seed ^ 0xabcdef);
        let mut tail = HashSet::new();
        while tail.len() < 6000 {
            let n = 2 + r.below(2);
            let w: String = (0..n).map(|_| syl[r.below(syl.len())]).collect();
            if tail.insert(w.clone()) {
                vocab.push(w);
            }
        }
        Gen {
            r: Rng(seed),
            zv: Zipf::new(vocab.len(), 1.05),
            zk: Zipf::new(DOMAIN.len(), 1.1),
            zc: Zipf::new(CATEGORIES.len(), 1.0),
            za: Zipf::new(20_000, 1.0),
            vocab,
            ids: HashSet::new(),
        }
    }
    fn word(&mut self) -> String {
        let i = self.zv.sample(&mut self.r);
        self.vocab[i].clone()
    }
    fn words(&mut self, n: usize) -> String {
        (0..n).map(|_| self.word()).collect::<Vec<_>>().join(" ")
    }
    fn words_n(&mut self, base: usize, extra: usize) -> String {
        let k = base + self.r.below(extra);
        self.words(k)
    }
    fn keyword(&mut self) -> String {
        DOMAIN[self.zk.sample(&mut self.r)].to_string()
    }
    fn fresh_id(&mut self, a: &str, b: &str) -> BundleId {
        let org = format!("dev{}", self.za.sample(&mut self.r));
        let tld = ["com", "io", "org", "dev"][self.r.below(4)];
        let mut id = format!("{tld}.{org}.{a}-{b}");
        let mut n = 2;
        while !self.ids.insert(id.clone()) {
            id = format!("{tld}.{org}.{a}-{b}{n}");
            n += 1;
        }
        BundleId::parse(&id).expect("generated ids are valid")
    }

    /// A background bundle.
    fn doc(&mut self) -> CatalogDoc {
        let (a, b) = (self.keyword(), self.word());
        let id = self.fresh_id(&a, &b);
        let name = format!("{a} {b} {}", self.word());
        let verb = VERBS[self.r.below(VERBS.len())];
        let description = format!(
            "{verb}s {} for {}. Supports {}, {} and {}.",
            self.words_n(4, 6),
            self.words_n(2, 3),
            self.word(),
            self.word(),
            self.words(2)
        );
        self.finish(id, name, description)
    }

    fn finish(&mut self, id: BundleId, name: String, description: String) -> CatalogDoc {
        let r = &mut self.r;
        let pricing = match r.below(100) {
            0..80 => PricingModel::Free,
            80..88 => PricingModel::Freemium,
            88..95 => PricingModel::Paid,
            _ => PricingModel::Subscription,
        };
        let price = (pricing != PricingModel::Free).then(|| DocPrice {
            amount: (1 + r.below(500)) as f64 - 0.01,
            currency: ["USD", "EUR"][r.below(2)].into(),
            period: if pricing == PricingModel::Subscription {
                "monthly".into()
            } else {
                "one-time".into()
            },
        });
        let verified = match r.below(100) {
            0..85 => Verified::None,
            85..97 => Verified::Community,
            _ => Verified::Official,
        };
        let platforms = match r.below(10) {
            0..7 => vec![],
            7 => vec![Platform::Linux],
            8 => vec![Platform::Linux, Platform::Macos],
            _ => vec![Platform::Windows],
        };
        let license = [
            "MIT",
            "Apache-2.0",
            "MIT OR Apache-2.0",
            "BSD-3-Clause",
            "GPL-3.0-only",
            "MPL-2.0",
            "PROPRIETARY",
        ][[0, 0, 0, 1, 1, 2, 2, 3, 4, 5, 6][r.below(11)]]
        .to_string();
        let nk = 3 + self.r.below(5);
        let keywords = (0..nk).map(|_| self.keyword()).collect();
        let categories = (0..1 + self.r.below(2))
            .map(|_| CATEGORIES[self.zc.sample(&mut self.r)].to_string())
            .collect();
        let items = (0..1 + self.r.below(4))
            .map(|_| {
                let verb = VERBS[self.r.below(VERBS.len())];
                DocItem {
                    name: format!("{verb}-{}", self.keyword()),
                    description: self.words_n(6, 5),
                    tags: (0..self.r.below(3)).map(|_| self.keyword()).collect(),
                }
            })
            .collect();
        let readme = self.words_n(80, 120);
        let changelog = self.words_n(20, 20);
        let rank = 1 + self.r.below(100_000);
        let day = self.r.below(900);
        CatalogDoc {
            id,
            name,
            version: format!(
                "{}.{}.{}",
                self.r.below(4),
                self.r.below(10),
                self.r.below(10)
            ),
            description,
            keywords,
            categories,
            authors: vec![format!("Author {}", self.za.sample(&mut self.r))],
            license,
            pricing,
            price,
            verified,
            platforms,
            ratchet_version: Some(">=1.0.0".into()),
            items,
            readme,
            changelog,
            updated: humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + Duration::from_secs(1_704_067_200 + day as u64 * 86_400),
            )
            .to_string(),
            downloads: (2_000_000.0 / (rank as f64).powf(1.1)) as u64,
            trend: self.r.f() * 6.0 - 3.0,
            rating: (self.r.below(10) < 3).then(|| 2.0 + self.r.f() * 3.0),
            deprecated: self.r.below(50) == 0,
        }
    }

    /// A bundle about `concept`: its name, keywords and description say so.
    fn relevant(&mut self, concept: &str) -> CatalogDoc {
        let w: Vec<&str> = concept.split(' ').collect();
        let id = self.fresh_id(w[0], w[1]);
        let name = format!("{} {}", concept, self.word());
        let description = format!(
            "{} {} {} for {}. {}.",
            VERBS[self.r.below(VERBS.len())],
            concept,
            self.words(3),
            self.words(2),
            self.words(4)
        );
        let mut d = self.finish(id, name, description);
        d.keywords.truncate(2);
        d.keywords.extend(w.iter().map(|s| s.to_string()));
        d.deprecated = false;
        d
    }

    /// A bundle that only mentions `concept` in its README (many times), or one of its words.
    fn distractor(&mut self, concept: &str, k: usize) -> CatalogDoc {
        let mut d = self.doc();
        let w: Vec<&str> = concept.split(' ').collect();
        if k.is_multiple_of(2) {
            d.readme = format!(
                "{} {concept} {} {concept} {} {concept} {concept}",
                d.readme,
                self.words(10),
                self.words(10)
            );
        } else {
            d.description = format!("{} {}", w[k % w.len()], d.description);
            d.readme = format!("{} {}", d.readme, w[(k + 1) % w.len()]);
        }
        d
    }
}

/// The generated registry: documents in publish order and, per concept, the relevant ids.
fn generate(n: usize, seed: u64, plant: bool) -> (Vec<CatalogDoc>, Vec<HashSet<String>>) {
    let mut g = Gen::new(seed);
    let mut docs: Vec<CatalogDoc> = Vec::with_capacity(n);
    let mut truth = vec![HashSet::new(); CONCEPTS.len()];
    let mut planted = Vec::new();
    if plant {
        for (i, (concept, _)) in CONCEPTS.iter().enumerate() {
            for _ in 0..5 {
                let d = g.relevant(concept);
                truth[i].insert(d.id.to_string());
                planted.push(d);
            }
            for k in 0..6 {
                planted.push(g.distractor(concept, k));
            }
        }
    }
    while docs.len() + planted.len() < n {
        docs.push(g.doc());
    }
    for d in planted {
        let at = g.r.below(docs.len() + 1);
        docs.insert(at, d);
    }
    (docs, truth)
}

/// Counts round trips, requests and bytes; keeps files in memory when `cache` is set.
struct Counting<F> {
    inner: F,
    rounds: usize,
    requests: usize,
    bytes: usize,
    cache: Option<HashMap<String, Option<Vec<u8>>>>,
}

impl<F: Fetch> Fetch for Counting<F> {
    fn fetch(&mut self, files: &[(String, u64)]) -> Vec<Result<Option<Vec<u8>>, CatalogError>> {
        self.rounds += 1;
        self.requests += files.len();
        if std::env::var("CATALOG_BENCH_FILES").is_ok() {
            eprintln!(
                "  fetch {:?}",
                files.iter().map(|f| &f.0).collect::<Vec<_>>()
            );
        }
        let out: Vec<_> = match &mut self.cache {
            Some(c) => {
                let missing: Vec<(String, u64)> = files
                    .iter()
                    .filter(|(p, _)| !c.contains_key(p))
                    .cloned()
                    .collect();
                for ((p, _), got) in missing.iter().zip(self.inner.fetch(&missing)) {
                    c.insert(p.clone(), got.unwrap_or(None));
                }
                files.iter().map(|(p, _)| Ok(c[p].clone())).collect()
            }
            None => self.inner.fetch(files),
        };
        for r in out.iter().flatten().flatten() {
            self.bytes += r.len();
        }
        out
    }
}

fn counting<F: Fetch>(inner: F, cache: bool) -> Counting<F> {
    Counting {
        inner,
        rounds: 0,
        requests: 0,
        bytes: 0,
        cache: cache.then(HashMap::new),
    }
}

fn naive_text(d: &CatalogDoc) -> String {
    let mut s = format!(
        "{} {} {} {} {} {}",
        d.id,
        d.name,
        d.description,
        d.keywords.join(" "),
        d.readme,
        d.changelog
    );
    for i in &d.items {
        s.push(' ');
        s.push_str(&i.name);
        s.push(' ');
        s.push_str(&i.description);
    }
    s.to_lowercase()
}

/// Naive search: bundles containing every query word as a substring, most occurrences first.
fn naive(texts: &[(String, String)], q: &str) -> Vec<String> {
    let words: Vec<String> = q
        .to_lowercase()
        .split_whitespace()
        .map(String::from)
        .collect();
    let mut hits: Vec<(usize, usize)> = texts
        .iter()
        .enumerate()
        .filter_map(|(i, (_, t))| {
            let mut n = 0;
            for w in &words {
                let c = t.matches(w.as_str()).count();
                if c == 0 {
                    return None;
                }
                n += c;
            }
            Some((i, n))
        })
        .collect();
    hits.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    hits.into_iter()
        .take(10)
        .map(|(i, _)| texts[i].0.clone())
        .collect()
}

fn quality(results: &[Vec<String>], truth: &[HashSet<String>]) -> (f64, f64) {
    let mut p5 = 0.0;
    let mut mrr = 0.0;
    for (r, t) in results.iter().zip(truth) {
        p5 += r.iter().take(5).filter(|id| t.contains(*id)).count() as f64 / 5.0;
        if let Some(i) = r.iter().position(|id| t.contains(id)) {
            mrr += 1.0 / (i + 1) as f64;
        }
    }
    let n = results.len() as f64;
    (p5 / n, mrr / n)
}

/// Prints one query kind's requests and bytes, median and worst, beside the goal.
fn report(kind: &str, reqs: &[f64], bytes: &[f64]) {
    let within = reqs
        .iter()
        .zip(bytes)
        .filter(|(r, b)| **r <= 3.0 && **b <= 100_000.0)
        .count();
    println!(
        "  {kind:<8} requests median {:>4} worst {:>4} (goal <= 3) | bytes median {:>6.1} KB worst {:>6.1} KB (goal <= 100 KB) | within both: {within}/{}",
        pct(&mut reqs.to_vec(), 0.5),
        pct(&mut reqs.to_vec(), 1.0),
        pct(&mut bytes.to_vec(), 0.5) / 1e3,
        pct(&mut bytes.to_vec(), 1.0) / 1e3,
        reqs.len()
    );
}

/// Facet-filtered queries: text with a facet or flag filter, and listings of facet values.
fn facet_queries() -> Vec<Query> {
    let q = |text: &str, f: &dyn Fn(&mut Query)| {
        let mut q = Query {
            limit: 10,
            ..Query::text(text)
        };
        f(&mut q);
        q
    };
    vec![
        q("docker deploy", &|q| q.categories = vec!["devops".into()]),
        q("docker", &|q| q.categories = vec!["devops".into()]),
        q("json", &|q| q.licenses = vec!["Apache-2.0".into()]),
        q("slack", &|q| {
            q.verified = true;
            q.price = Some(ratchet_catalog::PriceFilter::Free);
        }),
        q("stream", &|q| q.tags = vec!["kafka".into()]),
        q("invoice", &|q| q.authors = vec!["Author 1".into()]),
        q("report", &|q| q.platform = Some(Platform::Windows)),
        q("", &|q| q.categories = vec!["finance".into()]),
        q("", &|q| q.licenses = vec!["MIT".into()]),
        q("", &|q| q.tags = vec!["kafka".into()]),
        q("", &|q| q.verified = true),
    ]
}

/// Listings without text beyond what the facet heads carry inline: later pages, a page of 50,
/// two kinds at once.
fn listing_queries() -> Vec<Query> {
    let q = |f: &dyn Fn(&mut Query)| {
        let mut q = Query {
            limit: 10,
            ..Query::text("")
        };
        f(&mut q);
        q
    };
    vec![
        q(&|q| {
            q.categories = vec!["finance".into()];
            q.offset = 10;
        }),
        q(&|q| {
            q.categories = vec!["finance".into()];
            q.offset = 40;
        }),
        q(&|q| {
            q.licenses = vec!["MIT".into()];
            q.limit = 50;
        }),
        q(&|q| {
            q.categories = vec!["devops".into()];
            q.licenses = vec!["MIT".into()];
        }),
        q(&|q| {
            q.tags = vec!["kafka".into()];
            q.verified = true;
        }),
    ]
}

/// Queries in each non-relevance sort, of one and two words.
fn sort_queries() -> Vec<Query> {
    let q = |text: &str, sort: Sort| Query {
        sort,
        limit: 10,
        ..Query::text(text)
    };
    vec![
        q("json", Sort::Downloads),
        q("kafka", Sort::Updated),
        q("pdf", Sort::Trending),
        q("slack", Sort::Name),
        q("report", Sort::Rating),
        q("docker deploy", Sort::Downloads),
        q("csv export", Sort::Updated),
        q("stream", Sort::Trending),
    ]
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn write_dir(store: &MemStore, dir: &std::path::Path) {
    let mut d = DirStore::new(dir, false);
    for (p, b) in &store.files {
        d.write(p, b).unwrap();
    }
}

fn tmp_base() -> std::path::PathBuf {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() && std::env::var_os("RATCHET_BENCH_ON_DISK").is_none() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// Mean update time per publish over `k` re-publishes and `k` new bundles, in memory and in a
/// registry directory (atomic, fsynced writes).
fn update_times(n: usize, k: usize) -> (Duration, Duration, WriteStats) {
    let (docs, _) = generate(n, 7, false);
    let mut store = MemStore::default();
    Catalog::rebuild(
        &mut store,
        docs.iter().map(|d| (d.id.clone(), Some(d.clone()))),
    )
    .unwrap();
    let tmp = tempfile::tempdir_in(tmp_base()).unwrap();
    write_dir(&store, tmp.path());
    let mut dir = DirStore::new(tmp.path(), true);
    let mut g = Gen::new(99);
    g.ids = docs.iter().map(|d| d.id.to_string()).collect();
    let mut changes = Vec::new();
    for i in 0..k {
        let mut d = g.doc();
        d.id = docs[(i * 7919) % docs.len()].id.clone();
        changes.push(Change::Upsert(Box::new(d)));
        changes.push(Change::Upsert(Box::new(g.doc())));
    }
    let mut mem_t = Duration::ZERO;
    let mut dir_t = Duration::ZERO;
    let mut stats = WriteStats::default();
    for c in &changes {
        let t = Instant::now();
        let s = Catalog::update(&mut store, c).unwrap();
        mem_t += t.elapsed();
        stats.files += s.files;
        stats.bytes += s.bytes;
        let t = Instant::now();
        Catalog::update(&mut dir, c).unwrap();
        dir_t += t.elapsed();
    }
    let m = changes.len() as u32;
    stats.files /= changes.len();
    stats.bytes /= changes.len();
    (mem_t / m, dir_t / m, stats)
}

fn main() {
    let n: usize = std::env::var("CATALOG_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    println!("== ratchet-catalog: generated registry of {n} bundles ==");
    let only_quality = std::env::var("CATALOG_BENCH_ONLY").as_deref() == Ok("quality");
    if std::env::var("CATALOG_BENCH_ONLY").as_deref() == Ok("update") {
        update_section(n);
        return;
    }
    let t = Instant::now();
    let (docs, truth) = generate(n, 1, true);
    println!("generated in {:.1?}", t.elapsed());

    // 1. Build and size.
    let mut store = MemStore::default();
    let t = Instant::now();
    let stats = Catalog::rebuild(
        &mut store,
        docs.iter().map(|d| (d.id.clone(), Some(d.clone()))),
    )
    .unwrap();
    println!(
        "rebuild: {:.1?}, {} files, {:.1} MB",
        t.elapsed(),
        stats.files,
        stats.bytes as f64 / 1e6
    );
    let mut by_kind: HashMap<&str, (usize, usize, usize)> = HashMap::new();
    for (p, b) in &store.files {
        let kind = p.split('/').nth(1).unwrap_or("root");
        let e = by_kind.entry(kind).or_default();
        e.0 += 1;
        e.1 += b.len();
        e.2 = e.2.max(b.len());
    }
    let mut kinds: Vec<_> = by_kind.into_iter().collect();
    kinds.sort();
    for (k, (files, bytes, max)) in kinds {
        println!(
            "  {k:<10} {files:>7} files {:>9.1} MB  largest {:>6.1} KB",
            bytes as f64 / 1e6,
            max as f64 / 1e3
        );
    }
    let root = files::parse_root(&store.files[files::ROOT_PATH]).unwrap();
    let served: usize = store
        .files
        .iter()
        .filter(|(p, _)| !p.starts_with("catalog/fwd/"))
        .map(|(_, b)| b.len())
        .sum();
    println!(
        "  searchable {} bundles; catalog size {:.1} MB ({:.1} MB without the writers' forward files)",
        root.docs,
        store.files.values().map(Vec::len).sum::<usize>() as f64 / 1e6,
        served as f64 / 1e6
    );

    // 2 + 4. Labelled queries: requests, bytes, quality.
    let mut queries: Vec<Query> = CONCEPTS
        .iter()
        .map(|(_, q)| Query {
            limit: 10,
            ..Query::text(q)
        })
        .collect();
    let mut ours = Vec::new();
    let (mut reqs, mut bytes, mut rounds) = (Vec::new(), Vec::new(), Vec::new());
    for q in &queries {
        let mut f = counting(store.clone_files_view(), false);
        let r = search(&mut f, q).unwrap();
        ours.push(
            r.hits
                .iter()
                .map(|h| h.summary.id.to_string())
                .collect::<Vec<_>>(),
        );
        reqs.push(f.requests as f64);
        bytes.push(f.bytes as f64);
        rounds.push(f.rounds as f64);
        if std::env::var("CATALOG_BENCH_FILES").is_ok() {
            eprintln!("query {:?}: {} requests", q.text, f.requests);
        }
    }
    // Facet-filtered queries (with and without text) and non-relevance sorts.
    let facet_queries = facet_queries();
    let sort_queries = sort_queries();
    let measure = |qs: &[Query]| -> (Vec<f64>, Vec<f64>) {
        let (mut r, mut b) = (Vec::new(), Vec::new());
        for q in qs {
            let mut f = counting(store.clone_files_view(), false);
            search(&mut f, q).unwrap();
            r.push(f.requests as f64);
            b.push(f.bytes as f64);
        }
        (r, b)
    };
    let (freqs, fbytes) = measure(&facet_queries);
    let (sreqs, sbytes) = measure(&sort_queries);
    let listing_queries = listing_queries();
    let (lreqs, lbytes) = measure(&listing_queries);
    println!("per query (limit 10; goal <= 3 requests and <= 100 KB for any query):");
    report("keyword", &reqs, &bytes);
    let mut hist: std::collections::BTreeMap<usize, usize> = Default::default();
    for r in &reqs {
        *hist.entry(*r as usize).or_default() += 1;
    }
    println!(
        "    (50 labelled queries; by requests {hist:?}; round trips worst {})",
        pct(&mut rounds.clone(), 1.0)
    );
    report("facet", &freqs, &fbytes);
    println!(
        "    ({} queries, each: requests {:?})",
        facet_queries.len(),
        freqs
    );
    report("sort", &sreqs, &sbytes);
    println!(
        "    ({} queries, each: requests {:?})",
        sort_queries.len(),
        sreqs
    );
    report("listing", &lreqs, &lbytes);
    println!(
        "    ({} listings past the first page or of two kinds, each: requests {:?})",
        listing_queries.len(),
        lreqs
    );
    let extra: Vec<Query> = facet_queries
        .into_iter()
        .chain(sort_queries)
        .chain(listing_queries)
        .collect();

    let texts: Vec<(String, String)> = docs
        .iter()
        .map(|d| (d.id.to_string(), naive_text(d)))
        .collect();
    let t = Instant::now();
    let naive_results: Vec<Vec<String>> = CONCEPTS.iter().map(|(_, q)| naive(&texts, q)).collect();
    let naive_time = t.elapsed() / CONCEPTS.len() as u32;
    let (p5, mrr) = quality(&ours, &truth);
    let (np5, nmrr) = quality(&naive_results, &truth);
    println!("quality over 50 labelled queries (5 relevant bundles each):");
    println!("  catalog (BM25F, prefix, typos): precision@5 {p5:.3}  MRR {mrr:.3}");
    println!(
        "  naive substring match:          precision@5 {np5:.3}  MRR {nmrr:.3}  ({naive_time:.1?} per query over the full text in memory)"
    );
    for (kind, range) in [("plain", 0..30), ("typo", 30..40), ("prefix", 40..50)] {
        let (a, b) = quality(&ours[range.clone()], &truth[range.clone()]);
        let (c, d) = quality(&naive_results[range.clone()], &truth[range.clone()]);
        println!("    {kind:<7} catalog P@5 {a:.3} MRR {b:.3} | naive P@5 {c:.3} MRR {d:.3}");
    }

    // 6. Natural-language queries.
    let nl_truth: Vec<HashSet<String>> =
        NL_QUERIES.iter().map(|(c, _)| truth[*c].clone()).collect();
    let (mut nl_ours, mut nl_reqs, mut nl_bytes, mut nl_rounds) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut nl_relaxed = 0;
    let mut nl_totals = Vec::new();
    for (_, text) in NL_QUERIES {
        let mut f = counting(store.clone_files_view(), false);
        let r = search(
            &mut f,
            &Query {
                limit: 10,
                ..Query::text(text)
            },
        )
        .unwrap();
        nl_relaxed += usize::from(r.relaxed);
        nl_totals.push((r.total, r.relaxed));
        nl_ours.push(
            r.hits
                .iter()
                .map(|h| h.summary.id.to_string())
                .collect::<Vec<_>>(),
        );
        nl_reqs.push(f.requests as f64);
        nl_bytes.push(f.bytes as f64);
        nl_rounds.push(f.rounds as f64);
    }
    let nl_naive: Vec<Vec<String>> = NL_QUERIES.iter().map(|(_, q)| naive(&texts, q)).collect();
    let (a, b) = quality(&nl_ours, &nl_truth);
    let (c, d) = quality(&nl_naive, &nl_truth);
    println!(
        "natural-language quality over {} labelled queries (5 relevant bundles each):",
        NL_QUERIES.len()
    );
    println!(
        "  catalog:               precision@5 {a:.3}  MRR {b:.3}  ({nl_relaxed} answered relaxed)"
    );
    println!("  naive substring match: precision@5 {c:.3}  MRR {d:.3}");
    report("NL", &nl_reqs, &nl_bytes);
    println!(
        "    (round trips worst {})",
        pct(&mut nl_rounds.clone(), 1.0)
    );
    if std::env::var("CATALOG_BENCH_VERBOSE").is_ok() {
        for ((((_, q), r), t), (total, relaxed)) in NL_QUERIES
            .iter()
            .zip(&nl_ours)
            .zip(&nl_truth)
            .zip(&nl_totals)
        {
            let marks: String = r
                .iter()
                .take(5)
                .map(|id| if t.contains(id) { '+' } else { '.' })
                .collect();
            let how = if *relaxed { ", relaxed" } else { "" };
            println!("    {marks:<5} {q}  ({total} matches{how})");
        }
    }
    if only_quality {
        return;
    }

    // 3. Cold and warm query time.
    let tmp = tempfile::tempdir_in(tmp_base()).unwrap();
    let t = Instant::now();
    write_dir(&store, tmp.path());
    println!(
        "wrote the catalog to {} in {:.1?}",
        tmp.path().display(),
        t.elapsed()
    );
    queries.extend(extra);
    let mut cold = Vec::new();
    for q in &queries {
        let mut f = counting(DirStore::new(tmp.path(), false), false);
        let t = Instant::now();
        search(&mut f, q).unwrap();
        cold.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let mut warm = Vec::new();
    for q in &queries {
        let mut f = counting(DirStore::new(tmp.path(), false), true);
        search(&mut f, q).unwrap();
        for _ in 0..5 {
            let t = Instant::now();
            search(&mut f, q).unwrap();
            warm.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    println!(
        "query time: cold (every file read from the registry directory) median {:.2} ms p95 {:.2} ms; warm (files cached in memory) median {:.2} ms p95 {:.2} ms",
        pct(&mut cold.clone(), 0.5),
        pct(&mut cold, 0.95),
        pct(&mut warm.clone(), 0.5),
        pct(&mut warm, 0.95)
    );
    drop(store);
    drop(docs);
    update_section(n);
}

/// 5. Update per publish at 1,000, 10,000 and `n` bundles.
fn update_section(n: usize) {
    let mut points = vec![1_000, 10_000];
    if n > 10_000 {
        points.push(n);
    }
    // CATALOG_BENCH_UPDATE_SIZES=100000,1000: other sizes, in this order (the first is the base).
    if let Ok(v) = std::env::var("CATALOG_BENCH_UPDATE_SIZES") {
        points = v.split(',').filter_map(|x| x.trim().parse().ok()).collect();
    }
    println!("update per publish (50 re-publishes + 50 new bundles, mean):");
    let mut base: Option<(Duration, Duration)> = None;
    for size in points {
        let (m, d, s) = update_times(size, 50);
        let (bm, bd) = *base.get_or_insert((m, d));
        println!(
            "  {size:>7} bundles: {m:>9.2?} in memory, {d:>9.2?} in a registry directory (fsync per file); {} files, {:.1} KB written; ratio to 1,000: {:.2} / {:.2} (goal <= 1.5)",
            s.files,
            s.bytes as f64 / 1e3,
            m.as_secs_f64() / bm.as_secs_f64(),
            d.as_secs_f64() / bd.as_secs_f64()
        );
    }
}

trait FilesView {
    fn clone_files_view(&self) -> MemView<'_>;
}
impl FilesView for MemStore {
    fn clone_files_view(&self) -> MemView<'_> {
        MemView(self)
    }
}

/// Borrowed view of a [`MemStore`] as a [`Fetch`], without copying the catalog.
struct MemView<'a>(&'a MemStore);
impl Fetch for MemView<'_> {
    fn fetch(&mut self, files: &[(String, u64)]) -> Vec<Result<Option<Vec<u8>>, CatalogError>> {
        files.iter().map(|(p, l)| self.0.read(p, *l)).collect()
    }
}
