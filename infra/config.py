"""An environment's configuration: `config/<name>.json`, validated into a typed model before any construct exists.

A wrong file fails with one line naming the file, the field and the reason (`ConfigError`), never a stack trace.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from infra.config_checks import check, strict_json
from infra.slo import SloDefinition

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
TOPICS = ("critical", "warning", "slo", "infrastructure")
# The PagerDuty severity each topic carries (the forwarders' ROUTES); Alertmanager labels and alarm tags override.
TOPIC_SEVERITY = {"critical": "critical", "warning": "warning", "slo": "error", "infrastructure": "error"}
DESTINATIONS = ("pagerduty", "slack")
TopicName = Literal["critical", "warning", "slo", "infrastructure"]
_NAME = r"^[a-z][a-z0-9-]{0,19}$"
_SECRET = r"^[A-Za-z0-9/_+=.@-]{1,512}$"  # noqa: S105 - the pattern of a secret's name, not a secret
SecretName = Annotated[str, Field(pattern=_SECRET)]
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ConfigError(Exception):
    """One line: `config/prod.json: rds[2].allocated_storage_gib: Input should be greater than 0`."""


class _Model(BaseModel):
    # strict: `"threshold": true` or `"threshold": "90"` is refused, never read as 1 or 90.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class AlarmOverride(_Model):
    """Any of an alarm's settings, changed for an environment or a resource; `enabled: false` drops it."""

    enabled: bool | None = None
    threshold: float | None = None
    period: int | None = Field(default=None, ge=10)
    evaluation_periods: int | None = Field(default=None, ge=1, le=100)
    datapoints_to_alarm: int | None = Field(default=None, ge=1, le=100)
    statistic: str | None = None
    topic: TopicName | None = None
    treat_missing_data: Literal["missing", "notBreaching", "breaching", "ignore"] | None = None

    @field_validator("period")
    @classmethod
    def _period(cls, value: int | None) -> int | None:
        if value is not None and value not in (10, 20, 30) and value % 60:
            raise ValueError("must be 10, 20, 30 or a multiple of 60 seconds")
        return value


Overrides = dict[str, AlarmOverride]


