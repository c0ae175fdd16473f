"""The `prepare` step: everything fine-tuning and evaluation read, in one normalized folder.

out/
  sketches/%06d.png     1-channel, size x size, white background (the user's sketches)
  photos/%06d.png       RGB photos for image regularization
  eval/%06d.png         the evaluation set for FID/KID/PR
  pretrained/netG.pth, netD.pth [, photosketch.pth]   published checkpoint formats
  fixed_inputs.pt       grid z + noise, made once from the seed, shared by every method
  sketches.png, pretrained_grid.png   what the report shows above the method grids

Where the three image sets come from: the user's folders when `assets.sketch_dir` / `photo_dir` /
`eval_dir` are set (any image files; normalized here), else the fetched data (source official or
mirror), else the demo's chelsea crops (source synthetic). `check_inputs` validates them before
any work, so a bad folder stops the stage with one clear line and nothing written.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from pathlib import Path

import torch

from .config import Experiment, write_json
from .data import DataError, ImageBank, list_images, normalize_folder, open_image, save_png
from .demo_data import make_demo_data
from .models import build_sketcher, load_discriminator, load_generator, stylegan_config
from .nets.checkpoint import save_atomic, verify_digest
from .nets.stylegan2 import Discriminator, Generator
from .sample import make_fixed_inputs, make_grid, render_fixed

log = logging.getLogger(__name__)


def _link_or_copy(src: Path, dst: Path) -> None:
    if not src.is_file():
        raise DataError(
            f"{src}: expected file not found (did the fetch stage unpack "
            "pretrained_models.zip? see README 'Paper experiment')"
        )
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def write_demo_networks(exp: Experiment, out: Path) -> None:
    """Small seeded networks saved exactly as GANSketching's netG.pth / netD.pth (bare state dicts)."""
    cfg = stylegan_config(exp)
    with torch.random.fork_rng():
        torch.manual_seed(exp.seed)
        G, D = Generator(cfg), Discriminator(cfg)
    save_atomic(G.state_dict(), out / "netG.pth")
    save_atomic(D.state_dict(), out / "netD.pth")


USER_DIRS = {"sketches": "sketch_dir", "photos": "photo_dir", "eval": "eval_dir"}
KINDS = {"sketches": "sketches", "photos": "photos", "eval": "evaluation photos"}


def with_project_paths(exp: Experiment, root: Path) -> Experiment:
    """`exp` with assets.sketch_dir / photo_dir / eval_dir made absolute (relative ones are relative to `root`)."""
    a, paths = exp.assets, {}
    for k in (*USER_DIRS.values(), "world_dir"):
        if getattr(a, k) is not None:
            p = Path(getattr(a, k)).expanduser()
            paths[k] = str(p if p.is_absolute() else Path(root) / p)
    return dataclasses.replace(exp, assets=dataclasses.replace(a, **paths)) if paths else exp


def input_folders(exp: Experiment, raw: Path) -> dict:
    """{set: (folder, what to say in an error)} for every image set read from a folder; the demo makes
    the sets that are not listed. User folders win over fetched data."""
    a, found = exp.assets, {}
    fetched = {
        "sketches": raw / "sketch" / a.sketch_set / a.task,
        "photos": raw / "image" / a.photos,
        "eval": raw / "eval" / a.task / "image",
    }
    for name, key in USER_DIRS.items():
        if getattr(a, key) is not None:
            found[name] = (Path(getattr(a, key)), f"experiments.{exp.name}.assets.{key}: {{}}")
        elif a.source not in ("synthetic", "toy"):
            found[name] = (
                fetched[name],
                f"{{}} (the fetched data, assets.source {a.source!r}: did `dvc repro "
                f"fetch` run? are assets.task / sketch_set / photos right? or set "
                f"assets.{key} to your own folder)",
            )
    return found


