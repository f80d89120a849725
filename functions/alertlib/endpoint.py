"""The Alertmanager webhook endpoint: authenticate, rate-limit, validate, publish to the topic of the severity.

Behind a Lambda function URL (payload format 2.0). Every answer is deliberate: 401 with no detail (nothing is
processed), 413 over 1 MB, 400 with the reason for bad JSON or a body that is not Alertmanager's, 429 with
`Retry-After` over the rate limit, 405 for other methods, 202 once every part is published. Bad input is never a
500 (`decode_body`: strict JSON, depth checked without recursion); a 500 means publishing failed, and Alertmanager
retries it: the failed attempt gives back its rate-limit units and its signature, and leaves a record of the parts
of a split body that went, so the retry publishes only the rest. Every part fits SNS whatever is large
(`split_body`).
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
from alertlib.normalise import fingerprint, label_matchers
from alertlib.observability import logger
from alertlib.parse import AlertmanagerMessage, check_depth, parse_payload, read_str, scrub_surrogates
from alertlib.severity import parse_severity
from alertlib.text import one_line

MAX_BODY_BYTES = 1024 * 1024
SNS_LIMIT = 256 * 1024  # bytes of one SNS message: the message, subject and attributes together
MAX_SNS_BYTES = SNS_LIMIT - 4 * 1024  # for the message, less room for the subject and attributes
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


OUTCOMES = {202: "AlertsAccepted", 401: "AuthFailed", 429: "RateLimited"}  # any other answer: PayloadRejected


@dataclass(frozen=True)
class Response:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def outcome(self) -> str:
        """The metric of this answer (`function_url.answer` counts it)."""
        return OUTCOMES.get(self.status, "PayloadRejected")

    @property
    def reason(self) -> str | None:
        error = self.body.get("error")
        return error if isinstance(error, str) else None

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

    def refund(self, source: str, alerts: int, now: float) -> None:
        """Return `alerts` that `consume(source, alerts, now)` counted, to the same minute; never below zero."""

    def remember_published(self, marks: list[str], now: float) -> None:
        """Record the parts an attempt published before another part failed (best effort: never raises)."""

    def take_published(self, mark: str, now: float) -> bool:
        """True, once, when an earlier attempt recorded this part as published; False when unknown or unsure."""


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
            body = decode_body(raw)
            message = parse_payload(body)
            if not isinstance(message, AlertmanagerMessage):
                raise MalformedInput("not an Alertmanager webhook body")
            check_alertmanager_body(body)
        except MalformedInput as exc:
            return Response(400, {"error": one_line(str(exc))[:200]})
        taken = min(len(message.alerts), self.settings.rate_limit_per_minute)
        wait = self.limiter.consume(source, taken, now)
        if wait is not None:
            retry_after = str(max(1, math.ceil(wait)))
            return Response(429, {"error": "rate limit: 100 alerts a minute"}, {"Retry-After": retry_after})
        published = False
        done: list[str] = []  # marks of the parts of a split body that are published
        try:
            topic = self._topic_for(message)
            arn = self.settings.topic_arns[topic]
            parts = split_body(body)
            subject = _subject(message)
            severity = _severity_word(message)
            for index, part in enumerate(parts, start=1):
                mark = _part_mark(arn, part) if len(parts) > 1 else None
                if mark is None or not self.limiter.take_published(mark, now):
                    attributes = {"source": "alertmanager", "severity": severity, "part": f"{index}/{len(parts)}"}
                    self.publish(arn, part, subject, attributes)
                if mark is not None:
                    done.append(mark)
            published = True
        finally:
            if not published:  # Alertmanager retries the 500: its retry must find the units, and the parts
                self._refund(source, taken, now)  # that went, where this attempt left them
                if done:
                    self.limiter.remember_published(done, now)
        return Response(
            202, {"status": "accepted", "alerts": len(message.alerts), "messages": len(parts), "topic": topic}
        )

    def _refund(self, source: str, taken: int, now: float) -> None:
        if int(self.clock() // 60) != int(now // 60):
            return  # the window that counted them is over: the retry is counted in a new one anyway
        self.limiter.refund(source, taken, now)

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


# -- reading the body -----------------------------------------------------------------------------------------------

MAX_DEPTH = 32  # an Alertmanager body is 4 deep (body, alerts, alert, labels); unknown fields get room to spare
MAX_INT_DIGITS = 4300  # Python's own limit (sys.int_info.default_max_str_digits), said as a reason


def decode_body(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or `MalformedInput` with a one-line reason. Strict where Python's json is lax: no
    NaN or Infinity, no number that overflows to one, no duplicate key, at most `MAX_DEPTH` deep (checked without
    recursion, so the answer is the same on Python 3.11, where json.loads itself refuses deep nesting, and 3.14).
    Lone surrogates become U+FFFD."""
    try:
        body = json.loads(
            raw,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
            object_pairs_hook=_unique_keys,
        )
    except RecursionError:
        raise MalformedInput(f"invalid JSON: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError and the hooks' refusals
        raise MalformedInput(f"invalid JSON: {one_line(str(exc))[:200]}") from None
    check_depth(body, MAX_DEPTH, what="invalid JSON:")
    if not isinstance(body, dict):
        raise MalformedInput("the body must be a JSON object (Alertmanager webhook v4)")
    scrubbed: dict[str, Any] = scrub_surrogates(body)
    return scrubbed


def check_alertmanager_body(body: dict[str, Any]) -> None:
    """Label and annotation maps hold text. A number, boolean or null value (some hand-written senders send them)
    is taken as its JSON text in place, as the forwarders' parse reads it, so the split and the forwarders see the
    same labels and the same fingerprint; an empty list is an empty map. Any other map that is not an object, or
    a value that is itself a list or an object, is refused with a 400 (a label has no structure)."""
    for name in ("groupLabels", "commonLabels", "commonAnnotations"):
        _check_string_map(body, name, name)
    for index, alert in enumerate(body.get("alerts") or []):
        for name in ("labels", "annotations"):
            _check_string_map(alert, name, f"alert {index} {name}")


def _check_string_map(parent: dict[str, Any], key: str, where: str) -> None:
    value = parent.get(key)
    if value is None:
        return
    if isinstance(value, list) and not value:  # PHP's json_encode([]) and others write an empty map as []
        parent[key] = {}
        return
    if not isinstance(value, dict) or any(isinstance(v, dict | list) for v in value.values()):
        raise MalformedInput(f"{where} must map names to strings")
    if not all(isinstance(v, str) for v in value.values()):
        parent[key] = {k: v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text[:40]}")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    mapping = dict(pairs)
    if len(mapping) != len(pairs):
        seen: set[str] = set()
        duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ValueError(f"duplicate key {duplicate[:40]!r}")
    return mapping


def split_body(body: dict[str, Any], limit: int = MAX_SNS_BYTES) -> list[str]:
    """The body as one SNS message, or as several, each a whole Alertmanager body with a share of the alerts and at
    most `limit` bytes of UTF-8. Every part keeps the group's status, so a part holding only resolved alerts never
    resolves a firing group.

    Whatever is large, every part fits: the group fields are cut to a quarter of a message, then each alert to what
    is left (`_fit_alert`), longest values first, on character boundaries and marked with `TRUNCATED`. The identity
    the forwarders key on never changes (`_bound_identity`). Linear: each alert is serialised once or twice."""
    cuts = _Cuts()
    body = _bound_identity(body)
    whole = _dumps(body)
    if len(whole.encode()) <= limit:
        return [whole]
    alerts = [a for a in body.get("alerts") or [] if isinstance(a, dict)]
    shell = {k: v for k, v in body.items() if k != "alerts"}
    if _cost(shell) > limit // SHELL_SHARE:
        shell = _fit_shell(shell, limit // SHELL_SHARE, cuts)
    prefix = _dumps({**shell, "alerts": []})[:-2]  # `{...,"alerts":[`: each part is prefix + alerts + `]}`
    base = len(prefix.encode()) + 2
    room = limit - base
    parts: list[str] = []
    current: list[str] = []
    size = base
    for alert in alerts:
        text = _dumps(alert)
        encoded = len(text.encode())
        if encoded > room:
            text = _dumps(_fit_alert(alert, room, cuts))
            encoded = len(text.encode())
        if current and size + encoded + 1 > limit:
            parts.append(prefix + ",".join(current) + "]}")
            current, size = [], base
        size += encoded + (1 if current else 0)
        current.append(text)
    parts.append(prefix + ",".join(current) + "]}")
    if cuts:
        logger.warning("alertmanager body cut to fit SNS", extra={**cuts.as_dict(), "parts": len(parts)})
    return parts


def sns_bytes(message: str, subject: str, attributes: Mapping[str, str]) -> int:
    """What SNS counts against its limit: the message, the subject, and each attribute's name, type and value."""
    counted = len(message.encode()) + len(subject.encode())
    return counted + sum(len(k.encode()) + len("String") + len(v.encode()) for k, v in attributes.items())


# -- fitting a body into SNS ----------------------------------------------------------------------------------------

TRUNCATED = "…[truncated]"  # ends every value that was cut
SHELL_SHARE = 4  # when a body must be cut, the group fields keep at most a quarter of each message
MAX_KEY_BYTES = 8 * 1024  # a group key longer than this is replaced by its hash, cut or not, so it never changes
MAX_FINGERPRINT_BYTES = 256  # the same for an alert's fingerprint (Alertmanager's are 16 hex characters)
MAX_NAME_BYTES = 256  # a label or annotation name is cut to this
MAX_SCALAR_BYTES = 64  # status, version, startsAt, endsAt: short by nature, cut to this when an alert is cut
MIN_VALUE_BYTES = 64  # no value is cut shorter than this: below it, the lowest-ranked entries are left out
NOTE = "truncated"  # the annotation that says what was cut from an alert
_NOTE_ROOM = 160  # bytes kept for that annotation
_FIRST_LABELS = ("alertname", "severity")
_FIRST_ANNOTATIONS = ("summary", "message", "title")
_LATER_ANNOTATIONS = ("description",)


@dataclass
class _Cuts:
    """What was cut from one body, for the one log line."""

    alerts: int = 0
    values_cut: int = 0
    entries_left_out: int = 0
    group_fields: bool = False

    def __bool__(self) -> bool:
        return bool(self.alerts or self.group_fields)

    def as_dict(self) -> dict[str, Any]:
        return {
            "alerts_cut": self.alerts,
            "values_cut": self.values_cut,
            "entries_left_out": self.entries_left_out,
            "group_fields_cut": self.group_fields,
        }


@dataclass
class _Entry:
    """One name and string value of a mapping (or a top-level string field) competing for an alert's bytes."""

    where: str | None  # the mapping it belongs to (labels, annotations, ...), None for a top-level field
    name: str
    value: str
    url: bool  # a URL is kept whole or left out: a cut link is a broken one
    overhead: int = field(init=False)  # bytes of `"name":` and the comma
    size: int = field(init=False)  # bytes of the value's JSON

    def __post_init__(self) -> None:
        self.overhead = _cost(self.name) + 2
        self.size = _cost(self.value)


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)  # one, not one per call


def _dumps(value: Any) -> str:
    text = _ENCODER.encode(value)
    # JSON leaves U+FFFE and U+FFFF raw and SNS's XML-based API refuses them; str.replace is linear at C speed
    if "\ufffe" in text or "\uffff" in text:
        text = text.replace("\ufffe", "\\ufffe").replace("\uffff", "\\uffff")
    return text


def _cost(value: Any) -> int:
    return len(_dumps(value).encode())


def _clip(text: str, budget: int) -> str | None:
    """`text` if its JSON takes at most `budget` bytes, else its longest prefix that does with `TRUNCATED` after it
    (cut between characters, never inside one); None when not even the marker fits."""
    if _cost(text) <= budget:
        return text
    room = budget - _cost(TRUNCATED)
    if room < 0:
        return None
    if _dumps(text)[1:-1] == text:  # nothing escaped (the usual case): a byte is a byte
        return text.encode()[:room].decode("utf-8", "ignore") + TRUNCATED
    low, high = 0, min(len(text), room)  # every character takes at least one byte
    while low < high:  # the longest prefix whose JSON (less its quotes) takes at most `room` bytes
        middle = (low + high + 1) // 2
        if _cost(text[:middle]) - 2 <= room:
            low = middle
        else:
            high = middle - 1
    return text[:low] + TRUNCATED


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _bound_identity(body: dict[str, Any]) -> dict[str, Any]:
    """The forwarders key a group on `groupKey` (or, without one, on the receiver and group labels) and an alert on
    its `fingerprint` (or, without one, on its labels). A key too long to carry becomes its hash here, on every
    body whether it fits or not, so a small resolve keeps the key of a large firing."""
    body = dict(body)
    alerts = body.get("alerts")
    if body.get("status") not in ("firing", "resolved") and isinstance(alerts, list):
        # parse derives a missing or odd status from the alerts it sees: from a part's share, it could say resolved
        # while another part fires. Derived here once, from them all, every part carries the group's status.
        firing = any(isinstance(a, dict) and a.get("status") == "firing" for a in alerts)
        body["status"] = "firing" if firing else "resolved"
    group_key = read_str(body.get("groupKey"))
    if not group_key:
        body.pop("groupKey", None)  # parse ignores it: the group is keyed as if it were absent
        group_key = _synthetic_group_key(body)
        if _cost(group_key) > MAX_KEY_BYTES:
            body["groupKey"] = _digest(group_key)
    elif _cost(group_key) > MAX_KEY_BYTES:
        body["groupKey"] = _digest(group_key)
    if isinstance(alerts, list):
        body["alerts"] = [_bound_fingerprint(a) if isinstance(a, dict) else a for a in alerts]
    return body


def _bound_fingerprint(alert: dict[str, Any]) -> dict[str, Any]:
    raw = alert.get("fingerprint")
    value = read_str(raw)
    if value is None and raw is not None:
        return {k: v for k, v in alert.items() if k != "fingerprint"}  # parse ignores it
    if value is not None and _cost(value) > MAX_FINGERPRINT_BYTES:
        return {**alert, "fingerprint": _digest(value)}
    return alert


def _synthetic_group_key(body: Mapping[str, Any]) -> str:
    """normalise's key of a group without `groupKey` (`{{ toJson . }}` output): receiver and group labels."""
    group_labels = body.get("groupLabels")
    labels = group_labels if isinstance(group_labels, dict) and group_labels else body.get("commonLabels")
    return f"{read_str(body.get('receiver')) or ''}:{label_matchers(labels if isinstance(labels, dict) else {})}"


def _fit_shell(shell: dict[str, Any], budget: int, cuts: _Cuts) -> dict[str, Any]:
    """The group fields in `budget` bytes: status, version, groupKey and truncatedAlerts whole (they are short or
    bounded), then the receiver, group and common labels and annotations, and externalURL, longest values cut
    first; other fields are left out."""
    cuts.group_fields = True
    fitted: dict[str, Any] = {}
    if "groupKey" not in shell:
        # Cutting the receiver or the group labels would change the key normalise makes of them: carry it whole.
        fitted["groupKey"] = _synthetic_group_key(shell)
    for name in ("version", "status", "groupKey"):  # the group key is short or a hash (`_bound_identity`)
        value = read_str(shell.get(name))
        if value is not None:
            fitted[name] = value if name == "groupKey" else _clip(value, MAX_SCALAR_BYTES)
    truncated = shell.get("truncatedAlerts")
    if _cost(truncated) <= MAX_SCALAR_BYTES and truncated is not None:
        fitted["truncatedAlerts"] = truncated
    entries: list[_Entry] = []
    receiver = read_str(shell.get("receiver"))
    if receiver is not None:
        entries.append(_Entry(None, "receiver", receiver, url=False))
    for where in ("groupLabels", "commonLabels"):
        entries += _entries(where, shell.get(where), _FIRST_LABELS)
    entries += _entries("commonAnnotations", shell.get("commonAnnotations"), (*_FIRST_ANNOTATIONS, "description"))
    external = shell.get("externalURL")
    if isinstance(external, str):
        entries.append(_Entry(None, "externalURL", external, url=True))
    for where in ("groupLabels", "commonLabels", "commonAnnotations"):
        fitted[where] = {}
    _place(fitted, entries, budget - _cost(fitted), cuts)
    return fitted


def _fit_alert(alert: dict[str, Any], budget: int, cuts: _Cuts) -> dict[str, Any]:
    """One alert in `budget` bytes. Kept whole: status, fingerprint, startsAt, endsAt. Then by rank: alertname and
    severity, summary, the other labels, description, the other annotations, generatorURL; every value gets the
    same share and only longer ones are cut; when even `MIN_VALUE_BYTES` each is too much, the lowest-ranked are
    left out. The labels' fingerprint is carried when the alert had none, so its id does not change."""
    cuts.alerts += 1
    raw_labels = alert.get("labels")
    labels = raw_labels if isinstance(raw_labels, dict) else {}
    fitted: dict[str, Any] = {}
    for name in ("status", "fingerprint", "startsAt", "endsAt"):  # the fingerprint is short or a hash
        value = read_str(alert.get(name))
        if value is not None:
            fitted[name] = value if name == "fingerprint" else _clip(value, MAX_SCALAR_BYTES)
    if not fitted.get("fingerprint"):  # as normalise keys it: the fingerprint of the whole labels, as parse reads them
        fitted["fingerprint"] = fingerprint(
            {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in labels.items()}
        )
    label_entries = _entries("labels", labels, _FIRST_LABELS)
    annotation_entries = _entries("annotations", alert.get("annotations"), (*_FIRST_ANNOTATIONS, *_LATER_ANNOTATIONS))
    entries = [
        *[e for e in label_entries if e.name in _FIRST_LABELS],
        *[e for e in annotation_entries if e.name in _FIRST_ANNOTATIONS],
        *[e for e in label_entries if e.name not in _FIRST_LABELS],
        *[e for e in annotation_entries if e.name not in _FIRST_ANNOTATIONS],
    ]
    generator = alert.get("generatorURL")
    if isinstance(generator, str):
        entries.append(_Entry(None, "generatorURL", generator, url=True))
    fitted["labels"], fitted["annotations"] = {}, {}
    cut, left_out = _place(fitted, entries, budget - _cost(fitted) - _NOTE_ROOM, cuts)
    if cut or left_out:
        fitted["annotations"][NOTE] = (
            f"{cut} values cut, {left_out} labels or annotations left out: the alert was larger than an SNS message"
        )
    return fitted


def _entries(where: str, mapping: Any, first: tuple[str, ...]) -> list[_Entry]:
    """The string entries of a mapping, those named in `first` first, in that order."""
    if not isinstance(mapping, dict):
        return []
    ranked = [n for n in first if n in mapping] + [n for n in mapping if n not in first]
    return [
        _Entry(where, str(n), v, url=v.startswith(("http://", "https://")))
        for n in ranked
        if isinstance(v := mapping[n], str)
    ]


def _place(target: dict[str, Any], entries: list[_Entry], budget: int, cuts: _Cuts) -> tuple[int, int]:
    """Put `entries` (best first) into `target` in `budget` bytes: keep the longest run of them that fits at
    `MIN_VALUE_BYTES` each, then give every value the same largest share that fits ("water-filling"), cutting only
    values longer than it. Names are cut to `MAX_NAME_BYTES`. Returns (values cut, entries left out)."""
    for entry in entries:
        if entry.overhead - 2 > MAX_NAME_BYTES:
            entry.name = _clip(entry.name, MAX_NAME_BYTES) or ""
            entry.overhead = _cost(entry.name) + 2
    kept, spent = 0, 0
    for entry in entries:
        spent += entry.overhead + min(entry.size, MIN_VALUE_BYTES)
        if spent > budget:
            break
        kept += 1
    share = _share([e.size for e in entries[:kept]], budget - sum(e.overhead for e in entries[:kept]))
    cut, left_out = 0, len(entries) - kept
    for entry in entries[:kept]:
        value: str | None = entry.value
        if entry.size > share:
            value = None if entry.url else _clip(entry.value, share)
        mapping = target if entry.where is None else target[entry.where]
        if value is None or entry.name in mapping:
            left_out += 1
            continue
        cut += value is not entry.value
        mapping[entry.name] = value
    cuts.values_cut += cut
    cuts.entries_left_out += left_out
    return cut, left_out


def _share(sizes: list[int], room: int) -> int:
    """The largest share s with sum(min(size, s)) <= room (every size fits: a share no value reaches)."""
    if sum(sizes) <= room:
        return max(sizes, default=0)
    spent = 0
    ordered = sorted(sizes)
    for index, size in enumerate(ordered):
        left = len(ordered) - index
        if spent + left * size > room:
            return max((room - spent) // left, 0)
        spent += size
    return max(ordered)  # not reached: the sum exceeded room


PUBLISHED_SECONDS = 15 * 60  # how long a retry may skip a part that went: Alertmanager retries within minutes


def _part_mark(topic_arn: str, part: str) -> str:
    """Names one part of a split body: the same on Alertmanager's retry, which sends the same bytes."""
    return hashlib.sha256(f"{topic_arn}\x00{part}".encode()).hexdigest()


def _subject(message: AlertmanagerMessage) -> str:
    """SNS wants a subject under 100 characters, printable ASCII is safest."""
    firing = sum(1 for a in message.alerts if a.status == "firing")
    name = message.group_labels.get("alertname") or message.common_labels.get("alertname") or "alerts"
    state = f"[FIRING:{firing}]" if firing else "[RESOLVED]"
    return _printable(f"{state} {name}")[:99]


def _severity_word(message: AlertmanagerMessage) -> str:
    words = [a.labels.get("severity", "") for a in message.alerts if a.status == "firing"] or [
        a.labels.get("severity", "") for a in message.alerts
    ]
    ranked = sorted(words, key=_rank, reverse=True)
    return _printable(ranked[0] if ranked else "")[:100].strip() or "none"


def _printable(text: str) -> str:
    """Printable ASCII, what SNS takes in a subject or a string attribute whatever the sender wrote."""
    return "".join(c if c.isprintable() else " " for c in text.encode("ascii", "replace").decode())


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

    def refund(self, source: str, alerts: int, now: float) -> None:
        """An atomic ADD of the negative amount to the window's item, only while it holds at least that much: it
        never goes below zero and never creates an item. A failure is logged, never raised over the publish's."""
        from botocore.exceptions import BotoCoreError, ClientError

        minute = int(now // 60)
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"rate#{source}#{minute}"}},
                UpdateExpression="ADD alerts :minus",
                ConditionExpression="alerts >= :n",
                ExpressionAttributeValues={":minus": {"N": str(-alerts)}, ":n": {"N": str(alerts)}},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return  # the item is gone (TTL) or holds less: nothing to return
        except (BotoCoreError, ClientError) as exc:
            logger.warning("rate-limit refund failed", extra={"reason": type(exc).__name__, "source": source})

    def remember_published(self, marks: list[str], now: float) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        for mark in marks:
            try:
                self.client.put_item(
                    TableName=self.table,
                    Item={"pk": {"S": f"published#{mark}"}, "expires_at": {"N": str(int(now) + PUBLISHED_SECONDS)}},
                )
            except (BotoCoreError, ClientError) as exc:  # the retry publishes the part again: a duplicate, no loss
                logger.warning("published part not recorded", extra={"reason": type(exc).__name__})
                return

    def take_published(self, mark: str, now: float) -> bool:
        """A conditional delete: it succeeds only on a record that exists and has not expired (DynamoDB's TTL
        deletes late), so two retries never both skip a part, and a later identical body is published whole."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_item(
                TableName=self.table,
                Key={"pk": {"S": f"published#{mark}"}},
                ConditionExpression="attribute_exists(pk) AND expires_at > :now",
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        except (BotoCoreError, ClientError) as exc:  # unsure: publish it (a duplicate at worst, never a loss)
            logger.warning("published part not checked", extra={"reason": type(exc).__name__})
            return False
        return True

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
