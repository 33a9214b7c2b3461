//! The Burn device named in a config.

use burn::tensor::Device;
use rnnzoo_config::DeviceName;

/// The device for a config's `device:` key, or an error naming the cargo feature to enable.
pub fn device(name: DeviceName) -> Result<Device, String> {
    match name {
        DeviceName::Flex => Ok(Device::flex()),
        DeviceName::Ndarray => ndarray(),
        DeviceName::Wgpu => wgpu(),
    }
}

#[cfg(feature = "ndarray")]
fn ndarray() -> Result<Device, String> {
    // Deprecated in Burn 0.22 in favour of flex; kept selectable for comparisons.
    #[allow(deprecated)]
    Ok(Device::ndarray())
}

#[cfg(not(feature = "ndarray"))]
fn ndarray() -> Result<Device, String> {
    Err("device `ndarray` is not compiled in: build with `--features ndarray`".into())
}

#[cfg(feature = "wgpu")]
fn wgpu() -> Result<Device, String> {
    Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu() -> Result<Device, String> {
    Err("device `wgpu` is not compiled in: build with `--features wgpu`".into())
}

/// Asks the C allocator to keep freed memory for reuse instead of returning it to the system.
///
/// Every training step allocates and frees the same large buffers (activations kept for the
/// backward, gradients). glibc serves blocks above its mmap threshold with fresh `mmap`s and
/// unmaps them on free, so each step pays page faults, zeroing and, with two threads, TLB
/// shoot-downs: 15% of a step on one thread and 20% on two in the LSTM benchmark (config d: 825
/// -> 715 ms on one thread, 610 -> 489 ms on two). This raises the threshold to glibc's maximum
/// (32 MiB), stops trimming the heap, as PyTorch's caching allocator keeps its blocks, and
/// serves even larger blocks from the heap (no `mmap` at all): the word LM's `[1120, 10000]`
/// logits and their gradients are 45 MB each, above any threshold glibc accepts, and their page
/// faults were 11% of the benchmark's config a on one thread (`perf`: `clear_page`,
/// `exc_page_fault`, unmapping). A no-op on other C libraries.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_MMAP_THRESHOLD: i32 = -3;
        const M_MMAP_MAX: i32 = -4;
        unsafe extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        // SAFETY: mallopt only changes allocator parameters; called before any worker thread.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 32 << 20);
            mallopt(M_TRIM_THRESHOLD, i32::MAX);
            mallopt(M_MMAP_MAX, 0);
        }
    }
}
