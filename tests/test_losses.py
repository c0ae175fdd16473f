"""GAN loss terms against hand-computed values, and DiffAugment's geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pipeline.losses.diffaug import POLICIES, color, cutout, diff_augment, parse_policy, translation
from pipeline.losses.gan import d_logistic, g_nonsaturating, path_length_penalty, r1_penalty
from pipeline.losses.weight import weight_l1
from pipeline.losses.wprior import (
    fit_w_prior,
    fit_w_support,
    mahalanobis_sq,
    nearest_sq,
    w_prior_hinge,
    w_support_hinge,
)


def sp(x: float) -> float:
    return math.log1p(math.exp(x))


# ----------------------------------------------------------------------------
# Logistic losses


def test_softplus_reference_values():
    assert sp(0.0) == pytest.approx(math.log(2))
    assert sp(1.0) == pytest.approx(1.3132616875182228)


def test_d_logistic_hand_computed():
    real = torch.tensor([[0.0], [1.0], [-2.0]])
    fake = torch.tensor([[0.5], [-1.0]])
    expect = (sp(0.5) + sp(-1.0)) / 2 + (sp(-0.0) + sp(-1.0) + sp(2.0)) / 3
    assert d_logistic(real, fake).item() == pytest.approx(expect, rel=1e-6)
    # (0.974077 + 0.313262) / 2 + (0.693147 + 0.313262 + 2.126928) / 3 = 0.643669 + 1.044446
    assert d_logistic(real, fake).item() == pytest.approx(1.688115, abs=1e-5)


def test_d_logistic_limits():
    # a perfect discriminator: loss -> 0; a confused one (all logits 0): 2 log 2
    assert d_logistic(torch.full((4, 1), 30.0), torch.full((4, 1), -30.0)).item() < 1e-12
    assert d_logistic(torch.zeros(4, 1), torch.zeros(4, 1)).item() == pytest.approx(2 * math.log(2))


def test_d_logistic_gradient_signs():
    real = torch.tensor([0.3, -0.7], requires_grad=True)
    fake = torch.tensor([0.2, 1.5], requires_grad=True)
    d_logistic(real, fake).backward()
    # d/dr softplus(-r)/n = -sigmoid(-r)/n ; d/df softplus(f)/n = sigmoid(f)/n
    assert torch.allclose(real.grad, -torch.sigmoid(-real.detach()) / 2)
    assert torch.allclose(fake.grad, torch.sigmoid(fake.detach()) / 2)


def test_g_nonsaturating_hand_computed():
    fake = torch.tensor([[2.0], [-1.0], [0.0], [0.5]])
    expect = (sp(-2.0) + sp(1.0) + sp(0.0) + sp(-0.5)) / 4
    assert g_nonsaturating(fake).item() == pytest.approx(expect, rel=1e-6)
    # (0.126928 + 1.313262 + 0.693147 + 0.474077) / 4
    assert g_nonsaturating(fake).item() == pytest.approx(0.651853, abs=1e-5)


def test_g_nonsaturating_large_logits_are_stable():
    # softplus, not log(sigmoid): no inf for very negative logits
    assert g_nonsaturating(torch.tensor([-200.0])).item() == pytest.approx(200.0)
    assert g_nonsaturating(torch.tensor([200.0])).item() == 0.0


# ----------------------------------------------------------------------------
# R1


def test_r1_linear_discriminator_exact():
    torch.manual_seed(0)
    w = torch.randn(2, 3, 3, requires_grad=True)
    x = torch.randn(4, 2, 3, 3, requires_grad=True)
    logits = (w * x).flatten(1).sum(1, keepdim=True)  # D(x) = <w, x>, [B, 1]
    pen = r1_penalty(logits, x)
    # grad_x D = w for every sample: ||w||^2, the same for all samples, so the batch mean is ||w||^2
    assert pen.item() == pytest.approx(w.detach().pow(2).sum().item(), rel=1e-6)
    pen.backward()
    # d/dw ||w||^2 = 2w: the penalty's graph (create_graph=True) reaches D's parameters
    assert torch.allclose(w.grad, 2 * w.detach())


def test_r1_quadratic_discriminator():
    # D(x) = sum x^2 -> grad 2x -> penalty = mean_b 4 sum x_b^2
    x = torch.tensor([[1.0, 2.0], [0.0, -3.0]], requires_grad=True)
    a = torch.tensor(1.5, requires_grad=True)
    pen = r1_penalty(a * x.pow(2).sum(1), x)
    expect = (4 * 1.5**2 * (1 + 4) + 4 * 1.5**2 * 9) / 2  # 63.0
    assert pen.item() == pytest.approx(expect)
    pen.backward()
    # pen = a^2 * 28 -> d/da = 56 a = 84
    assert a.grad.item() == pytest.approx(84.0)


def test_r1_is_taken_upstream_of_augmentation():
    # D sees A(x) = x shifted; grad wrt x of <w, A(x)> is the inverse shift of w (border dropped)
    w = torch.arange(1.0, 17.0).reshape(1, 1, 4, 4)
    x = torch.ones(1, 1, 4, 4, requires_grad=True)
    shifted = torch.nn.functional.pad(x, [1, 0, 0, 0])[..., :4]  # shift right by 1, zero fill
    pen = r1_penalty((w * shifted).sum().reshape(1, 1), x)
    # x[:, j] lands at column j+1 for j < 3; column 3 is dropped -> grad = w[..., 1:], 0 for last col
    assert pen.item() == pytest.approx(w[..., 1:].pow(2).sum().item())


# ----------------------------------------------------------------------------
# DiffAugment: translation


def zero_border(img: torch.Tensor) -> tuple[int, int]:
    """For a translated all-ones [C, H, W] image: signed (ty, tx) from where the zero rows/columns are."""
    nz = img.abs().sum(0) != 0
    rows = nz.any(1).nonzero().flatten()
    cols = nz.any(0).nonzero().flatten()
    h, w = nz.shape
    top, bottom = rows[0].item(), h - 1 - rows[-1].item()
    left, right = cols[0].item(), w - 1 - cols[-1].item()
    assert top == 0 or bottom == 0, "zeros on both sides: not a translation"
    assert left == 0 or right == 0
    return top - bottom, left - right


def test_path_length_of_a_linear_generator_is_its_jacobian_applied_to_the_noise():
    """images = sum_l w_l M_l: J_w^T y is M_l y per row, so every length is known in closed form."""
    g = torch.Generator().manual_seed(0)
    B, L, D, C, H, W = 3, 4, 5, 3, 4, 4
    M = torch.randn(L, D, C * H * W, generator=g, dtype=torch.float64).requires_grad_(True)
    wplus = torch.randn(B, L, D, generator=g, dtype=torch.float64).requires_grad_(True)
    images = torch.einsum("bld,ldk->bk", wplus, M).view(B, C, H, W)
    torch.manual_seed(7)
    pen, mean = path_length_penalty(images, wplus, torch.tensor(1.5, dtype=torch.float64), decay=0.1)
    torch.manual_seed(7)
    y = torch.randn(B, C, H, W, dtype=torch.float64).view(B, -1) / math.sqrt(H * W)  # the same draw
    jt_y = torch.einsum("ldk,bk->bld", M.detach(), y)  # [B, L, D]
    lengths = jt_y.pow(2).sum(2).mean(1).sqrt()
    want_mean = 1.5 + 0.1 * (lengths.mean() - 1.5)
    assert mean.item() == pytest.approx(want_mean.item(), rel=1e-12)
    assert pen.item() == pytest.approx((lengths - want_mean).pow(2).mean().item(), rel=1e-12)
    assert not mean.requires_grad
    # the running target's default decay is rosinality's 0.01 (the world GAN relies on the default)
    torch.manual_seed(7)
    _, mean_default = path_length_penalty(images, wplus, torch.tensor(1.5, dtype=torch.float64))
    assert mean_default.item() == pytest.approx((1.5 + 0.01 * (lengths.mean() - 1.5)).item(), rel=1e-12)
    # differentiable: the penalty of a generator whose path lengths vary pulls them together
    (gm,) = torch.autograd.grad(pen, M)
    assert gm.abs().sum() > 0


@pytest.mark.parametrize("shape", [(6, 3, 32, 32), (5, 2, 16, 24), (3, 1, 8, 8)])
def test_translation_zero_fill_and_bounds(shape):
    b, c, h, w = shape
    max_y, max_x = round(h / 8), round(w / 8)
    shifts = []
    for seed in range(8):
        torch.manual_seed(seed)
        out = translation(torch.ones(shape))
        assert out.shape == shape
        vals = set(out.unique().tolist())
        assert vals <= {0.0, 1.0}
        for i in range(b):
            ty, tx = zero_border(out[i])
            assert abs(ty) <= max_y and abs(tx) <= max_x
            # zeros exactly fill |ty| rows and |tx| columns, ones everywhere else
            n_ones = (h - abs(ty)) * (w - abs(tx)) * c
            assert out[i].sum().item() == n_ones
            shifts.append((ty, tx))
    assert any(s != (0, 0) for s in shifts)
    assert any(ty != 0 for ty, _ in shifts) and any(tx != 0 for _, tx in shifts)
    assert max(abs(ty) for ty, _ in shifts) == max_y  # the full range is used


def test_translation_moves_content_by_integer_shift():
    b, c, h, w = 8, 2, 16, 16
    x = torch.randn(b, c, h, w)
    for seed in range(5):
        torch.manual_seed(seed)
        ones = translation(torch.ones(b, c, h, w))
        torch.manual_seed(seed)
        out = translation(x)
        for i in range(b):
            ty, tx = zero_border(ones[i])
            expect = torch.zeros(c, h, w)
            # out[y, x] = in[y - ty, x - tx] where inside
            ys, xs = slice(max(ty, 0), h + min(ty, 0)), slice(max(tx, 0), w + min(tx, 0))
            ys_src, xs_src = slice(max(-ty, 0), h + min(-ty, 0)), slice(max(-tx, 0), w + min(-tx, 0))
            expect[:, ys, xs] = x[i][:, ys_src, xs_src]
            assert torch.equal(out[i], expect), (seed, i, ty, tx)


def test_translation_matches_diffaugment_draw_for_draw():
    """DiffAugment's rand_translation (mit-han-lab/data-efficient-gans, GANSketching's diffaug.py),
    written out pixel by pixel: shift_h = int(H/8 + 0.5) and shift_w likewise; t_h = randint(-shift_h,
    shift_h + 1) per sample, then t_w; out[b, :, i, j] = x[b, :, i + t_h, j + t_w], 0 outside."""
    b, c, h, w = 6, 2, 16, 24
    x = torch.randn(b, c, h, w)
    seen = []
    for seed in range(4):
        torch.manual_seed(seed)
        out = translation(x)
        torch.manual_seed(seed)
        sh, sw = int(h * 0.125 + 0.5), int(w * 0.125 + 0.5)
        t_h = torch.randint(-sh, sh + 1, (b, 1, 1)).flatten().tolist()
        t_w = torch.randint(-sw, sw + 1, (b, 1, 1)).flatten().tolist()
        want = torch.zeros_like(x)
        for n in range(b):
            for i in range(h):
                for j in range(w):
                    si, sj = i + t_h[n], j + t_w[n]
                    if 0 <= si < h and 0 <= sj < w:
                        want[n, :, i, j] = x[n, :, si, sj]
        assert torch.equal(out, want), (seed, t_h, t_w)
        seen += [*t_h, *t_w]
    assert min(seen) < 0 < max(seen)  # both directions were exercised


def test_translation_is_seeded():
    x = torch.randn(4, 3, 16, 16)
    torch.manual_seed(7)
    a = translation(x)
    torch.manual_seed(7)
    assert torch.equal(a, translation(x))


def test_gradient_flows_through_translation():
    b, c, h, w = 4, 3, 16, 16
    torch.manual_seed(3)
    ones = translation(torch.ones(b, c, h, w))
    x = torch.ones(b, c, h, w, requires_grad=True)
    torch.manual_seed(3)
    translation(x).sum().backward()
    assert x.grad is not None
    for i in range(b):
        ty, tx = zero_border(ones[i])
        # each input pixel that stays inside contributes once, those pushed out get 0
        assert x.grad[i].sum().item() == (h - abs(ty)) * (w - abs(tx)) * c
        assert set(x.grad[i].unique().tolist()) <= {0.0, 1.0}


# ----------------------------------------------------------------------------
# cutout, color


def test_cutout_zeroes_one_block():
    b, c, h, w = 64, 2, 16, 16
    ch = cw = 8  # ratio 0.5
    fully_inside = 0
    for seed in range(4):
        torch.manual_seed(seed)
        out = cutout(torch.ones(b, c, h, w))
        assert out.shape == (b, c, h, w)
        assert set(out.unique().tolist()) <= {0.0, 1.0}
        for i in range(b):
            zero = out[i] == 0
            assert torch.equal(zero[0], zero[-1])  # same block in every channel
            z = zero[0]
            n = int(z.sum())
            assert 0 < n <= ch * cw
            rows = z.any(1).nonzero().flatten()
            cols = z.any(0).nonzero().flatten()
            y0, y1, x0, x1 = rows[0].item(), rows[-1].item() + 1, cols[0].item(), cols[-1].item() + 1
            assert n == (y1 - y0) * (x1 - x0), "zeros are not one rectangle"
            assert z[y0:y1, x0:x1].all()
            # a side shorter than the block only where it is clipped by the image border
            assert (y1 - y0 == ch) or y0 == 0 or y1 == h
            assert (x1 - x0 == cw) or x0 == 0 or x1 == w
            if 0 < y0 and y1 < h and 0 < x0 and x1 < w:
                assert n == ch * cw
                fully_inside += 1
    assert fully_inside > 0


def test_cutout_matches_diffaugment_draw_for_draw():
    """DiffAugment's rand_cutout, written out: size = int(H/2 + 0.5) (and W); offset_h = randint(0,
    H + 1 - size_h % 2) per sample, then offset_w; the block's indices offset - size // 2 + k,
    clamped into the image, are zeroed."""
    for b, h, w in ((8, 16, 16), (8, 15, 13)):
        x = torch.randn(b, 2, h, w)
        for seed in range(3):
            torch.manual_seed(seed)
            out = cutout(x)
            torch.manual_seed(seed)
            sh, sw = int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)
            oh = torch.randint(0, h + (1 - sh % 2), (b, 1, 1)).flatten().tolist()
            ow = torch.randint(0, w + (1 - sw % 2), (b, 1, 1)).flatten().tolist()
            mask = torch.ones(b, h, w)
            for n in range(b):
                for i in range(sh):
                    for j in range(sw):
                        yi = min(max(i + oh[n] - sh // 2, 0), h - 1)
                        xj = min(max(j + ow[n] - sw // 2, 0), w - 1)
                        mask[n, yi, xj] = 0
            assert torch.equal(out, x * mask[:, None]), (b, h, w, seed)


def test_cutout_odd_size_block():
    torch.manual_seed(0)
    out = cutout(torch.ones(128, 1, 15, 15))  # block int(7.5 + 0.5) = 8
    counts = (out == 0).flatten(1).sum(1)
    assert counts.max().item() == 64
    assert (counts <= 64).all() and (counts > 0).all()


def test_cutout_passes_gradient_outside_the_block():
    x = torch.ones(4, 3, 16, 16, requires_grad=True)
    torch.manual_seed(1)
    out = cutout(x)
    out.sum().backward()
    assert torch.equal(x.grad, (out != 0).float())


def test_color_on_grey_image_is_brightness_shift():
    # channels equal and spatially constant: saturation and contrast act around the pixel's own mean,
    # so only the brightness term survives: out = x + (r - 0.5), r the first rand draw per sample
    b = 6
    x = torch.linspace(-0.5, 0.5, b).view(b, 1, 1, 1).expand(b, 3, 8, 8).contiguous()
    torch.manual_seed(11)
    r = torch.rand(b, 1, 1, 1)
    torch.manual_seed(11)
    out = color(x)
    assert out.shape == x.shape
    assert torch.allclose(out, x + (r - 0.5), atol=1e-6)


def test_color_matches_diffaugment_formulas_per_sample():
    # DiffAugment (Zhao et al. 2020) `rand_brightness`, `rand_saturation`, `rand_contrast`, in that
    # order, each with one uniform draw per sample; recomputed here in numpy, one sample at a time,
    # on a colourful image so that every term acts (a grey image hides saturation and contrast).
    b = 5
    g = torch.Generator().manual_seed(3)
    x = torch.rand(b, 3, 6, 7, generator=g) * 2 - 1
    torch.manual_seed(21)
    r1, r2, r3 = (torch.rand(b, 1, 1, 1).numpy() for _ in range(3))
    torch.manual_seed(21)
    out = color(x).numpy()
    for i in range(b):
        xi = x[i].numpy().astype(np.float64) + (r1[i, 0, 0, 0] - 0.5)
        mi = xi.mean(axis=0, keepdims=True)  # per pixel, over channels
        xi = (xi - mi) * (2 * r2[i, 0, 0, 0]) + mi
        mi = xi.mean()  # over the whole sample
        xi = (xi - mi) * (r3[i, 0, 0, 0] + 0.5) + mi
        np.testing.assert_allclose(out[i], xi, atol=1e-5)
    # each term moves the result well beyond rounding, so a dropped or reordered term fails
    assert np.abs(out - x.numpy()).max() > 0.1


def test_color_keeps_shape_and_is_differentiable():
    x = torch.randn(3, 3, 8, 8, requires_grad=True)
    torch.manual_seed(0)
    out = color(x)
    assert out.shape == x.shape and not torch.equal(out, x)
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


# ----------------------------------------------------------------------------
# Policy parsing


def test_parse_policy():
    assert parse_policy("") == []
    assert parse_policy(" translation , cutout,") == ["translation", "cutout"]
    assert parse_policy("color,translation,cutout") == ["color", "translation", "cutout"]
    assert list(POLICIES) == ["translation", "color", "cutout"]


def test_parse_policy_rejects_unknown():
    with pytest.raises(ValueError) as e:
        parse_policy("translation,flip,rotate")
    assert str(e.value) == "unknown DiffAugment policy flip, rotate; allowed: translation, color, cutout"


def test_diff_augment_empty_policy_is_identity():
    x = torch.randn(2, 3, 8, 8)
    state = torch.get_rng_state()
    assert diff_augment(x, "") is x
    assert torch.equal(torch.get_rng_state(), state)  # consumes no randomness


def test_diff_augment_applies_in_order():
    x = torch.randn(4, 3, 16, 16)
    torch.manual_seed(5)
    expect = cutout(translation(x))
    torch.manual_seed(5)
    assert torch.equal(diff_augment(x, "translation,cutout"), expect)


@pytest.mark.parametrize("policy", list(POLICIES))
def test_diff_augment_keeps_a_bf16_batch_in_bf16(policy):
    """Under CUDA autocast D's inputs are bf16: an augmentation that promoted them to float32 would
    change D's precision behind the user's back."""
    x = torch.rand(2, 3, 8, 8).bfloat16() * 2 - 1
    torch.manual_seed(0)
    assert diff_augment(x, policy).dtype == torch.bfloat16


# ----------------------------------------------------------------------------
# Weight regularizer (GANSketching `--l_weight`)


def test_weight_l1_is_the_mean_over_tensors_of_each_tensors_mean_abs_change():
    """Two tensors of different sizes count equally: (mean|[1, -3]| + mean|[2, 0, 0, 0]|) / 2 = (2 + 0.5) / 2."""
    p0 = [torch.tensor([5.0, 5.0]), torch.zeros(2, 2)]
    p = [torch.tensor([6.0, 2.0]), torch.tensor([[2.0, 0.0], [0.0, 0.0]])]
    assert weight_l1(p, p0).item() == pytest.approx(1.25, abs=1e-7)
    assert weight_l1(p0, p0).item() == 0.0


def test_weight_l1_gradient_is_the_sign_of_the_change_over_size_and_count():
    p0 = [torch.zeros(4), torch.zeros(2)]
    p = [torch.tensor([1.0, -2.0, 0.5, -0.1], requires_grad=True), torch.tensor([3.0, -1.0], requires_grad=True)]
    weight_l1(p, p0).backward()
    # d/dθ (1/T) * mean_i |θ_i - θ0_i| = sign(θ - θ0) / (T * numel), T = 2 tensors
    assert torch.allclose(p[0].grad, torch.tensor([1.0, -1.0, 1.0, -1.0]) / 8)
    assert torch.allclose(p[1].grad, torch.tensor([1.0, -1.0]) / 4)


def test_weight_l1_refuses_mismatched_lists():
    with pytest.raises(ValueError, match="matching"):
        weight_l1([torch.zeros(1)], [])


# ----------------------------------------------------------------------------
# Gaussian prior on W (this project's switch `l_wprior`)


def _correlated_w(n: int, d: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """n samples of N(mu, A A^T) with a known, strongly anisotropic A; returns (w, mu, cov)."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(d, d, generator=g, dtype=torch.float64) @ torch.diag(torch.logspace(-1, 1, d, dtype=torch.float64))
    mu = torch.randn(d, generator=g, dtype=torch.float64) * 3
    w = mu + torch.randn(n, d, generator=g, dtype=torch.float64) @ A.T
    return w.float(), mu, A @ A.T


