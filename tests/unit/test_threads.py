"""threads: the pure state model, and the thread store under moto (claims, replies, the dedup index, bounds)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from alertlib.models import Status
from alertlib.threads import (
    MAX_HISTORY,
    MAX_PARENT_BYTES,
    STALE_CLAIM,
    Actor,
    ClaimOutcome,
    EventKind,
    Matcher,
    ThreadEvent,
    ThreadMeta,
    ThreadState,
    ThreadStore,
    ThreadStoreError,
    apply_event,
    matchers_from_labels,
)

T0 = datetime(2026, 12, 3, 2, 55, tzinfo=UTC)
ALERT = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh"
CHANNEL = "C0ALERTS01"
ANA = Actor.of("U0ANA", "ana")
META = ThreadMeta(dedup_key="dedup-cpu", routing="alerting/prod/slack-app", source="cloudwatch",
                  alarm_names=("ServerCpuTooHigh",))  # fmt: skip


def event(kind: EventKind, minutes: float = 0, **kw: Any) -> ThreadEvent:
    return ThreadEvent(kind=kind, at=T0 + timedelta(minutes=minutes), **kw)


class Clock:
    def __init__(self) -> None:
        self.now = T0.timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def moto_dynamodb() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("dynamodb", region_name="us-east-1")


@pytest.fixture
def dynamodb(moto_dynamodb: Any, request: pytest.FixtureRequest) -> Any:
    """A fresh table named `threads` for each test (moto started once for the module)."""
    if "threads" in moto_dynamodb.list_tables()["TableNames"]:
        moto_dynamodb.delete_table(TableName="threads")
    moto_dynamodb.create_table(
        TableName="threads",
        KeySchema=[{"AttributeName": "alert", "KeyType": "HASH"}, {"AttributeName": "channel", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "alert", "AttributeType": "S"},
            {"AttributeName": "channel", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return moto_dynamodb


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(dynamodb: Any, clock: Clock) -> ThreadStore:
    return ThreadStore("threads", dynamodb, clock=clock)


# -- the pure model ----------------------------------------------------------------------------------------------


def test_threads_state_follows_ack_silence_mute_and_resolve() -> None:
    state = apply_event(ThreadState(), event(EventKind.FIRED))
    state = apply_event(state, event(EventKind.ACKNOWLEDGED, 5, actor=ANA))
    until = T0 + timedelta(hours=4)
    state = apply_event(state, event(EventKind.SILENCED, 6, actor=ANA, until=until, reference="sil-1"))
    assert (state.status, state.acknowledged_by, state.silenced_until, state.silence_id) == (
        Status.FIRING, ANA, until, "sil-1")  # fmt: skip
    assert state.silenced(T0 + timedelta(hours=1)) and not state.silenced(until)
    state = apply_event(state, event(EventKind.UNSILENCED, 7, actor=ANA))
    assert state.silenced_until is None and state.silence_id is None
    state = apply_event(state, event(EventKind.MUTED, 8, actor=ANA, until=until, reference="mute-1"))
    assert state.muted(T0) and state.mute_reference == "mute-1"
    state = apply_event(state, event(EventKind.UNMUTED, 9))
    assert not state.muted(T0)
    state = apply_event(state, event(EventKind.RESOLVED, 17))
    assert state.status is Status.RESOLVED and state.resolved_at == T0 + timedelta(minutes=17)


def test_threads_firing_again_after_resolve_forgets_the_old_acknowledgement() -> None:
    state = apply_event(ThreadState(), event(EventKind.FIRED))
    state = apply_event(state, event(EventKind.ACKNOWLEDGED, 1, actor=ANA))
    state = apply_event(state, event(EventKind.REASSIGNED, 2, target=Actor.of(name="bo")))
    state = apply_event(state, event(EventKind.RESOLVED, 3))
    state = apply_event(state, event(EventKind.REFIRED, 30))
    assert state.status is Status.FIRING and state.acknowledged_by is None and state.assigned_to is None
    assert state.fired_at == T0 + timedelta(minutes=30) and state.fired_count == 2 and state.resolved_at is None


def test_threads_actor_keeps_only_real_slack_ids_and_short_names() -> None:
    assert Actor.of("<!channel>", "x" * 500).slack_id is None
    assert len(Actor.of(None, "x" * 500).name or "") == 80
    assert Actor.of("W123ABC").slack_id == "W123ABC"


def test_threads_matchers_from_labels_are_sorted_equality_matchers() -> None:
    assert matchers_from_labels({"service": "api", "alertname": "Down"}) == (
        Matcher("alertname", "Down"), Matcher("service", "api"))  # fmt: skip


# -- the store ---------------------------------------------------------------------------------------------------


def test_threads_first_event_claims_then_the_second_finds_the_claim_pending(store: ThreadStore) -> None:
    first = store.claim(ALERT, CHANNEL, event=event(EventKind.FIRED), meta=META)
    second = store.claim(ALERT, CHANNEL, event=event(EventKind.FIRED), meta=META)
    assert first.outcome is ClaimOutcome.WON and first.thread.ts is None
    assert second.outcome is ClaimOutcome.PENDING


def test_threads_after_attach_a_second_first_event_becomes_a_reply(store: ThreadStore) -> None:
    claim = store.claim(ALERT, CHANNEL, event=event(EventKind.FIRED), meta=META)
    attached = store.attach(claim.thread, "1796000001.000001")
    loser = store.claim(ALERT, CHANNEL, event=event(EventKind.FIRED, 1), meta=META)
    assert loser.outcome is ClaimOutcome.EXISTS and loser.thread.ts == attached.ts == "1796000001.000001"
    stored = store.get(ALERT, CHANNEL)
    assert stored is not None and stored.claim is None and stored.meta == META
    assert [e.kind for e in stored.history] == [EventKind.FIRED]


def test_threads_a_stale_claim_is_taken_over_and_the_late_winner_learns_it(store: ThreadStore, clock: Clock) -> None:
    dead = store.claim(ALERT, CHANNEL, event=event(EventKind.FIRED), meta=META)
    clock.now += STALE_CLAIM + 1
    taken = store.claim(ALERT, CHANNEL, event=event(EventKind.FIRED), meta=META)
    assert taken.outcome is ClaimOutcome.WON
    store.attach(taken.thread, "1796000002.000002")
    late = store.attach(dead.thread, "1796000001.000001")
    assert late.ts == "1796000002.000002"  # the stored parent is the live claimant's, not the late one's


def test_threads_record_appends_events_applies_state_and_pushes_ttl(store: ThreadStore, clock: Clock) -> None:
    claim = store.claim(ALERT, CHANNEL, event=event(EventKind.FIRED), meta=META)
    store.attach(claim.thread, "1796000001.000001")
    first_expiry = store.get(ALERT, CHANNEL).expires_at  # type: ignore[union-attr]
    clock.now += 3600
    store.record(ALERT, CHANNEL, event(EventKind.ACKNOWLEDGED, 5, actor=ANA))
    thread = store.record(ALERT, CHANNEL, event(EventKind.RESOLVED, 17))
    assert thread is not None and thread.state.status is Status.RESOLVED and thread.state.acknowledged_by == ANA
    stored = store.get(ALERT, CHANNEL)
    assert stored == thread
    assert [e.kind for e in stored.history] == [EventKind.FIRED, EventKind.ACKNOWLEDGED, EventKind.RESOLVED]
    assert stored.expires_at == first_expiry + 3600 == int(clock.now) + 30 * 86400


def test_threads_record_without_a_thread_is_none(store: ThreadStore) -> None:
    assert store.record(ALERT, CHANNEL, event(EventKind.RESOLVED)) is None


def test_threads_history_keeps_the_last_events(store: ThreadStore) -> None:
    claim = store.claim(ALERT, CHANNEL, event=event(EventKind.FIRED), meta=META)
    store.attach(claim.thread, "1796000001.000001")
    for minute in range(1, 30):
        store.record(ALERT, CHANNEL, event(EventKind.REPEATED, minute))
    thread = store.get(ALERT, CHANNEL)
    assert thread is not None and len(thread.history) == MAX_HISTORY
    assert thread.history[-1].at == T0 + timedelta(minutes=29)


def test_threads_dedup_index_finds_the_thread_per_channel(store: ThreadStore) -> None:
    claim = store.claim(ALERT, CHANNEL, event=event(EventKind.FIRED), meta=META)
    store.attach(claim.thread, "1796000001.000001")
    found = store.find_by_dedup("dedup-cpu", CHANNEL)
    assert found is not None and found.alert == ALERT and found.ts == "1796000001.000001"
    assert store.find_by_dedup("dedup-cpu", "C0OTHER") is None
    assert store.find_by_dedup("unknown", CHANNEL) is None


def test_threads_item_stays_small_whatever_the_alert_carries(store: ThreadStore, dynamodb: Any) -> None:
    huge = "x" * 5000
    alert = "a" * 3000  # longer than a DynamoDB key: stored under its hash
    meta = ThreadMeta(
        dedup_key="d" * 5000, routing=huge, source=huge, alarm_names=(huge,) * 500,
        matchers=tuple(Matcher(huge, huge, True, False) for _ in range(500)),
    )  # fmt: skip
    claim = store.claim(alert, CHANNEL, event=event(EventKind.FIRED, detail=huge), meta=meta)
    store.attach(claim.thread, "1796000001.000001")
    huge_event = event(EventKind.SILENCED, 1, actor=Actor.of("U1", huge), detail=huge, reference=huge,
                       target=Actor.of(None, huge))  # fmt: skip
    stored = store.get(alert, CHANNEL)
    assert stored is not None
    full = replace(stored, history=(huge_event.bounded(),) * (MAX_HISTORY - 1), version=stored.version)
    store._put(full, condition="attribute_exists(#a)", names={"#a": "alert"}, what="test")  # the worst history
    worst_parent = os.urandom(MAX_PARENT_BYTES)  # the largest parent message kept (packed: incompressible bytes)
    store.record(alert, CHANNEL, huge_event)
    store._put(replace(store.get(alert, CHANNEL), parent=worst_parent), condition="attribute_exists(#a)",  # type: ignore[arg-type]
               names={"#a": "alert"}, what="test")  # fmt: skip
    items = dynamodb.scan(TableName="threads")["Items"]
    assert len(items) == 3  # the thread and its two index items (thread key, dedup key)
    size = max(len(json.dumps(item, default=lambda b: "x" * len(b))) for item in items)
    assert size < 200_000 + MAX_PARENT_BYTES  # the worst case; DynamoDB allows 400 KB
    thread = store.get(alert, CHANNEL)
    assert thread is not None and thread.ts == "1796000001.000001"
    assert len(thread.meta.alarm_names) == 100 and len(thread.meta.matchers) == 50
    assert len(thread.history) == MAX_HISTORY and all(len(e.detail) <= 300 for e in thread.history)
    assert thread.meta.dedup_key == "d" * 1024
    found = store.find_by_dedup("d" * 5000, CHANNEL)
    assert found is not None and (found.ts, found.meta) == (thread.ts, thread.meta)


def test_threads_table_failure_is_a_store_error_naming_the_operation(dynamodb: Any) -> None:
    store = ThreadStore("missing-table", dynamodb)
    with pytest.raises(ThreadStoreError) as caught:
        store.get(ALERT, CHANNEL)
    assert "thread get: ResourceNotFoundException" in str(caught.value)


def test_threads_thread_key_fits_a_slack_value_and_finds_the_thread(store: ThreadStore) -> None:
    from alertlib.slack_actions import check_thread_key

    alert = 'receiver/{}:{alertname="High Latency", service=~"api|web"}'  # Alertmanager group keys hold anything
    claim = store.claim(alert, CHANNEL, event=event(EventKind.FIRED), meta=META)
    attached = store.attach(claim.thread, "1796000001.000001")
    key = attached.key
    assert check_thread_key(key) == key and key.startswith(CHANNEL + ".")
    found = store.find_by_key(key)
    assert found is not None and (found.alert, found.ts) == (alert, "1796000001.000001") and found.key == key
    assert store.find_by_key(CHANNEL + "." + "0" * 32) is None
    assert store.find_by_key("<!channel>") is None


def test_threads_release_gives_up_only_an_unposted_own_claim(store: ThreadStore) -> None:
    claim = store.claim(ALERT, CHANNEL, event=event(EventKind.FIRED), meta=META)
    assert store.release(replace(claim.thread, claim="someone-else")) is False
    assert store.release(claim.thread) is True and store.get(ALERT, CHANNEL) is None
    again = store.claim(ALERT, CHANNEL, event=event(EventKind.FIRED), meta=META)
    assert again.outcome is ClaimOutcome.WON
    store.attach(again.thread, "1796000001.000001")
    assert store.release(again.thread) is False and store.get(ALERT, CHANNEL) is not None


def test_threads_record_waits_for_the_parent_and_records_a_retried_event_once(store: ThreadStore) -> None:
    claim = store.claim(ALERT, CHANNEL, event=event(EventKind.FIRED), meta=META)
    pending = store.record(ALERT, CHANNEL, event(EventKind.RESOLVED, 1, id="msg-2"))
    assert pending is not None and pending.ts is None and len(pending.history) == 1  # nothing written yet
    store.attach(claim.thread, "1796000001.000001")
    first = store.record(ALERT, CHANNEL, event(EventKind.REFIRED, 2, id="msg-3"))
    again = store.record(ALERT, CHANNEL, event(EventKind.REFIRED, 2, id="msg-3"))
    assert first == again and first is not None and first.state.fired_count == 2
    assert [e.id for e in first.history] == [None, "msg-3"]


def test_threads_parent_message_is_packed_bounded_and_unpacked_safely() -> None:
    import zlib

    from alertlib.threads import MAX_PARENT_BYTES, pack_parent, unpack_parent

    message = {"text": "cpu high", "blocks": [{"type": "header"}], "attachments": [{"color": "#f00"}], "x": 1}
    packed = pack_parent(message)
    assert packed is not None and unpack_parent(packed) == {k: message[k] for k in ("text", "blocks", "attachments")}
    assert pack_parent(None) is None and pack_parent({}) is None
    noise = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(60_000))  # incompressible: not kept
    assert pack_parent({"text": noise}) is None or len(pack_parent({"text": noise}) or b"") <= MAX_PARENT_BYTES
    assert unpack_parent(b"not zlib") is None
    assert unpack_parent(zlib.compress(b"[1, 2]")) is None  # not an object
    bomb = zlib.compress(b"{" + b" " * (40 * MAX_PARENT_BYTES) + b"}")
    assert unpack_parent(bomb) is None  # stops at its bound instead of inflating without end
