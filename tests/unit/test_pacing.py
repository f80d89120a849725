"""Pacing under moto: the fast path, buffering, flushes, intervals, ordering, PagerDuty storms, redeliveries, a
failing store. The forwarders run in process against the local stand-ins; the pacer's clock is the test's."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from alertlib.deliver import Destination
from alertlib.forward import Forwarder
from alertlib.models import Severity
from alertlib.pacing import channel_for
from alertlib.settings import Route
from tests.conftest import PAGERDUTY_SECRET, SLACK_SECRET, FakeContext
from tests.unit.helpers import alarm
from tests.unit.test_parse import sqs_event
from tools.standins import Answer, StandIn

PACER = "pacer"
T0 = 1_795_000_000.0  # the pacer's clock (epoch seconds) at the start of each test
SLACK = channel_for(Destination.SLACK, SLACK_SECRET)
PAGERDUTY = channel_for(Destination.PAGERDUTY, PAGERDUTY_SECRET)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def store(secrets: Any) -> dict[str, Any]:
    import boto3

    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(
        TableName=PACER,
        KeySchema=[{"AttributeName": "channel", "KeyType": "HASH"}, {"AttributeName": "item", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "channel", "AttributeType": "S"},
            {"AttributeName": "item", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue_url = sqs.create_queue(QueueName="test-forwarder-queue")["QueueUrl"]
    return {"dynamodb": dynamodb, "sqs": sqs, "queue_url": queue_url}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def paced(make_forwarder: Callable[..., Forwarder], store: dict[str, Any], clock: Clock) -> Callable[..., Forwarder]:
    def build(destination: Destination, **overrides: Any) -> Forwarder:
        settings = {"pacer_table": PACER, "queue_url": store["queue_url"], **overrides}
        forwarder = make_forwarder(destination, **settings)
        forwarder.clock = clock
        return forwarder

    return build


def item(store: dict[str, Any], channel: str, key: str) -> dict[str, Any]:
    answer = store["dynamodb"].get_item(TableName=PACER, Key={"channel": {"S": channel}, "item": {"S": key}})
    return answer.get("Item", {})


def items(store: dict[str, Any], channel: str, prefix: str) -> list[dict[str, Any]]:
    answer = store["dynamodb"].query(
        TableName=PACER,
        KeyConditionExpression="channel = :c AND begins_with(#i, :p)",
        ExpressionAttributeNames={"#i": "item"},
        ExpressionAttributeValues={":c": {"S": channel}, ":p": {"S": prefix}},
    )
    return list(answer["Items"])


def number(found: dict[str, Any], name: str) -> int:
    return int(found[name]["N"]) if name in found else 0


def flushes(store: dict[str, Any]) -> int:
    """How many flushes the forwarder scheduled on its queue (they wait out their delay there)."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"]
    answer = store["sqs"].get_queue_attributes(QueueUrl=store["queue_url"], AttributeNames=names)
    return sum(int(answer["Attributes"][name]) for name in names)


def at(minute: int, second: int = 0) -> str:
    return f"2026-11-22T02:{minute:02d}:{second:02d}.000+0000"


def cpu(name: str, state: str = "ALARM", when: str | None = None) -> dict[str, Any]:
    return alarm(name=name, state=state, StateChangeTime=when or at(55))


def test_pacing_fast_path_sends_a_lone_alert_at_once(
    paced: Callable[..., Forwarder], slack: StandIn, store: dict[str, Any]
) -> None:
    answer = paced(Destination.SLACK).run(sqs_event(cpu("a")), FakeContext())
    assert answer == {"batchItemFailures": []}
    assert len(slack.accepted()) == 1
    assert slack.accepted()[0].body["blocks"][0]["type"] == "header"
    slot = item(store, SLACK, "slot")
    assert number(slot, "next_at") == int(T0 * 1000) + 1000
    assert number(slot, "pending") == 0 and items(store, SLACK, "pending#") == []


