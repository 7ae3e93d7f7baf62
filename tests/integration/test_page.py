"""Every feature of the page through Streamlit's AppTest, against the real Ollama.

Pictures go in through the page's own camera and upload widgets (AppTest drives ``st.camera_input`` and
``st.file_uploader``), the host camera reads a real video file, Pull streams from a real CNCF distribution
registry, and the VRAM caption is compared with Ollama's own ``/api/ps``.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
import streamlit as st
import yaml
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest, app_test

from app import catalog as cat
from app.describe import DEFAULT_NATIVE_SIZE
from app.gateway import OllamaGateway
from app.imaging import fit_long_side, prepare
from app.lock import manifest_digest, normalize_digest
from app.session import RESTARTED, SESSION_PARAM, STATE_KEY, PageState
from app.ui.capture import PICTURE_BUT_NO_MODEL, capture_caption
from app.ui.sidebar import loaded_caption
from scripts.demo import ollama_server
from scripts.models.library import mirror_digest_for
from scripts.processes import free_port
from tests import colour_pictures as pictures
from tests import models_fixtures
from tests.conftest import ANSWER_TOKENS, PAGE_GROUP, jpeg_bytes
from tests.models_fixtures import Mirror, Registry, ScratchOllama
from tests.oriented_pictures import stored_for, with_orientation

pytestmark = pytest.mark.xdist_group(PAGE_GROUP)  # one worker: the modules share a model tag

mirror_registry = models_fixtures.mirror_registry
scratch_ollama = models_fixtures.scratch_ollama
fault_slow_blob_store = models_fixtures.fault_slow_blob_store

PAGE = str(Path(__file__).resolve().parents[2] / "app" / "streamlit_app.py")
SECOND = "snap2prod/smolvlm-synthetic:second"
SECOND_SIZE = 224
"""The second vision model's native size, from the test catalog (the first is not catalogued: 672)."""


# --- fixtures ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def second_vision_model(gateway: OllamaGateway, vision_model: str) -> Iterator[str]:
    """A second tag of the synthetic vision model: a real second model to compare with."""
    gateway.copy(vision_model, SECOND)
    yield SECOND
    gateway.delete(SECOND)


def write_catalog(path: Path, *extra: dict[str, Any]) -> Path:
    entries = [
        {
            "name": SECOND,
            "role": "vision",
            "capabilities": ["completion", "vision"],
            "image_size": SECOND_SIZE,
            "size_gb": 0.2,
            "description": "the synthetic vision model under a second tag",
        },
        *extra,
    ]
    path.write_text(yaml.safe_dump({"models": entries}))
    return path


@pytest.fixture(scope="module")
def catalog_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_catalog(tmp_path_factory.mktemp("catalog") / "catalog.yaml")


def open_page(monkeypatch: pytest.MonkeyPatch, host: str, catalog: Path | None = None, **env: str) -> AppTest:
    monkeypatch.setenv("OLLAMA_HOST", host)
    monkeypatch.setenv("SNAP2PROD_METRICS_PORT", "0")
    monkeypatch.setenv("SNAP2PROD_MAX_ANSWER_TOKENS", str(ANSWER_TOKENS))
    if catalog is not None:
        monkeypatch.setenv("SNAP2PROD_CATALOG", str(catalog))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    st.cache_resource.clear()
    at = AppTest.from_file(PAGE, default_timeout=240)
    return at.run()


@pytest.fixture
def page(
    monkeypatch: pytest.MonkeyPatch, ollama_host: str, vision_model: str, second_vision_model: str, catalog_file: Path
) -> Iterator[AppTest]:
    at = open_page(monkeypatch, ollama_host, catalog_file)
    at.selectbox(key="model").select(vision_model).run()
    yield at
    st.cache_resource.clear()


def state(at: AppTest) -> PageState:
    value = at.session_state[STATE_KEY]
    assert isinstance(value, PageState)
    return value


def take_photo(at: AppTest, data: bytes) -> AppTest:
    at.camera_input(key="camera").upload("shot.jpg", data)
    return at.run()


def upload(at: AppTest, name: str, data: bytes, mime: str = "image/jpeg") -> AppTest:
    at.radio(key="source").set_value("Upload").run()
    at.file_uploader(key="upload").upload(name, data, mime)
    return at.run()


