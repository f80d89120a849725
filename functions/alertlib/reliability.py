"""Exactly once to people, and a record of every delivery.

- `OncePerMessage`: Powertools idempotency on DynamoDB. Each single send is keyed on the SNS message, the
  destination, the secret (PagerDuty service or Slack channel) and the body's place in the message, so a message
  delivered twice (SNS redelivery, Lambda's retry) posts once, and a retry after a partial failure re-sends only
  what did not go.
- `Ledger`: one DynamoDB item per successful delivery (alert id, state, destination, route (the secret's name,
  never its value), when, seconds from the state change to delivery), with a TTL. Drills read it, route by route.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from alertlib.aws import AwsClient, session
from alertlib.deliver import Deadline, Delivered, Destination
from alertlib.models import AlertGroup, Status

IDEMPOTENCY_SECONDS = 24 * 3600  # longer than Lambda's retries (6 h event age) and SNS's redeliveries
LEDGER_SECONDS = 30 * 24 * 3600


class OncePerMessage:
    """Wraps a send so that the same (message, destination, secret, part) is delivered at most once."""

    def __init__(
        self,
        table: str,
        send: Callable[[dict[str, Any], str, Deadline], Delivered],
        send_slack: Callable[[dict[str, Any], str, Deadline], Delivered] | None = None,
    ) -> None:
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        self.config = IdempotencyConfig(expires_after_seconds=IDEMPOTENCY_SECONDS, raise_on_no_idempotency_key=True)
        persistence = DynamoDBPersistenceLayer(
            table_name=table, boto3_session=session()
        )  # one session: see aws.session
        self._send = send
        self._send_slack = send_slack or send

        @idempotent_function(  # type: ignore[untyped-decorator]
            data_keyword_argument="key", persistence_store=persistence, config=self.config
        )
        def send_once(
            *, key: dict[str, Any], body: dict[str, Any], secret: str, deadline: Deadline, slack: bool
        ) -> dict[str, Any]:
            delivered = (self._send_slack if slack else self._send)(body, secret, deadline)
            return {
                "destination": delivered.destination.value,
                "status": delivered.status,
                "attempts": delivered.attempts,
            }

        self._send_once = send_once

    def register(self, context: Any) -> None:
        """Before the idempotent call: lets Powertools expire an in-progress record when the invocation dies."""
        if hasattr(context, "get_remaining_time_in_millis"):
            self.config.register_lambda_context(context)

    def send(
        self, key: dict[str, Any], body: dict[str, Any], secret: str, deadline: Deadline, *, slack: bool = False
    ) -> Delivered:
        result = self._send_once(key=key, body=body, secret=secret, deadline=deadline, slack=slack)
        return Delivered(Destination(result["destination"]), int(result["status"]), int(result["attempts"]))


class Ledger(AwsClient):
    """`LEDGER_TABLE`: partition `alert` (the alert's id), sort `entry` (`<state>#<destination>#<time>#<message>`,
    then `#<route>` when the route is known: two routes of one destination delivering in the same millisecond are
    two items, not one overwritten)."""

    service = "dynamodb"

    def __init__(self, table: str, client: Any = None) -> None:
        super().__init__(client)
        self.table = table

    def record(
        self, group: AlertGroup, destination: Destination, delivered_at: float, *, route: str | None = None
    ) -> None:
        self.client.put_item(TableName=self.table, Item=self._item(group, destination, delivered_at, route))

    def record_many(
        self, groups: Sequence[AlertGroup], destination: Destination, delivered_at: float, *, route: str | None = None
    ) -> None:
        """A flush's deliveries, 25 to a BatchWriteItem (a digest of 100 alerts is 4 calls, not 100); what DynamoDB
        leaves unprocessed is written again, a few times, then one by one."""
        items = [{"PutRequest": {"Item": self._item(g, destination, delivered_at, route)}} for g in groups]
        for start in range(0, len(items), 25):
            batch = items[start : start + 25]
            for _ in range(3):
                answer = self.client.batch_write_item(RequestItems={self.table: batch})
                batch = (answer.get("UnprocessedItems") or {}).get(self.table) or []
                if not batch:
                    break
            for request in batch:
                self.client.put_item(TableName=self.table, Item=request["PutRequest"]["Item"])

    def _item(
        self, group: AlertGroup, destination: Destination, delivered_at: float, route: str | None
    ) -> dict[str, Any]:
        changed = state_changed_at(group)
        latency = max(delivered_at - changed.timestamp(), 0.0) if changed else None
        entry = f"{group.status.value}#{destination.value}#{delivered_at:.3f}#{group.message_id}"
        item: dict[str, Any] = {
            "alert": {"S": group.dedup_key},
            "entry": {"S": f"{entry}#{route}" if route else entry},
            "state": {"S": group.status.value},
            "destination": {"S": destination.value},
            "delivered_at": {"N": f"{delivered_at:.3f}"},
            "message_id": {"S": group.message_id},
            "title": {"S": group.title[:255] or "-"},
            "drill": {"BOOL": group.drill},
            "expires_at": {"N": str(int(delivered_at) + LEDGER_SECONDS)},
        }
        if latency is not None:
            item["seconds_to_deliver"] = {"N": f"{latency:.3f}"}
        if route:
            item["route"] = {"S": route[:512]}
        return item

    def deliveries(self, alert_id: str, since: float) -> list[dict[str, Any]]:
        """Every delivery of an alert recorded at or after `since` (epoch seconds), oldest first; `route` is None for
        an item written before routes were recorded."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "alert = :alert",
            "ExpressionAttributeValues": {":alert": {"S": alert_id}},
        }
        while True:
            page = self.client.query(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        rows = [
            {
                "state": i["state"]["S"],
                "destination": i["destination"]["S"],
                "delivered_at": float(i["delivered_at"]["N"]),
                "seconds_to_deliver": float(i["seconds_to_deliver"]["N"]) if "seconds_to_deliver" in i else None,
                "message_id": i["message_id"]["S"],
                "route": i["route"]["S"] if "route" in i else None,
            }
            for i in items
        ]
        return sorted((r for r in rows if r["delivered_at"] >= since), key=lambda r: r["delivered_at"])


def latest(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    return max(rows, key=lambda r: r["delivered_at"]) if rows else None


def state_changed_at(group: AlertGroup) -> datetime | None:
    """When the group's state changed: the newest start of its firing alerts, or end of its resolved ones."""
    times = [
        (a.ends_at if group.status is Status.RESOLVED else a.starts_at)
        for a in group.alerts
        if (a.ends_at if group.status is Status.RESOLVED else a.starts_at) is not None
    ]
    valid = [t for t in times if t is not None and t.year > 1]
    return max(valid) if valid else None
