"""Render: an `AlertGroup` as one Slack Block Kit message (PROTOCOLS.md 2.2). Pure and deterministic.

Every piece of text that came from an alarm or an alert is escaped for mrkdwn and cut to the block's limit, and
the whole message keeps within Slack's limits whatever the input: 50 blocks, 3000-character sections, 10 fields
of 2000, a 150-character header, 25 buttons, and about 12,000 characters of block text in all. Counts are
clipped to ten characters. URLs are never cut: they are percent-encoded (no `|`, `<` or `>` can end a link
early and show one address while opening another), http(s) only, and left out when too long.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from alertlib.models import Alert, AlertGroup, LinkKind, Severity, Source, Status
from alertlib.text import (
    escape_mrkdwn,
    fit_mrkdwn,
    format_count,
    mrkdwn_link,
    one_line,
    plural,
    safe_url,
    service_name,
    short_line,
    truncate,
)

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_FIELDS = 10
MAX_FIELD = 2000
MAX_HEADER = 150
MAX_BUTTON_TEXT = 75
MAX_URL = 3000
MAX_BUTTONS = 25
MAX_TEXT = 3000  # top-level fallback; Slack cuts at 40,000 and recommends under 4,000
MAX_CONTEXT = 500  # ours; Slack allows 3000 per context element
MAX_LISTED_URL = 500  # a link inside an alert's line; longer ones are left out (the buttons carry the rest)
MAX_BLOCK_TEXT = 11_000  # Slack refuses about 13k characters of block text with msg_blocks_too_long
MAX_LISTED = 40

COLOURS = {Status.FIRING: "#E01E5A", Status.RESOLVED: "#2EB67D", Status.INSUFFICIENT_DATA: "#9E9E9E"}
_EMOJI = {Status.FIRING: "\U0001f534", Status.RESOLVED: "\u2705", Status.INSUFFICIENT_DATA: "\u26aa"}
_CLOUDWATCH_STATE = {Status.FIRING: "ALARM", Status.RESOLVED: "RESOLVED", Status.INSUFFICIENT_DATA: "INSUFFICIENT DATA"}
_BUTTONS = (
    (LinkKind.RUNBOOK, "Runbook"),
    (LinkKind.DASHBOARD, "Dashboard"),
    (LinkKind.CONSOLE, "AWS console"),
    (LinkKind.SILENCE, "Silence"),
    (LinkKind.GENERATOR, "Prometheus graph"),
)


@dataclass
class _Budget:
    """What is left of the message's block text."""

    left: int = MAX_BLOCK_TEXT
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def mrkdwn(self, text: str, limit: int = MAX_SECTION) -> str:
        """Escaped text cut to the smaller of `limit` and what is left."""
        fitted = fit_mrkdwn(text, max(min(limit, self.left), 0))
        self.left -= len(fitted)
        return fitted

    def section(self, title: str, body: str, limit: int = MAX_SECTION) -> None:
        if not body.strip() or self.left < 50:
            return
        heading = f"*{title}*\n" if title else ""
        self.left -= len(heading)
        self.blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": heading + self.mrkdwn(body, limit - len(heading))}}
        )


