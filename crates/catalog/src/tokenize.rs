//! The tokenizer shared by the writer and the reader (`index-format.md` §10.3).
//!
//! Writer and reader must cut text into the same terms, or a query never meets the postings it
//! looks for; that is why both live here and why the rules are part of the format.
//!
//! Rules: split on every character that is not alphanumeric, then lower-case (Unicode), drop terms
//! shorter than 2 or longer than [`MAX_TERM_CHARS`] characters and a short list of English
//! stop words, then normalise the word form (see [`fold`]): plurals and the `-ing`/`-ed` forms
//! of verbs, so that "alerts", "alerting" and "alerted" meet "alert", and "parsing" meets
//! "parse". No full stemmer: bundle text is dense with technical names (`json`, `k8s`,
//! `kubernetes`, `postgres`, `aws`) that Porter-style suffix stripping mangles, so only these
//! few suffixes go, only from longer words, and only from words of letters a-z (the plural
//! rule excepted, as before).

/// Longest term indexed, in characters (longer runs are hashes or noise).
pub const MAX_TERM_CHARS: usize = 40;

/// Words too common to help ranking; never indexed, dropped from queries.
const STOP_WORDS: &[&str] = &[
    "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "in", "into", "is", "it",
    "its", "of", "on", "or", "that", "the", "this", "to", "with", "your", "you", "we", "our",
    "can", "will", "all", "any", "use", "uses", "using",
];

/// Normalises a word's form (`index-format.md` §10.3), the same way for indexed text and
/// queries:
///
/// 1. a plural: `-ies` -> `-y` in words of 5 or more characters (`dependencies` ->
///    `dependency`); else a trailing `s` is dropped from words of 5 or more characters (4 when
///    they are letters a-z only) that do not end in `ss`, `us` or `is` (`connectors` ->
///    `connector`, `logs` -> `log`; `status`, `aws`, `k8s` stay);
/// 2. then, for words of the letters a-z only: `-ing` or `-ed` is dropped when 4 or more
///    characters remain, and then a doubled final consonant other than `l`, `s`, `z` is undone
///    (`logging` -> `log`, `failed` -> `fail`, `planned` -> `plan`, `string` and `speed` stay);
///    otherwise a final `e` is dropped from words of 5 or more characters (`parse` -> `pars`,
///    as `parsing` and `parsed` give; `cache` -> `cach`; `node`, `file` stay).
pub fn fold(term: &str) -> String {
    let n = term.chars().count();
    let letters = term.bytes().all(|b| b.is_ascii_lowercase());
    let mut t = if n >= 5 && term.ends_with("ies") {
        format!("{}y", &term[..term.len() - 3])
    } else if (n >= 5 || (n == 4 && letters))
        && term.ends_with('s')
        && !term.ends_with("ss")
        && !term.ends_with("us")
        && !term.ends_with("is")
    {
        term[..term.len() - 1].to_string()
    } else {
        term.to_string()
    };
    if !letters {
        return t;
    }
    let cut = if t.len() >= 7 && t.ends_with("ing") {
        3
    } else if t.len() >= 6 && t.ends_with("ed") {
        2
    } else {
        0
    };
    if cut > 0 {
        t.truncate(t.len() - cut);
        let b = t.as_bytes();
        let (x, y) = (b[b.len() - 2], b[b.len() - 1]);
        if x == y && !b"aeiouylsz".contains(&y) {
            t.pop();
        }
    } else if t.len() >= 5 && t.ends_with('e') {
        t.pop();
    }
    t
}

/// Cuts `text` into raw lower-case words (no stop-word removal, no folding), in order.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
}

/// True when `w` (a lower-case word) is indexed: 2 to [`MAX_TERM_CHARS`] characters and not a
/// stop word.
pub fn is_indexed(w: &str) -> bool {
    let n = w.chars().count();
    (2..=MAX_TERM_CHARS).contains(&n) && !STOP_WORDS.contains(&w)
}

