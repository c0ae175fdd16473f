"""Inversion, interpolation, scribble editing and GANSpace on a tiny seeded generator (32 px, CPU)."""

import math

import numpy as np
import pytest
import torch
from PIL import Image
from tiny import RunsCode, noisy_copy

from pipeline.editing.ganspace import apply_ganspace, compute_ganspace, ganspace_edit, load_npz, save_npz
from pipeline.editing.interpolation import interpolate_latents, interpolate_weights, lerp, save_gif, save_strip, slerp
from pipeline.editing.inversion import PerceptualFeatures, invert, vgg16_features_trunk, w_statistics
from pipeline.editing.scribble import load_scribble, masked_mse, scribble_edit
from pipeline.nets.stylegan2 import Generator

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(size=32, style_dim=16, n_mlp=2, channel_base=128, channel_max=16)


def make_g(seed=0, **kw):
    torch.manual_seed(seed)
    return Generator(**{**TINY, **kw}).eval()


@pytest.fixture(scope="module")
def G():
    return make_g(0)


def synth(G, wplus):
    with torch.no_grad():
        return G.synthesis(wplus, noise=G.stored_noise())


def mse(a, b):
    return (a - b).pow(2).flatten(1).mean(1)


def adam_lrs(monkeypatch) -> list[float]:
    """The lr of every torch.optim.Adam step taken from now on (the tools build their Adam inside)."""
    seen = []

    class Recording(torch.optim.Adam):
        def step(self, closure=None):
            seen.append(self.param_groups[0]["lr"])
            return super().step(closure)

    monkeypatch.setattr(torch.optim, "Adam", Recording)
    return seen


# ----------------------------------------------------------------------------
# Inversion


def test_inversion_recovers_known_wplus_image(G):
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        wp = G.make_wplus(torch.randn(2, G.style_dim, generator=gen))
        wp = wp + 0.3 * wp.std() * torch.randn(wp.shape, generator=gen)  # a genuine W+ code, rows differ
    target = synth(G, wp)
    _, _, w_mean, _ = w_statistics(G)
    mean_err = mse(synth(G, G.make_wplus(w_mean.expand(2, -1), input_is_latent=True)), target)

    res = invert(G, target, space="wplus", steps=80, restarts=2, lr=0.1)
    assert res.latent.shape == (2, G.n_latent, G.style_dim) and res.wplus.shape == res.latent.shape
    assert (res.mse < mean_err / 10).all(), (res.mse, mean_err)
    # The best restart is kept, per sample.
    assert res.restart_losses.shape == (2, 2)
    assert torch.equal(res.loss, res.restart_losses.min(0).values)
    assert torch.equal(res.best_restart, res.restart_losses.argmin(0))
    assert torch.allclose(res.image, synth(G, res.wplus), atol=1e-5)
    assert all(not p.requires_grad or p.grad is None for p in G.parameters())  # G untouched


def test_first_restart_is_exactly_the_mean_latent(G):
    target = synth(G, G.make_wplus(torch.randn(1, G.style_dim, generator=torch.Generator().manual_seed(6))))
    res = invert(G, target, space="w", steps=0, restarts=3)
    _, _, w_mean, _ = w_statistics(G)
    assert res.restart_losses.shape == (3, 1)
    if res.best_restart.item() == 0:
        assert torch.equal(res.latent[0], w_mean)
    r0 = invert(G, target, space="w", steps=0, restarts=1)
    assert torch.equal(r0.latent[0], w_mean)
    assert torch.equal(r0.loss, res.restart_losses[0])


@pytest.mark.parametrize(
    "space,optimizer,lr,steps", [("w", "adam", 0.1, 25), ("z", "adam", 0.1, 25), ("wplus", "lbfgs", 1.0, 6)]
)
def test_other_spaces_and_lbfgs_improve_on_the_start(G, space, optimizer, lr, steps):
    gen = torch.Generator().manual_seed(2)
    target = synth(G, G.make_wplus(torch.randn(1, G.style_dim, generator=gen)))
    start = invert(G, target, space=space, steps=0, restarts=1)
    res = invert(G, target, space=space, steps=steps, lr=lr, optimizer=optimizer, restarts=1)
    assert res.latent.shape == ((1, G.style_dim) if space != "wplus" else (1, G.n_latent, G.style_dim))
    assert res.loss.item() < 0.7 * start.loss.item()
    if space == "z":
        assert torch.allclose(res.latent.norm(dim=-1), torch.tensor(G.style_dim**0.5))


def test_invert_rejects_bad_arguments(G):
    x = torch.zeros(1, 3, 32, 32)
    with pytest.raises(ValueError, match="space"):
        invert(G, x, space="s", steps=0)
    with pytest.raises(ValueError, match="optimizer"):
        invert(G, x, optimizer="sgd", steps=0)


def test_perceptual_fallback_is_differentiable():
    pf = PerceptualFeatures()
    assert pf.kind == "multiscale-gradient"
    x = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_(True)
    y = torch.rand(2, 3, 32, 32) * 2 - 1
    d = pf(x, y)
    assert d.shape == (2,) and (d > 0).all()
    d.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert torch.equal(pf(y, y), torch.zeros(2))


