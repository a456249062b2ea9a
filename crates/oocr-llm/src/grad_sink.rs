//! Gradient buffers that the backward pass of a weight writes into directly.
//!
//! candle's backward pass gives every parameter gradient a fresh zero tensor plus a copy with the
//! gradient added (`GradStore::or_insert` then `add`). For a 135M-parameter model that is about a
//! gigabyte allocated, page-faulted and freed per step. A `GradSink` is allocated once per weight:
//! the first product of a step overwrites it (`gemm` without reading the destination), later ones
//! accumulate into it, and the optimizer reads it in place.
use candle_core::{CpuStorage, Storage, Tensor};
use std::sync::{Arc, Mutex};

/// A gradient buffer, row-major, the shape of its parameter.
#[derive(Debug)]
pub struct GradSink {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    buf: Vec<f32>,
    /// Whether `buf` holds a gradient of the current step (else it is stale and gets overwritten).
    written: bool,
}

/// Run `f` on the contiguous f32 data of `t`.
pub fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> candle_core::Result<R> {
    let t = t.contiguous()?;
    let (s, l) = t.storage_and_layout();
    match (&*s, l.contiguous_offsets()) {
        (Storage::Cpu(CpuStorage::F32(v)), Some((a, b))) => Ok(f(&v[a..b])),
        _ => candle_core::bail!("expected a contiguous f32 CPU tensor"),
    }
}

fn parallelism() -> gemm::Parallelism {
    match crate::threads() {
        n if n > 1 => gemm::Parallelism::Rayon(n),
        _ => gemm::Parallelism::None,
    }
}

impl GradSink {
    /// A sink for a parameter of `len` elements.
    pub fn new(len: usize) -> Arc<Self> {
        Arc::new(GradSink {
            inner: Mutex::new(Inner {
                buf: vec![0.0; len],
                written: false,
            }),
        })
    }

    /// `buf (rows × cols) += aᵀ b` for `a: (n, rows)` and `b: (n, cols)`.
    pub fn add_at_b(&self, a: &Tensor, b: &Tensor) -> candle_core::Result<()> {
        let (n, rows) = a.dims2()?;
        let (n2, cols) = b.dims2()?;
        let mut g = self.inner.lock().expect("gradient sink lock");
        if n != n2 || rows * cols != g.buf.len() {
            candle_core::bail!(
                "grad sink: aᵀb of ({n}, {rows}) and ({n2}, {cols}) does not fit {}",
                g.buf.len()
            );
        }
        let read_dst = g.written;
        let dst = g.buf.as_mut_ptr();
        with_f32(a, |a| {
            with_f32(b, |b| {
                // SAFETY: dst holds rows × cols elements (checked above), a holds n × rows and b
                // holds n × cols contiguous elements; strides describe exactly those layouts.
                unsafe {
                    gemm::gemm(
                        rows,
                        cols,
                        n,
                        dst,
                        1,
                        cols as isize,
                        read_dst,
                        a.as_ptr(),
                        rows as isize,
                        1,
                        b.as_ptr(),
                        1,
                        cols as isize,
                        1.0f32,
                        1.0f32,
                        false,
                        false,
                        false,
                        parallelism(),
                    )
                }
            })
        })??;
        g.written = true;
        Ok(())
    }

    /// `buf[ids[i], :] += grad[i, :]` for `grad: (n, cols)` (the backward pass of a row lookup).
    pub fn add_rows(&self, ids: &[u32], grad: &Tensor) -> candle_core::Result<()> {
        let (n, cols) = grad.dims2()?;
        let mut g = self.inner.lock().expect("gradient sink lock");
        if n != ids.len() || !g.buf.len().is_multiple_of(cols) {
            candle_core::bail!("grad sink: {} ids for a ({n}, {cols}) gradient", ids.len());
        }
        let n_rows = g.buf.len() / cols;
        if !g.written {
            g.buf.fill(0.0);
            g.written = true;
        }
        with_f32(grad, |src| {
            for (i, &id) in ids.iter().enumerate() {
                let id = id as usize;
                if id >= n_rows {
                    return Err(candle_core::Error::Msg(format!(
                        "token id {id} out of range {n_rows}"
                    )));
                }
                let dst = &mut g.buf[id * cols..(id + 1) * cols];
                for (d, s) in dst.iter_mut().zip(&src[i * cols..(i + 1) * cols]) {
                    *d += s;
                }
            }
            Ok(())
        })?
    }

    /// Run `f` on the gradient of this step, or on `None` if nothing was written since `reset`.
    pub fn with_grad<R>(&self, f: impl FnOnce(Option<&[f32]>) -> R) -> R {
        let g = self.inner.lock().expect("gradient sink lock");
        f(if g.written { Some(&g.buf) } else { None })
    }

    /// Mark the buffer stale: the next write of a step overwrites instead of adding.
    pub fn reset(&self) {
        self.inner.lock().expect("gradient sink lock").written = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn accumulates_products_and_rows_then_resets() {
        let dev = Device::Cpu;
        let a = Tensor::from_vec(vec![1f32, 2., 3., 4., 5., 6.], (3, 2), &dev).unwrap();
        let b = Tensor::from_vec(vec![1f32, 0., 1., 2., 1., 0.], (3, 2), &dev).unwrap();
        let s = GradSink::new(4);
        s.add_at_b(&a, &b).unwrap();
        let expect = a
            .t()
            .unwrap()
            .matmul(&b)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        s.with_grad(|g| assert_eq!(g.unwrap(), expect.as_slice()));
        s.add_at_b(&a, &b).unwrap();
        let twice: Vec<f32> = expect.iter().map(|x| 2.0 * x).collect();
        s.with_grad(|g| assert_eq!(g.unwrap(), twice.as_slice()));
        s.add_rows(
            &[1, 1],
            &Tensor::from_vec(vec![1f32, 1., 2., 2.], (2, 2), &dev).unwrap(),
        )
        .unwrap();
        s.with_grad(|g| {
            assert_eq!(
                g.unwrap(),
                &[twice[0], twice[1], twice[2] + 3.0, twice[3] + 3.0]
            )
        });
        s.reset();
        s.with_grad(|g| assert!(g.is_none()));
        // After a reset the first write overwrites.
        s.add_rows(
            &[0],
            &Tensor::from_vec(vec![5f32, 6.], (1, 2), &dev).unwrap(),
        )
        .unwrap();
        s.with_grad(|g| assert_eq!(g.unwrap(), &[5.0, 6.0, 0.0, 0.0]));
        assert!(s
            .add_rows(
                &[7],
                &Tensor::from_vec(vec![1f32, 1.], (1, 2), &dev).unwrap()
            )
            .is_err());
    }
}
