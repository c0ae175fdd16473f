"""A temporary copy of the project, driven the way a user drives it: real `dvc repro`, real stage
scripts, real Prefect flows. Shared by the end-to-end test and the fault-injection suite.

    proj = make_project(tmp / "proj", extra={...}, methods={...})   # tiny params, git repo
    dvc(proj, "repro")                                               # raises with the log on failure
    r = stage(proj, "prepare", params=other_params_file)             # one stage script
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import yaml
from tiny import ROOT, write_tiny_params

BIN = Path(sys.executable).parent


def project_files() -> list[str]:
    """The project's files as git sees them (tracked + untracked, not ignored). Outside a git checkout
    (mutmut runs the tests in a copy of the tree without .git) the tests that copy the project skip."""
    if not (ROOT / ".git").exists():
        pytest.skip("copies the project as git sees it; this tree is not a git checkout (e.g. a mutmut copy)")
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [f for f in out.split("\0") if f and (ROOT / f).is_file()]


_PREFECT: dict = {}


def shared_prefect_api() -> str:
    """One Prefect server for this test process (one per xdist worker), started on first use.

    Every stage of every project copy reports to it, as under `make demo`, instead of each stage
    starting a server of its own (about 5 s each, and the suite runs a few hundred stages). The
    stages' own-server path is tested in tests/test_with_prefect.py."""
    if "url" not in _PREFECT:
        sys.path.insert(0, str(ROOT / "stages"))
        from with_prefect import start_server

        home = Path(tempfile.mkdtemp(prefix="prefect-tests-"))
        env = dict(os.environ, PREFECT_HOME=str(home), DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false")
        env.pop("PREFECT_API_URL", None)
        _PREFECT["proc"], _PREFECT["url"] = start_server(env, home / "server.log")
        _PREFECT["home"] = home
        atexit.register(stop_shared_prefect)
    return _PREFECT["url"]


def stop_shared_prefect() -> None:
    """Stop the shared server (conftest calls this at the end of the session; atexit as a backup)."""
    if "proc" in _PREFECT:
        from with_prefect import stop_server

        stop_server(_PREFECT.pop("proc"))
        shutil.rmtree(_PREFECT.pop("home"), ignore_errors=True)
        _PREFECT.pop("url", None)


def proj_env(proj: Path) -> dict:
    return dict(
        os.environ,
        PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
        PREFECT_HOME=str(proj / ".prefect"),
        PREFECT_API_URL=shared_prefect_api(),
        HF_HUB_OFFLINE="1",
        DO_NOT_TRACK="1",
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@t",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@t",
        no_proxy="127.0.0.1,localhost",
        NO_PROXY="127.0.0.1,localhost",
    )


def syog_methods(**variants) -> dict:
    """{"syog": the repo's syog block} plus variants given as name -> overrides."""
    base = yaml.safe_load((ROOT / "params.yaml").read_text())["methods"]["syog"]
    return {"syog": base, **{k: {**base, **v} for k, v in variants.items()}}


def make_project(proj: Path, extra: dict | None = None, methods: dict | None = None) -> Path:
    """Copy the project (no tests, reports or dvc.lock) to `proj` with tiny params; a git repo."""
    for f in project_files():
        if f.startswith(("tests/", "reports/")) or f == "dvc.lock":
            continue
        (proj / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, proj / f)
    write_tiny_params(proj / "params.yaml", extra, methods)
    env = proj_env(proj)
    subprocess.run(["git", "init", "-q"], cwd=proj, check=True, env=env)
    subprocess.run(["git", "add", "-A"], cwd=proj, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "copy"], cwd=proj, check=True, env=env)
    return proj


def dvc(proj: Path, *args, check: bool = True, **kw) -> str:
    """Run dvc in `proj`; stdout + stderr. check: raise with the end of the log on failure."""
    r = subprocess.run([str(BIN / "dvc"), *args], cwd=proj, env=proj_env(proj), capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed ({r.returncode}):\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}")
    return r.stdout + r.stderr


def dvc_result(proj: Path, *args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "dvc"), *args], cwd=proj, env=proj_env(proj), capture_output=True, text=True, **kw)


def stage(proj: Path, name: str, *args, params: Path | None = None, timeout: float = 300):
    """Run `python stages/<name>.py [args] [--params P]` in `proj`; the CompletedProcess."""
    cmd = [sys.executable, f"stages/{name}.py", *args] + (["--params", str(params)] if params else [])
    return subprocess.run(cmd, cwd=proj, env=proj_env(proj), capture_output=True, text=True, timeout=timeout)


def start(proj: Path, args: list[str], log: Path) -> subprocess.Popen:
    """Start `dvc <args>` in its own process group (so it can be killed with its children)."""
    return subprocess.Popen(
        [str(BIN / "dvc"), *args],
        cwd=proj,
        env=proj_env(proj),
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


class Run:
    """A background `dvc <args>` in `proj`: .wait() -> (rc, stdout + stderr, seconds it ran)."""

    def __init__(self, proj: Path, args: list[str], log: Path):
        self.proj, self.log, self.t0 = proj, log, time.time()
        self.p = subprocess.Popen(
            [str(BIN / "dvc"), *args],
            cwd=proj,
            env=proj_env(proj),
            stdout=open(log, "w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.seconds = None
        threading.Thread(target=self._time, daemon=True).start()

    def _time(self):
        self.p.wait()
        self.seconds = time.time() - self.t0

    def wait(self, timeout: float = 300):
        rc = self.p.wait(timeout=timeout)
        while self.seconds is None:
            time.sleep(0.01)
        return rc, self.log.read_text(), self.seconds

    def stop(self):
        if self.p.poll() is None:
            kill(self.p)


def kill(p: subprocess.Popen) -> None:
    """SIGKILL the whole process group: dvc, the stage's python, everything it started."""
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()


def wait_until(cond, p: subprocess.Popen, timeout: float, what: str, log: Path | None = None, poll: float = 0.02):
    """Poll `cond()` until true; fail if the process ended first or the time ran out."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = cond()
        if value:
            return value
        if p.poll() is not None:
            tail = log.read_text()[-3000:] if log and log.exists() else ""
            raise AssertionError(f"the process ended (rc {p.returncode}) before {what}\n{tail}")
        time.sleep(poll)
    kill(p)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def stage_python_running(p: subprocess.Popen, script: str) -> bool:
    """True once a descendant of `p` runs `python stages/<script>` (found through /proc)."""
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().split(b"\0")
            if os.getpgid(int(d.name)) == p.pid and any(c.endswith(script.encode()) for c in cmd):
                return True
        except (OSError, ProcessLookupError):
            continue
    return False


def digests(folder: Path, exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """{relative path: sha256} of every file under `folder`."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.relative_to(folder).as_posix() not in exclude
    }


def stray_temp_files(proj: Path) -> list[str]:
    """Temporary names a stage may leave while writing (never after it finished or was re-run)."""
    names = []
    for p in (proj / "data").rglob("*"):
        rel = p.relative_to(proj).as_posix()
        if rel == "data/.tmp":
            continue
        if (
            rel.startswith("data/.tmp/")
            or p.name.endswith((".tmp", ".part"))
            or ".tmp-" in p.name
            or ".old-" in p.name
            or (rel.startswith("data/cache/") and p.name.startswith("tmp"))
        ):
            names.append(rel)
    for p in (proj / "reports").rglob("*"):
        if p.name.startswith(".") and p.name != ".gitignore":
            names.append(p.relative_to(proj).as_posix())
    return sorted(names)
