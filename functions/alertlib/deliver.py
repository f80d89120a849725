"""Deliver: the only code that reads secrets or speaks HTTP.

One `requests.Session` per container (keep-alive), explicit `(connect, read)` timeouts, and urllib3's `Retry` for
429, 5xx and connection errors with exponential backoff that honours `Retry-After`. A deadline taken from the
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
import functools
import json
import logging
import re
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlsplit

from alertlib.errors import ConfigurationError, DeliveryError, PermanentDeliveryError, TransientDeliveryError
from alertlib.text import encode_json

if TYPE_CHECKING:  # imported lazily: requests and boto3 are paid for on first delivery, not at import
    import requests
    from urllib3 import BaseHTTPResponse

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REFETCH_STATUSES = frozenset({401, 403, 404, 410})  # a rotated secret may be behind these: fetch it once more
MAX_RETRY_AFTER = 20.0  # a longer Retry-After is left to Lambda's own retry, minutes later
SECRET_MAX_AGE = 300
USER_AGENT = "alert-forwarding-for-aws/1.0"
ANSWER_BYTES = 64 * 1024  # an answer is read this far and no further (a 2xx answer is a few dozen bytes)
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


@functools.cache
def quiet_secret_loggers() -> None:
    """Libraries that would log a secret: urllib3 logs each retry with the request path at WARNING (for Slack
    the path is the secret), botocore logs Secrets Manager answers at DEBUG. Neither may, whatever the level.
    Once per container: `setLevel` empties every logger's cache."""
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    for name in ("botocore", "boto3", "aws_lambda_powertools.utilities.parameters"):
        logging.getLogger(name).setLevel(logging.INFO)


class Deadline:
    """The time an invocation has left, with a margin, as a monotonic instant."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    @classmethod
    def from_context(cls, context: Any, *, margin: float = 1.5, default: float = 30.0) -> Deadline:
        getter = getattr(context, "get_remaining_time_in_millis", None)
        remaining = getter() / 1000.0 if callable(getter) else default
        return cls(max(remaining - margin, 0.0))

    def left(self) -> float:
        return self.at - time.monotonic()


def _retry_class() -> type:
    from urllib3.exceptions import InvalidHeader
    from urllib3.util.retry import Retry

    class DeadlineRetry(Retry):
        """urllib3's Retry, refusing to wait or try again when the attempt could not end before the deadline."""

        deadline: float | None = None
        attempt_seconds: float = 0.0

        def new(self, **kw: Any) -> DeadlineRetry:
            fresh: DeadlineRetry = super().new(**kw)  # type: ignore[assignment]
            fresh.deadline = self.deadline
            fresh.attempt_seconds = self.attempt_seconds
            return fresh

        def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
            try:
                return super().get_retry_after(response)
            except InvalidHeader:  # a Retry-After that is neither seconds nor a date: back off instead
                return None

        def sleep(self, response: BaseHTTPResponse | None = None) -> None:
            """As urllib3 sleeps (`Retry-After` when given and not zero, else the backoff), on this module's clock."""
            wait = self.get_backoff_time()
            if response is not None and self.respect_retry_after_header:
                retry_after = self.get_retry_after(response)
                if retry_after is not None and retry_after > MAX_RETRY_AFTER:
                    raise TransientDeliveryError(f"asked to retry after {retry_after:.0f}s; left to Lambda's retry")
                if retry_after:
                    wait = retry_after
            if self.deadline is not None and time.monotonic() + wait + self.attempt_seconds > self.deadline:
                raise TransientDeliveryError("no time left in this invocation for another attempt")
            if wait > 0:
                time.sleep(wait)

    return DeadlineRetry


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
        self._session: requests.Session | None = None
        self._adapter: Any = None
        self._retry_class: type | None = None

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            import requests

            quiet_secret_loggers()
            session = requests.Session()
            # Proxies are read from the environment once, here, not scanned again on every request.
            session.proxies.update(urllib.request.getproxies())
            session.trust_env = False
            session.headers["User-Agent"] = USER_AGENT
            self._adapter = self._new_adapter()
            session.mount("https://", self._adapter)
            session.mount("http://", self._adapter)
            self._retry_class = _retry_class()
            self._session = session
        return self._session

    def _new_adapter(self) -> requests.adapters.HTTPAdapter:
        from requests.adapters import HTTPAdapter

        return HTTPAdapter(pool_connections=4, pool_maxsize=4)

    # -- destinations ---------------------------------------------------------------------------------------

    def send_pagerduty(self, body: dict[str, Any], secret_name: str, deadline: Deadline) -> Delivered:
        def attempt(force: bool) -> Delivered:
            routing_key, url = self._pagerduty_secret(secret_name, force)
            secrets = (routing_key, url)
            response, text = self._post(url, {**body, "routing_key": routing_key}, deadline, Destination.PAGERDUTY)
            if response.status_code == 202:
                answer = _json(text)
                if answer.get("status") not in (None, "success"):
                    status = clean_answer(str(answer.get("status")), secrets)[:60]
                    raise PermanentDeliveryError(f"pagerduty: 202 but status {status!r}")
                return Delivered(Destination.PAGERDUTY, 202, _attempts(response))
            raise _failure(Destination.PAGERDUTY, response, _pagerduty_reason(text, secrets))

        return self._with_refetch(attempt, secret_name)

    def send_slack(self, body: dict[str, Any], secret_name: str, deadline: Deadline) -> Delivered:
        def attempt(force: bool) -> Delivered:
            url = self._slack_secret(secret_name, force)
            response, text = self._post(url, body, deadline, Destination.SLACK)
            text = text.strip()
            if response.status_code == 200 and text == "ok":
                return Delivered(Destination.SLACK, 200, _attempts(response))
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

        session = self.session
        _check_url(url, destination)
        left = deadline.left()
        if left <= self.connect_timeout:
            raise TransientDeliveryError(f"{destination.value}: no time left in this invocation to send")
        read = min(self.read_timeout, left - self.connect_timeout)
        assert self._retry_class is not None
        retry = self._retry_class(
            total=self.retries,
            connect=self.retries,
            # A lost answer: PagerDuty deduplicates by dedup_key, so send again; a Slack webhook does not, so never
            # blindly (the invocation fails and Lambda's retry posts again, once per attempt).
            read=self.retries if destination in self.resend_unanswered else False,
            status=self.retries,
            other=0,
            allowed_methods=None,  # POST too: connection errors and 429/5xx answers mean nothing was taken
            status_forcelist=RETRY_STATUSES,
            backoff_factor=self.backoff_factor,
            backoff_max=8.0,
            backoff_jitter=0.25,
            respect_retry_after_header=True,
            raise_on_status=False,
            raise_on_redirect=False,
            redirect=0,
        )
        retry.deadline = deadline.at
        retry.attempt_seconds = self.connect_timeout + read
        self._adapter.max_retries = retry
        payload = encode_json(body)
        try:
            response = session.post(
                url,
                data=payload,
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=(self.connect_timeout, read),
                allow_redirects=False,
                stream=True,  # the answer is read up to ANSWER_BYTES, not whatever length is sent
            )
            return response, _read_answer(response)
        except DeliveryError:
            raise
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema,
                requests.exceptions.URLRequired) as exc:  # fmt: skip
            raise _malformed(destination, exc) from None
        except requests.RequestException as exc:
            raise _unanswered(destination, exc) from None
        except (ValueError, UnicodeError) as exc:  # urllib3's LocationParseError and the standard library's parsers
            raise _malformed(destination, exc) from None

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


