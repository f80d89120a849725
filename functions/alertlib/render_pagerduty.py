"""Render: an `AlertGroup` as PagerDuty Events API v2 bodies (PROTOCOLS.md 2.1). Pure and deterministic.

The routing key is added by `deliver`, so what this returns can be shown (tools.preview) and snapshot-tested.
"""

from __future__ import annotations

import hashlib
from typing import Any

from alertlib.models import Alert, AlertGroup, LinkKind, Source, Status
from alertlib.text import encode_json, one_line, truncate

MAX_SUMMARY = 1024
MAX_EVENT_BYTES = 512 * 1024
MAX_DEDUP_KEY = 255
MAX_SOURCE = 255
MAX_DETAIL_VALUE = 2000
MAX_DETAIL_ALERTS = 100
MAX_LINKS = 10
CLIENT = "Alert forwarding for AWS"
_LINK_ORDER = (LinkKind.RUNBOOK, LinkKind.DASHBOARD, LinkKind.CONSOLE, LinkKind.SILENCE, LinkKind.GENERATOR)
_STATE_WORD = {Status.FIRING: "ALARM", Status.RESOLVED: "OK", Status.INSUFFICIENT_DATA: "INSUFFICIENT_DATA"}


def render_pagerduty(
    group: AlertGroup, *, per_alert: bool = False, insufficient_data: str = "info"
) -> list[dict[str, Any]]:
    """One event for the group (Alertmanager's own behaviour), or one per alert when `per_alert`.

    INSUFFICIENT_DATA has a PagerDuty alert of its own (`<key>#insufficient-data`): a trigger on the alarm's own
    key would be deduplicated into an open alert, and a later ALARM would be swallowed by a low-urgency one.
    Leaving INSUFFICIENT_DATA resolves that alert."""
    if per_alert and group.source is Source.ALERTMANAGER:  # the same key whether an alert is alone or not
        return [_event_for_alert(group, alert) for alert in group.alerts]
    if group.status is Status.INSUFFICIENT_DATA:
        return [_fit(_trigger(group, insufficient_key(group.dedup_key), group.alerts))]
    events = (
        [_resolve(group.dedup_key)]
        if group.status is Status.RESOLVED
        else [_fit(_trigger(group, group.dedup_key, group.alerts))]
    )
    left_insufficient = any(a.previous is Status.INSUFFICIENT_DATA for a in group.alerts)
    if left_insufficient and insufficient_data != "ignore":
        events.append(_resolve(insufficient_key(group.dedup_key)))
    return events


def insufficient_key(dedup_key: str) -> str:
    key = f"{dedup_key}#insufficient-data"
    if len(key) <= MAX_DEDUP_KEY:
        return key
    return "insufficient-data:" + hashlib.sha256(dedup_key.encode("utf-8", "surrogatepass")).hexdigest()


def _event_for_alert(group: AlertGroup, alert: Alert) -> dict[str, Any]:
    key = hashlib.sha256(f"{group.key}\x00{alert.id}".encode("utf-8", "surrogatepass")).hexdigest()
    if alert.status is Status.RESOLVED:
        return _resolve(key)
    return _fit(_trigger(group, key, (alert,)))


def _resolve(dedup_key: str) -> dict[str, Any]:
    return {"event_action": "resolve", "dedup_key": dedup_key[:MAX_DEDUP_KEY]}


def _trigger(group: AlertGroup, dedup_key: str, alerts: tuple[Alert, ...]) -> dict[str, Any]:
    firing = [a for a in alerts if a.status is not Status.RESOLVED] or list(alerts)
    first = firing[0]
    severity = max((a.severity for a in firing), key=lambda s: s.rank)
    event: dict[str, Any] = {
        "event_action": "trigger",
        "dedup_key": dedup_key[:MAX_DEDUP_KEY],
        "payload": {
            "summary": truncate(_summary(group, alerts, firing), MAX_SUMMARY, what="PagerDuty summary"),
            "source": truncate(one_line(_source(group, first)) or "unknown", MAX_SOURCE, what="PagerDuty source"),
            "severity": severity.value,
            "component": truncate(_component(first), MAX_SOURCE),
            "group": truncate(_group(group, first), MAX_SOURCE),
            "class": truncate(_class(first), MAX_SOURCE),
            "custom_details": _details(group, alerts),
        },
        "client": CLIENT if group.source is not Source.ALERTMANAGER else "Alertmanager",
        "links": _links(group, first),
    }
    timestamp = first.starts_at
    if timestamp is not None and timestamp.year > 1:
        event["payload"]["timestamp"] = timestamp.isoformat()
    client_url = _client_url(group, first)
    if client_url:
        event["client_url"] = client_url
    for key in ("component", "group", "class"):
        if not event["payload"][key]:
            del event["payload"][key]
    return event


def _summary(group: AlertGroup, alerts: tuple[Alert, ...], firing: list[Alert]) -> str:
    first = firing[0]
    prefix = "[DRILL] " if any(a.drill for a in alerts) else ""
    if group.source is Source.ALERTMANAGER:
        counts = f"[FIRING:{len(firing)}]" if first.status is not Status.RESOLVED else "[RESOLVED]"
        more = f" (+{len(firing) - 1} more)" if len(firing) > 1 else ""
        text = f"{prefix}{counts} {first.title}: {first.summary}{more}"
    else:
        where = " ".join(p for p in (first.account, first.region) if p)
        text = f"{prefix}{_STATE_WORD[first.status]}: {first.title}"
        if first.summary:
            text += f": {first.summary}"
        if where:
            text += f" [{where}]"
    return one_line(text) or first.title or "alert"


