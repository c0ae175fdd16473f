"""Inside one Sketch Your Own GAN iteration: the weight and schedule of every term, checked by the
gradients each term leaves (hooks on the optimizers) and by what each discriminator is fed
(recording wrappers), against values computed here from the formulas of GANSketching's
`train_one_step` (reference spec §1.3-1.5)."""

from __future__ import annotations

import pytest
import torch
from test_methods_training import build, pretrained  # noqa: F401
from tiny import FakeData

from pipeline.methods import syog as syog_mod

pytestmark = pytest.mark.usefixtures("one_thread")


class Recorder(torch.nn.Module):
    """Wraps a discriminator: records every input batch, returns the wrapped logits."""

    def __init__(self, D):
        super().__init__()
        self.D, self.inputs = D, []

    def forward(self, x):
        self.inputs.append(x.detach().clone())
        return self.D(x)

    def parameters(self, recurse=True):
        return self.D.parameters(recurse)


def grads_at_step(opt):
    """Replace opt.step with a recorder of each parameter's gradient (then the real step)."""
    seen, real = [], opt.step

    def step(*a, **k):
        seen.append(
            [p.grad.detach().clone() if p.grad is not None else None for g in opt.param_groups for p in g["params"]]
        )
        return real(*a, **k)

    opt.step = step
    return seen


def test_r1_weight_is_gamma_half_times_the_interval_on_the_interval_only(pretrained, monkeypatch):  # noqa: F811
    """L_R1 = gamma/2 * R1 * k (sketch) + l_image * gamma/2 * R1 * k (image), on steps it % k == 0 only.
    R1 is replaced by the sum of one known parameter, so its gradient shows the coefficient alone."""
    k, gamma, l_image = 4, 10.0, 0.7
    method, nets = build(pretrained, "syog", d_reg_every=k, r1_gamma=gamma, l_image=l_image)
    b_sketch = nets.D_sketch.final_linear[1].bias
    b_image = nets.D_image.final_linear[1].bias
    probe = {id(b_sketch): b_sketch, id(b_image): b_image}
    calls = []

    def fake_r1(logits, real_input):
        calls.append(real_input.shape[1])
        bias = b_sketch if real_input.shape[1] == 1 else b_image  # sketches are 1-channel, photos 3
        return bias.sum() + 0 * logits.sum()

    monkeypatch.setattr(syog_mod, "r1_penalty", fake_r1)
    seen = grads_at_step(method.d_optim)
    params = [p for g in method.d_optim.param_groups for p in g["params"]]
    idx = {i for i, p in enumerate(params) if id(p) in probe}
    data = FakeData(16)
    for it in range(2 * k):
        n_before = len(seen)
        method.step(it, data)
        r1_steps = len(seen) - n_before - 1  # D step + (R1 step?)
        assert r1_steps == (1 if it % k == 0 else 0), it
        if r1_steps:
            g = seen[-1]
            sk, im = (g[i] for i in sorted(idx, key=lambda i: 0 if params[i] is b_sketch else 1))
            torch.testing.assert_close(sk, torch.full_like(sk, gamma / 2 * k))
            torch.testing.assert_close(im, torch.full_like(im, l_image * gamma / 2 * k))
    assert calls.count(1) == 2 and calls.count(3) == 2  # one sketch and one photo R1 per R1 step


def test_lazy_regularization_ratio_in_the_d_optimizer(pretrained):  # noqa: F811
    method, _ = build(pretrained, "syog", d_reg_every=16, lr=0.002, beta1=0.0, beta2=0.99)
    g = method.d_optim.param_groups[0]
    assert g["lr"] == pytest.approx(0.002 * 16 / 17)
    assert g["betas"] == pytest.approx((0.0, 0.99 ** (16 / 17)))
    plain, _ = build(pretrained, "syog", d_reg_every=0)
    assert plain.d_optim.param_groups[0]["lr"] == pytest.approx(0.002)


@pytest.mark.parametrize("block", ["syog", "clip_direction"])
def test_g_lr_sets_the_generator_step_only(pretrained, block):  # noqa: F811
    """`g_lr: null` is GANSketching's one lr for G and D; a number changes G's Adam lr alone."""
    same, _ = build(pretrained, block, lr=0.002, d_reg_every=16)
    assert same.g_optim.param_groups[0]["lr"] == pytest.approx(0.002)
    own, _ = build(pretrained, block, lr=0.002, g_lr=0.05, d_reg_every=16)
    assert own.g_optim.param_groups[0]["lr"] == pytest.approx(0.05)
    assert own.d_optim.param_groups[0]["lr"] == pytest.approx(0.002 * 16 / 17)
    # G's step on a fixed gradient scales with g_lr: Adam's first step is lr * sign(grad)
    p = own.g_optim.param_groups[0]["params"][0]
    before = p.detach().clone()
    p.grad = torch.ones_like(p)
    own.g_optim.step()
    torch.testing.assert_close(before - p.detach(), torch.full_like(p, 0.05), rtol=0, atol=1e-3)  # float32 weights ~10


