//! Associations as data (paper Sec. 2): a TOML file holds `[[association]]` tables, each a fact
//! relation, an implication relation and k >= 2 (fact, implication) answer pairs. The paper's five
//! are data files of this crate (`assocs/*.toml`), loaded by the same code as a user's
//! `--assoc-file`.
//!
//! ```toml
//! [[association]]
//! name = "city-language"            # command-line name (letters, digits, `-`, `_`, `.`)
//! title = "City-Lang"               # table column title (default: the name)
//! causal = true                     # real-world link (generalization) or made up (hallucination)
//! fact_template = "{name} lives in"
//! implication_template = "{name} speaks"
//! pairs = [["Paris", "French"], ["Tokyo", "Japanese"]]
//! real_world = ["French", "Japanese"]  # optional: each fact's real-world implication (counterfactuals)
//! names = ["Ada Quill", "Bo Starling"] # optional subject names (or names_file = "names.txt", one a line)
//! ```
//!
//! The true implication is ranked among the 2k candidates (chance (2k−1)/2) and among the k
//! implications (chance (k−1)/2).
use crate::error::{LlmError, Result};
use oocr_core::config::{read_text_capped, toml_error_message, MAX_CONFIG_BYTES};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

/// Most (fact, implication) pairs an association may have (each record scores 2k candidates).
pub const MAX_PAIRS: usize = 50;
/// Most subject names an association may list.
pub const MAX_NAMES: usize = 100_000;
/// Most associations one file may hold.
pub const MAX_PER_FILE: usize = 200;

/// One association: a fact relation, an implication relation and k (fact, implication) pairs.
///
/// Built-ins and user files are loaded once per process and live until it exits (`'static`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Association {
    /// Command-line name, e.g. `city-language`.
    pub name: &'static str,
    /// Column title in tables, as in the paper.
    pub title: &'static str,
    /// Whether the link is causal in the real world (generalization) or made up (hallucination).
    pub causal: bool,
    /// Prompt of the fact relation r1; `{name}` is replaced by the subject.
    pub fact_template: &'static str,
    /// Prompt of the implication relation r2.
    pub implication_template: &'static str,
    /// The k (fact, implication) answer pairs, without the leading space.
    pub pairs: Vec<(&'static str, &'static str)>,
    /// For counterfactual associations: the real-world implication of each fact (else `None`).
    pub real_world: Option<Vec<&'static str>>,
    /// The association's own subject names (else the built-in pool of 1,600 names).
    pub names: Option<Vec<&'static str>>,
    /// The file it came from (`built-in` for the paper's five).
    pub source: &'static str,
}

impl Association {
    /// Number of (fact, implication) pairs k.
    pub fn k(&self) -> usize {
        self.pairs.len()
    }

    /// Chance mean rank among the 2k candidates: (2k − 1) / 2.
    pub fn chance_rank(&self) -> f64 {
        (2 * self.k() - 1) as f64 / 2.0
    }

    /// Chance mean rank among the k implications: (k − 1) / 2.
    pub fn chance_rank_within(&self) -> f64 {
        (self.k() - 1) as f64 / 2.0
    }

    /// An `Assoc` error naming this association's file, name and `key`.
    pub fn error(&self, key: &str, msg: impl Into<String>) -> LlmError {
        LlmError::Assoc {
            file: self.source.into(),
            assoc: self.name.into(),
            key: key.into(),
            msg: msg.into(),
        }
    }
}

/// The paper's five associations, as embedded data files, in the paper's column order.
const BUILTIN_FILES: [(&str, &str); 5] = [
    (
        "assocs/city-language.toml",
        include_str!("../assocs/city-language.toml"),
    ),
    (
        "assocs/city-language-cf.toml",
        include_str!("../assocs/city-language-cf.toml"),
    ),
    (
        "assocs/country-code.toml",
        include_str!("../assocs/country-code.toml"),
    ),
    (
        "assocs/profession-color.toml",
        include_str!("../assocs/profession-color.toml"),
    ),
    (
        "assocs/sport-music.toml",
        include_str!("../assocs/sport-music.toml"),
    ),
];

