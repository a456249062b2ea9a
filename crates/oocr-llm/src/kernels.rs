//! Which kernels run: oocr's fused CPU kernels (faer products, gradient sinks, the fused AdamW
//! sweep) or candle-native tensor ops, which run on any candle `Device`. The fused kernels are the
//! default on the CPU; tensors on another device always take the native path. `set_native(true)`
//! forces the native path on the CPU too (for checking one against the other).
use std::sync::atomic::{AtomicBool, Ordering};

static NATIVE: AtomicBool = AtomicBool::new(false);

/// Force candle-native kernels everywhere (process-wide; set before building a trainer).
pub fn set_native(on: bool) {
    NATIVE.store(on, Ordering::SeqCst);
}

/// Whether tensors on `device` use the candle-native kernels.
pub fn native_on(device: &candle_core::Device) -> bool {
    NATIVE.load(Ordering::SeqCst) || !device.is_cpu()
}