def check_inputs(exp: Experiment, raw: Path) -> dict:
    """Validate the input folders before any work; DataError naming the folder, the key and the problem.

    Every folder must exist and hold images; every sketch is opened (a corrupt file is named).
    Photos and evaluation photos are opened when they are normalized (a corrupt one is named then).
    Returns {set: number of files}.
    """
    counts = {}
    for name, (folder, origin) in input_folders(exp, raw).items():
        try:
            files = list_images(folder, KINDS[name])
            if name == "sketches":
                for f in files:
                    open_image(f)
        except DataError as e:
            raise DataError(origin.format(e)) from None
        counts[name] = len(files)
    a = exp.assets
    if a.source == "toy":
        from .world.data import check_world

        check_world(Path(a.world_dir), f"experiments.{exp.name}.assets.world_dir", exp, a.world_gan)
    elif a.source != "synthetic":  # official or mirror
        for f in ("netG.pth", "netD.pth"):
            if not (raw / "pretrained" / a.stylegan / f).is_file():
                raise DataError(
                    f"{raw / 'pretrained' / a.stylegan / f}: pretrained checkpoint not found (did the "
                    f"fetch stage unpack pretrained_models.zip? is assets.stylegan {a.stylegan!r} right?)"
                )
    if exp.sketch_extractor == "photosketch" and a.source == "synthetic":
        raise DataError("the synthetic demo has no PhotoSketch weights; set sketch_extractor: xdog")
    return counts


def prepare(exp: Experiment, raw: Path, out: Path) -> dict:
    """Write everything later stages read into `out` (a fresh folder: the stage renames it into place)."""
    a = exp.assets
    check_inputs(exp, raw)
    counts = {}
    if a.source == "synthetic":
        d = exp.demo_data
        counts = make_demo_data(out, exp.size, d.n_sketches, d.n_photos, d.n_eval, exp.seed)
        write_demo_networks(exp, out / "pretrained")
    elif a.source == "toy":
        from .world.data import gan_training_distribution, make_toy_data, world_files

        world = Path(a.world_dir)
        files = world_files(world, a.world_gan)
        for name in ("netG.pth", "netD.pth", "photosketch.pth"):
            verify_digest(files[name])
            _link_or_copy(files[name], out / "pretrained" / name)
        counts = make_toy_data(
            out,
            exp.toy_data,
            exp.size,
            exp.seed,
            gan_training_distribution(world, a.world_gan),
            sketcher=build_sketcher(exp, out / "pretrained"),
        )
    else:
        for name in ("netG.pth", "netD.pth"):
            _link_or_copy(raw / "pretrained" / a.stylegan / name, out / "pretrained" / name)
        if exp.sketch_extractor == "photosketch":
            _link_or_copy(raw / "pretrained" / "photosketch.pth", out / "pretrained" / "photosketch.pth")
    sources = {}
    for name, (folder, origin) in input_folders(exp, raw).items():
        shutil.rmtree(out / name, ignore_errors=True)  # a demo set replaced by the user's folder
        limit = a.photo_cap if name == "photos" else None
        try:
            counts[name] = normalize_folder(folder, out / name, exp.size, KINDS[name], limit)
        except DataError as e:
            raise DataError(origin.format(e)) from None
        sources[name] = str(folder)
    if sources:
        counts["from"] = sources

    # Fail here, not an hour into fine-tuning: the checkpoints must load strictly.
    G = load_generator(exp, out / "pretrained" / "netG.pth")
    load_discriminator(exp, out / "pretrained" / "netD.pth")
    build_sketcher(exp, out / "pretrained")

    fixed = make_fixed_inputs(G.style_dim, G.num_layers, exp.eval.grid_size, exp.seed)
    save_atomic(fixed, out / "fixed_inputs.pt")
    images = render_fixed(G, fixed, truncation=exp.eval.truncation)
    save_png(make_grid(images), out / "pretrained_grid.png")
    sketches = ImageBank(out / "sketches", "sketches", exp.size).all()[: exp.eval.grid_size]
    save_png(make_grid(sketches), out / "sketches.png")
    summary = {"counts": counts, "size": exp.size, "generator": stylegan_config(exp).to_dict()}
    if a.source == "toy":
        # The target pose: what the oracle reads from the input sketches (majority), whoever drew them.
        from .world.data import load_oracle, read_targets, world_files

        targets = read_targets(
            out / "sketches", load_oracle(world_files(Path(a.world_dir))["oracle.pth"], exp.size), exp.size
        )
        write_json(targets, out / "world.json")
        summary["world"] = {k: v for k, v in targets.items() if k != "per_sketch"}
    log.info("prepared %s", counts)
    return summary
