//! Running a sweep's runs as `rnnzoo train` child processes.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rnnzoo_train::progress::RunBars;

use crate::sweep::{CompareError, PlannedRun, io};

/// What happened to a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// It had finished before (its `summary.json` exists): not run again.
    Skipped,
    /// It trained to the end now.
    Finished,
    /// The training process failed; the message points at its log.
    Failed(String),
}

/// The run directories of a run name, oldest first.
pub(crate) fn run_dirs(out: &Path, run_name: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(out.join("runs").join(run_name))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.join("config.yaml").is_file())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

/// The resolved config a planned run trains now (the base config with its overrides), as the
/// YAML a run folder records; `None` when it does not load.
fn planned_yaml(base: &Path, run: &PlannedRun) -> Option<String> {
    rnnzoo_config::load(base, &run.overrides)
        .ok()
        .map(|c| rnnzoo_config::to_yaml(&c))
}

/// Whether a run folder trained `planned` (see [`planned_yaml`]). A run of an earlier version
/// of the sweep (other steps, other sizes) is neither reported nor resumed, but trained again.
fn trained(dir: &Path, planned: Option<&str>) -> bool {
    let had =
        rnnzoo_config::load(&dir.join("config.yaml"), &[]).map(|c| rnnzoo_config::to_yaml(&c));
    matches!((had, planned), (Ok(had), Some(wants)) if had == wants)
}

/// The newest finished run directory of a planned run, if any (its `summary.json` exists and
/// it trained what the sweep now plans).
pub(crate) fn finished_dir(out: &Path, base: &Path, run: &PlannedRun) -> Option<PathBuf> {
    let planned = planned_yaml(base, run);
    run_dirs(out, &run.run_name)
        .into_iter()
        .rev()
        .find(|d| d.join("summary.json").is_file() && trained(d, planned.as_deref()))
}

/// The last line of a failed run's log that says `error:`, for the report.
pub(crate) fn failure_of(out: &Path, run_name: &str) -> Option<String> {
    let log = std::fs::read_to_string(out.join("logs").join(format!("{run_name}.log"))).ok()?;
    log.lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .map(|l| l.trim_start_matches("error:").trim().to_string())
}

/// How [`execute`] runs a plan.
#[derive(Clone, Copy, Debug)]
pub struct Execution<'a> {
    /// The `rnnzoo` executable.
    pub exe: &'a Path,
    /// The base experiment config.
    pub base: &'a Path,
    /// The comparison folder: runs go to `out/runs/`, logs to `out/logs/`.
    pub out: &'a Path,
    /// Runs at once.
    pub jobs: usize,
    /// Worker threads, shared evenly between the jobs.
    pub threads: usize,
}

/// Prints `line` above the bars when there are bars, else hands it to `report`.
fn say(bars: &Option<RunBars>, report: &mut impl FnMut(&str), line: &str) {
    match bars {
        Some(bars) => bars.println(line),
        None => report(line),
    }
}

/// Runs the planned runs as `rnnzoo train` (or `rnnzoo ngram`) child processes. Finished runs
/// are skipped. `report` hears each start and end.
pub fn execute(
    how: &Execution,
    runs: &[PlannedRun],
    mut report: impl FnMut(&str),
) -> Result<Vec<RunOutcome>, CompareError> {
    let &Execution {
        exe,
        base,
        out,
        jobs,
        threads,
    } = how;
    // On a terminal one bar per running run, and the messages above them.
    let mut bars = RunBars::on_terminal();
    let logs = out.join("logs");
    std::fs::create_dir_all(&logs).map_err(io(&logs))?;
    let per_job = (threads / jobs.max(1)).max(1);
    let mut outcomes: Vec<Option<RunOutcome>> = vec![None; runs.len()];
    let mut pending: Vec<usize> = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        if finished_dir(out, base, run).is_some() {
            say(
                &bars,
                &mut report,
                &format!("{}: finished before, skipped", run.run_name),
            );
            outcomes[i] = Some(RunOutcome::Skipped);
        } else {
            pending.push(i);
        }
    }
    pending.reverse();
    let mut running: Vec<(usize, Child, PathBuf)> = Vec::new();
    while !pending.is_empty() || !running.is_empty() {
        while running.len() < jobs.max(1) {
            let Some(i) = pending.pop() else { break };
            let run = &runs[i];
            let log = logs.join(format!("{}.log", run.run_name));
            let mut command = Command::new(exe);
            let planned = planned_yaml(base, run);
            let partial = run_dirs(out, &run.run_name).into_iter().rev().find(|d| {
                d.join("checkpoints").join("latest").is_file()
                    && !d.join("summary.json").is_file()
                    && trained(d, planned.as_deref())
            });
            // A run with a checkpoint but no summary resumes (every task can; n-grams restart).
            match partial.filter(|_| run.ngram_order.is_none()) {
                Some(dir) => {
                    say(
                        &bars,
                        &mut report,
                        &format!("{}: resuming {}", run.run_name, dir.display()),
                    );
                    command.arg("train").arg("--resume").arg(&dir);
                }
                None => {
                    say(&bars, &mut report, &format!("{}: training", run.run_name));
                    match run.ngram_order {
                        Some(order) => command
                            .arg("ngram")
                            .arg(base)
                            .arg("--order")
                            .arg(order.to_string()),
                        None => command.arg("train").arg(base),
                    };
                    for o in &run.overrides {
                        command.arg("--set").arg(o);
                    }
                    command.arg("--runs").arg(out.join("runs"));
                }
            }
            let file = File::create(&log).map_err(io(&log))?;
            let err_file = file.try_clone().map_err(io(&log))?;
            let child = command
                .env("RAYON_NUM_THREADS", per_job.to_string())
                .stdin(Stdio::null())
                .stdout(file)
                .stderr(err_file)
                .spawn()
                .map_err(io(exe))?;
            if let Some(bars) = &mut bars {
                bars.start(&run.run_name);
            }
            running.push((i, child, log));
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut still = Vec::with_capacity(running.len());
        for (i, mut child, log) in running {
            match child.try_wait().map_err(io(exe))? {
                None => {
                    if let Some(bars) = &bars {
                        bars.follow(
                            &runs[i].run_name,
                            &std::fs::read_to_string(&log).unwrap_or_default(),
                        );
                    }
                    still.push((i, child, log))
                }
                Some(status) => {
                    let name = &runs[i].run_name;
                    if let Some(bars) = &mut bars {
                        bars.finish(name);
                    }
                    let outcome = if status.success() {
                        say(&bars, &mut report, &format!("{name}: done"));
                        RunOutcome::Finished
                    } else {
                        let message =
                            format!("{name}: training failed ({status}), see {}", log.display());
                        say(&bars, &mut report, &message);
                        RunOutcome::Failed(message)
                    };
                    outcomes[i] = Some(outcome);
                }
            }
        }
        running = still;
    }
    Ok(outcomes
        .into_iter()
        .map(|o| o.expect("every run has an outcome"))
        .collect())
}
