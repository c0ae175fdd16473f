"""The studio's job runner: one job at a time, detached from the studio, cancellable, its end state
and error recorded; and the form validated by the pipeline's own params validation."""

import sys
import time

import pytest
from tiny import ROOT

from studio.experiment import Form, FormError, dvc_set_args, hydra_value, overrides, read_params, validate
from studio.jobs import JobBusy, JobRunner


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_job_runs_detached_and_records_success(tmp_path):
    runner = JobRunner(ROOT, tmp_path / "state")
    job = runner.launch_command(py("print('hello from the job')"), "ok")
    done = runner.wait(30)
    assert done["id"] == job["id"] and done["status"] == "succeeded" and done["returncode"] == 0
    assert "hello from the job" in runner.log_tail(done)
    # another runner object (a restarted studio, a second tab) reads the same state
    assert JobRunner(ROOT, tmp_path / "state").current()["id"] == job["id"]


def test_a_failed_job_keeps_its_error_message(tmp_path):
    runner = JobRunner(ROOT, tmp_path / "state")
    runner.launch_command(py("import sys; print('ERROR: failed to reproduce finetune@syog: boom'); sys.exit(3)"), "bad")
    done = runner.wait(30)
    assert done["status"] == "failed" and done["returncode"] == 3
    assert done["error"] == "ERROR: failed to reproduce finetune@syog: boom"


def test_one_job_at_a_time_and_cancel(tmp_path):
    runner = JobRunner(ROOT, tmp_path / "state")
    job = runner.launch_command(py("import time; time.sleep(60)"), "long")
    runner.wait(1.0)  # let it start
    with pytest.raises(JobBusy, match="a customization is already running \\(long"):
        JobRunner(ROOT, tmp_path / "state").launch_command(py("pass"), "second")
    assert runner.current()["id"] == job["id"]  # the refused launch changed nothing
    t = time.time()
    cancelled = runner.cancel()
    assert cancelled["status"] == "cancelled" and time.time() - t < 10
    assert runner.wait(5)["status"] == "cancelled"  # the worker's own end state does not overwrite it
    nxt = runner.launch_command(py("pass"), "after")  # the slot is free again
    assert runner.wait(30)["id"] == nxt["id"]


def test_a_dead_worker_is_reported_as_failed(tmp_path):
    runner = JobRunner(ROOT, tmp_path / "state")
    runner.write(
        {
            "id": "x",
            "name": "ghost",
            "status": "running",
            "worker_pid": 2**22 + 12345,
            "started": 0,
            "log": str(tmp_path / "none.txt"),
        }
    )
    job = runner.current()
    assert job["status"] == "failed" and "ended without a result" in job["error"]


def form(**kw):
    base = dict(
        target_prompt="a photo of a pink cat",
        source_prompt="",
        methods=("syog", "clip_direction"),
        iters=50,
        sketch_dir="data/studio/sketches/0123456789abcdef",
    )
    return Form(**{**base, **kw})


def test_the_form_becomes_params_overrides_that_the_pipeline_accepts():
    params = validate(form(), ROOT)
    assert set(params.methods) == {"syog", "clip_direction"}
    exp = params.experiment
    assert exp.target_prompt == "a photo of a pink cat" and exp.train.iters == 50
    assert exp.assets.sketch_dir == "data/studio/sketches/0123456789abcdef"
    assert set(exp.editing.generators) <= {"syog", "clip_direction"}


def test_dvc_applies_the_set_arguments_to_params_yaml_as_the_form_says(tmp_path):
    """The -S arguments through DVC's own Hydra override code (what `dvc exp run -S` runs): keys that
    params.yaml lacks (train.preview_every) are added, unchosen blocks removed, prompts kept verbatim."""
    import shutil

    import yaml
    from dvc.utils.hydra import apply_overrides

    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    f = Form("a photo of a 'pink' cat, standing", "", ("syog", "clip_direction"), 200, "data/studio/sketches/ab")
    args = dvc_set_args(overrides(f, read_params(ROOT)))
    apply_overrides(tmp_path / "params.yaml", args[1::2])  # the values after each -S
    raw = yaml.safe_load((tmp_path / "params.yaml").read_text())
    exp = raw["experiments"][raw["experiment"]]
    assert exp["target_prompt"] == "a photo of a 'pink' cat, standing"
    assert exp["train"]["iters"] == 200 and exp["train"]["preview_every"] == 25
    assert exp["assets"]["sketch_dir"] == "data/studio/sketches/ab"
    assert set(raw["methods"]) == {"syog", "clip_direction"}
    # and the result is valid params for the pipeline
    from pipeline.config import params_from_dict

    assert params_from_dict(raw, "applied").experiment.train.preview_every == 25


