"""Shared real parts: one Ollama server for the whole run, started from the cached build."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.gateway import OllamaGateway
from scripts import bootstrap, ollama_server
from scripts.processes import free_port


@pytest.fixture(scope="session")
def ollama_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ollama-state")


@pytest.fixture(scope="session")
def ollama_host(ollama_state: Path) -> Iterator[str]:
    """A real `ollama serve` on a free port, models dir in the cache, stopped after the run."""
    host = ollama_server.start(ollama_state, port=free_port())
    yield host
    ollama_server.stop(ollama_state)


@pytest.fixture(scope="session")
def gateway(ollama_host: str) -> Iterator[OllamaGateway]:
    gw = OllamaGateway(ollama_host)
    yield gw
    gw.close()


@pytest.fixture(scope="session")
def text_model(gateway: OllamaGateway) -> str:
    """The offline SmolLM2 model, created from its GGUF when the cache does not have it yet."""
    if bootstrap.OFFLINE_MODEL not in {m.name for m in gateway.list_models()}:
        events = list(bootstrap.create_offline_model(gateway))
        assert events[-1].status == "success", events[-3:]
    return bootstrap.OFFLINE_MODEL
