"""Fetch one registry asset from its official URL or a mirror folder, verify it, unpack it.

Sources:
  * `official`: download from the URL in `sources.py` (resumable, see `download.py`);
  * `mirror`:   copy the file of the same name from a local folder (machines without internet);
  * `synthetic`: the demo data needs nothing; `fetch_asset` does nothing and returns None.

Verification, in order of authority: the digest in `sources.py` (code), else the digest
recorded in the lock file by an earlier fetch (trust on first use), else none, and the
digest of this first download is recorded. The lock file is JSON, one entry per asset
name (`filename`, `sha256`, `url`), sorted keys, written to a temp name and renamed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from .archive import safe_extract
from .download import FetchError, digest_matches, download, mirror_hint, sha256_file
from .sources import Asset, get_asset

SOURCES = ("synthetic", "official", "mirror")


def fetch_asset(
    name: str,
    out_dir: str | os.PathLike,
    source: str = "official",
    mirror_dir: str | os.PathLike | None = None,
    lock_file: str | os.PathLike | None = None,
    *,
    download_dir: str | os.PathLike | None = None,  # archives kept here; default out_dir/downloads
    keep_archive: bool = True,  # False: delete the archive once unpacked
    timeout: float = 60.0,
    retries: int = 3,
    progress: bool = True,
    url: str | None = None,
) -> Path | None:
    """Fetch asset `name` into `out_dir`; return the folder it was unpacked into (or the file).

    Without `lock_file`, a digest that is not in the code is neither recorded nor checked.
    `url` (source `official` only) downloads from there instead of the registry URL, e.g. a lab
    HTTP mirror; the file is checked against the same digest, and the lock keeps the registry URL.
    """
    if source not in SOURCES:
        raise ValueError(f"fetch source must be one of {SOURCES}, got {source!r}")
    if source == "synthetic":
        return None
    asset = get_asset(name)
    out_dir = Path(out_dir)
    lock = read_lock(lock_file) if lock_file else {}
    expected = expected_digest(asset, lock.get(name, {}).get("sha256"))

    if asset.unpack:
        file = Path(download_dir or out_dir / "downloads") / asset.filename
    else:
        file = out_dir / asset.subdir / asset.filename
    origin = (url or asset.url) if source == "official" else str(Path(mirror_dir or ".") / asset.filename)
    try:
        if source == "official":
            digest = download(origin, file, expected, timeout=timeout, retries=retries, progress=progress)
        else:
            digest = copy_from_mirror(asset, mirror_dir, file, expected)
    except FetchError as e:
        if expected and asset.sha256 is None and "Checksum mismatch" in str(e):
            raise FetchError(
                f"{e} The expected digest is the one recorded for {name!r} in {lock_file} by an "
                "earlier fetch; if the new file is the right one, delete that entry."
            ) from None
        raise

    if not asset.unpack:
        _record(lock_file, lock, asset, digest)
        return file
    target = out_dir / asset.subdir
    safe_extract(file, target, asset.max_unpacked_bytes, asset.max_files)
    missing = [p for p in asset.expect if not (target / p).exists()]
    if missing:
        found = sorted(p.name for p in target.iterdir())
        raise FetchError(
            f"{file} (from {origin}) unpacked into {target} but lacks {missing}; "
            f"{target} holds {found}. Is it the right file?"
        )
    # Recorded only now: an archive that is refused or incomplete is never trusted on first use.
    _record(lock_file, lock, asset, digest)
    if not keep_archive:
        file.unlink()
    return target


def _record(lock_file, lock: dict, asset: Asset, digest: str) -> None:
    if lock_file and lock.get(asset.name, {}).get("sha256") != digest:
        lock[asset.name] = {"filename": asset.filename, "sha256": digest, "url": asset.url}
        write_lock(lock_file, lock)


def expected_digest(asset: Asset, locked: str | None) -> str | None:
    """The code's digest wins; the lock refines a code prefix or stands in for a missing one."""
    if locked and digest_matches(locked, asset.sha256):
        return locked
    return asset.sha256


def copy_from_mirror(asset: Asset, mirror_dir: str | os.PathLike | None, dest: Path, expected: str | None) -> str:
    """Copy `mirror_dir/<filename>` to `dest` (temp name, then rename), checking its sha256."""
    if mirror_dir is None:
        raise FetchError(
            f"assets.source=mirror needs assets.mirror_dir: a folder holding '{asset.filename}' "
            f"(downloaded from {asset.url})"
        )
    src = Path(mirror_dir) / asset.filename
    if not src.is_file():
        raise FetchError(
            f"Mirror file not found: expected {src} (the file '{asset.filename}' from "
            f"{asset.url}) for asset {asset.name!r}. " + mirror_hint(asset.url, asset.filename)
        )
    if expected and dest.is_file():  # an earlier copy that still verifies: don't copy again
        digest = sha256_file(dest).hexdigest()
        if digest_matches(digest, expected):
            return digest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        h = hashlib.sha256()
        with open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
            for block in iter(lambda: fin.read(1 << 20), b""):
                h.update(block)
                fout.write(block)
        digest = h.hexdigest()
        if not digest_matches(digest, expected):
            raise FetchError(
                f"Checksum mismatch for mirror file {src}: expected sha256 {expected}, got "
                f"{digest}. Replace it with an intact copy of {asset.url}; nothing was unpacked."
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return digest


# ----------------------------------------------------------------------------
# The lock file.


def read_lock(path: str | os.PathLike) -> dict:
    """The lock file's entries ({} if it does not exist yet)."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise FetchError(
            f"{path}: unreadable asset lock file ({e}); expected JSON "
            '{"<asset>": {"filename": ..., "sha256": ..., "url": ...}}'
        ) from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise FetchError(f"{path}: expected a JSON object of asset entries")
    return data


def write_lock(path: str | os.PathLike, data: dict) -> None:
    """Write the lock atomically (temp file beside it, then rename), sorted keys."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp makes 0o600; the lock is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
