"""Deliver: the only code that reads secrets or speaks HTTP.

One `requests.Session` per container (keep-alive), explicit `(connect, read)` timeouts, and urllib3's `Retry` for
429, 5xx and connection errors with exponential backoff that honours `Retry-After` (`alertlib.http`, which
slack_api.py and action_http.py share). A deadline taken from the
Lambda's remaining time bounds it all: no attempt starts that could not finish in time. The answer is
`Delivered`, or `TransientDeliveryError` / `PermanentDeliveryError` whose messages never hold a URL, a key or a
payload (the webhook URL *is* the Slack secret): every failure of a send is one of those two.

A request whose answer was lost (a read time-out or a reset after it was sent) may have been accepted. PagerDuty
deduplicates a trigger by `dedup_key`, so it is sent again at once (at least once). A Slack incoming webhook is not
idempotent: such a post is never sent again within the invocation (`maybe_delivered` on the error); the
invocation fails and Lambda's retry, a minute later, posts it once more. A Slack message is therefore posted at
most once per Lambda attempt: a duplicate needs Slack to accept a post and then not answer within the read
time-out, and is never blind.

What a service answers is read up to `ANSWER_BYTES`, and what of it reaches an error, a log or a notice is one
line of at most `ANSWER_CHARS`, with the secret (routing key, webhook URL, its path and token, in their plain,
JSON-escaped and percent-encoded forms) and any other URL taken out (`clean_answer`).
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlsplit

from alertlib.errors import ConfigurationError, DeliveryError, PermanentDeliveryError, TransientDeliveryError
from alertlib.http import (  # Deadline, RETRY_STATUSES, ...: callers have always imported them from here
    ANSWER_BYTES,
    MAX_RETRY_AFTER,
    RETRY_STATUSES,
    USER_AGENT,
    Deadline,
    PinnedSession,
    attempts,
    check_url,
    deadline_retry,
    json_object,
    malformed,
    pooled_adapter,
    quiet_secret_loggers,
    read_budget,
    unanswered,
)
from alertlib.text import encode_json

if TYPE_CHECKING:  # imported lazily: requests and boto3 are paid for on first delivery, not at import
    import requests


REFETCH_STATUSES = frozenset({401, 403, 404, 410})  # a rotated secret may be behind these: fetch it once more
SECRET_MAX_AGE = 300
ANSWER_WINDOW = 8 * 1024  # the characters of an answer looked at for its reason
ANSWER_CHARS = 300  # the reason's length in an error, a log line or the Slack fallback notice


class Destination(enum.StrEnum):
    PAGERDUTY = "pagerduty"
    SLACK = "slack"


@dataclass(frozen=True, slots=True)
class Delivered:
    destination: Destination
    status: int
    attempts: int


class SecretSource(Protocol):
    def __call__(self, name: str, *, force_fetch: bool = False) -> str: ...


def powertools_secret(name: str, *, force_fetch: bool = False) -> str:
    """A secret's string from Secrets Manager through Powertools' parameters, cached for five minutes."""
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    from alertlib.aws import session

    quiet_secret_loggers()
    if "secrets" not in DEFAULT_PROVIDERS:  # Powertools' own provider, on the container's one boto3 session
        DEFAULT_PROVIDERS["secrets"] = parameters.SecretsProvider(boto3_session=session())
    try:
        value = parameters.get_secret(name, max_age=SECRET_MAX_AGE, force_fetch=force_fetch)
    except parameters.exceptions.GetParameterError as exc:
        # The SDK's message names the secret, never its value; the cause is kept for the log.
        raise TransientDeliveryError(f"secret {name!r} could not be read") from exc
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"secret {name!r} is empty: put the real value in (see README)")
    return value.strip()


class Deliverer:
    """Sends rendered bodies. One per container; `secret_source` and `session` are injectable for tests."""

    def __init__(
        self,
        *,
        pagerduty_url: str,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        retries: int = 4,
        backoff_factor: float = 0.5,
        secret_source: SecretSource = powertools_secret,
        resend_unanswered: frozenset[Destination] = frozenset({Destination.PAGERDUTY}),
    ) -> None:
        self.pagerduty_url = pagerduty_url
        self.resend_unanswered = resend_unanswered  # where a request whose answer was lost is sent again at once
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.retries = retries
        self.backoff_factor = backoff_factor
        self.secret_source = secret_source
        self._http = PinnedSession(self._new_adapter)

    @property
    def session(self) -> requests.Session:
        return self._http.session

    def _new_adapter(self) -> requests.adapters.HTTPAdapter:
        return pooled_adapter()

    # -- destinations ---------------------------------------------------------------------------------------

    def send_pagerduty(self, body: dict[str, Any], secret_name: str, deadline: Deadline) -> Delivered:
        def attempt(force: bool) -> Delivered:
            routing_key, url = self._pagerduty_secret(secret_name, force)
            secrets = (routing_key, url)
            response, text = self._post(url, {**body, "routing_key": routing_key}, deadline, Destination.PAGERDUTY)
            if response.status_code == 202:
                answer = json_object(text)
                if answer.get("status") not in (None, "success"):
                    status = clean_answer(str(answer.get("status")), secrets)[:60]
                    raise PermanentDeliveryError(f"pagerduty: 202 but status {status!r}")
                return Delivered(Destination.PAGERDUTY, 202, attempts(response))
            raise _failure(Destination.PAGERDUTY, response, _pagerduty_reason(text, secrets))

        return self._with_refetch(attempt, secret_name)

    def send_slack(self, body: dict[str, Any], secret_name: str, deadline: Deadline) -> Delivered:
        def attempt(force: bool) -> Delivered:
            url = self._slack_secret(secret_name, force)
            response, text = self._post(url, body, deadline, Destination.SLACK)
            text = text.strip()
            if response.status_code == 200 and text == "ok":
                return Delivered(Destination.SLACK, 200, attempts(response))
            if response.status_code == 200:
                raise PermanentDeliveryError(f"slack: 200 with body {clean_answer(text, (url,))!r}, not 'ok'")
            raise _failure(Destination.SLACK, response, clean_answer(text, (url,)))

        return self._with_refetch(attempt, secret_name)

    # -- the machinery ----------------------------------------------------------------------------------------

    def _with_refetch(self, attempt: Any, secret_name: str) -> Delivered:
        """A 401/403/404/410 may mean the cached secret was rotated: fetch it fresh, and try once more only if it
        changed. The same secret is never sent the same permanent refusal twice."""
        try:
            result: Delivered = attempt(False)
            return result
        except PermanentDeliveryError as exc:
            if exc.status not in REFETCH_STATUSES:
                raise
            cached = self.secret_source(secret_name)
            if self.secret_source(secret_name, force_fetch=True) == cached:
                raise
        result = attempt(False)  # the fresh value is in the cache now
        return result

    def _post(
        self, url: str, body: dict[str, Any], deadline: Deadline, destination: Destination
    ) -> tuple[requests.Response, str]:
        """POST `body`; the answer and its text (read up to `ANSWER_BYTES`). Every failure is a delivery error
        whose message holds no URL (`from None`: requests' own messages hold it, and for Slack it is the secret)."""
        import requests

        self._http.session  # noqa: B018 - built (and its loggers quieted) before anything else, as ever
        check_url(url, destination.value)
        read = read_budget(deadline, self.connect_timeout, self.read_timeout)
        if read is None:
            raise TransientDeliveryError(f"{destination.value}: no time left in this invocation to send")
        retry = deadline_retry(
            retries=self.retries,
            # A lost answer: PagerDuty deduplicates by dedup_key, so send again; a Slack webhook does not, so never
            # blindly (the invocation fails and Lambda's retry posts again, once per attempt).
            resend=destination in self.resend_unanswered,
            backoff_factor=self.backoff_factor,
            backoff_max=8.0,
            backoff_jitter=0.25,
            deadline=deadline,
            attempt_seconds=self.connect_timeout + read,
        )
        payload = encode_json(body)
        try:
            return self._http.send(
                "POST",
                url,
                data=payload,
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=(self.connect_timeout, read),
                retry=retry,
            )
        except DeliveryError:
            raise
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema,
                requests.exceptions.URLRequired) as exc:  # fmt: skip
            raise malformed(destination.value, exc) from None
        except requests.RequestException as exc:
            raise unanswered(destination.value, exc) from None
        except (ValueError, UnicodeError) as exc:  # urllib3's LocationParseError and the standard library's parsers
            raise malformed(destination.value, exc) from None

    def _pagerduty_secret(self, name: str, force: bool) -> tuple[str, str]:
        value = self.secret_source(name, force_fetch=force)
        url = self.pagerduty_url
        if value.startswith("{"):
            decoded = _decode_secret(value, name)
            key = decoded.get("routing_key") or decoded.get("integration_key")
            url = decoded.get("events_url") or url
            if not isinstance(key, str) or not isinstance(url, str):
                raise ConfigurationError(f"secret {name!r} has no routing_key")
            value = key
        return value, url

    def _slack_secret(self, name: str, force: bool) -> str:
        value = self.secret_source(name, force_fetch=force)
        if value.startswith("{"):
            decoded = _decode_secret(value, name)
            url = decoded.get("webhook_url") or decoded.get("url")
            if not isinstance(url, str):
                raise ConfigurationError(f"secret {name!r} has no webhook_url")
            value = url
        if not value.startswith(("https://", "http://")):
            raise ConfigurationError(f"secret {name!r} is not a webhook URL")
        return value


