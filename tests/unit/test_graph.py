"""graph: the MetricWidget of an alarm (metric, metric math, anomaly band; threshold and change drawn; bounded),
and render_graph's PNG or None, never raising, counted when it fails (GetMetricWidgetImage stubbed: moto lacks it)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from alertlib.deliver import Deadline
from alertlib.graph import (
    GRAPH_FAILED,
    MAX_SIDE,
    MAX_WIDGET_BYTES,
    PNG_SIGNATURE,
    graph_client,
    metric_widget,
    render_graph,
)
from alertlib.models import Alert, Metric
from tests.conftest import NOW, load_event
from tests.unit.helpers import alarm, alertmanager, group_of

PNG = PNG_SIGNATURE + b"\x00\x00\x00\rIHDR" + b"\x00" * 100


def cpu_alert() -> Alert:
    return group_of(alarm()).alerts[0]


class Counted:
    def __init__(self) -> None:
        self.counts: list[tuple[str, str]] = []

    def add(self, name: str, source: str, value: int = 1) -> None:
        self.counts.append((name, source))


def test_graph_widget_draws_the_metric_threshold_and_change_around_the_breach() -> None:
    alert = cpu_alert()  # changed 2026-11-22 02:55, rendered at 03:00
    widget = metric_widget(alert, now=NOW)
    assert widget is not None
    assert widget["metrics"] == [["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", "orders-db",
                                  {"label": "CPUUtilization", "stat": "Average", "period": 60}]]  # fmt: skip
    assert (widget["start"], widget["end"]) == ("2026-11-21T23:55:00Z", "2026-11-22T03:00:00Z")
    assert widget["annotations"]["horizontal"] == [{"value": 90.0, "label": "threshold 90", "fill": "above"}]
    assert widget["annotations"]["vertical"] == [{"value": "2026-11-22T02:55:00Z", "label": "ALARM"}]
    assert widget["title"] == alert.title and widget["period"] == 60


def test_graph_widget_ends_30_minutes_after_the_change_when_drawn_later() -> None:
    widget = metric_widget(cpu_alert(), now=NOW + timedelta(hours=5))
    assert widget is not None and widget["end"] == "2026-11-22T03:25:00Z"


def test_graph_widget_of_metric_math_rebuilds_its_inputs() -> None:
    alert = group_of(load_event("lambda-sns-cloudwatch-metric-math-alarm__aws-lambda-go.json")).alerts[0]
    widget = metric_widget(alert, now=NOW)
    assert widget is not None
    assert widget["metrics"] == [
        ["AWS/EC2", "NetworkOut", "InstanceId", "TestInstance", {"id": "m1", "visible": False, "stat": "Average",
                                                                 "period": 60}],
        [{"expression": "m1*1", "id": "e1", "label": "Expression1"}],
    ]  # fmt: skip


def test_graph_widget_of_an_anomaly_band_draws_the_band_expression() -> None:
    metric = replace(cpu_alert().metric, expression="ANOMALY_DETECTION_BAND(m1, 2)", threshold=None,  # type: ignore[arg-type]
                     comparison="LessThanLowerOrGreaterThanUpperThreshold", band=(10.0, 80.0))  # fmt: skip
    widget = metric_widget(replace(cpu_alert(), metric=metric), now=NOW)
    assert widget is not None
    assert widget["metrics"][0][-1]["id"] == "m1"
    assert widget["metrics"][1] == [
        {"expression": "ANOMALY_DETECTION_BAND(m1, 2)", "id": "ad1", "label": "expected band"}
    ]
    assert "horizontal" not in widget["annotations"]


def test_graph_widget_of_a_band_seen_without_its_expression_draws_it_as_a_band() -> None:
    metric = replace(cpu_alert().metric, threshold=None, band=(10.0, 80.0))  # type: ignore[arg-type]
    widget = metric_widget(replace(cpu_alert(), metric=metric), now=NOW)
    assert widget is not None
    assert widget["annotations"]["horizontal"] == [[{"value": 10.0, "label": "expected band"}, {"value": 80.0}]]


@pytest.mark.parametrize(
    "alert",
    [
        pytest.param(lambda: group_of(alertmanager(1)).alerts[0], id="alertmanager"),
        pytest.param(lambda: replace(cpu_alert(), metric=None), id="no metric"),
        pytest.param(
            lambda: replace(cpu_alert(), metric=Metric(expression="m1+m2", inputs=("and 3 more",))), id="inputs unknown"
        ),
        pytest.param(lambda: replace(cpu_alert(), metric=Metric(threshold=1.0)), id="composite"),
    ],
)
def test_graph_widget_is_none_when_nothing_can_be_drawn_honestly(alert: Any) -> None:
    assert metric_widget(alert(), now=NOW) is None


def test_graph_widget_is_bounded_whatever_the_alarm_carries() -> None:
    huge = "x" * 5000
    metric = Metric(namespace=huge, name=huge, dimensions=tuple((huge, huge) for _ in range(200)), statistic=huge,
                    period=10**15, threshold=float("nan"))  # fmt: skip
    alert = replace(cpu_alert(), title=huge, metric=metric)
    widget = metric_widget(alert, now=NOW, width=10**6, height=-5)
    assert widget is not None
    assert len(json.dumps(widget)) <= MAX_WIDGET_BYTES
    assert widget["width"] == MAX_SIDE and widget["height"] == 1 and len(widget["title"]) == 120
    assert len(widget["metrics"][0]) == 2 + 2 * 30 + 1 and "horizontal" not in widget["annotations"]
    start = datetime.fromisoformat(widget["start"].replace("Z", "+00:00"))
    assert datetime(2026, 11, 22, 2, 55, tzinfo=UTC) - start == timedelta(days=7)


@pytest.fixture
def cloudwatch(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return boto3.client("cloudwatch", region_name="us-east-1")


def test_graph_render_returns_the_png_for_the_widget(cloudwatch: Any) -> None:
    counted = Counted()
    with Stubber(cloudwatch) as stub:
        stub.add_response("get_metric_widget_image", {"MetricWidgetImage": PNG},
                          {"MetricWidget": ANY, "OutputFormat": "png"})  # fmt: skip
        assert render_graph(cpu_alert(), cloudwatch, now=NOW, counters=counted) == PNG  # type: ignore[arg-type]
        stub.assert_no_pending_responses()
    assert counted.counts == []


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"service_error_code": "Throttling", "http_status_code": 400}, "throttled"),
        ({"service_error_code": "InvalidParameterInput", "http_status_code": 400}, "refused"),
        ({"service_response": {"MetricWidgetImage": b"<html>not a png</html>"}}, "not a PNG"),
    ],
)
def test_graph_render_failure_is_none_and_counted(cloudwatch: Any, answer: dict[str, Any], reason: str) -> None:
    counted = Counted()
    with Stubber(cloudwatch) as stub:
        if "service_response" in answer:
            stub.add_response("get_metric_widget_image", answer["service_response"])
        else:
            stub.add_client_error("get_metric_widget_image", **answer)
        assert render_graph(cpu_alert(), cloudwatch, now=NOW, counters=counted) is None  # type: ignore[arg-type]
    assert counted.counts == [(GRAPH_FAILED, "cloudwatch")], reason


class Unimplemented:
    """What moto does with GetMetricWidgetImage."""

    def get_metric_widget_image(self, **kwargs: Any) -> dict[str, Any]:
        raise NotImplementedError("The GetMetricWidgetImage action has not been implemented")


def test_graph_render_never_raises_and_skips_when_no_time_is_left() -> None:
    counted = Counted()
    assert render_graph(cpu_alert(), Unimplemented(), now=NOW, counters=counted) is None  # type: ignore[arg-type]
    assert render_graph(cpu_alert(), None, now=NOW, deadline=Deadline(1.0), counters=counted) is None  # type: ignore[arg-type]
    assert counted.counts == [(GRAPH_FAILED, "cloudwatch")] * 2


def test_graph_render_of_an_alert_without_a_metric_is_none_and_not_a_failure() -> None:
    counted = Counted()
    alert = group_of(alertmanager(1)).alerts[0]
    assert render_graph(alert, Unimplemented(), now=NOW, counters=counted) is None  # type: ignore[arg-type]
    assert counted.counts == []


def test_graph_client_waits_little_and_tries_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    client = graph_client("us-east-1")
    config = client.meta.config
    assert client.meta.region_name == "us-east-1"
    assert (config.connect_timeout, config.read_timeout) == (2.0, 4.0)
    assert config.retries["total_max_attempts"] == 1


def test_graph_widget_of_a_date_at_the_calendar_edge_is_none() -> None:
    alert = replace(cpu_alert(), starts_at=datetime(1, 1, 1, 1, tzinfo=UTC))
    assert metric_widget(alert, now=NOW) is None
