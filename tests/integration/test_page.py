"""The page's logic through Streamlit's AppTest, against the real Ollama; frames enter through the seam."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from app.history import History
from scripts.processes import free_port
from tests.conftest import jpeg_bytes

PAGE = str(Path(__file__).resolve().parents[2] / "app" / "streamlit_app.py")


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch, ollama_host: str, vision_model: str) -> Iterator[AppTest]:
    monkeypatch.setenv("OLLAMA_HOST", ollama_host)
    st.cache_resource.clear()
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.run()
    at.selectbox(key="model").select(vision_model)
    at.run()
    yield at
    st.cache_resource.clear()


def _texts(at: AppTest) -> str:
    return "\n".join(str(m.value) for m in at.markdown)


def test_status_shows_the_servers_version(page: AppTest) -> None:
    assert any("reachable at" in str(s.value) for s in page.success)
    assert not page.exception


def test_only_vision_models_are_offered_for_pictures(page: AppTest, vision_model: str, text_model: str) -> None:
    options = page.selectbox(key="model").options
    assert vision_model in options
    assert text_model not in options


def test_a_frame_is_described_with_metrics_and_recorded(page: AppTest, vision_model: str) -> None:
    page.session_state["frame_seam"] = jpeg_bytes(1280, 720)
    page.run()
    assert not page.exception and not page.error
    history: History = page.session_state["history"]
    capture = history.latest
    assert capture is not None and capture.description.strip()
    assert capture.description.strip()[:20] in _texts(page)
    labels = {m.label for m in page.metric}
    assert {"TTFT", "tok/s", "image KB sent"} <= labels
    assert any(f"model {vision_model}" in str(c.value) for c in page.caption)
    assert capture.metrics is not None and capture.metrics.image_kb_after < capture.metrics.image_kb_before
    assert capture.model == vision_model


def test_the_same_frame_is_not_described_twice_on_a_rerun(page: AppTest) -> None:
    frame = jpeg_bytes(seed=3)
    page.session_state["frame_seam"] = frame
    page.run()
    page.session_state["frame_seam"] = frame
    page.run()
    assert len(page.session_state["history"].captures) == 1


def test_a_corrupt_file_is_a_clear_error_and_nothing_is_lost(page: AppTest) -> None:
    page.session_state["frame_seam"] = jpeg_bytes(seed=1)
    page.run()
    page.selectbox(key="preset").select("Custom…")
    page.run()
    page.text_area(key="custom_prompt").input("What colour is the circle?")
    page.run()
    page.session_state["frame_seam"] = jpeg_bytes(seed=2)[:300]  # a truncated JPEG
    page.run()
    assert not page.exception
    assert page.error, "a truncated file must show an error"
    assert "JPEG" in page.error[0].value
    assert len(page.session_state["history"].captures) == 1
    assert page.text_area(key="custom_prompt").value == "What colour is the circle?"


def test_follow_up_question_is_answered_and_kept(page: AppTest, text_model: str) -> None:
    page.session_state["frame_seam"] = jpeg_bytes(seed=4)
    page.run()
    page.selectbox(key="chat_model").select(text_model)
    page.run()
    page.chat_input(key="followup").set_value("Is it day or night?").run()
    assert not page.exception and not page.error
    chat = page.session_state["history"].latest.chat
    assert [t.role for t in chat] == ["user", "assistant"]
    assert chat[0].content == "Is it day or night?" and chat[1].content.strip()


def test_history_exports_json_with_thumbnails_and_clears(page: AppTest) -> None:
    page.session_state["frame_seam"] = jpeg_bytes(seed=5)
    page.run()
    history: History = page.session_state["history"]
    exported = json.loads(history.export_json())
    assert exported["captures"][0]["thumbnail_jpeg_base64"]
    page.button(key="clear_history").click().run()
    assert page.session_state["history"].captures == []


def test_ollama_down_is_a_clear_error_and_the_page_keeps_working(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{free_port()}")
    st.cache_resource.clear()
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception
    assert any("does not answer" in e.value for e in at.error)
    at.selectbox(key="preset").select("Count the people").run()
    assert not at.exception
    assert at.selectbox(key="preset").value == "Count the people"
    st.cache_resource.clear()
