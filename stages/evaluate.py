"""DVC stage `evaluate@<method>`: draw the method's fixed-noise grid and metric samples, then
FID/KID/precision/recall, CLIP scores and sketch fidelity -> flat JSON (`--method pretrained`: the
unmodified generator, stage `evaluate_pretrained`; in the toy world also the ground-truth metrics
pose_acc, colour_acc, joint_acc, fid_target, fid_prior).

What the metrics need is checked before any work (`preflight`): a bad setting or a missing input
stops the stage with one line naming the key or folder. Each output is built in a temporary folder
and renamed when complete: data/samples/<method> before the metrics are computed (they read, and
record, the samples where they stay), then data/metrics/<method> (metrics.json written last). So a
failed or killed run never leaves partial samples or metrics for the report.
"""

from _common import PRETRAINED, ROOT, check_device, main

from pipeline.config import ConfigError, write_json
from pipeline.data import DataError, list_images
from pipeline.io import atomic_dir


def folder(path, what: str, fix: str) -> list:
    """The images of `path`; DataError saying what is missing and how to make it."""
    if not path.is_dir():
        raise DataError(f"{path}: {what} folder not found ({fix})")
    return list_images(path, what)


def preflight(exp, method: str, model, prepared) -> None:
    """ConfigError / DataError for what sampling and compute_metrics would otherwise fail on (after
    Prefect started). `model`: the generator's folder (netG.pth)."""

    from pipeline.metrics import registered_metrics

    key = f"experiments.{exp.name}"
    names, ev = list(exp.eval.metrics), exp.eval
    unknown = [n for n in names if n not in registered_metrics()]
    if unknown:
        raise ConfigError(
            f"{key}.eval.metrics: unknown metric(s) {', '.join(unknown)}; registered: {', '.join(registered_metrics())}"
        )
    check_device(exp)
    if any(n.startswith("clip_score") for n in names):
        from pipeline.nets.clip import resolve_model_name  # importing it registers the demo's tiny CLIP

        try:
            resolve_model_name(exp.clip.model)
        except ValueError as e:
            raise ConfigError(f"{key}.clip.model: {e}") from None
        if exp.clip.checkpoint and not (ROOT / exp.clip.checkpoint).is_file():
            raise DataError(f"{key}.clip.checkpoint: {ROOT / exp.clip.checkpoint}: CLIP checkpoint file not found")
    if ev.feature_weights and not (ROOT / ev.feature_weights).is_file():
        raise DataError(
            f"{key}.eval.feature_weights: {ROOT / ev.feature_weights}: weights file not found "
            "(fetched by `dvc repro fetch`)"
        )
    stage = "prepare" if method == PRETRAINED else f"finetune@{method}"
    if not (model / "netG.pth").is_file():
        raise DataError(f"{model / 'netG.pth'}: generator not found (run `dvc repro {stage}`)")
    if not (prepared / "fixed_inputs.pt").is_file():
        raise DataError(f"{prepared / 'fixed_inputs.pt'}: the grid's fixed inputs not found (run `dvc repro prepare`)")
    if "sketch_chamfer" in names:
        folder(prepared / "sketches", "input sketches", "run `dvc repro prepare`")
    if not {"fid", "kid", "precision", "recall"} & set(names):
        return
    reals = folder(
        prepared / "eval",
        "evaluation photos",
        f"run `dvc repro prepare`; it makes the evaluation set from the fetched eval_data.zip, the "
        f"demo data or your own folder {key}.assets.eval_dir",
    )
    if "kid" in names and len(reals) < ev.kid_subset_size:
        raise DataError(
            f"{prepared / 'eval'}: {len(reals)} evaluation photos, fewer than {key}.eval.kid_subset_size = "
            f"{ev.kid_subset_size} (KID draws subsets of that size); lower eval.kid_subset_size or provide "
            "more images"
        )
    if {"precision", "recall"} & set(names) and min(ev.n_samples, len(reals)) <= 3:
        raise DataError(
            f"precision/recall need more than 3 images per set (k = 3 nearest neighbours); got "
            f"{key}.eval.n_samples = {ev.n_samples} and {len(reals)} evaluation photos in {prepared / 'eval'}"
        )


def run(params, args):
    from pipeline.config import to_yaml

    exp = params.experiment
    cfg = None if args.method == PRETRAINED else params.method(args.method)
    data, prepared = ROOT / "data", ROOT / "data" / "prepared"
    model = prepared / "pretrained" if cfg is None else data / "finetune" / args.method / "model"
    if args.dry_run:
        print(to_yaml(eval=exp.eval, clip=exp.clip))
        return
    preflight(exp, args.method, model, prepared)
    from flows import evaluate_flow

    with atomic_dir(data / "metrics" / args.method, tmp_dir=data / ".tmp") as metrics:
        values, provenance = evaluate_flow(
            exp,
            cfg,
            str(model),
            str(prepared / "fixed_inputs.pt"),
            str(data / "samples" / args.method),
            str(prepared),
            str(data / "cache" / "features"),
            str(data / ".tmp"),
            {"stage": "evaluate", "method_name": args.method, "eval": exp.eval, "seed": exp.seed},
        )
        write_json(provenance, metrics / "provenance.json")
        write_json(
            {"stage": "evaluate", "method_name": args.method, "eval": exp.eval, "clip": exp.clip},
            metrics / "config.json",
        )
        write_json(values, metrics / "metrics.json")  # last: its presence means the stage finished


if __name__ == "__main__":
    main(run, __doc__, method=True)
