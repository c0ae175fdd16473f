"""DVC stage `report`: one comparative report of every method block -> reports/."""
import json
from pathlib import Path

from _common import ROOT, main

from pipeline.config import to_jsonable, write_json


def run(params, args):
    from pipeline.report import MethodResult
    exp = params.experiment
    if args.dry_run:
        print(list(params.methods))
        return
    results = []
    for name, cfg in params.methods.items():
        d = ROOT / "data"
        results.append(MethodResult(
            name=name, description=cfg.description,
            grid_png=d / "samples" / name / "grid.png",
            metrics=json.loads((d / "metrics" / name / "metrics.json").read_text()),
            provenance=json.loads((d / "metrics" / name / "provenance.json").read_text()),
            history_csv=d / "finetune" / name / "history.csv"))
    from flows import report_flow
    title = ("DEMO — " if exp.demo else "") + f"Sketch + text customization: {exp.description}"
    settings = {"experiment": to_jsonable(exp), "methods": {k: to_jsonable(v) for k, v in params.methods.items()}}
    written = report_flow(out_dir=Path(ROOT / "reports"), methods=results, title=title, experiment=exp.name,
                          is_demo=exp.demo, settings=settings,
                          sketches_png=ROOT / "data" / "prepared" / "sketches.png",
                          pretrained_grid_png=ROOT / "data" / "prepared" / "pretrained_grid.png")
    write_json({"stage": "report", "experiment": exp.name, "written": written}, ROOT / "reports" / "config.json")
    print(f"Report: {ROOT / 'reports' / 'index.html'}")


if __name__ == "__main__":
    main(run, __doc__)
