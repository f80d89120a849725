"""Settings: read once from the environment, validated, failing fast with the variable's name."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from alertlib.errors import ConfigurationError
from alertlib.models import Severity
from alertlib.severity import parse_severity, severity_for_topic

if TYPE_CHECKING:
    from alertlib.threads import EventKind

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SLACK_API_URL = "https://slack.com/api/"
DEFAULT_ROUTE = "default"
INSUFFICIENT_DATA_MODES = ("ignore", "info", "alarm")
PAGERDUTY_GROUPINGS = ("group", "alert")


@dataclass(frozen=True, slots=True)
class Route:
    """What a topic means to a forwarder: the severity it carries and the secrets naming its destinations
    (one PagerDuty service, or one Slack channel per webhook)."""

    severity: Severity
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Settings:
    routes: Mapping[str, Route] = field(default_factory=dict)  # by topic name (or ARN); "default" without SNS
    fallback_severity: Severity = Severity.ERROR  # a topic no route names and whose name says nothing
    insufficient_data: str = "info"  # ignore | info (an info event, never critical) | alarm (capped at error)
    pagerduty_grouping: str = "group"  # group: one PagerDuty alert per Alertmanager group; alert: one per alert
    pagerduty_url: str = PAGERDUTY_EVENTS_URL
    redact_patterns: tuple[re.Pattern[str], ...] = ()
    connect_timeout: float = 3.05
    read_timeout: float = 10.0
    retries: int = 4
    max_listed_alerts: int = 10  # alerts listed one by one in a Slack message before "and N more"
    rejected_queue_url: str | None = None  # where refused payloads are kept (the dead-letter queue)
    idempotency_table: str | None = None  # DynamoDB table for Powertools idempotency: each send once
    ledger_table: str | None = None  # DynamoDB table recording every delivery (drills read it)
    fallback_slack_secret: str | None = None  # PagerDuty forwarder: where to say "PagerDuty delivery failed"
    pacer_table: str | None = None  # DynamoDB pacer table: paces each channel, buffers storms (None: no pacing)
    queue_url: str | None = None  # the forwarder's own SQS queue: where it schedules its flushes
    environment_name: str | None = None  # the config's name (`prod`): messages name it, not an account number
    account_aliases: Mapping[str, str] = field(default_factory=dict)  # account id -> name shown for it
    oncall_slack_group: str | None = None  # Slack user group id (`S0123ABCD`) the delivery-failed notice mentions
    # Slack app routes (`SLACK_APPS`): secret name -> the thread events whose replies are also shown in the channel.
    # A Slack secret named here holds a bot token and a channel id; every other Slack secret is an incoming webhook.
    slack_apps: Mapping[str, frozenset[EventKind]] = field(default_factory=dict)
    thread_table: str | None = None  # DynamoDB table of the app routes' threads (`THREAD_TABLE`)
    slack_api_url: str = SLACK_API_URL  # the Slack Web API (`SLACK_API_URL`: a stand-in locally and in tests)
    # The topics (route names) that also page (`PAGED_ROUTES`): an app route's parent offers Acknowledge only for
    # them. None (not set): offered for every route, as the forwarder cannot tell.
    paged_routes: frozenset[str] | None = None
    # `SLACK_ACTIONS=off`: no interactivity endpoint answers clicks (no `oncall` section), so parents offer no buttons.
    slack_actions: bool = True
    # Pacing (not read from the environment: the limits are the destinations', not a deployment's choice).
    slack_interval_ms: int = 1000  # one message per second per webhook
    slack_max_interval_ms: int = 30_000  # while storming, a digest at most every 30 s
    pagerduty_interval_ms: int = 500  # 120 events a minute per routing key
    pagerduty_max_interval_ms: int = 20_000
    storm_min: int = 5  # new PagerDuty alerts in one flush (no storm open) that open a storm incident
    storm_quiet_ms: int = 15 * 60_000  # a storm this old takes no new alert but a storm-sized flush (others page alone)
    flush_max: int = 500  # buffered records taken by one PagerDuty flush; more are left to the next
    slack_flush_max: int = 50  # records in one Slack digest (it names ~107 of 60 chars; 100 drained slower: storm)
    backlog_interval_ms: int = 5000  # while a full flush left a backlog, the next flush comes at most this late

    def route_for(self, topic_arn: str | None) -> Route:
        """The route of a topic: by name, then by ARN, then `default`, then the severity the name implies."""
        name = topic_arn.rsplit(":", 1)[-1] if topic_arn else None
        for key in (name, topic_arn):
            if key and key in self.routes:
                return self.routes[key]
        implied = severity_for_topic(name)
        if implied is not None:
            default = self.routes.get(DEFAULT_ROUTE)
            return Route(severity=implied, secrets=default.secrets if default else ())
        if DEFAULT_ROUTE in self.routes:
            return self.routes[DEFAULT_ROUTE]
        return Route(severity=self.fallback_severity)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            routes=parse_routes(env.get("ROUTES", "")),
            insufficient_data=_choice(env, "INSUFFICIENT_DATA", "info", INSUFFICIENT_DATA_MODES),
            pagerduty_grouping=_choice(env, "PAGERDUTY_GROUPING", "group", PAGERDUTY_GROUPINGS),
            pagerduty_url=env.get("PAGERDUTY_EVENTS_URL") or PAGERDUTY_EVENTS_URL,
            redact_patterns=_patterns(env.get("REDACT_PATTERNS", "")),
            connect_timeout=_number(env, "HTTP_CONNECT_TIMEOUT", 3.05),
            read_timeout=_number(env, "HTTP_READ_TIMEOUT", 10.0),
            retries=int(_number(env, "HTTP_RETRIES", 4)),
            max_listed_alerts=int(_number(env, "MAX_LISTED_ALERTS", 10)),
            rejected_queue_url=env.get("REJECTED_QUEUE_URL") or None,
            idempotency_table=env.get("IDEMPOTENCY_TABLE") or None,
            ledger_table=env.get("LEDGER_TABLE") or None,
            fallback_slack_secret=env.get("FALLBACK_SLACK_SECRET") or None,
            pacer_table=env.get("PACER_TABLE") or None,
            queue_url=env.get("QUEUE_URL") or None,
            environment_name=_environment_name(env.get("ENVIRONMENT_NAME", "")),
            account_aliases=parse_account_aliases(env.get("ACCOUNT_ALIASES", "")),
            oncall_slack_group=_slack_group(env.get("ONCALL_SLACK_GROUP", "")),
            slack_apps=parse_slack_apps(env.get("SLACK_APPS", "")),
            thread_table=env.get("THREAD_TABLE") or None,
            slack_api_url=_api_url(env.get("SLACK_API_URL", "")),
            paged_routes=_names(env, "PAGED_ROUTES"),
            slack_actions=_choice(env, "SLACK_ACTIONS", "on", ("on", "off")) == "on",
        )


def parse_routes(raw: str) -> dict[str, Route]:
    """`ROUTES`: `{"prod-critical": {"severity": "critical", "secrets": ["alerting/prod/pagerduty"]}, ...}`
    (`"secret": "name"` is accepted for one)."""
    if not raw.strip():
        return {}
    try:
        decoded = json.loads(raw)
    except ValueError as exc:
        raise ConfigurationError(f"ROUTES is not valid JSON: {exc}") from exc
    if not isinstance(decoded, dict):
        raise ConfigurationError("ROUTES must be a JSON object of topic name to route")
    routes: dict[str, Route] = {}
    for topic, value in decoded.items():
        if not isinstance(value, dict):
            raise ConfigurationError(f"ROUTES[{topic!r}] must be an object with severity and secret")
        severity = parse_severity(value.get("severity")) or severity_for_topic(topic)
        if severity is None:
            raise ConfigurationError(f"ROUTES[{topic!r}].severity is missing or unknown")
        secrets = value.get("secrets", [value["secret"]] if value.get("secret") else [])
        if not isinstance(secrets, list) or not all(isinstance(name, str) and name for name in secrets):
            raise ConfigurationError(f"ROUTES[{topic!r}].secrets must be a list of secret names")
        routes[str(topic)] = Route(severity=severity, secrets=tuple(secrets))
    return routes


def parse_slack_apps(raw: str) -> dict[str, frozenset[EventKind]]:
    """`SLACK_APPS`: `{"alerting/prod/slack-app": {"to_channel": ["refired", "resolved"]}}`: the Slack routes (by
    secret name) that post as a Slack app, each with the thread events whose replies are also shown in the channel
    (`to_channel` left out: `render_thread.DEFAULT_TO_CHANNEL`; `[]`: none)."""
    if not raw.strip():
        return {}
    from alertlib.render_thread import DEFAULT_TO_CHANNEL, to_channel  # only where app routes are configured

    try:
        decoded = json.loads(raw)
    except ValueError as exc:
        raise ConfigurationError(f"SLACK_APPS is not valid JSON: {exc}") from exc
    if not isinstance(decoded, dict):
        raise ConfigurationError("SLACK_APPS must be a JSON object of secret name to app settings")
    apps: dict[str, frozenset[EventKind]] = {}
    for secret, value in decoded.items():
        if not secret or not isinstance(value, dict):
            raise ConfigurationError(f"SLACK_APPS[{str(secret)[:80]!r}] must be an object (with to_channel)")
        kinds = value.get("to_channel")
        if kinds is None:
            apps[str(secret)] = DEFAULT_TO_CHANNEL
            continue
        if not isinstance(kinds, list):
            raise ConfigurationError(f"SLACK_APPS[{secret!r}].to_channel must be a list of thread events")
        try:
            apps[str(secret)] = to_channel(kinds)
        except ValueError as exc:
            raise ConfigurationError(f"SLACK_APPS[{secret!r}].to_channel: {exc}") from None
    return apps


def _names(env: Mapping[str, str], name: str) -> frozenset[str] | None:
    """A JSON list of names, or None when the variable is not set."""
    raw = env.get(name, "")
    if not raw.strip():
        return None
    try:
        decoded = json.loads(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} is not valid JSON: {exc}") from exc
    if not isinstance(decoded, list) or not all(isinstance(item, str) and item for item in decoded):
        raise ConfigurationError(f"{name} must be a JSON list of names")
    return frozenset(decoded)


def _api_url(raw: str) -> str:
    value = raw.strip()
    if not value:
        return SLACK_API_URL
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
        raise ConfigurationError(f"SLACK_API_URL must be an http(s) URL, not {value[:60]!r}")
    return value


MAX_ALIAS = 40
_ACCOUNT = re.compile(r"\d{12}")
_SLACK_GROUP = re.compile(r"S[A-Z0-9]{2,20}")
_ENVIRONMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")


def parse_account_aliases(raw: str) -> dict[str, str]:
    """`ACCOUNT_ALIASES`: `{"123456789012": "shop-prod"}`, the names messages show instead of account numbers."""
    if not raw.strip():
        return {}
    try:
        decoded = json.loads(raw)
    except ValueError as exc:
        raise ConfigurationError(f"ACCOUNT_ALIASES is not valid JSON: {exc}") from exc
    if not isinstance(decoded, dict):
        raise ConfigurationError("ACCOUNT_ALIASES must be a JSON object of account id to name")
    aliases: dict[str, str] = {}
    for account, alias in decoded.items():
        if not _ACCOUNT.fullmatch(str(account)):
            raise ConfigurationError(f"ACCOUNT_ALIASES key {str(account)[:20]!r} is not a 12-digit account id")
        if not isinstance(alias, str) or not alias.strip() or len(alias) > MAX_ALIAS:
            raise ConfigurationError(f"ACCOUNT_ALIASES[{account!r}] must be a name of 1-{MAX_ALIAS} characters")
        aliases[str(account)] = " ".join(alias.split())
    return aliases


def _slack_group(raw: str) -> str | None:
    """`ONCALL_SLACK_GROUP`: a Slack user group id (`S0123ABCD`); the mention is built from it, never from text."""
    value = raw.strip()
    if not value:
        return None
    if not _SLACK_GROUP.fullmatch(value):
        raise ConfigurationError(f"ONCALL_SLACK_GROUP must be a Slack user group id like S0123ABCD, not {value[:30]!r}")
    return value


def _environment_name(raw: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    if not _ENVIRONMENT.fullmatch(value):
        raise ConfigurationError(
            f"ENVIRONMENT_NAME must be a short name (letters, digits, - and _), not {value[:40]!r}"
        )
    return value


def _patterns(raw: str) -> tuple[re.Pattern[str], ...]:
    if not raw.strip():
        return ()
    try:
        decoded = json.loads(raw)
    except ValueError as exc:
        raise ConfigurationError(f"REDACT_PATTERNS is not valid JSON: {exc}") from exc
    if not isinstance(decoded, list) or not all(isinstance(p, str) for p in decoded):
        raise ConfigurationError("REDACT_PATTERNS must be a JSON list of regular expressions")
    compiled = []
    for pattern in decoded:
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise ConfigurationError(f"REDACT_PATTERNS has an invalid pattern {pattern!r}: {exc}") from exc
    return tuple(compiled)


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = (env.get(name) or default).strip().lower()
    if value not in choices:
        raise ConfigurationError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, not {raw!r}") from None
    if value < 0:
        raise ConfigurationError(f"{name} must not be negative")
    return value
