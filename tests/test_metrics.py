"""Unit tests of the evaluation metrics on tiny constructed image sets (CPU, demo networks only)."""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.metrics import EvalContext, compute_metrics, load_images, registered_metrics
from pipeline.metrics.clip_score import clip_score
from pipeline.metrics.fidelity import DemoTinyExtractor, comparable_to_published
from pipeline.metrics.sketch_fidelity import chamfer, nearest_chamfer

N = 40  # images per constructed set
KID_SUBSET = 20


def write_set(folder: Path, n: int = N, seed: int = 0, shift: float = 0.0, size: int = 32) -> Path:
    """n random textures (values 60..180) plus a brightness shift; same seed -> same content."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        a = rng.uniform(60, 180, (size, size, 3)) + shift
        Image.fromarray(a.clip(0, 255).astype(np.uint8)).save(folder / f"{i:03d}.png")
    return folder


def ctx_for(fakes, reals, tmp_path, **kw) -> EvalContext:
    kw = {
        "feature_extractor": "demo-tiny",
        "kid_subset_size": KID_SUBSET,
        "resize": "tf",
        "cache_dir": tmp_path / "cache",
        **kw,
    }
    return EvalContext(fakes_dir=fakes, reals_dir=reals, **kw)


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("sets")
    return {
        "reals": write_set(root / "reals"),
        "same": write_set(root / "same"),  # byte-identical copy of reals
        "shift30": write_set(root / "shift30", shift=30),
        "shift75": write_set(root / "shift75", shift=75),
        "far": write_set(root / "far", seed=7, shift=200),
    }  # saturated, other content


FIDELITY = ["fid", "kid", "precision", "recall"]

# ----------------------------------------------------------------------------
# FID / KID / precision-recall


def test_fidelity_identical_sets(sets, tmp_path):
    v, prov = compute_metrics(FIDELITY, ctx_for(sets["same"], sets["reals"], tmp_path))
    assert abs(v["fid"]) < 1e-6
    assert abs(v["kid_mean"]) < 1e-3
    assert v["precision"] == 1.0 and v["recall"] == 1.0
    p = prov["fidelity"]
    assert p["n_fakes"] == N and p["n_reals"] == N and p["demo"] is True
    assert p["comparable_to_published"] is False and p["torch_fidelity_version"]
    assert len(p["reals_digest"]) == 64 and len(p["weights_sha256"]) == 64
    assert prov["metrics"] == FIDELITY and prov["seed"] == 0  # what was asked for, in order
    assert prov["device"] == "cpu"


def test_fidelity_grows_with_shift(sets, tmp_path):
    same, _ = compute_metrics(FIDELITY, ctx_for(sets["same"], sets["reals"], tmp_path))
    s30, _ = compute_metrics(FIDELITY, ctx_for(sets["shift30"], sets["reals"], tmp_path))
    s75, _ = compute_metrics(FIDELITY, ctx_for(sets["shift75"], sets["reals"], tmp_path))
    assert same["fid"] < s30["fid"] < s75["fid"]
    assert s30["fid"] > 100 * max(abs(same["fid"]), 1e-9)
    assert same["kid_mean"] < s30["kid_mean"] < s75["kid_mean"]
    assert s30["kid_mean"] > 10 * abs(same["kid_mean"])


def test_precision_recall_disjoint_sets(sets, tmp_path):
    v, _ = compute_metrics(["precision", "recall"], ctx_for(sets["far"], sets["reals"], tmp_path))
    assert set(v) == {"precision", "recall"}
    assert v["precision"] <= 0.1 and v["recall"] <= 0.1


def test_clean_resize_path(sets, tmp_path):
    v, prov = compute_metrics(["fid"], ctx_for(sets["same"], sets["reals"], tmp_path, resize="clean"))
    assert set(v) == {"fid"} and abs(v["fid"]) < 1e-6
    assert prov["fidelity"]["resize"] == "clean"


def test_comparable_to_published_flag():
    assert comparable_to_published("inception-v3-compat", "clean", 2500)
    assert not comparable_to_published("inception-v3-compat", "tf", 2500)
    assert not comparable_to_published("inception-v3-compat", "clean", 1000)
    assert not comparable_to_published("demo-tiny", "clean", 2500)
    assert not comparable_to_published("inception-v3-compat", "clean", 2500, feature_layer="64")


def test_reference_features_cached_and_reused(sets, tmp_path):
    cache = tmp_path / "cache"
    DemoTinyExtractor.samples_seen = 0
    compute_metrics(["fid"], ctx_for(sets["shift30"], sets["reals"], tmp_path))
    assert DemoTinyExtractor.samples_seen == 2 * N  # fakes + reals
    cached = sorted(p.name for p in cache.iterdir())
    assert cached and all(name.startswith("reals-") for name in cached)

    DemoTinyExtractor.samples_seen = 0
    _, prov = compute_metrics(FIDELITY, ctx_for(sets["shift75"], sets["reals"], tmp_path))
    assert DemoTinyExtractor.samples_seen == N  # only the fakes: reals came from the cache
    assert prov["fidelity"]["reference_cache"]["name"] in cached[0]

    # Changed reference content -> a new digest -> recomputed, not a stale hit.
    changed = write_set(tmp_path / "reals2")
    Image.new("RGB", (32, 32), (0, 0, 0)).save(changed / "000.png")
    DemoTinyExtractor.samples_seen = 0
    compute_metrics(["fid"], ctx_for(sets["shift30"], changed, tmp_path))
    assert DemoTinyExtractor.samples_seen == 2 * N


def test_kid_subset_larger_than_n_fakes(sets, tmp_path):
    with pytest.raises(ValueError) as e:
        compute_metrics(["kid"], ctx_for(sets["same"], sets["reals"], tmp_path, kid_subset_size=N + 10))
    msg = str(e.value)
    assert str(N) in msg and str(N + 10) in msg and "evaluate.kid_subset_size" in msg


def test_missing_or_empty_eval_folder(sets, tmp_path):
    missing = tmp_path / "no_such_eval"
    with pytest.raises(ValueError, match="no_such_eval"):
        compute_metrics(["fid"], ctx_for(sets["same"], missing, tmp_path))
    empty = tmp_path / "empty_eval"
    empty.mkdir()
    with pytest.raises(ValueError, match="empty_eval"):
        compute_metrics(["fid"], ctx_for(sets["same"], empty, tmp_path))


def test_unknown_metric_lists_registered(sets, tmp_path):
    with pytest.raises(ValueError) as e:
        compute_metrics(["fid", "inception_score"], ctx_for(sets["same"], sets["reals"], tmp_path))
    assert "inception_score" in str(e.value)
    for name in registered_metrics():
        assert name in str(e.value)


# ----------------------------------------------------------------------------
# CLIP score


class FakeCLIP:
    """Same interface as pipeline.nets.clip.CLIP: a fixed linear map of the mean colour + pixels."""

    name = "fake-clip"

    def __init__(self, dim: int = 16):
        g = torch.Generator().manual_seed(0)
        self.w = torch.randn(3 * 8 * 8, dim, generator=g)
        self.text = {p: torch.randn(dim, generator=g) for p in ("a cat", "a dog")}

    def encode_image(self, images, normalize=True):
        e = torch.nn.functional.adaptive_avg_pool2d(images, 8).flatten(1) @ self.w
        return torch.nn.functional.normalize(e, dim=-1) if normalize else e

    def embed_prompt(self, prompt, templates=None):
        return torch.nn.functional.normalize(self.text[prompt], dim=0)

    def raw_text(self, prompt):
        return self.text[prompt]


def _demo_or_fake_clip():
    try:
        from pipeline.nets.clip import DEMO_CLIP, build_clip
    except ImportError:  # clip.py absent: same interface, fake weights
        return FakeCLIP()
    return build_clip(DEMO_CLIP, None)


def _raw_text(clip, prompt):
    """E_T(prompt as written), straight from the encoder (the default `eval.clip_templates: none`)."""
    if hasattr(clip, "raw_text"):
        return clip.raw_text(prompt)
    with torch.no_grad():
        return clip.model.encode_text(clip.tokenizer([prompt]))[0]


def _hand_clip_score(clip, images, prompt) -> float:
    e = clip.encode_image(images, normalize=False).detach().double()  # [B, D], not normalized
    t = _raw_text(clip, prompt).detach().double()  # [D], not normalized
    cos = [(e[i] @ t).item() / (math.sqrt((e[i] @ e[i]).item()) * math.sqrt((t @ t).item())) for i in range(len(e))]
    return 100.0 * sum(cos) / len(cos)


@pytest.mark.parametrize("make_clip", [FakeCLIP, _demo_or_fake_clip], ids=["fake", "demo"])
def test_clip_score_matches_hand_cosine(make_clip):
    clip = make_clip()
    images = torch.rand(5, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    for prompt in ("a cat", "a dog"):
        assert clip_score(images, clip, prompt) == pytest.approx(_hand_clip_score(clip, images, prompt), abs=1e-4)


def test_clip_score_registered_metrics(sets, tmp_path):
    clip = FakeCLIP()
    ctx = EvalContext(fakes_dir=sets["shift30"], clip=clip, target_prompt="a cat", source_prompt="a dog", batch_size=16)
    v, prov = compute_metrics(["clip_score_target", "clip_score_source"], ctx)
    images = load_images(sorted(sets["shift30"].glob("*.png")))
    assert v["clip_score_target"] == pytest.approx(_hand_clip_score(clip, images, "a cat"), abs=1e-4)
    assert v["clip_score_source"] == pytest.approx(_hand_clip_score(clip, images, "a dog"), abs=1e-4)
    assert prov["clip_score"]["n_fakes"] == N
    assert prov["clip_score"]["prompts"]["clip_score_target"]["prompt"] == "a cat"


def test_clip_score_needs_clip(sets):
    with pytest.raises(ValueError, match="CLIP"):
        compute_metrics(["clip_score_target"], EvalContext(fakes_dir=sets["same"], target_prompt="a cat"))


# ----------------------------------------------------------------------------
# Sketch chamfer


def draw(folder: Path, name: str, lines, size: int = 64, rgb: bool = False) -> Path:
    """White canvas with black 1-px lines; each line is (row0, row1, col0, col1) inclusive."""
    a = np.full((size, size), 255, np.uint8)
    for r0, r1, c0, c1 in lines:
        a[r0 : r1 + 1, c0 : c1 + 1] = 0
    folder.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(a, "L")
    (img.convert("RGB") if rgb else img).save(folder / name)
    return folder


def red_channel(x: torch.Tensor) -> torch.Tensor:
    """Stand-in sketch extractor: the samples already are line drawings."""
    return x[:, :1]


def chamfer_of(tmp_path, fake_lines, sketch_sets, tag) -> tuple[float, dict]:
    sk = tmp_path / f"sketches_{tag}"
    for i, lines in enumerate(sketch_sets):
        draw(sk, f"s{i}.png", lines)
    fk = tmp_path / f"fakes_{tag}"
    for i, lines in enumerate(fake_lines):
        draw(fk, f"f{i}.png", lines, rgb=True)
    v, prov = compute_metrics(
        ["sketch_chamfer"], EvalContext(fakes_dir=fk, sketches_dir=sk, fake_sketch_fn=red_channel)
    )
    return v["sketch_chamfer"], prov["sketch_chamfer"]


HLINE = (20, 20, 10, 50)  # row 20, columns 10..50
VLINE = (5, 60, 58, 58)  # a far-away second input sketch


def test_chamfer_zero_for_identical(tmp_path):
    c, prov = chamfer_of(tmp_path, [[HLINE]], [[HLINE], [VLINE]], "same")
    assert c == 0.0
    assert prov["nearest_sketch_counts"] == {"s0.png": 1, "s1.png": 0}
    assert prov["resolution"] == [64, 64] and "nearest" in prov["definition"]


@pytest.mark.parametrize("shift", [2, 5])
def test_chamfer_equals_perpendicular_shift(tmp_path, shift):
    # Every pixel of the line at row 20 has its nearest counterpart straight below at distance
    # `shift`, and vice versa: C = 1/2 (shift + shift) = shift.
    moved = (20 + shift, 20 + shift, 10, 50)
    c, _ = chamfer_of(tmp_path, [[moved]], [[HLINE], [VLINE]], f"s{shift}")
    assert c == pytest.approx(float(shift), abs=1e-9)


def test_chamfer_along_line_shift_by_hand():
    # Shift the 41-px line 2 px along itself: only the two uncovered end pixels of each line are
    # off (distances 1 and 2), so each direction has mean (1 + 2) / 41 and C = 3 / 41.
    a = np.zeros((64, 64), bool)
    b = np.zeros((64, 64), bool)
    a[20, 10:51] = True
    b[20, 12:53] = True
    assert chamfer(a, b) == pytest.approx(3 / 41)
    d, k = nearest_chamfer(a[None], np.stack([b, a]))
    assert d[0] == 0.0 and k[0] == 1
    # an input sketch without strokes is named by its index
    with pytest.raises(ValueError, match=r"input sketch\(es\) \[1\] have no strokes"):
        nearest_chamfer(a[None], np.stack([b, np.zeros_like(a), a]))


def test_chamfer_mean_over_samples_and_empty_strokes(tmp_path):
    c, prov = chamfer_of(tmp_path, [[(22, 22, 10, 50)], [(25, 25, 10, 50)], []], [[HLINE]], "mix")
    diag = 64 * math.sqrt(2)
    assert c == pytest.approx((2 + 5 + diag) / 3)
    assert prov["n_empty_fake_sketches"] == 1 and prov["empty_penalty"] == pytest.approx(diag)
    empty = np.zeros((8, 8), bool)
    assert chamfer(empty, empty) == 0.0


def test_chamfer_common_resolution(tmp_path):
    # A 2-px line in a 128-px sample is the 1-px line of the 64-px sketch after resizing.
    sk = draw(tmp_path / "sk", "s.png", [HLINE])
    fk = draw(tmp_path / "fk", "f.png", [(40, 41, 20, 101)], size=128, rgb=True)
    v, prov = compute_metrics(
        ["sketch_chamfer"], EvalContext(fakes_dir=fk, sketches_dir=sk, fake_sketch_fn=red_channel)
    )
    assert prov["sketch_chamfer"]["resolution"] == [64, 64]
    assert v["sketch_chamfer"] < 0.2


def test_chamfer_rejects_empty_input_sketch(tmp_path):
    with pytest.raises(ValueError, match="no strokes"):
        chamfer_of(tmp_path, [[HLINE]], [[]], "emptysketch")


def test_inception_from_local_weights_file(sets, tmp_path, monkeypatch):
    """The offline Inception path: `inception-v3-compat` reads `feature_weights_path`, no download.

    No real weights exist offline, so the file holds a randomly initialised Inception state dict
    (built once by skipping the load); the numbers are meaningless, the plumbing is what is tested.
    """
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    empty = tmp_path / "empty.pt"
    torch.save({}, empty)
    with monkeypatch.context() as m:
        m.setattr(FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd, *a, **k: None)
        net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(empty))
    weights = tmp_path / "inception-random.pth"
    torch.save(net.state_dict(), weights)

    fakes = write_set(tmp_path / "f2", n=2, shift=40)
    reals = write_set(tmp_path / "r2", n=2)
    # The 64-d early layer keeps this CPU test fast (FID on 2048-d features needs an eigendecomposition
    # of a 2048 x 2048 matrix: ~30 s here); the published protocol uses the default 2048-d layer.
    ctx = ctx_for(
        fakes,
        reals,
        tmp_path,
        feature_extractor="inception-v3-compat",
        feature_weights_path=weights,
        feature_layer="64",
        resize="clean",
    )
    v, prov = compute_metrics(["fid"], ctx)
    p = prov["fidelity"]
    assert math.isfinite(v["fid"])
    assert p["feature_extractor"] == "inception-v3-compat" and p["weights"] == str(weights)
    assert p["feature_layer"] == "64" and p["resize"] == "clean"
    assert p["weights_sha256"] is not None and len(p["weights_sha256"]) == 64
    assert p["demo"] is False and p["comparable_to_published"] is False  # N = 2, not 2,500


def test_precision_recall_subsample_the_reals_as_the_reference(sets, tmp_path):
    """More reals than prc_reals: P&R on a seeded random subset of that many (PeterWang512/precision_recall),
    FID/KID on all of them. Independently: the same subset copied to a folder, P&R computed on it."""
    import shutil

    ctx = ctx_for(sets["same"], sets["reals"], tmp_path, prc_reals=12, seed=3)
    v, prov = compute_metrics(FIDELITY, ctx)
    assert prov["fidelity"]["prc_reals"] == 12 and prov["fidelity"]["n_reals"] == N
    files = sorted(sets["reals"].glob("*.png"))
    keep = sorted(torch.randperm(N, generator=torch.Generator().manual_seed(3))[:12].tolist())
    sub = tmp_path / "subset"
    sub.mkdir()
    for i in keep:
        shutil.copy(files[i], sub / files[i].name)
    w, _ = compute_metrics(["precision", "recall"], ctx_for(sets["same"], sub, tmp_path, prc_reals=None))
    assert (v["precision"], v["recall"]) == (w["precision"], w["recall"])
    full, _ = compute_metrics(FIDELITY, ctx_for(sets["same"], sets["reals"], tmp_path, prc_reals=None))
    assert v["fid"] == full["fid"]  # FID still sees every real
    assert (v["precision"], v["recall"]) != (full["precision"], full["recall"])


# ----------------------------------------------------------------------------
# Perceptual path length


class LinearG:
    """A 'generator' image = A w (mapping the identity): d(G(w_a), G(w_b)) / eps^2 with a mean squared
    distance is ||A (w_1 - w_0)||^2 / P for every eps, whose expectation is 2 ||A||_F^2 / P."""

    style_dim, n_latent, size = 6, 1, 4

    def __init__(self):
        self.A = torch.randn(3 * 4 * 4, 6, generator=torch.Generator().manual_seed(0))

    def mapping(self, z):
        return z

    def stored_noise(self):
        return []

    def make_wplus(self, w, input_is_latent=True):
        return w[:, None]

    def synthesis(self, wplus, noise=None, content=None):
        return (wplus[:, 0] @ self.A.T).reshape(-1, 3, 4, 4)


def test_ppl_is_the_scaled_path_length_with_the_reference_protocol():
    from types import SimpleNamespace

    from pipeline.metrics.ppl import EPS, filtered_mean, path_lengths

    G = LinearG()
    mse = lambda x, y: (x - y).pow(2).flatten(1).mean(1)  # noqa: E731
    lengths = path_lengths(SimpleNamespace(G=G, content=None), mse, n=4000, batch=100)
    want = 2 * G.A.pow(2).sum().item() / G.A.shape[0]  # E ||A (w1 - w0)||^2 / P, w ~ N(0, I)
    assert np.mean(lengths) == pytest.approx(want, rel=0.08)  # divided by eps^2: not 1e4 off
    assert EPS == 1e-4
    # the 1st-99th percentile filter ("lower" / "higher" percentiles, rosinality ppl.py) drops the tails
    vals = np.arange(1, 101, dtype=float)
    assert filtered_mean(vals) == pytest.approx(np.arange(1, 101).mean())  # 100 values: lo = 1, hi = 100
    vals = np.concatenate([np.full(990, 5.0), np.full(5, -1e6), np.full(5, 1e6)])  # 1,000 values
    assert filtered_mean(vals) == pytest.approx(5.0)


# ----------------------------------------------------------------------------
# Asymmetric cases with known answers


def test_a_set_inside_the_others_support_has_full_precision_and_low_recall(sets, tmp_path):
    """Reals: 10 images from each of four distinct groups. Fakes: 8 reals of the first group. Every fake
    lies in the reals' support (precision 1); the balls around the fakes cover the first group only
    (recall about 1/4). Swapping the roles swaps the numbers."""
    import shutil

    wide, few = tmp_path / "wide", tmp_path / "few"
    wide.mkdir()
    few.mkdir()
    for group in ("reals", "shift30", "shift75", "far"):
        for f in sorted(sets[group].glob("*.png"))[:10]:
            shutil.copy(f, wide / f"{group}_{f.name}")
    for f in sorted(wide.glob("reals_*.png"))[:8]:
        shutil.copy(f, few / f.name)
    v, _ = compute_metrics(["precision", "recall"], ctx_for(few, wide, tmp_path, prc_reals=None))
    assert v["precision"] == 1.0 and v["recall"] <= 0.4, v
    w, _ = compute_metrics(["precision", "recall"], ctx_for(wide, few, tmp_path / "b", prc_reals=None))
    assert w["recall"] == 1.0 and w["precision"] <= 0.4, w


def test_clean_and_tf_resize_give_different_features_cached_apart(sets, tmp_path):
    clean, pc = compute_metrics(["fid"], ctx_for(sets["shift30"], sets["reals"], tmp_path, resize="clean"))
    tf, pt = compute_metrics(["fid"], ctx_for(sets["shift30"], sets["reals"], tmp_path, resize="tf"))
    assert abs(clean["fid"] - tf["fid"]) > 1e-3 * max(clean["fid"], tf["fid"])
    names = {pc["fidelity"]["reference_cache"]["name"], pt["fidelity"]["reference_cache"]["name"]}
    assert len(names) == 2 and any("-clean-" in n for n in names) and any("-tf-" in n for n in names)


def test_clean_resize_is_pil_bicubic_on_float_channels():
    """clean-fid's resize: each channel as a float32 PIL image, bicubic, clipped; not bilinear."""
    from pipeline.metrics.fidelity import clean_resize

    y, x = np.mgrid[0:20, 0:20]
    a = np.stack([(x * 12) % 256, (y * 12) % 256, ((x * y) * 3) % 256], -1).astype(np.uint8)  # hard edges
    got = clean_resize(Image.fromarray(a), 57)
    want = np.stack(
        [
            np.asarray(Image.fromarray(a[..., c].astype(np.float32), mode="F").resize((57, 57), Image.BICUBIC))
            for c in range(3)
        ],
        -1,
    ).clip(0, 255)
    np.testing.assert_allclose(got, want, atol=1e-4)
    bilinear = np.stack(
        [
            np.asarray(Image.fromarray(a[..., c].astype(np.float32), mode="F").resize((57, 57), Image.BILINEAR))
            for c in range(3)
        ],
        -1,
    )
    assert np.abs(got - bilinear).max() > 5


