"""A real Ollama with the offline model for benchmarks: reuses OLLAMA_HOST when set, else starts one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.gateway import OllamaGateway
from scripts.demo import offline_models as bootstrap
from scripts.demo import ollama_server
from scripts.processes import free_port


@contextmanager
def live_ollama() -> Iterator[tuple[OllamaGateway, str]]:
    """Yields a gateway and the model name; stops the server afterwards when it started one."""
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        host = os.environ.get("OLLAMA_HOST") or ollama_server.start(state, port=free_port(), tie_to_parent=True)
        gateway = OllamaGateway(host)
        try:
            if bootstrap.OFFLINE_MODEL not in {m.name for m in gateway.list_models()}:
                for _ in bootstrap.create_offline_model(gateway):
                    pass
            yield gateway, bootstrap.OFFLINE_MODEL
        finally:
            gateway.close()
            ollama_server.stop(state)