class TopicRouting(_Model):
    """Which PagerDuty service and Slack channels a topic reaches (by secret name), and who gets e-mail."""

    pagerduty: SecretName | None = None
    slack: list[SecretName] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)

    @field_validator("emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        for address in value:
            if not _EMAIL.match(address):
                raise ValueError(f"{address!r} is not an e-mail address")
        return value


class RdsInstance(_Model):
    id: str = Field(pattern=r"^[a-zA-Z][a-zA-Z0-9-]{0,62}$")
    engine: Literal["postgres", "mysql", "mariadb", "oracle", "sqlserver", "aurora-postgresql", "aurora-mysql"] = (
        "postgres"
    )
    allocated_storage_gib: int = Field(gt=0, le=65536)
    max_connections: int = Field(gt=0)
    memory_gib: float = Field(gt=0)
    replica: bool = False
    storage_autoscaling: bool = False
    topic: TopicName = "critical"
    overrides: Overrides = Field(default_factory=dict)

    @property
    def aurora(self) -> bool:
        return self.engine.startswith("aurora")


class CacheMember(_Model):
    """One node of ElastiCache as CloudWatch names it: the `CacheClusterId` and `CacheNodeId` its metrics carry."""

    cluster_id: str
    node_id: str
    role: Literal["primary", "replica", "node"]  # "node": a Memcached node (no replication)
    shard: str | None = None  # "0001".. with cluster mode enabled


class CacheCluster(_Model):
    """A Redis OSS / Valkey replication group (`shards` x (1 primary + `replicas_per_shard`); more than one shard
    needs `cluster_mode`), or a Memcached cluster (`node_ids`).

    CloudWatch publishes a group per *member cluster*, one node each (`CacheNodeId` 0001): `<id>-001`, `<id>-002`, …
    with cluster mode disabled, `<id>-0001-001` (shard 0001, node 001) with it enabled; a Memcached cluster under its
    own id, per node `0001`, `0002`, … AWS creates the primary of each shard as its first member (`-001`)."""

    id: str = Field(pattern=r"^[a-zA-Z][a-zA-Z0-9-]{0,49}$")
    engine: Literal["redis", "valkey", "memcached"] = "redis"
    shards: int = Field(default=1, ge=1, le=500)
    replicas_per_shard: int = Field(default=0, ge=0, le=5)
    cluster_mode: bool = False
    node_ids: list[str] | None = Field(default=None, min_length=1)  # Memcached only; default ["0001"]
    vcpus: int = Field(default=2, ge=1)
    max_connections: int = Field(default=65000, gt=0)
    topic: TopicName = "critical"
    overrides: Overrides = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _old_shape(cls, data: Any) -> Any:
        if isinstance(data, dict) and "replication" in data:
            raise ValueError(
                "replication: replaced by replicas_per_shard (and shards, cluster_mode): AWS publishes a replication "
                "group per member, <id>-001, <id>-002, …"
            )
        return data

    @model_validator(mode="after")
    def _shape(self) -> CacheCluster:
        if "--" in self.id or self.id.endswith("-"):
            raise ValueError("id: no two hyphens in a row and no hyphen at the end (ElastiCache naming rule)")
        if self.redis:
            if self.node_ids is not None:
                raise ValueError(
                    "node_ids: Memcached only; a Redis OSS / Valkey replication group is described by shards and "
                    "replicas_per_shard (AWS numbers its members <id>-001, <id>-002, …)"
                )
            if len(self.id) > 40:
                raise ValueError("id: a replication group id has at most 40 characters")
            if self.shards > 1 and not self.cluster_mode:
                raise ValueError("shards: more than one shard needs cluster_mode: true")
            if self.shards * (1 + self.replicas_per_shard) > 500:
                raise ValueError("shards: a replication group has at most 500 nodes (shards x (1 + replicas))")
            return self
        if self.shards != 1 or self.replicas_per_shard or self.cluster_mode:
            raise ValueError(
                "shards, replicas_per_shard, cluster_mode: Redis OSS / Valkey only; a Memcached cluster lists node_ids"
            )
        for node in self.nodes:
            if not re.fullmatch(r"\d{4}", node):
                raise ValueError(f"node_ids: {node!r} is not a Memcached node id (four digits, e.g. 0001)")
        if len(set(self.nodes)) != len(self.nodes):
            raise ValueError("node_ids: must be unique")
        return self

    @property
    def redis(self) -> bool:
        """Redis OSS or Valkey: the same metrics, and replication groups."""
        return self.engine in ("redis", "valkey")

    @property
    def nodes(self) -> list[str]:
        """A Memcached cluster's node ids."""
        return list(self.node_ids or ["0001"])

    @property
    def members(self) -> list[CacheMember]:
        """Every node, as CloudWatch names it, in AWS's order (shard by shard, primary first)."""
        if not self.redis:
            return [CacheMember(cluster_id=self.id, node_id=node, role="node") for node in self.nodes]
        members: list[CacheMember] = []
        for shard in range(1, self.shards + 1):
            prefix = f"{self.id}-{shard:04d}" if self.cluster_mode else self.id
            for number in range(1, self.replicas_per_shard + 2):
                members.append(
                    CacheMember(
                        cluster_id=f"{prefix}-{number:03d}",
                        node_id="0001",
                        role="primary" if number == 1 else "replica",
                        shard=f"{shard:04d}" if self.cluster_mode else None,
                    )
                )
        return members

    @property
    def cache_cluster_ids(self) -> list[str]:
        """The `CacheClusterId` values AWS publishes this cache's metrics under."""
        return list(dict.fromkeys(m.cluster_id for m in self.members))


class EcsService(_Model):
    cluster: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,255}$")
    service: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,255}$")
    topic: TopicName = "critical"
    # The running-task alarm reads Container Insights' RunningTaskCount, which exists only where the cluster has
    # Container Insights on; false skips that alarm (synth says so) instead of leaving one that can never fire.
    container_insights: bool = True
    overrides: Overrides = Field(default_factory=dict)


# The thread events of a Slack app route (alertlib.threads.EventKind but `fired`, which is the parent itself).
ThreadEventName = Literal[
    "refired", "resolved", "acknowledged", "silenced", "unsilenced", "muted", "unmuted", "repeated", "escalated",
    "reassigned",
]  # fmt: skip


def _refired() -> list[ThreadEventName]:
    return ["refired"]  # alertlib.render_thread.DEFAULT_TO_CHANNEL: an alert firing again after its resolve


