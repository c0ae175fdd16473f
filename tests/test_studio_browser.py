"""The studio in a real headless Chromium (Debian's `chromium`, driven by Playwright with
executable_path): drawing on the canvas with mouse events adds a sketch to the set; bad input gets a
message next to its field and launches nothing; a global-directions slider changes the image; the
page loads nothing from outside 127.0.0.1. Screenshots go to the test's folder.

Skipped, with the reason, without chromium or Playwright.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import numpy as np
import pytest
from PIL import Image
from tiny import ROOT

CHROMIUM = shutil.which("chromium")
playwright = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (requirements-dev)")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's `chromium` is not installed (apt-get install chromium)"),
]
# PixiJS (the canvas) needs WebGL: SwiftShader gives it one without a GPU
ARGS = ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--disable-dev-shm-usage"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("studio") / "server.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "STUDIO_STATE_DIR": str(log.parent / "state")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "studio", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            break
        except OSError:
            assert proc.poll() is None, log.read_text()[-3000:]
            time.sleep(0.5)
    yield url, log.parent
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def page(server):
    url, folder = server
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 1280, "height": 1000})
        pg.requests = []
        pg.on("request", lambda r: pg.requests.append(r.url))
        pg.goto(url, wait_until="load")
        pg.wait_for_selector("#canvas canvas", timeout=60_000)
        pg.folder = folder
        yield pg
        browser.close()


def draw_stroke(page, points):
    canvas = page.locator("#canvas canvas").first
    box = canvas.bounding_box()
    xy = [(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy) for fx, fy in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for x, y in xy[1:]:
        page.mouse.move(x, y, steps=4)
    page.mouse.up()


def wait_text(page, selector: str, text: str, timeout_ms: int = 30_000) -> None:
    page.wait_for_function(
        "([sel, t]) => (document.querySelector(sel) || {innerText: ''}).innerText.includes(t)",
        arg=[selector, text],
        timeout=timeout_ms,
    )


def test_drawing_on_the_canvas_adds_a_sketch(page):
    page.click("#add-drawing")  # nothing drawn yet
    wait_text(page, "#sketch-msg", "draw on the canvas first")
    page.click("#canvas button[aria-label='Brush']")
    # a standing cat, roughly: back, four legs, head
    draw_stroke(page, [(0.35, 0.45), (0.45, 0.42), (0.55, 0.45)])
    for x in (0.36, 0.40, 0.50, 0.54):
        draw_stroke(page, [(x, 0.45), (x, 0.6)])
    draw_stroke(page, [(0.55, 0.45), (0.58, 0.38), (0.6, 0.4)])
    page.click("#add-drawing")
    page.wait_for_selector("#gallery img", timeout=30_000)
    assert page.locator("#gallery img").count() == 1
    page.wait_for_function("document.querySelector('#sketch-msg').innerText.trim() === ''", timeout=30_000)
    page.screenshot(path=str(page.folder / "sketch.png"), full_page=True)


def test_bad_prompts_get_a_message_next_to_the_field_and_launch_nothing(page):
    page.click("button[role='tab']:has-text('Customize')")
    state = page.folder / "state"
    for prompt, message in [
        ("", "non-empty prompt"),
        ("a photo of a cat", "names no colour the toy world knows"),
        ("x" * 200 + " pink", "at most 200 characters"),
    ]:
        if len(prompt) > 200:  # typed: the box takes 200 characters; the rest never reaches the server
            page.fill("#target textarea", "")
            page.locator("#target textarea").press_sequentially(prompt)
            assert page.input_value("#target textarea") == prompt[:200]
            continue
        page.fill("#target textarea", prompt)
        page.click("#customize")
        wait_text(page, "#target-error", message)
    assert not (state / "job.json").exists()  # nothing was launched
    page.screenshot(path=str(page.folder / "customize-errors.png"), full_page=True)


def _image(page, selector) -> np.ndarray:
    """The image the page shows, as served (its src), not a screenshot of the scaled element."""
    import io

    src = page.locator(selector).get_attribute("src")
    data = urllib.request.urlopen(urllib.parse.urljoin(page.url, src), timeout=10).read()
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float32)


def test_a_global_directions_slider_changes_the_image(page):
    page.click("button[role='tab']:has-text('Edit')")
    page.wait_for_selector("#edit-start img", timeout=60_000)
    page.wait_for_selector("#edit-global img", timeout=300_000)  # relevance: computed once per generator
    src = page.locator("#edit-global img").get_attribute("src")  # before the move: the update may be quick
    before = _image(page, "#edit-global img")
    slider = page.locator("#alpha input[type='number']")
    slider.fill("8")
    slider.press("Enter")
    # the image shown changes to the edit (polling: other updates of the panel may come first)
    deadline, diff = time.time() + 120, 0.0
    while time.time() < deadline and diff <= 8.0:
        if page.locator("#edit-global img").get_attribute("src") != src:
            after = _image(page, "#edit-global img")
            assert before.shape == after.shape
            diff = float(np.abs(after - before).mean())
        page.wait_for_timeout(250)
    assert diff > 8.0, diff  # alpha 8 toward the prompt: a visible change (62 grey levels here), not rounding
    page.screenshot(path=str(page.folder / "edit.png"), full_page=True)
    outside = [u for u in page.requests if not u.startswith("http://127.0.0.1")]
    assert outside == [], outside[:5]
