"""A flush that finds its channel's slot held by another flush's lease looks again soon, not at the lease's end: the
lease lasts what the holder's invocation has left (about a minute), the holder's send about a second (the storm
test waited ~55 s at its end for the empty flush scheduled at the lease's end)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alertlib.deliver import Destination
from alertlib.forward import Forwarder
from tests.conftest import FakeContext
from tests.unit.test_pacing import (  # noqa: F401 - the pacing fixtures
    SLACK,
    T0,
    Clock,
    clock,
    cpu,
    flushes,
    item,
    number,
    paced,
    store,
)
from tests.unit.test_parse import sqs_event
from tools.standins import StandIn

LEASE_MS = 55_000


def test_pacing_lease_a_record_buffered_behind_a_flush_looks_again_within_seconds(
    paced: Callable[..., Forwarder],  # noqa: F811
    slack: StandIn,
    store: dict[str, Any],  # noqa: F811
    clock: Clock,  # noqa: F811
) -> None:
    forwarder = paced(Destination.SLACK)
    assert forwarder.pacer is not None
    now_ms = int(T0 * 1000)
    assert forwarder.pacer.take_flush(SLACK, now_ms, LEASE_MS) is not None  # another invocation is flushing
    assert forwarder.run(sqs_event(cpu("a")), FakeContext()) == {"batchItemFailures": []}
    assert number(item(store, SLACK, "slot"), "pending") == 1 and flushes(store) == 1
    backlog = forwarder.settings.backlog_interval_ms
    assert number(item(store, SLACK, "slot"), "flush_at") == now_ms + backlog  # not now_ms + LEASE_MS
    clock.advance(backlog / 1000)  # the holder is still sending: looked again, and again soon
    assert forwarder.run(sqs_event(f"flush:{SLACK}"), FakeContext()) == {"batchItemFailures": []}
    assert number(item(store, SLACK, "slot"), "flush_at") == now_ms + 2 * backlog and slack.accepted() == []
    forwarder.pacer.release(SLACK, int(clock() * 1000))  # the holder finished (without this record)
    clock.advance(backlog / 1000)
    assert forwarder.run(sqs_event(f"flush:{SLACK}"), FakeContext()) == {"batchItemFailures": []}
    assert len(slack.accepted()) == 1 and number(item(store, SLACK, "slot"), "pending") == 0


def test_pacing_lease_a_paced_channel_still_waits_its_whole_interval(
    paced: Callable[..., Forwarder],  # noqa: F811
    slack: StandIn,
    store: dict[str, Any],  # noqa: F811
    clock: Clock,  # noqa: F811
) -> None:
    forwarder = paced(Destination.SLACK)
    forwarder.run(sqs_event(*(cpu(f"s{i}") for i in range(3))), FakeContext())  # a digest: the interval doubles
    interval = number(item(store, SLACK, "slot"), "interval_ms")
    assert interval == 2000
    clock.advance(0.5)
    forwarder.run(sqs_event(cpu("late")), FakeContext())
    assert number(item(store, SLACK, "slot"), "flush_at") == number(item(store, SLACK, "slot"), "next_at")
