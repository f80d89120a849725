"""Local stand-ins for PagerDuty's Events API v2 and Slack's incoming webhooks: real HTTP servers on 127.0.0.1.

They check what they receive against the documented contracts (PROTOCOLS.md section 2) and answer as the real
services do: PagerDuty 202 `{"status": "success", ...}` or 400 with errors; Slack 200 `ok` or 400 `invalid_blocks`.
A test can script the next answers (`script`): a status with an optional `Retry-After`, a delay, or a
connection reset, to exercise retries; or one of the faults after which the request *was* taken: answered past
the client's read time-out (`hold`), reset after accepting (`reset_after_accept`), or accepted slowly (`delay`
with no status). `Chaos` draws such faults at random, and whole outages in windows of its clock. Everything
received is kept in `received`, in order, with the fault it met.

Both enforce the services' rate limits by default (`limits=True`; a test that needs none says `limits=False`): the
Slack webhook takes 1 message per second per webhook with a burst of 2 (a token bucket), else 429 with
`Retry-After: 1`; PagerDuty takes 120 events per routing key per sliding 60 seconds, else 429 (PagerDuty documents
no `Retry-After`). Only a request the service would accept takes a token; a refused one takes none. Every request
is recorded with when it was judged (`at`, on the stand-in's `clock`) and whether the limit refused it (`limited`);
`stats()` counts what was accepted and refused, and the most accepted per second and per sliding minute for one
webhook or routing key.
"""

from __future__ import annotations

import json
import math
import re
import socket
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# PagerDuty's `timestamp` is a JSON-schema date-time: RFC 3339, offsets in hours and minutes only
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})")

PAGERDUTY_ACTIONS = ("trigger", "acknowledge", "resolve")
PAGERDUTY_SEVERITIES = ("critical", "error", "warning", "info")


@dataclass
class Answer:
    """A scripted answer: `status` (with `body` and `retry_after`), after `delay` seconds, or a `reset` (nothing
    accepted). With no `status` the request is judged as the real service would, after `delay`: a slow 2xx. Once
    judged, `hold` seconds pass before the answer is written (accepted, then answered too late), or the connection
    is reset instead of answering (`reset_after_accept`). `fault` names it in the counts."""

    status: int = 0  # 0: answer as the real service would
    body: str = ""
    retry_after: float | None = None
    delay: float = 0.0
    reset: bool = False
    hold: float = 0.0
    reset_after_accept: bool = False
    fault: str = ""


# Faults after which nothing was accepted, and faults after which the request was accepted but its answer is lost.
REFUSING_FAULTS = ("500", "503", "429", "timeout", "reset")
ACCEPTING_FAULTS = ("accepted-then-timeout", "accepted-then-reset", "slow-2xx")
OUTAGE_KINDS = ("503", "reset", "slow-2xx")  # every request refused; reset unanswered; accepted but answered late


@dataclass(frozen=True)
class Outage:
    """From `start` for `seconds` (on the chaos clock) every request meets `kind` (one of `OUTAGE_KINDS`)."""

    start: float
    seconds: float
    kind: str = "503"


