"""Slack app mode: where each alert's thread is, and what has happened in it (issue 11).

One DynamoDB item per alert and channel (partition key `alert`, sort key `channel`): the parent message's `ts`, the
current `state` (firing or resolved, who acknowledged, silenced or muted it until when, who it is assigned to),
the last `MAX_HISTORY` events, and what an action needs to act on the alert: the PagerDuty `dedup_key`, the
`routing` (which route and secret), the `source`, the CloudWatch `alarm_names`, the Alertmanager group `matchers`.
`expires_at` (DynamoDB TTL) is `TTL_DAYS` after the last event. Beside it, index items name the alert: `dedup#<dedup
key>` x channel, so a PagerDuty webhook, which knows only the dedup key, finds the thread; and `thread#<digest>` x
channel, so a click, which carries only the short `thread_key` (`<channel>.<digest>`, fit for a button's value),
does too.

The first event of an alert *claims* the item with a conditional put before anything is posted: of two concurrent
first events one wins and posts the parent, then `attach`es its ts; the other finds the claim and becomes a reply
(or, while the parent is still being posted, is told to come back: `ClaimOutcome.PENDING`). A claim whose parent
never came (the winner died) is taken over after `STALE_CLAIM` seconds; a winner that could not post `release`s
it. Later events are appended with an optimistic version check, so two concurrent events both land.

Every field is bounded (`MAX_*`), so an item stays far below DynamoDB's 400 KB whatever the alert carries. The
model (`ThreadEvent`, `ThreadState`, `apply_event`) is pure; only `ThreadStore` does I/O, on an injected client.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
import time
import uuid
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from alertlib.aws import AwsClient
from alertlib.errors import ForwardingError
from alertlib.models import Status
from alertlib.text import truncate

TTL_DAYS = 30
MAX_HISTORY = 20
STALE_CLAIM = 120  # seconds after which a claim with no parent posted is taken over
MAX_KEY_BYTES = 1024  # DynamoDB allows a sort key of 1024 bytes, a partition key of 2048: ours keep to 1024
MAX_CHANNEL = 32
MAX_TS = 32
MAX_ROUTING = 256
MAX_DEDUP_KEY = 1024  # PagerDuty takes 255; a longer one is kept this far, and indexed by its digest
MAX_SOURCE = 32
MAX_ALARM_NAMES = 100  # PutAlarmMuteRule takes 100 alarm names
MAX_ALARM_NAME = 255  # CloudWatch's own limit
MAX_MATCHERS = 50
MAX_MATCHER_NAME = 100
MAX_MATCHER_VALUE = 1000
MAX_ACTOR_ID = 32
MAX_ACTOR_NAME = 80
MAX_DETAIL = 300
MAX_REFERENCE = 128  # a silence id, a mute rule's name, a PagerDuty incident id
# The parent's own message (render_slack's body), compressed: what a PagerDuty webhook's worker edits the parent from
# (a click carries it; a webhook does not). A bigger one is not kept: the worker then replies without editing.
MAX_PARENT_BYTES = 64 * 1024
VERSION_TRIES = 5
DEDUP_PREFIX = "dedup#"
THREAD_PREFIX = "thread#"
SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")


class ThreadStoreError(ForwardingError):
    """The thread table could not be read or written. The message names the operation, never an item."""


class EventKind(enum.StrEnum):
    FIRED = "fired"  # the first event: the parent
    REFIRED = "refired"
    RESOLVED = "resolved"
    ACKNOWLEDGED = "acknowledged"
    SILENCED = "silenced"
    UNSILENCED = "unsilenced"
    MUTED = "muted"
    UNMUTED = "unmuted"
    REPEATED = "repeated"  # the same state again (Alertmanager's repeat_interval)
    ESCALATED = "escalated"  # PagerDuty
    REASSIGNED = "reassigned"  # PagerDuty


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something: a Slack user (`slack_id`, shown as a mention we build) or a name from elsewhere (a
    PagerDuty user), shown as escaped text."""

    slack_id: str | None = None
    name: str | None = None

    @classmethod
    def of(cls, slack_id: str | None = None, name: str | None = None) -> Actor:
        """Bounded: an id that is not a Slack user id is dropped (it could never be a mention), a name is cut."""
        kept = slack_id if slack_id and SLACK_USER_ID.fullmatch(slack_id) else None
        return cls(slack_id=kept, name=truncate(" ".join(name.split()), MAX_ACTOR_NAME) if name else None)


