"""The IAM statements kept beside the code (threads.thread_policy_statements, graph.graph_policy_statements) are
exactly enough: every ThreadStore operation and the graph request run as a user holding only them, with moto
enforcing IAM per action and resource (tools.world.iam_enforced); one action less is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from alertlib.graph import graph_policy_statements, render_graph
from alertlib.threads import (
    ClaimOutcome,
    EventKind,
    ThreadEvent,
    ThreadMeta,
    ThreadStore,
    ThreadStoreError,
    thread_policy_statements,
)
from tests.conftest import NOW
from tests.unit.helpers import alarm, group_of
from tools.world import iam_enforced

T0 = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)
ALERT = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        table = boto3.client("dynamodb", region_name="us-east-1").create_table(
            TableName="dev-threads",
            KeySchema=[{"AttributeName": "alert", "KeyType": "HASH"}, {"AttributeName": "channel", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "alert", "AttributeType": "S"},
                {"AttributeName": "channel", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )["TableDescription"]["TableArn"]
        yield boto3.client("iam", region_name="us-east-1"), table


def session_with(iam: Any, name: str, statements: list[dict[str, Any]]) -> boto3.Session:
    iam.create_user(UserName=name)
    document = {"Version": "2012-10-17", "Statement": statements}
    iam.put_user_policy(UserName=name, PolicyName="only", PolicyDocument=json.dumps(document))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return boto3.Session(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                         region_name="us-east-1")  # fmt: skip


def exercise(store: ThreadStore) -> None:
    meta = ThreadMeta(dedup_key="dedup-1", routing="r", source="cloudwatch", alarm_names=("ServerCpuTooHigh",))
    claim = store.claim(ALERT, "C0ALERTS01", event=ThreadEvent(EventKind.FIRED, T0), meta=meta)
    assert claim.outcome is ClaimOutcome.WON
    assert store.release(claim.thread)
    claim = store.claim(ALERT, "C0ALERTS01", event=ThreadEvent(EventKind.FIRED, T0), meta=meta)
    thread = store.attach(claim.thread, "1796000001.000001")
    assert store.claim(ALERT, "C0ALERTS01", event=ThreadEvent(EventKind.FIRED, T0), meta=meta).outcome is (
        ClaimOutcome.EXISTS)  # fmt: skip
    store.record(ALERT, "C0ALERTS01", ThreadEvent(EventKind.RESOLVED, T0))
    assert store.find_by_dedup("dedup-1", "C0ALERTS01") is not None
    assert store.find_by_key(thread.key) is not None


def test_slack_app_iam_thread_statements_are_enough(aws: tuple[Any, str]) -> None:
    iam, table = aws
    session = session_with(iam, "threads", thread_policy_statements(table))
    with iam_enforced() as denials:
        exercise(ThreadStore("dev-threads", session.client("dynamodb")))
    assert denials == []


@pytest.mark.parametrize("action", ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"])
def test_slack_app_iam_thread_statements_one_action_less_is_refused(aws: tuple[Any, str], action: str) -> None:
    iam, table = aws
    statements = thread_policy_statements(table)
    statements[0]["Action"] = [a for a in statements[0]["Action"] if a != action]
    session = session_with(iam, "threads", statements)
    with iam_enforced() as denials, pytest.raises(ThreadStoreError):
        exercise(ThreadStore("dev-threads", session.client("dynamodb")))
    assert {d.action for d in denials} == {action}


def test_slack_app_iam_thread_statements_are_for_this_table_only(aws: tuple[Any, str]) -> None:
    iam, table = aws
    session = session_with(iam, "threads", thread_policy_statements(table.replace("dev-threads", "prod-threads")))
    with iam_enforced() as denials, pytest.raises(ThreadStoreError):
        exercise(ThreadStore("dev-threads", session.client("dynamodb")))
    assert denials and all(d.resource == table for d in denials)


@pytest.mark.parametrize("allowed", [True, False])
def test_slack_app_iam_graph_statement_allows_get_metric_widget_image(aws: tuple[Any, str], allowed: bool) -> None:
    iam, _ = aws
    session = session_with(iam, "graphs", graph_policy_statements() if allowed else [
        {"Effect": "Allow", "Action": ["cloudwatch:GetMetricData"], "Resource": ["*"]}])  # fmt: skip
    with iam_enforced() as denials:
        # moto answers NotImplemented past the IAM check: render_graph's None either way, the denial tells
        assert render_graph(group_of(alarm()).alerts[0], session.client("cloudwatch"), now=NOW) is None
    assert [d.action for d in denials] == ([] if allowed else ["cloudwatch:GetMetricWidgetImage"])
