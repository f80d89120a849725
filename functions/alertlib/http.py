"""HTTP as every sender in this package speaks it (deliver.py, slack_api.py, action_http.py): one place.

- `PinnedSession`: one `requests.Session` per container (keep-alive), proxies read once from the environment and
  never again, one `HTTPAdapter` mounted for http and https; each request sets that adapter's `Retry`, sends with
  no redirects and streams the answer, which `read_answer` reads up to `ANSWER_BYTES` and no further.
- `deadline_retry`: urllib3's `Retry` for connection errors, 429 and 5xx with exponential backoff honouring
  `Retry-After` (a longer wait than `MAX_RETRY_AFTER` is left to Lambda's retry), never starting an attempt that
  could not end before the invocation's `Deadline`; a lost answer is sent again only when the caller says sending
  twice cannot show twice (`resend`).
- `check_url`, `unanswered`, `malformed`: a URL requests cannot send to, and a request with no answer, said as one
  line that never holds the URL (for a Slack webhook the URL is the secret) and says whether it may have arrived.

Each caller keeps its own time-outs and its own answers (`Delivered`, `Posted`, `Answer`); what they share is here.
`requests` and `urllib3` are imported on first use, not at import.
"""

from __future__ import annotations

import functools
import json
import logging
import time
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from alertlib.errors import PermanentDeliveryError, TransientDeliveryError

if TYPE_CHECKING:
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3 import BaseHTTPResponse

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 20.0  # a longer Retry-After is left to Lambda's own retry, minutes later
USER_AGENT = "alert-forwarding-for-aws/1.0"
ANSWER_BYTES = 64 * 1024  # an answer is read this far and no further (a 2xx answer is a few dozen bytes)


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


@functools.cache
def quiet_secret_loggers() -> None:
    """Libraries that would log a secret: urllib3 logs each retry with the request path at WARNING (for Slack
    the path is the secret), botocore logs Secrets Manager answers at DEBUG. Neither may, whatever the level.
    Once per container: `setLevel` empties every logger's cache."""
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    for name in ("botocore", "boto3", "aws_lambda_powertools.utilities.parameters"):
        logging.getLogger(name).setLevel(logging.INFO)


@functools.cache
def retry_class() -> type:
    """urllib3's `Retry`, refusing to wait or try again when the attempt could not end before the deadline (built on
    first use, once per container: urllib3 is imported then)."""
    from urllib3.exceptions import InvalidHeader
    from urllib3.util.retry import Retry

    class DeadlineRetry(Retry):
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


def deadline_retry(
    *,
    retries: int,
    resend: bool,
    backoff_factor: float,
    backoff_max: float,
    backoff_jitter: float,
    deadline: Deadline,
    attempt_seconds: float,
) -> Any:
    """The `Retry` of one request: connection errors, 429 and 5xx tried `retries` times more (POST too: those mean
    nothing was taken); a lost answer (read time-out, reset after sending) only when `resend`; no redirects."""
    retry = retry_class()(
        total=retries,
        connect=retries,
        read=retries if resend else False,
        status=retries,
        other=0,
        allowed_methods=None,
        status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff_factor,
        backoff_max=backoff_max,
        backoff_jitter=backoff_jitter,
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
        redirect=0,
    )
    retry.deadline = deadline.at
    retry.attempt_seconds = attempt_seconds
    return retry


def read_budget(deadline: Deadline, connect_timeout: float, read_timeout: float) -> float | None:
    """The read time-out a request may have before the deadline, or None when not even a connection fits."""
    left = deadline.left()
    if left <= connect_timeout:
        return None
    return min(read_timeout, left - connect_timeout)


def pooled_adapter() -> HTTPAdapter:
    from requests.adapters import HTTPAdapter

    return HTTPAdapter(pool_connections=4, pool_maxsize=4)


class PinnedSession:
    """One `requests.Session` with one adapter (from `adapter_factory`) for http and https, built on first use."""

    def __init__(self, adapter_factory: Callable[[], HTTPAdapter] = pooled_adapter) -> None:
        self.adapter_factory = adapter_factory
        self._session: requests.Session | None = None
        self.adapter: Any = None

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
            self.adapter = self.adapter_factory()
            session.mount("https://", self.adapter)
            session.mount("http://", self.adapter)
            self._session = session
        return self._session

    def send(
        self,
        method: str,
        url: str,
        *,
        data: bytes | None,
        headers: dict[str, str],
        timeout: tuple[float, float],
        retry: Any,
    ) -> tuple[requests.Response, str]:
        """One request with `retry`; the answer and its text. requests' and urllib3's errors are the caller's to say
        (their messages hold the URL); `DeadlineRetry` raises `TransientDeliveryError`."""
        session = self.session
        self.adapter.max_retries = retry
        response = session.request(
            method,
            url,
            data=data,
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
            stream=True,  # the answer is read up to ANSWER_BYTES, not whatever length is sent
        )
        return response, read_answer(response)


def read_answer(response: requests.Response) -> str:
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


def attempts(response: requests.Response) -> int:
    """How many HTTP attempts the answer took (urllib3's retry history plus the last)."""
    retries = getattr(response.raw, "retries", None)
    history = getattr(retries, "history", ()) or ()
    return len(history) + 1


def json_object(text: str) -> dict[str, Any]:
    """The answer as a JSON object, or {} when it is not one."""
    try:
        decoded = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    return decoded if isinstance(decoded, dict) else {}


def check_url(url: str, what: str) -> None:
    """A URL requests cannot send to is a permanent failure, said without the URL (for Slack it is the secret)."""
    import requests

    try:
        prepared = requests.PreparedRequest()
        prepared.prepare_url(url, None)
        if urlsplit(prepared.url or "").scheme not in ("http", "https"):
            raise requests.exceptions.InvalidSchema("not http or https")
        urlsplit(prepared.url or "").port  # noqa: B018 - raises ValueError for a port out of range
    except (requests.RequestException, ValueError, UnicodeError) as exc:
        raise malformed(what, exc) from None


def malformed(what: str, exc: BaseException) -> PermanentDeliveryError:
    return PermanentDeliveryError(f"{what}: the URL in the secret is malformed ({type(exc).__name__}): fix the secret")


def unanswered(what: str, exc: BaseException) -> TransientDeliveryError:
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
        return TransientDeliveryError(f"{what}: {kind}; nothing was sent")
    text = str(cause).lower()
    kind = (
        "no answer in time"
        if "timed out" in text or "timeout" in text
        else ("connection reset before the answer" if "reset" in text or "aborted" in text else "answer lost")
    )
    error = TransientDeliveryError(f"{what}: {kind} ({type(exc).__name__}); it may have been delivered")
    error.maybe_delivered = True
    return error
