"""DVC stage `sample@<method>`: the fixed-noise grid and the metric samples of one method.

Written into a temporary folder and renamed to data/samples/<method> when complete: a failed or
killed run never leaves a partial set of samples for the evaluation to read.
"""
from _common import ROOT, main

from pipeline.config import ConfigError, write_json
from pipeline.io import atomic_dir


def run(params, args):
    exp, cfg = params.experiment, params.method(args.method)
    out = ROOT / "data" / "samples" / args.method
    if args.dry_run:
        print(exp.eval)
        return
    import torch
    if exp.train.device == "cuda" and not torch.cuda.is_available():  # say so before Prefect starts
        raise ConfigError(f"experiments.{exp.name}.train.device: 'cuda' requested but no CUDA device is "
                          "available (torch.cuda.is_available() is False); use 'auto' or 'cpu'")
    from flows import sample_flow
    with atomic_dir(out, tmp_dir=ROOT / "data" / ".tmp") as tmp:
        summary = sample_flow(exp, cfg, str(ROOT / "data" / "finetune" / args.method / "model"),
                              str(ROOT / "data" / "prepared" / "fixed_inputs.pt"), str(tmp))
        write_json({"stage": "sample", "method_name": args.method, "eval": exp.eval, "seed": exp.seed,
                    "summary": summary}, tmp / "config.json")


if __name__ == "__main__":
    main(run, __doc__, method=True)
