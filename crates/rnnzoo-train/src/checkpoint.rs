//! Checkpoints that survive crashes: each is a folder `checkpoints/step-NNNNNNNN/` holding
//! `model.safetensors` (the weights, readable by any safetensors tool), with `train.ema_decay`
//! also `averaged.safetensors` (the weights' moving average, which evaluation and inference
//! load in their place), `optimizer.bpk` (Burn's
//! burnpack record of the optimizer state) and `state.json` (the loop position). A checkpoint is
//! written into a hidden temporary folder and renamed into place only when complete, then the
//! `latest` pointer is replaced atomically, so a crash at any moment leaves the previous
//! checkpoint as the newest. `checksums.json`, written last, holds the size and CRC-32 of every
//! other file; a checkpoint whose files do not match it (truncated, overwritten) is passed
//! over, with a warning, for the newest intact one, and so is a `latest` or `best` pointer that
//! names no checkpoint.

use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::ModuleOptimizer;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::Tensor;
use rnnzoo_models::weights::write_atomic;
use serde::{Deserialize, Serialize};

/// Where a training loop stands; saved with every checkpoint so `--resume` continues exactly.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoopState {
    /// Optimizer steps done.
    pub step: usize,
    /// Current epoch (passes over the training data started).
    pub epoch: usize,
    /// Position in the epoch's data (segment or batch index of the next step).
    pub position: usize,
    /// Evaluations since the best one (early stopping).
    pub evals_since_best: usize,
    /// Training seconds so far.
    pub elapsed_s: f64,
    /// Target tokens (or examples, sequences) trained on so far.
    pub tokens: u64,
    /// The best validation metrics so far, in the task's order.
    #[serde(default)]
    pub best_metrics: Option<Vec<f64>>,
    /// Step of the best validation.
    #[serde(default)]
    pub best_step: usize,
    /// Epoch (1-based) of the best validation.
    #[serde(default)]
    pub best_epoch: usize,
    /// Training loss summed over the steps since the last `metrics.csv` row, and those steps
    /// (the shared loop's; so the first row after a resume averages what it would have).
    #[serde(default)]
    pub window_loss: f64,
    /// Steps since the last `metrics.csv` row.
    #[serde(default)]
    pub window_steps: usize,
    /// Batches skipped for a NaN (`train.on_nan: skip`); the learning rate is scaled by
    /// `0.5^nan_skips`.
    #[serde(default)]
    pub nan_skips: usize,
}

#[derive(Serialize, Deserialize)]
struct StateFile {
    #[serde(flatten)]
    state: LoopState,
    /// Parameter ids in module traversal order: the optimizer state is keyed by them, and
    /// safetensors does not keep them.
    param_ids: Vec<u64>,
}

/// Errors saving or loading a checkpoint, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// File system error.
    #[error("{path}: {message}")]
    Io {
        /// The path.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The checkpoint does not fit the model.
    #[error("{path}: {message}")]
    Mismatch {
        /// The checkpoint.
        path: PathBuf,
        /// How it differs.
        message: String,
    },
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> CheckpointError + '_ {
    move |e| CheckpointError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

struct CollectIds(Vec<u64>);

impl ModuleVisitor for CollectIds {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.id.val());
    }
}

struct RestoreIds {
    ids: std::vec::IntoIter<u64>,
    missing: bool,
}

impl ModuleMapper for RestoreIds {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        match self.ids.next() {
            Some(id) => {
                let (_, value, mapper) = param.consume();
                Param::from_mapped_value(ParamId::from(id), value, mapper)
            }
            None => {
                self.missing = true;
                param
            }
        }
    }
}

/// The file of a checkpoint that holds the others' sizes and checksums.
const CHECKSUMS: &str = "checksums.json";

/// The trained weights of a checkpoint (what training resumes from).
const MODEL_FILE: &str = "model.safetensors";

/// The moving average of the weights (`train.ema_decay`), used for evaluation and inference.
const AVERAGED_FILE: &str = "averaged.safetensors";

/// A file's size and CRC-32.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct FileSum {
    bytes: u64,
    crc32: u32,
}

fn file_sum(path: &Path) -> std::io::Result<FileSum> {
    let bytes = std::fs::read(path)?;
    Ok(FileSum {
        bytes: bytes.len() as u64,
        crc32: crc32fast::hash(&bytes),
    })
}

