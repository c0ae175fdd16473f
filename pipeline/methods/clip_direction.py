"""`clip_direction`: Sketch Your Own GAN + StyleGAN-NADA's directional CLIP loss with adaptive
layer selection (Gal et al., SIGGRAPH 2022; rinongal/StyleGAN-nada `ZSSGAN/model/ZSSGAN.py`).

Every iteration is a Sketch Your Own GAN iteration (mapping network only). Every
`direction_every` iterations a direction step follows:
  1. layer selection: w = mapping(z) for `layer_batch` z, broadcast to W+; `layer_iters` SGD
     steps (lr `layer_lr`) on L_global(G_train(W+)); score each W+ row by mean |dW+|;
  2. unfreeze only the synthesis modules driven by the `layer_k` top rows;
  3. one Adam step on lambda_direction * L_direction,
       L_direction = 1 - cos(E_I(G_train(w)) - E_I(G_frozen(w)), E_T(t_target) - E_T(t_source)),
     G_frozen = the pretrained generator, under no_grad, with the same w and noise.

Row -> layer map (`layer_map`): in rosinality's forward W+ row 0 drives conv1, row 1 to_rgb1 and
convs.0, row i >= 2 convs.(i-1) (and to_rgbs for odd i). NADA picks modules with the list
[conv1, to_rgb1, convs...] (row i >= 2 -> convs.(i-2)), one off from what the row drives
(reference spec §2.3). Default "actual": train the StyledConvs the selected rows really modulate
(ToRGBs too with `train_torgb`), because the selection measures how much a row *wants* to move;
"reference" reproduces NADA's lookup for comparison with its numbers.
w comes from the current (sketch-trained) mapping network and is fed to both generators, so dI
measures only what the synthesis layers changed (NADA feeds both the frozen mapping's w).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal, Optional

import torch

from ..config import ConfigError
from ..losses.clip import directional_loss, global_loss, text_direction
from ..nets.layers import StyledConv, ToRGB
from . import register_method
from .guidance import ClipConfig, ClipGuidance
from .syog import SketchYourOwnGAN, requires_grad


@dataclass(frozen=True)
class ClipDirectionConfig(ClipConfig):
    lambda_direction: float = 1.0
    direction_every: int = 100       # one direction step per this many SYOG iterations
    direction_batch: Optional[int] = None   # None: train.batch
    direction_lr: float = 0.0016     # NADA: 0.002 * 4/5 (its g_reg_ratio), betas (0, 0.99 ** 0.8)
    layer_k: Optional[int] = None    # None: int(2 * n_latent / 3), NADA's Colab "improve shape" (9 at 256 px)
    layer_iters: int = 1
    layer_batch: int = 8
    layer_lr: float = 0.01
    layer_map: Literal["actual", "reference"] = "actual"
    train_torgb: bool = False

    def validate(self, path):
        super().validate(path)
        if self.lambda_direction < 0 or self.direction_every < 1 or self.layer_iters < 1 or self.layer_batch < 1:
            raise ConfigError(f"{path}: lambda_direction >= 0, direction_every, layer_iters, layer_batch >= 1 required")
        if self.direction_lr <= 0 or self.layer_lr <= 0:
            raise ConfigError(f"{path}: direction_lr and layer_lr must be > 0")


@register_method("clip_direction")
class ClipDirection(SketchYourOwnGAN):
    Config = ClipDirectionConfig

    def __init__(self, cfg: ClipDirectionConfig, nets, exp):
        # G_frozen is copied before any training step: at resume too (nets are rebuilt from netG.pth).
        self.G_frozen = copy.deepcopy(nets.G).eval().requires_grad_(False)
        super().__init__(cfg, nets, exp)
        G = nets.G
        self.k = cfg.layer_k or int(2 * G.n_latent / 3)
        if not 1 <= self.k <= G.n_latent:
            raise ConfigError(f"methods.{cfg.method}.layer_k: must be in [1, {G.n_latent}], got {self.k}")
        self.synthesis_params = [p for n, p in G.named_parameters() if not n.startswith("style.")]
        self.s_optim = torch.optim.Adam(self.synthesis_params, lr=cfg.direction_lr, betas=(0.0, 0.99 ** 0.8))
        self.guide = ClipGuidance(cfg, exp, nets.device)
        self.text_dir = text_direction(self.guide.target, self.guide.source)
        self.last_rows: list[int] = []

    def optimizers(self) -> dict:
        return {**super().optimizers(), "s_optim": self.s_optim}

    # -- layer selection ---------------------------------------------------------

    def random_noise(self, batch: int) -> list[torch.Tensor]:
        dev = self.nets.device
        return [torch.randn(batch, 1, 2 ** ((i + 5) // 2), 2 ** ((i + 5) // 2)).to(dev)
                for i in range(self.nets.G.num_layers)]

    def select_rows(self) -> list[int]:
        """Top-k W+ rows by mean |dW+| after `layer_iters` SGD steps on the global loss."""
        G, c = self.nets.G, self.cfg
        with torch.no_grad():
            w = G.mapping(torch.randn(c.layer_batch, G.style_dim).to(self.nets.device))
        w0 = w[:, None].repeat(1, G.n_latent, 1)                      # [B, n_latent, D]
        w_opt = w0.clone().requires_grad_(True)
        opt = torch.optim.SGD([w_opt], lr=c.layer_lr)
        noise = self.random_noise(c.layer_batch)
        for _ in range(c.layer_iters):
            with self.nets.perf.autocast():
                loss = global_loss(self.guide.encode(G.synthesis(w_opt, noise=noise)), self.guide.target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        score = (w_opt.detach() - w0).abs().mean(dim=(0, 2))          # [n_latent]
        return sorted(score.topk(self.k).indices.tolist())

    def modules_for_rows(self, rows: list[int]) -> list[torch.nn.Module]:
        G = self.nets.G
        if self.cfg.layer_map == "reference":
            table = [[G.conv1], [G.to_rgb1]] + [[conv] for conv in G.convs]
        else:
            table = G.rows_to_modules()
        keep = (StyledConv, ToRGB) if self.cfg.train_torgb else (StyledConv,)
        mods = []
        for r in rows:
            mods += [m for m in table[r] if isinstance(m, keep) and m not in mods]
        return mods

    # -- the direction step --------------------------------------------------------

    def direction_step(self) -> dict:
        G, c = self.nets.G, self.cfg
        rows = self.select_rows()
        modules = self.modules_for_rows(rows)
        requires_grad(G, False)
        for m in modules:
            requires_grad(m, True)
        batch = c.direction_batch or self.exp.train.batch
        with self.nets.perf.autocast():
            with torch.no_grad():                                      # G_frozen: no graph, no grads
                w = G.mapping(torch.randn(batch, G.style_dim).to(self.nets.device))
                wplus = w[:, None].expand(-1, G.n_latent, -1)
                noise = self.random_noise(batch)
                frozen_emb = self.guide.encode(self.G_frozen.synthesis(wplus, noise=noise))
            train_emb = self.guide.encode(G.synthesis(wplus, noise=noise))
            loss = c.lambda_direction * directional_loss(train_emb, frozen_emb, self.text_dir)
        self.s_optim.zero_grad(set_to_none=True)
        if modules:  # rows that modulate only ToRGBs (train_torgb off) leave nothing to train
            loss.backward()
            self.s_optim.step()
        requires_grad(G, False)
        for p in self.g_params:                                        # back to mapping-only training
            p.requires_grad_(True)
        self.last_rows = rows
        return {"clip_direction": loss.item() / max(c.lambda_direction, 1e-12), "n_layers": float(len(modules))}

    def step(self, it: int, data) -> dict:
        logs = super().step(it, data)
        if (it + 1) % self.cfg.direction_every == 0:
            logs.update(self.direction_step())
        return logs
