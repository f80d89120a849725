"""SLO numbers never hold a batch of pages back (found by the review): the wait for CloudWatch is the invocation's,
shared by its records, and after a time-out the container reads no numbers for a while. Not timed: the fake
CloudWatch holds until released, and the calls it saw are counted."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.test_pacing import clock, paced, store  # noqa: F401 - the pacer's fixtures


def test_slo_burn_a_batch_of_slo_pages_waits_for_cloudwatch_once_not_per_record(
    paced: Any,  # noqa: F811
    pagerduty: Any,
) -> None:
    import threading

    from alertlib.deliver import Destination
    from infra.slo import alarm_description
    from tests.conftest import FakeContext
    from tests.unit.helpers import alarm
    from tests.unit.test_parse import sqs_event
    from tests.unit.test_slo_burn import PAIR, SLO, FakeCloudWatch, queries_of

    hold = threading.Event()
    cloudwatch = FakeCloudWatch(hold=hold)
    forwarder = paced(Destination.PAGERDUTY)
    forwarder.slo_queries = queries_of(cloudwatch)
    records = [
        alarm(name=f"{PAIR.composite}", description=alarm_description(SLO, PAIR.pair), Trigger=None,
              AlarmRule=PAIR.rule, StateChangeTime=f"2026-12-03T07:5{i}:00.000+0000")
        for i in range(10)
    ]  # fmt: skip
    try:
        assert forwarder.run(sqs_event(*records), FakeContext()) == {"batchItemFailures": []}
        assert cloudwatch.calls == ["DescribeAlarms"]  # one read started, never a second while it hung
        forwarder.run(sqs_event(records[0]), FakeContext())
        assert cloudwatch.calls == ["DescribeAlarms"]  # the container leaves CloudWatch alone for a while
    finally:
        hold.set()
    assert pagerduty.received  # the pages left without their numbers


@pytest.fixture(autouse=True)
def _secrets(secrets: Any) -> None:
    return None
