"""The aggregated comparison report: one self-contained HTML page, a Markdown summary, flat metrics.

`write_report` writes, under `out_dir` (normally `reports/`):
  index.html    self-contained: inline CSS, images and the loss charts (matplotlib SVG,
                pipeline/report_charts.py) as base64 data URIs; no scripts, nothing fetched
Both pages come from Jinja2 templates (pipeline/templates/report.html.j2, summary.md.j2); this
module builds the values they show (one context for both, so the two always carry the same tables).
  summary.md    the metrics table in Markdown, grids referenced as relative copies `grids/<name>.png`
  metrics.json  {method: {metric: number}} for `dvc metrics show`; only finite numbers
  grids/*.png   copies of the grids that summary.md references
Both pages carry the sweep table when a sweep ran (`sweep`: the record the `sweep` stage writes to
reports/sweep.json, pipeline.sweep.sweep_record): mean ± std over seeds per method and prompt; and
the deviation switches' measured effect (`deviations`: a list of the same records, one per
schedule, committed in docs/deviations_toy*.json by benchmarks/deviations_toy.py; toy-world numbers).
Every file is written atomically (temporary file in the same folder + os.replace), so a crashed
or interrupted report stage never leaves half a page behind.
"""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from .io import write_bytes
from .metrics.sketch_fidelity import DEFINITION as SKETCH_CHAMFER_DEFINITION

DEMO_BANNER = "DEMO NUMBERS — tiny random networks, not comparable to published results"
TOY_BANNER = (
    "TOY WORLD — trained tiny networks on drawn cats; these numbers measure the methods in this "
    "world, not in the published setting"
)
LEGEND = (
    "↓ lower is better, ↑ higher is better; the best value per column is highlighted. Columns without "
    "an arrow (spreads, clip_score_source) have no better side."
)
TOY_METRICS = (
    "pose_acc, colour_acc, joint_acc: the fraction of samples the oracle reads as the target pose / colour / "
    "both; fid_target: FID in oracle features against renders of the target pose and colour; fid_prior: "
    "against the generator's training distribution; in_domain: the fraction of samples inside the world's image "
    "manifold (k-NN precision in oracle features against renders of every pose, colour and background: a "
    "blurred figure or a texture is outside, whatever pose the oracle reads in it); pose_acc_in_domain, "
    "joint_acc_in_domain: in the domain and in the target pose / pose and colour. render_dist: the median pixel "
    "distance (RMS, values in [-1, 1]) of a sample to the nearest of 64 renders of the factors the oracle reads "
    "from it (the world's renders: about 0.09); render_fit: the fraction within the distance 95 % of held-out "
    "renders reach; pose_acc_fit, joint_acc_fit: fitting and in the target pose / pose and colour. The oracle's "
    "features barely change when a figure is washed into colour smears, the pixels do: what a person sees in "
    "the grids is render_fit, not in_domain. diversity: the normalized entropy of the (background, facing) the "
    "oracle reads, factors no method targets (1: spread over all; low: collapsed onto a few figures)."
)


@dataclass
class MethodResult:
    name: str  # method key, e.g. "nada"
    description: str = ""  # one line shown under the name
    grid_png: Path | None = None  # fixed-noise sample grid after fine-tuning
    metrics: dict = field(default_factory=dict)  # flat {metric: value}
    provenance: dict = field(default_factory=dict)  # as returned by pipeline.metrics.compute_metrics
    history: Path | None = None  # the loss history: a CSV or a DVCLive folder (report_charts.read_history)
    selection: dict | None = None  # the fine-tune's selection.json: which iteration was exported


# ----------------------------------------------------------------------------
# Small utilities


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def metric_direction(name: str) -> str | None:
    """'lower' / 'higher' is better, or None where no direction applies (spreads, context scores)."""
    n = name.lower()
    if n.endswith(("_std", "_median")) or n == "fid_prior":  # fid_prior: how much of the prior remains
        return None
    if n in (
        "pose_acc", "colour_acc", "joint_acc", "in_domain", "pose_acc_in_domain", "joint_acc_in_domain",
        "render_fit", "pose_acc_fit", "joint_acc_fit", "diversity",
    ):  # fmt: skip
        return "higher"
    if n == "render_dist":
        return "lower"
    if n.startswith(("fid", "kid")) or "chamfer" in n:
        return "lower"
    if n.startswith(("precision", "recall", "clip_score_target")):
        return "higher"
    return None  # e.g. clip_score_source: how much of the source domain remains, no "better" side


def _fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, float) and not math.isfinite(v):
        return "n/a"
    if not _is_number(v):
        return str(v)
    return f"{v:.4g}"


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "method"


