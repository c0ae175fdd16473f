"""A tiny experiment for tests: the demo's code paths at 32 px with a few steps."""

import io
import zipfile
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]

TINY = {
    "experiment": "demo",  # the random-weight machinery check; the toy world has its own tests
    "experiments.demo.size": 32,
    "experiments.demo.generator": {"style_dim": 32, "n_mlp": 2, "channel_base": 256, "channel_max": 32, "lr_mlp": 0.01},
    "experiments.demo.demo_data": {"n_sketches": 4, "n_photos": 8, "n_eval": 16},
    "experiments.demo.train": {"iters": 8, "batch": 2, "ckpt_every": 2, "log_every": 1, "device": "cpu"},
    "experiments.demo.eval.n_samples": 16,
    "experiments.demo.eval.kid_subset_size": 8,
    "experiments.demo.eval.batch": 8,
    # Every editing tool, a few steps each, on the baseline (the e2e projects have syog blocks only).
    "experiments.demo.editing": {
        "generators": ["syog"],
        "n_images": 2,
        "latent_opt": {"steps": 3},
        "mapper": {"steps": 3},
        "global_directions": {"n_images": 1, "stats_n": 200},
        "inversion": {"steps": 3, "restarts": 1},
        "interpolation": {"frames": 3, "weights_with": None},
        "scribble": {"steps": 3},
        "ganspace": {"n_samples": 200, "n_components": 4, "comp_id": 1, "scalar": 1.0, "layers": [1, 2]},
    },
}


# Smaller still, for unit tests that build the networks themselves (no pipeline run): 16 px.
UNIT16 = {
    "experiment": "demo",
    "experiments.demo.size": 16,
    "experiments.demo.generator.channel_base": 128,
    "experiments.demo.generator.channel_max": 16,
    "experiments.demo.generator.style_dim": 16,
    "experiments.demo.generator.n_mlp": 2,
    "experiments.demo.train.batch": 2,
    "experiments.demo.train.device": "cpu",
}


def apply(raw: dict, overrides: dict) -> dict:
    for key, value in overrides.items():
        node = raw
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return raw


def write_tiny_params(path: Path, extra: dict | None = None, methods: dict | None = None) -> Path:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    apply(raw, {**TINY, **(extra or {})})
    if methods is not None:
        raw["methods"] = methods
        # a per-block override of a block dropped here goes with the block, as the studio does
        for exp in raw["experiments"].values():
            mo = exp.get("method_overrides") or {}
            for name in [n for n, v in mo.items() if isinstance(v, dict) and n not in methods]:
                del mo[name]
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


class FakeData:
    """What the trainer hands a method: random sketches [B,1,S,S] and photos [B,3,S,S] in [-1, 1]."""

    def __init__(self, size: int):
        self.size = size
        self.calls = {"sketches": 0, "photos": 0}

    def sketches(self, batch):
        self.calls["sketches"] += 1
        return torch.rand(batch, 1, self.size, self.size) * 2 - 1

    def photos(self, batch):
        self.calls["photos"] += 1
        return torch.rand(batch, 3, self.size, self.size) * 2 - 1


def make_zip(members: dict) -> bytes:
    """A zip archive in memory; member names are taken verbatim (tests build hostile ones too)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data, zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def set_noise_strength(G, strength: float = 1.0):
    """Make generator G's noise inputs matter, in place: a fresh StyleGAN2's noise strengths start at
    0, so a test of which noise maps are used needs them set (a trained G has them non-zero)."""
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("noise.weight"):
                p.fill_(strength)
    return G


def noisy_copy(G, strength: float = 1.0):
    """A copy of generator G whose noise inputs matter (`set_noise_strength`)."""
    import copy

    return set_noise_strength(copy.deepcopy(G), strength)


# NADA's direction step on one pinned batch (tests/test_methods_training.py, tests/test_toy_steering.py)


def fixed_direction_batch(method, batch=4, seed=0):
    """Pin the direction step's w and noise to one batch, so losses before and after compare."""
    g = torch.Generator().manual_seed(seed)
    G = method.nets.G
    with torch.no_grad():
        w = method.G_frozen.mapping(torch.randn(batch, G.style_dim, generator=g))
    noise = method.random_noise(batch)
    draw_w, draw_noise = method.direction_w, method.noise_pair  # layer selection keeps its own batch
    method.direction_w = lambda b: w if b == batch else draw_w(b)
    method.noise_pair = lambda b: (noise, noise) if b == batch else draw_noise(b)
    return w, noise


def direction_loss_on(method, w, noise, text_dir=None):
    from pipeline.losses.clip import directional_loss

    G = method.nets.G
    wplus = w[:, None].expand(-1, G.n_latent, -1)
    with torch.no_grad():
        return directional_loss(
            method.guide.encode(G.synthesis(wplus, noise=noise)),
            method.guide.encode(method.G_frozen.synthesis(wplus, noise=noise)),
            method.text_dir if text_dir is None else text_dir,
        ).item()


class RunsCode:
    """Unpickling this calls os.system to create `marker`: what a malicious checkpoint looks like.
    `pickle.loads(pickle.dumps(RunsCode(m)))` really creates m (the control a refusal test needs)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch '{self.marker}'",)
