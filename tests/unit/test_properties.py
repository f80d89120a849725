"""Property-based: any generated alert renders within every PagerDuty and Slack limit, and nothing crashes."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alertlib.errors import MalformedInput
from alertlib.render_pagerduty import render_pagerduty
from alertlib.render_slack import render_slack
from alertlib.text import encode_json
from tests.conftest import NOW, sns_event
from tests.unit.helpers import alarm, alertmanager, group_of
from tools.standins import pagerduty_problems, slack_problems

HOSTILE = st.sampled_from(["<!channel>", "<!here>", "<@U123>", "&", "<", ">", "*", "_", "`", "\n", "…", "\u200b", "🔥"])
TEXT = st.text(max_size=3000) | st.lists(HOSTILE | st.text(max_size=5), max_size=400).map("".join)
SHORT = st.text(min_size=1, max_size=300)
STATE = st.sampled_from(["ALARM", "OK", "INSUFFICIENT_DATA"])
LABELS = st.dictionaries(st.text(min_size=1, max_size=40), TEXT, max_size=12)
SLOW = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def _check(group: Any) -> None:
    for per_alert in (False, True):
        for event in render_pagerduty(group, per_alert=per_alert):
            body = {**event, "routing_key": "k" * 32}
            assert pagerduty_problems(body, len(encode_json(body))) == []
    message = render_slack(group, now=NOW, max_listed=40)
    assert slack_problems(message) == []
    assert len(message["text"]) <= 40_000
    for hostile in ("<!channel>", "<!here>", "<@U123>"):
        assert hostile not in json.dumps(message, ensure_ascii=False)


@SLOW
@given(
    name=SHORT,
    description=st.none() | TEXT,
    reason=TEXT,
    state=STATE,
    dims=st.lists(st.tuples(SHORT, TEXT), max_size=10),
)
def test_any_cloudwatch_alarm_renders_within_limits(
    name: str, description: str | None, reason: str, state: str, dims: list[tuple[str, str]]
) -> None:
    body = alarm(name=name, description=description, reason=reason, state=state)
    body["Trigger"]["Dimensions"] = [{"name": k, "value": v} for k, v in dims]
    _check(group_of(sns_event(body)))


@SLOW
@given(
    alerts=st.lists(
        st.fixed_dictionaries(
            {
                "status": st.sampled_from(["firing", "resolved"]),
                "labels": LABELS.map(lambda labels: {"alertname": "A", **labels}),
                "annotations": LABELS,
                "startsAt": st.sampled_from(["2026-11-22T02:50:00Z", "0001-01-01T00:00:00Z", "nonsense"]),
                "endsAt": st.sampled_from(["0001-01-01T00:00:00Z", "2030-01-01T00:00:00Z"]),
                "generatorURL": st.sampled_from(["http://p:9090/graph", "javascript:alert(1)", "h" * 4000]),
            }
        ),
        min_size=1,
        max_size=60,
    ),
    group_labels=LABELS,
    external=st.sampled_from(["http://am:9093", "", "https://" + "x" * 3500]),
)
def test_any_alertmanager_group_renders_within_limits(
    alerts: list[dict[str, Any]], group_labels: dict[str, str], external: str
) -> None:
    body = alertmanager(1)
    body.update(alerts=alerts, groupLabels=group_labels, externalURL=external)
    _check(group_of(body))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(payload=JSON)
def test_any_json_is_rendered_or_refused_never_crashes(payload: Any) -> None:
    for event in (payload, sns_event(payload), sns_event(json.dumps(payload))):
        try:
            _check(group_of(event))
        except MalformedInput:
            pass


@settings(max_examples=300, deadline=None)
@given(
    mutation=st.dictionaries(
        st.sampled_from(["AlarmName", "AlarmDescription", "NewStateValue", "Trigger", "AlarmArn", "StateChangeTime"]),
        JSON,
        max_size=3,
    )
)
def test_mutated_alarms_are_rendered_or_refused(mutation: dict[str, Any]) -> None:
    try:
        _check(group_of(sns_event({**alarm(), **mutation})))
    except MalformedInput:
        pass
