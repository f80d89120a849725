"""The PagerDuty forwarder looks again at a composite alarm whose actions CloudWatch suppressed for a while
(reviewer finding 2): EventBridge sends one event at the transition, with the suppression in it, and none when
CloudWatch runs the actions at the end of the wait or extension period. Through the forwarder's own queue
(moto), with CloudWatch's answer standing in (moto has no composite alarms)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from alertlib.deliver import Destination
from alertlib.forward import Forwarder
from alertlib.recheck import MAX_ATTEMPTS, Rechecker
from tests.conftest import FakeContext, load_event
from tests.unit.test_pacing import PAGERDUTY, clock, cpu, items, paced, store  # noqa: F401 - the pacer's fixtures
from tests.unit.test_parse import sqs_event
from tools.standins import StandIn

COMPOSITE = "eventbridge-alarm-state-change-composite-with-suppressor__aws-docs.json"
AT = datetime(2022, 7, 22, 15, 57, 45, 394000, tzinfo=UTC)
NAME = "ServiceAggregatedAlarm"


@pytest.fixture(autouse=True)
def _secrets(secrets: Any) -> None:
    return None


class FakeCloudWatch:
    """DescribeAlarms as CloudWatch answers it for one composite alarm (None: the alarm does not exist)."""

    def __init__(self, state: str | None = "ALARM", suppressed_by: str | None = None, at: datetime = AT) -> None:
        self.state, self.suppressed_by, self.at = state, suppressed_by, at
        self.calls: list[dict[str, Any]] = []
        self.fail: Exception | None = None

    def describe_alarms(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.fail is not None:
            raise self.fail
        if self.state is None:
            return {"CompositeAlarms": [], "MetricAlarms": []}
        alarm: dict[str, Any] = {"AlarmName": NAME, "StateValue": self.state, "StateTransitionedTimestamp": self.at}
        if self.suppressed_by:
            alarm["ActionsSuppressedBy"] = self.suppressed_by
        return {"CompositeAlarms": [alarm], "MetricAlarms": []}


def composite(suppressed_by: str = "WaitPeriod") -> dict[str, Any]:
    event = copy.deepcopy(load_event(COMPOSITE))
    event["detail"]["state"]["actionsSuppressedBy"] = suppressed_by
    return event


def rechecks(store: dict[str, Any]) -> list[dict[str, Any]]:  # noqa: F811 - the fixture's value
    """The looks waiting on the forwarder's queue, as the SQS records Lambda would hand it (delays ignored)."""
    found = []
    while True:
        answer = store["sqs"].receive_message(QueueUrl=store["queue_url"], MaxNumberOfMessages=10, VisibilityTimeout=0)
        messages = answer.get("Messages") or []
        if not messages:
            return found
        for message in messages:
            store["sqs"].delete_message(QueueUrl=store["queue_url"], ReceiptHandle=message["ReceiptHandle"])
            if json.loads(message["Body"]).get("alert_forwarding") == "recheck":
                found.append(
                    {
                        "messageId": message["MessageId"],
                        "receiptHandle": message["ReceiptHandle"],
                        "body": message["Body"],
                        "attributes": {"ApproximateReceiveCount": "1"},
                        "eventSource": "aws:sqs",
                    }
                )


class Undelayed:
    """The queue as the forwarder sends to it, the delay recorded and left out (moto honours it; a test does not
    wait a minute): what matters is that the look is sent, with which delay."""

    def __init__(self, sqs: Any) -> None:
        self.sqs = sqs
        self.delays: list[int] = []

    def send_message(self, **kwargs: Any) -> Any:
        self.delays.append(kwargs.pop("DelaySeconds"))
        return self.sqs.send_message(**kwargs)


def forwarder_with(
    paced: Callable[..., Forwarder],  # noqa: F811
    cloudwatch: FakeCloudWatch,
    store: dict[str, Any],  # noqa: F811
) -> Forwarder:
    forwarder = paced(Destination.PAGERDUTY)
    assert isinstance(forwarder.rechecker, Rechecker)  # the PagerDuty forwarder with a queue looks again
    assert forwarder.settings.queue_url
    forwarder.rechecker = Rechecker(forwarder.settings.queue_url, client=cloudwatch, sqs=Undelayed(store["sqs"]))
    return forwarder


def test_recheck_pages_when_the_wait_period_ends_with_the_composite_still_in_alarm(
    paced: Callable[..., Forwarder],  # noqa: F811
    store: dict[str, Any],  # noqa: F811
    pagerduty: StandIn,
) -> None:
    cloudwatch = FakeCloudWatch(suppressed_by="WaitPeriod")
    forwarder = forwarder_with(paced, cloudwatch, store)
    assert forwarder.run(sqs_event(composite()), FakeContext()) == {"batchItemFailures": []}
    assert pagerduty.received == []  # suppressed: nobody paged yet
    [look] = rechecks(store)
    assert json.loads(look["body"])["attempt"] == 1
    assert forwarder.rechecker is not None and forwarder.rechecker._sqs.delays == [60]

    cloudwatch.suppressed_by = None  # the wait period ended; the suppressor never went to ALARM
    assert forwarder.run({"Records": [look]}, FakeContext()) == {"batchItemFailures": []}
    [event] = [r.body for r in pagerduty.accepted()]
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{NAME}"
    assert event["payload"]["severity"] == "critical"  # as the route says, no longer information
    assert cloudwatch.calls == [{"AlarmNames": [NAME], "AlarmTypes": ["CompositeAlarm"]}]
    assert rechecks(store) == []