@pytest.mark.parametrize("syog_iters", [400, None])
@pytest.mark.parametrize("methods", [("clip_global",), ("syog",), ("clip_direction", "syog")])
def test_any_choice_of_blocks_runs_the_forms_iterations(methods, syog_iters, tmp_path):
    """The toy schedule overrides some blocks by name (method_overrides.syog), and a block may set its
    own length (here: syog 400 through the overrides, clip_direction 300 in its block): leaving such
    a block out must not leave its overrides behind, and every chosen block runs the form's
    iterations, in the validated params and through `dvc exp run -S` alike. `iters: null` (train.iters)
    is left alone: Hydra refuses to delete a null key, which failed the studio's customization."""
    import yaml
    from dvc.utils.hydra import apply_overrides

    from pipeline.config import params_from_dict

    raw = read_params(ROOT)
    exp_block = raw["experiments"][raw["experiment"]]
    exp_block["method_overrides"]["syog"]["iters"] = syog_iters
    raw["methods"]["clip_direction"]["iters"] = 300
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    assert params_from_dict(raw, "edited").method("syog").iters == syog_iters
    f = form(methods=methods, iters=77)
    params = validate(f, tmp_path)
    apply_overrides(tmp_path / "params.yaml", dvc_set_args(overrides(f, raw))[1::2])
    applied = params_from_dict(yaml.safe_load((tmp_path / "params.yaml").read_text()), "applied")
    for p in (params, applied):
        assert set(p.methods) == set(methods)
        for name in methods:
            assert (p.method(name).iters or p.experiment.train.iters) == 77, name
    if "syog" in methods:  # its other toy-schedule values stay
        assert params.method("syog").g_lr == exp_block["method_overrides"]["syog"]["g_lr"]


@pytest.mark.parametrize(
    "changes,field,text",
    [
        ({"target_prompt": ""}, "target_prompt", "non-empty prompt"),
        ({"target_prompt": "x" * 201}, "target_prompt", "at most 200 characters"),
        ({"target_prompt": "a photo of a cat"}, "target_prompt", "names no colour the toy world knows"),
        ({"methods": ()}, "methods", "choose at least one"),
        ({"methods": ("syog", "nope")}, "methods", "unknown method block(s) nope"),
        ({"iters": 0}, "iters", "from 1 to 5000"),
        ({"sketch_dir": None}, "sketches", "the sketch set is empty"),
    ],
)
def test_bad_forms_name_the_field(changes, field, text):
    with pytest.raises(FormError) as e:
        validate(form(**changes), ROOT)
    assert field in e.value.errors and text in e.value.errors[field], e.value.errors


def test_hydra_values_are_quoted():
    assert hydra_value("a photo of a pink cat") == "'a photo of a pink cat'"
    assert hydra_value("it's") == "'it\\'s'"
    assert hydra_value("data/studio/sketches/ab12") == "data/studio/sketches/ab12"
    assert hydra_value(["syog", "clip_global"]) == "[syog,clip_global]"
    assert hydra_value(25) == "25" and hydra_value("true") == "'true'"


def test_progress_is_read_from_dvclive_files_in_dvcs_temporary_workspace(tmp_path):
    """A stand-in for what `dvc exp run --temp` + stages/live.py write while a fine-tune runs."""
    import json
    import os

    from stages.live import LiveProgress
    from studio.progress import read_progress

    started = time.time()
    ws = tmp_path / ".dvc" / "tmp" / "exps" / "standalone" / "tmpabc123"  # where DVC 3 makes it
    live = ws / "data" / "finetune" / "syog" / "live"
    prog = LiveProgress(live)
    prog.start(0, [])
    for step in range(0, 40, 10):
        prog.log(step, {"d_sketch": 1.0 + step / 100, "g_sketch": 2.0 - step / 100})
    from PIL import Image

    prog.preview(25, Image.new("RGB", (8, 8)))
    old = tmp_path / ".dvc" / "tmp" / "exps" / "tmpold"  # an older workspace: not this job's
    old.mkdir()
    os.utime(old, (started - 3600, started - 3600))
    log = "Running stage 'prepare':\n...\nRunning stage 'finetune@syog':\n"
    p = read_progress(tmp_path, {"started": started}, iters=100, log_text=log)
    assert p.stage == "finetune@syog" and p.method == "syog"
    assert p.step == 31 and p.total == 100  # the last logged row was step 30 (0-based)
    assert p.losses["d_sketch"] == [(0, 1.0), (10, 1.1), (20, 1.2), (30, 1.3)]
    assert p.preview.name == "0000025.png" and p.preview_step == 25
    assert p.eta_s is not None and p.eta_s >= 0
    assert json.loads((live / "metrics.json").read_text())["train"]["g_sketch"] == 1.7
    # before any workspace exists, or with only an older one, there is nothing to show yet
    assert read_progress(tmp_path, {"started": time.time() + 3600}, iters=100).method is None


