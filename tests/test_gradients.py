"""Gradients the training methods rely on: R1 double backward, and a CLIP loss reaching the generator.

Also the frozen-CLIP wrapper itself: preprocessing numerics, the template-averaged prompt
embedding and its cache, seeding of the demo CLIP.
"""

from __future__ import annotations

import time

import pytest
import torch
import torch.nn.functional as F
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

from pipeline.nets.clip import DEMO_CLIP, IMAGENET_TEMPLATES, build_clip
from pipeline.nets.ops import make_kernel, upfirdn2d
from pipeline.nets.stylegan2 import Discriminator, Generator, StyleGAN2Config

TINY = StyleGAN2Config(size=32, style_dim=32, n_mlp=2, channel_base=256, channel_max=32)


@pytest.fixture(scope="module")
def clip():
    return build_clip(DEMO_CLIP)


# ----------------------------------------------------------------------------
# R1 (Mescheder et al. 2018): gamma/2 * E ||grad_x D(x)||^2 needs a second backward through D.


def test_r1_double_backward_reaches_discriminator():
    torch.manual_seed(0)
    D = Discriminator(TINY)
    x = torch.randn(4, 3, TINY.size, TINY.size, requires_grad=True)
    (grad,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)  # [4, 3, 32, 32]
    penalty = grad.pow(2).sum([1, 2, 3]).mean()
    penalty.backward()
    # grad_x D is piecewise constant in the biases (they only switch leaky-ReLU slopes), so biases get
    # zero or no gradient; every weight must get a non-zero, finite one.
    weights = {n: p for n, p in D.named_parameters() if n.endswith("weight")}
    assert len(weights) > 0
    for name, p in weights.items():
        assert p.grad is not None, f"R1 gradient did not reach {name}"
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, f"zero or non-finite R1 grad: {name}"
    assert all(torch.isfinite(p.grad).all() for p in D.parameters() if p.grad is not None)


@pytest.mark.parametrize(
    "up, down, pad",
    [(1, 1, (1, 1)), (2, 1, (2, 1)), (1, 2, (1, 1)), (1, 1, (-1, 2))],
    ids=["blur", "up2", "down2", "crop"],
)
def test_upfirdn2d_gradgradcheck(up, down, pad):
    torch.manual_seed(0)
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    k = make_kernel([1, 3, 3, 1]).double()
    fn = lambda x: upfirdn2d(x, k, up=up, down=down, pad=pad)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


# ----------------------------------------------------------------------------
# CLIP loss -> generator


def test_clip_loss_reaches_mapping_network(clip):
    torch.manual_seed(0)
    G = Generator(TINY)
    img, _ = G([torch.randn(2, TINY.style_dim)])  # [2, 3, 32, 32]
    target = clip.embed_prompt("a photo of a pink cat")  # [D]
    loss = (1 - F.cosine_similarity(clip.encode_image(img), target[None], dim=1)).mean()
    loss.backward()
    for i, layer in enumerate(G.mapping_layers(), start=1):
        g = layer.weight.grad
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0, f"style.{i}.weight"
    assert all(p.grad is None for p in clip.parameters()), "CLIP is frozen"


