"""Resume contract of pipeline.train.finetune: interrupted at arbitrary steps and resumed each
time, a CPU run ends bit-identical to an uninterrupted one (weights and loss history)."""

import math
import random

import pytest
import torch
from tiny import TINY, write_tiny_params

from pipeline.config import load_params
from pipeline.nets.checkpoint import load_file
from pipeline.prepare import prepare
from pipeline.train import finetune, latest_checkpoint


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("resume")
    params = load_params(write_tiny_params(tmp / "params.yaml"))
    prepare(params.experiment, tmp / "raw", tmp / "prepared")
    return tmp, params


# Every method: clip_direction with a direction step every 3 iterations (so checkpoints fall between
# them and its synthesis optimizer and schedule must be restored) on every W+ row (so each direction
# step trains the same synthesis weights, and a lost Adam state would change the next step),
# diagonal with its content branch.
N_LATENT = 2 * int(math.log2(TINY["experiments.demo.size"])) - 2
METHODS = {"syog": {}, "clip_direction": {"direction_every": 3, "layer_k": N_LATENT}, "diagonal": {}}


def run(setup, name, stops=(), method="syog"):
    import dataclasses

    tmp, params = setup
    exp, cfg = params.experiment, dataclasses.replace(params.method(method), **METHODS[method])
    for k in stops:  # each call runs k steps, then "dies" (state since the last checkpoint is lost)
        out = finetune(
            exp, cfg, tmp / "prepared", tmp / name, tmp / name / "history.csv", tmp / f"ck_{name}", "fp", stop_after=k
        )
        assert "stopped_at" in out
    summary = finetune(exp, cfg, tmp / "prepared", tmp / name, tmp / name / "history.csv", tmp / f"ck_{name}", "fp")
    weights = {f"{f.name}:{k}": v for f in sorted((tmp / name).glob("*.pth")) for k, v in load_file(f).items()}
    return summary, weights, (tmp / name / "history.csv").read_text()


@pytest.mark.parametrize("method", list(METHODS))
def test_interrupted_runs_end_bit_identical(setup, method):
    _, ref_weights, ref_hist = run(setup, f"straight_{method}", method=method)
    rng = random.Random(1234)
    # kills at arbitrary, not checkpoint-aligned, steps; the first two reach checkpoint 4 (steps 0-2,
    # then 2-3), between clip_direction's direction steps at iterations 2 and 5: the call that runs
    # iteration 5 resumed, so it needs the synthesis optimizer's state from the checkpoint
    stops = [3, 2] + [rng.randint(1, 3) for _ in range(2)]
    summary, weights, hist = run(setup, f"interrupted_{method}", stops, method=method)
    assert summary["resumed_from"] > 0, "the last call should have resumed from a checkpoint"
    assert weights.keys() == ref_weights.keys()
    if method == "diagonal":
        assert any(k.startswith("content.pth:") for k in weights)
    if method == "clip_direction":  # direction steps ran and moved the synthesis layers
        assert "clip_direction" in hist.splitlines()[0]
    for k in ref_weights:
        assert torch.equal(weights[k], ref_weights[k]), f"{k} differs after resume"
    assert hist == ref_hist


def test_resume_skips_corrupt_newest_checkpoint(setup, caplog):
    tmp, params = setup
    exp, cfg = params.experiment, params.method("syog")
    ck = tmp / "ck_corrupt"
    finetune(
        exp, cfg, tmp / "prepared", tmp / "corrupt", tmp / "c.csv", ck, "fp", stop_after=5
    )  # checkpoints at 2 and 4
    newest = sorted(ck.glob("ckpt_*.pt"))[-1]
    newest.write_bytes(newest.read_bytes()[:100])  # truncated, as a kill during a non-atomic write would leave
    step, ckpt = latest_checkpoint(ck)
    assert step == 2 and ckpt["step"] == 2
    summary = finetune(exp, cfg, tmp / "prepared", tmp / "corrupt", tmp / "c.csv", ck, "fp")
    assert summary["resumed_from"] == 2
    assert "skipping unreadable checkpoint" in caplog.text


def test_checkpoint_of_other_config_is_not_resumed(setup):
    tmp, params = setup
    exp, cfg = params.experiment, params.method("syog")
    ck = tmp / "ck_other"
    finetune(exp, cfg, tmp / "prepared", tmp / "other", tmp / "o.csv", ck, "fingerprint-A", stop_after=3)
    summary = finetune(exp, cfg, tmp / "prepared", tmp / "other", tmp / "o.csv", ck, "fingerprint-B")
    assert summary["resumed_from"] == 0


class Recorder:
    """A Progress that keeps what the fine-tune reports."""

    def __init__(self):
        self.started, self.rows, self.previews, self.ended = None, [], {}, None

    def start(self, step, rows):
        self.started = (step, list(rows))

    def log(self, step, logs):
        self.rows.append((step, dict(logs)))

    def preview(self, step, image):
        self.previews[step] = image

    def end(self, step):
        self.ended = step


@pytest.mark.parametrize("method", ["syog", "diagonal"])
def test_previews_show_the_generator_being_trained_and_change_nothing(setup, method):
    import dataclasses

    import numpy as np

    from pipeline.methods import get_method
    from pipeline.sample import make_grid, render_fixed

    tmp, params = setup
    _, ref_weights, ref_hist = run(setup, f"straight_{method}", method=method)
    exp = params.experiment
    exp = dataclasses.replace(exp, train=dataclasses.replace(exp.train, preview_every=4))
    cfg = dataclasses.replace(params.method(method), **METHODS[method])
    rec = Recorder()
    name = f"preview_{method}"
    finetune(exp, cfg, tmp / "prepared", tmp / name, tmp / name / "h.csv", tmp / f"ck_{name}", "fp", progress=rec)
    weights = {f"{f.name}:{k}": v for f in sorted((tmp / name).glob("*.pth")) for k, v in load_file(f).items()}
    # rendering previews draws no random numbers: the weights and losses are those of a run without them
    assert all(torch.equal(weights[k], ref_weights[k]) for k in ref_weights)
    assert (tmp / name / "h.csv").read_text() == ref_hist
    total = exp.train.iters
    assert sorted(rec.previews) == sorted({*range(4, total + 1, 4), total})
    assert rec.started == (0, []) and rec.ended == total
    assert [s for s, _ in rec.rows] == [int(line.split(",")[0]) for line in ref_hist.splitlines()[1:]]
    # the last preview is the exported generator (content branch included) on the first 16 fixed inputs
    sampler = get_method(cfg.method).load_sampler(exp, cfg, tmp / name, "cpu")
    fixed = {k: (v[:16] if k != "seed" else v) for k, v in load_file(tmp / "prepared" / "fixed_inputs.pt").items()}
    expect = np.asarray(make_grid(render_fixed(sampler, fixed)))
    got = np.asarray(rec.previews[total])
    assert got.shape == expect.shape and np.array_equal(got, expect)
    assert not np.array_equal(np.asarray(rec.previews[4]), got)  # and earlier ones show earlier weights
