"""Pacing: each channel (one Slack webhook, one PagerDuty routing key) within its destination's rate limit.

The pacer table (`PACER_TABLE`, partition `channel`, sort `item`) holds per channel:
- `slot`: `next_at` (epoch ms when the next send may go), `interval_ms`, `pending` (count of buffered records,
  changed only in the same transaction as the records), `flush_at` (the scheduled flush), `storm_id`;
- `pending#<state-change ms>#<message id>#<index>`: one buffered record (its envelope), oldest first;
- `seen#<alert key>`: the newest state-change time received for an alert (the ordering guard);
- `member#<storm id>#<alert key>` and `storm#<storm id>`: a PagerDuty storm incident and its alerts.

A quiet channel takes the slot and sends at once (one conditional write more than no pacing). A busy one buffers,
atomically with the count, and one flush per interval sends what is due as one message. The flush is sent to the
forwarder's own queue (`QUEUE_URL`) with a delay. Every call here is on that table or that queue, nothing else:
the forwarder's role grants exactly these. Any failure of the store is a `PacerError`: the caller delivers
directly (an unpaced message beats silence).

This module is the store and the pure decisions; `forward.Forwarder` sequences them with the deliveries.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alertlib.aws import AwsClient
from alertlib.deliver import Destination
from alertlib.errors import PacerError
from alertlib.models import AlertGroup, Link, LinkKind, Severity, Status
from alertlib.parse import Envelope, flush_body
from alertlib.reliability import state_changed_at
from alertlib.render_pagerduty import StormMember
from alertlib.settings import Settings

# Metric names (one per outcome; Counters takes any name).
ALERTS_BUFFERED = "AlertsBuffered"  # a record buffered for the next flush of its channel
ALERTS_STALE = "AlertsStale"  # older than what was already received for its alert: never shown after it
PACER_FAILED = "PacerFailed"  # the pacer store or queue failed: delivered directly instead
DIGESTS_SENT = "DigestsSent"  # one Slack message for a whole flush
STORM_EVENTS_SENT = "StormEventsSent"  # one PagerDuty storm incident event for a whole flush

PENDING_SECONDS = 14 * 24 * 3600  # as long as SQS keeps a message
SEEN_SECONDS = 14 * 24 * 3600
# Storm and member items outlive any alarm left firing (a TTL that deleted a member still firing would leave the
# storm incident open forever); the storm item is deleted when the storm resolves.
STORM_SECONDS = 400 * 24 * 3600
MAX_DELAY_SECONDS = 900  # SQS's DelaySeconds limit
STALE_FLUSH_MS = 30_000  # a scheduled flush this late is taken as lost: another is scheduled
MAX_TRANSACT = 100  # DynamoDB's TransactWriteItems limit
TRANSACT_ATTEMPTS = 6  # two invocations buffering on one slot conflict (TransactionConflict): tried again, jittered
FLUSH_RETRY_MS = 60_000  # a flush the destination failed is scheduled again this much later (until it goes)
MAX_FLUSH_EVENTS = 20  # individual PagerDuty events in one flush (10 s of the 120/min budget); the rest wait
RETRY_VISIBILITY_SECONDS = 10  # a record that failed is seen again this soon, not after the visibility timeout


def retry_visibility(receive_count: int) -> int:
    """How long a failed record waits before its next receive: 10 s, then 30, 90, 270 (a backoff, not the queue's
    360 s): with 5 receives a record outlives about 6.5 minutes of a destination's outage before the dead-letter
    queue, where a fixed 10 s gave it about one minute."""
    backoff: int = RETRY_VISIBILITY_SECONDS * 3 ** min(max(receive_count, 1) - 1, 6)
    return min(backoff, MAX_DELAY_SECONDS)


SLOT = "slot"


@dataclass(frozen=True, slots=True)
class Pace:
    """A destination's pace: the interval between sends of one channel, its cap while storming, how many buffered
    records one flush takes, and how soon the next flush goes while a backlog remains."""

    base_ms: int
    max_ms: int
    per_event_ms: int  # PagerDuty: each event of a flush counts against the per-minute limit
    flush_max: int
    backlog_ms: int

    def next_interval(self, current: int | None, records: int, *, backlog: bool = False) -> int:
        """Doubles while storming (a flush of two records or more), back to the base after a quiet flush; while a
        backlog remains (the flush was full) at most `backlog_ms`, so the backlog drains in bounded time."""
        if records <= 1:
            return self.base_ms
        grown = min(max(current or self.base_ms, self.base_ms) * 2, self.max_ms)
        return min(grown, max(self.backlog_ms, self.base_ms)) if backlog else grown


def pace_for(destination: Destination, settings: Settings) -> Pace:
    if destination is Destination.PAGERDUTY:
        interval = settings.pagerduty_interval_ms
        return Pace(
            interval, settings.pagerduty_max_interval_ms, interval, settings.flush_max, settings.backlog_interval_ms
        )
    return Pace(
        settings.slack_interval_ms,
        settings.slack_max_interval_ms,
        0,
        settings.slack_flush_max,
        settings.backlog_interval_ms,
    )


def channel_for(destination: Destination, secret: str) -> str:
    return f"{destination.value}#{secret}"


def secret_of(channel: str) -> str:
    return channel.split("#", 1)[1] if "#" in channel else channel


def changed_ms(group: AlertGroup) -> int | None:
    """The group's state-change time in epoch ms (None when its source does not say)."""
    changed = state_changed_at(group)
    if changed is None:
        return None
    try:
        return int(changed.timestamp() * 1000)
    except (OverflowError, ValueError, OSError):
        return None


