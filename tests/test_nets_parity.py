"""Numeric parity with the published network code (rosinality StyleGAN2, pix2pix ResnetGenerator).

Fixtures (see tests/fixtures/reference/README.md) hold seeded weights, inputs and the outputs the
reference code produced on the CPU. Everything about the networks comes from `parity_config.json`,
so a second fixture set (another configuration) runs through the same tests: list its folders in
the env var REFERENCE_FIXTURES, separated by os.pathsep.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import pytest
import torch

from pipeline.nets.photosketch import PhotoSketch
from pipeline.nets.stylegan2 import Discriminator, Generator, StyleGAN2Config

REPO_FIXTURES = Path(__file__).parent / "fixtures" / "reference"
DEFAULT_TOL = 1e-4  # README: float32 on the CPU agrees to below 1e-4


def _fixture_dirs() -> list[tuple[str, Path]]:
    dirs = [("repo", REPO_FIXTURES)]
    extra = [d for d in os.environ.get("REFERENCE_FIXTURES", "").split(os.pathsep) if d.strip()]
    dirs += [(f"env{i}-{Path(d).name}", Path(d)) for i, d in enumerate(extra)]
    return dirs


FIXTURE_DIRS = _fixture_dirs()
DIR_IDS = [name for name, _ in FIXTURE_DIRS]


@functools.cache
def _stylegan(fixture_dir: Path):
    """(config, G, D, tensors) for one fixture folder, loaded once per session."""
    cfg = json.loads((fixture_dir / "parity_config.json").read_text())["config"]
    tensors = torch.load(fixture_dir / "stylegan2_parity.pt", map_location="cpu", weights_only=True)
    sg_cfg = StyleGAN2Config(
        size=cfg["size"],
        style_dim=cfg["style_dim"],
        n_mlp=cfg["n_mlp"],
        lr_mlp=cfg["lr_mlp"],
        blur_kernel=tuple(cfg["blur_kernel"]),
        channel_base=cfg["channel_base"],
        channel_max=cfg["channel_max"],
    )
    G, D = Generator(sg_cfg).eval(), Discriminator(sg_cfg).eval()
    G.load_state_dict({k[2:]: v for k, v in tensors.items() if k.startswith("G.")}, strict=True)
    D.load_state_dict({k[2:]: v for k, v in tensors.items() if k.startswith("D.")}, strict=True)
    return cfg, G, D, tensors


@functools.cache
def _photosketch_fixture(fixture_dir: Path):
    pcfg = json.loads((fixture_dir / "parity_config.json").read_text())["photosketch"]
    return pcfg, torch.load(fixture_dir / "photosketch_parity.pt", map_location="cpu", weights_only=True)


def _photosketch(fixture_dir: Path) -> tuple[PhotoSketch, dict]:
    """A fresh PhotoSketch per test (tests change its modes)."""
    pcfg, tensors = _photosketch_fixture(fixture_dir)
    net = PhotoSketch(
        input_nc=pcfg["input_nc"], output_nc=pcfg["output_nc"], ngf=pcfg["ngf"], n_blocks=pcfg["n_blocks"]
    )
    net.load_state_dict({k[2:]: v for k, v in tensors.items() if k.startswith("P.")}, strict=True)
    return net, tensors


def _tol(fixture_dir: Path) -> float:
    """Optional "tolerance" in parity_config.json, else the README's 1e-4."""
    return json.loads((fixture_dir / "parity_config.json").read_text()).get("tolerance", DEFAULT_TOL)


def _assert_close(name: str, got: torch.Tensor, want: torch.Tensor, tol: float):
    assert got.shape == want.shape, f"{name}: shape {list(got.shape)} != reference {list(want.shape)}"
    err = (got.float() - want.float()).abs().max().item()
    assert err < tol, f"{name}: max abs error {err:.3g} >= {tol:g}"


# ----------------------------------------------------------------------------
# Architecture bookkeeping


