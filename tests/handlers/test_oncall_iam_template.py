"""The on-call functions run with the policies of the *synthesized template* (issue 11): the alerting stack of dev's
config with an `oncall` section and a Slack app route (tests/infra/test_oncall.py) is built in moto by
`tools.world.build_world` (roles with their exact policies, the tables, queues, secrets and the key), and each
function's real AWS calls run with its own role's credentials and its template environment, moto enforcing IAM per
action and resource (`tools.world.iam_enforced`, the key included). A call the template does not allow fails here,
also where the code swallows the refusal.

moto 5.2 has no alarm mute rules: the request is authorised (against the rule's ARN, worked out here as IAM does)
before moto answers that it cannot; the alarms a rule targets are checked against the template's statement."""

from __future__ import annotations

import fnmatch
import importlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from alertlib.actions import ActionTarget, mute, unmute
from alertlib.audit_log import AuditRecord, DynamoAuditLog
from alertlib.pagerduty_webhooks import pagerduty_signature
from alertlib.slack_actions import Action, ActionKind
from alertlib.slack_signature import DynamoReplayGuard
from alertlib.threads import ThreadStore
from tests.handlers.test_slack_app_iam import exercise
from tests.infra.test_oncall import APP, ONCALL, Built, raw_config
from tests.unit.interactions_helpers import SIGNING_SECRET, click, form, signed_event
from tests.unit.test_pagerduty_webhooks import webhook
from tools import world as world_module
from tools.world import World, build_world, iam_enforced

WEBHOOK_SECRET = "pd-webhook-secret-0123456789abcdef"
ACTOR = "U0123ABCD"  # one of ONCALL's slack_actors
GROUP, MEMBER = "S0ONCALL1", "U0GROUPIE"  # a user group that may act, and one of its members


@dataclass
class Env:
    world: World
    built: Built
    clients: Any

    def session(self, function: str) -> boto3.Session:
        creds = self.world.credentials(function, self.clients)
        return boto3.Session(
            aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=creds["AWS_SESSION_TOKEN"],
            region_name=self.world.region,
        )

    def environment(self, function: str) -> dict[str, str]:
        return dict(self.world.functions[function].environment)


def _mute_resource(original: Any) -> Any:
    """`tools.world._resource`, also for the mute rule calls (IAM authorises them on the rule's ARN)."""

    def resource(response: Any) -> str:
        action = response._get_action()
        if response.service_name in ("cloudwatch", "monitoring") and action in (
            "PutAlarmMuteRule",
            "DeleteAlarmMuteRule",
        ):
            name = response._get_param("Name") or response._get_param("AlarmMuteRuleName")
            base = f"arn:{response.partition}:cloudwatch:{response.region}:{response.current_account}"
            return f"{base}:alarm-mute-rule:{name}"
        return str(original(response))

    return resource


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    built = Built(raw_config({**ONCALL, "slack_actors": {"users": [ACTOR], "usergroups": [GROUP]}}))
    config = built.config
    with pytest.MonkeyPatch.context() as patch:
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                            ("AWS_DEFAULT_REGION", config.region), ("MOTO_ACCOUNT_ID", config.account)):  # fmt: skip
            patch.setenv(name, value)
        patch.setattr(world_module, "_resource", _mute_resource(world_module._resource))
        with mock_aws():

            def clients(service: str) -> Any:
                return boto3.client(service, region_name=config.region)

            values = {
                str(ONCALL["slack_signing_secret"]): json.dumps({"signing_secret": SIGNING_SECRET}),
                str(ONCALL["pagerduty_webhook_secret"]): json.dumps({"secrets": [WEBHOOK_SECRET]}),
                str(ONCALL["pagerduty_rest_secret"]): json.dumps({"api_token": "u+0123456789abcdef"}),
                str(ONCALL["alertmanager_secret"]): json.dumps({"bearer_token": "am-token"}),
                APP: json.dumps({"bot_token": "xoxb-1-2-abc", "channel": "C0ALERTS01"}),
            }
            templates = {"dev-alerting": json.loads(json.dumps(built.json))}
            world = build_world("dev", templates, clients, account=config.account, region=config.region,
                                secret_values=values)  # fmt: skip
            assert world.unreachable == []  # both function URLs may be called (auth NONE, permission for "*")
            yield Env(world, built, clients)


