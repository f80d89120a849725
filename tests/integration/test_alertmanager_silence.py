"""A real Prometheus Alertmanager (Debian's package) silenced from a signed Slack click (issue 11).

The click goes through the Slack interactivity endpoint (signature, parse, authorise, hand-off to a moto SQS
queue) and the action worker (in-process) to the real Alertmanager's API v2. The silence is then visible through
`amtool silence query`, the silenced group is not notified while a control group is, and Unsilence expires it,
after which the group is notified again. Like test_real_alertmanager.py: skipped outside CI when the binary is
missing, a failure under CI; the `alertmanager` fixture (conftest.py) stops every process it started.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from alertlib.actions import ActionTarget, Executor
from alertlib.audit_log import DynamoAuditLog
from alertlib.deliver import Deadline, Deliverer
from alertlib.interactions import ActionWorker, SlackInteractions, SqsHandoff
from alertlib.silences import AlertmanagerCredentials, AlertmanagerSilences
from alertlib.slack_actions import Authoriser
from alertlib.slack_signature import DynamoReplayGuard, SigningSecrets
from tests.handlers.interactions_world import Recorder, World, make_world
from tests.integration.binaries import AMTOOL, RealAlertmanager, wait_for
from tests.unit.interactions_helpers import SIGNING_SECRET, THREAD_KEY, click, form, signed_event

CONFIG = """
route:
  receiver: recorder
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: recorder
    webhook_configs:
      - url: {url}
        send_resolved: true
"""


class Notifications:
    """The webhook receiver: every notification body Alertmanager sends."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                owner.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def instances(self, alertname: str) -> set[str]:
        """The instances of firing alerts notified for the group `alertname`."""
        return {
            a["labels"].get("instance", "")
            for b in list(self.bodies)
            if b.get("groupLabels", {}).get("alertname") == alertname
            for a in b.get("alerts", [])
            if a.get("status") == "firing"
        }


@dataclass
class Stack:
    alertmanager: RealAlertmanager
    notifications: Notifications
    world: World


@pytest.fixture
def stack(aws: Any, alertmanager: Callable[[str], RealAlertmanager]) -> Iterator[Stack]:
    notifications = Notifications()
    try:
        am = alertmanager(CONFIG.format(url=notifications.url))
        try:
            yield Stack(am, notifications, make_world(aws))
        finally:
            am.stop()  # before the receiver it notifies
    finally:
        notifications.server.shutdown()
        notifications.server.server_close()


def amtool_silences(am: RealAlertmanager, *extra: str) -> list[dict[str, Any]]:
    if AMTOOL is None:  # Debian ships amtool with prometheus-alertmanager; the API answers the same otherwise
        silences: list[dict[str, Any]] = am.api("/api/v2/silences")
        expired = "--expired" in extra
        return [s for s in silences if (s["status"]["state"] == "expired") == expired]
    out = subprocess.run(
        [AMTOOL, "silence", "query", f"--alertmanager.url={am.url}", "-o", "json", *extra],
        check=True, capture_output=True, text=True, timeout=20,
    ).stdout  # fmt: skip
    return json.loads(out or "[]") or []


def alert(name: str, instance: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": name, "instance": instance, "severity": "critical"},
        "annotations": {"summary": f"{name} on {instance}"},
        "startsAt": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
    }


def test_alertmanager_silence_from_a_signed_click_then_unsilence(stack: Stack) -> None:
    am, notes, world = stack.alertmanager, stack.notifications, stack.world
    target = ActionTarget(
        thread_key=THREAD_KEY, environment="test", group_labels=(("alertname", "DiskFull"),),
        message_link="https://example.slack.com/archives/C111/p111222",
    )  # fmt: skip
    targets = {THREAD_KEY: target}
    recorder = Recorder()
    worker = ActionWorker(
        executor=Executor(
            deliverer=Deliverer(pagerduty_url="http://127.0.0.1:9"),
            silences=AlertmanagerSilences(lambda: AlertmanagerCredentials.from_secret(json.dumps({"url": am.url}))),
            cloudwatch=None,
        ),
        find_target=lambda action: targets.get(action.thread_key),
        audit=DynamoAuditLog(world.audit_table, world.dynamodb),
        respond=recorder.respond,
        post_to_thread=recorder.post,
    )
    endpoint = SlackInteractions(
        secrets=lambda: SigningSecrets((SIGNING_SECRET,)),
        guard=DynamoReplayGuard(world.state_table, world.dynamodb),
        authoriser=Authoriser(user_ids=frozenset({"W111"})),
        handoff=SqsHandoff(world.queue_url, world.sqs),
    )

    def click_and_work(payload: dict[str, Any]) -> None:
        answer = endpoint.handle(signed_event(form(payload), timestamp=int(time.time())))
        assert answer.status == 200, answer
        [job] = world.jobs()
        worker.run(job, Deadline(20))

    am.api("/api/v2/alerts", [alert("DiskFull", "db-1")])
    assert wait_for(lambda: "db-1" in notes.instances("DiskFull")), "the group was never notified"

    click_and_work(click("alert.silence", selected=f"1h|{THREAD_KEY}"))
    [note] = recorder.notes
    silence_id = note.state["silence_id"]
    assert note.text.startswith("Silenced for 1 h by <@W111>, until ")

    [silence] = amtool_silences(am)
    assert silence["id"] == silence_id and silence["status"]["state"] == "active"
    assert silence["createdBy"] == "ana (Slack W111)"
    assert silence["comment"].endswith("https://example.slack.com/archives/C111/p111222")
    assert [(m["name"], m["value"], m["isRegex"]) for m in silence["matchers"]] == [("alertname", "DiskFull", False)]

    # A new alert of the silenced group, and one of another group as the barrier: once the other group is
    # notified (and the new alert is marked suppressed by the silence), the silenced one would have been too.
    am.api("/api/v2/alerts", [alert("DiskFull", "db-2"), alert("Control", "web-1")])
    assert wait_for(lambda: "web-1" in notes.instances("Control")), "the control group was never notified"

    def suppressed() -> bool:
        found = [a for a in am.api("/api/v2/alerts") if a["labels"].get("instance") == "db-2"]
        return bool(found) and found[0]["status"]["silencedBy"] == [silence_id]

    assert wait_for(suppressed), "the new alert is not silenced"
    # A second barrier one group interval later: an unsilenced DiskFull group would have been flushed by now.
    am.api("/api/v2/alerts", [alert("Control", "web-2")])
    assert wait_for(lambda: "web-2" in notes.instances("Control")), "the control group was not notified again"
    assert "db-2" not in notes.instances("DiskFull")

    unsilence = click("alert.unsilence")
    unsilence["actions"][0]["action_ts"] = "1596530390.000001"
    targets[THREAD_KEY] = ActionTarget(THREAD_KEY, "test", group_labels=target.group_labels, silence_id=silence_id)
    click_and_work(unsilence)
    assert recorder.notes[-1].text.startswith("Silence expired by <@W111>")
    assert amtool_silences(am) == []
    [expired] = amtool_silences(am, "--expired")
    assert expired["id"] == silence_id and expired["status"]["state"] == "expired"
    assert wait_for(lambda: "db-2" in notes.instances("DiskFull")), "the group was not notified once unsilenced"
    assert [r["action"] for r in DynamoAuditLog(world.audit_table, world.dynamodb).history(THREAD_KEY)] == [
        "alert.silence",
        "alert.unsilence",
    ]
