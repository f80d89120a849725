"""Settings for what messages name (issue 13): read once, validated, failing with the variable's name."""

from __future__ import annotations

import pytest

from alertlib.errors import ConfigurationError
from alertlib.settings import Settings
from tests.conftest import sns_event
from tests.unit.helpers import alarm, alertmanager, group_of


def test_settings_read_environment_aliases_and_oncall_group() -> None:
    settings = Settings.from_env(
        {
            "ENVIRONMENT_NAME": "prod",
            "ACCOUNT_ALIASES": '{"123456789012": "shop-prod", "210987654321": "  shop   staging "}',
            "ONCALL_SLACK_GROUP": "S0123ABCD",
        }
    )
    assert settings.environment_name == "prod"
    assert settings.account_aliases == {"123456789012": "shop-prod", "210987654321": "shop staging"}
    assert settings.oncall_slack_group == "S0123ABCD"


def test_settings_without_them_name_nothing() -> None:
    settings = Settings.from_env({})
    assert (settings.environment_name, dict(settings.account_aliases), settings.oncall_slack_group) == (None, {}, None)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ACCOUNT_ALIASES", "not json"),
        ("ACCOUNT_ALIASES", "[]"),
        ("ACCOUNT_ALIASES", '{"1234": "short"}'),
        ("ACCOUNT_ALIASES", '{"123456789012": ""}'),
        ("ACCOUNT_ALIASES", '{"123456789012": 5}'),
        ("ACCOUNT_ALIASES", '{"123456789012": "' + "x" * 41 + '"}'),
        ("ONCALL_SLACK_GROUP", "<!channel>"),
        ("ONCALL_SLACK_GROUP", "U0123ABCD"),
        ("ONCALL_SLACK_GROUP", "S0123ABCD> <!here"),
        ("ENVIRONMENT_NAME", "prod <!here>"),
    ],
)
def test_settings_refuse_bad_values_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env({name: value})


def test_normalise_names_the_account_and_the_environment() -> None:
    settings = Settings(environment_name="prod", account_aliases={"123456789012": "shop-prod"})
    group = group_of(sns_event(alarm()), settings)
    assert group.environment == "prod"
    assert group.alerts[0].account_name == "shop-prod"
    assert group.alerts[0].account == "123456789012"  # kept: dedup keys and links use it


def test_normalise_alertmanager_account_label_gets_its_alias() -> None:
    body = alertmanager(2)
    for item in body["alerts"]:
        item["labels"]["account"] = "123456789012"
    group = group_of(sns_event(body), Settings(account_aliases={"123456789012": "shop-prod"}))
    assert [a.account_name for a in group.alerts] == ["shop-prod", "shop-prod"]
    assert group.environment is None


def test_normalise_unaliased_account_keeps_no_name() -> None:
    group = group_of(sns_event(alarm()), Settings(account_aliases={"210987654321": "other"}))
    assert group.alerts[0].account_name is None
