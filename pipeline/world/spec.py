"""Typed settings of the toy world's trained networks (params.yaml `world:`, stage `world@<part>`)."""

from __future__ import annotations

from dataclasses import field
from typing import Literal

from ..config import ConfigError, GeneratorSpec, Int, NonNegFloat, NonNegInt, PosFloat, PosInt, Str, Unit, spec


@spec
class StandingChange:
    """From training step `at` on, `standing` of the renders are standing cats."""

    at: PosInt
    standing: Unit


@spec
class WorldGanSpec:
    """StyleGAN2 training (pipeline/world/gan.py) on the generator's training distribution."""

    iters: PosInt = 15000
    batch: PosInt = 32
    lr: PosFloat = 0.002
    r1_gamma: NonNegFloat = 0.1
    d_reg_every: NonNegInt = 16
    mixing: Unit = 0.9
    ema_kimg: PosFloat = 10.0
    standing: Unit = 0.07  # share of standing cats (LSUN cat: few); the rest sit or lie, half each
    # Changes of that share during training (a pose curriculum), in step order; README "The toy world".
    standing_changes: tuple[StandingChange, ...] = ()
    # Path-length regularization (StyleGAN2 config F) from step pl_from on; pl_weight 0 turns it off.
    pl_weight: NonNegFloat = 0.0
    pl_every: PosInt = 4
    pl_from: NonNegInt = 0
    # From this step on only G's mapping network (`style.*`) trains, the synthesis network fixed, so the
    # figures stay as drawn while the pose shares follow the data (slowly: docs/toy-world-measurements.md).
    mapping_only_from: NonNegInt | None = None
    ckpt_every: PosInt = 250
    # Where the GAN trains. "cpu" (default) reproduces the committed files; "auto"/"cuda" retrain on a GPU
    # in minutes (for a wider or longer generator), close to but not bit-exact against a CPU run.
    device: Literal["auto", "cpu", "cuda"] = "cpu"

    def validate(self, path):
        ats = [c.at for c in self.standing_changes]
        if ats != sorted(set(ats)):
            raise ConfigError(f"{path}.standing_changes: steps must increase, got {ats}")
        if ats and ats[-1] >= self.iters:
            raise ConfigError(f"{path}.standing_changes: step {ats[-1]} is not before iters {self.iters}")
        if self.mapping_only_from is not None and self.mapping_only_from >= self.iters:
            raise ConfigError(f"{path}.mapping_only_from: {self.mapping_only_from} is not before iters {self.iters}")

    def standing_at(self, step: int) -> float:
        share = self.standing
        for c in self.standing_changes:
            if step >= c.at:
                share = c.standing
        return share

    def standing_overall(self) -> float:
        """The share of standing cats among all the renders the generator is trained on."""
        bounds = [0] + [c.at for c in self.standing_changes] + [self.iters]
        shares = [self.standing] + [c.standing for c in self.standing_changes]
        return sum(s * (b - a) for s, a, b in zip(shares, bounds, bounds[1:])) / self.iters


@spec
class GanPhase:
    """`iters` steps with `standing` of the renders standing; mapping_only: only G's mapping network
    trains (the synthesis network fixed), at G's lr times mapping_lr."""

    iters: PosInt
    standing: Unit
    mapping_only: bool = False
    mapping_lr: PosFloat = 1.0


@spec
class WorldGanContinuedSpec:
    """The world part `gan_continued`: world.gan's generator continued through `phases`, in order.

    G and G_ema start from world.gan's netG.pth (its G_ema), D from its netD.pth, with fresh Adam
    states; steps are numbered on from world.gan.iters, so the data stream goes on where that run
    stopped; batch, lr, R1, mixing and EMA are world.gan's. At most one consecutive run of
    mapping_only phases (train_stylegan's mapping window)."""

    phases: tuple[GanPhase, ...] = ()

    def validate(self, path):
        flags = [p.mapping_only for p in self.phases]
        runs = sum(1 for i, f in enumerate(flags) if f and (i == 0 or not flags[i - 1]))
        if runs > 1:
            raise ConfigError(f"{path}.phases: at most one consecutive run of mapping_only phases, got {flags}")
        lrs = {p.mapping_lr for p in self.phases if p.mapping_only}
        if len(lrs) > 1:
            raise ConfigError(f"{path}.phases: the mapping_only phases must share one mapping_lr, got {sorted(lrs)}")
        bad = [i for i, p in enumerate(self.phases) if not p.mapping_only and p.mapping_lr != 1.0]
        if bad:
            raise ConfigError(f"{path}.phases[{bad[0]}]: mapping_lr applies to mapping_only phases only")

    def total_iters(self) -> int:
        return sum(p.iters for p in self.phases)

    def phase_at(self, step: int, start: int) -> GanPhase:
        """The phase that step `step` (numbered on from `start`) falls in."""
        end = start
        for p in self.phases:
            end += p.iters
            if step < end:
                return p
        raise ValueError(f"step {step} is past the continuation's last phase (ends at {end})")

    def mapping_window(self, start: int) -> tuple[int, int] | None:
        """(first step, step after the last) of the mapping_only phases, or None."""
        at, window = start, None
        for p in self.phases:
            if p.mapping_only:
                window = (window[0] if window else at, at + p.iters)
            at += p.iters
        return window


@spec
class WorldClipSpec:
    model: Str = "toy-clip"  # an open_clip config (pipeline/nets/clip_configs/toy-clip.json)
    steps: PosInt = 2500
    batch: PosInt = 256
    lr: PosFloat = 0.001


@spec
class WorldSketcherSpec:
    ngf: PosInt = 16  # PhotoSketch's width (published: 64); 9 residual blocks as published
    n_blocks: PosInt = 9
    steps: PosInt = 1500
    batch: PosInt = 32
    lr: PosFloat = 0.002


@spec
class WorldOracleSpec:
    width: PosInt = 32
    steps: PosInt = 1500
    batch: PosInt = 64
    lr: PosFloat = 0.002


@spec
class WorldSpec:
    seed: Int = 0
    size: Int = 32
    out: Str = "data/world"  # relative to the project root; one folder per part
    generator: GeneratorSpec = GeneratorSpec(style_dim=128, n_mlp=4, channel_base=1024, channel_max=64, lr_mlp=0.1)
    gan: WorldGanSpec = field(default_factory=WorldGanSpec)
    gan_continued: WorldGanContinuedSpec = field(default_factory=WorldGanContinuedSpec)
    clip: WorldClipSpec = field(default_factory=WorldClipSpec)
    sketcher: WorldSketcherSpec = field(default_factory=WorldSketcherSpec)
    oracle: WorldOracleSpec = field(default_factory=WorldOracleSpec)

    def validate(self, path):
        if self.size < 16 or self.size & (self.size - 1):
            raise ConfigError(f"{path}.size: must be a power of two >= 16, got {self.size}")
