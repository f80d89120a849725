"""slack_api against the Slack Web API stand-in: posts, replies, updates, the three-step upload, and every kind of
refusal classified as Slack means it (HTTP 200 `ok: false`, 429 with Retry-After, 5xx)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from alertlib.deliver import Deadline
from alertlib.errors import PermanentDeliveryError, TransientDeliveryError
from alertlib.slack_api import (
    MAX_TEXT,
    SlackApi,
    SlackPermanentError,
    SlackTransientError,
)
from tools.slack_api_standin import CHANNEL, TOKEN, SlackApiStandIn
from tools.standins import StandIn

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def slack() -> Iterator[SlackApiStandIn]:
    with SlackApiStandIn(archived=("C0ARCHIVED",), outside=("C0OUTSIDE",), revoked=("xoxb-revoked-1",)) as stand_in:
        yield stand_in


@pytest.fixture
def api(slack: SlackApiStandIn) -> SlackApi:
    return SlackApi(api_url=slack.url, backoff_factor=0.01, read_timeout=2.0)


def deadline() -> Deadline:
    return Deadline(20.0)


def test_slack_api_post_returns_channel_and_ts_and_sends_json_with_charset(
    api: SlackApi, slack: SlackApiStandIn
) -> None:
    posted = api.post_message(TOKEN, CHANNEL, text="fallback", blocks=[{"type": "divider"}], deadline=deadline())
    assert posted.channel == CHANNEL and posted.ts and posted.attempts == 1
    (call,) = slack.calls_of("chat.postMessage")
    assert call.headers["Content-Type"] == "application/json; charset=utf-8"
    assert call.headers["Authorization"] == f"Bearer {TOKEN}"
    assert call.body["unfurl_links"] is False and "thread_ts" not in call.body
    assert slack.parents()[0].ts == posted.ts


def test_slack_api_reply_goes_into_the_thread_and_broadcasts_only_when_asked(
    api: SlackApi, slack: SlackApiStandIn
) -> None:
    parent = api.post_message(TOKEN, CHANNEL, text="parent", deadline=deadline())
    api.post_message(TOKEN, CHANNEL, text="quiet", thread_ts=parent.ts, deadline=deadline())
    api.post_message(TOKEN, CHANNEL, text="loud", thread_ts=parent.ts, reply_broadcast=True, deadline=deadline())
    replies = slack.replies(CHANNEL, parent.ts)
    assert [(r.text, r.reply_broadcast) for r in replies] == [("quiet", False), ("loud", True)]
    assert len(slack.parents()) == 1


def test_slack_api_update_edits_the_parent_and_keeps_blocks_when_none_given(
    api: SlackApi, slack: SlackApiStandIn
) -> None:
    parent = api.post_message(TOKEN, CHANNEL, text="firing", blocks=[{"type": "divider"}], deadline=deadline())
    api.update_message(TOKEN, CHANNEL, parent.ts, text="resolved", deadline=deadline())
    message = slack.find(CHANNEL, parent.ts)
    assert message is not None and message.text == "resolved" and message.blocks == [{"type": "divider"}]
    assert message.edits[0]["text"] == "firing"


def test_slack_api_text_is_cut_to_4000_characters_for_update(api: SlackApi, slack: SlackApiStandIn) -> None:
    parent = api.post_message(TOKEN, CHANNEL, text="x", deadline=deadline())
    api.update_message(TOKEN, CHANNEL, parent.ts, text="y" * 10_000, deadline=deadline())
    message = slack.find(CHANNEL, parent.ts)
    assert message is not None and len(message.text) == MAX_TEXT and message.text.endswith("…")


def test_slack_api_blocks_are_cut_to_50_with_the_attachments_blocks(api: SlackApi, slack: SlackApiStandIn) -> None:
    blocks = [{"type": "divider"}] * 60
    attachments = [{"color": "#E01E5A", "blocks": [{"type": "divider"}, {"type": "divider"}]}]
    api.post_message(TOKEN, CHANNEL, text="x", blocks=blocks, attachments=attachments, deadline=deadline())
    assert len(slack.parents()[0].blocks) == 48


def test_slack_api_upload_three_steps_shares_into_the_thread_without_the_token_on_the_upload(
    api: SlackApi, slack: SlackApiStandIn
) -> None:
    parent = api.post_message(TOKEN, CHANNEL, text="parent", deadline=deadline())
    uploaded = api.upload_file(TOKEN, CHANNEL, data=PNG, filename="cpu graph.png", title="CPU", alt_text="a" * 2000,
                               thread_ts=parent.ts, deadline=deadline())  # fmt: skip
    stored = slack.files[uploaded.file_id]
    assert stored.data == PNG and stored.length == len(PNG) and stored.filename == "cpu-graph.png"
    assert len(stored.alt_txt) == 1000
    assert (stored.channel, stored.thread_ts, stored.title) == (CHANNEL, parent.ts, "CPU")
    assert [r.files for r in slack.replies(CHANNEL, parent.ts)] == [[uploaded.file_id]]
    (get_url,) = slack.calls_of("files.getUploadURLExternal")
    (complete,) = slack.calls_of("files.completeUploadExternal")
    assert get_url.headers["Content-Type"] == complete.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert json.loads(complete.body["files"]) == [{"id": uploaded.file_id, "title": "CPU"}]
    (upload,) = slack.calls_of("upload")
    assert "Authorization" not in upload.headers


def test_slack_api_retries_429_after_retry_after(api: SlackApi, slack: SlackApiStandIn) -> None:
    slack.fail_next(1, "ratelimited", status=429, retry_after=0.2, method="chat.postMessage")
    posted = api.post_message(TOKEN, CHANNEL, text="x", deadline=deadline())
    assert posted.attempts == 2
    assert [c.status for c in slack.calls_of("chat.postMessage")] == [429, 200]


def test_slack_api_429_asking_longer_than_the_invocation_allows_is_transient(
    api: SlackApi, slack: SlackApiStandIn
) -> None:
    slack.fail_next(1, "ratelimited", status=429, retry_after=60, method="chat.postMessage")
    with pytest.raises(SlackTransientError) as caught:
        api.post_message(TOKEN, CHANNEL, text="x", deadline=deadline())
    assert caught.value.retryable and not slack.parents()


@pytest.mark.parametrize("code", ["service_unavailable", "fatal_error", "internal_error", "request_timeout",
                                  "rate_limited", "ratelimited"])  # fmt: skip
def test_slack_api_retries_ok_false_retryable_codes(api: SlackApi, slack: SlackApiStandIn, code: str) -> None:
    slack.fail_next(2, code)
    posted = api.post_message(TOKEN, CHANNEL, text="x", deadline=deadline())
    assert posted.ts and len(slack.calls_of("chat.postMessage")) == 3 and len(slack.parents()) == 1


def test_slack_api_retryable_code_that_persists_is_transient_with_its_code(
    api: SlackApi, slack: SlackApiStandIn
) -> None:
    slack.fail_next(5, "service_unavailable")
    with pytest.raises(TransientDeliveryError) as caught:
        api.update_message(TOKEN, CHANNEL, "1.000001", text="x", deadline=deadline())
    assert isinstance(caught.value, SlackTransientError)
    assert (caught.value.method, caught.value.code) == ("chat.update", "service_unavailable")
    assert len(slack.calls_of("chat.update")) == 3


def test_slack_api_5xx_is_retried_then_transient(api: SlackApi, slack: SlackApiStandIn) -> None:
    slack.fail_next(10, "server_error", status=503)
    with pytest.raises(SlackTransientError) as caught:
        api.post_message(TOKEN, CHANNEL, text="x", deadline=deadline())
    assert caught.value.status == 503 and len(slack.calls_of("chat.postMessage")) == 5  # 1 + urllib3's 4 retries


@pytest.mark.parametrize(
    ("token", "channel", "code"),
    [
        ("xoxb-wrong", CHANNEL, "invalid_auth"),
        ("", CHANNEL, "not_authed"),
        ("xoxb-revoked-1", CHANNEL, "token_revoked"),
        (TOKEN, "C0NOWHERE", "channel_not_found"),
        (TOKEN, "C0OUTSIDE", "not_in_channel"),
        (TOKEN, "C0ARCHIVED", "is_archived"),
    ],
)
def test_slack_api_permanent_codes_are_not_retried_and_hold_no_token(
    api: SlackApi, slack: SlackApiStandIn, token: str, channel: str, code: str
) -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        api.post_message(token, channel, text="x", deadline=deadline())
    assert isinstance(caught.value, SlackPermanentError) and caught.value.code == code
    assert not caught.value.retryable and len(slack.calls_of("chat.postMessage")) == 1
    assert "xoxb" not in str(caught.value)


def test_slack_api_update_of_a_missing_message_is_message_not_found(api: SlackApi) -> None:
    with pytest.raises(SlackPermanentError) as caught:
        api.update_message(TOKEN, CHANNEL, "1700000000.000001", text="x", deadline=deadline())
    assert caught.value.code == "message_not_found"


def test_slack_api_invalid_blocks_reports_slacks_detail(api: SlackApi) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    with pytest.raises(SlackPermanentError) as caught:
        api.post_message(TOKEN, CHANNEL, text="x", blocks=blocks, deadline=deadline())
    assert caught.value.code == "invalid_blocks" and "3000" in str(caught.value)


def test_slack_api_channel_rate_limit_is_met_by_waiting(api: SlackApi, slack: SlackApiStandIn) -> None:
    """Four posts in a row into one channel: the fourth meets the stand-in's 1/s limit past a burst of 3, and is
    posted after its Retry-After."""
    for index in range(4):
        api.post_message(TOKEN, CHANNEL, text=f"m{index}", deadline=deadline())
    assert [m.text for m in slack.parents()] == ["m0", "m1", "m2", "m3"]
    assert [c.status for c in slack.calls_of("chat.postMessage")].count(429) == 1


def test_slack_api_no_time_left_sends_nothing(api: SlackApi, slack: SlackApiStandIn) -> None:
    with pytest.raises(SlackTransientError):
        api.post_message(TOKEN, CHANNEL, text="x", deadline=Deadline(1.0))
    assert not slack.calls


def test_slack_api_answer_that_is_not_json_is_transient_and_maybe_delivered() -> None:
    """A 200 that is not Slack's JSON (a proxy's page): the post may have been taken, so it is retried later, never
    dropped, and never sent again within this invocation."""
    with StandIn("slack", limits=False) as webhook:  # answers 200 "ok" as text, as an incoming webhook does
        api = SlackApi(api_url=webhook.url.rsplit("/services", 1)[0] + "/api/", backoff_factor=0.01)
        with pytest.raises(SlackTransientError) as caught:
            api.post_message(TOKEN, CHANNEL, text="x", deadline=deadline())
        assert caught.value.code == "unreadable_answer" and caught.value.maybe_delivered
        assert len(webhook.received) == 1
