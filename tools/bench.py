"""`make bench`: cold start, warm latency per alert, the bare-POST floor and peak memory of a forwarder.

- cold start: a fresh interpreter imports a forwarder and handles its first SNS event end to end: the secret read
  through Powertools from Secrets Manager (moto's server on loopback) and the POST to a local stand-in. The
  interpreter's own boot is shown apart (Lambda pays it before our code runs, whatever the code).
- warm: the median time per alert over at least 500 single-alert SNS events in one warm container.
- bare POST: the median keep-alive `requests` POST of the same body to the same stand-in: the floor.
- peak RSS: of the process that ran the warm loop (not the stand-ins or moto, which run in this parent).

Prints a table, then one JSON line: {"cold_start_ms", "warm_alert_us", "bare_post_us", "peak_rss_mib"}.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tools  # noqa: F401 - puts functions/ on the path
from tools.localaws import moto_server
from tools.standins import StandIn

ROOT = Path(__file__).resolve().parent.parent
ROUTING_KEY = "b" * 32
COLD_RUNS = 7
WARM_ALERTS = 600
GOALS = {"cold_start_ms": 400.0, "warm_ratio": 1.5, "peak_rss_mib": 64.0}

_EVENT_CODE = r"""
import json
def make_event(i):
    message = {
        "AlarmName": f"bench-rds-db{i}-CPUUtilization", "AlarmDescription": "CPU high.\nrunbook: https://rb.example.com/rds",
        "AWSAccountId": "123456789012", "NewStateValue": "ALARM",
        "NewStateReason": "Threshold Crossed: 5 datapoints [97.5 (22/11/26 02:55:00)] were greater than the threshold.",
        "StateChangeTime": "2026-11-22T02:55:00.000+0000", "Region": "US East (N. Virginia)",
        "AlarmArn": f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:bench-rds-db{i}-CPUUtilization",
        "OldStateValue": "OK",
        "Trigger": {"MetricName": "CPUUtilization", "Namespace": "AWS/RDS", "StatisticType": "Statistic",
                    "Statistic": "AVERAGE", "Unit": None,
                    "Dimensions": [{"value": f"db{i}", "name": "DBInstanceIdentifier"}],
                    "Period": 60, "EvaluationPeriods": 5, "DatapointsToAlarm": 5,
                    "ComparisonOperator": "GreaterThanThreshold", "Threshold": 90.0, "TreatMissingData": "missing"}}
    return {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": "x",
        "Sns": {"Type": "Notification", "MessageId": f"m-{i}",
                "TopicArn": "arn:aws:sns:us-east-1:123456789012:bench-critical",
                "Subject": "ALARM", "Message": json.dumps(message), "Timestamp": "2026-11-22T03:00:00.000Z",
                "MessageAttributes": {}}}]}
class Context:
    function_name = "bench"; function_version = "$LATEST"; memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"; aws_request_id = "r"
    def get_remaining_time_in_millis(self): return 30000
"""

_COLD = (
    r"""
import time
t0 = time.perf_counter()
import sys
sys.path.insert(0, "functions")
import pagerduty_forwarder
t1 = time.perf_counter()
"""
    + _EVENT_CODE
    + r"""
result = pagerduty_forwarder.handler(make_event(0), Context())
t2 = time.perf_counter()
assert result["delivered"] == 1, result
sys.stderr.write(json.dumps({"import_ms": (t1 - t0) * 1e3, "first_ms": (t2 - t1) * 1e3}) + "\n")
"""
)

_WARM = (
    r"""
import statistics, sys, time
sys.path.insert(0, "functions")
import pagerduty_forwarder
"""
    + _EVENT_CODE
    + r"""
import requests
from datetime import datetime, timezone
from alertlib.deliver import Destination
from alertlib.forward import prepare, render_for
from alertlib.parse import split_event
from alertlib.settings import Settings


def peak_rss_mib():
    # VmHWM: this process's own high-water mark (ru_maxrss would carry the parent's across exec).
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024


n = int(sys.argv[1])
events = [make_event(i) for i in range(n + 20)]
for event in events[:20]:
    pagerduty_forwarder.handler(event, Context())
