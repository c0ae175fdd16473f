"""Augmentations for training the world's networks: other hands' stroke styles, imperfect photos.

All draws come from the torch.Generator passed in, so a training run is reproducible from its seed.
Tensors are [B, C, S, S] in [-1, 1]; sketches have a white (+1) background.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _u(g, *shape, lo=0.0, hi=1.0):
    return lo + (hi - lo) * torch.rand(*shape, generator=g)


def _per_sample(mask: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a where mask [B] else b."""
    return torch.where(mask.view(-1, *[1] * (a.ndim - 1)), a, b)


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Per-sample separable Gaussian blur, sigma [B] in pixels (0: unchanged)."""
    r = 2
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    k = torch.exp(-(t[None] ** 2) / (2 * sigma.clamp_min(1e-3)[:, None] ** 2))
    k = k / k.sum(1, keepdim=True)  # [B, 5]
    b, c, h, w = x.shape
    y = x.reshape(1, b * c, h, w)
    kc = k.repeat_interleave(c, 0)  # [B*C, 5]
    y = F.conv2d(F.pad(y, (r, r, 0, 0), mode="replicate"), kc[:, None, None, :], groups=b * c)
    y = F.conv2d(F.pad(y, (0, 0, r, r), mode="replicate"), kc[:, None, :, None], groups=b * c)
    return y.reshape(b, c, h, w)


def random_affine(
    x: torch.Tensor,
    g: torch.Generator,
    scale=(0.85, 1.15),
    shift: float = 0.15,
    degrees: float = 8.0,
    fill: float | None = 1.0,
) -> torch.Tensor:
    """Random scale, shift (fraction of the half-width) and rotation per sample; `fill` outside
    (None: repeat the border pixels)."""
    b = x.shape[0]
    s = _u(g, b, lo=scale[0], hi=scale[1])
    a = _u(g, b, lo=-degrees, hi=degrees) * math.pi / 180
    t = _u(g, b, 2, lo=-shift, hi=shift)
    theta = torch.stack(
        [
            torch.stack([torch.cos(a) / s, -torch.sin(a) / s, t[:, 0]], 1),
            torch.stack([torch.sin(a) / s, torch.cos(a) / s, t[:, 1]], 1),
        ],
        1,
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    if fill is None:
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + fill


def sketch_styles(sk: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Renderer outlines [B, 1, S, S] -> the same drawings in other hands' styles.

    darkness d = (1 - sketch) / 2 in [0, 1]; per sample, each with its own probability:
    thicker strokes (a blend toward a 3 x 3 dilation), fainter or grey strokes, erased pieces,
    stray specks, binarization, blur, and a random affine transform.
    """
    b, _, s, _ = sk.shape
    d = (1 - sk) / 2
    thick = F.max_pool2d(d, 3, stride=1, padding=1)
    d = _per_sample(_u(g, b) < 0.35, d + _u(g, b, 1, 1, 1) * (thick - d), d)
    d = _per_sample(_u(g, b) < 0.35, d * _u(g, b, 1, 1, 1, lo=0.45, hi=1.0), d)
    d = _per_sample(_u(g, b) < 0.25, d ** _u(g, b, 1, 1, 1, lo=1.0, hi=2.5), d)
    # erase a random square of about a fifth of the side
    cut = max(2, s // 5)
    yx = (torch.rand(b, 2, generator=g) * (s - cut)).long()
    rows, cols = torch.arange(s).view(1, s, 1), torch.arange(s).view(1, 1, s)
    box = (
        (rows >= yx[:, :1, None])
        & (rows < yx[:, :1, None] + cut)
        & (cols >= yx[:, 1:, None])
        & (cols < yx[:, 1:, None] + cut)
    )[:, None]
    d = torch.where(box & (_u(g, b) < 0.3).view(-1, 1, 1, 1), torch.zeros_like(d), d)
    specks = (torch.rand(b, 1, s, s, generator=g) < 0.004).float() * (_u(g, b) < 0.3).view(-1, 1, 1, 1).float()
    d = torch.maximum(d, specks)
    d = _per_sample(_u(g, b) < 0.2, (d > 0.5).float(), d)
    d = _per_sample(_u(g, b) < 0.3, gaussian_blur(d, _u(g, b, lo=0.3, hi=0.9)), d)
    return random_affine((1 - 2 * d).clamp(-1, 1), g, fill=1.0)


def photo_noise(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Photos [B, 3, S, S] -> slightly imperfect ones (what a generator's samples look like):
    small shifts, blur, pixel noise and brightness changes that never change a factor."""
    b = x.shape[0]
    x = random_affine(x, g, scale=(0.95, 1.05), shift=0.06, degrees=3.0, fill=None)
    x = _per_sample(_u(g, b) < 0.3, gaussian_blur(x, _u(g, b, lo=0.3, hi=0.7)), x)
    x = x * _u(g, b, 1, 1, 1, lo=0.95, hi=1.05)
    x = x + torch.randn(x.shape, generator=g) * _u(g, b, 1, 1, 1, lo=0.0, hi=0.05)
    return x.clamp(-1, 1)
