"""Shared by the issue-11 interaction tests: a Slack click as Slack sends it, signed, in a function URL event."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

from alertlib.slack_signature import slack_signature

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
OLD_SIGNING_SECRET = "0123456789abcdef0123456789abcdef"
THREAD_KEY = "am:4f2a9c:C111"
NOW = 1_796_000_000  # 2026-11-29


def click(
    action_id: str = "alert.ack",
    *,
    value: str | None = THREAD_KEY,
    selected: str | None = None,
    user: str = "W111",
    **extra: Any,
) -> dict[str, Any]:
    """A block_actions payload, as in Slack's own bolt test (PROTOCOLS-NEXT section 2)."""
    action: dict[str, Any] = {"action_id": action_id, "block_id": "alert-actions", "action_ts": "1596530385.194939"}
    if selected is not None:
        action.update(
            type="static_select", selected_option={"text": {"type": "plain_text", "text": "x"}, "value": selected}
        )
    else:
        action.update(type="button", value=value)
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user, "username": "ana", "team_id": "T111"},
        "api_app_id": "A111",
        "container": {"type": "message", "message_ts": "111.222", "channel_id": "C111", "is_ephemeral": False},
        "trigger_id": "111.222.valid",
        "team": {"id": "T111", "domain": "acme"},
        "channel": {"id": "C111", "name": "alerts"},
        "response_url": "https://hooks.slack.com/actions/T111/111/random-value",
        "message": {"ts": "111.222", "blocks": []},
        "actions": [action],
    }
    payload.update(extra)
    return payload


def form(payload: Any) -> bytes:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return b"payload=" + quote(text, safe="").encode()


def signed_event(
    body: bytes,
    *,
    timestamp: int = NOW,
    secret: str = SIGNING_SECRET,
    base64_encoded: bool = False,
    signature: str | None = None,
    method: str = "POST",
) -> dict[str, Any]:
    """A function URL (payload 2.0) event carrying `body`, signed as Slack signs it."""
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": signature if signature is not None else slack_signature(secret, str(timestamp), body),
    }
    return {
        "version": "2.0",
        "requestContext": {"http": {"method": method, "path": "/"}},
        "headers": headers,
        "body": base64.b64encode(body).decode() if base64_encoded else body.decode(),
        "isBase64Encoded": base64_encoded,
    }


def create_state_table(dynamodb: Any, name: str = "interactions") -> str:
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def create_audit_table(dynamodb: Any, name: str = "audit") -> str:
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return name
