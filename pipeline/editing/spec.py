"""Typed settings of the editing tools (an experiment's `editing:` block). Defaults are the
reference values (reference spec §4 and §1.8); the demo experiment shrinks the step counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

from ..config import ConfigError, positive


@dataclass(frozen=True)
class LatentOptSpec:
    enabled: bool = True
    prompt: Optional[str] = None  # None: the experiment's target_prompt
    steps: int = 300
    lr: float = 0.1
    lambda_l2: float = 0.008
    lambda_id: float = 0.0

    def validate(self, path):
        positive(path, steps=self.steps, lr=self.lr)


@dataclass(frozen=True)
class MapperSpec:
    enabled: bool = True
    prompt: Optional[str] = None
    steps: int = 50000  # StyleCLIP: 50,000 (10-12 h per prompt on a GPU)
    batch: int = 2
    lr: float = 0.25
    lambda_clip: float = 1.0
    lambda_l2: float = 0.8
    lambda_id: float = 0.1

    def validate(self, path):
        positive(path, steps=self.steps, batch=self.batch, lr=self.lr)


@dataclass(frozen=True)
class GlobalDirectionsSpec:
    enabled: bool = True
    neutral: Optional[str] = None  # None: the experiment's source_prompt
    target: Optional[str] = None  # None: the experiment's target_prompt
    alpha: float = 4.1  # strength (notebook default)
    beta: float = 0.15  # disentanglement threshold (notebook default)
    n_images: int = 100  # images per channel relevance (StyleCLIP: 100)
    alpha_sigma: float = 5.0
    stats_n: int = 100000

    def validate(self, path):
        positive(path, n_images=self.n_images, stats_n=self.stats_n, alpha_sigma=self.alpha_sigma)


@dataclass(frozen=True)
class InversionSpec:
    enabled: bool = True
    # project: this project's inverter (restarts, pixel + perceptual, fixed noise);
    # rosinality: rosinality's projector.py as it is (LPIPS VGG, MSE weight 0, noise maps optimized
    # with their 1e5 regularizer, latent noise, 1,000 steps in W; needs the `lpips` package)
    mode: Literal["project", "rosinality"] = "project"
    image: Optional[str] = None  # None: the first evaluation photo
    space: Literal["wplus", "w", "z"] = "wplus"
    steps: Optional[int] = None  # None: 300 (project) or 1,000 (rosinality, its projector.py)
    lr: float = 0.1
    restarts: int = 3
    optimizer: Literal["adam", "lbfgs"] = "adam"
    perceptual_weights: Optional[str] = None  # local VGG-16 weights; None: weight-free fallback

    @property
    def n_steps(self) -> int:
        return self.steps if self.steps is not None else (1000 if self.mode == "rosinality" else 300)

    def validate(self, path):
        positive(path, steps=self.steps, lr=self.lr, restarts=self.restarts)


@dataclass(frozen=True)
class InterpolationSpec:
    enabled: bool = True
    frames: int = 8
    weights_with: Optional[str] = None  # a method block: interpolate weights between it and the edited G

    def validate(self, path):
        if self.frames < 2:
            raise ConfigError(f"{path}.frames: must be >= 2, got {self.frames}")


@dataclass(frozen=True)
class ScribbleSpec:
    enabled: bool = True
    image: Optional[str] = None  # RGBA PNG: colors = scribble, alpha = mask; None: a built-in demo scribble
    steps: int = 200
    lr: float = 0.05
    lam: float = 0.5

    def validate(self, path):
        positive(path, steps=self.steps, lr=self.lr)


@dataclass(frozen=True)
class GanspaceSpec:
    enabled: bool = True
    components: Optional[str] = None  # a GANSpace npz (GANSketching weights/ganspace_cat.npz); None: recompute
    n_samples: int = 100000  # recomputing: samples of W
    n_components: int = 80
    comp_id: int = 27  # GANSketching README: fur, scalar 50, layers 2-4 (its published npz)
    scalar: float = 50.0
    layers: tuple[int, ...] = (2, 4)
    truncation: float = 0.5  # GANSketching's ganspace.py: psi 0.5, once, after the shift

    def validate(self, path):
        positive(path, n_samples=self.n_samples, n_components=self.n_components)
        if not 0 < self.truncation <= 1:
            raise ConfigError(f"{path}.truncation: must be in (0, 1], got {self.truncation}")
        if self.components is None and not 0 <= self.comp_id < self.n_components:
            raise ConfigError(f"{path}.comp_id: must be in [0, n_components={self.n_components}), got {self.comp_id}")
        if len(self.layers) != 2 or self.layers[0] > self.layers[1]:
            raise ConfigError(
                f"{path}.layers: expected [l_start, l_end] with l_start <= l_end, got {list(self.layers)}"
            )


@dataclass(frozen=True)
class EditingSpec:
    generators: tuple[str, ...] = ("pretrained",)  # "pretrained" and/or method block names
    n_images: int = 4  # start codes per edit
    truncation: float = 0.7  # start codes at psi 0.7 (StyleCLIP's random starts)
    seed: int = 0
    latent_opt: LatentOptSpec = field(default_factory=LatentOptSpec)
    mapper: MapperSpec = field(default_factory=MapperSpec)
    global_directions: GlobalDirectionsSpec = field(default_factory=GlobalDirectionsSpec)
    inversion: InversionSpec = field(default_factory=InversionSpec)
    interpolation: InterpolationSpec = field(default_factory=InterpolationSpec)
    scribble: ScribbleSpec = field(default_factory=ScribbleSpec)
    ganspace: GanspaceSpec = field(default_factory=GanspaceSpec)

    def validate(self, path):
        positive(path, n_images=self.n_images)
        if not self.generators:
            raise ConfigError(f"{path}.generators: name at least one generator ('pretrained' or a method block)")
