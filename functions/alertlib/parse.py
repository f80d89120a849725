"""Parse: the only stage that knows AWS and Alertmanager event shapes (PROTOCOLS.md section 1).

`split_event` turns one Lambda invocation event into envelopes, one per record, without ever raising, so a bad
record cannot stop the others. `parse_message` turns one envelope into a typed message or raises `MalformedInput`
with a one-line reason. Unknown fields are ignored: AWS and Alertmanager add fields over time.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from alertlib.errors import MalformedInput, NotAStateChange
from alertlib.regions import REGION_CODE, alarm_arn, region_from_name

ALARM_STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")
STATE_CHANGE = "CloudWatch Alarm State Change"


# ---------------------------------------------------------------------------------------------------------------
# Envelopes: where a message came from


@dataclass(frozen=True, slots=True)
class Envelope:
    """One record of an invocation: an SNS record (delivered by SNS itself, or through SQS with raw delivery off),
    a flush the forwarder sent itself, or the whole event when it came without SNS.

    `message_id` is SNS's MessageId (idempotency keys on it); `sqs_message_id` names the SQS record (what
    `batchItemFailures` names) and `receipt_handle` lets its visibility be changed."""

    message_id: str
    body: Any  # the SNS Message string, or the event itself (a dict) when it came without SNS
    topic_arn: str | None = None
    subject: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    problem: str | None = None  # set when the record itself is unusable: parse_message refuses it
    sqs_message_id: str | None = None
    receipt_handle: str | None = None
    receive_count: int = 1  # SQS's ApproximateReceiveCount: how many times this record was received
    flush_channel: str | None = None  # a flush record: the channel whose buffered alerts are due
    recheck: int = 0  # a suppressed composite alarm sent back by the forwarder to look again: the look's number

    @property
    def topic_name(self) -> str | None:
        if not self.topic_arn:
            return None
        return self.topic_arn.rsplit(":", 1)[-1]


def split_event(event: Any) -> list[Envelope]:
    """Every record of an invocation event, each on its own; never raises."""
    if not isinstance(event, dict):
        return [
            Envelope(message_id=_digest(event), body=event, problem=f"event is a {type(event).__name__}, not an object")
        ]
    records = event.get("Records")
    if isinstance(records, list):
        if not records:
            return [Envelope(message_id=_digest(event), body=event, problem="event has an empty Records list")]
        return [_record_envelope(record, index) for index, record in enumerate(records)]
    return [Envelope(message_id=_direct_message_id(event), body=event)]


def is_sqs_event(event: Any) -> bool:
    """An event from an SQS event source mapping (answered with `batchItemFailures`)."""
    records = event.get("Records") if isinstance(event, dict) else None
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records)
    )


RECHECK = "recheck"  # {"alert_forwarding": "recheck", "attempt": n, "notification": {...}}: alarm.recheck
FLUSH = "flush"  # {"alert_forwarding": "flush", "channel": "<channel>"}: sent by a forwarder to its own queue


def flush_body(channel: str) -> str:
    return json.dumps({"alert_forwarding": FLUSH, "channel": channel}, separators=(",", ":"))


def _record_envelope(record: Any, index: int) -> Envelope:
    if isinstance(record, dict) and record.get("eventSource") == "aws:sqs" and "Sns" not in record:
        return _sqs_envelope(record, index)
    return _sns_envelope(record, index)


def _sqs_envelope(record: Mapping[str, Any], index: int) -> Envelope:
    """An SQS record whose body is SNS's notification JSON (raw message delivery off), or a flush."""
    sqs_id = record.get("messageId")
    sqs_id = sqs_id if isinstance(sqs_id, str) and sqs_id else f"record-{index}-{_digest(record)}"
    handle = record.get("receiptHandle")
    handle = handle if isinstance(handle, str) and handle else None
    body = record.get("body")
    attributes = record.get("attributes")
    count = attributes.get("ApproximateReceiveCount") if isinstance(attributes, dict) else None
    received = int(count) if isinstance(count, str) and count.isdigit() and len(count) < 6 else 1
    refused = Envelope(
        message_id=sqs_id, body=body, sqs_message_id=sqs_id, receipt_handle=handle, receive_count=max(received, 1)
    )
    if not isinstance(body, str):
        return replace(refused, body=record, problem=f"SQS record {index} has no body string")
    stripped = body.strip()
    notification: Any = None
    if stripped.startswith("{"):
        try:
            notification = json.loads(stripped)
        except (ValueError, RecursionError):
            notification = None
    if not isinstance(notification, dict):
        first = stripped.splitlines()[0][:60] if stripped else ""
        return replace(refused, problem=f"SQS body is not an SNS notification (starts {first!r})")
    if notification.get("alert_forwarding") == FLUSH:
        channel = notification.get("channel")
        if not isinstance(channel, str) or not channel:
            return replace(refused, problem="flush record names no channel")
        return replace(refused, body=None, flush_channel=channel)
    attempt = 0
    if notification.get("alert_forwarding") == RECHECK:
        number, notification = notification.get("attempt"), notification.get("notification")
        if not isinstance(number, int) or isinstance(number, bool) or number < 1 or not isinstance(notification, dict):
            return replace(refused, problem="recheck record has no attempt or notification")
        attempt = number
    if notification.get("Type") != "Notification" or not isinstance(notification.get("Message"), str):
        keys = ", ".join(sorted(str(k) for k in notification)[:6])
        return replace(refused, problem=f"SQS body is not an SNS notification (keys: {keys[:120]})")
    envelope = _sns_envelope({"Sns": notification}, index)
    return replace(
        envelope, sqs_message_id=sqs_id, receipt_handle=handle, receive_count=refused.receive_count, recheck=attempt
    )


