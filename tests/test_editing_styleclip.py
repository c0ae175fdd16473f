"""StyleCLIP editing (pipeline/editing/{latent_opt,mapper,global_directions}.py) on a tiny seeded
generator and the demo CLIP: identities at alpha = 0 / zero mapper output, relevance shapes and
cache, loss decrease of latent optimization and mapper training, the lr schedule."""

from __future__ import annotations

import math

import pytest
import torch
from tiny import noisy_copy

from pipeline.editing import global_directions as gd
from pipeline.editing.latent_opt import latent_optimization, lr_schedule
from pipeline.editing.mapper import LevelsMapper, train_mapper, wplus_sampler
from pipeline.nets.clip import DEMO_CLIP, build_clip
from pipeline.nets.stylegan2 import Generator

pytestmark = pytest.mark.usefixtures("one_thread")

PROMPT = "a photo of a black cat"


@pytest.fixture(scope="module")
def G():
    torch.manual_seed(0)
    return Generator(size=16, style_dim=16, n_mlp=2, channel_base=128, channel_max=16).eval()


@pytest.fixture(scope="module")
def clip():
    return build_clip(DEMO_CLIP, None)


@pytest.fixture(scope="module")
def wplus(G):
    z = torch.randn(2, G.style_dim, generator=torch.Generator().manual_seed(1))
    return G.make_wplus([z]).detach()


@pytest.fixture(scope="module")
def stats(G):
    return gd.style_stats(G, n=256, seed=0)


@pytest.fixture(scope="module")
def relevance(G, clip, stats):
    return gd.channel_relevance(G, clip, n_images=2, seed=0, stats=stats)


def no_grads(*modules) -> bool:
    return all(p.grad is None for m in modules for p in m.parameters())


# ----------------------------------------------------------------------------
# Latent optimization


def test_lr_schedule_hand_values():
    lr = 0.1
    assert lr_schedule(0.0, lr) == 0.0  # rampup starts at 0
    assert lr_schedule(0.025, lr) == pytest.approx(0.05, abs=1e-12)  # half-way up the 5% rampup
    assert lr_schedule(0.5, lr) == pytest.approx(0.1, abs=1e-12)  # plateau
    # (1 - 0.9) / 0.25 = 0.4 -> 0.5 - 0.5 cos(0.4 pi) = 0.3454915...
    assert lr_schedule(0.9, lr) == pytest.approx(0.1 * (0.5 - 0.5 * math.cos(0.4 * math.pi)), abs=1e-12)
    assert lr_schedule(0.9, lr) == pytest.approx(0.034549150281, abs=1e-11)
    assert lr_schedule(1.0, lr) == pytest.approx(0.0, abs=1e-15)


def test_latent_optimization_lowers_loss(G, clip, wplus):
    w0 = wplus[:1]
    w, hist = latent_optimization(G, clip, PROMPT, w0, steps=40)
    assert w.shape == w0.shape and not w.requires_grad
    assert len(hist) == 40
    assert [h["lr"] for h in hist] == [lr_schedule(i / 40, 0.1) for i in range(40)]
    # at the start code the L2 and identity terms vanish
    assert hist[0]["l2"] == 0.0 and hist[0]["id"] == pytest.approx(0.0, abs=1e-5)
    losses = [h["loss"] for h in hist]
    q = len(losses) // 4
    assert sum(losses[-q:]) / q < sum(losses[:q]) / q
    assert losses[-1] < losses[0]
    assert not torch.equal(w, w0)
    assert no_grads(G, clip)  # frozen: nothing accumulated


def test_latent_optimization_first_step_has_zero_lr(G, clip, wplus):
    # lr(t = 0) = 0, so one step returns the start code bit for bit; a [B, D] w is broadcast to W+
    w, hist = latent_optimization(G, clip, PROMPT, wplus[:, 0], steps=1, lambda_id=0.1)
    assert torch.equal(w, wplus)
    assert hist[0]["lr"] == 0.0