def test_chamfer_charges_extra_and_missing_strokes_alike():
    a = np.zeros((32, 32), bool)
    a[10, 4:28] = True  # one stroke
    extra = a.copy()
    extra[22, 4:28] = True  # the same plus a stroke 12 px away
    assert chamfer(a, extra) == chamfer(extra, a) > 0  # symmetric: the extra stroke costs
    # C = 1/2 (0 + mean over extra's pixels of their distance to a) = 1/2 * (24 * 0 + 24 * 12) / 48 = 3
    assert chamfer(a, extra) == pytest.approx(3.0)
    missing = a.copy()
    missing[10, 16:28] = False  # half the stroke missing
    assert chamfer(a, missing) > 0 and chamfer(missing, a) == chamfer(a, missing)


def test_kid_subset_size_reaches_the_computation(sets, tmp_path):
    v8, p8 = compute_metrics(["kid"], ctx_for(sets["shift30"], sets["reals"], tmp_path, kid_subset_size=8))
    v20, p20 = compute_metrics(["kid"], ctx_for(sets["shift30"], sets["reals"], tmp_path, kid_subset_size=20))
    assert p8["fidelity"]["kid_subset_size"] == 8 and p20["fidelity"]["kid_subset_size"] == 20
    assert v8["kid_mean"] != v20["kid_mean"] and v8["kid_std"] > v20["kid_std"]  # smaller subsets: noisier


