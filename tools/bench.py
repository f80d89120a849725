"""`make bench`: the Slack forwarder as shipped: its synthesized asset, in production configuration.

What runs is what `cdk synth` deploys:
- the task root is the asset `infra/bundling.py` builds (`LocalPipBundler`: `pip install --no-compile` of
  `functions/requirements.txt` plus a copy of `functions/` without `__pycache__` or `*.pyc`, then their bytecode
  compiled (unchecked-hash) when the bundling Python is the runtime's version), built once by that same bundler into
  `.bench/` for this machine's Python and architecture (Lambda's are in the template; no Docker) and reused while
  `functions/` is unchanged; its bytecode is checked to be exactly what the bundler wrote before and after every run;
- every process runs with `PYTHONDONTWRITEBYTECODE=1`, the asset first on the path, as on Lambda's read-only task
  root: a module without bundled bytecode is compiled at every cold start;
- what the Lambda Python runtime provides is emulated, and nothing else: no site-packages (`python -S`); after the
  task root, a separate "runtime" folder holds boto3, botocore and their dependencies (s3transfer, jmespath,
  dateutil, six, urllib3) with their bytecode, as AWS ships them (copied from this venv's pinned versions: the
  runtime's own are AWS's choice); a dependency missing from the asset fails the bench as it would fail on Lambda;
- the environment is the template's (routes, secrets, `IDEMPOTENCY_TABLE`, `LEDGER_TABLE`, ...), resolved by the
  template-driven world (`tools.world`: the dev environment's resources created in moto's server, reached over
  HTTP with the function's own role credentials), with the Slack secrets pointing at a loopback Slack stand-in;
- dev's critical topic routes to a webhook and to a Slack app route (`forwarders.slack_apps`): the app route's secret
  holds the bot token of a Slack Web API stand-in (`tools.slack_api_standin`, `SLACK_API_URL`) and a channel there,
  so each alert also claims its thread (the thread table), posts the parent, attaches it, and draws and uploads its
  graph (GetMetricWidgetImage, which moto lacks, answered at once with a stand-in PNG: CloudWatch is slower).

It measures (each cold start a fresh process, the runs alternating between the configurations):
- cold start as shipped: import of the handler plus the first SNS alarm end to end; the interpreter's own boot is
  shown apart (Lambda pays it before our code runs, whatever the code); the first event broken down into the
  secret fetch, the idempotency write and update, the ledger, the POST, boto3 sessions and clients, imports
  made on first use and the rest, each credited with its own time only;
- the same asset without its bytecode: what ships when the bundling Python is not the runtime's (a warning at
  synth), for comparison;
- warm, per alert, with its DynamoDB calls (count and time) and the app route's share (Web API, thread table,
  graph), over at least 500 single-alert events in one process;
- the webhook path alone (the environment less its app routes: `webhook_only`), cold and warm: the path as it
  shipped before dev's critical topic had an app route;
- the bare keep-alive `requests` POST of the same body to the same stand-in: the floor;
- peak RSS of the warm process.
For comparison with earlier runs, the former configuration (bytecode compiled beforehand, no idempotency or ledger
table, the webhook only) is measured on the same asset: the JSON keys `cold_start_ms` and `warm_alert_us` are that
configuration's. The goals are checked against what ships (both routes).

Prints a table, then one JSON line. The keys of earlier runs keep their meaning, the webhook path: `cold_start_ms`,
`warm_alert_us` (former configuration), `bare_post_us`, and `peak_rss_mib`, `cold_start_shipped_ms`,
`warm_alert_prod_us` (the shipped tables, webhook only). As shipped with the app route: `cold_start_with_app_ms`,
`warm_alert_with_app_us` (of which `warm_app_route_us`: claim, post, attach, graph, upload) and
`peak_rss_with_app_mib`.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / ".bench"
ENV = "dev"
FORWARDER = "slack_forwarder.handler"
COLD_RUNS = 7
WARM_ALERTS = 600
GOALS = {"cold_start_shipped_ms": 280.0, "peak_rss_mib": 64.0}
_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
# What the Lambda Python runtime puts on the path after the task root (compiled): the SDK and its dependencies.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
_RUNTIME_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath", "python_dateutil", "six", "urllib3")

# The child's measuring kit: timed AWS calls (by service, operation and table) and timed HTTP POSTs through requests.
_KIT = r"""
import json, os, sys, time
t0 = time.perf_counter()
c0 = time.process_time()
import slack_forwarder
t1 = time.perf_counter()
modules = len(sys.modules)
# What the kit imports here, the handler would import on its first event (boto3 for its clients): counted as such.
import botocore.client, botocore.session, boto3.session, requests.adapters
_kit_imports = time.perf_counter() - t1

