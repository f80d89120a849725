"""The Slack forwarder with a Slack app route, end to end through `Forwarder.run`: SNS and SQS events in, moto's
Secrets Manager, DynamoDB (threads, pacer, idempotency) and SQS, the Slack Web API stand-in out, and a fake
CloudWatch for `GetMetricWidgetImage` (moto lacks it). Nothing here is timed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alertlib.deliver import Deliverer, Destination
from alertlib.forward import DeliveriesFailedError, Forwarder
from alertlib.graph import PNG_SIGNATURE
from alertlib.models import Severity, Status
from alertlib.observability import Counters
from alertlib.pacing import channel_for
from alertlib.render_slack import COLOURS
from alertlib.render_thread import DEFAULT_TO_CHANNEL, STATUS_BLOCK
from alertlib.settings import Route, Settings
from alertlib.slack_api import SlackApi
from alertlib.slack_app import THREAD_PARENT_LOST, THREAD_STORE_FAILED, SlackAppSender
from alertlib.threads import EventKind, ThreadEvent, ThreadMeta, ThreadStore
from tests.conftest import NOW, SLACK_SECRET, FakeContext, load_event, sns_event
from tests.unit.helpers import alarm, alertmanager, group_of
from tests.unit.test_parse import sqs_event
from tools.slack_api_standin import CHANNEL, TOKEN, SlackApiStandIn
from tools.standins import StandIn

APP = "alerting/test/slack-app"
GONE = "alerting/test/slack-app-gone"
TOPIC = "arn:aws:sns:us-east-1:123456789012:prod-critical"
PNG = PNG_SIGNATURE + b"graph" * 20
FIRED_AT = "2026-11-22T02:55:00.000+0000"
RESOLVED_AT = "2026-11-22T03:12:00.000+0000"


class FakeCloudWatch:
    """GetMetricWidgetImage as CloudWatch answers it (moto does not implement it); `fail` makes it raise."""

    def __init__(self) -> None:
        self.widgets: list[dict[str, Any]] = []
        self.fail: Exception | None = None

    def get_metric_widget_image(self, *, MetricWidget: str, OutputFormat: str) -> dict[str, Any]:  # noqa: N803
        if self.fail is not None:
            raise self.fail
        self.widgets.append(json.loads(MetricWidget))
        return {"MetricWidgetImage": PNG}


@dataclass
class World:
    slack: SlackApiStandIn
    webhook: StandIn
    aws: Any
    dynamodb: Any
    sqs: Any
    queue_url: str
    cloudwatch: FakeCloudWatch
    store: ThreadStore

    def forwarder(self, *, secrets: tuple[str, ...] = (APP,), **overrides: Any) -> Forwarder:
        apps = overrides.pop("slack_apps", {APP: DEFAULT_TO_CHANNEL, GONE: DEFAULT_TO_CHANNEL})
        settings = Settings(
            routes={"prod-critical": Route(Severity.CRITICAL, secrets), "default": Route(Severity.ERROR, secrets)},
            slack_apps=apps,
            thread_table="threads",
            slack_api_url=self.slack.url,
            **overrides,
        )
        deliverer = Deliverer(pagerduty_url="http://127.0.0.1:9/", connect_timeout=1.0, read_timeout=2.0, retries=3,
                              backoff_factor=0.01)  # fmt: skip
        api = SlackApi(api_url=self.slack.url, backoff_factor=0.01, read_timeout=2.0, retries=3)
        app = SlackAppSender(api=api, store=self.store, apps=apps, graphs=self.cloudwatch)
        return Forwarder(destination=Destination.SLACK, settings=settings, deliverer=deliverer, app=app)

    def table(self, name: str, keys: tuple[str, ...]) -> None:
        self.dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": k, "KeyType": t} for k, t in zip(keys, ("HASH", "RANGE"), strict=False)],
            AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in keys],
            BillingMode="PAY_PER_REQUEST",
        )


@pytest.fixture
def world(aws: Any) -> Iterator[World]:
    import boto3

    aws.create_secret(Name=APP, SecretString=json.dumps({"bot_token": TOKEN, "channel": CHANNEL}))
    aws.create_secret(Name=GONE, SecretString=json.dumps({"bot_token": TOKEN, "channel": "C0GONE"}))
    with SlackApiStandIn(limits=False) as slack, StandIn("slack") as webhook:
        aws.create_secret(Name=SLACK_SECRET, SecretString=webhook.url)
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue_url = sqs.create_queue(QueueName="slack-forwarder")["QueueUrl"]
        world = World(slack, webhook, aws, dynamodb, sqs, queue_url, FakeCloudWatch(), ThreadStore("threads", dynamodb))
        world.table("threads", ("alert", "channel"))
        yield world


def cpu(state: str = "ALARM", when: str = FIRED_AT) -> dict[str, Any]:
    return alarm(state=state, StateChangeTime=when)


def sns(message: Any, message_id: str) -> dict[str, Any]:
    """One SNS record as Lambda receives it, with its own MessageId (SNS gives each publish its own)."""
    event = sns_event(message, topic=TOPIC)
    event["Records"][0]["Sns"]["MessageId"] = message_id
    return event


def blocks(message: Any) -> list[dict[str, Any]]:
    return [*message.blocks, *(b for a in message.attachments for b in a.get("blocks") or [])]


def status_of(message: Any) -> str:
    return str(next(b for b in blocks(message) if b.get("block_id") == STATUS_BLOCK)["elements"][0]["text"])


def action_ids(message: Any) -> list[str]:
    """The alert actions offered (the message's own link buttons left aside)."""
    found = [e["action_id"] for b in blocks(message) if b.get("type") == "actions" for e in b["elements"]]
    return [i for i in found if i.startswith("alert.")]


def replies(world: World, parent: Any) -> list[Any]:
    return world.slack.replies(CHANNEL, parent.ts)


# -- the thread ----------------------------------------------------------------------------------------------------


def test_slack_app_forwarder_first_alarm_posts_a_parent_with_actions_and_a_graph_in_its_thread(world: World) -> None:
    event = load_event("lambda-sns-cloudwatch-metric-alarm-single-metric__aws-lambda-go.json")
    event["Records"][0]["Sns"]["TopicArn"] = TOPIC
    outcome = world.forwarder().run(event, FakeContext(), now=NOW)
    assert (outcome["delivered"], outcome["failed"]) == (1, 0)
    (parent,) = world.slack.parents()
    assert parent.thread_ts is None and parent.token == TOKEN
    assert status_of(parent) == "Not acknowledged"
    assert action_ids(parent) == ["alert.ack", "alert.mute"]  # paged route, CloudWatch alarm
    (graph,) = replies(world, parent)
    assert graph.files and world.slack.files[graph.files[0]].data == PNG
    assert world.slack.files[graph.files[0]].alt_txt.startswith("Graph of AWS/EC2 NetworkOut")
    assert world.cloudwatch.widgets[0]["metrics"][0][:2] == ["AWS/EC2", "NetworkOut"]
    thread = world.store.get("arn:aws:cloudwatch:REGION:ACCOUNT_NUMBER:alarm:EXAMPLE", CHANNEL)
    assert thread is not None and thread.ts == parent.ts
    assert thread.meta.routing == "prod-critical" and thread.meta.alarm_names == ("EXAMPLE",)
    assert [e.id for e in thread.history] == ["95df01b4-ee98-5cb9-9903-4c221d41eb5e"]
    assert not world.webhook.received


def test_slack_app_forwarder_ok_replies_in_the_thread_and_edits_the_parent(world: World) -> None:
    forwarder = world.forwarder()
    forwarder.run(sns(cpu(), "m-alarm"), FakeContext(), now=NOW)
    outcome = forwarder.run(sns(cpu("OK", RESOLVED_AT), "m-ok"), FakeContext(), now=NOW + timedelta(minutes=13))
    assert outcome["delivered"] == 1
    (parent,) = world.slack.parents()
    assert len(parent.edits) == 1
    assert parent.attachments[0]["color"] == COLOURS[Status.RESOLVED]
    assert status_of(parent) == "Resolved after 17 min"
    assert action_ids(parent) == []  # resolved and not muted: nothing left to act on
    graph, reply = replies(world, parent)
    assert graph.files and "Resolved after 17 min" in reply.text and not reply.reply_broadcast
    assert len(world.cloudwatch.widgets) == 1  # the graph comes with the parent only


def test_slack_app_forwarder_refire_replies_and_is_shown_in_the_channel(world: World) -> None:
    forwarder = world.forwarder()
    forwarder.run(sns(cpu(), "m-1"), FakeContext(), now=NOW)
    forwarder.run(sns(cpu("OK", RESOLVED_AT), "m-2"), FakeContext(), now=NOW + timedelta(minutes=13))
    again = "2026-11-22T03:20:00.000+0000"
    forwarder.run(sns(cpu(when=again), "m-3"), FakeContext(), now=NOW + timedelta(minutes=21))
    (parent,) = world.slack.parents()
    *_, resolved, refired = replies(world, parent)
    assert "Firing again (2nd time)" in refired.text and refired.reply_broadcast  # DEFAULT_TO_CHANNEL
    assert not resolved.reply_broadcast
    assert status_of(parent) == "Not acknowledged" and parent.attachments[0]["color"] != COLOURS[Status.RESOLVED]
    assert action_ids(parent) == ["alert.ack", "alert.mute"]


def test_slack_app_forwarder_to_channel_is_the_routes_choice(world: World) -> None:
    forwarder = world.forwarder(slack_apps={APP: frozenset({EventKind.RESOLVED})})
    forwarder.run(sns(cpu(), "m-1"), FakeContext(), now=NOW)
    forwarder.run(sns(cpu("OK", RESOLVED_AT), "m-2"), FakeContext(), now=NOW + timedelta(minutes=13))
    (parent,) = world.slack.parents()
    assert replies(world, parent)[-1].reply_broadcast


def test_slack_app_forwarder_alertmanager_group_keeps_its_matchers_and_offers_silence(world: World) -> None:
    firing = alertmanager(2)
    world.forwarder().run(sns(firing, "am-1"), FakeContext(), now=NOW)
    (parent,) = world.slack.parents()
    assert "alert.silence" in action_ids(parent) and "alert.mute" not in action_ids(parent)
    assert not replies(world, parent)  # no graph for Alertmanager
    thread = world.store.get(group_of(firing).key, CHANNEL)
    assert thread is not None and thread.meta.source == "alertmanager" and thread.meta.matchers


def test_slack_app_forwarder_alertmanager_samples_fire_then_resolve_in_one_thread(world: World) -> None:
    forwarder = world.forwarder()
    firing = load_event("alertmanager-webhook-v4-firing__alertmanager-bot.json")
    resolved = load_event("alertmanager-webhook-v4-resolved__alertmanager-bot.json")
    later = datetime(2018, 11, 4, 21, 50, tzinfo=UTC)
    assert forwarder.run(sns(firing, "am-firing"), FakeContext(), now=later)["delivered"] == 1
    assert forwarder.run(sns(resolved, "am-resolved"), FakeContext(), now=later)["delivered"] == 1
    (parent,) = world.slack.parents()
    assert status_of(parent) == "Resolved after 4 min" and parent.attachments[0]["color"] == COLOURS[Status.RESOLVED]
    (reply,) = replies(world, parent)
    assert "Resolved after 4 min" in reply.text
    thread = world.store.get(group_of(firing).key, CHANNEL)
    assert thread is not None and [(m.name, m.value) for m in thread.meta.matchers] == [("alertname", "Fire")]


# -- at most once, never lost -------------------------------------------------------------------------------------


@pytest.mark.parametrize("idempotency", [False, True])
def test_slack_app_forwarder_a_retried_record_posts_nothing_twice(world: World, idempotency: bool) -> None:
    overrides: dict[str, Any] = {}
    if idempotency:
        world.table("idempotency", ("id",))
        overrides["idempotency_table"] = "idempotency"
    forwarder = world.forwarder(**overrides)
    firing, ok = sqs_event(cpu(), topic=TOPIC), sqs_event(cpu("OK", RESOLVED_AT), topic=TOPIC)
    later = NOW + timedelta(minutes=13)
    for _ in range(2):  # SQS delivers each record twice
        assert forwarder.run(firing, FakeContext(), now=NOW) == {"batchItemFailures": []}
    world.slack.fail_next(3, "internal_error", method="chat.update")  # the reply goes, the edit does not (3 tries)
    answer = forwarder.run(ok, FakeContext(), now=later)
    assert answer == {"batchItemFailures": [{"itemIdentifier": ok["Records"][0]["messageId"]}]}
    for _ in range(2):  # received again: the edit goes, the reply is not posted a second time
        assert forwarder.run(ok, FakeContext(), now=later) == {"batchItemFailures": []}
    (parent,) = world.slack.parents()
    graph, reply = replies(world, parent)
    assert graph.files and "Resolved after 17 min" in reply.text
    assert status_of(parent) == "Resolved after 17 min"
    assert len(world.slack.calls_of("files.completeUploadExternal")) == 1
    thread = world.store.get(forwarder_alert(), CHANNEL)
    assert thread is not None and [e.kind for e in thread.history] == [EventKind.FIRED, EventKind.RESOLVED]


def forwarder_alert() -> str:
    return str(cpu()["AlarmArn"])


def test_slack_app_forwarder_a_failed_reply_is_posted_on_the_retry_with_idempotency(world: World) -> None:
    world.table("idempotency", ("id",))
    forwarder = world.forwarder(idempotency_table="idempotency")
    forwarder.run(sqs_event(cpu(), topic=TOPIC), FakeContext(), now=NOW)
    ok = sqs_event(cpu("OK", RESOLVED_AT), topic=TOPIC)
    world.slack.fail_next(3, "internal_error", method="chat.postMessage")
    assert forwarder.run(ok, FakeContext(), now=NOW + timedelta(minutes=13))["batchItemFailures"]
    assert forwarder.run(ok, FakeContext(), now=NOW + timedelta(minutes=13)) == {"batchItemFailures": []}
    (parent,) = world.slack.parents()
    assert ["Resolved after 17 min" in r.text for r in replies(world, parent)] == [False, True]  # graph, reply


def test_slack_app_forwarder_waits_while_another_invocation_posts_the_parent(world: World) -> None:
    world.store.claim(forwarder_alert(), CHANNEL, event=ThreadEvent(EventKind.FIRED, NOW, id="other"),
                      meta=ThreadMeta())  # fmt: skip
    event = sqs_event(cpu(), topic=TOPIC)
    answer = world.forwarder().run(event, FakeContext(), now=NOW)
    assert answer == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert world.slack.calls == []


def test_slack_app_forwarder_a_lost_answer_keeps_the_claim_so_no_second_parent_follows_at_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alertlib.slack_api import SlackTransientError

    forwarder = world.forwarder()
    assert forwarder.app is not None
    lost = SlackTransientError("slack chat.postMessage: no_answer")
    lost.maybe_delivered = True

    def no_answer(*args: Any, **kwargs: Any) -> Any:
        raise lost

    monkeypatch.setattr(forwarder.app.api, "post_message", no_answer)
    event = sqs_event(cpu(), topic=TOPIC)
    assert forwarder.run(event, FakeContext(), now=NOW)["batchItemFailures"]
    claimed = world.store.get(forwarder_alert(), CHANNEL)
    assert claimed is not None and claimed.ts is None  # kept: the parent may be in the channel
    monkeypatch.undo()
    assert forwarder.run(event, FakeContext(), now=NOW)["batchItemFailures"]  # pending until the claim goes stale
    assert world.slack.parents() == []


def test_slack_app_forwarder_a_parent_gone_gets_a_new_one_with_the_event(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted: list[str] = []
    monkeypatch.setattr(Counters, "add", lambda self, name, source, value=1: counted.append(name))
    forwarder = world.forwarder()
    forwarder.run(sns(cpu(), "m-1"), FakeContext(), now=NOW)
    with world.slack.lock:
        world.slack.messages[CHANNEL].clear()  # someone deleted the parent (and its thread)
    outcome = forwarder.run(sns(cpu("OK", RESOLVED_AT), "m-2"), FakeContext(), now=NOW + timedelta(minutes=13))
    assert outcome["delivered"] == 1
    (again,) = world.slack.parents()
    assert status_of(again) == "Resolved after 17 min" and again.thread_ts is None
    assert THREAD_PARENT_LOST in counted


def test_slack_app_forwarder_a_failing_thread_table_posts_the_alert_unthreaded_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted: list[str] = []
    monkeypatch.setattr(Counters, "add", lambda self, name, source, value=1: counted.append(name))
    world.table("idempotency", ("id",))
    forwarder = world.forwarder(idempotency_table="idempotency")
    world.dynamodb.delete_table(TableName="threads")  # the thread table is unavailable
    event = sqs_event(cpu(), topic=TOPIC)
    for _ in range(2):
        assert forwarder.run(event, FakeContext(), now=NOW) == {"batchItemFailures": []}
    (message,) = world.slack.parents()
    assert message.thread_ts is None and action_ids(message) == [] and THREAD_STORE_FAILED in counted


def test_slack_app_forwarder_a_failing_graph_never_fails_the_alert(world: World) -> None:
    from botocore.exceptions import ClientError

    world.cloudwatch.fail = ClientError({"Error": {"Code": "Throttling"}}, "GetMetricWidgetImage")
    assert world.forwarder().run(sns(cpu(), "m-1"), FakeContext(), now=NOW)["delivered"] == 1
    (parent,) = world.slack.parents()
    assert replies(world, parent) == []


def test_slack_app_forwarder_no_graph_when_little_time_is_left(world: World) -> None:
    assert world.forwarder().run(sns(cpu(), "m-1"), FakeContext(remaining_ms=6_000), now=NOW)["delivered"] == 1
    (parent,) = world.slack.parents()
    assert replies(world, parent) == [] and world.cloudwatch.widgets == []


# -- Slack's answers -----------------------------------------------------------------------------------------------


def test_slack_app_forwarder_429_and_ratelimited_are_retried(world: World) -> None:
    world.slack.fail_next(1, "ratelimited", status=429, retry_after=0.2, method="chat.postMessage")
    world.slack.fail_next(1, "ratelimited", method="chat.postMessage")
    assert world.forwarder().run(sqs_event(cpu(), topic=TOPIC), FakeContext(), now=NOW) == {"batchItemFailures": []}
    assert len(world.slack.parents()) == 1
    assert [(c.status, c.error) for c in world.slack.calls_of("chat.postMessage")] == [
        (429, "ratelimited"),
        (200, "ratelimited"),
        (200, ""),
    ]


def test_slack_app_forwarder_ratelimited_past_the_retries_is_received_again_then_posted_once(world: World) -> None:
    world.slack.fail_next(5, "ratelimited", method="chat.postMessage")
    forwarder = world.forwarder()
    event = sqs_event(cpu(), topic=TOPIC)
    assert forwarder.run(event, FakeContext(), now=NOW)["batchItemFailures"]
    assert world.store.get(forwarder_alert(), CHANNEL) is None  # the claim was released: nothing was posted
    world.slack.failures.clear()
    assert forwarder.run(event, FakeContext(), now=NOW) == {"batchItemFailures": []}
    assert len(world.slack.parents()) == 1


def test_slack_app_forwarder_channel_not_found_fails_the_record_and_stores_nothing(world: World) -> None:
    forwarder = world.forwarder(secrets=(GONE,))
    event = sqs_event(cpu(), topic=TOPIC)
    assert forwarder.run(event, FakeContext(), now=NOW) == {
        "batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]
    }
    assert world.store.get(forwarder_alert(), "C0GONE") is None
    assert [c.error for c in world.slack.calls_of("chat.postMessage")] == ["channel_not_found"]
    with pytest.raises(DeliveriesFailedError, match="channel_not_found"):
        forwarder.run(sns(cpu(), "m-1"), FakeContext(), now=NOW)


def test_slack_app_forwarder_a_bad_secret_fails_the_record_without_a_post(world: World) -> None:
    world.aws.put_secret_value(SecretId=APP, SecretString="https://hooks.slack.com/services/T/B/x")
    with pytest.raises(DeliveriesFailedError, match="not JSON"):
        world.forwarder().run(sns(cpu(), "m-1"), FakeContext(), now=NOW)
    assert world.slack.calls == []


# -- pacing and webhooks -------------------------------------------------------------------------------------------


def paced(world: World, **overrides: Any) -> Forwarder:
    world.table("pacer", ("channel", "item"))
    return world.forwarder(pacer_table="pacer", queue_url=world.queue_url, **overrides)


def test_slack_app_forwarder_paced_lone_alert_is_threaded_and_a_busy_batch_is_one_channel_digest(
    world: World,
) -> None:
    forwarder = paced(world)
    clock = [1_795_000_000.0]
    forwarder.clock = lambda: clock[0]
    assert forwarder.run(sqs_event(cpu(), topic=TOPIC), FakeContext(), now=NOW) == {"batchItemFailures": []}
    clock[0] += 60
    batch = sqs_event(*(alarm(name=f"db-{i}", StateChangeTime=FIRED_AT) for i in range(3)), topic=TOPIC)
    assert forwarder.run(batch, FakeContext(), now=NOW) == {"batchItemFailures": []}
    thread_parent, digest = world.slack.parents()
    assert world.store.get(forwarder_alert(), CHANNEL) is not None
    assert all(f"db-{i}" in json.dumps(digest.blocks + digest.attachments) for i in range(3))
    assert digest.thread_ts is None and action_ids(digest) == []
    assert world.store.get("arn:aws:cloudwatch:us-east-1:123456789012:alarm:db-0", CHANNEL) is None
    clock[0] += 60  # a buffered flush of one alert goes into its thread
    forwarder.run(sqs_event(cpu("OK", RESOLVED_AT), topic=TOPIC), FakeContext(), now=NOW + timedelta(minutes=13))
    assert status_of(thread_parent_now(world, thread_parent.ts)) == "Resolved after 17 min"


def test_slack_app_forwarder_a_digest_brings_the_threads_of_its_alerts_up_to_date(world: World) -> None:
    world.table("idempotency", ("id",))
    forwarder = paced(world, idempotency_table="idempotency")
    clock = [1_795_000_000.0]
    forwarder.clock = lambda: clock[0]
    forwarder.run(sqs_event(cpu(), topic=TOPIC), FakeContext(), now=NOW)
    clock[0] += 60
    others = (alarm(name=f"db-{i}", StateChangeTime=RESOLVED_AT) for i in range(2))
    batch = sqs_event(cpu("OK", RESOLVED_AT), *others, topic=TOPIC)
    for _ in range(2):  # the batch received twice: one digest, one edit
        assert forwarder.run(batch, FakeContext(), now=NOW + timedelta(minutes=13)) == {"batchItemFailures": []}
        clock[0] += 60
    parent, digest = world.slack.parents()
    assert digest.thread_ts is None and "db-1" in json.dumps(digest.attachments + digest.blocks)
    assert len(parent.edits) == 1 and status_of(parent) == "Resolved after 17 min"
    assert parent.attachments[0]["color"] == COLOURS[Status.RESOLVED]
    assert len(replies(world, parent)) == 1  # the graph; the digest said the rest in the channel
    thread = world.store.get(forwarder_alert(), CHANNEL)
    assert thread is not None and [e.kind for e in thread.history] == [EventKind.FIRED, EventKind.RESOLVED]


def thread_parent_now(world: World, ts: str) -> Any:
    return world.slack.find(CHANNEL, ts)


def test_slack_app_forwarder_a_flush_of_one_alert_goes_into_its_thread(world: World) -> None:
    forwarder = paced(world)
    clock = [1_795_000_000.0]
    forwarder.clock = lambda: clock[0]
    forwarder.run(sqs_event(cpu(), topic=TOPIC), FakeContext(), now=NOW)
    clock[0] += 0.2  # within the pacing second: buffered, a flush scheduled
    forwarder.run(sqs_event(cpu("OK", RESOLVED_AT), topic=TOPIC), FakeContext(), now=NOW + timedelta(minutes=13))
    (parent,) = world.slack.parents()
    assert len(replies(world, parent)) == 1  # only the graph so far
    clock[0] += 1
    flush = sqs_event(f"flush:{channel_for(Destination.SLACK, APP)}")
    assert forwarder.run(flush, FakeContext(), now=NOW + timedelta(minutes=13)) == {"batchItemFailures": []}
    assert "Resolved after 17 min" in replies(world, parent)[-1].text
    assert status_of(world.slack.find(CHANNEL, parent.ts)) == "Resolved after 17 min"


def test_slack_app_forwarder_a_digest_slack_refuses_is_kept_and_unblocks_the_channel(world: World) -> None:
    forwarder = paced(world)
    kept: list[tuple[str, str]] = []
    forwarder.parker = lambda envelope, reason: kept.append((envelope.message_id, reason))
    world.slack.fail_next(1, "invalid_blocks", method="chat.postMessage")
    batch = sqs_event(*(alarm(name=f"db-{i}", StateChangeTime=FIRED_AT) for i in range(3)), topic=TOPIC)
    assert forwarder.run(batch, FakeContext(), now=NOW) == {"batchItemFailures": []}
    assert len(kept) == 3 and all("invalid_blocks" in reason for _, reason in kept)
    assert world.slack.parents() == []
    pending = world.dynamodb.get_item(
        TableName="pacer", Key={"channel": {"S": channel_for(Destination.SLACK, APP)}, "item": {"S": "slot"}}
    )["Item"]
    assert pending["pending"]["N"] == "0"


def test_slack_app_forwarder_webhook_routes_are_unchanged_beside_an_app_route(world: World) -> None:
    outcome = world.forwarder(secrets=(SLACK_SECRET, APP)).run(sns(cpu(), "m-1"), FakeContext(), now=NOW)
    assert outcome["delivered"] == 2
    (hooked,) = world.webhook.accepted()
    assert hooked.body["blocks"][0]["type"] == "header" and "thread-status" not in json.dumps(hooked.body)
    assert len(world.slack.parents()) == 1


def test_slack_app_forwarder_insufficient_data_is_a_channel_message(world: World) -> None:
    world.forwarder().run(sns(cpu("INSUFFICIENT_DATA"), "m-1"), FakeContext(), now=NOW)
    (message,) = world.slack.parents()
    assert action_ids(message) == [] and world.store.get(forwarder_alert(), CHANNEL) is None


def test_slack_app_forwarder_settings_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "SLACK_APPS": json.dumps({APP: {"to_channel": ["resolved", "refired"]}, GONE: {}}),
            "THREAD_TABLE": "threads",
            "SLACK_API_URL": "http://127.0.0.1:8099/api/",
        }
    )
    assert settings.slack_apps == {APP: frozenset({EventKind.RESOLVED, EventKind.REFIRED}), GONE: DEFAULT_TO_CHANNEL}
    assert (settings.thread_table, settings.slack_api_url) == ("threads", "http://127.0.0.1:8099/api/")
    assert Settings.from_env({}).slack_api_url == "https://slack.com/api/"
    from alertlib.errors import ConfigurationError

    for raw, says in [("[]", "JSON object"), ('{"a": {"to_channel": ["paged"]}}', "unknown thread event"),
                      ('{"a": {"to_channel": "resolved"}}', "must be a list")]:  # fmt: skip
        with pytest.raises(ConfigurationError, match=says):
            Settings.from_env({"SLACK_APPS": raw})
    with pytest.raises(ConfigurationError, match="THREAD_TABLE"):
        SlackAppSender.from_settings(Settings.from_env({"SLACK_APPS": json.dumps({APP: {}})}))
    assert SlackAppSender.from_settings(Settings()) is None


