"""On-call from Slack, on one machine (issue 11): the two inbound endpoints and the action worker, run in-process by
`tools.serve` beside the local pipeline.

- `/slack/interactions`: `alertlib.interactions.SlackInteractions`, as `functions/slack_interactions.py` builds it,
  with the signing secret given (`--slack-signing-secret`), the replay guard on the templates' state table (in
  memory when the world has none) and the hand-off to a local queue instead of SQS.
- `/pagerduty/webhooks`: `alertlib.interactions.PagerDutyWebhooks` with the webhook secret given
  (`--pagerduty-webhook-secret`).
- The action worker: `alertlib.interactions.ActionWorker`, on a thread reading that queue, retried as the action
  queue's redrive would (3 receives, the last one posting the failure). It acknowledges on the PagerDuty stand-in
  (or the URL given), silences on Alertmanager (`--alertmanager-url`, else `AlertmanagerStandIn`), mutes with
  `LocalMuteRules` (moto has no PutAlarmMuteRule), replies and edits the parent on the Slack Web API stand-in.
  A click's `response_url` is answered only on 127.0.0.1 (the pipeline's `/slack/responses/…`). Who did what is
  kept in `audit.records`, and in the templates' audit table when there is one.

The templates' own on-call functions are not what answers here: their `response_url` may only be Slack's host, and
a local click can only be answered locally. Their roles and environment are proven by
tests/handlers/test_oncall_iam_template.py.

Everything it does is said in one line: each click or webhook answered, each action done or refused.
"""

from __future__ import annotations

import hashlib
import json
import queue
import re
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import tools  # noqa: F401 - puts functions/ on the path

LOCAL_USER = "U0LOCAL01"  # who clicks in the demo; a member of every user group the config names, locally
LOCAL_HOSTS = frozenset({"127.0.0.1"})  # where a click's response_url may point, locally
ATTEMPTS = 3  # the action queue's maxReceiveCount: the last attempt posts the failure instead of raising
INCIDENT_PREFIX = "Q"


def incident_id(dedup_key: str) -> str:
    """The local PagerDuty's incident id for the alert of `dedup_key` (PagerDuty's ids are upper-case
    alphanumerics): the same key, the same incident."""
    return INCIDENT_PREFIX + hashlib.sha256(dedup_key.encode()).hexdigest()[:13].upper()


# -- small stand-ins ---------------------------------------------------------------------------------------------


class MemoryGuard:
    """Each signature (or webhook id) once, in memory: the local twin of the replay table."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def first_use(self, signature: str, now: float) -> bool:
        with self._lock:
            if signature in self._seen:
                return False
            self._seen.add(signature)
            return True

    def first_delivery(self, webhook: str, now: float) -> bool:
        return self.first_use(webhook, now)

    def forget(self, signature: str) -> None:
        with self._lock:
            self._seen.discard(signature)


class LocalMuteRules:
    """CloudWatch's alarm mute rules (`PutAlarmMuteRule`, `DeleteAlarmMuteRule`), which moto does not implement:
    a rule is refused unless every alarm it names exists (asked of moto), and kept here."""

    def __init__(self, cloudwatch: Any = None) -> None:
        self.cloudwatch = cloudwatch
        self.rules: dict[str, dict[str, Any]] = {}

    def put_alarm_mute_rule(self, **rule: Any) -> dict[str, Any]:
        names = list((rule.get("MuteTargets") or {}).get("AlarmNames") or [])
        if self.cloudwatch is not None and names:
            found = self.cloudwatch.describe_alarms(AlarmNames=names, AlarmTypes=["MetricAlarm", "CompositeAlarm"])
            known = {a["AlarmName"] for a in found.get("MetricAlarms", []) + found.get("CompositeAlarms", [])}
            missing = sorted(set(names) - known)
            if missing:
                raise _client_error("ResourceNotFoundException", f"no alarm named {missing[0]}", "PutAlarmMuteRule")
        self.rules[str(rule["Name"])] = rule
        return {}

    def delete_alarm_mute_rule(self, AlarmMuteRuleName: str) -> dict[str, Any]:  # noqa: N803 - boto3's name
        if self.rules.pop(AlarmMuteRuleName, None) is None:
            raise _client_error("ResourceNotFoundException", "no such mute rule", "DeleteAlarmMuteRule")
        return {}


def _client_error(code: str, message: str, operation: str) -> Exception:
    from botocore.exceptions import ClientError

    answer = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 404}}
    error: Exception = ClientError(answer, operation)  # type: ignore[arg-type]
    return error


@dataclass
class Silence:
    id: str
    body: dict[str, Any]
    expired: bool = False


class AlertmanagerStandIn:
    """Alertmanager API v2's silences on 127.0.0.1: `POST /api/v2/silences` answers `{"silenceID": …}`,
    `DELETE /api/v2/silence/{id}` expires it (404 for an unknown id), `GET /api/v2/silences` lists them. A body
    without matchers, or with an empty `createdBy`, is answered 400 as Alertmanager does."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.silences: dict[str, Silence] = {}
        self._server = ThreadingHTTPServer((host, port), _alertmanager_handler(self))
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> AlertmanagerStandIn:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> AlertmanagerStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def create(self, body: Any) -> tuple[int, dict[str, Any]]:
        if not isinstance(body, dict) or not body.get("matchers") or not body.get("createdBy"):
            return 400, {"error": "silence invalid: missing matchers or createdBy"}
        silence = Silence(str(uuid.uuid4()), body)
        self.silences[silence.id] = silence
        return 200, {"silenceID": silence.id}

    def expire(self, silence_id: str) -> int:
        silence = self.silences.get(silence_id)
        if silence is None:
            return 404
        silence.expired = True
        return 200


