"""Perceptual path length (Karras et al. 2019, StyleGAN §4.2), with GANSketching's protocol.

GANSketching `eval/ppl.py` (rosinality's `ppl.py`): for `ppl_samples` pairs z_0, z_1 ~ N(0, I),
w_i = mapping(z_i); end-point sampling (t = 0): w_a = lerp(w_0, w_1, t), w_b = lerp(w_0, w_1, t + eps),
eps = 1e-4, both synthesized with the same noise;

    ppl = mean over pairs of d(G(w_a), G(w_b)) / eps^2,

after dropping the values outside the 1st-99th percentile. d is LPIPS with VGG-16 (the `lpips`
package, as the reference) for photographs; in the toy world, where no VGG knows the images, the
stand-in is the squared distance of the oracle's unit-normalized features (`ppl_distance:
toy-oracle`), labelled as such in the provenance. Images above 256 px are area-resized to 256 first,
as the reference does. Needs the generator: EvalContext.sampler (the evaluate stage loads it).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from . import EvalContext, register_metric

EPS = 1e-4


def toy_oracle_distance(oracle):
    """(x, y) in [-1, 1] -> [B]: ||f(x)/|f(x)| - f(y)/|f(y)|||^2 with the oracle's penultimate features."""

    def d(x, y):
        return (F.normalize(oracle.embed(x), dim=1) - F.normalize(oracle.embed(y), dim=1)).pow(2).sum(1)

    return d


def distance_for(ctx: EvalContext):
    if ctx.ppl_distance == "toy-oracle":
        from ..world.data import load_oracle

        if ctx.world_oracle is None:
            raise ValueError("ppl_distance toy-oracle needs the toy world's oracle (assets.source: toy)")
        return toy_oracle_distance(load_oracle(ctx.world_oracle, ctx.world_size).to(ctx.device))
    from ..editing.projector import lpips_vgg

    return lpips_vgg(ctx.device, ctx.torch_hub_dir)


@torch.no_grad()
def path_lengths(
    sampler, distance, n: int, batch: int = 25, eps: float = EPS, seed: int = 0, device="cpu"
) -> np.ndarray:
    """Per-pair d(G(w_a), G(w_b)) / eps^2 [n] (end-point sampling in W, one noise per pair)."""
    G = sampler.G
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(0, n, batch):
        b = min(batch, n - i)
        w = G.mapping(torch.randn(2 * b, G.style_dim, generator=g).to(device))  # [2b, D]
        w0, w1 = w[:b], w[b:]
        wa, wb = w0, torch.lerp(w0, w1, eps)  # t = 0 and t + eps
        noise = [torch.randn(b, *n_.shape[1:], generator=g).to(device) for n_ in G.stored_noise()]
        codes = None
        if sampler.content is not None:
            zc = torch.randn(b, sampler.content.content_dim, generator=g).to(device)
            codes = sampler.content.content_codes(zc, G.n_latent)
        imgs = [G.synthesis(G.make_wplus(x, input_is_latent=True), noise=noise, content=codes) for x in (wa, wb)]
        if imgs[0].shape[-1] > 256:
            imgs = [F.interpolate(x, size=(256, 256), mode="area") for x in imgs]
        out.append((distance(*imgs) / eps**2).float().cpu())
    return torch.cat(out).numpy()


def filtered_mean(lengths: np.ndarray) -> float:
    """Mean of the values within the 1st-99th percentile (GANSketching / rosinality ppl.py)."""
    lo, hi = np.percentile(lengths, 1, method="lower"), np.percentile(lengths, 99, method="higher")
    return float(np.extract(np.logical_and(lengths >= lo, lengths <= hi), lengths).mean())


@register_metric("ppl", key="ppl")
def ppl_metric(ctx: EvalContext, names: list[str]) -> tuple[dict[str, float], dict]:
    if ctx.sampler is None:
        raise ValueError("ppl needs the generator: EvalContext.sampler is None")
    lengths = path_lengths(ctx.sampler, distance_for(ctx), ctx.ppl_samples, seed=ctx.seed, device=ctx.device)
    prov = {
        "n_pairs": int(ctx.ppl_samples),
        "eps": EPS,
        "sampling": "end",
        "space": "w",
        "distance": (
            "toy-oracle: squared distance of unit-normalized oracle features (a stand-in for LPIPS)"
            if ctx.ppl_distance == "toy-oracle"
            else "LPIPS VGG-16 (lpips package)"
        ),
        "filter": "1st-99th percentile",
        "comparable_to_published": ctx.ppl_distance == "lpips-vgg" and ctx.ppl_samples == 50000,
    }
    return {"ppl": filtered_mean(lengths)}, prov
