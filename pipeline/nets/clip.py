"""A frozen CLIP (Radford et al. 2021) behind one small interface, built with open_clip.

What the CLIP losses need (reference spec §2.2, StyleGAN-NADA `ZSSGAN/criteria/clip_loss.py`):
  * `preprocess`: generator images in [-1, 1] -> CLIP input, differentiably, on batched tensors;
  * `encode_image` / `encode_text`: L2-normalised embeddings [B, D] / [N, D];
  * `embed_prompt`: one text embedding per prompt, raw (`RAW`) or averaged over the 79 ImageNet
    templates; `template_mean`: the un-normalized template average NADA's text direction is made of.

The CLIP weights are frozen (requires_grad False, eval mode) but the graph is not: gradients flow
from the image embedding back to the input images, which is how a CLIP loss trains the generator.

`DEMO_CLIP` ("demo-tiny-clip") is a registered tiny architecture with seeded random weights. It
downloads nothing and builds in well under a second, for tests and the offline demo; its
embeddings carry no meaning.
"""

from __future__ import annotations

from pathlib import Path

import open_clip
import torch
import torch.nn.functional as F
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from torch import nn

_HERE = Path(__file__).resolve().parent

DEMO_CLIP = "demo-tiny-clip"
_DEMO_SEED = 20210101  # fixed: the demo CLIP's random weights are the same on every build

open_clip.add_model_config(_HERE / "clip_configs")  # registers demo-tiny-clip.json by file stem


def _load_templates() -> tuple[str, ...]:
    lines = (_HERE / "imagenet_templates.txt").read_text(encoding="utf-8").splitlines()
    templates = tuple(t for t in lines if t.strip())
    assert len(templates) == 79, f"imagenet_templates.txt must hold 79 templates, found {len(templates)}"
    return templates


# CLIP's 80 ImageNet prompt templates minus "a photo of many {}.", in CLIP's order: the list
# StyleGAN-NADA (`ZSSGAN/utils/text_templates.py::imagenet_templates`) and StyleCLIP (`MapTS.py`) use.
IMAGENET_TEMPLATES: tuple[str, ...] = _load_templates()


# ----------------------------------------------------------------------------


