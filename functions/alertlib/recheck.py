"""Deliver, PagerDuty: a composite alarm whose actions CloudWatch suppressed only for a while is looked at again.

A composite alarm with an actions suppressor goes to ALARM with `actionsSuppressedBy` = `WaitPeriod` (it waits to
see whether the suppressor goes to ALARM too), `ExtensionPeriod` (the suppressor has just left ALARM) or `Alarm`.
When the period ends and the composite is still in ALARM, CloudWatch runs its actions then: an SNS action arrives
at that moment, but EventBridge sent its one state-change event at the transition, with the suppression in it, and
sends nothing when the actions run (the state does not change). Forwarded through EventBridge, such a page would
never leave.

So the PagerDuty forwarder does not take the suppressed event as the last word: it sends the notification back to
its own queue, delayed (`DELAYS`), and on receiving it asks CloudWatch (`DescribeAlarms`) how the composite stands:
- still in ALARM since the same transition and no longer suppressed: CloudWatch ran its actions, so the alert is
  forwarded as if it had come unsuppressed (`unsuppressed`: the same event without `actionsSuppressedBy`);
- still suppressed: looked at again later, at most `MAX_ATTEMPTS` times (about a day);
- left ALARM, or moved since (a newer transition has its own event): nothing more to do.
Only alarms of this account can be described; any other is logged and counted, never retried for ever.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from alertlib.aws import AwsClient, session
from alertlib.errors import ForwardingError, MalformedInput
from alertlib.parse import RECHECK, AlarmStateChange, Envelope, parse_message

DELAYS = (60, 120, 300, 900)  # seconds before each look; the last repeats (SQS delays at most 900 s)
MAX_ATTEMPTS = 100  # ~24 h of looks at a composite suppressed by its suppressor's ALARM
RECHECKS_SCHEDULED = "RechecksScheduled"
RECHECKS_FORWARDED = "RechecksForwarded"
RECHECK_FAILED = "RecheckFailed"
_TEMPORARY = frozenset({"waitperiod", "extensionperiod", "alarm"})


class RecheckError(ForwardingError):
    """A recheck could not be scheduled or CloudWatch could not be asked. The message names the call only."""


class Verdict(enum.StrEnum):
    FORWARD = "forward"  # CloudWatch ran the actions: page
    WAIT = "wait"  # still suppressed: look again later
    DONE = "done"  # the alarm moved on (or never will run these actions): nothing to send


@dataclass(frozen=True, slots=True)
class CompositeState:
    """A composite alarm as DescribeAlarms answers."""

    value: str
    suppressed_by: str | None  # ActionsSuppressedBy: WaitPeriod | ExtensionPeriod | Alarm | None
    transitioned_at: datetime | None  # StateTransitionedTimestamp (StateUpdatedTimestamp moves on reason changes)


@dataclass(frozen=True, slots=True)
class Subject:
    """The composite alarm a suppressed event is about, as the raw event names it (never the redacted alert: a
    redaction pattern must not make CloudWatch answer about an alarm that does not exist)."""

    name: str
    account: str | None
    at: datetime | None  # the state's timestamp: the transition this event is about


def subject(envelope: Envelope) -> Subject | None:
    """The alarm to look at again, or None: only a composite alarm's ALARM come through EventBridge, whose actions
    are suppressed for a while (an SNS action is sent by CloudWatch itself when the actions run)."""
    try:
        message = parse_message(envelope)
    except MalformedInput:
        return None
    if not isinstance(message, AlarmStateChange) or not message.via_eventbridge or not message.alarm_rule:
        return None
    state = message.state
    if state.value != "ALARM" or (state.actions_suppressed_by or "").lower() not in _TEMPORARY:
        return None
    return Subject(name=message.name, account=message.account, at=state.timestamp)


def looked(envelope: Envelope) -> Envelope:
    """The event to forward once CloudWatch ran the actions: unsuppressed, under an id of its own (`#look`) so
    that what the suppressed event sent (a resolve of the INSUFFICIENT_DATA it left) does not stand for it in the
    idempotency store, and as a plain record (buffered by the pacer as it is, never looked at again)."""
    return replace(unsuppressed(envelope), message_id=f"{envelope.message_id}#look", recheck=0)


def delay_for(attempt: int) -> int:
    """Seconds before look `attempt` (1-based)."""
    return DELAYS[min(max(attempt, 1), len(DELAYS)) - 1]


def decide(event_at: datetime | None, current: CompositeState | None) -> Verdict:
    """What to do with a suppressed ALARM event (state timestamp `event_at`) given the alarm as it stands now."""
    if current is None or current.value != "ALARM":
        return Verdict.DONE  # deleted, or left ALARM: its OK (or the next event) speaks for itself
    then, now = event_at, current.transitioned_at
    if then is not None and now is not None and abs((now - then).total_seconds()) > 1:
        return Verdict.DONE  # another transition since: it came with its own event
    if current.suppressed_by and current.suppressed_by.lower() in _TEMPORARY:
        return Verdict.WAIT
    return Verdict.FORWARD


def recheck_body(envelope: Envelope, attempt: int) -> str:
    """The SQS body that brings `envelope` back for look `attempt`: its SNS notification, rebuilt."""
    notification: dict[str, Any] = {"Type": "Notification", "MessageId": envelope.message_id, "Message": envelope.body}
    if envelope.topic_arn:
        notification["TopicArn"] = envelope.topic_arn
    if envelope.subject:
        notification["Subject"] = envelope.subject
    if envelope.attributes:
        notification["MessageAttributes"] = {
            name: {"Type": "String", "Value": value} for name, value in envelope.attributes.items()
        }
    return json.dumps(
        {"alert_forwarding": RECHECK, "attempt": attempt, "notification": notification}, separators=(",", ":")
    )


def unsuppressed(envelope: Envelope) -> Envelope:
    """The same EventBridge event as if it had come with its actions run: without `actionsSuppressedBy`."""
    if not isinstance(envelope.body, str):
        return envelope
    try:
        event = json.loads(envelope.body)
        state = event["detail"]["state"]
    except (ValueError, KeyError, TypeError):
        return envelope  # it parsed when it was suppressed; a body that no longer does is refused downstream
    if not isinstance(state, dict):
        return envelope
    state.pop("actionsSuppressedBy", None)
    state.pop("actionsSuppressedReason", None)
    return replace(envelope, body=json.dumps(event, separators=(",", ":")))


def recheck_policy_statements() -> list[dict[str, Any]]:
    """DescribeAlarms on `*`: the API answers composite alarms only to a permission scoped to `*` ("You can't return
    information about composite alarms if your cloudwatch:DescribeAlarms permission has a narrower scope", the
    DescribeAlarms API reference). It reads alarm states only. Sending to the forwarder's own queue is the pacer's
    grant already."""
    return [{"Effect": "Allow", "Action": ["cloudwatch:DescribeAlarms"], "Resource": "*"}]


LOOK_SECONDS = 10.0  # less left of the invocation: a look is not started (its record is received again)


def recheck_client() -> Any:
    """A CloudWatch client for looks: short time-outs, 2 attempts, so a slow CloudWatch never holds the batch's
    pages (the look's record fails and is received again instead)."""
    from botocore.config import Config

    config = Config(connect_timeout=1.0, read_timeout=2.0, retries={"mode": "standard", "total_max_attempts": 2})
    return session().client("cloudwatch", config=config)


class Rechecker(AwsClient):
    """Schedules looks (SQS, delayed) and asks CloudWatch. `account`: only this account's alarms are described."""

    service = "cloudwatch"

    def __init__(self, queue_url: str, *, account: str | None = None, client: Any = None, sqs: Any = None) -> None:
        super().__init__(client)  # None: made on first use, by `recheck_client`
        self.queue_url = queue_url
        self.account = account
        self._sqs = sqs

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = recheck_client()
        return self._client

    def describable(self, target: Subject, topic_arn: str | None = None) -> bool:
        """CloudWatch can be asked about this alarm: it is in this account (`account`, else the account of the
        topic it came through), or the event does not say whose it is."""
        own = self.account or (topic_arn.split(":")[4] if topic_arn and topic_arn.count(":") >= 5 else None)
        return own is None or target.account in {None, own}

    def schedule(self, envelope: Envelope, attempt: int) -> int:
        """Sends the look `attempt` and answers its delay in seconds."""
        from botocore.exceptions import BotoCoreError, ClientError

        delay = delay_for(attempt)
        if self._sqs is None:
            self._sqs = session().client("sqs")
        try:
            self._sqs.send_message(
                QueueUrl=self.queue_url, MessageBody=recheck_body(envelope, attempt), DelaySeconds=delay
            )
        except (BotoCoreError, ClientError) as exc:
            raise RecheckError(f"recheck not scheduled: SendMessage failed ({_code(exc)})") from exc
        return delay

    def current(self, name: str) -> CompositeState | None:
        """The composite alarm `name` now, or None when it no longer exists."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client.describe_alarms(AlarmNames=[name], AlarmTypes=["CompositeAlarm"])
        except (BotoCoreError, ClientError) as exc:
            raise RecheckError(f"alarm not described: DescribeAlarms failed ({_code(exc)})") from exc
        alarms = answer.get("CompositeAlarms") or []
        alarm = next((a for a in alarms if isinstance(a, dict) and a.get("AlarmName") == name), None)
        if alarm is None:
            return None
        moved = alarm.get("StateTransitionedTimestamp") or alarm.get("StateUpdatedTimestamp")
        return CompositeState(
            value=str(alarm.get("StateValue") or ""),
            suppressed_by=str(alarm["ActionsSuppressedBy"]) if alarm.get("ActionsSuppressedBy") else None,
            transitioned_at=_utc(moved),
        )


def _utc(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code") or type(exc).__name__)[:60]
    return type(exc).__name__
