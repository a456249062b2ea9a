//! Frozen weights kept compressed — the GGUF file's own quantized blocks, or bf16 — and expanded
//! to f32 a slab of rows at a time inside the products that use them, so that a LoRA run holds
//! about the file's size of base weights instead of four bytes per parameter. The expanded values
//! are exactly those of the f32 base (`--base-dtype quantized` computes what the f32 base
//! computes, with only one slab in f32 at a time); bf16 rounds every weight once.
use crate::error::{LlmError, Result};
use crate::grad_sink::with_f32;
use candle_core::quantized::{ggml_file::qtensor_from_ggml, GgmlDType, QTensor};
use candle_core::{CpuStorage, CustomOp1, Device, Layout, Shape, Tensor};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How the frozen base weights of a LoRA run are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaseDtype {
    /// Every weight in f32 (4 bytes per parameter).
    #[default]
    F32,
    /// Matrices in bf16 (2 bytes per parameter), norms in f32.
    Bf16,
    /// Matrices in the GGUF file's own blocks (e.g. Q4_1: 0.625 bytes per parameter); needs a GGUF file.
    Quantized,
}

impl BaseDtype {
    /// Parse `f32`, `bf16` or `quantized`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "f32" => Some(BaseDtype::F32),
            "bf16" => Some(BaseDtype::Bf16),
            "quantized" => Some(BaseDtype::Quantized),
            _ => None,
        }
    }

    /// The name `parse` reads.
    pub fn name(self) -> &'static str {
        match self {
            BaseDtype::F32 => "f32",
            BaseDtype::Bf16 => "bf16",
            BaseDtype::Quantized => "quantized",
        }
    }
}

/// A row-major `(rows, cols)` matrix in a GGML block format.
#[derive(Debug)]
pub struct Packed {
    dtype: GgmlDType,
    rows: usize,
    cols: usize,
    row_bytes: usize,
    bytes: Vec<u8>,
}

/// Rows expanded per slab: bounds the f32 memory of a product to `SLAB_ROWS × cols` floats.
const SLAB_ROWS: usize = 4096;

impl Packed {
    /// Take a 2-D quantized tensor as it is.
    pub fn from_qtensor(q: &QTensor) -> Result<Self> {
        let (rows, cols) = q.shape().dims2()?;
        let dtype = q.dtype();
        if cols % dtype.block_size() != 0 {
            return Err(LlmError::Candle(candle_core::Error::Msg(format!(
                "{cols} columns are not a whole number of {dtype:?} blocks"
            ))));
        }
        let row_bytes = cols / dtype.block_size() * dtype.type_size();
        let bytes = q.data()?.into_owned();
        Ok(Packed {
            dtype,
            rows,
            cols,
            row_bytes,
            bytes,
        })
    }

    /// Compress an f32 matrix into `dtype` (bf16, or any GGML type).
    pub fn from_f32(t: &Tensor, dtype: GgmlDType) -> Result<Self> {
        Self::from_qtensor(&QTensor::quantize(t, dtype)?)
    }

