"""params.yaml validation: the repo's file loads, and every kind of mistake is an error naming the key path."""

from __future__ import annotations

import json
import math
import stat
from pathlib import Path

import pytest

from pipeline.config import ConfigError, EvalSpec, load_params, write_json
from pipeline.methods.syog import SyogConfig

PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"
WHERE = str(PARAMS)


def load(**overrides):
    """The repo's params with the random-weight `demo` experiment active (config machinery tests)."""
    return load_params(PARAMS, {"experiment": "demo", **overrides})


def error(overrides: dict) -> str:
    with pytest.raises(ConfigError) as e:
        load_params(PARAMS, {"experiment": "demo", **overrides})
    return str(e.value)


# ----------------------------------------------------------------------------
# The repo's own file


def test_repo_params_default_is_the_toy_world():
    p = load_params(PARAMS)
    exp = p.experiment
    assert exp.name == "toy" and exp.is_toy and not exp.demo
    assert exp.size == p.world.size == 32
    assert exp.generator == p.world.generator  # the world's GAN, the experiment's generator
    assert exp.clip.model == p.world.clip.model and exp.eval.feature_extractor == "toy-oracle"
    mo = exp.method_overrides  # a shared key reaches every block that has it, a block's own mapping wins
    assert (
        p.methods["clip_global"].lambda_global
        == mo["lambda_global"]
        != p.raw["methods"]["clip_global"]["lambda_global"]
    )
    assert (
        p.methods["clip_direction"].direction_every == mo["clip_direction"]["direction_every"] != mo["direction_every"]
    )
    assert exp.assets.world_gan == "gan_continued"


def test_repo_params_demo_is_valid():
    p = load(experiment="demo")
    exp = p.experiment
    assert exp.name == "demo"
    assert exp.demo is True
    assert exp.size == 64
    assert exp.sketch_extractor == "xdog"
    assert exp.generator.style_dim == 64 and exp.generator.n_mlp == 4
    assert exp.generator.channel_base == 1024 and exp.generator.channel_max == 64
    assert exp.train.iters == 120 and exp.train.batch == 4 and exp.train.device == "auto"
    assert exp.eval.metrics == (
        "fid",
        "kid",
        "precision",
        "recall",
        "clip_score_target",
        "clip_score_source",
        "sketch_chamfer",
    )
    assert exp.eval.kid_subset_size == 32 and exp.eval.n_samples == 64 and exp.eval.resize == "tf"
    assert exp.clip.pretrained is None
    assert exp.demo_data.n_sketches == 8
    assert exp.target_prompt == "a photo of a pink cat"
    assert list(p.methods) == [
        "syog",
        "clip_global",
        "clip_direction",
        "clip_direction_no_image",
        "diagonal",
        "diagonal_no_syog",
    ]
    assert {type(c).__name__ for c in p.methods.values()} == {
        "SyogConfig",
        "ClipGlobalConfig",
        "ClipDirectionConfig",
        "DiagonalConfig",
    }
    m = p.method("syog")
    assert isinstance(m, SyogConfig)
    assert (m.lr, m.beta1, m.beta2, m.l_image, m.r1_gamma, m.d_reg_every, m.mixing) == (
        0.002,
        0.0,
        0.99,
        0.7,
        10.0,
        16,
        0.9,
    )
    assert isinstance(m.lr, float) and isinstance(m.d_reg_every, int)
    assert m.diffaug == "translation" and m.dsketch_pretrained is True


def test_repo_params_standing_cat_is_valid():
    exp = load(experiment="standing_cat").experiment
    assert exp.name == "standing_cat"
    assert exp.demo is False
    assert exp.size == 256
    assert exp.sketch_extractor == "photosketch"
    assert exp.photosketch_bn_mode == "train"
    assert exp.assets.source == "official" and exp.assets.stylegan == "stylegan2-cat"
    assert exp.assets.photo_cap == 10000
    assert exp.train.iters == 40000 and exp.train.device == "cuda"
    assert exp.eval.n_samples == 2500 and exp.eval.kid_subset_size == 1000 and exp.eval.batch == 50
    assert exp.clip.model == "ViT-B-32-quickgelu" and exp.clip.pretrained == "openai"
    # not given in the block: the dataclass default
    assert exp.demo_data.n_sketches == 8


def test_int_given_for_float_is_converted():
    m = load(**{"methods.syog.lr": 1}).method("syog")
    assert m.lr == 1.0 and isinstance(m.lr, float)


def test_params_method_lookup_of_undefined_block():
    with pytest.raises(ConfigError, match=r"methods\.nope: no such method block; defined: syog"):
        load().method("nope")


# ----------------------------------------------------------------------------
# Unknown keys, at every level


def test_unknown_top_level_key():
    msg = error({"bogus": 1})
    assert msg.startswith(WHERE)
    assert "unknown top-level key(s) bogus" in msg
    assert "allowed: experiment, experiments, methods" in msg


