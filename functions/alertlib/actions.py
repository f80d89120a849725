"""The action executors: acknowledge in PagerDuty, silence in Alertmanager, mute CloudWatch alarms, and undo.

Each takes what it acts on (`ActionTarget`, built by the wiring from the thread store: no secret in it, only the
name of the PagerDuty routing-key secret) and its injected client, and answers an `ActionResult`: the line for the
thread ("Silenced for 4 h by @ana, until 07:12 UTC"), the state to keep (silence id, mute rule name), and, on
failure, one line and whether trying again may help. Nothing here raises for a failed action: the worker decides.

Muting (decided 2026-12-03): CloudWatch alarm mute rules, `PutAlarmMuteRule` with a one-time `at(now)` schedule and
`Duration` PT1H/PT4H/PT24H, named `<env>-mute-<hash of the thread key>` (one rule per alert: muting again replaces
it), `DeleteAlarmMuteRule` to unmute. It expires by itself; DisableAlarmActions + a Scheduler re-enable would leave
an alarm silent for ever if the schedule were never created or never fired. IAM: `cloudwatch:PutAlarmMuteRule` and
`cloudwatch:DeleteAlarmMuteRule` on `arn:aws:cloudwatch:<region>:<account>:alarm-mute-rule:<env>-mute-*` and on
`arn:aws:cloudwatch:<region>:<account>:alarm:<env>-*` (`mute_policy_statements`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from alertlib.deliver import Deadline, Deliverer
from alertlib.errors import DeliveryError, MalformedInput
from alertlib.silences import AlertmanagerSilences, silence_body
from alertlib.slack_actions import Action, ActionKind
from alertlib.text import escape_mrkdwn, one_line

MAX_MUTE_TARGETS = 100  # PutAlarmMuteRule: MuteTargets.AlarmNames
ISO_DURATIONS = {3600: "PT1H", 4 * 3600: "PT4H", 24 * 3600: "PT24H"}


@dataclass(frozen=True, slots=True)
class ActionTarget:
    """What an action acts on, read from the thread store by the wiring session."""

    thread_key: str
    environment: str
    pagerduty_secret: str | None = None  # the name of the routing-key secret the trigger went with
    dedup_key: str | None = None
    group_labels: tuple[tuple[str, str], ...] = ()  # Alertmanager: the group's labels (equality matchers)
    alarm_names: tuple[str, ...] = ()  # CloudWatch
    silence_id: str | None = None
    mute_rule: str | None = None
    message_link: str | None = None  # the permalink of the parent message, for the silence comment
    resolved: bool = False


@dataclass(frozen=True, slots=True)
class ActionResult:
    kind: ActionKind
    ok: bool
    text: str  # the thread line (Slack mrkdwn, user mention included)
    detail: str = ""  # one line: the reason of a failure, or the id made
    retryable: bool = False
    silence_id: str | None = None  # set after Silence; None after Unsilence
    mute_rule: str | None = None  # set after Mute; None after Unmute
    until: datetime | None = None
    state: Mapping[str, Any] = field(default_factory=dict)  # what the thread record should now hold


def _at(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%H:%M UTC")


def _who(action: Action) -> str:
    return f"<@{action.user_id}>"


def _failed(action: Action, verb: str, exc: Exception, *, retryable: bool) -> ActionResult:
    detail = one_line(str(exc))[:300]
    text = f"{verb} by {_who(action)} failed: {escape_mrkdwn(detail)}"
    return ActionResult(action.kind, False, text, detail=detail, retryable=retryable)


def acknowledge(
    action: Action, target: ActionTarget, *, deliverer: Deliverer, now: datetime, deadline: Deadline
) -> ActionResult:
    """Events v2 `acknowledge` with the trigger's routing key (from its secret) and dedup key."""
    if not target.pagerduty_secret or not target.dedup_key:
        return _failed(action, "Acknowledge", MalformedInput("this alert did not go to PagerDuty"), retryable=False)
    body = {"dedup_key": target.dedup_key, "event_action": "acknowledge"}
    try:
        deliverer.send_pagerduty(body, target.pagerduty_secret, deadline)
    except DeliveryError as exc:
        return _failed(action, "Acknowledge", exc, retryable=exc.retryable)
    return ActionResult(action.kind, True, f"Acknowledged by {_who(action)} {_at(now)}", state={"acknowledged": True})


