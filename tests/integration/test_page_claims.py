"""The README's claims about the page, proven on the page (Streamlit's AppTest) against the real Ollama.

Every error the README promises "in place" is made to happen for real: Ollama frozen (slow), stopped (down) or
killed in the middle of an answer (cut off), the chosen model deleted or replaced by one that cannot see, a
picture over the pixel or the byte limit. Each test asserts the whole sentence as the page shows it in the
Description panel, and that the prompt, the chosen model and the capture made before the error are all kept.

Then the page's own metrics wiring (one description moves what its ``/metrics`` serves by exactly one), the Live
tab with a real host-camera video, a follow-up answered by the vision model (the request to Ollama carries the
picture again, and Ollama evaluates more prompt tokens for it), and one conversation per capture.

``tests/fault_ollama.py`` cannot stand in for Ollama on the page: it answers every GET with a version only, so
the sidebar's ``/api/ps`` fails to parse and no model is listed. The faults are made on real servers instead.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
import streamlit as st
from prometheus_client import start_wsgi_server
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from streamlit.testing.v1 import AppTest, app_test
from streamlit.testing.v1.element_tree import Block

from app.gateway import ChatMessage, OllamaGateway
from app.history import Capture
from app.metrics import Telemetry
from app.metrics import start as process_telemetry
from scripts.demo import ollama_server
from scripts.processes import ManagedProcess, free_port
from tests import colour_pictures as pictures
from tests.conftest import PAGE_GROUP, jpeg_bytes
from tests.integration import test_page as tp
from tests.integration.test_page import RecordingStorage, offered, open_page, state, take_photo, upload

pytestmark = pytest.mark.xdist_group(PAGE_GROUP)  # one worker: the modules share a model tag

# the fixtures of test_page, re-exported so pytest finds them here
catalog_file = tp.catalog_file
second_vision_model = tp.second_vision_model
page = tp.page
own_ollama = tp.own_ollama
video = tp.video

PROMPT = "What colour is the circle in the middle of the picture?"
THROWAWAY = "snap2prod/smolvlm-synthetic:throwaway"


# --- helpers -------------------------------------------------------------------------------------------------


def block(at: AppTest, key: str) -> Block:
    """The container the page made with ``st.container(key=key)`` (its id ends with the key)."""
    found: list[Block] = []

    def walk(node: Any) -> None:
        if isinstance(node, Block):
            if str(getattr(node.proto, "id", "")).endswith(f"-{key}"):
                found.append(node)
            for child in node.children.values():
                walk(child)

    walk(at.main)
    walk(at.sidebar)
    assert len(found) == 1, f"one container keyed {key!r} on the page, found {len(found)}"
    return found[0]


def errors_in(at: AppTest, key: str) -> list[str]:
    return [str(e.value) for e in block(at, key).error]


def ask_own_prompt(at: AppTest) -> None:
    """The person's own prompt; also one the synthetic model answers in a dozen tokens (a preset can take 512)."""
    at.selectbox(key="preset").select("Custom…").run()
    at.text_area(key="custom_prompt").input(PROMPT).run()


def a_capture_with_a_custom_prompt(at: AppTest, model: str, seed: int) -> Capture:
    """Choose ``model`` and the person's own prompt, and take one photo that is described: the history before."""
    at.selectbox(key="model").select(model).run()
    ask_own_prompt(at)
    take_photo(at, jpeg_bytes(640, 480, seed=seed))
    assert not at.exception and not at.error
    first = state(at).history.latest
    assert first is not None and first.id == 1 and first.description.strip() and not first.error
    assert first.model == model and first.prompt == PROMPT
    return first


