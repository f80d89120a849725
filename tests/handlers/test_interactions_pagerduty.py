"""The PagerDuty webhook endpoint and the worker's PagerDuty jobs (issue 11): signatures, dedup by X-Webhook-Id,
ignored and unreadable events answered 2xx, the dedup keys read from REST and the thread notes made."""

from __future__ import annotations

import json
from typing import Any

import pagerduty_webhooks
import pytest

from alertlib.action_http import JsonHttp
from alertlib.actions import Executor
from alertlib.audit_log import DynamoAuditLog
from alertlib.deliver import Deadline, Deliverer
from alertlib.interactions import ActionWorker, PagerDutyWebhooks, SqsHandoff
from alertlib.pagerduty_webhooks import DynamoWebhookDedup, PagerDutyAlertKeys, WebhookSecrets, pagerduty_signature
from tests.conftest import FakeContext
from tests.handlers.interactions_world import WEBHOOK_SECRET, WEBHOOK_SECRET_NAME, Recorder, World, make_world
from tests.unit.test_pagerduty_webhooks import FakePagerDutyRest, webhook

OLD_SECRET = "pd-webhook-secret-old-456789abcdef"


@pytest.fixture
def world(aws: Any) -> World:
    return make_world(aws)


@pytest.fixture
def rest() -> Any:
    server = FakePagerDutyRest()
    server.alerts = [{"id": "Q1", "alert_key": "am-4f2a9c"}, {"id": "Q2", "alert_key": "cw-prod-rds-db1-cpu"}]
    yield server
    server.server.shutdown()
    server.server.server_close()


def endpoint(world: World, secrets: tuple[str, ...] = (WEBHOOK_SECRET,)) -> PagerDutyWebhooks:
    return PagerDutyWebhooks(
        secrets=lambda: WebhookSecrets(secrets),
        dedup=DynamoWebhookDedup(world.state_table, world.dynamodb),
        handoff=SqsHandoff(world.queue_url, world.sqs),
    )


def delivery(
    value: Any, *, secret: str = WEBHOOK_SECRET, webhook_id: str = "b2d7-41f0", signature: str | None = None
) -> dict[str, Any]:
    raw = json.dumps(value).encode()
    return {
        "version": "2.0",
        "requestContext": {"http": {"method": "POST", "path": "/"}},
        "headers": {
            "content-type": "application/json",
            "X-PagerDuty-Signature": signature if signature is not None else pagerduty_signature(secret, raw),
            "X-Webhook-Id": webhook_id,
        },
        "body": raw.decode(),
        "isBase64Encoded": False,
    }


def test_interactions_pagerduty_signed_event_is_queued_202(world: World) -> None:
    answer = endpoint(world).handle(delivery(webhook()))
    assert (answer.status, answer.body, answer.outcome) == (202, {"status": "accepted"}, "WebhookAccepted")
    [job] = world.jobs()
    assert job["job"] == "pagerduty" and job["event"]["incident_id"] == "PGR0VU2"
    assert job["event"]["agent"] == "Ana Lopez"


@pytest.mark.parametrize(
    "event",
    [
        delivery(webhook(), signature=""),
        delivery(webhook(), signature="v1=" + "0" * 64),
        delivery(webhook(), secret="someone-elses-secret-0123456789"),
    ],
    ids=["unsigned", "invalid", "wrong-secret"],
)
def test_interactions_pagerduty_bad_signature_is_401_and_nothing_queued(world: World, event: Any) -> None:
    answer = endpoint(world).handle(event)
    assert (answer.status, answer.body) == (401, {"error": "unauthorized"})
    assert world.jobs() == []


def test_interactions_pagerduty_rotated_secret_is_accepted(world: World) -> None:
    answer = endpoint(world, (WEBHOOK_SECRET, OLD_SECRET)).handle(delivery(webhook(), secret=OLD_SECRET))
    assert answer.status == 202


