"""The pipeline every entry point shares: parse -> normalise -> redact -> render -> deliver.

`prepare` and `render_for` are pure and used by the handlers, `tools.preview` and the local pipeline alike.
`Forwarder.run` is the handler boundary: it owns the choice between dropping with a metric (bad input) and
raising so that Lambda retries and the dead-letter queue keeps the event (failed deliveries).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from alertlib.aws import AwsClient
from alertlib.deliver import Deadline, Delivered, Deliverer, Destination
from alertlib.errors import ConfigurationError, DeliveryError, MalformedInput, NotAStateChange
from alertlib.models import AlertGroup, Source, Status
from alertlib.normalise import normalise
from alertlib.observability import (
    ALERTS_DELIVERED,
    ALERTS_IGNORED,
    ALERTS_RECEIVED,
    DELIVERY_FAILED,
    DELIVERY_RETRIED,
    PAYLOAD_REJECTED,
    Counters,
    logger,
)
from alertlib.parse import Envelope, parse_message, split_event
from alertlib.redact import redact_group
from alertlib.reliability import Ledger, OncePerMessage, latest
from alertlib.render_pagerduty import render_pagerduty
from alertlib.render_slack import render_slack
from alertlib.settings import Settings


class DeliveriesFailedError(Exception):
    """Raised at the end of an invocation in which a delivery failed: Lambda retries, then dead-letters."""


def prepare(envelope: Envelope, settings: Settings, now: datetime) -> AlertGroup:
    """Parse, normalise and scrub one record. Raises `MalformedInput` (or `NotAStateChange`)."""
    group = normalise(parse_message(envelope), envelope, settings, now)
    return redact_group(group, settings.redact_patterns)


def render_for(destination: Destination, group: AlertGroup, settings: Settings, now: datetime) -> list[dict[str, Any]]:
    if destination is Destination.PAGERDUTY:
        return render_pagerduty(
            group, per_alert=settings.pagerduty_grouping == "alert", insufficient_data=settings.insufficient_data
        )
    return [render_slack(group, now=now, max_listed=settings.max_listed_alerts)]


@dataclass
class Outcome:
    """What one invocation did, returned by the handler (and read by tests and the local pipeline)."""

    received: int = 0
    delivered: int = 0
    ignored: int = 0
    rejected: int = 0
    failed: int = 0
    reasons: list[str] = field(default_factory=list)  # why records were refused
    failures: list[str] = field(default_factory=list)  # why deliveries failed

    def as_dict(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "delivered": self.delivered,
            "ignored": self.ignored,
            "rejected": self.rejected,
            "failed": self.failed,
            "reasons": self.reasons,
            "failures": self.failures,
        }


@dataclass
class Forwarder:
    destination: Destination
    settings: Settings
    deliverer: Deliverer
    parker: Any = None  # callable(envelope, reason) keeping a refused record; None: log and count only
    once: OncePerMessage | None = None  # idempotency: each send at most once per message
    ledger: Ledger | None = None  # a record of every delivery

    def __post_init__(self) -> None:
        if self.once is None and self.settings.idempotency_table:
            self.once = OncePerMessage(self.settings.idempotency_table, self._send, self.deliverer.send_slack)
        if self.ledger is None and self.settings.ledger_table:
            self.ledger = Ledger(self.settings.ledger_table)

    @classmethod
    def from_env(cls, destination: Destination) -> Forwarder:
        settings = Settings.from_env()
        deliverer = Deliverer(
            pagerduty_url=settings.pagerduty_url,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            retries=settings.retries,
        )
        parker = SqsParker(settings.rejected_queue_url) if settings.rejected_queue_url else None
        return cls(destination=destination, settings=settings, deliverer=deliverer, parker=parker)

    def run(self, event: Any, context: Any, now: datetime | None = None) -> dict[str, Any]:
        deadline = Deadline.from_context(context)
        if self.once is not None:
            self.once.register(context)
        counters = Counters(self.destination.value)
        outcome = Outcome()
        try:
            for envelope in split_event(event):
                self._one(envelope, deadline, counters, outcome, now or datetime.now(UTC))
        finally:
            counters.flush()
        if outcome.failed:
            raise DeliveriesFailedError(
                f"{outcome.failed} {self.destination.value} deliveries failed; first: {outcome.failures[0]}"
            )
        return outcome.as_dict()

    def _one(self, envelope: Envelope, deadline: Deadline, counters: Counters, outcome: Outcome, now: datetime) -> None:
        logger.set_correlation_id(envelope.message_id)
        outcome.received += 1
        try:
            group = prepare(envelope, self.settings, now)
        except NotAStateChange as exc:
            outcome.ignored += 1
            counters.add(ALERTS_IGNORED, "unknown")
            logger.info("not forwarded", extra={"reason": str(exc), "message_id": envelope.message_id})
            return
        except MalformedInput as exc:
            outcome.rejected += 1
            outcome.reasons.append(str(exc))
            counters.add(PAYLOAD_REJECTED, "unknown")
            logger.warning("payload rejected", extra={"reason": str(exc), "message_id": envelope.message_id})
            try:
                self._park(envelope, str(exc))
            except Exception as park_error:  # noqa: BLE001 - not kept: fail the record so Lambda keeps the event
                self._failed(
                    outcome,
                    counters,
                    "unknown",
                    f"could not keep a refused payload ({type(park_error).__name__})",
                    park_error,
                )
            return
        except Exception as exc:  # noqa: BLE001 - the handler boundary: a bug must not lose the other records
            self._failed(outcome, counters, "unknown", f"could not prepare the message ({type(exc).__name__})", exc)
            return
        source = group.source.value
        counters.add(ALERTS_RECEIVED, source)
        if self.ledger is not None and group.status is Status.RESOLVED and group.source is not Source.ALERTMANAGER:
            checked = self._against_ledger(group)
            if checked is None:
                outcome.ignored += 1
                counters.add(ALERTS_IGNORED, source)
                logger.info("not forwarded", extra={"reason": "OK after INSUFFICIENT_DATA with nothing open",
                                                    "message_id": envelope.message_id})  # fmt: skip
                return
            group = checked
        route = self.settings.route_for(envelope.topic_arn)
        if not route.secrets:
            error = ConfigurationError(f"no {self.destination.value} secret routed for topic {envelope.topic_name!r}")
            self._failed(outcome, counters, source, str(error), None)
            return
        bodies = render_for(self.destination, group, self.settings, now)
        sends = [(secret, index, body) for secret in route.secrets for index, body in enumerate(bodies)]
        for secret, index, body in sends:
            key = {
                "message": envelope.message_id,
                "destination": self.destination.value,
                "secret": secret,
                "part": index,
            }
            try:
                delivered = (
                    self.once.send(key, body, secret, deadline) if self.once else self._send(body, secret, deadline)
                )
            except (DeliveryError, ConfigurationError) as exc:
                self._failed(outcome, counters, source, str(exc), None)
                self._fall_back(group, str(exc), deadline, now, maybe_delivered=getattr(exc, "maybe_delivered", False))
                continue
            except Exception as exc:  # noqa: BLE001 - the handler boundary (idempotency store, a bug)
                self._failed(outcome, counters, source, f"delivery crashed ({type(exc).__name__})", exc)
                continue
            outcome.delivered += 1
            counters.add(ALERTS_DELIVERED, source)
            counters.add(DELIVERY_RETRIED, source, max(delivered.attempts - 1, 0))
            self._record(group)
            logger.info(
                "delivered",
                extra={
                    "destination": self.destination.value,
                    "source": source,
                    "status": group.status.value,
                    "alert_key": group.dedup_key,
                    "attempts": delivered.attempts,
                },
            )

    def _against_ledger(self, group: AlertGroup) -> AlertGroup | None:
        """An OK, read against what was delivered: None when it leaves INSUFFICIENT_DATA with nothing open (every
        new alarm does that once: no "RESOLVED" flood on deploy); else the group, with the start of the problem
        when CloudWatch's notification did not say it (so the resolved message says how long it lasted)."""
        assert self.ledger is not None
        alert = group.alerts[0]
        try:
            last = latest(self.ledger.deliveries(group.dedup_key, since=0))
        except Exception as exc:  # noqa: BLE001 - without the ledger, forward as if it were not there
            logger.warning("ledger read failed", extra={"reason": type(exc).__name__, "alert_key": group.dedup_key})
            return group
        if alert.previous is Status.INSUFFICIENT_DATA and (last is None or last["state"] == Status.RESOLVED.value):
            return None
        if last and last["state"] == Status.FIRING.value and alert.starts_at is None and last["seconds_to_deliver"]:
            started = datetime.fromtimestamp(last["delivered_at"] - last["seconds_to_deliver"], UTC)
            return replace(group, alerts=(replace(alert, starts_at=started), *group.alerts[1:]))
        return group

    def _record(self, group: AlertGroup) -> None:
        if self.ledger is None:
            return
        try:
            self.ledger.record(group, self.destination, time.time())
        except Exception as exc:  # noqa: BLE001 - the ledger must never turn a delivery into a failure
            logger.warning("ledger write failed", extra={"reason": type(exc).__name__, "alert_key": group.dedup_key})

    def _fall_back(
        self, group: AlertGroup, reason: str, deadline: Deadline, now: datetime, *, maybe_delivered: bool = False
    ) -> None:
        """PagerDuty kept failing: say so in the critical Slack channel, carrying the alert. The event itself
        still fails, so it is retried and kept in the dead-letter queue. When PagerDuty's answer was lost, the
        notice says the page may or may not have gone, rather than that it did not."""
        secret = self.settings.fallback_slack_secret
        if self.destination is not Destination.PAGERDUTY or not secret:
            return
        if maybe_delivered:
            what = "the resolve of this alert" if group.status is Status.RESOLVED else "this alert"
            notice = (
                f"PagerDuty's answer to {what} was lost ({reason}): it may or may not have been taken. Check "
                "PagerDuty; if no incident is open (or it is still open after the resolve), act by hand. The event "
                "is kept in the dead-letter queue and retried."
            )
        elif group.status is Status.RESOLVED:
            notice = (
                f"PagerDuty did not take the resolve of this alert ({reason}). The incident may still be open: "
                "resolve it by hand. The event is kept in the dead-letter queue and retried."
            )
        else:
            notice = (
                f"PagerDuty did not take this alert ({reason}). Nobody may have been paged: page the on-call by "
                "hand. The event is kept in the dead-letter queue and retried."
            )
        body = render_slack(group, now=now, max_listed=self.settings.max_listed_alerts, notice=notice)
        key = {"message": group.message_id, "destination": "fallback", "secret": secret, "part": 0}
        try:
            if self.once is not None:
                self.once.send(key, body, secret, deadline, slack=True)
            else:
                self.deliverer.send_slack(body, secret, deadline)
        except Exception as exc:  # noqa: BLE001 - the fallback is best effort; the event is failing anyway
            logger.error("fallback to Slack failed", extra={"reason": str(exc)[:200]})
            return
        logger.warning("fallback sent to Slack", extra={"alert_key": group.dedup_key})

    def _send(self, body: dict[str, Any], secret: str, deadline: Deadline) -> Delivered:
        if self.destination is Destination.PAGERDUTY:
            return self.deliverer.send_pagerduty(body, secret, deadline)
        return self.deliverer.send_slack(body, secret, deadline)

    def _failed(self, outcome: Outcome, counters: Counters, source: str, reason: str, exc: Exception | None) -> None:
        outcome.failed += 1
        outcome.failures.append(reason)
        counters.add(DELIVERY_FAILED, source)
        if exc is not None:
            logger.exception("delivery failed", extra={"reason": reason, "destination": self.destination.value})
        else:
            logger.error("delivery failed", extra={"reason": reason, "destination": self.destination.value})

    def _park(self, envelope: Envelope, reason: str) -> None:
        if self.parker is None:
            return
        self.parker(envelope, reason)  # raising here fails the record (kept by Lambda), never the others


class SqsParker(AwsClient):
    """Keeps refused records in the rejected queue with the reason, so nothing is dropped unseen."""

    service = "sqs"

    def __init__(self, queue_url: str, client: Any = None) -> None:
        super().__init__(client)
        self.queue_url = queue_url

    def __call__(self, envelope: Envelope, reason: str) -> None:
        body = envelope.body if isinstance(envelope.body, str) else json.dumps(envelope.body, default=str)
        self.client.send_message(
            QueueUrl=self.queue_url,
            MessageBody=body[:250_000] or "(empty)",
            MessageAttributes={
                "reason": {"DataType": "String", "StringValue": reason[:1000]},
                "message_id": {"DataType": "String", "StringValue": envelope.message_id},
                "topic_arn": {"DataType": "String", "StringValue": envelope.topic_arn or "-"},
            },
        )
