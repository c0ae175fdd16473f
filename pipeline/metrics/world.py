"""Ground-truth metrics of the toy world, and its oracle as a torch-fidelity feature extractor.

The oracle (pipeline/world/oracle.py) reads pose, facing, fur colour and background back from
every generated sample, so "did the generator learn the sketched pose?" and "did it turn pink?"
are measured against ground truth (TOY-WORLD NUMBERS: they measure the methods in this world,
not in the published setting):

    pose_acc    fraction of samples the oracle assigns to the target pose (the sketches' pose)
    colour_acc  fraction assigned to the target colour (the palette colour the prompt names)
    joint_acc   fraction with both
    fid_target  FID in oracle features against N renders of the target pose and colour
                (uniform backgrounds and facings): how close the samples are to what was asked for
    fid_prior   FID against N renders of the generator's training distribution: how much of the
                pretrained domain remains
    in_domain   fraction of samples inside the world's image manifold: k-NN precision (Kynkaanniemi
                et al. 2019, k = ctx.prc_neighborhood) of the samples' oracle features against
                WORLD_REFERENCE_N renders of the whole world (every pose, facing, colour and background,
                uniform). A sample counts when it lies within the distance to the k-th nearest
                neighbour of some render. The oracle reads a pose from any image, a blurred figure or a
                texture included; this says how many samples are drawings of a cat at all.
    pose_acc_in_domain / joint_acc_in_domain
                fraction of samples both in the domain and read as the target pose / pose and colour
    diversity   normalized entropy of the oracle's joint (background, facing) reading,
                H / log(|BACKGROUNDS| x |FACINGS|), in [0, 1]: the two factors no method targets,
                uniform in every training set of the world, so a generator that covers them reads
                about 1 (the committed one: 0.99) and one collapsed onto a few figures reads low.
                A mode-collapse measure with ground truth, where recall would need target renders.

FID = ||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2)) (Heusel et al. 2017), computed by
torch-fidelity from the oracle's penultimate features [N, 128]; N = the number of samples.

"toy-oracle" is registered with torch-fidelity, so the fid / kid / precision / recall metrics use
the oracle's features in the toy world, the role Inception plays for photographs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
import torch_fidelity
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

from . import EvalContext, list_images, load_images, register_metric

ORACLE_EXTRACTOR = "toy-oracle"
REFERENCE_SEED_STREAMS = {"target": 11, "prior": 12, "world": 13}
# The in_domain reference: 2,000 renders over the world's 240 factor combinations (held-out renders
# score 0.96 at k = 3). Below about 8 per combination a render's k-th neighbour can belong to another
# combination and its radius then covers the images between them (the pretrained generator: 0.89 at
# 500 renders, 0.20 at 2,000, 0.14 at 10,000; docs/toy-world-measurements.md).
WORLD_REFERENCE_N = 2000


class ToyOracleExtractor(torch_fidelity.FeatureExtractorBase):
    """uint8 [B, 3, H, W] -> the oracle's penultimate features [B, 128] (weights: feature_extractor_weights_path)."""

    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
        super().__init__(name, features_list)
        if feature_extractor_weights_path is None:
            raise ValueError(
                "toy-oracle needs the oracle's weights: set eval.feature_weights (data/world/oracle/oracle.pth)"
            )
        from ..world.data import load_oracle

        self.oracle = load_oracle(Path(feature_extractor_weights_path), 32)

    def forward(self, x):
        if not (torch.is_tensor(x) and x.dtype == torch.uint8 and x.dim() == 4 and x.shape[1] == 3):
            raise ValueError(f"toy-oracle expects uint8 [B,3,H,W], got {getattr(x, 'dtype', type(x))}")
        return (self.oracle.embed(x.float() / 127.5 - 1.0),)

    @staticmethod
    def get_provided_features_list():
        return ("128",)

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return "128"

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return torch.zeros(1, 3, 32, 32, dtype=torch.uint8)


if ORACLE_EXTRACTOR not in torch_fidelity.registry.FEATURE_EXTRACTORS_REGISTRY:
    torch_fidelity.register_feature_extractor(ORACLE_EXTRACTOR, ToyOracleExtractor)


