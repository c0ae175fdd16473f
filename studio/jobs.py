"""One customization at a time: `dvc exp run --temp` in a detached worker, with its state on disk.

    .studio/job.json            the current (or last) job: id, name, status, pids, times, error
    .studio/jobs/<id>/log.txt   the worker's and DVC's output
    .studio/lock                held (fcntl) while a job is launched, cancelled or its state changes

The worker (`python -m studio.worker`) runs in its own session, so closing the browser or restarting
the studio does not stop it, and reopening the page finds it in job.json. `dvc exp run --temp` runs
the pipeline in a temporary copy of the workspace (the user's params.yaml is never edited) and
records the experiment, so it appears in `dvc exp show` like any other. The sketch set travels with
`--copy-paths`, as data/ is not tracked by git.

Status: starting -> running -> succeeded | failed | cancelled. A worker that died without writing
its end state is reported as failed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

FINAL = ("succeeded", "failed", "cancelled")
CODE_ROOT = Path(__file__).resolve().parents[1]


class JobBusy(RuntimeError):
    pass


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (exited, not yet reaped by its parent) is not alive
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def busy_message(job: dict) -> str:
    started = time.strftime("%H:%M:%S", time.localtime(job["started"]))
    return f"a customization is already running ({job['name']}, started {started}); wait for it or cancel it"


class JobRunner:
    def __init__(self, root: Path, state_dir: Path | None = None, python: str = sys.executable):
        self.root = Path(root)
        self.dir = Path(state_dir or self.root / ".studio")
        self.python = python
        self.dir.mkdir(parents=True, exist_ok=True)

    # -- state on disk ------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self):
        with open(self.dir / "lock", "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    @property
    def state_file(self) -> Path:
        return self.dir / "job.json"

    def read(self) -> dict | None:
        try:
            return json.loads(self.state_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def write(self, job: dict) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(job, indent=2))
        os.replace(tmp, self.state_file)  # readers never see half a file

    def update(self, job_id: str, **changes) -> dict | None:
        """Change the job's state, unless it is another job's or already final."""
        with self.locked():
            job = self.read()
            if job is None or job["id"] != job_id or job["status"] in FINAL:
                return job
            job.update(changes)
            self.write(job)
            return job

    def current(self) -> dict | None:
        """The current or last job, with a dead worker's job marked failed."""
        job = self.read()
        if job and job["status"] not in FINAL and not _alive(job.get("worker_pid")):
            # Decided under the lock, on a fresh read: a launch writes the job before its worker
            # exists and adds the worker's pid afterwards, holding the lock throughout.
            with self.locked():
                job = self.read()
                if job and job["status"] not in FINAL and not _alive(job.get("worker_pid")):
                    job.update(status="failed", ended=time.time(), error="the worker process ended without a result")
                    self.write(job)
        return job

    def running(self) -> dict | None:
        """The job in progress, if any (a dead worker's job counts as ended)."""
        job = self.current()
        return job if job and job["status"] not in FINAL else None

    def log_tail(self, job: dict | None, lines: int = 40) -> str:
        if not job:
            return ""
        try:
            text = Path(job["log"]).read_text(errors="replace")
        except FileNotFoundError:
            return ""
        # progress bars redraw with \r: keep each line's last state
        return "\n".join(line.split("\r")[-1] for line in text.splitlines()[-lines:])

    # -- launch and cancel --------------------------------------------------------

    def launch(self, name: str, set_args: list[str], copy_paths: list[str], meta: dict | None = None) -> dict:
        """Start `dvc exp run --temp -n name <set_args> --copy-paths ...` in a detached worker."""
        cmd = [self.python, "-m", "dvc", "exp", "run", "--temp", "-n", name, *set_args]
        for p in copy_paths:
            cmd += ["--copy-paths", p]
        return self.launch_command(cmd, name, meta)

    def launch_command(self, cmd: list[str], name: str, meta: dict | None = None) -> dict:
        """Start cmd in a detached worker as the one current job; JobBusy if one runs."""
        with self.locked():
            job = self.read()
            if job and job["status"] not in FINAL and _alive(job.get("worker_pid")):
                raise JobBusy(busy_message(job))
            job_id = time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
            folder = self.dir / "jobs" / job_id
            folder.mkdir(parents=True)
            job = {
                "id": job_id,
                "name": name,
                "status": "starting",
                "cmd": cmd,
                "log": str(folder / "log.txt"),
                "started": time.time(),
                "ended": None,
                "error": None,
                "meta": meta or {},
            }
            # on disk before the worker starts: the worker reads it to know it is the current job
            self.write(job)
            with open(folder / "log.txt", "ab") as log:
                worker = subprocess.Popen(
                    [self.python, "-m", "studio.worker", str(self.dir), job_id],
                    cwd=self.root,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: outlives the studio, cancels as one
                    # the project root first (its pipeline and stages); this code second (studio.worker)
                    env={**os.environ, "PYTHONPATH": os.pathsep.join([str(self.root), str(CODE_ROOT)])},
                )
            job["worker_pid"] = worker.pid
            self.write(job)
            self._worker = worker  # keeps the handle so the child is reaped when it ends
            return job

    def cancel(self, grace_s: float = 10.0) -> dict | None:
        job = self.current()
        if not job or job["status"] in FINAL:
            return job
        pgid = job["worker_pid"]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)  # DVC removes its temporary workspace on SIGTERM
        deadline = time.time() + grace_s
        while time.time() < deadline and _alive(pgid):
            self._reap()
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        self._reap()
        with self.locked():
            job = self.read()
            if job["status"] not in FINAL:
                job.update(status="cancelled", ended=time.time(), error="cancelled from the studio")
                self.write(job)
        return job

    def _reap(self):
        w = getattr(self, "_worker", None)
        if w is not None:
            w.poll()

    def wait(self, timeout_s: float, poll_s: float = 0.5) -> dict | None:
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            self._reap()
            job = self.current()
            if not job or job["status"] in FINAL:
                return job
            time.sleep(poll_s)
        return self.current()
