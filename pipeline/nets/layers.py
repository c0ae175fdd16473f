"""StyleGAN2 building blocks with rosinality/stylegan2-pytorch's parameter names and numerics.

Equalized learning rate (Karras et al. 2018): weights are stored N(0, 1) / lr_mul and scaled at
run time by lr_mul / sqrt(fan_in). The published checkpoints store weights this way, so the
runtime scale, not the stored value, must match the reference for the weights to mean the same.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .ops import fused_leaky_relu, make_kernel, upfirdn2d

# ----------------------------------------------------------------------------
# Resampling


class Blur(nn.Module):
    """FIR low-pass filter; `kernel` is a buffer in the state dict (`*.blur.kernel`, `*.0.kernel`)."""

    def __init__(self, taps, pad: tuple[int, int], upsample_factor: int = 1):
        super().__init__()
        kernel = make_kernel(taps)
        if upsample_factor > 1:  # keep DC gain after zero insertion
            kernel = kernel * upsample_factor**2
        self.register_buffer("kernel", kernel)
        self.pad = pad

    def forward(self, x):
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """2x FIR upsampling used on the ToRGB skip path (`to_rgbs.N.upsample.kernel`)."""

    def __init__(self, taps, factor: int = 2):
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_kernel(taps) * factor**2)
        p = self.kernel.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x):
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


# ----------------------------------------------------------------------------
# Equalized-lr layers


class EqualLinear(nn.Module):
    """y = x @ (W * lr_mul / sqrt(in)).T + b * lr_mul, optionally followed by fused leaky ReLU.

    With activation the bias is added inside the activation (rosinality `fused_lrelu`), which is
    numerically the same as adding it before; the stored tensors are `weight` [out, in], `bias` [out].
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        bias: bool = True,
        bias_init: float = 0.0,
        lr_mul: float = 1.0,
        activation: bool = False,
    ):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x):
        bias = self.bias * self.lr_mul if self.bias is not None else None
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), bias)
        return F.linear(x, self.weight * self.scale, bias)

    def extra_repr(self):
        return f"{self.weight.shape[1]} -> {self.weight.shape[0]}, lr_mul={self.lr_mul}, act={self.activation}"


class EqualConv2d(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int = 1, padding: int = 0, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.scale = 1.0 / math.sqrt(in_ch * kernel_size**2)
        self.stride, self.padding = stride, padding

    def forward(self, x):
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)


class FusedLeakyReLU(nn.Module):
    """Per-channel bias + leaky ReLU(0.2) * sqrt(2); stored as `*.activate.bias` / `convs.N.1.bias`."""

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        return fused_leaky_relu(x, self.bias)


# ----------------------------------------------------------------------------
# Generator blocks


