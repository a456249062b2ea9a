#!/usr/bin/env python3
"""Runs the authors' released code (yixiao-huang/OCR-Theory) on the CPU, unchanged but for two
things: `.cuda()` becomes `.to(device)` and `wandb` is a stub that records nothing. Then it
evaluates the trained model on freshly sampled sequences the way `oocr` does with
`train.eval = "fresh"`, and writes one JSON line of results.

The authors' code is not part of this repository. Get it with
    git clone https://github.com/yixiao-huang/OCR-Theory   (files read at commit 64078c0)
and point --ref at the checkout. Requires torch (CPU), einops, tyro, jaxtyping, typeguard, bidict,
tqdm, matplotlib, numpy. Nothing here is needed by the build or the tests of oocr.

The flags of each run are read from the authors' shell scripts (scripts/train_attn1_1heads.sh for
`main`, scripts/sweep_rank_attn1_1heads.sh for `sweep`), then --seed, --device cpu, --save_path,
and (sweep) --dim_r are set; --steps overrides --num_steps (say so when you report it).

Usage:
  python3 scripts/authors/run_reference.py --ref OCR-Theory --script main --seed 0 --out ref.jsonl
  python3 scripts/authors/run_reference.py --ref OCR-Theory --script sweep --rank 4 --seed 1 \
      --steps 5000 --out ref.jsonl

Evaluation (after the last step, with Python's `random` reseeded to 1_000_003 + seed so training
is untouched): --eval-size sequences per block from the authors' own `get_batch` (train facts,
train implications, test facts, test implications); loss = their criterion −log(p + 1e-8);
accuracy = the true answer ranks strictly first among the answer tokens (cities and animals),
as oocr's `test_accuracy`. train_loss = the mean of the three trained blocks' losses (each block
is a third of every training batch).
"""
import argparse
import json
import os
import random
import re
import shlex
import sys
import tempfile
import time
import types


def script_flags(path):
    """The `--flag value` arguments of the train.py call in an authors' shell script."""
    text = open(path).read()
    env = {}
    for name, expr in re.findall(r"^(\w+)=(\S+)$", text, re.M):
        expr = expr.strip("'\"")
        m = re.fullmatch(r"\$\(\((\d+)\*(\d+)\*\*(\d+)\)\)", expr)
        env[name] = str(int(m[1]) * int(m[2]) ** int(m[3])) if m else expr
    call = text[text.index("train.py") + len("train.py"):]
    call = call.split("&>")[0].replace("\\\n", " ")
    call = call.splitlines()[0] if "\n" in call.strip() else call
    argv = []
    for tok in shlex.split(call):
        tok = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m[1], m[0]), tok)
        argv.append(tok)
    return argv


def set_flag(argv, flag, value):
    """Sets `--flag value` in argv (replacing an existing value)."""
    if flag in argv:
        argv[argv.index(flag) + 1] = str(value)
    else:
        argv += [flag, str(value)]