def test_mahalanobis_sq_equals_the_quadratic_form_with_the_sample_covariance():
    w, _, _ = _correlated_w(5000)
    prior = fit_w_prior(w)
    x = torch.randn(7, 6, generator=torch.Generator().manual_seed(1)) * 4
    wd = w.double()
    mean, cov = wd.mean(0), torch.cov(wd.T)  # the fit's definition, computed directly
    diff = x.double() - mean
    expected = (diff * torch.linalg.solve(cov, diff.T).T).sum(1)
    assert torch.allclose(mahalanobis_sq(x, prior).double(), expected, rtol=1e-4)
    # sanity against the generating distribution: d^2 of its own samples averages D (chi-square, 6 dof)
    assert mahalanobis_sq(w, prior).mean().item() == pytest.approx(6.0, rel=0.01)


def test_w_prior_tau_is_the_quantile_of_the_fitted_samples():
    w, _, _ = _correlated_w(20000)
    d2 = mahalanobis_sq(w, fit_w_prior(w, quantile=0.99))
    prior99, prior50 = fit_w_prior(w, quantile=0.99), fit_w_prior(w, quantile=0.5)
    assert (d2 <= prior99.tau).float().mean().item() == pytest.approx(0.99, abs=0.001)
    assert (d2 <= prior50.tau).float().mean().item() == pytest.approx(0.5, abs=0.001)
    # chi-square with 6 dof: median 5.35, 99th percentile 16.81
    assert prior50.tau == pytest.approx(5.35, rel=0.03) and prior99.tau == pytest.approx(16.81, rel=0.04)