def render_slack(
    group: AlertGroup, *, now: datetime, max_listed: int = 10, notice: str | None = None
) -> dict[str, Any]:
    """The webhook body for one group: header, fields, reason, description, alerts, buttons; coloured by state.
    `notice` (our words, not the alert's) opens the message: the PagerDuty forwarder's fallback uses it."""
    budget = _Budget()
    first = (group.firing or group.alerts)[0]
    state = _state_word(group)
    drill = "DRILL \u00b7 " if group.drill else ""
    mark = "\u26a0\ufe0f PagerDuty delivery failed \u00b7" if notice else _EMOJI[group.status]
    header = truncate(one_line(f"{mark} {drill}{state}: {plain(group.title)}"), MAX_HEADER, what="Slack header")
    budget.left -= len(header)
    budget.blocks.append({"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}})
    if notice:
        budget.section("", notice, 1000)

    summary = (
        first.summary if group.source is not Source.ALERTMANAGER or len(group.alerts) == 1 else _group_summary(group)
    )
    budget.section("", summary, 1000)
    fields = [f for f in _fields(group, first, now) if f[1]]
    if fields:
        budget.blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{name}*\n" + (value if raw else budget.mrkdwn(value, 300))}
                    for name, value, raw in fields[:MAX_FIELDS]
                ],
            }
        )
    if group.source is not Source.ALERTMANAGER or len(group.alerts) == 1:
        budget.section("Reason", first.reason, 1500)
        budget.section("Description", first.description, 2500)
    else:
        _list_alerts(group, budget, min(max(max_listed, 1), MAX_LISTED))
    labels = first.labels if group.source is Source.ALERTMANAGER and len(group.alerts) == 1 else group.group_labels
    if labels:
        budget.section("Labels", ", ".join(f"{k}={v}" for k, v in sorted(labels.items())), 1000)

    buttons = _buttons(group, first)
    if buttons:
        budget.blocks.append({"type": "actions", "elements": buttons})
    context = _context(group, first)
    budget.left -= len(context)
    colour_bar = {"type": "context", "elements": [{"type": "mrkdwn", "text": fit_mrkdwn(context, MAX_CONTEXT)}]}
    text = _fallback(group, first, state, "[PagerDuty delivery failed] " if notice else "")
    return {
        "text": text,
        "blocks": budget.blocks[: MAX_BLOCKS - 1],
        "attachments": [{"color": COLOURS[group.status], "fallback": truncate(header, 300), "blocks": [colour_bar]}],
    }


def plain(text: str) -> str:
    """plain_text never pings, but keep `<!channel>` from even appearing: a zero-width space after each `<`."""
    return text.replace("<", "<\u200b")


def _state_word(group: AlertGroup) -> str:
    if group.source is Source.ALERTMANAGER:
        if group.status is Status.RESOLVED:
            return "RESOLVED"
        return f"FIRING ({format_count(len(group.firing))})" if len(group.alerts) > 1 else "FIRING"
    return _CLOUDWATCH_STATE[group.status]


def _group_summary(group: AlertGroup) -> str:
    firing, resolved = len(group.firing), len(group.resolved)
    common = group.common_annotations.get("summary") or group.common_annotations.get("message")
    counts = f"{format_count(firing)} firing, {format_count(resolved)} resolved" + (
        f", {format_count(group.truncated_alerts)} not sent by Alertmanager" if group.truncated_alerts > 0 else ""
    )
    return f"{common} ({counts})" if common else counts


def _fields(group: AlertGroup, first: Alert, now: datetime) -> list[tuple[str, str, bool]]:
    """(name, value, already-mrkdwn) for the fields section."""
    fields: list[tuple[str, str, bool]] = [("Severity", group.severity.value.upper(), False)]
    where = " \u00b7 ".join(p for p in (first.account, first.region) if p)
    fields.append(("Account \u00b7 Region", where, False))
    if group.source is Source.ALERTMANAGER:
        fields.append(("Receiver", group.receiver or "", False))
        if len(group.alerts) > 1:
            counts = f"{format_count(len(group.firing))} firing, {format_count(len(group.resolved))} resolved"
            fields.append(("Alerts", counts, False))
    if first.metric is not None:
        fields.append(("Metric", first.metric.describe(), False))
        fields.append(("Threshold", first.metric.describe_threshold(), False))
    starts = [a.starts_at for a in group.alerts if a.starts_at is not None and a.starts_at.year > 1]
    start = min(starts) if starts else None
    if start is not None:
        fields.append(("Started", _slack_date(start), True))
    ends = [a.ends_at for a in group.alerts if a.ends_at is not None]
    if group.status is Status.RESOLVED:
        end = max(ends) if ends else None
        lasted = format_duration((end - start).total_seconds()) if start and end else "unknown"
        fields.append(("Lasted", lasted, False))
    elif start is not None:
        fields.append(("Firing for", format_duration((now - start).total_seconds()), False))
    return fields