def captions(at: AppTest) -> list[str]:
    return [str(c.value) for c in at.caption]


def long_side(jpeg: bytes) -> int:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    return int(max(image.shape[:2]))


# --- status, models, description ----------------------------------------------------------------------------


def test_status_names_the_servers_version_and_address(page: AppTest, gateway: OllamaGateway) -> None:
    assert [s.value for s in page.success] == [f"Ollama {gateway.version()} reachable at {gateway.host}"]
    assert not page.exception


def test_only_vision_models_are_offered_for_pictures(
    page: AppTest, vision_model: str, second_vision_model: str, text_model: str
) -> None:
    options = page.selectbox(key="model").options
    assert {vision_model, second_vision_model} <= set(options)
    assert text_model not in options


def test_a_model_the_servers_ollama_cannot_run_is_neither_offered_nor_pullable_and_the_page_says_why(
    monkeypatch: pytest.MonkeyPatch, ollama_host: str, gateway: OllamaGateway, second_vision_model: str, tmp_path: Path
) -> None:
    """A catalog that marks the installed second model, and a model no server has, as not loading on this server's
    Ollama version: neither is offered (picker, Pull), and each gets a sentence with why and what instead."""
    version = gateway.version()
    refused = {
        "loads": False,
        "source": "a test catalog",
        "why": "its architecture is not one this Ollama knows",
        "error": "unknown model architecture",
        "instead": "the colour model",
    }
    catalog = tmp_path / "catalog.yaml"
    write_catalog(catalog, {"name": "gone:1", "role": "chat", "size_gb": 0.1, "ollama": {version: refused}})
    marked = yaml.safe_load(catalog.read_text())
    marked["models"][0]["ollama"] = {version: refused}
    catalog.write_text(yaml.safe_dump(marked))
    at = open_page(monkeypatch, ollama_host, catalog)
    assert second_vision_model not in at.selectbox(key="model").options
    assert [b for b in at.get("selectbox") if b.key == "pull_model"] == []  # nothing else to pull
    notes = captions(at)
    why = "its architecture is not one this Ollama knows. Use the colour model instead."
    assert f"Installed but not offered: {second_vision_model} does not run on Ollama {version}: {why}" in notes
    assert f"Not offered: gone:1 does not run on Ollama {version}: {why}" in notes
    assert not [n for n in notes if n.startswith(f"Not offered: {second_vision_model} ")]  # said once, above
    st.cache_resource.clear()


def test_in_a_cluster_the_page_offers_the_locks_models_and_no_pull(
    monkeypatch: pytest.MonkeyPatch, ollama_host: str, vision_model: str, second_vision_model: str, catalog_file: Path
) -> None:
    """SNAP2PROD_ALLOW_PULL=false (as the chart sets it) and SNAP2PROD_MODELS naming the lock's models: a model the
    server has but the list does not name is listed as such and never offered; no Pull."""
    at = open_page(monkeypatch, ollama_host, catalog_file, SNAP2PROD_ALLOW_PULL="false", SNAP2PROD_MODELS=vision_model)
    assert at.selectbox(key="model").options == [vision_model]
    assert "pull_model" not in [b.key for b in at.get("selectbox")]
    assert "Pulling is off here: the models this page offers are the lock's (SNAP2PROD_ALLOW_PULL)." in captions(at)
    listed = [str(m.value) for m in at.sidebar.markdown]
    assert any(
        line.startswith(f"**{second_vision_model}**") and line.endswith("not in the lock, not offered")
        for line in listed
    )
    st.cache_resource.clear()


def test_the_synthetic_model_is_said_to_see_only_colour(page: AppTest) -> None:
    assert cat.SYNTHETIC_NOTE in captions(page)


def test_a_photo_is_described_with_metrics_and_recorded(page: AppTest, vision_model: str) -> None:
    raw = pictures.jpeg(pictures.photo("green", 1280, 720))
    take_photo(page, raw)
    assert not page.exception and not page.error
    capture = state(page).history.latest
    assert capture is not None and pictures.names_only(capture.description, "green"), capture
    assert capture.description in [m.value for m in page.markdown]
    assert {m.label for m in page.metric} == {"TTFT", "tok/s", "image KB sent"}
    assert capture.model == vision_model and capture.source == "browser camera"
    assert capture.metrics is not None
    assert capture.metrics.image_kb_before == len(raw) / 1024  # the bytes as taken
    assert capture.metrics.image_kb_after == len(capture.image_jpeg) / 1024 < capture.metrics.image_kb_before


