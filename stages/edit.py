"""DVC stage `edit`: StyleCLIP edits, inversion, interpolation, scribble and GANSpace on the
generators named in the experiment's `editing.generators` ("pretrained" or method blocks)."""
import shutil

from _common import ROOT, main

from pipeline.config import write_json


def run(params, args):
    exp = params.experiment
    spec = exp.editing
    for g in spec.generators:
        if g != "pretrained":
            params.method(g)  # unknown names fail now, with the list of method blocks
    if spec.interpolation.weights_with:
        params.method(spec.interpolation.weights_with)
    if args.dry_run:
        print(spec)
        return
    from flows import edit_flow
    out = ROOT / "data" / "edits"
    tmp = out.with_name(".edits.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    summary = edit_flow(exp, {g: (params.method(g) if g != "pretrained" else None) for g in spec.generators},
                        str(ROOT / "data"), str(tmp))
    write_json({"stage": "edit", "experiment": exp.name, "editing": spec, "summary": summary}, tmp / "config.json")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)  # all or nothing: a killed run leaves the previous edits or none


if __name__ == "__main__":
    main(run, __doc__)