# ----------------------------------------------------------------------------
# Latent mapper


def test_zero_mapper_output_is_identity_edit(G, wplus):
    noise = G.stored_noise()
    mapper = LevelsMapper(G.n_latent, G.style_dim, zero_init=True)
    assert torch.equal(mapper(wplus), torch.zeros_like(wplus))
    edited = mapper.edit(wplus)
    assert torch.equal(edited, wplus)
    with torch.no_grad():
        assert torch.equal(G.synthesis(edited, noise=noise), G.synthesis(wplus, noise=noise))
    # zeroing a randomly initialized mapper's last layers has the same effect
    random = LevelsMapper(G.n_latent, G.style_dim)
    assert not torch.equal(random(wplus), torch.zeros_like(wplus))
    for m in random.mappers.values():
        m.zero_last()
    assert torch.equal(random.edit(wplus), wplus)


def test_mapper_groups(G, wplus):
    # size 16 -> 6 W+ rows: coarse 0-3, medium 4-5, no fine rows (so no fine mapper)
    m = LevelsMapper(G.n_latent, G.style_dim)
    assert set(m.mappers) == {"coarse", "medium"}
    coarse_only = LevelsMapper(G.n_latent, G.style_dim, use=("coarse",))
    out = coarse_only(wplus)
    assert out.shape == wplus.shape
    assert torch.equal(out[:, 4:], torch.zeros_like(out[:, 4:]))
    assert (out[:, :4] != 0).any()
    with pytest.raises(ValueError):
        LevelsMapper(G.n_latent, G.style_dim, use=("fine",))  # covers no rows here
    with pytest.raises(ValueError, match=r"use must be a non-empty subset of \('coarse', 'medium', 'fine'\)"):
        LevelsMapper(G.n_latent, G.style_dim, use=("nose",))
    with pytest.raises(ValueError, match=r"row groups overlap: .*'coarse': \(0, 4\), 'medium': \(2, 6\)"):
        LevelsMapper(G.n_latent, G.style_dim, medium=(2, 8))
    with pytest.raises(ValueError, match=r"medium rows must be 0 <= start <= stop, got \(5, 4\)"):
        LevelsMapper(G.n_latent, G.style_dim, medium=(5, 4))


def test_wplus_sampler_is_seeded(G):
    a, b = wplus_sampler(G, seed=3, n_mean=64), wplus_sampler(G, seed=3, n_mean=64)
    x = a(2)
    assert x.shape == (2, G.n_latent, G.style_dim)
    assert torch.equal(x, b(2)) and not torch.equal(a(2), x)


def test_mapper_training_lowers_loss(G, clip):
    fixed = wplus_sampler(G, seed=0, n_mean=256)(2)
    torch.manual_seed(1)
    mapper, hist = train_mapper(G, clip, PROMPT, lambda b: fixed[:b], steps=30, batch=2)
    losses = [h["loss"] for h in hist]
    assert len(losses) == 30
    k = 8
    assert sum(losses[-k:]) / k < sum(losses[:k]) / k
    assert not mapper.training
    assert no_grads(G, clip)


# ----------------------------------------------------------------------------
# Global directions


def test_relevance_shapes_and_unit_norms(G, clip, relevance):
    layers = G.style_layers()
    rgb = gd.torgb_layers(G)
    assert rgb == [1, 4, 7]  # to_rgb1, to_rgbs.0, to_rgbs.1
    assert len(relevance) == len(layers)
    dim = clip.encode_text(["x"]).shape[1]
    for i, (r, (_, conv)) in enumerate(zip(relevance, layers)):
        assert r.shape == (conv.in_ch, dim)
        if i in rgb:
            assert torch.equal(r, torch.zeros_like(r))
        else:
            assert torch.allclose(r.norm(dim=1), torch.ones(conv.in_ch), atol=1e-5)


