"""The dead-alarm auditor under moto: reported once across runs, recovery forgets, the message reads and renders
through the forwarders' own stages; an input never published (ListMetrics) is said apart from one silent lately;
the statements kept beside the code are enough under IAM enforcement; `tools.audit` prints the table."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import dead_alarm_auditor
import pytest

from alertlib.audit import AuditMemory, Auditor, AuditSettings, CloudWatchReader
from alertlib.endpoint import SnsPublisher
from alertlib.forward import prepare
from alertlib.models import Status
from alertlib.parse import split_event
from alertlib.render_pagerduty import render_pagerduty
from alertlib.render_slack import render_slack
from alertlib.settings import Settings
from tests.conftest import FakeContext, sns_event

REGION = "us-east-1"
TABLE = "prod-alerting-audit"
DAY = timedelta(hours=24)


@pytest.fixture
def world(aws: Any) -> dict[str, Any]:
    import boto3

    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "alarm", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "alarm", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    topic = sns.create_topic(Name="prod-infrastructure")["TopicArn"]
    queue = sqs.create_queue(QueueName="infrastructure-reader")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return {"topic": topic, "queue": queue, "sqs": sqs, "cloudwatch": cloudwatch, "dynamodb": dynamodb}


def alarm(cloudwatch: Any, name: str, instance: str) -> None:
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/RDS",
        MetricName="CPUUtilization",
        Dimensions=[{"Name": "DBInstanceIdentifier", "Value": instance}],
        Statistic="Average",
        Period=60,
        EvaluationPeriods=5,
        Threshold=90,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="missing",
    )


def datapoint(cloudwatch: Any, instance: str, when: datetime) -> None:
    cloudwatch.put_metric_data(
        Namespace="AWS/RDS",
        MetricData=[
            {
                "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": instance}],
                "Timestamp": when,
                "Value": 12.5,
            }
        ],
    )


def published(world: dict[str, Any]) -> list[dict[str, Any]]:
    """Every message the infrastructure topic carried since the last call, as SNS hands it to a forwarder."""
    bodies: list[dict[str, Any]] = []
    while True:
        answer = world["sqs"].receive_message(QueueUrl=world["queue"], MaxNumberOfMessages=10)
        messages = answer.get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(json.loads(message["Body"])["Message"]))
            world["sqs"].delete_message(QueueUrl=world["queue"], ReceiptHandle=message["ReceiptHandle"])


def auditor(world: dict[str, Any]) -> Auditor:
    settings = AuditSettings(alarm_prefix="prod-", dead_after=DAY, topic_arn=world["topic"], table=TABLE,
                             runbook_url="https://runbooks.example.com/dead-alarm.md")  # fmt: skip
    return Auditor(settings, CloudWatchReader(), AuditMemory(TABLE), SnsPublisher())


def test_dead_alarm_reported_once_forgotten_on_recovery_and_reported_again(world: dict[str, Any]) -> None:
    cloudwatch = world["cloudwatch"]
    alarm(cloudwatch, "prod-rds-stuck-CPUUtilization", "stuck-db")
    alarm(cloudwatch, "prod-rds-healthy-CPUUtilization", "healthy-db")
    alarm(cloudwatch, "prod-rds-typo-CPUUtilization", "tpyo-db")
    alarm(cloudwatch, "staging-rds-other-CPUUtilization", "other-db")  # another environment: not audited
    cloudwatch.set_alarm_state(AlarmName="prod-rds-stuck-CPUUtilization", StateValue="INSUFFICIENT_DATA",
                               StateReason="no data")  # fmt: skip
    start = datetime.now(UTC)
    first_run = start + 2 * DAY  # the auditor's clock: two days after the alarm got stuck
    for instance in ("stuck-db", "healthy-db"):
        datapoint(cloudwatch, instance, first_run - timedelta(hours=1))

    outcome = auditor(world).run(first_run)
    assert (outcome.alarms, outcome.dead, outcome.reported) == (3, 2, 2)
    (body,) = published(world)
    reasons = {a["labels"]["alertname"]: a["annotations"]["summary"] for a in body["alerts"]}
    assert set(reasons) == {"Dead alarm: prod-rds-stuck-CPUUtilization", "Dead alarm: prod-rds-typo-CPUUtilization"}
    assert reasons["Dead alarm: prod-rds-stuck-CPUUtilization"].startswith("in INSUFFICIENT_DATA for 2 days")
    assert reasons["Dead alarm: prod-rds-typo-CPUUtilization"].endswith(
        "never published: CloudWatch lists no AWS/RDS CPUUtilization DBInstanceIdentifier=tpyo-db in 14 days"
    )

    second_run = first_run + timedelta(hours=1)
    outcome = auditor(world).run(second_run)
    assert (outcome.dead, outcome.reported, outcome.published) == (2, 0, None)
    assert published(world) == []  # reported once, not every run

    # The stuck alarm recovers: forgotten, and said so once.
    cloudwatch.set_alarm_state(AlarmName="prod-rds-stuck-CPUUtilization", StateValue="OK", StateReason="data")
    third_run = second_run + timedelta(hours=1)
    datapoint(cloudwatch, "stuck-db", third_run - timedelta(minutes=30))
    outcome = auditor(world).run(third_run)
    assert (outcome.dead, outcome.reported, outcome.recovered) == (1, 0, 1)
    (body,) = published(world)
    assert body["status"] == "firing"  # the typo is still dead
    states = {a["labels"]["alertname"]: a["status"] for a in body["alerts"]}
    assert states == {
        "Dead alarm: prod-rds-stuck-CPUUtilization": "resolved",
        "Dead alarm: prod-rds-typo-CPUUtilization": "firing",
    }
    items = world["dynamodb"].scan(TableName=TABLE)["Items"]
    assert [i["alarm"]["S"] for i in items] == ["prod-rds-typo-CPUUtilization"]

    # It dies again (stuck for a day more): reported again.
    cloudwatch.set_alarm_state(AlarmName="prod-rds-stuck-CPUUtilization", StateValue="INSUFFICIENT_DATA",
                               StateReason="no data")  # fmt: skip
    fourth_run = datetime.now(UTC) + 3 * DAY
    for instance in ("stuck-db", "healthy-db"):
        datapoint(cloudwatch, instance, fourth_run - timedelta(hours=1))
    outcome = auditor(world).run(fourth_run)
    assert outcome.reported == 1
    (body,) = published(world)
    new = [a for a in body["alerts"] if not a["annotations"]["summary"].startswith("still dead")]
    assert [a["labels"]["alertname"] for a in new] == ["Dead alarm: prod-rds-stuck-CPUUtilization"]


def test_dead_alarm_message_reads_and_renders_through_the_forwarders(world: dict[str, Any]) -> None:
    alarm(world["cloudwatch"], "prod-rds-typo-CPUUtilization", "tpyo-db")
    auditor(world).run(datetime.now(UTC))
    (body,) = published(world)
    (envelope,) = split_event(sns_event(body, topic=world["topic"]))
    group = prepare(envelope, Settings(), datetime.now(UTC))
    assert group.status is Status.FIRING
    assert group.title == "Dead alarm: prod-rds-typo-CPUUtilization"
    slack = render_slack(group, now=datetime.now(UTC))
    assert slack["blocks"][0]["text"]["text"].endswith("FIRING: Dead alarm: prod-rds-typo-CPUUtilization")
    assert "DBInstanceIdentifier=tpyo-db" in json.dumps(slack)
    assert any(b.get("elements", [{}])[0].get("action_id") == "link-runbook" for b in slack["attachments"][0]["blocks"])
    (event,) = render_pagerduty(group)
    assert event["payload"]["severity"] == "warning"
    assert "Dead alarm: prod-rds-typo-CPUUtilization" in event["payload"]["summary"]


def test_handler_reads_its_settings_and_reports(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    alarm(world["cloudwatch"], "prod-rds-typo-CPUUtilization", "tpyo-db")
    alarm(world["cloudwatch"], "prod-rds-healthy-CPUUtilization", "healthy-db")
    datapoint(world["cloudwatch"], "healthy-db", datetime.now(UTC) - timedelta(minutes=5))
    for name, value in {"ALARM_PREFIX": "prod-", "DEAD_AFTER_HOURS": "24", "TOPIC_ARN": world["topic"],
                        "AUDIT_TABLE": TABLE}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(dead_alarm_auditor, "auditor", None)
    event = {"source": "aws.events", "detail-type": "Scheduled Event", "id": "e-1", "detail": {}}
    answer = dead_alarm_auditor.handler(event, FakeContext(function_name="prod-dead-alarm-auditor"))
    assert (answer["alarms"], answer["dead"], answer["reported"]) == (2, 1, 1)
    assert len(published(world)) == 1
    answer = dead_alarm_auditor.handler(event, FakeContext(function_name="prod-dead-alarm-auditor"))
    assert (answer["dead"], answer["reported"], answer["published"]) == (1, 0, None)
    assert published(world) == []


def test_handler_fails_fast_naming_the_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from alertlib.errors import ConfigurationError

    for name in ("ALARM_PREFIX", "DEAD_AFTER_HOURS", "TOPIC_ARN", "AUDIT_TABLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALARM_PREFIX", "prod-")
    monkeypatch.setattr(dead_alarm_auditor, "auditor", None)
    with pytest.raises(ConfigurationError, match="DEAD_AFTER_HOURS is not set"):
        dead_alarm_auditor.handler({}, FakeContext())


def test_handler_names_its_trigger() -> None:
    deploy = {
        "source": "aws.cloudformation",
        "detail-type": "CloudFormation Stack Status Change",
        "detail": {
            "stack-id": "arn:aws:cloudformation:us-east-1:123456789012:stack/prod-alerting/1a2b",
            "status-details": {"status": "UPDATE_COMPLETE"},
        },
    }
    assert dead_alarm_auditor.trigger(deploy) == "deploy of prod-alerting (UPDATE_COMPLETE)"
    assert dead_alarm_auditor.trigger({"detail-type": "Scheduled Event"}) == "schedule"


def test_tools_audit_prints_the_table_and_exits_by_finding(aws: Any, capsys: pytest.CaptureFixture[str]) -> None:
    import boto3

    from infra.config import load_config
    from tools.audit import main

    region = load_config("dev").region
    cloudwatch = boto3.client("cloudwatch", region_name=region)
    assert main(["--env", "dev"]) == 0
    assert "no dead alarms" in capsys.readouterr().out
    alarm(cloudwatch, "dev-rds-typo-CPUUtilization", "tpyo-db")
    assert main(["--env", "dev", "--dead-after", "12"]) == 1
    out = capsys.readouterr().out
    header, row = out.splitlines()[:2]
    assert header.split() == ["alarm", "state", "since", "reason"]
    assert row.startswith("dev-rds-typo-CPUUtilization")
    assert "never published: CloudWatch lists no AWS/RDS CPUUtilization DBInstanceIdentifier=tpyo-db in 14 days" in row
    assert main(["--env", "no-such-env"]) == 2
    assert main(["--env", "dev", "--dead-after", "0"]) == 2


def test_dead_alarm_never_published_apart_from_silent_lately(world: dict[str, Any]) -> None:
    """moto's ListMetrics lists what put_metric_data wrote: a metric written three days ago is published but silent
    (an instance stopped); one never written is a name or dimension that does not exist."""
    cloudwatch = world["cloudwatch"]
    alarm(cloudwatch, "prod-rds-stopped-CPUUtilization", "stopped-db")
    alarm(cloudwatch, "prod-rds-typo-CPUUtilization", "tpyo-db")
    run = datetime.now(UTC) + timedelta(hours=1)
    datapoint(cloudwatch, "stopped-db", run - 3 * DAY)
    outcome = auditor(world).run(run, seconds_left=lambda: 240.0)
    assert (outcome.dead, outcome.never_published, outcome.unlisted_unchecked) == (2, 1, 0)
    reasons = dict(f.split(": ", 1) for f in outcome.findings)
    assert reasons["prod-rds-stopped-CPUUtilization"].endswith(
        ": no datapoints for AWS/RDS CPUUtilization DBInstanceIdentifier=stopped-db in 1 day"
    )
    assert reasons["prod-rds-typo-CPUUtilization"].endswith(
        "never published: CloudWatch lists no AWS/RDS CPUUtilization DBInstanceIdentifier=tpyo-db in 14 days"
    )


def test_handler_stops_listing_a_minute_before_its_deadline(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With 30 s left (less than the minute kept for the table, the publish and the write) nothing is looked up:
    the alarm is still reported, with the reason GetMetricData gives; with five minutes left it is looked up."""
    alarm(world["cloudwatch"], "prod-rds-typo-CPUUtilization", "tpyo-db")
    for name, value in {"ALARM_PREFIX": "prod-", "DEAD_AFTER_HOURS": "24", "TOPIC_ARN": world["topic"],
                        "AUDIT_TABLE": TABLE}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(dead_alarm_auditor, "auditor", None)
    event = {"source": "aws.events", "detail-type": "Scheduled Event", "id": "e-1", "detail": {}}
    short = FakeContext(function_name="prod-dead-alarm-auditor", remaining_ms=30_000)
    answer = dead_alarm_auditor.handler(event, short)
    assert (answer["dead"], answer["never_published"], answer["unlisted_unchecked"]) == (1, 0, 1)
    (body,) = published(world)
    assert body["alerts"][0]["annotations"]["summary"].endswith("DBInstanceIdentifier=tpyo-db in 1 day")
    world["dynamodb"].delete_item(TableName=TABLE, Key={"alarm": {"S": "prod-rds-typo-CPUUtilization"}})
    long = FakeContext(function_name="prod-dead-alarm-auditor", remaining_ms=300_000)
    answer = dead_alarm_auditor.handler(event, long)
    assert (answer["dead"], answer["never_published"], answer["unlisted_unchecked"]) == (1, 1, 0)
    (body,) = published(world)
    assert "never published" in body["alerts"][0]["annotations"]["summary"]


