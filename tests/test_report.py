"""The aggregated report: self-contained HTML, Markdown summary, numbers-only metrics.json."""

from __future__ import annotations

import base64
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.report import DEMO_BANNER, MethodResult, metric_direction, write_report


def png(path: Path, color) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((16, 32, 3), color, np.uint8)).save(path)
    return path


def history(path: Path, rows) -> Path:
    path.write_text("step,loss_g,loss_clip\n" + "".join(f"{s},{g},{c}\n" for s, g, c in rows))
    return path


@pytest.fixture
def methods(tmp_path):
    return [
        MethodResult(
            name="baseline",
            description="GANSketching: sketch adversarial loss <b>only</b>",
            grid_png=png(tmp_path / "in" / "baseline.png", (200, 30, 30)),
            metrics={
                "fid": 20.0,
                "kid_mean": 0.01,
                "kid_std": 0.002,
                "precision": 0.6,
                "sketch_chamfer": 3.5,
                "clip_score_target": 21.0,
            },
            provenance={
                "fidelity": {
                    "feature_extractor": "demo-tiny",
                    "comparable_to_published": False,
                    "n_fakes": 40,
                    "resize": "clean",
                }
            },
            history=history(tmp_path / "baseline.csv", [(0, 1.2, ""), (10, 0.9, ""), (20, 0.7, "")]),
        ),
        MethodResult(
            name="nada & <co>",
            description="CLIP directional",
            grid_png=png(tmp_path / "in" / "nada.png", (30, 30, 200)),
            metrics={
                "fid": 10.0,
                "kid_mean": 0.02,
                "kid_std": 0.001,
                "precision": float("nan"),
                "sketch_chamfer": 4.0,
                "clip_score_target": 25.0,
            },
            provenance={"seed": 0, "note": "x < y"},
            history=history(tmp_path / "nada.csv", [(0, 1.0, 0.8), (10, 0.8, 0.6), (20, 0.5, 0.4)]),
        ),
    ]


def write(tmp_path, methods, is_demo):
    out = tmp_path / ("demo" if is_demo else "real") / "reports"
    paths = write_report(
        out,
        methods,
        title="Sketch + text customization",
        experiment="horse_riders",
        is_demo=is_demo,
        settings={"evaluate": {"n_samples": 40}},
        sketches_png=png(tmp_path / "in" / "sketches.png", (0, 0, 0)),
        pretrained_grid_png=png(tmp_path / "in" / "pre.png", (90, 90, 90)),
    )
    return out, paths


@pytest.mark.parametrize("is_demo", [True, False])
def test_html_self_contained(tmp_path, methods, is_demo):
    out, paths = write(tmp_path, methods, is_demo)
    page = (out / "index.html").read_text(encoding="utf-8")
    assert paths["index.html"] == out / "index.html"
    assert "baseline" in page and "nada &amp; &lt;co&gt;" in page
    assert "<co>" not in page and "<b>only</b>" not in page  # escaped
    srcs = re.findall(r"<img\b[^>]*\bsrc=\"([^\"]*)\"", page)
    pngs = [s for s in srcs if s.startswith("data:image/png;base64,")]
    charts = [s for s in srcs if s.startswith("data:image/svg+xml;base64,")]
    assert len(pngs) == 4 and len(charts) == 2 and len(srcs) == 6
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page
    # the charts: matplotlib SVG with labelled axes and a legend naming each logged loss and its last value
    baseline_svg, nada_svg = (base64.b64decode(c.split(",", 1)[1]).decode() for c in charts)
    for svg in (baseline_svg, nada_svg):
        assert "training step" in svg and ">loss<" in svg and "<script" not in svg
        assert 'xlink:href="http' not in svg and 'href="http' not in svg  # nothing external referenced
    assert "loss_g (last 0.7)" in baseline_svg and "loss_clip" not in baseline_svg  # an empty column: no line
    assert "loss_g (last 0.5)" in nada_svg and "loss_clip (last 0.4)" in nada_svg
    assert (DEMO_BANNER in page) == is_demo
    assert "Sketch fidelity: definition" in page and "chamfer" in page
    # best per column: fid 10 (lower), clip_score_target 25 (higher), chamfer 3.5 (lower)
    assert '<td class="best">10</td>' in page and '<td class="best">25</td>' in page
    assert '<td class="best">3.5</td>' in page and '<td class="best">20</td>' not in page
    assert "fid ↓" in page and "precision ↑" in page
    assert not list(out.glob("**/*.tmp"))


@pytest.mark.parametrize("is_demo", [True, False])
def test_metrics_json_numbers_only(tmp_path, methods, is_demo):
    out, _ = write(tmp_path, methods, is_demo)
    data = json.loads((out / "metrics.json").read_text())
    assert set(data) == {"baseline", "nada & <co>"}
    for vals in data.values():
        assert all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in vals.values())
    assert "precision" not in data["nada & <co>"]  # NaN dropped
    assert data["baseline"]["fid"] == 20.0


