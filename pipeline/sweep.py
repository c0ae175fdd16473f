"""Sweeps: methods x prompts x seeds, each one fine-tune -> sample -> evaluate chain.

Knows nothing of DVC or Prefect: `stages/sweep.py` expands the grid here and runs `run_chain` as
Prefect tasks (stages/flows.py) on a local or Dask task runner.

    chains = expand(params, prepared)          # resolved configs + key per chain, in grid order
    run_chain(chain, sweeps_dir, prepared, cache_dir, threads=1)
    rows = summarize(chains, sweeps_dir)       # mean ± std over seeds per (method, prompt)

A chain's key is a short digest of its resolved params (the experiment with the chain's seed, the
method block with the chain's prompt, the torch thread count) together with the digest of the
library code and the prepared data (pipeline/fingerprint.py, what the `finetune` stage's
checkpoint fingerprint reads too). Same key, same numbers: every random draw
of a chain comes from its seed, and torch runs with the same number of CPU threads wherever the
chain runs. A finished chain is exactly a folder `sweeps_dir/<key>/` holding its metrics.json:

  <key>/                    model/netG.pth (+ method extras), history.csv, grid.png, metrics.json,
                            provenance.json, chain.json (params, timings, where it ran)
  .tmp/                     chains being written; renamed to <key>/ only when complete
  .checkpoints/<key>/       resumable fine-tune state of an unfinished chain (removed when it finishes)
  .running/<key>.json       host, pid and CUDA_VISIBLE_DEVICES of the process running a chain now

So a re-run skips finished chains, a killed or failed chain continues from its last checkpoint
when it runs again (on any worker that sees the same folder), and no failure touches the folders
of other chains.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import socket
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import ConfigError, Experiment, to_jsonable, write_json
from .fingerprint import inputs_digest
from .io import atomic_dir
from .methods import prompts as method_prompts

KEY_VERSION = 1  # bump when the chain's layout or meaning changes: every chain runs again
KEY_LEN = 16


@dataclass(frozen=True)
class Chain:
    """One grid point, resolved."""

    method: str  # block name under `methods:`
    prompt: str  # the effective target prompt
    seed: int
    experiment: Experiment  # the experiment with this seed
    method_cfg: Any  # the method block with this target prompt
    threads: int  # torch CPU threads inside the chain
    fingerprint: str  # sha256 of the resolved params + code and data digest (checkpoints carry it)

    @property
    def key(self) -> str:
        return self.fingerprint[:KEY_LEN]

    @property
    def label(self) -> str:
        return f"{self.method} seed={self.seed} prompt={self.prompt!r} [{self.key}]"

    def params(self) -> dict:
        """What decides the chain's numbers besides code and data, as plain JSON."""
        return chain_params(self.experiment, self.method, self.method_cfg, self.threads)


def chain_params(exp: Experiment, method: str, method_cfg, threads: int) -> dict:
    e = to_jsonable(exp)
    for unused in ("description", "editing"):  # neither reaches a chain
        e.pop(unused, None)
    return {
        "version": KEY_VERSION,
        "experiment": e,
        "method_name": method,
        "method": to_jsonable(method_cfg),
        "threads_per_chain": threads,
    }


