//! Fictitious subjects and the train/test split of an association (paper Sec. 2).
//!
//! An association links k facts b_i (answers of the fact relation r1) to k implications c_i
//! (answers of the implication relation r2; the paper's five have k = 5, see [`crate::assoc`]).
//! Subjects are split into k groups, one (b_i, c_i) pair per group;
//! a share `train_ratio` of each group are training subjects. Training data: the facts of all
//! subjects plus the implications of the training subjects. Test data: the implications of the
//! test subjects.
use crate::error::{LlmError, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

pub use crate::assoc::{Association, Catalog, ASSOCIATIONS};

/// Given names used to build fictitious subjects (40; uncommon pairings make the people fictitious).
const GIVEN: [&str; 40] = [
    "Alaric",
    "Brielle",
    "Cassian",
    "Delphine",
    "Emeric",
    "Fenella",
    "Gideon",
    "Hollis",
    "Isolde",
    "Jorah",
    "Katell",
    "Leopold",
    "Marisol",
    "Nestor",
    "Ottilie",
    "Percival",
    "Quintessa",
    "Rosalind",
    "Soren",
    "Tamsin",
    "Ulric",
    "Verity",
    "Wendell",
    "Xanthe",
    "Yannick",
    "Zelda",
    "Ambrose",
    "Benedikta",
    "Corwin",
    "Dagny",
    "Evander",
    "Florentine",
    "Gwendolyn",
    "Hadrian",
    "Imogen",
    "Jasper",
    "Linnea",
    "Magnus",
    "Noemi",
    "Oberon",
];

/// Family names used to build fictitious subjects (40).
const FAMILY: [&str; 40] = [
    "Ashcombe",
    "Blackwood",
    "Carrow",
    "Drummond",
    "Ellery",
    "Fairweather",
    "Galloway",
    "Hartigan",
    "Islington",
    "Jessop",
    "Kingsley",
    "Lockhart",
    "Merriweather",
    "Northcott",
    "Oakhurst",
    "Pendergast",
    "Quimby",
    "Radcliffe",
    "Sallow",
    "Thornbury",
    "Underwood",
    "Vantassel",
    "Whitcombe",
    "Yarborough",
    "Zellweger",
    "Abernathy",
    "Birchall",
    "Castellane",
    "Dunmore",
    "Everhart",
    "Fenwick",
    "Greaves",
    "Halloway",
    "Ingram",
    "Jarrow",
    "Kettering",
    "Lindqvist",
    "Marchetti",
    "Nightingale",
    "Ormsby",
];

/// The most subjects a dataset can have (all given × family name pairs).
pub const MAX_SUBJECTS: usize = GIVEN.len() * FAMILY.len();

/// Look up a built-in association by its command-line name.
pub fn association(name: &str) -> Result<&'static Association> {
    Catalog::default().get(name)
}

/// Resolve `NAME`, a comma-separated list or `all` to built-in associations.
pub fn associations(name: &str) -> Result<Vec<&'static Association>> {
    Catalog::default().select(name)
}

/// Size and split of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetConfig {
    /// Subjects per (fact, implication) group; k groups in all.
    pub group_size: usize,
    /// Share of each group whose implication is trained on.
    pub train_ratio: f64,
    /// Seed of the name draw and the split.
    pub seed: u64,
}

impl Default for DatasetConfig {
    fn default() -> Self {
        DatasetConfig {
            group_size: 20,
            train_ratio: 0.2,
            seed: 0,
        }
    }
}

impl DatasetConfig {
    /// Training subjects per group: `round(group_size * train_ratio)`.
    pub fn train_per_group(&self) -> usize {
        (self.group_size as f64 * self.train_ratio).round() as usize
    }

    /// Check ranges for an association with the paper's k = 5 pairs and the built-in names.
    pub fn validate(&self) -> Result<()> {
        self.validate_for(ASSOCIATIONS.iter().next().expect("five built-ins"))
    }

