//! End-to-end checks on a tiny random Llama model written by the test itself (no download):
//! loaders, forward pass, gradients, training, packed scoring, errors, and a whole run.

use crate::common::*;
use candle_core::quantized::GgmlDType;
use candle_core::{Device, Tensor};
use oocr_llm::batch::{scoring_batch, training_batch, Example};
use oocr_llm::dataset::{association, Dataset, DatasetConfig};
use oocr_llm::experiment::{encode_train, run, RunConfig};
use oocr_llm::lora::{make_trainable, LoraConfig, Method};
use oocr_llm::optim::{AdamW, AdamWConfig, Param};
use oocr_llm::train::{batch_loss, train, Schedule, TrainConfig};
use oocr_llm::{load, LoadedModel};

fn all_rows_logits(lm: &LoadedModel, ids: &[u32]) -> Vec<Vec<f32>> {
    let ex = Example {
        prompt: ids[..1].to_vec(),
        answer: ids[1..].to_vec(),
    };
    let b = training_batch(&[&ex], 0).unwrap();
    let hidden = lm.model.hidden(&b.inputs).unwrap();
    let rows = Tensor::arange(0u32, ids.len() as u32, &Device::Cpu).unwrap();
    lm.model.logits(&hidden, &rows).unwrap().to_vec2().unwrap()
}