@dataclass(frozen=True, slots=True)
class ThreadEvent:
    kind: EventKind
    at: datetime
    actor: Actor | None = None
    until: datetime | None = None  # a silence's or a mute's end
    target: Actor | None = None  # reassigned or escalated to
    reference: str | None = None  # the silence id, the mute rule, the incident
    detail: str = ""  # our words, short (never alert text: that is in the parent)
    id: str | None = None  # what made it (an SNS MessageId, a click's id): recorded once, however often retried

    def bounded(self) -> ThreadEvent:
        return replace(
            self,
            id=truncate(self.id, MAX_REFERENCE) if self.id else None,
            actor=Actor.of(self.actor.slack_id, self.actor.name) if self.actor else None,
            target=Actor.of(self.target.slack_id, self.target.name) if self.target else None,
            reference=truncate(self.reference, MAX_REFERENCE) if self.reference else None,
            detail=truncate(self.detail, MAX_DETAIL),
        )


@dataclass(frozen=True, slots=True)
class ThreadState:
    """What the parent shows. `silenced_until`/`muted_until` are kept after they pass; `silenced(now)` says."""

    status: Status = Status.FIRING
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    fired_count: int = 0
    acknowledged_by: Actor | None = None
    acknowledged_at: datetime | None = None
    silenced_by: Actor | None = None
    silenced_until: datetime | None = None
    silence_id: str | None = None
    muted_by: Actor | None = None
    muted_until: datetime | None = None
    mute_reference: str | None = None
    assigned_to: Actor | None = None

    def silenced(self, now: datetime) -> bool:
        return self.silenced_until is not None and self.silenced_until > now

    def muted(self, now: datetime) -> bool:
        return self.muted_until is not None and self.muted_until > now


def apply_event(state: ThreadState, event: ThreadEvent) -> ThreadState:
    """The state after `event`. Firing again after a resolve starts a new episode: the acknowledgement and the
    assignment belonged to the old one (PagerDuty opens a new incident); a silence or a mute runs to its end."""
    kind = event.kind
    if kind in (EventKind.FIRED, EventKind.REFIRED):
        if state.status is Status.RESOLVED or state.fired_at is None:
            state = replace(state, fired_at=event.at, resolved_at=None, acknowledged_by=None, acknowledged_at=None,
                            assigned_to=None)  # fmt: skip
        return replace(state, status=Status.FIRING, fired_count=min(state.fired_count + 1, 999_999))
    if kind is EventKind.RESOLVED:
        return replace(state, status=Status.RESOLVED, resolved_at=event.at)
    if kind is EventKind.ACKNOWLEDGED:
        return replace(state, acknowledged_by=event.actor, acknowledged_at=event.at)
    if kind is EventKind.SILENCED:
        return replace(state, silenced_by=event.actor, silenced_until=event.until, silence_id=event.reference)
    if kind is EventKind.UNSILENCED:
        return replace(state, silenced_by=None, silenced_until=None, silence_id=None)
    if kind is EventKind.MUTED:
        return replace(state, muted_by=event.actor, muted_until=event.until, mute_reference=event.reference)
    if kind is EventKind.UNMUTED:
        return replace(state, muted_by=None, muted_until=None, mute_reference=None)
    if kind in (EventKind.ESCALATED, EventKind.REASSIGNED):
        return replace(state, assigned_to=event.target)
    return state  # REPEATED: nothing changes but the history


@dataclass(frozen=True, slots=True)
class Matcher:
    """An Alertmanager silence matcher (API v2 `matchers[]`)."""

    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True


def matchers_from_labels(labels: Mapping[str, str]) -> tuple[Matcher, ...]:
    """A group's labels as equality matchers, sorted, bounded (`MAX_MATCHERS`): what silences exactly this group."""
    return tuple(Matcher(name=k, value=v) for k, v in sorted(labels.items()))


