"""Deliver, Slack app mode: one thread per alert and channel (issue 11), for the Slack forwarder.

A Slack route whose secret is named in `SLACK_APPS` holds a bot token and a channel id instead of a webhook URL.
`SlackAppSender.deliver` sends one alert group there:

- the first event of an alert (`AlertGroup.key`, the alarm ARN or the Alertmanager group key) *claims* its thread
  (`ThreadStore.claim`), posts the parent (`render_slack`'s message with the status line and the action buttons,
  `render_parent`), attaches its ts; then, for a firing CloudWatch metric alarm, uploads the graph into the thread
  (inline, after the post: the message never waits for it; any failure is logged and counted `GraphFailed`);
- a post that fails with nothing delivered releases the claim (the retry claims at once); one whose answer was
  lost (`maybe_delivered`) keeps it, and `threads.STALE_CLAIM` later a retry takes it over (a second parent then
  beats none);
- while another invocation is posting the parent (`ClaimOutcome.PENDING`) the event fails transiently
  (`ThreadPendingError`) and its record is received again;
- every later event is recorded in the thread (idempotent by the SNS MessageId), replied in the thread
  (`render_reply`, also in the channel for the route's `to_channel` kinds) and the parent is edited (`chat.update`)
  to show the current state. A reply goes at most once per record through the forwarder's idempotency store when
  it has one; without one, a record retried after its event was recorded is not replied again (the edited parent
  shows it);
- a parent that is gone (deleted: `message_not_found`, ...) gets a new parent posted in the channel with the
  event rather than the event lost (`ThreadParentLost`); the thread item keeps the old ts (the store cannot move a
  thread), so the alert's later events do the same;
- the thread table failing (a claim or a record) does not hold the alert back: it is posted into the channel as a
  webhook shows it (`ThreadStoreFailed`), at most once per record;
- an INSUFFICIENT_DATA state, and a digest of several alerts, are channel messages (`post`), no thread; after a
  digest, the parents of its alerts that have a thread are edited to their new state (`after_digest`, bounded).

Errors are `slack_api`'s (delivery errors: transient or permanent) and `ConfigurationError` for a bad secret, so
that `forward.Forwarder` fails, retries and parks them as it does for webhooks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from alertlib.deliver import Deadline, Delivered, Destination, SecretSource, powertools_secret
from alertlib.errors import ConfigurationError, DeliveryError, TransientDeliveryError
from alertlib.graph import GRAPH_FAILED, render_graph
from alertlib.models import AlertGroup, Source, Status
from alertlib.observability import logger
from alertlib.reliability import state_changed_at
from alertlib.render_thread import DEFAULT_TO_CHANNEL, broadcast, render_parent, render_reply
from alertlib.slack_actions import action_elements
from alertlib.slack_api import AppCredentials, SlackApi, SlackPermanentError, read_credentials, with_credentials
from alertlib.threads import (
    ClaimOutcome,
    EventKind,
    Thread,
    ThreadEvent,
    ThreadMeta,
    ThreadStore,
    ThreadStoreError,
    matchers_from_labels,
)

if TYPE_CHECKING:
    from alertlib.observability import Counters
    from alertlib.settings import Settings

THREAD_PARENT_LOST = "ThreadParentLost"  # the parent was gone: a new one was posted with the event
PARENT_UPDATE_FAILED = "ParentUpdateFailed"  # the reply went, the parent could not be edited (a permanent refusal)
GRAPHS_SENT = "GraphsSent"
THREAD_STORE_FAILED = "ThreadStoreFailed"  # the thread table failed: the alert went into the channel, unthreaded
# Slack's answers that say the parent message is not there any more.
PARENT_GONE = frozenset({"message_not_found", "thread_not_found", "invalid_thread_ts", "cant_update_message"})
# Slack's answers that refuse the body itself (as HTTP 400 does for a webhook): sending it again cannot help.
BODY_REFUSED = frozenset(
    {"invalid_blocks", "invalid_blocks_format", "msg_too_long", "msg_blocks_too_long", "too_many_attachments",
     "no_text", "invalid_attachments"}
)  # fmt: skip
UPLOAD_SECONDS = 3.0  # what the upload needs beside the graph's own GRAPH_SECONDS
MAX_DIGEST_EDITS = 10  # thread parents brought up to date after one digest (chat.update is Tier 3: ~50 a minute)
DIGEST_EDIT_SECONDS = 5.0  # no parent edit starts with less of the invocation left
_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")

Post = Callable[[str, dict[str, Any]], Delivered]  # (part, body) -> posted into the route's channel


class LazyGraphClient:
    """`graph.graph_client()`, made on the first graph rather than at the cold start (most invocations draw none).
    Its failure to be made is a `BotoCoreError`, which `render_graph` logs and counts like any other."""

    def __init__(self) -> None:
        self._client: Any = None

    def get_metric_widget_image(self, **arguments: Any) -> Any:
        if self._client is None:
            from alertlib.graph import graph_client

            self._client = graph_client()
        return self._client.get_metric_widget_image(**arguments)


class ThreadPendingError(TransientDeliveryError):
    """Another invocation is posting this alert's parent right now: the event is tried again shortly."""


