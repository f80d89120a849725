"""Actions and PagerDuty events into the alert's Slack thread, through the thread store, render_thread and slack_api.

The key a click carries is the thread's own short key (`Thread.key`, `threads.thread_key`: `<channel>.<32 hex>`,
which fits a select option's 150 characters); `ThreadStore.find_by_key` reads the thread back.

`ThreadTargets`: a click's `ActionTarget` from its thread (dedup key and PagerDuty secret, group matchers, alarm
names, silence id, mute rule). `SlackThreadPoster`: records the event in the thread store, replies in the thread
(`render_reply`, `chat.postMessage` with `thread_ts`) and edits the parent (`render_parent`, `chat.update`) with the
elements of the new state. The parent's body comes from the click (Slack sends the message it was clicked on);
for a PagerDuty event `parent_message_for` gives it (the wiring: the rendered parent the forwarder keeps), and
without one only the reply is posted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alertlib.actions import ActionResult, ActionTarget
from alertlib.deliver import Deadline
from alertlib.models import Status
from alertlib.observability import logger
from alertlib.pagerduty_webhooks import IncidentEvent
from alertlib.render_thread import render_parent, render_reply
from alertlib.slack_actions import Action, ActionKind, ActionState, action_elements
from alertlib.slack_api import AppCredentials, SlackApi
from alertlib.threads import Actor, EventKind, Thread, ThreadEvent, ThreadStore, unpack_parent

_EVENTS = {
    ActionKind.ACKNOWLEDGE: EventKind.ACKNOWLEDGED,
    ActionKind.SILENCE: EventKind.SILENCED,
    ActionKind.UNSILENCE: EventKind.UNSILENCED,
    ActionKind.MUTE: EventKind.MUTED,
    ActionKind.UNMUTE: EventKind.UNMUTED,
}
_PAGERDUTY_EVENTS = {
    "incident.acknowledged": EventKind.ACKNOWLEDGED,
    "incident.resolved": EventKind.RESOLVED,
    "incident.reassigned": EventKind.REASSIGNED,
    "incident.escalated": EventKind.ESCALATED,
}


def target_from_thread(
    thread: Thread, *, environment: str, pagerduty_secret_for: Callable[[str], str | None]
) -> ActionTarget:
    meta, state = thread.meta, thread.state
    labels = tuple((m.name, m.value) for m in meta.matchers if m.is_equal and not m.is_regex)
    return ActionTarget(
        thread_key=thread.key,
        environment=environment,
        pagerduty_secret=pagerduty_secret_for(meta.routing) if meta.dedup_key else None,
        dedup_key=meta.dedup_key,
        group_labels=labels,
        alarm_names=meta.alarm_names,
        silence_id=state.silence_id,
        mute_rule=state.mute_reference,
        resolved=state.status is Status.RESOLVED,
    )


@dataclass
class ThreadTargets:
    """`find_target` of the worker: the click's thread in the store, as an `ActionTarget`."""

    store: ThreadStore
    environment: str
    pagerduty_secret_for: Callable[[str], str | None] = lambda routing: routing or None

    def __call__(self, action: Action) -> ActionTarget | None:
        thread = self.store.find_by_key(action.thread_key)
        if thread is None or thread.channel != action.channel_id:  # a key is only good in its own channel
            return None
        return target_from_thread(thread, environment=self.environment, pagerduty_secret_for=self.pagerduty_secret_for)


def action_event(action: Action, result: ActionResult, now: datetime) -> ThreadEvent:
    """The thread event of a successful action."""
    return ThreadEvent(
        kind=_EVENTS[action.kind],
        at=now,
        actor=Actor.of(action.user_id, action.user_name),
        until=result.until,
        reference=result.silence_id or result.mute_rule,
        id=f"slack:{action.user_id}:{action.action_ts}:{action.kind.value}",
    )


