"""Export photos from an LSUN lmdb (e.g. `raw/lsun/cat`) as square PNGs for image regularization.

Follows GANSketching's `data/prepare_lsun.py` (reference spec §1.6): centre-crop to a square,
resize to 256 with PIL's antialiasing filter (ANTIALIAS, now named LANCZOS), save `%06d.png`.
Differences, on purpose: it stops after `limit` images (the whole category is millions of
images), entries that fail to decode are skipped and the numbering stays consecutive (the
reference numbers by lmdb entry, leaving gaps), and the folder appears only when complete.

`lmdb` is optional: `pip install lmdb` to use this module.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from .download import FetchError


def export_lmdb_images(
    lmdb_dir: str | os.PathLike, out_dir: str | os.PathLike, limit: int | None, size: int = 256
) -> int:
    """Write up to `limit` images (None: all of them) from `lmdb_dir` to `out_dir/%06d.png`; return
    how many were written.

    `out_dir` is built in a temp folder beside it and renamed into place, replacing an older one.
    """
    try:
        import lmdb
    except ImportError:
        raise FetchError("Exporting LSUN images needs the optional package lmdb: pip install lmdb") from None
    lmdb_dir, out_dir = Path(lmdb_dir), Path(out_dir)
    if not (lmdb_dir / "data.mdb").is_file():
        raise FetchError(
            f"{lmdb_dir}: not an lmdb folder (expected {lmdb_dir / 'data.mdb'}); fetch and unpack the LSUN zip first"
        )
    if (limit is not None and limit < 1) or size < 1:
        raise ValueError(f"limit and size must be positive, got limit={limit}, size={size}")

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.export-", dir=out_dir.parent))
    written = skipped = 0
    try:
        env = lmdb.open(str(lmdb_dir), readonly=True, lock=False, readahead=False, max_readers=1)
        try:
            with env.begin(write=False) as txn:
                for _key, value in tqdm(
                    txn.cursor(),
                    total=limit or txn.stat()["entries"],
                    unit="img",
                    desc=f"export {lmdb_dir.name}",
                    mininterval=5.0,
                ):
                    if limit is not None and written == limit:
                        break
                    try:
                        image = square_resize(Image.open(io.BytesIO(value)), size)
                    except (OSError, ValueError, Image.DecompressionBombError):
                        skipped += 1
                        continue
                    image.save(tmp / f"{written:06d}.png")
                    written += 1
        finally:
            env.close()
        if written == 0:
            raise FetchError(f"{lmdb_dir}: no decodable image among its entries ({skipped} failed)")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return written


def square_resize(image: Image.Image, size: int) -> Image.Image:
    """RGB, centre-cropped to the shorter side, resized to `size`×`size` with LANCZOS."""
    image = image.convert("RGB")
    w, h = image.size
    crop = min(w, h)
    left, top = (w - crop) // 2, (h - crop) // 2
    return image.crop((left, top, left + crop, top + crop)).resize((size, size), Image.LANCZOS)
