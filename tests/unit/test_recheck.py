"""A composite alarm suppressed only for a while (wait or extension period, or its suppressor's ALARM) is looked at
again: EventBridge sends no event when CloudWatch runs the actions at the end of the period, so without a second
look the page would never leave."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from alertlib.models import Severity, Status
from alertlib.parse import split_event
from alertlib.recheck import (
    DELAYS,
    CompositeState,
    Rechecker,
    RecheckError,
    Subject,
    Verdict,
    decide,
    delay_for,
    looked,
    recheck_body,
    recheck_policy_statements,
    subject,
    unsuppressed,
)
from alertlib.render_pagerduty import suppressed
from tests.conftest import load_event, sns_event
from tests.unit.helpers import group_of

COMPOSITE = "eventbridge-alarm-state-change-composite-with-suppressor__aws-docs.json"
AT = datetime(2022, 7, 22, 15, 57, 45, 394000, tzinfo=UTC)


def composite(suppressed_by: str | None = "WaitPeriod", value: str = "ALARM") -> dict[str, Any]:
    event = copy.deepcopy(load_event(COMPOSITE))
    event["detail"]["state"]["value"] = value
    if suppressed_by is None:
        event["detail"]["state"].pop("actionsSuppressedBy")
        event["detail"]["state"].pop("actionsSuppressedReason")
    else:
        event["detail"]["state"]["actionsSuppressedBy"] = suppressed_by
    return event


def sqs_record(body: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": "sqs-1",
                "receiptHandle": "handle-1",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "eventSource": "aws:sqs",
            }
        ]
    }


@pytest.mark.parametrize("suppressed_by", ["WaitPeriod", "ExtensionPeriod", "Alarm", "ALARM"])
def test_recheck_subject_of_a_suppressed_eventbridge_composite_alarm(suppressed_by: str) -> None:
    found = subject(split_event(sns_event(composite(suppressed_by)))[0])
    assert found == Subject(name="ServiceAggregatedAlarm", account="123456789012", at=AT)


def test_recheck_no_subject_for_unsuppressed_resolved_metric_or_malformed_events() -> None:
    for event in (
        composite(None),
        composite("WaitPeriod", value="OK"),
        load_event("eventbridge-alarm-state-change-single-metric__aws-docs.json"),
    ):
        assert subject(split_event(sns_event(event))[0]) is None
    assert subject(split_event(sns_event("not json"))[0]) is None


def test_recheck_subject_reads_the_raw_event_not_the_redacted_alert() -> None:
    import re

    from alertlib.settings import Settings

    envelope = split_event(sns_event(composite()))[0]
    redacted = group_of(json.loads(envelope.body), Settings(redact_patterns=(re.compile("Aggregated"),)))
    assert "Aggregated" not in redacted.alerts[0].title
    assert subject(envelope) is not None and subject(envelope).name == "ServiceAggregatedAlarm"  # type: ignore[union-attr]


def test_recheck_looked_event_is_unsuppressed_under_an_id_of_its_own() -> None:
    envelope = replace(split_event(sns_event(composite()))[0], recheck=3)
    forwarded = looked(envelope)
    assert forwarded.message_id == f"{envelope.message_id}#look" and forwarded.recheck == 0
    assert not suppressed(group_of(json.loads(forwarded.body)))


def test_recheck_delays_grow_to_sqs_maximum_and_stay_there() -> None:
    assert [delay_for(n) for n in range(1, 7)] == [*DELAYS, DELAYS[-1], DELAYS[-1]]
    assert max(DELAYS) <= 900  # SQS DelaySeconds


@pytest.mark.parametrize(
    ("current", "verdict"),
    [
        (None, Verdict.DONE),  # deleted
        (CompositeState("OK", None, AT + timedelta(minutes=3)), Verdict.DONE),  # left ALARM: its OK speaks
        (CompositeState("ALARM", "WaitPeriod", AT), Verdict.WAIT),
        (CompositeState("ALARM", "ExtensionPeriod", AT), Verdict.WAIT),
        (CompositeState("ALARM", "Alarm", AT), Verdict.WAIT),
        (CompositeState("ALARM", None, AT), Verdict.FORWARD),  # the period ended, CloudWatch ran the actions
        (CompositeState("ALARM", None, AT + timedelta(hours=1)), Verdict.DONE),  # a newer transition: its own event
        (CompositeState("ALARM", None, None), Verdict.FORWARD),
    ],
)
def test_recheck_decide(current: CompositeState | None, verdict: Verdict) -> None:
    assert decide(AT, current) is verdict


def test_recheck_body_comes_back_as_the_same_notification_with_its_look_number() -> None:
    event = sns_event(composite(), topic="arn:aws:sns:eu-west-1:111111111111:prod-critical")
    original = split_event(event)[0]
    back = split_event(sqs_record(recheck_body(original, 2)))[0]
    assert back.recheck == 2
    assert (back.message_id, back.topic_arn, back.subject, back.body) == (
        original.message_id,
        original.topic_arn,
        original.subject,
        original.body,
    )
    assert back.problem is None


@pytest.mark.parametrize(
    "body",
    [
        {"alert_forwarding": "recheck", "attempt": 0, "notification": {}},
        {"alert_forwarding": "recheck", "attempt": True, "notification": {}},
        {"alert_forwarding": "recheck", "attempt": 1},
        {"alert_forwarding": "recheck", "attempt": 1, "notification": {"Type": "Notification"}},
    ],
)
def test_recheck_body_malformed_is_refused_with_a_reason(body: dict[str, Any]) -> None:
    envelope = split_event(sqs_record(json.dumps(body)))[0]
    assert envelope.problem


def test_recheck_unsuppressed_pages_as_the_route_says() -> None:
    envelope = split_event(sns_event(composite()))[0]
    before = group_of(json.loads(envelope.body))
    after = group_of(json.loads(unsuppressed(envelope).body))
    assert suppressed(before) and before.alerts[0].severity is Severity.INFO
    assert not suppressed(after)
    assert after.status is Status.FIRING and after.alerts[0].severity is not Severity.INFO
    assert after.dedup_key == before.dedup_key  # the same incident as any later OK resolves


def test_recheck_current_reads_describe_alarms() -> None:
    client = boto3.client("cloudwatch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    answer = {
        "CompositeAlarms": [
            {
                "AlarmName": "ServiceAggregatedAlarm",
                "StateValue": "ALARM",
                "ActionsSuppressedBy": "WaitPeriod",
                "StateTransitionedTimestamp": AT,
            }
        ],
        "MetricAlarms": [],
    }
    with Stubber(client) as stub:
        expected = {"AlarmNames": ["ServiceAggregatedAlarm"], "AlarmTypes": ["CompositeAlarm"]}
        stub.add_response("describe_alarms", answer, expected)
        stub.add_response("describe_alarms", {"CompositeAlarms": [], "MetricAlarms": []}, expected)
        stub.add_client_error("describe_alarms", "Throttling", http_status_code=400)
        checker = Rechecker("https://queue", client=client)
        assert checker.current("ServiceAggregatedAlarm") == CompositeState("ALARM", "WaitPeriod", AT)
        assert checker.current("ServiceAggregatedAlarm") is None
        with pytest.raises(RecheckError, match="Throttling"):
            checker.current("ServiceAggregatedAlarm")


def test_recheck_schedule_sends_the_look_delayed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="forwarder")["QueueUrl"]
        envelope = split_event(sns_event(composite()))[0]
        sent: list[dict[str, Any]] = []
        real = sqs.send_message

        def recording(**kwargs: Any) -> Any:
            sent.append(kwargs)
            return real(**kwargs)

        monkeypatch.setattr(sqs, "send_message", recording)
        assert Rechecker(url, sqs=sqs).schedule(envelope, 3) == DELAYS[2]
        assert sent[0]["DelaySeconds"] == DELAYS[2]
        assert split_event(sqs_record(sent[0]["MessageBody"]))[0].recheck == 3
        with pytest.raises(RecheckError, match="SendMessage"):
            Rechecker(url + "-gone", sqs=sqs).schedule(envelope, 1)


def test_recheck_describable_only_in_this_account() -> None:
    target = Subject("ServiceAggregatedAlarm", "123456789012", AT)
    assert Rechecker("q", account="123456789012").describable(target)
    assert not Rechecker("q", account="999999999999").describable(target)
    assert Rechecker("q").describable(target, "arn:aws:sns:us-east-1:123456789012:prod-critical")
    assert not Rechecker("q").describable(target, "arn:aws:sns:us-east-1:999999999999:prod-critical")


def test_recheck_policy_is_scoped_to_star_because_composites_need_it() -> None:
    # DescribeAlarms answers composite alarms only under a permission scoped to "*" (API reference): an ARN-scoped
    # grant would answer an empty list, read as "deleted", and the page would never leave.
    assert recheck_policy_statements() == [
        {"Effect": "Allow", "Action": ["cloudwatch:DescribeAlarms"], "Resource": "*"}
    ]