class ModulatedConv2d(nn.Module):
    """StyleGAN2 weight modulation/demodulation (Karras et al. 2020, eq. 1-3) as a grouped conv.

    x:     [B, in, H, W]
    style: [B, style_dim] -> modulation (EqualLinear, bias init 1) -> per-input-channel scales [B, in]
    w'_bij = scale * w_ij * s_bi ;  demodulated: w''_bij = w'_bij / sqrt(sum_i,k w'_bij^2 + 1e-8)
    Upsampling is a stride-2 transposed conv followed by a [1,3,3,1] blur (pad (1, 1), kernel x 4).
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int,
        style_dim: int,
        demodulate: bool = True,
        upsample: bool = False,
        blur_kernel=(1, 3, 3, 1),
    ):
        super().__init__()
        self.in_ch, self.out_ch, self.k = in_ch, out_ch, kernel_size
        self.demodulate, self.upsample = demodulate, upsample
        if upsample:
            factor = 2
            p = (len(blur_kernel) - factor) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1), upsample_factor=factor)
        self.scale = 1.0 / math.sqrt(in_ch * kernel_size**2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_ch, in_ch, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_ch, bias_init=1.0)

    def modulated_weight(self, style: torch.Tensor, s: torch.Tensor | None = None) -> torch.Tensor:
        """[B, style_dim] (or style-space s [B, in]) -> per-sample weights [B, out, in, k, k]."""
        s = (self.modulation(style) if s is None else s)[:, None, :, None, None]  # [B, 1, in, 1, 1]
        w = self.scale * self.weight * s  # [B, out, in, k, k]
        if self.demodulate:
            w = w * torch.rsqrt(w.pow(2).sum([2, 3, 4], keepdim=True) + 1e-8)
        return w

    def forward(self, x, style, s=None):
        """s: optional style-space vector [B, in] replacing modulation(style) (StyleSpace edits)."""
        b, _, h, wd = x.shape
        w = self.modulated_weight(style, s)
        x = x.reshape(1, b * self.in_ch, h, wd)  # one group per sample
        if self.upsample:
            # conv_transpose2d wants [in, out/groups, k, k] per group
            w = w.transpose(1, 2).reshape(b * self.in_ch, self.out_ch, self.k, self.k)
            out = F.conv_transpose2d(x, w, stride=2, groups=b)
            out = self.blur(out.reshape(b, self.out_ch, *out.shape[2:]))
        else:
            out = F.conv2d(x, w.reshape(b * self.out_ch, self.in_ch, self.k, self.k), padding=self.padding, groups=b)
            out = out.reshape(b, self.out_ch, *out.shape[2:])
        return out

    def extra_repr(self):
        return f"{self.in_ch} -> {self.out_ch}, k={self.k}, upsample={self.upsample}, demod={self.demodulate}"


class NoiseInjection(nn.Module):
    """x + weight * noise, one learned scalar; fresh N(0, 1) noise when none is given."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x, noise=None):
        if noise is None:
            noise = x.new_empty(x.shape[0], 1, x.shape[2], x.shape[3]).normal_()
        return x + self.weight * noise


class ConstantInput(nn.Module):
    def __init__(self, channels: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch: int):
        return self.input.expand(batch, -1, -1, -1)


class StyledConv(nn.Module):
    """ModulatedConv2d -> (optional spatial attention hook) -> noise -> bias + leaky ReLU.

    `attention` is None for the published networks (no state-dict keys). A method may attach a
    module there (DiagonalGAN-style content attention); it is called as attention(x, content).
    """

    def __init__(self, in_ch, out_ch, kernel_size, style_dim, upsample=False, blur_kernel=(1, 3, 3, 1)):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, kernel_size, style_dim, upsample=upsample, blur_kernel=blur_kernel)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_ch)
        self.attention = None

    def forward(self, x, style, noise=None, content=None, s=None):
        out = self.conv(x, style, s)
        if self.attention is not None and content is not None:
            out = self.attention(out, content)
        return self.activate(self.noise(out, noise))


class ToRGB(nn.Module):
    """1x1 modulated conv (no demodulation) + bias, added to the upsampled skip image."""

    def __init__(self, in_ch, style_dim, upsample=True, blur_kernel=(1, 3, 3, 1)):
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_ch, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x, style, skip=None, s=None):
        out = self.conv(x, style, s) + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        return out


# ----------------------------------------------------------------------------
# Discriminator blocks


class ConvLayer(nn.Sequential):
    """[Blur] -> EqualConv2d -> [FusedLeakyReLU]; index layout matches rosinality's state-dict keys."""

    def __init__(
        self, in_ch, out_ch, kernel_size, downsample=False, blur_kernel=(1, 3, 3, 1), bias=True, activate=True
    ):
        layers = []
        if downsample:
            p = (len(blur_kernel) - 2) + (kernel_size - 1)
            layers.append(Blur(blur_kernel, pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(
            EqualConv2d(in_ch, out_ch, kernel_size, stride=stride, padding=padding, bias=bias and not activate)
        )
        if activate:
            layers.append(FusedLeakyReLU(out_ch))
        super().__init__(*layers)


class ResBlock(nn.Module):
    def __init__(self, in_ch, out_ch, blur_kernel=(1, 3, 3, 1)):
        super().__init__()
        self.conv1 = ConvLayer(in_ch, in_ch, 3)
        self.conv2 = ConvLayer(in_ch, out_ch, 3, downsample=True, blur_kernel=blur_kernel)
        self.skip = ConvLayer(in_ch, out_ch, 1, downsample=True, blur_kernel=blur_kernel, bias=False, activate=False)

    def forward(self, x):
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2.0)
