"""Who may act from Slack, by user group (issue 11): `usergroups.users.list` against the Slack Web API stand-in,
kept a minute per container for a bounded number of groups, and the Slack endpoint refusing (never granting) when a
group cannot be read, with an ephemeral "could not check" instead of "not allowed"."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import slack_interactions

from alertlib.deliver import Deadline
from alertlib.slack_api import SlackApi, SlackPermanentError, SlackTransientError, UsergroupMembers
from tests.conftest import FakeContext
from tests.handlers.interactions_world import SIGNING_SECRET_NAME, Recorder, World, make_world
from tests.unit.interactions_helpers import click, form, signed_event
from tools.slack_api_standin import CHANNEL, TOKEN, SlackApiStandIn

APP_SECRET = "alerting/test/slack-app"
ONCALL = "S0ONCALL"
LEADS = "S0LEADS"


@pytest.fixture
def slack() -> Iterator[SlackApiStandIn]:
    with SlackApiStandIn(usergroups={ONCALL: ["W111", "U0ANA"], LEADS: ["U0LEAD"]}) as stand_in:
        yield stand_in


def tight(slack: SlackApiStandIn) -> SlackApi:
    """As the Slack endpoint builds it: short time-outs, no retries (it has Slack's 3 seconds)."""
    return SlackApi(api_url=slack.url, connect_timeout=0.5, read_timeout=1.0, retries=0, app_attempts=1)


class Secret:
    def __init__(self, token: str = TOKEN) -> None:
        self.value = json.dumps({"bot_token": token, "channel": CHANNEL})
        self.reads = 0

    def __call__(self, name: str, *, force_fetch: bool = False) -> str:
        self.reads += 1
        return self.value


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_slack_api_usergroup_members_read_with_the_bot_token(slack: SlackApiStandIn) -> None:
    members = tight(slack).usergroup_members(TOKEN, ONCALL, deadline=Deadline(5.0))
    assert members == frozenset({"W111", "U0ANA"})
    [call] = slack.calls_of("usergroups.users.list")
    assert call.body == {"usergroup": ONCALL}
    assert call.headers["Authorization"] == f"Bearer {TOKEN}"
    assert call.headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_slack_api_usergroup_members_leave_out_what_is_not_a_user_id(slack: SlackApiStandIn) -> None:
    slack.usergroups["S0ODD"] = ["U0OK", "not a user", "<@U0X>", "C0CHANNEL"]
    assert tight(slack).usergroup_members(TOKEN, "S0ODD", deadline=Deadline(5.0)) == frozenset({"U0OK"})


@pytest.mark.parametrize(("group", "code"), [("S0NOSUCH", "no_such_subteam"), (ONCALL, "missing_scope")])
def test_slack_api_usergroup_refusals_are_permanent(slack: SlackApiStandIn, group: str, code: str) -> None:
    if code == "missing_scope":
        slack.fail_next(1, code, method="usergroups.users.list")
    with pytest.raises(SlackPermanentError) as caught:
        tight(slack).usergroup_members(TOKEN, group, deadline=Deadline(5.0))
    assert caught.value.code == code and TOKEN not in str(caught.value)


def test_slack_api_usergroup_read_for_the_endpoint_is_not_retried(slack: SlackApiStandIn) -> None:
    slack.fail_next(1, "ratelimited", status=429, retry_after=1, method="usergroups.users.list")
    with pytest.raises(SlackTransientError):
        tight(slack).usergroup_members(TOKEN, ONCALL, deadline=Deadline(5.0))
    assert len(slack.calls_of("usergroups.users.list")) == 1  # no wait for Retry-After within Slack's 3 seconds


def test_slack_api_usergroup_id_is_checked_before_sending(slack: SlackApiStandIn) -> None:
    with pytest.raises(SlackPermanentError):
        tight(slack).usergroup_members(TOKEN, "U0NOTAGROUP", deadline=Deadline(5.0))
    assert slack.calls_of("usergroups.users.list") == []


def test_usergroup_members_kept_a_minute_then_read_again(slack: SlackApiStandIn) -> None:
    clock = Clock()
    members = UsergroupMembers(tight(slack), APP_SECRET, secret_source=Secret(), clock=clock)
    assert members(ONCALL) == frozenset({"W111", "U0ANA"})
    slack.usergroups[ONCALL] = ["U0NEW"]
    clock.now += 59
    assert members(ONCALL) == frozenset({"W111", "U0ANA"})
    assert len(slack.calls_of("usergroups.users.list")) == 1
    clock.now += 2
    assert members(ONCALL) == frozenset({"U0NEW"})
    assert len(slack.calls_of("usergroups.users.list")) == 2


def test_usergroup_members_failure_raises_and_is_not_kept(slack: SlackApiStandIn) -> None:
    members = UsergroupMembers(tight(slack), APP_SECRET, secret_source=Secret(), clock=Clock())
    slack.fail_next(1, "service_unavailable", method="usergroups.users.list")
    with pytest.raises(SlackTransientError):
        members(ONCALL)
    assert members(ONCALL) == frozenset({"W111", "U0ANA"})  # the next click asks again


def test_usergroup_members_keep_at_most_max_groups(slack: SlackApiStandIn) -> None:
    slack.usergroups.update({f"S0G{i}": [f"U0M{i}"] for i in range(3)})
    members = UsergroupMembers(tight(slack), APP_SECRET, secret_source=Secret(), max_groups=2, clock=Clock())
    for group in ("S0G0", "S0G1", "S0G2", "S0G2", "S0G1"):
        members(group)
    assert [c.body["usergroup"] for c in slack.calls_of("usergroups.users.list")] == ["S0G0", "S0G1", "S0G2"]
    members("S0G0")  # the least recently read went first
    assert len(slack.calls_of("usergroups.users.list")) == 4


def test_usergroup_members_read_a_rotated_token_afresh(slack: SlackApiStandIn) -> None:
    secret = Secret(token="xoxb-old-revoked")
    slack.revoked.add("xoxb-old-revoked")

    def source(name: str, *, force_fetch: bool = False) -> str:
        if force_fetch:
            secret.value = json.dumps({"bot_token": TOKEN, "channel": CHANNEL})
        return secret(name, force_fetch=force_fetch)

    members = UsergroupMembers(tight(slack), APP_SECRET, secret_source=source, clock=Clock())
    assert members(LEADS) == frozenset({"U0LEAD"})


# -- the Slack endpoint, wired from its environment ---------------------------------------------------------------


@pytest.fixture
def world(aws: Any, slack: SlackApiStandIn, monkeypatch: pytest.MonkeyPatch) -> World:
    world = make_world(aws)
    aws.create_secret(Name=APP_SECRET, SecretString=json.dumps({"bot_token": TOKEN, "channel": CHANNEL}))
    monkeypatch.setattr(slack_interactions, "endpoint", None)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET_NAME)
    monkeypatch.setenv("REPLAY_TABLE", world.state_table)
    monkeypatch.setenv("ACTION_QUEUE_URL", world.queue_url)
    monkeypatch.setenv("SLACK_ACTORS", json.dumps({"users": ["U0SOLO"], "usergroups": [ONCALL]}))
    monkeypatch.setenv("SLACK_APPS", json.dumps({APP_SECRET: {"to_channel": ["resolved"]}}))
    monkeypatch.setenv("SLACK_API_URL", slack.url)
    return world


