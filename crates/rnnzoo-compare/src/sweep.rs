//! The sweep file and its expansion into runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value;

/// Errors of a comparison.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The sweep file, or a config it produces, is invalid.
    #[error("{0}")]
    Invalid(String),
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CompareError + '_ {
    move |source| CompareError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A sweep file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    /// Name of the comparison: its results go to `<runs>/compare/<name>/`.
    pub name: String,
    /// The base experiment config, relative to the sweep file.
    pub base: PathBuf,
    /// Overrides applied to every run (`train.steps`, `train.max_minutes`: the shared budget).
    #[serde(default)]
    pub set: BTreeMap<String, Value>,
    /// Named variants, each a set of overrides.
    #[serde(default)]
    pub variants: Vec<Variant>,
    /// Keys and the values to try; every combination is a variant (multiplied with `variants`).
    /// Kept in file order: the first key varies slowest, so it groups the table's rows.
    #[serde(default)]
    pub grid: IndexMap<String, Vec<Value>>,
    /// Seeds; every variant runs once per seed.
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    /// Runs at once (each gets `cores / jobs` threads); 1 runs them one after another.
    #[serde(default = "default_jobs")]
    pub jobs: usize,
    /// Language models only: orders of Kneser-Ney n-gram baselines to add as rows (each seed
    /// gives the split its own draw, as for the recurrent runs).
    #[serde(default)]
    pub baselines: Vec<usize>,
}

fn default_seeds() -> Vec<u64> {
    vec![1]
}

fn default_jobs() -> usize {
    1
}

/// One named variant.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Its name in tables and plots.
    pub name: String,
    /// Its overrides.
    #[serde(default)]
    pub set: BTreeMap<String, Value>,
}

/// One run of a sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedRun {
    /// Variant name.
    pub variant: String,
    /// Seed.
    pub seed: u64,
    /// Run name (`<variant>-s<seed>`, file-name safe); its run directory is
    /// `<out>/runs/<run name>/<timestamp>/`.
    pub run_name: String,
    /// Every `--set` override of this run, in order.
    pub overrides: Vec<String>,
    /// An n-gram baseline of this order instead of a recurrent training run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ngram_order: Option<usize>,
}

/// Reads a sweep file; errors name the file, line and column, and the nearest valid key.
pub fn load_sweep(path: &Path) -> Result<Sweep, CompareError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let sweep: Sweep = serde_yaml_ng::from_str(&text).map_err(|e| {
        let location = match e.location() {
            Some(l) => format!("{}:{}:{}", path.display(), l.line(), l.column()),
            None => path.display().to_string(),
        };
        CompareError::Invalid(format!("{location}: {e}"))
    })?;
    if !rnnzoo_config::is_plain_folder_name(&sweep.name) {
        return Err(CompareError::Invalid(format!(
            "{}: name `{}` must be a plain folder name (letters, digits, `-`, `_`, `.`, `+`), since \
             the comparison goes to <runs>/compare/<name>/",
            path.display(),
            sweep.name
        )));
    }
    if sweep.seeds.is_empty() {
        return Err(CompareError::Invalid(format!(
            "{}: `seeds` is empty",
            path.display()
        )));
    }
    if sweep.jobs == 0 {
        return Err(CompareError::Invalid(format!(
            "{}: `jobs` must be at least 1",
            path.display()
        )));
    }
    if let Some(order) = sweep.baselines.iter().find(|o| !(1..=5).contains(*o)) {
        return Err(CompareError::Invalid(format!(
            "{}: baseline order {order} is not in 1..=5",
            path.display()
        )));
    }
    if let Some((key, _)) = sweep.grid.iter().find(|(_, values)| values.is_empty()) {
        return Err(CompareError::Invalid(format!(
            "{}: grid key `{key}` has no values",
            path.display()
        )));
    }
    let mut names: Vec<&str> = sweep.variants.iter().map(|v| v.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(CompareError::Invalid(format!(
            "{}: two variants are named `{}`",
            path.display(),
            w[0]
        )));
    }
    Ok(sweep)
}

/// A YAML scalar or sequence as it would be typed after `--set key=`.
fn inline(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => serde_yaml_ng::to_string(other)
            .expect("YAML values serialise")
            .trim()
            .to_string(),
    }
}

