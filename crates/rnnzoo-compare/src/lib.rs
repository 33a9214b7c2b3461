//! Architecture comparisons: `rnnzoo compare SWEEP.yaml`.
//!
//! A sweep file names a base experiment config, overrides applied to every run (the shared
//! budget), the variants to compare (an explicit list, a grid whose every combination is a
//! variant, or both multiplied) and the seeds. [`plan`] expands it into runs, each an ordinary
//! `rnnzoo train` of the base config with `--set` overrides; [`execute`] runs them as child
//! processes (one at a time, or several with the cores split between them), skipping runs that
//! finished before and resuming runs that were cut short; [`report`] reads the
//! runs' `summary.json` and `metrics.csv` back and writes `compare.md`, `compare.csv`,
//! `validation-curves.{svg,png}` and `final-metric.{svg,png}`.
//!
//! ```yaml
//! name: cells
//! base: ../lm/cells/shakespeare-char-lstm.yaml   # relative to this file
//! set: { train.steps: 600, train.max_minutes: 5 }
//! variants:
//!   - { name: rnn, set: { model.cell: rnn } }
//!   - { name: lstm, set: { model.cell: lstm } }
//! grid:
//!   model.hidden: [128, 256]
//! seeds: [1, 2, 3]
//! baselines: [5]     # language models: a Kneser-Ney 5-gram row (`rnnzoo ngram`)
//! jobs: 1
//! ```

mod report;
mod run;
mod sweep;

pub use report::{Plan, RunResult, collect, report};
pub use run::{Execution, RunOutcome, execute};
pub use sweep::{CompareError, PlannedRun, Sweep, Variant, base_config, load_sweep, plan};
