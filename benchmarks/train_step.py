"""Fine-tune iterations per second for every method, peak GPU memory, and the FLOPs of one step.

Not a test. Random weights in the published architectures: StyleGAN2 at --size with
channel_base 32768 / channel_max 512, D_sketch + D_image, PhotoSketch (ngf 64, 9 blocks) as the
sketch extractor, and the full CLIP ViT-B/32 architecture (random weights are fine for timing).
Methods come from params.yaml (every block, or --methods). Direction steps of clip_direction
are included at their real cadence, so its figure is the average over a direction schedule.
One line per method, stable for grepping:

    train_step method=syog size=256 batch=4 device=cuda perf=on it_per_s=... s_per_it=... peak_mem_gib=... iters=...
    ratio method=clip_global vs=syog time_per_step_ratio=...
    flops method=syog size=256 batch=4 gflop_per_step=... achieved_tflop_s=...

`--perf on` applies train.perf's defaults (TF32, channels-last D, bf16 autocast; `--compile` adds
torch.compile) exactly as the finetune stage does; `--perf off` is plain float32, for the
before/after figure. Both on CUDA only (pipeline/perf.py).

Run on a GPU:  python benchmarks/train_step.py --device cuda --iters 200 --flops
               python benchmarks/train_step.py --device cuda --iters 200 --perf off
On this CPU:   python benchmarks/train_step.py --size 64 --channel-base 2048 --sketcher xdog --clip demo-tiny-clip --iters 8
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import pipeline  # noqa: E402,F401
from pipeline.config import load_params  # noqa: E402
from pipeline.methods import get_method  # noqa: E402
from pipeline.models import Nets, stylegan_config  # noqa: E402
from pipeline.nets.photosketch import PhotoSketch  # noqa: E402
from pipeline.nets.stylegan2 import Discriminator, Generator  # noqa: E402
from pipeline.nets.xdog import XDoG  # noqa: E402
from pipeline.perf import configure  # noqa: E402


class RandomData:
    """Sketches [B,1,S,S] and photos [B,3,S,S] in [-1, 1], already on the device (no I/O in the timing)."""

    def __init__(self, size, device, n=32):
        self.sk = (torch.rand(n, 1, size, size, device=device) > 0.1).float() * 2 - 1
        self.ph = torch.rand(n, 3, size, size, device=device) * 2 - 1

    def sketches(self, b):
        return self.sk[torch.randint(len(self.sk), (b,))]

    def photos(self, b):
        return self.ph[torch.randint(len(self.ph), (b,))]


def build(args, name, device):
    over = {
        "experiments.demo.size": args.size,
        "experiments.demo.train.perf.compile": args.compile,
        "experiments.demo.generator": {
            "style_dim": 512,
            "n_mlp": 8,
            "channel_base": args.channel_base,
            "channel_max": 512,
            "lr_mlp": 0.01,
        },
        "experiments.demo.train.batch": args.batch,
        "experiments.demo.clip": {"model": args.clip, "pretrained": None},
    }
    params = load_params(ROOT / "params.yaml", over)
    exp, cfg = params.experiment, params.method(name)
    torch.manual_seed(0)
    gcfg = stylegan_config(exp)
    sketcher = PhotoSketch() if args.sketcher == "photosketch" else XDoG()
    nets = Nets(
        Generator(gcfg).to(device),
        Discriminator(gcfg).to(device),
        Discriminator(gcfg).to(device),
        sketcher.requires_grad_(False).to(device),
        device,
    )
    method = get_method(cfg.method)(cfg, nets, exp)
    if args.perf == "on":
        nets.perf = configure(exp.train.perf, nets)  # after the method, as pipeline/train.py does
    return exp, cfg, method


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(args, name, device) -> dict:
    exp, cfg, method = build(args, name, device)
    data = RandomData(args.size, device)
    for it in range(args.warmup):
        method.step(it, data)
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    for it in range(args.iters):
        method.step(it, data)  # it from 0: R1 and direction steps at their real cadence
    sync(device)
    dt = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    return {"it_per_s": args.iters / dt, "s_per_it": dt / args.iters, "peak_mem_gib": peak}


def count_flops(args, name, device) -> float:
    """FLOPs of one iteration without R1 (torch.utils.flop_counter counts matmul/conv, forward+backward)."""
    from torch.utils.flop_counter import FlopCounterMode

    _, _, method = build(args, name, device)
    data = RandomData(args.size, device)
    with FlopCounterMode(display=False) as fc:
        method.step(1, data)  # it=1: no R1 (it % 16 != 0), no direction step
    return fc.get_total_flops()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--channel-base", type=int, default=32768)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--iters", type=int, default=100, help="timed iterations (default: %(default)s)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--methods", default="all", help="comma-separated params.yaml blocks, or all")
    ap.add_argument("--sketcher", default="photosketch", choices=["photosketch", "xdog"])
    ap.add_argument("--clip", default="ViT-B-32-quickgelu", help="open_clip architecture (random weights)")
    ap.add_argument("--flops", action="store_true", help="also count FLOPs of one baseline step")
    ap.add_argument("--perf", default="on", choices=["on", "off"], help="train.perf defaults (CUDA only)")
    ap.add_argument("--compile", action="store_true", help="with --perf on: torch.compile too")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    names = list(load_params(ROOT / "params.yaml").methods) if args.methods == "all" else args.methods.split(",")
    results = {}
    for name in names if args.iters > 0 else []:  # --iters 0: FLOP count only
        r = results[name] = bench(args, name, device)
        print(
            f"train_step method={name} size={args.size} batch={args.batch} device={device.type} perf={args.perf} "
            f"it_per_s={r['it_per_s']:.3f} s_per_it={r['s_per_it']:.4f} peak_mem_gib={r['peak_mem_gib']:.2f} "
            f"iters={args.iters}",
            flush=True,
        )
    base = results.get("syog")
    for name, r in results.items() if base else []:
        if name != "syog":  # goal: CLIP methods <= 1.5x the baseline's time per step
            print(f"ratio method={name} vs=syog time_per_step_ratio={r['s_per_it'] / base['s_per_it']:.2f}", flush=True)
    if args.flops:
        gflop = count_flops(args, "syog", device) / 1e9
        achieved = f"{gflop * base['it_per_s'] / 1e3:.2f}" if base else "nan"
        print(
            f"flops method=syog size={args.size} batch={args.batch} gflop_per_step={gflop:.1f} "
            f"achieved_tflop_s={achieved}",
            flush=True,
        )


if __name__ == "__main__":
    main()