@dataclass
class Chaos:
    """Fail `rate` of the requests, at random but repeatably (`seed`), with one of `faults`: 500, 503, 429 with
    Retry-After, a reply slower than the client waits (`slow` seconds, then 504), or a connection reset (none of
    these accepted); or accepted and then answered `slow` seconds late, accepted and then reset, accepted only
    after `slow` seconds (`ACCEPTING_FAULTS`). During an `Outage` (by `clock`), every request meets its kind."""

    rate: float
    seed: int = 7
    slow: float = 0.5
    faults: tuple[str, ...] = REFUSING_FAULTS
    outages: tuple[Outage, ...] = ()
    clock: Callable[[], float] = time.monotonic
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        import random

        self._random = random.Random(self.seed)
        self._lock = threading.Lock()

    def draw(self) -> Answer | None:
        now = self.clock()
        outage = next((o for o in self.outages if o.start <= now < o.start + o.seconds), None)
        with self._lock:
            if outage is not None:
                fault = f"outage-{outage.kind}"
            elif self._random.random() >= self.rate:
                return None
            else:
                fault = self._random.choice(self.faults)
            self.counts[fault] = self.counts.get(fault, 0) + 1
        return self.answer(fault)

    def answer(self, fault: str) -> Answer:
        kind = fault.removeprefix("outage-")
        if kind == "429":
            return Answer(status=429, body="rate_limited", retry_after=1, fault=fault)
        if kind == "timeout":
            return Answer(status=504, body="gateway_timeout", delay=self.slow, fault=fault)
        if kind == "reset":
            return Answer(reset=True, fault=fault)
        if kind == "accepted-then-timeout":
            return Answer(hold=self.slow, fault=fault)
        if kind == "accepted-then-reset":
            return Answer(reset_after_accept=True, fault=fault)
        if kind == "slow-2xx":
            return Answer(delay=self.slow, fault=fault)
        return Answer(status=int(kind), body="server_error", fault=fault)


class RateLimit:
    """A service's rate limit per key (a webhook, a routing key): `admit` answers None when the request is taken
    (and counts it), else the seconds to wait before asking again."""

    def admit(self, key: str, now: float) -> float | None:
        raise NotImplementedError

    def reset(self) -> None:
        raise NotImplementedError


class TokenBucket(RateLimit):
    """`rate` requests per second per key, `burst` at once: a key's bucket holds up to `burst` tokens, refilled at
    `rate` per second; a request takes one, or waits for the next."""

    def __init__(self, rate: float = 1.0, burst: int = 2) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when counted)

    def admit(self, key: str, now: float) -> float | None:
        tokens, then = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(now - then, 0.0) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return None
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def reset(self) -> None:
        self._buckets.clear()


class SlidingWindow(RateLimit):
    """At most `events` requests per key within any `window` seconds."""

    def __init__(self, events: int = 120, window: float = 60.0) -> None:
        self.events = events
        self.window = window
        self._taken: dict[str, deque[float]] = {}

    def admit(self, key: str, now: float) -> float | None:
        taken = self._taken.setdefault(key, deque())
        while taken and taken[0] <= now - self.window:
            taken.popleft()
        if len(taken) >= self.events:
            return taken[0] + self.window - now
        taken.append(now)
        return None

    def reset(self) -> None:
        self._taken.clear()


SLACK_RETRY_AFTER = 1  # seconds, as Slack answers a webhook's 429


def service_limit(kind: str) -> RateLimit:
    """The documented limit of the service a stand-in plays: Slack's incoming webhooks 1 message per second (short
    bursts allowed), PagerDuty's Events API v2 120 events per minute per routing key."""
    return SlidingWindow(events=120, window=60.0) if kind == "pagerduty" else TokenBucket(rate=1.0, burst=2)


def max_in_window(times: list[float], window: float) -> int:
    """The most of `times` within any half-open window [t, t + `window`)."""
    ordered = sorted(times)
    most = first = 0
    for last, at in enumerate(ordered):
        while at - ordered[first] >= window:
            first += 1
        most = max(most, last - first + 1)
    return most


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes
    answered: int = 0
    problems: list[str] = field(default_factory=list)
    fault: str = ""  # the fault this request met ("" when none)
    at: float = 0.0  # when it was judged, on the stand-in's clock (arrival, then the moment it was answered)
    limited: bool = False  # refused (429) by the rate limit
    key: str = ""  # what the limit counts by: the webhook's path, the event's routing key

    @property
    def accepted(self) -> bool:
        return self.answered in (200, 202)


