"""The studio's form -> a DVC experiment: params overrides, validated before anything runs.

The form sets the toy experiment's prompts, iterations and sketch set, and keeps the chosen method
blocks (the others are removed for this experiment, as `dvc exp run -S '~methods.<name>'` does).
Validation is the pipeline's own (pipeline.config.params_from_dict), so the studio accepts exactly
what `dvc repro` would; each message is mapped back to the form field it is about.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline.config import DELETE, ConfigError, params_from_dict, with_overrides

FIELDS = ("target_prompt", "source_prompt", "methods", "iters", "sketches")
MAX_ITERS = 5000  # a studio run is a preview-sized fine-tune on this CPU; `dvc exp run` for longer ones


@dataclass(frozen=True)
class Form:
    target_prompt: str
    source_prompt: str  # "" = the experiment's
    methods: tuple[str, ...]
    iters: int
    sketch_dir: str | None  # project-relative folder written by pipeline.sketchset.save_set
    preview_every: int = 25


class FormError(ValueError):
    """A bad form: {field: message} for every field found wrong."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def read_params(root: Path) -> dict:
    return yaml.safe_load((root / "params.yaml").read_text()) or {}


def overrides(form: Form, raw: dict) -> dict:
    """Dotted params keys -> values (DELETE removes a key) for this form, on params as read."""
    exp = raw.get("experiment", "toy")
    e = f"experiments.{exp}"
    out = {
        f"{e}.target_prompt": form.target_prompt,
        f"{e}.train.iters": form.iters,
        # at least four previews in a short run
        f"{e}.train.preview_every": max(1, min(form.preview_every, form.iters // 4)),
        f"{e}.train.ckpt_every": max(1, min(form.iters, 100)),
    }
    # The form's iterations are every chosen block's: a block's own `iters` (or the toy schedule's
    # per-block one) would silently run another length. A per-block override of a block not chosen
    # goes with the block (it would name a block that is no longer there).
    # `iters: null` already means train.iters, and Hydra refuses to delete a null key ("does not exist").
    method_overrides = ((raw.get("experiments") or {}).get(exp) or {}).get("method_overrides") or {}
    if method_overrides.get("iters") is not None:
        out[f"{e}.method_overrides.iters"] = DELETE
    for name, block in method_overrides.items():
        if isinstance(block, dict) and name not in form.methods:
            out[f"{e}.method_overrides.{name}"] = DELETE
        elif isinstance(block, dict) and block.get("iters") is not None:
            out[f"{e}.method_overrides.{name}.iters"] = DELETE
    for name, block in (raw.get("methods") or {}).items():
        if name in form.methods and isinstance(block, dict) and block.get("iters") is not None:
            out[f"methods.{name}.iters"] = DELETE
    if form.source_prompt.strip():
        out[f"{e}.source_prompt"] = form.source_prompt
    if form.sketch_dir:
        out[f"{e}.assets.sketch_dir"] = form.sketch_dir
    for name in raw.get("methods") or {}:
        if name not in form.methods:
            out[f"methods.{name}"] = DELETE
    # the edit stage runs on generators of this experiment: the chosen blocks only
    editing = ((raw.get("experiments") or {}).get(exp) or {}).get("editing") or {}
    kept = [g for g in editing.get("generators") or [] if g in form.methods]
    out[f"{e}.editing.generators"] = kept or list(form.methods[:1])
    return out


def field_of(message: str) -> str:
    """The form field a params error is about (the key path in the message), or 'form'."""
    key = message.split(": ", 2)[1] if message.count(": ") >= 2 else ""
    if "target_prompt" in key:
        return "target_prompt"
    if "source_prompt" in key:
        return "source_prompt"
    if "train.iters" in key:
        return "iters"
    if "sketch_dir" in key:
        return "sketches"
    if key.startswith("methods"):
        return "methods"
    return "form"


def validate(form: Form, root: Path):
    """The validated Params for this form, or FormError naming each bad field."""
    errors = {}
    raw = read_params(root)
    known = list(raw.get("methods") or {})
    if not form.methods:
        errors["methods"] = f"choose at least one method block ({', '.join(known)})"
    unknown = [m for m in form.methods if m not in known]
    if unknown:
        errors["methods"] = f"unknown method block(s) {', '.join(unknown)}; params.yaml has {', '.join(known)}"
    if not isinstance(form.iters, int) or not 1 <= form.iters <= MAX_ITERS:
        errors["iters"] = f"must be a whole number from 1 to {MAX_ITERS}, got {form.iters!r}"
    if form.sketch_dir is None:
        errors["sketches"] = "the sketch set is empty: draw or upload at least one sketch, then save it"
    if errors:
        raise FormError(errors)
    try:
        return params_from_dict(with_overrides(raw, overrides(form, raw)), "studio")
    except ConfigError as e:
        # one message per line, each prefixed "studio: <key>: ..."
        found = {}
        for line in str(e).splitlines():
            found.setdefault(field_of(line), line.split(": ", 2)[-1] if line.count(": ") >= 2 else line)
        raise FormError(found) from None


def dvc_set_args(over: dict) -> list[str]:
    """`dvc exp run` -S arguments (Hydra override grammar) for the overrides."""
    args = []
    for key, value in over.items():
        if value is DELETE:
            args += ["-S", f"~{key}"]
        else:
            args += ["-S", f"++{key}={hydra_value(value)}"]  # ++: set, adding the key if params.yaml lacks it
    return args


_PLAIN = re.compile(r"^[A-Za-z0-9_./-]+$")


def hydra_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    s = str(value)
    if _PLAIN.match(s) and s.lower() not in ("true", "false", "null"):
        return s
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"
