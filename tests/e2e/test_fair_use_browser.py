"""Fair use on the page in real Chromium: two sessions of one client, one answer at a time per person
(SNAP2PROD_FAIR_USE_RUNNING=1).

The first session's answer is held open for real, in Ollama's own queue: the page's Ollama holds one model at a time
(OLLAMA_MAX_LOADED_MODELS=1) and the test keeps it busy with a long generation of the text model, so the first
session's picture waits for the vision model. The second session's picture is refused in place with the sentence
and keeps its picture (Describe again describes it once the first answer ended); the first answer is not
disturbed; /metrics counts the refusal.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from prometheus_client.parser import text_string_to_metric_families

from scripts import demo
from scripts.demo import ollama_server
from scripts.processes import ManagedProcess, free_port
from tests import colour_pictures as pictures
from tests.conftest import ANSWER_TOKENS
from tests.e2e.test_page_browser import TIMEOUT_MS, description_text

REFUSED = (
    "You already have 1 answer running (the limit per person here is 1); this one was not started. Try again when "
    "one ends — your prompt and picture are kept."
)


class Busy:
    """A long generation of the text model, straight to Ollama (not through the page), until ``stop``."""

    def __init__(self, host: str, model: str) -> None:
        self.started, self._stop = threading.Event(), threading.Event()
        body = {"model": model, "prompt": "1, 2, 3, 4, 5, 6,", "raw": True, "options": {"num_predict": 100_000}}
        self._thread = threading.Thread(target=self._run, args=(host, body), daemon=True)
        self._thread.start()

    def _run(self, host: str, body: dict[str, object]) -> None:
        with httpx.stream("POST", f"{host}/api/generate", json=body, timeout=300) as answer:
            for line in answer.iter_lines():
                if json.loads(line).get("response"):
                    self.started.set()
                if self._stop.is_set():
                    return  # closing the stream cancels the generation

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)


@pytest.fixture
def one_at_a_time(
    tmp_path: Path, vision_model: str, text_model: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, str, int]]:
    """The page with a limit of one running answer per person, on its own Ollama that holds one model at a time;
    yields the page URL, Ollama's URL and the page's /metrics port."""
    metrics_port = free_port()
    monkeypatch.setenv("SNAP2PROD_MAX_ANSWER_TOKENS", str(ANSWER_TOKENS))
    monkeypatch.setenv("SNAP2PROD_FAIR_USE_RUNNING", "1")
    monkeypatch.setenv("SNAP2PROD_METRICS_PORT", str(metrics_port))
    state = tmp_path / "state"
    host = ollama_server.start(state, port=free_port(), tie_to_parent=True, extra_env={"OLLAMA_MAX_LOADED_MODELS": "1"})
    url = demo.start_streamlit(state, free_port(), host, tie_to_parent=True)
    try:
        yield url, host, metrics_port
    finally:
        ManagedProcess(demo.STREAMLIT, state).stop()
        ollama_server.stop(state)


def _open_upload(browser: Browser, url: str) -> Page:
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(url)
    expect(page.get_by_text("reachable at")).to_be_visible(timeout=TIMEOUT_MS)
    page.get_by_text("Upload", exact=True).click()
    expect(page.locator("input[type=file]")).to_have_count(1, timeout=TIMEOUT_MS)
    return page


def _refusals(metrics_port: int) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    return {
        s.labels["reason"]: s.value
        for family in text_string_to_metric_families(text)
        if family.name == "snap2prod_fair_use_refusals"
        for s in family.samples
        if s.name.endswith("_total")
    }


def test_a_second_session_of_the_same_client_is_refused_in_place_and_the_first_is_not_disturbed(
    one_at_a_time: tuple[str, str, int], browser: Browser, text_model: str, tmp_path: Path
) -> None:
    url, host, metrics_port = one_at_a_time
    first, second = _open_upload(browser, url), _open_upload(browser, url)
    red, green = tmp_path / "red.png", tmp_path / "green.png"
    red.write_bytes(pictures.png(pictures.photo("red")))
    green.write_bytes(pictures.png(pictures.photo("green")))
    assert _refusals(metrics_port) == {"running": 0.0, "rate": 0.0}

    busy = Busy(host, text_model)
    try:
        assert busy.started.wait(120), "the text model started generating"
        first.locator("input[type=file]").set_input_files(str(red))
        first.wait_for_timeout(3000)  # its run reaches Ollama's queue (the sidebar and the decode take under 1 s)
        second.locator("input[type=file]").set_input_files(str(green))
        expect(second.locator(".st-key-description [data-testid=stAlert]")).to_have_text(REFUSED, timeout=TIMEOUT_MS)
        expect(second.locator(".st-key-description")).not_to_contain_text("capture #")
        assert _refusals(metrics_port) == {"running": 1.0, "rate": 0.0}
        expect(first.locator(".st-key-description")).not_to_contain_text("capture #")  # still waiting its turn
    finally:
        busy.stop()

    # the first answer arrives, undisturbed, and names its own picture
    expect(first.locator(".st-key-description")).to_contain_text("capture #1 · ", timeout=TIMEOUT_MS)
    expect(first.locator(".st-key-description [data-testid=stAlert]")).to_have_count(0)
    assert pictures.names_only(description_text(first), "red"), description_text(first)

    # the refused session kept its picture: Describe again describes it now that the first answer ended
    second.get_by_role("button", name="Describe again").click()
    expect(second.locator(".st-key-description")).to_contain_text("capture #1 · ", timeout=TIMEOUT_MS)
    expect(second.locator(".st-key-description [data-testid=stAlert]")).to_have_count(0)
    assert pictures.names_only(description_text(second), "green"), description_text(second)
    assert _refusals(metrics_port) == {"running": 1.0, "rate": 0.0}