def test_l_image_weights_the_image_terms_in_both_d_and_g_losses(pretrained):  # noqa: F811
    """Same seeds, l_image a and 2a: D_image's gradient in the D step doubles (its only loss is
    l_image * L_D_image) and the mapping's G gradient is linear in l_image."""

    def step_grads(l_image):
        method, nets = build(pretrained, "syog", l_image=l_image, d_reg_every=0, mixing=0.0, diffaug="")
        d_seen, g_seen = grads_at_step(method.d_optim), grads_at_step(method.g_optim)
        torch.manual_seed(7)
        method.step(1, FakeData(16))
        n_sketch = len(list(nets.D_sketch.parameters()))
        return d_seen[0][n_sketch:], g_seen[0]  # D_image's grads, mapping grads

    d1, g1 = step_grads(0.35)
    d2, g2 = step_grads(0.7)
    d3, g3 = step_grads(1.4)
    for a, b in zip(d1, d2):
        torch.testing.assert_close(b, 2 * a, rtol=1e-4, atol=1e-7)
    for a, b, c in zip(g1, g2, g3):  # g(l) = g_sketch + l g_image
        torch.testing.assert_close(c - b, 2 * (b - a), rtol=1e-3, atol=1e-6)
    assert any((b - a).abs().max() > 1e-6 for a, b in zip(g1, g2))  # the image term does reach G


def test_style_mixing_probability(pretrained):  # noqa: F811
    for p, lo, hi in ((0.9, 0.85, 0.95), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)):
        method, _ = build(pretrained, "syog", mixing=p)
        torch.manual_seed(0)
        two = sum(len(method.mixed_z(2)[0]) == 2 for _ in range(1000)) / 1000
        assert lo <= two <= hi, (p, two)


@pytest.mark.parametrize("policy", ["translation", ""])
def test_diffaugment_on_both_sketch_inputs_in_every_phase_never_on_d_image(pretrained, monkeypatch, policy):  # noqa: F811
    method, nets = build(pretrained, "syog", diffaug=policy, d_reg_every=1, mixing=0.0)
    nets.D_sketch, nets.D_image = Recorder(nets.D_sketch), Recorder(nets.D_image)
    augmented = []
    real_aug = syog_mod.diff_augment

    def recording_aug(x, p):
        augmented.append(x.detach().clone())
        return real_aug(x, p)

    monkeypatch.setattr(syog_mod, "diff_augment", recording_aug)
    data = FakeData(16)
    photos = []
    real_photos = data.photos
    data.photos = lambda b: photos.append(real_photos(b)) or photos[-1]
    sketches = []
    real_sketches = data.sketches
    data.sketches = lambda b: sketches.append(real_sketches(b)) or sketches[-1]
    method.step(0, data)  # D step, R1 step, G step
    # D_sketch: real and fake in the D step, the same reals in R1, fake in the G step: each augmented
    assert len(nets.D_sketch.inputs) == 4 and len(sketches) == 1
    real3 = sketches[0].repeat(1, 3, 1, 1)
    if policy:
        assert len(augmented) == 4
        torch.testing.assert_close(augmented[0], real3)  # D step's reals, before A
        torch.testing.assert_close(augmented[2], real3)  # R1's reals: the same batch, before A
        moved = [not torch.equal(x, a) for x, a in zip(nets.D_sketch.inputs, augmented)]
        assert sum(moved) >= 3  # translation moved (nearly) every batch
    else:
        assert augmented == []
        assert torch.equal(nets.D_sketch.inputs[0], real3) and torch.equal(nets.D_sketch.inputs[2], real3)
    # D_image: photos as drawn (D step and R1) and fakes as generated: never augmented
    assert len(photos) == 1
    assert torch.equal(nets.D_image.inputs[0], photos[0]) and torch.equal(nets.D_image.inputs[2], photos[0])