def _alertmanager_handler(stand_in: AlertmanagerStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != "/api/v2/silences":
                return self._send(404, {"error": "not found"})
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                return self._send(400, {"error": "body is not JSON"})
            self._send(*stand_in.create(body))

        def do_DELETE(self) -> None:
            match = re.fullmatch(r"/api/v2/silence/([0-9a-fA-F-]{8,64})", self.path)
            self._send(stand_in.expire(match.group(1)) if match else 404, None)

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/api/v2/silences":
                return self._send(404, {"error": "not found"})
            listed = [
                {"id": s.id, **s.body, "status": {"state": "expired" if s.expired else "active"}}
                for s in stand_in.silences.values()
            ]
            self._send(200, listed)

        def _send(self, status: int, body: Any) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@dataclass
class LocalIncidents:
    """The PagerDuty REST API's `GET /incidents/{id}/alerts`, answered from what the PagerDuty stand-in accepted:
    every triggered dedup key is an incident (`incident_id(key)`). The worker's `alert_keys`. With `--pagerduty-url`
    (no stand-in) no incident is known, and a webhook finds no thread (said in one line)."""

    received: Callable[[], list[Any]]  # the PagerDuty stand-in's `received`

    def __call__(self, incident: str, deadline: Any) -> tuple[str, ...]:
        keys = [
            str(record.body.get("dedup_key"))
            for record in self.received()
            if isinstance(record.body, dict) and record.body.get("event_action") == "trigger"
        ]
        return tuple(dict.fromkeys(k for k in keys if k and incident_id(k) == incident))


@dataclass(frozen=True)
class Audited:
    at: datetime
    action: str
    result: str
    user: str
    detail: str


@dataclass
class MemoryAudit:
    """Who did what, kept in order (the worker says each action as it is done); also written to the templates'
    audit table when the world has one (`table`: alertlib's DynamoAuditLog), as the deployed worker writes it."""

    records: list[Audited] = field(default_factory=list)
    table: Any = None

    def record(self, record: Any) -> bool:
        kept = Audited(record.at, record.action, record.result, record.user_name or record.user_id, record.detail)
        self.records.append(kept)
        return bool(self.table.record(record)) if self.table is not None else True


@dataclass(frozen=True)
class Response:
    """A POST to a click's `response_url` (an ephemeral answer to the clicker), as the pipeline received it."""

    at: float
    path: str
    body: dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.body.get("text") or "")


