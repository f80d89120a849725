"""Render: an `AlertGroup` as PagerDuty Events API v2 bodies (PROTOCOLS.md 2.1). Pure and deterministic.

The routing key is added by `deliver`, so what this returns can be shown (tools.preview) and snapshot-tested.
Every field has a bound whatever the input: PagerDuty's documented ones (summary 1024 characters, dedup_key 255,
the whole event 512 KB) and ours where PagerDuty documents none (source, component, group, class and link texts
255 characters, URLs 8 KB, ten links). Then the event is fitted to 512 KB as sent, keeping the most useful:
summary, severity, source and dedup_key are never dropped; links and client_url are kept whole or left out, never
cut; custom_details take the room that is left, their largest parts cut first and marked.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alertlib.models import Alert, AlertGroup, Link, LinkKind, Metric, Severity, Slo, Source, Status
from alertlib.text import (
    ELLIPSIS,
    clip_count,
    fit_json,
    format_count,
    json_size,
    one_line,
    safe_url,
    service_name,
    short_line,
    truncate,
)
from alertlib.units import format_number, format_value, metric_unit

MAX_SUMMARY = 1024
MAX_EVENT_BYTES = 512 * 1024  # PagerDuty's limit as the stand-in reads it (KiB)
EVENT_BUDGET = 512_000  # what the renderer aims at, with the routing key: within 512 KB whichever K is meant
MAX_DEDUP_KEY = 255
MAX_SOURCE = 255
MAX_DETAIL_VALUE = 2000
MAX_DETAIL_ALERTS = 20  # alerts of a group listed in custom_details; the rest are counted (issue 13)
MAX_ALERT_TEXT = 300  # an alert's summary or description when it is one of many
MAX_DETAIL_LABELS = 100  # labels read per alert
MAX_RANGE_LABELS = 20  # labels whose values are summed up for the alerts not listed
MAX_LINKS = 10
MAX_HREF = 8192  # PagerDuty documents no URL limit; common web servers refuse a longer request line
MAX_LINK_TEXT = 255
MAX_PLACE = 64  # an account's alias (the config allows 40) or number, a region
_ROUTING_KEY_ROOM = 64  # `"routing_key":"<32 characters>",` is added by `deliver`
_MIN_DETAILS = 1024  # bytes of custom_details that links and client_url never take
CUT_NOTE = "details cut to fit PagerDuty's 512 KB event limit"
CLIENT = "Alert forwarding for AWS"
_LINK_ORDER = (LinkKind.RUNBOOK, LinkKind.DASHBOARD, LinkKind.CONSOLE, LinkKind.SILENCE, LinkKind.GENERATOR)
_STATE_WORD = {Status.FIRING: "ALARM", Status.RESOLVED: "OK", Status.INSUFFICIENT_DATA: "INSUFFICIENT_DATA"}


def render_pagerduty(
    group: AlertGroup,
    *,
    per_alert: bool = False,
    insufficient_data: str = "info",
) -> list[dict[str, Any]]:
    """One event for the group (Alertmanager's own behaviour), or one per alert when `per_alert`.

    INSUFFICIENT_DATA has a PagerDuty alert of its own (`<key>#insufficient-data`): a trigger on the alarm's own
    key would be deduplicated into an open alert, and a later ALARM would be swallowed by a low-urgency one.
    Leaving INSUFFICIENT_DATA resolves that alert.

    A state whose actions CloudWatch suppressed (a composite alarm during its suppressor's ALARM, wait or extension
    period) triggers nothing, as CloudWatch itself runs no action for it; its resolves still go (see `suppressed`)."""
    events = _events(group, per_alert=per_alert, insufficient_data=insufficient_data)
    if suppressed(group):
        return [event for event in events if event["event_action"] != "trigger"]
    return events


def suppressed(group: AlertGroup) -> bool:
    """CloudWatch runs no action for this state of the alarm: a composite alarm whose actions are suppressed
    (`actionsSuppressedBy`: its suppressor is in ALARM, or in the wait or extension period). Such a state never
    pages. A resolve is never suppressed: it can only close what an earlier, unsuppressed state opened (PagerDuty
    ignores the resolve of a key it does not know), and an incident left open is worse than a resolve too many."""
    return group.status is not Status.RESOLVED and any(alert.suppression for alert in group.alerts)


def _events(group: AlertGroup, *, per_alert: bool, insufficient_data: str) -> list[dict[str, Any]]:
    shared = _Shared.of(group)  # what every event of the group reads, found once: linear in the alerts
    if per_alert and group.source is Source.ALERTMANAGER:  # the same key whether an alert is alone or not
        return [_event_for_alert(group, alert, shared) for alert in group.alerts]
    if group.status is Status.INSUFFICIENT_DATA:
        return [_fit(_trigger(group, insufficient_key(group.dedup_key), group.alerts, shared))]
    events = (
        [_resolve(group.dedup_key)]
        if group.status is Status.RESOLVED
        else [_fit(_trigger(group, group.dedup_key, group.alerts, shared))]
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


@dataclass(frozen=True)
class _Shared:
    """The group's links by kind and its drill flag: each a scan of every alert, so read once per render, not once
    per event (1,500 alerts rendered one event each took 11 s when every event scanned the group again)."""

    links: dict[LinkKind, Link | None]
    drill: bool

    @classmethod
    def of(cls, group: AlertGroup) -> _Shared:
        return cls(links={kind: group.link(kind) for kind in LinkKind}, drill=group.drill)


def _account(group: AlertGroup, alert: Alert, *, lock_screen: bool = False) -> str:
    """How the alert's account is named: its alias (`shop-prod`, from the settings' ACCOUNT_ALIASES), else its
    number; the forwarder's environment (`prod`) when the alert names no account. On the lock screen (the summary)
    a 12-digit number is never shown while the environment has a name, as in Slack's push text."""
    if alert.account_name:
        return short_line(alert.account_name, MAX_PLACE)
    if alert.account and not (lock_screen and group.environment):
        return short_line(alert.account, MAX_PLACE)
    return short_line(group.environment or "", MAX_PLACE)


