"""Loss-curve charts for the report, drawn by matplotlib as SVG and embedded as data URIs.

matplotlib is used through its object API (a `Figure` with the SVG canvas), never pyplot, so no
global state and no display is involved. The SVG is made reproducible: no creation date, fixed
element ids (`svg.hashsalt`), text kept as text (`svg.fonttype: none`, small and searchable).
An SVG data URI keeps the page self-contained: nothing is fetched, and the namespace URLs inside the
SVG (which browsers never fetch) stay out of the page's own text.
"""

from __future__ import annotations

import base64
import csv
import io
import math
from pathlib import Path

MAX_SERIES = 8  # losses per chart; more would be unreadable
MAX_POINTS = 400  # per series; longer histories are subsampled evenly


def read_history(path: Path) -> dict[str, list[tuple[float, float]]]:
    """A loss history -> {loss: [(step, value), ...]}, skipping empty and non-numeric cells.

    path: a CSV (step + one column per loss; sweep chains and the library's default) or a DVCLive
    folder (the fine-tune stage: plots/metrics/train/<loss>.tsv with columns step and <loss>).
    """
    if Path(path).is_dir():
        series = {}
        for tsv in sorted((Path(path) / "plots" / "metrics").rglob("*.tsv")):
            series.update(_read_columns(tsv, "\t", names={tsv.stem}))
        return series
    return _read_columns(Path(path), ",")


def _read_columns(path: Path, delimiter: str, names: set | None = None) -> dict[str, list[tuple[float, float]]]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        if not reader.fieldnames or "step" not in reader.fieldnames:
            raise ValueError(f"{path}: a loss history needs a 'step' column, has {reader.fieldnames}")
        cols = [c for c in reader.fieldnames if c != "step" and (names is None or c in names)]
        series = {c: [] for c in cols}
        for row in reader:
            try:
                step = float(row["step"])
            except (TypeError, ValueError):
                continue
            for c in cols:
                try:
                    v = float(row[c])
                except (TypeError, ValueError):
                    continue
                if math.isfinite(v):
                    series[c].append((step, v))
    return {c: pts for c, pts in series.items() if pts}


def subsample(pts: list, n: int = MAX_POINTS) -> list:
    if len(pts) <= n:
        return pts
    idx = sorted({round(i * (len(pts) - 1) / (n - 1)) for i in range(n)})
    return [pts[i] for i in idx]


def loss_chart(history: Path) -> dict | None:
    """{"uri": data:image/svg+xml;base64,..., "series": [names]} for the losses in a history (CSV or
    DVCLive folder, see read_history), or
    None when it holds no values. Axes: training step (x) and loss value (y), with a legend."""
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    series = read_history(history)
    if not series:
        return None
    names = list(series)[:MAX_SERIES]
    # rc_context: the SVG settings apply to this chart only, matplotlib's global rcParams stay as they are
    with matplotlib.rc_context({"svg.hashsalt": "report", "svg.fonttype": "none"}):
        fig = Figure(figsize=(5.2, 2.9), dpi=100)
        FigureCanvasSVG(fig)
        ax = fig.add_subplot()
        for name in names:
            xs, ys = zip(*subsample(series[name]))
            ax.plot(xs, ys, linewidth=1.2, label=f"{name} (last {ys[-1]:.3g})")
        ax.set_xlabel("training step")
        ax.set_ylabel("loss")
        ax.grid(True, color="#e5e5e5", linewidth=0.6)
        ax.tick_params(labelsize=8)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue().encode("utf-8")
    return {"uri": "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii"), "series": names}