/// Keeps letters, digits, `.`, `-` and `_`; everything else becomes `_`.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The base config path, resolved against the sweep file's folder.
pub fn base_config(sweep: &Sweep, sweep_path: &Path) -> PathBuf {
    if sweep.base.is_absolute() {
        sweep.base.clone()
    } else {
        sweep_path
            .parent()
            .unwrap_or(Path::new("."))
            .join(&sweep.base)
    }
}

/// Expands a sweep into its runs (variants in file order, then grid combinations with the
/// first key varying slowest, then seeds) and checks that every run's config is valid before anything trains.
pub fn plan(sweep: &Sweep, sweep_path: &Path) -> Result<Vec<PlannedRun>, CompareError> {
    let explicit: Vec<(String, Vec<String>)> = if sweep.variants.is_empty() {
        vec![(String::new(), Vec::new())]
    } else {
        sweep
            .variants
            .iter()
            .map(|v| {
                let sets = v.set.iter().map(|(k, x)| format!("{k}={}", inline(x)));
                (v.name.clone(), sets.collect())
            })
            .collect()
    };
    let mut combos: Vec<(String, Vec<String>)> = vec![(String::new(), Vec::new())];
    for (key, values) in &sweep.grid {
        let short = key.rsplit('.').next().unwrap_or(key);
        combos = combos
            .into_iter()
            .flat_map(|(name, sets)| {
                values.iter().map(move |v| {
                    let label = format!("{short}={}", inline(v));
                    let name = if name.is_empty() {
                        label
                    } else {
                        format!("{name},{label}")
                    };
                    let mut sets = sets.clone();
                    sets.push(format!("{key}={}", inline(v)));
                    (name, sets)
                })
            })
            .collect();
    }
    let shared: Vec<String> = sweep
        .set
        .iter()
        .map(|(k, v)| format!("{k}={}", inline(v)))
        .collect();
    let base = base_config(sweep, sweep_path);
    let mut runs = Vec::new();
    for (explicit_name, explicit_sets) in &explicit {
        for (grid_name, grid_sets) in &combos {
            let variant = match (explicit_name.is_empty(), grid_name.is_empty()) {
                (true, true) => "base".to_string(),
                (false, true) => explicit_name.clone(),
                (true, false) => grid_name.clone(),
                (false, false) => format!("{explicit_name} {grid_name}"),
            };
            for &seed in &sweep.seeds {
                let run_name = format!("{}-s{seed}", file_safe(&variant));
                let mut overrides = shared.clone();
                overrides.extend(explicit_sets.iter().cloned());
                overrides.extend(grid_sets.iter().cloned());
                overrides.push(format!("seed={seed}"));
                overrides.push(format!("name={run_name}"));
                rnnzoo_config::load(&base, &overrides).map_err(|e| {
                    CompareError::Invalid(format!(
                        "variant `{variant}` of {}: {e}",
                        sweep_path.display()
                    ))
                })?;
                runs.push(PlannedRun {
                    variant: variant.clone(),
                    seed,
                    run_name,
                    overrides,
                    ngram_order: None,
                });
            }
        }
    }
    for &order in &sweep.baselines {
        for &seed in &sweep.seeds {
            let run_name = format!("ngram-kn{order}-s{seed}");
            let mut overrides = shared.clone();
            overrides.push(format!("seed={seed}"));
            overrides.push(format!("name={run_name}"));
            let config = rnnzoo_config::load(&base, &overrides).map_err(|e| {
                CompareError::Invalid(format!("baseline of {}: {e}", sweep_path.display()))
            })?;
            if config.task != rnnzoo_config::TaskName::Lm {
                return Err(CompareError::Invalid(format!(
                    "{}: n-gram baselines are language models; the base config's task is {:?}",
                    sweep_path.display(),
                    config.task
                )));
            }
            runs.push(PlannedRun {
                variant: format!("n-gram KN-{order} (baseline)"),
                seed,
                run_name,
                overrides,
                ngram_order: Some(order),
            });
        }
    }
    let mut names: Vec<&str> = runs.iter().map(|r| r.run_name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(CompareError::Invalid(format!(
            "{}: two runs would share the name `{}`",
            sweep_path.display(),
            w[0]
        )));
    }
    Ok(runs)
}
