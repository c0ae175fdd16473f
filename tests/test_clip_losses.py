"""CLIP losses (pipeline/losses/clip.py) against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pipeline.losses.clip import directional_loss, global_loss, text_direction

pytestmark = pytest.mark.usefixtures("one_thread")


def unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True)


def np_cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


# ----------------------------------------------------------------------------
# global_loss


@pytest.mark.parametrize("text_shape", ["flat", "row"])
def test_global_loss_is_one_minus_cosine_mean_over_batch(text_shape):
    g = torch.Generator().manual_seed(0)
    img = torch.randn(5, 7, generator=g, dtype=torch.float64)
    txt = torch.randn(7, generator=g, dtype=torch.float64)
    a, t = img.numpy(), txt.numpy()
    want = np.mean([1 - np_cos(a[b], t) for b in range(5)])
    got = global_loss(img, txt if text_shape == "flat" else txt[None])
    assert got.shape == ()
    assert got.item() == pytest.approx(want, rel=1e-12, abs=1e-12)
    # not a sum, not a single sample: batch mean
    per = [1 - np_cos(a[b], t) for b in range(5)]
    assert got.item() != pytest.approx(sum(per), rel=1e-6)
    # scale-invariant in both arguments (unnormalized inputs are fine)
    assert global_loss(3 * img, 0.5 * txt).item() == pytest.approx(want, rel=1e-12)


def test_global_loss_limits():
    t = unit(torch.randn(8, dtype=torch.float64))
    assert global_loss(t[None].repeat(3, 1), t).item() == pytest.approx(0.0, abs=1e-12)
    assert global_loss(-t[None], t).item() == pytest.approx(2.0, abs=1e-12)
    # orthogonal image embedding -> 1
    e = torch.zeros(8, dtype=torch.float64)
    e[0], e[1] = 1.0, 0.0
    o = torch.zeros(8, dtype=torch.float64)
    o[1] = 1.0
    assert global_loss(o[None], e).item() == pytest.approx(1.0, abs=1e-12)
    # mixed batch: (0 + 2 + 1) / 3
    batch = torch.stack([e, -e, o])
    assert global_loss(batch, e).item() == pytest.approx(1.0, abs=1e-12)


def test_global_loss_gradient_matches_hand_formula():
    """d/da (1 - a.t / (|a||t|)) = -(t/|t| - cos * a/|a|) / |a|, averaged over the batch."""
    g = torch.Generator().manual_seed(1)
    img = torch.randn(4, 6, generator=g, dtype=torch.float64, requires_grad=True)
    txt = torch.randn(6, generator=g, dtype=torch.float64)
    global_loss(img, txt).backward()
    a = img.detach()
    na = a.norm(dim=1, keepdim=True)
    cos = (a @ txt)[:, None] / (na * txt.norm())
    want = -(txt / txt.norm() - cos * a / na) / na / a.shape[0]
    torch.testing.assert_close(img.grad, want, rtol=1e-10, atol=1e-12)


def test_global_loss_gradcheck_image_embeddings():
    g = torch.Generator().manual_seed(2)
    img = torch.randn(3, 5, generator=g, dtype=torch.float64, requires_grad=True)
    txt = torch.randn(5, generator=g, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: global_loss(x, txt), (img,), eps=1e-6, atol=1e-8)
    assert torch.autograd.gradgradcheck(lambda x: global_loss(x, txt), (img,), eps=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------
# text_direction


def test_text_direction_unit_norm_and_points_source_to_target():
    g = torch.Generator().manual_seed(3)
    src = unit(torch.randn(16, generator=g, dtype=torch.float64))
    tgt = unit(torch.randn(16, generator=g, dtype=torch.float64))
    d = text_direction(tgt, src)
    assert d.norm().item() == pytest.approx(1.0, abs=1e-12)
    diff = (tgt - src).numpy()
    # exactly the normalized difference target - source (cosine 1), not source - target
    assert np_cos(d.numpy(), diff) == pytest.approx(1.0, abs=1e-12)
    torch.testing.assert_close(d, (tgt - src) / (tgt - src).norm())
    # moving along d from source approaches target
    assert torch.dot(d, tgt) > torch.dot(d, src)
    # swapping the arguments flips it
    torch.testing.assert_close(text_direction(src, tgt), -d)


def test_text_direction_of_identical_prompts_is_finite():
    e = unit(torch.randn(8))
    d = text_direction(e, e)
    assert torch.isfinite(d).all() and torch.count_nonzero(d) == 0


# ----------------------------------------------------------------------------
# directional_loss


@pytest.fixture()
def emb():
    g = torch.Generator().manual_seed(4)
    frozen = unit(torch.randn(3, 10, generator=g, dtype=torch.float64))
    dT = unit(torch.randn(10, generator=g, dtype=torch.float64))
    return frozen, dT


def test_directional_loss_parallel_is_zero(emb):
    frozen, dT = emb
    assert directional_loss(frozen + 3 * dT, frozen, dT).item() == pytest.approx(0.0, abs=1e-12)


def test_directional_loss_opposite_is_two(emb):
    frozen, dT = emb
    assert directional_loss(frozen - 3 * dT, frozen, dT).item() == pytest.approx(2.0, abs=1e-12)


def test_directional_loss_orthogonal_is_one(emb):
    frozen, dT = emb
    g = torch.Generator().manual_seed(5)
    r = torch.randn(3, 10, generator=g, dtype=torch.float64)
    ortho = r - (r @ dT)[:, None] * dT[None]  # Gram-Schmidt: each row _|_ dT
    assert (ortho @ dT).abs().max() < 1e-12
    assert directional_loss(frozen + ortho, frozen, dT).item() == pytest.approx(1.0, abs=1e-12)


def test_directional_loss_matches_hand_value_on_random_input(emb):
    frozen, dT = emb
    g = torch.Generator().manual_seed(6)
    train = frozen + 0.3 * torch.randn(3, 10, generator=g, dtype=torch.float64)
    dI = (train - frozen).numpy()
    want = np.mean([1 - np_cos(dI[b], dT.numpy()) for b in range(3)])
    assert directional_loss(train, frozen, dT).item() == pytest.approx(want, rel=1e-12)
    # invariant to adding the same vector to both encoders' outputs (only the change counts)
    shift = torch.randn(10, generator=g, dtype=torch.float64)
    assert directional_loss(train + shift, frozen + shift, dT).item() == pytest.approx(want, rel=1e-9)


def test_directional_loss_zero_change_uses_constant_fallback(emb):
    """train == frozen: dI := 1e-6 * ones, so the loss is 1 - cos(ones, dT), finite, with a gradient."""
    frozen, dT = emb
    train = frozen.clone().requires_grad_(True)
    loss = directional_loss(train, frozen, dT)
    want = 1 - np_cos(np.ones(10), dT.numpy())
    assert math.isfinite(loss.item())
    assert loss.item() == pytest.approx(want, rel=1e-9)
    loss.backward()
    assert torch.isfinite(train.grad).all() and train.grad.abs().sum() > 0
    # only rows whose change is exactly zero take the fallback
    train2 = frozen.clone()
    train2[0] += 3 * dT
    per_row = [0.0, want, want]
    assert directional_loss(train2, frozen, dT).item() == pytest.approx(np.mean(per_row), rel=1e-9)
