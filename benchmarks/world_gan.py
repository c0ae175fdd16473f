"""The toy world's GAN training: iterations per second of the real loop, and what a retrain costs.

Printed, never asserted. Runs `pipeline.world.gan.train_stylegan` (D step, lazy R1, G step, EMA) on
the world's training distribution for a few iterations after a warm-up, per generator width, and
projects the committed schedule (`world.gan.iters`) from the measured rate:

    world_gan device=cuda channel_base=1024 channel_max=64 batch=32 G=0.36M it_per_s=... images_per_s=...
        iters_26500_min=...

Run: .venv/bin/python benchmarks/world_gan.py [--device cpu|cuda] [--iters 20] [--widths 1024/64 2048/128]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from pipeline.config import load_params  # noqa: E402
from pipeline.models import resolve_device  # noqa: E402
from pipeline.nets.stylegan2 import Generator  # noqa: E402
from pipeline.world.build import gan_config, gan_distribution  # noqa: E402
from pipeline.world.gan import GanData, train_stylegan  # noqa: E402


def rate(cfg, spec, device, batch: int, warm: int, iters: int) -> float:
    """Iterations per second over `iters` steps that follow `warm` steps (a resumed run, as the stage's)."""
    g = spec.gan
    data = GanData(**gan_distribution(spec))
    with tempfile.TemporaryDirectory() as tmp:
        kw = dict(
            seed=spec.seed,
            iters=warm + iters,
            batch=batch,
            lr=g.lr,
            r1_gamma=g.r1_gamma,
            d_reg_every=g.d_reg_every,
            mixing=g.mixing,
            ema_kimg=g.ema_kimg,
            ckpt_every=10**9,  # only the checkpoint written where the warm-up stops, which the timed run resumes
            sample_every=0,
            device=device,
        )
        train_stylegan(cfg, data, Path(tmp), Path(tmp) / "ck", stop_after=warm, **kw)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        train_stylegan(cfg, data, Path(tmp), Path(tmp) / "ck", stop_after=iters, **kw)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return iters / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    ap.add_argument("--iters", type=int, default=20, help="timed iterations per configuration")
    ap.add_argument("--warm", type=int, default=5)
    ap.add_argument("--batches", type=int, nargs="+", default=[32])
    ap.add_argument("--widths", nargs="+", default=["1024/64", "2048/128"], help="channel_base/channel_max")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    spec = load_params(ROOT / "params.yaml").world
    device = resolve_device(a.device, "--device")
    for width in a.widths:
        base, cmax = (int(v) for v in width.split("/"))
        cfg = dataclasses.replace(gan_config(spec), channel_base=base, channel_max=cmax)
        n_g = sum(p.numel() for p in Generator(cfg).parameters()) / 1e6
        for batch in a.batches:
            r = rate(cfg, spec, device, batch, a.warm, a.iters)
            print(
                f"world_gan device={device.type} channel_base={base} channel_max={cmax} batch={batch} G={n_g:.2f}M "
                f"it_per_s={r:.2f} images_per_s={r * batch:.0f} iters_{spec.gan.iters}_min={spec.gan.iters / r / 60:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
