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
