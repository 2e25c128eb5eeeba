//! The subset reader reads what serde_yaml reads, byte for byte, or has a doubt: compared on
//! grids of scalars and block scalars, and refusing what it leaves to serde_yaml.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use super::from_str;

/// A YAML document as a deserializer's `deserialize_any` tells it, visit by visit.
#[derive(Debug, PartialEq)]
enum Tree {
    Unit,
    Bool(bool),
    U64(u64),
    I64(i64),
    U128(u128),
    I128(i128),
    /// The bits, so that a NaN equals itself.
    F64(u64),
    Str(String),
    Seq(Vec<Tree>),
    Map(Vec<(Tree, Tree)>),
}

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Tree, D::Error> {
        d.deserialize_any(TreeVisitor)
    }
}

struct TreeVisitor;

impl<'de> Visitor<'de> for TreeVisitor {
    type Value = Tree;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("anything")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Tree, E> {
        Ok(Tree::Unit)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Tree, E> {
        Ok(Tree::Bool(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Tree, E> {
        Ok(Tree::U64(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Tree, E> {
        Ok(Tree::I64(v))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Tree, E> {
        Ok(Tree::U128(v))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Tree, E> {
        Ok(Tree::I128(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Tree, E> {
        Ok(Tree::F64(v.to_bits()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Tree, E> {
        Ok(Tree::Str(v.to_string()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tree, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Tree::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tree, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Tree::Map(entries))
    }
}

/// Whether the subset reads `text`, holding what it reads to serde_yaml's reading.
fn same(text: &str) -> bool {
    let Some(tree) = from_str::<Tree>(text) else {
        return false;
    };
    let yaml: Tree = serde_yaml::from_str(text)
        .unwrap_or_else(|e| panic!("the subset read what serde_yaml refuses ({e}):\n{text}"));
    assert_eq!(tree, yaml, "{text:?}");
    true
}

/// Scalars of every kind the runbooks hold, and the ones that look like something else.
const SCALARS: &[&str] = &[
    "plain",
    "two words",
    "  spaced  ",
    "12",
    "012",
    "0x1F",
    "0o17",
    "0b101",
    "-7",
    "+7",
    "1_000",
    "1.5",
    "-1.5e3",
    ".5",
    "5.",
    "1e3",
    ".inf",
    "-.Inf",
    ".nan",
    "NaN",
    "inf",
    "1.2.3",
    "30s",
    "1m",
    "10.0.0.1",
    "99999999999999999999",
    "-99999999999999999999",
    "340282366920938463463374607431768211456",
    "~",
    "null",
    "Null",
    "NULL",
    "nul",
    "true",
    "True",
    "TRUE",
    "tRUE",
    "false",
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "a: b",
    "a:b",
    "a #b",
    "a#b",
    "#",
    "x # y # z",
    "it's",
    "say \"hi\"",
    "'single'",
    "'it''s'",
    "''",
    "\"double\"",
    "\"\"",
    "\"tab\\there\"",
    "\"nl\\n\\\\ \\\" \\/ \\0 \\a \\e \\N \\_ \\L \\P\"",
    "\"\\x41\\u00e9\\U0001F600\"",
    "\"\\ud800\"",
    "\"\\'\"",
    "\"\\q\"",
    "\"a\\",
    "'unclosed",
    "-",
    "-x",
    "--flag",
    "- x",
    "?",
    "?x",
    ":x",
    "x:",
    "a ]",
    "a }",
    "a, b",
    "[a, b]",
    "[a,b]",
    "[ ]",
    "[]",
    "{}",
    "{a: 1}",
    "{a: 1, b: [c, 'd']}",
    "[a: b]",
    "[a,]",
    "{a: }",
    "{a: , b: }",
    "{a:1}",
    "[a #c]",
    "[http://x]",
    "[a:, b]",
    "[-a, -]",
    "{'q': \"r\"}",
    "[[a], {b: c}]",
    "x!",
    "!x",
    "&a x",
    "*a",
    "%x",
    "@x",
    "`x`",
    "a|b",
    "|x",
    ">x",
    "é",
    "日本語",
    "a\u{a0}b",
    "emoji 😀",
    "$(cmd) && echo \"$X\"",
    "a\tb",
    "<<",
    "=",
    "key with spaces: v",
];

#[test]
fn scalars_read_as_serde_yaml_reads_them() {
    let mut read = 0;
    for v in SCALARS {
        for text in [
            format!("k: {v}\n"),
            format!("k: {v}"),
            format!("k: {v}   # comment\n"),
            format!("l:\n  - {v}\n  - z\n"),
            format!("l:\n- {v}\nm: 1\n"),
            format!("f: [{v}, z]\n"),
            format!("f: {{a: {v}}}\n"),
            format!("{v}: x\n"),
            format!("- {v}: x\n  y: 1\n"),
            format!("---\nk:\n  - n: {v}\n    o: p\n"),
        ] {
            read += usize::from(same(&format!("r:\n  {}", text.replace('\n', "\n  "))));
            read += usize::from(same(&text));
        }
    }
    assert!(read > 1200, "{read}");
    // What the runbooks hold most is read.
    for text in [
        "k: 30s\n",
        "k: [a, 'b']\n",
        "k: {a: \"x\\ty\"}\n",
        "k: yes\n",
        "k: 1.2.3\n",
    ] {
        assert!(same(text), "{text}");
    }
}

#[test]
fn block_scalars_read_as_serde_yaml_reads_them_byte_for_byte() {
    let headers = [
        "|", "|-", "|+", ">", ">-", ">+", "|2", "|-1", "|+2", ">1", "2>", "-2", "| # c", "|0",
        "|-+", "|x",
    ];
    let lines = [
        "a", "  more", "", "   ", "    ", "\tb", "c\td", "# hash", "e  ", "f", "  ", " \t",
    ];
    let ends = [
        "",
        "\n",
        "\n\n",
        "\n  \n",
        "\n   \n\n",
        "\nnext: x\n",
        "\n# c\n\nnext: x\n",
    ];
    let mut read = 0;
    for header in headers {
        for (i, a) in lines.iter().enumerate() {
            for b in &lines[i % 3..] {
                for c in ["x", "", "  y"] {
                    for end in ends {
                        let body = format!("  {a}\n  {b}\n  {c}");
                        for text in [
                            format!("k: {header}\n{body}{end}"),
                            format!("s:\n  - {header}\n  {}{end}", body.replace('\n', "\n  ")),
                            format!("k: {header}\n\n{body}{end}"),
                            format!("k: {header}\n     \n{body}{end}"),
                            format!("- k: {header}\n  {}{end}", body.replace('\n', "\n  ")),
                        ] {
                            read += usize::from(same(&text));
                        }
                    }
                }
            }
        }
    }
    assert!(read > 25_000, "{read}");
}

#[test]
fn what_the_subset_leaves_out_is_refused() {
    let doubtful = [
        "k:\tv\n",
        "k: v\t\n",
        "k:\n\t- a\n",
        "k: &a v\nl: *a\n",
        "k: !!str v\n",
        "k: !x v\n",
        "? k\n: v\n",
        "k: two\n  lines\n",
        "k: two\n\n  lines\n",
        "- a\n  b\n",
        "k: 'two\n  lines'\n",
        "k: \"two\n  lines\"\n",
        "k: [a,\n  b]\n",
        "k: {a: 1,\n  b: 2}\n",
        "%YAML 1.2\n---\nk: v\n",
        "--- {k: v}\n",
        "k: v\n---\nl: w\n",
        "k: v\n...\n",
        "\u{feff}k: v\n",
        "k: v\u{feff}\n",
        "k: v\r\n",
        "k: a\u{85}b\n",
        "k: a\u{2028}b\n",
        "k: - a\n",
        "k: a: b\n",
        "k:\n  a: 1\n   b: 2\n",
        "k:\n  a: 1\n b: 2\n",
        "- - a\n",
        "k:\n  v\n",
        "k:\n  [a]\n",
        "[a, b]\n",
        "just a scalar\n",
        "",
        "# only a comment\n",
        "k: v\nk: w\n",
        "1: v\n",
        "~: v\n",
        "k: |\n\tx\n",
        "k: \"\\ud800\"\n",
        "k: \"\\'\"\n",
        "k: 'a'#c\n",
        "k: [a]#c\n",
    ];
    for text in doubtful {
        assert!(from_str::<Tree>(text).is_none(), "read: {text:?}");
    }
}

#[test]
fn nesting_deeper_than_the_limit_is_left_to_serde_yaml() {
    let deep = |n: usize| {
        (0..n)
            .map(|i| format!("{}k{i}:\n", "  ".repeat(i)))
            .collect::<String>()
    };
    assert!(same(&deep(super::DEPTH)));
    assert!(from_str::<Tree>(&deep(super::DEPTH + 1)).is_none());
}

/// Small edits (one to three) of a runbook-like text with YAML's significant characters: whatever the
/// subset still reads, serde_yaml reads alike.
#[test]
fn edited_texts_read_as_serde_yaml_reads_them() {
    let text = "\
---
# a runbook
k: v
metadata: {name: r, title: 'it''s', n: [a, \"b\\tc\"]}
steps:
  - id: a
    needs: []
    shell: |
      echo \"$X\" # not a comment
        more
    outputs:
      X: {type: string}
  - id: b
    kube.wait:
      context: c
      name: x y
l:
- 1
- |+
  kept

end: ~
";
    let alphabet = [
        " ", "\n", "-", ":", "#", "'", "\"", "[", "]", "{", "}", ",", "|", ">", "\t", "a", "1",
        "\\", "- ", ": ", "  ", "&", "!", "?", "2",
    ];
    // A fixed linear congruential sequence: the same edits every run.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: usize| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (seed >> 33) as usize % n
    };
    let mut read = 0;
    for _ in 0..6000 {
        let mut edited = text.to_string();
        for _ in 0..1 + next(3) {
            let chars: Vec<usize> = edited.char_indices().map(|(i, _)| i).collect();
            let at = chars[next(chars.len())];
            match next(3) {
                0 => edited.insert_str(at, alphabet[next(alphabet.len())]),
                1 => {
                    edited.remove(at);
                }
                _ => {
                    edited.remove(at);
                    edited.insert_str(at, alphabet[next(alphabet.len())]);
                }
            }
        }
        read += usize::from(same(&edited));
    }
    assert!(same(text));
    assert!(read > 1000, "{read}");
}

/// The shipped runbooks, the corpus and the fixtures, node for node and byte for byte.
#[test]
fn runbooks_read_as_serde_yaml_reads_them() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut shipped = 0;
    for entry in std::fs::read_dir(repo.join("runbooks")).unwrap() {
        let path = entry.unwrap().path().join("runbook.yaml");
        if let Ok(text) = std::fs::read_to_string(&path) {
            assert!(same(&text), "{} is not read", path.display());
            shipped += 1;
        }
    }
    assert!(shipped >= 4, "{shipped}");
    let mut read = 0;
    for dir in ["tests/corpus", "engine/tests/fixtures"] {
        for entry in std::fs::read_dir(repo.join(dir)).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            read += usize::from(same(&text));
        }
    }
    assert!(read > 20, "{read}");
}
