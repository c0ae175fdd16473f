"""The toy world's oracle: reads the factors back from any image, and the pose from any sketch.

Two small convolutional branches, trained by `train_oracle` on renders (pipeline/world/render.py):

    photo  [B, 3, S, S] in [-1, 1] -> trunk -> features [B, FEATURES] -> heads: pose, facing, colour, background
    sketch [B, 1, S, S] in [-1, 1] -> trunk -> pose

The photo branch's penultimate features are the world's feature extractor for FID / KID /
precision / recall (torch-fidelity extractor "toy-oracle", pipeline/metrics/world.py), the role
Inception plays for photographs: a network trained on this world's images, whose features encode
exactly the factors that differ between its images.

The sketch branch is trained on renderer outlines with heavy stroke augmentation (thicker and
thinner lines, blur, grey strokes, shifts and scaling, erased pieces), so it also reads
sketches drawn by another hand in a paint program.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .render import BACKGROUND_NAMES, COLOUR_NAMES, FACINGS, POSES

FEATURES = 128
HEADS = {"pose": len(POSES), "facing": len(FACINGS), "colour": len(COLOUR_NAMES), "background": len(BACKGROUND_NAMES)}


def _trunk(cin: int, width: int) -> nn.Sequential:
    """S -> S/8 with three stride-2 stages, then global average pooling: [B, cin, S, S] -> [B, 4 width]."""

    def block(a, b):
        return [
            nn.Conv2d(a, b, 3, padding=1),
            nn.GroupNorm(8, b),
            nn.SiLU(),
            nn.Conv2d(b, b, 3, padding=1, stride=2),
            nn.GroupNorm(8, b),
            nn.SiLU(),
        ]

    return nn.Sequential(
        *block(cin, width),
        *block(width, 2 * width),
        *block(2 * width, 4 * width),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )


class Oracle(nn.Module):
    """Photo factors + sketch pose. Inputs of any size are resized to `size` (antialiased)."""

    def __init__(self, size: int = 32, width: int = 32):
        super().__init__()
        self.size = size
        self.photo = _trunk(3, width)
        self.features = nn.Sequential(nn.Linear(4 * width, FEATURES), nn.SiLU())
        self.heads = nn.ModuleDict({k: nn.Linear(FEATURES, n) for k, n in HEADS.items()})
        self.sketch = _trunk(1, width // 2)
        self.sketch_pose = nn.Sequential(nn.Linear(2 * width, 64), nn.SiLU(), nn.Linear(64, len(POSES)))

    def _fit(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        return x

    def embed(self, photos: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] in [-1, 1] -> penultimate features [B, FEATURES] (the FID feature space)."""
        return self.features(self.photo(self._fit(photos)))

    def forward(self, photos: torch.Tensor) -> dict[str, torch.Tensor]:
        """[B, 3, H, W] in [-1, 1] -> {factor: logits [B, n]}."""
        h = self.embed(photos)
        return {k: head(h) for k, head in self.heads.items()}

    def read_sketch(self, sketches: torch.Tensor) -> torch.Tensor:
        """[B, 1, H, W] in [-1, 1] (white background) -> pose logits [B, len(POSES)]."""
        return self.sketch_pose(self.sketch(self._fit(sketches)))

    @torch.no_grad()
    def predict(self, photos: torch.Tensor, batch: int = 256) -> dict[str, torch.Tensor]:
        """{factor: predicted index [B]} for a batch of any length."""
        out: dict[str, list] = {k: [] for k in HEADS}
        for i in range(0, len(photos), batch):
            for k, v in self(photos[i : i + batch]).items():
                out[k].append(v.argmax(1))
        return {k: torch.cat(v) for k, v in out.items()}

    @torch.no_grad()
    def predict_sketch_pose(self, sketches: torch.Tensor) -> torch.Tensor:
        return self.read_sketch(sketches).argmax(1)
