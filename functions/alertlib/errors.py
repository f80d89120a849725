"""The small error hierarchy the handlers decide on."""

from __future__ import annotations


class ForwardingError(Exception):
    """Base of every error this library raises on purpose."""


class MalformedInput(ForwardingError):  # noqa: N818 - reads as a verdict on the input
    """The input is not something we forward: permanent, never retried. The message is one line, safe to show."""


class NotAStateChange(MalformedInput):
    """A well-formed event that carries no alarm state change (configuration change, ignored state)."""


class ConfigurationError(ForwardingError):
    """The function's own settings are wrong: raised so the event is retried and kept, never dropped."""


class DeliveryError(ForwardingError):
    """A destination did not accept a message. The message never holds a URL, key or payload."""

    retryable: bool = False
    status: int | None = None  # the HTTP status, when there was an answer
    maybe_delivered: bool = False  # sent, but the answer was lost (a read time-out, a reset): it may have been taken


class TransientDeliveryError(DeliveryError):
    """429, 5xx, time-outs and connection errors that outlived the retries: worth another try later."""

    retryable = True


class PermanentDeliveryError(DeliveryError):
    """400, 403, 404, 410 or an unexpected answer: retrying the same request cannot help."""


class PacerError(ForwardingError):
    """The pacer table or the forwarder's own queue failed: the alert is delivered directly instead (a duplicate or
    an unpaced message beats silence). The message names the operation, never a payload."""