def test_slack_app_forwarder_handler_builds_the_app_sender_from_its_environment(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import slack_forwarder
    from alertlib.errors import ConfigurationError

    monkeypatch.setattr(slack_forwarder, "forwarder", None)
    monkeypatch.setenv("ROUTES", json.dumps({"prod-critical": {"severity": "critical", "secrets": [APP]}}))
    monkeypatch.setenv("SLACK_APPS", json.dumps({APP: {"to_channel": ["resolved"]}}))
    monkeypatch.setenv("THREAD_TABLE", "threads")
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:8099/api/")
    built = Forwarder.from_env(Destination.SLACK, app=slack_forwarder.slack_apps)
    assert built.app is not None and built.app.store is not None and built.app.store.table == "threads"
    assert built.app.api.api_url == "http://127.0.0.1:8099/api/" and built.app.graphs is not None
    assert built.app.apps == {APP: frozenset({EventKind.RESOLVED})}
    monkeypatch.delenv("THREAD_TABLE")
    with pytest.raises(ConfigurationError, match="THREAD_TABLE"):
        Forwarder.from_env(Destination.SLACK, app=slack_forwarder.slack_apps)
    monkeypatch.delenv("SLACK_APPS")
    assert Forwarder.from_env(Destination.SLACK, app=slack_forwarder.slack_apps).app is None


def test_slack_app_forwarder_pagerduty_fallback_notice_can_go_to_an_app_route(world: World) -> None:
    from tests.conftest import PAGERDUTY_SECRET, ROUTING_KEY
    from tools.standins import Answer

    world.aws.create_secret(Name=PAGERDUTY_SECRET, SecretString=ROUTING_KEY)
    with StandIn("pagerduty") as pagerduty:
        pagerduty.then(*[Answer(status=400, body="{}")] * 3)
        settings = Settings(
            routes={"prod-critical": Route(Severity.CRITICAL, (PAGERDUTY_SECRET,))},
            pagerduty_url=pagerduty.url,
            fallback_slack_secret=APP,
            slack_apps={APP: DEFAULT_TO_CHANNEL},
            slack_api_url=world.slack.url,
        )
        app = SlackAppSender.from_settings(settings, threads=False)
        assert app is not None and app.store is None and app.graphs is None
        deliverer = Deliverer(pagerduty_url=pagerduty.url, connect_timeout=1.0, read_timeout=2.0, retries=1,
                              backoff_factor=0.01)  # fmt: skip
        forwarder = Forwarder(destination=Destination.PAGERDUTY, settings=settings, deliverer=deliverer, app=app)
        with pytest.raises(DeliveriesFailedError):
            forwarder.run(sns(cpu(), "m-1"), FakeContext(), now=NOW)
    (notice,) = world.slack.parents()
    assert "PagerDuty" in json.dumps(notice.attachments + notice.blocks) and notice.thread_ts is None


def test_slack_app_forwarder_parent_is_edited_by_a_pagerduty_acknowledgement_it_never_saw(world: World) -> None:
    """A PagerDuty webhook carries no Slack message: the worker edits the parent from the message the forwarder kept
    in the thread item (a click carries its own)."""
    from alertlib.action_threads import SlackThreadPoster
    from alertlib.deliver import Deadline
    from alertlib.interactions import ThreadNote
    from alertlib.slack_api import read_credentials
    from alertlib.threads import Actor

    world.forwarder().run(sns(cpu(), "m-alarm"), FakeContext(), now=NOW)
    (parent,) = world.slack.parents()
    thread = world.store.find_by_dedup(thread_dedup(world), CHANNEL)
    assert thread is not None and thread.parent is not None
    poster = SlackThreadPoster(
        SlackApi(api_url=world.slack.url, backoff_factor=0.01, read_timeout=2.0, retries=3),
        world.store,
        lambda channel: read_credentials(APP),
        channels=(CHANNEL,),
        clock=lambda: NOW + timedelta(minutes=3),
    )
    event = ThreadEvent(EventKind.ACKNOWLEDGED, NOW + timedelta(minutes=3), actor=Actor.of(name="Ana Lopez"), id="pd-1")
    poster(ThreadNote(text="Acknowledged in PagerDuty", dedup_key=thread.meta.dedup_key, event=event), Deadline(30))
    (parent,) = world.slack.parents()
    assert len(parent.edits) == 1
    assert status_of(parent).startswith("Acknowledged by Ana Lopez")
    assert action_ids(parent) == ["alert.mute"]  # acknowledged: Acknowledge is gone
    assert "cpu" in json.dumps(parent.attachments).lower()  # the alert's own body, not a bare status


def thread_dedup(world: World) -> str:
    items = world.dynamodb.scan(TableName="threads")["Items"]
    return next(i["dedup_key"]["S"] for i in items if "dedup_key" in i and "ts" in i)


@pytest.mark.parametrize(
    ("paged", "offered"), [(None, True), (frozenset({"prod-critical"}), True), (frozenset(), False)]
)
def test_slack_app_forwarder_offers_acknowledge_only_on_topics_that_page(
    world: World, paged: frozenset[str] | None, offered: bool
) -> None:
    world.forwarder(paged_routes=paged).run(sns(cpu(), "m-alarm"), FakeContext(), now=NOW)
    (parent,) = world.slack.parents()
    assert ("alert.ack" in action_ids(parent)) is offered
    assert "alert.mute" in action_ids(parent)  # muting the alarm needs no page


def test_slack_app_forwarder_paged_routes_from_the_environment() -> None:
    from alertlib.errors import ConfigurationError

    assert Settings.from_env({}).paged_routes is None
    assert Settings.from_env({"PAGED_ROUTES": '["dev-critical","dev-slo"]'}).paged_routes == {"dev-critical", "dev-slo"}
    with pytest.raises(ConfigurationError, match="PAGED_ROUTES"):
        Settings.from_env({"PAGED_ROUTES": '{"dev-critical": 1}'})


def test_slack_app_forwarder_offers_no_buttons_when_nothing_answers_them(world: World) -> None:
    forwarder = world.forwarder()
    assert forwarder.app is not None
    forwarder.app.actions = False  # SLACK_ACTIONS=off: the stack has no on-call endpoints
    forwarder.run(sns(cpu(), "m-alarm"), FakeContext(), now=NOW)
    (parent,) = world.slack.parents()
    assert action_ids(parent) == [] and status_of(parent) == "Not acknowledged"
    assert Settings.from_env({"SLACK_ACTIONS": "off"}).slack_actions is False
    assert Settings.from_env({}).slack_actions is True


# -- found by the review ------------------------------------------------------------------------------------------


def test_slack_app_forwarder_stale_claim_taken_over_by_the_resolve_shows_resolved(world: World) -> None:
    """The fire's invocation claimed the thread and its post never arrived (or it died); the resolve takes the
    stale claim over: the parent it posts shows the alert resolved, not the fire's state."""
    stale = ThreadStore("threads", world.dynamodb, clock=lambda: NOW.timestamp() - 300)
    fired = ThreadEvent(EventKind.FIRED, NOW - timedelta(minutes=5), id="m-1")
    stale.claim(forwarder_alert(), CHANNEL, event=fired, meta=ThreadMeta())
    forwarder = world.forwarder()
    assert forwarder.app is not None
    forwarder.app.store = ThreadStore("threads", world.dynamodb, clock=NOW.timestamp)
    out = forwarder.run(sns(cpu("OK", RESOLVED_AT), "m-2"), FakeContext(), now=NOW + timedelta(minutes=13))
    assert out["delivered"] == 1
    (parent,) = world.slack.parents()
    thread = world.store.get(forwarder_alert(), CHANNEL)
    assert thread is not None and thread.state.status is Status.RESOLVED
    assert [e.kind for e in thread.history] == [EventKind.FIRED, EventKind.RESOLVED]
    assert status_of(parent).startswith("Resolved")


def test_slack_app_forwarder_parents_past_the_digest_bound_are_counted_and_warned(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    from alertlib.deliver import Deadline
    from alertlib.render_slack import render_slack
    from alertlib.slack_app import MAX_DIGEST_EDITS, PARENT_UPDATE_FAILED

    forwarder = world.forwarder()
    names = [f"svc-{i}" for i in range(MAX_DIGEST_EDITS + 2)]
    for i, name in enumerate(names):
        forwarder.run(sns(alarm(name=name, StateChangeTime=FIRED_AT), f"f-{i}"), FakeContext(), now=NOW)
    later = NOW + timedelta(minutes=13)
    groups = [group_of(alarm(name=n, state="OK", StateChangeTime=RESOLVED_AT)) for n in names]
    counters = Counters("slack")
    assert forwarder.app is not None
    edited = forwarder.app.after_digest(
        [(g, f"r-{i}", render_slack(g, now=later)) for i, g in enumerate(groups)], APP, Deadline(60), later, counters
    )
    assert edited == MAX_DIGEST_EDITS
    assert counters.counts[(PARENT_UPDATE_FAILED, "cloudwatch")] == 2
    assert any(r.levelname == "WARNING" and "left unedited" in r.getMessage() for r in caplog.records)
