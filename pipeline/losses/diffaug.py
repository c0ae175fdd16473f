"""Differentiable Augmentation (Zhao et al., NeurIPS 2020), as used by GANSketching
(`training/networks/diffaug.py`): applied to both real and fake sketches before D_sketch, in the
D, R1 and G steps; never to D_image inputs.

Policies: `translation` (random integer shift up to ratio 1/8 of H and W per sample, vacated
pixels filled with 0, which is mid-grey for sketches in [-1, 1], as in the reference), `color`
(brightness, saturation, contrast), `cutout` (a zeroed square of half the side). All randomness
comes from torch's global RNG, so a checkpointed RNG state reproduces it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    b, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sy, sy + 1, (b, 1, 1)).to(x.device)
    tx = torch.randint(-sx, sx + 1, (b, 1, 1)).to(x.device)
    # out[b, :, i, j] = x[b, :, i + ty, j + tx] if inside, else 0 (DiffAugment's `rand_translation`:
    # the same draws, in the same order, give the same image on CPU); via a zero-padded gather
    gy = (torch.arange(h, device=x.device)[None, :, None] + ty + sy).expand(b, h, w)
    gx = (torch.arange(w, device=x.device)[None, None, :] + tx + sx).expand(b, h, w)
    xp = F.pad(x, [sx, sx, sy, sy])  # [B, C, H+2sy, W+2sx]
    bi = torch.arange(b, device=x.device)[:, None, None].expand(b, h, w)
    return xp.permute(0, 2, 3, 1)[bi, gy, gx].permute(0, 3, 1, 2)


def color(x: torch.Tensor) -> torch.Tensor:
    b = x.shape[0]
    r = lambda: torch.rand(b, 1, 1, 1).to(x.device, x.dtype)  # noqa: E731
    x = x + (r() - 0.5)  # brightness
    m = x.mean(1, keepdim=True)
    x = (x - m) * (r() * 2) + m  # saturation
    m = x.mean([1, 2, 3], keepdim=True)
    return (x - m) * (r() + 0.5) + m  # contrast


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1)).to(x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (b, 1, 1)).to(x.device)
    yy = torch.arange(h, device=x.device)[None, :, None]
    xx = torch.arange(w, device=x.device)[None, None, :]
    y0, x0 = cy - ch // 2, cx - cw // 2  # top-left, may be off-image
    inside = (yy >= y0) & (yy < y0 + ch) & (xx >= x0) & (xx < x0 + cw)  # [B, H, W]
    return x * (~inside)[:, None].to(x.dtype)


POLICIES = {"translation": translation, "color": color, "cutout": cutout}


def parse_policy(policy: str) -> list[str]:
    names = [p.strip() for p in policy.split(",") if p.strip()]
    bad = [n for n in names if n not in POLICIES]
    if bad:
        raise ValueError(f"unknown DiffAugment policy {', '.join(bad)}; allowed: {', '.join(POLICIES)}")
    return names


def diff_augment(x: torch.Tensor, policy: str) -> torch.Tensor:
    for name in parse_policy(policy):
        x = POLICIES[name](x)
    return x
