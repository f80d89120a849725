"""Slack app mode end to end, as the wiring will run it: the first event of an alarm claims its thread (moto) and
posts the parent (the Web API stand-in), the resolve is recorded, replied in the thread and the parent edited, and
the graph is uploaded into the thread. Slack's 429 and retryable `ok: false` answers are met by retrying; a
permanent refusal is reported as permanent and nothing is stored as posted."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from alertlib.deliver import Deadline
from alertlib.graph import PNG_SIGNATURE, render_graph
from alertlib.models import AlertGroup, Status
from alertlib.render_slack import COLOURS, render_slack
from alertlib.render_thread import ACKNOWLEDGED_COLOUR, STATUS_BLOCK, render_parent, render_reply
from alertlib.slack_api import SlackApi, SlackApiError, SlackPermanentError
from alertlib.threads import (
    Actor,
    ClaimOutcome,
    EventKind,
    Thread,
    ThreadEvent,
    ThreadMeta,
    ThreadStore,
)
from tests.conftest import NOW
from tests.unit.helpers import alarm, group_of
from tools.slack_api_standin import CHANNEL, TOKEN, SlackApiStandIn

PNG = PNG_SIGNATURE + b"fake image bytes" * 8
ACK = {"type": "button", "text": {"type": "plain_text", "text": "Acknowledge"}, "action_id": "ack", "value": "a"}


@dataclass
class World:
    slack: SlackApiStandIn
    api: SlackApi
    store: ThreadStore
    cloudwatch: Any


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws(), SlackApiStandIn(outside=("C0OUTSIDE",)) as slack:
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName="threads",
            KeySchema=[{"AttributeName": "alert", "KeyType": "HASH"}, {"AttributeName": "channel", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "alert", "AttributeType": "S"},
                {"AttributeName": "channel", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        store = ThreadStore("threads", dynamodb, clock=NOW.timestamp)
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")  # GetMetricWidgetImage is stubbed below
        yield World(slack, SlackApi(api_url=slack.url, backoff_factor=0.01, read_timeout=2.0), store, cloudwatch)


def meta(group: AlertGroup) -> ThreadMeta:
    return ThreadMeta(dedup_key=group.dedup_key, routing="alerting/test/slack-app", source=group.source.value,
                      alarm_names=(group.title,))  # fmt: skip


def deliver(world: World, group: AlertGroup, kind: EventKind, now: datetime, channel: str = CHANNEL) -> Thread:
    """What forward.py will do for one event of a Slack app route (the reference for the wiring)."""
    deadline = Deadline(20.0)
    message = render_slack(group, now=now)
    alert_id = group.key
    event = ThreadEvent(kind, now)
    claim = world.store.claim(alert_id, channel, event=event, meta=meta(group))
    if claim.outcome is ClaimOutcome.WON:
        body = render_parent(message, claim.thread.state, now=now, actions=[ACK])
        try:
            posted = world.api.post_message(TOKEN, channel, deadline=deadline, **body)
        except SlackApiError as exc:
            if not exc.maybe_delivered:  # nothing posted: the next attempt claims at once
                world.store.release(claim.thread)
            raise
        thread = world.store.attach(claim.thread, posted.ts)
        image = render_graph(group.alerts[0], world.cloudwatch, now=now)
        if image is not None:
            alt = f"Graph of {group.title}"
            world.api.upload_file(TOKEN, channel, data=image, filename="graph.png", title=group.title, alt_text=alt,
                                  thread_ts=posted.ts, deadline=deadline)  # fmt: skip
        return thread
    if claim.outcome is ClaimOutcome.PENDING:
        raise AssertionError("the parent is being posted: the wiring raises a transient error here")
    recorded = world.store.record(alert_id, channel, event)
    assert recorded is not None and recorded.ts is not None
    world.api.post_message(
        TOKEN, channel, thread_ts=recorded.ts, deadline=deadline, **render_reply(event, recorded.state)
    )
    world.api.update_message(TOKEN, channel, recorded.ts, deadline=deadline,
                             **render_parent(message, recorded.state, now=now, actions=[ACK]))  # fmt: skip
    return recorded


def stub_graph(world: World, *images: bytes) -> Stubber:
    stub = Stubber(world.cloudwatch)
    for image in images:
        stub.add_response("get_metric_widget_image", {"MetricWidgetImage": image},
                          {"MetricWidget": ANY, "OutputFormat": "png"})  # fmt: skip
    stub.activate()
    return stub


def attachment_blocks(message: Any) -> list[dict[str, Any]]:
    return message.attachments[0]["blocks"] if message.attachments else message.blocks


def test_slack_app_alarm_then_resolve_edits_one_parent_with_two_thread_entries(world: World) -> None:
    stub = stub_graph(world, PNG)
    firing = group_of(alarm())
    parent_thread = deliver(world, firing, EventKind.FIRED, NOW)
    later = NOW + timedelta(minutes=17)
    resolved = deliver(world, group_of(alarm(state="OK")), EventKind.RESOLVED, later)
    stub.assert_no_pending_responses()

    (parent,) = world.slack.parents()
    assert parent.ts == parent_thread.ts == resolved.ts
    assert len(parent.edits) == 1  # posted once, edited once
    assert parent.attachments[0]["color"] == COLOURS[Status.RESOLVED]
    status = next(b for b in attachment_blocks(parent) if b.get("block_id") == STATUS_BLOCK)
    assert status["elements"][0]["text"] == "Resolved after 17 min"
    graph, reply = world.slack.replies(CHANNEL, parent.ts)
    assert graph.files and world.slack.files[graph.files[0]].data == PNG
    assert world.slack.files[graph.files[0]].alt_txt.startswith("Graph of ")
    assert "Resolved after 17 min" in reply.text and not reply.reply_broadcast
    stored = world.store.get(firing.key, CHANNEL)
    assert stored is not None and [e.kind for e in stored.history] == [EventKind.FIRED, EventKind.RESOLVED]
    assert world.store.find_by_dedup(firing.dedup_key, CHANNEL) == stored


def test_slack_app_acknowledge_from_pagerduty_finds_the_thread_by_dedup_key(world: World) -> None:
    stub_graph(world, b"not a png")  # a failed graph: the alert is posted all the same
    firing = group_of(alarm())
    deliver(world, firing, EventKind.FIRED, NOW)
    thread = world.store.find_by_dedup(firing.dedup_key, CHANNEL)
    assert thread is not None and thread.ts is not None
    event = ThreadEvent(EventKind.ACKNOWLEDGED, NOW + timedelta(minutes=2), actor=Actor.of("U0ANA", "ana"))
    recorded = world.store.record(thread.alert, CHANNEL, event)
    assert recorded is not None
    world.api.post_message(
        TOKEN, CHANNEL, thread_ts=thread.ts, deadline=Deadline(10), **render_reply(event, recorded.state)
    )
    body = render_parent(render_slack(firing, now=NOW), recorded.state, now=event.at, actions=[ACK])
    world.api.update_message(TOKEN, CHANNEL, thread.ts, deadline=Deadline(10), **body)
    (parent,) = world.slack.parents()
    assert parent.attachments[0]["color"] == ACKNOWLEDGED_COLOUR
    when = int(event.at.timestamp())
    assert [r.text for r in world.slack.replies(CHANNEL, parent.ts)] == [
        f"\U0001f440 Acknowledged by <@U0ANA> <!date^{when}^{{time}}|03:02 UTC>"
    ]


def test_slack_app_two_first_events_make_one_parent_and_one_reply(world: World) -> None:
    stub_graph(world, PNG)
    firing = group_of(alarm())
    first = world.store.claim(firing.key, CHANNEL, event=ThreadEvent(EventKind.FIRED, NOW), meta=meta(firing))
    assert world.store.claim(firing.key, CHANNEL, event=ThreadEvent(EventKind.FIRED, NOW), meta=meta(firing)).outcome \
        is ClaimOutcome.PENDING  # fmt: skip
    posted = world.api.post_message(TOKEN, CHANNEL, text="parent", deadline=Deadline(10))
    world.store.attach(first.thread, posted.ts)
    deliver(world, firing, EventKind.REFIRED, NOW + timedelta(seconds=5))  # the loser, retried: a reply
    assert len(world.slack.parents()) == 1 and len(world.slack.replies(CHANNEL, posted.ts)) == 1


def test_slack_app_429_and_retryable_errors_are_retried_and_nothing_is_lost(world: World) -> None:
    stub_graph(world, PNG)
    world.slack.fail_next(1, "ratelimited", status=429, retry_after=0.2, method="chat.postMessage")
    world.slack.fail_next(1, "service_unavailable", method="chat.postMessage")
    world.slack.fail_next(1, "fatal_error", method="files.completeUploadExternal")
    deliver(world, group_of(alarm()), EventKind.FIRED, NOW)
    world.slack.fail_next(1, "internal_error", method="chat.update")
    deliver(world, group_of(alarm(state="OK")), EventKind.RESOLVED, NOW + timedelta(minutes=3))
    (parent,) = world.slack.parents()
    assert len(parent.edits) == 1 and len(world.slack.replies(CHANNEL, parent.ts)) == 2
    statuses = [(c.method, c.status, c.error) for c in world.slack.calls if c.error]
    assert statuses == [
        ("chat.postMessage", 429, "ratelimited"),
        ("chat.postMessage", 200, "service_unavailable"),
        ("files.completeUploadExternal", 200, "fatal_error"),
        ("chat.update", 200, "internal_error"),
    ]


def test_slack_app_permanent_refusal_is_permanent_and_no_parent_is_stored(world: World) -> None:
    firing = group_of(alarm())
    with pytest.raises(SlackPermanentError) as caught:
        deliver(world, firing, EventKind.FIRED, NOW, channel="C0OUTSIDE")
    assert caught.value.code == "not_in_channel" and not caught.value.retryable
    assert world.store.get(firing.key, "C0OUTSIDE") is None  # the claim was released: no thread, no parent
    assert not world.slack.parents("C0OUTSIDE")
