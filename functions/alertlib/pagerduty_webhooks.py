"""PagerDuty webhooks v3: verify, parse the incident events the thread shows, find the alerts' dedup keys.

`X-PagerDuty-Signature: v1=<hex>[,v1=<hex>…]`, each the hex HMAC-SHA256 of the raw body with a subscription
secret; during a rotation several values come, and several secrets are active: any match is enough, every pair is
compared in constant time. `incident.acknowledged`, `.resolved`, `.reassigned` and `.escalated` become an
`IncidentEvent`; any other event type is `None` (answered 2xx, ignored). `X-Webhook-Id` is stable across
PagerDuty's retries: the first delivery is processed, the others are answered 2xx and dropped.

The dedup keys (Events v2 `dedup_key`, which is the thread's key) come from the REST API,
`GET /incidents/{id}/alerts` → `alert_key`, with a read-only token, cached per incident; the webhook's own
`incident_key` is never trusted to be the dedup key (undocumented, and reported not to be).
"""

from __future__ import annotations

import hmac
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from alertlib.action_http import JsonHttp
from alertlib.aws import AwsClient
from alertlib.deliver import Deadline
from alertlib.errors import ConfigurationError, MalformedInput, PermanentDeliveryError
from alertlib.text import one_line

SIGNATURE_HEADER = "x-pagerduty-signature"
WEBHOOK_ID_HEADER = "x-webhook-id"
MAX_SIGNATURES = 8
MAX_BODY_BYTES = 512 * 1024
MIN_SECRET = 16
HANDLED = ("incident.acknowledged", "incident.resolved", "incident.reassigned", "incident.escalated")
REST_URL = "https://api.pagerduty.com"
_SIGNATURE = re.compile(r"v1=([0-9a-f]{64})")
_INCIDENT_ID = re.compile(r"[A-Z0-9]{1,32}")
_WEBHOOK_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
DEDUP_SECONDS = 48 * 3600 + 3600  # PagerDuty retries for up to 48 h
ALERT_KEY_CACHE_SECONDS = 3600
MAX_ALERT_PAGES = 5  # 500 alerts in one incident; more are left out (and logged by the caller)


@dataclass(frozen=True)
class WebhookSecrets:
    secrets: tuple[str, ...]

    @classmethod
    def from_secret(cls, value: str) -> WebhookSecrets:
        """`{"secrets": ["…", "…"]}`: every subscription secret active now (two during a rotation)."""
        try:
            decoded = json.loads(value)
        except ValueError:
            raise ConfigurationError("the PagerDuty webhook secret is not JSON") from None
        secrets = decoded.get("secrets") if isinstance(decoded, dict) else None
        if not isinstance(secrets, list) or not secrets:
            raise ConfigurationError('the PagerDuty webhook secret must be {"secrets": ["…"]}')
        if not all(isinstance(s, str) and len(s.strip()) >= MIN_SECRET for s in secrets):
            raise ConfigurationError(
                f"the PagerDuty webhook secret: each secret is a string of {MIN_SECRET}+ characters"
            )
        return cls(tuple(s.strip() for s in secrets))


def pagerduty_signature(secret: str, body: bytes) -> str:
    return "v1=" + hmac.new(secret.encode(), body, "sha256").hexdigest()


def verify_pagerduty_signature(header: str, raw: bytes, secrets: WebhookSecrets) -> bool:
    """Any `v1=` value matching any secret; every pair compared, no early exit."""
    if not header or len(raw) > MAX_BODY_BYTES or not secrets.secrets:
        return False
    values = [v.strip().lower() for v in header.split(",")][:MAX_SIGNATURES]
    presented = [m.group(1) for v in values if (m := _SIGNATURE.fullmatch(v))]
    expected = [pagerduty_signature(s, raw)[3:] for s in secrets.secrets]
    matched = False
    for value in presented:
        for digest in expected:
            if hmac.compare_digest(value.encode(), digest.encode()):
                matched = True
    return matched


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    event_id: str
    event_type: str  # one of HANDLED
    incident_id: str
    incident_number: int | None
    title: str
    html_url: str
    status: str
    occurred_at: str
    agent: str  # who did it ("Ana Lopez"), or "" when PagerDuty itself (escalation timeout, auto-resolve)
    assignees: tuple[str, ...] = ()
    escalation_policy: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "incident_id": self.incident_id,
            "incident_number": self.incident_number,
            "title": self.title,
            "html_url": self.html_url,
            "status": self.status,
            "occurred_at": self.occurred_at,
            "agent": self.agent,
            "assignees": list(self.assignees),
            "escalation_policy": self.escalation_policy,
        }

    @classmethod
    def from_json(cls, data: Any) -> IncidentEvent:
        if not isinstance(data, dict) or data.get("event_type") not in HANDLED:
            raise MalformedInput("a queued PagerDuty event is not one this forwarder handles")
        incident = str(data.get("incident_id") or "")
        if not _INCIDENT_ID.fullmatch(incident):
            raise MalformedInput("a queued PagerDuty event has no valid incident id")
        number = data.get("incident_number")
        return cls(
            event_id=_text(data.get("event_id"), 64),
            event_type=str(data["event_type"]),
            incident_id=incident,
            incident_number=number if isinstance(number, int) else None,
            title=_text(data.get("title"), 300),
            html_url=_text(data.get("html_url"), 300),
            status=_text(data.get("status"), 30),
            occurred_at=_text(data.get("occurred_at"), 40),
            agent=_text(data.get("agent"), 100),
            assignees=tuple(_text(a, 100) for a in (data.get("assignees") or [])[:10]),
            escalation_policy=_text(data.get("escalation_policy"), 100),
        )


def _text(value: Any, limit: int) -> str:
    return one_line(value)[:limit] if isinstance(value, str) else ""