def test_w_prior_hinge_is_zero_inside_and_the_excess_over_d_outside():
    w, _, _ = _correlated_w(5000)
    prior = fit_w_prior(w)
    inside = prior.mean[None].clone()  # d^2 = 0
    # a point at a chosen distance along the fitted first principal axis: (w - mean) = t * column 0 of whiten^-T
    axis = torch.linalg.inv(prior.whiten).T[:, 0]  # whiten^T axis = e_0, so d^2 = t^2
    far = prior.mean + 10.0 * axis  # d^2 = 100
    assert mahalanobis_sq(far[None], prior).item() == pytest.approx(100.0, rel=1e-4)
    assert w_prior_hinge(inside, prior).item() == 0.0
    both = torch.stack([inside[0], far])
    assert w_prior_hinge(both, prior).item() == pytest.approx((100.0 - prior.tau) / 2 / 6, rel=1e-4)
    # its gradient pulls the far point back toward the mean: d/dw = 2 C^-1 (w - mean) / (N D)
    x = both.clone().requires_grad_(True)
    w_prior_hinge(x, prior).backward()
    assert torch.equal(x.grad[0], torch.zeros(6))
    assert torch.dot(x.grad[1], far - prior.mean).item() > 0


def test_fit_w_prior_refuses_fewer_samples_than_dimensions():
    with pytest.raises(ValueError, match="more samples than dimensions \\(got 4 samples of 6 dims\\)"):
        fit_w_prior(torch.randn(4, 6))


