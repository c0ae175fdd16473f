"""Which assets an experiment needs, fetched into data/ (layout in pipeline/assets/sources.py).

data/raw/sketch/<set>/<task>/      user sketches (sketch_data.zip)
data/raw/eval/<task>/image/        evaluation photos (eval_data.zip)
data/raw/pretrained/...            netG.pth, netD.pth, photosketch.pth (pretrained_models.zip)
data/raw/image/<category>/         LSUN photos exported from the lmdb, capped at assets.photo_cap
data/weights/{clip,inception}/     CLIP ViT-B/32 (OpenAI) and FID Inception weights

A set the user supplies (`assets.sketch_dir`, `photo_dir`, `eval_dir`) is not downloaded: with
`photo_dir` neither the LSUN lmdb nor its export. With `assets.base_url` (source `official`) each
registry file is fetched from `<base_url>/<file name>` instead of its published URL.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .assets import export_lmdb_images, fetch_asset, get_asset
from .config import Experiment

log = logging.getLogger(__name__)


def assets_for(exp: Experiment) -> list[str]:
    a = exp.assets
    if a.source in ("synthetic", "toy"):  # made at run time / committed with the project
        return []
    names = ([] if a.sketch_dir else ["sketch_data"]) + ([] if a.eval_dir else ["eval_data"])
    names += ["pretrained_models"] + ([] if a.photo_dir else [f"lsun_{a.photos}"])
    g = exp.editing.ganspace
    if g.enabled and g.components and Path(g.components).name == "ganspace_cat.npz":
        names.append("ganspace_cat")
    if exp.clip.pretrained == "openai" and exp.clip.model.startswith("ViT-B-32"):
        names.append("clip_vit_b32")
    if exp.eval.feature_extractor == "inception-v3-compat":
        names.append("inception_fid")
    if "ppl" in exp.eval.metrics and exp.eval.ppl_distance == "lpips-vgg":
        names.append("vgg16")
    return names


def asset_url(exp: Experiment, name: str) -> str | None:
    """`<assets.base_url>/<file name>` for source official with a base URL, else None (the registry URL)."""
    a = exp.assets
    if a.source != "official" or not a.base_url:
        return None
    return a.base_url.rstrip("/") + "/" + get_asset(name).filename


def fetch_all(exp: Experiment, data_dir: Path, lock_file: Path, fetch_one=fetch_asset) -> dict:
    """Fetch every asset (each verified, resumable) and export the capped LSUN photo set."""
    a, done = exp.assets, {}
    for name in assets_for(exp):
        url = asset_url(exp, name)
        log.info("fetching %s (%s%s)", name, a.source, f" from {url}" if url else "")
        extra = {"url": url} if url else {}
        done[name] = str(fetch_one(name, data_dir, a.source, a.mirror_dir, lock_file, **extra))
    if a.source not in ("synthetic", "toy") and not a.photo_dir:
        photos = data_dir / "raw" / "image" / a.photos
        have = len(list(photos.glob("*.png"))) if photos.is_dir() else 0
        if have == 0 or (a.photo_cap is not None and have < a.photo_cap):
            n = export_lmdb_images(data_dir / "raw" / "lsun" / a.photos, photos, a.photo_cap, exp.size)
            log.info("exported %d LSUN %s photos to %s", n, a.photos, photos)
        done["photos"] = str(photos)
    return done