def _where(group: AlertGroup, alert: Alert) -> str:
    """`shop-prod us-east-1`: the account's name and the region, the region left out when the name says it."""
    account = _account(group, alert, lock_screen=True)
    region = short_line(alert.region or "", MAX_PLACE)
    if region and region.lower() not in account.lower():
        return f"{account} {region}" if account else region
    return account


def _event_for_alert(group: AlertGroup, alert: Alert, shared: _Shared) -> dict[str, Any]:
    key = _alert_key(group, alert)
    if alert.status is Status.RESOLVED:
        return _resolve(key)
    return _fit(_trigger(group, key, (alert,), shared))


def _alert_key(group: AlertGroup, alert: Alert) -> str:
    """The dedup key of one Alertmanager alert of a group (`per_alert`, and a storm member)."""
    return hashlib.sha256(f"{group.key}\x00{alert.id}".encode("utf-8", "surrogatepass")).hexdigest()


def _resolve(dedup_key: str) -> dict[str, Any]:
    return {"event_action": "resolve", "dedup_key": _dedup_key(dedup_key)}


def _dedup_key(key: str) -> str:
    """At most 255 characters; hashed, never cut, when longer (two long keys with one prefix stay apart)."""
    if len(key) <= MAX_DEDUP_KEY:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _trigger(group: AlertGroup, dedup_key: str, alerts: tuple[Alert, ...], shared: _Shared) -> dict[str, Any]:
    firing = [a for a in alerts if a.status is not Status.RESOLVED] or list(alerts)
    first = firing[0]
    severity = max((a.severity for a in firing), key=lambda s: s.rank)
    event: dict[str, Any] = {
        "event_action": "trigger",
        "dedup_key": _dedup_key(dedup_key),
        "payload": {
            "summary": truncate(_summary(group, alerts, firing), MAX_SUMMARY, what="PagerDuty summary"),
            "source": truncate(one_line(_source(group, first)) or "unknown", MAX_SOURCE, what="PagerDuty source"),
            "severity": severity.value,
            "component": truncate(_component(first), MAX_SOURCE, what="PagerDuty component"),
            "group": truncate(_group(group, first), MAX_SOURCE, what="PagerDuty group"),
            "class": truncate(_class(first), MAX_SOURCE, what="PagerDuty class"),
            "custom_details": _details(group, alerts, shared),
        },
        "client": CLIENT if group.source is not Source.ALERTMANAGER else "Alertmanager",
        "links": _links(shared, first),
    }
    timestamp = _rfc3339(first.starts_at)
    if timestamp is not None:
        event["payload"]["timestamp"] = timestamp
    client_url = _client_url(group, first)
    if client_url:
        event["client_url"] = client_url
    for key in ("component", "group", "class"):
        if not event["payload"][key]:
            del event["payload"][key]
    return event


