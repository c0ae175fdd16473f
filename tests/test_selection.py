"""Which iteration a fine-tune exports (pipeline/selection.py): GANSketching's best-FID selection.

The exported netG.pth must be the generator of the lowest-FID evaluated step, bit for bit; the
selection's FID must be the evaluate stage's FID; resume must keep the selection's state."""

import dataclasses
import json

import pytest
import torch
from tiny import ROOT, write_tiny_params

from pipeline.config import load_params
from pipeline.evaluate import evaluate, generator_fid
from pipeline.nets.checkpoint import load_file
from pipeline.prepare import prepare
from pipeline.sample import Sampler, sample_method
from pipeline.train import finetune

ITERS = 4


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("selection")
    extra = {"experiments.demo.train": {"iters": ITERS, "batch": 2, "ckpt_every": 1, "log_every": 1, "device": "cpu"}}
    params = load_params(write_tiny_params(tmp / "params.yaml", extra))
    with torch.random.fork_rng():
        prepare(params.experiment, tmp / "raw", tmp / "prepared")
    return tmp, params


class Scripted:
    """A score function that returns scores[k] on its k-th call and records what it was asked."""

    def __init__(self, scores):
        self.scores, self.calls = list(scores), []

    def __call__(self, sampler, n, seed):
        assert isinstance(sampler, Sampler)
        self.calls.append((n, seed))
        return self.scores[len(self.calls) - 1]


def run(setup, name, score_fn=None, exp_iters=ITERS, stops=(), **changes):
    tmp, params = setup
    exp = params.experiment
    exp = dataclasses.replace(exp, train=dataclasses.replace(exp.train, iters=exp_iters))
    cfg = dataclasses.replace(params.method("syog"), **changes)
    args = (exp, cfg, tmp / "prepared", tmp / name, None, tmp / f"ck_{name}", "fp")
    for k in stops:
        assert "stopped_at" in finetune(*args, stop_after=k, score_fn=score_fn)
    summary = finetune(*args, score_fn=score_fn)
    return summary, load_file(tmp / name / "netG.pth"), json.loads((tmp / name / "selection.json").read_text())


def test_best_fid_exports_the_lowest_scoring_step_bit_for_bit(setup):
    score = Scripted([3.0, 1.0, 2.0, 5.0])  # steps 1, 2, 3, 4: step 2 is best
    _, G_sel, rec = run(setup, "best", score, select="best_fid", select_every=1, select_samples=7)
    _, G_two, _ = run(setup, "two_steps", exp_iters=2, select="final")
    _, G_last, _ = run(setup, "four_steps", select="final")
    assert [s["step"] for s in rec["scores"]] == [1, 2, 3, 4]
    assert [s["fid"] for s in rec["scores"]] == [3.0, 1.0, 2.0, 5.0]
    assert (rec["policy"], rec["exported_step"], rec["exported_fid"]) == ("best_fid", 2, 1.0)
    assert (rec["last_step"], rec["last_fid"]) == (ITERS, 5.0)
    # the generator after step 2 of the 4-step run is the generator of a 2-step run
    assert all(torch.equal(G_sel[k], G_two[k]) for k in G_two)
    assert any(not torch.equal(G_sel[k], G_last[k]) for k in G_last)
    # every evaluation draws select_samples samples from one seed, apart from the evaluate stage's
    seed = setup[1].experiment.seed
    assert score.calls == [(7, seed + 7919)] * 4 and seed + 7919 != seed + 1000


def test_scoring_does_not_change_the_training(setup):
    """A score function that draws from torch's global RNG (as sampling does) must not shift the
    training's random stream: the best (last) step of a best_fid run is a final run's generator."""

    class Drawing(Scripted):
        def __call__(self, sampler, n, seed):
            torch.rand(1000)
            torch.manual_seed(seed)  # as a careless metric might
            return super().__call__(sampler, n, seed)

    _, G_sel, rec = run(setup, "drawing", Drawing([4.0, 3.0, 2.0, 1.0]), select="best_fid", select_every=1)
    _, G_fin, _ = run(setup, "undisturbed", select="final")
    assert rec["exported_step"] == ITERS
    assert all(torch.equal(G_sel[k], G_fin[k]) for k in G_fin)


