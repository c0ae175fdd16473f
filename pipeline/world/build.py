"""Train one part of the toy world and record it; verify the recorded files at load.

Parts and the files each writes into <world.out>/<part>/ (plus summary.json: the settings, the
training figures and the held-out accuracy; and a `<file>.sha256` beside every weights file):

    oracle     oracle.pth          pipeline/world/oracle.py
    sketcher   photosketch.pth     PhotoSketch architecture, narrow
    clip       clip.safetensors    open_clip `toy-clip`, float16
    gan        netG.pth netD.pth   the project's StyleGAN2, GANSketching's bare state dicts
    gan_continued                  the same files: `gan`'s generator continued through
               netG.pth netD.pth   world.gan_continued.phases (a pose curriculum; README "The toy world")

Any loader that finds `<file>.sha256` beside a weights file checks it (pipeline.nets.checkpoint
.verify_digest), so a file that is not the one this stage wrote is refused, naming both digests.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..config import to_jsonable, write_json
from ..io import atomic_dir
from ..nets.checkpoint import write_digest
from ..nets.stylegan2 import StyleGAN2Config
from .render import NATURAL_COLOURS
from .spec import WorldSpec

log = logging.getLogger(__name__)

PARTS = ("oracle", "sketcher", "clip", "gan", "gan_continued")
FILES = {
    "oracle": ("oracle.pth",),
    "sketcher": ("photosketch.pth",),
    "clip": ("clip.safetensors",),
    "gan": ("netG.pth", "netD.pth"),
    "gan_continued": ("netG.pth", "netD.pth"),
}


def gan_config(spec: WorldSpec) -> StyleGAN2Config:
    g = spec.generator
    return StyleGAN2Config(
        size=spec.size,
        style_dim=g.style_dim,
        n_mlp=g.n_mlp,
        channel_base=g.channel_base,
        channel_max=g.channel_max,
        lr_mlp=g.lr_mlp,
    )


def gan_distribution(spec: WorldSpec, step: int = 0) -> dict:
    """The generator's training set at a step of world.gan's schedule."""
    return pose_mix(spec.gan.standing_at(step))


def pose_mix(s: float) -> dict:
    """Natural fur colours only, `s` of the poses standing, the rest sitting and lying alike."""
    return {
        "pose": {"standing": s, "sitting": (1 - s) / 2, "lying": (1 - s) / 2},
        "colour": {c: 1.0 for c in NATURAL_COLOURS},
    }


def _stylegan_settings(spec: WorldSpec) -> dict:
    """train_stylegan's settings from world.gan, shared by its run and world@gan_continued's."""
    from ..models import resolve_device

    gs = spec.gan
    return {
        "seed": spec.seed, "batch": gs.batch, "lr": gs.lr, "r1_gamma": gs.r1_gamma, "d_reg_every": gs.d_reg_every,
        "mixing": gs.mixing, "ema_kimg": gs.ema_kimg, "ckpt_every": gs.ckpt_every,
        "device": resolve_device(gs.device, "world.gan.device"),
    }  # fmt: skip


def continue_gan(spec: WorldSpec, base: Path, out: Path, ckpt_dir: Path) -> dict:
    """world.gan's generator (the files in `base`) continued through world.gan_continued.phases into
    out/netG.pth and out/netD.pth; resumable from ckpt_dir. Returns the training summary."""
    from ..config import ConfigError
    from .gan import GanData, train_stylegan

    gs, cont = spec.gan, spec.gan_continued
    if not cont.phases:
        raise ConfigError("world.gan_continued.phases: empty; list the phases to continue world.gan's generator with")
    for name in ("netG.pth", "netD.pth"):
        if not (base / name).is_file():
            raise FileNotFoundError(
                f"{base / name}: world.gan's generator, which world@gan_continued continues, is missing"
            )
    start, mixes = gs.iters, {}

    def data_at(step: int) -> GanData:
        share = cont.phase_at(step, start).standing
        if share not in mixes:
            mixes[share] = GanData(**pose_mix(share))
        return mixes[share]

    window = cont.mapping_window(start)
    kw = _stylegan_settings(spec)
    summary = train_stylegan(
        gan_config(spec),
        data_at,
        out,
        ckpt_dir,
        iters=start + cont.total_iters(),
        mapping_only_from=window[0] if window else None,
        mapping_only_until=window[1] if window else None,
        mapping_lr_mult=next((p.mapping_lr for p in cont.phases if p.mapping_only), 1.0),
        init=(base / "netG.pth", base / "netD.pth"),
        start_step=start,
        **kw,
    )
    summary["device"] = str(kw["device"])
    summary["continued_from"] = {"files": str(base), "step": start}
    # what it was trained on last: the image-regularization photos and fid_prior use it
    summary["distribution"] = pose_mix(cont.phases[-1].standing)
    return summary


def train_part(part: str, spec: WorldSpec, out: Path, ckpt_dir: Path, tmp_dir: Path | None = None) -> dict:
    """Train `part` into out (replaced as a whole when complete); returns its summary."""
    if part not in PARTS:
        raise ValueError(f"unknown world part {part!r}; parts: {', '.join(PARTS)}")
    with atomic_dir(out, tmp_dir=tmp_dir) as tmp:
        if part == "oracle":
            from .trainers import train_oracle

            o = spec.oracle
            summary = train_oracle(
                tmp / "oracle.pth", seed=spec.seed, size=spec.size, steps=o.steps, batch=o.batch, lr=o.lr, width=o.width
            )
        elif part == "sketcher":
            from .trainers import train_sketcher

            s = spec.sketcher
            summary = train_sketcher(
                tmp / "photosketch.pth",
                seed=spec.seed,
                size=spec.size,
                steps=s.steps,
                batch=s.batch,
                lr=s.lr,
                ngf=s.ngf,
                n_blocks=s.n_blocks,
            )
        elif part == "clip":
            from .clip_train import train_clip

            c = spec.clip
            summary = train_clip(
                tmp / "clip.safetensors",
                seed=spec.seed,
                size=spec.size,
                steps=c.steps,
                batch=c.batch,
                lr=c.lr,
                model=c.model,
            )
        elif part == "gan_continued":
            summary = continue_gan(spec, out.parent / "gan", tmp, ckpt_dir)
        else:
            from .gan import GanData, train_stylegan

            gs, kw = spec.gan, _stylegan_settings(spec)
            summary = train_stylegan(
                gan_config(spec),
                lambda step: GanData(**gan_distribution(spec, step)),  # gan.standing_changes
                tmp,
                ckpt_dir,
                iters=gs.iters,
                pl_weight=gs.pl_weight,
                pl_every=gs.pl_every,
                pl_from=gs.pl_from,
                mapping_only_from=gs.mapping_only_from,
                **kw,
            )
            summary["device"] = str(kw["device"])
            # what it was trained on last: the image-regularization photos and fid_prior use it
            summary["distribution"] = gan_distribution(spec, gs.iters - 1)
            if gs.standing_changes:
                summary["distribution_changes"] = {c.at: gan_distribution(spec, c.at) for c in gs.standing_changes}
            summary["standing_overall"] = round(gs.standing_overall(), 4)
        files = {}
        for name in FILES[part]:
            files[name] = write_digest(tmp / name)
        write_json(
            {"part": part, "world": to_jsonable(spec), "files": files, "training": summary}, tmp / "summary.json"
        )
    log.info("world %s: %s", part, {k: v for k, v in summary.items() if k != "history"})
    return summary
