"""The graph of a CloudWatch metric alarm, for its Slack thread (issue 11; PROTOCOLS-NEXT.md section 6).

`metric_widget` is pure: the `MetricWidget` JSON for `GetMetricWidgetImage` from an `Alert`'s `Metric`: the metric
(or its metric math, or its anomaly detection band) from `BEFORE` the state change to `AFTER` it (or now, when
that is sooner), the threshold as a horizontal line shading the side that alarms, the moment of the change as a
vertical line, the alarm's name as title; every field bounded, at most `MAX_WIDGET_BYTES`. An alarm whose metric
cannot be drawn honestly (metric math whose inputs are not all known) has no graph: None.

`render_graph` asks an injected CloudWatch client for the PNG. It never raises and never waits long: any failure
(no time left, a throttle, a refusal, a time-out, something that is not a PNG) is logged, counted as
`GraphFailed`, and answered None; the alert's message went before it and does not wait for it. `graph_client`
makes the client it is meant for: short time-outs, one attempt.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from alertlib.models import Alert, Metric, Source, Status
from alertlib.text import one_line, truncate

if TYPE_CHECKING:
    from alertlib.deliver import Deadline
    from alertlib.observability import Counters

logger = logging.getLogger(__name__)

GRAPH_FAILED = "GraphFailed"
BEFORE = timedelta(hours=3)
AFTER = timedelta(minutes=30)
MAX_WINDOW = timedelta(days=7)
PERIODS_SHOWN = 30  # a long period shows at least this many of its datapoints before the change
WIDTH = 800
HEIGHT = 400
MAX_SIDE = 2000  # GetMetricWidgetImage's limit for width and height
MAX_WIDGET_BYTES = 100 * 1024
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_TITLE = 120
MAX_LABEL = 60
MAX_EXPRESSION = 2048
MAX_DIMENSIONS = 30
GRAPH_SECONDS = 6.0  # what a graph may still take of the invocation: no attempt starts with less left
CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 4.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_STATISTICS = {"AVERAGE": "Average", "SUM": "Sum", "MINIMUM": "Minimum", "MAXIMUM": "Maximum",
               "SAMPLECOUNT": "SampleCount"}  # fmt: skip
_BAND = re.compile(r"\s*ANOMALY_DETECTION_BAND\s*\(\s*(?P<id>[a-z][A-Za-z0-9_]*)", re.IGNORECASE)
# How normalise describes one input of metric math: `m1: AWS/Lambda Errors (FunctionName=a, Resource=b) Sum/60s`.
_INPUT = re.compile(
    r"(?P<id>[a-z][A-Za-z0-9_]*): (?P<namespace>\S+) (?P<name>\S+)(?: \((?P<dimensions>[^()]*)\))?"
    r"(?: (?P<stat>[^/\s]+)/(?P<period>\d+)s)?"
)
_LABEL_SUFFIX = re.compile(r"(?P<expression>.*\S) \((?P<label>[^()]*)\)")
_GREATER = ("GreaterThanThreshold", "GreaterThanOrEqualToThreshold", "GreaterThanUpperThreshold")
_LESS = ("LessThanThreshold", "LessThanOrEqualToThreshold", "LessThanLowerThreshold")


def metric_widget(alert: Alert, *, now: datetime, width: int = WIDTH, height: int = HEIGHT) -> dict[str, Any] | None:
    """The `MetricWidget` of `alert`'s metric around its state change; None when it has no metric to draw."""
    metric = alert.metric
    if metric is None or alert.source is Source.ALERTMANAGER:
        return None
    metrics = _metrics(metric)
    if not metrics:
        return None
    changed = alert.starts_at or alert.ends_at or now
    period = min(max(metric.period or 0, 0), int(MAX_WINDOW.total_seconds()))
    before = min(max(BEFORE, timedelta(seconds=period * PERIODS_SHOWN)), MAX_WINDOW)
    try:
        start = changed - before
        end = min(now, changed + AFTER)
        if end <= changed:  # a clock behind the alarm's: still show the change
            end = changed + timedelta(minutes=5)
    except (OverflowError, TypeError):  # a date at the end of the calendar, or one without a time zone
        return None
    widget: dict[str, Any] = {
        "metrics": metrics,
        "view": "timeSeries",
        "stacked": False,
        "title": truncate(one_line(alert.title), MAX_TITLE, what="graph title"),
        "start": _iso(start),
        "end": _iso(end),
        "width": min(max(width, 1), MAX_SIDE),
        "height": min(max(height, 1), MAX_SIDE),
        "legend": {"position": "bottom"},
        "annotations": _annotations(metric, alert.status, changed),
    }
    if period:
        widget["period"] = period
    size = len(json.dumps(widget))
    if size > MAX_WIDGET_BYTES:
        logger.warning("graph widget too large", extra={"bytes": size})
        return None
    return widget