# Timed regions, each credited with its own time only (a nested region's time goes to that region): the parts of
# the first event add up without counting twice.
calls = [("import", _kit_imports)]  # (what, seconds)
_nested = [0.0]
def _timed(what, call, *args, **kwargs):
    _nested.append(0.0)
    start = time.perf_counter()
    try:
        return call(*args, **kwargs)
    finally:
        elapsed = time.perf_counter() - start
        inner = _nested.pop()
        _nested[-1] += elapsed
        calls.append((what(), elapsed - inner))
_api = botocore.client.BaseClient._make_api_call
def _timed_api(self, operation, params):
    def what():
        table = params.get("TableName", "") if isinstance(params, dict) else ""
        service = self.meta.service_model.service_name
        tables = {os.environ.get("IDEMPOTENCY_TABLE"): "idempotency", os.environ.get("LEDGER_TABLE"): "ledger",
                  os.environ.get("PACER_TABLE"): "pacer", os.environ.get("THREAD_TABLE"): "threads"}
        return (tables.get(table, service) if table else service) + ":" + operation
    return _timed(what, _api, self, operation, params)
botocore.client.BaseClient._make_api_call = _timed_api
_client = botocore.session.Session.create_client
client_calls = []
def _timed_client(self, *args, **kwargs):
    client_calls.append(args[:1])
    return _timed(lambda: "client", _client, self, *args, **kwargs)
botocore.session.Session.create_client = _timed_client
for _name in ("__init__", "client", "resource"):  # sessions: service lists and models loaded from botocore's data
    def _wrap(method):
        return lambda self, *args, **kwargs: _timed(lambda: "client", method, self, *args, **kwargs)
    setattr(boto3.session.Session, _name, _wrap(getattr(boto3.session.Session, _name)))
_send = requests.adapters.HTTPAdapter.send
last_post = {}  # the last POST to the webhook
api_calls = []  # the Slack Web API's methods called (a Slack app route), in order
_api_url = os.environ.get("SLACK_API_URL") or "\0"
_api_host = "/".join(_api_url.split("/")[:3]) + "/"  # the Web API stand-in: its methods and its upload URLs
def _timed_send(self, request, **kwargs):
    if request.url.startswith(_api_host):  # a Slack app route: chat.postMessage, the graph's upload, ...
        api_calls.append(request.url[len(_api_url):] if request.url.startswith(_api_url) else "upload")
        return _timed(lambda: "slackapi", _send, self, request, **kwargs)
    last_post.update(url=request.url, body=request.body)
    return _timed(lambda: "post", _send, self, request, **kwargs)
requests.adapters.HTTPAdapter.send = _timed_send
import _frozen_importlib
_load = _frozen_importlib._find_and_load
def _timed_load(name, import_):  # imports made on first use
    return _timed(lambda: "import", _load, name, import_)
_frozen_importlib._find_and_load = _timed_load

