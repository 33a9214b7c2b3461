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