def clicked(user: str, at: int) -> dict[str, Any]:
    return slack_interactions.handler(signed_event(form(click(user=user)), timestamp=at), FakeContext())


def test_slack_endpoint_lets_a_user_group_member_act_and_refuses_anyone_else(
    world: World, slack: SlackApiStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    now = int(time.time())
    assert clicked("U0ANA", now)["statusCode"] == 200
    assert clicked("U0OTHER", now + 1)["statusCode"] == 200
    assert clicked("U0SOLO", now + 2)["statusCode"] == 200  # a listed user: the group is not asked
    jobs = world.jobs()
    assert [(j["job"], j["action"]["user_id"], j.get("unchecked")) for j in jobs] == [
        ("slack", "U0ANA", None),
        ("refuse", "U0OTHER", None),
        ("slack", "U0SOLO", None),
    ]
    assert len(slack.calls_of("usergroups.users.list")) == 1  # kept for the next clicks
    out = capsys.readouterr().out
    assert '"ActionAccepted":[1.0]' in out and '"ActionRefused":[1.0]' in out


@pytest.mark.parametrize(
    "failure",
    [
        {"error": "missing_scope"},
        {"error": "ratelimited", "status": 429, "retry_after": 30},
        {"error": "fatal_error", "status": 503},
    ],
)
def test_slack_endpoint_refuses_when_a_user_group_cannot_be_read_and_says_so(
    world: World, slack: SlackApiStandIn, capsys: pytest.CaptureFixture[str], failure: dict[str, Any]
) -> None:
    slack.fail_next(1, method="usergroups.users.list", **failure)
    now = int(time.time())
    answer = clicked("U0ANA", now)  # a member: but that cannot be known now
    assert answer["statusCode"] == 200 and answer["body"] == ""
    [job] = world.jobs()
    assert (job["job"], job["unchecked"]) == ("refuse", True)
    assert '"ActionUnchecked":[1.0]' in capsys.readouterr().out
    assert clicked("U0ANA", now + 1)["statusCode"] == 200  # asked again: the failure was not kept
    [job] = world.jobs()
    assert job["job"] == "slack"


def test_slack_endpoint_without_a_slack_app_cannot_name_user_groups(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_APPS")
    answer = clicked("U0ANA", int(time.time()))
    assert answer["statusCode"] == 500 and "SLACK" not in answer["body"]
    assert world.jobs() == []


def test_worker_tells_the_clicker_the_user_group_could_not_be_checked(world: World) -> None:
    from alertlib.audit_log import DynamoAuditLog
    from alertlib.interactions import ActionWorker

    recorder = Recorder()
    worker = ActionWorker(
        executor=None,  # type: ignore[arg-type]  # a refusal runs no action
        find_target=lambda action: None,
        audit=DynamoAuditLog(world.audit_table, world.dynamodb),
        respond=recorder.respond,
    )
    job = {"job": "refuse", "unchecked": True, "action": _action_json("U0ANA")}
    assert worker.run(job, Deadline(5.0)) == []
    [(_, body)] = recorder.responses
    assert body["response_type"] == "ephemeral" and body["text"].startswith("Could not check")
    [record] = DynamoAuditLog(world.audit_table, world.dynamodb).history(job["action"]["thread_key"])
    assert (record["result"], record["detail"]) == ("refused", "a user group could not be read")


def _action_json(user: str) -> dict[str, Any]:
    from alertlib.slack_actions import parse_interaction

    return parse_interaction(form(click(user=user))).as_json()


# -- which app's token, and its IAM -------------------------------------------------------------------------------


def test_usergroup_app_is_the_first_name_whatever_the_order() -> None:
    from alertlib.slack_api import usergroup_app

    assert usergroup_app(["alerting/prod/slack-b", "alerting/prod/slack-a"]) == "alerting/prod/slack-a"
    assert usergroup_app([]) is None and usergroup_app([""]) is None


def test_slack_endpoint_reads_user_groups_with_the_app_usergroup_app_names(
    world: World, slack: SlackApiStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.secrets.create_secret(
        Name="alerting/test/a-first-app", SecretString=json.dumps({"bot_token": "xoxb-first-app", "channel": "C0A"})
    )
    slack.tokens.add("xoxb-first-app")
    apps = {APP_SECRET: {"to_channel": []}, "alerting/test/a-first-app": {"to_channel": []}}
    monkeypatch.setenv("SLACK_APPS", json.dumps(apps))
    assert clicked("U0ANA", int(time.time()))["statusCode"] == 200
    [call] = slack.calls_of("usergroups.users.list")
    assert call.headers["Authorization"] == "Bearer xoxb-first-app"


def test_usergroups_policy_statements_are_enough_and_needed(aws: Any, slack: SlackApiStandIn) -> None:
    import boto3

    from alertlib.slack_api import usergroups_policy_statements
    from tests.handlers.test_interactions_iam import session_with
    from tools.world import iam_enforced

    arn = aws.create_secret(Name=APP_SECRET, SecretString=json.dumps({"bot_token": TOKEN, "channel": CHANNEL}))["ARN"]
    aws.create_secret(Name="alerting/test/other-app", SecretString="{}")
    iam = boto3.client("iam", region_name="us-east-1")

    def reader(statements: list[dict[str, Any]], user: str) -> UsergroupMembers:
        secrets = session_with(iam, user, statements).client("secretsmanager")

        def source(name: str, *, force_fetch: bool = False) -> str:
            return str(secrets.get_secret_value(SecretId=name)["SecretString"])

        return UsergroupMembers(tight(slack), APP_SECRET, secret_source=source)

    allowed = reader(usergroups_policy_statements(app_secret_arn=arn), "usergroups")
    other = aws.describe_secret(SecretId="alerting/test/other-app")["ARN"]
    elsewhere = reader(usergroups_policy_statements(app_secret_arn=other), "elsewhere")
    with iam_enforced() as denials:
        assert allowed(ONCALL) == frozenset({"W111", "U0ANA"})
        assert denials == []
        with pytest.raises(Exception, match="AccessDenied"):
            elsewhere(ONCALL)
    assert {d.action for d in denials} == {"secretsmanager:GetSecretValue"}


def test_slack_api_usergroup_over_the_member_bound_is_cut_never_widened(slack: SlackApiStandIn) -> None:
    from alertlib.slack_api import MAX_GROUP_MEMBERS

    slack.usergroups["S0HUGE"] = [f"U{i:08d}" for i in range(MAX_GROUP_MEMBERS + 5)]
    members = tight(slack).usergroup_members(TOKEN, "S0HUGE", deadline=Deadline(5.0))
    assert len(members) == MAX_GROUP_MEMBERS and f"U{MAX_GROUP_MEMBERS:08d}" not in members
