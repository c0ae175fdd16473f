"""StyleCLIP global directions (Patashnik et al., ICCV 2021, §6): text -> one direction in style space S.

Style space S is the list of per-layer modulation vectors s_l = A_l(w_row(l)) [B, C_l] that scale
the input channels of every modulated convolution (`Generator.wplus_to_s`, `style_layers()` order;
`Generator.synthesis(None, noise, s=...)` renders from it). An edit is

    s' = s + alpha * ds,   ds_c = std_c * R_c / max|R|  where |R_c| >= beta, else 0
    R_c = di_c . dt        (relevance of channel c to the text direction dt)

    di_c  (once per generator): normalize( mean_images normalize( E_I(G(s[c := mu_c + 5 sigma_c]))
                                                                - E_I(G(s[c := mu_c - 5 sigma_c])) ) )
    dt    (per prompt pair):    normalize( E_T(target) - E_T(neutral) ), each the normalized mean
                                over the 79 ImageNet templates

Reference: orpatashnik/StyleCLIP `global_directions/{GetCode,SingleChannel,MapTS}.py` (reference
spec §4.3): 100 images, alpha_sigma 5, ToRGB layers excluded, beta 0.15 and alpha 4.1 in the
notebook (beta sliders 0.08-0.3, alpha -10..10). Every list here is aligned with
`G.style_layers()`; layers whose relevance was not measured (ToRGB, or not in `layers`) carry
zero relevance rows, so they never move.

Cost: channel relevance renders 2 x n_images images per measured channel (plus one CLIP image
encoding each): sum_l C_l x 2 x n_images renders. For a 256 px LSUN generator (about 4,000
non-ToRGB channels) at 100 images that is ~800,000 renders, hours on one GPU, which is why the
result is cached per generator (`cache_path`). Tiny test generators take well under a second.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from ..io import atomic_path
from ..losses.clip import text_direction as _direction
from ..nets.clip import IMAGENET_TEMPLATES

CACHE_FORMAT = 1


# ----------------------------------------------------------------------------
# Style space helpers


def torgb_layers(G) -> list[int]:
    """Indices (into `G.style_layers()`) of the ToRGB modulations: the convs without demodulation."""
    return [i for i, (_, conv) in enumerate(G.style_layers()) if not conv.demodulate]


def default_layers(G) -> list[int]:
    """The style layers whose channels get a relevance: every non-ToRGB layer (StyleCLIP additionally
    stops at 128 px on its 1024 px face model to save time; pass `layers` to do the same)."""
    rgb = set(torgb_layers(G))
    return [i for i in range(len(G.style_layers())) if i not in rgb]


@torch.no_grad()
def style_stats(G, n: int = 100_000, seed: int = 0, batch: int = 1000):
    """Per-channel mean and std of S over n codes w = mapping(z), z ~ N(0, I) (StyleCLIP GetCode: 100k).

    Returns (mean, std): lists aligned with `G.style_layers()`, each [C_l] float32 on G's device.
    std is the population std (numpy's default, as the reference computes it).
    """
    if n < 2:
        raise ValueError(f"style_stats needs n >= 2, got {n}")
    device = G.input.input.device
    g = torch.Generator().manual_seed(seed)
    s1 = s2 = None
    done = 0
    while done < n:
        b = min(batch, n - done)
        w = G.mapping(torch.randn(b, G.style_dim, generator=g).to(device))
        s = G.wplus_to_s(w[:, None].expand(-1, G.n_latent, -1))
        if s1 is None:
            s1 = [torch.zeros(x.shape[1], dtype=torch.float64, device=device) for x in s]
            s2 = [torch.zeros_like(t) for t in s1]
        for a, q, x in zip(s1, s2, s):
            x = x.double()
            a += x.sum(0)
            q += x.pow(2).sum(0)
        done += b
    mean = [a / n for a in s1]
    std = [(q / n - m.pow(2)).clamp_min(0).sqrt() for q, m in zip(s2, mean)]
    return [m.float() for m in mean], [s.float() for s in std]


def module_digest(module: torch.nn.Module, extra=None) -> str:
    """sha256 over a module's state dict (names, dtypes, shapes, bytes) and optional JSON-able `extra`."""
    h = hashlib.sha256()
    if extra is not None:
        h.update(json.dumps(extra, sort_keys=True, default=str).encode())
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def generator_digest(G) -> str:
    """Identity of a generator for the relevance cache: its config and every weight and noise buffer
    (the renders use the stored noise, so a different noise is a different cache entry)."""
    cfg = G.cfg.to_dict() if hasattr(G, "cfg") else None
    return module_digest(G, extra={"config": cfg})


def render_s(G, s: list[torch.Tensor], noise) -> torch.Tensor:
    """Render style codes (list of [B, C_l]) with fixed noise -> images [B, 3, H, W]."""
    return G.synthesis(None, noise=noise, s=s)


# ----------------------------------------------------------------------------
# Channel relevance (SingleChannel)


def _cache_file(cache_path, key: str) -> Path:
    p = Path(cache_path)
    if p.is_dir() or p.suffix == "":
        return p / f"relevance-{key[:16]}.pt"
    return p


@torch.no_grad()
def channel_relevance(
    G,
    clip,
    n_images: int = 100,
    alpha_sigma: float = 5.0,
    seed: int = 0,
    layers=None,
    cache_path=None,
    stats=None,
    stats_n: int = 100_000,
    batch: int = 64,
    noise=None,
    progress: bool = False,
) -> list[torch.Tensor]:
    """Per-channel CLIP image directions di_c, measured once per generator (StyleCLIP SingleChannel).

    n_images:    W codes (z ~ N(0, I), seeded) the direction is averaged over (reference 100)
    alpha_sigma: the channel is set to mean +- alpha_sigma * std for the image pair (reference 5)
    layers:      indices into `G.style_layers()` to measure; None -> `default_layers(G)` (no ToRGB)
    cache_path:  a .pt file, or a folder (file relevance-<key>.pt); reused when its key matches the
                 generator digest, the CLIP digest and these settings, else recomputed and written
    stats:       (mean, std) from `style_stats`; None -> style_stats(G, stats_n, seed)
    batch:       images per render call (channels are grouped so that 2 x n_images x k <= batch)
    noise:       fixed noise for the renders; None -> G's stored noise

    Returns a list aligned with `G.style_layers()`: [C_l, D] tensors (float32, CPU), unit rows
    for measured layers, zeros for the others. Cost: 2 x n_images renders per measured channel.
    """
    all_layers = G.style_layers()
    layers = default_layers(G) if layers is None else sorted(set(int(i) for i in layers))
    if any(not 0 <= i < len(all_layers) for i in layers):
        raise ValueError(f"layers must index G.style_layers() (0..{len(all_layers) - 1}), got {layers}")
    if n_images < 1:
        raise ValueError(f"n_images must be >= 1, got {n_images}")

    cache = None
    if cache_path is not None:
        meta = {
            "format": CACHE_FORMAT,
            "generator": generator_digest(G),
            "clip": module_digest(clip.model),
            "clip_name": getattr(clip, "name", ""),
            "n_images": n_images,
            "alpha_sigma": float(alpha_sigma),
            "seed": seed,
            "layers": layers,
            "noise": "stored" if noise is None else _tensors_digest([list(noise)]),
            "stats": f"computed-{stats_n}" if stats is None else _tensors_digest(stats),
        }
        key = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()
        cache = _cache_file(cache_path, key)
        if cache.is_file():
            data = torch.load(cache, map_location="cpu", weights_only=True)
            if data.get("key") == key:
                return list(data["relevance"])

    device = G.input.input.device
    noise = list(noise) if noise is not None else G.stored_noise()
    mean, std = stats if stats is not None else style_stats(G, n=stats_n, seed=seed)
    g = torch.Generator().manual_seed(seed + 12345)  # other z than style_stats' first batch
    w = G.mapping(torch.randn(n_images, G.style_dim, generator=g).to(device))
    s0 = G.wplus_to_s(w[:, None].expand(-1, G.n_latent, -1))  # list of [n, C_l]

    out: list[torch.Tensor | None] = [None] * len(all_layers)
    k_max = max(1, batch // (2 * n_images))  # channels per render call
    for li in layers:
        C = s0[li].shape[1]
        rel = []
        for c0 in range(0, C, k_max):
            cs = torch.arange(c0, min(C, c0 + k_max), device=device)  # channels of this call
            k = len(cs)
            s = [t.repeat(2 * k, 1) for t in s0]  # blocks (c, +), (c, -), ... x n
            sign = torch.tensor([1.0, -1.0], device=device).repeat(k)  # [2k]: +, -, +, -, ...
            mu, sd = mean[li].to(device)[cs], std[li].to(device)[cs]
            vals = mu.repeat_interleave(2) + sign * alpha_sigma * sd.repeat_interleave(2)
            rows = torch.arange(2 * k * n_images, device=device)
            cols = cs.repeat_interleave(2 * n_images)
            s[li] = s[li].clone()
            s[li][rows, cols] = vals.repeat_interleave(n_images).to(s[li].dtype)
            emb = clip.encode_image(render_s(G, s, noise), normalize=True)  # [2k n, D]
            emb = emb.reshape(k, 2, n_images, -1)
            d = F.normalize(emb[:, 0] - emb[:, 1], dim=-1)  # [k, n, D]
            rel.append(F.normalize(d.mean(1), dim=-1).float().cpu())  # [k, D]
        out[li] = torch.cat(rel)
        if progress:
            print(f"channel_relevance: layer {li} ({C} channels) done", flush=True)
    dim = next(t for t in out if t is not None).shape[1]
    out = [t if t is not None else torch.zeros(s0[i].shape[1], dim) for i, t in enumerate(out)]

    if cache is not None:
        with atomic_path(cache) as tmp:
            torch.save({"key": key, "meta": meta, "relevance": out}, tmp)
    return out


def _tensors_digest(groups) -> str:
    h = hashlib.sha256()
    for group in groups:
        for t in group:
            t = t.detach().cpu().contiguous()
            h.update(f"{t.dtype}|{tuple(t.shape)}|".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


# ----------------------------------------------------------------------------
# Text direction and edit (MapTS)


def text_direction(clip, neutral: str, target: str, templates=IMAGENET_TEMPLATES) -> torch.Tensor:
    """dt = normalize(E_T(target) - E_T(neutral)) [D], each prompt averaged over the 79 templates
    (StyleCLIP `MapTS.GetDt`); e.g. neutral "a cat", target "a cat with blue eyes"."""
    return _direction(clip.embed_prompt(target, templates), clip.embed_prompt(neutral, templates))


def global_direction(
    relevance: list[torch.Tensor], dt: torch.Tensor, beta: float = 0.15, std: list[torch.Tensor] | None = None
) -> list[torch.Tensor]:
    """Style-space direction ds for a text direction (StyleCLIP `GetBoundary`, if_std=True).

    relevance: `channel_relevance` output, [C_l, D] per style layer
    dt:        text direction [D] (`text_direction`)
    beta:      disentanglement threshold: channels with |R_c| < beta are left alone; larger beta
               moves fewer channels (README: 10-20 suffice for colour, 100-200 for structure)
    std:       per-channel S std (`style_stats`); None leaves ds in units of max|R| (if_std=False)

    Returns ds: list of [C_l] tensors (on relevance's device), all zero when no channel passes beta.
    """
    dt = dt.reshape(-1)
    R = [r @ dt.to(r) for r in relevance]  # [C_l] each
    R = [torch.where(r.abs() < beta, torch.zeros_like(r), r) for r in R]
    peak = max((r.abs().max() for r in R if r.numel()), default=torch.tensor(0.0))
    if peak > 0:
        R = [r / peak for r in R]
    if std is not None:
        if len(std) != len(R):
            raise ValueError(f"std has {len(std)} layers, relevance {len(R)}")
        R = [r * sd.to(r) for r, sd in zip(R, std)]
    return R


def active_channels(delta: list[torch.Tensor]) -> int:
    """Number of channels a direction moves (the count StyleCLIP prints)."""
    return int(sum((d != 0).sum().item() for d in delta))


def apply_direction(s: list[torch.Tensor], delta: list[torch.Tensor], alpha: float) -> list[torch.Tensor]:
    """s' = s + alpha * ds, per layer ([B, C_l] + [C_l]); alpha = 0 gives s back exactly."""
    if len(s) != len(delta):
        raise ValueError(f"s has {len(s)} layers, delta {len(delta)}")
    return [x + alpha * d.to(x).reshape(1, -1) for x, d in zip(s, delta)]