def make_event(i):
    # Each run's alarms its own: a Slack app route makes a new thread for each (a known alarm would be a reply)
    name = f"bench-{os.environ['BENCH_RUN']}-rds-db{i}-CPUUtilization"
    message = {
        "AlarmName": name, "AlarmDescription": "CPU high.\nrunbook: https://rb.example.com/rds",
        "AWSAccountId": "123456789012", "NewStateValue": "ALARM",
        "NewStateReason": "Threshold Crossed: 5 datapoints [97.5 (22/11/26 02:55:00)] were greater than the threshold.",
        "StateChangeTime": "2026-11-22T02:55:00.000+0000", "Region": "US East (N. Virginia)",
        "AlarmArn": f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}",
        "OldStateValue": "OK",
        "Trigger": {"MetricName": "CPUUtilization", "Namespace": "AWS/RDS", "StatisticType": "Statistic",
                    "Statistic": "AVERAGE", "Unit": None,
                    "Dimensions": [{"value": f"db{i}", "name": "DBInstanceIdentifier"}],
                    "Period": 60, "EvaluationPeriods": 5, "DatapointsToAlarm": 5,
                    "ComparisonOperator": "GreaterThanThreshold", "Threshold": 90.0, "TreatMissingData": "missing"}}
    sns = {"Type": "Notification", "MessageId": f"m-{os.environ['BENCH_RUN']}-{i}",
           "TopicArn": os.environ["BENCH_TOPIC_ARN"],
           "Subject": "ALARM", "Message": json.dumps(message), "Timestamp": "2026-11-22T03:00:00.000Z",
           "MessageAttributes": {}}
    if not os.environ.get("PACER_TABLE"):  # the former configuration: SNS invoked the function
        return {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": "x", "Sns": sns}]}
    # as shipped: the event source mapping hands the SNS notification (raw delivery off) in an SQS record
    return {"Records": [{"messageId": f"sqs-{os.environ['BENCH_RUN']}-{i}", "receiptHandle": "bench",
        "body": json.dumps(sns), "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:eu-west-1:111111111111:bench",
        "awsRegion": "eu-west-1"}]}
class Context:
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]; function_version = "$LATEST"; memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"; aws_request_id = "r"
    def get_remaining_time_in_millis(self): return 30000
def invoke(i):
    last_post.clear()
    del api_calls[:]
    result = slack_forwarder.handler(make_event(i), Context())
    assert result.get("delivered") == 1 or result == {"batchItemFailures": []}, result
    assert last_post, "no POST: the alert was buffered (the channel's slot was busy), not sent"
    if os.environ.get("SLACK_APPS"):
        assert "chat.postMessage" in api_calls, f"no thread parent posted to the Slack app route: {api_calls}"
def free_slot():  # a quiet minute: each channel's slot is free (the bench's alerts come faster than one a second)
    if os.environ.get("PACER_TABLE"):
        for channel in os.environ["BENCH_CHANNELS"].split(","):
            _pacer().delete_item(TableName=os.environ["PACER_TABLE"],
                                 Key={"channel": {"S": channel}, "item": {"S": "slot"}})
_pacer_client = []
def _pacer():
    if not _pacer_client:
        _pacer_client.append(boto3.client("dynamodb"))
    return _pacer_client[0]
def peak_rss_mib():
    # VmHWM: this process's own high-water mark (ru_maxrss would carry the parent's across exec).
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024
"""

_COLD = (
    _KIT
    + r"""
invoke(0)
t2 = time.perf_counter()
c2 = time.process_time()
parts = {}
for what, seconds in calls:
    parts[what] = parts.get(what, 0.0) + seconds * 1e3
sys.stderr.write(json.dumps({"import_ms": (t1 - t0) * 1e3, "first_ms": (t2 - t1) * 1e3, "parts": parts,
    "cpu_ms": (c2 - c0) * 1e3,
    "first_modules": len(sys.modules) - modules, "clients": len(client_calls),
    "peak_rss_mib": peak_rss_mib()}) + "\n")
"""
)

_WARM = (
    _KIT
    + r"""
import statistics
n = int(sys.argv[1])
for i in range(20):
    free_slot()
    invoke(i)
session = requests.Session()
session.trust_env = False  # as the forwarder: proxies read once, not per request
warm, bare, dynamo_us, dynamo_calls, app_us = [], [], [], [], []
for i in range(20, n + 20):  # interleaved, so that both see the same machine
    free_slot()  # not timed
    del calls[:]
    t = time.perf_counter()
    invoke(i)
    warm.append(time.perf_counter() - t)
    dynamo = [s for what, s in calls if what.startswith(("idempotency:", "ledger:", "pacer:", "dynamodb:"))]
    dynamo_calls.append(len(dynamo))
    dynamo_us.append(sum(dynamo) * 1e6)
    # The Slack app route's own calls: the Web API, the thread table, the graph (GetMetricWidgetImage)
    app_us.append(sum(s for what, s in calls if what == "slackapi" or what.startswith(("threads:", "cloudwatch:")))
                  * 1e6)
    t = time.perf_counter()
    response = _send(session.get_adapter(last_post["url"]), session.prepare_request(requests.Request(
        "POST", last_post["url"], data=last_post["body"], headers={"Content-Type": "application/json"})),
        timeout=(3, 10))
    bare.append(time.perf_counter() - t)
    assert response.status_code == 200, response.status_code
