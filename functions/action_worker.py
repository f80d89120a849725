"""The action worker: reads jobs from the action queue (SQS, partial batch failures), runs the executor, records
the audit item, answers the clicker and posts the thread note (alertlib.interactions.ActionWorker)."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from alertlib.actions import ActionTarget, Executor
from alertlib.audit_log import DynamoAuditLog
from alertlib.aws import session
from alertlib.deliver import Deadline, Deliverer, powertools_secret
from alertlib.errors import ConfigurationError, MalformedInput, TransientDeliveryError
from alertlib.interactions import ActionWorker, sqs_jobs
from alertlib.observability import logger, metrics, traced
from alertlib.pagerduty_webhooks import PagerDutyAlertKeys, rest_token
from alertlib.silences import AlertmanagerCredentials, AlertmanagerSilences

worker: ActionWorker | None = None
MAX_RECEIVES = int(os.environ.get("MAX_RECEIVES") or 3)  # the queue's maxReceiveCount: the last try posts failure


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ConfigurationError(f"{name} is not set")
    return value


def find_target_unwired(thread_key: str) -> ActionTarget | None:
    """THE WIRING SESSION REPLACES THIS with a read of the thread store (H7's threads.py): thread key -> the
    alert's environment, PagerDuty secret name and dedup key, group labels, alarm names, silence id, mute rule."""
    logger.warning("thread store not wired", extra={"thread_key": thread_key})
    return None


def build() -> ActionWorker:
    am_secret = os.environ.get("ALERTMANAGER_SECRET")
    am_url = os.environ.get("ALERTMANAGER_URL") or None
    pd_rest = os.environ.get("PAGERDUTY_REST_SECRET")
    silences = (
        AlertmanagerSilences(lambda: AlertmanagerCredentials.from_secret(powertools_secret(am_secret), url=am_url))
        if am_secret
        else None
    )
    return ActionWorker(
        executor=Executor(
            deliverer=Deliverer(
                pagerduty_url=os.environ.get("PAGERDUTY_EVENTS_URL") or "https://events.pagerduty.com/v2/enqueue"
            ),
            silences=silences,
            cloudwatch=session().client("cloudwatch"),
        ),
        find_target=find_target_unwired,
        audit=DynamoAuditLog(_env("AUDIT_TABLE")),
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
