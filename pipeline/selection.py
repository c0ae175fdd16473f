"""Which iteration a fine-tune exports: GANSketching's best-FID selection, or the last iteration.

The reference (reference spec §1.7; GANSketching `train.py` + `eval/evaluation.py`) computes, every
`--eval_freq` (5,000) iterations, the FID of fresh samples against the task's evaluation set, keeps
the lowest in `best_FID.npy` and writes `best_iter.txt`; the published numbers are those of that
iteration (PeterWang512/GANSketching#15). Selecting on the set the numbers are then reported on is
optimistic, so every run records which policy it used (`selection.json` next to netG.pth) and the
FID of every evaluated iteration, the last one included.

    select: best_fid   every `select_every` steps and at the last: FID of `select_samples` samples
                       (seeded, the evaluate stage's extractor, resize and reference-set cache); the
                       exported generator is the lowest-FID one (ties: the earlier)
    select: final      the last iteration's generator, no evaluation during training
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

log = logging.getLogger(__name__)

# Selection samples come from their own stream, never the evaluate stage's (seed exp.seed): the
# selection then does not pick the iteration whose *reported* samples happen to score best.
SELECT_SEED_OFFSET = 7919


def _snapshot(method) -> dict:
    """What the fine-tune would export now: {file name: state dict}, cloned (training goes on)."""
    files = {"netG.pth": method.generator().state_dict(), **method.extra_exports()}
    return {name: {k: v.detach().clone() for k, v in sd.items()} for name, sd in files.items()}


class Selection:
    """The selection policy of one fine-tune and its state (saved in every resumable checkpoint).

    score_fn(sampler, n, seed) -> FID: measures a generator's samples (pipeline.evaluate.generator_fid
    in the finetune stage; tests pass their own).
    """

    def __init__(self, cfg, seed: int, score_fn=None, state: dict | None = None):
        self.policy, self.every, self.n = cfg.select, cfg.select_every, cfg.select_samples
        self.seed = seed + SELECT_SEED_OFFSET
        self.score_fn = score_fn
        if self.policy == "best_fid" and score_fn is None:
            raise ValueError("select: best_fid needs a score function (the evaluation set's FID)")
        state = state or {}
        self.scores: list[dict] = list(state.get("scores", []))  # [{"step": s, "fid": f}, ...]
        self.best: dict | None = state.get("best")  # {"step": s, "fid": f, "files": {name: state dict}}

    def due(self, done: int, total: int) -> bool:
        """Evaluate after `done` steps? Every `select_every` steps, and at the last when an earlier
        step was evaluated (best_fid only; a run no longer than `select_every` has nothing to choose)."""
        if self.policy != "best_fid":
            return False
        return done % self.every == 0 if done < total else bool(self.scores) or done % self.every == 0

    def evaluate(self, method, done: int) -> float:
        # The training's random stream must not depend on whether, or how, it is evaluated: a
        # best_fid run then trains exactly as a final one does, and resume stays bit-exact.
        with torch.random.fork_rng(devices=range(torch.cuda.device_count())):
            fid = float(self.score_fn(method.sampler(), self.n, self.seed))
        self.scores.append({"step": done, "fid": fid})
        if self.best is None or fid < self.best["fid"]:
            self.best = {"step": done, "fid": fid, "files": _snapshot(method)}
        log.info("selection: step %d FID %.3f (best: step %d, %.3f)", done, fid, self.best["step"], self.best["fid"])
        return fid

    def state(self) -> dict:
        return {"scores": self.scores, "best": self.best}

    def exports(self, method) -> dict:
        """{file name: state dict} to write next to netG.pth: the selected iteration's, or the last's."""
        if self.policy == "best_fid" and self.best is not None:
            return self.best["files"]
        return {"netG.pth": method.generator().state_dict(), **method.extra_exports()}

    def record(self, total: int) -> dict:
        """selection.json: the policy, every evaluated iteration's FID and the exported step."""
        selected = self.policy == "best_fid" and self.best is not None
        chosen = self.best["step"] if selected else total
        return {
            "policy": self.policy,
            "every": self.every if self.policy == "best_fid" else None,
            "n_samples": self.n if self.policy == "best_fid" else None,
            "scores": self.scores,
            "exported_step": chosen,
            "exported_fid": self.best["fid"] if selected else None,
            "last_step": total,
            "last_fid": self.scores[-1]["fid"] if self.scores else None,
        }


def fid_score_fn(exp, prepared: Path, cache_dir: Path | None, device):
    """score_fn for `Selection`: FID of a sampler's samples against prepared/eval (the evaluate protocol)."""
    from .evaluate import generator_fid

    def score(sampler, n: int, seed: int) -> float:
        with torch.no_grad():
            return generator_fid(exp, sampler, prepared, cache_dir, n, seed, device)

    return score
