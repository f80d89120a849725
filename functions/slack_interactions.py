"""Slack interactivity behind a Lambda function URL: verify, parse, authorise, hand the click to the action queue,
answer 200 within Slack's 3 seconds (alertlib.interactions; the boundary is alertlib.function_url).

Who may act is `SLACK_ACTORS`; its user groups are read with `usergroups.users.list` and the bot token of the first
Slack app route of `SLACK_APPS` by name (`slack_api.usergroup_app`; its IAM: `slack_api.usergroups_policy_statements`)
through `slack_api.UsergroupMembers`: within `USERGROUP_BUDGET` seconds, no retries, kept a minute. A group that
cannot be read refuses the click, saying so: it never grants."""

from __future__ import annotations

import json
import os

from alertlib.deliver import powertools_secret
from alertlib.endpoint import DynamoRateLimiter
from alertlib.errors import ConfigurationError
from alertlib.function_url import function_url_handler, lazily, required_env
from alertlib.interactions import SlackInteractions, SqsHandoff
from alertlib.slack_actions import Authoriser
from alertlib.slack_api import API_URL, SlackApi, UsergroupMembers, usergroup_app
from alertlib.slack_signature import DynamoReplayGuard, SigningSecrets

endpoint: SlackInteractions | None = None
# Slack wants the answer within 3 s: the signature, the replay and rate-limit writes and the queue take part of it.
USERGROUP_BUDGET = 1.5  # seconds for usergroups.users.list, connection included
USERGROUP_CONNECT = 0.5


def usergroup_reader() -> UsergroupMembers | None:
    """`usergroups.users.list` with the bot token of the Slack app route `usergroup_app` names among `SLACK_APPS`, or
    None when there is none (then SLACK_ACTORS may name users only)."""
    try:
        apps = json.loads(os.environ.get("SLACK_APPS") or "{}")
    except ValueError:
        raise ConfigurationError("SLACK_APPS is not JSON") from None
    if not isinstance(apps, dict):
        raise ConfigurationError("SLACK_APPS must be a JSON object of Slack app route secret names")
    app = usergroup_app(str(name) for name in apps)
    if app is None:
        return None
    api = SlackApi(
        api_url=os.environ.get("SLACK_API_URL") or API_URL,
        connect_timeout=USERGROUP_CONNECT,
        read_timeout=USERGROUP_BUDGET - USERGROUP_CONNECT,
        retries=0,
        app_attempts=1,
    )
    return UsergroupMembers(api, app, secret_source=powertools_secret, budget=USERGROUP_BUDGET)


def build() -> SlackInteractions:
    secret = required_env("SLACK_SIGNING_SECRET")
    replay = required_env("REPLAY_TABLE")
    return SlackInteractions(
        secrets=lambda: SigningSecrets.from_secret(powertools_secret(secret)),
        guard=DynamoReplayGuard(replay),
        authoriser=Authoriser.from_config(os.environ.get("SLACK_ACTORS") or "{}", members_of=usergroup_reader()),
        handoff=SqsHandoff(required_env("ACTION_QUEUE_URL")),
        limiter=DynamoRateLimiter(replay, int(os.environ.get("ACTIONS_PER_USER_PER_MINUTE") or 20)),
    )


# A failure (a setting, the signing secret, the tables, the queue): a 500, and Slack shows the clicker an error.
handler = function_url_handler(lazily(globals(), "endpoint", build), failed="slack interactions failed")
