"""The `evaluate` step: one method's samples against the evaluation set, sketches and prompts."""
from __future__ import annotations

from pathlib import Path

import torch

from .config import Experiment
from .methods import prompts
from .metrics import EvalContext, compute_metrics
from .models import build_sketcher, resolve_device


def evaluate(exp: Experiment, method_cfg, samples: Path, prepared: Path, cache_dir: Path) -> tuple[dict, dict]:
    """Flat metric values and their provenance for the PNGs in samples/images."""
    device = resolve_device(exp.train.device)
    names = list(exp.eval.metrics)
    clip = None
    if any(n.startswith("clip_score") for n in names):
        from .nets.clip import build_clip
        clip = build_clip(exp.clip.model, exp.clip.pretrained, exp.clip.checkpoint, device=device,
                          cache_dir=exp.clip.cache_dir)
    sketcher = build_sketcher(exp, prepared / "pretrained", device)
    if hasattr(sketcher, "set_bn_mode"):
        # Score each sample on its own: batch statistics would make it depend on its batch-mates.
        sketcher.set_bn_mode("eval")

    def fake_sketch_fn(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return sketcher(x.to(device)).cpu()

    target, source = prompts(exp, method_cfg)
    ctx = EvalContext(
        fakes_dir=samples / "images", reals_dir=prepared / "eval", sketches_dir=prepared / "sketches",
        fake_sketch_fn=fake_sketch_fn, clip=clip, target_prompt=target, source_prompt=source, feature_extractor=exp.eval.feature_extractor,
        feature_weights_path=exp.eval.feature_weights, kid_subset_size=exp.eval.kid_subset_size,
        resize=exp.eval.resize, cache_dir=cache_dir, device=str(device), seed=exp.seed, batch_size=exp.eval.batch)
    values, provenance = compute_metrics(names, ctx)
    provenance.update({"experiment": exp.name, "demo": exp.demo, "n_samples": exp.eval.n_samples,
                       "truncation": exp.eval.truncation, "sketch_extractor": exp.sketch_extractor,
                       "clip_model": f"{exp.clip.model}/{exp.clip.pretrained or exp.clip.checkpoint or 'random'}"})
    return values, provenance
