"""Build the networks an experiment needs from its config and the prepared checkpoint folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .config import ConfigError, Experiment
from .nets.checkpoint import load_into
from .nets.photosketch import PhotoSketch
from .nets.stylegan2 import Discriminator, Generator, StyleGAN2Config
from .nets.xdog import XDoG
from .perf import OFF, Perf


def resolve_device(want: str, key: str = "train.device") -> torch.device:
    """'auto' | 'cpu' | 'cuda' -> a torch.device; `key` names the params entry in the error."""
    if want == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"{key}: 'cuda' requested but no CUDA device is available "
            "(torch.cuda.is_available() is False); use 'auto' or 'cpu'"
        )
    if want == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(want)


def stylegan_config(exp: Experiment) -> StyleGAN2Config:
    g = exp.generator
    return StyleGAN2Config(
        size=exp.size,
        style_dim=g.style_dim,
        n_mlp=g.n_mlp,
        channel_base=g.channel_base,
        channel_max=g.channel_max,
        lr_mlp=g.lr_mlp,
    )


def load_generator(exp: Experiment, path: Path, device="cpu") -> Generator:
    G = Generator(stylegan_config(exp))
    load_into(G, path, role="g")
    return G.to(device)


def load_discriminator(exp: Experiment, path: Path, device="cpu") -> Discriminator:
    D = Discriminator(stylegan_config(exp))
    load_into(D, path, role="d")
    return D.to(device)


def build_sketcher(exp: Experiment, pretrained: Path, device="cpu") -> nn.Module:
    """The frozen sketch extractor: PhotoSketch (paper) or the weight-free XDoG (demo, ablation)."""
    if exp.sketch_extractor == "photosketch":
        net = PhotoSketch(ngf=exp.photosketch_ngf, bn_mode=exp.photosketch_bn_mode)
        load_into(net, pretrained / "photosketch.pth")
    else:
        net = XDoG()
    net.requires_grad_(False)
    return net.to(device)


@dataclass
class Nets:
    """Everything a method trains or looks through. Methods decide what requires grad."""

    G: Generator
    D_sketch: Discriminator
    D_image: Discriminator
    sketcher: nn.Module
    device: torch.device
    perf: Perf = OFF  # autocast settings for the methods' forwards (perf.configure)


def build_nets(exp: Experiment, pretrained: Path, device: torch.device) -> Nets:
    """GANSketching `initialize_networks`: G from netG.pth; D_sketch and D_image both from netD.pth."""
    G = load_generator(exp, pretrained / "netG.pth", device)
    D_sketch = load_discriminator(exp, pretrained / "netD.pth", device)
    D_image = load_discriminator(exp, pretrained / "netD.pth", device)
    return Nets(G, D_sketch, D_image, build_sketcher(exp, pretrained, device), device)