def test_interactions_pagerduty_retry_of_one_delivery_is_processed_once(world: World) -> None:
    first = endpoint(world).handle(delivery(webhook()))
    again = endpoint(world).handle(delivery(webhook()))
    assert (first.status, again.status, again.body) == (202, 202, {"status": "duplicate"})
    assert len(world.jobs()) == 1
    # The signed body's event id decides, not the unsigned X-Webhook-Id: a replay with another header is a duplicate,
    # another event (its own id) is not.
    assert endpoint(world).handle(delivery(webhook(), webhook_id="other-1")).body == {"status": "duplicate"}
    other = webhook()
    other["event"]["id"] = "01DEN4HPBQ5E3KDVEPWH2FHDNE"
    assert endpoint(world).handle(delivery(other, webhook_id="other-2")).body == {"status": "accepted"}


def test_interactions_pagerduty_other_events_are_2xx_and_ignored(world: World) -> None:
    answer = endpoint(world).handle(delivery(webhook("incident.priority_updated")))
    assert (answer.status, answer.outcome) == (202, "WebhookIgnored")
    assert world.jobs() == []


def test_interactions_pagerduty_signed_but_unreadable_is_2xx_and_counted(world: World) -> None:
    answer = endpoint(world).handle(delivery({"event": {"event_type": "incident.resolved", "data": {}}}))
    assert (answer.status, answer.outcome) == (202, "WebhookUnreadable")
    assert world.jobs() == []


def test_interactions_pagerduty_failed_handoff_lets_the_retry_through(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = endpoint(world)
    broken.handoff = SqsHandoff("https://sqs.us-east-1.amazonaws.com/123456789012/missing", world.sqs)
    monkeypatch.setattr(pagerduty_webhooks, "endpoint", broken)
    assert pagerduty_webhooks.handler(delivery(webhook()), FakeContext())["statusCode"] == 500
    assert endpoint(world).handle(delivery(webhook())).body == {"status": "accepted"}


def test_interactions_pagerduty_handler_from_environment(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pagerduty_webhooks, "endpoint", None)
    monkeypatch.setenv("PAGERDUTY_WEBHOOK_SECRET", WEBHOOK_SECRET_NAME)
    monkeypatch.setenv("REPLAY_TABLE", world.state_table)
    monkeypatch.setenv("ACTION_QUEUE_URL", world.queue_url)
    assert pagerduty_webhooks.handler(delivery(webhook()), FakeContext())["statusCode"] == 202
    bad = pagerduty_webhooks.handler(delivery(webhook(), signature="v1=" + "1" * 64), FakeContext())
    assert (bad["statusCode"], bad["body"]) == (401, '{"error": "unauthorized"}')


def test_interactions_pagerduty_worker_finds_the_threads_by_alert_key(world: World, rest: FakePagerDutyRest) -> None:
    assert endpoint(world).handle(delivery(webhook("incident.reassigned"))).status == 202
    [job] = world.jobs()
    recorder = Recorder()
    worker = ActionWorker(
        executor=Executor(deliverer=Deliverer(pagerduty_url="http://127.0.0.1:9"), silences=None, cloudwatch=None),
        find_target=lambda key: None,
        audit=DynamoAuditLog(world.audit_table, world.dynamodb),
        respond=recorder.respond,
        post_to_thread=recorder.post,
        alert_keys=PagerDutyAlertKeys(lambda: "tok-0123456789", http=JsonHttp(retries=1), base_url=rest.url),
    )
    notes = worker.run(job, Deadline(30))
    assert [n.dedup_key for n in notes] == ["am-4f2a9c", "cw-prod-rds-db1-cpu"]
    assert {n.text for n in notes} == {"Reassigned in PagerDuty to Bob Ito by Ana Lopez"}
    assert notes[0].state["pagerduty_url"] == "https://acme.pagerduty.com/incidents/PGR0VU2"
    assert recorder.notes == notes
    # the webhook's incident_key is never used as a dedup key
    assert all(n.dedup_key != "d3640fbd41094207a1c11e58e46b1662" for n in notes)
    history = DynamoAuditLog(world.audit_table, world.dynamodb).history("dedup:am-4f2a9c")
    assert history[0]["action"] == "pagerduty.incident.reassigned" and history[0]["user_name"] == "Ana Lopez"
