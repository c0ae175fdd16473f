"""The CLIP methods compute what the references compute (issue "Faithful by default"): each test
computes the reference's formula independently (from the CLIP encoders and the networks) and
compares; the switches that restore this project's earlier choices are checked to differ."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from test_methods_training import (  # noqa: F401  (fixture `pretrained` below)
    build,
    pretrained,  # noqa: F401
    small_params,
)
from tiny import ROOT, FakeData, set_noise_strength

from pipeline.methods.guidance import ClipGuidance
from pipeline.nets.clip import IMAGENET_TEMPLATES

pytestmark = pytest.mark.usefixtures("one_thread")


def guide(**changes):
    p = small_params()
    cfg = dataclasses.replace(p.method("clip_direction"), **changes)
    return ClipGuidance(cfg, p.experiment, torch.device("cpu")), p.experiment


def test_global_loss_text_is_the_raw_prompt():
    """NADA's global loss and StyleCLIP tokenize the bare string: E = normalize(E_T(prompt))."""
    g, exp = guide()
    with torch.no_grad():
        raw = F.normalize(g.clip.model.encode_text(g.clip.tokenizer([exp.target_prompt])), dim=-1)[0]
    torch.testing.assert_close(g.target, raw, atol=1e-6, rtol=0)
    # the `imagenet` switch (this project's earlier behaviour) averages 79 templated strings instead
    gi, _ = guide(prompt_templates="imagenet")
    with torch.no_grad():
        e = F.normalize(
            g.clip.model.encode_text(g.clip.tokenizer([t.format(exp.target_prompt) for t in IMAGENET_TEMPLATES])),
            dim=-1,
        )
    torch.testing.assert_close(gi.target, F.normalize(e.mean(0), dim=0), atol=1e-6, rtol=0)
    assert (gi.target - g.target).norm() > 1e-3


def test_nada_text_direction_is_the_difference_of_template_means(pretrained):  # noqa: F811
    """dT = normalize(mean_t n(E(t(target))) - mean_t n(E(t(source)))), NADA `compute_text_direction`;
    StyleCLIP's GetDt re-normalizes each mean first, which gives another direction."""
    method, _ = build(pretrained, "clip_direction")
    clip, exp = method.guide.clip, method.exp
    with torch.no_grad():

        def feats(prompt):
            return F.normalize(
                clip.model.encode_text(clip.tokenizer([t.format(prompt) for t in IMAGENET_TEMPLATES])), dim=-1
            )  # [79, D]

        t, s = feats(exp.target_prompt), feats(exp.source_prompt)
    want = F.normalize((t - s).mean(0), dim=0)
    torch.testing.assert_close(method.text_dir, want, atol=1e-6, rtol=0)
    getdt = F.normalize(F.normalize(t.mean(0), dim=0) - F.normalize(s.mean(0), dim=0), dim=0)
    assert (getdt - want).norm() > 1e-4, "the two formulas coincide here; the test would not tell them apart"


def test_direction_inputs_reference_uses_the_frozen_mapping_and_own_noise(pretrained):  # noqa: F811
    method, nets = build(pretrained, "clip_direction")
    assert method.cfg.direction_inputs == "reference"
    with torch.no_grad():  # the sketch-trained mapping has moved away
        for p in nets.G.mapping_layers()[0].parameters():
            p.add_(1.0)
    torch.manual_seed(5)
    w = method.direction_w(3)
    torch.manual_seed(5)
    z = torch.randn(3, nets.G.style_dim)
    torch.testing.assert_close(w, method.G_frozen.mapping(z))
    assert not torch.allclose(w, nets.G.mapping(z))
    a, b = method.noise_pair(3)
    assert all(not torch.equal(x, y) for x, y in zip(a, b))  # each generator its own noise
    shared, _ = build(pretrained, "clip_direction", direction_inputs="shared")
    a, b = shared.noise_pair(3)
    assert all(x is y for x, y in zip(a, b))


def test_shared_direction_inputs_render_both_generators_with_one_noise(pretrained, monkeypatch):  # noqa: F811
    """direction_inputs "shared": at the first direction step G_train is still G_frozen, so with the same
    w and the same noise the image embeddings differ by rounding only (float32, one pass with a graph,
    one without); "reference" draws each generator its own noise, so they differ by far more."""
    from pipeline.methods import clip_direction as cd

    d_img, real = {}, cd.directional_loss

    def recording(train_emb, frozen_emb, text_dir):
        d_img[mode] = (train_emb - frozen_emb).abs().max().item()
        return real(train_emb, frozen_emb, text_dir)

    monkeypatch.setattr(cd, "directional_loss", recording)
    for mode in ("shared", "reference"):
        method, nets = build(pretrained, "clip_direction", direction_inputs=mode)
        for G in (nets.G, method.G_frozen):  # noise that changes the image
            set_noise_strength(G)
        torch.manual_seed(0)
        method.direction_step()
    assert d_img["shared"] < 1e-5 and d_img["reference"] > 1e-2, d_img


