"""Sweeps (pipeline/sweep.py, stages/flows.py sweep_flow, stages/sweep.py) on the tiny config:
config validation, grid expansion and keys, a local sweep of 2 methods x 2 seeds with its table,
a re-run that skips every finished chain, the same sweep on a real dask.distributed LocalCluster
(2 worker processes) giving the same numbers, a sweep in which a worker is SIGKILLed mid-chain,
Prefect retries, failures that do not stop other chains, and the stage's command line on a local
cluster with one "GPU" per worker.

Wall times of the 2 x 2 sweep (local, then on the 2-worker cluster) are printed (`pytest -s`).
"""

import json
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from project import make_project, proj_env
from tiny import ROOT, write_tiny_params

sys.path.insert(0, str(ROOT / "stages"))  # flows.py, as the stage scripts import it

from pipeline.config import ConfigError, load_params  # noqa: E402
from pipeline.sweep import expand, is_done, read_metrics, run_chain, summarize, sweep_record  # noqa: E402

METHODS = ["syog", "clip_global"]
SEEDS = [0, 1]
GRID = {
    "methods.clip_global.clip_layers": 2,  # the tiny mapping network has 2 layers
    "sweep.methods": METHODS,
    "sweep.seeds": SEEDS,
    "sweep.prompts": [None],
    "sweep.retries": 0,
    "sweep.retry_delay_s": 0,
}