class SlackApp(_Model):
    """A Slack app route: the first event of an alert is a message, every later one a reply in its thread."""

    # The replies also shown in the channel (`reply_broadcast`); the others are seen in the thread and on the parent.
    thread_events_to_channel: list[ThreadEventName] = Field(default_factory=_refired, max_length=10)

    @field_validator("thread_events_to_channel")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each event at most once")
        return value


class Forwarders(_Model):
    memory_mb: int = Field(default=512, ge=128, le=10240)
    timeout_seconds: int = Field(default=60, ge=10, le=900)
    log_retention_days: int = 90
    tracing: bool = False
    insufficient_data: Literal["ignore", "info", "alarm"] = "info"
    pagerduty_grouping: Literal["group", "alert"] = "group"
    pagerduty_events_url: str = "https://events.pagerduty.com/v2/enqueue"
    redact_patterns: list[str] = Field(default_factory=list)
    # The Slack user group (`S0123ABCD`) the "PagerDuty delivery failed" notice mentions, so someone pages by hand.
    oncall_slack_group: str | None = Field(default=None, pattern=r"^S[A-Z0-9]{2,20}$")
    # Slack *app routes* by secret name (each also listed in a topic's `slack`, like a webhook's secret): the secret
    # holds {"bot_token": "xoxb-…", "channel": "C…"}; one thread per alert, the parent edited as it changes.
    slack_apps: dict[SecretName, SlackApp] = Field(default_factory=dict, max_length=50)

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        allowed = (
            1,
            3,
            5,
            7,
            14,
            30,
            60,
            90,
            120,
            150,
            180,
            365,
            400,
            545,
            731,
            1096,
            1827,
            2192,
            2557,
            2922,
            3288,
            3653,
        )
        if value not in allowed:
            raise ValueError(f"must be one of CloudWatch Logs' retention periods: {allowed}")
        return value

    @field_validator("redact_patterns")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None
        return value


_PRINCIPAL = r"^arn:aws[\w-]*:iam::\d{12}:(root|role/\S+|user/\S+)$"
AlarmNamePrefix = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\s*?]+$")]


class AlertmanagerPublisher(_Model):
    """The role `<env>-alertmanager-publisher` the project creates for an Alertmanager that publishes with
    `sns_configs` (SigV4): it may publish to the alert topics and use the key, nothing else. Who may assume it:
    `trusted_principal_arns` (matched on `aws:PrincipalArn`, so a role that does not exist yet fails no deploy
    and a recreated role matches again), and EKS Pod Identity when `eks_pod_identity` is true."""

    trusted_principal_arns: list[Annotated[str, Field(pattern=_PRINCIPAL)]] = Field(default_factory=list)
    eks_pod_identity: bool = False

    @model_validator(mode="after")
    def _someone(self) -> AlertmanagerPublisher:
        if not self.trusted_principal_arns and not self.eks_pod_identity:
            raise ValueError("name trusted_principal_arns, or set eks_pod_identity: true; nobody could assume the role")
        return self

    @property
    def trusted_accounts(self) -> list[str]:
        return sorted({arn.split(":")[4] for arn in self.trusted_principal_arns})


class Endpoint(_Model):
    """The Alertmanager endpoint. `reserved_concurrency` caps the public function URL so that a flood cannot take
    the account's concurrency from the forwarders; `null` turns the cap off (Lambda refuses a reservation that
    would leave fewer than 100 unreserved executions in the account)."""

    reserved_concurrency: int | None = Field(default=5, ge=1, le=1000)


SlackUserId = Annotated[str, Field(pattern=r"^[UW][A-Z0-9]{2,31}$")]
SlackUserGroupId = Annotated[str, Field(pattern=r"^S[A-Z0-9]{2,31}$")]
_AMP_WORKSPACE = r"^arn:aws[\w-]*:aps:[a-z]{2}(-[a-z]+)+-\d:\d{12}:workspace/ws-[0-9a-zA-Z-]{1,64}$"


class SlackActors(_Model):
    """Who may acknowledge, silence and mute from Slack: user ids (`U…`, `W…`) and user groups (`S…`, their members
    read with the app's bot token, `usergroups:read`). Anyone else gets an ephemeral refusal."""

    users: list[SlackUserId] = Field(default_factory=list, max_length=1000)
    usergroups: list[SlackUserGroupId] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _someone(self) -> SlackActors:
        if not self.users and not self.usergroups:
            raise ValueError("name users or usergroups: nobody could act")
        return self


