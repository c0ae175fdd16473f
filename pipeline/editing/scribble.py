"""Scribble-constrained editing: paint colors where you want them, the latent code follows.

    scribble, mask = load_scribble("strokes.png", size=G.size)   # RGBA: alpha marks painted pixels
    w, history = scribble_edit(G, inverted.wplus, scribble, mask, steps=200, lam=0.5)

Minimizes, per sample,

    ||M ⊙ (G(w) − S)||² / (3 ΣM)  +  λ ||w − w0||² / numel(w0)

i.e. the masked color MSE over painted pixels plus a prior keeping w near the start w0 (an inverted
or sampled code). Both terms are means, so λ does not depend on the resolution, the stroke area or
the W+ depth. w0 may be a w [B, D] or a W+ code [B, n_latent, D]; the edit stays in that space.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .inversion import device_of, fixed_noise, frozen, to_wplus

ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def masked_mse(image: torch.Tensor, scribble: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-sample mean squared color error over the masked pixels, [B] (0 where the mask is empty)."""
    err = (mask * (image - scribble)).pow(2).flatten(1).sum(1)
    return err / (3 * mask.flatten(1).sum(1)).clamp_min(1e-8)


def scribble_edit(
    G,
    w0: torch.Tensor,
    scribble: torch.Tensor,
    mask: torch.Tensor,
    steps: int = 200,
    lr: float = 0.05,
    lam: float = 0.5,
    noise=None,
):
    """Optimize w from w0 so that G(w) matches `scribble` where `mask` is set, staying near w0.

    G          Generator; frozen during the call
    w0         start code: w [B, D] or W+ [B, n_latent, D] (e.g. InversionResult.wplus)
    scribble   [B, 3, size, size] colors in [-1, 1]
    mask       [B, 1, size, size] in [0, 1] (1 = painted)
    steps, lr  Adam steps and learning rate
    lam        weight of the prior λ ||w − w0||² / numel (0 = unconstrained fit of the strokes)
    noise      None -> G's stored noise buffers (fixed, so only the code changes the image)
    Returns (w [like w0], history) with history = {"loss", "masked_mse", "prior"}: lists of floats
    (batch means) of length steps + 1, entry 0 at w0 and the last at the returned w.
    """
    if w0.ndim not in (2, 3):
        raise ValueError(f"w0 must be w [B, D] or W+ [B, n_latent, D], got {list(w0.shape)}")
    space = "w" if w0.ndim == 2 else "wplus"
    B, S = w0.shape[0], G.size
    if scribble.shape != (B, 3, S, S):
        raise ValueError(
            f"scribble must be [{B}, 3, {S}, {S}] (load_scribble(path, size=G.size)), got {list(scribble.shape)}"
        )
    if mask.shape != (B, 1, S, S):
        raise ValueError(f"mask must be [{B}, 1, {S}, {S}], got {list(mask.shape)}")
    dev = device_of(G)
    scribble, mask = scribble.to(dev, torch.float32), mask.to(dev, torch.float32)
    w0 = w0.detach().to(dev)
    noise = fixed_noise(G, noise)

    def terms(w):
        img = G.synthesis(to_wplus(G, w, space), noise=noise)
        data = masked_mse(img, scribble, mask)
        prior = (w - w0).pow(2).flatten(1).mean(1)
        return data + lam * prior, data, prior

    history = {"loss": [], "masked_mse": [], "prior": []}

    def record(total, data, prior):
        history["loss"].append(total.mean().item())
        history["masked_mse"].append(data.mean().item())
        history["prior"].append(prior.mean().item())

    w = w0.clone().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=lr)
    with frozen(G):
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            total, data, prior = terms(w)
            record(total.detach(), data.detach(), prior.detach())
            total.sum().backward()
            opt.step()
        with torch.no_grad():
            record(*terms(w))
    return w.detach(), history


def load_scribble(png_path: str | os.PathLike, size: int | None = None):
    """RGBA PNG -> (scribble [1, 3, S, S] in [-1, 1], mask [1, 1, S, S] in {0, 1}).

    The RGB channels are the colors, alpha > 0 marks painted pixels. When resizing to `size`, colors
    are resampled premultiplied by alpha (so stroke edges do not pick up the color of transparent
    pixels) and any pixel with some coverage stays in the mask. Unpainted pixels get color 0.
    """
    path = Path(png_path)
    img = Image.open(path)
    img.load()
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode not in ALPHA_MODES:
        raise ValueError(
            f"{path}: a scribble needs an alpha channel marking the painted pixels, but the "
            f"image is mode {img.mode} without transparency; save it as an RGBA PNG"
        )
    img = img.convert("RGBA")
    if size is not None and img.size != (size, size):
        img = img.convert("RGBa").resize((size, size), Image.Resampling.BOX).convert("RGBA")
    arr = np.asarray(img, dtype=np.float32)  # [S, S, 4]
    mask = torch.from_numpy((arr[..., 3] > 0).astype(np.float32))[None, None]
    rgb = torch.from_numpy(arr[..., :3].transpose(2, 0, 1).copy())[None] / 127.5 - 1.0
    return rgb * mask, mask
