"""The asset registry: every file the project downloads, where it comes from and where it goes.

Layout under the fetch stage's output folder `out_dir` (reference spec §1.6 for the
GANSketching archives; the original shell scripts unzip them into `./data` and `./pretrained`):

| asset               | file                                  | lands in (relative to out_dir)                       |
|---------------------|---------------------------------------|------------------------------------------------------|
| `sketch_data`       | sketch_data.zip                       | `raw/sketch/{photosketch,by_author,quickdraw}/...`   |
| `eval_data`         | eval_data.zip                         | `raw/eval/<task>/image/*.png`                        |
| `pretrained_models` | pretrained_models.zip                 | `raw/pretrained/{stylegan2-cat/net{G,D}.pth,photosketch.pth}` |
| `gansketching_weights` | weights.zip                        | `raw/weights/*.pth` (the published customized models) |
| `ganspace_cat`      | ganspace_cat.npz (GANSketching's git) | `raw/weights/ganspace_cat.npz` (comp 27: the "fur" edit) |
| `lsun_cat`          | cat.zip (an lmdb)                     | `raw/lsun/cat/data.mdb` (see `lsun.export_lmdb_images`) |
| `clip_vit_b32`      | ViT-B-32.pt (URL from open_clip)      | `weights/clip/ViT-B-32.pt`                           |
| `inception_fid`     | weights-inception-2015-12-05-6726825d.pth (URL from torch-fidelity) | `weights/inception/`   |
| `vgg16`             | vgg16-397923af.pth (torchvision's URL) | `weights/torch_hub/checkpoints/` (LPIPS VGG for PPL)  |

Digests: `sha256` is the published digest where one is known (the CLIP URL carries its
full sha256; torch hub style names carry an 8-digit prefix). None means "trust on first
use": `fetch.fetch_asset` records the digest of the first download in a lock file and
checks every later fetch against it. A digest in this file always wins over the lock.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

GiB = 1 << 30
GANSKETCHING = "https://www.cs.cmu.edu/~gansketching/files"
CLIP_MODEL, CLIP_TAG = "ViT-B-32-quickgelu", "openai"
# torch-fidelity 0.4.0's URL_INCEPTION_V3, used only if its source cannot be read.
INCEPTION_URL_FALLBACK = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
)


@dataclass(frozen=True)
class Asset:
    """One downloadable file and what to do with it."""

    name: str  # registry key, also the key in the lock file
    url: str  # where `source=official` downloads it from
    filename: str  # file name on disk and in a mirror folder
    sha256: str | None  # hex digest or 8+ digit prefix; None: trust on first use
    subdir: str  # folder under out_dir it is unpacked into (or placed in)
    unpack: bool = True  # archive to unpack, or a file used as it is
    expect: tuple[str, ...] = ()  # paths under subdir that must exist afterwards
    max_unpacked_bytes: int = 8 * GiB  # cap for safe_extract
    max_files: int = 200_000  # cap for safe_extract


def _gansketching(name: str, filename: str, subdir: str, expect: tuple[str, ...]) -> Asset:
    return Asset(name, f"{GANSKETCHING}/{filename}", filename, None, subdir, expect=expect)


def _lsun_cat() -> Asset:
    # ~40 GiB lmdb in a zip; the image cap is applied when exporting PNGs, not here.
    return Asset(
        "lsun_cat",
        "http://dl.yf.io/lsun/objects/cat.zip",
        "cat.zip",
        None,
        "raw/lsun",
        expect=("cat/data.mdb",),
        max_unpacked_bytes=128 * GiB,
        max_files=16,
    )


def _clip_vit_b32() -> Asset:
    """OpenAI CLIP ViT-B/32 weights, at the URL the installed open_clip uses (it carries the sha256)."""
    try:
        from open_clip.pretrained import get_pretrained_url
    except ImportError as e:
        raise RuntimeError(
            f"clip_vit_b32: cannot import open_clip to look up its weights URL ({e}); pip install open-clip-torch"
        ) from None
    url = get_pretrained_url(CLIP_MODEL, CLIP_TAG)
    if not url:
        raise RuntimeError(
            f"clip_vit_b32: the installed open_clip has no download URL for ({CLIP_MODEL!r}, {CLIP_TAG!r})"
        )
    return Asset("clip_vit_b32", url, _basename(url), digest_in_url(url), "weights/clip", unpack=False)


def _inception_fid() -> Asset:
    """torch-fidelity's InceptionV3 FID weights (torch hub name: the file name carries a sha256 prefix)."""
    url = inception_url_from_torch_fidelity() or INCEPTION_URL_FALLBACK
    return Asset("inception_fid", url, _basename(url), digest_in_url(url), "weights/inception", unpack=False)


