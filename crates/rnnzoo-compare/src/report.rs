//! Reading a sweep's finished runs back and rendering `compare.md`, `compare.csv`,
//! `validation-curves.{svg,png}` (baselines and chance as dashed levels) and
//! `final-metric.{svg,png}` (the test metric of each row with ± sd error bars).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rnnzoo_train::plot::{Bar, Curve, Level, curves_svg, error_bars_svg, write_figure};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::run::{failure_of, finished_dir};
use crate::sweep::{CompareError, PlannedRun, io};

/// What `compare` records in `plan.json` so that `--report` can re-render without the sweep
/// file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    /// Sweep name.
    pub name: String,
    /// Base config, as the sweep named it.
    pub base: PathBuf,
    /// The runs, in order.
    pub runs: Vec<PlannedRun>,
}

impl Plan {
    /// Writes `plan.json` into `out`.
    pub fn save(&self, out: &Path) -> Result<(), CompareError> {
        let path = out.join("plan.json");
        let text = serde_json::to_string_pretty(self).expect("plans serialise");
        std::fs::create_dir_all(out).map_err(io(out))?;
        std::fs::write(&path, text).map_err(io(&path))
    }

    /// Reads `plan.json` from `out`.
    pub fn load(out: &Path) -> Result<Self, CompareError> {
        let path = out.join("plan.json");
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        serde_json::from_str(&text).map_err(|e| {
            CompareError::Invalid(format!("{}: not a comparison plan: {e}", path.display()))
        })
    }
}

/// The results of one finished run.
#[derive(Clone, Debug)]
pub struct RunResult {
    /// The planned run.
    pub run: PlannedRun,
    /// Its run directory.
    pub dir: PathBuf,
    /// Its `summary.json`.
    pub summary: Value,
    /// Its validation curve: (step, validation metric).
    pub curve: Vec<(f64, f64)>,
}

/// One column of the table: header, where in `summary.json`, decimals, and whether it gets a
/// standard deviation.
struct Column {
    header: &'static str,
    pointer: &'static str,
    decimals: usize,
    spread: bool,
}

const LM_COLUMNS: &[Column] = &[
    Column {
        header: "valid loss (nats/token)",
        pointer: "/best_valid_loss",
        decimals: 4,
        spread: true,
    },
    Column {
        header: "test loss",
        pointer: "/test_loss",
        decimals: 4,
        spread: true,
    },
    Column {
        header: "test SE",
        pointer: "/test_loss_se",
        decimals: 4,
        spread: false,
    },
    Column {
        header: "best step",
        pointer: "/best_step",
        decimals: 0,
        spread: false,
    },
    Column {
        header: "tokens/s",
        pointer: "/tokens_per_s",
        decimals: 0,
        spread: false,
    },
    Column {
        header: "wall s",
        pointer: "/wall_s",
        decimals: 1,
        spread: false,
    },
];

const CLASSIFIER_COLUMNS: &[Column] = &[
    Column {
        header: "valid accuracy",
        pointer: "/best_valid_accuracy",
        decimals: 4,
        spread: true,
    },
    Column {
        header: "test accuracy",
        pointer: "/test/accuracy",
        decimals: 4,
        spread: true,
    },
    Column {
        header: "test macro-F1",
        pointer: "/test/macro_f1",
        decimals: 4,
        spread: true,
    },
    Column {
        header: "best epoch",
        pointer: "/best_epoch",
        decimals: 0,
        spread: false,
    },
    Column {
        header: "wall s",
        pointer: "/wall_s",
        decimals: 1,
        spread: false,
    },
];