@pytest.mark.parametrize("is_demo", [True, False])
def test_summary_markdown(tmp_path, methods, is_demo):
    out, paths = write(tmp_path, methods, is_demo)
    md = (out / "summary.md").read_text(encoding="utf-8")
    assert "| method | fid ↓ |" in md and "|---|" in md
    assert "| baseline |" in md and "nada &amp; &lt;co&gt;" in md and "<co>" not in md
    assert "| n/a |" in md  # NaN precision
    assert "**10**" in md
    tables = [i for i, line in enumerate(md.splitlines()) if line.startswith("| method |")]
    assert tables
    lines = md.splitlines()
    for i in tables:  # the demo label sits right above every table (iff demo)
        assert (DEMO_BANNER in "\n".join(lines[max(0, i - 3) : i])) == is_demo
    grid_refs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert "grids/baseline.png" in grid_refs and len(grid_refs) == 4
    for ref in grid_refs:
        assert (out / ref).is_file() and not ref.startswith(("/", "http"))
        assert f"grids/{Path(ref).name}" in paths


def test_a_tie_across_every_row_is_not_bold(tmp_path, methods):
    """A column where every row has the same value (e.g. joint_acc 0 everywhere) marks no best."""
    for m in methods:
        m.metrics["joint_acc"] = 0.0
    out, _ = write(tmp_path, methods, False)
    md = (out / "summary.md").read_text(encoding="utf-8")
    header = next(line for line in md.splitlines() if line.startswith("| method |"))
    col = [c.strip() for c in header.split("|")].index("joint_acc ↑")
    rows = [
        [c.strip() for c in line.split("|")] for line in md.splitlines() if line.startswith(("| baseline", "| nada"))
    ]
    assert [r[col] for r in rows[:2]] == ["0", "0"]
    assert "**10**" in md  # the other columns still rank
    page = (out / "index.html").read_text(encoding="utf-8")
    assert '<td class="best">0</td>' not in page


def test_metric_direction():
    assert metric_direction("fid") == "lower" and metric_direction("kid_mean") == "lower"
    assert metric_direction("sketch_chamfer") == "lower"
    assert metric_direction("precision") == "higher" and metric_direction("clip_score_target") == "higher"
    assert metric_direction("kid_std") is None and metric_direction("clip_score_source") is None
    # the toy world's rates: higher is better; fid_prior (how much of the prior remains) has no side
    for name in ("pose_acc", "joint_acc", "in_domain", "pose_acc_in_domain", "joint_acc_in_domain", "render_fit"):
        assert metric_direction(name) == "higher", name
    assert metric_direction("pose_acc_fit") == "higher" and metric_direction("joint_acc_fit") == "higher"
    assert metric_direction("diversity") == "higher"
    assert metric_direction("fid_target") == "lower" and metric_direction("fid_prior") is None
    assert metric_direction("render_dist") == "lower"


def test_duplicate_method_names_rejected(tmp_path, methods):
    with pytest.raises(ValueError, match="unique"):
        write_report(tmp_path, [methods[0], methods[0]], title="t", experiment="e", is_demo=True, settings={})


def test_edits_section(tmp_path, methods):
    edits = {
        "clip_global": {
            "latent_opt": {
                "png": png(tmp_path / "lo.png", (250, 20, 20)),
                "seconds": 2.5,
                "prompt": "a photo of a pink cat",
            },
            "scribble": {"png": png(tmp_path / "sc.png", (20, 250, 20)), "masked_mse_end": 0.0047},
        }
    }
    written = write_report(
        tmp_path / "out", methods, title="t", experiment="demo", is_demo=True, settings={}, edits=edits
    )
    page = (tmp_path / "out" / "index.html").read_text()
    section = page[page.index("<h2>Edits</h2>") : page.index("<h2>Sketch fidelity")]
    assert "clip_global" in section and "latent_opt (seconds=2.5, prompt=a photo of a pink cat)" in section
    assert section.count('src="data:image/png;base64,') == 2
    md = (tmp_path / "out" / "summary.md").read_text()
    assert "## Edits" in md and "grids/edit_clip_global_scribble.png" in md
    assert (tmp_path / "out" / "grids" / "edit_clip_global_latent_opt.png").read_bytes() == (
        tmp_path / "lo.png"
    ).read_bytes()
    assert "grids/edit_clip_global_scribble.png" in written


def test_each_method_states_which_iteration_it_exported(tmp_path, methods):
    """A best-FID selection names its step, its FID and the last step's FID under the method, in both
    pages; a last-iteration export says so; a method without a record says nothing."""
    best = {
        "policy": "best_fid",
        "every": 25,
        "n_samples": 400,
        "scores": [{"step": 25, "fid": 9.5}, {"step": 50, "fid": 7.25}, {"step": 75, "fid": 8.0}],
        "exported_step": 50,
        "exported_fid": 7.25,
        "last_step": 75,
        "last_fid": 8.0,
    }
    final = {**best, "policy": "final", "scores": [], "exported_step": 75, "exported_fid": None, "last_fid": None}
    methods[0].selection, methods[1].selection = best, final
    out, _ = write(tmp_path, methods, False)
    for page in ((out / "summary.md").read_text(), (out / "index.html").read_text()):
        assert "Exported: iteration 50 of 75, the lowest FID against the evaluation set (7.25 on 400 samples)" in page
        assert "3 iterations evaluated (25 to 75, every 25); at the last iteration it was 8.00" in page
        assert "Exported: the last iteration (75)." in page
    methods[0].selection = methods[1].selection = None
    out, _ = write(tmp_path / "none", methods, False)
    assert "Exported:" not in (out / "summary.md").read_text()