def pending_key(envelope: Envelope, group: AlertGroup, index: int, received_ms: int) -> str:
    """`pending#<ms>#<message id>#<index>`: oldest state change first; the same on every redelivery of a record."""
    at = changed_ms(group)
    at = received_ms if at is None else at
    return f"pending#{max(at, 0):015d}#{envelope.message_id[:200]}#{index}"


def flush_key(keys: Sequence[str]) -> str:
    """The idempotency id of one flush: the same buffered records give the same id (a retried flush is not sent
    twice), different records a different one."""
    digest = hashlib.sha256("\n".join(keys).encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"flush-{digest}"


@dataclass(frozen=True, slots=True)
class Slot:
    next_at: int = 0
    interval_ms: int | None = None
    pending: int = 0
    flush_at: int | None = None
    storm_id: str | None = None

    @classmethod
    def of(cls, item: dict[str, Any] | None) -> Slot:
        item = item or {}
        return cls(
            next_at=_int(item.get("next_at")) or 0,
            interval_ms=_int(item.get("interval_ms")),
            pending=_int(item.get("pending")) or 0,
            flush_at=_int(item.get("flush_at")),
            storm_id=item["storm_id"]["S"] if "storm_id" in item else None,
        )


@dataclass(frozen=True, slots=True)
class _Op:
    """One item of a transaction: its sort key, the TransactItems entry, and what it adds to the count."""

    item: str
    entry: dict[str, Any]
    weight: int


class _Dynamo(AwsClient):
    service = "dynamodb"


class _Sqs(AwsClient):
    service = "sqs"


class Pacer:
    """The pacer store of one forwarder. `dynamodb` may be another holder of a DynamoDB client (the ledger), so
    one client serves both."""

    def __init__(
        self, table: str, queue_url: str | None, *, dynamodb: AwsClient | None = None, sqs: AwsClient | None = None
    ) -> None:
        self.table = table
        self.queue_url = queue_url
        self._dynamodb = dynamodb or _Dynamo()
        self._sqs = sqs or _Sqs()

    @property
    def db(self) -> Any:
        return self._dynamodb.client

    # -- the ordering guard -------------------------------------------------------------------------------------

    def fresh(self, channel: str, alert_key: str, changed: int | None, now_ms: int) -> bool:
        """Records the state-change time of an alert's record, unless a newer one was already received for it (then
        False: the record is stale). The same time again (a redelivery, a repeat) is not stale."""
        if changed is None:
            return True
        return self._conditional(
            "update_item",
            TableName=self.table,
            Key=self._key(channel, f"seen#{alert_key}"),
            UpdateExpression="SET changed_at = :t, expires_at = :e",
            ConditionExpression="attribute_not_exists(changed_at) OR changed_at <= :t",
            ExpressionAttributeValues={":t": _n(changed), ":e": _n(now_ms // 1000 + SEEN_SECONDS)},
        )

    # -- the slot ---------------------------------------------------------------------------------------------

    def take_fast(self, channel: str, now_ms: int, interval_ms: int, *, storm_free: bool) -> bool:
        """The fast path: the slot is free and nothing is buffered (and, for PagerDuty, no storm is open). Taking it
        sets when the next send may go."""
        condition = (
            "(attribute_not_exists(next_at) OR next_at <= :now) AND (attribute_not_exists(pending) OR pending <= :zero)"
        )
        if storm_free:
            condition += " AND attribute_not_exists(storm_id)"
        return self._conditional(
            "update_item",
            TableName=self.table,
            Key=self._key(channel, SLOT),
            UpdateExpression="SET next_at = :next, interval_ms = :interval",
            ConditionExpression=condition,
            ExpressionAttributeValues={
                ":now": _n(now_ms),
                ":zero": _n(0),
                ":next": _n(now_ms + interval_ms),
                ":interval": _n(interval_ms),
            },
        )

    def push(self, channel: str, taken_next: int, next_at: int) -> None:
        """After a fast-path send: the next send waits a whole interval from when this one ended (the interval is
        between requests as the destination sees them), unless the slot changed hands meanwhile."""
        self._conditional(
            "update_item",
            TableName=self.table,
            Key=self._key(channel, SLOT),
            UpdateExpression="SET next_at = :next",
            ConditionExpression="next_at = :taken AND :next > :taken",
            ExpressionAttributeValues={":taken": _n(taken_next), ":next": _n(next_at)},
        )

    def take_flush(self, channel: str, now_ms: int, lease_ms: int) -> Slot | None:
        """Takes the slot for a flush (None when it is not free): the next send is held back until `lease_ms` is
        over, and the scheduled flush is cleared (this is it)."""
        answer = self._call(
            "update_item",
            ok=("ConditionalCheckFailedException",),
            TableName=self.table,
            Key=self._key(channel, SLOT),
            UpdateExpression="SET next_at = :lease REMOVE flush_at",
            ConditionExpression="attribute_not_exists(next_at) OR next_at <= :now",
            ExpressionAttributeValues={":now": _n(now_ms), ":lease": _n(now_ms + lease_ms)},
            ReturnValues="ALL_NEW",
        )
        return None if answer is None else Slot.of(answer.get("Attributes"))

    def slot(self, channel: str) -> Slot:
        answer = self._call("get_item", TableName=self.table, Key=self._key(channel, SLOT), ConsistentRead=True)
        return Slot.of((answer or {}).get("Item"))

    def release(self, channel: str, next_at: int) -> None:
        """After a failed flush: the slot is free again at `next_at`."""
        self._call(
            "update_item",
            TableName=self.table,
            Key=self._key(channel, SLOT),
            UpdateExpression="SET next_at = :next",
            ExpressionAttributeValues={":next": _n(next_at)},
        )

    def schedule(self, channel: str, now_ms: int, at_ms: int, *, force: bool = False) -> bool:
        """Makes sure one flush of the channel is scheduled at about `at_ms`: records it in the slot (unless one is
        already scheduled and not overdue, or `force`) and sends the flush to the queue with that delay."""
        at_ms = max(at_ms, now_ms)
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Key": self._key(channel, SLOT),
            "UpdateExpression": "SET flush_at = :at",
            "ExpressionAttributeValues": {":at": _n(at_ms)},
        }
        if not force:
            kwargs["ConditionExpression"] = "attribute_not_exists(flush_at) OR flush_at < :stale"
            kwargs["ExpressionAttributeValues"][":stale"] = _n(now_ms - STALE_FLUSH_MS)
        if not self._conditional("update_item", **kwargs):
            return False
        delay = min(max(math.ceil((at_ms - now_ms) / 1000), 0), MAX_DELAY_SECONDS)
        try:
            self._send_flush(channel, delay)
        except PacerError:
            self._forget_flush(channel, at_ms)
            raise
        return True

    def _send_flush(self, channel: str, delay: int) -> None:
        if not self.queue_url:
            raise PacerError("no QUEUE_URL to schedule a flush on")
        self._call(
            "send_message",
            client=self._sqs,
            QueueUrl=self.queue_url,
            MessageBody=flush_body(channel),
            DelaySeconds=delay,
        )

    def _forget_flush(self, channel: str, at_ms: int) -> None:
        with contextlib.suppress(PacerError):  # else it goes stale in STALE_FLUSH_MS and the next record schedules
            self._conditional(
                "update_item",
                TableName=self.table,
                Key=self._key(channel, SLOT),
                UpdateExpression="REMOVE flush_at",
                ConditionExpression="flush_at = :at",
                ExpressionAttributeValues={":at": _n(at_ms)},
            )

    def change_visibility(self, receipt_handle: str, seconds: int = RETRY_VISIBILITY_SECONDS) -> None:
        """A failed record is seen again soon rather than after the queue's visibility timeout."""
        if not self.queue_url:
            return
        self._call(
            "change_message_visibility",
            client=self._sqs,
            QueueUrl=self.queue_url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=seconds,
        )

    # -- buffered records ---------------------------------------------------------------------------------------

    def buffer(self, channel: str, records: Sequence[tuple[str, Envelope]], now_ms: int) -> int:
        """Stores records for the next flush, each with the slot's count in one transaction (so the fast path never
        overtakes a buffered record). A record already buffered (a redelivery) is not stored or counted twice.
        Returns how many were stored."""
        ops = [
            _Op(
                item,
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": _pending_item(channel, item, envelope, now_ms),
                        "ConditionExpression": "attribute_not_exists(#item)",
                        "ExpressionAttributeNames": {"#item": "item"},
                    }
                },
                1,
            )
            for item, envelope in records
        ]
        return self._transact(ops, lambda count: self._count_update(channel, count))

    def pending(self, channel: str, limit: int) -> list[tuple[str, Envelope]]:
        """The buffered records of a channel, oldest first, at most `limit`."""
        found: list[tuple[str, Envelope]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "channel = :c AND begins_with(#item, :p)",
            "ExpressionAttributeNames": {"#item": "item"},
            "ExpressionAttributeValues": {":c": {"S": channel}, ":p": {"S": "pending#"}},
            "ConsistentRead": True,
            "ScanIndexForward": True,
        }
        while len(found) < limit:
            kwargs["Limit"] = limit - len(found)
            page = self._call("query", **kwargs) or {}
            found.extend((i["item"]["S"], _envelope_of(i)) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found[:limit]

    def finish(self, channel: str, items: Sequence[str], *, next_at: int, interval_ms: int) -> Slot:
        """After a flush was sent: its records are deleted with the count (in transactions), the next send waits
        until `next_at`. Returns the slot as it is left (what is still pending)."""
        ops = [
            _Op(
                item,
                {
                    "Delete": {
                        "TableName": self.table,
                        "Key": self._key(channel, item),
                        "ConditionExpression": "attribute_exists(#item)",
                        "ExpressionAttributeNames": {"#item": "item"},
                    }
                },
                -1,
            )
            for item in items
        ]
        self._transact(ops, lambda count: self._count_update(channel, count))
        answer = self._call(
            "update_item",
            TableName=self.table,
            Key=self._key(channel, SLOT),
            UpdateExpression="SET next_at = :next, interval_ms = :interval",
            ExpressionAttributeValues={":next": _n(next_at), ":interval": _n(interval_ms)},
            ReturnValues="ALL_NEW",
        )
        return Slot.of((answer or {}).get("Attributes"))

    def _count_update(self, channel: str, count: int) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self.table,
                "Key": self._key(channel, SLOT),
                "UpdateExpression": "ADD pending :n",
                "ExpressionAttributeValues": {":n": _n(count)},
            }
        }

    def mark_paged(self, channel: str, alert_key: str, *, open_: bool) -> None:
        """An alert paged on its own (its own PagerDuty incident): remembered while open, so a storm never takes it
        in (its own incident would then never be resolved)."""
        key = self._key(channel, f"paged#{alert_key}")
        if open_:
            self._call(
                "put_item", TableName=self.table, Item={**key, "expires_at": _n(int(time.time()) + STORM_SECONDS)}
            )
        else:
            self._call("delete_item", TableName=self.table, Key=key)

    def paged(self, channel: str) -> set[str]:
        """The alerts of the channel paged on their own and not yet resolved."""
        found: set[str] = set()
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "channel = :c AND begins_with(#item, :p)",
            "ExpressionAttributeNames": {"#item": "item"},
            "ExpressionAttributeValues": {":c": {"S": channel}, ":p": {"S": "paged#"}},
            "ProjectionExpression": "#item",
        }
        while True:
            answer = self._call("query", **kwargs) or {}
            found.update(i["item"]["S"].removeprefix("paged#") for i in answer.get("Items", []))
            if "LastEvaluatedKey" not in answer:
                return found
            kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    # -- PagerDuty storms --------------------------------------------------------------------------------------

    def open_storm(self, channel: str, storm_id: str, now_ms: int) -> tuple[str, int]:
        """Opens a storm on the channel, or answers the one already open: (storm id, opened at ms)."""
        self._conditional(
            "put_item",
            TableName=self.table,
            Item={
                "channel": {"S": channel},
                "item": {"S": f"storm#{storm_id}"},
                "open": _n(0),
                "opened_at": _n(now_ms),
                "expires_at": _n(now_ms // 1000 + STORM_SECONDS),
            },
            ConditionExpression="attribute_not_exists(#item)",
            ExpressionAttributeNames={"#item": "item"},
        )
        opened = self._conditional(
            "update_item",
            TableName=self.table,
            Key=self._key(channel, SLOT),
            UpdateExpression="SET storm_id = :id",
            ConditionExpression="attribute_not_exists(storm_id)",
            ExpressionAttributeValues={":id": {"S": storm_id}},
        )
        if not opened:
            storm_id = self.slot(channel).storm_id or storm_id
        return storm_id, self.storm_times(channel, storm_id)[0] or now_ms

    def storm_times(self, channel: str, storm_id: str) -> tuple[int | None, int | None]:
        """When a storm opened, and when an alert last joined it (epoch ms)."""
        answer = self._call(
            "get_item", TableName=self.table, Key=self._key(channel, f"storm#{storm_id}"), ConsistentRead=True
        )
        item = (answer or {}).get("Item") or {}
        return _int(item.get("opened_at")), _int(item.get("joined_at"))

    def members(self, channel: str, storm_id: str) -> dict[str, StormMember]:
        """Every alert of a storm by its key, in the order they joined."""
        members: dict[str, StormMember] = {}
        prefix = f"member#{storm_id}#"
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "channel = :c AND begins_with(#item, :p)",
            "ExpressionAttributeNames": {"#item": "item"},
            "ExpressionAttributeValues": {":c": {"S": channel}, ":p": {"S": prefix}},
            "ConsistentRead": True,
        }
        rows: list[tuple[int, StormMember]] = []
        while True:
            page = self._call("query", **kwargs) or {}
            rows.extend((_int(item.get("joined_at")) or 0, _member_of(item, prefix)) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        for _, member in sorted(rows, key=lambda row: row[0]):
            members[member.dedup_key] = member
        return members

    def update_storm(
        self, channel: str, storm_id: str, changes: Sequence[tuple[StormMember, Status | None]], now_ms: int
    ) -> None:
        """Members as they are after a flush, each written only if it is still as it was read (`None`: not a
        member), with the storm's open count in the same transactions: a member's OK turns it resolved on the
        condition it was firing, and takes one off the count."""
        ops: list[_Op] = []
        for order, (member, previous) in enumerate(changes):
            item = f"member#{storm_id}#{member.dedup_key}"
            firing_now = member.state is not Status.RESOLVED
            firing_before = previous is not None and previous is not Status.RESOLVED
            values: dict[str, Any] = {}
            if previous is None:
                condition, names = "attribute_not_exists(#item)", {"#item": "item"}
            else:
                condition, names = "#state = :previous", {"#state": "state"}
                values[":previous"] = {"S": previous.value}
            put: dict[str, Any] = {
                "TableName": self.table,
                "Item": {
                    "channel": {"S": channel},
                    "item": {"S": item},
                    "state": {"S": Status.FIRING.value if firing_now else Status.RESOLVED.value},
                    "member": {"S": _member_json(member)},
                    "joined_at": _n(now_ms * 1000 + order),
                    "expires_at": _n(now_ms // 1000 + STORM_SECONDS),
                },
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
            }
            if values:
                put["ExpressionAttributeValues"] = values
            ops.append(_Op(item, {"Put": put}, int(firing_now) - int(firing_before)))

        joined = any(member.state is not Status.RESOLVED for member, _ in changes)

        def storm_update(count: int) -> dict[str, Any]:
            return {
                "Update": {
                    "TableName": self.table,
                    "Key": self._key(channel, f"storm#{storm_id}"),
                    "UpdateExpression": "ADD #open :n" + (" SET joined_at = :now" if joined else ""),
                    "ExpressionAttributeNames": {"#open": "open"},
                    "ExpressionAttributeValues": {":n": _n(count), **({":now": _n(now_ms)} if joined else {})},
                }
            }

        self._transact(ops, storm_update)

    def close_storm(self, channel: str, storm_id: str) -> None:
        """The storm's incident was resolved: the channel has no storm open."""
        self._conditional(
            "update_item",
            TableName=self.table,
            Key=self._key(channel, SLOT),
            UpdateExpression="REMOVE storm_id",
            ConditionExpression="storm_id = :id",
            ExpressionAttributeValues={":id": {"S": storm_id}},
        )

    # -- the machinery -----------------------------------------------------------------------------------------

    def _key(self, channel: str, item: str) -> dict[str, Any]:
        return {"channel": {"S": channel}, "item": {"S": item}}

    def _transact(self, ops: Sequence[_Op], update: Callable[[int], dict[str, Any]]) -> int:
        """`ops` in transactions of at most 99 items, each with `update(sum of their weights)`. An item whose own
        condition fails (already stored, already deleted) is left out and the rest tried again. Returns the sum of
        the weights applied."""
        applied = 0
        chunk = MAX_TRANSACT - 1
        for start in range(0, len(ops), chunk):
            batch = list(ops[start : start + chunk])
            for attempt in range(TRANSACT_ATTEMPTS):
                if not batch:
                    break
                weight = sum(op.weight for op in batch)
                items = [op.entry for op in batch] + ([update(weight)] if weight else [])
                failed = self._transact_once(items)
                if failed is None:
                    applied += weight
                    batch = []
                    break
                if not failed:  # TransactionConflict: another invocation's transaction held an item (the slot)
                    time.sleep(random.uniform(0.02, 0.05) * (attempt + 1))  # noqa: S311 - jitter, not secrecy
                    continue
                batch = [op for index, op in enumerate(batch) if index not in failed]
            if batch:
                raise PacerError("pacer transaction kept failing its conditions")
        return applied

    def _transact_once(self, items: list[dict[str, Any]]) -> set[int] | None:
        """None when the transaction went through; else the indexes of the items whose condition failed."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.db.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if _code(exc) != "TransactionCanceledException":
                raise PacerError(f"pacer transact_write_items failed ({_code(exc)})") from exc
            reasons = exc.response.get("CancellationReasons") or []
            failed = {i for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"}
            if not failed and not any(r.get("Code") == "TransactionConflict" for r in reasons):
                raise PacerError("pacer transaction cancelled without a failed condition or a conflict") from exc
            return failed  # empty: a conflict with a concurrent transaction, tried again
        except BotoCoreError as exc:
            raise PacerError(f"pacer transact_write_items failed ({type(exc).__name__})") from exc
        return None

    def _conditional(self, operation: str, **kwargs: Any) -> bool:
        """A conditional write: True when it was made, False when its condition did not hold."""
        return self._call(operation, ok=("ConditionalCheckFailedException",), **kwargs) is not None

    def _call(
        self, operation: str, *, client: AwsClient | None = None, ok: tuple[str, ...] = (), **kwargs: Any
    ) -> dict[str, Any] | None:
        """One call; None when it failed with an expected code (`ok`), `PacerError` on any other failure."""
        from botocore.exceptions import BotoCoreError, ClientError

        for attempt in range(TRANSACT_ATTEMPTS):
            try:
                answer: dict[str, Any] = getattr((client or self._dynamodb).client, operation)(**kwargs)
            except ClientError as exc:
                if _code(exc) in ok:
                    return None
                if _code(exc) == "TransactionConflictException" and attempt + 1 < TRANSACT_ATTEMPTS:
                    # a write on an item a transaction holds (the slot while another invocation buffers)
                    time.sleep(random.uniform(0.02, 0.05) * (attempt + 1))  # noqa: S311 - jitter, not secrecy
                    continue
                raise PacerError(f"pacer {operation} failed ({_code(exc)})") from exc
            except BotoCoreError as exc:
                raise PacerError(f"pacer {operation} failed ({type(exc).__name__})") from exc
            return answer
        raise PacerError(f"pacer {operation} kept conflicting")  # not reached: the last attempt raises above


def _pending_item(channel: str, item: str, envelope: Envelope, now_ms: int) -> dict[str, Any]:
    body = envelope.body if isinstance(envelope.body, str) else ""
    record: dict[str, Any] = {
        "channel": {"S": channel},
        "item": {"S": item},
        "message_id": {"S": envelope.message_id},
        "body": {"S": body},
        "attributes": {"M": {str(k): {"S": str(v)} for k, v in envelope.attributes.items()}},
        "received_at": _n(now_ms),
        "expires_at": _n(now_ms // 1000 + PENDING_SECONDS),
    }
    if envelope.topic_arn:
        record["topic_arn"] = {"S": envelope.topic_arn}
    if envelope.subject:
        record["subject"] = {"S": envelope.subject}
    return record


def _envelope_of(item: dict[str, Any]) -> Envelope:
    attributes = {k: v.get("S", "") for k, v in item.get("attributes", {}).get("M", {}).items()}
    return Envelope(
        message_id=item["message_id"]["S"],
        body=item.get("body", {}).get("S", ""),
        topic_arn=item.get("topic_arn", {}).get("S"),
        subject=item.get("subject", {}).get("S"),
        attributes=attributes,
    )


def _member_json(member: StormMember) -> str:
    return json.dumps(
        {
            "title": member.title,
            "severity": member.severity.value,
            "service": member.service,
            "first_seen": member.first_seen.isoformat(),
            "source": member.source,
            "links": [[link.kind.value, link.url, link.text] for link in member.links],
        },
        separators=(",", ":"),
    )


def _member_of(item: dict[str, Any], prefix: str) -> StormMember:
    data = json.loads(item.get("member", {}).get("S") or "{}")
    try:
        first_seen = datetime.fromisoformat(data.get("first_seen", ""))
    except (TypeError, ValueError):
        first_seen = datetime.fromtimestamp(0, UTC)
    return StormMember(
        dedup_key=item["item"]["S"].removeprefix(prefix),
        title=str(data.get("title") or "(unnamed)"),
        severity=Severity(data.get("severity") or Severity.ERROR.value),
        service=str(data.get("service") or "other"),
        state=Status(item.get("state", {}).get("S") or Status.FIRING.value),
        first_seen=first_seen,
        source=str(data.get("source") or "unknown"),
        links=tuple(Link(LinkKind(kind), url, text) for kind, url, text in data.get("links", [])),
    )


def _n(value: int) -> dict[str, str]:
    return {"N": str(int(value))}


def _int(value: Any) -> int | None:
    if isinstance(value, dict) and "N" in value:
        try:
            return int(float(value["N"]))
        except (TypeError, ValueError, OverflowError):
            return None
    return None


def _code(exc: Any) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def now_ms_of(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
