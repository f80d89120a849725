"""SLO burn-rate alarms as synthesized: per pair two window alarms that notify nobody and one composite that notifies
the slo (page) or warning (ticket) topic, every window within CloudWatch's limits, from the one window table."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from infra.constructs.slo_alarms import monthly_cost, plan_pairs, ratio_expression, realise
from infra.slo import WINDOWS, alarm_threshold, minutes
from tests.infra.conftest import Synthesized, synthesized


def _by_name(world: Synthesized, kind: str) -> dict[str, dict[str, Any]]:
    return {
        r["Properties"]["AlarmName"]: dict(r)
        for template in world.templates.values()
        for r in template.find_resources(kind).values()
    }


def _topic(arn: Any) -> str:
    return str(arn["Fn::Join"][1][-1]).rsplit(":", 1)[-1]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_slo_alarms_every_pair_has_two_silent_windows_and_a_notifying_composite(env: str) -> None:
    world = synthesized(env)
    windows = _by_name(world, "AWS::CloudWatch::Alarm")
    composites = _by_name(world, "AWS::CloudWatch::CompositeAlarm")
    expected = 0
    for slo in world.config.slos:
        for pair in plan_pairs(env, slo):
            expected += 1
            composite = composites[pair.composite]
            properties = composite["Properties"]
            assert properties["AlarmRule"] == f'ALARM("{pair.long.name}") AND ALARM("{pair.short.name}")'
            topic = {"page": f"{env}-slo", "ticket": f"{env}-warning"}[pair.pair.action]
            assert [_topic(a) for a in properties["AlarmActions"]] == [topic]
            assert [_topic(a) for a in properties["OKActions"]] == [topic]
            assert set(composite["DependsOn"]) == {
                logical
                for template in world.templates.values()
                for logical, r in template.find_resources("AWS::CloudWatch::Alarm").items()
                if r["Properties"]["AlarmName"] in (pair.long.name, pair.short.name)
            }
            for window, span in ((pair.long, pair.pair.long), (pair.short, pair.pair.short)):
                alarm = windows[window.name]["Properties"]
                assert alarm["ActionsEnabled"] is False
                assert not alarm.get("AlarmActions") and not alarm.get("OKActions")
                assert alarm["Threshold"] == alarm_threshold(slo.objective, pair.pair)
                assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
                assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (1, 1)
                periods = {q["MetricStat"]["Period"] for q in alarm["Metrics"] if "MetricStat" in q}
                assert periods == {minutes(span) * 60}
                [ratio] = [q for q in alarm["Metrics"] if q.get("ReturnData")]
                assert ratio["Expression"] == ratio_expression(slo)
    assert expected == len(composites) and 2 * expected == sum(1 for n in windows if n.startswith(f"{env}-slo-"))


def test_slo_alarms_descriptions_carry_the_slo_line_runbook_and_dashboard(prod: Synthesized) -> None:
    composites = _by_name(prod, "AWS::CloudWatch::CompositeAlarm")
    description = composites["prod-slo-checkout-availability-6h-30m-page"]["Properties"]["AlarmDescription"]
    lines = description.splitlines()
    assert lines[0] == "slo: name=checkout-availability objective=99.9 period=30d window=6h/30m burn=6 action=page"
    assert "runbook: https://github.com/example-org/alert-forwarding/blob/main/docs/runbooks/slo-burn-rate.md" in lines
    assert any(line.startswith("dashboard: https://") for line in lines)
    # an SLO without its own dashboard link gets the environment's dashboard
    billing = composites["prod-slo-billing-api-availability-1h-5m-page"]["Properties"]["AlarmDescription"]
    assert (
        "dashboard: https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards/dashboard/prod-alerting"
        in billing
    )
    for composite in composites.values():
        assert len(composite["Properties"]["AlarmDescription"]) <= 1024
    window = _by_name(prod, "AWS::CloudWatch::Alarm")["prod-slo-checkout-availability-6h-30m-over-30m"]
    assert "slo: name=checkout-availability" in window["Properties"]["AlarmDescription"]
    assert "notifies nobody" in window["Properties"]["AlarmDescription"]


def test_slo_alarms_a_dev_slo_with_its_own_windows_gets_only_those(dev: Synthesized) -> None:
    names = sorted(n for n in _by_name(dev, "AWS::CloudWatch::CompositeAlarm") if "orders-gateway-errors" in n)
    assert names == ["dev-slo-orders-gateway-errors-1d-2h-ticket", "dev-slo-orders-gateway-errors-1h-5m-page"]


@pytest.mark.parametrize(
    ("span", "period"),
    [(5, 300), (30, 1800), (60, 3600), (120, 7200), (360, 21600), (1440, 86400), (4320, 259200), (10080, 604800)],
)
def test_slo_alarms_a_window_is_one_period_of_its_length(span: int, period: int) -> None:
    realised = realise(span)
    assert (realised.period, realised.evaluation_periods) == (period, 1)
    # CloudWatch: Period x EvaluationPeriods <= 1 day under an hour's period, <= 7 days otherwise
    assert realised.seconds <= (86_400 if realised.period < 3600 else 604_800)


def test_slo_alarms_refuse_a_window_cloudwatch_cannot_evaluate() -> None:
    with pytest.raises(ValueError, match="at most 7 day"):
        realise(10081)
    with pytest.raises(ValueError, match="cannot be one CloudWatch period"):
        realise(0)


def test_slo_alarms_every_default_window_is_realisable() -> None:
    for pair in WINDOWS:
        assert realise(pair.long_minutes).seconds == pair.long_minutes * 60
        assert realise(pair.short_minutes).seconds == pair.short_minutes * 60


def test_slo_alarms_missing_counts_are_zero_no_traffic_is_no_error_and_errors_alone_are_all_errors(
    dev: Synthesized,
) -> None:
    [availability] = [s for s in dev.config.slos if s.name == "api-availability"]
    total, bad = "FILL(total_value, 0)", "FILL(bad_target, 0) + FILL(bad_elb, 0)"
    assert ratio_expression(availability) == f"IF(({total}) > 0, ({bad}) / ({total}), IF(({bad}) > 0, 1, 0))"
    [latency] = [s for s in dev.config.slos if s.name == "api-latency"]
    bad = "FILL(total_value, 0) - FILL(good_value, 0)"
    assert ratio_expression(latency) == (
        f"IF((FILL(total_value, 0)) > 0, ({bad}) / (FILL(total_value, 0)), IF(({bad}) > 0, 1, 0))"
    )


class _N(float):
    """A CloudWatch number: division by zero is not an error (the IF around it picks the other branch)."""

    def __truediv__(self, other: float) -> _N:
        return _N(float(self) / other if other else float("inf"))

    def __sub__(self, other: float) -> _N:
        return _N(float(self) - other)

    def __add__(self, other: float) -> _N:
        return _N(float(self) + other)


def _evaluate(expression: str, values: dict[str, float]) -> float:
    """CloudWatch's IF and FILL, enough to evaluate a ratio expression for one period."""
    python = re.sub(r"FILL\((\w+), 0\)", lambda m: f"_N({values.get(m.group(1), 0.0)!r})", expression)
    python = python.replace("IF(", "_if(")
    scope = {"_N": _N, "_if": lambda c, a, b: a if c else b, "__builtins__": {}}
    return float(eval(python, scope))