def test_perceptual_vgg_loads_local_weights_only(tmp_path):
    torch.manual_seed(0)
    sd = {f"features.{k}": v for k, v in vgg16_features_trunk().state_dict().items()}
    sd["classifier.0.weight"] = torch.zeros(2, 2)  # a full torchvision dict has extra keys
    torch.save(sd, tmp_path / "vgg16.pth")
    pf = PerceptualFeatures(tmp_path / "vgg16.pth")
    assert pf.kind == "vgg16"
    x = (torch.rand(1, 3, 32, 32) * 2 - 1).requires_grad_(True)
    d = pf(x, torch.zeros(1, 3, 32, 32))
    d.sum().backward()
    assert d.shape == (1,) and torch.isfinite(x.grad).all()
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        PerceptualFeatures(tmp_path / "missing.pth")
    # a file that runs code when unpickled is refused, and the code never runs
    marker = tmp_path / "ran"
    torch.save({"features.0.weight": RunsCode(marker)}, tmp_path / "evil.pth")
    with pytest.raises(Exception, match="(?i)weights.only|unpickl"):
        PerceptualFeatures(tmp_path / "evil.pth")
    assert not marker.exists()
    # the distance: sum over the four taps of the mean over pixels of the squared channel-unit difference
    x, y = torch.rand(2, 1, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        fx, fy = pf.features(x), pf.features(y)
        want = sum(((a - b) ** 2).sum(1).mean((1, 2)) for a, b in zip(fx, fy))
        torch.testing.assert_close(pf(x, y), want)
        torch.testing.assert_close(pf(y, x), pf(x, y))
        assert len(fx) == 4 and all(torch.allclose(f.norm(dim=1), torch.ones(1)) for f in fx)
    # relu1_2, relu2_2, relu3_3, relu4_3 of a 32 px image, as torchvision's VGG-16 (2 x 2 max pooling)
    assert [tuple(f.shape[1:]) for f in fx] == [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4)]


# ----------------------------------------------------------------------------
# Scribble editing


def test_scribble_lowers_masked_error_and_the_prior_protects_the_rest(G):
    w0 = G.make_wplus(torch.randn(1, G.style_dim, generator=torch.Generator().manual_seed(3))).detach()
    img0 = synth(G, w0)
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:20, 10:22] = 1
    scribble = torch.tensor([0.9, -0.8, -0.8]).view(1, 3, 1, 1).expand(1, 3, 32, 32).clone()

    w, hist = scribble_edit(G, w0, scribble, mask, steps=40, lr=0.05, lam=2.0)
    w_free, _ = scribble_edit(G, w0, scribble, mask, steps=40, lr=0.05, lam=0.0)
    assert len(hist["loss"]) == 41 and hist["prior"][0] == 0.0
    # the recorded loss is the objective: masked error + λ prior, at every step
    for total, data, prior in zip(hist["loss"], hist["masked_mse"], hist["prior"], strict=True):
        assert total == pytest.approx(data + 2.0 * prior, rel=1e-5)
    img, img_free = synth(G, w), synth(G, w_free)
    start_err = masked_mse(img0, scribble, mask).item()
    assert masked_mse(img, scribble, mask).item() < 0.5 * start_err
    assert hist["masked_mse"][-1] == pytest.approx(masked_mse(img, scribble, mask).item(), rel=1e-4)
    keep = 1 - mask
    assert masked_mse(img, img0, keep).item() < masked_mse(img_free, img0, keep).item()


def test_load_scribble(tmp_path):
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[10:30, 20:40] = (255, 0, 0, 255)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "s.png")
    s, m = load_scribble(tmp_path / "s.png", size=32)
    assert s.shape == (1, 3, 32, 32) and m.shape == (1, 1, 32, 32)
    assert m.sum().item() == 10 * 10 and m[0, 0, 5, 10] == 1 and m[0, 0, 0, 0] == 0
    assert torch.allclose(s[0, :, 5, 10], torch.tensor([1.0, -1.0, -1.0]))  # no dark fringe from premultiplying
    assert s[0, :, 0, 0].abs().sum() == 0
    Image.fromarray(rgba[..., :3], "RGB").save(tmp_path / "flat.png")
    with pytest.raises(ValueError, match=r"flat\.png.*alpha"):
        load_scribble(tmp_path / "flat.png")


# ----------------------------------------------------------------------------
# Interpolation