def test_pacing_the_next_send_waits_a_whole_interval_after_a_slow_fast_path_send(
    paced: Callable[..., Forwarder], slack: StandIn, store: dict[str, Any], clock: Clock
) -> None:
    forwarder = paced(Destination.SLACK)
    send = forwarder.deliverer.send_slack

    def slow_send(*args: Any, **kwargs: Any) -> Any:
        clock.advance(0.4)  # the request reaches Slack 0.4 s after the slot was taken
        return send(*args, **kwargs)

    forwarder.deliverer.send_slack = slow_send  # type: ignore[method-assign]
    forwarder.run(sqs_event(cpu("a")), FakeContext())
    assert number(item(store, SLACK, "slot"), "next_at") == int(T0 * 1000) + 1400


def test_pacing_a_second_alert_within_the_interval_waits_for_a_scheduled_flush(
    paced: Callable[..., Forwarder], slack: StandIn, store: dict[str, Any], clock: Clock
) -> None:
    forwarder = paced(Destination.SLACK)
    forwarder.run(sqs_event(cpu("a")), FakeContext())
    clock.advance(0.2)
    assert forwarder.run(sqs_event(cpu("b")), FakeContext()) == {"batchItemFailures": []}
    assert len(slack.accepted()) == 1  # not yet: durable in the table
    assert number(item(store, SLACK, "slot"), "pending") == 1
    assert flushes(store) == 1
    assert number(item(store, SLACK, "slot"), "flush_at") == int(T0 * 1000) + 1000  # when the slot is free
    clock.advance(1.0)
    assert forwarder.run(sqs_event(f"flush:{SLACK}"), FakeContext()) == {"batchItemFailures": []}
    assert len(slack.accepted()) == 2
    assert slack.accepted()[1].body["blocks"][0]["text"]["text"].endswith(": b")  # its own message
    assert number(item(store, SLACK, "slot"), "pending") == 0 and items(store, SLACK, "pending#") == []


def test_pacing_a_busy_batch_is_one_digest_and_the_interval_grows_then_resets(
    paced: Callable[..., Forwarder], slack: StandIn, store: dict[str, Any], clock: Clock
) -> None:
    forwarder = paced(Destination.SLACK)
    assert forwarder.run(sqs_event(*(cpu(f"db-{i}") for i in range(10))), FakeContext())["batchItemFailures"] == []
    [digest] = slack.accepted()
    text = json.dumps(digest.body)
    assert all(f"db-{i}" in text for i in range(10))
    assert number(item(store, SLACK, "slot"), "interval_ms") == 2000  # doubled: a storm is on
    for expected in (4000, 8000, 16000, 30000, 30000):
        clock.advance(60)
        forwarder.run(sqs_event(*(cpu(f"x{expected}-{i}") for i in range(3))), FakeContext())
        assert number(item(store, SLACK, "slot"), "interval_ms") == expected
    clock.advance(60)
    forwarder.run(sqs_event(cpu("quiet")), FakeContext())  # a lone alert: the fast path, the base interval again
    assert number(item(store, SLACK, "slot"), "interval_ms") == 1000
    assert all(not r.problems for r in slack.accepted())


def test_pacing_buffer_is_atomic_with_its_count_and_a_redelivery_is_stored_once(
    paced: Callable[..., Forwarder], slack: StandIn, store: dict[str, Any], clock: Clock
) -> None:
    forwarder = paced(Destination.SLACK)
    forwarder.run(sqs_event(cpu("first")), FakeContext())  # takes the slot for a second
    event = sqs_event(cpu("alpha"), cpu("bravo"), cpu("charlie"))
    for _ in range(3):  # SQS delivers at least once
        assert forwarder.run(event, FakeContext()) == {"batchItemFailures": []}
    assert len(items(store, SLACK, "pending#")) == 3
    assert number(item(store, SLACK, "slot"), "pending") == 3
    clock.advance(1.5)
    forwarder.run(sqs_event(f"flush:{SLACK}"), FakeContext())
    digest = json.dumps(slack.accepted()[-1].body)
    assert len(slack.accepted()) == 2
    assert all(digest.count(name) >= 1 for name in ("alpha", "bravo", "charlie"))
    assert number(item(store, SLACK, "slot"), "pending") == 0


