"""DVC stage `fetch`: download (or copy from a mirror folder) and verify the experiment's assets.

`synthetic` (the demo) and `toy` (the toy world, committed with the project) need nothing.
Digests of first downloads are recorded in
assets.lock.json (commit it: later fetches are checked against it).
"""

from _common import ROOT, main

from pipeline.config import write_json
from pipeline.fetch_plan import assets_for


def run(params, args):
    from pipeline.config import to_yaml

    exp = params.experiment
    if args.dry_run:
        print(to_yaml(assets=exp.assets, downloads=assets_for(exp)))
        return
    for d in ("raw", "weights"):  # declared outputs exist even when nothing is downloaded
        (ROOT / "data" / d).mkdir(parents=True, exist_ok=True)
    summary = {"source": exp.assets.source, "assets": {}}
    if exp.assets.source not in ("synthetic", "toy"):
        from flows import fetch_flow

        summary["assets"] = fetch_flow(exp, str(ROOT / "data"), str(ROOT / "assets.lock.json"))
    write_json(
        {"stage": "fetch", "experiment": exp.name, "assets": exp.assets, "summary": summary},
        ROOT / "data" / "raw" / "fetch.json",
    )


if __name__ == "__main__":
    main(run, __doc__)