def test_lerp_and_slerp_endpoints_are_exact():
    gen = torch.Generator().manual_seed(4)
    a, b = torch.randn(3, 16, generator=gen), torch.randn(3, 16, generator=gen)
    for f in (lerp, slerp):
        assert torch.equal(f(a, b, 0.0), a) and torch.equal(f(a, b, 1.0), b)
    b_eq = b / b.norm(dim=-1, keepdim=True) * a.norm(dim=-1, keepdim=True)
    for t in (0.25, 0.5, 0.8):
        assert torch.allclose(slerp(a, b_eq, t).norm(dim=-1), a.norm(dim=-1), rtol=1e-5)
    mid = slerp(a, a * (1 + 1e-9), 0.5)  # (near-)parallel: no NaN, lerp fallback
    assert torch.isfinite(mid).all() and torch.allclose(mid, a)
    per_row = slerp(a, b, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.equal(per_row[0], a[0]) and torch.equal(per_row[2], b[2])
    column = slerp(a, b, torch.tensor([[0.0], [0.5], [1.0]]))  # t already [N, 1]: the same walk
    assert column.shape == a.shape and torch.equal(column, per_row)


@pytest.mark.parametrize("space", ["w", "z"])
def test_interpolate_latents_endpoints_and_files(G, tmp_path, space):
    gen = torch.Generator().manual_seed(5)
    za, zb = torch.randn(2, G.style_dim, generator=gen), torch.randn(2, G.style_dim, generator=gen)
    with torch.no_grad():
        a, b = (za, zb) if space == "z" else (G.mapping(za), G.mapping(zb))
    frames = interpolate_latents(G, a, b, n=4, space=space)
    assert frames.shape == (4, 2, 3, 32, 32)
    assert torch.allclose(frames[0], synth(G, G.make_wplus(za)), atol=1e-6)
    assert torch.allclose(frames[-1], synth(G, G.make_wplus(zb)), atol=1e-6)
    gif, strip = save_gif(frames, tmp_path / "walk.gif"), save_strip(frames, tmp_path / "walk.png")
    with Image.open(gif) as im:
        assert im.n_frames == 4 and im.size == (32, 64)
    with Image.open(strip) as im:
        assert im.size == (4 * 32, 64)
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_interpolate_weights(G):
    a, b = G.state_dict(), make_g(1).state_dict()
    s0, s1 = interpolate_weights(a, b, 0.0), interpolate_weights(a, b, 1.0)
    for k in a:
        assert torch.equal(s0[k], a[k])
        buffer = k.startswith("noises.") or k.endswith(".kernel")
        assert torch.equal(s1[k], a[k] if buffer else b[k]), k
    key = "style.1.weight"
    half = interpolate_weights(a, b, 0.5)
    assert torch.allclose(half[key], (a[key] + b[key]) / 2)
    make_g(2).load_state_dict(half)  # a loadable generator
    other = make_g(0, channel_max=8).state_dict()
    with pytest.raises(ValueError, match=r"shape mismatch at '.*'"):
        interpolate_weights(a, other, 0.5)
    with pytest.raises(ValueError, match="only in a: style.1.bias"):
        interpolate_weights(a, {k: v for k, v in b.items() if k != "style.1.bias"}, 0.5)


# ----------------------------------------------------------------------------
# GANSpace


def test_ganspace_components_roundtrip_and_edits(G, tmp_path):
    comps = compute_ganspace(G, n_samples=2000, n_components=6, seed=0)
    C, std = comps["lat_comp"], comps["lat_stdev"]
    assert C.shape == (6, 16) and comps["lat_mean"].shape == (16,) and std.shape == (6,)
    assert torch.allclose(C @ C.T, torch.eye(6), atol=1e-5)
    assert (std[:-1] >= std[1:]).all() and (std > 0).all()

    path = save_npz(comps, tmp_path / "ganspace_cat.npz")
    with np.load(path) as f:  # GANSketching's layout
        assert f["lat_comp"].shape == (6, 1, 16) and f["lat_mean"].shape == (1, 16) and f["lat_stdev"].shape == (6,)
    back = load_npz(path)
    for k in comps:
        assert torch.equal(back[k], comps[k])
    np.savez(tmp_path / "flat.npz", lat_comp=C.numpy(), lat_mean=comps["lat_mean"].numpy(), lat_stdev=std.numpy())
    assert torch.equal(load_npz(tmp_path / "flat.npz")["lat_comp"], C)
    np.savez(tmp_path / "bad.npz", lat_comp=C.numpy())
    with pytest.raises(ValueError, match=r"bad\.npz.*lat_mean"):
        load_npz(tmp_path / "bad.npz")

    wplus = G.make_wplus(torch.randn(2, 16, generator=torch.Generator().manual_seed(7))).detach()
    assert torch.equal(apply_ganspace(wplus, comps, 1, 0.0, (2, 4)), wplus)
    out = apply_ganspace(wplus, comps, 1, 3.0, (2, 4))
    changed = (out != wplus).any(-1).any(0)
    assert changed.tolist() == [i in (2, 3, 4) for i in range(G.n_latent)]  # inclusive range
    assert torch.allclose(out[:, 3] - wplus[:, 3], (C[1] * 3.0 * std[1]).expand(2, -1), atol=1e-6)
    clipped = apply_ganspace(wplus, comps, 0, 1.0, (5, 17))  # reference's 18 rows
    assert (clipped != wplus).any(-1).any(0).tolist() == [i >= 5 for i in range(G.n_latent)]
    with pytest.raises(ValueError, match="select no row"):
        apply_ganspace(wplus, comps, 0, 1.0, (9, 17))
    img = ganspace_edit(G, wplus[:, 0], comps, 0, 2.0, (0, 3))
    assert img.shape == (2, 3, 32, 32) and torch.isfinite(img).all()


# ----------------------------------------------------------------------------
# rosinality's projector.py (inversion mode "rosinality")


def test_noise_regularize_is_rosinalitys_multiscale_autocorrelation():
    from pipeline.editing.projector import noise_regularize

    g = torch.Generator().manual_seed(0)
    maps = [torch.randn(1, 1, 16, 16, generator=g), torch.randn(1, 1, 8, 8, generator=g)]

    def hand(n):  # independent: explicit neighbour products, numpy-style
        total, x = 0.0, n[0, 0].double()
        while True:
            right = torch.cat([x[:, -1:], x[:, :-1]], 1)  # roll by 1 along width
            down = torch.cat([x[-1:], x[:-1]], 0)  # roll by 1 along height
            total += (x * right).mean().item() ** 2 + (x * down).mean().item() ** 2
            if x.shape[0] <= 8:
                return total
            s = x.shape[0] // 2
            x = x.reshape(s, 2, s, 2).mean((1, 3))

    want = sum(hand(m) for m in maps)
    assert noise_regularize(maps).item() == pytest.approx(want, rel=1e-5)
    smooth = [torch.ones(1, 1, 16, 16)]  # perfectly correlated noise is penalized hard
    assert noise_regularize(smooth).item() == pytest.approx(4.0)  # two scales (16, 8) x two axes x 1^2


def test_projector_fits_and_keeps_its_noise_maps_normalized(G):
    from pipeline.editing.projector import get_lr, project

    torch.manual_seed(1)
    with torch.no_grad():
        target = G.synthesis(G.make_wplus(G.mapping(torch.randn(1, G.style_dim)), input_is_latent=True))
    short = project(G, target, perceptual=mse, steps=2, n_mean=200)  # mse stands in for LPIPS
    res = project(G, target, perceptual=mse, steps=120, n_mean=200)
    assert res.space == "w" and res.latent.shape == (1, G.style_dim)
    assert res.loss.item() < 0.5 * short.loss.item()  # it fits
    assert get_lr(0.0, 0.1) == 0.0 and get_lr(0.5, 0.1) == pytest.approx(0.1)  # ramp-up, then flat
    # seeded by its argument alone: the global random state does not change the result
    torch.manual_seed(123)
    again = project(G, target, perceptual=mse, steps=2, n_mean=200)
    assert torch.equal(again.latent, short.latent)
    # the mode reaches the edit stage's spec and defaults to rosinality's 1,000 steps
    from pipeline.editing.spec import InversionSpec

    assert InversionSpec(mode="rosinality").n_steps == 1000 and InversionSpec().n_steps == 300


def test_masked_mse_is_the_mean_over_the_masked_pixels_and_channels():
    """err = sum over masked pixels and 3 channels / (3 * masked pixels): a unit error reads 1."""
    image, scribble = torch.zeros(2, 3, 8, 8), torch.ones(2, 3, 8, 8)
    mask = torch.zeros(2, 1, 8, 8)
    mask[0, :, :2, :3] = 1  # 6 pixels
    mask[1, :, 4:, 4:] = 1  # 16 pixels
    scribble[1, :, :4] = 5.0  # outside sample 1's mask: ignored
    assert masked_mse(image, scribble, mask).tolist() == pytest.approx([1.0, 1.0], abs=1e-6)
    assert masked_mse(image, scribble, torch.zeros_like(mask)).tolist() == [0.0, 0.0]


def test_scribble_loss_ignores_pixels_outside_the_mask(G):
    from pipeline.editing.scribble import scribble_edit

    gen = torch.Generator().manual_seed(2)
    w0 = G.make_wplus(torch.randn(1, G.style_dim, generator=gen)).detach()
    mask = torch.zeros(1, 1, G.size, G.size)
    mask[..., 8:20, 8:20] = 1.0
    sc = torch.rand(1, 3, G.size, G.size, generator=gen) * 2 - 1
    other = torch.where(mask.bool(), sc, -sc)  # the same strokes, anything else outside
    a, ha = scribble_edit(G, w0, sc, mask, steps=5, lr=0.05, lam=0.1)
    b, hb = scribble_edit(G, w0, other, mask, steps=5, lr=0.05, lam=0.1)
    assert torch.equal(a, b) and ha == hb
    c, _ = scribble_edit(G, w0, torch.where(mask.bool(), -sc, sc), mask, steps=5, lr=0.05, lam=0.1)
    assert not torch.equal(a, c)  # inside the mask it matters


def test_ganspace_moves_along_the_component_it_names(G):
    from pipeline.editing.ganspace import apply_ganspace, compute_ganspace

    comps = compute_ganspace(G, n_samples=512, n_components=6)
    wp = G.make_wplus(torch.randn(2, G.style_dim, generator=torch.Generator().manual_seed(4))).detach()
    out = apply_ganspace(wp, comps, comp_id=3, scalar=2.0, layers=(1, 2))
    delta = out - wp  # [B, n_latent, D]
    assert torch.equal(delta[:, 0], torch.zeros_like(delta[:, 0])) and delta[:, 3:].abs().max() == 0
    want = comps["lat_comp"][3] * 2.0 * comps["lat_stdev"][3]
    torch.testing.assert_close(delta[:, 1:3], want.expand_as(delta[:, 1:3]))
    proj = delta[0, 1] @ comps["lat_comp"].T  # only component 3 carries the shift
    assert proj[3] > 0 and proj[[0, 1, 2, 4, 5]].abs().max() < 1e-4 * proj[3]


def test_projector_pools_large_images_to_256_by_block_means():
    """rosinality's projector shows LPIPS at most 256 px: f x f block means, f = W // 256."""
    import torch.nn.functional as F

    from pipeline.editing.projector import pool_to_256

    x = torch.randn(2, 3, 512, 512, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(pool_to_256(x), F.avg_pool2d(x, 2), atol=1e-6)
    y = torch.randn(1, 3, 1024, 1024, generator=torch.Generator().manual_seed(1))
    assert pool_to_256(y).shape == (1, 3, 256, 256)
    assert torch.allclose(pool_to_256(y), F.avg_pool2d(y, 4), atol=1e-6)
    small = torch.randn(1, 3, 256, 256)
    assert pool_to_256(small) is small


def test_projector_in_w_plus_optimizes_one_code_per_layer(G):
    from pipeline.editing.projector import project

    torch.manual_seed(2)
    with torch.no_grad():
        target = G.synthesis(G.make_wplus(G.mapping(torch.randn(2, G.style_dim)), input_is_latent=True))
    short = project(G, target, perceptual=mse, steps=2, n_mean=200, w_plus=True)
    res = project(G, target, perceptual=mse, steps=120, n_mean=200, w_plus=True)
    assert res.space == "wplus" and res.latent.shape == (2, G.n_latent, G.style_dim)
    assert torch.equal(res.wplus, res.latent)
    # the rows move apart from the shared start: each layer has its own code
    assert (res.latent - res.latent[:, :1]).abs().amax() > 1e-3
    assert (res.loss < 0.5 * short.loss).all()


def test_boomerang_gif_plays_forward_then_back(tmp_path):
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    # [n, B=1, 3, 8, 8] solid frames in [-1, 1]
    frames = torch.stack(
        [torch.tensor(c, dtype=torch.float32)[:, None, None].expand(3, 8, 8) / 127.5 - 1 for c in colours]
    )
    save_gif(frames[:, None], tmp_path / "b.gif", boomerang=True)
    seen = []
    with Image.open(tmp_path / "b.gif") as im:
        for i in range(im.n_frames):
            im.seek(i)
            seen.append(im.convert("RGB").getpixel((4, 4)))
    assert seen == [colours[i] for i in (0, 1, 2, 3, 2, 1)]
    with Image.open(tmp_path / "b.gif") as im:
        assert im.info["duration"] == 100 and im.info.get("loop") == 0  # 10 frames/s, looping


def test_to_wplus_broadcasts_w_and_maps_z():
    from pipeline.editing.inversion import to_wplus

    G = make_g(4)
    z = torch.randn(2, G.style_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        w = G.mapping(z)
        from_w, from_z = to_wplus(G, w, "w"), to_wplus(G, z, "z")
    assert from_w.shape == (2, G.n_latent, G.style_dim)
    assert torch.equal(from_w, w[:, None].expand(-1, G.n_latent, -1))  # w is used as is, never re-mapped
    assert torch.allclose(from_z, from_w, atol=1e-6)
    wp = torch.randn(2, G.n_latent, G.style_dim)
    assert to_wplus(G, wp, "wplus") is wp
    with pytest.raises(ValueError, match="space must be one of"):
        to_wplus(G, w, "s")


def test_scribble_edit_is_deterministic_per_batch_item(G):
    """A batch of two: each item's prior is its own mean squared distance to its start, and the
    same call gives the same codes (G's fixed noise, not fresh noise, is used)."""
    gen = torch.Generator().manual_seed(7)
    w0 = G.make_wplus(torch.randn(2, G.style_dim, generator=gen)).detach()
    mask = torch.zeros(2, 1, G.size, G.size)
    mask[..., 4:16, 4:16] = 1.0
    sc = torch.rand(2, 3, G.size, G.size, generator=gen) * 2 - 1
    a, ha = scribble_edit(G, w0, sc, mask, steps=6, lr=0.05, lam=0.5)
    b, hb = scribble_edit(G, w0, sc, mask, steps=6, lr=0.05, lam=0.5)
    assert torch.equal(a, b) and ha == hb
    prior = (a - w0).pow(2).flatten(1).mean(1)  # [2], one per item
    assert hb["prior"][-1] == pytest.approx(prior.mean().item(), rel=1e-5)
    assert hb["masked_mse"][-1] == pytest.approx(masked_mse(synth(G, a), sc, mask).mean().item(), rel=1e-4)


def test_ganspace_files_with_a_mean_of_several_rows_are_refused(tmp_path):
    comps = {"lat_comp": torch.eye(4)[:2], "lat_mean": torch.zeros(2, 4), "lat_stdev": torch.ones(2)}
    with pytest.raises(ValueError, match=r"inconsistent GANSpace shapes: .*lat_mean \[2, 4\]"):
        save_npz(comps, tmp_path / "bad.npz")
    ok = {**comps, "lat_mean": torch.zeros(1, 4)}  # GANSketching's [1, D] is fine
    assert load_npz(save_npz(ok, tmp_path / "ok.npz"))["lat_mean"].shape == (4,)


def test_ganspace_is_the_pca_of_the_sampled_w():
    """Against an independent PCA of the same w = mapping(z) (one batch, so the same z draws): the
    mean, the components (up to sign) and the projections' standard deviations (ddof 1)."""
    G = make_g(6)
    n = 600
    comps = compute_ganspace(G, n_samples=n, n_components=5, seed=3, batch=1024)
    with torch.no_grad():
        w = G.mapping(torch.randn(n, G.style_dim, generator=torch.Generator().manual_seed(3))).double()
    assert torch.allclose(comps["lat_mean"].double(), w.mean(0), atol=1e-5)
    evals, evecs = torch.linalg.eigh(torch.cov(w.T))
    top = evecs.flip(1)[:, :5].T  # [5, D]
    assert torch.allclose(
        (comps["lat_comp"].double() * top).sum(1).abs(), torch.ones(5, dtype=torch.float64), atol=1e-4
    )
    proj = (w - w.mean(0)) @ comps["lat_comp"].double().T
    assert torch.allclose(proj.std(0), comps["lat_stdev"].double(), rtol=1e-4)
    assert torch.allclose(comps["lat_stdev"].double() ** 2, evals.flip(0)[:5], rtol=1e-4)


def test_inversion_lr_schedule_ramps_up_from_the_first_step():
    """rosinality's projector: lr x min(1, (t+1)/(0.05 T)) x cosine ramp-down over the last 25 %."""
    from pipeline.editing.inversion import _lr_at

    assert _lr_at(0, 100, 0.1) == pytest.approx(0.1 * 1 / 5)  # step 1 of a 5-step warm-up
    assert _lr_at(4, 100, 0.1) == pytest.approx(0.1)
    assert _lr_at(50, 100, 0.1) == pytest.approx(0.1)
    assert _lr_at(75, 100, 0.1) == pytest.approx(0.1)
    assert _lr_at(90, 100, 0.1) == pytest.approx(0.1 * (0.5 - 0.5 * math.cos(0.4 * math.pi)))


def test_z_space_inversion_starts_at_the_pool_code_nearest_the_mean_w(G):
    from pipeline.editing.inversion import w_statistics

    zpool, wpool, w_mean, _ = w_statistics(G, 300, 0)
    nearest = zpool[(wpool - w_mean).pow(2).sum(1).argmin()]
    target = synth(G, G.make_wplus(torch.randn(1, G.style_dim, generator=torch.Generator().manual_seed(9))))
    res = invert(G, target, space="z", steps=0, restarts=1, n_mean=300, seed=0, perceptual=mse)
    # z lives on the sphere of radius sqrt(D): the start is that code's direction, on the sphere
    assert torch.allclose(res.latent[0] / res.latent[0].norm(), nearest / nearest.norm(), atol=1e-6)
    assert res.latent[0].norm().item() == pytest.approx(G.style_dim**0.5, rel=1e-5)
    assert abs(nearest.norm().item() - G.style_dim**0.5) > 1e-3  # the pool code itself is not
    other = zpool[(wpool - w_mean).pow(2).sum(1).argmax()]
    assert not torch.allclose(res.latent[0] / res.latent[0].norm(), other / other.norm(), atol=1e-3)


def test_palette_scribbles_keep_their_transparency(tmp_path):
    """A palette PNG whose transparent index marks 'no stroke' (paint programs save these)."""
    img = Image.new("P", (16, 16), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * (254 * 3))
    for x in range(4, 12):
        img.putpixel((x, 8), 1)
    img.info["transparency"] = 0
    img.save(tmp_path / "p.png", transparency=0)
    scribble, mask = load_scribble(tmp_path / "p.png", 16)
    assert mask.sum().item() == 8 and mask[0, 0, 8, 4:12].eq(1).all()
    assert scribble[0, :, 8, 5].tolist() == pytest.approx([1.0, -1.0, -1.0])


def test_inversion_renders_with_the_noise_it_is_given():
    """With noise maps that matter (the noise strengths of a trained G are not 0), the kept image is
    G(latent) with the caller's noise, and the fit is to that rendering, not to fresh noise."""
    G = noisy_copy(make_g(3), 0.5)
    gen = torch.Generator().manual_seed(8)
    noise = [torch.randn(n.shape, generator=gen) for n in G.stored_noise()]
    wp = G.make_wplus(torch.randn(1, G.style_dim, generator=gen)).detach()
    with torch.no_grad():
        target = G.synthesis(wp, noise=noise)
    res = invert(G, target, space="wplus", steps=30, restarts=1, noise=noise, lambda_perceptual=0.0)
    with torch.no_grad():
        again = G.synthesis(res.wplus, noise=noise)
        other = G.synthesis(res.wplus, noise=G.stored_noise())
    torch.testing.assert_close(res.image, again, rtol=0, atol=1e-5)
    assert mse(other, res.image).item() > 100 * mse(again, res.image).item() + 1e-4  # the noise shows


def test_a_target_of_another_size_is_resized_bilinearly_with_antialiasing(G):
    """A 64 px target for a 32 px G: the fit is to its antialiased bilinear downscale."""
    big = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(5)) * 2 - 1
    small = torch.nn.functional.interpolate(big, size=(32, 32), mode="bilinear", align_corners=False, antialias=True)
    res = invert(G, big, space="w", steps=0, restarts=1, lambda_perceptual=0.0)
    torch.testing.assert_close(res.mse, mse(res.image, small))
    assert (mse(res.image, small) - mse(res.image, big[..., ::2, ::2])).abs().item() > 1e-4  # not subsampling


def test_perceptual_fallback_features_are_the_image_and_its_neighbour_differences():
    """Per level: the (pooled) image, x[:, :, :, j+1] - x[:, :, :, j] and x[:, :, i+1] - x[:, :, i]."""
    pf = PerceptualFeatures(levels=2)
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8) ** 1.5 / 1000
    feats = pf.features(x)
    assert len(feats) == 6
    img, dx, dy = feats[:3]
    assert torch.equal(img, x)
    torch.testing.assert_close(dx, torch.stack([x[..., :, j + 1] - x[..., :, j] for j in range(7)], -1))
    torch.testing.assert_close(dy, torch.stack([x[..., i + 1, :] - x[..., i, :] for i in range(7)], -2))
    pooled = torch.nn.functional.avg_pool2d(x, 2)
    torch.testing.assert_close(feats[3], pooled)
    torch.testing.assert_close(feats[5], pooled[..., 1:, :] - pooled[..., :-1, :])


def test_strip_is_the_frames_side_by_side_with_the_padding_between(tmp_path):
    frames = torch.stack([torch.full((3, 8, 6), v) for v in (-1.0, 0.0, 1.0)])  # [3, 3, H 8, W 6]
    path = save_strip(frames, tmp_path / "strip.png", pad=2)
    im = np.asarray(Image.open(path).convert("RGB"))
    assert im.shape == (8, 3 * 6 + 2 * 2, 3)
    assert (im[:, :6] == 0).all() and (im[:, 6:8] == 255).all() and (im[:, -6:] == 255).all()
    assert abs(int(im[0, 8 + 3, 0]) - 128) <= 1


def test_ganspace_names_the_component_it_does_not_have(G):
    comps = compute_ganspace(G, n_samples=256, n_components=4)
    wp = torch.zeros(1, G.n_latent, G.style_dim)
    with pytest.raises(ValueError, match=r"comp_id 4 out of range: 4 components"):
        apply_ganspace(wp, comps, comp_id=4, scalar=1.0)


def test_inversion_objective_adds_the_weighted_perceptual_distance(G):
    """loss = MSE + lambda_perceptual * d_perceptual(image, target), with the weight-free features."""
    target = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(9)) * 2 - 1
    res = invert(G, target, space="w", steps=0, restarts=1, lambda_perceptual=0.5)
    want = res.mse + 0.5 * PerceptualFeatures()(res.image, target)
    torch.testing.assert_close(res.loss, want)
    assert (res.loss - res.mse).min().item() > 0.01


