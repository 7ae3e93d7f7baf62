"""Prometheus metrics and one log record per model request, as the app sees them (Ollama exports no metrics).

``Telemetry`` is a ``ChatObserver`` for ``OllamaGateway``: the gateway tells it once about every chat request,
whoever made it (page, live mode, compare, CLI). ``describe`` adds the image sizes, live mode's ``LatestOnly``
the dropped frames, and ``snap2prod_ollama_up`` probes Ollama at every scrape.

Label values are bounded: ``model`` is one of the installed models (from ``/api/tags``, cached, at most
``max_models``) or ``other``; ``outcome`` is ``ok``, ``cancelled``, an error class of ``app.errors`` or
``unexpected``; ``stage`` is ``original`` or ``sent``; ``reason`` is one of ``app.fair_use.REASONS``.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_wsgi_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app import errors, fair_use, logs
from app.gateway import ChatStats, ModelInfo, OllamaGateway
from app.settings import Settings

OTHER = "other"
OK = "ok"
CANCELLED = "cancelled"
UNEXPECTED = "unexpected"
ERROR_OUTCOMES: tuple[str, ...] = tuple(
    sorted(
        name
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.Snap2ProdError) and cls is not errors.Snap2ProdError
    )
)
OUTCOMES: tuple[str, ...] = (OK, CANCELLED, *ERROR_OUTCOMES, UNEXPECTED)
"""Every value the ``outcome`` label can take."""

REQUEST_LOGGER = f"{logs.LOGGER}.requests"

_TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120)
_DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)
_TPS_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
_BYTES_BUCKETS = tuple(float(4096 * 4**k) for k in range(9))  # 4 KiB … 256 MiB


def outcome_of(error: BaseException) -> str:
    """The ``outcome`` label of a request that ended with ``error``."""
    if isinstance(error, GeneratorExit):
        return CANCELLED
    name = type(error).__name__
    return name if isinstance(error, errors.Snap2ProdError) and name in ERROR_OUTCOMES else UNEXPECTED


def _canonical(model: str) -> str:
    """Ollama's own reading of a name: no tag means ``:latest``."""
    return model if ":" in model.rsplit("/", 1)[-1] else f"{model}:latest"


class ModelDirectory:
    """The installed models (name → digest), read through ``list_models`` and cached.

    Re-read when older than ``refresh_s``, or sooner (after ``miss_refresh_s``) when asked about a name it does
    not know, so a model pulled a moment ago gets its own label. A failing read keeps the last known set.
    ``on_read`` gets the names after every successful read.
    """

    def __init__(
        self,
        list_models: Callable[[], Sequence[ModelInfo]],
        *,
        refresh_s: float = 30.0,
        miss_refresh_s: float = 2.0,
        max_models: int = 50,
        clock: Callable[[], float] = time.monotonic,
        on_read: Callable[[Sequence[str]], None] | None = None,
    ) -> None:
        self._list = list_models
        self._on_read = on_read
        self._refresh_s = refresh_s
        self._miss_refresh_s = miss_refresh_s
        self._max = max_models
        self._clock = clock
        self._lock = threading.Lock()
        self._digests: dict[str, str] = {}
        self._read_at: float | None = None

    def _read(self) -> None:
        self._read_at = self._clock()
        try:
            listed = self._list()
        except errors.Snap2ProdError:
            return
        names = sorted({m.name for m in listed})[: self._max]
        digests = {m.name: m.digest for m in listed}
        self._digests = {name: digests[name] for name in names}
        if self._on_read is not None:
            self._on_read(names)

    def _age(self) -> float | None:
        return None if self._read_at is None else self._clock() - self._read_at

    def refresh(self) -> None:
        """Re-read the list when it is older than ``refresh_s`` (or was never read)."""
        with self._lock:
            age = self._age()
            if age is None or age >= self._refresh_s:
                self._read()

    def lookup(self, model: str) -> tuple[str, str]:
        """``(label, digest)`` for a requested model name; ``("other", "")`` when it is not installed."""
        name = _canonical(model)
        with self._lock:
            age = self._age()
            known = name in self._digests
            if age is None or age >= self._refresh_s or (not known and age >= self._miss_refresh_s):
                self._read()
            if name in self._digests:
                return name, self._digests[name]
        return OTHER, ""

    def label(self, model: str) -> str:
        return self.lookup(model)[0]


class _OllamaUp(Collector):
    """``snap2prod_ollama_up``: asks Ollama at every scrape, so the value is never older than the scrape."""

    def __init__(self, probe: Callable[[], bool]) -> None:
        self._probe = probe

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily("snap2prod_ollama_up", "1 when Ollama answered /api/version at this scrape, else 0.")

    def describe(self) -> Iterable[Metric]:
        return [self._family()]

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        try:
            up = self._probe()
        except Exception:
            up = False
        family.add_metric([], 1.0 if up else 0.0)
        return [family]


