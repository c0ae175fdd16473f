"""Generator forward + backward time: the cost of one training step's generator pass.

Not a test. Random weights, published architecture (channel_base 32768, channel_max 512,
style_dim 512, n_mlp 8). Each rep: z -> G(z) -> image.square().mean().backward(); the median over
reps is reported after warm-up. One line per device, stable for grepping:

    generator_fwd_bwd size=256 batch=4 device=cpu median_s=... min_s=... reps=... params=...

Run: .venv/bin/python benchmarks/nets.py [--size 256] [--batch 4] [--reps 5] [--device all|cpu|cuda]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

import pipeline  # noqa: E402,F401  (torchvision shim first, as everywhere)
from pipeline.nets.stylegan2 import Generator, StyleGAN2Config  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # CUDA calls are asynchronous; time the work, not the launch


def bench_generator(size: int, batch: int, reps: int, warmup: int, device: torch.device) -> dict:
    torch.manual_seed(0)
    G = Generator(StyleGAN2Config(size=size)).to(device)
    z = torch.randn(batch, G.style_dim, device=device)

    def step():
        G.zero_grad(set_to_none=True)
        img, _ = G([z])  # [batch, 3, size, size]
        img.square().mean().backward()

    for _ in range(warmup):  # allocator, cuDNN autotuning, lazy init
        step()
    _sync(device)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(times), "min_s": min(times), "params": sum(p.numel() for p in G.parameters())}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256, help="output resolution (default: %(default)s)")
    ap.add_argument("--batch", type=int, default=4, help="batch size (default: %(default)s)")
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions (default: %(default)s)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed warm-up steps (default: %(default)s)")
    ap.add_argument(
        "--device",
        default="all",
        help="cpu, cuda, cuda:N, or all = cpu plus cuda when available (default: %(default)s)",
    )
    args = ap.parse_args(argv)

    if args.device == "all":
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    else:
        devices = [args.device]
    for name in devices:
        device = torch.device(name)
        r = bench_generator(args.size, args.batch, args.reps, args.warmup, device)
        extra = (
            f" gpu={torch.cuda.get_device_name(device)!r}"
            if device.type == "cuda"
            else f" threads={torch.get_num_threads()}"
        )
        print(
            f"generator_fwd_bwd size={args.size} batch={args.batch} device={device.type} "
            f"median_s={r['median_s']:.4f} min_s={r['min_s']:.4f} reps={args.reps} "
            f"params={r['params']}{extra}",
            flush=True,
        )


if __name__ == "__main__":
    main()
