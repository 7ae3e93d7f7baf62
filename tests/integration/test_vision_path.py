"""Real JPEGs go through Ollama's own image path: a synthetic projector on SmolLM2, served by the llama runner.

The model's weights are random, so its text means nothing; what is real is everything around them: Ollama
recognising the projector, reporting the vision capability, decoding the JPEG and turning it into embeddings
in the prompt (llama.cpp's clip/mtmd code).
"""

from __future__ import annotations

import cv2
import httpx
import numpy as np
import pytest

from app.gateway import ChatMessage, ChatStats, OllamaGateway
from scripts.demo import offline_models

OPTIONS = {"seed": 0, "temperature": 0, "num_predict": 4}
QUESTION = "What is in the picture?"


@pytest.fixture(scope="module")
def vision_model(gateway: OllamaGateway) -> str:
    return offline_models.ensure_vision_model(gateway)


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    """A small camera-like picture: an orange box and a blue disc on grey, 160x120, JPEG-encoded by OpenCV."""
    img = np.full((120, 160, 3), 90, np.uint8)
    cv2.rectangle(img, (15, 20), (80, 95), (0, 140, 255), -1)
    cv2.circle(img, (120, 60), 25, (200, 60, 20), -1)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buf.tobytes()


def _chat(gateway: OllamaGateway, model: str, images: tuple[bytes, ...]) -> ChatStats:
    stream = gateway.chat_stream(model, [ChatMessage("user", QUESTION, images=images)], options=OPTIONS)
    stream.text()
    assert stream.stats is not None
    return stream.stats


def test_synthetic_model_reports_the_vision_capability(ollama_host: str, vision_model: str) -> None:
    shown = httpx.post(f"{ollama_host}/api/show", json={"model": vision_model}, timeout=30).json()
    assert "vision" in shown["capabilities"]


def test_chat_with_a_jpeg_completes(gateway: OllamaGateway, vision_model: str, jpeg: bytes) -> None:
    stats = _chat(gateway, vision_model, (jpeg,))
    assert stats.prompt_eval_count > 0
    assert stats.eval_count > 0


def test_the_image_adds_prompt_tokens(gateway: OllamaGateway, vision_model: str, jpeg: bytes) -> None:
    without = _chat(gateway, vision_model, ()).prompt_eval_count
    with_image = _chat(gateway, vision_model, (jpeg,)).prompt_eval_count
    assert with_image > without, (
        f"{with_image=} {without=}; the projector should add {offline_models.IMAGE_TOKENS} image embeddings"
    )