def widget_png(width: int = 160, height: int = 60) -> bytes:
    """A small PNG standing in for CloudWatch's graph: a grey plot with a red threshold line and a blue metric
    line crossing it (GetMetricWidgetImage, which moto does not implement)."""
    rows = []
    for y in range(height):
        row = bytearray(b"\x00")
        for x in range(width):
            metric_y = height - 8 - (x * (height - 16)) // width
            if y == height // 3:
                row += b"\xe0\x1e\x5a"  # the threshold
            elif abs(y - metric_y) <= 1:
                row += b"\x1d\x9b\xd1"  # the metric
            else:
                row += b"\xf4\xf4\xf4"
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )


def stand_in_metric_widget_image() -> Callable[[], None]:
    """moto's CloudWatch answers GetMetricWidgetImage with `widget_png()` (moto runs in this process: the
    forwarders' calls reach it over HTTP); nothing else of moto changes. Returns what takes the stand-in away again
    (a test run in the same process must find moto as it is: without the call)."""
    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.core.responses import ActionResult

    if hasattr(CloudWatchResponse, "get_metric_widget_image"):
        return lambda: None  # stood in already (or moto has it): whoever did it takes it away
    image = widget_png()

    def get_metric_widget_image(self: Any) -> Any:
        return ActionResult({"MetricWidgetImage": image})

    CloudWatchResponse.get_metric_widget_image = get_metric_widget_image  # type: ignore[attr-defined]

    def undo() -> None:
        if getattr(CloudWatchResponse, "get_metric_widget_image", None) is get_metric_widget_image:
            del CloudWatchResponse.get_metric_widget_image  # type: ignore[attr-defined]

    return undo


# -- the endpoints and the worker -------------------------------------------------------------------------------