def _summary(group: AlertGroup, alerts: tuple[Alert, ...], firing: list[Alert]) -> str:
    """The line a phone's lock screen shows (about 110 characters of it): what broke and where first, then how.

    CloudWatch: `orders-db-FreeStorageSpace (shop-prod us-east-1): 90 GiB (below 100 GiB)`: the alarm's name, the
    environment (the account's alias) and region, then the alert's summary without the metric and the resources
    the name already says; no state word (a trigger is always a problem; INSUFFICIENT_DATA says "no data").
    Alertmanager keeps its own convention (`[FIRING:3] HighLatency (prod): ... (+2 more)`), with the forwarder's
    environment when it has one."""
    first = firing[0]
    prefix = "[DRILL] " if any(a.drill for a in alerts) else ""
    if group.source is Source.ALERTMANAGER:
        counts = f"[FIRING:{len(firing)}]" if first.status is not Status.RESOLVED else "[RESOLVED]"
        more = f" (+{len(firing) - 1} more)" if len(firing) > 1 else ""
        where = f" ({short_line(group.environment, MAX_PLACE)})" if group.environment else ""
        text = f"{prefix}{counts} {first.title}{where}: {first.summary}{more}"
        return one_line(text) or first.title or "alert"
    name = short_line(first.title, MAX_SUMMARY)
    where = _where(group, first)
    detail = _without_repeats(short_line(first.summary, MAX_SUMMARY), name, first.metric)
    if first.status is Status.INSUFFICIENT_DATA and not _says_no_data(detail):
        since = _since(first.starts_at)
        detail = "no data" + (f" since {since}" if since else "") + (f" ({detail})" if detail else "")
    text = prefix + (name or "alarm") + (f" ({where})" if where else "") + (f": {detail}" if detail else "")
    return one_line(text) or "alarm"


def _says_no_data(text: str) -> bool:
    lowered = text.lower()
    return "no data" in lowered or "insufficient" in lowered or "missing data" in lowered


def _since(moment: datetime | None) -> str:
    stamp = _rfc3339(moment)
    return f"{stamp[11:16]} UTC" if stamp else ""


def _without_repeats(detail: str, name: str, metric: Metric | None) -> str:
    """The summary without what the alarm's name already says: the metric's name (`CPUUtilization 97.5 %` under
    `orders-db-CPUUtilization` becomes `97.5 %`, `No data for CPUUtilization since` becomes `No data since`) and
    an `on K=V, ...` clause whose values the name holds (`on orders-db`)."""
    if metric is None or not detail:
        return detail
    lowered = name.lower()
    if metric.name and metric.name.lower() in lowered:
        metric_name = re.escape(metric.name)
        detail = re.sub(rf"^{metric_name}\b\s*(?:[=:]\s*)?", "", detail, count=1, flags=re.IGNORECASE)
        detail = re.sub(rf"^(no data) for {metric_name}\b", r"\1", detail, count=1, flags=re.IGNORECASE)
    values = {v.lower() for _, v in metric.dimensions if v}
    clause = _ON_CLAUSE.search(detail) if values else None
    if clause is not None:
        parts = clause.group("dims").split(", ")
        said = {part for part in parts if (v := part.rpartition("=")[2].strip().lower()) in values and v in lowered}
        if said:
            kept = [part for part in parts if part not in said]
            rest = " on " + ", ".join(kept) if kept else ""
            detail = detail[: clause.start()] + rest + detail[clause.end() :]
    return one_line(detail)


