"""GAN inversion: find the z, w or W+ code whose image matches a target image.

    result = invert(G, target, space="wplus", steps=300, restarts=3)
    result.wplus          # [B, n_latent, D], ready for scribble_edit / apply_ganspace / synthesis

The objective per sample is  mean((G(code) - target)^2) + lambda_perceptual * perceptual(G(code), target),
minimized with Adam (learning-rate warm-up and cosine ramp-down, as in the StyleGAN2 projector) or
L-BFGS (strong-Wolfe line search). The generator is frozen; its noise inputs are held fixed (by default
the stored `noises.*` buffers, so the result is reproducible and the image a pure function of the code).

Restarts: restart 0 starts exactly at the mean latent (mean of `n_mean` mapped samples); restart r > 0
starts at the mean plus `perturb` x (per-dimension std of w) x seeded N(0, 1). For each sample in the
batch the restart with the lowest final objective is kept. In Z there is no "mean z" (PixelNorm makes
z = 0 degenerate), so restart 0 starts at the pooled z whose w lies nearest the mean latent, and later
restarts perturb that z; z is renormalized to the sphere of radius sqrt(D) after each Adam step.

Perceptual term: see `PerceptualFeatures`. VGG-16 features are used only when a local weights file is
given (nothing is downloaded); otherwise a weight-free multi-scale pixel + image-gradient distance.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

SPACES = ("wplus", "w", "z")

# ----------------------------------------------------------------------------
# Small helpers shared by the editing modules


@contextlib.contextmanager
def frozen(module: nn.Module):
    """Temporarily set requires_grad=False on every parameter (latent-only optimization must neither
    compute nor accumulate gradients into the generator); the previous flags are restored."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p, f in flags:
            p.requires_grad_(f)


def device_of(G: nn.Module) -> torch.device:
    return next(G.parameters()).device


def fixed_noise(G, noise=None):
    """noise=None -> the generator's stored noise buffers (deterministic synthesis)."""
    return list(G.stored_noise()) if noise is None else noise


def to_wplus(G, code: torch.Tensor, space: str) -> torch.Tensor:
    """A code in `space` -> W+ [B, n_latent, D] (z goes through the mapping network)."""
    if space == "wplus":
        return code
    if space == "w":
        return G.make_wplus(code, input_is_latent=True)
    if space == "z":
        return G.make_wplus(code)
    raise ValueError(f"space must be one of {SPACES}, got {space!r}")


def w_statistics(G, n: int = 4096, seed: int = 0):
    """(z pool [n, D], w = mapping(z) [n, D], w mean [D], per-dimension w std [D]), seeded."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, G.style_dim, generator=gen).to(device_of(G))
    with torch.no_grad():
        w = G.mapping(z)
    return z, w, w.mean(0), w.std(0)


# ----------------------------------------------------------------------------
# Perceptual features


VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M")  # through relu4_3
VGG16_TAPS = (3, 8, 15, 22)  # relu1_2, relu2_2, relu3_3, relu4_3 in torchvision's indexing
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg16_features_trunk() -> nn.Sequential:
    """torchvision `vgg16().features[:23]` (same module indices, so its state-dict keys load as-is),
    built here so the 120M-parameter classifier is never allocated."""
    layers, in_ch = [], 3
    for v in VGG16_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(in_ch, v, 3, padding=1), nn.ReLU(inplace=False)]
            in_ch = v
    return nn.Sequential(*layers[: VGG16_TAPS[-1] + 1])


class PerceptualFeatures(nn.Module):
    """Perceptual distance between images in [-1, 1]: `forward(x, y) -> [B]`.

    weights=None (the default) -> weight-free fallback, kind "multiscale-gradient": at `levels`
      scales (average pooling by 1, 2, 4, ...) the features are the image itself and its horizontal
      and vertical finite differences; the distance is the sum over scales of the mean squared
      feature differences. It needs no pretrained network and no download, is smooth and cheap, and
      weights edges and coarse structure more than plain MSE; it is not a learned perceptual metric.
    weights=path -> kind "vgg16": torchvision VGG-16 conv features at relu1_2, relu2_2, relu3_3 and
      relu4_3, loaded from a local file with torch.load(weights_only=True) (either a full torchvision
      `vgg16` state dict with `features.N.*` keys or a features-only one with `N.*` keys). Inputs are
      mapped to ImageNet normalization; each layer's features are unit-normalized over channels
      (as LPIPS does, without its learned weights) and the distance is the sum over layers of the
      mean squared difference.
    """

    def __init__(self, weights: str | os.PathLike | None = None, levels: int = 4):
        super().__init__()
        self.levels = levels
        if weights is None:
            self.kind, self.net = "multiscale-gradient", None
            return
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: VGG-16 weights file not found (nothing is downloaded; "
                "pass weights=None for the weight-free fallback)"
            )
        sd = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(sd, dict):
            raise ValueError(f"{path}: expected a VGG-16 state dict, got {type(sd).__name__}")
        if any(k.startswith("features.") for k in sd):
            sd = {k[len("features.") :]: v for k, v in sd.items() if k.startswith("features.")}
        self.kind, self.net = "vgg16", vgg16_features_trunk()
        own = self.net.state_dict()
        missing = sorted(set(own) - set(sd))
        if missing:
            raise ValueError(f"{path}: not a torchvision VGG-16 state dict (missing {', '.join(missing[:4])})")
        try:
            self.net.load_state_dict({k: sd[k] for k in own})
        except RuntimeError as e:
            raise ValueError(f"{path}: VGG-16 weights do not fit: {str(e).splitlines()[-1].strip()}") from None
        self.net.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x [B, 3, H, W] in [-1, 1] -> list of feature maps [B, C_i, H_i, W_i]."""
        if self.net is None:
            feats = []
            for lv in range(self.levels):
                xl = F.avg_pool2d(x, 2**lv) if lv else x
                if min(xl.shape[-2:]) < 2:
                    break
                feats += [xl, xl[..., :, 1:] - xl[..., :, :-1], xl[..., 1:, :] - xl[..., :-1, :]]
            return feats
        h = ((x + 1) / 2 - self.mean) / self.std
        feats = []
        for i, layer in enumerate(self.net):
            h = layer(h)
            if i in VGG16_TAPS:
                feats.append(h / (h.pow(2).sum(1, keepdim=True) + 1e-10).sqrt())
        return feats

    def distance(self, feats_x: list[torch.Tensor], feats_y: list[torch.Tensor]) -> torch.Tensor:
        """Per-sample distance [B] between two feature lists (see the class docstring)."""
        if self.net is None:  # fallback: group (image, dx, dy) per level
            return sum((a - b).pow(2).flatten(1).mean(1) for a, b in zip(feats_x, feats_y))
        return sum((a - b).pow(2).sum(1).flatten(1).mean(1) for a, b in zip(feats_x, feats_y))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.distance(self.features(x), self.features(y))