def _source(group: AlertGroup, alert: Alert) -> str:
    if group.source is Source.ALERTMANAGER:
        labels = alert.labels
        for name in ("instance", "pod", "host", "service", "job"):
            if labels.get(name):
                return labels[name]
        return group.receiver or "alertmanager"
    if alert.metric and alert.metric.dimensions:
        return "/".join(value for _, value in alert.metric.dimensions)
    return alert.title


def _component(alert: Alert) -> str:
    if alert.metric and alert.metric.namespace:
        return alert.metric.namespace
    return alert.labels.get("service") or alert.labels.get("job") or ""


def _group(group: AlertGroup, alert: Alert) -> str:
    if group.source is Source.ALERTMANAGER:
        return alert.labels.get("cluster") or alert.labels.get("namespace") or group.receiver or ""
    return "/".join(p for p in (alert.account, alert.region) if p)


def _class(alert: Alert) -> str:
    if alert.metric and alert.metric.name:
        return alert.metric.name
    return alert.labels.get("alertname") or ""


def _details(group: AlertGroup, alerts: tuple[Alert, ...]) -> dict[str, Any]:
    first = alerts[0]
    details: dict[str, Any] = {}
    if group.source is Source.ALERTMANAGER:
        details["firing"] = sum(1 for a in alerts if a.status is Status.FIRING)
        details["resolved"] = sum(1 for a in alerts if a.status is Status.RESOLVED)
        if group.truncated_alerts:
            details["truncated_alerts"] = group.truncated_alerts
        if group.receiver:
            details["receiver"] = _clip(group.receiver)
        details["group_labels"] = _clip_map(group.group_labels)
        details["common_labels"] = _clip_map(group.common_labels)
        details["alerts"] = [
            {
                "status": a.status.value,
                "summary": _clip(a.summary),
                "description": _clip(a.description),
                "labels": _clip_map(a.labels),
                "starts_at": a.starts_at.isoformat() if a.starts_at else None,
                "ends_at": a.ends_at.isoformat() if a.ends_at else None,
            }
            for a in alerts[:MAX_DETAIL_ALERTS]
        ]
        if len(alerts) > MAX_DETAIL_ALERTS:
            details["alerts_not_listed"] = len(alerts) - MAX_DETAIL_ALERTS
    else:
        details["alarm"] = _clip(first.title)
        details["state"] = _STATE_WORD[first.status]
        details["reason"] = _clip(first.reason)
        if first.description:
            details["description"] = _clip(first.description)
        if first.metric is not None:
            details["metric"] = _clip(first.metric.describe())
            threshold = first.metric.describe_threshold()
            if threshold:
                details["threshold"] = _clip(threshold)
            if first.metric.treat_missing_data:
                details["treat_missing_data"] = first.metric.treat_missing_data
        details["account"] = first.account
        details["region"] = first.region
        if first.arn:
            details["alarm_arn"] = _clip(first.arn)
        if first.labels:
            details["tags"] = _clip_map(first.labels)
        if first.status is Status.INSUFFICIENT_DATA:
            details["note"] = "INSUFFICIENT_DATA: the alarm has no data to evaluate; never a critical page"
    if group.drill:
        details["drill"] = True
    details["message_id"] = group.message_id
    return details


def _links(group: AlertGroup, alert: Alert) -> list[dict[str, str]]:
    links: list[dict[str, str]] = []
    for kind in _LINK_ORDER:
        link = alert.link(kind) or group.link(kind)
        if link is not None:
            links.append({"href": link.url, "text": link.text})
    return links[:MAX_LINKS]


def _client_url(group: AlertGroup, alert: Alert) -> str | None:
    if group.source is Source.ALERTMANAGER:
        return group.external_url
    console = alert.link(LinkKind.CONSOLE)
    return console.url if console else None


def _clip(text: str | None) -> str:
    return truncate(text or "", MAX_DETAIL_VALUE, what="PagerDuty detail")


def _clip_map(values: Any) -> dict[str, str]:
    return {truncate(str(k), 200): _clip(str(v)) for k, v in list(values.items())[:100]}


def _fit(event: dict[str, Any]) -> dict[str, Any]:
    """Keep the whole event under PagerDuty's 512 KB: fewer alerts listed, then only the counts."""
    while _size(event) > MAX_EVENT_BYTES:
        details = event["payload"]["custom_details"]
        alerts = details.get("alerts")
        if isinstance(alerts, list) and alerts:
            keep = len(alerts) // 2
            details["alerts_not_listed"] = details.get("alerts_not_listed", 0) + len(alerts) - keep
            details["alerts"] = alerts[:keep]
            continue
        slim = {k: v for k, v in details.items() if not isinstance(v, dict | list)}
        slim = {k: truncate(v, 200) if isinstance(v, str) else v for k, v in slim.items()}
        slim["note"] = "details cut to fit PagerDuty's 512 KB event limit"
        event["payload"]["custom_details"] = slim
        if _size(event) > MAX_EVENT_BYTES:  # cannot happen with the field limits above; never send oversize
            event["payload"]["custom_details"] = {"note": slim["note"]}
        break
    return event


def _size(event: dict[str, Any]) -> int:
    # The routing key (32 characters) is added later; leave room for it.
    return len(encode_json(event)) + 64
