"""The Alertmanager webhook endpoint: authenticate, rate-limit, validate, publish to the topic of the severity.

Behind a Lambda function URL (payload format 2.0). Every answer is deliberate: 401 with no detail (nothing is
processed), 413 over 1 MB, 400 with the reason for bad JSON or a body that is not Alertmanager's, 429 with
`Retry-After` over the rate limit, 405 for other methods, 202 once every part is published. Bad input is never a
500; a 500 means publishing failed, and Alertmanager retries it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from alertlib.aws import AwsClient
from alertlib.errors import ConfigurationError, MalformedInput
from alertlib.parse import AlertmanagerMessage, parse_payload, scrub_surrogates
from alertlib.severity import parse_severity

MAX_BODY_BYTES = 1024 * 1024
MAX_SNS_BYTES = 256 * 1024 - 4 * 1024  # SNS's limit, less room for the subject and attributes
REPLAY_WINDOW_SECONDS = 300
SIGNATURE_HEADER = "x-alert-signature"
TIMESTAMP_HEADER = "x-alert-timestamp"
TOPICS = ("critical", "warning", "slo", "infrastructure")
# Alertmanager severity label -> topic; anything else goes by its PagerDuty severity (critical/error: critical).
DEFAULT_SEVERITY_TOPICS = {
    "critical": "critical",
    "page": "critical",
    "error": "critical",
    "warning": "warning",
    "info": "warning",
    "slo": "slo",
    "infrastructure": "infrastructure",
}


@dataclass(frozen=True)
class Response:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def as_lambda(self) -> dict[str, Any]:
        return {
            "statusCode": self.status,
            "headers": {"Content-Type": "application/json", **self.headers},
            "body": json.dumps(self.body),
        }


MIN_CREDENTIAL = 16  # characters of a bearer token or HMAC key: shorter ones are guessable


@dataclass(frozen=True)
class Credentials:
    """What may authenticate: bearer tokens and HMAC keys; two of each may be active during a rotation."""

    bearer_tokens: tuple[str, ...] = ()
    hmac_keys: tuple[str, ...] = ()

    @classmethod
    def from_secret(cls, value: str) -> Credentials:
        try:
            decoded = json.loads(value)
        except ValueError:
            raise ConfigurationError("the endpoint's auth secret is not JSON") from None
        if not isinstance(decoded, dict):
            raise ConfigurationError("the endpoint's auth secret must be a JSON object")
        found: dict[str, tuple[str, ...]] = {}
        for field_name in ("bearer_tokens", "hmac_keys"):
            values = decoded.get(field_name, [])
            # A string is not a list: iterated, "s3cret" would become the one-character tokens "s", "3", ...
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise ConfigurationError(f"the endpoint's auth secret: {field_name} must be a list of strings")
            if any(len(v) < MIN_CREDENTIAL for v in values):
                raise ConfigurationError(
                    f"the endpoint's auth secret: each of {field_name} must be at least {MIN_CREDENTIAL} characters"
                )
            found[field_name] = tuple(values)
        return cls(bearer_tokens=found["bearer_tokens"], hmac_keys=found["hmac_keys"])


class RateLimiter(Protocol):
    def consume(self, source: str, alerts: int, now: float) -> float | None:
        """Count `alerts` for `source` in the current minute; None when allowed, else seconds to wait."""

    def first_use(self, signature: str, now: float) -> bool:
        """Record a signature; False when it was seen within the replay window."""

    def forget(self, signature: str) -> None:
        """Release a signature whose request was not processed, so the sender's retry is accepted."""


class Publisher(Protocol):
    def __call__(self, topic_arn: str, message: str, subject: str, attributes: Mapping[str, str]) -> str: ...


