"""DVC stage `edit`: StyleCLIP edits, inversion, interpolation, scribble and GANSpace on the
generators named in the experiment's `editing.generators` ("pretrained" or method blocks)."""

from _common import ROOT, check_device, main

from pipeline.config import write_json
from pipeline.io import atomic_dir


def run(params, args):
    from pipeline.config import to_yaml

    exp = params.experiment
    spec = exp.editing
    for g in spec.generators:
        if g != "pretrained":
            params.method(g)  # unknown names fail now, with the list of method blocks
    if spec.interpolation.weights_with:
        params.method(spec.interpolation.weights_with)
    if args.dry_run:
        print(to_yaml(editing=spec))
        return
    check_device(exp)
    from flows import edit_flow

    with atomic_dir(ROOT / "data" / "edits", tmp_dir=ROOT / "data" / ".tmp") as tmp:  # all or nothing
        summary = edit_flow(
            exp,
            {g: (params.method(g) if g != "pretrained" else None) for g in spec.generators},
            str(ROOT / "data"),
            str(tmp),
        )
        write_json({"stage": "edit", "experiment": exp.name, "editing": spec, "summary": summary}, tmp / "config.json")


if __name__ == "__main__":
    main(run, __doc__)
