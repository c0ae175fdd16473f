"""The studio's results: its experiments as `dvc exp show` lists them, files read at each one's revision.

Every studio run is an ordinary DVC experiment named `studio-...`; its outputs live in DVC's cache
and are read with dvc.api at the experiment's revision, so nothing needs `dvc exp apply` and the
workspace is never touched.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

PREFIX = "studio-"


@dataclass
class Result:
    name: str
    rev: str
    created: str | None
    params: dict  # the dotted params keys the studio sets, as `dvc exp show` reports them
    metrics: dict  # reports/metrics.json: {row: {metric: value}}


def experiments(root: Path) -> list[Result]:
    import dvc.api

    out = []
    for row in dvc.api.exp_show(repo=str(root)):
        name = row.get("Experiment") or ""
        if not name.startswith(PREFIX) or row.get("State") in ("Queued", "Running"):
            continue
        try:
            metrics = json.loads(read_bytes(root, row["rev"], "reports/metrics.json"))
        except Exception:  # a failed experiment has no report
            metrics = {}
        out.append(Result(name, row["rev"], str(row.get("Created") or ""), row, metrics))
    return sorted(out, key=lambda r: r.created or "", reverse=True)


def read_bytes(root: Path, rev: str, path: str) -> bytes:
    import dvc.api

    return dvc.api.read(path, repo=str(root), rev=rev, mode="rb")


def read_image(root: Path, rev: str, path: str) -> Image.Image | None:
    try:
        return Image.open(io.BytesIO(read_bytes(root, rev, path))).convert("RGB")
    except Exception:
        return None


TABLE_METRICS = ("pose_acc", "colour_acc", "joint_acc", "fid_target", "fid_prior", "fid")
TABLE_HEADERS = ["experiment", "prompt", "method", *TABLE_METRICS]


def param(result: Result, dotted: str):
    """A params value as `dvc exp show` lists it (column names may carry a `params.yaml:` prefix)."""
    for key, value in result.params.items():
        if key == dotted or key.endswith(":" + dotted):
            return value
    return None


def exp_param(result: Result, key: str):
    """A key of the experiment block the run used: experiments.<its `experiment`>.<key>."""
    return param(result, f"experiments.{param(result, 'experiment')}.{key}")


def table_rows(results: list[Result]) -> list[list]:
    """One row per experiment and method (the pretrained row included): prompt and metrics."""
    rows = []
    for r in results:
        prompt = exp_param(r, "target_prompt")
        for method, values in r.metrics.items():
            if isinstance(values, dict):
                rows.append([r.name, prompt, method, *(values.get(k) for k in TABLE_METRICS)])
    return rows


def sketch_dir(result: Result) -> str | None:
    return exp_param(result, "assets.sketch_dir")


def toy_columns(result: Result) -> list[tuple[str, str, float | None]]:
    """(row, metric, value) for the toy world's accuracies: what the results table shows first."""
    rows = []
    for row, values in result.metrics.items():
        if isinstance(values, dict):
            for key in ("pose_acc", "colour_acc", "joint_acc", "fid_target"):
                if key in values:
                    rows.append((row, key, values[key]))
    return rows
