"""The one price table the deploy summary (`infra/summary.py`) estimates an environment's monthly cost from.

Public list prices of us-east-1, in US dollars, before any free tier, as published on each service's pricing page
(`source`) when this table was written: `PRICES_AS_OF`. Other regions cost more or less (eu-west-1 about the same
for these services); prices change. The result is an ESTIMATE to know the order of magnitude of what a deploy adds
to the bill, not a quote: the AWS Pricing Calculator and Cost Explorer are the reference.

What scales with alerts is estimated at a stated volume (`ALERTS_PER_MONTH`, changeable with `--alerts-per-month`)
with per-alert request counts read off the code paths (`PER_ALERT`), each said where it is defined.
"""

from __future__ import annotations

from dataclasses import dataclass

PRICES_AS_OF = "2025-06-01"  # the date the figures below were read from the pricing pages (not re-checked since)
REGION = "us-east-1"

_CLOUDWATCH = "https://aws.amazon.com/cloudwatch/pricing/"
_KMS = "https://aws.amazon.com/kms/pricing/"
_SECRETS = "https://aws.amazon.com/secrets-manager/pricing/"
_DYNAMODB = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
_SQS = "https://aws.amazon.com/sqs/pricing/"
_SNS = "https://aws.amazon.com/sns/pricing/"
_LAMBDA = "https://aws.amazon.com/lambda/pricing/"


@dataclass(frozen=True)
class Price:
    usd: float
    per: float  # how many units the price is for (1, 10,000, 1,000,000 …)
    unit: str
    source: str

    def cost(self, quantity: float) -> float:
        return self.usd * quantity / self.per


PRICES: dict[str, Price] = {
    # CloudWatch alarms are billed per alarm *metric* (a metric-math alarm pays for each metric it reads);
    # high resolution means a period under 60 s.
    "alarm_standard": Price(0.10, 1, "alarm metric-month, standard resolution", _CLOUDWATCH),
    "alarm_high_resolution": Price(0.30, 1, "alarm metric-month, high resolution", _CLOUDWATCH),
    "alarm_composite": Price(0.50, 1, "composite alarm-month", _CLOUDWATCH),
    "custom_metric": Price(0.30, 1, "custom metric-month (first 10,000; pro rata by the hour it is published)",
                           _CLOUDWATCH),
    "dashboard": Price(3.00, 1, "dashboard-month (the account's first 3 are free)", _CLOUDWATCH),
    "logs_ingestion": Price(0.50, 1, "GB of log data ingested", _CLOUDWATCH),
    "kms_key": Price(1.00, 1, "customer managed key-month", _KMS),
    "kms_request": Price(0.03, 10_000, "requests", _KMS),
    "secret": Price(0.40, 1, "secret-month", _SECRETS),
    "secret_api_call": Price(0.05, 10_000, "API calls", _SECRETS),
    "dynamodb_write": Price(0.625, 1_000_000, "write request units, on demand", _DYNAMODB),
    "dynamodb_read": Price(0.125, 1_000_000, "read request units, on demand", _DYNAMODB),
    "sqs_request": Price(0.40, 1_000_000, "requests, standard queue", _SQS),
    "sns_publish": Price(0.50, 1_000_000, "publishes (SQS and Lambda deliveries free)", _SNS),
    "sns_email": Price(2.00, 100_000, "e-mail notifications", _SNS),
    "lambda_request": Price(0.20, 1_000_000, "requests", _LAMBDA),
    "lambda_gb_second_arm64": Price(0.0000133334, 1, "GB-second, arm64", _LAMBDA),
    "metric_widget_image": Price(0.02, 1_000, "metrics requested by GetMetricWidgetImage", _CLOUDWATCH),
}  # fmt: skip

ALERTS_PER_MONTH = 10_000  # alarm state changes and Alertmanager groups published to the topics in a month


@dataclass(frozen=True)
class PerAlert:
    """Requests one alert costs, per destination it reaches unless said otherwise (read off the code paths)."""

    dynamodb_writes: float = 6  # idempotency record written twice, ledger once, pacer slot and count ~3 (pacing.py)
    dynamodb_reads: float = 3  # idempotency and pacer reads
    sqs_requests: float = 3  # SNS's send, the event source mapping's receive, the delete (batches make it fewer)
    kms_requests: float = 2  # SNS and SQS data keys (both cache them for minutes, so usually fewer)
    secret_api_calls: float = 1  # the forwarder reads its secret (cached 5 s by Powertools)
    lambda_seconds: float = 0.3  # a warm forwarder invocation with its HTTP call (make bench)
    log_bytes: float = 3_000  # a few structured lines per alert


PER_ALERT = PerAlert()


@dataclass(frozen=True)
class PerThread:
    """What one alert costs more where it reaches a Slack app route (one thread per alert; alertlib.threads and
    alertlib.graph), per route. On-call clicks (the endpoints, the queue, the worker) are a few a day: not priced."""

    dynamodb_writes: float = 3  # the claim, the parent's ts, the resolve's record (conditional puts)
    dynamodb_reads: float = 2  # the claim's and the resolve's reads of the thread
    graph_metrics: float = 1  # the graph of a CloudWatch metric alarm: one metric (metric math: each input)


PER_THREAD = PerThread()
# Lambda's event source mapping long-polls each SQS queue even when no alert comes: about 5 pollers, each a 20 s
# ReceiveMessage, i.e. 5 x 3 a minute.
IDLE_SQS_REQUESTS_PER_QUEUE_MONTH = 5 * 3 * 60 * 24 * 30
# Custom metrics the functions publish (Powertools EMF, namespace AlertForwarding), at most: a forwarder 6 outcome
# metrics x 3 sources (CloudWatch, EventBridge, Alertmanager); any other function about 4. Billed only for the
# hours they are published, so a quiet month costs less.
CUSTOM_METRICS_PER_FORWARDER = 18
CUSTOM_METRICS_PER_OTHER_FUNCTION = 4
