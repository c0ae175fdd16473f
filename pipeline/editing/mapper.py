"""StyleCLIP latent mapper (Patashnik et al., ICCV 2021, §5): a per-prompt network, then one-pass edits.

    w' = w + 0.1 * M(w),   M = LevelsMapper: three independent MLPs for the coarse, medium and fine
                           W+ rows (each PixelNorm + 4 x EqualLinear(D, D, lr_mul 0.01, leaky ReLU))
    L  = lambda_clip * [1 - cos(E_I(G(w')), E_T(t))] + lambda_l2 * MSE(w', w) + lambda_id * L_ID(w', w)

Reference: orpatashnik/StyleCLIP `mapper/latent_mappers.py`, `mapper/training/coach.py`
(reference spec §4.2). Defaults there: lambdas 1.0 / 0.8 / 0.1, batch 2, 50,000 steps, groups
rows 0-3 / 4-7 / 8-17 of a 1024 px generator; `use` drops groups like their --no_*_mapper flags
(the README suggests dropping "fine" for edits that should keep colours).

Choices that differ from the reference, and why:
  * Optimizer: Adam, lr 0.25 by default. StyleCLIP trains with Ranger (RAdam + Lookahead) at lr
    0.5, which is not among this project's dependencies. After RAdam's warm-up its steps are
    Adam's; Lookahead (alpha 0.5, k 6) then moves the slow weights about half as far as the inner
    optimizer, so Adam at half of Ranger's lr takes steps of a similar size. With lr_mul 0.01 the
    stored weights are ~N(0, 100^2), so a step of 0.25 changes them by ~0.25%: no warm-up needed.
  * Identity term: 1 - cos of CLIP image embeddings of G(w') and G(w) (`latent_opt.identity_loss`)
    instead of ArcFace, which only knows faces; this project edits cats, horses and churches.
  * PixelNorm normalizes each W+ row over its D features. StyleCLIP applies rosinality's PixelNorm
    (mean over dim 1) to [B, rows, D] tensors, i.e. across the rows of a group, which reads as an
    accident; we train mappers from scratch, so there is no checkpoint to stay compatible with.
  * The bare prompt is embedded (as StyleCLIP does) unless `templates` says otherwise, and CLIP's
    input normalisation is applied (see `latent_opt`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..losses.clip import global_loss
from ..nets.layers import EqualLinear
from ..nets.stylegan2 import PixelNorm
from .latent_opt import PLAIN_PROMPT, identity_loss, prompt_embedding

GROUPS = ("coarse", "medium", "fine")
RESIDUAL_SCALE = 0.1  # w' = w + 0.1 * M(w), StyleCLIP's mapper step


class Mapper(nn.Module):
    """PixelNorm + n_layers x EqualLinear(D, D, lr_mul 0.01, fused leaky ReLU): [N, D] -> [N, D]."""

    def __init__(self, style_dim: int, n_layers: int = 4, lr_mul: float = 0.01):
        super().__init__()
        self.net = nn.Sequential(
            PixelNorm(), *[EqualLinear(style_dim, style_dim, lr_mul=lr_mul, activation=True) for _ in range(n_layers)]
        )

    def zero_last(self) -> Mapper:
        """Zero the last layer's weight and bias: the output is then exactly 0 (lrelu(0) = 0)."""
        last = self.net[-1]
        with torch.no_grad():
            last.weight.zero_()
            last.bias.zero_()
        return self

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return self.net(w)


class LevelsMapper(nn.Module):
    """Three independent `Mapper`s over row groups of W+ [B, n_latent, D] -> residual [B, n_latent, D].

    n_latent, style_dim: the generator's (G.n_latent, G.style_dim)
    coarse / medium / fine: row ranges (start, stop), stop None = n_latent; ranges are clipped to
                 n_latent, so a small generator may have an empty "fine" group
    use:         groups whose mapper is applied; rows outside the used groups get a zero residual
                 (an empty group gets no mapper)
    zero_init:   zero each mapper's last layer, so the untrained mapper is an exact identity edit
    """

    def __init__(
        self,
        n_latent: int,
        style_dim: int,
        coarse=(0, 4),
        medium=(4, 8),
        fine=(8, None),
        use=GROUPS,
        zero_init: bool = False,
    ):
        super().__init__()
        use = (use,) if isinstance(use, str) else tuple(use)
        unknown = set(use) - set(GROUPS)
        if unknown or not use:
            raise ValueError(f"use must be a non-empty subset of {GROUPS}, got {use}")
        self.n_latent, self.style_dim, self.use = n_latent, style_dim, use
        self.ranges: dict[str, tuple[int, int]] = {}
        for name, (start, stop) in zip(GROUPS, (coarse, medium, fine)):
            stop = n_latent if stop is None else min(stop, n_latent)
            start = min(start, n_latent)
            if start < 0 or stop < start:
                raise ValueError(f"{name} rows must be 0 <= start <= stop, got ({start}, {stop})")
            self.ranges[name] = (start, stop)
        taken = [r for name in use for r in range(*self.ranges[name])]
        if len(taken) != len(set(taken)):
            raise ValueError(f"row groups overlap: {self.ranges}")
        # A group with no rows (e.g. "fine" on a 32 px generator's 8 rows) gets no mapper at all.
        self.mappers = nn.ModuleDict(
            {name: Mapper(style_dim) for name in use if self.ranges[name][1] > self.ranges[name][0]}
        )
        if not self.mappers:
            raise ValueError(f"the used groups {use} cover no W+ rows of {n_latent}: {self.ranges}")
        if zero_init:
            for m in self.mappers.values():
                m.zero_last()

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        """W+ [B, n_latent, D] -> M(w) [B, n_latent, D] (zero outside the used groups)."""
        if w.ndim != 3 or w.shape[1:] != (self.n_latent, self.style_dim):
            raise ValueError(f"expected W+ [B, {self.n_latent}, {self.style_dim}], got {list(w.shape)}")
        out = torch.zeros_like(w)
        for name, mapper in self.mappers.items():
            a, b = self.ranges[name]
            rows = w[:, a:b]  # [B, r, D]
            out[:, a:b] = mapper(rows.reshape(-1, self.style_dim)).reshape(rows.shape)
        return out

    def edit(self, w: torch.Tensor) -> torch.Tensor:
        """w' = w + 0.1 * M(w): the edited W+ code, one forward pass."""
        return w + RESIDUAL_SCALE * self(w)


