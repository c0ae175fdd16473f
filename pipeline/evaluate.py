"""The `evaluate` step: one method's samples against the evaluation set, sketches and prompts."""

from __future__ import annotations

from pathlib import Path

import torch

from .config import Experiment
from .methods import prompts
from .metrics import EvalContext, compute_metrics
from .models import build_sketcher, resolve_device


def world_context(exp: Experiment, prepared: Path, target_prompt: str) -> dict:
    """EvalContext fields of the toy world: oracle, target pose (read at prepare), target colour, prior."""
    import json

    from .world.data import gan_training_distribution, target_colour, world_files

    world = Path(exp.assets.world_dir)
    targets = json.loads((prepared / "world.json").read_text())
    return {
        "world_oracle": world_files(world)["oracle.pth"],
        "world_size": exp.size,
        "target_pose": targets["target_pose"],
        "target_colour": target_colour(target_prompt),
        "prior_distribution": gan_training_distribution(world, exp.assets.world_gan),
    }


def load_sampler(exp: Experiment, method_cfg, model_dir: Path, device):
    """The generator a metric such as ppl needs: the method's exported model (None: the pretrained)."""
    from .methods import get_method
    from .models import load_generator
    from .sample import Sampler

    if method_cfg is None:
        return Sampler(load_generator(exp, model_dir / "netG.pth", device).eval())
    return get_method(method_cfg.method).load_sampler(exp, method_cfg, model_dir, device)


def feature_settings(exp: Experiment, cache_dir: Path | None, device) -> dict:
    """EvalContext fields that decide the FID-family numbers: the extractor, its weights, the resize,
    the reference-feature cache, the device, the seed and the batch (shared by the evaluate stage and
    the fine-tune's selection FID, so that both measure alike)."""
    return {
        "feature_extractor": exp.eval.feature_extractor,
        "feature_weights_path": exp.eval.feature_weights,
        "resize": exp.eval.resize,
        "cache_dir": cache_dir,
        "device": str(device),
        "seed": exp.seed,
        "batch_size": exp.eval.batch,
    }


def generator_fid(exp: Experiment, sampler, prepared: Path, cache_dir: Path | None, n: int, seed: int, device) -> float:
    """FID of n seeded samples of `sampler` against the evaluation set prepared/eval, measured as the
    evaluate stage measures it (same extractor, weights, resize, truncation and reference-set cache):
    the score of GANSketching's checkpoint selection (pipeline/selection.py)."""
    import tempfile

    from .sample import write_samples

    with tempfile.TemporaryDirectory(prefix="select-fid-") as tmp:
        write_samples(sampler, Path(tmp), n, seed, batch=exp.eval.batch, truncation=exp.eval.truncation, device=device)
        ctx = EvalContext(fakes_dir=Path(tmp), reals_dir=prepared / "eval", **feature_settings(exp, cache_dir, device))
        values, _ = compute_metrics(["fid"], ctx)
    return values["fid"]


def evaluate(
    exp: Experiment, method_cfg, samples: Path, prepared: Path, cache_dir: Path, model_dir: Path | None = None
) -> tuple[dict, dict]:
    """Flat metric values and their provenance for the PNGs in samples/images.
    method_cfg None: the pretrained generator (the experiment's prompts). model_dir: the generator's
    folder, for metrics that need it (ppl)."""
    device = resolve_device(exp.train.device)
    names = list(exp.eval.metrics)
    clip = None
    if any(n.startswith("clip_score") for n in names):
        from .nets.clip import build_clip

        clip = build_clip(
            exp.clip.model, exp.clip.pretrained, exp.clip.checkpoint, device=device, cache_dir=exp.clip.cache_dir
        )
    sketcher = build_sketcher(exp, prepared / "pretrained", device)
    if hasattr(sketcher, "set_bn_mode"):
        # Score each sample on its own: batch statistics would make it depend on its batch-mates.
        sketcher.set_bn_mode("eval")

    def fake_sketch_fn(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return sketcher(x.to(device)).cpu()

    target, source = prompts(exp, method_cfg)  # None (the pretrained generator): the experiment's
    world = world_context(exp, prepared, target) if exp.is_toy else {}
    sampler = None
    if "ppl" in names:
        if model_dir is None:
            raise ValueError("ppl needs the generator's folder (model_dir)")
        sampler = load_sampler(exp, method_cfg, model_dir, device)
    ctx = EvalContext(
        fakes_dir=samples / "images",
        reals_dir=prepared / "eval",
        sketches_dir=prepared / "sketches",
        fake_sketch_fn=fake_sketch_fn,
        clip=clip,
        target_prompt=target,
        source_prompt=source,
        clip_templates=exp.eval.clip_templates,
        sampler=sampler,
        ppl_samples=exp.eval.ppl_samples,
        ppl_distance=exp.eval.ppl_distance,
        torch_hub_dir=exp.eval.torch_hub_dir,
        kid_subset_size=exp.eval.kid_subset_size,
        **feature_settings(exp, cache_dir, device),
        **world,
    )
    values, provenance = compute_metrics(names, ctx)
    provenance.update(
        {
            "experiment": exp.name,
            "demo": exp.demo,
            "toy_world": exp.is_toy,
            "target_prompt": target,
            "source_prompt": source,
            "n_samples": exp.eval.n_samples,
            "truncation": exp.eval.truncation,
            "sketch_extractor": exp.sketch_extractor,
            "clip_model": f"{exp.clip.model}/{exp.clip.pretrained or exp.clip.checkpoint or 'random'}",
        }
    )
    return values, provenance
