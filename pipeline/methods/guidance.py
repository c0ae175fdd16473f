"""Shared plumbing of the CLIP methods: the CLIP model, cached prompt embeddings, and
per-parameter-group gradients (so each loss reaches exactly the parameters it is meant to)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from ..config import ClipSpec, ConfigError
from . import prompts
from .syog import SyogConfig


@dataclass(frozen=True)
class ClipConfig(SyogConfig):
    """SYOG settings (target_prompt included) plus what every CLIP method needs."""
    source_prompt: Optional[str] = None   # None: the experiment's source_prompt
    clip: Optional[ClipSpec] = None       # None: the experiment's CLIP model

    def validate(self, path):
        super().validate(path)
        if self.source_prompt is not None and not self.source_prompt.strip():
            raise ConfigError(f"{path}.source_prompt: must be a non-empty prompt (or omit it to use the experiment's)")


class ClipGuidance:
    """CLIP for one method: frozen encoder, target/source prompt embeddings computed once."""

    def __init__(self, cfg: ClipConfig, exp, device):
        from ..nets.clip import build_clip
        spec = cfg.clip or exp.clip
        self.clip = build_clip(spec.model, spec.pretrained, spec.checkpoint, device=device, cache_dir=spec.cache_dir)
        self.target_prompt, self.source_prompt = prompts(exp, cfg)
        self.target = self.clip.embed_prompt(self.target_prompt).to(device)   # [D], normalized
        self.source = self.clip.embed_prompt(self.source_prompt).to(device)   # [D], normalized

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] in [-1, 1] -> normalized [B, D], differentiable w.r.t. the images."""
        return self.clip.encode_image(images, normalize=True)


def set_grads(groups: list[tuple[torch.Tensor, list[torch.nn.Parameter]]], retain_last: bool = False) -> None:
    """For each (loss, params): param.grad += d loss / d param, each loss reaching only its params.

    One forward, one backward per loss: the shared graph is kept until the last loss.
    """
    for i, (loss, params) in enumerate(groups):
        keep = retain_last or i < len(groups) - 1
        grads = torch.autograd.grad(loss, params, retain_graph=keep, allow_unused=True)
        for p, g in zip(params, grads):
            if g is None:
                continue
            p.grad = g if p.grad is None else p.grad + g
