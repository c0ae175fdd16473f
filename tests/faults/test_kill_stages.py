"""SIGKILL the evaluation and the report while they run, re-run `dvc repro`, and check the final
outputs equal those of the clean run (deterministic on CPU) with no temporary files left.

A killed fine-tune is covered by tests/test_pipeline_e2e.py (killed after its first checkpoint,
resumed from it by the next `dvc repro`) and bit-exactness of resuming by tests/test_resume.py.

One tiny project is reproduced once; its outputs are the reference. Each fault then makes one
stage out of date the way a code change does (a comment appended to its stage script, so the
outputs do not change), starts `dvc repro`, kills the whole process group once the stage's Prefect
flow has begun (the work is under way), and runs `dvc repro` again. The stage really runs again
(its dvc.lock entry is stale; `-f` instead would let DVC restore the old outputs from its cache),
so equal outputs show that the recomputation is deterministic and nothing of the killed run is used.
"""

import json

import pytest
from project import digests, dvc, kill, start, stray_temp_files, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clean(clean_pipeline):
    """The reference: an uninterrupted `dvc repro` of the tiny project (conftest's clean_pipeline)."""
    rc, out, seconds = clean_pipeline.wait(timeout=600)
    assert rc == 0, out[-4000:]
    print(f"\nclean tiny pipeline: {seconds:.0f} s")
    proj = clean_pipeline.proj
    ref = {
        "metrics": digests(proj / "data" / "metrics" / "syog"),
        "reports": digests(proj / "reports"),
        "metrics.json": (proj / "data" / "metrics" / "syog" / "metrics.json").read_text(),
        "reports/metrics.json": (proj / "reports" / "metrics.json").read_text(),
    }
    assert stray_temp_files(proj) == []
    return proj, ref


def kill_while_running(proj, script: str, flow: str, log):
    with open(proj / "stages" / script, "a") as f:
        f.write("# edited: the stage is out of date\n")
    p = start(proj, ["repro"], log)
    wait_until(lambda: f"for flow '{flow}'" in log.read_text(), p, 180, f"the {flow} flow to begin", log)
    assert p.poll() is None, "the stage finished before it could be killed"
    kill(p)
    return log.read_text()


def test_kill_during_evaluation(clean, tmp_path):
    proj, ref = clean
    out_dir = proj / "data" / "metrics" / "syog"
    kill_while_running(proj, "evaluate.py", "evaluate", tmp_path / "killed.log")
    # Killed: the metrics folder is absent (DVC removed it; the new one was still a temp folder),
    # never a partial one the report could read.
    assert not out_dir.exists() or digests(out_dir) == ref["metrics"]
    out = dvc(proj, "repro")
    assert "Running stage 'evaluate@syog'" in out, out[-2000:]
    assert (out_dir / "metrics.json").read_text() == ref["metrics.json"]
    assert digests(out_dir) == ref["metrics"]
    assert (proj / "reports" / "metrics.json").read_text() == ref["reports/metrics.json"]
    assert stray_temp_files(proj) == []


def test_kill_during_report(clean, tmp_path):
    proj, ref = clean
    kill_while_running(proj, "report.py", "report", tmp_path / "killed.log")
    for name, digest in digests(proj / "reports").items():  # whatever is there is complete: old or absent
        assert ref["reports"].get(name) == digest, f"reports/{name} differs from the clean run's after the kill"
    out = dvc(proj, "repro")
    assert "Running stage 'report'" in out, out[-2000:]
    assert (proj / "reports" / "metrics.json").read_text() == ref["reports/metrics.json"]
    assert json.loads(ref["reports/metrics.json"])["syog"]["fid"] > 0
    assert digests(proj / "reports") == ref["reports"]
    assert (proj / "data" / "metrics" / "syog" / "metrics.json").read_text() == ref["metrics.json"]
    assert stray_temp_files(proj) == []
    assert "Running stage" not in dvc(proj, "repro")
