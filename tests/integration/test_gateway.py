"""The gateway against the real Ollama, and against fault_ollama for what a real server won't do on demand."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest

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
from app.gateway import ChatMessage, OllamaGateway
from scripts.demo import ollama_server
from scripts.processes import free_port
from tests.fault_ollama import fault_ollama

HELLO = [ChatMessage("user", "Say hi.")]
SHORT = {"seed": 7, "temperature": 0, "num_predict": 8}


def _jpeg() -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((32, 32, 3), 200, np.uint8))
    assert ok
    return buf.tobytes()


# --- real Ollama ---------------------------------------------------------------------------------


def test_version_and_reachability(gateway: OllamaGateway) -> None:
    assert gateway.version().count(".") == 2
    assert gateway.reachable()


def test_list_shows_the_model_with_digest_and_details(gateway: OllamaGateway, text_model: str) -> None:
    entry = next(m for m in gateway.list_models() if m.name == text_model)
    assert len(entry.digest) == 64
    assert entry.family == "llama"
    assert entry.quantization == "Q4_1"


def test_show_reads_capabilities_from_the_raw_json(gateway: OllamaGateway, text_model: str) -> None:
    details = gateway.show(text_model)
    assert "completion" in details.capabilities
    assert not details.can_see
    assert details.context_length == 8192


def test_chat_options_make_the_answer_reproducible(gateway: OllamaGateway, text_model: str) -> None:
    first = gateway.chat_stream(text_model, HELLO, options=SHORT).text()
    second = gateway.chat_stream(text_model, HELLO, options=SHORT).text()
    assert first == second and first


def test_ps_lists_the_loaded_model_after_a_chat(gateway: OllamaGateway, text_model: str) -> None:
    gateway.chat_stream(text_model, HELLO, options=SHORT, keep_alive="2m").text()
    loaded = {m.name: m for m in gateway.ps()}
    assert text_model in loaded
    assert loaded[text_model].size > 0


def test_unknown_model_suggests_the_pull(gateway: OllamaGateway) -> None:
    with pytest.raises(ModelNotFound, match="snap2prod models pull no-such-model"):
        gateway.chat_stream("no-such-model:1b", HELLO).text()


def test_an_image_for_a_text_model_suggests_vision_models(gateway: OllamaGateway, text_model: str) -> None:
    with pytest.raises(ModelCannotSeeImages, match="moondream"):
        gateway.chat_stream(text_model, [ChatMessage("user", "What is this?", images=(_jpeg(),))])


def test_create_copy_and_delete_a_model(gateway: OllamaGateway, text_model: str) -> None:
    gateway.copy(text_model, "snap2prod-test/copy:1")
    assert "snap2prod-test/copy:1" in {m.name for m in gateway.list_models()}
    gateway.delete("snap2prod-test/copy:1")
    assert "snap2prod-test/copy:1" not in {m.name for m in gateway.list_models()}


def test_sixteen_concurrent_chats_all_complete(gateway: OllamaGateway, text_model: str) -> None:
    def one(i: int) -> str:
        return gateway.chat_stream(text_model, [ChatMessage("user", f"Count to {i}.")], options=SHORT).text()

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, range(16), timeout=300))
    assert all(answers)


@pytest.fixture
def tiny_queue_ollama(tmp_path: Path, text_model: str) -> Iterator[OllamaGateway]:
    """A second real server whose queue holds one request, so it really answers 503 under load."""
    host = ollama_server.start(tmp_path, port=free_port(), extra_env={"OLLAMA_MAX_QUEUE": "1"}, tie_to_parent=True)
    gw = OllamaGateway(host)
    try:
        yield gw
    finally:
        gw.close()
        ollama_server.stop(tmp_path)


def test_sixteen_concurrent_chats_on_a_full_queue_end_in_busy_never_hang(
    tiny_queue_ollama: OllamaGateway, text_model: str
) -> None:
    def one(i: int) -> str:
        try:
            opts = {**SHORT, "num_predict": 32}
            return tiny_queue_ollama.chat_stream(text_model, [ChatMessage("user", f"Story {i}.")], options=opts).text()
        except OllamaBusy as err:
            return f"busy: {err}"

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(one, range(16), timeout=300))
    busy = [o for o in outcomes if o.startswith("busy: ")]
    assert busy, "a queue of one must turn some of 16 simultaneous requests away"
    assert len(busy) < 16
    assert "is busy (its request queue is full)" in busy[0]


# --- faults --------------------------------------------------------------------------------------


def test_connection_refused_is_unreachable_and_fast() -> None:
    gw = OllamaGateway(f"127.0.0.1:{free_port()}")
    start = time.monotonic()
    with pytest.raises(OllamaUnreachable, match="does not answer"):
        gw.chat_stream("m", HELLO).text()
    assert time.monotonic() - start < 5
    assert not gw.reachable()


@pytest.mark.parametrize(
    ("fault", "error", "words"),
    [
        ("http_404", ModelNotFound, "not installed"),
        ("http_500", OllamaError, "HTTP 500: llama runner process has terminated"),
        ("http_503", OllamaBusy, "busy"),
        ("cut_mid_stream", StreamBroken, "broke off mid-way"),
        ("garbage_line", StreamBroken, "not JSON"),
        ("no_done", StreamBroken, "ended before Ollama said it was done"),
    ],
)
def test_each_fault_ends_in_its_error(fault: str, error: type[Snap2ProdError], words: str) -> None:
    with fault_ollama(fault) as url:
        gw = OllamaGateway(url, first_token_timeout_s=5)
        with pytest.raises(error, match=words):
            gw.chat_stream("m", HELLO).text()


def test_a_killed_model_runner_says_it_was_most_likely_memory() -> None:
    with fault_ollama("http_500") as url:
        gw = OllamaGateway(url, first_token_timeout_s=5)
        with pytest.raises(OllamaError) as failed:
            gw.chat_stream("m", HELLO).text()
    assert str(failed.value) == (
        f"Ollama at {url} answered HTTP 500: llama runner process has terminated: signal: killed. Its model runner "
        "was killed, most likely for lack of memory: give Ollama more (its container's memory limit, or the "
        "machine's), or choose a smaller model."
    )


def test_slow_first_byte_times_out_with_a_hint_about_model_loads() -> None:
    with fault_ollama("slow_first_byte", delay_s=3) as url:
        gw = OllamaGateway(url, first_token_timeout_s=0.5)
        start = time.monotonic()
        with pytest.raises(OllamaTimeout, match="may still be loading"):
            gw.chat_stream("m", HELLO).text()
        assert time.monotonic() - start < 3


def test_text_received_before_a_cut_is_kept_by_the_caller() -> None:
    with fault_ollama("cut_mid_stream") as url:
        received: list[str] = []
        with pytest.raises(StreamBroken):
            for piece in OllamaGateway(url).chat_stream("m", HELLO):
                received.append(piece)
        assert "".join(received) == "a a a "


def test_capabilities_are_asked_once_per_digest_and_again_when_the_digest_changes(
    ollama_host: str, text_model: str, vision_model: str
) -> None:
    """What a rerun of the page does: list the models, then ask each one's capabilities by its digest."""
    shows: list[str] = []
    gw = OllamaGateway(ollama_host)
    gw._http.event_hooks["request"].append(lambda request: shows.append(request.url.path))
    name = "snap2prod/caps-cache:test"
    try:
        gw.copy(text_model, name)
        for _ in range(3):
            (first,) = [m for m in gw.list_models() if m.name == name]
            assert "vision" not in gw.capabilities(name, first.digest)
        assert shows.count("/api/show") == 1
        gw.delete(name)
        gw.copy(vision_model, name)  # the same name, now another model: another digest
        (second,) = [m for m in gw.list_models() if m.name == name]
        assert second.digest != first.digest
        assert "vision" in gw.capabilities(name, second.digest)
        assert shows.count("/api/show") == 2
    finally:
        gw.delete(name)
        gw.close()
