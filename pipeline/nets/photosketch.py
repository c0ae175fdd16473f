"""PhotoSketch (Li et al., WACV 2019): the pix2pix ResnetGenerator that maps photos to line drawings.

Layout follows mtli/PhotoSketch `models/networks.py` / GANSketching `training/networks/pix2pix.py`
(`resnet_9blocks`, BatchNorm, reflection padding, no dropout), so `photosketch.pth` loads strictly.
Input RGB in [-1, 1] [B, 3, H, W] (H, W divisible by 4); output 1 channel in [-1, 1] via tanh,
white background = +1.

Mode: Sketch Your Own GAN keeps PhotoSketch in *train* mode with frozen weights, so BatchNorm
normalizes with the statistics of the current fake batch (PhotoSketch's own test script never
calls .eval() either). That is our default (`bn_mode="train"`), because the published results
were obtained that way; `bn_mode="eval"` uses the stored running statistics instead and gives
per-sample outputs that do not depend on the rest of the batch. Unlike the reference we do not
update the running statistics in train mode (momentum 0 is not used; we pass
`training=True` to batch_norm without buffers), so a frozen PhotoSketch stays byte-identical.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _BatchNorm(nn.BatchNorm2d):
    """BatchNorm2d whose normalization mode is chosen by `bn_mode`, independent of module.train().

    Freezing a pretrained sketcher must not change its buffers, so batch-statistics mode never
    writes to running_mean / running_var.
    """

    bn_mode = "train"

    def forward(self, x):
        if self.bn_mode == "train":
            return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)


class ResnetBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        # Index 4 is a Dropout(0) placeholder in the reference; it shifts the 2nd conv to index 6.
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=False),
            _BatchNorm(dim),
            nn.ReLU(True),
            nn.Dropout(0.0),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=False),
            _BatchNorm(dim),
        )

    def forward(self, x):
        return x + self.conv_block(x)


class PhotoSketch(nn.Module):
    """ResnetGenerator(input_nc=3, output_nc=1, ngf=64, n_blocks=9) with `model.N.*` keys."""

    def __init__(self, input_nc: int = 3, output_nc: int = 1, ngf: int = 64, n_blocks: int = 9, bn_mode: str = "train"):
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(input_nc, ngf, 7, bias=False),
            _BatchNorm(ngf),
            nn.ReLU(True),
        ]
        for i in range(2):  # downsample x4
            m = 2**i
            layers += [
                nn.Conv2d(ngf * m, ngf * m * 2, 3, stride=2, padding=1, bias=False),
                _BatchNorm(ngf * m * 2),
                nn.ReLU(True),
            ]
        layers += [ResnetBlock(ngf * 4) for _ in range(n_blocks)]
        for i in range(2):  # upsample x4
            m = 2 ** (2 - i)
            layers += [
                nn.ConvTranspose2d(ngf * m, ngf * m // 2, 3, stride=2, padding=1, output_padding=1, bias=False),
                _BatchNorm(ngf * m // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        self.set_bn_mode(bn_mode)

    def set_bn_mode(self, mode: str) -> PhotoSketch:
        if mode not in ("train", "eval"):
            raise ValueError(f"PhotoSketch bn_mode must be 'train' or 'eval', got {mode!r}")
        self.bn_mode = mode
        for m in self.modules():
            if isinstance(m, _BatchNorm):
                m.bn_mode = mode
        return self

    def forward(self, x):
        """x [B, 3, H, W] in [-1, 1] -> sketch [B, 1, H, W] in [-1, 1]."""
        return self.model(x)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        # Checkpoints saved before torch 0.4.1 have no num_batches_tracked; they are unused here.
        sd = dict(state_dict)
        for k in [k for k in self.state_dict() if k.endswith("num_batches_tracked")]:
            sd.setdefault(k, torch.zeros((), dtype=torch.long))
        return super().load_state_dict(sd, strict=strict, assign=assign)