def test_inversion_follows_its_lr_schedule_step_by_step(G, monkeypatch):
    """Each Adam step runs at _lr_at(step): warm-up over 5 %, cosine ramp-down over the last 25 %."""
    seen = adam_lrs(monkeypatch)
    target = torch.zeros(1, 3, 32, 32)
    invert(G, target, space="w", steps=40, restarts=1, lr=0.2, lambda_perceptual=0.0)
    want = [
        0.2 * min(1.0, (s + 1) / 2) * (0.5 - 0.5 * math.cos(min(1.0, (1 - s / 40) / 0.25) * math.pi)) for s in range(40)
    ]
    assert seen == pytest.approx(want) and seen[0] == pytest.approx(0.1) and seen[-1] < 0.01


def test_projector_fits_a_target_of_another_size_at_the_generators_and_reports_one_restart(G):
    from pipeline.editing.projector import project

    big = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(2)) * 2 - 1
    small = torch.nn.functional.interpolate(big, size=(32, 32), mode="bilinear", align_corners=False, antialias=True)
    res = project(G, big, perceptual=mse, steps=2, n_mean=200)
    torch.testing.assert_close(res.mse, mse(res.image, small))
    assert torch.equal(res.restart_losses, res.loss[None]) and res.best_restart.tolist() == [0, 0]


