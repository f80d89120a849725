"""Property-based: any generated alert renders within every PagerDuty and Slack limit and the time budget, nothing
crashes, and an alarm keeps one identity across its states whatever it is sent with."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from alertlib.errors import MalformedInput
from alertlib.regions import REGION_CODE, region_from_name
from tests.conftest import sns_event
from tests.unit.helpers import alarm, alertmanager, assert_sendable, group_of, render_all
from tests.unit.strategies import HOSTILE, JSON, REGION_NAMES, TIME, URL, big_text, many_labels

TEXT = st.text(max_size=300) | st.lists(HOSTILE | st.text(max_size=5), max_size=60).map("".join) | big_text(20_000)
SHORT = st.text(min_size=1, max_size=255)
STATE = st.sampled_from(["ALARM", "OK", "INSUFFICIENT_DATA"])
LABELS = st.dictionaries(st.text(min_size=1, max_size=40), TEXT, max_size=12) | many_labels()
MAX_PAYLOAD = 1024 * 1024  # the endpoint's limit on a body; SNS carries at most 256 KB
# No shrinking here: shrinking re-runs large payloads for up to 5 minutes. A failure prints the example found.
SLOW = settings(
    max_examples=60,
    deadline=None,  # the budget is measured around the stages only (render_all), see test_fuzz.py
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


@SLOW
@given(
    name=SHORT,
    description=st.none() | TEXT,
    reason=TEXT,
    state=STATE,
    dims=st.lists(st.tuples(SHORT, TEXT), max_size=10),
    region=REGION_NAMES,
    with_arn=st.booleans(),
)
def test_any_cloudwatch_alarm_renders_within_limits(
    name: str,
    description: str | None,
    reason: str,
    state: str,
    dims: list[tuple[str, str]],
    region: str,
    with_arn: bool,
) -> None:
    body = alarm(name=name, description=description, reason=reason, state=state, Region=region)
    body["Trigger"]["Dimensions"] = [{"name": k, "value": v} for k, v in dims]
    if not with_arn:
        del body["AlarmArn"]
    assert_sendable(render_all(sns_event(body))[0])


@SLOW
@given(
    alerts=st.lists(
        st.fixed_dictionaries(
            {
                "status": st.sampled_from(["firing", "resolved"]),
                "labels": LABELS.map(lambda labels: {"alertname": "A", **labels}),
                "annotations": LABELS,
                "startsAt": TIME,
                "endsAt": st.sampled_from(["0001-01-01T00:00:00Z", "2030-01-01T00:00:00Z"]),
                "generatorURL": URL,
            }
        ),
        min_size=1,
        max_size=8,
    ),
    copies=st.sampled_from([1, 40, 300]),
    group_labels=LABELS,
    external=URL,
)
def test_any_alertmanager_group_renders_within_limits(
    alerts: list[dict[str, Any]], copies: int, group_labels: dict[str, str], external: str
) -> None:
    body = alertmanager(1)
    sizes = [len(json.dumps(alert)) for alert in alerts]
    many: list[dict[str, Any]] = []
    room = MAX_PAYLOAD - len(json.dumps(group_labels)) - len(external)
    for i in range(min(copies * len(alerts), 300)):  # copies of the drawn alerts, up to what the endpoint takes
        room -= sizes[i % len(alerts)]
        if many and room < 0:
            break
        many.append({**alerts[i % len(alerts)], "fingerprint": f"{i:016x}"})
    body.update(alerts=many, groupLabels=group_labels, externalURL=external)
    assert_sendable(render_all(body)[0])


@settings(max_examples=200, deadline=None, database=None)
@given(payload=JSON)
def test_any_json_is_rendered_or_refused_never_crashes(payload: Any) -> None:
    for event in (payload, sns_event(payload)):
        try:
            assert_sendable(render_all(event)[0])
        except MalformedInput:
            pass


@settings(max_examples=200, deadline=None, database=None)
@given(
    mutation=st.dictionaries(
        st.sampled_from(
            ["AlarmName", "AlarmDescription", "NewStateValue", "Trigger", "AlarmArn", "StateChangeTime", "Region",
             "AWSAccountId", "OldStateValue", "AlarmTags"]
        ),
        JSON,
        max_size=3,
    )
)  # fmt: skip
def test_mutated_alarms_are_rendered_or_refused(mutation: dict[str, Any]) -> None:
    try:
        assert_sendable(render_all(sns_event({**alarm(), **mutation}))[0])
    except MalformedInput:
        pass


@settings(max_examples=300, deadline=None, database=None)
@given(
    name=SHORT | big_text(1_000),
    account=st.sampled_from(["123456789012", "000000000001", "account_id", "", None, 123456789012]),
    region=REGION_NAMES,
)
def test_an_alarm_without_arn_keeps_one_key_across_its_states(name: str, account: Any, region: str) -> None:
    def key(state: str, *, arn: bool) -> str:
        body = alarm(name=name, state=state, AWSAccountId=account, Region=region)
        if not arn:
            del body["AlarmArn"]
        return group_of(sns_event(body)).dedup_key

    firing, resolved, insufficient = (key(state, arn=False) for state in ("ALARM", "OK", "INSUFFICIENT_DATA"))
    assert firing == resolved == insufficient
    assert 0 < len(firing) <= 255
    code = region_from_name(region)
    if code == "us-east-1" and str(account) == "123456789012":  # the ARN alarm() sends: the same alert
        assert firing == key("ALARM", arn=True)


@settings(max_examples=500, deadline=None, database=None)
@given(name=st.text(max_size=100) | REGION_NAMES | big_text(1_000))
def test_region_from_name_is_a_code_or_none(name: str) -> None:
    code = region_from_name(name)
    assert code is None or REGION_CODE.fullmatch(code)
