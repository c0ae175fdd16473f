"""DVC stage `world@<part>` (and `world_gan_continued`): train one of the toy world's networks.

The trained files are committed (README "The toy world"), and the stages are frozen in dvc.yaml so
that `dvc repro` uses them instead of retraining for two hours; retrain a part with
`dvc unfreeze world@gan && dvc repro world@gan` (or run this script). The GAN resumes from
data/checkpoints/world/gan after an interruption.
"""

from _common import ROOT, main


def run(params, args):
    import sys

    from pipeline.config import ConfigError, to_yaml
    from pipeline.world.build import PARTS

    spec = params.world
    if args.part not in PARTS:
        raise ConfigError(f"--part: must be one of {', '.join(PARTS)}, got {args.part!r}")
    if args.dry_run:
        print(to_yaml(world=spec))
        return
    from flows import world_flow

    out = ROOT / spec.out / args.part
    world_flow(
        args.part, spec, str(out), str(ROOT / "data" / "checkpoints" / "world" / args.part), str(ROOT / "data" / ".tmp")
    )
    print(f"world {args.part}: {out}", file=sys.stderr)


if __name__ == "__main__":
    main(
        run,
        __doc__,
        extra_args=[("--part", {"required": True, "help": "oracle, sketcher, clip, gan or gan_continued"})],
        experiment_stage=False,  # the world's own params; its training keeps torch's default threads
    )
