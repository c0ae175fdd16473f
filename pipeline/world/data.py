"""What the toy world gives an experiment (prepare stage, assets.source: toy), and its targets.

    sketches/  `toy_data.sketch_pose` cats (any colour, background, facing), drawn by the world's sketch
               extractor from renders (`sketch_style: photosketch`) or the renderer's outlines
    photos/    image-regularization photos: the generator's training distribution
    eval/      the evaluation set: natural-coloured cats of the sketched pose (the study's evaluation
               photos are real standing cats; real cats are not pink)

`read_targets` then reads the pose of the input sketches with the oracle (the majority vote is the
target pose, so sketches a user draws of any pose work), and names the target colour of a prompt.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import torch

from ..data import DataError, ImageBank, save_png, to_pil
from ..nets.checkpoint import load_into
from .captions import colour_in, known_colours
from .oracle import Oracle
from .render import NATURAL_COLOURS, POSES, render, sample_factors

SEED_STREAMS = {"sketches": 1, "photos": 2, "eval": 3}


def world_files(world_dir: Path, gan: str = "gan") -> dict[str, Path]:
    """The world's trained files; `gan`: the part holding the generator (assets.world_gan)."""
    return {
        "netG.pth": world_dir / gan / "netG.pth",
        "netD.pth": world_dir / gan / "netD.pth",
        "photosketch.pth": world_dir / "sketcher" / "photosketch.pth",
        "clip.safetensors": world_dir / "clip" / "clip.safetensors",
        "oracle.pth": world_dir / "oracle" / "oracle.pth",
    }


def check_world(world_dir: Path, key: str, exp=None, gan: str = "gan") -> None:
    """Every trained file is there and, given the experiment, its generator settings are the ones the
    world's GAN was trained with (lr_mlp changes what the stored weights mean, not their shapes)."""
    for name, p in world_files(world_dir, gan).items():
        if not p.is_file():
            part = p.parent.name
            stage = "world_gan_continued" if part == "gan_continued" else f"world@{part}"  # dvc.yaml's names
            raise DataError(
                f"{p}: the toy world's {name} is missing ({key}: {world_dir}); it is committed with "
                f"the project (git checkout -- {p.parent}), or retrain it: "
                f"`dvc unfreeze {stage} && dvc repro {stage}`"
            )
    if exp is None:
        return
    import dataclasses
    import json

    summary = world_dir / gan / "summary.json"
    world = json.loads(summary.read_text())["world"]
    mine = {"size": exp.size, **dataclasses.asdict(exp.generator)}
    theirs = {"size": world["size"], **world["generator"]}
    diff = [f"{k}: {mine[k]} here, {theirs.get(k)} in the world" for k in mine if mine[k] != theirs.get(k)]
    if diff:
        raise DataError(
            f"experiments.{exp.name}: size / generator do not match the toy world's generator "
            f"({summary}): " + "; ".join(diff)
        )


def _write(images: torch.Tensor, folder: Path) -> None:
    for i, im in enumerate(images):
        save_png(to_pil(im), folder / f"{i:06d}.png")


def gan_training_distribution(world_dir: Path, gan: str = "gan") -> dict:
    """The pose / colour weights the generator in part `gan` was trained on last (its summary.json)."""
    import json

    summary = world_dir / gan / "summary.json"
    try:
        return json.loads(summary.read_text())["training"]["distribution"]
    except (OSError, KeyError, ValueError) as e:
        raise DataError(f"{summary}: cannot read the generator's training distribution ({e})") from None


def make_toy_data(out: Path, toy_data, size: int, seed: int, distribution: dict, sketcher=None) -> dict:
    """Render the experiment's three image sets into out/{sketches,photos,eval}/%06d.png.
    distribution: the generator's training distribution (`gan_training_distribution`);
    sketcher: the world's sketch extractor, for `sketch_style: photosketch`."""
    d = toy_data
    shown, sketches = render(
        sample_factors(d.n_sketches, seed * 10 + SEED_STREAMS["sketches"], pose={d.sketch_pose: 1.0}), size
    )
    if d.sketch_style == "photosketch":
        if sketcher is None:
            raise ValueError("toy_data.sketch_style 'photosketch' needs the world's sketch extractor (sketcher=)")
        with torch.no_grad():  # [N, 1, S, S] in [-1, 1], batch statistics as in training
            sketches = sketcher(shown).clamp(-1, 1)
    _write(sketches, out / "sketches")
    photos, _ = render(sample_factors(d.n_photos, seed * 10 + SEED_STREAMS["photos"], **distribution), size)
    _write(photos, out / "photos")
    evals, _ = render(
        sample_factors(
            d.n_eval,
            seed * 10 + SEED_STREAMS["eval"],
            pose={d.sketch_pose: 1.0},
            colour={c: 1.0 for c in NATURAL_COLOURS},
        ),
        size,
    )
    _write(evals, out / "eval")
    return {
        "sketches": d.n_sketches,
        "photos": d.n_photos,
        "eval": d.n_eval,
        "source": f"toy world renderer ({d.sketch_pose} cats, sketches: {d.sketch_style}; photos from the "
        "generator's training distribution; eval: natural-coloured cats of that pose)",
    }


def load_oracle(path: Path, size: int) -> Oracle:
    """The oracle from its file (recorded sha256 checked), eval mode, frozen."""
    from ..nets.checkpoint import load_file

    width = load_file(path)["photo.0.weight"].shape[0]  # the oracle's only free architecture knob
    oracle = Oracle(size, width)
    load_into(oracle, path)
    return oracle.eval().requires_grad_(False)


def read_targets(sketch_dir: Path, oracle: Oracle, size: int) -> dict:
    """The pose the oracle reads from each input sketch, and the majority: the target pose."""
    bank = ImageBank(sketch_dir, "sketches", size)
    poses = [POSES[i] for i in oracle.predict_sketch_pose(bank.all()).tolist()]
    votes = Counter(poses)
    target, n = votes.most_common(1)[0]
    return {
        "target_pose": target,
        "pose_votes": dict(votes),
        "agreement": round(n / len(poses), 4),
        "per_sketch": {p.name: pose for p, pose in zip(bank.paths, poses)},
    }


def target_colour(prompt: str) -> str:
    c = colour_in(prompt)
    if c is None:
        raise ValueError(f"prompt {prompt!r} names no colour the toy world knows ({known_colours()})")
    return c
