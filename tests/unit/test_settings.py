from __future__ import annotations

from pathlib import Path

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


def test_a_models_file_is_read_on_every_use_so_a_new_lock_reaches_a_running_page(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    listed = tmp_path / "models"
    monkeypatch.setenv("SNAP2PROD_MODELS", "ignored:1")
    monkeypatch.setenv("SNAP2PROD_MODELS_FILE", str(listed))
    settings = Settings()
    assert settings.offered_models is None  # configured but not there (yet): nothing is hidden
    listed.write_text("moondream,snap2prod/smollm2:135m")
    assert settings.offered_models == frozenset({"moondream:latest", "snap2prod/smollm2:135m"})
    listed.write_text("llava:7b\n")  # the kubelet swapped the file for the next lock's
    assert settings.offered_models == frozenset({"llava:7b"})


def test_pulling_from_the_page_is_on_unless_the_chart_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().allow_pull
    monkeypatch.setenv("SNAP2PROD_ALLOW_PULL", "false")
    assert not Settings().allow_pull