class Telemetry:
    """Metrics in their own registry plus the request log; every method is safe to call from any thread.

    ``list_models`` gives the installed set (label bounding and digests); ``reachable`` feeds
    ``snap2prod_ollama_up`` (omitted: no such metric), and each scrape then also refreshes the installed set.
    Every series of an installed model (and of ``other``) starts at 0 as soon as the model is known, so
    ``rate()`` and ``increase()`` see even its first request.
    """

    def __init__(
        self,
        list_models: Callable[[], Sequence[ModelInfo]],
        *,
        reachable: Callable[[], bool] | None = None,
        registry: CollectorRegistry | None = None,
        refresh_s: float = 30.0,
        max_models: int = 50,
        logger: logging.Logger | None = None,
        locked: Callable[[], frozenset[str] | None] | None = None,
    ) -> None:
        self.models = ModelDirectory(list_models, refresh_s=refresh_s, max_models=max_models, on_read=self._read)
        self._locked = locked
        self._outside: list[str] = []
        self._reachable = reachable
        self.registry = registry if registry is not None else CollectorRegistry()
        self.log = logger if logger is not None else logging.getLogger(REQUEST_LOGGER)
        self._server: WSGIServer | None = None
        self._server_thread: threading.Thread | None = None
        r = self.registry
        self.requests = Counter(
            "snap2prod_chat_requests", "Chat requests to Ollama by model and outcome.", ["model", "outcome"], registry=r
        )
        self.ttft = Histogram(
            "snap2prod_chat_ttft_seconds",
            "Time to the first token of successful answers, measured in the app.",
            ["model"],
            buckets=_TTFT_BUCKETS,
            registry=r,
        )
        self.duration = Histogram(
            "snap2prod_chat_duration_seconds",
            "Total time of successful answers, request to last token, measured in the app.",
            ["model"],
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "snap2prod_chat_generated_tokens", "Tokens generated (Ollama's eval_count).", ["model"], registry=r
        )
        self.prompt_tokens = Counter(
            "snap2prod_chat_prompt_tokens",
            "Prompt tokens evaluated (Ollama's prompt_eval_count).",
            ["model"],
            registry=r,
        )
        self.tokens_per_s = Histogram(
            "snap2prod_chat_tokens_per_second",
            "Generation speed of each answer (eval_count / eval_duration).",
            ["model"],
            buckets=_TPS_BUCKETS,
            registry=r,
        )
        self.image_bytes = Histogram(
            "snap2prod_image_bytes",
            "Size of each picture as taken (stage=original) and as sent to the model after resizing (stage=sent).",
            ["model", "stage"],
            buckets=_BYTES_BUCKETS,
            registry=r,
        )
        self.frames_dropped = Counter(
            "snap2prod_live_frames_dropped",
            "Live-mode frames replaced by a newer one before a description started on them.",
            registry=r,
        )
        self.outside_lock = Gauge(
            "snap2prod_model_outside_lock",
            "1 for each model Ollama holds that the lock does not name (SNAP2PROD_MODELS); no series without a lock.",
            ["model"],
            registry=r,
        )
        self.fair_use_refusals = Counter(
            "snap2prod_fair_use_refusals",
            "Requests refused before they started because their person was over a fair-use limit, by reason "
            "(running: answers at once; rate: answers per minute).",
            ["reason"],
            registry=r,
        )
        for reason in fair_use.REASONS:
            self.fair_use_refusals.labels(reason)
        self._known([OTHER])
        if reachable is not None:
            r.register(_OllamaUp(self._probe))

    def _read(self, names: Sequence[str]) -> None:
        """After each read of the installed set: its series start at 0; the models outside the lock are shown."""
        self._known(names)
        lock = self._locked() if self._locked is not None else None
        if lock is None:
            if self._outside:
                self._outside = []
                self.outside_lock.clear()
            return
        outside = sorted(set(names) - lock)
        if outside != self._outside:
            self._outside = outside
            self.outside_lock.clear()
            for name in outside:
                self.outside_lock.labels(name).set(1)
            if outside:
                logging.getLogger(__name__).warning("models outside the lock: %s", ", ".join(outside))

    def _known(self, labels: Sequence[str]) -> None:
        """Create every series of these model labels at 0."""
        for label in labels:
            for outcome in OUTCOMES:
                self.requests.labels(label, outcome)
            for family in (self.ttft, self.duration, self.tokens, self.prompt_tokens, self.tokens_per_s):
                family.labels(label)
            for stage in ("original", "sent"):
                self.image_bytes.labels(label, stage)

    def _probe(self) -> bool:
        """At scrape time: is Ollama there? If so, refresh the installed set off the request path."""
        if self._reachable is None or not self._reachable():
            return False
        self.models.refresh()
        return True

    # --- ChatObserver --------------------------------------------------------------------------------

    def chat_finished(self, stats: ChatStats) -> None:
        try:
            label, digest = self.models.lookup(stats.model)
            self.requests.labels(label, OK).inc()
            self.ttft.labels(label).observe(stats.ttft_s)
            self.duration.labels(label).observe(stats.total_s)
            self.tokens.labels(label).inc(stats.eval_count)
            self.prompt_tokens.labels(label).inc(stats.prompt_eval_count)
            if stats.eval_duration_s > 0:
                self.tokens_per_s.labels(label).observe(stats.tokens_per_s)
            self.log.info(
                "chat",
                extra={
                    "fields": {
                        "model": stats.model,
                        "digest": digest,
                        "outcome": OK,
                        "ttft_ms": round(stats.ttft_s * 1000, 1),
                        "total_ms": round(stats.total_s * 1000, 1),
                        "load_ms": round(stats.load_duration_s * 1000, 1),
                        "prompt_tokens": stats.prompt_eval_count,
                        "eval_tokens": stats.eval_count,
                        "tokens_per_s": round(stats.tokens_per_s, 2),
                    }
                },
            )
        except Exception:
            self.log.exception("metrics: could not record a finished request")

    def chat_failed(self, model: str, error: BaseException, elapsed_s: float) -> None:
        try:
            label, digest = self.models.lookup(model)
            outcome = outcome_of(error)
            self.requests.labels(label, outcome).inc()
            fields: dict[str, object] = {
                "model": model,
                "digest": digest,
                "outcome": outcome,
                "total_ms": round(elapsed_s * 1000, 1),
            }
            if outcome != CANCELLED:
                fields["error"] = str(error) or type(error).__name__
            level = logging.INFO if outcome == CANCELLED else logging.WARNING
            self.log.log(level, "chat", extra={"fields": fields})
        except Exception:
            self.log.exception("metrics: could not record a failed request")

    # --- the rest of the request path ---------------------------------------------------------------

    def image_prepared(self, model: str, original_bytes: int, sent_bytes: int) -> None:
        try:
            label = self.models.label(model)
            self.image_bytes.labels(label, "original").observe(original_bytes)
            self.image_bytes.labels(label, "sent").observe(sent_bytes)
        except Exception:
            self.log.exception("metrics: could not record an image")

    def frame_dropped(self) -> None:
        self.frames_dropped.inc()

    def fair_use_refused(self, reason: str) -> None:
        self.fair_use_refusals.labels(reason if reason in fair_use.REASONS else OTHER).inc()

    # --- the /metrics endpoint -----------------------------------------------------------------------

    def serve(self, port: int, addr: str = "0.0.0.0") -> int:  # noqa: S104 - scraped from outside the pod
        """Serve ``/metrics`` from a daemon thread; returns the bound port (``port=0`` picks a free one)."""
        server, thread = start_wsgi_server(port, addr, registry=self.registry)
        self._server, self._server_thread = server, thread
        return int(server.server_port)

    def close(self) -> None:
        """Stop serving ``/metrics`` (the metrics themselves stay readable from ``registry``)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._server_thread is not None:
            self._server_thread.join(5)
            self._server_thread = None


_process_telemetry: Telemetry | None = None
_process_lock = threading.Lock()


def start(settings: Settings | None = None) -> Telemetry:
    """The process's one ``Telemetry``: logging configured and ``/metrics`` served on SNAP2PROD_METRICS_PORT.

    Later calls return the same object, so a cleared Streamlit cache never binds the port twice. A busy port
    is logged, not raised: the page works without its metrics endpoint.
    """
    global _process_telemetry
    with _process_lock:
        if _process_telemetry is not None:
            return _process_telemetry
        s = settings if settings is not None else Settings()
        logs.configure(s.log_format)
        probe = OllamaGateway(s.ollama_host, connect_timeout_s=min(s.connect_timeout_s, 2.0), first_token_timeout_s=5)
        telemetry = Telemetry(probe.list_models, reachable=probe.reachable, locked=lambda: s.offered_models)
        if s.metrics_port:
            try:
                port = telemetry.serve(s.metrics_port, s.metrics_addr)
                telemetry.log.info("metrics", extra={"fields": {"url": f"http://{s.metrics_addr}:{port}/metrics"}})
            except OSError as err:
                telemetry.log.warning(
                    "metrics endpoint not served", extra={"fields": {"port": s.metrics_port, "error": str(err)}}
                )
        _process_telemetry = telemetry
        return telemetry