def test_each_model_gets_the_picture_at_its_native_size(page: AppTest, second_vision_model: str) -> None:
    raw = jpeg_bytes(1280, 720, seed=21)
    take_photo(page, raw)
    page.selectbox(key="model").select(second_vision_model).run()
    page.button(key="describe_again").click().run()
    first, second = state(page).history.captures
    assert long_side(first.image_jpeg) == DEFAULT_NATIVE_SIZE  # not in the catalog: the default
    assert long_side(second.image_jpeg) == SECOND_SIZE  # the catalog's image_size
    assert second.source == "again: browser camera"
    assert second.image_jpeg == prepare(raw, SECOND_SIZE).jpeg  # from the bytes as taken, not from the first JPEG


def test_the_description_caption_is_shown_once_after_two_captures(page: AppTest, vision_model: str) -> None:
    take_photo(page, jpeg_bytes(seed=31))
    take_photo(page, jpeg_bytes(seed=32))
    latest = state(page).history.latest
    assert latest is not None and latest.id == 2
    shown = [c for c in captions(page) if c.startswith("capture #")]
    assert shown == [f"capture #2 · {vision_model} · browser camera"] == [capture_caption(latest)]


def test_the_session_chart_has_one_chart_per_unit(page: AppTest) -> None:
    take_photo(page, jpeg_bytes(seed=41))
    take_photo(page, jpeg_bytes(seed=42))
    charts = [json.loads(c.proto.spec) for c in page.get("vega_lite_chart")]
    y_fields = [{layer["encoding"]["y"]["field"] for layer in spec["layer"]} for spec in charts]
    assert y_fields == [{"TTFT ms"}, {"tok/s"}]


def test_the_same_photo_is_not_described_twice_on_a_rerun(page: AppTest) -> None:
    take_photo(page, jpeg_bytes(seed=3))
    page.selectbox(key="preset").select("Count the people").run()
    assert len(state(page).history.captures) == 1


# --- errors: the whole sentence, and nothing chosen is lost ------------------------------------------------


def test_a_truncated_upload_says_what_happened_and_what_to_do_and_keeps_model_and_prompt(
    page: AppTest, second_vision_model: str
) -> None:
    page.selectbox(key="model").select(second_vision_model).run()
    page.selectbox(key="preset").select("Custom…").run()
    page.text_area(key="custom_prompt").input("What colour is the circle?").run()
    upload(page, "holiday.jpg", jpeg_bytes(seed=2)[:300])
    assert not page.exception
    assert [e.value for e in page.error] == [
        "The JPEG image is incomplete: the file ends before the picture does (probably cut off while uploading "
        "or copying). Take or send the picture again."
    ]
    assert state(page).history.captures == []
    assert page.text_area(key="custom_prompt").value == "What colour is the circle?"
    assert page.selectbox(key="model").value == second_vision_model


def test_a_file_that_is_not_a_picture_names_what_it_is(page: AppTest, vision_model: str) -> None:
    upload(page, "notes.png", b"%PDF-1.7\n" + b"0" * 200, "image/png")
    assert [e.value for e in page.error] == [
        "This file is not an image (it looks like a PDF document). Send a JPEG, PNG or WebP picture."
    ]
    assert page.selectbox(key="model").value == vision_model


def test_a_picture_without_any_vision_model_says_where_to_get_one(
    monkeypatch: pytest.MonkeyPatch, scratch_ollama: Callable[[], ScratchOllama]
) -> None:
    empty = scratch_ollama()
    at = open_page(monkeypatch, empty.host)
    assert [i.value for i in at.info] == [
        "No vision model is installed, so pictures cannot be described yet. Pull one from the sidebar, "
        "or run `snap2prod models pull moondream` (needs the Ollama registry)."
    ]
    take_photo(at, jpeg_bytes(seed=52))
    assert [w.value for w in at.warning] == [PICTURE_BUT_NO_MODEL]