def test_pacing_a_lone_alert_never_overtakes_a_buffered_one(
    paced: Callable[..., Forwarder], pagerduty: StandIn, store: dict[str, Any], clock: Clock
) -> None:
    forwarder = paced(Destination.PAGERDUTY)
    forwarder.run(sqs_event(cpu("first")), FakeContext())
    forwarder.run(sqs_event(cpu("a", when=at(55, 1))), FakeContext())  # slot busy: buffered
    clock.advance(5)  # the slot is free again, but "a" is still buffered
    forwarder.run(sqs_event(cpu("a", state="OK", when=at(56))), FakeContext())
    actions = [(r.body["event_action"], r.body["dedup_key"]) for r in pagerduty.accepted()]
    keys = [key for _, key in actions]
    assert [action for action, _ in actions] == ["trigger", "trigger", "resolve"]
    assert keys[1] == keys[2]  # a's trigger, then its resolve


def test_pacing_an_ok_received_before_its_older_alarm_never_pages(
    paced: Callable[..., Forwarder], pagerduty: StandIn, slack: StandIn, clock: Clock
) -> None:
    for destination, server in ((Destination.PAGERDUTY, pagerduty), (Destination.SLACK, slack)):
        forwarder = paced(destination)
        forwarder.run(sqs_event(cpu("late", state="OK", when=at(57))), FakeContext())
        clock.advance(5)
        forwarder.run(sqs_event(cpu("late", state="ALARM", when=at(55))), FakeContext())
        clock.advance(5)
        forwarder.run(sqs_event(cpu("late", state="ALARM", when=at(55))), FakeContext())  # and its redelivery
        assert len(server.accepted()) == 1, destination  # the OK alone: the older ALARM is stale
    assert pagerduty.accepted()[0].body["event_action"] == "resolve"
    assert "RESOLVED" in slack.accepted()[0].body["blocks"][0]["text"]["text"]


def test_pacing_an_ok_in_the_same_batch_as_its_alarm_comes_after_it(
    paced: Callable[..., Forwarder], pagerduty: StandIn, slack: StandIn
) -> None:
    ok, firing = cpu("x", state="OK", when=at(56)), cpu("x", when=at(55))
    paced(Destination.PAGERDUTY).run(sqs_event(ok, firing), FakeContext())  # the OK first in the batch
    assert [r.body["event_action"] for r in pagerduty.accepted()] == ["trigger", "resolve"]
    paced(Destination.SLACK).run(sqs_event(ok, firing), FakeContext())
    [digest] = slack.accepted()
    assert "resolved" in json.dumps(digest.body).lower()


def test_pacing_storm_opens_one_incident_names_every_alarm_and_resolves_with_the_last_ok(
    paced: Callable[..., Forwarder], pagerduty: StandIn, store: dict[str, Any], clock: Clock
) -> None:
    forwarder = paced(Destination.PAGERDUTY)
    forwarder.run(sqs_event(cpu("before")), FakeContext())  # paged alone before the storm
    clock.advance(2)
    names = [f"storm-{i}" for i in range(12)]
    assert forwarder.run(sqs_event(*(cpu(n) for n in names[:10])), FakeContext()) == {"batchItemFailures": []}
    clock.advance(60)
    forwarder.run(sqs_event(*(cpu(n) for n in names[10:])), FakeContext())
    events = [r.body for r in pagerduty.accepted()]
    storm = [e for e in events if e["dedup_key"].startswith("storm-")]
    assert len(events) == 3 and len(storm) == 2  # one page before, one storm trigger per flush
    assert len({e["dedup_key"] for e in storm}) == 1
    assert all(e["event_action"] == "trigger" for e in storm)
    assert all(name in json.dumps(storm[-1]) for name in names)
    slot = item(store, PAGERDUTY, "slot")
    storm_id = slot["storm_id"]["S"]
    assert number(item(store, PAGERDUTY, f"storm#{storm_id}"), "open") == 12

    clock.advance(60)
    forwarder.run(sqs_event(*(cpu(n, state="OK", when=at(58)) for n in names[:6])), FakeContext())
    assert "storm_id" in item(store, PAGERDUTY, "slot")  # six still firing
    clock.advance(60)
    forwarder.run(sqs_event(cpu("before", state="OK", when=at(58))), FakeContext())  # resolved on its own
    clock.advance(60)
    forwarder.run(sqs_event(*(cpu(n, state="OK", when=at(58)) for n in names[6:])), FakeContext())
    events = [r.body for r in pagerduty.accepted()]
    assert (events[-1]["event_action"], events[-1]["dedup_key"]) == ("resolve", storm[0]["dedup_key"])
    assert "storm_id" not in item(store, PAGERDUTY, "slot")
    assert number(item(store, PAGERDUTY, f"storm#{storm_id}"), "open") == 0
    members = items(store, PAGERDUTY, f"member#{storm_id}#")
    assert len(members) == 12 and all(m["state"]["S"] == "resolved" for m in members)
    last: dict[str, str] = {}
    for event in events:
        last[event["dedup_key"]] = event["event_action"]
    assert set(last.values()) == {"resolve"}  # nothing left open
    assert all(not r.problems for r in pagerduty.received)


