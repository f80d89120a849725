"""Deliver, Slack app mode: the Slack Web API with a bot token (PROTOCOLS-NEXT.md section 1 and 3).

`chat.postMessage` (a parent, or a reply with `thread_ts` and optional `reply_broadcast`), `chat.update`, and the
three-step file upload (`files.getUploadURLExternal`, a POST of the bytes to the `upload_url` it gives, then
`files.completeUploadExternal` sharing the file into one channel and thread). `files.upload` is retired.
`usergroups.users.list` tells the Slack endpoint who is in a user group (`UsergroupMembers`: kept a minute).

It travels as `deliver.Deliverer` does, on `alertlib.http`: one `requests.Session` per container, `(connect, read)`
timeouts, urllib3's `Retry` for 429 and 5xx honouring `Retry-After` (longer than `MAX_RETRY_AFTER` is left to
Lambda's retry), the whole bounded by the invocation's `Deadline`, answers read up to 64 KB. Slack answers its
errors with HTTP 200 and `{"ok": false, "error": code}`: the retryable codes (`RETRYABLE_CODES`) are tried again
here, within the same deadline, and then raised as `SlackTransientError`; every other code is `SlackPermanentError`
(both carry `method` and `code`, so a caller can tell `message_not_found` from `channel_not_found`).

A request whose answer was lost is sent again at once only where sending twice cannot show twice (`chat.update`,
`files.getUploadURLExternal`, the upload itself); a post or a share is not: the error says `maybe_delivered`.

The token goes only to the API's own host, in the `Authorization` header; the upload URL (pre-signed) gets the bytes
and nothing else. No error or log line holds the token, an upload URL or a payload (`deliver.clean_answer`).
"""

from __future__ import annotations

import json
import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode, urlsplit

from alertlib.deliver import SecretSource, clean_answer, powertools_secret
from alertlib.errors import ConfigurationError, DeliveryError, PermanentDeliveryError, TransientDeliveryError
from alertlib.http import (
    RETRY_STATUSES,
    Deadline,
    PinnedSession,
    attempts,
    check_url,
    deadline_retry,
    json_object,
    read_budget,
    unanswered,
)
from alertlib.text import ELLIPSIS, encode_json, truncate

if TYPE_CHECKING:
    import requests

logger = logging.getLogger(__name__)
T = TypeVar("T")

API_URL = "https://slack.com/api/"
# Limits held before sending (PROTOCOLS-NEXT.md 1 and 3): chat.update refuses text over 4,000 characters with
# msg_too_long; chat.postMessage cuts at 40,000, but our own messages stay short, so both keep to 4,000.
MAX_TEXT = 4000
MAX_BLOCKS = 50  # top-level blocks and the blocks inside attachments together
MAX_ALT_TEXT = 1000
MAX_FILENAME = 255
MAX_TITLE = 255
MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # ours: a metric graph is tens of kilobytes
MAX_CODE = 60  # an error code as it is repeated in an error message
APP_ATTEMPTS = 3  # tries of a call answered `ok: false` with a retryable code (HTTP retries are urllib3's)
# User ids taken from one user group; the rest are not (refused, never granted). An answer is read up to 64 KB
# (http.ANSWER_BYTES), about 4,500 ids: a larger group's answer is cut, unreadable, and the click "could not check".
MAX_GROUP_MEMBERS = 4_000
GROUP_TTL = 60.0  # seconds a user group's members are kept in a container (usergroups.users.list is Tier 2)
MAX_GROUPS_KEPT = 64  # user groups kept at once; the least recently read goes first

