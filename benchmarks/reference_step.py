"""Side by side, one command: the reference training step and ours, same GPU, same configuration.

The reference is Sketch Your Own GAN's own trainer (GANSketching `GANTrainer.train_one_step`:
rosinality's StyleGAN2 with its nvcc-compiled fused_bias_act / upfirdn2d kernels). Its code is
never committed here; keep a checkout in the git-ignored third_party/ folder:

    git clone https://github.com/PeterWang512/GANSketching third_party/GANSketching

Importing it compiles the CUDA kernels (torch.utils.cpp_extension: needs nvcc and ninja; the
first run takes a minute or two, later runs use the build cache).

Configuration, both sides (GANSketching scripts/train_teaser_cat.sh): 256 px, channel multiplier 2
(= channel_base 32768), batch 4, l_image 0.7, DiffAugment translation, lazy R1 every 16 steps with
gamma 10, mixing 0.9, PhotoSketch as the sketch extractor, mapping-network-only updates. Both start
from the same random weights, saved in the published formats and loaded by each side's own code.
Iterations are counted from 0 on both sides, so R1 falls on the same steps. Output:

    reference_step impl=reference device=cuda it_per_s=... s_per_it=... iters=...
    reference_step impl=ours perf=on device=cuda it_per_s=... s_per_it=... iters=...
    reference_step ratio ours_over_reference=...

Run:  python benchmarks/reference_step.py --device cuda --iters 200
      python benchmarks/reference_step.py --device cuda --iters 200 --perf off   (ours in float32)
--cpu-ops swaps the reference's compiled ops for our plain-torch ones so that the harness runs on a
CPU-only machine; that checks the wiring only and is labelled so (no reference figure comes from it).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import torch  # noqa: E402
from train_step import RandomData, build, sync  # noqa: E402

import pipeline  # noqa: E402,F401


def plain_torch_ops() -> types.ModuleType:
    """Stand-in for the reference's `training.networks.op` (CPU wiring check only)."""
    from torch import nn

    from pipeline.nets import ops

    class FusedLeakyReLU(nn.Module):
        def __init__(self, channel, bias=True, negative_slope=0.2, scale=2**0.5):
            super().__init__()
            self.bias = nn.Parameter(torch.zeros(channel)) if bias else None
            self.negative_slope, self.scale = negative_slope, scale

        def forward(self, x):
            return ops.fused_leaky_relu(x, self.bias, self.negative_slope, self.scale)

    def fused_leaky_relu(x, bias=None, negative_slope=0.2, scale=2**0.5):
        return ops.fused_leaky_relu(x, bias, negative_slope, scale)

    def upfirdn2d(x, kernel, up=1, down=1, pad=(0, 0)):
        return ops.upfirdn2d(x, kernel, up=up, down=down, pad=pad)

    mod = types.ModuleType("training.networks.op")
    mod.FusedLeakyReLU, mod.fused_leaky_relu, mod.upfirdn2d = FusedLeakyReLU, fused_leaky_relu, upfirdn2d
    return mod


def reference_trainer(ref: Path, weights: Path, args):
    """GANSketching's GANTrainer, built by its own option parser and code."""
    if not (ref / "training" / "gan_trainer.py").is_file():
        sys.exit(
            f"error: no GANSketching checkout at {ref} (expected training/gan_trainer.py); clone it with\n"
            f"  git clone https://github.com/PeterWang512/GANSketching {ref}"
        )
    sys.path.insert(0, str(ref))
    try:
        import cv2  # noqa: F401  (its util/util.py imports OpenCV for image saving only)
    except ImportError:
        sys.modules["cv2"] = types.ModuleType("cv2")  # nothing in a training step calls it
    if args.cpu_ops:
        sys.modules["training.networks.op"] = plain_torch_ops()
    from options import get_opt
    from training.gan_trainer import GANTrainer

    argv = [
        "train.py",
        "--name",
        "bench",
        "--batch",
        str(args.batch),
        "--size",
        str(args.size),
        "--dataroot_sketch",
        "unused",
        "--dataroot_image",
        "unused",
        "--l_image",
        "0.7",
        "--g_pretrained",
        str(weights / "netG.pth"),
        "--d_pretrained",
        str(weights / "netD.pth"),
        "--photosketch_path",
        str(weights / "photosketch.pth"),
        "--diffaug_policy",
        "translation",
        "--disable_eval",
        "--no_wandb",
        "--reduce_visuals",
        "--checkpoints_dir",
        str(weights / "ckpt"),
    ]
    if args.device == "cpu":
        argv.append("--use_cpu")
    saved, sys.argv = sys.argv, argv
    try:
        opt, _ = get_opt()
    finally:
        sys.argv = saved
    opt.isTrain = True
    cwd = os.getcwd()
    os.chdir(weights)  # it writes ./cache_files/ (its fixed visualisation noise)
    try:
        return GANTrainer(opt)
    finally:
        os.chdir(cwd)


def time_loop(step, iters, warmup, device) -> float:
    for it in range(warmup):
        step(it)
    sync(device)
    t0 = time.perf_counter()
    for it in range(iters):
        step(it)
    sync(device)
    return (time.perf_counter() - t0) / iters


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", type=Path, default=ROOT / "third_party" / "GANSketching")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--perf", default="on", choices=["on", "off"], help="ours: train.perf defaults or float32")
    ap.add_argument("--cpu-ops", action="store_true", help="CPU wiring check: our ops inside the reference")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cpu" and not args.cpu_ops:
        sys.exit("error: the reference's kernels are CUDA-only; use --device cuda, or --cpu-ops for a wiring check")

    # ours: the same builder and random data as benchmarks/train_step.py, channel_base 32768, PhotoSketch
    ours_args = argparse.Namespace(
        size=args.size,
        channel_base=32768,
        batch=args.batch,
        sketcher="photosketch",
        clip="demo-tiny-clip",
        perf=args.perf,
        compile=False,
    )
    exp, cfg, method = build(ours_args, "syog", device)
    data = RandomData(args.size, device)

    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp)
        torch.save(method.nets.G.state_dict(), weights / "netG.pth")  # published formats
        torch.save(method.nets.D_sketch.state_dict(), weights / "netD.pth")
        torch.save(method.nets.sketcher.state_dict(), weights / "photosketch.pth")
        trainer = reference_trainer(args.reference.resolve(), weights, args)
        sk, ph = data.sk.cpu(), data.ph.cpu()  # its loader hands CPU batches; it moves them itself

        def ref_step(it):
            idx = torch.randint(len(sk), (args.batch,))
            trainer.train_one_step({"sketch": sk[idx].clone(), "image": ph[idx].clone()}, it)  # noqa: F821

        s_ref = time_loop(ref_step, args.iters, args.warmup, device)
        del trainer
        if device.type == "cuda":
            torch.cuda.empty_cache()
    s_ours = time_loop(lambda it: method.step(it, data), args.iters, args.warmup, device)

    tag = " WIRING-CHECK-ONLY(cpu-ops)" if args.cpu_ops else ""
    print(
        f"reference_step impl=reference device={device.type} it_per_s={1 / s_ref:.3f} s_per_it={s_ref:.4f} "
        f"iters={args.iters}{tag}",
        flush=True,
    )
    print(
        f"reference_step impl=ours perf={args.perf} device={device.type} it_per_s={1 / s_ours:.3f} "
        f"s_per_it={s_ours:.4f} iters={args.iters}{tag}",
        flush=True,
    )
    print(f"reference_step ratio ours_over_reference={s_ref / s_ours:.2f}{tag}", flush=True)


if __name__ == "__main__":
    main()
