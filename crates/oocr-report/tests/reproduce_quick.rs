//! End to end: `reproduce --quick` into a temporary folder writes every file, every required
//! claim passes, and report.md, claims.json and the data CSVs match their golden snapshots
//! (`tests/snapshots/`, insta) after rounding every number to 3 significant digits and blanking the
//! wall-clock times, so that they are stable across machines.

use oocr_report::claims::REQUIRED_IDS;
use oocr_report::reproduce::{reproduce, Options};

#[test]
fn quick_reproduction_writes_everything_and_every_claim_passes() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        out: dir.path().to_path_buf(),
        quick: true,
    };
    let rep = reproduce(&opts, &|_| {}).unwrap();
    for stem in [
        "loss_curves",
        "heatmap_factorized",
        "heatmap_nonfactorized",
        "dh_sweep",
        "margins",
        "alignment",
        "theorem2",
        "authors_code",
    ] {
        for ext in ["png", "svg"] {
            let p = dir.path().join(format!("{stem}.{ext}"));
            let len = std::fs::metadata(&p)
                .unwrap_or_else(|_| panic!("{p:?} missing"))
                .len();
            assert!(len > 1000, "{p:?} is only {len} bytes");
        }
    }
    let png = std::fs::read(dir.path().join("margins.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert_eq!(html.matches("data:image/png;base64,").count(), 8);
    assert!(
        !html.contains("src=\"heatmap"),
        "the HTML must not link external images"
    );
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    for f in [
        "runs/factorized/metrics.jsonl",
        "runs/nonfactorized/summary.json",
        "data/margins.csv",
        "data/w_nonfactorized.csv",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} missing");
    }
    let claims: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("claims.json")).unwrap())
            .unwrap();
    let claims = claims.as_array().unwrap();
    for id in REQUIRED_IDS {
        let c = claims
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("claim {id} missing"));
        for key in ["claim", "measured", "threshold"] {
            assert!(
                c[key].as_str().is_some_and(|s| !s.is_empty()),
                "{id}: {key}"
            );
        }
        assert_eq!(c["pass"], true, "claim {id} fails: {}", c["measured"]);
        assert!(md.contains(id), "report.md lacks {id}");
    }
    assert!(rep.all_pass());
    let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
    insta::assert_snapshot!("report_md", normalize(&read("report.md")));
    insta::assert_snapshot!("claims_json", normalize(&read("claims.json")));
    for csv in [
        "dh_sweep",
        "margins",
        "curves_factorized",
        "curves_nonfactorized",
    ] {
        insta::assert_snapshot!(csv, normalize(&read(&format!("data/{csv}.csv"))));
    }
}

/// Rounds every decimal number in `text` (but section numbers) to 3 significant digits
/// (|x| < 1e-9 becomes 0), and
/// blanks wall-clock times (`1.2 s`, `elapsed_s`) so that the text is stable across machines.
fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let starts_number = b[i].is_ascii_digit()
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'));
        if !starts_number {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
            continue;
        }
        let mut j = i;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let mut is_float = false;
        if j + 1 < b.len() && b[j] == b'.' && b[j + 1].is_ascii_digit() {
            is_float = true;
            j += 1;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
        }
        if j < b.len() && (b[j] == b'e' || b[j] == b'E') {
            let mut k = j + 1;
            if k < b.len() && (b[k] == b'-' || b[k] == b'+') {
                k += 1;
            }
            if k < b.len() && b[k].is_ascii_digit() {
                is_float = true;
                j = k;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
            }
        }
        let tok = &text[i..j];
        // Section numbers (`Sec. 3.2`) are kept as written.
        let section = out.ends_with("Sec. ") || out.ends_with("Section ");
        if is_float && !section {
            let x: f64 = tok.parse().unwrap();
            // A time in seconds (`0.4 s`) is blanked.
            if text[j..].starts_with(" s") && !text[j..].starts_with(" s_") {
                out.push_str("<time>");
            } else if x.abs() < 1e-9 {
                out.push('0');
            } else {
                out.push_str(&format!("{x:.2e}"));
            }
        } else {
            out.push_str(tok);
        }
        i = j;
    }
    let threads = format!(" on {} threads", rayon_threads(&out));
    out.replace(&threads, " on <n> threads")
        .lines()
        .map(|l| {
            if l.contains("\"elapsed_s\"") {
                "  \"elapsed_s\": <time>,".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The thread count the report states (`on N threads`), if any.
fn rayon_threads(text: &str) -> String {
    text.split(" on ")
        .skip(1)
        .find_map(|rest| {
            let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
            (!n.is_empty() && rest[n.len()..].starts_with(" threads")).then_some(n)
        })
        .unwrap_or_default()
}
