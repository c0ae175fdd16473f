"""The CLIP methods: who trains what, checked by gradients and parameter values after real steps,
and every method block of params.yaml run through fine-tune + sample on a tiny config."""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

import pytest
import tiny
import torch
from PIL import Image
from tiny import FakeData, direction_loss_on, fixed_direction_batch

from pipeline.config import load_params
from pipeline.methods import get_method
from pipeline.methods.clip_direction import ClipDirection
from pipeline.methods.clip_global import ClipGlobal
from pipeline.methods.diagonal import Diagonal
from pipeline.models import build_nets, load_generator, stylegan_config
from pipeline.nets.checkpoint import load_file, load_into
from pipeline.nets.diagonal import ContentBranch
from pipeline.nets.stylegan2 import Discriminator, Generator
from pipeline.sample import Sampler, render_fixed

pytestmark = pytest.mark.usefixtures("one_thread")

PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"
SIZE = 16
N_MLP = 4
SMALL = {
    "experiment": "demo",
    "experiments.demo.size": SIZE,
    "experiments.demo.generator": {
        "style_dim": 16,
        "n_mlp": N_MLP,
        "channel_base": 128,
        "channel_max": 16,
        "lr_mlp": 0.01,
    },
    "experiments.demo.train.batch": 2,
    "experiments.demo.train.device": "cpu",
}
CPU = torch.device("cpu")


def small_params():
    return load_params(PARAMS, SMALL)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """Small random G (n_mlp 4) and D in the published bare state-dict format."""
    exp = small_params().experiment
    folder = tmp_path_factory.mktemp("pretrained")
    with torch.random.fork_rng():
        torch.manual_seed(1234)
        cfg = stylegan_config(exp)
        torch.save(Generator(cfg).state_dict(), folder / "netG.pth")
        torch.save(Discriminator(cfg).state_dict(), folder / "netD.pth")
    return folder


def build(pretrained, block: str, seed: int = 0, **changes):
    """A method from the params.yaml block `block`, fields replaced by `changes`, on fresh nets."""
    p = small_params()
    exp, cfg = p.experiment, dataclasses.replace(p.method(block), **changes)
    nets = build_nets(exp, pretrained, CPU)
    torch.manual_seed(seed)  # the content branch (diagonal) is initialized from this stream too
    method = get_method(cfg.method)(cfg, nets, exp)
    return method, nets


def snapshot(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before: dict, module) -> set[str]:
    return {k for k, v in module.state_dict().items() if not torch.equal(v, before[k])}


def grads(named) -> dict[str, torch.Tensor | None]:
    return {n: (None if p.grad is None else p.grad.clone()) for n, p in named}


def is_zero(g) -> bool:
    return g is None or torch.count_nonzero(g) == 0


# ----------------------------------------------------------------------------
# clip_global


def test_clip_global_text_reaches_only_the_last_mapping_layers(pretrained):
    clip_layers = 2
    runs = {}
    for lam in (0.0, 5.0):
        method, nets = build(pretrained, "clip_global", lambda_global=lam, clip_layers=clip_layers)
        assert isinstance(method, ClipGlobal)
        torch.manual_seed(7)
        logs = method.g_step(FakeData(SIZE))
        assert math.isfinite(logs["clip_global"]) and 0 <= logs["clip_global"] <= 2
        runs[lam] = (method, nets, logs)

    (m0, n0, l0), (m5, n5, l5) = runs[0.0], runs[5.0]
    assert l0 == l5  # same seed, same weights: the same fakes and the same loss values
    layers0, layers5 = n0.G.mapping_layers(), n5.G.mapping_layers()
    assert len(layers0) == N_MLP
    # the first n_mlp - clip_layers layers get L_SYOG only: their gradients ignore lambda_global
    for i in range(N_MLP - clip_layers):
        for (name, a), b in zip(layers0[i].named_parameters(), layers5[i].parameters()):
            assert a.grad is not None and a.grad.abs().sum() > 0, (i, name)
            assert torch.equal(a.grad, b.grad), f"style.{i + 1}.{name} saw the CLIP loss"
    # the last clip_layers layers get L_SYOG + lambda * L_global
    for i in range(N_MLP - clip_layers, N_MLP):
        a, b = layers0[i].weight.grad, layers5[i].weight.grad
        assert a is not None and b is not None
        assert not torch.allclose(a, b), f"style.{i + 1}.weight did not see the CLIP loss"
    # the CLIP-trained parameter set is exactly those layers
    assert {id(p) for p in m5.clip_params} == {id(p) for layer in layers5[-clip_layers:] for p in layer.parameters()}
    # no synthesis parameter has a gradient; nor do the discriminators or CLIP
    for nets, method in ((n0, m0), (n5, m5)):
        for name, p in nets.G.named_parameters():
            if not name.startswith("style."):
                assert p.grad is None, name
        for D in (nets.D_sketch, nets.D_image):
            assert all(p.grad is None for p in D.parameters())
        assert all(p.grad is None for p in method.guide.clip.parameters())


