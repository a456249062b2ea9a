//! Where a model's tensors come from, and the name-scoped builder through which a family declares
//! its parameters once.
//!
//! A family declares each parameter with both of its names — the Hugging Face safetensors name
//! (`model.layers.0.self_attn.q_proj.weight`) and the llama.cpp GGUF name (`blk.0.attn_q.weight`) —
//! and the fix llama.cpp's converter applied to it (`Fix`). The same declaration then loads from
//! either format; full fine-tuning and LoRA find the parameters by walking the model built from it
//! (`CausalLm::visit_mut`). A tensor of the file that no declaration asked for is an error, so a
//! family that forgets a parameter cannot silently run a different model.
use crate::error::{LlmError, Result};
use crate::linear::{Linear, Weight};
use crate::model::Norm;
use crate::packed::{BaseDtype, Packed};
use candle_core::quantized::gguf_file::Content;
use candle_core::{DType, Device, Tensor};
use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

/// How llama.cpp's converter changed a tensor on its way into GGUF (undone on load).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fix {
    /// Stored as is.
    None,
    /// q/k rows permuted so that RoPE rotates adjacent pairs (Llama, Mistral, OLMo): per head,
    /// rows `(2, hd/2)` became `(hd/2, 2)`. The value is the number of heads.
    Unpermute(usize),
    /// Gemma's `(1 + w)` norm weights stored as `1 + w`.
    PlusOne,
}

enum Src {
    Hf(HashMap<String, Tensor>),
    Gguf { file: File, content: Content },
}

/// The tensors of one model file (or folder), handed out by name and checked off as used.
pub struct Weights {
    src: Src,
    path: PathBuf,
    used: BTreeSet<String>,
    base: BaseDtype,
}

/// Tensors that Hugging Face checkpoints may carry but that hold no parameter.
const IGNORED_HF: [&str; 1] = ["rotary_emb.inv_freq"];

impl Weights {
    /// Tensors of a Hugging Face checkpoint, by safetensors name.
    pub fn hf(tensors: HashMap<String, Tensor>, path: &Path) -> Self {
        Weights {
            src: Src::Hf(tensors),
            path: path.to_path_buf(),
            used: BTreeSet::new(),
            base: BaseDtype::F32,
        }
    }

    /// Tensors of a GGUF file (dequantized to f32 when taken).
    pub fn gguf(file: File, content: Content, path: &Path) -> Self {
        Weights {
            src: Src::Gguf { file, content },
            path: path.to_path_buf(),
            used: BTreeSet::new(),
            base: BaseDtype::F32,
        }
    }

    /// Keep the matrices (linear layers, embedding, head) in `base` instead of f32; `quantized`
    /// needs a GGUF file.
    pub fn with_base(mut self, base: BaseDtype) -> Result<Self> {
        if base == BaseDtype::Quantized && !self.is_gguf() {
            return Err(LlmError::config(
                "base_dtype",
                format!(
                    "'quantized' keeps a GGUF file's own blocks, but {} is not a GGUF file (use bf16)",
                    self.path.display()
                ),
            ));
        }
        self.base = base;
        Ok(self)
    }

    /// Whether the tensors come from a GGUF file.
    pub fn is_gguf(&self) -> bool {
        matches!(self.src, Src::Gguf { .. })
    }

    /// Whether the file holds the tensor with these names.
    pub fn has(&self, hf: &str, gguf: &str) -> bool {
        match &self.src {
            Src::Hf(t) => t.contains_key(hf),
            Src::Gguf { content, .. } => content.tensor_infos.contains_key(gguf),
        }
    }

