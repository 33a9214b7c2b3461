//! Adam with a single-pass update on the Flex backend ([`FusedAdam`]).

use burn::optim::{AdamConfig, AdamState, AdaptiveMomentumState, Optimizer};
use burn::optim::{LearningRate, decay::WeightDecayConfig};
use burn::tensor::{Device, Tensor};
use rnnzoo_kernels::adam::AdamStep;

use crate::fused;

/// Adam (Kingma & Ba 2015) as Burn's `Adam` computes it, bit for bit, with the update of each
/// parameter tensor done in one multi-threaded pass on the Flex device (see
/// `rnnzoo_kernels::adam` for the equations and why); on other devices it is Burn's `Adam`.
///
/// Its state is Burn's [`AdamState`], so checkpoints of either optimizer load into the other.
/// Build a [`burn::optim::ModuleOptimizer`] from it with `.into()`. AMSGrad is not offered.
#[derive(Clone, Debug)]
pub struct FusedAdam {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    weight_decay: f32,
    /// Burn's Adam with the same settings, for devices other than Flex.
    burn: BurnAdam,
}

/// Burn's `Adam` does not implement `Debug`.
#[derive(Clone)]
struct BurnAdam(burn::optim::Adam);

impl std::fmt::Debug for BurnAdam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("burn::optim::Adam")
    }
}

impl FusedAdam {
    /// Adam with β₁ = 0.9, β₂ = 0.999, the given ε (PyTorch's default is 1e-8, Burn's 1e-5)
    /// and L2 weight decay (0 for none).
    pub fn new(epsilon: f32, weight_decay: f32) -> Self {
        Self::with_betas(0.9, 0.999, epsilon, weight_decay)
    }

    /// Adam with explicit moment decays.
    pub fn with_betas(beta_1: f32, beta_2: f32, epsilon: f32, weight_decay: f32) -> Self {
        let burn = AdamConfig::new()
            .with_beta_1(beta_1)
            .with_beta_2(beta_2)
            .with_epsilon(epsilon)
            .with_weight_decay((weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay)))
            .build();
        Self {
            beta_1,
            beta_2,
            epsilon,
            weight_decay,
            burn: BurnAdam(burn),
        }
    }
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        if !fused::supports(&tensor.device()) {
            return self.burn.0.step(lr, tensor, grad, state);
        }
        let (moment_1, moment_2, time) = match state {
            Some(AdamState { momentum }) => (momentum.moment_1, momentum.moment_2, momentum.time),
            // Zero moments make the first update Burn's first-step formula exactly.
            None => (tensor.zeros_like(), tensor.zeros_like(), 0),
        };
        let time = time + 1;
        let step = AdamStep {
            lr: lr as f32,
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            epsilon: self.epsilon,
            weight_decay: self.weight_decay,
            time: time as i32,
        };
        let (tensor, moment_1, moment_2) = fused::adam_step(tensor, grad, moment_1, moment_2, step);
        let momentum = AdaptiveMomentumState::new(time, moment_1, moment_2);
        (tensor, Some(AdamState::new(momentum)))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        <burn::optim::Adam as Optimizer>::to_device(state, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::{GradientsParams, ModuleOptimizer};
    use burn::tensor::Distribution;

    fn train(mut optim: ModuleOptimizer, steps: usize) -> Vec<f32> {
        let device = Device::flex().autodiff();
        device.seed(11);
        let mut model: Linear = LinearConfig::new(40, 30).init(&device);
        for _ in 0..steps {
            let x = Tensor::<2>::random([8, 40], Distribution::Default, &device);
            let loss = model.forward(x).powf_scalar(2.0).mean();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(3e-2, model, grads);
        }
        let weight = model.weight.val().into_data().try_to_vec::<f32>().unwrap();
        let bias = model
            .bias
            .unwrap()
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        [weight, bias].concat()
    }

    #[test]
    fn gives_burns_adam_bit_for_bit() {
        for decay in [0.0, 0.05] {
            let burn = AdamConfig::new()
                .with_epsilon(1e-8)
                .with_weight_decay((decay > 0.0).then(|| WeightDecayConfig::new(decay)))
                .init();
            let fused: ModuleOptimizer = FusedAdam::new(1e-8, decay).into();
            let (expected, got) = (train(burn, 6), train(fused, 6));
            assert_eq!(expected, got, "weight decay {decay}");
            // The steps did move the parameters.
            assert_ne!(train(FusedAdam::new(1e-8, decay).into(), 0), got);
        }
    }
}
