"""The `<env>-alerting` dashboard: per SLO attainment, budget left, burn rate per window and its alarms; the
pipeline's health from metrics that are published, under the names and dimensions they are published with."""

from __future__ import annotations

import json
from typing import Any

import pytest

from alertlib import observability
from infra.constructs.dashboard import FORWARDER_NAMESPACE, FORWARDER_OUTCOMES
from infra.metric_catalogue import CheckContext, check_alarm
from tests.infra.conftest import Synthesized, synthesized


def _body(world: Synthesized) -> tuple[str, dict[str, Any]]:
    [dashboard] = world.template("slos").find_resources("AWS::CloudWatch::Dashboard").values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    text = "".join(p if isinstance(p, str) else {"AWS::Region": world.config.region}[p["Ref"]] for p in parts)
    return dashboard["Properties"]["DashboardName"], json.loads(text)


def _metric_widgets(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [w["properties"] for w in body["widgets"] if w["type"] == "metric"]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_dashboard_shows_each_slo_attainment_budget_and_burn_per_window(env: str) -> None:
    world = synthesized(env)
    name, body = _body(world)
    assert name == f"{env}-alerting"
    widgets = _metric_widgets(body)
    titles = [w.get("title", "") for w in widgets]
    for slo in world.config.slos:
        title = f"{slo.name}: attainment, last {slo.period_days} days (%)"
        [attainment] = [w for w in widgets if w.get("title") == title]
        assert attainment["view"] == "singleValue" and attainment["setPeriodToTimeRange"] is True
        assert attainment["start"] == f"-P{slo.period_days}D"
        spans = {s for pair in slo.alert_windows for s in (pair.long, pair.short)}
        for span in spans:
            assert f"{slo.name}: burn rate over the last {span}" in titles
    alarms = [w["properties"] for w in body["widgets"] if w["type"] == "alarm"]
    shown = {arn.rsplit(":", 1)[-1] for w in alarms for arn in w["alarms"]}
    composites = {
        r["Properties"]["AlarmName"]
        for r in world.template("slos").find_resources("AWS::CloudWatch::CompositeAlarm").values()
    }
    assert shown == composites


def test_dashboard_budget_remaining_is_one_minus_ratio_over_budget(prod: Synthesized) -> None:
    _, body = _body(prod)
    budgets = [w for w in _metric_widgets(body) if "error budget remaining, last 30 days" in w.get("title", "")]
    expressions = [m[0]["expression"] for w in budgets for m in w["metrics"] if "expression" in m[0]]
    assert any(e.startswith("100 * (1 - (IF(") and e.endswith(") / 0.001)") for e in expressions)  # 99.9 %
    assert any(e.endswith(") / 0.0005)") for e in expressions)  # 99.95 %


def test_dashboard_pipeline_reads_the_forwarders_own_metrics(dev: Synthesized) -> None:
    _, body = _body(dev)
    text = json.dumps(body)
    alerting = dev.template("alerting").to_json()
    functions = [r["Properties"] for r in alerting["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    namespaces = {f["Environment"]["Variables"].get("POWERTOOLS_METRICS_NAMESPACE") for f in functions}
    assert FORWARDER_NAMESPACE in namespaces
    published = {
        observability.ALERTS_RECEIVED,
        observability.ALERTS_DELIVERED,
        observability.DELIVERY_FAILED,
        observability.PAYLOAD_REJECTED,
    }
    assert {metric for metric, _ in FORWARDER_OUTCOMES} == published
    for destination in ("pagerduty", "slack"):
        service = f"dev-{destination}-forwarder"
        assert service in {f.get("FunctionName") for f in functions}  # POWERTOOLS_SERVICE_NAME is the name
        for metric in published:
            search = (
                f'SEARCH(\'{{AlertForwarding,destination,service,source}} MetricName=\\"{metric}\\" '
                f"service=\\\"{service}\\\"', 'Sum', 300)"
            )
            assert search in text, search


def test_dashboard_every_plain_metric_is_published_with_its_dimensions(prod: Synthesized) -> None:
    _, body = _body(prod)
    alerting = prod.template("alerting").to_json()
    context = CheckContext.from_template(prod.config, alerting)
    problems: list[str] = []
    checked = 0
    for widget in _metric_widgets(body):
        for line in widget.get("metrics", []) + widget.get("left", []) + widget.get("right", []):
            if not isinstance(line[0], str):
                continue  # an expression
            options = line[-1] if isinstance(line[-1], dict) else {}
            names = [p for p in line if isinstance(p, str)]
            namespace, metric, dims = names[0], names[1], names[2:]
            alarm = {
                "AlarmName": f"widget {widget.get('title')}",
                "Namespace": namespace,
                "MetricName": metric,
                "Dimensions": [{"Name": dims[i], "Value": dims[i + 1]} for i in range(0, len(dims), 2)],
                "Statistic": options.get("stat", "Average"),
            }
            problems += check_alarm(alarm, context)
            checked += 1
    assert checked > 10
    assert problems == []


def test_dashboard_pipeline_shows_rechecks_and_what_degraded_a_delivered_message(dev: Synthesized) -> None:
    from alertlib import graph, recheck, slack_app, slo_burn

    _, body = _body(dev)
    text = json.dumps(body)
    schema = "{AlertForwarding,destination,service,source}"
    counted = [
        *((m, "pagerduty") for m in (recheck.RECHECKS_SCHEDULED, recheck.RECHECKS_FORWARDED, recheck.RECHECK_FAILED)),
        *((m, "slack") for m in (slack_app.THREAD_STORE_FAILED, slack_app.THREAD_PARENT_LOST)),
        *((m, "slack") for m in (slack_app.PARENT_UPDATE_FAILED, graph.GRAPH_FAILED)),
        (slo_burn.SLO_QUERY_FAILED, "pagerduty"),
        (slo_burn.SLO_QUERY_FAILED, "slack"),
    ]
    for metric, destination in counted:
        search = (
            f"SEARCH('{schema} MetricName=\\\"{metric}\\\" service=\\\"dev-{destination}-forwarder\\\"', 'Sum', 300)"
        )
        assert search in text, search
    # The Slack endpoint counts with its service only (alertlib.function_url.answer).
    assert (
        'SEARCH(\'{AlertForwarding,service} MetricName=\\"ActionUnchecked\\" service=\\"dev-slack-interactions\\"\''
        in text
    )
    titles = [w.get("title", "") for w in _metric_widgets(body)]
    assert any(t.startswith("Suppressed composite alarms looked at again") for t in titles)
    assert any(t.startswith("Delivered, but degraded") for t in titles)
