"""`diagonal`: Sketch Your Own GAN + a DiagonalGAN-style content branch steered by CLIP.

The style mapping network (`style.*`) is trained by L_SYOG only; the content branch (its own
mapping network z_c -> p and the diagonal attention layers, pipeline/nets/diagonal.py) by
lambda_global * L_global (+ ds_lambda's term) only. With `syog: false` (ablation
`diagonal_no_syog`) there is no sketch loss at all: no discriminator steps, the style mapping stays
pretrained. Exports netG.pth (published format, attention excluded) and content.pth (the branch).

Differences from DiagonalGAN (cyclomon/DiagonalGAN, reference spec §3), documented in the README:
  * the content MLP uses StyleGAN2's fused leaky ReLU (x sqrt 2 per layer), so its output p is about
    sqrt(2)^8 = 16 x DiagonalGAN's plain LeakyReLU MLP at initialisation; the attention's gamma
    starts at 0, so the generator is unchanged at step 0 whatever p's scale;
  * DiagonalGAN's diversity-sensitive loss L_DS = max(0, ds_lambda - E|G(z_s, z_c2) - G(z_s, z_c3)|)
    (its --ds_lambda 0.3) is a switch, off by default (`ds_lambda: 0`), since the study does not name it.
"""

from __future__ import annotations

from typing import Optional

import torch

from ..config import Bool, NonNegFloat, PosFloat, PosInt, spec
from ..losses.clip import global_loss
from ..nets.diagonal import ContentBranch
from . import register_method
from .guidance import ClipConfig, ClipGuidance, set_grads
from .syog import SketchYourOwnGAN, requires_grad


@spec
class DiagonalConfig(ClipConfig):
    lambda_global: NonNegFloat = 1.0
    content_dim: Optional[PosInt] = None  # None: the generator's style_dim
    content_mlp: PosInt = 8
    attention_max_res: PosInt = 64  # DAT on convs at resolutions <= this (DiagonalGAN: 256)
    content_lr: PosFloat = 0.002
    syog: Bool = True  # False: CLIP only (ablation diagonal_no_syog)
    ds_lambda: NonNegFloat = 0.0  # DiagonalGAN's diversity-sensitive loss margin (0.3 there); 0: off (>= 0)


@register_method("diagonal")
class Diagonal(SketchYourOwnGAN):
    Config = DiagonalConfig

    def __init__(self, cfg: DiagonalConfig, nets, exp):
        super().__init__(cfg, nets, exp)
        G = nets.G
        self.branch = ContentBranch(G, cfg.content_dim or G.style_dim, cfg.content_mlp, cfg.attention_max_res).to(
            nets.device
        )
        self.branch.attach(G)
        self.content_params = list(self.branch.parameters())
        self.c_optim = torch.optim.Adam(self.content_params, lr=cfg.content_lr, betas=(cfg.beta1, cfg.beta2))
        if not cfg.syog:
            requires_grad(G, False)
            self.g_params = []
        self.guide = ClipGuidance(cfg, exp, nets.device)

    def modules(self) -> dict:
        return {**super().modules(), "content": self.branch}

    def optimizers(self) -> dict:
        return {**super().optimizers(), "c_optim": self.c_optim}

    def extra_exports(self) -> dict:
        return {"content.pth": self.branch.state_dict()}

    def sampler(self):
        from ..sample import Sampler

        return Sampler(self.nets.G, self.branch)

    def fake(self, batch: int) -> torch.Tensor:
        z, inject = self.mixed_z(batch)
        z_c = torch.randn(batch, self.branch.content_dim).to(self.nets.device)
        codes = self.branch.content_codes(z_c, self.nets.G.n_latent)
        img, self.fake_w = self.nets.G(z, inject_index=inject, content=codes, return_latents=True)
        return img

    def ds_loss(self, batch: int) -> torch.Tensor:
        """L_DS = max(0, ds_lambda - mean |G(z_s, z_c2) - G(z_s, z_c3)|): one style, two contents
        (DiagonalGAN `train.py`); it keeps the content code changing the image."""
        G, dev = self.nets.G, self.nets.device
        z = torch.randn(batch, G.style_dim).to(dev)
        imgs = [
            G([z], content=self.branch.content_codes(torch.randn(batch, self.branch.content_dim).to(dev), G.n_latent))[
                0
            ]
            for _ in range(2)
        ]
        return (self.cfg.ds_lambda - (imgs[0] - imgs[1]).abs().mean()).clamp_min(0)

    def g_step(self, data) -> dict:
        for m in self.d_modules:
            requires_grad(m, False)
        with self.nets.perf.autocast():
            fake = self.fake(self.exp.train.batch)
            l_glob = global_loss(self.guide.encode(fake), self.guide.target)
            logs = {"clip_global": l_glob.item()}
            content_loss = self.cfg.lambda_global * l_glob
            if self.cfg.ds_lambda > 0:
                l_ds = self.ds_loss(self.exp.train.batch)
                logs["ds"] = l_ds.item()
                content_loss = content_loss + l_ds
            groups = [(content_loss, self.content_params)]
            if self.cfg.syog:
                loss_syog, syog_logs = self.syog_generator_loss(fake)
                logs.update(syog_logs)
                groups.insert(0, (loss_syog, self.g_params))
        self.g_optim.zero_grad(set_to_none=True)
        self.c_optim.zero_grad(set_to_none=True)
        set_grads(groups)
        if self.cfg.syog:
            self.g_optim.step()
        self.c_optim.step()
        return logs

    def step(self, it: int, data) -> dict:
        return super().step(it, data) if self.cfg.syog else self.g_step(data)

    @classmethod
    def load_sampler(cls, exp, cfg, finetune_dir, device):
        from ..models import load_generator
        from ..nets.checkpoint import load_into
        from ..sample import Sampler

        G = load_generator(exp, finetune_dir / "netG.pth", device).eval()
        branch = ContentBranch(G, cfg.content_dim or G.style_dim, cfg.content_mlp, cfg.attention_max_res)
        load_into(branch, finetune_dir / "content.pth")
        branch.to(device).eval().attach(G)
        return Sampler(G, branch)