def silence(
    action: Action, target: ActionTarget, *, silences: AlertmanagerSilences, now: datetime, deadline: Deadline
) -> ActionResult:
    seconds = action.duration_seconds or 3600
    comment = f"Silenced from Slack by {action.user_name} for {action.duration_label}"
    if target.message_link:
        comment += f": {target.message_link}"
    try:
        body = silence_body(
            dict(target.group_labels),
            now=now,
            seconds=seconds,
            created_by=f"{action.user_name} (Slack {action.user_id})",
            comment=comment,
        )
        silence_id = silences.create(body, deadline)
    except MalformedInput as exc:
        return _failed(action, "Silence", exc, retryable=False)
    except DeliveryError as exc:
        return _failed(action, "Silence", exc, retryable=exc.retryable)
    until = now + timedelta(seconds=seconds)
    return ActionResult(
        action.kind,
        True,
        f"Silenced for {action.duration_label} by {_who(action)}, until {_at(until)}",
        detail=silence_id,
        silence_id=silence_id,
        until=until,
        state={"silence_id": silence_id, "silenced_until": until.isoformat()},
    )


def unsilence(
    action: Action, target: ActionTarget, *, silences: AlertmanagerSilences, now: datetime, deadline: Deadline
) -> ActionResult:
    if not target.silence_id:
        return _failed(action, "Unsilence", MalformedInput("no silence is recorded for this alert"), retryable=False)
    try:
        silences.expire(target.silence_id, deadline)
    except MalformedInput as exc:
        return _failed(action, "Unsilence", exc, retryable=False)
    except DeliveryError as exc:
        if exc.status == 404:  # already gone (expired and collected): what was asked is true
            pass
        else:
            return _failed(action, "Unsilence", exc, retryable=exc.retryable)
    return ActionResult(
        action.kind,
        True,
        f"Silence expired by {_who(action)} {_at(now)}",
        detail=target.silence_id,
        state={"silence_id": None, "silenced_until": None},
    )


def mute_rule_name(environment: str, thread_key: str) -> str:
    return f"{environment}-mute-{hashlib.sha256(thread_key.encode()).hexdigest()[:24]}"


def mute(action: Action, target: ActionTarget, *, cloudwatch: Any, now: datetime) -> ActionResult:
    seconds = action.duration_seconds or 3600
    names = tuple(dict.fromkeys(target.alarm_names))
    prefix = f"{target.environment}-"
    if not names:
        return _failed(action, "Mute", MalformedInput("no alarm is recorded for this alert"), retryable=False)
    if len(names) > MAX_MUTE_TARGETS:
        return _failed(action, "Mute", MalformedInput(f"over {MAX_MUTE_TARGETS} alarms"), retryable=False)
    if not all(n.startswith(prefix) for n in names):
        return _failed(
            action, "Mute", MalformedInput(f"an alarm outside this environment ({prefix}*)"), retryable=False
        )
    name = mute_rule_name(target.environment, target.thread_key)
    start = now.astimezone(UTC).replace(second=0, microsecond=0)
    until = now + timedelta(seconds=seconds)
    try:
        cloudwatch.put_alarm_mute_rule(
            Name=name,
            Description=one_line(
                f"Muted from Slack by {action.user_name} ({action.user_id}) for {action.duration_label}"
            )[:1024],
            Rule={
                "Schedule": {
                    "Expression": f"at({start:%Y-%m-%dT%H:%M})",
                    "Duration": ISO_DURATIONS[seconds],
                    "Timezone": "UTC",
                }
            },
            MuteTargets={"AlarmNames": list(names)},
            ExpireDate=start + timedelta(seconds=seconds + 3600),
        )
    except Exception as exc:  # noqa: BLE001 - botocore's errors, classified below
        return _failed(action, "Mute", _aws_error(exc), retryable=_aws_retryable(exc))
    return ActionResult(
        action.kind,
        True,
        f"Muted for {action.duration_label} by {_who(action)}, until {_at(until)}",
        detail=name,
        mute_rule=name,
        until=until,
        state={"mute_rule": name, "muted_until": until.isoformat()},
    )


