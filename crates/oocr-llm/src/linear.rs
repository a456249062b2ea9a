//! Linear layers `y = x W^T (+ b) (+ scale · x A^T B^T)`, with an optional LoRA adapter.
//!
//! The product `x W^T` is a custom candle op whose backward pass computes the weight gradient only
//! when the weight is trainable (candle's built-in matmul always computes both gradients, which for
//! LoRA, with W frozen, would waste a third of the backward flops and memory), and writes it into
//! the weight's `GradSink` when it has one. The forward product and the input gradient run on
//! faer's matrix product, which has AVX-512 kernels on stable Rust (candle's `gemm` stops at AVX2).
use crate::error::Result;
use crate::grad_sink::GradSink;
use crate::packed::{packed_lookup, packed_matmul_t, Packed};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor, Var};
use std::sync::Arc;

/// `x W^T` for `x: (n, in)` and `W: (out, in)`, differentiable in both, each only when it tracks.
struct MatmulT {
    sink: Option<Arc<GradSink>>,
}

impl CustomOp2 for MatmulT {
    fn name(&self) -> &'static str {
        "matmul-t"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, k) = l1.shape().dims2()?;
        let (m, k2) = l2.shape().dims2()?;
        if k != k2 {
            candle_core::bail!("matmul-t: x is ({n}, {k}) but W is ({m}, {k2})");
        }
        if let (CpuStorage::F32(xs), CpuStorage::F32(ws), Some((x0, x1)), Some((w0, w1))) =
            (s1, s2, l1.contiguous_offsets(), l2.contiguous_offsets())
        {
            let mut out = vec![0f32; n * m];
            product_t(&mut out, &xs[x0..x1], &ws[w0..w1], n, k, m, false);
            return Ok((CpuStorage::F32(out), Shape::from((n, m))));
        }
        let out = s1.matmul(s2, (1, n, m, k), l1, &l2.transpose(0, 1)?)?;
        Ok((out, Shape::from((n, m))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let gx = if x.track_op() {
            let (n, m) = grad.dims2()?;
            let k = w.dim(1)?;
            let mut out = vec![0f32; n * k];
            crate::grad_sink::with_f32(grad, |g| {
                crate::grad_sink::with_f32(w, |w| product_t(&mut out, g, w, n, m, k, true))
            })??;
            Some(Tensor::from_vec(out, (n, k), grad.device())?)
        } else {
            None
        };
        let gw = match &self.sink {
            Some(sink) => {
                sink.add_at_b(grad, x)?;
                None
            }
            None if w.track_op() => Some(grad.t()?.matmul(x)?),
            None => None,
        };
        Ok((gx, gw))
    }
}

/// `out (n×cols) = a (n×inner) · Bᵀ` with `b` stored (cols×inner), or `a · b` with `b` stored
/// (inner×cols) when `b_plain`; every matrix row-major and contiguous.
pub(crate) fn product_t(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    n: usize,
    inner: usize,
    cols: usize,
    b_plain: bool,
) {
    use faer::linalg::matmul::matmul;
    use faer::{Accum, MatMut, MatRef};
    let a = MatRef::from_row_major_slice(a, n, inner);
    let b = if b_plain {
        MatRef::from_row_major_slice(b, inner, cols)
    } else {
        MatRef::from_row_major_slice(b, cols, inner).transpose()
    };
    let out = MatMut::from_row_major_slice_mut(out, n, cols);
    let par = match crate::threads() {
        t if t > 1 => faer::Par::rayon(t),
        _ => faer::Par::Seq,
    };
    matmul(out, Accum::Replace, a, b, 1.0f32, par);
}

/// `x W^T` for 2-D `x` and `W`, with gradients only for the inputs that need them; the weight's
/// gradient goes to `sink` when given.
pub fn matmul_t(x: &Tensor, w: &Tensor, sink: Option<&Arc<GradSink>>) -> Result<Tensor> {
    if crate::kernels::native_on(x.device()) {
        return Ok(x.matmul(&w.t()?)?);
    }
    Ok(x.apply_op2(
        w,
        MatmulT {
            sink: sink.cloned(),
        },
    )?)
}

/// Row lookup `table[ids]` whose backward pass scatter-adds into the table's `GradSink`.
struct Lookup {
    sink: Arc<GradSink>,
}

impl CustomOp2 for Lookup {
    fn name(&self) -> &'static str {
        "lookup"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (rows, cols) = l1.shape().dims2()?;
        let (CpuStorage::F32(table), CpuStorage::U32(ids)) = (s1, s2) else {
            candle_core::bail!("lookup: expected an f32 table and u32 ids");
        };
        let (Some((t0, _)), Some((i0, i1))) = (l1.contiguous_offsets(), l2.contiguous_offsets())
        else {
            candle_core::bail!("lookup: expected contiguous inputs");
        };
        let mut out = Vec::with_capacity((i1 - i0) * cols);
        for &id in &ids[i0..i1] {
            let id = id as usize;
            if id >= rows {
                candle_core::bail!("lookup: token id {id} out of range {rows}");
            }
            out.extend_from_slice(&table[t0 + id * cols..t0 + (id + 1) * cols]);
        }
        Ok((CpuStorage::F32(out), Shape::from((i1 - i0, cols))))
    }

    fn bwd(
        &self,
        _table: &Tensor,
        ids: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let ids: Vec<u32> = ids.to_vec1()?;
        self.sink.add_rows(&ids, grad)?;
        Ok((None, None))
    }
}

/// `table[ids]` for a 2-D table and 1-D u32 ids; with a sink, the table's gradient goes there.
pub fn lookup(table: &Tensor, ids: &Tensor, sink: Option<&Arc<GradSink>>) -> Result<Tensor> {
    if crate::kernels::native_on(table.device()) {
        return Ok(table.index_select(ids, 0)?);
    }
    Ok(match sink {
        Some(s) => table.apply_op2(ids, Lookup { sink: s.clone() })?,
        None => table.index_select(ids, 0)?,
    })
}

