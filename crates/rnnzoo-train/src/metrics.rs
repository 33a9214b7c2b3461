//! `metrics.csv`: one row per logged step; validation columns filled on evaluation steps.
//! [`CsvLog`] writes any task's columns (the shared loop's log); [`MetricsLog`] reads and
//! writes the language model's layout (what the loop writes for it, and the n-gram baseline's
//! header).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

/// Column names of a language model's log, in order (as the shared loop writes them for it).
pub const HEADER: &str =
    "step,epoch,train_loss,valid_loss,valid_perplexity,tokens_per_s,lr,elapsed_s";

/// One row of the log.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricsRow {
    /// Optimizer steps done.
    pub step: usize,
    /// Epoch.
    pub epoch: usize,
    /// Mean training loss since the previous row (nats per token).
    pub train_loss: Option<f64>,
    /// Validation loss (nats per token), on evaluation steps.
    pub valid_loss: Option<f64>,
    /// Validation perplexity, on evaluation steps.
    pub perplexity: Option<f64>,
    /// Training throughput since the previous row.
    pub tokens_per_s: Option<f64>,
    /// Learning rate of the last step.
    pub lr: f64,
    /// Training seconds so far.
    pub elapsed_s: f64,
}

fn cell(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.6}")).unwrap_or_default()
}

fn parse(s: &str) -> Option<f64> {
    (!s.is_empty()).then(|| s.parse().ok()).flatten()
}

/// An append-only CSV log, flushed after every row so a crash loses nothing.
pub struct MetricsLog {
    file: File,
}

impl MetricsLog {
    /// Opens the log for appending, writing the header to a new file. Rows after `keep_until`
    /// steps (from a run that went on past its last checkpoint) are dropped when resuming.
    pub fn open(path: &Path, keep_until: Option<usize>) -> std::io::Result<Self> {
        if let Some(step) = keep_until {
            let kept: Vec<MetricsRow> = Self::read(path)?
                .into_iter()
                .filter(|r| r.step <= step)
                .collect();
            let mut text = format!("{HEADER}\n");
            for r in &kept {
                text.push_str(&Self::format(r));
            }
            std::fs::write(path, text)?;
        }
        let new = !path.exists();
        let mut file = OpenOptions::new().create(true).append(true).open(path)?;
        if new {
            writeln!(file, "{HEADER}")?;
        }
        Ok(Self { file })
    }

    fn format(r: &MetricsRow) -> String {
        format!(
            "{},{},{},{},{},{},{:e},{:.3}\n",
            r.step,
            r.epoch,
            cell(r.train_loss),
            cell(r.valid_loss),
            cell(r.perplexity),
            r.tokens_per_s
                .map(|v| format!("{v:.1}"))
                .unwrap_or_default(),
            r.lr,
            r.elapsed_s
        )
    }

    /// Appends a row.
    pub fn append(&mut self, row: &MetricsRow) -> std::io::Result<()> {
        self.file.write_all(Self::format(row).as_bytes())?;
        self.file.flush()
    }

    /// Reads every row of a log.
    pub fn read(path: &Path) -> std::io::Result<Vec<MetricsRow>> {
        let reader = BufReader::new(File::open(path)?);
        let mut rows = Vec::new();
        for line in reader.lines().skip(1) {
            let line = line?;
            let f: Vec<&str> = line.split(',').collect();
            if f.len() != 8 {
                continue;
            }
            rows.push(MetricsRow {
                step: f[0].parse().unwrap_or(0),
                epoch: f[1].parse().unwrap_or(0),
                train_loss: parse(f[2]),
                valid_loss: parse(f[3]),
                perplexity: parse(f[4]),
                tokens_per_s: parse(f[5]),
                lr: parse(f[6]).unwrap_or(0.0),
                elapsed_s: parse(f[7]).unwrap_or(0.0),
            });
        }
        Ok(rows)
    }
}

/// A CSV log with task-chosen columns, flushed after every row.
pub struct CsvLog {
    file: File,
}

impl CsvLog {
    /// Creates (truncates) the file and writes the header.
    pub fn create(path: &Path, header: &[&str]) -> std::io::Result<Self> {
        let mut file = File::create(path)?;
        writeln!(file, "{}", header.join(","))?;
        Ok(Self { file })
    }

    /// Opens the log of a run: a new file with `header`, or, resuming (`keep_until`), the
    /// existing one with the rows after step `keep_until` dropped (written after the checkpoint
    /// the run resumes from). The first column must be the step.
    pub fn open(path: &Path, header: &[&str], keep_until: Option<usize>) -> std::io::Result<Self> {
        let Some(step) = keep_until else {
            return Self::create(path, header);
        };
        let text = std::fs::read_to_string(path)?;
        let mut kept = format!("{}\n", header.join(","));
        for line in text.lines().skip(1) {
            // A row cut short by a crash has fewer cells: dropped with the later ones.
            let cells: Vec<&str> = line.split(',').collect();
            let row_step = cells[0].parse::<f64>().ok();
            if cells.len() == header.len() && row_step.is_some_and(|s| s <= step as f64) {
                kept.push_str(line);
                kept.push('\n');
            }
        }
        rnnzoo_models::weights::write_atomic(path, kept.as_bytes())?;
        let file = OpenOptions::new().append(true).open(path)?;
        Ok(Self { file })
    }

    /// Appends a row; `None` cells stay empty.
    pub fn row(&mut self, cells: &[Option<f64>]) -> std::io::Result<()> {
        let line: Vec<String> = cells
            .iter()
            .map(|c| c.map(|v| format!("{v}")).unwrap_or_default())
            .collect();
        writeln!(self.file, "{}", line.join(","))?;
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_resume_truncates() {
        let path = std::env::temp_dir().join(format!("rnnzoo-metrics-{}.csv", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut log = MetricsLog::open(&path, None).unwrap();
        for step in [10, 20, 30] {
            log.append(&MetricsRow {
                step,
                train_loss: Some(1.5),
                valid_loss: (step == 20).then_some(1.25),
                lr: 1e-3,
                ..Default::default()
            })
            .unwrap();
        }
        drop(log);
        let rows = MetricsLog::read(&path).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1].valid_loss, Some(1.25));
        assert_eq!(rows[0].valid_loss, None);
        MetricsLog::open(&path, Some(20)).unwrap();
        assert_eq!(MetricsLog::read(&path).unwrap().len(), 2);
        std::fs::remove_file(path).unwrap();
    }
}
