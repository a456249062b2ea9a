//! Tokenizers rebuilt from GGUF metadata agree token for token with the Hugging Face
//! `tokenizer.json` they were written from. The fixtures (`tests/fixtures/tokenizers/<kind>/`) are
//! made by `scripts/golden/make_tokenizer_fixtures.py`: a byte-level BPE (`gpt2`), a SentencePiece
//! BPE with byte fallback and a space prefix (`llama`), and a Gemma-style one (`gemma`: no space
//! prefix, whitespace tokens, `general.architecture = gemma3`). `expected.json` holds the ids
//! transformers' `tokenizer.json` gives each string, with and without special tokens.
use candle_core::quantized::gguf_file::{Content, Value};
use oocr_llm::tokenizer::TextTokenizer;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn fixture(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tokenizers")
        .join(kind)
}

struct Case {
    text: String,
    with_special: Vec<u32>,
    without_special: Vec<u32>,
}

fn cases(dir: &Path) -> Vec<Case> {
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let ids = |v: &serde_json::Value| -> Vec<u32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect()
    };
    doc["strings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            text: c["text"].as_str().unwrap().to_string(),
            with_special: ids(&c["ids_with_special"]),
            without_special: ids(&c["ids_without_special"]),
        })
        .collect()
}

fn read_gguf(path: &Path) -> Content {
    let mut f = std::fs::File::open(path).unwrap();
    Content::read(&mut f).unwrap()
}

/// Both tokenizers of a fixture, and how many strings they were checked on.
fn check(kind: &str) -> usize {
    let dir = fixture(kind);
    let gguf_path = dir.join("tokenizer.gguf");
    let from_gguf = TextTokenizer::from_gguf(&read_gguf(&gguf_path), &gguf_path).unwrap();
    let from_json = TextTokenizer::from_file(&dir.join("tokenizer.json")).unwrap();
    assert_eq!(
        from_gguf.vocab_size(),
        from_json.vocab_size(),
        "{kind}: vocabulary size"
    );
    let cases = cases(&dir);
    let mut mismatches = Vec::new();
    for c in &cases {
        let json_with = from_json.encode_prompt(&c.text).unwrap();
        let json_without = from_json.encode_continuation(&c.text).unwrap();
        // The fixture is what tokenizer.json gives, here as in transformers.
        assert_eq!(
            json_with, c.with_special,
            "{kind}: tokenizer.json on {:?}",
            c.text
        );
        assert_eq!(
            json_without, c.without_special,
            "{kind}: tokenizer.json on {:?}",
            c.text
        );
        let gguf_with = from_gguf.encode_prompt(&c.text).unwrap();
        let gguf_without = from_gguf.encode_continuation(&c.text).unwrap();
        if gguf_with != c.with_special || gguf_without != c.without_special {
            mismatches.push(format!(
                "{:?}: gguf {gguf_with:?} / {gguf_without:?}, expected {:?} / {:?}",
                c.text, c.with_special, c.without_special
            ));
        }
        assert_eq!(
            from_gguf.decode(&gguf_with).unwrap(),
            from_json.decode(&json_with).unwrap(),
            "{kind}: decoded {:?}",
            c.text
        );
    }
    assert!(mismatches.is_empty(), "{kind}:\n{}", mismatches.join("\n"));
    cases.len()
}

#[test]
fn gpt2_byte_level_bpe_from_gguf_matches_tokenizer_json() {
    assert_eq!(check("gpt2"), 20);
}

#[test]
fn sentencepiece_llama_from_gguf_matches_tokenizer_json() {
    assert_eq!(check("llama"), 20);
}

#[test]
fn sentencepiece_gemma_from_gguf_matches_tokenizer_json() {
    assert_eq!(check("gemma"), 20);
}

