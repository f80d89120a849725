"""The Slack interactivity endpoint and the action worker (issue 11): signed, unsigned, stale, replayed and
wrong-secret clicks; an unauthorised user; each action end to end through the queue; the handlers' answers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import action_worker
import boto3
import pytest
import slack_interactions
from botocore.stub import Stubber

from alertlib.action_threads import SlackThreadPoster, ThreadTargets
from alertlib.actions import ActionTarget, Executor, mute_rule_name
from alertlib.audit_log import DynamoAuditLog
from alertlib.deliver import Deadline, Deliverer
from alertlib.errors import ConfigurationError, TransientDeliveryError
from alertlib.interactions import ActionWorker, SlackInteractions, SqsHandoff
from alertlib.slack_actions import Authoriser
from alertlib.slack_signature import DynamoReplayGuard, SigningSecrets
from tests.conftest import FakeContext
from tests.handlers.interactions_world import SIGNING_SECRET_NAME, Recorder, World, make_world
from tests.unit.interactions_helpers import NOW, SIGNING_SECRET, THREAD_KEY, click, form, signed_event
from tools.standins import Answer, StandIn

ROUTING_KEY = "0123456789abcdef0123456789abcdef"
SILENCE_ID = "9f8a3c1e-2b4d-4e5f-8a9b-0c1d2e3f4a5b"
WHEN = datetime(2026, 12, 3, 3, 12, tzinfo=UTC)
TARGET = ActionTarget(
    thread_key=THREAD_KEY,
    environment="prod",
    pagerduty_secret="alerting/prod/pagerduty",
    dedup_key="am-4f2a9c",
    group_labels=(("alertname", "DiskFull"),),
    alarm_names=("prod-rds-db1-cpu",),
)


@pytest.fixture
def world(aws: Any) -> World:
    return make_world(aws)


def endpoint(world: World, users: tuple[str, ...] = ("W111",), now: float = NOW) -> SlackInteractions:
    return SlackInteractions(
        secrets=lambda: SigningSecrets((SIGNING_SECRET,)),
        guard=DynamoReplayGuard(world.state_table, world.dynamodb),
        authoriser=Authoriser(user_ids=frozenset(users)),
        handoff=SqsHandoff(world.queue_url, world.sqs),
        clock=lambda: now,
    )


class FakeSilences:
    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []
        self.expired: list[str] = []

    def create(self, body: dict[str, Any], deadline: Deadline) -> str:
        self.created.append(body)
        return SILENCE_ID

    def expire(self, silence_id: str, deadline: Deadline) -> None:
        self.expired.append(silence_id)


@pytest.fixture
def pagerduty() -> Iterator[StandIn]:
    with StandIn("pagerduty") as server:
        yield server


def worker(world: World, recorder: Recorder, *, pagerduty: StandIn | None = None, silences: Any = None,
           cloudwatch: Any = None, targets: dict[str, ActionTarget] | None = None) -> ActionWorker:  # fmt: skip
    known = {THREAD_KEY: TARGET} if targets is None else targets
    deliverer = Deliverer(
        pagerduty_url=pagerduty.url if pagerduty else "http://127.0.0.1:9",
        secret_source=lambda name, force_fetch=False: ROUTING_KEY,
        retries=1,
        backoff_factor=0,
    )
    return ActionWorker(
        executor=Executor(deliverer=deliverer, silences=silences, cloudwatch=cloudwatch, clock=lambda: WHEN),
        find_target=lambda action: known.get(action.thread_key),
        audit=DynamoAuditLog(world.audit_table, world.dynamodb),
        respond=recorder.respond,
        post_to_thread=recorder.post,
        clock=lambda: WHEN,
    )


def audit(world: World) -> list[dict[str, Any]]:
    return DynamoAuditLog(world.audit_table, world.dynamodb).history(THREAD_KEY)


# -- the endpoint -------------------------------------------------------------------------------------------------


def test_interactions_signed_click_is_queued_and_answered_200_empty(world: World) -> None:
    answer = endpoint(world).handle(signed_event(form(click("alert.ack"))))
    assert (answer.status, answer.body, answer.outcome) == (200, None, "ActionAccepted")
    assert answer.as_lambda()["body"] == ""
    [job] = world.jobs()
    assert job["job"] == "slack" and job["action"]["kind"] == "alert.ack"
    assert job["action"]["thread_key"] == THREAD_KEY and job["action"]["user_id"] == "W111"


@pytest.mark.parametrize(
    "event",
    [
        signed_event(form(click()), signature=""),  # unsigned
        signed_event(form(click()), timestamp=NOW - 400),  # stale
        signed_event(form(click()), timestamp=NOW + 400),  # from the future
        signed_event(form(click()), secret="another-secret-of-32-characters!"),  # wrong secret
    ],
    ids=["unsigned", "stale", "future", "wrong-secret"],
)
def test_interactions_bad_signature_is_401_with_no_detail_and_nothing_queued(world: World, event: Any) -> None:
    answer = endpoint(world).handle(event)
    assert (answer.status, answer.body) == (401, {"error": "unauthorized"})
    assert world.jobs() == []


def test_interactions_replayed_click_is_401(world: World) -> None:
    event = signed_event(form(click()))
    assert endpoint(world).handle(event).status == 200
    replay = endpoint(world, now=NOW + 30).handle(event)
    assert (replay.status, replay.body, replay.reason) == (
        401,
        {"error": "unauthorized"},
        "signature already used (replay)",
    )
    assert len(world.jobs()) == 1


def test_interactions_malformed_signed_click_is_400_one_line(world: World) -> None:
    answer = endpoint(world).handle(signed_event(form({**click(), "type": "view_submission"})))
    assert answer.status == 400 and "block_actions" in answer.body["error"]  # type: ignore[index]
    assert world.jobs() == []


def test_interactions_a_link_button_click_is_200_and_ignored(world: World) -> None:
    payload = click()
    payload["actions"] = [{"action_id": "open-alertmanager", "type": "button", "action_ts": "1.2", "url": "https://x"}]
    answer = endpoint(world).handle(signed_event(form(payload)))
    assert (answer.status, answer.body, answer.outcome) == (200, None, "ActionIgnored")
    assert world.jobs() == []


def test_interactions_get_is_405(world: World) -> None:
    assert endpoint(world).handle(signed_event(form(click()), method="GET")).status == 405


def test_interactions_unauthorised_user_gets_an_ephemeral_refusal_and_an_audit_record(world: World) -> None:
    answer = endpoint(world, users=("U999",)).handle(
        signed_event(form(click("alert.silence", selected=f"4h|{THREAD_KEY}")))
    )
    assert (answer.status, answer.outcome) == (200, "ActionRefused")
    [job] = world.jobs()
    assert job["job"] == "refuse"
    recorder = Recorder()
    silences = FakeSilences()
    assert worker(world, recorder, silences=silences).run(job, Deadline(30)) == []
    assert silences.created == [] and recorder.notes == []
    [(url, body)] = recorder.responses
    assert url.startswith("https://hooks.slack.com/actions/")
    assert body["response_type"] == "ephemeral" and "not allowed" in body["text"]
    [record] = audit(world)
    assert (record["result"], record["action"], record["user_id"]) == ("refused", "alert.silence", "W111")


def test_interactions_handoff_failure_is_a_500_from_the_handler(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = endpoint(world)
    broken.handoff = SqsHandoff("https://sqs.us-east-1.amazonaws.com/123456789012/missing", world.sqs)
    monkeypatch.setattr(slack_interactions, "endpoint", broken)
    answer = slack_interactions.handler(signed_event(form(click())), FakeContext())
    assert answer["statusCode"] == 500 and answer["body"] == '{"error": "internal"}'


def test_interactions_handler_from_environment(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slack_interactions, "endpoint", None)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET_NAME)
    monkeypatch.setenv("REPLAY_TABLE", world.state_table)
    monkeypatch.setenv("ACTION_QUEUE_URL", world.queue_url)
    monkeypatch.setenv("SLACK_ACTORS", json.dumps({"users": ["W111"]}))
    now = int(time.time())
    assert slack_interactions.handler(signed_event(form(click()), timestamp=now), FakeContext())["statusCode"] == 200
    bad = slack_interactions.handler(
        signed_event(form(click()), timestamp=now, signature="v0=" + "0" * 64), FakeContext()
    )
    assert (bad["statusCode"], bad["body"]) == (401, '{"error": "unauthorized"}')
    assert len(world.jobs()) == 1
    monkeypatch.setattr(slack_interactions, "endpoint", None)
    monkeypatch.delenv("REPLAY_TABLE")
    answer = slack_interactions.handler(signed_event(form(click()), timestamp=now + 1), FakeContext())
    assert answer["statusCode"] == 500 and "REPLAY_TABLE" not in answer["body"]


# -- each action end to end: click -> queue -> worker ---------------------------------------------------------------


def click_through(world: World, payload: dict[str, Any]) -> dict[str, Any]:
    assert endpoint(world).handle(signed_event(form(payload))).status == 200
    [job] = world.jobs()
    return job


def test_interactions_acknowledge_end_to_end(world: World, pagerduty: StandIn) -> None:
    recorder = Recorder()
    job = click_through(world, click("alert.ack"))
    [note] = worker(world, recorder, pagerduty=pagerduty).run(job, Deadline(30))
    [sent] = pagerduty.accepted()
    assert sent.body == {"routing_key": ROUTING_KEY, "dedup_key": "am-4f2a9c", "event_action": "acknowledge"}
    assert recorder.notes == [note] and note.text == "Acknowledged by <@W111> 03:12 UTC"
    assert note.thread_key == THREAD_KEY and note.state == {"acknowledged": True}
    [record] = audit(world)
    assert (record["action"], record["result"], record["user_name"]) == ("alert.ack", "ok", "ana")


def test_interactions_silence_and_unsilence_end_to_end(world: World) -> None:
    recorder = Recorder()
    silences = FakeSilences()
    job = click_through(world, click("alert.silence", selected=f"4h|{THREAD_KEY}"))
    [note] = worker(world, recorder, silences=silences).run(job, Deadline(30))
    assert note.text == "Silenced for 4 h by <@W111>, until 07:12 UTC" and note.state["silence_id"] == SILENCE_ID
    assert silences.created[0]["comment"].endswith(": https://acme.slack.com/archives/C111/p111222")
    assert silences.created[0]["matchers"] == [
        {"name": "alertname", "value": "DiskFull", "isRegex": False, "isEqual": True}
    ]
    silenced = {THREAD_KEY: ActionTarget(THREAD_KEY, "prod", group_labels=TARGET.group_labels, silence_id=SILENCE_ID)}
    unsilence = click("alert.unsilence")
    unsilence["actions"][0]["action_ts"] = "1596530390.000001"  # another click: another audit item
    job = click_through(world, unsilence)
    [note] = worker(world, recorder, silences=silences, targets=silenced).run(job, Deadline(30))
    assert silences.expired == [SILENCE_ID] and note.state == {"silence_id": None, "silenced_until": None}
    assert [r["action"] for r in audit(world)] == ["alert.silence", "alert.unsilence"]


def test_interactions_mute_end_to_end(world: World) -> None:
    recorder = Recorder()
    client = boto3.client("cloudwatch", region_name="us-east-1")
    job = click_through(world, click("alert.mute", selected=f"1h|{THREAD_KEY}"))
    with Stubber(client) as stub:
        stub.add_response("put_alarm_mute_rule", {})
        [note] = worker(world, recorder, cloudwatch=client).run(job, Deadline(30))
    assert note.text == "Muted for 1 h by <@W111>, until 04:12 UTC"
    assert note.state["mute_rule"] == mute_rule_name("prod", THREAD_KEY)


def test_interactions_failed_action_answers_the_clicker_only(world: World, pagerduty: StandIn) -> None:
    pagerduty.then(Answer(status=400, body='{"status":"invalid event","message":"bad"}'))
    recorder = Recorder()
    job = click_through(world, click("alert.ack"))
    [note] = worker(world, recorder, pagerduty=pagerduty).run(job, Deadline(30))
    assert not note.ok and recorder.notes == []
    [(_, body)] = recorder.responses
    assert body["response_type"] == "ephemeral" and body["text"].startswith("Acknowledge by <@W111> failed")
    assert audit(world)[0]["result"] == "failed"


def test_interactions_unknown_thread_is_answered_not_crashed(world: World) -> None:
    recorder = Recorder()
    job = click_through(world, click("alert.ack"))
    [note] = worker(world, recorder, targets={}).run(job, Deadline(30))
    assert not note.ok and "no longer known" in recorder.responses[0][1]["text"]


def test_interactions_worker_retries_a_retryable_failure_then_reports_it(
    world: World, pagerduty: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder()
    job = click_through(world, click("alert.ack"))
    pagerduty.then(*[Answer(status=503, body="{}") for _ in range(4)])
    monkeypatch.setattr(action_worker, "worker", worker(world, recorder, pagerduty=pagerduty))
    first = action_worker.handler(world.sqs_event(job, receives=1), FakeContext())
    assert first == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert recorder.responses == [] and audit(world) == []
    last = action_worker.handler(world.sqs_event(job, receives=3), FakeContext())
    assert last == {"batchItemFailures": []}
    assert "failed" in recorder.responses[0][1]["text"] and audit(world)[0]["result"] == "failed"


def test_interactions_worker_drops_a_malformed_job_with_a_metric(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(action_worker, "worker", worker(world, Recorder()))
    answer = action_worker.handler(
        world.sqs_event("not json", {"job": "nope"}, {"job": "slack", "action": {}}), FakeContext()
    )
    assert answer == {"batchItemFailures": []}
    assert [r.getMessage() for r in caplog.records].count("job dropped") == 3
    assert '"PayloadRejected":[1.0,1.0,1.0]' in capsys.readouterr().out


def test_interactions_worker_without_a_thread_store_answers_no_longer_known(world: World) -> None:
    recorder = Recorder()
    job = click_through(world, click("alert.ack"))
    answering = worker(world, recorder)
    answering.find_target = action_worker.no_thread_store
    [note] = answering.run(job, Deadline(30))
    assert not note.ok and "no longer known" in recorder.responses[0][1]["text"]


class OneAMinute:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def consume(self, source: str, alerts: int, now: float) -> float | None:
        self.seen.append(source)
        return None if self.seen.count(source) <= 1 else 30.0


def test_interactions_clicks_are_rate_limited_per_user(world: World) -> None:
    limited = endpoint(world)
    limited.limiter = OneAMinute()
    assert limited.handle(signed_event(form(click("alert.ack")))).status == 200
    second = limited.handle(signed_event(form(click("alert.unmute"))))
    assert (second.status, second.outcome) == (429, "RateLimited")
    assert limited.handle(signed_event(form(click("alert.ack", user="U222")))).status == 200
    assert [job["action"]["user_id"] for job in world.jobs()] == ["W111", "U222"]


def test_interactions_a_job_delivered_twice_acts_once(world: World, pagerduty: StandIn) -> None:
    recorder = Recorder()
    job = click_through(world, click("alert.ack"))
    once = worker(world, recorder, pagerduty=pagerduty)
    once.claims = DynamoReplayGuard(world.state_table, world.dynamodb, prefix="action#")
    assert len(once.run(job, Deadline(30))) == 1
    assert once.run(job, Deadline(30)) == []
    assert len(pagerduty.accepted()) == 1 and len(audit(world)) == 1


def test_interactions_a_retried_job_is_not_taken_for_a_duplicate(world: World, pagerduty: StandIn) -> None:
    recorder = Recorder()
    job = click_through(world, click("alert.ack"))
    once = worker(world, recorder, pagerduty=pagerduty)
    once.claims = DynamoReplayGuard(world.state_table, world.dynamodb, prefix="action#")
    pagerduty.then(*[Answer(status=503, body="{}") for _ in range(2)])
    with pytest.raises(TransientDeliveryError):
        once.run(job, Deadline(30), last_attempt=False)
    [note] = once.run(job, Deadline(30))
    assert note.ok and len(pagerduty.accepted()) == 1


def test_interactions_worker_built_from_environment(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AUDIT_TABLE": world.audit_table,
        "REPLAY_TABLE": world.state_table,
        "THREAD_TABLE": "threads",
        "ENVIRONMENT": "prod",
        "SLACK_APPS": json.dumps({"alerting/prod/slack-app": {"to_channel": ["refired"]}}),
        "ALERTMANAGER_SECRET": "alerting/prod/alertmanager",
        "PAGERDUTY_REST_SECRET": "alerting/prod/pagerduty-rest",
        "PAGERDUTY_SECRETS": json.dumps({"prod-critical": "alerting/prod/pagerduty"}),
    }.items():
        monkeypatch.setenv(name, value)
    built = action_worker.build()
    assert isinstance(built.find_target, ThreadTargets) and built.find_target.environment == "prod"
    assert built.find_target.pagerduty_secret_for("prod-critical") == "alerting/prod/pagerduty"
    assert built.find_target.pagerduty_secret_for("prod-warning") is None  # a topic that pages nobody
    assert isinstance(built.post_to_thread, SlackThreadPoster)
    app = {"bot_token": "xoxb-1-2-abc", "channel": "C0ALERTS01"}
    world.secrets.create_secret(Name="alerting/prod/slack-app", SecretString=json.dumps(app))  # read when first used
    assert tuple(built.post_to_thread.channels) == ("C0ALERTS01",)
    assert built.post_to_thread.credentials_for("C0ALERTS01").token == "xoxb-1-2-abc"
    with pytest.raises(ConfigurationError, match="C0ELSEWHERE"):
        built.post_to_thread.credentials_for("C0ELSEWHERE")
    assert built.claims is not None and built.alert_keys is not None and built.executor.silences is not None
    monkeypatch.setenv("SLACK_APPS", "[]")
    with pytest.raises(ConfigurationError, match="SLACK_APPS"):
        action_worker.build()
    monkeypatch.delenv("THREAD_TABLE")
    built = action_worker.build()
    assert built.find_target is action_worker.no_thread_store
    monkeypatch.delenv("AUDIT_TABLE")
    with pytest.raises(ConfigurationError, match="AUDIT_TABLE"):
        action_worker.build()