@pytest.fixture(scope="module", autouse=True)
def restore_threads():
    """Chains set torch's thread count for the whole process; give other tests theirs back."""
    import torch

    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def flows(tmp_path_factory):
    """stages/flows.py with Prefect in ephemeral mode, its state in a temporary PREFECT_HOME."""
    home = tmp_path_factory.mktemp("prefect")
    for k, v in proj_env(home.parent).items():
        if k.startswith(("PREFECT_", "no_proxy", "NO_PROXY", "DO_NOT_TRACK")):
            os.environ[k] = v
    os.environ["PREFECT_HOME"] = str(home)
    os.environ["PREFECT_SERVER_ALLOW_EPHEMERAL_MODE"] = "true"
    os.environ.pop("PREFECT_API_URL", None)
    import flows as module

    yield module
    # Stop this process's temporary Prefect server now: at interpreter exit its "Stopping" log line
    # would go to pytest's already closed capture stream (a "Logging error" traceback).
    from prefect.server.api.server import SubprocessASGIServer

    for server in list(SubprocessASGIServer._instances.values()):
        server.stop()


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A tiny project folder: params.yaml with the 2 x 2 grid and data/prepared."""
    from pipeline.prepare import prepare

    root = tmp_path_factory.mktemp("sweep")
    params = load_params(write_tiny_params(root / "params.yaml", GRID))
    prepare(params.experiment, root / "data" / "raw", root / "data" / "prepared")
    return root


def params_of(root: Path, **extra):
    return load_params(write_tiny_params(root / "params.yaml", {**GRID, **extra}))


def sweep(flows, root: Path, chains, runner, out: str, **kw) -> tuple[dict, float]:
    t0 = time.time()
    result = flows.run_sweep(
        chains,
        runner,
        str(root / "data" / out),
        str(root / "data" / "prepared"),
        str(root / "data" / "cache" / "features"),
        **{"retries": 0, "retry_delay_s": 0, **kw},
    )
    return result, time.time() - t0


def runner(kind="local", **kw):
    from pipeline.config import SweepRunnerSpec

    return SweepRunnerSpec(kind=kind, **kw)


# ----------------------------------------------------------------------------
# Config and grid


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            {"sweep.methods": ["syog", "foo"]},
            "params.yaml: sweep.methods[1]: 'foo' is not a block under methods: (have: syog, clip_global",
        ),
        ({"sweep.methods": ["syog", "syog"]}, "sweep.methods[1]: 'syog' appears twice"),
        ({"sweep.seeds": [3, 1, 3]}, "sweep.seeds[2]: 3 appears twice; seeds must be distinct"),
        ({"sweep.seeds": [0, True]}, "sweep.seeds[1]: Input should be a valid integer, got bool True"),
        ({"sweep.prompts": ["a cat", " "]}, "sweep.prompts[1]: must be a non-empty prompt or null"),
        ({"sweep.runner.kind": "slurm"}, "sweep.runner.kind: Input should be 'local' or 'dask', got str 'slurm'"),
        ({"sweep.runner": {"kind": "dask"}}, "sweep.runner: kind 'dask' needs address"),
        ({"sweep.runner.n_workers": 0}, "sweep.runner.n_workers: Input should be greater than 0, got int 0"),
        (
            {"sweep.runner.gpus_per_worker": -1},
            "sweep.runner.gpus_per_worker: Input should be greater than or equal to 0, got int -1",
        ),
        ({"sweep.retries": -1}, "sweep.retries: Input should be greater than or equal to 0, got int -1"),
        ({"sweep.retry_delay_s": -5}, "sweep.retry_delay_s: Input should be greater than or equal to 0, got int -5"),
        ({"sweep.threads_per_chain": 0}, "sweep.threads_per_chain: Input should be greater than 0, got int 0"),
        ({"sweep.grid": [1]}, "sweep: unknown key grid"),
    ],
)
def test_config_errors_name_the_key(overrides, message):
    with pytest.raises(ConfigError) as e:
        load_params(ROOT / "params.yaml", overrides=overrides)
    assert message in str(e.value), str(e.value)


def test_default_grid_is_empty():
    s = load_params(ROOT / "params.yaml").sweep
    assert s.methods == () and s.runner.kind == "local"
    assert expand(load_params(ROOT / "params.yaml"), ROOT / "data" / "prepared") == []


def test_grid_expansion_and_keys(root, tmp_path):
    params = params_of(root)
    prepared = root / "data" / "prepared"
    chains = expand(params, prepared)
    assert [(c.method, c.seed) for c in chains] == [(m, s) for m in METHODS for s in SEEDS]
    assert all(c.experiment.seed == c.seed and c.method_cfg.target_prompt == c.prompt for c in chains)
    assert {c.prompt for c in chains} == {params.experiment.target_prompt}  # null: the experiment's own
    assert len({c.key for c in chains}) == 4 and all(len(c.key) == 16 for c in chains)
    assert [c.key for c in expand(params_of(root), prepared)] == [c.key for c in chains]  # stable

    by = {(c.method, c.seed, c.prompt): c.key for c in chains}
    other = {
        (c.method, c.seed, c.prompt): c.key
        for c in expand(
            params_of(root, **{"sweep.seeds": [0, 5], "sweep.prompts": [None, "a photo of a blue cat"]}), prepared
        )
    }
    p0 = params.experiment.target_prompt
    assert other[("syog", 0, p0)] == by[("syog", 0, p0)]  # same params, same key
    assert other[("syog", 5, p0)] not in by.values()  # another seed
    assert other[("syog", 0, "a photo of a blue cat")] not in by.values()  # another prompt
    # The prompt spelled out is the same chain as null; listing both is an error naming the key.
    same = expand(params_of(root, **{"sweep.prompts": [p0]}), prepared)
    assert [c.key for c in same] == [c.key for c in chains]
    with pytest.raises(ConfigError, match=r"sweep.prompts\[1\]: .* is the same prompt as sweep.prompts\[0\]"):
        expand(params_of(root, **{"sweep.prompts": [None, p0]}), prepared)
    # Any other setting that reaches a chain changes its key; the code and the data do too.
    lr = expand(params_of(root, **{"methods.syog.lr": 0.001}), prepared)
    assert lr[0].key != chains[0].key and lr[2].key == chains[2].key
    changed = tmp_path / "prepared"
    shutil.copytree(prepared, changed)
    sketch = sorted((changed / "sketches").iterdir())[0]
    sketch.write_bytes(sketch.read_bytes() + b"\0")
    assert not {c.key for c in expand(params, changed)} & {c.key for c in chains}


# ----------------------------------------------------------------------------
# Local, then Dask


@pytest.fixture(scope="module")
def local_run(flows, root):
    chains = expand(params_of(root), root / "data" / "prepared")
    _, warmup = sweep(flows, root, [], runner("local"), "sweeps")  # Prefect's temporary server starts here
    result, seconds = sweep(flows, root, chains, runner("local"), "sweeps")
    print(
        f"\nsweep 2 methods x 2 seeds, tiny config, local runner: {seconds:.1f} s "
        f"(+ {warmup:.1f} s for Prefect's temporary server, once per process)"
    )
    return chains, result, seconds


def test_local_sweep_and_its_table(root, local_run, tmp_path):
    chains, result, _ = local_run
    sweeps = root / "data" / "sweeps"
    assert result["failed"] == {} and sorted(result["done"]) == sorted(c.key for c in chains)
    assert sorted(p.name for p in sweeps.iterdir() if not p.name.startswith(".")) == sorted(c.key for c in chains)
    for c in chains:
        d = sweeps / c.key
        assert {"metrics.json", "provenance.json", "chain.json", "grid.png", "history.csv"} <= {
            p.name for p in d.iterdir()
        }
        assert (d / "model" / "netG.pth").is_file() and not (d / "samples").exists()  # keep_samples: false
        info = json.loads((d / "chain.json").read_text())
        assert (info["method_name"], info["seed"], info["prompt"]) == (c.method, c.seed, c.prompt)
    assert not list((sweeps / ".checkpoints").iterdir()) and not list((sweeps / ".running").iterdir())
    assert not list((sweeps / ".tmp").iterdir())

    rows = summarize(chains, sweeps)
    assert [(r["method"], r["n_seeds"], r["n_planned"]) for r in rows] == [("syog", 2, 2), ("clip_global", 2, 2)]
    for r in rows:
        a, b = (read_metrics(sweeps, c.key) for c in chains if c.method == r["method"])
        for name in ("fid", "kid_mean", "precision", "clip_score_target", "sketch_chamfer"):
            mean, std = (a[name] + b[name]) / 2, abs(a[name] - b[name]) / 2**0.5  # sample std of 2 values
            assert r["metrics"][name]["mean"] == pytest.approx(mean, rel=1e-12, abs=1e-15)
            assert r["metrics"][name]["std"] == pytest.approx(std, rel=1e-9, abs=1e-15)
    one = summarize(chains[:1], sweeps)[0]["metrics"]["fid"]
    assert one == {"mean": read_metrics(sweeps, chains[0].key)["fid"], "std": None, "n": 1}

    # reports/sweep.json and the report's table (DEMO numbers: the tiny config is the demo experiment).
    record = sweep_record(chains, sweeps, chains[0].experiment)
    assert record["configured"] and [c["status"] for c in record["chains"]] == ["done"] * 4
    cell = record["summary"]["syog"][chains[0].prompt]
    assert cell["n_seeds"] == 2 and cell["fid_mean"] == rows[0]["metrics"]["fid"]["mean"]
    json.dumps(record, allow_nan=False)
    from pipeline.report import DEMO_BANNER, _fmt, write_report

    write_report(tmp_path, [], title="t", experiment="demo", is_demo=True, settings={}, sweep=record)
    md, page = (tmp_path / "summary.md").read_text(), (tmp_path / "index.html").read_text()
    fid = rows[0]["metrics"]["fid"]
    expected = f"{_fmt(fid['mean'])} ± {_fmt(fid['std'])}"
    assert f"| syog | {chains[0].prompt} | 2/2 |" in md and expected in md and expected in page
    assert md.split("## Sweep")[1].lstrip().startswith(f"> **{DEMO_BANNER}**")
    write_report(
        tmp_path / "none",
        [],
        title="t",
        experiment="demo",
        is_demo=True,
        settings={},
        sweep=sweep_record([], sweeps, chains[0].experiment),
    )
    assert "No sweep configured" in (tmp_path / "none" / "summary.md").read_text()
    assert "Deviation switches" not in (tmp_path / "none" / "summary.md").read_text()

    # The deviation switches' table (benchmarks/deviations_toy.py writes the same record + a note).
    from pipeline.report import TOY_BANNER

    note = "TOY-WORLD NUMBERS. Each deviation switch flipped alone."
    write_report(
        tmp_path / "dev",
        [],
        title="t",
        experiment="toy",
        is_demo=False,
        settings={},
        deviations=[{**record, "note": note}, {**record, "note": "second schedule"}],
    )
    md, page = (tmp_path / "dev" / "summary.md").read_text(), (tmp_path / "dev" / "index.html").read_text()
    section = md.split("## Deviation switches, measured in the toy world")[1]
    assert section.lstrip().startswith(f"> **{TOY_BANNER}**") and note in section
    assert f"| syog | {chains[0].prompt} | 2/2 |" in section and expected in section
    assert "second schedule" in section and section.count(f"| syog | {chains[0].prompt} | 2/2 |") == 2
    assert page.count('class="deviations"') == 2 and expected in page.split('class="deviations"')[1]


def test_rerun_skips_finished_chains(flows, root, local_run):
    chains, _, _ = local_run
    sweeps = root / "data" / "sweeps"
    before = {c.key: (sweeps / c.key / "chain.json").stat().st_mtime_ns for c in chains}
    result, seconds = sweep(flows, root, chains, runner("local"), "sweeps")
    assert result == {"done": [], "skipped": sorted(c.key for c in chains), "failed": {}}
    assert {c.key: (sweeps / c.key / "chain.json").stat().st_mtime_ns for c in chains} == before
    # and the library call itself skips too
    assert run_chain(chains[0], sweeps, root / "data" / "prepared", None)["status"] == "skipped"


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client, LocalCluster

    quiet = os.environ.get("DASK_LOGGING__DISTRIBUTED")
    os.environ["DASK_LOGGING__DISTRIBUTED"] = "warning"  # the workers' start-up banners
    t0 = time.time()
    import dask
    from flows import DASK_WORKER_CONFIG  # what the stage sets for the clusters it starts

    try:
        with (
            dask.config.set(DASK_WORKER_CONFIG),
            LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0") as c,
            Client(c) as client,
        ):
            client.wait_for_workers(2)
            print(f"\nLocalCluster with 2 worker processes up in {time.time() - t0:.1f} s")
            yield c, client
    finally:
        if quiet is None:
            os.environ.pop("DASK_LOGGING__DISTRIBUTED", None)
        else:
            os.environ["DASK_LOGGING__DISTRIBUTED"] = quiet


def test_dask_cluster_gives_the_local_numbers(flows, root, local_run, cluster):
    chains, _, local_seconds = local_run
    c, client = cluster
    result, seconds = sweep(flows, root, chains, runner("dask", address=c.scheduler_address), "sweeps-dask")
    print(
        f"\nsweep 2 methods x 2 seeds, tiny config, 2-worker LocalCluster: {seconds:.1f} s "
        f"(local runner: {local_seconds:.1f} s)"
    )
    assert result["failed"] == {} and len(result["done"]) == 4
    workers = set(client.run(os.getpid).values())
    ran_on = set()
    for ch in chains:
        local = (root / "data" / "sweeps" / ch.key / "metrics.json").read_text()
        assert (root / "data" / "sweeps-dask" / ch.key / "metrics.json").read_text() == local, ch.label
        ran_on.add(json.loads((root / "data" / "sweeps-dask" / ch.key / "chain.json").read_text())["ran_on"]["pid"])
    assert ran_on <= workers and os.getpid() not in ran_on


def test_killed_worker_midway_still_finishes_everything(flows, root, cluster, tmp_path):
    """SIGKILL the worker process running a chain once that chain has checkpointed; Dask re-runs the
    task on a live worker, where the fine-tune resumes from the checkpoint. All 4 chains finish, and
    the resumed chain's numbers equal those of an uninterrupted run."""
    c, client = cluster
    # Longer fine-tunes (seconds per chain), so the kill lands mid-chain.
    params = params_of(
        root, **{"experiments.demo.train": {"iters": 60, "batch": 2, "ckpt_every": 10, "log_every": 5, "device": "cpu"}}
    )
    chains = expand(params, root / "data" / "prepared")
    sweeps = root / "data" / "sweeps-killed"
    workers = set(client.run(os.getpid).values())
    killed = {}

    def killer():
        deadline = time.time() + 300
        while time.time() < deadline and not killed:
            for marker in (sweeps / ".running").glob("*.json"):
                key = marker.stem
                if list((sweeps / ".checkpoints" / key).glob("ckpt_*.pt")):
                    try:
                        pid = json.loads(marker.read_text())["pid"]
                    except (OSError, ValueError):
                        continue
                    if pid in workers:
                        os.kill(pid, signal.SIGKILL)
                        killed.update(key=key, pid=pid, finished_before_kill=is_done(sweeps, key))
                        return
            time.sleep(0.02)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    result, seconds = sweep(flows, root, chains, runner("dask", address=c.scheduler_address), "sweeps-killed")
    t.join(5)
    print(f"\nsweep with a worker killed midway: {seconds:.1f} s; killed {killed}")
    assert killed, "no worker was killed"
    assert result["failed"] == {} and len(result["done"]) == 4
    assert all(is_done(sweeps, ch.key) for ch in chains)
    assert killed["pid"] not in set(client.run(os.getpid).values())  # the nanny started a new process
    if not killed["finished_before_kill"]:
        info = json.loads((sweeps / killed["key"] / "chain.json").read_text())
        assert info["finetune"]["resumed_from"] > 0, info["finetune"]
        assert info["ran_on"]["pid"] != killed["pid"]
        # Resumed on another process = uninterrupted, to the last bit.
        chain = next(ch for ch in chains if ch.key == killed["key"])
        run_chain(chain, tmp_path, root / "data" / "prepared", root / "data" / "cache" / "features")
        assert (tmp_path / chain.key / "metrics.json").read_text() == (sweeps / chain.key / "metrics.json").read_text()