def fid_from_features(a: torch.Tensor, b: torch.Tensor) -> float:
    """FID between two feature sets [N, D] (torch-fidelity's statistics and matrix square root)."""
    stat_a = fid_features_to_statistics(a.double())
    stat_b = fid_features_to_statistics(b.double())
    return float(fid_statistics_to_metric(stat_a, stat_b, False)[torch_fidelity.KEY_METRIC_FID])


def reference_renders(
    kind: str, n: int, size: int, seed: int, target_pose: str, target_colour: str, prior: dict
) -> torch.Tensor:
    """n renders [n, 3, S, S]: 'target' (the target pose and colour) or 'prior' (the training distribution)."""
    from ..world.render import render, sample_factors

    s = seed * 100 + REFERENCE_SEED_STREAMS[kind]
    f = (
        sample_factors(n, s, pose={target_pose: 1.0}, colour={target_colour: 1.0})
        if kind == "target"
        else sample_factors(n, s, **prior)
    )
    return render(f, size)[0]


@torch.no_grad()
def inside_manifold(feats: torch.Tensor, ref: torch.Tensor, k: int) -> torch.Tensor:
    """[N] bool: feats [N, D] inside the k-NN manifold of ref [M, D] (Kynkaanniemi et al. 2019):
    ||f - r|| <= the distance from r to its k-th nearest neighbour in ref, for some r.
    The mean is torch-fidelity's precision(feats, ref); the per-sample flags make the *_in_domain rates."""
    radii = torch.cdist(ref, ref).kthvalue(k + 1, dim=1).values  # [M]; +1: r is its own nearest
    return (torch.cdist(feats, ref) <= radii[None, :]).any(dim=1)


def embed_all(oracle, images: torch.Tensor, batch: int = 256) -> torch.Tensor:
    return torch.cat([oracle.embed(images[i : i + batch]) for i in range(0, len(images), batch)])


def reference_features(ctx: EvalContext, oracle, kind: str, n: int) -> torch.Tensor:
    """The oracle's features [n, 128] of `reference_renders(kind, n, ...)` for this evaluation.

    Every method's evaluation draws the same references (they depend on the seed and the targets, not
    on the samples), so with ctx.cache_dir set they are computed once and kept there, named by a digest
    of everything they depend on: kind, n, size, seed, targets, prior, the oracle's weights and the
    renderer's source (a changed renderer or oracle gets new files, never stale ones). About 4 s per
    evaluation on a 2-core CPU, mostly the 2,000 renders of the in_domain reference."""
    from ..nets.checkpoint import file_digest, save_atomic
    from ..world import render as render_module

    target = (ctx.target_pose, ctx.target_colour) if kind == "target" else ("", "")
    prior = ctx.prior_distribution if kind == "prior" else {}
    if ctx.cache_dir is None:
        return embed_all(oracle, reference_renders(kind, n, ctx.world_size, ctx.seed, *target, prior))
    key = {
        "kind": kind, "n": n, "size": ctx.world_size, "seed": ctx.seed, "target": target, "prior": prior,
        "oracle": file_digest(ctx.world_oracle), "renderer": file_digest(render_module.__file__),
    }  # fmt: skip
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(ctx.cache_dir) / f"world-{kind}-{digest}.pt"
    if path.is_file():
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except (RuntimeError, EOFError):  # unreadable (e.g. truncated by a disk error): recompute, replace
            pass
    feats = embed_all(oracle, reference_renders(kind, n, ctx.world_size, ctx.seed, *target, prior))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_atomic(feats, path)
    return feats


WORLD_METRICS = (
    "pose_acc", "colour_acc", "joint_acc", "fid_target", "fid_prior",
    "in_domain", "pose_acc_in_domain", "joint_acc_in_domain", "diversity",
)  # fmt: skip