def _sns_envelope(record: Any, index: int) -> Envelope:
    sns = record.get("Sns") if isinstance(record, dict) else None
    if not isinstance(sns, dict):
        source = record.get("EventSource") or record.get("eventSource") if isinstance(record, dict) else None
        return Envelope(
            message_id=f"record-{index}-{_digest(record)}",
            body=record,
            problem=f"record {index} is not an SNS record (EventSource {source!r})",
        )
    message_id = sns.get("MessageId")
    if not isinstance(message_id, str) or not message_id:
        message_id = f"record-{index}-{_digest(record)}"
    attributes: dict[str, str] = {}
    raw_attributes = sns.get("MessageAttributes")
    if isinstance(raw_attributes, dict):
        for name, attribute in raw_attributes.items():
            if isinstance(attribute, dict) and isinstance(attribute.get("Value"), str):
                attributes[str(name)] = attribute["Value"]
    message = sns.get("Message")
    topic_arn = sns.get("TopicArn")
    subject = sns.get("Subject")
    return Envelope(
        message_id=message_id,
        body=message,
        topic_arn=topic_arn if isinstance(topic_arn, str) else None,
        subject=subject if isinstance(subject, str) else None,
        attributes=attributes,
        problem=None if isinstance(message, str) else "SNS record has no Message string",
    )


def _direct_message_id(event: Mapping[str, Any]) -> str:
    event_id = event.get("id")
    if isinstance(event_id, str) and event_id:
        return event_id
    return _digest(event)


def _digest(value: Any) -> str:
    """A stable id for something that came without one (the same event retried gets the same id)."""
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    except (TypeError, ValueError, RecursionError):
        text = reprlib.repr(value)  # reprlib stops at a few levels and elements: never recurses deep
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


# ---------------------------------------------------------------------------------------------------------------
# Typed messages


@dataclass(frozen=True, slots=True)
class MetricQuery:
    """A metric or a metric-math expression, as CloudWatch and EventBridge describe them."""

    id: str | None = None
    namespace: str | None = None
    name: str | None = None
    dimensions: tuple[tuple[str, str], ...] = ()
    stat: str | None = None
    period: int | None = None
    unit: str | None = None
    expression: str | None = None
    label: str | None = None
    return_data: bool = True


