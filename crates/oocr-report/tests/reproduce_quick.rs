//! End to end: `reproduce --quick` into a temporary folder writes every file and every required
//! claim passes.

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
}