@dataclass
class SlackAppSender:
    """The app routes of one Slack forwarder. `apps`: secret name -> the kinds whose replies go to the channel too.
    `graphs`: a CloudWatch client for `GetMetricWidgetImage` (`graph.graph_client`), None for no graphs."""

    api: SlackApi
    store: ThreadStore | None  # None: channel messages only (the PagerDuty forwarder's fallback notice)
    apps: Mapping[str, frozenset[EventKind]]
    graphs: Any = None
    secret_source: SecretSource = field(default=powertools_secret)
    actions: bool = True  # the parents offer the alert actions (False: no endpoint answers them, `SLACK_ACTIONS`)

    @classmethod
    def from_settings(cls, settings: Settings, *, threads: bool = True) -> SlackAppSender | None:
        """The sender `SLACK_APPS`, `THREAD_TABLE` and `SLACK_API_URL` describe; None without app routes. With
        `threads` (the Slack forwarder) THREAD_TABLE is required; without, only channel messages are posted."""
        if not settings.slack_apps:
            return None
        if threads and not settings.thread_table:
            raise ConfigurationError(
                "THREAD_TABLE is not set: SLACK_APPS names Slack app routes, whose threads it keeps"
            )
        api = SlackApi(
            api_url=settings.slack_api_url,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            retries=settings.retries,
        )
        store = ThreadStore(settings.thread_table) if threads and settings.thread_table else None
        return cls(
            api=api,
            store=store,
            apps=settings.slack_apps,
            graphs=LazyGraphClient() if threads else None,
            actions=settings.slack_actions,
        )

    def _actions(self, thread: Thread, now: datetime) -> list[dict[str, Any]]:
        return _actions(thread, now) if self.actions else []

    @property
    def _threads(self) -> ThreadStore:
        if self.store is None:
            raise ConfigurationError("a Slack app route's alert, but no thread table (THREAD_TABLE) to keep threads")
        return self.store

    # -- a body into the channel (a digest, an INSUFFICIENT_DATA state, a reply) --------------------------------

    def post(self, body: dict[str, Any], secret: str, deadline: Deadline) -> Delivered:
        """`chat.postMessage` of a message body (`text`, `blocks`, `attachments`; `thread_ts` and `reply_broadcast`
        for a reply) into the route's channel. The forwarder's `OncePerMessage` wraps it as it wraps a webhook."""
        fields = _message_fields(body)

        def attempt(credentials: AppCredentials) -> Delivered:
            posted = self.api.post_message(credentials.token, credentials.channel, deadline=deadline, **fields)
            return Delivered(Destination.SLACK, 200, posted.attempts)

        return with_credentials(secret, attempt, secret_source=self.secret_source)

    # -- one alert group into its thread ----------------------------------------------------------------------

    def deliver(
        self,
        group: AlertGroup,
        message: dict[str, Any],
        secret: str,
        *,
        event_id: str,
        routing: str,
        post: Post,
        once: bool,
        deadline: Deadline,
        now: datetime,
        counters: Counters,
    ) -> Delivered:
        """The group's event into its thread (see the module's docstring). `message` is `render_slack`'s body;
        `post(part, body)` posts a body into the channel, at most once per record and part when `once`."""
        if group.status is Status.INSUFFICIENT_DATA:
            return post("0", message)  # no state a thread tracks: a message in the channel, as a webhook shows it
        channel = read_credentials(secret, secret_source=self.secret_source).channel
        first = ThreadEvent(
            EventKind.RESOLVED if group.status is Status.RESOLVED else EventKind.FIRED,
            _moment(group, now),
            detail=_detail(group),
            id=event_id,
        )
        try:
            claim = self._threads.claim(group.key, channel, event=first, meta=_meta(group, routing))
        except ThreadStoreError as exc:
            return self._unthreaded(group, message, post, counters, exc)
        if claim.outcome is ClaimOutcome.PENDING:
            raise ThreadPendingError("slack thread: its parent is being posted by another invocation")
        if claim.outcome is ClaimOutcome.WON:
            return self._parent(group, message, secret, claim.thread, deadline, now, counters)
        return self._follow(group, message, secret, claim.thread, event_id, post, once, deadline, now, counters)

    def _parent(  # noqa: PLR0917 - the invocation's deadline, clock and counters
        self, group: AlertGroup, message: dict[str, Any], secret: str, thread: Thread, deadline: Deadline,
        now: datetime, counters: Counters,
    ) -> Delivered:  # fmt: skip
        """The claim is ours: post the parent, attach its ts, then the graph."""
        body = render_parent(message, thread.state, now=now, actions=self._actions(thread, now))
        try:
            posted = with_credentials(
                secret,
                lambda c: self.api.post_message(c.token, thread.channel, deadline=deadline, **_message_fields(body)),
                secret_source=self.secret_source,
            )
        except (DeliveryError, ConfigurationError) as exc:
            if not getattr(exc, "maybe_delivered", False):
                self._release(thread)  # nothing was posted: the retry claims at once instead of in STALE_CLAIM
            raise
        try:
            stored = self._threads.attach(thread, posted.ts, parent=message)
        except ThreadStoreError as exc:  # posted, but not where the store says: the claim goes stale, then over
            logger.error("thread parent posted but not stored", extra={"reason": str(exc)[:200]})
            counters.add(THREAD_PARENT_LOST, group.source.value)
            return Delivered(Destination.SLACK, 200, posted.attempts)
        if stored.ts != posted.ts:
            logger.warning(
                "thread claim was taken over: this parent is a second one", extra={"channel": thread.channel}
            )
        self._graph(group, secret, thread.channel, posted.ts, deadline, now, counters)
        logger.info("thread parent posted", extra={"channel": thread.channel, "alert_key": group.dedup_key})
        return Delivered(Destination.SLACK, 200, posted.attempts)

    def _follow(  # noqa: PLR0917 - the invocation's deadline, clock, counters and posting
        self, group: AlertGroup, message: dict[str, Any], secret: str, existing: Thread, event_id: str, post: Post,
        once: bool, deadline: Deadline, now: datetime, counters: Counters,
    ) -> Delivered:  # fmt: skip
        """A later event: record it, reply in the thread, edit the parent."""
        if existing.history and existing.history[0].id == event_id:
            return Delivered(Destination.SLACK, 200, 0)  # this record made the parent: a retry, nothing left to do
        seen = next((e for e in existing.history if event_id and e.id == event_id), None)
        kind = _later_kind(group, existing)
        event = seen or ThreadEvent(kind, _moment(group, now, repeated=kind), detail=_detail(group), id=event_id)
        try:
            recorded = self._threads.record(existing.alert, existing.channel, event, parent=message)
        except ThreadStoreError as exc:
            return self._unthreaded(group, message, post, counters, exc)
        if recorded is None:  # expired or removed since the claim: the retry claims it afresh
            raise TransientDeliveryError("slack thread: gone between the claim and the record")
        if recorded.ts is None:
            raise ThreadPendingError("slack thread: its parent is being posted by another invocation")
        reply = dict(render_reply(event, recorded.state), thread_ts=recorded.ts)
        if broadcast(event.kind, self.apps.get(secret, DEFAULT_TO_CHANNEL)):
            reply["reply_broadcast"] = True
        delivered = Delivered(Destination.SLACK, 200, 0)
        try:
            if once or seen is None:
                delivered = post("reply", reply)
        except SlackPermanentError as exc:
            if exc.code not in PARENT_GONE:
                raise
            return self._parent_lost(group, message, recorded, post, now, counters)
        parent = render_parent(message, recorded.state, now=now, actions=self._actions(recorded, now))
        try:
            self._edit(secret, recorded.channel, recorded.ts, parent, deadline)
        except SlackPermanentError as exc:  # the reply went: the event is in the thread, only the parent lags
            if exc.code in PARENT_GONE:
                return self._parent_lost(group, message, recorded, post, now, counters)
            counters.add(PARENT_UPDATE_FAILED, group.source.value)
            logger.warning("thread parent not edited", extra={"reason": str(exc)[:200], "channel": recorded.channel})
        logger.info("thread event posted", extra={"channel": recorded.channel, "kind": event.kind.value})
        return delivered

    def after_digest(
        self, alerts: Sequence[tuple[AlertGroup, str, dict[str, Any]]], secret: str, deadline: Deadline, now: datetime,
        counters: Counters,
    ) -> int:  # fmt: skip
        """After a digest went into an app route's channel: each of its alerts (group, record id, its own message)
        that has a thread gets the event recorded and its parent edited, so the parent never shows firing what
        resolved. No reply: the digest said it in the channel, and replies would spend the channel's one message a
        second the pacing keeps. At most `MAX_DIGEST_EDITS` parents, while time is left; best effort (the digest
        went): a failure is logged and counted. Returns the parents edited."""
        if self.store is None or not alerts:
            return 0
        edited = 0
        try:
            channel = read_credentials(secret, secret_source=self.secret_source).channel
            for index, (group, event_id, message) in enumerate(alerts):
                if edited >= MAX_DIGEST_EDITS or deadline.left() < DIGEST_EDIT_SECONDS:
                    # Bounded, and said: these parents keep their last state until their alert's next event.
                    left = len(alerts) - index
                    counters.add(PARENT_UPDATE_FAILED, group.source.value, left)
                    logger.warning(
                        "thread parents after a digest left unedited",
                        extra={"left": left, "edited": edited, "limit": MAX_DIGEST_EDITS, "channel": channel},
                    )
                    break
                thread = self.store.get(group.key, channel)
                if thread is None or not thread.ts or group.status is Status.INSUFFICIENT_DATA:
                    continue
                if any(event_id and e.id == event_id for e in thread.history):
                    continue  # a retried flush: recorded and edited already
                kind = _later_kind(group, thread)
                event = ThreadEvent(kind, _moment(group, now, repeated=kind), detail=_detail(group), id=event_id)
                recorded = self.store.record(thread.alert, channel, event, parent=message)
                if recorded is None or not recorded.ts:
                    continue
                parent = render_parent(message, recorded.state, now=now, actions=self._actions(recorded, now))
                self._edit(secret, channel, recorded.ts, parent, deadline)
                edited += 1
        except (DeliveryError, ConfigurationError, ThreadStoreError) as exc:
            counters.add(PARENT_UPDATE_FAILED, alerts[0][0].source.value)
            logger.warning("thread parents after a digest not all edited", extra={"reason": str(exc)[:200]})
        return edited

    def _parent_lost(  # noqa: PLR0917 - the invocation's clock and counters
        self, group: AlertGroup, message: dict[str, Any], thread: Thread, post: Post, now: datetime,
        counters: Counters,
    ) -> Delivered:  # fmt: skip
        """The parent is gone (deleted): the event is posted as a new parent in the channel, never lost."""
        counters.add(THREAD_PARENT_LOST, group.source.value)
        logger.warning("thread parent gone: posting a new one", extra={"channel": thread.channel})
        return post("parent-again", render_parent(message, thread.state, now=now, actions=self._actions(thread, now)))

    def _unthreaded(
        self, group: AlertGroup, message: dict[str, Any], post: Post, counters: Counters, error: ThreadStoreError
    ) -> Delivered:
        """The thread table failed: the alert goes into the channel as a webhook would show it (a message without a
        thread beats silence); its next event claims or finds its thread again."""
        counters.add(THREAD_STORE_FAILED, group.source.value)
        logger.warning("thread store failed: posted without a thread", extra={"reason": str(error)[:200]})
        return post("unthreaded", message)

    def _edit(self, secret: str, channel: str, ts: str, parent: dict[str, Any], deadline: Deadline) -> None:
        """`chat.update` of a thread's parent."""
        fields = _message_fields(parent)
        with_credentials(
            secret,
            lambda c: self.api.update_message(c.token, channel, ts, deadline=deadline, **fields),
            secret_source=self.secret_source,
        )

    def _release(self, thread: Thread) -> None:
        try:
            self._threads.release(thread)
        except ThreadStoreError as exc:  # the claim goes stale in STALE_CLAIM and is taken over then
            logger.warning("thread claim not released", extra={"reason": str(exc)[:200]})

    def _graph(  # noqa: PLR0917 - the invocation's deadline, clock and counters
        self, group: AlertGroup, secret: str, channel: str, ts: str, deadline: Deadline, now: datetime,
        counters: Counters,
    ) -> None:  # fmt: skip
        """A firing CloudWatch metric alarm's graph into its thread; never raises, never blocks the alert (which
        went before it): render_graph skips it with less than GRAPH_SECONDS left, the upload with less still."""
        if self.graphs is None or group.source is Source.ALERTMANAGER or group.status is not Status.FIRING:
            return
        alert = group.alerts[0]
        image = render_graph(alert, self.graphs, now=now, deadline=deadline, counters=counters)
        if image is None:
            return
        if deadline.left() < UPLOAD_SECONDS + 1.0:
            logger.warning("graph not uploaded: no time left", extra={"alert": alert.title[:200]})
            counters.add(GRAPH_FAILED, group.source.value)
            return
        described = alert.metric.describe() if alert.metric is not None else alert.title
        try:
            with_credentials(
                secret,
                lambda c: self.api.upload_file(
                    c.token, channel, data=image, filename=_filename(alert.title), title=alert.title,
                    alt_text=f"Graph of {described} around the state change", thread_ts=ts, deadline=deadline,
                ),
                secret_source=self.secret_source,
            )  # fmt: skip
        except (DeliveryError, ConfigurationError) as exc:  # the graph is a bonus: logged and counted, never retried
            logger.warning("graph upload failed", extra={"reason": str(exc)[:200], "alert": alert.title[:200]})
            counters.add(GRAPH_FAILED, group.source.value)
            return
        counters.add(GRAPHS_SENT, group.source.value)