def assert_kept(at: AppTest, model: str, first: Capture) -> None:
    """The prompt, the chosen model and the capture from before are all still there, on the page."""
    assert not at.exception
    assert at.selectbox(key="model").value == model
    assert at.selectbox(key="preset").value == "Custom…"
    assert at.text_area(key="custom_prompt").value == PROMPT
    assert state(at).history.captures[0] is first
    kept = block(at, "capture-1")
    shown = [str(m.value) for m in kept.markdown]
    assert f"**#1** · {model} · browser camera · _{PROMPT}_" in shown
    assert first.description.strip() in [s.strip() for s in shown]  # Markdown drops trailing whitespace


def pid_of(state_dir: Path) -> int:
    record = ManagedProcess("ollama", state_dir).info()
    assert record is not None, "the test's own Ollama runs"
    pid = record["pid"]
    assert isinstance(pid, int)
    return pid


def warm(host: str, model: str) -> None:
    """Load ``model`` with a picture on the test's own Ollama, so the page's first photo is answered promptly."""
    gw = OllamaGateway(host)
    try:
        gw.chat_stream(model, [ChatMessage("user", "Describe", images=(jpeg_bytes(seed=1),))]).text()
    finally:
        gw.close()


# --- metrics the page serves ---------------------------------------------------------------------------------


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
"""Every sample of a registry: (name, labels) → value."""


def samples_of(families: Iterable[Metric]) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value for family in families for s in family.samples}


def page_telemetry() -> Telemetry:
    """The process's one Telemetry: the object the page's gateway reports to (``st.cache_resource`` holds it)."""
    return process_telemetry()


def scraped(telemetry: Telemetry) -> Samples:
    """The page's metrics read from its registry directly (what its ``/metrics`` would serve)."""
    return samples_of(telemetry.registry.collect())


@pytest.fixture
def scrape(page: AppTest) -> Iterator[Callable[[], Samples]]:
    """Read the page's metrics over HTTP, as Prometheus does: the page's registry on a port of the test's own.

    After ``page``: the page, not this fixture, creates the process's Telemetry (with the page's environment)."""
    port = free_port()
    server, thread = start_wsgi_server(port, "127.0.0.1", registry=page_telemetry().registry)

    def read() -> Samples:
        served = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30)
        served.raise_for_status()
        return samples_of(text_string_to_metric_families(served.text))

    yield read
    server.shutdown()
    server.server_close()
    thread.join(5)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of one metric over the series whose labels include ``labels`` (over every model label)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


# --- 1. every error in place, and nothing chosen is lost -----------------------------------------------------


def test_a_slow_ollama_is_said_in_place_and_the_prompt_model_and_history_stay(
    monkeypatch: pytest.MonkeyPatch,
    own_ollama: tuple[str, Path, int],
    catalog_file: Path,
    vision_model: str,
) -> None:
    host, state_dir, _ = own_ollama
    warm(host, vision_model)
    at = open_page(monkeypatch, host, catalog_file, SNAP2PROD_FIRST_TOKEN_TIMEOUT_S="20")
    first = a_capture_with_a_custom_prompt(at, vision_model, seed=101)

    pid = pid_of(state_dir)
    os.kill(pid, signal.SIGSTOP)  # Ollama still accepts connections (the kernel does) but answers nothing
    try:
        take_photo(at, jpeg_bytes(640, 480, seed=102))
    finally:
        os.kill(pid, signal.SIGCONT)
    assert errors_in(at, "description") == [
        f"Ollama at {host} gave no first token within 20 s. A large model may still be loading; try again, "
        "or pick a smaller model."
    ]
    assert_kept(at, vision_model, first)
    st.cache_resource.clear()


def described_by_a_model_then_deleted(
    monkeypatch: pytest.MonkeyPatch,
    ollama_host: str,
    gateway: OllamaGateway,
    vision_model: str,
    catalog_file: Path,
    seed: int,
) -> tuple[AppTest, Capture]:
    """A photo described by a throwaway copy of the vision model, which is then deleted from the real Ollama."""
    gateway.copy(vision_model, THROWAWAY)
    try:
        at = open_page(monkeypatch, ollama_host, catalog_file)
        return at, a_capture_with_a_custom_prompt(at, THROWAWAY, seed=seed)
    finally:
        gateway.delete(THROWAWAY)


