"""tools.serve's on-call routes (issue 11) over real HTTP: `/slack/interactions` and `/pagerduty/webhooks` on the
pipeline's port, handled by tools.oncall_local (the Lambdas' code), the action worker on its thread, the Slack Web
API, PagerDuty and Alertmanager stand-ins. The AWS side (thread table, secrets, alarms) is moto in-process; the
pipeline's world is not built (tests/handlers/test_local_pipeline.py does that)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from alertlib.render_thread import STATUS_BLOCK
from alertlib.threads import Matcher, ThreadMeta
from tests.handlers.oncall_served import ALARM, APP_SECRET, ROUTING_KEY, SIGNING, WEBHOOK, Served, served_oncall
from tools.oncall_local import (
    click_payload,
    incident_id,
    incident_webhook,
    post,
    signed_click,
    signed_webhook,
)
from tools.serve import LocalPipeline
from tools.slack_api_standin import CHANNEL, SlackApiStandIn


@pytest.fixture
def served(aws: Any) -> Iterator[Served]:
    with served_oncall(aws) as world:
        yield world


def _status(slack: SlackApiStandIn, ts: str) -> str:
    parent = slack.find(CHANNEL, ts)
    assert parent is not None
    blocks = [*parent.blocks, *(b for a in parent.attachments for b in a.get("blocks", []))]
    return str(next(b for b in blocks if b.get("block_id") == STATUS_BLOCK)["elements"][0]["text"])


def _meta(**fields: Any) -> ThreadMeta:
    return ThreadMeta(routing=APP_SECRET, **fields)


def test_serve_oncall_signed_click_acknowledges_in_pagerduty_and_edits_the_parent(served: Served) -> None:
    thread = served.thread("alarm:db1", _meta(dedup_key="dev-db1-cpu", source="cloudwatch", alarm_names=(ALARM,)))
    status, body = served.click(thread, "alert.ack")
    assert (status, body) == (200, b"")
    assert served.oncall.wait_idle()
    [acknowledge] = [r.body for r in served.pagerduty.received]
    assert acknowledge == {"dedup_key": "dev-db1-cpu", "event_action": "acknowledge", "routing_key": ROUTING_KEY}
    assert thread.ts is not None
    [reply] = served.slack.replies(CHANNEL, thread.ts)
    assert reply.text.startswith("\U0001f440 Acknowledged by <@U0LOCAL01>")
    assert _status(served.slack, thread.ts).startswith("Acknowledged by <@U0LOCAL01>")
    assert [(r.action, r.result) for r in served.oncall.audit.records] == [("alert.ack", "ok")]
    assert any("action    done: Acknowledged by @U0LOCAL01" in line for line in served.lines)


def test_serve_oncall_mute_puts_a_rule_on_the_alarm_and_says_until_when(served: Served) -> None:
    thread = served.thread("alarm:db1", _meta(source="cloudwatch", alarm_names=(ALARM,)))
    assert served.click(thread, "alert.mute", option=1)[0] == 200  # 4 h
    assert served.oncall.wait_idle()
    [(name, rule)] = served.oncall.mute_rules.rules.items()
    assert name.startswith("dev-mute-") and rule["MuteTargets"] == {"AlarmNames": [ALARM]}
    assert rule["Rule"]["Schedule"]["Duration"] == "PT4H"
    assert thread.ts is not None
    [reply] = served.slack.replies(CHANNEL, thread.ts)
    assert "Muted for 4 h by <@U0LOCAL01>" in reply.text


def test_serve_oncall_silence_reaches_alertmanager_with_the_group_matchers(served: Served) -> None:
    matchers = (Matcher("alertname", "DiskFull"), Matcher("instance", "db-1"))
    thread = served.thread("am:diskfull", _meta(source="alertmanager", matchers=matchers))
    assert served.click(thread, "alert.silence")[0] == 200
    assert served.oncall.wait_idle()
    assert served.oncall.alertmanager is not None
    [silence] = served.oncall.alertmanager.silences.values()
    assert [(m["name"], m["value"]) for m in silence.body["matchers"]] == [
        ("alertname", "DiskFull"),
        ("instance", "db-1"),
    ]
    assert silence.body["createdBy"] == "ana (Slack U0LOCAL01)"
    assert thread.ts is not None
    assert "Silenced for 1 h" in served.slack.replies(CHANNEL, thread.ts)[0].text


def test_serve_oncall_unsigned_and_stale_clicks_are_401_and_nothing_is_done(served: Served) -> None:
    thread = served.thread("alarm:db1", _meta(dedup_key="dev-db1-cpu", alarm_names=(ALARM,)))
    assert thread.ts is not None
    parent = served.slack.find(CHANNEL, thread.ts)
    assert parent is not None
    shown = {"attachments": parent.attachments}
    payload = click_payload(shown, channel=CHANNEL, ts=thread.ts, action_id="alert.ack",
                            response_url=served.pipeline.response_url("1"))  # fmt: skip
    body, headers = signed_click(SIGNING, payload)
    unsigned = {k: v for k, v in headers.items() if not k.startswith("X-Slack")}
    assert post(served.url("/slack/interactions"), body, unsigned) == (401, b'{"error": "unauthorized"}')
    stale = signed_click(SIGNING, payload, now=1_000_000_000)
    assert post(served.url("/slack/interactions"), *stale)[0] == 401
    wrong = signed_click("someone-elses-secret-0123456789", payload)
    assert post(served.url("/slack/interactions"), *wrong)[0] == 401
    assert served.oncall.wait_idle()
    assert not served.pagerduty.received and not served.slack.replies(CHANNEL, thread.ts)
    assert [r.status for r in served.pipeline.refusals] == [401, 401, 401]
    assert all("/slack/interactions from 127.0.0.1: 401 unauthorized" in str(r) for r in served.pipeline.refusals)


def test_serve_oncall_replayed_click_is_401_and_acted_on_once(served: Served) -> None:
    thread = served.thread("alarm:db1", _meta(dedup_key="dev-db1-cpu", alarm_names=(ALARM,)))
    assert thread.ts is not None
    parent = served.slack.find(CHANNEL, thread.ts)
    assert parent is not None
    payload = click_payload({"attachments": parent.attachments}, channel=CHANNEL, ts=thread.ts, action_id="alert.ack",
                            response_url=served.pipeline.response_url("1"))  # fmt: skip
    signed = signed_click(SIGNING, payload)
    assert post(served.url("/slack/interactions"), *signed)[0] == 200
    assert post(served.url("/slack/interactions"), *signed)[0] == 401  # the same signature again
    assert served.oncall.wait_idle()
    assert [r.body["event_action"] for r in served.pagerduty.received] == ["acknowledge"]
    assert len(served.slack.replies(CHANNEL, thread.ts)) == 1


def test_serve_oncall_response_url_elsewhere_than_127_0_0_1_is_refused(served: Served) -> None:
    thread = served.thread("alarm:db1", _meta(dedup_key="dev-db1-cpu", alarm_names=(ALARM,)))
    assert thread.ts is not None
    parent = served.slack.find(CHANNEL, thread.ts)
    assert parent is not None
    payload = click_payload({"attachments": parent.attachments}, channel=CHANNEL, ts=thread.ts, action_id="alert.ack",
                            response_url="https://hooks.slack.com/actions/T1/1/x")  # fmt: skip
    status, body = post(served.url("/slack/interactions"), *signed_click(SIGNING, payload))
    assert (status, json.loads(body)) == (400, {"error": "response_url is not Slack's"})
    assert served.oncall.wait_idle() and not served.pagerduty.received


def test_serve_oncall_unauthorised_user_is_answered_on_the_local_response_url(served: Served) -> None:
    served.oncall.stop()
    served.oncall.actors = json.dumps({"users": ["U0ONCALL1"]})
    served.oncall.start()
    thread = served.thread("alarm:db1", _meta(dedup_key="dev-db1-cpu", alarm_names=(ALARM,)))
    assert served.click(thread, "alert.ack", user_id="U0INTRUDER")[0] == 200
    assert served.oncall.wait_idle()
    [response] = served.oncall.responses
    assert response.path == "/slack/responses/1" and response.body["response_type"] == "ephemeral"
    assert "not allowed" in response.text
    assert not served.pagerduty.received
    assert [(r.action, r.result) for r in served.oncall.audit.records] == [("alert.ack", "refused")]


def test_serve_oncall_unknown_route_is_404(served: Served) -> None:
    assert post(served.url("/slack/nothing"), b"{}", {"Content-Type": "application/json"})[0] == 404
    assert post(served.url("/pagerduty"), b"{}", {"Content-Type": "application/json"})[0] == 404


def test_serve_oncall_signed_pagerduty_webhook_is_accepted_and_replied_in_the_thread(served: Served) -> None:
    dedup = "dev-db1-cpu"
    thread = served.thread("alarm:db1", _meta(dedup_key=dedup, alarm_names=(ALARM,)))
    trigger = {"routing_key": ROUTING_KEY, "event_action": "trigger", "dedup_key": dedup,
               "payload": {"summary": "db1 CPU", "source": "dev", "severity": "critical"}}  # fmt: skip
    assert post(served.pagerduty.url, json.dumps(trigger).encode(), {"Content-Type": "application/json"})[0] == 202
    value = incident_webhook("incident.acknowledged", dedup, agent="Ana Lopez")
    assert value["event"]["data"]["id"] == incident_id(dedup)
    status, body = post(served.url("/pagerduty/webhooks"), *signed_webhook(WEBHOOK, value))
    assert (status, json.loads(body)) == (202, {"status": "accepted"})
    assert served.oncall.wait_idle()
    assert thread.ts is not None
    [reply] = served.slack.replies(CHANNEL, thread.ts)
    assert "Acknowledged by Ana Lopez" in reply.text
    assert _status(served.slack, thread.ts).startswith("Acknowledged by Ana Lopez")
    unsigned = post(served.url("/pagerduty/webhooks"), json.dumps(value).encode(), {"Content-Type": "application/json"})
    assert unsigned[0] == 401


@pytest.mark.slow
def test_serve_oncall_demo_thread_on_the_local_pipeline_has_every_step(tmp_path: Any) -> None:
    """`make demo`'s thread on dev's real local world with a Slack app route (moto server, IAM enforced, the
    forwarders in their processes): the Slack forwarder posts the parent and the graph, the clicks and PagerDuty's
    webhook go through the endpoints and the worker, the forwarder replies the resolve; the parent is edited at each
    step, PagerDuty gets the acknowledge and the alarm a mute rule, and IAM refused nothing."""
    from infra.config import load_config
    from tools.demo_thread import ThreadDemo
    from tools.localaws import free_port
    from tools.oncall_local import demo_config

    said: list[str] = []
    config = demo_config(load_config("dev"))
    with LocalPipeline(
        env="dev", port=free_port(), say=said.append, log_dir=str(tmp_path), given_config=config
    ) as pipeline:
        problems = ThreadDemo(pipeline, say=said.append).run()
        assert problems == [], "\n".join(said[-40:])
        assert pipeline.oncall is not None and pipeline.slack_api is not None
        [channel] = pipeline.app_channels.values()
        [parent] = pipeline.slack_api.parents(channel)  # the forwarder's, posted once and edited
        assert len(parent.edits) >= 4  # acknowledged, reassigned, muted, resolved
        texts = [r.text for r in pipeline.slack_api.replies(channel, parent.ts)]
        assert sum(1 for t in texts if "Acknowledged by" in t) == 1 and any("Resolved after" in t for t in texts)
        assert not pipeline.refusals and not pipeline.denials
        audit = pipeline.oncall.audit.table  # the templates' audit table, written as the deployed worker writes it
        assert audit is not None
        items = pipeline.admin("dynamodb").scan(TableName=audit.table)["Items"]
        assert sorted(i["action"]["S"] for i in items if "action" in i) == sorted(
            ["alert.ack", "alert.mute", "pagerduty.incident.reassigned"]
        )
