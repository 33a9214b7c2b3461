//! Learning rate as a pure function of the step.
//!
//! Burn's schedulers are stateful objects stepped once per iteration; a pure function of the
//! step makes resuming from a checkpoint exact with nothing to save, and composes warm-up with
//! any decay without chaining schedulers.

use rnnzoo_config::{ScheduleConfig, ScheduleHorizon, ScheduleName};

/// The learning rate for optimizer step `step` (0-based) of `total` steps, peaking at `peak`.
pub fn lr_at(schedule: &ScheduleConfig, peak: f64, step: usize, total: usize) -> f64 {
    lr_within_budget(schedule, peak, step, total, None)
}

/// [`lr_at`] for a run that has spent the fraction `time_used` of its time budget: a cosine
/// schedule over `time` (`schedule.over`) decays by whichever of steps and time is further
/// along. Time makes the rate depend on the machine's speed (a resumed run continues from
/// the training time its checkpoint recorded); the point is a run its budget cuts short
/// still ending annealed.
pub fn lr_within_budget(
    schedule: &ScheduleConfig,
    peak: f64,
    step: usize,
    total: usize,
    time_used: Option<f64>,
) -> f64 {
    let warmup = schedule.warmup_steps;
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let after = step - warmup;
    match schedule.name {
        ScheduleName::Constant => peak,
        ScheduleName::Cosine => {
            let span = total.saturating_sub(warmup).max(1);
            let by_steps = after as f64 / span as f64;
            let by_time = match (schedule.over, time_used) {
                (ScheduleHorizon::Time, Some(used)) => used,
                _ => 0.0,
            };
            let progress = by_steps.max(by_time).min(1.0);
            let min = schedule.min_lr;
            min + 0.5 * (peak - min) * (1.0 + (std::f64::consts::PI * progress).cos())
        }
        ScheduleName::Step => {
            let size = schedule.step_size.unwrap_or(usize::MAX).max(1);
            peak * schedule.gamma.unwrap_or(0.1).powi((after / size) as i32)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine_to_min() {
        let s = ScheduleConfig {
            name: ScheduleName::Cosine,
            warmup_steps: 10,
            min_lr: 0.1,
            ..Default::default()
        };
        assert!((lr_at(&s, 1.0, 0, 110) - 0.1).abs() < 1e-12);
        assert!((lr_at(&s, 1.0, 9, 110) - 1.0).abs() < 1e-12);
        assert!((lr_at(&s, 1.0, 10, 110) - 1.0).abs() < 1e-12);
        assert!((lr_at(&s, 1.0, 60, 110) - 0.55).abs() < 1e-12);
        assert!((lr_at(&s, 1.0, 110, 110) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn cosine_over_time_follows_the_budget_or_the_steps_whichever_is_ahead() {
        let s = ScheduleConfig {
            name: ScheduleName::Cosine,
            min_lr: 0.1,
            over: ScheduleHorizon::Time,
            ..Default::default()
        };
        // Half the time spent at a tenth of the steps: halfway down.
        assert!((lr_within_budget(&s, 1.0, 10, 100, Some(0.5)) - 0.55).abs() < 1e-12);
        // The steps ahead of the time: they decide.
        assert!((lr_within_budget(&s, 1.0, 50, 100, Some(0.1)) - 0.55).abs() < 1e-12);
        // Budget spent: the final rate, not below.
        assert!((lr_within_budget(&s, 1.0, 10, 100, Some(1.3)) - 0.1).abs() < 1e-12);
        // Over steps, the time is ignored.
        let steps = ScheduleConfig {
            over: ScheduleHorizon::Steps,
            ..s.clone()
        };
        assert_eq!(
            lr_within_budget(&steps, 1.0, 10, 100, Some(0.5)),
            lr_at(&steps, 1.0, 10, 100)
        );
    }

    #[test]
    fn step_decay() {
        let s = ScheduleConfig {
            name: ScheduleName::Step,
            step_size: Some(5),
            gamma: Some(0.5),
            ..Default::default()
        };
        assert_eq!(lr_at(&s, 1.0, 4, 100), 1.0);
        assert_eq!(lr_at(&s, 1.0, 5, 100), 0.5);
        assert_eq!(lr_at(&s, 1.0, 12, 100), 0.25);
    }
}
