"""The fine-tune's live progress through DVCLive (the DVC ecosystem's logger).

data/finetune/<method>/live/ then holds what `dvc plots`, `dvc exp show`, DVC's VS Code extension and
the studio read while the run goes on:

    metrics.json                         the latest value of every loss, and the step
    plots/metrics/train/<loss>.tsv       one row per logged step (train.log_every): step, value
    plots/images/preview/<step>.png      fixed-noise grids of the generator being trained
                                         (train.preview_every; none when 0)

On a resumed run the folder is rebuilt from the checkpoint's loss rows first, so it always matches the
step the run continues from (DVCLive's own resume would keep rows logged after that checkpoint).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pipeline.train import Progress


class LiveProgress(Progress):
    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.live = None

    def start(self, step: int, rows: list[dict]) -> None:
        from dvclive import Live

        shutil.rmtree(self.dir, ignore_errors=True)
        # No dvc.yaml of its own (dvc.yaml declares the plots) and no experiment of its own: the
        # DVC stage, run by `dvc repro` or `dvc exp run`, is the experiment.
        self.live = Live(dir=str(self.dir), save_dvc_exp=False, dvcyaml=False, report=None)
        (self.dir / "plots" / "images").mkdir(parents=True, exist_ok=True)  # a DVC output, even when empty
        for row in rows:
            self._write(int(row["step"]), {k: float(v) for k, v in row.items() if k != "step"})
        self.live.make_summary()

    def _write(self, step: int, logs: dict[str, float]) -> None:
        self.live.step = step
        for name, value in logs.items():
            self.live.log_metric(f"train/{name}", value)

    def log(self, step: int, logs: dict[str, float]) -> None:
        self._write(step, logs)
        self.live.make_summary()  # metrics.json: what `dvc exp show` and the studio read mid-run

    def preview(self, step: int, image) -> None:
        self.live.step = step
        self.live.log_image(f"preview/{step:07d}.png", image)

    def end(self, step: int) -> None:
        self.live.step = step
        self.live.end()
