"""The pipeline every entry point shares: parse -> normalise -> redact -> render -> deliver.

`prepare` and `render_for` are pure and used by the handlers, `tools.preview` and the local pipeline alike.
`Forwarder.run` is the handler boundary: it owns the choice between dropping with a metric (bad input) and
failing so that the event is received again and the dead-letter queue keeps it (failed deliveries). An SNS event
fails by raising (Lambda retries); an SQS batch names its failed records in `batchItemFailures`, and with a pacer
table each channel is paced (`pacing.py`): a lone alert goes at once, a storm becomes one digest or one storm
incident per interval. A Slack route named in `SLACK_APPS` is a Slack app's: each alert goes into its own thread
(`slack_app.SlackAppSender`), a digest into the channel; every other Slack route is an incoming webhook.
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from alertlib import recheck
from alertlib.aws import AwsClient
from alertlib.deliver import Deadline, Delivered, Deliverer, Destination
from alertlib.errors import (
    ConfigurationError,
    DeliveryError,
    MalformedInput,
    NotAStateChange,
    PacerError,
    PermanentDeliveryError,
)
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
from alertlib.pacing import (
    ALERTS_BUFFERED,
    ALERTS_STALE,
    DIGESTS_SENT,
    FLUSH_RETRY_MS,
    MAX_FLUSH_EVENTS,
    PACER_FAILED,
    STORM_EVENTS_SENT,
    Pace,
    Pacer,
    Slot,
    changed_ms,
    channel_for,
    flush_key,
    pace_for,
    pending_key,
    retry_visibility,
    secret_of,
)
from alertlib.parse import Envelope, is_sqs_event, parse_message, split_event
from alertlib.recheck import Rechecker, RecheckError
from alertlib.redact import redact_group
from alertlib.reliability import Ledger, OncePerMessage, latest
from alertlib.render_pagerduty import StormMember, render_pagerduty, render_storm, suppressed
from alertlib.render_slack import delivery_failed_notice, render_digest, render_slack
from alertlib.settings import DEFAULT_ROUTE, Settings
from alertlib.slo_burn import QUERY_SECONDS, SloQueries, enrich_slo, wants_numbers

if TYPE_CHECKING:
    from alertlib.slack_app import SlackAppSender

SLO_MIN_SECONDS = 0.1  # less left of the invocation's time for SLO numbers: not worth a call
SLO_QUIET_SECONDS = 60.0  # after CloudWatch did not answer in time, no SLO reads for this long (per container)
ALERTS_SUPPRESSED = "AlertsSuppressed"  # PagerDuty: a state whose actions CloudWatch suppressed, not paged


class DeliveriesFailedError(Exception):
    """Raised at the end of an invocation in which a delivery failed: Lambda retries, then dead-letters."""


def prepare(envelope: Envelope, settings: Settings, now: datetime) -> AlertGroup:
    """Parse, normalise and scrub one record. Raises `MalformedInput` (or `NotAStateChange`)."""
    group = normalise(parse_message(envelope), envelope, settings, now)
    return redact_group(group, settings.redact_patterns)


def render_for(destination: Destination, group: AlertGroup, settings: Settings, now: datetime) -> list[dict[str, Any]]:
    if destination is Destination.PAGERDUTY:
        return render_pagerduty(
            group,
            per_alert=settings.pagerduty_grouping == "alert",
            insufficient_data=settings.insufficient_data,
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
    pacer: Pacer | None = None  # paces each channel and buffers storms (SQS events only)
    clock: Callable[[], float] = time.time  # the pacer's clock (epoch seconds); rendering reads `now`
    app: SlackAppSender | None = None  # Slack app routes (`SLACK_APPS`): threads through the Web API
    rechecker: Rechecker | None = None  # PagerDuty: looks again at composites suppressed for a while (own queue)
    slo_queries: SloQueries | None = None  # CloudWatch SLO alerts: their burn rate and budget left (None: not read)
    _flush_error: Exception | None = field(default=None, init=False, repr=False)  # the last failed send of a flush
    _slo_left: float = field(default=QUERY_SECONDS, init=False, repr=False)  # this invocation's time for SLO numbers
    _slo_quiet_until: float = field(default=0.0, init=False, repr=False)  # no SLO reads before (monotonic seconds)

    def __post_init__(self) -> None:
        if self.once is None and self.settings.idempotency_table:
            self.once = OncePerMessage(self.settings.idempotency_table, self._send, self._send_slack)
        if self.ledger is None and self.settings.ledger_table:
            self.ledger = Ledger(self.settings.ledger_table)
        if self.pacer is None and self.settings.pacer_table:
            self.pacer = Pacer(self.settings.pacer_table, self.settings.queue_url, dynamodb=self.ledger)
        if self.rechecker is None and self.destination is Destination.PAGERDUTY and self.settings.queue_url:
            self.rechecker = Rechecker(self.settings.queue_url)

    @classmethod
    def from_env(
        cls, destination: Destination, app: Callable[[Settings], SlackAppSender | None] | None = None
    ) -> Forwarder:
        """The forwarder the environment describes; `app` builds the Slack app routes' sender from the settings."""
        settings = Settings.from_env()
        deliverer = Deliverer(
            pagerduty_url=settings.pagerduty_url,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            retries=settings.retries,
        )
        parker = SqsParker(settings.rejected_queue_url) if settings.rejected_queue_url else None
        if app is None and settings.slack_apps:  # the PagerDuty forwarder's fallback notice may go to an app route
            from alertlib.slack_app import SlackAppSender

            app = functools.partial(SlackAppSender.from_settings, threads=False)
        sender = app(settings) if app is not None else None
        return cls(
            destination=destination,
            settings=settings,
            deliverer=deliverer,
            parker=parker,
            app=sender,
            slo_queries=SloQueries(environment=settings.environment_name),
        )

    def run(self, event: Any, context: Any, now: datetime | None = None) -> dict[str, Any]:
        """An SNS event (or one without SNS): the `Outcome`, raising when a delivery failed so Lambda retries. An
        SQS event: exactly `{"batchItemFailures": [...]}` naming the records to be received again."""
        deadline = Deadline.from_context(context)
        if self.once is not None:
            self.once.register(context)
        counters = Counters(self.destination.value)
        outcome = Outcome()
        self._slo_left = QUERY_SECONDS
        sqs = is_sqs_event(event)
        failed: list[Envelope] = []
        try:
            envelopes, failed = self._looks(split_event(event), deadline, counters, outcome)
            if sqs and self.pacer is not None:
                failed += self._paced(envelopes, deadline, counters, outcome, now)
            else:
                for envelope in envelopes:
                    before = outcome.failed
                    self._one(envelope, deadline, counters, outcome, now or datetime.now(UTC))
                    if outcome.failed > before:
                        failed.append(envelope)
        finally:
            counters.flush()
        if sqs:
            return {"batchItemFailures": self._batch_item_failures(failed)}
        if outcome.failed:
            raise DeliveriesFailedError(
                f"{outcome.failed} {self.destination.value} deliveries failed; first: {outcome.failures[0]}"
            )
        return outcome.as_dict()

    def _batch_item_failures(self, failed: Sequence[Envelope]) -> list[dict[str, str]]:
        """The SQS records to receive again, each once, seen again soon (not after the visibility timeout)."""
        named: dict[str, Envelope] = {}
        for envelope in failed:
            if envelope.sqs_message_id:
                named.setdefault(envelope.sqs_message_id, envelope)
        for envelope in named.values():
            if self.pacer is not None and envelope.receipt_handle:
                try:
                    self.pacer.change_visibility(envelope.receipt_handle, retry_visibility(envelope.receive_count))
                except PacerError as exc:  # the queue's visibility timeout applies instead
                    logger.warning("visibility not shortened", extra={"reason": str(exc)})
        return [{"itemIdentifier": sqs_id} for sqs_id in named]

    def _one(self, envelope: Envelope, deadline: Deadline, counters: Counters, outcome: Outcome, now: datetime) -> None:
        logger.set_correlation_id(envelope.message_id)
        if envelope.flush_channel:
            outcome.ignored += 1
            logger.info("flush ignored: no pacer table", extra={"channel": envelope.flush_channel})
            return
        group = self._accept(envelope, counters, outcome, now, deadline)
        if group is None:
            return
        secrets = self._secrets(envelope, group, counters, outcome)
        if secrets:
            self._deliver(envelope, group, secrets, deadline, counters, outcome, now)

    def _accept(
        self, envelope: Envelope, counters: Counters, outcome: Outcome, now: datetime, deadline: Deadline | None = None
    ) -> AlertGroup | None:
        """The prepared group of a record, or None when it is not forwarded (ignored, refused and kept, failed);
        an SLO alert with the burn rate and budget left CloudWatch could say in time (`slo_burn`)."""
        outcome.received += 1
        try:
            group = prepare(envelope, self.settings, now)
        except NotAStateChange as exc:
            outcome.ignored += 1
            counters.add(ALERTS_IGNORED, "unknown")
            logger.info("not forwarded", extra={"reason": str(exc), "message_id": envelope.message_id})
            return None
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
            return None
        except Exception as exc:  # noqa: BLE001 - the handler boundary: a bug must not lose the other records
            self._failed(outcome, counters, "unknown", f"could not prepare the message ({type(exc).__name__})", exc)
            return None
        source = group.source.value
        counters.add(ALERTS_RECEIVED, source)
        if self.ledger is not None and group.status is Status.RESOLVED and group.source is not Source.ALERTMANAGER:
            checked = self._against_ledger(group)
            if checked is None:
                outcome.ignored += 1
                counters.add(ALERTS_IGNORED, source)
                logger.info("not forwarded", extra={"reason": "OK after INSUFFICIENT_DATA with nothing open",
                                                    "message_id": envelope.message_id})  # fmt: skip
                return None
            group = checked
        if self.destination is Destination.PAGERDUTY and suppressed(group):
            return self._suppressed(envelope, group, counters, outcome, now)
        return self._with_slo_numbers(group, now, deadline, counters)

    def _with_slo_numbers(
        self, group: AlertGroup, now: datetime, deadline: Deadline | None, counters: Counters
    ) -> AlertGroup:
        """An SLO alert's burn rate and budget left (`slo_burn`), read within `QUERY_SECONDS` for the whole
        invocation, not per record (a batch of SLO pages never waits ten times), and not at all for a minute after
        CloudWatch did not answer in time: the numbers are a bonus, the page is not."""
        if self.slo_queries is None or not any(wants_numbers(alert) for alert in group.alerts):
            return group
        started = time.monotonic()
        if self._slo_left < SLO_MIN_SECONDS or started < self._slo_quiet_until:
            logger.info("slo numbers not read: no time left for them", extra={"alert_key": group.dedup_key[:255]})
            return group
        budget = self._slo_left
        enriched = enrich_slo(group, self.slo_queries, now=now, deadline=deadline, counters=counters, budget=budget)
        spent = time.monotonic() - started
        self._slo_left -= spent
        if spent >= budget * 0.9 and budget >= QUERY_SECONDS / 2:  # CloudWatch itself was slow: leave it alone
            self._slo_quiet_until = started + SLO_QUIET_SECONDS
        return enriched

    # -- a composite alarm suppressed for a while (recheck.py) --------------------------------------------------

    def _looks(
        self, envelopes: Sequence[Envelope], deadline: Deadline, counters: Counters, outcome: Outcome
    ) -> tuple[list[Envelope], list[Envelope]]:
        """Suppressed composite alarms come back to be looked at: each becomes the event to forward when CloudWatch
        has run its actions since (`recheck.looked`: it then goes through as any record, paced and all), is looked at
        again later, or ends. Returns the records to go on with, and the looks that failed (received again)."""
        kept: list[Envelope] = []
        failed: list[Envelope] = []
        for envelope in envelopes:
            if not envelope.recheck:
                kept.append(envelope)
                continue
            logger.set_correlation_id(envelope.message_id)
            target = recheck.subject(envelope) if self.rechecker is not None else None
            if target is None or self.rechecker is None:
                outcome.received += 1
                outcome.ignored += 1
                logger.info("recheck ignored: nothing suppressed to look at", extra={"message_id": envelope.message_id})
                continue
            about = {"alarm": target.name[:255], "look": envelope.recheck, "message_id": envelope.message_id}
            # A look that cannot be made now comes back (SQS); if it never can, the queue's dead-letter queue keeps it
            # and its alarm pages. Not a delivery failure: nothing was due to be sent yet.
            if deadline.left() < recheck.LOOK_SECONDS:  # the batch's pages first
                outcome.received += 1
                logger.info("look put off: no time left in this invocation", extra=about)
                failed.append(envelope)
                continue
            try:
                verdict = recheck.decide(target.at, self.rechecker.current(target.name))
            except RecheckError as exc:
                outcome.received += 1
                logger.warning("look failed: received again", extra={**about, "reason": str(exc)[:200]})
                failed.append(envelope)
                continue
            if verdict is recheck.Verdict.FORWARD:
                counters.add(recheck.RECHECKS_FORWARDED, Source.EVENTBRIDGE.value)
                logger.info("suppression ended and CloudWatch ran the actions: forwarded", extra=about)
                kept.append(recheck.looked(envelope))
                continue
            outcome.received += 1
            outcome.ignored += 1
            if verdict is recheck.Verdict.WAIT:
                if not self._schedule_look(envelope, target, envelope.recheck + 1, counters, outcome):
                    failed.append(envelope)
            else:
                logger.info("recheck done: the alarm moved on", extra=about)
        return kept, failed

    def _schedule_look(
        self, envelope: Envelope, target: recheck.Subject, attempt: int, counters: Counters, outcome: Outcome
    ) -> bool:
        """The next look at a suppressed composite; False when it could not be sent (the record fails, so it is
        received again and sends it then). A look that will never come is counted (`RecheckFailed`) and warned."""
        assert self.rechecker is not None
        source = Source.EVENTBRIDGE.value
        about = {"alarm": target.name[:255], "look": attempt, "message_id": envelope.message_id}
        if attempt > recheck.MAX_ATTEMPTS:
            counters.add(recheck.RECHECK_FAILED, source)
            logger.warning("still suppressed after the last look: no longer looked at", extra=about)
            return True
        if not self.rechecker.describable(target, envelope.topic_arn):
            counters.add(recheck.RECHECK_FAILED, source)
            logger.warning("suppressed, and not looked at again: the alarm is in another account", extra=about)
            return True
        try:
            delay = self.rechecker.schedule(envelope, attempt)
        except RecheckError as exc:
            self._failed(outcome, counters, source, str(exc), None)
            return False
        counters.add(recheck.RECHECKS_SCHEDULED, source)
        logger.info("suppressed for a while: looked at again later", extra={**about, "delay_seconds": delay})
        return True

    def _suppressed(
        self, envelope: Envelope, group: AlertGroup, counters: Counters, outcome: Outcome, now: datetime
    ) -> AlertGroup | None:
        """A state CloudWatch runs no action for (a composite alarm whose suppressor is in ALARM, or in its wait or
        extension period) pages nobody: counted and logged, and forwarded only when a resolve is left to send (the
        INSUFFICIENT_DATA alert it leaves). Slack still shows it, naming the suppressor."""
        alert = next(a for a in group.alerts if a.suppression)
        counters.add(ALERTS_SUPPRESSED, group.source.value)
        left = render_for(self.destination, group, self.settings, now)
        logger.info(
            "not paged: CloudWatch suppressed the alarm's actions",
            extra={
                "alert_key": group.dedup_key,
                "suppression": (alert.suppression or "")[:64],
                "suppressed_by": (alert.suppressed_by or "")[:255],
                "resolves_sent": len(left),
                "message_id": envelope.message_id,
            },
        )
        target = recheck.subject(envelope) if self.rechecker is not None else None
        if target is not None:
            self._schedule_look(envelope, target, 1, counters, outcome)
        if not left:
            outcome.ignored += 1
            return None
        return group

    def _secrets(self, envelope: Envelope, group: AlertGroup, counters: Counters, outcome: Outcome) -> tuple[str, ...]:
        route = self.settings.route_for(envelope.topic_arn)
        if not route.secrets:
            error = ConfigurationError(f"no {self.destination.value} secret routed for topic {envelope.topic_name!r}")
            self._failed(outcome, counters, group.source.value, str(error), None)
        return route.secrets

    def _deliver(  # noqa: PLR0917 - the invocation's deadline, counters, outcome and clock
        self,
        envelope: Envelope,
        group: AlertGroup,
        secrets: Sequence[str],
        deadline: Deadline,
        counters: Counters,
        outcome: Outcome,
        now: datetime,
    ) -> None:
        """One record to each of `secrets`, as rendered for it alone (today's path, and the fast path)."""
        source = group.source.value
        bodies = render_for(self.destination, group, self.settings, now)
        sends = [(secret, index, body) for secret in secrets for index, body in enumerate(bodies)]
        for secret, index, body in sends:
            key = {
                "message": envelope.message_id,
                "destination": self.destination.value,
                "secret": secret,
                "part": index,
            }
            try:
                if self._threaded(secret):
                    delivered = self._send_thread(envelope, group, body, secret, deadline, counters, now)
                else:
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
            self._record(group, secret)
            self._mark_paged(secret, group, counters)
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

    # -- pacing: SQS events with a pacer table ------------------------------------------------------------------

    def _paced(
        self, envelopes: Sequence[Envelope], deadline: Deadline, counters: Counters, outcome: Outcome,
        now: datetime | None,
    ) -> list[Envelope]:  # fmt: skip
        """Each record accepted as today, then paced per channel (fast path, or buffered and flushed); flush records
        flush their channel. Returns the records to receive again."""
        failed: list[Envelope] = []
        flushes: dict[str, list[Envelope]] = {}
        channels: dict[str, list[tuple[Envelope, AlertGroup]]] = {}
        for envelope in envelopes:
            logger.set_correlation_id(envelope.message_id)
            if envelope.flush_channel:
                if envelope.flush_channel.startswith(f"{self.destination.value}#"):
                    flushes.setdefault(envelope.flush_channel, []).append(envelope)
                else:  # not this forwarder's channel: nothing it could send there
                    logger.warning("flush of another destination ignored", extra={"channel": envelope.flush_channel})
                continue
            before = outcome.failed
            moment = now or datetime.now(UTC)
            group = self._accept(envelope, counters, outcome, moment, deadline)
            secrets = self._secrets(envelope, group, counters, outcome) if group is not None else ()
            if outcome.failed > before:
                failed.append(envelope)
            if group is not None and self.destination is Destination.PAGERDUTY and suppressed(group):
                for secret in secrets:  # only resolves are left: sent now, never a member of a storm incident
                    failed.extend(self._direct(envelope, group, secret, deadline, counters, outcome, moment))
                continue
            if group is not None:
                for secret in secrets:
                    channels.setdefault(channel_for(self.destination, secret), []).append((envelope, group))
        for channel, records in channels.items():
            failed.extend(self._pace(channel, records, deadline, counters, outcome, now or datetime.now(UTC)))
        for channel, flush_records in flushes.items():
            logger.set_correlation_id(flush_records[0].message_id)
            if not self._flush(channel, deadline, counters, outcome, now or datetime.now(UTC), scheduled=True):
                failed.extend(flush_records)
        return failed

    def _pace(  # noqa: PLR0917 - the invocation's deadline, counters, outcome and clock
        self, channel: str, records: list[tuple[Envelope, AlertGroup]], deadline: Deadline, counters: Counters,
        outcome: Outcome, now: datetime,
    ) -> list[Envelope]:  # fmt: skip
        """One channel's records of this batch: the ordering guard, then the fast path for a lone record, else
        buffered (durable: the record is done) and flushed now if the slot is free, else scheduled."""
        assert self.pacer is not None
        pace = pace_for(self.destination, self.settings)
        now_ms = self._now_ms()
        secret = secret_of(channel)
        failed: list[Envelope] = []
        fresh: list[tuple[Envelope, AlertGroup]] = []
        for envelope, group in sorted(records, key=lambda record: changed_ms(record[1]) or now_ms):
            try:
                is_fresh = self.pacer.fresh(channel, group.dedup_key, changed_ms(group), now_ms)
            except PacerError as exc:
                self._pacer_failed(exc, counters, group.source.value)
                failed.extend(self._direct(envelope, group, secret, deadline, counters, outcome, now))
                continue
            if not is_fresh:
                outcome.ignored += 1
                counters.add(ALERTS_STALE, group.source.value)
                logger.info(
                    "not forwarded: a newer state of this alert came first",
                    extra={"alert_key": group.dedup_key, "status": group.status.value, "channel": channel},
                )
                continue
            fresh.append((envelope, group))
        if not fresh:
            return failed
        try:
            if len(fresh) == 1 and self.pacer.take_fast(
                channel, now_ms, pace.base_ms, storm_free=self.destination is Destination.PAGERDUTY
            ):
                envelope, group = fresh[0]
                failed += self._direct(envelope, group, secret, deadline, counters, outcome, now)
                try:
                    self.pacer.push(channel, now_ms + pace.base_ms, self._now_ms() + pace.base_ms)
                except PacerError as exc:  # sent already; only the pace may be shorter once
                    self._pacer_failed(exc, counters, group.source.value)
                return failed
            pending = [(pending_key(envelope, group, 0, now_ms), envelope) for envelope, group in fresh]
            self.pacer.buffer(channel, pending, now_ms)
        except PacerError as exc:
            for envelope, group in fresh:
                self._pacer_failed(exc, counters, group.source.value)
                failed.extend(self._direct(envelope, group, secret, deadline, counters, outcome, now))
            return failed
        for _, group in fresh:
            counters.add(ALERTS_BUFFERED, group.source.value)
        logger.info("buffered", extra={"channel": channel, "records": len(fresh)})
        if not self._flush(channel, deadline, counters, outcome, now):
            failed.extend(envelope for envelope, _ in fresh)  # kept in the table: received again, flushed again
        return failed

    def _direct(  # noqa: PLR0917 - the invocation's deadline, counters, outcome and clock
        self, envelope: Envelope, group: AlertGroup, secret: str, deadline: Deadline, counters: Counters,
        outcome: Outcome, now: datetime,
    ) -> list[Envelope]:  # fmt: skip
        before = outcome.failed
        self._deliver(envelope, group, (secret,), deadline, counters, outcome, now)
        return [envelope] if outcome.failed > before else []

    def _flush(
        self, channel: str, deadline: Deadline, counters: Counters, outcome: Outcome, now: datetime,
        *, scheduled: bool = False,
    ) -> bool:  # fmt: skip
        """Sends what is buffered for a channel as one message when its slot is free (else makes sure a flush is
        scheduled: always again when this was the scheduled flush, come early or while another flush sends). False
        when it failed: the buffered records stay for the retry."""
        assert self.pacer is not None
        pace = pace_for(self.destination, self.settings)
        now_ms = self._now_ms()
        self._flush_error = None
        lease_ms = int(max(deadline.left(), 1.0) * 1000)  # held while sending; a crashed flush frees it then
        try:
            slot = self.pacer.take_flush(channel, now_ms, lease_ms)
            if slot is None:
                current = self.pacer.slot(channel)
                if current.pending > 0:
                    self.pacer.schedule(channel, now_ms, _look_again(current.next_at, now_ms, pace), force=scheduled)
                return True
            items = self.pacer.pending(channel, pace.flush_max)
        except PacerError as exc:
            self._pacer_failed(exc, counters, None)
            return False
        if not items:
            self._release(channel, now_ms)
            return True
        prepared: list[tuple[str, Envelope, AlertGroup | None]] = []
        for key, envelope in items:
            try:
                group = self._with_slo_numbers(prepare(envelope, self.settings, now), now, deadline, counters)
                prepared.append((key, envelope, group))
            except Exception as exc:  # noqa: BLE001 - it prepared when buffered; it must not block the channel
                reason = f"buffered record no longer prepares ({type(exc).__name__}): {str(exc)[:200]}"
                counters.add(PAYLOAD_REJECTED, "unknown")
                try:
                    self._park(envelope, reason)  # kept in the rejected queue with the reason, never dropped unseen
                except Exception as park_error:  # noqa: BLE001 - not kept: leave it buffered, the flush fails
                    logger.error("buffered record could not be kept", extra={"reason": str(park_error)[:200]})
                    self._release(channel, self._now_ms() + pace.base_ms)
                    return False
                extra = {"reason": reason, "item": key[:300], "message_id": envelope.message_id}
                logger.warning("buffered record refused and kept", extra=extra)
                prepared.append((key, envelope, None))
        try:
            if self.destination is Destination.PAGERDUTY:
                sent = self._flush_pagerduty(channel, slot, prepared, deadline, counters, outcome, now)
            else:
                sent = self._flush_slack(channel, prepared, deadline, counters, outcome, now)
        except PacerError as exc:
            self._pacer_failed(exc, counters, None)
            sent = None
        if sent is None and _refused(self._flush_error):
            sent = self._park_flush(prepared, str(self._flush_error), counters)
        if sent is None:
            # The destination is failing: the records stay buffered and a flush is scheduled again (not left to this
            # record's receive count: five failed receives in a one-minute outage would dead-letter the only flush).
            retry_at = self._now_ms() + FLUSH_RETRY_MS
            self._release(channel, retry_at)
            try:
                self.pacer.schedule(channel, self._now_ms(), retry_at, force=True)
            except PacerError as exc:
                self._pacer_failed(exc, counters, None)
                return False
            return True
        taken, events = sent
        backlog = len(items) >= pace.flush_max or len(taken) < len(items)
        interval = pace.next_interval(slot.interval_ms, len(taken), backlog=backlog)
        next_at = self._now_ms() + max(interval, pace.per_event_ms * events)
        try:
            left = self.pacer.finish(channel, taken, next_at=next_at, interval_ms=interval)
            if left.pending > 0:
                self.pacer.schedule(channel, self._now_ms(), next_at, force=True)
        except PacerError as exc:
            self._pacer_failed(exc, counters, None)
            return False
        logger.info("flushed", extra={"channel": channel, "records": len(taken), "events": events,
                                      "interval_ms": interval, "pending": left.pending})  # fmt: skip
        return True

    def _flush_slack(  # noqa: PLR0917 - the invocation's deadline, counters, outcome and clock
        self, channel: str, prepared: list[tuple[str, Envelope, AlertGroup | None]], deadline: Deadline,
        counters: Counters, outcome: Outcome, now: datetime,
    ) -> tuple[list[str], int] | None:  # fmt: skip
        """One Slack message for the whole flush: the alert's own message when it holds one, else a digest."""
        keys = [key for key, _, _ in prepared]
        groups = [group for _, _, group in prepared if group is not None]
        if not groups:
            return keys, 0
        secret = secret_of(channel)
        envelope = next(e for _, e, g in prepared if g is not None)
        if len(groups) == 1:
            body, message = (
                render_slack(groups[0], now=now, max_listed=self.settings.max_listed_alerts),
                envelope.message_id,
            )
        else:
            body = render_digest(groups, now=now, max_listed=self.settings.max_listed_alerts, title=_title(prepared))
            message = flush_key(keys)
        thread = (envelope, groups[0]) if len(groups) == 1 and self._threaded(secret) else None
        error = self._send_part(message, 0, body, secret, groups, deadline, counters, outcome, thread=thread, now=now)
        if error is not None:
            return None
        self._delivered(groups, counters, outcome, secret)
        if len(groups) > 1:
            counters.add(DIGESTS_SENT, groups[0].source.value)
            if self._threaded(secret) and self.app is not None:  # the alerts' own threads, brought up to date
                max_listed = self.settings.max_listed_alerts
                alerts = [(g, e.message_id, render_slack(g, now=now, max_listed=max_listed))
                          for _, e, g in prepared if g is not None]  # fmt: skip
                self.app.after_digest(alerts, secret, deadline, now, counters)
        return keys, 1

    def _flush_pagerduty(  # noqa: PLR0917 - the invocation's deadline, counters, outcome and clock
        self, channel: str, slot: Slot, prepared: list[tuple[str, Envelope, AlertGroup | None]], deadline: Deadline,
        counters: Counters, outcome: Outcome, now: datetime,
    ) -> tuple[list[str], int] | None:  # fmt: skip
        """Individual events (paced) while fewer than STORM_MIN alerts fire and no storm is open; else the storm
        incident, one trigger with every member, resolved when its last member is. Alerts not in the storm (paged
        before it) keep their own events."""
        assert self.pacer is not None
        secret = secret_of(channel)
        firing = sum(1 for _, _, g in prepared if g is not None and g.status is not Status.RESOLVED)
        storm_id = slot.storm_id
        if storm_id is None and firing < self.settings.storm_min:
            return self._flush_individual(prepared, secret, deadline, counters, outcome, now, MAX_FLUSH_EVENTS, [])
        now_ms = self._now_ms()
        if storm_id is None:
            storm_id, opened_ms = self.pacer.open_storm(channel, f"{now_ms}-{uuid.uuid4().hex[:8]}", now_ms)
            joinable = True
        else:
            opened, _ = self.pacer.storm_times(channel, storm_id)
            opened_ms = opened or now_ms
            quiet_for = now_ms - opened_ms  # the storm's age: a trickle of joins must not keep it open to all
            # A storm that went quiet takes no new alert (a new problem days later is paged on its own), unless a
            # storm-sized flush comes again.
            joinable = firing >= self.settings.storm_min or quiet_for < self.settings.storm_quiet_ms
        before = self.pacer.members(channel, storm_id)
        paged_alone = self.pacer.paged(channel)
        state = dict(before)
        alone: list[tuple[str, Envelope, AlertGroup | None]] = []
        taken: list[str] = []
        for key, envelope, group in prepared:
            if group is None:
                taken.append(key)
                continue
            if group.dedup_key in paged_alone:
                alone.append((key, envelope, group))  # its own incident is open: its states stay on it
                continue
            members = [StormMember.of(group, alert, first_seen=alert.starts_at or now) for alert in group.alerts]
            if group.status is Status.RESOLVED and not all(
                m.dedup_key in state and state[m.dedup_key].state is not Status.RESOLVED for m in members
            ):
                alone.append((key, envelope, group))  # paged on its own before the storm: resolved on its own
                continue
            if group.status is not Status.RESOLVED and not joinable:
                alone.append((key, envelope, group))
                continue
            for member in members:
                known = state.get(member.dedup_key)
                if member.state is Status.RESOLVED and known is None:
                    continue  # a resolved alert of a firing group that never joined
                state[member.dedup_key] = replace(member, first_seen=known.first_seen) if known else member
            taken.append(key)
        changes = [
            (member, before[k].state if k in before else None)
            for k, member in state.items()
            if k not in before or before[k].state is not member.state
        ]
        open_after = sum(1 for m in state.values() if m.state is not Status.RESOLVED)
        opened_at = datetime.fromtimestamp(opened_ms / 1000, UTC)
        events: list[dict[str, Any]] = []
        if changes:
            named_before = all(k in before for k, m in state.items())
            if open_after or not named_before:
                events.append(render_storm(list(state.values()), storm_id=storm_id, route_name=secret,
                                           action="trigger", opened_at=opened_at))  # fmt: skip
            if not open_after:
                events.append(render_storm(list(state.values()), storm_id=storm_id, route_name=secret,
                                           action="resolve", opened_at=opened_at))  # fmt: skip
        storm_groups = [g for k, _, g in prepared if g is not None and k in taken]
        message = flush_key([key for key, _, _ in prepared])
        for part, event in enumerate(events):
            error = self._send_part(message, f"storm-{part}", event, secret, storm_groups, deadline, counters, outcome)
            if error is not None:
                self._fall_back_flush(storm_groups, error, deadline, now, message)
                return None
        if events:
            self._delivered(storm_groups, counters, outcome, secret)
            counters.add(STORM_EVENTS_SENT, storm_groups[0].source.value if storm_groups else "unknown", len(events))
        sent = self._flush_individual(
            alone, secret, deadline, counters, outcome, now, MAX_FLUSH_EVENTS - len(events), taken
        )
        if sent is None:
            return None
        self.pacer.update_storm(channel, storm_id, changes, now_ms)
        if changes and not open_after:
            self.pacer.close_storm(channel, storm_id)
            logger.info("storm resolved", extra={"channel": channel, "storm_id": storm_id, "members": len(state)})
        return sent[0], len(events) + sent[1]

    def _flush_individual(  # noqa: PLR0917 - the invocation's deadline, counters, outcome and clock
        self, prepared: list[tuple[str, Envelope, AlertGroup | None]], secret: str, deadline: Deadline,
        counters: Counters, outcome: Outcome, now: datetime, budget: int, taken: list[str],
    ) -> tuple[list[str], int] | None:  # fmt: skip
        """Each record's own PagerDuty events (keyed as if delivered alone), oldest first, at most `budget` events:
        the rest wait for the next flush."""
        taken = list(taken)
        events = 0
        for key, envelope, group in prepared:
            if group is None:
                taken.append(key)
                continue
            bodies = render_for(self.destination, group, self.settings, now)
            if events and events + len(bodies) > budget:
                break
            for index, body in enumerate(bodies):
                error = self._send_part(envelope.message_id, index, body, secret, [group], deadline, counters, outcome)
                if error is not None:
                    groups = [g for _, _, g in prepared if g is not None]
                    self._fall_back_flush(groups, error, deadline, now, flush_key([k for k, _, _ in prepared]))
                    return None
            self._delivered([group], counters, outcome, secret)
            self._mark_paged(secret, group, counters)
            events += len(bodies)
            taken.append(key)
        return taken, events

    def _send_part(  # noqa: PLR0917 - the invocation's deadline, counters, outcome and clock
        self, message: str, part: int | str, body: dict[str, Any], secret: str, groups: Sequence[AlertGroup],
        deadline: Deadline, counters: Counters, outcome: Outcome, *,
        thread: tuple[Envelope, AlertGroup] | None = None, now: datetime | None = None,
    ) -> Exception | None:  # fmt: skip
        """One body of a flush, at most once per (message, part); the error when it was not taken. With `thread`
        (a Slack app route's flush of one alert), into that alert's thread."""
        key = {"message": message, "destination": self.destination.value, "secret": secret, "part": part}
        source = groups[0].source.value if groups else "unknown"
        self._flush_error = None
        try:
            if thread is not None:
                envelope, group = thread
                delivered = self._send_thread(
                    envelope, group, body, secret, deadline, counters, now or datetime.now(UTC)
                )
            elif self.once:
                delivered = self.once.send(key, body, secret, deadline)
            else:
                delivered = self._send(body, secret, deadline)
        except (DeliveryError, ConfigurationError) as exc:
            self._failed(outcome, counters, source, str(exc), None)
            self._flush_error = exc
            return exc
        except Exception as exc:  # noqa: BLE001 - the handler boundary (idempotency store, a bug)
            self._failed(outcome, counters, source, f"delivery crashed ({type(exc).__name__})", exc)
            self._flush_error = exc
            return exc
        counters.add(DELIVERY_RETRIED, source, max(delivered.attempts - 1, 0))
        return None

    def _park_flush(
        self, prepared: list[tuple[str, Envelope, AlertGroup | None]], reason: str, counters: Counters
    ) -> tuple[list[str], int] | None:
        """The destination refused the body itself (400, 413): sending it again cannot help and would block the
        channel for good. Each record is kept in the rejected queue with the reason (its alarm pages the operators)
        and taken out of the buffer; None when one cannot be kept (the flush fails and is tried again)."""
        for key, envelope, group in prepared:
            if group is None:
                continue
            try:
                self._park(envelope, f"the destination refused a flush that held it: {reason}"[:1000])
            except Exception as exc:  # noqa: BLE001 - not kept: leave the records buffered
                logger.error("refused flush could not be kept", extra={"reason": str(exc)[:200], "item": key[:300]})
                return None
            counters.add(PAYLOAD_REJECTED, group.source.value)
        logger.error("flush refused by the destination; its records are kept in the rejected queue",
                     extra={"reason": reason[:300], "records": len(prepared)})  # fmt: skip
        return [key for key, _, _ in prepared], 0

    def _delivered(self, groups: Sequence[AlertGroup], counters: Counters, outcome: Outcome, secret: str) -> None:
        """Counted, and recorded in the ledger with the route (`secret`) they went to."""
        for group in groups:
            outcome.delivered += 1
            counters.add(ALERTS_DELIVERED, group.source.value)
        if len(groups) == 1 or self.ledger is None:
            for group in groups:
                self._record(group, secret)
            return
        try:
            self.ledger.record_many(groups, self.destination, time.time(), route=secret)
        except Exception as exc:  # noqa: BLE001 - the ledger must never turn a delivery into a failure
            logger.warning("ledger write failed", extra={"reason": type(exc).__name__, "alerts": len(groups)})

    def _fall_back_flush(
        self, groups: Sequence[AlertGroup], error: Exception, deadline: Deadline, now: datetime, message: str
    ) -> None:
        """PagerDuty did not take a flush: one Slack notice for the whole flush, never one per alert."""
        secret = self.settings.fallback_slack_secret
        if self.destination is not Destination.PAGERDUTY or not secret or not groups:
            return
        maybe = getattr(error, "maybe_delivered", False)
        if len(groups) == 1:
            self._fall_back(groups[0], str(error), deadline, now, maybe_delivered=maybe)
            return
        reason = str(error)[:300]
        if maybe:
            notice = (
                f"PagerDuty's answer to these {len(groups)} alerts was lost ({reason}): they may or may not have been "
                "taken. Check PagerDuty; if no incident is open for them, act by hand. They are kept and retried."
            )
        else:
            notice = (
                f"PagerDuty did not take these {len(groups)} alerts ({reason}). Nobody may have been paged: page the "
                "on-call by hand (and resolve by hand what is listed as resolved). They are kept and retried."
            )
        body = render_digest(
            groups,
            now=now,
            max_listed=self.settings.max_listed_alerts,
            notice=notice,
            oncall_slack_group=self.settings.oncall_slack_group,  # someone to page by hand, mentioned
        )
        self._post_fallback(message, body, secret, deadline, {"alerts": len(groups)})

    def _mark_paged(self, secret: str, group: AlertGroup, counters: Counters) -> None:
        """PagerDuty, paced: an alert paged on its own is remembered until its resolve, so that a storm opened
        meanwhile leaves it out and its own incident is resolved by its own OK."""
        if self.pacer is None or self.destination is not Destination.PAGERDUTY or suppressed(group):
            return
        try:
            self.pacer.mark_paged(
                channel_for(self.destination, secret), group.dedup_key, open_=group.status is not Status.RESOLVED
            )
        except PacerError as exc:  # the alert went; a storm might take its next state in: logged and counted
            self._pacer_failed(exc, counters, group.source.value)

    def _release(self, channel: str, next_at: int) -> None:
        assert self.pacer is not None
        try:
            self.pacer.release(channel, next_at)
        except PacerError as exc:  # the lease ends by itself
            logger.warning("slot not released", extra={"reason": str(exc)})

    def _pacer_failed(self, exc: PacerError, counters: Counters, source: str | None) -> None:
        counters.add(PACER_FAILED, source or "unknown")
        logger.warning("pacer failed: delivering directly", extra={"reason": str(exc)[:200]})

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

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

    def _record(self, group: AlertGroup, secret: str) -> None:
        """The delivery in the ledger, with its route: a drill waits for each route of a topic, not the first."""
        if self.ledger is None:
            return
        try:
            self.ledger.record(group, self.destination, time.time(), route=secret)
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
        notice = delivery_failed_notice(group, reason, maybe_delivered=maybe_delivered)
        body = render_slack(
            group,
            now=now,
            max_listed=self.settings.max_listed_alerts,
            notice=notice,
            oncall_slack_group=self.settings.oncall_slack_group,  # someone to page by hand, mentioned
        )
        self._post_fallback(group.message_id, body, secret, deadline, {"alert_key": group.dedup_key})

    def _post_fallback(
        self, message: str, body: dict[str, Any], secret: str, deadline: Deadline, about: dict[str, Any]
    ) -> None:
        """The notice to the fallback Slack webhook, at most once per message; best effort: what it is about is
        failing anyway, and kept."""
        key = {"message": message, "destination": "fallback", "secret": secret, "part": 0}
        try:
            if self.once is not None:
                self.once.send(key, body, secret, deadline, slack=True)
            else:
                self._send_slack(body, secret, deadline)
        except Exception as exc:  # noqa: BLE001 - the fallback is best effort
            logger.error("fallback to Slack failed", extra={"reason": str(exc)[:200]})
            return
        logger.warning("fallback sent to Slack", extra=about)

    def _send(self, body: dict[str, Any], secret: str, deadline: Deadline) -> Delivered:
        if self.destination is Destination.PAGERDUTY:
            return self.deliverer.send_pagerduty(body, secret, deadline)
        return self._send_slack(body, secret, deadline)

    def _send_slack(self, body: dict[str, Any], secret: str, deadline: Deadline) -> Delivered:
        """A Slack body into one channel: through its webhook, or a Slack app route's chat.postMessage."""
        if secret in self.settings.slack_apps:
            return self._app_sender(secret).post(body, secret, deadline)
        return self.deliverer.send_slack(body, secret, deadline)

    # -- Slack app routes (slack_app.py) ------------------------------------------------------------------------

    def _threaded(self, secret: str) -> bool:
        """Whether a Slack secret is an app route's (its alerts go into threads); webhooks are not."""
        return self.destination is Destination.SLACK and secret in self.settings.slack_apps

    def _app_sender(self, secret: str) -> SlackAppSender:
        if self.app is None:
            raise ConfigurationError(f"Slack app route {secret!r} but no Slack app sender was built")
        return self.app

    def _send_thread(  # noqa: PLR0917 - the invocation's deadline, counters and clock
        self, envelope: Envelope, group: AlertGroup, body: dict[str, Any], secret: str, deadline: Deadline,
        counters: Counters, now: datetime,
    ) -> Delivered:  # fmt: skip
        """One record's alert group into its thread on a Slack app route. A body posted into the channel (a reply,
        a new parent) goes at most once per (record, part) with the idempotency store; the thread store's claim
        and the event's id keep the parent and the thread's history from doubling."""
        sender = self._app_sender(secret)
        once = self.once
        message_id = envelope.message_id

        def post(part: str, posted: dict[str, Any]) -> Delivered:
            if once is None:
                return sender.post(posted, secret, deadline)
            key = {"message": message_id, "destination": self.destination.value, "secret": secret, "part": part}
            return once.send(key, posted, secret, deadline)

        routing = envelope.topic_name or DEFAULT_ROUTE
        paged = self.settings.paged_routes
        if paged is not None and routing not in paged:
            routing = ""  # the topic pages nobody: the parent offers no Acknowledge
        return sender.deliver(
            group, body, secret, event_id=message_id, routing=routing, post=post,
            once=once is not None, deadline=deadline, now=now, counters=counters,
        )  # fmt: skip

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


