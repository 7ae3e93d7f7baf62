"""A real Ollama built from its Go module serves a real model created offline from a GGUF file."""

from __future__ import annotations

import re

import httpx
import ollama

from app.gateway import ChatMessage, OllamaGateway
from scripts import toolchain


def test_the_server_is_the_pinned_version(gateway: OllamaGateway) -> None:
    assert gateway.version() == toolchain.OLLAMA_VERSION


def test_model_created_from_the_gguf_is_listed_with_a_digest(ollama_host: str, text_model: str) -> None:
    tags = httpx.get(f"{ollama_host}/api/tags", timeout=10).json()["models"]
    entry = next(m for m in tags if m["name"] == text_model)
    assert re.fullmatch(r"[0-9a-f]{64}", entry["digest"])
    assert entry["size"] > 50_000_000


def test_chat_through_the_ollama_client_streams_text(ollama_host: str, text_model: str) -> None:
    client = ollama.Client(host=ollama_host)
    pieces = [
        chunk.message.content
        for chunk in client.chat(
            model=text_model,
            messages=[{"role": "user", "content": "Say hello in one short sentence."}],
            stream=True,
            options={"seed": 1, "num_predict": 24},
        )
    ]
    assert len(pieces) > 1
    assert "".join(pieces).strip()


def test_gateway_stream_carries_timings_and_counts(gateway: OllamaGateway, text_model: str) -> None:
    stream = gateway.chat_stream(
        text_model, [ChatMessage("user", "Name a colour.")], options={"seed": 1, "num_predict": 16}
    )
    text = stream.text()
    assert text.strip()
    assert stream.stats is not None
    assert 0 < stream.stats.ttft_s <= stream.stats.total_s
    assert stream.stats.eval_count > 0
    assert stream.stats.tokens_per_s > 0
