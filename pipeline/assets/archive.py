"""Safe unpacking of zip and tar(.gz/.bz2/.xz) archives.

`safe_extract` refuses, before writing anything:
  * absolute member paths (`/etc/x`, `C:\\x`), `..` components, backslashes, NUL bytes;
  * every link: zip entries marked as symlinks and tar symlinks *and* hard links, wherever
    they point (none of the published archives has one, and a link that stays inside the
    target today can be repointed by a later member; refusing them all is the simple rule);
  * device files, FIFOs and other special tar members;
  * more than `max_files` members, or declared sizes adding up to more than `max_total_bytes`.
While writing it counts the bytes actually produced, so an archive that lies about its sizes
(a zip bomb) is stopped at the cap too. Members are written by this module (never by
`ZipFile.extractall`/`TarFile.extractall`), as plain files with mode 0o644.

Everything is unpacked into a temporary folder beside `target` and moved into place only
when the whole archive succeeded: a failure leaves neither partial files nor the temp folder.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from .download import FetchError

GiB = 1 << 30
CHUNK = 1 << 20


class ArchiveError(FetchError):
    """An archive that is refused or unreadable; the message names the archive and the member."""


def safe_extract(
    archive: str | os.PathLike,
    target: str | os.PathLike,
    max_total_bytes: int = 8 * GiB,  # cap on the unpacked size, declared and actual
    max_files: int = 200_000,  # cap on the number of members
) -> list[str]:
    """Unpack `archive` (zip or tar) into `target`; return the relative paths of the files written.

    `target` may exist: each top-level entry of the archive replaces the entry of the same
    name in it (one rename each), other entries of `target` are left alone.
    """
    archive, target = Path(archive), Path(target)
    if not archive.is_file():
        raise ArchiveError(f"{archive}: archive not found")
    if zipfile.is_zipfile(archive):
        opener = _ZipReader
    elif tarfile.is_tarfile(archive):
        opener = _TarReader
    else:
        raise ArchiveError(f"{archive}: neither a zip nor a tar archive (truncated or corrupted download?)")

    target.parent.mkdir(parents=True, exist_ok=True)
    with opener(archive) as reader:
        members = reader.members()  # [(relative path, is_dir, declared size, handle)], all checked
        if len(members) > max_files:
            raise ArchiveError(f"{archive}: {len(members)} members, more than the cap of {max_files}")
        declared = sum(size for _, _, size, _ in members)
        if declared > max_total_bytes:
            raise ArchiveError(
                f"{archive}: members declare {declared} bytes in total, more than the cap "
                f"of {max_total_bytes} bytes (a zip bomb, or raise the cap for this asset)"
            )
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.unpack-", dir=target.parent))
        try:
            written = _write_members(reader, members, tmp, archive, max_total_bytes)
            _move_into_place(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return written


def _write_members(reader, members, root: Path, archive: Path, cap: int) -> list[str]:
    total, written = 0, []
    for rel, is_dir, _, handle in members:
        path = root.joinpath(*PurePosixPath(rel).parts)
        try:
            if is_dir:
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            with reader.open(handle) as src, open(path, "wb") as dst:
                for block in iter(lambda: src.read(CHUNK), b""):
                    total += len(block)
                    if total > cap:
                        raise ArchiveError(
                            f"{archive}: unpacking produced more than the cap of {cap} bytes "
                            f"(at member {rel!r}); the member sizes in the archive are false"
                        )
                    dst.write(block)
        except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as e:
            raise ArchiveError(f"{archive}: cannot unpack member {rel!r} ({type(e).__name__}: {e})") from None
        os.chmod(path, 0o644)
        written.append(rel)
    return written


def _move_into_place(tmp: Path, target: Path) -> None:
    """Rename the unpacked tree into `target`, replacing same-named top-level entries."""
    if not target.exists():
        os.replace(tmp, target)  # the caller's rmtree(tmp) then finds nothing: fine
        return
    if not target.is_dir():
        raise ArchiveError(f"{target}: exists and is not a folder; cannot unpack into it")
    for entry in sorted(tmp.iterdir()):
        dst = target / entry.name
        if dst.is_dir() and not dst.is_symlink():
            old = tmp / f".replaced-{entry.name}"
            os.replace(dst, old)  # the rmtree of `tmp` disposes of it
        elif dst.exists() or dst.is_symlink():
            dst.unlink()
        os.replace(entry, dst)


# ----------------------------------------------------------------------------
# Member names and the two formats.


def checked_name(name: str, archive: Path) -> str:
    """Return `name` as a clean relative POSIX path, or raise ArchiveError if it could escape."""
    if not name or "\x00" in name or "\\" in name:
        raise ArchiveError(f"{archive}: refused member name {name!r} (empty, NUL byte or backslash)")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise ArchiveError(f"{archive}: refused member {name!r}: absolute path")
    parts = [p for p in PurePosixPath(name).parts if p != "."]
    if ".." in parts:
        raise ArchiveError(f"{archive}: refused member {name!r}: '..' would write outside the target folder")
    if not parts:
        raise ArchiveError(f"{archive}: refused member name {name!r}")
    return "/".join(parts)


class _ZipReader:
    def __init__(self, archive: Path):
        self.archive = archive
        try:
            self.zf = zipfile.ZipFile(archive)
        except zipfile.BadZipFile as e:
            raise ArchiveError(f"{archive}: not a readable zip file ({e})") from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.zf.close()

    def members(self):
        out = []
        for info in self.zf.infolist():
            rel = checked_name(info.filename, self.archive)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise ArchiveError(
                    f"{self.archive}: refused member {info.filename!r}: symbolic link "
                    "(links are not allowed in archives)"
                )
            out.append((rel, info.is_dir(), 0 if info.is_dir() else info.file_size, info))
        return out

    def open(self, info):
        return self.zf.open(info)


class _TarReader:
    def __init__(self, archive: Path):
        self.archive = archive
        try:
            self.tf = tarfile.open(archive, "r:*")
        except tarfile.TarError as e:
            raise ArchiveError(f"{archive}: not a readable tar file ({e})") from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.tf.close()

    def members(self):
        out = []
        try:
            infos = self.tf.getmembers()
        except (tarfile.TarError, EOFError, OSError) as e:
            raise ArchiveError(f"{self.archive}: truncated or corrupted tar ({type(e).__name__}: {e})") from None
        for info in infos:
            rel = checked_name(info.name, self.archive)
            if info.issym() or info.islnk():
                kind = "symbolic" if info.issym() else "hard"
                raise ArchiveError(
                    f"{self.archive}: refused member {info.name!r}: {kind} link to "
                    f"{info.linkname!r} (links are not allowed in archives)"
                )
            if not (info.isfile() or info.isdir()):
                raise ArchiveError(
                    f"{self.archive}: refused member {info.name!r}: device file, FIFO or other special file"
                )
            out.append((rel, info.isdir(), info.size if info.isfile() else 0, info))
        return out

    def open(self, info):
        return self.tf.extractfile(info)
