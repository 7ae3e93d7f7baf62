"""The small set of errors the vision core raises; each message tells a person what to do next."""

from __future__ import annotations


class Snap2ProdError(Exception):
    """Base of every error snap2prod shows to a person; ``str(err)`` is the whole message."""


class OllamaUnreachable(Snap2ProdError):
    """Nothing answers at the Ollama address (down, wrong OLLAMA_HOST, or blocked)."""

    def __init__(self, host: str, detail: str = "") -> None:
        why = f" ({detail})" if detail else ""
        super().__init__(
            f"Ollama does not answer at {host}{why}. Start it (`make demo` or `snap2prod up` does), "
            "or point OLLAMA_HOST at a running server."
        )
        self.host = host


class ModelNotFound(Snap2ProdError):
    """The server has no model of that name."""

    def __init__(self, model: str) -> None:
        super().__init__(f"Model {model!r} is not installed on this Ollama. Pull it: `snap2prod models pull {model}`.")
        self.model = model


class ModelCannotSeeImages(Snap2ProdError):
    """An image was sent to a model without the vision capability."""

    def __init__(self, model: str) -> None:
        super().__init__(
            f"Model {model!r} cannot see images. Pick a vision model such as moondream, llava or llava-phi3 "
            "(`snap2prod models pull moondream`)."
        )
        self.model = model


class OllamaTimeout(Snap2ProdError):
    """The server accepted the request but did not answer in time (often a model still loading)."""

    def __init__(self, host: str, seconds: float, phase: str) -> None:
        super().__init__(
            f"Ollama at {host} gave no {phase} within {seconds:g} s. A large model may still be loading; "
            "try again, or pick a smaller model."
        )


class OllamaBusy(Snap2ProdError):
    """The server's queue is full (HTTP 503)."""

    def __init__(self, host: str) -> None:
        super().__init__(
            f"Ollama at {host} is busy (its request queue is full). Wait a moment and try again, "
            "or raise OLLAMA_NUM_PARALLEL / OLLAMA_MAX_QUEUE on the server."
        )


class StreamBroken(Snap2ProdError):
    """The answer stopped mid-way: the connection dropped or the server sent something unreadable."""

    def __init__(self, host: str, detail: str) -> None:
        super().__init__(f"The answer from Ollama at {host} broke off mid-way ({detail}). Try again.")


RUNNER_KILLED = "process has terminated: signal: killed"
"""Ollama's words when the kernel killed its model runner: almost always for memory."""


class OllamaError(Snap2ProdError):
    """Any other error the server reported, passed through with its own words (and what to do, when known)."""

    def __init__(self, host: str, status: int, message: str) -> None:
        hint = (
            ". Its model runner was killed, most likely for lack of memory: give Ollama more (its container's "
            "memory limit, or the machine's), or choose a smaller model."
            if RUNNER_KILLED in message
            else ""
        )
        super().__init__(f"Ollama at {host} answered HTTP {status}: {message}{hint}")
        self.status = status


class ImageRejected(Snap2ProdError):
    """A picture that cannot be sent: not an image, damaged, or over the size limits.

    ``reason`` is a short stable code (``empty``, ``not_image``, ``unsupported``, ``too_large``,
    ``too_many_pixels``, ``truncated``, ``damaged``) so callers can react without parsing the message.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class CameraUnavailable(Snap2ProdError):
    """A camera or video source cannot be opened, or stopped delivering frames and did not come back."""

    def __init__(self, source: str, detail: str) -> None:
        super().__init__(f"No pictures from {source}: {detail}")
        self.source = source


class CatalogError(Snap2ProdError):
    """The model catalog (models/catalog.yaml) or a Modelfile it names is missing or invalid."""


class LockError(Snap2ProdError):
    """The digest lock (models/models.lock) is missing, invalid, or does not name the model asked for."""


class DigestMismatch(Snap2ProdError):
    """A model's digest on the server differs from the one the lock pinned."""

    def __init__(self, model: str, locked: str, found: str) -> None:
        super().__init__(
            f"Model {model!r} has digest {found} but the lock pins {locked}: the source serves other bytes than "
            "were locked. Pull from the source the lock was made from, or re-pin on purpose with "
            f"`snap2prod models lock --model {model}`."
        )
        self.model = model
        self.locked = locked
        self.found = found


class RegistryError(Snap2ProdError):
    """A push to or a pull from a model registry failed; the message says why and what to change."""


class PromptTooLong(Snap2ProdError):
    """A prompt or question over the length limit: the page keeps it, so the person can shorten it."""

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"The prompt is {length:,} characters long; the limit is {limit:,}. Shorten it and try again.")
        self.length = length


class OverFairUse(Snap2ProdError):
    """A person over a fair-use limit (answers running at once, or started per minute): refused before anything
    starts, with the wait; ``reason`` is ``running`` or ``rate``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