def test_truncation_reaches_the_samples(tmp_path):
    """write_samples with psi 0.5 pulls every sample toward the mean image; psi 1 does not."""
    from pipeline.nets.stylegan2 import Generator
    from pipeline.sample import write_samples

    torch.manual_seed(0)
    G = Generator(size=16, style_dim=16, n_mlp=2, channel_base=128, channel_max=16).eval()
    for psi in (1.0, 0.5):
        write_samples(G, tmp_path / str(psi), 12, seed=3, batch=6, truncation=psi)
    full = load_images(sorted((tmp_path / "1.0").glob("*.png")))
    half = load_images(sorted((tmp_path / "0.5").glob("*.png")))
    assert not torch.equal(full, half)
    assert half.std(0).mean() < 0.8 * full.std(0).mean()  # less spread across samples


def test_load_images_maps_black_and_white_to_minus_one_and_one(tmp_path):
    arr = np.zeros((4, 6, 3), np.uint8)
    arr[:, 3:] = 255
    arr[0, 0] = (128, 64, 191)
    Image.fromarray(arr).save(tmp_path / "a.png")
    x = load_images([tmp_path / "a.png"])
    assert x.shape == (1, 3, 4, 6) and x.dtype == torch.float32
    assert x[0, :, 1, 1].tolist() == [-1.0, -1.0, -1.0] and x[0, :, 1, 4].tolist() == [1.0, 1.0, 1.0]
    assert x[0, :, 0, 0].tolist() == pytest.approx([128 / 127.5 - 1, 64 / 127.5 - 1, 191 / 127.5 - 1], abs=1e-7)


