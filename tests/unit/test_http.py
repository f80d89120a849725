"""alertlib.http: what deliver.py, slack_api.py and action_http.py share (their own tests cover it on the wire)."""

from __future__ import annotations

import time

import pytest
from urllib3 import HTTPResponse

from alertlib.errors import PermanentDeliveryError, TransientDeliveryError
from alertlib.http import (
    MAX_RETRY_AFTER,
    USER_AGENT,
    Deadline,
    PinnedSession,
    check_url,
    deadline_retry,
    json_object,
    read_budget,
    retry_class,
    unanswered,
)

SECRET_URL = "https://hooks.slack.com/services/T000/B000/sEcReTsEcReTsEcReT"


def far(seconds: float = 100.0) -> Deadline:
    deadline = Deadline(0)
    deadline.at = time.monotonic() + seconds
    return deadline


def test_http_read_budget_is_the_read_timeout_or_nothing_when_no_connection_fits() -> None:
    assert read_budget(far(), 3.05, 10.0) == 10.0
    assert read_budget(far(-1), 3.05, 10.0) is None
    assert read_budget(Deadline(0), 0.5, 1.0) is None


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.slack.com/services/T000/B000/sEcReTsEcReTsEcReT",
        "https://hooks.slack.com:99999/services/T000/B000/sEcReTsEcReTsEcReT",
        "hooks.slack.com/services/T000/B000/sEcReTsEcReTsEcReT",
        "http://[::1/services/T000/B000/sEcReTsEcReTsEcReT",
    ],
)
def test_http_check_url_refuses_what_requests_cannot_send_without_saying_it(url: str) -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        check_url(url, "slack")
    message = str(caught.value)
    assert message.startswith("slack: the URL in the secret is malformed (")
    assert "sEcReT" not in message and "hooks.slack.com" not in message


def test_http_check_url_lets_http_and_https_through() -> None:
    check_url(SECRET_URL, "slack")
    check_url("http://127.0.0.1:8080/api/chat.postMessage", "slack chat.postMessage")


def test_http_retry_class_is_built_once_per_container() -> None:
    assert retry_class() is retry_class()


@pytest.mark.parametrize("resend", [True, False])
def test_http_deadline_retry_sends_a_lost_answer_again_only_when_told(resend: bool) -> None:
    retry = deadline_retry(
        retries=3, resend=resend, backoff_factor=0.5, backoff_max=8.0, backoff_jitter=0.0, deadline=far(),
        attempt_seconds=13.0,
    )  # fmt: skip
    assert retry.read == (3 if resend else False)
    assert (retry.total, retry.connect, retry.status, retry.redirect) == (3, 3, 3, 0)
    assert retry.allowed_methods is None and 429 in retry.status_forcelist
    assert retry.new().deadline == retry.deadline and retry.new().attempt_seconds == 13.0


def test_http_deadline_retry_leaves_a_long_retry_after_to_lambda() -> None:
    retry = deadline_retry(
        retries=3, resend=False, backoff_factor=0.0, backoff_max=8.0, backoff_jitter=0.0, deadline=far(),
        attempt_seconds=1.0,
    )  # fmt: skip
    answer = HTTPResponse(status=429, headers={"Retry-After": str(int(MAX_RETRY_AFTER) + 1)})
    with pytest.raises(TransientDeliveryError, match="left to Lambda's retry"):
        retry.sleep(answer)


def test_http_deadline_retry_never_waits_past_the_deadline() -> None:
    retry = deadline_retry(
        retries=3, resend=False, backoff_factor=0.0, backoff_max=8.0, backoff_jitter=0.0, deadline=far(5.0),
        attempt_seconds=1.0,
    )  # fmt: skip
    with pytest.raises(TransientDeliveryError, match="no time left"):
        retry.sleep(HTTPResponse(status=429, headers={"Retry-After": "10"}))


def test_http_pinned_session_has_one_adapter_for_both_schemes_and_ignores_the_environment() -> None:
    pinned = PinnedSession()
    session = pinned.session
    assert pinned.session is session
    assert session.get_adapter("https://example.com") is pinned.adapter is session.get_adapter("http://example.com")
    assert session.trust_env is False and session.headers["User-Agent"] == USER_AGENT


def test_http_unanswered_says_whether_the_request_may_have_arrived() -> None:
    import requests
    from urllib3.exceptions import NewConnectionError, ReadTimeoutError

    refused = requests.exceptions.ConnectionError(NewConnectionError(None, "Connection refused"))  # type: ignore[arg-type]
    error = unanswered("pagerduty", refused)
    assert str(error) == "pagerduty: connection failed; nothing was sent" and not error.maybe_delivered
    lost = requests.exceptions.ReadTimeout(ReadTimeoutError(None, SECRET_URL, "Read timed out."))  # type: ignore[arg-type]
    error = unanswered("slack", lost)
    assert error.maybe_delivered and "sEcReT" not in str(error) and "no answer in time" in str(error)


@pytest.mark.parametrize(("text", "expected"), [('{"ok": true}', {"ok": True}), ("[1]", {}), ("ok", {}), ("", {})])
def test_http_json_object_is_an_object_or_empty(text: str, expected: dict[str, object]) -> None:
    assert json_object(text) == expected