# ----------------------------------------------------------------------------
# Retries and failures (local runner, failures injected in this process)


def test_failed_chain_is_retried(flows, root, monkeypatch):
    import pipeline.train

    real, calls = pipeline.train.finetune, []

    def flaky(exp, *args, **kwargs):
        calls.append(exp.seed)
        if len(calls) == 1:
            raise RuntimeError("CUDA error: an illegal memory access (injected, once)")
        return real(exp, *args, **kwargs)

    monkeypatch.setattr(pipeline.train, "finetune", flaky)
    chains = expand(params_of(root, **{"sweep.methods": ["syog"], "sweep.seeds": [3]}), root / "data" / "prepared")
    result, _ = sweep(flows, root, chains, runner("local"), "sweeps-retry", retries=1)
    assert result["failed"] == {} and result["done"] == [chains[0].key] and calls == [3, 3]
    assert is_done(root / "data" / "sweeps-retry", chains[0].key)


def test_failed_chain_does_not_stop_the_others(flows, root, monkeypatch):
    import pipeline.train
    from pipeline.data import DataError

    real, calls = pipeline.train.finetune, []

    def broken(exp, *args, **kwargs):
        calls.append(exp.seed)
        if exp.seed == 10:
            raise RuntimeError("out of memory (injected, always)")
        if exp.seed == 11:
            raise DataError("data/prepared/sketches: unreadable (injected): not worth a retry")
        return real(exp, *args, **kwargs)

    monkeypatch.setattr(pipeline.train, "finetune", broken)
    chains = expand(
        params_of(root, **{"sweep.methods": ["syog"], "sweep.seeds": [10, 11, 12]}), root / "data" / "prepared"
    )
    sweeps = root / "data" / "sweeps-fail"
    result, _ = sweep(flows, root, chains, runner("local"), "sweeps-fail", retries=1)
    bad, data_bad, good = (ch.key for ch in chains)
    assert result["done"] == [good] and set(result["failed"]) == {bad, data_bad}
    assert "out of memory" in result["failed"][bad] and "DataError" in result["failed"][data_bad]
    assert sorted(calls) == [10, 10, 11, 12]  # retried once; a data error is not retried
    assert is_done(sweeps, good) and not (sweeps / bad).exists() and not (sweeps / data_bad).exists()
    assert not list((sweeps / ".tmp").iterdir())
    record = sweep_record(chains, sweeps, chains[0].experiment, failed=result["failed"])
    assert [c["status"] for c in record["chains"]] == ["failed", "failed", "done"]
    assert record["rows"][0]["n_seeds"] == 1 and record["rows"][0]["n_planned"] == 3


