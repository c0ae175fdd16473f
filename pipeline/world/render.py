"""Toy cats drawn from known factors: the renderer of the toy world (README "The toy world").

A cat is a union of primitives (body and head ellipses, two ear triangles, leg and tail capsules)
placed by its pose; the factors are

    pose        standing (side view), sitting, lying
    facing      right, left (a mirror image)
    colour      fur colour from COLOURS (natural ones and ones real cats never have)
    background  BACKGROUNDS (a floor below a horizon, sky or wall above, with texture)

plus small continuous jitter (scale, position, ground line, proportions, brightness). Everything is
signed-distance geometry evaluated on a batch of pixel grids in torch, so a batch of 1,000 32 px
images takes a fraction of a second on one CPU core, with anti-aliased edges.

From the same factors the renderer draws the outline sketch the way a hand would: black strokes
on white along the figure's outer contour and the head, displaced by a smooth random wobble field,
with a stroke width that varies along the line. `render(factors, size)` is deterministic: every
random draw comes from the torch.Generator seeded by `factors.seed`.

Coordinates: image space [-1, 1]^2, y pointing down. Figure units: the cat faces +x, stands on
y = 0, and extends up to y ~ -0.9; `scale` maps one figure unit to image units.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

POSES = ("standing", "sitting", "lying")
FACINGS = ("right", "left")
# name -> RGB in [0, 255]. The first six are natural cat colours, the last four are not.
COLOURS = {
    "black": (38, 36, 40),
    "white": (236, 234, 228),
    "gray": (128, 128, 134),
    "orange": (226, 124, 40),
    "brown": (120, 72, 40),
    "cream": (230, 206, 160),
    "pink": (240, 120, 180),
    "blue": (50, 90, 220),
    "green": (50, 180, 70),
    "purple": (130, 60, 180),
}
NATURAL_COLOURS = ("black", "white", "gray", "orange", "brown", "cream")
UNNATURAL_COLOURS = ("pink", "blue", "green", "purple")
# name -> (upper part: sky or wall, lower part: floor), RGB, and the texture strength of the floor.
BACKGROUNDS = {
    "grass": ((168, 206, 236), (84, 132, 58), 0.10),
    "sand": ((150, 196, 238), (214, 190, 136), 0.05),
    "snow": ((196, 204, 218), (242, 244, 248), 0.03),
    "room": ((222, 210, 184), (132, 90, 58), 0.08),
}
COLOUR_NAMES = tuple(COLOURS)
BACKGROUND_NAMES = tuple(BACKGROUNDS)


@dataclass(frozen=True)
class Factors:
    """One batch of cats: integer factors [B] plus the seed of every continuous draw."""

    pose: torch.Tensor  # [B] index into POSES
    facing: torch.Tensor  # [B] index into FACINGS
    colour: torch.Tensor  # [B] index into COLOUR_NAMES
    background: torch.Tensor  # [B] index into BACKGROUND_NAMES
    seed: int

    def __len__(self) -> int:
        return len(self.pose)

    def names(self, i: int) -> dict:
        return {
            "pose": POSES[self.pose[i]],
            "facing": FACINGS[self.facing[i]],
            "colour": COLOUR_NAMES[self.colour[i]],
            "background": BACKGROUND_NAMES[self.background[i]],
        }


def _pick(n: int, names: tuple[str, ...], probs: dict | None, g: torch.Generator) -> torch.Tensor:
    """n indices into `names`, drawn from `probs` (name -> weight; missing names get 0), else uniform."""
    if probs is None:
        w = torch.ones(len(names))
    else:
        unknown = set(probs) - set(names)
        if unknown:
            raise ValueError(f"unknown names {sorted(unknown)}; known: {', '.join(names)}")
        w = torch.tensor([float(probs.get(k, 0.0)) for k in names])
    if not (w >= 0).all() or w.sum() <= 0:
        raise ValueError(f"weights must be >= 0 with a positive sum, got {probs}")
    return torch.multinomial(w / w.sum(), n, replacement=True, generator=g)


def sample_factors(
    n: int, seed: int, pose: dict | None = None, colour: dict | None = None, background: dict | None = None
) -> Factors:
    """n factor draws. pose / colour / background: name -> weight (None: uniform over all names)."""
    g = torch.Generator().manual_seed(seed)
    return Factors(
        pose=_pick(n, POSES, pose, g),
        facing=torch.randint(0, 2, (n,), generator=g),
        colour=_pick(n, COLOUR_NAMES, colour, g),
        background=_pick(n, BACKGROUND_NAMES, background, g),
        seed=int(torch.randint(0, 2**31 - 1, (), generator=g)),
    )


def factors_of(pose, facing, colour, background, seed: int = 0) -> Factors:
    """Factors from lists of names (or one name each, broadcast to the longest list)."""
    cols = [[v] if isinstance(v, str) else list(v) for v in (pose, facing, colour, background)]
    n = max(len(c) for c in cols)
    cols = [c * n if len(c) == 1 else c for c in cols]
    idx = [
        torch.tensor([names.index(v) for v in c])
        for c, names in zip(cols, (POSES, FACINGS, COLOUR_NAMES, BACKGROUND_NAMES))
    ]
    return Factors(*idx, seed=seed)


# ----------------------------------------------------------------------------
# Signed distances, batched: pixel coordinates x, y [B, H, W]; shape parameters [B] or [B, 2]
# (points); result [B, H, W], negative inside. x and y stay separate tensors: no [..., 2] stacking.


def _col(t: torch.Tensor) -> torch.Tensor:
    return t[:, None, None]


def sd_ellipse(x, y, c, ab, angle):
    """Approximate signed distance to a rotated ellipse (centre c [B,2], semi-axes ab [B,2], angle [B])."""
    qx, qy = x - _col(c[:, 0]), y - _col(c[:, 1])
    co, si = _col(torch.cos(angle)), _col(torch.sin(angle))
    a, b = _col(ab[:, 0]), _col(ab[:, 1])
    k = torch.sqrt(((qx * co + qy * si) / a) ** 2 + ((qy * co - qx * si) / b) ** 2)
    return (k - 1) * torch.minimum(a, b)


def sd_capsule(x, y, a, b, r):
    """Signed distance to the segment a-b ([B,2] each) thickened by radius r [B]."""
    ex, ey = b[:, 0] - a[:, 0], b[:, 1] - a[:, 1]
    inv = 1 / (ex * ex + ey * ey).clamp_min(1e-9)
    ax, ay = x - _col(a[:, 0]), y - _col(a[:, 1])
    h = ((ax * _col(ex) + ay * _col(ey)) * _col(inv)).clamp(0, 1)
    return torch.hypot(ax - _col(ex) * h, ay - _col(ey) * h) - _col(r)


def sd_circle(x, y, c, r):
    return torch.hypot(x - _col(c[:, 0]), y - _col(c[:, 1])) - _col(r)


def sd_triangle(x, y, v0, v1, v2):
    """Signed distance to a triangle (exact inside, a lower bound outside); vertices [B,2], any order."""
    area = (v1 - v0)[:, 0] * (v2 - v0)[:, 1] - (v1 - v0)[:, 1] * (v2 - v0)[:, 0]
    d = None
    for a, b in ((v0, v1), (v1, v2), (v2, v0)):
        e = b - a
        n = torch.stack([e[:, 1], -e[:, 0]], -1) * (-torch.sign(area) / e.norm(dim=-1).clamp_min(1e-9))[:, None]
        di = (x - _col(a[:, 0])) * _col(n[:, 0]) + (y - _col(a[:, 1])) * _col(n[:, 1])
        d = di if d is None else torch.maximum(d, di)
    return d


# ----------------------------------------------------------------------------
# Poses: the primitives of a right-facing cat in figure units, before jitter.
# ellipses: (cx, cy, a, b, angle); capsules: (x0, y0, x1, y1, r); ears: 3 vertices each;
# head: (cx, cy, r); eye: (dx, dy) from the head centre.

_POSE_GEOMETRY = {
    "standing": {
        "ellipses": [(0.00, -0.46, 0.36, 0.16, 0.0)],
        "head": (0.40, -0.66, 0.15),
        "capsules": [
            (-0.26, -0.42, -0.28, 0.0, 0.055),
            (-0.15, -0.42, -0.15, 0.0, 0.055),
            (0.17, -0.42, 0.17, 0.0, 0.055),
            (0.27, -0.42, 0.29, 0.0, 0.055),
            (-0.33, -0.52, -0.47, -0.68, 0.042),
            (-0.47, -0.68, -0.49, -0.86, 0.042),
        ],
    },
    "sitting": {
        "ellipses": [(0.02, -0.37, 0.17, 0.31, -0.30), (-0.08, -0.14, 0.22, 0.14, 0.0)],
        "head": (0.12, -0.76, 0.15),
        "capsules": [
            (0.10, -0.35, 0.12, 0.0, 0.05),
            (0.18, -0.35, 0.21, 0.0, 0.05),
            (-0.26, -0.05, -0.44, -0.04, 0.042),
            (-0.44, -0.04, -0.53, -0.15, 0.042),
        ],
    },
    "lying": {
        "ellipses": [(-0.05, -0.15, 0.38, 0.145, 0.0)],
        "head": (0.33, -0.32, 0.15),
        "capsules": [
            (0.18, -0.05, 0.50, -0.05, 0.048),
            (0.15, -0.11, 0.45, -0.11, 0.048),
            (-0.40, -0.08, -0.66, -0.05, 0.042),
        ],
    },
}
_N_ELL, _N_CAP = 2, 6  # padded counts (unused slots are placed far away)


def _pose_tables() -> dict[str, torch.Tensor]:
    """Per-pose parameter tables, padded to fixed counts so a mixed batch is one gather."""
    ell, cap, head = [], [], []
    for name in POSES:
        g = _POSE_GEOMETRY[name]
        e = list(g["ellipses"]) + [(9.0, 9.0, 0.01, 0.01, 0.0)] * (_N_ELL - len(g["ellipses"]))
        c = list(g["capsules"]) + [(9.0, 9.0, 9.0, 9.0, 0.001)] * (_N_CAP - len(g["capsules"]))
        ell.append(e)
        cap.append(c)
        head.append(g["head"])
    return {"ellipses": torch.tensor(ell), "capsules": torch.tensor(cap), "head": torch.tensor(head)}


_TABLES = _pose_tables()


def _smooth_field(g: torch.Generator, b: int, channels: int, size: int, cells: int) -> torch.Tensor:
    """Smooth random field [B, C, size, size], unit-ish variance: `cells` x `cells` noise, bicubic-upsampled."""
    coarse = torch.randn(b, channels, cells, cells, generator=g)
    return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=True)


def _figure(f: Factors, g: torch.Generator):
    """Jittered primitives in image coordinates, drawn from g in a fixed order."""
    b = len(f)
    u = lambda *shape: torch.rand(*shape, generator=g)  # noqa: E731
    scale = 1.12 + 0.14 * (u(b) - 0.5)  # figure unit -> image units
    cx = 0.16 * (u(b) - 0.5)
    ground = 0.62 + 0.10 * (u(b) - 0.5)
    stretch = 1 + 0.16 * (u(b, 2) - 0.5)  # body length, leg/height
    head_k = 1 + 0.2 * (u(b) - 0.5)
    ell, cap, head = (_TABLES[k][f.pose].clone() for k in ("ellipses", "capsules", "head"))
    ell[..., 0] *= stretch[:, None, 0]
    ell[..., 2] *= stretch[:, None, 0]
    ell[..., 1] *= stretch[:, None, 1]
    cap[..., [0, 2]] *= stretch[:, None, 0, None]
    cap[..., [1, 3]] *= stretch[:, None, 1, None]
    cap[..., :4] += 0.025 * (u(b, _N_CAP, 4) - 0.5)  # limbs and tail wander a little
    head[:, :2] *= stretch
    head[:, 2] *= head_k
    sign = torch.where(f.facing == 0, 1.0, -1.0)  # left-facing: mirror x

    def to_img(x, y):  # figure units -> image, [B, ..., 2]
        shape = (-1,) + (1,) * (x.ndim - 1)
        return torch.stack(
            [cx.view(shape) + sign.view(shape) * x * scale.view(shape), ground.view(shape) + y * scale.view(shape)], -1
        )

    s = scale
    ellipses = [
        (to_img(ell[:, i, 0], ell[:, i, 1]), ell[:, i, 2:4] * s[:, None], ell[:, i, 4] * sign) for i in range(_N_ELL)
    ]
    capsules = [
        (to_img(cap[:, i, 0], cap[:, i, 1]), to_img(cap[:, i, 2], cap[:, i, 3]), cap[:, i, 4] * s)
        for i in range(_N_CAP)
    ]
    hc, hr = to_img(head[:, 0], head[:, 1]), head[:, 2] * s
    # Ears: two triangles on top of the head, the front one a little forward.
    ears = []
    for base0, tip, base1 in (
        ((-0.80, -0.45), (-0.55, -1.45), (-0.05, -0.95)),
        ((0.05, -0.95), (0.60, -1.40), (0.85, -0.40)),
    ):
        ears.append(
            tuple(to_img(head[:, 0] + head[:, 2] * x, head[:, 1] + head[:, 2] * y) for x, y in (base0, tip, base1))
        )
    eye = to_img(head[:, 0] + head[:, 2] * 0.45, head[:, 1] - head[:, 2] * 0.15)
    return {
        "ellipses": ellipses,
        "capsules": capsules,
        "head": (hc, hr),
        "ears": ears,
        "eye": eye,
        "ground": ground,
        "scale": scale,
    }


def _sdf(fig, x, y):
    """Signed distance of the whole cat [B, H, W] and of its head alone (both in image units)."""
    head = sd_circle(x, y, *fig["head"])
    d = head
    for c, ab, a in fig["ellipses"]:
        d = torch.minimum(d, sd_ellipse(x, y, c, ab, a))
    for a, b, r in fig["capsules"]:
        d = torch.minimum(d, sd_capsule(x, y, a, b, r))
    for tri in fig["ears"]:
        d = torch.minimum(d, sd_triangle(x, y, *tri))
    return d, head


def _grid(b: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates x, y [B, S, S] in [-1, 1]."""
    t = (torch.arange(size) + 0.5) / size * 2 - 1
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    return xx.expand(b, size, size), yy.expand(b, size, size)