def test_recheck_looks_again_while_still_suppressed(
    paced: Callable[..., Forwarder],  # noqa: F811
    store: dict[str, Any],  # noqa: F811
    pagerduty: StandIn,
) -> None:
    cloudwatch = FakeCloudWatch(suppressed_by="Alarm")
    forwarder = forwarder_with(paced, cloudwatch, store)
    forwarder.run(sqs_event(composite("Alarm")), FakeContext())
    [look] = rechecks(store)
    forwarder.run({"Records": [look]}, FakeContext())
    [again] = rechecks(store)
    assert json.loads(again["body"])["attempt"] == 2
    assert pagerduty.received == []


@pytest.mark.parametrize(
    "cloudwatch",
    [
        FakeCloudWatch(state="OK"),  # left ALARM: its own OK event resolves, nothing to page
        FakeCloudWatch(state=None),  # deleted
        FakeCloudWatch(at=datetime(2022, 7, 22, 17, 0, tzinfo=UTC)),  # a newer transition came with its own event
    ],
)
def test_recheck_ends_without_a_page_when_the_alarm_moved_on(
    paced: Callable[..., Forwarder],  # noqa: F811
    store: dict[str, Any],  # noqa: F811
    pagerduty: StandIn,
    cloudwatch: FakeCloudWatch,
) -> None:
    forwarder = forwarder_with(paced, cloudwatch, store)
    forwarder.run(sqs_event(composite()), FakeContext())
    [look] = rechecks(store)
    assert forwarder.run({"Records": [look]}, FakeContext()) == {"batchItemFailures": []}
    assert pagerduty.received == []
    assert rechecks(store) == []