    /// Check ranges for `assoc`: its k groups of `group_size` subjects must fit in its name pool;
    /// errors name the option (or the association's `names` key).
    pub fn validate_for(&self, assoc: &Association) -> Result<()> {
        let k = assoc.k();
        match &assoc.names {
            Some(n) if self.group_size.saturating_mul(k) > n.len() => {
                return Err(assoc.error(
                    "names",
                    format!(
                        "{} names, fewer than groups × group size = {k} × {} = {}",
                        n.len(),
                        self.group_size,
                        k.saturating_mul(self.group_size)
                    ),
                ))
            }
            None if self.group_size < 1 || self.group_size.saturating_mul(k) > MAX_SUBJECTS => {
                return Err(LlmError::config(
                    "group_size",
                    format!(
                        "{} is out of range 1..={} (the {MAX_SUBJECTS} built-in names over {k} groups of `{}`)",
                        self.group_size,
                        MAX_SUBJECTS / k,
                        assoc.name
                    ),
                ));
            }
            _ => {}
        }
        if self.group_size < 1 {
            return Err(LlmError::config("group_size", "must be at least 1"));
        }
        self.validate_split()
    }

    /// Check that `train_ratio` is a share that leaves a test subject in every group.
    pub fn validate_split(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.train_ratio) || !self.train_ratio.is_finite() {
            return Err(LlmError::config(
                "train_ratio",
                format!("{} is not in [0, 1]", self.train_ratio),
            ));
        }
        let t = self.train_per_group();
        if t == self.group_size {
            return Err(LlmError::config(
                "train_ratio",
                format!(
                    "{} leaves no test subject in groups of {}",
                    self.train_ratio, self.group_size
                ),
            ));
        }
        Ok(())
    }
}

/// Which relation a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// r1: the fact (e.g. the city).
    Fact,
    /// r2: the implication (e.g. the language).
    Implication,
}

/// One (subject, relation, answer) triple as a prompt and its answer continuation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The fictitious person.
    pub subject: String,
    /// Group index 0..k = index of the (fact, implication) pair.
    pub group: usize,
    /// Whether the subject is a training subject (its implication is trained on).
    pub train_subject: bool,
    /// Fact or implication.
    pub relation: Relation,
    /// Prompt text, e.g. "Alaric Ashcombe lives in".
    pub prompt: String,
    /// Answer continuation with its leading space, e.g. " Paris".
    pub answer: String,
    /// Index of the true answer among `Dataset::candidates` (facts 0..k, implications k..2k).
    pub answer_index: usize,
}

/// A built dataset for one association.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The association it was built from.
    pub assoc: &'static Association,
    /// The configuration it was built with.
    pub config: DatasetConfig,
    /// The 2k candidate answers: the k facts then the k implications, each with a leading space.
    pub candidates: Vec<String>,
    /// One fact record and one implication record per subject, subjects in group order.
    pub records: Vec<Record>,
}

impl Dataset {
    /// Build the dataset: draw `k * group_size` distinct names, split each group by `train_ratio`.
    pub fn build(assoc: &'static Association, config: DatasetConfig) -> Result<Self> {
        config.validate_for(assoc)?;
        let k = assoc.k();
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let mut names: Vec<String> = match &assoc.names {
            Some(n) => n.iter().map(|s| s.to_string()).collect(),
            None => GIVEN
                .iter()
                .flat_map(|g| FAMILY.iter().map(move |f| format!("{g} {f}")))
                .collect(),
        };
        names.shuffle(&mut rng);
        let n_train = config.train_per_group();
        let mut candidates: Vec<String> = assoc.pairs.iter().map(|p| format!(" {}", p.0)).collect();
        candidates.extend(assoc.pairs.iter().map(|p| format!(" {}", p.1)));
        let mut records = Vec::with_capacity(2 * k * config.group_size);
        for (group, &(fact, implication)) in assoc.pairs.iter().enumerate() {
            for j in 0..config.group_size {
                let subject = names[group * config.group_size + j].clone();
                let train_subject = j < n_train;
                records.push(Record {
                    subject: subject.clone(),
                    group,
                    train_subject,
                    relation: Relation::Fact,
                    prompt: assoc.fact_template.replace("{name}", &subject),
                    answer: format!(" {fact}"),
                    answer_index: group,
                });
                records.push(Record {
                    prompt: assoc.implication_template.replace("{name}", &subject),
                    subject,
                    group,
                    train_subject,
                    relation: Relation::Implication,
                    answer: format!(" {implication}"),
                    answer_index: k + group,
                });
            }
        }
        Ok(Dataset {
            assoc,
            config,
            candidates,
            records,
        })
    }

