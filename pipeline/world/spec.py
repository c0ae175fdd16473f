"""Typed settings of the toy world's trained networks (params.yaml `world:`, stage `world@<part>`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import ConfigError, GeneratorSpec, in_unit, positive


@dataclass(frozen=True)
class WorldGanSpec:
    """StyleGAN2 training (pipeline/world/gan.py) on the generator's training distribution."""

    iters: int = 15000
    batch: int = 32
    lr: float = 0.002
    r1_gamma: float = 0.1
    d_reg_every: int = 16
    mixing: float = 0.9
    ema_kimg: float = 10.0
    standing: float = 0.07  # share of standing cats (LSUN cat: few); the rest sit or lie, half each
    ckpt_every: int = 250

    def validate(self, path):
        positive(
            path, iters=self.iters, batch=self.batch, lr=self.lr, ema_kimg=self.ema_kimg, ckpt_every=self.ckpt_every
        )
        in_unit(path, mixing=self.mixing, standing=self.standing)
        if self.r1_gamma < 0 or self.d_reg_every < 0:
            raise ConfigError(f"{path}: r1_gamma and d_reg_every must be >= 0")


@dataclass(frozen=True)
class WorldClipSpec:
    model: str = "toy-clip"  # an open_clip config (pipeline/nets/clip_configs/toy-clip.json)
    steps: int = 2500
    batch: int = 256
    lr: float = 0.001

    def validate(self, path):
        positive(path, steps=self.steps, batch=self.batch, lr=self.lr)


@dataclass(frozen=True)
class WorldSketcherSpec:
    ngf: int = 16  # PhotoSketch's width (published: 64); 9 residual blocks as published
    n_blocks: int = 9
    steps: int = 1500
    batch: int = 32
    lr: float = 0.002

    def validate(self, path):
        positive(path, ngf=self.ngf, n_blocks=self.n_blocks, steps=self.steps, batch=self.batch, lr=self.lr)


@dataclass(frozen=True)
class WorldOracleSpec:
    width: int = 32
    steps: int = 1500
    batch: int = 64
    lr: float = 0.002

    def validate(self, path):
        positive(path, width=self.width, steps=self.steps, batch=self.batch, lr=self.lr)


@dataclass(frozen=True)
class WorldSpec:
    seed: int = 0
    size: int = 32
    out: str = "data/world"  # relative to the project root; one folder per part
    generator: GeneratorSpec = GeneratorSpec(style_dim=128, n_mlp=4, channel_base=1024, channel_max=64, lr_mlp=0.1)
    gan: WorldGanSpec = field(default_factory=WorldGanSpec)
    clip: WorldClipSpec = field(default_factory=WorldClipSpec)
    sketcher: WorldSketcherSpec = field(default_factory=WorldSketcherSpec)
    oracle: WorldOracleSpec = field(default_factory=WorldOracleSpec)

    def validate(self, path):
        if self.size < 16 or self.size & (self.size - 1):
            raise ConfigError(f"{path}.size: must be a power of two >= 16, got {self.size}")