def refused_body(error: Exception | None) -> bool:
    """Slack refused the message itself (as a webhook's HTTP 400): kept in the rejected queue, not retried."""
    return isinstance(error, SlackPermanentError) and error.code in BODY_REFUSED


# -- pure helpers -------------------------------------------------------------------------------------------------


def _later_kind(group: AlertGroup, thread: Thread) -> EventKind:
    """A later event's kind: resolved; firing again after a resolve; else the same state again."""
    if group.status is Status.RESOLVED:
        return EventKind.RESOLVED
    if thread.state.status is Status.RESOLVED:
        return EventKind.REFIRED
    return EventKind.REPEATED


def _moment(group: AlertGroup, now: datetime, *, repeated: EventKind | None = None) -> datetime:
    """When the event happened: the state change the source names (so "Resolved after 17 min" is the alarm's own
    span), else now; now for a repeat (its alerts' start is the episode's), and never in the future."""
    if repeated is EventKind.REPEATED:
        return now
    changed = state_changed_at(group)
    if changed is None or changed.tzinfo is None or changed > now:
        return now
    return changed


def _detail(group: AlertGroup) -> str:
    """Our words on an Alertmanager group of several alerts: how many fire and how many resolved."""
    if group.source is not Source.ALERTMANAGER or len(group.alerts) + group.truncated_alerts <= 1:
        return ""
    firing = len(group.firing)
    return f"{firing} firing, {len(group.alerts) - firing} resolved" + (
        f" (+{group.truncated_alerts} not shown)" if group.truncated_alerts else ""
    )


