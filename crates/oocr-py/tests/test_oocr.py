"""Tests of the Python package: run with pytest after `pip install ./crates/oocr-py`."""

import json
import os
import pathlib
import signal
import subprocess
import threading
import time

import numpy as np
import pytest

import oocr

ROOT = pathlib.Path(__file__).resolve().parents[3]


def small(**sets):
    """The paper-factorized preset with a few overrides."""
    cfg = oocr.Config.preset("paper-factorized")
    for key, value in sets.items():
        cfg.set(key.replace("__", "."), value)
    return cfg


def oocr_cli():
    """The `oocr` binary: $OOCR_BIN, else the newer of the workspace's release and debug builds."""
    if os.environ.get("OOCR_BIN"):
        return os.environ["OOCR_BIN"]
    built = [p for p in (ROOT / "target" / d / "oocr" for d in ("release", "debug")) if p.exists()]
    if not built:
        pytest.skip("no oocr binary (cargo build -p oocr-cli, or set OOCR_BIN)")
    return str(max(built, key=lambda p: p.stat().st_mtime))


def read_w_ov_csv(path):
    lines = pathlib.Path(path).read_text().splitlines()
    header = lines[0].split(",")
    rows = [line.split(",") for line in lines[1:]]
    return (
        np.array([[float(x) for x in r[1:]] for r in rows]),
        [r[0] for r in rows],
        header[1:],
    )


def test_presets_and_config_roundtrip(tmp_path):
    names = [p["name"] for p in oocr.presets()]
    assert "paper-factorized" in names and "paper-nonfactorized" in names
    cfg = oocr.Config.preset("paper-nonfactorized")
    assert cfg.get("model.param") == "nonfactorized"
    assert cfg.to_dict()["model"]["param"] == "nonfactorized"
    assert oocr.Config.from_dict(cfg.to_dict()) == cfg
    path = tmp_path / "c.toml"
    path.write_text(cfg.to_toml())
    assert oocr.Config.from_toml(path) == cfg
    chained = cfg.copy().set("train.lr", 0.5).set("task.n", 10)
    assert (chained.get("train.lr"), chained.get("task.n")) == (0.5, 10)
    assert cfg.get("train.lr") == 1.0  # copy() is independent


def test_bad_config_raises_value_error_naming_the_key(tmp_path):
    cfg = oocr.Config()
    with pytest.raises(ValueError, match=r"config key `train\.lr`: must be > 0, got -1"):
        cfg.set("train.lr", -1)
    assert cfg.get("train.lr") == 1.0  # unchanged after a refused set
    with pytest.raises(ValueError, match="task.n"):
        cfg.set("task.n", 0)
    with pytest.raises(ValueError, match="bogus"):
        cfg.set("train.bogus", 1)
    with pytest.raises(ValueError, match="model.param"):
        cfg.set("model.param", "merged")
    with pytest.raises(ValueError, match="train.steps"):
        cfg.set("train.steps", [1, 2])
    with pytest.raises(ValueError, match="unknown preset `nope`"):
        oocr.train("nope")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nlr = 1.0\nlrr = 2.0\n")
    with pytest.raises(ValueError, match="lrr"):
        oocr.Config.from_toml(bad)
    with pytest.raises(FileNotFoundError, match="missing.toml"):
        oocr.Config.from_toml(tmp_path / "missing.toml")
    with pytest.raises(KeyError):
        cfg.get("train.nope")


def test_train_a_preset_generalizes():
    run = oocr.train("paper-factorized")
    # Sec. 3.2: the factorized model fits D_train and generalizes to every test implication.
    assert run.final["train_loss"] <= 0.01
    assert run.final["test_loss"] <= 0.1
    assert run.final["test_accuracy"] == 1.0
    assert run.steps == 3000 and run.stopped_at is None
    assert [r["step"] for r in run.metrics] == list(range(0, 3001, 100))
    assert run.metrics[-1] == run.final | {"step": 3000}
    w = run.w_ov()
    assert w.dtype == np.float64 and w.shape == (40, 82)
    assert len(run.w_ov_rows) == 40 and run.w_ov_rows[0] == "b_1" and run.w_ov_rows[20] == "c_1"
    assert run.w_ov_cols[-2:] == ["r1", "r2"] and len(run.w_ov_cols) == 82
    # The nuclear norm of the whole W_OV bounds that of this block from above.
    assert np.linalg.svd(w, compute_uv=False).sum() <= run.final["nuclear_norm"] + 1e-9


def test_metrics_frame():
    pd = pytest.importorskip("pandas")
    run = oocr.train(small(train__steps=200, train__log_every=50))
    frame = run.metrics_frame()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.index) == [0, 50, 100, 150, 200]
    assert frame.loc[200, "train_loss"] == run.final["train_loss"]


def test_same_config_is_bit_identical():
    cfg = small(train__steps=300)
    a, b = oocr.train(cfg), oocr.train(cfg)
    assert a.metrics == b.metrics
    assert np.array_equal(a.w_ov(), b.w_ov())


def test_w_ov_equals_the_cli_run_folder(tmp_path):
    cli_dir, py_dir = tmp_path / "cli", tmp_path / "py"
    subprocess.run(
        [oocr_cli(), "train", "--preset", "paper-nonfactorized", "--set", "train.steps=500",
         "--out", str(cli_dir)],
        check=True, capture_output=True,
    )
    cfg = oocr.Config.from_toml(cli_dir / "config.toml")
    run = oocr.train(cfg, out=py_dir)
    w, rows, cols = read_w_ov_csv(cli_dir / "w_ov.csv")
    assert np.array_equal(run.w_ov(), w)  # bit for bit
    assert (run.w_ov_rows, run.w_ov_cols) == (rows, cols)
    summary = json.loads((cli_dir / "summary.json").read_text())
    assert run.final == summary["final"]
    for name in ("config.toml", "metrics.jsonl", "w_ov.csv"):
        assert (py_dir / name).read_bytes() == (cli_dir / name).read_bytes(), name
    assert json.loads((py_dir / "summary.json").read_text())["final"] == summary["final"]


