"""The studio's live-edit session (pipeline/editing/session.py): each slider computes what the batch
editing tools compute, with the expensive parts computed once."""

from __future__ import annotations

import pytest
import torch

from pipeline.editing import ganspace as gs
from pipeline.editing import global_directions as gd
from pipeline.editing.session import EditSession
from pipeline.nets.clip import DEMO_CLIP, build_clip
from pipeline.nets.stylegan2 import Generator

pytestmark = pytest.mark.usefixtures("one_thread")


def gen(seed):
    torch.manual_seed(seed)
    return Generator(size=16, style_dim=16, n_mlp=2, channel_base=128, channel_max=16).eval()


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return EditSession(
        gen(0),
        build_clip(DEMO_CLIP, None),
        cache_dir=tmp_path_factory.mktemp("rel"),
        relevance_images=4,
        stats_n=256,
        ganspace_samples=512,
        ganspace_components=4,
    )


def test_sample_codes_are_seeded_and_render_deterministically(session):
    a, b = session.sample_w(3), session.sample_w(3)
    assert torch.equal(a, b) and not torch.equal(a, session.sample_w(4))
    assert torch.equal(session.render(a), session.render(a))
    assert not any(p.requires_grad for p in session.G.parameters())  # frozen: renders build no graph


def test_global_direction_is_the_batch_tools_edit(session):
    G, w = session.G, session.sample_w(1)
    img, moved = session.global_direction(w, "a photo of a cat", "a photo of a black cat", alpha=3.0, beta=0.05)
    # independently: the batch tool's functions, with the session's cached statistics
    stats = gd.style_stats(G, n=256, seed=0)
    rel = gd.channel_relevance(G, session.clip, n_images=4, seed=0, stats=stats, noise=session.noise)
    delta = gd.global_direction(
        rel, gd.text_direction(session.clip, "a photo of a cat", "a photo of a black cat"), 0.05, stats[1]
    )
    s = gd.apply_direction(G.wplus_to_s(G.make_wplus(w, input_is_latent=True)), delta, 3.0)
    torch.testing.assert_close(img, G.synthesis(None, noise=session.noise, s=s)[0].clamp(-1, 1), rtol=0, atol=1e-5)
    assert moved == gd.active_channels(delta) > 0
    base, _ = session.global_direction(w, "a photo of a cat", "a photo of a black cat", alpha=0.0, beta=0.05)
    torch.testing.assert_close(base, session.render(w), rtol=0, atol=1e-5)  # alpha 0: the start image
    assert (img - base).abs().max() > 0.05
    assert list(session.cache_dir.glob("relevance-*.pt"))  # computed once, cached on disk


def test_ganspace_sliders_add_their_components(session):
    w = session.sample_w(2)
    c = session.components
    expect = w + 2.0 * c["lat_stdev"][1] * c["lat_comp"][1] - 1.0 * c["lat_stdev"][3] * c["lat_comp"][3]
    torch.testing.assert_close(session.ganspace(w, {1: 2.0, 3: -1.0}), session.render(expect), rtol=0, atol=1e-5)
    torch.testing.assert_close(session.ganspace(w, {1: 0.0}), session.render(w), rtol=0, atol=0)
    one_row = gs.apply_ganspace(session.wplus(w), c, 0, 3.0, (0, 0))
    torch.testing.assert_close(session.ganspace(w, {0: 3.0}, layers=(0, 0)), session.render(one_row), rtol=0, atol=0)


def test_interpolation_sliders_start_and_end_at_their_endpoints(session):
    wa, wb = session.sample_w(5), session.sample_w(6)
    torch.testing.assert_close(session.interpolate_w(wa, wb, 0.0), session.render(wa), rtol=0, atol=0)
    torch.testing.assert_close(session.interpolate_w(wa, wb, 1.0), session.render(wb), rtol=0, atol=1e-6)
    mid = session.interpolate_w(wa, wb, 0.5)
    torch.testing.assert_close(mid, session.render((wa + wb) / 2), rtol=0, atol=1e-5)
    other = gen(1)
    other_state = other.state_dict()
    own_before = {k: v.clone() for k, v in session.G.state_dict().items()}
    torch.testing.assert_close(session.interpolate_weights(other_state, wa, 0.0), session.render(wa), rtol=0, atol=0)
    with torch.no_grad():
        expect = other.synthesis(session.wplus(wa), noise=session.noise)[0].clamp(-1, 1)
    torch.testing.assert_close(session.interpolate_weights(other_state, wa, 1.0), expect, rtol=0, atol=1e-5)
    # the session's own weights are back afterwards
    assert all(torch.equal(v, own_before[k]) for k, v in session.G.state_dict().items())


