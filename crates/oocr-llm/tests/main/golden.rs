//! Every model family against Hugging Face transformers: the fixtures under
//! `tests/fixtures/golden/<variant>/` were written by `scripts/golden/make_fixtures.py` (tiny random
//! models built and run by transformers). Each test loads the folder through the real loader and
//! checks the logits at every position (1e-4 relative to the largest), the answer-token loss
//! (1e-5 relative) and the gradient of that loss for every parameter tensor (norm and fixed
//! entries, 1e-3 relative). Where the folder has a `model.gguf` (the same weights as llama.cpp's
//! converter writes them), its logits must equal the safetensors ones.
use candle_core::{DType, Device, Tensor};
use oocr_llm::lora::{make_trainable, Method};
use oocr_llm::model::{Inputs, MASKED};
use oocr_llm::{load, CausalLm};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn fixture(variant: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/golden")
        .join(variant)
}

struct Golden {
    ids: Vec<Vec<u32>>,
    labels: Vec<Vec<i64>>,
    logits: Tensor,
    json: serde_json::Value,
}

fn read_golden(dir: &Path) -> Golden {
    let t = candle_core::safetensors::load(dir.join("golden.safetensors"), &Device::Cpu).unwrap();
    let ids: Vec<Vec<i64>> = t["input_ids"].to_vec2().unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("golden.json")).unwrap()).unwrap();
    Golden {
        ids: ids
            .iter()
            .map(|r| r.iter().map(|&x| x as u32).collect())
            .collect(),
        labels: t["labels"].to_vec2().unwrap(),
        logits: t["logits"].to_dtype(DType::F32).unwrap(),
        json,
    }
}

/// Plain causal inputs for equal-length rows.
fn inputs(ids: &[Vec<u32>]) -> Inputs {
    let (b, t) = (ids.len(), ids[0].len());
    let dev = Device::Cpu;
    let flat: Vec<u32> = ids.iter().flatten().copied().collect();
    let pos: Vec<f32> = (0..b).flat_map(|_| (0..t).map(|i| i as f32)).collect();
    let mut mask = vec![0f32; b * t * t];
    for bi in 0..b {
        for i in 0..t {
            for j in i + 1..t {
                mask[bi * t * t + i * t + j] = MASKED;
            }
        }
    }
    Inputs {
        ids: Tensor::from_vec(flat, (b, t), &dev).unwrap(),
        positions: Tensor::from_vec(pos, (b, t), &dev).unwrap(),
        mask: Tensor::from_vec(mask, (b, 1, t, t), &dev).unwrap(),
    }
}

fn all_logits(model: &CausalLm, g: &Golden) -> Tensor {
    let (b, t) = (g.ids.len(), g.ids[0].len());
    let hidden = model.hidden(&inputs(&g.ids)).unwrap();
    let rows = Tensor::arange(0u32, (b * t) as u32, &Device::Cpu).unwrap();
    model
        .logits(&hidden, &rows)
        .unwrap()
        .reshape((b, t, ()))
        .unwrap()
}

fn max_abs(t: &Tensor) -> f64 {
    t.abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap() as f64
}

fn rel_logit_error(ours: &Tensor, reference: &Tensor) -> f64 {
    max_abs(&(ours - reference).unwrap()) / max_abs(reference)
}

/// The answer-token loss: mean over labelled positions of −log p(label).
fn loss(model: &CausalLm, g: &Golden) -> Tensor {
    let t = g.ids[0].len();
    let (mut rows, mut targets) = (Vec::new(), Vec::new());
    for (bi, row) in g.labels.iter().enumerate() {
        for (ti, &l) in row.iter().enumerate() {
            if l >= 0 {
                rows.push((bi * t + ti) as u32);
                targets.push(l as u32);
            }
        }
    }
    let n = rows.len();
    let rows = Tensor::from_vec(rows, n, &Device::Cpu).unwrap();
    let targets = Tensor::from_vec(targets, n, &Device::Cpu).unwrap();
    let lp = model
        .target_logprobs(&inputs(&g.ids), &rows, &targets)
        .unwrap();
    (lp.sum_all().unwrap() * (-1.0 / n as f64)).unwrap()
}