fn max_abs_diff(a: &[Vec<f32>], b: &[Vec<f64>]) -> f64 {
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| (*x as f64 - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn safetensors_logits_match_reference_forward() {
    let dir = tempfile::tempdir().unwrap();
    let ids = [5u32, 77, 200, 3, 150, 9, 42];
    for tied in [false, true] {
        let path = write_hf(&dir.path().join(format!("tied-{tied}")), 1, tied);
        let lm = load(&path, None).unwrap();
        let ours = all_rows_logits(&lm, &ids);
        let reference = reference_logits(&weights(1, tied), &ids, tied);
        let d = max_abs_diff(&ours, &reference);
        assert!(d < 1e-4, "tied={tied}: max |logit diff| = {d}");
    }
}

#[test]
fn gguf_logits_match_safetensors() {
    let dir = tempfile::tempdir().unwrap();
    let hf = load(&write_hf(&dir.path().join("hf"), 2, true), None).unwrap();
    let ids = [1u32, 40, 99, 250, 7, 13];
    let reference = all_rows_logits(&hf, &ids);
    let gguf_path = dir.path().join("tiny.gguf");
    write_gguf(&gguf_path, 2, true, GgmlDType::F32);
    let gg = load(&gguf_path, None).unwrap();
    assert_eq!(gg.name, "tiny-llama");
    assert_eq!(gg.model.cfg.num_kv_heads, KV_HEADS);
    let ours = all_rows_logits(&gg, &ids);
    let d = max_abs_diff(
        &ours,
        &reference
            .iter()
            .map(|r| r.iter().map(|&x| x as f64).collect())
            .collect::<Vec<_>>(),
    );
    assert!(d < 1e-5, "f32 GGUF vs safetensors: max |logit diff| = {d}");
    // Without undoing llama.cpp's q/k permutation the logits would differ: check the test can fail.
    let plain = weights(2, true);
    let mut permuted = plain.clone();
    for (k, v) in permuted.iter_mut() {
        if k.contains("q_proj") {
            *v = llama_cpp_permute(v, HEADS);
        }
    }
    let wrong = reference_logits(&permuted, &ids, true);
    assert!(max_abs_diff(&ours, &wrong) > 1e-3);
    // Quantized (Q8_0) weights dequantize close to the f32 ones.
    let q8 = dir.path().join("tiny-q8.gguf");
    write_gguf(&q8, 2, true, GgmlDType::Q8_0);
    let q = all_rows_logits(&load(&q8, None).unwrap(), &ids);
    let d = max_abs_diff(
        &q,
        &reference
            .iter()
            .map(|r| r.iter().map(|&x| x as f64).collect())
            .collect::<Vec<_>>(),
    );
    assert!(d < 0.2, "Q8_0 logits drift {d}");
}

#[test]
fn gguf_tokenizer_matches_tokenizer_json_and_known_ids() {
    let dir = tempfile::tempdir().unwrap();
    let hf = load(&write_hf(&dir.path().join("hf"), 3, true), None).unwrap();
    let gguf_path = dir.path().join("tiny.gguf");
    write_gguf(&gguf_path, 3, true, GgmlDType::F32);
    let gg = load(&gguf_path, None).unwrap();
    // Known encoding worked out by hand from the merges: " Paris" → "ĠPar" + "is";
    // " lives" → "Ġliv" + "es"; digits split one by one; bytes are ids 1 + byte.
    let id = |s: &str| tokens().iter().position(|t| t == s).unwrap() as u32;
    let text = "Al lives in Paris 42";
    let expected = vec![
        1 + b'A' as u32,
        1 + b'l' as u32,
        id("Ġliv"),
        id("es"),
        id("Ġ"),
        1 + b'i' as u32,
        1 + b'n' as u32,
        id("ĠPar"),
        id("is"),
        id("Ġ"),
        1 + b'4' as u32,
        1 + b'2' as u32,
    ];
    assert_eq!(hf.tokenizer.encode_prompt(text).unwrap(), expected);
    assert_eq!(gg.tokenizer.encode_prompt(text).unwrap(), expected);
    assert_eq!(
        gg.tokenizer.encode_continuation(" Paris").unwrap(),
        vec![id("ĠPar"), id("is")]
    );
    assert_eq!(gg.tokenizer.decode(&expected).unwrap(), text);
    assert_eq!(
        gg.tokenizer.encode_prompt("<|endoftext|>x").unwrap(),
        vec![0, 1 + b'x' as u32]
    );
}

fn tiny_examples(lm: &LoadedModel) -> Vec<Example> {
    let ds = Dataset::build(
        association("city-language").unwrap(),
        DatasetConfig {
            group_size: 4,
            train_ratio: 0.25,
            seed: 0,
        },
    )
    .unwrap();
    encode_train(lm, &ds).unwrap()
}

fn assert_all_nonzero(params: &[Param], grads: &candle_core::backprop::GradStore, what: &str) {
    for (i, p) in params.iter().enumerate() {
        let g = p.grad(grads).unwrap();
        let n = g
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(
            n > 0.0,
            "{what}: parameter {i} ({:?}) has a zero gradient",
            p.var.dims()
        );
    }
}

#[test]
fn every_trainable_parameter_gets_a_nonzero_gradient() {
    let dir = tempfile::tempdir().unwrap();
    let lm = load(&write_hf(&dir.path().join("hf"), 4, false), None).unwrap();
    let examples = tiny_examples(&lm);
    let batch: Vec<&Example> = examples.iter().take(6).collect();

    let mut full = lm.model.clone();
    let params = make_trainable(&mut full, &Method::Full, 0).unwrap();
    assert_eq!(params.len(), 1 + LAYERS * 9 + 1 + 1);
    let (loss, _) = batch_loss(&full, &batch, 0).unwrap();
    let grads = loss.backward().unwrap();
    assert_all_nonzero(&params, &grads, "full FT");

    let mut lora = lm.model.clone();
    let params = make_trainable(&mut lora, &Method::Lora(LoraConfig::new(2)), 0).unwrap();
    assert_eq!(params.len(), LAYERS * 7 * 2);
    // B starts at zero, so A's gradient is zero at step 0: take one step first.
    let mut opt = AdamW::new(
        params.clone(),
        AdamWConfig {
            lr: 1e-2,
            ..Default::default()
        },
    )
    .unwrap();
    let (loss, _) = batch_loss(&lora, &batch, 0).unwrap();
    opt.step(&loss.backward().unwrap()).unwrap();
    let (loss, _) = batch_loss(&lora, &batch, 0).unwrap();
    let grads = loss.backward().unwrap();
    assert_all_nonzero(&params, &grads, "LoRA");
    // The frozen base weights get none.
    assert!(grads.get(lora.embed.dense().unwrap()).is_none());
    assert!(grads
        .get(lora.blocks[0].q.weight.dense().unwrap())
        .is_none());
}

#[test]
fn gradients_match_finite_differences() {
    let dir = tempfile::tempdir().unwrap();
    let lm = load(&write_hf(&dir.path().join("hf"), 5, false), None).unwrap();
    let examples = tiny_examples(&lm);
    let batch: Vec<&Example> = examples.iter().take(4).collect();
    let mut model = lm.model.clone();
    let params = make_trainable(&mut model, &Method::Full, 0).unwrap();
    let (loss, _) = batch_loss(&model, &batch, 0).unwrap();
    let grads = loss.backward().unwrap();
    let loss_at = |m: &oocr_llm::CausalLm| {
        batch_loss(m, &batch, 0)
            .unwrap()
            .0
            .to_scalar::<f32>()
            .unwrap() as f64
    };
    // Full-FT parameter order: embedding; per block attn norm, mlp norm, q, k, v, o, gate, up,
    // down; final norm; head. One coordinate in each of the first block's, plus the second
    // block's q (rope path), the final norm and the head.
    for (vi, coord) in [
        (0usize, 5 * HIDDEN + 3),
        (1, 4),
        (2, 7),
        (3, 9),
        (4, 11),
        (5, 2),
        (6, 30),
        (7, 40),
        (8, 41),
        (9, 5),
        (12, 77),
        (19, 3),
        (20, 100),
    ] {
        let var = &params[vi].var;
        let analytic = params[vi]
            .grad(&grads)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()[coord] as f64;
        let orig = var.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let h = 1e-2f32;
        let at = |delta: f32| {
            let mut v = orig.clone();
            v[coord] += delta;
            var.set(&Tensor::from_vec(v, var.shape(), &Device::Cpu).unwrap())
                .unwrap();
            loss_at(&model)
        };
        let numeric = (at(h) - at(-h)) / (2.0 * h as f64);
        var.set(&Tensor::from_vec(orig, var.shape(), &Device::Cpu).unwrap())
            .unwrap();
        let tol = 2e-3 + 2e-2 * numeric.abs();
        assert!(
            (analytic - numeric).abs() < tol,
            "var {vi}[{coord}]: analytic {analytic} vs numeric {numeric}"
        );
    }
}

#[test]
fn loss_falls_on_a_small_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let lm = load(&write_hf(&dir.path().join("hf"), 6, true), None).unwrap();
    let examples = tiny_examples(&lm);
    for (method, lr) in [
        (Method::Full, 1e-2),
        (Method::Lora(LoraConfig::new(4)), 1e-2),
    ] {
        let mut model = lm.model.clone();
        let params = make_trainable(&mut model, &method, 0).unwrap();
        let mut opt = AdamW::new(
            params,
            AdamWConfig {
                lr,
                ..Default::default()
            },
        )
        .unwrap();
        let cfg = TrainConfig {
            epochs: 12,
            batch_size: 4,
            seed: 0,
            schedule: Schedule::Constant,
            warmup_frac: 0.0,
        };
        let rep = train(&model, &mut opt, &examples, &cfg, |_| {}).unwrap();
        let (first, last) = (rep.epoch_losses[0], *rep.epoch_losses.last().unwrap());
        assert!(last < 0.5 * first, "{method:?}: loss {first} -> {last}");
        assert!(rep.tokens > 0 && rep.tokens_per_s > 0.0);
    }
}

#[test]
fn training_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let lm = load(&write_hf(&dir.path().join("hf"), 7, true), None).unwrap();
    let examples = tiny_examples(&lm);
    let go = || {
        let mut model = lm.model.clone();
        let params = make_trainable(&mut model, &Method::Lora(LoraConfig::new(2)), 3).unwrap();
        let mut opt = AdamW::new(
            params,
            AdamWConfig {
                lr: 1e-2,
                ..Default::default()
            },
        )
        .unwrap();
        let cfg = TrainConfig {
            epochs: 2,
            batch_size: 3,
            seed: 9,
            schedule: Schedule::Cosine,
            warmup_frac: 0.2,
        };
        let mut losses = Vec::new();
        train(&model, &mut opt, &examples, &cfg, |s| {
            losses.push(s.loss.to_bits())
        })
        .unwrap();
        losses
    };
    assert_eq!(go(), go());
}