def test_sliders_called_at_once_from_threads_render_this_generator_not_a_blend(session):
    """A UI calls the session from several threads at once (the studio's sliders all fire when the
    start code changes). A weight interpolation swaps G's weights for a moment; a render running
    meanwhile must still see this generator's own weights, and the weights must be whole afterwards."""
    import threading

    w = session.sample_w(7)
    expect = session.render(w)
    other_state = gen(1).state_dict()
    own = session.weights()
    stop, bad = threading.Event(), []

    def blend():
        while not stop.is_set():
            session.interpolate_weights(other_state, w, 1.0)

    def look():
        for _ in range(300):
            if not torch.equal(session.render(w), expect):
                bad.append(1)
        stop.set()

    threads = [threading.Thread(target=blend), threading.Thread(target=look)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert bad == [], f"{len(bad)} of 300 renders saw the other generator's weights"
    assert all(torch.equal(v, own[k]) for k, v in session.G.state_dict().items())
    assert session.weights() is own and all(torch.equal(v, own[k]) for k, v in session.weights().items())


def test_inverting_a_render_finds_a_code_that_renders_it_again(session):
    target = session.render(session.sample_w(11))
    w = session.invert(target, steps=200, restarts=2)
    assert w.shape == (1, session.G.n_latent, session.G.style_dim)
    start_err = (session.render(session.sample_w(12)) - target).pow(2).mean()
    err = (session.render(w) - target).pow(2).mean()
    assert err < 0.25 * start_err, (err, start_err)


def test_scribble_pulls_the_painted_pixels_to_the_colour_and_leaves_the_code_near(session):
    from pipeline.editing.scribble import masked_mse

    w0 = session.wplus(session.sample_w(5))
    colours = torch.zeros(3, 16, 16)
    colours[0] = 1.0  # red where painted
    mask = torch.zeros(1, 16, 16)
    mask[:, 4:10, 4:10] = 1
    w = session.scribble(w0, colours, mask, steps=60)
    before = masked_mse(session.render(w0)[None], colours[None], mask[None]).item()
    after = masked_mse(session.render(w)[None], colours[None], mask[None]).item()
    assert after < 0.7 * before, (before, after)


def test_latent_optimization_lowers_the_clip_loss_and_reports_each_step(session):
    from pipeline.losses.clip import global_loss

    w0 = session.wplus(session.sample_w(6))
    steps = []
    w = session.latent_opt(w0, "a photo of a pink cat", steps=15, callback=lambda i, _: steps.append(i))
    assert steps == list(range(15))
    assert not any(p.requires_grad for p in session.G.parameters())  # frozen: edits build no graph through G
    text = session.clip.embed_prompt("a photo of a pink cat").to(w)

    def loss(code):
        return global_loss(session.clip.encode_image(session.render(code)[None], normalize=True), text).item()

    assert loss(w) < loss(w0)


def test_a_session_for_an_experiment_uses_its_editing_sizes(tmp_path):
    """The studio's sliders compute what the experiment's edit stage computes: its relevance images,
    alpha_sigma, statistics and GANSpace sizes, not the session's defaults."""
    from pipeline.editing.spec import EditingSpec, GanspaceSpec, GlobalDirectionsSpec

    editing = EditingSpec(
        global_directions=GlobalDirectionsSpec(n_images=3, alpha_sigma=2.0, stats_n=128),
        ganspace=GanspaceSpec(n_samples=300, n_components=3),
        seed=5,
    )
    G, clip = gen(0), build_clip(DEMO_CLIP, None)
    s = EditSession.for_experiment(G, clip, editing, cache_dir=tmp_path)
    stats = gd.style_stats(G, n=128, seed=5)
    torch.testing.assert_close(s.stats, stats, rtol=0, atol=0)
    rel = gd.channel_relevance(G, clip, n_images=3, alpha_sigma=2.0, seed=5, stats=stats, noise=s.noise)
    for a, b in zip(s.relevance, rel, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    assert s.components["lat_comp"].shape[0] == 3
    # the defaults would have given another relevance (16 images, alpha_sigma 5)
    other = gd.channel_relevance(G, clip, n_images=16, seed=5, stats=stats, noise=s.noise)
    assert max((a - b).abs().max().item() for a, b in zip(s.relevance, other, strict=True)) > 1e-3
