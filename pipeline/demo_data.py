"""The offline demo's data, made at run time from scikit-image's `chelsea` cat photo
(Public Domain / CC0, ships inside the scikit-image wheel): photos by random crops, flips and
scales; sketches by the weight-free XDoG extractor on further crops. Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .data import save_png, to_pil, to_tensor
from .nets.xdog import XDoG


def _chelsea() -> Image.Image:
    from skimage import data as skdata

    return Image.fromarray(skdata.chelsea())  # 300 x 451 RGB


def random_crops(n: int, size: int, rng: np.random.Generator, min_scale: float = 0.5):
    """n square crops (side in [min_scale, 1] x the photo's short side), random flips, resized to `size`."""
    img = _chelsea()
    w, h = img.size
    for _ in range(n):
        side = int(min(w, h) * rng.uniform(min_scale, 1.0))
        x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
        crop = img.crop((x, y, x + side, y + side)).resize((size, size), Image.LANCZOS)
        if rng.random() < 0.5:
            crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
        yield crop


def make_demo_data(out: Path, size: int, n_sketches: int, n_photos: int, n_eval: int, seed: int) -> dict:
    """Write out/{sketches,photos,eval}/%06d.png; distinct RNG streams keep the three sets disjoint."""
    rngs = [np.random.default_rng([seed, k]) for k in range(3)]
    for i, im in enumerate(random_crops(n_photos, size, rngs[0])):
        save_png(im, out / "photos" / f"{i:06d}.png")
    for i, im in enumerate(random_crops(n_eval, size, rngs[1])):
        save_png(im, out / "eval" / f"{i:06d}.png")
    xdog = XDoG()
    with torch.no_grad():
        for i, im in enumerate(random_crops(n_sketches, size, rngs[2], min_scale=0.7)):
            save_png(to_pil(xdog(to_tensor(im)[None])[0]), out / "sketches" / f"{i:06d}.png")
    return {"sketches": n_sketches, "photos": n_photos, "eval": n_eval, "source": "skimage.data.chelsea (CC0)"}