def stub_wandb():
    wandb = types.ModuleType("wandb")
    wandb.init = lambda *a, **k: None
    wandb.log = lambda *a, **k: None
    wandb.Image = lambda *a, **k: None
    sys.modules["wandb"] = wandb


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref", required=True, help="checkout of yixiao-huang/OCR-Theory")
    ap.add_argument("--script", choices=["main", "sweep"], required=True)
    ap.add_argument("--rank", type=int, help="--dim_r of the sweep (3, 4, 8, ..., 128)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, help="override the script's --num_steps")
    ap.add_argument("--reparameterize-ov", choices=["yes", "no"],
                    help="override the script's --reparameterize_ov (merged W_OV: yes)")
    ap.add_argument("--eval-size", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", required=True, help="JSON lines file to append the result to")
    a = ap.parse_args()
    if a.script == "sweep" and a.rank is None:
        ap.error("--script sweep needs --rank")

    import torch
    torch.set_num_threads(a.threads)
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("TQDM_DISABLE", "1")
    stub_wandb()

    sh = {"main": "train_attn1_1heads.sh", "sweep": "sweep_rank_attn1_1heads.sh"}[a.script]
    argv = script_flags(os.path.join(a.ref, "scripts", sh))
    set_flag(argv, "--seed", a.seed)
    set_flag(argv, "--device", "cpu")
    if a.rank is not None:
        set_flag(argv, "--dim_r", a.rank)
    if a.steps is not None:
        set_flag(argv, "--num_steps", a.steps)
    if a.reparameterize_ov is not None:
        for f in ("--reparameterize_ov", "--no-reparameterize_ov"):
            if f in argv:
                argv.remove(f)
        argv.append("--reparameterize_ov" if a.reparameterize_ov == "yes" else "--no-reparameterize_ov")
    save = tempfile.mkdtemp(prefix="ocr-theory-")
    set_flag(argv, "--save_path", save + "/")

    src = os.path.join(a.ref, "src")
    sys.path.insert(0, src)
    import base_nonlinear
    import data_utils

    # Keep a handle on the model and the task the script builds (no change to what they do).
    made = {}

    def recording(cls, key):
        init = cls.__init__

        def wrapped(self, *args, **kw):
            init(self, *args, **kw)
            made[key] = self

        cls.__init__ = wrapped

    recording(base_nonlinear.TF, "model")
    recording(data_utils.ImplicitReasoningTask, "task")

    code = open(os.path.join(src, "train.py")).read()
    assert ".cuda()" in code
    code = code.replace(".cuda()", ".to(device)")
    sys.argv = ["train.py"] + argv
    print("running:", " ".join(shlex.quote(x) for x in sys.argv), file=sys.stderr)
    t0 = time.time()
    exec(compile(code, os.path.join(src, "train.py"), "exec"), {"__name__": "__main__"})
    wall = time.time() - t0

    model, task = made["model"], made["task"]
    model.eval()
    random.seed(1_000_003 + a.seed)
    answers = set(task.city_list) | set(task.animal_list)
    ans_idx = torch.tensor(sorted(answers))
    seq_len = int(argv[argv.index("--seq_len") + 1])
    res = {}
    for name, get_train, kind in [
        ("train_facts", True, "fact"),
        ("train_implications", True, "impl"),
        ("test_facts", False, "fact"),
        ("test_implications", False, "impl"),
    ]:
        X, y = task.get_batch(a.eval_size, seq_len, get_train=get_train, task=kind)
        with torch.no_grad():
            p = model(X)
        py = p[torch.arange(len(y)), y]
        loss = (-torch.log(py + 1e-8)).mean().item()
        pa = p[:, ans_idx]
        strictly_first = (pa > py[:, None]).sum(1) == 0
        ties = (pa == py[:, None]).sum(1) == 1
        acc = (strictly_first & ties).float().mean().item()
        res[name] = {"loss": loss, "accuracy": acc}
    logged = json.load(open(os.path.join(save, os.listdir(save)[0], "loss.json")))
    out = {
        "side": "authors",
        "script": a.script,
        "rank": a.rank,
        "reparameterize_ov": "--reparameterize_ov" in argv,
        "seed": a.seed,
        "steps": int(argv[argv.index("--num_steps") + 1]),
        "eval_size": a.eval_size,
        "train_loss": sum(res[b]["loss"] for b in ("train_facts", "train_implications", "test_facts")) / 3,
        "test_loss": res["test_implications"]["loss"],
        "test_accuracy": res["test_implications"]["accuracy"],
        "blocks": res,
        "last_logged": logged[-1] if logged else None,
        "wall_s": wall,
        "argv": argv,
    }
    with open(a.out, "a") as f:
        f.write(json.dumps(out) + "\n")
    print(json.dumps({k: out[k] for k in ("script", "rank", "seed", "steps", "train_loss", "test_loss",
                                          "test_accuracy", "wall_s")}))


if __name__ == "__main__":
    main()
