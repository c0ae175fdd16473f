"""Train the toy world's "pretrained" StyleGAN2 from scratch on rendered cats.

The training recipe is rosinality/stylegan2-pytorch `train.py` (the code that made the published
LSUN-cat weights), at toy scale:

    L_D  = E sp(D(G(z))) + E sp(-D(x))                      (non-saturating logistic)
    L_R1 = r1_gamma / 2 * E||grad_x D(x)||^2 * d_reg_every   (lazy, every d_reg_every steps)
    L_G  = E sp(-D(G(z)))                                   (style mixing with probability `mixing`)

Adam (lr, betas (0, 0.99)); D's lr and betas get the lazy-regularization ratio k/(k+1). G_ema is
an exponential moving average of G with a half-life of `ema_kimg` thousand images; it is what is
saved as netG.pth (GANSketching's `netG.pth` is the EMA generator too). Path-length
regularization (StyleGAN2 config F, which made the published LSUN-cat weights) runs from step
`pl_from` on, every `pl_every` steps on half a batch, weight `pl_weight`; G's Adam then gets the
lazy ratio k/(k+1) as in rosinality. It makes W smooth, which mapping-only fine-tuning relies on:
without it the standing cats sat on small scattered islands of W (docs/toy-world-measurements.md).
Not used: data augmentation (the renderer gives every step fresh images, so D cannot memorize a set).

    L_pl = mean((|J_w^T y| - a)^2)        losses.gan.path_length_penalty

Data x: renders from the *training distribution* of the world (`GanData`): natural fur colours
only and a rare standing pose, like LSUN cat, where pink cats are absent and standing ones few.
Every step's batch is rendered from seed (world seed, step), so a resumed run sees the same data.
A pose curriculum (`gan.standing_changes`; `data` is then a function of the step) may change the standing share from given
steps on: a small generator drops a rare, thin-legged pose (README "The toy world"), so a spell on a
pose-balanced set teaches it the figure before the rare share returns.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from ..losses.gan import d_logistic, g_nonsaturating, path_length_penalty, r1_penalty
from ..nets.checkpoint import load_file, save_atomic
from ..nets.stylegan2 import Discriminator, Generator, StyleGAN2Config
from .render import render, sample_factors

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GanData:
    """The generator's training distribution: weights per pose and per colour (None: uniform)."""

    pose: dict
    colour: dict

    def batch(self, n: int, seed: int, size: int) -> torch.Tensor:
        photos, _ = render(sample_factors(n, seed, pose=self.pose, colour=self.colour), size)
        return photos


def step_seed(seed: int, step: int, stream: int = 0) -> int:
    """A distinct, reproducible seed per (world seed, step, stream)."""
    return (seed * 1_000_003 + step * 7919 + stream * 104_729) % (2**31 - 1)


