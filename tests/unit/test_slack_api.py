"""slack_api without a network: the credentials secret, the classification of Slack's codes, the message limits."""

from __future__ import annotations

import json

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