# ----------------------------------------------------------------------------
# Inversion


@dataclass
class InversionResult:
    latent: torch.Tensor  # the kept code: [B, n_latent, D] (wplus) or [B, D] (w, z)
    wplus: torch.Tensor  # the same code as W+ [B, n_latent, D]
    image: torch.Tensor  # G(latent) with the inversion's noise, [B, 3, H, W]
    loss: torch.Tensor  # [B] final objective of the kept restart (= restart_losses.min(0))
    mse: torch.Tensor  # [B] pixel MSE of `image` against the (resized) target
    restart_losses: torch.Tensor  # [R, B] final objective of every restart
    best_restart: torch.Tensor  # [B] index of the kept restart
    space: str


def _lr_at(step: int, steps: int, lr: float, rampup: float = 0.05, rampdown: float = 0.25) -> float:
    """Linear warm-up over the first 5 % of steps, cosine ramp-down over the last 25 %."""
    down = min(1.0, (1.0 - step / steps) / rampdown)
    up = min(1.0, (step + 1) / max(1.0, rampup * steps))
    return lr * up * (0.5 - 0.5 * math.cos(down * math.pi))


def invert(
    G,
    target: torch.Tensor,
    space: str = "wplus",
    steps: int = 300,
    lr: float = 0.1,
    optimizer: str = "adam",
    restarts: int = 3,
    perceptual: Callable | None = None,
    lambda_perceptual: float = 1.0,
    noise=None,
    seed: int = 0,
    n_mean: int = 4096,
    perturb: float = 0.5,
) -> InversionResult:
    """Invert `target` [B, 3, H, W] in [-1, 1] into `space` ("wplus", "w" or "z").

    G                  Generator (pipeline.nets.stylegan2); frozen during the call
    target             [B, 3, H, W] in [-1, 1]; resized (antialiased bilinear) to G.size if needed
    steps              Adam steps, or L-BFGS iterations (max_iter)
    lr                 Adam peak learning rate (0.1, as in the StyleGAN2 projector);
                       for L-BFGS the step size (1.0 is usual)
    optimizer          "adam" | "lbfgs"
    restarts           number of starts: the mean latent, then seeded perturbations of it
    perceptual         callable (x, y) -> [B] (a scalar counts for every sample); None ->
                       PerceptualFeatures() (weight-free fallback); lambda_perceptual=0 -> pixel only
    noise              list of num_layers noise tensors; None -> G's stored noise buffers
    seed               seeds the mean-latent samples and the restart perturbations
    n_mean             samples used for the mean latent and the per-dimension std of w
    perturb            restart perturbation, in units of the per-dimension std of w (of z for Z)
    """
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}, got {space!r}")
    if optimizer not in ("adam", "lbfgs"):
        raise ValueError(f"optimizer must be 'adam' or 'lbfgs', got {optimizer!r}")
    if restarts < 1 or steps < 0:
        raise ValueError(f"need restarts >= 1 and steps >= 0, got restarts={restarts}, steps={steps}")
    if target.ndim != 4 or target.shape[1] != 3:
        raise ValueError(f"target must be [B, 3, H, W], got {list(target.shape)}")
    dev = device_of(G)
    target = target.to(dev, torch.float32)
    if target.shape[-2:] != (G.size, G.size):
        target = F.interpolate(target, size=(G.size, G.size), mode="bilinear", align_corners=False, antialias=True)
    B = target.shape[0]
    noise = fixed_noise(G, noise)
    if perceptual is None and lambda_perceptual:
        perceptual = PerceptualFeatures().to(dev)

    # Starting points.
    zpool, wpool, w_mean, w_std = w_statistics(G, n_mean, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    if space == "z":
        center = zpool[(wpool - w_mean).pow(2).sum(1).argmin()]  # [D]
        scale = torch.ones_like(center)
    else:
        center, scale = w_mean, w_std
    shape = (B, G.n_latent, G.style_dim) if space == "wplus" else (B, G.style_dim)

    def start(r: int) -> torch.Tensor:
        x = center.expand(shape).clone()
        if r > 0:
            x = x + perturb * scale * torch.randn(shape, generator=gen).to(dev)
        if space == "z":
            x = _renorm(x)
        return x

    if isinstance(perceptual, PerceptualFeatures) and lambda_perceptual:
        with torch.no_grad():
            tfeats = perceptual.features(target)
        perc = lambda img: perceptual.distance(perceptual.features(img), tfeats)  # noqa: E731
    elif lambda_perceptual:
        perc = lambda img: _per_sample(perceptual(img, target), B)  # noqa: E731
    else:
        perc = None

    def objective(code):  # -> ([B], [B], image)
        img = G.synthesis(to_wplus(G, code, space), noise=noise)
        mse = (img - target).pow(2).flatten(1).mean(1)
        total = mse + lambda_perceptual * perc(img) if perc is not None else mse
        return total, mse, img

    codes, losses, mses, images = [], [], [], []
    with frozen(G):
        for r in range(restarts):
            code = start(r).requires_grad_(True)
            if optimizer == "adam":
                opt = torch.optim.Adam([code], lr=lr)
                for step in range(steps):
                    for g in opt.param_groups:
                        g["lr"] = _lr_at(step, steps, lr)
                    opt.zero_grad(set_to_none=True)
                    objective(code)[0].sum().backward()
                    opt.step()
                    if space == "z":
                        with torch.no_grad():
                            code.copy_(_renorm(code))
            elif steps > 0:
                opt = torch.optim.LBFGS(
                    [code],
                    lr=lr,
                    max_iter=steps,
                    history_size=20,
                    line_search_fn="strong_wolfe",
                    tolerance_grad=1e-10,
                    tolerance_change=1e-14,
                )

                def closure(opt=opt, code=code):
                    opt.zero_grad(set_to_none=True)
                    loss = objective(code)[0].sum()
                    loss.backward()
                    return loss

                opt.step(closure)
            with torch.no_grad():
                total, mse, img = objective(code)
            codes.append(code.detach())
            losses.append(total)
            mses.append(mse)
            images.append(img)

    restart_losses = torch.stack(losses)  # [R, B]
    best = restart_losses.argmin(0)  # [B]
    pick = lambda xs: torch.stack(xs)[best, torch.arange(B, device=best.device)]  # noqa: E731
    latent = pick(codes)
    with torch.no_grad():
        wplus = to_wplus(G, latent, space).detach()
    return InversionResult(
        latent=latent,
        wplus=wplus,
        image=pick(images),
        loss=pick(losses),
        mse=pick(mses),
        restart_losses=restart_losses,
        best_restart=best,
        space=space,
    )


def _renorm(z: torch.Tensor) -> torch.Tensor:
    """Project z onto the sphere of radius sqrt(D), where N(0, I) samples concentrate."""
    return z * (z.shape[-1] ** 0.5) / z.norm(dim=-1, keepdim=True).clamp_min(1e-8)


def _per_sample(value: torch.Tensor, B: int) -> torch.Tensor:
    value = torch.as_tensor(value)
    if value.ndim == 0:
        return value.expand(B)  # one value for the whole batch: every sample gets it
    return value.reshape(B, -1).mean(1)
