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


FAKE_HEALTH = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"true")
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


def test_a_port_taken_by_another_server_is_refused_and_a_fresh_one_used(tmp_path, monkeypatch):
    """The CI failure: two stages drew the same port, and the second's flow talked to the first's
    server (its health check answered). Here another process already answers /api/health on the
    first port offered; start_server must notice it is not its own and move on."""
    sys.path.insert(0, str(ROOT / "stages"))
    import with_prefect

    other = subprocess.Popen([sys.executable, "-c", FAKE_HEALTH], stdout=subprocess.PIPE, text=True)
    try:
        taken = int(other.stdout.readline())
        assert with_prefect.healthy(f"http://127.0.0.1:{taken}/api")  # it looks like a Prefect server
        assert with_prefect.listens_on(other, taken)
        idle = subprocess.Popen([sys.executable, "-c", "pass"])
        idle.wait()
        assert not with_prefect.listens_on(idle, taken)
        ports, real_free_port = iter([taken]), with_prefect.free_port
        monkeypatch.setattr(with_prefect, "free_port", lambda: next(ports, None) or real_free_port())
        env = dict(os.environ, PREFECT_HOME=str(tmp_path / ".prefect"), DO_NOT_TRACK="1")
        env.pop("PREFECT_API_URL", None)
        proc, url = with_prefect.start_server(env, tmp_path / "server.log")
        try:
            assert f":{taken}/" not in url
            assert with_prefect.listens_on(proc, int(url.rsplit(":", 1)[1].split("/")[0]))
        finally:
            with_prefect.stop_server(proc)
        assert not with_prefect.healthy(url)
    finally:
        other.kill()
        other.wait()


def test_a_stage_without_api_url_uses_its_own_server_and_stops_it(tmp_path):
    """stages/_common.prefect_api: flows inside it report to this process's server, never to a
    Prefect temporary server; the variable is gone and the server down afterwards."""
    code = f"""
import os, sys
sys.path.insert(0, {str(ROOT / "stages")!r})
os.environ.pop("PREFECT_API_URL", None)
import _common
from prefect import flow
@flow
def f():
    from prefect.settings import PREFECT_API_URL
    return os.environ["PREFECT_API_URL"], PREFECT_API_URL.value()
with _common.prefect_api():
    env_url, setting_url = f()
print("API", env_url, setting_url, os.environ.get("PREFECT_API_URL"))
"""
    env = dict(os.environ, PREFECT_HOME=str(tmp_path / ".prefect"), DO_NOT_TRACK="1", no_proxy="127.0.0.1,localhost")
    env.pop("PREFECT_API_URL", None)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    _, env_url, setting_url, after = next(ln for ln in r.stdout.splitlines() if ln.startswith("API ")).split()
    assert env_url == setting_url and env_url.startswith("http://127.0.0.1:")
    assert after == "None"
    assert "Starting temporary server" not in r.stderr
    try:
        urllib.request.urlopen(f"{env_url}/health", timeout=2)
        raise AssertionError(f"the server at {env_url} is still up")
    except OSError:
        pass


def test_where_sockets_cannot_be_read_the_health_check_decides(monkeypatch):
    """psutil AccessDenied (macOS without root): ownership cannot be checked, so it is not refused;
    a process that has exited is never taken for the owner."""
    import psutil

    sys.path.insert(0, str(ROOT / "stages"))
    import with_prefect

    def denied(self, kind="inet"):
        raise psutil.AccessDenied(self.pid)

    monkeypatch.setattr(psutil.Process, "net_connections", denied)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert with_prefect.listens_on(alive, 1)
    finally:
        alive.kill()
        alive.wait()
    assert not with_prefect.listens_on(alive, 1)
