"""Slack actions on an alert message: the buttons and selects, the click parsed, who may act.

Building (`action_elements`): an `actions` block for a parent message. Acknowledge when the alert went to
PagerDuty; Silence 1 h / 4 h / 24 h for an Alertmanager group that is not resolved, Unsilence when silenced; Mute
1 h / 4 h / 24 h for CloudWatch alarms, Unmute when muted. Every `action_id` is namespaced `alert.*`; a value holds
the thread key and, for a select, the duration: never a secret, never a routing key.

Parsing (`parse_interaction`): the form body `payload=<json>` of a `block_actions` request into a frozen `Action`
(who, where, what, for which thread, where to answer). Hostile or malformed input is a `MalformedInput` with one
line, never a crash.

Authorising (`Authoriser`): configured Slack user ids, or members of configured user groups (resolved with
`usergroups.users.list` through an injected callable, `slack_api.UsergroupMembers`); anyone else gets `refusal`
posted to the `response_url` as an ephemeral message, which says so when a user group could not be read.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from alertlib.errors import ForwardingError, MalformedInput
from alertlib.observability import logger
from alertlib.text import one_line

ACTION_PREFIX = "alert."
BLOCK_ID = "alert-actions"
BUTTON_VALUE_LIMIT = 2000  # Slack: a button's value
OPTION_VALUE_LIMIT = 150  # Slack: an option's value
MAX_THREAD_KEY = OPTION_VALUE_LIMIT - 4  # "24h|" + the key fits an option's value
MAX_FORM_BYTES = 1024 * 1024
DURATIONS: dict[str, int] = {"1h": 3600, "4h": 4 * 3600, "24h": 24 * 3600}
_THREAD_KEY = re.compile(rf"[A-Za-z0-9._:#/=+-]{{1,{MAX_THREAD_KEY}}}")
_SLACK_ID = re.compile(r"[A-Z0-9]{2,32}")
_MESSAGE_TS = re.compile(r"[0-9]{1,12}\.[0-9]{1,9}")
_DOMAIN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_NAME = re.compile(r"[^\x00-\x1f\x7f<>&|*_~`]{1,80}")
RESPONSE_HOSTS = frozenset({"hooks.slack.com"})
MAX_MESSAGE_JSON = 96 * 1024  # the clicked message, kept to edit the parent; larger ones are not carried (SQS: 256 KB)


class ActionKind(enum.StrEnum):
    ACKNOWLEDGE = "alert.ack"
    SILENCE = "alert.silence"
    UNSILENCE = "alert.unsilence"
    MUTE = "alert.mute"
    UNMUTE = "alert.unmute"

    @property
    def takes_duration(self) -> bool:
        return self in (ActionKind.SILENCE, ActionKind.MUTE)


# -- building ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActionState:
    """What the parent message knows of its alert, enough to choose the elements."""

    thread_key: str
    paged: bool = False  # the alert went to PagerDuty (Acknowledge makes sense)
    alertmanager: bool = False  # an Alertmanager group (Silence / Unsilence)
    cloudwatch: bool = False  # CloudWatch alarms (Mute / Unmute)
    resolved: bool = False
    acknowledged: bool = False
    silenced: bool = False
    muted: bool = False


def check_thread_key(key: str) -> str:
    """A thread key fit to travel in a value: printable ASCII of a small alphabet, at most `MAX_THREAD_KEY`."""
    if not isinstance(key, str) or not _THREAD_KEY.fullmatch(key):
        raise ValueError(f"a thread key is 1 to {MAX_THREAD_KEY} characters of [A-Za-z0-9._:#/=+-]")
    return key


def action_elements(state: ActionState) -> dict[str, Any] | None:
    """The `actions` block for a parent message, or None when no action applies (a resolved CloudWatch alarm
    that is not muted, an alert that reached only Slack, ...). Raises ValueError for an unfit thread key."""
    key = check_thread_key(state.thread_key)
    elements: list[dict[str, Any]] = []
    if state.paged and not state.resolved and not state.acknowledged:
        elements.append(_button(ActionKind.ACKNOWLEDGE, "Acknowledge", key, style="primary"))
    if state.alertmanager:
        if state.silenced:
            elements.append(_button(ActionKind.UNSILENCE, "Unsilence", key))
        elif not state.resolved:
            elements.append(_select(ActionKind.SILENCE, "Silence…", key))
    if state.cloudwatch:
        if state.muted:
            elements.append(_button(ActionKind.UNMUTE, "Unmute", key))
        elif not state.resolved:
            elements.append(_select(ActionKind.MUTE, "Mute…", key))
    if not elements:
        return None
    return {"type": "actions", "block_id": BLOCK_ID, "elements": elements}


def _button(kind: ActionKind, text: str, key: str, *, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": kind.value,
        "text": {"type": "plain_text", "text": text},
        "value": key,
    }
    if style:
        button["style"] = style
    return button


def _select(kind: ActionKind, placeholder: str, key: str) -> dict[str, Any]:
    return {
        "type": "static_select",
        "action_id": kind.value,
        "placeholder": {"type": "plain_text", "text": placeholder},
        "options": [
            {"text": {"type": "plain_text", "text": f"{label[:-1]} h"}, "value": f"{label}|{key}"}
            for label in DURATIONS
        ],
    }


# -- parsing ----------------------------------------------------------------------------------------------------


class NotAnAlertAction(MalformedInput):
    """A well-formed click on something that is not ours (a link button sends block_actions too): answered 200."""


@dataclass(frozen=True, slots=True)
class Action:
    """One click, as Slack reported it."""

    kind: ActionKind
    thread_key: str
    user_id: str
    user_name: str
    team_id: str
    channel_id: str
    message_ts: str
    response_url: str
    action_ts: str
    duration_seconds: int | None = None
    message: str = field(default="", compare=False, repr=False)  # the clicked message as JSON, or ""
    team_domain: str = ""  # the workspace's subdomain, for a link to the message

    @property
    def message_link(self) -> str | None:
        """The clicked message's permalink (`https://<domain>.slack.com/archives/<channel>/p<ts without the dot>`)."""
        if not self.team_domain:
            return None
        return f"https://{self.team_domain}.slack.com/archives/{self.channel_id}/p{self.message_ts.replace('.', '')}"

    @property
    def duration_label(self) -> str:
        return "" if self.duration_seconds is None else f"{self.duration_seconds // 3600} h"

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "thread_key": self.thread_key,
            "user_id": self.user_id,
            "user_name": self.user_name,
            "team_id": self.team_id,
            "channel_id": self.channel_id,
            "message_ts": self.message_ts,
            "response_url": self.response_url,
            "action_ts": self.action_ts,
            "duration_seconds": self.duration_seconds,
            "message": self.message,
            "team_domain": self.team_domain,
        }

    @classmethod
    def from_json(cls, data: Any, *, response_hosts: Iterable[str] = RESPONSE_HOSTS) -> Action:
        """The inverse of `as_json` (a queued job); every field is checked again."""
        if not isinstance(data, dict):
            raise MalformedInput("a queued action is not an object")
        try:
            kind = ActionKind(str(data.get("kind")))
        except ValueError:
            raise MalformedInput("a queued action has an unknown kind") from None
        duration = data.get("duration_seconds")
        if kind.takes_duration != (duration in DURATIONS.values()):
            raise MalformedInput("a queued action has a wrong duration")
        return cls(
            kind=kind,
            thread_key=_checked(data.get("thread_key"), _THREAD_KEY, "thread key"),
            user_id=_checked(data.get("user_id"), _SLACK_ID, "user id"),
            user_name=_name(data.get("user_name"), data.get("user_id")),
            team_id=_checked(data.get("team_id"), _SLACK_ID, "team id"),
            channel_id=_checked(data.get("channel_id"), _SLACK_ID, "channel id"),
            message_ts=_checked(data.get("message_ts"), _MESSAGE_TS, "message ts"),
            response_url=_response_url(data.get("response_url"), frozenset(response_hosts)),
            action_ts=str(data.get("action_ts") or "")[:32],
            duration_seconds=duration if isinstance(duration, int) else None,
            message=message
            if isinstance(message := data.get("message"), str) and len(message) <= MAX_MESSAGE_JSON
            else "",
            team_domain=_domain(data.get("team_domain")),
        )