_ON_CLAUSE = re.compile(r" on (?P<dims>[^()]+?)(?= since | \(|$)")


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
    return "/".join(p for p in (_account(group, alert), alert.region) if p)


def _class(alert: Alert) -> str:
    if alert.metric and alert.metric.name:
        return alert.metric.name
    return alert.labels.get("alertname") or ""


def _details(group: AlertGroup, alerts: tuple[Alert, ...], shared: _Shared) -> dict[str, Any]:
    first = alerts[0]
    details: dict[str, Any] = {}
    if group.source is Source.ALERTMANAGER:
        details.update(_alertmanager_details(group, alerts))
    else:
        details["alarm"] = _clip(first.title)
        details["state"] = _STATE_WORD[first.status]
        details["reason"] = _clip(first.reason)
        if first.description:
            details["description"] = _clip(first.description)
        if first.metric is not None:
            details["metric"] = _clip(first.metric.describe())
            if first.metric.value is not None:
                details["value"] = _clip(format_value(first.metric.value, metric_unit(first.metric)))
            threshold = first.metric.describe_threshold()
            if threshold:
                details["threshold"] = _clip(threshold)
            if first.metric.treat_missing_data:
                details["treat_missing_data"] = _clip(first.metric.treat_missing_data)
        if first.account_name:
            details["account_name"] = short_line(first.account_name, MAX_PLACE)
        if group.environment:
            details["environment"] = short_line(group.environment, MAX_PLACE)
        details["account"] = _clip(first.account) or None
        details["region"] = _clip(first.region) or None
        if first.arn:
            details["alarm_arn"] = _clip(first.arn)
        if first.labels:
            details["tags"] = _clip_map(first.labels)
        if first.slo is not None:
            details["slo"] = _slo_detail(first.slo)
        if first.status is Status.INSUFFICIENT_DATA:
            details["note"] = "INSUFFICIENT_DATA: the alarm has no data to evaluate; never a critical page"
    if shared.drill:
        details["drill"] = True
    details["message_id"] = _clip(group.message_id)
    return details


def _alertmanager_details(group: AlertGroup, alerts: tuple[Alert, ...]) -> dict[str, Any]:
    """Counts, the group's labels, what every alert shares (labels and annotations) once, then the first
    `MAX_DETAIL_ALERTS` alerts (firing first, most severe first) with only what sets each apart, and the rest counted,
    with the values their differing labels take (`pod: checkout-0020 … checkout-0299, 280 values`)."""
    details: dict[str, Any] = {
        "firing": sum(1 for a in alerts if a.status is Status.FIRING),
        "resolved": sum(1 for a in alerts if a.status is Status.RESOLVED),
    }
    if group.truncated_alerts:
        details["truncated_alerts"] = clip_count(group.truncated_alerts)
    if group.receiver:
        details["receiver"] = _clip(group.receiver)
    details["group_labels"] = _clip_map(group.group_labels)
    many = len(alerts) > 1
    common = _common(a.labels for a in alerts) if many else {}
    notes = _common(a.annotations for a in alerts) if many else {}
    if many:
        details["common_labels"] = _clip_map(common)
        details["common_annotations"] = _clip_map(notes)
    ordered = sorted(alerts, key=lambda a: (a.status is Status.RESOLVED, -a.severity.rank))
    listed = ordered[:MAX_DETAIL_ALERTS]
    ranked = len({a.severity for a in alerts}) > 1
    details["alerts"] = [_alert_detail(a, common, notes, many=many, ranked=ranked) for a in listed]
    rest = ordered[MAX_DETAIL_ALERTS:]
    if rest:
        details["alerts_not_listed"] = len(rest)
        details["not_listed_labels"] = _value_ranges(rest, common)
    return details


