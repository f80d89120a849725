"""The action executors (issue 11): acknowledge, silence, unsilence, mute, unmute, and the audit record."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from alertlib.actions import (
    ActionTarget,
    Executor,
    mute_policy_statements,
    mute_rule_name,
    with_state,
)
from alertlib.audit_log import AuditRecord, DynamoAuditLog
from alertlib.deliver import Deadline, Deliverer
from alertlib.errors import PermanentDeliveryError, TransientDeliveryError
from alertlib.slack_actions import Action, ActionKind, parse_interaction
from tests.unit.interactions_helpers import THREAD_KEY, click, create_audit_table, form
from tools.standins import Answer, StandIn

NOW = datetime(2026, 12, 3, 3, 12, 30, tzinfo=UTC)
ROUTING_KEY = "0123456789abcdef0123456789abcdef"
SILENCE_ID = "9f8a3c1e-2b4d-4e5f-8a9b-0c1d2e3f4a5b"
TARGET = ActionTarget(
    thread_key=THREAD_KEY,
    environment="prod",
    pagerduty_secret="alerting/prod/pagerduty",
    dedup_key="am-4f2a9c",
    group_labels=(("alertname", "DiskFull"), ("instance", "db-1:9100")),
    alarm_names=("prod-rds-db1-cpu", "prod-rds-db1-cpu"),
    message_link="https://example.slack.com/archives/C111/p111222",
)


def act(kind: str, duration: str | None = None) -> Action:
    if duration:
        return parse_interaction(form(click(kind, selected=f"{duration}|{THREAD_KEY}")))
    return parse_interaction(form(click(kind)))


class FakeSilences:
    def __init__(self, error: Exception | None = None) -> None:
        self.created: list[dict[str, Any]] = []
        self.expired: list[str] = []
        self.error = error

    def create(self, body: dict[str, Any], deadline: Deadline) -> str:
        if self.error:
            raise self.error
        self.created.append(body)
        return SILENCE_ID

    def expire(self, silence_id: str, deadline: Deadline) -> None:
        if self.error:
            raise self.error
        self.expired.append(silence_id)


@pytest.fixture
def pagerduty() -> Iterator[StandIn]:
    with StandIn("pagerduty") as server:
        yield server


def executor(pagerduty: StandIn | None = None, silences: Any = None, cloudwatch: Any = None) -> Executor:
    deliverer = Deliverer(
        pagerduty_url=pagerduty.url if pagerduty else "http://127.0.0.1:9",
        secret_source=lambda name, force_fetch=False: ROUTING_KEY,
        retries=1,
        backoff_factor=0,
    )
    return Executor(deliverer=deliverer, silences=silences, cloudwatch=cloudwatch, clock=lambda: NOW)


def test_slack_actions_acknowledge_sends_events_v2_with_routing_and_dedup_key(pagerduty: StandIn) -> None:
    result = executor(pagerduty).run(act("alert.ack"), TARGET, Deadline(30))
    assert result.ok and result.text == "Acknowledged by <@W111> 03:12 UTC"
    [request] = pagerduty.accepted()
    assert request.body == {"routing_key": ROUTING_KEY, "dedup_key": "am-4f2a9c", "event_action": "acknowledge"}
    assert request.problems == []


def test_slack_actions_acknowledge_refused_by_pagerduty_is_a_permanent_failure(pagerduty: StandIn) -> None:
    pagerduty.then(Answer(status=400, body='{"status":"invalid event","message":"Event object is invalid"}'))
    result = executor(pagerduty).run(act("alert.ack"), TARGET, Deadline(30))
    assert not result.ok and not result.retryable
    assert result.text.startswith("Acknowledge by <@W111> failed: pagerduty: HTTP 400")
    assert ROUTING_KEY not in result.text


def test_slack_actions_acknowledge_429_is_retryable(pagerduty: StandIn) -> None:
    pagerduty.then(*[Answer(status=429, body="{}") for _ in range(3)])
    result = executor(pagerduty).run(act("alert.ack"), TARGET, Deadline(30))
    assert not result.ok and result.retryable


def test_slack_actions_acknowledge_of_an_alert_not_paged_fails_without_sending(pagerduty: StandIn) -> None:
    result = executor(pagerduty).run(act("alert.ack"), ActionTarget(THREAD_KEY, "prod"), Deadline(30))
    assert not result.ok and "did not go to PagerDuty" in result.text
    assert pagerduty.received == []


def test_slack_actions_silence_creates_a_silence_of_the_group_for_the_duration() -> None:
    silences = FakeSilences()
    result = executor(silences=silences).run(act("alert.silence", "4h"), TARGET, Deadline(30))
    assert result.ok and result.silence_id == SILENCE_ID
    assert result.text == "Silenced for 4 h by <@W111>, until 07:12 UTC"
    [body] = silences.created
    assert body["matchers"] == [
        {"name": "alertname", "value": "DiskFull", "isRegex": False, "isEqual": True},
        {"name": "instance", "value": "db-1:9100", "isRegex": False, "isEqual": True},
    ]
    assert (body["startsAt"], body["endsAt"]) == ("2026-12-03T03:12:30Z", "2026-12-03T07:12:30Z")
    assert body["createdBy"] == "ana (Slack W111)"
    assert body["comment"].endswith("https://example.slack.com/archives/C111/p111222")
    assert with_state(TARGET, result).silence_id == SILENCE_ID


@pytest.mark.parametrize(("error", "retryable"), [(TransientDeliveryError("x: HTTP 503"), True),
                                                    (PermanentDeliveryError("x: HTTP 400 bad"), False)])  # fmt: skip
def test_slack_actions_silence_failure_is_one_line_and_classified(error: Exception, retryable: bool) -> None:
    result = executor(silences=FakeSilences(error)).run(act("alert.silence", "1h"), TARGET, Deadline(30))
    assert not result.ok and result.retryable is retryable and "\n" not in result.text


def test_slack_actions_silence_without_group_labels_is_refused() -> None:
    silences = FakeSilences()
    result = executor(silences=silences).run(act("alert.silence", "1h"), ActionTarget(THREAD_KEY, "prod"), Deadline(30))
    assert not result.ok and not result.retryable and silences.created == []


def test_slack_actions_unsilence_expires_the_recorded_silence() -> None:
    silences = FakeSilences()
    target = with_state(TARGET, executor(silences=silences).run(act("alert.silence", "1h"), TARGET, Deadline(30)))
    result = executor(silences=silences).run(act("alert.unsilence"), target, Deadline(30))
    assert result.ok and silences.expired == [SILENCE_ID]
    assert result.text == "Silence expired by <@W111> 03:12 UTC"
    assert with_state(target, result).silence_id is None


def test_slack_actions_unsilence_of_a_silence_already_gone_is_done() -> None:
    gone = PermanentDeliveryError("alertmanager: HTTP 404")
    gone.status = 404
    target = ActionTarget(THREAD_KEY, "prod", silence_id=SILENCE_ID)
    assert executor(silences=FakeSilences(gone)).run(act("alert.unsilence"), target, Deadline(30)).ok


def test_slack_actions_silence_without_an_alertmanager_configured_fails() -> None:
    result = executor().run(act("alert.silence", "1h"), TARGET, Deadline(30))
    assert not result.ok and "no Alertmanager" in result.text


def cloudwatch() -> Any:
    return boto3.client("cloudwatch", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")


def test_slack_actions_mute_puts_a_one_time_mute_rule_for_the_duration() -> None:
    client = cloudwatch()
    name = mute_rule_name("prod", THREAD_KEY)
    with Stubber(client) as stub:
        stub.add_response(
            "put_alarm_mute_rule",
            {},
            {
                "Name": name,
                "Description": "Muted from Slack by ana (W111) for 24 h",
                "Rule": {"Schedule": {"Expression": "at(2026-12-03T03:12)", "Duration": "PT24H", "Timezone": "UTC"}},
                "MuteTargets": {"AlarmNames": ["prod-rds-db1-cpu"]},
                "ExpireDate": datetime(2026, 12, 4, 4, 12, tzinfo=UTC),
            },
        )
        result = executor(cloudwatch=client).run(act("alert.mute", "24h"), TARGET, Deadline(30))
        stub.assert_no_pending_responses()
    assert result.ok and result.mute_rule == name and name.startswith("prod-mute-")
    assert result.text == "Muted for 24 h by <@W111>, until 03:12 UTC"


def test_slack_actions_unmute_deletes_the_rule_and_a_missing_rule_is_done() -> None:
    client = cloudwatch()
    name = mute_rule_name("prod", THREAD_KEY)
    target = ActionTarget(THREAD_KEY, "prod", mute_rule=name)
    with Stubber(client) as stub:
        stub.add_response("delete_alarm_mute_rule", {}, {"AlarmMuteRuleName": name})
        stub.add_client_error("delete_alarm_mute_rule", "ResourceNotFoundException", http_status_code=404)
        assert executor(cloudwatch=client).run(act("alert.unmute"), target, Deadline(30)).ok
        assert executor(cloudwatch=client).run(act("alert.unmute"), target, Deadline(30)).ok


@pytest.mark.parametrize(
    ("code", "status", "retryable"),
    [("AccessDenied", 403, False), ("ValidationException", 400, False), ("Throttling", 400, True),
     ("InternalFailure", 500, True)],
)  # fmt: skip
def test_slack_actions_mute_errors_are_classified(code: str, status: int, retryable: bool) -> None:
    client = cloudwatch()
    with Stubber(client) as stub:
        stub.add_client_error("put_alarm_mute_rule", code, http_status_code=status)
        result = executor(cloudwatch=client).run(act("alert.mute", "1h"), TARGET, Deadline(30))
    assert not result.ok and result.retryable is retryable and code in result.text


@pytest.mark.parametrize(
    "target",
    [
        ActionTarget(THREAD_KEY, "prod"),  # no alarms
        ActionTarget(THREAD_KEY, "prod", alarm_names=("staging-db-cpu",)),  # another environment's alarm
        ActionTarget(THREAD_KEY, "prod", alarm_names=tuple(f"prod-a{i}" for i in range(101))),
    ],
)
def test_slack_actions_mute_refuses_without_calling_aws(target: ActionTarget) -> None:
    client = cloudwatch()
    with Stubber(client):  # any call would fail: nothing is stubbed
        result = executor(cloudwatch=client).run(act("alert.mute", "1h"), target, Deadline(30))
    assert not result.ok and not result.retryable


def test_slack_actions_unmute_refuses_another_environments_rule() -> None:
    target = ActionTarget(THREAD_KEY, "prod", mute_rule="staging-mute-abc")
    with Stubber(client := cloudwatch()):
        assert not executor(cloudwatch=client).run(act("alert.unmute"), target, Deadline(30)).ok


def test_slack_actions_mute_policy_is_scoped_to_the_environment() -> None:
    put, delete = mute_policy_statements(
        partition="aws", region="eu-west-1", account="123456789012", environment="prod"
    )
    rules = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm-mute-rule:prod-mute-*"
    assert put["Action"] == ["cloudwatch:PutAlarmMuteRule"]
    assert put["Resource"] == [rules, "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:prod-*"]
    assert (delete["Action"], delete["Resource"]) == (["cloudwatch:DeleteAlarmMuteRule"], [rules])
    assert mute_rule_name("prod", THREAD_KEY).startswith("prod-mute-")


def test_slack_actions_mute_api_is_in_the_pinned_botocore() -> None:
    client = cloudwatch()
    assert hasattr(client, "put_alarm_mute_rule") and hasattr(client, "delete_alarm_mute_rule")


def test_slack_actions_audit_record_is_written_with_ttl(aws: Any) -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    log = DynamoAuditLog(create_audit_table(dynamodb), dynamodb)
    action = act("alert.silence", "4h")
    record = AuditRecord(
        at=NOW, thread_key=action.thread_key, action=action.kind.value, result="ok", user_id=action.user_id,
        user_name=action.user_name, team_id=action.team_id, channel_id=action.channel_id,
        message_ts=action.message_ts, action_ts=action.action_ts, duration_seconds=action.duration_seconds,
        detail="silence 9f8a\nid",
    )  # fmt: skip
    assert log.record(record)
    [item] = log.history(THREAD_KEY)
    assert item["action"] == "alert.silence" and item["user_id"] == "W111" and item["result"] == "ok"
    assert item["duration_seconds"] == "14400" and item["detail"] == "silence 9f8a id"
    assert int(item["expires_at"]) == int(NOW.timestamp()) + 400 * 86400


def test_slack_actions_audit_failure_is_logged_not_raised(aws: Any) -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    log = DynamoAuditLog("no-such-table", dynamodb)
    assert not log.record(AuditRecord(at=NOW, thread_key="k", action=ActionKind.ACKNOWLEDGE.value, result="ok",
                                      user_id="W111"))  # fmt: skip


def test_slack_actions_thread_key_never_carries_secrets() -> None:
    assert ROUTING_KEY not in json.dumps(act("alert.ack").as_json())