def test_alpha_zero_is_bit_identical(G, clip, wplus, relevance, stats):
    noise = G.stored_noise()
    dt = gd.text_direction(clip, "a cat", "a black cat")
    delta = gd.global_direction(relevance, dt, beta=0.0, std=stats[1])
    assert gd.active_channels(delta) > 0
    with torch.no_grad():
        s = G.wplus_to_s(wplus)
        plain = G.synthesis(wplus, noise=noise)
        assert torch.equal(G.synthesis(None, noise=noise, s=s), plain)
        edited0 = G.synthesis(None, noise=noise, s=gd.apply_direction(s, delta, 0.0))
        assert torch.equal(edited0, plain)
        edited = G.synthesis(None, noise=noise, s=gd.apply_direction(s, delta, 4.1))
        assert not torch.allclose(edited, plain)


def test_beta_threshold(G, clip, relevance, stats):
    dt = gd.text_direction(clip, "a cat", "a black cat")
    R = torch.cat([r @ dt for r in relevance])
    peak = R.abs().max().item()
    assert 0 < peak <= 1
    zero = gd.global_direction(relevance, dt, beta=peak + 1e-4, std=stats[1])
    assert gd.active_channels(zero) == 0
    assert all(torch.equal(d, torch.zeros_like(d)) for d in zero)
    # just below the peak exactly the top channel survives, scaled to 1 (times its std)
    top = gd.global_direction(relevance, dt, beta=peak - 1e-6)
    assert gd.active_channels(top) == 1
    assert torch.cat(top).abs().max().item() == pytest.approx(1.0)
    # with std: R / max|R| * std, channel by channel
    full = gd.global_direction(relevance, dt, beta=0.0, std=stats[1])
    for d, r, sd in zip(full, relevance, stats[1]):
        assert torch.allclose(d, (r @ dt) / peak * sd, atol=1e-6)
    # ToRGB channels never move
    assert all(not full[i].any() for i in gd.torgb_layers(G))
    # statistics of another generator (another layer count) are refused, naming both counts
    with pytest.raises(ValueError, match=f"std has {len(stats[1]) - 1} layers, relevance {len(relevance)}"):
        gd.global_direction(relevance, dt, beta=0.0, std=stats[1][:-1])


def test_relevance_cache_reused(G, clip, stats, relevance, tmp_path, monkeypatch):
    calls = []
    real = gd.render_s

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(gd, "render_s", counting)
    first = gd.channel_relevance(G, clip, n_images=2, seed=0, stats=stats, cache_path=tmp_path)
    n_first = len(calls)
    assert n_first > 0
    assert len(list(tmp_path.glob("relevance-*.pt"))) == 1
    assert all(torch.equal(a, b) for a, b in zip(first, relevance))  # same numbers as uncached
    second = gd.channel_relevance(G, clip, n_images=2, seed=0, stats=stats, cache_path=tmp_path)
    assert len(calls) == n_first  # loaded, nothing rendered
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    # other settings -> another key -> computed again, into its own file
    gd.channel_relevance(G, clip, n_images=2, seed=0, stats=stats, cache_path=tmp_path, layers=[0])
    assert len(calls) > n_first
    assert len(list(tmp_path.glob("relevance-*.pt"))) == 2
    # an explicit file path whose stored key does not match is recomputed and overwritten
    f = tmp_path / "rel.pt"
    gd.channel_relevance(G, clip, n_images=2, seed=0, stats=stats, cache_path=f, layers=[0])
    n = len(calls)
    gd.channel_relevance(G, clip, n_images=2, seed=0, stats=stats, cache_path=f, layers=[0, 2])
    assert len(calls) > n
    n = len(calls)
    gd.channel_relevance(G, clip, n_images=2, seed=0, stats=stats, cache_path=f, layers=[0, 2])
    assert len(calls) == n