@pytest.fixture
def own_ollama(tmp_path: Path, vision_model: str, second_vision_model: str) -> Iterator[tuple[str, Path, int]]:
    """An Ollama of the test's own (on the shared models folder), so the test may stop and restart it."""
    state_dir, port = tmp_path / "ollama", free_port()
    host = ollama_server.start(state_dir, port=port, tie_to_parent=True)
    yield host, state_dir, port
    ollama_server.stop(state_dir)


def test_ollama_going_away_is_a_full_sentence_and_the_chosen_model_survives_it(
    monkeypatch: pytest.MonkeyPatch, own_ollama: tuple[str, Path, int], catalog_file: Path, second_vision_model: str
) -> None:
    host, state_dir, port = own_ollama
    at = open_page(monkeypatch, host, catalog_file)
    at.selectbox(key="model").select(second_vision_model).run()
    at.selectbox(key="preset").select("Count the people").run()
    take_photo(at, jpeg_bytes(seed=61))
    options = at.selectbox(key="model").options

    ollama_server.stop(state_dir)
    at.button(key="describe_again").click().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert errors, "Ollama is gone: the page must say so"
    for message in errors:
        assert message.startswith(f"Ollama does not answer at {host} (")
        assert message.endswith(
            "). Start it (`make demo` or `snap2prod up` does), or point OLLAMA_HOST at a running server."
        )
    assert at.selectbox(key="model").value == second_vision_model
    assert at.selectbox(key="model").options == options
    assert at.selectbox(key="preset").value == "Count the people"
    assert len(state(at).history.captures) == 2  # the failed try is recorded with its error

    ollama_server.start(state_dir, port=port, tie_to_parent=True)
    at.button(key="describe_again").click().run()
    failed = state(at).history.captures[1]
    assert failed.error.startswith(f"Ollama does not answer at {host} (")
    # only the History tab still shows the failed try's error; the description panel is clean
    assert [e.value for e in at.error] == [failed.error]
    latest = state(at).history.latest
    assert latest is not None and latest.model == second_vision_model and not latest.error
    st.cache_resource.clear()