sys.stderr.write(json.dumps({"warm_us": statistics.median(warm) * 1e6, "warm_p90_us": sorted(warm)[int(n * 0.9)] * 1e6,
    "dynamo_us": statistics.median(dynamo_us), "dynamo_calls": statistics.median(dynamo_calls),
    "app_us": statistics.median(app_us),
    "bare_us": statistics.median(bare) * 1e6, "peak_rss_mib": peak_rss_mib()}) + "\n")
"""
)


def _asset() -> Path:
    """The forwarders' asset as `infra/bundling.py` builds it, for this machine's Python and architecture: built
    once into `.bench/` by the same bundler, reused while its sources are unchanged."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from infra.bundling import FUNCTIONS, LocalPipBundler, source_hash

    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    architecture = SimpleNamespace(name="arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64")
    bundler = LocalPipBundler(FUNCTIONS, version, architecture)  # type: ignore[arg-type]
    asset = BENCH / f"asset-{source_hash(FUNCTIONS, bundler.platform, version)[:16]}"
    if not asset.is_dir():
        BENCH.mkdir(exist_ok=True)
        for old in BENCH.glob("asset-*"):
            shutil.rmtree(old)
        building = Path(tempfile.mkdtemp(prefix="building-", dir=BENCH))
        bundler.try_bundle(str(building), image=None)  # type: ignore[arg-type] # bundled here, no image
        building.rename(asset)
    return asset