def test_style_stats_match_direct_computation(G):
    mean, std = gd.style_stats(G, n=64, seed=5, batch=24)  # uneven batches
    with torch.no_grad():
        w = G.mapping(torch.randn(64, G.style_dim, generator=torch.Generator().manual_seed(5)))
        s = G.wplus_to_s(w[:, None].expand(-1, G.n_latent, -1))
    assert len(mean) == len(std) == len(G.style_layers())
    for m, sd, x in zip(mean, std, s):
        assert torch.allclose(m, x.mean(0), atol=1e-5)
        assert torch.allclose(sd, x.std(0, unbiased=False), atol=1e-5)


# ----------------------------------------------------------------------------
# Each term of the editing losses, computed here from its formula


def _embed(clip, G, w):
    with torch.no_grad():
        return clip.encode_image(G.synthesis(w, noise=G.stored_noise()))


def test_latent_optimization_terms_and_their_weights(G, clip, wplus):
    """history[i] is evaluated at the code before step i: recompute CLIP, L2 and identity from the
    codes the callback saw, and the total from the weights; a zero weight removes its term."""
    from pipeline.nets.clip import RAW

    seen = []
    _, hist = latent_optimization(
        G,
        clip,
        PROMPT,
        wplus,
        steps=4,
        lr=0.05,
        lambda_l2=0.3,
        lambda_id=0.7,
        callback=lambda i, w: seen.append(w.clone()),
    )
    text = clip.embed_prompt(PROMPT, RAW)
    start = _embed(clip, G, wplus)
    for i in (1, 2, 3):
        w = seen[i - 1]
        emb = _embed(clip, G, w)
        l_clip = (1 - torch.nn.functional.cosine_similarity(emb, text[None], dim=-1)).mean().item()
        l_l2 = (w - wplus).pow(2).flatten(1).sum(1).mean().item()
        l_id = (1 - torch.nn.functional.cosine_similarity(emb, start, dim=-1)).mean().item()
        h = hist[i]
        assert (h["clip"], h["l2"], h["id"]) == pytest.approx((l_clip, l_l2, l_id), rel=1e-4, abs=1e-6)
        assert h["loss"] == pytest.approx(l_clip + 0.3 * l_l2 + 0.7 * l_id, rel=1e-5)
    assert hist[0]["l2"] == 0 and hist[0]["id"] == pytest.approx(0, abs=1e-6)
    a, b, c = (
        latent_optimization(G, clip, PROMPT, wplus, steps=6, lr=0.05, **k)[0]
        for k in (
            {"lambda_l2": 0.0, "lambda_id": 0.0},
            {"lambda_l2": 1.0, "lambda_id": 0.0},
            {"lambda_l2": 0.0, "lambda_id": 5.0},
        )
    )
    assert not torch.equal(a, b) and not torch.equal(a, c)  # each weight changes the result
    # L2 pulls toward the start: the run with it ends nearer w_s than the run without
    assert (b - wplus).norm() < (a - wplus).norm()
    _, plain = latent_optimization(G, clip, PROMPT, wplus, steps=2, lr=0.05, lambda_l2=0.0, lambda_id=0.0)
    assert all(h["loss"] == pytest.approx(h["clip"], abs=1e-7) for h in plain)  # zero weights: no term


