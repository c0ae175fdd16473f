"""Continue the committed world generator on another standing share, and read its poses as it goes.

Printed, never asserted; TOY-WORLD NUMBERS. Continues data/world/gan (G and G_ema from netG.pth, D
from netD.pth, fresh Adam; `train_stylegan(init=..., start_step=world.gan.iters)`, so the data
stream goes on where the committed run stopped) for --iters steps with --standing of the renders
standing, then optionally --mapping-only more steps at --then-standing with only the mapping network
trained (`mapping_only_from`). Every --every steps, G_ema's samples (fixed z) per pose:

    world_gan_continue step=28500 phase=all standing=0.233 in_domain=0.156 standing_in=0.094
        standing_fid=70 sitting=0.295 sitting_in=0.149 sitting_fid=35 lying=... lying_in=... lying_fid=...

standing / sitting / lying: the share of samples the oracle reads as that pose; *_in: the share of
those inside the world's image manifold (k-NN, k 3, against 2,000 renders; `in_domain`); *_fid: FID
in oracle features of those samples against 1,000 renders of the pose in natural colours. The
committed generator reads standing 0.089, standing_in 0.056, standing_fid 133 (1,000 samples).
docs/toy-world-measurements.md, "A pose-balanced continuation".

Run: .venv/bin/python benchmarks/world_gan_continue.py [--iters 2000] [--standing 0.3333]
         [--mapping-only 0] [--then-standing 0.07] [--mapping-lr 1] [--every 1000] [--samples 1000] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from pipeline.config import load_params  # noqa: E402
from pipeline.metrics.world import embed_all, fid_from_features, inside_manifold, reference_renders  # noqa: E402
from pipeline.nets.checkpoint import load_file  # noqa: E402
from pipeline.nets.stylegan2 import Generator  # noqa: E402
from pipeline.world.build import gan_config, pose_mix  # noqa: E402
from pipeline.world.data import load_oracle  # noqa: E402
from pipeline.world.gan import GanData, train_stylegan  # noqa: E402
from pipeline.world.render import NATURAL_COLOURS, POSES, render, sample_factors  # noqa: E402


class PoseReader:
    """Per-pose share, in-domain share and FID of a generator's samples (the oracle's readings)."""

    def __init__(self, world_dir: Path, size: int, n: int, seed: int):
        self.oracle = load_oracle(world_dir / "oracle" / "oracle.pth", size)
        self.world = embed_all(self.oracle, reference_renders("world", 2000, size, seed, "", "", {}))
        natural = {c: 1.0 for c in NATURAL_COLOURS}
        self.refs = {
            p: embed_all(self.oracle, render(sample_factors(1000, seed * 100 + 77 + i, pose={p: 1.0}, colour=natural), size)[0])
            for i, p in enumerate(POSES)
        }  # fmt: skip
        self.n, self.seed = n, seed

    @torch.no_grad()
    def read(self, G: Generator) -> dict:
        z = torch.randn(self.n, G.style_dim, generator=torch.Generator().manual_seed(self.seed + 123))
        img = torch.cat([G([z[i : i + 200]], randomize_noise=False)[0] for i in range(0, self.n, 200)]).clamp(-1, 1)
        pose = self.oracle.predict(img)["pose"]  # [n] index into POSES
        feats = embed_all(self.oracle, img)  # [n, 128]
        inside = inside_manifold(feats, self.world, 3)  # [n] bool
        row = {"in_domain": inside.float().mean().item()}
        for i, p in enumerate(POSES):
            m = pose == i
            row[p] = m.float().mean().item()
            row[f"{p}_in"] = (inside & m).float().sum().item() / max(1, int(m.sum()))
            row[f"{p}_fid"] = fid_from_features(feats[m], self.refs[p]) if m.sum() > 10 else float("nan")
        return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=2000, help="steps at --standing, all of G trained")
    ap.add_argument("--standing", type=float, default=1 / 3)
    ap.add_argument("--mapping-only", type=int, default=0, help="then this many steps training G's mapping only")
    ap.add_argument("--then-standing", type=float, default=0.07)
    ap.add_argument("--mapping-lr", type=float, default=1.0, help="G's lr times this in the mapping-only phase")
    ap.add_argument("--every", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None, help="keep G_ema every --every steps here (default: a temp folder)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    spec = load_params(ROOT / "params.yaml").world
    world_dir = ROOT / spec.out
    cfg, gs = gan_config(spec), spec.gan
    start, turn = gs.iters, gs.iters + args.iters
    end = turn + args.mapping_only
    reader = PoseReader(world_dir, spec.size, args.samples, spec.seed)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp)
        ck = out / "ck"
        G = Generator(cfg).eval()

        def report(step: int, phase: str, weights: dict) -> None:
            G.load_state_dict(weights)
            row = reader.read(G)
            cells = " ".join(f"{k}={v:.3f}" if not k.endswith("_fid") else f"{k}={v:.0f}" for k, v in row.items())
            print(f"world_gan_continue step={step} phase={phase} {cells}", flush=True)

        report(start, "committed", load_file(world_dir / "gan" / "netG.pth"))
        kw = dict(
            seed=spec.seed, batch=gs.batch, lr=gs.lr, r1_gamma=gs.r1_gamma, d_reg_every=gs.d_reg_every,
            mixing=gs.mixing, ema_kimg=gs.ema_kimg, ckpt_every=args.every, sample_every=0,
            init=(world_dir / "gan" / "netG.pth", world_dir / "gan" / "netD.pth"), start_step=start,
            mapping_only_from=turn if args.mapping_only else None, mapping_lr_mult=args.mapping_lr,
        )  # fmt: skip
        mixes = {False: GanData(**pose_mix(args.standing)), True: GanData(**pose_mix(args.then_standing))}
        step = start
        while step < end:
            train_stylegan(cfg, lambda s: mixes[s >= turn], out / "final", ck, iters=end, stop_after=args.every, **kw)
            step = max(int(p.stem.split("_")[1]) for p in ck.glob("gan_*.pt"))
            state = load_file(ck / f"gan_{step:07d}.pt")
            if args.out:
                torch.save(state["G_ema"], out / f"G_ema_{step:07d}.pth")
            report(step, "all" if step <= turn else "mapping", state["G_ema"])


if __name__ == "__main__":
    main()
