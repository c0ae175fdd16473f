"""The `prepare` step: everything fine-tuning and evaluation read, in one normalized folder.

out/
  sketches/%06d.png     1-channel, size x size, white background (the user's sketches)
  photos/%06d.png       RGB photos for image regularization
  eval/%06d.png         the evaluation set for FID/KID/PR
  pretrained/netG.pth, netD.pth [, photosketch.pth]   published checkpoint formats
  fixed_inputs.pt       grid z + noise, made once from the seed, shared by every method
  sketches.png, pretrained_grid.png   what the report shows above the method grids
"""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import torch

from .config import Experiment
from .data import DataError, ImageBank, normalize_folder, save_png
from .demo_data import make_demo_data
from .models import build_sketcher, load_discriminator, load_generator, stylegan_config
from .nets.checkpoint import save_atomic
from .nets.stylegan2 import Discriminator, Generator
from .sample import make_fixed_inputs, make_grid, render_fixed

log = logging.getLogger(__name__)


def _link_or_copy(src: Path, dst: Path) -> None:
    if not src.is_file():
        raise DataError(f"{src}: expected file not found (did the fetch stage unpack "
                        "pretrained_models.zip? see README 'Paper experiment')")
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


def prepare(exp: Experiment, raw: Path, out: Path) -> dict:
    a = exp.assets
    if a.source == "synthetic":
        d = exp.demo_data
        counts = make_demo_data(out, exp.size, d.n_sketches, d.n_photos, d.n_eval, exp.seed)
        write_demo_networks(exp, out / "pretrained")
        if exp.sketch_extractor == "photosketch":
            raise DataError("the synthetic demo has no PhotoSketch weights; set sketch_extractor: xdog")
    else:
        counts = {
            "sketches": normalize_folder(raw / "sketch" / a.sketch_set / a.task, out / "sketches", exp.size, "sketches"),
            "photos": normalize_folder(raw / "image" / a.photos, out / "photos", exp.size, "photos", a.photo_cap),
            "eval": normalize_folder(raw / "eval" / a.task / "image", out / "eval", exp.size, "evaluation photos"),
        }
        for name in ("netG.pth", "netD.pth"):
            _link_or_copy(raw / "pretrained" / a.stylegan / name, out / "pretrained" / name)
        if exp.sketch_extractor == "photosketch":
            _link_or_copy(raw / "pretrained" / "photosketch.pth", out / "pretrained" / "photosketch.pth")

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
    log.info("prepared %s", counts)
    return {"counts": counts, "size": exp.size, "generator": stylegan_config(exp).to_dict()}
