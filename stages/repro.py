"""`dvc repro` with independent stages side by side.

    python stages/repro.py [-j N] [TARGET ...]      # what `make demo` runs (inside with_prefect.py)

DVC runs a pipeline's stages one after another. Its locking allows more: it releases the
repository lock while a stage's command runs and guards each stage's outputs and dependencies
with read/write locks (dvc/stage/run.py `unlocked_repo`, dvc/rwlock.py), so several
`dvc repro --single-item <stage>` processes can work on one project at once. This runner:

  1. asks `dvc status` which stages are out of date (none: it stops there, as `dvc repro` does);
  2. takes the pipeline's graph from DVC and keeps those stages and everything downstream of them
     (of TARGETs and their upstream stages only, when given);
  3. runs each as `dvc --wait-for-lock repro --single-item <stage>` as soon as the stages it depends
     on have finished (graphlib.TopologicalSorter), at most N at once. A stage whose inputs turned
     out unchanged is skipped by DVC itself, and dvc.lock, the cache and the run cache are DVC's as
     with `dvc repro`.

N defaults to the CPU cores divided by the experiment's `cpu_threads` (1 when that is null, e.g. the
paper experiment on one GPU). The experiment's numbers do not depend on N: every stage runs
`cpu_threads` torch threads however many run beside it (stages/_common.py).

Each stage's output goes to .dvc/tmp/repro/<stage>.log; the terminal gets a line when a stage starts
and ends, and every 30 s what the running stages are doing. After a failure no new stage starts,
the running ones finish (their results are kept), the failed stage's log tail is printed, and the
exit status is 1.
"""

from __future__ import annotations

import argparse
import graphlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

STATUS_EVERY_S = 30.0


