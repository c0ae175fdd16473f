"""stages/with_prefect.py: one Prefect server for a whole command, stopped afterwards, exit status
passed through; flows in child processes run against it instead of starting their own."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WRAPPER = ROOT / "stages" / "with_prefect.py"

CHILD = """
import os, sys
from prefect import flow
@flow
def f():
    return os.environ["PREFECT_API_URL"]
url = f()
print("API", url)
sys.exit(int(sys.argv[1]))
"""


def run(tmp_path, *args, env_extra=None):
    env = dict(
        os.environ,
        PREFECT_HOME=str(tmp_path / ".prefect"),
        DO_NOT_TRACK="1",
        no_proxy="127.0.0.1,localhost",
        NO_PROXY="127.0.0.1,localhost",
    )
    env.pop("PREFECT_API_URL", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, str(WRAPPER), *args], env=env, capture_output=True, text=True, timeout=300)


def test_flows_use_the_shared_server_which_stops_after_and_status_passes_through(tmp_path):
    r = run(tmp_path, sys.executable, "-c", CHILD, "3")
    assert r.returncode == 3, r.stderr[-2000:]
    url = next(line.split()[1] for line in r.stdout.splitlines() if line.startswith("API "))
    assert url.startswith("http://127.0.0.1:") and url.endswith("/api")
    # the child's flow ran against our server, not a temporary one of its own
    assert "Starting temporary server" not in r.stderr
    assert f"Prefect server up at {url}" in r.stderr
    # and the server is gone once the command has finished
    try:
        urllib.request.urlopen(f"{url}/health", timeout=2)
        raise AssertionError(f"the server at {url} is still up")
    except OSError:
        pass
    assert (tmp_path / ".prefect" / "server.log").is_file()


def test_an_existing_api_url_is_used_as_is(tmp_path):
    r = run(
        tmp_path,
        sys.executable,
        "-c",
        "import os; print(os.environ['PREFECT_API_URL'])",
        env_extra={"PREFECT_API_URL": "http://example.invalid/api"},
    )
    assert r.returncode == 0 and r.stdout.strip() == "http://example.invalid/api"
    assert "Prefect server up" not in r.stderr


def test_no_command_is_a_usage_error(tmp_path):
    r = run(tmp_path)
    assert r.returncode == 2 and "dvc repro" in r.stdout