@dataclass(frozen=True, slots=True)
class ThreadMeta:
    """What an action needs to act on the alert, stored with its thread."""

    dedup_key: str | None = None
    routing: str = ""  # the route (its name or secret) the alert was delivered by
    source: str = ""
    alarm_names: tuple[str, ...] = ()
    matchers: tuple[Matcher, ...] = ()

    def bounded(self) -> ThreadMeta:
        return ThreadMeta(
            dedup_key=self.dedup_key[:MAX_DEDUP_KEY] if self.dedup_key else None,
            routing=truncate(self.routing, MAX_ROUTING),
            source=truncate(self.source, MAX_SOURCE),
            alarm_names=tuple(truncate(n, MAX_ALARM_NAME) for n in self.alarm_names[:MAX_ALARM_NAMES]),
            matchers=tuple(
                Matcher(
                    truncate(m.name, MAX_MATCHER_NAME), truncate(m.value, MAX_MATCHER_VALUE), m.is_regex, m.is_equal
                )
                for m in self.matchers[:MAX_MATCHERS]
            ),
        )


@dataclass(frozen=True, slots=True)
class Thread:
    alert: str  # the alert id as given
    channel: str
    ts: str | None  # None while the parent is being posted (claimed)
    state: ThreadState
    history: tuple[ThreadEvent, ...]
    meta: ThreadMeta
    expires_at: int
    version: int = 1
    claim: str | None = None  # the claimant's token while `ts` is None
    claimed_at: int = 0
    stored: str = ""  # the partition key as stored (`item_key` of the alert id)
    parent: bytes | None = None  # the parent's own message, packed (`pack_parent`); None when unknown

    @property
    def key(self) -> str:
        """The thread's short key, for a button's value (`thread_key`)."""
        return thread_key(self.stored or item_key(self.alert), self.channel)


class ClaimOutcome(enum.StrEnum):
    WON = "won"  # post the parent, then `attach` its ts
    EXISTS = "exists"  # the parent is there: reply in its thread (and `record` the event)
    PENDING = "pending"  # another invocation is posting the parent right now: try again shortly


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: ClaimOutcome
    thread: Thread


def pack_parent(message: Mapping[str, Any] | None) -> bytes | None:
    """render_slack's body (text, blocks, attachments) as kept in the thread item: compact JSON, zlib-compressed;
    None when there is none or it would take more than `MAX_PARENT_BYTES`."""
    if not message:
        return None
    fields = {k: message[k] for k in ("text", "blocks", "attachments") if k in message}
    try:
        packed = zlib.compress(json.dumps(fields, separators=(",", ":"), default=str).encode("utf-8"), 6)
    except (TypeError, ValueError):
        return None
    return packed if len(packed) <= MAX_PARENT_BYTES else None