def render_graph(
    alert: Alert,
    client: Any,
    *,
    now: datetime,
    deadline: Deadline | None = None,
    counters: Counters | None = None,
) -> bytes | None:
    """The PNG of `alert`'s metric, or None: no metric to draw (not counted), or any failure (counted)."""
    widget = metric_widget(alert, now=now)
    if widget is None:
        return None
    if deadline is not None and deadline.left() < GRAPH_SECONDS:
        return _failed(alert, counters, "no time left")
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = client.get_metric_widget_image(MetricWidget=json.dumps(widget), OutputFormat="png")
    except ClientError as exc:
        return _failed(alert, counters, str(exc.response.get("Error", {}).get("Code") or "ClientError"))
    except (BotoCoreError, OSError, ValueError, TypeError, AttributeError, NotImplementedError) as exc:
        # A time-out, no credentials, a fake or stand-in that cannot answer: the graph is only ever a bonus.
        return _failed(alert, counters, type(exc).__name__)
    image = answer.get("MetricWidgetImage") if isinstance(answer, dict) else None
    if not isinstance(image, bytes | bytearray) or bytes(image[:8]) != PNG_SIGNATURE:
        return _failed(alert, counters, "not a PNG")
    if len(image) > MAX_IMAGE_BYTES:
        return _failed(alert, counters, "image too large")
    return bytes(image)


def graph_client(region: str | None = None) -> Any:
    """A CloudWatch client for graphs: short time-outs and a single attempt (a graph is never worth a wait)."""
    from botocore.config import Config

    from alertlib.aws import session

    config = Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"mode": "standard", "total_max_attempts": 1},
    )
    return session().client("cloudwatch", region_name=region, config=config)


def graph_policy_statements() -> list[dict[str, Any]]:
    """The exact IAM statement `render_graph` needs. GetMetricWidgetImage takes no resource-level permission: "*"."""
    return [{"Effect": "Allow", "Action": ["cloudwatch:GetMetricWidgetImage"], "Resource": ["*"]}]


def _failed(alert: Alert, counters: Counters | None, reason: str) -> bytes | None:
    """Log and count a graph that could not be had; its answer is always None."""
    logger.warning("graph failed", extra={"reason": reason[:100], "alert": alert.title[:200]})
    if counters is not None:
        counters.add(GRAPH_FAILED, alert.source.value)
    return None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _stat(statistic: str | None) -> str | None:
    if not statistic:
        return None
    return _STATISTICS.get(statistic.upper(), statistic)[:30]


def _single(
    namespace: str,
    name: str,
    dimensions: tuple[tuple[str, str], ...],
    *,
    stat: str | None,
    period: int | None,
    options: dict[str, Any],
) -> list[Any]:
    row: list[Any] = [namespace[:255], name[:255]]
    for key, value in dimensions[:MAX_DIMENSIONS]:
        row += [key[:255], value[:1024]]
    if stat:
        options["stat"] = stat
    if period:
        options["period"] = int(period)
    row.append(options)
    return row


