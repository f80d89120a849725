"""The forwarders are told what messages name (issue 13): the environment, account aliases, the on-call group."""

from __future__ import annotations

import json
import os
from typing import Any

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk import App
from aws_cdk.assertions import Template

from alertlib.settings import Settings
from infra.app_builder import build
from infra.config import load_config


def _forwarder_environments() -> dict[str, dict[str, str]]:
    config = load_config("dev")
    config = config.model_copy(
        update={
            "account_aliases": {"210987654321": "shop-staging"},
            "forwarders": config.forwarders.model_copy(update={"oncall_slack_group": "S0123ABCD"}),
        }
    )
    stacks = build(App(context={"aws:cdk:bundling-stacks": []}), config, nag=False)
    alerting = next(s for s in stacks if s.stack_name == "dev-alerting")
    functions: dict[str, Any] = Template.from_stack(alerting).find_resources("AWS::Lambda::Function")
    return {
        f["Properties"]["FunctionName"]: f["Properties"]["Environment"]["Variables"]
        for f in functions.values()
        if f["Properties"]["FunctionName"].endswith("-forwarder")
    }


def test_forwarders_get_the_environment_aliases_and_oncall_group() -> None:
    config = load_config("dev")
    environments = _forwarder_environments()
    assert set(environments) == {"dev-pagerduty-forwarder", "dev-slack-forwarder"}
    for env in environments.values():
        assert env["ENVIRONMENT_NAME"] == "dev"
        assert json.loads(env["ACCOUNT_ALIASES"]) == {config.account: "dev", "210987654321": "shop-staging"}
        assert env["ONCALL_SLACK_GROUP"] == "S0123ABCD"
        settings = Settings.from_env(env)  # what the function reads, once, at start
        assert settings.environment_name == "dev"
        assert settings.account_aliases["210987654321"] == "shop-staging"
        assert settings.oncall_slack_group == "S0123ABCD"