const MEMORY_COLUMNS: &[Column] = &[
    Column {
        header: "valid accuracy",
        pointer: "/best_valid_accuracy",
        decimals: 4,
        spread: true,
    },
    Column {
        header: "test accuracy",
        pointer: "/test/accuracy",
        decimals: 4,
        spread: true,
    },
    Column {
        header: "test loss",
        pointer: "/test/loss",
        decimals: 4,
        spread: true,
    },
    Column {
        header: "chance accuracy",
        pointer: "/chance/accuracy",
        decimals: 4,
        spread: false,
    },
    Column {
        header: "best step",
        pointer: "/best_step",
        decimals: 0,
        spread: false,
    },
    Column {
        header: "seq/s",
        pointer: "/sequences_per_s",
        decimals: 0,
        spread: false,
    },
    Column {
        header: "wall s",
        pointer: "/wall_s",
        decimals: 1,
        spread: false,
    },
];

const TRANSLATION_COLUMNS: &[Column] = &[
    Column {
        header: "valid BLEU",
        pointer: "/best_valid_bleu",
        decimals: 2,
        spread: true,
    },
    Column {
        header: "test BLEU",
        pointer: "/test/bleu",
        decimals: 2,
        spread: true,
    },
    Column {
        header: "test chrF",
        pointer: "/test/chrf",
        decimals: 2,
        spread: true,
    },
    Column {
        header: "best step",
        pointer: "/best_step",
        decimals: 0,
        spread: false,
    },
    Column {
        header: "tokens/s",
        pointer: "/tokens_per_s",
        decimals: 0,
        spread: false,
    },
    Column {
        header: "wall s",
        pointer: "/wall_s",
        decimals: 1,
        spread: false,
    },
];

/// What kind of runs a sweep compares, which decides the table's columns and the plot.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Language models (and n-gram baselines): validation loss, lower is better.
    LanguageModel,
    /// Classifiers: accuracy, higher is better.
    Classifier,
    /// Memory problems: accuracy against the chance level, higher is better.
    Memory,
    /// Translation: BLEU, higher is better.
    Translation,
}

impl Kind {
    /// Told apart by the keys of the first run's `summary.json`.
    fn of(results: &[RunResult]) -> Kind {
        match results.first() {
            Some(r) if r.summary.pointer("/chance").is_some() => Kind::Memory,
            Some(r) if r.summary.pointer("/best_valid_bleu").is_some() => Kind::Translation,
            Some(r) if r.summary.pointer("/best_valid_loss").is_none() => Kind::Classifier,
            _ => Kind::LanguageModel,
        }
    }

    fn columns(self) -> &'static [Column] {
        match self {
            Kind::LanguageModel => LM_COLUMNS,
            Kind::Classifier => CLASSIFIER_COLUMNS,
            Kind::Memory => MEMORY_COLUMNS,
            Kind::Translation => TRANSLATION_COLUMNS,
        }
    }
}

/// Reads the finished runs of a plan (unfinished ones are left out).
pub fn collect(
    out: &Path,
    base: &Path,
    runs: &[PlannedRun],
) -> Result<Vec<RunResult>, CompareError> {
    let mut results = Vec::new();
    for run in runs {
        let Some(dir) = finished_dir(out, base, run) else {
            continue;
        };
        let path = dir.join("summary.json");
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let summary: Value = serde_json::from_str(&text)
            .map_err(|e| CompareError::Invalid(format!("{}: {e}", path.display())))?;
        let curve = validation_curve(&dir.join("metrics.csv"))?;
        results.push(RunResult {
            run: run.clone(),
            dir,
            summary,
            curve,
        });
    }
    Ok(results)
}

/// (step, validation loss or accuracy) from a run's `metrics.csv`.
fn validation_curve(path: &Path) -> Result<Vec<(f64, f64)>, CompareError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name);
    let (Some(step), Some(value)) = (
        column("step"),
        column("valid_bleu").or(column("valid_loss")
            .filter(|_| column("valid_accuracy").is_none())
            .or(column("valid_accuracy"))),
    ) else {
        return Ok(Vec::new());
    };
    Ok(lines
        .filter_map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            let x = cells.get(step)?.parse::<f64>().ok()?;
            let y = cells.get(value)?.parse::<f64>().ok()?;
            Some((x, y))
        })
        .collect())
}

