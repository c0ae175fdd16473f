import os
import sys
from pathlib import Path

# Offline and quiet, whatever the caller's environment says.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Prefect reads its settings once, at its first import (whichever test module imports it first), so
# the stages' own 180 s default (stages/_common.py) comes too late here: under the other worker's
# load its temporary server can take longer than Prefect's 20 s default to start (seen in CI).
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")

# Under pytest-xdist (`make test` runs two workers on this 2-core machine) each worker, and every
# subprocess it starts (dvc, stages), computes on one thread, so the two never oversubscribe the CPU.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402
import torch  # noqa: E402

import pipeline  # noqa: E402,F401  (installs the torchvision shim before any test imports torchvision)

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def _stop_shared_prefect_server():
    """tests/project.py starts one Prefect server per test process on first use; stop it at the end."""
    yield
    from project import stop_shared_prefect

    stop_shared_prefect()


@pytest.fixture(scope="module")
def one_thread():
    """Steps on tiny nets are dominated by thread synchronization; one thread is faster and steadier
    on this 2-core machine. Use with `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# The test files that take minutes, longest first (seconds of one CI-like run, `pytest --durations=60`,
# 2026-12-03 13:03; a file not listed keeps its place after these). `make test` hands whole files to its
# two workers in this order (`--dist loadfile --no-loadscope-reorder`; xdist's own reorder puts files
# with many tests first, which left minutes-long files with few tests to start last): longest first
# keeps the two workers' ends close together.
LONGEST_FIRST = [
    "test_sweep.py",  # 281
    "test_studio_browser.py",  # 274
    "test_pipeline_e2e.py",  # 250
    "test_bad_input.py",  # 230
    "test_toy_world_e2e.py",  # 198
    "test_kill_stages.py",  # 155
    "test_toy_steering.py",  # 153 (225 with the in-process syog test, dropped since)
    "test_with_prefect.py",  # 84
    "test_download.py",  # 33
    "test_world.py",  # 23
]


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: files stay whole, in order
