"""Image folders: validation with readable errors, sketch normalization, the offline demo data,
and the in-memory banks the trainer samples from.

Conventions (GANSketching `training/dataset.py`): sketches are 1-channel, [-1, 1], white
background = +1, black strokes = -1; photos are RGB in [-1, 1].
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .io import atomic_path

IMAGE_EXTS = {".bmp", ".jpg", ".jpeg", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp"}


class DataError(ValueError):
    """Bad input data; the message names the file or folder and what was expected."""


def list_images(folder: str | os.PathLike, what: str = "images") -> list[Path]:
    """Sorted image files of a flat folder (any case of the extensions GANSketching accepts)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: {what} folder not found")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    images = [p for p in files if p.suffix.lower() in IMAGE_EXTS]
    if not images:
        others = ", ".join(p.name for p in files[:5])
        raise DataError(
            f"{folder}: no {what} found (expected {', '.join(sorted(IMAGE_EXTS))} files"
            + (f"; found only {others}" if others else "; the folder is empty")
            + ")"
        )
    return images


def open_image(path: Path) -> Image.Image:
    try:
        img = Image.open(path)
        img.load()
        return img
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise DataError(f"{path}: not a readable image ({type(e).__name__}: {e})") from None


def _square(img: Image.Image, size: int, fill) -> Image.Image:
    """Resize the shorter side to `size` and center-crop (odd and non-square inputs become square)."""
    w, h = img.size
    s = size / min(w, h)
    img = img.resize((max(size, round(w * s)), max(size, round(h * s))), Image.LANCZOS)
    w, h = img.size
    left, top = (w - size) // 2, (h - size) // 2
    return img.crop((left, top, left + size, top + size))


def normalize_sketch(img: Image.Image, size: int) -> Image.Image:
    """Any sketch image -> mode 'L', size x size, white background.

    Transparent pixels (RGBA, LA, palette with transparency) become white, so a drawing exported
    with an alpha background is not read as black.
    """
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, rgba)
    img = _square(img.convert("L"), size, 255)
    arr = np.asarray(img)
    if arr.mean() < 127:  # white strokes on black: invert to the PhotoSketch convention
        img = Image.fromarray(255 - arr)
    return img


def normalize_photo(img: Image.Image, size: int) -> Image.Image:
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, img.convert("RGBA"))
    return _square(img.convert("RGB"), size, (255, 255, 255))


def save_png(img: Image.Image, path: Path) -> None:
    """Atomic PNG write."""
    with atomic_path(path, suffix=".png") as tmp:
        img.save(tmp, format="PNG")


def normalize_folder(src, dst: Path, size: int, kind: str, limit: int | None = None) -> int:
    """Normalize every image of `src` into `dst/%06d.png`; returns the count."""
    fn = normalize_sketch if kind == "sketches" else normalize_photo
    paths = list_images(src, kind)[:limit]
    for i, p in enumerate(paths):
        save_png(fn(open_image(p), size), dst / f"{i:06d}.png")
    return len(paths)


# ----------------------------------------------------------------------------
# Tensors


def to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL -> [C, H, W] float in [-1, 1]."""
    arr = np.asarray(img, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1).copy())


def to_pil(x: torch.Tensor) -> Image.Image:
    """[C, H, W] in [-1, 1] -> PIL (C = 1 or 3), clamped and rounded as torchvision.save_image does."""
    arr = ((x.detach().float().clamp(-1, 1) + 1) * 127.5 + 0.5).clamp(0, 255).to(torch.uint8).cpu().numpy()
    return Image.fromarray(arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0))


class ImageBank:
    """Normalized images of one folder, decoded once into a uint8 tensor [N, C, S, S].

    Sampling draws i.i.d. indices from torch's global RNG: unlike the reference's RandomSampler
    with drop_last, this works with fewer images than the batch size (GANSketching's loop spins
    forever then) and is reproduced exactly by restoring a checkpointed RNG state.
    """

    def __init__(self, folder, kind: str, size: int):
        paths = list_images(folder, kind)
        mode = "L" if kind == "sketches" else "RGB"
        arrays = []
        for p in paths:
            img = open_image(p)
            if img.size != (size, size) or img.mode != mode:
                raise DataError(
                    f"{p}: expected a {size}x{size} {mode} image from the prepare stage, "
                    f"got {img.size[0]}x{img.size[1]} {img.mode}; re-run `dvc repro prepare`"
                )
            a = np.asarray(img, dtype=np.uint8)
            arrays.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
        self.data = torch.from_numpy(np.stack(arrays))
        self.paths = paths

    def __len__(self):
        return len(self.data)

    def all(self, device="cpu") -> torch.Tensor:
        return self.data.to(device).float() / 127.5 - 1.0

    def sample(self, batch: int, device="cpu") -> torch.Tensor:
        # Indices from the CPU RNG (checkpointed, so a resume draws the same ones); the images are
        # copied to the device once, so a training step does no host-to-device image traffic.
        idx = torch.randint(len(self.data), (batch,))
        device = torch.device(device)
        if self.data.device != device:
            self.data = self.data.to(device)
        return self.data[idx.to(device)].float() / 127.5 - 1.0