def test_stroke_mask_refuses_anything_but_one_channel_batches():
    from pipeline.metrics.sketch_fidelity import stroke_mask

    for bad in (torch.zeros(2, 3, 8, 8), torch.zeros(1, 8, 8), torch.zeros(8, 8)):
        with pytest.raises(
            ValueError, match=r"sketches must be \[B, 1, H, W\], got " + re.escape(str(tuple(bad.shape)))
        ):
            stroke_mask(bad)


def test_nearest_chamfer_after_a_fake_without_strokes():
    """An empty fake gets the diagonal and index -1; the fakes after it are still measured."""
    sketch = np.zeros((1, 16, 16), bool)
    sketch[0, 4:12, 8] = True
    other = np.zeros((16, 16), bool)
    other[8, 2:14] = True
    fakes = np.stack([np.zeros((16, 16), bool), sketch[0], other])
    d, idx = nearest_chamfer(fakes, sketch)
    assert idx.tolist() == [-1, 0, 0]
    assert d[0] == pytest.approx(math.hypot(16, 16)) and d[1] == 0.0
    assert d[2] == pytest.approx(chamfer(other, sketch[0]), rel=1e-9) and d[2] > 0


def test_inception_weights_provenance_names_torch_fidelitys_url(tmp_path):
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    from pipeline.metrics.fidelity import _weights_provenance

    ctx = EvalContext(fakes_dir=tmp_path, feature_extractor="inception-v3-compat")
    assert _weights_provenance(ctx)["weights"] == URL_INCEPTION_V3
    other = EvalContext(fakes_dir=tmp_path, feature_extractor="some-extractor")
    assert _weights_provenance(other) == {"weights": "torch-fidelity default", "weights_sha256": None}
    local = tmp_path / "w.pth"
    local.write_bytes(b"weights")
    ctx = EvalContext(fakes_dir=tmp_path, feature_extractor="inception-v3-compat", feature_weights_path=local)
    assert _weights_provenance(ctx) == {"weights": str(local), "weights_sha256": hashlib.sha256(b"weights").hexdigest()}