def accumulate(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model, parameters only (buffers are fixed noise/kernels)."""
    with torch.no_grad():
        for pe, pm in zip(ema.parameters(), model.parameters()):
            pe.lerp_(pm, 1 - decay)


def train_stylegan(
    cfg: StyleGAN2Config,
    data: GanData | Callable[[int], GanData],
    out: Path,
    ckpt_dir: Path,
    *,
    seed: int,
    iters: int,
    batch: int,
    lr: float = 0.002,
    r1_gamma: float = 0.1,
    d_reg_every: int = 16,
    mixing: float = 0.9,
    ema_kimg: float = 10.0,
    pl_weight: float = 0.0,
    pl_every: int = 4,
    pl_from: int = 0,
    mapping_only_from: int | None = None,
    mapping_only_until: int | None = None,
    mapping_lr_mult: float = 1.0,
    init: tuple[Path, Path] | None = None,
    start_step: int = 0,
    ckpt_every: int = 500,
    sample_every: int = 1000,
    stop_after: int | None = None,
    device: torch.device | str = "cpu",
) -> dict:
    """Train G and D on `device`; write out/netG.pth (G_ema) and out/netD.pth as bare state dicts
    (tensors on `device`, as the methods' checkpoints: checkpoint.load_file maps them to the CPU).

    Resumable from ckpt_dir (newest `gan_*.pt`); deterministic given the arguments on one machine.
    init (netG.pth, netD.pth): continue an earlier run's files instead of starting from random weights:
    G and G_ema from its G_ema, D from its D, fresh Adam states, steps numbered on from start_step (so
    the data stream and the step-based schedules continue the earlier run's). mapping_only_from: from
    that step on (until mapping_only_until, if given) only the mapping network (`style.*`) of G trains;
    the synthesis network stays fixed, and G's lr is multiplied by mapping_lr_mult (the mapping's own lr
    is already lr_mlp times G's).
    Initial weights, latents z, renders and the mixing draws come from the CPU generator whatever
    the device, so a CUDA run starts from the same G and D and sees the same data; only the
    per-layer noise and the arithmetic then differ (not bit-exact against a CPU run).
    """
    device = torch.device(device)
    data_at = data if callable(data) else (lambda step: data)  # the training distribution per step
    torch.manual_seed(seed)
    G, D = Generator(cfg).to(device), Discriminator(cfg).to(device)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    ratio = d_reg_every / (d_reg_every + 1) if d_reg_every else 1.0  # no R1: no lazy ratio
    g_opt = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.0, 0.99))
    d_opt = torch.optim.Adam(D.parameters(), lr=lr * ratio, betas=(0.0, 0.99**ratio))
    decay = 0.5 ** (batch / (ema_kimg * 1000))
    start, history = start_step, []
    pl_mean = torch.zeros((), device=device)  # the running path length a (rosinality starts it at 0)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    ckpts = sorted(ckpt_dir.glob("gan_*.pt"))
    if init is not None and not ckpts:
        # after the random init above, so the RNG stream is the one a from-scratch run starts with
        g_init, d_init = load_file(init[0]), load_file(init[1])
        for m in (G, G_ema):
            m.load_state_dict(g_init)
        D.load_state_dict(d_init)
        log.info("continuing the world GAN from %s and %s at step %d", init[0], init[1], start)
    if ckpts:
        ck = load_file(ckpts[-1])
        for name, m in (("G", G), ("D", D), ("G_ema", G_ema), ("g_opt", g_opt), ("d_opt", d_opt)):
            m.load_state_dict(ck[name])
        torch.set_rng_state(ck["rng"])
        start, history = int(ck["step"]), list(ck["history"])
        pl_mean = ck.get("pl_mean", pl_mean).to(device)
        log.info("resuming the world GAN from step %d (%s)", start, ckpts[-1])

    def z(n):
        return torch.randn(n, cfg.style_dim).to(device)  # drawn on the CPU: the same z on every device

    def fake(n):
        if mixing > 0 and torch.rand(()).item() < mixing:
            return G([z(n), z(n)], inject_index=int(torch.randint(1, G.n_latent, ()).item()))[0]
        return G([z(n)])[0]

    t0 = time.time()
    bar = tqdm(range(start, iters), initial=start, total=iters, desc="world GAN", dynamic_ncols=True, mininterval=2.0)
    pl_on = pl_weight > 0 and pl_every > 0
    synthesis = [p for name, p in G.named_parameters() if not name.startswith("style.")]

    def mapping_only(it: int) -> bool:
        return (
            mapping_only_from is not None
            and it >= mapping_only_from
            and (mapping_only_until is None or it < mapping_only_until)
        )

    for it in bar:
        # G's Adam: the lazy-regularization ratio once path-length regularization is on (from the step)
        g_ratio = pl_every / (pl_every + 1) if pl_on and it >= pl_from else 1.0
        g_lr = lr * g_ratio * (mapping_lr_mult if mapping_only(it) else 1.0)
        for group in g_opt.param_groups:
            group["lr"], group["betas"] = g_lr, (0.0, 0.99**g_ratio)
        real = data_at(it).batch(batch, step_seed(seed, it), cfg.size).to(device)
        # D step
        G.requires_grad_(False)
        D.requires_grad_(True)
        with torch.no_grad():
            f = fake(batch)
        d_loss = d_logistic(D(real), D(f))
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        d_opt.step()
        logs = {"d": d_loss.item()}
        if d_reg_every and it % d_reg_every == 0:
            real_r = data_at(it).batch(batch, step_seed(seed, it, 1), cfg.size).to(device).requires_grad_(True)
            pen = r1_penalty(D(real_r), real_r)
            d_opt.zero_grad(set_to_none=True)
            (r1_gamma / 2 * pen * d_reg_every).backward()
            d_opt.step()
            logs["r1"] = pen.item()
        # G step
        G.requires_grad_(True)
        if mapping_only(it):
            for p in synthesis:  # no gradient: Adam leaves them (and their moments) as they are
                p.requires_grad_(False)
        D.requires_grad_(False)
        g_loss = g_nonsaturating(D(fake(batch)))
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()
        logs["g"] = g_loss.item()
        if pl_on and it >= pl_from and it % pl_every == 0:
            n = max(1, batch // 2)  # rosinality path_batch_shrink 2
            if mixing > 0 and torch.rand(()).item() < mixing:
                zs, inject = [z(n), z(n)], int(torch.randint(1, G.n_latent, ()).item())
            else:
                zs, inject = [z(n)], None
            img, wplus = G(zs, inject_index=inject, return_latents=True)
            pen, pl_mean = path_length_penalty(img, wplus, pl_mean)
            g_opt.zero_grad(set_to_none=True)
            (pl_weight * pl_every * pen).backward()
            g_opt.step()
            logs["pl"] = pen.item()
        accumulate(G_ema, G, decay)
        if it % 50 == 0:
            history.append({"step": it, **{k: round(v, 5) for k, v in logs.items()}})
            bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items()}, refresh=False)
        done = it + 1
        if done % ckpt_every == 0 or done == iters or (stop_after is not None and done - start >= stop_after):
            save_atomic(
                {
                    "step": done,
                    "G": G.state_dict(),
                    "D": D.state_dict(),
                    "G_ema": G_ema.state_dict(),
                    "g_opt": g_opt.state_dict(),
                    "d_opt": d_opt.state_dict(),
                    "rng": torch.get_rng_state(),
                    "history": history,
                    "pl_mean": pl_mean,
                },
                ckpt_dir / f"gan_{done:07d}.pt",
            )
            for old in sorted(ckpt_dir.glob("gan_*.pt"))[:-2]:
                old.unlink()
        if sample_every and done % sample_every == 0:
            from ..sample import make_grid

            with torch.no_grad():
                g = torch.Generator().manual_seed(seed)
                img = G_ema([torch.randn(32, cfg.style_dim, generator=g)], randomize_noise=False)[0]
            make_grid(img).save(ckpt_dir / f"sample_{done:07d}.png")
        if stop_after is not None and done - start >= stop_after:
            return {"stopped_at": done}
    bar.close()
    save_atomic(G_ema.state_dict(), out / "netG.pth")
    save_atomic(D.state_dict(), out / "netD.pth")
    return {"iters": iters, "seconds_this_run": round(time.time() - t0, 1), "history": history}
