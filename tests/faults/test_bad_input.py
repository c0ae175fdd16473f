"""Bad input through the stage scripts (`python stages/<stage>.py --params P`), as a user meets it:
exit code 2, one `error:` line naming the key or file and what was expected, and no output written
(no data/prepared, no data/metrics/<method>, no temporary folder).

Most checks run before Prefect starts, so each case takes seconds. Two cases need a whole stage
run: the RGBA + odd-sized sketches that are normalized (prepare), and CUDA requested on a machine
without it (finetune: checked inside its flow; evaluate checks it before).
"""

import shutil

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from project import make_project, stage, syog_methods
from tiny import ROOT, write_tiny_params

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def proj(tmp_path_factory):
    return make_project(tmp_path_factory.mktemp("bad") / "proj", methods=syog_methods())


@pytest.fixture
def params(proj, tmp_path):
    """params(**overrides) -> a params file for the tiny project with these dotted overrides."""
    n = iter(range(100))

    def write(overrides=None, methods=None):
        return write_tiny_params(tmp_path / f"params{next(n)}.yaml", overrides, methods or syog_methods())

    return write


@pytest.fixture(autouse=True)
def clean_data(proj):
    yield
    shutil.rmtree(proj / "data", ignore_errors=True)


def png(path, mode="L", size=(32, 32), fill=255):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, fill).save(path)
    return path


def fails(r, *phrases):
    """Exit code 2, and the last `error:` line holds every phrase. Returns that line."""
    lines = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert r.returncode == 2 and lines, f"rc {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    line = lines[-1]
    print(f"\nuser sees: {line}")  # `pytest -s` shows it (tests/faults/README.md quotes these)
    for phrase in phrases:
        assert phrase in line, f"{phrase!r} not in {line!r}"
    return line


def nothing_written(proj, out="data/prepared"):
    assert not (proj / out).exists(), f"{out} written by a failed stage"
    tmp = proj / "data" / ".tmp"
    assert not tmp.exists() or not any(tmp.iterdir()), f"left behind: {list(tmp.iterdir())}"


# ----------------------------------------------------------------------------
# Sketch folders (prepare)


def test_missing_sketch_folder(proj, params):
    r = stage(proj, "prepare", params=params({"experiments.demo.assets.sketch_dir": "my_sketches"}))
    fails(r, "experiments.demo.assets.sketch_dir", f"{proj / 'my_sketches'}: sketches folder not found")
    nothing_written(proj)


def test_empty_sketch_folder(proj, params):
    (proj / "empty").mkdir(exist_ok=True)
    r = stage(proj, "prepare", params=params({"experiments.demo.assets.sketch_dir": "empty"}))
    fails(r, "experiments.demo.assets.sketch_dir", "no sketches found", "the folder is empty")
    nothing_written(proj)


def test_folder_with_only_non_image_files(proj, params):
    d = proj / "notes"
    d.mkdir(exist_ok=True)
    (d / "README.txt").write_text("my sketches are elsewhere")
    (d / "cat.psd").write_bytes(b"8BPS")
    r = stage(proj, "prepare", params=params({"experiments.demo.assets.sketch_dir": str(d)}))
    fails(r, str(d), "no sketches found", ".png", "found only README.txt, cat.psd")
    nothing_written(proj)


