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


def path_length_penalty(
    images: torch.Tensor, wplus: torch.Tensor, mean_length: torch.Tensor, decay: float = 0.01
) -> tuple[torch.Tensor, torch.Tensor]:
    """StyleGAN2's path-length regularizer (Karras et al., CVPR 2020, eq. 4; rosinality
    `train.py::g_path_regularize`): a fixed-size step in W should change the image by a fixed amount.

        y ~ N(0, I) / sqrt(H W),   J_w^T y = grad_w <G(w), y>             wplus [B, L, D] -> [B, L, D]
        l = sqrt(mean_L sum_D (J_w^T y)^2)                                  [B]
        a <- a + decay (mean(l) - a)                                        running target, a scalar
        L_pl = mean((l - a)^2)

    Returns (L_pl, the updated a, detached). `images` must have been made from `wplus` with grad.
    """
    noise = torch.randn_like(images) / (images.shape[2] * images.shape[3]) ** 0.5
    (grad,) = torch.autograd.grad((images * noise).sum(), wplus, create_graph=True)
    lengths = grad.pow(2).sum(2).mean(1).sqrt()  # [B]
    mean = mean_length + decay * (lengths.mean() - mean_length)
    return (lengths - mean).pow(2).mean(), mean.detach()