@dataclass(frozen=True)
class EndpointSettings:
    topic_arns: Mapping[str, str]  # topic key (critical, warning, slo, infrastructure) -> ARN
    severity_topics: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_SEVERITY_TOPICS))
    rate_limit_per_minute: int = 100
    auth_secret: str | None = None
    rate_limit_table: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> EndpointSettings:
        try:
            topics = json.loads(environ.get("TOPIC_ARNS") or "{}")
            severity_topics = {**DEFAULT_SEVERITY_TOPICS, **json.loads(environ.get("SEVERITY_TOPICS") or "{}")}
        except ValueError as exc:
            raise ConfigurationError(f"TOPIC_ARNS or SEVERITY_TOPICS is not valid JSON: {exc}") from None
        if not isinstance(topics, dict) or "critical" not in topics:
            raise ConfigurationError("TOPIC_ARNS must map at least 'critical' to a topic ARN")
        unknown = sorted({t for t in severity_topics.values() if t not in topics})
        if unknown:
            raise ConfigurationError(f"SEVERITY_TOPICS names topics TOPIC_ARNS lacks: {', '.join(unknown)}")
        if not environ.get("AUTH_SECRET"):
            raise ConfigurationError("AUTH_SECRET (the name of the endpoint's auth secret) is not set")
        if not environ.get("RATE_LIMIT_TABLE"):
            raise ConfigurationError("RATE_LIMIT_TABLE is not set")
        return cls(
            topic_arns=topics,
            severity_topics=severity_topics,
            rate_limit_per_minute=int(environ.get("RATE_LIMIT_PER_MINUTE") or 100),
            auth_secret=environ["AUTH_SECRET"],
            rate_limit_table=environ["RATE_LIMIT_TABLE"],
        )