def _decode_secret(value: str, name: str) -> dict[str, Any]:
    try:
        decoded = json.loads(value)
    except ValueError:
        raise ConfigurationError(f"secret {name!r} looks like JSON but is not") from None
    if not isinstance(decoded, dict):
        raise ConfigurationError(f"secret {name!r} must be a JSON object or a plain string")
    return decoded


def _failure(destination: Destination, response: requests.Response, reason: str) -> Exception:
    status = response.status_code
    message = f"{destination.value}: HTTP {status}" + (f" {reason}" if reason else "")
    error: PermanentDeliveryError | TransientDeliveryError
    if status in RETRY_STATUSES:
        error = TransientDeliveryError(message + f" after {attempts(response)} attempts")
    else:
        error = PermanentDeliveryError(message)
    error.status = status
    return error


def _pagerduty_reason(text: str, secrets: Iterable[str]) -> str:
    answer = json_object(text)
    if not answer:
        return clean_answer(text, secrets)
    errors = answer.get("errors")
    parts = [str(answer.get("message") or "")[:ANSWER_WINDOW]]
    if isinstance(errors, list):
        parts.extend(str(e)[:ANSWER_WINDOW] for e in errors[:3])
    return clean_answer("; ".join(p for p in parts if p), secrets)


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,30}://\S*")
SHORTEST_SECRET_PART = 6  # shorter fragments of a secret (a host name's "https", a path's "v2") are not secret


