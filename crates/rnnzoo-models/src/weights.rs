//! Import and export of a [`Recurrent`] layer's weights under PyTorch's names and shapes.
//!
//! Names: `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}`, with the suffix
//! `_reverse` for the backward direction, plus `weight_peephole_{i,f,o}_l{k}` (`[H]` each) for
//! peephole LSTMs. Shapes are PyTorch's `[G·H, in]`, gates in PyTorch's order (`i,f,g,o` for the
//! LSTM, `i,g,o` for the coupled LSTM, `r,z,n` for the GRU), so a `state_dict()` of `nn.LSTM`,
//! `nn.GRU` or `nn.RNN` loads directly.
//!
//! The file format is safetensors (f32). Burn's `burn-store` maps module paths one to one and
//! cannot split or transpose fused gate blocks into PyTorch's layout, so this module writes the
//! tensors itself with the `safetensors` crate that `burn-store` also uses.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use burn::module::Param;
use burn::tensor::{Tensor, TensorData};
use safetensors::{Dtype, SafeTensors, View};

use crate::cell::CellWeights;
use crate::recurrent::Recurrent;

/// A named tensor on the host, in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub values: Vec<f32>,
}

impl HostTensor {
    fn from_tensor<const D: usize>(t: Tensor<D>) -> Self {
        let shape = t.dims().to_vec();
        let values = t
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32 tensor data");
        Self { shape, values }
    }
}

/// Errors reading or applying a weight file.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The file is not valid safetensors.
    #[error("{path}: not a safetensors file: {message}")]
    Format {
        /// The file.
        path: String,
        /// The parser's message.
        message: String,
    },
    /// A tensor the layer needs is missing.
    #[error("missing tensor `{0}`")]
    Missing(String),
    /// A tensor has the wrong shape or type.
    #[error("tensor `{name}` has shape {found:?}, expected {expected:?}")]
    Shape {
        /// The tensor's name.
        name: String,
        /// Its shape in the file.
        found: Vec<usize>,
        /// The shape the layer needs.
        expected: Vec<usize>,
    },
    /// A tensor is not stored as f32.
    #[error("tensor `{name}` is {dtype}, expected F32")]
    Dtype {
        /// The tensor's name.
        name: String,
        /// Its dtype in the file.
        dtype: String,
    },
}

fn cell_suffix(layer: &Recurrent, index: usize) -> String {
    let dirs = layer.num_directions();
    let reverse = if index % dirs == 1 { "_reverse" } else { "" };
    format!("_l{}{reverse}", index / dirs)
}

const PEEPHOLE_NAMES: [&str; 3] = ["i", "f", "o"];

/// The layer's parameters under PyTorch's names and layout, each name prefixed with `prefix`
/// (for example `"rnn."` to match a PyTorch module attribute).
pub fn pytorch_state(layer: &Recurrent, prefix: &str) -> BTreeMap<String, HostTensor> {
    let mut out = BTreeMap::new();
    for (index, cell) in layer.cells.iter().enumerate() {
        let suffix = cell_suffix(layer, index);
        let mut put = |name: String, t: HostTensor| {
            out.insert(format!("{prefix}{name}{suffix}"), t);
        };
        put(
            "weight_ih".into(),
            HostTensor::from_tensor(cell.weight_ih.val().transpose()),
        );
        put(
            "weight_hh".into(),
            HostTensor::from_tensor(cell.weight_hh.val().transpose()),
        );
        if let Some(b) = &cell.bias_ih {
            put("bias_ih".into(), HostTensor::from_tensor(b.val()));
        }
        if let Some(b) = &cell.bias_hh {
            put("bias_hh".into(), HostTensor::from_tensor(b.val()));
        }
        if let Some(p) = &cell.peephole {
            for (row, gate) in PEEPHOLE_NAMES.iter().enumerate() {
                let v = p.val().narrow(0, row, 1).squeeze_dim::<1>(0);
                put(
                    format!("weight_peephole_{gate}"),
                    HostTensor::from_tensor(v),
                );
            }
        }
    }
    out
}

fn take(
    tensors: &HashMap<String, HostTensor>,
    name: &str,
    expected: &[usize],
) -> Result<HostTensor, WeightsError> {
    let t = tensors
        .get(name)
        .ok_or_else(|| WeightsError::Missing(name.to_string()))?;
    if t.shape != expected {
        return Err(WeightsError::Shape {
            name: name.to_string(),
            found: t.shape.clone(),
            expected: expected.to_vec(),
        });
    }
    Ok(t.clone())
}

fn replace<const D: usize>(param: Param<Tensor<D>>, host: HostTensor) -> Param<Tensor<D>> {
    param.map(|old| {
        let shape: [usize; D] = host.shape.clone().try_into().expect("rank checked");
        let new = Tensor::from_data(TensorData::new(host.values, shape), &old.device());
        // A fresh tensor tracks no gradient: keep the parameter trainable if it was.
        if old.is_require_grad() {
            new.require_grad()
        } else {
            new
        }
    })
}