def test_mapper_terms_and_their_weights(G, clip):
    """history[0] is the initial mapper's batch: recompute L_clip, MSE(w', w) and the identity term."""
    import copy

    from pipeline.nets.clip import RAW

    torch.manual_seed(3)
    m = LevelsMapper(G.n_latent, G.style_dim)
    m0 = copy.deepcopy(m)
    sampler = wplus_sampler(G, 0.7, seed=5)
    w = wplus_sampler(G, 0.7, seed=5)(2)  # the same first batch
    _, hist = train_mapper(
        G, clip, PROMPT, sampler, steps=2, batch=2, lr=0.01, mapper=m, lambda_clip=1.0, lambda_l2=0.8, lambda_id=0.1
    )
    with torch.no_grad():
        w_hat = m0.edit(w)
        emb, src = _embed(clip, G, w_hat), _embed(clip, G, w)
        text = clip.embed_prompt(PROMPT, RAW)
        l_clip = (1 - torch.nn.functional.cosine_similarity(emb, text[None], dim=-1)).mean().item()
        l_l2 = (w_hat - w).pow(2).mean().item()
        l_id = (1 - torch.nn.functional.cosine_similarity(emb, src, dim=-1)).mean().item()
    h = hist[0]
    assert (h["clip"], h["l2"], h["id"]) == pytest.approx((l_clip, l_l2, l_id), rel=1e-4, abs=1e-7)
    assert h["loss"] == pytest.approx(l_clip + 0.8 * l_l2 + 0.1 * l_id, rel=1e-5)
    assert l_l2 > 0  # the mapper's 0.1 M(w) is not zero
    outs = []
    for weights in (
        {"lambda_l2": 0.8, "lambda_id": 0.1},
        {"lambda_l2": 0.0, "lambda_id": 0.1},
        {"lambda_l2": 0.8, "lambda_id": 0.0},
    ):
        mm = copy.deepcopy(m0)
        train_mapper(G, clip, PROMPT, wplus_sampler(G, 0.7, seed=5), steps=3, batch=2, lr=0.01, mapper=mm, **weights)
        outs.append(mm.edit(w).detach())
    assert not torch.equal(outs[0], outs[1]) and not torch.equal(outs[0], outs[2])


def test_generator_digest_covers_the_config_not_only_the_weights():
    """Same weights, another mapping lr multiplier (which scales the weights at run time): another
    generator, so another relevance-cache entry."""
    torch.manual_seed(0)
    a = Generator(size=16, style_dim=16, n_mlp=2, channel_base=128, channel_max=16, lr_mlp=0.01)
    b = Generator(size=16, style_dim=16, n_mlp=2, channel_base=128, channel_max=16, lr_mlp=0.1)
    b.load_state_dict(a.state_dict())
    assert gd.generator_digest(a) != gd.generator_digest(b)
    c = Generator(size=16, style_dim=16, n_mlp=2, channel_base=128, channel_max=16, lr_mlp=0.01)
    c.load_state_dict(a.state_dict())
    assert gd.generator_digest(a) == gd.generator_digest(c)


def test_prompt_embedding_of_a_ready_embedding_is_unit_length(clip):
    from pipeline.editing.latent_opt import prompt_embedding

    e = torch.tensor([3.0, 4.0] + [0.0] * (clip.embed_prompt("x").numel() - 2))
    out = prompt_embedding(clip, e)
    assert out.norm().item() == pytest.approx(1.0) and out[:2].tolist() == pytest.approx([0.6, 0.8])


def test_mapper_training_renders_with_the_noise_it_is_given(G, clip):
    """noise=None uses G's stored noise; given noise maps are the ones rendered (so the same maps give
    the same run, other maps another)."""
    G = noisy_copy(G)
    fixed = wplus_sampler(G, seed=0, n_mean=256)(2)
    stored = [n.clone() for n in G.stored_noise()]
    other = [torch.randn(n.shape, generator=torch.Generator().manual_seed(i)) for i, n in enumerate(stored)]

    def run(noise):
        torch.manual_seed(1)
        _, hist = train_mapper(G, clip, PROMPT, lambda b: fixed[:b], steps=3, batch=2, noise=noise)
        return [h["loss"] for h in hist]

    assert run(None) == run(stored)
    assert run(other) != run(stored)


def test_latent_optimization_history_and_progress_lines(G, clip, wplus, capsys):
    """history[i] is step i; with progress on, about ten lines: every steps // 10 steps and the last."""
    _, hist = latent_optimization(G, clip, PROMPT, wplus[:1], steps=25, progress=True)
    assert [h["step"] for h in hist] == list(range(25))
    lines = [s for s in capsys.readouterr().out.splitlines() if s.startswith("latent_opt ")]
    assert [int(s.split()[1].split("/")[0]) for s in lines] == [*range(1, 26, 2)]


