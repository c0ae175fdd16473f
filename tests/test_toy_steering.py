"""Do the methods do what they claim? In the toy world, with the committed networks and the oracle:

  * a short fine-tune of the text method that works here (`clip_global`) moves colour_acc toward the
    prompt's colour, and one toward another colour does not (the prompt's colour swapped);
  * NADA's direction step lowers the directional loss on a fixed batch, and a swapped prompt pair
    drives the images the other way.

That a short sketch fine-tune (`syog`) moves the samples toward the sketched pose is shown end to end,
through DVC, by tests/test_toy_world_e2e.py (the same +0.3 bound; 0.97 / 0.79 / 0.56 at 150 steps for
seeds 0 / 1 / 2 when this file measured it in-process too).

Toy-world numbers: they measure the methods in this world, not in the published setting.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from tiny import direction_loss_on, fixed_direction_batch
from toyworld import finetune_and_measure, prepare_toy, toy_params

pytestmark = pytest.mark.slow

PINK, BLUE = "a photo of a pink cat", "a photo of a blue cat"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("steer")
    # The first generator (world@gan): mapping-only clip_global turns its cats pink in 200 steps (washes,
    # outside W); the default world@gan_continued needs more (colour_acc 0 at 200, 0.19 at the demo's 400)
    params = toy_params(**{"experiments.toy.assets.world_gan": "gan"})
    prepare_toy(tmp, params.experiment)
    return tmp, params


@pytest.fixture(scope="module")
def pretrained(world):
    tmp, params = world
    return finetune_and_measure(tmp, params.experiment, params, "syog", iters=0, name="pretrained")


def test_the_clip_global_loss_turns_the_cats_the_prompt_s_colour_and_not_another(world, pretrained):
    tmp, params = world
    pink = finetune_and_measure(
        tmp, params.experiment, params, "clip_global", {"target_prompt": PINK}, iters=200, name="pink"
    )
    blue = finetune_and_measure(
        tmp, params.experiment, params, "clip_global", {"target_prompt": BLUE}, iters=200, name="blue"
    )
    # colour_acc is measured against each run's own prompt: pink for the first, blue for the second
    # From <= 0.02 to >= 0.3, each. The figure is one chaotic 200-step run and moves with the CPU:
    # pink 0.47 / blue 0.77 on a 2-core AMD EPYC, above 0.5 each on the machine before (README).
    assert pretrained["colour_acc"] <= 0.02 and pretrained["pose_acc"] <= 0.15  # natural colours, few stand
    assert pink["colour_acc"] >= 0.3, pink
    assert blue["colour_acc"] >= 0.3, blue
    # the run toward blue does not make pink cats, nor the pink run blue ones
    assert blue["share_colour_pink"] <= 0.05 and pink["share_colour_blue"] <= 0.05, (pink, blue)


# ----------------------------------------------------------------------------
# NADA's direction step, with the world's trained CLIP


def toy_method(world, **changes):
    from tiny import ROOT

    from pipeline.methods import get_method
    from pipeline.models import build_nets
    from pipeline.prepare import with_project_paths

    tmp, params = world
    exp = with_project_paths(params.experiment, ROOT)
    exp = dataclasses.replace(exp, clip=dataclasses.replace(exp.clip, checkpoint=str(ROOT / exp.clip.checkpoint)))
    cfg = dataclasses.replace(params.method("clip_direction"), **changes)
    torch.manual_seed(0)
    nets = build_nets(exp, tmp / "prepared" / "pretrained", torch.device("cpu"))
    return get_method("clip_direction")(cfg, nets, exp)


def test_direction_steps_lower_the_directional_loss_and_a_swap_points_away(world):
    exp = world[1].experiment
    toward = toy_method(world)
    away = toy_method(world, target_prompt=exp.source_prompt, source_prompt=exp.target_prompt)
    torch.testing.assert_close(away.text_dir, -toward.text_dir, atol=1e-6, rtol=0)
    w, noise = fixed_direction_batch(toward)
    fixed_direction_batch(away)
    for m in (toward, away):
        torch.manual_seed(1)
        m.direction_step()  # dI is noise-sized at first
    first = direction_loss_on(toward, w, noise)
    for m in (toward, away):
        for _ in range(10):
            m.direction_step()
    last = direction_loss_on(toward, w, noise)
    assert last < first - 0.2, (first, last)
    # the swapped run's image change, measured against the target direction, points away from it
    assert direction_loss_on(away, w, noise, toward.text_dir) > 1.2
