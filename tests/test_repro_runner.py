"""stages/repro.py, `dvc repro` with independent stages side by side, on a small DVC project of its
own (stage commands are one-line Python scripts): the stages that can overlap do, each starts only
after its upstream stages, a failure stops what depends on it and says where its log is, and what
the runner leaves is what `dvc repro` would have left (dvc.lock, `dvc status` clean)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# a -> (b, c) -> d, and e on its own. Each stage records when it started and ended, then writes its out.
STAGE = (
    "import json, sys, time; name, wait = sys.argv[1], float(sys.argv[2]); t0 = time.time(); time.sleep(wait); "
    "ins = [open(p).read() for p in sys.argv[3:]]; "
    "open(f'out/{name}.txt', 'w').write(name + '(' + ','.join(ins) + ')'); "
    "open(f'times/{name}.json', 'w').write(json.dumps([t0, time.time()]))"
)


def stage(name: str, deps: list[str], wait: float = 0.0, fail: bool = False) -> dict:
    ins = " ".join(f"out/{d}.txt" for d in deps)
    cmd = 'python -c "import sys; sys.exit(3)"' if fail else f"python stage.py {name} {wait} {ins}".strip()
    return {"cmd": cmd, "deps": ["stage.py", *(f"out/{d}.txt" for d in deps)], "outs": [f"out/{name}.txt"]}


def project(tmp: Path, fail: str | None = None, wait: float = 2.0) -> Path:
    env = run_env()
    (tmp / "out").mkdir(parents=True)
    (tmp / "times").mkdir()
    (tmp / "stage.py").write_text(STAGE + "\n")
    spec = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "e": []}
    stages = {n: stage(n, d, wait if n in ("b", "c") else 0.0, fail == n) for n, d in spec.items()}
    (tmp / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    (tmp / ".gitignore").write_text("times/\n")
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "p"]):
        subprocess.run(cmd, cwd=tmp, check=True, env=env)
    return tmp


def run_env() -> dict:
    return dict(
        os.environ,
        PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@t",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@t",
    )


def runner(proj: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "stages" / "repro.py"), *args],
        cwd=proj,
        env=run_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def times(proj: Path) -> dict[str, tuple[float, float]]:
    return {p.stem: tuple(json.loads(p.read_text())) for p in (proj / "times").glob("*.json")}


def lock_outs(proj: Path) -> dict:
    lock = yaml.safe_load((proj / "dvc.lock").read_text())["stages"]
    return {name: [o["md5"] for o in s["outs"]] for name, s in lock.items()}


@pytest.fixture(scope="module")
def parallel(tmp_path_factory):
    proj = project(tmp_path_factory.mktemp("parallel"))
    return proj, runner(proj, "-j", "2")


def test_independent_stages_overlap_and_dependants_wait(parallel):
    proj, r = parallel
    assert r.returncode == 0, r.stdout + r.stderr
    t = times(proj)
    assert set(t) == set("abcde")
    (b0, b1), (c0, c1) = t["b"], t["c"]
    assert b0 < c1 and c0 < b1, f"b and c (2 s each) did not overlap with -j 2: b {t['b']}, c {t['c']}"
    assert t["a"][1] <= min(b0, c0), "b or c started before a finished"
    assert t["d"][0] >= max(b1, c1), "d started before both b and c finished"
    assert (proj / "out" / "d.txt").read_text() == "d(b(a()),c(a()))"
    assert "all 5 stage(s) done" in r.stdout


def test_what_it_leaves_is_what_dvc_repro_leaves(parallel, tmp_path):
    proj, r = parallel
    status = subprocess.run(["dvc", "status", "--json"], cwd=proj, env=run_env(), capture_output=True, text=True)
    assert json.loads(status.stdout) == {}, status.stdout
    serial = project(tmp_path / "serial")
    subprocess.run(["dvc", "repro"], cwd=serial, env=run_env(), check=True, capture_output=True)
    assert lock_outs(proj) == lock_outs(serial)
    again = runner(proj)
    assert again.returncode == 0 and "up to date" in again.stdout, again.stdout + again.stderr


def test_one_at_a_time_with_j1(tmp_path):
    proj = project(tmp_path / "p")  # b and c take 2 s: longer than DVC's start-up, so -j 2 would overlap them
    r = runner(proj, "-j", "1", "d")
    assert r.returncode == 0, r.stdout + r.stderr
    t = times(proj)
    assert set(t) == set("abcd"), "target d: e is not upstream of it and must not run"
    spans = sorted(t.values())
    assert all(prev[1] <= nxt[0] for prev, nxt in zip(spans, spans[1:])), f"stages overlapped with -j 1: {t}"


def test_a_failure_stops_its_dependants_and_names_the_log(tmp_path):
    proj = project(tmp_path / "p", fail="b", wait=0.5)
    r = runner(proj, "-j", "2")
    assert r.returncode == 1
    assert "FAILED b" in r.stdout
    log = proj / ".dvc" / "tmp" / "repro" / "b.log"
    assert log.exists() and f"b failed; the end of {log}" in r.stderr
    assert not (proj / "out" / "d.txt").exists(), "d ran although b failed"
    assert (proj / "out" / "a.txt").exists(), "a's output (finished before the failure) was lost"


def test_unknown_target_is_named(tmp_path):
    proj = project(tmp_path / "p")
    r = runner(proj, "nope")
    assert r.returncode != 0 and "no stage 'nope' in dvc.yaml" in r.stderr and "a, b, c, d, e" in r.stderr
    r = runner(proj, "-j", "0")
    assert r.returncode != 0 and "--jobs must be >= 1, got 0" in r.stderr


def test_default_jobs_come_from_the_projects_params(tmp_path):
    """cores / cpu_threads of the experiment selected in the project's own params.yaml (its working
    folder's, not this checkout's); 1 without cpu_threads or without a params file."""
    sys.path.insert(0, str(ROOT / "stages"))
    from repro import default_jobs

    f = tmp_path / "params.yaml"
    assert default_jobs(f) == 1
    f.write_text(
        yaml.safe_dump({"experiment": "x", "experiments": {"x": {"cpu_threads": 1}, "y": {"cpu_threads": 99}}})
    )
    assert default_jobs(f) == os.cpu_count()
    f.write_text(yaml.safe_dump({"experiment": "y", "experiments": {"y": {"cpu_threads": None}}}))
    assert default_jobs(f) == 1
