"""A local stand-in for the Slack Web API with a bot token (PROTOCOLS-NEXT.md sections 1 and 3): a real HTTP server
on 127.0.0.1, run in a thread like `tools.standins`' PagerDuty and webhook stand-ins.

Methods: `chat.postMessage`, `chat.update`, `files.getUploadURLExternal` (its `upload_url` is on this server),
the upload POST, `files.completeUploadExternal`, `conversations.info`, `usergroups.users.list` (the members of
`usergroups`; an unknown group `no_such_subteam`). Each answers as Slack does: HTTP 200 with
`{"ok": true, ...}`, or HTTP 200 with `{"ok": false, "error": code}`: a missing token `not_authed`, a wrong one
`invalid_auth`, a revoked one `token_revoked`; `channel_not_found`, `not_in_channel`, `is_archived`; `no_text`;
`invalid_blocks` when there are more than 50 blocks or a block breaks Block Kit's limits (judged by
`tools.standins.slack_problems`, with `response_metadata.messages` saying which); `msg_too_long` for an update over
4,000 characters; `message_not_found`, `cant_update_message` (another token's message); `invalid_thread_ts` (ours:
a reply to no message). `chat.postMessage` keeps Slack's 1 message per second per channel with a small burst
(a token bucket, `burst` 3): past it, HTTP 429, `Retry-After: 1`, `{"ok": false, "error": "ratelimited"}`.

Everything is kept for tests to assert: `messages[channel]` in order (each with its thread replies, its edits and
its files), `files`, and every call in `calls`. `fail_next(n, error)` makes the next n calls (of one method, or of
any) fail with a code, an HTTP status and a Retry-After.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tools.standins import TokenBucket, _Server, slack_problems

TOKEN = "xoxb-0000000000-0000000000000-standintokenstandintoken"
CHANNEL = "C0ALERTS01"
RETRY_AFTER = 1
MAX_POST_TEXT = 40_000
MAX_UPDATE_TEXT = 4_000
MAX_BLOCKS = 50
MAX_ALT_TEXT = 1000
_INTERACTIVE = ("static_select", "overflow", "external_select", "users_select", "datepicker", "radio_buttons")


@dataclass
class Message:
    """One message of a channel: a parent (`thread_ts` None) or a reply, as last edited, with what came before."""

    ts: str
    text: str
    blocks: list[Any]
    attachments: list[Any]
    token: str
    thread_ts: str | None = None
    reply_broadcast: bool = False
    files: list[str] = field(default_factory=list)
    edits: list[dict[str, Any]] = field(default_factory=list)  # each earlier version: text, blocks, attachments
    replies: list[Message] = field(default_factory=list)

    @property
    def edited(self) -> bool:
        return bool(self.edits)


@dataclass
class File:
    id: str
    filename: str
    length: int
    alt_txt: str = ""
    data: bytes | None = None
    title: str = ""
    channel: str | None = None
    thread_ts: str | None = None


@dataclass
class Call:
    method: str
    body: dict[str, Any]
    headers: dict[str, str]
    status: int = 0
    error: str = ""  # the `ok: false` code, "" when ok
    at: float = 0.0


@dataclass
class Failure:
    error: str
    status: int = 200
    retry_after: float | None = None
    method: str | None = None  # None: whatever method comes next


class SlackApiStandIn:
    """The stand-in server. `channels` exist and the app is in them; `archived` and `outside` (not a member) exist
    too. `tokens` are valid bot tokens; `revoked` answer `token_revoked`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tokens: tuple[str, ...] = (TOKEN,),
        channels: tuple[str, ...] = (CHANNEL,),
        archived: tuple[str, ...] = (),
        outside: tuple[str, ...] = (),
        revoked: tuple[str, ...] = (),
        limits: bool = True,
        burst: int = 3,
        usergroups: dict[str, list[str]] | None = None,
    ) -> None:
        self.tokens = set(tokens)
        self.usergroups: dict[str, list[str]] = dict(usergroups or {})  # user group id -> its members' user ids
        self.revoked = set(revoked)
        self.channels = set(channels)
        self.archived = set(archived)
        self.outside = set(outside)
        self.limit: TokenBucket | None = TokenBucket(rate=1.0, burst=burst) if limits else None
        self.clock: Callable[[], float] = time.monotonic
        self.messages: dict[str, list[Message]] = {}
        self.files: dict[str, File] = {}
        self.calls: list[Call] = []
        self.failures: deque[Failure] = deque()
        self.on_call: Callable[[Call], None] | None = None  # told of each call once answered (tools.serve prints)
        self.lock = threading.Lock()
        self._serial = itertools.count(1)
        self._epoch = 1_796_000_000  # ts seconds: increasing, fixed, so tests read the same ts every run
        self.server = _Server((host, port), _handler_for(self))
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="slack-api-stand-in", daemon=True
        )

    # -- life -----------------------------------------------------------------------------------------------------

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def url(self) -> str:
        """The Web API's base URL, for `SlackApi(api_url=...)`."""
        return self.base + "/api/"

    def start(self) -> SlackApiStandIn:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> SlackApiStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- for tests ----------------------------------------------------------------------------------------------

    def fail_next(
        self, count: int, error: str, *, status: int = 200, retry_after: float | None = None, method: str | None = None
    ) -> SlackApiStandIn:
        """The next `count` calls (of `method`, or of any method) answer `error` with HTTP `status`."""
        with self.lock:
            self.failures.extend(Failure(error, status, retry_after, method) for _ in range(count))
        return self

    def parents(self, channel: str = CHANNEL) -> list[Message]:
        with self.lock:
            return list(self.messages.get(channel, []))

    def find(self, channel: str, ts: str) -> Message | None:
        """A message of `channel` by its ts, parent or reply."""
        with self.lock:
            return self._find(channel, ts)

    def replies(self, channel: str, ts: str) -> list[Message]:
        with self.lock:
            parent = self._find(channel, ts)
            return list(parent.replies) if parent is not None else []

    def calls_of(self, method: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method]

    # -- the methods ----------------------------------------------------------------------------------------------

    def _find(self, channel: str, ts: str) -> Message | None:
        for message in self.messages.get(channel, []):
            if message.ts == ts:
                return message
            for reply in message.replies:
                if reply.ts == ts:
                    return reply
        return None

    def _ts(self) -> str:
        serial = next(self._serial)
        return f"{self._epoch + serial}.{serial:06d}"

    def _channel(self, channel: Any) -> str | None:
        """The error for posting into `channel`, None when the app may."""
        if not isinstance(channel, str) or not channel:
            return "channel_not_found"
        if channel in self.archived:
            return "is_archived"
        if channel in self.outside:
            return "not_in_channel"
        if channel not in self.channels:
            return "channel_not_found"
        return None

    def answer(self, method: str, body: dict[str, Any], token: str) -> tuple[int, dict[str, Any], float | None]:
        """(HTTP status, JSON answer, Retry-After) for one call; the caller holds the lock."""
        if method == "chat.postMessage":
            return self._post_message(body, token)
        if method == "chat.update":
            return self._update(body, token)
        if method == "files.getUploadURLExternal":
            return self._upload_url(body)
        if method == "files.completeUploadExternal":
            return self._complete(body)
        if method == "conversations.info":
            channel = body.get("channel")
            if channel not in self.channels | self.archived | self.outside:
                return _no("channel_not_found")
            info = {"id": channel, "is_archived": channel in self.archived, "is_member": channel in self.channels}
            return 200, {"ok": True, "channel": info}, None
        if method == "usergroups.users.list":
            members = self.usergroups.get(str(body.get("usergroup") or ""))
            if members is None:
                return _no("no_such_subteam")
            return 200, {"ok": True, "users": list(members)}, None
        return 200, {"ok": False, "error": "unknown_method"}, None

    def _post_message(self, body: dict[str, Any], token: str) -> tuple[int, dict[str, Any], float | None]:
        channel = body.get("channel")
        refused = self._channel(channel)
        if refused:
            return _no(refused)
        assert isinstance(channel, str)
        text, blocks, attachments = body.get("text"), body.get("blocks"), body.get("attachments")
        if not text and not blocks and not attachments:
            return _no("no_text")
        problems = block_problems(body)
        if problems:
            return _no("invalid_blocks", problems)
        thread_ts = body.get("thread_ts")
        parent = None
        if thread_ts is not None:
            parent = next((m for m in self.messages.get(channel, []) if m.ts == thread_ts), None)
            if parent is None:
                return _no("invalid_thread_ts")
        if self.limit is not None:
            wait = self.limit.admit(channel, self.clock())
            if wait is not None:
                return 429, {"ok": False, "error": "ratelimited"}, RETRY_AFTER
        message = Message(
            ts=self._ts(),
            text=str(text or "")[:MAX_POST_TEXT],
            blocks=list(blocks or []),
            attachments=list(attachments or []),
            token=token,
            thread_ts=thread_ts,
            reply_broadcast=bool(body.get("reply_broadcast")),
        )
        if parent is not None:
            parent.replies.append(message)
        else:
            self.messages.setdefault(channel, []).append(message)
        answer = {"ok": True, "channel": channel, "ts": message.ts, "message": {"text": message.text}}
        return 200, answer, None

    def _update(self, body: dict[str, Any], token: str) -> tuple[int, dict[str, Any], float | None]:
        channel, ts = body.get("channel"), body.get("ts")
        refused = self._channel(channel)
        if refused:
            return _no(refused)
        assert isinstance(channel, str)
        message = self._find(channel, str(ts))
        if message is None:
            return _no("message_not_found")
        if message.token != token:
            return _no("cant_update_message")
        text = body.get("text")
        if isinstance(text, str) and len(text) > MAX_UPDATE_TEXT:
            return _no("msg_too_long")
        problems = block_problems(body)
        if problems:
            return _no("invalid_blocks", problems)
        message.edits.append(
            {"text": message.text, "blocks": copy.deepcopy(message.blocks), "attachments": message.attachments}
        )
        if isinstance(text, str):
            message.text = text
        if body.get("blocks") is not None:
            message.blocks = list(body["blocks"])
        if body.get("attachments") is not None:
            message.attachments = list(body["attachments"])
        return 200, {"ok": True, "channel": channel, "ts": message.ts, "text": message.text}, None

    def _upload_url(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], float | None]:
        filename, length = body.get("filename"), body.get("length")
        if not filename or not str(length or "").isdigit() or int(str(length)) <= 0:
            return _no("invalid_arguments")
        alt = str(body.get("alt_txt") or "")
        if len(alt) > MAX_ALT_TEXT:
            return _no("invalid_arguments", ["alt_txt over 1000 characters"])
        file_id = f"F{next(self._serial):09d}"
        self.files[file_id] = File(id=file_id, filename=str(filename), length=int(str(length)), alt_txt=alt)
        return 200, {"ok": True, "upload_url": f"{self.base}/upload/v1/{file_id}", "file_id": file_id}, None

    def _complete(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], float | None]:
        try:
            listed = json.loads(str(body.get("files") or ""))
        except ValueError:
            return _no("invalid_arguments")
        if not isinstance(listed, list) or not listed or not all(isinstance(f, dict) for f in listed):
            return _no("invalid_arguments")
        files = [self.files.get(str(f.get("id"))) for f in listed]
        if any(f is None or f.data is None for f in files):
            return _no("file_not_found")
        channel, thread_ts = body.get("channel_id"), body.get("thread_ts")
        parent = None
        if channel is not None:
            refused = self._channel(channel)
            if refused:
                return _no(refused)
            if thread_ts is not None:
                parent = next((m for m in self.messages.get(str(channel), []) if m.ts == thread_ts), None)
                if parent is None:
                    return _no("invalid_thread_ts")
        shared = [f for f in files if f is not None]
        for entry, found in zip(listed, shared, strict=True):
            found.title = str(entry.get("title") or found.filename)
            found.channel = str(channel) if channel else None
            found.thread_ts = str(thread_ts) if thread_ts else None
        if channel is not None:
            message = Message(ts=self._ts(), text="", blocks=[], attachments=[], token="", thread_ts=thread_ts,
                              files=[f.id for f in shared])  # fmt: skip
            if parent is not None:
                parent.replies.append(message)
            else:
                self.messages.setdefault(str(channel), []).append(message)
        return 200, {"ok": True, "files": [{"id": f.id, "title": f.title} for f in shared]}, None

    def receive_upload(self, file_id: str, data: bytes) -> int:
        """The upload POST: 200 for a known file id, whatever the bytes (Slack checks the length at completion)."""
        found = self.files.get(file_id)
        if found is None:
            return 404
        found.data = data
        return 200