def test_recheck_stops_after_the_last_look(
    paced: Callable[..., Forwarder],  # noqa: F811
    store: dict[str, Any],  # noqa: F811
    pagerduty: StandIn,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cloudwatch = FakeCloudWatch(suppressed_by="Alarm")
    forwarder = forwarder_with(paced, cloudwatch, store)
    forwarder.run(sqs_event(composite("Alarm")), FakeContext())
    [look] = rechecks(store)
    body = json.loads(look["body"])
    body["attempt"] = MAX_ATTEMPTS
    look["body"] = json.dumps(body)
    assert forwarder.run({"Records": [look]}, FakeContext()) == {"batchItemFailures": []}
    assert rechecks(store) == []
    assert any("no longer looked at" in r.getMessage() for r in caplog.records)


def test_recheck_cloudwatch_failing_fails_the_record_so_it_is_received_again(
    paced: Callable[..., Forwarder],  # noqa: F811
    store: dict[str, Any],  # noqa: F811
    pagerduty: StandIn,
) -> None:
    from botocore.exceptions import ClientError

    cloudwatch = FakeCloudWatch(suppressed_by="WaitPeriod")
    forwarder = forwarder_with(paced, cloudwatch, store)
    forwarder.run(sqs_event(composite()), FakeContext())
    [look] = rechecks(store)
    cloudwatch.fail = ClientError({"Error": {"Code": "Throttling", "Message": "slow down"}}, "DescribeAlarms")
    answer = forwarder.run({"Records": [look]}, FakeContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": look["messageId"]}]}
    assert pagerduty.received == []


def test_recheck_not_scheduled_for_an_unsuppressed_or_sns_alarm(
    paced: Callable[..., Forwarder],  # noqa: F811
    store: dict[str, Any],  # noqa: F811
    pagerduty: StandIn,
) -> None:
    cloudwatch = FakeCloudWatch()
    forwarder = forwarder_with(paced, cloudwatch, store)
    unsuppressed = composite()
    del unsuppressed["detail"]["state"]["actionsSuppressedBy"]
    forwarder.run(sqs_event(unsuppressed), FakeContext())
    assert len(pagerduty.accepted()) == 1
    assert rechecks(store) == []
    assert cloudwatch.calls == []


# -- found by the review: a look forwarded is a page of its own, paced as any, about the real alarm -------------------


def _idempotency(store: dict[str, Any]) -> None:  # noqa: F811
    store["dynamodb"].create_table(
        TableName="idempotency",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def test_recheck_page_is_not_taken_for_the_resolve_the_suppressed_event_sent(
    paced: Callable[..., Forwarder],  # noqa: F811
    store: dict[str, Any],  # noqa: F811
    pagerduty: StandIn,
) -> None:
    _idempotency(store)
    cloudwatch = FakeCloudWatch(suppressed_by="WaitPeriod")
    forwarder = forwarder_with(lambda d: paced(d, idempotency_table="idempotency"), cloudwatch, store)
    event = composite()
    event["detail"]["previousState"]["value"] = "INSUFFICIENT_DATA"  # a composite just created
    forwarder.run(sqs_event(event), FakeContext())
    assert [r.body["event_action"] for r in pagerduty.accepted()] == ["resolve"]  # of the INSUFFICIENT_DATA alert
    [look] = rechecks(store)
    cloudwatch.suppressed_by = None
    forwarder.run({"Records": [look]}, FakeContext())
    sent = [(r.body["event_action"], r.body["dedup_key"]) for r in pagerduty.accepted()]
    assert ("trigger", f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{NAME}") in sent[1:]  # the page left


def test_recheck_page_buffered_by_the_pacer_is_a_trigger_at_its_flush(
    paced: Callable[..., Forwarder],  # noqa: F811
    store: dict[str, Any],  # noqa: F811
    pagerduty: StandIn,
    clock: Any,  # noqa: F811
) -> None:
    cloudwatch = FakeCloudWatch(suppressed_by="WaitPeriod")
    forwarder = forwarder_with(paced, cloudwatch, store)
    forwarder.run(sqs_event(composite()), FakeContext())
    [look] = rechecks(store)
    forwarder.run(sqs_event(cpu("busy")), FakeContext())  # another page has just taken the channel's slot
    cloudwatch.suppressed_by = None
    forwarder.run({"Records": [look]}, FakeContext())
    assert len(items(store, PAGERDUTY, "pending#")) == 1  # buffered
    for _ in range(3):
        clock.advance(120)
        forwarder.run(sqs_event(f"flush:{PAGERDUTY}"), FakeContext())
    triggers = [r.body["dedup_key"] for r in pagerduty.accepted() if r.body["event_action"] == "trigger"]
    assert triggers[-1] == f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{NAME}" and len(triggers) == 2


def test_recheck_asks_cloudwatch_for_the_real_alarm_name_under_redaction(
    paced: Callable[..., Forwarder],  # noqa: F811
    store: dict[str, Any],  # noqa: F811
    pagerduty: StandIn,
) -> None:
    import re

    cloudwatch = FakeCloudWatch(suppressed_by="WaitPeriod")
    forwarder = forwarder_with(lambda d: paced(d, redact_patterns=(re.compile(r"Aggregated"),)), cloudwatch, store)
    forwarder.run(sqs_event(composite()), FakeContext())
    [look] = rechecks(store)
    cloudwatch.suppressed_by = None
    forwarder.run({"Records": [look]}, FakeContext())
    assert cloudwatch.calls[-1]["AlarmNames"] == [NAME]
    assert [r.body["event_action"] for r in pagerduty.accepted()] == ["trigger"]


def test_recheck_another_accounts_composite_is_counted_and_warned_when_not_looked_at(
    paced: Callable[..., Forwarder],  # noqa: F811
    store: dict[str, Any],  # noqa: F811
    pagerduty: StandIn,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    forwarder = forwarder_with(paced, FakeCloudWatch(suppressed_by="WaitPeriod"), store)
    event = composite()
    event["account"] = "999999999999"
    event["resources"] = [f"arn:aws:cloudwatch:us-east-1:999999999999:alarm:{NAME}"]
    assert forwarder.run(sqs_event(event), FakeContext()) == {"batchItemFailures": []}
    assert rechecks(store) == []
    assert '"RecheckFailed":[1.0]' in capsys.readouterr().out.replace(" ", "")
    assert any(r.levelname == "WARNING" and "another account" in r.getMessage() for r in caplog.records)


def test_recheck_look_never_holds_the_batch_pages_when_time_is_short(
    paced: Callable[..., Forwarder],  # noqa: F811
    store: dict[str, Any],  # noqa: F811
    pagerduty: StandIn,
) -> None:
    """Found by the second review: a look asked CloudWatch before the batch's pages went, with boto3's 60 s
    time-outs. With less than LOOK_SECONDS left no look starts: its record comes back, the page goes now."""
    from alertlib.recheck import LOOK_SECONDS, recheck_client

    cloudwatch = FakeCloudWatch(suppressed_by="WaitPeriod")
    forwarder = forwarder_with(paced, cloudwatch, store)
    forwarder.run(sqs_event(composite()), FakeContext())
    [look] = rechecks(store)
    cloudwatch.suppressed_by = None
    page = sqs_event(cpu("other"))["Records"][0]
    answer = forwarder.run({"Records": [look, page]}, FakeContext(remaining_ms=int(LOOK_SECONDS * 1000) - 1000))
    assert answer == {"batchItemFailures": [{"itemIdentifier": look["messageId"]}]}
    assert cloudwatch.calls == []  # not asked
    assert [r.body["event_action"] for r in pagerduty.accepted()] == ["trigger"]  # the other page went
    client = recheck_client()
    assert (client.meta.config.connect_timeout, client.meta.config.read_timeout) == (1.0, 2.0)
