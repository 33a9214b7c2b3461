//! What a user sees while training: an `indicatif` progress bar on a terminal (it fits the
//! terminal's width and redraws in place), plain periodic lines otherwise (CI, logs, pipes, and
//! the runs `rnnzoo compare` starts, whose lines it reads to draw one bar per running run).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Progress display for a run of `total` steps.
pub struct Progress {
    total: usize,
    start: Instant,
    start_step: usize,
    /// The bar, on a terminal.
    bar: Option<ProgressBar>,
    log_every: usize,
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

/// The bar's layout: counts, a 20-cell bar, then the message (loss, throughput, time left), cut to the terminal's width so that a narrow terminal never wraps the line.
fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("[{pos}/{len}] {bar:20} {percent:>3}%  {wide_msg}")
        .expect("a valid template")
        .progress_chars("█▉▊▋▌▍▎▏░")
}

/// A bar for `total` steps at `position`, drawn on standard output.
pub fn terminal_bar(total: usize, position: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stdout());
    bar.set_style(bar_style());
    bar.set_position(position as u64);
    bar
}

impl Progress {
    /// Starts the display at `start_step` (non-zero when resuming).
    pub fn new(total: usize, start_step: usize, log_every: usize) -> Self {
        let terminal = std::io::stdout().is_terminal();
        Self {
            total,
            start: Instant::now(),
            start_step,
            bar: terminal.then(|| terminal_bar(total, start_step)),
            log_every,
            unit: "tok/s",
        }
    }

    /// Names the throughput unit (default `tok/s`), e.g. `ex/s` for classification.
    pub fn with_unit(mut self, unit: &'static str) -> Self {
        self.unit = unit;
        self
    }

    /// What follows the counts: the training loss and the throughput (validations are printed
    /// as lines of their own).
    fn status(&self, loss: f64, tokens_per_s: f64) -> String {
        format!("loss {loss:.3}  {:.1}k {}", tokens_per_s / 1e3, self.unit)
    }

    /// The time left after `step`, at the rate since the display started.
    fn eta(&self, step: usize) -> String {
        let rate = (step - self.start_step) as f64 / self.start.elapsed().as_secs_f64().max(1e-9);
        duration((self.total - step.min(self.total)) as f64 / rate.max(1e-9))
    }

    /// The plain line for `step` (1-based count of steps done), as written when standard output
    /// is not a terminal.
    pub fn line(&self, step: usize, loss: f64, tokens_per_s: f64) -> String {
        let done = step as f64 / self.total.max(1) as f64;
        let width = 20;
        let filled = ((done * width as f64) as usize).min(width);
        let bar: String = "█".repeat(filled) + &"░".repeat(width - filled);
        let digits = self.total.to_string().len();
        format!(
            "[{step:>digits$}/{}] {bar} {:>3.0}%  {}  ETA {}",
            self.total,
            done * 100.0,
            self.status(loss, tokens_per_s),
            self.eta(step)
        )
    }

    /// Shows progress after `step`: moves the bar on a terminal, prints a line every
    /// `log_every` steps otherwise.
    pub fn update(&self, step: usize, loss: f64, tokens_per_s: f64) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(step as u64);
                bar.set_message(format!(
                    "{}  ETA {}",
                    self.status(loss, tokens_per_s),
                    self.eta(step)
                ));
            }
            None if step.is_multiple_of(self.log_every) || step == self.total => {
                println!("{}", self.line(step, loss, tokens_per_s));
            }
            None => {}
        }
    }

    /// Prints a message on its own line (above the bar, on a terminal).
    pub fn message(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => println!("{text}"),
        }
    }

    /// Leaves the bar where it ended.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.abandon();
        }
    }
}

/// One bar per running run, stacked, on a terminal: `rnnzoo compare --jobs N` follows the
/// runs it starts by their output ([`last_position`]).
pub struct RunBars {
    multi: MultiProgress,
    bars: HashMap<String, ProgressBar>,
}

impl RunBars {
    /// Bars on standard output, when it is a terminal.
    pub fn on_terminal() -> Option<Self> {
        std::io::stdout().is_terminal().then(|| Self {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
            bars: HashMap::new(),
        })
    }

    /// Adds a bar for the run `name`.
    pub fn start(&mut self, name: &str) {
        let bar = self.multi.add(ProgressBar::new(1));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{pos}/{len}] {wide_bar} {percent:>3}%  ETA {eta}",
            )
            .expect("a valid template")
            .progress_chars("█▉▊▋▌▍▎▏░"),
        );
        bar.set_prefix(name.to_string());
        self.bars.insert(name.to_string(), bar);
    }

    /// Moves `name`'s bar to the newest progress line of its output.
    pub fn follow(&self, name: &str, output: &str) {
        if let (Some(bar), Some((done, total))) = (self.bars.get(name), last_position(output)) {
            bar.set_length(total);
            bar.set_position(done);
        }
    }

    /// Removes `name`'s bar.
    pub fn finish(&mut self, name: &str) {
        if let Some(bar) = self.bars.remove(name) {
            bar.finish_and_clear();
        }
    }

    /// Prints a line above the bars.
    pub fn println(&self, text: &str) {
        let _ = self.multi.println(text);
    }
}

/// The `(steps done, total)` of the newest progress line (`[ 50/300] ...`, as
/// [`Progress::line`] writes it) in a run's output: how `rnnzoo compare` follows the runs it
/// starts.
pub fn last_position(output: &str) -> Option<(u64, u64)> {
    output.lines().rev().find_map(|line| {
        let inside = line.strip_prefix('[')?.split(']').next()?;
        let (done, total) = inside.split_once('/')?;
        Some((done.trim().parse().ok()?, total.trim().parse().ok()?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shows_counts_loss_throughput_and_eta() {
        let p = Progress::new(100, 0, 10);
        let line = p.line(25, 1.612, 41_200.0);
        assert!(line.starts_with("[ 25/100] █████░░░"), "{line}");
        assert!(
            line.contains("25%") && line.contains("loss 1.612"),
            "{line}"
        );
        assert!(
            line.contains("41.2k tok/s") && line.contains("ETA"),
            "{line}"
        );
        assert_eq!(duration(3725.0), "1h02m");
        assert_eq!(
            last_position(&format!("run: x\n{line}\nstep 25: valid loss 1.2\n")),
            Some((25, 100))
        );
        assert_eq!(last_position("run: x\n"), None);
        assert_eq!(duration(75.0), "1m15s");
    }
}
