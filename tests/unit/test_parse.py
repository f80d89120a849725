"""Parse: every shape of PROTOCOLS.md section 1, and clear one-line refusals for everything else."""

from __future__ import annotations

import json

import pytest

from alertlib.errors import MalformedInput, NotAStateChange
from alertlib.parse import (
    AlarmNotification,
    AlarmStateChange,
    AlertmanagerMessage,
    Envelope,
    parse_message,
    parse_time,
    split_event,
    treat_missing_data,
)
from tests.conftest import load_event, sns_event

ALARM = load_event("cloudwatch-alarm-sns-message-body-metric-alarm__aws-recorded-localstack-snapshot.json")
FIRING = load_event("alertmanager-webhook-v4-firing__alertmanager-bot.json")


def _only(event: object) -> object:
    envelopes = split_event(event)
    assert len(envelopes) == 1
    return parse_message(envelopes[0])


@pytest.mark.parametrize(
    ("sample", "kind"),
    [
        ("lambda-sns-cloudwatch-metric-alarm-single-metric__aws-lambda-go.json", AlarmNotification),
        ("lambda-sns-cloudwatch-metric-math-alarm__aws-lambda-go.json", AlarmNotification),
        ("eventbridge-alarm-state-change-single-metric__aws-docs.json", AlarmStateChange),
        ("eventbridge-alarm-state-change-composite-with-suppressor__aws-docs.json", AlarmStateChange),
        ("alertmanager-webhook-v4-firing__alertmanager-bot.json", AlertmanagerMessage),
        ("alertmanager-webhook-v4-resolved__alertmanager-bot.json", AlertmanagerMessage),
    ],
)
def test_parse_samples_without_sns(sample: str, kind: type) -> None:
    assert isinstance(_only(load_event(sample)), kind)


@pytest.mark.parametrize(
    "sample",
    [
        "cloudwatch-alarm-sns-message-body-metric-alarm__aws-recorded-localstack-snapshot.json",
        "eventbridge-alarm-state-change-single-metric__aws-docs.json",
        "eventbridge-alarm-state-change-composite-with-suppressor__aws-docs.json",
        "alertmanager-webhook-v4-firing__alertmanager-bot.json",
    ],
)
def test_parse_samples_inside_sns(sample: str) -> None:
    message = _only(sns_event(load_event(sample)))
    assert isinstance(message, AlarmNotification | AlarmStateChange | AlertmanagerMessage)


def test_parse_sns_envelope_keeps_message_id_topic_and_attributes() -> None:
    envelope = split_event(load_event("lambda-sns-envelope-generic__aws-lambda-go.json"))[0]
    assert envelope.message_id == "95df01b4-ee98-5cb9-9903-4c221d41eb5e"
    assert envelope.topic_arn == "arn:aws:sns:EXAMPLE"
    assert envelope.attributes == {"Test": "TestString", "TestBinary": "TestBinary"}
    with pytest.raises(MalformedInput, match="not JSON"):
        parse_message(envelope)


def test_parse_metric_math_trigger_keeps_every_query() -> None:
    message = _only(load_event("lambda-sns-cloudwatch-metric-math-alarm__aws-lambda-go.json"))
    assert isinstance(message, AlarmNotification)
    assert message.trigger is not None
    assert message.trigger.metric is None
    assert [q.id for q in message.trigger.queries] == ["e1", "m1"]
    assert message.trigger.queries[1].name == "NetworkOut"
    assert message.trigger.queries[1].dimensions == (("InstanceId", "TestInstance"),)


def test_parse_direct_lambda_alarm_action_event() -> None:
    event = {
        "source": "aws.cloudwatch",
        "alarmArn": "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:lambda-demo",
        "accountId": "111122223333",
        "time": "2023-08-04T12:36:15.490+0000",
        "region": "eu-west-1",
        "alarmData": {
            "alarmName": "lambda-demo",
            "state": {"value": "ALARM", "reason": "test", "timestamp": "2023-08-04T12:36:15.490+0000"},
            "previousState": {"value": "OK", "reason": "ok", "timestamp": "2023-08-04T12:30:00.000+0000"},
            "configuration": {
                "description": "Metric Alarm to test Lambda actions",
                "metrics": [
                    {
                        "id": "m1",
                        "metricStat": {
                            "metric": {
                                "namespace": "AWS/Logs",
                                "name": "CallCount",
                                "dimensions": {"InstanceId": "i-1"},
                            },
                            "period": 60,
                            "stat": "Average",
                            "unit": "Percent",
                        },
                        "returnData": True,
                    }
                ],
            },
        },
    }
    message = _only(event)
    assert isinstance(message, AlarmStateChange)
    assert not message.via_eventbridge
    assert message.arn.endswith(":alarm:lambda-demo")
    assert message.queries[0].dimensions == (("InstanceId", "i-1"),)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("missing", "missing"), ("- TreatMissingData:                    missing", "missing"), ("", None), (None, None)],
)
def test_parse_treat_missing_data_both_formats(raw: object, expected: str | None) -> None:
    assert treat_missing_data(raw) == expected