/// The sums of every file in a checkpoint folder (but the sums file).
fn checksums(dir: &Path) -> std::io::Result<std::collections::BTreeMap<String, FileSum>> {
    let mut sums = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if let Some(name) = name.filter(|n| n != CHECKSUMS && path.is_file()) {
            sums.insert(name, file_sum(&path)?);
        }
    }
    Ok(sums)
}

/// Whether a checkpoint folder is complete and its files match their checksums; `Err` says
/// what is wrong. A checkpoint of an earlier version without `checksums.json` gets the
/// structural check of [`verify_structure`] instead.
fn verify(dir: &Path) -> Result<(), String> {
    for needed in ["state.json", "model.safetensors"] {
        if !dir.join(needed).is_file() {
            return Err(format!("has no {needed}"));
        }
    }
    let Ok(text) = std::fs::read_to_string(dir.join(CHECKSUMS)) else {
        return verify_structure(dir);
    };
    let sums: std::collections::BTreeMap<String, FileSum> =
        serde_json::from_str(&text).map_err(|e| format!("has a damaged {CHECKSUMS} ({e})"))?;
    for (name, expected) in &sums {
        match file_sum(&dir.join(name)) {
            Ok(found) if found == *expected => {}
            Ok(found) => {
                return Err(format!(
                    "is damaged: {name} has {} bytes (CRC {:08x}), {} (CRC {:08x}) were written",
                    found.bytes, found.crc32, expected.bytes, expected.crc32
                ));
            }
            Err(e) => return Err(format!("is damaged: {name}: {e}")),
        }
    }
    Ok(())
}

/// The check of a checkpoint without checksums (written before they existed): `state.json` is
/// JSON and `model.safetensors` parses with every tensor inside the file, which catches the
/// truncated or overwritten files a crash or a full disk leaves.
fn verify_structure(dir: &Path) -> Result<(), String> {
    let state = std::fs::read(dir.join("state.json")).map_err(|e| format!("state.json: {e}"))?;
    serde_json::from_slice::<serde_json::Value>(&state)
        .map_err(|e| format!("is damaged: state.json is not JSON ({e})"))?;
    let weights = std::fs::read(dir.join("model.safetensors"))
        .map_err(|e| format!("model.safetensors: {e}"))?;
    safetensors::SafeTensors::deserialize(&weights)
        .map_err(|e| format!("is damaged: model.safetensors does not parse ({e})"))?;
    Ok(())
}