@dataclass
class Endpoint:
    settings: EndpointSettings
    credentials: Callable[[], Credentials]
    limiter: RateLimiter
    publish: Publisher
    clock: Callable[[], float] = time.time

    def handle(self, event: Mapping[str, Any]) -> Response:
        method = _method(event)
        if method != "POST":
            return Response(405, {"error": "only POST is accepted"}, {"Allow": "POST"})
        raw = _raw_body(event)
        if raw is None:
            return Response(400, {"error": "the body is not valid base64"})
        if len(raw) > MAX_BODY_BYTES:
            return Response(413, {"error": f"body over {MAX_BODY_BYTES} bytes"})
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
        now = self.clock()
        source = self._authenticate(headers, raw, now)
        if source is None:
            return Response(401, {"error": "unauthorized"})
        signature = headers.get(SIGNATURE_HEADER, "").strip().lower() if source.startswith("hmac:") else ""
        try:
            response = self._accept(raw, source, now)
        except Exception:
            if signature:
                self.limiter.forget(signature)  # nothing was published: let Alertmanager's retry through
            raise
        if signature and response.status != 202:
            self.limiter.forget(signature)
        return response

    def _accept(self, raw: bytes, source: str, now: float) -> Response:
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            return Response(400, {"error": f"invalid JSON: {str(exc)[:120]}"})
        if not isinstance(body, dict):
            return Response(400, {"error": "the body must be a JSON object (Alertmanager webhook v4)"})
        body = scrub_surrogates(body)
        try:
            message = parse_payload(body)
        except MalformedInput as exc:
            return Response(400, {"error": str(exc)})
        if not isinstance(message, AlertmanagerMessage):
            return Response(400, {"error": "not an Alertmanager webhook body"})
        wait = self.limiter.consume(source, min(len(message.alerts), self.settings.rate_limit_per_minute), now)
        if wait is not None:
            retry_after = str(max(1, math.ceil(wait)))
            return Response(429, {"error": "rate limit: 100 alerts a minute"}, {"Retry-After": retry_after})
        topic = self._topic_for(message)
        parts = split_body(body)
        subject = _subject(message)
        severity = _severity_word(message)
        for index, part in enumerate(parts, start=1):
            attributes = {"source": "alertmanager", "severity": severity, "part": f"{index}/{len(parts)}"}
            self.publish(self.settings.topic_arns[topic], part, subject, attributes)
        return Response(
            202, {"status": "accepted", "alerts": len(message.alerts), "messages": len(parts), "topic": topic}
        )

    # -- authentication ------------------------------------------------------------------------------------------

    def _authenticate(self, headers: Mapping[str, str], raw: bytes, now: float) -> str | None:
        """The authenticated source (which credential), or None. Every candidate is compared in constant time."""
        credentials = self.credentials()
        authorization = headers.get("authorization", "")
        if authorization[:7].lower() == "bearer ":
            presented = authorization[7:].strip().encode()
            matched = None
            for token in credentials.bearer_tokens:  # no early exit: every token is compared
                if hmac.compare_digest(presented, token.encode()):
                    matched = f"bearer:{_fingerprint(token)}"
            return matched
        signature = headers.get(SIGNATURE_HEADER, "").strip().lower()
        timestamp = headers.get(TIMESTAMP_HEADER, "").strip()
        if not signature or not timestamp or not credentials.hmac_keys:
            return None
        try:
            sent_at = float(timestamp)
        except ValueError:
            return None
        if not math.isfinite(sent_at) or abs(now - sent_at) > REPLAY_WINDOW_SECONDS:
            return None
        matched_key = None
        for key in credentials.hmac_keys:  # no early exit: every key is compared
            if hmac.compare_digest(signature.encode(), sign(key, timestamp, raw).encode()):
                matched_key = key
        if matched_key is None:
            return None
        if not self.limiter.first_use(signature, now):
            return None  # a replay of a body already accepted
        return f"hmac:{_fingerprint(matched_key)}"

    def _topic_for(self, message: AlertmanagerMessage) -> str:
        firing = [a for a in message.alerts if a.status == "firing"] or list(message.alerts)
        best: tuple[int, str] | None = None
        for alert in firing:
            label = (alert.labels.get("severity") or "").strip().lower()
            topic = self.settings.severity_topics.get(label)
            if topic is None:
                severity = parse_severity(label)
                topic = "critical" if severity is None or severity.rank >= 3 else "warning"
            rank = {"critical": 4, "slo": 3, "infrastructure": 2, "warning": 1}.get(topic, 0)
            if best is None or rank > best[0]:
                best = (rank, topic)
        chosen = best[1] if best else "critical"
        return chosen if chosen in self.settings.topic_arns else "critical"


def split_body(body: dict[str, Any], limit: int = MAX_SNS_BYTES) -> list[str]:
    """The body as one SNS message, or as several, each a whole Alertmanager body with a share of the alerts.
    Every part keeps the group's status, so a part holding only resolved alerts never resolves a firing group."""
    whole = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    if len(whole.encode()) <= limit:
        return [whole]
    alerts = body.get("alerts") or []
    shell = {k: v for k, v in body.items() if k != "alerts"}
    parts: list[str] = []
    current: list[Any] = []
    base = len(json.dumps({**shell, "alerts": []}, separators=(",", ":"), ensure_ascii=False).encode())
    size = base
    for original in alerts:
        alert = original
        encoded = len(json.dumps(alert, separators=(",", ":"), ensure_ascii=False).encode()) + 1
        if base + encoded > limit:
            alert = _shrink(alert, limit - base - 1)
            encoded = len(json.dumps(alert, separators=(",", ":"), ensure_ascii=False).encode()) + 1
        if current and size + encoded > limit:
            parts.append(json.dumps({**shell, "alerts": current}, separators=(",", ":"), ensure_ascii=False))
            current, size = [], base
        current.append(alert)
        size += encoded
    if current:
        parts.append(json.dumps({**shell, "alerts": current}, separators=(",", ":"), ensure_ascii=False))
    return parts