def _no(error: str, messages: list[str] | None = None) -> tuple[int, dict[str, Any], float | None]:
    answer: dict[str, Any] = {"ok": False, "error": error}
    if messages:
        answer["response_metadata"] = {"messages": [f"[ERROR] {m}" for m in messages[:10]]}
    return 200, answer, None


def block_problems(body: dict[str, Any]) -> list[str]:
    """What Slack would refuse in a message's blocks and attachments: `tools.standins.slack_problems`, with the
    interactive elements it does not know (selects, overflow menus) checked here and then judged as buttons."""
    if body.get("blocks") is None and body.get("attachments") is None:
        return []
    problems: list[str] = []

    def simplify(block: Any) -> Any:
        if not isinstance(block, dict):
            return block
        elements = block.get("elements")
        if block.get("type") != "actions" or not isinstance(elements, list):
            accessory = block.get("accessory")
            if isinstance(accessory, dict) and accessory.get("type") in _INTERACTIVE:
                return {**block, "accessory": _as_button(accessory, problems)}
            return block
        return {**block, "elements": [_as_button(e, problems) if isinstance(e, dict)
                                      and e.get("type") in _INTERACTIVE else e for e in elements]}  # fmt: skip

    judged = {
        "text": body.get("text") or "-",
        "blocks": [simplify(b) for b in body.get("blocks") or []],
        "attachments": [
            {**a, "blocks": [simplify(b) for b in a.get("blocks") or []]} if isinstance(a, dict) else a
            for a in body.get("attachments") or []
        ],
    }
    return problems + [p for p in slack_problems(judged) if p not in ("no_text", "text over 40,000 characters")]


