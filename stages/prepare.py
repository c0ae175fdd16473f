"""DVC stage `prepare`: normalized sketches, photos, evaluation set, checkpoints, fixed grid inputs."""
import shutil

from _common import ROOT, main

from pipeline.config import write_json


def run(params, args):
    exp = params.experiment
    out = ROOT / "data" / "prepared"
    if args.dry_run:
        print(exp)
        return
    from flows import prepare_flow
    shutil.rmtree(out, ignore_errors=True)  # DVC removes outs too; a manual run must not mix old files
    summary = prepare_flow(exp, str(ROOT / "data" / "raw"), str(out))
    write_json({"stage": "prepare", "experiment": exp, "summary": summary}, out / "config.json")


if __name__ == "__main__":
    main(run, __doc__)