# `ok: false` codes worth another try: Slack is busy or failed inside. Everything else is permanent.
RETRYABLE_CODES = frozenset(
    {
        "ratelimited",
        "rate_limited",
        "service_unavailable",
        "fatal_error",
        "internal_error",
        "request_timeout",
        "team_added_to_org",  # "the workspace is migrating": documented as temporary
    }
)
# Codes known to be permanent (listed so a test can hold the classification; unknown codes are permanent too).
PERMANENT_CODES = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "missing_scope",
        "not_allowed_token_type",
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_blocks_too_long",
        "msg_too_long",
        "no_text",
        "too_many_attachments",
        "cant_update_message",
        "message_not_found",
        "edit_window_closed",
        "invalid_arguments",
        "invalid_arg_name",
        "invalid_charset",
        "invalid_post_type",
        "invalid_form_data",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel",
        "file_not_found",
        "file_upload_size_restricted",
        "invalid_thread_ts",
        "thread_reply_not_allowed",
        "no_such_subteam",  # usergroups.users.list: no such user group
    }
)
# A token is a secret, and so are its distinctive parts; these patterns catch one that reached an answer anyway.
_TOKEN = re.compile(r"xox[a-z]-[A-Za-z0-9-]+")
_CODE = re.compile(r"[a-z0-9_]{1,60}")
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,31}")
_GROUP_ID = re.compile(r"S[A-Z0-9]{2,31}")
_BOT_TOKEN = re.compile(r"xoxb-[A-Za-z0-9-]{1,250}")  # nothing that could end a header or hide in a log line
# Refusals that may mean the token in the cached secret was rotated: the secret is read afresh once.
AUTH_CODES = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"})


class SlackApiError(DeliveryError):
    """Slack refused or failed a Web API call: which `method`, and Slack's `code` (`ok: false`) or `http_<status>`."""

    method: str = ""
    code: str = ""


class SlackTransientError(SlackApiError, TransientDeliveryError):
    """A retryable code, 429 or 5xx that outlived the retries, a time-out: worth another try later."""


class SlackPermanentError(SlackApiError, PermanentDeliveryError):
    """A code that the same request would meet again: a wrong channel, token or scope, bad blocks, a lost message."""


@dataclass(frozen=True, slots=True)
class AppCredentials:
    """A Slack app route's secret: `{"bot_token": "xoxb-…", "channel": "C…"}`."""

    token: str
    channel: str

    def __repr__(self) -> str:  # never the token, whatever logs a credentials object
        return f"AppCredentials(channel={self.channel!r})"


@dataclass(frozen=True, slots=True)
class Posted:
    """A message posted or updated: where it is (`channel`, `ts`), and how many HTTP attempts it took."""

    channel: str
    ts: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Uploaded:
    file_id: str
    attempts: int


def read_credentials(
    name: str, *, secret_source: SecretSource = powertools_secret, force: bool = False
) -> AppCredentials:
    """The bot token and channel id of a Slack app route, from its secret. A secret that is not such a JSON object
    is a `ConfigurationError` naming the secret, never its value."""
    value = secret_source(name, force_fetch=force)
    try:
        decoded = json.loads(value)
    except ValueError:
        raise ConfigurationError(f"secret {name!r} is not JSON: a Slack app needs bot_token and channel") from None
    if not isinstance(decoded, dict):
        raise ConfigurationError(f"secret {name!r} must be a JSON object with bot_token and channel")
    token, channel = decoded.get("bot_token"), decoded.get("channel")
    if not isinstance(token, str) or not _BOT_TOKEN.fullmatch(token):
        raise ConfigurationError(f"secret {name!r} has no bot_token (xoxb-…)")
    if not isinstance(channel, str) or not re.fullmatch(r"[CGD][A-Z0-9]{2,30}", channel):
        raise ConfigurationError(f"secret {name!r} has no channel id (C…): a channel's name is not its id")
    return AppCredentials(token=token, channel=channel)