def _as_button(element: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    options = element.get("options", [])
    if element.get("type") in ("static_select", "overflow", "radio_buttons"):
        most = 5 if element["type"] == "overflow" else 100
        if not isinstance(options, list) or not 1 <= len(options) <= most:
            problems.append(f"{element['type']} needs 1-{most} options")
        for option in options if isinstance(options, list) else []:
            value = option.get("value") if isinstance(option, dict) else None
            if not isinstance(value, str) or not 1 <= len(value) <= 150:
                problems.append("option value must be 1-150 characters")
    placeholder = element.get("placeholder", {"text": "-"})
    label = placeholder.get("text") if isinstance(placeholder, dict) else None
    if not isinstance(label, str) or not 1 <= len(label) <= 150:
        problems.append("placeholder must be 1-150 characters")
    button: dict[str, Any] = {"type": "button", "text": {"type": "plain_text", "text": "-"}}
    if "action_id" in element:
        button["action_id"] = element["action_id"]
    return button


_METHOD = re.compile(r"/api/([A-Za-z.]+)")
_UPLOAD = re.compile(r"/upload/v1/(F\d+)")


def _handler_for(stand_in: SlackApiStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            path = urlsplit(self.path).path
            upload = _UPLOAD.fullmatch(path)
            if upload:
                with stand_in.lock:
                    status = stand_in.receive_upload(upload.group(1), raw)
                    stand_in.calls.append(Call("upload", {"bytes": len(raw)}, dict(self.headers.items()), status))
                self._send(status, f"OK - {len(raw)}".encode() if status == 200 else b"not found", "text/plain")
                return
            match = _METHOD.fullmatch(path)
            method = match.group(1) if match else path
            body, problem = _body(self.headers.get("Content-Type") or "", raw)
            call = Call(method, body, dict(self.headers.items()))
            with stand_in.lock:
                call.at = stand_in.clock()
                stand_in.calls.append(call)
                status, answer, retry_after = self._judge(method, body, problem)
                call.status, call.error = status, "" if answer.get("ok") else str(answer.get("error"))
            headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
            self._send(status, json.dumps(answer).encode(), "application/json; charset=utf-8", headers)
            if stand_in.on_call is not None:
                stand_in.on_call(call)

        def _judge(self, method: str, body: dict[str, Any], problem: str) -> tuple[int, dict[str, Any], float | None]:
            failure = next((f for f in stand_in.failures if f.method in (None, method)), None)
            if failure is not None:
                stand_in.failures.remove(failure)
                return failure.status, {"ok": False, "error": failure.error}, failure.retry_after
            authorization = self.headers.get("Authorization") or ""
            token = authorization.removeprefix("Bearer ").strip() if authorization.startswith("Bearer ") else ""
            if not token:
                return _no("not_authed")
            if token in stand_in.revoked:
                return _no("token_revoked")
            if token not in stand_in.tokens:
                return _no("invalid_auth")
            if problem:
                return _no(problem)
            return stand_in.answer(method, body, token)

        def _send(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def _body(content_type: str, raw: bytes) -> tuple[dict[str, Any], str]:
    """The call's arguments and, when Slack would refuse the encoding, its code (`invalid_post_type`,
    `invalid_charset`, `invalid_form_data`)."""
    kind, _, params = content_type.partition(";")
    kind = kind.strip().lower()
    charset = params.strip().lower().removeprefix("charset=").strip() if "charset=" in params.lower() else ""
    if charset and charset not in ("utf-8", "iso-8859-1"):
        return {}, "invalid_charset"
    if kind == "application/json":
        try:
            decoded = json.loads(raw or b"{}")
        except ValueError:
            return {}, "invalid_json"
        return (decoded, "") if isinstance(decoded, dict) else ({}, "invalid_json")
    if kind == "application/x-www-form-urlencoded":
        try:
            form = parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw))
        except (ValueError, UnicodeDecodeError):
            return {}, "invalid_form_data"
        return {key: values[-1] for key, values in form.items()}, ""
    return {}, "invalid_post_type"


def describe(call: Call) -> str:
    """One line for a person watching: the method, the channel and thread, and the answer."""
    body = call.body
    where = " ".join(
        f"{name}={str(body[name])[:40]}" for name in ("channel", "channel_id", "ts", "thread_ts") if body.get(name)
    )
    outcome = call.error or ("ok" if call.status == 200 else f"HTTP {call.status}")
    text = " ".join(str(body.get("text") or "").split())[:80]
    return " ".join(p for p in (f"slack {call.method}", where, outcome, f"| {text}" if text else "") if p)


def main(argv: list[str] | None = None) -> int:
    """Run the stand-in on its own, printing each call (Ctrl-C stops it)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m tools.slack_api_standin",
        description="A local Slack Web API (chat.postMessage, chat.update, files.*, conversations.info, "
        "usergroups.users.list) that answers as Slack does and prints each call.",
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free port)")
    parser.add_argument("--token", default=TOKEN, help="the bot token it accepts (default: the tests' token)")
    parser.add_argument(
        "--channel", action="append", help="a channel id the app is in (repeatable; default C0ALERTS01)"
    )
    parser.add_argument("--no-limits", action="store_true", help="no 1 message/s per channel limit")
    args = parser.parse_args(argv)
    stand_in = SlackApiStandIn(port=args.port, tokens=(args.token,), channels=tuple(args.channel or (CHANNEL,)),
                               limits=not args.no_limits)  # fmt: skip
    stand_in.on_call = lambda call: print(describe(call), flush=True)
    with stand_in:
        print(f"Slack Web API stand-in at {stand_in.url} (token {args.token[:9]}…)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    raise SystemExit(main())
