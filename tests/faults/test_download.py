"""Download faults through `dvc repro fetch`, against the HTTP server on 127.0.0.1 of conftest.py.

The experiment is the tiny demo switched to `assets.source: official` with `assets.base_url` at the
local server (a lab mirror, as a user would set it), `assets.photo_dir` at a local folder (so no
LSUN), the demo's untrained CLIP and feature extractor (so no CLIP / Inception downloads).
"""

import json
from pathlib import Path

import pytest
from project import Run, digests, dvc, kill, start, stray_temp_files, wait_until

# `failing` on every test: the failing fetches (mostly asleep in retry back-off) start with this module's
# first test, in the worker that runs it, and run while it does (a session-wide start ran them in every worker)
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("failing")]
MiB = 1 << 20


def finished(failing, case):
    rc, out, seconds = failing[case].wait()
    print(f"\n{case}: `dvc repro fetch` exited {rc} after {seconds:.0f} s")
    assert rc != 0 and "failed to reproduce 'fetch'" in out and "exited with 2" in out, out[-3000:]
    return failing[case].proj, out


def error_line(text: str) -> str:
    """The stage's one-line message (what the user reads under the retries' log output)."""
    lines = [line for line in text.splitlines() if line.startswith("error: ")]
    assert lines, text[-3000:]
    print(f"\nuser sees: {lines[-1]}")  # `pytest -s` shows it (tests/faults/README.md quotes these)
    return lines[-1]


def nothing_unpacked(proj: Path):
    raw = proj / "data" / "raw"
    assert not (raw / "sketch").exists(), "a refused download was unpacked"
    assert not [p for p in raw.rglob("*") if ".unpack-" in p.name], "unpack temp folder left behind"
    assert not list(proj.parents[2].rglob("evil.txt")), "a member escaped the target folder"


# ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference(tmp_path_factory, server, official):
    """An uninterrupted fetch of the same files (in-process, full speed): data/ and the lock file."""
    from pipeline.config import load_params
    from pipeline.fetch_plan import fetch_all

    ref = tmp_path_factory.mktemp("reference")
    proj = official(ref / "proj", "fast")
    fetch_all(load_params(proj / "params.yaml").experiment, ref / "data", ref / "assets.lock.json")
    return ref


def same_as_reference(proj, ref):
    assert digests(proj / "data" / "raw", exclude=("fetch.json",)) == digests(ref / "data" / "raw")
    assert digests(proj / "data" / "downloads") == digests(ref / "data" / "downloads")
    assert json.loads((proj / "assets.lock.json").read_text()) == json.loads((ref / "assets.lock.json").read_text())
    assert stray_temp_files(proj) == []
    fetched = json.loads((proj / "data" / "raw" / "fetch.json").read_text())
    assert set(fetched["summary"]["assets"]) == {"sketch_data", "eval_data", "pretrained_models"}


def test_kill_during_download_then_resume(tmp_path, server, archives, official, reference):
    """SIGKILL `dvc repro fetch` mid-transfer; the re-run resumes with a Range request and ends with
    the same files as an uninterrupted fetch."""
    from pipeline.config import load_params
    from pipeline.fetch_plan import assets_for

    proj = official(tmp_path / "proj", "slow")
    exp = load_params(proj / "params.yaml").experiment
    assert assets_for(exp) == ["sketch_data", "eval_data", "pretrained_models"]  # photo_dir: no LSUN, no weights

    log = tmp_path / "killed.log"
    part = proj / "data" / "downloads" / "sketch_data.zip.part"  # fetch keeps archives in data/downloads
    p = start(proj, ["repro", "fetch"], log)

    def part_size():
        try:
            return part.stat().st_size
        except FileNotFoundError:
            return 0

    size = wait_until(lambda: part_size() >= MiB and part_size(), p, 180, "the first MiB of sketch_data.zip", log)
    kill(p)
    total = len(archives["good"]["sketch_data.zip"])
    kept = part.stat().st_size
    assert size <= kept < total, (size, kept, total)
    assert not (proj / "data" / "raw" / "sketch").exists() and not (proj / "assets.lock.json").exists()

    n_before = len(server.log)
    out = dvc(proj, "repro", "fetch")
    assert "Running stage 'fetch'" in out
    ranged = [r for r in server.log[n_before:] if r[:2] == ("slow", "sketch_data.zip")]
    assert ranged and ranged[0][2] == f"bytes={kept}-", ranged  # resumed where the kill left it
    assert not any("lsun" in name or name.endswith(".pt") or name.endswith(".pth") for _, name, _ in server.log)

    same_as_reference(proj, reference)

    # The fetched layout is what prepare reads (checked without running it).
    from pipeline.prepare import check_inputs, with_project_paths

    assert check_inputs(with_project_paths(exp, proj), proj / "data" / "raw") == {
        "sketches": 5,
        "photos": 8,
        "eval": 12,
    }
    assert "Running stage" not in dvc(proj, "repro", "fetch")  # and now it is up to date


