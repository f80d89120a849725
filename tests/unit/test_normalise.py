"""Normalise: one frozen Alert for every source, with stable ids, severities and links."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json

import pytest

from alertlib.errors import NotAStateChange
from alertlib.models import LinkKind, Severity, Source, Status
from alertlib.normalise import fingerprint, silence_url
from alertlib.settings import Route, Settings
from tests.conftest import load_event, sns_event
from tests.unit.helpers import alarm, alertmanager, group_of


def test_normalise_alarm_and_ok_share_one_id() -> None:
    firing = group_of(sns_event(alarm(state="ALARM")))
    resolved = group_of(sns_event(alarm(state="OK")))
    assert firing.status is Status.FIRING
    assert resolved.status is Status.RESOLVED
    assert firing.dedup_key == resolved.dedup_key == firing.alerts[0].id == resolved.alerts[0].id


def test_normalise_eventbridge_and_sns_of_one_alarm_share_one_id() -> None:
    event = load_event("eventbridge-alarm-state-change-single-metric__aws-docs.json")
    via_eventbridge = group_of(event)
    via_sns = group_of(sns_event(alarm(name="ServerCpuTooHigh")))
    assert via_eventbridge.dedup_key == via_sns.dedup_key
    assert via_eventbridge.source is Source.EVENTBRIDGE


def test_normalise_alertmanager_firing_and_resolved_share_one_group_key() -> None:
    firing = group_of(load_event("alertmanager-webhook-v4-firing__alertmanager-bot.json"))
    resolved = group_of(load_event("alertmanager-webhook-v4-resolved__alertmanager-bot.json"))
    assert firing.dedup_key == resolved.dedup_key == hashlib.sha256(b'{}:{alertname="Fire"}').hexdigest()
    assert firing.alerts[0].id == resolved.alerts[0].id
    assert (firing.status, resolved.status) == (Status.FIRING, Status.RESOLVED)


def test_normalise_alertmanager_without_group_key_is_stable_from_receiver_and_group_labels() -> None:
    body = {k: v for k, v in alertmanager(2).items() if k not in ("version", "groupKey", "truncatedAlerts")}
    first, second = group_of(sns_event(body)), group_of(sns_event(body))
    resolved = group_of(sns_event({**body, "status": "resolved"}))
    assert first.dedup_key == second.dedup_key == resolved.dedup_key
    assert len(first.dedup_key) == 64


def test_normalise_region_and_account_come_from_the_arn_not_the_display_name() -> None:
    group = group_of(sns_event(alarm()))
    alert = group.alerts[0]
    assert (alert.account, alert.region, alert.partition) == ("123456789012", "us-east-1", "aws")


@pytest.mark.parametrize(
    ("arn", "host"),
    [
        ("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:x", "https://eu-west-1.console.aws.amazon.com"),
        ("arn:aws-us-gov:cloudwatch:us-gov-west-1:123456789012:alarm:x", "https://console.amazonaws-us-gov.com"),
        ("arn:aws-cn:cloudwatch:cn-north-1:123456789012:alarm:x", "https://console.amazonaws.cn"),
    ],
)
def test_normalise_console_link_by_partition(arn: str, host: str) -> None:
    group = group_of(sns_event(alarm(name="x", arn=arn)))
    console = group.alerts[0].link(LinkKind.CONSOLE)
    assert console is not None
    region = arn.split(":")[3]
    assert console.url == f"{host}/cloudwatch/home?region={region}#alarmsV2:alarm/x"


def test_normalise_console_link_percent_encodes_slash_and_non_ascii() -> None:
    name = "prod/api 5xx – Zürich"
    group = group_of(sns_event(alarm(name=name, arn=f"arn:aws:cloudwatch:eu-central-2:123456789012:alarm:{name}")))
    console = group.alerts[0].link(LinkKind.CONSOLE)
    assert console is not None
    assert console.url.endswith("#alarmsV2:alarm/prod%2Fapi%205xx%20%E2%80%93%20Z%C3%BCrich")
    assert group.title == name


def test_normalise_runbook_and_dashboard_from_description_lines() -> None:
    description = "Orders DB CPU.\nrunbook: https://runbooks.example.com/rds\nDashboard = https://dash.example.com/rds"
    alert = group_of(sns_event(alarm(description=description))).alerts[0]
    assert alert.link(LinkKind.RUNBOOK).url == "https://runbooks.example.com/rds"  # type: ignore[union-attr]
    assert alert.link(LinkKind.DASHBOARD).url == "https://dash.example.com/rds"  # type: ignore[union-attr]
    assert alert.description == "Orders DB CPU."


def test_normalise_runbook_from_alarm_tags() -> None:
    alert = group_of(sns_event(alarm(description=None, tags={"runbook_url": "https://rb.example.com/x"}))).alerts[0]
    assert alert.link(LinkKind.RUNBOOK).url == "https://rb.example.com/x"  # type: ignore[union-attr]
    assert alert.description == ""


def test_normalise_refuses_non_http_links() -> None:
    alert = group_of(sns_event(alarm(description=None, tags={"runbook": "javascript:alert(1)"}))).alerts[0]
    assert alert.link(LinkKind.RUNBOOK) is None


def test_normalise_alertmanager_links_from_annotations_and_generator() -> None:
    group = group_of(alertmanager(1))
    alert = group.alerts[0]
    assert alert.link(LinkKind.RUNBOOK).url == "https://runbooks.example.com/high-latency"  # type: ignore[union-attr]
    assert alert.link(LinkKind.DASHBOARD).url == "https://grafana.example.com/d/api"  # type: ignore[union-attr]
    assert alert.link(LinkKind.GENERATOR).url.startswith("http://prometheus:9090/graph")  # type: ignore[union-attr]
    silence = group.link(LinkKind.SILENCE)
    assert silence is not None
    assert (
        silence.url == "http://alertmanager.example.com:9093/#/silences/new?filter=%7Balertname%3D%22HighLatency%22%7D"
    )


def test_silence_url_escapes_quotes_in_values() -> None:
    url = silence_url("http://am:9093/", {"job": 'a"b'})
    assert url == "http://am:9093/#/silences/new?filter=%7Bjob%3D%22a%5C%22b%22%7D"


@pytest.mark.parametrize(
    ("topic", "label", "expected"),
    [
        ("prod-critical", None, Severity.CRITICAL),
        ("prod-warning", None, Severity.WARNING),
        ("prod-warning", "page", Severity.CRITICAL),
        ("prod-critical", "minor", Severity.WARNING),
        ("prod-critical", "high", Severity.ERROR),
        ("prod-critical", "major", Severity.ERROR),
        ("prod-critical", "low", Severity.INFO),
        ("prod-critical", "unheard-of", Severity.CRITICAL),
    ],
)
def test_normalise_severity_from_topic_overridden_by_label(topic: str, label: str | None, expected: Severity) -> None:
    body = alertmanager(1)
    if label is None:
        del body["alerts"][0]["labels"]["severity"]
    else:
        body["alerts"][0]["labels"]["severity"] = label
    group = group_of(sns_event(body, topic=f"arn:aws:sns:us-east-1:123456789012:{topic}"))
    assert group.severity is expected


def test_normalise_severity_from_configured_route_and_alarm_tag() -> None:
    settings = Settings(routes={"ops-pager": Route(Severity.WARNING, ("s",))})
    topic = "arn:aws:sns:us-east-1:123456789012:ops-pager"
    assert group_of(sns_event(alarm(), topic=topic), settings).severity is Severity.WARNING
    tagged = alarm(tags=[{"Key": "severity", "Value": "sev1"}])
    assert group_of(sns_event(tagged, topic=topic), settings).severity is Severity.CRITICAL


@pytest.mark.parametrize(
    ("mode", "severity"),
    [("info", Severity.INFO), ("alarm", Severity.ERROR)],
)
def test_normalise_insufficient_data_never_critical(mode: str, severity: Severity) -> None:
    group = group_of(sns_event(alarm(state="INSUFFICIENT_DATA")), Settings(insufficient_data=mode))
    assert group.status is Status.INSUFFICIENT_DATA
    assert group.severity is severity


def test_normalise_insufficient_data_ignored_on_request() -> None:
    with pytest.raises(NotAStateChange, match="INSUFFICIENT_DATA"):
        group_of(sns_event(alarm(state="INSUFFICIENT_DATA")), Settings(insufficient_data="ignore"))


def test_normalise_metric_and_summary_say_what_broke_and_how_bad() -> None:
    alert = group_of(sns_event(alarm())).alerts[0]
    assert alert.metric is not None
    assert alert.metric.namespace == "AWS/RDS"
    assert alert.metric.statistic == "Average"
    assert alert.metric.threshold == 90.0
    assert alert.metric.comparison == "GreaterThanThreshold"
    assert alert.summary == "CPUUtilization 97.5 % (alarm above 90 %) on orders-db"


def test_normalise_metric_math_shows_the_expression_over_its_metric() -> None:
    alert = group_of(load_event("lambda-sns-cloudwatch-metric-math-alarm__aws-lambda-go.json")).alerts[0]
    assert alert.metric is not None
    assert alert.metric.name == "NetworkOut"
    assert alert.metric.expression == "m1*1 (Expression1)"
    assert alert.metric.threshold == 0.0


def test_normalise_anomaly_detection_band() -> None:
    body = alarm()
    body["Trigger"] = {
        "Period": 300,
        "EvaluationPeriods": 3,
        "ComparisonOperator": "LessThanLowerOrGreaterThanUpperThreshold",
        "ThresholdMetricId": "ad1",
        "TreatMissingData": "missing",
        "Metrics": [
            {
                "Id": "m1",
                "ReturnData": True,
                "MetricStat": {
                    "Metric": {"Namespace": "AWS/ECS", "MetricName": "CPUUtilization", "Dimensions": []},
                    "Period": 300,
                    "Stat": "Average",
                },
            },
            {"Id": "ad1", "Expression": "ANOMALY_DETECTION_BAND(m1, 2)", "Label": "band", "ReturnData": True},
        ],
    }
    alert = group_of(sns_event(body)).alerts[0]
    assert alert.metric is not None
    assert alert.metric.expression == "ANOMALY_DETECTION_BAND(m1, 2)"
    assert alert.metric.threshold is None
    assert "outside the band" in alert.metric.describe_threshold()


def test_normalise_composite_alarm_from_sns() -> None:
    body = alarm(name="svc-composite")
    del body["Trigger"]
    body["AlarmRule"] = "ALARM(cpu) OR ALARM(mem)"
    body["TriggeringChildren"] = [
        {"Arn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:cpu", "State": {"Value": "ALARM", "Timestamp": "x"}}
    ]
    alert = group_of(sns_event(body)).alerts[0]
    assert alert.metric is None
    assert alert.summary == "triggered by cpu (rule ALARM(cpu) OR ALARM(mem))"


def test_normalise_composite_with_suppressor_names_it_and_does_not_page() -> None:
    group = group_of(load_event("eventbridge-alarm-state-change-composite-with-suppressor__aws-docs.json"))
    alert = group.alerts[0]
    assert "ServerCpuTooHigh" in alert.summary
    assert alert.suppressed_by == "ServiceMaintenanceAlarm"
    assert alert.suppression == "WaitPeriod"
    assert "suppressed" not in alert.description.lower()  # said by the renderers, not hidden in the description
    assert group.severity is Severity.INFO


def test_normalise_suppressor_given_as_arn_is_named() -> None:
    event = load_event("eventbridge-alarm-state-change-composite-with-suppressor__aws-docs.json")
    arn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServiceMaintenanceAlarm"
    event["detail"]["configuration"]["actionsSuppressor"] = arn
    event["detail"]["state"]["actionsSuppressedBy"] = "ALARM"
    alert = group_of(event).alerts[0]
    assert (alert.suppressed_by, alert.suppression) == ("ServiceMaintenanceAlarm", "ALARM")


def test_normalise_suppressor_configured_but_not_suppressing_sets_nothing() -> None:
    """`actionsSuppressor` is configuration; only `actionsSuppressedBy` says this state's actions did not run."""
    event = load_event("eventbridge-alarm-state-change-composite-with-suppressor__aws-docs.json")
    del event["detail"]["state"]["actionsSuppressedBy"]
    group = group_of(event)
    alert = group.alerts[0]
    assert (alert.suppressed_by, alert.suppression) == (None, None)
    assert group.severity is not Severity.INFO


