"""GANSpace (Härkönen et al., NeurIPS 2020): principal directions of W, applied to any generator.

    comps = compute_ganspace(G_pretrained, n_samples=100_000, n_components=80)
    save_npz(comps, "ganspace_cat.npz")                      # GANSketching's weights/ganspace_{obj}.npz format
    wplus = G_custom.make_wplus(G_custom.mapping(z))
    edited = apply_ganspace(wplus, comps, comp_id=27, scalar=50, layers=(2, 4))

The directions are PCA components of w = mapping(z) for z ~ N(0, I), computed on the *pretrained*
mapping network and applied to the codes of a customized (fine-tuned) generator, as GANSketching's
`ganspace.py` does with the published npz files.

Format (reference spec §1.8): keys `lat_comp` (unit-norm directions, [K, 1, D] in GANSpace/GANSketching
files, [K, D] accepted), `lat_mean` ([1, D] or [D]) and `lat_stdev` ([K], the standard deviation of
w along each direction). In memory: lat_comp [K, D], lat_mean [D], lat_stdev [K] float32 tensors.

Edit rule (GANSketching ganspace.py): rows l_start..l_end of W+ get comp · scalar · stdev added; the
range is *inclusive* (`--layers 2,4` edits rows 2, 3 and 4). The reference hard-codes 18 rows; here
the range is clipped to the code's n_latent (14 at 256 px). The reference then synthesizes with
truncation ψ = 0.5 towards the mean latent, applied after the shift (so the visible shift is halved);
`ganspace_edit` reproduces that order.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..io import atomic_path
from .inversion import fixed_noise


def compute_ganspace(G, n_samples: int = 100_000, n_components: int = 80, seed: int = 0, batch: int = 8192) -> dict:
    """PCA of W: {"lat_comp" [K, D], "lat_mean" [D], "lat_stdev" [K]}, K = min(n_components, D, n_samples - 1).

    PCA by eigendecomposition (torch.linalg.eigh) of the float64 covariance of w = mapping(z) over
    n_samples seeded z ~ N(0, I), accumulated in batches. Components are orthonormal rows sorted by
    decreasing variance; each one's sign is fixed so its largest-magnitude entry is positive (PCA
    signs are otherwise arbitrary). lat_stdev[k] is the
    standard deviation (ddof 1) of the samples' projections on component k.
    """
    if n_samples < 2:
        raise ValueError(f"n_samples must be >= 2, got {n_samples}")
    gen = torch.Generator().manual_seed(seed)
    dev = next(G.parameters()).device
    D = G.style_dim
    total, gram = torch.zeros(D, dtype=torch.float64), torch.zeros(D, D, dtype=torch.float64)
    with torch.no_grad():  # streamed sums in float64: memory O(D^2) whatever n_samples is
        for i in range(0, n_samples, batch):
            z = torch.randn(min(batch, n_samples - i), D, generator=gen).to(dev)
            w = G.mapping(z).double().cpu()  # [b, D]
            total += w.sum(0)
            gram += w.T @ w
    mean = total / n_samples
    cov = (gram - n_samples * torch.outer(mean, mean)) / (n_samples - 1)
    evals, evecs = torch.linalg.eigh(cov)  # ascending
    k = min(n_components, D, n_samples - 1)
    comp = evecs.flip(1)[:, :k].T  # [K, D], decreasing variance
    idx = comp.abs().argmax(1, keepdim=True)
    comp = comp * comp.gather(1, idx).sign()
    stdev = evals.flip(0)[:k].clamp_min(0).sqrt()
    return {"lat_comp": comp.float(), "lat_mean": mean.float(), "lat_stdev": stdev.float()}


def save_npz(comps: dict, path: str | os.PathLike) -> Path:
    """Write GANSketching's layout: lat_comp [K, 1, D], lat_mean [1, D], lat_stdev [K] (float32)."""
    c = _checked({k: torch.as_tensor(v) for k, v in comps.items()}, str(path))
    arrays = {
        "lat_comp": c["lat_comp"][:, None].cpu().numpy().astype(np.float32),
        "lat_mean": c["lat_mean"][None].cpu().numpy().astype(np.float32),
        "lat_stdev": c["lat_stdev"].cpu().numpy().astype(np.float32),
    }
    with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a file object: np.savez would append ".npz"
        np.savez(f, **arrays)
    return Path(path)


