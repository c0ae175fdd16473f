"""The deviation switches' effect in the toy world (issue 15): each switch on and off, 3 seeds.

    python benchmarks/deviations_toy.py [--seeds 0 1 2] [--jobs 2] [--out data/deviations_toy]

For `clip_global` (prompt_templates) and `clip_direction` (prompt_templates, layer_map,
direction_inputs): the block as in params.yaml (every switch at the reference's value), then each
switch flipped alone. Each (variant, seed) is one chain of the sweep machinery (pipeline/sweep.py:
fine-tune -> sample -> evaluate in the default toy experiment, one torch thread, finished chains
skipped on a re-run). Prints the table and writes it, mean ± std (ddof 1) over seeds, to
docs/deviations_toy.md and .json (committed); the report shows it (pipeline/report.py). TOY-WORLD NUMBERS.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

METRICS = ["pose_acc", "colour_acc", "joint_acc", "fid_target", "fid_prior"]
# (block, switch, its non-reference value); switch None: the block as configured
VARIANTS = [
    ("clip_global", None, None),
    ("clip_global", "prompt_templates", "imagenet"),
    ("clip_direction", None, None),
    ("clip_direction", "prompt_templates", "imagenet"),
    ("clip_direction", "layer_map", "actual"),
    ("clip_direction", "direction_inputs", "shared"),
]


def variant_name(block: str, switch: str | None, value) -> str:
    return block if switch is None else f"{block} {switch}={value}"


def parse_set(items: list[str]) -> dict:
    """--set key=value (YAML value) -> {key: value}."""
    import yaml

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"--set {item!r}: expected key=value, e.g. g_lr=0.05")
        out[key.strip()] = yaml.safe_load(value)
    return out


def bench_params(iters: int | None = None):
    """The toy experiment with the method blocks as `methods:` has them (the references' values): the
    toy schedule's `method_overrides` are dropped, since they flip some of the switches measured here
    (`direction_inputs: shared` for NADA's blocks); `--set` gives a schedule back, the same for every variant."""
    from pipeline.config import load_params

    overrides = {"experiment": "toy", "experiments.toy.eval.metrics": METRICS, "experiments.toy.method_overrides": {}}
    if iters:
        overrides["experiments.toy.train.iters"] = iters
    return load_params(ROOT / "params.yaml", overrides)


def chains(params, prepared: Path, seeds: list[int], schedule: dict | None = None):
    """Every (variant, seed) chain. schedule: method-block values applied to every block that has
    the field (e.g. a toy schedule's g_lr), before the variant's switch."""
    from pipeline.fingerprint import inputs_digest
    from pipeline.sweep import resolve

    schedule = schedule or {}
    blocks = {block for block, _, _ in VARIANTS}
    for key in schedule:
        if not any(hasattr(params.method(b), key) for b in blocks):
            raise SystemExit(f"--set {key}: no method block of {sorted(blocks)} has this field")
    inputs = inputs_digest(prepared)
    out = []
    for block, switch, value in VARIANTS:
        cfg = params.method(block)
        cfg = dataclasses.replace(cfg, **{k: v for k, v in schedule.items() if hasattr(cfg, k)})
        if switch is not None:
            assert getattr(cfg, switch) != value, f"{block}.{switch} is already {value!r} in params.yaml"
            cfg = dataclasses.replace(cfg, **{switch: value})
        for seed in seeds:
            out.append(resolve(params.experiment, variant_name(block, switch, value), cfg, None, seed, 1, inputs))
    return out


def run_one(chain, sweeps_dir: str, prepared: str, cache_dir: str) -> tuple[str, float]:
    os.environ["OMP_NUM_THREADS"] = "1"
    from pipeline.sweep import run_chain

    t0 = time.time()
    r = run_chain(chain, Path(sweeps_dir), Path(prepared), Path(cache_dir))
    return f"{chain.label}: {r['status']}", time.time() - t0


def fmt(cell: dict | None, digits: int) -> str:
    if not cell:
        return "–"
    s = f"{cell['mean']:.{digits}f}"
    return s + (f" ± {cell['std']:.{digits}f}" if cell["std"] is not None else "")


def table(rows: list[dict], seeds: list[int]) -> str:
    head = "| variant | " + " | ".join(METRICS) + " | seeds |"
    lines = [head, "|" + "---|" * (len(METRICS) + 2)]
    for r in rows:
        cells = [fmt(r["metrics"].get(m), 1 if m.startswith("fid") else 3) for m in METRICS]
        lines.append(f"| `{r['method']}` | " + " | ".join(cells) + f" | {r['n_seeds']} of {len(seeds)} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--jobs", type=int, default=2, help="chains at once, one torch thread each")
    ap.add_argument("--iters", type=int, default=None, help="fine-tune iterations (default: the experiment's)")
    ap.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="a schedule for every variant: method-block values, applied where the block has the field",
    )
    ap.add_argument("--only", nargs="*", default=None, help="variant names to run (default: all)")
    ap.add_argument("--out", default=str(ROOT / "data" / "deviations_toy"))
    ap.add_argument("--report", default=str(ROOT / "docs" / "deviations_toy"), help="writes .md and .json")
    args = ap.parse_args()

    import pipeline  # noqa: F401  (torchvision shim)
    from pipeline.config import write_json
    from pipeline.prepare import prepare
    from pipeline.sweep import summarize, sweep_record

    params = bench_params(args.iters)
    exp = params.experiment
    assert exp.is_toy, "the toy world is the default experiment"
    out = Path(args.out)
    prepared = out / "prepared"
    if not (prepared / "world.json").exists():
        print(f"preparing the toy data in {prepared}", flush=True)
        prepare(exp, out / "raw", prepared)
    schedule = parse_set(args.set)
    todo = chains(params, prepared, args.seeds, schedule)
    if args.only is not None:
        todo = [c for c in todo if c.method in args.only]
    print(f"{len(todo)} chains, {args.jobs} at once", flush=True)
    t0 = time.time()
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futs = [pool.submit(run_one, c, str(out / "chains"), str(prepared), str(out / "cache")) for c in todo]
        for f in futs:
            label, dt = f.result()
            print(f"  {label} ({dt:.0f} s)", flush=True)
    rows = summarize(todo, out / "chains")
    md = table(rows, args.seeds)
    wall = time.time() - t0
    print(md)
    print(f"wall time {wall:.0f} s")
    head = (
        f"TOY-WORLD NUMBERS. Each deviation switch flipped alone from the reference default; "
        f"mean ± std (ddof 1) over seeds {args.seeds}, {exp.train.iters} fine-tune iterations, "
        f"{exp.eval.n_samples} samples per chain, generator world@{exp.assets.world_gan}"
        + (f", toy schedule {', '.join(f'{k}={v}' for k, v in schedule.items())}" if schedule else "")
        + f"; measured by `python benchmarks/deviations_toy.py{' --set ' + ' '.join(args.set) if args.set else ''}`."
    )
    report = Path(args.report)
    report.parent.mkdir(parents=True, exist_ok=True)
    tmp = report.with_suffix(".md.tmp")
    tmp.write_text(head + "\n\n" + md + "\n")
    os.replace(tmp, report.with_suffix(".md"))
    record = sweep_record(todo, out / "chains", exp)  # the sweep table's format: the report renders both alike
    write_json(
        {**record, "note": head, "seeds": args.seeds, "iters": exp.train.iters, "wall_s": round(wall)},
        report.with_suffix(".json"),
    )
    print(json.dumps({"written": [str(report.with_suffix(".md")), str(report.with_suffix(".json"))]}))


if __name__ == "__main__":
    main()
