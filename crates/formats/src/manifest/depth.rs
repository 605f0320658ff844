//! A cheap, linear pre-scan of a YAML document's nesting depth, run before the parser: the
//! parser's time grows with the square of the depth, so `[[[[...` in a few kilobytes would
//! otherwise cost seconds of CPU in every reader.
//!
//! The scan counts flow collections (`[`, `{` that open a value, outside quoted scalars and
//! comments) and block nesting (indentation levels, and each `- ` or `? ` that opens a nested
//! collection on the same line), skipping the content of block scalars (`|`, `>`). It is an
//! over-approximation for odd documents, never an under-count of what the parser nests.

/// Deepest nesting a manifest may have.
pub const MAX_NESTING_DEPTH: usize = 64;

/// Where the document first nests deeper than `max`: 1-based line and column.
///
/// Two passes: one that skips quoted scalars, and one that ignores quotes (so a quote the scan
/// takes for the start of a scalar, wrongly, cannot hide brackets after it); the first finding
/// of either is returned.
pub fn too_deep(text: &str, max: usize) -> Option<(usize, usize)> {
    scan(text, max, true).or_else(|| scan(text, max, false))
}

fn scan(text: &str, max: usize, quotes: bool) -> Option<(usize, usize)> {
    let mut flow = 0usize;
    // Columns of the open block collections, increasing.
    let mut blocks: Vec<usize> = Vec::new();
    // Inside a quoted scalar that continues on the next line: its quote character.
    let mut quote: Option<u8> = None;
    // Inside a block scalar: lines indented more than this belong to it.
    let mut block_scalar: Option<usize> = None;
    for (n, line) in text.split('\n').enumerate() {
        let bytes = line.as_bytes();
        let indent = bytes.iter().take_while(|b| **b == b' ').count();
        let blank = bytes[indent..].iter().all(|b| b.is_ascii_whitespace());
        if let Some(parent) = block_scalar {
            if blank || indent > parent {
                continue;
            }
            block_scalar = None;
        }
        let mut i = 0usize;
        if quote.is_none() && flow == 0 {
            if blank || bytes[indent] == b'#' {
                continue;
            }
            // Block structure: the indentation, then each `- `/`? ` opening a nested node.
            while blocks.last().is_some_and(|top| *top > indent) {
                blocks.pop();
            }
            if blocks.last() != Some(&indent) {
                blocks.push(indent);
            }
            i = indent;
            while i < bytes.len()
                && matches!(bytes[i], b'-' | b'?')
                && bytes.get(i + 1).is_none_or(|b| *b == b' ')
            {
                i += 1;
                while i < bytes.len() && bytes[i] == b' ' {
                    i += 1;
                }
                if i < bytes.len() {
                    blocks.push(i);
                }
            }
            if blocks.len() > max {
                return Some((n + 1, i.min(bytes.len()) + 1));
            }
        }
        // Flow collections, quotes and comments on the rest of the line.
        // The last non-blank byte before `i` on this line (none right after the indentation or
        // a `- `), and whether blanks follow it: a quote or a bracket opens a node only there.
        let mut prev_sig: Option<u8> = None;
        let mut spaced = true;
        let mut last_token = 0usize;
        while i < bytes.len() {
            let b = bytes[i];
            if let Some(q) = quote {
                if q == b'"' && b == b'\\' {
                    i += 2;
                    continue;
                }
                if b == q {
                    if q == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    quote = None;
                    prev_sig = Some(b);
                    spaced = false;
                    last_token = i;
                }
                i += 1;
                continue;
            }
            let at_token = match prev_sig {
                None | Some(b'[' | b'{' | b',') => true,
                Some(b':') => spaced,
                _ => false,
            };
            match b {
                b'#' if spaced || prev_sig.is_none() => break,
                b'\'' | b'"' if quotes && at_token => quote = Some(b),
                b'[' | b'{' if at_token || flow > 0 => {
                    flow += 1;
                    if blocks.len() + flow > max {
                        return Some((n + 1, i + 1));
                    }
                }
                b']' | b'}' if flow > 0 => flow -= 1,
                _ => {}
            }
            if b.is_ascii_whitespace() {
                spaced = true;
            } else {
                last_token = i;
                prev_sig = Some(b);
                spaced = false;
            }
            i += 1;
        }
        // A block scalar header ends the line: `key: |`, `- >-`, `key: |2+` ...
        if quote.is_none() && flow == 0 && last_token < bytes.len() {
            let mut head = &bytes[..=last_token];
            while let [rest @ .., b'+' | b'-' | b'0'..=b'9'] = head {
                head = rest;
            }
            if let [before @ .., b'|' | b'>'] = head
                && matches!(before.last(), None | Some(b' ' | b':' | b'-'))
            {
                block_scalar = Some(indent);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_documents_pass() {
        let doc = "bundle:\n  id: a.b\n  tasks:\n    - name: x # [[[[ not counted\n      description: 'it''s [ fine'\n      args: [a, {b: c}]\n    - text: |\n        [[[[[[[[[[[[[[[[[[[[\n          {{{{{{{{{{{{{{{{\n  after: \"a [ \\\" [\"\n";
        assert_eq!(too_deep(doc, 6), None);
    }

    #[test]
    fn a_quote_inside_a_plain_scalar_hides_nothing() {
        // `x 'y` is a plain scalar: the quote opens nothing, the brackets after it count.
        let doc = format!("a: x 'y\nb: {}{}\n", "[".repeat(100), "]".repeat(100));
        assert_eq!(too_deep(&doc, 64).map(|(l, _)| l), Some(2));
        let doc = format!("a: [x 'y, {}{}]\n", "[".repeat(100), "]".repeat(100));
        assert!(too_deep(&doc, 64).is_some());
        // Closing brackets inside quotes do not pay back opening ones.
        let doc = format!("a: {}\n", "[ \"]]\", ".repeat(100));
        assert!(too_deep(&doc, 64).is_some());
    }

    #[test]
    fn deep_flow_nesting_is_found() {
        let doc = format!("a: {}{}\n", "[".repeat(100), "]".repeat(100));
        assert_eq!(too_deep(&doc, 64), Some((1, 4 + 63)));
        let doc = format!("a: {}\n", "{b: ".repeat(100));
        assert!(too_deep(&doc, 64).is_some());
    }

    #[test]
    fn deep_block_nesting_is_found() {
        let mut doc = String::new();
        for d in 0..80 {
            doc.push_str(&" ".repeat(d));
            doc.push_str("k:\n");
        }
        assert_eq!(too_deep(&doc, 64).map(|(l, _)| l), Some(65));
        let doc = format!("{}x\n", "- ".repeat(100));
        assert_eq!(too_deep(&doc, 64).map(|(l, _)| l), Some(1));
        let shallow = format!("{}x\n", "- ".repeat(10));
        assert_eq!(too_deep(&shallow, 64), None);
    }

    #[test]
    fn never_panics_on_odd_text() {
        // Every short string over YAML's structural characters, a multi-byte one included.
        let alphabet = [
            "[", "]", "{", "}", "'", "\"", "\\", "#", ":", "-", "?", " ", "\n", "|", ">", "a", "é",
            "2",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..20_000 {
            let mut doc = String::new();
            for _ in 0..(seed % 24) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                doc.push_str(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            let _ = too_deep(&doc, 3);
        }
    }
}