@dataclass
class LocalOnCall:
    """The endpoints and the worker. `dynamodb`, `cloudwatch`: clients of the local AWS (the thread table lives
    there, shared with the forwarders); `app_secrets`: channel id -> the Slack app route's secret name;
    `pagerduty_secrets`: a thread's routing -> the PagerDuty routing-key secret to acknowledge with."""

    environment: str
    slack_signing_secret: str
    pagerduty_webhook_secret: str
    slack_api_url: str
    pagerduty_url: str
    thread_table: str
    dynamodb: Any
    cloudwatch: Any
    app_secrets: Mapping[str, str]
    pagerduty_secrets: Mapping[str, str]
    pagerduty_received: Callable[[], list[Any]] = list
    alertmanager_url: str | None = None
    actors: str = ""  # SLACK_ACTORS' JSON; empty: every Slack user may act (locally only)
    # The templates' tables, when the world has them (else kept in memory): replayed signatures, webhook ids and job
    # claims (REPLAY_TABLE), who did what (AUDIT_TABLE).
    replay_table: str | None = None
    audit_table: str | None = None
    # A PagerDuty event's parent body (a click carries its own); None: the thread poster's own (the parent the
    # forwarder keeps in the thread item).
    parent_message_for: Callable[[Any], Mapping[str, Any] | None] | None = None
    say: Callable[[str], None] = print
    responses: list[Response] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._jobs: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.alertmanager: AlertmanagerStandIn | None = None
        self.mute_rules = LocalMuteRules(self.cloudwatch)
        self.audit = MemoryAudit()
        if self.audit_table:
            from alertlib.audit_log import DynamoAuditLog

            self.audit.table = DynamoAuditLog(self.audit_table, self.dynamodb)
        self.done: list[Any] = []  # every ThreadNote the worker posted

    # -- life cycle --------------------------------------------------------------------------------------------

    def start(self) -> LocalOnCall:
        from alertlib.action_threads import SlackThreadPoster, ThreadTargets
        from alertlib.actions import Executor
        from alertlib.deliver import Deliverer
        from alertlib.interactions import ActionWorker, PagerDutyWebhooks, SlackInteractions
        from alertlib.pagerduty_webhooks import WebhookSecrets
        from alertlib.silences import AlertmanagerCredentials, AlertmanagerSilences
        from alertlib.slack_actions import Authoriser
        from alertlib.slack_api import SlackApi, read_credentials
        from alertlib.slack_signature import SigningSecrets
        from alertlib.threads import ThreadStore

        if self.alertmanager_url is None:
            self.alertmanager = AlertmanagerStandIn().start()
        silences_url = self.alertmanager_url or (self.alertmanager.url if self.alertmanager else "")
        guard: Any = MemoryGuard()
        dedup: Any = MemoryGuard()
        claims: Any = MemoryGuard()
        if self.replay_table:
            from alertlib.pagerduty_webhooks import DynamoWebhookDedup
            from alertlib.slack_signature import DynamoReplayGuard

            guard = DynamoReplayGuard(self.replay_table, self.dynamodb)
            dedup = DynamoWebhookDedup(self.replay_table, self.dynamodb)
            claims = DynamoReplayGuard(self.replay_table, self.dynamodb, prefix="action#")
        signing = SigningSecrets((self.slack_signing_secret,))
        webhook = WebhookSecrets((self.pagerduty_webhook_secret,))
        authoriser = Authoriser.from_config(self.actors, members_of=local_members) if self.actors else None
        self.slack = SlackInteractions(
            secrets=lambda: signing,
            guard=guard,
            authoriser=authoriser or everyone(),
            handoff=self._handoff,
            response_hosts=LOCAL_HOSTS,
        )
        self.pagerduty = PagerDutyWebhooks(secrets=lambda: webhook, dedup=dedup, handoff=self._handoff)
        self.store = ThreadStore(self.thread_table, self.dynamodb)
        poster = SlackThreadPoster(
            SlackApi(api_url=self.slack_api_url, backoff_factor=0.1),
            self.store,
            lambda channel: read_credentials(self.app_secrets[channel]),
            channels=tuple(self.app_secrets),
        )
        if self.parent_message_for is not None:
            poster.parent_message_for = self.parent_message_for
        self.worker = ActionWorker(
            executor=Executor(
                deliverer=Deliverer(pagerduty_url=self.pagerduty_url, retries=2, backoff_factor=0.1),
                silences=AlertmanagerSilences(lambda: AlertmanagerCredentials(url=silences_url.rstrip("/"))),
                cloudwatch=self.mute_rules,
            ),
            find_target=ThreadTargets(
                self.store, self.environment, lambda routing: self.pagerduty_secrets.get(routing) or None
            ),
            post_to_thread=poster,
            audit=self.audit,
            alert_keys=LocalIncidents(self.pagerduty_received),  # type: ignore[arg-type]
            response_hosts=LOCAL_HOSTS,
            claims=claims,
        )
        self._thread = threading.Thread(target=self._work, name="oncall-worker", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join(timeout=10)
            self._thread = None
        if self.alertmanager is not None:
            self.alertmanager.stop()
            self.alertmanager = None

    def __enter__(self) -> LocalOnCall:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Until every job handed off was done (or `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._jobs.unfinished_tasks == 0:
                return True
            time.sleep(0.02)
        return False

    # -- HTTP --------------------------------------------------------------------------------------------------

    def route(self, method: str, path: str, body: bytes, headers: Mapping[str, str], client: str) -> tuple[
        int, dict[str, str], bytes
    ] | None:  # fmt: skip
        """The answer to a request on one of the on-call paths, or None when the path is not one of them."""
        bare = path.split("?", 1)[0].rstrip("/")
        if bare.startswith("/slack/responses/"):
            return self._response(method, bare, body)
        event = function_url_event(method, bare, body, headers, client)
        if bare == "/slack/interactions":
            answer, what = self.slack.handle(event), "slack    "
        elif bare == "/pagerduty/webhooks":
            answer, what = self.pagerduty.handle(event), "pagerduty"
        else:
            return None
        if answer.status < 400:  # a refusal is said by the pipeline, with its reason
            self.say(f"{_stamp()} {what} {bare}: {answer.status} {answer.outcome} {answer.reason}".rstrip())
        lambda_answer = answer.as_lambda()
        return int(lambda_answer["statusCode"]), dict(lambda_answer["headers"]), str(lambda_answer["body"]).encode()

    def _response(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        if method != "POST":
            return 405, {"Allow": "POST"}, b'{"error": "only POST is accepted"}'
        try:
            decoded = json.loads(body or b"{}")
        except ValueError:
            return 400, {"Content-Type": "application/json"}, b'{"error": "body is not JSON"}'
        response = Response(time.time(), path, decoded if isinstance(decoded, dict) else {})
        self.responses.append(response)
        self.say(f"{_stamp()} slack     to the clicker only: {response.text[:120]}")
        return 200, {"Content-Type": "text/plain"}, b"ok"

    # -- the queue ---------------------------------------------------------------------------------------------

    def _handoff(self, job: dict[str, Any]) -> None:
        self._jobs.put(json.loads(json.dumps(job)))  # as SQS carries it: JSON, nothing shared

    def _work(self) -> None:
        from alertlib.deliver import Deadline
        from alertlib.errors import MalformedInput, TransientDeliveryError

        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                for attempt in range(1, ATTEMPTS + 1):
                    try:
                        notes = self.worker.run(job, Deadline(25.0), last_attempt=attempt == ATTEMPTS)
                    except TransientDeliveryError as exc:
                        self.say(f"{_stamp()} action    attempt {attempt} failed, to be retried: {exc}")
                        time.sleep(0.2 * attempt)
                        continue
                    self._said(job, notes)
                    break
            except MalformedInput as exc:
                self.say(f"{_stamp()} action    dropped: {exc}")
            except Exception as exc:  # noqa: BLE001 - said; the local worker keeps serving
                self.say(f"{_stamp()} action    failed: {type(exc).__name__}: {exc}")
            finally:
                self._jobs.task_done()

    def _said(self, job: dict[str, Any], notes: list[Any]) -> None:
        self.done.extend(notes)
        if job.get("job") == "refuse":
            user = (job.get("action") or {}).get("user_id", "?")
            self.say(f"{_stamp()} action    refused: {user} is not allowed to act (told ephemerally)")
            return
        if not notes:
            self.say(f"{_stamp()} action    nothing to do ({job.get('job')}: no thread found, or done already)")
        for note in notes:
            verdict = "done" if note.ok else "failed"
            self.say(f"{_stamp()} action    {verdict}: {_plain(note.text)[:150]}")


def local_members(group: str) -> tuple[str, ...]:
    """A user group's members, locally: the local user (the Web API stand-in has no usergroups.users.list)."""
    return (LOCAL_USER,)


def everyone() -> Any:
    """Locally, without `oncall.slack_actors` in the config, every Slack user may act."""
    from alertlib.slack_actions import Authoriser

    class Everyone(Authoriser):
        def allows(self, user_id: str) -> bool:
            return True

        def decide(self, user_id: str) -> Any:  # the Authoriser's verdict, where it gives one
            from alertlib import slack_actions

            return slack_actions.Verdict.ALLOWED  # type: ignore[attr-defined,unused-ignore]

    return Everyone()


def function_url_event(method: str, path: str, body: bytes, headers: Mapping[str, str], client: str) -> dict[str, Any]:
    """The Lambda function URL event (payload 2.0) for one HTTP request, the body base64-encoded as received."""
    import base64

    return {
        "version": "2.0",
        "rawPath": path,
        "headers": {k.lower(): v for k, v in headers.items()},
        "requestContext": {"http": {"method": method, "path": path, "sourceIp": client}},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


DEMO_APP = "alerting/{env}/slack-app"


def demo_config(config: Any) -> Any:
    """`config` itself when it has a Slack app route on a paging topic; else a copy with one added (`make demo`,
    `tools.serve --slack-app`):
    `alerting/<env>/slack-app` on each topic that pages (beside its webhooks) and an `oncall` section whose secrets
    are the shipped names and whose only actor is the demo's local user. Validated as a config file is."""
    topics = config.topics
    paged = [key for key, routing in topics.items() if routing.pagerduty]
    if any(name in config.forwarders.slack_apps for key in paged for name in topics[key].slack):
        return config
    app = DEMO_APP.format(env=config.name)
    raw = config.model_dump(mode="json", exclude_none=True)
    for key in paged:
        raw["topics"][key]["slack"] = [*raw["topics"][key]["slack"], app]
    raw["forwarders"]["slack_apps"] = {app: {"thread_events_to_channel": ["refired"]}}
    raw["oncall"] = raw.get("oncall") or {
        "slack_signing_secret": f"alerting/{config.name}/slack-signing",
        "slack_actors": {"users": [LOCAL_USER]},
        "pagerduty_webhook_secret": f"alerting/{config.name}/pagerduty-webhook",
        "pagerduty_rest_secret": f"alerting/{config.name}/pagerduty-rest",
    }
    return type(config).model_validate(raw)


# -- what Slack and PagerDuty send, made by hand (the demo, tests, a person with curl) --------------------------


def elements(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The interactive elements of a message (its blocks and its attachments' blocks), in order."""
    blocks = [*(message.get("blocks") or [])]
    for attachment in message.get("attachments") or []:
        blocks += attachment.get("blocks") or []
    return [e for b in blocks if b.get("type") == "actions" for e in b.get("elements") or []]


def click_payload(
    message: Mapping[str, Any],
    *,
    channel: str,
    ts: str,
    action_id: str,
    option: int = 0,
    user_id: str = LOCAL_USER,
    user_name: str = "ana",
    response_url: str,
) -> dict[str, Any]:
    """A `block_actions` payload as Slack sends it when `user_id` clicks the element `action_id` of `message`
    (a select's `option`-th choice: 0 is 1 h). KeyError when the message offers no such element."""
    element = next((e for e in elements(message) if e.get("action_id") == action_id), None)
    if element is None:
        raise KeyError(f"the message offers no {action_id}")
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": "alert-actions",
        "type": element.get("type"),
        "action_ts": f"{time.time():.6f}",
    }
    if element.get("type") == "static_select":
        action["selected_option"] = element["options"][option]
    else:
        action["value"] = element.get("value")
    shown = {k: message[k] for k in ("text", "blocks", "attachments") if message.get(k)}
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "team_id": "T0LOCAL01"},
        "api_app_id": "A0LOCAL01",
        "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": False},
        "team": {"id": "T0LOCAL01", "domain": "local"},
        "channel": {"id": channel, "name": "alerts"},
        "response_url": response_url,
        "message": {"ts": ts, **shown},
        "actions": [action],
    }


def signed_click(secret: str, payload: Mapping[str, Any], now: float | None = None) -> tuple[bytes, dict[str, str]]:
    """The form body and headers of a click, signed as Slack signs it (`v0=` HMAC-SHA256 of `v0:ts:body`)."""
    from urllib.parse import quote

    from alertlib.slack_signature import slack_signature

    body = b"payload=" + quote(json.dumps(payload), safe="").encode()
    stamp = str(int(time.time() if now is None else now))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": slack_signature(secret, stamp, body),
    }
    return body, headers


def incident_webhook(
    event_type: str, dedup_key: str, *, agent: str = "Ana Lopez", status: str | None = None
) -> dict[str, Any]:
    """A PagerDuty webhook v3 body for the local incident of `dedup_key` (`incident_id`)."""
    incident = incident_id(dedup_key)
    return {
        "event": {
            "id": str(uuid.uuid4()),
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "agent": {"id": "PLOCAL1", "type": "user_reference", "summary": agent},
            "client": None,
            "data": {
                "id": incident,
                "type": "incident",
                "html_url": f"https://local.pagerduty.com/incidents/{incident}",
                "status": status or event_type.removeprefix("incident."),
                "incident_key": dedup_key,
                "title": "local incident",
                "assignees": [{"id": "PLOCAL2", "type": "user_reference", "summary": "Bob Ito"}],
            },
        }
    }


def signed_webhook(secret: str, value: Mapping[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a PagerDuty webhook delivery, signed (`v1=` HMAC-SHA256 of the body)."""
    from alertlib.pagerduty_webhooks import pagerduty_signature

    body = json.dumps(value).encode()
    headers = {
        "Content-Type": "application/json",
        "X-PagerDuty-Signature": pagerduty_signature(secret, body),
        "X-Webhook-Id": str(uuid.uuid4()),
    }
    return body, headers


def post(url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
    """POST and the answer's status and body (4xx and 5xx included)."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, method="POST", headers=dict(headers))
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status), answer.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def _plain(text: str) -> str:
    """Slack mrkdwn as a terminal shows it: `<!date^…|03:12 UTC>` is its fallback, `<@U1>` is @U1."""
    text = re.sub(r"<!date\^[^|>]*\|([^>]*)>", r"\1", text)
    text = re.sub(r"<@([A-Z0-9]+)>", r"@\1", text)
    text = re.sub(r"<([^|>]+)\|([^>]+)>", r"\2", text)
    return " ".join(text.split())


def _stamp() -> str:
    return datetime.now(UTC).strftime("%H:%M:%S")