# ----------------------------------------------------------------------------
# The stage's command line, in a copy of the project


def test_stage_on_a_local_cluster_with_one_gpu_per_worker(root, local_run, tmp_path):
    """`python stages/sweep.py` with runner dask, n_workers 2, gpus_per_worker 1: each worker sees its
    own CUDA_VISIBLE_DEVICES, the chains' numbers equal the in-process local run's, reports/sweep.json
    is written; then a broken chain makes the stage exit 1 naming it, keeping the others' results."""
    chains, _, _ = local_run
    syog = [c for c in chains if c.method == "syog"]
    proj = make_project(
        tmp_path / "proj",
        {
            **GRID,
            "sweep.methods": ["syog"],
            "sweep.runner": {"kind": "dask", "address": None, "n_workers": 2, "gpus_per_worker": 1},
        },
    )
    shutil.copytree(root / "data" / "prepared", proj / "data" / "prepared")
    env = proj_env(proj)

    def stage(*args, timeout=300):
        return __import__("subprocess").run(
            [sys.executable, "stages/sweep.py", *args],
            cwd=proj,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    dry = stage("--dry-run")
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert all(f"{c.key}  syog" in dry.stdout for c in syog), dry.stdout  # same code + data + params: same keys
    t0 = time.time()
    r = stage()
    print(f"\nstages/sweep.py, syog x 2 seeds on a 2-worker local cluster (1 GPU slot each): {time.time() - t0:.1f} s")
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    sweeps = proj / "data" / "sweeps"
    gpus = set()
    for c in syog:
        assert (sweeps / c.key / "metrics.json").read_text() == (
            root / "data" / "sweeps" / c.key / "metrics.json"
        ).read_text()
        gpus.add(json.loads((sweeps / c.key / "chain.json").read_text())["ran_on"]["cuda_visible_devices"])
    assert gpus <= {"0", "1"} and gpus
    record = json.loads((proj / "reports" / "sweep.json").read_text())
    assert record["configured"] and record["rows"][0]["n_seeds"] == 2
    assert "finished" in stage("--dry-run").stdout

    # clip_global added with a setting only the method itself rejects (4 CLIP layers on a 2-layer
    # mapping network): its chains fail (a config error, not retried), the stage exits 1 naming them,
    # the finished syog chains are kept and skipped.
    params = yaml.safe_load((proj / "params.yaml").read_text())
    params["methods"]["clip_global"]["clip_layers"] = 4
    params["sweep"].update(methods=["syog", "clip_global"], runner={"kind": "local"})
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    keep = {c.key: (sweeps / c.key / "chain.json").read_text() for c in syog}
    r = stage()
    assert r.returncode == 1, (r.stdout + r.stderr)[-4000:]
    assert "2 already finished" in r.stdout + r.stderr, (r.stdout + r.stderr)[-3000:]
    for seed in SEEDS:
        assert f"sweep chain clip_global seed={seed}" in r.stderr, r.stderr[-3000:]
    assert "ConfigError" in r.stderr and "2 of 4 sweep chains failed" in r.stderr, r.stderr[-3000:]
    record = json.loads((proj / "reports" / "sweep.json").read_text())
    assert [c["status"] for c in record["chains"]] == ["done", "done", "failed", "failed"]
    assert {k: (sweeps / k / "chain.json").read_text() for k in keep} == keep