def test_a_chosen_model_deleted_before_the_photo_is_said_in_place_and_the_prompt_model_and_history_stay(
    monkeypatch: pytest.MonkeyPatch, ollama_host: str, gateway: OllamaGateway, vision_model: str, catalog_file: Path
) -> None:
    at, first = described_by_a_model_then_deleted(monkeypatch, ollama_host, gateway, vision_model, catalog_file, 111)
    take_photo(at, jpeg_bytes(640, 480, seed=112))
    assert errors_in(at, "description") == [
        f"Model '{THROWAWAY}' is not installed on this Ollama. Pull it: `snap2prod models pull {THROWAWAY}`."
    ]
    assert_kept(at, THROWAWAY, first)
    st.cache_resource.clear()


def test_a_follow_up_to_a_capture_whose_model_was_deleted_says_it_is_not_installed_in_place(
    monkeypatch: pytest.MonkeyPatch, ollama_host: str, gateway: OllamaGateway, vision_model: str, catalog_file: Path
) -> None:
    """Where the page does reach that sentence: the Follow-up tab still offers the model that described the capture."""
    at, first = described_by_a_model_then_deleted(monkeypatch, ollama_host, gateway, vision_model, catalog_file, 116)
    assert at.selectbox(key="chat_model").value == THROWAWAY
    at.chat_input(key="followup").set_value("Is the circle red?").run()
    assert not at.exception
    (answer,) = [m for m in at.chat_message if m.name == "assistant"]
    assert [str(e.value) for e in answer.error] == [
        f"Model '{THROWAWAY}' is not installed on this Ollama. Pull it: `snap2prod models pull {THROWAWAY}`."
    ]
    assert at.selectbox(key="chat_model").value == THROWAWAY
    assert at.text_area(key="custom_prompt").value == PROMPT
    assert state(at).history.captures == [first] and first.chat == []  # a question that failed is no turn
    assert first.description in [str(m.value) for m in block(at, "capture-1").markdown]
    st.cache_resource.clear()


def test_a_chosen_model_that_can_no_longer_see_is_said_in_place_and_the_prompt_model_and_history_stay(
    monkeypatch: pytest.MonkeyPatch,
    ollama_host: str,
    gateway: OllamaGateway,
    vision_model: str,
    text_model: str,
    catalog_file: Path,
) -> None:
    """The page offers only vision models; a model stops seeing when its tag is replaced by a text model."""
    gateway.copy(vision_model, THROWAWAY)
    try:
        at = open_page(monkeypatch, ollama_host, catalog_file)
        first = a_capture_with_a_custom_prompt(at, THROWAWAY, seed=121)
        gateway.copy(text_model, THROWAWAY)  # the same name, now a model without the vision capability
        take_photo(at, jpeg_bytes(640, 480, seed=122))
    finally:
        gateway.delete(THROWAWAY)
    assert errors_in(at, "description") == [
        f"Model '{THROWAWAY}' cannot see images. Pick a vision model such as moondream, llava or llava-phi3 "
        "(`snap2prod models pull moondream`)."
    ]
    assert_kept(at, THROWAWAY, first)
    st.cache_resource.clear()


