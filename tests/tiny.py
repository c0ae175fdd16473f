"""A tiny experiment for tests: the demo's code paths at 32 px with a few steps."""
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

TINY = {
    "experiments.demo.size": 32,
    "experiments.demo.generator": {"style_dim": 32, "n_mlp": 2, "channel_base": 256, "channel_max": 32,
                                   "lr_mlp": 0.01},
    "experiments.demo.demo_data": {"n_sketches": 4, "n_photos": 8, "n_eval": 16},
    "experiments.demo.train": {"iters": 8, "batch": 2, "ckpt_every": 2, "log_every": 1, "device": "cpu"},
    "experiments.demo.eval.n_samples": 16,
    "experiments.demo.eval.kid_subset_size": 8,
    "experiments.demo.eval.batch": 8,
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
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path