@dataclass(frozen=True, slots=True)
class Trigger:
    """The `Trigger` object of a CloudWatch metric alarm notification."""

    metric: MetricQuery | None  # single metric
    queries: tuple[MetricQuery, ...]  # metric math and anomaly detection
    comparison: str | None
    threshold: float | None
    threshold_metric_id: str | None
    evaluation_periods: int | None
    datapoints_to_alarm: int | None
    treat_missing_data: str | None


@dataclass(frozen=True, slots=True)
class AlarmNotification:
    """CloudWatch's own SNS notification of a metric or composite alarm (PROTOCOLS.md 1.2).

    `arn` is the `AlarmArn`, or the one CloudWatch would have given when only `AWSAccountId` and `Region` came;
    "" when neither says enough. `region` is a code (from the ARN, else from the `Region` display name)."""

    name: str
    arn: str
    account: str | None
    region: str | None
    region_name: str | None  # the `Region` display name as sent, kept when it maps to no known code
    new_state: str
    old_state: str | None
    reason: str
    description: str | None
    changed_at: datetime | None
    trigger: Trigger | None
    alarm_rule: str | None
    triggering_children: tuple[tuple[str, str], ...]  # (arn, state)
    tags: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class AlarmState:
    value: str
    reason: str
    reason_data: Mapping[str, Any]
    timestamp: datetime | None
    actions_suppressed_by: str | None


@dataclass(frozen=True, slots=True)
class AlarmStateChange:
    """An EventBridge "CloudWatch Alarm State Change" event, or CloudWatch's direct Lambda action event."""

    via_eventbridge: bool
    name: str
    arn: str
    account: str | None
    region: str | None
    state: AlarmState
    previous: AlarmState | None
    description: str | None
    queries: tuple[MetricQuery, ...]
    alarm_rule: str | None
    actions_suppressor: str | None = None  # configuration.actionsSuppressor: the suppressor alarm's name or ARN


@dataclass(frozen=True, slots=True)
class AlertmanagerAlert:
    status: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime | None
    ends_at: datetime | None
    generator_url: str | None
    fingerprint: str | None


@dataclass(frozen=True, slots=True)
class AlertmanagerMessage:
    """A webhook v4 body, or `{{ toJson . }}` output (no version, groupKey or truncatedAlerts)."""

    status: str
    receiver: str | None
    group_key: str | None
    truncated_alerts: int
    group_labels: Mapping[str, str]
    common_labels: Mapping[str, str]
    common_annotations: Mapping[str, str]
    external_url: str | None
    alerts: tuple[AlertmanagerAlert, ...]


Message = AlarmNotification | AlarmStateChange | AlertmanagerMessage


def parse_message(envelope: Envelope) -> Message:
    """The typed message inside an envelope, or `MalformedInput` with a one-line reason."""
    if envelope.problem:
        raise MalformedInput(envelope.problem)
    body = envelope.body
    if isinstance(body, str):
        body = _decode_json(body, envelope)
        check_depth(body)
        if _ESCAPED_SURROGATE.search(envelope.body):
            body = scrub_surrogates(body)
    else:
        check_depth(body)
        body = scrub_surrogates(body)  # an event Lambda decoded for us: rare, so always checked
    if not isinstance(body, dict):
        raise MalformedInput(f"message is JSON {type(body).__name__}, not an object")
    return parse_payload(body)