def test_normalise_suppression_without_suppressor_name_still_counts() -> None:
    event = load_event("eventbridge-alarm-state-change-composite-with-suppressor__aws-docs.json")
    del event["detail"]["configuration"]["actionsSuppressor"]
    alert = group_of(event).alerts[0]
    assert (alert.suppressed_by, alert.suppression) == (None, "WaitPeriod")


def test_normalise_eventbridge_resolved_knows_when_it_started() -> None:
    event = load_event("eventbridge-alarm-state-change-single-metric__aws-docs.json")
    event["detail"]["state"], event["detail"]["previousState"] = (
        {**event["detail"]["previousState"], "timestamp": "2019-10-02T17:20:00.000+0000"},
        event["detail"]["state"],
    )
    alert = group_of(event).alerts[0]
    assert alert.status is Status.RESOLVED
    assert alert.starts_at is not None and alert.ends_at is not None
    assert (alert.ends_at - alert.starts_at).total_seconds() == pytest.approx(15 * 60 + 19.011, abs=0.01)


def test_normalise_drill_reason_marks_the_alert() -> None:
    assert group_of(sns_event(alarm(reason="DRILL: proving the pager works"))).drill


def test_normalise_alert_is_frozen() -> None:
    alert = group_of(sns_event(alarm())).alerts[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        alert.title = "x"  # type: ignore[misc]


def test_fingerprint_matches_alertmanager() -> None:
    # Alertmanager's fingerprint of {alertname="Fire", severity="critical"} (prometheus/common model.LabelSet).
    assert fingerprint({}) == "cbf29ce484222325"
    assert fingerprint({"alertname": "Fire", "severity": "critical"}) == fingerprint(
        {"severity": "critical", "alertname": "Fire"}
    )
    assert len(fingerprint({"a": "b"})) == 16


def test_normalise_alertmanager_receiver_is_unquoted() -> None:
    assert group_of(alertmanager(1)).receiver == "web.hook"


def _no_arn(**fields: object) -> dict[str, object]:
    body = alarm(name=str(fields.pop("name", "orders-db-cpu")), **fields)  # type: ignore[arg-type]
    del body["AlarmArn"]
    return body


@pytest.mark.parametrize(
    ("region", "arn", "host"),
    [
        ("US East (N. Virginia)", "arn:aws:cloudwatch:us-east-1:123456789012:alarm:orders-db-cpu",
         "https://us-east-1.console.aws.amazon.com"),
        ("EU (London)", "arn:aws:cloudwatch:eu-west-2:123456789012:alarm:orders-db-cpu",
         "https://eu-west-2.console.aws.amazon.com"),
        ("China (Beijing)", "arn:aws-cn:cloudwatch:cn-north-1:123456789012:alarm:orders-db-cpu",
         "https://console.amazonaws.cn"),
        ("AWS GovCloud (US-West)", "arn:aws-us-gov:cloudwatch:us-gov-west-1:123456789012:alarm:orders-db-cpu",
         "https://console.amazonaws-us-gov.com"),
    ],
)  # fmt: skip
def test_normalise_alarm_without_arn_is_keyed_exactly_as_with_it(region: str, arn: str, host: str) -> None:
    firing = group_of(sns_event(_no_arn(Region=region, state="ALARM")))
    resolved = group_of(sns_event(_no_arn(Region=region, state="OK")))
    with_arn = group_of(sns_event(alarm(name="orders-db-cpu", arn=arn, state="ALARM")))
    assert firing.dedup_key == resolved.dedup_key == with_arn.dedup_key == arn
    assert firing.key == resolved.key == with_arn.key == arn
    alert = firing.alerts[0]
    code = arn.split(":")[3]
    assert (alert.account, alert.region, alert.partition, alert.arn) == ("123456789012", code, arn.split(":")[1], arn)
    console = alert.link(LinkKind.CONSOLE)
    assert console is not None
    assert console.url == f"{host}/cloudwatch/home?region={code}#alarmsV2:alarm/orders-db-cpu"


@pytest.mark.parametrize(
    "fields",
    [
        {"AWSAccountId": None},
        {"Region": "Atlantis (Lost City)"},
        {"AWSAccountId": None, "Region": None},
        {"AWSAccountId": "account_id"},
    ],
)
def test_normalise_alarm_without_arn_nor_enough_to_make_one_is_forwarded_with_a_stable_key(
    fields: dict[str, object],
) -> None:
    firing = group_of(sns_event({**_no_arn(state="ALARM"), **fields}))
    resolved = group_of(sns_event({**_no_arn(state="OK"), **fields}))
    other = group_of(sns_event({**_no_arn(name="another-alarm", state="ALARM"), **fields}))
    assert firing.dedup_key == resolved.dedup_key == firing.key == resolved.key
    assert firing.dedup_key != other.dedup_key
    assert firing.alerts[0].arn is None
    assert not firing.dedup_key.startswith("arn:")
    assert len(firing.dedup_key) <= 255


def test_normalise_alarms_without_arn_in_two_unknown_regions_do_not_share_a_key() -> None:
    one = group_of(sns_event({**_no_arn(), "Region": "Atlantis (Lost City)"}))
    two = group_of(sns_event({**_no_arn(), "Region": "Lemuria (Central)"}))
    assert one.dedup_key != two.dedup_key


def test_normalise_alarm_with_region_but_no_account_still_links_the_console() -> None:
    group = group_of(sns_event({**_no_arn(), "AWSAccountId": None, "Region": "Asia Pacific (Tokyo)"}))
    alert = group.alerts[0]
    assert (alert.region, alert.partition, alert.account) == ("ap-northeast-1", "aws", None)
    console = alert.link(LinkKind.CONSOLE)
    assert console is not None
    assert console.url.startswith("https://ap-northeast-1.console.aws.amazon.com/cloudwatch/home?region=ap-northeast-1")


def test_normalise_unknown_display_name_with_an_arn_takes_the_arn_region() -> None:
    arn = "arn:aws:cloudwatch:eu-south-2:123456789012:alarm:x"
    group = group_of(sns_event(alarm(name="x", arn=arn, Region="Atlantis (Lost City)")))
    assert (group.dedup_key, group.alerts[0].region) == (arn, "eu-south-2")


def test_normalise_eventbridge_event_without_resources_is_keyed_by_its_arn_all_the_same() -> None:
    event = load_event("eventbridge-alarm-state-change-single-metric__aws-docs.json")
    with_arn = group_of(event)
    without = group_of({**event, "resources": []})
    assert without.dedup_key == with_arn.dedup_key
    assert without.alerts[0].link(LinkKind.CONSOLE) == with_arn.alerts[0].link(LinkKind.CONSOLE)


def test_normalise_numbers_too_large_for_a_float_are_absent_not_a_crash() -> None:
    """An int of 400 digits passes JSON (under Python's 4,300-digit limit) but overflows a float: as a time or a
    threshold it is absent, and the alert still goes out (it used to raise OverflowError: retried, dead-lettered)."""
    huge = 10**400
    body = alertmanager(1)
    body["alerts"][0]["startsAt"] = huge
    group = group_of(sns_event(body))
    assert len(group.alerts) == 1
    cloudwatch = group_of(sns_event(alarm(StateChangeTime=huge)))
    assert cloudwatch.alerts[0].status is Status.FIRING
    event = load_event("eventbridge-alarm-state-change-single-metric__aws-docs.json")
    event["detail"]["state"]["reasonData"] = json.dumps({"threshold": huge, "statistic": "Average"})
    [alert] = group_of(event).alerts
    assert alert.metric is not None and alert.metric.threshold is None


@pytest.mark.parametrize("name", ["orders-db-cpu ", "orders\u2028", "Zürich cpu\t"])
def test_normalise_alarm_named_with_trailing_space_has_one_key_with_and_without_arn(name: str) -> None:
    without = group_of(sns_event(_no_arn(name=name)))
    with_arn = group_of(sns_event(alarm(name=name)))
    assert without.dedup_key == with_arn.dedup_key


# -- Summaries follow the state and the kind of alarm (issue 13) ------------------------------------------------

ANOMALY_EVENT = {
    "version": "0",
    "id": "daafc9f1-bddd-c6c9-83af-74971fcfc4ef",
    "detail-type": "CloudWatch Alarm State Change",
    "source": "aws.cloudwatch",
    "account": "123456789012",
    "time": "2019-10-03T16:00:04Z",
    "region": "us-east-1",
    "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:EC2 CPU Utilization Anomaly"],
    "detail": {
        "alarmName": "EC2 CPU Utilization Anomaly",
        "state": {
            "value": "ALARM",
            "reason": "Thresholds Crossed: 1 out of the last 1 datapoints [0.0 (03/10/19 15:58:00)] was less than the "
            "lower thresholds [0.020599444741798756] or greater than the upper thresholds [0.3006915352732461] "
            "(minimum 1 datapoint for OK -> ALARM transition).",
            "reasonData": '{"version":"1.0","period":60,"recentDatapoints":[0.0],'
            '"recentLowerThresholds":[0.020599444741798756],"recentUpperThresholds":[0.3006915352732461]}',
            "timestamp": "2019-10-03T16:00:04.653+0000",
        },
        "previousState": {"value": "OK", "reason": "ok", "timestamp": "2019-10-03T15:59:04.672+0000"},
        "configuration": {
            "description": "Goes into alarm if CPU Utilization is out of band",
            "metrics": [
                {
                    "id": "m1",
                    "metricStat": {
                        "metric": {
                            "namespace": "AWS/EC2",
                            "name": "CPUUtilization",
                            "dimensions": {"InstanceId": "i-12345678901234567"},
                        },
                        "period": 60,
                        "stat": "Average",
                    },
                    "returnData": True,
                },
                {
                    "id": "ad1",
                    "expression": "ANOMALY_DETECTION_BAND(m1, 0.8)",
                    "label": "CPUUtilization (expected)",
                    "returnData": True,
                },
            ],
        },
    },
}