/// Mean and sample standard deviation.
fn mean_sd(values: &[f64]) -> (f64, Option<f64>) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let sd = (values.len() > 1)
        .then(|| (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
    (mean, sd)
}

/// The mean of several seeds' validation curves, on the union of their evaluation steps over
/// the range every curve covers, each curve linearly interpolated between its own points.
///
/// Time-budgeted runs stop at different steps (998 and 1082), so a plain mean per step would
/// average different subsets of the seeds and draw a saw-tooth that no run followed. Curves
/// without points are left out; with no common range the result is empty.
fn mean_curve(curves: &[&[(f64, f64)]]) -> Vec<(f64, f64)> {
    let curves: Vec<&[(f64, f64)]> = curves.iter().copied().filter(|c| !c.is_empty()).collect();
    let (Some(start), Some(end)) = (
        curves.iter().map(|c| c[0].0).max_by(f64::total_cmp),
        curves
            .iter()
            .map(|c| c[c.len() - 1].0)
            .min_by(f64::total_cmp),
    ) else {
        return Vec::new();
    };
    let mut steps: Vec<f64> = curves
        .iter()
        .flat_map(|c| c.iter().map(|&(x, _)| x))
        .filter(|&x| x >= start && x <= end)
        .collect();
    steps.sort_by(f64::total_cmp);
    steps.dedup();
    let at = |c: &[(f64, f64)], x: f64| {
        let i = c.partition_point(|&(cx, _)| cx < x);
        match c.get(i) {
            Some(&(cx, cy)) if cx == x || i == 0 => cy,
            Some(&(x1, y1)) => {
                let (x0, y0) = c[i - 1];
                y0 + (y1 - y0) * (x - x0) / (x1 - x0)
            }
            None => c[c.len() - 1].1,
        }
    };
    steps
        .into_iter()
        .map(|x| {
            let ys: Vec<f64> = curves.iter().map(|c| at(c, x)).collect();
            (x, mean_sd(&ys).0)
        })
        .collect()
}

/// Variants in plan order, each with its results.
fn by_variant<'a>(
    runs: &[PlannedRun],
    results: &'a [RunResult],
) -> Vec<(String, Vec<&'a RunResult>)> {
    let mut order: Vec<String> = Vec::new();
    for run in runs {
        if !order.contains(&run.variant) {
            order.push(run.variant.clone());
        }
    }
    order
        .into_iter()
        .map(|variant| {
            let mine = results
                .iter()
                .filter(|r| r.run.variant == variant)
                .collect();
            (variant, mine)
        })
        .collect()
}