def test_unknown_key_in_experiment_block():
    msg = error({"experiments.demo.sizee": 64})
    assert f"{WHERE}: experiments.demo: unknown key sizee" in msg
    assert "allowed:" in msg and "size" in msg.split("allowed:")[1]


def test_unknown_key_in_nested_block():
    msg = error({"experiments.demo.eval.n_sample": 10})
    assert f"{WHERE}: experiments.demo.eval: unknown key n_sample" in msg
    assert "n_samples" in msg.split("allowed:")[1]


def test_two_unknown_keys_are_both_named():
    msg = error({"experiments.demo.train.foo": 1, "experiments.demo.train.bar": 2})
    # one line per mistake, each naming its key
    lines = msg.splitlines()
    assert len(lines) == 2
    assert {line.split("; allowed:")[0] for line in lines} == {
        f"{WHERE}: experiments.demo.train: unknown key foo",
        f"{WHERE}: experiments.demo.train: unknown key bar",
    }


def test_unknown_key_in_method_block():
    msg = error({"methods.syog.learning_rate": 0.1})
    assert f"{WHERE}: methods.syog: unknown key learning_rate" in msg
    assert "lr" in msg.split("allowed:")[1].split(", ")


# ----------------------------------------------------------------------------
# Types and values


def test_string_for_int():
    msg = error({"experiments.demo.train.batch": "four"})
    assert "experiments.demo.train.batch: Input should be a valid integer, got str 'four'" in msg


def test_float_for_int():
    msg = error({"experiments.demo.seed": 1.5})
    assert "experiments.demo.seed: Input should be a valid integer, got float 1.5" in msg


def test_bool_for_float():
    msg = error({"methods.syog.lr": True})
    assert "methods.syog.lr: Input should be a valid number, got bool True" in msg


def test_bool_for_int():
    msg = error({"experiments.demo.size": True})
    assert "experiments.demo.size: Input should be a valid integer, got bool True" in msg


def test_string_for_bool():
    msg = error({"experiments.demo.demo": "yes"})
    assert "experiments.demo.demo: Input should be a valid boolean, got str 'yes'" in msg


def test_literal_out_of_range():
    msg = error({"experiments.demo.train.device": "tpu"})
    assert "experiments.demo.train.device: Input should be 'auto', 'cpu' or 'cuda', got str 'tpu'" in msg


def test_list_item_type_error_names_index():
    msg = error({"experiments.demo.eval.metrics": ["fid", 3]})
    assert "experiments.demo.eval.metrics[1]: Input should be a valid string, got int 3" in msg


@pytest.mark.parametrize("lr", [-0.1, 0, 0.0])
def test_non_positive_learning_rate(lr):
    msg = error({"methods.syog.lr": lr})
    assert f"{WHERE}: methods.syog.lr: Input should be greater than 0, got {type(lr).__name__} {lr}" in msg


def test_nan_learning_rate_is_rejected():
    msg = error({"methods.syog.lr": math.nan})
    assert "methods.syog.lr: Input should be greater than 0, got float nan" in msg


def test_zero_generator_width():
    msg = error({"experiments.demo.generator.channel_max": 0})
    assert "experiments.demo.generator.channel_max: Input should be greater than 0, got int 0" in msg


def test_truncation_outside_unit_interval():
    msg = error({"experiments.demo.eval.truncation": 1.5})
    assert "experiments.demo.eval.truncation: Input should be less than or equal to 1, got float 1.5" in msg


def test_unknown_method_name_lists_registered():
    msg = error({"methods.syog.method": "nope"})
    assert (
        f"{WHERE}: methods.syog.method: unknown method 'nope'; registered: clip_direction, clip_global, diagonal, syog"
        in msg
    )


def test_method_block_without_method_key():
    msg = error({"methods.other": {"lr": 0.1}})
    assert "methods.other.method: required" in msg


def test_bad_diffaug_policy_in_method_block():
    msg = error({"methods.syog.diffaug": "translation,flip"})
    assert "methods.syog.diffaug: unknown DiffAugment policy flip" in msg
    assert "allowed: translation, color, cutout" in msg


def test_unknown_experiment_name():
    msg = error({"experiment": "sitting_dog"})
    assert f"{WHERE}: experiment: 'sitting_dog' is not a block under experiments" in msg
    assert "(toy, demo, standing_cat)" in msg


@pytest.mark.parametrize("prompt", ["", "   "])
def test_empty_target_prompt(prompt):
    msg = error({"experiments.demo.target_prompt": prompt})
    assert f"experiments.demo.target_prompt: must be a non-empty prompt, got str {prompt!r}" in msg


def test_kid_subset_larger_than_samples():
    msg = error({"experiments.demo.eval.kid_subset_size": 65})
    assert "experiments.demo.eval.kid_subset_size: 65 exceeds n_samples 64" in msg


def test_kid_subset_equal_to_samples_is_fine():
    assert load(**{"experiments.demo.eval.kid_subset_size": 64}).experiment.eval.kid_subset_size == 64