def test_corrupt_png(proj, params):
    d = proj / "corrupt"
    png(d / "000.png")
    good = (d / "000.png").read_bytes()
    (d / "001.png").write_bytes(good[: len(good) // 2])  # truncated
    r = stage(proj, "prepare", params=params({"experiments.demo.assets.sketch_dir": "corrupt"}))
    fails(r, "experiments.demo.assets.sketch_dir", f"{d / '001.png'}: not a readable image")
    nothing_written(proj)


def test_rgba_and_odd_sized_sketches_are_normalized(proj, params):
    """Transparent background -> white; 45x71 and 100x60 -> 32x32; mode L. The whole prepare runs."""
    d = proj / "mine"
    d.mkdir(exist_ok=True)
    a = np.zeros((71, 45, 4), np.uint8)  # RGBA, fully transparent...
    a[30:40, 5:40] = (0, 0, 0, 255)  # ...with one opaque black stroke
    Image.fromarray(a, "RGBA").save(d / "rgba.png")
    b = np.full((60, 100), 255, np.uint8)  # L, odd size, black on white
    b[:, 48:52] = 0
    Image.fromarray(b, "L").save(d / "wide.png")
    Image.fromarray(255 - b, "L").save(d / "white_on_black.png")  # inverted to black on white
    r = stage(proj, "prepare", params=params({"experiments.demo.assets.sketch_dir": "mine"}))
    assert r.returncode == 0, r.stderr[-3000:]
    out = sorted((proj / "data" / "prepared" / "sketches").glob("*.png"))
    assert len(out) == 3
    for p in out:
        im = Image.open(p)
        assert im.mode == "L" and im.size == (32, 32), (p, im.mode, im.size)
        arr = np.asarray(im)
        assert arr[0, 0] == 255 and arr[-1, -1] == 255 and arr.mean() > 150  # white background
        assert arr.min() < 64  # the stroke survived
    assert len(list((proj / "data" / "prepared" / "photos").glob("*.png"))) == 8  # the demo's photos
    config = (proj / "data" / "prepared" / "config.json").read_text()
    assert str(d) in config
    nothing_written(proj, out="data/metrics")


# ----------------------------------------------------------------------------
# params.yaml


def test_params_type_error(proj, params):
    r = stage(proj, "prepare", params=params({"experiments.demo.train": {"iters": "many", "batch": 2}}))
    fails(r, "experiments.demo.train.iters: Input should be a valid integer, got str 'many'")
    nothing_written(proj)


def test_unknown_method(proj, params):
    methods = syog_methods()
    methods["syog"]["method"] = "sygo"
    r = stage(proj, "finetune", "--method", "syog", params=params(methods=methods))
    fails(r, "methods.syog.method: unknown method 'sygo'; registered: clip_direction, clip_global, diagonal, syog")
    r = stage(proj, "finetune", "--method", "nada", params=params())
    fails(r, "methods.nada: no such method block; defined: syog")
    nothing_written(proj, out="data/finetune")


@pytest.mark.parametrize("key", ["experiments.demo.target_prompt", "methods.clip_global.target_prompt"])
def test_empty_prompt(proj, params, key):
    if key.startswith("methods"):  # a CLIP method's own prompt
        clip_global = yaml.safe_load((ROOT / "params.yaml").read_text())["methods"]["clip_global"]
        methods = {"clip_global": {**clip_global, "target_prompt": "  "}}
        r = stage(proj, "finetune", "--method", "clip_global", params=params(methods=methods))
    else:
        r = stage(proj, "prepare", params=params({key: ""}))
    fails(r, f"{key}: must be a non-empty prompt")
    nothing_written(proj)


def test_base_url_without_official_source(proj, params):
    r = stage(proj, "fetch", params=params({"experiments.demo.assets.base_url": "http://127.0.0.1:9/files"}))
    fails(r, "experiments.demo.assets.base_url: only used with source 'official'")


# ----------------------------------------------------------------------------
# Devices and evaluation


def fake_evaluation_inputs(proj, n_eval=16):
    """What evaluate reads besides the settings, as tiny files (the checks run before any work)."""
    for i in range(n_eval):
        png(proj / f"data/prepared/eval/{i:06d}.png", "RGB", fill=(120, i * 9, 80))
    png(proj / "data/prepared/sketches/000000.png")
    for f in ("data/finetune/syog/model/netG.pth", "data/prepared/fixed_inputs.pt"):
        (proj / f).parent.mkdir(parents=True, exist_ok=True)
        (proj / f).write_bytes(b"")  # present: the checks under test come first or look elsewhere


def test_unknown_clip_model(proj, params):
    fake_evaluation_inputs(proj)
    r = stage(proj, "evaluate", "--method", "syog", params=params({"experiments.demo.clip.model": "ViT-Q-99"}))
    fails(r, "experiments.demo.clip.model: unknown CLIP model 'ViT-Q-99'", "ViT-B-32-quickgelu")
    nothing_written(proj, out="data/metrics/syog")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_requested_but_absent(proj, params):
    p = params({"experiments.demo.train": {"iters": 8, "batch": 2, "ckpt_every": 2, "log_every": 1, "device": "cuda"}})
    fake_evaluation_inputs(proj)
    r = stage(proj, "evaluate", "--method", "syog", params=p)  # checked before Prefect starts
    fails(r, "experiments.demo.train.device: 'cuda' requested but no CUDA device is available", "use 'auto' or 'cpu'")
    nothing_written(proj, out="data/metrics/syog")
    assert not (proj / "data" / "samples").exists()
    shutil.rmtree(proj / "data" / "finetune")  # the fake generator: finetune must write none
    r = stage(proj, "finetune", "--method", "syog", params=p)  # inside the flow: after Prefect started
    fails(r, "train.device: 'cuda' requested but no CUDA device is available")
    assert not (proj / "data" / "finetune" / "syog" / "model").exists()


def test_fewer_evaluation_photos_or_samples_than_kid_subset(proj, params):
    r = stage(proj, "evaluate", "--method", "syog", params=params({"experiments.demo.eval.kid_subset_size": 32}))
    fails(r, "experiments.demo.eval.kid_subset_size: 32 exceeds n_samples 16")  # in params.yaml
    fake_evaluation_inputs(proj, n_eval=5)  # or too few evaluation photos (a folder of your own)
    r = stage(proj, "evaluate", "--method", "syog", params=params())
    fails(
        r,
        f"{proj / 'data/prepared/eval'}: 5 evaluation photos, fewer than experiments.demo.eval.kid_subset_size = 8",
    )
    nothing_written(proj, out="data/metrics/syog")


def test_a_missing_generator_names_the_stage_that_makes_it(proj, params):
    fake_evaluation_inputs(proj)
    (proj / "data/finetune/syog/model/netG.pth").unlink()
    r = stage(proj, "evaluate", "--method", "syog", params=params())
    fails(r, f"{proj / 'data/finetune/syog/model/netG.pth'}: generator not found (run `dvc repro finetune@syog`)")
    nothing_written(proj, out="data/metrics/syog")
    assert not (proj / "data" / "samples").exists()


def test_missing_evaluation_set(proj, params):
    r = stage(proj, "prepare", params=params({"experiments.demo.assets.eval_dir": "eval_photos"}))
    fails(r, "experiments.demo.assets.eval_dir", f"{proj / 'eval_photos'}: evaluation photos folder not found")
    nothing_written(proj)
    fake_evaluation_inputs(proj)
    shutil.rmtree(proj / "data" / "prepared" / "eval")  # prepared data without its evaluation set
    r = stage(proj, "evaluate", "--method", "syog", params=params())
    fails(r, f"{proj / 'data/prepared/eval'}: evaluation photos folder not found (run `dvc repro prepare`")
    nothing_written(proj, out="data/metrics/syog")