def test_ollama_down_from_the_start_is_a_full_sentence_and_the_page_keeps_working(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = f"http://127.0.0.1:{free_port()}"
    at = open_page(monkeypatch, host)
    assert not at.exception
    (message,) = [e.value for e in at.error]
    assert message == (
        f"Ollama does not answer at {host} ([Errno 111] Connection refused). Start it (`make demo` or "
        "`snap2prod up` does), or point OLLAMA_HOST at a running server."
    )
    at.selectbox(key="preset").select("Count the people").run()
    assert not at.exception
    assert at.selectbox(key="preset").value == "Count the people"
    st.cache_resource.clear()


# --- the sidebar: VRAM and Pull -------------------------------------------------------------------------------


def test_the_vram_caption_is_what_api_ps_reports(page: AppTest, gateway: OllamaGateway) -> None:
    take_photo(page, jpeg_bytes(seed=71))  # loads the model
    page.run()  # the sidebar is drawn before the description: read it on the next run
    raw = httpx.get(f"{gateway.host}/api/ps", timeout=10).json()["models"]
    gib = 2**30
    expected = [f"loaded: {m['name']} — {m['size_vram'] / gib:.1f} GiB VRAM of {m['size'] / gib:.1f} GiB" for m in raw]
    assert expected, "a model was just used: /api/ps lists it"
    shown = [c for c in captions(page) if c.startswith("loaded: ")]
    assert shown == expected == [loaded_caption(m) for m in gateway.ps()]


def test_pull_streams_real_progress_from_a_registry_and_lists_the_model(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    gateway: OllamaGateway,
    text_model: str,
    mirror_registry: Mirror,
    fault_slow_blob_store: Registry,
    scratch_ollama: Callable[[], ScratchOllama],
) -> None:
    pushed_ref = f"{mirror_registry.redirecting.namespace('page')}/smollm2:135m"
    gateway.copy(text_model, pushed_ref)
    try:
        pushed = list(gateway.push(pushed_ref, insecure=True))
    finally:
        gateway.delete(pushed_ref)
    assert pushed[-1].status == "success", pushed[-3:]
    # pulled over a link as slow as a user's (20 MB/s, about five seconds): Ollama reports a layer's progress
    # every 60 ms, and from a loopback link the pull can end before the second report
    ref = pushed_ref.replace(mirror_registry.redirecting.address, fault_slow_blob_store.address)
    empty = scratch_ollama()
    catalog = write_catalog(tmp_path / "catalog.yaml", {"name": ref, "role": "chat", "size_gb": 0.1})
    at = open_page(monkeypatch, empty.host, catalog)
    # every catalog model the empty server lacks is offered (the second synthetic tag too); pull the mirrored one
    assert at.selectbox(key="pull_model").options == [SECOND, ref]
    at.selectbox(key="pull_model").select(ref).run()
    at.button(key="pull").click().run()
    assert not at.exception and not at.error

    events = state(at).pull_events
    assert events[-1].status == "success"
    layers = {e.digest: e.total for e in events if e.digest}
    # Ollama 0.32–0.34 report progress only for layers it has to download at length (here the weights)
    assert len(layers) >= 1 and all(total > 0 for total in layers.values())
    for digest, total in layers.items():
        done = [e.completed for e in events if e.digest == digest]
        assert done == sorted(done) and done[-1] <= total, (digest, done)
        # Ollama 0.32–0.34 send no final 100 % event for a big layer before it verifies it; a layer of a few
        # hundred bytes may be reported once, at 0, and done before the next report (seen once under load)
        assert total < 1_000_000 or 0.5 * total <= done[-1], (digest, total, done)
    big = max(layers, key=lambda d: layers[d])
    assert len({e.completed for e in events if e.digest == big}) >= 10, (
        "the big layer's progress arrives as it downloads"
    )
    installed = {m.name: m.digest for m in empty.gateway.list_models()}
    source = {m.name: m.digest for m in gateway.list_models()}
    # the registry holds the pushed manifest minus Ollama's trailing newline: the pull installs what it serves
    repo, tag = ref.split("/", 1)[1].rsplit(":", 1)
    served = httpx.get(
        f"http://{mirror_registry.plain.address}/v2/{repo}/manifests/{tag}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    assert served.status_code == 200
    expected = mirror_digest_for(source[text_model], served.content, ref) or normalize_digest(source[text_model])
    assert normalize_digest(installed[ref]) == expected == manifest_digest(served.content)
    assert any(
        str(m.value).startswith(f"**{ref}** `{installed[ref][:12]}` :blue-badge[completion]") for m in at.markdown
    )
    assert f"pulled {ref}: {len(layers)} layers, {sum(layers.values()) / 1e6:.1f} MB" in captions(at)
    st.cache_resource.clear()


# --- the host camera -------------------------------------------------------------------------------------------


HOST_CAMERA_COLOUR = "yellow"
"""What the host camera films: a scene dominated by yellow, so its descriptions must say yellow."""


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real MJPG video file, 800×600: what OpenCV reads from a file is what it reads from a camera."""
    path = tmp_path_factory.mktemp("video") / "host-camera.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10, (800, 600))
    for _ in range(20):
        writer.write(pictures.photo(HOST_CAMERA_COLOUR, 800, 600))
    writer.release()
    return path


def test_the_host_camera_frame_is_described_as_decoded_without_a_jpeg_round_trip(
    monkeypatch: pytest.MonkeyPatch, ollama_host: str, vision_model: str, video: Path
) -> None:
    at = open_page(monkeypatch, ollama_host, None, SNAP2PROD_CAMERA=str(video))
    at.selectbox(key="model").select(vision_model).run()
    at.radio(key="source").set_value("Host camera").run()
    at.button(key="host_capture").click().run()
    assert not at.exception and not at.error
    capture = state(at).history.latest
    assert capture is not None and capture.description and not capture.error
    assert pictures.names_only(capture.description, HOST_CAMERA_COLOUR), capture.description
    assert capture.source == f"host camera {video}"
    assert capture.metrics is not None
    assert capture.metrics.image_kb_before == 800 * 600 * 3 / 1024  # the decoded frame went to Frame.prepare
    image = cv2.imdecode(np.frombuffer(capture.image_jpeg, np.uint8), cv2.IMREAD_COLOR)
    entry = cat.load_catalog().find(vision_model)  # the shipped catalog knows the synthetic model's 56 px
    native = entry.image_size if entry is not None and entry.image_size else DEFAULT_NATIVE_SIZE
    assert (image.shape[1], image.shape[0]) == fit_long_side(800, 600, native)
    st.cache_resource.clear()


# --- follow-up, compare, history ----------------------------------------------------------------------------


def test_follow_up_question_is_answered_and_kept(page: AppTest, text_model: str) -> None:
    take_photo(page, jpeg_bytes(seed=4))
    page.selectbox(key="chat_model").select(text_model).run()
    page.chat_input(key="followup").set_value("Is it day or night?").run()
    assert not page.exception and not page.error
    latest = state(page).history.latest
    assert latest is not None
    assert [t.role for t in latest.chat] == ["user", "assistant"]
    assert latest.chat[0].content == "Is it day or night?" and latest.chat[1].content.strip()


def test_compare_describes_the_picture_as_taken_with_two_models(
    page: AppTest, vision_model: str, second_vision_model: str
) -> None:
    raw = pictures.jpeg(pictures.photo("red", 1280, 720))
    take_photo(page, raw)
    page.multiselect(key="compare").set_value([vision_model, second_vision_model]).run()
    page.button(key="compare_run").click().run()
    assert not page.exception and not page.error
    results = state(page).compare_results
    assert [r.model for r in results] == [vision_model, second_vision_model]
    for result, size in zip(results, (DEFAULT_NATIVE_SIZE, SECOND_SIZE), strict=True):
        assert pictures.names_only(result.text, "red") and not result.error, result
        assert result.metrics is not None and result.metrics.model == result.model
        assert result.metrics.image_kb_before == len(raw) / 1024  # from the bytes as taken, not the sent JPEG
        assert result.metrics.image_kb_after == len(prepare(raw, size).jpeg) / 1024
        assert result.sent_size == fit_long_side(1280, 720, size)
        assert result.text in [m.value for m in page.markdown]
    shown = [c for c in captions(page) if c.startswith("TTFT ")]
    assert len(shown) == 2 and shown[1].endswith(f"sent {SECOND_SIZE}×{round(720 * SECOND_SIZE / 1280)}")


class RecordingStorage(MemoryMediaFileStorage):
    """Streamlit's own in-memory media storage, remembered so the test can read what a download button offers."""

    made: list[RecordingStorage] = []  # noqa: RUF012 - a registry of instances, on purpose

    def __init__(self, media_endpoint: str) -> None:
        super().__init__(media_endpoint)
        RecordingStorage.made.append(self)


def offered(at: AppTest, key: str) -> bytes:
    url = at.get("download_button")[[b.key for b in at.get("download_button")].index(key)].proto.url
    return RecordingStorage.made[-1].get_file(url.rsplit("/", 1)[-1]).content


def assert_scaled_copy(sent: bytes, original: bytes, size: tuple[int, int]) -> None:
    """``sent`` is a JPEG of ``size`` (width, height) whose pixels are ``original`` scaled to it (JPEG noise aside)."""
    got = cv2.imdecode(np.frombuffer(sent, np.uint8), cv2.IMREAD_COLOR)
    assert got is not None and (got.shape[1], got.shape[0]) == size
    source = cv2.imdecode(np.frombuffer(original, np.uint8), cv2.IMREAD_COLOR)
    expected = cv2.resize(source, size, interpolation=cv2.INTER_AREA)
    assert float(np.abs(got.astype(np.int16) - expected.astype(np.int16)).mean()) < 4.0


def test_a_phone_photo_stored_sideways_is_sent_upright(page: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A portrait photo as a phone stores it: turned sideways, with EXIF Orientation 6. A rotation cannot change a
    picture's colour, so the check is on the pixels sent, read back from the zip export: taller than wide, red
    above blue."""
    monkeypatch.setattr(app_test, "MemoryMediaFileStorage", RecordingStorage)
    red, blue = pictures.BGR["red"], pictures.BGR["blue"]
    upright = np.empty((960, 540, 3), np.uint8)
    upright[:480], upright[480:] = red, blue
    upload(page, "portrait.jpg", with_orientation(stored_for(upright, 6), 6, "JPEG"))
    assert len(state(page).history.captures) == 1
    with zipfile.ZipFile(io.BytesIO(offered(page, "export_zip"))) as zf:
        sent = cv2.imdecode(np.frombuffer(zf.read("capture-001.jpg"), np.uint8), cv2.IMREAD_COLOR)
    height, width = sent.shape[:2]
    assert height > width, (width, height)
    top, bottom = sent[: height * 2 // 5].reshape(-1, 3), sent[height * 3 // 5 :].reshape(-1, 3)
    assert np.abs(top.mean(axis=0) - red).max() < 12 and np.abs(bottom.mean(axis=0) - blue).max() < 12


def test_the_zip_export_holds_the_pictures_as_sent_and_every_field(
    page: AppTest, monkeypatch: pytest.MonkeyPatch, vision_model: str, second_vision_model: str
) -> None:
    monkeypatch.setattr(app_test, "MemoryMediaFileStorage", RecordingStorage)
    first_raw, second_raw = jpeg_bytes(1280, 720, seed=91), jpeg_bytes(640, 480, seed=92)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    take_photo(page, first_raw)
    page.selectbox(key="model").select(second_vision_model).run()
    upload(page, "second.jpg", second_raw)
    ended = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1))
    captures = state(page).history.captures
    assert len(captures) == 2

    with zipfile.ZipFile(io.BytesIO(offered(page, "export_zip"))) as zf:
        assert sorted(zf.namelist()) == ["capture-001.jpg", "capture-002.jpg", "history.json"]
        # each picture as sent: fitted by hand (1280x720 to the default long side 672; 640x480 to 224) and the
        # pixels those of the original scaled down, read back from the exported JPEG
        assert_scaled_copy(zf.read("capture-001.jpg"), first_raw, (672, 378))
        assert_scaled_copy(zf.read("capture-002.jpg"), second_raw, (224, 168))
        records = json.loads(zf.read("history.json"))["captures"]
    for record, capture, model, source in zip(
        records, captures, (vision_model, second_vision_model), ("browser camera", "upload"), strict=True
    ):
        assert capture.metrics is not None
        assert started <= record["taken_at"] <= ended  # ISO 8601 UTC strings sort as times
        assert record == {
            "id": capture.id,
            "taken_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(capture.taken_at)),
            "source": source,
            "model": model,
            "prompt": capture.prompt,
            "description": capture.description,
            "error": "",
            "metrics": asdict(capture.metrics),
            "chat": [],
            "image": f"capture-{capture.id:03d}.jpg",
        }
        assert (
            record["description"]
            and record["prompt"]
            == "Describe this picture in a few sentences: who or what is in it, and what is happening."
        )
    exported = json.loads(offered(page, "export_json"))
    assert [c["id"] for c in exported["captures"]] == [1, 2]
    assert all(c["thumbnail_jpeg_base64"] for c in exported["captures"])


def test_clear_history_forgets_the_captures_and_keeps_the_model(page: AppTest, second_vision_model: str) -> None:
    page.selectbox(key="model").select(second_vision_model).run()
    take_photo(page, jpeg_bytes(seed=5))
    page.button(key="clear_history").click().run()
    assert state(page).history.captures == [] and state(page).last_picture is None
    assert "No captures yet in this session." in captions(page)
    assert page.selectbox(key="model").value == second_vision_model


def test_a_url_naming_a_session_no_server_here_held_says_the_session_restarted(
    monkeypatch: pytest.MonkeyPatch, ollama_host: str, vision_model: str
) -> None:
    first = open_page(monkeypatch, ollama_host)
    own = state(first).session_id
    assert first.query_params[SESSION_PARAM] == own
    assert RESTARTED not in [i.value for i in first.info]

    # a reload or a second tab on the same server: it held that session, so nothing restarted
    again = AppTest.from_file(PAGE, default_timeout=240)
    again.query_params[SESSION_PARAM] = own
    again.run()
    assert RESTARTED not in [i.value for i in again.info]
    assert again.query_params[SESSION_PARAM] == state(again).session_id != own

    # the browser reconnected to another server (its own went away): the URL names a session unknown here
    moved = AppTest.from_file(PAGE, default_timeout=240)
    moved.query_params[SESSION_PARAM] = "0123456789ab"
    moved.run()
    assert not moved.exception
    assert [i.value for i in moved.info].count(RESTARTED) == 1
    take_photo(moved, jpeg_bytes(seed=71))  # often the first thing a reconnected browser sends
    assert f"capture #1 · {vision_model} · browser camera" in captions(moved)
    assert [i.value for i in moved.info].count(RESTARTED) == 1  # said through the new session's first picture
    take_photo(moved, jpeg_bytes(seed=72))
    assert RESTARTED not in [i.value for i in moved.info]