def _coverage(sd: torch.Tensor, px: float) -> torch.Tensor:
    """Anti-aliased inside-ness from a signed distance: 1 inside, 0 outside, linear over one pixel."""
    return (0.5 - sd / px).clamp(0, 1)


def render(f: Factors, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Photos [B, 3, S, S] and outline sketches [B, 1, S, S] of the cats `f`, both in [-1, 1]
    (sketches: white background +1, black strokes -1). Deterministic given f (and f.seed)."""
    g = torch.Generator().manual_seed(f.seed)
    b, px = len(f), 2.0 / size
    fig = _figure(f, g)
    x, y = _grid(b, size)

    # -- photo: background, then fur with a darker rim, then the eye.
    bgs = torch.tensor([BACKGROUNDS[k][0] + BACKGROUNDS[k][1] for k in BACKGROUND_NAMES], dtype=torch.float32)
    tex = torch.tensor([BACKGROUNDS[k][2] for k in BACKGROUND_NAMES])
    upper, lower = bgs[f.background, :3] / 255, bgs[f.background, 3:] / 255  # [B, 3]
    horizon = fig["ground"] - fig["scale"] * (0.55 + 0.25 * torch.rand(b, generator=g))
    below = _coverage(horizon[:, None, None] - y, px)[:, None]  # [B, 1, S, S]
    texture = 1 + tex[f.background, None, None, None] * _smooth_field(g, b, 1, size, 9)
    img = upper[..., None, None] * (1 - below) + lower[..., None, None] * below * texture
    img = img * (1 + 0.04 * (torch.rand(b, 1, 1, 1, generator=g) - 0.5))  # lighting
    fur = torch.tensor([COLOURS[k] for k in COLOUR_NAMES], dtype=torch.float32)[f.colour] / 255
    fur = (fur * (1 + 0.12 * (torch.rand(b, 1, generator=g) - 0.5))).clamp(0, 1)
    sd, _ = _sdf(fig, x, y)
    body = _coverage(sd, px)[:, None]
    rim = (1 - _coverage(sd + 0.5 * px, px))[:, None] * body  # the outer half pixel: a darker edge
    colour = fur[..., None, None] * (1 - 0.4 * rim)
    img = img * (1 - body) + colour * body
    eye = _coverage(sd_circle(x, y, fig["eye"], torch.full((b,), 0.55 * px)), px)[:, None]
    img = img * (1 - eye) + 0.08 * eye
    photo = (img.clamp(0, 1) * 2 - 1).contiguous()

    # -- sketch: wobbly strokes of varying width on the outline and the head's contour.
    wobble = _smooth_field(g, b, 2, size, 5) * 0.6 * px  # [B, 2, S, S]
    width = px * (0.45 + 0.35 * torch.sigmoid(1.5 * _smooth_field(g, b, 1, size, 4)[:, 0]))
    sd_w, head_w = _sdf(fig, x + wobble[:, 0], y + wobble[:, 1])
    stroke = torch.maximum(_coverage(sd_w.abs() - width, px), _coverage(head_w.abs() - 0.8 * width, px))
    stroke = torch.maximum(stroke, eye[:, 0])
    sketch = (1 - 2 * stroke)[:, None].contiguous()
    return photo, sketch