@pytest.mark.parametrize("fixture_dir", [d for _, d in FIXTURE_DIRS], ids=DIR_IDS)
def test_architecture_matches_config(fixture_dir):
    cfg, G, D, tensors = _stylegan(fixture_dir)
    assert G.n_latent == cfg["n_latent"] and G.num_layers == cfg["num_layers"]
    # Width at each resolution, read off the built modules rather than the formula.
    built = {4: G.conv1.conv.out_ch}
    for k, conv in enumerate(G.convs[1::2]):
        built[2 ** (k + 3)] = conv.conv.out_ch
    assert built == {int(r): c for r, c in cfg["channels"].items()}
    assert D.convs[0][0].weight.shape[0] == cfg["channels"][str(cfg["size"])]  # FromRGB width
    assert sum(1 for k in tensors if k.startswith("in.noise.")) == cfg["num_layers"]


# ----------------------------------------------------------------------------
# StyleGAN2 outputs: one test id per reference output


def _noise(tensors, n):
    return [tensors[f"in.noise.{i}"] for i in range(n)]


def _run(check: str, G, D, t: dict) -> list[tuple[str, torch.Tensor]]:
    """Our outputs for one check, as (reference key, tensor) pairs."""
    noise = _noise(t, G.num_layers)
    if check == "w":
        return [("out.w", G.mapping(t["in.z"]))]
    if check == "basic":
        img, lat = G([t["in.z"]], noise=noise, return_latents=True)
        return [("out.img_basic", img), ("out.latent_basic", lat)]
    if check == "trunc":
        img, _ = G([t["in.z"]], noise=noise, truncation=0.7, truncation_latent=t["in.mean_w"])
        return [("out.img_trunc", img)]
    if check == "mix":
        img, lat = G([t["in.z"], t["in.z2"]], noise=noise, inject_index=3, return_latents=True)
        return [("out.img_mix", img), ("out.latent_mix", lat)]
    if check == "wplus":
        img, _ = G([t["in.wplus"]], noise=noise, input_is_latent=True)
        return [("out.img_wplus", img)]
    if check == "buffer_noise":
        img, _ = G([t["in.z"]], randomize_noise=False)
        return [("out.img_buffer_noise", img)]
    if check == "d_logits":
        return [("out.d_logits", D(t["in.d_images"]))]
    raise KeyError(check)


STYLEGAN_CHECKS = ["w", "basic", "trunc", "mix", "wplus", "buffer_noise", "d_logits"]


@pytest.mark.parametrize("check", STYLEGAN_CHECKS)
@pytest.mark.parametrize("fixture_dir", [d for _, d in FIXTURE_DIRS], ids=DIR_IDS)
def test_stylegan2_parity(fixture_dir, check):
    _, G, D, tensors = _stylegan(fixture_dir)
    with torch.no_grad():
        outputs = _run(check, G, D, tensors)
    for key, got in outputs:
        _assert_close(key, got, tensors[key], _tol(fixture_dir))


# ----------------------------------------------------------------------------
# PhotoSketch


@pytest.mark.parametrize("fixture_dir", [d for _, d in FIXTURE_DIRS], ids=DIR_IDS)
def test_photosketch_variant_is_supported(fixture_dir):
    pcfg, _ = _photosketch_fixture(fixture_dir)
    # The only variant PhotoSketch implements (and the one photosketch.pth uses).
    assert pcfg.get("norm", "batch") == "batch" and pcfg.get("padding", "reflect") == "reflect"


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("fixture_dir", [d for _, d in FIXTURE_DIRS], ids=DIR_IDS)
def test_photosketch_parity(fixture_dir, mode):
    net, tensors = _photosketch(fixture_dir)
    net.set_bn_mode(mode)
    with torch.no_grad():
        got = net(tensors["in.images"])
    _assert_close(f"out.sketch_{mode}_mode", got, tensors[f"out.sketch_{mode}_mode"], _tol(fixture_dir))


@pytest.mark.parametrize("module_mode", ["module.train()", "module.eval()"])
@pytest.mark.parametrize("fixture_dir", [d for _, d in FIXTURE_DIRS], ids=DIR_IDS)
def test_photosketch_train_mode_keeps_running_stats(fixture_dir, module_mode):
    net, tensors = _photosketch(fixture_dir)
    net.set_bn_mode("train")
    net.train() if module_mode == "module.train()" else net.eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = tensors["in.images"].clone().requires_grad_(True)
    net(x).sum().backward()  # with a graph too, as in training
    after = net.state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert not changed, f"PhotoSketch in batch-statistics mode changed buffers: {changed[:5]}"
