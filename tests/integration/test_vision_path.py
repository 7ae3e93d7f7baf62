"""Real JPEGs go through Ollama's own image path: the colour projector on SmolLM2, served by the llama runner.

What is real is everything around the weights: Ollama recognising the projector, reporting the vision capability,
decoding the JPEG and turning it into embeddings in the prompt (llama.cpp's clip/mtmd code). The projector is
built in closed form to see one thing, colour, so these tests also know whether the RIGHT picture was described:
each test colour, flat and as a scene dominated by it, must be named, with the page's default prompt.
"""

from __future__ import annotations

import cv2
import httpx
import numpy as np
import pytest

from app import describe, imaging
from app.catalog import load_catalog
from app.gateway import ChatMessage, ChatStats, OllamaGateway
from scripts.demo import offline_models
from tests import colour_pictures as pictures

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


def test_a_picture_costs_the_image_tokens_the_catalog_states(
    gateway: OllamaGateway, vision_model: str, jpeg: bytes
) -> None:
    """The synthetic model's row of the load matrix (tests/integration/test_catalog_loads.py has the others)."""
    architecture = load_catalog().get(vision_model).architecture
    assert architecture is not None and architecture.image_tokens is not None
    without = _chat(gateway, vision_model, ()).prompt_eval_count
    with_image = _chat(gateway, vision_model, (jpeg,)).prompt_eval_count
    assert with_image - without == architecture.image_tokens, (with_image, without)


def _describe(gateway: OllamaGateway, model: str, picture: bytes) -> str:
    """What the page does with a picture: prepare it and ask with its default prompt and options."""
    prepared = imaging.prepare(picture, describe.native_size(model, None))
    prompt = describe.prompt_text("Describe this picture", "")
    return describe.describe(gateway, prepared, model, prompt, max_tokens=48).text()


@pytest.mark.parametrize("colour", list(pictures.BGR))
@pytest.mark.parametrize("scene", ["plain", "photo"])
def test_the_model_names_the_colour_of_the_picture(
    gateway: OllamaGateway, vision_model: str, colour: str, scene: str
) -> None:
    img = pictures.plain(colour) if scene == "plain" else pictures.photo(colour)
    answer = _describe(gateway, vision_model, pictures.jpeg(img))
    assert pictures.names_only(answer, colour), f"a {scene} {colour} picture was described as: {answer!r}"


def test_a_nearly_black_frame_is_described_as_dark(gateway: OllamaGateway, vision_model: str) -> None:
    """A lens cap or a dark room: the answer is black, whatever was described before."""
    _describe(gateway, vision_model, pictures.jpeg(pictures.plain("yellow")))
    noise = np.random.default_rng(0).normal(6, 3, (240, 320, 3))  # a dark sensor's noise
    frame = np.clip(noise, 0, 255).astype(np.uint8)
    answer = _describe(gateway, vision_model, pictures.jpeg(frame))
    assert pictures.names_only(answer, "black"), answer


def test_a_model_that_sets_its_own_temperature_keeps_it(
    gateway: OllamaGateway, vision_model: str, text_model: str
) -> None:
    """The page's 0.2 is for models that leave sampling to the caller; the colour model's Modelfile says 0."""
    assert gateway.model_temperature(vision_model) == 0.0
    assert describe.options(48, gateway.model_temperature(vision_model))["temperature"] == 0.0
    assert gateway.model_temperature(text_model) == 0.2  # create_offline_model's PARAMETER
    assert gateway.model_temperature("snap2prod-test/not-installed:1") is None
    assert describe.options(48, None)["temperature"] == 0.2


def test_a_follow_up_to_the_vision_model_sees_the_picture_again(gateway: OllamaGateway, vision_model: str) -> None:
    prepared = imaging.prepare(pictures.jpeg(pictures.photo("white")), describe.native_size(vision_model, None))
    prompt = describe.prompt_text("Describe this picture", "")
    said = describe.describe(gateway, prepared, vision_model, prompt, max_tokens=48).text()
    turns = [describe.Turn("user", prompt), describe.Turn("assistant", said)]
    answer = describe.followup(
        gateway,
        vision_model,
        image_jpeg=prepared.jpeg,
        description=said,
        turns=turns,
        question="What colour is the picture?",
        max_tokens=48,
    ).text()
    assert pictures.names_only(answer, "white"), answer
