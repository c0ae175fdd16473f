"""StyleGAN2 generator and discriminator (Karras et al., CVPR 2020) in plain PyTorch.

State-dict keys, shapes and numerics follow rosinality/stylegan2-pytorch `model.py`, which is
what Sketch Your Own GAN (PeterWang512/GANSketching), StyleGAN-NADA and StyleCLIP ship and load,
so their published `netG.pth` / `netD.pth` / `g_ema` weights load strictly. Widths are
channels(res) = min(channel_base // res, channel_max); rosinality's channel_multiplier 2 is
channel_base 32768, channel_max 512. Small networks for tests and the demo come from the same code.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .layers import ConstantInput, ConvLayer, EqualLinear, ResBlock, StyledConv, ToRGB


def channels_at(res: int, channel_base: int, channel_max: int) -> int:
    return min(channel_base // res, channel_max)


@dataclass(frozen=True)
class StyleGAN2Config:
    """Architecture hyperparameters; the defaults are the published 256 px LSUN networks."""

    size: int = 256  # output resolution, a power of two >= 8
    style_dim: int = 512  # z and w dimensionality
    n_mlp: int = 8  # mapping-network depth
    channel_base: int = 32768  # channels(res) = min(channel_base // res, channel_max)
    channel_max: int = 512
    lr_mlp: float = 0.01  # equalized-lr multiplier of the mapping network; the weights assume 0.01
    blur_kernel: tuple = (1, 3, 3, 1)

    def __post_init__(self):
        if self.size < 8 or self.size & (self.size - 1):
            raise ValueError(f"size must be a power of two >= 8, got {self.size}")
        for k in ("style_dim", "n_mlp", "channel_base", "channel_max"):
            if getattr(self, k) <= 0:
                raise ValueError(f"{k} must be positive, got {getattr(self, k)}")
        object.__setattr__(self, "blur_kernel", tuple(self.blur_kernel))

    @property
    def log_size(self) -> int:
        return int(math.log2(self.size))

    @property
    def n_latent(self) -> int:  # W+ rows: 14 at 256 px, 18 at 1024 px
        return 2 * self.log_size - 2

    @property
    def num_layers(self) -> int:  # noise inputs: 13 at 256 px
        return 2 * self.log_size - 3

    def channels(self, res: int) -> int:
        return channels_at(res, self.channel_base, self.channel_max)

    def to_dict(self) -> dict:
        return asdict(self)


# ----------------------------------------------------------------------------


class Generator(nn.Module):
    """z --mapping (`style.*`)--> w --broadcast/mix/truncate--> W+ [B, n_latent, D] --synthesis--> image.

    W+ row usage (rosinality forward): row 0 -> conv1; row 1 -> to_rgb1 and convs.0; row i >= 2 ->
    convs.(i-1); odd i >= 3 also -> to_rgbs.((i-3)/2). `rows_to_modules` exposes this mapping.
    """

    def __init__(self, cfg: StyleGAN2Config | None = None, **kwargs):
        super().__init__()
        cfg = cfg or StyleGAN2Config(**kwargs)
        self.cfg = cfg
        self.size, self.style_dim = cfg.size, cfg.style_dim
        self.n_latent, self.num_layers = cfg.n_latent, cfg.num_layers
        bk = cfg.blur_kernel

        # style.0 is PixelNorm (no parameters); style.1..n_mlp are the mapping layers.
        self.style = nn.Sequential(
            PixelNorm(),
            *[EqualLinear(cfg.style_dim, cfg.style_dim, lr_mul=cfg.lr_mlp, activation=True) for _ in range(cfg.n_mlp)],
        )
        c4 = cfg.channels(4)
        self.input = ConstantInput(c4)
        self.conv1 = StyledConv(c4, c4, 3, cfg.style_dim, blur_kernel=bk)
        self.to_rgb1 = ToRGB(c4, cfg.style_dim, upsample=False)
        self.convs, self.to_rgbs = nn.ModuleList(), nn.ModuleList()
        self.upsamples = nn.ModuleList()  # empty; kept so module order matches rosinality's
        self.noises = nn.Module()
        for i in range(self.num_layers):
            r = 2 ** ((i + 5) // 2)
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, r, r))
        in_ch = c4
        for lg in range(3, cfg.log_size + 1):
            out_ch = cfg.channels(2**lg)
            self.convs.append(StyledConv(in_ch, out_ch, 3, cfg.style_dim, upsample=True, blur_kernel=bk))
            self.convs.append(StyledConv(out_ch, out_ch, 3, cfg.style_dim, blur_kernel=bk))
            self.to_rgbs.append(ToRGB(out_ch, cfg.style_dim, blur_kernel=bk))
            in_ch = out_ch

    # -- mapping ---------------------------------------------------------------

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        """z [B, D] -> w [B, D]."""
        return self.style(z)

    @torch.no_grad()
    def mean_latent(self, n: int = 4096, generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean of w over n random z: the truncation centre, [1, D]."""
        z = torch.randn(n, self.style_dim, generator=generator, device="cpu").to(self.input.input.device)
        return self.style(z).mean(0, keepdim=True)

    def make_wplus(
        self, styles, *, input_is_latent=False, truncation=1.0, truncation_latent=None, inject_index=None
    ) -> torch.Tensor:
        """One or two style inputs -> W+ [B, n_latent, D].

        styles: list of z [B, D] (or w / W+ with input_is_latent=True). Two inputs mix styles with
        rows [0, inject_index) from the first. Truncation pulls each w towards truncation_latent.
        """
        if isinstance(styles, torch.Tensor):
            styles = [styles]
        if not 1 <= len(styles) <= 2:
            raise ValueError(f"expected 1 or 2 style inputs, got {len(styles)}")
        if not input_is_latent:
            styles = [self.style(s) for s in styles]
        if truncation < 1:
            if truncation_latent is None:
                raise ValueError("truncation < 1 needs truncation_latent (see Generator.mean_latent)")
            styles = [truncation_latent + truncation * (s - truncation_latent) for s in styles]
        rows = [s if s.ndim == 3 else s[:, None].expand(-1, self.n_latent, -1) for s in styles]
        if len(rows) == 1:
            return rows[0]
        if inject_index is None or not 1 <= inject_index < self.n_latent:
            raise ValueError(f"style mixing needs inject_index in [1, {self.n_latent - 1}], got {inject_index}")
        return torch.cat([rows[0][:, :inject_index], rows[1][:, inject_index:]], 1)

    # -- synthesis -------------------------------------------------------------

    def stored_noise(self) -> list[torch.Tensor]:
        return [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]

    def synthesis(self, wplus: torch.Tensor | None, noise=None, content=None, s=None) -> torch.Tensor:
        """W+ [B, n_latent, D] -> image [B, 3, size, size] (roughly in [-1, 1]).

        noise: None (fresh N(0,1) per call), or a list of num_layers tensors [1 or B, 1, r, r].
        content: optional per-row codes [B, n_latent, Dc] for StyledConv.attention hooks.
        s: optional style-space codes (list in `style_layers()` order, each [B, C_in]) that replace
           the modulations of W+; then wplus may be None (StyleSpace / StyleCLIP global directions).
        """
        if s is None and (wplus is None or wplus.ndim != 3 or wplus.shape[1] != self.n_latent):
            shape = None if wplus is None else list(wplus.shape)
            raise ValueError(f"W+ must be [B, {self.n_latent}, {self.style_dim}], got {shape}")
        noise = noise if noise is not None else [None] * self.num_layers
        c = (lambda i: content[:, i]) if content is not None else (lambda i: None)
        row = (lambda i: wplus[:, i]) if wplus is not None else (lambda i: None)
        sl = iter(s) if s is not None else iter(lambda: None, 0)  # next(sl): the next layer's s, or None
        out = self.input((wplus if wplus is not None else s[0]).shape[0])
        out = self.conv1(out, row(0), noise=noise[0], content=c(0), s=next(sl))
        skip = self.to_rgb1(out, row(1), s=next(sl))
        i = 1
        for up, conv, n1, n2, to_rgb in zip(self.convs[::2], self.convs[1::2], noise[1::2], noise[2::2], self.to_rgbs):
            out = up(out, row(i), noise=n1, content=c(i), s=next(sl))
            out = conv(out, row(i + 1), noise=n2, content=c(i + 1), s=next(sl))
            skip = to_rgb(out, row(i + 2), skip, s=next(sl))
            i += 2
        return skip

    def style_layers(self) -> list[tuple[int, nn.Module]]:
        """(W+ row, ModulatedConv2d) for every style-space layer, in synthesis order:
        conv1, to_rgb1, then per resolution: upsampling conv, conv, to_rgb."""
        layers = [(0, self.conv1.conv), (1, self.to_rgb1.conv)]
        for k, to_rgb in enumerate(self.to_rgbs):
            layers += [
                (2 * k + 1, self.convs[2 * k].conv),
                (2 * k + 2, self.convs[2 * k + 1].conv),
                (2 * k + 3, to_rgb.conv),
            ]
        return layers

    def wplus_to_s(self, wplus: torch.Tensor) -> list[torch.Tensor]:
        """W+ [B, n_latent, D] -> style space S: one modulation vector [B, C_in] per style layer."""
        return [conv.modulation(wplus[:, r]) for r, conv in self.style_layers()]

    def forward(
        self,
        styles,
        return_latents=False,
        inject_index=None,
        truncation=1.0,
        truncation_latent=None,
        input_is_latent=False,
        noise=None,
        randomize_noise=True,
        content=None,
    ):
        """rosinality-compatible call: returns (image, W+ or None)."""
        wplus = self.make_wplus(
            styles,
            input_is_latent=input_is_latent,
            truncation=truncation,
            truncation_latent=truncation_latent,
            inject_index=inject_index,
        )
        if noise is None and not randomize_noise:
            noise = self.stored_noise()
        image = self.synthesis(wplus, noise=noise, content=content)
        return image, (wplus if return_latents else None)

    # -- addressable layers ------------------------------------------------------

    def mapping_layers(self) -> list[EqualLinear]:
        """style.1 .. style.n_mlp, in order."""
        return list(self.style)[1:]

    def styled_convs(self) -> list[StyledConv]:
        """conv1, convs.0, convs.1, ...: the num_layers noise-bearing convolutions, in order."""
        return [self.conv1, *self.convs]

    def rows_to_modules(self) -> list[list[nn.Module]]:
        """For each W+ row, the synthesis modules its style vector actually modulates."""
        rows: list[list[nn.Module]] = [[self.conv1], [self.to_rgb1, self.convs[0]]]
        for i in range(2, self.n_latent):
            mods = [self.convs[i - 1]] if i - 1 < len(self.convs) else []
            if i % 2 == 1:
                mods.append(self.to_rgbs[(i - 3) // 2])
            rows.append(mods)
        return rows


class PixelNorm(nn.Module):
    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + 1e-8)


# ----------------------------------------------------------------------------


class Discriminator(nn.Module):
    """Residual StyleGAN2 discriminator: image [B, 3, size, size] -> logits [B, 1]."""

    def __init__(self, cfg: StyleGAN2Config | None = None, stddev_group: int = 4, **kwargs):
        super().__init__()
        cfg = cfg or StyleGAN2Config(**kwargs)
        self.cfg = cfg
        ch = cfg.channels
        convs = [ConvLayer(3, ch(cfg.size), 1)]
        in_ch = ch(cfg.size)
        for lg in range(cfg.log_size, 2, -1):
            out_ch = ch(2 ** (lg - 1))
            convs.append(ResBlock(in_ch, out_ch, cfg.blur_kernel))
            in_ch = out_ch
        self.convs = nn.Sequential(*convs)
        self.stddev_group, self.stddev_feat = stddev_group, 1
        self.final_conv = ConvLayer(in_ch + 1, ch(4), 3)
        self.final_linear = nn.Sequential(EqualLinear(ch(4) * 16, ch(4), activation=True), EqualLinear(ch(4), 1))

    def forward(self, x):
        out = self.convs(x)  # [B, C, 4, 4]
        b, c, h, w = out.shape
        # Minibatch stddev over groups of min(B, 4) samples. rosinality requires B % group == 0;
        # we fall back to the largest divisor of B that is <= group instead of crashing.
        group = min(b, self.stddev_group)
        while b % group:
            group -= 1
        y = out.reshape(group, -1, self.stddev_feat, c // self.stddev_feat, h, w)
        y = torch.sqrt(y.var(0, unbiased=False) + 1e-8)  # [B/g, F, C/F, H, W]
        y = y.mean([2, 3, 4], keepdim=True).squeeze(2)  # [B/g, F, 1, 1]
        y = y.repeat(group, 1, h, w)  # [B, F, H, W]
        out = self.final_conv(torch.cat([out, y], 1))
        return self.final_linear(out.reshape(b, -1))
