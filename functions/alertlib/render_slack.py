"""Render: an `AlertGroup` as one Slack Block Kit message (PROTOCOLS.md 2.2). Pure and deterministic.

Every piece of text that came from an alarm or an alert is escaped for mrkdwn and cut to the block's limit, and
the whole message keeps within Slack's limits whatever the input: 50 blocks, 3000-character sections, 10 fields
of 2000, a 150-character header, 25 buttons, and about 12,000 characters of block text in all. Counts are
clipped to ten characters. URLs are never cut: they are percent-encoded (no `|`, `<` or `>` can end a link
early and show one address while opening another), http(s) only, and left out when too long.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from alertlib.models import Alert, AlertGroup, LinkKind, Source, Status
from alertlib.text import escape_mrkdwn, fit_mrkdwn, format_count, mrkdwn_link, one_line, safe_url, truncate

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
