//! Model families, one file each, registered in `FAMILIES`.
//!
//! A family reads its hyperparameters (from a Hugging Face `config.json` or from GGUF metadata)
//! into the shared `ModelConfig`, and declares the parameters of one decoder block, each with its
//! safetensors name, its GGUF name and llama.cpp's conversion fix (`weights::Scope`). Everything
//! else derives from that declaration: loading from either format, full fine-tuning and LoRA
//! targets (`CausalLm::visit_mut`). A new family is one new file here plus one line in `FAMILIES`.
use crate::config::{GgufMeta, HfJson, ModelConfig};
use crate::error::{LlmError, Result};
use crate::model::{Block, CausalLm, Norm};
use crate::weights::{Fix, Scope, Weights};

pub mod gemma;
pub mod gemma2;
pub mod gemma3;
pub mod llama;
pub mod olmo;
pub mod olmo2;
pub mod qwen2;
pub mod qwen3;

/// One model family.
pub trait Family: Sync {
    /// Short name (the file name).
    fn name(&self) -> &'static str;
    /// Hugging Face `model_type` values it reads.
    fn model_types(&self) -> &'static [&'static str];
    /// GGUF `general.architecture` values it reads.
    fn gguf_archs(&self) -> &'static [&'static str];
    /// Hyperparameters from a `config.json`.
    fn config_from_hf(&self, c: &HfJson) -> Result<ModelConfig>;
    /// Hyperparameters from GGUF metadata (default: the shapes and llama.cpp's RoPE keys,
    /// `llama_style_gguf`).
    fn config_from_gguf(&self, g: &GgufMeta) -> Result<ModelConfig> {
        llama_style_gguf(self.name(), g)
    }
    /// Declare (and load) block `vb`'s parameters.
    fn block(&self, cfg: &ModelConfig, vb: &mut Scope) -> Result<Block>;
    /// Fix of the final norm and other norm weights in GGUF files.
    fn norm_fix(&self) -> Fix {
        Fix::None
    }
}

/// Every family oocr runs.
pub static FAMILIES: &[&dyn Family] = &[
    &llama::Llama,
    &qwen2::Qwen2,
    &qwen3::Qwen3,
    &gemma::Gemma,
    &gemma2::Gemma2,
    &gemma3::Gemma3,
    &olmo::Olmo,
    &olmo2::Olmo2,
];

fn supported(list: impl Fn(&dyn Family) -> &'static [&'static str]) -> String {
    FAMILIES
        .iter()
        .flat_map(|f| list(*f).iter().copied())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The family of a `config.json`, by `model_type` (else `architectures`).
pub fn for_model_type(c: &HfJson) -> Result<&'static dyn Family> {
    let mt = c.str("model_type")?;
    let arch =
        c.v.get("architectures")
            .and_then(|a| a.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
    let Some(mt) = mt else {
        return Err(c.err(
            "model_type",
            format!(
                "missing (architectures: [{arch}]); supported model types: {}",
                supported(|f| f.model_types())
            ),
        ));
    };
    FAMILIES
        .iter()
        .copied()
        .find(|f| f.model_types().contains(&mt))
        .ok_or_else(|| {
            c.err(
                "model_type",
                format!(
                    "'{mt}' (architectures: [{arch}]) is not supported; supported model types: {}",
                    supported(|f| f.model_types())
                ),
            )
        })
}

/// The family of a GGUF file, by `general.architecture`.
pub fn for_gguf(g: &GgufMeta) -> Result<&'static dyn Family> {
    FAMILIES
        .iter()
        .copied()
        .find(|f| f.gguf_archs().contains(&g.arch.as_str()))
        .ok_or_else(|| {
            LlmError::model_file(
                g.path,
                format!(
                    "GGUF architecture '{}' is not supported (supported: {})",
                    g.arch,
                    supported(|f| f.gguf_archs())
                ),
            )
        })
}

/// The family named `name` (a file of this folder).
pub fn by_name(name: &str) -> Option<&'static dyn Family> {
    FAMILIES.iter().copied().find(|f| f.name() == name)
}

/// Build a model from tensors under Hugging Face names, its family read from `cfg.family`
/// (`path` names the source in errors).
pub fn from_hf_tensors(
    cfg: ModelConfig,
    tensors: std::collections::HashMap<String, candle_core::Tensor>,
    path: &std::path::Path,
) -> Result<CausalLm> {
    let family = by_name(&cfg.family).ok_or_else(|| {
        LlmError::model_file(path, format!("unknown model family '{}'", cfg.family))
    })?;
    cfg.validate(path)?;
    build(family, cfg, Weights::hf(tensors, path))
}

/// Build the model of `family` from `weights`: embedding, blocks, final norm, head.
pub fn build(family: &dyn Family, cfg: ModelConfig, mut weights: Weights) -> Result<CausalLm> {
    let (v, h) = (cfg.vocab_size, cfg.hidden_size);
    let mut root = weights.root();
    let embed = root.matrix(
        "model.embed_tokens.weight",
        "token_embd.weight",
        &[v, h],
        Fix::None,
    )?;
    let mut blocks = Vec::with_capacity(cfg.num_layers);
    for i in 0..cfg.num_layers {
        let mut vb = root.pp(&format!("model.layers.{i}"), &format!("blk.{i}"));
        blocks.push(family.block(&cfg, &mut vb)?);
    }
    let norm = match cfg.norm {
        crate::config::NormKind::LayerNorm if !root.has("model.norm", "output_norm") => {
            Norm::plain()
        }
        _ => root.norm("model.norm", "output_norm", h, family.norm_fix())?,
    };
    let lm_head = if cfg.tie_word_embeddings {
        None
    } else {
        Some(root.matrix("lm_head.weight", "output.weight", &[v, h], Fix::None)?)
    };
    weights.finish()?;
    Ok(CausalLm {
        cfg,
        embed,
        blocks,
        norm,
        lm_head,
        embed_sink: None,
        head_sink: None,
    })
}