#[test]
fn fixtures_exercise_byte_fallback_prefix_and_special_tokens() {
    // The strings reach the parts of the pipelines under test: BOS added with special tokens only,
    // byte-fallback tokens (`<0x..>`) for characters outside the small vocabularies, and the Llama
    // space prefix that Gemma lacks.
    for kind in ["llama", "gemma"] {
        let dir = fixture(kind);
        let tok = TextTokenizer::from_file(&dir.join("tokenizer.json")).unwrap();
        let bos = tok
            .token_id(if kind == "llama" { "<s>" } else { "<bos>" })
            .unwrap();
        let byte_ids: Vec<u32> = (0..=255u8)
            .map(|b| tok.token_id(&format!("<0x{b:02X}>")).unwrap())
            .collect();
        let cases = cases(&dir);
        assert!(cases.iter().all(|c| c.with_special.first() == Some(&bos)));
        assert!(cases.iter().all(|c| !c.without_special.contains(&bos)));
        let fallback = cases
            .iter()
            .filter(|c| c.without_special.iter().any(|i| byte_ids.contains(i)))
            .count();
        assert!(
            fallback >= 2,
            "{kind}: only {fallback} strings use byte fallback"
        );
        // Llama prefixes the first word with `▁` (so "Hello" and " Hello" agree); Gemma does not.
        let bare = tok.encode_continuation("Hello").unwrap();
        let spaced = tok.encode_continuation(" Hello").unwrap();
        assert_eq!(
            bare == spaced,
            kind == "llama",
            "{kind}: {bare:?} vs {spaced:?}"
        );
    }
}

#[test]
fn golden_model_fixtures_tokenize_alike_from_gguf_and_tokenizer_json() {
    // The model fixtures of `fixtures/golden/` (written by scripts/golden/make_fixtures.py) carry
    // a byte-level BPE both as tokenizer.json and in their GGUF metadata (`tokenizer.ggml.pre =
    // gpt-2`, as llama.cpp writes it): both must give the same ids on the fixture strings.
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden");
    let strings: Vec<String> = cases(&fixture("gpt2"))
        .into_iter()
        .map(|c| c.text)
        .collect();
    let mut checked = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&golden)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    for dir in dirs {
        let gguf = dir.join("model.gguf");
        if !gguf.exists() {
            continue;
        }
        let from_gguf = TextTokenizer::from_gguf(&read_gguf(&gguf), &gguf).unwrap();
        let from_json = TextTokenizer::from_file(&dir.join("tokenizer.json")).unwrap();
        for s in &strings {
            assert_eq!(
                from_gguf.encode_prompt(s).unwrap(),
                from_json.encode_prompt(s).unwrap(),
                "{}: {s:?}",
                dir.display()
            );
            assert_eq!(
                from_gguf.encode_continuation(s).unwrap(),
                from_json.encode_continuation(s).unwrap(),
                "{}: {s:?}",
                dir.display()
            );
        }
        checked.push(dir.file_name().unwrap().to_string_lossy().into_owned());
    }
    assert!(checked.len() >= 7, "only {checked:?} have a model.gguf");
}

fn content(meta: Vec<(&str, Value)>) -> Content {
    Content {
        magic: candle_core::quantized::gguf_file::VersionedMagic::GgufV3,
        metadata: meta
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<HashMap<_, _>>(),
        tensor_infos: HashMap::new(),
        tensor_data_offset: 0,
    }
}

fn strings(v: &[&str]) -> Value {
    Value::Array(v.iter().map(|s| Value::String(s.to_string())).collect())
}

