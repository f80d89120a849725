"""The PagerDuty forwarder names the environment from its settings (ACCOUNT_ALIASES, ENVIRONMENT_NAME) in what the
lock screen shows, never the 12-digit account it has a name for (issue 13)."""

from __future__ import annotations

from typing import Any

import pytest

from alertlib.deliver import Destination
from alertlib.settings import Settings
from tests.conftest import FakeContext, sns_event
from tests.unit.helpers import alarm
from tools.standins import StandIn


@pytest.fixture(autouse=True)
def _secrets(secrets: Any) -> None:
    return None


def test_pagerduty_summary_names_the_environment_from_the_settings(
    make_forwarder: Any, pagerduty: StandIn, context: FakeContext
) -> None:
    environ = {"ACCOUNT_ALIASES": '{"123456789012": "shop-prod"}', "ENVIRONMENT_NAME": "prod"}
    read = Settings.from_env(environ)
    forwarder = make_forwarder(
        Destination.PAGERDUTY, account_aliases=read.account_aliases, environment_name=read.environment_name
    )
    assert forwarder.run(sns_event(alarm(name="orders-db-cpu")), context)["delivered"] == 1
    [sent] = pagerduty.accepted()
    payload = sent.body["payload"]
    assert payload["summary"].startswith("orders-db-cpu (shop-prod us-east-1): ")
    assert payload["group"] == "shop-prod/us-east-1"
    assert payload["custom_details"]["account_name"] == "shop-prod"
    assert payload["custom_details"]["environment"] == "prod"