def _alert_detail(
    alert: Alert, common: Mapping[str, str], notes: Mapping[str, str], *, many: bool, ranked: bool
) -> dict[str, Any]:
    """One alert of a group: its status, its severity when the group's alerts differ in it, its summary and
    description unless every alert says the same, the labels that set it apart, when it started (and ended)."""
    limit = MAX_ALERT_TEXT if many else MAX_DETAIL_VALUE
    detail: dict[str, Any] = {"status": alert.status.value}
    if ranked or not many:
        detail["severity"] = alert.severity.value
    if alert.summary and notes.get("summary") != alert.summary:
        detail["summary"] = truncate(alert.summary, limit, what="PagerDuty detail")
    if alert.description and notes.get("description") != alert.description:
        detail["description"] = truncate(alert.description, limit, what="PagerDuty detail")
    detail["labels"] = _clip_map({k: v for k, v in alert.labels.items() if common.get(k) != v})
    if alert.slo is not None:
        detail["slo"] = _slo_detail(alert.slo)
    detail["starts_at"] = _rfc3339(alert.starts_at)
    if alert.status is Status.RESOLVED:
        detail["ends_at"] = _rfc3339(alert.ends_at)
    return detail


def _slo_detail(slo: Slo) -> dict[str, Any]:
    """Which SLO an alert burns, as numbers people read (`99.9 %`, `14.4x`), only what the source said."""
    detail: dict[str, Any] = {"name": short_line(slo.name, MAX_LINK_TEXT)}
    if slo.objective is not None:
        detail["objective"] = f"{format_number(slo.objective, 5)} %"
    if slo.window:
        detail["window"] = short_line(slo.window, 64)
    if slo.burn_rate is not None:
        detail["alerts_at_burn_rate"] = f"{format_number(slo.burn_rate)}x"
    if slo.observed_burn_rate is not None:
        detail["burn_rate"] = f"{format_number(slo.observed_burn_rate)}x"
    if slo.budget_left is not None:
        detail["error_budget_left"] = f"{format_number(slo.budget_left)} %"
    if slo.action:
        detail["action"] = short_line(slo.action, 64)
    return detail


def _common(maps: Any) -> dict[str, str]:
    """The entries every mapping holds with the same value (Alertmanager's commonLabels, computed: it holds for
    the alerts of this event, and a redacted or missing commonLabels cannot make it wrong)."""
    common: dict[str, str] | None = None
    for values in maps:
        if common is None:
            common = dict(itertools.islice(values.items(), MAX_DETAIL_LABELS))
        else:
            common = {k: v for k, v in common.items() if values.get(k) == v}
        if not common:
            return {}
    return common or {}


def _value_ranges(alerts: Sequence[Alert], common: Mapping[str, str]) -> dict[str, str]:
    """For each label that sets the unlisted alerts apart, its first and last value and how many there are:
    `checkout-0020 … checkout-0299 (280 values)`. At most `MAX_RANGE_LABELS` labels; linear in the alerts."""
    seen: dict[str, dict[str, None]] = {}
    for alert in alerts:
        for key, value in itertools.islice(alert.labels.items(), MAX_DETAIL_LABELS):
            if common.get(key) != value and (key in seen or len(seen) < MAX_RANGE_LABELS):
                seen.setdefault(key, {})[value] = None
    ranges: dict[str, str] = {}
    for key, values in seen.items():
        names = list(values)
        first, last = short_line(names[0], 100), short_line(names[-1], 100)
        text = first if len(names) == 1 else f"{first} {ELLIPSIS} {last} ({format_count(len(names))} values)"
        ranges[truncate(str(key), 200)] = text
    return ranges


