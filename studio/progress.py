"""A running studio job's progress, read from DVCLive's files in DVC's temporary workspace.

`dvc exp run --temp` runs the pipeline in .dvc/tmp/exps/standalone/tmp<random>/; each fine-tune there writes
data/finetune/<method>/live/ (stages/live.py): metrics.json (the step and the latest losses),
plots/metrics/train/<loss>.tsv and plots/images/preview/<step>.png. One job runs at a time, so the
newest workspace created after the job started is the job's.
"""

from __future__ import annotations

import csv
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

STAGE_LINE = re.compile(r"Running stage '([^']+)'")


@dataclass
class Progress:
    stage: str | None = None  # the DVC stage running now, from the log
    method: str | None = None  # the method being fine-tuned
    step: int = 0
    total: int = 0
    eta_s: float | None = None
    losses: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    preview: Path | None = None  # the newest preview grid
    preview_step: int | None = None


# Where `dvc exp run --temp` makes its workspace: .dvc/tmp/exps/standalone/tmp<random>/ (the pinned
# DVC 3, dvc/repo/experiments/queue/tempdir.py `_STANDALONE_TMP_DIR`).
def workspace(root: Path, since: float) -> Path | None:
    base = Path(root, ".dvc", "tmp", "exps", "standalone")
    if not base.is_dir():
        return None
    dirs = [d for d in base.iterdir() if d.is_dir() and d.name.startswith("tmp") and d.stat().st_mtime >= since - 1]
    return max(dirs, key=lambda d: d.stat().st_mtime, default=None)


def read_tsv(path: Path) -> list[tuple[int, float]]:
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
    except OSError:
        return []
    name = path.stem
    out = []
    for r in rows:  # a row being written may be cut short: skip what does not parse
        try:
            out.append((int(r["step"]), float(r[name])))
        except (KeyError, TypeError, ValueError):
            continue
    return out


def read_progress(root: Path, job: dict, iters: int, log_text: str = "") -> Progress:
    p = Progress(total=iters)
    stages = STAGE_LINE.findall(log_text)
    p.stage = stages[-1] if stages else None
    ws = workspace(root, job["started"])
    if ws is None:
        return p
    lives = [d for d in (ws / "data" / "finetune").glob("*/live") if (d / "metrics.json").is_file()]
    if not lives:
        return p
    live = max(lives, key=lambda d: (d / "metrics.json").stat().st_mtime)
    p.method = live.parent.name
    try:
        summary = json.loads((live / "metrics.json").read_text())
        p.step = int(summary.get("step", 0)) + 1
    except (OSError, ValueError):
        pass
    for tsv in sorted((live / "plots" / "metrics").rglob("*.tsv")):
        p.losses[tsv.stem] = read_tsv(tsv)
    previews = sorted((live / "plots" / "images" / "preview").glob("*.png"))
    if previews:
        p.preview, p.preview_step = previews[-1], int(previews[-1].stem)
    started = live.stat().st_ctime
    elapsed = time.time() - started
    if p.step > 0 and iters:
        p.eta_s = max(0.0, elapsed / p.step * (iters - p.step))
    return p