def test_latent_optimization_refuses_a_start_code_of_the_wrong_shape(G, clip):
    bad = torch.zeros(1, G.n_latent + 1, G.style_dim)
    with pytest.raises(ValueError, match=rf"w_start must be \[B, {G.n_latent}, {G.style_dim}\]"):
        latent_optimization(G, clip, PROMPT, bad, steps=1)


def test_mapper_refuses_codes_that_are_not_this_generators_wplus(G):
    mapper = LevelsMapper(G.n_latent, G.style_dim)
    with pytest.raises(ValueError, match=rf"expected W\+ \[B, {G.n_latent}, {G.style_dim}\], got \[2, {G.style_dim}\]"):
        mapper(torch.zeros(2, G.style_dim))


def test_prompt_embedding_of_a_short_embedding_is_stretched_to_unit_length(clip):
    from pipeline.editing.latent_opt import prompt_embedding

    e = torch.zeros(clip.embed_prompt("x").numel())
    e[:2] = torch.tensor([0.003, 0.004])
    assert prompt_embedding(clip, e)[:2].tolist() == pytest.approx([0.6, 0.8])


def test_mapper_edit_adds_a_tenth_of_the_mapper_output(G, wplus):
    """StyleCLIP's mapper step: w' = w + 0.1 M(w)."""
    torch.manual_seed(3)
    mapper = LevelsMapper(G.n_latent, G.style_dim, zero_init=False)
    with torch.no_grad():
        out = mapper(wplus)
        assert out.abs().max() > 0.01
        torch.testing.assert_close(mapper.edit(wplus), wplus + 0.1 * out)


def test_latent_optimization_renders_with_the_noise_it_is_given(G, clip, wplus):
    """With noise that matters, the same given noise maps give the same run, other maps another,
    and noise=None means G's stored maps."""
    G = noisy_copy(G)
    gen = torch.Generator().manual_seed(6)
    noise = [torch.randn(n.shape, generator=gen) for n in G.stored_noise()]
    run = lambda nz: latent_optimization(G, clip, PROMPT, wplus[:1], steps=4, lambda_id=0.1, noise=nz)[0]  # noqa: E731
    a, b, c = run(noise), run(noise), run([n.clone() for n in G.stored_noise()])
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(c, run(None))


def test_mapper_groups_must_be_ordered_row_ranges(G):
    with pytest.raises(ValueError, match=r"^medium rows must be 0 <= start <= stop, got \(3, 2\)$"):
        LevelsMapper(G.n_latent, G.style_dim, medium=(3, 2))


def test_zero_init_zeroes_the_last_layer_only(G):
    """The untrained mapper is an exact identity edit because its *last* layer is 0; the others keep
    their random init, so the first step's gradient reaches every layer."""
    from pipeline.editing.mapper import Mapper

    torch.manual_seed(0)
    m = Mapper(G.style_dim).zero_last()
    layers = [layer for layer in m.net if hasattr(layer, "weight")]
    assert layers[-1].weight.abs().max() == 0 and layers[-1].bias.abs().max() == 0
    assert all(layer.weight.abs().min() > 0 for layer in layers[:-1])


def test_mapper_training_defaults_and_its_lr(G, clip):
    """StyleCLIP's mapper loss weights by default: loss = 1 * clip + 0.8 * l2 + 0.1 * id; and the lr
    given is Adam's (its first step moves every trained weight by about lr)."""
    fixed = wplus_sampler(G, seed=0, n_mean=256)(2)
    torch.manual_seed(0)
    start = LevelsMapper(G.n_latent, G.style_dim)
    before = [p.detach().clone() for p in start.parameters()]
    mapper, hist = train_mapper(G, clip, PROMPT, lambda b: fixed[:b], steps=1, batch=2, lr=0.003, mapper=start)
    h = hist[0]
    assert h["loss"] == pytest.approx(h["clip"] + 0.8 * h["l2"] + 0.1 * h["id"], rel=1e-5)
    steps = torch.cat([(p.detach() - b).abs().flatten() for p, b in zip(mapper.parameters(), before)])
    assert steps.max().item() == pytest.approx(0.003, rel=0.01)