def test_normalise_anomaly_event_shows_the_band_and_the_value_of_the_metric() -> None:
    alert = group_of(copy.deepcopy(ANOMALY_EVENT)).alerts[0]
    assert alert.metric is not None
    assert alert.metric.band == (0.020599444741798756, 0.3006915352732461)
    assert alert.metric.value == 0.0
    assert alert.summary == ("CPUUtilization 0 % (alarm outside the band 0.0206 % to 0.301 %) on i-12345678901234567")


def test_normalise_anomaly_band_from_reason_data_when_the_reason_has_none() -> None:
    event = copy.deepcopy(ANOMALY_EVENT)
    event["detail"]["state"]["reason"] = "Thresholds Crossed"
    alert = group_of(event).alerts[0]
    assert alert.metric is not None and alert.metric.band == (0.020599444741798756, 0.3006915352732461)
    assert "0.0206 % to 0.301 %" in alert.summary


def test_normalise_anomaly_one_sided_band() -> None:
    body = alarm(
        reason="Thresholds Crossed: 1 out of the last 1 datapoints [239.0 (25/07/24 07:21:00)] was greater "
        "than the upper thresholds [225.71426732099445] (minimum 1 datapoint for OK -> ALARM transition)."
    )
    body["Trigger"] = {
        "Period": 60,
        "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanUpperThreshold",
        "ThresholdMetricId": "ad1",
        "Metrics": [
            {"Id": "m1", "ReturnData": True, "MetricStat": {"Metric": {"Namespace": "AWS/Lambda",
             "MetricName": "Errors", "Dimensions": [{"name": "FunctionName", "value": "orders"}]},
             "Period": 60, "Stat": "Sum"}},
            {"Id": "ad1", "Expression": "ANOMALY_DETECTION_BAND(m1, 2)", "ReturnData": True},
        ],
    }  # fmt: skip
    alert = group_of(sns_event(body)).alerts[0]
    assert alert.summary == "Errors 239 (alarm above the band (upper bound 226)) on orders"