def parse_payload(body: Mapping[str, Any]) -> Message:
    """Recognise a decoded payload by its shape (lone surrogates already scrubbed)."""
    if "AlarmName" in body and "NewStateValue" in body:
        return _alarm_notification(body)
    source = body.get("source")
    if source == "aws.cloudwatch" and "detail-type" in body:
        detail_type = body.get("detail-type")
        if detail_type != STATE_CHANGE:
            raise NotAStateChange(f"EventBridge {str(detail_type)[:80]!r} event is not an alarm state change")
        return _state_change(body, _mapping(body, "detail"), via_eventbridge=True)
    if source == "aws.cloudwatch" and "alarmData" in body:
        return _state_change(body, _mapping(body, "alarmData"), via_eventbridge=False)
    if "alerts" in body and ("status" in body or "receiver" in body or "version" in body):
        return _alertmanager(body)
    if isinstance(source, str) and "detail-type" in body:
        raise MalformedInput(f"EventBridge event from {source[:80]!r} is not a CloudWatch alarm")
    keys = ", ".join(sorted(str(k) for k in body)[:6])
    raise MalformedInput(f"unknown message shape (keys: {keys[:120]})")


MAX_DEPTH = 64  # real payloads nest 7 deep; every later stage may recurse, so nothing deeper goes further


def check_depth(value: Any, limit: int = MAX_DEPTH, *, what: str = "message is") -> None:
    """Refuse JSON nested deeper than `limit` before anything recurses into it (walked without recursion, so the
    answer is the same whatever the interpreter's recursion limit). The endpoint uses it with its own limit."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > limit:
            raise MalformedInput(f"{what} nested deeper than {limit} levels")
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


def scrub_surrogates(value: Any) -> Any:
    """JSON may carry lone UTF-16 surrogates (`"\\ud800"`); nothing downstream can encode them. They become U+FFFD.
    A decoded str never holds a valid pair, so any surrogate left is a lone one."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if _SURROGATE.search(value) else value
    if isinstance(value, dict):
        return {scrub_surrogates(k): scrub_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_surrogates(v) for v in value]
    return value


def _decode_json(text: str, envelope: Envelope) -> Any:
    if envelope.attributes.get("truncated") == "true":
        raise MalformedInput("message was truncated by Alertmanager (over 256 KiB): set a smaller template")
    stripped = text.strip()
    if not stripped.startswith(("{", "[")):
        first = stripped.splitlines()[0][:60] if stripped else ""
        raise MalformedInput(
            f"message is not JSON (starts {first!r}); Alertmanager needs message: '{{{{ toJson . }}}}'"
        )
    try:
        return json.loads(stripped)
    except (ValueError, RecursionError) as exc:
        raise MalformedInput(f"message is not valid JSON: {str(exc)[:100]}") from exc


# ---------------------------------------------------------------------------------------------------------------
# CloudWatch


_ACCOUNT = re.compile(r"\d{12}")
_ARN_PLACE = re.compile(r"arn:[\w-]+:[\w-]+:(?P<region>[\w-]*):(?P<account>[^:]*):")


def _alarm_notification(body: Mapping[str, Any]) -> AlarmNotification:
    name = _required_str(body, "AlarmName")
    new_state = _state_value(body.get("NewStateValue"), "NewStateValue")
    account = (_opt_str(body, "AWSAccountId") or "").strip() or None
    arn = _opt_str(body, "AlarmArn") or ""
    arn = arn if arn.strip() else ""  # kept as sent otherwise: it is the identity, and names may end in a space
    region_name = _opt_str(body, "Region")
    place = _ARN_PLACE.match(arn)
    region = place.group("region") if place and REGION_CODE.fullmatch(place.group("region")) else None
    region = region or region_from_name(region_name)  # the ARN's region wins over the display name
    if not arn and account and region and _ACCOUNT.fullmatch(account):
        # Tools and older fixtures leave AlarmArn out: the one CloudWatch gives is known from the other fields, so
        # the alert keeps the dedup key, ledger key and console link it would have had with it.
        arn = alarm_arn(region=region, account=account, name=name)
    trigger = _trigger(trigger_raw) if (trigger_raw := _object(body.get("Trigger"))) else None
    children: list[tuple[str, str]] = []
    for child in _list(body, "TriggeringChildren"):
        if isinstance(child, dict):
            state = child.get("State")
            value = state.get("Value") if isinstance(state, dict) else None
            children.append((str(child.get("Arn") or ""), str(value or "")))
    return AlarmNotification(
        name=name,
        arn=arn,
        account=account,
        region=region,
        region_name=region_name[:_MAX_REGION_NAME] if region_name else None,
        new_state=new_state,
        old_state=_known_state(body.get("OldStateValue")),
        reason=_opt_str(body, "NewStateReason") or "",
        description=_opt_str(body, "AlarmDescription"),
        changed_at=parse_time(body.get("StateChangeTime")),
        trigger=trigger,
        alarm_rule=_opt_str(body, "AlarmRule"),
        triggering_children=tuple(children),
        tags=_tags(body.get("AlarmTags")),
    )


