"""Do the samples look like the world's renders? The pixel distance to the nearest render of what the
oracle reads (toy world only; TOY-WORLD NUMBERS).

For a sample x the oracle reads pose, facing, fur colour and background; the renderer then draws
RENDER_BANK_M cats with exactly those factors, each with its own continuous draw (position, scale,
proportions, the fur and background fields):

    d(x)          = min_m RMS(x - r_m)      RMS over the 3 x S x S pixel values in [-1, 1]
    render_dist   = median over samples of d(x)     (held-out renders: about 0.09; lower is better)
    render_fit    = fraction of samples with d(x) <= tau, tau the 95th percentile of d over
                    CALIBRATION_N held-out renders of the whole world (so renders score 0.95)
    pose_acc_fit / joint_acc_fit = fraction that fit and are read as the target pose / pose and colour

Why a second test beside `in_domain` (world.py): the oracle is trained to read the factors, so its
features, which FID and `in_domain` use, barely change when a figure is blurred into a wash or drawn
with a head at both ends. Measured on fixed-noise grids (docs/toy-world-measurements.md): a `syog`
run whose 32 samples are colour washes scored `in_domain` 0.28 against the pretrained grid's 0.09,
and the lowest oracle-feature FID of its run; d(x) puts the washes at a median 0.31 and the
pretrained samples at 0.14. It is a pixel test, dominated by the large areas (background, fur):
a figure drawn mirror-symmetric at half strength (0.94 fit) or blurred by 1 px (1.00) passes it,
where `in_domain` fails them (0.00, 0.84); the two are complements (tests/test_render_fit.py).
"""

from __future__ import annotations

import torch

from . import EvalContext, register_metric

RENDER_BANK_M = 64  # renders per factor combination (256 gives the same ranking, distances ~0.01 lower)
CALIBRATION_N = 256  # held-out renders that set tau
CALIBRATION_QUANTILE = 0.95
CALIBRATION_SEED_STREAM = 14  # the world.py reference streams are 11-13
BANK_SEED_STREAM = 15


class RenderBank:
    """RENDER_BANK_M renders per (pose, facing, colour, background), drawn on first use, seeded by
    the evaluation seed and the combination (the same bank whatever the samples ask for first)."""

    def __init__(self, size: int, seed: int, m: int = RENDER_BANK_M):
        self.size, self.seed, self.m = size, seed, m
        self._banks: dict[tuple[int, int, int, int], torch.Tensor] = {}

    def get(self, combo: tuple[int, int, int, int]) -> torch.Tensor:
        """[M, 3, S, S] renders of one combination (indices into POSES, FACINGS, COLOUR_NAMES, BACKGROUND_NAMES)."""
        if combo not in self._banks:
            from ..world.render import BACKGROUND_NAMES, COLOUR_NAMES, FACINGS, Factors, render

            p, f, c, b = combo
            index = ((p * len(FACINGS) + f) * len(COLOUR_NAMES) + c) * len(BACKGROUND_NAMES) + b
            full = lambda v: torch.full((self.m,), v, dtype=torch.long)  # noqa: E731
            seed = (self.seed * 100 + BANK_SEED_STREAM) * 1000 + index
            self._banks[combo] = render(Factors(full(p), full(f), full(c), full(b), seed=seed), self.size)[0]
        return self._banks[combo]


@torch.no_grad()
def nearest_render_distance(images: torch.Tensor, reads: dict, bank: RenderBank) -> torch.Tensor:
    """d(x) [N] for images [N, 3, S, S] in [-1, 1]; reads: the oracle's {pose, facing, colour, background} [N]."""
    out = torch.empty(len(images))
    for i, x in enumerate(images):
        combo = tuple(int(reads[k][i]) for k in ("pose", "facing", "colour", "background"))
        out[i] = (bank.get(combo) - x[None]).pow(2).flatten(1).mean(1).sqrt().min()
    return out


def calibration_threshold(oracle, bank: RenderBank, size: int, seed: int) -> tuple[float, float]:
    """(tau, the renders' median d): d of CALIBRATION_N held-out renders of the whole world, read
    by the oracle as the samples are."""
    from ..world.render import render, sample_factors

    renders = render(sample_factors(CALIBRATION_N, seed * 100 + CALIBRATION_SEED_STREAM), size)[0]
    d = nearest_render_distance(renders, oracle.predict(renders), bank)
    return float(d.quantile(CALIBRATION_QUANTILE)), float(d.median())


RENDER_FIT_METRICS = ("render_dist", "render_fit", "pose_acc_fit", "joint_acc_fit")


@register_metric(*RENDER_FIT_METRICS, key="render_fit")
def render_fit_metrics(ctx: EvalContext, names: list[str]) -> tuple[dict[str, float], dict]:
    from .world import world_samples

    oracle, files, fakes, reads, pose_ok, colour_ok = world_samples(ctx, "render_dist / render_fit")
    bank = RenderBank(ctx.world_size, ctx.seed)
    d = nearest_render_distance(fakes, reads, bank)
    tau, renders_median = calibration_threshold(oracle, bank, ctx.world_size, ctx.seed)
    fit = d <= tau
    values = {
        "render_dist": float(d.median()),
        "render_fit": fit.float().mean().item(),
        "pose_acc_fit": (fit & pose_ok).float().mean().item(),
        "joint_acc_fit": (fit & pose_ok & colour_ok).float().mean().item(),
    }
    provenance = {
        "toy_world": True,
        "bank_per_combination": bank.m,
        "calibration": {
            "n": CALIBRATION_N,
            "quantile": CALIBRATION_QUANTILE,
            "tau": round(tau, 5),
            "renders_median": round(renders_median, 5),
        },
        "n_samples": len(files),
        "distance": "RMS over pixel values in [-1, 1] to the nearest render of the factors the oracle reads",
    }
    return {k: v for k, v in values.items() if k in names}, provenance
