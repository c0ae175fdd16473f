"""DVC stage `sweep`: the grid in params.yaml's `sweep:` block (methods x prompts x seeds), each point
one fine-tune -> sample -> evaluate chain, run as Prefect tasks one after another (`runner.kind:
local`) or on a Dask cluster (`dask`: a running scheduler's `address`, or a local cluster of
`n_workers`). README "Sweeps" describes both routes and the GPU pinning each needs.

Chains land in data/sweeps/<key>/ (a persisted, uncached DVC output), the key a digest of the
chain's resolved params, the code and the prepared data: a re-run skips finished chains and a
failed one continues from its last checkpoint. reports/sweep.json (a DVC metric; the report's
sweep table: mean ± std over seeds per method and prompt) is written even when chains failed;
the stage then exits 1 naming them.

    python stages/sweep.py --dry-run      # the chains, their keys and which are finished
"""

import os
import sys
import time
from urllib.parse import urlparse

from _common import ROOT, check_device, main

from pipeline.config import write_json
from pipeline.data import DataError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "")


def describe(runner) -> str:
    if runner.kind == "local":
        return "local (one chain after another)"
    if runner.address:
        where = f"the Dask scheduler at {runner.address}"
    else:
        where = f"a local Dask cluster of {runner.n_workers} worker processes"
    gpus = f", {runner.gpus_per_worker} GPU(s) per worker, 1 per chain" if runner.gpus_per_worker else ""
    return f"dask: {where}{gpus}"


def check_cluster(runner) -> None:
    """Warnings for an existing cluster that cannot run the chains as configured (it would wait)."""
    host = urlparse(runner.address if "://" in runner.address else f"tcp://{runner.address}").hostname or ""
    api_host = urlparse(os.environ.get("PREFECT_API_URL", "")).hostname or ""
    if host not in LOCAL_HOSTS and api_host in LOCAL_HOSTS:
        print(
            f"sweep: warning: this run's Prefect API ({os.environ.get('PREFECT_API_URL') or 'not set'}) is on "
            "127.0.0.1, which workers on other machines cannot reach; start `prefect server start --host "
            '0.0.0.0` and export PREFECT_API_URL=http://<this host>:4200/api (README "Sweeps")',
            file=sys.stderr,
        )
    if runner.gpus_per_worker:
        from distributed import Client

        with Client(runner.address, timeout=30) as client:
            workers = client.scheduler_info(n_workers=-1)["workers"].values()
            if not any(w.get("resources", {}).get("GPU") for w in workers):
                print(
                    f"sweep: warning: no worker of {runner.address} declares a GPU resource, and each chain "
                    f"asks for one (gpus_per_worker > 0): chains wait until a worker started with "
                    f"`dask worker ... --resources GPU=1` joins",
                    file=sys.stderr,
                )


def run(params, args):
    from pipeline.sweep import expand, is_done, sweep_record

    s, exp = params.sweep, params.experiment
    prepared, sweeps = ROOT / "data" / "prepared", ROOT / "data" / "sweeps"
    record_path = ROOT / "reports" / "sweep.json"
    if not s.methods:
        print("sweep: no sweep configured (sweep.methods is empty in params.yaml)")
        if not args.dry_run:
            sweeps.mkdir(parents=True, exist_ok=True)
            write_json(sweep_record([], sweeps, exp), record_path)
        return
    if not (prepared / "fixed_inputs.pt").is_file():
        raise DataError(f"{prepared}: prepared data not found; run `dvc repro prepare` first")
    chains = expand(params, prepared, args.params)
    if args.dry_run:
        print(
            f"sweep: {len(chains)} chains ({len(s.methods)} methods x {len(s.prompts)} prompts x "
            f"{len(s.seeds)} seeds) on {describe(s.runner)}; retries {s.retries}, "
            f"{s.threads_per_chain} torch thread(s) per chain; outputs in {sweeps}/<key>"
        )
        for c in chains:
            state = "finished" if is_done(sweeps, c.key) else "to run"
            print(f"  {c.key}  {c.method:<24} seed={c.seed:<6} {state:<8}  prompt={c.prompt!r}")
        return
    if s.runner.kind == "dask" and s.runner.address:
        check_cluster(s.runner)  # the chains' device is checked where they run
    else:
        check_device(exp)
    from flows import run_sweep

    t0 = time.time()
    result = run_sweep(
        chains,
        s.runner,
        str(sweeps),
        str(prepared),
        str(ROOT / "data" / "cache" / "features"),
        retries=s.retries,
        retry_delay_s=s.retry_delay_s,
        keep_samples=s.keep_samples,
    )
    for key in [k for k in result["done"] if not is_done(sweeps, k)]:  # written where this machine cannot see
        result["done"].remove(key)
        result["failed"][key] = (
            f"finished on a worker, but {sweeps / key} is not visible here: every worker must "
            'see the project at the same path (a shared filesystem; README "Sweeps")'
        )
    write_json(sweep_record(chains, sweeps, exp, failed=result["failed"]), record_path)
    print(
        f"sweep: {len(result['done'])} chains run, {len(result['skipped'])} already finished, "
        f"{len(result['failed'])} failed, in {time.time() - t0:.1f} s on {describe(s.runner)}"
    )
    if result["failed"]:
        labels = {c.key: c.label for c in chains}
        for key, err in result["failed"].items():
            print(f"error: sweep chain {labels[key]} failed: {err}", file=sys.stderr)
        print(
            f"error: {len(result['failed'])} of {len(chains)} sweep chains failed; the others' results are in "
            f"{sweeps} and {record_path}. Re-run to retry only the failed ones.",
            file=sys.stderr,
        )
        sys.exit(1)


if __name__ == "__main__":
    main(run, __doc__)
