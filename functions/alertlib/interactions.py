"""The two inbound endpoints (Slack interactivity, PagerDuty webhooks v3) and the worker they hand off to.

The endpoints answer fast (Slack wants 200 within 3 s, PagerDuty 2xx within 5 s): verify, parse, decide, and put
one job on the action queue (SQS, decided 2026-12-03: visible backlog, a dead-letter queue, redrive, retries by
visibility timeout; an async invoke has retries too but no backlog to alarm on). The worker does the slow part:
the executor, the audit record, the answer to the clicker (`response_url`), and the thread reply and parent edit
(`ThreadPoster`, which the wiring session implements with the Slack Web API client and the thread store).

Answers: 401 with no detail for anything not verifiably the sender's, 400 with one line for a malformed Slack
click, 405 for a method other than POST, 200/202 otherwise; 500 only when the hand-off failed (PagerDuty retries;
Slack shows the clicker an error). A signed PagerDuty event this forwarder cannot read is answered 202 and
counted: PagerDuty disables a subscription after three refused deliveries, which would stop every later event.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from alertlib.action_http import JsonHttp
from alertlib.action_threads import action_event, pagerduty_event, parent_from_click
from alertlib.actions import ActionResult, ActionTarget, Executor
from alertlib.audit_log import AuditRecord, DynamoAuditLog
from alertlib.aws import AwsClient
from alertlib.deliver import Deadline
from alertlib.errors import DeliveryError, MalformedInput, TransientDeliveryError
from alertlib.observability import logger
from alertlib.pagerduty_webhooks import (
    SIGNATURE_HEADER,
    IncidentEvent,
    PagerDutyAlertKeys,
    WebhookSecrets,
    parse_webhook,
    thread_line,
    verify_pagerduty_signature,
    webhook_id,
)
from alertlib.slack_actions import (
    RESPONSE_HOSTS,
    Action,
    Authoriser,
    NotAnAlertAction,
    Verdict,
    parse_interaction,
    refusal,
)
from alertlib.slack_signature import (
    ReplayGuard,
    SignatureRejected,
    SigningSecrets,
    lower_headers,
    raw_body,
    verify_slack_request,
)
from alertlib.text import one_line
from alertlib.threads import ThreadEvent


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: dict[str, Any] | None = None
    outcome: str = ""  # the metric name of this outcome
    reason: str = ""  # for the log line only

    def as_lambda(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"statusCode": self.status, "headers": {"Content-Type": "application/json"}}
        answer["body"] = "" if self.body is None else json.dumps(self.body)
        return answer


UNAUTHORIZED = {"error": "unauthorized"}


def _method(event: dict[str, Any]) -> str:
    http = (event.get("requestContext") or {}).get("http") or {}
    return str(http.get("method") or event.get("httpMethod") or "POST").upper()


class Handoff(Protocol):
    def __call__(self, job: dict[str, Any]) -> None: ...


class SqsHandoff(AwsClient):
    service = "sqs"

    def __init__(self, queue_url: str, client: Any = None) -> None:
        super().__init__(client)
        self.queue_url = queue_url

    def __call__(self, job: dict[str, Any]) -> None:
        self.client.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(job, separators=(",", ":")))


# -- Slack ------------------------------------------------------------------------------------------------------


class Limiter(Protocol):
    def consume(self, source: str, alerts: int, now: float) -> float | None:
        """Count one request for `source` in the current minute; None when allowed, else seconds to wait."""


@dataclass
class SlackInteractions:
    secrets: Callable[[], SigningSecrets]
    guard: ReplayGuard
    authoriser: Authoriser
    handoff: Handoff
    clock: Callable[[], float] = time.time
    response_hosts: frozenset[str] = RESPONSE_HOSTS
    limiter: Limiter | None = None  # per Slack user and minute (endpoint.DynamoRateLimiter on the replay table)

    def handle(self, event: dict[str, Any]) -> HttpAnswer:
        if _method(event) != "POST":
            return HttpAnswer(405, {"error": "only POST is accepted"}, "PayloadRejected", "method")
        now = self.clock()
        try:
            raw = raw_body(event)
            verify_slack_request(lower_headers(event), raw, self.secrets(), now, self.guard)
        except SignatureRejected as exc:
            return HttpAnswer(401, UNAUTHORIZED, "AuthFailed", str(exc))
        try:
            action = parse_interaction(raw, response_hosts=self.response_hosts)
        except NotAnAlertAction as exc:
            return HttpAnswer(200, None, "ActionIgnored", str(exc))
        except MalformedInput as exc:
            reason = one_line(str(exc))[:200]
            return HttpAnswer(400, {"error": reason}, "PayloadRejected", reason)
        if self.limiter is not None and self.limiter.consume(f"slack:{action.user_id}", 1, now) is not None:
            return HttpAnswer(429, {"error": "too many actions: try again in a minute"}, "RateLimited", action.user_id)
        verdict = self.authoriser.decide(action.user_id)
        allowed = verdict is Verdict.ALLOWED
        job: dict[str, Any] = {"job": "slack" if allowed else "refuse", "action": action.as_json()}
        if verdict is Verdict.UNCHECKED:
            job["unchecked"] = True  # the refusal says a user group could not be read, not "not allowed"
        self.handoff(job)  # a failure raises: the handler answers 500 and Slack shows the clicker an error
        if verdict is Verdict.UNCHECKED:
            return HttpAnswer(200, None, "ActionUnchecked", f"user {action.user_id}: a user group could not be read")
        if not allowed:
            return HttpAnswer(200, None, "ActionRefused", f"user {action.user_id} not allowed")
        return HttpAnswer(200, None, "ActionAccepted", action.kind.value)


# -- PagerDuty --------------------------------------------------------------------------------------------------


class WebhookDedup(Protocol):
    def first_delivery(self, webhook: str, now: float) -> bool: ...

    def forget(self, webhook: str) -> None: ...


@dataclass
class PagerDutyWebhooks:
    secrets: Callable[[], WebhookSecrets]
    dedup: WebhookDedup
    handoff: Handoff
    clock: Callable[[], float] = time.time

    def handle(self, event: dict[str, Any]) -> HttpAnswer:
        if _method(event) != "POST":
            return HttpAnswer(405, {"error": "only POST is accepted"}, "PayloadRejected", "method")
        headers = lower_headers(event)
        try:
            raw = raw_body(event)
        except SignatureRejected as exc:
            return HttpAnswer(401, UNAUTHORIZED, "AuthFailed", str(exc))
        if not verify_pagerduty_signature(headers.get(SIGNATURE_HEADER, ""), raw, self.secrets()):
            return HttpAnswer(401, UNAUTHORIZED, "AuthFailed", "signature does not match")
        try:
            incident = parse_webhook(raw)
        except MalformedInput as exc:
            reason = one_line(str(exc))[:200]
            return HttpAnswer(202, {"status": "ignored"}, "WebhookUnreadable", reason)
        if incident is None:
            return HttpAnswer(202, {"status": "ignored"}, "WebhookIgnored", "event type not handled")
        # Deduplicate on the signed body's event id: `X-Webhook-Id` is a header the signature does not cover, so a
        # captured request sent again with another (or no) header would be handed off again. The header is the
        # fallback for an event without an id.
        delivery = f"event:{incident.event_id}" if incident.event_id else webhook_id(headers)
        if delivery is not None and not self.dedup.first_delivery(delivery, self.clock()):
            return HttpAnswer(202, {"status": "duplicate"}, "WebhookDuplicate", delivery)
        try:
            self.handoff({"job": "pagerduty", "event": incident.as_json()})
        except Exception:
            if delivery is not None:
                self.dedup.forget(delivery)  # PagerDuty retries the 500: its retry must be processed
            raise
        return HttpAnswer(202, {"status": "accepted"}, "WebhookAccepted", incident.event_type)


# -- the worker -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThreadNote:
    """What to show in an alert's thread and parent: the event (rendered by render_thread), its line as this module
    says it, the state the parent now reflects. A Slack action names its thread (key and channel), with the clicked
    message when Slack sent it; a PagerDuty event names the alert by dedup key (its threads are looked up)."""

    text: str
    thread_key: str | None = None
    channel: str | None = None
    dedup_key: str | None = None
    state: dict[str, Any] = field(default_factory=dict)
    ok: bool = True
    event: ThreadEvent | None = None
    message: dict[str, Any] | None = None


class ThreadPoster(Protocol):
    def __call__(self, note: ThreadNote, deadline: Deadline) -> None:
        """Reply in the thread and edit the parent (chat.postMessage with thread_ts, chat.update)."""


def post_to_thread_unwired(note: ThreadNote, deadline: Deadline) -> None:
    """Where no Slack app is configured (webhook routes only): the note is logged; the clicker still gets the
    `response_url` answer. With a Slack app the worker is given `action_threads.SlackThreadPoster`."""
    logger.warning("thread update not wired", extra={"thread_key": note.thread_key, "dedup_key": note.dedup_key})


class ResponseUrl:
    """POSTs to a click's `response_url` (Slack's own host only, checked when the click was parsed)."""

    def __init__(self, http: JsonHttp | None = None) -> None:
        self.http = http or JsonHttp(read_timeout=5.0, retries=2)

    def __call__(self, url: str, body: dict[str, Any], deadline: Deadline) -> None:
        self.http.request("slack response_url", "POST", url, deadline, body=body, idempotent=False, secrets=(url,))


class Claims(Protocol):
    def first_use(self, signature: str, now: float) -> bool: ...

    def forget(self, signature: str) -> None: ...


class AuditLog(Protocol):
    def record(self, record: AuditRecord) -> bool: ...


@dataclass
class ActionWorker:
    executor: Executor
    find_target: Callable[[Action], ActionTarget | None]  # action_threads.ThreadTargets: the click's thread
    audit: AuditLog | DynamoAuditLog
    respond: Callable[[str, dict[str, Any], Deadline], None] = field(default_factory=ResponseUrl)
    post_to_thread: ThreadPoster = post_to_thread_unwired
    alert_keys: PagerDutyAlertKeys | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    response_hosts: frozenset[str] = RESPONSE_HOSTS
    claims: Claims | None = None  # each click done once, whatever SQS delivers twice

    def run(self, job: Any, deadline: Deadline, *, last_attempt: bool = True) -> list[ThreadNote]:
        """Do one job; the notes posted. Raises `TransientDeliveryError` when a retryable failure should be tried
        again (not on the last attempt: then the failure is posted and recorded)."""
        if not isinstance(job, dict):
            raise MalformedInput("a job is not an object")
        kind = job.get("job")
        if kind in ("slack", "refuse"):
            action = Action.from_json(job.get("action"), response_hosts=self.response_hosts)
            if kind == "refuse":
                return self._refuse(action, deadline, unchecked=job.get("unchecked") is True)
            return self._act(action, deadline, last_attempt)
        if kind == "pagerduty":
            return self._pagerduty(IncidentEvent.from_json(job.get("event")), deadline)
        raise MalformedInput("unknown job")

    def _refuse(self, action: Action, deadline: Deadline, *, unchecked: bool = False) -> list[ThreadNote]:
        self._audit(action, "refused", "a user group could not be read" if unchecked else "not an allowed user")
        self._answer(action, refusal(action, unchecked=unchecked), deadline)
        return []

    def _act(self, action: Action, deadline: Deadline, last_attempt: bool) -> list[ThreadNote]:
        claim = f"{action.user_id}#{action.action_ts}#{action.kind.value}#{action.thread_key}"
        if self.claims is not None and not self.claims.first_use(claim, time.time()):
            logger.info("job already done", extra={"action": action.kind.value})
            return []
        try:
            return self._act_once(action, deadline, last_attempt)
        except Exception:
            if self.claims is not None:
                self.claims.forget(claim)  # not done: the queue's retry must do it
            raise

    def _act_once(self, action: Action, deadline: Deadline, last_attempt: bool) -> list[ThreadNote]:
        target = self.find_target(action)
        if target is None:
            result = ActionResult(
                action.kind, False, f"<@{action.user_id}>: this alert is no longer known", "no thread"
            )
        else:
            if target.message_link is None and action.message_link:
                target = replace(target, message_link=action.message_link)
            result = self.executor.run(action, target, deadline)
        if not result.ok and result.retryable and not last_attempt:
            logger.warning("action will be retried", extra={"action": action.kind.value, "reason": result.detail})
            raise TransientDeliveryError(result.detail or "retryable")
        self._audit(action, "ok" if result.ok else "failed", result.detail)
        note = ThreadNote(
            result.text, thread_key=action.thread_key, channel=action.channel_id, state=dict(result.state),
            ok=result.ok, event=action_event(action, result, self.clock()) if result.ok else None,
            message=parent_from_click(action.message),
        )  # fmt: skip
        if not result.ok:  # only the clicker needs to see a failure
            self._answer(action, _ephemeral(result.text), deadline)
            return [note]
        try:
            self.post_to_thread(note, deadline)
        except Exception as exc:  # noqa: BLE001 - the action is done: never redo it because Slack failed to show it
            logger.error("thread note not posted", extra={"reason": one_line(str(exc))[:300]})
            self._answer(action, _ephemeral(f"{result.text} (not shown in the thread: Slack failed)"), deadline)
        return [note]

    def _pagerduty(self, event: IncidentEvent, deadline: Deadline) -> list[ThreadNote]:
        if self.alert_keys is None:
            logger.warning("PagerDuty event without a REST token configured", extra={"event": event.event_type})
            return []
        keys = self.alert_keys(event.incident_id, deadline)  # a failure raises: the queue retries it
        if not keys:
            logger.info("PagerDuty incident with no alert keys", extra={"incident": event.incident_id})
        state = {"pagerduty_status": event.status, "pagerduty_by": event.agent, "pagerduty_url": event.html_url}
        thread_event = pagerduty_event(event, self.clock())
        notes = [ThreadNote(thread_line(event), dedup_key=key, state=state, event=thread_event) for key in keys]
        for note in notes:
            self.post_to_thread(note, deadline)
            self.audit.record(
                AuditRecord(
                    at=self.clock(),
                    thread_key=f"dedup:{note.dedup_key}",
                    action=f"pagerduty.{event.event_type}",
                    result="ok",
                    user_id="pagerduty",
                    user_name=event.agent,
                    action_ts=event.event_id,
                    detail=thread_line(event),
                )
            )
        return notes

    def _audit(self, action: Action, result: str, detail: str) -> None:
        self.audit.record(
            AuditRecord(
                at=self.clock(),
                thread_key=action.thread_key,
                action=action.kind.value,
                result=result,
                user_id=action.user_id,
                user_name=action.user_name,
                team_id=action.team_id,
                channel_id=action.channel_id,
                message_ts=action.message_ts,
                action_ts=action.action_ts,
                duration_seconds=action.duration_seconds,
                detail=detail,
            )
        )

    def _answer(self, action: Action, body: dict[str, Any], deadline: Deadline) -> None:
        try:
            self.respond(action.response_url, body, deadline)
        except DeliveryError as exc:  # the clicker misses a note; the thread and the audit have it
            logger.warning("response_url not answered", extra={"reason": str(exc)})


def _ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "replace_original": False, "text": text}


def sqs_jobs(event: dict[str, Any]) -> Iterable[tuple[str, Any, int]]:
    """(message id, decoded job or None, receive count) for each SQS record."""
    for record in event.get("Records") or []:
        try:
            job = json.loads(record.get("body") or "")
        except (ValueError, RecursionError):
            job = None
        count = int((record.get("attributes") or {}).get("ApproximateReceiveCount") or 1)
        yield str(record.get("messageId") or ""), job, count


# -- the exact IAM each function needs (the wiring grants these; tests/handlers/test_interactions_iam.py proves them) --


def slack_interactions_policy_statements(
    *, signing_secret_arn: str, replay_table_arn: str, queue_arn: str
) -> list[dict[str, Any]]:
    """Read the signing secret; record signatures (PutItem) and count clicks (UpdateItem) in the replay table;
    send the job. A queue encrypted with a customer key also needs kms:GenerateDataKey and kms:Decrypt on it."""
    return [
        {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": [signing_secret_arn]},
        {"Effect": "Allow", "Action": ["dynamodb:PutItem", "dynamodb:UpdateItem"], "Resource": [replay_table_arn]},
        {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": [queue_arn]},
    ]


def pagerduty_webhooks_policy_statements(
    *, webhook_secret_arn: str, replay_table_arn: str, queue_arn: str
) -> list[dict[str, Any]]:
    """Read the webhook secrets; record (PutItem) and release (DeleteItem) a delivery's X-Webhook-Id; send the job."""
    return [
        {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": [webhook_secret_arn]},
        {"Effect": "Allow", "Action": ["dynamodb:PutItem", "dynamodb:DeleteItem"], "Resource": [replay_table_arn]},
        {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": [queue_arn]},
    ]


def action_worker_policy_statements(
    *,
    queue_arn: str,
    audit_table_arn: str,
    replay_table_arn: str,
    secret_arns: list[str],
    amp_workspace_arn: str | None = None,
) -> list[dict[str, Any]]:
    """Read its queue (the event source mapping runs as the function); write audit items; claim (PutItem) and
    release (DeleteItem) jobs; read the secrets it uses (PagerDuty routing keys, the Alertmanager and PagerDuty
    REST secrets, the Slack app routes). Beside these: `actions.mute_policy_statements` (CloudWatch mute rules)
    and `threads.thread_policy_statements` (the thread table). With Amazon Managed Prometheus,
    aps:PutAlertManagerSilences and aps:DeleteAlertManagerSilence on the workspace (names from the AMP API
    reference; not provable under moto)."""
    statements: list[dict[str, Any]] = [
        {
            "Effect": "Allow",
            "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
            "Resource": [queue_arn],
        },
        {"Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": [audit_table_arn]},
        {"Effect": "Allow", "Action": ["dynamodb:PutItem", "dynamodb:DeleteItem"], "Resource": [replay_table_arn]},
        {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": list(secret_arns)},
    ]
    if amp_workspace_arn:
        statements.append(
            {
                "Effect": "Allow",
                "Action": ["aps:PutAlertManagerSilences", "aps:DeleteAlertManagerSilence"],
                "Resource": [amp_workspace_arn],
            }
        )
    return statements