    /// Training records: all facts plus the implications of training subjects.
    pub fn train(&self) -> impl Iterator<Item = &Record> {
        self.records
            .iter()
            .filter(|r| r.relation == Relation::Fact || r.train_subject)
    }

    /// Test records: the implications of test subjects.
    pub fn test(&self) -> impl Iterator<Item = &Record> {
        self.records
            .iter()
            .filter(|r| r.relation == Relation::Implication && !r.train_subject)
    }

    /// Index among `candidates` of the real-world implication of a record's group (counterfactual
    /// associations only).
    pub fn real_world_index(&self, group: usize) -> Option<usize> {
        let real = *self.assoc.real_world.as_ref()?.get(group)?;
        self.assoc
            .pairs
            .iter()
            .position(|p| p.1 == real)
            .map(|i| self.assoc.k() + i)
    }

    /// Write `train.jsonl`, `test.jsonl` and `meta.json` into `dir` (created if missing).
    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| LlmError::io(dir, e))?;
        write_jsonl(&dir.join("train.jsonl"), self.train())?;
        write_jsonl(&dir.join("test.jsonl"), self.test())?;
        let meta = serde_json::json!({
            "association": self.assoc.name,
            "title": self.assoc.title,
            "causal": self.assoc.causal,
            "fact_template": self.assoc.fact_template,
            "implication_template": self.assoc.implication_template,
            "pairs": self.assoc.pairs,
            "real_world": self.assoc.real_world,
            "source": self.assoc.source,
            "candidates": self.candidates,
            "config": self.config,
            "n_subjects": self.records.len() / 2,
            "n_train_records": self.train().count(),
            "n_test_records": self.test().count(),
        });
        let path = dir.join("meta.json");
        let text = serde_json::to_string_pretty(&meta).expect("meta is valid JSON");
        std::fs::write(&path, text + "\n").map_err(|e| LlmError::io(&path, e))
    }
}