def test_r1_gradient_is_taken_upstream_of_the_augmentation(pretrained):  # noqa: F811
    """R1 = E ||d D(A(y)) / dy||^2 with y the sketch *before* DiffAugment (GANSketching); computed
    here from autograd on the same seeded augmentation."""
    method, nets = build(pretrained, "syog", diffaug="translation", l_image=0.0)
    y = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(3)) * 2 - 1
    method.reals = (y, None)
    torch.manual_seed(11)  # before the step: r1_step then updates D
    x = y.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(nets.D_sketch(syog_mod.diff_augment(x.repeat(1, 3, 1, 1), "translation")).sum(), x)
    want = g.pow(2).flatten(1).sum(1).mean().item()
    torch.manual_seed(11)
    assert method.r1_step(FakeData(16))["r1_sketch"] == pytest.approx(want, rel=1e-5)


def test_d_step_gradients_are_the_formula_on_the_batches_each_discriminator_saw(pretrained):  # noqa: F811
    """L_D = L_D_sketch + l_image * L_D_image (GANSketching's `train_one_step`): the D optimizer's
    gradients equal autograd's on copies of both discriminators, fed the very batches recorded here.
    A flipped sign or weight on either term changes these gradients by 100 % or more."""
    import copy

    from pipeline.losses.gan import d_logistic

    l_image = 0.7
    method, nets = build(pretrained, "syog", l_image=l_image, d_reg_every=0, mixing=0.0, diffaug="")
    Ds0, Di0 = copy.deepcopy(nets.D_sketch), copy.deepcopy(nets.D_image)
    nets.D_sketch, nets.D_image = Recorder(nets.D_sketch), Recorder(nets.D_image)
    seen = grads_at_step(method.d_optim)
    torch.manual_seed(5)
    method.d_step(FakeData(16))
    real_s, fake_s = nets.D_sketch.inputs  # reals first (d_logistic(real, fake))
    photos, fake = nets.D_image.inputs
    want_s = torch.autograd.grad(d_logistic(Ds0(real_s), Ds0(fake_s)), list(Ds0.parameters()))
    want_i = torch.autograd.grad(l_image * d_logistic(Di0(photos), Di0(fake)), list(Di0.parameters()))
    got = seen[0]
    assert len(got) == len(want_s) + len(want_i)
    for g, w in zip(got, [*want_s, *want_i]):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-6 * max(w.abs().max().item(), 1e-3))
    assert max(w.abs().max().item() for w in want_i) > 1e-4  # the image term is there to be checked


def test_lazy_ratio_with_an_interval_of_one(pretrained):  # noqa: F811
    """k = 1 (R1 every step) is still lazy regularization: ratio 1/2, not the ratio of R1 off."""
    method, _ = build(pretrained, "syog", d_reg_every=1, lr=0.002, beta1=0.0, beta2=0.99)
    g = method.d_optim.param_groups[0]
    assert g["lr"] == pytest.approx(0.001)
    assert g["betas"] == pytest.approx((0.0, 0.99**0.5))


def test_style_mixing_crossover_covers_every_row_after_the_first(pretrained):  # noqa: F811
    """rosinality `mixing_noise`: the crossover row is uniform over 1 .. n_latent - 1."""
    method, nets = build(pretrained, "syog", mixing=1.0)
    torch.manual_seed(0)
    rows = [method.mixed_z(2)[1] for _ in range(600)]
    assert set(rows) == set(range(1, nets.G.n_latent))
    counts = [rows.count(r) for r in range(1, nets.G.n_latent)]
    expected = 600 / (nets.G.n_latent - 1)
    assert all(0.6 * expected < c < 1.4 * expected for c in counts), counts


def test_the_synthesis_optimizer_is_nadas_adam_without_momentum(pretrained):  # noqa: F811
    """StyleGAN-NADA: Adam with betas (0, 0.99^0.8) (its g_reg_ratio 4/5) at lr `direction_lr`.
    Without momentum, a step on gradient +1 then one on -1 bring a weight back where it started."""
    method, _ = build(pretrained, "clip_direction", direction_lr=0.01)
    group = method.s_optim.param_groups[0]
    assert group["lr"] == 0.01 and group["betas"] == pytest.approx((0.0, 0.99**0.8))
    p = group["params"][0]
    start = p.detach().clone()
    for sign in (1.0, -1.0):
        method.s_optim.zero_grad(set_to_none=True)
        p.grad = torch.full_like(p, sign)
        method.s_optim.step()
        if sign > 0:
            torch.testing.assert_close(start - p.detach(), torch.full_like(p, 0.01), rtol=0, atol=1e-4)
    torch.testing.assert_close(p.detach(), start, rtol=0, atol=1e-4)  # with beta1 0.9 it would stay 0.0095 off
