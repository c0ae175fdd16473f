"""Studio: the time from "Customize" to the first preview grid, and to the finished experiment.

A copy of the project (a git repo, the default toy world unless --reduced) gets a studio job exactly
as the page launches it (studio.app.Studio.customize: a `dvc exp run --temp`), with the sketches of
tests/fixtures/other_hand (the standing ones), one method block and --iters iterations. The page's 2-second poll is
replayed at --poll seconds: the first poll that finds a preview grid is the time to preview.
Also printed: when each DVC stage started. Printed, never asserted.

    python benchmarks/studio_preview.py [--iters 100] [--method syog] [--reduced] [--keep]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--method", default="syog")
    ap.add_argument("--reduced", action="store_true", help="the reduced toy world of the browser test")
    ap.add_argument("--poll", type=float, default=2.0)
    ap.add_argument("--keep", action="store_true", help="keep the project copy (its path is printed)")
    args = ap.parse_args()

    from PIL import Image
    from project import make_project, proj_env

    from pipeline.sketchset import as_sketch

    base = Path(tempfile.mkdtemp(prefix="studio-preview-"))
    extra = {"experiment": "toy"}
    if args.reduced:
        from test_toy_world_e2e import toy_extra

        extra = toy_extra()
    proj = make_project(base / "proj", extra)
    os.environ.update(proj_env(proj))
    from studio.app import Studio

    sketches = [
        as_sketch(Image.open(p), p.name) for p in sorted((ROOT / "tests/fixtures/other_hand").glob("standing_*.png"))
    ]
    studio = Studio(proj, base / "state")
    prompt = studio.params.experiment.target_prompt
    t0 = time.time()
    out = studio.customize(prompt, "", [args.method], args.iters, sketches)
    if "errors" in out:
        print("refused:", out["errors"])
        return 1
    first_preview = None
    stages: dict[str, float] = {}
    while True:
        st = studio.status()
        for name in re.findall(r"Running stage '([^']+)'", st.get("log", "")):
            stages.setdefault(name, time.time() - t0)
        p = st["progress"]
        if first_preview is None and p is not None and p.preview is not None:
            first_preview = (time.time() - t0, p.preview_step)
        if st["job"]["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(args.poll)
    total = time.time() - t0
    world = "reduced toy world" if args.reduced else "toy world (params.yaml)"
    print(f"studio job: {args.method}, {args.iters} iterations, {world}, {len(sketches)} sketches")
    print(f"status: {st['job']['status']} {st['job'].get('error') or ''}")
    for name, t in stages.items():
        print(f"  {t:7.1f} s  stage {name}")
    if first_preview:
        print(f"first preview grid: {first_preview[0]:.1f} s after Customize (step {first_preview[1]})")
    else:
        print("first preview grid: none seen")
    print(f"experiment finished: {total:.1f} s after Customize")
    if args.keep:
        print(f"project copy: {proj}")
    else:
        shutil.rmtree(base, ignore_errors=True)
    return 0 if st["job"]["status"] == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
