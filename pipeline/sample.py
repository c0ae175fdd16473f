"""Fixed-noise grids and metric samples.

The grid's z, noise and content codes are made once from the experiment seed
(`make_fixed_inputs`), saved under data/, and fed to every method's generator, so grids compare
across methods and runs (StyleGAN3 `training_loop.py` grid_z; noise_mode='const'). Metric
samples follow the paper protocol (reference spec §1.7): z ~ N(0, I) from a seeded generator, no
truncation by default, random noise from the same seeded stream, no style mixing.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from .data import save_png, to_pil
from .nets.stylegan2 import Generator


def noise_shape(i: int) -> tuple[int, int, int]:
    r = 2 ** ((i + 5) // 2)
    return (1, r, r)


class Sampler:
    """A generator as the sample stage uses it: (z, noise, z_content) -> images.

    `content` is an optional ContentBranch (DiagonalGAN-style methods); plain generators ignore
    z_content, so every method is fed the same stored inputs.
    """

    def __init__(self, G: Generator, content=None):
        self.G, self.content = G, content

    @torch.no_grad()
    def __call__(self, z, noise, z_content=None, truncation: float = 1.0, mean_w=None) -> torch.Tensor:
        codes = None
        if self.content is not None:
            codes = self.content.content_codes(z_content[:, : self.content.content_dim], self.G.n_latent)
        img, _ = self.G([z], noise=noise, truncation=truncation, truncation_latent=mean_w, content=codes)
        return img


def make_fixed_inputs(style_dim: int, num_layers: int, n: int, seed: int) -> dict:
    """z [n, D], per-layer noise [n, 1, r, r] and content codes z_c [n, D] from one seeded generator.

    z_c is drawn last, so adding it did not change z or the noise of earlier grids.
    """
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, style_dim, generator=g)
    noise = [torch.randn(n, *noise_shape(i), generator=g) for i in range(num_layers)]
    z_content = torch.randn(n, style_dim, generator=g)
    return {
        "z": z,
        **{f"noise_{i}": t for i, t in enumerate(noise)},
        "z_content": z_content,
        "seed": torch.tensor(seed),
    }


def as_sampler(gen) -> Sampler:
    return gen if isinstance(gen, Sampler) else Sampler(gen)


def render_fixed(gen, fixed: dict, truncation: float = 1.0, mean_w=None, batch: int = 8, device="cpu"):
    """Images for the stored inputs: [n, 3, S, S] on CPU. `gen` is a Generator or a Sampler."""
    s = as_sampler(gen)
    z = fixed["z"]
    if mean_w is None and truncation < 1:
        mean_w = s.G.mean_latent(4096, torch.Generator().manual_seed(int(fixed["seed"])))
    out = []
    for i in range(0, len(z), batch):
        noise = [fixed[f"noise_{k}"][i : i + batch].to(device) for k in range(s.G.num_layers)]
        zc = fixed["z_content"][i : i + batch].to(device) if "z_content" in fixed else None
        out.append(s(z[i : i + batch].to(device), noise, zc, truncation, mean_w).cpu())
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


def write_samples(gen, out_dir: Path, n: int, seed: int, batch: int = 50, truncation: float = 1.0, device="cpu") -> int:
    """n PNG samples out_dir/%06d.png, deterministic given seed (independent of batch size)."""
    s = as_sampler(gen)
    G = s.G
    g = torch.Generator().manual_seed(seed)
    mean_w = G.mean_latent(4096, torch.Generator().manual_seed(seed + 1)) if truncation < 1 else None
    z_all = torch.randn(n, G.style_dim, generator=g)
    noise_seeds = torch.randint(0, 2**31 - 1, (n,), generator=g)
    zc_all = torch.randn(n, G.style_dim, generator=g)
    # PNG encoding (zlib, which releases the GIL) runs in threads, overlapping the next batch's
    # generation; on a GPU it would otherwise take longer than the generation itself.
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        pending = []
        for i in tqdm(range(0, n, batch), desc="samples", unit="batch", mininterval=1.0):
            # per-sample noise from its own seed, so sample k is the same whatever the batch size
            noise = [
                torch.stack(
                    [
                        torch.randn(*noise_shape(k), generator=torch.Generator().manual_seed(int(sd) + k))
                        for sd in noise_seeds[i : i + batch]
                    ]
                ).to(device)
                for k in range(G.num_layers)
            ]
            img = s(z_all[i : i + batch].to(device), noise, zc_all[i : i + batch].to(device), truncation, mean_w)
            pending += [
                pool.submit(save_png, to_pil(im), out_dir / f"{i + j:06d}.png") for j, im in enumerate(img.cpu())
            ]
            while len(pending) > 4 * batch:  # bound the images waiting in memory
                pending.pop(0).result()  # re-raises a write error, if any
        for f in pending:
            f.result()
    return n


def grid_digest(images: torch.Tensor) -> str:
    arr = ((images.clamp(-1, 1) + 1) * 127.5 + 0.5).to(torch.uint8).numpy()
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()[:16]


def sample_method(exp, method_cfg, finetune_dir: Path, fixed_path: Path, out: Path) -> dict:
    """grid.png from the stored fixed inputs + images/%06d.png for the metrics.
    method_cfg None: the pretrained generator, finetune_dir/netG.pth (the report's `pretrained` row)."""
    from .methods import get_method
    from .models import load_generator, resolve_device
    from .nets.checkpoint import load_file

    device = resolve_device(exp.train.device)
    if method_cfg is None:
        sampler = Sampler(load_generator(exp, finetune_dir / "netG.pth", device).eval())
    else:
        sampler = get_method(method_cfg.method).load_sampler(exp, method_cfg, finetune_dir, device)
    images = render_fixed(sampler, load_file(fixed_path), truncation=exp.eval.truncation, device=device)
    save_png(make_grid(images), out / "grid.png")
    write_samples(
        sampler,
        out / "images",
        exp.eval.n_samples,
        seed=exp.seed + 1000,
        batch=exp.eval.batch,
        truncation=exp.eval.truncation,
        device=device,
    )
    return {"grid_digest": grid_digest(images), "n_samples": exp.eval.n_samples}
