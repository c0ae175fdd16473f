"""The aggregated comparison report: one self-contained HTML page, a Markdown summary, flat metrics.

`write_report` writes, under `out_dir` (normally `reports/`):
  index.html    self-contained: inline CSS, images as base64 data URIs, loss curves as inline SVG
                drawn here from each method's history CSV; no scripts, nothing fetched from a network
  summary.md    the metrics table in Markdown, grids referenced as relative copies `grids/<name>.png`
  metrics.json  {method: {metric: number}} for `dvc metrics show`; only finite numbers
  grids/*.png   copies of the grids that summary.md references
Both pages carry the sweep table when a sweep ran (`sweep`: the record the `sweep` stage writes to
reports/sweep.json, pipeline.sweep.sweep_record): mean ± std over seeds per method and prompt.
Every file is written atomically (temporary file in the same folder + os.replace), so a crashed
or interrupted report stage never leaves half a page behind.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from .io import write_bytes
from .metrics.sketch_fidelity import DEFINITION as SKETCH_CHAMFER_DEFINITION

DEMO_BANNER = "DEMO NUMBERS — tiny random networks, not comparable to published results"
TOY_BANNER = (
    "TOY WORLD — trained tiny networks on drawn cats; these numbers measure the methods in this "
    "world, not in the published setting"
)
_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
_MAX_SERIES = len(_PALETTE)
_MAX_POINTS = 400  # per series in a chart; longer histories are subsampled evenly


@dataclass
class MethodResult:
    name: str  # method key, e.g. "nada"
    description: str = ""  # one line shown under the name
    grid_png: Path | None = None  # fixed-noise sample grid after fine-tuning
    metrics: dict = field(default_factory=dict)  # flat {metric: value}
    provenance: dict = field(default_factory=dict)  # as returned by pipeline.metrics.compute_metrics
    history_csv: Path | None = None  # columns: step + one column per logged loss


# ----------------------------------------------------------------------------
# Small utilities


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def metric_direction(name: str) -> str | None:
    """'lower' / 'higher' is better, or None where no direction applies (spreads, context scores)."""
    n = name.lower()
    if n.endswith(("_std", "_median")) or n == "fid_prior":  # fid_prior: how much of the prior remains
        return None
    if n in ("pose_acc", "colour_acc", "joint_acc"):
        return "higher"
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


def _best(methods: list[MethodResult], col: str):
    d = metric_direction(col)
    vals = [m.metrics.get(col) for m in methods]
    vals = [v for v in vals if _is_number(v)]
    if d is None or len(vals) < 2:
        return None
    return min(vals) if d == "lower" else max(vals)


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
    d = metric_direction(col)
    vals = [r["metrics"].get(col, {}).get("mean") for r in rows]
    vals = [v for v in vals if _is_number(v)]
    if d is None or len(vals) < 2:
        return None
    return min(vals) if d == "lower" else max(vals)


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


def _sweep_html(sweep: dict | None, banner: str | None) -> list[str]:
    e = html.escape
    parts = ["<h2>Sweep</h2>"]
    note = sweep_note(sweep)
    if note:
        return parts + [f'<p class="muted" id="sweep-none">{e(note.replace("`", ""))}</p>']
    if banner:
        parts.append(f"<p><strong>{e(banner)}</strong></p>")
    rows = sweep["rows"]
    cols = _sweep_columns(rows)
    best = {c: _sweep_best(rows, c) for c in cols}
    head = "".join(f"<th>{e(_header(c))}</th>" for c in cols)
    body = []
    for r in rows:
        cells = "".join(
            ('<td class="best">' if _sweep_is_best(r, c, best[c]) else "<td>")
            + e(_sweep_cell(r["metrics"].get(c)))
            + "</td>"
            for c in cols
        )
        body.append(
            f"<tr><td>{e(r['method'])}</td><td>{e(r['prompt'])}</td>"
            f"<td>{r['n_seeds']}/{r['n_planned']}</td>{cells}</tr>"
        )
    parts += [
        f'<table id="sweep"><thead><tr><th>method</th><th>prompt</th><th>seeds</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>",
        f'<p class="muted">{e(_sweep_caption(sweep))}</p>',
    ]
    return parts


def _sweep_md(sweep: dict | None, banner: str | None) -> list[str]:
    out = ["## Sweep", ""]
    note = sweep_note(sweep)
    if note:
        return out + [note, ""]
    if banner:
        out += [f"> **{banner}**", ""]
    rows = sweep["rows"]
    cols = _sweep_columns(rows)
    best = {c: _sweep_best(rows, c) for c in cols}
    out.append("| method | prompt | seeds | " + " | ".join(_md_escape(_header(c)) for c in cols) + " |")
    out.append("|---|---|---:|" + "---:|" * len(cols))
    for r in rows:
        cells = []
        for c in cols:
            s = _sweep_cell(r["metrics"].get(c))
            cells.append(f"**{s}**" if _sweep_is_best(r, c, best[c]) else s)
        out.append(
            f"| {_md_escape(r['method'])} | {_md_escape(r['prompt'])} | {r['n_seeds']}/{r['n_planned']} | "
            + " | ".join(cells)
            + " |"
        )
    out += ["", _md_escape(_sweep_caption(sweep)), ""]
    return out


# ----------------------------------------------------------------------------
# Loss curves as inline SVG


def read_history(csv_path: Path) -> tuple[list[float], dict[str, list[tuple[float, float]]]]:
    """History CSV -> (steps, {column: [(step, value), ...]}) skipping empty / non-numeric cells."""
    series: dict[str, list[tuple[float, float]]] = {}
    steps: list[float] = []
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "step" not in reader.fieldnames:
            raise ValueError(f"{csv_path}: history CSV needs a 'step' column, has {reader.fieldnames}")
        cols = [c for c in reader.fieldnames if c != "step"]
        for c in cols:
            series[c] = []
        for row in reader:
            try:
                step = float(row["step"])
            except (TypeError, ValueError):
                continue
            steps.append(step)
            for c in cols:
                try:
                    v = float(row[c])
                except (TypeError, ValueError):
                    continue
                if math.isfinite(v):
                    series[c].append((step, v))
    return steps, {c: pts for c, pts in series.items() if pts}


def _subsample(pts: list, n: int = _MAX_POINTS) -> list:
    if len(pts) <= n:
        return pts
    idx = sorted({round(i * (len(pts) - 1) / (n - 1)) for i in range(n)})
    return [pts[i] for i in idx]


def loss_chart_svg(csv_path: Path, width: int = 420, height: int = 220) -> str:
    """One small line chart (inline <svg>, no xmlns URL needed inside HTML) of every loss column."""
    _, series = read_history(csv_path)
    if not series:
        return '<p class="muted">no loss values logged</p>'
    names = list(series)[:_MAX_SERIES]
    pts_all = [p for n in names for p in series[n]]
    x0, x1 = min(p[0] for p in pts_all), max(p[0] for p in pts_all)
    y0, y1 = min(p[1] for p in pts_all), max(p[1] for p in pts_all)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    left, right, top, bottom = 48, 8, 8, 22
    legend_h = 14 * len(names)
    pw, ph = width - left - right, height - top - bottom

    def sx(x):
        return left + (x - x0) / (x1 - x0) * pw

    def sy(y):
        return top + (1 - (y - y0) / (y1 - y0)) * ph

    out = [
        f'<svg class="chart" width="{width}" height="{height + legend_h}" '
        f'viewBox="0 0 {width} {height + legend_h}" role="img" aria-label="loss curves">',
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fff" stroke="#bbb"/>',
    ]
    for y in (y0, (y0 + y1) / 2, y1):  # y ticks
        out.append(
            f'<line x1="{left - 3}" x2="{left + pw}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" stroke="#eee"/>'
            f'<text x="{left - 5}" y="{sy(y) + 3:.1f}" text-anchor="end">{html.escape(_fmt(y))}</text>'
        )
    for x in (x0, x1):  # x ticks
        out.append(f'<text x="{sx(x):.1f}" y="{top + ph + 14}" text-anchor="middle">{html.escape(_fmt(x))}</text>')
    out.append(f'<text x="{left + pw / 2:.1f}" y="{top + ph + 14}" text-anchor="middle">step</text>')
    for i, n in enumerate(names):
        color = _PALETTE[i]
        pts = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in _subsample(series[n]))
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.3" points="{pts}"/>')
        ly = height + 14 * i + 4
        last = series[n][-1][1]
        out.append(
            f'<line x1="{left}" x2="{left + 16}" y1="{ly}" y2="{ly}" stroke="{color}" stroke-width="2"/>'
            f'<text x="{left + 20}" y="{ly + 4}">{html.escape(n)} (last {html.escape(_fmt(last))})</text>'
        )
    out.append("</svg>")
    return "".join(out)


# ----------------------------------------------------------------------------
# HTML


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;
padding:0 1em;color:#222}
h1{margin-bottom:.2em} .muted{color:#777}
.demo{background:#b00020;color:#fff;font-weight:700;font-size:1.3em;padding:.8em 1em;border-radius:6px;
margin:1em 0;text-align:center}
table{border-collapse:collapse;margin:1em 0} th,td{border:1px solid #ccc;padding:.35em .7em;text-align:right}
th:first-child,td:first-child{text-align:left} td.best{background:#d9f2d9;font-weight:700}
.method{border-top:1px solid #ddd;padding-top:1em;margin-top:1.5em}
.row{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}
img{max-width:520px;height:auto;border:1px solid #ddd}
pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:.85em}
svg.chart text{font-size:10px;fill:#333}
"""