class OnCall(_Model):
    """Actions from Slack messages and PagerDuty's acknowledgements in the threads (creates the Slack interactivity
    and PagerDuty webhook endpoints, the action queue and worker, their tables). Values are secret *names*: the
    stack creates each secret with a placeholder, the team puts the value in (README)."""

    # {"signing_secret": "…"} from the Slack app's Basic Information (and "previous_signing_secret" during a rotation).
    slack_signing_secret: SecretName
    slack_actors: SlackActors
    # {"secrets": ["…"]}: the PagerDuty webhook subscription's signing secret(s); unset: no PagerDuty webhook endpoint.
    pagerduty_webhook_secret: SecretName | None = None
    # {"api_token": "…"}: a read-only REST API key, to read an incident's dedup keys (needed with the webhook).
    pagerduty_rest_secret: SecretName | None = None
    # Where silences are created (Alertmanager API v2); https only, as credentials go with it. Unset: the secret's url.
    alertmanager_url: str | None = Field(default=None, max_length=2048, pattern=r"^https://[^\s/?#@]+(/[^\s?#]*)?$")
    # {"url"?, "basic_auth": {"username", "password"} | "bearer_token" | "sigv4": {"region"}}; unset: no Silence button.
    alertmanager_secret: SecretName | None = None
    # Amazon Managed Prometheus (sigv4): the workspace silences are created in (aps:PutAlertManagerSilences).
    amp_workspace_arn: str | None = Field(default=None, pattern=_AMP_WORKSPACE)
    # The most executions each public function URL can hold at once; null: no cap (as `endpoint.reserved_concurrency`).
    slack_reserved_concurrency: int | None = Field(default=5, ge=1, le=1000)
    pagerduty_reserved_concurrency: int | None = Field(default=5, ge=1, le=1000)

    @model_validator(mode="after")
    def _consistent(self) -> OnCall:
        if self.pagerduty_webhook_secret and not self.pagerduty_rest_secret:
            raise ValueError(
                "pagerduty_rest_secret: needed with pagerduty_webhook_secret (an incident's dedup keys are read from "
                "the REST API, never from the webhook body)"
            )
        if self.alertmanager_url and not self.alertmanager_secret:
            raise ValueError("alertmanager_secret: needed with alertmanager_url (without it no silence can be made)")
        if self.amp_workspace_arn and not self.alertmanager_secret:
            raise ValueError("alertmanager_secret: needed with amp_workspace_arn (it names the sigv4 region)")
        names = self.secret_names()
        if len(names) != len(set(names)):
            raise ValueError("each on-call secret needs its own name")
        return self

    def secret_names(self) -> list[str]:
        found = [self.slack_signing_secret, self.pagerduty_webhook_secret, self.pagerduty_rest_secret]
        return [n for n in (*found, self.alertmanager_secret) if n]