def _data_uri(png: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(png).read_bytes()).decode("ascii")


def _columns(methods: list[MethodResult]) -> list[str]:
    return list(dict.fromkeys(k for m in methods for k in m.metrics))


def _best_value(vals: list, direction: str | None):
    """The best of the numbers `vals`, or None: no direction, fewer than two, or a tie across every
    row (e.g. joint_acc 0 everywhere), where nothing stands out."""
    vals = [v for v in vals if _is_number(v)]
    if direction is None or len(vals) < 2 or min(vals) == max(vals):
        return None
    return min(vals) if direction == "lower" else max(vals)


def _best(methods: list[MethodResult], col: str):
    return _best_value([m.metrics.get(col) for m in methods], metric_direction(col))


def _header(col: str) -> str:
    d = metric_direction(col)
    return col + {"lower": " ↓", "higher": " ↑"}.get(d, "")


# ----------------------------------------------------------------------------
# The sweep table (methods x prompts, mean ± std over seeds)

NO_SWEEP = "No sweep configured (`sweep.methods` is empty in params.yaml)."
NO_SWEEP_RESULTS = "No sweep results (reports/sweep.json not found; run `dvc repro sweep`)."


def _sweep_columns(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(k for r in rows for k in r["metrics"]))


def _sweep_cell(stat: dict | None) -> str:
    if not stat or not _is_number(stat.get("mean")):
        return "—"
    std = stat.get("std")
    return f"{_fmt(stat['mean'])} ± {_fmt(std)}" if _is_number(std) else f"{_fmt(stat['mean'])}"


def _sweep_best(rows: list[dict], col: str):
    return _best_value([r["metrics"].get(col, {}).get("mean") for r in rows], metric_direction(col))


def _sweep_is_best(row: dict, col: str, best) -> bool:
    v = row["metrics"].get(col, {}).get("mean")
    return best is not None and _is_number(v) and v == best


def sweep_note(sweep: dict | None) -> str | None:
    """The one line shown instead of the table, or None when there is a table."""
    if sweep is None:
        return NO_SWEEP_RESULTS
    if not sweep.get("configured") or not sweep.get("rows"):
        return NO_SWEEP
    return None


def _sweep_caption(sweep: dict) -> str:
    failed = [c for c in sweep.get("chains", []) if c.get("status") != "done"]
    text = (
        "Mean ± standard deviation (sample, ddof 1) over seeds; a single seed shows its value alone. "
        "seeds: finished chains / planned."
    )
    if failed:
        text += (
            f" {len(failed)} chain(s) not finished: "
            + ", ".join(f"{c['method']} seed {c['seed']} ({c['status']})" for c in failed)
            + "."
        )
    return text


def _comparability_lines(methods: list[MethodResult]) -> list[str]:
    lines = []
    for m in methods:
        fid_prov = m.provenance.get("fidelity") if isinstance(m.provenance, dict) else None
        if isinstance(fid_prov, dict) and "comparable_to_published" in fid_prov:
            ok = bool(fid_prov["comparable_to_published"])
            lines.append(
                f"{m.name}: FID protocol {'matches' if ok else 'does NOT match'} the published "
                f"GANSketching one (extractor {fid_prov.get('feature_extractor')}, resize "
                f"{fid_prov.get('resize')}, N fakes {fid_prov.get('n_fakes')})"
            )
    return lines


def _edit_caption(tool: str, info: dict) -> str:
    details = ", ".join(f"{k}={_fmt(v) if _is_number(v) else v}" for k, v in info.items() if k not in ("png", "gif"))
    return f"{tool}" + (f" ({details})" if details else "")


def clip_definition(methods: list[MethodResult]) -> str:
    """The CLIP score formula the runs used (from their provenance), or the default's."""
    from .metrics.clip_score import definition

    used = {m.provenance.get("clip_score", {}).get("formula") for m in methods if isinstance(m.provenance, dict)}
    used.discard(None)
    return "; ".join(sorted(used)) if used else definition()


def toy_reading(toy: dict) -> str:
    """One line: what the oracle reads from the input sketches, and the targets."""
    t = toy["targets"]
    votes = ", ".join(f"{pose} {n}" for pose, n in sorted(t["pose_votes"].items(), key=lambda kv: -kv[1]))
    colours = ", ".join(f"{m}: {c}" for m, c in toy.get("target_colours", {}).items())
    return (
        f"The oracle reads the input sketches as {votes} (of {sum(t['pose_votes'].values())}); target pose: "
        f"{t['target_pose']}. Target colour (named in each prompt): {colours}."
    )


