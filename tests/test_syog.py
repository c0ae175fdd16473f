"""Sketch Your Own GAN: who is trained, checked by parameter values and gradients after real steps."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from tiny import UNIT16, FakeData

from pipeline.config import load_params
from pipeline.methods import get_method
from pipeline.methods.syog import SketchYourOwnGAN
from pipeline.models import build_nets, stylegan_config
from pipeline.nets.stylegan2 import Discriminator, Generator

pytestmark = pytest.mark.usefixtures("one_thread")

PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"
TINY = UNIT16
SIZE = TINY["experiments.demo.size"]


def tiny_params(**method):
    return load_params(PARAMS, {**TINY, **{f"methods.syog.{k}": v for k, v in method.items()}})


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """Small random G and D saved in the published bare state-dict format."""
    exp = tiny_params().experiment
    folder = tmp_path_factory.mktemp("pretrained")
    torch.manual_seed(1234)
    cfg = stylegan_config(exp)
    torch.save(Generator(cfg).state_dict(), folder / "netG.pth")
    torch.save(Discriminator(cfg).state_dict(), folder / "netD.pth")
    return folder


def setup(pretrained, **method):
    p = tiny_params(**method)
    exp, cfg = p.experiment, p.method("syog")
    nets = build_nets(exp, pretrained, torch.device("cpu"))
    torch.manual_seed(0)
    return SketchYourOwnGAN(cfg, nets, exp), nets, exp, cfg


def snapshot(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before: dict, module) -> set[str]:
    return {k for k, v in module.state_dict().items() if not torch.equal(v, before[k])}


# ----------------------------------------------------------------------------


def test_tiny_config_and_registry(pretrained):
    p = tiny_params()
    assert p.experiment.size == SIZE and p.experiment.generator.style_dim == 16
    assert p.experiment.sketch_extractor == "xdog"
    assert get_method(p.method("syog").method) is SketchYourOwnGAN
    nets = build_nets(p.experiment, pretrained, torch.device("cpu"))
    # D_sketch and D_image both start from netD.pth, as separate modules
    assert nets.D_sketch is not nets.D_image
    for (k, a), (_, b) in zip(nets.D_sketch.state_dict().items(), nets.D_image.state_dict().items()):
        assert torch.equal(a, b), k
    shared = {p.data_ptr() for p in nets.D_sketch.parameters()} & {p.data_ptr() for p in nets.D_image.parameters()}
    assert not shared
    # the sketcher is weight-free and frozen
    assert not any(p.requires_grad for p in nets.sketcher.parameters())


def test_one_step_trains_mapping_and_both_discriminators_only(pretrained):
    method, nets, exp, cfg = setup(pretrained)
    G0, Ds0, Di0 = snapshot(nets.G), snapshot(nets.D_sketch), snapshot(nets.D_image)
    sk0 = snapshot(nets.sketcher)
    data = FakeData(SIZE)
    logs = method.step(0, data)

    assert all(math.isfinite(v) for v in logs.values())
    g_changed = changed(G0, nets.G)
    synthesis = [k for k in G0 if not k.startswith("style.")]
    assert len(synthesis) > 20
    # the synthesis network (convs, to_rgb, constant input, stored noise) is bit-identical
    assert not (g_changed & set(synthesis)), sorted(g_changed & set(synthesis))
    # every mapping layer's weight moved (Adam with beta1 = 0: |step| ~ lr on every non-zero grad)
    n_mlp = exp.generator.n_mlp
    for i in range(1, n_mlp + 1):
        assert f"style.{i}.weight" in g_changed, f"style.{i}.weight did not change"
        assert f"style.{i}.bias" in g_changed, f"style.{i}.bias did not change"
        delta = (nets.G.state_dict()[f"style.{i}.weight"] - G0[f"style.{i}.weight"]).abs()
        assert delta.max().item() <= cfg.lr * 1.01  # Adam's first step is at most lr per element
    assert g_changed == {f"style.{i}.{w}" for i in range(1, n_mlp + 1) for w in ("weight", "bias")}
    # both discriminators were trained: every weight tensor moved
    for name, D, before in (("D_sketch", nets.D_sketch, Ds0), ("D_image", nets.D_image, Di0)):
        moved = changed(before, D)
        weights = {k for k in before if k.endswith("weight")}
        assert weights <= moved, f"{name}: untouched {sorted(weights - moved)}"
    # and differently (different inputs), even though they started equal
    assert not torch.equal(
        nets.D_sketch.state_dict()["final_linear.1.weight"], nets.D_image.state_dict()["final_linear.1.weight"]
    )
    assert not changed(sk0, nets.sketcher)
    # the D step drew the reals; the R1 step regularizes the same batch (GANSketching), the G step needs none
    assert data.calls == {"sketches": 1, "photos": 1}


def test_generator_gradients_reach_mapping_only(pretrained):
    method, nets, exp, cfg = setup(pretrained)
    data = FakeData(SIZE)
    method.d_step(data)
    for p in nets.G.parameters():
        assert p.grad is None  # the D step draws fakes without grad
    # G step: gradients reach exactly the mapping layers
    for m in method.d_modules:
        for p in m.parameters():
            p.grad = None
    method.g_step(data)
    for name, p in nets.G.named_parameters():
        if name.startswith("style."):
            assert p.grad is not None and p.grad.abs().sum() > 0, name
        else:
            assert p.grad is None, name
    # the G step does not accumulate gradients in either discriminator
    for D in (nets.D_sketch, nets.D_image):
        assert all(p.grad is None for p in D.parameters())


def test_optimizers_hold_exactly_the_trained_parameters(pretrained):
    method, nets, exp, cfg = setup(pretrained)
    g_ids = {id(p) for g in method.g_optim.param_groups for p in g["params"]}
    assert g_ids == {id(p) for n, p in nets.G.named_parameters() if n.startswith("style.")}
    d_ids = {id(p) for g in method.d_optim.param_groups for p in g["params"]}
    assert d_ids == {id(p) for D in (nets.D_sketch, nets.D_image) for p in D.parameters()}


def test_lazy_r1_optimizer_settings(pretrained):
    method, *_ = setup(pretrained)
    (g,) = method.g_optim.param_groups
    assert g["lr"] == 0.002 and g["betas"] == (0.0, 0.99)
    (d,) = method.d_optim.param_groups
    # k/(k+1) with k = 16: lr 0.002 * 16/17, beta2 0.99 ** (16/17)
    assert d["lr"] == pytest.approx(0.0018823529411764706, rel=1e-12)
    assert d["betas"][0] == 0.0
    assert d["betas"][1] == pytest.approx(0.99058546, abs=1e-8)
    assert d["betas"][1] == pytest.approx(0.99 ** (16 / 17), rel=1e-12)


def test_no_lazy_ratio_without_r1(pretrained):
    method, *_ = setup(pretrained, d_reg_every=0)
    (d,) = method.d_optim.param_groups
    assert d["lr"] == 0.002 and d["betas"] == (0.0, 0.99)


def test_r1_only_on_regularization_steps(pretrained):
    method, nets, exp, cfg = setup(pretrained)
    data = FakeData(SIZE)
    logs0 = method.step(0, data)
    assert {"d_sketch", "d_image", "r1_sketch", "r1_image", "g_sketch", "g_image"} == set(logs0)
    assert logs0["r1_sketch"] >= 0 and logs0["r1_image"] > 0
    logs1 = method.step(1, data)
    assert set(logs1) == {"d_sketch", "d_image", "g_sketch", "g_image"}
    assert "r1_sketch" in method.step(16, data)
    assert "r1_sketch" not in method.step(17, data)


def test_without_image_regularization_d_image_is_untouched(pretrained):
    method, nets, exp, cfg = setup(pretrained, l_image=0.0)
    assert method.d_modules == [nets.D_sketch]
    Di0, Ds0, G0 = snapshot(nets.D_image), snapshot(nets.D_sketch), snapshot(nets.G)
    data = FakeData(SIZE)
    logs = method.step(0, data)
    assert set(logs) == {"d_sketch", "r1_sketch", "g_sketch"}
    assert not changed(Di0, nets.D_image)
    assert all(p.grad is None for p in nets.D_image.parameters())
    assert data.calls["photos"] == 0
    assert changed(Ds0, nets.D_sketch)
    assert changed(G0, nets.G) <= {k for k in G0 if k.startswith("style.")}
    d_ids = {id(p) for g in method.d_optim.param_groups for p in g["params"]}
    assert d_ids == {id(p) for p in nets.D_sketch.parameters()}


def test_a_frozen_image_discriminator_still_judges_the_generator_but_never_learns(pretrained):
    """image_d: frozen: L_image reaches G through the pretrained D_image, which no step changes."""
    method, nets, exp, cfg = setup(pretrained, image_d="frozen")
    assert method.d_modules == [nets.D_sketch]
    Di0, G0 = snapshot(nets.D_image), snapshot(nets.G)
    data = FakeData(SIZE)
    logs = method.step(0, data)  # step 0: D, R1 and G steps
    assert set(logs) == {"d_sketch", "r1_sketch", "g_sketch", "g_image"}
    assert not changed(Di0, nets.D_image) and data.calls["photos"] == 0
    # G's gradient holds the image term: it differs from the sketch term's alone
    fake = method.fake(exp.train.batch)
    loss, _ = method.syog_generator_loss(fake)
    (g_both,) = torch.autograd.grad(loss, fake)
    from pipeline.losses.gan import g_nonsaturating

    sketch_only = g_nonsaturating(nets.D_sketch(method.to_sketch_input(nets.sketcher(fake))))
    (g_sketch,) = torch.autograd.grad(sketch_only, fake)
    assert not torch.allclose(g_both, g_sketch)
    assert changed(G0, nets.G)


def test_dsketch_from_scratch(pretrained):
    method, nets, exp, cfg = setup(pretrained, dsketch_pretrained=False)
    # D_sketch was re-initialized, D_image still holds netD.pth
    ref = torch.load(pretrained / "netD.pth", weights_only=True)
    assert all(torch.equal(v, ref[k]) for k, v in nets.D_image.state_dict().items())
    fresh = nets.D_sketch.state_dict()
    assert {k: v.shape for k, v in fresh.items()} == {k: v.shape for k, v in ref.items()}  # same architecture
    assert not torch.equal(fresh["convs.0.0.weight"], ref["convs.0.0.weight"])
    # and the optimizer trains the new module
    d_ids = {id(p) for g in method.d_optim.param_groups for p in g["params"]}
    assert {id(p) for p in nets.D_sketch.parameters()} <= d_ids


def test_step_is_reproducible_under_seed(pretrained):
    def run():
        method, nets, *_ = setup(pretrained)  # seeds torch with 0 after building
        logs = method.step(0, FakeData(SIZE))
        return logs, nets.G.state_dict()["style.1.weight"].clone()

    (l1, w1), (l2, w2) = run(), run()
    assert l1 == l2
    assert torch.equal(w1, w2)


def test_g_lr_decay_falls_linearly_to_zero_over_the_last_fraction(pretrained):
    """g_lr_decay 0.5 over 8 iterations: G's lr is g_lr for iterations 0-3, then g_lr * (8 - it) / 4
    (1, 0.75, 0.5, 0.25 of it) as each iteration runs; D's lr never changes; 0 (GANSketching) keeps it."""
    from pipeline.methods.syog import g_lr_at

    assert [g_lr_at(0.1, it, 8, 0.0) for it in range(8)] == [0.1] * 8
    method, nets, exp, cfg = setup(pretrained, g_lr=0.1, g_lr_decay=0.5, iters=8)
    data = FakeData(SIZE)
    d_lr = method.d_optim.param_groups[0]["lr"]
    seen = []
    for it in range(8):
        method.step(it, data)
        seen.append(method.g_optim.param_groups[0]["lr"])
    assert seen == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.1, 0.075, 0.05, 0.025], rel=1e-12)
    assert method.d_optim.param_groups[0]["lr"] == d_lr
    constant, *_ = setup(pretrained, g_lr=0.1, iters=8)
    for it in range(8):
        constant.step(it, data)
    assert constant.g_optim.param_groups[0]["lr"] == 0.1