def test_clip_global_lambda_gradient_is_linear(pretrained):
    """grad(lambda=5) - grad(lambda=0) on the CLIP layers is 5x the CLIP-only gradient (lambda=1 minus 0)."""
    out = {}
    for lam in (0.0, 1.0, 5.0):
        method, nets = build(pretrained, "clip_global", lambda_global=lam, clip_layers=2)
        torch.manual_seed(7)
        method.g_step(FakeData(SIZE))
        out[lam] = nets.G.mapping_layers()[-1].weight.grad.clone()
    clip1 = out[1.0] - out[0.0]
    clip5 = out[5.0] - out[0.0]
    assert clip1.abs().sum() > 0
    torch.testing.assert_close(clip5, 5 * clip1, rtol=1e-3, atol=1e-3 * clip5.abs().max().item())


def test_clip_global_refuses_more_clip_layers_than_mapping_layers(pretrained):
    from pipeline.config import ConfigError

    with pytest.raises(ConfigError, match="clip_layers"):
        build(pretrained, "clip_global", clip_layers=N_MLP + 1)


# ----------------------------------------------------------------------------
# clip_direction


def test_direction_step_trains_only_the_selected_synthesis_modules(pretrained):
    method, nets = build(pretrained, "clip_direction", layer_batch=2, layer_k=3, direction_batch=2)
    assert isinstance(method, ClipDirection)
    G = nets.G
    before = snapshot(G)
    frozen_before = snapshot(method.G_frozen)
    torch.manual_seed(3)
    logs = method.direction_step()
    assert math.isfinite(logs["clip_direction"])
    rows = method.last_rows
    assert len(rows) == 3 and rows == sorted(rows) and all(0 <= r < G.n_latent for r in rows)
    modules = method.modules_for_rows(rows)
    assert logs["n_layers"] == len(modules) > 0

    names = {id(p): n for n, p in G.named_parameters()}
    allowed = {names[id(p)] for m in modules for p in m.parameters()}
    moved = changed(before, G)
    # the mapping network is untouched by a direction step
    assert not {k for k in moved if k.startswith("style.")}
    # what changed is a non-empty subset of the selected modules' parameters
    assert moved and moved <= allowed, sorted(moved - allowed)
    # each selected StyledConv's modulated conv weight moved
    for m in modules:
        w = names[id(m.conv.weight)]
        assert w in moved, w
    # every other synthesis tensor (parameters and buffers) is bit-identical
    for k in before:
        if k not in allowed:
            assert torch.equal(G.state_dict()[k], before[k]), k
    # G_frozen is frozen
    assert not changed(frozen_before, method.G_frozen)
    # afterwards only the mapping network requires grad again (back to SYOG training)
    assert {n for n, p in G.named_parameters() if p.requires_grad} == {
        n for n in names.values() if n.startswith("style.")
    }


