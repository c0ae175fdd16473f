"""Sketch fidelity: how close the sketches of generated samples are to the user's input sketches.

None of the reference systems (GANSketching, StyleGAN-NADA, StyleCLIP) reports such a number; it is
this project's addition, defined in `DEFINITION` below (the report quotes it verbatim).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import distance_transform_edt

from . import EvalContext, list_images, load_images, register_metric

DEFINITION = (
    "sketch_chamfer (pixels, lower is better). Each generated sample x is mapped to a sketch with the "
    "sketch extractor used in training (S(x), values in [-1, 1], white background = +1). That sketch "
    "and every input sketch are brought to a common R x R resolution (bilinear, anti-aliased; R = the "
    "input sketches' size unless set) and binarized: stroke pixels are those with value < 0. For two "
    "stroke sets A and B, d_B(p) is the Euclidean distance from pixel p to the nearest pixel of B "
    "(scipy.ndimage.distance_transform_edt), and the symmetric chamfer distance is "
    "C(A, B) = 1/2 (mean_{p in A} d_B(p) + mean_{q in B} d_A(q)). A sample's score is "
    "min over input sketches s of C(S(x), s) (the nearest input sketch); sketch_chamfer is the mean "
    "over samples. Empty strokes: C = 0 when both sets are empty; when exactly one is empty, "
    "C = R * sqrt(2), the image diagonal (the largest possible distance), and the number of samples "
    "whose sketch has no strokes is reported. An input sketch without strokes is an error."
)


def stroke_mask(sketch: torch.Tensor, size: tuple[int, int] | None = None) -> np.ndarray:
    """Sketches [B, 1, H, W] in [-1, 1] -> bool stroke masks [B, R, R'] (value < 0), resized first."""
    if sketch.dim() != 4 or sketch.shape[1] != 1:
        raise ValueError(f"sketches must be [B, 1, H, W], got {tuple(sketch.shape)}")
    sketch = sketch.float()
    if size is not None and tuple(sketch.shape[-2:]) != tuple(size):
        sketch = F.interpolate(sketch, size=size, mode="bilinear", align_corners=False, antialias=True)
    return (sketch[:, 0] < 0).cpu().numpy()


def distance_to_strokes(mask: np.ndarray) -> np.ndarray:
    """d(p) = Euclidean distance from each pixel to the nearest stroke pixel (0 on strokes)."""
    return distance_transform_edt(~mask)


def chamfer(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric chamfer distance in pixels between two bool stroke masks of the same shape.

    C(A, B) = 1/2 (mean_{p in A} d_B(p) + mean_{q in B} d_A(q)); 0 if both empty; the image
    diagonal if exactly one is empty.
    """
    if a.shape != b.shape:
        raise ValueError(f"stroke masks differ in shape: {a.shape} vs {b.shape}")
    na, nb = int(a.sum()), int(b.sum())
    if na == 0 and nb == 0:
        return 0.0
    if na == 0 or nb == 0:
        return math.hypot(*a.shape)
    return 0.5 * (float(distance_to_strokes(b)[a].mean()) + float(distance_to_strokes(a)[b].mean()))


def nearest_chamfer(fake_masks: np.ndarray, sketch_masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each fake mask [N, R, R'], the chamfer distance to the nearest sketch mask [S, R, R'].

    Vectorised: the distance maps of the S input sketches are computed once; each fake needs one
    distance transform. Returns (distances [N], index of the nearest sketch [N]; -1 for a fake
    without strokes).
    """
    s = sketch_masks.reshape(len(sketch_masks), -1).astype(np.float64)  # [S, P] 0/1
    s_counts = s.sum(1)  # [S] stroke pixels
    if (s_counts == 0).any():
        raise ValueError(f"input sketch(es) {np.flatnonzero(s_counts == 0).tolist()} have no strokes")
    d_s = np.stack([distance_to_strokes(m) for m in sketch_masks]).reshape(len(s), -1)  # [S, P]
    diag = math.hypot(*fake_masks.shape[1:])
    dists, nearest = np.empty(len(fake_masks)), np.empty(len(fake_masks), dtype=np.int64)
    for i, m in enumerate(fake_masks):
        f = m.reshape(-1)
        if not f.any():  # exactly one side empty for every sketch
            dists[i], nearest[i] = diag, -1
            continue
        fake_to_s = d_s[:, f].mean(1)  # mean_{p in A} d_B(p), [S]
        d_f = distance_to_strokes(m).reshape(-1)
        s_to_fake = (s @ d_f) / s_counts  # mean_{q in B} d_A(q), [S]
        c = 0.5 * (fake_to_s + s_to_fake)
        nearest[i] = int(np.argmin(c))
        dists[i] = float(c[nearest[i]])
    return dists, nearest


@register_metric("sketch_chamfer")
@torch.no_grad()
def sketch_chamfer_metric(ctx: EvalContext, names: list[str]) -> tuple[dict[str, float], dict]:
    """Mean over generated samples of the chamfer distance of their sketch to the nearest input sketch."""
    if ctx.fake_sketch_fn is None:
        raise ValueError("sketch_chamfer needs the sketch extractor: EvalContext.fake_sketch_fn is None")
    if ctx.sketches_dir is None:
        raise ValueError("sketch_chamfer needs the input sketches: EvalContext.sketches_dir is not set")
    sketch_files = list_images(ctx.sketches_dir, "input-sketch folder")
    sketches = load_images(sketch_files, mode="L")  # [S, 1, H, W] in [-1, 1]
    size = (ctx.chamfer_size,) * 2 if ctx.chamfer_size else tuple(sketches.shape[-2:])
    sketch_masks = stroke_mask(sketches, size)

    fakes = list_images(ctx.fakes_dir, "generated-samples folder (evaluate fakes_dir)")
    fake_masks = []
    for i in range(0, len(fakes), ctx.batch_size):
        x = load_images(fakes[i : i + ctx.batch_size]).to(ctx.device)  # [B, 3, H, W] in [-1, 1]
        fake_masks.append(stroke_mask(ctx.fake_sketch_fn(x), size))
    fake_masks = np.concatenate(fake_masks)

    dists, nearest = nearest_chamfer(fake_masks, sketch_masks)
    n_empty = int((fake_masks.reshape(len(fake_masks), -1).sum(1) == 0).sum())
    provenance = {
        "definition": DEFINITION,
        "resolution": list(size),
        "threshold": "stroke = value < 0 in [-1, 1]",
        "sketch_extractor": getattr(ctx.fake_sketch_fn, "__name__", type(ctx.fake_sketch_fn).__name__),
        "n_fakes": len(fakes),
        "n_sketches": len(sketch_files),
        "n_empty_fake_sketches": n_empty,
        "empty_penalty": math.hypot(*size),
        "std": float(dists.std()),
        "median": float(np.median(dists)),
        # how often each input sketch was the nearest one (samples without strokes excluded)
        "nearest_sketch_counts": {sketch_files[k].name: int((nearest == k).sum()) for k in range(len(sketch_files))},
    }
    return {"sketch_chamfer": float(dists.mean())}, provenance