def test_dead_alarm_auditor_statements_are_enough_under_iam_enforcement(world: dict[str, Any]) -> None:
    """The auditor as a user holding only `audit_policy_statements` (what the construct grants): no refusal; without
    ListMetrics it is refused and named, and the run still reports the dead alarm with GetMetricData's reason."""
    import boto3

    from alertlib.audit import audit_policy_statements
    from tools.world import iam_enforced

    iam = boto3.client("iam", region_name=REGION)
    table_arn = f"arn:aws:dynamodb:{REGION}:123456789012:table/{TABLE}"
    key_arn = f"arn:aws:kms:{REGION}:123456789012:key/00000000-0000-0000-0000-000000000000"
    statements = audit_policy_statements(topic_arn=world["topic"], table_arn=table_arn, key_arn=key_arn)
    iam.create_user(UserName="auditor")
    keys = iam.create_access_key(UserName="auditor")["AccessKey"]
    session = boto3.Session(aws_access_key_id=keys["AccessKeyId"], aws_secret_access_key=keys["SecretAccessKey"],
                            region_name=REGION)  # fmt: skip

    def grant(documents: list[dict[str, Any]]) -> None:  # as the account's administrator, before enforcing
        document = json.dumps({"Version": "2012-10-17", "Statement": documents})
        iam.put_user_policy(UserName="auditor", PolicyName="only", PolicyDocument=document)

    def run(when: datetime) -> Any:
        settings = AuditSettings(alarm_prefix="prod-", dead_after=DAY, topic_arn=world["topic"], table=TABLE)
        reader = CloudWatchReader(session.client("cloudwatch"))
        memory = AuditMemory(TABLE, session.client("dynamodb"))
        return Auditor(settings, reader, memory, SnsPublisher(session.client("sns"))).run(when, lambda: 240.0)

    alarm(world["cloudwatch"], "prod-rds-typo-CPUUtilization", "tpyo-db")
    alarm(world["cloudwatch"], "prod-rds-healthy-CPUUtilization", "healthy-db")
    now = datetime.now(UTC)
    datapoint(world["cloudwatch"], "healthy-db", now - timedelta(minutes=5))
    grant(statements)
    with iam_enforced() as denials:
        outcome = run(now)
    assert denials == []
    assert (outcome.dead, outcome.reported, outcome.never_published) == (1, 1, 1)
    assert len(published(world)) == 1

    world["dynamodb"].delete_item(TableName=TABLE, Key={"alarm": {"S": "prod-rds-typo-CPUUtilization"}})
    grant([s for s in statements if "cloudwatch:ListMetrics" not in s["Action"]])
    with iam_enforced() as denials:
        outcome = run(now + timedelta(minutes=1))
    assert [d.action for d in denials] == ["cloudwatch:ListMetrics"]
    assert (outcome.dead, outcome.reported, outcome.never_published) == (1, 1, 0)
    assert outcome.listing_error is not None and outcome.unlisted_unchecked == 1
    (body,) = published(world)
    assert body["alerts"][0]["annotations"]["summary"].endswith("DBInstanceIdentifier=tpyo-db in 1 day")