def test_layer_map_reference_is_nadas_lookup(pretrained):
    """NADA maps rows through [conv1, to_rgb1] + convs (reference spec §2.3 step 5): the default."""
    actual, nets_a = build(pretrained, "clip_direction", layer_map="actual")
    ref, nets_r = build(pretrained, "clip_direction")
    assert ref.cfg.layer_map == "reference"
    Ga, Gr = nets_a.G, nets_r.G
    assert actual.modules_for_rows([2]) == [Ga.convs[1]]
    assert ref.modules_for_rows([2]) == [Gr.convs[0]]
    assert actual.modules_for_rows([0]) == [Ga.conv1] and ref.modules_for_rows([0]) == [Gr.conv1]
    # row 1 modulates to_rgb1 and convs.0; only the StyledConv is trained without train_torgb
    assert actual.modules_for_rows([1]) == [Ga.convs[0]]
    assert ref.modules_for_rows([1]) == [Gr.to_rgb1]  # NADA trains to_rgb1 when row 1 is selected
    assert ref.modules_for_rows(list(range(Gr.n_latent))) == [Gr.conv1, Gr.to_rgb1, *Gr.convs]
    with_rgb, nets_t = build(pretrained, "clip_direction", layer_map="actual", train_torgb=True)
    assert with_rgb.modules_for_rows([1]) == [nets_t.G.to_rgb1, nets_t.G.convs[0]]
    # same rows, different module sets (by position in the synthesis network)
    index = lambda G, mods: [G.styled_convs().index(m) for m in mods]
    rows = [2, 3, 4]
    assert index(Ga, actual.modules_for_rows(rows)) != index(Gr, ref.modules_for_rows(rows))


@pytest.mark.parametrize("layer_map,row", [("actual", -1)])
def test_direction_step_with_only_torgb_rows_selected_trains_nothing(pretrained, layer_map, row):
    """layer_k 1 can select a row that modulates only a ToRGB (the last row): with layer_map actual and
    train_torgb off there is nothing to train, and the step must skip, not crash in backward."""
    method, nets = build(pretrained, "clip_direction", layer_k=1, layer_batch=2, direction_batch=2, layer_map=layer_map)
    row = row % nets.G.n_latent
    assert method.modules_for_rows([row]) == []
    method.select_rows = lambda: [row]
    before = snapshot(nets.G)
    logs = method.direction_step()
    assert logs["n_layers"] == 0 and math.isfinite(logs["clip_direction"])
    assert not changed(before, nets.G)
    assert all(p.grad is None for p in nets.G.parameters())
    # training goes on: the mapping network still requires grad for the next SYOG step
    assert all(p.requires_grad for p in method.g_params)


def test_direction_step_runs_after_every_direction_every_th_iteration(pretrained):
    """direction_every 3: after iterations 2, 5, 8, ... (the 3rd, 6th, ...), never after 0, 1, 3, 4."""
    method, _ = build(pretrained, "clip_direction", direction_every=3, layer_batch=2, direction_batch=2)
    data = FakeData(SIZE)
    torch.manual_seed(0)
    ran = ["clip_direction" in method.step(it, data) for it in range(6)]
    assert ran == [False, False, True, False, False, True]


def test_set_grads_skips_parameters_a_loss_does_not_reach():
    """A loss that does not reach one of its group's parameters leaves that gradient alone (None,
    or what another loss put there) instead of failing."""
    from pipeline.methods.guidance import set_grads

    a, b, c = (torch.nn.Parameter(torch.tensor(v)) for v in (2.0, 3.0, 5.0))
    set_grads([(a * a, [a, b]), (b * c, [b, c])])
    assert a.grad.item() == 4.0 and b.grad.item() == 5.0 and c.grad.item() == 3.0
    set_grads([(a * 1.0, [a, c])])  # c unused: its gradient stays, a's accumulates
    assert a.grad.item() == 5.0 and c.grad.item() == 3.0


def test_clip_guidance_loads_the_configured_weights(monkeypatch):
    """The model name, the pretrained tag and the local checkpoint reach build_clip as configured."""
    import pipeline.nets.clip as clip_mod
    from pipeline.config import ClipSpec
    from pipeline.methods.guidance import ClipGuidance

    seen = {}
    real = clip_mod.build_clip

    def spy(model, pretrained=None, checkpoint=None, device="cpu", cache_dir=None):
        seen.update(model=model, pretrained=pretrained, checkpoint=checkpoint, cache_dir=cache_dir)
        return real("demo-tiny-clip", None, None, device=device)

    monkeypatch.setattr(clip_mod, "build_clip", spy)
    p = small_params()
    spec = ClipSpec(model="ViT-B-32-quickgelu", pretrained="openai", checkpoint="w/clip.pt", cache_dir="c")
    cfg = dataclasses.replace(p.method("clip_global"), clip=spec)
    ClipGuidance(cfg, p.experiment, CPU)
    assert seen == {"model": "ViT-B-32-quickgelu", "pretrained": "openai", "checkpoint": "w/clip.pt", "cache_dir": "c"}