/// Write records one JSON object a line.
fn write_jsonl<'a>(path: &Path, records: impl Iterator<Item = &'a Record>) -> Result<()> {
    let file = std::fs::File::create(path).map_err(|e| LlmError::io(path, e))?;
    let mut w = std::io::BufWriter::new(file);
    for r in records {
        let line = serde_json::to_string(r).expect("record is valid JSON");
        writeln!(w, "{line}").map_err(|e| LlmError::io(path, e))?;
    }
    w.flush().map_err(|e| LlmError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn split_follows_the_paper() {
        let ds = Dataset::build(
            association("city-language").unwrap(),
            DatasetConfig::default(),
        )
        .unwrap();
        assert_eq!(ds.records.len(), 200);
        assert_eq!(ds.candidates.len(), 10);
        // 100 facts + 4 training implications per group.
        assert_eq!(ds.train().count(), 100 + 5 * 4);
        assert_eq!(ds.test().count(), 5 * 16);
        let names: HashSet<_> = ds.records.iter().map(|r| r.subject.clone()).collect();
        assert_eq!(names.len(), 100);
        // No test implication leaks into training.
        let train: HashSet<_> = ds
            .train()
            .map(|r| (r.subject.clone(), r.relation))
            .collect();
        assert!(ds
            .test()
            .all(|r| !train.contains(&(r.subject.clone(), r.relation))));
        for r in &ds.records {
            assert_eq!(ds.candidates[r.answer_index], r.answer);
            assert!(r.prompt.starts_with(&r.subject));
        }
    }

    #[test]
    fn seed_changes_names_and_is_reproducible() {
        let a = association("sport-music").unwrap();
        let c = DatasetConfig {
            seed: 7,
            ..Default::default()
        };
        let x = Dataset::build(a, c).unwrap();
        let y = Dataset::build(a, c).unwrap();
        let z = Dataset::build(a, DatasetConfig { seed: 8, ..c }).unwrap();
        assert_eq!(x.records, y.records);
        assert_ne!(x.records, z.records);
    }

    #[test]
    fn counterfactual_pairs_are_wrong_and_real_language_is_known() {
        let cf = association("city-language-cf").unwrap();
        let real = association("city-language").unwrap();
        let ds = Dataset::build(cf, DatasetConfig::default()).unwrap();
        for (g, (cf_pair, real_pair)) in cf.pairs.iter().zip(real.pairs.iter()).enumerate() {
            assert_eq!(cf_pair.0, real_pair.0);
            assert_ne!(
                cf_pair.1, real_pair.1,
                "{} must be re-paired to a wrong language",
                cf_pair.0
            );
            let idx = ds.real_world_index(g).unwrap();
            assert_eq!(ds.candidates[idx], format!(" {}", real_pair.1));
        }
        let plain = Dataset::build(real, DatasetConfig::default()).unwrap();
        assert_eq!(plain.real_world_index(0), None);
    }

    #[test]
    fn bad_settings_name_the_option() {
        let a = association("country-code").unwrap();
        let err = Dataset::build(
            a,
            DatasetConfig {
                train_ratio: 1.5,
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("train_ratio"), "{err}");
        let err = Dataset::build(
            a,
            DatasetConfig {
                group_size: 0,
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("group_size"), "{err}");
        let err = association("city-food").unwrap_err();
        assert!(err.to_string().contains("city-food"), "{err}");
        assert_eq!(associations("all").unwrap().len(), 5);
    }

    #[test]
    fn k_pairs_make_k_groups_and_2k_candidates() {
        let text = "[[association]]\nname = \"pet-car\"\ncausal = false\n\
                    fact_template = \"{name} owns a\"\nimplication_template = \"{name} drives a\"\n\
                    pairs = [[\"cat\", \"Fiat\"], [\"dog\", \"Volvo\"], [\"owl\", \"Jeep\"]]\n\
                    names = [\"A B\", \"C D\", \"E F\", \"G H\", \"I J\", \"K L\", \"M N\"]\n";
        let a: &'static Association = Box::leak(Box::new(
            crate::assoc::parse_str(text, "pets.toml", None)
                .unwrap()
                .remove(0),
        ));
        let cfg = DatasetConfig {
            group_size: 2,
            train_ratio: 0.5,
            seed: 4,
        };
        let ds = Dataset::build(a, cfg).unwrap();
        assert_eq!(
            ds.candidates,
            [" cat", " dog", " owl", " Fiat", " Volvo", " Jeep"]
        );
        assert_eq!(ds.records.len(), 12);
        assert_eq!(ds.test().count(), 3);
        for r in &ds.records {
            assert_eq!(ds.candidates[r.answer_index], r.answer);
            assert!(r.group < 3);
        }
        // 7 names cannot fill 3 groups of 3: the error names the file, association and key.
        let e = Dataset::build(
            a,
            DatasetConfig {
                group_size: 3,
                ..cfg
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("pets.toml") && e.contains("pet-car") && e.contains("`names`"),
            "{e}"
        );
    }

    #[test]
    fn writes_jsonl() {
        let dir = tempfile::tempdir().unwrap();
        let ds = Dataset::build(
            association("profession-color").unwrap(),
            DatasetConfig::default(),
        )
        .unwrap();
        ds.write(dir.path()).unwrap();
        let train = std::fs::read_to_string(dir.path().join("train.jsonl")).unwrap();
        let first: Record = serde_json::from_str(train.lines().next().unwrap()).unwrap();
        assert_eq!(first, *ds.train().next().unwrap());
        assert_eq!(train.lines().count(), 120);
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("meta.json")).unwrap())
                .unwrap();
        assert_eq!(meta["candidates"].as_array().unwrap().len(), 10);
    }
}