/// Writes `compare.md`, `compare.csv` and the two figures into `out` for a plan and returns
/// the Markdown.
pub fn report(out: &Path, plan: &Plan) -> Result<String, CompareError> {
    let results = collect(out, &plan.base, &plan.runs)?;
    let kind = Kind::of(&results);
    let columns = kind.columns();
    let groups = by_variant(&plan.runs, &results);
    let seeds: Vec<String> = {
        let mut s: Vec<u64> = plan.runs.iter().map(|r| r.seed).collect();
        s.sort_unstable();
        s.dedup();
        s.iter().map(u64::to_string).collect()
    };

    let mut md = String::new();
    let _ = writeln!(md, "# Comparison: {}\n", plan.name);
    let _ = writeln!(
        md,
        "Base config `{}`, seeds {}; mean ± sample standard deviation over the seeds that \
         finished ({} of {} runs). {}\n",
        plan.base.display(),
        seeds.join(", "),
        results.len(),
        plan.runs.len(),
        match kind {
            Kind::LanguageModel => "Lower loss is better.",
            Kind::Translation =>
                "Higher BLEU is better (sacreBLEU's, on the test split with the run's beam).",
            _ => "Higher accuracy is better.",
        }
    );
    let mut header = vec!["variant", "parameters"];
    header.extend(columns.iter().map(|c| c.header));
    header.push("runs");
    let _ = writeln!(md, "| {} |", header.join(" | "));
    let _ = writeln!(md, "|{}", "---|".repeat(header.len()));
    for (variant, runs) in &groups {
        let mut cells = vec![variant.clone()];
        let parameters: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.summary.pointer("/parameters")?.as_f64())
            .collect();
        cells.push(parameters.first().map_or("-".into(), |p| format!("{p:.0}")));
        for c in columns {
            let values: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.summary.pointer(c.pointer)?.as_f64())
                .collect();
            cells.push(if values.is_empty() {
                "-".into()
            } else {
                let (mean, sd) = mean_sd(&values);
                match sd.filter(|_| c.spread) {
                    Some(sd) => format!("{mean:.d$} ± {sd:.d$}", d = c.decimals),
                    None => format!("{mean:.d$}", d = c.decimals),
                }
            });
        }
        let planned = plan.runs.iter().filter(|r| &r.variant == variant).count();
        cells.push(if runs.len() == planned {
            runs.len().to_string()
        } else {
            format!("{} of {planned}", runs.len())
        });
        let _ = writeln!(md, "| {} |", cells.join(" | "));
    }
    // Runs that did not finish, each with the error its log ends on: a failed variant is in the
    // report, not only in a terminal that has scrolled away.
    let unfinished: Vec<&PlannedRun> = plan
        .runs
        .iter()
        .filter(|r| !results.iter().any(|done| done.run.run_name == r.run_name))
        .collect();
    if !unfinished.is_empty() {
        let _ = writeln!(md, "\nNot finished:\n");
        for r in unfinished {
            let why = failure_of(out, &r.run_name).map_or_else(
                || "not run yet, or still running".to_string(),
                |e| format!("failed: {e}"),
            );
            let _ = writeln!(
                md,
                "- `{}`: {why} (log: `logs/{}.log`)",
                r.run_name, r.run_name
            );
        }
    }
    let md_path = out.join("compare.md");
    std::fs::write(&md_path, &md).map_err(io(&md_path))?;

    let mut csv = String::from("variant,seed,run_dir,parameters");
    for c in columns {
        csv.push(',');
        csv.push_str(&c.pointer[1..].replace('/', "_"));
    }
    csv.push('\n');
    for r in &results {
        let _ = write!(
            csv,
            "\"{}\",{},{},{}",
            r.run.variant.replace('"', "'"),
            r.run.seed,
            r.dir.display(),
            r.summary
                .pointer("/parameters")
                .map_or(String::new(), Value::to_string)
        );
        for c in columns {
            let _ = write!(
                csv,
                ",{}",
                r.summary
                    .pointer(c.pointer)
                    .map_or(String::new(), Value::to_string)
            );
        }
        csv.push('\n');
    }
    let csv_path = out.join("compare.csv");
    std::fs::write(&csv_path, csv).map_err(io(&csv_path))?;

    // Baseline rows (n-gram models) and the chance level are reference lines, not curves.
    let is_baseline = |runs: &[&RunResult]| runs.iter().all(|r| r.run.ngram_order.is_some());
    let curves: Vec<Curve> = groups
        .iter()
        .filter(|(_, runs)| !runs.is_empty() && !is_baseline(runs))
        .map(|(variant, runs)| Curve {
            label: variant.clone(),
            points: mean_curve(&runs.iter().map(|r| r.curve.as_slice()).collect::<Vec<_>>()),
        })
        .collect();
    let mean_of = |runs: &[&RunResult], pointer: &str| {
        let values: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.summary.pointer(pointer)?.as_f64())
            .collect();
        (!values.is_empty()).then(|| mean_sd(&values))
    };
    let mut levels: Vec<Level> = groups
        .iter()
        .filter(|(_, runs)| !runs.is_empty() && is_baseline(runs))
        .filter_map(|(variant, runs)| {
            Some(Level {
                label: variant.clone(),
                value: mean_of(runs, "/best_valid_loss")?.0,
            })
        })
        .collect();
    if kind == Kind::Memory {
        // One line per distinct chance level: problems of one sweep differ (1/8 for recall
        // from 8 symbols, 0.078 for adding), and their mean would be nobody's chance.
        let mut chances: Vec<f64> = results
            .iter()
            .filter_map(|r| r.summary.pointer("/chance/accuracy")?.as_f64())
            .collect();
        chances.sort_by(f64::total_cmp);
        chances.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
        levels.extend(chances.into_iter().map(|value| Level {
            label: "chance".into(),
            value,
        }));
    }
    let (title, y_label) = match kind {
        Kind::LanguageModel => ("validation loss", "nats per token"),
        Kind::Translation => ("validation BLEU (greedy)", "BLEU"),
        _ => ("validation accuracy", "accuracy"),
    };
    let figure = curves_svg(
        &format!("{}: {title}, mean over seeds", plan.name),
        y_label,
        &curves,
        &levels,
    )
    .map_err(CompareError::Invalid)?;
    write_figure(&out.join("validation-curves"), &figure).map_err(CompareError::Invalid)?;

    // What people look at first: the final metric of every row, ± its spread over seeds.
    let last = &columns[1];
    let bars: Vec<Bar> = groups
        .iter()
        .filter_map(|(variant, runs)| {
            let (mean, sd) = mean_of(runs, last.pointer)?;
            Some(Bar {
                label: variant.clone(),
                mean,
                sd,
            })
        })
        .collect();
    let figure = error_bars_svg(
        &format!("{}: {}, mean ± sd over seeds", plan.name, last.header),
        last.header,
        &bars,
    )
    .map_err(CompareError::Invalid)?;
    write_figure(&out.join("final-metric"), &figure).map_err(CompareError::Invalid)?;
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::mean_curve;

    #[test]
    fn mean_curve_interpolates_seeds_that_stop_at_different_steps() {
        // Two time-budgeted seeds: the second evaluates off the first one's grid and runs on.
        let a = [(200.0, 2.0), (400.0, 4.0), (998.0, 8.0)];
        let b = [(200.0, 4.0), (400.0, 8.0), (600.0, 12.0), (1082.0, 22.0)];
        let mean = mean_curve(&[&a, &b]);
        let steps: Vec<f64> = mean.iter().map(|p| p.0).collect();
        assert_eq!(steps, [200.0, 400.0, 600.0, 998.0]);
        // At 600 the first seed lies on its segment 400 -> 998: 4 + 4 * 200 / 598.
        let a_600 = 4.0 + 4.0 * 200.0 / 598.0;
        assert!((mean[2].1 - (a_600 + 12.0) / 2.0).abs() < 1e-12);
        // At 998 the second seed lies on 600 -> 1082: 12 + 10 * 398 / 482.
        let b_998 = 12.0 + 10.0 * 398.0 / 482.0;
        assert!((mean[3].1 - (8.0 + b_998) / 2.0).abs() < 1e-12);
        assert!((mean[0].1 - 3.0).abs() < 1e-12 && (mean[1].1 - 6.0).abs() < 1e-12);
    }

    #[test]
    fn mean_curve_of_one_seed_is_that_seed_and_empty_curves_are_skipped() {
        let a = [(50.0, 1.5), (100.0, 1.25)];
        assert_eq!(mean_curve(&[&a, &[]]), a.to_vec());
        assert!(mean_curve(&[&[], &[]]).is_empty());
        // Ranges that do not overlap have no common mean.
        assert!(mean_curve(&[&[(1.0, 1.0), (2.0, 1.0)], &[(3.0, 1.0), (4.0, 1.0)]]).is_empty());
    }
}