def chain_fingerprint(params: dict, inputs: str) -> str:
    """sha256 of a chain's params (`chain_params`) and the code + data digest (`inputs_digest`)."""
    blob = json.dumps({"params": params, "inputs": inputs}, sort_keys=True, allow_nan=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def resolve(
    exp: Experiment, method: str, method_cfg, prompt: str | None, seed: int, threads: int, inputs: str
) -> Chain:
    """The chain for one grid point: the experiment with `seed`, the method block with `prompt` as its
    target prompt (None: the block's own, else the experiment's). The effective prompt is written
    into the block, so `null` and the same prompt spelled out give the same chain."""
    exp = dataclasses.replace(exp, seed=seed)
    if not hasattr(method_cfg, "target_prompt"):
        raise ConfigError(f"sweep.prompts: method block {method!r} has no target_prompt to replace")
    target = prompt if prompt is not None else method_prompts(exp, method_cfg)[0]
    cfg = dataclasses.replace(method_cfg, target_prompt=target)
    fp = chain_fingerprint(chain_params(exp, method, cfg, threads), inputs)
    return Chain(
        method=method, prompt=target, seed=seed, experiment=exp, method_cfg=cfg, threads=threads, fingerprint=fp
    )


def expand(params, prepared: Path, where: str = "params.yaml") -> list[Chain]:
    """Every chain of `params.sweep` in grid order (method, then prompt, then seed)."""
    s = params.sweep
    if not s.methods:
        return []
    inputs = inputs_digest(prepared)
    chains, seen = [], {}
    for method in s.methods:
        cfg = params.method(method)
        for i, prompt in enumerate(s.prompts):
            for seed in s.seeds:
                c = resolve(params.experiment, method, cfg, prompt, seed, s.threads_per_chain, inputs)
                if (c.method, c.prompt, c.seed) in seen:
                    raise ConfigError(
                        f"{where}: sweep.prompts[{i}]: {prompt!r} is the same prompt as "
                        f"sweep.prompts[{seen[c.method, c.prompt, c.seed]}] for method {method!r} "
                        f"({c.prompt!r}); list it once"
                    )
                seen[c.method, c.prompt, c.seed] = i
                chains.append(c)
    return chains


# ----------------------------------------------------------------------------
# Running one chain


def chain_dir(sweeps_dir: Path, key: str) -> Path:
    return Path(sweeps_dir) / key


def is_done(sweeps_dir: Path, key: str) -> bool:
    return (chain_dir(sweeps_dir, key) / "metrics.json").is_file()


def read_metrics(sweeps_dir: Path, key: str) -> dict | None:
    try:
        return json.loads((chain_dir(sweeps_dir, key) / "metrics.json").read_text())
    except (FileNotFoundError, ValueError):
        return None


def where_am_i() -> dict:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }


def run_chain(
    chain: Chain, sweeps_dir: Path, prepared: Path, cache_dir: Path | None, keep_samples: bool = False
) -> dict:
    """Fine-tune, sample and evaluate one chain into sweeps_dir/<key>/ (skipped if already there).

    Returns {"key", "status": "done" | "skipped", "metrics"}. Raises whatever a step raises; the
    chain's folder then does not exist (its checkpoints do, for the next attempt).
    """
    import torch

    from .evaluate import evaluate
    from .sample import sample_method
    from .train import finetune, seed_everything

    sweeps_dir, prepared = Path(sweeps_dir), Path(prepared)
    out = chain_dir(sweeps_dir, chain.key)
    if is_done(sweeps_dir, chain.key):
        return {"key": chain.key, "status": "skipped", "metrics": read_metrics(sweeps_dir, chain.key)}
    exp, cfg = chain.experiment, chain.method_cfg
    torch.set_num_threads(chain.threads)
    ckpt_dir = sweeps_dir / ".checkpoints" / chain.key
    running = sweeps_dir / ".running" / f"{chain.key}.json"
    ran_on = where_am_i()
    write_json({**ran_on, "chain": chain.label, "started": time.time()}, running)
    t0 = time.time()
    try:
        with atomic_dir(out, tmp_dir=sweeps_dir / ".tmp") as tmp:
            trained = finetune(
                exp, cfg, prepared, tmp / "model", tmp / "history.csv", ckpt_dir, chain.fingerprint, cache_dir=cache_dir
            )
            t1 = time.time()
            # Each step starts from the chain's seed, whatever ran before in this process.
            seed_everything(exp.seed)
            sampled = sample_method(exp, cfg, tmp / "model", prepared / "fixed_inputs.pt", tmp / "samples")
            t2 = time.time()
            seed_everything(exp.seed)
            values, provenance = evaluate(exp, cfg, tmp / "samples", prepared, cache_dir, tmp / "model")
            t3 = time.time()
            os.replace(tmp / "samples" / "grid.png", tmp / "grid.png")
            if not keep_samples:
                shutil.rmtree(tmp / "samples")
            write_json(provenance, tmp / "provenance.json")
            write_json(
                {
                    "key": chain.key,
                    "method_name": chain.method,
                    "prompt": chain.prompt,
                    "seed": chain.seed,
                    "params": chain.params(),
                    "fingerprint": chain.fingerprint,
                    "finetune": trained,
                    "sample": sampled,
                    "ran_on": ran_on,
                    "seconds": {
                        "finetune": round(t1 - t0, 2),
                        "sample": round(t2 - t1, 2),
                        "evaluate": round(t3 - t2, 2),
                        "total": round(t3 - t0, 2),
                    },
                },
                tmp / "chain.json",
            )
            write_json(values, tmp / "metrics.json")  # last: its presence means the chain finished
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    finally:
        running.unlink(missing_ok=True)
    return {"key": chain.key, "status": "done", "metrics": read_metrics(sweeps_dir, chain.key)}


