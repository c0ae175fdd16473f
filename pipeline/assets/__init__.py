"""Fetching the project's external files: GANSketching archives, LSUN photos, CLIP and Inception weights.

download.py  resumable, sha256-checked HTTP downloads (stdlib urllib), FetchError
archive.py   safe_extract: zip/tar unpacking that refuses escapes, links and bombs
sources.py   the registry of assets: URL, file name, digest, where they land
fetch.py     fetch_asset: official URL or mirror folder, trust-on-first-use lock file
lsun.py      export_lmdb_images: LSUN lmdb -> square PNGs (optional `lmdb` package)
"""

from .archive import ArchiveError, safe_extract
from .download import FetchError, download
from .fetch import SOURCES, fetch_asset, read_lock, write_lock
from .lsun import export_lmdb_images
from .sources import ASSET_NAMES, Asset, get_asset

__all__ = [
    "ArchiveError",
    "safe_extract",
    "FetchError",
    "download",
    "SOURCES",
    "fetch_asset",
    "read_lock",
    "write_lock",
    "export_lmdb_images",
    "ASSET_NAMES",
    "Asset",
    "get_asset",
]
