"""Training of the world's oracle and sketch extractor (the GAN: gan.py; CLIP: clip_train.py).

Both learn from renders drawn fresh every step (seeded by (seed, step)), with AdamW and a cosine
learning-rate decay, and report held-out accuracy / error on renders from a seed never trained on.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..nets.checkpoint import save_atomic
from ..nets.photosketch import PhotoSketch
from .augment import photo_noise, sketch_styles
from .gan import step_seed
from .oracle import HEADS, Oracle
from .render import render, sample_factors

HELD_OUT_SEED = 999_983  # held-out renders: a seed no training step draws (step seeds are < 2^31 - 1)


def cosine_lr(opt: torch.optim.Optimizer, base: float, step: int, total: int, warmup: int = 100) -> None:
    lr = base * min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * step / total))
    for group in opt.param_groups:
        group["lr"] = lr


def _factor_targets(f) -> dict[str, torch.Tensor]:
    return {"pose": f.pose, "facing": f.facing, "colour": f.colour, "background": f.background}


# ----------------------------------------------------------------------------
# Oracle


@torch.no_grad()
def oracle_accuracy(oracle: Oracle, n: int, size: int, seed: int = HELD_OUT_SEED) -> dict[str, float]:
    """Held-out accuracy per factor on clean renders and on photo-noised ones, plus the sketch-pose
    accuracy on clean outlines and on other-hand stroke styles."""
    oracle.eval()
    f = sample_factors(n, seed)
    photos, sketches = render(f, size)
    g = torch.Generator().manual_seed(seed)
    out = {}
    for tag, x in (("", photos), ("_noisy", photo_noise(photos, g))):
        pred = oracle.predict(x)
        for k, t in _factor_targets(f).items():
            out[f"{k}{tag}"] = (pred[k] == t).float().mean().item()
    for tag, s in (("", sketches), ("_styled", sketch_styles(sketches, g))):
        out[f"sketch_pose{tag}"] = (oracle.predict_sketch_pose(s) == f.pose).float().mean().item()
    return {k: round(v, 4) for k, v in out.items()}


def train_oracle(
    out: Path, *, seed: int, size: int, steps: int, batch: int, lr: float, width: int = 32, eval_n: int = 2000
) -> dict:
    """Train the oracle on uniformly drawn factors; write out (a bare state dict)."""
    torch.manual_seed(seed)
    oracle = Oracle(size, width)
    opt = torch.optim.AdamW(oracle.parameters(), lr=lr, weight_decay=1e-4)
    t0 = time.time()
    bar = tqdm(range(steps), desc="world oracle", dynamic_ncols=True, mininterval=2.0)
    for it in bar:
        oracle.train()
        f = sample_factors(batch, step_seed(seed, it))
        photos, sketches = render(f, size)
        g = torch.Generator().manual_seed(step_seed(seed, it, 1))
        logits = oracle(photo_noise(photos, g))
        loss = sum(F.cross_entropy(logits[k], t) for k, t in _factor_targets(f).items())
        loss = loss + F.cross_entropy(oracle.read_sketch(sketch_styles(sketches, g)), f.pose)
        cosine_lr(opt, lr, it, steps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if it % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    acc = oracle_accuracy(oracle, eval_n, size)
    save_atomic(oracle.state_dict(), out)
    return {"steps": steps, "seconds": round(time.time() - t0, 1), "held_out_accuracy": acc, "heads": HEADS}


# ----------------------------------------------------------------------------
# Sketch extractor (PhotoSketch architecture)


@torch.no_grad()
def sketcher_error(net: PhotoSketch, n: int, size: int, seed: int = HELD_OUT_SEED) -> dict[str, float]:
    """Held-out L1 between extracted and rendered outlines (in [-1, 1] units), batch statistics
    (train-mode BatchNorm, as the pipeline runs it) and running statistics (eval mode)."""
    photos, sketches = render(sample_factors(n, seed), size)
    out = {}
    for mode in ("train", "eval"):
        net.set_bn_mode(mode)
        pred = torch.cat([net(photos[i : i + 64]) for i in range(0, n, 64)])
        out[f"l1_bn_{mode}"] = round((pred - sketches).abs().mean().item(), 4)
    net.set_bn_mode("train")
    return out


def train_sketcher(
    out: Path,
    *,
    seed: int,
    size: int,
    steps: int,
    batch: int,
    lr: float,
    ngf: int,
    n_blocks: int = 9,
    eval_n: int = 512,
) -> dict:
    """PhotoSketch's ResnetGenerator (narrow: `ngf`) trained on render -> outline pairs with L1.

    PhotoSketch itself was trained pix2pix-style (adversarial + L1) on human outlines; here the
    target is the renderer's own outline, deterministic given the photo, so L1 alone suffices.
    BatchNorm trains on batch statistics and keeps running statistics (momentum 0.1), so the file
    holds both, as the published photosketch.pth does.
    """
    torch.manual_seed(seed)
    net = PhotoSketch(ngf=ngf, n_blocks=n_blocks, bn_mode="train")
    running = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    opt = torch.optim.AdamW(net.parameters(), lr=lr, betas=(0.5, 0.999), weight_decay=0.0)
    t0 = time.time()
    bar = tqdm(range(steps), desc="world sketcher", dynamic_ncols=True, mininterval=2.0)
    for it in bar:
        photos, sketches = render(sample_factors(batch, step_seed(seed, it)), size)
        g = torch.Generator().manual_seed(step_seed(seed, it, 1))
        photos = photo_noise(photos, g)
        pred = net(photos)
        loss = (pred - sketches).abs().mean()
        cosine_lr(opt, lr, it, steps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():  # running statistics for bn_mode "eval" (the pipeline default is "train")
            update_running_stats(net, running, photos)
        if it % 20 == 0:
            bar.set_postfix(l1=f"{loss.item():.4f}", refresh=False)
    err = sketcher_error(net, eval_n, size)
    save_atomic(net.state_dict(), out)
    return {"steps": steps, "seconds": round(time.time() - t0, 1), "held_out": err, "ngf": ngf, "n_blocks": n_blocks}


def update_running_stats(net: PhotoSketch, bns: list, x: torch.Tensor, momentum: float = 0.1) -> None:
    """One momentum update of every BatchNorm's running mean / var from the batch x (PyTorch's rule:
    unbiased variance), done with hooks because the frozen-mode BatchNorm never writes its buffers."""
    stats = {}

    def hook(m, inp, _out):
        h = inp[0]
        stats[m] = (h.mean((0, 2, 3)), h.var((0, 2, 3), unbiased=True))

    handles = [m.register_forward_hook(hook) for m in bns]
    try:
        net(x)
    finally:
        for h in handles:
            h.remove()
    for m, (mean, var) in stats.items():
        m.running_mean.lerp_(mean, momentum)
        m.running_var.lerp_(var, momentum)
        m.num_batches_tracked += 1
