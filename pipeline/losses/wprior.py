"""A Gaussian prior on W, fitted to the pretrained mapping network: a switch of this project (off by
default; README deviation table), not part of the reference methods.

Why: a mapping-only fine-tune can move w anywhere, and the synthesis network draws washes of colour
far outside the w it was trained on, which the sketch and CLIP losses still reward (the toy world's
`syog` at its short schedule puts w at a median squared Mahalanobis distance of about 26,000 from the
pretrained W, where the pretrained w themselves sit at about 100 in 128 dimensions;
docs/toy-world-measurements.md). The hinge leaves every move inside the pretrained distribution free:
a standing cat the generator already draws is as likely under the prior as a sitting one.

Source of the idea: W modelled as a Gaussian for StyleGAN latent regularization, as in the inversion
literature (Wulff & Torralba, "Improving Inversion and Generation Diversity in StyleGAN using a
Gaussianized Latent Space", 2020, fit a Gaussian to (leaky-ReLU-inverted) W and penalize the
Mahalanobis distance of the optimized latent); here W itself is fitted, and the penalty acts on the
mapping network's outputs during the fine-tune rather than on one optimized latent.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class WPrior:
    """N(mean, C) fitted to pretrained w, as `whiten` = V diag(lambda)^-1/2 (C = V diag(lambda) V^T),
    and `tau`, the squared Mahalanobis distance that a `quantile` of the fitted w stay within."""

    mean: torch.Tensor  # [D]
    whiten: torch.Tensor  # [D, D]
    tau: float
    quantile: float

    def to(self, device) -> WPrior:
        return dataclasses.replace(self, mean=self.mean.to(device), whiten=self.whiten.to(device))

    def whitened(self, w: torch.Tensor) -> torch.Tensor:
        """(w - mean) whiten: w [N, D] in coordinates where the fitted Gaussian is N(0, I)."""
        return (w.float() - self.mean) @ self.whiten


def fit_w_prior(w: torch.Tensor, quantile: float = 0.99, eps: float = 1e-6) -> WPrior:
    """Fit the prior to pretrained w [N, D] (N > D; the mapping of N random z). Eigenvalues are
    floored at eps * the largest, so a direction W never uses does not make the distance infinite."""
    w = w.detach().double()
    n, d = w.shape
    if n <= d:
        raise ValueError(f"fit_w_prior needs more samples than dimensions (got {n} samples of {d} dims)")
    mean = w.mean(0)
    cov = torch.cov((w - mean).T)
    lam, vecs = torch.linalg.eigh(cov)
    lam = lam.clamp_min(eps * lam.max())
    whiten = vecs / lam.sqrt()
    d2 = (((w - mean) @ whiten) ** 2).sum(1)
    return WPrior(mean.float(), whiten.float(), float(torch.quantile(d2, quantile)), quantile)


def mahalanobis_sq(w: torch.Tensor, prior: WPrior) -> torch.Tensor:
    """d^2(w) = (w - mean)^T C^-1 (w - mean) = ||(w - mean) whiten||^2, per row of w [N, D] -> [N]."""
    return (prior.whitened(w) ** 2).sum(1)


def w_prior_hinge(w: torch.Tensor, prior: WPrior) -> torch.Tensor:
    """L_wprior = mean_i max(0, d^2(w_i) - tau) / D over the rows of w [N, D]: zero while w stays
    where the pretrained mapping puts 99 % of its outputs, growing with the squared distance beyond."""
    return _hinge(mahalanobis_sq(w, prior), prior.tau, w.shape[-1])


def _hinge(d2: torch.Tensor, tau: float, dim: int) -> torch.Tensor:
    """mean_i max(0, d2_i - tau) / dim."""
    return (d2 - tau).clamp_min(0).mean() / dim


@dataclass(frozen=True)
class WSupport:
    """The pretrained w themselves, whitened by the Gaussian fit (`bank` [M, D]), and `tau`: the squared
    distance to the nearest of them within which a `quantile` of held-out pretrained w lie."""

    prior: WPrior
    bank: torch.Tensor  # [M, D], whitened
    tau: float
    quantile: float

    def to(self, device) -> WSupport:
        return dataclasses.replace(self, prior=self.prior.to(device), bank=self.bank.to(device))


def fit_w_support(w: torch.Tensor, quantile: float = 0.99, held_out: int = 512) -> WSupport:
    """Bank the first N - held_out rows of pretrained w [N, D]; tau from the held-out rows."""
    if w.shape[0] <= held_out + w.shape[1]:
        raise ValueError(f"fit_w_support needs more than {held_out + w.shape[1]} samples (got {w.shape[0]})")
    prior = fit_w_prior(w[:-held_out], quantile)
    bank = prior.whitened(w[:-held_out])
    d2 = nearest_sq(w[-held_out:], WSupport(prior, bank, 0.0, quantile))
    return WSupport(prior, bank, float(torch.quantile(d2, quantile)), quantile)


def nearest_sq(w: torch.Tensor, support: WSupport) -> torch.Tensor:
    """Squared whitened distance of each row of w [N, D] to its nearest banked pretrained w -> [N]."""
    x = support.prior.whitened(w)
    return torch.cdist(x, support.bank).min(1).values ** 2


def w_support_hinge(w: torch.Tensor, support: WSupport) -> torch.Tensor:
    """L_wsupport = mean_i max(0, d_nn^2(w_i) - tau) / D: zero while each w is as near some pretrained w
    as held-out pretrained w are; unlike the Gaussian's hinge it also refuses the ellipsoid's empty middle."""
    return _hinge(nearest_sq(w, support), support.tau, w.shape[-1])
