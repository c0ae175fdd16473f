"""Editing tools that work on any generator the pipeline produced (pretrained or fine-tuned).

    latent_opt.py         StyleCLIP latent optimization (W+ toward a prompt)
    mapper.py             StyleCLIP latent mapper (coarse/medium/fine residual MLPs per prompt)
    global_directions.py  StyleCLIP global directions in style space S
    inversion.py          GAN inversion to z / W / W+ (pixel + perceptual losses, restarts)
    projector.py          GAN inversion as rosinality's projector.py (LPIPS VGG, noise maps, latent noise)
    interpolation.py      latent interpolation (lerp in W, slerp in Z) and weight interpolation
    scribble.py           scribble-constrained editing (masked color constraint + latent prior)
    ganspace.py           GANSpace principal directions of W, applied to a customized generator

Each is plain functions over a Generator (pipeline.nets.stylegan2) and, where text is involved, a
CLIP (pipeline.nets.clip); nothing here knows about DVC or Prefect.
"""

# spec.py's settings are validated with pipeline.config's helpers, and pipeline.config embeds them:
# load config first, so importing pipeline.editing.spec on its own cannot meet a half-built config.
from .. import config as _config  # noqa: E402,F401