REGISTRY = {
    "sketch_data": lambda: _gansketching("sketch_data", "sketch_data.zip", "raw", ("sketch",)),
    "eval_data": lambda: _gansketching("eval_data", "eval_data.zip", "raw", ("eval",)),
    "pretrained_models": lambda: _gansketching(
        "pretrained_models",
        "pretrained_models.zip",
        "raw/pretrained",
        ("stylegan2-cat/netG.pth", "stylegan2-cat/netD.pth", "photosketch.pth"),
    ),
    "gansketching_weights": lambda: _gansketching("gansketching_weights", "weights.zip", "raw/weights", ()),
    # In GANSketching's git, not in its zips; pinned to the reference revision and its sha256.
    "ganspace_cat": lambda: Asset(
        "ganspace_cat",
        "https://raw.githubusercontent.com/PeterWang512/GANSketching/"
        "8b9a842b6010d8ba989cb14fce33ada6fe2267bb/weights/ganspace_cat.npz",
        "ganspace_cat.npz",
        "6477566ad4abb72b302bd5ff57079a34b744144632c210f76f12e54d9caa3745",
        "raw/weights",
        unpack=False,
    ),
    # torchvision's ImageNet VGG-16, which the lpips package loads for LPIPS VGG (PPL, projector).
    "vgg16": lambda: Asset(
        "vgg16",
        "https://download.pytorch.org/models/vgg16-397923af.pth",
        "vgg16-397923af.pth",
        "397923af",
        "weights/torch_hub/checkpoints",
        unpack=False,
    ),
    "lsun_cat": _lsun_cat,
    "clip_vit_b32": _clip_vit_b32,
    "inception_fid": _inception_fid,
}
ASSET_NAMES = tuple(REGISTRY)


def get_asset(name: str) -> Asset:
    """The registry entry `name`; URLs of the CLIP and Inception weights are looked up on demand."""
    if name not in REGISTRY:
        raise KeyError(f"unknown asset {name!r}; known assets: {', '.join(ASSET_NAMES)}")
    return REGISTRY[name]()


# ----------------------------------------------------------------------------
# Reading URLs and digests.


def _basename(url: str) -> str:
    return PurePosixPath(url.split("?", 1)[0]).name


def digest_in_url(url: str) -> str | None:
    """A sha256 embedded in a URL: a 64-hex path segment (OpenAI CLIP), else a `-<hex>` file-name
    suffix of 8+ digits (torch hub convention, e.g. `...-6726825d.pth`); None if there is none."""
    segments = url.split("?", 1)[0].split("/")
    for seg in segments[:-1]:
        if re.fullmatch(r"[0-9a-f]{64}", seg):
            return seg
    m = re.search(r"-([0-9a-f]{8,64})$", PurePosixPath(segments[-1]).stem)
    return m.group(1) if m else None


def inception_url_from_torch_fidelity() -> str | None:
    """`URL_INCEPTION_V3` read from the installed torch-fidelity's source, without importing torch."""
    spec = importlib.util.find_spec("torch_fidelity")
    if spec is None or not spec.submodule_search_locations:
        return None
    source = Path(list(spec.submodule_search_locations)[0]) / "feature_extractor_inceptionv3.py"
    try:
        text = source.read_text()
    except OSError:
        return None
    m = re.search(r'URL_INCEPTION_V3\s*=\s*\(?\s*["\']([^"\']+)["\']', text)
    return m.group(1) if m else None