# ----------------------------------------------------------------------------
# The table


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def summarize(chains: list[Chain], sweeps_dir: Path) -> list[dict]:
    """One row per (method, prompt) in grid order: {"method", "prompt", "n_seeds" (finished chains),
    "n_planned", "seeds" (finished), "metrics": {name: {"mean", "std", "n"}}}. std is the sample
    standard deviation (ddof 1) over seeds, None with fewer than 2 values."""
    groups: dict[tuple[str, str], list[Chain]] = {}
    for c in chains:
        groups.setdefault((c.method, c.prompt), []).append(c)
    rows = []
    for (method, prompt), group in groups.items():
        done = [(c, read_metrics(sweeps_dir, c.key)) for c in group]
        done = [(c, m) for c, m in done if m is not None]
        names = list(dict.fromkeys(k for _, m in done for k in m))
        metrics = {}
        for name in names:
            vals = [m[name] for _, m in done if _finite(m.get(name))]
            if vals:
                metrics[name] = {
                    "mean": statistics.fmean(vals),
                    "std": statistics.stdev(vals) if len(vals) >= 2 else None,
                    "n": len(vals),
                }
        rows.append(
            {
                "method": method,
                "prompt": prompt,
                "n_seeds": len(done),
                "n_planned": len(group),
                "seeds": [c.seed for c, _ in done],
                "metrics": metrics,
            }
        )
    return rows


def sweep_record(chains: list[Chain], sweeps_dir: Path, experiment: Experiment, failed: dict | None = None) -> dict:
    """What the `sweep` stage writes to reports/sweep.json: the table (`rows`, for the report), the
    same numbers nested as {method: {prompt: {metric_mean, metric_std, n_seeds}}} (`summary`, what
    `dvc metrics show` reads: numbers only) and every chain with its status."""
    failed = failed or {}
    rows = summarize(chains, sweeps_dir)
    summary: dict = {}
    for r in rows:
        cell = {"n_seeds": r["n_seeds"]}
        for name, s in r["metrics"].items():
            cell[f"{name}_mean"] = s["mean"]
            if s["std"] is not None:
                cell[f"{name}_std"] = s["std"]
        summary.setdefault(r["method"], {})[r["prompt"]] = cell
    listed = []
    for c in chains:
        m = read_metrics(sweeps_dir, c.key)
        listed.append(
            {
                "key": c.key,
                "method": c.method,
                "prompt": c.prompt,
                "seed": c.seed,
                "status": "done" if m is not None else ("failed" if c.key in failed else "missing"),
                **({"error": failed[c.key]} if c.key in failed and m is None else {}),
                "metrics": m,
            }
        )
    return {
        "configured": bool(chains),
        "experiment": experiment.name,
        "demo": experiment.demo,
        "toy_world": experiment.is_toy,
        "rows": rows,
        "summary": summary,
        "chains": listed,
    }
