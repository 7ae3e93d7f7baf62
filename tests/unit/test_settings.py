from __future__ import annotations

import pytest

from app.settings import Settings, normalize_host


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("localhost", "http://localhost:11434"),
        ("127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("0.0.0.0:11434", "http://127.0.0.1:11434"),
        ("http://ollama.svc:11434/", "http://ollama.svc:11434"),
        ("https://gpu.example.com", "https://gpu.example.com:443"),
        ("", "http://127.0.0.1:11434"),
    ],
)
def test_ollama_host_is_normalized_like_ollama_reads_it(given: str, expected: str) -> None:
    assert normalize_host(given) == expected


def test_settings_read_ollamas_own_variable_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "gpu-box:11434")
    assert Settings().ollama_host == "http://gpu-box:11434"


def test_the_models_a_page_offers_are_all_unless_a_list_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().offered_models is None
    monkeypatch.setenv("SNAP2PROD_MODELS", "moondream, snap2prod/smollm2:135m,")
    assert Settings().offered_models == frozenset({"moondream:latest", "snap2prod/smollm2:135m"})


def test_pulling_from_the_page_is_on_unless_the_chart_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().allow_pull
    monkeypatch.setenv("SNAP2PROD_ALLOW_PULL", "false")
    assert not Settings().allow_pull
