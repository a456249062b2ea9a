#!/usr/bin/env python3
"""PyTorch CPU peer of `oocr llm bench`: the same Llama architecture, the same batches, the same
loss (cross-entropy on the answer tokens only), AdamW, full fine-tuning or LoRA; prints tokens/s.

Usage:
  oocr llm bench --model M.gguf --out bench.json [--lora 8]   # writes config + the timed batches
  python3 scripts/torch_peer.py bench.json [--threads 2]

Weights are random (throughput does not depend on their values). Requires torch (CPU is enough).
"""
import argparse, json, math, time
import torch
import torch.nn as nn
import torch.nn.functional as F


class LoraLinear(nn.Module):
    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        self.base = base
        self.base.weight.requires_grad_(False)
        self.a = nn.Parameter(torch.empty(rank, base.in_features).uniform_(-1, 1) / math.sqrt(base.in_features))
        self.b = nn.Parameter(torch.zeros(base.out_features, rank))
        self.scale = alpha / rank

    def forward(self, x):
        return self.base(x) + (x @ self.a.t() @ self.b.t()) * self.scale


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.w = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], -1)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        h, hd = c["hidden_size"], c["head_dim"]
        self.nh, self.nkv, self.hd = c["num_heads"], c["num_kv_heads"], hd
        self.n1, self.n2 = RMSNorm(h, c["rms_norm_eps"]), RMSNorm(h, c["rms_norm_eps"])
        self.q = nn.Linear(h, self.nh * hd, bias=c["qkv_bias"])
        self.k = nn.Linear(h, self.nkv * hd, bias=c["qkv_bias"])
        self.v = nn.Linear(h, self.nkv * hd, bias=c["qkv_bias"])
        self.o = nn.Linear(self.nh * hd, h, bias=False)
        self.gate = nn.Linear(h, c["intermediate_size"], bias=False)
        self.up = nn.Linear(h, c["intermediate_size"], bias=False)
        self.down = nn.Linear(c["intermediate_size"], h, bias=False)

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        h = self.n1(x)
        q = self.q(h).view(b, t, self.nh, self.hd).transpose(1, 2)
        k = self.k(h).view(b, t, self.nkv, self.hd).transpose(1, 2)
        v = self.v(h).view(b, t, self.nkv, self.hd).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        rep = self.nh // self.nkv
        k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.o(a.transpose(1, 2).reshape(b, t, -1))
        h = self.n2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embed = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.blocks = nn.ModuleList(Block(c) for _ in range(c["num_layers"]))
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        hd = c["head_dim"]
        self.register_buffer("inv_freq", 1.0 / c["rope_theta"] ** (torch.arange(0, hd, 2).float() / hd))

    def forward(self, ids, rows):
        b, t = ids.shape
        f = torch.arange(t).float()[:, None] * self.inv_freq[None]
        emb = torch.cat([f, f], -1)
        cos, sin = emb.cos()[None, None], emb.sin()[None, None]
        x = self.embed(ids)
        for blk in self.blocks:
            x = blk(x, cos, sin)
        h = self.norm(x).reshape(b * t, -1)[rows]
        return h @ self.embed.weight.t()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bench_json")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lr", type=float, default=1e-5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    spec = json.load(open(args.bench_json))
    c = spec["config"]
    model = Llama(c)
    for p in model.parameters():
        if p.dim() > 1:
            nn.init.normal_(p, std=0.02)
    lora = spec.get("lora")
    if isinstance(lora, dict) and "lora" in lora:
        cfg = lora["lora"]
        for p in model.parameters():
            p.requires_grad_(False)
        targets = {"q_proj": "q", "k_proj": "k", "v_proj": "v", "o_proj": "o",
                   "gate_proj": "gate", "up_proj": "up", "down_proj": "down"}
        for blk in model.blocks:
            for t in cfg["targets"]:
                name = targets[t]
                setattr(blk, name, LoraLinear(getattr(blk, name), cfg["rank"], cfg["alpha"]))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    batches = []
    for b in spec["batches"]:
        t = max(len(e["prompt"]) + len(e["answer"]) for e in b)
        ids = torch.zeros(len(b), t, dtype=torch.long)
        rows, targets, n_tok = [], [], 0
        for i, e in enumerate(b):
            seq = e["prompt"] + e["answer"]
            n_tok += len(seq)
            ids[i, : len(seq)] = torch.tensor(seq)
            for j, a in enumerate(e["answer"]):
                rows.append(i * t + len(e["prompt"]) + j - 1)
                targets.append(a)
        batches.append((ids, torch.tensor(rows), torch.tensor(targets), n_tok))

    def step(ids, rows, targets):
        logits = model(ids, rows)
        loss = F.cross_entropy(logits, targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item()

    for ids, rows, targets, _ in batches[: spec.get("warmup_steps", 2)]:
        step(ids, rows, targets)
    start = time.perf_counter()
    tokens = 0
    for ids, rows, targets, n in batches:
        step(ids, rows, targets)
        tokens += n
    secs = time.perf_counter() - start
    out = {"peer": f"pytorch {torch.__version__}", "threads": torch.get_num_threads(),
           "method": spec["method"], "trainable_params": sum(p.numel() for p in params),
           "steps": len(batches), "tokens": tokens, "seconds": secs,
           "ms_per_step": 1e3 * secs / len(batches), "tokens_per_s": tokens / secs}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