def with_credentials(
    name: str, attempt: Callable[[AppCredentials], T], *, secret_source: SecretSource = powertools_secret
) -> T:
    """`attempt` with the route's credentials; refused for the token (`AUTH_CODES`), the secret is read afresh and,
    only if it changed (rotated), `attempt` runs once more. The same token is never sent the same refusal twice."""
    credentials = read_credentials(name, secret_source=secret_source)
    try:
        return attempt(credentials)
    except SlackPermanentError as exc:
        if exc.code not in AUTH_CODES:
            raise
        fresh = read_credentials(name, secret_source=secret_source, force=True)
        if fresh == credentials:
            raise
    return attempt(fresh)


class SlackApi:
    """The Web API calls the forwarder makes. One per container; `api_url` points at a stand-in in tests."""

    def __init__(
        self,
        *,
        api_url: str = API_URL,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        retries: int = 4,
        backoff_factor: float = 0.5,
        app_attempts: int = APP_ATTEMPTS,
    ) -> None:
        self.api_url = api_url if api_url.endswith("/") else api_url + "/"
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.retries = retries
        self.backoff_factor = backoff_factor
        self.app_attempts = max(app_attempts, 1)
        self._http = PinnedSession()

    @property
    def session(self) -> requests.Session:
        return self._http.session

    # -- the calls ------------------------------------------------------------------------------------------------

    def post_message(
        self,
        token: str,
        channel: str,
        *,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        attachments: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        reply_broadcast: bool = False,
        deadline: Deadline,
    ) -> Posted:
        """`chat.postMessage`: a parent (no `thread_ts`) or a reply in its thread, also shown in the channel when
        `reply_broadcast`. Links and media are not unfurled: the message says what it means."""
        body: dict[str, Any] = {"channel": channel, "unfurl_links": False, "unfurl_media": False}
        body.update(_message(text, blocks, attachments))
        if thread_ts:
            body["thread_ts"] = thread_ts
            if reply_broadcast:
                body["reply_broadcast"] = True
        answer, attempts = self._call("chat.postMessage", token, body, deadline, resend=False)
        return Posted(channel=_answer_str(answer, "channel", channel), ts=_answer_ts(answer, "chat.postMessage"),
                      attempts=attempts)  # fmt: skip

    def update_message(
        self,
        token: str,
        channel: str,
        ts: str,
        *,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        attachments: list[dict[str, Any]] | None = None,
        deadline: Deadline,
    ) -> Posted:
        """`chat.update` of a message this app posted. `blocks`/`attachments` left None keep the old ones; `[]`
        removes them. Sending the same update twice shows once, so a lost answer is sent again."""
        body: dict[str, Any] = {"channel": channel, "ts": ts}
        body.update(_message(text, blocks, attachments))
        answer, attempts = self._call("chat.update", token, body, deadline, resend=True)
        return Posted(channel=_answer_str(answer, "channel", channel), ts=_answer_str(answer, "ts", ts),
                      attempts=attempts)  # fmt: skip

    def upload_file(
        self,
        token: str,
        channel: str,
        *,
        data: bytes,
        filename: str,
        title: str,
        alt_text: str = "",
        thread_ts: str | None = None,
        deadline: Deadline,
    ) -> Uploaded:
        """The three steps: an upload URL for `len(data)` bytes, the bytes POSTed to it, the file shared into
        `channel` (in the thread of `thread_ts` when given). Any step's failure is the upload's."""
        if not data:
            raise SlackPermanentError("slack files.getUploadURLExternal: nothing to upload")
        if len(data) > MAX_UPLOAD_BYTES:
            raise SlackPermanentError(f"slack files.getUploadURLExternal: {len(data)} bytes, over {MAX_UPLOAD_BYTES}")
        fields: dict[str, str] = {"filename": _filename(filename), "length": str(len(data))}
        if alt_text:
            fields["alt_txt"] = truncate(alt_text, MAX_ALT_TEXT, what="alt_txt")
        answer, attempts = self._call("files.getUploadURLExternal", token, fields, deadline, resend=True, form=True)
        upload_url, file_id = answer.get("upload_url"), answer.get("file_id")
        if not isinstance(upload_url, str) or not isinstance(file_id, str) or not file_id:
            raise SlackPermanentError("slack files.getUploadURLExternal: no upload_url or file_id in the answer")
        attempts += self._upload(upload_url, data, token, deadline)
        share: dict[str, str] = {
            "files": json.dumps([{"id": file_id, "title": truncate(title, MAX_TITLE, what="file title")}]),
            "channel_id": channel,
        }
        if thread_ts:
            share["thread_ts"] = thread_ts
        _, more = self._call("files.completeUploadExternal", token, share, deadline, resend=False, form=True)
        return Uploaded(file_id=file_id, attempts=attempts + more)

    def usergroup_members(self, token: str, usergroup: str, *, deadline: Deadline) -> frozenset[str]:
        """`usergroups.users.list` (scope `usergroups:read`): the user ids in a user group, at most
        `MAX_GROUP_MEMBERS` (anything that is not a user id is left out). Reading twice shows nothing, so a lost
        answer is asked again. Any failure raises: who may act is never guessed."""
        if not _GROUP_ID.fullmatch(usergroup):
            raise _error(SlackPermanentError, "usergroups.users.list", "invalid_usergroup", 0)
        answer, _ = self._call(
            "usergroups.users.list", token, {"usergroup": usergroup}, deadline, resend=True, form=True
        )
        users = answer.get("users")
        if not isinstance(users, list):
            raise _error(SlackPermanentError, "usergroups.users.list", "no_users", 1)
        if len(users) > MAX_GROUP_MEMBERS:
            logger.warning("user group cut", extra={"usergroup": usergroup, "members": len(users)})
        return frozenset(u for u in users[:MAX_GROUP_MEMBERS] if isinstance(u, str) and _USER_ID.fullmatch(u))

    # -- the machinery ----------------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        token: str,
        body: dict[str, Any],
        deadline: Deadline,
        *,
        resend: bool,
        form: bool = False,
    ) -> tuple[dict[str, Any], int]:
        """POST one method; its answer when `ok`, and the HTTP attempts it took. `ok: false` with a retryable code is
        tried again (`app_attempts` in all, backing off, within the deadline)."""
        if form:
            payload = urlencode(body).encode("ascii")
            content_type = "application/x-www-form-urlencoded"
        else:
            payload = encode_json(body)
            content_type = "application/json; charset=utf-8"
        headers = {"Content-Type": content_type, "Authorization": f"Bearer {token}"}
        attempts = 0
        for round_ in range(self.app_attempts):
            response, text, tries = self._post(
                self.api_url + method,
                payload=payload,
                headers=headers,
                deadline=deadline,
                resend=resend,
                method=method,
            )
            attempts += tries
            status = response.status_code
            answer = json_object(text)
            if status == 200 and answer.get("ok") is True:
                warnings = (answer.get("response_metadata") or {}).get("warnings")
                if warnings:
                    logger.debug("slack warned", extra={"method": method, "warnings": str(warnings)[:200]})
                return answer, attempts
            code = _code(answer, status)
            if status == 200 and not answer:
                # Not Slack's JSON: a proxy's page. Whether a post was taken is unknown: retried later, never dropped.
                raise _error(SlackTransientError, method, "unreadable_answer", attempts, maybe_delivered=not resend)
            if status in RETRY_STATUSES:  # 429 or 5xx that outlived urllib3's retries: later, not here again
                raise _error(SlackTransientError, method, code, attempts, status=status)
            if status != 200 or code not in RETRYABLE_CODES:
                raise _error(SlackPermanentError, method, code, attempts, status=status, detail=_detail(answer, token))
            wait = min(self.backoff_factor * (2**round_), 8.0)
            if round_ + 1 >= self.app_attempts or deadline.left() < wait + self.connect_timeout + 1.0:
                raise _error(SlackTransientError, method, code, attempts, status=status)
            logger.info("slack asked to retry", extra={"method": method, "code": code, "wait": wait})
            _sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _post(
        self,
        url: str,
        *,
        payload: bytes,
        headers: dict[str, str],
        deadline: Deadline,
        resend: bool,
        method: str,
    ) -> tuple[requests.Response, str, int]:
        import requests

        self._http.session  # noqa: B018 - built (and its loggers quieted) before anything else, as ever
        read = read_budget(deadline, self.connect_timeout, self.read_timeout)
        if read is None:
            raise _error(SlackTransientError, method, "no_time_left", 0)
        retry = deadline_retry(
            retries=self.retries,
            resend=resend,
            backoff_factor=self.backoff_factor,
            backoff_max=8.0,
            backoff_jitter=0.25,
            deadline=deadline,
            attempt_seconds=self.connect_timeout + read,
        )
        where = f"slack {method}"
        try:
            check_url(url, where)
            response, text = self._http.send(
                "POST", url, data=payload, headers=headers, timeout=(self.connect_timeout, read), retry=retry
            )
        except SlackApiError:
            raise
        except TransientDeliveryError as exc:  # DeadlineRetry: a Retry-After too long, or no time for another try
            raise _error(SlackTransientError, method, "retry_later", 0, detail=str(exc)) from None
        except PermanentDeliveryError as exc:  # check_url: the API URL is not one requests can send to
            raise _error(SlackPermanentError, method, "bad_url", 0, detail=str(exc).partition(": ")[2]) from None
        except requests.RequestException as exc:
            lost = unanswered(where, exc)
            error = _error(SlackTransientError, method, "no_answer", 0, detail=str(lost).partition(": ")[2],
                           maybe_delivered=lost.maybe_delivered)  # fmt: skip
            raise error from None
        return response, text, attempts(response)

    def _upload(self, upload_url: str, data: bytes, token: str, deadline: Deadline) -> int:
        """Step 2: the bytes, raw, to the pre-signed URL (no token). HTTP 200 is success; anything else fails."""
        if urlsplit(upload_url).scheme not in ("https", "http"):
            raise SlackPermanentError("slack upload: the upload_url is not http(s)")
        response, text, tries = self._post(
            upload_url,
            payload=data,
            headers={"Content-Type": "application/octet-stream"},
            deadline=deadline,
            resend=True,
            method="upload",
        )
        if response.status_code == 200:
            return tries
        kind = SlackTransientError if response.status_code in RETRY_STATUSES else SlackPermanentError
        raise _error(kind, "upload", f"http_{response.status_code}", tries, status=response.status_code,
                     detail=clean_answer(text, (token, upload_url)))  # fmt: skip


