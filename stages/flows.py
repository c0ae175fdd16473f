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
    return train_lib.finetune(exp, method_cfg, Path(prepared), Path(out) / "model", Path(out) / "history.csv",
                              Path(ckpt_dir), fingerprint)


@flow(name="finetune", log_prints=True)
def finetune_flow(exp, method_cfg, prepared: str, out: str, ckpt_dir: str, fingerprint: str) -> dict:
    return finetune_task(exp, method_cfg, prepared, out, ckpt_dir, fingerprint)


@task(name="render-grid-and-samples")
def sample_task(exp, method_cfg, finetune_dir: str, fixed: str, out: str) -> dict:
    return sample_lib.sample_method(exp, method_cfg, Path(finetune_dir), Path(fixed), Path(out))


@flow(name="sample", log_prints=True)
def sample_flow(exp, method_cfg, finetune_dir: str, fixed: str, out: str) -> dict:
    return sample_task(exp, method_cfg, finetune_dir, fixed, out)


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
def evaluate_task(exp, method_cfg, samples: str, prepared: str, cache_dir: str):
    from pipeline.evaluate import evaluate
    return evaluate(exp, method_cfg, Path(samples), Path(prepared), Path(cache_dir))


@flow(name="evaluate", log_prints=True)
def evaluate_flow(exp, method_cfg, samples: str, prepared: str, cache_dir: str):
    return evaluate_task(exp, method_cfg, samples, prepared, cache_dir)


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
        other_state = load_file(d / "finetune" / other / "model" / "netG.pth") if other != "pretrained" else \
            load_file(d / "prepared" / "pretrained" / "netG.pth")
    c = exp.clip
    clip = build_clip(c.model, c.pretrained, c.checkpoint, device=device, cache_dir=c.cache_dir)
    return run_edits(exp, exp.editing, G, clip, d / "prepared", Path(out) / name, d / "cache" / "relevance",
                     other_state, G_pretrained)


@flow(name="edit", log_prints=True)
def edit_flow(exp, generators: dict, data: str, out: str) -> dict:
    return {name: edit_task(exp, name, cfg, data, out) for name, cfg in generators.items()}