/// The hyperparameters a Llama-style `config.json` holds: the shapes, `rms_norm_eps` (default
/// `eps`), the RoPE keys, `hidden_act` (default SiLU), `attention_bias` and `tie_word_embeddings`
/// (both default false).
pub fn llama_style_hf(family: &str, c: &HfJson, eps: f64) -> Result<ModelConfig> {
    let mut cfg = c.shapes()?.config(
        family,
        c.f64_or("rms_norm_eps", eps)?,
        c.rope(None, 10_000.0)?,
    );
    cfg.act = c.activation(&["hidden_act"], crate::config::Activation::Silu)?;
    cfg.qkv_bias = c.bool_or("attention_bias", false)?;
    cfg.tie_word_embeddings = c.bool_or("tie_word_embeddings", false)?;
    Ok(cfg)
}

/// The hyperparameters of a Llama-style GGUF file: the shapes and the RoPE base with llama.cpp's
/// optional linear scaling.
pub fn llama_style_gguf(family: &str, g: &GgufMeta) -> Result<ModelConfig> {
    let mut cfg = g.config(family)?;
    cfg.rope = llama::gguf_rope(g, cfg.rope.theta)?;
    Ok(cfg)
}

/// The q, k, v, o projections under `self_attn` (GGUF `attn_q`, …). `permute` applies llama.cpp's
/// q/k row permutation fix (Llama-style converters).
pub fn attention(
    cfg: &ModelConfig,
    vb: &mut Scope,
    permute: bool,
) -> Result<(
    crate::linear::Linear,
    crate::linear::Linear,
    crate::linear::Linear,
    crate::linear::Linear,
)> {
    let (h, hd) = (cfg.hidden_size, cfg.head_dim);
    let (nq, nkv) = (cfg.num_heads * hd, cfg.num_kv_heads * hd);
    let (fq, fk) = if permute {
        (
            Fix::Unpermute(cfg.num_heads),
            Fix::Unpermute(cfg.num_kv_heads),
        )
    } else {
        (Fix::None, Fix::None)
    };
    let bias = cfg.qkv_bias;
    Ok((
        vb.linear("self_attn.q_proj", "attn_q", nq, h, bias, fq)?,
        vb.linear("self_attn.k_proj", "attn_k", nkv, h, bias, fk)?,
        vb.linear("self_attn.v_proj", "attn_v", nkv, h, bias, Fix::None)?,
        vb.linear("self_attn.o_proj", "attn_output", h, nq, false, Fix::None)?,
    ))
}

/// The gate, up, down projections under `mlp` (GGUF `ffn_gate`, …).
pub fn mlp(
    cfg: &ModelConfig,
    vb: &mut Scope,
) -> Result<(
    crate::linear::Linear,
    crate::linear::Linear,
    crate::linear::Linear,
)> {
    let (h, ff) = (cfg.hidden_size, cfg.intermediate_size);
    Ok((
        vb.linear("mlp.gate_proj", "ffn_gate", ff, h, false, Fix::None)?,
        vb.linear("mlp.up_proj", "ffn_up", ff, h, false, Fix::None)?,
        vb.linear("mlp.down_proj", "ffn_down", h, ff, false, Fix::None)?,
    ))
}

/// A Llama-style block: norm → attention → residual, norm → MLP → residual. `permute`: see
/// `attention`; `norm_fix`: the GGUF fix of the norm weights.
pub fn pre_norm_block(
    cfg: &ModelConfig,
    vb: &mut Scope,
    permute: bool,
    norm_fix: Fix,
) -> Result<Block> {
    let h = cfg.hidden_size;
    let attn_norm = Some(vb.norm("input_layernorm", "attn_norm", h, norm_fix)?);
    let (q, k, v, o) = attention(cfg, vb, permute)?;
    let mlp_norm = Some(vb.norm("post_attention_layernorm", "ffn_norm", h, norm_fix)?);
    let (gate, up, down) = mlp(cfg, vb)?;
    Ok(Block {
        attn_norm,
        q,
        k,
        v,
        o,
        q_norm: None,
        k_norm: None,
        attn_post_norm: None,
        mlp_norm,
        gate,
        up,
        down,
        mlp_post_norm: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_are_unique() {
        let mut types: Vec<&str> = FAMILIES
            .iter()
            .flat_map(|f| f.model_types().iter().copied())
            .collect();
        let n = types.len();
        types.sort();
        types.dedup();
        assert_eq!(types.len(), n);
        let mut archs: Vec<&str> = FAMILIES
            .iter()
            .flat_map(|f| f.gguf_archs().iter().copied())
            .collect();
        let n = archs.len();
        archs.sort();
        archs.dedup();
        assert_eq!(archs.len(), n);
    }
}
