"""Fuzzing: 10,000 generated payloads of every shape through parse, normalise and render.

No uncaught exception (a payload is rendered, or refused with `MalformedInput`), and every output within every
PagerDuty and Slack limit. `make fuzz` runs this alone and prints the counts.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alertlib.errors import MalformedInput
from alertlib.render_pagerduty import render_pagerduty
from alertlib.render_slack import render_slack
from alertlib.text import encode_json
from tests.conftest import NOW, load_event, sns_event
from tests.unit.helpers import alarm, alertmanager, group_of
from tools.standins import pagerduty_problems, slack_problems

EXAMPLES = int(__import__("os").environ.get("FUZZ_EXAMPLES", "10000"))
COUNTS: Counter[str] = Counter()

HOSTILE = st.sampled_from(["<!channel>", "<@U1>", "&amp;", "<", ">", "*", "`", "\n", "\u202e", "🔥", "\x00", "\ud800"])
TEXT = st.text(max_size=80) | st.lists(HOSTILE | st.text(max_size=6), max_size=20).map("".join) | st.just("x" * 5000)
SCALAR = st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.floats(allow_nan=True) | TEXT
JSON = st.recursive(SCALAR, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=10), c, max_size=4),
                    max_leaves=12)  # fmt: skip
TIME = st.sampled_from(["2026-11-22T02:55:00.000+0000", "0001-01-01T00:00:00Z", "2018-11-04T22:43:58.283995108+01:00",
                        "date", "", "9999-12-31T23:59:59Z"]) | TEXT  # fmt: skip
EVENTBRIDGE = load_event("eventbridge-alarm-state-change-single-metric__aws-docs.json")
COMPOSITE = load_event("eventbridge-alarm-state-change-composite-with-suppressor__aws-docs.json")


@st.composite
def cloudwatch(draw: st.DrawFn) -> Any:
    body = alarm(
        name=draw(st.text(min_size=1, max_size=255)),
        state=draw(st.sampled_from(["ALARM", "OK", "INSUFFICIENT_DATA"])),
        description=draw(st.none() | TEXT),
        reason=draw(TEXT),
    )
    body["AlarmArn"] = draw(st.sampled_from([
        f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{body['AlarmName']}",
        f"arn:aws-us-gov:cloudwatch:us-gov-west-1:123456789012:alarm:{body['AlarmName']}",
        f"arn:aws-cn:cloudwatch:cn-north-1:123456789012:alarm:{body['AlarmName']}",
        "arn:aws:cloudwatch:REGION:ACCOUNT:alarm:x",
    ]))  # fmt: skip
    body["StateChangeTime"] = draw(TIME)
    body["AlarmTags"] = draw(st.none() | st.dictionaries(TEXT, TEXT, max_size=4))
    trigger = body["Trigger"]
    trigger["Dimensions"] = draw(st.lists(st.fixed_dictionaries({"name": TEXT, "value": TEXT}), max_size=5))
    trigger["Threshold"] = draw(SCALAR)
    trigger["TreatMissingData"] = draw(st.sampled_from(["missing", "- TreatMissingData:       breaching", ""]) | TEXT)
    if draw(st.booleans()):
        del trigger["MetricName"]
        trigger["Metrics"] = draw(st.lists(JSON, max_size=4))
    if draw(st.integers(0, 9)) == 0:
        body.update(draw(st.dictionaries(st.sampled_from(list(body)), JSON, max_size=2)))
    return body


@st.composite
def eventbridge(draw: st.DrawFn) -> Any:
    event = json.loads(json.dumps(draw(st.sampled_from([EVENTBRIDGE, COMPOSITE]))))
    detail = event["detail"]
    detail["alarmName"] = draw(st.text(min_size=1, max_size=255))
    detail["state"]["value"] = draw(st.sampled_from(["ALARM", "OK", "INSUFFICIENT_DATA"]))
    detail["state"]["reason"] = draw(TEXT)
    detail["state"]["reasonData"] = draw(st.sampled_from(['{"threshold": 50.0}', "{", "[]", ""]) | TEXT)
    detail["state"]["timestamp"] = draw(TIME)
    detail.setdefault("configuration", {})["description"] = draw(st.none() | TEXT)
    if draw(st.integers(0, 9)) == 0:
        detail.update(draw(st.dictionaries(st.sampled_from(list(detail)), JSON, max_size=2)))
    return event


@st.composite
def alertmanager_group(draw: st.DrawFn) -> Any:
    body = alertmanager(draw(st.integers(1, 8)))
    for alert in body["alerts"]:
        alert["status"] = draw(st.sampled_from(["firing", "resolved"]))
        alert["labels"].update(draw(st.dictionaries(st.text(min_size=1, max_size=20), TEXT, max_size=3)))
        names = st.sampled_from(["summary", "description", "runbook_url", "dashboard_url", "message"])
        alert["annotations"] = draw(st.dictionaries(names, TEXT, max_size=4))
        alert["startsAt"], alert["endsAt"] = draw(TIME), draw(TIME)
        alert["generatorURL"] = draw(st.sampled_from(["http://p:9090/graph", "javascript:x", ""]) | TEXT)
    for key in ("version", "groupKey", "truncatedAlerts"):
        if draw(st.booleans()):
            body.pop(key)
    body["groupLabels"] = draw(st.dictionaries(st.text(min_size=1, max_size=20), TEXT, max_size=3))
    body["externalURL"] = draw(st.sampled_from(["http://am:9093", "", "https://" + "e" * 3000]) | TEXT)
    if draw(st.integers(0, 9)) == 0:
        body.update(draw(st.dictionaries(st.sampled_from(list(body)), JSON, max_size=2)))
    return body


PAYLOAD = st.one_of(cloudwatch(), eventbridge(), alertmanager_group(), JSON)


def _within_limits(group: Any) -> None:
    for per_alert in (False, True) if len(group.alerts) <= 3 else (False,):
        for event in render_pagerduty(group, per_alert=per_alert):
            body = {**event, "routing_key": "k" * 32}
            assert pagerduty_problems(body, len(encode_json(body))) == []
    message = render_slack(group, now=NOW, max_listed=40)
    assert slack_problems(message) == []
    text = json.dumps(message, ensure_ascii=False)
    assert "<!channel>" not in text and "<@U1>" not in text


@settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(payload=PAYLOAD, wrap=st.sampled_from(["sns", "bare", "sns-text"]))
def _fuzz(payload: Any, wrap: str) -> None:
    COUNTS["payloads"] += 1
    event = {"sns": lambda: sns_event(payload), "bare": lambda: payload,
             "sns-text": lambda: sns_event(json.dumps(payload))}[wrap]()  # fmt: skip
    try:
        group = group_of(event)
    except MalformedInput:
        COUNTS["refused"] += 1
        return
    COUNTS[f"rendered-{group.source.value}"] += 1
    _within_limits(group)


def test_fuzz_10000_payloads_render_within_limits_or_are_refused() -> None:
    COUNTS.clear()
    _fuzz()
    print(f"\nfuzz: {dict(sorted(COUNTS.items()))}")
    assert COUNTS["payloads"] >= EXAMPLES
    assert COUNTS["refused"] < COUNTS["payloads"]
    assert all(COUNTS[f"rendered-{s}"] > 100 for s in ("cloudwatch", "eventbridge", "alertmanager"))
