"""Plain-PyTorch versions of StyleGAN2's two custom ops: upfirdn2d and fused bias + leaky ReLU.

rosinality/stylegan2-pytorch (and its copies in GANSketching and StyleGAN-NADA) JIT-compile
CUDA kernels for these at import time, which fails on any machine without nvcc; that is the
most common complaint in those trackers (rosinality#89, GANSketching#16). The ops below are
ordinary autograd ops, so they run on CPU and CUDA and support double backward (R1 needs it).
Their numerics follow rosinality's `upfirdn2d_native` and `fused_leaky_relu` CPU paths.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

SQRT2 = math.sqrt(2.0)


def make_kernel(k) -> torch.Tensor:
    """1-D taps -> normalized 2-D separable FIR kernel (outer product / sum), e.g. [1,3,3,1] -> 4x4."""
    k = torch.as_tensor(k, dtype=torch.float32)
    if k.ndim == 1:
        k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn2d(
    x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1, pad: tuple[int, int] = (0, 0)
) -> torch.Tensor:
    """Upsample by zero insertion, pad, FIR-filter, downsample: the StyleGAN2 resampling primitive.

    x:      [B, C, H, W]
    kernel: [kh, kw] FIR taps (true convolution, so the kernel is flipped before F.conv2d)
    pad:    (pad0, pad1) applied to both axes after upsampling; negative values crop
    returns [B, C, (H*up + pad0 + pad1 - kh) // down + 1, same for W]
    """
    b, c, h, w = x.shape
    pad0, pad1 = pad
    if up > 1:  # zero insertion: [B, C, H, 1, W, 1] -> pad -> [B, C, H*up, W*up]
        x = x.reshape(b, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(b, c, h * up, w * up)
    x = F.pad(x, [max(pad0, 0), max(pad1, 0), max(pad0, 0), max(pad1, 0)])
    if pad0 < 0 or pad1 < 0:
        x = x[:, :, max(-pad0, 0) : x.shape[2] - max(-pad1, 0), max(-pad0, 0) : x.shape[3] - max(-pad1, 0)]
    # Depthwise filter; a strided conv keeps rows 0, down, 2*down, ... exactly like slicing [::down].
    wgt = torch.flip(kernel, [0, 1]).to(x.dtype)[None, None].expand(c, 1, *kernel.shape)
    return F.conv2d(x, wgt, stride=down, groups=c)


def fused_leaky_relu(
    x: torch.Tensor, bias: torch.Tensor | None, negative_slope: float = 0.2, scale: float = SQRT2
) -> torch.Tensor:
    """leaky_relu(x + bias, 0.2) * sqrt(2); bias has one value per channel (dim 1)."""
    if bias is not None:
        x = x + bias.view(1, -1, *([1] * (x.ndim - 2)))
    return F.leaky_relu(x, negative_slope) * scale