def pagerduty_event(event: IncidentEvent, now: datetime) -> ThreadEvent:
    assignees = ", ".join(event.assignees)
    return ThreadEvent(
        kind=_PAGERDUTY_EVENTS[event.event_type],
        at=_when(event.occurred_at) or now,
        actor=Actor.of(name=event.agent) if event.agent else None,
        target=Actor.of(name=assignees) if assignees else None,
        reference=event.incident_id,
        id=f"pagerduty:{event.event_id}" if event.event_id else None,
    )


def _when(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def action_state(thread: Thread, now: datetime) -> ActionState:
    """What the parent's elements should offer now."""
    meta, state = thread.meta, thread.state
    return ActionState(
        thread_key=thread.key,
        paged=bool(meta.dedup_key and meta.routing),
        alertmanager=meta.source == "alertmanager" and bool(meta.matchers),
        cloudwatch=bool(meta.alarm_names),
        resolved=state.status is Status.RESOLVED,
        acknowledged=state.acknowledged_at is not None,
        silenced=state.silenced(now),
        muted=state.muted(now),
    )


@dataclass
class SlackThreadPoster:
    """The worker's `post_to_thread`: record, reply, edit the parent. Failures raise (slack_api's errors)."""

    api: SlackApi
    store: ThreadStore
    credentials_for: Callable[[str], AppCredentials]  # channel -> the Slack app route's bot token
    channels: Sequence[str] = ()  # the Slack app channels, where a PagerDuty dedup key's threads are looked for
    # The parent's own message when the note carries none (a PagerDuty webhook): the one kept in the thread item.
    parent_message_for: Callable[[Thread], Mapping[str, Any] | None] = lambda thread: unpack_parent(thread.parent)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def __call__(self, note: Any, deadline: Deadline) -> None:
        event: ThreadEvent | None = note.event
        if event is None:
            return
        for thread in self._threads(note):
            # A retried job (a failed edit, a lost answer) finds its event recorded: replied already, not again.
            replied = bool(event.id) and any(e.id == event.id for e in thread.history)
            updated = self.store.record(thread.alert, thread.channel, event)
            if updated is None or not updated.ts:
                logger.warning("thread gone or its parent not posted", extra={"channel": thread.channel})
                continue
            credentials = self.credentials_for(updated.channel)
            if not replied:
                reply = render_reply(event, updated.state)
                self.api.post_message(
                    credentials.token, updated.channel, text=reply["text"], blocks=reply["blocks"],
                    thread_ts=updated.ts, deadline=deadline,
                )  # fmt: skip
            message = note.message if note.message else self.parent_message_for(updated)
            if not message:
                logger.info("parent not edited: its body is not known", extra={"channel": updated.channel})
                continue
            now = self.clock()
            try:
                block = action_elements(action_state(updated, now))
            except ValueError:  # a thread stored under a key unfit for a value: no buttons rather than no edit
                block = None
            try:
                parent = render_parent(message, updated.state, now=now, actions=(block or {}).get("elements", []))
            except (TypeError, ValueError, AttributeError) as exc:  # a parent body of an unexpected shape
                logger.warning("parent not edited: its body is unreadable", extra={"reason": type(exc).__name__})
                continue
            self.api.update_message(
                credentials.token, updated.channel, updated.ts, text=parent["text"], blocks=parent.get("blocks"),
                attachments=parent.get("attachments"), deadline=deadline,
            )  # fmt: skip

    def _threads(self, note: Any) -> list[Thread]:
        if note.thread_key:
            thread = self.store.find_by_key(note.thread_key)
            return [thread] if thread is not None and thread.channel == note.channel else []
        found = []
        for channel in self.channels:
            thread = self.store.find_by_dedup(note.dedup_key, channel) if note.dedup_key else None
            if thread is not None:
                found.append(thread)
        return found


def parent_from_click(message_json: str) -> dict[str, Any] | None:
    """The parent message a click came from (its blocks and attachments), or None."""
    if not message_json:
        return None
    try:
        message = json.loads(message_json)
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    return {k: message[k] for k in ("text", "blocks", "attachments") if k in message}