def _html_table(methods: list[MethodResult]) -> str:
    cols = _columns(methods)
    best = {c: _best(methods, c) for c in cols}
    head = "".join(f"<th>{html.escape(_header(c))}</th>" for c in cols)
    rows = []
    for m in methods:
        cells = []
        for c in cols:
            v = m.metrics.get(c)
            cls = ' class="best"' if best[c] is not None and _is_number(v) and v == best[c] else ""
            cells.append(f"<td{cls}>{html.escape(_fmt(v))}</td>")
        rows.append(f"<tr><td>{html.escape(m.name)}</td>{''.join(cells)}</tr>")
    return f"<table><thead><tr><th>method</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


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


def _img_html(png: Path | None, alt: str) -> str:
    if png is None or not Path(png).is_file():
        return f'<p class="muted">({html.escape(alt)}: no image)</p>'
    return f'<img src="{_data_uri(png)}" alt="{html.escape(alt, quote=True)}">'


def _legend_html() -> str:
    return (
        '<p class="muted">↓ lower is better, ↑ higher is better; the best value per column is '
        "highlighted. Columns without an arrow (spreads, clip_score_source) have no better side.</p>"
    )


def _edit_caption(tool: str, info: dict) -> str:
    details = ", ".join(f"{k}={_fmt(v) if _is_number(v) else v}" for k, v in info.items() if k not in ("png", "gif"))
    return f"{tool}" + (f" ({details})" if details else "")


