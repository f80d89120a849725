"""Alertmanager API v2 silences: create one for a group's labels, expire it.

`POST {url}/api/v2/silences` with equality matchers of the group labels, `startsAt` now, `endsAt` now + the
duration, `createdBy` the Slack user and a `comment` linking the message: 200 `{"silenceID": …}`.
`DELETE {url}/api/v2/silence/{id}` (singular) expires it (200 also for one already expired).

The credentials secret (JSON): `{"url": "https://alertmanager.example.com", "basic_auth": {"username", "password"}}`,
or `"bearer_token": "…"` (Alertmanager itself has no bearer support: for a reverse proxy in front of it), or
`"sigv4": {"region": "eu-west-1"}` for Amazon Managed Prometheus, whose `url` is
`https://aps-workspaces.<region>.amazonaws.com/workspaces/<id>/alertmanager`; requests are then signed with the
function's own role (service `aps`), no key in the secret. A URL given in config overrides the secret's.
Errors are one line: 4xx permanent, 5xx and time-outs retryable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from alertlib.action_http import JsonHttp
from alertlib.deliver import Deadline
from alertlib.errors import ConfigurationError, MalformedInput, PermanentDeliveryError

_SILENCE_ID = re.compile(r"[0-9a-fA-F-]{8,64}")
MAX_MATCHERS = 64
MAX_COMMENT = 1000
WHAT = "alertmanager"


@dataclass(frozen=True)
class AlertmanagerCredentials:
    url: str
    basic_auth: tuple[str, str] | None = None
    bearer_token: str | None = None
    sigv4_region: str | None = None

    @classmethod
    def from_secret(cls, value: str, *, url: str | None = None) -> AlertmanagerCredentials:
        try:
            decoded = json.loads(value)
        except ValueError:
            raise ConfigurationError("the Alertmanager secret is not JSON") from None
        if not isinstance(decoded, dict):
            raise ConfigurationError("the Alertmanager secret must be a JSON object")
        base = url or decoded.get("url")
        if not isinstance(base, str) or urlsplit(base).scheme not in ("http", "https") or not urlsplit(base).hostname:
            raise ConfigurationError("the Alertmanager secret (or config) has no http(s) url")
        kinds = [k for k in ("basic_auth", "bearer_token", "sigv4") if decoded.get(k) is not None]
        if len(kinds) > 1:
            raise ConfigurationError("the Alertmanager secret names more than one of basic_auth, bearer_token, sigv4")
        basic = decoded.get("basic_auth")
        if basic is not None and not (
            isinstance(basic, dict)
            and isinstance(basic.get("username"), str)
            and isinstance(basic.get("password"), str)
        ):
            raise ConfigurationError("the Alertmanager secret: basic_auth needs username and password strings")
        bearer = decoded.get("bearer_token")
        if bearer is not None and (not isinstance(bearer, str) or not bearer.strip()):
            raise ConfigurationError("the Alertmanager secret: bearer_token must be a non-empty string")
        sigv4 = decoded.get("sigv4")
        region = None
        if sigv4 is not None:
            region = sigv4.get("region") if isinstance(sigv4, dict) else None
            if not isinstance(region, str) or not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", region):
                raise ConfigurationError("the Alertmanager secret: sigv4 needs a region")
        return cls(
            url=base.rstrip("/"),
            basic_auth=(basic["username"], basic["password"]) if basic else None,
            bearer_token=bearer.strip() if bearer else None,
            sigv4_region=region,
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        found = [self.bearer_token or ""]
        if self.basic_auth:
            found.append(self.basic_auth[1])
        return tuple(s for s in found if s)


def silence_body(
    matchers: Mapping[str, str], *, now: datetime, seconds: int, created_by: str, comment: str
) -> dict[str, Any]:
    """The POST body: an equality matcher per group label (sorted), now to now + `seconds`. A group without
    labels is refused: a silence without matchers would be refused, and one matching everything is never wanted."""
    if not matchers:
        raise MalformedInput("the group has no labels to silence")
    if len(matchers) > MAX_MATCHERS:
        raise MalformedInput(f"the group has over {MAX_MATCHERS} labels")
    if not any(v for v in matchers.values()):
        raise MalformedInput("every group label is empty: the silence would match everything")
    return {
        "matchers": [
            {"name": name, "value": value, "isRegex": False, "isEqual": True}
            for name, value in sorted(matchers.items())
        ],
        "startsAt": _iso(now),
        "endsAt": _iso(now + timedelta(seconds=seconds)),
        "createdBy": created_by[:200],
        "comment": comment[:MAX_COMMENT],
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


Signer = Callable[[str, str, bytes, dict[str, str]], dict[str, str]]


def sigv4_signer(region: str, session: Any = None) -> Signer:
    """Headers signed with SigV4 for service `aps`, from the function's role (the container's boto3 session)."""

    def sign(method: str, url: str, data: bytes, headers: dict[str, str]) -> dict[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        from alertlib.aws import session as default_session

        credentials = (session or default_session()).get_credentials()
        if credentials is None:
            raise ConfigurationError("no AWS credentials to sign Alertmanager requests with")
        request = AWSRequest(method=method, url=url, data=data, headers=headers)
        SigV4Auth(credentials.get_frozen_credentials(), "aps", region).add_auth(request)
        return dict(request.headers.items())

    return sign


class AlertmanagerSilences:
    """Creates and expires silences. `credentials` is called on every use (the secret is cached by its source)."""

    def __init__(
        self,
        credentials: Callable[[], AlertmanagerCredentials],
        *,
        http: JsonHttp | None = None,
        signer: Callable[[str], Signer] = sigv4_signer,
    ) -> None:
        self.credentials = credentials
        self.http = http or JsonHttp()
        self.signer = signer

    def create(self, body: dict[str, Any], deadline: Deadline) -> str:
        answer = self._send("POST", "/api/v2/silences", deadline, body=body, idempotent=False)
        decoded = answer.json()
        silence_id = decoded.get("silenceID") if isinstance(decoded, dict) else None
        if not isinstance(silence_id, str) or not _SILENCE_ID.fullmatch(silence_id):
            raise PermanentDeliveryError(f"{WHAT}: HTTP {answer.status} without a silenceID")
        return silence_id

    def expire(self, silence_id: str, deadline: Deadline) -> None:
        if not _SILENCE_ID.fullmatch(silence_id):
            raise MalformedInput("not a silence id")
        self._send("DELETE", f"/api/v2/silence/{quote(silence_id, safe='')}", deadline)

    def _send(self, method: str, path: str, deadline: Deadline, *, body: Any = None, idempotent: bool = True) -> Any:
        creds = self.credentials()
        url = creds.url + path
        data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers: dict[str, str] = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if creds.bearer_token:
            headers["Authorization"] = f"Bearer {creds.bearer_token}"
        elif creds.basic_auth:
            import base64

            token = base64.b64encode(f"{creds.basic_auth[0]}:{creds.basic_auth[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        elif creds.sigv4_region:
            headers = self.signer(creds.sigv4_region)(method, url, data, headers)
        return self.http.request(
            WHAT,
            method,
            url,
            deadline,
            data=data or None,
            headers=headers,
            idempotent=idempotent,
            secrets=(*creds.secrets, *(headers.get("Authorization", "").split()[-1:])),
        )