#[test]
fn packed_scoring_equals_scoring_each_candidate_alone() {
    let dir = tempfile::tempdir().unwrap();
    let lm = load(&write_hf(&dir.path().join("hf"), 8, false), None).unwrap();
    let t = &lm.tokenizer;
    let prompts: Vec<Vec<u32>> = ["Al lives in", "Bo speaks"]
        .iter()
        .map(|p| t.encode_prompt(p).unwrap())
        .collect();
    let cands: Vec<Vec<u32>> = [" Paris", " French", " Rome"]
        .iter()
        .map(|c| t.encode_continuation(c).unwrap())
        .collect();
    let refs: Vec<&[u32]> = prompts.iter().map(Vec::as_slice).collect();
    let b = scoring_batch(&refs, &cands, 0).unwrap();
    let packed: Vec<f32> = lm
        .model
        .target_logprobs(&b.inputs, &b.rows, &b.targets)
        .unwrap()
        .to_vec1()
        .unwrap();
    let mut alone = Vec::new();
    for p in &prompts {
        for c in &cands {
            let ex = Example {
                prompt: p.clone(),
                answer: c.clone(),
            };
            let b = training_batch(&[&ex], 0).unwrap();
            alone.extend(
                lm.model
                    .target_logprobs(&b.inputs, &b.rows, &b.targets)
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap(),
            );
        }
    }
    assert_eq!(packed.len(), alone.len());
    for (a, b) in packed.iter().zip(&alone) {
        assert!((a - b).abs() < 1e-4, "packed {a} vs alone {b}");
    }
}