def test_the_worker_keeps_the_most_telling_error_line():
    from studio.worker import last_error

    log = "Running stage 'finetune@syog':\nTraceback...\nValueError: boom\nERROR: failed to reproduce 'finetune@syog'\n"
    assert last_error(log) == "ERROR: failed to reproduce 'finetune@syog'"
    assert last_error("all fine\n") is None


def _studio(tmp_path):
    import shutil

    from studio.app import Studio

    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    return Studio(tmp_path, tmp_path / "state")


def _a_sketch():
    from PIL import Image, ImageDraw

    from pipeline.sketchset import as_sketch

    img = Image.new("L", (64, 64), 255)
    ImageDraw.Draw(img).line([(10, 30), (50, 30), (50, 50)], fill=0, width=2)
    return as_sketch(img, "drawn")


@pytest.mark.parametrize(
    "form, field, text",
    [
        (dict(target=""), "target_prompt", "non-empty"),
        (dict(target="a photo of a cat"), "target_prompt", "names no colour"),
        (dict(target="a pink cat " * 30), "target_prompt", "at most 200 characters"),
        (dict(methods=[]), "methods", "at least one method"),
        (dict(iters=0), "iters", "from 1 to"),
        (dict(iters="many"), "iters", "whole number"),
        (dict(sketches=[]), "sketches", "the sketch set is empty"),
    ],
)
def test_a_bad_form_gets_its_message_and_writes_nothing(tmp_path, form, field, text):
    studio = _studio(tmp_path)
    args = dict(target="a photo of a pink cat", source="", methods=["syog"], iters=20, sketches=[_a_sketch()])
    out = studio.customize(**{**args, **form})
    assert text in out["errors"][field], out
    assert not (tmp_path / "data").exists()  # the sketch set is stored only for a valid form
    assert studio.runner.read() is None  # nothing was launched


def test_a_second_launch_while_one_runs_is_refused_before_anything_is_written(tmp_path):
    studio = _studio(tmp_path)
    first = studio.runner.launch_command(py("import time; time.sleep(60)"), "first")
    try:
        out = studio.customize("a photo of a pink cat", "", ["syog"], 20, [_a_sketch()])
        assert "a customization is already running (first" in out["errors"]["form"]
        assert not (tmp_path / "data").exists()
        assert studio.runner.current()["id"] == first["id"]
    finally:
        studio.runner.cancel()


def test_the_job_is_on_disk_before_its_worker_starts(tmp_path, monkeypatch):
    """The worker reads job.json to learn it is the current job: written after the worker started, a
    fast worker found the previous job, quit, and the launch looked dead (a second launch got through)."""
    import subprocess

    from studio import jobs

    runner = JobRunner(ROOT, tmp_path / "state")
    seen = []
    real_popen = subprocess.Popen

    def spy(cmd, **kw):
        seen.append(runner.read())
        return real_popen(cmd, **kw)

    monkeypatch.setattr(jobs.subprocess, "Popen", spy)
    job = runner.launch_command(py("import time; time.sleep(2)"), "first")
    assert seen[0] is not None and seen[0]["id"] == job["id"] and seen[0]["status"] == "starting"
    with pytest.raises(JobBusy):
        runner.launch_command(py("pass"), "second")
    assert runner.wait(30)["status"] == "succeeded"


def test_an_edit_session_asked_for_by_several_sliders_at_once_is_built_once(tmp_path, monkeypatch):
    """Changing the generator fires every slider's handler at once, each asking for its session;
    building it more than once would load (and, for a result, write) the same checkpoint in parallel."""
    import threading

    studio = _studio(tmp_path)
    built = []

    def slow_build(key):
        built.append(key)
        time.sleep(0.3)  # long enough for every thread to arrive while the first still builds
        return object()

    monkeypatch.setattr(studio, "_new_session", slow_build)
    got = []
    threads = [threading.Thread(target=lambda: got.append(studio.edit_session("exp/syog"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert built == ["exp/syog"] and len(got) == 4 and all(g is got[0] for g in got)
    assert studio.edit_session("exp/syog") is got[0] and built == ["exp/syog"]