def _md_escape(s: str) -> str:
    """Plain text inside Markdown: no table breaks, no raw HTML."""
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|").replace("\n", " ")


# ----------------------------------------------------------------------------
# The templates' context: one for both pages


def _table(methods: list[MethodResult]) -> dict:
    cols = _columns(methods)
    best = {c: _best(methods, c) for c in cols}

    def cell(v, col) -> dict:
        return {"text": _fmt(v), "best": best[col] is not None and _is_number(v) and v == best[col]}

    rows = [{"name": m.name, "cells": [cell(m.metrics.get(c), c) for c in cols]} for m in methods]
    return {"columns": [{"name": c, "header": _header(c)} for c in cols], "rows": rows}


def _sweep_context(sweep: dict | None) -> dict:
    note = sweep_note(sweep)
    if note:
        return {"note": note}
    rows = sweep["rows"]
    cols = _sweep_columns(rows)
    best = {c: _sweep_best(rows, c) for c in cols}
    return {
        "note": None,
        "columns": [{"name": c, "header": _header(c)} for c in cols],
        "rows": [
            {
                "method": r["method"],
                "prompt": r["prompt"],
                "seeds": f"{r['n_seeds']}/{r['n_planned']}",
                "cells": [
                    {"text": _sweep_cell(r["metrics"].get(c)), "best": _sweep_is_best(r, c, best[c])} for c in cols
                ],
            }
            for r in rows
        ],
        "caption": _sweep_caption(sweep),
    }


def _deviations_context(deviations: list[dict] | None) -> list[dict]:
    """The deviation switches' tables (benchmarks/deviations_toy.py), one per measured schedule."""
    return [{**_sweep_context(d), "note": d.get("note", "")} for d in deviations or [] if d and not sweep_note(d)]


def _image(png) -> str | None:
    return _data_uri(png) if png is not None and Path(png).is_file() else None


def selection_note(sel: dict | None) -> str:
    """One line: which iteration a method's numbers are of (pipeline/selection.py's record)."""
    if not sel:
        return ""
    last = sel["last_step"]
    if sel["policy"] != "best_fid" or not sel["scores"]:
        return f"Exported: the last iteration ({last})."
    steps = [s["step"] for s in sel["scores"]]
    return (
        f"Exported: iteration {sel['exported_step']} of {last}, the lowest FID against the evaluation set "
        f"({sel['exported_fid']:.2f} on {sel['n_samples']} samples) of {len(steps)} iterations evaluated "
        f"({steps[0]} to {steps[-1]}, every {sel['every']}); at the last iteration it was {sel['last_fid']:.2f}. "
        "GANSketching's selection: chosen on the set the FID is then reported on, so optimistic."
    )


def _method_context(m: MethodResult) -> dict:
    from .report_charts import loss_chart

    has_history = m.history is not None and Path(m.history).exists()
    chart = loss_chart(Path(m.history)) if has_history else None
    return {
        "name": m.name,
        "description": m.description,
        "selection": selection_note(m.selection),
        "grid": _image(m.grid_png),
        "chart": chart,
        "chart_note": "no loss values logged" if has_history else "no training history",
        "provenance": json.dumps(m.provenance, indent=2, sort_keys=True, default=str),
    }


def _md_cell(cell: dict) -> str:
    return f"**{cell['text']}**" if cell["best"] else cell["text"]


_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
    undefined=jinja2.StrictUndefined,  # a missing value is an error, not an empty cell
    keep_trailing_newline=True,
)
_ENV.filters["md"] = _md_escape
_ENV.filters["md_cell"] = _md_cell