def test_slo_alarms_a_total_outage_is_a_ratio_of_one_not_zero(dev: Synthesized) -> None:
    """An ALB whose target group is empty answers every request with its own 5xx, and RequestCount (requests a
    target was chosen for) stays 0: the ratio must be 1 (page), never 0."""
    [availability] = [s for s in dev.config.slos if s.name == "api-availability"]
    expression = ratio_expression(availability)
    assert _evaluate(expression, {"bad_elb": 120.0}) == 1.0  # no target 5xx published, RequestCount 0
    assert _evaluate(expression, {}) == 0.0
    assert _evaluate(expression, {"bad_target": 3.0, "total_value": 1000.0}) == 0.003


def test_slo_alarms_shipped_alb_availability_counts_the_load_balancers_own_5xx_too() -> None:
    """The ALB answers 502/503/504 itself when targets are unhealthy, slow or gone (HTTPCode_ELB_5XX_Count); an SLI
    counting only the targets' 5xx misses exactly the outages that matter. Either count may be missing (ALB
    publishes them only when not zero): each is FILLed with 0 before the sum."""
    from infra.config import load_config

    for env, name in (("dev", "api-availability"), ("prod", "checkout-availability")):
        [slo] = [s for s in load_config(env).slos if s.name == name]
        metrics = {stat.metric: stat for stat in slo.cloudwatch_error_ratio().metrics.values()}
        assert {"HTTPCode_Target_5XX_Count", "HTTPCode_ELB_5XX_Count", "RequestCount"} <= set(metrics), env
        assert {tuple(stat.dimensions) for stat in metrics.values()} == {("LoadBalancer",)}, env
        expression = ratio_expression(slo)
        assert _evaluate(expression, {"bad_target": 2.0, "total_value": 1000.0}) == 0.002, env
        assert _evaluate(expression, {"bad_elb": 5.0, "total_value": 1000.0}) == 0.005, env
        assert _evaluate(expression, {"bad_target": 2.0, "bad_elb": 5.0, "total_value": 1000.0}) == 0.007, env
        assert _evaluate(expression, {"bad_elb": 50.0}) == 1.0, env