def parse_interaction(raw: bytes, *, response_hosts: Iterable[str] = RESPONSE_HOSTS) -> Action:
    """The one `alert.*` action of a `block_actions` request; `MalformedInput` (one line) for anything else."""
    if len(raw) > MAX_FORM_BYTES:
        raise MalformedInput("body too large")
    try:
        text = raw.decode("utf-8")
        form = parse_qs(text, keep_blank_values=True, strict_parsing=True, max_num_fields=8)
    except (UnicodeDecodeError, ValueError):
        raise MalformedInput("body is not a URL-encoded form") from None
    values = form.get("payload")
    if not values or len(values) != 1:
        raise MalformedInput("body has no single payload field")
    try:
        payload = json.loads(values[0])
    except (ValueError, RecursionError):
        raise MalformedInput("payload is not JSON") from None
    if not isinstance(payload, dict):
        raise MalformedInput("payload is not a JSON object")
    if payload.get("type") != "block_actions":
        raise MalformedInput(f"payload type {one_line(str(payload.get('type')))[:40]!r} is not block_actions")
    actions = payload.get("actions")
    if not isinstance(actions, list) or not actions:
        raise MalformedInput("payload has no actions")
    ours = [a for a in actions[:25] if isinstance(a, dict) and str(a.get("action_id", "")).startswith(ACTION_PREFIX)]
    if not ours:
        raise NotAnAlertAction("not an alert action (a link button, another app's element)")
    if len(ours) != 1:
        raise MalformedInput("payload has no single alert action")
    element = ours[0]
    try:
        kind = ActionKind(str(element.get("action_id")))
    except ValueError:
        raise MalformedInput("unknown alert action") from None
    thread_key, duration = _value(kind, element)
    user = _object(payload, "user")
    container, channel = _optional(payload, "container"), _optional(payload, "channel")
    team, message = _optional(payload, "team"), _optional(payload, "message")
    user_id = _checked(user.get("id"), _SLACK_ID, "user id")
    return Action(
        kind=kind,
        thread_key=thread_key,
        user_id=user_id,
        user_name=_name(user.get("username") or user.get("name"), user_id),
        team_id=_checked(team.get("id") or user.get("team_id"), _SLACK_ID, "team id"),
        channel_id=_checked(container.get("channel_id") or channel.get("id"), _SLACK_ID, "channel id"),
        message_ts=_checked(container.get("message_ts") or message.get("ts"), _MESSAGE_TS, "message ts"),
        response_url=_response_url(payload.get("response_url"), frozenset(response_hosts)),
        action_ts=_checked(element.get("action_ts"), _MESSAGE_TS, "action ts"),
        duration_seconds=duration,
        message=_message_json(message),
        team_domain=_domain(team.get("domain")),
    )


