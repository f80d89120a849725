"""AWS on loopback: moto's server, so that boto3 and Powertools reach it through `AWS_ENDPOINT_URL` unchanged."""

from __future__ import annotations

import os
import socket
import threading
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def moto_server(secrets: Mapping[str, str] = ()) -> Iterator[dict[str, str]]:  # type: ignore[assignment]
    """Start moto's server on 127.0.0.1, create `secrets`, and yield the environment that points boto3 at it."""
    import logging

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per AWS call otherwise
    _prompt_long_polls()
    # What moto's ThreadedMotoServer does, with its dispatcher wrapped (`_one_at_a_time`) and a stop within 50 ms
    # instead of the half second werkzeug polls by default.
    app = _one_at_a_time(DomainDispatcherApplication(create_backend_app))
    wsgi = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(
        target=wsgi.serve_forever, kwargs={"poll_interval": 0.05}, name="moto-server", daemon=True
    )
    thread.start()
    host, port = str(wsgi.server_address[0]), int(wsgi.server_address[1])
    environment = {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": f"http://{host}:{port}"}
    # moto keeps its state per process: a second server in the same process starts from a clean account.
    urllib.request.urlopen(
        urllib.request.Request(f"{environment['AWS_ENDPOINT_URL']}/moto-api/reset", method="POST"), timeout=10
    ).close()
    try:
        if secrets:
            import boto3

            client = boto3.client(
                "secretsmanager",
                endpoint_url=environment["AWS_ENDPOINT_URL"],
                region_name=environment["AWS_DEFAULT_REGION"],
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            for name, value in dict(secrets).items():
                client.create_secret(Name=name, SecretString=value)
        yield environment
    finally:
        wsgi.shutdown()
        wsgi.server_close()
        thread.join()


LONG_POLL_LOOKS_EVERY = 0.05  # seconds


def _prompt_long_polls() -> None:
    """SQS answers a long poll (ReceiveMessage with WaitTimeSeconds) as soon as a message is there to receive: sent,
    its delay over (a pacer's scheduled flush), or its visibility timeout over (a record left for a retry). moto's
    waiting receive wakes only when a message is *sent*; one whose delay or visibility ends meanwhile waits out the
    second moto sleeps (or the whole wait), so every scheduled flush and retry arrived up to a second later than in
    AWS, and each of the drill's alarms waited two such seconds. A waiting receive here looks again every 50 ms
    (moto's own loop, in process: no extra requests). Done once per process; moto's other behaviour is unchanged."""
    from moto.sqs.models import Queue

    if getattr(Queue.wait_for_messages, "prompt", False):
        return

    def wait_for_messages(self: Any, timeout: int) -> None:
        with self._messages_lock:
            self._messages_lock.wait_for(lambda: self.messages, timeout=min(timeout, LONG_POLL_LOOKS_EVERY))

    wait_for_messages.prompt = True  # type: ignore[attr-defined]
    Queue.wait_for_messages = wait_for_messages  # type: ignore[method-assign]


def _one_at_a_time(app: Any) -> Any:
    """moto's DynamoDB backend is not thread-safe: two transactions at once fail inside moto with "dictionary changed
    size during iteration" (seen under `make storm`). AWS serialises what must be serialised; here each DynamoDB
    request is handled whole, response included, before the next one starts. Other services are left concurrent
    (an SQS long poll holds its request for up to its wait time)."""
    lock = threading.Lock()

    def serialised(environ: dict[str, Any], start_response: Any) -> Any:
        if not str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
            return app(environ, start_response)
        with lock:
            result = app(environ, start_response)
            try:
                return list(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()

    return serialised


@contextmanager
def environ(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set environment variables (None: unset) for the duration, then put the old values back."""
    old = {name: os.environ.get(name) for name in values}
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    try:
        yield
    finally:
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