fn error(meta: Vec<(&str, Value)>) -> String {
    match TextTokenizer::from_gguf(&content(meta), Path::new("m.gguf")) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_tokenizer_metadata_is_a_clear_error_naming_the_key() {
    let e = error(vec![("tokenizer.ggml.model", Value::String("t5".into()))]);
    assert!(
        e.contains("tokenizer.ggml.tokens") || e.contains("t5"),
        "{e}"
    );
    let e = error(vec![
        ("tokenizer.ggml.model", Value::String("t5".into())),
        ("tokenizer.ggml.tokens", strings(&["a"])),
    ]);
    assert!(
        e.contains("'t5'") && e.contains("gpt2, llama") && e.contains("m.gguf"),
        "{e}"
    );
    let e = error(vec![
        ("tokenizer.ggml.model", Value::String("llama".into())),
        ("tokenizer.ggml.tokens", strings(&["a", "b", "ab"])),
    ]);
    assert!(e.contains("tokenizer.ggml.scores"), "{e}");
    let e = error(vec![
        ("tokenizer.ggml.model", Value::String("llama".into())),
        ("tokenizer.ggml.tokens", strings(&["a", "b", "ab"])),
        ("tokenizer.ggml.scores", Value::Array(vec![Value::F32(0.0)])),
    ]);
    assert!(
        e.contains("tokenizer.ggml.scores") && e.contains("1 entries for 3"),
        "{e}"
    );
    let e = error(vec![
        ("tokenizer.ggml.model", Value::String("llama".into())),
        ("tokenizer.ggml.tokens", strings(&["a", "b", "ab"])),
        ("tokenizer.ggml.bos_token_id", Value::U32(7)),
    ]);
    assert!(
        e.contains("tokenizer.ggml.bos_token_id") && e.contains("7"),
        "{e}"
    );
}

/// Not a check: writes, for the GGUF file named by `OOCR_TOKENIZER_GGUF`, the ids our tokenizer
/// gives every fixture string and every string of the built-in associations (templates, answers,
/// candidates, each of the 1600 subject names, every prompt) to `OOCR_TOKENIZER_IDS_OUT`, for
/// `scripts/golden/compare_gguf_tokenizers.py` to compare with transformers on a real model.
#[test]
#[ignore]
fn dump_gguf_tokenizer_ids() {
    use oocr_llm::dataset::{Dataset, DatasetConfig, ASSOCIATIONS, MAX_SUBJECTS};
    let gguf = PathBuf::from(std::env::var("OOCR_TOKENIZER_GGUF").expect("OOCR_TOKENIZER_GGUF"));
    let out =
        PathBuf::from(std::env::var("OOCR_TOKENIZER_IDS_OUT").expect("OOCR_TOKENIZER_IDS_OUT"));
    let content = read_gguf(&gguf);
    let t0 = std::time::Instant::now();
    let doc = oocr_llm::tokenizer::gguf_tokenizer_json(&content, &gguf).unwrap();
    eprintln!(
        "tokenizer.json document ({} merges) built in {:.2} s",
        doc["model"]["merges"].as_array().map_or(0, Vec::len),
        t0.elapsed().as_secs_f64()
    );
    let t0 = std::time::Instant::now();
    let tok = TextTokenizer::from_gguf(&content, &gguf).unwrap();
    eprintln!(
        "tokenizer rebuilt from {} in {:.2} s",
        gguf.display(),
        t0.elapsed().as_secs_f64()
    );
    let mut strings: Vec<String> = cases(&fixture("gemma"))
        .into_iter()
        .map(|c| c.text)
        .collect();
    for a in &ASSOCIATIONS {
        strings.push(a.fact_template.to_string());
        strings.push(a.implication_template.to_string());
        let mut words: Vec<&str> = a.pairs.iter().flat_map(|(f, i)| [*f, *i]).collect();
        words.extend(a.real_world.iter().flatten());
        for w in words {
            strings.push(w.to_string());
            strings.push(format!(" {w}"));
        }
        let ds = Dataset::build(
            a,
            DatasetConfig {
                group_size: MAX_SUBJECTS / 5,
                train_ratio: 0.5,
                seed: 0,
            },
        )
        .unwrap();
        strings.extend(ds.candidates.iter().cloned());
        for r in &ds.records {
            strings.push(r.subject.clone());
            strings.push(r.prompt.clone());
            strings.push(r.answer.clone());
        }
    }
    let mut seen = std::collections::HashSet::new();
    strings.retain(|s| seen.insert(s.clone()));
    let rows: Vec<serde_json::Value> = strings
        .iter()
        .map(|s| {
            serde_json::json!({"text": s, "ids_with_special": tok.encode_prompt(s).unwrap(),
                               "ids_without_special": tok.encode_continuation(s).unwrap()})
        })
        .collect();
    std::fs::write(&out, serde_json::to_string(&rows).unwrap()).unwrap();
    eprintln!("{} strings -> {}", rows.len(), out.display());
}
