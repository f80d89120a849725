"""Slack request verification: is this request Slack's, unaltered, recent, and seen for the first time?

Slack signs every interactivity request with the app's signing secret: `X-Slack-Signature` is
`v0=` + hex HMAC-SHA256(secret, `v0:{X-Slack-Request-Timestamp}:{raw body}`). The check here is that one, over the
bytes exactly as received (a function URL's `isBase64Encoded` body decoded first), compared in constant time
against every active secret (two during a rotation), within five minutes of the timestamp either way, and each
signature accepted once (a conditional put in DynamoDB whose item expires by TTL). Anything else is a
`SignatureRejected` whose reason is for the log line only: the caller answers 401 with no detail.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from alertlib.aws import AwsClient
from alertlib.errors import ConfigurationError

REPLAY_WINDOW_SECONDS = 300  # Slack's own rule: a timestamp more than five minutes off, either way, is refused
MAX_BODY_BYTES = 1024 * 1024  # a block_actions payload carries the whole message (50 blocks), URL-encoded
MIN_SECRET = 16  # Slack's signing secrets are 32 hex characters; a shorter one is a paste error
SIGNATURE_HEADER = "x-slack-signature"
TIMESTAMP_HEADER = "x-slack-request-timestamp"
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class SignatureRejected(Exception):  # noqa: N818 - reads as a verdict on the request
    """The request is not verifiably Slack's. The message says why, for the log; it never holds a secret."""


@dataclass(frozen=True)
class SigningSecrets:
    """The active signing secrets: the current one, and the previous one while a rotation is under way."""

    secrets: tuple[str, ...]

    @classmethod
    def from_secret(cls, value: str) -> SigningSecrets:
        """`{"signing_secret": "…"}`, optionally with `"previous_signing_secret": "…"` during a rotation."""
        try:
            decoded = json.loads(value)
        except ValueError:
            raise ConfigurationError("the Slack signing secret is not JSON") from None
        if not isinstance(decoded, dict):
            raise ConfigurationError("the Slack signing secret must be a JSON object")
        found: list[str] = []
        for name in ("signing_secret", "previous_signing_secret"):
            secret = decoded.get(name)
            if secret is None and name == "previous_signing_secret":
                continue
            if not isinstance(secret, str) or len(secret.strip()) < MIN_SECRET:
                raise ConfigurationError(
                    f"the Slack signing secret: {name} must be a string of at least {MIN_SECRET} characters"
                )
            found.append(secret.strip())
        return cls(tuple(found))


class ReplayGuard(Protocol):
    def first_use(self, signature: str, now: float) -> bool:
        """Record a signature; False when it was already recorded (a replay)."""


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """What Slack puts in X-Slack-Signature for this timestamp and body."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def raw_body(event: Mapping[str, Any]) -> bytes:
    """The request body exactly as the client sent it: a function URL base64-encodes any body it does not take for
    text. Raises `SignatureRejected` for a body that is not valid base64 or is larger than `MAX_BODY_BYTES`."""
    body = event.get("body") or ""
    if not isinstance(body, str):
        raise SignatureRejected("body is not a string")
    if len(body) > MAX_BODY_BYTES * 4 // 3 + 4:
        raise SignatureRejected("body too large")
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (ValueError, TypeError):
            raise SignatureRejected("body is not valid base64") from None
    else:
        raw = body.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_BODY_BYTES:
        raise SignatureRejected("body too large")
    return raw


def lower_headers(event: Mapping[str, Any]) -> dict[str, str]:
    headers = event.get("headers") or {}
    if not isinstance(headers, dict):
        return {}
    return {str(k).lower(): str(v) for k, v in headers.items()}


def verify_slack_request(
    headers: Mapping[str, str], raw: bytes, secrets: SigningSecrets, now: float, guard: ReplayGuard
) -> None:
    """Return when the request is Slack's and new; raise `SignatureRejected` otherwise. The replay record is written
    only once the signature is proven, so unsigned requests cannot fill the table."""
    if len(raw) > MAX_BODY_BYTES:
        raise SignatureRejected("body too large")
    signature = headers.get(SIGNATURE_HEADER, "").strip().lower()
    timestamp = headers.get(TIMESTAMP_HEADER, "").strip()
    if not signature or not timestamp:
        raise SignatureRejected("signature or timestamp missing")
    if not _SIGNATURE.fullmatch(signature):
        raise SignatureRejected("signature malformed")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise SignatureRejected("timestamp malformed")
    sent_at = int(timestamp)
    if not math.isfinite(now) or abs(now - sent_at) > REPLAY_WINDOW_SECONDS:
        raise SignatureRejected("timestamp outside the five-minute window")
    if not secrets.secrets:
        raise SignatureRejected("no signing secret configured")
    matched = False
    for secret in secrets.secrets:  # no early exit: every secret is compared
        if hmac.compare_digest(signature.encode(), slack_signature(secret, timestamp, raw).encode()):
            matched = True
    if not matched:
        raise SignatureRejected("signature does not match")
    if not guard.first_use(signature, now):
        raise SignatureRejected("signature already used (replay)")


class DynamoReplayGuard(AwsClient):
    """Each signature once: a conditional put of `<prefix><signature>`; the item expires (TTL attribute
    `expires_at`) after twice the window, when the timestamp check alone refuses the request."""

    service = "dynamodb"

    def __init__(self, table: str, client: Any = None, *, prefix: str = "slack-signature#") -> None:
        super().__init__(client)
        self.table = table
        self.prefix = prefix

    def first_use(self, signature: str, now: float) -> bool:
        try:
            self.client.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": self.prefix + signature},
                    "expires_at": {"N": str(int(now) + 2 * REPLAY_WINDOW_SECONDS)},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def forget(self, signature: str) -> None:
        """Release a signature whose request was not processed (the hand-off failed), so a retry is accepted."""
        self.client.delete_item(TableName=self.table, Key={"pk": {"S": self.prefix + signature}})
