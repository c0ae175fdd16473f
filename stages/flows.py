"""Prefect flows, one per DVC stage. Tasks call the library and return paths and small values,
never tensors or modules. DVC decides *whether* a stage runs; Prefect adds retries, structured
logs and timings, and (later) dispatch to other task runners.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task

from pipeline import prepare as prepare_lib
from pipeline import sample as sample_lib
from pipeline import train as train_lib


@task(name="prepare-data")
def prepare_task(exp, raw: str, out: str) -> dict:
    return prepare_lib.prepare(exp, Path(raw), Path(out))


@flow(name="prepare", log_prints=True)
def prepare_flow(exp, raw: str, out: str) -> dict:
    return prepare_task(exp, raw, out)


@task(name="finetune-generator")
def finetune_task(exp, method_cfg, prepared: str, out: str, ckpt_dir: str, fingerprint: str) -> dict:
    from live import LiveProgress

    # The loss history and preview grids go to DVCLive's folder (no CSV): stages/live.py.
    return train_lib.finetune(
        exp,
        method_cfg,
        Path(prepared),
        Path(out) / "model",
        None,
        Path(ckpt_dir),
        fingerprint,
        progress=LiveProgress(Path(out) / "live"),
        cache_dir=Path(prepared).parent / "cache" / "features",  # the evaluate stage's (selection FID)
    )


@flow(name="finetune", log_prints=True)
def finetune_flow(exp, method_cfg, prepared: str, out: str, ckpt_dir: str, fingerprint: str) -> dict:
    return finetune_task(exp, method_cfg, prepared, out, ckpt_dir, fingerprint)


@task(name="train-world-part")
def world_task(part: str, spec, out: str, ckpt_dir: str, tmp_dir: str) -> dict:
    from pipeline.world.build import train_part

    summary = train_part(part, spec, Path(out), Path(ckpt_dir), Path(tmp_dir))
    return {k: v for k, v in summary.items() if k != "history"}


@flow(name="world", log_prints=True)
def world_flow(part: str, spec, out: str, ckpt_dir: str, tmp_dir: str) -> dict:
    return world_task(part, spec, out, ckpt_dir, tmp_dir)


@task(name="render-grid-and-samples")
def sample_task(exp, method_cfg, finetune_dir: str, fixed: str, out: str, tmp_dir: str, config: dict) -> dict:
    """The grid and the metric samples into `out`, whole or not at all (built in a temp folder and
    renamed): the evaluation then reads them, and records, where they stay."""
    from pipeline.config import write_json
    from pipeline.io import atomic_dir

    with atomic_dir(out, tmp_dir=tmp_dir) as tmp:
        summary = sample_lib.sample_method(exp, method_cfg, Path(finetune_dir), Path(fixed), tmp)
        write_json({**config, "summary": summary}, tmp / "config.json")
    return summary


def _worth_retrying(task, task_run, state) -> bool:
    """Retry transfers that may succeed later; never a wrong checksum or a refused archive
    (re-downloading would fetch the same bytes, tens of GB for LSUN)."""
    from pipeline.assets import ArchiveError, FetchError

    try:
        state.result()
    except ArchiveError:
        return False
    except FetchError as e:
        return "Checksum mismatch" not in str(e)
    except Exception:
        return False
    return False


@task(name="fetch-assets", retries=2, retry_delay_seconds=[5, 30], retry_condition_fn=_worth_retrying)
def fetch_task(exp, data_dir: str, lock_file: str) -> dict:
    from pipeline.fetch_plan import fetch_all

    return fetch_all(exp, Path(data_dir), Path(lock_file))


@flow(name="fetch", log_prints=True)
def fetch_flow(exp, data_dir: str, lock_file: str) -> dict:
    return fetch_task(exp, data_dir, lock_file)


@task(name="compute-metrics")
def evaluate_task(exp, method_cfg, samples: str, prepared: str, cache_dir: str, model_dir: str | None = None):
    from pipeline.evaluate import evaluate

    return evaluate(
        exp, method_cfg, Path(samples), Path(prepared), Path(cache_dir), Path(model_dir) if model_dir else None
    )


@flow(name="evaluate", log_prints=True)
def evaluate_flow(
    exp, method_cfg, model_dir: str, fixed: str, samples: str, prepared: str, cache_dir: str, tmp_dir: str, config: dict
):
    """Draw the grid and the metric samples into `samples` (with `config` as its config.json), then
    measure them: (values, provenance)."""
    sample_task(exp, method_cfg, model_dir, fixed, samples, tmp_dir, config)
    return evaluate_task(exp, method_cfg, samples, prepared, cache_dir, model_dir)


@task(name="write-report")
def report_task(**kwargs) -> dict:
    from pipeline.report import write_report

    return {k: str(v) for k, v in write_report(**kwargs).items()}


@flow(name="report", log_prints=True)
def report_flow(**kwargs) -> dict:
    return report_task(**kwargs)


@task(name="edit-generator")
def edit_task(exp, name: str, method_cfg, data: str, out: str) -> dict:
    from pipeline.edit import run_edits
    from pipeline.methods import get_method
    from pipeline.models import load_generator, resolve_device
    from pipeline.nets.checkpoint import load_file
    from pipeline.nets.clip import build_clip

    d, device = Path(data), resolve_device(exp.train.device)
    G_pretrained = load_generator(exp, d / "prepared" / "pretrained" / "netG.pth", device)
    if method_cfg is None:
        G = G_pretrained
    else:
        G = get_method(method_cfg.method).load_sampler(exp, method_cfg, d / "finetune" / name / "model", device).G
    other = exp.editing.interpolation.weights_with
    other_state = None
    if other:
        other_state = (
            load_file(d / "finetune" / other / "model" / "netG.pth")
            if other != "pretrained"
            else load_file(d / "prepared" / "pretrained" / "netG.pth")
        )
    c = exp.clip
    clip = build_clip(c.model, c.pretrained, c.checkpoint, device=device, cache_dir=c.cache_dir)
    return run_edits(
        exp,
        exp.editing,
        G,
        clip,
        d / "prepared",
        Path(out) / name,
        d / "cache" / "relevance",
        other_state,
        G_pretrained,
    )


@flow(name="edit", log_prints=True)
def edit_flow(exp, generators: dict, data: str, out: str) -> dict:
    return {name: edit_task(exp, name, cfg, data, out) for name, cfg in generators.items()}


# ----------------------------------------------------------------------------
# Sweeps: one task per fine-tune -> sample -> evaluate chain (pipeline/sweep.py), on the task runner
# that params.yaml's `sweep.runner` names. Prefect runs, retries and records the chains; Dask (when
# chosen) places them on workers. Nothing here schedules by itself.


def _chain_worth_retrying(task, task_run, state) -> bool:
    """Retry what may pass next time (a lost GPU, a full disk, a kill); never a config or data error."""
    from pipeline.config import ConfigError
    from pipeline.data import DataError

    try:
        state.result()
    except (ConfigError, DataError):
        return False
    except Exception:
        return True
    return False


@task(name="sweep-chain", retry_condition_fn=_chain_worth_retrying)
def sweep_chain_task(chain, sweeps_dir: str, prepared: str, cache_dir: str, keep_samples: bool) -> dict:
    from pipeline.sweep import run_chain

    return run_chain(chain, Path(sweeps_dir), Path(prepared), Path(cache_dir), keep_samples=keep_samples)


# For the workers of the clusters started here: Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in
# each worker (to return memory to the OS early), which makes glibc trim and map memory so often
# that a CPU fine-tune step takes twice the CPU time (measured: 40 demo steps 9 s -> 18.5 s). None
# unsets it (glibc's own adaptive default). Workers you start yourself: README "Sweeps".
DASK_WORKER_CONFIG = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


def sweep_task_runner(runner):
    """The Prefect task runner for `sweep.runner` (pipeline.config.SweepRunnerSpec)."""
    if runner.kind == "local":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=1)  # one chain after another
    from prefect_dask import DaskTaskRunner

    if runner.address:
        return DaskTaskRunner(address=runner.address)
    if runner.gpus_per_worker > 0:
        # One worker process per GPU group, each seeing only its own devices (what dask-cuda's
        # LocalCUDACluster does), declared as the worker resource "GPU" that each chain asks for.
        from distributed import Nanny, Scheduler, SpecCluster

        g = runner.gpus_per_worker
        workers = {
            f"gpu-{i}": {
                "cls": Nanny,
                "options": {
                    "nthreads": 1,
                    "resources": {"GPU": g},
                    "env": {"CUDA_VISIBLE_DEVICES": ",".join(str(i * g + k) for k in range(g))},
                },
            }
            for i in range(runner.n_workers)
        }
        return DaskTaskRunner(
            cluster_class=SpecCluster,
            cluster_kwargs={
                "workers": workers,
                "scheduler": {"cls": Scheduler, "options": {"dashboard_address": ":0"}},
            },
        )
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": runner.n_workers,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": ":0",
        }
    )


@flow(name="sweep", log_prints=True)
def sweep_flow(
    chains: list,
    sweeps_dir: str,
    prepared: str,
    cache_dir: str,
    retries: int = 1,
    retry_delay_s: float = 10.0,
    gpus_per_chain: int = 0,
    keep_samples: bool = False,
) -> dict:
    """Run every unfinished chain; {"done": [keys], "skipped": [keys], "failed": {key: error}}.

    Finished chains (their folder exists) are skipped without a task. A chain that fails after its
    retries is reported, never stops the others: all states are collected before returning.
    """
    import contextlib

    from prefect.context import FlowRunContext
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from pipeline.sweep import is_done

    todo = [c for c in chains if not is_done(Path(sweeps_dir), c.key)]
    skipped = sorted({c.key for c in chains} - {c.key for c in todo})
    if skipped:
        print(f"sweep: {len(skipped)} of {len(chains)} chains already finished, skipped")
    run = sweep_chain_task.with_options(retries=retries, retry_delay_seconds=retry_delay_s)
    with contextlib.ExitStack() as stack:
        # Task runs on Dask workers report to this flow's Prefect API: hand them its address
        # (in ephemeral mode it is not in the settings otherwise, and each worker would start
        # a temporary server of its own).
        api = str(FlowRunContext.get().client.api_url)
        stack.enter_context(temporary_settings(updates={PREFECT_API_URL: api}))
        if gpus_per_chain:
            import dask

            stack.enter_context(dask.annotate(resources={"GPU": gpus_per_chain}))
        futures = {
            c.key: run.with_options(task_run_name=f"chain {c.method} s{c.seed} {c.key}").submit(
                c, sweeps_dir, prepared, cache_dir, keep_samples
            )
            for c in todo
        }
    done, failed = [], {}
    labels = {c.key: c.label for c in todo}
    for key, fut in futures.items():
        try:
            fut.result()
            done.append(key)
        except BaseException as e:  # the task's own error, or Dask's (e.g. KilledWorker after repeated kills)
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            failed[key] = " ".join(f"{type(e).__name__}: {e}".split())[:800]
            print(f"sweep: chain {labels[key]} failed: {failed[key]}")
    return {"done": done, "skipped": skipped, "failed": failed}


def run_sweep(
    chains: list,
    runner,
    sweeps_dir: str,
    prepared: str,
    cache_dir: str,
    retries: int = 1,
    retry_delay_s: float = 10.0,
    keep_samples: bool = False,
) -> dict:
    """sweep_flow on the task runner `runner` (a SweepRunnerSpec) names."""
    import contextlib

    gpus = 1 if runner.kind == "dask" and runner.gpus_per_worker > 0 else 0
    with contextlib.ExitStack() as stack:
        if runner.kind == "dask":
            import logging
            import os
            import sys

            import cloudpickle
            import dask

            # Workers get the task by value, so they need the library (`pipeline`), not stages/ on their path.
            cloudpickle.register_pickle_by_value(sys.modules[__name__])
            # Dask's INFO lines (each worker's start-up banner) drown the chains' logs; warnings stay
            # (a lost worker, a restart). The variable reaches the workers of a local cluster.
            os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
            logging.getLogger("distributed").setLevel(logging.WARNING)
            stack.enter_context(dask.config.set(DASK_WORKER_CONFIG))
        return sweep_flow.with_options(task_runner=sweep_task_runner(runner))(
            chains,
            sweeps_dir,
            prepared,
            cache_dir,
            retries=retries,
            retry_delay_s=retry_delay_s,
            gpus_per_chain=gpus,
            keep_samples=keep_samples,
        )
