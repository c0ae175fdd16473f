"""The HTML report in a real headless Chromium, network disabled: every image loads, nothing is
fetched, and the rendered page is not blank.

Needs Debian's `chromium` package (`make test` installs it when it can); skipped without it.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.report import MethodResult, write_report

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's `chromium` is not installed (apt-get install chromium, or `make test` as root)"
)

DEMO_RED = (0xB0, 0x00, 0x20)  # .demo background in pipeline/report.py
N_METHODS, N_INPUTS = 2, 2  # method grids + (input sketches, pretrained grid)

# Inside the page, once everything has loaded: what the browser itself saw.
PROBE = """<pre id="probe"></pre><script>
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  document.getElementById('probe').textContent = JSON.stringify({
    images: imgs.length,
    loaded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
    sizes: imgs.map(i => [i.naturalWidth, i.naturalHeight]),
    resources: performance.getEntriesByType('resource').map(e => e.name),
    non_data: Array.from(document.querySelectorAll('[src], link[href]'))
      .map(e => e.currentSrc || e.src || e.href).filter(u => !u.startsWith('data:')),
  });
});
</script>
"""


def _grid(path: Path, seed: int) -> Path:
    """A 64x128 PNG with visible structure: a colour gradient crossed by a checkerboard."""
    path.parent.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:64, 0:128]
    rgb = np.stack([x * 2, y * 4, np.full_like(x, 40 * seed)], -1)
    rgb[((x // 8 + y // 8) % 2 == 0)] //= 3
    Image.fromarray(rgb.clip(0, 255).astype(np.uint8)).save(path)
    return path


def _history(path: Path, with_clip: bool) -> Path:
    rows = "".join(f"{s},{1.2 - s / 40},{(0.8 - s / 50) if with_clip else ''}\n" for s in range(0, 30, 5))
    path.write_text("step,loss_g,loss_clip\n" + rows)
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("browser_report")
    methods = [
        MethodResult(
            name="baseline",
            description="sketch adversarial loss only",
            grid_png=_grid(tmp / "in" / "baseline.png", 1),
            metrics={"fid": 20.0, "kid_mean": 0.01, "precision": 0.6, "sketch_chamfer": 3.5},
            provenance={"seed": 0},
            history=_history(tmp / "baseline.csv", False),
        ),
        MethodResult(
            name="nada",
            description="CLIP directional",
            grid_png=_grid(tmp / "in" / "nada.png", 2),
            metrics={"fid": 10.0, "kid_mean": 0.02, "precision": 0.7, "sketch_chamfer": 4.0, "clip_score_target": 25.0},
            provenance={"seed": 0},
            history=_history(tmp / "nada.csv", True),
        ),
    ]
    out = tmp / "reports"
    write_report(
        out,
        methods,
        title="Sketch + text customization",
        experiment="horse_riders",
        is_demo=True,
        settings={"evaluate": {"n_samples": 40}},
        sketches_png=_grid(tmp / "in" / "sketches.png", 3),
        pretrained_grid_png=_grid(tmp / "in" / "pre.png", 4),
    )
    return out / "index.html"


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium with every network path closed: a dead proxy for all schemes (loopback
    included) and a host resolver that resolves nothing."""
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--proxy-server=127.0.0.1:9",
        "--proxy-bypass-list=<-loopback>",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={tmp / 'chromium-profile'}",
        "--virtual-time-budget=5000",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=tmp)


def test_images_load_and_nothing_is_fetched(report, tmp_path):
    page = report.read_text(encoding="utf-8")
    assert page.count("</body>") == 1
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")

    proc = _chromium(tmp_path, "--dump-dom", probe.as_uri())
    m = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout, re.S)
    assert m and m.group(1).strip(), (
        f"no probe output (rc={proc.returncode})\nstdout tail: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-2000:]}"
    )
    seen = json.loads(html.unescape(m.group(1)))

    n_expected = N_METHODS + N_INPUTS + N_METHODS  # grids and inputs, plus one loss chart (SVG) per method
    assert seen["images"] == n_expected == len(re.findall(r"<img\b", page)), seen
    assert seen["loaded"] == n_expected, seen
    assert seen["sizes"].count([128, 64]) == N_METHODS + N_INPUTS, seen
    charts = [wh for wh in seen["sizes"] if wh != [128, 64]]
    assert len(charts) == N_METHODS and all(w > 300 and h > 150 for w, h in charts), seen  # decoded SVGs
    # data: URIs make no resource-timing entries; a fetched http(s) URL would. Chromium lists no
    # entry for file:// loads, hence the second check: nothing in the DOM points anywhere but data:.
    assert seen["resources"] == [], seen
    assert seen["non_data"] == [], seen


def test_screenshot_is_not_blank(report, tmp_path):
    shot = tmp_path / "shot.png"
    proc = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", "--hide-scrollbars", report.as_uri())
    assert shot.is_file(), f"no screenshot (rc={proc.returncode})\nstderr: {proc.stderr[-2000:]}"

    img = np.asarray(Image.open(shot).convert("RGB"))
    assert img.shape[:2] == (2000, 1280), img.shape
    assert img.std() > 10, img.std()
    colours = np.unique(img.reshape(-1, 3), axis=0)
    assert len(colours) > 200, len(colours)
    # The red demo banner is near the top of the page.
    top = img[:400].reshape(-1, 3).astype(int)
    red = (np.abs(top - DEMO_RED).max(axis=1) <= 8).sum()
    assert red > 5000, red
