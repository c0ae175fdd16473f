"""Which assets an experiment needs, fetched into data/ (layout in pipeline/assets/sources.py).

data/raw/sketch/<set>/<task>/      user sketches (sketch_data.zip)
data/raw/eval/<task>/image/        evaluation photos (eval_data.zip)
data/raw/pretrained/...            netG.pth, netD.pth, photosketch.pth (pretrained_models.zip)
data/raw/image/<category>/         LSUN photos exported from the lmdb, capped at assets.photo_cap
data/weights/{clip,inception}/     CLIP ViT-B/32 (OpenAI) and FID Inception weights
"""
from __future__ import annotations

import logging
from pathlib import Path

from .assets import export_lmdb_images, fetch_asset
from .config import Experiment

log = logging.getLogger(__name__)


def assets_for(exp: Experiment) -> list[str]:
    if exp.assets.source == "synthetic":
        return []
    names = ["sketch_data", "eval_data", "pretrained_models", f"lsun_{exp.assets.photos}"]
    if exp.clip.pretrained == "openai" and exp.clip.model.startswith("ViT-B-32"):
        names.append("clip_vit_b32")
    if exp.eval.feature_extractor == "inception-v3-compat":
        names.append("inception_fid")
    return names


def fetch_all(exp: Experiment, data_dir: Path, lock_file: Path, fetch_one=fetch_asset) -> dict:
    """Fetch every asset (each verified, resumable) and export the capped LSUN photo set."""
    a, done = exp.assets, {}
    for name in assets_for(exp):
        log.info("fetching %s (%s)", name, a.source)
        done[name] = str(fetch_one(name, data_dir, a.source, a.mirror_dir, lock_file))
    if exp.assets.source != "synthetic":
        photos = data_dir / "raw" / "image" / a.photos
        if not photos.is_dir() or len(list(photos.glob("*.png"))) < a.photo_cap:
            n = export_lmdb_images(data_dir / "raw" / "lsun" / a.photos, photos, a.photo_cap, exp.size)
            log.info("exported %d LSUN %s photos to %s", n, a.photos, photos)
        done["photos"] = str(photos)
    return done
