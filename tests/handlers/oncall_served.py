"""tools.serve's on-call routes on a real HTTP server, without building the pipeline's world: the Slack Web API and
PagerDuty stand-ins, moto in-process for the thread table, the secrets and one alarm (the `aws` fixture's
`mock_aws`), `LocalOnCall` with the given Alertmanager (else its stand-in). Shared by tests/handlers/
test_serve_oncall.py and tests/integration/test_serve_alertmanager.py."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from typing import Any

import boto3

from alertlib.render_thread import render_parent
from alertlib.slack_actions import ActionState, action_elements
from alertlib.threads import EventKind, Thread, ThreadEvent, ThreadMeta, ThreadStore
from tools.oncall_local import LocalOnCall, click_payload, post, signed_click
from tools.serve import LocalPipeline, _handler_for
from tools.slack_api_standin import CHANNEL, TOKEN, SlackApiStandIn
from tools.standins import StandIn

SIGNING = "local-signing-secret-0123456789ab"
WEBHOOK = "local-webhook-secret-0123456789ab"
APP_SECRET = "alerting/dev/slack-app"
PAGERDUTY_SECRET = "alerting/dev/pagerduty"
ROUTING_KEY = "10ca1pipe11ne0000000000000000000"
ALARM = "dev-rds-db1-CPUUtilization"
TABLE = "dev-alerting-threads"


@dataclass
class Served:
    pipeline: LocalPipeline
    oncall: LocalOnCall
    slack: SlackApiStandIn
    pagerduty: StandIn
    store: ThreadStore
    lines: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.pipeline.port}{path}"

    def thread(self, alert: str, meta: ThreadMeta) -> Thread:
        """A thread as the forwarder makes it: claimed, its parent posted with its buttons, attached."""
        claim = self.store.claim(alert, CHANNEL, event=ThreadEvent(EventKind.FIRED, datetime.now(UTC)), meta=meta)
        state = ActionState(
            thread_key=claim.thread.key, paged=bool(meta.dedup_key), alertmanager=bool(meta.matchers),
            cloudwatch=bool(meta.alarm_names),
        )  # fmt: skip
        block = action_elements(state)
        message = {"text": f"{alert} is firing", "attachments": [{"color": "#E01E5A", "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{alert}*"}}]}]}  # fmt: skip
        body = render_parent(
            message, claim.thread.state, now=datetime.now(UTC), actions=block["elements"] if block else []
        )
        posted = self.slack.answer("chat.postMessage", {"channel": CHANNEL, **body}, TOKEN)[1]
        return self.store.attach(claim.thread, posted["ts"])

    def click(self, thread: Thread, action_id: str, **options: Any) -> tuple[int, bytes]:
        assert thread.ts is not None
        parent = self.slack.find(CHANNEL, thread.ts)
        assert parent is not None
        shown = {"text": parent.text, "blocks": parent.blocks, "attachments": parent.attachments}
        payload = click_payload(shown, channel=CHANNEL, ts=thread.ts, action_id=action_id,
                                response_url=self.pipeline.response_url("1"), **options)  # fmt: skip
        return post(self.url("/slack/interactions"), *signed_click(SIGNING, payload))


@contextmanager
def served_oncall(aws: Any, *, alertmanager_url: str | None = None) -> Iterator[Served]:
    """`aws`: the moto Secrets Manager client of the `aws` fixture (moto is active)."""
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "alert", "KeyType": "HASH"}, {"AttributeName": "channel", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "alert", "AttributeType": "S"},
            {"AttributeName": "channel", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    lines: list[str] = []
    with SlackApiStandIn() as slack, StandIn("pagerduty") as pagerduty:
        aws.create_secret(Name=APP_SECRET, SecretString=json.dumps({"bot_token": TOKEN, "channel": CHANNEL}))
        aws.create_secret(
            Name=PAGERDUTY_SECRET, SecretString=json.dumps({"routing_key": ROUTING_KEY, "events_url": pagerduty.url})
        )
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        cloudwatch.put_metric_alarm(
            AlarmName=ALARM, Namespace="AWS/RDS", MetricName="CPUUtilization", Statistic="Average", Period=60,
            EvaluationPeriods=1, Threshold=90, ComparisonOperator="GreaterThanThreshold",
        )  # fmt: skip
        pipeline = LocalPipeline(slack_signing_secret=SIGNING, pagerduty_webhook_secret=WEBHOOK, say=lines.append)
        oncall = LocalOnCall(
            environment="dev", slack_signing_secret=SIGNING, pagerduty_webhook_secret=WEBHOOK,
            slack_api_url=slack.url, pagerduty_url=pagerduty.url, thread_table=TABLE, dynamodb=dynamodb,
            cloudwatch=cloudwatch, app_secrets={CHANNEL: APP_SECRET}, pagerduty_secrets={APP_SECRET: PAGERDUTY_SECRET},
            pagerduty_received=lambda: list(pagerduty.received), say=lines.append,
            parent_message_for=lambda t: _shown(slack, t), alertmanager_url=alertmanager_url,
        )  # fmt: skip
        pipeline.oncall = oncall
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(pipeline))
        pipeline.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        with oncall:
            yield Served(pipeline, oncall, slack, pagerduty, ThreadStore(TABLE, dynamodb), lines)
        server.shutdown()
        server.server_close()


def _shown(slack: SlackApiStandIn, thread: Thread) -> dict[str, Any] | None:
    found = slack.find(thread.channel, thread.ts or "")
    return None if found is None else {"text": found.text, "blocks": found.blocks, "attachments": found.attachments}
