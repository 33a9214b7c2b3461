//! Training support shared by every rnnzoo task, with no task knowledge: the optimizer and the
//! learning-rate schedule built from config, run directories, atomic checkpoints (model,
//! optimizer and loop state), the `metrics.csv` log, the progress display and the
//! learning-curve plot, the weights' moving average ([`average`]), and [`trainer`]: the one training loop every task runs on, through its
//! [`trainer::Task`] interface.

pub mod average;
pub mod checkpoint;
pub mod device;
pub mod finetune;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod plot;
pub mod progress;
pub mod rundir;
pub mod schedule;
pub mod trainer;
pub mod verbs;

pub use checkpoint::{Checkpoint, CheckpointError, LoopState};
pub use metrics::{MetricsLog, MetricsRow};
pub use progress::Progress;
pub use rundir::RunDir;
