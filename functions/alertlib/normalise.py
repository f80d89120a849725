"""Normalise: any parsed message becomes one frozen `AlertGroup`. Pure: no I/O, the clock passed in."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import quote

from alertlib.errors import NotAStateChange
from alertlib.models import Alert, AlertGroup, Link, LinkKind, Metric, Severity, Source, Status
from alertlib.parse import (
    AlarmNotification,
    AlarmStateChange,
    AlertmanagerAlert,
    AlertmanagerMessage,
    Envelope,
    Message,
    MetricQuery,
    Trigger,
)
from alertlib.regions import partition_of
from alertlib.settings import Settings
from alertlib.severity import parse_severity
from alertlib.slo import recognise
from alertlib.text import alarm_names, short_line
from alertlib.units import REASON_COMPARISONS, describe_reading, is_band, plain_numbers

MAX_DEDUP_KEY = 255
_STATUS = {"ALARM": Status.FIRING, "OK": Status.RESOLVED, "INSUFFICIENT_DATA": Status.INSUFFICIENT_DATA}
_ARN = re.compile(
    r"^arn:(?P<partition>[\w-]+):(?P<service>[\w-]+):(?P<region>[\w-]*):(?P<account>\d*):(?P<rest>.*)$", re.S
)
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_LINK_LINE = re.compile(
    r"^[ \t>*-]*(?P<kind>runbook|runbook[_ ]url|playbook|dashboard|dashboard[_ ]url)[ \t]*[:=][ \t]*"
    r"<?(?P<url>https?://[^\s>|]+)>?[ \t]*$",
    re.I | re.M,
)
_LINK_TAGS = {
    LinkKind.RUNBOOK: ("runbook", "runbook_url", "runbook-url", "playbook"),
    LinkKind.DASHBOARD: ("dashboard", "dashboard_url", "dashboard-url"),
}
_LINK_TEXT = {
    LinkKind.RUNBOOK: "Runbook",
    LinkKind.DASHBOARD: "Dashboard",
    LinkKind.CONSOLE: "AWS console",
    LinkKind.GENERATOR: "Prometheus graph",
    LinkKind.SILENCE: "Silence",
    LinkKind.ALERTMANAGER: "Open in Alertmanager",
}
_CONSOLE_HOSTS = {"aws-us-gov": "https://console.amazonaws-us-gov.com", "aws-cn": "https://console.amazonaws.cn"}


def normalise(message: Message, envelope: Envelope, settings: Settings, now: datetime) -> AlertGroup:
    """The normal form of one message. Raises `NotAStateChange` for a state the settings ignore."""
    route_severity = settings.route_for(envelope.topic_arn).severity
    if isinstance(message, AlertmanagerMessage):
        group = _from_alertmanager(message, envelope, route_severity, now)
        return _named(group, settings)
    if isinstance(message, AlarmNotification):
        alert = _from_notification(message, route_severity)
    else:
        alert = _from_state_change(message, route_severity)
    alert = _apply_insufficient_data(alert, settings.insufficient_data)
    group = AlertGroup(
        key=alert.arn or alert.id,
        dedup_key=alert.id,
        source=alert.source,
        status=alert.status,
        severity=alert.severity,
        title=alert.title,
        alerts=(alert,),
        message_id=envelope.message_id,
    )
    return _named(group, settings)


def _named(group: AlertGroup, settings: Settings) -> AlertGroup:
    """The environment and each account's alias, for messages to name instead of 12-digit numbers."""
    aliases = settings.account_aliases
    alerts = group.alerts
    if aliases and any(a.account in aliases for a in alerts):
        alerts = tuple(replace(a, account_name=aliases.get(a.account or "")) if a.account in aliases else a
                       for a in alerts)  # fmt: skip
    if alerts is group.alerts and settings.environment_name is None:
        return group
    return replace(group, alerts=alerts, environment=settings.environment_name)


# ---------------------------------------------------------------------------------------------------------------
# CloudWatch


