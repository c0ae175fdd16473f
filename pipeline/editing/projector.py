"""GAN inversion as rosinality/stylegan2-pytorch `projector.py` computes it (`inversion.mode: rosinality`).

Per target image x, starting at the mean latent w_mean of `n_mean` mapped samples:

    w_t   = w + n_t,   n_t ~ N(0, (sigma_w * noise * max(0, 1 - t / noise_ramp)^2)^2)      latent noise
    L     = LPIPS_vgg(G(w_t, noise maps), x) + noise_regularize * R(noise maps) + mse * ||G - x||^2
    R     = sum over maps and scales of (mean(n * roll(n, 1, x))^2 + mean(n * roll(n, 1, y))^2),
            each map average-pooled 2x down until it is 8 x 8 (rosinality `noise_regularize`)

Adam on w (W, or W+ with `w_plus`) *and* the per-layer noise maps, lr = 0.1 with a cosine ramp-down
over the last 25 % and a linear ramp-up over the first 5 % of t = step / steps (its `get_lr`); after
each step every noise map is renormalized to mean 0, std 1 (`noise_normalize_`). sigma_w is the
root-mean-square distance of the mapped samples from w_mean (one scalar). Defaults are the script's:
1,000 steps, mse weight 0, noise_regularize 1e5, noise 0.05, noise_ramp 0.75, W space. Images
larger than 256 px are average-pooled to 256 before the losses, as the script does.

The perceptual term is LPIPS with VGG-16 (the `lpips` package, torchvision's VGG-16 weights):
`lpips_vgg()` builds it through its real loading path; tests pass any callable (x, y) -> [B].
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .inversion import InversionResult, device_of, frozen, to_wplus


def get_lr(t: float, lr: float, rampdown: float = 0.25, rampup: float = 0.05) -> float:
    ramp = min(1.0, (1.0 - t) / rampdown)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return lr * ramp * min(1.0, t / rampup)


def noise_regularize(noises: list[torch.Tensor]) -> torch.Tensor:
    """R = sum_maps sum_scales [mean(n * roll_x(n))^2 + mean(n * roll_y(n))^2], halving until 8 x 8."""
    loss = 0
    for noise in noises:
        size = noise.shape[2]
        while True:
            loss = (
                loss
                + (noise * torch.roll(noise, shifts=1, dims=3)).mean().pow(2)
                + (noise * torch.roll(noise, shifts=1, dims=2)).mean().pow(2)
            )
            if size <= 8:
                break
            noise = noise.reshape(-1, 1, size // 2, 2, size // 2, 2).mean([3, 5])
            size //= 2
    return loss


@torch.no_grad()
def noise_normalize_(noises: list[torch.Tensor]) -> None:
    for noise in noises:
        mean, std = noise.mean(), noise.std()
        noise.sub_(mean).div_(std)


def lpips_vgg(device="cpu", hub_dir=None) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """LPIPS (Zhang et al. 2018) with VGG-16 from the `lpips` package: (x, y) in [-1, 1] -> [B].
    Its linear heads ship in the package; VGG-16 is torchvision's `vgg16-397923af.pth`, looked up in
    the torch hub cache (`hub_dir`: the fetch stage's data/weights/torch_hub; else torch's own)."""
    try:
        import lpips
    except ImportError:
        raise RuntimeError("LPIPS needs the lpips package: pip install lpips") from None
    if hub_dir is not None:
        torch.hub.set_dir(str(hub_dir))
    net = lpips.LPIPS(net="vgg", verbose=False).to(device).eval().requires_grad_(False)
    return lambda x, y: net(x, y, normalize=False).reshape(x.shape[0], -1).mean(1)


def pool_to_256(img: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> [B, C, H/f, W/f] by f x f block means, f = W // 256, when W > 256 (rosinality
    `projector.py`: LPIPS sees at most 256 px); unchanged otherwise."""
    if img.shape[-1] <= 256:
        return img
    b, c, h, w = img.shape
    f = w // 256
    return img.reshape(b, c, h // f, f, w // f, f).mean([3, 5])


def project(
    G,
    target: torch.Tensor,
    perceptual: Callable | None = None,
    steps: int = 1000,
    lr: float = 0.1,
    noise: float = 0.05,
    noise_ramp: float = 0.75,
    noise_regularize_weight: float = 1e5,
    mse: float = 0.0,
    w_plus: bool = False,
    n_mean: int = 10000,
    seed: int = 0,
) -> InversionResult:
    """Project target [B, 3, H, W] in [-1, 1] (resized to G.size) into W (or W+); see the module docstring."""
    dev = device_of(G)
    target = target.to(dev, torch.float32)
    if target.shape[-2:] != (G.size, G.size):
        target = F.interpolate(target, size=(G.size, G.size), mode="bilinear", align_corners=False, antialias=True)
    B = target.shape[0]
    perceptual = perceptual or lpips_vgg(dev)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        w = G.mapping(torch.randn(n_mean, G.style_dim, generator=gen).to(dev))
        w_mean = w.mean(0)
        w_std = ((w - w_mean).pow(2).sum() / n_mean) ** 0.5  # one scalar, as the script
    noises = [torch.randn(B, *n.shape[1:], generator=gen).to(dev).requires_grad_(True) for n in G.stored_noise()]
    latent = w_mean.detach().clone()[None].repeat(B, 1)
    if w_plus:
        latent = latent[:, None].repeat(1, G.n_latent, 1)
    latent.requires_grad_(True)
    space = "wplus" if w_plus else "w"
    opt = torch.optim.Adam([latent] + noises, lr=lr)

    with frozen(G):
        for i in range(steps):
            t = i / steps
            for g in opt.param_groups:
                g["lr"] = get_lr(t, lr)
            strength = w_std * noise * max(0.0, 1 - t / noise_ramp) ** 2
            latent_n = latent + torch.randn(latent.shape, generator=gen).to(dev) * strength
            img = pool_to_256(G.synthesis(to_wplus(G, latent_n, space), noise=noises))
            loss = (
                perceptual(img, pool_to_256(target)).sum()
                + noise_regularize_weight * noise_regularize(noises)
                + mse * F.mse_loss(img, pool_to_256(target))
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            noise_normalize_(noises)
        with torch.no_grad():
            wplus = to_wplus(G, latent.detach(), space)
            image = G.synthesis(wplus, noise=[n.detach() for n in noises])
            p = perceptual(pool_to_256(image), pool_to_256(target)).reshape(B)
            err = (image - target).pow(2).flatten(1).mean(1)
    return InversionResult(
        latent=latent.detach(),
        wplus=wplus,
        image=image,
        loss=p,
        mse=err,
        restart_losses=p[None],
        best_restart=torch.zeros(B, dtype=torch.long),
        space=space,
    )
