//! Characters that must never reach a terminal raw: the set a reader refuses in names, ids,
//! paths and permission patterns, and the CLI escapes everywhere else.

/// Whether `c` is a control character (C0, DEL, C1) other than newline and tab, or a bidi
/// embedding, override, isolate or mark, or an invisible formatter: characters that can make a
/// terminal show something other than the text.
pub fn is_unsafe_char(c: char) -> bool {
    match c {
        '\n' | '\t' => false,
        c if c.is_control() => true,
        '\u{061c}'
        | '\u{200b}'..='\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}'
        | '\u{feff}'
        | '\u{fff9}'..='\u{fffb}' => true,
        _ => false,
    }
}

/// The first unsafe character of `s` (also newline and tab, which no single-line value such as
/// a name or path may hold), with its character index.
pub fn first_unsafe_in_line(s: &str) -> Option<(usize, char)> {
    s.chars()
        .enumerate()
        .find(|(_, c)| is_unsafe_char(*c) || matches!(c, '\n' | '\t'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_are_unsafe() {
        for c in [
            '\u{1b}', '\r', '\u{7f}', '\u{9b}', '\u{202e}', '\u{2066}', '\u{200f}',
        ] {
            assert!(is_unsafe_char(c), "{c:?}");
        }
        for c in ['a', 'é', '日', ' ', '-'] {
            assert!(!is_unsafe_char(c), "{c:?}");
        }
        assert_eq!(first_unsafe_in_line("ab\u{202e}c"), Some((2, '\u{202e}')));
        assert_eq!(first_unsafe_in_line("a\tb"), Some((1, '\t')));
        assert_eq!(first_unsafe_in_line("plain.example"), None);
    }
}
