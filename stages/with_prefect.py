"""Run a command (usually `dvc repro`) against one Prefect server shared by all its stages.

    python stages/with_prefect.py dvc repro
    python stages/with_prefect.py dvc exp run -S experiments.demo.train.iters=200

Why: each DVC stage is its own Python process, and a Prefect flow in a process with no
PREFECT_API_URL starts a temporary server (about 5 s on a 2-core machine) and stops it again.
The demo has 22 stages, so that is about two minutes of server start-ups. This wrapper starts
one server (`prefect server start`, API only, no UI, no background services) on a free local
port, runs the command with PREFECT_API_URL pointing at it, and stops the server afterwards,
whatever the command's outcome. The command's exit status is passed through.

If PREFECT_API_URL is already set (a server you run yourself, or Prefect Cloud), the command runs
against that one and nothing is started. Plain `dvc repro` keeps working without this wrapper.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT_S = float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180"))


def free_port() -> int:
    """A port the OS says is free now (bind to port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def listens_on(proc: subprocess.Popen, port: int) -> bool:
    """Whether `proc` or one of its children listens on `port`. A health check alone cannot tell:
    if another server took the port first, ours fails to bind and the check reaches that one.
    Where the OS does not show a process's sockets (psutil AccessDenied, e.g. macOS without root),
    the health check is all there is: True."""
    import psutil

    try:
        root = psutil.Process(proc.pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return False
    denied = False
    for p in procs:
        try:
            if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in p.net_connections("tcp")):
                return True
        except psutil.NoSuchProcess:
            continue
        except psutil.AccessDenied:
            denied = True
    return denied


def start_server(env: dict, log_path: Path, attempts: int = 3) -> tuple[subprocess.Popen, str]:
    """Start `prefect server start` on a free port; (process, API URL) once it answers as ours.

    The port comes from the OS (bind to port 0), not from Prefect's own pick among 1,000 ports,
    which two stages starting at the same moment can both draw (issue seen in CI: one stage's
    flow then talked to the other's server, and failed when that one stopped)."""
    for attempt in range(1, attempts + 1):
        port = free_port()
        api_url = f"http://127.0.0.1:{port}/api"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "prefect",
                    "server",
                    "start",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--no-ui",
                    "--no-services",
                    "--analytics-off",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        t0 = time.monotonic()
        while not healthy(api_url):
            if proc.poll() is not None:
                break
            if time.monotonic() - t0 > STARTUP_TIMEOUT_S:
                stop_server(proc)
                raise RuntimeError(f"the Prefect server was not up after {STARTUP_TIMEOUT_S:.0f} s; see {log_path}")
            time.sleep(0.2)
        if proc.poll() is None and listens_on(proc, port):
            print(
                f"[with_prefect] Prefect server up at {api_url} in {time.monotonic() - t0:.1f} s (log: {log_path})",
                file=sys.stderr,
                flush=True,
            )
            return proc, api_url
        # Exited, or the port answered for another process: try a fresh port.
        stop_server(proc)
        print(
            f"[with_prefect] Prefect server on port {port} did not come up as ours "
            f"(attempt {attempt} of {attempts}; see {log_path})",
            file=sys.stderr,
            flush=True,
        )
    raise RuntimeError(f"the Prefect server did not start after {attempts} attempts; see {log_path}")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)  # the server and its uvicorn children
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    env = dict(os.environ)
    env.setdefault("PREFECT_HOME", str(ROOT / ".prefect"))
    env.setdefault("DO_NOT_TRACK", "1")
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if env.get("PREFECT_API_URL"):
        return subprocess.call(argv, env=env)
    proc, api_url = start_server(env, Path(env["PREFECT_HOME"]) / "server.log")
    try:
        return subprocess.call(argv, env={**env, "PREFECT_API_URL": api_url})
    except KeyboardInterrupt:
        return 130
    finally:
        stop_server(proc)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
