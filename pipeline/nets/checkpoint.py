"""Checkpoint I/O: weights-only loading, the published formats, strict and readable.

Formats accepted (reference spec §5.1):
  * bare state dicts: GANSketching `netG.pth` / `netD.pth` / `weights/*.pth`, `photosketch.pth`;
  * rosinality dicts: `{"g_ema", "g", "d", "latent_avg", ...}` (train.py, convert_weight.py, NADA);
  * `.safetensors` files.
Never a plain pickle load: `torch.load(..., weights_only=True)` refuses objects that would run code.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..io import atomic_path


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message names the file and what was expected."""


def load_file(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a checkpoint dict without executing pickled code (its recorded sha256 checked, if any)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    verify_digest(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file as st_load

        return st_load(str(path), device=str(map_location))
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # UnpicklingError for code-running pickles, RuntimeError for non-zip files
        raise CheckpointError(
            f"{path}: not a weights-only PyTorch checkpoint ({type(e).__name__}: {str(e).splitlines()[0]}). "
            "Files that need arbitrary unpickling are refused because loading them could run code; "
            "re-save the state dict with torch.save(model.state_dict(), path)."
        ) from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict of tensors, got {type(obj).__name__}")
    return obj


def pick_state_dict(ckpt: dict, role: str, path: str | os.PathLike = "<checkpoint>") -> dict:
    """Select the state dict for `role` ("g" or "d") from a bare or rosinality-wrapped checkpoint."""
    wrapped = {"g": ("g_ema", "g"), "d": ("d",)}[role]
    for key in wrapped:
        if key in ckpt and isinstance(ckpt[key], dict):
            return ckpt[key]
    if any(k in ckpt for k in ("g_ema", "g", "d")):
        raise CheckpointError(
            f"{path}: rosinality-style checkpoint without a {' or '.join(map(repr, wrapped))} "
            f"entry (has {sorted(k for k in ckpt if not torch.is_tensor(ckpt[k]))})"
        )
    return ckpt


def load_strict(module: nn.Module, state_dict: dict, path: str | os.PathLike = "<checkpoint>") -> None:
    """Strict load with a message that lists missing/unexpected keys and shape mismatches."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = [
        f"{k}: file {tuple(state_dict[k].shape)} vs network {tuple(own[k].shape)}"
        for k in own
        if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or shapes:
        name = type(module).__name__
        lines = [
            f"{path}: does not match {name}" + (f" ({getattr(module, 'cfg', '')})" if hasattr(module, "cfg") else "")
        ]
        if shapes:
            lines.append(
                f"  {len(shapes)} shape mismatches (wrong resolution or width?): "
                + "; ".join(shapes[:5])
                + (" ..." if len(shapes) > 5 else "")
            )
        if missing:
            lines.append(
                f"  {len(missing)} missing keys: " + ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else "")
            )
        if unexpected:
            lines.append(
                f"  {len(unexpected)} unexpected keys: "
                + ", ".join(unexpected[:8])
                + (" ..." if len(unexpected) > 8 else "")
            )
        raise CheckpointError("\n".join(lines))
    module.load_state_dict(state_dict, strict=True)


def load_into(module: nn.Module, path: str | os.PathLike, role: str | None = None) -> dict:
    """Load `path` strictly into `module`; returns the full checkpoint dict (e.g. for `latent_avg`)."""
    ckpt = load_file(path)
    sd = pick_state_dict(ckpt, role, path) if role else ckpt
    load_strict(module, sd, path)
    return ckpt


def save_atomic(obj, path: str | os.PathLike) -> None:
    """torch.save, then write the bytes to a temporary file in the same folder and rename: a kill never
    leaves half a file. Serialized in memory first because torch.save names the archive's records after
    the file it writes to; a random temporary name would make identical weights differ byte for byte."""
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getvalue())


# ----------------------------------------------------------------------------
# Recorded digests: `<file>.sha256` beside a weights file (sha256sum's format), checked at load.


def file_digest(path: str | os.PathLike) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_digest(path: str | os.PathLike) -> dict:
    """Write `<path>.sha256` ("<hex>  <name>\\n"); returns {"sha256", "bytes"}."""
    from ..io import write_bytes

    path = Path(path)
    digest = file_digest(path)
    write_bytes(path.with_name(path.name + ".sha256"), f"{digest}  {path.name}\n")
    return {"sha256": digest, "bytes": path.stat().st_size}


def verify_digest(path: str | os.PathLike) -> str | None:
    """If `<path>.sha256` exists, the file's sha256 must match it (CheckpointError naming both);
    returns the digest checked, or None when nothing is recorded."""
    path = Path(path)
    record = path.with_name(path.name + ".sha256")
    if not record.is_file():
        return None
    want = record.read_text().split()[0].lower()
    got = file_digest(path)
    if got != want:
        raise CheckpointError(
            f"{path}: sha256 {got} does not match the recorded {want} ({record}); the file "
            "is not the one the world stage wrote (re-check it out with git, or retrain: "
            "README 'The toy world')"
        )
    return got
