"""The Ollama the demo and the tests use: an answering one is reused, otherwise one is started from the cache."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from app.errors import OllamaUnreachable
from app.gateway import OllamaGateway
from app.settings import DEFAULT_OLLAMA_HOST, Settings, normalize_host
from scripts import toolchain
from scripts.processes import ManagedProcess, ProcessError, free_port, port_in_use

PROCESS_NAME = "ollama"
DEFAULT_PORT = 11434


def models_dir() -> Path:
    """Models live in the cache, so the demo, the tests and CI share one copy."""
    path = toolchain.cache_dir() / "ollama" / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class OllamaHandle:
    """The Ollama to use, and whether this run started it (and so must stop it)."""

    host: str
    started_here: bool


def find_or_start(state: Path, *, port: int | None = None) -> OllamaHandle:
    """Reuse the server at OLLAMA_HOST (or the default address) when it answers; else start one.

    An OLLAMA_HOST set by the user that does not answer is an error, not something to paper over.
    """
    if os.environ.get("OLLAMA_HOST"):  # set by the person: use it or say it is wrong
        gateway = OllamaGateway(Settings().ollama_host, connect_timeout_s=2.0)
        if gateway.reachable():
            return OllamaHandle(gateway.host, started_here=False)
        raise OllamaUnreachable(
            gateway.host,
            "OLLAMA_HOST is set to it; fix the address, or unset OLLAMA_HOST to let snap2prod start its own Ollama",
        )
    managed = ManagedProcess(PROCESS_NAME, state).info()
    if managed is not None:
        return OllamaHandle(str(managed["host"]), started_here=False)
    if OllamaGateway(DEFAULT_OLLAMA_HOST, connect_timeout_s=1.0).reachable():
        return OllamaHandle(normalize_host(DEFAULT_OLLAMA_HOST), started_here=False)
    return OllamaHandle(start(state, port=port), started_here=True)


def start(
    state: Path,
    *,
    port: int | None = None,
    extra_env: dict[str, str] | None = None,
    tie_to_parent: bool = False,
    binary: Path | None = None,
    address: str = "127.0.0.1",
) -> str:
    """Start ``ollama serve`` on a free port with its models in the cache; return its URL once it answers.

    ``binary`` is another build of the same version (`make bench` compares CPU baselines); default: the toolchain's.
    ``address`` is where it listens: loopback, or the kind network's gateway for keynote mode (never 0.0.0.0:
    Ollama has no authentication).
    """
    if port is None:
        wanted = os.environ.get("SNAP2PROD_OLLAMA_PORT")
        port = int(wanted) if wanted else (DEFAULT_PORT if not port_in_use(DEFAULT_PORT) else free_port())
    if port_in_use(port, address):
        raise ProcessError(f"port {port} is busy, so Ollama cannot start there; free it or set SNAP2PROD_OLLAMA_PORT")
    host = f"http://{address}:{port}"
    proc = ManagedProcess(PROCESS_NAME, state)
    env = {
        "OLLAMA_HOST": f"{address}:{port}",
        "OLLAMA_MODELS": str(models_dir()),
        "OLLAMA_NOPRUNE": "1",
        "OLLAMA_NO_CLOUD": "1",
        **(extra_env or {}),
    }
    proc.start([str(binary or toolchain.binary("ollama")), "serve"], env=env, tie_to_parent=tie_to_parent, host=host)
    try:
        proc.wait_http(f"{host}/api/version", timeout_s=60)
    except BaseException:  # a failed start or a Ctrl-C while waiting: leave nothing behind
        proc.stop()
        raise
    return host


def stop(state: Path) -> bool:
    """Stop the Ollama started in ``state``; True when one ran."""
    return ManagedProcess(PROCESS_NAME, state).stop()