def test_clip_score_definition_states_the_prompt_text_used():
    from pipeline.metrics.clip_score import definition

    assert "the prompt as written" in definition("none")
    assert "79 ImageNet templates" in definition("imagenet") and "as written" not in definition("imagenet")


def test_list_images_keeps_image_files_only(tmp_path):
    from pipeline.metrics import list_images

    for name in ("b.png", "a.JPG", "sub/c.jpeg", "notes.txt", "sub/data.npz"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "folder.png").mkdir()  # a folder named like an image is not one
    assert [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)] == ["a.JPG", "b.png", "sub/c.jpeg"]


def test_cached_inception_weights_are_digested(tmp_path, monkeypatch):
    """torch-fidelity keeps its Inception in <torch hub>/checkpoints/<URL's file name>: the provenance
    records that file's sha256."""
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    from pipeline.metrics.fidelity import _weights_provenance

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    ctx = EvalContext(fakes_dir=tmp_path, feature_extractor="inception-v3-compat")
    assert _weights_provenance(ctx)["weights_sha256"] is None  # not downloaded yet
    cached = tmp_path / "hub" / "checkpoints" / URL_INCEPTION_V3.rsplit("/", 1)[-1]
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"inception")
    assert _weights_provenance(ctx)["weights_sha256"] == hashlib.sha256(b"inception").hexdigest()