def _look_again(next_at: int, now_ms: int, pace: Pace) -> int:
    """When a flush that found the slot taken looks again: when the slot is free, if that is within the channel's
    longest interval (it is being paced); else the slot is held by another flush's lease, which lasts what that
    invocation has left (about a minute) while its send takes a second or so: then again in `backlog_ms`, never
    later than the lease's end. The holder schedules what it leaves; this is the net should it die."""
    if next_at - now_ms <= pace.max_ms:
        return next_at
    return min(next_at, now_ms + max(pace.backlog_ms, pace.base_ms))


def _title(prepared: Sequence[tuple[str, Envelope, AlertGroup | None]]) -> str | None:
    """A digest's title: the topics its alerts came from (at most three named)."""
    names = list(dict.fromkeys(e.topic_name for _, e, g in prepared if g is not None and e.topic_name))
    if not names:
        return None
    return ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")


def _refused(error: Exception | None) -> bool:
    """The destination refused the request itself (a malformed or oversized body): not an outage, not a key."""
    if isinstance(error, PermanentDeliveryError) and error.status in {400, 413}:
        return True
    if getattr(error, "code", None):  # Slack's Web API answers a refused body `ok: false`, HTTP 200
        from alertlib.slack_app import refused_body

        return refused_body(error)
    return False


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
