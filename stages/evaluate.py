"""DVC stage `evaluate@<method>`: FID/KID/precision/recall, CLIP scores and sketch fidelity -> flat JSON."""
import shutil

from _common import ROOT, main

from pipeline.config import write_json


def run(params, args):
    exp, cfg = params.experiment, params.method(args.method)
    out = ROOT / "data" / "metrics" / args.method
    if args.dry_run:
        print(exp.eval, exp.clip, sep="\n")
        return
    from flows import evaluate_flow
    shutil.rmtree(out, ignore_errors=True)
    values, provenance = evaluate_flow(exp, cfg, str(ROOT / "data" / "samples" / args.method),
                                       str(ROOT / "data" / "prepared"), str(ROOT / "data" / "cache" / "features"))
    write_json(provenance, out / "provenance.json")
    write_json({"stage": "evaluate", "method_name": args.method, "eval": exp.eval, "clip": exp.clip}, out / "config.json")
    write_json(values, out / "metrics.json")  # last: its presence means the stage finished


if __name__ == "__main__":
    main(run, __doc__, method=True)
