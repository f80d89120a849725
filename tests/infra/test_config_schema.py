"""config/schema.json and docs/config.md are generated from the typed model and kept current; the shipped configs
point editors at the schema and satisfy it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tools import config_schema

ROOT = Path(__file__).resolve().parents[2]


def test_config_schema_and_reference_are_current() -> None:
    assert config_schema.main(["--check"]) == 0, "run: python -m tools.config_schema"


@pytest.mark.parametrize("name", ["dev", "prod", "scale"])
def test_config_shipped_file_points_at_the_schema_and_satisfies_it(name: str) -> None:
    body = json.loads((ROOT / "config" / f"{name}.json").read_text())
    assert body.get("$schema") == "./schema.json"
    jsonschema.validate(body, json.loads(config_schema.SCHEMA.read_text()))


def test_config_schema_refuses_what_the_model_refuses() -> None:
    body = json.loads((ROOT / "config" / "dev.json").read_text())
    body["defaults"] = {"rds-cpu-utilization": {"threshold": "90"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, json.loads(config_schema.SCHEMA.read_text()))
    body["defaults"] = {}
    body["colour"] = "blue"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, json.loads(config_schema.SCHEMA.read_text()))


def test_config_reference_names_every_field_of_the_model() -> None:
    text = config_schema.REFERENCE.read_text()
    models = config_schema._models()
    in_file = ["EnvironmentConfig", *config_schema.schema()["$defs"]]
    assert len(in_file) > 10
    for model in (models[name] for name in in_file):
        for field in model.model_fields:
            assert f"| `{field}` |" in text, f"{model.__name__}.{field} missing from docs/config.md"