/// What keeps a checkpoint from fitting a model, in words: the first few tensors whose shapes
/// differ or are missing; `None` when it fits. Tensors the model does not use are allowed (a
/// language model's output layer when a classifier takes its encoder).
fn describe_mismatch(result: &burn::store::ApplyResult) -> Option<String> {
    use burn::store::ApplyError;
    let mut parts = Vec::new();
    for e in result.errors.iter().take(3) {
        parts.push(match e {
            ApplyError::ShapeMismatch {
                path,
                expected,
                found,
            } => format!(
                "`{path}` is {:?} in the checkpoint but {:?} in the model",
                found.as_slice(),
                expected.as_slice()
            ),
            ApplyError::DTypeMismatch {
                path,
                expected,
                found,
            } => format!("`{path}` is {found:?} in the checkpoint but {expected:?} in the model"),
            other => format!("{other:?}"),
        });
    }
    let names = |paths: Vec<&String>| {
        let shown: Vec<String> = paths.iter().take(3).map(|p| format!("`{p}`")).collect();
        let more = paths.len().saturating_sub(3);
        format!(
            "{}{}",
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        )
    };
    if !result.missing.is_empty() {
        let missing: Vec<&String> = result.missing.iter().map(|(p, _)| p).collect();
        parts.push(format!("the checkpoint lacks {}", names(missing)));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Saving, finding and loading checkpoints under one run's `checkpoints/` folder.
pub struct Checkpoint;

impl Checkpoint {
    /// Writes a checkpoint for `state.step`, with the weights' moving average if there is one
    /// and any `extras` (file name, bytes) a task needs to resume exactly, points `latest` at
    /// it, marks it `best` when asked, and removes older checkpoints beyond the newest `keep`
    /// (never the best).
    #[allow(clippy::too_many_arguments)]
    pub fn save<M: Module>(
        root: &Path,
        model: &M,
        averaged: Option<&M>,
        optim: &ModuleOptimizer,
        state: &LoopState,
        is_best: bool,
        keep: usize,
        extras: &[(&str, Vec<u8>)],
    ) -> Result<PathBuf, CheckpointError> {
        std::fs::create_dir_all(root).map_err(io_err(root))?;
        let name = format!("step-{:08}", state.step);
        let tmp = root.join(format!(".tmp-{name}"));
        let dest = root.join(&name);
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
        }
        std::fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;

        for (file, weights) in [(MODEL_FILE, Some(model)), (AVERAGED_FILE, averaged)] {
            let Some(weights) = weights else { continue };
            let path = tmp.join(file);
            let mut store = SafetensorsStore::from_file(&path);
            weights
                .save_into(&mut store)
                .map_err(|e| CheckpointError::Io {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
        }
        let optimizer = tmp.join("optimizer.bpk");
        optim.save(&optimizer).map_err(|e| CheckpointError::Io {
            path: optimizer.clone(),
            message: e.to_string(),
        })?;
        let mut ids = CollectIds(Vec::new());
        model.visit(&mut ids);
        let state_file = StateFile {
            state: state.clone(),
            param_ids: ids.0,
        };
        let json = serde_json::to_vec_pretty(&state_file).expect("state serialises");
        write_atomic(&tmp.join("state.json"), &json).map_err(io_err(&tmp))?;
        for (name, bytes) in extras {
            std::fs::write(tmp.join(name), bytes).map_err(io_err(&tmp))?;
        }
        let sums = checksums(&tmp).map_err(io_err(&tmp))?;
        let json = serde_json::to_vec_pretty(&sums).expect("checksums serialise");
        write_atomic(&tmp.join(CHECKSUMS), &json).map_err(io_err(&tmp))?;

        if dest.exists() {
            std::fs::remove_dir_all(&dest).map_err(io_err(&dest))?;
        }
        std::fs::rename(&tmp, &dest).map_err(io_err(&dest))?;
        write_atomic(&root.join("latest"), name.as_bytes()).map_err(io_err(root))?;
        if is_best {
            write_atomic(&root.join("best"), name.as_bytes()).map_err(io_err(root))?;
        }
        Self::prune(root, keep)?;
        Ok(dest)
    }

    /// The checkpoint a pointer file names, if the pointer exists; `Err` says why it cannot
    /// be used (it names no checkpoint, or the checkpoint is damaged).
    fn pointer(root: &Path, which: &str) -> Option<Result<PathBuf, String>> {
        let name = std::fs::read_to_string(root.join(which)).ok()?;
        let path = root.join(name.trim());
        Some(match verify(&path) {
            Ok(()) => Ok(path),
            Err(why) => Err(format!(
                "{}: `{which}` names {}, which {why}",
                root.display(),
                name.trim()
            )),
        })
    }

    /// The `step-*` checkpoint folders under `root`, oldest first.
    fn step_folders(root: &Path) -> std::io::Result<Vec<PathBuf>> {
        let mut all: Vec<PathBuf> = std::fs::read_dir(root)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_dir()
                    && p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("step-"))
            })
            .collect();
        all.sort();
        Ok(all)
    }

    /// The newest checkpoint folder whose files are intact.
    fn newest_intact(root: &Path) -> Option<PathBuf> {
        let all = Self::step_folders(root).ok()?;
        all.into_iter().rev().find(|p| verify(p).is_ok())
    }

    /// The newest complete, intact checkpoint, if any: the one `latest` names, else (with a
    /// warning) the newest intact one.
    pub fn latest(root: &Path) -> Option<PathBuf> {
        match Self::pointer(root, "latest") {
            Some(Ok(path)) => Some(path),
            broken => {
                let found = Self::newest_intact(root);
                if let (Some(Err(why)), Some(path)) = (&broken, &found) {
                    eprintln!("warning: {why}; using {} instead", path.display());
                } else if let Some(Err(why)) = &broken {
                    eprintln!("warning: {why}; no older checkpoint is intact either");
                } else if let (None, Some(path)) = (&broken, &found) {
                    eprintln!(
                        "warning: {}: no `latest` pointer; using {}",
                        root.display(),
                        path.display()
                    );
                }
                found
            }
        }
    }

    /// The checkpoint of the best validation, if any and intact (a damaged one is named in a
    /// warning).
    pub fn best(root: &Path) -> Option<PathBuf> {
        match Self::pointer(root, "best")? {
            Ok(path) => Some(path),
            Err(why) => {
                eprintln!("warning: {why}");
                None
            }
        }
    }

    /// The checkpoint to use a trained run from: the best, else the latest.
    pub fn best_or_latest(root: &Path) -> Option<PathBuf> {
        Self::best(root).or_else(|| Self::latest(root))
    }

    /// [`Checkpoint::best_or_latest`], or an error that says whether the run has no checkpoint
    /// yet or only damaged ones.
    pub fn to_use(root: &Path) -> Result<PathBuf, String> {
        Self::best_or_latest(root).ok_or_else(|| {
            match Self::step_folders(root).map_or(0, |all| all.len()) {
                0 => format!(
                    "{}: no checkpoint yet (the training did not reach its first)",
                    root.display()
                ),
                n => format!(
                    "{}: none of its {n} checkpoints is intact (see the warnings above)",
                    root.display()
                ),
            }
        })
    }

    fn prune(root: &Path, keep: usize) -> Result<(), CheckpointError> {
        let best = Self::best(root);
        let all = Self::step_folders(root).map_err(io_err(root))?;
        let excess = all.len().saturating_sub(keep.max(1));
        for old in all.into_iter().take(excess) {
            if Some(&old) != best.as_ref() {
                std::fs::remove_dir_all(&old).map_err(io_err(&old))?;
            }
        }
        Ok(())
    }

    /// An extra file saved with a checkpoint, if present.
    pub fn read_extra(path: &Path, name: &str) -> Option<Vec<u8>> {
        std::fs::read(path.join(name)).ok()
    }

    /// Loads the weights to use of a checkpoint into `model` (same architecture): the moving
    /// average where the run kept one (`train.ema_decay`), else the trained weights.
    pub fn load_model<M: Module>(path: &Path, model: M) -> Result<M, CheckpointError> {
        let file = if path.join(AVERAGED_FILE).is_file() {
            AVERAGED_FILE
        } else {
            MODEL_FILE
        };
        Self::load_weights(path, file, model)
    }

    /// Loads the weights' moving average of a checkpoint into `model`, if it holds one.
    pub fn load_average<M: Module>(path: &Path, model: M) -> Result<Option<M>, CheckpointError> {
        if !path.join(AVERAGED_FILE).is_file() {
            return Ok(None);
        }
        Self::load_weights(path, AVERAGED_FILE, model).map(Some)
    }

    /// Loads one weights file of a checkpoint into `model` (same architecture).
    fn load_weights<M: Module>(
        path: &Path,
        file: &str,
        mut model: M,
    ) -> Result<M, CheckpointError> {
        let weights = path.join(file);
        if !weights.is_file() {
            return Err(CheckpointError::Io {
                path: weights,
                message: "missing: not a complete checkpoint".into(),
            });
        }
        // Partial and unvalidated, so that every difference comes back as data to name here
        // rather than as Burn's debugging dump.
        let mut store = SafetensorsStore::from_file(&weights)
            .allow_partial(true)
            .validate(false);
        let result = model
            .load_from(&mut store)
            .map_err(|e| CheckpointError::Mismatch {
                path: weights.clone(),
                message: format!("not a readable safetensors file ({e})"),
            })?;
        if let Some(difference) = describe_mismatch(&result) {
            return Err(CheckpointError::Mismatch {
                path: weights,
                message: format!(
                    "does not fit the model that the run's config.yaml and vocabulary describe: \
                     {difference}; was config.yaml, vocab.json or labels.json edited, or the \
                     checkpoint copied from another run?"
                ),
            });
        }
        Ok(model)
    }

    /// Loads a checkpoint for resuming: weights (with their original parameter ids), optimizer
    /// state and loop state.
    pub fn load<M: Module>(
        path: &Path,
        model: M,
        optim: ModuleOptimizer,
    ) -> Result<(M, ModuleOptimizer, LoopState), CheckpointError> {
        let state_path = path.join("state.json");
        let text = std::fs::read_to_string(&state_path).map_err(io_err(&state_path))?;
        let file: StateFile =
            serde_json::from_str(&text).map_err(|e| CheckpointError::Mismatch {
                path: state_path.clone(),
                message: e.to_string(),
            })?;
        let model = Self::load_weights(path, MODEL_FILE, model)?;
        let mut restore = RestoreIds {
            ids: file.param_ids.into_iter(),
            missing: false,
        };
        let model = model.map(&mut restore);
        if restore.missing || restore.ids.next().is_some() {
            return Err(CheckpointError::Mismatch {
                path: state_path,
                message: "parameter count differs from the model".into(),
            });
        }
        let optimizer = path.join("optimizer.bpk");
        let optim = optim.load(&optimizer).map_err(|e| CheckpointError::Io {
            path: optimizer,
            message: e.to_string(),
        })?;
        Ok((model, optim, file.state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::GradientsParams;
    use burn::tensor::{Device, Distribution};
    use rnnzoo_models::FusedAdam;

    fn step(model: Linear, optim: &mut ModuleOptimizer, x: &Tensor<2>) -> Linear {
        let grads = GradientsParams::from_grads(
            model.forward(x.clone()).powf_scalar(2.0).sum().backward(),
            &model,
        );
        optim.step(1e-2, model, grads)
    }

    #[test]
    fn evaluation_loads_the_weight_average_and_resuming_the_weights() {
        let root = std::env::temp_dir().join(format!("rnnzoo-ckpt-avg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dev = Device::flex().autodiff();
        dev.seed(2);
        let model = LinearConfig::new(7, 5).init(&dev);
        let averaged = LinearConfig::new(7, 5).init(&dev).valid();
        let optim: ModuleOptimizer = FusedAdam::new(1e-5, 0.0).into();
        let state = LoopState {
            step: 1,
            ..Default::default()
        };
        let path =
            Checkpoint::save(&root, &model, Some(&averaged), &optim, &state, true, 2, &[]).unwrap();
        let weights = |m: &Linear| m.weight.val().into_data();
        let fresh = || LinearConfig::new(7, 5).init(&dev);
        let used = Checkpoint::load_model(&path, fresh()).unwrap();
        assert_eq!(weights(&used), weights(&averaged));
        let loaded = Checkpoint::load_average(&path, fresh()).unwrap().unwrap();
        assert_eq!(weights(&loaded), weights(&averaged));
        let (resumed, _, _) = Checkpoint::load(&path, fresh(), optim).unwrap();
        assert_eq!(weights(&resumed), weights(&model));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn resume_continues_exactly_and_half_written_checkpoints_are_ignored() {
        let root = std::env::temp_dir().join(format!("rnnzoo-ckpt-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dev = Device::flex().autodiff();
        dev.seed(1);
        let x = Tensor::<2>::random([4, 3], Distribution::Default, &dev);
        let mut model = LinearConfig::new(3, 2).init(&dev);
        // The optimizer training runs use (its state is Burn's Adam state).
        let mut optim: ModuleOptimizer = FusedAdam::new(1e-5, 0.0).into();
        for _ in 0..3 {
            model = step(model, &mut optim, &x);
        }
        let state = LoopState {
            step: 3,
            ..Default::default()
        };
        Checkpoint::save(
            &root,
            &model,
            None,
            &optim,
            &state,
            true,
            2,
            &[("extra.bin", vec![7, 8])],
        )
        .unwrap();
        // The original run goes on two more steps.
        let mut a = model.clone();
        for _ in 0..2 {
            a = step(a, &mut optim, &x);
        }
        // A crash while writing the next checkpoint leaves only a temporary folder behind.
        std::fs::create_dir_all(root.join(".tmp-step-00000005")).unwrap();
        let latest = Checkpoint::latest(&root).unwrap();
        assert!(latest.ends_with("step-00000003"));
        assert_eq!(
            Checkpoint::read_extra(&latest, "extra.bin"),
            Some(vec![7, 8])
        );
        // A fresh process resumes: new parameter ids, empty optimizer, then loaded.
        let fresh = LinearConfig::new(3, 2).init(&dev);
        let (mut b, mut optim_b, loaded) =
            Checkpoint::load(&latest, fresh, FusedAdam::new(1e-5, 0.0).into()).unwrap();
        assert_eq!(loaded, state);
        for _ in 0..2 {
            b = step(b, &mut optim_b, &x);
        }
        assert_eq!(
            a.weight.val().into_data(),
            b.weight.val().into_data(),
            "bit-identical continuation"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
