//! Gradient-norm clipping over all parameters at once, as PyTorch's `clip_grad_norm_`.
//!
//! Burn's `GradientClippingConfig::Norm` clips each parameter tensor on its own, which changes
//! the direction of the update; recurrent networks are trained with the global norm
//! (Pascanu et al. 2013), so this module provides it.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

/// Sums the squared gradients of every parameter of a module.
struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    total: f64,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.get::<D>(param.id) {
            self.total += grad.square().sum().into_scalar::<f32>() as f64;
        }
    }
}

/// Multiplies the gradient of every parameter of a module by one factor.
struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: f64,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            self.grads
                .register::<D>(param.id, grad.mul_scalar(self.factor));
        }
    }
}

/// The global L2 norm of a module's gradients, `sqrt(Σ_p ||∇p||²)`.
pub fn grad_norm<M: Module>(module: &M, grads: &GradientsParams) -> f64 {
    let mut visitor = SquaredNorm { grads, total: 0.0 };
    module.visit(&mut visitor);
    visitor.total.sqrt()
}

/// Rescales all gradients of `module` together so that their global L2 norm is at most
/// `max_norm`, exactly as PyTorch's `torch.nn.utils.clip_grad_norm_`: every gradient is
/// multiplied by `min(1, max_norm / (norm + 1e-6))`. Returns the norm before clipping.
pub fn clip_grad_norm<M: Module>(module: &M, grads: &mut GradientsParams, max_norm: f64) -> f64 {
    let norm = grad_norm(module, grads);
    let factor = max_norm / (norm + 1e-6);
    if factor < 1.0 {
        module.visit(&mut Scale { grads, factor });
    }
    norm
}