def _edits_html(edits: dict) -> list[str]:
    """edits: {generator: {tool: {"png": path, ...info}}} -> an Edits section (images embedded)."""
    e = html.escape
    parts = [
        "<h2>Edits</h2>",
        '<p class="muted">Start codes on the top row (the same for every generator); '
        "each tool's result below. Scribble: start, start + scribble, edit. GANSpace: -scalar, 0, +scalar.</p>",
    ]
    for gen, tools in edits.items():
        parts.append(f'<div class="method"><h3>{e(gen)}</h3>')
        for tool, info in tools.items():
            parts.append(f"<h4>{e(_edit_caption(tool, info))}</h4>{_img_html(Path(info['png']), gen + ' ' + tool)}")
        parts.append("</div>")
    return parts


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


def render_html(
    methods,
    *,
    title,
    experiment,
    is_demo,
    settings,
    sketches_png=None,
    pretrained_grid_png=None,
    edits: dict | None = None,
    sweep: dict | None = None,
    toy: dict | None = None,
) -> str:
    e = html.escape
    parts = [
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f'<p class="muted">experiment: {e(str(experiment))}</p>',
    ]
    if is_demo:
        parts.append(f'<div class="demo" id="demo-banner">{e(DEMO_BANNER)}</div>')
    if toy:
        parts.append(f'<div class="demo" id="toy-banner">{e(TOY_BANNER)}</div>')
    parts.append("<h2>Metrics</h2>")
    if is_demo:
        parts.append(f"<p><strong>{e(DEMO_BANNER)}</strong></p>")
    if toy:
        parts.append(f"<p><strong>{e(TOY_BANNER)}</strong></p>")
    parts += [_html_table(methods), _legend_html()]
    if toy:
        parts += [
            '<p class="muted">pose_acc, colour_acc, joint_acc: the fraction of samples the oracle reads as '
            "the target pose / colour / both; fid_target: FID in oracle features against renders of the "
            "target pose and colour; fid_prior: against the generator's training distribution.</p>",
            "<h2>What this run reproduces</h2>",
            f'<p id="findings">{e(toy["paragraph"])}</p>',
        ]
    comp = _comparability_lines(methods)
    if comp:
        parts.append("<ul>" + "".join(f"<li>{e(c)}</li>" for c in comp) + "</ul>")
    parts += _sweep_html(sweep, DEMO_BANNER if is_demo else TOY_BANNER if toy else None)
    reading = ""
    if toy:
        per = toy["targets"].get("per_sketch", {})
        rows = "".join(f"<tr><td>{e(name)}</td><td>{e(pose)}</td></tr>" for name, pose in per.items())
        reading = (
            f'<p id="sketch-reading">{e(toy_reading(toy))}</p>'
            f"<details><summary>the oracle's reading of each sketch</summary><table><thead><tr><th>sketch"
            f"</th><th>pose read</th></tr></thead><tbody>{rows}</tbody></table></details>"
        )
    parts += [
        "<h2>Inputs</h2>",
        '<div class="row">',
        f"<div><h3>Input sketches</h3>{_img_html(sketches_png, 'input sketches')}{reading}</div>",
        f"<div><h3>Pretrained generator</h3>{_img_html(pretrained_grid_png, 'pretrained samples')}</div>",
        "</div>",
        "<h2>Methods</h2>",
    ]
    for m in methods:
        chart = (
            loss_chart_svg(m.history_csv)
            if m.history_csv is not None and Path(m.history_csv).is_file()
            else '<p class="muted">no training history</p>'
        )
        parts += [
            f'<div class="method"><h3>{e(m.name)}</h3><p>{e(m.description)}</p><div class="row">',
            f"<div>{_img_html(m.grid_png, m.name + ' samples')}</div>",
            f"<div><h4>Losses</h4>{chart}</div></div></div>",
        ]
    if edits:
        parts += _edits_html(edits)
    parts += [
        "<h2>CLIP score: definition</h2>",
        f"<p>{e(clip_definition(methods))}</p>",
        "<h2>Sketch fidelity: definition</h2>",
        f"<p>{e(SKETCH_CHAMFER_DEFINITION)}</p>",
        "<h2>Provenance</h2>",
    ]
    for m in methods:
        prov = json.dumps(m.provenance, indent=2, sort_keys=True, default=str)
        parts.append(f"<details><summary>{e(m.name)}</summary><pre>{e(prov)}</pre></details>")
    parts += [
        "<h2>Settings</h2>",
        f"<pre>{e(json.dumps(settings, indent=2, sort_keys=True, default=str))}</pre>",
        "</body></html>",
    ]
    return "\n".join(parts)


