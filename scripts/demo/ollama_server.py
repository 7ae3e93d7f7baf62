"""The Ollama the demo and the tests use: the person's own when one answers or is on PATH, else the pinned build.

An ML engineer often runs Ollama already: the demo uses it and builds nothing (the pinned build takes ~15 minutes
and needs Go and gcc). ``SNAP2PROD_OLLAMA=pinned`` always starts the toolchain's build, e.g. to take a lock that
promotes as it is.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from app.errors import OllamaUnreachable
from app.gateway import OllamaGateway
from app.settings import DEFAULT_OLLAMA_HOST, Settings, normalize_host
from scripts import toolchain
from scripts.processes import ManagedProcess, ProcessError, free_port, port_in_use

PROCESS_NAME = "ollama"
DEFAULT_PORT = 11434
CHOICE_ENV = "SNAP2PROD_OLLAMA"
"""``pinned``: start the toolchain's Ollama even when the person has one."""


def models_dir() -> Path:
    """Models live in the cache, so the demo, the tests and CI share one copy."""
    path = toolchain.cache_dir() / "ollama" / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class OllamaHandle:
    """The Ollama to use, whether this run started it (and so must stop it), and which one it is, in words."""

    host: str
    started_here: bool
    source: str


def find_or_start(state: Path, *, port: int | None = None) -> OllamaHandle:
    """In this order: the server at OLLAMA_HOST; one this tool started earlier; one answering on 127.0.0.1:11434;
    the person's `ollama` on PATH, started with its own models folder; else the pinned build (built when missing).
    ``SNAP2PROD_OLLAMA=pinned`` skips the person's.

    An OLLAMA_HOST set by the user that does not answer is an error, not something to paper over.
    """
    pinned_only = os.environ.get(CHOICE_ENV) == "pinned"
    if os.environ.get("OLLAMA_HOST") and not pinned_only:  # set by the person: use it or say it is wrong
        gateway = OllamaGateway(Settings().ollama_host, connect_timeout_s=2.0)
        if gateway.reachable():
            return OllamaHandle(gateway.host, started_here=False, source="yours, from OLLAMA_HOST")
        raise OllamaUnreachable(
            gateway.host,
            "OLLAMA_HOST is set to it; fix the address, or unset OLLAMA_HOST to let snap2prod start its own Ollama",
        )
    managed = ManagedProcess(PROCESS_NAME, state).info()
    if managed is not None:
        return OllamaHandle(str(managed["host"]), started_here=False, source="started earlier by snap2prod")
    if not pinned_only and OllamaGateway(DEFAULT_OLLAMA_HOST, connect_timeout_s=1.0).reachable():
        return OllamaHandle(normalize_host(DEFAULT_OLLAMA_HOST), started_here=False, source="yours, already running")
    on_path = None if pinned_only else shutil.which("ollama")
    if on_path is not None:
        host = start(state, port=port, binary=Path(on_path), own_models=True)
        return OllamaHandle(host, started_here=True, source=f"yours, started from {on_path}")
    return OllamaHandle(start(state, port=port), started_here=True, source="the pinned build, started")


def version_warning(version: str, pinned: str = toolchain.OLLAMA_VERSION) -> str | None:
    """What a person needs to know when the demo's Ollama is not the pinned one (None when it is)."""
    if version == pinned:
        return None
    return (
        f"This Ollama is {version}; snap2prod pins {pinned}. The demo runs, but a lock taken from it cannot be "
        f"promoted as it is (the chart refuses a lock of another Ollama version). For the pinned Ollama: "
        f"`{CHOICE_ENV}=pinned make demo` (built once into ~/.cache/snap2prod, then started beside yours)."
    )


def start(
    state: Path,
    *,
    port: int | None = None,
    extra_env: dict[str, str] | None = None,
    tie_to_parent: bool = False,
    binary: Path | None = None,
    address: str = "127.0.0.1",
    own_models: bool = False,
) -> str:
    """Start ``ollama serve`` on a free port with its models in the cache; return its URL once it answers.

    ``binary`` is another build (`make bench` compares CPU baselines; the demo starts the person's own); default:
    the toolchain's. ``own_models`` keeps that Ollama's own models folder (the person's), not the cache's.
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
        **({} if own_models else {"OLLAMA_MODELS": str(models_dir())}),
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
