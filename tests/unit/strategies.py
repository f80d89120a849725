"""Hypothesis strategies that reach the edges: every source's shapes, and what a careless or hostile sender makes.

Large things are built cheaply, so thousands of examples stay affordable: a 200 KB string is a short drawn piece
repeated (never 200,000 drawn characters), a 300-alert group is a few drawn alerts copied, 1,000 labels are one
drawn value under numbered names, and JSON nested 1,000 deep is spliced into the payload's text (`to_json`), since
neither Hypothesis nor `json.dumps` can build it as objects. At most one field per payload is huge (`HUGE_SPOTS`),
so a payload stays near SNS's 256 KB instead of growing to tens of megabytes.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st

from tests.conftest import load_event
from tests.unit.helpers import alarm, alertmanager

# Pieces a careless or hostile sender puts in text: Slack mentions and mrkdwn, link spoofing, bidi and zero-width,
# emoji (with joiners), CJK, NUL and control characters, lone surrogates, characters SNS refuses, addresses and
# numbers for the scrubber (plain, percent-encoded, double-encoded, fullwidth), the quadratic-redaction shape.
HOSTILE_PIECES = (
    "<!channel>", "<!here>", "<@U123>", "<#C1|general>", "&amp;", "&", "<", ">", "|", "*", "_", "`", "```", "~",
    "\n", "\r\n", "\t", "\u202e", "\u200b", "\u2028", "\ufeff", "\ufffe", "\uffff", "🔥", "👩‍👩‍👧", "🇬🇧", "中文字符",
    "日本語のテキスト", "한국어", "\x00", "\x1b[31m", "\x7f", "\ud800", "\udfff", "＠", "ｆｕｌｌ", "e\u0301", "%41a",
    " @", "%40", "%2540", "alice.smith@example.com", "_ops@example.org", "bob%40example.com", "user@[10.0.0.1]",
    "+44 20 7946 0958", "1-800-555-0199", "tel:+15551234567", "22.11.2026", "125 000 000", "javascript:alert(1)",
    "https://evil.example/login|https://wiki.corp.example/runbook", "https://x.example/<!channel>", "%s", "{{ .x }}",
)  # fmt: skip
HOSTILE = st.sampled_from(HOSTILE_PIECES)
TEXT = st.text(max_size=40) | st.lists(HOSTILE | st.text(max_size=6), max_size=12).map("".join)
NAME = st.text(min_size=1, max_size=20) | HOSTILE
URL = st.sampled_from(
    [
        "http://prometheus:9090/graph?g0.expr=rate(x%5B5m%5D)%3E0",
        "https://runbooks.example.com/rds-cpu",
        "https://evil.example/login|https://wiki.corp.example/runbook",
        "https://wiki.example/<!channel>&a=<b>",
        "https://grafana.example/d/x?var-email=alice%40example.com&to=bob@example.com",
        "https://user:pa%7Css@host.example/a b",
        "javascript:alert(1)",
        "http://",
        "",
        "https://例え.テスト/パス?q=🔥",
    ]
) | TEXT.map(lambda t: "https://h.example/" + t)

# Numbers as a careless sender writes them; ints stay under Python's 4,300-digit str limit so that json.dumps works.
NUMBERISH = (
    st.sampled_from(["--1", "²", "1e999", "-1e999", "NaN", "Infinity", "-0", "0x1F", "١٢٣", "1_000", " 7 ", ""])
    | st.just("9" * 5000)
    | st.integers(-(10**30), 10**30)
    | st.integers(10**300, 10**4000)
    | st.floats()
)  # fmt: skip
SCALAR = st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.floats() | TEXT | NUMBERISH
JSON = st.recursive(
    SCALAR,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=10), c, max_size=4),
    max_leaves=12,
)
TIME = st.sampled_from(
    [
        "2026-11-22T02:55:00.000+0000",
        "0001-01-01T00:00:00Z",
        "2018-11-04T22:43:58.283995108+01:00",
        "9999-12-31T23:59:59-23:59",
        "0001-01-01T00:00:00+23:59",
        "Sun, 22 Nov 2026 02:55:00 GMT",
        "1795316100",
        "date",
        "",
    ]
) | st.integers(-(10**20), 10**20) | TEXT  # fmt: skip
REGION_NAMES = st.sampled_from(
    ["US East (N. Virginia)", "EU (London)", "Europe (Ireland)", "EU - Ireland", "US - N. Virginia",
     "Asia Pacific (Tokyo)", "AWS GovCloud (US-West)", "China (Beijing)", "South America (São Paulo)",
     "Atlantis (Lost City)", "us-east-1", ""]
) | TEXT  # fmt: skip

EVENTBRIDGE = load_event("eventbridge-alarm-state-change-single-metric__aws-docs.json")
COMPOSITE = load_event("eventbridge-alarm-state-change-composite-with-suppressor__aws-docs.json")
MATH = load_event("lambda-sns-cloudwatch-metric-math-alarm__aws-lambda-go.json")

BIG_SIZES = (3_000, 40_000, 200_000)  # UTF-8 bytes


@st.composite
def big_text(draw: st.DrawFn, max_bytes: int = 200_000) -> str:
    """A string of up to `max_bytes` UTF-8 bytes: a short drawn piece repeated, so it costs one draw."""
    piece = draw(st.lists(HOSTILE | st.text(min_size=1, max_size=4), min_size=1, max_size=3).map("".join))
    piece = piece or "x"
    size = draw(st.sampled_from([s for s in BIG_SIZES if s <= max_bytes] or [max_bytes]) | st.integers(1, max_bytes))
    per_piece = max(1, len(piece.encode("utf-8", "surrogatepass")))
    return piece * max(1, size // per_piece)


@st.composite
def many_labels(draw: st.DrawFn) -> dict[str, str]:
    """Hundreds or thousands of labels under numbered names, one drawn value (1,000 labels is one draw)."""
    prefix = draw(st.sampled_from(["l", "label_", "ラベル", "a|b<", "x" * 200]))
    count = draw(st.sampled_from([100, 1000, 3000]))
    value = draw(TEXT)
    return {f"{prefix}{i}": value for i in range(count)}


def deep(depth: int, kind: str) -> str:
    """JSON text nested `depth` deep: lists, objects, or both."""
    if kind == "list":
        return "[" * depth + "]" * depth
    if kind == "object":
        return '{"a":' * depth + "1" + "}" * depth
    return '[{"a":' * (depth // 2) + "null" + "}]" * (depth // 2)


DEPTHS = st.sampled_from([100, 499, 500, 999, 1000, 1001, 5000]) | st.integers(1, 1500)
_DEEP = re.compile(r'"\\u0000DEEP:(\d+):(\w+)\\u0000"')


def deep_marker(depth: int, kind: str) -> str:
    """A placeholder that `to_json` replaces with JSON text nested `depth` deep."""
    return f"\x00DEEP:{depth}:{kind}\x00"


def to_json(payload: Any) -> str:
    """The payload's JSON text, deep-nesting markers spliced in (no encoder can nest 1,000 deep itself)."""
    text = json.dumps(payload)
    return _DEEP.sub(lambda m: deep(int(m.group(1)), m.group(2)), text)


