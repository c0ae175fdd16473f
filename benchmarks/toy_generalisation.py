"""Beyond the defaults, in the toy world (issue 13): sketches by another hand, other prompt colours.

    python benchmarks/toy_generalisation.py [--seeds 0] [--jobs 2] [--out data/toy_generalisation]
        [--cases other_hand renderer prompt] [--set KEY=VALUE ...]

`--set` edits params.yaml for every case, as `dvc exp run -S` does (the value is read as YAML), e.g.
the W-prior configuration on the continued generator (docs/toy-world-measurements.md):
    --set experiments.toy.assets.world_gan=gan_continued --set methods.syog.l_wprior=100 \
    --set methods.syog.select=final --set methods.syog.g_lr_decay=0.5 \
    --set experiments.toy.method_overrides.syog.iters=800 --out data/toy_generalisation_wprior

- `syog` with the sketches of tests/fixtures/other_hand (drawn with a paint program's strokes, not by
  the renderer; 6 per pose), given with `assets.sketch_dir`, one run per pose: the target pose is
  what the oracle reads from them, and pose_acc should move from the pretrained generator's share of
  that pose toward 1.
- `syog` with the renderer's sitting and lying sketches (`toy_data.sketch_pose`), for comparison: the
  same poses in the style of the default sketches, so a row that moves here and not with the other
  hand's sketches points at their stroke or shape, not at the pose (docs/toy-world-measurements.md).
- `clip_global` with the default sketches and prompts naming other palette colours than the
  default's pink: colour_acc should move from about 0 toward 1.

Each run is a chain of the sweep machinery (fine-tune -> sample -> evaluate, one torch thread,
finished chains skipped on a re-run); the pretrained generator is measured against the same targets.
Prints one table, before and after, with `in_domain` (the share of samples that are cats of this world)
and `pose_acc_in_domain` (in the domain and of the target pose). TOY-WORLD NUMBERS.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OTHER_HAND = ROOT / "tests" / "fixtures" / "other_hand"
POSES = ("standing", "sitting", "lying")
COLOURS = ("blue", "green", "purple")
# in_domain: whether a sample is a cat of this world at all (k-NN precision against its renders); the oracle
# reads a pose from anything, so a pose_acc of samples outside the domain says little (README "The toy world")
# pose_acc_fit: of the target pose *and* close to a render in pixels (what a person sees as a clean cat)
METRICS = [
    "pose_acc",
    "colour_acc",
    "joint_acc",
    "fid_target",
    "fid_prior",
    "in_domain",
    "pose_acc_in_domain",
    "render_fit",
    "pose_acc_fit",
    "diversity",
]
CASES = ("other_hand", "renderer", "prompt")


def run_one(chain, sweeps_dir: str, prepared: str, cache_dir: str) -> tuple[str, float]:
    os.environ["OMP_NUM_THREADS"] = "1"
    from pipeline.sweep import run_chain

    t0 = time.time()
    r = run_chain(chain, Path(sweeps_dir), Path(prepared), Path(cache_dir))
    return f"{chain.label}: {r['status']}", time.time() - t0


def pretrained_metrics(exp, prepared: Path, out: Path, cache: Path) -> dict:
    """The unmodified generator against this experiment's targets (pose from prepared, colour from the prompt)."""
    import torch

    from pipeline.evaluate import evaluate
    from pipeline.sample import sample_method

    torch.manual_seed(exp.seed)
    if not (out / "images").is_dir():
        sample_method(exp, None, prepared / "pretrained", prepared / "fixed_inputs.pt", out)
    values, _ = evaluate(exp, None, out, prepared, cache)
    return values


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--jobs", type=int, default=2, help="chains at once, one torch thread each")
    ap.add_argument("--iters", type=int, default=None, help="fine-tune iterations (default: the experiment's)")
    ap.add_argument("--out", default=str(ROOT / "data" / "toy_generalisation"))
    ap.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES), help="which groups of runs")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a params.yaml edit (YAML value)")
    args = ap.parse_args()

    from deviations_toy import parse_set

    import pipeline  # noqa: F401  (torchvision shim)
    from pipeline.config import load_params
    from pipeline.fingerprint import inputs_digest
    from pipeline.prepare import prepare
    from pipeline.sweep import resolve, summarize

    out = Path(args.out)
    base = {"experiment": "toy", "experiments.toy.eval.metrics": METRICS}
    if args.iters:
        base["experiments.toy.train.iters"] = args.iters
    base.update(parse_set(args.set))  # benchmarks/deviations_toy.py's: `dvc exp run -S`'s syntax

    # (label, target prompt, experiment, method block, prepared folder)
    cases = []
    for pose in POSES if "other_hand" in args.cases else ():
        sketches = out / f"sketches_{pose}"
        if not sketches.is_dir():
            sketches.mkdir(parents=True)
            for f in sorted(OTHER_HAND.glob(f"{pose}_*.png")):
                shutil.copy(f, sketches / f.name)
        params = load_params(ROOT / "params.yaml", {**base, "experiments.toy.assets.sketch_dir": str(sketches)})
        cases.append((f"other hand, {pose}", None, params, "syog", out / f"prepared_{pose}"))
    # the same poses in the default sketches' style (the renderer's, through the sketcher)
    for pose in POSES[1:] if "renderer" in args.cases else ():
        params = load_params(ROOT / "params.yaml", {**base, "experiments.toy.toy_data.sketch_pose": pose})
        cases.append((f"renderer, {pose}", None, params, "syog", out / f"prepared_renderer_{pose}"))
    params = load_params(ROOT / "params.yaml", base)
    for colour in COLOURS if "prompt" in args.cases else ():
        cases.append((f"prompt {colour}", f"a photo of a {colour} cat", params, "clip_global", out / "prepared"))

    todo, rows = [], []
    for label, prompt, params, block, prepared in cases:
        exp = params.experiment
        if not (prepared / "world.json").exists():
            print(f"preparing {prepared}", flush=True)
            prepare(exp, out / "raw", prepared)
        inputs = inputs_digest(prepared)
        for seed in args.seeds:
            chain = resolve(exp, block, params.method(block), prompt, seed, 1, inputs)
            todo.append((label, chain, prepared))
    t0 = time.time()
    print(f"{len(todo)} chains, {args.jobs} at once", flush=True)
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futs = [pool.submit(run_one, c, str(out / "chains"), str(p), str(out / "cache")) for _, c, p in todo]
        for f in futs:
            label, dt = f.result()
            print(f"  {label} ({dt:.0f} s)", flush=True)

    import json

    lines = [
        "| case | target | pretrained pose / colour / in_domain / pose_acc_fit | after pose / colour / joint "
        "| after in_domain / pose_acc_in_domain | after render_fit / pose_acc_fit / diversity |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for label, _prompt, _params, block, prepared in cases:
        chains = [c for lab, c, _ in todo if lab == label]
        exp = dataclasses.replace(chains[0].experiment, target_prompt=chains[0].prompt)
        pre = pretrained_metrics(
            exp, prepared, out / "pretrained" / label.replace(" ", "_").replace(",", ""), out / "cache"
        )
        after = summarize(chains, out / "chains")[0]["metrics"]
        target = json.loads((prepared / "world.json").read_text())["target_pose"]
        colour = chains[0].prompt
        cell = {m: f"{after[m]['mean']:.3f}" if m in after else "–" for m in METRICS}
        lines.append(
            f'| {label} ({block}) | {target}, "{colour}" '
            f"| {pre['pose_acc']:.3f} / {pre['colour_acc']:.3f} / {pre['in_domain']:.3f} / {pre['pose_acc_fit']:.3f} "
            f"| {cell['pose_acc']} / {cell['colour_acc']} / {cell['joint_acc']} "
            f"| {cell['in_domain']} / {cell['pose_acc_in_domain']} "
            f"| {cell['render_fit']} / {cell['pose_acc_fit']} / {cell['diversity']} |"
        )
        rows.append(
            {"case": label, "block": block, "target_pose": target, "prompt": colour, "pretrained": pre, "after": after}
        )
    print("TOY-WORLD NUMBERS, seeds", args.seeds)
    print("\n".join(lines))
    print(f"wall time {time.time() - t0:.0f} s")
    (out / "table.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