def render_pages(
    methods: list[MethodResult],
    *,
    title,
    experiment,
    is_demo,
    settings,
    sketches_png=None,
    pretrained_grid_png=None,
    edits: dict | None = None,
    sweep: dict | None = None,
    deviations: list[dict] | None = None,
    toy: dict | None = None,
    grid_paths: dict[str, str] | None = None,
    extra_images: dict[str, str] | None = None,
    edit_images: dict[str, str] | None = None,
) -> tuple[str, str]:
    """(index.html, summary.md) from the templates. grid_paths / extra_images / edit_images: the
    Markdown page's relative copies ({label: "grids/x.png"})."""
    toy_ctx = None
    if toy:
        toy_ctx = {
            "paragraph": toy["paragraph"],
            "reading": toy_reading(toy),
            "per_sketch": list(toy["targets"].get("per_sketch", {}).items()),
        }
    grid_paths = grid_paths or {}
    methods_ctx = [{**_method_context(m), "grid_rel": grid_paths.get(m.name)} for m in methods]
    ctx = {
        "title": title,
        "experiment": str(experiment),
        "is_demo": is_demo,
        "toy": toy_ctx,
        "banner": DEMO_BANNER if is_demo else TOY_BANNER if toy else None,
        "DEMO_BANNER": DEMO_BANNER,
        "TOY_BANNER": TOY_BANNER,
        "LEGEND": LEGEND,
        "TOY_METRICS": TOY_METRICS,
        "table": _table(methods),
        "comparability": _comparability_lines(methods),
        "sweep": _sweep_context(sweep),
        "deviations": _deviations_context(deviations),
        "sketches": _image(sketches_png),
        "pretrained": _image(pretrained_grid_png),
        "methods": methods_ctx,
        "edits": [
            {
                "name": gen,
                "tools": [
                    {"name": tool, "caption": _edit_caption(tool, info), "image": _image(Path(info["png"]))}
                    for tool, info in tools.items()
                ],
            }
            for gen, tools in (edits or {}).items()
        ],
        "clip_definition": clip_definition(methods),
        "sketch_definition": SKETCH_CHAMFER_DEFINITION,
        "settings": json.dumps(settings, indent=2, sort_keys=True, default=str),
        "extra_images": list((extra_images or {}).items()),
        "edit_images": list((edit_images or {}).items()),
    }
    return _ENV.get_template("report.html.j2").render(ctx), _ENV.get_template("summary.md.j2").render(ctx)


# ----------------------------------------------------------------------------
# Entry point


def flat_metrics(methods: list[MethodResult]) -> dict[str, dict[str, float]]:
    """{method: {metric: number}}, finite numbers only (JSON has no NaN; DVC wants numbers)."""
    return {m.name: {k: v for k, v in m.metrics.items() if _is_number(v)} for m in methods}


def write_report(
    out_dir,
    methods: list[MethodResult],
    *,
    title: str,
    experiment: str,
    is_demo: bool,
    settings: dict,
    sketches_png=None,
    pretrained_grid_png=None,
    edits: dict | None = None,
    sweep: dict | None = None,
    deviations: list[dict] | None = None,
    toy: dict | None = None,
) -> dict[str, Path]:
    """Write index.html, summary.md, metrics.json and grids/*.png under out_dir; returns their paths
    keyed by path relative to out_dir.

    toy: the toy world's extras ({"targets": prepared world.json, "target_colours": {method: colour},
    "paragraph": the findings}) -> the TOY WORLD banner, the sketch reading and the findings."""
    out_dir = Path(out_dir)
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise ValueError(f"method names must be unique, got {names}")
    written: dict[str, Path] = {}

    # Grid copies for the Markdown summary (the HTML embeds the originals).
    grid_paths: dict[str, str] = {}
    used: set[str] = set()

    def copy_png(src, stem: str) -> str | None:
        if src is None or not Path(src).is_file():
            return None
        base, i = _safe_name(stem), 1
        fname = f"{base}.png"
        while fname in used:
            i += 1
            fname = f"{base}-{i}.png"
        used.add(fname)
        rel = f"grids/{fname}"
        written[rel] = write_bytes(out_dir / rel, Path(src).read_bytes())
        return rel

    extra = {}
    for label, src, stem in (
        ("Input sketches", sketches_png, "_sketches"),
        ("Pretrained generator", pretrained_grid_png, "_pretrained"),
    ):
        rel = copy_png(src, stem)
        if rel:
            extra[label] = rel
    for m in methods:
        rel = copy_png(m.grid_png, m.name)
        if rel:
            grid_paths[m.name] = rel

    edit_images = {}
    for gen, tools in (edits or {}).items():
        for tool, info in tools.items():
            rel = copy_png(info["png"], f"edit_{gen}_{tool}")
            if rel:
                edit_images[f"{gen}: {_edit_caption(tool, info)}"] = rel

    page, md = render_pages(
        methods,
        title=title,
        experiment=experiment,
        is_demo=is_demo,
        settings=settings,
        sketches_png=sketches_png,
        pretrained_grid_png=pretrained_grid_png,
        edits=edits,
        sweep=sweep,
        deviations=deviations,
        toy=toy,
        grid_paths=grid_paths,
        extra_images=extra,
        edit_images=edit_images,
    )
    written["index.html"] = write_bytes(out_dir / "index.html", page)
    written["summary.md"] = write_bytes(out_dir / "summary.md", md)
    written["metrics.json"] = write_bytes(
        out_dir / "metrics.json", json.dumps(flat_metrics(methods), indent=2, sort_keys=True) + "\n"
    )
    return written