def test_encode_image_is_differentiable_in_the_input(clip):
    x = torch.zeros(1, 3, 40, 56).uniform_(-1, 1).requires_grad_(True)
    clip.encode_image(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


# ----------------------------------------------------------------------------
# The CLIP wrapper


@pytest.mark.parametrize("h, w", [(64, 64), (32, 32), (48, 80), (256, 256)])
def test_preprocess_normalises_like_clip(clip, h, w):
    v = 0.3  # a constant image in [-1, 1]
    out = clip.preprocess(torch.full((2, 3, h, w), v))
    assert out.shape == (2, 3, clip.image_size, clip.image_size)
    want = [((v + 1) / 2 - m) / s for m, s in zip(OPENAI_DATASET_MEAN, OPENAI_DATASET_STD)]
    for c in range(3):
        assert torch.allclose(out[:, c], torch.tensor(want[c]), atol=1e-5), f"channel {c}"


def test_preprocess_centre_crops_the_longer_side(clip):
    s = clip.image_size
    x = torch.zeros(1, 3, s, 2 * s)
    x[..., s // 2 : s // 2 + s] = 1.0  # the centre s x s block is white, the sides black
    out = clip.preprocess(x) * torch.tensor(OPENAI_DATASET_STD).view(1, 3, 1, 1) + torch.tensor(
        OPENAI_DATASET_MEAN
    ).view(1, 3, 1, 1)
    assert torch.allclose(out, torch.ones_like(out), atol=1e-5)


def test_embed_prompt_is_the_template_average(clip):
    templates = ("a photo of a {}.", "a sketch of the {}.", "itap of my {}.")
    with torch.no_grad():
        each = clip.encode_text([t.format("horse") for t in templates])  # [3, D], unit rows
    want = F.normalize(each.mean(0), dim=0)
    got = clip.embed_prompt("horse", templates=templates)
    assert got.shape == want.shape and torch.allclose(got, want, atol=1e-6)
    assert not got.requires_grad


def test_embed_prompt_is_cached(clip, monkeypatch):
    calls = []
    encode = clip.encode_text
    monkeypatch.setattr(clip, "encode_text", lambda texts, **kw: calls.append(len(texts)) or encode(texts, **kw))
    first = clip.embed_prompt("a zebra")
    second = clip.embed_prompt("a zebra")
    assert calls == [len(IMAGENET_TEMPLATES)] and torch.equal(second, first)
    assert clip.template_mean("a zebra") is clip.template_mean("a zebra")  # the cached entry
    clip.embed_prompt("a zebra", templates=("{}",))  # other templates: new entry
    assert calls == [len(IMAGENET_TEMPLATES), 1]


@pytest.mark.parametrize("prompt", ["", "   ", "\n"])
def test_empty_prompt_is_refused(clip, prompt):
    with pytest.raises(ValueError, match="prompt must be non-empty"):
        clip.embed_prompt(prompt)


def test_imagenet_templates():
    assert len(IMAGENET_TEMPLATES) == 79 and len(set(IMAGENET_TEMPLATES)) == 79
    assert all(t.count("{}") == 1 for t in IMAGENET_TEMPLATES)
    assert "a photo of many {}." not in IMAGENET_TEMPLATES
    assert IMAGENET_TEMPLATES[0] == "a bad photo of a {}." and IMAGENET_TEMPLATES[-1] == "a tattoo of the {}."


def test_demo_clip_is_seeded_fast_and_frozen(clip):
    state = torch.random.get_rng_state()
    t0 = time.perf_counter()
    again = build_clip(DEMO_CLIP)
    assert time.perf_counter() - t0 < 2.0
    assert torch.equal(torch.random.get_rng_state(), state), "build_clip must not consume the global RNG"
    for (name, a), b in zip(clip.named_parameters(), again.parameters()):
        assert torch.equal(a, b), f"demo CLIP weights differ between builds: {name}"
    assert not any(p.requires_grad for p in again.parameters())
    assert not again.model.training
    again.train()  # a parent's .train()
    assert not again.model.training


def test_clip_checkpoint_file_is_loaded(clip, tmp_path):
    sd = {k: v.clone() for k, v in clip.model.state_dict().items()}
    sd["visual.proj"] += 1.0  # distinguishable from the seeded init
    path = tmp_path / "clip.pt"
    torch.save(sd, path)
    loaded = build_clip(DEMO_CLIP, checkpoint=path)
    assert torch.equal(loaded.model.visual.proj, sd["visual.proj"])
    with pytest.raises(FileNotFoundError):
        build_clip(DEMO_CLIP, checkpoint=tmp_path / "missing.pt")


def test_unknown_clip_name_lists_available():
    with pytest.raises(ValueError, match=r"'ViT-Q-99'.*available: .*ViT-B-32"):
        build_clip("ViT-Q-99")


def test_preprocess_resizes_bicubic_with_antialiasing_as_clips_pil_pipeline(clip):
    """CLIP's own transform resizes with PIL bicubic (antialiased when shrinking); PIL on each channel as
    float is the independent reference (agrees to 1e-6 here; bilinear misses by 0.2)."""
    import numpy as np
    from PIL import Image

    s = clip.image_size
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 3 * s, 3 * s, generator=g) * 2 - 1  # noise: the kernels differ most on it
    got = clip.preprocess(x)
    x01 = ((x[0] + 1) / 2).numpy()
    pil = np.stack([np.asarray(Image.fromarray(c).resize((s, s), Image.BICUBIC)) for c in x01])
    mean, std = torch.tensor(OPENAI_DATASET_MEAN).view(3, 1, 1), torch.tensor(OPENAI_DATASET_STD).view(3, 1, 1)
    want = (torch.from_numpy(pil) - mean) / std
    err = (got[0] - want).abs().max().item()
    bilinear = F.interpolate((x + 1) / 2, size=(s, s), mode="bilinear", antialias=True)[0]
    err_bilinear = (((bilinear - mean) / std) - want).abs().max().item()
    assert err < 1e-3 and err_bilinear > 0.05, (err, err_bilinear)
