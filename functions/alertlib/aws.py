"""The one way the library holds a boto3 client: made on first use, so boto3 is paid for on the first call that
needs it and not at import, or the one a test injects."""

from __future__ import annotations

from typing import Any


class AwsClient:
    service: str = ""  # the boto3 service name, set by each subclass

    def __init__(self, client: Any = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client(self.service)
        return self._client