def big_jpeg(width: int, height: int) -> bytes:
    """A real JPEG of that size: a gradient with a circle, which compresses well however many pixels it has."""
    x = np.linspace(0, 255, width, dtype=np.uint8)
    image = np.ascontiguousarray(np.broadcast_to(x[None, :, None], (height, width, 3)))
    cv2.circle(image, (width // 2, height // 2), min(width, height) // 4, (20, 40, 220), -1)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return buf.tobytes()


def test_a_picture_over_the_pixel_limit_is_said_in_place_and_the_prompt_model_and_history_stay(
    page: AppTest, vision_model: str
) -> None:
    first = a_capture_with_a_custom_prompt(page, vision_model, seed=131)
    data = big_jpeg(8000, 7000)  # 56 megapixels
    assert len(data) < 20_000_000  # over the pixel limit only, not the byte limit
    upload(page, "panorama.jpg", data)
    assert errors_in(page, "description") == [
        "The image is 8000×7000 pixels (56 megapixels); the limit is 50 megapixels. Send a smaller picture."
    ]
    assert len(state(page).history.captures) == 1
    assert_kept(page, vision_model, first)


def test_a_picture_over_the_byte_limit_is_said_in_place_and_the_prompt_model_and_history_stay(
    page: AppTest, vision_model: str
) -> None:
    first = a_capture_with_a_custom_prompt(page, vision_model, seed=141)
    rng = np.random.default_rng(141)
    noise = rng.integers(0, 256, (3000, 2500, 3), dtype=np.uint8)  # 7.5 megapixels, within the pixel limit
    ok, buf = cv2.imencode(".png", noise, [cv2.IMWRITE_PNG_COMPRESSION, 0])
    assert ok
    data = buf.tobytes()
    # stored, not compressed: 3 bytes a pixel plus one filter byte a row, and the chunks' few hundred bytes
    assert 22_503_000 < len(data) < 22_550_000
    upload(page, "scan.png", data, "image/png")
    assert errors_in(page, "description") == ["The file is 22.5 MB; the limit is 20.0 MB. Send a smaller picture."]
    assert len(state(page).history.captures) == 1
    assert_kept(page, vision_model, first)


def test_an_empty_file_is_said_in_place_and_the_prompt_model_and_history_stay(page: AppTest, vision_model: str) -> None:
    """A 0-byte upload once raised out of the page (a traceback box): it is a bad file like any other."""
    first = a_capture_with_a_custom_prompt(page, vision_model, seed=145)
    upload(page, "empty.jpg", b"")
    assert not page.exception
    assert errors_in(page, "description") == ["The file is empty (0 bytes), so there is no picture to describe."]
    assert len(state(page).history.captures) == 1
    assert_kept(page, vision_model, first)


def test_a_prompt_stops_at_the_length_limit_on_the_page_and_never_reaches_ollama_longer(
    page: AppTest, vision_model: str, chat_requests: list[dict[str, Any]]
) -> None:
    """The field stops at 2,000 characters as typed; a longer value sent for the widget (as a script could) is cut
    there by Streamlit before the page runs. The core refuses a longer prompt in a sentence (tests/unit)."""
    a_capture_with_a_custom_prompt(page, vision_model, seed=147)
    book = "Describe every detail. " * 100  # 2,300 characters
    page.text_area(key="custom_prompt").input(book).run()
    assert page.text_area(key="custom_prompt").value == PROMPT  # typing stops at the limit: nothing was taken
    page.text_area(key="custom_prompt").set_value(book).run()
    take_photo(page, jpeg_bytes(640, 480, seed=148))
    assert not page.exception and not page.error
    sent = chat_requests[-1]["messages"][-1]["content"]
    assert len(chat_requests) == 2 and sent == book[:2000]


def test_ollama_down_is_said_in_place_and_the_prompt_model_and_history_stay(
    monkeypatch: pytest.MonkeyPatch, own_ollama: tuple[str, Path, int], catalog_file: Path, vision_model: str
) -> None:
    host, state_dir, _ = own_ollama
    at = open_page(monkeypatch, host, catalog_file)
    first = a_capture_with_a_custom_prompt(at, vision_model, seed=151)

    ollama_server.stop(state_dir)
    take_photo(at, jpeg_bytes(640, 480, seed=152))
    sentence = (
        f"Ollama does not answer at {host} ([Errno 111] Connection refused). Start it (`make demo` or "
        "`snap2prod up` does), or point OLLAMA_HOST at a running server."
    )
    assert errors_in(at, "description") == [sentence]
    assert errors_in(at, "ollama-status") == [sentence]  # the sidebar says it too
    assert_kept(at, vision_model, first)
    st.cache_resource.clear()


def test_an_answer_cut_off_mid_way_is_said_in_place_under_what_arrived_and_the_prompt_model_and_history_stay(
    monkeypatch: pytest.MonkeyPatch, own_ollama: tuple[str, Path, int], catalog_file: Path, vision_model: str
) -> None:
    host, state_dir, _ = own_ollama
    at = open_page(monkeypatch, host, catalog_file)
    first = a_capture_with_a_custom_prompt(at, vision_model, seed=161)
    history = state(at).history
    pid = pid_of(state_dir)
    killed_after: list[str] = []

    def kill_once_the_answer_streams() -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            latest = history.latest
            if latest is not None and latest.id == 2 and latest.description:
                killed_after.append(latest.description)
                os.killpg(pid, signal.SIGKILL)  # Ollama and its runner die: the connection drops mid-answer
                return
            time.sleep(0.002)

    killer = threading.Thread(target=kill_once_the_answer_streams, daemon=True)
    killer.start()
    take_photo(at, jpeg_bytes(640, 480, seed=162))
    killer.join(5)
    assert killed_after, "the second answer began to stream"

    cut = history.captures[1]
    assert cut.description.startswith(killed_after[0])  # what arrived before the cut is kept
    description = block(at, "description")
    assert [str(m.value) for m in description.markdown] == [cut.description]
    assert errors_in(at, "description") == [
        f"The answer from Ollama at {host} broke off mid-way (peer closed connection without sending complete "
        "message body (incomplete chunked read)). Try again."
    ]
    assert_kept(at, vision_model, first)
    st.cache_resource.clear()


# --- 2. the page's own metrics --------------------------------------------------------------------------------


def test_one_photo_described_on_the_page_moves_the_metrics_it_serves_by_exactly_one(
    page: AppTest, scrape: Callable[[], Samples]
) -> None:
    ask_own_prompt(page)
    raw = jpeg_bytes(1280, 720, seed=201)
    before = scrape()
    take_photo(page, raw)
    after = scrape()
    assert not page.exception and not page.error

    def moved(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert moved("snap2prod_chat_requests_total", outcome="ok") == 1
    assert moved("snap2prod_chat_requests_total") == 1  # and no request failed
    assert moved("snap2prod_chat_ttft_seconds_count") == 1
    assert moved("snap2prod_chat_duration_seconds_count") == 1
    assert moved("snap2prod_image_bytes_count", stage="original") == 1
    assert moved("snap2prod_image_bytes_sum", stage="original") == len(raw)  # the photo's bytes as taken
    # the caption under the description says how many tokens came; the counter moved by as many
    (shown,) = [str(c.value) for c in block(page, "metrics").caption if " tokens in " in str(c.value)]
    found = re.search(r" · (\d+) tokens in ", shown)
    assert found is not None, shown
    assert moved("snap2prod_chat_generated_tokens_total") == int(found.group(1)) > 0


# --- 3. the Live tab ------------------------------------------------------------------------------------------

LIVE_CAPTION = re.compile(r"^frame age (\d+\.\d) s · described (\d+) · replaced before use (\d+) · (idle|describing…)$")


def test_live_mode_describes_host_camera_frames_and_counts_those_replaced_while_one_was_described(
    monkeypatch: pytest.MonkeyPatch, ollama_host: str, vision_model: str, video: Path
) -> None:
    intervals: list[object] = []
    real_fragment = st.fragment

    def fragment(func: Any = None, *, run_every: Any = None) -> Any:
        intervals.append(run_every)
        return real_fragment(func, run_every=run_every)

    monkeypatch.setattr(st, "fragment", fragment)  # AppTest has no clock: see which interval the page asks for
    at = open_page(monkeypatch, ollama_host, None, SNAP2PROD_CAMERA=str(video))
    at.selectbox(key="model").select(vision_model).run()  # with the page's default prompt, so it names the colour
    assert [str(c.value) for c in block(at, "live-result").caption] == ["live mode is off"]
    telemetry = page_telemetry()
    dropped_before = total(scraped(telemetry), "snap2prod_live_frames_dropped_total")
    sizes_before = total(scraped(telemetry), "snap2prod_image_bytes_sum", stage="original")
    counts_before = total(scraped(telemetry), "snap2prod_image_bytes_count", stage="original")

    at.slider(key="live_every").set_value(3).run()
    intervals.clear()
    started = time.monotonic()
    at.toggle(key="live").set_value(True).run()
    assert intervals == [3]
    assert [str(c.value) for c in block(at, "live-result").caption] == ["waiting for the first frame…"]
    live = state(at).live
    assert live is not None
    runs_on = 1  # each run with live mode on takes one frame from the host camera: the fragment's body
    deadline = time.monotonic() + 300
    while (live.described < 1 or live.inbox.dropped < 1) and time.monotonic() < deadline:
        at.run()
        assert not at.exception and not at.error
        runs_on += 1
    last_on = time.monotonic()
    while (live.busy or live.inbox.pending) and time.monotonic() < deadline:
        time.sleep(0.05)  # no run, so no new frame: the last one waiting gets described
    assert not live.busy and not live.inbox.pending
    time.sleep(1.5)

    intervals.clear()
    final_start = time.monotonic()
    at.toggle(key="live").set_value(False).run()
    final_end = time.monotonic()
    assert intervals == [None]
    result = block(at, "live-result")
    (caption,) = [str(c.value) for c in result.caption]
    shown = LIVE_CAPTION.match(caption)
    assert shown is not None, caption
    age, described, replaced, busy = float(shown[1]), int(shown[2]), int(shown[3]), shown[4]
    assert busy == "idle"
    assert described >= 1 and replaced >= 1
    assert described + replaced == runs_on, "every frame taken was either described or replaced by a newer one"
    # the last frame described was taken during the last run with live mode on, and the panel was drawn after
    assert final_start - last_on - 0.1 <= age <= final_end - started + 0.1
    assert age >= 1.5
    assert not result.error
    (text,) = [str(m.value) for m in result.markdown]
    assert pictures.names_only(text, tp.HOST_CAMERA_COLOUR), text  # the newest frame's description, not noise
    # the frames described came from the 800×600 video, decoded: 800·600·3 bytes each, as the metrics say
    assert total(scraped(telemetry), "snap2prod_image_bytes_count", stage="original") - counts_before == described
    assert (
        total(scraped(telemetry), "snap2prod_image_bytes_sum", stage="original") - sizes_before
        == described * 800 * 600 * 3
    )
    assert total(scraped(telemetry), "snap2prod_live_frames_dropped_total") - dropped_before == replaced
    deadline = time.monotonic() + 10
    while live.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not live.running, "live mode off stops the describer"
    st.cache_resource.clear()


# --- 4. follow-up -------------------------------------------------------------------------------------------------


@pytest.fixture
def chat_requests(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The body of every ``/api/chat`` request the page sends; the real Ollama still answers each one."""
    sent: list[dict[str, Any]] = []
    real_send = httpx.Client.send

    def send(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        if request.url.path.endswith("/api/chat"):
            sent.append(json.loads(request.content))
        return real_send(self, request, **kwargs)

    monkeypatch.setattr(httpx.Client, "send", send)
    return sent


def unload(gateway: OllamaGateway, model: str) -> None:
    """Unload the model, so Ollama evaluates the next prompt in full (no prefix cached from the last one).

    Tags of the same model share one runner: wait until none with the same digest is loaded."""
    httpx.post(f"{gateway.host}/api/generate", json={"model": model, "keep_alive": 0}, timeout=120).raise_for_status()
    (digest,) = [m.digest for m in gateway.list_models() if m.name == model]
    deadline = time.monotonic() + 60
    while any(m.digest == digest for m in gateway.ps()):
        assert time.monotonic() < deadline, f"{model} is still loaded"
        time.sleep(0.2)


def prompt_tokens(gateway: OllamaGateway, body: dict[str, Any]) -> int:
    reply = httpx.post(f"{gateway.host}/api/chat", json={**body, "stream": False}, timeout=300)
    reply.raise_for_status()
    return int(reply.json()["prompt_eval_count"])


def test_a_follow_up_is_answered_by_the_vision_model_which_is_sent_the_picture_again(
    page: AppTest, gateway: OllamaGateway, vision_model: str, chat_requests: list[dict[str, Any]]
) -> None:
    ask_own_prompt(page)
    take_photo(page, jpeg_bytes(1280, 720, seed=301))
    (described,) = chat_requests
    (picture,) = described["messages"][0]["images"]
    # no chat model in this catalog: the follow-up is answered by the model that described the picture
    assert page.selectbox(key="chat_model").value == vision_model

    unload(gateway, vision_model)
    telemetry = page_telemetry()
    before = total(scraped(telemetry), "snap2prod_chat_prompt_tokens_total")
    page.chat_input(key="followup").set_value("Is the circle red or blue?").run()
    evaluated = total(scraped(telemetry), "snap2prod_chat_prompt_tokens_total") - before
    assert not page.exception and not page.error

    followup = chat_requests[-1]
    assert len(chat_requests) == 2 and followup["model"] == vision_model
    # SNAP2PROD_MAX_ANSWER_TOKENS (64 on the pages under test) caps both answers, the description and the follow-up
    assert [r["options"]["num_predict"] for r in chat_requests] == [64, 64]
    question = followup["messages"][-1]
    assert question["role"] == "user" and question["content"] == "Is the circle red or blue?"
    assert question.get("images") == [picture], "the vision model is sent the same picture it described"
    # Ollama evaluated the picture: the same request without it is fewer prompt tokens
    without_picture = {
        **followup,
        "messages": [{k: v for k, v in m.items() if k != "images"} for m in followup["messages"]],
    }
    unload(gateway, vision_model)
    assert 0 < prompt_tokens(gateway, without_picture) < evaluated
    answer = [str(m.markdown[0].value) for m in page.chat_message if m.name == "assistant"]
    assert len(answer) == 1 and answer[0].strip()


def test_each_capture_keeps_its_own_conversation(
    page: AppTest, monkeypatch: pytest.MonkeyPatch, vision_model: str, chat_requests: list[dict[str, Any]]
) -> None:
    monkeypatch.setattr(app_test, "MemoryMediaFileStorage", RecordingStorage)

    def conversation() -> list[tuple[str, str]]:
        return [(str(m.name), str(m.markdown[0].value)) for m in block(page, "chat").chat_message]

    ask_own_prompt(page)
    take_photo(page, jpeg_bytes(640, 480, seed=311))
    page.chat_input(key="followup").set_value("What is in the middle?").run()
    page.run()  # the conversation is drawn from the capture at the top of the tab on the next run
    first = conversation()
    assert [who for who, _ in first] == ["user", "assistant"] and first[0][1] == "What is in the middle?"

    take_photo(page, jpeg_bytes(640, 480, seed=312))
    assert conversation() == [], "a new capture starts a new conversation"
    page.chat_input(key="followup").set_value("And what is around it?").run()
    page.run()
    second = conversation()
    assert [who for who, _ in second] == ["user", "assistant"] and second[0][1] == "And what is around it?"
    # the second question went to Ollama without the first conversation, with the second picture
    asked = chat_requests[-1]["messages"]
    assert [m["content"] for m in asked if m["role"] != "system"] == ["And what is around it?"]
    assert asked[-1].get("images") == chat_requests[-2]["messages"][0]["images"]

    # the page shows only the latest capture's conversation; each capture's own is in what the page exports
    exported = json.loads(offered(page, "export_json"))["captures"]
    assert [[(t["role"], t["content"]) for t in c["chat"]] for c in exported] == [first, second]
