"""The offline demo's wall time end to end, and a no-op `dvc repro`, in a fresh copy of the project.

Not a test. Copies the project's files as a fresh clone has them (what git sees: dvc.lock, the
committed toy-world networks in data/world/, none of data/'s produced files, no DVC cache) into a
temporary folder, makes it a git repository, and runs there, with this checkout's .venv on PATH:
  1. `python stages/with_prefect.py python stages/repro.py`  (what `make demo` runs: independent
     stages side by side, one shared Prefect server); with --runner dvc, `dvc repro` (one stage at a
     time); with --server per-stage, without the shared server (Prefect's temporary one in every stage);
  2. the same runner again, which should find nothing to do.
Stable output:

    demo_pipeline runner=parallel server=shared stages=18 repro_s=... noop_repro_s=... cpus=2

Run: .venv/bin/python benchmarks/demo_pipeline.py [--runner parallel|dvc] [--server shared|per-stage] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def project_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    # the world's frozen stages verify their committed outputs against dvc.lock, as in a fresh clone
    return [f for f in out.split("\0") if f and (ROOT / f).is_file()]


def copy_project(dst: Path, env: dict) -> None:
    for f in project_files():
        (dst / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, dst / f)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "copy"]):
        subprocess.run(cmd, cwd=dst, check=True, env=env)


def timed(cmd: list[str], cwd: Path, env: dict, log: Path) -> float:
    t0 = time.perf_counter()
    with open(log, "ab") as f:
        r = subprocess.run(cmd, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} failed with status {r.returncode}; log: {log}")
    return dt


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runner", default="parallel", choices=["parallel", "dvc"], help="stages/repro.py or dvc repro")
    ap.add_argument("--server", default="shared", choices=["shared", "per-stage"])
    ap.add_argument("--keep", type=Path, default=None, help="run in this folder and keep it (default: a temp dir)")
    args = ap.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="demo-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    env = dict(
        os.environ,
        PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
        PREFECT_HOME=str(work / ".prefect"),
        HF_HUB_OFFLINE="1",
        DO_NOT_TRACK="1",
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@localhost",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@localhost",
    )
    env.pop("PREFECT_API_URL", None)
    try:
        copy_project(work, env)
        log = work / "bench.log"
        repro = ["dvc", "repro"] if args.runner == "dvc" else [str(BIN / "python"), "stages/repro.py"]
        wrap = [] if args.server == "per-stage" else [str(BIN / "python"), "stages/with_prefect.py"]
        full = timed(wrap + repro, work, env, log)
        noop = timed(repro, work, env, log)
        if args.runner == "parallel":  # each stage's DVC output is in its own log
            n = len(list((work / ".dvc" / "tmp" / "repro").glob("*.log")))
        else:
            n = sum(1 for line in log.read_text().splitlines() if line.startswith("Running stage"))
        print(
            f"demo_pipeline runner={args.runner} server={args.server} stages={n} repro_s={full:.1f} noop_repro_s={noop:.2f} "
            f"cpus={os.cpu_count()}",
            flush=True,
        )
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
