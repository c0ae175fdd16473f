"""The published checkpoints' key/shape tables load strictly; bad files fail loudly and safely.

`checkpoint_keys.json` lists every state-dict key and shape of the real netG/netD (256 and 1024 px)
and photosketch.pth. A state dict with exactly those keys and shapes stands in for the real files.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from tiny import RunsCode

from pipeline.nets.checkpoint import CheckpointError, load_file, load_into, load_strict, save_atomic
from pipeline.nets.photosketch import PhotoSketch
from pipeline.nets.stylegan2 import Discriminator, Generator, StyleGAN2Config

TABLES = json.loads((Path(__file__).parent / "fixtures" / "reference" / "checkpoint_keys.json").read_text())

# table -> (network factory, rosinality wrapper key or None)
NETS = {
    "generator_256_cm2": (lambda: Generator(StyleGAN2Config(size=256, channel_base=32768)), "g_ema"),
    "discriminator_256_cm2": (lambda: Discriminator(StyleGAN2Config(size=256, channel_base=32768)), "d"),
    "generator_1024_cm2": (lambda: Generator(StyleGAN2Config(size=1024)), "g_ema"),
    "discriminator_1024_cm2": (lambda: Discriminator(StyleGAN2Config(size=1024)), "d"),
    "photosketch_resnet9": (lambda: PhotoSketch(ngf=64, n_blocks=9), None),
}
ROLE = {"g_ema": "g", "d": "d", None: None}

_nets: dict[str, torch.nn.Module] = {}


def net(table: str) -> torch.nn.Module:
    """Each network is built once (the 1024 px pair has ~60 M parameters)."""
    if table not in _nets:
        _nets[table] = NETS[table][0]()
    return _nets[table]


def zeros_state_dict(table: str) -> dict[str, torch.Tensor]:
    # Zero-stride views of one scalar: exact shapes, no memory, and a few bytes when torch.save'd
    # (torch.save writes the shared one-element storage), which keeps the file round trips fast.
    return {k: torch.zeros(()).expand(shape) for k, shape in TABLES[table].items()}


@pytest.mark.parametrize("table", list(NETS))
def test_table_loads_strictly(table):
    load_strict(net(table), zeros_state_dict(table))
    assert all(float(v.abs().sum()) == 0 for v in net(table).state_dict().values())


# PhotoSketch checkpoints are always bare state dicts.
FILE_CASES = [(t, False) for t in NETS] + [(t, True) for t in NETS if NETS[t][1]]


@pytest.mark.parametrize(
    "table, wrapped", FILE_CASES, ids=[f"{t}-{'rosinality' if w else 'bare'}" for t, w in FILE_CASES]
)
def test_table_loads_from_file(table, wrapped, tmp_path):
    wrapper = NETS[table][1]
    sd = zeros_state_dict(table)
    path = tmp_path / "ckpt.pt"
    torch.save({wrapper: sd, "latent_avg": torch.zeros(512)} if wrapped else sd, path)
    ckpt = load_into(net(table), path, role=ROLE[wrapper])
    assert ("latent_avg" in ckpt) == wrapped


@pytest.mark.parametrize("table", list(NETS))
def test_extra_key_is_named(table):
    sd = zeros_state_dict(table)
    sd["style.9.w_shift"] = torch.zeros(512)  # GANSketching's optional w_shift, not in these nets
    with pytest.raises(CheckpointError, match=r"unexpected keys: .*style\.9\.w_shift"):
        load_strict(net(table), sd)


@pytest.mark.parametrize("table", list(NETS))
def test_missing_key_is_named(table):
    sd = zeros_state_dict(table)
    dropped = sorted(sd)[len(sd) // 2]
    del sd[dropped]
    with pytest.raises(CheckpointError, match="missing keys") as err:
        load_strict(net(table), sd)
    assert dropped in str(err.value)


def test_256_checkpoint_into_1024_generator_is_readable(tmp_path):
    path = tmp_path / "netG.pth"
    torch.save(zeros_state_dict("generator_256_cm2"), path)
    with pytest.raises(CheckpointError) as err:
        load_into(net("generator_1024_cm2"), path, role="g")
    msg = str(err.value)
    # Same channel_base, so the shared layers agree in shape; what is missing is named.
    assert str(path) in msg and "missing keys" in msg
    n_missing = len(TABLES["generator_1024_cm2"]) - len(TABLES["generator_256_cm2"])  # 36
    assert f"{n_missing} missing keys" in msg and "convs.12" in msg  # layers a 256 px generator lacks


def test_rosinality_dict_without_the_role_is_readable(tmp_path):
    path = tmp_path / "g_only.pt"
    torch.save({"g_ema": zeros_state_dict("generator_256_cm2")}, path)
    with pytest.raises(CheckpointError, match="'d'"):
        load_into(net("discriminator_256_cm2"), path, role="d")


# ----------------------------------------------------------------------------
# Files that would run code are refused


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_code_running_pickle_is_refused(tmp_path, writer):
    marker = tmp_path / "pwned"
    payload = {"g_ema": {"style.1.weight": torch.zeros(1)}, "evil": RunsCode(marker)}
    path = tmp_path / "evil.pt"
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))  # torch.load's legacy format
    with pytest.raises(CheckpointError, match="weights-only"):
        load_file(path)
    assert not marker.exists(), "loading the checkpoint ran the payload"
    pickle.loads(pickle.dumps(RunsCode(marker)))  # control: a plain unpickle really runs it
    assert marker.exists()


def test_missing_file_is_readable(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_file(tmp_path / "nope.pt")


# ----------------------------------------------------------------------------
# save_atomic


def test_save_atomic_leaves_only_the_file(tmp_path):
    path = tmp_path / "sub" / "netG.pth"
    save_atomic({"w": torch.ones(3)}, path)
    save_atomic({"w": torch.full((3,), 2.0)}, path)  # overwrite in place
    assert [p.name for p in path.parent.iterdir()] == ["netG.pth"]
    assert torch.equal(load_file(path)["w"], torch.full((3,), 2.0))


def test_save_atomic_failure_leaves_nothing(tmp_path):
    path = tmp_path / "netG.pth"
    save_atomic({"w": torch.ones(3)}, path)
    with pytest.raises((AttributeError, TypeError, RuntimeError)):  # pickle's "Can't pickle local object"
        save_atomic({"w": lambda: None}, path)  # lambdas cannot be pickled
    assert [p.name for p in tmp_path.iterdir()] == ["netG.pth"]
    assert torch.equal(load_file(path)["w"], torch.ones(3))  # the old file is intact


def test_a_rosinality_checkpoint_gives_its_ema_generator():
    """rosinality's train.py saves {"g", "d", "g_ema", ...}; the published samples come from g_ema."""
    from pipeline.nets.checkpoint import pick_state_dict

    g, g_ema, d = {"w": torch.zeros(1)}, {"w": torch.ones(1)}, {"w": torch.full((1,), 2.0)}
    ckpt = {"g": g, "d": d, "g_ema": g_ema, "args": {}}
    assert pick_state_dict(ckpt, "g") is g_ema and pick_state_dict(ckpt, "d") is d
    assert pick_state_dict({"g": g, "d": d}, "g") is g  # no EMA saved: the trained generator
    bare = {"style.1.weight": torch.zeros(1)}
    assert pick_state_dict(bare, "g") is bare  # GANSketching's netG.pth: a bare state dict