fn load_cell(
    cell: CellWeights,
    tensors: &HashMap<String, HostTensor>,
    prefix: &str,
    suffix: &str,
) -> Result<CellWeights, WeightsError> {
    let [input, gates] = cell.weight_ih.dims();
    let hidden = cell.hidden_size();
    let name = |n: &str| format!("{prefix}{n}{suffix}");
    let transposed = |host: HostTensor| {
        // PyTorch `[G·H, in]` -> ours `[in, G·H]`.
        let [rows, cols] = [host.shape[0], host.shape[1]];
        let mut values = vec![0.0; host.values.len()];
        for r in 0..rows {
            for c in 0..cols {
                values[c * rows + r] = host.values[r * cols + c];
            }
        }
        HostTensor {
            shape: vec![cols, rows],
            values,
        }
    };
    let w_ih = transposed(take(tensors, &name("weight_ih"), &[gates, input])?);
    let w_hh = transposed(take(tensors, &name("weight_hh"), &[gates, hidden])?);
    let bias_ih = match cell.bias_ih {
        Some(p) => Some(replace(p, take(tensors, &name("bias_ih"), &[gates])?)),
        None => None,
    };
    let bias_hh = match cell.bias_hh {
        Some(p) => Some(replace(p, take(tensors, &name("bias_hh"), &[gates])?)),
        None => None,
    };
    let peephole = match cell.peephole {
        Some(p) => {
            let mut values = Vec::with_capacity(3 * hidden);
            for gate in PEEPHOLE_NAMES {
                let t = take(
                    tensors,
                    &name(&format!("weight_peephole_{gate}")),
                    &[hidden],
                )?;
                values.extend(t.values);
            }
            Some(replace(
                p,
                HostTensor {
                    shape: vec![3, hidden],
                    values,
                },
            ))
        }
        None => None,
    };
    Ok(CellWeights {
        weight_ih: replace(cell.weight_ih, w_ih),
        weight_hh: replace(cell.weight_hh, w_hh),
        bias_ih,
        bias_hh,
        peephole,
    })
}

/// Replaces the layer's parameters with tensors named as [`pytorch_state`] names them. Parameter
/// identities (and so optimizer state keys) are kept. Tensors not belonging to the layer are
/// ignored, so a whole model's state can be passed.
pub fn load_pytorch_state(
    mut layer: Recurrent,
    tensors: &HashMap<String, HostTensor>,
    prefix: &str,
) -> Result<Recurrent, WeightsError> {
    let cells = std::mem::take(&mut layer.cells);
    let mut loaded = Vec::with_capacity(cells.len());
    for (index, cell) in cells.into_iter().enumerate() {
        let suffix = cell_suffix(&layer, index);
        loaded.push(load_cell(cell, tensors, prefix, &suffix)?);
    }
    layer.cells = loaded;
    Ok(layer)
}

struct F32View<'a>(&'a HostTensor);

impl View for F32View<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.0.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        self.0.values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }
    fn data_len(&self) -> usize {
        self.0.values.len() * 4
    }
}

/// Serialises named f32 tensors to safetensors bytes.
pub fn to_safetensors_bytes(tensors: &BTreeMap<String, HostTensor>) -> Vec<u8> {
    safetensors::serialize(tensors.iter().map(|(k, v)| (k.clone(), F32View(v))), None)
        .expect("f32 tensors with consistent shapes serialise")
}

/// Parses safetensors bytes into named f32 tensors; `path` only labels errors.
pub fn from_safetensors_bytes(
    bytes: &[u8],
    path: &str,
) -> Result<HashMap<String, HostTensor>, WeightsError> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| WeightsError::Format {
        path: path.to_string(),
        message: e.to_string(),
    })?;
    let mut out = HashMap::new();
    for (name, view) in file.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(WeightsError::Dtype {
                name,
                dtype: format!("{:?}", view.dtype()),
            });
        }
        let values = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        out.insert(
            name,
            HostTensor {
                shape: view.shape().to_vec(),
                values,
            },
        );
    }
    Ok(out)
}

/// Reads a safetensors file of f32 tensors.
pub fn read_safetensors(path: &Path) -> Result<HashMap<String, HostTensor>, WeightsError> {
    let label = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| WeightsError::Io {
        path: label.clone(),
        source,
    })?;
    from_safetensors_bytes(&bytes, &label)
}

/// Writes the layer's weights to a safetensors file under PyTorch's names (see
/// [`pytorch_state`]).
pub fn save_safetensors(layer: &Recurrent, prefix: &str, path: &Path) -> Result<(), WeightsError> {
    let bytes = to_safetensors_bytes(&pytorch_state(layer, prefix));
    write_atomic(path, &bytes).map_err(|source| WeightsError::Io {
        path: path.display().to_string(),
        source,
    })
}

pub use rnnzoo_data::write_atomic;

/// Loads the layer's weights from a safetensors file written by [`save_safetensors`] or by
/// PyTorch (`safetensors.torch.save_file(lstm.state_dict(), path)`).
pub fn load_safetensors(
    layer: Recurrent,
    prefix: &str,
    path: &Path,
) -> Result<Recurrent, WeightsError> {
    let tensors = read_safetensors(path)?;
    load_pytorch_state(layer, &tensors, prefix)
}