def _from_notification(message: AlarmNotification, route_severity: Severity) -> Alert:
    arn = _parse_arn(message.arn)
    region = arn.get("region") or message.region or None
    partition = arn.get("partition") or (partition_of(region) if region else None)
    status = _STATUS[message.new_state]
    metric = _trigger_metric(message.trigger) if message.trigger else None
    if metric is not None:
        metric = _with_reading(metric, message.reason, {})
    description, links = _split_description(message.description)
    slo = recognise(message.description)
    description = _without_slo_line(description) if slo else description
    links += _tag_links(message.tags)
    severity = parse_severity(message.tags.get("severity") or message.tags.get("Severity")) or route_severity
    children = [arn for arn, state in message.triggering_children if arn and state.upper() != "OK"]
    children = children or [arn for arn, _ in message.triggering_children if arn]
    summary = _alarm_summary(metric, status, message.alarm_rule, children, message.changed_at)
    return Alert(
        id=alarm_key(message.arn or _key_without_arn(message)),
        source=Source.CLOUDWATCH,
        status=status,
        severity=severity,
        title=message.name,
        summary=summary,
        description=description,
        reason=message.reason,
        account=message.account or arn.get("account") or None,
        region=region,
        partition=partition,
        labels=dict(message.tags),
        links=_dedupe_links([*links, *_console_link(region or "", partition or "", message.name)]),
        starts_at=message.changed_at if status is not Status.RESOLVED else None,
        ends_at=message.changed_at if status is Status.RESOLVED else None,
        metric=metric,
        arn=message.arn or None,
        drill=message.reason.lstrip().upper().startswith("DRILL"),
        previous=_STATUS.get(message.old_state or ""),
        slo=slo,
    )


def _from_state_change(message: AlarmStateChange, route_severity: Severity) -> Alert:
    arn = _parse_arn(message.arn)
    state = message.state
    status = _STATUS[state.value]
    metric = _queries_metric(message.queries, None)
    if metric is not None:
        statistic = state.reason_data.get("statistic")
        metric = replace(
            metric,
            statistic=metric.statistic or (statistic if isinstance(statistic, str) else None),
            threshold=_finite(state.reason_data.get("threshold")),
            comparison=_reason_comparison(state.reason),
        )
        metric = _with_reading(metric, state.reason, state.reason_data)
    description, links = _split_description(message.description)
    slo = recognise(message.description)
    description = _without_slo_line(description) if slo else description
    children = _triggering_alarms(state.reason_data)
    summary = _alarm_summary(metric, status, message.alarm_rule, children, state.timestamp)
    started = state.timestamp
    if status is Status.RESOLVED and message.previous is not None and message.previous.value != "OK":
        started = message.previous.timestamp
    severity = route_severity
    suppression = short_line(state.actions_suppressed_by or "", MAX_SUPPRESSION) or None
    suppressed_by = None
    if suppression:
        # CloudWatch itself runs no actions while suppressed (maintenance): the renderers say so and name the
        # suppressor, PagerDuty gets no trigger, and it is information, not an incident.
        suppressed_by = alarm_name(message.actions_suppressor or "") or None
        severity = Severity.INFO
    return Alert(
        id=alarm_key(message.arn),
        source=Source.EVENTBRIDGE if message.via_eventbridge else Source.CLOUDWATCH_LAMBDA,
        status=status,
        severity=severity,
        title=message.name,
        summary=summary,
        description=description,
        reason=state.reason,
        account=message.account or arn.get("account") or None,
        region=arn.get("region") or message.region or None,
        partition=arn.get("partition") or None,
        links=_dedupe_links([*links, *_console_link(arn.get("region", ""), arn.get("partition", ""), message.name)]),
        starts_at=started,
        ends_at=state.timestamp if status is Status.RESOLVED else None,
        metric=metric,
        arn=message.arn,
        drill=state.reason.lstrip().upper().startswith("DRILL"),
        previous=_STATUS.get(message.previous.value) if message.previous else None,
        suppressed_by=suppressed_by,
        suppression=suppression,
        slo=slo,
    )