    /// The root scope (no prefix).
    pub fn root(&mut self) -> Scope<'_> {
        Scope {
            w: self,
            hf: String::new(),
            gguf: String::new(),
        }
    }

    /// Take tensor (`hf`, `gguf`), check its shape, undo `fix`; f32, contiguous, on the CPU.
    fn take(&mut self, hf: &str, gguf: &str, shape: &[usize], fix: Fix) -> Result<Tensor> {
        let (name, t) = match &mut self.src {
            Src::Hf(map) => {
                let t = map.get(hf).ok_or_else(|| {
                    LlmError::model_file(&self.path, format!("missing tensor `{hf}`"))
                })?;
                (hf, t.clone())
            }
            Src::Gguf { file, content } => {
                if !content.tensor_infos.contains_key(gguf) {
                    return Err(LlmError::model_file(
                        &self.path,
                        format!("missing tensor `{gguf}` (Hugging Face name `{hf}`)"),
                    ));
                }
                let q = content.tensor(file, gguf, &Device::Cpu).map_err(|e| {
                    LlmError::model_file(&self.path, format!("cannot read tensor `{gguf}`: {e}"))
                })?;
                let t = q.dequantize(&Device::Cpu).map_err(|e| {
                    LlmError::model_file(
                        &self.path,
                        format!("cannot dequantize tensor `{gguf}`: {e}"),
                    )
                })?;
                let t = match fix {
                    Fix::None => t,
                    Fix::PlusOne => (t - 1.0)?,
                    Fix::Unpermute(heads) => unpermute_qk(&t, heads)?,
                };
                (gguf, t)
            }
        };
        if t.dims() != shape {
            return Err(LlmError::model_file(
                &self.path,
                format!(
                    "tensor `{name}` has shape {:?}, expected {:?}",
                    t.dims(),
                    shape
                ),
            ));
        }
        self.used.insert(name.to_string());
        Ok(t.to_dtype(DType::F32)?.contiguous()?)
    }

    /// A matrix, packed as `with_base` asked.
    fn take_matrix(&mut self, hf: &str, gguf: &str, shape: &[usize], fix: Fix) -> Result<Weight> {
        let quantized = matches!(
            (&self.src, self.base),
            (Src::Gguf { .. }, BaseDtype::Quantized)
        ) && shape.len() == 2;
        match self.base {
            BaseDtype::F32 => Ok(Weight::Dense(self.take(hf, gguf, shape, fix)?)),
            BaseDtype::Bf16 => {
                let t = self.take(hf, gguf, shape, fix)?;
                Ok(Weight::Packed(std::sync::Arc::new(Packed::from_f32(
                    &t,
                    candle_core::quantized::GgmlDType::BF16,
                )?)))
            }
            BaseDtype::Quantized if !quantized => Err(LlmError::config(
                "base_dtype",
                "'quantized' needs a GGUF file",
            )),
            BaseDtype::Quantized => {
                let Src::Gguf { file, content } = &mut self.src else {
                    unreachable!("checked above")
                };
                if !content.tensor_infos.contains_key(gguf) {
                    return Err(LlmError::model_file(
                        &self.path,
                        format!("missing tensor `{gguf}` (Hugging Face name `{hf}`)"),
                    ));
                }
                let q = content.tensor(file, gguf, &Device::Cpu).map_err(|e| {
                    LlmError::model_file(&self.path, format!("cannot read tensor `{gguf}`: {e}"))
                })?;
                if q.shape().dims() != shape {
                    return Err(LlmError::model_file(
                        &self.path,
                        format!(
                            "tensor `{gguf}` has shape {:?}, expected {:?}",
                            q.shape().dims(),
                            shape
                        ),
                    ));
                }
                let mut p = Packed::from_qtensor(&q)?;
                match fix {
                    Fix::None => {}
                    Fix::Unpermute(heads) => p = p.permute_rows(&unpermute_rows(shape[0], heads)),
                    Fix::PlusOne => {
                        return Err(LlmError::model_file(
                            &self.path,
                            format!("tensor `{gguf}`: a +1 fix on a matrix"),
                        ))
                    }
                }
                self.used.insert(gguf.to_string());
                Ok(Weight::Packed(std::sync::Arc::new(p)))
            }
        }
    }

    /// Error if the file holds tensors that no declaration took (they would be silently ignored).
    pub fn finish(self) -> Result<()> {
        let names: Vec<String> = match &self.src {
            Src::Hf(map) => map.keys().cloned().collect(),
            Src::Gguf { content, .. } => content.tensor_infos.keys().cloned().collect(),
        };
        let mut unused: Vec<&String> = names
            .iter()
            .filter(|n| !self.used.contains(*n) && !IGNORED_HF.iter().any(|s| n.ends_with(s)))
            .collect();
        unused.sort();
        if unused.is_empty() {
            return Ok(());
        }
        let shown: Vec<&str> = unused.iter().take(5).map(|s| s.as_str()).collect();
        Err(LlmError::model_file(
            &self.path,
            format!(
                "{} tensor(s) this model family does not use: {}{} (a different architecture?)",
                unused.len(),
                shown.join(", "),
                if unused.len() > 5 { ", …" } else { "" }
            ),
        ))
    }
}

/// A name prefix in both naming schemes, through which a family declares its parameters.
pub struct Scope<'a> {
    w: &'a mut Weights,
    hf: String,
    gguf: String,
}

