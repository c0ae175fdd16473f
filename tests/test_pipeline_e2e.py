"""End to end through DVC: the real stages and Prefect flows on a tiny config in a temporary copy
of the project. Kills fine-tuning mid-run and checks the re-run (`make demo`'s parallel runner) resumes; checks every declared
output; checks that a no-op `dvc repro` does nothing and that editing one method's learning rate
re-runs only that method's stages and the report."""

import json
import os
import signal
import subprocess
import time

import pytest
import yaml
from PIL import Image
from project import BIN, dvc, make_project, proj_env, syog_methods

pytestmark = pytest.mark.slow

ITERS = 60  # each fine-tune's steps


@pytest.fixture(scope="module")
def proj(tmp_path_factory):
    methods = syog_methods(syog_noaug={"diffaug": "", "description": "baseline without DiffAugment"})
    # Enough steps that the kill lands mid-run (it comes at the first checkpoint, step 10); seconds at 32 px.
    return make_project(
        tmp_path_factory.mktemp("e2e") / "proj",
        {
            "experiments.demo.cpu_threads": 2,
            "experiments.demo.train": {
                "iters": ITERS,
                "batch": 2,
                "ckpt_every": 10,
                "log_every": 5,
                "preview_every": 20,
                "device": "cpu",
            },
        },
        methods,
    )