def test_mirror_without_mirror_dir():
    msg = error({"experiments.demo.assets.source": "mirror"})
    assert "experiments.demo.assets.mirror_dir: required when source is 'mirror'" in msg
    exp = load(
        **{"experiments.demo.assets.source": "mirror", "experiments.demo.assets.mirror_dir": "/srv/mirror"}
    ).experiment
    assert exp.assets.mirror_dir == "/srv/mirror"


@pytest.mark.parametrize("size", [48, 100, 4, 0])
def test_size_not_power_of_two(size):
    msg = error({"experiments.demo.size": size})
    assert f"experiments.demo.size: must be a power of two >= 8, got {size}" in msg


@pytest.mark.parametrize("size", [8, 16, 128])
def test_size_power_of_two_accepted(size):
    assert load(**{"experiments.demo.size": size}).experiment.size == size


def test_missing_params_file(tmp_path):
    path = tmp_path / "nope" / "params.yaml"
    with pytest.raises(ConfigError) as e:
        load_params(path)
    assert str(e.value) == f"{path}: params file not found"


def test_missing_required_key(tmp_path):
    text = PARAMS.read_text().replace("    sketch_extractor: xdog\n", "")
    assert text != PARAMS.read_text()
    p = tmp_path / "params.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=r"experiments\.demo: missing required key 'sketch_extractor'"):
        load_params(p)


def test_no_methods(tmp_path):
    import yaml

    p = tmp_path / "params.yaml"
    raw = yaml.safe_load(PARAMS.read_text())
    del raw["methods"]
    p.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="methods: at least one method block is required"):
        load_params(p)


# ----------------------------------------------------------------------------
# write_json


def test_write_json_is_atomic_and_round_trips(tmp_path):
    out = tmp_path / "sub" / "metrics.json"
    obj = {"fid": 12.5, "names": ("a", "b"), "eval": EvalSpec(n_samples=10, kid_subset_size=5)}
    write_json(obj, out)
    # only the target, no leftover temp files
    assert sorted(p.name for p in out.parent.iterdir()) == ["metrics.json"]
    back = json.loads(out.read_text())
    assert back["fid"] == 12.5
    assert back["names"] == ["a", "b"]
    assert back["eval"]["n_samples"] == 10 and back["eval"]["kid_subset_size"] == 5
    assert back["eval"]["metrics"] == list(EvalSpec().metrics)
    assert out.read_text().endswith("}\n")
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    # overwrite replaces the whole file
    write_json({"x": 1}, out)
    assert json.loads(out.read_text()) == {"x": 1}
    assert sorted(p.name for p in out.parent.iterdir()) == ["metrics.json"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


def test_write_json_failure_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    out = tmp_path / "m.json"
    write_json({"ok": True}, out)
    with pytest.raises(TypeError):  # not serializable: nothing written
        write_json({"bad": object()}, out)
    assert json.loads(out.read_text()) == {"ok": True}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]

    # a write that dies half-way (disk full, kill): old content stays, the partial temp file is removed
    real = Path.write_bytes
    seen = []

    def half_then_fail(self, data):
        seen.append(self)
        real(self, data[: len(data) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_bytes", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        write_json({"new": list(range(100))}, out)
    monkeypatch.undo()
    assert len(seen) == 1 and seen[0] != out and seen[0].parent == tmp_path  # it wrote beside, not in place
    assert json.loads(out.read_text()) == {"ok": True}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_method_prompts_fall_back_to_the_experiment():
    from pipeline.methods import prompts

    p = load(**{"methods.clip_global.source_prompt": "a photo of a dog"})
    exp = p.experiment
    assert prompts(exp, p.method("clip_global")) == (exp.target_prompt, "a photo of a dog")
    assert prompts(exp, p.method("syog")) == (exp.target_prompt, exp.source_prompt)
    p = load(**{"methods.clip_global.target_prompt": "a photo of open mouth cat"})
    assert prompts(p.experiment, p.method("clip_global")) == ("a photo of open mouth cat", exp.source_prompt)


@pytest.mark.parametrize("layers", [[4, 2], [3], [1, 2, 3]])
def test_ganspace_layers_must_be_an_ordered_pair(layers):
    from pipeline.config import from_dict
    from pipeline.editing.spec import GanspaceSpec

    with pytest.raises(ConfigError, match=r"x\.layers: expected \[l_start, l_end\] with l_start <= l_end"):
        from_dict(GanspaceSpec, {"layers": layers}, "x")
    assert from_dict(GanspaceSpec, {"layers": [2, 2]}, "x").layers == (2, 2)


@pytest.mark.parametrize("psi", [0.0, 1.5, -0.5])
def test_ganspace_truncation_must_be_in_the_unit_interval(psi):
    from pipeline.config import from_dict
    from pipeline.editing.spec import GanspaceSpec

    with pytest.raises(ConfigError, match=rf"x\.truncation: must be in \(0, 1\], got {psi}"):
        from_dict(GanspaceSpec, {"truncation": psi}, "x")
    assert from_dict(GanspaceSpec, {"truncation": 1.0}, "x").truncation == 1.0
