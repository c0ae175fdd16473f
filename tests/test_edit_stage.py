"""The edit stage's wiring (pipeline/edit.py::run_edits): which prompts, generators and states each
editing tool is handed. The tools themselves are tested in test_editing_*.py; here each is spied on."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from pipeline import edit
from pipeline.editing import ganspace, global_directions, interpolation, latent_opt
from pipeline.editing.spec import (
    EditingSpec,
    GanspaceSpec,
    GlobalDirectionsSpec,
    InterpolationSpec,
    InversionSpec,
    LatentOptSpec,
    MapperSpec,
    ScribbleSpec,
)
from pipeline.nets.clip import DEMO_CLIP, build_clip
from pipeline.nets.stylegan2 import Generator

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(size=16, style_dim=16, n_mlp=2, channel_base=128, channel_max=16)


def spy(monkeypatch, module, name, calls):
    real = getattr(module, name)

    def wrapper(*args, **kwargs):
        calls.setdefault(name, []).append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)


def test_run_edits_hands_each_tool_the_right_prompts_generators_and_states(tmp_path, monkeypatch):
    torch.manual_seed(0)
    G, G_pre = Generator(**TINY).eval(), Generator(**TINY).eval()
    other = {k: v.clone() for k, v in G_pre.state_dict().items()}
    exp = SimpleNamespace(target_prompt="a photo of a black cat", source_prompt="a photo of a cat")
    spec = EditingSpec(
        n_images=2,
        latent_opt=LatentOptSpec(steps=2),
        mapper=MapperSpec(enabled=False),
        global_directions=GlobalDirectionsSpec(n_images=1, stats_n=64),
        inversion=InversionSpec(enabled=False),
        interpolation=InterpolationSpec(frames=3),
        scribble=ScribbleSpec(enabled=False),
        ganspace=GanspaceSpec(n_samples=64, n_components=4, comp_id=0, scalar=1.0, layers=(0, 1)),
    )
    calls: dict = {}
    spy(monkeypatch, latent_opt, "latent_optimization", calls)
    spy(monkeypatch, global_directions, "text_direction", calls)
    spy(monkeypatch, ganspace, "compute_ganspace", calls)
    spy(monkeypatch, interpolation, "interpolate_weights", calls)
    made = edit.run_edits(
        exp, spec, G, build_clip(DEMO_CLIP, None), tmp_path, tmp_path, tmp_path / "cache", other, G_pre
    )
    assert {"latent_opt", "global_directions", "interpolation", "weights_interpolation", "ganspace"} <= set(made)
    # latent optimization toward the target prompt
    ((args, _),) = calls["latent_optimization"]
    assert args[2] == "a photo of a black cat"
    # the global direction from the source (neutral) prompt to the target
    ((args, _),) = calls["text_direction"]
    assert args[1:3] == ("a photo of a cat", "a photo of a black cat")
    # GANSpace's directions from the pretrained generator's W, applied to the customized one
    ((args, _),) = calls["compute_ganspace"]
    assert args[0] is G_pre
    # weights interpolation runs from the other generator (t = 0) to the edited one (t = 1)
    first, last = calls["interpolate_weights"][0][0], calls["interpolate_weights"][-1][0]
    assert first[0] is other and first[2] == 0.0 and last[2] == 1.0
    assert all(torch.equal(first[1][k], v) for k, v in G.state_dict().items())  # the edited G, restored after