def test_l_weight_pulls_the_mapping_back_toward_its_pretrained_weights(pretrained):
    """`l_weight` (GANSketching `--l_weight`, 0 by default): G's loss gains l_weight * L_weight, theta0
    the mapping's pretrained values. With the weights moved off theta0, the G step's gradient is the
    adversarial one (the same run at l_weight 0) plus l_weight * sign(theta - theta0) / (T * numel)."""
    from pipeline.losses.weight import weight_l1

    def moved_g_step(l_weight):
        method, nets, *_ = setup(pretrained, l_weight=l_weight)  # seeds 0 after building
        theta0 = [p.detach().clone() for p in method.g_params]
        with torch.no_grad():  # every trained tensor off theta0, in both directions
            for p in method.g_params:
                p.add_(torch.randn_like(p))
        moved = [p.detach().clone() for p in method.g_params]
        torch.manual_seed(7)  # the same fakes in both runs
        logs = method.g_step(FakeData(SIZE))
        return method, theta0, moved, logs, [p.grad.clone() for p in method.g_params]

    off, theta0, moved, logs0, grads0 = moved_g_step(0.0)
    assert off.g_params0 == [] and "g_weight" not in logs0
    lw = 1000.0
    on, theta0_on, moved_on, logs, grads = moved_g_step(lw)
    assert all(torch.equal(a, b) for a, b in zip(on.g_params0, theta0_on))  # theta0: the pretrained values
    assert all(torch.equal(a, b) for a, b in zip(moved, moved_on))
    assert logs["g_weight"] == pytest.approx(weight_l1(moved_on, theta0_on).item(), rel=1e-6)
    assert logs["g_weight"] > 0.5  # randn moves: mean |change| ~ 0.8
    T = len(grads)
    for g, g0, th, th0 in zip(grads, grads0, moved_on, theta0_on):
        expected = g0 + lw * torch.sign(th - th0) / (T * th.numel())
        assert torch.allclose(g, expected, rtol=1e-4, atol=1e-6 * lw / (T * th.numel()))
        assert not torch.allclose(g, g0)