def _meta(group: AlertGroup, routing: str) -> ThreadMeta:
    """What the actions need, stored with the thread: the dedup key and route (Acknowledge), the alarm names
    (Mute), the group's matchers (Silence)."""
    alertmanager = group.source is Source.ALERTMANAGER
    labels = group.group_labels or group.common_labels
    return ThreadMeta(
        dedup_key=group.dedup_key,
        routing=routing,
        source=group.source.value,
        alarm_names=() if alertmanager else tuple(dict.fromkeys(a.title for a in group.alerts if a.title)),
        matchers=matchers_from_labels(labels) if alertmanager else (),
    )


def _actions(thread: Thread, now: datetime) -> list[dict[str, Any]]:
    from alertlib.action_threads import action_state

    try:
        block = action_elements(action_state(thread, now))
    except ValueError:  # a key unfit for a button's value: no buttons rather than no message
        return []
    return list(block["elements"]) if block else []


def _message_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of `SlackApi.post_message`/`update_message` a message body holds."""
    fields: dict[str, Any] = {"text": str(body.get("text") or "")}
    for name in ("blocks", "attachments"):
        if isinstance(body.get(name), list):
            fields[name] = body[name]
    if body.get("thread_ts"):
        fields["thread_ts"] = str(body["thread_ts"])
        fields["reply_broadcast"] = bool(body.get("reply_broadcast"))
    return fields


def _filename(title: str) -> str:
    return (_FILENAME.sub("-", title).strip("-.")[:80] or "graph") + ".png"
