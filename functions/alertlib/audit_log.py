"""The action audit table: who did what, when, to which alert, and how it went.

One item per action (also refusals): partition key `pk` = `thread#<thread key>`, sort key `sk` =
`<ISO time>#<user id>#<action ts>`, so an alert's history reads in order with one Query; `expires_at` (TTL)
after `RETENTION_DAYS`. A failure to write is logged and counted by the caller, never raised over an action that
already happened (retrying would do it twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from alertlib.aws import AwsClient
from alertlib.observability import logger
from alertlib.text import one_line

RETENTION_DAYS = 400  # a year of history and a little: long enough for an annual access review
MAX_DETAIL = 500


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at: datetime
    thread_key: str
    action: str  # alert.ack, alert.silence, ... or pagerduty.<event>
    result: str  # ok, failed, refused
    user_id: str
    user_name: str = ""
    team_id: str = ""
    channel_id: str = ""
    message_ts: str = ""
    action_ts: str = ""
    duration_seconds: int | None = None
    detail: str = ""

    def item(self) -> dict[str, Any]:
        at = self.at.isoformat(timespec="milliseconds")
        item: dict[str, Any] = {
            "pk": {"S": f"thread#{self.thread_key}"},
            "sk": {"S": f"{at}#{self.user_id}#{self.action_ts}"},
            "at": {"S": at},
            "action": {"S": self.action},
            "result": {"S": self.result},
            "user_id": {"S": self.user_id},
            "expires_at": {"N": str(int((self.at + timedelta(days=RETENTION_DAYS)).timestamp()))},
        }
        for name in ("user_name", "team_id", "channel_id", "message_ts", "action_ts"):
            value = getattr(self, name)
            if value:
                item[name] = {"S": str(value)[:200]}
        if self.duration_seconds is not None:
            item["duration_seconds"] = {"N": str(self.duration_seconds)}
        if self.detail:
            item["detail"] = {"S": one_line(self.detail)[:MAX_DETAIL]}
        return item


class DynamoAuditLog(AwsClient):
    service = "dynamodb"

    def __init__(self, table: str, client: Any = None) -> None:
        super().__init__(client)
        self.table = table

    def record(self, record: AuditRecord) -> bool:
        """True once written; False (logged) when DynamoDB refused or failed."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_item(TableName=self.table, Item=record.item())
        except (BotoCoreError, ClientError) as exc:
            logger.error("audit record not written", extra={"reason": type(exc).__name__, "action": record.action})
            return False
        return True

    def history(self, thread_key: str, limit: int = 50) -> list[dict[str, Any]]:
        """An alert's actions, oldest first (for the runbook and the tests)."""
        answer = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"thread#{thread_key}"}},
            Limit=limit,
        )
        return [{k: next(iter(v.values())) for k, v in item.items()} for item in answer.get("Items", [])]
