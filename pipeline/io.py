"""Atomic file writes: write to a temporary name in the same folder, then rename.

A kill at any moment leaves either the old file or the complete new one, never a truncated file
that a later stage would read (os.replace is atomic within a filesystem). `atomic_dir` does the
same for a whole output folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp"):
    """Yield a temporary path beside `path`; on success it becomes `path` (mode 0644)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs are meant to be read by others
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(path: str | os.PathLike, data: bytes | str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    return Path(path)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, tmp_dir: str | os.PathLike | None = None):
    """Yield a new empty folder; on success it replaces the folder `path` as a whole.

    Build a stage's output folder in it: a kill or an error at any moment leaves either the old
    `path` or the complete new one (or, killed between the two renames, none), never a mix.
    The temporary folder lives in `tmp_dir` (default: beside `path`, same filesystem); leftovers
    of a killed earlier run for the same `path` are removed first.
    """
    path = Path(path)
    work = Path(tmp_dir) if tmp_dir is not None else path.parent
    prefix = f".{path.parent.name}.{path.name}." if tmp_dir is not None else f".{path.name}."
    path.parent.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    for stale in list(work.glob(prefix + "tmp-*")) + list(work.glob(prefix + "old-*")):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=prefix + "tmp-", dir=work))
    try:
        yield tmp
        os.chmod(tmp, 0o755)  # mkdtemp makes 0700
        old = None
        if path.exists() or path.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=prefix + "old-", dir=work))
            os.replace(path, old / path.name)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
