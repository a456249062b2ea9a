//! Built-in presets: TOML files under `crates/oocr-core/presets/`, compiled in as data.

use crate::config::Config;
use crate::error::{Error, Result};

/// (name, TOML text) of every built-in preset.
pub const PRESETS: &[(&str, &str)] = &[
    (
        "paper-factorized",
        include_str!("../presets/paper-factorized.toml"),
    ),
    (
        "paper-nonfactorized",
        include_str!("../presets/paper-nonfactorized.toml"),
    ),
    ("authors-main", include_str!("../presets/authors-main.toml")),
    (
        "authors-rank-sweep",
        include_str!("../presets/authors-rank-sweep.toml"),
    ),
    ("theorem2", include_str!("../presets/theorem2.toml")),
];

/// (alias, preset) pairs: `authors-code` names the authors' main script.
pub const ALIASES: &[(&str, &str)] = &[("authors-code", "authors-main")];

/// A preset: its name, one-line description and resolved config.
#[derive(Debug, Clone)]
pub struct Preset {
    /// Name used with `--preset`.
    pub name: &'static str,
    /// What it reproduces.
    pub description: String,
    /// The config.
    pub config: Config,
}

/// Loads a built-in preset by name (or alias).
pub fn preset(name: &str) -> Result<Preset> {
    if let Some(&(alias, target)) = ALIASES.iter().find(|(a, _)| *a == name) {
        let p = preset(target)?;
        return Ok(Preset {
            name: alias,
            description: format!("alias of {target}: {}", p.description),
            config: p.config,
        });
    }
    let (name, text) = PRESETS
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| Error::UnknownPreset(name.to_string()))?;
    let mut table: toml::Table = toml::from_str(text).map_err(|e| Error::ConfigParse {
        source_name: format!("preset {name}"),
        msg: e.message().to_string(),
    })?;
    let description = match table.remove("description") {
        Some(toml::Value::String(s)) => s,
        _ => String::new(),
    };
    let config = Config::from_value(toml::Value::Table(table))?;
    Ok(Preset {
        name,
        description,
        config,
    })
}

/// Every built-in preset, in a stable order, then the aliases.
pub fn all() -> Vec<Preset> {
    PRESETS
        .iter()
        .map(|(n, _)| *n)
        .chain(ALIASES.iter().map(|(a, _)| *a))
        .map(|n| preset(n).expect("built-in presets are valid"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_loads() {
        let all = all();
        assert_eq!(all.len(), PRESETS.len() + ALIASES.len());
        for p in all {
            assert!(!p.description.is_empty(), "{} has no description", p.name);
        }
        assert!(matches!(preset("nope"), Err(Error::UnknownPreset(_))));
        let alias = preset("authors-code").unwrap();
        assert_eq!(alias.config, preset("authors-main").unwrap().config);
        assert!(alias.description.starts_with("alias of authors-main"));
    }
}