def test_parse_null_description_is_none() -> None:
    message = _only({**ALARM, "AlarmDescription": None, "AlarmArn": "arn:aws:cloudwatch:us-east-1:1:alarm:x"})
    assert isinstance(message, AlarmNotification)
    assert message.description is None


def test_parse_alertmanager_to_json_output_without_version_and_group_key() -> None:
    body = {k: v for k, v in FIRING.items() if k not in ("version", "groupKey", "truncatedAlerts")}
    message = _only(sns_event(body))
    assert isinstance(message, AlertmanagerMessage)
    assert message.group_key is None
    assert message.truncated_alerts == 0


@pytest.mark.parametrize(
    ("ends_at", "expected_year"),
    [("0001-01-01T00:00:00Z", None), ("2018-11-04T22:46:58.283995108+01:00", 2018)],
)
def test_parse_alertmanager_ends_at_old_and_new(ends_at: str, expected_year: int | None) -> None:
    body = json.loads(json.dumps(FIRING))
    body["alerts"][0]["endsAt"] = ends_at
    message = _only(body)
    assert isinstance(message, AlertmanagerMessage)
    alert = message.alerts[0]
    assert alert.status == "firing"
    assert (alert.ends_at.year if alert.ends_at else None) == expected_year


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2021-11-10T02:45:55.640+0000", "2021-11-10T02:45:55.640000+00:00"),
        ("2018-11-04T22:43:58.283995108+01:00", "2018-11-04T22:43:58.283995+01:00"),
        ("2019-10-02T17:04:40Z", "2019-10-02T17:04:40+00:00"),
    ],
)
def test_parse_time_formats(text: str, iso: str) -> None:
    parsed = parse_time(text)
    assert parsed is not None
    assert parsed.isoformat() == iso


def test_parse_time_placeholder_is_none() -> None:
    assert parse_time("date") is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("Hello from SNS!", "not JSON"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not an object"),
        (json.dumps({"foo": 1}), "unknown message shape"),
        (json.dumps({**FIRING, "alerts": []}), "holds no alerts"),
        (json.dumps({**ALARM, "NewStateValue": "BROKEN"}), "not one of ALARM"),
        (
            json.dumps(
                {"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm Configuration Change", "detail": {}}
            ),
            "not an alarm state change",
        ),
        (
            json.dumps({"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification"}),
            "not a CloudWatch",
        ),
    ],
)
def test_parse_refuses_with_one_line_reason(body: str, reason: str) -> None:
    envelope = split_event(sns_event(body))[0]
    with pytest.raises(MalformedInput, match=reason) as caught:
        parse_message(envelope)
    assert "\n" not in str(caught.value)
    assert len(str(caught.value)) < 200


def test_parse_configuration_change_is_not_a_state_change() -> None:
    event = {"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm Configuration Change", "detail": {}}
    with pytest.raises(NotAStateChange):
        _only(event)


def test_parse_truncated_alertmanager_message_is_refused() -> None:
    envelope = Envelope(message_id="m", body='{"alerts": [', attributes={"truncated": "true"})
    with pytest.raises(MalformedInput, match="truncated"):
        parse_message(envelope)


def test_split_event_keeps_every_record_and_bad_ones_apart() -> None:
    event = sns_event(ALARM, "not json", FIRING)
    event["Records"].insert(1, {"EventSource": "aws:sqs", "body": "{}"})
    envelopes = split_event(event)
    assert len(envelopes) == 4
    assert envelopes[1].problem and "not an SNS record" in envelopes[1].problem
    assert isinstance(parse_message(envelopes[0]), AlarmNotification)
    assert isinstance(parse_message(envelopes[3]), AlertmanagerMessage)


@pytest.mark.parametrize("event", [None, [], "text", 42, {"Records": []}])
def test_split_event_never_raises(event: object) -> None:
    envelopes = split_event(event)
    assert len(envelopes) == 1
    with pytest.raises(MalformedInput):
        parse_message(envelopes[0])


def test_parse_alarm_tags_as_list_or_map() -> None:
    for tags in ({"severity": "page"}, [{"Key": "severity", "Value": "page"}]):
        message = _only({**ALARM, "AlarmArn": "arn:aws:cloudwatch:us-east-1:1:alarm:x", "AlarmTags": tags})
        assert isinstance(message, AlarmNotification)
        assert message.tags == {"severity": "page"}


def test_lone_surrogates_become_replacement_characters() -> None:
    # Found by the fuzzer: "\ud800" in JSON decodes to a lone surrogate that no encoder accepts.
    body = json.dumps(FIRING).replace("Something is on fire", "fire \\ud800 here").replace('"Fire"', '"F\\udfffire"')
    message = _only(sns_event(body))
    assert isinstance(message, AlertmanagerMessage)
    assert message.alerts[0].annotations["message"] == "fire \ufffd here"
    assert message.group_labels["alertname"] == "F\ufffdire"