# ----------------------------------------------------------------------------


def wplus_sampler(
    G, truncation: float = 0.7, seed: int = 0, n_mean: int = 4096, device: str | torch.device | None = None
) -> Callable[[int], torch.Tensor]:
    """Training codes when no inverted latents are at hand: f(batch) -> W+ [batch, n_latent, D]
    from z ~ N(0, I) through the mapping at truncation psi (StyleCLIP's fallback: psi 0.7 around
    the mean latent). Seeded: the same seed gives the same sequence of batches."""
    device = device or G.input.input.device
    g = torch.Generator().manual_seed(seed)
    center = G.mean_latent(n_mean, generator=torch.Generator().manual_seed(seed + 1)).to(device)

    @torch.no_grad()
    def sample(batch: int) -> torch.Tensor:
        z = torch.randn(batch, G.style_dim, generator=g).to(device)
        return G.make_wplus([z], truncation=truncation, truncation_latent=center)

    return sample


def train_mapper(
    G,
    clip,
    prompt,
    w_sampler: Callable[[int], torch.Tensor],
    steps: int,
    batch: int = 2,
    lr: float = 0.25,
    lambda_clip: float = 1.0,
    lambda_l2: float = 0.8,
    lambda_id: float = 0.1,
    mapper: LevelsMapper | None = None,
    use=GROUPS,
    noise=None,
    templates=PLAIN_PROMPT,
    progress: bool = False,
):
    """Train a LevelsMapper for one prompt; G and CLIP stay frozen.

    prompt:    text (embedded with `templates`) or a text embedding [D]
    w_sampler: f(batch) -> W+ codes [batch, n_latent, D] to edit (inverted images, or `wplus_sampler`)
    steps:     optimizer steps (reference 50,000; the CLIP loss tends to plateau, StyleCLIP issue #63)
    lr:        Adam learning rate (see the module docstring for why not Ranger at 0.5)
    mapper:    a mapper to continue training; None builds LevelsMapper(G.n_latent, G.style_dim, use=use)
    noise:     fixed noise for every render; None -> G's stored noise (reference randomize_noise=False)

    Returns (mapper, history), history[i] = {"step", "loss", "clip", "l2", "id"} for step i's batch.
    """
    device = G.input.input.device
    if mapper is None:
        mapper = LevelsMapper(G.n_latent, G.style_dim, use=use)
    mapper = mapper.to(device).train()
    noise = list(noise) if noise is not None else G.stored_noise()
    text = prompt_embedding(clip, prompt, templates)
    params = [p for p in mapper.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    history = []
    every = max(1, steps // 10)
    for i in range(steps):
        w = w_sampler(batch).to(device).detach()
        with torch.no_grad():
            src_emb = clip.encode_image(G.synthesis(w, noise=noise))
        with torch.enable_grad():
            w_hat = mapper.edit(w)
            emb = clip.encode_image(G.synthesis(w_hat, noise=noise))
            l_clip = global_loss(emb, text.to(emb))
            l_l2 = (w_hat - w).pow(2).mean()
            l_id = identity_loss(emb, src_emb)
            loss = lambda_clip * l_clip + lambda_l2 * l_l2 + lambda_id * l_id
            # Only the mapper's parameters get gradients; G and CLIP .grad stay untouched.
            grads = torch.autograd.grad(loss, params)
        for p, gp in zip(params, grads):
            p.grad = gp
        opt.step()
        history.append({"step": i, "loss": loss.item(), "clip": l_clip.item(), "l2": l_l2.item(), "id": l_id.item()})
        if progress and (i % every == 0 or i == steps - 1):
            h = history[-1]
            print(
                f"mapper {i + 1}/{steps} loss {h['loss']:.4f} clip {h['clip']:.4f} l2 {h['l2']:.5f} id {h['id']:.4f}",
                flush=True,
            )
    return mapper.eval(), history