class UsergroupMembers:
    """Who is in a Slack user group, for `slack_actions.Authoriser` (its `members_of`): `usergroups.users.list` with
    the bot token of the Slack app route `secret_name`, within `budget` seconds (the Slack endpoint answers within
    3 s: give it an `api` with tight time-outs and no retries). Members read are kept `ttl` seconds per container, for
    at most `max_groups` groups (the least recently read go first). A failure raises and is not kept, so the next
    click asks again; the Authoriser refuses meanwhile, never grants."""

    def __init__(
        self,
        api: SlackApi,
        secret_name: str,
        *,
        secret_source: SecretSource = powertools_secret,
        budget: float = 1.5,
        ttl: float = GROUP_TTL,
        max_groups: int = MAX_GROUPS_KEPT,
        clock: Callable[[], float] | None = None,
    ) -> None:
        import time

        self.api = api
        self.secret_name = secret_name
        self.secret_source = secret_source
        self.budget = budget
        self.ttl = ttl
        self.max_groups = max(max_groups, 1)
        self.clock = clock or time.monotonic
        self._kept: OrderedDict[str, tuple[float, frozenset[str]]] = OrderedDict()

    def __call__(self, usergroup: str) -> frozenset[str]:
        now = self.clock()
        kept = self._kept.get(usergroup)
        if kept is not None and now - kept[0] < self.ttl:
            return kept[1]
        deadline = Deadline(self.budget)
        members = with_credentials(
            self.secret_name,
            lambda credentials: self.api.usergroup_members(credentials.token, usergroup, deadline=deadline),
            secret_source=self.secret_source,
        )
        self._kept[usergroup] = (now, members)
        self._kept.move_to_end(usergroup)
        while len(self._kept) > self.max_groups:
            self._kept.popitem(last=False)
        return members