_MAX_REGION_NAME = 80  # the longest display name is 38 characters; it is kept only to tell unknown regions apart


def _object(raw: Any) -> Mapping[str, Any] | None:
    """A JSON object, also when a tool sent it encoded as a JSON string; None for anything else."""
    if isinstance(raw, str):
        raw = _inner_json(raw)
    return raw if isinstance(raw, dict) else None


def _inner_json(text: str) -> Any:
    """JSON inside a string field (`reasonData`, a `Trigger` sent encoded): the object, or None when it is not one,
    is not valid or is nested too deep."""
    if not text.lstrip().startswith("{"):
        return None
    try:
        decoded = json.loads(text)
        check_depth(decoded)
    except (ValueError, RecursionError, MalformedInput):
        return None
    return scrub_surrogates(decoded) if isinstance(decoded, dict) else None


def _trigger(raw: Mapping[str, Any]) -> Trigger:
    metric: MetricQuery | None = None
    if raw.get("MetricName") or raw.get("Namespace"):
        metric = MetricQuery(
            namespace=_opt_str(raw, "Namespace"),
            name=_opt_str(raw, "MetricName"),
            dimensions=_dimension_list(raw.get("Dimensions")),
            stat=_opt_str(raw, "ExtendedStatistic") or _statistic(raw.get("Statistic")),
            period=_opt_int(raw.get("Period")),
            unit=_opt_str(raw, "Unit"),
        )
    queries = tuple(_query_upper(q) for q in _list(raw, "Metrics") if isinstance(q, dict))
    return Trigger(
        metric=metric,
        queries=queries,
        comparison=_opt_str(raw, "ComparisonOperator"),
        threshold=_opt_float(raw.get("Threshold")),
        threshold_metric_id=_opt_str(raw, "ThresholdMetricId"),
        evaluation_periods=_opt_int(raw.get("EvaluationPeriods")),
        datapoints_to_alarm=_opt_int(raw.get("DatapointsToAlarm")),
        treat_missing_data=treat_missing_data(raw.get("TreatMissingData")),
    )


def _query_upper(raw: Mapping[str, Any]) -> MetricQuery:
    stat = raw.get("MetricStat")
    metric = stat.get("Metric") if isinstance(stat, dict) else None
    return MetricQuery(
        id=_opt_str(raw, "Id"),
        namespace=_opt_str(metric, "Namespace") if isinstance(metric, dict) else None,
        name=_opt_str(metric, "MetricName") if isinstance(metric, dict) else None,
        dimensions=_dimension_list(metric.get("Dimensions")) if isinstance(metric, dict) else (),
        stat=_opt_str(stat, "Stat") if isinstance(stat, dict) else None,
        period=_opt_int(stat.get("Period")) if isinstance(stat, dict) else _opt_int(raw.get("Period")),
        unit=_opt_str(stat, "Unit") if isinstance(stat, dict) else None,
        expression=_opt_str(raw, "Expression"),
        label=_opt_str(raw, "Label"),
        return_data=raw.get("ReturnData") is not False,
    )