def _list_alerts(group: AlertGroup, budget: _Budget, limit: int) -> None:
    ordered = list(group.firing) + list(group.resolved)
    shown = 0
    for alert in ordered[:limit]:
        if budget.left < 300 or len(budget.blocks) >= MAX_BLOCKS - 4:
            break
        mark = _EMOJI[alert.status]
        line = f"{alert.title}: {alert.summary}" if alert.summary else alert.title
        detail = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()) if k not in group.common_labels)
        text = f"{mark} *{budget.mrkdwn(line, 400)}*"
        if detail:
            text += "\n" + budget.mrkdwn(detail, 300)
        link = _listed_link(alert)
        if link and budget.left > 500:
            text += f" {link}"
            budget.left -= len(link)
        budget.blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
        shown += 1
    hidden = len(ordered) - shown + max(group.truncated_alerts, 0)
    if hidden > 0:
        more = fit_mrkdwn(f"and {format_count(hidden)} more", MAX_CONTEXT)
        budget.blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})


def _listed_link(alert: Alert) -> str:
    """The alert's runbook (else its graph) as a mrkdwn link; empty when neither has a short http(s) URL."""
    for kind in (LinkKind.RUNBOOK, LinkKind.GENERATOR):
        link = alert.link(kind)
        url = safe_url(link.url, MAX_LISTED_URL, what="listed link") if link is not None else None
        if link is not None and url is not None:
            return mrkdwn_link(url, truncate(one_line(link.text), MAX_BUTTON_TEXT))
    return ""


def _buttons(group: AlertGroup, first: Alert) -> list[dict[str, Any]]:
    buttons: list[dict[str, Any]] = []
    for kind, text in _BUTTONS:
        link = first.link(kind) or group.link(kind)
        url = safe_url(link.url, MAX_URL, what=f"{kind.value} button") if link is not None else None
        if url is None:
            continue
        button: dict[str, Any] = {
            "type": "button",
            "text": {"type": "plain_text", "text": truncate(text, MAX_BUTTON_TEXT), "emoji": True},
            "url": url,
            "action_id": f"link-{kind.value}",
        }
        if kind is LinkKind.RUNBOOK and group.status is Status.FIRING:
            button["style"] = "primary"
        buttons.append(button)
    return buttons[:MAX_BUTTONS]


def _context(group: AlertGroup, first: Alert) -> str:
    source = {
        Source.CLOUDWATCH: "CloudWatch",
        Source.EVENTBRIDGE: "CloudWatch via EventBridge",
        Source.CLOUDWATCH_LAMBDA: "CloudWatch",
        Source.ALERTMANAGER: "Alertmanager",
    }[group.source]
    parts = [source]
    if first.metric is not None and first.metric.treat_missing_data:
        parts.append(f"missing data: {first.metric.treat_missing_data}")
    parts.append(f"message {group.message_id}")
    return " \u00b7 ".join(parts)


def _fallback(group: AlertGroup, first: Alert, state: str, prefix: str = "") -> str:
    """The notification text: state, severity, name, what broke and where, escaped like everything else."""
    drill = "[DRILL] " if group.drill else ""
    where = " ".join(p for p in (first.account, first.region) if p)
    text = f"{prefix}{drill}[{state}] [{group.severity.value.upper()}] {group.title}"
    summary = first.summary if len(group.alerts) == 1 else _group_summary(group)
    if summary:
        text += f": {summary}"
    if where:
        text += f" ({where})"
    return fit_mrkdwn(one_line(text), MAX_TEXT, what="Slack text")


def _slack_date(moment: datetime) -> str:
    """Slack shows this in each reader's own time zone; the fallback is UTC."""
    try:
        fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        seconds = int(moment.timestamp())
    except (OverflowError, ValueError, OSError):
        return escape_mrkdwn(moment.isoformat())
    return f"<!date^{seconds}^{{date_short_pretty}} {{time_secs}}|{fallback}>"