def test_perceptual_fallback_has_four_scales_by_default():
    feats = PerceptualFeatures().features(torch.zeros(1, 3, 32, 32))
    assert [tuple(f.shape[-2:]) for f in feats[::3]] == [(32, 32), (16, 16), (8, 8), (4, 4)]


def test_ganspace_names_a_code_of_the_wrong_width(G):
    comps = compute_ganspace(G, n_samples=256, n_components=4)
    with pytest.raises(ValueError, match=rf"^components have dimension {G.style_dim}, the code 7$"):
        apply_ganspace(torch.zeros(1, G.n_latent, 7), comps, comp_id=0, scalar=1.0)


def test_perceptual_vgg_weights_of_the_wrong_shape_are_named(tmp_path):
    sd = dict(vgg16_features_trunk().state_dict())
    sd["0.weight"] = torch.zeros(64, 3, 5, 5)  # a 5 x 5 first convolution: not VGG-16's
    torch.save(sd, tmp_path / "odd.pth")
    with pytest.raises(ValueError, match=rf"^{tmp_path / 'odd.pth'}: VGG-16 weights do not fit: .*0\.weight"):
        PerceptualFeatures(tmp_path / "odd.pth")


def test_restarts_start_at_the_mean_then_at_seeded_perturbations_of_one_std(G, monkeypatch):
    """Restart 0 starts at the mean w; restart r > 0 at w_mean + perturb * w_std * N(0, I), per dimension.
    With steps 0 each restart's code is rendered once, at its start: record what reaches the generator."""
    import pipeline.editing.inversion as inv

    starts = []
    real = inv.to_wplus

    def recording(G_, code, space):
        starts.append(code.detach().clone())
        return real(G_, code, space)

    monkeypatch.setattr(inv, "to_wplus", recording)
    target = torch.zeros(64, 3, 32, 32)
    invert(G, target, space="w", steps=0, restarts=3, n_mean=500, seed=2, perturb=0.5, lambda_perceptual=0.0)
    _, _, w_mean, w_std = w_statistics(G, 500, 2)
    assert torch.equal(starts[0], w_mean.expand(64, -1))
    for r in (1, 2):
        u = (starts[r] - w_mean) / (0.5 * w_std)  # [64, D]: standard normal if scaled right
        assert abs(u.mean().item()) < 0.15 and 0.9 < u.std().item() < 1.1 and u.abs().max().item() < 5.5
    assert not torch.equal(starts[1], starts[2])