class CLIP(nn.Module):
    """Frozen open_clip model + its tokenizer + differentiable tensor preprocessing."""

    def __init__(self, model: nn.Module, tokenizer, name: str = ""):
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.name = name
        cfg = open_clip.get_model_preprocess_cfg(model)
        size = cfg.get("size", model.visual.image_size)
        self.image_size = int(size if isinstance(size, int) else size[0])  # square CLIP inputs
        mean = tuple(cfg.get("mean") or OPENAI_DATASET_MEAN)
        std = tuple(cfg.get("std") or OPENAI_DATASET_STD)
        self.mean, self.std = mean, std
        # [1, 3, 1, 1] for broadcasting; not persistent, so a CLIP state dict stays open_clip's own.
        self.register_buffer("_mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self._prompt_cache: dict[tuple[str, tuple[str, ...]], torch.Tensor] = {}

    def train(self, mode: bool = True) -> CLIP:
        # A frozen feature extractor: a parent's .train() must not switch on dropout or the like.
        super().train(mode)
        self.model.eval()
        return self

    @property
    def is_demo(self) -> bool:
        """True for the random-weight DEMO_CLIP, whose scores mean nothing."""
        return self.name == DEMO_CLIP

    @property
    def device(self) -> torch.device:
        return self._mean.device

    # -- images ----------------------------------------------------------------

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] in [-1, 1] -> [B, 3, S, S] CLIP input, S = image_size; differentiable.

        The steps of CLIP's own PIL pipeline, on tensors (as StyleGAN-NADA's CLIPLoss does):
          x01 = (x + 1) / 2                                    # [-1, 1] -> [0, 1]
          resize the shorter side to S (bicubic, antialiased), centre-crop S x S
          (x01 - mean) / std                                   # CLIP's per-channel normalisation
        StyleCLIP's optimisation and mapper skip the last step (orpatashnik/StyleCLIP#38), so CLIP
        sees inputs off its training distribution; we always normalise. No clamp either: clamping
        would zero the gradient of any pixel the generator pushes outside [-1, 1].
        """
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images [B, 3, H, W], got {list(images.shape)}")
        x = (images + 1) / 2
        h, w = x.shape[-2:]
        s = self.image_size
        if min(h, w) != s:
            # torchvision Resize(int): shorter side -> s, longer side -> int(s * long / short).
            nh, nw = (s, int(s * w / h)) if h <= w else (int(s * h / w), s)
            x = F.interpolate(x, size=(nh, nw), mode="bicubic", align_corners=False, antialias=True)
            h, w = nh, nw
        if (h, w) != (s, s):
            # torchvision center_crop: offsets rounded half to even like int(round(...)).
            top, left = int(round((h - s) / 2.0)), int(round((w - s) / 2.0))
            x = x[..., top : top + s, left : left + s]
        return (x - self._mean.to(x.dtype)) / self._std.to(x.dtype)

    def encode_image(self, images: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """images [B, 3, H, W] in [-1, 1] -> embeddings [B, D] (unit length if normalize)."""
        return self.model.encode_image(self.preprocess(images), normalize=normalize)

    # -- text ------------------------------------------------------------------

    def encode_text(self, texts: list[str], normalize: bool = True) -> torch.Tensor:
        """N strings -> embeddings [N, D] (unit length if normalize)."""
        if isinstance(texts, str):
            texts = [texts]
        tokens = self.tokenizer(list(texts)).to(self.device)  # [N, context_length]
        return self.model.encode_text(tokens, normalize=normalize)

    def template_mean(self, prompt: str, templates=IMAGENET_TEMPLATES) -> torch.Tensor:
        """mean_t normalize(E_T(t.format(prompt))) [D], *not* re-normalized.

        StyleGAN-NADA's `get_text_features` + the mean inside `compute_text_direction`: NADA forms
        its text direction from these means, dT = normalize(mean_target - mean_source). Cached per
        (prompt, templates), computed without a graph (a text embedding is a constant target).
        """
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f"prompt must be non-empty text, got {prompt!r}")
        templates = tuple(templates)
        if not templates:
            raise ValueError("a prompt needs at least one template, e.g. '{}' or 'a photo of a {}.'")
        key = (prompt, templates)
        cached = self._prompt_cache.get(key)
        if cached is not None and cached.device == self.device:
            return cached
        with torch.no_grad():
            e = self.encode_text([t.format(prompt) for t in templates], normalize=True).mean(0)  # [D]
        self._prompt_cache[key] = e
        return e

    def embed_prompt(self, prompt: str, templates=IMAGENET_TEMPLATES) -> torch.Tensor:
        """One unit-length text embedding [D]: e = normalize( mean_t normalize(E_T(t.format(prompt))) ).

        With the 79 ImageNet templates this is StyleCLIP's `GetDt` embedding (global directions);
        with RAW (the prompt as written) it is what StyleCLIP's optimization and mapper losses and
        NADA's global loss encode.
        """
        return F.normalize(self.template_mean(prompt, templates), dim=0)


RAW = ("{}",)  # the prompt as written: no template


# ----------------------------------------------------------------------------


def _available_models(n: int = 8) -> str:
    names = open_clip.list_models()
    preferred = [m for m in ("ViT-B-32-quickgelu", "ViT-B-32", "ViT-B-16", "RN50", DEMO_CLIP) if m in names]
    return ", ".join(preferred + [m for m in names if m not in preferred][: max(0, n - len(preferred))]) + ", ..."


def resolve_model_name(name: str) -> str:
    """open_clip architecture name for `name` (OpenAI's "ViT-B/32" spelling accepted, as `clip.load`
    takes it); ValueError listing some available models when open_clip does not know it."""
    if name.startswith(("hf-hub:", "local-dir:")):
        return name
    name = name.replace("/", "-")
    if name not in open_clip.list_models():
        raise ValueError(f"unknown CLIP model {name!r}; available: {_available_models()}")
    return name


def build_clip(
    name: str = "ViT-B-32-quickgelu",
    pretrained: str | None = "openai",
    checkpoint: str | Path | None = None,
    device: str | torch.device = "cpu",
    cache_dir: str | None = None,
) -> CLIP:
    """Build a frozen, eval-mode CLIP.

    name:       open_clip architecture ("ViT-B-32-quickgelu" is OpenAI's ViT-B/32, the StyleGAN-NADA
                and StyleCLIP default), or DEMO_CLIP for the tiny offline stand-in.
    pretrained: open_clip weight tag ("openai"); downloaded into cache_dir unless cached there.
    checkpoint: a local open_clip state-dict file (.pt/.bin/.safetensors); takes precedence over
                `pretrained`, so a machine without network can use vendored weights.
    """
    name = resolve_model_name(name)
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        if not checkpoint.is_file():
            raise FileNotFoundError(f"CLIP checkpoint not found: {checkpoint}")
        from .checkpoint import verify_digest

        verify_digest(checkpoint)  # a recorded `<file>.sha256` (the toy world's files) must match
        pretrained = str(checkpoint)  # open_clip accepts a file path where it takes a tag
    elif name == DEMO_CLIP:
        pretrained = None  # random weights by design

    # Seed the demo's random init without disturbing the caller's random stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_DEMO_SEED)
        try:
            model = open_clip.create_model(name, pretrained=pretrained, device=device, cache_dir=cache_dir)
        except RuntimeError as e:
            if pretrained and checkpoint is None:
                raise RuntimeError(
                    f"could not get CLIP weights {pretrained!r} for {name!r} ({e}). Without network access, "
                    "download them elsewhere and pass checkpoint=<file>, or point cache_dir at a copy."
                ) from e
            raise
    tokenizer = open_clip.get_tokenizer(name)
    return CLIP(model, tokenizer, name=name).to(device)