def format_duration(seconds: float) -> str:
    """`3d 4h`, `2h 5m`, `5m 12s`, `42s`."""
    total = max(int(seconds), 0)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


# -- Digest: many groups of one channel in one message ---------------------------------------------------------

_SEVERITY_MARK = {Severity.CRITICAL: "\U0001f534", Severity.ERROR: "\U0001f7e0", Severity.WARNING: "\U0001f7e1",
                  Severity.INFO: "\U0001f535"}  # fmt: skip
_SEVERITIES = (Severity.CRITICAL, Severity.ERROR, Severity.WARNING, Severity.INFO)
_STORM = "\U0001f6a8"
_NO_DATA = "\u26aa"
_FLAPPED = "\u21a9\ufe0f"
MAX_DIGEST_NAME = 80  # an alert named in a compact list
MAX_LISTED_LINE = 600  # one listed alert, links included
MAX_DIGEST_FIELD = 400
_DIGEST_LINKS = ((LinkKind.RUNBOOK, "Runbook"), (LinkKind.CONSOLE, "Console"), (LinkKind.GENERATOR, "Graph"))
# What the later parts of a digest keep for themselves while the earlier ones fill up (characters of block text).
_RESERVE_FIELDS = 1600
_RESERVE_ALSO_FIRING = 2500
_RESERVE_RESOLVED = 1000
_RESERVE_FLAPPED = 700
_RESERVE_COUNTED = 250  # what resolves keep while the firing alerts are named: a heading and "and N more" lines
_CONTEXT_ROOM = MAX_CONTEXT


@dataclass
class _Entry:
    """One alert of the digest: its newest state, and whether it fired in this digest."""

    alert: Alert
    order: int  # first appearance in the digest
    fired: bool
    service: str = ""
    name: str = ""


@dataclass
class _Digest:
    firing: list[_Entry]  # newest state firing, most severe first, then oldest
    no_data: list[_Entry]  # newest state insufficient data
    resolved: list[_Entry]  # resolved, and did not fire in this digest
    flapped: list[_Entry]  # fired and resolved within this digest
    messages: int
    sources: list[Source]
    drill: bool


