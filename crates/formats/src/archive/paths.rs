//! The one rule for paths inside an archive, shared by the writer (so authors learn early) and
//! the reader (so hostile archives are refused).

/// Longest entry path accepted, in bytes.
pub const MAX_PATH_LEN: usize = 1024;
/// Longest path component accepted, in bytes.
pub const MAX_COMPONENT_LEN: usize = 255;

/// Characters refused in entry paths because some supported platform cannot store them or
/// gives them a meaning (Windows: drive letters and alternate streams, wildcards).
const NON_PORTABLE: &[char] = &['<', '>', ':', '"', '|', '?', '*', '\\'];

/// Checks a file path inside an archive: relative, `/`-separated, no empty, `.` or `..`
/// components, no control or non-portable characters, bounded length.
pub fn check_entry_path(p: &str) -> Result<(), EntryPathProblem> {
    crate::manifest::check_rel_path(p)?;
    if p.len() > MAX_PATH_LEN {
        return Err(EntryPathProblem::TooLong { len: p.len() });
    }
    if let Some(c) = p.chars().find(|c| c.is_control()) {
        return Err(EntryPathProblem::ControlCharacter { c });
    }
    if let Some(c) = p.chars().find(|c| NON_PORTABLE.contains(c)) {
        return Err(EntryPathProblem::NonPortableCharacter { c });
    }
    for comp in p.split('/') {
        match comp {
            "" => return Err(EntryPathProblem::EmptyComponent),
            "." => return Err(EntryPathProblem::DotComponent),
            _ if comp.len() > MAX_COMPONENT_LEN => {
                return Err(EntryPathProblem::LongComponent {
                    component: comp.to_string(),
                });
            }
            _ if comp.ends_with([' ', '.']) => {
                return Err(EntryPathProblem::TrailingSpaceOrDot {
                    component: comp.to_string(),
                });
            }
            _ => {}
        }
    }
    Ok(())
}

/// Why a path cannot be an entry of an archive ([`check_entry_path`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryPathProblem {
    /// Not relative to the bundle root.
    #[error(transparent)]
    NotRelative(#[from] crate::manifest::RelPathProblem),
    /// The path's bytes are not UTF-8.
    #[error("the path is not valid UTF-8")]
    NotUtf8,
    /// Longer than [`MAX_PATH_LEN`].
    #[error("path is {len} bytes long; the maximum is {MAX_PATH_LEN}")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A control character.
    #[error("path contains the control character {c:?}")]
    ControlCharacter {
        /// The character.
        c: char,
    },
    /// A character Windows cannot store in a file name.
    #[error("path contains `{c}`, which Windows cannot store in a file name")]
    NonPortableCharacter {
        /// The character.
        c: char,
    },
    /// `//`, or a leading or trailing `/`.
    #[error("path has an empty component (`//`, or a leading or trailing `/`)")]
    EmptyComponent,
    /// A `.` component.
    #[error("path has a `.` component")]
    DotComponent,
    /// A component longer than [`MAX_COMPONENT_LEN`].
    #[error("component `{component}` is longer than {MAX_COMPONENT_LEN} bytes")]
    LongComponent {
        /// The component.
        component: String,
    },
    /// A component ending in a space or a dot.
    #[error("component `{component}` ends with a space or a dot, which Windows drops")]
    TrailingSpaceOrDot {
        /// The component.
        component: String,
    },
}

/// The key two paths collide under on case-insensitive file systems.
fn fold(p: &str) -> String {
    p.to_lowercase()
}

/// Why a path cannot join a [`PathSet`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Clash {
    /// The same path (ignoring letter case) is already there.
    Duplicate(String),
    /// The path, or one of its parents, is already used the other way (file vs directory).
    Conflict(String),
}

/// The paths of an archive seen so far, to refuse duplicates and file/directory conflicts as a
/// case-insensitive file system would see them.
#[derive(Default)]
pub(crate) struct PathSet {
    /// Folded file path → path as given.
    files: std::collections::HashMap<String, String>,
    /// Folded directory path → path as first seen; `true` when given as an explicit entry.
    dirs: std::collections::HashMap<String, (String, bool)>,
}

impl PathSet {
    /// Adds a file (or, with `is_dir`, an explicit directory entry). `p` has passed
    /// [`check_entry_path`].
    pub(crate) fn add(&mut self, p: &str, is_dir: bool) -> Result<(), Clash> {
        let folded = fold(p);
        if let Some(first) = self.files.get(&folded) {
            return Err(if is_dir {
                Clash::Conflict(first.clone())
            } else {
                Clash::Duplicate(first.clone())
            });
        }
        if let Some((first, explicit)) = self.dirs.get(&folded) {
            if !is_dir {
                return Err(Clash::Conflict(first.clone()));
            }
            if *explicit {
                return Err(Clash::Duplicate(first.clone()));
            }
        }
        for (i, _) in p.match_indices('/') {
            let parent = fold(&p[..i]);
            if let Some(file) = self.files.get(&parent) {
                return Err(Clash::Conflict(file.clone()));
            }
            self.dirs
                .entry(parent)
                .or_insert_with(|| (p[..i].to_string(), false));
        }
        if is_dir {
            self.dirs.insert(folded, (p.to_string(), true));
        } else {
            self.files.insert(folded, p.to_string());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_normal_paths() {
        for p in [
            "bundle.yaml",
            "tasks/add/main.js",
            ".bundle/manifest.json",
            "a b/c-d_e.f",
            "résumé.md",
        ] {
            assert!(check_entry_path(p).is_ok(), "{p}");
        }
    }

    #[test]
    fn refuses_unsafe_paths() {
        for p in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a/./b",
            "a/",
            "C:/x",
            "a\\b",
            "a\nb",
            "a:b",
            "a/b.",
            "con\u{7f}",
        ] {
            assert!(check_entry_path(p).is_err(), "{p:?}");
        }
        assert!(matches!(
            check_entry_path(&"a".repeat(300)),
            Err(EntryPathProblem::LongComponent { .. })
        ));
        assert_eq!(
            check_entry_path(&["abc"; 300].join("/")),
            Err(EntryPathProblem::TooLong { len: 1199 })
        );
        assert!(matches!(
            check_entry_path("a/../../x"),
            Err(EntryPathProblem::NotRelative(
                crate::manifest::RelPathProblem::ParentComponent { .. }
            ))
        ));
        assert_eq!(
            check_entry_path("ab:c"),
            Err(EntryPathProblem::NonPortableCharacter { c: ':' })
        );
        assert_eq!(
            check_entry_path("a/b."),
            Err(EntryPathProblem::TrailingSpaceOrDot {
                component: "b.".into()
            })
        );
    }

    #[test]
    fn path_set_refuses_clashes() {
        let mut s = PathSet::default();
        s.add("a/b/c", false).unwrap();
        s.add("a/b", true).unwrap();
        assert_eq!(s.add("a/b", true), Err(Clash::Duplicate("a/b".into())));
        assert_eq!(s.add("A/B/C", false), Err(Clash::Duplicate("a/b/c".into())));
        assert_eq!(s.add("a/b", false), Err(Clash::Conflict("a/b".into())));
        assert_eq!(
            s.add("a/b/c/d", false),
            Err(Clash::Conflict("a/b/c".into()))
        );
        assert_eq!(s.add("a/b/c", true), Err(Clash::Conflict("a/b/c".into())));
        s.add("a/d", false).unwrap();
    }
}
