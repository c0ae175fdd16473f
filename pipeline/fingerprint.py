"""What decides a fine-tune's weights, as one digest: the resolved configs, the library code and the
prepared data. The `finetune` stage keys its resumable checkpoints by it (`finetune_fingerprint`);
a sweep chain's key digests its resolved params with `inputs_digest`, the same code and data
(pipeline/sweep.py). A changed config, code or data never reuses old state.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .config import to_jsonable

CODE_DIR = Path(__file__).resolve().parent  # the `pipeline` package


def input_files(prepared: Path):
    """(project-relative name, path) of what the fingerprints read besides configs: every
    pipeline/**/*.py, then every file under `prepared` but its config.json (which records timings)."""
    prepared = Path(prepared)
    files = [(p, "pipeline/" + p.relative_to(CODE_DIR).as_posix()) for p in sorted(CODE_DIR.rglob("*.py"))]
    files += [(p, "data/prepared/" + p.relative_to(prepared).as_posix()) for p in sorted(prepared.rglob("*"))]
    for p, name in files:
        if p.is_file() and p.name != "config.json":
            yield name, p


def finetune_fingerprint(exp, method_cfg, prepared: Path) -> str:
    """sha256 hex digest of the configs that reach training, the library code and the prepared data
    (`input_files`; normally data/prepared).

    Files enter under their project-relative names (pipeline/..., data/prepared/...), so the digest
    does not depend on where the project lives: a shared folder mounted elsewhere on another machine
    gives the same digest.
    """
    h = hashlib.sha256(
        json.dumps(
            [
                to_jsonable(exp.train),
                to_jsonable(exp.generator),
                exp.seed,
                exp.size,
                exp.sketch_extractor,
                exp.photosketch_bn_mode,
                to_jsonable(exp.clip),
                exp.target_prompt,
                exp.source_prompt,
                to_jsonable(method_cfg),
                # how the selection FID is measured (pipeline/selection.py)
                [exp.eval.feature_extractor, exp.eval.feature_weights, exp.eval.resize, exp.eval.truncation],
            ],
            sort_keys=True,
        ).encode()
    )
    return _add_inputs(h, prepared).hexdigest()


def inputs_digest(prepared: Path) -> str:
    """sha256 hex digest of the code and the prepared data alone (`input_files`), to combine with
    configs that vary: a sweep reads its inputs once, not once per chain."""
    return _add_inputs(hashlib.sha256(), prepared).hexdigest()


def _add_inputs(h, prepared: Path):
    for name, p in input_files(prepared):
        h.update(name.encode())
        h.update(p.read_bytes())
    return h