def _links(shared: _Shared, alert: Alert) -> list[dict[str, str]]:
    """The most useful first (a runbook before a graph); a URL too long or not http(s) is left out."""
    links: list[dict[str, str]] = []
    for kind in _LINK_ORDER:
        link = alert.link(kind) or shared.links[kind]
        href = safe_url(link.url, MAX_HREF, what=f"{kind.value} link") if link is not None else None
        if link is not None and href is not None:
            links.append({"href": href, "text": truncate(one_line(link.text), MAX_LINK_TEXT, what="link text")})
    return links[:MAX_LINKS]


def _client_url(group: AlertGroup, alert: Alert) -> str | None:
    if group.source is Source.ALERTMANAGER:
        return safe_url(group.external_url, MAX_HREF, what="client_url")
    console = alert.link(LinkKind.CONSOLE)
    return safe_url(console.url, MAX_HREF, what="client_url") if console else None


def _clip(text: str | None) -> str:
    return truncate(text or "", MAX_DETAIL_VALUE, what="PagerDuty detail")


def _clip_map(values: Any) -> dict[str, str]:
    return {truncate(str(k), 200): _clip(str(v)) for k, v in itertools.islice(values.items(), 100)}


def _fit(event: dict[str, Any]) -> dict[str, Any]:
    """The event within `EVENT_BUDGET` as sent. Every other field has its own bound, so custom_details take what
    is left, largest parts cut first. client_url, then links (least useful first) give way only if even the smallest
    details would not fit, which those bounds rule out today."""
    payload = event["payload"]
    details = payload["custom_details"]
    payload["custom_details"] = {}
    while _size(event) + _MIN_DETAILS > EVENT_BUDGET and (event.get("links") or "client_url" in event):
        if "client_url" in event:  # the console link, or Alertmanager's front page: the links say more
            del event["client_url"]
        else:
            event["links"].pop()
    room = EVENT_BUDGET - _size(event) + json_size({})
    if json_size(details) > room:
        details = fit_json({"note": CUT_NOTE, **details}, room, what="PagerDuty custom_details")
    payload["custom_details"] = details
    return event


def _size(event: dict[str, Any]) -> int:
    return json_size(event) + _ROUTING_KEY_ROOM


