//! An exponential moving average of a model's weights (`train.ema_decay`), kept beside the
//! trained model by the shared loop.
//!
//! After optimizer step `t` (1-based), every floating-point tensor of the model (parameters and
//! buffers such as batch-norm running statistics) updates its average
//!
//! ```text
//! d_t = min(decay, (1 + t) / (10 + t))
//! θ̄_t = d_t · θ̄_{t-1} + (1 − d_t) · θ_t
//! ```
//!
//! as TensorFlow's `ExponentialMovingAverage` does with `num_updates`: early on `d_t` is small,
//! so the average follows the weights instead of remembering their random initialisation for
//! `1 / (1 − decay)` steps. Keras (`use_ema`), OpenNMT (`average_decay`) and PyTorch's
//! `AveragedModel` with `get_ema_multi_avg_fn` offer the same. The average moves less from one
//! evaluation to the next than the weights do, so it is a steadier model to validate, keep and
//! use; the optimizer keeps training the raw weights.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;

/// The averaged copy of a model (an inference copy, without gradients).
#[derive(Clone, Debug)]
pub struct WeightAverage<M> {
    model: M,
    decay: f64,
}

/// The decay of the update after step `t` (1-based): `min(decay, (1 + t) / (10 + t))`.
pub fn decay_at(decay: f64, step: usize) -> f64 {
    let t = step as f64;
    decay.min((1.0 + t) / (10.0 + t))
}

/// Every float tensor of a module with its id, flattened, in traversal order.
struct Flatten(Vec<(ParamId, Tensor<1>)>);

impl ModuleVisitor for Flatten {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        let n = value.shape().num_elements();
        self.0.push((param.id, value.reshape([n])));
    }
}

/// Moves every float tensor of the average towards the current model's.
struct Blend {
    current: std::vec::IntoIter<(ParamId, Tensor<1>)>,
    decay: f64,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, average, mapper) = param.consume();
        let (current_id, current) = self
            .current
            .next()
            .expect("the average has as many tensors as the model");
        assert_eq!(
            id, current_id,
            "the average follows the model it was made from"
        );
        let current = current.reshape(average.shape());
        let blended = average
            .mul_scalar(self.decay)
            .add(current.mul_scalar(1.0 - self.decay));
        Param::from_mapped_value(id, blended, mapper)
    }
}

impl<M: Module> WeightAverage<M> {
    /// An average that starts at `model`'s weights (a fresh average, or one loaded from a
    /// checkpoint to continue); an inference copy is taken.
    pub fn new(model: &M, decay: f64) -> Self {
        Self {
            model: model.valid(),
            decay,
        }
    }

    /// Folds in the weights of `model` after optimizer step `step` (1-based). `model` must be
    /// the model the average was made from, or one loaded with its parameter ids.
    pub fn update(&mut self, model: &M, step: usize) {
        let mut flatten = Flatten(Vec::new());
        model.valid().visit(&mut flatten);
        let mut blend = Blend {
            current: flatten.0.into_iter(),
            decay: decay_at(self.decay, step),
        };
        self.model = self.model.clone().map(&mut blend);
        assert!(
            blend.current.next().is_none(),
            "the model has as many tensors as the average"
        );
    }

    /// The averaged model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The averaged model, taken out.
    pub fn into_model(self) -> M {
        self.model
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;
    use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
    use burn::tensor::{Device, TensorData};

    /// A model with parameters of two ranks and batch-norm buffers.
    #[derive(Module, Debug)]
    struct Net {
        linear: Linear,
        norm: BatchNorm,
    }

    fn net(device: &Device) -> Net {
        Net {
            linear: LinearConfig::new(7, 5).init(device),
            norm: BatchNormConfig::new(5).init(device),
        }
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// Sets every float tensor of a module to one value.
    struct Fill(f32);

    impl ModuleMapper for Fill {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let (id, value, mapper) = param.consume();
            let filled = value.zeros_like().add_scalar(self.0);
            Param::from_mapped_value(id, filled, mapper)
        }
    }

    #[test]
    fn the_decay_warms_up_towards_its_ceiling() {
        assert!((decay_at(0.999, 1) - 2.0 / 11.0).abs() < 1e-12);
        assert!((decay_at(0.999, 90) - 91.0 / 100.0).abs() < 1e-12);
        assert_eq!(decay_at(0.9, 1_000_000), 0.9);
    }

    #[test]
    fn each_update_blends_every_tensor_with_the_step_decay() {
        let device = Device::flex();
        device.seed(3);
        let start = net(&device).map(&mut Fill(1.0));
        let mut average = WeightAverage::new(&start, 0.5);
        // Step 1 (decay min(0.5, 2/11) = 2/11): the model has moved to 12.
        let moved = start.clone().map(&mut Fill(12.0));
        average.update(&moved, 1);
        let d = 2.0 / 11.0;
        let expected = d * 1.0 + (1.0 - d) * 12.0;
        // Step 100 (decay 0.5): the model is at 0.
        let zero = start.map(&mut Fill(0.0));
        average.update(&zero, 100);
        let expected = (0.5 * expected) as f32;
        let m = average.model();
        for v in values(m.linear.weight.val())
            .into_iter()
            .chain(values(m.linear.bias.as_ref().unwrap().val()))
            .chain(values(m.norm.gamma.val()))
            .chain(values(m.norm.running_mean.value()))
            .chain(values(m.norm.running_var.value()))
        {
            assert!((v - expected).abs() < 1e-5, "{v} against {expected}");
        }
        assert_eq!(m.linear.weight.val().dims(), [7, 5]);
    }

    #[test]
    fn the_average_of_a_trained_model_lies_between_its_past_weights() {
        // A model trained on the autodiff device, averaged on its inference copy: the average
        // of a weight that only grows stays below the latest value and above the first.
        let device = Device::flex().autodiff();
        device.seed(5);
        let mut model = LinearConfig::new(7, 5).init(&device);
        let first = values(model.weight.val());
        let mut average = WeightAverage::new(&model, 0.9);
        for step in 1..=20 {
            let grown: Vec<f32> = values(model.weight.val()).iter().map(|v| v + 0.1).collect();
            let grown = Tensor::<2>::from_data(TensorData::new(grown, [7, 5]), &device);
            model.weight = Param::initialized(model.weight.id, grown.require_grad());
            average.update(&model, step);
        }
        let last = values(model.weight.val());
        let averaged = values(average.model().weight.val());
        for ((a, f), l) in averaged.iter().zip(&first).zip(&last) {
            assert!(a > f && a < l, "{f} < {a} < {l}");
        }
    }
}