# ---------------------------------------------------------------------------------------------------------------
# Any field: one leaf replaced by something large, odd or deep


def _paths(value: Any, prefix: tuple[Any, ...] = (), limit: int = 400) -> Iterator[tuple[Any, ...]]:
    """Paths to every value of a payload, breadth-first, at most `limit` of them (a 300-alert group has many)."""
    queue: list[tuple[tuple[Any, ...], Any]] = [(prefix, value)]
    seen = 0
    while queue and seen < limit:
        path, node = queue.pop(0)
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in items:
            if seen >= limit:
                break
            seen += 1
            yield (*path, key)
            queue.append(((*path, key), child))


def _set(payload: Any, path: tuple[Any, ...], value: Any) -> None:
    node = payload
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


@st.composite
def odd_value(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["big", "number", "deep", "labels", "json", "empty"]))
    if kind == "big":
        return draw(big_text())
    if kind == "number":
        return draw(NUMBERISH)
    if kind == "deep":
        return deep_marker(draw(DEPTHS), draw(st.sampled_from(["list", "object", "mixed"])))
    if kind == "labels":
        return draw(many_labels())
    if kind == "json":
        return draw(JSON)
    return draw(st.sampled_from([None, "", [], {}, 0, False]))


@st.composite
def mutated(draw: st.DrawFn, payload: Any) -> Any:
    """The payload, usually as it is, sometimes with one value anywhere in it replaced by an odd one."""
    if draw(st.integers(0, 3)) != 0:
        return payload
    paths = list(_paths(payload))
    if paths:
        _set(payload, draw(st.sampled_from(paths)), draw(odd_value()))
    return payload


def _huge(draw: st.DrawFn, spots: list[str]) -> str | None:
    """Which one field of a payload is huge, if any (usually none)."""
    return draw(st.sampled_from([*spots, *[None] * len(spots) * 2]))


def _text(draw: st.DrawFn, spot: str, huge: str | None) -> str:
    return draw(big_text()) if spot == huge else draw(TEXT)


# ---------------------------------------------------------------------------------------------------------------
# CloudWatch's SNS notification

CLOUDWATCH_SPOTS = ["AlarmName", "AlarmDescription", "NewStateReason", "Region", "AlarmArn", "dimension", "tags"]


