"""Weight regularizer of Sketch Your Own GAN (Wang, Bau & Zhu, ICCV 2021), off by default there.

GANSketching `training/networks/loss.py::WeightLoss`, weighted by `--l_weight` (default 0) in
`gan_model.py::compute_generator_loss`: it keeps the trained generator weights near the pretrained
ones, so the fine-tune can only move as far as the adversarial terms pay for.
"""

from __future__ import annotations

import torch


def weight_l1(params: list[torch.Tensor], params0: list[torch.Tensor]) -> torch.Tensor:
    """L_weight = mean over tensors k of mean_i |theta_k,i - theta0_k,i| (stored parameters, so an
    equalized-lr layer is measured in its stored units). `params0` are detached copies taken before
    the first step; every tensor counts equally, whatever its size."""
    if len(params) != len(params0) or not params:
        raise ValueError(f"weight_l1 needs matching, non-empty lists (got {len(params)} and {len(params0)} tensors)")
    return torch.stack([(p - p0).abs().mean() for p, p0 in zip(params, params0)]).mean()
