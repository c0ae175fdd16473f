"""DVC stage `report`: one comparative report of every method block -> reports/.

The report is written into a temporary folder first and moved into reports/ only when complete
(each file by one rename, reports/grids as a whole, metrics.json last), so a failed or killed run
never leaves a half-written page, grid or metrics file behind.
"""

import json
import os
import shutil
import tempfile
from pathlib import Path

from _common import ROOT, main

from pipeline.config import to_jsonable, write_json
from pipeline.data import DataError

ORDER = ("grids", "index.html", "summary.md", "config.json", "metrics.json")  # metrics.json last
DEVIATION_TABLES = (ROOT / "docs" / "deviations_toy.json", ROOT / "docs" / "deviations_toy_schedule.json")


def _read_json(path: Path, stage: str) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: not found; run `dvc repro {stage}` first") from None
    except ValueError as e:
        raise DataError(f"{path}: not valid JSON ({e}); re-run `dvc repro -f {stage}`") from None


def _read_selection(path: Path) -> dict | None:
    """The fine-tune's selection record; None for a model exported before selection.json existed."""
    return _read_json(path, "finetune") if path.is_file() else None


def publish(tmp: Path, dest: Path) -> None:
    """Move the finished report from `tmp` into `dest`, one rename per entry."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ORDER:
        src, dst = tmp / name, dest / name
        if not src.exists():
            continue
        if src.is_dir():
            old = tmp / f".old-{name}"
            if dst.exists():
                os.replace(dst, old)
            os.replace(src, dst)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(src, dst)


def run(params, args):
    from pipeline.config import to_yaml
    from pipeline.report import MethodResult

    exp = params.experiment
    if args.dry_run:
        print(to_yaml(methods=list(params.methods)))
        return
    d = ROOT / "data"
    results = []
    if (d / "metrics" / "pretrained" / "metrics.json").is_file() or exp.is_toy:
        results.append(
            MethodResult(
                name="pretrained",
                description="The pretrained generator, unmodified (stage evaluate_pretrained)",
                grid_png=d / "samples" / "pretrained" / "grid.png",
                metrics=_read_json(d / "metrics" / "pretrained" / "metrics.json", "evaluate_pretrained"),
                provenance=_read_json(d / "metrics" / "pretrained" / "provenance.json", "evaluate_pretrained"),
            )
        )
    for name, cfg in params.methods.items():
        results.append(
            MethodResult(
                name=name,
                description=cfg.description,
                grid_png=d / "samples" / name / "grid.png",
                metrics=_read_json(d / "metrics" / name / "metrics.json", f"evaluate@{name}"),
                provenance=_read_json(d / "metrics" / name / "provenance.json", f"evaluate@{name}"),
                history=d / "finetune" / name / "live",  # DVCLive (stages/live.py)
                selection=_read_selection(d / "finetune" / name / "model" / "selection.json"),
            )
        )
    edits = {}
    for gen in exp.editing.generators:  # written by the `edit` stage: {tool: {"png": name, ...}}
        folder = ROOT / "data" / "edits" / gen
        if (folder / "summary.json").is_file():
            tools = _read_json(folder / "summary.json", "edit")["tools"]
            edits[gen] = {tool: {**info, "png": folder / info["png"]} for tool, info in tools.items()}
    sweep_json = ROOT / "reports" / "sweep.json"  # written by the `sweep` stage
    sweep = _read_json(sweep_json, "sweep") if sweep_json.is_file() else None
    # The deviation switches' effect, measured by benchmarks/deviations_toy.py (committed), per schedule;
    # the same files are this stage's deps in dvc.yaml.
    deviations = [json.loads(p.read_text()) for p in DEVIATION_TABLES if p.is_file()]
    toy = None
    if exp.is_toy:
        from pipeline.methods import prompts
        from pipeline.report import flat_metrics
        from pipeline.world.captions import colour_in
        from pipeline.world.findings import summary_paragraph

        toy = {
            "targets": _read_json(d / "prepared" / "world.json", "prepare"),
            "target_colours": {n: colour_in(prompts(exp, c)[0]) for n, c in params.methods.items()},
            "paragraph": summary_paragraph(flat_metrics(results)),
        }
    from flows import report_flow

    title = (
        "DEMO — " if exp.demo else "TOY WORLD — " if exp.is_toy else ""
    ) + f"Sketch + text customization: {exp.description}"
    settings = {"experiment": to_jsonable(exp), "methods": {k: to_jsonable(v) for k, v in params.methods.items()}}
    out, work = ROOT / "reports", ROOT / "data" / ".tmp"
    work.mkdir(parents=True, exist_ok=True)
    for stale in work.glob("reports.tmp-*"):  # left by a killed earlier run
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix="reports.tmp-", dir=work))
    try:
        written = report_flow(
            out_dir=tmp,
            methods=results,
            title=title,
            experiment=exp.name,
            is_demo=exp.demo,
            settings=settings,
            sketches_png=ROOT / "data" / "prepared" / "sketches.png",
            pretrained_grid_png=ROOT / "data" / "prepared" / "pretrained_grid.png",
            edits=edits,
            sweep=sweep,
            deviations=deviations,
            toy=toy,
        )
        written = {rel: str(out / rel) for rel in written}
        write_json({"stage": "report", "experiment": exp.name, "written": written}, tmp / "config.json")
        publish(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"Report: {out / 'index.html'}")


if __name__ == "__main__":
    main(run, __doc__)
