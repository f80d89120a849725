"""The worker edits the parent from the message kept in the thread item (found by the second review): an odd shape
costs only the edit, and a retried job never replies twice."""

from __future__ import annotations

from typing import Any

import pytest

from alertlib.errors import DeliveryError
from alertlib.threads import EventKind, ThreadEvent
from tests.handlers.interactions_world import Recorder
from tests.handlers.test_interactions_threads import (  # noqa: F401 - fixtures
    ARN,
    WHEN,
    Setup,
    _incident,
    setup,
    worker,
)
from tools.slack_api_standin import CHANNEL


def _pagerduty_worker(setup: Setup) -> Any:  # noqa: F811
    answering = worker(setup, Recorder())
    answering.alert_keys = lambda incident, deadline: (ARN,)
    return answering


def test_worker_hostile_parent_in_thread_item_neither_breaks_the_edit_nor_doubles_the_reply(setup: Setup) -> None:  # noqa: F811
    """A thread item whose packed parent has an odd shape (here `attachments: 5`) must cost only the edit, not
    raise out of the worker after the reply went (the queue then retries the note and replies again)."""
    setup.store.record(ARN, CHANNEL, ThreadEvent(EventKind.REFIRED, WHEN, id="fwd-2"), parent={"attachments": 5})
    answering = _pagerduty_worker(setup)
    job = {"job": "pagerduty", "event": _incident("incident.acknowledged")}
    from alertlib.deliver import Deadline

    raised = []
    for _ in range(2):  # the queue hands the job again when the first run raised
        try:
            answering.run(job, Deadline(30))
        except Exception as exc:
            raised.append(type(exc).__name__)
    assert raised == []  # today: ['TypeError', 'TypeError'] (render_parent iterating `5`)
    assert len(setup.slack.replies(CHANNEL, setup.ts)) == 1


def test_worker_retried_webhook_after_failed_parent_edit_does_not_reply_twice(setup: Setup) -> None:  # noqa: F811
    """chat.update failing transiently after the reply went: the note is retried; `record` finds the event (same
    id) and changes nothing, yet the poster replies again."""
    from alertlib.deliver import Deadline

    setup.store.record(ARN, CHANNEL, ThreadEvent(EventKind.REFIRED, WHEN, id="fwd-2"), parent={"text": "p"})
    answering = _pagerduty_worker(setup)
    job = {"job": "pagerduty", "event": _incident("incident.acknowledged")}
    setup.slack.fail_next(3, "internal_error", status=500, method="chat.update")
    with pytest.raises(DeliveryError):
        answering.run(job, Deadline(30))
    answering.run(job, Deadline(30))  # the queue's retry
    assert len(setup.slack.replies(CHANNEL, setup.ts)) == 1
