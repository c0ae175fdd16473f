"""DVC stage `evaluate@<method>`: FID/KID/precision/recall, CLIP scores and sketch fidelity -> flat JSON
(`--method pretrained`: the unmodified generator, stage `evaluate_pretrained`; in the toy world also
the ground-truth metrics pose_acc, colour_acc, joint_acc, fid_target, fid_prior).

What the metrics need is checked before any work (`preflight`): a bad setting or a missing input
stops the stage with one line naming the key or folder. The output is built in a temporary folder
and renamed to data/metrics/<method> when complete (metrics.json is written last inside it), so a
failed or killed run never leaves partial metrics for the report to read.
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


def preflight(exp, method: str, samples, prepared) -> None:
    """ConfigError / DataError for what compute_metrics would otherwise fail on (after Prefect started)."""

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
    fakes = folder(samples / "images", "generated samples", f"run `dvc repro sample@{method}`")
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
    if "kid" in names:
        for what, files, where in (
            ("generated samples", fakes, samples / "images"),
            ("evaluation photos", reals, prepared / "eval"),
        ):
            if len(files) < ev.kid_subset_size:
                raise DataError(
                    f"{where}: {len(files)} {what}, fewer than {key}.eval.kid_subset_size = "
                    f"{ev.kid_subset_size} (KID draws subsets of that size); lower "
                    f"eval.kid_subset_size or provide more images"
                )
    if {"precision", "recall"} & set(names) and min(len(fakes), len(reals)) <= 3:
        raise DataError(
            f"precision/recall need more than 3 images per set (k = 3 nearest neighbours); got "
            f"{len(fakes)} generated samples in {samples / 'images'} and {len(reals)} evaluation "
            f"photos in {prepared / 'eval'}"
        )


def run(params, args):
    from pipeline.config import to_yaml

    exp = params.experiment
    cfg = None if args.method == PRETRAINED else params.method(args.method)
    out = ROOT / "data" / "metrics" / args.method
    samples, prepared = ROOT / "data" / "samples" / args.method, ROOT / "data" / "prepared"
    if args.dry_run:
        print(to_yaml(eval=exp.eval, clip=exp.clip))
        return
    preflight(exp, args.method, samples, prepared)
    from flows import evaluate_flow

    with atomic_dir(out, tmp_dir=ROOT / "data" / ".tmp") as tmp:
        model = prepared / "pretrained" if cfg is None else ROOT / "data" / "finetune" / args.method / "model"
        values, provenance = evaluate_flow(
            exp, cfg, str(samples), str(prepared), str(ROOT / "data" / "cache" / "features"), str(model)
        )
        write_json(provenance, tmp / "provenance.json")
        write_json(
            {"stage": "evaluate", "method_name": args.method, "eval": exp.eval, "clip": exp.clip}, tmp / "config.json"
        )
        write_json(values, tmp / "metrics.json")  # last: its presence means the stage finished


if __name__ == "__main__":
    main(run, __doc__, method=True)