@contextmanager
def running_as(env: Env, function: str, patch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    """The process of `function` as Lambda runs it: its template environment and its role's credentials in the
    default boto3 session the library and Powertools use."""
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    session = env.session(function)
    for name, value in env.environment(function).items():
        patch.setenv(name, value)
    patch.setattr(boto3, "DEFAULT_SESSION", session)
    patch.delitem(DEFAULT_PROVIDERS, "secrets", raising=False)  # Powertools' provider, on that session
    yield session
    DEFAULT_PROVIDERS.pop("secrets", None)


def test_oncall_iam_template_slack_endpoint_as_deployed(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    with running_as(env, "dev-slack-interactions", monkeypatch) as session:
        endpoint = importlib.import_module("slack_interactions").build()
        with iam_enforced(env.world.encrypted) as denials:
            answer = endpoint.handle(signed_event(form(click(user=ACTOR)), timestamp=int(time.time())))
            refused = list(denials)
            with pytest.raises(Exception, match="AccessDenied"):  # and nothing else: not another secret
                session.client("secretsmanager").get_secret_value(SecretId=str(ONCALL["pagerduty_webhook_secret"]))
    assert refused == [] and answer.status == 200, (answer, refused)
    assert _jobs(env) == ["slack"]


def test_oncall_iam_template_pagerduty_endpoint_as_deployed(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    with running_as(env, "dev-pagerduty-webhooks", monkeypatch):
        endpoint = importlib.import_module("pagerduty_webhooks").build()
        handoff, tries = endpoint.handoff, []

        def first_fails(job: dict[str, Any]) -> None:
            tries.append(job)
            if len(tries) == 1:
                raise RuntimeError("queue down")  # the delivery is released (DeleteItem), PagerDuty's retry counts
            handoff(job)

        endpoint.handoff = first_fails
        raw = json.dumps(webhook()).encode()
        event = {
            "requestContext": {"http": {"method": "POST", "path": "/pagerduty/webhooks"}},
            "headers": {"X-PagerDuty-Signature": pagerduty_signature(WEBHOOK_SECRET, raw), "X-Webhook-Id": "w-1"},
            "body": raw.decode(),
        }
        with iam_enforced(env.world.encrypted) as denials:
            with pytest.raises(RuntimeError):
                endpoint.handle(event)
            answer = endpoint.handle(event)
            refused = list(denials)
    assert refused == [] and answer.status == 202, (answer, refused)
    assert _jobs(env) == ["pagerduty"]


def _emptied(env: Env, table: str) -> str:
    """`table` with every item deleted (with an administrator's credentials): each test exercises a fresh one."""
    dynamodb = env.clients("dynamodb")
    keys = [k["AttributeName"] for k in dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]]
    for item in dynamodb.scan(TableName=table)["Items"]:
        dynamodb.delete_item(TableName=table, Key={k: item[k] for k in keys})
    return table


def _jobs(env: Env) -> list[str]:
    """The kinds of the jobs waiting on the action queue (taken off with an administrator's credentials)."""
    sqs = env.clients("sqs")
    url = env.world.queues["dev-oncall-actions"]
    found = []
    for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        found.append(json.loads(message["Body"])["job"])
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def _action(kind: ActionKind) -> Action:
    return Action(
        kind=kind, thread_key="C0ALERTS01.0123456789abcdef0123456789abcdef", user_id=ACTOR, user_name="ana",
        team_id="T111", channel_id="C0ALERTS01", message_ts="111.222", action_ts="1.2",
        response_url="https://hooks.slack.com/actions/T111/1/x", duration_seconds=3600 if kind is ActionKind.MUTE
        else None,
    )  # fmt: skip


def test_oncall_iam_template_worker_as_deployed(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every AWS call of the worker: its queue (the event source mapping runs as its role), the thread, audit and
    state tables, each secret it names, and the mute rules of this environment's alarms."""
    environment = env.environment("dev-action-worker")
    url = env.world.queues["dev-oncall-actions"]
    env.clients("sqs").send_message(QueueUrl=url, MessageBody=json.dumps({"job": "slack"}))
    session = env.session("dev-action-worker")
    dynamodb, sqs, cloudwatch = session.client("dynamodb"), session.client("sqs"), session.client("cloudwatch")
    secrets = session.client("secretsmanager")
    names = [
        environment["ALERTMANAGER_SECRET"],
        environment["PAGERDUTY_REST_SECRET"],
        *json.loads(environment["PAGERDUTY_SECRETS"]).values(),
        *json.loads(environment["SLACK_APPS"]),
    ]
    target = ActionTarget(thread_key=_action(ActionKind.MUTE).thread_key, environment="dev",
                          alarm_names=("dev-rds-orders-db-CPUUtilization",))  # fmt: skip
    threads = _emptied(env, environment["THREAD_TABLE"])
    with iam_enforced(env.world.encrypted) as denials:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
        sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        exercise(ThreadStore(threads, dynamodb))
        assert DynamoAuditLog(environment["AUDIT_TABLE"], dynamodb).record(
            AuditRecord(at=datetime.now(UTC), thread_key="k", action="alert.mute", result="ok", user_id=ACTOR)
        )
        claims = DynamoReplayGuard(environment["REPLAY_TABLE"], dynamodb, prefix="action#")
        assert claims.first_use(f"{ACTOR}#1.2#alert.mute#k", time.time())
        claims.forget(f"{ACTOR}#1.2#alert.mute#k")
        for name in names:
            secrets.get_secret_value(SecretId=name)
        muted = mute(_action(ActionKind.MUTE), target, cloudwatch=cloudwatch, now=datetime.now(UTC))
        unmuted = unmute(_action(ActionKind.UNMUTE), target, cloudwatch=cloudwatch, now=datetime.now(UTC))
        refused = list(denials)
    assert refused == []
    # past IAM, moto answers that it has no mute rules: the failure is moto's, not a refusal
    assert "AccessDenied" not in muted.detail + muted.text and "AccessDenied" not in unmuted.detail + unmuted.text
    assert len(set(names)) == 4  # Alertmanager, PagerDuty REST, the routing key, the Slack app


def test_oncall_iam_template_worker_is_refused_everything_else(env: Env) -> None:
    """The worker's role, outside what its code does: another table, the endpoints' secrets, another environment's
    mute rules are refused and named."""
    session = env.session("dev-action-worker")
    target = ActionTarget(thread_key="C0X.0123456789abcdef0123456789abcdef", environment="prod",
                          alarm_names=("prod-rds-orders-db-CPUUtilization",))  # fmt: skip
    with iam_enforced(env.world.encrypted) as denials:
        assert not DynamoAuditLog("dev-alerting-ledger", session.client("dynamodb")).record(
            AuditRecord(at=datetime.now(UTC), thread_key="k", action="alert.ack", result="ok", user_id=ACTOR)
        )
        with pytest.raises(Exception, match="AccessDenied"):
            session.client("secretsmanager").get_secret_value(SecretId=str(ONCALL["slack_signing_secret"]))
        muted = mute(_action(ActionKind.MUTE), target, cloudwatch=session.client("cloudwatch"), now=datetime.now(UTC))
        refused = [(d.action, d.resource.rsplit(":", 1)[-1]) for d in denials]
    assert not muted.ok
    assert [action for action, _ in refused] == [
        "dynamodb:PutItem", "secretsmanager:GetSecretValue", "cloudwatch:PutAlarmMuteRule"]  # fmt: skip
    assert refused[0][1] == "table/dev-alerting-ledger"
    assert refused[1][1].startswith("alerting/dev/slack-signing-test")
    assert refused[2][1].startswith("prod-mute-")


def _allows(statements: list[dict[str, Any]], action: str, resource: str) -> bool:
    def listed(value: Any) -> list[str]:
        return value if isinstance(value, list) else [value]

    return any(
        s["Effect"] == "Allow"
        and action in listed(s["Action"])
        and any(fnmatch.fnmatchcase(resource, r) for r in listed(s["Resource"]))
        for s in statements
    )


def test_oncall_iam_template_mute_rules_target_only_this_environments_alarms(env: Env) -> None:
    """PutAlarmMuteRule is authorised on each alarm the rule targets too (moto checks the rule only)."""
    iam = env.clients("iam")
    role = env.world.functions["dev-action-worker"].role_name
    statements = [s for p in iam.list_role_policies(RoleName=role)["PolicyNames"]
                  for s in iam.get_role_policy(RoleName=role, PolicyName=p)["PolicyDocument"]["Statement"]]  # fmt: skip
    base = f"arn:aws:cloudwatch:{env.world.region}:{env.world.account}"
    assert _allows(statements, "cloudwatch:PutAlarmMuteRule", f"{base}:alarm:dev-rds-orders-db-CPUUtilization")
    assert _allows(statements, "cloudwatch:PutAlarmMuteRule", f"{base}:alarm-mute-rule:dev-mute-0123")
    assert _allows(statements, "cloudwatch:DeleteAlarmMuteRule", f"{base}:alarm-mute-rule:dev-mute-0123")
    assert not _allows(statements, "cloudwatch:PutAlarmMuteRule", f"{base}:alarm:prod-rds-orders-db-CPUUtilization")
    assert not _allows(statements, "cloudwatch:PutAlarmMuteRule", f"{base}:alarm:team-db-CPUUtilization")
    assert not _allows(statements, "cloudwatch:DeleteAlarmMuteRule", f"{base}:alarm-mute-rule:prod-mute-0123")
    assert not _allows(statements, "cloudwatch:DeleteAlarmMuteRule", f"{base}:alarm:dev-rds-orders-db-CPUUtilization")


def test_oncall_iam_template_slack_forwarder_keeps_threads_and_draws_graphs(env: Env) -> None:
    from alertlib.graph import render_graph
    from tests.conftest import NOW
    from tests.unit.helpers import alarm, group_of

    session = env.session("dev-slack-forwarder")
    table = _emptied(env, env.environment("dev-slack-forwarder")["THREAD_TABLE"])
    with iam_enforced(env.world.encrypted) as denials:
        exercise(ThreadStore(table, session.client("dynamodb")))
        # moto answers NotImplemented past the IAM check: render_graph's None, and no refusal
        assert render_graph(group_of(alarm()).alerts[0], session.client("cloudwatch"), now=NOW) is None
        session.client("secretsmanager").get_secret_value(SecretId=APP)
        refused = list(denials)
    assert refused == []


def test_oncall_iam_template_click_to_acknowledged_thread(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """A signed Acknowledge click, end to end as deployed: the Slack endpoint (its real build, its role) hands the
    job over; the worker (its real build, its role, its template environment) finds the thread, acknowledges in
    PagerDuty with the topic's routing key, replies in the thread, edits the parent and records the audit; nothing
    is refused. Slack's Web API and PagerDuty are local stand-ins."""
    from alertlib.deliver import Deadline
    from alertlib.slack_api import SlackApi
    from alertlib.threads import EventKind, ThreadEvent, ThreadMeta
    from tools.slack_api_standin import CHANNEL, TOKEN, SlackApiStandIn
    from tools.standins import StandIn

    worker_env = env.environment("dev-action-worker")
    secrets = env.clients("secretsmanager")
    secrets.put_secret_value(SecretId=APP, SecretString=json.dumps({"bot_token": TOKEN, "channel": CHANNEL}))
    routing_key = "0123456789abcdef0123456789abcdef"
    with SlackApiStandIn() as slack, StandIn("pagerduty") as pagerduty:
        secrets.put_secret_value(
            SecretId="alerting/dev/pagerduty",
            SecretString=json.dumps({"routing_key": routing_key, "events_url": pagerduty.url}),
        )
        # The forwarder's part, with an administrator's credentials: the parent and its thread.
        alert = "arn:aws:cloudwatch:eu-west-1:111111111111:alarm:dev-rds-orders-db-CPUUtilization"
        posted = SlackApi(api_url=slack.url).post_message(TOKEN, CHANNEL, text="dev-rds-orders-db-CPUUtilization",
                                                          deadline=Deadline(20))  # fmt: skip
        store = ThreadStore(_emptied(env, worker_env["THREAD_TABLE"]), env.clients("dynamodb"))
        meta = ThreadMeta(dedup_key=alert, routing="dev-critical", source="cloudwatch",
                          alarm_names=("dev-rds-orders-db-CPUUtilization",))  # fmt: skip
        claim = store.claim(alert, CHANNEL, event=ThreadEvent(EventKind.FIRED, datetime.now(UTC)), meta=meta)
        thread = store.attach(claim.thread, posted.ts)
        container = {"type": "message", "message_ts": posted.ts, "channel_id": CHANNEL}
        payload = click("alert.ack", value=thread.key, user=ACTOR, container=container,
                        channel={"id": CHANNEL, "name": "alerts"}, message={"ts": posted.ts, "text": "x"})  # fmt: skip
        with pytest.MonkeyPatch.context() as patch, running_as(env, "dev-slack-interactions", patch):
            endpoint = importlib.import_module("slack_interactions").build()
            with iam_enforced(env.world.encrypted) as denials:
                answer = endpoint.handle(signed_event(form(payload), timestamp=int(time.time())))
                refused = list(denials)
        assert refused == [] and answer.status == 200, (answer, refused)
        url = env.world.queues["dev-oncall-actions"]
        [message] = env.clients("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        env.clients("sqs").delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        monkeypatch.setenv("SLACK_API_URL", slack.url)  # as tools.serve sets it; deployed, Slack's own
        with running_as(env, "dev-action-worker", monkeypatch):
            worker = importlib.import_module("action_worker").build()
            with iam_enforced(env.world.encrypted) as denials:
                notes = worker.run(json.loads(message["Body"]), Deadline(30), last_attempt=False)
                refused = list(denials)
        assert refused == []
        [sent] = pagerduty.accepted()
        assert sent.body == {"routing_key": routing_key, "dedup_key": alert, "event_action": "acknowledge"}
        assert [n.ok for n in notes] == [True]
        [reply] = slack.replies(CHANNEL, posted.ts)
        assert f"Acknowledged by <@{ACTOR}>" in reply.text
        parent = slack.find(CHANNEL, posted.ts)
        assert parent is not None and parent.edited
    audit = env.clients("dynamodb").scan(TableName=worker_env["AUDIT_TABLE"])["Items"]
    assert any(item.get("action", {}).get("S") == "alert.ack" for item in audit)


def test_oncall_iam_template_usergroup_member_may_act(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """A member of a user group named in slack_actors: the endpoint reads the group with the first Slack app
    route's bot token (usergroups.users.list), which its role must be allowed to read."""
    from tools.slack_api_standin import CHANNEL, TOKEN, SlackApiStandIn

    env.clients("secretsmanager").put_secret_value(
        SecretId=APP, SecretString=json.dumps({"bot_token": TOKEN, "channel": CHANNEL})
    )
    with SlackApiStandIn(usergroups={GROUP: [MEMBER]}) as slack:
        monkeypatch.setenv("SLACK_API_URL", slack.url)
        with running_as(env, "dev-slack-interactions", monkeypatch):
            endpoint = importlib.import_module("slack_interactions").build()
            with iam_enforced(env.world.encrypted) as denials:
                answer = endpoint.handle(signed_event(form(click(user=MEMBER)), timestamp=int(time.time())))
                refused = [str(d) for d in denials]
    assert refused == []
    assert answer.status == 200 and _jobs(env) == ["slack"], answer