/// The terms of `text`, in order, repeated as often as they occur.
pub fn tokenize(text: &str) -> Vec<String> {
    words(text)
        .filter(|w| is_indexed(w))
        .map(|w| fold(&w))
        .collect()
}

/// The terms of a bundle id: every segment after the first (the first is a top-level domain
/// such as `com`, shared by most ids), split on `-` and `_`, plus each multi-word segment
/// written together (`json-utils` also gives `jsonutils`, so a query typed without the dash
/// finds it).
pub fn id_terms(id: &str) -> Vec<String> {
    let mut out = Vec::new();
    for seg in id.split('.').skip(1) {
        out.extend(tokenize(seg));
        if seg.contains(['-', '_']) {
            let joined: String = seg.chars().filter(|c| c.is_alphanumeric()).collect();
            if is_indexed(&joined) {
                out.push(fold(&joined));
            }
        }
    }
    out
}

/// The shard key of a term in a catalog without split shards: its first
/// [`crate::PREFIX_CHARS`] characters (the whole term when shorter).
pub fn shard_key(term: &str) -> String {
    shard_key_in(term, &crate::files::SplitSet::default())
}

/// The shard key of a term given the root's split prefixes (§10.1): start with its first
/// [`crate::PREFIX_CHARS`] characters and, while that prefix is split and the term is longer,
/// take one more character.
pub fn shard_key_in(term: &str, split: &crate::files::SplitSet) -> String {
    let mut key: String = term.chars().take(crate::PREFIX_CHARS).collect();
    let mut rest = term.chars().skip(crate::PREFIX_CHARS);
    while split.contains(&key) {
        match rest.next() {
            Some(c) => key.push(c),
            None => break,
        }
    }
    key
}