/// A low-rank adapter `scale · B A` added to a frozen weight (Hu et al. 2021).
#[derive(Debug, Clone)]
pub struct LoraAdapter {
    /// Down projection, `(rank, in)`, random at start.
    pub a: Var,
    /// Up projection, `(out, rank)`, zero at start so the adapted model starts as the base model.
    pub b: Var,
    /// `alpha / rank`.
    pub scale: f64,
}

/// A weight matrix: f32, or packed (frozen, see `packed`).
#[derive(Debug, Clone)]
pub enum Weight {
    /// An f32 tensor; a `Var` when fully fine-tuned.
    Dense(Tensor),
    /// A frozen matrix kept compressed.
    Packed(Arc<Packed>),
}

impl Weight {
    /// `(rows, cols)`.
    pub fn dims2(&self) -> Result<(usize, usize)> {
        Ok(match self {
            Weight::Dense(t) => t.dims2()?,
            Weight::Packed(p) => p.dims(),
        })
    }

    /// Number of entries.
    pub fn elem_count(&self) -> usize {
        match self {
            Weight::Dense(t) => t.elem_count(),
            Weight::Packed(p) => p.dims().0 * p.dims().1,
        }
    }

    /// The matrix in f32 (a copy for packed weights).
    pub fn to_tensor(&self) -> Result<Tensor> {
        match self {
            Weight::Dense(t) => Ok(t.clone()),
            Weight::Packed(p) => p.to_tensor(),
        }
    }

    /// The f32 tensor, if dense.
    pub fn dense(&self) -> Option<&Tensor> {
        match self {
            Weight::Dense(t) => Some(t),
            Weight::Packed(_) => None,
        }
    }

    /// `x Wᵀ`; a dense weight's gradient goes to `sink` when given.
    pub fn matmul_t(&self, x: &Tensor, sink: Option<&Arc<GradSink>>) -> Result<Tensor> {
        match self {
            Weight::Dense(w) => matmul_t(x, w, sink),
            Weight::Packed(p) => packed_matmul_t(x, p),
        }
    }

    /// Row lookup `W[ids]` (an embedding); a dense weight's gradient goes to `sink` when given.
    pub fn lookup(&self, ids: &Tensor, sink: Option<&Arc<GradSink>>) -> Result<Tensor> {
        match self {
            Weight::Dense(w) => lookup(w, ids, sink),
            Weight::Packed(p) => packed_lookup(p, ids),
        }
    }
}

/// A linear layer with optional bias and LoRA adapter.
#[derive(Debug, Clone)]
pub struct Linear {
    /// Hugging Face module path, e.g. `model.layers.0.self_attn.q_proj`.
    pub name: String,
    /// Weight `(out, in)`.
    pub weight: Weight,
    /// Optional bias `(out,)`.
    pub bias: Option<Tensor>,
    /// Optional LoRA adapter.
    pub lora: Option<LoraAdapter>,
    /// Where the weight's gradient goes when fully fine-tuned.
    pub sink: Option<Arc<GradSink>>,
}

impl Linear {
    /// A plain linear layer named `name` (its Hugging Face module path).
    pub fn new(name: impl Into<String>, weight: Weight, bias: Option<Tensor>) -> Self {
        Linear {
            name: name.into(),
            weight,
            bias,
            lora: None,
            sink: None,
        }
    }

    /// The module's own name (`q_proj`), the last component of `name`: what LoRA targets match.
    pub fn module(&self) -> &str {
        self.name.rsplit('.').next().unwrap_or(&self.name)
    }

    /// Apply to `x: (n, in)`, giving `(n, out)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut y = self.weight.matmul_t(x, self.sink.as_ref())?;
        if let Some(b) = &self.bias {
            y = y.broadcast_add(b)?;
        }
        if let Some(l) = &self.lora {
            let h = matmul_t(x, l.a.as_tensor(), None)?;
            y = (y + (matmul_t(&h, l.b.as_tensor(), None)? * l.scale)?)?;
        }
        Ok(y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn matmul_t_matches_candle_and_its_gradients() {
        let dev = Device::Cpu;
        let x = Var::from_vec(
            (0..12).map(|i| (i as f32 * 0.37).sin()).collect(),
            (3, 4),
            &dev,
        )
        .unwrap();
        let w = Var::from_vec(
            (0..20).map(|i| (i as f32 * 0.11).cos()).collect(),
            (5, 4),
            &dev,
        )
        .unwrap();
        let ours = matmul_t(&x, &w, None).unwrap();
        let theirs = x.matmul(&w.t().unwrap()).unwrap();
        let diff = (&ours - &theirs)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-6);
        let weights = Tensor::arange(0f32, 15., &dev)
            .unwrap()
            .reshape((3, 5))
            .unwrap();
        let g1 = (ours * &weights)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let g2 = (theirs * &weights)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for v in [&x, &w] {
            let a = g1.get(v).unwrap();
            let b = g2.get(v).unwrap();
            let d = (a - b)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(d < 1e-5, "gradient mismatch {d}");
        }
    }

    #[test]
    fn frozen_weight_gets_no_gradient() {
        let dev = Device::Cpu;
        let x = Var::from_vec(vec![1f32, 2., 3., 4.], (2, 2), &dev).unwrap();
        let w = Tensor::from_vec(vec![1f32, 0., 0., 1.], (2, 2), &dev).unwrap();
        let g = matmul_t(&x, &w, None)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert!(g.get(&w).is_none());
        assert!(g.get(&x).is_some());
    }
}