def _runtime() -> Path:
    """What the Lambda Python runtime provides beside the task root: boto3, botocore and their dependencies, with
    bytecode, in a folder of their own (copied from this venv, whose versions are pinned; AWS chooses the runtime's)."""
    from importlib.metadata import version

    site = Path(sysconfig.get_paths()["purelib"])
    versions = "-".join(f"{name}{version(name)}" for name in ("boto3", "botocore"))
    runtime = BENCH / f"runtime-py{sys.version_info.major}.{sys.version_info.minor}-{versions}"
    if not runtime.is_dir():
        BENCH.mkdir(exist_ok=True)
        for old in BENCH.glob("runtime-*"):
            shutil.rmtree(old)
        building = Path(tempfile.mkdtemp(prefix="building-", dir=BENCH))
        for name in RUNTIME_PROVIDED:
            if (site / name).is_dir():
                shutil.copytree(site / name, building / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(site / f"{name}.py", building)
        for name in _RUNTIME_DISTRIBUTIONS:
            for info in site.glob(f"{name}-*.dist-info"):
                shutil.copytree(info, building / info.name)
        compileall.compile_dir(building, quiet=2, workers=0)
        building.rename(runtime)
    return runtime


def _without_bytecode(asset: Path) -> Path:
    """A copy of the asset without its bytecode: what ships when the bundling Python is not the runtime's."""
    bare = asset.with_name(asset.name + "-nobytecode")
    if not bare.is_dir():
        building = Path(tempfile.mkdtemp(prefix="building-", dir=BENCH))
        shutil.copytree(asset, building, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        building.rename(bare)
    return bare


def _bytecode(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.name == "__pycache__" or p.suffix == ".pyc"}


def _modules(root: Path) -> int:
    return sum(1 for _ in root.rglob("*.py"))


def _path(root: Path) -> str:
    """The task root first, then the runtime's packages: Lambda's order."""
    return f"{root}{os.pathsep}{_runtime()}"


def _child(code: str, env: dict[str, str], root: Path, *args: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "bench_child.py"
        script.write_text(code, encoding="utf-8")
        result = subprocess.run(
            [sys.executable, "-S", str(script), *args],  # -S: no site-packages, only the task root and the runtime
            cwd=root,  # Lambda's working directory is its task root
            env={**env, "LAMBDA_TASK_ROOT": str(root), "PYTHONPATH": _path(root)},
            stdout=subprocess.DEVNULL,  # the forwarder's JSON logs and metrics, as Lambda would ship them
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
            check=False,
        )
    if result.returncode != 0:
        raise SystemExit(f"bench: child failed:\n{result.stderr[-2000:]}")
    measured: dict[str, Any] = json.loads(result.stderr.strip().splitlines()[-1])
    return measured


def _boot_ms(env: dict[str, str], root: Path) -> float:
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-S", "-c", "pass"], env={**env, "PYTHONPATH": _path(root)}, cwd=root, check=True
        )
        runs.append((time.perf_counter() - start) * 1e3)
    return statistics.median(runs)


def _free_slot(environment: dict[str, str], aws: dict[str, str]) -> None:
    """Before each cold start: each channel's slot free, as in a quiet minute (not timed; made by the bench)."""
    import boto3

    dynamodb = boto3.client(
        "dynamodb", endpoint_url=aws["AWS_ENDPOINT_URL"], region_name=environment["AWS_REGION"],
        aws_access_key_id=aws["AWS_ACCESS_KEY_ID"], aws_secret_access_key=aws["AWS_SECRET_ACCESS_KEY"],
    )  # fmt: skip
    for channel in environment["BENCH_CHANNELS"].split(","):
        dynamodb.delete_item(
            TableName=environment["PACER_TABLE"], Key={"channel": {"S": channel}, "item": {"S": "slot"}}
        )


def webhook_only(environment: dict[str, str]) -> dict[str, str]:
    """The forwarder's environment without its Slack app routes: each route's secrets less the app routes' (the
    webhooks only), no `SLACK_APPS`, `THREAD_TABLE` or `SLACK_API_URL`: the webhook path, as dev shipped before its
    critical topic had an app route (d713f71)."""
    apps = set(json.loads(environment.get("SLACK_APPS") or "{}"))
    routes = json.loads(environment["ROUTES"])
    for route in routes.values():
        route["secrets"] = [s for s in route["secrets"] if s not in apps]
    dropped = ("SLACK_APPS", "THREAD_TABLE", "SLACK_API_URL")
    channels = ",".join(c for c in environment["BENCH_CHANNELS"].split(",") if c.partition("#")[2] not in apps)
    return {
        **{k: v for k, v in environment.items() if k not in dropped},
        "ROUTES": json.dumps(routes),
        "BENCH_CHANNELS": channels,
    }


def _environment(slack_url: str, api_url: str, aws: dict[str, str]) -> tuple[dict[str, str], str]:
    """The Slack forwarder's environment as Lambda gives it, from the world built from the dev templates; the
    webhooks at `slack_url`, the Slack app routes' Web API at `api_url` (`SLACK_API_URL`)."""
    import boto3

    from infra.config import load_config
    from tools.serve import slack_app_channels
    from tools.slack_api_standin import TOKEN
    from tools.world import build_world, synthesize

    config = load_config(ENV)
    os.environ["MOTO_ACCOUNT_ID"] = (
        config.account
    )  # moto's server (in this process) answers in the environment's account
    secrets: dict[str, str] = {}
    for routing in config.topics.values():
        if routing.pagerduty:
            secrets[routing.pagerduty] = json.dumps({"routing_key": "b" * 32, "events_url": "http://127.0.0.1:9/"})
        for name in routing.slack:
            secrets[name] = json.dumps({"webhook_url": slack_url})
    for name, channel in slack_app_channels(config).items():  # an app route: the stand-in's bot token, a channel
        secrets[name] = json.dumps({"bot_token": TOKEN, "channel": channel})
    session = boto3.Session(
        region_name=config.region,
        aws_access_key_id=aws["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=aws["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=aws["AWS_SESSION_TOKEN"],
    )

    def clients(service: str) -> Any:
        return session.client(service, endpoint_url=aws["AWS_ENDPOINT_URL"])  # type: ignore[call-overload]

    world = build_world(
        config.name, synthesize(config.name), clients, account=config.account, region=config.region,
        partition=config.partition, secret_values=secrets,
    )  # fmt: skip
    spec = next(s for s in world.functions.values() if s.handler == FORWARDER)
    environment = {k: v for k, v in os.environ.items() if k in _KEEP}
    environment.update(spec.environment)
    environment.update(world.credentials(spec.name, clients))  # the function's own role, as Lambda hands it
    environment.update(
        {
            "AWS_ENDPOINT_URL": aws["AWS_ENDPOINT_URL"],
            "AWS_REGION": config.region,
            "AWS_DEFAULT_REGION": config.region,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONNOUSERSITE": "1",
            "PYTHONUNBUFFERED": "1",
            "BENCH_TOPIC_ARN": world.topics[config.topic_name("critical")],
            "BENCH_CHANNELS": ",".join(f"slack#{name}" for name in config.topics["critical"].slack),
        }
    )
    if environment.get("SLACK_APPS"):
        environment["SLACK_API_URL"] = api_url
        environment["BENCH_APP_CHANNELS"] = json.dumps(sorted(slack_app_channels(config).values()))
    runtime = next(
        r["Properties"].get("Runtime", "?")
        for t in world.templates.values()
        for r in t["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler") == FORWARDER
    )
    return environment, f"{spec.name}, {runtime} {spec.memory} MB"


def _row(rows: list[tuple[str, str, str]], name: str, value: str, goal: str = "") -> None:
    rows.append((name, value, goal))


def main(argv: list[str] | None = None) -> int:
    global COLD_RUNS, WARM_ALERTS
    parser = argparse.ArgumentParser(
        prog="python -m tools.bench",
        description="The Slack forwarder as shipped (its synthesized asset): cold start, warm cost per alert, "
        "peak memory. Prints a table, then one JSON line.",
    )
    parser.add_argument(
        "--cold-runs",
        type=int,
        default=COLD_RUNS,
        help=f"cold starts per configuration, each a fresh process (default {COLD_RUNS}; the median is reported)",
    )
    parser.add_argument(
        "--warm-alerts",
        type=int,
        default=WARM_ALERTS,
        help=f"single-alert events in the warm process (default {WARM_ALERTS})",
    )
    args = parser.parse_args(argv)
    if args.cold_runs < 1 or args.warm_alerts < 20:
        parser.error("--cold-runs must be at least 1 and --warm-alerts at least 20")
    COLD_RUNS, WARM_ALERTS = args.cold_runs, args.warm_alerts
    print(
        f"bench: building the asset, then {COLD_RUNS} cold starts per configuration and {WARM_ALERTS} warm "
        "alerts (a few minutes)",
        flush=True,
    )
    import tools  # noqa: F401 - infra/ and functions/ importable here (never in the children)
    from tools.localaws import moto_server
    from tools.oncall_local import stand_in_metric_widget_image
    from tools.slack_api_standin import SlackApiStandIn
    from tools.standins import StandIn

    asset = _asset()
    runtime = _runtime()
    bare = _without_bytecode(asset)
    bytecode = _bytecode(asset)
    compiled = sum(1 for p in bytecode if p.suffix == ".pyc")
    # Latency, not Slack's rate limits: the webhook stand-in and the Web API stand-in (the app routes') unlimited.
    stand_in_metric_widget_image()  # the app route's graph: moto (in this process) lacks GetMetricWidgetImage
    with StandIn("slack", limits=False) as slack, SlackApiStandIn(limits=False) as web_api, moto_server() as aws:
        shipped, described = _environment(slack.url, web_api.url, aws)
        web_api.channels = set(json.loads(shipped.get("BENCH_APP_CHANNELS") or "[]")) or web_api.channels
        webhook = webhook_only(shipped)  # the webhook path as before the app route: the figures' old meaning
        tables = ("IDEMPOTENCY_TABLE", "LEDGER_TABLE", "PACER_TABLE", "QUEUE_URL")
        former = {k: v for k, v in webhook.items() if k not in tables}
        boot = _boot_ms(shipped, asset)
        cold: list[dict[str, Any]] = []
        cold_webhook: list[dict[str, Any]] = []
        cold_bare: list[dict[str, Any]] = []
        cold_former: list[dict[str, Any]] = []

        def unchanged() -> None:
            if _bytecode(asset) != bytecode or _bytecode(bare):
                raise SystemExit("bench: bytecode was written into the task root, as it cannot be on Lambda")

        for run in range(COLD_RUNS):  # alternating, so that all see the same machine
            unchanged()
            _free_slot(shipped, aws)
            cold.append(_child(_COLD, {**shipped, "BENCH_RUN": f"cold{run}"}, asset))
            _free_slot(shipped, aws)
            cold_webhook.append(_child(_COLD, {**webhook, "BENCH_RUN": f"webhook{run}"}, asset))
            _free_slot(shipped, aws)
            cold_bare.append(_child(_COLD, {**shipped, "BENCH_RUN": f"bare{run}"}, bare))
            cold_former.append(_child(_COLD, {**former, "BENCH_RUN": f"former{run}"}, asset))
        warm = _child(_WARM, {**shipped, "BENCH_RUN": "warm"}, asset, str(WARM_ALERTS))
        warm_webhook = _child(_WARM, {**webhook, "BENCH_RUN": "warmwebhook"}, asset, str(WARM_ALERTS))
        warm_former = _child(_WARM, {**former, "BENCH_RUN": "warmformer"}, asset, str(WARM_ALERTS))
        threads = len(web_api.calls_of("chat.postMessage"))
        graphs = len(web_api.calls_of("files.completeUploadExternal"))
        unchanged()
    load = os.getloadavg()

    def median(runs: list[dict[str, Any]], key: str) -> float:
        return statistics.median(float(r[key]) for r in runs)

    def clients(run: dict[str, Any]) -> int:
        return int(run["clients"])

    def part(prefix: str) -> float:
        return statistics.median(float(sum(v for k, v in r["parts"].items() if k.startswith(prefix))) for r in cold)

    cold_ms = statistics.median(r["import_ms"] + r["first_ms"] for r in cold)
    webhook_ms = statistics.median(r["import_ms"] + r["first_ms"] for r in cold_webhook)
    former_ms = statistics.median(r["import_ms"] + r["first_ms"] for r in cold_former)
    bare_ms = statistics.median(r["import_ms"] + r["first_ms"] for r in cold_bare)
    first_ms = median(cold, "first_ms")
    operations = sorted({k for r in cold for k in r["parts"] if ":" in k})
    apps = bool(shipped.get("SLACK_APPS"))
    parts = {
        "secret fetch (Secrets Manager)": part("secretsmanager:"),
        "idempotency write and update": part("idempotency:"),
        "ledger": part("ledger:"),
        "POST to the Slack webhook": part("post"),
        **(
            {
                "app route: Slack Web API (chat.postMessage, the graph's upload)": part("slackapi"),
                "app route: thread table (claim, attach)": part("threads:"),
                "app route: graph (GetMetricWidgetImage, a stand-in's PNG)": part("cloudwatch:"),
            }
            if apps
            else {}
        ),
        f"imports on first use ({median(cold, 'first_modules'):.0f} modules)": part("import"),
        f"boto3 sessions and clients ({statistics.median(clients(r) for r in cold):.0f} clients)": part("client"),
    }
    shipped_is = "webhook + app route" if apps else "webhook"
    rows: list[tuple[str, str, str]] = []
    _row(rows, "interpreter boot (Lambda's, not ours)", f"{boot:.0f} ms")
    _row(rows, "import slack_forwarder", f"{median(cold, 'import_ms'):.0f} ms")
    _row(rows, f"first SNS event, end to end ({shipped_is})", f"{first_ms:.0f} ms")
    for name, milliseconds in parts.items():
        _row(rows, f"  {name}", f"{milliseconds:.1f} ms")
    _row(rows, "  the rest (rendering, logging, the handler's own code)", f"{first_ms - sum(parts.values()):.1f} ms")
    _row(
        rows,
        f"cold start as shipped ({shipped_is}): import + first event",
        f"{cold_ms:.0f} ms",
        f"<= {GOALS['cold_start_shipped_ms']:.0f} ms",
    )
    _row(rows, "  of which CPU time (less sensitive to load)", f"{median(cold, 'cpu_ms'):.0f} ms")
    _row(rows, "  webhook path only (no app route)", f"{webhook_ms:.0f} ms", "as before the app route")
    _row(rows, "  the same asset without bytecode", f"{bare_ms:.0f} ms", "bundled by another Python")
    _row(rows, "  former config (webhook only, no tables)", f"{former_ms:.0f} ms", "for comparison")
    _row(rows, f"warm, median per alert ({WARM_ALERTS}), as shipped ({shipped_is})", f"{warm['warm_us']:.0f} us")
    _row(
        rows,
        "  of which DynamoDB (idempotency, ledger, pacer)",
        f"{warm['dynamo_us']:.0f} us",
        f"{warm['dynamo_calls']:.0f} calls per alert",
    )
    if apps:
        _row(
            rows,
            "  of which the app route's own calls (Web API, thread table, graph)",
            f"{warm['app_us']:.0f} us",
            "claim, post, attach, graph, upload",
        )
        _row(
            rows,
            "  the app route in all (as shipped less webhook path only)",
            f"{warm['warm_us'] - warm_webhook['warm_us']:.0f} us",
            "with its own idempotency and pacer calls",
        )
    _row(rows, "warm, p90 per alert, as shipped", f"{warm['warm_p90_us']:.0f} us")
    _row(
        rows,
        "warm, median per alert, webhook path only",
        f"{warm_webhook['warm_us']:.0f} us",
        f"as before the app route; {warm_webhook['dynamo_calls']:.0f} DynamoDB calls",
    )
    _row(rows, "  former config (webhook only, no tables)", f"{warm_former['warm_us']:.0f} us", "for comparison")
    _row(rows, "bare keep-alive POST to the webhook, median", f"{warm['bare_us']:.0f} us", "the floor")
    _row(rows, "warm webhook path only / bare", f"{warm_webhook['warm_us'] / warm['bare_us']:.2f}x")
    _row(
        rows,
        "peak RSS of the warm run, as shipped",
        f"{warm['peak_rss_mib']:.1f} MiB",
        f"<= {GOALS['peak_rss_mib']:.0f} MiB",
    )
    _row(rows, "  webhook path only", f"{warm_webhook['peak_rss_mib']:.1f} MiB", "as before the app route")
    _row(rows, "peak RSS of a cold start, as shipped", f"{median(cold, 'peak_rss_mib'):.1f} MiB")
    width = max(len(r[0]) for r in rows)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    print(
        f"{described}; task root {asset.relative_to(ROOT)}, bundled for Python {version} with its bytecode "
        f"({compiled} .pyc for {_modules(asset)} modules, unchecked-hash); run by {platform.python_version()}"
    )
    print(
        f"runtime-provided packages ({', '.join(RUNTIME_PROVIDED)}): {runtime.relative_to(ROOT)}, after the task "
        f"root, with bytecode, as the Lambda runtime ships them; no site-packages (python -S)"
    )
    if not described.split(", ")[1].startswith(f"python{version} "):
        print(
            f"note: the template's runtime is not Python {version}: bundled on this machine, its asset ships "
            f"WITHOUT bytecode (bundling warns): its cold start is the row 'the same asset without bytecode'"
        )
    if apps:
        print(
            f"as shipped, dev's critical topic posts to its webhook and to a Slack app route: a thread parent per "
            f"alert on a Slack Web API stand-in ({threads} posted), then the alarm's graph uploaded into the thread "
            f"(3 Web API calls; {graphs} uploaded); GetMetricWidgetImage, which moto lacks, answers a stand-in PNG "
            f"at once, where CloudWatch draws it (slower)"
        )
    print(f"first event's AWS calls: {', '.join(operations)}")
    print(f"{'measure'.ljust(width)}  {'value':>12}  goal")
    for name, value, goal in rows:
        print(f"{name.ljust(width)}  {value:>12}  {goal}")
    verdict = [
        f"cold start as shipped ({shipped_is}) {cold_ms:.0f} ms (goal {GOALS['cold_start_shipped_ms']:.0f}): "
        + ("met" if cold_ms <= GOALS["cold_start_shipped_ms"] else "NOT met"),
        f"peak RSS as shipped {warm['peak_rss_mib']:.1f} MiB (goal {GOALS['peak_rss_mib']:.0f}): "
        + ("met" if warm["peak_rss_mib"] <= GOALS["peak_rss_mib"] else "NOT met"),
    ]
    print(
        f"goals: {'; '.join(verdict)}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores"
    )
    figures = {  # the keys of earlier runs keep their meaning: the webhook path (see the module's docstring)
        "cold_start_ms": round(former_ms, 1),
        "warm_alert_us": round(warm_former["warm_us"], 1),
        "bare_post_us": round(warm["bare_us"], 1),
        "peak_rss_mib": round(warm_webhook["peak_rss_mib"], 1),
        "cold_start_shipped_ms": round(webhook_ms, 1),
        "warm_alert_prod_us": round(warm_webhook["warm_us"], 1),
        # as shipped, with the Slack app route (equal to the above where the config has none)
        "cold_start_with_app_ms": round(cold_ms, 1),
        "warm_alert_with_app_us": round(warm["warm_us"], 1),
        "warm_app_route_us": round(warm["app_us"], 1),
        "peak_rss_with_app_mib": round(warm["peak_rss_mib"], 1),
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
