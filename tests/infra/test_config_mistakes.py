"""Mistakes synth used to accept without a word (issue 14): each now stops it with one line naming the file, the
field, the reason and the fix."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from infra.config import ConfigError, load_config
from infra.config_checks import is_statistic

ROOT = Path(__file__).resolve().parents[2]
VALID: dict[str, Any] = json.loads((ROOT / "config" / "dev.json").read_text())


def _load(tmp_path: Path, body: dict[str, Any] | str) -> None:
    text = body if isinstance(body, str) else json.dumps(body)
    (tmp_path / "broken.json").write_text(text)
    load_config("broken", tmp_path)


def _with(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(VALID)
    body.pop("name", None)
    body.update(changes)
    return body


def _error(tmp_path: Path, body: dict[str, Any] | str) -> str:
    with pytest.raises(ConfigError) as raised:
        _load(tmp_path, body)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("config/broken.json: ")
    return message


def test_config_override_key_typo_is_refused_with_the_fix(tmp_path: Path) -> None:
    message = _error(tmp_path, _with(defaults={"rds-cpu-utilisation": {"threshold": 70}}))
    assert "defaults.rds-cpu-utilisation:" in message
    assert "did you mean rds-cpu-utilization?" in message


def test_config_resource_override_key_typo_is_refused(tmp_path: Path) -> None:
    rds = copy.deepcopy(VALID["rds"])
    rds[0]["overrides"] = {"FreeStorageSpac": {"threshold": 10}}
    message = _error(tmp_path, _with(rds=rds))
    assert "rds[0].overrides.FreeStorageSpac:" in message
    assert "did you mean FreeStorageSpace?" in message


def test_config_override_of_another_service_is_refused(tmp_path: Path) -> None:
    ecs = copy.deepcopy(VALID["ecs"])
    ecs[0]["overrides"] = {"rds-cpu-utilization": {"threshold": 10}}
    assert "ecs[0].overrides.rds-cpu-utilization:" in _error(tmp_path, _with(ecs=ecs))


def test_config_override_keys_by_kind_and_by_metric_are_accepted(tmp_path: Path) -> None:
    rds = copy.deepcopy(VALID["rds"])
    rds[0]["overrides"] = {"CPUUtilization": {"threshold": 70}, "rds-free-storage-space": {"enabled": False}}
    _load(tmp_path, _with(rds=rds, defaults={"ecs-cpu-utilization": {"topic": "warning"}}))


@pytest.mark.parametrize("value", [True, False, "90", None])
def test_config_threshold_is_never_a_boolean_or_a_string(tmp_path: Path, value: Any) -> None:
    if value is None:  # null means "not overridden"
        _load(tmp_path, _with(defaults={"rds-cpu-utilization": {"threshold": value}}))
        return
    message = _error(tmp_path, _with(defaults={"rds-cpu-utilization": {"threshold": value}}))
    assert "defaults.rds-cpu-utilization.threshold: Input should be a valid number" in message


@pytest.mark.parametrize(("field", "value"), [("max_connections", "400"), ("memory_gib", True), ("replica", "yes")])
def test_config_resource_fields_are_strictly_typed(tmp_path: Path, field: str, value: Any) -> None:
    rds = copy.deepcopy(VALID["rds"])
    rds[0][field] = value
    assert f"rds[0].{field}:" in _error(tmp_path, _with(rds=rds))


def test_config_duplicated_key_is_refused_naming_it(tmp_path: Path) -> None:
    text = json.dumps(_with(), indent=1)
    doubled = text.replace('"rds": [', '"rds": [],\n "rds": [', 1)
    assert doubled != text
    message = _error(tmp_path, doubled)
    assert "rds: this key appears twice" in message
    assert "lines" in message


@pytest.mark.parametrize(("region", "hint"), [("eu-centrall-1", "eu-central-1"), ("us-east-9", None)])
def test_config_unknown_region_is_refused(tmp_path: Path, region: str, hint: str | None) -> None:
    message = _error(tmp_path, _with(region=region))
    assert f"region: {region!r} is not an AWS region" in message
    if hint:
        assert f"did you mean {hint}?" in message


@pytest.mark.parametrize("region", ["eu-west-1", "us-gov-west-1", "cn-north-1", "ap-southeast-5", "eu-central-2"])
def test_config_real_regions_are_accepted(tmp_path: Path, region: str) -> None:
    _load(tmp_path, _with(region=region))


def test_config_unknown_statistic_is_refused(tmp_path: Path) -> None:
    message = _error(tmp_path, _with(defaults={"rds-cpu-utilization": {"statistic": "Avg"}}))
    assert "defaults.rds-cpu-utilization.statistic: 'Avg' is not a CloudWatch statistic" in message
    assert "did you mean Average?" in message


@pytest.mark.parametrize(
    "statistic",
    [
        "Average",
        "Sum",
        "Minimum",
        "Maximum",
        "SampleCount",
        "p90",
        "p99.9",
        "p100",
        "tm99",
        "wm90",
        "tc90",
        "ts99",
        "TM(10%:90%)",
        "TC(:0.3)",
        "TS(0.005:0.030)",
        "PR(:300)",
        "IQM",
    ],
)
def test_config_cloudwatch_statistics_are_known(statistic: str) -> None:
    assert is_statistic(statistic)


@pytest.mark.parametrize("statistic", ["Avg", "average", "p", "p1000", "P90x", "TM(", "max", ""])
def test_config_non_statistics_are_not(statistic: str) -> None:
    assert not is_statistic(statistic)


def test_config_topic_without_destination_names_the_alarms_that_would_go_nowhere(tmp_path: Path) -> None:
    topics = copy.deepcopy(VALID["topics"])
    topics["critical"] = {"slack": []}
    forwarders = {k: v for k, v in VALID["forwarders"].items() if k != "slack_apps"}  # the app route was critical's
    message = _error(tmp_path, {k: v for k, v in _with(topics=topics, forwarders=forwarders).items() if k != "oncall"})
    assert "topics.critical: reaches no destination" in message
    assert "broken-rds-orders-db-" in message  # the orders-db alarms are on the critical topic


def test_config_topic_read_only_by_email_is_a_destination(tmp_path: Path) -> None:
    topics = copy.deepcopy(VALID["topics"])
    topics["warning"] = {"emails": ["oncall@example.com"]}
    _load(tmp_path, _with(topics=topics))


def test_config_schema_pointer_is_allowed(tmp_path: Path) -> None:
    _load(tmp_path, {"$schema": "./schema.json", **_with()})


@pytest.mark.parametrize("name", ["dev", "prod", "scale"])
def test_config_shipped_files_have_no_mistakes(name: str) -> None:
    load_config(name)


def test_config_ecs_without_container_insights_skips_the_running_task_alarm(tmp_path: Path) -> None:
    from infra.alarm_specs import plan_alarms, plan_notes

    ecs = copy.deepcopy(VALID["ecs"])
    ecs[0]["container_insights"] = False
    _load(tmp_path, _with(ecs=ecs))
    config = load_config("broken", tmp_path)
    kinds = {(s.resource, s.kind) for s in plan_alarms(config)}
    assert ("web-api", "ecs-running-task-count") not in kinds
    assert ("web-worker", "ecs-running-task-count") in kinds
    assert ("web-api", "ecs-cpu-utilization") in kinds
    assert plan_notes(config) == [
        "ecs web/api: no running-task alarm (container_insights: false; turn Container Insights on for the cluster "
        "and remove the flag to have it)"
    ]


def test_config_typed_object_built_in_code_is_checked_too() -> None:
    from aws_cdk import App

    from infra.app_builder import build

    config = load_config("dev")
    broken = config.model_copy(update={"region": "eu-centrall-1"})
    with pytest.raises(ConfigError, match="region: 'eu-centrall-1' is not an AWS region; did you mean eu-central-1"):
        build(App(), broken, nag=False)


@pytest.mark.parametrize("alias", [" ", "\t", "\u00a0"])
def test_config_blank_account_alias_is_refused(tmp_path: Path, alias: str) -> None:
    """The forwarders refuse a blank alias at every invocation: synth must refuse it first."""
    message = _error(tmp_path, _with(account_aliases={"111111111111": alias}))
    assert "account_aliases.111111111111" in message


def _slo_with(change: Any) -> dict[str, Any]:
    body = _with()
    slo = body["slos"][0]  # dev's api-availability: ALB (target + load balancer) 5xx / RequestCount
    change(slo["sli"])
    return body


def test_config_slo_on_an_alb_arn_instead_of_its_metric_name_is_refused(tmp_path: Path) -> None:
    arn = "arn:aws:elasticloadbalancing:eu-west-1:111111111111:loadbalancer/app/dev-web/50dc6c495c0c9188"
    elb = lambda sli: sli["bad"]["metrics"]["elb"]["dimensions"].update(LoadBalancer=arn)  # noqa: E731
    message = _error(tmp_path, _slo_with(elb))
    assert "slos[0].sli.bad.metrics.elb: LoadBalancer" in message and "app/<name>/<id>" in message


def test_config_slo_metric_that_cloudwatch_does_not_publish_is_refused(tmp_path: Path) -> None:
    message = _error(tmp_path, _slo_with(lambda sli: sli["total"].update(metric="RequestCounts")))
    assert "slos[0].sli.total: AWS/ApplicationELB publishes no metric 'RequestCounts'" in message


def test_config_slo_metric_with_dimensions_aws_never_publishes_is_refused(tmp_path: Path) -> None:
    target = lambda sli: sli["bad"]["metrics"]["target"]["dimensions"].update(Service="api")  # noqa: E731
    message = _error(tmp_path, _slo_with(target))
    assert "slos[0].sli.bad.metrics.target:" in message and "is published with dimensions" in message


def test_config_slo_on_a_teams_own_metric_is_accepted(tmp_path: Path) -> None:
    own = {"namespace": "Shop/Checkout", "metric": "OrdersFailed", "dimensions": {"Stage": "dev"}}
    _load(tmp_path, _slo_with(lambda sli: sli.update(bad=own)))
