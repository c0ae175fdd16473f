"""Compatibility shim: PyPI's torchvision 0.28.0 on a CPU-only torch 2.13.0.

PyPI's torchvision wheel is a CUDA build. On a CPU-only torch its compiled extension
(`torchvision/_C.so`) fails to load, and `import torchvision` then dies with
"operator torchvision::nms does not exist": `torchvision/_meta_registrations.py` registers fake
(meta) kernels with `torch.library.register_fake("torchvision::nms")` / `("torchvision::qnms")`,
which requires the operators to be defined. open_clip, timm and torch-fidelity import
torchvision, so they fail with it.

`ensure_torchvision_ops()` first tries to load torchvision's own extension exactly as torchvision
would. If that works (any CUDA machine where torch and torchvision match), it does nothing more.
Only if it fails, and only for operator names that are still missing, it defines their schemas
with `torch.library` (no kernels). torchvision's image transforms, models and I/O then import and
work; calling a detection op such as `torchvision.ops.nms` raises PyTorch's ordinary
"Could not run 'torchvision::nms' ... backend" error instead of breaking every import.

It must run before the first `import torchvision`; `import pipeline` does that.
"""

from __future__ import annotations

import importlib.util
import os

import torch

# The schemas torchvision/csrc/ops/nms.cpp declares (qnms is its quantized twin).
_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_LIB: torch.library.Library | None = None  # must stay alive, or the definitions are dropped
_STATE: dict = {"extension_loaded": None, "defined": []}


def _op_exists(name: str) -> bool:
    try:
        getattr(torch.ops.torchvision, name)
        return True
    except (AttributeError, RuntimeError):
        return False


def _load_torchvision_extension() -> bool:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return False
    for folder in spec.submodule_search_locations:
        for fname in os.listdir(folder):
            if fname.startswith("_C.") and fname.endswith((".so", ".pyd")):
                try:
                    torch.ops.load_library(os.path.join(folder, fname))
                    return True
                except (OSError, ImportError, RuntimeError):
                    return False
    return False


def ensure_torchvision_ops() -> dict:
    """Make `import torchvision` work on a CPU-only torch. Idempotent; returns what it did."""
    global _LIB
    if _STATE["extension_loaded"] is None:
        _STATE["extension_loaded"] = _load_torchvision_extension()
    if _STATE["extension_loaded"]:
        return dict(_STATE)
    for name, schema in _SCHEMAS.items():
        if not _op_exists(name):
            if _LIB is None:
                _LIB = torch.library.Library("torchvision", "FRAGMENT")
            _LIB.define(schema)
            _STATE["defined"].append(name)
    return dict(_STATE)
