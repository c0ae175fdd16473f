"""Sketch sets as the studio saves them: uploads and drawings, validated, stored content-addressed.

A set is a folder of PNGs that `assets.sketch_dir` can name:

    <root>/<digest>/000.png 001.png ...    digest: the first 16 hex digits of the sha256 of the
                                           normalized PNGs, in order

Content addressing is what makes sets safe to share between browser tabs and experiments: a folder is
written once (to a temporary folder, then renamed into place) and never changed, so an experiment that
names it always reads the sketches it was launched with, and two tabs saving at once either write the
same folder or two different ones. No name from the browser ever becomes a path.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .data import DataError, normalize_sketch

MAX_UPLOAD_BYTES = 4 * 1024 * 1024  # per file
MAX_PIXELS = 4096 * 4096  # per decoded image (a small file can decode to a huge one)
MAX_SKETCHES = 64  # per set
STORE_SIZE = 256  # px; the paper's resolution, so a set serves every experiment (prepare resizes)
MIN_INK = 0.002  # share of dark pixels below which a sketch counts as blank


def decode_upload(data: bytes, label: str) -> Image.Image:
    """Bytes from the browser -> a decoded image, or DataError naming `label` and what was expected."""
    if len(data) == 0:
        raise DataError(f"{label}: the file is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise DataError(f"{label}: {len(data) / 2**20:.1f} MB is over the {MAX_UPLOAD_BYTES // 2**20} MB limit")
    try:
        img = Image.open(io.BytesIO(data))
        w, h = img.size
        if w * h > MAX_PIXELS:
            raise DataError(f"{label}: {w}x{h} pixels is over the limit of {MAX_PIXELS:,} pixels")
        img.load()  # decodes fully: a truncated or corrupt file fails here, not later
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise DataError(f"{label}: not an image PIL can read ({type(e).__name__})") from None
    return img


def as_sketch(img: Image.Image, label: str) -> Image.Image:
    """Any image -> the stored sketch form (mode L, STORE_SIZE square, white ground), or DataError if blank."""
    sketch = normalize_sketch(img, STORE_SIZE)
    if (np.asarray(sketch) < 128).mean() < MIN_INK:
        raise DataError(f"{label}: the sketch is blank (no strokes)")
    return sketch


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)  # PIL writes no timestamp: same image, same bytes
    return buf.getvalue()


def _encode(sketches: list[Image.Image], root: Path) -> tuple[list[bytes], Path]:
    if not sketches:
        raise DataError("the sketch set is empty: draw or upload at least one sketch")
    if len(sketches) > MAX_SKETCHES:
        raise DataError(f"the sketch set has {len(sketches)} sketches; the limit is {MAX_SKETCHES}")
    pngs = [_png(s) for s in sketches]
    h = hashlib.sha256()
    for b in pngs:
        h.update(hashlib.sha256(b).digest())
    return pngs, Path(root) / h.hexdigest()[:16]


def set_folder(sketches: list[Image.Image], root: Path) -> Path:
    """The folder save_set would store these sketches in, without writing anything (so a form can be
    validated before its sketch set is stored)."""
    return _encode(sketches, root)[1]


def save_set(sketches: list[Image.Image], root: Path) -> Path:
    """Store sketches (already as_sketch'ed) as one set under root; returns its folder."""
    pngs, folder = _encode(sketches, root)
    if folder.is_dir():
        return folder  # the same sketches, already stored
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".incoming-", dir=folder.parent))
    try:
        for i, b in enumerate(pngs):
            (tmp / f"{i:03d}.png").write_bytes(b)
        try:
            os.rename(tmp, folder)  # atomic; fails if another tab stored the same set meanwhile
        except OSError:
            if not folder.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def load_set(folder: Path) -> list[Image.Image]:
    return [Image.open(p).convert("L") for p in sorted(Path(folder).glob("*.png"))]