def test_wrong_checksum_is_refused_and_nothing_unpacked(failing):
    proj, out = finished(failing, "wrong_checksum")
    line = error_line(out)
    assert "Checksum mismatch for http://127.0.0.1:" in line and "/fast/sketch_data.zip" in line
    assert f"expected sha256 {'0' * 64}" in line
    assert "nothing was unpacked" in line and "assets.lock.json" in line and "delete that entry" in line
    assert "mirror folder" in line
    nothing_unpacked(proj)
    downloads = proj / "data" / "downloads"
    assert not (downloads / "sketch_data.zip").exists() and not (downloads / "sketch_data.zip.part").exists()
    assert json.loads((proj / "assets.lock.json").read_text())["sketch_data"]["sha256"] == "0" * 64  # untouched
    assert not (proj / "data" / "raw" / "fetch.json").exists()


def test_truncated_archive_is_never_unpacked(failing, archives):
    proj, out = finished(failing, "truncated")
    line = error_line(out)
    assert "Could not download http://127.0.0.1:" in line and "/trunc/sketch_data.zip" in line
    assert "the transfer ended early" in line and "kept so that the next try resumes" in line
    assert "mirror folder" in line
    nothing_unpacked(proj)
    downloads = proj / "data" / "downloads"
    assert not (downloads / "sketch_data.zip").exists()
    part = downloads / "sketch_data.zip.part"  # kept for a resume, never unpacked
    assert part.is_file() and part.stat().st_size < len(archives["good"]["sketch_data.zip"])
    assert not (proj / "assets.lock.json").exists()


def test_path_traversal_archive_is_refused(failing):
    proj, out = finished(failing, "path_traversal")
    line = error_line(out)
    assert "sketch_data.zip: refused member '../../../../evil.txt'" in line
    assert "'..' would write outside the target folder" in line
    nothing_unpacked(proj)
    lock = proj / "assets.lock.json"
    assert not lock.exists() or "sketch_data" not in json.loads(lock.read_text())  # a refused archive is not trusted


def test_server_error_names_the_url_and_the_mirror(failing):
    proj, out = finished(failing, "server_error")
    line = error_line(out)
    assert "Could not download http://127.0.0.1:" in line and "/error/sketch_data.zip" in line
    assert "the server answered HTTP 500" in line and "mirror folder" in line
    nothing_unpacked(proj)
    assert not (proj / "data" / "downloads" / "sketch_data.zip").exists()


def test_no_network_names_the_url_and_the_mirror(failing):
    proj, out = finished(failing, "no_network")
    line = error_line(out)
    assert "Could not download http://127.0.0.1:" in line and "/files/sketch_data.zip" in line
    assert "network error (URLError: [Errno 111] Connection refused)" in line and "mirror folder" in line
    nothing_unpacked(proj)


def test_fixing_the_cause_then_repro_equals_a_clean_fetch(failing, server, reference):
    """The user's next step after each message: the truncated download resumes from its .part
    once the connection is good; the wrong lock entry, deleted as the message says, is re-recorded.
    Both re-runs (`dvc repro fetch`, in parallel) end with the clean fetch's files."""
    for case in ("wrong_checksum", "truncated"):
        finished(failing, case)
    server.truncate = False
    lock = failing["wrong_checksum"].proj / "assets.lock.json"
    lock.write_text("{}\n")  # "delete that entry"
    part = failing["truncated"].proj / "data" / "downloads" / "sketch_data.zip.part"
    kept = part.stat().st_size
    n_before = len(server.log)
    runs = {
        case: Run(failing[case].proj, ["repro", "fetch"], failing[case].log.with_suffix(".rerun.log"))
        for case in ("wrong_checksum", "truncated")
    }
    for run in runs.values():
        rc, out, _ = run.wait()
        assert rc == 0, out[-3000:]
        same_as_reference(run.proj, reference)
    assert ("trunc", "sketch_data.zip", f"bytes={kept}-") in server.log[n_before:]  # resumed, not restarted
