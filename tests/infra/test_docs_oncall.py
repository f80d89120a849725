"""The README's on-call section quotes what the stacks create (issue 11): each secret it puts a value in, each
stack output it reads, each `prod-…` function, table, queue or alarm it names exists in prod's templates
synthesized with that section's config (a Slack app route, `oncall` with every optional secret)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from infra.config import load_config
from tools.oncall_local import demo_config
from tools.serve import synthesize_config

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## On-call from Slack"


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return text[start : end if end >= 0 else len(text)]


@pytest.fixture(scope="module")
def templates() -> dict[str, dict[str, Any]]:
    config = demo_config(load_config("prod"))
    alertmanager = {
        "alertmanager_url": "https://alertmanager.example.com",
        "alertmanager_secret": "alerting/prod/alertmanager",
    }
    oncall = config.oncall.model_copy(update=alertmanager)
    return synthesize_config(config.model_copy(update={"oncall": oncall}))


def _names(templates: dict[str, dict[str, Any]]) -> set[str]:
    """Every name a resource of the templates is given (secrets, functions, tables, queues, alarms)."""
    keys = ("Name", "FunctionName", "TableName", "QueueName", "AlarmName")
    found: set[str] = set()
    for template in templates.values():
        for resource in template.get("Resources", {}).values():
            properties = resource.get("Properties") or {}
            found |= {properties[k] for k in keys if isinstance(properties.get(k), str)}
    return found


def test_docs_oncall_secrets_put_are_secrets_the_stacks_create(templates: dict[str, dict[str, Any]]) -> None:
    quoted = set(re.findall(r"--secret-id (\S+)", _section()))
    assert quoted, "the section puts no secret value"
    secrets = {
        r["Properties"]["Name"]
        for t in templates.values()
        for r in t.get("Resources", {}).values()
        if r.get("Type") == "AWS::SecretsManager::Secret" and isinstance(r.get("Properties", {}).get("Name"), str)
    }
    assert sorted(quoted - secrets) == []


def test_docs_oncall_outputs_read_are_outputs_of_the_alerting_stack(templates: dict[str, dict[str, Any]]) -> None:
    section = _section()
    quoted = set(re.findall(r"OutputKey=='(\w+)'", section)) | set(re.findall(r"`(\w+(?:Url|Names))`", section))
    assert {"SlackInteractivityUrl", "PagerDutyWebhookUrl", "OnCallSecretNames"} <= quoted
    outputs = set(templates["prod-alerting"].get("Outputs", {}))
    assert sorted(quoted - outputs) == []


def test_docs_oncall_resource_names_are_what_the_stacks_create(templates: dict[str, dict[str, Any]]) -> None:
    quoted = {n for n in re.findall(r"`(prod-[A-Za-z0-9-]+)`", _section()) if n != "prod-alerting"}
    assert quoted, "the section names no resource"
    assert sorted(quoted - _names(templates)) == []
