"""Ollama's API gate: the chart's own nginx configuration (stacks/chart/files/api-gate.conf) with Debian's nginx in
front of the run's real Ollama, as the gate container runs it beside Ollama in a cluster.

What the app and the helm test use passes (a streamed describe, tags, show, ps, version, the OpenAI-compatible
chat); what changes the models answers 403 with a JSON error, however the URL is spelled, and the model is still
there afterwards. tests/integration/test_kind.py asks the same of the gate in a real pod, from the app's pod.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.describe import PRESETS
from app.errors import Snap2ProdError
from app.gateway import ChatMessage, OllamaGateway
from scripts import api_gate
from tests import colour_pictures as pictures

SHORT = {"num_predict": 8, "temperature": 0}


@pytest.fixture(scope="module")
def gate_url(ollama_host: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process, url = api_gate.start(ollama_host, tmp_path_factory.mktemp("api-gate"))
    yield url
    process.stop()


@pytest.fixture(scope="module")
def through_gate(gate_url: str) -> Iterator[OllamaGateway]:
    gw = OllamaGateway(gate_url)
    yield gw
    gw.close()


def test_a_describe_streams_through_the_gate_token_by_token(through_gate: OllamaGateway, vision_model: str) -> None:
    picture = pictures.jpeg(pictures.plain("red"))
    message = ChatMessage("user", PRESETS["Describe this picture"], (picture,))
    chunks = list(through_gate.chat_stream(vision_model, [message], options={"num_predict": 24}))
    assert len(chunks) > 3  # token by token, not one buffered block
    assert pictures.names_only("".join(chunks), "red"), chunks


def test_what_the_app_and_the_helm_test_read_passes(
    through_gate: OllamaGateway, gateway: OllamaGateway, text_model: str
) -> None:
    assert through_gate.version() == gateway.version()
    assert {m.name for m in through_gate.list_models()} == {m.name for m in gateway.list_models()}
    assert through_gate.show(text_model).family == gateway.show(text_model).family
    through_gate.chat_stream(text_model, [ChatMessage("user", "Hi")], options=SHORT).text()
    assert text_model in {m.name for m in through_gate.ps()}


def test_the_openai_compatible_chat_passes(gate_url: str, text_model: str) -> None:
    body = {"model": text_model, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
    answer = httpx.post(f"{gate_url}/v1/chat/completions", json=body, timeout=120)
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"]
    assert text_model in {m["id"] for m in httpx.get(f"{gate_url}/v1/models", timeout=10).json()["data"]}


CLOSED = [
    ("POST", "/api/pull", {"model": "snap2prod/smollm2:135m"}),
    ("POST", "/api/push", {"model": "snap2prod/smollm2:135m"}),
    ("POST", "/api/create", {"model": "gate-made:1", "from": "snap2prod/smollm2:135m"}),
    ("POST", "/api/copy", {"source": "snap2prod/smollm2:135m", "destination": "gate-copy:1"}),
    ("DELETE", "/api/delete", {"model": "snap2prod/smollm2:135m"}),
    ("POST", "/api/blobs/sha256:" + "0" * 64, None),
    ("HEAD", "/api/blobs/sha256:" + "0" * 64, None),
    ("GET", "/api/chat", None),  # an open path with another method
    ("DELETE", "/api/chat/../delete", {"model": "snap2prod/smollm2:135m"}),  # dot segments
    ("DELETE", "/api/%64elete", {"model": "snap2prod/smollm2:135m"}),  # percent-encoded
    ("DELETE", "/API/delete", {"model": "snap2prod/smollm2:135m"}),
]


@pytest.mark.parametrize(("method", "path", "body"), CLOSED, ids=[f"{m} {p}" for m, p, _ in CLOSED])
def test_what_changes_the_models_is_refused_with_403_and_nothing_changes(
    gate_url: str, gateway: OllamaGateway, text_model: str, method: str, path: str, body: dict[str, str] | None
) -> None:
    before = {m.name: m.digest for m in gateway.list_models()}
    assert text_model in before
    answer = httpx.request(method, gate_url + path, json=body, timeout=10)
    assert answer.status_code == 403, (answer.status_code, answer.text)
    if method != "HEAD":
        assert answer.json()["error"].startswith("closed by the snap2prod API gate")
    assert {m.name: m.digest for m in gateway.list_models()} == before


def test_the_apps_gateway_shows_the_gates_refusal_as_a_sentence(through_gate: OllamaGateway, text_model: str) -> None:
    with pytest.raises(Snap2ProdError) as refused:
        through_gate.copy(text_model, "gate-copy:2")
    assert "closed by the snap2prod API gate" in str(refused.value)


def test_the_host_configuration_is_the_charts_with_only_addresses_and_paths_moved(tmp_path: Path) -> None:
    config = api_gate.host_config("http://127.0.0.1:5555", 6666, tmp_path)
    chart = api_gate.CONFIG.read_text()
    assert "server 127.0.0.1:5555;" in config and "listen 127.0.0.1:6666;" in config
    assert "/tmp/nginx" not in config and f"pid {tmp_path}/nginx.pid;" in config
    restored = config.replace("server 127.0.0.1:5555;", api_gate.POD_UPSTREAM)
    restored = restored.replace("listen 127.0.0.1:6666;", api_gate.POD_LISTEN).replace(f"{tmp_path}/", "/tmp/")
    assert restored == chart
