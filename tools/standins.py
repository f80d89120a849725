"""Local stand-ins for PagerDuty's Events API v2 and Slack's incoming webhooks: real HTTP servers on 127.0.0.1.

They check what they receive against the documented contracts (PROTOCOLS.md section 2) and answer as the real
services do: PagerDuty 202 `{"status": "success", ...}` or 400 with errors; Slack 200 `ok` or 400 `invalid_blocks`.
A test can script the next answers (`script`): a status with an optional `Retry-After`, a delay, or a
connection reset, to exercise retries. Everything received is kept in `received`, in order.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PAGERDUTY_ACTIONS = ("trigger", "acknowledge", "resolve")
PAGERDUTY_SEVERITIES = ("critical", "error", "warning", "info")


@dataclass
class Answer:
    """A scripted answer: `status` (with `body` and `retry_after`), after `delay` seconds, or a `reset`."""

    status: int = 0  # 0: answer as the real service would
    body: str = ""
    retry_after: float | None = None
    delay: float = 0.0
    reset: bool = False


@dataclass
class Chaos:
    """Fail `rate` of the requests, at random but repeatably (`seed`): 500, 503, 429 with Retry-After, a reply
    slower than the client waits (`slow` seconds, then 504), or a connection reset. Nothing failed is accepted."""

    rate: float
    seed: int = 7
    slow: float = 0.5
    faults: tuple[str, ...] = ("500", "503", "429", "timeout", "reset")
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        import random

        self._random = random.Random(self.seed)
        self._lock = threading.Lock()

    def draw(self) -> Answer | None:
        with self._lock:
            if self._random.random() >= self.rate:
                return None
            fault = self._random.choice(self.faults)
            self.counts[fault] = self.counts.get(fault, 0) + 1
        if fault == "429":
            return Answer(status=429, body="rate_limited", retry_after=1)
        if fault == "timeout":
            return Answer(status=504, body="gateway_timeout", delay=self.slow)
        if fault == "reset":
            return Answer(reset=True)
        return Answer(status=int(fault), body="server_error")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes
    answered: int = 0
    problems: list[str] = field(default_factory=list)


class StandIn:
    """One stand-in server; `kind` is "pagerduty" or "slack"."""

    def __init__(self, kind: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.kind = kind
        self.chaos: Chaos | None = None  # when set, that share of requests fails at random
        self.received: list[Received] = []
        self.connections = 0  # TCP connections accepted: keep-alive shows as fewer connections than requests
        self.script: deque[Answer] = deque()
        self.lock = threading.Lock()
        self.server = _Server((host, port), _handler_for(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name=f"{kind}-stand-in", daemon=True)

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

    def clear(self) -> None:
        with self.lock:
            self.received.clear()
            self.script.clear()

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
    """What PagerDuty would refuse in an Events API v2 body."""
    problems: list[str] = []
    if not isinstance(body, dict):
        return ["body is not a JSON object"]
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
        else:
            summary = payload.get("summary")
            if not isinstance(summary, str) or not 1 <= len(summary) <= 1024:
                problems.append("payload.summary must be 1-1024 characters")
            if not isinstance(payload.get("source"), str) or not payload["source"]:
                problems.append("payload.source is required")
            if payload.get("severity") not in PAGERDUTY_SEVERITIES:
                problems.append("payload.severity must be critical, error, warning or info")
    for link in body.get("links") or []:
        if not isinstance(link, dict) or not isinstance(link.get("href"), str):
            problems.append("links must be objects with href")
    return problems


def slack_problems(body: Any) -> list[str]:
    """What Slack would refuse in an incoming-webhook body (Block Kit limits)."""
    if not isinstance(body, dict):
        return ["body is not a JSON object"]
    problems: list[str] = []
    text = body.get("text")
    if not isinstance(text, str) or not text:
        problems.append("no_text")
    elif len(text) > 40_000:
        problems.append("text over 40,000 characters")
    blocks = list(body.get("blocks") or [])
    for attachment in body.get("attachments") or []:
        blocks.extend(attachment.get("blocks") or [])
    if len(blocks) > 50:
        problems.append(f"{len(blocks)} blocks, more than 50")
    total = 0
    action_ids: set[str] = set()
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            header = block["text"]["text"]
            total += len(header)
            if block["text"].get("type") != "plain_text" or len(header) > 150:
                problems.append("header must be plain_text of at most 150 characters")
        elif kind == "section":
            if "text" in block:
                section = block["text"]["text"]
                total += len(section)
                if not section or len(section) > 3000:
                    problems.append("section text must be 1-3000 characters")
            fields = block.get("fields") or []
            if len(fields) > 10:
                problems.append("more than 10 fields")
            for item in fields:
                total += len(item["text"])
                if len(item["text"]) > 2000:
                    problems.append("field over 2000 characters")
        elif kind == "actions":
            elements = block.get("elements") or []
            if len(elements) > 25:
                problems.append("more than 25 actions")
            for element in elements:
                if len(element["text"]["text"]) > 75 or len(element.get("url", "")) > 3000:
                    problems.append("button text over 75 or url over 3000")
                action_id = element.get("action_id")
                if action_id in action_ids:
                    problems.append("duplicate action_id")
                action_ids.add(action_id)
        elif kind == "context":
            elements = block.get("elements") or []
            if len(elements) > 10:
                problems.append("more than 10 context elements")
            total += sum(len(e.get("text", "")) for e in elements)
        else:
            problems.append(f"unexpected block type {kind!r}")
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
            with stand_in.lock:
                stand_in.received.append(record)
            if answer.delay:
                time.sleep(answer.delay)
            if answer.reset:
                # An RST instead of an answer: SO_LINGER with a zero timeout, then close.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
                return
            if answer.status:
                status, text, problems = answer.status, answer.body, list[str]()
            else:
                status, text, problems = stand_in.judge(body, raw)
            record.answered = status
            record.problems = problems
            data = text.encode()
            self.send_response(status)
            content_type = "application/json" if stand_in.kind == "pagerduty" else "text/html"
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            if answer.retry_after is not None:
                self.send_header("Retry-After", f"{answer.retry_after:g}")
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting: as it may
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