@pytest.fixture(scope="module")
def killed_then_completed(proj):
    """Run until the first fine-tune checkpoint exists, SIGKILL the whole `dvc repro`, then re-run."""
    dvc(proj, "repro", "prepare")
    log = open(proj.parent / "killed.log", "w")
    p = subprocess.Popen(
        [str(BIN / "dvc"), "repro", "finetune@syog"],
        cwd=proj,
        env=proj_env(proj),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.time() + 300
    ckpts = []
    while time.time() < deadline and p.poll() is None:
        ckpts = list((proj / "data" / "checkpoints" / "syog").glob("*/ckpt_*.pt"))
        if ckpts:
            break
        time.sleep(0.05)
    assert p.poll() is None and ckpts, "fine-tuning finished or failed before a checkpoint could be killed"
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    assert not (proj / "data" / "finetune" / "syog" / "model" / "netG.pth").exists()
    killed_at = max(int(c.stem.split("_")[1]) for c in ckpts)
    # The rest through `make demo`'s runner (stages/repro.py, two stages at a time); the no-op test
    # below then checks with plain `dvc repro` that it left what DVC itself would have. The
    # environment asks for one thread; params' cpu_threads (2) must win (test below).
    r = subprocess.run(
        [str(BIN / "python"), "stages/repro.py", "-j", "2"],
        cwd=proj,
        env={**proj_env(proj), "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
    )
    logs = "".join(f.read_text() for f in sorted((proj / ".dvc" / "tmp" / "repro").glob("*.log")))
    assert r.returncode == 0, f"stages/repro.py failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return killed_at, r.stdout + logs


def test_killed_finetune_resumes_from_checkpoint(killed_then_completed):
    killed_at, out = killed_then_completed
    assert 0 < killed_at < ITERS
    resumed = [line for line in out.splitlines() if "resuming syog from step" in line]
    assert resumed, out[-3000:]
    step = int(resumed[0].split("from step ")[1].split()[0])
    assert step >= killed_at, f"resumed from {step}, expected >= {killed_at} (not from step 0)"


def test_stages_run_the_experiments_cpu_threads(proj, killed_then_completed):
    """Each fine-tune ran params' cpu_threads torch threads (2 here), not what the environment gave
    (OMP_NUM_THREADS=1): the count decides the weights' last bits."""
    threads = yaml.safe_load((proj / "params.yaml").read_text())["experiments"]["demo"]["cpu_threads"]
    assert threads == 2
    for m in ("syog", "syog_noaug"):
        cfg = json.loads((proj / "data" / "finetune" / m / "config.json").read_text())
        assert cfg["torch_threads"] == threads, (m, cfg["torch_threads"])


def test_every_declared_output(proj, killed_then_completed):
    lock = yaml.safe_load((proj / "dvc.lock").read_text())["stages"]
    expected = (
        {"fetch", "prepare", "edit", "sweep", "report", "evaluate_pretrained"}
        | {f"{s}@{m}" for s in ("finetune", "evaluate") for m in ("syog", "syog_noaug")}
        | {f"world@{p}" for p in ("oracle", "sketcher", "clip", "gan")}
        | {"world_gan_continued"}
    )  # frozen: verified, not run
    assert set(lock) == expected
    for stage, entry in lock.items():
        for out in entry.get("outs", []):
            path = proj / out["path"]
            assert path.exists(), f"{stage}: declared output {out['path']} missing"
    # What a researcher opens:
    import torch

    from pipeline.nets.checkpoint import load_file
    from pipeline.nets.stylegan2 import Generator, StyleGAN2Config

    G = Generator(StyleGAN2Config(size=32, style_dim=32, n_mlp=2, channel_base=256, channel_max=32))
    G.load_state_dict(load_file(proj / "data/finetune/syog/model/netG.pth"))  # published format, strict
    pre = load_file(proj / "data/prepared/pretrained/netG.pth")
    assert not torch.equal(G.state_dict()["style.1.weight"], pre["style.1.weight"])
    assert torch.equal(G.state_dict()["conv1.conv.weight"], pre["conv1.conv.weight"])
    # The loss history is DVCLive's (stages/live.py): one TSV per loss, rebuilt from the checkpoint on
    # resume, so the rows from before the kill survive and none is doubled.
    live = proj / "data/finetune/syog/live"
    for loss in ("d_image", "d_sketch", "g_image", "g_sketch"):
        rows = (live / "plots/metrics/train" / f"{loss}.tsv").read_text().splitlines()
        assert rows[0].split("\t") == ["step", loss]
        steps = [int(r.split("\t")[0]) for r in rows[1:]]
        assert steps == list(range(0, ITERS, 5)) + [ITERS - 1], "rows from before the kill must survive the resume"
    summary = json.loads((live / "metrics.json").read_text())
    assert summary["step"] == ITERS - 1 and {"d_image", "d_sketch", "g_image", "g_sketch"} <= set(summary["train"])
    previews = sorted(p.name for p in (live / "plots/images/preview").glob("*.png"))
    assert previews == ["0000020.png", "0000040.png", "0000060.png"]
    assert Image.open(live / "plots/images/preview/0000060.png").size == (8 * 34 + 2, 2 * 34 + 2)  # 16 tiles
    for m in ("syog", "syog_noaug"):
        grid = Image.open(proj / f"data/samples/{m}/grid.png")
        assert grid.size == (8 * 34 + 2, 4 * 34 + 2)  # 32 tiles of 32 px, 8 x 4, 2 px padding
        assert len(list((proj / f"data/samples/{m}/images").glob("*.png"))) == 16
        metrics = json.loads((proj / f"data/metrics/{m}/metrics.json").read_text())
        assert {"fid", "kid_mean", "precision", "recall", "clip_score_target", "sketch_chamfer"} <= set(metrics)
        prov = json.loads((proj / f"data/metrics/{m}/provenance.json").read_text())
        assert prov["demo"] is True and prov["n_samples"] == 16
    report = json.loads((proj / "reports/metrics.json").read_text())
    assert set(report) == {"pretrained", "syog", "syog_noaug"}
    html = (proj / "reports/index.html").read_text()
    assert "DEMO NUMBERS" in html and "syog_noaug" in html
    assert "DEMO NUMBERS" in (proj / "reports/summary.md").read_text()
    # The default grid is empty: the sweep stage ran no chain and the report says so in one line.
    assert json.loads((proj / "reports/sweep.json").read_text())["configured"] is False
    assert "No sweep configured" in (proj / "reports/summary.md").read_text() and "No sweep configured" in html
    tools = json.loads((proj / "data/edits/syog/summary.json").read_text())["tools"]
    assert set(tools) == {
        "latent_opt",
        "mapper",
        "global_directions",
        "inversion",
        "interpolation",
        "scribble",
        "ganspace",
    }
    for info in tools.values():
        assert Image.open(proj / "data/edits/syog" / info["png"]).size[0] > 32 and info["seconds"] >= 0
    assert "<h2>Edits</h2>" in html and "global_directions" in html
    # Same fixed noise for every method: the pretrained grid is reproduced by re-rendering.
    assert (proj / "data/prepared/fixed_inputs.pt").is_file()


def test_second_repro_is_a_no_op(proj, killed_then_completed):
    # Python's bytecode caches in the code folders the stages depend on (written by any run without
    # PYTHONDONTWRITEBYTECODE) change no stage: .dvcignore leaves them out
    for folder in ("pipeline/nets", "pipeline/metrics", "stages"):
        (proj / folder / "__pycache__").mkdir(exist_ok=True)
        (proj / folder / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"bytecode")
    out = dvc(proj, "repro")
    assert "Data and pipelines are up to date." in out
    assert "Running stage" not in out


def test_changing_one_learning_rate_reruns_only_that_method(proj, killed_then_completed):
    params = yaml.safe_load((proj / "params.yaml").read_text())
    params["methods"]["syog"]["lr"] = 0.001
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = dvc(proj, "repro")
    ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}
    # `edit` works on the syog generator here (tests/tiny.py), so it follows; syog_noaug is untouched.
    # `sweep` reads every method block (its grid is empty here: it runs no chain and takes seconds).
    assert ran == {"finetune@syog", "evaluate@syog", "edit", "sweep", "report"}, out[-3000:]
