"""Write `config/schema.json` (JSON Schema of an environment's config) and `docs/config.md` (its reference page),
both generated from the typed model in `infra/config.py`, so editors validate and complete config files and the
reference never drifts from the code.

    python -m tools.config_schema          # write both files
    python -m tools.config_schema --check  # exit 1, naming the stale file, when either is not current
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from infra import config as config_module
from infra import slo as slo_module
from infra.config import CONFIG_DIR, EnvironmentConfig

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = CONFIG_DIR / "schema.json"
REFERENCE = ROOT / "docs" / "config.md"
SCHEMA_ID = "https://github.com/example-org/alert-forwarding/config/schema.json"


_FIELD = re.compile(r"^    (?P<name>[a-z_][a-z0-9_]*)\s*:")


def _comments(model: type[BaseModel]) -> dict[str, str]:
    """What the source says of each field: its trailing `# comment`, else the comment lines just above it."""
    found: dict[str, str] = {}
    above: list[str] = []
    for line in inspect.getsource(model).splitlines()[1:]:
        stripped = line.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("# ").strip())
            continue
        match = _FIELD.match(line)
        if match and match.group("name") in model.model_fields:
            trailing = line.split("  # ", 1)[1].strip() if "  # " in line else ""
            found[match.group("name")] = " ".join(p for p in (*above, trailing) if p)
        above = []
    return found


def _models() -> dict[str, type[BaseModel]]:
    return {
        name: value
        for module in (config_module, slo_module)
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == module.__name__
    }


def _describe(body: dict[str, Any], model: type[BaseModel] | None) -> None:
    """Fill each property's description (for editors and the reference) and its default (also for factories)."""
    if model is None:
        return
    comments = _comments(model)
    for name, spec in body.get("properties", {}).items():
        if name in comments and comments[name] and "description" not in spec:
            spec["description"] = comments[name]
        field = model.model_fields.get(name)
        if field is not None and "default" not in spec and not field.is_required():
            default = field.get_default(call_default_factory=True)
            spec["default"] = default.model_dump(mode="json") if isinstance(default, BaseModel) else default


def schema() -> dict[str, Any]:
    """The model's JSON Schema, plus the `$schema` pointer the shipped files carry."""
    body = EnvironmentConfig.model_json_schema(mode="validation")
    models = _models()
    _describe(body, EnvironmentConfig)
    for name, spec in body.get("$defs", {}).items():
        _describe(spec, models.get(name))
    body["properties"] = {"$schema": {"type": "string", "description": "This file: ./schema.json"}} | body.get(
        "properties", {}
    )
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **body}


def _type(spec: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in spec:
        return f"[{spec['$ref'].rsplit('/', 1)[-1]}](#{spec['$ref'].rsplit('/', 1)[-1].lower()})"
    if "anyOf" in spec:
        return " or ".join(_type(s, defs) for s in spec["anyOf"])
    if "enum" in spec:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in spec["enum"])
    if "const" in spec:
        return f"`{json.dumps(spec['const'])}`"
    kind = spec.get("type", "any")
    if kind == "array":
        return f"list of {_type(spec.get('items', {}), defs)}"
    if kind == "object" and "additionalProperties" in spec and isinstance(spec["additionalProperties"], dict):
        keys = spec.get("propertyNames", {})
        key = f" ({_type(keys, defs)})" if keys else ""
        return f"map{key} of {_type(spec['additionalProperties'], defs)}"
    text = str(kind)
    bounds = [
        f"{word} {spec[key]}"
        for key, word in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<"))
        if key in spec
    ]
    if "pattern" in spec:
        bounds.append(f"matching `{spec['pattern']}`")
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def _rows(model: dict[str, Any], defs: dict[str, Any]) -> list[str]:
    required = set(model.get("required", []))
    rows = ["| Field | Type | Default | Meaning |", "|---|---|---|---|"]
    for name, spec in model.get("properties", {}).items():
        if name == "$schema":
            continue
        if name in required:
            default = "required"
        elif isinstance(spec.get("default"), dict) and spec["default"] and "$ref" in json.dumps(spec):
            default = "its defaults"
        else:
            default = f"`{json.dumps(spec['default'])}`" if "default" in spec else "—"
        meaning = " ".join(str(spec.get("description", "")).split()).replace("|", "\\|")
        rows.append(f"| `{name}` | {_type(spec, defs)} | {default} | {meaning} |")
    return rows


def reference() -> str:
    body = schema()
    defs: dict[str, Any] = body.get("$defs", {})
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by `python -m tools.config_schema` from infra/config.py; a test keeps it current. -->",
        "",
        "One file per environment, `config/<name>.json`, validated before any construct is built (a mistake stops",
        "synth with one line naming the file, the field, the reason and the fix). Editors validate and complete the",
        'files through `"$schema": "./schema.json"` (config/schema.json, generated from the same model).',
        "",
        "## EnvironmentConfig (the file)",
        "",
        *_rows(body, defs),
    ]
    for name in sorted(defs):
        model = defs[name]
        lines += ["", f"## {name}", ""]
        if model.get("description"):
            lines += [" ".join(str(model["description"]).split()), ""]
        if "properties" in model:
            lines += _rows(model, defs)
        else:
            lines.append(f"Type: {_type(model, defs)}")
    return "\n".join(lines) + "\n"


def rendered() -> dict[Path, str]:
    return {SCHEMA: json.dumps(schema(), indent=2, ensure_ascii=False) + "\n", REFERENCE: reference()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.config_schema", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that both files are current (exit 1 if not)")
    args = parser.parse_args(argv)
    stale = [path for path, text in rendered().items() if not path.exists() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is not current: run python -m tools.config_schema", file=sys.stderr)
        return 1 if stale else 0
    for path, text in rendered().items():
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
