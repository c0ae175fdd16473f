"""Sketch + text customization of a pretrained StyleGAN2: the importable library.

Knows nothing of DVC or Prefect; `stages/` and `pipeline.flows` wire it into those.
"""

from .compat import ensure_torchvision_ops

ensure_torchvision_ops()  # before anything imports torchvision (open_clip, timm, torch-fidelity)

__version__ = "0.1.0"
