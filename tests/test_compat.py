"""pipeline.compat: `import pipeline` makes torchvision (and what imports it) importable.

Each check runs in a fresh interpreter, because the shim acts once per process before the first
`import torchvision`, and this test process has long since imported everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str) -> dict:
    """Run `code` in a fresh interpreter from the repo root; it prints one JSON line last."""
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, f"subprocess failed:\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_pipeline_then_vision_libraries():
    state = _run(
        "import json, pipeline, torchvision, open_clip, torch_fidelity, torch\n"
        "from pipeline import compat\n"
        "ops = {n: compat._op_exists(n) for n in ('nms', 'qnms')}\n"
        "print(json.dumps({'state': compat._STATE, 'ops': ops, 'tv': torchvision.__version__}))\n"
    )
    s = state["state"]
    assert isinstance(s["extension_loaded"], bool)
    if s["extension_loaded"]:
        assert s["defined"] == []  # torchvision's own ops; nothing added
    else:
        assert set(s["defined"]) <= {"nms", "qnms"}  # only schemas, and only what was missing
    assert state["ops"] == {"nms": True, "qnms": True}


def test_existing_operator_is_left_alone():
    # Load compat.py on its own (importing the package would run the shim first), define nms as
    # another library would, and pretend torchvision's extension does not load.
    state = _run(
        "import importlib.util, json, torch\n"
        "lib = torch.library.Library('torchvision', 'FRAGMENT')\n"
        "lib.define('nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor')\n"
        "spec = importlib.util.spec_from_file_location('compat_under_test', 'pipeline/compat.py')\n"
        "compat = importlib.util.module_from_spec(spec); spec.loader.exec_module(compat)\n"
        "compat._load_torchvision_extension = lambda: False\n"
        "first = compat.ensure_torchvision_ops()\n"
        "second = compat.ensure_torchvision_ops()\n"
        "import torchvision\n"
        "print(json.dumps({'first': first, 'second': second}))\n"
    )
    assert state["first"] == {"extension_loaded": False, "defined": ["qnms"]}
    assert state["second"] == state["first"]  # idempotent
