"""Slack request verification (issue 11): signed, unsigned, stale, future, replayed, wrong secret, tampered, rotated."""

from __future__ import annotations

import json
from typing import Any

import pytest

from alertlib.errors import ConfigurationError
from alertlib.slack_signature import (
    MAX_BODY_BYTES,
    DynamoReplayGuard,
    SignatureRejected,
    SigningSecrets,
    lower_headers,
    raw_body,
    slack_signature,
    verify_slack_request,
)
from tests.unit.interactions_helpers import (
    NOW,
    OLD_SIGNING_SECRET,
    SIGNING_SECRET,
    click,
    create_state_table,
    form,
    signed_event,
)

SECRETS = SigningSecrets((SIGNING_SECRET,))


class MemoryGuard:
    def __init__(self) -> None:
        self.seen: set[str] = set()

    def first_use(self, signature: str, now: float) -> bool:
        if signature in self.seen:
            return False
        self.seen.add(signature)
        return True


def verify(event: dict[str, Any], *, now: float = NOW, secrets: SigningSecrets = SECRETS, guard: Any = None) -> None:
    verify_slack_request(lower_headers(event), raw_body(event), secrets, now, guard or MemoryGuard())


def test_slack_signature_matches_slacks_documented_example() -> None:
    # Slack's "Verifying requests from Slack" worked example (also slack_sdk's SignatureVerifier test).
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&"
        b"channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&"
        b"response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
        b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    assert slack_signature(SIGNING_SECRET, "1531420618", body) == expected


def test_slack_signature_signed_request_passes() -> None:
    verify(signed_event(form(click())))


def test_slack_signature_base64_body_is_decoded_before_the_check() -> None:
    verify(signed_event(form(click()), base64_encoded=True))


@pytest.mark.parametrize(
    ("event_change", "reason"),
    [
        (lambda e: e["headers"].pop("X-Slack-Signature"), "missing"),
        (lambda e: e["headers"].pop("X-Slack-Request-Timestamp"), "missing"),
        (lambda e: e["headers"].update({"X-Slack-Signature": "v0=abc"}), "malformed"),
        (lambda e: e["headers"].update({"X-Slack-Signature": "v1=" + "0" * 64}), "malformed"),
        (lambda e: e["headers"].update({"X-Slack-Request-Timestamp": "1e9"}), "malformed"),
        (lambda e: e["headers"].update({"X-Slack-Request-Timestamp": "-5"}), "malformed"),
        (lambda e: e.update(body=e["body"].replace("ana", "eve")), "does not match"),
        (lambda e: e.update(body=e["body"] + "&x=1"), "does not match"),
        (lambda e: e.update(isBase64Encoded=True, body="not base64!"), "base64"),
    ],
)
def test_slack_signature_unsigned_malformed_or_tampered_is_rejected(event_change: Any, reason: str) -> None:
    event = signed_event(form(click()))
    event_change(event)
    with pytest.raises(SignatureRejected, match=reason):
        verify(event)


@pytest.mark.parametrize("offset", [301, -301, 86_400, -86_400])
def test_slack_signature_stale_or_future_timestamp_is_rejected(offset: int) -> None:
    event = signed_event(form(click()), timestamp=NOW + offset)
    with pytest.raises(SignatureRejected, match="window"):
        verify(event)


@pytest.mark.parametrize("offset", [300, -300, 0])
def test_slack_signature_window_is_five_minutes_both_ways(offset: int) -> None:
    verify(signed_event(form(click()), timestamp=NOW + offset))


def test_slack_signature_wrong_secret_is_rejected() -> None:
    event = signed_event(form(click()), secret="another-secret-of-32-characters!")
    with pytest.raises(SignatureRejected, match="does not match"):
        verify(event)


def test_slack_signature_replayed_once_only() -> None:
    guard = MemoryGuard()
    event = signed_event(form(click()))
    verify(event, guard=guard)
    with pytest.raises(SignatureRejected, match="replay"):
        verify(event, guard=guard, now=NOW + 10)


def test_slack_signature_rejected_requests_leave_no_replay_record() -> None:
    guard = MemoryGuard()
    event = signed_event(form(click()), secret="another-secret-of-32-characters!")
    with pytest.raises(SignatureRejected):
        verify(event, guard=guard)
    assert guard.seen == set()


def test_slack_signature_both_secrets_work_during_rotation() -> None:
    both = SigningSecrets((SIGNING_SECRET, OLD_SIGNING_SECRET))
    verify(signed_event(form(click())), secrets=both)
    verify(signed_event(form(click(user="U222")), secret=OLD_SIGNING_SECRET), secrets=both)
    with pytest.raises(SignatureRejected):
        verify(signed_event(form(click()), secret=OLD_SIGNING_SECRET), secrets=SECRETS)


def test_slack_signature_body_over_the_bound_is_rejected() -> None:
    body = b"payload=" + b"a" * MAX_BODY_BYTES
    with pytest.raises(SignatureRejected, match="too large"):
        verify(signed_event(body))


def test_slack_signature_no_secret_in_the_reason() -> None:
    event = signed_event(form(click()), secret="another-secret-of-32-characters!")
    with pytest.raises(SignatureRejected) as caught:
        verify(event)
    assert SIGNING_SECRET not in str(caught.value) and "another" not in str(caught.value)


def test_slack_signature_replay_guard_is_a_conditional_put_with_ttl(aws: Any) -> None:
    import boto3

    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    table = create_state_table(dynamodb)
    guard = DynamoReplayGuard(table, dynamodb)
    event = signed_event(form(click()))
    verify(event, guard=guard)
    with pytest.raises(SignatureRejected, match="replay"):
        verify(event, guard=guard, now=NOW + 1)
    items = dynamodb.scan(TableName=table)["Items"]
    assert len(items) == 1
    assert items[0]["pk"]["S"] == "slack-signature#" + event["headers"]["X-Slack-Signature"]
    assert int(items[0]["expires_at"]["N"]) == NOW + 600
    guard.forget(event["headers"]["X-Slack-Signature"])
    verify(event, guard=guard, now=NOW + 2)


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        "[]",
        json.dumps({}),
        json.dumps({"signing_secret": "short"}),
        json.dumps({"signing_secret": ["a" * 32]}),
        json.dumps({"signing_secret": "a" * 32, "previous_signing_secret": "short"}),
    ],
)
def test_slack_signature_malformed_secret_is_a_configuration_error(value: str) -> None:
    with pytest.raises(ConfigurationError):
        SigningSecrets.from_secret(value)


def test_slack_signature_secret_with_rotation() -> None:
    value = json.dumps({"signing_secret": SIGNING_SECRET, "previous_signing_secret": OLD_SIGNING_SECRET})
    assert SigningSecrets.from_secret(value).secrets == (SIGNING_SECRET, OLD_SIGNING_SECRET)
    assert SigningSecrets.from_secret(json.dumps({"signing_secret": SIGNING_SECRET})).secrets == (SIGNING_SECRET,)