def test_slo_alarms_cost_per_slo(dev: Synthesized) -> None:
    costs = {s.name: monthly_cost(s) for s in dev.config.slos}
    # 8 window alarms x 2 metrics x $0.10 + 4 composites x $0.50; the 2-pair SLO half of that
    # api-availability reads 3 metrics (target 5xx, load balancer 5xx, requests): 8 x 3 x $0.10 + 4 x $0.50
    assert costs == {"api-availability": 4.4, "api-latency": 3.6, "orders-gateway-errors": 1.8}


def test_slo_alarms_docs_state_the_realisation_of_every_window() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "slos.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+[mhd]) \| (\d+) \| (\d+) \|", text, re.M)
    spans = {s for pair in WINDOWS for s in (pair.long, pair.short)}
    assert {span for span, _, _ in rows} == spans
    for span, period, evaluations in rows:
        realised = realise(minutes(span))
        assert (realised.period, realised.evaluation_periods) == (int(period), int(evaluations)), span


def test_slo_alarms_many_slos_split_into_stacks_and_dashboards_under_the_limits() -> None:
    from aws_cdk import App
    from aws_cdk.assertions import Template

    from infra.app_builder import build
    from infra.config import load_config

    config = load_config("dev")
    [one] = [s for s in config.slos if s.name == "api-availability"]
    many = [one.model_copy(update={"name": f"api-{i:02d}"}) for i in range(20)]
    app = App(context={"aws:cdk:bundling-stacks": []})
    stacks = build(app, config.model_copy(update={"slos": many}), nag=False)
    slo_stacks = {s.stack_name: Template.from_stack(s).to_json() for s in stacks if "-slos" in s.stack_name}
    assert sorted(slo_stacks) == ["dev-slos-1", "dev-slos-2"]
    dashboards = {}
    for name, template in slo_stacks.items():
        assert len(template["Resources"]) < 500
        [dashboard] = [r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
        dashboards[name] = dashboard["Properties"]["DashboardName"]
        composites = [r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::CompositeAlarm"]
        assert len(composites) == 4 * (16 if name.endswith("-1") else 4)
        body = json.dumps(dashboard["Properties"]["DashboardBody"])
        assert ("AlertForwarding" in body) == name.endswith("-1")  # the pipeline's health once, on the first
        assert body.count('\\"type\\":') <= 500  # widgets per dashboard
    assert dashboards == {"dev-slos-1": "dev-alerting", "dev-slos-2": "dev-alerting-2"}