def _query_lower(raw: Mapping[str, Any]) -> MetricQuery:
    stat = raw.get("metricStat")
    metric = stat.get("metric") if isinstance(stat, dict) else None
    dimensions: tuple[tuple[str, str], ...] = ()
    if isinstance(metric, dict) and isinstance(metric.get("dimensions"), dict):
        dimensions = tuple((str(k), str(v)) for k, v in metric["dimensions"].items())
    return MetricQuery(
        id=_opt_str(raw, "id"),
        namespace=_opt_str(metric, "namespace") if isinstance(metric, dict) else None,
        name=_opt_str(metric, "name") if isinstance(metric, dict) else None,
        dimensions=dimensions,
        stat=_opt_str(stat, "stat") if isinstance(stat, dict) else None,
        period=_opt_int(stat.get("period")) if isinstance(stat, dict) else _opt_int(raw.get("period")),
        unit=_opt_str(stat, "unit") if isinstance(stat, dict) else None,
        expression=_opt_str(raw, "expression"),
        label=_opt_str(raw, "label"),
        return_data=raw.get("returnData") is not False,
    )


def _state_change(event: Mapping[str, Any], detail: Mapping[str, Any], *, via_eventbridge: bool) -> AlarmStateChange:
    name = _required_str(detail, "alarmName")
    if via_eventbridge:
        resources = [r for r in _list(event, "resources") if isinstance(r, str)]
        arn = next((r for r in resources if ":alarm:" in r), "")
        account = _opt_str(event, "account")
    else:
        arn = _opt_str(event, "alarmArn") or ""
        account = _opt_str(event, "accountId")
    region = _opt_str(event, "region")
    if not arn and account and region and _ACCOUNT.fullmatch(account) and REGION_CODE.fullmatch(region):
        arn = alarm_arn(region=region, account=account, name=name)
    if not arn:
        raise MalformedInput("alarm state change event names no alarm ARN, nor its account and region")
    state = _alarm_state(detail.get("state"), "state")
    previous_raw = detail.get("previousState")
    previous = _alarm_state(previous_raw, "previousState") if isinstance(previous_raw, dict) else None
    configuration = detail.get("configuration")
    configuration = configuration if isinstance(configuration, dict) else {}
    return AlarmStateChange(
        via_eventbridge=via_eventbridge,
        name=name,
        arn=arn,
        account=account,
        region=region,
        state=state,
        previous=previous,
        description=_opt_str(configuration, "description"),
        queries=tuple(_query_lower(q) for q in _list(configuration, "metrics") if isinstance(q, dict)),
        alarm_rule=_opt_str(configuration, "alarmRule"),
        actions_suppressor=_opt_str(configuration, "actionsSuppressor"),
    )


def _alarm_state(raw: Any, where: str) -> AlarmState:
    if not isinstance(raw, dict):
        raise MalformedInput(f"alarm state change event has no {where} object")
    data = raw.get("reasonData")
    reason_data: Mapping[str, Any] = (_inner_json(data) if isinstance(data, str) else None) or {}
    return AlarmState(
        value=_state_value(raw.get("value"), f"{where}.value"),
        reason=_opt_str(raw, "reason") or "",
        reason_data=reason_data,
        timestamp=parse_time(raw.get("timestamp")),
        actions_suppressed_by=_opt_str(raw, "actionsSuppressedBy"),
    )