fn check_variant(variant: &str) {
    let dir = fixture(variant);
    assert!(
        dir.join("golden.json").exists(),
        "fixture {} is missing: run scripts/golden/make_fixtures.py",
        dir.display()
    );
    let g = read_golden(&dir);
    let lm = load(&dir, None).unwrap();
    let expected_family = variant;
    assert_eq!(
        lm.model.cfg.family,
        if expected_family == "mistral" {
            "llama"
        } else {
            expected_family
        }
    );

    // Logits at every position.
    let ours = all_logits(&lm.model, &g);
    let e = rel_logit_error(&ours, &g.logits);
    assert!(
        e < 1e-4,
        "{variant}: logits differ by {e:.2e} (relative to the largest)"
    );

    // The GGUF rendition of the same weights gives the same logits.
    // Where llama.cpp's conventions differ from the checkpoint's config (Gemma 2 stores no
    // `query_pre_attn_scalar`), the fixture holds transformers' logits under llama.cpp's values.
    let gguf = dir.join("model.gguf");
    if gguf.exists() {
        let gg = load(&gguf, Some(&dir.join("tokenizer.json"))).unwrap();
        assert_eq!(gg.model.cfg.num_layers, lm.model.cfg.num_layers);
        let reference = match g.json["gguf"]["logits_tensor"].as_str() {
            Some(name) => {
                candle_core::safetensors::load(dir.join("golden.safetensors"), &Device::Cpu)
                    .unwrap()[name]
                    .clone()
            }
            None => g.logits.clone(),
        };
        let e = rel_logit_error(&all_logits(&gg.model, &g), &reference);
        assert!(e < 1e-4, "{variant}: GGUF logits differ by {e:.2e}");
    }

    // Loss and gradients of every parameter.
    let mut model = lm.model.clone();
    let params = make_trainable(&mut model, &Method::Full, 0).unwrap();
    let l = loss(&model, &g);
    let ours_loss = l.to_scalar::<f32>().unwrap() as f64;
    let ref_loss = g.json["loss"].as_f64().unwrap();
    assert!(
        (ours_loss - ref_loss).abs() <= 1e-5 * ref_loss.abs().max(1.0),
        "{variant}: loss {ours_loss} vs transformers {ref_loss}"
    );
    let store = l.backward().unwrap();
    let names: Vec<String> = model.named_params().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), params.len());
    let mut grads: HashMap<String, Vec<f32>> = HashMap::new();
    for (name, p) in names.iter().zip(&params) {
        let gr = p.grad(&store).unwrap();
        grads.insert(name.clone(), gr.flatten_all().unwrap().to_vec1().unwrap());
    }
    let reference = g.json["grads"].as_object().unwrap();
    let mut ours_names: Vec<&String> = grads.keys().collect();
    ours_names.sort();
    let mut ref_names: Vec<&String> = reference.keys().collect();
    ref_names.sort();
    assert_eq!(
        ours_names, ref_names,
        "{variant}: parameter lists differ from transformers'"
    );
    for (name, r) in reference {
        let ours = &grads[name];
        let norm = ours
            .iter()
            .map(|x| (*x as f64) * (*x as f64))
            .sum::<f64>()
            .sqrt();
        let rn = r["norm"].as_f64().unwrap();
        assert!(
            (norm - rn).abs() <= 1e-3 * rn.max(1e-6),
            "{variant}: |grad {name}| = {norm} vs transformers {rn}"
        );
        for e in r["entries"].as_array().unwrap() {
            let i = e[0].as_u64().unwrap() as usize;
            let v = e[1].as_f64().unwrap();
            let o = ours[i] as f64;
            assert!(
                (o - v).abs() <= 1e-3 * v.abs().max(0.01 * rn),
                "{variant}: grad {name}[{i}] = {o} vs transformers {v}"
            );
        }
    }
}

macro_rules! golden {
    ($($name:ident),*) => {$(
        #[test]
        fn $name() {
            check_variant(stringify!($name));
        }
    )*};
}

golden!(llama, mistral, qwen2, qwen3, gemma, gemma2, gemma3, olmo, olmo2);