# ----------------------------------------------------------------------------
# Markdown


def _md_escape(s: str) -> str:
    """Plain text inside Markdown: no table breaks, no raw HTML."""
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|").replace("\n", " ")


def _md_table(methods: list[MethodResult], banner: str | None) -> str:
    cols = _columns(methods)
    best = {c: _best(methods, c) for c in cols}
    lines = [f"> **{banner}**", ""] if banner else []
    lines.append("| method | " + " | ".join(_md_escape(_header(c)) for c in cols) + " |")
    lines.append("|---|" + "---:|" * len(cols))
    for m in methods:
        cells = []
        for c in cols:
            v = m.metrics.get(c)
            s = _fmt(v)
            cells.append(f"**{s}**" if best[c] is not None and _is_number(v) and v == best[c] else s)
        lines.append(f"| {_md_escape(m.name)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_markdown(
    methods,
    grid_paths: dict[str, str],
    *,
    title,
    experiment,
    is_demo,
    extra_images: dict[str, str],
    edit_images: dict[str, str] | None = None,
    sweep: dict | None = None,
    toy: dict | None = None,
) -> str:
    out = [f"# {_md_escape(title)}", "", f"Experiment: `{experiment}`", ""]
    if is_demo:
        out += [f"**{DEMO_BANNER}**", ""]
    if toy:
        out += [f"**{TOY_BANNER}**", ""]
    banner = DEMO_BANNER if is_demo else TOY_BANNER if toy else None
    out += [
        "## Metrics",
        "",
        _md_table(methods, banner),
        "",
        "↓ lower is better, ↑ higher is better; best value per column in bold.",
        "",
    ]
    if toy:
        out += [
            "pose_acc, colour_acc, joint_acc: the fraction of samples the oracle reads as the target pose / "
            "colour / both; fid_target: FID in oracle features against renders of the target pose and colour; "
            "fid_prior: against the generator's training distribution.",
            "",
            "## What this run reproduces",
            "",
            _md_escape(toy["paragraph"]),
            "",
            _md_escape(toy_reading(toy)),
            "",
        ]
    out += [f"- {c}" for c in _comparability_lines(methods)]
    out += [""] + _sweep_md(sweep, banner)
    out += ["## Samples", ""]
    for label, rel in extra_images.items():
        out += [f"**{label}**", "", f"![{label}]({rel})", ""]
    for m in methods:
        out += [f"### {_md_escape(m.name)}", "", _md_escape(m.description), ""]
        if m.name in grid_paths:
            out += [f"![{_md_escape(m.name)}]({grid_paths[m.name]})", ""]
    if edit_images:
        out += ["## Edits", ""]
        for caption, rel in edit_images.items():
            out += [f"**{_md_escape(caption)}**", "", f"![{_md_escape(caption)}]({rel})", ""]
    out += [
        "## CLIP score: definition",
        "",
        _md_escape(clip_definition(methods)),
        "",
        "## Sketch fidelity: definition",
        "",
        SKETCH_CHAMFER_DEFINITION,
        "",
    ]
    return "\n".join(out)


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
    toy: dict | None = None,
) -> dict[str, Path]:
    """toy: the toy world's extras ({"targets": prepared world.json, "target_colours": {method: colour},
    "paragraph": the findings}) -> the TOY WORLD banner, the sketch reading and the findings."""
    """Write index.html, summary.md, metrics.json and grids/*.png under out_dir; returns their paths
    keyed by path relative to out_dir."""
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

    page = render_html(
        methods,
        title=title,
        experiment=experiment,
        is_demo=is_demo,
        settings=settings,
        sketches_png=sketches_png,
        pretrained_grid_png=pretrained_grid_png,
        edits=edits,
        sweep=sweep,
        toy=toy,
    )
    written["index.html"] = write_bytes(out_dir / "index.html", page)
    md = render_markdown(
        methods,
        grid_paths,
        title=title,
        experiment=experiment,
        is_demo=is_demo,
        extra_images=extra,
        edit_images=edit_images,
        sweep=sweep,
        toy=toy,
    )
    written["summary.md"] = write_bytes(out_dir / "summary.md", md)
    written["metrics.json"] = write_bytes(
        out_dir / "metrics.json", json.dumps(flat_metrics(methods), indent=2, sort_keys=True) + "\n"
    )
    return written
