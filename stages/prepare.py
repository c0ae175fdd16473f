"""DVC stage `prepare`: normalized sketches, photos, evaluation set, checkpoints, fixed grid inputs.

The input folders are checked before any work; the output is built in a temporary folder and
renamed to data/prepared only when complete, so a failed or killed run leaves no partial
data/prepared for a later stage to read.
"""

from _common import ROOT, main

from pipeline.config import write_json
from pipeline.io import atomic_dir


def run(params, args):
    from pipeline.config import to_yaml
    from pipeline.prepare import check_inputs, with_project_paths

    exp = params.experiment
    out, raw = ROOT / "data" / "prepared", ROOT / "data" / "raw"
    if args.dry_run:
        print(to_yaml(experiment=exp))
        return
    resolved = with_project_paths(exp, ROOT)  # assets.*_dir relative to the project root
    check_inputs(resolved, raw)  # a bad folder stops here, before Prefect starts
    from flows import prepare_flow

    with atomic_dir(out, tmp_dir=ROOT / "data" / ".tmp") as tmp:
        summary = prepare_flow(resolved, str(raw), str(tmp))
        write_json({"stage": "prepare", "experiment": exp, "summary": summary}, tmp / "config.json")


if __name__ == "__main__":
    main(run, __doc__)
