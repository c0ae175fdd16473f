"""params.schema.json: generated from the config dataclasses, committed, and a standard JSON Schema
validator agrees with load_params on the repo's file and on broken copies."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest
import yaml
from tiny import ROOT

from pipeline.config import ConfigError, load_params
from pipeline.schema import SCHEMA_FILE, schema_text

PARAMS = ROOT / "params.yaml"


@pytest.fixture(scope="module")
def validator():
    schema = json.loads((ROOT / SCHEMA_FILE).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture
def raw():
    return yaml.safe_load(PARAMS.read_text())


def errors(validator, doc) -> dict[str, str]:
    return {".".join(map(str, e.absolute_path)): e.message for e in validator.iter_errors(doc)}


def test_committed_schema_is_current():
    assert (ROOT / SCHEMA_FILE).read_text() == schema_text(), (
        f"{SCHEMA_FILE} is stale: regenerate it with `make schema` (python -m pipeline.schema)"
    )


def test_params_yaml_points_editors_at_the_schema():
    assert PARAMS.read_text().splitlines()[0] == f"# yaml-language-server: $schema={SCHEMA_FILE}"


def test_the_repo_params_validate(validator, raw):
    assert errors(validator, raw) == {}


@pytest.mark.parametrize(
    "edit,key,words",
    [
        (lambda p: p["methods"]["syog"].update(lr="fast"), "methods.syog.lr", "not of type 'number'"),
        (lambda p: p["methods"]["syog"].update(lr=-0.1), "methods.syog.lr", "minimum of 0"),
        (lambda p: p["experiments"]["toy"]["train"].update(batch=True), "experiments.toy.train.batch", "integer"),
        (
            lambda p: p["experiments"]["toy"]["eval"].update(n_sample=3),
            "experiments.toy.eval",
            "'n_sample' was unexpected",
        ),
        (lambda p: p["methods"]["syog"].update(method="nope"), "methods.syog.method", "is not one of"),
        (lambda p: p["experiments"]["toy"]["train"].update(device="tpu"), "experiments.toy.train.device", "'tpu'"),
        # a block's keys follow from its method: NADA's setting is not a syog key
        (lambda p: p["methods"]["syog"].update(direction_every=5), "methods.syog", "'direction_every' was unexpected"),
        (lambda p: p["sweep"].update(seeds=[0, "1"]), "sweep.seeds.1", "not of type 'integer'"),
        (lambda p: p["world"]["gan"].update(standing=1.5), "world.gan.standing", "maximum of 1"),
    ],
)
def test_a_broken_copy_is_rejected_naming_the_key_by_both(validator, raw, tmp_path, edit, key, words):
    broken = copy.deepcopy(raw)
    edit(broken)
    found = errors(validator, broken)
    assert key in found and words in found[key], found
    # load_params refuses the same file, naming the same key
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(broken, sort_keys=False))
    with pytest.raises(ConfigError) as e:
        load_params(path)
    dotted = key.replace("sweep.seeds.1", "sweep.seeds[1]")
    assert dotted in str(e.value), str(e.value)


def test_the_clip_direction_block_accepts_its_own_keys(validator, raw):
    raw["methods"]["clip_direction"]["layer_map"] = "actual"
    assert errors(validator, raw) == {}
    raw["methods"]["clip_direction"]["layer_map"] = "sideways"
    assert "methods.clip_direction.layer_map" in errors(validator, raw)