def _check_url(url: str, destination: Destination) -> None:
    """A URL requests cannot send to is a permanent failure, said without the URL (for Slack it is the secret)."""
    import requests

    try:
        prepared = requests.PreparedRequest()
        prepared.prepare_url(url, None)
        if urlsplit(prepared.url or "").scheme not in ("http", "https"):
            raise requests.exceptions.InvalidSchema("not http or https")
        urlsplit(prepared.url or "").port  # noqa: B018 - raises ValueError for a port out of range
    except (requests.RequestException, ValueError, UnicodeError) as exc:
        raise _malformed(destination, exc) from None


def _malformed(destination: Destination, exc: BaseException) -> PermanentDeliveryError:
    return PermanentDeliveryError(
        f"{destination.value}: the URL in the secret is malformed ({type(exc).__name__}): fix the secret"
    )


def _unanswered(destination: Destination, exc: BaseException) -> TransientDeliveryError:
    """No answer came back. Whether the request may have reached the service is read from urllib3's cause: a
    connection that was never made sent nothing; a read time-out or a reset after sending may have been taken."""
    from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

    cause: BaseException | None = exc
    for _ in range(6):  # requests' error -> MaxRetryError -> urllib3's error (or the other way round)
        inner = cause.args[0] if cause is not None and cause.args else None
        if isinstance(cause, MaxRetryError):
            inner = cause.reason
        if not isinstance(inner, BaseException):
            break
        cause = inner
    if isinstance(cause, ConnectTimeoutError | NewConnectionError) or type(exc).__name__ == "ConnectTimeout":
        kind = "connection timed out" if "timed out" in str(cause).lower() else "connection failed"
        return TransientDeliveryError(f"{destination.value}: {kind}; nothing was sent")
    text = str(cause).lower()
    kind = (
        "no answer in time"
        if "timed out" in text or "timeout" in text
        else ("connection reset before the answer" if "reset" in text or "aborted" in text else "answer lost")
    )
    error = TransientDeliveryError(f"{destination.value}: {kind} ({type(exc).__name__}); it may have been delivered")
    error.maybe_delivered = True
    return error


def _read_answer(response: requests.Response) -> str:
    """The answer's text, read up to `ANSWER_BYTES`; a longer answer's connection is closed, not reused."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=16 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size >= ANSWER_BYTES:
            break
    response.close()  # back to the pool when read to the end; closed when cut short
    data = b"".join(chunks)[:ANSWER_BYTES]
    return data.decode(response.encoding or "utf-8", errors="replace")


def _failure(destination: Destination, response: requests.Response, reason: str) -> Exception:
    status = response.status_code
    message = f"{destination.value}: HTTP {status}" + (f" {reason}" if reason else "")
    error: PermanentDeliveryError | TransientDeliveryError
    if status in RETRY_STATUSES:
        error = TransientDeliveryError(message + f" after {_attempts(response)} attempts")
    else:
        error = PermanentDeliveryError(message)
    error.status = status
    return error


def _pagerduty_reason(text: str, secrets: Iterable[str]) -> str:
    answer = _json(text)
    if not answer:
        return clean_answer(text, secrets)
    errors = answer.get("errors")
    parts = [str(answer.get("message") or "")[:ANSWER_WINDOW]]
    if isinstance(errors, list):
        parts.extend(str(e)[:ANSWER_WINDOW] for e in errors[:3])
    return clean_answer("; ".join(p for p in parts if p), secrets)


def _json(text: str) -> dict[str, Any]:
    try:
        decoded = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    return decoded if isinstance(decoded, dict) else {}


def _attempts(response: requests.Response) -> int:
    retries = getattr(response.raw, "retries", None)
    history = getattr(retries, "history", ()) or ()
    return len(history) + 1


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
