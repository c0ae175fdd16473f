"""CLIP score: how well generated samples match a text prompt.

    clip_score = mean_i 100 * cos(E_I(x_i), E_T(prompt))

E_I is the CLIP image encoder (`CLIP.encode_image`, which does CLIP's own resize and
normalization), E_T(prompt) the embedding of the prompt as written (`eval.clip_templates: none`,
the default, as CLIPScore and StyleCLIP encode text) or its re-normalized average over the 79
ImageNet templates (`imagenet`). The factor
100 follows CLIPScore as implemented in torchmetrics (Hessel et al. 2021, arXiv 2104.08718, use
w = 2.5 instead); unlike both we do not clamp negative cosines to 0, so the mean is unbiased.
`clip_score_target` uses the target prompt (higher = closer to the edit), `clip_score_source` the
source prompt (how much of the pretrained domain remains). Scores depend on the CLIP model: compare
them only between runs that used the same one (recorded in the provenance).
"""

from __future__ import annotations

import torch

from . import EvalContext, list_images, load_images, register_metric

DEMO_CLIP_NAME = "demo-tiny-clip"  # = pipeline.nets.clip.DEMO_CLIP (not imported: it pulls in open_clip)


@torch.no_grad()
def clip_score(images: torch.Tensor, clip, prompt: str, templates: str = "none") -> float:
    """Mean over images of 100 * cos(E_I(img), E_T(prompt)); images [B,3,H,W] in [-1, 1]."""
    return float(_clip_scores(clip.encode_image(images, normalize=True), clip, prompt, templates).mean())


TEMPLATES = {"none": ("{}",), "imagenet": None}  # None: pipeline.nets.clip.IMAGENET_TEMPLATES


def definition(templates: str = "none") -> str:
    """The formula, as the report and the provenance state it."""
    text = (
        "the prompt as written"
        if templates == "none"
        else "the prompt averaged over the 79 ImageNet templates and re-normalized"
    )
    return f"clip_score = mean_i 100 * cos(E_I(x_i), E_T(prompt)), E_T(prompt) = CLIP's embedding of {text}"


def _clip_scores(image_emb: torch.Tensor, clip, prompt: str, templates: str = "none") -> torch.Tensor:
    """Per-image 100 * cos from image embeddings [B, D] (normalized again here, defensively)."""
    from ..nets.clip import IMAGENET_TEMPLATES

    text = clip.embed_prompt(prompt, TEMPLATES[templates] or IMAGENET_TEMPLATES).to(image_emb)
    image_emb = image_emb.float() / image_emb.float().norm(dim=-1, keepdim=True)
    text = text.float() / text.float().norm()
    return 100.0 * image_emb @ text  # [B]


@torch.no_grad()
def encode_folder(clip, files, batch_size: int = 64, device: str = "cpu") -> torch.Tensor:
    """CLIP image embeddings [N, D] of image files, read in batches."""
    chunks = []
    for i in range(0, len(files), batch_size):
        x = load_images(files[i : i + batch_size]).to(device)
        chunks.append(clip.encode_image(x, normalize=True).float().cpu())
    return torch.cat(chunks)


@register_metric("clip_score_target", "clip_score_source", key="clip_score")
def clip_score_metrics(ctx: EvalContext, names: list[str]) -> tuple[dict[str, float], dict]:
    """clip_score_target / clip_score_source of the samples in ctx.fakes_dir (images encoded once)."""
    if ctx.clip is None:
        raise ValueError(f"{names} need a CLIP model: EvalContext.clip is None")
    prompts = {"clip_score_target": ctx.target_prompt, "clip_score_source": ctx.source_prompt}
    for n in names:
        if not prompts[n]:
            raise ValueError(f"{n} needs a prompt: the {n.rsplit('_', 1)[-1]} prompt is empty")
    files = list_images(ctx.fakes_dir, "generated-samples folder (evaluate fakes_dir)")
    emb = encode_folder(ctx.clip, files, ctx.batch_size, ctx.device)
    values, prov_prompts = {}, {}
    for n in names:
        s = _clip_scores(emb, ctx.clip, prompts[n], ctx.clip_templates).cpu()
        values[n] = float(s.mean())
        prov_prompts[n] = {"prompt": prompts[n], "std": float(s.std()) if len(s) > 1 else 0.0}
    provenance = {
        "formula": definition(ctx.clip_templates),
        "templates": ctx.clip_templates,
        "clip": {k: getattr(ctx.clip, k, None) for k in ("name", "pretrained", "checkpoint")},
        "clip_sha256": getattr(ctx.clip, "sha256", None),
        "n_fakes": len(files),
        "prompts": prov_prompts,
        "demo": bool(getattr(ctx.clip, "is_demo", False) or getattr(ctx.clip, "name", "") == DEMO_CLIP_NAME),
    }
    provenance["clip"] = {k: (str(v) if v is not None else None) for k, v in provenance["clip"].items()}
    return values, provenance