@st.composite
def cloudwatch(draw: st.DrawFn) -> Any:
    huge = _huge(draw, CLOUDWATCH_SPOTS)
    name = draw(big_text()) if huge == "AlarmName" else draw(st.text(min_size=1, max_size=255) | HOSTILE)
    body = alarm(
        name=name,
        state=draw(st.sampled_from(["ALARM", "OK", "INSUFFICIENT_DATA", "alarm", "Insufficient Data"])),
        description=draw(st.none()) if draw(st.booleans()) else _text(draw, "AlarmDescription", huge),
        reason=_text(draw, "NewStateReason", huge),
    )
    body["Region"] = draw(big_text()) if huge == "Region" else draw(REGION_NAMES)
    body["AWSAccountId"] = draw(st.sampled_from(["123456789012", "account_id", "", None, 123456789012]))
    arn = draw(st.sampled_from(["real", "gov", "cn", "placeholder", "none", "none", "garbage"]))
    body["AlarmArn"] = {
        "real": f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}",
        "gov": f"arn:aws-us-gov:cloudwatch:us-gov-west-1:123456789012:alarm:{name}",
        "cn": f"arn:aws-cn:cloudwatch:cn-north-1:123456789012:alarm:{name}",
        "placeholder": "arn:aws:cloudwatch:REGION:ACCOUNT:alarm:x",
        "garbage": draw(big_text()) if huge == "AlarmArn" else draw(TEXT),
    }.get(arn)
    if arn == "none":
        del body["AlarmArn"]
    body["StateChangeTime"] = draw(TIME)
    body["AlarmTags"] = draw(st.none() | st.dictionaries(TEXT, TEXT | URL, max_size=4))
    if huge == "tags":
        body["AlarmTags"] = {**draw(many_labels()), "runbook": draw(URL)}
    trigger = body["Trigger"]
    trigger["Dimensions"] = draw(st.lists(st.fixed_dictionaries({"name": TEXT, "value": TEXT}), max_size=5))
    if huge == "dimension":
        trigger["Dimensions"].append({"name": "big", "value": draw(big_text())})
    trigger["Threshold"] = draw(SCALAR)
    for key in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
        if draw(st.integers(0, 4)) == 0:
            trigger[key] = draw(NUMBERISH)
    trigger["TreatMissingData"] = draw(st.sampled_from(["missing", "- TreatMissingData:       breaching", ""]) | TEXT)
    shape = draw(st.sampled_from(["metric", "metric", "math", "composite", "no-trigger", "trigger-as-text"]))
    if shape == "math":
        del trigger["MetricName"]
        trigger["Metrics"] = _math_metrics()
        trigger["Metrics"] += draw(st.lists(JSON, max_size=3))
    elif shape == "composite":
        del body["Trigger"]
        body["AlarmRule"] = _text(draw, "AlarmRule", huge)
        body["TriggeringChildren"] = [
            {"Arn": f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:child-{i}", "State": {"Value": "ALARM"}}
            for i in range(draw(st.sampled_from([0, 1, 3, 500])))
        ]
    elif shape == "no-trigger":
        body["Trigger"] = draw(st.sampled_from([None, "", [], 7, "not json"]))
    elif shape == "trigger-as-text":
        body["Trigger"] = json.dumps(trigger)
    description = body["AlarmDescription"]
    if description is not None and draw(st.booleans()):
        body["AlarmDescription"] = f"{description}\nrunbook: {draw(URL)}\ndashboard: {draw(URL)}"
    return draw(mutated(body))


def _math_metrics() -> list[Any]:
    message = json.loads(MATH["Records"][0]["Sns"]["Message"])
    metrics: list[Any] = message["Trigger"]["Metrics"]
    return metrics


# ---------------------------------------------------------------------------------------------------------------
# EventBridge "CloudWatch Alarm State Change" (and CloudWatch invoking a Lambda directly)


@st.composite
def eventbridge(draw: st.DrawFn) -> Any:
    huge = _huge(draw, ["alarmName", "reason", "description", "reasonData"])
    event = copy.deepcopy(draw(st.sampled_from([EVENTBRIDGE, COMPOSITE])))
    detail = event["detail"]
    detail["alarmName"] = draw(big_text()) if huge == "alarmName" else draw(st.text(min_size=1, max_size=255))
    detail["state"]["value"] = draw(st.sampled_from(["ALARM", "OK", "INSUFFICIENT_DATA", "ok"]))
    detail["state"]["reason"] = _text(draw, "reason", huge)
    detail["state"]["reasonData"] = draw(st.sampled_from(['{"threshold": 50.0}', "{", "[]", ""]) | TEXT)
    if huge == "reasonData":
        detail["state"]["reasonData"] = json.dumps({"threshold": 1, "recentDatapoints": [1.5] * 20_000})
    detail["state"]["timestamp"] = draw(TIME)
    configuration = detail.setdefault("configuration", {})
    configuration["description"] = None if draw(st.booleans()) else _text(draw, "description", huge)
    metrics = configuration.get("metrics")
    if isinstance(metrics, list) and metrics and draw(st.booleans()):
        # Huge metric lists: many copies of the real one, with a drawn dimension each.
        count = draw(st.sampled_from([10, 100, 1000, 5000]))
        dimensions = draw(st.dictionaries(NAME, TEXT, max_size=3))
        template = copy.deepcopy(metrics[0])
        configuration["metrics"] = [{**template, "id": f"m{i}"} for i in range(count)]
        for metric in configuration["metrics"][:3]:
            metric.setdefault("metricStat", {}).setdefault("metric", {})["dimensions"] = dimensions
    if draw(st.integers(0, 5)) == 0:
        event["resources"] = []
    if draw(st.integers(0, 5)) == 0:  # CloudWatch invoking the Lambda directly: the same detail as alarmData
        event = {"source": "aws.cloudwatch", "alarmArn": event["resources"][0] if event["resources"] else None,
                 "accountId": event.get("account"), "region": event.get("region"), "time": event.get("time"),
                 "alarmData": detail}  # fmt: skip
    return draw(mutated(event))


# ---------------------------------------------------------------------------------------------------------------
# Alertmanager webhook v4, and `{{ toJson . }}` output

ALERTMANAGER_SPOTS = ["groupLabels", "commonLabels", "commonAnnotations", "externalURL", "generatorURL", "label",
                      "annotation", "receiver", "groupKey", "fingerprint"]  # fmt: skip


@st.composite
def _alertmanager_alert(draw: st.DrawFn) -> dict[str, Any]:
    names = st.sampled_from(["summary", "description", "runbook_url", "dashboard_url", "message", "title"]) | NAME
    return {
        "status": draw(st.sampled_from(["firing", "resolved"])),
        "labels": {
            "alertname": draw(st.sampled_from(["HighLatency", ""]) | TEXT),
            **draw(st.dictionaries(NAME, TEXT, max_size=4)),
        },
        "annotations": draw(st.dictionaries(names, TEXT | URL, max_size=4)),
        "startsAt": draw(TIME),
        "endsAt": draw(TIME),
        "generatorURL": draw(URL),
        "fingerprint": draw(st.sampled_from(["0123456789abcdef", "", None]) | TEXT),
    }  # fmt: skip


@st.composite
def alertmanager_group(draw: st.DrawFn) -> Any:
    huge = _huge(draw, ALERTMANAGER_SPOTS)
    # 300 is what Alertmanager's UI shows; groups of thousands happen (an endpoint body may be 1 MB), and a stage that
    # is quadratic in the number of alerts only shows there.
    count = draw(st.sampled_from([1, 2, 3, 8, 40, 300, 300, 1500]))
    templates = draw(st.lists(_alertmanager_alert(), min_size=1, max_size=3))
    body = alertmanager(1)
    alerts = []
    for i in range(count):
        alert = copy.deepcopy(templates[i % len(templates)])
        alert["labels"]["instance"] = f"api-{i}:9090"
        if alert["fingerprint"] == "0123456789abcdef":
            alert["fingerprint"] = f"{i:016x}"
        alerts.append(alert)
    body["alerts"] = alerts
    first = alerts[0]
    if huge == "label":
        first["labels"]["big"] = draw(big_text())
    elif huge == "annotation":
        first["annotations"][draw(st.sampled_from(["summary", "description", "runbook_url", "other"]))] = draw(
            big_text()
        )
    elif huge == "generatorURL":
        first["generatorURL"] = "http://prometheus:9090/graph?g0.expr=" + draw(big_text())
    elif huge == "fingerprint":
        first["fingerprint"] = draw(big_text())
    for key in ("version", "groupKey", "truncatedAlerts"):
        if draw(st.booleans()):
            body.pop(key)
    if draw(st.integers(0, 3)) == 0:
        body["truncatedAlerts"] = draw(NUMBERISH)
    body["status"] = draw(st.sampled_from(["firing", "resolved", "", "other"]))
    body["groupLabels"] = draw(st.dictionaries(NAME, TEXT, max_size=3))
    body["externalURL"] = draw(URL)
    if huge in ("groupLabels", "commonLabels", "commonAnnotations"):
        body[huge] = draw(many_labels()) if draw(st.booleans()) else {"alertname": draw(big_text())}
    elif huge == "externalURL":
        body["externalURL"] = "https://am.example/" + draw(big_text())
    elif huge in ("receiver", "groupKey"):
        body[huge] = draw(big_text())
    return draw(mutated(body))


PAYLOAD = st.one_of(cloudwatch(), eventbridge(), alertmanager_group(), JSON)
