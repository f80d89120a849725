"""cdk-nag (AwsSolutions, 3.x) and cfn-lint over every environment; the scale environment's split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_sqs as sqs
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint_file

from infra.app_builder import build
from infra.config import load_config
from tests.infra.conftest import synthesized

ENVIRONMENTS = ("dev", "prod", "scale")


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_nag_finds_nothing_unacknowledged(name: str) -> None:
    result = AwsSolutionsChecks().validate_scope(synthesized(name).app)
    findings = [(v.rule_name, [r.resource_logical_id for r in v.violating_resources]) for v in result.violations]
    assert result.success, findings


def test_nag_would_fail_an_unacknowledged_finding() -> None:
    app = App(context={"aws:cdk:bundling-stacks": []})
    build(app, load_config("dev"), nag=False)
    sqs.Queue(Stack(app, "Careless"), "PlainQueue")
    result = AwsSolutionsChecks().validate_scope(app)
    assert not result.success
    assert {v.rule_name for v in result.violations} >= {"AwsSolutions-SQS3", "AwsSolutions-SQS4"}


@pytest.fixture(scope="module")
def assemblies() -> dict[str, Path]:
    return {name: Path(synthesized(name).app.synth().directory) for name in ENVIRONMENTS}


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_cfn_lint_clean(assemblies: dict[str, Path], name: str) -> None:
    templates = sorted(assemblies[name].glob("*.template.json"))
    assert len(templates) == 5  # alerting, 3 alarm stacks, slos
    problems = [str(m) for t in templates for m in lint_file(t, ManualArgs(regions=[load_config(name).region]))]
    assert problems == []


def test_cfn_lint_clean_at_scale(assemblies: dict[str, Path]) -> None:
    # The alarm stacks of `scale` are one shape repeated; lint the core and the first slice of each service.
    templates = [assemblies["scale"] / f"scale-{s}.template.json" for s in ("alerting", "alarms-rds-1", "alarms-ecs-1")]
    problems = [str(m) for t in templates for m in lint_file(t, ManualArgs(regions=["eu-central-1"]))]
    assert problems == []


def test_scale_splits_under_500_resources_and_1_mb(assemblies: dict[str, Path]) -> None:
    counts = {}
    alarms = 0
    for template in sorted(assemblies["scale"].glob("*.template.json")):
        body = json.loads(template.read_text())
        counts[template.name] = len(body["Resources"])
        assert len(body["Resources"]) < 500, template.name
        assert template.stat().st_size < 1_000_000, template.name
        alarms += sum(1 for r in body["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm")
    # the catalogue's, and self-monitoring: 8 forwarder, 2 queue, 3 endpoint, 6 SNS redrive, 1 dead-alarm auditor,
    # RecheckFailed and SloQueryFailed (scale has no Slack app route and no on-call: no thread or click alarms)
    assert alarms == 2634 + 22 + 80  # and 10 SLOs x 8 window alarms (composites are another type)
    assert len(counts) == 11  # the alerting stack, 9 slices of at most 350 alarms, the slos stack