def _shrink(alert: dict[str, Any], budget: int) -> dict[str, Any]:
    """One alert too large for a message on its own: keep its labels, cut its annotations."""
    raw = alert.get("annotations")
    annotations = {
        k: (v[:200] + "…" if isinstance(v, str) and len(v) > 200 else v)
        for k, v in (raw if isinstance(raw, dict) else {}).items()
    }
    shrunk = {**alert, "annotations": annotations}
    if len(json.dumps(shrunk, separators=(",", ":"), ensure_ascii=False).encode()) > budget:
        shrunk["annotations"] = {"summary": "annotations cut: this alert alone was larger than an SNS message"}
    return shrunk


def _subject(message: AlertmanagerMessage) -> str:
    """SNS wants a subject under 100 characters, printable ASCII is safest."""
    firing = sum(1 for a in message.alerts if a.status == "firing")
    name = message.group_labels.get("alertname") or message.common_labels.get("alertname") or "alerts"
    state = f"[FIRING:{firing}]" if firing else "[RESOLVED]"
    text = f"{state} {name}".encode("ascii", "replace").decode()
    text = "".join(c if c.isprintable() else " " for c in text)
    return text[:99]


def _severity_word(message: AlertmanagerMessage) -> str:
    words = [a.labels.get("severity", "") for a in message.alerts if a.status == "firing"] or [
        a.labels.get("severity", "") for a in message.alerts
    ]
    ranked = sorted(words, key=_rank, reverse=True)
    return (ranked[0] if ranked and ranked[0] else "none")[:100]


def _rank(word: str) -> int:
    severity = parse_severity(word)
    return severity.rank if severity is not None else 0


def _method(event: Mapping[str, Any]) -> str:
    context = event.get("requestContext") or {}
    http = context.get("http") if isinstance(context, dict) else None
    if isinstance(http, dict) and http.get("method"):
        return str(http["method"]).upper()
    return str(event.get("httpMethod") or "POST").upper()


def _raw_body(event: Mapping[str, Any]) -> bytes | None:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (ValueError, TypeError):
            return None
    return body.encode("utf-8", "surrogatepass") if isinstance(body, str) else None


def _fingerprint(secret: str) -> str:
    """Names which credential matched, in logs and rate-limit keys, without revealing it."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def sign(key: str, timestamp: str, body: bytes) -> str:
    """What a sender puts in X-Alert-Signature: hex HMAC-SHA256 of `<timestamp>.<raw body>`."""
    return hmac.new(key.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class DynamoRateLimiter(AwsClient):
    """Counts in DynamoDB with atomic conditional updates; items expire through the table's TTL."""

    service = "dynamodb"

    def __init__(self, table: str, limit: int, client: Any = None) -> None:
        super().__init__(client)
        self.table = table
        self.limit = limit

    def consume(self, source: str, alerts: int, now: float) -> float | None:
        minute = int(now // 60)
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"rate#{source}#{minute}"}},
                UpdateExpression="ADD alerts :n SET expires_at = :ttl",
                ConditionExpression="attribute_not_exists(alerts) OR alerts <= :room",
                ExpressionAttributeValues={
                    ":n": {"N": str(alerts)},
                    ":room": {"N": str(self.limit - alerts)},
                    ":ttl": {"N": str((minute + 2) * 60)},
                },
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return (minute + 1) * 60 - now
        return None

    def forget(self, signature: str) -> None:
        self.client.delete_item(TableName=self.table, Key={"pk": {"S": f"signature#{signature}"}})

    def first_use(self, signature: str, now: float) -> bool:
        try:
            self.client.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": f"signature#{signature}"},
                    "expires_at": {"N": str(int(now) + 2 * REPLAY_WINDOW_SECONDS)},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True


class SnsPublisher(AwsClient):
    service = "sns"

    def __call__(self, topic_arn: str, message: str, subject: str, attributes: Mapping[str, str]) -> str:
        answer = self.client.publish(
            TopicArn=topic_arn,
            Message=message,
            Subject=subject,
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        )
        return str(answer["MessageId"])