def test_run_folder_is_refused_unless_force(tmp_path):
    cfg = small(train__steps=10)
    oocr.train(cfg, out=tmp_path / "r")
    with pytest.raises(FileExistsError, match="exists and is not empty"):
        oocr.train(cfg, out=tmp_path / "r")
    assert oocr.train(cfg, out=tmp_path / "r", force=True).steps == 10


def test_svm_objective():
    nuc = oocr.svm("paper-factorized", "nuclear")
    fro = oocr.svm("paper-factorized", norm="frobenius")
    for sol, norm in ((nuc, lambda w: np.linalg.svd(w, compute_uv=False).sum()),
                      (fro, np.linalg.norm)):
        w = sol["w"]
        assert sol["status"] == "optimal" and w.shape == (40, 82)
        assert sol["objective"] == pytest.approx(norm(w), rel=1e-9)
        assert sol["certificate"]["rel_gap"] <= 1e-8
        assert sol["margin_train_min"] == pytest.approx(1.0, abs=1e-9)
        assert sol["rows"][0] == "b_1" and sol["cols"][-1] == "r2"
    # Sec. 4: test margin sqrt(m_train / m_test) for the nuclear norm, 0 for the Frobenius norm.
    assert nuc["margin_test_vs_implications_min"] == pytest.approx(3 ** -0.5, abs=1e-6)
    assert nuc["closed_form_test_margin"] == pytest.approx(3 ** -0.5)
    assert abs(fro["margin_test_vs_implications_min"]) <= 1e-6
    # The minimum nuclear norm is below the nuclear norm of the Frobenius solution, and vice versa.
    assert nuc["objective"] <= np.linalg.svd(fro["w"], compute_uv=False).sum() + 1e-9
    assert fro["objective"] <= np.linalg.norm(nuc["w"]) + 1e-9
    with pytest.raises(ValueError, match="norm must be one of"):
        oocr.svm("paper-factorized", "spectral")


def test_training_releases_the_gil():
    ticks, done = [], threading.Event()

    def tick():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    thread = threading.Thread(target=tick)
    thread.start()
    try:
        t0 = time.perf_counter()
        run = oocr.train(small(train__steps=3000))
        t1 = time.perf_counter()
    finally:
        done.set()
        thread.join()
    during = [t for t in ticks if t0 < t < t1]
    assert run.steps == 3000
    # The other thread kept running while Rust trained (at most one tick per ms).
    assert len(during) >= 0.2 * (t1 - t0) * 1000, (len(during), t1 - t0)


def test_ctrl_c_stops_the_run_and_keeps_its_metrics(tmp_path):
    cfg = small(train__steps=10_000_000, train__log_every=50)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt) as info:
        oocr.train(cfg, out=tmp_path / "r")
    assert time.perf_counter() - t0 < 30
    run = info.value.run
    assert 0 < run.stopped_at < 10_000_000 and run.steps == run.stopped_at
    assert run.metrics[-1]["step"] == run.stopped_at
    lines = (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == run.metrics
    assert not (tmp_path / "r" / "summary.json").exists()


def test_callback_sees_records_and_can_stop_the_run():
    seen = []

    def callback(record):
        seen.append(record["step"])
        if record["step"] >= 200:
            raise RuntimeError("enough")

    with pytest.raises(RuntimeError, match="enough") as info:
        oocr.train(small(train__steps=1000), callback=callback)
    assert seen == [0, 100, 200]
    assert info.value.run.stopped_at == 201 and info.value.run.metrics[-1]["step"] == 201


def test_sweep_and_aggregate(tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text(
        'preset = "paper-factorized"\nseeds = [0, 1]\n\n[grid]\n'
        '"train.lr" = [0.5, 1.0]\n"train.steps" = [100]\n'
    )
    logs = oocr.sweep(grid, tmp_path / "sweep", jobs=2)
    assert sorted(log["status"] for log in logs) == ["done"] * 4
    again = oocr.sweep(grid, tmp_path / "sweep", jobs=1)
    assert sorted(log["status"] for log in again) == ["skipped"] * 4
    rows = oocr.aggregate(tmp_path / "sweep")
    assert [r["train.lr"] for r in rows] == [0.5, 1.0]
    assert all(r["runs"] == 2 and r["seeds"] == [0, 1] and r["failed"] == 0 for r in rows)
    one = oocr.train(small(train__lr=0.5, train__steps=100, train__seed=1))
    finals = [json.loads((tmp_path / "sweep" / log["folder"] / "summary.json").read_text())
              for log in logs if log["overrides"]["train.lr"] == 0.5]
    assert one.final in [f["final"] for f in finals]
    mean = np.mean([f["final"]["test_loss"] for f in finals])
    assert rows[0]["test_loss_mean"] == pytest.approx(mean, rel=1e-12)
    with pytest.raises(ValueError, match="shard"):
        oocr.sweep(grid, tmp_path / "s2", shard="5/4")
    with pytest.raises(FileNotFoundError):
        oocr.sweep(tmp_path / "missing.toml", tmp_path / "s3")
