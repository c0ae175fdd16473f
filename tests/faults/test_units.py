"""The pieces the fault tests rely on, in isolation (fast): atomic output folders, the fetch plan
with a base URL and the user's own folders, the new params keys."""

import pytest
from tiny import ROOT

from pipeline.config import ConfigError, load_params
from pipeline.fetch_plan import asset_url, assets_for
from pipeline.io import atomic_dir
from pipeline.prepare import input_folders, with_project_paths

PARAMS = ROOT / "params.yaml"


def test_atomic_dir_replaces_the_folder_only_when_complete(tmp_path):
    out = tmp_path / "samples" / "syog"
    with atomic_dir(out) as tmp:
        (tmp / "a.png").write_text("1")
        assert not out.exists()  # nothing visible while it is being written
    assert sorted(p.name for p in out.iterdir()) == ["a.png"]
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as tmp:
            (tmp / "b.png").write_text("half")
            raise RuntimeError("killed")
    assert sorted(p.name for p in out.iterdir()) == ["a.png"]  # the old folder, untouched
    with atomic_dir(out) as tmp:
        (tmp / "c.png").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == ["c.png"]  # replaced as a whole, no mix
    assert sorted(p.name for p in out.parent.iterdir()) == ["syog"]  # no temp folders left


def test_atomic_dir_removes_leftovers_of_a_killed_run(tmp_path):
    work, out = tmp_path / ".tmp", tmp_path / "metrics" / "syog"
    stale = work / ".metrics.syog.tmp-abc123"
    stale.mkdir(parents=True)
    (stale / "metrics.json").write_text("{")
    other = work / ".metrics.syog_noaug.tmp-xyz"  # another method's run: not ours to remove
    other.mkdir()
    with atomic_dir(out, tmp_dir=work) as tmp:
        assert tmp.parent == work
        (tmp / "metrics.json").write_text("{}")
    assert not stale.exists() and other.exists()
    assert (out / "metrics.json").read_text() == "{}"


def test_base_url_and_user_folders_in_the_fetch_plan():
    exp = load_params(PARAMS, {"experiment": "standing_cat"}).experiment
    assert assets_for(exp) == [
        "sketch_data",
        "eval_data",
        "pretrained_models",
        "lsun_cat",
        "ganspace_cat",
        "clip_vit_b32",
        "inception_fid",
        "vgg16",
    ]
    assert asset_url(exp, "sketch_data") is None  # the registry's URL
    exp = load_params(
        PARAMS,
        {
            "experiment": "standing_cat",
            "experiments.standing_cat.assets.base_url": "http://files.lab/gansketching/",
            "experiments.standing_cat.assets.photo_dir": "p",
            "experiments.standing_cat.assets.sketch_dir": "s",
        },
    ).experiment
    assert assets_for(exp) == [
        "eval_data",
        "pretrained_models",
        "ganspace_cat",
        "clip_vit_b32",
        "inception_fid",
        "vgg16",
    ]
    assert asset_url(exp, "eval_data") == "http://files.lab/gansketching/eval_data.zip"
    assert asset_url(exp, "clip_vit_b32") == "http://files.lab/gansketching/ViT-B-32.pt"


def test_user_folders_are_relative_to_the_project(tmp_path):
    exp = load_params(
        PARAMS,
        {
            "experiment": "demo",
            "experiments.demo.assets.sketch_dir": "mine",
            "experiments.demo.assets.eval_dir": str(tmp_path / "ev"),
        },
    ).experiment
    resolved = with_project_paths(exp, tmp_path / "proj")
    folders = input_folders(resolved, tmp_path / "raw")
    assert set(folders) == {"sketches", "eval"}  # photos: the demo's
    assert folders["sketches"][0] == tmp_path / "proj" / "mine" and folders["eval"][0] == tmp_path / "ev"
    assert resolved.assets.photo_dir is None and exp.assets.sketch_dir == "mine"


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"experiments.demo.assets.base_url": "http://x"}, "base_url: only used with source 'official'"),
        (
            {"experiment": "standing_cat", "experiments.standing_cat.assets.base_url": "files.lab/x"},
            "base_url: expected an http:// or https:// URL",
        ),
        ({"experiments.demo.assets.sketch_dir": " "}, "sketch_dir: must be a folder path or null"),
        ({"experiments.demo.assets.photo_dir": 3}, "photo_dir: Input should be a valid string, got int 3"),
    ],
)
def test_new_assets_keys_are_validated(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_params(PARAMS, overrides)