fn join(prefix: &str, name: &str) -> String {
    match (prefix.is_empty(), name.is_empty()) {
        (true, _) => name.to_string(),
        (_, true) => prefix.to_string(),
        _ => format!("{prefix}.{name}"),
    }
}

impl Scope<'_> {
    /// A sub-scope: `hf` and `gguf` are appended to the prefixes.
    pub fn pp(&mut self, hf: &str, gguf: &str) -> Scope<'_> {
        Scope {
            hf: join(&self.hf, hf),
            gguf: join(&self.gguf, gguf),
            w: self.w,
        }
    }

    /// Whether a tensor `<prefix>.hf.weight` / `<prefix>.gguf.weight` exists.
    pub fn has(&self, hf: &str, gguf: &str) -> bool {
        self.w.has(
            &join(&join(&self.hf, hf), "weight"),
            &join(&join(&self.gguf, gguf), "weight"),
        )
    }

    /// A raw tensor `<prefix>.hf` / `<prefix>.gguf` of the given shape.
    pub fn tensor(&mut self, hf: &str, gguf: &str, shape: &[usize], fix: Fix) -> Result<Tensor> {
        let (h, g) = (join(&self.hf, hf), join(&self.gguf, gguf));
        self.w.take(&h, &g, shape, fix)
    }

    /// A weight matrix (packed when the base dtype asks for it).
    pub fn matrix(&mut self, hf: &str, gguf: &str, shape: &[usize], fix: Fix) -> Result<Weight> {
        let (h, g) = (join(&self.hf, hf), join(&self.gguf, gguf));
        self.w.take_matrix(&h, &g, shape, fix)
    }

    /// A linear layer `(out, in)` named `hf` / `gguf`, with a bias when `bias`.
    pub fn linear(
        &mut self,
        hf: &str,
        gguf: &str,
        out: usize,
        inp: usize,
        bias: bool,
        fix: Fix,
    ) -> Result<Linear> {
        let weight = self.matrix(&join(hf, "weight"), &join(gguf, "weight"), &[out, inp], fix)?;
        let bias = if bias {
            Some(self.tensor(&join(hf, "bias"), &join(gguf, "bias"), &[out], fix)?)
        } else {
            None
        };
        Ok(Linear::new(join(&self.hf, hf), weight, bias))
    }

    /// A norm with a weight of `len` elements named `hf` / `gguf`.
    pub fn norm(&mut self, hf: &str, gguf: &str, len: usize, fix: Fix) -> Result<Norm> {
        let weight = self.tensor(&join(hf, "weight"), &join(gguf, "weight"), &[len], fix)?;
        Ok(Norm {
            name: join(&join(&self.hf, hf), "weight"),
            weight: Some(weight),
        })
    }
}

/// The row order that undoes llama.cpp's q/k permutation: row `(h, a, i)` of the result
/// (`a < 2`, `i < hd/2`) is row `(h, i, a)` of the GGUF tensor.
fn unpermute_rows(rows: usize, heads: usize) -> Vec<usize> {
    let hd = rows / heads;
    let half = hd / 2;
    (0..rows)
        .map(|r| {
            let (h, rest) = (r / hd, r % hd);
            let (a, i) = (rest / half, rest % half);
            h * hd + i * 2 + a
        })
        .collect()
}

/// Undo llama.cpp's q/k row permutation: rows `(heads, hd/2, 2)` back to `(heads, 2, hd/2)`.
pub fn unpermute_qk(w: &Tensor, heads: usize) -> Result<Tensor> {
    let dims = w.dims().to_vec();
    let rows = dims[0];
    let rest: usize = dims[1..].iter().product();
    let hd = rows / heads;
    Ok(w.reshape((heads, hd / 2, 2, rest))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape(dims)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_order_matches_the_tensor_unpermutation() {
        let (rows, cols, heads) = (24, 3, 3);
        let t = Tensor::arange(0f32, (rows * cols) as f32, &Device::Cpu)
            .unwrap()
            .reshape((rows, cols))
            .unwrap();
        let un: Vec<Vec<f32>> = unpermute_qk(&t, heads).unwrap().to_vec2().unwrap();
        let orig: Vec<Vec<f32>> = t.to_vec2().unwrap();
        for (r, src) in unpermute_rows(rows, heads).into_iter().enumerate() {
            assert_eq!(un[r], orig[src]);
        }
    }
}
