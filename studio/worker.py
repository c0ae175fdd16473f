"""`python -m studio.worker <state_dir> <job_id>`: run one studio job's command and record the result.

Started by studio.jobs.JobRunner.launch in its own session; its output is the job's log.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from studio.jobs import JobRunner


def main(state_dir: str, job_id: str) -> int:
    runner = JobRunner(Path.cwd(), Path(state_dir))
    job = runner.read()
    if job is None or job["id"] != job_id:
        print(f"studio worker: job {job_id} is not the current job; nothing to do", flush=True)
        return 2
    print("$ " + " ".join(job["cmd"]), flush=True)
    proc = subprocess.Popen(job["cmd"], stdout=sys.stdout, stderr=subprocess.STDOUT)
    runner.update(job_id, status="running", dvc_pid=proc.pid)
    rc = proc.wait()
    if rc == 0:
        runner.update(job_id, status="succeeded", ended=time.time(), returncode=0)
    else:
        error = last_error(runner.log_tail(runner.read(), lines=200)) or f"dvc exp run exited with status {rc}"
        runner.update(job_id, status="failed", ended=time.time(), returncode=rc, error=error)
    return rc


def last_error(log: str) -> str | None:
    """The most telling line of a failed run: DVC's 'ERROR:' line, else the last exception line."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("ERROR:") or "Error:" in line.split(" ", 1)[0] or line.startswith("pipeline."):
            return line
    return None


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