class EnvironmentConfig(_Model):
    name: str = Field(pattern=_NAME)
    account: str = Field(pattern=r"^\d{12}$")
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    tags: dict[str, str] = Field(default_factory=dict)
    # Names to show instead of 12-digit account numbers in messages (`{"123456789012": "shop-prod"}`).
    account_aliases: dict[
        Annotated[str, Field(pattern=r"^\d{12}$")], Annotated[str, Field(min_length=1, max_length=40, pattern=r"\S")]
    ] = Field(default_factory=dict)  # a name with something to read: the forwarders refuse a blank one
    runbook_base_url: str = Field(pattern=r"^https://\S+$")
    topics: dict[TopicName, TopicRouting]
    alertmanager_publisher: AlertmanagerPublisher | None = None  # creates <env>-alertmanager-publisher
    endpoint: Endpoint = Field(default_factory=Endpoint)
    # Per topic, name prefixes of alarms *not* created by this project (teams' own): an EventBridge rule on their
    # state changes publishes to the topic. The project's own alarms notify through their actions.
    eventbridge_alarms: dict[TopicName, list[AlarmNamePrefix]] = Field(default_factory=dict)
    defaults: Overrides = Field(default_factory=dict)  # per environment, by alarm kind (e.g. "rds-cpu-utilization")
    forwarders: Forwarders = Field(default_factory=Forwarders)
    # An alarm in INSUFFICIENT_DATA this long, or whose metric published nothing this long, is reported as dead.
    dead_alarm_after_hours: int = Field(default=24, ge=1, le=2160)
    rds: list[RdsInstance] = Field(default_factory=list)
    elasticache: list[CacheCluster] = Field(default_factory=list)
    ecs: list[EcsService] = Field(default_factory=list)
    # Service level objectives: burn-rate alarms on CloudWatch, rules for Prometheus (infra/slo.py, tools.slo_rules).
    slos: list[SloDefinition] = Field(default_factory=list, max_length=50)
    # On-call in Slack: acknowledge, silence and mute from the message (needs forwarders.slack_apps).
    oncall: OnCall | None = None

    @model_validator(mode="before")
    @classmethod
    def _old_publisher(cls, data: Any) -> Any:
        if isinstance(data, dict) and "alertmanager_publisher_role_arn" in data:
            raise ValueError(
                'alertmanager_publisher_role_arn: replaced by alertmanager_publisher: {"trusted_principal_arns": '
                '["<that role\'s ARN>"]}: the project now creates <env>-alertmanager-publisher, which that role '
                "assumes (README, Alertmanager with sns_configs)"
            )
        return data

    @model_validator(mode="after")
    def _complete(self) -> EnvironmentConfig:
        for topic, prefixes in self.eventbridge_alarms.items():
            for prefix in prefixes:
                if prefix.startswith(f"{self.name}-") or f"{self.name}-".startswith(prefix):
                    raise ValueError(
                        f"eventbridge_alarms.{topic}: {prefix!r} would match this project's own alarms "
                        f"({self.name}-...), which already notify through their actions: each would arrive twice"
                    )
        missing = [t for t in TOPICS if t not in self.topics]
        if missing:
            raise ValueError(f"topics: every topic needs routing; missing {', '.join(missing)}")
        if not any(r.pagerduty or r.slack for r in self.topics.values()):
            raise ValueError("topics: no topic reaches PagerDuty or Slack")
        ids = [r.id for r in self.rds]
        if len(ids) != len(set(ids)):
            raise ValueError("rds: instance ids must be unique")
        cache_ids = [i for c in self.elasticache for i in dict.fromkeys([c.id, *c.cache_cluster_ids])]
        if len(cache_ids) != len(set(cache_ids)):
            raise ValueError("elasticache: cluster ids, and the member ids AWS derives from them, must be unique")
        services = [(s.cluster, s.service) for s in self.ecs]
        if len(services) != len(set(services)):
            raise ValueError("ecs: (cluster, service) pairs must be unique")
        slo_names = [s.name for s in self.slos]
        if len(slo_names) != len(set(slo_names)):
            raise ValueError("slos: names must be unique")
        self._check_slack_apps()
        return self

    def _check_slack_apps(self) -> None:
        routed = {s for r in self.topics.values() for s in r.slack}
        for name in self.forwarders.slack_apps:
            if name not in routed:
                raise ValueError(
                    f"forwarders.slack_apps: {name!r} is in no topic's slack list; name it there as a webhook's "
                    "secret is, or remove it"
                )
        if self.oncall is None:
            return
        if not self.forwarders.slack_apps:
            raise ValueError(
                "oncall: needs a Slack app route in forwarders.slack_apps (the buttons are on its messages)"
            )
        caps = (self.oncall.slack_reserved_concurrency, self.oncall.pagerduty_reserved_concurrency)
        if self.endpoint.reserved_concurrency is None and any(cap is not None for cap in caps):
            raise ValueError(
                "oncall: endpoint.reserved_concurrency is null (no concurrency to reserve in this account): set "
                "oncall.slack_reserved_concurrency and oncall.pagerduty_reserved_concurrency to null too"
            )
        taken = {r.pagerduty for r in self.topics.values() if r.pagerduty} | routed
        for name in self.oncall.secret_names():
            if name in taken:
                raise ValueError(f"oncall: {name!r} is already a destination's secret; each secret needs its own name")

    @property
    def partition(self) -> str:
        if self.region.startswith("cn-"):
            return "aws-cn"
        if self.region.startswith("us-gov-"):
            return "aws-us-gov"
        return "aws"

    def topic_name(self, topic: str) -> str:
        return f"{self.name}-{topic}"

    def health_topic_name(self, destination: str) -> str:
        """The topic that carries alarms *about* a forwarder; the other forwarder and e-mail read it."""
        return f"{self.name}-{destination}-forwarder-health"

    def forwarder_routes(self, destination: str) -> tuple[dict[str, dict[str, object]], list[str]]:
        """One forwarder's ROUTES (topic name -> severity and secret names) and the topic keys it subscribes to.
        It also reads the health topic of the *other* forwarder, with the infrastructure (else critical) route."""
        routes: dict[str, dict[str, object]] = {}
        subscribed: list[str] = []
        for topic, routing in self.topics.items():
            names = ([routing.pagerduty] if routing.pagerduty else []) if destination == "pagerduty" else routing.slack
            if names:
                routes[self.topic_name(topic)] = {"severity": TOPIC_SEVERITY[topic], "secrets": list(names)}
                subscribed.append(topic)
        other = next(d for d in DESTINATIONS if d != destination)
        fallback = (
            routes.get(self.topic_name("infrastructure"))
            or routes.get(self.topic_name("critical"))
            or next(iter(routes.values()), None)
        )
        if fallback is not None:
            routes[self.health_topic_name(other)] = {"severity": "critical", "secrets": fallback["secrets"]}
            subscribed.append(f"health-{other}")
        # Events that arrive without SNS (an EventBridge rule or a CloudWatch alarm invoking the function, an
        # Alertmanager body) carry no topic: they take the critical topic's route.
        critical = routes.get(self.topic_name("critical"))
        if critical is not None:
            routes["default"] = dict(critical)
        return routes, subscribed

    def fallback_slack_secret(self) -> str | None:
        """Where the PagerDuty forwarder says "PagerDuty delivery failed": the critical (else infrastructure,
        else any) topic's first Slack channel, an incoming webhook before a Slack app route (the notice is posted
        with the webhook's URL)."""
        ordered = [*self.topics["critical"].slack, *self.topics["infrastructure"].slack]
        ordered += [s for r in self.topics.values() for s in r.slack]
        webhooks = [s for s in ordered if s not in self.forwarders.slack_apps]
        return next(iter(webhooks or ordered), None)

    def secret_names(self) -> list[str]:
        names = {r.pagerduty for r in self.topics.values() if r.pagerduty}
        names.update(s for r in self.topics.values() for s in r.slack)
        return sorted(names)

    def slack_apps_environment(self) -> dict[str, dict[str, list[str]]]:
        """`SLACK_APPS` of the Slack forwarder and the on-call functions: app route secret -> events to the channel."""
        return {
            name: {"to_channel": list(app.thread_events_to_channel)}
            for name, app in sorted(self.forwarders.slack_apps.items())
        }


