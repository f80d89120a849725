"""Render: an `AlertGroup` as one Slack Block Kit message (PROTOCOLS.md 2.2). Pure and deterministic.

Every piece of text that came from an alarm or an alert is escaped for mrkdwn and cut to the block's limit, and
the whole message keeps within Slack's limits whatever the input: 50 blocks, 3000-character sections, 10 fields
of 2000, a 150-character header, 25 buttons, and about 12,000 characters of block text in all. Counts are
clipped to ten characters. URLs are never cut: they are percent-encoded (no `|`, `<` or `>` can end a link
early and show one address while opening another), http(s) only, and left out when too long.

Read as the person woken at 3 a.m. reads it (issue 13): the push text (`text`) starts with what broke and where,
naming the environment rather than an account number; every block sits inside one attachment whose colour follows
the state and the severity, so the colour bar frames the whole message; the header says severity and state; no
mrkdwn line starts with `&gt;` (Slack draws a quote); numbers carry their unit (`units.py`). The only mention ever
made is the on-call user group the configuration names, built here (`mention`), never taken from alert text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from alertlib.models import Alert, AlertGroup, LinkKind, Severity, Slo, Source, Status
from alertlib.text import (
    alarm_names,
    escape_mrkdwn,
    fit_mrkdwn,
    format_count,
    mrkdwn_link,
    no_quote,
    one_line,
    plural,
    safe_url,
    service_name,
    short_line,
    truncate,
)
from alertlib.units import format_number, plain_numbers

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

# Colour and emoji by state, then by severity (a firing alert): CRITICAL, ERROR, WARNING and INFO differ.
COLOURS = {Status.FIRING: "#E01E5A", Status.RESOLVED: "#2EB67D", Status.INSUFFICIENT_DATA: "#9E9E9E"}
SEVERITY_COLOURS = {Severity.CRITICAL: "#E01E5A", Severity.ERROR: "#E8710A", Severity.WARNING: "#ECB22E",
                    Severity.INFO: "#36C5F0"}  # fmt: skip
SUPPRESSED_COLOUR = "#9E9E9E"
_EMOJI = {Status.FIRING: "\U0001f534", Status.RESOLVED: "\u2705", Status.INSUFFICIENT_DATA: "\u26aa"}
_SEVERITY_EMOJI = {Severity.CRITICAL: "\U0001f534", Severity.ERROR: "\U0001f7e0", Severity.WARNING: "\U0001f7e1",
                   Severity.INFO: "\U0001f535"}  # fmt: skip
_SUPPRESSED = "\U0001f515"
_WARNING_SIGN = "\u26a0\ufe0f"
_CLOUDWATCH_STATE = {Status.FIRING: "ALARM", Status.RESOLVED: "RESOLVED", Status.INSUFFICIENT_DATA: "INSUFFICIENT DATA"}
_SUPPRESSIONS = {
    "ALARM": "suppressor in ALARM",
    "WAITPERIOD": "wait period",
    "EXTENSIONPERIOD": "extension period",
}
_BUTTONS = (
    (LinkKind.RUNBOOK, "Runbook"),
    (LinkKind.DASHBOARD, "Dashboard"),
    (LinkKind.CONSOLE, "AWS console"),
    (LinkKind.ALERTMANAGER, "Open in Alertmanager"),
    (LinkKind.SILENCE, "Silence"),
    (LinkKind.GENERATOR, "Prometheus graph"),
)
LATE_AFTER = 300  # seconds: a state change delivered later than this says so, loudly
MAX_VALUES = 10  # label values named per label in a group's line before "+N"
_SLACK_GROUP = re.compile(r"S[A-Z0-9]{2,20}")
_SOURCE_WORDS = {
    Source.CLOUDWATCH: "CloudWatch",
    Source.EVENTBRIDGE: "CloudWatch via EventBridge",
    Source.CLOUDWATCH_LAMBDA: "CloudWatch",
    Source.ALERTMANAGER: "Alertmanager",
}


def colour_for(severity: Severity, status: Status, *, suppressed: bool = False) -> str:
    """The colour bar: green resolved, grey no data or suppressed, else the severity's (red, orange, yellow, blue)."""
    if suppressed or status is Status.INSUFFICIENT_DATA:
        return SUPPRESSED_COLOUR if status is not Status.RESOLVED else COLOURS[status]
    if status is Status.RESOLVED:
        return COLOURS[status]
    return SEVERITY_COLOURS[severity]