def test_demo_extractor_names_what_it_got():
    with pytest.raises(ValueError, match=r"demo-tiny expects uint8 \[B,3,H,W\], got torch.float32 \(2, 3, 8, 8\)"):
        DemoTinyExtractor("demo-tiny", ["64"])(torch.zeros(2, 3, 8, 8))


def test_register_metric_needs_a_name():
    from pipeline.metrics import register_metric

    with pytest.raises(ValueError, match="register_metric needs at least one metric name"):
        register_metric()


def test_weights_provenance_of_the_demo_extractor_and_of_a_missing_file(tmp_path):
    from pipeline.metrics.fidelity import DEMO_EXTRACTOR, _weights_provenance, demo_extractor_digest

    demo = EvalContext(fakes_dir=tmp_path, feature_extractor=DEMO_EXTRACTOR)
    assert _weights_provenance(demo) == {"weights": "seeded random (demo)", "weights_sha256": demo_extractor_digest()}
    gone = tmp_path / "oracle.pth"
    ctx = EvalContext(fakes_dir=tmp_path, feature_extractor="toy-oracle", feature_weights_path=gone)
    with pytest.raises(ValueError, match=rf"evaluate.feature_weights_path '{gone}' does not exist"):
        _weights_provenance(ctx)


def test_demo_extractor_names_a_non_tensor_input():
    with pytest.raises(ValueError, match=r"demo-tiny expects uint8 \[B,3,H,W\], got <class 'list'> \(\)$"):
        DemoTinyExtractor("demo-tiny", ["64"])([1, 2])


