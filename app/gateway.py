"""Typed access to one Ollama server, with errors a person can act on and client-side timings.

Everything that talks to Ollama (the page, the CLI, promotion checks) goes through ``OllamaGateway`` so that
timeouts, error wording and metrics are the same everywhere.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import ollama

from app.errors import (
    ModelCannotSeeImages,
    ModelNotFound,
    OllamaBusy,
    OllamaError,
    OllamaTimeout,
    OllamaUnreachable,
    Snap2ProdError,
    StreamBroken,
)
from app.settings import normalize_host

VISION = "vision"


@dataclass(frozen=True)
class ModelInfo:
    """One installed model as ``/api/tags`` lists it."""

    name: str
    digest: str
    size: int
    family: str = ""
    parameter_size: str = ""
    quantization: str = ""


@dataclass(frozen=True)
class ModelDetails:
    """What ``/api/show`` says about a model; ``capabilities`` comes from the raw JSON."""

    name: str
    capabilities: tuple[str, ...]
    family: str
    parameter_size: str
    quantization: str
    context_length: int | None
    model_info: Mapping[str, Any] = field(default_factory=dict)
    projector_info: Mapping[str, Any] = field(default_factory=dict)
    """The vision projector's GGUF metadata (``clip.*``), empty for a model without one."""
    parameters: Mapping[str, str] = field(default_factory=dict)
    """The model's own PARAMETER lines (``temperature``, ``num_ctx``…), as its Modelfile set them."""

    @property
    def can_see(self) -> bool:
        return VISION in self.capabilities


@dataclass(frozen=True)
class LoadedModel:
    """A model held in memory, from ``/api/ps``."""

    name: str
    digest: str
    size: int
    size_vram: int


@dataclass(frozen=True)
class Progress:
    """One progress event of a pull, push or create."""

    status: str
    digest: str = ""
    total: int = 0
    completed: int = 0

    @property
    def fraction(self) -> float:
        """How much of this layer is done (0 when the event carries no size)."""
        return self.completed / self.total if self.total else 0.0


@dataclass(frozen=True)
class ChatStats:
    """Timings of one streamed answer: TTFT is measured here, on the client; the counts come from Ollama."""

    model: str
    text: str
    ttft_s: float
    total_s: float
    prompt_eval_count: int
    eval_count: int
    eval_duration_s: float
    load_duration_s: float

    @property
    def tokens_per_s(self) -> float:
        return self.eval_count / self.eval_duration_s if self.eval_duration_s > 0 else 0.0


