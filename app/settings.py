"""One settings class, read from the environment, so the app behaves the same on a laptop and in a cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.catalog import full_name
from app.fair_use import Limits

DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"


def normalize_host(value: str) -> str:
    """Accept what Ollama itself accepts for OLLAMA_HOST: ``host``, ``host:port`` or a URL."""
    value = value.strip().rstrip("/") or DEFAULT_OLLAMA_HOST
    if "://" not in value:
        value = f"http://{value}"
    scheme, rest = value.split("://", 1)
    host = rest.split("/", 1)[0]
    listen_all = "0.0.0.0"  # noqa: S104 - a listen address, not one to connect to
    if host.startswith(listen_all):
        host = "127.0.0.1" + host[len(listen_all) :]
    if ":" not in host.rsplit("]", 1)[-1]:
        host = f"{host}:{443 if scheme == 'https' else 11434}"
    return f"{scheme}://{host}"


MAX_ANSWER_TOKENS = 512


class Settings(BaseSettings):
    """Keeps Ollama's own variable names (OLLAMA_HOST); snap2prod's own ones start with SNAP2PROD_."""

    model_config = SettingsConfigDict(env_prefix="SNAP2PROD_", extra="ignore", populate_by_name=True)

    ollama_host: str = Field(default=DEFAULT_OLLAMA_HOST, validation_alias="OLLAMA_HOST")
    connect_timeout_s: float = 3.0
    first_token_timeout_s: float = 120.0
    camera: str = ""
    """A host camera for the page: a device index ("0") or a URL (rtsp://, http://) or a video file."""
    catalog: str = ""
    """Another model catalog file; empty means models/catalog.yaml."""
    metrics_port: int = Field(default=9464, ge=0, le=65535)
    """Port of the Prometheus endpoint (/metrics); 0 turns it off."""
    metrics_addr: str = "0.0.0.0"  # noqa: S104 - Prometheus scrapes the pod's address in a cluster
    max_answer_tokens: int = Field(default=MAX_ANSWER_TOKENS, ge=1, le=131072)
    """The longest answer, in tokens (Ollama's num_predict): a small model caught in a loop must not hold the page
    for minutes, and on a shared GPU it bounds what one request can spend."""
    log_format: Literal["text", "json"] = "text"
    """One log record per model request: readable text, or JSON lines for a log pipeline."""
    allow_pull: bool = True
    """The sidebar's Pull button. On a laptop it stays; in a cluster (the chart sets it false) the lock decides
    which models exist, and a page button must not pull unlocked ones into the shared Ollama."""
    fair_use_running: int = Field(default=0, ge=0)
    """Answers one person may have running at once in this process (0: no limit); over it the page refuses with
    a sentence and keeps the prompt and picture (app/fair_use.py)."""
    fair_use_per_minute: int = Field(default=0, ge=0)
    """Answers one person may start per minute in this process (0: no limit)."""
    identity_header: str = ""
    """The request header that names the signed-in person, set by a sign-in proxy in front of the page (which must
    be the only way in); empty: people are told apart by their client address."""
    live_min_interval_s: int = Field(default=1, ge=1, le=30)
    """The shortest interval the Live tab offers: 1 s on a laptop; the chart raises it in clusters, where every
    live page describes a frame per interval on a shared GPU."""
    models: str = ""
    """The only models the page offers, comma-separated; empty offers every model the server has."""
    models_file: str = ""
    """A file naming the only models the page offers (comma- or line-separated), read on every use: the chart mounts
    the lock's list there, so a new lock reaches running pages without restarting them (and their sessions)."""

    @property
    def fair_use(self) -> Limits:
        return Limits(self.fair_use_running, self.fair_use_per_minute)

    @property
    def offered_models(self) -> frozenset[str] | None:
        """The names of ``models_file`` (when set and present) or ``models``, with their tags; None when every
        model is offered."""
        text = self.models
        if self.models_file:
            try:
                text = Path(self.models_file).read_text()
            except OSError:
                text = ""
        names = frozenset(full_name(n.strip()) for n in text.replace("\n", ",").split(",") if n.strip())
        return names or None

    @field_validator("ollama_host")
    @classmethod
    def _normalize(cls, value: str) -> str:
        return normalize_host(value)