def clean_answer(text: str, secrets: Iterable[str] = ()) -> str:
    """What a service answered, fit to be written anywhere: one line of at most `ANSWER_CHARS` characters, with
    every form of the secrets (`secret_forms`) and any other URL taken out. Linear in `ANSWER_WINDOW`."""
    forms = secret_forms(secrets)
    line = " ".join(text[:ANSWER_WINDOW].split())
    for form in forms:
        line = line.replace(form, "[secret]")
    for form in forms:  # a secret cut by the window's end: no part of it either
        for size in range(min(len(form) - 1, len(line)), 3, -1):
            if line.endswith(form[:size]):
                line = line[:-size]
                break
    return _URL.sub("[url]", line)[:ANSWER_CHARS].strip()


def secret_forms(secrets: Iterable[str]) -> list[str]:
    """Each secret as it may come back: plain, JSON-escaped, percent-encoded; a URL's path and its last segment
    too (a Slack webhook's path and token are the secret). Longest first, so a longer form is taken whole."""
    forms: set[str] = set()
    for secret in secrets:
        parts = [secret]
        if "://" in secret:
            try:
                path = urlsplit(secret).path
            except ValueError:
                path = secret.split("://", 1)[-1].partition("/")[2]
            parts += [path, path.rstrip("/").rsplit("/", 1)[-1]]
        for part in parts:
            forms.update((part, part.replace("/", "\\/"), quote(part, safe=""), quote(part)))
    return sorted((f for f in forms if len(f) >= SHORTEST_SECRET_PART), key=len, reverse=True)


__all__ = [  # with the names callers have always imported from here that now live in alertlib.http
    "ANSWER_BYTES",
    "ANSWER_CHARS",
    "ANSWER_WINDOW",
    "MAX_RETRY_AFTER",
    "REFETCH_STATUSES",
    "RETRY_STATUSES",
    "SECRET_MAX_AGE",
    "SHORTEST_SECRET_PART",
    "USER_AGENT",
    "Deadline",
    "Delivered",
    "Deliverer",
    "Destination",
    "SecretSource",
    "clean_answer",
    "powertools_secret",
    "quiet_secret_loggers",
    "secret_forms",
]