def test_mapper_training_prints_its_last_step_too(G, clip, capsys):
    fixed = wplus_sampler(G, seed=0, n_mean=256)(2)
    train_mapper(G, clip, PROMPT, lambda b: fixed[:b], steps=32, batch=2, progress=True)
    lines = [s.split()[1] for s in capsys.readouterr().out.splitlines() if s.startswith("mapper ")]
    assert lines == [f"{i}/32" for i in (1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31, 32)]  # every 3, and the last


def test_mapper_groups_that_cover_no_rows_are_refused(G):
    with pytest.raises(ValueError, match=r"^the used groups \('fine',\) cover no W\+ rows of 6: "):
        LevelsMapper(G.n_latent, G.style_dim, use="fine")


def test_text_direction_points_from_the_neutral_to_the_target_prompt(clip):
    """StyleCLIP's GetDt: dt = normalize(E_T(target) - E_T(neutral)), each the re-normalized mean over
    the 79 templates; swapping the prompts flips it."""
    from pipeline.nets.clip import IMAGENET_TEMPLATES

    target, neutral = (
        clip.embed_prompt("a black cat", IMAGENET_TEMPLATES),
        clip.embed_prompt("a cat", IMAGENET_TEMPLATES),
    )
    want = (target - neutral) / (target - neutral).norm()
    dt = gd.text_direction(clip, "a cat", "a black cat")
    assert torch.allclose(dt, want, atol=1e-6)
    assert (dt @ target).item() > (dt @ neutral).item()
    assert torch.allclose(gd.text_direction(clip, "a black cat", "a cat"), -want, atol=1e-6)


def test_each_group_mapper_normalizes_its_rows_first():
    """StyleCLIP's Mapper starts with PixelNorm: a row and any positive multiple of it map alike."""
    from pipeline.editing.mapper import Mapper

    torch.manual_seed(0)
    m = Mapper(16, n_layers=2)
    w = torch.randn(3, 16)
    with torch.no_grad():
        torch.testing.assert_close(m(4.0 * w), m(w))
        assert (m(w) - m(w + 1.0)).abs().max().item() > 1e-3


def test_channel_relevance_is_the_clip_change_from_minus_to_plus_around_the_channel_mean(G, clip, stats):
    """StyleCLIP SingleChannel, for one channel by hand: set channel c of layer l to mean + 5 std and to
    mean - 5 std in every image's S code, CLIP-embed both renders, normalize each difference (plus minus
    minus), average over the images and normalize: that is relevance[l][c]. On a generator whose noise
    inputs matter, rendered with its stored noise."""
    G = noisy_copy(G, 0.5)
    layer, channels = 2, (0, 3)
    rel = gd.channel_relevance(G, clip, n_images=3, seed=4, layers=[layer], stats=stats)
    mean, std = stats
    g = torch.Generator().manual_seed(4 + 12345)  # the function's own z stream
    with torch.no_grad():
        w = G.mapping(torch.randn(3, G.style_dim, generator=g))
        s0 = G.wplus_to_s(w[:, None].expand(-1, G.n_latent, -1))
        for c in channels:
            emb = []
            for sign in (1.0, -1.0):
                s = [t.clone() for t in s0]
                s[layer][:, c] = mean[layer][c] + sign * 5.0 * std[layer][c]
                emb.append(clip.encode_image(gd.render_s(G, s, G.stored_noise()), normalize=True))
            want = torch.nn.functional.normalize(torch.nn.functional.normalize(emb[0] - emb[1], dim=-1).mean(0), dim=-1)
            torch.testing.assert_close(rel[layer][c], want.float(), atol=1e-4, rtol=0)