def test_pacing_few_alerts_are_paged_one_by_one_within_the_limit(
    paced: Callable[..., Forwarder], pagerduty: StandIn, store: dict[str, Any]
) -> None:
    paced(Destination.PAGERDUTY).run(sqs_event(*(cpu(f"few-{i}") for i in range(4))), FakeContext())
    events = [r.body for r in pagerduty.accepted()]
    assert len(events) == 4 and not any(e["dedup_key"].startswith("storm-") for e in events)
    assert number(item(store, PAGERDUTY, "slot"), "next_at") >= int(T0 * 1000) + 4 * 500


def test_pacing_a_failing_store_delivers_directly(
    make_forwarder: Callable[..., Forwarder],
    store: dict[str, Any],
    slack: StandIn,
    capsys: pytest.CaptureFixture[str],
) -> None:
    forwarder = make_forwarder(Destination.SLACK, pacer_table="no-such-table", queue_url=store["queue_url"])
    answer = forwarder.run(sqs_event(cpu("a"), cpu("b")), FakeContext())
    assert answer == {"batchItemFailures": []}
    assert len(slack.accepted()) == 2  # unpaced, but nothing lost
    assert "PacerFailed" in capsys.readouterr().out


def test_pacing_a_bad_record_fails_only_itself(
    paced: Callable[..., Forwarder], slack: StandIn, store: dict[str, Any]
) -> None:
    event = sqs_event(cpu("good"), cpu("unrouted"), cpu("other"))
    body = json.loads(event["Records"][1]["body"])
    body["TopicArn"] = "arn:aws:sns:us-east-1:123456789012:unknown"
    event["Records"][1]["body"] = json.dumps(body)
    event["Records"].append({**event["Records"][0], "messageId": "junk", "body": "not json"})
    forwarder = paced(Destination.SLACK, routes={"prod-critical": Route(Severity.CRITICAL, (SLACK_SECRET,))})
    answer = forwarder.run(event, FakeContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
    assert len(slack.accepted()) == 1
    assert all(name in json.dumps(slack.accepted()[0].body) for name in ("good", "other"))


def test_pacing_a_failed_flush_keeps_its_records_and_schedules_itself_again(
    paced: Callable[..., Forwarder], slack: StandIn, store: dict[str, Any], clock: Clock
) -> None:
    """An outage: the records stay buffered and a flush is scheduled a minute later, again and again until it goes
    (five failed receives of one flush record within a minute-long outage must not dead-letter the only flush)."""
    forwarder = paced(Destination.SLACK)
    slack.then(*[Answer(status=503, body="down")] * 5)
    event = sqs_event(cpu("a"), cpu("b"))
    assert forwarder.run(event, FakeContext()) == {"batchItemFailures": []}  # durable in the table
    slot = item(store, SLACK, "slot")
    assert number(slot, "pending") == 2
    assert number(slot, "flush_at") == int(T0 * 1000) + 60_000
    assert flushes(store) == 1
    assert slack.accepted() == []
    clock.advance(61)
    assert forwarder.run(sqs_event(f"flush:{SLACK}"), FakeContext()) == {"batchItemFailures": []}
    assert number(item(store, SLACK, "slot"), "pending") == 0
    assert len(slack.accepted()) == 1


def test_pacing_a_flush_the_destination_refuses_is_kept_and_unblocks_the_channel(
    paced: Callable[..., Forwarder], slack: StandIn, store: dict[str, Any], clock: Clock
) -> None:
    """Slack refuses the body itself (400): sending it again cannot help and would block every later alert of the
    webhook. The records are kept in the rejected queue with the reason; the next alert goes."""
    kept: list[str] = []
    forwarder = paced(Destination.SLACK)
    forwarder.parker = lambda envelope, reason: kept.append(reason)
    slack.then(Answer(status=400, body="invalid_blocks"))
    assert forwarder.run(sqs_event(cpu("a"), cpu("b")), FakeContext()) == {"batchItemFailures": []}
    assert len(kept) == 2 and all("refused" in reason for reason in kept)
    assert number(item(store, SLACK, "slot"), "pending") == 0
    clock.advance(60)
    forwarder.run(sqs_event(cpu("c")), FakeContext())
    assert [r.answered for r in slack.received][-1] == 200 and "c" in json.dumps(slack.accepted()[-1].body)


def test_pacing_sns_events_still_answer_the_outcome(paced: Callable[..., Forwarder], slack: StandIn) -> None:
    from tests.conftest import sns_event

    outcome = paced(Destination.SLACK).run(sns_event(cpu("a")), FakeContext())
    assert outcome["delivered"] == 1


def test_pacing_a_failed_pagerduty_flush_says_so_once_in_slack(
    paced: Callable[..., Forwarder], pagerduty: StandIn, slack: StandIn, store: dict[str, Any]
) -> None:
    forwarder = paced(Destination.PAGERDUTY, fallback_slack_secret=SLACK_SECRET)
    pagerduty.then(*[Answer(status=503, body='{"status": "down"}')] * 5)
    event = sqs_event(*(cpu(f"down-{i}") for i in range(8)))
    assert forwarder.run(event, FakeContext()) == {"batchItemFailures": []}  # kept buffered, flushed again later
    [notice] = slack.accepted()  # one notice for the whole flush, naming every alert
    assert "PagerDuty" in notice.body["blocks"][0]["text"]["text"]
    assert all(f"down-{i}" in json.dumps(notice.body) for i in range(8))
    assert number(item(store, PAGERDUTY, "slot"), "pending") == 8
    assert flushes(store) == 1


def test_pacing_redelivered_alerts_are_paged_once_with_idempotency(
    paced: Callable[..., Forwarder], pagerduty: StandIn, store: dict[str, Any], clock: Clock
) -> None:
    store["dynamodb"].create_table(
        TableName="idempotency",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    forwarder = paced(Destination.PAGERDUTY, idempotency_table="idempotency")
    lone, pair = sqs_event(cpu("lone")), sqs_event(cpu("p1"), cpu("p2"))
    for _ in range(3):
        forwarder.run(lone, FakeContext())
        forwarder.run(pair, FakeContext())
        clock.advance(30)
        forwarder.run(sqs_event(f"flush:{PAGERDUTY}"), FakeContext())
    keys = [r.body["dedup_key"] for r in pagerduty.accepted()]
    assert sorted(keys) == sorted(set(keys)) and len(keys) == 3  # each alarm paged once


def test_pacing_without_a_pacer_table_an_sqs_batch_names_its_failed_records(
    make_forwarder: Callable[..., Forwarder], pagerduty: StandIn, secrets: Any
) -> None:
    pagerduty.then(Answer(status=400, body="{}"))
    event = sqs_event(cpu("fails"), cpu("goes"), "flush:pagerduty#x")
    answer = make_forwarder(Destination.PAGERDUTY).run(event, FakeContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert [r.answered for r in pagerduty.received] == [400, 202]


def test_pacing_a_quiet_storm_takes_no_new_alert(
    paced: Callable[..., Forwarder], pagerduty: StandIn, store: dict[str, Any], clock: Clock
) -> None:
    forwarder = paced(Destination.PAGERDUTY)
    names = [f"s{i}" for i in range(6)]
    forwarder.run(sqs_event(*(cpu(n) for n in names)), FakeContext())
    clock.advance(60)
    forwarder.run(sqs_event(*(cpu(n, state="OK", when=at(58)) for n in names[:5])), FakeContext())
    clock.advance(20 * 60)  # one member still firing, nothing joined for 20 minutes
    forwarder.run(sqs_event(cpu("new-problem", when=at(59))), FakeContext())
    last = pagerduty.accepted()[-1].body
    assert last["event_action"] == "trigger" and "new-problem" in last["dedup_key"]  # paged on its own
    clock.advance(60)
    forwarder.run(sqs_event(cpu(names[5], state="OK", when=at(59))), FakeContext())
    last = pagerduty.accepted()[-1].body
    assert last["event_action"] == "resolve" and last["dedup_key"].startswith("storm-")
    assert "storm_id" not in item(store, PAGERDUTY, "slot")


def test_pacing_a_flush_that_comes_early_schedules_itself_again(
    paced: Callable[..., Forwarder], slack: StandIn, store: dict[str, Any], clock: Clock
) -> None:
    forwarder = paced(Destination.SLACK)
    forwarder.run(sqs_event(cpu("a")), FakeContext())
    forwarder.run(sqs_event(cpu("b")), FakeContext())  # buffered; a flush scheduled for when the slot is free
    assert flushes(store) == 1
    clock.advance(0.5)  # the flush comes early (clocks differ): the slot is still busy
    assert forwarder.run(sqs_event(f"flush:{SLACK}"), FakeContext()) == {"batchItemFailures": []}
    assert flushes(store) == 2 and len(slack.accepted()) == 1  # scheduled again, nothing lost
    clock.advance(1)
    forwarder.run(sqs_event(f"flush:{SLACK}"), FakeContext())
    assert len(slack.accepted()) == 2 and number(item(store, SLACK, "slot"), "pending") == 0


def test_pacing_a_backlog_drains_in_digests_that_name_every_alert(
    paced: Callable[..., Forwarder], slack: StandIn, store: dict[str, Any], clock: Clock
) -> None:
    forwarder = paced(Destination.SLACK, slack_flush_max=20, backlog_interval_ms=5000)
    forwarder.run(sqs_event(cpu("first")), FakeContext())
    names = [f"backlog-{i:03d}" for i in range(50)]
    for start in range(0, 50, 10):
        forwarder.run(sqs_event(*(cpu(n) for n in names[start : start + 10])), FakeContext())
    assert number(item(store, SLACK, "slot"), "pending") == 50
    for expected_left in (30, 10, 0):
        clock.advance(31)
        forwarder.run(sqs_event(f"flush:{SLACK}"), FakeContext())
        assert number(item(store, SLACK, "slot"), "pending") == expected_left
        if expected_left:  # a full flush: the next comes within the backlog interval, not the storm's 30 s
            slot = item(store, SLACK, "slot")
            assert number(slot, "next_at") - int(clock.now * 1000) <= 5000
    sent = " ".join(json.dumps(r.body) for r in slack.accepted())
    assert len(slack.accepted()) == 4 and all(name in sent for name in names)


def test_pacing_a_buffered_record_that_no_longer_prepares_is_kept_not_dropped(
    paced: Callable[..., Forwarder], slack: StandIn, store: dict[str, Any], clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A record buffered fine but refused at its flush (a deploy changed the parser or the settings) goes to the
    rejected queue with its reason; the others of the flush are still sent."""
    import alertlib.forward as forward

    kept: list[tuple[str, str]] = []
    forwarder = paced(Destination.SLACK)
    forwarder.parker = lambda envelope, reason: kept.append((envelope.message_id, reason))
    forwarder.run(sqs_event(cpu("a")), FakeContext())
    clock.advance(0.2)
    forwarder.run(sqs_event(cpu("b"), cpu("c")), FakeContext())
    assert len(slack.accepted()) == 1
    real = forward.prepare

    def refuse_b(envelope: Any, settings: Any, now: Any) -> Any:
        if '"b"' in str(envelope.body):
            raise ValueError("no longer readable")
        return real(envelope, settings, now)

    monkeypatch.setattr(forward, "prepare", refuse_b)
    clock.advance(1.0)
    assert forwarder.run(sqs_event(f"flush:{SLACK}"), FakeContext()) == {"batchItemFailures": []}
    assert len(kept) == 1 and "no longer prepares" in kept[0][1]
    assert len(slack.accepted()) == 2 and "c" in json.dumps(slack.accepted()[1].body)
    assert items(store, SLACK, "pending#") == []


def test_pacing_a_buffered_record_that_cannot_be_kept_stays_buffered(
    paced: Callable[..., Forwarder], slack: StandIn, store: dict[str, Any], clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    import alertlib.forward as forward

    def cannot_keep(envelope: Any, reason: str) -> None:
        raise RuntimeError("SQS down")

    forwarder = paced(Destination.SLACK)
    forwarder.parker = cannot_keep
    forwarder.run(sqs_event(cpu("a")), FakeContext())
    clock.advance(0.2)
    forwarder.run(sqs_event(cpu("b")), FakeContext())
    monkeypatch.setattr(forward, "prepare", lambda *_: (_ for _ in ()).throw(ValueError("no")))
    clock.advance(1.0)
    assert forwarder.run(sqs_event(f"flush:{SLACK}"), FakeContext())["batchItemFailures"] != []
    assert len(items(store, SLACK, "pending#")) == 1


def test_pacing_a_transaction_conflict_with_another_invocation_is_tried_again(store: dict[str, Any]) -> None:
    """DynamoDB cancels a transaction that meets another on the same item (the slot) with TransactionConflict;
    two invocations buffering on one channel do that in a storm. It is tried again, not turned into an unpaced
    send; a cancellation that is neither a condition nor a conflict is a store failure."""
    from botocore.exceptions import ClientError

    from alertlib.aws import AwsClient
    from alertlib.errors import PacerError
    from alertlib.pacing import Pacer

    class Conflicting:
        def __init__(self, real: Any, codes: list[str]) -> None:
            self.real, self.codes, self.calls = real, codes, 0

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

        def transact_write_items(self, **kwargs: Any) -> Any:
            self.calls += 1
            if self.codes:
                code = self.codes.pop(0)
                reasons = [{"Code": code}] + [{"Code": "None"}] * (len(kwargs["TransactItems"]) - 1)
                raise ClientError(
                    {"Error": {"Code": "TransactionCanceledException"}, "CancellationReasons": reasons},
                    "TransactWriteItems",
                )
            return self.real.transact_write_items(**kwargs)

    envelope = sqs_event(cpu("a"))["Records"][0]
    from alertlib.parse import split_event

    [parsed] = split_event({"Records": [envelope]})
    conflicting = Conflicting(store["dynamodb"], ["TransactionConflict", "TransactionConflict"])
    pacer = Pacer(PACER, store["queue_url"], dynamodb=AwsClient(conflicting))
    assert pacer.buffer(SLACK, [("pending#1#a#0", parsed)], int(T0 * 1000)) == 1
    assert conflicting.calls == 3
    assert number(item(store, SLACK, "slot"), "pending") == 1
    other = Pacer(PACER, store["queue_url"], dynamodb=AwsClient(Conflicting(store["dynamodb"], ["ValidationError"])))
    with pytest.raises(PacerError):
        other.buffer(SLACK, [("pending#2#b#0", parsed)], int(T0 * 1000))


def test_pacing_an_alarm_paged_on_its_own_stays_on_its_own_incident_during_a_storm(
    paced: Callable[..., Forwarder], pagerduty: StandIn, store: dict[str, Any], clock: Clock
) -> None:
    """x-db was paged alone; a storm opens; x-db's OK must resolve x-db's own incident (a storm that took it in
    would never send that resolve), and the storm resolves with its own members."""
    forwarder = paced(Destination.PAGERDUTY)
    forwarder.run(sqs_event(cpu("x-db", when=at(50))), FakeContext())
    clock.advance(2)
    storm = [f"s{i}" for i in range(10)]
    forwarder.run(sqs_event(*(cpu(n, when=at(55)) for n in storm)), FakeContext())
    assert "storm_id" in item(store, PAGERDUTY, "slot")
    clock.advance(30)
    forwarder.run(sqs_event(cpu("x-db", state="OK", when=at(57))), FakeContext())
    clock.advance(30)
    forwarder.run(sqs_event(*(cpu(n, state="OK", when=at(58)) for n in storm)), FakeContext())
    clock.advance(30)
    forwarder.run(sqs_event(f"flush:{PAGERDUTY}"), FakeContext())
    last: dict[str, str] = {}
    for record in pagerduty.accepted():
        last[record.body["dedup_key"]] = record.body["event_action"]
    assert {k: v for k, v in last.items() if v != "resolve"} == {}
    assert any(k.endswith(":x-db") for k in last) and any(k.startswith("storm-") for k in last)


def test_pacing_a_storm_older_than_its_join_window_pages_a_new_problem_on_its_own(
    paced: Callable[..., Forwarder], pagerduty: StandIn, store: dict[str, Any], clock: Clock
) -> None:
    """A trickle of joins must not keep a storm open to every new problem: past the window (15 min from the
    storm's start) a lone new alarm gets its own incident, which notifies even when the storm's is acknowledged."""
    forwarder = paced(Destination.PAGERDUTY)
    forwarder.run(sqs_event(*(cpu(f"web-{i}", when=at(50)) for i in range(10))), FakeContext())
    for minute in range(4):
        clock.advance(300)
        forwarder.run(sqs_event(cpu(f"trickle-{minute}", when=at(51 + minute))), FakeContext())
        forwarder.run(sqs_event(f"flush:{PAGERDUTY}"), FakeContext())
    clock.advance(300)
    forwarder.run(sqs_event(cpu("payments-db-down", when=at(58))), FakeContext())
    forwarder.run(sqs_event(f"flush:{PAGERDUTY}"), FakeContext())
    own = [r for r in pagerduty.accepted() if r.body["dedup_key"].endswith(":payments-db-down")]
    assert own and own[-1].body["event_action"] == "trigger"


def test_pacing_a_failed_record_waits_longer_at_each_receive() -> None:
    """10, 30, 90, 270 s: five receives outlive about 6.5 minutes of an outage before the dead-letter queue."""
    from alertlib.pacing import retry_visibility

    assert [retry_visibility(n) for n in range(1, 6)] == [10, 30, 90, 270, 810]
    assert sum(retry_visibility(n) for n in range(1, 5)) >= 6 * 60
    assert retry_visibility(0) == 10 and retry_visibility(10**6) == 900  # SQS's 12 h cap is far; ours is 15 min


def test_pacing_a_flush_records_every_delivery_in_the_ledger_in_batches(secrets: Any) -> None:
    """A digest of 60 alerts is 3 BatchWriteItem calls, and every alert's delivery is in the ledger (drills and
    resolve durations read it)."""
    import boto3

    from alertlib.normalise import normalise
    from alertlib.parse import parse_message, split_event
    from alertlib.reliability import Ledger
    from alertlib.settings import Settings

    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(
        TableName="ledger",
        KeySchema=[{"AttributeName": "alert", "KeyType": "HASH"}, {"AttributeName": "entry", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "alert", "AttributeType": "S"},
            {"AttributeName": "entry", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    calls: list[int] = []

    class Counting:
        def __getattr__(self, name: str) -> Any:
            return getattr(dynamodb, name)

        def batch_write_item(self, **kwargs: Any) -> Any:
            calls.append(len(kwargs["RequestItems"]["ledger"]))
            return dynamodb.batch_write_item(**kwargs)

    from datetime import UTC, datetime

    settings = Settings.from_env()
    groups = [
        normalise(parse_message(e), e, settings, datetime.now(UTC))
        for e in split_event(sqs_event(*(cpu(f"db-{i}") for i in range(60))))
    ]
    Ledger("ledger", client=Counting()).record_many(groups, Destination.SLACK, T0)
    assert calls == [25, 25, 10]
    assert all(Ledger("ledger", client=dynamodb).deliveries(g.dedup_key, since=0) for g in groups)
