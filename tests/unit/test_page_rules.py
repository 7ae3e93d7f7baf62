"""The page's rules, kept out of the page: which note a model gets, which model answers follow-ups, what to pull
and how, how a picture is prepared from the picture as taken, and the session chart's series."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from app import catalog as cat
from app.camera import Frame
from app.catalog import Catalog, CatalogEntry, Role, Runs, load_catalog
from app.describe import Metrics, check_prompt
from app.errors import ImageRejected, PromptTooLong
from app.history import History
from app.imaging import PreparedImage
from app.session import PageState, Picture
from tests.conftest import jpeg_bytes

DISC = (20, 40, 220)
"""BGR of the filled disc ``jpeg_bytes`` draws at the centre of every test picture."""


def centre_colour(image: PreparedImage) -> tuple[int, ...]:
    """The centre pixel of the JPEG that would be sent, decoded again."""
    sent = cv2.imdecode(np.frombuffer(image.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert sent is not None, "the prepared bytes are not a JPEG"
    return tuple(int(v) for v in sent[sent.shape[0] // 2, sent.shape[1] // 2])


def assert_near(colour: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 40) -> None:
    assert max(abs(a - e) for a, e in zip(colour, expected, strict=True)) <= tolerance, (colour, expected)


def test_only_a_synthetic_model_gets_the_synthetic_note() -> None:
    assert cat.model_note("snap2prod/smolvlm-synthetic:135m") == (
        "A synthetic model that sees only colour: it names a picture's colour (red, green, blue, yellow, white or "
        "black) and nothing else — no shapes, text or people."
    )
    assert cat.model_note("moondream:latest") == ""
    assert cat.model_note("synthetic-host:5000/ns/llava:7b") == ""  # a registry's name is not the model's


def test_follow_ups_default_to_a_registry_chat_model_else_the_describing_model() -> None:
    catalog = load_catalog()
    assert cat.preferred_chat_model(["llava:7b", "mistral:latest"], "llava:7b", catalog) == "mistral:latest"
    # the offline stand-in (made from a Modelfile) is no better than the vision model itself
    assert cat.preferred_chat_model(["snap2prod/smollm2:135m"], "llava:7b", catalog) == "llava:7b"
    assert cat.preferred_chat_model(["mistral:latest"], "llava:7b", None) == "llava:7b"


def test_pullable_models_are_the_registry_ones_not_installed_in_catalog_order() -> None:
    """One entry must go for being installed, one for coming from a Modelfile, and the two that stay are not in
    alphabetical order: dropping any of the three rules changes the list."""
    catalog = Catalog(
        models=(
            CatalogEntry(name="zeta:1", role=Role.CHAT, size_gb=1),
            CatalogEntry(name="local:1", role=Role.CHAT, size_gb=1, modelfile="local.Modelfile"),
            CatalogEntry(name="beta:1", role=Role.CHAT, size_gb=1),
            CatalogEntry(name="alpha:1", role=Role.CHAT, size_gb=1),
        )
    )
    assert cat.pullable(catalog, ["beta:1"]) == ["zeta:1", "alpha:1"]


def _with_one_refused() -> Catalog:
    old = Runs(loads=False, source="s", why="its architecture is gone", error="unknown arch", instead="new:1")
    return Catalog(
        models=(
            CatalogEntry(name="old:1", role=Role.CHAT, size_gb=1, ollama={"9.9.9": old}),
            CatalogEntry(name="new:1", role=Role.CHAT, size_gb=1, ollama={"9.9.9": Runs(loads=True, source="it is")}),
        )
    )


def test_a_model_the_servers_version_cannot_run_is_not_offered_for_pulling() -> None:
    assert cat.pullable(_with_one_refused(), [], "9.9.9") == ["new:1"]
    assert cat.pullable(_with_one_refused(), [], "9.9.8") == ["old:1", "new:1"], "another version was not checked"


def test_the_refusal_says_why_and_what_to_use_instead() -> None:
    refused = cat.unrunnable(_with_one_refused(), ["old:1", "new:1", "elsewhere:1"], "9.9.9")
    assert list(refused) == ["old:1"]
    assert "old:1 does not run on Ollama 9.9.9: its architecture is gone. Use new:1 instead" in refused["old:1"]


def test_without_a_catalog_nothing_is_pullable() -> None:
    assert cat.pullable(None, []) == []


@pytest.mark.parametrize(
    ("name", "insecure"),
    [
        ("127.0.0.1:5000/snap2prod/smollm2:135m", True),
        ("localhost:5000/snap2prod/smollm2:135m", True),
        ("registry.example.com/snap2prod/smollm2:135m", False),
        ("snap2prod/smollm2:135m", False),
        ("moondream:latest", False),
    ],
)
def test_only_a_loopback_registry_is_pulled_over_plain_http(name: str, insecure: bool) -> None:
    assert cat.pull_insecure(name) is insecure


def test_a_picture_is_prepared_from_the_bytes_as_taken_once_per_size() -> None:
    """1280×720 is 16:9: 224 on the long side gives 224×126, 336 gives 336×189 (worked out by hand)."""
    raw = jpeg_bytes(1280, 720, seed=7)
    picture = Picture("upload", data=raw)
    first = picture.prepare(224)
    assert (first.original_width, first.original_height, first.original_bytes) == (1280, 720, len(raw))
    assert (first.sent_width, first.sent_height) == (224, 126)
    assert_near(centre_colour(first), DISC)
    assert picture.prepare(224) is first
    assert picture.again().prepare(224) is first and picture.again().source == "again: upload"
    assert picture.again().again().source == "again: upload"
    second = picture.prepare(336)
    assert (second.sent_width, second.sent_height) == (336, 189)
    assert_near(centre_colour(second), DISC)


def test_a_host_camera_frame_goes_through_frame_prepare_without_a_jpeg_round_trip() -> None:
    image = cv2.imdecode(np.frombuffer(jpeg_bytes(800, 600, seed=8), np.uint8), cv2.IMREAD_COLOR)
    frame = Frame(image, seq=3, at=time.monotonic())
    picture = Picture("host camera 0", frame=frame)
    prepared = picture.prepare(224)
    assert prepared.original_bytes == 800 * 600 * 3 and prepared.format == "frame"
    assert (prepared.sent_width, prepared.sent_height) == (224, 168)  # 600 * 224 / 800
    assert_near(centre_colour(prepared), DISC)
    assert picture.digest != Picture("host camera 0", frame=Frame(image, seq=4, at=frame.at)).digest


def test_a_picture_holds_bytes_or_a_frame_and_empty_bytes_are_a_bad_file_not_a_crash() -> None:
    image = cv2.imdecode(np.frombuffer(jpeg_bytes(seed=9), np.uint8), cv2.IMREAD_COLOR)
    with pytest.raises(ValueError, match="either bytes or a frame"):
        Picture("both", data=b"x", frame=Frame(image, seq=1, at=0.0))
    with pytest.raises(ImageRejected) as err:
        Picture("upload", data=b"").prepare(224)
    assert str(err.value) == "The file is empty (0 bytes), so there is no picture to describe."


def test_the_session_chart_has_a_series_per_unit() -> None:
    history = History()
    for i, (ttft, tps) in enumerate([(2500.0, 40.0), (1800.0, 55.0)]):
        capture = history.add(source="s", model="m", prompt="p", image_jpeg=jpeg_bytes(seed=i))
        capture.metrics = Metrics("m", ttft, ttft * 2, tps, 10, 100.0, 10.0, 5.0)
    assert history.metrics_series() == {
        "TTFT ms": [{"capture": 1, "TTFT ms": 2500.0}, {"capture": 2, "TTFT ms": 1800.0}],
        "tok/s": [{"capture": 1, "tok/s": 40.0}, {"capture": 2, "tok/s": 55.0}],
    }


def test_page_state_is_one_object_per_session_and_clearing_keeps_nothing_of_the_captures() -> None:
    session: dict[str, object] = {}
    state = PageState.of(session)
    assert PageState.of(session) is state
    state.history.add(source="s", model="m", prompt="p", image_jpeg=jpeg_bytes())
    state.last_picture = Picture("upload", data=jpeg_bytes())
    state.clear()
    assert state.history.captures == [] and state.last_picture is None and state.compare_results == []


def test_a_session_keeps_its_last_50_captures_and_says_how_many_were_dropped() -> None:
    history = History()
    for i in range(53):
        history.add(source="s", model="m", prompt="p", image_jpeg=bytes([i]))
    assert len(history.captures) == 50 and history.dropped == 3
    assert [c.id for c in history.captures[:2]] == [4, 5] and history.captures[-1].id == 53
    history.clear()
    assert history.captures == [] and history.dropped == 0


def test_a_prompt_over_2000_characters_is_refused_in_a_sentence() -> None:
    check_prompt("x" * 2000)
    with pytest.raises(PromptTooLong) as err:
        check_prompt("x" * 2001)
    assert str(err.value) == "The prompt is 2,001 characters long; the limit is 2,000. Shorten it and try again."