def _rfc3339(moment: datetime | None) -> str | None:
    """The time in UTC as RFC 3339 with milliseconds (`2026-11-22T02:50:00.000Z`), which PagerDuty's date-time
    accepts whatever offset the source wrote (`+05:30:15` is valid to Python, not to RFC 3339); None when it has
    no UTC equivalent (year 1, year 9999 with a negative offset)."""
    if moment is None:
        return None
    try:
        utc = (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    if utc.year < 2:
        return None
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- Storm incident: one PagerDuty alert for many alarms of one routing key ------------------------------------

MAX_MEMBER_NAME = 255
MAX_MEMBER_SERVICE = 60
MAX_STORM_LINKS = 5
MAX_DETAIL_SERVICES = 100
STORM_CLASS = "alarm storm"
_MEMBER_LINKS = (LinkKind.CONSOLE, LinkKind.RUNBOOK, LinkKind.DASHBOARD, LinkKind.GENERATOR)
_SUMMARY_SERVICES = 8


@dataclass(frozen=True, slots=True)
class StormMember:
    """One alarm of a storm incident, as the pacer keeps it: enough to name it, count it and link to it."""

    dedup_key: str  # the alarm's own PagerDuty dedup key (its identity in the storm)
    title: str
    severity: Severity
    service: str
    state: Status  # FIRING or RESOLVED (INSUFFICIENT_DATA counts as not firing)
    first_seen: datetime
    source: str  # what PagerDuty's `source` would have said for the alarm alone
    links: tuple[Link, ...] = ()

    @classmethod
    def of(cls, group: AlertGroup, alert: Alert, *, first_seen: datetime) -> StormMember:
        """The member for one alert of a prepared group: the same dedup key, source and service as elsewhere."""
        # An Alertmanager alert is a member by its per-alert key, alone in its group or not.
        key = _alert_key(group, alert) if group.source is Source.ALERTMANAGER else group.dedup_key
        return cls(
            dedup_key=_dedup_key(key),
            title=short_line(alert.title, MAX_MEMBER_NAME) or "(unnamed)",
            severity=alert.severity,
            service=service_name(alert),
            state=Status.RESOLVED if alert.status is Status.RESOLVED else Status.FIRING,
            first_seen=first_seen,
            source=short_line(_source(group, alert), MAX_SOURCE) or "unknown",
            links=tuple(link for kind in _MEMBER_LINKS if (link := alert.link(kind)) is not None),
        )


def storm_dedup_key(storm_id: str) -> str:
    """`storm-<storm id>`, at most 255 characters (hashed when longer)."""
    return _dedup_key(f"storm-{storm_id}")


def render_storm(
    members: Sequence[StormMember],
    *,
    storm_id: str,
    route_name: str,
    action: str,
    opened_at: datetime,
) -> dict[str, Any]:
    """One Events API v2 event for the storm incident of one routing key (the routing key is added by `deliver`).

    A trigger names the route, counts the alarms and the firing ones by service in its summary, takes the severity
    of the most severe firing member, lists EVERY member in custom_details (name, state, severity, service, first
    seen; firing most severe first, then resolved), whole members first and "N more not listed" only when 512 KB
    demands it, and links to the first members' consoles. A resolve carries the same dedup key. Linear in the
    members (plus a sort), each member's text read from a bounded prefix."""
    key = storm_dedup_key(storm_id)
    if action == "resolve":
        return _resolve(key)
    if action != "trigger":
        raise ValueError(f"storm action must be trigger or resolve, not {action!r}")
    latest: dict[str, StormMember] = {}
    for member in members:  # one per alarm; the later state wins
        latest.pop(member.dedup_key, None)
        latest[member.dedup_key] = member
    firing = [m for m in latest.values() if m.state is not Status.RESOLVED]
    resolved = [m for m in latest.values() if m.state is Status.RESOLVED]
    firing.sort(key=lambda m: (-m.severity.rank, _member_epoch(m.first_seen)))
    resolved.sort(key=lambda m: _member_epoch(m.first_seen))
    route = short_line(route_name, 200) or "unnamed route"
    severity = max((m.severity for m in firing or resolved), key=lambda s: s.rank, default=Severity.INFO)
    by_service: dict[str, list[int]] = {}
    by_severity: dict[str, int] = {}
    for member in firing:
        counts = by_service.setdefault(_member_service(member), [0, 0])
        counts[0] += 1
        by_severity[member.severity.value] = by_severity.get(member.severity.value, 0) + 1
    for member in resolved:
        by_service.setdefault(_member_service(member), [0, 0])[1] += 1
    busiest = sorted(((s, c[0]) for s, c in by_service.items() if c[0]), key=lambda item: -item[1])
    summary = f"Alarm storm on {route}: {format_count(len(latest))} alarms, {format_count(len(firing))} still firing"
    if busiest:
        shown = ", ".join(f"{s} {format_count(n)}" for s, n in busiest[:_SUMMARY_SERVICES])
        summary += f" ({shown}{', ' + ELLIPSIS if len(busiest) > _SUMMARY_SERVICES else ''})"
    event: dict[str, Any] = {
        "event_action": "trigger",
        "dedup_key": key,
        "payload": {
            "summary": truncate(one_line(summary), MAX_SUMMARY, what="PagerDuty summary"),
            "source": truncate(f"alert forwarding \u00b7 {route}", MAX_SOURCE, what="PagerDuty source"),
            "severity": severity.value,
            "group": truncate(route, MAX_SOURCE, what="PagerDuty group"),
            "class": STORM_CLASS,
            "custom_details": {},
        },
        "client": CLIENT,
        "links": _storm_links(firing + resolved),
    }
    if busiest:
        event["payload"]["component"] = truncate(busiest[0][0], MAX_SOURCE, what="PagerDuty component")
    timestamp = _rfc3339(opened_at)
    if timestamp is not None:
        event["payload"]["timestamp"] = timestamp
    details: dict[str, Any] = {
        "storm_id": truncate(storm_id, MAX_DETAIL_VALUE),
        "route": route,
        "opened_at": timestamp or truncate(opened_at.isoformat(), 64),
        "alarms": len(latest),
        "firing": len(firing),
        "resolved": len(resolved),
        "firing_by_severity": by_severity,
        "by_service": _services_detail(by_service),
        "members": [],
    }
    event["payload"]["custom_details"] = details
    details["members"] = _fit_members([_member_detail(m) for m in firing + resolved], EVENT_BUDGET - _size(event))
    return _fit(event)


def _services_detail(by_service: dict[str, list[int]]) -> dict[str, Any]:
    """Firing and resolved counts per service, the busiest `MAX_DETAIL_SERVICES` by name and the rest summed."""
    ordered = sorted(by_service.items(), key=lambda item: (-item[1][0], -item[1][1]))
    detail: dict[str, Any] = {s: {"firing": c[0], "resolved": c[1]} for s, c in ordered[:MAX_DETAIL_SERVICES]}
    rest = ordered[MAX_DETAIL_SERVICES:]
    if rest:
        detail[f"{ELLIPSIS} {len(rest)} more services"] = {
            "firing": sum(c[0] for _, c in rest),
            "resolved": sum(c[1] for _, c in rest),
        }
    return detail


def _member_service(member: StormMember) -> str:
    return short_line(member.service, MAX_MEMBER_SERVICE) or "other"


def _member_epoch(moment: datetime) -> float:
    try:
        return moment.timestamp() if moment.year > 1 else float("inf")
    except (OverflowError, ValueError, OSError):
        return float("inf")


def _member_detail(member: StormMember) -> dict[str, str]:
    return {
        "name": short_line(member.title, MAX_MEMBER_NAME) or "(unnamed)",
        "state": "firing" if member.state is not Status.RESOLVED else "resolved",
        "severity": member.severity.value,
        "service": _member_service(member),
        "first_seen": _rfc3339(member.first_seen) or "unknown",
    }


def _fit_members(members: list[dict[str, str]], room: int) -> list[Any]:
    """Whole members while they fit in `room` bytes (with the marker saying how many are left out); linear."""
    used = 2  # the brackets
    kept = 0
    marker_room = len(f',"{ELLIPSIS} {len(members)} more not listed (see the counts)"'.encode())
    for index, member in enumerate(members):
        size = json_size(member) + (1 if index else 0)
        reserve = marker_room if index + 1 < len(members) else 0
        if used + size + reserve > room:
            break
        used += size
        kept += 1
    fitted: list[Any] = list(members[:kept])
    if kept < len(members):
        fitted.append(f"{ELLIPSIS} {len(members) - kept} more not listed (see the counts)")
    return fitted


def _storm_links(members: list[StormMember]) -> list[dict[str, str]]:
    """Each of the first members' console (else runbook, dashboard, graph), at most `MAX_STORM_LINKS`."""
    links: list[dict[str, str]] = []
    for member in members:
        if len(links) >= MAX_STORM_LINKS:
            break
        for link in member.links:
            href = safe_url(link.url, MAX_HREF, what="storm link")
            if href is not None:
                name = short_line(member.title, 200) or "alarm"
                links.append({"href": href, "text": truncate(f"{name} ({link.kind.value})", MAX_LINK_TEXT)})
                break
    return links