def test_direction_step_runs_every_direction_every_iterations(pretrained):
    method, nets = build(pretrained, "clip_direction", direction_every=2, layer_batch=2, direction_batch=2)
    data = FakeData(SIZE)
    synthesis = [k for k in nets.G.state_dict() if not k.startswith("style.")]
    s0 = snapshot(nets.G)
    torch.manual_seed(0)
    logs0 = method.step(0, data)
    assert "clip_direction" not in logs0 and "g_sketch" in logs0
    assert not (changed(s0, nets.G) & set(synthesis))  # a plain SYOG iteration
    s1 = snapshot(nets.G)
    logs1 = method.step(1, data)
    assert "clip_direction" in logs1 and "g_sketch" in logs1
    assert changed(s1, nets.G) & set(synthesis)  # the direction step moved synthesis
    logs2 = method.step(2, data)
    assert "clip_direction" not in logs2
    assert "clip_direction" in method.step(3, data)


# ----------------------------------------------------------------------------
# diagonal


def set_gamma(method, value: float):
    with torch.no_grad():
        for att in method.branch.attentions.values():
            att.gamma.fill_(value)


def content_grads(method):
    return grads(method.branch.named_parameters())


def style_grads(nets):
    return grads((n, p) for n, p in nets.G.named_parameters() if n.startswith("style."))


def test_diagonal_at_gamma_zero_only_gamma_gets_a_gradient(pretrained):
    method, nets = build(pretrained, "diagonal")
    assert isinstance(method, Diagonal)
    assert len(method.branch.attentions) == len(nets.G.styled_convs())  # attention_max_res 64 >= 16 px
    torch.manual_seed(5)
    method.g_step(FakeData(SIZE))
    g = content_grads(method)
    gammas = [k for k in g if k.endswith("gamma")]
    assert gammas
    for k in gammas:
        assert g[k] is not None and g[k].abs().sum() > 0, k
    others = [k for k in g if not k.endswith("gamma")]
    assert any(k.startswith("mapping.") for k in others)
    for k in others:
        assert is_zero(g[k]), f"{k} got a gradient through gamma = 0"


def test_diagonal_gradients_are_routed_per_loss(pretrained, monkeypatch):
    def run(scale_syog: float):
        method, nets = build(pretrained, "diagonal")
        set_gamma(method, 0.5)
        if scale_syog != 1:
            orig = method.syog_generator_loss

            def scaled(fake):
                loss, logs = orig(fake)
                return scale_syog * loss, logs

            monkeypatch.setattr(method, "syog_generator_loss", scaled)
        torch.manual_seed(11)
        logs = method.g_step(FakeData(SIZE))
        return method, nets, logs

    ma, na, la = run(1.0)
    mb, nb, lb = run(3.0)
    assert la == lb
    ca, cb = content_grads(ma), content_grads(mb)
    for k in ca:
        assert ca[k] is not None and ca[k].abs().sum() > 0, k  # every branch tensor is trained at gamma 0.5
        assert torch.equal(ca[k], cb[k]), f"content {k} saw the sketch loss"
    sa, sb = style_grads(na), style_grads(nb)
    assert len(sa) == 2 * N_MLP
    for k in sa:
        assert sa[k] is not None and sa[k].abs().sum() > 0, k
        # float32 backward through a G step rounds at ~1e-6 relative; a routing error is off by 100 %
        torch.testing.assert_close(sb[k], 3 * sa[k], rtol=1e-3, atol=1e-4 * sa[k].abs().max().item())
    # synthesis and discriminators get nothing from the G step
    for name, p in nb.G.named_parameters():
        if not name.startswith("style."):
            assert p.grad is None, name
    assert all(p.grad is None for D in (nb.D_sketch, nb.D_image) for p in D.parameters())


def test_diagonal_content_branch_gets_nothing_without_clip_loss(pretrained):
    method, nets = build(pretrained, "diagonal", lambda_global=0.0)
    set_gamma(method, 0.5)
    before = snapshot(method.branch)
    torch.manual_seed(11)
    method.g_step(FakeData(SIZE))
    for k, g in content_grads(method).items():
        assert is_zero(g), k
    assert not changed(before, method.branch)
    assert all(g is not None and g.abs().sum() > 0 for g in style_grads(nets).values())