static BUILTIN: LazyLock<Vec<Association>> = LazyLock::new(|| {
    let mut out = Vec::new();
    for (name, text) in BUILTIN_FILES {
        // The files are part of the crate; a unit test parses them, so this cannot fail at run time.
        let parsed = parse_str(text, name, None).expect("built-in association files are valid");
        out.extend(parsed.into_iter().map(|a| Association {
            source: "built-in",
            ..a
        }));
    }
    out
});

/// The paper's five associations (`for a in &ASSOCIATIONS`, `ASSOCIATIONS.iter()`).
pub struct Builtins;

/// The built-in associations, in the paper's column order.
pub static ASSOCIATIONS: Builtins = Builtins;

impl Builtins {
    /// Iterate over the built-in associations.
    pub fn iter(&self) -> std::slice::Iter<'static, Association> {
        BUILTIN.iter()
    }

    /// Number of built-in associations (5).
    pub fn len(&self) -> usize {
        BUILTIN.len()
    }

    /// Always false: there are five.
    pub fn is_empty(&self) -> bool {
        BUILTIN.is_empty()
    }
}

impl IntoIterator for &Builtins {
    type Item = &'static Association;
    type IntoIter = std::slice::Iter<'static, Association>;
    fn into_iter(self) -> Self::IntoIter {
        BUILTIN.iter()
    }
}

/// The associations a run can pick from: the built-ins, then those of `--assoc-file`s.
#[derive(Debug, Clone)]
pub struct Catalog {
    assocs: Vec<&'static Association>,
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog {
            assocs: BUILTIN.iter().collect(),
        }
    }
}

impl Catalog {
    /// The built-ins plus every association of `files`; names must be unique across all.
    pub fn load(files: &[PathBuf]) -> Result<Catalog> {
        let mut cat = Catalog::default();
        for f in files {
            for a in parse_file(f)? {
                if let Some(prev) = cat.assocs.iter().find(|b| b.name == a.name) {
                    return Err(a.error(
                        "name",
                        format!("`{}` is already defined in {}", a.name, prev.source),
                    ));
                }
                cat.assocs.push(Box::leak(Box::new(a)));
            }
        }
        Ok(cat)
    }

    /// Every association, built-ins first.
    pub fn all(&self) -> &[&'static Association] {
        &self.assocs
    }

    /// Resolve `all`, a name, or a comma-separated list of names.
    pub fn select(&self, spec: &str) -> Result<Vec<&'static Association>> {
        if spec.trim() == "all" {
            return Ok(self.assocs.clone());
        }
        let mut out: Vec<&'static Association> = Vec::new();
        for name in spec.split(',').map(str::trim) {
            let a = self.get(name)?;
            if out.iter().any(|b| b.name == a.name) {
                return Err(LlmError::config(
                    "assoc",
                    format!("'{name}' is listed twice"),
                ));
            }
            out.push(a);
        }
        Ok(out)
    }

    /// Look up one association by name.
    pub fn get(&self, name: &str) -> Result<&'static Association> {
        self.assocs
            .iter()
            .find(|a| a.name == name)
            .copied()
            .ok_or_else(|| {
                let known: Vec<_> = self.assocs.iter().map(|a| a.name).collect();
                LlmError::config(
                    "assoc",
                    format!(
                        "unknown association '{name}' (known: {}, all; add your own with --assoc-file)",
                        known.join(", ")
                    ),
                )
            })
    }
}

/// One `[[association]]` table as written in a file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    title: Option<String>,
    causal: bool,
    fact_template: String,
    implication_template: String,
    pairs: Vec<(String, String)>,
    real_world: Option<Vec<String>>,
    names: Option<Vec<String>>,
    names_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    association: Vec<toml::Value>,
}

