"""slack_api without a network: the credentials secret, the classification of Slack's codes, the message limits."""

from __future__ import annotations

import json
from typing import Any

import pytest

from alertlib.errors import ConfigurationError
from alertlib.slack_api import (
    MAX_BLOCKS,
    MAX_TEXT,
    PERMANENT_CODES,
    RETRYABLE_CODES,
    SlackPermanentError,
    SlackTransientError,
    _error,
    _message,
    read_credentials,
)

TOKEN = "xoxb-1234-5678-abcdefghijkl"


def source(value: str):  # type: ignore[no-untyped-def]
    def read(name: str, *, force_fetch: bool = False) -> str:
        return value

    return read


def test_slack_api_credentials_read_from_the_secret_and_never_shown() -> None:
    creds = read_credentials(
        "alerting/slack-app", secret_source=source(json.dumps({"bot_token": TOKEN, "channel": "C0A1"}))
    )
    assert (creds.token, creds.channel) == (TOKEN, "C0A1")
    assert TOKEN not in repr(creds) and TOKEN not in str(creds)


@pytest.mark.parametrize(
    "value",
    [
        "xoxb-plain-token",
        json.dumps([TOKEN]),
        json.dumps({"bot_token": "xoxp-user-token", "channel": "C0A1"}),
        json.dumps({"bot_token": TOKEN, "channel": "#alerts"}),
        json.dumps({"bot_token": TOKEN}),
        json.dumps({"bot_token": "xoxb-a\r\nX-Injected: 1", "channel": "C0A1"}),
    ],
)
def test_slack_api_credentials_refuse_a_wrong_secret_without_its_value(value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        read_credentials("alerting/slack-app", secret_source=source(value))
    assert "alerting/slack-app" in str(caught.value) and "xox" not in str(caught.value).replace("xoxb-…", "")


def test_slack_api_codes_are_retryable_or_permanent_never_both() -> None:
    assert not RETRYABLE_CODES & PERMANENT_CODES
    assert {"ratelimited", "rate_limited", "service_unavailable", "fatal_error", "internal_error",
            "request_timeout"} <= RETRYABLE_CODES  # fmt: skip
    assert {"channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "not_authed", "token_revoked",
            "missing_scope", "invalid_blocks", "msg_too_long", "cant_update_message", "message_not_found",
            "edit_window_closed"} <= PERMANENT_CODES  # fmt: skip


def test_slack_api_errors_carry_method_and_code_and_hide_tokens() -> None:
    error = _error(SlackPermanentError, "chat.update", "invalid_blocks", 1, detail=f"token {TOKEN} seen")
    assert (error.method, error.code, error.retryable) == ("chat.update", "invalid_blocks", False)
    assert TOKEN not in str(error) and "[secret]" in str(error)
    assert _error(SlackTransientError, "chat.postMessage", "fatal_error", 3).retryable


def test_slack_api_message_holds_text_and_block_limits() -> None:
    body = _message("t" * 50_000, [{"type": "divider"}] * 70, [{"blocks": [{"type": "divider"}]}])
    assert len(body["text"]) == MAX_TEXT
    assert len(body["blocks"]) + 1 == MAX_BLOCKS
    assert _message("", None, None)["text"]  # Slack refuses an empty text beside no blocks: never sent empty


class Rotating:
    """A secret source whose value changes on a forced fetch (a rotated token)."""

    def __init__(self, *values: str) -> None:
        self.values = list(values)
        self.forced = 0

    def __call__(self, name: str, *, force_fetch: bool = False) -> str:
        if force_fetch:
            self.forced += 1
            if len(self.values) > 1:
                self.values.pop(0)
        return self.values[0]


def app_secret(token: str) -> str:
    return json.dumps({"bot_token": token, "channel": "C0A1"})


def test_slack_api_rotated_token_is_read_afresh_once() -> None:
    from alertlib.slack_api import with_credentials

    source = Rotating(app_secret("xoxb-old-1"), app_secret("xoxb-new-2"))
    used: list[str] = []

    def attempt(creds: Any) -> str:
        used.append(creds.token)
        if creds.token == "xoxb-old-1":
            raise _error(SlackPermanentError, "chat.postMessage", "token_revoked", 1)
        return "posted"

    assert with_credentials("s", attempt, secret_source=source) == "posted"
    assert used == ["xoxb-old-1", "xoxb-new-2"] and source.forced == 1


@pytest.mark.parametrize("code", ["invalid_auth", "channel_not_found"])
def test_slack_api_same_token_refused_again_is_not_sent_again(code: str) -> None:
    from alertlib.slack_api import with_credentials

    source = Rotating(app_secret("xoxb-same-1"))
    calls: list[str] = []

    def attempt(creds: Any) -> str:
        calls.append(creds.token)
        raise _error(SlackPermanentError, "chat.postMessage", code, 1)

    with pytest.raises(SlackPermanentError):
        with_credentials("s", attempt, secret_source=source)
    assert len(calls) == 1 and source.forced == (1 if code == "invalid_auth" else 0)