def test_diagonal_without_syog_trains_the_content_branch_only(pretrained):
    method, nets = build(pretrained, "diagonal_no_syog")
    assert method.cfg.syog is False and method.g_params == []
    set_gamma(method, 0.5)
    G0, Ds0, Di0, B0 = snapshot(nets.G), snapshot(nets.D_sketch), snapshot(nets.D_image), snapshot(method.branch)
    data = FakeData(SIZE)
    torch.manual_seed(2)
    logs = method.step(0, data)
    assert set(logs) == {"clip_global"}
    assert data.calls == {"sketches": 0, "photos": 0}  # no D step, no R1 step, no sketch loss
    assert not changed(Ds0, nets.D_sketch) and not changed(Di0, nets.D_image)
    assert not changed(G0, nets.G)  # style mapping and synthesis stay pretrained
    assert changed(B0, method.branch) == set(B0)  # every content tensor moved
    assert all(p.grad is None for p in nets.G.parameters())
    assert not any(p.requires_grad for p in nets.G.parameters())  # G frozen whole, no graph through it


# ----------------------------------------------------------------------------
# Every method block of params.yaml through fine-tune and sample


ITERS = 4
RUN_OVERRIDES = {
    **tiny.TINY,
    "experiment": "demo",
    "experiments.demo.size": SIZE,
    # clip_global's block trains the last 4 mapping layers: the tiny generator needs that many
    "experiments.demo.generator": {"style_dim": 16, "n_mlp": 4, "channel_base": 128, "channel_max": 16, "lr_mlp": 0.01},
    "experiments.demo.demo_data": {"n_sketches": 4, "n_photos": 4, "n_eval": 8},
    "experiments.demo.train": {"iters": ITERS, "batch": 2, "ckpt_every": ITERS, "log_every": 1, "device": "cpu"},
    "experiments.demo.eval.n_samples": 8,
    "experiments.demo.eval.kid_subset_size": 4,
    "experiments.demo.eval.grid_size": 8,
}


def run_params():
    names = load_params(PARAMS).methods
    extra = {f"methods.{n}.direction_every": 2 for n, c in names.items() if c.method == "clip_direction"}
    extra.update({f"methods.{n}.layer_batch": 2 for n, c in names.items() if c.method == "clip_direction"})
    return load_params(PARAMS, {**RUN_OVERRIDES, **extra})


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    from pipeline.prepare import prepare

    out = tmp_path_factory.mktemp("prepared")
    with torch.random.fork_rng():
        prepare(run_params().experiment, out / "raw", out)
    return out


BLOCKS = list(load_params(PARAMS).methods)


def test_params_yaml_has_every_method():
    kinds = {c.method for c in load_params(PARAMS).methods.values()}
    assert {"syog", "clip_global", "clip_direction", "diagonal"} <= kinds