def load_config(name: str, directory: Path = CONFIG_DIR) -> EnvironmentConfig:
    """The validated configuration of environment `name`, or `ConfigError` with one line."""
    if not re.match(_NAME, name or ""):
        raise ConfigError(f"-c env={name!r}: an environment name is lower-case letters, digits and dashes")
    path = directory / f"{name}.json"
    shown = f"config/{path.name}"
    try:
        raw: Any = strict_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        known = ", ".join(sorted(p.stem for p in directory.glob("*.json") if p.stem != "schema")) or "none"
        raise ConfigError(f"{shown}: no such environment (known: {known})") from None
    except ValueError as exc:
        raise ConfigError(f"{shown}: not valid JSON: {exc}") from None
    if isinstance(raw, dict) and raw.get("name", name) != name:
        raise ConfigError(f"{shown}: name: must be {name!r}, the file's name")
    if isinstance(raw, dict):
        raw.setdefault("name", name)
        raw.pop("$schema", None)  # the editor's pointer to config/schema.json
    try:
        config = EnvironmentConfig.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(_part(p) for p in error["loc"]).replace(".[", "[")
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        message = error["msg"].removeprefix("Value error, ")  # model-wide checks name their field themselves
        raise ConfigError(f"{shown}: {where + ': ' if where else ''}{message}{more}") from None
    mistake = check(config)
    if mistake is not None:
        raise ConfigError(f"{shown}: {mistake}")
    return config


def _part(item: int | str) -> str:
    return f"[{item}]" if isinstance(item, int) else str(item)
