"""DVC stage `sample@<method>`: the fixed-noise grid and the metric samples of one method."""
import shutil

from _common import ROOT, main

from pipeline.config import write_json


def run(params, args):
    exp, cfg = params.experiment, params.method(args.method)
    out = ROOT / "data" / "samples" / args.method
    if args.dry_run:
        print(exp.eval)
        return
    from flows import sample_flow
    shutil.rmtree(out, ignore_errors=True)
    summary = sample_flow(exp, cfg, str(ROOT / "data" / "finetune" / args.method / "model"),
                          str(ROOT / "data" / "prepared" / "fixed_inputs.pt"), str(out))
    write_json({"stage": "sample", "method_name": args.method, "eval": exp.eval, "seed": exp.seed,
                "summary": summary}, out / "config.json")


if __name__ == "__main__":
    main(run, __doc__, method=True)
