//! Run folders of `oocr llm run` are never half-overwritten: a folder holding another run's
//! results needs `--force`; a folder holding this run's settings resumes, association by
//! association and seed by seed, keeping every finished one (its `result.json`, written last and
//! atomically, marks it finished).
use crate::error::{LlmError, Result};
use crate::run_config::RunConfig;
use std::path::{Path, PathBuf};

/// What a run does with its output folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderState {
    /// The folder is missing or empty.
    Fresh,
    /// The folder holds a run with the same result settings: finished associations are kept.
    Resume,
    /// `--force`: everything is run again and the run's files replaced.
    Replace,
}

/// The resolved config of a run folder.
pub const CONFIG_FILE: &str = "config.toml";

/// The folder of one association and seed: `<out>/<assoc>/seed-<seed>`.
pub fn unit_dir(out: &Path, assoc: &str, seed: u64) -> PathBuf {
    out.join(assoc).join(format!("seed-{seed}"))
}

/// Decide what to do with `out`, without writing anything: refuse a non-folder, and a non-empty
/// folder that does not hold a run with `cfg`'s result settings, unless `force`.
pub fn check_folder(cfg: &RunConfig, out: &Path, force: bool) -> Result<FolderState> {
    if !out.exists() {
        return Ok(FolderState::Fresh);
    }
    if !out.is_dir() {
        return Err(LlmError::config(
            "out",
            format!("{} exists and is not a folder", out.display()),
        ));
    }
    let empty = std::fs::read_dir(out)
        .map_err(|e| LlmError::io(out, e))?
        .next()
        .is_none();
    if empty {
        return Ok(FolderState::Fresh);
    }
    if force {
        return Ok(FolderState::Replace);
    }
    let path = out.join(CONFIG_FILE);
    if !path.exists() {
        return Err(LlmError::config(
            "out",
            format!(
                "{} is not empty and holds no {CONFIG_FILE} of an `oocr llm run` (pass --force to write into it)",
                out.display()
            ),
        ));
    }
    let old = RunConfig::read_file(&path).and_then(RunConfig::from_value);
    match old {
        Ok(old) => {
            let keys = cfg.differing_keys(&old);
            if keys.is_empty() {
                Ok(FolderState::Resume)
            } else {
                Err(LlmError::config(
                    "out",
                    format!(
                        "{} holds a run with other settings ({} differ); pass --force to replace its results, \
                         or choose another --out",
                        out.display(),
                        keys.join(", ")
                    ),
                ))
            }
        }
        Err(e) => Err(LlmError::config(
            "out",
            format!(
                "{} cannot be read ({e}); pass --force to replace the run",
                path.display()
            ),
        )),
    }
}
