"""The `edit` step: every editing tool on one generator the pipeline produced.

For each enabled tool it writes a strip of images (start codes on top, edits below) into out/,
plus summary.json listing what was made with the final losses, so the report can show them.
Start codes: `n_images` W+ codes at truncation 0.7 from the editing seed, the same for every
generator (so edits of the pretrained and of a fine-tuned generator compare side by side).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from .config import write_json
from .data import list_images, open_image, save_png, to_tensor
from .editing import ganspace, global_directions, interpolation, inversion, latent_opt, mapper, scribble
from .editing.spec import EditingSpec
from .sample import make_grid

log = logging.getLogger(__name__)


def _rows(*rows: torch.Tensor) -> Image.Image:
    """Rows of [B, 3, H, W] images -> one grid, one row per tensor."""
    return make_grid(torch.cat([r.detach().cpu() for r in rows]), nrow=rows[0].shape[0])


def demo_scribble(size: int, path: Path) -> Path:
    """A built-in scribble for the demo: a pink stroke across the upper half, transparent elsewhere."""
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.line([(size * 0.2, size * 0.3), (size * 0.8, size * 0.35)], fill=(255, 105, 180, 255), width=max(2, size // 10))
    save_png(img, path)
    return path


def run_edits(
    exp,
    spec: EditingSpec,
    G,
    clip,
    prepared: Path,
    out: Path,
    cache_dir: Path,
    other_state: dict | None = None,
    G_pretrained=None,
) -> dict:
    """All enabled edits of generator G (frozen, eval). Returns {tool: {"png": name, ...}}.

    G_pretrained: the pretrained generator, whose mapping network GANSpace's directions come from
    (as in GANSketching: directions of the original W, applied to the customized generator);
    None means G itself (when G is the pretrained one).
    """
    device = G.input.input.device
    G.eval().requires_grad_(False)
    noise = G.stored_noise()
    target = exp.target_prompt
    start = mapper.wplus_sampler(G, spec.truncation, spec.seed)(spec.n_images)  # [N, n_latent, D]
    with torch.no_grad():
        start_img = G.synthesis(start, noise=noise)
    made = {}
    clock = [time.perf_counter()]

    def save(name, img: Image.Image, **info):
        """Write one tool's image; `seconds` is the tool's wall time (since the previous save)."""
        now = time.perf_counter()
        save_png(img, out / f"{name}.png")
        made[name] = {"png": f"{name}.png", "seconds": round(now - clock[0], 3), **info}
        log.info("edit %s: %.1f s", name, now - clock[0])
        clock[0] = time.perf_counter()

    if spec.latent_opt.enabled:
        s = spec.latent_opt
        w, hist = latent_opt.latent_optimization(
            G,
            clip,
            s.prompt or target,
            start,
            steps=s.steps,
            lr=s.lr,
            lambda_l2=s.lambda_l2,
            lambda_id=s.lambda_id,
            noise=noise,
        )
        with torch.no_grad():
            save(
                "latent_opt",
                _rows(start_img, G.synthesis(w, noise=noise)),
                prompt=s.prompt or target,
                loss_start=hist[0]["loss"],
                loss_end=hist[-1]["loss"],
            )

    if spec.mapper.enabled:
        s = spec.mapper
        m, hist = mapper.train_mapper(
            G,
            clip,
            s.prompt or target,
            mapper.wplus_sampler(G, spec.truncation, spec.seed + 1),
            steps=s.steps,
            batch=s.batch,
            lr=s.lr,
            lambda_clip=s.lambda_clip,
            lambda_l2=s.lambda_l2,
            lambda_id=s.lambda_id,
            noise=noise,
        )
        with torch.no_grad():
            save(
                "mapper",
                _rows(start_img, G.synthesis(m.edit(start), noise=noise)),
                prompt=s.prompt or target,
                loss_start=hist[0]["loss"],
                loss_end=hist[-1]["loss"],
            )

    if spec.global_directions.enabled:
        s = spec.global_directions
        stats = global_directions.style_stats(G, n=s.stats_n, seed=spec.seed)
        rel = global_directions.channel_relevance(
            G,
            clip,
            n_images=s.n_images,
            alpha_sigma=s.alpha_sigma,
            seed=spec.seed,
            cache_path=cache_dir,
            stats=stats,
            noise=noise,
        )
        dt = global_directions.text_direction(clip, s.neutral or exp.source_prompt, s.target or target)
        delta = global_directions.global_direction(rel, dt, beta=s.beta, std=stats[1])
        with torch.no_grad():
            edited = G.synthesis(
                None, noise=noise, s=global_directions.apply_direction(G.wplus_to_s(start), delta, s.alpha)
            )
        save(
            "global_directions",
            _rows(start_img, edited),
            alpha=s.alpha,
            beta=s.beta,
            channels=global_directions.active_channels(delta),
        )

    if spec.inversion.enabled:
        s = spec.inversion
        path = Path(s.image) if s.image else list_images(prepared / "eval", "evaluation photos")[0]
        target_img = to_tensor(open_image(path).convert("RGB").resize((G.size, G.size), Image.LANCZOS))[None].to(device)
        if s.mode == "rosinality":
            from .editing import projector

            res = projector.project(G, target_img, steps=s.n_steps, lr=s.lr, seed=spec.seed, w_plus=s.space == "wplus")
        else:
            perceptual = inversion.PerceptualFeatures(s.perceptual_weights).to(device)
            res = inversion.invert(
                G,
                target_img,
                space=s.space,
                steps=s.n_steps,
                lr=s.lr,
                optimizer=s.optimizer,
                restarts=s.restarts,
                perceptual=perceptual,
                noise=noise,
                seed=spec.seed,
            )
        save("inversion", _rows(target_img, res.image), image=str(path), mse=float(res.mse.mean()), mode=s.mode)

    if spec.interpolation.enabled:
        n = spec.interpolation.frames
        frames = interpolation.interpolate_latents(
            G, start[:1], start[1:2] if len(start) > 1 else start[:1] * 0.5, n=n, space="w", noise=noise
        )
        interpolation.save_gif(frames, out / "interpolation.gif")
        save("interpolation", make_grid(frames[:, 0], nrow=n), gif="interpolation.gif")
        if other_state is not None:
            mine = {k: v.detach().cpu() for k, v in G.state_dict().items()}
            ws = []
            for t in np.linspace(0, 1, n):
                G.load_state_dict(interpolation.interpolate_weights(other_state, mine, float(t)))
                with torch.no_grad():
                    ws.append(G.synthesis(start[:1], noise=noise).cpu())
            G.load_state_dict(mine)
            save("weights_interpolation", make_grid(torch.cat(ws), nrow=n), other=spec.interpolation.weights_with)

    if spec.scribble.enabled:
        s = spec.scribble
        png = Path(s.image) if s.image else demo_scribble(G.size, out / "scribble_input.png")
        sc, mask = scribble.load_scribble(png, G.size)
        sc, mask = sc.to(device), mask.to(device)
        w, hist = scribble.scribble_edit(G, start[:1], sc, mask, steps=s.steps, lr=s.lr, lam=s.lam, noise=noise)
        with torch.no_grad():
            overlay = start_img[:1] * (1 - mask) + sc * mask
            save(
                "scribble",
                _rows(torch.cat([start_img[:1], overlay, G.synthesis(w, noise=noise)])),
                masked_mse_start=hist["masked_mse"][0],
                masked_mse_end=hist["masked_mse"][-1],
            )

    if spec.ganspace.enabled:
        s = spec.ganspace
        if s.components:  # the published directions (GANSketching weights/ganspace_cat.npz: comp 27 = fur)
            comps, source = ganspace.load_npz(s.components), s.components
        else:  # recomputed from the pretrained mapping: comp ids then mean other directions
            comps = ganspace.compute_ganspace(
                G_pretrained if G_pretrained is not None else G,
                n_samples=s.n_samples,
                n_components=s.n_components,
                seed=spec.seed,
            )
            source = "recomputed"
        ganspace.save_npz(comps, out / "ganspace.npz")
        # GANSketching shifts *untruncated* w (its get_latent) and truncates once, at psi `s.truncation`:
        # the same z as the start codes, without their psi 0.7.
        w = mapper.wplus_sampler(G, 1.0, spec.seed)(spec.n_images)
        with torch.no_grad():
            edits = [
                ganspace.ganspace_edit(
                    G, w, comps, s.comp_id, k * s.scalar, tuple(s.layers), truncation=s.truncation, noise=noise
                )
                for k in (-1, 0, 1)
            ]
        save(
            "ganspace",
            _rows(*edits),
            comp_id=s.comp_id,
            scalar=s.scalar,
            layers=list(s.layers),
            components=source,
            truncation=s.truncation,
        )

    write_json({"tools": made}, out / "summary.json")
    return made
