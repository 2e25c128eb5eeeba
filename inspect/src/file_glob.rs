//! Shell wildcards in a manifest path (`files/crd*yaml`), matched as bash matches them.
//!
//! Tutorials apply every file a glob names (`for i in .../crd*yaml; do kubectl apply -f $i;
//! done`); a `kube.apply` path takes the same pattern. Wildcards are allowed in the file name only
//! (the folder is literal): `*` (any run of characters), `?` (one character) and `[...]` (one of a
//! set, `a-z` ranges, `!` or `^` negates). As in bash, `*` and `?` do not match a leading `.`, and
//! the matches come in byte order (bash's order in the C locale). Listing the folder is the
//! caller's part: this module only parses and matches.

use thiserror::Error;

/// A manifest path, literal or with wildcards in its file name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilePattern {
    folder: String,
    name: Vec<Token>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Char(char),
    Any,
    One,
    Set {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// Why a path is not a valid pattern.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum GlobError {
    /// A wildcard outside the file name.
    #[error("wildcards are allowed in the file name only, not in the folder `{0}`")]
    InFolder(String),
    /// `[` without its `]`.
    #[error("`[` at character {0} has no closing `]`")]
    Unclosed(usize),
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

impl FilePattern {
    /// Parses `path`; an error says what is wrong.
    pub fn parse(path: &str) -> Result<FilePattern, GlobError> {
        let (folder, name) = match path.rfind('/') {
            Some(i) => (&path[..=i], &path[i + 1..]),
            None => ("", path),
        };
        if has_wildcard(folder) {
            return Err(GlobError::InFolder(folder.to_string()));
        }
        let offset = folder.chars().count();
        let chars: Vec<char> = name.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '*' => tokens.push(Token::Any),
                '?' => tokens.push(Token::One),
                '[' => {
                    let (set, end) =
                        parse_set(&chars, i).ok_or(GlobError::Unclosed(offset + i + 1))?;
                    tokens.push(set);
                    i = end;
                }
                c => tokens.push(Token::Char(c)),
            }
            i += 1;
        }
        Ok(FilePattern {
            folder: folder.to_string(),
            name: tokens,
        })
    }

    /// Whether the path has wildcards (else it names one file).
    pub fn is_glob(&self) -> bool {
        self.name.iter().any(|t| !matches!(t, Token::Char(_)))
    }

    /// The folder to list, as written (empty: the working directory).
    pub fn folder(&self) -> &str {
        &self.folder
    }

    /// Whether a file name in [`FilePattern::folder`] matches.
    pub fn matches(&self, file_name: &str) -> bool {
        if file_name.starts_with('.') && !matches!(self.name.first(), Some(Token::Char('.'))) {
            return false;
        }
        let chars: Vec<char> = file_name.chars().collect();
        matches_from(&self.name, &chars)
    }

    /// The matching names among `names`, in the order bash gives them.
    pub fn select<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
        let mut found: Vec<&str> = names.into_iter().filter(|n| self.matches(n)).collect();
        found.sort_unstable();
        found
    }
}

/// The set starting at `chars[start]` (`[`), and the index of its `]`.
fn parse_set(chars: &[char], start: usize) -> Option<(Token, usize)> {
    let mut i = start + 1;
    let negated = matches!(chars.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let first = i;
    loop {
        let c = *chars.get(i)?;
        // A `]` right after the opening (or its negation) is a member, as in bash.
        if c == ']' && i > first {
            return Some((Token::Set { negated, ranges }, i));
        }
        if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|&e| e != ']') {
            ranges.push((c, chars[i + 2]));
            i += 3;
        } else {
            ranges.push((c, c));
            i += 1;
        }
    }
}

fn matches_from(tokens: &[Token], name: &[char]) -> bool {
    match tokens.split_first() {
        None => name.is_empty(),
        Some((Token::Any, rest)) => (0..=name.len()).any(|skip| matches_from(rest, &name[skip..])),
        Some((token, rest)) => {
            let Some((&c, tail)) = name.split_first() else {
                return false;
            };
            let one = match token {
                Token::Char(want) => c == *want,
                Token::One => true,
                Token::Set { negated, ranges } => {
                    ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
                }
                Token::Any => unreachable!("handled above"),
            };
            one && matches_from(rest, tail)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(pattern: &str, files: &[&'static str]) -> Vec<&'static str> {
        FilePattern::parse(pattern)
            .unwrap()
            .select(files.iter().copied())
    }

    #[test]
    fn the_tutorials_crd_glob_picks_the_crd_files_in_bash_order() {
        let files = [
            "crd-certmanager-11.yaml",
            "crd-11.yaml",
            "crd-10.yaml",
            "values.yaml",
            "crd-certmanager-10.yaml",
            "crd-10.yml",
            ".crd-hidden.yaml",
        ];
        assert_eq!(
            names("install/kubernetes/helm/istio-init/files/crd*yaml", &files),
            [
                "crd-10.yaml",
                "crd-11.yaml",
                "crd-certmanager-10.yaml",
                "crd-certmanager-11.yaml"
            ]
        );
    }

    #[test]
    fn question_marks_sets_and_ranges() {
        let files = ["a1.yaml", "a2.yaml", "ab.yaml", "a].yaml", "b1.yaml"];
        assert_eq!(
            names("a?.yaml", &files),
            ["a1.yaml", "a2.yaml", "a].yaml", "ab.yaml"]
        );
        assert_eq!(names("a[0-9].yaml", &files), ["a1.yaml", "a2.yaml"]);
        assert_eq!(names("a[!0-9].yaml", &files), ["a].yaml", "ab.yaml"]);
        assert_eq!(names("a[]].yaml", &files), ["a].yaml"]);
        assert_eq!(names("*", &[".hidden", "x"]), ["x"]);
        assert_eq!(names(".h*", &[".hidden", "x"]), [".hidden"]);
    }

    #[test]
    fn literal_paths_are_not_globs_and_bad_patterns_say_why() {
        let p = FilePattern::parse("dir/istio-auth.yaml").unwrap();
        assert!(!p.is_glob());
        assert_eq!(p.folder(), "dir/");
        assert!(FilePattern::parse("dir/crd*yaml").unwrap().is_glob());
        assert_eq!(
            FilePattern::parse("charts/*/crds.yaml"),
            Err(GlobError::InFolder("charts/*/".into()))
        );
        assert_eq!(
            FilePattern::parse("files/crd[0-9.yaml"),
            Err(GlobError::Unclosed(10))
        );
    }
}
