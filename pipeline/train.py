"""The fine-tuning loop: data, checkpoints, resume, loss history. Methods own the losses.

Resume contract: every `ckpt_every` steps a checkpoint with all trained modules, optimizer
states, RNG states and the step is written atomically; a re-run continues from the newest
readable one. Because every random draw (z, style mixing, data indices, DiffAugment, noise)
comes from torch's RNGs, whose states are checkpointed, an interrupted and resumed CPU run ends
with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from .config import Experiment, to_jsonable
from .data import ImageBank
from .io import write_bytes
from .methods import get_method
from .models import build_nets, resolve_device
from .nets.checkpoint import CheckpointError, load_file, save_atomic
from .perf import configure as configure_perf
from .selection import Selection, fid_score_fn

log = logging.getLogger(__name__)


@dataclass
class TrainData:
    """What a method samples per step: user sketches [B,1,S,S] and photos [B,3,S,S], in [-1, 1]."""

    sketch_bank: ImageBank
    photo_bank: ImageBank
    device: torch.device

    def sketches(self, batch):
        return self.sketch_bank.sample(batch, self.device)

    def photos(self, batch):
        return self.photo_bank.sample(batch, self.device)


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)  # also seeds every CUDA device


def rng_state() -> dict:
    s = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        s["cuda"] = torch.stack(torch.cuda.get_rng_state_all())
    return s


def set_rng_state(s: dict) -> None:
    torch.set_rng_state(s["torch"])
    if "cuda" in s and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(s["cuda"]))


# ----------------------------------------------------------------------------
# Checkpoints


def checkpoint_path(ckpt_dir: Path, step: int) -> Path:
    return ckpt_dir / f"ckpt_{step:07d}.pt"


def latest_checkpoint(ckpt_dir: Path):
    """Newest readable checkpoint (step, dict), skipping unreadable files; (0, None) if none."""
    for p in sorted(ckpt_dir.glob("ckpt_*.pt"), reverse=True):
        try:
            return int(p.stem.split("_")[1]), load_file(p)
        except (CheckpointError, ValueError, RuntimeError) as e:
            log.warning("skipping unreadable checkpoint %s (%s)", p, str(e).splitlines()[0])
    return 0, None


def save_checkpoint(
    ckpt_dir: Path, step: int, method, fingerprint: str, history: list, keep: int = 2, selection: dict | None = None
) -> Path:
    ckpt = {
        "step": step,
        "fingerprint": fingerprint,
        "rng": rng_state(),
        "history": history,
        "selection": selection or {},  # pipeline/selection.py: the scores so far and the best snapshot
        "modules": {k: m.state_dict() for k, m in method.modules().items()},
        "optimizers": {k: o.state_dict() for k, o in method.optimizers().items()},
    }
    path = checkpoint_path(ckpt_dir, step)
    save_atomic(ckpt, path)
    for old in sorted(ckpt_dir.glob("ckpt_*.pt"))[:-keep]:
        old.unlink(missing_ok=True)
    return path


def restore(method, ckpt: dict) -> None:
    for k, m in method.modules().items():
        m.load_state_dict(ckpt["modules"][k])
    for k, o in method.optimizers().items():
        o.load_state_dict(ckpt["optimizers"][k])
    set_rng_state(ckpt["rng"])


# ----------------------------------------------------------------------------
# Loss history (CSV for `dvc plots`)


class History:
    """Loss rows; saved inside each checkpoint (so they always match its step) and as a CSV."""

    def __init__(self, path: Path | None, rows: list | None = None):
        self.path, self.rows = path, list(rows or [])

    def add(self, step: int, logs: dict):
        self.rows.append({"step": str(step), **{k: f"{v:.6g}" for k, v in logs.items()}})

    def write(self):
        if self.path is None:
            return
        cols = ["step"] + sorted({k for r in self.rows for k in r} - {"step"})
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols)
        w.writeheader()
        w.writerows(self.rows)
        write_bytes(self.path, buf.getvalue())


class Progress:
    """Where a fine-tune reports as it runs. This base class reports nothing; the loss rows still
    go into every checkpoint (and the history CSV when one is given). The DVC stage passes a
    DVCLive-backed one (stages/live.py), so `dvc plots`, `dvc exp show` and the studio see the run
    live; the library itself knows nothing of DVC.
    """

    def start(self, step: int, rows: list[dict]) -> None:
        """Called once: the run starts at `step`; `rows` are the loss rows of the steps before it."""

    def log(self, step: int, logs: dict[str, float]) -> None:
        """One loss row (every `train.log_every` steps and at the last step)."""

    def preview(self, step: int, image) -> None:
        """A fixed-noise grid (PIL image) of the generator being trained (`train.preview_every`)."""

    def end(self, step: int) -> None:
        """The run stopped at `step` (finished or interrupted)."""


def preview_grid(method, fixed: dict, n: int, device):
    """The first n stored fixed inputs through the generator being trained: a grid, 8 per row."""
    from .sample import make_grid, render_fixed

    small = {k: (v[:n] if k != "seed" else v) for k, v in fixed.items()}
    return make_grid(render_fixed(method.sampler(), small, device=device))


# ----------------------------------------------------------------------------


def finetune(
    exp: Experiment,
    method_cfg,
    prepared: Path,
    model_dir: Path,
    history_csv: Path | None,
    ckpt_dir: Path,
    fingerprint: str,
    stop_after: int | None = None,
    progress: Progress | None = None,
    cache_dir: Path | None = None,
    score_fn=None,
) -> dict:
    """Fine-tune the pretrained generator with one method.

    Writes model_dir/netG.pth (published format) plus the method's extra files, and the loss
    history as CSV (rewritten at every checkpoint) unless history_csv is None. `progress` gets the
    loss rows and, every `train.preview_every` steps, a fixed-noise preview grid as they happen.

    fingerprint: digest of the resolved config; checkpoints from a different config are not
    resumed (they are set aside instead), so editing params never silently mixes two runs.
    stop_after: stop (without exporting) after this many steps in this call — for tests that
    simulate an interruption.
    Which iteration is exported follows the method's `select` (pipeline/selection.py); with best_fid
    the FID is measured against prepared/eval, its reference features cached in cache_dir, unless
    score_fn(sampler, n, seed) -> FID is given. model_dir/selection.json records the choice.
    """
    device = resolve_device(exp.train.device)
    seed_everything(exp.seed)
    nets = build_nets(exp, prepared / "pretrained", device)
    method = get_method(method_cfg.method)(method_cfg, nets, exp)
    nets.perf = configure_perf(exp.train.perf, nets)  # after the method: see perf.configure
    data = TrainData(
        ImageBank(prepared / "sketches", "sketches", exp.size),
        ImageBank(prepared / "photos", "photos", exp.size),
        device,
    )

    ckpt_dir.mkdir(parents=True, exist_ok=True)
    start, ckpt = latest_checkpoint(ckpt_dir)
    if ckpt is not None and ckpt.get("fingerprint") != fingerprint:
        stale = ckpt_dir.with_name(ckpt_dir.name + f".stale-{int(time.time())}")
        log.warning("checkpoints in %s are from a different config; moving them to %s", ckpt_dir, stale)
        ckpt_dir.rename(stale)
        ckpt_dir.mkdir(parents=True)
        start, ckpt = 0, None
    # A checkpoint at step s holds steps 0..s-1, their loss rows included.
    history = History(history_csv, ckpt["history"] if ckpt is not None else None)
    if ckpt is not None:
        restore(method, ckpt)
        log.info("resuming %s from step %d (%s)", method_cfg.method, start, checkpoint_path(ckpt_dir, start))
    else:
        log.info("starting %s from the pretrained generator (step 0)", method_cfg.method)

    selection = Selection(
        method_cfg,
        exp.seed,
        score_fn or (fid_score_fn(exp, prepared, cache_dir, device) if method_cfg.select == "best_fid" else None),
        ckpt.get("selection") if ckpt is not None else None,
    )

    progress = progress or Progress()
    progress.start(start, history.rows)
    every = exp.train.preview_every
    fixed = load_file(prepared / "fixed_inputs.pt") if every else None

    total = method_cfg.iters or exp.train.iters  # a block may set its own length (toy schedule)
    t0, steps_run = time.time(), 0
    bar = tqdm(
        range(start, total),
        initial=start,
        total=total,
        desc=f"finetune {method_cfg.method}",
        dynamic_ncols=True,
        mininterval=1.0,
    )
    for it in bar:
        logs = method.step(it, data)
        steps_run += 1
        if it % exp.train.log_every == 0 or it == total - 1:
            history.add(it, logs)
            progress.log(it, logs)
            bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items()}, refresh=False)
        done = it + 1
        if every and (done % every == 0 or done == total):
            progress.preview(done, preview_grid(method, fixed, 16, device))
        if selection.due(done, total):
            selection.evaluate(method, done)
        if done % exp.train.ckpt_every == 0 and done < total:
            save_checkpoint(ckpt_dir, done, method, fingerprint, history.rows, selection=selection.state())
            history.write()
        if stop_after is not None and steps_run >= stop_after:
            history.write()
            progress.end(done)
            return {"stopped_at": done}
    bar.close()
    history.write()
    progress.end(total)
    elapsed = time.time() - t0
    # The published format: a bare Generator state dict (GANSketching `weights/*.pth`), of the
    # selected iteration; the method's extra files beside it.
    for name, state in selection.exports(method).items():
        save_atomic(state, model_dir / name)
    record = selection.record(total)
    write_bytes(model_dir / "selection.json", json.dumps(record, indent=2) + "\n")
    save_checkpoint(ckpt_dir, total, method, fingerprint, history.rows, selection=selection.state())
    return {
        "selection": {k: v for k, v in record.items() if k != "scores"},
        "steps": total,
        "resumed_from": start,
        "seconds_this_run": round(elapsed, 2),
        "steps_per_second": round(steps_run / max(elapsed, 1e-9), 3),
        "device": str(device),
        "config": to_jsonable(method_cfg),
    }