def test_r1_regularizes_the_reals_of_the_same_iteration(pretrained, monkeypatch):  # noqa: F811
    """GANSketching computes R1 on the batch of its D step, not on a fresh draw."""
    method, nets = build(pretrained, "syog")
    seen = {}
    from pipeline.methods import syog as syog_mod

    real_r1 = syog_mod.r1_penalty

    def recording(logits, real_input):
        seen.setdefault("r1", []).append(real_input.detach().clone())
        return real_r1(logits, real_input)

    monkeypatch.setattr(syog_mod, "r1_penalty", recording)
    data = FakeData(16)
    sketches, photos = data.sketches, data.photos
    drawn = {"sketches": [], "photos": []}
    data.sketches = lambda b: drawn["sketches"].append(sketches(b)) or drawn["sketches"][-1]
    data.photos = lambda b: drawn["photos"].append(photos(b)) or drawn["photos"][-1]
    method.step(0, data)  # step 0: an R1 step (d_reg_every 16)
    assert len(drawn["sketches"]) == 1 and len(drawn["photos"]) == 1
    torch.testing.assert_close(seen["r1"][0], drawn["sketches"][0])
    torch.testing.assert_close(seen["r1"][1], drawn["photos"][0])


def test_clip_runs_in_float32_under_bf16_autocast():
    g, _ = guide()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    want = g.encode(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = g.encode(x)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


def test_diagonal_ds_loss_is_a_switch(pretrained):  # noqa: F811
    off, _ = build(pretrained, "diagonal")
    assert off.cfg.ds_lambda == 0.0
    logs = off.g_step(FakeData(16))
    assert "ds" not in logs
    on, nets = build(pretrained, "diagonal", ds_lambda=0.3)
    with torch.no_grad():
        for a in on.branch.attentions.values():
            a.gamma.fill_(0.5)  # let the content code change the image
    torch.manual_seed(0)
    loss = on.ds_loss(2)
    # independently: the same draws, max(0, 0.3 - mean |G(z, c2) - G(z, c3)|)
    torch.manual_seed(0)
    G = nets.G
    z = torch.randn(2, G.style_dim)
    imgs = [
        G([z], content=on.branch.content_codes(torch.randn(2, on.branch.content_dim), G.n_latent))[0] for _ in range(2)
    ]
    want = max(0.0, 0.3 - (imgs[0] - imgs[1]).abs().mean().item())
    assert abs(loss.item() - want) < 1e-6
    assert "ds" in on.g_step(FakeData(16))


# ----------------------------------------------------------------------------
# Layer selection


def test_layer_selection_picks_the_rows_that_move(pretrained):  # noqa: F811
    """Only the layers driven by W+ rows 2 and 4 depend on w (every other modulation weight zeroed):
    their rows are the only ones the global loss can move, and selection with k = 2 must pick them."""
    method, nets = build(pretrained, "clip_direction", layer_k=2, layer_lr=1.0)
    G = nets.G
    keep = {id(G.convs[1].conv), id(G.convs[3].conv)}  # rows 2 and 4 in rosinality's forward
    with torch.no_grad():
        for _, conv in G.style_layers():
            if id(conv) not in keep:
                conv.modulation.weight.zero_()
    torch.manual_seed(0)
    assert method.select_rows() == [2, 4]


def test_layer_selection_defaults_to_two_thirds_of_wplus(pretrained):  # noqa: F811
    """NADA's Colab "improve shape" setting, the reference default: int(2 n_latent / 3) rows (9 of 14 at
    256 px); here n_latent 6 -> 4 rows, not a third's 2."""
    method, nets = build(pretrained, "clip_direction", layer_k=None)
    torch.manual_seed(0)
    rows = method.select_rows()
    assert nets.G.n_latent == 6
    assert len(rows) == 4 and len(set(rows)) == 4 and all(0 <= r < 6 for r in rows)


def test_deviation_benchmark_flips_exactly_one_switch_per_variant(tmp_path):
    """benchmarks/deviations_toy.py: every variant is its block with one switch at the non-reference
    value, and the unswitched rows are the blocks exactly as params.yaml's `methods:` has them (the toy
    schedule's overrides, which flip some of these switches, left out)."""
    import dataclasses
    import importlib.util

    import yaml

    spec = importlib.util.spec_from_file_location("deviations_toy", ROOT / "benchmarks" / "deviations_toy.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    params = bench.bench_params()
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())["methods"]
    for block in {b for b, _, _ in bench.VARIANTS}:
        for key, value in raw[block].items():
            assert getattr(params.method(block), key) == value, (block, key)
    (tmp_path / "prepared").mkdir()
    chains = bench.chains(params, tmp_path / "prepared", [0, 1, 2])
    assert len(chains) == 3 * len(bench.VARIANTS) and len({c.key for c in chains}) == len(chains)
    for block, switch, value in bench.VARIANTS:
        mine = [c for c in chains if c.method == bench.variant_name(block, switch, value)]
        assert [c.seed for c in mine] == [0, 1, 2]
        base = dataclasses.asdict(params.method(block))
        got = dataclasses.asdict(mine[0].method_cfg)
        changed = {k for k in base if base[k] != got[k]} - {"target_prompt"}
        assert changed == (set() if switch is None else {switch}), (block, switch, changed)
        if switch is not None:
            assert got[switch] == value
    # a schedule reaches each block only through the fields it has, and the switch still on top
    fast = bench.chains(params, tmp_path / "prepared", [0], {"g_lr": 0.05, "direction_lr": 0.01})
    by_name = {c.method: c.method_cfg for c in fast}
    assert by_name["clip_global"].g_lr == 0.05 and not hasattr(by_name["clip_global"], "direction_lr")
    assert by_name["clip_direction layer_map=actual"].direction_lr == 0.01
    assert by_name["clip_direction layer_map=actual"].layer_map == "actual"
    with pytest.raises(SystemExit, match="no_such_field"):
        bench.chains(params, tmp_path / "prepared", [0], {"no_such_field": 1})