def test_z_space_restarts_are_perturbed_and_stay_on_the_sphere(G):
    target = torch.zeros(2, 3, 32, 32)
    res = invert(G, target, space="z", steps=0, restarts=3, n_mean=300, seed=0, perturb=0.5, lambda_perceptual=0.0)
    assert res.restart_losses.shape == (3, 2) and len(set(res.restart_losses[:, 0].tolist())) == 3
    assert res.latent.norm(dim=-1).sub(G.style_dim**0.5).abs().max().item() < 1e-4


def test_adam_descends_the_whole_objective_not_the_pixel_term_alone(G):
    """lambda_perceptual changes what Adam optimizes: with one restart (no selection) the codes differ."""
    target = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(3)) * 2 - 1
    a = invert(G, target, space="w", steps=15, restarts=1, lambda_perceptual=0.0)
    b = invert(G, target, space="w", steps=15, restarts=1, lambda_perceptual=5.0)
    assert (a.latent - b.latent).abs().max().item() > 1e-3


def test_projector_lr_schedule_hand_values():
    """rosinality projector.py get_lr: linear warm-up over the first 5 %, cosine ramp-down over the last 25 %."""
    from pipeline.editing.projector import get_lr

    assert get_lr(0.0, 0.1) == 0.0
    assert get_lr(0.025, 0.1) == pytest.approx(0.05)
    assert get_lr(0.5, 0.1) == pytest.approx(0.1)
    assert get_lr(0.9, 0.1) == pytest.approx(0.1 * (0.5 - 0.5 * math.cos(0.4 * math.pi)))
    assert get_lr(1.0, 0.1) == pytest.approx(0.0, abs=1e-12)