/// The file name of a shard key: the key itself when it is `[a-z0-9]+`, else `x` followed by
/// the lower-case hex of its UTF-8 bytes (so every file name is plain ASCII and URL-safe).
pub fn shard_file_name(key: &str) -> String {
    if key
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        key.to_string()
    } else {
        let mut s = String::from("x");
        for b in key.bytes() {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lowercases_drops_stop_words_and_folds_plurals() {
        assert_eq!(
            tokenize("The JSON-Utils: parse & validate Connectors, status; AWS k8s a"),
            [
                "json",
                "util",
                "pars",
                "validat",
                "connector",
                "status",
                "aws",
                "k8s"
            ]
        );
        assert_eq!(tokenize("Données été"), ["donnée", "été"]);
        let long = "x".repeat(41);
        assert!(tokenize(&long).is_empty());
    }

    #[test]
    fn id_terms_skip_the_domain_and_join_dashed_segments() {
        assert_eq!(
            id_terms("com.oss.json-utils"),
            ["oss", "json", "util", "jsonutil"]
        );
    }

    #[test]
    fn word_forms_meet() {
        for group in [
            &["alert", "alerts", "alerting", "alerted"][..],
            &["parse", "parsing", "parsed", "parses"],
            &["fail", "fails", "failed", "failing"],
            &["log", "logs", "logging", "logged"],
            &["plan", "plans", "planning", "planned"],
            &["cache", "caches", "caching", "cached"],
            &["dependency", "dependencies"],
            &["release", "releases", "released", "releasing"],
            &["scan", "scans", "scanning", "scanned"],
            &["install", "installs", "installing", "installed"],
        ] {
            let forms: Vec<String> = group.iter().map(|w| fold(w)).collect();
            assert!(
                forms.iter().all(|f| f == &forms[0]),
                "{group:?} -> {forms:?}"
            );
        }
        // Short words and technical names keep their form.
        for w in [
            "string", "speed", "status", "aws", "k8s", "node", "file", "json", "s3",
        ] {
            assert_eq!(fold(w), w);
        }
        // Non-ASCII words only lose a plural s.
        assert_eq!(fold("données"), "donnée");
        assert_eq!(fold("créé"), "créé");
    }

    #[test]
    fn shard_names_are_ascii() {
        assert_eq!(shard_file_name(&shard_key("json")), "jso");
        assert_eq!(shard_file_name(&shard_key("go")), "go");
        assert_eq!(shard_file_name(&shard_key("été")), "xc3a974c3a9");
        let split = ["dev1", "dev"].into_iter().collect();
        assert_eq!(shard_key_in("dev123", &split), "dev12");
        assert_eq!(shard_key_in("devops", &split), "devo");
        assert_eq!(shard_key_in("dev", &split), "dev");
        assert_eq!(
            split.iter().collect::<Vec<_>>(),
            ["dev", "dev1"],
            "kept in order"
        );
        let json = serde_json::to_string(&split).unwrap();
        assert_eq!(json, r#""dev(1)""#, "written as a trie string");
        let back: crate::files::SplitSet = serde_json::from_str(&json).unwrap();
        assert_eq!(back, split);
        let back: crate::files::SplitSet = serde_json::from_str(r#"["dev1","dev","dev"]"#).unwrap();
        assert_eq!(
            back, split,
            "a list (root version 1) read in any order, repeats dropped"
        );
        assert_eq!(shard_key_in("dev1", &split), "dev1");
        assert_eq!(shard_key_in("data", &split), "dat");
    }

    #[test]
    fn split_trie_round_trips_and_refuses_what_it_would_not_write() {
        use crate::files::SplitSet;
        let prefixes = [
            "acc", "acco", "accou", "accoun", "account", "accounti", "accountt", "acct", "dev",
            "dev1", "zzz", "été", "étéa",
        ];
        let set: SplitSet = prefixes.iter().copied().collect();
        let trie = set.to_trie();
        assert_eq!(trie, "acc(o(u(n(t(it))))t) dev(1) zzz été(a)");
        let back = SplitSet::from_trie(&trie).unwrap();
        assert_eq!(back.iter().collect::<Vec<_>>(), prefixes);
        assert_eq!(SplitSet::from_trie("").unwrap().len(), 0);
        // The specification's example.
        let spec = SplitSet::from_trie("acc(t) dev(1(2)o)").unwrap();
        assert_eq!(
            spec.iter().collect::<Vec<_>>(),
            ["acc", "acct", "dev", "dev1", "dev12", "devo"]
        );
        assert_eq!(spec.to_trie(), "acc(t) dev(1(2)o)");
        assert_eq!(SplitSet::default().to_trie(), "");
        for bad in [
            "ac",          // a base shorter than three characters
            "acc(",        // not closed
            "acc()",       // no child
            "acc(o)(u)",   // a second list
            "acc dev(1))", // closes what is not open
            "acc  dev",    // two spaces
            "acc dev ",    // ends with a space
            "dev acc",     // out of order
            "acc(oo)",     // a repeat
            "acc(o)dev",   // a base without a space
            "a(c",         // a parenthesis in a base
            "ac ",         // a space in a base
        ] {
            assert!(SplitSet::from_trie(bad).is_err(), "{bad:?} was read");
        }
        // A lower-cased `İ` is `i` and a combining dot, which is not alphanumeric: such prefixes
        // are written and read like any other.
        let dotted: SplitSet = ["i\u{307}s", "i\u{307}st", "x-y"].into_iter().collect();
        assert_eq!(SplitSet::from_trie(&dotted.to_trie()).unwrap(), dotted);
        let deep = format!("acc{}{}", "(a".repeat(40), ")".repeat(40));
        assert!(SplitSet::from_trie(&deep).is_err(), "deeper than a term");
        let deep = format!("acc{}{}", "(a".repeat(37), ")".repeat(37));
        assert_eq!(SplitSet::from_trie(&deep).unwrap().len(), 38);
    }
}