def test_nearest_sq_is_the_whitened_distance_to_the_closest_banked_w():
    w, _, _ = _correlated_w(3000)
    support = fit_w_support(w, held_out=500)
    prior = support.prior
    x = w[-5:] + 0.3  # held-out rows, shifted
    bank = w[:-500].double()
    cov_inv = torch.linalg.inv(torch.cov(bank.T))  # the fit's covariance, inverted directly
    diff = x.double()[:, None] - bank[None]  # [5, 2500, D]
    expected = torch.einsum("nmd,de,nme->nm", diff, cov_inv, diff).min(1).values
    assert torch.allclose(nearest_sq(x, support).double(), expected, rtol=1e-3)
    assert torch.allclose(prior.mean.double(), bank.mean(0), atol=1e-5)  # fitted to the bank only


def test_w_support_refuses_the_empty_middle_that_the_gaussian_accepts():
    """w on a ring of radius 5: its centre is the Gaussian fit's mode (hinge 0) but, whitened, about
    sqrt(2) from every banked w (d^2 <= 2, hinge ~ (d^2 - tau) / 2 ~ 0.9); a w on the ring passes both."""
    g = torch.Generator().manual_seed(3)
    angle = torch.rand(4000, generator=g) * 2 * math.pi
    w = 5 * torch.stack([angle.cos(), angle.sin()], 1) + 0.05 * torch.randn(4000, 2, generator=g)
    support, prior = fit_w_support(w, held_out=500), fit_w_prior(w)
    centre, on_ring = torch.zeros(1, 2), torch.tensor([[0.0, 5.0]])
    assert w_prior_hinge(centre, prior).item() == 0.0
    assert w_support_hinge(centre, support).item() > 0.7  # ~0.9: the sample covariance is a slight ellipse
    assert w_support_hinge(on_ring, support).item() == 0.0
    # tau: 99 % of held-out w lie within it of their nearest banked w
    held = nearest_sq(w[-500:], support)
    assert (held <= support.tau).float().mean().item() == pytest.approx(0.99, abs=0.003)


def test_fit_w_support_refuses_too_few_samples():
    with pytest.raises(ValueError, match="more than 516 samples \\(got 100\\)"):
        fit_w_support(torch.randn(100, 4))