def emoji_for(severity: Severity, status: Status, *, suppressed: bool = False) -> str:
    if status is Status.FIRING:
        return _SUPPRESSED if suppressed else _SEVERITY_EMOJI[severity]
    return _EMOJI[status]


def mention(group_id: str | None) -> str:
    """`<!subteam^S0123ABCD>`: a Slack user group mention *we* build from the configured id (never from alert text);
    "" when there is none or it is not an id."""
    return f"<!subteam^{group_id}>" if group_id and _SLACK_GROUP.fullmatch(group_id) else ""


def delivery_failed_notice(group: AlertGroup, reason: str, *, maybe_delivered: bool = False) -> str:
    """What the PagerDuty forwarder's fallback says when PagerDuty did not take an event (our words; `reason` is cut
    and escaped with the rest). `render_slack(..., notice=..., oncall_slack_group=...)` mentions the on-call."""
    reason = short_line(reason, 300)
    if maybe_delivered:
        what = "the resolve of this alert" if group.status is Status.RESOLVED else "this alert"
        return (
            f"PagerDuty's answer to {what} was lost ({reason}): it may or may not have been taken. Check PagerDuty; "
            "if no incident is open (or it is still open after the resolve), act by hand. The event is kept in the "
            "dead-letter queue and retried."
        )
    if group.status is Status.RESOLVED:
        return (
            f"PagerDuty did not take the resolve of this alert ({reason}). The incident may still be open: resolve it "
            "by hand. The event is kept in the dead-letter queue and retried."
        )
    return (
        f"PagerDuty did not take this alert ({reason}). Nobody may have been paged: page the on-call by hand. The "
        "event is kept in the dead-letter queue and retried."
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

    def raw(self, text: str) -> None:
        """A section of mrkdwn we wrote ourselves (its alert text already escaped and cut)."""
        if text and self.left >= len(text):
            self.left -= len(text)
            self.blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})


