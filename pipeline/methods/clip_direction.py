"""`clip_direction`: Sketch Your Own GAN + StyleGAN-NADA's directional CLIP loss with adaptive
layer selection (Gal et al., SIGGRAPH 2022; rinongal/StyleGAN-nada `ZSSGAN/model/ZSSGAN.py`).

Every iteration is a Sketch Your Own GAN iteration (mapping network only). Every
`direction_every` iterations a direction step follows (reference spec §2.2, §2.3):
  1. layer selection: w = mapping_frozen(z) for `layer_batch` z, broadcast to W+; `layer_iters`
     SGD steps (lr `layer_lr`) on L_global(G_train(W+), raw target prompt); score each W+ row
     by mean |dW+|;
  2. unfreeze only the synthesis modules the `layer_k` top rows map to;
  3. one Adam step on lambda_direction * L_direction,
       L_direction = 1 - cos(E_I(G_train(w)) - E_I(G_frozen(w)), dT),
       dT = normalize(mean_t E_T(t(target)) - mean_t E_T(t(source))) over the 79 ImageNet templates,
     G_frozen = the pretrained generator under no_grad.

Switches (each a deviation from NADA, off by default; README deviation table):
  * layer_map: "reference" maps rows through NADA's list [conv1, to_rgb1, convs...] (row 1 ->
    to_rgb1, row i >= 2 -> convs.(i-2)), one off from the layer each row drives in rosinality's
    forward. "actual" trains the StyledConvs each selected row really modulates (ToRGBs too with
    `train_torgb`), since the selection measures how much a row wants to move.
  * direction_inputs: "reference" gives both generators w from the *frozen* mapping network and
    lets each draw its own noise, as NADA does. "shared" feeds both the current (sketch-trained)
    mapping's w and the same noise, so dI measures only what the synthesis layers changed.
  * prompt_templates (ClipConfig): "imagenet" builds dT from re-normalized template means
    (StyleCLIP's GetDt) and templates the global loss too.
"""

from __future__ import annotations

import copy
from typing import Literal, Optional

import torch

from ..config import Bool, ConfigError, NonNegFloat, PosFloat, PosInt, spec
from ..losses.clip import directional_loss, global_loss, text_direction
from ..nets.layers import StyledConv, ToRGB
from . import register_method
from .guidance import ClipConfig, ClipGuidance
from .syog import SketchYourOwnGAN, requires_grad


@spec
class ClipDirectionConfig(ClipConfig):
    lambda_direction: NonNegFloat = 1.0
    direction_every: PosInt = 100  # one direction step per this many SYOG iterations
    direction_batch: Optional[PosInt] = None  # None: train.batch
    direction_lr: PosFloat = 0.0016  # NADA: 0.002 * 4/5 (its g_reg_ratio), betas (0, 0.99 ** 0.8)
    layer_k: Optional[PosInt] = None  # None: int(2 * n_latent / 3), NADA's Colab "improve shape" (9 at 256 px)
    layer_iters: PosInt = 1
    layer_batch: PosInt = 8
    layer_lr: PosFloat = 0.01
    layer_map: Literal["reference", "actual"] = "reference"
    train_torgb: Bool = False  # layer_map actual: also train the ToRGBs of the selected rows
    direction_inputs: Literal["reference", "shared"] = "reference"


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
        self.s_optim = torch.optim.Adam(self.synthesis_params, lr=cfg.direction_lr, betas=(0.0, 0.99**0.8))
        self.guide = ClipGuidance(cfg, exp, nets.device)
        self.text_dir = text_direction(*self.guide.direction_texts())
        self.last_rows: list[int] = []

    def optimizers(self) -> dict:
        return {**super().optimizers(), "s_optim": self.s_optim}

    # -- inputs of a direction step -------------------------------------------------

    def random_noise(self, batch: int) -> list[torch.Tensor]:
        dev = self.nets.device
        return [
            torch.randn(batch, 1, 2 ** ((i + 5) // 2), 2 ** ((i + 5) // 2)).to(dev)
            for i in range(self.nets.G.num_layers)
        ]

    def direction_w(self, batch: int) -> torch.Tensor:
        """w [B, D] for layer selection and the direction step: from the frozen mapping (reference) or
        the current, sketch-trained one (shared)."""
        mapping = self.G_frozen.mapping if self.cfg.direction_inputs == "reference" else self.nets.G.mapping
        with torch.no_grad():
            return mapping(torch.randn(batch, self.nets.G.style_dim).to(self.nets.device))

    def noise_pair(self, batch: int):
        """(noise of G_train, noise of G_frozen): independent fresh draws (reference) or one draw shared."""
        a = self.random_noise(batch)
        return (a, self.random_noise(batch)) if self.cfg.direction_inputs == "reference" else (a, a)

    # -- layer selection ---------------------------------------------------------

    def select_rows(self) -> list[int]:
        """Top-k W+ rows by mean |dW+| after `layer_iters` SGD steps on the global loss."""
        G, c = self.nets.G, self.cfg
        w = self.direction_w(c.layer_batch)
        w0 = w[:, None].repeat(1, G.n_latent, 1)  # [B, n_latent, D]
        w_opt = w0.clone().requires_grad_(True)
        opt = torch.optim.SGD([w_opt], lr=c.layer_lr)
        noise = self.random_noise(c.layer_batch)
        for _ in range(c.layer_iters):
            with self.nets.perf.autocast():
                loss = global_loss(self.guide.encode(G.synthesis(w_opt, noise=noise)), self.guide.target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        score = (w_opt.detach() - w0).abs().mean(dim=(0, 2))  # [n_latent]
        return sorted(score.topk(self.k).indices.tolist())

    def modules_for_rows(self, rows: list[int]) -> list[torch.nn.Module]:
        G = self.nets.G
        if self.cfg.layer_map == "reference":
            # NADA: [conv1, to_rgb1] + convs, indexed by row; to_rgb1 included (NADA trains it).
            table = [[G.conv1], [G.to_rgb1]] + [[conv] for conv in G.convs]
            keep = (StyledConv, ToRGB)
        else:
            table = G.rows_to_modules()
            keep = (StyledConv, ToRGB) if self.cfg.train_torgb else (StyledConv,)
        mods = []
        for r in rows:
            mods += [m for m in (table[r] if r < len(table) else []) if isinstance(m, keep) and m not in mods]
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
            w = self.direction_w(batch)
            wplus = w[:, None].expand(-1, G.n_latent, -1)
            noise_train, noise_frozen = self.noise_pair(batch)
            with torch.no_grad():  # G_frozen: no graph, no grads
                frozen_emb = self.guide.encode(self.G_frozen.synthesis(wplus, noise=noise_frozen))
            train_emb = self.guide.encode(G.synthesis(wplus, noise=noise_train))
            loss = c.lambda_direction * directional_loss(train_emb, frozen_emb, self.text_dir)
        self.s_optim.zero_grad(set_to_none=True)
        if modules:  # rows that map to nothing trainable leave nothing to train
            loss.backward()
            self.s_optim.step()
        requires_grad(G, False)
        for p in self.g_params:  # back to mapping-only training
            p.requires_grad_(True)
        self.last_rows = rows
        return {"clip_direction": loss.item() / max(c.lambda_direction, 1e-12), "n_layers": float(len(modules))}

    def step(self, it: int, data) -> dict:
        logs = super().step(it, data)
        if (it + 1) % self.cfg.direction_every == 0:
            logs.update(self.direction_step())
        return logs
