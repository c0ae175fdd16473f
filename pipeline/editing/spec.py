"""Typed settings of the editing tools (an experiment's `editing:` block). Defaults are the
reference values (reference spec §4 and §1.8); the demo experiment shrinks the step counts."""

from __future__ import annotations

from dataclasses import field
from typing import Literal, Optional

from ..config import Bool, ConfigError, Float, Int, IntTuple, PosFloat, PosInt, Str, StrTuple, spec


@spec
class LatentOptSpec:
    enabled: Bool = True
    prompt: Optional[Str] = None  # None: the experiment's target_prompt
    steps: PosInt = 300
    lr: PosFloat = 0.1
    lambda_l2: Float = 0.008
    lambda_id: Float = 0.0


@spec
class MapperSpec:
    enabled: Bool = True
    prompt: Optional[Str] = None
    steps: PosInt = 50000  # StyleCLIP: 50,000 (10-12 h per prompt on a GPU)
    batch: PosInt = 2
    lr: PosFloat = 0.25
    lambda_clip: Float = 1.0
    lambda_l2: Float = 0.8
    lambda_id: Float = 0.1


@spec
class GlobalDirectionsSpec:
    enabled: Bool = True
    neutral: Optional[Str] = None  # None: the experiment's source_prompt
    target: Optional[Str] = None  # None: the experiment's target_prompt
    alpha: Float = 4.1  # strength (notebook default)
    beta: Float = 0.15  # disentanglement threshold (notebook default)
    n_images: PosInt = 100  # images per channel relevance (StyleCLIP: 100)
    alpha_sigma: PosFloat = 5.0
    stats_n: PosInt = 100000


@spec
class InversionSpec:
    enabled: Bool = True
    # project: this project's inverter (restarts, pixel + perceptual, fixed noise);
    # rosinality: rosinality's projector.py as it is (LPIPS VGG, MSE weight 0, noise maps optimized
    # with their 1e5 regularizer, latent noise, 1,000 steps in W; needs the `lpips` package)
    mode: Literal["project", "rosinality"] = "project"
    image: Optional[Str] = None  # None: the first evaluation photo
    space: Literal["wplus", "w", "z"] = "wplus"
    steps: Optional[PosInt] = None  # None: 300 (project) or 1,000 (rosinality, its projector.py)
    lr: PosFloat = 0.1
    restarts: PosInt = 3
    optimizer: Literal["adam", "lbfgs"] = "adam"
    perceptual_weights: Optional[Str] = None  # local VGG-16 weights; None: weight-free fallback

    @property
    def n_steps(self) -> int:
        return self.steps if self.steps is not None else (1000 if self.mode == "rosinality" else 300)


@spec
class InterpolationSpec:
    enabled: Bool = True
    frames: Int = 8
    weights_with: Optional[Str] = None  # a method block: interpolate weights between it and the edited G

    def validate(self, path):
        if self.frames < 2:
            raise ConfigError(f"{path}.frames: must be >= 2, got {self.frames}")


@spec
class ScribbleSpec:
    enabled: Bool = True
    image: Optional[Str] = None  # RGBA PNG: colors = scribble, alpha = mask; None: a built-in demo scribble
    steps: PosInt = 200
    lr: PosFloat = 0.05
    lam: Float = 0.5


@spec
class GanspaceSpec:
    enabled: Bool = True
    components: Optional[Str] = None  # a GANSpace npz (GANSketching weights/ganspace_cat.npz); None: recompute
    n_samples: PosInt = 100000  # recomputing: samples of W
    n_components: PosInt = 80
    comp_id: Int = 27  # GANSketching README: fur, scalar 50, layers 2-4 (its published npz)
    scalar: Float = 50.0
    layers: IntTuple = (2, 4)
    truncation: Float = 0.5  # GANSketching's ganspace.py: psi 0.5, once, after the shift

    def validate(self, path):
        if not 0 < self.truncation <= 1:
            raise ConfigError(f"{path}.truncation: must be in (0, 1], got {self.truncation}")
        if self.components is None and not 0 <= self.comp_id < self.n_components:
            raise ConfigError(f"{path}.comp_id: must be in [0, n_components={self.n_components}), got {self.comp_id}")
        if len(self.layers) != 2 or self.layers[0] > self.layers[1]:
            raise ConfigError(
                f"{path}.layers: expected [l_start, l_end] with l_start <= l_end, got {list(self.layers)}"
            )


@spec
class EditingSpec:
    generators: StrTuple = ("pretrained",)  # "pretrained" and/or method block names
    n_images: PosInt = 4  # start codes per edit
    truncation: Float = 0.7  # start codes at psi 0.7 (StyleCLIP's random starts)
    seed: Int = 0
    latent_opt: LatentOptSpec = field(default_factory=LatentOptSpec)
    mapper: MapperSpec = field(default_factory=MapperSpec)
    global_directions: GlobalDirectionsSpec = field(default_factory=GlobalDirectionsSpec)
    inversion: InversionSpec = field(default_factory=InversionSpec)
    interpolation: InterpolationSpec = field(default_factory=InterpolationSpec)
    scribble: ScribbleSpec = field(default_factory=ScribbleSpec)
    ganspace: GanspaceSpec = field(default_factory=GanspaceSpec)

    def validate(self, path):
        if not self.generators:
            raise ConfigError(f"{path}.generators: name at least one generator ('pretrained' or a method block)")