MAX_SUPPRESSION = 64  # ActionsSuppressedBy is ALARM, WaitPeriod or ExtensionPeriod
MAX_ALARM_NAME = 255  # CloudWatch's limit on an alarm name


def alarm_name(name_or_arn: str) -> str:
    """`ServiceMaintenanceAlarm` from its ARN or from itself: one line of at most 255 characters."""
    name = name_or_arn.rsplit(":alarm:", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn
    return short_line(name, MAX_ALARM_NAME)


def _apply_insufficient_data(alert: Alert, mode: str) -> Alert:
    if alert.status is not Status.INSUFFICIENT_DATA:
        return alert
    if mode == "ignore":
        raise NotAStateChange(f"INSUFFICIENT_DATA of {alert.title[:80]!r} ignored (INSUFFICIENT_DATA=ignore)")
    if mode == "info":
        severity = Severity.INFO
    else:  # "alarm": an alarm, but never a critical incident
        severity = Severity.ERROR if alert.severity is Severity.CRITICAL else alert.severity
    return replace(alert, severity=severity)


def _trigger_metric(trigger: Trigger) -> Metric | None:
    base = trigger.metric
    if base is None:
        return _queries_metric(trigger.queries, trigger) if trigger.queries else _bare_metric(trigger)
    return Metric(
        namespace=base.namespace,
        name=base.name,
        dimensions=base.dimensions,
        statistic=base.stat,
        period=base.period,
        threshold=trigger.threshold,
        comparison=trigger.comparison,
        unit=base.unit,
        evaluation_periods=trigger.evaluation_periods,
        datapoints_to_alarm=trigger.datapoints_to_alarm,
        treat_missing_data=trigger.treat_missing_data,
    )


def _bare_metric(trigger: Trigger) -> Metric:
    return Metric(
        threshold=trigger.threshold,
        comparison=trigger.comparison,
        evaluation_periods=trigger.evaluation_periods,
        datapoints_to_alarm=trigger.datapoints_to_alarm,
        treat_missing_data=trigger.treat_missing_data,
    )


def _queries_metric(queries: tuple[MetricQuery, ...], trigger: Trigger | None) -> Metric | None:
    """Metric math and anomaly detection: the expression that returns data, over every metric it reads (an anomaly
    band: the metric it watches)."""
    if not queries:
        return None
    stats = [q for q in queries if q.name or q.namespace]
    band = next(
        (q for q in queries if trigger and trigger.threshold_metric_id and q.id == trigger.threshold_metric_id), None
    ) or next((q for q in queries if (q.expression or "").lstrip().upper().startswith(_BAND)), None)
    returned = next((q for q in queries if q.return_data and q.expression and q is not band), None)
    expression = band.expression if band else (returned.expression if returned else None)
    if returned and returned.label and expression and band is None:
        expression = f"{expression} ({returned.label})"
    first = stats[0] if stats else None
    if len(queries) == 1 and first is not None:
        expression = None
    inputs: tuple[str, ...] = ()
    if expression and band is None:
        inputs = tuple(short_line(_describe_query(q), MAX_INPUT) for q in stats[:MAX_INPUTS])
        if len(stats) > MAX_INPUTS:
            inputs += (f"and {len(stats) - MAX_INPUTS} more",)
    return Metric(
        namespace=first.namespace if first else None,
        name=first.name if first else (returned.label if returned else None),
        dimensions=first.dimensions if first else (),
        statistic=first.stat if first else None,
        period=first.period if first else None,
        threshold=trigger.threshold if trigger else None,
        comparison=trigger.comparison if trigger else None,
        expression=expression,
        unit=first.unit if first else None,
        evaluation_periods=trigger.evaluation_periods if trigger else None,
        datapoints_to_alarm=trigger.datapoints_to_alarm if trigger else None,
        treat_missing_data=trigger.treat_missing_data if trigger else None,
        inputs=inputs,
    )


_BAND = "ANOMALY_DETECTION_BAND"
MAX_INPUTS = 10  # CloudWatch allows 10 metrics in an alarm's metric math
MAX_INPUT = 300


def _describe_query(query: MetricQuery) -> str:
    """`m1: AWS/EC2 NetworkOut (InstanceId=i-1) Average/60s`."""
    metric = Metric(
        namespace=query.namespace, name=query.name, dimensions=query.dimensions, statistic=query.stat,
        period=query.period,
    )  # fmt: skip
    return f"{query.id}: {metric.describe()}" if query.id else metric.describe()


# What CloudWatch's reasons say: `... datapoints [97.5 (22/11/26 02:55:00), ...] were greater than the threshold
# (90.0)`, `... was less than the lower thresholds [0.02] or greater than the upper thresholds [0.30]`.
_NUMBER = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_REASON_VALUE = re.compile(r"\[(?P<value>" + _NUMBER + r") \(")
_REASON_LOWER = re.compile(r"lower thresholds? \[(?P<value>" + _NUMBER + r")")
_REASON_UPPER = re.compile(r"upper thresholds? \[(?P<value>" + _NUMBER + r")")
_REASON_COMPARISON = re.compile(
    r"\b(?:was|were) (?:not )?(?P<words>greater than or equal to|less than or equal to|greater than|less than) "
    r"the threshold\b"
)
_MAX_REASON_SCAN = 2000  # the numbers are in the reason's first sentence; a long reason is not scanned past this


def _reason_comparison(reason: str) -> str | None:
    """The comparison operator a reason spells out (EventBridge events carry no `ComparisonOperator`)."""
    match = _REASON_COMPARISON.search(reason[:_MAX_REASON_SCAN])
    if not match:
        return None
    return dict(REASON_COMPARISONS).get(match.group("words"))


def _with_reading(metric: Metric, reason: str, reason_data: Mapping[str, object]) -> Metric:
    """The value seen and an anomaly band, from the reason (else from EventBridge's reasonData)."""
    head = reason[:_MAX_REASON_SCAN]
    value = _reason_number(_REASON_VALUE, head)
    if value is None:
        value = _last_number(reason_data.get("recentDatapoints"))
    lower = _reason_number(_REASON_LOWER, head)
    upper = _reason_number(_REASON_UPPER, head)
    if lower is None:
        lower = _last_number(reason_data.get("recentLowerThresholds"))
    if upper is None:
        upper = _last_number(reason_data.get("recentUpperThresholds"))
    band = (lower, upper) if lower is not None or upper is not None else None
    if metric.comparison is None and band is not None:
        metric = replace(metric, comparison=_BAND_COMPARISON[(lower is not None, upper is not None)])
    return replace(metric, value=value, band=band)


_BAND_COMPARISON = {
    (True, True): "LessThanLowerOrGreaterThanUpperThreshold",
    (True, False): "LessThanLowerThreshold",
    (False, True): "GreaterThanUpperThreshold",
}


def _reason_number(pattern: re.Pattern[str], text: str) -> float | None:
    match = pattern.search(text)
    if not match:
        return None
    try:
        number = float(match.group("value"))
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _last_number(values: object) -> float | None:
    if not isinstance(values, list) or not values:
        return None
    return _finite(values[-1])


def _alarm_summary(
    metric: Metric | None, status: Status, alarm_rule: str | None, children: list[str], changed: datetime | None
) -> str:
    """What broke and how badly, in one line that follows the state:
    `CPUUtilization 97.5 % (alarm above 90 %) on orders-db`, `Recovered: CPUUtilization 40 % (alarm above 90 %) on
    orders-db`, `No data for CPUUtilization on orders-db since 2026-11-22 02:55 UTC`, `triggered by ServerCpuTooHigh
    (rule ALARM(ServerCpuTooHigh) OR ALARM(Other))`. Alarms are named, never given by ARN."""
    since = (
        f" since {changed.astimezone(UTC).strftime('%Y-%m-%d %H:%M UTC')}" if changed and _printable(changed) else ""
    )
    if metric is not None and (metric.name or metric.expression):
        what = metric.name if is_band(metric) and metric.name else (metric.expression or metric.name or "")
        where = _where(metric.dimensions)
        if status is Status.INSUFFICIENT_DATA:
            return f"No data for {what}{where}{since}"
        reading = describe_reading(metric)
        line = f"{what} {reading}".strip() + where
        return f"Recovered: {line}" if status is Status.RESOLVED else line
    if alarm_rule is not None or children:
        names = [alarm_name(child) for child in children[:3]]
        more = f" and {len(children) - 3} more" if len(children) > 3 else ""
        rule = f"rule {short_line(alarm_names(alarm_rule), MAX_RULE)}" if alarm_rule else ""
        if status is Status.INSUFFICIENT_DATA:
            return f"No data{since}" + (f" ({rule})" if rule else "")
        if status is Status.RESOLVED:
            return "Recovered" + (f" ({rule})" if rule else "")
        if names:
            return f"triggered by {', '.join(names)}{more}" + (f" ({rule})" if rule else "")
        return rule[:1].upper() + rule[1:]
    if status is Status.INSUFFICIENT_DATA:
        return f"No data{since}"
    return ""


MAX_RULE = 500  # a composite's rule in a summary; the renderers cut further


def _where(dimensions: tuple[tuple[str, str], ...]) -> str:
    """` on orders-db` for one dimension, ` on ClusterName=prod, ServiceName=web` for more."""
    if not dimensions:
        return ""
    if len(dimensions) == 1:
        return f" on {dimensions[0][1]}"
    return " on " + ", ".join(f"{k}={v}" for k, v in dimensions)


def _printable(moment: datetime) -> bool:
    try:
        moment.astimezone(UTC)
    except (OverflowError, ValueError):
        return False
    return True


def _finite(value: object) -> float | None:
    """A JSON number as a finite float; None for anything else (a bool, text, or an int too large for a float)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _triggering_alarms(reason_data: Mapping[str, object]) -> list[str]:
    triggering = reason_data.get("triggeringAlarms")
    if not isinstance(triggering, list):
        return []
    return [str(t.get("arn")) for t in triggering if isinstance(t, Mapping) and t.get("arn")]


def alarm_key(arn: str) -> str:
    """The PagerDuty dedup key of a CloudWatch alarm: its ARN, hashed when too long for PagerDuty."""
    if len(arn) <= MAX_DEDUP_KEY and arn.isascii():
        return arn
    return "cloudwatch:" + hashlib.sha256(arn.encode("utf-8", "surrogatepass")).hexdigest()


def _key_without_arn(message: AlarmNotification) -> str:
    """The identity of an alarm whose ARN is neither sent nor derivable (no account, or a region display name we do
    not know): what is known of it, the same in its ALARM and its OK, never shaped like an ARN."""
    where = message.region or message.region_name or ""
    return f"cloudwatch-alarm:{message.account or ''}:{where}:{message.name}"


def _parse_arn(arn: str) -> dict[str, str]:
    match = _ARN.match(arn)
    return match.groupdict() if match else {}


def _console_link(region: str, partition: str, name: str) -> list[Link]:
    """The alarm's page in the AWS console, on the partition's host; none when the region is not a real one."""
    if not _REGION.match(region) or partition not in ("aws", "aws-us-gov", "aws-cn"):
        return []
    host = _CONSOLE_HOSTS.get(partition, f"https://{region}.console.aws.amazon.com")
    url = f"{host}/cloudwatch/home?region={region}#alarmsV2:alarm/{quote(name, safe='')}"
    return [Link(kind=LinkKind.CONSOLE, url=url, text=_LINK_TEXT[LinkKind.CONSOLE])]


def _split_description(description: str | None) -> tuple[str, list[Link]]:
    """Take `runbook: <url>` and `dashboard: <url>` lines out of an alarm description as links."""
    if not description:
        return "", []
    links: list[Link] = []
    for match in _LINK_LINE.finditer(description):
        kind = (
            LinkKind.RUNBOOK if match.group("kind").lower().startswith(("runbook", "playbook")) else LinkKind.DASHBOARD
        )
        links.append(Link(kind=kind, url=match.group("url"), text=_LINK_TEXT[kind]))
    remaining = _LINK_LINE.sub("", description).strip()
    return re.sub(r"\n{3,}", "\n\n", remaining), links


_SLO_LINE = re.compile(r"^[ \t>*-]*slo:[ \t]+[^\r\n]*(?:\r?\n|$)", re.M)  # as `slo.py` reads it


def _without_slo_line(description: str) -> str:
    """The description shown: without the machine-readable `slo:` line (the renderers show the SLO itself)."""
    return _SLO_LINE.sub("", description, count=1).strip()


def _tag_links(tags: Mapping[str, str]) -> list[Link]:
    lowered = {k.lower(): v for k, v in tags.items()}
    return [
        Link(kind=kind, url=lowered[name], text=_LINK_TEXT[kind])
        for kind, names in _LINK_TAGS.items()
        for name in names
        if _is_http(lowered.get(name))
    ]


_HTTP_URL = re.compile(r"https?://\S+")


def _is_http(url: object) -> bool:
    return isinstance(url, str) and _HTTP_URL.fullmatch(url) is not None


def _dedupe_links(links: Iterable[Link]) -> tuple[Link, ...]:
    """One link of each kind, the first found (description before tags), only http(s) URLs."""
    seen: dict[LinkKind, Link] = {}
    for link in links:
        if link.kind not in seen and _is_http(link.url):
            seen[link.kind] = link
    return tuple(seen.values())


# ---------------------------------------------------------------------------------------------------------------
# Alertmanager


def _from_alertmanager(
    message: AlertmanagerMessage, envelope: Envelope, route_severity: Severity, now: datetime
) -> AlertGroup:
    del now  # times come from Alertmanager; kept in the signature so every source is normalised alike
    key = message.group_key or _synthetic_group_key(message)
    alerts = tuple(_alertmanager_alert(alert, message, route_severity) for alert in message.alerts)
    firing = [a for a in alerts if a.status is Status.FIRING]
    # A group is firing while any of its alerts is; a part of a split group keeps the group's status.
    status = Status.FIRING if firing or message.status == "firing" else Status.RESOLVED
    severity = max((a.severity for a in (firing or list(alerts))), key=lambda s: s.rank)
    title = (
        message.group_labels.get("alertname")
        or message.common_labels.get("alertname")
        or (alerts[0].title if len({a.title for a in alerts}) == 1 else f"{len(alerts)} alerts")
    )
    links: list[Link] = []
    silence = silence_url(message.external_url, message.group_labels or message.common_labels)
    if silence:
        links.append(Link(kind=LinkKind.SILENCE, url=silence, text=_LINK_TEXT[LinkKind.SILENCE]))
    page = alerts_url(message.external_url, message.group_labels or message.common_labels)
    if page:
        links.append(Link(kind=LinkKind.ALERTMANAGER, url=page, text=_LINK_TEXT[LinkKind.ALERTMANAGER]))
    return AlertGroup(
        key=key,
        dedup_key=hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest(),
        source=Source.ALERTMANAGER,
        status=status,
        severity=severity,
        title=title,
        alerts=alerts,
        message_id=envelope.message_id,
        receiver=unquote_receiver(message.receiver) if message.receiver else None,
        group_labels=message.group_labels,
        common_labels=message.common_labels,
        common_annotations=message.common_annotations,
        external_url=message.external_url if _is_http(message.external_url) else None,
        truncated_alerts=message.truncated_alerts,
        links=tuple(links),
    )


def _alertmanager_alert(alert: AlertmanagerAlert, message: AlertmanagerMessage, route_severity: Severity) -> Alert:
    labels = alert.labels
    annotations = alert.annotations
    status = Status.FIRING if alert.status == "firing" else Status.RESOLVED
    name = labels.get("alertname") or "alert"
    summary = annotations.get("summary") or annotations.get("message") or annotations.get("title") or ""
    description = annotations.get("description") or ""
    slo = recognise(description, labels, annotations)
    description = _without_slo_line(description) if slo else description
    if not summary:
        summary = description.splitlines()[0] if description else _label_line(labels)
        description = "" if summary == description else description
    summary = plain_numbers(summary)  # `{{ $value }}` writes 45628 as 4.563e+04
    description = plain_numbers(description)  # and in the description too
    links: list[Link] = []
    for kind, names in _LINK_TAGS.items():
        for candidate in names:
            url = annotations.get(candidate) or message.common_annotations.get(candidate)
            if _is_http(url):
                links.append(Link(kind=kind, url=str(url), text=_LINK_TEXT[kind]))
    if _is_http(alert.generator_url):
        links.append(Link(kind=LinkKind.GENERATOR, url=str(alert.generator_url), text=_LINK_TEXT[LinkKind.GENERATOR]))
    return Alert(
        id=alert.fingerprint or fingerprint(labels),
        source=Source.ALERTMANAGER,
        status=status,
        severity=parse_severity(labels.get("severity")) or route_severity,
        title=name,
        summary=summary,
        description=description,
        labels=labels,
        annotations=annotations,
        links=_dedupe_links(links),
        starts_at=alert.starts_at,
        ends_at=alert.ends_at if status is Status.RESOLVED else None,
        account=labels.get("account") or labels.get("aws_account_id"),
        region=labels.get("region") or labels.get("aws_region"),
        drill=labels.get("drill", "").lower() in ("true", "1", "yes"),
        slo=slo,
    )


def _label_line(labels: Mapping[str, str]) -> str:
    shown = [f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname"]
    return ", ".join(shown)


def _synthetic_group_key(message: AlertmanagerMessage) -> str:
    """`{{ toJson . }}` carries no groupKey: a stable one from the receiver and the group labels."""
    labels = message.group_labels or message.common_labels
    return f"{message.receiver or ''}:{label_matchers(labels)}"


def label_matchers(labels: Mapping[str, str]) -> str:
    """`{alertname="Fire",severity="critical"}` with Go-style escaping, sorted by name."""
    body = ",".join(f'{k}="{_go_quote(v)}"' for k, v in sorted(labels.items()))
    return "{" + body + "}"


def _go_quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


MAX_SILENCE_URL = 3000  # Slack's button URL limit


def silence_url(external_url: str | None, labels: Mapping[str, str]) -> str | None:
    """Alertmanager's new-silence page with the group's matchers filled in; the empty form when the matchers
    would make the URL too long to send (a URL is never cut, and fewer matchers would silence more)."""
    if not _is_http(external_url) or not labels:
        return None
    assert external_url is not None
    page = f"{external_url.rstrip('/')}/#/silences/new"
    prefilled = f"{page}?filter={quote(label_matchers(labels), safe='')}"
    return prefilled if len(prefilled) <= MAX_SILENCE_URL else page


def alerts_url(external_url: str | None, labels: Mapping[str, str]) -> str | None:
    """Alertmanager's alerts page filtered to the group (its matchers); the whole page when the filter would make
    the URL too long (a URL is never cut)."""
    if not _is_http(external_url):
        return None
    assert external_url is not None
    page = f"{external_url.rstrip('/')}/#/alerts"
    if not labels:
        return page
    filtered = f"{page}?filter={quote(label_matchers(labels), safe='')}"
    return filtered if len(filtered) <= MAX_SILENCE_URL else page


def unquote_receiver(receiver: str) -> str:
    """Alertmanager regex-quotes the receiver name (`web\\.hook`); show it as configured."""
    return re.sub(r"\\(.)", r"\1", receiver)


def fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's own fingerprint of a label set (FNV-1a 64 over sorted names and values), for old senders."""
    hash_value = 0xCBF29CE484222325
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode("utf-8", "surrogatepass") + b"\xff":
                hash_value ^= byte
                hash_value = (hash_value * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{hash_value:016x}"
