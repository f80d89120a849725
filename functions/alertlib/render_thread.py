"""Render, Slack app mode: the replies in an alert's thread and the parent's status (issue 11). Pure and deterministic.

`render_reply` turns one `ThreadEvent` into a short thread reply: "Resolved after 17 min", "Acknowledged by @ana
03:12", "Silenced for 4 h by @ana, until 07:12", "Reassigned to Bo Li". A Slack user is named by a mention we build
from a checked id (`<@U123>`), never from alert or event text; every other word that came from outside (a
PagerDuty user's name, a detail) is escaped for mrkdwn and cut (`text.fit_mrkdwn`). Times are Slack date tokens,
shown in each reader's time zone, with a UTC fallback.

`render_parent` takes the parent message as `render_slack` made it and the thread's current state, and returns it
with a status context line under the header ("Acknowledged by @ana 03:12 · Silenced until 07:12"), the colour of the
current state, and the caller's interactive elements (acknowledge, silence, mute: built by `slack_actions`) in
actions blocks of at most 25, within every Slack limit: 50 blocks with the attachments' blocks, 10 elements per
context, unique action ids, 4,000 characters of text for `chat.update`.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from alertlib.models import Status
from alertlib.render_slack import COLOURS, SUPPRESSED_COLOUR
from alertlib.text import fit_mrkdwn, one_line, truncate
from alertlib.threads import SLACK_USER_ID, Actor, EventKind, ThreadEvent, ThreadState

logger = logging.getLogger(__name__)

MAX_BLOCKS = 50
MAX_ACTIONS = 25  # elements of one actions block
MAX_ACTION_BLOCKS = 2
MAX_STATUS = 500  # characters of the status line (Slack allows 3000 per context element)
MAX_REPLY = 1000  # characters of a reply's line
MAX_NAME = 80
MAX_TEXT = 4000  # chat.update refuses more with msg_too_long
BLOCK_PREFIX = "thread-"  # block ids of what this module adds; replaced, never doubled, on each edit
# Blocks replaced on each edit: ours, and the actions block `slack_actions.action_elements` makes (its BLOCK_ID).
REPLACED_BLOCKS = (BLOCK_PREFIX, "alert-actions")
STATUS_BLOCK = "thread-status"
SEPARATOR = " \u00b7 "
ACKNOWLEDGED_COLOUR = "#7E57C2"
QUIET_COLOUR = SUPPRESSED_COLOUR  # silenced or muted: someone chose not to hear it for now
_ELEMENT_TYPES = frozenset({"button", "static_select", "overflow", "users_select", "external_select", "datepicker"})
_MARK = {
    EventKind.FIRED: "\U0001f534",
    EventKind.REFIRED: "\U0001f534",
    EventKind.RESOLVED: "\u2705",
    EventKind.ACKNOWLEDGED: "\U0001f440",
    EventKind.SILENCED: "\U0001f515",
    EventKind.UNSILENCED: "\U0001f514",
    EventKind.MUTED: "\U0001f507",
    EventKind.UNMUTED: "\U0001f50a",
    EventKind.REPEATED: "\U0001f501",
    EventKind.ESCALATED: "\u23eb",
    EventKind.REASSIGNED: "\u21aa\ufe0f",
}


# -- pieces -------------------------------------------------------------------------------------------------------


def mention(actor: Actor | None) -> str:
    """`<@U123>` for a Slack user (the id checked by `Actor.of`), else the escaped name, else "someone"."""
    if actor is not None and actor.slack_id and SLACK_USER_ID.fullmatch(actor.slack_id):
        return f"<@{actor.slack_id}>"
    if actor is not None and actor.name:
        return fit_mrkdwn(one_line(actor.name), MAX_NAME, what="actor name") or "someone"
    return "someone"


def clock_time(moment: datetime, now: datetime | None = None) -> str:
    """`03:12` as a Slack date token (each reader's own time zone), with `03:12 UTC` as its fallback; the date
    too when it is not `now`'s day (a 24 h silence ends tomorrow)."""
    try:
        utc = moment.astimezone(UTC)
        seconds = int(moment.timestamp())
    except (OverflowError, ValueError, OSError):
        return fit_mrkdwn(moment.isoformat(), 40)
    same_day = now is None or utc.date() == now.astimezone(UTC).date()
    if same_day:
        return f"<!date^{seconds}^{{time}}|{utc:%H:%M} UTC>"
    return f"<!date^{seconds}^{{date_short}} {{time}}|{utc:%b} {utc.day} {utc:%H:%M} UTC>"


def duration(seconds: float) -> str:
    """`45 s`, `17 min`, `4 h`, `1 h 30 min`, `2 d 3 h`."""
    total = max(round(seconds), 0)
    if total < 60:
        return f"{total} s"
    minutes = total // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    days, hours = divmod(hours, 24)
    return f"{days} d" + (f" {hours} h" if hours else "")


def _ordinal(count: int) -> str:
    suffix = "th" if 10 <= count % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(count % 10, "th")
    return f"{count}{suffix}"


# -- replies ------------------------------------------------------------------------------------------------------


def reply_line(event: ThreadEvent, state: ThreadState) -> str:
    """The reply's words, mrkdwn (escaped where they came from outside). `state` is the state after the event."""
    kind, at = event.kind, event.at
    who = mention(event.actor)
    when = clock_time(at)
    if kind is EventKind.FIRED:
        line = f"Firing since {when}"
    elif kind is EventKind.REFIRED:
        times = f" ({_ordinal(state.fired_count)} time)" if state.fired_count > 1 else ""
        line = f"Firing again{times} at {when}"
    elif kind is EventKind.RESOLVED:
        line = "Resolved"
        if event.actor is not None:
            line += f" by {who}"
        if state.fired_at is not None:
            line += f" after {duration((at - state.fired_at).total_seconds())}"
    elif kind is EventKind.ACKNOWLEDGED:
        line = f"Acknowledged by {who} {when}"
    elif kind in (EventKind.SILENCED, EventKind.MUTED):
        verb = "Silenced" if kind is EventKind.SILENCED else "Muted"
        if event.until is not None:
            lasting = duration((event.until - at).total_seconds())
            line = f"{verb} for {lasting} by {who}, until {clock_time(event.until, at)}"
        else:
            line = f"{verb} by {who} {when}"
    elif kind is EventKind.UNSILENCED:
        line = f"Silence removed by {who} {when}"
    elif kind is EventKind.UNMUTED:
        line = f"Unmuted by {who} {when}"
    elif kind is EventKind.REPEATED:
        line = "Still firing"
        if state.fired_at is not None:
            line += f", for {duration((at - state.fired_at).total_seconds())}"
    elif kind is EventKind.ESCALATED:
        line = f"Escalated to {mention(event.target)}" if event.target is not None else f"Escalated {when}"
    else:  # REASSIGNED
        line = f"Reassigned to {mention(event.target)}" if event.target is not None else f"Reassigned {when}"
    if event.detail:
        line += SEPARATOR + fit_mrkdwn(one_line(event.detail), 300, what="event detail")
    return truncate(f"{_MARK[kind]} {line}", MAX_REPLY, what="thread reply")


def render_reply(event: ThreadEvent, state: ThreadState) -> dict[str, Any]:
    """The `chat.postMessage` body of a thread reply (without channel and thread_ts): text and one section."""
    line = reply_line(event, state)
    return {"text": line, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": line}}]}


# Which replies are also shown in the channel (`reply_broadcast`), per route; by default only an alert firing again
# after it resolved is news for the channel; a resolve, an acknowledgement or a silence are seen on the parent.
DEFAULT_TO_CHANNEL = frozenset({EventKind.REFIRED})


def to_channel(kinds: Iterable[str]) -> frozenset[EventKind]:
    """A route's setting (`["refired", "resolved"]`) as event kinds; a name that is not one is a `ValueError`
    naming it and the names allowed (config validation says it in one line)."""
    chosen: set[EventKind] = set()
    for name in kinds:
        try:
            chosen.add(EventKind(str(name).strip().lower()))
        except ValueError:
            allowed = ", ".join(k.value for k in EventKind)
            raise ValueError(f"unknown thread event {str(name)[:40]!r}: use one of {allowed}") from None
    return frozenset(chosen)


def broadcast(kind: EventKind, chosen: frozenset[EventKind] = DEFAULT_TO_CHANNEL) -> bool:
    """Whether a reply of `kind` is also shown in the channel."""
    return kind in chosen


# -- the parent ---------------------------------------------------------------------------------------------------


def status_line(state: ThreadState, now: datetime) -> str:
    """`Acknowledged by @ana 03:12 · Silenced until 07:12`; a firing alert nobody has taken says so."""
    parts: list[str] = []
    if state.status is Status.RESOLVED:
        lasted = (
            f" after {duration((state.resolved_at - state.fired_at).total_seconds())}"
            if state.resolved_at is not None and state.fired_at is not None
            else ""
        )
        parts.append(f"Resolved{lasted}")
    if state.acknowledged_at is not None:
        parts.append(f"Acknowledged by {mention(state.acknowledged_by)} {clock_time(state.acknowledged_at, now)}")
    if state.assigned_to is not None:
        parts.append(f"Assigned to {mention(state.assigned_to)}")
    if state.silenced(now) and state.silenced_until is not None:
        parts.append(f"Silenced until {clock_time(state.silenced_until, now)} by {mention(state.silenced_by)}")
    if state.muted(now) and state.muted_until is not None:
        parts.append(f"Muted until {clock_time(state.muted_until, now)} by {mention(state.muted_by)}")
    if not parts and state.status is Status.FIRING:
        parts.append("Not acknowledged")
    return truncate(SEPARATOR.join(parts), MAX_STATUS, what="status line")


def thread_colour(state: ThreadState, now: datetime, firing: str | None = None) -> str:
    """Resolved green; silenced or muted grey (as render_slack greys a suppressed alarm: nobody is paged);
    acknowledged purple (someone has it; no severity uses it); otherwise `firing`, the message's own colour (its
    severity's), else red; no data grey."""
    if state.status is Status.RESOLVED:
        return COLOURS[Status.RESOLVED]
    if state.silenced(now) or state.muted(now):
        return QUIET_COLOUR
    if state.acknowledged_at is not None:
        return ACKNOWLEDGED_COLOUR
    if state.status is Status.FIRING and firing:
        return firing
    return COLOURS[state.status]


def render_parent(
    message: Mapping[str, Any],
    state: ThreadState,
    *,
    now: datetime,
    actions: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The parent as `chat.update` should make it: `message` (render_slack's body, not changed; its header at the
    top level and its body inside its first attachment, or all its blocks at one of those places) with the status
    line under its header,
    the current colour, and `actions` (interactive elements) after its blocks. What an earlier call added is
    replaced, not doubled. Within 50 blocks in all: the message's own sections give way first (from the end),
    never its header, its link buttons, the status or the actions."""
    top = [copy.deepcopy(b) for b in message.get("blocks") or () if isinstance(b, dict)]
    attachments = [copy.deepcopy(dict(a)) for a in message.get("attachments") or () if isinstance(a, dict)]
    if not attachments:
        attachments = [{"fallback": truncate(str(message.get("text") or ""), 300)}]
    # render_slack draws the header on top and the body inside the coloured attachment: the status and the actions
    # go into the attachment (right under the header); a message with only top-level blocks gets them there.
    inside = bool(attachments[0].get("blocks"))
    own = [b for b in (attachments[0].get("blocks") or [] if inside else top) if isinstance(b, dict) and not _ours(b)]
    firing = attachments[0].get("color")
    attachments[0]["color"] = thread_colour(state, now, firing if isinstance(firing, str) else None)
    status = {
        "type": "context",
        "block_id": STATUS_BLOCK,
        "elements": [{"type": "mrkdwn", "text": status_line(state, now)}],
    }
    taken = {str(e.get("action_id")) for b in own if b.get("type") == "actions" for e in b.get("elements") or ()}
    action_blocks = _action_blocks(actions, taken)
    outside = len(top) if inside else len(attachments[0].get("blocks") or ())  # blocks beside the container
    others = outside + sum(len(a.get("blocks") or ()) for a in attachments[1:])
    room = MAX_BLOCKS - others - 1 - len(action_blocks)
    own = _fit(own, room)
    at = 1 if own and own[0].get("type") == "header" else 0
    blocks = [*own[:at], status, *own[at:], *action_blocks]
    text = truncate(str(message.get("text") or ""), MAX_TEXT, what="Slack text") or status_line(state, now)
    if inside:
        attachments[0]["blocks"] = blocks
        return (
            {"text": text, "blocks": top, "attachments": attachments}
            if top
            else {"text": text, "attachments": attachments}
        )
    return {"text": text, "blocks": blocks, "attachments": attachments}


def _ours(block: Mapping[str, Any]) -> bool:
    return str(block.get("block_id") or "").startswith(REPLACED_BLOCKS)


def _action_blocks(actions: Sequence[Mapping[str, Any]], taken: set[str]) -> list[dict[str, Any]]:
    """The elements (given alone, or in actions blocks as `slack_actions.action_elements` makes one) in actions
    blocks of at most 25, at most `MAX_ACTION_BLOCKS` of them; an element of an unknown type or whose action_id is
    already used is left out (Slack would refuse the whole message)."""
    elements: list[dict[str, Any]] = []
    flat: list[Mapping[str, Any]] = []
    for given in actions:
        inner = given.get("elements") if given.get("type") == "actions" else None
        if isinstance(inner, list):
            flat.extend(e for e in inner if isinstance(e, Mapping))
        else:
            flat.append(given)
    for element in flat:
        action_id = str(element.get("action_id") or "")
        if element.get("type") not in _ELEMENT_TYPES or not action_id or action_id in taken:
            logger.warning("left out an interactive element", extra={"type": str(element.get("type"))[:40]})
            continue
        taken.add(action_id)
        elements.append(copy.deepcopy(dict(element)))
    most = MAX_ACTIONS * MAX_ACTION_BLOCKS
    if len(elements) > most:
        logger.warning("left out interactive elements", extra={"elements": len(elements), "kept": most})
        elements = elements[:most]
    return [
        {
            "type": "actions",
            "block_id": f"{BLOCK_PREFIX}actions-{index // MAX_ACTIONS}",
            "elements": elements[index : index + MAX_ACTIONS],
        }
        for index in range(0, len(elements), MAX_ACTIONS)
    ]


def _fit(blocks: list[dict[str, Any]], room: int) -> list[dict[str, Any]]:
    """At most `room` blocks: sections and contexts are left out from the end; the header and actions stay."""
    room = max(room, 0)
    if len(blocks) <= room:
        return blocks
    dropped: set[int] = set()
    for index in range(len(blocks) - 1, -1, -1):
        if len(blocks) - len(dropped) <= room:
            break
        if blocks[index].get("type") not in ("header", "actions"):
            dropped.add(index)
    logger.debug("left out %d blocks of the parent for its status and actions", len(dropped))
    return [b for i, b in enumerate(blocks) if i not in dropped][:room]
