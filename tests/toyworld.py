"""Helpers for tests in the toy world: the committed networks (data/world), library calls only.

exp, params = toy_params(**overrides)            # the toy experiment, reduced
prepared = prepare_toy(tmp, exp)                 # its prepared folder (renders, oracle reading)
metrics = finetune_and_measure(tmp, exp, params, "clip_direction", {"lambda_direction": 2}, iters=80)
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import torch
from tiny import ROOT

REDUCED = {
    "experiment": "toy",
    "experiments.toy.toy_data": {"sketch_pose": "standing", "n_sketches": 16, "n_photos": 400, "n_eval": 100},
    "experiments.toy.train.device": "cpu",
    "experiments.toy.eval.n_samples": 200,
    "experiments.toy.eval.kid_subset_size": 50,
    "experiments.toy.eval.metrics": ["pose_acc", "colour_acc", "joint_acc", "fid_target"],
}


def standing_pink_context() -> dict:
    """EvalContext fields of the world metrics: the committed oracle, target standing + pink."""
    world = ROOT / "data" / "world"
    return dict(
        world_oracle=world / "oracle" / "oracle.pth",
        world_size=32,
        target_pose="standing",
        target_colour="pink",
        prior_distribution=json.loads((world / "gan" / "summary.json").read_text())["training"]["distribution"],
        seed=0,
    )


def toy_params(**overrides):
    from pipeline.config import load_params

    return load_params(ROOT / "params.yaml", {**REDUCED, **overrides})


def prepare_toy(tmp: Path, exp) -> Path:
    from pipeline.prepare import prepare, with_project_paths

    out = tmp / "prepared"
    if not (out / "world.json").is_file():
        prepare(with_project_paths(exp, ROOT), tmp / "raw", out)
    return out


def finetune_and_measure(
    tmp: Path, exp, params, block: str, changes: dict | None = None, iters: int = 100, name: str | None = None
) -> dict:
    """Fine-tune block (fields replaced by `changes`) for `iters` steps, sample, and read the oracle's metrics.
    iters=0 measures the pretrained generator itself (the fine-tune is skipped; train.iters must be > 0)."""
    from pipeline.evaluate import evaluate
    from pipeline.prepare import with_project_paths
    from pipeline.sample import sample_method
    from pipeline.train import finetune

    exp = with_project_paths(exp, ROOT)
    exp = dataclasses.replace(
        exp,
        train=dataclasses.replace(exp.train, iters=max(iters, 1), ckpt_every=10**6),
        clip=dataclasses.replace(exp.clip, checkpoint=str(ROOT / exp.clip.checkpoint)),
        eval=dataclasses.replace(exp.eval, feature_weights=str(ROOT / exp.eval.feature_weights)),
    )
    # the helper's `iters` governs, not a block's own length (the toy schedule gives clip_global 400)
    cfg = dataclasses.replace(params.method(block), **{"iters": None, **(changes or {})})
    prepared = prepare_toy(tmp, exp)
    d = tmp / (name or block)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if iters == 0:
            (d / "model").mkdir(parents=True, exist_ok=True)
            shutil.copy(prepared / "pretrained" / "netG.pth", d / "model" / "netG.pth")
        else:
            finetune(exp, cfg, prepared, d / "model", d / "history.csv", d / "ckpt", str(d))
        sample_method(exp, cfg, d / "model", prepared / "fixed_inputs.pt", d / "samples")
        values, prov = evaluate(exp, cfg, d / "samples", prepared, tmp / "cache")
    finally:
        torch.set_num_threads(threads)
    reads = prov["world"]["oracle_reads"]
    n = prov["world"]["n_samples"]
    # the share of every colour and pose the oracle read, e.g. values["share_colour_pink"]
    values.update({f"share_{f}_{k}": v / n for f in ("colour", "pose") for k, v in reads[f].items()})
    return values
