"""Evaluation metrics, looked up by name (the `evaluate.metrics` list in params.yaml).

A *provider* is one function that can compute several related metrics at once (FID, KID and
precision/recall share one feature extraction; both CLIP scores share one image encoding). It is
registered under every metric name it provides and is called once per `compute_metrics` call with
the subset of its names that were requested:

    @register_metric("fid", "kid", "precision", "recall", key="fidelity")
    def fidelity(ctx: EvalContext, names: list[str]) -> tuple[dict[str, float], dict]: ...

It returns flat float values (`{"fid": 12.3, "kid_mean": ..., ...}`) and a provenance dict, which
`compute_metrics` files under `key`. Registered here:

| name | values | module |
|---|---|---|
| fid, kid, precision, recall | fid, kid_mean, kid_std, precision, recall | `fidelity.py` |
| clip_score_target, clip_score_source | same names | `clip_score.py` |
| sketch_chamfer | sketch_chamfer | `sketch_fidelity.py` |
| pose_acc, colour_acc, joint_acc, fid_target, fid_prior | same names (toy world only) | `world.py` |
| ppl | ppl (needs the generator) | `ppl.py` |
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

__all__ = ["EvalContext", "register_metric", "compute_metrics", "registered_metrics", "list_images", "load_images"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
RESIZE_MODES = ("tf", "clean")

# ----------------------------------------------------------------------------
# Evaluation context


@dataclass
class EvalContext:
    """Everything a metric may need. Built once per evaluated method from `params.yaml[evaluate]`."""

    fakes_dir: Path  # folder of generated PNG samples (searched recursively)
    reals_dir: Path | None = None  # evaluation photos (reference set for FID/KID/P&R)
    sketches_dir: Path | None = None  # the user's input sketches: 1-channel PNG, white background
    fake_sketch_fn: Callable[[torch.Tensor], torch.Tensor] | None = None
    # sketch extractor: [B,3,H,W] in [-1,1] -> [B,1,H',W'] in [-1,1]
    clip: Any = None  # a pipeline.nets.clip.CLIP (encode_image, embed_prompt) or None
    target_prompt: str | None = None  # text the method adapts towards (clip_score_target)
    source_prompt: str | None = None  # text of the pretrained domain (clip_score_source)
    clip_templates: str = "none"  # clip scores: "none" (the prompt as written) or "imagenet"
    feature_extractor: str = "inception-v3-compat"  # torch-fidelity extractor name; "demo-tiny" for offline demos
    feature_weights_path: Path | None = None  # local weights for the extractor (offline Inception)
    feature_layer: str | None = None  # extractor layer for FID/KID/P&R (None: its default, "2048")
    kid_subset_size: int = 1000  # KID subset size; must be <= N fakes and N reals
    kid_subsets: int = 100  # number of KID subsets
    prc_neighborhood: int = 3  # k of the k-NN precision/recall (GANSketching: 3)
    prc_reals: int | None = 2500  # P&R: reals subsampled to this many (the reference's 2,500)
    resize: str = "clean"  # "clean": PIL bicubic to 299 on float data; "tf": torch-fidelity
    cache_dir: Path | None = None  # reference-set feature cache (None: no caching)
    device: str = "cpu"  # "cpu" or "cuda"
    seed: int = 0  # KID subset sampling
    batch_size: int = 64  # images per forward pass
    chamfer_size: int | None = None  # common resolution for sketch_chamfer (None: input sketch size)
    save_cpu_ram: bool = True  # torch-fidelity: no DataLoader workers, chunked P&R (same numbers)
    # The toy world's ground truth (world.py): the oracle, what the samples should show, the prior.
    world_oracle: Path | None = None  # oracle.pth
    world_size: int = 32  # the world's resolution (samples are read at this size)
    target_pose: str | None = None  # what the oracle read from the input sketches
    target_colour: str | None = None  # the palette colour the target prompt names
    prior_distribution: dict | None = None  # the generator's training distribution (fid_prior)
    # Perceptual path length (ppl.py): the generator itself, and the protocol's settings.
    sampler: Any = None  # a pipeline.sample.Sampler (G [+ content branch])
    ppl_samples: int = 50000  # pairs (GANSketching: 50,000)
    ppl_distance: str = "lpips-vgg"  # "lpips-vgg" (the reference) or "toy-oracle" (the toy world)
    torch_hub_dir: Path | None = None  # where LPIPS finds torchvision's VGG-16 (fetch stage)

    def __post_init__(self):
        for name in (
            "fakes_dir",
            "reals_dir",
            "sketches_dir",
            "feature_weights_path",
            "cache_dir",
            "world_oracle",
            "torch_hub_dir",
        ):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, Path(value))
        if self.resize not in RESIZE_MODES:
            raise ValueError(f"evaluate.resize must be one of {RESIZE_MODES}, got {self.resize!r}")
        if int(self.kid_subset_size) < 2:
            raise ValueError(f"evaluate.kid_subset_size must be >= 2, got {self.kid_subset_size}")


# ----------------------------------------------------------------------------
# Registry

_PROVIDERS: dict[str, tuple[str, Callable]] = {}  # metric name -> (provenance key, provider)


def register_metric(*names: str, key: str | None = None):
    """Register a provider under one or more metric names; provenance is filed under `key` (default names[0])."""
    if not names:
        raise ValueError("register_metric needs at least one metric name")

    def decorator(fn: Callable) -> Callable:
        for name in names:
            if name in _PROVIDERS:
                raise ValueError(f"metric {name!r} is already registered")
            _PROVIDERS[name] = (key or names[0], fn)
        return fn

    return decorator


def registered_metrics() -> list[str]:
    return sorted(_PROVIDERS)


def compute_metrics(names: list[str], ctx: EvalContext) -> tuple[dict[str, float], dict]:
    """Compute the named metrics. Returns (flat {value name: float}, provenance {key: {...}})."""
    unknown = [n for n in names if n not in _PROVIDERS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; registered: {registered_metrics()}")
    # Group the requested names by provider, keeping the requested order.
    groups: dict[str, tuple[Callable, list[str]]] = {}
    for name in dict.fromkeys(names):
        key, fn = _PROVIDERS[name]
        groups.setdefault(key, (fn, []))[1].append(name)
    values: dict[str, float] = {}
    provenance: dict = {"seed": ctx.seed, "device": str(ctx.device), "metrics": list(dict.fromkeys(names))}
    for key, (fn, group_names) in groups.items():
        t0 = time.perf_counter()
        group_values, group_prov = fn(ctx, group_names)
        log.info("%s (%s): %.1f s", key, ", ".join(group_names), time.perf_counter() - t0)
        for k, v in group_values.items():
            if k in values:
                raise RuntimeError(f"metric value {k!r} produced twice")
            values[k] = float(v)
        provenance[key] = group_prov
    return values, provenance


# ----------------------------------------------------------------------------
# Shared image I/O


def list_images(folder: Path, what: str = "image folder") -> list[Path]:
    """Sorted image files under `folder` (recursive). ValueError naming the folder if missing or empty."""
    folder = Path(folder) if folder is not None else None
    if folder is None or not folder.is_dir():
        raise ValueError(f"{what} {str(folder)!r} does not exist")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise ValueError(f"{what} {str(folder)!r} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
    return files


def load_images(paths: list[Path], mode: str = "RGB", size: tuple[int, int] | None = None) -> torch.Tensor:
    """Load images as a float tensor [B, C, H, W] in [-1, 1]. Images of another size than `size`
    (default: the first image's) are resized with PIL bicubic."""
    import numpy as np
    from PIL import Image

    arrays = []
    for p in paths:
        with Image.open(p) as im:
            im = im.convert(mode)
            if size is None:
                size = im.size
            if im.size != size:
                im = im.resize(size, Image.BICUBIC)
            a = np.asarray(im, dtype=np.float32)
        arrays.append(a[..., None] if a.ndim == 2 else a)
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)  # [B, C, H, W] in [0, 255]
    return x / 127.5 - 1.0


# Providers register themselves on import (after the registry exists).
from . import clip_score, fidelity, ppl, render_fit, sketch_fidelity, world  # noqa: E402,F401
