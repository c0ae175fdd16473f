"""Interpolation between latents (linear in W / W+, spherical in Z) and between generators' weights.

    frames = interpolate_latents(G, w_a, w_b, n=8, space="w")     # [n, B, 3, H, W]
    save_gif(frames, "walk.gif"); save_strip(frames, "walk.png")
    G_mid.load_state_dict(interpolate_weights(G_pretrained.state_dict(), G_custom.state_dict(), 0.5))

Endpoints are exact: lerp/slerp at t = 0 and t = 1 return the inputs bit for bit, so frame 0 and
frame n-1 are the images of `start` and `end`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image

from ..data import to_pil
from ..io import atomic_path
from .inversion import fixed_noise

# ----------------------------------------------------------------------------
# Vector interpolation


def lerp(a: torch.Tensor, b: torch.Tensor, t) -> torch.Tensor:
    """(1 - t) a + t b; written this way so t = 0 gives a and t = 1 gives b exactly."""
    return (1 - t) * a + t * b


def slerp(z0: torch.Tensor, z1: torch.Tensor, t, eps: float = 1e-6) -> torch.Tensor:
    """Spherical interpolation along the last dimension (z0, z1 [..., D]; t a float or broadcastable).

    The angle comes from the normalized vectors, the weights sin((1-t)Ω)/sin Ω and sin(tΩ)/sin Ω
    are applied to the raw vectors: equal-norm inputs keep their norm along the path, and the
    endpoints are exact. Where sin Ω < eps (near-parallel, or near-antiparallel, where the great
    circle is undefined) it falls back to lerp.
    """
    t = torch.as_tensor(t, dtype=z0.dtype, device=z0.device)
    if t.ndim and t.shape[-1:] != (1,):
        t = t[..., None]  # [..., 1] so it broadcasts against [..., D]
    u0 = z0 / z0.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    u1 = z1 / z1.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    omega = (u0 * u1).sum(-1, keepdim=True).clamp(-1.0, 1.0).acos()
    so = omega.sin()
    safe = so.abs() >= eps
    so_safe = torch.where(safe, so, torch.ones_like(so))
    out = (torch.sin((1 - t) * omega) / so_safe) * z0 + (torch.sin(t * omega) / so_safe) * z1
    return torch.where(safe, out, lerp(z0, z1, t))


# ----------------------------------------------------------------------------
# Latent walks


@torch.no_grad()
def interpolate_latents(
    G,
    start: torch.Tensor,
    end: torch.Tensor,
    n: int = 8,
    space: str = "w",
    noise=None,
    truncation: float = 1.0,
    truncation_latent=None,
) -> torch.Tensor:
    """Images along the path from `start` to `end`: [n, B, 3, H, W], frame 0 = G(start), frame n-1 = G(end).

    space="w": start/end are w [B, D] (or [D]) or W+ [B, n_latent, D], interpolated linearly.
    space="z": start/end are z [B, D] (or [D]), interpolated spherically, then mapped.
    noise: None -> G's stored noise buffers (the same noise in every frame, so only the code moves).
    truncation/truncation_latent: applied to the interpolated w as in Generator.make_wplus.
    """
    if space not in ("w", "z"):
        raise ValueError(f"space must be 'w' or 'z', got {space!r}")
    if start.shape != end.shape:
        raise ValueError(f"start and end must have the same shape, got {list(start.shape)} and {list(end.shape)}")
    if n < 2:
        raise ValueError(f"n must be >= 2 (the two endpoints), got {n}")
    if start.ndim == 1:
        start, end = start[None], end[None]
    if space == "z" and start.ndim != 2:
        raise ValueError(f"z codes must be [B, D], got {list(start.shape)}")
    noise = fixed_noise(G, noise)
    frames = []
    for i in range(n):
        t = i / (n - 1)
        code = slerp(start, end, t) if space == "z" else lerp(start, end, t)
        wplus = G.make_wplus(
            code, input_is_latent=space == "w", truncation=truncation, truncation_latent=truncation_latent
        )
        frames.append(G.synthesis(wplus, noise=noise))
    return torch.stack(frames)


# ----------------------------------------------------------------------------
# Weight interpolation


def default_keep_from_a(key: str) -> bool:
    """Buffers that are not learned weights: noise inputs and blur/upsampling kernels."""
    return key.startswith("noises.") or key.rsplit(".", 1)[-1] == "kernel"


def interpolate_weights(
    state_a: dict, state_b: dict, t: float, keep_from_a: Callable[[str], bool] = default_keep_from_a
) -> dict:
    """(1 - t) state_a + t state_b for every floating-point tensor, as a new state dict.

    Both dicts must have the same keys and shapes (a ValueError names the first offending keys);
    use pipeline.nets.checkpoint.pick_state_dict first for rosinality-wrapped checkpoints. Entries
    for which keep_from_a(key) is true (by default the `noises.*` buffers and the `*.kernel` blur
    kernels) and non-floating tensors are copied from state_a. t = 0 returns state_a's values and
    t = 1 state_b's (exactly) for every interpolated entry.
    """
    only_a, only_b = sorted(set(state_a) - set(state_b)), sorted(set(state_b) - set(state_a))
    if only_a or only_b:
        raise ValueError(
            "state dicts have different keys: "
            + "; ".join(
                s
                for s in (
                    f"only in a: {', '.join(only_a[:5])}" if only_a else "",
                    f"only in b: {', '.join(only_b[:5])}" if only_b else "",
                )
                if s
            )
        )
    out = {}
    for k, va in state_a.items():
        vb = state_b[k]
        if tuple(va.shape) != tuple(vb.shape):
            raise ValueError(
                f"shape mismatch at {k!r}: a {tuple(va.shape)} vs b {tuple(vb.shape)} (different resolution or width?)"
            )
        if keep_from_a(k) or not torch.is_floating_point(va):
            out[k] = va.clone()
        else:
            out[k] = lerp(va, vb.to(va.device, va.dtype), t)
    return out


# ----------------------------------------------------------------------------
# Saving


def _frame_images(frames) -> list[Image.Image]:
    """frames: [n, 3, H, W] or [n, B, 3, H, W] (B images stacked vertically per frame), or a
    sequence of [3, H, W] tensors; values in [-1, 1]."""
    if isinstance(frames, torch.Tensor):
        if frames.ndim == 5:
            frames = torch.cat(list(frames.unbind(1)), dim=-2)  # [n, 3, B*H, W]
        if frames.ndim != 4:
            raise ValueError(f"frames must be [n, 3, H, W] or [n, B, 3, H, W], got {list(frames.shape)}")
        frames = list(frames)
    if not frames:
        raise ValueError("no frames to save")
    return [to_pil(f) for f in frames]


def save_gif(frames, path: str | os.PathLike, duration_ms: int = 100, loop: int = 0, boomerang: bool = False) -> Path:
    """Animated GIF of the frames (atomic write). boomerang=True plays forward then back."""
    imgs = _frame_images(frames)
    if boomerang and len(imgs) > 2:
        imgs = imgs + imgs[-2:0:-1]
    with atomic_path(path) as tmp:
        imgs[0].save(tmp, format="GIF", save_all=True, append_images=imgs[1:], duration=duration_ms, loop=loop)
    return Path(path)


def save_strip(frames, path: str | os.PathLike, pad: int = 0) -> Path:
    """The frames side by side in one image (format from the file suffix; atomic write)."""
    imgs = _frame_images(frames)
    w, h = imgs[0].size
    strip = Image.new("RGB", (len(imgs) * w + (len(imgs) - 1) * pad, h), (255, 255, 255))
    for i, im in enumerate(imgs):
        strip.paste(im.convert("RGB"), (i * (w + pad), 0))
    fmt = Image.registered_extensions().get(Path(path).suffix.lower(), "PNG")
    with atomic_path(path) as tmp:
        strip.save(tmp, format=fmt)
    return Path(path)


__all__ = (
    "lerp",
    "slerp",
    "interpolate_latents",
    "interpolate_weights",
    "save_gif",
    "save_strip",
    "default_keep_from_a",
)
