"""DVC stage `finetune@<method>`: fine-tune the pretrained generator with one method block.

Resumable: checkpoints live in data/checkpoints/<method>/<config digest>/ (a persisted, uncached
DVC output), so an interrupted `dvc repro` continues where it stopped, and a changed config starts
a fresh run without touching the old one.
"""

from _common import ROOT, check_device, main

from pipeline.config import write_json
from pipeline.fingerprint import finetune_fingerprint


def fingerprint(exp, method_cfg) -> str:
    """Digest of what decides the weights: the resolved configs, the library code and the prepared data
    (pipeline/fingerprint.py; sweep chains are keyed by the same digest)."""
    return finetune_fingerprint(exp, method_cfg, ROOT / "data" / "prepared")


def run(params, args):
    import torch

    from pipeline.config import to_yaml

    exp, cfg = params.experiment, params.method(args.method)
    out = ROOT / "data" / "finetune" / args.method
    if args.dry_run:
        print(to_yaml(experiment=exp, methods={args.method: cfg}))
        return
    check_device(exp)
    from flows import finetune_flow

    fp = fingerprint(exp, cfg)
    ckpt_dir = ROOT / "data" / "checkpoints" / args.method / fp[:16]
    summary = finetune_flow(exp, cfg, str(ROOT / "data" / "prepared"), str(out), str(ckpt_dir), fp)
    write_json(
        {
            "stage": "finetune",
            "method_name": args.method,
            "experiment": exp,
            "method": cfg,
            "fingerprint": fp,
            "torch_threads": torch.get_num_threads(),  # experiment.cpu_threads, or torch's default
            "summary": summary,
        },
        out / "config.json",
    )


if __name__ == "__main__":
    main(run, __doc__, method=True)