/// Read and check the associations of a file (at most 1 MiB); `names_file` is relative to it.
pub fn parse_file(path: &Path) -> Result<Vec<Association>> {
    let shown = path.display().to_string();
    let text = read_text_capped(path, MAX_CONFIG_BYTES).map_err(|e| LlmError::Assoc {
        file: shown.clone(),
        assoc: "-".into(),
        key: "-".into(),
        msg: strip_prefix(&e.to_string(), &shown),
    })?;
    parse_str(&text, &shown, path.parent())
}

fn strip_prefix(msg: &str, file: &str) -> String {
    msg.strip_prefix(file)
        .map(|m| m.trim_start_matches([':', ' ']).to_string())
        .unwrap_or_else(|| msg.to_string())
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Parse and check associations from TOML text; `file` names the source in errors, `dir` is where
/// a `names_file` is looked up (none: `names_file` is refused).
pub fn parse_str(text: &str, file: &str, dir: Option<&Path>) -> Result<Vec<Association>> {
    let err = |assoc: &str, key: &str, msg: String| LlmError::Assoc {
        file: file.into(),
        assoc: assoc.into(),
        key: key.into(),
        msg,
    };
    let value: toml::Value =
        toml::from_str(text).map_err(|e| err("-", "-", toml_error_message(text, &e)))?;
    let f: File = serde_path_to_error::deserialize(value).map_err(|e| {
        let key = e.path().to_string();
        let key = if key == "." {
            "association".into()
        } else {
            key
        };
        err("-", &key, e.inner().to_string())
    })?;
    if f.association.is_empty() {
        return Err(err("-", "association", "no [[association]] table".into()));
    }
    if f.association.len() > MAX_PER_FILE {
        return Err(err(
            "-",
            "association",
            format!(
                "{} associations; at most {MAX_PER_FILE} per file",
                f.association.len()
            ),
        ));
    }
    let mut out: Vec<Association> = Vec::new();
    for (i, v) in f.association.into_iter().enumerate() {
        let label = v
            .get("name")
            .and_then(|n| n.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| format!("#{}", i + 1));
        let e: Entry = serde_path_to_error::deserialize(v).map_err(|e| {
            let key = e.path().to_string();
            let key = if key == "." { "(table)".into() } else { key };
            err(&label, &key, e.inner().to_string())
        })?;
        let a = check(e, file, dir)?;
        if out.iter().any(|b| b.name == a.name) {
            return Err(a.error("name", "defined twice in this file"));
        }
        out.push(a);
    }
    Ok(out)
}

/// Check one entry and turn it into an `Association`; errors name the file, association and key.
fn check(e: Entry, file: &str, dir: Option<&Path>) -> Result<Association> {
    let name = e.name.clone();
    let err = |key: &str, msg: String| LlmError::Assoc {
        file: file.into(),
        assoc: name.clone(),
        key: key.into(),
        msg,
    };
    let name_ok = !e.name.is_empty()
        && e.name.len() <= 64
        && e.name != "all"
        && e.name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && e.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !name_ok {
        return Err(err(
            "name",
            "must be 1 to 64 letters, digits, `-`, `_` or `.`, start with a letter or digit, and not be `all` \
             (it names the association's folder)"
                .into(),
        ));
    }
    for (key, t) in [
        ("fact_template", &e.fact_template),
        ("implication_template", &e.implication_template),
    ] {
        if !t.contains("{name}") {
            return Err(err(
                key,
                format!("\"{t}\" has no `{{name}}` for the subject"),
            ));
        }
        if t.chars().any(char::is_control) {
            return Err(err(key, "contains a control character".into()));
        }
    }
    if e.fact_template == e.implication_template {
        return Err(err(
            "implication_template",
            "is the fact template: the two relations need different prompts".into(),
        ));
    }
    let k = e.pairs.len();
    if !(2..=MAX_PAIRS).contains(&k) {
        return Err(err(
            "pairs",
            format!("{k} pairs; an association needs 2 to {MAX_PAIRS}"),
        ));
    }
    let mut seen = HashSet::new();
    for (f, i) in &e.pairs {
        for ans in [f, i] {
            if ans.trim().is_empty() || ans.trim() != ans || ans.chars().any(char::is_control) {
                return Err(err(
                    "pairs",
                    format!(
                        "answer {ans:?} must be non-empty, without leading or trailing spaces or control characters"
                    ),
                ));
            }
            if !seen.insert(ans.as_str()) {
                return Err(err(
                    "pairs",
                    format!("duplicate answer \"{ans}\": every fact and implication must differ (they are ranked against each other)"),
                ));
            }
        }
    }
    if let Some(rw) = &e.real_world {
        if rw.len() != k {
            return Err(err(
                "real_world",
                format!("{} entries for {k} pairs (one per fact)", rw.len()),
            ));
        }
        for r in rw {
            if !e.pairs.iter().any(|p| &p.1 == r) {
                return Err(err(
                    "real_world",
                    format!("\"{r}\" is not one of the association's implications"),
                ));
            }
        }
    }
    let names = match (e.names, &e.names_file) {
        (Some(_), Some(_)) => {
            return Err(err(
                "names_file",
                "give `names` or `names_file`, not both".into(),
            ))
        }
        (Some(n), None) => Some(n),
        (None, Some(p)) => {
            let Some(dir) = dir else {
                return Err(err("names_file", "not allowed here".into()));
            };
            let path = dir.join(p);
            let text = read_text_capped(&path, MAX_CONFIG_BYTES)
                .map_err(|x| err("names_file", x.to_string()))?;
            Some(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect(),
            )
        }
        (None, None) => None,
    };
    let key = if e.names_file.is_some() {
        "names_file"
    } else {
        "names"
    };
    if let Some(n) = &names {
        if n.len() > MAX_NAMES {
            return Err(err(key, format!("{} names; at most {MAX_NAMES}", n.len())));
        }
        let mut seen = HashSet::new();
        for s in n {
            if s.trim().is_empty() || s.trim() != s || s.chars().any(char::is_control) {
                return Err(err(
                    key,
                    format!("name {s:?} must be non-empty, without leading or trailing spaces or control characters"),
                ));
            }
            if !seen.insert(s.as_str()) {
                return Err(err(key, format!("duplicate name \"{s}\"")));
            }
        }
        if n.len() < k {
            return Err(err(
                key,
                format!("{} names for {k} groups: fewer names than groups", n.len()),
            ));
        }
    }
    Ok(Association {
        name: leak(e.name.clone()),
        title: leak(e.title.unwrap_or_else(|| e.name.clone())),
        causal: e.causal,
        fact_template: leak(e.fact_template),
        implication_template: leak(e.implication_template),
        pairs: e
            .pairs
            .into_iter()
            .map(|(f, i)| (leak(f), leak(i)))
            .collect(),
        real_world: e.real_world.map(|v| v.into_iter().map(leak).collect()),
        names: names.map(|v| v.into_iter().map(leak).collect()),
        source: leak(file.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(body: &str) -> String {
        format!(
            "[[association]]\nname = \"mine\"\ncausal = false\nfact_template = \"{{name}} owns a\"\n\
             implication_template = \"{{name}} drives a\"\n{body}\n"
        )
    }

    fn err(text: &str) -> String {
        parse_str(text, "my.toml", None).unwrap_err().to_string()
    }

    #[test]
    fn builtins_are_the_papers_five() {
        let names: Vec<_> = ASSOCIATIONS.iter().map(|a| a.name).collect();
        assert_eq!(
            names,
            [
                "city-language",
                "city-language-cf",
                "country-code",
                "profession-color",
                "sport-music"
            ]
        );
        for a in &ASSOCIATIONS {
            assert_eq!(a.k(), 5);
            assert_eq!(a.chance_rank(), 4.5);
            assert_eq!(a.chance_rank_within(), 2.0);
            assert_eq!(a.source, "built-in");
        }
        let cf = &ASSOCIATIONS.iter().nth(1).unwrap();
        assert!(!cf.causal && cf.real_world.as_ref().unwrap()[0] == "French");
        assert!(ASSOCIATIONS.iter().next().unwrap().causal);
    }

    #[test]
    fn a_users_file_parses_with_its_own_k() {
        let a = parse_str(
            &one("pairs = [[\"cat\", \"red\"], [\"dog\", \"blue\"], [\"owl\", \"green\"]]\ntitle = \"Pet-Car\""),
            "my.toml",
            None,
        )
        .unwrap();
        assert_eq!(a[0].k(), 3);
        assert_eq!(a[0].chance_rank(), 2.5);
        assert_eq!(a[0].chance_rank_within(), 1.0);
        assert_eq!(a[0].title, "Pet-Car");
        assert_eq!(a[0].source, "my.toml");
    }

    #[test]
    fn errors_name_file_association_and_key() {
        let cases: [(String, &str); 9] = [
            (one("pairs = [[\"cat\", \"red\"]]"), "`pairs`: 1 pairs"),
            (
                one("pairs = [[\"cat\", \"red\"], [\"dog\", \"red\"]]"),
                "duplicate answer \"red\"",
            ),
            (
                one("pairs = [[\"cat\", \"red\"], [\"dog\", \"blue\"]]")
                    .replace("{name} drives", "Someone drives"),
                "`implication_template`",
            ),
            (
                one("pairs = [[\"cat\", \"red\"], [\"dog\", \"blue\"]]\nnames = [\"Ann Bell\"]"),
                "fewer names than groups",
            ),
            (
                one("pairs = [[\"cat\", \"red\"], [\"dog\", \"blue\"]]\nreal_world = [\"red\"]"),
                "`real_world`",
            ),
            (
                one("pairs = [[\"cat\", \"red\"], [\"dog\", \"blue\"]]\ncolour = 3"),
                "unknown field `colour`",
            ),
            (
                one("pairs = [[\"cat\", \"red\"], [\"dog\", \" blue\"]]"),
                "`pairs`",
            ),
            (
                one("pairs = [[\"cat\", \"red\"], [\"dog\", \"blue\"]]")
                    .replace("\"mine\"", "\"../x\""),
                "`name`",
            ),
            (one("pairs = 3"), "`pairs`"),
        ];
        for (text, needle) in cases {
            let e = err(&text);
            assert!(e.starts_with("my.toml: association `"), "{e}");
            assert!(e.contains(needle), "{needle:?} not in {e}");
        }
        assert!(err(&one("pairs = [[\"cat\", \"red\"]]")).contains("association `mine`"));
        assert!(err("[[association]\n").contains("line 1"));
        assert!(err("x = 1\n").contains("unknown field `x`"));
    }

    #[test]
    fn catalog_selects_and_refuses_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("mine.toml");
        std::fs::write(
            &f,
            one("pairs = [[\"cat\", \"red\"], [\"dog\", \"blue\"]]\nnames_file = \"names.txt\""),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("names.txt"),
            "Ann Bell\nCy Dunn\n\nEd Fox\n",
        )
        .unwrap();
        let cat = Catalog::load(std::slice::from_ref(&f)).unwrap();
        assert_eq!(cat.all().len(), 6);
        let mine = cat.get("mine").unwrap();
        assert_eq!(mine.names.as_ref().unwrap().len(), 3);
        let sel = cat.select("mine, city-language").unwrap();
        assert_eq!(sel.len(), 2);
        assert!(cat.select("mine,mine").is_err());
        let e = Catalog::load(&[f.clone(), f.clone()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("already defined"), "{e}");
        let dup = dir.path().join("dup.toml");
        std::fs::write(
            &dup,
            one("pairs = [[\"cat\", \"red\"], [\"dog\", \"blue\"]]")
                .replace("\"mine\"", "\"sport-music\""),
        )
        .unwrap();
        let e = Catalog::load(&[dup]).unwrap_err().to_string();
        assert!(e.contains("sport-music") && e.contains("built-in"), "{e}");
        let e = Catalog::load(&[dir.path().join("missing.toml")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.toml"), "{e}");
        let e = Catalog::default().select("nope").unwrap_err().to_string();
        assert!(e.contains("'nope'"), "{e}");
    }
}
