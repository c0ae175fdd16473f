"""DiagonalGAN-style content branch for StyleGAN2 (Kwon & Ye, "Diagonal attention and style-based
GAN for content-style disentanglement", cyclomon/DiagonalGAN), carried to StyleGAN2 as the
reference spec §3.3 suggests:

  p = ContentMapping(z_c)                         [B, Dc]  (PixelNorm + MLP, lr_mul 0.01)
  after each modulated conv at resolution <= max_res, before noise, bias and activation:
  x <- x + gamma_l * sigmoid(A_l(p)) (.) x        A_l: EqualLinear(Dc -> H*W), a spatial map per sample

gamma_l starts at 0 (DiagonalGAN uses 1, training from scratch), so a pretrained generator is
unchanged at step 0. A_l has Dc * H * W weights (33.5M per layer at 256 px with Dc = 512), which
is why DiagonalGAN stops at 256 px and `max_res` defaults lower here.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import EqualLinear
from .stylegan2 import Generator, PixelNorm


class ContentMapping(nn.Sequential):
    def __init__(self, dim: int, n_mlp: int = 8, lr_mul: float = 0.01):
        super().__init__(PixelNorm(), *[EqualLinear(dim, dim, lr_mul=lr_mul, activation=True) for _ in range(n_mlp)])


class DiagonalAttention(nn.Module):
    """x [B, C, H, W], p [B, Dc] -> x + gamma * sigmoid(A(p)).view(B, 1, H, W) * x."""

    def __init__(self, content_dim: int, res: int):
        super().__init__()
        self.res = res
        self.affine = EqualLinear(content_dim, res * res)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x, p):
        h = torch.sigmoid(self.affine(p)).view(x.shape[0], 1, self.res, self.res)
        return x + self.gamma * h * x


class ContentBranch(nn.Module):
    """The content mapping network and the attention layers, attached to a Generator's StyledConvs.

    Kept as one module outside the Generator's own state dict keys (`content.pth`), so the
    fine-tuned generator still saves in the published netG.pth format.
    """

    def __init__(self, G: Generator, content_dim: int, n_mlp: int = 8, max_res: int = 64):
        super().__init__()
        self.content_dim = content_dim
        self.mapping = ContentMapping(content_dim, n_mlp)
        self.attentions = nn.ModuleDict()
        res = [4] + [2 ** (2 + (i + 2) // 2) for i in range(len(G.convs))]  # conv1 at 4, convs pairs at 8, 16, ...
        for i, (_conv, r) in enumerate(zip(G.styled_convs(), res)):
            if r <= max_res:
                self.attentions[str(i)] = DiagonalAttention(content_dim, r)

    def attach(self, G: Generator) -> None:
        """Point each StyledConv's attention hook at its layer (modules are shared, not copied)."""
        for i, conv in enumerate(G.styled_convs()):
            # object.__setattr__ keeps the attention out of G's state dict and parameters().
            object.__setattr__(conv, "attention", self.attentions[str(i)] if str(i) in self.attentions else None)

    def content_codes(self, z_c: torch.Tensor, n_latent: int) -> torch.Tensor:
        """z_c [B, Dc] -> per-row content codes [B, n_latent, Dc] (one code broadcast to every layer)."""
        return self.mapping(z_c)[:, None].expand(-1, n_latent, -1)