@pytest.mark.parametrize("block", BLOCKS)
def test_method_block_finetunes_and_samples(block, prepared, tmp_path):
    from pipeline.sample import sample_method
    from pipeline.train import finetune

    p = run_params()
    exp, cfg = p.experiment, p.method(block)
    model, ckpts, out = tmp_path / "model", tmp_path / "ckpt", tmp_path / "sample"
    with torch.random.fork_rng():
        info = finetune(exp, cfg, prepared, model, tmp_path / "history.csv", ckpts, fingerprint=block)
    assert info["steps"] == ITERS and info["resumed_from"] == 0

    rows = list(csv.DictReader((tmp_path / "history.csv").open()))
    assert [int(r["step"]) for r in rows] == list(range(ITERS))
    assert all(math.isfinite(float(v)) for r in rows for v in r.values() if v)
    if cfg.method in ("clip_global", "diagonal"):
        assert all(r["clip_global"] for r in rows)
    if cfg.method == "clip_direction":
        # direction_every 2: a direction step after iterations 1 and 3 only
        assert [bool(r["clip_direction"]) for r in rows] == [False, True, False, True]

    # the exported generator is in the published format: loads strictly into a plain Generator
    G = load_generator(exp, model / "netG.pth")
    G0 = load_generator(exp, prepared / "pretrained" / "netG.pth")
    sd, sd0 = G.state_dict(), G0.state_dict()
    moved = {k for k in sd if not torch.equal(sd[k], sd0[k])}
    style = {k for k in sd if k.startswith("style.")}
    if cfg.method == "diagonal" and not cfg.syog:
        assert not moved  # no sketch loss: G stays pretrained
    else:
        assert style <= moved  # every mapping tensor was trained
    if cfg.method == "clip_direction":
        assert moved - style, "no direction step reached the synthesis network"
    else:
        assert moved <= style, sorted(moved - style)

    exports = {f.name for f in model.iterdir()}
    assert exports == {"netG.pth", "selection.json"} | ({"content.pth"} if cfg.method == "diagonal" else set())
    branch = None
    if cfg.method == "diagonal":
        branch = ContentBranch(G, cfg.content_dim or G.style_dim, cfg.content_mlp, cfg.attention_max_res)
        load_into(branch, model / "content.pth")  # strict
        gammas = torch.cat([a.gamma for a in branch.attentions.values()])
        assert (gammas != 0).all(), "the content branch was not trained"
        assert not any("attention" in k for k in load_file(model / "netG.pth"))

    with torch.random.fork_rng():
        res = sample_method(exp, cfg, model, prepared / "fixed_inputs.pt", out)
    grid = Image.open(out / "grid.png")
    n = exp.eval.grid_size
    assert grid.size == (8 * (SIZE + 2) + 2, math.ceil(n / 8) * (SIZE + 2) + 2)
    assert len(list((out / "images").glob("*.png"))) == exp.eval.n_samples == res["n_samples"]

    if cfg.method == "diagonal":
        fixed = load_file(prepared / "fixed_inputs.pt")
        branch.eval().attach(G)
        with_branch = render_fixed(Sampler(G, branch), fixed)
        without = render_fixed(G, fixed)
        pretrained_imgs = render_fixed(G0, fixed)
        assert not torch.equal(with_branch, without)  # the trained branch changes the grid
        with torch.no_grad():
            for a in branch.attentions.values():
                a.gamma.zero_()
        # ... and only through its trained gammas: at gamma 0 it is the generator alone
        assert torch.equal(render_fixed(Sampler(G, branch), fixed), without)
        if not cfg.syog:
            assert torch.equal(without, pretrained_imgs)  # nothing else moved


def test_diagonal_steps_each_optimizer_with_its_own_lr(pretrained):
    """Adam's first step moves every parameter with a gradient by lr (m/sqrt(v) = sign(g)): the content
    branch by content_lr, the mapping by g_lr, and nothing else in G."""
    method, nets = build(pretrained, "diagonal", g_lr=0.03, content_lr=0.004)
    set_gamma(method, 0.5)  # so every content tensor gets a gradient
    B0, G0 = snapshot(method.branch), snapshot(nets.G)
    torch.manual_seed(11)
    method.g_step(FakeData(SIZE))
    steps: dict[float, list] = {}
    for name, before in (("content", B0), ("G", G0)):
        module = method.branch if name == "content" else nets.G
        for k, v in module.state_dict().items():
            step = (v - before[k]).abs()
            if k.startswith("style.") and name == "G":
                lr = 0.03
            elif name == "content":
                lr = 0.004
            else:
                assert torch.equal(v, before[k]), f"G.{k} moved"
                continue
            steps.setdefault(lr, []).append(step.flatten())
    # |step| = lr |g| / (|g| + eps): lr exactly where |g| >> eps (Adam's eps 1e-8), less for tiny
    # gradients, never more. So the largest step of each group is its lr.
    assert set(steps) == {0.03, 0.004}
    for lr, s in steps.items():
        s = torch.cat(s)
        assert s.max() == pytest.approx(lr, rel=1e-4), (lr, s.max())
        assert (s > 0.5 * lr).float().mean() > 0.5  # most entries took a full step


def test_registered_methods_know_their_names_and_imagenet_direction_texts(pretrained):
    for name in ("syog", "clip_global", "clip_direction", "diagonal"):
        assert get_method(name).name == name
    method, _ = build(pretrained, "clip_direction", prompt_templates="imagenet")
    t, s = method.guide.direction_texts()  # StyleCLIP's GetDt: the re-normalized template means
    assert torch.equal(t, method.guide.target) and torch.equal(s, method.guide.source)
    assert t.norm().item() == pytest.approx(1.0, abs=1e-5) and not torch.equal(t, s)


