"""Deliver: the only code that reads secrets or speaks HTTP.

One `requests.Session` per container (keep-alive), explicit `(connect, read)` timeouts, and urllib3's `Retry` for
429, 5xx and connection errors with exponential backoff that honours `Retry-After`. A deadline taken from the
Lambda's remaining time bounds it all: no attempt starts that could not finish in time. The answer is
`Delivered`, or `TransientDeliveryError` / `PermanentDeliveryError` whose messages never hold a URL, a key or a
payload (the webhook URL *is* the Slack secret).
"""

from __future__ import annotations

import enum
import functools
import json
import logging
import time
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from alertlib.errors import ConfigurationError, PermanentDeliveryError, TransientDeliveryError
from alertlib.text import encode_json

if TYPE_CHECKING:  # imported lazily: requests and boto3 are paid for on first delivery, not at import
    import requests
    from urllib3 import BaseHTTPResponse

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REFETCH_STATUSES = frozenset({401, 403, 404, 410})  # a rotated secret may be behind these: fetch it once more
MAX_RETRY_AFTER = 20.0  # a longer Retry-After is left to Lambda's own retry, minutes later
SECRET_MAX_AGE = 300
USER_AGENT = "alert-forwarding-for-aws/1.0"


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

    quiet_secret_loggers()
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
            wait = self.get_backoff_time()
            if response is not None and self.respect_retry_after_header:
                retry_after = self.get_retry_after(response)
                if retry_after is not None:
                    if retry_after > MAX_RETRY_AFTER:
                        raise TransientDeliveryError(f"asked to retry after {retry_after:.0f}s; left to Lambda's retry")
                    wait = retry_after
            if self.deadline is not None and time.monotonic() + wait + self.attempt_seconds > self.deadline:
                raise TransientDeliveryError("no time left in this invocation for another attempt")
            super().sleep(response)

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
    ) -> None:
        self.pagerduty_url = pagerduty_url
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
            from requests.adapters import HTTPAdapter

            quiet_secret_loggers()
            session = requests.Session()
            # Proxies are read from the environment once, here, not scanned again on every request.
            session.proxies.update(urllib.request.getproxies())
            session.trust_env = False
            session.headers["User-Agent"] = USER_AGENT
            self._adapter = HTTPAdapter(pool_connections=4, pool_maxsize=4)
            session.mount("https://", self._adapter)
            session.mount("http://", self._adapter)
            self._retry_class = _retry_class()
            self._session = session
        return self._session

    # -- destinations ---------------------------------------------------------------------------------------

    def send_pagerduty(self, body: dict[str, Any], secret_name: str, deadline: Deadline) -> Delivered:
        def attempt(force: bool) -> Delivered:
            routing_key, url = self._pagerduty_secret(secret_name, force)
            response = self._post(url, {**body, "routing_key": routing_key}, deadline, Destination.PAGERDUTY)
            if response.status_code == 202:
                answer = _json(response)
                if answer.get("status") not in (None, "success"):
                    raise PermanentDeliveryError(f"pagerduty: 202 but status {str(answer.get('status'))[:60]!r}")
                return Delivered(Destination.PAGERDUTY, 202, _attempts(response))
            raise _failure(Destination.PAGERDUTY, response, _pagerduty_reason(response))

        return self._with_refetch(attempt, secret_name)

    def send_slack(self, body: dict[str, Any], secret_name: str, deadline: Deadline) -> Delivered:
        def attempt(force: bool) -> Delivered:
            url = self._slack_secret(secret_name, force)
            response = self._post(url, body, deadline, Destination.SLACK)
            text = response.text.strip()
            if response.status_code == 200 and text == "ok":
                return Delivered(Destination.SLACK, 200, _attempts(response))
            if response.status_code == 200:
                raise PermanentDeliveryError(f"slack: 200 with body {_safe(text)!r}, not 'ok'")
            raise _failure(Destination.SLACK, response, _safe(text))

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

    def _post(self, url: str, body: dict[str, Any], deadline: Deadline, destination: Destination) -> requests.Response:
        import requests

        session = self.session
        left = deadline.left()
        if left <= self.connect_timeout:
            raise TransientDeliveryError(f"{destination.value}: no time left in this invocation to send")
        read = min(self.read_timeout, left - self.connect_timeout)
        assert self._retry_class is not None
        retry = self._retry_class(
            total=self.retries,
            connect=self.retries,
            read=self.retries,
            status=self.retries,
            other=0,
            allowed_methods=None,  # POST too: PagerDuty dedups by key; a lost Slack post is worse than a double
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
            return session.post(
                url,
                data=payload,
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=(self.connect_timeout, read),
                allow_redirects=False,
            )
        except requests.Timeout:
            # `from None`: requests' own message holds the URL, which for Slack is the secret.
            raise TransientDeliveryError(f"{destination.value}: timed out after retries") from None
        except requests.ConnectionError as exc:
            text = str(exc).lower()
            kind = (
                "timed out"
                if "timed out" in text or "timeout" in text
                else ("connection reset" if "reset" in text else "connection failed")
            )
            raise TransientDeliveryError(f"{destination.value}: {kind} after retries") from None
        except requests.RequestException as exc:
            raise TransientDeliveryError(f"{destination.value}: {type(exc).__name__}") from None

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
        error = TransientDeliveryError(message + f" after {_attempts(response)} attempts")
    else:
        error = PermanentDeliveryError(message)
    error.status = status
    return error


def _pagerduty_reason(response: requests.Response) -> str:
    answer = _json(response)
    errors = answer.get("errors")
    parts = [str(answer.get("message") or "")]
    if isinstance(errors, list):
        parts.extend(str(e) for e in errors[:3])
    return _safe("; ".join(p for p in parts if p))


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        decoded = response.json()
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


def _attempts(response: requests.Response) -> int:
    retries = getattr(response.raw, "retries", None)
    history = getattr(retries, "history", ()) or ()
    return len(history) + 1


def _safe(text: str) -> str:
    """An answer's body, short and on one line; never echoes anything that looks like a URL."""
    line = " ".join(text.split())[:120]
    return "" if "://" in line else line
