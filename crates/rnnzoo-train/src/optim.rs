//! Burn optimizers from config.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{ModuleOptimizer, SgdConfig};
use rnnzoo_config::{OptimizerConfig, OptimizerName};
use rnnzoo_models::FusedAdam;

/// Builds the optimizer. Gradient clipping is not set here: rnnzoo clips the global norm over
/// all parameters before the step (`rnnzoo_models::clip_grad_norm`), as PyTorch users expect,
/// where Burn's built-in clipping is per tensor.
pub fn build_optimizer(config: &OptimizerConfig) -> ModuleOptimizer {
    let decay =
        (config.weight_decay > 0.0).then(|| WeightDecayConfig::new(config.weight_decay as f32));
    match config.name {
        // PyTorch's epsilon (Burn's default is 1e-5), so runs compare with PyTorch's. Burn's
        // Adam, with its update fused into one pass on the Flex device.
        OptimizerName::Adam => {
            let [beta_1, beta_2] = config.betas.map(|b| b as f32);
            FusedAdam::with_betas(beta_1, beta_2, 1e-8, config.weight_decay as f32).into()
        }
        OptimizerName::Sgd => SgdConfig::new()
            .with_weight_decay(decay)
            .with_momentum((config.momentum > 0.0).then_some(MomentumConfig {
                momentum: config.momentum,
                dampening: 0.0,
                nesterov: false,
            }))
            .init(),
    }
}