def test_ganspace_keeps_no_more_components_than_the_samples_support(G):
    """n samples span at most n - 1 directions around their mean: K = min(n_components, D, n - 1)."""
    comps = compute_ganspace(G, n_samples=5, n_components=16)
    assert comps["lat_comp"].shape == (4, G.style_dim) and comps["lat_stdev"].shape == (4,)
    assert comps["lat_stdev"].min().item() > 1e-4  # no zero-variance filler components


def test_ganspace_counts_components_from_the_end_too(G):
    comps = compute_ganspace(G, n_samples=64, n_components=6)
    wp = G.make_wplus(torch.randn(1, G.style_dim, generator=torch.Generator().manual_seed(4))).detach()
    torch.testing.assert_close(
        apply_ganspace(wp, comps, comp_id=-6, scalar=1.0), apply_ganspace(wp, comps, comp_id=0, scalar=1.0)
    )
    with pytest.raises(ValueError):
        apply_ganspace(wp, comps, comp_id=-7, scalar=1.0)


def test_projector_renormalizes_its_noise_maps_and_squares_its_latent_noise_ramp(G, monkeypatch):
    """rosinality projector.py: after every step each noise map is reset to mean 0, std 1; the latent
    noise is w_std * noise * max(0, 1 - t / noise_ramp)^2. Recorded at the generator's input; lr 0
    keeps the latent at w_mean, so the code's spread at step i is that strength alone."""
    from pipeline.editing.projector import project

    seen = []
    real = G.synthesis

    def recording(wplus, noise=None, **kw):
        seen.append((wplus[:, 0].detach().clone(), [n.detach().clone() for n in noise]))
        return real(wplus, noise=noise, **kw)

    monkeypatch.setattr(G, "synthesis", recording)
    steps = 20
    project(G, torch.zeros(32, 3, 32, 32), perceptual=mse, steps=steps, lr=0.0, n_mean=200)
    assert len(seen) == steps + 1  # one render per step, then the result's
    w_mean = seen[steps - 1][0]  # t = 0.95 > noise_ramp: no latent noise left
    spread = [(seen[i][0] - w_mean).std().item() for i in range(steps)]
    for i in (5, 10):
        t = i / steps
        assert spread[i] / spread[0] == pytest.approx((1 - t / 0.75) ** 2, rel=0.15), (i, spread[i] / spread[0])
    # the maps of the last render are normalized (a fit at lr 0.1 moves them off between resets)
    moved = []
    monkeypatch.setattr(
        G, "synthesis", lambda wplus, noise=None, **kw: moved.append(noise) or real(wplus, noise=noise, **kw)
    )
    project(G, torch.zeros(2, 3, 32, 32), perceptual=mse, steps=12, lr=0.1, n_mean=200)
    for n in moved[-2]:
        assert abs(n.mean().item()) < 1e-5 and n.std().item() == pytest.approx(1.0, abs=1e-4)


def test_interpolation_applies_truncation_to_every_frame(G):
    gen = torch.Generator().manual_seed(5)
    za, zb = torch.randn(2, G.style_dim, generator=gen), torch.randn(2, G.style_dim, generator=gen)
    with torch.no_grad():
        mean_w = G.mapping(torch.randn(500, G.style_dim, generator=gen)).mean(0, keepdim=True)
        frames = interpolate_latents(G, za, zb, n=3, space="z", truncation=0.5, truncation_latent=mean_w)
        want_end = synth(G, G.make_wplus(zb, truncation=0.5, truncation_latent=mean_w))
    assert torch.allclose(frames[-1], want_end, atol=1e-6)
    assert (frames[-1] - synth(G, G.make_wplus(zb))).abs().max().item() > 1e-2  # psi 0.5 is not psi 1


