"""Fixed-noise grids and metric samples.

The grid's z and noise inputs are made once from the experiment seed (`make_fixed_inputs`),
saved under data/, and fed to every method's generator, so grids compare across methods and runs
(StyleGAN3 `training_loop.py` grid_z; noise_mode='const'). Metric samples follow the paper
protocol (reference spec §1.7): z ~ N(0, I) from a seeded generator, no truncation by default,
random noise from the same seeded stream, no style mixing.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from .data import save_png, to_pil
from .nets.stylegan2 import Generator


def make_fixed_inputs(style_dim: int, num_layers: int, n: int, seed: int) -> dict:
    """z [n, D] and per-layer noise [n, 1, r, r] from one seeded CPU generator."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, style_dim, generator=g)
    noise = [torch.randn(n, 1, 2 ** ((i + 5) // 2), 2 ** ((i + 5) // 2), generator=g) for i in range(num_layers)]
    return {"z": z, **{f"noise_{i}": t for i, t in enumerate(noise)}, "seed": torch.tensor(seed)}


@torch.no_grad()
def render_fixed(G: Generator, fixed: dict, truncation: float = 1.0, mean_w=None, batch: int = 8,
                 device="cpu") -> torch.Tensor:
    """Images for the stored z/noise: [n, 3, S, S] on CPU."""
    z = fixed["z"]
    if mean_w is None and truncation < 1:
        mean_w = G.mean_latent(4096, torch.Generator().manual_seed(int(fixed["seed"])))
    out = []
    for i in range(0, len(z), batch):
        noise = [fixed[f"noise_{k}"][i:i + batch].to(device) for k in range(G.num_layers)]
        img, _ = G([z[i:i + batch].to(device)], noise=noise, truncation=truncation, truncation_latent=mean_w)
        out.append(img.cpu())
    return torch.cat(out)


def make_grid(images: torch.Tensor, nrow: int = 8, pad: int = 2) -> Image.Image:
    """[N, C, H, W] in [-1, 1] -> one PIL image, nrow per row, white padding."""
    n, c, h, w = images.shape
    rows = (n + nrow - 1) // nrow
    canvas = Image.new("RGB", (nrow * (w + pad) + pad, rows * (h + pad) + pad), (255, 255, 255))
    for i in range(n):
        tile = to_pil(images[i] if c == 3 else images[i].repeat(3, 1, 1))
        canvas.paste(tile, (pad + (i % nrow) * (w + pad), pad + (i // nrow) * (h + pad)))
    return canvas


@torch.no_grad()
def write_samples(G: Generator, out_dir: Path, n: int, seed: int, batch: int = 50, truncation: float = 1.0,
                  device="cpu") -> int:
    """n PNG samples out_dir/%06d.png, deterministic given seed (independent of batch size)."""
    g = torch.Generator().manual_seed(seed)
    mean_w = G.mean_latent(4096, torch.Generator().manual_seed(seed + 1)) if truncation < 1 else None
    z_all = torch.randn(n, G.style_dim, generator=g)
    noise_seeds = torch.randint(0, 2 ** 31 - 1, (n,), generator=g)
    for i in tqdm(range(0, n, batch), desc="samples", unit="batch", mininterval=1.0):
        zs = z_all[i:i + batch]
        # per-sample noise from its own seed, so sample k is the same whatever the batch size
        noise = [torch.stack([torch.randn(1, 2 ** ((k + 5) // 2), 2 ** ((k + 5) // 2),
                                          generator=torch.Generator().manual_seed(int(s) + k))
                              for s in noise_seeds[i:i + batch]]).to(device) for k in range(G.num_layers)]
        img, _ = G([zs.to(device)], noise=noise, truncation=truncation, truncation_latent=mean_w)
        for j, im in enumerate(img.cpu()):
            save_png(to_pil(im), out_dir / f"{i + j:06d}.png")
    return n


def grid_digest(images: torch.Tensor) -> str:
    import hashlib
    arr = ((images.clamp(-1, 1) + 1) * 127.5 + 0.5).to(torch.uint8).numpy()
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()[:16]


def sample_method(exp, netg: Path, fixed_path: Path, out: Path) -> dict:
    """grid.png from the stored fixed inputs + images/%06d.png for the metrics."""
    from .models import load_generator, resolve_device
    from .nets.checkpoint import load_file
    device = resolve_device(exp.train.device)
    G = load_generator(exp, netg, device).eval()
    fixed = load_file(fixed_path)
    images = render_fixed(G, fixed, truncation=exp.eval.truncation, device=device)
    save_png(make_grid(images), out / "grid.png")
    write_samples(G, out / "images", exp.eval.n_samples, seed=exp.seed + 1000, batch=exp.eval.batch,
                  truncation=exp.eval.truncation, device=device)
    return {"grid_digest": grid_digest(images), "n_samples": exp.eval.n_samples}