    /// `(rows, cols)`.
    pub fn dims(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// Bytes held.
    pub fn nbytes(&self) -> usize {
        self.bytes.len()
    }

    /// The same matrix with its rows reordered: row `i` of the result is row `perm[i]` of this one.
    pub fn permute_rows(&self, perm: &[usize]) -> Self {
        let mut bytes = Vec::with_capacity(self.bytes.len());
        for &r in perm {
            bytes.extend_from_slice(&self.bytes[r * self.row_bytes..(r + 1) * self.row_bytes]);
        }
        Packed { bytes, ..*self }
    }

    /// Rows `r0..r1` expanded to f32, row-major.
    pub fn rows_f32(&self, r0: usize, r1: usize) -> candle_core::Result<Vec<f32>> {
        let q = qtensor_from_ggml(
            self.dtype,
            &self.bytes[r0 * self.row_bytes..r1 * self.row_bytes],
            vec![r1 - r0, self.cols],
            &Device::Cpu,
        )?;
        let t = q.dequantize(&Device::Cpu)?;
        with_f32(&t, |v| v.to_vec())
    }

    /// The whole matrix in f32 (tests and inspection).
    pub fn to_tensor(&self) -> Result<Tensor> {
        Ok(Tensor::from_vec(
            self.rows_f32(0, self.rows)?,
            (self.rows, self.cols),
            &Device::Cpu,
        )?)
    }

    /// Rows `ids` expanded to f32 (an embedding lookup).
    pub fn gather(&self, ids: &[u32]) -> candle_core::Result<Vec<f32>> {
        let mut out = Vec::with_capacity(ids.len() * self.cols);
        for &id in ids {
            let id = id as usize;
            if id >= self.rows {
                candle_core::bail!("lookup: token id {id} out of range {}", self.rows);
            }
            out.extend(self.rows_f32(id, id + 1)?);
        }
        Ok(out)
    }
}

/// `x Wᵀ` with a packed frozen `W`; its backward pass gives the input gradient `g W`.
struct PackedMatmulT(Arc<Packed>);

impl CustomOp1 for PackedMatmulT {
    fn name(&self) -> &'static str {
        "packed-matmul-t"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, k) = l.shape().dims2()?;
        let w = &self.0;
        if k != w.cols {
            candle_core::bail!("packed-matmul-t: x is ({n}, {k}) but W is {:?}", w.dims());
        }
        let (CpuStorage::F32(xs), Some((x0, x1))) = (s, l.contiguous_offsets()) else {
            candle_core::bail!("packed-matmul-t: expected a contiguous f32 input");
        };
        let x = &xs[x0..x1];
        let m = w.rows;
        let mut out = vec![0f32; n * m];
        let mut part = Vec::new();
        for r0 in (0..m).step_by(SLAB_ROWS) {
            let r1 = (r0 + SLAB_ROWS).min(m);
            let slab = w.rows_f32(r0, r1)?;
            part.resize(n * (r1 - r0), 0.0);
            crate::linear::product_t(&mut part, x, &slab, n, k, r1 - r0, false);
            for i in 0..n {
                out[i * m + r0..i * m + r1]
                    .copy_from_slice(&part[i * (r1 - r0)..(i + 1) * (r1 - r0)]);
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((n, m))))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        if !x.track_op() {
            return Ok(None);
        }
        let w = &self.0;
        let (n, m) = grad.dims2()?;
        let k = w.cols;
        let g = grad.contiguous()?;
        let mut out = vec![0f32; n * k];
        let mut gpart = Vec::new();
        let mut part = vec![0f32; n * k];
        with_f32(&g, |g| -> candle_core::Result<()> {
            for r0 in (0..m).step_by(SLAB_ROWS) {
                let r1 = (r0 + SLAB_ROWS).min(m);
                let slab = w.rows_f32(r0, r1)?;
                gpart.clear();
                for i in 0..n {
                    gpart.extend_from_slice(&g[i * m + r0..i * m + r1]);
                }
                crate::linear::product_t(&mut part, &gpart, &slab, n, r1 - r0, k, true);
                for (o, p) in out.iter_mut().zip(&part) {
                    *o += p;
                }
            }
            Ok(())
        })??;
        Ok(Some(Tensor::from_vec(out, (n, k), grad.device())?))
    }
}

/// `x Wᵀ` for a packed frozen `W`, differentiable in `x`.
pub fn packed_matmul_t(x: &Tensor, w: &Arc<Packed>) -> Result<Tensor> {
    Ok(x.apply_op1(PackedMatmulT(w.clone()))?)
}

/// `table[ids]` for a packed table (no gradient: the table is frozen).
pub fn packed_lookup(table: &Packed, ids: &Tensor) -> Result<Tensor> {
    let ids: Vec<u32> = ids.to_vec1()?;
    Ok(Tensor::from_vec(
        table.gather(&ids)?,
        (ids.len(), table.cols),
        &Device::Cpu,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_product_and_input_gradient_equal_the_dense_ones() {
        let dev = Device::Cpu;
        let w: Vec<f32> = (0..64 * 256)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 40.0)
            .collect();
        let w = Tensor::from_vec(w, (64, 256), &dev).unwrap();
        for dtype in [
            GgmlDType::F32,
            GgmlDType::BF16,
            GgmlDType::Q8_0,
            GgmlDType::Q4K,
        ] {
            let p = Arc::new(Packed::from_f32(&w, dtype).unwrap());
            let dense = p.to_tensor().unwrap();
            let x = candle_core::Var::from_vec(
                (0..5 * 256).map(|i| (i as f32 * 0.13).sin()).collect(),
                (5, 256),
                &dev,
            )
            .unwrap();
            let ours = packed_matmul_t(&x, &p).unwrap();
            let theirs = x.matmul(&dense.t().unwrap()).unwrap();
            let d = (&ours - &theirs).unwrap().abs().unwrap().max_all().unwrap();
            assert!(d.to_scalar::<f32>().unwrap() < 1e-4, "{dtype:?}");
            let g1 = ours.sqr().unwrap().sum_all().unwrap().backward().unwrap();
            let g2 = theirs.sqr().unwrap().sum_all().unwrap().backward().unwrap();
            let d = (g1.get(&x).unwrap() - g2.get(&x).unwrap())
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap();
            assert!(d.to_scalar::<f32>().unwrap() < 1e-3, "{dtype:?} gradient");
        }
    }

    #[test]
    fn row_permutation_and_gather_move_whole_rows() {
        let w: Vec<f32> = (0..4 * 32).map(|i| i as f32).collect();
        let w = Tensor::from_vec(w, (4, 32), &Device::Cpu).unwrap();
        let p = Packed::from_f32(&w, GgmlDType::Q8_0).unwrap();
        let q = p.permute_rows(&[2, 0, 3, 1]);
        let a = p.rows_f32(2, 3).unwrap();
        let b = q.rows_f32(0, 1).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            p.gather(&[3, 3]).unwrap()[32..],
            p.rows_f32(3, 4).unwrap()[..]
        );
        assert!(p.gather(&[4]).is_err());
    }
}