def test_a_resized_scribble_takes_its_colour_from_the_painted_pixels_only(tmp_path):
    """Box-downsampling with colours premultiplied by alpha: a 2 x 2 block with one opaque red pixel and
    three transparent pixels whose (invisible) colour is green becomes one red, painted pixel."""
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[...] = (0, 255, 0, 0)
    rgba[0, 0] = (255, 0, 0, 255)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "s.png")
    s, m = load_scribble(tmp_path / "s.png", size=1)
    assert m.flatten().tolist() == [1.0]
    assert torch.allclose(s.flatten(), torch.tensor([1.0, -1.0, -1.0]), atol=0.02)


def test_a_resized_scribble_keeps_partly_covered_pixels_in_the_mask(tmp_path):
    """A stroke covering one pixel of a 2 x 2 block still marks the downsampled pixel as painted."""
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[0, 0] = (0, 0, 255, 255)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "s.png")
    s, m = load_scribble(tmp_path / "s.png", size=2)
    assert m.flatten().tolist() == [1.0, 0.0, 0.0, 0.0]
    assert torch.allclose(s[0, :, 0, 0], torch.tensor([-1.0, -1.0, 1.0]), atol=0.02)


def test_a_batch_of_scribbles_edits_each_item_as_if_alone(G):
    """Each item's loss is its own masked error plus lam times its own prior: batching changes nothing."""
    gen = torch.Generator().manual_seed(8)
    w0 = G.make_wplus(torch.randn(2, G.style_dim, generator=gen)).detach()
    mask = torch.zeros(2, 1, G.size, G.size)
    mask[0, :, 2:12, 2:12], mask[1, :, 10:30, 6:20] = 1.0, 1.0
    sc = torch.rand(2, 3, G.size, G.size, generator=gen) * 2 - 1
    both, _ = scribble_edit(G, w0, sc, mask, steps=8, lr=0.05, lam=500.0)  # a prior as strong as the strokes
    for i in range(2):
        alone, _ = scribble_edit(G, w0[i : i + 1], sc[i : i + 1], mask[i : i + 1], steps=8, lr=0.05, lam=500.0)
        torch.testing.assert_close(both[i : i + 1], alone, atol=1e-5, rtol=0)
    assert (both - w0).abs().max().item() > 1e-2  # it did edit


def test_slerp_keeps_the_norm_of_short_vectors_too():
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(3, 8, generator=g), torch.randn(3, 8, generator=g)
    a, b = 0.3 * a / a.norm(dim=-1, keepdim=True), 0.3 * b / b.norm(dim=-1, keepdim=True)  # norm 0.3 each
    mid = slerp(a, b, 0.5)
    torch.testing.assert_close(mid.norm(dim=-1), torch.full((3,), 0.3))


def test_weight_interpolation_names_the_keys_each_side_lacks():
    a = {"x": torch.zeros(1), "y": torch.zeros(1)}
    b = {"x": torch.zeros(1), "y": torch.zeros(1), "extra.weight": torch.zeros(1)}
    with pytest.raises(ValueError, match=r"different keys: only in b: extra\.weight$"):
        interpolate_weights(a, b, 0.5)
    with pytest.raises(ValueError, match=r"different keys: only in a: extra\.weight$"):
        interpolate_weights(b, a, 0.5)


def test_a_scalar_perceptual_distance_counts_for_every_sample(G):
    """`perceptual` may return one number for the batch (a scalar): every sample's loss gets it."""
    target = torch.zeros(3, 3, 32, 32)
    res = invert(G, target, space="w", steps=0, restarts=1, perceptual=lambda x, y: torch.tensor(0.25))
    torch.testing.assert_close(res.loss, res.mse + 0.25)


def test_the_projector_follows_its_lr_schedule_step_by_step(G, monkeypatch):
    import pipeline.editing.projector as pj

    seen = adam_lrs(monkeypatch)
    pj.project(G, torch.zeros(1, 3, 32, 32), perceptual=mse, steps=40, lr=0.2, n_mean=100)
    assert seen == pytest.approx([pj.get_lr(i / 40, 0.2) for i in range(40)]) and seen[0] == 0.0


def test_without_explicit_noise_the_edits_render_with_the_stored_noise(G):
    """noise=None means G's stored noise buffers, so on a generator whose noise inputs matter, repeating an
    interpolation, a scribble edit or an inversion gives the same result, and an interpolation's first
    frame is the start code rendered with the stored noise."""
    Gn = noisy_copy(G, 0.5)
    gen = torch.Generator().manual_seed(11)
    a, b = torch.randn(1, Gn.style_dim, generator=gen), torch.randn(1, Gn.style_dim, generator=gen)
    f1, f2 = interpolate_latents(Gn, a, b, n=3, space="z"), interpolate_latents(Gn, a, b, n=3, space="z")
    assert torch.equal(f1, f2)
    torch.testing.assert_close(f1[0], synth(Gn, Gn.make_wplus(a)))
    w0 = Gn.make_wplus(a).detach()
    mask = torch.ones(1, 1, Gn.size, Gn.size)
    sc = torch.zeros(1, 3, Gn.size, Gn.size)
    e1, _ = scribble_edit(Gn, w0, sc, mask, steps=3, lr=0.05, lam=0.1)
    e2, _ = scribble_edit(Gn, w0, sc, mask, steps=3, lr=0.05, lam=0.1)
    assert torch.equal(e1, e2)
    target = synth(Gn, Gn.make_wplus(b))
    r1 = invert(Gn, target, space="w", steps=3, restarts=1, lambda_perceptual=0.0)
    r2 = invert(Gn, target, space="w", steps=3, restarts=1, lambda_perceptual=0.0)
    assert torch.equal(r1.latent, r2.latent) and torch.equal(r1.image, r2.image)