@dataclass(frozen=True)
class ChatMessage:
    role: str
    content: str
    images: tuple[bytes, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        msg: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.images:
            msg["images"] = list(self.images)
        return msg


class ChatObserver(Protocol):
    """Told exactly once about every chat request: its stats, or the exception that ended it. Must not raise.

    ``chat_failed`` gets ``GeneratorExit`` when the caller abandoned the stream before its end.
    """

    def chat_finished(self, stats: ChatStats) -> None: ...

    def chat_failed(self, model: str, error: BaseException, elapsed_s: float) -> None: ...


class ChatStream:
    """Iterate for text pieces as they arrive; ``stats`` is set once the answer is complete."""

    def __init__(
        self, gateway: OllamaGateway, chunks: Iterator[ollama.ChatResponse], model: str, started: float
    ) -> None:
        self._gateway = gateway
        self._chunks = chunks
        self._model = model
        self._started = started
        self.stats: ChatStats | None = None
        self._reported = False

    def __iter__(self) -> Iterator[str]:
        try:
            yield from self._pieces()
        except BaseException as err:
            if not self._reported:
                self._reported = True
                self._gateway._failed(self._model, err, self._started)
            raise
        observer = self._gateway.observer
        if observer is not None and self.stats is not None and not self._reported:
            self._reported = True
            observer.chat_finished(self.stats)

    def _pieces(self) -> Iterator[str]:
        parts: list[str] = []
        ttft: float | None = None
        last: ollama.ChatResponse | None = None
        with self._gateway._translate(self._model, "first token"):
            for chunk in self._chunks:
                last = chunk
                piece = chunk.message.content or ""
                if piece:
                    if ttft is None:
                        ttft = time.perf_counter() - self._started
                    parts.append(piece)
                    yield piece
        if last is None or not last.done:
            raise StreamBroken(self._gateway.host, "the stream ended before Ollama said it was done")
        total = time.perf_counter() - self._started
        self.stats = ChatStats(
            model=self._model,
            text="".join(parts),
            ttft_s=ttft if ttft is not None else total,
            total_s=total,
            prompt_eval_count=last.prompt_eval_count or 0,
            eval_count=last.eval_count or 0,
            eval_duration_s=(last.eval_duration or 0) / 1e9,
            load_duration_s=(last.load_duration or 0) / 1e9,
        )

    def text(self) -> str:
        """Drain the stream and return the whole answer."""
        return "".join(self)


def base_url(address: str) -> str:
    """``normalize_host`` that keeps a path: Ollama behind a reverse proxy's prefix answers under that path."""
    start = address.find("://") + 3 if "://" in address else 0
    slash = address.find("/", start)
    path = address[slash:].rstrip("/") if slash >= 0 else ""
    return normalize_host(address[:slash] if slash >= 0 else address) + path


class OllamaGateway:
    """One Ollama server. Connect timeout short (a dead host fails fast); read timeout long (model loads).

    ``host`` may carry a path (an Ollama behind a reverse proxy's prefix).
    """

    def __init__(
        self,
        host: str,
        *,
        connect_timeout_s: float = 3.0,
        first_token_timeout_s: float = 120.0,
        observer: ChatObserver | None = None,
    ) -> None:
        self.host = base_url(host)
        self.observer = observer
        self.connect_timeout_s = connect_timeout_s
        self.first_token_timeout_s = first_token_timeout_s
        timeout = httpx.Timeout(first_token_timeout_s, connect=connect_timeout_s)
        self._client = ollama.Client(host=self.host, timeout=timeout)
        self._http = httpx.Client(base_url=self.host, timeout=timeout)
        self._capabilities: dict[str, tuple[str, ...]] = {}
        self._capabilities_by_digest: dict[str, tuple[str, ...]] = {}
        """What ``/api/show`` said per model digest: a digest's capabilities never change, so a rerun of the page
        asks only about models it has not seen (or that changed under the same name)."""
        self._temperatures: dict[str, float | None] = {}
        """Each model's own temperature (None: it sets none), filled by every ``show`` as ``_capabilities`` is."""

    def close(self) -> None:
        self._http.close()

    # --- errors ---------------------------------------------------------------------------------

    @contextmanager
    def _translate(self, model: str = "", phase: str = "answer") -> Iterator[None]:
        """Turn transport and server errors into the project's small exception set."""
        try:
            yield
        except Snap2ProdError:
            raise
        except (httpx.ConnectError, ConnectionError) as err:
            raise OllamaUnreachable(self.host, _short(err)) from None
        except httpx.ConnectTimeout:
            raise OllamaUnreachable(self.host, f"no connection within {self.connect_timeout_s:g} s") from None
        except httpx.TimeoutException:
            raise OllamaTimeout(self.host, self.first_token_timeout_s, phase) from None
        except (httpx.RemoteProtocolError, httpx.ReadError) as err:
            raise StreamBroken(self.host, _short(err) or "connection closed") from None
        except json.JSONDecodeError:
            raise StreamBroken(self.host, "the server sent a line that is not JSON") from None
        except ollama.ResponseError as err:
            raise self._from_response(err.status_code, err.error, model) from None
        except httpx.HTTPStatusError as err:
            raise self._from_response(err.response.status_code, _error_text(err.response), model) from None

    def _from_response(self, status: int, message: str, model: str) -> Snap2ProdError:
        lowered = message.lower()
        if "server busy" in lowered:  # Ollama's own 503; a proxy's 503 (no endpoint, refused) is not a full queue
            return OllamaBusy(self.host)
        if status == 404 or ("not found" in lowered and "model" in lowered):
            return ModelNotFound(model) if model else OllamaError(self.host, status, message)
        if "image input" in lowered or "does not support image" in lowered:
            return ModelCannotSeeImages(model)
        return OllamaError(self.host, status, message)

    # --- read ---------------------------------------------------------------------------------

    def version(self) -> str:
        with self._translate(phase="version"):
            resp = self._http.get("/api/version")
            resp.raise_for_status()
            return str(resp.json()["version"])

    def reachable(self) -> bool:
        try:
            self.version()
        except Snap2ProdError:
            return False
        return True

    def list_models(self) -> list[ModelInfo]:
        with self._translate(phase="model list"):
            listed = self._client.list().models
        return sorted(
            (
                ModelInfo(
                    name=m.model or "",
                    digest=m.digest or "",
                    size=int(m.size or 0),
                    family=(m.details.family or "") if m.details else "",
                    parameter_size=(m.details.parameter_size or "") if m.details else "",
                    quantization=(m.details.quantization_level or "") if m.details else "",
                )
                for m in listed
            ),
            key=lambda m: m.name,
        )

    def show(self, name: str) -> ModelDetails:
        with self._translate(name, "model details"):
            resp = self._http.post("/api/show", json={"model": name})
            resp.raise_for_status()
            raw = resp.json()
        details = raw.get("details") or {}
        info = raw.get("model_info") or {}
        arch = str(info.get("general.architecture", ""))
        ctx = info.get(f"{arch}.context_length")
        caps = tuple(raw.get("capabilities") or ())
        self._capabilities[name] = caps
        parameters = _parameters(str(raw.get("parameters") or ""))
        self._temperatures[name] = float(parameters["temperature"]) if "temperature" in parameters else None
        return ModelDetails(
            name=name,
            capabilities=caps,
            family=str(details.get("family", "")),
            parameter_size=str(details.get("parameter_size", "")),
            quantization=str(details.get("quantization_level", "")),
            context_length=int(ctx) if isinstance(ctx, int) else None,
            model_info=info,
            projector_info=raw.get("projector_info") or {},
            parameters=parameters,
        )

    def model_temperature(self, name: str) -> float | None:
        """The temperature the model's author set in its Modelfile, or None (from ``show``, asked once per name)."""
        if name not in self._temperatures:
            try:
                self.show(name)
            except Snap2ProdError:
                return None  # the request that follows meets the same problem and reports it in its own words
        return self._temperatures[name]

    def capabilities(self, name: str, digest: str = "") -> tuple[str, ...]:
        """The model's capabilities; with its ``digest`` (from ``list_models``) cached for good per digest."""
        if digest:
            if digest not in self._capabilities_by_digest:
                self._capabilities_by_digest[digest] = self.show(name).capabilities
            return self._capabilities_by_digest[digest]
        if name not in self._capabilities:
            self.show(name)
        return self._capabilities[name]

    def ps(self) -> list[LoadedModel]:
        with self._translate(phase="loaded models"):
            loaded = self._client.ps().models
        return [LoadedModel(m.model or "", m.digest or "", int(m.size or 0), int(m.size_vram or 0)) for m in loaded]

    # --- write ---------------------------------------------------------------------------------

    def pull(self, name: str, *, insecure: bool = False) -> Iterator[Progress]:
        with self._translate(name, "pull progress"):
            for event in self._client.pull(name, insecure=insecure, stream=True):
                yield _progress(event)

    def push(self, name: str, *, insecure: bool = False) -> Iterator[Progress]:
        with self._translate(name, "push progress"):
            for event in self._client.push(name, insecure=insecure, stream=True):
                yield _progress(event)

    def copy(self, source: str, destination: str) -> None:
        with self._translate(source, "copy"):
            self._client.copy(source, destination)

    def delete(self, name: str) -> None:
        with self._translate(name, "delete"):
            self._client.delete(name)
        self._capabilities.pop(name, None)
        self._temperatures.pop(name, None)

    def create_from_gguf(
        self,
        name: str,
        model_file: Path,
        *,
        projector_file: Path | None = None,
        parameters: Mapping[str, Any] | None = None,
        system: str | None = None,
    ) -> Iterator[Progress]:
        """Upload the GGUF file(s) as blobs (skipped when the server has them) and create the model."""
        with self._translate(name, "create progress"):
            files: dict[str, str] = {}
            for path in (model_file, projector_file):
                if path is None:
                    continue
                yield Progress(status=f"uploading {path.name}")
                files[path.name] = self._client.create_blob(path)
            for event in self._client.create(
                name, files=files, parameters=dict(parameters or {}), system=system, stream=True
            ):
                yield _progress(event)
        self._capabilities.pop(name, None)
        self._temperatures.pop(name, None)

    # --- chat ----------------------------------------------------------------------------------

    def chat_stream(
        self,
        model: str,
        messages: Sequence[ChatMessage],
        *,
        options: Mapping[str, Any] | None = None,
        keep_alive: str | float | None = None,
    ) -> ChatStream:
        """Start a streamed chat; refuses images for a model without the vision capability before sending."""
        asked = time.perf_counter()
        try:
            if any(m.images for m in messages) and VISION not in self.capabilities(model):
                raise ModelCannotSeeImages(model)
            started = time.perf_counter()
            with self._translate(model, "first token"):
                chunks = self._client.chat(
                    model=model,
                    messages=[m.as_dict() for m in messages],
                    stream=True,
                    options=dict(options or {}),
                    keep_alive=keep_alive,
                )
        except Exception as err:
            self._failed(model, err, asked)
            raise
        return ChatStream(self, chunks, model, started)

    def _failed(self, model: str, error: BaseException, started: float) -> None:
        if self.observer is not None:
            self.observer.chat_failed(model, error, time.perf_counter() - started)


def _parameters(text: str) -> dict[str, str]:
    """``/api/show``'s ``parameters`` text ("temperature    0\nstop \"<|im_end|>\"") as name -> first value."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        name, _, value = line.strip().partition(" ")
        if name and value.strip():
            out.setdefault(name, value.strip().strip('"'))
    return out


def _progress(event: ollama.ProgressResponse) -> Progress:
    return Progress(
        status=event.status or "",
        digest=event.digest or "",
        total=int(event.total or 0),
        completed=int(event.completed or 0),
    )


def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text[:160]


def _error_text(resp: httpx.Response) -> str:
    try:
        resp.read()
        return str(resp.json().get("error", resp.text))
    except (json.JSONDecodeError, httpx.HTTPError):
        return resp.text[:200]