def test_normalise_eventbridge_threshold_has_its_direction_from_the_reason() -> None:
    alert = group_of(load_event("eventbridge-alarm-state-change-single-metric__aws-docs.json")).alerts[0]
    assert alert.metric is not None
    assert alert.metric.comparison == "GreaterThanThreshold"
    assert alert.metric.describe_threshold() == "above 50 %"
    assert alert.summary == "CPUUtilization 99.5 % (alarm above 50 %) on i-12345678901234567"


@pytest.mark.parametrize(
    ("words", "comparison"),
    [
        ("greater than or equal to", "GreaterThanOrEqualToThreshold"),
        ("less than or equal to", "LessThanOrEqualToThreshold"),
        ("greater than", "GreaterThanThreshold"),
        ("less than", "LessThanThreshold"),
        ("not less than", "LessThanThreshold"),
    ],
)
def test_normalise_eventbridge_comparison_words(words: str, comparison: str) -> None:
    event = load_event("eventbridge-alarm-state-change-single-metric__aws-docs.json")
    event["detail"]["state"]["reason"] = (
        f"Threshold Crossed: 1 out of the last 1 datapoints [99.5 (02/10/19 16:59:00)] was {words} the threshold (50.0)"
    )
    alert = group_of(event).alerts[0]
    assert alert.metric is not None and alert.metric.comparison == comparison


