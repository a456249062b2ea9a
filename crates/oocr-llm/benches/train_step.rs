//! Training-step throughput (tokens/s) of full fine-tuning and LoRA on random Llama models of
//! growing width, batch 8 × 12 tokens. For the real model use `oocr llm bench --model PATH`.
use candle_core::{Device, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use oocr_llm::batch::Example;
use oocr_llm::config::{Rope, Shapes};
use oocr_llm::lora::{make_trainable, LoraConfig, Method};
use oocr_llm::optim::{AdamW, AdamWConfig};
use oocr_llm::train::batch_loss;
use oocr_llm::CausalLm;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::path::Path;

fn random_model(hidden: usize, layers: usize, vocab: usize) -> CausalLm {
    let heads = hidden / 64;
    let shapes = Shapes {
        vocab_size: vocab,
        hidden_size: hidden,
        intermediate_size: hidden * 8 / 3,
        num_layers: layers,
        num_heads: heads,
        num_kv_heads: heads.div_ceil(3).max(1),
        head_dim: 64,
    };
    let mut cfg = shapes.config("llama", 1e-5, Rope::plain(10_000.0));
    cfg.tie_word_embeddings = true;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut t = HashMap::new();
    let mut add = |name: String, shape: Vec<usize>, center: f32| {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|_| center + 0.04 * (rng.random::<f32>() - 0.5))
            .collect();
        t.insert(name, Tensor::from_vec(v, shape, &Device::Cpu).unwrap());
    };
    let (h, ff, hd) = (hidden, cfg.intermediate_size, cfg.head_dim);
    add("model.embed_tokens.weight".into(), vec![vocab, h], 0.0);
    add("model.norm.weight".into(), vec![h], 1.0);
    for i in 0..layers {
        let p = format!("model.layers.{i}");
        add(format!("{p}.input_layernorm.weight"), vec![h], 1.0);
        add(format!("{p}.post_attention_layernorm.weight"), vec![h], 1.0);
        add(
            format!("{p}.self_attn.q_proj.weight"),
            vec![cfg.num_heads * hd, h],
            0.0,
        );
        add(
            format!("{p}.self_attn.k_proj.weight"),
            vec![cfg.num_kv_heads * hd, h],
            0.0,
        );
        add(
            format!("{p}.self_attn.v_proj.weight"),
            vec![cfg.num_kv_heads * hd, h],
            0.0,
        );
        add(
            format!("{p}.self_attn.o_proj.weight"),
            vec![h, cfg.num_heads * hd],
            0.0,
        );
        add(format!("{p}.mlp.gate_proj.weight"), vec![ff, h], 0.0);
        add(format!("{p}.mlp.up_proj.weight"), vec![ff, h], 0.0);
        add(format!("{p}.mlp.down_proj.weight"), vec![h, ff], 0.0);
    }
    oocr_llm::models::from_hf_tensors(cfg, t, Path::new("random")).unwrap()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("train_step");
    g.sample_size(10);
    let vocab = 8192;
    let examples: Vec<Example> = (0..8u32)
        .map(|i| Example {
            prompt: (0..10).map(|j| (i * 97 + j * 13) % vocab as u32).collect(),
            answer: vec![i + 1, i + 2],
        })
        .collect();
    let batch: Vec<&Example> = examples.iter().collect();
    let tokens: usize = examples
        .iter()
        .map(|e| e.prompt.len() + e.answer.len())
        .sum();
    g.throughput(Throughput::Elements(tokens as u64));
    for hidden in [128usize, 256, 512] {
        for method in [Method::Full, Method::Lora(LoraConfig::new(8))] {
            let mut model = random_model(hidden, 4, vocab);
            let params = make_trainable(&mut model, &method, 0).unwrap();
            let mut opt = AdamW::new(
                params,
                AdamWConfig {
                    lr: 1e-5,
                    ..Default::default()
                },
            )
            .unwrap();
            g.bench_with_input(BenchmarkId::new(method.label(), hidden), &hidden, |b, _| {
                b.iter(|| {
                    let (loss, _) = batch_loss(&model, &batch, 0).unwrap();
                    opt.step(&loss.backward().unwrap()).unwrap();
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
