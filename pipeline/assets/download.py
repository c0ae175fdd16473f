"""Resumable, checksummed HTTP downloads with the standard library only.

`download(url, dest)` streams into `dest.part`, resumes an interrupted transfer with an
HTTP `Range` request, checks the byte count against `Content-Length` and the sha256
against the expected digest, and only then renames `dest.part` to `dest`. So `dest`
either does not exist or is complete and verified; a truncated or corrupted transfer
never reaches it (and so is never unpacked).

Every failure is a `FetchError` whose message names the URL, what went wrong, and how to
work around a machine without internet: a mirror folder (`assets.source: mirror`).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

CHUNK = 1 << 20  # bytes per read; also the hashing block size
USER_AGENT = "sketch-text-gan-fetch/0.1 (+python-urllib)"


class FetchError(RuntimeError):
    """An asset could not be fetched or verified; the message says what and how to work around it."""


def mirror_hint(url: str, filename: str) -> str:
    """The standard advice for machines without (working) internet."""
    return (
        f"To work without this server, download {url} elsewhere, put it in a mirror folder as '{filename}' "
        f"and set assets.source=mirror and assets.mirror_dir=<folder> in the experiment's block of params.yaml "
        f"(e.g. dvc exp run -S experiments.<name>.assets.source=mirror "
        f"-S experiments.<name>.assets.mirror_dir=<folder>)."
    )


def sha256_file(path: str | os.PathLike, h=None) -> hashlib._Hash:
    """Feed the bytes of `path` into `h` (a new sha256 if None) and return it."""
    h = h or hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h


def digest_matches(digest: str, expected: str | None) -> bool:
    """True if `expected` is None, the full digest, or a prefix of it (torch hub names carry 8+ hex digits)."""
    return expected is None or digest.lower().startswith(expected.lower())


def download(
    url: str,
    dest: str | os.PathLike,
    sha256: str | None = None,
    *,
    timeout: float = 60.0,  # seconds without data before an attempt fails
    retries: int = 3,  # further attempts after a network error or truncation
    retry_wait: float = 1.0,  # seconds before the first retry; doubles each time
    progress: bool = True,  # tqdm progress bar on stderr
) -> str:
    """Download `url` to `dest` and return the file's sha256 hex digest.

    `sha256` is the expected digest (or a prefix of at least 8 hex digits); None skips the
    check (the caller records the returned digest: trust on first use). An existing `dest`
    that matches is kept without touching the network; one that does not is replaced.
    """
    dest = Path(dest)
    if sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{8,64}", sha256):
        raise ValueError(f"sha256 for {url} must be 8 to 64 hex digits, got {sha256!r}")
    if dest.is_file():
        digest = sha256_file(dest).hexdigest()
        if digest_matches(digest, sha256):
            return digest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")

    done, last_error = False, "no attempt made"
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(retry_wait * 2 ** (attempt - 1))
        try:
            done = _fetch_into(url, part, timeout=timeout, progress=progress)
            if done:
                break
            last_error = f"the transfer ended early; {part} was kept so that the next try resumes"
        except urllib.error.HTTPError as e:
            last_error = f"the server answered HTTP {e.code} {e.reason}"
            if e.code < 500 and e.code not in (408, 429):  # a client error will not go away by retrying
                break
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            reason = getattr(e, "reason", None) or e
            last_error = f"network error ({type(e).__name__}: {reason})"
    if not done:
        raise FetchError(
            f"Could not download {url} after {attempt + 1} attempt(s): {last_error}. " + mirror_hint(url, dest.name)
        )

    digest = sha256_file(part).hexdigest()
    if not digest_matches(digest, sha256):
        part.unlink()  # a complete file with the wrong bytes cannot be repaired by resuming
        raise FetchError(
            f"Checksum mismatch for {url}: expected sha256 {sha256}, got {digest}. "
            f"The file was deleted and nothing was unpacked. If the server changed the file "
            f"on purpose, update the expected digest. " + mirror_hint(url, dest.name)
        )
    os.replace(part, dest)
    return digest


# ----------------------------------------------------------------------------
# One attempt.


def _fetch_into(url: str, part: Path, *, timeout: float, progress: bool) -> bool:
    """One HTTP request; append to (or restart) `part`. True when the whole resource is in `part`."""
    have = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # "range not satisfiable": complete already, or a stale bigger file
            total = _total_from_content_range(e.headers.get("Content-Range"))
            if total == have:
                return True
            part.unlink()  # bigger than the resource: stale, start over
            return _fetch_into(url, part, timeout=timeout, progress=progress)
        raise
    with response:
        if response.status == 206:
            start = _start_from_content_range(response.headers.get("Content-Range"))
            if start != have:
                part.unlink()  # the next attempt starts over
                raise http.client.HTTPException(
                    f"server resumed at byte {start}, asked for {have} (Content-Range "
                    f"{response.headers.get('Content-Range')!r})"
                )
            mode = "ab"
        else:  # 200: the server ignored Range (or none was sent): start over
            have, mode = 0, "wb"
        length = response.headers.get("Content-Length")
        expected = int(length) if length is not None else None
        received = 0
        with (
            open(part, mode) as f,
            tqdm(
                total=None if expected is None else have + expected,
                initial=have,
                unit="B",
                unit_scale=True,
                desc=part.name[: -len(".part")],
                disable=not progress,
                leave=False,
            ) as bar,
        ):
            for block in iter(lambda: response.read(CHUNK), b""):
                f.write(block)
                received += len(block)
                bar.update(len(block))
    if expected is not None and received < expected:
        return False  # truncated: keep `part`, the next attempt resumes
    if expected is not None and received > expected:
        part.unlink()
        raise http.client.HTTPException(f"received {received} bytes, Content-Length said {expected}")
    return True


def _start_from_content_range(value: str | None) -> int:
    m = re.fullmatch(r"\s*bytes\s+(\d+)-\d+/(\d+|\*)\s*", value or "")
    if not m:
        raise http.client.HTTPException(f"206 answer without a valid Content-Range (got {value!r})")
    return int(m.group(1))


def _total_from_content_range(value: str | None) -> int | None:
    m = re.search(r"/(\d+)\s*$", value or "")
    return int(m.group(1)) if m else None
