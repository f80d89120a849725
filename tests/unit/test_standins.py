"""The stand-ins enforce Slack's and PagerDuty's rate limits by default, and count what they took and refused."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tools.standins import Answer, SlidingWindow, StandIn, TokenBucket, max_in_window

ROUTING_KEY = "a" * 32
OTHER_KEY = "b" * 32


class Clock:
    """The stand-in's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def post(url: str, body: Any) -> tuple[int, str | None]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status), answer.headers.get("Retry-After")
    except urllib.error.HTTPError as error:
        return int(error.code), error.headers.get("Retry-After")


def slack_message(text: str = "hello") -> dict[str, Any]:
    return {"text": text}


def pagerduty_event(key: str = ROUTING_KEY, dedup: str = "d") -> dict[str, Any]:
    return {"routing_key": key, "event_action": "resolve", "dedup_key": dedup}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def slack(clock: Clock) -> Iterator[StandIn]:
    with StandIn("slack") as server:
        server.clock = clock
        yield server


@pytest.fixture
def pagerduty(clock: Clock) -> Iterator[StandIn]:
    with StandIn("pagerduty") as server:
        server.clock = clock
        yield server


def test_token_bucket_allows_a_burst_of_two_then_one_per_second() -> None:
    bucket = TokenBucket(rate=1.0, burst=2)
    assert bucket.admit("w", 0.0) is None
    assert bucket.admit("w", 0.0) is None
    assert bucket.admit("w", 0.0) == pytest.approx(1.0)
    assert bucket.admit("w", 0.5) == pytest.approx(0.5)
    assert bucket.admit("w", 1.0) is None
    assert bucket.admit("w", 1.5) is not None
    assert bucket.admit("other", 1.5) is None  # per webhook
    assert bucket.admit("w", 100.0) is None and bucket.admit("w", 100.0) is None  # refills to the burst only
    assert bucket.admit("w", 100.0) is not None


def test_sliding_window_allows_120_per_minute_per_key() -> None:
    window = SlidingWindow(events=120, window=60.0)
    assert all(window.admit("k", i * 0.1) is None for i in range(120))
    assert window.admit("k", 30.0) == pytest.approx(30.0)  # until the first one leaves the window
    assert window.admit("other", 30.0) is None
    assert window.admit("k", 60.0) is None  # the first left at 60 s
    assert window.admit("k", 60.05) is not None


def test_max_in_window_counts_a_half_open_window() -> None:
    assert max_in_window([], 1.0) == 0
    assert max_in_window([0.0, 1.0, 2.0], 1.0) == 1
    assert max_in_window([0.0, 0.5, 0.99, 1.0, 5.0], 1.0) == 3
    assert max_in_window([3.0, 0.0, 2.5, 2.9], 1.0) == 3


def test_slack_stand_in_answers_429_with_retry_after_past_its_burst(slack: StandIn, clock: Clock) -> None:
    assert [post(slack.url, slack_message())[0] for _ in range(2)] == [200, 200]
    assert post(slack.url, slack_message()) == (429, "1")
    clock.now += 1.0
    assert post(slack.url, slack_message())[0] == 200
    assert post(slack.url, slack_message())[0] == 429
    assert [r.limited for r in slack.received] == [False, False, True, False, True]
    assert slack.stats() == {"accepted": 3, "refused": 2, "max_per_second": 2, "max_per_minute": 3}
    assert slack.stats(since=clock.now)["accepted"] == 1


def test_slack_limit_is_per_webhook(slack: StandIn) -> None:
    other = slack.url.replace("XXXXXXXX", "YYYYYYYY")
    statuses = [post(url, slack_message())[0] for url in (slack.url, slack.url, other, other, slack.url)]
    assert statuses == [200, 200, 200, 200, 429]
    assert slack.stats()["max_per_second"] == 2


def test_a_message_slack_refuses_for_its_content_takes_no_token(slack: StandIn) -> None:
    assert post(slack.url, {"blocks": []})[0] == 400
    assert [post(slack.url, slack_message())[0] for _ in range(3)] == [200, 200, 429]


def test_pagerduty_stand_in_answers_429_past_120_events_per_minute_per_key(pagerduty: StandIn, clock: Clock) -> None:
    for index in range(120):
        clock.now = 1000.0 + index * 0.25
        assert post(pagerduty.url, pagerduty_event(dedup=f"d{index}"))[0] == 202
    status, retry_after = post(pagerduty.url, pagerduty_event())
    assert (status, retry_after) == (429, None)  # PagerDuty documents no Retry-After
    assert json.loads(pagerduty.received[-1].raw)["routing_key"] == ROUTING_KEY
    assert post(pagerduty.url, pagerduty_event(key=OTHER_KEY))[0] == 202  # per routing key
    clock.now = 1060.0  # the first event left the window
    assert post(pagerduty.url, pagerduty_event())[0] == 202
    assert post(pagerduty.url, pagerduty_event())[0] == 429
    stats = pagerduty.stats()
    assert (stats["accepted"], stats["refused"], stats["max_per_minute"]) == (122, 2, 120)


def test_limits_can_be_switched_off_and_scripts_still_win(clock: Clock) -> None:
    with StandIn("slack", limits=False) as slack:
        slack.clock = clock
        assert [post(slack.url, slack_message())[0] for _ in range(5)] == [200] * 5
        assert slack.stats()["refused"] == 0 and slack.stats()["max_per_second"] == 5
    with StandIn("slack") as slack:
        slack.clock = clock
        slack.then(Answer(status=503, body="down"), Answer(status=200, body="ok"))
        assert [post(slack.url, slack_message())[0] for _ in range(4)] == [503, 200, 200, 200]
        assert post(slack.url, slack_message())[0] == 429  # scripted answers took no token


def test_clear_forgets_what_the_limit_counted(slack: StandIn) -> None:
    assert [post(slack.url, slack_message())[0] for _ in range(3)] == [200, 200, 429]
    slack.clear()
    assert [post(slack.url, slack_message())[0] for _ in range(2)] == [200, 200]