def unmute(action: Action, target: ActionTarget, *, cloudwatch: Any, now: datetime) -> ActionResult:
    name = target.mute_rule or mute_rule_name(target.environment, target.thread_key)
    if not name.startswith(f"{target.environment}-mute-"):
        return _failed(action, "Unmute", MalformedInput("the mute rule is not this environment's"), retryable=False)
    try:
        cloudwatch.delete_alarm_mute_rule(AlarmMuteRuleName=name)
    except Exception as exc:  # noqa: BLE001 - botocore's errors, classified below
        if _aws_code(exc) != "ResourceNotFoundException":  # already gone: expired and deleted
            return _failed(action, "Unmute", _aws_error(exc), retryable=_aws_retryable(exc))
    return ActionResult(
        action.kind,
        True,
        f"Unmuted by {_who(action)} {_at(now)}",
        detail=name,
        state={"mute_rule": None, "muted_until": None},
    )


def _aws_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str((response.get("Error") or {}).get("Code") or "")
    return ""


def _aws_retryable(exc: Exception) -> bool:
    code = _aws_code(exc)
    if code:
        status = int(((getattr(exc, "response", None) or {}).get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
        return status >= 500 or code in ("Throttling", "ThrottlingException", "LimitExceeded", "ServiceUnavailable")
    return True  # a connection error or a time-out: no answer


def _aws_error(exc: Exception) -> Exception:
    code = _aws_code(exc) or type(exc).__name__
    return Exception(f"CloudWatch: {code}")


def mute_policy_statements(*, partition: str, region: str, account: str, environment: str) -> list[dict[str, Any]]:
    """The exact IAM statements the worker needs for Mute/Unmute, scoped to this environment: PutAlarmMuteRule is
    authorised on the rule and on each alarm it targets; DeleteAlarmMuteRule on the rule."""
    base = f"arn:{partition}:cloudwatch:{region}:{account}"
    rules = f"{base}:alarm-mute-rule:{environment}-mute-*"
    return [
        {
            "Effect": "Allow",
            "Action": ["cloudwatch:PutAlarmMuteRule"],
            "Resource": [rules, f"{base}:alarm:{environment}-*"],
        },
        {"Effect": "Allow", "Action": ["cloudwatch:DeleteAlarmMuteRule"], "Resource": [rules]},
    ]


@dataclass
class Executor:
    """Runs one action with the injected clients; the one place that chooses an executor by kind."""

    deliverer: Deliverer
    silences: AlertmanagerSilences | None
    cloudwatch: Any
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def run(self, action: Action, target: ActionTarget, deadline: Deadline) -> ActionResult:
        now = self.clock()
        if action.kind is ActionKind.ACKNOWLEDGE:
            return acknowledge(action, target, deliverer=self.deliverer, now=now, deadline=deadline)
        if action.kind in (ActionKind.SILENCE, ActionKind.UNSILENCE):
            if self.silences is None:
                return _failed(action, "Silence", MalformedInput("no Alertmanager is configured"), retryable=False)
            run = silence if action.kind is ActionKind.SILENCE else unsilence
            return run(action, target, silences=self.silences, now=now, deadline=deadline)
        if action.kind is ActionKind.MUTE:
            return mute(action, target, cloudwatch=self.cloudwatch, now=now)
        return unmute(action, target, cloudwatch=self.cloudwatch, now=now)


def with_state(target: ActionTarget, result: ActionResult) -> ActionTarget:
    """The target as it is after a successful result (for the parent's buttons)."""
    if not result.ok:
        return target
    if result.kind is ActionKind.SILENCE:
        return replace(target, silence_id=result.silence_id)
    if result.kind is ActionKind.UNSILENCE:
        return replace(target, silence_id=None)
    if result.kind is ActionKind.MUTE:
        return replace(target, mute_rule=result.mute_rule)
    if result.kind is ActionKind.UNMUTE:
        return replace(target, mute_rule=None)
    return target
