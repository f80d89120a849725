"""Actions and PagerDuty events in the alert's Slack thread (issue 11): a signed click finds its thread in the thread
store (moto), acts, replies in the thread and edits the parent through the Slack Web API stand-in; a PagerDuty
webhook's alert key finds the thread and replies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from alertlib.action_threads import SlackThreadPoster, ThreadTargets
from alertlib.actions import Executor
from alertlib.audit_log import DynamoAuditLog
from alertlib.deliver import Deadline, Deliverer
from alertlib.interactions import ActionWorker, SlackInteractions, SqsHandoff
from alertlib.pagerduty_webhooks import parse_webhook
from alertlib.render_thread import STATUS_BLOCK
from alertlib.slack_actions import Authoriser, check_thread_key, parse_interaction
from alertlib.slack_api import AppCredentials, SlackApi
from alertlib.slack_signature import DynamoReplayGuard, SigningSecrets
from alertlib.threads import EventKind, Matcher, ThreadEvent, ThreadMeta, ThreadStore
from tests.handlers.interactions_world import Recorder, World, make_world
from tests.unit.interactions_helpers import NOW, SIGNING_SECRET, click, form, signed_event
from tests.unit.test_pagerduty_webhooks import webhook
from tools.slack_api_standin import CHANNEL, TOKEN, SlackApiStandIn
from tools.standins import StandIn

ROUTING_KEY = "0123456789abcdef0123456789abcdef"
ARN = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:prod-rds-db1-cpu high (p99)"
WHEN = datetime(2026, 12, 3, 3, 12, tzinfo=UTC)
PARENT = {
    "text": "prod-rds-db1-cpu is firing",
    "attachments": [
        {
            "color": "#E01E5A",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "CRITICAL: prod-rds-db1-cpu"}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "CPU 97% on db-1"}},
            ],
        }
    ],
}


@dataclass
class Setup:
    world: World
    slack: SlackApiStandIn
    store: ThreadStore
    key: str
    ts: str


@pytest.fixture
def setup(aws: Any) -> Iterator[Setup]:
    world = make_world(aws)
    world.dynamodb.create_table(
        TableName="threads",
        KeySchema=[{"AttributeName": "alert", "KeyType": "HASH"}, {"AttributeName": "channel", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "alert", "AttributeType": "S"},
            {"AttributeName": "channel", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    with SlackApiStandIn() as slack:
        store = ThreadStore("threads", world.dynamodb, clock=WHEN.timestamp)
        api = SlackApi(api_url=slack.url)
        posted = api.post_message(
            TOKEN, CHANNEL, text=PARENT["text"], attachments=PARENT["attachments"], deadline=Deadline(20)
        )
        meta = ThreadMeta(
            dedup_key=ARN, routing="alerting/prod/pagerduty", source="cloudwatch", alarm_names=("prod-rds-db1-cpu",)
        )
        claim = store.claim(ARN, CHANNEL, event=ThreadEvent(EventKind.FIRED, WHEN), meta=meta)
        thread = store.attach(claim.thread, posted.ts)
        yield Setup(world, slack, store, thread.key, posted.ts)


def worker(setup: Setup, recorder: Recorder, pagerduty: StandIn | None = None, **kw: Any) -> ActionWorker:
    api = SlackApi(api_url=setup.slack.url, retries=1, backoff_factor=0)
    deliverer = Deliverer(pagerduty_url=pagerduty.url if pagerduty else "http://127.0.0.1:9",
                          secret_source=lambda name, force_fetch=False: ROUTING_KEY)  # fmt: skip
    return ActionWorker(
        executor=Executor(deliverer=deliverer, silences=None, cloudwatch=None, clock=lambda: WHEN),
        find_target=ThreadTargets(setup.store, "prod"),
        audit=DynamoAuditLog(setup.world.audit_table, setup.world.dynamodb),
        respond=recorder.respond,
        post_to_thread=SlackThreadPoster(
            api,
            setup.store,
            lambda channel: AppCredentials(TOKEN, channel),
            channels=(CHANNEL,),
            clock=lambda: WHEN,
            **kw,
        ),
        clock=lambda: WHEN,
    )


def signed_click(setup: Setup, action_id: str = "alert.ack") -> dict[str, Any]:
    container = {"type": "message", "message_ts": setup.ts, "channel_id": CHANNEL}
    payload = click(action_id, value=setup.key, container=container, message={"ts": setup.ts, **PARENT})
    endpoint = SlackInteractions(
        secrets=lambda: SigningSecrets((SIGNING_SECRET,)),
        guard=DynamoReplayGuard(setup.world.state_table, setup.world.dynamodb),
        authoriser=Authoriser(user_ids=frozenset({"W111"})),
        handoff=SqsHandoff(setup.world.queue_url, setup.world.sqs),
        clock=lambda: NOW,
    )
    assert endpoint.handle(signed_event(form(payload))).status == 200
    [job] = setup.world.jobs()
    return job


def test_interactions_thread_key_fits_a_value(setup: Setup) -> None:
    assert check_thread_key(setup.key) and setup.key.startswith(CHANNEL + ".")


def test_interactions_acknowledge_replies_in_the_thread_and_edits_the_parent(setup: Setup) -> None:
    recorder = Recorder()
    with StandIn("pagerduty") as pagerduty:
        [note] = worker(setup, recorder, pagerduty).run(signed_click(setup), Deadline(30))
        [sent] = pagerduty.accepted()
    assert sent.body == {"routing_key": ROUTING_KEY, "dedup_key": ARN, "event_action": "acknowledge"}
    assert note.ok and recorder.responses == []
    [reply] = setup.slack.replies(CHANNEL, setup.ts)
    assert "Acknowledged by <@W111>" in reply.text
    parent = setup.slack.find(CHANNEL, setup.ts)
    assert parent is not None and parent.edited
    blocks = parent.attachments[0]["blocks"]
    status = next(b for b in blocks if b.get("block_id") == STATUS_BLOCK)
    assert "Acknowledged by <@W111>" in status["elements"][0]["text"]
    assert blocks[0]["type"] == "header" and "CPU 97% on db-1" in str(blocks)  # the alert itself is kept
    action_ids = [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert action_ids == ["alert.mute"]  # acknowledged: no second Acknowledge
    thread = setup.store.get(ARN, CHANNEL)
    assert thread is not None and thread.state.acknowledged_by is not None
    assert thread.state.acknowledged_by.slack_id == "W111"


def test_interactions_pagerduty_reassignment_replies_in_the_thread(setup: Setup) -> None:
    recorder = Recorder()
    answering = worker(setup, recorder)
    answering.alert_keys = lambda incident, deadline: (ARN,)  # type: ignore[assignment]
    event = {"job": "pagerduty", "event": {**_incident("incident.reassigned")}}
    [note] = answering.run(event, Deadline(30))
    assert note.dedup_key == ARN
    [reply] = setup.slack.replies(CHANNEL, setup.ts)
    assert "Reassigned to Bob Ito" in reply.text
    parent = setup.slack.find(CHANNEL, setup.ts)
    assert parent is not None and not parent.edited  # no parent body known for a webhook: reply only
    thread = setup.store.get(ARN, CHANNEL)
    assert thread is not None and thread.state.assigned_to is not None and thread.state.assigned_to.name == "Bob Ito"


def test_interactions_pagerduty_resolve_edits_the_parent_when_its_body_is_known(setup: Setup) -> None:
    answering = worker(setup, Recorder(), parent_message_for=lambda thread: PARENT)
    answering.alert_keys = lambda incident, deadline: (ARN,)  # type: ignore[assignment]
    answering.run({"job": "pagerduty", "event": _incident("incident.resolved")}, Deadline(30))
    parent = setup.slack.find(CHANNEL, setup.ts)
    assert parent is not None and parent.edited
    status = next(b for b in parent.attachments[0]["blocks"] if b.get("block_id") == STATUS_BLOCK)
    assert status["elements"][0]["text"].startswith("Resolved")


def test_interactions_slack_failing_after_the_action_does_not_redo_it(setup: Setup) -> None:
    recorder = Recorder()
    setup.slack.fail_next(5, "channel_not_found")
    with StandIn("pagerduty") as pagerduty:
        [note] = worker(setup, recorder, pagerduty).run(signed_click(setup), Deadline(30))
        assert len(pagerduty.accepted()) == 1
    assert note.ok
    [(_, body)] = recorder.responses
    assert "not shown in the thread" in body["text"]


def test_interactions_thread_target_carries_the_stores_meta(setup: Setup) -> None:
    store = setup.store
    meta = ThreadMeta(source="alertmanager", matchers=(Matcher("alertname", "DiskFull"), Matcher("env", "p.*", True)))
    claim = store.claim("am-group-1", CHANNEL, event=ThreadEvent(EventKind.FIRED, WHEN), meta=meta)
    key = store.attach(claim.thread, "1700000000.000100").key
    action = replace(parse_interaction(form(click("alert.silence", selected=f"1h|{key}"))), channel_id=CHANNEL)
    target = ThreadTargets(store, "prod")(action)
    assert target is not None
    assert target.group_labels == (("alertname", "DiskFull"),)  # a regex matcher is never turned into equality
    assert target.pagerduty_secret is None and target.environment == "prod"
    assert ThreadTargets(store, "prod")(replace(action, channel_id="C0OTHER")) is None  # a key is per channel


def _incident(event_type: str) -> dict[str, Any]:
    parsed = parse_webhook(json.dumps(webhook(event_type)).encode())
    assert parsed is not None
    return parsed.as_json()