def render_slack(
    group: AlertGroup,
    *,
    now: datetime,
    max_listed: int = 10,
    notice: str | None = None,
    oncall_slack_group: str | None = None,
) -> dict[str, Any]:
    """The webhook body for one group, read on a phone's lock screen first: the push text (`text`) starts with what
    broke and where; the message, framed by a colour bar that follows the state and the severity, has a header with
    severity and state, the summary, a loud line when it is suppressed or arrived late, fields (where, metric,
    condition, times), reason, description, the alerts of a group (common labels once, runs compressed), and
    buttons. All blocks are inside the coloured attachment. `notice` (our words, not the alert's) opens the
    message, and `oncall_slack_group` (a user group id) is mentioned with it: the PagerDuty forwarder's fallback."""
    budget = _Budget()
    first = (group.firing or group.alerts)[0]
    suppressed = _suppressed(group)
    state = _state_word(group, suppressed)
    drill = "DRILL \u00b7 " if group.drill else ""
    mark = emoji_for(group.severity, group.status, suppressed=suppressed)
    if notice:
        mark = f"{_WARNING_SIGN} PagerDuty delivery failed \u00b7"
    header_text = f"{mark} {drill}{group.severity.value.upper()} \u00b7 {state}: {plain(group.title)}"
    header = truncate(one_line(header_text), MAX_HEADER, what="Slack header")
    budget.left -= len(header) + MAX_CONTEXT
    budget.blocks.append({"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}})
    ping = mention(oncall_slack_group) if notice else ""
    if notice:
        budget.raw(budget.mrkdwn(notice, 1000) + (f"\n{ping}" if ping else ""))

    single = group.source is not Source.ALERTMANAGER or len(group.alerts) == 1
    if suppressed:
        budget.raw(f"{_SUPPRESSED} {budget.mrkdwn(_suppression_line(group), 400)}")
    late = _late(group, first, now)
    if late:
        budget.raw(late)
    budget.section("", first.summary if single else _group_summary(group), 1000)
    if first.slo is not None:
        budget.section("SLO", _slo_text(first.slo), 600)
    fields = [f for f in _fields(group, first) if f[1]]
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
    if single:
        budget.section("Reason", plain_numbers(alarm_names(first.reason)), 1500)
        budget.section("Description", first.description, 2500)
        labels = (
            {k: v for k, v in first.labels.items() if k != "alertname"} if group.source is Source.ALERTMANAGER else {}
        )
        if labels:
            budget.section("Labels", _label_text(labels), 1000)
    else:
        common = _common_labels(group)
        shown = {k: v for k, v in common.items() if k != "alertname" or len({a.title for a in group.alerts}) > 1}
        if shown:
            budget.section("Common labels", _label_text(shown), 1000)
        _list_alerts(group, budget, min(max(max_listed, 1), MAX_LISTED), set(common))

    buttons = _buttons(group, first)
    if buttons:
        budget.blocks.append({"type": "actions", "elements": buttons})
    context = _context(group, first)
    budget.blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": fit_mrkdwn(context, MAX_CONTEXT)}]}
    )
    text = _push_text(group, first, suppressed, notice=bool(notice))
    if ping:
        text = truncate(f"{ping} {text}", MAX_TEXT, what="Slack text")
    colour = colour_for(group.severity, group.status, suppressed=suppressed)
    blocks = _unquoted(budget.blocks[:MAX_BLOCKS])
    return _framed(text, colour, header, blocks)


def _framed(text: str, colour: str, header: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """The header on top, everything else inside the coloured attachment, so the colour frames the body. With
    top-level blocks, Slack draws them and not `text`, which stays the push notification: with the header also
    inside the attachment, Slack would draw `text` above the card and the summary would show twice."""
    top = blocks[:1] if blocks and blocks[0].get("type") == "header" else []
    return {
        "text": text,
        "blocks": top,
        "attachments": [{"color": colour, "fallback": truncate(header, 300), "blocks": blocks[len(top) :]}],
    }


def _unquoted(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """No line of any mrkdwn text starts with `&gt;` (Slack draws it as a quote and the `>` is lost): the last
    guard, over text already escaped and cut (`no_quote` never lengthens it)."""
    for block in blocks:
        for item in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]:
            if isinstance(item, dict) and item.get("type") == "mrkdwn":
                item["text"] = no_quote(item["text"])
    return blocks


def message_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    """Every block of a rendered message, top-level and in its attachments, in the order Slack draws them."""
    blocks = list(message.get("blocks") or [])
    for attachment in message.get("attachments") or []:
        blocks.extend(attachment.get("blocks") or [])
    return blocks


def plain(text: str) -> str:
    """plain_text never pings, but keep `<!channel>` from even appearing: a zero-width space after each `<`."""
    return text.replace("<", "<\u200b")


def _suppressed(group: AlertGroup) -> bool:
    return group.status is not Status.RESOLVED and any(a.suppression for a in group.alerts)


def _suppression_line(group: AlertGroup) -> str:
    """`Actions suppressed by ServiceMaintenanceAlarm (wait period): CloudWatch ran no action for this state,
    nobody was paged`."""
    alert = next(a for a in group.alerts if a.suppression)
    why = _SUPPRESSIONS.get((alert.suppression or "").upper(), alert.suppression or "")
    by = f" by {alert.suppressed_by}" if alert.suppressed_by else ""
    return f"Actions suppressed{by} ({why}): CloudWatch ran no action for this state, nobody was paged"


def _state_word(group: AlertGroup, suppressed: bool = False) -> str:
    if group.source is Source.ALERTMANAGER:
        if group.status is Status.RESOLVED:
            return "RESOLVED"
        return f"FIRING ({format_count(len(group.firing))})" if len(group.alerts) > 1 else "FIRING"
    word = _CLOUDWATCH_STATE[group.status]
    return f"{word} (suppressed)" if suppressed else word


def _group_summary(group: AlertGroup) -> str:
    """What the group's alerts say: their shared summary, the common one, or the first one's and how many more."""
    summaries = {a.summary for a in group.alerts}
    if len(summaries) == 1 and group.alerts[0].summary:
        return group.alerts[0].summary
    common = group.common_annotations.get("summary") or group.common_annotations.get("message")
    if common:
        return common
    first = (group.firing or group.alerts)[0]
    more = len(group.alerts) - 1 + max(group.truncated_alerts, 0)
    return f"{first.summary} (and {format_count(more)} more)" if first.summary else ""


def _counts(group: AlertGroup) -> str:
    """`300 firing`, `298 firing, 2 resolved`, `+ 5 not sent by Alertmanager`: never a `0 resolved`."""
    parts = [f"{format_count(len(group.firing))} firing"] if group.firing else []
    if group.resolved:
        parts.append(f"{format_count(len(group.resolved))} resolved")
    if group.truncated_alerts > 0:
        parts.append(f"{format_count(group.truncated_alerts)} not sent by Alertmanager")
    return ", ".join(parts)


def _place(group: AlertGroup, first: Alert, *, lock_screen: bool = False) -> str:
    """Where, named: the account's alias (else its number) and the region; the environment when the alert names
    no account. On the lock screen a 12-digit number is never shown while the environment has a name."""
    account = first.account_name or first.account or group.environment
    if lock_screen and not first.account_name and group.environment:
        account = group.environment
    return " \u00b7 ".join(p for p in (account, first.region) if p)


def _fields(group: AlertGroup, first: Alert) -> list[tuple[str, str, bool]]:
    """(name, value, already-mrkdwn) for the fields section."""
    where = "Account \u00b7 Region" if first.account or not group.environment else "Environment"
    fields: list[tuple[str, str, bool]] = [(where, _place(group, first), False)]
    if group.source is Source.ALERTMANAGER:
        fields.append(("Receiver", group.receiver or "", False))
        if len(group.alerts) > 1 or group.truncated_alerts > 0:
            fields.append(("Alerts", _counts(group), False))
    if first.metric is not None:
        fields.append(("Metric", first.metric.describe(), False))
        fields.append(("Threshold", first.metric.describe_threshold(), False))
    starts = [a.starts_at for a in group.alerts if _known(a.starts_at)]
    start = min(starts, key=_epoch) if starts else None
    ends = [a.ends_at for a in group.alerts if _known(a.ends_at)]
    end = max(ends, key=_epoch) if ends and group.status is Status.RESOLVED else None
    if start is not None:
        label = "No data since" if group.status is Status.INSUFFICIENT_DATA else "Started"
        fields.append((label, _slack_date(start), True))
    if end is not None:
        fields.append(("Resolved", _slack_date(end), True))
        if start is not None and _same_zone(start, end) and end >= start:
            fields.append(("Lasted", format_duration((end - start).total_seconds()), False))
    return fields


def _known(moment: datetime | None) -> bool:
    return moment is not None and _epoch(moment) != float("inf")


def _same_zone(a: datetime, b: datetime) -> bool:
    return (a.tzinfo is None) == (b.tzinfo is None)


def _late(group: AlertGroup, first: Alert, now: datetime) -> str:
    """`⚠️ *This state change was delivered 11 days late*: it happened <date>.` when a CloudWatch state change
    arrives more than `LATE_AFTER` seconds after it happened (a redelivery, a backlog); "" otherwise. Alertmanager
    repeats firing alerts by design, so its start times say nothing about delivery."""
    if group.source is Source.ALERTMANAGER:
        return ""
    changed = first.ends_at if group.status is Status.RESOLVED else first.starts_at
    if changed is None or not _known(changed) or not _same_zone(changed, now):
        return ""
    try:
        delay = (now - changed).total_seconds()
    except OverflowError:
        return ""
    if delay <= LATE_AFTER:
        return ""
    words = f"This state change was delivered {_late_words(delay)} late"
    return f"{_WARNING_SIGN} *{words}*: it happened {_slack_date(changed)}."


def _late_words(seconds: float) -> str:
    """`11 days`, `1 day`, `3 hours`, `7 minutes`."""
    for size, word in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            count = int(seconds // size)
            return f"{format_count(count)} {word}{'' if count == 1 else 's'}"
    return f"{int(seconds)} seconds"


def _slo_text(slo: Slo) -> str:
    """`checkout-availability (objective 99.9 %) · window 1h/5m · burning 15.2x (alerts at 14.4x) · 35 % of the
    error budget left · pages`."""
    objective = f"{slo.objective!r}".removesuffix(".0") if slo.objective is not None else ""  # 99.9999, not 100
    parts = [slo.name + (f" (objective {objective} %)" if objective and "e" not in objective else "")]
    if slo.window:
        parts.append(f"window {slo.window}")
    if slo.observed_burn_rate is not None:
        burn = f"burning {format_number(slo.observed_burn_rate)}x"
        if slo.burn_rate is not None:
            burn += f" (alerts at {format_number(slo.burn_rate)}x)"
        parts.append(burn)
    elif slo.burn_rate is not None:
        parts.append(f"burn rate above {format_number(slo.burn_rate)}x")
    if slo.budget_left is not None:
        parts.append(f"{format_number(slo.budget_left)} % of the error budget left")
    if slo.action:
        parts.append({"page": "pages the on-call", "ticket": "opens a ticket"}.get(slo.action, slo.action))
    return " \u00b7 ".join(parts)


def _label_text(labels: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _common_labels(group: AlertGroup) -> dict[str, str]:
    """The labels every alert of the group shares: Alertmanager's `commonLabels`, else found from the alerts."""
    if group.common_labels:
        return dict(group.common_labels)
    alerts = group.alerts
    shared = dict(alerts[0].labels)
    for alert in alerts[1:]:
        shared = {k: v for k, v in shared.items() if alert.labels.get(k) == v}
        if not shared:
            break
    return shared


def _list_alerts(group: AlertGroup, budget: _Budget, limit: int, common: set[str]) -> None:
    """The group's alerts, those saying the same thing together: `🔴 *p99 latency above 2 s*` then, per label that
    differs, its values with runs compressed (`pod: checkout-0000 … 0009, +290`). Common labels are left out (they
    are shown once above); a link is listed per line only when the alerts do not share it."""
    ordered = list(group.firing) + list(group.resolved)
    lines: dict[tuple[Status, str, str], list[Alert]] = {}
    for alert in ordered:
        lines.setdefault((alert.status, alert.title, alert.summary), []).append(alert)
    shared = {kind: _shared_link(ordered, kind) for kind in (LinkKind.RUNBOOK, LinkKind.GENERATOR)}
    covered = 0
    for shown, ((status, title, summary), alerts) in enumerate(lines.items()):
        if shown >= limit or budget.left < 300 or len(budget.blocks) >= MAX_BLOCKS - 4:
            break
        mark = emoji_for(alerts[0].severity, status)
        named = title if title != group.title or not summary else ""
        line = ": ".join(p for p in (named, summary) if p) or title
        text = f"{mark} *{budget.mrkdwn(short_line(line, 400), 400)}*"
        detail = _differing(alerts, common)
        if detail:
            text += "\n" + budget.mrkdwn(detail, 600)
        link = _listed_link(alerts[0], shared)
        if link and budget.left > 500:
            text += f" {link}"
            budget.left -= len(link)
        budget.blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
        covered += len(alerts)
    hidden = len(ordered) - covered + max(group.truncated_alerts, 0)
    if hidden > 0:
        more = fit_mrkdwn(f"and {format_count(hidden)} more", MAX_CONTEXT)
        budget.blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})


def _differing(alerts: list[Alert], common: set[str]) -> str:
    """`pod: checkout-0000 … 0009, +290; instance: 10.0.0.1:9100`: each label not common to the group, its values
    (at most `MAX_VALUES`, runs compressed) and how many more."""
    values: dict[str, dict[str, None]] = {}
    for alert in alerts:
        for key, value in alert.labels.items():
            if key not in common and key != "alertname":
                values.setdefault(key, {})[value] = None
    if len(alerts) == 1:
        return ", ".join(f"{k}={v}" for k, found in sorted(values.items()) for v in found)
    parts = []
    for key, found in sorted(values.items()):
        names = sorted(found, key=_natural)
        listed = compress_runs(names[:MAX_VALUES])
        more = len(names) - MAX_VALUES
        parts.append(f"{key}: {listed}" + (f", +{format_count(more)}" if more > 0 else ""))
    return "; ".join(parts)


_DIGIT_RUN = re.compile(r"\d+")


def _natural(value: str) -> tuple[tuple[int, int | str], ...]:
    """Sorts `pod-2` before `pod-10`."""
    return tuple((0, int(part)) if part.isdigit() and len(part) < 20 else (1, part)
                 for part in re.split(r"(\d+)", value[:200]) if part)  # fmt: skip


def compress_runs(values: Sequence[str]) -> str:
    """`checkout-0000 … 0009` for ten names counting up in one number, others as they are, joined by commas: three
    or more consecutive values make a run."""
    pieces: list[str] = []
    index = 0
    while index < len(values):
        end = index
        where = None
        while end + 1 < len(values):
            step = _next_number(values[end], values[end + 1])
            if step is None or (where is not None and step != where):
                break
            where = step
            end += 1
        if end - index >= 2 and where is not None:
            last = values[end]
            prefix_len, suffix_len = where
            tail = last[prefix_len:] if suffix_len == 0 else last
            pieces.append(f"{values[index]} \u2026 {tail}")
            index = end + 1
        else:
            pieces.append(values[index])
            index += 1
    return ", ".join(pieces)


def _next_number(a: str, b: str) -> tuple[int, int] | None:
    """Where the number in `a` that, plus one, makes `b` (all else equal) sits: the lengths of what comes before and
    after it; None when there is no such number."""
    for match in _DIGIT_RUN.finditer(a[:200]):
        start, end = match.span()
        prefix, suffix = a[:start], a[end:]
        if len(b) < len(prefix) + len(suffix) or not b.startswith(prefix) or not b.endswith(suffix):
            continue
        middle = b[start : len(b) - len(suffix)]
        if not middle.isdigit() or len(middle) > 18 or len(match.group()) > 18:
            continue
        if int(middle) == int(match.group()) + 1 and (len(middle) == end - start or not match.group().startswith("0")):
            return (start, len(a) - end)
    return None


def _shared_link(alerts: list[Alert], kind: LinkKind) -> bool:
    """Whether every alert has the same link of this kind (then the buttons carry it once)."""
    urls = {link.url if (link := a.link(kind)) is not None else None for a in alerts}
    return len(urls) == 1


def _listed_link(alert: Alert, shared: Mapping[LinkKind, bool]) -> str:
    """The alert's runbook (else its graph) as a mrkdwn link, when the alerts do not all share it; empty when
    neither has a short http(s) URL."""
    for kind in (LinkKind.RUNBOOK, LinkKind.GENERATOR):
        if shared.get(kind):
            continue
        link = alert.link(kind)
        url = safe_url(link.url, MAX_LISTED_URL, what="listed link") if link is not None else None
        if link is not None and url is not None:
            return mrkdwn_link(url, truncate(one_line(link.text), MAX_BUTTON_TEXT))
    return ""


def _buttons(group: AlertGroup, first: Alert) -> list[dict[str, Any]]:
    buttons: list[dict[str, Any]] = []
    for kind, text in _BUTTONS:
        if kind is LinkKind.SILENCE and group.status is Status.RESOLVED:
            continue  # nothing left to silence
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
    parts = [_SOURCE_WORDS[group.source]]
    if group.environment:
        parts.append(f"forwarded by {group.environment}")
    if first.account and first.account_name:
        parts.append(f"account {first.account}")  # the number, once, for whoever needs it
    if first.metric is not None and first.metric.treat_missing_data:
        parts.append(f"missing data: {first.metric.treat_missing_data}")
    parts.append(f"message {group.message_id}")
    return " \u00b7 ".join(parts)


def _push_text(group: AlertGroup, first: Alert, suppressed: bool, *, notice: bool) -> str:
    """The notification text, read on a lock screen (about 110 characters show): what broke and where first,
    `🔴 prod-db-cpu: CPUUtilization 97.5 % (alarm above 90 %) on orders-db · shop-prod · us-east-1`; a group
    names its first alert and what differs: `🔴 HighLatency (300 firing): p99 above 2 s · pod=checkout-0000 and 299
    more · shop-prod`. Escaped like everything else."""
    prefix = "PagerDuty delivery failed: " if notice else ""
    drill = "DRILL: " if group.drill else ""
    mark = emoji_for(group.severity, group.status, suppressed=suppressed)
    place = _place(group, first, lock_screen=True)
    if group.source is Source.ALERTMANAGER and len(group.alerts) > 1:
        head = f"{group.title} ({_counts(group)})"
        what = first.summary
        differing = _differing([first], set(_common_labels(group)))
        more = len(group.alerts) - 1 + max(group.truncated_alerts, 0)
        if differing:
            what += f" \u00b7 {differing}" + (f" and {format_count(more)} more" if more else "")
        elif more:
            what += f" (and {format_count(more)} more)"
    else:
        head = group.title
        what = first.summary
        if group.source is Source.ALERTMANAGER and group.status is Status.RESOLVED:
            head += " resolved"
    if suppressed:
        alert = next(a for a in group.alerts if a.suppression)
        head += f" (suppressed{' by ' + alert.suppressed_by if alert.suppressed_by else ''})"
    text = f"{prefix}{drill}{mark} {head}" + (f": {what}" if what else "") + (f" \u00b7 {place}" if place else "")
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
    oncall_slack_group: str | None = None,
) -> dict[str, Any]:
    """One webhook body for many groups that arrived together on one channel (a storm), read on a phone: a header
    with the counts, counts by severity and by service, the first `max_listed` firing alerts (most severe first, then
    oldest) with their links, every other firing alert named by service (bounded: "and N more"), the resolves, and
    the alerts that fired and resolved within this digest. `groups` come oldest first and may hold several states of
    one alert (the same group dedup key and alert id): the newest state counts. Within every Slack limit whatever
    the input; linear in the number of alerts (plus a sort), reading a bounded prefix of each alert's text.
    `notice` (our words, as in `render_slack`) opens the message, mentioning `oncall_slack_group`: the PagerDuty
    forwarder's fallback uses it."""
    digest = _digest(groups)
    budget = _Budget()
    active = digest.firing + digest.no_data
    resolved_count = len(digest.resolved) + len(digest.flapped)
    counts = _digest_counts(len(digest.firing), resolved_count, len(digest.no_data))
    status = Status.FIRING if digest.firing else Status.INSUFFICIENT_DATA if digest.no_data else Status.RESOLVED
    mark = "\u26a0\ufe0f PagerDuty delivery failed \u00b7" if notice else _STORM if digest.firing else _EMOJI[status]
    drill = "DRILL \u00b7 " if digest.drill else ""
    named = f" \u00b7 {short_line(title, MAX_HEADER)}" if title else ""
    everyone = active or digest.resolved + digest.flapped
    worst = max((e.alert.severity for e in everyone), key=lambda s: s.rank) if everyone else None
    severity = f"{worst.value.upper()} \u00b7 " if worst is not None else ""
    header = truncate(one_line(plain(f"{mark} {drill}{severity}{counts}{named}")), MAX_HEADER, what="Slack header")
    budget.left -= len(header) + _CONTEXT_ROOM
    budget.blocks.append({"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}})
    ping = mention(oncall_slack_group) if notice else ""
    if notice:
        budget.raw(budget.mrkdwn(notice, 1000) + (f"\n{ping}" if ping else ""))

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
    blocks = _unquoted([*budget.blocks[: MAX_BLOCKS - 1], colour_bar])
    text = _digest_fallback(digest, counts, title, "PagerDuty delivery failed: " if notice else "")
    if ping:
        text = truncate(f"{ping} {text}", MAX_TEXT, what="Slack text")
    return _framed(text, colour_for(worst or Severity.INFO, status), header, blocks)


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
    where = [entry.service, *(short_line(p, 40) for p in (alert.account_name or alert.account, alert.region) if p)]
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
    text = prefix + ("DRILL: " if digest.drill else "") + counts
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
        text += f"; first: {_SEVERITY_EMOJI[first.alert.severity]} {first.name}"
        summary = short_line(first.alert.summary, 120)
        text += f": {summary}" if summary and summary != first.name else ""
    return fit_mrkdwn(one_line(text), MAX_TEXT, what="Slack text")