def test_chamfer_against_an_empty_sketch_is_the_image_diagonal():
    one = np.zeros((12, 16), bool)
    one[3, 4] = True
    empty = np.zeros_like(one)
    assert chamfer(one, empty) == chamfer(empty, one) == pytest.approx(20.0)  # hypot(12, 16)
    assert chamfer(empty, empty) == 0.0


def test_list_images_names_a_missing_folder():
    from pipeline.metrics import list_images

    with pytest.raises(ValueError, match=r"^image folder 'None' does not exist$"):
        list_images(None)
    with pytest.raises(ValueError, match=r"^evaluation photos '/no/such/dir' does not exist$"):
        list_images(Path("/no/such/dir"), "evaluation photos")


def test_stroke_masks_are_resized_with_antialiasing():
    """Sketches of another size are resized as the sketch extractor's outputs are (antialiased
    bilinear), then thresholded at 0: a plain bilinear resize would keep other pixels."""
    from pipeline.metrics.sketch_fidelity import stroke_mask

    g = torch.Generator().manual_seed(0)
    sketch = torch.where(torch.rand(2, 1, 64, 64, generator=g) < 0.4, -1.0, 1.0)
    F = torch.nn.functional
    want = (F.interpolate(sketch, size=(16, 16), mode="bilinear", align_corners=False, antialias=True) < 0)[:, 0]
    plain = (F.interpolate(sketch, size=(16, 16), mode="bilinear", align_corners=False) < 0)[:, 0]
    mask = stroke_mask(sketch, (16, 16))
    assert np.array_equal(mask, want.numpy()) and (want != plain).sum() > 20


def test_the_number_of_kid_subsets_reaches_the_computation(sets, tmp_path):
    """KID is averaged over `kid_subsets` random subsets: one subset has no spread (std 0), and two
    different counts give different means from the same seed."""
    one, _ = compute_metrics(["kid"], ctx_for(sets["shift30"], sets["reals"], tmp_path, kid_subsets=1))
    many, _ = compute_metrics(["kid"], ctx_for(sets["shift30"], sets["reals"], tmp_path, kid_subsets=50))
    assert one["kid_std"] == 0.0 and many["kid_std"] > 0.0
    assert one["kid_mean"] != many["kid_mean"]


class NoisyLinearG(LinearG):
    """LinearG plus one noise input added to the image: fresh N(0, 1) when none is given."""

    def stored_noise(self):
        return [torch.zeros(1, 3, 4, 4)]

    def synthesis(self, wplus, noise=None, content=None):
        n = noise[0] if noise is not None else torch.randn(wplus.shape[0], 3, 4, 4)
        return super().synthesis(wplus) + n


def test_ppl_renders_both_ends_of_a_pair_with_the_same_noise():
    """rosinality's ppl.py: one noise draw per pair, so the noise cancels in d(G(w_a), G(w_b)) and
    the length is that of the noiseless generator (fresh noise per image would add 2 / eps^2 = 2e8)."""
    from types import SimpleNamespace

    from pipeline.metrics.ppl import path_lengths

    G = NoisyLinearG()
    mse = lambda x, y: (x - y).pow(2).flatten(1).mean(1)  # noqa: E731
    lengths = path_lengths(SimpleNamespace(G=G, content=None), mse, n=2000, batch=100)
    want = 2 * G.A.pow(2).sum().item() / G.A.shape[0]
    assert np.mean(lengths) == pytest.approx(want, rel=0.1)


def test_eval_context_takes_folders_as_strings(tmp_path):
    ctx = EvalContext(fakes_dir=str(tmp_path), reals_dir=str(tmp_path / "r"), cache_dir=str(tmp_path / "c"))
    assert ctx.fakes_dir == tmp_path and ctx.reals_dir == tmp_path / "r" and ctx.cache_dir == tmp_path / "c"