def test_ties_keep_the_earlier_step_and_final_ignores_scores(setup):
    _, G_tie, rec = run(setup, "tie", Scripted([2.0, 1.0, 1.0, 1.0]), select="best_fid", select_every=1)
    assert rec["exported_step"] == 2
    score = Scripted([])
    _, G_fin, rec = run(setup, "final", score, select="final", select_every=1)
    assert score.calls == [] and rec["scores"] == [] and rec["exported_step"] == ITERS
    assert rec["policy"] == "final" and rec["exported_fid"] is None


def test_a_run_no_longer_than_select_every_is_never_scored(setup):
    score = Scripted([])
    _, _, rec = run(setup, "short", score, select="best_fid", select_every=ITERS + 1)
    assert score.calls == [] and rec["scores"] == [] and rec["exported_step"] == ITERS
    # at select_every == iters the last step is due, and is the only candidate
    score = Scripted([4.0])
    _, _, rec = run(setup, "exact", score, select="best_fid", select_every=ITERS)
    assert score.calls and [s["step"] for s in rec["scores"]] == [ITERS]


def test_every_two_steps_scores_steps_two_and_four(setup):
    score = Scripted([1.0, 2.0])
    _, G_sel, rec = run(setup, "every2", score, select="best_fid", select_every=2)
    _, G_two, _ = run(setup, "two_steps_b", exp_iters=2, select="final")
    assert [s["step"] for s in rec["scores"]] == [2, 4] and rec["exported_step"] == 2
    assert all(torch.equal(G_sel[k], G_two[k]) for k in G_two)


def test_resume_keeps_the_scores_and_the_best_snapshot(setup):
    kw = dict(select="best_fid", select_every=1)
    _, G_ref, rec_ref = run(setup, "straight", Scripted([3.0, 1.0, 2.0, 5.0]), **kw)
    # killed after step 3 (checkpoint at 3 holds scores 1-3 and step 2's snapshot), then resumed: only
    # step 4 is scored again, and the export is still step 2's generator
    score = Scripted([3.0, 1.0, 2.0, 5.0])
    summary, G_res, rec = run(setup, "resumed", score, stops=(3,), **kw)
    assert summary["resumed_from"] == 3 and len(score.calls) == 4
    assert rec == rec_ref
    assert all(torch.equal(G_res[k], G_ref[k]) for k in G_ref)


def test_selection_fid_is_the_evaluate_stage_fid(setup, tmp_path):
    """Same generator, same samples (the evaluate stage's seed): the same FID, through the same
    extractor, resize and reference-set cache."""
    tmp, params = setup
    exp = params.experiment
    model = tmp / "prepared" / "pretrained"
    out = tmp_path / "samples"
    sample_method(exp, None, model, tmp / "prepared" / "fixed_inputs.pt", out)
    exp_fid = dataclasses.replace(exp, eval=dataclasses.replace(exp.eval, metrics=("fid",)))
    values, _ = evaluate(exp_fid, None, out, tmp / "prepared", tmp_path / "cache")
    from pipeline.evaluate import load_sampler

    sampler = load_sampler(exp, None, model, "cpu")
    fid = generator_fid(exp, sampler, tmp / "prepared", tmp_path / "cache", exp.eval.n_samples, exp.seed + 1000, "cpu")
    assert fid == pytest.approx(values["fid"], rel=1e-9, abs=1e-9)
    # other samples, another FID: the seed reaches the samples
    other = generator_fid(exp, sampler, tmp / "prepared", tmp_path / "cache", exp.eval.n_samples, exp.seed, "cpu")
    assert abs(other - values["fid"]) > 1e-6


def test_text_methods_default_to_the_last_iteration():
    from pipeline.methods import method_config_class

    params = load_params(ROOT / "params.yaml", {"experiment": "standing_cat"})  # the blocks as written
    for name, cfg in params.methods.items():
        expected = "best_fid" if cfg.method == "syog" else "final"
        assert cfg.select == expected, name
    # the toy schedule exports syog's last step (held inside W, best-FID picks the least-moved step; README)
    assert load_params(ROOT / "params.yaml").method("syog").select == "final"
    assert method_config_class("syog", "methods.syog").__dataclass_fields__["select_every"].default == 5000


def test_a_blocks_own_iters_replaces_the_experiments(setup):
    """`iters` in a method block (the toy schedule gives syog its own) sets that block's length; the
    generator it exports is the one a run of that many experiment iterations exports."""
    summary, G_own, rec = run(setup, "own_length", select="final", iters=2)
    _, G_two, _ = run(setup, "two_steps_c", exp_iters=2, select="final")
    assert summary["steps"] == 2 and rec["last_step"] == 2
    assert all(torch.equal(G_own[k], G_two[k]) for k in G_two)
