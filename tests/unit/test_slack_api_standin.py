"""The Slack Web API stand-in answers as Slack does (PROTOCOLS-NEXT.md 1 and 3), spoken to with plain requests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tools.slack_api_standin import CHANNEL, TOKEN, SlackApiStandIn

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def slack() -> Iterator[SlackApiStandIn]:
    with SlackApiStandIn(archived=("C0OLD",), outside=("C0AWAY",)) as stand_in:
        yield stand_in


def call(slack: SlackApiStandIn, method: str, body: dict[str, Any], *, headers: dict[str, str] | None = None,
         form: bool = False) -> requests.Response:  # fmt: skip
    if form:
        return requests.post(slack.url + method, data=body, headers=headers or AUTH, timeout=5)
    return requests.post(slack.url + method, json=body, headers=headers or AUTH, timeout=5)


def error(response: requests.Response) -> str:
    answer = response.json()
    return "" if answer["ok"] else str(answer["error"])


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "not_authed"),
        ({"Authorization": "Bearer xoxb-nope"}, "invalid_auth"),
        ({"Authorization": TOKEN}, "not_authed"),
    ],
)
def test_slack_api_standin_checks_the_bearer_token(slack: SlackApiStandIn, headers: dict[str, str], code: str) -> None:
    response = requests.post(slack.url + "chat.postMessage", json={"channel": CHANNEL, "text": "x"}, headers=headers,
                             timeout=5)  # fmt: skip
    assert response.status_code == 200 and error(response) == code and not slack.parents()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"channel": "C0NONE", "text": "x"}, "channel_not_found"),
        ({"channel": "C0AWAY", "text": "x"}, "not_in_channel"),
        ({"channel": "C0OLD", "text": "x"}, "is_archived"),
        ({"channel": CHANNEL}, "no_text"),
        ({"channel": CHANNEL, "text": "x", "blocks": [{"type": "divider"}] * 51}, "invalid_blocks"),
        ({"channel": CHANNEL, "text": "x", "thread_ts": "1.000001"}, "invalid_thread_ts"),
    ],
)
def test_slack_api_standin_refuses_as_slack_does(slack: SlackApiStandIn, body: dict[str, Any], code: str) -> None:
    assert error(call(slack, "chat.postMessage", body)) == code


def test_slack_api_standin_invalid_blocks_says_which(slack: SlackApiStandIn) -> None:
    body = {
        "channel": CHANNEL,
        "text": "x",
        "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
    }
    answer = call(slack, "chat.postMessage", body).json()
    assert answer["error"] == "invalid_blocks" and "150" in answer["response_metadata"]["messages"][0]


def test_slack_api_standin_update_rules(slack: SlackApiStandIn) -> None:
    ts = call(slack, "chat.postMessage", {"channel": CHANNEL, "text": "first"}).json()["ts"]
    assert error(call(slack, "chat.update", {"channel": CHANNEL, "ts": ts, "text": "x" * 4001})) == "msg_too_long"
    assert error(call(slack, "chat.update", {"channel": CHANNEL, "ts": "9.000009", "text": "x"})) == "message_not_found"
    slack.tokens.add("xoxb-other-app")
    other = {"Authorization": "Bearer xoxb-other-app"}
    assert error(call(slack, "chat.update", {"channel": CHANNEL, "ts": ts, "text": "x"}, headers=other)) == (
        "cant_update_message")  # fmt: skip
    assert error(call(slack, "chat.update", {"channel": CHANNEL, "ts": ts, "text": "second"})) == ""
    message = slack.find(CHANNEL, ts)
    assert message is not None and message.text == "second" and [e["text"] for e in message.edits] == ["first"]


def test_slack_api_standin_rate_limits_posts_per_channel_with_retry_after(slack: SlackApiStandIn) -> None:
    answers = [call(slack, "chat.postMessage", {"channel": CHANNEL, "text": str(i)}) for i in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[3].headers["Retry-After"] == "1" and error(answers[3]) == "ratelimited"
    assert len(slack.parents()) == 3


def test_slack_api_standin_fails_the_next_calls_as_told(slack: SlackApiStandIn) -> None:
    slack.fail_next(2, "service_unavailable", method="chat.update")
    slack.fail_next(1, "ratelimited", status=429, retry_after=7)
    limited = call(slack, "chat.postMessage", {"channel": CHANNEL, "text": "x"})
    assert (limited.status_code, limited.headers["Retry-After"], error(limited)) == (429, "7", "ratelimited")
    assert error(call(slack, "chat.postMessage", {"channel": CHANNEL, "text": "x"})) == ""
    ts = slack.parents()[0].ts
    codes = [error(call(slack, "chat.update", {"channel": CHANNEL, "ts": ts, "text": "y"})) for _ in range(3)]
    assert codes == ["service_unavailable", "service_unavailable", ""]


def test_slack_api_standin_three_step_upload(slack: SlackApiStandIn) -> None:
    ts = call(slack, "chat.postMessage", {"channel": CHANNEL, "text": "parent"}).json()["ts"]
    step1 = call(slack, "files.getUploadURLExternal", {"filename": "g.png", "length": "4"}, form=True).json()
    assert step1["ok"] and step1["upload_url"].startswith(slack.base)
    files = json.dumps([{"id": step1["file_id"], "title": "Graph"}])
    early = call(slack, "files.completeUploadExternal", {"files": files, "channel_id": CHANNEL}, form=True)
    assert error(early) == "file_not_found"  # nothing uploaded yet
    assert requests.post(step1["upload_url"], data=b"\x89PNG", timeout=5).status_code == 200
    assert requests.post(slack.base + "/upload/v1/F999", data=b"x", timeout=5).status_code == 404
    done = call(slack, "files.completeUploadExternal", {"files": files, "channel_id": CHANNEL, "thread_ts": ts},
                form=True)  # fmt: skip
    assert done.json()["files"] == [{"id": step1["file_id"], "title": "Graph"}]
    (reply,) = slack.replies(CHANNEL, ts)
    assert reply.files == [step1["file_id"]] and slack.files[step1["file_id"]].data == b"\x89PNG"
    too_long = {"filename": "g.png", "length": "4", "alt_txt": "a" * 1001}
    assert error(call(slack, "files.getUploadURLExternal", too_long, form=True)) == "invalid_arguments"


def test_slack_api_standin_refuses_a_body_it_cannot_read(slack: SlackApiStandIn) -> None:
    response = requests.post(slack.url + "chat.postMessage", data="channel=C", timeout=5,
                             headers={**AUTH, "Content-Type": "text/plain"})  # fmt: skip
    assert error(response) == "invalid_post_type"
    info = call(slack, "conversations.info", {"channel": "C0AWAY"}).json()
    assert info["channel"] == {"id": "C0AWAY", "is_archived": False, "is_member": False}


def test_slack_api_standin_tells_each_call_in_one_line(slack: SlackApiStandIn) -> None:
    from tools.slack_api_standin import describe

    told: list[str] = []
    slack.on_call = lambda c: told.append(describe(c))
    call(slack, "chat.postMessage", {"channel": CHANNEL, "text": "Disk\n  full"})
    call(slack, "chat.postMessage", {"channel": "C0AWAY", "text": "x"})
    assert told == [
        f"slack chat.postMessage channel={CHANNEL} ok | Disk full",
        "slack chat.postMessage channel=C0AWAY not_in_channel | x",
    ]


def test_slack_api_standin_main_answers_help(capsys: pytest.CaptureFixture[str]) -> None:
    from tools.slack_api_standin import main

    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0 and "--channel" in capsys.readouterr().out
    with pytest.raises(SystemExit) as refused:
        main(["--nope"])
    assert refused.value.code == 2
