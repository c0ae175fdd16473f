"""Adversarial terms of Sketch Your Own GAN (Wang, Bau & Zhu, ICCV 2021).

GANSketching `training/gan_model.py` with `--gan_mode softplus`: the non-saturating logistic loss
of StyleGAN2 (rosinality `train.py::d_logistic_loss`, `g_nonsaturating_loss`, `d_r1_loss`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import at_least_fp32


def d_logistic(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """L_D = E[softplus(D(fake))] + E[softplus(-D(real))]. Reduced in float32 (logits may be bf16)."""
    return F.softplus(at_least_fp32(fake_logits)).mean() + F.softplus(-at_least_fp32(real_logits)).mean()


def g_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """L_G = E[softplus(-D(G(z)))]. Reduced in float32 (logits may be bf16)."""
    return F.softplus(-at_least_fp32(fake_logits)).mean()


def r1_penalty(real_logits: torch.Tensor, real_input: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): E_x ||grad_x D(x)||^2, summed over pixels, averaged over the batch.

    Computed with create_graph=True so its gradient reaches D (double backward). The caller scales
    by gamma/2 and, for lazy regularization, by the interval (GANSketching: x 16 every 16 steps).
    The gradient is taken w.r.t. `real_input`, upstream of any augmentation, as GANSketching does.
    """
    (grad,) = torch.autograd.grad(real_logits.sum(), real_input, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()