def _summary(ref: Any) -> str:
    if isinstance(ref, dict):
        return _text(ref.get("summary") or ref.get("name") or ref.get("id"), 100)
    return ""


def parse_webhook(raw: bytes) -> IncidentEvent | None:
    """The incident event, None for an event type this forwarder ignores; `MalformedInput` for a bad body."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise MalformedInput("body is not JSON") from None
    event = body.get("event") if isinstance(body, dict) else None
    if not isinstance(event, dict):
        raise MalformedInput("body has no event object")
    event_type = event.get("event_type")
    if not isinstance(event_type, str):
        raise MalformedInput("event has no event_type")
    if event_type not in HANDLED:
        return None
    data = event.get("data")
    if not isinstance(data, dict) or data.get("type") != "incident":
        raise MalformedInput("incident event without incident data")
    incident_id = data.get("id")
    if not isinstance(incident_id, str) or not _INCIDENT_ID.fullmatch(incident_id):
        raise MalformedInput("incident event without a valid incident id")
    number = data.get("number")
    assignees = data.get("assignees")
    return IncidentEvent(
        event_id=_text(event.get("id"), 64),
        event_type=event_type,
        incident_id=incident_id,
        incident_number=number if isinstance(number, int) and not isinstance(number, bool) else None,
        title=_text(data.get("title"), 300),
        html_url=_text(data.get("html_url"), 300),
        status=_text(data.get("status"), 30),
        occurred_at=_text(event.get("occurred_at"), 40),
        agent=_summary(event.get("agent")),
        assignees=tuple(s for a in (assignees if isinstance(assignees, list) else [])[:10] if (s := _summary(a))),
        escalation_policy=_summary(data.get("escalation_policy")),
    )


def thread_line(event: IncidentEvent) -> str:
    """What the thread says, e.g. "Acknowledged in PagerDuty by Ana Lopez"."""
    by = f" by {event.agent}" if event.agent else ""
    to = ", ".join(event.assignees) or "nobody"
    if event.event_type == "incident.acknowledged":
        return f"Acknowledged in PagerDuty{by}"
    if event.event_type == "incident.resolved":
        return f"Resolved in PagerDuty{by}"
    if event.event_type == "incident.reassigned":
        return f"Reassigned in PagerDuty to {to}{by}"
    return f"Escalated in PagerDuty to {to}{by}"


def webhook_id(headers: Mapping[str, str]) -> str | None:
    value = headers.get(WEBHOOK_ID_HEADER, "").strip()
    return value if _WEBHOOK_ID.fullmatch(value) else None


class DynamoWebhookDedup(AwsClient):
    """Each `X-Webhook-Id` once (a conditional put; expires after PagerDuty's 48 h of retries)."""

    service = "dynamodb"

    def __init__(self, table: str, client: Any = None) -> None:
        super().__init__(client)
        self.table = table

    def first_delivery(self, webhook: str, now: float) -> bool:
        try:
            self.client.put_item(
                TableName=self.table,
                Item={"pk": {"S": f"pagerduty-webhook#{webhook}"}, "expires_at": {"N": str(int(now) + DEDUP_SECONDS)}},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def forget(self, webhook: str) -> None:
        """The delivery was not handed off: let PagerDuty's retry through."""
        self.client.delete_item(TableName=self.table, Key={"pk": {"S": f"pagerduty-webhook#{webhook}"}})


def rest_token(value: str) -> str:
    """`{"api_token": "…"}`: a read-only REST API key (scope incidents.read)."""
    try:
        decoded = json.loads(value)
    except ValueError:
        raise ConfigurationError("the PagerDuty REST secret is not JSON") from None
    token = decoded.get("api_token") if isinstance(decoded, dict) else None
    if not isinstance(token, str) or len(token.strip()) < MIN_SECRET // 2:
        raise ConfigurationError('the PagerDuty REST secret must be {"api_token": "…"}')
    return token.strip()


@dataclass
class PagerDutyAlertKeys:
    """The dedup keys of an incident's alerts, from the REST API, cached per incident."""

    token: Callable[[], str]
    http: JsonHttp = field(default_factory=JsonHttp)
    base_url: str = REST_URL
    clock: Callable[[], float] = time.monotonic
    _cache: dict[str, tuple[float, tuple[str, ...]]] = field(default_factory=dict)

    def __call__(self, incident_id: str, deadline: Deadline) -> tuple[str, ...]:
        if not _INCIDENT_ID.fullmatch(incident_id):
            raise MalformedInput("not a PagerDuty incident id")
        now = self.clock()
        cached = self._cache.get(incident_id)
        if cached is not None and now - cached[0] < ALERT_KEY_CACHE_SECONDS:
            return cached[1]
        token = self.token()
        keys: list[str] = []
        for page in range(MAX_ALERT_PAGES):
            url = f"{self.base_url.rstrip('/')}/incidents/{quote(incident_id)}/alerts?limit=100&offset={page * 100}"
            answer = self.http.request(
                "pagerduty rest",
                "GET",
                url,
                deadline,
                secrets=(token,),
                headers={"Authorization": f"Token token={token}", "Accept": "application/vnd.pagerduty+json;version=2"},
            )
            decoded = answer.json()
            alerts = decoded.get("alerts") if isinstance(decoded, dict) else None
            if not isinstance(alerts, list):
                raise PermanentDeliveryError("pagerduty rest: the answer has no alerts list")
            keys.extend(a["alert_key"] for a in alerts if isinstance(a, dict) and isinstance(a.get("alert_key"), str))
            if not decoded.get("more"):
                break
        found = tuple(dict.fromkeys(k for k in keys if 0 < len(k) <= 255))
        if len(self._cache) > 1000:
            self._cache.clear()
        self._cache[incident_id] = (now, found)
        return found
