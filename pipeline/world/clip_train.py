"""Train the world's CLIP: open_clip's CLIP with a small custom config of both towers
(`toy-clip`, pipeline/nets/clip_configs/toy-clip.json), contrastively, on renders and captions.

    L = open_clip.ClipLoss: symmetric cross-entropy over the B x B image-text logits
        logit_scale * E_I(x_i) . E_T(t_j)   (Radford et al. 2021, eq. in Fig. 3)

The pairs cover every pose, fur colour (the natural ones and pink, blue, green, purple) and
background, captioned in varied phrasings (captions.py): the real CLIP knows "pink" from the
web, this one from its data. Images go through the same differentiable preprocessing the
pipeline uses at run time (pipeline.nets.clip.CLIP.preprocess), with photo noise so that
generator samples are in its domain. The weights are saved as float16 safetensors: with the
49,408-token open_clip vocabulary the token table dominates the file (3.2 MB instead of 6.3 MB).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import open_clip
import torch
from tqdm import tqdm

from ..nets.clip import CLIP, build_clip
from .augment import photo_noise
from .captions import BACKGROUND_PHRASES, captions_for
from .gan import step_seed
from .render import BACKGROUND_NAMES, COLOUR_NAMES, POSES, render, sample_factors
from .trainers import HELD_OUT_SEED, cosine_lr


@torch.no_grad()
def zero_shot_accuracy(clip: CLIP, n: int, size: int, seed: int = HELD_OUT_SEED) -> dict[str, float]:
    """Held-out zero-shot accuracy: the argmax over one prompt per value of a factor."""
    f = sample_factors(n, seed)
    photos, _ = render(f, size)
    img = torch.cat([clip.encode_image(photos[i : i + 256]) for i in range(0, n, 256)])
    prompts = {
        "colour": [f"a photo of a {c} cat" for c in COLOUR_NAMES],
        "pose": [f"a photo of a {p} cat" for p in POSES],
        "background": [f"a photo of a cat {BACKGROUND_PHRASES[b][0]}" for b in BACKGROUND_NAMES],
    }
    truth = {"colour": f.colour, "pose": f.pose, "background": f.background}
    out = {}
    for k, texts in prompts.items():
        pred = (img @ clip.encode_text(texts).T).argmax(1)
        out[k] = round((pred == truth[k]).float().mean().item(), 4)
    return out


def train_clip(
    out: Path, *, seed: int, size: int, steps: int, batch: int, lr: float, model: str = "toy-clip", eval_n: int = 2000
) -> dict:
    """Train `model` from scratch; write out (float16 safetensors of the open_clip state dict)."""
    from safetensors.torch import save_file

    from ..io import atomic_path

    torch.manual_seed(seed)
    net = open_clip.create_model(model, pretrained=None)
    clip = CLIP(net, open_clip.get_tokenizer(model), name=model)  # for its preprocessing and tokenizer
    net.requires_grad_(True)  # CLIP() freezes; here we train it
    loss_fn = open_clip.ClipLoss()
    decay = [p for n, p in net.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    rest = [p for n, p in net.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
        lr=lr,
        betas=(0.9, 0.98),
        eps=1e-6,
    )
    t0 = time.time()
    bar = tqdm(range(steps), desc="world CLIP", dynamic_ncols=True, mininterval=2.0)
    for it in bar:
        f = sample_factors(batch, step_seed(seed, it))
        photos, _ = render(f, size)
        photos = photo_noise(photos, torch.Generator().manual_seed(step_seed(seed, it, 1)))
        tokens = clip.tokenizer(captions_for(f, step_seed(seed, it, 2)))
        img = net.encode_image(clip.preprocess(photos), normalize=True)
        txt = net.encode_text(tokens, normalize=True)
        loss = loss_fn(img, txt, net.logit_scale.exp())
        cosine_lr(opt, lr, it, steps, warmup=200)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            net.logit_scale.clamp_(0, math.log(100))  # as open_clip's training loop
        if it % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}", scale=f"{net.logit_scale.exp().item():.1f}", refresh=False)
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in net.state_dict().items()}
    with atomic_path(out, suffix=".safetensors") as tmp:
        save_file(state, str(tmp))
    # Measure the saved file, loaded the way the pipeline loads it.
    acc = zero_shot_accuracy(build_clip(model, None, checkpoint=out), eval_n, size)
    return {
        "steps": steps,
        "seconds": round(time.time() - t0, 1),
        "zero_shot_accuracy": acc,
        "model": model,
        "dtype": "float16",
    }
