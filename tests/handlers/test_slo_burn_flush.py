"""SLO numbers (found by the second review): a buffered page carries them to its flush, and a healthy batch that
spent the invocation's wait does not make the container stop reading them."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from alertlib import forward
from alertlib.deliver import Destination
from alertlib.forward import prepare
from tests.unit.test_pacing import clock, cpu, paced, store  # noqa: F401 - the pacer's fixtures
from tests.unit.test_parse import sqs_event


@pytest.fixture(autouse=True)
def _secrets(secrets: Any) -> None:
    return None


def test_slo_quiet_period_is_not_started_by_a_healthy_batch_that_spent_the_invocations_wait(
    paced: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CloudWatch answers every read in 0.4 s (healthy): a batch of four SLO pages spends the invocation's 1.5 s, the
    fourth read being cut at 0.3 s; that must not stop the container reading numbers for a minute. Not timed: the
    forwarder's monotonic clock is a fake that each read moves on."""
    reads: list[float] = []
    seconds = [1000.0]

    def enrich(group: Any, queries: Any, *, now: Any, deadline: Any, counters: Any, budget: float) -> Any:
        took = min(0.4, budget)  # a healthy read; the caller's wait ends at `budget`
        seconds[0] += took
        reads.append(took)
        return group

    monkeypatch.setattr(forward, "time", SimpleNamespace(monotonic=lambda: seconds[0], time=time.time))
    monkeypatch.setattr(forward, "enrich_slo", enrich)
    monkeypatch.setattr(forward, "wants_numbers", lambda alert: True)
    forwarder = paced(Destination.PAGERDUTY)
    forwarder.slo_queries = object()
    from alertlib.parse import split_event

    now = datetime.now(UTC)
    group = prepare(split_event(sqs_event(cpu("slo")))[0], forwarder.settings, now)
    forwarder._slo_left = forward.QUERY_SECONDS  # one invocation, as `run` starts it
    for _ in range(4):
        forwarder._with_slo_numbers(group, now, None, forward.Counters("pagerduty"))
    assert len(reads) == 4
    forwarder._slo_left = forward.QUERY_SECONDS  # the next invocation, seconds later
    forwarder._with_slo_numbers(group, now, None, forward.Counters("pagerduty"))
    assert len(reads) == 5, "the next SLO page got no numbers: quiet period started by a healthy batch"


def test_slo_numbers_read_for_a_buffered_page_reach_pagerduty(
    paced: Any,  # noqa: F811
    pagerduty: Any,
    clock: Any,  # noqa: F811
) -> None:
    """Two SLO pages in one batch are buffered (no fast path for two) and flushed: `_accept` waited for their
    numbers, then `_flush` prepares each record again from its envelope, without them. Every SLO page of a busy
    channel (and every storm) leaves without its burn rate and budget left, after the wait was paid."""
    from alertlib.deliver import Destination
    from infra.slo import alarm_description
    from tests.conftest import FakeContext
    from tests.unit.helpers import alarm
    from tests.unit.test_slo_burn import PAIR, SLO, FakeCloudWatch, queries_of

    cloudwatch = FakeCloudWatch()
    forwarder = paced(Destination.PAGERDUTY)
    forwarder.slo_queries = queries_of(cloudwatch)
    records = [
        alarm(name=f"{PAIR.composite}", description=alarm_description(SLO, PAIR.pair), Trigger=None,
              AlarmRule=PAIR.rule, StateChangeTime=f"2026-12-03T07:5{i}:00.000+0000")
        for i in range(2)
    ]  # fmt: skip
    assert forwarder.run(sqs_event(*records), FakeContext()) == {"batchItemFailures": []}
    assert "GetMetricData" in cloudwatch.calls  # the numbers were read, the batch waited for them
    bodies = [r.body for r in pagerduty.accepted() if r.body.get("event_action") == "trigger"]
    assert bodies, "nothing paged yet"
    details = [b["payload"].get("custom_details", {}) for b in bodies]
    assert all("burn_rate" in d.get("slo", {}) for d in details), [d.get("slo") for d in details]


def test_slo_control_a_lone_fast_path_page_carries_its_numbers(paced: Any, pagerduty: Any) -> None:  # noqa: F811
    """Control for the test above (passes today): the same page alone goes by the fast path with its numbers."""
    from alertlib.deliver import Destination
    from infra.slo import alarm_description
    from tests.conftest import FakeContext
    from tests.unit.helpers import alarm
    from tests.unit.test_slo_burn import PAIR, SLO, FakeCloudWatch, queries_of

    forwarder = paced(Destination.PAGERDUTY)
    forwarder.slo_queries = queries_of(FakeCloudWatch())
    record = alarm(name=f"{PAIR.composite}", description=alarm_description(SLO, PAIR.pair), Trigger=None,
                   AlarmRule=PAIR.rule, StateChangeTime="2026-12-03T07:50:00.000+0000")  # fmt: skip
    forwarder.run(sqs_event(record), FakeContext())
    [body] = [r.body for r in pagerduty.accepted()]
    assert "burn_rate" in body["payload"]["custom_details"]["slo"]