def usergroup_app(secret_names: Iterable[str]) -> str | None:
    """Which Slack app route's bot token reads user groups: the first of the names in order (SLACK_APPS' keys), so
    the code and the IAM grant (`usergroups_policy_statements`) name the same secret whatever the JSON's order."""
    return min((name for name in secret_names if name), default=None)


def usergroups_policy_statements(*, app_secret_arn: str) -> list[dict[str, Any]]:
    """What `UsergroupMembers` needs: read the one Slack app route secret whose bot token it uses (a key that
    encrypts it needs kms:Decrypt beside). `usergroups.users.list` itself is Slack's, scope `usergroups:read`."""
    return [{"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": [app_secret_arn]}]


def _sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)


def _message(
    text: str, blocks: list[dict[str, Any]] | None, attachments: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """`text` (the notification, required beside blocks) cut to `MAX_TEXT`; blocks and the attachments' blocks
    within `MAX_BLOCKS` together (the renderers hold it; this is the last guard, and says when it cut)."""
    body: dict[str, Any] = {"text": truncate(text, MAX_TEXT, what="Slack text") or ELLIPSIS}
    inner = sum(len(a.get("blocks") or ()) for a in attachments or ())
    if blocks is not None:
        room = max(MAX_BLOCKS - inner, 0)
        if len(blocks) > room:
            logger.warning("cut Slack blocks", extra={"blocks": len(blocks), "kept": room})
        body["blocks"] = blocks[:room]
    if attachments is not None:
        body["attachments"] = attachments
    return body


def _filename(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "file"
    return cleaned[:MAX_FILENAME]


def _code(answer: dict[str, Any], status: int) -> str:
    """Slack's error code, when it is one (lower-case word of at most 60 characters), else `http_<status>`."""
    error = answer.get("error")
    if isinstance(error, str) and _CODE.fullmatch(error):
        return error
    return f"http_{status}"


def _detail(answer: dict[str, Any], token: str) -> str:
    """What else Slack said about a refusal (`response_metadata.messages`, e.g. which block is invalid), cleaned."""
    messages = (answer.get("response_metadata") or {}).get("messages") if isinstance(answer, dict) else None
    if not isinstance(messages, list) or not messages:
        return ""
    return _TOKEN.sub("[secret]", clean_answer("; ".join(str(m) for m in messages[:3]), (token,)))


def _answer_str(answer: dict[str, Any], key: str, default: str) -> str:
    value = answer.get(key)
    return value if isinstance(value, str) and value else default


def _answer_ts(answer: dict[str, Any], method: str) -> str:
    ts = answer.get("ts")
    if not isinstance(ts, str) or not re.fullmatch(r"\d{1,12}\.\d{1,9}", ts):
        # Posted (ok: true) but where is unknown: nothing can be threaded under it. Sending again would post twice.
        raise _error(SlackPermanentError, method, "no_ts", 1)
    return ts


def _error(
    kind: type[SlackApiError],
    method: str,
    code: str,
    attempts: int,
    *,
    status: int | None = None,
    detail: str = "",
    maybe_delivered: bool = False,
) -> SlackApiError:
    message = f"slack {method}: {code[:MAX_CODE]}"
    if attempts > 1:
        message += f" after {attempts} attempts"
    if detail:
        message += f" ({_TOKEN.sub('[secret]', detail)[:300]})"
    error = kind(message)
    error.method = method
    error.code = code[:MAX_CODE]
    error.status = status
    error.maybe_delivered = maybe_delivered
    return error