def test_metric_samples_draw_each_layers_noise_independently(tmp_path):
    """The protocol's random noise (reference spec §1.7): every noise input of every sample is its own
    N(0, I) draw, the same whatever the batch size. Layers 1 and 2 (8x8) and 3 and 4 (16x16) share a
    shape, so a shared seed would make them equal (correlation 1); independent draws correlate ~0."""
    from pipeline.nets.stylegan2 import Generator
    from pipeline.sample import Sampler, write_samples

    class Recorder(Sampler):
        def __init__(self, G):
            super().__init__(G)
            self.noise = []

        def __call__(self, z, noise, z_content=None, truncation=1.0, mean_w=None):
            self.noise.append([n.clone() for n in noise])
            return torch.zeros(len(z), 3, 16, 16)

    torch.manual_seed(0)
    G = Generator(size=16, style_dim=16, n_mlp=2, channel_base=128, channel_max=16).eval()
    runs = {}
    for batch in (6, 4):
        rec = Recorder(G)
        write_samples(rec, tmp_path / str(batch), 12, seed=3, batch=batch)
        runs[batch] = [torch.cat([step[k] for step in rec.noise]) for k in range(G.num_layers)]  # [12, 1, r, r]
    noise = runs[6]
    assert [tuple(n.shape) for n in noise] == [
        (12, 1, 4, 4),
        (12, 1, 8, 8),
        (12, 1, 8, 8),
        (12, 1, 16, 16),
        (12, 1, 16, 16),
    ]
    for a, b in zip(runs[6], runs[4]):
        assert torch.equal(a, b)  # sample k's noise does not depend on the batch size
    for n in noise:
        assert abs(n.mean().item()) < 0.2 and 0.8 < n.std().item() < 1.2
        assert not torch.equal(n[0], n[1])  # each sample its own draw
    for i, j in ((1, 2), (3, 4)):
        corr = torch.corrcoef(torch.stack([noise[i].flatten(), noise[j].flatten()]))[0, 1].item()
        assert abs(corr) < 0.2, (i, j, corr)


def test_toy_ppl_distance_is_the_squared_distance_of_unit_features():
    """The toy world's LPIPS stand-in: d(x, y) = ||f(x)/|f(x)| - f(y)/|f(y)|||^2 (squared, as LPIPS is a
    sum of squared feature differences), on a stand-in oracle whose features are known."""
    from pipeline.metrics.ppl import toy_oracle_distance

    class Oracle:
        def embed(self, x):
            return x.flatten(1)[:, :2]

    x = torch.tensor([[3.0, 4.0], [1.0, 0.0]]).reshape(2, 2, 1, 1)
    y = torch.tensor([[4.0, 3.0], [0.0, 2.0]]).reshape(2, 2, 1, 1)
    d = toy_oracle_distance(Oracle())(x, y)
    # unit vectors (0.6, 0.8) vs (0.8, 0.6): 0.04 + 0.04; (1, 0) vs (0, 1): 1 + 1
    torch.testing.assert_close(d, torch.tensor([0.08, 2.0]))


def test_the_truncation_centre_is_the_mean_w():
    """Generator.mean_latent: the mean of mapping(z) over n seeded z (StyleGAN's w_avg), not the mapping of
    the mean z; the two differ for a non-linear mapping network."""
    from pipeline.nets.stylegan2 import Generator

    torch.manual_seed(0)
    G = Generator(size=16, style_dim=16, n_mlp=2, channel_base=128, channel_max=16).eval()
    with torch.no_grad():
        got = G.mean_latent(2000, torch.Generator().manual_seed(4))
        z = torch.randn(2000, 16, generator=torch.Generator().manual_seed(4))
        torch.testing.assert_close(got, G.mapping(z).mean(0, keepdim=True))
        assert (got - G.mapping(z.mean(0, keepdim=True))).abs().max().item() > 1e-3


def test_chamfer_names_both_shapes_when_they_differ():
    from pipeline.metrics.sketch_fidelity import chamfer

    with pytest.raises(ValueError, match=r"stroke masks differ in shape: \(8, 8\) vs \(8, 9\)"):
        chamfer(np.zeros((8, 8), bool), np.zeros((8, 9), bool))


def test_kid_reports_its_mean_and_its_spread_apart(sets, tmp_path):
    """KID's mean grows with the distance between the sets and stands well above its spread over subsets
    for a clearly shifted set; a byte-identical copy scores about 0."""
    got = {
        name: compute_metrics(["kid"], ctx_for(sets[name], sets["reals"], tmp_path / name, kid_subsets=50))[0]
        for name in ("same", "shift30", "far")
    }
    assert got["far"]["kid_mean"] > got["shift30"]["kid_mean"] > abs(got["same"]["kid_mean"])
    for name in ("shift30", "far"):
        assert got[name]["kid_mean"] > 20 * got[name]["kid_std"], got[name]  # 70x and 1,700x here
