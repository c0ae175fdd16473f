"""A weight-free, differentiable sketch extractor: eXtended Difference of Gaussians (XDoG).

Winnemoeller, Kyprianidis & Olsen, "XDoG: An eXtended difference-of-Gaussians compendium",
Computers & Graphics 2012. D = G_sigma(Y) - tau * G_{k sigma}(Y) on luminance Y in [0, 1];
strokes where D < eps, with a soft threshold 1 + tanh(phi (D - eps)) instead of a hard one so that
gradients reach the generator.

Same interface as PhotoSketch (RGB [-1, 1] -> 1 channel [-1, 1], white background = +1), so it is
the sketch domain when `photosketch.pth` is absent (offline demo, tests) and an ablation otherwise.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _gaussian_1d(sigma: float) -> torch.Tensor:
    r = max(1, int(math.ceil(3 * sigma)))
    x = torch.arange(-r, r + 1, dtype=torch.float32)
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()


class XDoG(nn.Module):
    """Parameters (all in pixels of the input, luminance in [0, 1]):

    sigma: inner Gaussian width; k: outer/inner width ratio (1.6 approximates a LoG);
    tau: weight of the outer Gaussian (< 1 keeps flat regions positive = background);
    eps: threshold on D; phi: steepness of the soft threshold.
    """

    def __init__(self, sigma: float = 0.8, k: float = 1.6, tau: float = 0.98, eps: float = 0.0, phi: float = 100.0):
        super().__init__()
        self.tau, self.eps, self.phi = tau, eps, phi
        self.register_buffer("g1", _gaussian_1d(sigma), persistent=False)
        self.register_buffer("g2", _gaussian_1d(sigma * k), persistent=False)

    @staticmethod
    def _blur(y: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        r = g.numel() // 2
        y = F.pad(y, [r, r, r, r], mode="replicate")
        y = F.conv2d(y, g.view(1, 1, 1, -1).to(y.dtype))
        return F.conv2d(y, g.view(1, 1, -1, 1).to(y.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, 3, H, W] in [-1, 1] -> [B, 1, H, W] in [-1, 1], strokes dark."""
        rgb = (x.clamp(-1, 1) + 1) / 2
        y = 0.299 * rgb[:, 0:1] + 0.587 * rgb[:, 1:2] + 0.114 * rgb[:, 2:3]  # ITU-R 601 luma
        d = self._blur(y, self.g1) - self.tau * self._blur(y, self.g2)
        # 1 + tanh(phi (d - eps)) in [0, 2] -> clamp to [0, 1] (white where d >= eps) -> [-1, 1]
        s = (1 + torch.tanh(self.phi * (d - self.eps))).clamp(max=1.0)
        return s * 2 - 1
