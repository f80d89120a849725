"""The action worker: reads jobs from the action queue (SQS, partial batch failures), runs the executor, records
the audit item, answers the clicker and posts the thread note (alertlib.interactions.ActionWorker)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, overload

from aws_lambda_powertools.metrics import MetricUnit

from alertlib.action_threads import SlackThreadPoster, ThreadTargets
from alertlib.actions import ActionTarget, Executor
from alertlib.audit_log import DynamoAuditLog
from alertlib.aws import session
from alertlib.deliver import Deadline, Deliverer, powertools_secret
from alertlib.errors import ConfigurationError, MalformedInput, TransientDeliveryError
from alertlib.interactions import ActionWorker, post_to_thread_unwired, sqs_jobs
from alertlib.observability import logger, metrics, traced
from alertlib.pagerduty_webhooks import PagerDutyAlertKeys, rest_token
from alertlib.settings import SLACK_API_URL, parse_slack_apps
from alertlib.silences import AlertmanagerCredentials, AlertmanagerSilences
from alertlib.slack_actions import Action
from alertlib.slack_api import AppCredentials, SlackApi, read_credentials
from alertlib.slack_signature import DynamoReplayGuard
from alertlib.threads import ThreadStore

worker: ActionWorker | None = None
MAX_RECEIVES = int(os.environ.get("MAX_RECEIVES") or 3)  # the queue's maxReceiveCount: the last try posts failure


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ConfigurationError(f"{name} is not set")
    return value


def no_thread_store(action: Action) -> ActionTarget | None:
    """Without THREAD_TABLE (no Slack app route) no click can name a thread: each is answered "no longer known"."""
    logger.warning("no thread store configured", extra={"thread_key": action.thread_key})
    return None


def _json_env(name: str) -> dict[str, str]:
    try:
        value = json.loads(os.environ.get(name) or "{}")
    except ValueError:
        raise ConfigurationError(f"{name} is not JSON") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ConfigurationError(f"{name} must be a JSON object of strings")
    return value


class AppChannels(Sequence[str]):
    """The Slack app routes' channels (`SLACK_APPS` names their secrets; each secret names its channel): read from
    the secrets on first use, not at start, and kept for the container's life; a channel not found is looked up
    once more (a secret moved to another channel). `credentials(channel)` is the token of the route posting there."""

    def __init__(self, secrets: Sequence[str], read: Callable[[str], AppCredentials] = read_credentials) -> None:
        self.secrets = tuple(secrets)
        self._read = read
        self._by_channel: dict[str, str] | None = None
        self._lock = threading.Lock()

    def _channels(self, *, fresh: bool = False) -> dict[str, str]:
        with self._lock:
            if self._by_channel is None or fresh:
                self._by_channel = {self._read(secret).channel: secret for secret in self.secrets}
            return self._by_channel

    def credentials(self, channel: str) -> AppCredentials:
        secret = self._channels().get(channel) or self._channels(fresh=True).get(channel)
        if secret is None:
            raise ConfigurationError(f"no Slack app route (SLACK_APPS) posts into channel {channel[:32]!r}")
        return self._read(secret)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return tuple(self._channels())[index]

    def __len__(self) -> int:
        return len(self._channels())

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._channels()))


def build() -> ActionWorker:
    am_secret = os.environ.get("ALERTMANAGER_SECRET")
    am_url = os.environ.get("ALERTMANAGER_URL") or None
    pd_rest = os.environ.get("PAGERDUTY_REST_SECRET")
    silences = (
        AlertmanagerSilences(lambda: AlertmanagerCredentials.from_secret(powertools_secret(am_secret), url=am_url))
        if am_secret
        else None
    )
    thread_table = os.environ.get("THREAD_TABLE")
    replay_table = os.environ.get("REPLAY_TABLE")
    find_target: Any = no_thread_store
    post_to_thread: Any = post_to_thread_unwired
    if thread_table:
        channels = AppChannels(tuple(parse_slack_apps(os.environ.get("SLACK_APPS", ""))))
        pagerduty_secrets = _json_env("PAGERDUTY_SECRETS")  # thread routing -> routing-key secret name
        store = ThreadStore(thread_table)
        find_target = ThreadTargets(
            # A thread's routing is the topic its alert came by (the Slack forwarder's route); a topic that pages
            # nobody has no routing key: its Acknowledge is answered as not paged, never sent under another key.
            store,
            _env("ENVIRONMENT"),
            lambda routing: pagerduty_secrets.get(routing) or None,
        )
        post_to_thread = SlackThreadPoster(
            SlackApi(api_url=os.environ.get("SLACK_API_URL") or SLACK_API_URL),
            store,
            channels.credentials,
            channels=channels,
        )
    return ActionWorker(
        executor=Executor(
            deliverer=Deliverer(
                pagerduty_url=os.environ.get("PAGERDUTY_EVENTS_URL") or "https://events.pagerduty.com/v2/enqueue"
            ),
            silences=silences,
            cloudwatch=session().client("cloudwatch"),
        ),
        find_target=find_target,
        post_to_thread=post_to_thread,
        audit=DynamoAuditLog(_env("AUDIT_TABLE")),
        claims=DynamoReplayGuard(replay_table, prefix="action#") if replay_table else None,
        alert_keys=PagerDutyAlertKeys(lambda: rest_token(powertools_secret(pd_rest))) if pd_rest else None,
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global worker
    if worker is None:
        worker = build()
    failures: list[dict[str, str]] = []
    deadline = Deadline.from_context(context)
    for message_id, job, receives in sqs_jobs(event):
        try:
            notes = worker.run(job, deadline, last_attempt=receives >= MAX_RECEIVES)
            metrics.add_metric(name="ActionsDone", unit=MetricUnit.Count, value=1)
            logger.info("job done", extra={"message_id": message_id, "notes": len(notes)})
        except MalformedInput as exc:  # never better on a retry: dropped with a metric
            logger.error("job dropped", extra={"message_id": message_id, "reason": str(exc)})
            metrics.add_metric(name="PayloadRejected", unit=MetricUnit.Count, value=1)
        except (TransientDeliveryError, Exception) as exc:  # noqa: BLE001 - the boundary: retried by the queue
            logger.exception("job failed", extra={"message_id": message_id, "reason": type(exc).__name__})
            metrics.add_metric(name="ActionFailed", unit=MetricUnit.Count, value=1)
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}
