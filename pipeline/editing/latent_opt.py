"""StyleCLIP latent optimization (Patashnik et al., ICCV 2021, §4): edit one W+ code toward a prompt.

    w* = argmin_w  [1 - cos(E_I(G(w)), E_T(t))]  +  lambda_l2 * ||w - w_s||^2  +  lambda_id * L_ID(w)

Reference: orpatashnik/StyleCLIP `optimization/run_optimization.py` (reference spec §4.1).
Defaults follow its edit mode: Adam, lr 0.1 with a cosine rampdown over the last 25% of the
steps and a linear rampup over the first 5% (`lr_schedule`), 300 steps, lambda_l2 0.008 on the
*squared sum* ||w - w_s||^2 (not a mean), lambda_id 0, fixed noise (their randomize_noise=False).

Identity term. StyleCLIP's L_ID is 1 - cos of ArcFace features, a face-recognition network that
means nothing on cats, horses or churches. Here it is domain-agnostic:

    L_ID(w) = 1 - cos(E_I(G(w)), E_I(G(w_s)))        E_I = the same CLIP image encoder

i.e. "stay the same image as far as CLIP can tell". It reuses the image embedding the CLIP loss
already computes, so it costs one extra render (of the start image) per call, not per step. It
pulls against the text term in CLIP's own embedding space, which is weaker than a separate
identity network; raise lambda_id (e.g. 0.1-0.5) when edits drift.

Differences from the reference, all deliberate: CLIP's mean/std normalisation is applied
(`CLIP.preprocess`; StyleCLIP skips it, their issue #38), and a batch of B codes is optimized at
once with each term averaged over the batch (the L2 term is a squared sum per sample), which for
B = 1 is the reference objective.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..losses.clip import global_loss

# StyleCLIP tokenizes the bare prompt for its optimization and mapper losses; pass
# templates=IMAGENET_TEMPLATES (pipeline.nets.clip) for the 79-template average the rest of the
# project (metrics, NADA losses) uses.
PLAIN_PROMPT = ("{}",)


def lr_schedule(t: float, lr: float, rampdown: float = 0.25, rampup: float = 0.05) -> float:
    """StyleCLIP's `get_lr`: lr(t) = lr * (0.5 - 0.5 cos(pi * min(1, (1 - t) / rampdown))) * min(1, t / rampup).

    t = step / steps in [0, 1]. Zero at t = 0 (so the first Adam step does not move w) and at t = 1.
    """
    ramp = min(1.0, (1.0 - t) / rampdown)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    ramp = ramp * min(1.0, t / rampup)
    return lr * ramp


def identity_loss(image_emb: torch.Tensor, start_emb: torch.Tensor) -> torch.Tensor:
    """Domain-agnostic identity term: mean_b [1 - cos(E_I(x_b), E_I(x_start_b))], embeddings [B, D]."""
    return (1 - F.cosine_similarity(image_emb, start_emb, dim=-1)).mean()


def prompt_embedding(clip, prompt, templates=PLAIN_PROMPT) -> torch.Tensor:
    """A prompt string (embedded with `clip.embed_prompt(prompt, templates)`) or a ready
    embedding [D] -> unit-length text embedding [D] on CLIP's device."""
    if isinstance(prompt, torch.Tensor):
        e = prompt.reshape(-1).to(clip.device)
        return e / e.norm().clamp_min(1e-12)
    return clip.embed_prompt(prompt, templates)


def _as_wplus(G, w: torch.Tensor) -> torch.Tensor:
    if w.ndim == 2:  # [B, D] w -> [B, n_latent, D]
        w = w[:, None].expand(-1, G.n_latent, -1)
    if w.ndim != 3 or w.shape[1:] != (G.n_latent, G.style_dim):
        raise ValueError(
            f"w_start must be [B, {G.n_latent}, {G.style_dim}] (or [B, {G.style_dim}]), got {list(w.shape)}"
        )
    return w


# ----------------------------------------------------------------------------


def latent_optimization(
    G,
    clip,
    prompt,
    w_start: torch.Tensor,
    steps: int = 300,
    lr: float = 0.1,
    lambda_l2: float = 0.008,
    lambda_id: float = 0.0,
    noise=None,
    progress: bool = False,
    templates=PLAIN_PROMPT,
    callback: Callable[[int, torch.Tensor], None] | None = None,
):
    """Optimize a W+ code toward `prompt`; G and CLIP stay frozen (no gradients reach them).

    G:         pipeline.nets.stylegan2.Generator (any: pretrained or fine-tuned)
    clip:      pipeline.nets.clip.CLIP
    prompt:    text (embedded with `templates`, StyleCLIP's bare prompt by default) or an embedding [D]
    w_start:   start code w_s [B, n_latent, D] (a [B, D] w is broadcast to every row)
    steps:     Adam steps (reference 300; the StyleCLIP notebook uses 40)
    lr:        peak learning rate of `lr_schedule`
    lambda_l2: weight of ||w - w_s||^2, squared sum over rows and dims, averaged over the batch
    lambda_id: weight of the CLIP-embedding identity term (see the module docstring)
    noise:     list of num_layers noise tensors, fixed for every step; None -> G's stored noise
    progress:  print the losses about ten times along the way
    callback:  optional f(step, w) after each step (e.g. to save intermediate images)

    Returns (w_final [B, n_latent, D] detached, history), history[i] = {"step", "lr", "loss",
    "clip", "l2", "id"} evaluated at the code *before* step i's update (as the reference logs).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    w_start = _as_wplus(G, w_start).detach()
    noise = list(noise) if noise is not None else G.stored_noise()
    text = prompt_embedding(clip, prompt, templates).to(w_start)
    with torch.no_grad():
        start_emb = clip.encode_image(G.synthesis(w_start, noise=noise))  # [B, D] identity anchor

    w = w_start.clone().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=lr)
    history = []
    every = max(1, steps // 10)
    for i in range(steps):
        cur_lr = lr_schedule(i / steps, lr)
        for group in opt.param_groups:
            group["lr"] = cur_lr
        with torch.enable_grad():
            emb = clip.encode_image(G.synthesis(w, noise=noise))
            l_clip = global_loss(emb, text)
            l_l2 = (w - w_start).pow(2).flatten(1).sum(1).mean()
            l_id = identity_loss(emb, start_emb)
            loss = l_clip + lambda_l2 * l_l2 + lambda_id * l_id
            # autograd.grad, not backward(): nothing accumulates in G's or CLIP's .grad.
            (grad,) = torch.autograd.grad(loss, [w])
        w.grad = grad
        opt.step()
        history.append(
            {"step": i, "lr": cur_lr, "loss": loss.item(), "clip": l_clip.item(), "l2": l_l2.item(), "id": l_id.item()}
        )
        if callback is not None:
            callback(i, w.detach())
        if progress and (i % every == 0 or i == steps - 1):
            h = history[-1]
            print(
                f"latent_opt {i + 1}/{steps} lr {cur_lr:.4f} loss {h['loss']:.4f} clip {h['clip']:.4f} "
                f"l2 {h['l2']:.4f} id {h['id']:.4f}",
                flush=True,
            )
    return w.detach(), history