def test_diagonal_with_syog_runs_the_discriminator_steps_too(pretrained):
    """`syog: true` (the `diagonal` block): each iteration is SYOG's D step, lazy R1 and G step, the
    content branch trained in the G step; only `syog: false` skips the discriminators."""
    method, nets = build(pretrained, "diagonal", d_reg_every=1, r1_gamma=1.0)
    set_gamma(method, 0.5)
    Ds0, Di0, B0 = snapshot(nets.D_sketch), snapshot(nets.D_image), snapshot(method.branch)
    data = FakeData(SIZE)
    torch.manual_seed(2)
    logs = method.step(0, data)
    assert {"d_sketch", "d_image", "r1_sketch", "g_sketch", "clip_global"} <= set(logs)
    assert data.calls["sketches"] == 1 and data.calls["photos"] == 1
    assert changed(Ds0, nets.D_sketch) and changed(Di0, nets.D_image) and changed(B0, method.branch)


def test_nadas_frozen_copy_never_trains(pretrained):
    """G_frozen is the pretrained generator: after direction and G steps no parameter of it requires
    or holds a gradient, and its weights are the pretrained ones."""
    method, nets = build(pretrained, "clip_direction", direction_every=1, layer_batch=2, direction_batch=2)
    frozen = snapshot(method.G_frozen)
    torch.manual_seed(4)
    for it in range(2):
        method.step(it, FakeData(SIZE))
    assert not any(p.requires_grad for p in method.G_frozen.parameters())
    assert all(p.grad is None for p in method.G_frozen.parameters())
    assert not changed(frozen, method.G_frozen) and changed(frozen, nets.G)


def test_diagonal_attention_only_up_to_attention_max_res(pretrained):
    """DiagonalGAN's attention on the convolutions at resolutions <= attention_max_res: at 8 on a
    16 px generator, conv1 (4 px) and the two 8 px convolutions."""
    method, nets = build(pretrained, "diagonal", attention_max_res=8)
    assert sorted(method.branch.attentions) == ["0", "1", "2"]
    with_att = [c.attention is not None for c in nets.G.styled_convs()]
    assert with_att == [True, True, True, False, False]


@pytest.mark.parametrize("templates", ["reference", "imagenet"])
def test_source_and_target_prompts_are_embedded_alike(pretrained, templates):
    """The global loss's target and the source share their templates (the prompt as written for the
    reference, the 79 ImageNet templates otherwise): NADA's direction is target minus source."""
    from pipeline.nets.clip import IMAGENET_TEMPLATES, RAW

    method, _ = build(pretrained, "clip_direction", prompt_templates=templates)
    g = method.guide
    t = RAW if templates == "reference" else IMAGENET_TEMPLATES
    torch.testing.assert_close(g.source, g.clip.embed_prompt(g.source_prompt, t))
    torch.testing.assert_close(g.target, g.clip.embed_prompt(g.target_prompt, t))
    other = IMAGENET_TEMPLATES if t is RAW else RAW
    assert (g.source - g.clip.embed_prompt(g.source_prompt, other)).abs().max() > 1e-3


def test_guidance_image_embeddings_are_unit_length(pretrained):
    method, _ = build(pretrained, "clip_global")
    images = torch.rand(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0)) * 2 - 1
    torch.testing.assert_close(method.guide.encode(images).norm(dim=-1), torch.ones(3))


def test_direction_steps_move_the_trained_generator_along_the_text_direction(pretrained):
    """NADA: L = 1 - cos(E(G_train(w)) - E(G_frozen(w)), dT). A few direction steps on one pinned
    batch make the image change point along dT (loss 0.74 here, from 1 where it starts); with the two
    generators' roles swapped the change points against it (1.13)."""
    method, _ = build(pretrained, "clip_direction", direction_lr=0.1, layer_k=4, direction_batch=4)
    w, noise = fixed_direction_batch(method)
    torch.manual_seed(1)
    for _ in range(20):
        method.direction_step()
    assert direction_loss_on(method, w, noise) < 0.9


def test_clip_global_g_step_leaves_the_discriminators_without_gradients(pretrained):
    method, nets = build(pretrained, "clip_global")
    torch.manual_seed(3)
    method.d_step(FakeData(SIZE))
    after_d = {id(p): p.grad.clone() for D in (nets.D_sketch, nets.D_image) for p in D.parameters()}
    method.g_step(FakeData(SIZE))
    for D in (nets.D_sketch, nets.D_image):  # the G step's backward adds nothing to D's gradients
        assert not any(p.requires_grad for p in D.parameters())
        assert all(torch.equal(p.grad, after_d[id(p)]) for p in D.parameters())