#[test]
fn malformed_model_files_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_hf(&dir.path().join("hf"), 9, true);
    let msg = |p: &std::path::Path| load(p, None).err().expect("must fail").to_string();

    let e = msg(&dir.path().join("nope.gguf"));
    assert!(e.contains("nope.gguf") && e.contains("no such file"), "{e}");

    let garbage = dir.path().join("garbage.gguf");
    std::fs::write(&garbage, b"GGUF\x03\x00\x00\x00trunc").unwrap();
    let e = msg(&garbage);
    assert!(
        e.contains("garbage.gguf") && e.contains("not a valid GGUF"),
        "{e}"
    );

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    assert!(msg(&text).contains("neither a GGUF"));

    // Truncated safetensors.
    let trunc = dir.path().join("trunc");
    std::fs::create_dir_all(&trunc).unwrap();
    for f in ["config.json", "tokenizer.json"] {
        std::fs::copy(good.join(f), trunc.join(f)).unwrap();
    }
    let bytes = std::fs::read(good.join("model.safetensors")).unwrap();
    std::fs::write(trunc.join("model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    let e = msg(&trunc);
    assert!(
        e.contains("model.safetensors") && e.contains("not a valid safetensors"),
        "{e}"
    );

    // A missing tensor and a wrong shape name the tensor.
    let mut w = weights(9, true);
    w.remove("model.layers.1.mlp.up_proj.weight");
    candle_core::safetensors::save(&w, trunc.join("model.safetensors")).unwrap();
    let e = msg(&trunc);
    assert!(
        e.contains("model.layers.1.mlp.up_proj.weight") && e.contains("missing"),
        "{e}"
    );
    let mut w = weights(9, true);
    w.insert(
        "model.norm.weight".into(),
        Tensor::zeros(7, candle_core::DType::F32, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&w, trunc.join("model.safetensors")).unwrap();
    let e = msg(&trunc);
    assert!(
        e.contains("model.norm.weight") && e.contains("shape"),
        "{e}"
    );

    // A tensor no declaration uses (a different architecture) is named, not ignored.
    let mut w = weights(9, true);
    w.insert(
        "model.layers.0.self_attn.q_norm.weight".into(),
        Tensor::ones(HEAD_DIM, candle_core::DType::F32, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&w, trunc.join("model.safetensors")).unwrap();
    let e = msg(&trunc);
    assert!(
        e.contains("model.layers.0.self_attn.q_norm.weight") && e.contains("does not use"),
        "{e}"
    );

    // Missing config key.
    let mut cfg = config_json(true);
    cfg.as_object_mut().unwrap().remove("vocab_size");
    std::fs::write(trunc.join("config.json"), cfg.to_string()).unwrap();
    let e = msg(&trunc);
    assert!(e.contains("config.json") && e.contains("vocab_size"), "{e}");
}

#[test]
fn packed_bases_compute_what_the_f32_base_computes() {
    use oocr_llm::loader::load_with;
    use oocr_llm::packed::BaseDtype;
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("q8.gguf");
    write_gguf(&gguf, 11, false, GgmlDType::Q8_0);
    let f32_base = load(&gguf, None).unwrap();
    let examples = tiny_examples(&f32_base);
    let batch: Vec<&Example> = examples.iter().take(6).collect();
    let loss_of = |lm: &LoadedModel| {
        let mut m = lm.model.clone();
        let params = make_trainable(&mut m, &Method::Lora(LoraConfig::new(2)), 3).unwrap();
        let mut opt = AdamW::new(
            params,
            AdamWConfig {
                lr: 1e-2,
                ..Default::default()
            },
        )
        .unwrap();
        let mut losses = Vec::new();
        for _ in 0..3 {
            let (loss, _) = batch_loss(&m, &batch, 0).unwrap();
            losses.push(loss.to_scalar::<f32>().unwrap());
            opt.step(&loss.backward().unwrap()).unwrap();
        }
        losses
    };
    let reference = loss_of(&f32_base);
    // The GGUF's own Q8_0 blocks, expanded inside the products: the f32 base's numbers.
    let q = load_with(&gguf, None, BaseDtype::Quantized).unwrap();
    assert!(matches!(
        q.model.blocks[0].q.weight,
        oocr_llm::linear::Weight::Packed(_)
    ));
    let lq = loss_of(&q);
    for (a, b) in lq.iter().zip(&reference) {
        assert!(
            (a - b).abs() <= 1e-5 * b.abs(),
            "quantized {lq:?} vs f32 {reference:?}"
        );
    }
    // bf16 rounds every weight once: close, not equal.
    let lb = loss_of(&load_with(&gguf, None, BaseDtype::Bf16).unwrap());
    for (a, b) in lb.iter().zip(&reference) {
        assert!(
            (a - b).abs() <= 2e-2 * b.abs(),
            "bf16 {lb:?} vs f32 {reference:?}"
        );
    }
    // Full fine-tuning cannot train packed weights; a Hugging Face folder has no GGUF blocks.
    let mut m = q.model.clone();
    let e = make_trainable(&mut m, &Method::Full, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("base_dtype"), "{e}");
    let hf = write_hf(&dir.path().join("hf"), 11, false);
    let e = load_with(&hf, None, BaseDtype::Quantized)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("base_dtype") && e.contains("GGUF"), "{e}");
}

#[test]
fn a_whole_run_writes_results_and_table() {
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("tiny.gguf");
    write_gguf(&gguf, 10, true, GgmlDType::F32);
    let mut cfg = RunConfig::defaults(
        gguf,
        "city-language-cf".into(),
        Method::Lora(LoraConfig::new(2)),
    );
    cfg.train.epochs = 2;
    cfg.dataset.group_size = 5;
    let out = dir.path().join("run");
    let res = run(&cfg, &out, false).unwrap();
    assert_eq!(res.associations.len(), 1);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(json["model"], "tiny-llama");
    assert_eq!(json["method"], "lora-r2");
    let a = &json["associations"][0];
    for key in [
        "name",
        "mean_rank_before",
        "mean_rank_after",
        "train_loss_final",
        "n_test_subjects",
        "epochs",
        "lr",
        "seconds",
        "tokens_per_s",
    ] {
        assert!(!a[key].is_null(), "results.json lacks {key}");
    }
    assert_eq!(a["n_test_subjects"], 20);
    assert!(a["before"]["real_world_top1_share"].is_number());
    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    assert!(md.contains("| model | City-Lang (CF) |"), "{md}");
    let unit = out.join("city-language-cf/seed-0");
    let metrics = std::fs::read_to_string(unit.join("metrics.jsonl")).unwrap();
    // 5 groups × 5 subjects: 25 facts + 5 training implications = 30 examples = 4 batches of 8,
    // 2 epochs; an evaluation before training and after each epoch; one closing line.
    assert_eq!(metrics.lines().count(), 8 + 3 + 1);
    for f in [
        "config.toml",
        "city-language-cf/seed-0/train.jsonl",
        "city-language-cf/seed-0/scores_after.jsonl",
        "city-language-cf/seed-0/result.json",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
}
