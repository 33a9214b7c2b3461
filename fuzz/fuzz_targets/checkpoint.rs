//! The parsing stage of loading a checkpoint's `model.safetensors`. Burn's `SafetensorsStore`
//! (which `rnnzoo_train::Checkpoint::load_model` uses, and which needs Burn to build) hands the
//! bytes to `safetensors::SafeTensors::deserialize`, maps each dtype and then copies each
//! tensor's bytes as `shape` elements of that dtype: the target does the same and checks that
//! the byte count fits, which Burn's copy takes for granted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use safetensors::SafeTensors;

fuzz_target!(|data: &[u8]| {
    let Ok(tensors) = SafeTensors::deserialize(data) else {
        return;
    };
    for (name, view) in tensors.tensors() {
        let elements = view
            .shape()
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .expect("shape overflows");
        let bits = view.dtype().bitsize();
        assert_eq!(
            view.data().len() * 8,
            elements * bits,
            "{name}: {:?} {:?}",
            view.dtype(),
            view.shape()
        );
        let again = tensors.tensor(&name).expect("a listed tensor is found");
        assert_eq!(again.data().to_vec(), view.data());
    }
});