def test_diagonal_content_gradient_is_linear_in_lambda(pretrained):
    """The content branch's only loss is lambda_global * L_global: its gradient at lambda 2 is twice
    that at lambda 1, the same draws."""
    out = {}
    for lam in (1.0, 2.0):
        method, nets = build(pretrained, "diagonal", lambda_global=lam)
        set_gamma(method, 0.5)
        torch.manual_seed(11)
        method.g_step(FakeData(SIZE))
        out[lam] = content_grads(method)
    for k, g1 in out[1.0].items():
        torch.testing.assert_close(out[2.0][k], 2 * g1, rtol=1e-4, atol=1e-6 * g1.abs().max().item())
    assert any(g.abs().max() > 0 for g in out[1.0].values())


def test_a_content_step_lowers_the_global_loss_on_its_batch(pretrained):
    """The content branch descends lambda_global * L_global: one Adam step (lr 0.01) on a pinned
    batch lowers L_global there; a step on a function that falls as L_global rises, e.g. lambda / L,
    would raise it."""
    from pipeline.losses.clip import global_loss

    method, nets = build(pretrained, "diagonal_no_syog", content_lr=1e-2, lambda_global=1.0)
    set_gamma(method, 0.5)
    G, branch = nets.G, method.branch
    g = torch.Generator().manual_seed(5)
    z, zc = torch.randn(4, G.style_dim, generator=g), torch.randn(4, branch.content_dim, generator=g)
    method.fake = lambda b: G([z], content=branch.content_codes(zc, G.n_latent))[0]

    def loss():
        with torch.no_grad():
            return global_loss(method.guide.encode(method.fake(4)), method.guide.target).item()

    before = loss()
    method.g_step(FakeData(SIZE))
    assert loss() < before - 2.5e-4  # 5.4e-4 lower here; lambda / L would be 5.2e-4 higher


def test_the_content_mapping_normalizes_its_input_first():
    """DiagonalGAN's content mapping starts with PixelNorm, as StyleGAN's does: z_c and any positive
    multiple of it give the same content code."""
    from pipeline.nets.diagonal import ContentMapping

    torch.manual_seed(0)
    m = ContentMapping(16, n_mlp=2)
    z = torch.randn(3, 16)
    with torch.no_grad():
        torch.testing.assert_close(m(3.0 * z), m(z))
        assert (m(z) - m(z + 1.0)).abs().max().item() > 1e-3  # not constant either


def test_evaluate_sketches_each_sample_on_its_own(pretrained, tmp_path, monkeypatch):  # noqa: F811
    """The evaluate stage's PhotoSketch runs in eval-mode BatchNorm: a sample's sketch (and so its sketch
    fidelity) does not depend on the other samples in its batch, as it would in train mode."""
    import pipeline.evaluate as ev
    from pipeline.nets.photosketch import PhotoSketch

    exp = small_params().experiment
    exp = dataclasses.replace(exp, sketch_extractor="photosketch", photosketch_bn_mode="train", photosketch_ngf=4)
    prepared = tmp_path / "prepared"
    (prepared / "pretrained").mkdir(parents=True)
    torch.manual_seed(0)
    net = PhotoSketch(ngf=4)
    with torch.no_grad():
        for mod in net.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.normal_(0, 0.1)
                mod.running_var.uniform_(0.5, 2.0)
    torch.save(net.state_dict(), prepared / "pretrained" / "photosketch.pth")
    seen = {}
    monkeypatch.setattr(ev, "compute_metrics", lambda names, ctx: (seen.update(ctx=ctx), ({}, {}))[1])
    exp = dataclasses.replace(exp, eval=dataclasses.replace(exp.eval, metrics=("sketch_chamfer",)))
    ev.evaluate(exp, None, tmp_path / "samples", prepared, tmp_path / "cache")
    x = torch.rand(4, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1)) * 2 - 1
    sketch = seen["ctx"].fake_sketch_fn
    alone, together = sketch(x[:1]), sketch(x)[:1]
    torch.testing.assert_close(alone, together)
    net.set_bn_mode("train")
    assert (net(x[:1]) - net(x)[:1]).abs().max().item() > 1e-2  # train mode would differ