def treat_missing_data(raw: Any) -> str | None:
    """`missing`, whether it arrives as `missing` or as `- TreatMissingData:                    missing`."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    text = raw.strip()
    if ":" in text:
        text = text.rsplit(":", 1)[1].strip()
    return text or None


def _statistic(raw: Any) -> str | None:
    """CloudWatch notifications spell statistics in upper case (`AVERAGE`); the API spells them `Average`."""
    if not isinstance(raw, str) or not raw:
        return None
    known = {
        "AVERAGE": "Average",
        "SUM": "Sum",
        "MINIMUM": "Minimum",
        "MAXIMUM": "Maximum",
        "SAMPLECOUNT": "SampleCount",
    }
    return known.get(raw.upper(), raw)


def _dimension_list(raw: Any) -> tuple[tuple[str, str], ...]:
    if isinstance(raw, dict):
        return tuple((str(k), str(v)) for k, v in raw.items())
    if not isinstance(raw, list):
        return ()
    pairs: list[tuple[str, str]] = []
    for item in raw:
        if isinstance(item, dict):
            name = item.get("name", item.get("Name"))
            value = item.get("value", item.get("Value"))
            if name is not None:
                pairs.append((str(name), "" if value is None else str(value)))
    return tuple(pairs)


def _tags(raw: Any) -> Mapping[str, str]:
    """`AlarmTags` as a map, whether sent as `{k: v}` or `[{"Key": k, "Value": v}]`."""
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items() if v is not None}
    tags: dict[str, str] = {}
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict):
                key = item.get("Key", item.get("key"))
                value = item.get("Value", item.get("value"))
                if key is not None and value is not None:
                    tags[str(key)] = str(value)
    return tags


def _state_value(raw: Any, where: str) -> str:
    state = _known_state(raw)
    if state is None:
        raise MalformedInput(f"{where} is {str(raw)[:40]!r}, not one of ALARM, OK, INSUFFICIENT_DATA")
    return state


def _known_state(raw: Any) -> str | None:
    """`ALARM`, `OK` or `INSUFFICIENT_DATA`, in any case and with spaces for the underscore; None otherwise."""
    if not isinstance(raw, str) or len(raw) > 40:
        return None
    state = "_".join(raw.split()).upper()
    return state if state in ALARM_STATES else None


# ---------------------------------------------------------------------------------------------------------------
# Alertmanager


def _alertmanager(body: Mapping[str, Any]) -> AlertmanagerMessage:
    raw_alerts = body.get("alerts")
    if not isinstance(raw_alerts, list):
        raise MalformedInput("Alertmanager body has no alerts list")
    if not raw_alerts:
        raise MalformedInput("Alertmanager body holds no alerts")
    alerts = tuple(_alertmanager_alert(raw, index) for index, raw in enumerate(raw_alerts))
    status = body.get("status")
    if status not in ("firing", "resolved"):
        status = "firing" if any(a.status == "firing" for a in alerts) else "resolved"
    truncated = _opt_int(body.get("truncatedAlerts")) or 0
    return AlertmanagerMessage(
        status=str(status),
        receiver=_opt_str(body, "receiver"),
        group_key=_opt_str(body, "groupKey"),
        truncated_alerts=max(truncated, 0),
        group_labels=_labels(body.get("groupLabels")),
        common_labels=_labels(body.get("commonLabels")),
        common_annotations=_labels(body.get("commonAnnotations")),
        external_url=_opt_str(body, "externalURL"),
        alerts=alerts,
    )


def _alertmanager_alert(raw: Any, index: int) -> AlertmanagerAlert:
    if not isinstance(raw, dict):
        raise MalformedInput(f"Alertmanager alert {index} is not an object")
    labels = _labels(raw.get("labels"))
    if not labels:
        raise MalformedInput(f"Alertmanager alert {index} has no labels")
    status = raw.get("status")
    if status not in ("firing", "resolved"):
        raise MalformedInput(f"Alertmanager alert {index} has status {str(status)[:20]!r}, not firing or resolved")
    ends_at = parse_time(raw.get("endsAt"))
    if ends_at is not None and ends_at.year <= 1:
        ends_at = None  # current Alertmanager sends 0001-01-01T00:00:00Z on firing alerts
    return AlertmanagerAlert(
        status=str(status),
        labels=labels,
        annotations=_labels(raw.get("annotations")),
        starts_at=parse_time(raw.get("startsAt")),
        ends_at=ends_at,
        generator_url=_opt_str(raw, "generatorURL"),
        fingerprint=_opt_str(raw, "fingerprint"),
    )


def _labels(raw: Any) -> Mapping[str, str]:
    if not isinstance(raw, dict):
        return {}
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}


# ---------------------------------------------------------------------------------------------------------------
# Small typed readers: a wrong type is either ignored (optional fields) or a one-line refusal (required ones)

_FRACTION = re.compile(r"(\.\d{6})\d+")
_OFFSET_NO_COLON = re.compile(r"([+-]\d{2})(\d{2})$")
_UTC_SUFFIX = re.compile(r"\s*(?:Z|UTC|GMT)$", re.I)
_EPOCH = re.compile(r"\d{9,13}(?:\.\d{1,9})?")
_MAX_TIME_TEXT = 64  # the longest real timestamp is about 35 characters


def parse_time(raw: Any) -> datetime | None:
    """A time in any unambiguous form, None when unreadable: ISO 8601 as CloudWatch (`...640+0000`) and Go
    (`...283995108+01:00`, `Z`) write it, with a space or ` UTC`, RFC 1123 (`Wed, 10 Nov 2021 02:45:55 GMT`), and
    Unix seconds or milliseconds (9 to 13 digits). A time without an offset is UTC."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return _from_epoch(raw)
    if not isinstance(raw, str) or not raw or len(raw) > _MAX_TIME_TEXT:
        return None
    text = raw.strip()
    if _EPOCH.fullmatch(text):
        return _from_epoch(float(text))
    if text[:1].isalpha():
        return _from_rfc1123(text)
    text = _UTC_SUFFIX.sub("+00:00", text)
    text = _FRACTION.sub(r"\1", text)
    text = _OFFSET_NO_COLON.sub(r"\1:\2", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return _in_range(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def _from_epoch(raw: float) -> datetime | None:
    try:
        seconds = float(raw)  # an int of 400 digits overflows here, not in isfinite
    except OverflowError:
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    if seconds >= 1e11:  # milliseconds: 1e11 seconds is the year 5138
        seconds /= 1000
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _from_rfc1123(text: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(text)
    except (ValueError, TypeError, IndexError):
        return None
    return _in_range(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def _in_range(parsed: datetime) -> datetime | None:
    """The time, or None when it cannot be compared or converted to UTC (`9999-12-31T23:59:59-23:59`)."""
    try:
        parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return parsed


def _mapping(body: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = body.get(key)
    if not isinstance(value, dict):
        raise MalformedInput(f"event has no {key} object")
    return value


def _list(body: Mapping[str, Any] | None, key: str) -> list[Any]:
    value = body.get(key) if isinstance(body, dict) else None
    return value if isinstance(value, list) else []


def _required_str(body: Mapping[str, Any], key: str) -> str:
    """A required text field; a number is read as its text (`404`), anything else is refused."""
    value = _opt_str(body, key)
    if not value:
        raise MalformedInput(f"{key} is missing or empty")
    return value


def _opt_str(body: Mapping[str, Any] | None, key: str) -> str | None:
    return read_str(body.get(key) if isinstance(body, dict) else None)


def read_str(value: Any) -> str | None:
    """A string field as every source is read: a string, a number as its text, else absent. The endpoint keys
    what it cuts with it, so its keys and the forwarders' are made alike."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


_MAX_INT = 10**9  # counts and periods beyond this are nonsense; they would also print as pages of digits
_INT = re.compile(r"-?[0-9]{1,10}")


def _opt_int(raw: Any) -> int | None:
    """An integer field, or None when it is absent or not a plausible integer ("--1", "²", 5,000 digits, 1e300)."""
    value: int | None = None
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, float) and raw.is_integer() and abs(raw) < _MAX_INT:
        value = int(raw)
    elif isinstance(raw, str) and _INT.fullmatch(raw.strip()):
        value = int(raw.strip())
    return value if value is not None and abs(value) < _MAX_INT else None


def _opt_float(raw: Any) -> float | None:
    if isinstance(raw, bool):
        return None
    try:
        value = float(raw) if isinstance(raw, int | float | str) else None
    except (ValueError, OverflowError):
        return None
    return value if value is not None and math.isfinite(value) else None