def test_normalise_metric_math_shows_every_metric_it_reads() -> None:
    body = alarm()
    body["Trigger"] = {
        "Period": 60,
        "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 5.0,
        "Metrics": [
            {"Id": "e1", "Expression": "100*(m1/m2)", "Label": "Error rate", "ReturnData": True},
            {"Id": "m1", "ReturnData": False, "MetricStat": {"Metric": {"Namespace": "AWS/Lambda",
             "MetricName": "Errors", "Dimensions": [{"name": "FunctionName", "value": "orders"}]},
             "Period": 60, "Stat": "Sum"}},
            {"Id": "m2", "ReturnData": False, "MetricStat": {"Metric": {"Namespace": "AWS/Lambda",
             "MetricName": "Invocations", "Dimensions": [{"name": "FunctionName", "value": "orders"}]},
             "Period": 60, "Stat": "Sum"}},
        ],
    }  # fmt: skip
    alert = group_of(sns_event(body)).alerts[0]
    assert alert.metric is not None
    described = alert.metric.describe()
    assert "100*(m1/m2) (Error rate)" in described
    assert "m1: AWS/Lambda Errors (FunctionName=orders) Sum/60s" in described
    assert "m2: AWS/Lambda Invocations (FunctionName=orders) Sum/60s" in described
    assert alert.summary.startswith("100*(m1/m2) (Error rate) 97.5 (alarm above 5)")


