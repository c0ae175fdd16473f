"""CLIP losses for steering a generator with text.

E_I, E_T are CLIP's image and text encoders; image embeddings are L2-normalized. Which text
embedding each loss gets is the caller's choice, made as the references make it
(pipeline/methods/guidance.py): the global loss gets the raw prompt (NADA's `global_clip_loss` and
StyleCLIP's optimization tokenize the bare string); NADA's direction is built from the 79 ImageNet
templates (`CLIP.template_mean`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import at_least_fp32


def global_loss(image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
    """L_global = mean_b [1 - cos(E_I(x_b), E_T(t))].

    StyleGAN-NADA `criteria/clip_loss.py::global_clip_loss` (1 - logits/100 with CLIP's logit scale
    100) and StyleCLIP's latent optimization use the same quantity.
    image_emb: [B, D]; text_emb: [D] or [1, D].
    """
    image_emb, text_emb = at_least_fp32(image_emb), at_least_fp32(text_emb)  # bf16 under autocast
    return (1 - F.cosine_similarity(image_emb, text_emb.reshape(1, -1), dim=-1)).mean()


def text_direction(target_emb: torch.Tensor, source_emb: torch.Tensor) -> torch.Tensor:
    """dT = normalize(target - source) [D].

    StyleGAN-NADA `compute_text_direction`: target / source are the *un-normalized* template means
    mean_t normalize(E_T(t(class))) (`CLIP.template_mean`). StyleCLIP's `GetDt` passes the
    re-normalized means (`CLIP.embed_prompt`) instead; the two differ unless the means have equal norm.
    """
    d = target_emb - source_emb
    return d / d.norm().clamp_min(1e-12)


def directional_loss(train_emb: torch.Tensor, frozen_emb: torch.Tensor, text_dir: torch.Tensor) -> torch.Tensor:
    """L_direction = mean_b [1 - cos(dI_b, dT)], dI_b = E_I(G_train(w_b)) - E_I(G_frozen(w_b)).

    StyleGAN-NADA (Gal et al., SIGGRAPH 2022), `criteria/clip_loss.py::clip_directional_loss`.
    0 when the image change is parallel to the text direction, 2 when opposite.
    If dI is exactly 0 (at step 0 the two generators agree), NADA adds 1e-6 to the trainable
    image and re-encodes; we add 1e-6 to dI directly, which has the same effect on the loss
    (cos with a tiny constant vector) without a second encoder pass.
    """
    d_img = at_least_fp32(train_emb) - at_least_fp32(frozen_emb)  # [B, D]
    text_dir = at_least_fp32(text_dir)
    zero = d_img.abs().sum(-1, keepdim=True) == 0
    d_img = torch.where(zero, d_img + 1e-6, d_img)
    return (1 - F.cosine_similarity(d_img, text_dir.reshape(1, -1), dim=-1)).mean()
