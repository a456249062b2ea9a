//! `--preset NAME | --config FILE` plus `--set section.key=value`: how every command picks a config.

use anyhow::Result;
use oocr_core::{presets, Config};
use std::path::PathBuf;

/// Where the configuration comes from.
#[derive(clap::Args, Debug, Clone)]
#[group(required = true, multiple = false, id = "source")]
pub struct ConfigSource {
    /// A built-in preset (see `oocr presets`).
    #[arg(long, group = "source")]
    pub preset: Option<String>,
    /// A TOML config file with [task], [model], [train] sections (missing keys take defaults).
    #[arg(long, group = "source")]
    pub config: Option<PathBuf>,
}

/// A config source plus overrides.
#[derive(clap::Args, Debug, Clone)]
pub struct ConfigArgs {
    #[command(flatten)]
    /// Preset or file.
    pub source: ConfigSource,
    /// Override one key, e.g. `--set train.lr=0.5 --set model.param=nonfactorized` (repeatable).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub set: Vec<String>,
}

impl ConfigArgs {
    /// The resolved, validated config.
    pub fn resolve(&self) -> Result<Config> {
        let base = match (&self.source.preset, &self.source.config) {
            (Some(name), _) => presets::preset(name)?.config,
            (None, Some(path)) => Config::from_file(path)?,
            (None, None) => anyhow::bail!("give --preset NAME or --config FILE"),
        };
        Ok(base.with_overrides(&self.set)?)
    }
}