def test_normalise_recovery_says_it_recovered() -> None:
    reason = "Threshold Crossed: 1 datapoint [40.0 (22/11/26 03:10:00)] was not greater than the threshold (90.0)."
    alert = group_of(sns_event(alarm(state="OK", reason=reason))).alerts[0]
    assert alert.summary == "Recovered: CPUUtilization 40 % (alarm above 90 %) on orders-db"


def test_normalise_insufficient_data_says_no_data_and_since_when() -> None:
    alert = group_of(
        sns_event(alarm(state="INSUFFICIENT_DATA", reason="Insufficient Data: 1 datapoint was unknown."))
    ).alerts[0]
    assert alert.summary == "No data for CPUUtilization on orders-db since 2026-11-22 02:55 UTC"


def test_normalise_composite_names_its_children_never_their_arns() -> None:
    body = alarm(name="svc-composite")
    del body["Trigger"]
    arn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:"
    body["AlarmRule"] = f'ALARM("{arn}ServerCpuTooHigh") OR ALARM({arn}TotalNetworkTrafficTooHigh)'
    body["TriggeringChildren"] = [
        {"Arn": f"{arn}TotalNetworkTrafficTooHigh", "State": {"Value": "OK", "Timestamp": "x"}},
        {"Arn": f"{arn}ServerCpuTooHigh", "State": {"Value": "ALARM", "Timestamp": "x"}},
    ]
    alert = group_of(sns_event(body)).alerts[0]
    assert alert.summary.startswith("triggered by ServerCpuTooHigh (rule ")
    assert "arn:" not in alert.summary


@pytest.mark.parametrize(("state", "start"), [("OK", "Recovered"), ("INSUFFICIENT_DATA", "No data since ")])
def test_normalise_composite_summary_follows_the_state(state: str, start: str) -> None:
    body = alarm(name="svc-composite", state=state)
    del body["Trigger"]
    body["AlarmRule"] = "ALARM(cpu) OR ALARM(mem)"
    alert = group_of(sns_event(body)).alerts[0]
    assert alert.summary.startswith(start)
    assert "ALARM(cpu) OR ALARM(mem)" in alert.summary