def test_l_wprior_adds_the_gradient_of_the_w_prior_hinge_on_the_fakes_w(pretrained):
    """`l_wprior` (this project's switch, 0 by default): G's loss gains l_wprior * L_wprior on the W+
    the fakes were drawn from, the prior fitted to the pretrained mapping of 4,096 z drawn from the
    experiment's seed. With the mapping moved so that its outputs leave the prior, the G step's
    gradient is the l_wprior-0 run's (the same fakes: fitting draws no z from the training stream)
    plus l_wprior times the hinge's gradient, recomputed here from the same z."""
    from pipeline.losses.wprior import fit_w_prior, w_prior_hinge

    def moved_g_step(l_wprior):
        method, nets, exp, _ = setup(pretrained, l_wprior=l_wprior)
        z0 = torch.randn(4096, nets.G.style_dim, generator=torch.Generator().manual_seed(exp.seed))
        with torch.no_grad():
            prior = fit_w_prior(nets.G.mapping(z0))  # before the move: the pretrained mapping's
            for p in method.g_params:  # stored equalized-lr weights are large (1 / lr_mlp): move relative to them
                p.add_(p.std() * torch.randn_like(p))
        moved = [p.detach().clone() for p in method.g_params]
        torch.manual_seed(7)
        logs = method.g_step(FakeData(SIZE))
        with torch.no_grad():  # back to the values the step's gradient was taken at (Adam has moved them)
            for p, m in zip(method.g_params, moved):
                p.copy_(m)
        return method, nets, prior, logs, [p.grad.clone() for p in method.g_params]

    off, _, _, logs0, grads0 = moved_g_step(0.0)
    assert off.w_prior is None and "g_wprior" not in logs0
    lp = 3.0
    on, nets, prior, logs, grads = moved_g_step(lp)
    assert torch.allclose(on.w_prior.mean, prior.mean) and on.w_prior.tau == pytest.approx(prior.tau, rel=1e-6)

    torch.manual_seed(7)  # the z that g_step drew
    z, inject = on.mixed_z(on.exp.train.batch)
    wplus = nets.G.make_wplus(z, inject_index=inject)
    hinge = w_prior_hinge(wplus.reshape(-1, wplus.shape[-1]), prior)
    assert logs["g_wprior"] == pytest.approx(hinge.item(), rel=1e-5)
    assert hinge.item() > 1.0  # the moved mapping's outputs are far outside
    expected = torch.autograd.grad(hinge, on.g_params)
    for g, g0, gh in zip(grads, grads0, expected):
        assert torch.allclose(g, g0 + lp * gh, rtol=1e-4, atol=1e-5 * (lp * gh).abs().max().item())
        assert not torch.allclose(g, g0)