class StandIn:
    """One stand-in server; `kind` is "pagerduty" or "slack"."""

    def __init__(self, kind: str, host: str = "127.0.0.1", port: int = 0, *, limits: bool = True) -> None:
        self.kind = kind
        # The service's rate limit (`service_limit`); None when a test switches it off (`limits=False`).
        self.limit: RateLimit | None = service_limit(kind) if limits else None
        self.clock: Callable[[], float] = time.monotonic  # the limit's time and each request's `at`
        self.chaos: Chaos | None = None  # when set, that share of requests fails at random
        self.received: list[Received] = []
        self.connections = 0  # TCP connections accepted: keep-alive shows as fewer connections than requests
        self.script: deque[Answer] = deque()
        self.lock = threading.Lock()
        self.sleep: Callable[[float], None] = time.sleep  # how delays pass (a run on a faster clock scales them)
        self.busy = 0  # requests being handled: `idle()` waits for the late ones
        self.server = _Server((host, port), _handler_for(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            # stop() returns within 50 ms, not the half second socketserver polls by default (twice per test)
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{kind}-stand-in",
            daemon=True,
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        path = "/v2/enqueue" if self.kind == "pagerduty" else "/services/T000/B000/XXXXXXXX"
        return f"http://{host!s}:{port}{path}"

    def start(self) -> StandIn:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def then(self, *answers: Answer) -> StandIn:
        with self.lock:
            self.script.extend(answers)
        return self

    def accepted(self) -> list[Received]:
        return [r for r in self.received if r.answered in (200, 202)]

    def idle(self, timeout: float = 30.0) -> bool:
        """Wait until no request is being handled (a slow one accepts late): True when idle."""
        ends = time.monotonic() + timeout
        while time.monotonic() < ends:
            with self.lock:
                if not self.busy:
                    return True
            time.sleep(0.01)
        return False

    def clear(self) -> None:
        with self.lock:
            self.received.clear()
            self.script.clear()
            if self.limit is not None:
                self.limit.reset()

    def stats(self, since: float | None = None) -> dict[str, int]:
        """What was accepted and refused by the rate limit (from `since` on the stand-in's clock), and the most
        accepted within one second and within one sliding minute for one key (webhook or routing key)."""
        with self.lock:
            records = [r for r in self.received if since is None or r.at >= since]
        by_key: dict[str, list[float]] = {}
        for record in records:
            if record.accepted:
                by_key.setdefault(record.key, []).append(record.at)
        return {
            "accepted": sum(len(times) for times in by_key.values()),
            "refused": sum(1 for r in records if r.limited),
            "max_per_second": max((max_in_window(t, 1.0) for t in by_key.values()), default=0),
            "max_per_minute": max((max_in_window(t, 60.0) for t in by_key.values()), default=0),
        }

    def limit_key(self, path: str, body: Any) -> str:
        """A webhook is its URL's path; PagerDuty counts by routing key."""
        if self.kind == "pagerduty":
            return str(body.get("routing_key")) if isinstance(body, dict) else ""
        return path

    # -- the contracts -------------------------------------------------------------------------------------------

    def judge(self, body: Any, raw: bytes) -> tuple[int, str, list[str]]:
        problems = pagerduty_problems(body, len(raw)) if self.kind == "pagerduty" else slack_problems(body)
        if self.kind == "pagerduty":
            if problems:
                answer = {"status": "invalid event", "message": "Event object is invalid", "errors": problems}
                return 400, json.dumps(answer), problems
            key = body.get("dedup_key") or f"generated-{len(self.received)}"
            return 202, json.dumps({"status": "success", "message": "Event processed", "dedup_key": key}), []
        if problems:
            return 400, "invalid_blocks", problems
        return 200, "ok", []


def pagerduty_problems(body: Any, size: int) -> list[str]:
    """What PagerDuty would refuse in an Events API v2 body (PROTOCOLS.md 2.1, PagerDuty's api-schema): an event
    over 512 KB; routing_key (32 characters); event_action; dedup_key (a string of at most 255, required to
    acknowledge or resolve); a trigger's payload: summary (1-1024), source, severity, an ISO 8601 timestamp,
    component/group/class strings, custom_details an object; client a string, client_url a URL; links
    [{href (URL), text?}], images [{src (https URL), href? (URL), alt?}]; and no NaN or infinity (not JSON)."""

    url = re.compile(r"https?://[^\s/?#][^\s]*", re.IGNORECASE)

    def is_url(value: Any, *, https: bool = False) -> bool:
        return isinstance(value, str) and url.fullmatch(value) is not None and (not https or value[4:5] in "sS")

    if not isinstance(body, dict):
        return ["body is not a JSON object"]
    problems: list[str] = []
    if size > 512 * 1024:
        problems.append("event larger than 512 KB")
    key = body.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        problems.append("routing_key must be 32 characters")
    action = body.get("event_action")
    if action not in PAGERDUTY_ACTIONS:
        problems.append("event_action must be trigger, acknowledge or resolve")
    dedup = body.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or len(dedup) > 255):
        problems.append("dedup_key must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and not dedup:
        problems.append("dedup_key is required to acknowledge or resolve")
    if action == "trigger":
        payload = body.get("payload")
        if not isinstance(payload, dict):
            problems.append("payload is required to trigger")
            payload = {}
        summary = payload.get("summary")
        if payload and (not isinstance(summary, str) or not 1 <= len(summary) <= 1024):
            problems.append("payload.summary must be 1-1024 characters")
        if payload and (not isinstance(payload.get("source"), str) or not payload["source"]):
            problems.append("payload.source is required")
        if payload and payload.get("severity") not in PAGERDUTY_SEVERITIES:
            problems.append("payload.severity must be critical, error, warning or info")
        timestamp = payload.get("timestamp")
        if timestamp is not None and (not isinstance(timestamp, str) or not RFC3339.fullmatch(timestamp)):
            problems.append("payload.timestamp must be an RFC 3339 date-time")
        for name in ("component", "group", "class"):
            if name in payload and not isinstance(payload[name], str):
                problems.append(f"payload.{name} must be a string")
        if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
            problems.append("payload.custom_details must be an object")
    if "client" in body and not isinstance(body["client"], str):
        problems.append("client must be a string")
    if "client_url" in body and not is_url(body["client_url"]):
        problems.append("client_url must be an http(s) URL")
    links = body.get("links", [])
    if not isinstance(links, list):
        problems.append("links must be a list")
        links = []
    for link in links:
        if not isinstance(link, dict) or not is_url(link.get("href")):
            problems.append("links must be objects with an http(s) href")
        elif "text" in link and not isinstance(link["text"], str):
            problems.append("a link's text must be a string")
    images = body.get("images", [])
    if not isinstance(images, list):
        problems.append("images must be a list")
        images = []
    for image in images:
        if not isinstance(image, dict) or not isinstance(image.get("src"), str):
            problems.append("images must be objects with a src")
        elif not is_url(image["src"], https=True):
            problems.append("an image's src must be an https URL")
        elif "href" in image and not is_url(image["href"]):
            problems.append("an image's href must be an http(s) URL")
        elif "alt" in image and not isinstance(image["alt"], str):
            problems.append("an image's alt must be a string")
    stack: list[Any] = [body]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, float) and not math.isfinite(value):
            problems.append("NaN or infinity is not JSON")
            break
    return problems


def slack_problems(body: Any) -> list[str]:
    """What Slack would refuse in an incoming-webhook body (PROTOCOLS.md 2.2, the Block Kit reference): `text`
    (required here, at most 40,000), at most 50 blocks, block_id at most 255 and unique; header plain_text 1-150;
    section text 1-3000 and/or at most 10 fields of 1-2000, an accessory element; context 1-10 elements (text
    1-3000, images); actions 1-25 elements; button plain_text 1-75, url 3000, value 2000, action_id 255 and unique,
    style primary or danger; image url 3000 and alt_text 1-2000; divider; at most 100 attachments (color and
    fallback strings, their blocks judged alike); about 13,000 characters of block text in all."""
    if not isinstance(body, dict):
        return ["body is not a JSON object"]
    problems: list[str] = []
    total = 0
    block_ids: set[str] = set()
    action_ids: set[str] = set()

    def text_object(value: Any, where: str, limit: int, kinds: tuple[str, ...] = ("plain_text", "mrkdwn")) -> None:
        nonlocal total
        if not isinstance(value, dict) or value.get("type") not in kinds:
            problems.append(f"{where}: text object must be of type {' or '.join(kinds)}")
            return
        text = value.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= limit:
            problems.append(f"{where} must be 1-{limit} characters")
            return
        total += len(text)

    def image(value: dict[str, Any], where: str) -> None:
        link = value.get("image_url")
        if not isinstance(link, str) or not 1 <= len(link) <= 3000:
            problems.append(f"{where}: image_url must be 1-3000 characters")
        alt = value.get("alt_text")
        if not isinstance(alt, str) or not 1 <= len(alt) <= 2000:
            problems.append(f"{where}: alt_text must be 1-2000 characters")

    def element(value: Any, where: str) -> None:
        if not isinstance(value, dict) or value.get("type") not in ("button", "image"):
            problems.append(f"{where}: unexpected element {value.get('type') if isinstance(value, dict) else value!r}")
            return
        if value["type"] == "image":
            image(value, where)
            return
        text_object(value.get("text"), f"{where}: button text", 75, ("plain_text",))
        link = value.get("url", "")
        if not isinstance(link, str) or len(link) > 3000:
            problems.append(f"{where}: button url over 3000 characters")
        if not isinstance(value.get("value", ""), str) or len(value.get("value", "")) > 2000:
            problems.append(f"{where}: button value over 2000 characters")
        action_id = value.get("action_id")
        if action_id is not None and (not isinstance(action_id, str) or len(action_id) > 255):
            problems.append(f"{where}: action_id over 255 characters")
        elif action_id is not None and action_id in action_ids:
            problems.append(f"{where}: duplicate action_id {action_id!r}")
        elif action_id is not None:
            action_ids.add(action_id)
        if value.get("style", "primary") not in ("primary", "danger"):
            problems.append(f"{where}: button style must be primary or danger")

    def block(value: Any, where: str) -> None:
        if not isinstance(value, dict):
            problems.append(f"{where}: block is not an object")
            return
        kind = value.get("type")
        block_id = value.get("block_id")
        if block_id is not None and (not isinstance(block_id, str) or not 1 <= len(block_id) <= 255):
            problems.append(f"{where}: block_id must be 1-255 characters")
        elif block_id is not None and block_id in block_ids:
            problems.append(f"{where}: duplicate block_id {block_id!r}")
        elif block_id is not None:
            block_ids.add(block_id)
        if kind == "header":
            text_object(value.get("text"), f"{where}: header", 150, ("plain_text",))
        elif kind == "section":
            if "text" not in value and "fields" not in value:
                problems.append(f"{where}: section needs text or fields")
            if "text" in value:
                text_object(value["text"], f"{where}: section text", 3000)
            fields = value.get("fields", [])
            if not isinstance(fields, list) or len(fields) > 10:
                problems.append(f"{where}: more than 10 fields")
                fields = []
            for index, item in enumerate(fields):
                text_object(item, f"{where}: field {index}", 2000)
            if "accessory" in value:
                element(value["accessory"], f"{where}: accessory")
        elif kind == "context":
            elements = value.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
                problems.append(f"{where}: context needs 1-10 elements")
                elements = []
            for index, item in enumerate(elements):
                if isinstance(item, dict) and item.get("type") == "image":
                    image(item, f"{where}: context image {index}")
                else:
                    text_object(item, f"{where}: context element {index}", 3000)
        elif kind == "actions":
            elements = value.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
                problems.append(f"{where}: actions need 1-25 elements")
                elements = []
            for index, item in enumerate(elements):
                element(item, f"{where}: element {index}")
        elif kind == "image":
            image(value, where)
            if "title" in value:
                text_object(value["title"], f"{where}: image title", 2000, ("plain_text",))
        elif kind != "divider":
            problems.append(f"{where}: unexpected block type {kind!r}")

    text = body.get("text")
    if not isinstance(text, str) or not text:
        problems.append("no_text")
    elif len(text) > 40_000:
        problems.append("text over 40,000 characters")
    blocks = body.get("blocks", [])
    if not isinstance(blocks, list):
        problems.append("blocks must be a list")
        blocks = []
    attachments = body.get("attachments", [])
    if not isinstance(attachments, list) or len(attachments) > 100:
        problems.append("attachments must be a list of at most 100")
        attachments = []
    listed = [(f"block {i}", b) for i, b in enumerate(blocks)]
    for index, attachment in enumerate(attachments):
        if not isinstance(attachment, dict):
            problems.append(f"attachment {index} is not an object")
            continue
        for name in ("color", "fallback", "text", "pretext", "title"):
            if name in attachment and not isinstance(attachment[name], str):
                problems.append(f"attachment {index}: {name} must be a string")
        inner = attachment.get("blocks", [])
        if not isinstance(inner, list):
            problems.append(f"attachment {index}: blocks must be a list")
            inner = []
        listed += [(f"attachment {index} block {i}", b) for i, b in enumerate(inner)]
    if len(listed) > 50:
        problems.append(f"{len(listed)} blocks, more than 50")
    for where, value in listed:
        block(value, where)
    if total > 13_000:
        problems.append("msg_blocks_too_long")
    return problems


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up, or a reset we injected, is not an error worth a traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


def _handler_for(stand_in: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the real services

        def setup(self) -> None:
            super().setup()
            # As real services do: no Nagle delay between the headers and the body of an answer.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with stand_in.lock:
                stand_in.connections += 1

        def do_POST(self) -> None:
            with stand_in.lock:
                stand_in.busy += 1
            try:
                self._post()
            finally:
                with stand_in.lock:
                    stand_in.busy -= 1

        def _reset(self) -> None:
            # An RST instead of an answer: SO_LINGER with a zero timeout, then close.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True

        def _post(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = None
            with stand_in.lock:
                answer = stand_in.script.popleft() if stand_in.script else None
            if answer is None:
                answer = (stand_in.chaos.draw() if stand_in.chaos else None) or Answer()
            record = Received(path=self.path, headers=dict(self.headers.items()), body=body, raw=raw)
            record.fault = answer.fault
            record.at = stand_in.clock()
            record.key = stand_in.limit_key(self.path, body)
            with stand_in.lock:
                stand_in.received.append(record)
            if answer.delay:
                stand_in.sleep(answer.delay)
            if answer.reset:
                self._reset()
                return
            retry_after = answer.retry_after
            if answer.status:
                status, text, problems = answer.status, answer.body, list[str]()
            else:
                status, text, problems = stand_in.judge(body, raw)
                if status < 300 and stand_in.limit is not None:
                    with stand_in.lock:
                        record.at = stand_in.clock()
                        wait = stand_in.limit.admit(record.key, record.at)
                    if wait is not None:
                        record.limited = True
                        status, problems = 429, []
                        if stand_in.kind == "pagerduty":
                            text = json.dumps({"status": "throttle event", "message": "Requests for this service "
                                               "are arriving too quickly. Please retry later."})  # fmt: skip
                        else:
                            text, retry_after = "rate_limited", SLACK_RETRY_AFTER
            record.answered = status
            record.problems = problems
            if answer.reset_after_accept:
                self._reset()
                return
            if answer.hold:
                stand_in.sleep(answer.hold)
            data = text.encode()
            self.send_response(status)
            content_type = "application/json" if stand_in.kind == "pagerduty" else "text/html"
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            if retry_after is not None:
                self.send_header("Retry-After", f"{retry_after:g}")
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting: as it may
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