def load_npz(path: str | os.PathLike) -> dict:
    """Read a GANSpace npz (GANSketching's weights/ganspace_{obj}.npz or save_npz output) into
    {"lat_comp" [K, D], "lat_mean" [D], "lat_stdev" [K]}; other keys in the file are ignored."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: GANSpace file not found")
    with np.load(path, allow_pickle=False) as data:
        missing = [k for k in ("lat_comp", "lat_mean", "lat_stdev") if k not in data.files]
        if missing:
            raise ValueError(f"{path}: not a GANSpace file, missing {', '.join(missing)} (has {sorted(data.files)})")
        raw = {
            k: torch.from_numpy(np.asarray(data[k], dtype=np.float32)) for k in ("lat_comp", "lat_mean", "lat_stdev")
        }
    return _checked(raw, str(path))


def _checked(c: dict, where: str) -> dict:
    missing = [k for k in ("lat_comp", "lat_mean", "lat_stdev") if k not in c]
    if missing:
        raise ValueError(f"{where}: GANSpace components need lat_comp, lat_mean and lat_stdev; missing {missing}")
    comp, mean, std = c["lat_comp"].float(), c["lat_mean"].float(), c["lat_stdev"].float()
    if comp.ndim == 3 and comp.shape[1] == 1:
        comp = comp[:, 0]
    if mean.ndim == 2 and mean.shape[0] == 1:
        mean = mean[0]
    std = std.reshape(-1)
    if comp.ndim != 2 or mean.ndim != 1 or comp.shape[1] != mean.shape[0] or std.shape[0] != comp.shape[0]:
        raise ValueError(
            f"{where}: inconsistent GANSpace shapes: lat_comp {list(c['lat_comp'].shape)} "
            f"(want [K, 1, D] or [K, D]), lat_mean {list(c['lat_mean'].shape)} (want [1, D] or [D]), "
            f"lat_stdev {list(c['lat_stdev'].shape)} (want [K])"
        )
    return {"lat_comp": comp, "lat_mean": mean, "lat_stdev": std}


def apply_ganspace(
    wplus: torch.Tensor, comps: dict, comp_id: int, scalar: float, layers: tuple[int, int] = (0, 10_000)
) -> torch.Tensor:
    """Return a copy of wplus [B, L, D] with lat_comp[comp_id] · scalar · lat_stdev[comp_id] added to
    rows l_start..l_end *inclusive* (GANSketching's `range(l_start, l_end + 1)`), the range clipped to
    [0, L - 1]. A range entirely outside the code raises ValueError. scalar = 0 returns wplus unchanged.
    """
    c = _checked(comps, "comps")
    if wplus.ndim != 3:
        raise ValueError(f"wplus must be [B, n_latent, D] (Generator.make_wplus), got {list(wplus.shape)}")
    K, D = c["lat_comp"].shape
    if wplus.shape[-1] != D:
        raise ValueError(f"components have dimension {D}, the code {wplus.shape[-1]}")
    if not -K <= comp_id < K:
        raise ValueError(f"comp_id {comp_id} out of range: {K} components")
    l_start, l_end = layers
    L = wplus.shape[1]
    lo, hi = max(0, l_start), min(l_end, L - 1)
    if lo > hi:
        raise ValueError(f"layers {l_start}..{l_end} select no row of a W+ code with {L} rows")
    shift = (c["lat_comp"][comp_id] * (scalar * c["lat_stdev"][comp_id])).to(wplus)
    out = wplus.clone()
    out[:, lo : hi + 1] = out[:, lo : hi + 1] + shift
    return out


@torch.no_grad()
def ganspace_edit(
    G,
    w: torch.Tensor,
    comps: dict,
    comp_id: int,
    scalar: float,
    layers: tuple[int, int],
    truncation: float = 0.5,
    truncation_latent: torch.Tensor | None = None,
    noise=None,
):
    """GANSketching's order of operations: w [B, D] (or W+) -> W+ -> shift rows -> truncate towards
    truncation_latent (default G.mean_latent(4096)) -> image [B, 3, H, W]. noise None -> stored noise."""
    wplus = w if w.ndim == 3 else G.make_wplus(w, input_is_latent=True)
    wplus = apply_ganspace(wplus, comps, comp_id, scalar, layers)
    if truncation < 1:
        if truncation_latent is None:
            truncation_latent = G.mean_latent(4096, generator=torch.Generator().manual_seed(0))
        wplus = truncation_latent + truncation * (wplus - truncation_latent)
    return G.synthesis(wplus, noise=fixed_noise(G, noise))
