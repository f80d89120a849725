"""The one way the library holds a boto3 client: made on first use, so boto3 is paid for on the first call that
needs it and not at import, or the one a test injects; and the one boto3 session every client comes from."""

from __future__ import annotations

from typing import Any


def session() -> Any:
    """The container's one boto3 session: boto3's default one, the one `boto3.client` uses. The library's clients
    and Powertools' (secrets, idempotency) all come from it, so botocore lists its services and loads its endpoint,
    partition and retry data once per container rather than once per session (measured: three sessions cost
    ~165 ms more of a cold start than one)."""
    import boto3

    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    return boto3.DEFAULT_SESSION


class AwsClient:
    service: str = ""  # the boto3 service name, set by each subclass

    def __init__(self, client: Any = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = session().client(self.service)
        return self._client
