"""DVC stage `sample@<method>`: the fixed-noise grid and the metric samples of one method
(`--method pretrained`: of the unmodified generator, stage `sample_pretrained`).

Written into a temporary folder and renamed to data/samples/<method> when complete: a failed or
killed run never leaves a partial set of samples for the evaluation to read.
"""

from _common import PRETRAINED, ROOT, check_device, main

from pipeline.config import write_json
from pipeline.io import atomic_dir


def run(params, args):
    from pipeline.config import to_yaml

    exp = params.experiment
    cfg = None if args.method == PRETRAINED else params.method(args.method)
    out = ROOT / "data" / "samples" / args.method
    if args.dry_run:
        print(to_yaml(eval=exp.eval))
        return
    check_device(exp)
    from flows import sample_flow

    with atomic_dir(out, tmp_dir=ROOT / "data" / ".tmp") as tmp:
        model = (
            ROOT / "data" / "prepared" / "pretrained"
            if cfg is None
            else ROOT / "data" / "finetune" / args.method / "model"
        )
        summary = sample_flow(exp, cfg, str(model), str(ROOT / "data" / "prepared" / "fixed_inputs.pt"), str(tmp))
        write_json(
            {"stage": "sample", "method_name": args.method, "eval": exp.eval, "seed": exp.seed, "summary": summary},
            tmp / "config.json",
        )


if __name__ == "__main__":
    main(run, __doc__, method=True)
