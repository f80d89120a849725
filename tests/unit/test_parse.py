"""Parse: every shape of PROTOCOLS.md section 1, and clear one-line refusals for everything else."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from alertlib.errors import MalformedInput, NotAStateChange
from alertlib.parse import (
    AlarmNotification,
    AlarmStateChange,
    AlertmanagerMessage,
    Envelope,
    flush_body,
    is_sqs_event,
    parse_message,
    parse_time,
    split_event,
    treat_missing_data,
)
from tests.conftest import load_event, sns_event


def sqs_event(*messages: Any, topic: str = "arn:aws:sns:us-east-1:123456789012:prod-critical") -> dict[str, Any]:
    """The SQS event an event source mapping hands a forwarder: each SNS record of `sns_event` as the notification
    JSON SNS puts in the queue (raw message delivery off). A str starting with `flush:` is a flush record."""
    records = []
    for index, message in enumerate(messages):
        if isinstance(message, str) and message.startswith("flush:"):
            body = flush_body(message.removeprefix("flush:"))
        else:
            sns = sns_event(message, topic=topic)["Records"][0]["Sns"]
            sns["MessageId"] = f"sns-{index}-{_digest_of(message)}"
            body = json.dumps(sns)
        records.append(
            {
                "messageId": f"sqs-{index}-{_digest_of(body)}",
                "receiptHandle": f"handle-{index}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795143300000"},
                "messageAttributes": {},
                "md5OfBody": "-",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:test-slack-forwarder-queue",
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


def _digest_of(value: Any) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:12]


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


# ---------------------------------------------------------------------------------------------------------------
# Liberal in what it accepts: CloudWatch notifications without AlarmArn, display-name regions, odd fields


def _without_arn(**fields: object) -> dict[str, object]:
    body = {k: v for k, v in ALARM.items() if k != "AlarmArn"}
    body.update(fields)
    return body


@pytest.mark.parametrize(
    ("region", "arn"),
    [
        ("US East (N. Virginia)", "arn:aws:cloudwatch:us-east-1:123456789012:alarm:a"),
        ("EU (London)", "arn:aws:cloudwatch:eu-west-2:123456789012:alarm:a"),
        ("Europe (London)", "arn:aws:cloudwatch:eu-west-2:123456789012:alarm:a"),
        ("EU - Ireland", "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:a"),
        ("US - N. Virginia", "arn:aws:cloudwatch:us-east-1:123456789012:alarm:a"),
        ("Asia Pacific (Tokyo)", "arn:aws:cloudwatch:ap-northeast-1:123456789012:alarm:a"),
        ("  asia pacific   (tokyo) ", "arn:aws:cloudwatch:ap-northeast-1:123456789012:alarm:a"),
        ("South America (São Paulo)", "arn:aws:cloudwatch:sa-east-1:123456789012:alarm:a"),
        ("AWS GovCloud (US-West)", "arn:aws-us-gov:cloudwatch:us-gov-west-1:123456789012:alarm:a"),
        ("AWS GovCloud (US)", "arn:aws-us-gov:cloudwatch:us-gov-west-1:123456789012:alarm:a"),
        ("China (Beijing)", "arn:aws-cn:cloudwatch:cn-north-1:123456789012:alarm:a"),
        ("China (Ningxia)", "arn:aws-cn:cloudwatch:cn-northwest-1:123456789012:alarm:a"),
        ("eu-central-2", "arn:aws:cloudwatch:eu-central-2:123456789012:alarm:a"),
    ],
)
def test_parse_alarm_without_arn_builds_it_from_account_and_region_name(region: str, arn: str) -> None:
    message = _only(sns_event(_without_arn(AlarmName="a", AWSAccountId="123456789012", Region=region)))
    assert isinstance(message, AlarmNotification)
    assert message.arn == arn
    assert message.region == arn.split(":")[3]


def test_parse_alarm_arn_region_wins_over_the_display_name() -> None:
    arn = "arn:aws:cloudwatch:eu-west-3:123456789012:alarm:a"
    for region in ("Atlantis (Lost City)", "US East (N. Virginia)", None, 7):
        message = _only({**ALARM, "AlarmName": "a", "AlarmArn": arn, "Region": region})
        assert isinstance(message, AlarmNotification)
        assert (message.arn, message.region) == (arn, "eu-west-3")


@pytest.mark.parametrize(
    ("fields", "region", "account"),
    [
        ({"Region": "Atlantis (Lost City)"}, None, "123456789012"),
        ({"AWSAccountId": None}, "us-east-1", None),
        ({"AWSAccountId": "account_id"}, "us-east-1", "account_id"),
        ({"Region": None, "AWSAccountId": None}, None, None),
    ],
)
def test_parse_alarm_without_arn_and_without_account_or_region_is_forwarded_by_what_is_known(
    fields: dict[str, object], region: str | None, account: str | None
) -> None:
    message = _only(_without_arn(**{"AWSAccountId": "123456789012", "Region": "US East (N. Virginia)", **fields}))
    assert isinstance(message, AlarmNotification)
    assert message.arn == ""  # no ARN is made up from half of it
    assert (message.region, message.account) == (region, account)


def test_parse_region_names_cover_every_botocore_region_and_partition() -> None:
    import botocore

    from alertlib.regions import partition_of, region_from_name

    endpoints = json.loads((Path(botocore.__file__).parent / "data" / "endpoints.json").read_text())
    seen = 0
    for partition in endpoints["partitions"]:
        for code, region in partition["regions"].items():
            assert re.fullmatch(partition["regionRegex"], code)
            assert partition_of(code) == partition["partition"], code
            assert region_from_name(region["description"]) == code, region["description"]
            if region["description"].startswith("Europe ("):  # recorded notifications say "EU (London)"
                assert region_from_name(region["description"].replace("Europe", "EU")) == code
            seen += 1
    assert seen >= 45


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("alarm", "ALARM"),
        (" Ok ", "OK"),
        ("insufficient_data", "INSUFFICIENT_DATA"),
        ("Insufficient Data", "INSUFFICIENT_DATA"),
    ],
)
def test_parse_alarm_state_in_any_case(raw: str, state: str) -> None:
    message = _only({**ALARM, "NewStateValue": raw, "OldStateValue": raw.lower()})
    assert isinstance(message, AlarmNotification)
    assert (message.new_state, message.old_state) == (state, state)


@pytest.mark.parametrize("trigger", [None, "", [], 7, "not json", {}, [{"MetricName": "x"}], "[1]"])
def test_parse_alarm_with_missing_or_odd_trigger_is_forwarded_without_a_metric(trigger: object) -> None:
    message = _only({**ALARM, "Trigger": trigger})
    assert isinstance(message, AlarmNotification)
    assert message.trigger is None


def test_parse_alarm_trigger_sent_as_a_json_string_is_read() -> None:
    message = _only({**ALARM, "Trigger": json.dumps(ALARM["Trigger"])})
    assert isinstance(message, AlarmNotification)
    assert message.trigger is not None
    assert message.trigger.metric is not None
    assert message.trigger.metric.name == ALARM["Trigger"]["MetricName"]


@pytest.mark.parametrize(
    ("raw", "iso"),
    [
        ("2021-11-10T02:45:55.640+0000", "2021-11-10T02:45:55.640000+00:00"),
        ("2021-11-10 02:45:55", "2021-11-10T02:45:55+00:00"),
        ("2021-11-10 02:45:55 UTC", "2021-11-10T02:45:55+00:00"),
        ("2021-11-10T02:45:55.640 GMT", "2021-11-10T02:45:55.640000+00:00"),
        ("Wed, 10 Nov 2021 02:45:55 GMT", "2021-11-10T02:45:55+00:00"),
        ("Wed, 10 Nov 2021 02:45:55 +0100", "2021-11-10T02:45:55+01:00"),
        (1636512355, "2021-11-10T02:45:55+00:00"),
        (1636512355640, "2021-11-10T02:45:55.640000+00:00"),
        ("1636512355", "2021-11-10T02:45:55+00:00"),
        (1636512355.5, "2021-11-10T02:45:55.500000+00:00"),
    ],
)
def test_parse_time_liberal_formats(raw: object, iso: str) -> None:
    parsed = parse_time(raw)
    assert parsed is not None
    assert parsed.isoformat() == iso


@pytest.mark.parametrize(
    "raw",
    ["date", "", "2021-13-45T99:99:99Z", "9" * 5000, "1e999", 1e300, -(10**30), True, "--1", "²", "x" * 200_000,
     "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", float("nan")],
)  # fmt: skip
def test_parse_time_unreadable_or_out_of_range_is_none(raw: object) -> None:
    assert parse_time(raw) is None


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"NewStateValue": "BROKEN"}, "not one of ALARM"),
        ({"NewStateValue": None}, "not one of ALARM"),
        ({"NewStateValue": "x" * 100_000}, "not one of ALARM"),
        ({"AlarmName": ""}, "AlarmName is missing"),
        ({"AlarmName": {"a": 1}}, "AlarmName is missing"),
    ],
)
def test_parse_alarm_refuses_what_is_ambiguous(fields: dict[str, object], reason: str) -> None:
    with pytest.raises(MalformedInput, match=reason) as caught:
        _only({**ALARM, **fields})
    assert len(str(caught.value)) < 200


def test_parse_alarm_name_given_as_a_number_is_read_as_text() -> None:
    message = _only(_without_arn(AlarmName=404, AWSAccountId=123456789012, Region="EU (Paris)"))
    assert isinstance(message, AlarmNotification)
    assert message.name == "404"
    assert message.arn == "arn:aws:cloudwatch:eu-west-3:123456789012:alarm:404"


@pytest.mark.parametrize("depth", [65, 500, 999, 5000, 100_000])
@pytest.mark.parametrize("kind", ["list", "object"])
def test_parse_json_nested_too_deep_is_refused_with_a_reason(depth: int, kind: str) -> None:
    nested = "[" * depth + "]" * depth if kind == "list" else '{"a":' * depth + '"\\ud800"' + "}" * depth
    for body in (f'{{"AlarmName": "a", "NewStateValue": "ALARM", "Extra": {nested}}}', nested):
        with pytest.raises(MalformedInput, match=r"nested|not valid JSON|not an object"):
            _only(sns_event(body))


def test_parse_json_nested_deep_in_a_decoded_event_is_refused_and_split_never_raises() -> None:
    event: object = {"x": "\ud800"}
    for _ in range(2_000):
        event = {"source": "aws.cloudwatch", "nested": [event]}
    envelopes = split_event(event)
    with pytest.raises(MalformedInput, match="nested"):
        parse_message(envelopes[0])


def test_parse_json_nested_as_deep_as_real_payloads_is_read() -> None:
    body = {**ALARM, "Extra": json.loads("[" * 60 + "]" * 60)}
    assert isinstance(_only(sns_event(body)), AlarmNotification)


def test_parse_json_inside_string_fields_nested_too_deep_is_ignored() -> None:
    deep = '{"a":' * 900 + '"\\ud800"' + "}" * 900
    message = _only({**ALARM, "Trigger": deep})
    assert isinstance(message, AlarmNotification)
    assert message.trigger is None
    event = load_event("eventbridge-alarm-state-change-single-metric__aws-docs.json")
    event["detail"]["state"]["reasonData"] = deep
    change = _only(event)
    assert isinstance(change, AlarmStateChange)
    assert change.state.reason_data == {}


def test_split_sqs_record_reads_the_sns_notification_inside() -> None:
    event = sqs_event(ALARM)
    [envelope] = split_event(event)
    sns = json.loads(event["Records"][0]["body"])
    assert is_sqs_event(event) and not is_sqs_event(sns_event(ALARM))
    assert envelope.message_id == sns["MessageId"]  # idempotency keys on SNS's id, the same on every redelivery
    assert envelope.sqs_message_id == event["Records"][0]["messageId"]
    assert envelope.receipt_handle == "handle-0"
    assert envelope.topic_arn == "arn:aws:sns:us-east-1:123456789012:prod-critical"
    assert envelope.problem is None and envelope.flush_channel is None
    assert isinstance(parse_message(envelope), AlarmNotification)


def test_split_sqs_flush_record() -> None:
    [envelope] = split_event(sqs_event("flush:slack#alerting/test/slack"))
    assert envelope.flush_channel == "slack#alerting/test/slack"
    assert envelope.sqs_message_id and envelope.problem is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("Hello from SQS", "not an SNS notification"),
        ('{"AlarmName": "raw delivery"}', "keys: AlarmName"),
        ('{"Type": "Notification"}', "not an SNS notification"),
        ("{not json", "not an SNS notification"),
        ('{"alert_forwarding": "flush"}', "names no channel"),
        (None, "no body string"),
    ],
)
def test_split_sqs_bad_body_is_refused_alone(body: Any, reason: str) -> None:
    event = sqs_event(ALARM, ALARM)
    event["Records"][0]["body"] = body
    bad, good = split_event(event)
    assert bad.problem and reason in bad.problem and "\n" not in bad.problem
    assert bad.sqs_message_id == event["Records"][0]["messageId"]
    with pytest.raises(MalformedInput):
        parse_message(bad)
    assert isinstance(parse_message(good), AlarmNotification)


def test_parse_composite_keeps_its_suppressor_and_the_suppression() -> None:
    message = _only(load_event("eventbridge-alarm-state-change-composite-with-suppressor__aws-docs.json"))
    assert isinstance(message, AlarmStateChange)
    assert message.actions_suppressor == "ServiceMaintenanceAlarm"
    assert message.state.actions_suppressed_by == "WaitPeriod"
    assert message.previous is not None and message.previous.actions_suppressed_by is None