def _domain(value: Any) -> str:
    return value if isinstance(value, str) and _DOMAIN.fullmatch(value) else ""


def _message_json(message: dict[str, Any]) -> str:
    """The clicked message's text, blocks and attachments as compact JSON, or "" when absent or too large."""
    kept = {k: message[k] for k in ("text", "blocks", "attachments") if k in message}
    if not kept:
        return ""
    text = json.dumps(kept, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= MAX_MESSAGE_JSON else ""


def _value(kind: ActionKind, element: dict[str, Any]) -> tuple[str, int | None]:
    if not kind.takes_duration:
        value = element.get("value")
        return _checked(value, _THREAD_KEY, "thread key"), None
    selected = element.get("selected_option")
    if not isinstance(selected, dict):
        raise MalformedInput("select without a selected option")
    value = selected.get("value")
    if not isinstance(value, str) or "|" not in value:
        raise MalformedInput("selected option is not duration|key")
    label, _, key = value.partition("|")
    if label not in DURATIONS:
        raise MalformedInput("selected option has an unknown duration")
    return _checked(key, _THREAD_KEY, "thread key"), DURATIONS[label]


def _object(payload: dict[str, Any], name: str) -> dict[str, Any]:
    value = payload.get(name)
    if not isinstance(value, dict):
        raise MalformedInput(f"payload has no {name}")
    return value


def _optional(payload: dict[str, Any], name: str) -> dict[str, Any]:
    value = payload.get(name)
    return value if isinstance(value, dict) else {}


def _checked(value: Any, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise MalformedInput(f"payload has no valid {what}")
    return value


def _name(value: Any, fallback: Any) -> str:
    """A display name fit for a thread line: no control or mrkdwn characters, at most 80; else the user id."""
    if isinstance(value, str) and _NAME.fullmatch(value):
        return value
    return str(fallback)


def _response_url(value: Any, hosts: frozenset[str]) -> str:
    """Only Slack's own response host: the worker POSTs to it, so it must never point elsewhere."""
    if not isinstance(value, str) or len(value) > 512:
        raise MalformedInput("payload has no valid response_url")
    try:
        parts = urlsplit(value)
        host = parts.hostname
        port = parts.port
    except ValueError:
        raise MalformedInput("payload has no valid response_url") from None
    local = host in ("127.0.0.1", "localhost") and parts.scheme == "http"  # the stand-in, only when configured
    if host not in hosts or (parts.scheme != "https" and not local) or (port is not None and not local):
        raise MalformedInput("response_url is not Slack's")
    return value


# -- authorising ------------------------------------------------------------------------------------------------

_GROUP_ID = re.compile(r"S[A-Z0-9]{2,31}")


class Verdict(enum.StrEnum):
    ALLOWED = "allowed"
    REFUSED = "refused"
    UNCHECKED = "unchecked"  # not a listed user, and a listed user group could not be read: refused, said so


@dataclass
class Authoriser:
    """Who may act: listed user ids, or members of listed user groups (`members_of`: `slack_api.UsergroupMembers`,
    which reads `usergroups.users.list` and keeps the answer a minute). A group whose members cannot be read is
    `UNCHECKED` for anyone not otherwise allowed: refused (fail closed), and asked again on the next click."""

    user_ids: frozenset[str] = frozenset()
    usergroup_ids: frozenset[str] = frozenset()
    members_of: Callable[[str], Iterable[str]] | None = None  # usergroups.users.list, injected

    @classmethod
    def from_config(cls, value: str, members_of: Callable[[str], Iterable[str]] | None = None) -> Authoriser:
        """`{"users": ["U…", …], "usergroups": ["S…", …]}` (the environment variable the stack writes)."""
        from alertlib.errors import ConfigurationError

        try:
            decoded = json.loads(value or "{}")
        except ValueError:
            raise ConfigurationError("SLACK_ACTORS is not JSON") from None
        if not isinstance(decoded, dict):
            raise ConfigurationError("SLACK_ACTORS must be a JSON object")
        users, groups = decoded.get("users", []), decoded.get("usergroups", [])
        if not isinstance(users, list) or not all(isinstance(u, str) and _SLACK_ID.fullmatch(u) for u in users):
            raise ConfigurationError("SLACK_ACTORS: users must be a list of Slack user ids (U…/W…)")
        if not isinstance(groups, list) or not all(isinstance(g, str) and _GROUP_ID.fullmatch(g) for g in groups):
            raise ConfigurationError("SLACK_ACTORS: usergroups must be a list of Slack user group ids (S…)")
        if groups and members_of is None:
            raise ConfigurationError(
                "SLACK_ACTORS names user groups but no way to read their members (a Slack app in SLACK_APPS)"
            )
        return cls(user_ids=frozenset(users), usergroup_ids=frozenset(groups), members_of=members_of)

    def allows(self, user_id: str) -> bool:
        return self.decide(user_id) is Verdict.ALLOWED

    def decide(self, user_id: str) -> Verdict:
        if user_id in self.user_ids:
            return Verdict.ALLOWED
        unread = False
        for group in sorted(self.usergroup_ids):
            members = self._members(group)
            if members is None:
                unread = True
            elif user_id in members:
                return Verdict.ALLOWED
        return Verdict.UNCHECKED if unread else Verdict.REFUSED

    def _members(self, group: str) -> frozenset[str] | None:
        """The group's members, or None when they could not be read (any failure: logged, never raised)."""
        if self.members_of is None:
            return None
        try:
            return frozenset(str(m) for m in self.members_of(group))
        except Exception as exc:  # noqa: BLE001 - any failure to read a group refuses, never crashes
            # Our own errors say what failed without a secret; anything else is named by its type only.
            reason = one_line(str(exc))[:300] if isinstance(exc, ForwardingError) else type(exc).__name__
            logger.warning("user group not read", extra={"usergroup": group, "reason": reason})
            return None


def refusal(action: Action, *, unchecked: bool = False) -> dict[str, Any]:
    """The body POSTed to `response_url` when someone not allowed clicked, or whose user groups could not be read
    (`unchecked`): only they see it."""
    text = (
        "Could not check whether you may act on alerts from Slack (the user group could not be read): nothing "
        "was done. Try again in a minute."
        if unchecked
        else "You are not allowed to act on alerts from Slack. Ask the on-call lead to add you."
    )
    return {"response_type": "ephemeral", "replace_original": False, "text": text}


def working_on_it(action: Action) -> dict[str, Any]:
    """The immediate ephemeral answer to an allowed click, before the worker posts the result in the thread."""
    verb = {
        ActionKind.ACKNOWLEDGE: "Acknowledging",
        ActionKind.SILENCE: f"Silencing for {action.duration_label}",
        ActionKind.UNSILENCE: "Expiring the silence",
        ActionKind.MUTE: f"Muting for {action.duration_label}",
        ActionKind.UNMUTE: "Unmuting",
    }[action.kind]
    return {"response_type": "ephemeral", "replace_original": False, "text": f"{verb}…"}