# The floor: the same body, POSTed with a plain keep-alive session to the same stand-in.
now = datetime.now(timezone.utc)
group = prepare(split_event(events[-1])[0], Settings(), now)
body = {**render_for(Destination.PAGERDUTY, group, Settings(), now)[0], "routing_key": "b" * 32}
payload = json.dumps(body).encode()
session = requests.Session()
session.trust_env = False  # as the forwarder: proxies read once, not per request
url = __import__("os").environ["PAGERDUTY_EVENTS_URL"]
warm, bare = [], []
for event in events[20:]:  # interleaved, so that both see the same machine
    t = time.perf_counter()
    pagerduty_forwarder.handler(event, Context())
    warm.append(time.perf_counter() - t)
    t = time.perf_counter()
    response = session.post(url, data=payload, headers={"Content-Type": "application/json"}, timeout=(3, 10))
    bare.append(time.perf_counter() - t)
    assert response.status_code == 202
sys.stderr.write(json.dumps({"warm_us": statistics.median(warm) * 1e6, "warm_p90_us": sorted(warm)[int(n * 0.9)] * 1e6,
    "bare_us": statistics.median(bare) * 1e6, "peak_rss_mib": peak_rss_mib()}) + "\n")
"""
)


def _child(code: str, env: dict[str, str], *args: str) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
        handle.write(code)
        script = handle.name
    try:
        result = subprocess.run(
            [sys.executable, script, *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,  # the forwarder's JSON logs and metrics, as Lambda would ship them
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        os.unlink(script)
    if result.returncode != 0:
        raise SystemExit(f"bench: child failed:\n{result.stderr[-2000:]}")
    line = result.stderr.strip().splitlines()[-1]
    measured: dict[str, float] = json.loads(line)
    return measured


def _boot_ms(env: dict[str, str]) -> float:
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
        runs.append((time.perf_counter() - start) * 1e3)
    return statistics.median(runs)


def main() -> int:
    with StandIn("pagerduty") as pagerduty, moto_server({"bench/pagerduty": ROUTING_KEY}) as aws:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))},
            **aws,
            "ROUTES": json.dumps({"default": {"severity": "critical", "secret": "bench/pagerduty"}}),
            "PAGERDUTY_EVENTS_URL": pagerduty.url,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_SERVICE_NAME": "bench",
            "POWERTOOLS_METRICS_NAMESPACE": "AlertForwardingBench",
            "PYTHONDONTWRITEBYTECODE": "",
        }
        boot = _boot_ms(env)
        cold = [_child(_COLD, env) for _ in range(COLD_RUNS)]
        warm = _child(_WARM, env, str(WARM_ALERTS))

    import_ms = statistics.median(c["import_ms"] for c in cold)
    first_ms = statistics.median(c["first_ms"] for c in cold)
    cold_ms = statistics.median(c["import_ms"] + c["first_ms"] for c in cold)
    ratio = warm["warm_us"] / warm["bare_us"]
    rows = [
        ("interpreter boot (Lambda's, not ours)", f"{boot:.0f} ms", ""),
        ("import pagerduty_forwarder", f"{import_ms:.0f} ms", ""),
        ("first SNS event (secret + POST)", f"{first_ms:.0f} ms", ""),
        ("cold start: import + first event", f"{cold_ms:.0f} ms", f"<= {GOALS['cold_start_ms']:.0f} ms"),
        (f"warm, median per alert ({WARM_ALERTS})", f"{warm['warm_us']:.0f} us", f"<= {GOALS['warm_ratio']}x bare"),
        ("warm, p90 per alert", f"{warm['warm_p90_us']:.0f} us", ""),
        ("bare keep-alive POST, median", f"{warm['bare_us']:.0f} us", "the floor"),
        ("warm / bare", f"{ratio:.2f}x", f"<= {GOALS['warm_ratio']}x"),
        ("peak RSS of the warm run", f"{warm['peak_rss_mib']:.1f} MiB", f"<= {GOALS['peak_rss_mib']:.0f} MiB"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)}  {'value':>12}  goal")
    for name, value, goal in rows:
        print(f"{name.ljust(width)}  {value:>12}  {goal}")
    figures = {
        "cold_start_ms": round(cold_ms, 1),
        "warm_alert_us": round(warm["warm_us"], 1),
        "bare_post_us": round(warm["bare_us"], 1),
        "peak_rss_mib": round(warm["peak_rss_mib"], 1),
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
