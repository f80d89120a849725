"""HTTP for the actions (Alertmanager silences, PagerDuty REST, Slack's response_url), on `alertlib.http`.

One `requests.Session` per container, explicit `(connect, read)` timeouts, urllib3's `Retry` (`http.deadline_retry`)
bounded by the invocation's deadline, no redirects, answers read up to `ANSWER_BYTES`. A request that is not
idempotent (a POST creating a silence) is never sent again once it may have arrived. Every failure is a
`TransientDeliveryError` (429, 5xx, time-outs, connection errors) or a `PermanentDeliveryError` (other 4xx),
one line, holding no URL and none of the given secrets.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from alertlib.deliver import clean_answer
from alertlib.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from alertlib.http import RETRY_STATUSES, Deadline, PinnedSession, deadline_retry, read_budget

if TYPE_CHECKING:
    import requests


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    text: str

    def json(self) -> Any:
        try:
            return json.loads(self.text)
        except (ValueError, RecursionError):
            return None


class JsonHttp:
    """Sends one request and answers an `Answer` with a 2xx status, or raises a delivery error named `what`."""

    def __init__(
        self, *, connect_timeout: float = 3.05, read_timeout: float = 8.0, retries: int = 3, backoff: float = 0.3
    ) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.retries = retries
        self.backoff = backoff
        self._http = PinnedSession()

    @property
    def session(self) -> requests.Session:
        return self._http.session

    def request(
        self,
        what: str,
        method: str,
        url: str,
        deadline: Deadline,
        *,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
        idempotent: bool = True,
        secrets: Iterable[str] = (),
    ) -> Answer:
        import requests

        self._http.session  # noqa: B018 - built (and its loggers quieted) before anything else, as ever
        read = read_budget(deadline, self.connect_timeout, self.read_timeout)
        if read is None:
            raise TransientDeliveryError(f"{what}: no time left in this invocation to send")
        retry = deadline_retry(
            retries=self.retries,
            resend=idempotent,
            backoff_factor=self.backoff,
            backoff_max=4.0,
            backoff_jitter=0.1,
            deadline=deadline,
            attempt_seconds=self.connect_timeout + read,
        )
        all_headers = {"Accept": "application/json", **(headers or {})}
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            all_headers.setdefault("Content-Type", "application/json")
        secret_list = [s for s in secrets if s]
        try:
            response, text = self._http.send(
                method, url, data=data, headers=all_headers, timeout=(self.connect_timeout, read), retry=retry
            )
        except DeliveryError:
            raise
        except requests.exceptions.ConnectTimeout:
            raise TransientDeliveryError(f"{what}: connection timed out; nothing was sent") from None
        except requests.exceptions.ConnectionError as exc:
            kind = "no answer in time" if "timed out" in str(exc).lower() else "connection failed"
            raise TransientDeliveryError(f"{what}: {kind}") from None
        except requests.exceptions.Timeout:
            raise TransientDeliveryError(f"{what}: no answer in time") from None
        except (requests.RequestException, ValueError, UnicodeError) as exc:
            raise PermanentDeliveryError(f"{what}: the request could not be made ({type(exc).__name__})") from None
        status = response.status_code
        if 200 <= status < 300:
            return Answer(status, text)
        reason = clean_answer(text, secret_list)[:200]
        message = f"{what}: HTTP {status}" + (f" {reason}" if reason else "")
        error: DeliveryError = (
            TransientDeliveryError(message)
            if status in RETRY_STATUSES or status >= 500
            else PermanentDeliveryError(message)
        )
        error.status = status
        raise error
