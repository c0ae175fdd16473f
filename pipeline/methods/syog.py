"""Sketch Your Own GAN (Wang, Bau & Zhu, ICCV 2021), the baseline: reference spec §1.

Only the mapping network (`style.1-8`) is trained. Per iteration (GANSketching
`gan_trainer.py::train_one_step`): a D step, a lazy R1 step every `d_reg_every` iterations, then a
G step, each with its own fresh z (style mixing with probability `mixing`).

    L_D  = E sp(D_s(A(S(G(z))))) + E sp(-D_s(A(y))) + l_image (E sp(D_i(G(z))) + E sp(-D_i(x)))
    L_R1 = gamma/2 * E||grad_y D_s(A(y))||^2 * d_reg_every + l_image * gamma/2 * E||grad_x D_i(x)||^2 * d_reg_every
    L_G  = E sp(-D_s(A(S(G(z))))) + l_image * E sp(-D_i(G(z))) + l_weight * L_weight(theta, theta0)
           + l_wprior * L_wprior(w)     (this project's switch, off by default: losses/wprior.py)

S = sketch extractor (PhotoSketch or XDoG) then 1->3 channel repeat; A = DiffAugment (sketch path
only); y = user sketches, x = photos for image regularization; sp = softplus.
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional

import torch
from pydantic import Field, Strict

from ..config import Bool, ConfigError, NonNegFloat, NonNegInt, PosFloat, PosInt, Prompt, Str, Unit, spec
from ..losses.diffaug import diff_augment, parse_policy
from ..losses.gan import d_logistic, g_nonsaturating, r1_penalty
from ..losses.weight import weight_l1
from ..losses.wprior import fit_w_prior, fit_w_support, w_prior_hinge, w_support_hinge
from . import register_method


@spec
class SyogConfig:
    method: Str
    description: Str = ""
    lr: PosFloat = 0.002  # Adam lr for G (stored mapping weights; effective x lr_mlp) and D
    g_lr: Optional[PosFloat] = None  # G's own lr; None = `lr`, as GANSketching (a toy-schedule switch)
    # The last fraction of the run over which G's lr falls linearly to 0 (`g_lr_at`); 0: constant, as
    # GANSketching. A toy-schedule switch: the short high-lr run swings between poses (docs/toy-world-measurements.md).
    g_lr_decay: Unit = 0.0
    iters: Optional[PosInt] = None  # this block's fine-tune length; None: the experiment's train.iters
    beta1: Annotated[float, Strict(), Field(ge=0, lt=1)] = 0.0
    beta2: Annotated[float, Strict(), Field(ge=0, lt=1)] = 0.99
    l_image: NonNegFloat = 0.7  # image-regularization weight (LSUN scripts: 0.7)
    l_weight: NonNegFloat = 0.0  # weight regularizer toward the pretrained mapping (`--l_weight`, default 0)
    # A prior on the mapping's outputs, fitted to the pretrained mapping before the first step (so a
    # resumed run fits the same one; losses/wprior.py): a hinge on each w's squared distance beyond the
    # `wprior_quantile` of pretrained w's, under a Gaussian fit ("gaussian") or to the nearest banked
    # pretrained w ("nearest"). 0: off (the reference has no such term).
    l_wprior: NonNegFloat = 0.0
    wprior_quantile: Unit = 0.99
    wprior: Literal["gaussian", "nearest"] = "gaussian"
    r1_gamma: NonNegFloat = 10.0
    d_reg_every: NonNegInt = 16  # lazy R1 interval; 0 disables R1
    mixing: Unit = 0.9  # style-mixing probability
    diffaug: Str = "translation"  # comma-separated DiffAugment policies, "" for none
    dsketch_pretrained: Bool = True  # D_sketch starts from netD.pth (reference default)
    # "trained" (reference): D_image keeps learning real photos vs fakes. "frozen": the pretrained D
    # judges realism unchanged, so it cannot learn that the sketched pose is rare in the photos (docs/toy-world-measurements.md)
    image_d: Literal["trained", "frozen"] = "trained"
    target_prompt: Optional[Prompt] = None  # used by CLIP metrics; defaults to the experiment's
    # Which iteration is exported (pipeline/selection.py). best_fid (reference: GANSketching's
    # `--eval_freq` 5000 evaluation): the lowest FID against the evaluation set, measured every
    # `select_every` steps and at the last on `select_samples` samples; final: the last iteration.
    select: Literal["best_fid", "final"] = "best_fid"
    select_every: PosInt = 5000
    select_samples: PosInt = 2500

    def validate(self, path):
        try:
            parse_policy(self.diffaug)
        except ValueError as e:
            raise ConfigError(f"{path}.diffaug: {e}") from None


def g_lr_at(base: float, it: int, total: int, decay: float) -> float:
    """G's lr at iteration `it` (0-based) of `total`: `base` until the last `decay` fraction of the run,
    then linearly down to 0 at `total` (decay 0: always `base`, GANSketching's constant lr).

        lr(it) = base                                     it <  s,  s = total * (1 - decay)
        lr(it) = base * (total - it) / (total - s)        it >= s
    """
    start = total * (1.0 - decay)
    if decay <= 0 or it < start:
        return base
    return base * max(0.0, (total - it) / (total - start))


def requires_grad(module, flag: bool):
    for p in module.parameters():
        p.requires_grad_(flag)


@register_method("syog")
class SketchYourOwnGAN:
    Config = SyogConfig

    def __init__(self, cfg: SyogConfig, nets, exp):
        self.cfg, self.nets, self.exp = cfg, nets, exp
        G = nets.G
        if not cfg.dsketch_pretrained:
            nets.D_sketch = type(nets.D_sketch)(nets.D_sketch.cfg).to(nets.device)
        requires_grad(G, False)
        self.g_params = self.generator_parameters()
        # theta0 for L_weight: the pretrained values of exactly the tensors G's Adam trains.
        self.g_params0 = [p.detach().clone() for p in self.g_params] if cfg.l_weight > 0 else []
        self.w_prior = self.fit_w_prior() if cfg.l_wprior > 0 else None
        self.w_hinge = w_support_hinge if cfg.wprior == "nearest" else w_prior_hinge
        self.fake_w = None  # W+ [B, n_latent, D] of the last fake batch (for L_wprior)
        self.g_base_lr = cfg.lr if cfg.g_lr is None else cfg.g_lr
        self.g_optim = torch.optim.Adam(self.g_params, lr=self.g_base_lr, betas=(cfg.beta1, cfg.beta2))
        self.train_d_image = cfg.l_image > 0 and cfg.image_d == "trained"
        self.d_modules = [nets.D_sketch] + ([nets.D_image] if self.train_d_image else [])
        # Lazy-R1 ratio (StyleGAN2 appendix B): the D optimizer sees k/(k+1) of the steps.
        ratio = cfg.d_reg_every / (cfg.d_reg_every + 1) if cfg.d_reg_every > 0 else 1.0
        self.d_optim = torch.optim.Adam(
            [p for m in self.d_modules for p in m.parameters()],
            lr=cfg.lr * ratio,
            betas=(cfg.beta1**ratio, cfg.beta2**ratio),
        )
        self.n_latent = G.n_latent

    # -- pieces a subclass may change -------------------------------------------

    def generator_parameters(self) -> list[torch.nn.Parameter]:
        """GANSketching `--optim_param_g style`: the mapping layers style.1..n_mlp."""
        params = [p for layer in self.nets.G.mapping_layers() for p in layer.parameters()]
        for p in params:
            p.requires_grad_(True)
        return params

    def fit_w_prior(self, n: int = 4096):
        """The prior of L_wprior: the pretrained mapping of n z drawn from the experiment's seed
        (its own generator, so the training stream of z is the same with the prior on or off)."""
        G = self.nets.G
        z = torch.randn(n, G.style_dim, generator=torch.Generator().manual_seed(self.exp.seed))
        with torch.no_grad():
            w = G.mapping(z.to(self.nets.device))
        fit = fit_w_support if self.cfg.wprior == "nearest" else fit_w_prior
        return fit(w.cpu(), self.cfg.wprior_quantile).to(self.nets.device)

    def modules(self) -> dict:
        return {"G": self.nets.G, "D_sketch": self.nets.D_sketch, "D_image": self.nets.D_image}

    def optimizers(self) -> dict:
        return {"g_optim": self.g_optim, "d_optim": self.d_optim}

    def generator(self):
        return self.nets.G

    def sampler(self):
        """The generator being trained, as the sample stage renders it (previews during training)."""
        from ..sample import Sampler

        return Sampler(self.generator())

    def extra_exports(self) -> dict:
        """Files written next to netG.pth besides the generator (name -> state dict)."""
        return {}

    @classmethod
    def load_sampler(cls, exp, cfg, finetune_dir, device):
        """What evaluate@<method> draws its samples with: the exported netG.pth in the published format."""
        from ..models import load_generator
        from ..sample import Sampler

        return Sampler(load_generator(exp, finetune_dir / "netG.pth", device).eval())

    # -- sampling helpers -------------------------------------------------------

    def mixed_z(self, batch: int):
        """rosinality `mixing_noise`: two z with probability `mixing`, else one; crossover row drawn too."""
        dev, dim = self.nets.device, self.nets.G.style_dim
        if self.cfg.mixing > 0 and torch.rand(()).item() < self.cfg.mixing:
            inject = int(torch.randint(1, self.n_latent, ()).item())
            return [torch.randn(batch, dim).to(dev), torch.randn(batch, dim).to(dev)], inject
        return [torch.randn(batch, dim).to(dev)], None

    def fake(self, batch: int) -> torch.Tensor:
        z, inject = self.mixed_z(batch)
        img, self.fake_w = self.nets.G(z, inject_index=inject, return_latents=True)
        return img

    def to_sketch_input(self, sketch: torch.Tensor) -> torch.Tensor:
        """1-channel sketch -> 3 channels (`to3ch`) -> DiffAugment."""
        x = sketch.repeat(1, 3, 1, 1)
        return diff_augment(x, self.cfg.diffaug) if self.cfg.diffaug else x

    # -- the three phases -------------------------------------------------------

    def d_step(self, data) -> dict:
        n, c = self.nets, self.cfg
        for m in self.d_modules:
            requires_grad(m, True)
        with n.perf.autocast():  # forwards only; losses reduce in float32
            with torch.no_grad():
                fake = self.fake(self.exp.train.batch)
                fake_sketch = n.sketcher(fake)  # once per fake batch
            real_sketch = data.sketches(self.exp.train.batch)
            photos = data.photos(self.exp.train.batch) if self.train_d_image else None
            self.reals = (real_sketch, photos)  # R1 of this iteration uses the same reals
            loss = d_logistic(
                n.D_sketch(self.to_sketch_input(real_sketch)), n.D_sketch(self.to_sketch_input(fake_sketch))
            )
            li = d_logistic(n.D_image(photos), n.D_image(fake)) if self.train_d_image else None
        logs = {"d_sketch": loss.item()}
        if li is not None:
            logs["d_image"] = li.item()
            loss = loss + c.l_image * li
        self.d_optim.zero_grad(set_to_none=True)
        loss.backward()
        self.d_optim.step()
        return logs

    def r1_step(self, data) -> dict:
        """R1 on the real sketches and photos of this iteration's D step (GANSketching's
        `train_one_step` regularizes the batch it just used; drawing fresh ones would change the term).
        Float32 on purpose, outside autocast: R1 is a second-order term (perf.py)."""
        n, c = self.nets, self.cfg
        sketches, photos = self.reals
        real_sketch = sketches.float().detach().requires_grad_(True)
        pen = r1_penalty(n.D_sketch(self.to_sketch_input(real_sketch)), real_sketch)
        loss = c.r1_gamma / 2 * pen * c.d_reg_every
        logs = {"r1_sketch": pen.item()}
        if self.train_d_image:
            photos = photos.float().detach().requires_grad_(True)
            pen_i = r1_penalty(n.D_image(photos), photos)
            loss = loss + c.l_image * c.r1_gamma / 2 * pen_i * c.d_reg_every
            logs["r1_image"] = pen_i.item()
        self.d_optim.zero_grad(set_to_none=True)
        loss.backward()
        self.d_optim.step()
        return logs

    def syog_generator_loss(self, fake: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """L_SYOG = L_sketch + l_image * L_image + l_weight * L_weight + l_wprior * L_wprior on a fake
        batch with grad (L_wprior on the W+ that `fake` drew it from)."""
        n, c = self.nets, self.cfg
        loss = g_nonsaturating(n.D_sketch(self.to_sketch_input(n.sketcher(fake))))
        logs = {"g_sketch": loss.item()}
        if c.l_image > 0:
            li = g_nonsaturating(n.D_image(fake))
            logs["g_image"] = li.item()
            loss = loss + c.l_image * li
        if self.g_params0:
            lw = weight_l1(self.g_params, self.g_params0)
            logs["g_weight"] = lw.item()
            loss = loss + c.l_weight * lw
        if self.w_prior is not None:
            lp = self.w_hinge(self.fake_w.reshape(-1, self.fake_w.shape[-1]), self.w_prior)
            logs["g_wprior"] = lp.item()
            loss = loss + c.l_wprior * lp
        return loss, logs

    def g_step(self, data) -> dict:
        for m in self.d_modules:
            requires_grad(m, False)
        with self.nets.perf.autocast():
            loss, logs = self.syog_generator_loss(self.fake(self.exp.train.batch))
        self.g_optim.zero_grad(set_to_none=True)
        loss.backward()
        self.g_optim.step()
        return logs

    def step(self, it: int, data) -> dict:
        if self.cfg.g_lr_decay > 0:
            for group in self.g_optim.param_groups:
                group["lr"] = g_lr_at(self.g_base_lr, it, self.cfg.iters or self.exp.train.iters, self.cfg.g_lr_decay)
        logs = self.d_step(data)
        if self.cfg.d_reg_every > 0 and self.cfg.r1_gamma > 0 and it % self.cfg.d_reg_every == 0:
            logs.update(self.r1_step(data))
        logs.update(self.g_step(data))
        return logs