def render_digest(
    groups: Sequence[AlertGroup],
    *,
    now: datetime,
    max_listed: int,
    title: str | None = None,
    notice: str | None = None,
) -> dict[str, Any]:
    """One webhook body for many groups that arrived together on one channel (a storm), read on a phone: a header
    with the counts, counts by severity and by service, the first `max_listed` firing alerts (most severe first, then
    oldest) with their links, every other firing alert named by service (bounded: "and N more"), the resolves, and
    the alerts that fired and resolved within this digest. `groups` come oldest first and may hold several states of
    one alert (the same group dedup key and alert id): the newest state counts. Within every Slack limit whatever
    the input; linear in the number of alerts (plus a sort), reading a bounded prefix of each alert's text.
    `notice` (our words, as in `render_slack`) opens the message: the PagerDuty forwarder's fallback uses it."""
    digest = _digest(groups)
    budget = _Budget()
    active = digest.firing + digest.no_data
    resolved_count = len(digest.resolved) + len(digest.flapped)
    counts = _digest_counts(len(digest.firing), resolved_count, len(digest.no_data))
    status = Status.FIRING if digest.firing else Status.INSUFFICIENT_DATA if digest.no_data else Status.RESOLVED
    mark = "\u26a0\ufe0f PagerDuty delivery failed \u00b7" if notice else _STORM if digest.firing else _EMOJI[status]
    drill = "DRILL \u00b7 " if digest.drill else ""
    named = f" \u00b7 {short_line(title, MAX_HEADER)}" if title else ""
    header = truncate(one_line(plain(f"{mark} {drill}{counts}{named}")), MAX_HEADER, what="Slack header")
    budget.left -= len(header) + _CONTEXT_ROOM
    budget.blocks.append({"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}})
    if notice:
        budget.section("", notice, 1000)

    fields = _digest_fields(digest)
    if fields:
        budget.left -= sum(len(f) for f in fields)
        budget.blocks.append({"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]})

    later = {
        "also": _RESERVE_ALSO_FIRING if len(active) > max(max_listed, 0) else 0,
        "resolved": _RESERVE_RESOLVED if digest.resolved else 0,
        "flapped": _RESERVE_FLAPPED if digest.flapped else 0,
    }
    listed = min(max(max_listed, 0), MAX_LISTED)
    lines = [_listed_line(entry, now) for entry in active[:listed]]
    shown = _add_lines(budget, "", lines, budget.left - sum(later.values()), gap="\n\n")
    rest = active[shown:]
    if rest:
        word = "firing" if any(e.alert.status is Status.FIRING for e in rest) else "with no data"
        heading = f"*Also {word} ({format_count(len(rest))})*"
        # Firing alerts come before resolves: these keep only the room to be counted, and get back whatever the
        # firing ones leave.
        room = budget.left - _counted_room(digest.resolved) - _counted_room(digest.flapped)
        _add_lines(budget, heading, _named_by_service(rest, room - len(heading) - 1), room)
    if digest.resolved:
        heading = f"*{_EMOJI[Status.RESOLVED]} Resolved ({format_count(len(digest.resolved))})*"
        room = budget.left - _counted_room(digest.flapped)
        _add_lines(budget, heading, _named_by_service(digest.resolved, room - len(heading) - 1), room)
    if digest.flapped:
        heading = f"*{_FLAPPED} Fired and resolved in this digest ({format_count(len(digest.flapped))})*"
        _add_lines(budget, heading, _named_by_service(digest.flapped, budget.left - len(heading) - 1), budget.left)

    sources = ", ".join(_SOURCE_NAMES[s] for s in digest.sources)
    context = " \u00b7 ".join(p for p in (f"Digest of {plural(digest.messages, 'message')}", sources) if p)
    colour_bar = {"type": "context", "elements": [{"type": "mrkdwn", "text": fit_mrkdwn(context, MAX_CONTEXT)}]}
    return {
        "text": _digest_fallback(digest, counts, title, "[PagerDuty delivery failed] " if notice else ""),
        "blocks": budget.blocks[: MAX_BLOCKS - 1],
        "attachments": [{"color": COLOURS[status], "fallback": truncate(header, 300), "blocks": [colour_bar]}],
    }


_SOURCE_NAMES = {
    Source.CLOUDWATCH: "CloudWatch",
    Source.EVENTBRIDGE: "CloudWatch via EventBridge",
    Source.CLOUDWATCH_LAMBDA: "CloudWatch",
    Source.ALERTMANAGER: "Alertmanager",
}


def _digest(groups: Sequence[AlertGroup]) -> _Digest:
    """Each alert once, in its newest state (the groups come oldest first), sorted into what people read."""
    entries: dict[tuple[str, str], _Entry] = {}
    sources: dict[Source, None] = {}
    drill = False
    for group in groups:
        sources[group.source] = None
        for alert in group.alerts:
            key = (group.dedup_key, alert.id)
            entry = entries.get(key)
            if entry is None:
                entries[key] = _Entry(alert, len(entries), alert.status is Status.FIRING)
            else:
                entry.alert = alert
                entry.fired = entry.fired or alert.status is Status.FIRING
    firing: list[_Entry] = []
    no_data: list[_Entry] = []
    resolved: list[_Entry] = []
    flapped: list[_Entry] = []
    for entry in entries.values():
        alert = entry.alert
        drill = drill or alert.drill
        entry.service = service_name(alert)
        entry.name = _compact_name(alert)
        if alert.status is Status.FIRING:
            firing.append(entry)
        elif alert.status is Status.INSUFFICIENT_DATA:
            no_data.append(entry)
        else:
            (flapped if entry.fired else resolved).append(entry)
    for active in (firing, no_data):
        active.sort(key=lambda e: (-e.alert.severity.rank, _epoch(e.alert.starts_at), e.order))
    return _Digest(firing, no_data, resolved, flapped, len(groups), list(sources), drill)


def _epoch(moment: datetime | None) -> float:
    """Seconds since the epoch for sorting; unknown or out-of-range times sort last."""
    if moment is None or moment.year < 2:
        return float("inf")
    try:
        return moment.timestamp()
    except (OverflowError, ValueError, OSError):
        return float("inf")


def _compact_name(alert: Alert) -> str:
    """The alarm name; an Alertmanager alert's name and where it fired (its alertname is shared by the group)."""
    name = short_line(alert.title, MAX_DIGEST_NAME) or "(unnamed)"
    if alert.source is Source.ALERTMANAGER:
        where = next((alert.labels[k] for k in ("instance", "pod", "host") if alert.labels.get(k)), "")
        if where:
            name = truncate(f"{name} {short_line(where, MAX_DIGEST_NAME)}", MAX_DIGEST_NAME)
    return name


def _digest_counts(firing: int, resolved: int, no_data: int) -> str:
    parts = []
    if firing or not (resolved or no_data):
        parts.append(f"{plural(firing, 'alert')} firing")
    if resolved:
        parts.append(f"{format_count(resolved)} resolved" if parts else f"{plural(resolved, 'alert')} resolved")
    if no_data:
        parts.append(f"{format_count(no_data)} with no data" if parts else f"{plural(no_data, 'alert')} with no data")
    return ", ".join(parts)


def _digest_fields(digest: _Digest) -> list[str]:
    """Counts by severity and by service, firing and resolved: mrkdwn fields, each bounded."""
    fields: list[str] = []
    resolved = digest.resolved + digest.flapped
    for heading, entries, extra in (("Firing", digest.firing, digest.no_data), ("Resolved", resolved, [])):
        if not entries and not extra:
            continue
        by_severity: dict[Severity, int] = {}
        for entry in entries:
            by_severity[entry.alert.severity] = by_severity.get(entry.alert.severity, 0) + 1
        lines = [
            f"{_SEVERITY_MARK[s]} {format_count(by_severity[s])} {s.value}" for s in _SEVERITIES if s in by_severity
        ]
        if extra:
            lines.append(f"{_NO_DATA} {format_count(len(extra))} with no data")
        fields.append(f"*{heading} by severity*\n" + "\n".join(lines))
        by_service: dict[str, int] = {}
        for entry in entries + extra:
            by_service[entry.service] = by_service.get(entry.service, 0) + 1
        fields.append(f"*{heading} by service*\n" + _counted(by_service, MAX_DIGEST_FIELD - len(heading) - 16))
    return fields


def _counted(counts: dict[str, int], limit: int) -> str:
    """`RDS 200 · ECS 150 · and 12 more services`, most first, escaped, within `limit` characters."""
    ordered = sorted(counts.items(), key=lambda item: -item[1])  # stable: first seen first among equals
    parts: list[str] = []
    used = 0
    for index, (service, count) in enumerate(ordered):
        part = f"{escape_mrkdwn(service)} {format_count(count)}"
        more = len(ordered) - index - 1
        tail = len(f" \u00b7 and {format_count(more + 1)} more services") if more else 0
        if used + len(part) + 3 + tail > limit:
            parts.append(f"and {format_count(len(ordered) - index)} more services")
            break
        parts.append(part)
        used += len(part) + 3
    return " \u00b7 ".join(parts)


def _listed_line(entry: _Entry, now: datetime) -> str:
    """One listed alert: severity, name, what broke, where and since when, its runbook and console; mrkdwn."""
    alert = entry.alert
    mark = _NO_DATA if alert.status is Status.INSUFFICIENT_DATA else _SEVERITY_MARK[alert.severity]
    words = "NO DATA" if alert.status is Status.INSUFFICIENT_DATA else alert.severity.value.upper()
    line = f"{mark} *{words}* \u00b7 *{escape_mrkdwn(entry.name)}*"
    summary = short_line(alert.summary, 200)
    if summary and summary != entry.name:
        line += "\n" + escape_mrkdwn(summary)
    where = [entry.service, *(short_line(p, 40) for p in (alert.account, alert.region) if p)]
    detail = escape_mrkdwn(" \u00b7 ".join(where))
    if _epoch(alert.starts_at) != float("inf") and alert.starts_at is not None:
        detail += f" \u00b7 since {_slack_date(alert.starts_at)}"
        detail += f" ({format_duration((now - alert.starts_at).total_seconds())})" if _same_kind(now, alert) else ""
    line += "\n" + detail
    for kind, text in _DIGEST_LINKS:
        link = alert.link(kind)
        url = safe_url(link.url, MAX_LISTED_URL, what=f"digest {kind.value} link") if link is not None else None
        if url is not None and len(line) + len(url) + len(text) + 6 <= MAX_LISTED_LINE:
            line += f" \u00b7 {mrkdwn_link(url, text)}"
    return line if len(line) <= MAX_LISTED_LINE else fit_mrkdwn(one_line(f"{words} {entry.name}"), MAX_LISTED_LINE)


def _same_kind(now: datetime, alert: Alert) -> bool:
    """Whether `now - starts_at` can be computed (both aware, or both naive)."""
    start = alert.starts_at
    return start is not None and (now.tzinfo is None) == (start.tzinfo is None)


def _named_by_service(entries: list[_Entry], limit: int) -> list[str]:
    """Every entry named compactly, one line per service (most alerts first): `*RDS* (200): a, b … and 190 more`.
    Within `limit` characters in all (the newlines between lines included): the shortest lines go in whole first and
    the longer ones share what is left, each cut at a name boundary with "and N more" (never dropped while a name
    fits), so the room is used up; services past what the room can show are counted on a last line. A line longer
    than a section is wrapped after a comma into pieces that each fit one (`_add_lines` keeps lines whole). Linear in
    the entries (plus sorting the services)."""
    if limit < 40 or not entries:
        return [f"{format_count(len(entries))} alerts"] if entries and limit >= 20 else []
    by_service: dict[str, list[str]] = {}
    for entry in entries:
        by_service.setdefault(entry.service, []).append(escape_mrkdwn(entry.name))
    services = sorted(by_service.items(), key=lambda item: -len(item[1]))
    shown = services[: max(1, limit // 120)]
    hidden = services[len(shown) :]
    room = limit
    if hidden:
        hidden_alerts = sum(len(names) for _, names in hidden)
        last = f"and {plural(len(hidden), 'more service')} ({plural(hidden_alerts, 'alert')})"
        room -= len(last) + 1
    lines: dict[str, list[str]] = {}
    wanted = {service: _service_line(service, names, None) for service, names in shown}
    for position, (service, _) in enumerate(sorted(shown, key=lambda item: _length(wanted[item[0]]))):
        share = room // (len(shown) - position) - 1  # this line's newline
        line = wanted[service]
        if _length(line) > share:
            line = _service_line(service, by_service[service], share)
        lines[service] = line
        room -= _length(line) + 1 if line else 0
    ordered = [piece for service, _ in shown for piece in lines[service]]
    if hidden:
        ordered.append(last)
    return ordered


def _counted_room(entries: list[_Entry]) -> int:
    """The room a part of resolves needs to be counted: `_RESERVE_COUNTED`, or less when all of it takes less."""
    if not entries:
        return 0
    need = 60  # its heading
    services: set[str] = set()
    for entry in entries:
        need += len(escape_mrkdwn(entry.name)) + 2 + (0 if entry.service in services else len(entry.service) + 30)
        services.add(entry.service)
        if need >= _RESERVE_COUNTED:
            return _RESERVE_COUNTED
    return need


def _length(pieces: list[str]) -> int:
    """Characters of a wrapped line, the newlines between its pieces included."""
    return sum(len(piece) for piece in pieces) + len(pieces) - 1 if pieces else 0


_WRAP = MAX_SECTION - 100  # a piece of a service line, with room for a heading above it and "and N more" after it


def _service_line(service: str, names: list[str], limit: int | None) -> list[str]:
    """`*RDS* (3): a, b, c`, or within `limit` characters: `*RDS* (200): a, b and 198 more`; wrapped after a comma
    into pieces of at most `_WRAP` characters plus the tail (a newline takes the place of the space, so the length
    is the same). `[]` when not even the count fits."""
    head = f"*{escape_mrkdwn(service)}* ({format_count(len(names))}): "
    kept = names
    if limit is not None:
        used = len(head)
        count = 0
        for index, name in enumerate(names):
            more = len(names) - index - 1
            tail = len(f" and {format_count(more)} more") if more else 0
            if used + len(name) + tail > limit:
                break
            count += 1
            used += len(name) + 2
        kept = names[:count]
    left_out = len(names) - len(kept)
    pieces: list[str] = []
    text = head
    for index, name in enumerate(kept):
        if index and len(text) + 2 + len(name) > _WRAP:
            pieces.append(text + ",")
            text = name
        else:
            text += (", " if index else "") + name
    pieces.append(text + (f" and {format_count(left_out)} more" if left_out else ""))
    if not kept:
        pieces = [f"{head}and {format_count(left_out)} more"]  # not one name fits: the service and its count
    if limit is not None and _length(pieces) > limit:
        counted = f"{format_count(len(names))} alerts"
        return [counted] if len(counted) <= limit else []
    return pieces


def _add_lines(budget: _Budget, heading: str, lines: list[str], room: int, gap: str = "\n") -> int:
    """Sections of whole lines (never a cut link or entity) under `heading`, each within Slack's 3000 characters and
    all within `room` and what the budget has left, joined by `gap`; returns how many lines went in (an empty line
    counts as in)."""
    room = min(room, budget.left)
    added = pending = 0
    text = heading
    used = len(heading)
    for line in lines:
        if not line:
            added += 1
            continue
        if len(line) > MAX_SECTION - len(gap) or used + len(line) + len(gap) > room:
            break
        if len(text) + len(line) + len(gap) > MAX_SECTION:
            if not _flush_section(budget, text):
                pending = 0
                break
            added += pending
            text, pending = "", 0
        separator = "\n" if text == heading else gap  # a heading sits right above its first line
        text = f"{text}{separator}{line}" if text else line
        used += len(line) + len(gap)
        pending += 1
    if pending and _flush_section(budget, text):
        added += pending
    return added


def _flush_section(budget: _Budget, text: str) -> bool:
    if len(budget.blocks) >= MAX_BLOCKS - 2:
        return False
    budget.blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    budget.left -= len(text)
    return True


def _digest_fallback(digest: _Digest, counts: str, title: str | None, prefix: str) -> str:
    """The notification text: counts, the busiest services, the most severe alert."""
    text = prefix + ("[DRILL] " if digest.drill else "") + counts
    if title:
        text += f" \u00b7 {short_line(title, 200)}"
    by_service: dict[str, int] = {}
    for entry in digest.firing:
        by_service[entry.service] = by_service.get(entry.service, 0) + 1
    if by_service:
        top = sorted(by_service.items(), key=lambda item: -item[1])[:5]
        text += (
            " (" + ", ".join(f"{s} {format_count(n)}" for s, n in top) + (", \u2026)" if len(by_service) > 5 else ")")
        )
    if digest.firing:
        first = digest.firing[0]
        text += f"; first: [{first.alert.severity.value.upper()}] {first.name}"
    return fit_mrkdwn(one_line(text), MAX_TEXT, what="Slack text")