def default_jobs(params_file: Path) -> int:
    """CPU cores / the selected experiment's cpu_threads; 1 where the experiment leaves threads to torch
    (or the project has no params file)."""
    import yaml

    if not params_file.is_file():
        return 1
    raw = yaml.safe_load(params_file.read_text()) or {}
    threads = (raw.get("experiments", {}).get(raw.get("experiment"), {}) or {}).get("cpu_threads")
    return max(1, (os.cpu_count() or 1) // threads) if threads else 1


def outdated(root: Path) -> set[str]:
    """The stages `dvc status` reports as changed (frozen stages never are)."""
    r = subprocess.run(["dvc", "status", "--json"], cwd=root, capture_output=True, text=True)
    if r.returncode != 0 or not r.stdout.strip():
        sys.exit(f"error: `dvc status` failed in {root}:\n{r.stderr.strip()}")
    return set(json.loads(r.stdout))


def plan(root: Path, changed: set[str], targets: list[str]) -> tuple[dict[str, set[str]], list[str]]:
    """({stage: the stages it waits for}, every stage in dvc.yaml order) for the changed stages and all
    that is downstream of them, restricted to TARGETs and their upstream stages when targets are given."""
    import networkx as nx
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        graph = repo.index.graph  # edge (stage, upstream stage): `stage` depends on an output of it
        name = {s: s.addressing for s in graph.nodes}
        g = nx.relabel_nodes(graph, name)
        order = [s.addressing for s in repo.index.stages]
    known = set(g.nodes)
    for t in targets:
        if t not in known:
            sys.exit(f"error: no stage {t!r} in dvc.yaml (stages: {', '.join(sorted(known))})")
    keep = set()
    for s in changed & known:
        keep |= {s} | nx.ancestors(g, s)  # ancestors in this edge direction = downstream stages
    if targets:
        wanted = set(targets).union(*(nx.descendants(g, t) for t in targets))
        keep &= wanted
    return {s: {u for u in g.successors(s) if u in keep} for s in keep}, order


def progress(log: Path) -> str:
    """The last thing a stage wrote: its progress bar's current text, or its last log line."""
    try:
        with open(log, "rb") as f:
            f.seek(max(0, log.stat().st_size - 4096))
            tail = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    parts = [p.strip() for p in tail.replace("\r", "\n").split("\n") if p.strip()]
    return parts[-1][:110] if parts else ""


def log_path(log_dir: Path, stage: str) -> Path:
    """finetune@syog -> finetune-syog.log; a stage of another dvc.yaml (sub/dvc.yaml:name) -> sub_dvc.yaml_name.log"""
    return log_dir / (re.sub(r"[^A-Za-z0-9._-]", "_", stage.replace("@", "-")) + ".log")


def run(root: Path, deps: dict[str, set[str]], jobs: int, log_dir: Path, order_hint: list[str] = ()) -> int:
    """Run the stages of `deps`; among those ready, the earlier in `order_hint` (dvc.yaml's order, which
    is `dvc repro`'s too: the methods as params.yaml lists them, the longest fine-tunes first) starts first."""
    rank = {s: i for i, s in enumerate(order_hint)}
    log_dir.mkdir(parents=True, exist_ok=True)
    order = graphlib.TopologicalSorter(deps)
    order.prepare()
    running: dict[str, tuple[subprocess.Popen, float, Path]] = {}
    waiting: list[str] = []
    failed: list[str] = []
    t0 = last_status = time.monotonic()
    try:
        while order.is_active():
            if not failed:
                waiting = sorted([*waiting, *order.get_ready()], key=lambda s: rank.get(s, len(rank)))
            while waiting and len(running) < jobs and not failed:
                stage = waiting.pop(0)
                log = log_path(log_dir, stage)
                with open(log, "wb") as f:
                    proc = subprocess.Popen(
                        ["dvc", "--wait-for-lock", "repro", "--single-item", stage],
                        cwd=root,
                        stdout=f,
                        stderr=subprocess.STDOUT,
                    )
                running[stage] = (proc, time.monotonic(), log)
                print(f"[repro] {_clock(t0)} start  {stage}  (log: {log})", flush=True)
            if not running:
                break  # a failure and nothing left running
            time.sleep(0.5)
            for stage, (proc, started, _) in list(running.items()):
                if proc.poll() is None:
                    continue
                del running[stage]
                took = time.monotonic() - started
                if proc.returncode == 0:
                    print(f"[repro] {_clock(t0)} done   {stage}  ({took:.0f} s)", flush=True)
                    order.done(stage)
                else:
                    failed.append(stage)
                    print(f"[repro] {_clock(t0)} FAILED {stage}  (status {proc.returncode}, {took:.0f} s)", flush=True)
            if running and time.monotonic() - last_status >= STATUS_EVERY_S:
                last_status = time.monotonic()
                for stage, (_, started, log) in running.items():
                    print(
                        f"[repro] {_clock(t0)} ...    {stage} {time.monotonic() - started:.0f} s: {progress(log)}",
                        flush=True,
                    )
    except KeyboardInterrupt:
        for proc, _, _ in running.values():  # they got the terminal's SIGINT too; DVC stops its command
            proc.wait()
        return 130
    for stage in failed:
        log = log_path(log_dir, stage)
        tail = log.read_text(errors="replace").replace("\r", "\n").splitlines()[-30:]
        print(f"\n[repro] {stage} failed; the end of {log}:\n" + "\n".join(tail), file=sys.stderr)
    if failed:
        return 1
    print(f"[repro] {_clock(t0)} all {len(deps)} stage(s) done", flush=True)
    return 0


def _clock(t0: float) -> str:
    s = int(time.monotonic() - t0)
    return f"{s // 60:02d}:{s % 60:02d}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("targets", nargs="*", help="stages to bring up to date, with their upstream (default: all)")
    p.add_argument("-j", "--jobs", type=int, default=None, help="stages at once (default: cores / cpu_threads)")
    p.add_argument(
        "--params", default="params.yaml", help="for the default --jobs (default: the project's %(default)s)"
    )
    args = p.parse_args(argv)
    jobs = args.jobs if args.jobs is not None else default_jobs(Path(args.params))
    if jobs < 1:
        sys.exit(f"error: --jobs must be >= 1, got {jobs}")
    root = Path.cwd()
    changed = outdated(root)
    if not changed:
        print("Data and pipelines are up to date.", flush=True)
        return 0
    deps, order = plan(root, changed, args.targets)
    if not deps:
        print("Data and pipelines are up to date.", flush=True)
        return 0
    print(f"[repro] {len(deps)} stage(s) to check, {jobs} at once: {', '.join(s for s in order if s in deps)}")
    return run(root, deps, jobs, root / ".dvc" / "tmp" / "repro", order)


if __name__ == "__main__":
    sys.exit(main())
