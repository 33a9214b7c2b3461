//! What a user sees while training: a redrawn progress bar on a terminal, plain periodic lines
//! otherwise (CI, logs, pipes).

use std::io::{IsTerminal, Write};
use std::time::Instant;

/// Progress display for a run of `total` steps.
pub struct Progress {
    total: usize,
    start: Instant,
    start_step: usize,
    terminal: bool,
    log_every: usize,
    valid: Option<(f64, f64)>,
    unit: &'static str,
}

fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s / 60 % 60),
    }
}

impl Progress {
    /// Starts the display at `start_step` (non-zero when resuming).
    pub fn new(total: usize, start_step: usize, log_every: usize) -> Self {
        Self {
            total,
            start: Instant::now(),
            start_step,
            terminal: std::io::stdout().is_terminal(),
            log_every,
            valid: None,
            unit: "tok/s",
        }
    }

    /// Names the throughput unit (default `tok/s`), e.g. `ex/s` for classification.
    pub fn with_unit(mut self, unit: &'static str) -> Self {
        self.unit = unit;
        self
    }

    /// Remembers the latest validation loss and perplexity for the following lines.
    pub fn set_valid(&mut self, loss: f64, perplexity: f64) {
        self.valid = Some((loss, perplexity));
    }

    /// The line for `step` (1-based count of steps done).
    pub fn line(&self, step: usize, loss: f64, tokens_per_s: f64) -> String {
        let done = step as f64 / self.total.max(1) as f64;
        let rate = (step - self.start_step) as f64 / self.start.elapsed().as_secs_f64().max(1e-9);
        let eta = (self.total - step.min(self.total)) as f64 / rate.max(1e-9);
        let width = 20;
        let filled = ((done * width as f64) as usize).min(width);
        let bar: String = "█".repeat(filled) + &"░".repeat(width - filled);
        let valid = match self.valid {
            Some((l, p)) => format!("  valid {l:.3} (ppl {p:.2})"),
            None => String::new(),
        };
        let digits = self.total.to_string().len();
        format!(
            "[{step:>digits$}/{}] {bar} {:>3.0}%  loss {loss:.3}{valid}  {:.1}k {}  ETA {}",
            self.total,
            done * 100.0,
            tokens_per_s / 1e3,
            self.unit,
            duration(eta)
        )
    }

    /// Shows progress after `step`: redraws the bar on a terminal, prints a line every
    /// `log_every` steps otherwise.
    pub fn update(&self, step: usize, loss: f64, tokens_per_s: f64) {
        if self.terminal {
            print!("\r\x1b[2K{}", self.line(step, loss, tokens_per_s));
            let _ = std::io::stdout().flush();
        } else if step.is_multiple_of(self.log_every) || step == self.total {
            println!("{}", self.line(step, loss, tokens_per_s));
        }
    }

    /// Prints a message on its own line (after the bar, on a terminal).
    pub fn message(&self, text: &str) {
        if self.terminal {
            print!("\r\x1b[2K");
        }
        println!("{text}");
    }

    /// Ends the bar's line.
    pub fn finish(&self) {
        if self.terminal {
            println!();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shows_counts_loss_throughput_and_eta() {
        let mut p = Progress::new(100, 0, 10);
        p.set_valid(1.5, 4.48);
        let line = p.line(25, 1.612, 41_200.0);
        assert!(line.starts_with("[ 25/100] █████░░░"), "{line}");
        assert!(
            line.contains("25%") && line.contains("loss 1.612"),
            "{line}"
        );
        assert!(
            line.contains("valid 1.500 (ppl 4.48)")
                && line.contains("41.2k tok/s")
                && line.contains("ETA"),
            "{line}"
        );
        assert_eq!(duration(3725.0), "1h02m");
        assert_eq!(duration(75.0), "1m15s");
    }
}