def unpack_parent(packed: bytes | None) -> dict[str, Any] | None:
    """The parent's own message kept by `pack_parent`, or None (none kept, or unreadable: never raises)."""
    if not packed:
        return None
    try:
        decoder = zlib.decompressobj()
        raw = decoder.decompress(packed, 16 * MAX_PARENT_BYTES)  # bounded: a bomb stops here, unreadable
        if decoder.unconsumed_tail:
            return None
        message = json.loads(raw.decode("utf-8"))
    except (zlib.error, ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(message, dict) or not isinstance(message.get("text", ""), str):
        return None
    for name in ("blocks", "attachments"):  # what render_parent reads: lists of objects, or absent
        value = message.get(name, [])
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            return None
    return message


def item_key(text: str) -> str:
    """A key as stored: the text itself when it fits DynamoDB's key size and cannot be taken for an index item,
    else `sha256:<hex>` of it (the same for the same text, so lookups agree)."""
    if len(text.encode("utf-8")) <= MAX_KEY_BYTES and not text.startswith((DEDUP_PREFIX, THREAD_PREFIX, "sha256:")):
        return text
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


def dedup_item_key(dedup_key: str) -> str:
    """The index item's key for a dedup key: itself up to PagerDuty's 255, else a digest of it as stored (cut to
    `MAX_DEDUP_KEY`), so the writer and a reader with the whole key agree."""
    kept = dedup_key[:MAX_DEDUP_KEY]
    short = len(kept.encode("utf-8")) <= 255
    return DEDUP_PREFIX + (kept if short else hashlib.sha256(kept.encode("utf-8", "replace")).hexdigest())


_THREAD_KEY = re.compile(r"(?P<channel>[A-Z0-9]{2,32})\.(?P<digest>[0-9a-f]{32})")


def thread_key(stored: str, channel: str) -> str:
    """`<channel>.<32 hex>`: short, of the characters a Slack value may carry, the same for one alert and channel
    (`stored` is the alert's `item_key`). A click carries it; `ThreadStore.find_by_key` reads the thread back."""
    return f"{channel}.{hashlib.sha256(stored.encode('utf-8', 'replace')).hexdigest()[:32]}"


def thread_policy_statements(table_arn: str) -> list[dict[str, Any]]:
    """The exact IAM statement `ThreadStore` needs on its table (no Query, no Scan, no UpdateItem: it reads and
    writes single items by key, conditionally)."""
    return [
        {
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"],
            "Resource": [table_arn],
        }
    ]


class ThreadStore(AwsClient):
    """The thread table, on an injected DynamoDB client (moto in tests). `clock` gives epoch seconds."""

    service = "dynamodb"

    def __init__(
        self,
        table: str,
        client: Any = None,
        *,
        ttl_days: int = TTL_DAYS,
        max_history: int = MAX_HISTORY,
        clock: Any = time.time,
    ) -> None:
        super().__init__(client)
        self.table = table
        self.ttl = ttl_days * 86400
        self.max_history = max(max_history, 1)
        self.clock = clock

    # -- reading --------------------------------------------------------------------------------------------------

    def get(self, alert: str, channel: str) -> Thread | None:
        thread = self._get(item_key(alert), _channel(channel))
        return replace(thread, alert=alert) if thread is not None else None  # the id whole, however it is stored

    def find_by_dedup(self, dedup_key: str, channel: str) -> Thread | None:
        """The thread of the alert delivered with `dedup_key` into `channel` (for PagerDuty's webhooks)."""
        index = self._raw_get(dedup_item_key(dedup_key), _channel(channel))
        target = index.get("target", {}).get("S") if index else None
        return self._get(target, _channel(channel)) if target else None

    def find_by_key(self, key: str) -> Thread | None:
        """The thread a button's `thread_key` names; None for a key of another shape or a thread gone (expired)."""
        match = _THREAD_KEY.fullmatch(key) if isinstance(key, str) else None
        if match is None:
            return None
        channel = match.group("channel")
        index = self._raw_get(THREAD_PREFIX + match.group("digest"), channel)
        target = index.get("target", {}).get("S") if index else None
        return self._get(target, channel) if target else None

    # -- writing --------------------------------------------------------------------------------------------------

    def claim(self, alert: str, channel: str, *, event: ThreadEvent, meta: ThreadMeta) -> Claim:
        """Claim the alert's thread for its first event (see the module's docstring)."""
        channel = _channel(channel)
        now = int(self.clock())
        token = uuid.uuid4().hex
        event = event.bounded()
        thread = Thread(
            alert=alert, channel=channel, ts=None, state=apply_event(ThreadState(), event), history=(event,),
            meta=meta.bounded(), expires_at=now + self.ttl, claim=token, claimed_at=now, stored=item_key(alert),
        )  # fmt: skip
        if self._put(thread, condition="attribute_not_exists(#alert)", names={"#alert": "alert"}, what="claim"):
            return Claim(ClaimOutcome.WON, thread)
        existing = self.get(alert, channel)
        if existing is None:  # it expired or was removed between the two calls: claim again, once
            if self._put(thread, condition="attribute_not_exists(#alert)", names={"#alert": "alert"}, what="claim"):
                return Claim(ClaimOutcome.WON, thread)
            existing = self.get(alert, channel)
            if existing is None:
                raise ThreadStoreError("thread claim: the item neither exists nor can be created")
        if existing.ts:
            return Claim(ClaimOutcome.EXISTS, existing)
        if existing.claimed_at + STALE_CLAIM <= now:
            # Taken over, by the same event come again or by a later one (a resolve after a fire whose post was
            # lost): a later one is applied, so the parent posted now shows the alert as it is.
            seen = bool(event.id) and any(e.id == event.id for e in existing.history)
            taken = replace(
                existing,
                claim=token,
                claimed_at=now,
                version=existing.version + 1,
                state=existing.state if seen else apply_event(existing.state, event),
                history=existing.history if seen else (*existing.history, event)[-self.max_history :],
            )
            if self._put(taken, condition="#claim = :claim AND #version = :version AND attribute_not_exists(#ts)",
                         names={"#claim": "claim", "#version": "version", "#ts": "ts"},
                         values={":claim": {"S": existing.claim or ""}, ":version": {"N": str(existing.version)}},
                         what="claim"):  # fmt: skip
                return Claim(ClaimOutcome.WON, taken)
        return Claim(ClaimOutcome.PENDING, existing)

    def attach(self, thread: Thread, ts: str, *, parent: Mapping[str, Any] | None = None) -> Thread:
        """The parent of a won claim is posted at `ts`: store it, and the dedup index item; `parent` is its own
        message (render_slack's body), kept for edits made without it. Returns the stored thread: if the claim was
        taken over meanwhile (this invocation took longer than `STALE_CLAIM`), the other claimant's, whose `ts`
        differs from the one given."""
        packed = pack_parent(parent) if parent is not None else thread.parent
        attached = replace(thread, ts=truncate(ts, MAX_TS), claim=None, version=thread.version + 1, parent=packed)
        if not self._put(attached, condition="#claim = :claim", names={"#claim": "claim"},
                         values={":claim": {"S": thread.claim or ""}}, what="attach"):  # fmt: skip
            current = self.get(thread.alert, thread.channel)
            if current is None:
                raise ThreadStoreError("thread attach: the claimed item is gone")
            return current
        self._index(attached)
        return attached

    def release(self, thread: Thread) -> bool:
        """Give a won claim up when its parent could not be posted, so that the next attempt claims at once instead
        of waiting `STALE_CLAIM`. Only the claimant's own claim, and only while no parent is attached: True if so."""
        from botocore.exceptions import ClientError

        try:
            self.client.delete_item(
                TableName=self.table,
                Key=_key(thread.stored or item_key(thread.alert), thread.channel),
                ConditionExpression="#claim = :claim AND attribute_not_exists(#ts)",
                ExpressionAttributeNames={"#claim": "claim", "#ts": "ts"},
                ExpressionAttributeValues={":claim": {"S": thread.claim or ""}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise ThreadStoreError(f"thread release: {_code(exc)}") from exc
        return True

    def record(
        self, alert: str, channel: str, event: ThreadEvent, *, parent: Mapping[str, Any] | None = None
    ) -> Thread | None:
        """Append `event` to the thread and apply it to the state (the history keeps the last `max_history`), and
        push its TTL on. None when there is no thread (the caller posts a new parent instead). Nothing is written,
        and the thread is returned as it is, while its parent is still being posted (`ts` None: the caller tries
        again later) or when an event of the same `id` is already in its history (a retried delivery)."""
        event = event.bounded()
        for _ in range(VERSION_TRIES):
            current = self.get(alert, channel)
            if current is None:
                return None
            if current.ts is None or (event.id and any(e.id == event.id for e in current.history)):
                return current
            updated = replace(
                current,
                state=apply_event(current.state, event),
                history=(*current.history, event)[-self.max_history :],
                expires_at=int(self.clock()) + self.ttl,
                version=current.version + 1,
                parent=pack_parent(parent) if parent is not None else current.parent,
            )
            if self._put(updated, condition="#version = :version", names={"#version": "version"},
                         values={":version": {"N": str(current.version)}}, what="record"):  # fmt: skip
                self._index(updated)
                return updated
        raise ThreadStoreError(f"thread record: {VERSION_TRIES} concurrent writers, gave up")

    # -- the machinery ----------------------------------------------------------------------------------------

    def _index(self, thread: Thread) -> None:
        """The index items naming this thread: by its thread key (for clicks), by its dedup key (for PagerDuty's
        webhooks). Written with the thread's TTL, each time it moves on."""
        stored = thread.stored or item_key(thread.alert)
        keys = [THREAD_PREFIX + thread.key.rpartition(".")[2]]
        if thread.meta.dedup_key:
            keys.append(dedup_item_key(thread.meta.dedup_key))
        for key in keys:
            item = {
                "alert": {"S": key},
                "channel": {"S": thread.channel},
                "target": {"S": stored},
                "expires_at": {"N": str(thread.expires_at)},
            }
            self._call("put_item", "index", TableName=self.table, Item=item)

    def _get(self, key: str, channel: str) -> Thread | None:
        item = self._raw_get(key, channel)
        return _thread(item) if item else None

    def _raw_get(self, key: str, channel: str) -> dict[str, Any] | None:
        answer = self._call("get_item", "get", TableName=self.table, Key=_key(key, channel), ConsistentRead=True)
        item = answer.get("Item")
        return item if isinstance(item, dict) else None

    def _put(
        self,
        thread: Thread,
        *,
        condition: str,
        names: dict[str, str],
        values: dict[str, Any] | None = None,
        what: str,
    ) -> bool:
        """A conditional put; False when the condition failed."""
        from botocore.exceptions import ClientError

        arguments: dict[str, Any] = {
            "TableName": self.table, "Item": _item(thread), "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
        }  # fmt: skip
        if values:
            arguments["ExpressionAttributeValues"] = values
        try:
            self.client.put_item(**arguments)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise ThreadStoreError(f"thread {what}: {_code(exc)}") from exc
        return True

    def _call(self, operation: str, what: str, **arguments: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer: dict[str, Any] = getattr(self.client, operation)(**arguments)
        except (ClientError, BotoCoreError) as exc:
            raise ThreadStoreError(f"thread {what}: {_code(exc)}") from exc
        return answer


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code") or type(exc).__name__)[:60]
    return type(exc).__name__


def _channel(channel: str) -> str:
    return channel[:MAX_CHANNEL]


def _key(key: str, channel: str) -> dict[str, Any]:
    return {"alert": {"S": key}, "channel": {"S": channel}}


# -- the item's shape ------------------------------------------------------------------------------------------


def _item(thread: Thread) -> dict[str, Any]:
    meta = thread.meta
    stored = thread.stored or item_key(thread.alert)
    item: dict[str, Any] = {
        **_key(stored, thread.channel),
        "alert_id": {"S": truncate(thread.alert, 2048)} if stored != thread.alert else None,
        "ts": {"S": thread.ts} if thread.ts else None,
        "state": {"M": _map(_state_fields(thread.state))},
        "history": {"L": [{"M": _map(_event_fields(e))} for e in thread.history]},
        "dedup_key": {"S": meta.dedup_key} if meta.dedup_key else None,
        "routing": {"S": meta.routing} if meta.routing else None,
        "source": {"S": meta.source} if meta.source else None,
        "alarm_names": {"L": [{"S": n} for n in meta.alarm_names]},
        "matchers": {
            "L": [
                {"M": _map({"name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": m.is_equal})}
                for m in meta.matchers
            ]
        },
        "expires_at": {"N": str(thread.expires_at)},
        "version": {"N": str(thread.version)},
        "claim": {"S": thread.claim} if thread.claim else None,
        "claimed_at": {"N": str(thread.claimed_at)},
        "parent_z": {"B": thread.parent} if thread.parent else None,
    }
    return {k: v for k, v in item.items() if v is not None}


def _map(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in values.items():
        if value is None or value == "":
            continue
        if isinstance(value, bool):
            out[name] = {"BOOL": value}
        elif isinstance(value, int):
            out[name] = {"N": str(value)}
        elif isinstance(value, dict):
            out[name] = {"M": _map(value)}
        else:
            out[name] = {"S": str(value)}
    return out


def _plain(value: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, typed in value.items():
        if "S" in typed:
            out[name] = typed["S"]
        elif "N" in typed:
            out[name] = int(typed["N"])
        elif "BOOL" in typed:
            out[name] = typed["BOOL"]
        elif "M" in typed:
            out[name] = _plain(typed["M"])
    return out


def _when(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _parse_when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _actor_fields(actor: Actor | None) -> dict[str, Any] | None:
    return {"id": actor.slack_id, "name": actor.name} if actor is not None else None


def _actor(value: Any) -> Actor | None:
    return Actor(slack_id=value.get("id"), name=value.get("name")) if isinstance(value, dict) else None


def _state_fields(state: ThreadState) -> dict[str, Any]:
    return {
        "status": state.status.value,
        "fired_at": _when(state.fired_at),
        "resolved_at": _when(state.resolved_at),
        "fired_count": state.fired_count,
        "acknowledged_by": _actor_fields(state.acknowledged_by),
        "acknowledged_at": _when(state.acknowledged_at),
        "silenced_by": _actor_fields(state.silenced_by),
        "silenced_until": _when(state.silenced_until),
        "silence_id": state.silence_id,
        "muted_by": _actor_fields(state.muted_by),
        "muted_until": _when(state.muted_until),
        "mute_reference": state.mute_reference,
        "assigned_to": _actor_fields(state.assigned_to),
    }


def _state(values: Mapping[str, Any]) -> ThreadState:
    try:
        status = Status(values.get("status", "firing"))
    except ValueError:
        status = Status.FIRING
    return ThreadState(
        status=status,
        fired_at=_parse_when(values.get("fired_at")),
        resolved_at=_parse_when(values.get("resolved_at")),
        fired_count=int(values.get("fired_count") or 0),
        acknowledged_by=_actor(values.get("acknowledged_by")),
        acknowledged_at=_parse_when(values.get("acknowledged_at")),
        silenced_by=_actor(values.get("silenced_by")),
        silenced_until=_parse_when(values.get("silenced_until")),
        silence_id=values.get("silence_id"),
        muted_by=_actor(values.get("muted_by")),
        muted_until=_parse_when(values.get("muted_until")),
        mute_reference=values.get("mute_reference"),
        assigned_to=_actor(values.get("assigned_to")),
    )


def _event_fields(event: ThreadEvent) -> dict[str, Any]:
    return {
        "kind": event.kind.value,
        "at": _when(event.at),
        "actor": _actor_fields(event.actor),
        "until": _when(event.until),
        "target": _actor_fields(event.target),
        "reference": event.reference,
        "detail": event.detail,
        "id": event.id,
    }


def _events(values: Iterable[Any]) -> tuple[ThreadEvent, ...]:
    events: list[ThreadEvent] = []
    for typed in values:
        fields = _plain(typed.get("M", {})) if isinstance(typed, dict) else {}
        at = _parse_when(fields.get("at"))
        try:
            kind = EventKind(str(fields.get("kind")))
        except ValueError:
            continue
        if at is None:
            continue
        events.append(
            ThreadEvent(
                kind=kind,
                at=at,
                actor=_actor(fields.get("actor")),
                until=_parse_when(fields.get("until")),
                target=_actor(fields.get("target")),
                reference=fields.get("reference"),
                detail=str(fields.get("detail") or ""),
                id=fields.get("id"),
            )
        )
    return tuple(events)


def _thread(item: Mapping[str, Any]) -> Thread:
    plain = _plain({k: v for k, v in item.items() if k not in ("history", "alarm_names", "matchers", "parent_z")})
    packed = item.get("parent_z", {}).get("B") if isinstance(item.get("parent_z"), dict) else None
    matchers = []
    for typed in item.get("matchers", {}).get("L", []):
        values = _plain(typed.get("M", {}))
        matchers.append(
            Matcher(
                name=str(values.get("name", "")),
                value=str(values.get("value", "")),
                is_regex=bool(values.get("isRegex")),
                is_equal=bool(values.get("isEqual", True)),
            )
        )
    meta = ThreadMeta(
        dedup_key=plain.get("dedup_key"),
        routing=plain.get("routing", ""),
        source=plain.get("source", ""),
        alarm_names=tuple(v["S"] for v in item.get("alarm_names", {}).get("L", []) if "S" in v),
        matchers=tuple(matchers),
    )
    return Thread(
        alert=plain.get("alert_id") or plain["alert"],
        stored=plain["alert"],
        channel=plain["channel"],
        ts=plain.get("ts"),
        state=_state(plain.get("state", {})),
        history=_events(item.get("history", {}).get("L", [])),
        meta=meta,
        expires_at=int(plain.get("expires_at") or 0),
        version=int(plain.get("version") or 1),
        claim=plain.get("claim"),
        claimed_at=int(plain.get("claimed_at") or 0),
        parent=bytes(packed) if isinstance(packed, bytes | bytearray) else None,
    )


__all__ = [
    "Actor",
    "Claim",
    "ClaimOutcome",
    "EventKind",
    "Matcher",
    "Thread",
    "ThreadEvent",
    "ThreadMeta",
    "ThreadState",
    "ThreadStore",
    "ThreadStoreError",
    "apply_event",
    "matchers_from_labels",
    "pack_parent",
    "unpack_parent",
]