def _metrics(metric: Metric) -> list[Any] | None:
    """The widget's `metrics`: one metric; an anomaly band over its metric; metric math over its inputs, or a
    search alone. None when what the alarm watches cannot be rebuilt."""
    stat = _stat(metric.statistic)
    expression = (metric.expression or "").strip()[:MAX_EXPRESSION]
    band = _BAND.match(expression)
    if band:
        if not (metric.namespace and metric.name):
            return None
        label = truncate(metric.name, MAX_LABEL)
        watched = _single(metric.namespace, metric.name, metric.dimensions, stat=stat, period=metric.period,
                          options={"id": band.group("id"), "label": label})  # fmt: skip
        return [watched, [{"expression": expression, "id": "ad1", "label": "expected band"}]]
    if expression:
        if not metric.inputs and metric.namespace:
            return None  # the inputs were not described: nothing honest to draw
        rows: list[Any] = []
        ids: list[str] = []
        for described in metric.inputs:
            match = _INPUT.fullmatch(described)
            if match is None:
                return None  # "and 3 more", or a description cut short
            dimensions = _dimensions(match.group("dimensions") or "")
            if dimensions is None:
                return None
            ids.append(match.group("id"))
            rows.append(
                _single(
                    match.group("namespace"),
                    match.group("name"),
                    dimensions,
                    stat=_stat(match.group("stat")),
                    period=int(match.group("period")) if match.group("period") else None,
                    options={"id": match.group("id"), "visible": False},
                )
            )
        shown, named = _split_label(expression, ids)
        rows.append([{"expression": shown, "id": "e1", "label": truncate(named or "expression", MAX_LABEL)}])
        return rows
    if not (metric.namespace and metric.name):
        return None
    label = truncate(metric.name, MAX_LABEL)
    return [_single(metric.namespace, metric.name, metric.dimensions, stat=stat, period=metric.period,
                    options={"label": label})]  # fmt: skip


def _dimensions(text: str) -> tuple[tuple[str, str], ...] | None:
    if not text:
        return ()
    pairs: list[tuple[str, str]] = []
    for part in text.split(", "):
        key, equals, value = part.partition("=")
        if not equals or not key:
            return None
        pairs.append((key, value))
    return tuple(pairs)


def _split_label(expression: str, ids: list[str]) -> tuple[str, str | None]:
    """normalise writes `m1+m2 (Errors)` for an expression with a label: the label back apart, unless what is in
    the brackets names an input (then it is part of the expression)."""
    match = _LABEL_SUFFIX.fullmatch(expression)
    if match is None or any(re.search(rf"\b{re.escape(i)}\b", match.group("label")) for i in ids):
        return expression, None
    return match.group("expression"), match.group("label")


def _annotations(metric: Metric, status: Status, changed: datetime) -> dict[str, Any]:
    """The threshold (shading the side that alarms), a known anomaly band, and the state change."""
    horizontal: list[Any] = []
    if metric.threshold is not None and _finite(metric.threshold):
        line: dict[str, Any] = {
            "value": metric.threshold,
            "label": truncate(f"threshold {metric.threshold:g}", MAX_LABEL),
        }
        if metric.comparison in _GREATER:
            line["fill"] = "above"
        elif metric.comparison in _LESS:
            line["fill"] = "below"
        horizontal.append(line)
    elif metric.band is not None and not (metric.expression or "").strip():
        lower, upper = metric.band
        if lower is not None and upper is not None and _finite(lower) and _finite(upper):
            horizontal.append([{"value": lower, "label": "expected band"}, {"value": upper}])
        else:
            for value, label in ((lower, "lower threshold"), (upper, "upper threshold")):
                if value is not None and _finite(value):
                    horizontal.append({"value": value, "label": label})
    word = {Status.FIRING: "ALARM", Status.RESOLVED: "OK", Status.INSUFFICIENT_DATA: "INSUFFICIENT_DATA"}[status]
    annotations: dict[str, Any] = {"vertical": [{"value": _iso(changed), "label": word}]}
    if horizontal:
        annotations["horizontal"] = horizontal
    return annotations


def _finite(value: float) -> bool:
    import math

    return math.isfinite(value)
