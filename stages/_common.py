"""Shared glue for the thin DVC stage entry points: environment, params, logging, Prefect.

Every stage runs `python stages/<name>.py [--method M] [--params params.yaml] [--dry-run]`:
load and validate params.yaml once, print the resolved stage config with --dry-run, else run the
stage's Prefect flow (from stages/flows.py) against PREFECT_API_URL, or a local server of its own.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Offline and quiet by default; Prefect keeps its state inside the project (git-ignored).
os.environ.setdefault("PREFECT_HOME", str(ROOT / ".prefect"))
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# How long a stage waits for its own Prefect server (prefect_api below; Prefect's own name for it):
# a loaded machine (parallel `dvc exp` runs) needs longer than Prefect's 20 s.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_MININTERVAL", "2")
sys.path.insert(0, str(ROOT))

import pipeline  # noqa: E402,F401  (torchvision shim first)
from pipeline.assets import FetchError  # noqa: E402
from pipeline.config import ConfigError, load_params  # noqa: E402
from pipeline.data import DataError  # noqa: E402
from pipeline.nets.checkpoint import CheckpointError  # noqa: E402

PRETRAINED = "pretrained"  # sample / evaluate: the unmodified generator, the report's first row


def parser(description: str, method: bool = False, extra_args=()) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    for flag, kwargs in extra_args:
        p.add_argument(flag, **kwargs)
    if method:
        p.add_argument("--method", required=True, help="method block name under `methods:` in params.yaml")
    p.add_argument("--params", default=str(ROOT / "params.yaml"), help="params file (default: %(default)s)")
    p.add_argument("--dry-run", action="store_true", help="print the resolved stage config and exit")
    return p


def check_device(exp) -> None:
    """Say that CUDA is missing before Prefect starts (seconds, not a traceback after its start-up)."""
    import torch

    if exp.train.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"experiments.{exp.name}.train.device: 'cuda' requested but no CUDA device is "
            "available (torch.cuda.is_available() is False); use 'auto' or 'cpu'"
        )


def setup_logging() -> None:
    # Our own loggers at INFO; third-party chatter (httpx requests, open_clip's config notes) at WARNING.
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    logging.getLogger("pipeline").setLevel(logging.INFO)


@contextlib.contextmanager
def prefect_api():
    """The Prefect API this stage's flows report to: PREFECT_API_URL when set (`make demo`'s shared
    server, your own, Prefect Cloud), else a server of this process's own, stopped on exit.

    Why not Prefect's temporary server: it draws its port at random from 8000-8999, and two stages
    starting together (parallel `dvc exp run`, the studio, CI's two test workers) can draw the same
    one; the second then talks to the first's server and fails when that one stops. Ours takes its
    port from the OS and checks that the server answering there is its own (stages/with_prefect.py).
    """
    if os.environ.get("PREFECT_API_URL"):
        yield
        return
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from with_prefect import start_server, stop_server

    proc, url = start_server(dict(os.environ), Path(os.environ["PREFECT_HOME"]) / "server.log")
    os.environ["PREFECT_API_URL"] = url  # for child processes (Dask workers)
    try:
        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        stop_server(proc)


def set_cpu_threads(exp) -> None:
    """torch's CPU threads from the experiment (`cpu_threads`; null: torch's default): the count
    changes the trained weights' last bits, so it comes from params, not from the machine's load."""
    import torch

    if exp.cpu_threads is not None:
        torch.set_num_threads(exp.cpu_threads)


def main(run, description: str, method: bool = False, extra_args=(), experiment_stage: bool = True) -> None:
    """Parse args, validate params, run `run(params, args)`; user errors exit 2 with one clear line.
    experiment_stage: the stage works on the selected experiment (its `cpu_threads` apply)."""
    args = parser(description, method, extra_args).parse_args()
    setup_logging()
    try:
        params = load_params(args.params)
        if method and args.method != PRETRAINED:
            params.method(args.method)
        if experiment_stage:
            set_cpu_threads(params.experiment)
        with contextlib.nullcontext() if args.dry_run else prefect_api():
            run(params, args)
    except (ConfigError, DataError, CheckpointError, FetchError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