def normalized_entropy(labels: torch.Tensor, k: int) -> float:
    """H(p) / log(k) of the empirical distribution of `labels` [N] over k classes: 1 when uniform,
    0 when every label is the same."""
    p = torch.bincount(labels, minlength=k).double() / len(labels)
    p = p[p > 0]
    return float(-(p * p.log()).sum() / torch.log(torch.tensor(float(k), dtype=torch.float64)))


def world_samples(ctx: EvalContext, what: str):
    """(oracle, sample files, samples [N, 3, S, S] in [-1, 1], the oracle's reads {factor: [N]},
    pose_ok [N], colour_ok [N]) for a toy-world metric; `what` names the metrics in the error."""
    from ..world.data import load_oracle
    from ..world.render import COLOUR_NAMES, POSES

    if ctx.world_oracle is None or ctx.target_pose is None or ctx.target_colour is None:
        raise ValueError(
            f"{what} need the oracle, the target pose and the target colour (experiments with assets.source: toy)"
        )
    oracle = load_oracle(ctx.world_oracle, ctx.world_size)
    files = list_images(ctx.fakes_dir, "generated-samples folder (evaluate fakes_dir)")
    fakes = load_images(files, "RGB", (ctx.world_size, ctx.world_size))
    reads = oracle.predict(fakes)
    pose_ok = reads["pose"] == POSES.index(ctx.target_pose)
    colour_ok = reads["colour"] == COLOUR_NAMES.index(ctx.target_colour)
    return oracle, files, fakes, reads, pose_ok, colour_ok


@register_metric(*WORLD_METRICS, key="world")
def world_metrics(ctx: EvalContext, names: list[str]) -> tuple[dict[str, float], dict]:
    from ..world.render import BACKGROUND_NAMES, COLOUR_NAMES, FACINGS, POSES

    oracle, files, fakes, pred, pose_ok, colour_ok = world_samples(ctx, "the toy-world metrics")
    values = {
        "pose_acc": pose_ok.float().mean().item(),
        "colour_acc": colour_ok.float().mean().item(),
        "joint_acc": (pose_ok & colour_ok).float().mean().item(),
    }
    # [N] index of the (background, facing) pair: the factors no prompt or sketch asks for
    looks = pred["background"] * len(FACINGS) + pred["facing"]
    values["diversity"] = normalized_entropy(looks, len(BACKGROUND_NAMES) * len(FACINGS))
    n = len(files)
    feats = embed_all(oracle, fakes)
    refs = {}
    if {"in_domain", "pose_acc_in_domain", "joint_acc_in_domain"} & set(names):
        world = reference_features(ctx, oracle, "world", WORLD_REFERENCE_N)
        inside = inside_manifold(feats, world, ctx.prc_neighborhood)
        values["in_domain"] = inside.float().mean().item()
        values["pose_acc_in_domain"] = (inside & pose_ok).float().mean().item()
        values["joint_acc_in_domain"] = (inside & pose_ok & colour_ok).float().mean().item()
        refs["world"] = {
            "n": WORLD_REFERENCE_N,
            "seed_stream": REFERENCE_SEED_STREAMS["world"],
            "k": ctx.prc_neighborhood,
        }
    for kind in ("target", "prior"):
        if f"fid_{kind}" in names:
            values[f"fid_{kind}"] = fid_from_features(feats, reference_features(ctx, oracle, kind, n))
            refs[kind] = {"n": n, "seed_stream": REFERENCE_SEED_STREAMS[kind]}
    histogram = {
        factor: {name: int((pred[factor] == i).sum()) for i, name in enumerate(names_)}
        for factor, names_ in (
            ("pose", POSES),
            ("colour", COLOUR_NAMES),
            ("background", BACKGROUND_NAMES),
            ("facing", FACINGS),
        )
    }
    provenance = {
        "toy_world": True,
        "oracle": str(ctx.world_oracle),
        "target_pose": ctx.target_pose,
        "target_colour": ctx.target_colour,
        "n_samples": n,
        "oracle_reads": histogram,
        "references": refs,
        "prior_distribution": ctx.prior_distribution,
        "fid_features": "oracle penultimate layer, 128-d",
    }
    return {k: v for k, v in values.items() if k in names}, provenance
