"""Shared plumbing of the CLIP methods: the CLIP model, cached prompt embeddings, and
per-parameter-group gradients (so each loss reaches exactly the parameters it is meant to)."""

from __future__ import annotations

from typing import Literal, Optional

import torch

from ..config import ClipSpec, Prompt, spec
from . import prompts
from .syog import SyogConfig


@spec
class ClipConfig(SyogConfig):
    """SYOG settings (target_prompt included) plus what every CLIP method needs."""

    source_prompt: Optional[Prompt] = None  # None: the experiment's source_prompt
    clip: Optional[ClipSpec] = None  # None: the experiment's CLIP model
    # reference: the global loss encodes the raw prompt and NADA's direction averages the 79 ImageNet
    # templates, as the references do; imagenet: every text embedding is the re-normalized
    # 79-template average (this project's earlier behaviour; README deviations).
    prompt_templates: Literal["reference", "imagenet"] = "reference"
    # The text methods export their last iteration: the evaluation set holds the sketched pose in
    # natural colours, so its FID would select the iteration that has moved least toward the prompt
    # (README "Which iteration is exported"). `select: best_fid` selects as SYOG does.
    select: Literal["best_fid", "final"] = "final"


class ClipGuidance:
    """CLIP for one method: frozen encoder, target/source prompt embeddings computed once."""

    def __init__(self, cfg: ClipConfig, exp, device):
        from ..nets.clip import IMAGENET_TEMPLATES, RAW, build_clip

        spec = cfg.clip or exp.clip
        self.clip = build_clip(spec.model, spec.pretrained, spec.checkpoint, device=device, cache_dir=spec.cache_dir)
        self.target_prompt, self.source_prompt = prompts(exp, cfg)
        self.templates = cfg.prompt_templates
        global_templates = RAW if cfg.prompt_templates == "reference" else IMAGENET_TEMPLATES
        self.target = self.clip.embed_prompt(self.target_prompt, global_templates).to(device)  # [D], normalized
        self.source = self.clip.embed_prompt(self.source_prompt, global_templates).to(device)  # [D], normalized

    def direction_texts(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(target, source) text embeddings [D] that NADA's direction dT = normalize(target - source) is
        made of: reference: the un-normalized 79-template means (NADA `compute_text_direction`);
        imagenet: the re-normalized means (StyleCLIP's `GetDt`)."""
        from ..nets.clip import IMAGENET_TEMPLATES

        if self.templates == "reference":
            t, s = (self.clip.template_mean(p, IMAGENET_TEMPLATES) for p in (self.target_prompt, self.source_prompt))
        else:
            t, s = self.target, self.source
        return t.to(self.target.device), s.to(self.target.device)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] in [-1, 1] -> normalized [B, D] in float32, differentiable w.r.t. the images.

        CLIP runs outside autocast, in float32: under bf16 the embeddings carry ~0.4 % relative
        error, enough to swamp a small dI = E_I(G_train) - E_I(G_frozen) (README deviations)."""
        with torch.autocast(images.device.type, enabled=False):
            return self.clip.encode_image(images.float(), normalize=True)


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
